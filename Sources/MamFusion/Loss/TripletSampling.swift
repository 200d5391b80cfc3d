import CounterRandom

/// How the triplet terms pick their negatives in one training step (MODEL.md §4, DISTRIBUTED.md §2).
///
/// Every draw is `RandomStream(seed, .tripletNegative, step, item).integer(below: n, at: term)`,
/// where `item` is the **global** query index (t2v) or global video index (v2t) within the global
/// batch and `term` (`TripletTerm`) tells the four triplet terms apart. A draw is then a pure
/// function of (seed, step, item, term): it does not depend on which rank computes it, on the
/// world size, or on the order in which rows are visited.
public struct TripletSampling: Sendable, Equatable {
    /// The run's seed (the Philox key).
    public var seed: UInt64
    /// The global training step (the same on every rank; resuming needs only it and the seed).
    public var step: UInt32
    /// The reference's `use_hard_negative = epoch >= hard_negative_start_epoch`.
    public var useHardNegatives: Bool
    /// t2v draws from the top min(hardPoolSize, V − 1) negatives once hard negatives are on (≥ 1).
    public var hardPoolSize: Int

    public init(seed: UInt64, step: UInt32, useHardNegatives: Bool, hardPoolSize: Int) {
        precondition(hardPoolSize >= 1, "hard_pool_size must be at least 1 (validate the configuration first)")
        self.seed = seed
        self.step = step
        self.useHardNegatives = useHardNegatives
        self.hardPoolSize = hardPoolSize
    }

    /// The sampling of global step `step` in 0-based epoch `epoch`: hard negatives from
    /// `hardNegativeStartEpoch` on, as the reference decides it.
    public init(seed: UInt64, step: Int, epoch: Int, hardNegativeStartEpoch: Int, hardPoolSize: Int) {
        self.init(seed: seed, step: UInt32(truncatingIfNeeded: step),
                  useHardNegatives: epoch >= hardNegativeStartEpoch, hardPoolSize: hardPoolSize)
    }

    /// The stream of one query (t2v) or video (v2t), by its global index in the batch.
    @inlinable
    public func stream(item: Int) -> RandomStream {
        RandomStream(seed: seed, purpose: .tripletNegative, step: step, item: UInt32(truncatingIfNeeded: item))
    }
}

/// The element index of a triplet draw inside an item's stream: one per triplet term, so the
/// clip and frame terms, t2v and v2t, never share a random number.
public enum TripletTerm: Int, Sendable, CaseIterable {
    case clipTextToVideo = 0
    case frameTextToVideo = 1
    case clipVideoToText = 2
    case frameVideoToText = 3
}

/// The two score matrices that carry a triplet term and an NCE term (MODEL.md §3).
public enum SimilarityBranch: Sendable, CaseIterable {
    case clip
    case frame

    /// The draw index of this branch's text-to-video triplet term.
    public var textToVideoTerm: TripletTerm { self == .clip ? .clipTextToVideo : .frameTextToVideo }
    /// The draw index of this branch's video-to-text triplet term.
    public var videoToTextTerm: TripletTerm { self == .clip ? .clipVideoToText : .frameVideoToText }
}
