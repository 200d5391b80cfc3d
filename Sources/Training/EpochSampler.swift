import CounterRandom

/// The order in which an epoch visits the training items — videos, or captions for a model that
/// trains on (video, caption) pairs (DISTRIBUTED.md §1): a permutation drawn from (seed, epoch)
/// through the counter-based generator, cut into global batches of `batchSize` items; the last
/// batch of an epoch may be shorter (the reference's
/// `drop_last=False`). Every rank computes the same permutation, so all agree on the number of
/// steps and on each batch without communicating.
public struct EpochSampler: Sendable, Equatable {
    public let videoCount: Int
    public let batchSize: Int
    public let seed: UInt64

    public init(videoCount: Int, batchSize: Int, seed: UInt64) {
        precondition(videoCount >= 1 && batchSize >= 1, "an epoch needs videos and a positive batch size")
        self.videoCount = videoCount
        self.batchSize = batchSize
        self.seed = seed
    }

    /// Global batches per epoch (the last one may be short).
    public var stepsPerEpoch: Int { (videoCount + batchSize - 1) / batchSize }

    /// The epoch's permutation of 0..<videoCount.
    public func permutation(epoch: Int) -> [Int] {
        RandomStream(seed: seed, purpose: .epochPermutation, step: UInt32(truncatingIfNeeded: epoch)).permutation(videoCount)
    }

    /// Video indices of global batch `index` of `epoch`, in permutation order.
    public func batch(epoch: Int, index: Int, permutation: [Int]? = nil) -> [Int] {
        precondition(index >= 0 && index < stepsPerEpoch, "batch \(index) outside 0..<\(stepsPerEpoch)")
        let p = permutation ?? self.permutation(epoch: epoch)
        return Array(p[(index * batchSize)..<min((index + 1) * batchSize, videoCount)])
    }
}
