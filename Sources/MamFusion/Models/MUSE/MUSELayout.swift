/// MUSE's tensors (MUSE.md §4): the ResMamba blocks under the official names
/// (`MS_mamba.<i>.mamba.…`, `.layer_norm1.…`, `.temporal_fc.…`), then the token pyramid under the
/// names an `nn.ModuleList` would have given it (`mamba_stages.<scale>.<layer>.…`; the official
/// code keeps it out of its state_dict, so its values exist only in our checkpoints).
///
/// Groups, in the order backward makes them final: `block<n−1>` … `block0`, then `pyramid` when
/// `muse_train_pyramid` is on. The frozen pyramid (the official behaviour) is in the `unused`
/// group: computed with, never reduced, never updated.
///
/// Initialisation (MUSE.md §3, the effective one of `self.apply(init_weights)`): every Linear
/// weight N(0, 0.02²) and bias 0 (so Δ starts at softplus(0)), conv1d U(±1/√4), A_log ln(n+1),
/// D 1, LayerNorm 1 and 0; the pyramid PyTorch's default U(±1/√fan_in) — all `ParameterKind`s of
/// `ParameterInitializer`.
public enum MUSELayout {
    /// Block i's group.
    public static func group(block i: Int) -> ParameterGroup { ParameterGroup(rawValue: "block\(i)") }
    public static let pyramidGroup: ParameterGroup = "pyramid"

    public static func build(model: String, _ c: RunConfiguration) -> ParameterLayout {
        let d = MUSEModel.dimensions(c), mamba = d.mamba, w = d.width
        var b = ParameterLayout.Builder(group: group(block: 0))
        for i in 0..<d.blocks {
            b.group = group(block: i)
            for name in ResMambaBlockParameters.names() {
                b.tensor("\(MUSEReference.blockPrefix)\(i).\(name)", ResMambaBlockParameters.shape(name, mamba), kind(ofBlockTensor: name))
            }
        }
        b.group = c.museTrainPyramid ? pyramidGroup : .unused
        for scale in PyramidBranch.Scale.allCases {
            for name in PyramidBranch.names(scale) {
                let normalization = PyramidBranch.fanIn(name, scale: scale, width: w) == nil
                let weight = name.hasSuffix("weight")
                b.tensor(name, PyramidBranch.shape(name, scale: scale, width: w),
                         normalization ? (weight ? .layerNormWeight : .layerNormBias) : (weight ? .convolution2DWeight : .convolution2DBias))
            }
        }
        let blocks = (0..<d.blocks).reversed().map { group(block: $0) }
        return b.layout(model: model, groups: blocks + (c.museTrainPyramid ? [pyramidGroup] : []))
    }

    /// The initialisation kind of a block tensor (its official name after `MS_mamba.<i>.`).
    static func kind(ofBlockTensor name: String) -> ParameterKind {
        switch name {
        case "mamba.A_log", "mamba.A_b_log": return .stateLogDecay
        case "mamba.D", "mamba.D_b": return .skipScale
        case "layer_norm1.weight": return .layerNormWeight
        case "layer_norm1.bias": return .layerNormBias
        case let n where n.contains("conv1d"): return n.hasSuffix("weight") ? .convolutionWeight : .convolutionBias
        case let n where n.hasSuffix("bias"): return .linearBias
        default: return .linearWeight
        }
    }
}
