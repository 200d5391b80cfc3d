/// What every random draw of one training step is keyed by (DISTRIBUTED.md §2): the run's seed,
/// the global step and its 0-based epoch, and whether dropout is on. The encoders' dropout masks
/// (`dropout`) and a head's sampled choices (the PRVR triplet negatives, hard from an epoch on)
/// both come from it, so a step is a pure function of its key and inputs on any world size.
public struct StepKey: Sendable, Equatable {
    public var seed: UInt64
    public var step: Int
    public var epoch: Int
    public var dropoutEnabled: Bool

    public init(seed: UInt64, step: Int, epoch: Int, dropoutEnabled: Bool) {
        self.seed = seed
        self.step = step
        self.epoch = epoch
        self.dropoutEnabled = dropoutEnabled
    }

    /// The encoders' dropout of this step.
    public var dropout: DropoutContext {
        DropoutContext(seed: seed, step: UInt32(truncatingIfNeeded: step), enabled: dropoutEnabled)
    }
}
