import TensorKit

/// Exact-bf16 scoring on one rank (`ScoringMode.exactBF16`): decides every (query, video) from
/// its bf16 score when the error bound allows, and re-scores in fp32 the rows it cannot decide —
/// so that the counts, and with them the ranks, equal fp32 evaluation's bit for bit.
///
/// ## What a row needs
/// A row is one query against one video block (Vb videos). With t = s₃₂(q, gt), the ground
/// truth's fp32 score (the ground-truth pass computes it in fp32, as fp32 evaluation does), and
/// β the bound of `BF16ScoreBound` for this query and block:
/// - a video with S̃ > t + β has S₃₂ > t: it ranks before the ground truth whatever its index;
/// - a video with S̃ < t − β has S₃₂ < t: it does not;
/// - a video in between is a **near-tie**: only its fp32 score and the tie rule can decide.
/// A row without near-ties is counted from its bf16 scores (#{S̃ > t + β}). A row with one is
/// **re-scored**: its fp32 scores are computed and it is counted as fp32 evaluation counts it
/// (`countRankedAbove`). So is a row whose bound is refused (non-finite inputs or threshold,
/// overflow possible): fp32 alone may then decide, or refuse the evaluation as it would.
///
/// With top-K, a row is also re-scored when one of its videos could still enter the query's K
/// best: when S̃ + β reaches the larger of the K-th best exact score kept so far and the K-th
/// largest lower bound S̃ − β seen so far (`LowerBoundHeaps`). Only re-scored rows reach the top-K
/// heaps, which therefore hold fp32 scores only, and every video of the true top-K is among them.
///
/// ## Which fp32 value a re-scored row must reproduce
/// Not "the" fp32 dot product — fp32 sums round differently with the summation order, and the
/// order is the kernel's, chosen by the product's shape. It must be the value fp32 evaluation
/// compares: the one the block product of the *same plan* (same Qb, Vb: `ScoringPlan` does not
/// depend on the mode) computes. Rows waiting to be re-scored are gathered (their query rows
/// copied, up to Qb of them, from any query blocks) and scored against the same video block with
/// the block's own products (`BlockScorer.score(rows:count:videoBlock:into:)`): only m differs,
/// and a row's bits never depend on m. The tests compare the two modes' ranks, ground-truth
/// scores and top-K lists bit for bit, on both engines.
///
/// Buffers come from the workspace (`ScoringPlan.exactScreenBytes`); nothing is allocated per
/// block.
struct ExactScreen {
    let plan: ScoringPlan
    let weights: RankingWeights
    /// ‖q‖ and ‖bf16(q) − q‖: of every query [Q] when the plan keeps them (computed once), else
    /// of the block being screened [Qb] (recomputed for every block: Q·d per video block).
    private let queryNorms: UnsafeMutablePointer<RoundingNorms>
    /// [R, d] the query rows waiting to be re-scored (R = `plan.rescoreRows`, Qb unless the
    /// budget is tight); [R] their query numbers.
    private let waitingRows: UnsafeMutablePointer<Float>
    private let waitingQueries: UnsafeMutablePointer<Int>
    /// How many rows wait.
    private(set) var waiting = 0
    /// [R, Vb] their fp32 scores.
    private let exactScores: UnsafeMutablePointer<Float>
    /// The current video block, its videos' global indices, and the selection re-scoring runs with.
    private var videoBlock = 0
    private var videoIndices = UnsafeBufferPointer<Int>(start: nil, count: 0)
    private let exact: MatrixEngineSelection
    private let lowerBounds: LowerBoundHeaps?
    /// The current video block's largest clip and frame norms.
    private var clipNorms = RoundingNorms(norm: .nan, error: .nan)
    private var frameNorms = RoundingNorms(norm: .nan, error: .nan)
    private(set) var statistics = RescoringStatistics()
    /// Seconds spent deciding rows (bounds, comparisons, lower bounds).
    private(set) var seconds = 0.0

    /// `exact`: the fp32 selection of the evaluation's engine (what re-scored rows run with).
    init(plan: ScoringPlan, weights: RankingWeights, queries: QuerySet, topK: Int, exact: MatrixEngineSelection, workspace: Workspace) {
        precondition(plan.rescoreRows >= 1, "exact screen without room for a re-scored row")
        self.plan = plan
        self.weights = weights
        self.exact = exact
        let d = plan.dim
        queryNorms = workspace.values(plan.keepsQueryNorms ? queries.count : plan.queryBlock, repeating: RoundingNorms(norm: 0, error: 0)).baseAddress!
        if plan.keepsQueryNorms {
            for q in 0..<queries.count { queryNorms[q] = RoundingNorms(queries.embeddings.pointer + q * d, rows: 1, columns: d, ld: d) }
        }
        waitingRows = workspace.floats(plan.rescoreRows * d, repeating: 0).baseAddress!
        waitingQueries = workspace.values(plan.rescoreRows, repeating: 0).baseAddress!
        exactScores = workspace.floats(plan.rescoreRows * plan.videoBlock, repeating: 0).baseAddress!
        lowerBounds = topK > 0 ? LowerBoundHeaps(queries: queries.count, k: topK, workspace: workspace) : nil
    }

    /// Exact-bf16's ground-truth pass: s₃₂(q, gt) for every query whose ground truth this rank
    /// holds, into `thresholds` — from the very products fp32 evaluation's ground-truth block
    /// computes, but only for the rows that need them: for each video block holding ground truths
    /// of a query block (`GroundTruthBlocks`' list), the rows whose ground truth it holds are
    /// gathered (R at a time) and scored against it (rows are
    /// independent of m). Nothing is kept: the counting pass screens these blocks like the others
    /// (a ground-truth row is a near-tie of itself, so it is re-scored there). With captions
    /// grouped by video this scores about Q rows instead of Qb per listed block.
    /// `keys`: Qb scratch entries; runs with the current (fp32) selection.
    mutating func scoreGroundTruths(scorer: inout BlockScorer, queries: QuerySet, videos: VideoShard,
                                    scratch keys: UnsafeMutableBufferPointer<Int64>, thresholds: UnsafeMutableBufferPointer<Float>) {
        let qb = Int64(plan.queryBlock), d = plan.dim
        // Runs of keys of one video block j, at most R of them.
        GroundTruthBlocks.forEachRun(plan: plan, queries: queries, videos: videos, scratch: keys, limit: plan.rescoreRows) { i, j, run in
            let qs = plan.queryRange(i), vs = plan.videoRange(j)
            for (r, k) in run.enumerated() {
                let query = qs.lowerBound + Int(keys[k] % qb)
                (waitingRows + r * d).update(from: queries.embeddings.pointer + query * d, count: d)
            }
            scorer.score(rows: waitingRows, count: run.count, videoBlock: j, into: exactScores)
            for (r, k) in run.enumerated() {
                let position = Int(keys[k] / qb), query = qs.lowerBound + Int(keys[k] % qb)
                thresholds[query] = exactScores[r * vs.count + position - vs.lowerBound]
            }
            statistics.groundTruthRows += run.count
        }
    }

    /// Starts video block `j` (whose videos have global indices `indices`): its largest clip and
    /// frame norms (one pass over its rows). The previous block's rows must have been re-scored.
    mutating func begin(videoBlock j: Int, indices: UnsafeBufferPointer<Int>, clips: UnsafePointer<Float>, frames: UnsafePointer<Float>) {
        precondition(waiting == 0, "exact screen: rows of the previous video block still wait")
        videoBlock = j
        videoIndices = indices
        let t0 = MonotonicClock.now()
        let vs = plan.videoRange(j), mc = plan.clipsPerVideo, d = plan.dim
        clipNorms = RoundingNorms(clips + vs.lowerBound * mc * d, rows: vs.count * mc, columns: d, ld: d)
        frameNorms = RoundingNorms(frames + vs.lowerBound * d, rows: vs.count, columns: d, ld: d)
        seconds += MonotonicClock.now() - t0
    }

    /// Decides the rows of one block of bf16 scores (`scores`: [qs.count, nv], the current video
    /// block): decided rows add their counts to `tally.counts`; the others join the waiting rows,
    /// which are re-scored (`rescore`) whenever R of them wait. `queryRows`: every query, [Q, d].
    mutating func screen(scores: UnsafePointer<Float>, queries qs: Range<Int>, videoCount nv: Int, queryRows: UnsafePointer<Float>,
                         scorer: inout BlockScorer, tally: inout RankTally) {
        let t0 = MonotonicClock.now()
        defer { seconds += MonotonicClock.now() - t0 }
        let d = plan.dim
        let norms = plan.keepsQueryNorms ? queryNorms + qs.lowerBound : queryNorms
        if !plan.keepsQueryNorms {
            for (r, q) in qs.enumerated() { norms[r] = RoundingNorms(queryRows + q * d, rows: 1, columns: d, ld: d) }
        }
        for (r, q) in qs.enumerated() {
            let row = scores + r * nv
            statistics.screenedRows += 1
            statistics.screenedScores += nv
            let t = tally.thresholds[q]
            guard t.isFinite, let beta = BF16ScoreBound.score(query: norms[r], clips: clipNorms, frames: frameNorms,
                                                                weights: weights, dim: plan.dim) else {
                statistics.unboundedRows += 1
                wait(q, row: queryRows + q * plan.dim, videoCount: nv, scorer: &scorer, tally: &tally)
                continue
            }
            // Outward rounding: high ≥ t + β and low ≤ t − β exactly.
            let high = (t + beta).nextUp, low = (t - beta).nextDown
            let (above, undecided, best) = screenRow(row, count: nv, low: low, high: high)
            statistics.nearTies += undecided
            if undecided > 0 {
                statistics.nearTieRows += 1
                wait(q, row: queryRows + q * plan.dim, videoCount: nv, scorer: &scorer, tally: &tally)
                continue
            }
            if let lowerBounds, let heaps = tally.heaps {
                // Lower bounds first (the row's own count: see `LowerBoundHeaps`).
                for j in 0..<nv where row[j] - beta > lowerBounds.floor(q) { lowerBounds.offer(q, (row[j] - beta).nextDown) }
                let floor = max(lowerBounds.floor(q), heaps.scores[q * heaps.k])
                if (best + beta).nextUp >= floor {
                    statistics.candidateRows += 1
                    wait(q, row: queryRows + q * plan.dim, videoCount: nv, scorer: &scorer, tally: &tally)
                    continue
                }
            }
            tally.counts[q] &+= Int32(above)
        }
    }

    private mutating func wait(_ q: Int, row: UnsafePointer<Float>, videoCount nv: Int, scorer: inout BlockScorer, tally: inout RankTally) {
        (waitingRows + waiting * plan.dim).update(from: row, count: plan.dim)
        waitingQueries[waiting] = q
        waiting += 1
        statistics.rescoredRows += 1
        statistics.rescoredScores += nv
        if waiting == plan.rescoreRows { rescore(scorer: &scorer, tally: &tally) }
    }

    /// Re-scores the waiting rows against the current video block in fp32 and counts them as fp32
    /// evaluation does. Leaves `scorer.blockScores` alone (the block being screened may still
    /// have rows to decide).
    mutating func rescore(scorer: inout BlockScorer, tally: inout RankTally) {
        guard waiting > 0 else { return }
        let rows = waiting, scores = exactScores, gathered = UnsafePointer(waitingRows), j = videoBlock
        MatrixEngine.with(exact) { scorer.score(rows: gathered, count: rows, videoBlock: j, into: scores) }
        tally.add(scores: scores, queries: UnsafeBufferPointer(start: waitingQueries, count: rows), videoIndices: videoIndices)
        waiting = 0
    }
}

/// One row of bf16 scores against [low, high]: how many lie above `high` (surely before the
/// ground truth), how many are undecided (in [low, high], or not finite), and the row's largest.
@inline(never)
func screenRow(_ row: UnsafePointer<Float>, count: Int, low: Float, high: Float) -> (above: Int, undecided: Int, best: Float) {
    var above: Int32 = 0, undecided: Int32 = 0
    var best = -Float.infinity
    for j in 0..<count {
        let s = row[j]
        let isAbove = s > high && s < .infinity
        let isBelow = s < low && s > -.infinity
        above &+= isAbove ? 1 : 0
        undecided &+= isAbove || isBelow ? 0 : 1
        best = s > best ? s : best
    }
    return (Int(above), Int(undecided), best)
}
