import MPIKit
import TensorKit

/// Text→video evaluation over a video database sharded across ranks (DISTRIBUTED.md §5,
/// MODEL.md §3 and §8): every rank scores all queries against its own videos in blocks bounded
/// by a memory budget, and the exact rank of every query's ground-truth video — with the tie
/// rule — comes out of two Q-vector all-reduces, whatever V is.
///
/// ## Algorithm (per rank)
/// 1. **Agree.** One all-gather of (error flag, Vr) per rank: every rank learns V and whether
///    any rank could not plan its blocks (then all throw together, none hangs).
/// 2. **Ground-truth pass.** For each query block, the blocks holding the ground-truth videos
///    this rank owns are scored (`BlockScorer`), s(q, gt) is taken from them, and their
///    scores are kept for step 4 as far as the budget allows (`GroundTruthBlocks`).
/// 3. **One all-reduce (max)** of the Q ground-truth scores (−∞ where another rank owns gt).
/// 4. **Counting pass.** Every other (query block, video block) is scored, and each query's
///    count of videos ranked before its ground truth is accumulated (`countRankedAbove`),
///    along with this rank's top-K (`TopKHeaps`) when asked for. Video blocks form the outer
///    loop: in bf16 a video block is rounded once for all query blocks (a weight scope of the
///    matrix engine), and exact-bf16 re-scores a video block's waiting rows together.
/// 5. **One all-reduce (sum)** of the Q counts; rank(q) = 1 + count(q). One more slot carries
///    the number of score rows that held a NaN or ±Inf: if any rank saw one, every rank refuses
///    the evaluation (`EvaluationError.nonFiniteScores`) instead of ranking meaningless scores.
/// 6. With top-K: one all-gather of every rank's Q·K (score, index) pairs, merged.
///
/// ## Why two passes (bit-exactness)
/// The tie rule compares s(q,v) = s(q,gt) exactly, so the threshold must be the very float the
/// counting pass compares with. A score depends on how it was computed (an sgemm of another
/// shape may round differently in the last bit), so the ground-truth pass scores exactly the
/// counting pass's blocks — same sgemm calls on the same buffers, same fused kernel
/// (`BlockScorer`) — instead of a dot product of its own, and keeps those blocks' scores
/// (`GroundTruthBlocks`) so the counting pass reuses them: the same floats, and no extra FLOPs.
/// Only if the budget cannot hold them are they recomputed (bit-identically: same calls).
/// Nothing Q×V is stored; memory is independent of V. With queries in video order (captions
/// grouped by video, as in every caption file) a query block needs ≈ 1 + Qb/(captions per
/// video · Vb) blocks, so the kept scores are ≈ 4·Q·Vb·(that) bytes — a few MB.
///
/// ## Scoring modes (`ScoringMode`, `eval_scoring`)
/// Scores are fp32 products (`fp32`) whatever precision the encoders ran in. `exactBF16` screens
/// every block in bf16 and re-scores in fp32 only the rows it cannot decide from the rigorous
/// error bound (`ExactScreen`, `BF16ScoreBound`): the ground-truth pass stays fp32, so every
/// threshold, count, rank and top-K entry is the fp32 mode's, bit for bit. `bf16` ranks plain bf16
/// scores (approximate). The block plan is the same in every mode.
///
/// ## Communication
/// 16·P bytes (agreement) + 4·Q (ground-truth scores) + 4·(Q+1) (counts) per rank, independent of
/// V; with top-K, an all-gather of 8·Q·K bytes from every rank (8·Q·K·P received: O(Q·K·P),
/// acceptable for K ≪ V and a handful of ranks).
///
/// Every rank must call `evaluate` (it is collective) with the same queries.
public struct ShardedEvaluator {
    /// The ranks that hold the video shards (`LocalWorld()`: one process without MPI).
    public let world: any World
    public var weights: RankingWeights
    /// Bytes the evaluator may allocate (see `ScoringPlan`).
    public var memoryBudget: Int
    /// K of the top-K lists (0: no lists).
    public var topK: Int
    /// Override the planner's preferred block sizes (benchmarks); the budget still wins.
    public var preferredQueryBlock: Int?
    public var preferredVideoBlock: Int?
    /// The precision of the score products (`fp32` by default: the reference).
    public var scoring: ScoringMode = .fp32

    /// The default budget: 256 MiB.
    public static let defaultMemoryBudget = 256 << 20

    public init(world: any World, weights: RankingWeights = .reference,
                memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget, topK: Int = 0) {
        self.world = world
        self.weights = weights
        self.memoryBudget = memoryBudget
        self.topK = topK
    }

    /// Ranks every query (collective). Throws the same kind of error on every rank when the
    /// cause is global (a missing ground truth, a rank that could not plan).
    public func evaluate(queries: QuerySet, videos: VideoShard) throws -> EvaluationResult {
        let start = MonotonicClock.now()
        var collectives = EvaluationCollectives(world)
        let q = queries.count
        guard q > 0 else { throw EvaluationError.noQueries }
        let workspace = Workspace()

        // 1. Agree on V and on whether every rank can run.
        let (plan, totalVideos) = try agree(queries: queries, videos: videos, collectives: &collectives, workspace: workspace)
        for (query, video) in queries.groundTruth.enumerated() where video < 0 || video >= totalVideos {
            throw EvaluationError.groundTruthMissing(query: query, video: video)
        }
        let thresholds = workspace.floats(q, repeating: -.infinity)
        // One slot more than the queries: the number of rows with non-finite scores, summed
        // with the counts so that every rank learns it from the same all-reduce.
        let counts = workspace.int32s(q + 1, repeating: 0)
        var scorer = BlockScorer(plan: plan, weights: weights, queries: queries.embeddings.pointer,
                                 clips: videos.clips.pointer, frames: videos.frames.pointer, workspace: workspace)
        let heaps = topK > 0 ? TopKHeaps(queries: q, k: topK, workspace: workspace) : nil
        // The engine is the process's; the precision of each product is the mode's.
        let engine = MatrixEngine.selection.engine
        let resultSelection = MatrixEngineSelection(engine: engine, precision: scoring.resultPrecision)

        // 2. Ground-truth pass: the owned ground truths, from the same blocks as the counting
        //    pass, whose scores are kept (within the budget) for it — with the products whose bits
        //    the results are (fp32 except in plain bf16).
        //    Exact-bf16 scores only the ground-truth rows of those blocks and keeps none (`ExactScreen`).
        let groundTruthStart = MonotonicClock.now()
        let keys = workspace.int64s(plan.queryBlock, repeating: 0)
        let kept = GroundTruthBlocks(plan: plan, queries: queries, videos: videos, scratch: keys,
                                     cacheBudget: scoring == .exactBF16 ? 0 : plan.cacheBudget, workspace: workspace)
        var screen = scoring == .exactBF16
            ? ExactScreen(plan: plan, weights: weights, queries: queries, topK: topK, exact: resultSelection, workspace: workspace) : nil
        MatrixEngine.with(resultSelection) {
            if screen != nil {
                screen!.scoreGroundTruths(scorer: &scorer, queries: queries, videos: videos, scratch: keys, thresholds: thresholds)
            } else {
                kept.scoreGroundTruths(scorer: &scorer, queries: queries, videos: videos, scratch: keys, thresholds: thresholds)
            }
        }
        let groundTruthSeconds = MonotonicClock.now() - groundTruthStart
        let groundTruthGemm = scorer.gemmSeconds, groundTruthFuse = scorer.fuseSeconds

        // 3. One Q-vector all-reduce: the owner's score wins over −∞ everywhere else, bit for bit.
        //    An owned non-finite score (NaN would not survive a max; −∞ would read as "missing")
        //    is sent as +∞, which marks it: the counting pass refuses such rows.
        videos.globalIndices.withUnsafeBufferPointer { owned in
            for i in 0..<q where !thresholds[i].isFinite && Self.contains(owned, queries.groundTruth[i]) { thresholds[i] = .infinity }
        }
        try collectives.allreduce(thresholds, .max)
        if let missing = thresholds.firstIndex(of: -.infinity) {
            throw EvaluationError.groundTruthMissing(query: missing, video: queries.groundTruth[missing])
        }

        // 4. Counting pass: every block, read back from the kept ones when possible.
        let countingStart = MonotonicClock.now()
        let (countedSeconds, nonFiniteRows, firstNonFinite) = queries.groundTruth.withUnsafeBufferPointer { groundTruth in
            var tally = RankTally(thresholds: UnsafeBufferPointer(thresholds), groundTruth: groundTruth, counts: counts, heaps: heaps)
            countingPass(scorer: &scorer, screen: &screen, kept: kept, queries: queries, videos: videos, engine: engine, tally: &tally)
            return (tally.seconds, tally.nonFiniteRows, tally.firstNonFiniteQuery)
        }
        let countingSeconds = MonotonicClock.now() - countingStart
        var rankingSeconds = countedSeconds

        // 5. One Q-vector all-reduce of the counts (and of the non-finite rows, in slot q).
        counts[q] = Int32(min(nonFiniteRows, 1 << 20))  // bounded per rank: the sum cannot overflow
        try collectives.allreduce(counts, .sum)
        if counts[q] != 0 {
            // Every rank is here together: agree on the first query with a non-finite score.
            let first = workspace.int32s(1, repeating: Int32(clamping: firstNonFinite ?? Int(Int32.max)))
            try collectives.allreduce(first, .min)
            throw EvaluationError.nonFiniteScores(rows: Int(counts[q]), firstQuery: Int(first[0]))
        }
        var t0 = MonotonicClock.now()
        let rankOfQuery = counts.prefix(q).map { Int($0) + 1 }
        let groundTruthScores = Array(thresholds)
        rankingSeconds += MonotonicClock.now() - t0

        // 6. Top-K: every rank's lists, merged.
        var top: TopKLists? = nil
        if let heaps {
            let ranks = collectives.size
            let gatheredScores = workspace.floats(ranks * q * topK, repeating: 0)
            let gatheredIndices = workspace.int32s(ranks * q * topK, repeating: 0)
            try collectives.allgather(UnsafeBufferPointer(start: heaps.scores, count: q * topK), into: gatheredScores)
            try collectives.allgather(UnsafeBufferPointer(start: heaps.indices, count: q * topK), into: gatheredIndices)
            t0 = MonotonicClock.now()
            top = TopKHeaps.merge(gatheredScores: UnsafeBufferPointer(gatheredScores), gatheredIndices: UnsafeBufferPointer(gatheredIndices),
                                  queries: q, k: topK, ranks: ranks, totalVideos: totalVideos)
            rankingSeconds += MonotonicClock.now() - t0
        }

        let timing = EvaluationTiming(
            groundTruthPass: groundTruthSeconds, countingPass: countingSeconds,
            gemm: scorer.gemmSeconds, clipMax: scorer.fuseSeconds,
            groundTruthGemm: groundTruthGemm, groundTruthClipMax: groundTruthFuse,
            bf16Gemm: scorer.bf16GemmSeconds, screening: screen?.seconds ?? 0,
            ranking: rankingSeconds, communication: collectives.seconds, total: MonotonicClock.now() - start)
        let traffic = EvaluationTraffic(reducedBytes: collectives.reducedBytes, gatherSentBytes: collectives.gatherSentBytes,
                                        gatherReceivedBytes: collectives.gatherReceivedBytes)
        return EvaluationResult(
            ranks: rankOfQuery, groundTruthScores: groundTruthScores, top: top, plan: plan, timing: timing, traffic: traffic,
            allocatedBytes: workspace.allocatedBytes, executedFlops: scorer.flops,
            usefulFlops: 2.0 * Double(q) * Double(videos.count) * Double(videos.clipsPerVideo + 1) * Double(queries.dim),
            totalVideos: totalVideos, groundTruthBlocks: kept.count, cachedBlocks: kept.cachedCount,
            scoring: scoring, rescoring: screen?.statistics ?? RescoringStatistics())
    }

    /// Whether the increasing `indices` hold `value` (binary search).
    private static func contains(_ indices: UnsafeBufferPointer<Int>, _ value: Int) -> Bool {
        var low = 0, high = indices.count
        while low < high {
            let mid = (low + high) / 2
            if indices[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < indices.count && indices[low] == value
    }

    /// Step 1: this rank's plan, checked together with every other rank's (one all-gather of
    /// (failed, Vr) per rank), and V. All ranks throw if any rank cannot run.
    private func agree(queries: QuerySet, videos: VideoShard, collectives: inout EvaluationCollectives,
                       workspace: Workspace) throws -> (ScoringPlan, Int) {
        let ranks = collectives.size
        var plan: ScoringPlan? = nil
        var localError: Error? = nil
        do {
            guard videos.dim == queries.dim else {
                throw EvaluationError.invalidInput("rank \(collectives.rank): videos have d = \(videos.dim), queries d = \(queries.dim)")
            }
            plan = try ScoringPlan(queries: queries.count, videos: videos.count, clipsPerVideo: videos.clipsPerVideo, dim: queries.dim,
                                   topK: topK, ranks: ranks, memoryBudget: memoryBudget,
                                   preferredQueryBlock: preferredQueryBlock, preferredVideoBlock: preferredVideoBlock, scoring: scoring)
        } catch {
            localError = error
        }
        let all = try collectives.agreeOnFailure(localError, values: [Int64(videos.count)])
        return (plan!, (0..<ranks).reduce(0) { $0 + Int(all[$1][0]) })
    }

    /// Step 4: scores every (query block, video block) — or reads it back from `kept` — and
    /// accumulates each query's count of videos ranked before its ground truth, and the top-K,
    /// into `tally`. Video blocks are the outer loop; in bf16 each is registered with the matrix
    /// engine as a weight block, so its operands are rounded once for every query block.
    private func countingPass(scorer: inout BlockScorer, screen: inout ExactScreen?, kept: GroundTruthBlocks, queries: QuerySet,
                              videos: VideoShard, engine: MatmulEngineKind, tally: inout RankTally) {
        let plan = scorer.plan
        let d = plan.dim, mc = plan.clipsPerVideo
        let blockSelection = MatrixEngineSelection(engine: engine, precision: scoring == .fp32 ? .fp32 : .bf16)
        let queryRows = queries.embeddings.pointer
        videos.globalIndices.withUnsafeBufferPointer { indices in
            for j in 0..<plan.videoBlockCount {
                let vs = plan.videoRange(j)
                let blockIndices = UnsafeBufferPointer(rebasing: indices[vs])
                screen?.begin(videoBlock: j, indices: blockIndices, clips: videos.clips.pointer, frames: videos.frames.pointer)
                MatrixEngine.with(blockSelection) {
                    MatrixEngine.withWeights(videos.clips.pointer + vs.lowerBound * mc * d, count: vs.count * mc * d) {
                        MatrixEngine.withWeights(videos.frames.pointer + vs.lowerBound * d, count: vs.count * d) {
                            for i in 0..<plan.queryBlockCount {
                                let qs = plan.queryRange(i)
                                if let reused = kept.scores(queryBlock: i, videoBlock: j) {
                                    tally.add(scores: reused, queries: qs, videoIndices: blockIndices)
                                    continue
                                }
                                scorer.score(queryBlock: i, videoBlock: j)
                                if screen != nil {
                                    screen!.screen(scores: scorer.blockScores, queries: qs, videoCount: vs.count, queryRows: queryRows,
                                                   scorer: &scorer, tally: &tally)
                                } else {
                                    tally.add(scores: scorer.blockScores, queries: qs, videoIndices: blockIndices)
                                }
                            }
                            screen?.rescore(scorer: &scorer, tally: &tally)
                        }
                    }
                }
            }
        }
    }
}
