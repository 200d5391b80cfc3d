import FeatureData

/// One micro-batch as a model's training encoders take it (DISTRIBUTED.md §3b): the loaded inputs
/// of its videos and of their queries, with each item's position in the global batch (which keys
/// its dropout masks) and the padded length of the global batch (the frame branch's Gaussian
/// sees it, DISTRIBUTED.md §1).
public struct EncoderBatch {
    /// The loaded features: videos in local order, then their queries.
    public let inputs: TrainingBatch
    /// One sequence per video: its frame rows, global video position, the global padded length.
    public let videos: SequenceBatch
    /// One sequence per query: its token rows and global query position.
    public let queries: SequenceBatch

    public init(inputs: TrainingBatch, videos: SequenceBatch, queries: SequenceBatch) {
        precondition(videos.count == inputs.videos.count && queries.count == inputs.queries.count,
                     "encoder batch: \(videos.count) videos and \(queries.count) queries for inputs of \(inputs.videos.count) and \(inputs.queries.count)")
        self.inputs = inputs
        self.videos = videos
        self.queries = queries
    }
}
