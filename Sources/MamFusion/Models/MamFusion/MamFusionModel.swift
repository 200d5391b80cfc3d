/// MamFusion (MODEL.md §1–9): the PRVR encoders with a Mamba unit after each GMMBlock of both
/// video branches (`<block>_mamba`: x ← x + LayerNorm(Mamba(x))), and the two fusion modules
/// between the second query pass and the pooled frame vectors, which feed the query-diverse loss
/// (`FusionStage`, inside the sharded loss head; training only).
public final class MamFusionModel: PRVRModel {
    public static let name = "mamfusion"
    public static let displayName = "MamFusion"

    public let encoders: PRVREncoders
    /// The four Mamba units, in the order the layout declares them (timers, memory reports).
    public let mambaUnits: [MambaBlock]
    /// `v2t_fusion`: the pooled frame vectors attend over the second query pass; `t2v_fusion`:
    /// the second query pass attends over the fused videos.
    public let videoToText: FusionAttention, textToVideo: FusionAttention

    /// The reference's tensors: the PRVR encoders' with four Mamba units, then the fusion modules
    /// (their unused `vid_embed_proj` included); groups fusion, frame, clip, query, unused.
    public static func layout(_ c: RunConfiguration) -> ParameterLayout {
        let dims = c.dimensions, d = dims.hidden
        return PRVRLayout.build(model: name, dimensions: dims, groups: [.fusion] + ParameterGroup.prvrEncoders + [.unused],
                                afterBlock: { block, b in
            let name = "\(block)_mamba", inner = dims.mambaInner, state = dims.mambaState, rank = dims.mambaDtRank
            b.tensor("\(name).0.A_log", [inner, state], .stateLogDecay)
            b.tensor("\(name).0.D", [inner], .skipScale)
            b.linear("\(name).0.in_proj", out: 2 * inner, in: d, bias: false)
            b.tensor("\(name).0.conv1d.weight", [inner, 1, dims.mambaConvolution], .convolutionWeight)
            b.tensor("\(name).0.conv1d.bias", [inner], .convolutionBias)
            b.linear("\(name).0.x_proj", out: rank + 2 * state, in: inner, bias: false)
            b.linear("\(name).0.dt_proj", out: inner, in: rank)
            b.linear("\(name).0.out_proj", out: d, in: inner, bias: false)
            b.layerNorm("\(name).1", d)
        }, tail: { b in
            for name in ["v2t_fusion", "t2v_fusion"] {
                b.group = .fusion
                b.tensor("\(name).multihead_attn.in_proj_weight", [3 * d, d], .attentionInProjectionWeight)
                b.tensor("\(name).multihead_attn.in_proj_bias", [3 * d], .attentionInProjectionBias)
                b.linear("\(name).multihead_attn.out_proj", out: d, in: d)
                b.group = .unused
                b.tensor("\(name).vid_embed_proj.weight", [15680, 5, 1, 1], .unusedWeight)
                b.tensor("\(name).vid_embed_proj.bias", [15680], .unusedBias)
            }
        })
    }

    /// A file without a `model` record is MamFusion's when it holds the PRVR encoders with Mamba
    /// units (the rule `Launch/convert-reference-checkpoint` records a PRVR model by; MUSE's
    /// `MS_mamba.…` blocks are not PRVR encoders).
    public static func claimsUnlabelledCheckpoint(tensorNames: Set<String>) -> Bool {
        tensorNames.contains("query_encoder.self.query.weight") && tensorNames.contains { $0.contains("_mamba.") }
    }

    public init(configuration c: RunConfiguration, parameters: ParameterSet) {
        var units: [MambaBlock] = []
        encoders = PRVREncoders(configuration: c, parameters: parameters) { block, parameters, gradients, scratch in
            let unit = MambaBlock("\(block)_mamba", dimensions: c.dimensions, parameters: parameters, gradients: gradients, scratch: scratch)
            units.append(unit)
            return unit
        }
        mambaUnits = units
        videoToText = FusionAttention("v2t_fusion", features: c.hiddenSize, heads: c.heads, parameters: parameters, gradients: encoders.gradients)
        textToVideo = FusionAttention("t2v_fusion", features: c.hiddenSize, heads: c.heads, parameters: parameters, gradients: encoders.gradients)
        let blocks = mambaUnits
        encoders.partTimes.track("mamba", read: { blocks.reduce(0) { $0 + $1.seconds } }, reset: { blocks.forEach { $0.resetTimers() } })
        encoders.partTimes.track("scan", read: { blocks.reduce(0) { $0 + $1.scanSeconds } }, reset: {})
    }

    public func makeHead() -> any ShardedHead {
        PRVRLossHead(configuration: configuration, slots: encoders.slots,
                     stage: FusionStage(videoToText: videoToText, textToVideo: textToVideo))
    }

    /// The PRVR products, the Mamba units' (their four projections and the selective scan, ~9
    /// operations per (row, channel, state)) and the fusion attention's.
    public func flops(frames: [Int], tokens: [Int], pass: ModelFlops.Pass) -> ModelFlops {
        let c = configuration, d = Double(c.hiddenSize), e = Double(c.dimensions.mambaInner), n = Double(c.dimensions.mambaState)
        let r = Double(c.dimensions.mambaDtRank)
        return PRVRFlops.count(c, frames: frames, tokens: tokens, pass: pass, unit: { rows, passes in
            func matmul(_ m: Double, _ k: Double, _ nn: Double) -> Double { passes * 2 * m * k * nn }
            return (matmul(rows, d, 2 * e) + matmul(rows, e, r + 2 * n) + matmul(rows, r, e) + matmul(rows, e, d), passes * 9 * rows * e * n)
        }, headExtra: { Q, V in
            // Two small attentions across the batch, forward and backward.
            2 * (3 * 2 * (V + Q) * d * 3 * d + 3 * 2 * (V + Q) * d * d + 2 * 3 * 2 * Q * V * d)
        })
    }

    public var partTimes: PartTimes { encoders.partTimes }
}
