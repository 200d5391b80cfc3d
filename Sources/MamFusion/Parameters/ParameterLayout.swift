/// How a parameter tensor is initialised and regularised (MODEL.md §5, §6).
public enum ParameterKind: String, Sendable, Codable {
    /// Linear weight (out×in) ~ N(0, 0.02); weight decay applies.
    case linearWeight
    /// Linear bias = 0; no weight decay (name contains "bias").
    case linearBias
    /// Embedding table ~ N(0, 0.02).
    case embedding
    /// LayerNorm weight = 1; no weight decay.
    case layerNormWeight
    /// LayerNorm bias = 0; no weight decay.
    case layerNormBias
    /// Mamba depthwise conv1d weight / bias ~ U(−0.5, 0.5) (PyTorch default for fan-in 4).
    case convolutionWeight, convolutionBias
    /// Mamba A_log[c, n] = log(n + 1).
    case stateLogDecay
    /// Mamba D = 1.
    case skipScale
    /// Fusion packed in-projection weight ~ xavier-uniform; its bias = 0.
    case attentionInProjectionWeight, attentionInProjectionBias
    /// The reference's unused `vid_embed_proj` Conv2d: kept in checkpoints, never computed with,
    /// never updated (MODEL.md §2).
    case unusedWeight, unusedBias

    /// Whether BertAdam skips this tensor (it never gets a gradient).
    public var isUnused: Bool { self == .unusedWeight || self == .unusedBias }
}

/// Which part of the model a tensor belongs to: the unit in which backward finishes gradients
/// (DISTRIBUTED.md §4). The step declares a group final as soon as backward has produced all of
/// its gradients, and the gradient all-reduce of that group starts then.
public enum ParameterGroup: String, Sendable, CaseIterable, Codable {
    /// The two fusion modules: final when the loss head's backward ends.
    case fusion
    /// The frame branch and its pooling: final after the frame branch's backward.
    case frame
    /// The clip branch: final after the clip branch's backward.
    case clip
    /// The query encoder (both passes) and its pooling: final last.
    case query
    /// The reference's unused `vid_embed_proj` tensors: never get a gradient, never reduced.
    case unused

    /// The order in which backward finishes the groups; the flat buffer is laid out in it, so
    /// the first bucket to fill is the first in the buffer (as PyTorch's DDP lays out buckets in
    /// reverse parameter order).
    public static let backwardOrder: [ParameterGroup] = [.fusion, .frame, .clip, .query, .unused]
}

/// One named tensor of the model: its reference name, PyTorch shape, group and place in the flat
/// buffer.
public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let kind: ParameterKind
    public let group: ParameterGroup
    /// Offset (in floats) of the first element in the flat parameter buffer.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var shapeDescription: String { shape.map(String.init).joined(separator: "x") }
}

/// The complete list of the model's parameter tensors for one configuration, laid out in one
/// flat buffer (llm.c style): gradients and the optimiser's moments are buffers of the same
/// layout, so the gradient all-reduce is a loop over slices of one buffer and a checkpoint is a
/// loop over names.
///
/// `specs` lists the tensors in the reference `state_dict` order with its names
/// (PARAMETERS.md) — what checkpoints and `model-info` show. The flat buffer is laid out in
/// *backward* order instead: group by group in `ParameterGroup.backwardOrder`, so each group is
/// one contiguous range (`range(of:)`) that the gradient all-reduce can send as soon as backward
/// has finished it. Every tensor starts at a multiple of 16 floats (64 bytes) so kernels see
/// aligned rows.
public struct ParameterLayout: Sendable {
    /// The model whose tensors these are (checkpoints record it).
    public let model: ModelKind
    public let specs: [ParameterSpec]
    /// Floats in the flat buffer, alignment padding included.
    public let bufferCount: Int
    private let index: [String: Int]
    private let groupRanges: [ParameterGroup: Range<Int>]

    public static let alignment = 16

    init(model: ModelKind = .mamFusion, entries: [(String, [Int], ParameterKind, ParameterGroup)]) {
        self.model = model
        var offsets = [Int](repeating: 0, count: entries.count)
        var ranges: [ParameterGroup: Range<Int>] = [:]
        var offset = 0
        for group in ParameterGroup.backwardOrder {
            let start = offset
            for (i, entry) in entries.enumerated() where entry.3 == group {
                offsets[i] = offset
                let n = entry.1.reduce(1, *)
                offset += (n + Self.alignment - 1) / Self.alignment * Self.alignment
            }
            ranges[group] = start..<offset
        }
        specs = entries.enumerated().map { i, e in ParameterSpec(name: e.0, shape: e.1, kind: e.2, group: e.3, offset: offsets[i]) }
        bufferCount = offset
        groupRanges = ranges
        var index: [String: Int] = [:]
        for (i, s) in specs.enumerated() {
            precondition(index[s.name] == nil, "duplicate parameter name \(s.name)")
            index[s.name] = i
        }
        self.index = index
    }

    /// The floats of `group` in the flat buffer (empty for a group the model does not have).
    public func range(of group: ParameterGroup) -> Range<Int> { groupRanges[group] ?? 0..<0 }

    /// Number of parameter values (padding excluded) — 18,372,480 for TVR.
    public var parameterCount: Int { specs.reduce(0) { $0 + $1.count } }

    public func spec(named name: String) -> ParameterSpec? { index[name].map { specs[$0] } }

    /// The spec with this name; a programming error if absent (layer code asks for its own names).
    public subscript(name: String) -> ParameterSpec {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return specs[i]
    }

    /// The MamFusion model's tensors (MODEL.md §1–2) for `dims`, in reference order.
    public static func mamFusion(_ dims: ModelDimensions) -> ParameterLayout { of(.mamFusion, dims) }

    /// The GMMFormer model's tensors (MODEL.md §10): MamFusion's without the four Mamba units and
    /// the two fusion modules (their `vid_embed_proj` included), under the same names, in the same
    /// order.
    public static func gmmFormer(_ dims: ModelDimensions) -> ParameterLayout { of(.gmmFormer, dims) }

    /// The tensors of `model` for `dims`, in reference order: the MamFusion list, skipping the
    /// modules the model does not have.
    public static func of(_ model: ModelKind, _ dims: ModelDimensions) -> ParameterLayout {
        let d = dims.hidden
        var e: [(String, [Int], ParameterKind, ParameterGroup)] = []
        var group = ParameterGroup.query
        func tensor(_ name: String, _ shape: [Int], _ kind: ParameterKind) { e.append((name, shape, kind, group)) }
        func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true) {
            tensor("\(name).weight", [out, inFeatures], .linearWeight)
            if bias { tensor("\(name).bias", [out], .linearBias) }
        }
        func layerNorm(_ name: String, _ n: Int) {
            tensor("\(name).weight", [n], .layerNormWeight)
            tensor("\(name).bias", [n], .layerNormBias)
        }
        func positional(_ name: String, positions: Int) {
            tensor("\(name).position_embeddings.weight", [positions, d], .embedding)
            layerNorm("\(name).LayerNorm", d)
        }
        func inputProjection(_ name: String, from n: Int) {
            layerNorm("\(name).LayerNorm", n)
            linear("\(name).net.1", out: d, in: n)
        }
        func attention(_ name: String) {
            linear("\(name).self.query", out: d, in: d)
            linear("\(name).self.key", out: d, in: d)
            linear("\(name).self.value", out: d, in: d)
            linear("\(name).output.dense", out: d, in: d)
            layerNorm("\(name).output.LayerNorm", d)
        }
        func gmmBlock(_ name: String) {
            for branch in 0..<GMMBlockWidths.all.count { attention("\(name).attn\(branch)") }
        }
        func mamba(_ name: String) {
            guard model.hasMambaUnits else { return }
            let inner = dims.mambaInner, state = dims.mambaState, rank = dims.mambaDtRank
            tensor("\(name).0.A_log", [inner, state], .stateLogDecay)
            tensor("\(name).0.D", [inner], .skipScale)
            linear("\(name).0.in_proj", out: 2 * inner, in: d, bias: false)
            tensor("\(name).0.conv1d.weight", [inner, 1, dims.mambaConvolution], .convolutionWeight)
            tensor("\(name).0.conv1d.bias", [inner], .convolutionBias)
            linear("\(name).0.x_proj", out: rank + 2 * state, in: inner, bias: false)
            linear("\(name).0.dt_proj", out: inner, in: rank)
            linear("\(name).0.out_proj", out: d, in: inner, bias: false)
            layerNorm("\(name).1", d)
        }
        func fusion(_ name: String) {
            guard model.hasFusion else { return }
            group = .fusion
            tensor("\(name).multihead_attn.in_proj_weight", [3 * d, d], .attentionInProjectionWeight)
            tensor("\(name).multihead_attn.in_proj_bias", [3 * d], .attentionInProjectionBias)
            linear("\(name).multihead_attn.out_proj", out: d, in: d)
            group = .unused
            tensor("\(name).vid_embed_proj.weight", [15680, 5, 1, 1], .unusedWeight)
            tensor("\(name).vid_embed_proj.bias", [15680], .unusedBias)
        }

        group = .query
        positional("query_pos_embed", positions: dims.maxDescriptionLength)
        group = .clip
        positional("clip_pos_embed", positions: dims.maxContextLength)
        group = .frame
        positional("frame_pos_embed", positions: dims.maxContextLength)
        group = .query
        inputProjection("query_input_proj", from: dims.queryFeature)
        attention("query_encoder")
        group = .clip
        inputProjection("clip_input_proj", from: dims.visualFeature)
        gmmBlock("clip_encoder")
        mamba("clip_encoder_mamba")
        gmmBlock("clip_encoder_2")
        mamba("clip_encoder_2_mamba")
        group = .frame
        inputProjection("frame_input_proj", from: dims.visualFeature)
        gmmBlock("frame_encoder_1")
        mamba("frame_encoder_1_mamba")
        gmmBlock("frame_encoder_2")
        mamba("frame_encoder_2_mamba")
        group = .query
        tensor("modular_vector_mapping.weight", [1, d], .linearWeight)
        group = .frame
        tensor("modular_vector_mapping_2.weight", [1, d], .linearWeight)
        fusion("v2t_fusion")
        fusion("t2v_fusion")
        return ParameterLayout(model: model, entries: e)
    }
}

extension RunConfiguration {
    /// The parameter layout of this configuration's model and sizes.
    public var parameterLayout: ParameterLayout { .of(model, dimensions) }
}

/// Gaussian widths of a GMMBlock's four branches (MODEL.md §1): `attn0` is global (no G).
public enum GMMBlockWidths {
    public static let all: [Float?] = [nil, 0.5, 1.0, 5.0]
}
