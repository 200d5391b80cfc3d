import TensorKit

/// Every query of an evaluation, replicated on every rank: queries are encoded sharded and
/// all-gathered (DISTRIBUTED.md §5), Q×d floats — small next to the video database.
public struct QuerySet {
    /// [Q, d] query vectors q̂, L2-normalised by the caller
    /// (`EmbeddingNormalization.l2Normalize`). Owned by the caller; only read.
    public let embeddings: Tensor
    /// Global index of each query's ground-truth video (Q entries, in 0..<V).
    public let groundTruth: [Int]

    public init(embeddings: Tensor, groundTruth: [Int]) throws {
        guard embeddings.rank == 2 else {
            throw EvaluationError.invalidInput("query embeddings must be [Q, d], got \(embeddings.shape)")
        }
        guard groundTruth.count == embeddings.shape[0] else {
            throw EvaluationError.invalidInput("\(embeddings.shape[0]) query vectors but \(groundTruth.count) ground-truth indices")
        }
        self.embeddings = embeddings
        self.groundTruth = groundTruth
    }

    /// Q.
    public var count: Int { embeddings.shape[0] }
    /// d.
    public var dim: Int { embeddings.shape[1] }
}
