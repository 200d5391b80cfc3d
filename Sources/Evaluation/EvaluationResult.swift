/// What one rank's `ShardedEvaluator.evaluate` returns. `ranks`, `groundTruthScores` and `top`
/// are global (identical on every rank); timing, traffic and FLOPs are this rank's.
public struct EvaluationResult: Sendable {
    /// 1-based rank of each query's ground-truth video among all V videos (tie rule of
    /// DISTRIBUTED.md §5).
    public let ranks: [Int]
    /// s(q, gt(q)), the ranking score of each query's ground-truth video.
    public let groundTruthScores: [Float]
    /// The merged top-K lists (nil without top-K).
    public let top: TopKLists?
    /// This rank's block plan.
    public let plan: ScoringPlan
    public let timing: EvaluationTiming
    public let traffic: EvaluationTraffic
    /// Bytes this rank's evaluator allocated (buffers), measured; `allocatedBytes +
    /// plan.resultBytes ≤ plan.totalBytes ≤ plan.memoryBudget`.
    public let allocatedBytes: Int
    /// FLOPs this rank executed in sgemm, both passes.
    public let executedFlops: Double
    /// FLOPs of the scores themselves on this rank: 2·Q·Vr·Mc·d + 2·Q·Vr·d.
    public let usefulFlops: Double
    /// V, videos over all ranks.
    public let totalVideos: Int
    /// Blocks the ground-truth pass scored on this rank, and how many of them the counting pass
    /// read back instead of recomputing.
    public let groundTruthBlocks: Int
    public let cachedBlocks: Int
    /// The precision of the score products, and what exact-bf16 scoring screened and re-scored on
    /// this rank (all zero in the other modes).
    public let scoring: ScoringMode
    public let rescoring: RescoringStatistics

    /// R@1/5/10/100, SumR, median and mean rank (MODEL.md §8).
    public var metrics: RecallMetrics { RecallMetrics(ranks: ranks) }
}

/// Seconds of one rank's evaluation, by phase.
public struct EvaluationTiming: Sendable {
    /// Ground-truth pass, all of it (its sgemm and clip-max are also in `gemm`/`clipMax`).
    public let groundTruthPass: Double
    /// Counting pass, all of it (sgemm, clip-max, counting, top-K).
    public let countingPass: Double
    /// Inside sgemm, both passes.
    public let gemm: Double
    /// The fused clip-max and weighted sum, both passes.
    public let clipMax: Double
    /// The ground-truth pass's share of `gemm` and `clipMax`.
    public let groundTruthGemm: Double
    public let groundTruthClipMax: Double
    /// The part of `gemm` run in bf16 (exact-bf16's screen, or plain bf16 scoring).
    public var bf16Gemm: Double = 0
    /// Exact-bf16: deciding rows from bf16 scores (bounds, comparisons; re-scoring is in `gemm`,
    /// `clipMax` and `ranking`).
    public var screening: Double = 0
    /// Counting ranks, top-K heaps and the top-K merge.
    public let ranking: Double
    /// Inside MPI collectives (including waiting for slower ranks).
    public let communication: Double
    /// The whole call.
    public let total: Double

    /// Producing scores: sgemm + clip-max (+ exact-bf16's screening), both passes.
    public var scoring: Double { gemm + clipMax + screening }
}

/// Bytes one rank moved through collectives in one evaluation. Without top-K this is
/// 16·P + 8·Q, independent of V.
public struct EvaluationTraffic: Sendable, Equatable {
    /// Payload this rank passed to all-reduces (4·Q ground-truth scores + 4·Q counts).
    public let reducedBytes: Int
    /// Bytes this rank sent to all-gathers (the agreement, top-K lists).
    public let gatherSentBytes: Int
    /// Bytes this rank received from all-gathers.
    public let gatherReceivedBytes: Int

    public var totalBytes: Int { reducedBytes + gatherSentBytes + gatherReceivedBytes }
}

/// What exact-bf16 scoring did on one rank (`ScoringMode.exactBF16`, `ExactScreen`). A row is one
/// query against one video block; blocks the ground-truth pass computed in fp32 are not screened.
public struct RescoringStatistics: Sendable, Equatable {
    /// Rows and (query, video) scores computed in bf16.
    public var screenedRows = 0
    public var screenedScores = 0
    /// Of those, rows re-scored in fp32, and their scores.
    public var rescoredRows = 0
    public var rescoredScores = 0
    /// Why rows were re-scored: a near-tie with the ground truth; a possible top-K entry (and no
    /// near-tie); no trustworthy bound (non-finite threshold or inputs, overflow possible).
    public var nearTieRows = 0
    public var candidateRows = 0
    public var unboundedRows = 0
    /// Scores within the bound of their query's ground-truth score (or not finite).
    public var nearTies = 0
    /// Rows the ground-truth pass scored in fp32 (only those holding a ground truth).
    public var groundTruthRows = 0

    public init() {}

    /// The share of screened scores computed again in fp32.
    public var rescoredShare: Double { screenedScores > 0 ? Double(rescoredScores) / Double(screenedScores) : 0 }
}
