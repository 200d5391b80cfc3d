/// GMMFormer (MODEL.md §10), the baseline PRVR papers compare against: the PRVR encoders with
/// nothing after the GMMBlocks, and the query-diverse loss on the unfused second query pass.
/// Its tensors are MamFusion's without the four Mamba units and the two fusion modules, under the
/// same names, in the same order.
public final class GMMFormerModel: PRVRModel {
    public static let name = "gmmformer"
    public static let displayName = "GMMFormer"

    public let encoders: PRVREncoders

    public static func layout(_ c: RunConfiguration) -> ParameterLayout {
        PRVRLayout.build(model: name, dimensions: c.dimensions, groups: ParameterGroup.prvrEncoders)
    }

    /// A file without a `model` record is GMMFormer's when it holds the PRVR encoders and no
    /// Mamba unit (the rule `Launch/convert-reference-checkpoint` records the model by).
    public static func claimsUnlabelledCheckpoint(tensorNames: Set<String>) -> Bool {
        tensorNames.contains("query_encoder.self.query.weight") && !tensorNames.contains { $0.contains("_mamba.") }
    }

    public init(configuration c: RunConfiguration, parameters: ParameterSet) {
        encoders = PRVREncoders(configuration: c, parameters: parameters)
    }

    public func makeHead() -> any ShardedHead {
        PRVRLossHead(configuration: configuration, slots: encoders.slots, stage: UnfusedQueries())
    }

    public func flops(frames: [Int], tokens: [Int], pass: ModelFlops.Pass) -> ModelFlops {
        PRVRFlops.count(configuration, frames: frames, tokens: tokens, pass: pass)
    }

    public var partTimes: PartTimes { encoders.partTimes }
}
