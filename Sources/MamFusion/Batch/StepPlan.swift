import FeatureData

/// One training step's plan, built once (by the trainer, or a bench or test) and used by
/// everything that touches the step: the global batch, who holds what, this rank's micro-batches
/// (DISTRIBUTED.md §3b) and what each of them loads, keyed by micro-batch. The loader prefetches
/// `loadOrder`; the step asks for each micro-batch's inputs by its `MicroBatch`.
public struct StepPlan: Sendable {
    /// The global step this plan is for (keys the loads of consecutive plans apart).
    public let step: Int
    public let batch: GlobalBatch
    public let assignment: RankAssignment
    public let rank: Int
    /// This rank's share cut into micro-batches (none when the rank holds no video).
    public let microBatches: [MicroBatch]

    /// What one micro-batch loads: dataset videos in local order, dataset captions in local
    /// order, and for each caption the position of its video among `videos`.
    public struct Load: Sendable, Equatable {
        public let videos: [Int]
        public let queries: [Int]
        public let queryVideoPosition: [Int]
    }

    /// - Parameter microBatch: videos per micro-batch (0: the whole share in one).
    public init(step: Int, batch: GlobalBatch, assignment: RankAssignment, rank: Int, microBatch: Int) {
        self.step = step
        self.batch = batch
        self.assignment = assignment
        self.rank = rank
        microBatches = MicroBatch.partition(batch: batch, assignment: assignment, rank: rank, size: microBatch)
    }

    /// The micro-batches in the order the step takes their inputs: pass 1 in order, then pass 2
    /// backwards without the last one (whose inputs and activations are still there).
    public var loadOrder: [MicroBatch] { microBatches + microBatches.dropLast().reversed() }

    /// This rank's own queries and videos (the rows of the step's embedding buffers).
    public var ownQueryCount: Int { assignment.queriesOfRank[rank].count }
    public var ownVideoCount: Int { assignment.videosOfRank[rank].count }

    /// What micro-batch `m` loads.
    public func load(_ m: MicroBatch) -> Load {
        let videos = assignment.videosOfRank[rank][m.videos], queries = assignment.queriesOfRank[rank][m.queries]
        var positions: [Int] = []
        positions.reserveCapacity(queries.count)
        for (local, v) in videos.enumerated() {
            positions += repeatElement(local, count: batch.queriesPerVideo[v])
        }
        return Load(videos: videos.map { batch.videos[$0] }, queries: queries.map { batch.queries[$0] }, queryVideoPosition: positions)
    }

    /// Micro-batch `m` as the encoders take it, from its loaded inputs: frame lengths, global
    /// positions and the global batch's padded length.
    public func encoderBatch(_ m: MicroBatch, inputs: TrainingBatch) -> EncoderBatch {
        let videos = SequenceBatch(lengths: inputs.videos.frameLengths, globalIndices: Array(assignment.videosOfRank[rank][m.videos]),
                                   paddedLength: batch.paddedLength)
        let queries = SequenceBatch(lengths: inputs.queries.tokenLengths, globalIndices: Array(assignment.queriesOfRank[rank][m.queries]))
        return EncoderBatch(inputs: inputs, videos: videos, queries: queries)
    }
}
