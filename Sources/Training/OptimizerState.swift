import MamFusion

/// The optimiser of a run: its update rule and position in the schedule (`BertAdam`, MODEL.md
/// §6) and its moments m, v (buffers of the parameter layout; checkpoints save them).
public final class OptimizerState {
    public var rule: BertAdam
    public let expAvg: ParameterSet, expAvgSq: ParameterSet

    /// The configuration's optimiser over `totalSteps` steps, with zeroed moments (a failed
    /// allocation is an error naming the moments).
    public init(configuration c: RunConfiguration, layout: ParameterLayout, totalSteps: Int) {
        rule = BertAdam(configuration: c, totalSteps: totalSteps)
        expAvg = ParameterSet(layout: layout)
        expAvgSq = ParameterSet(layout: layout)
    }

    /// As above, the moments allocated with an error (not a stop) when memory is short.
    public init(allocating c: RunConfiguration, layout: ParameterLayout, totalSteps: Int) throws {
        rule = BertAdam(configuration: c, totalSteps: totalSteps)
        expAvg = try ParameterSet(allocating: layout, for: "the optimiser's first moments")
        expAvgSq = try ParameterSet(allocating: layout, for: "the optimiser's second moments")
    }
}
