import MPIKit

/// A model's loss over the **global** batch, computed in shards across ranks (DISTRIBUTED.md §3;
/// SHARDED-HEAD.md): each rank holds the embeddings of its own videos and of their queries
/// (`EmbeddingBuffers`, the model's `EmbeddingLayout`), exchanges only what the exact loss needs
/// through `StepCollectives`, and returns the same loss on every rank (up to the summation order
/// of SUM reductions) and ∂L/∂ of exactly its own embeddings. Every discrete choice (a negative,
/// a hinge sign, an arg-max) must be taken from values that reach every rank with identical bits,
/// and scores must come from products whose shapes do not depend on the world size
/// (SHARDED-HEAD.md B.4–B.5): then P ranks compute what 1 rank computes.
///
/// Conformers: `PRVRLossHead` (NCE + triplet + query-diverse loss; MamFusion's fusion modules
/// are a `QueryDiverseStage` inside it). A symmetric InfoNCE head (MUSE) is another conformer.
public protocol ShardedHead: AnyObject {
    /// Groups of the model's parameters this head computes gradients for (e.g. MamFusion's
    /// `fusion`): final when `backward` returns, when the step starts their all-reduce.
    var parameterGroups: [ParameterGroup] { get }

    /// The loss of the global batch `batch` (split over ranks by `assignment`) from this rank's
    /// own embeddings, keeping what `backward` needs. `key` keys the head's random choices.
    func forward(_ embeddings: EmbeddingBuffers, batch: GlobalBatch, assignment: RankAssignment, key: StepKey,
                 collectives: inout StepCollectives) throws -> LossTerms

    /// ∂L/∂ of this rank's own embeddings into `gradients` (same layout and rows; every row
    /// written), and this rank's partial gradients of the head's own parameters (accumulated),
    /// after `forward` on the same embeddings.
    func backward(_ embeddings: EmbeddingBuffers, into gradients: EmbeddingBuffers, collectives: inout StepCollectives) throws

    /// Bytes held by the head's buffers (memory reports).
    var bytes: Int { get }
}
