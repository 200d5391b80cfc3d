/// The blocks the ground-truth pass must score, and the scores it keeps for the counting pass.
///
/// For query block i, the ground truths this rank owns fall in a few video blocks j (captions
/// are grouped by video, so a query block covers a run of consecutive videos). The ground-truth
/// pass scores exactly those (i, j) blocks; the counting pass needs them again. Rather than
/// recompute, their Qb×Vb ranking scores are kept in `cache` as long as the memory budget has
/// room (`ScoringPlan.cacheBudget`): the counting pass then reads them instead of calling sgemm,
/// and the ground-truth pass costs no extra FLOPs. Blocks beyond the budget are recomputed —
/// bit-identically, since a block's scores are a pure function of the block (`BlockScorer`).
struct GroundTruthBlocks {
    /// i·J + j of every block the ground-truth pass scores, ascending (the counting pass's order).
    let keys: UnsafeMutableBufferPointer<Int64>
    /// Where block e's scores start in `cache` (for e < `cachedCount`).
    let offsets: UnsafeMutableBufferPointer<Int64>
    let cachedCount: Int
    let cache: UnsafeMutableBufferPointer<Float>
    /// J, the plan's number of video blocks (keys are i·J + j).
    let videoBlockCount: Int

    /// Lists the blocks (two sweeps over the queries, a binary search each) and allocates the
    /// cache for as many of them, in order, as `cacheBudget` bytes hold.
    init(plan: ScoringPlan, queries: QuerySet, videos: VideoShard, scratch: UnsafeMutableBufferPointer<Int64>,
         cacheBudget: Int, workspace: Workspace) {
        // Two sweeps (count, then fill) so that nothing but the workspace holds the list.
        func sweep(_ visit: (Int, Int) -> Void) {
            Self.forEachRun(plan: plan, queries: queries, videos: videos, scratch: scratch) { i, j, _ in visit(i, j) }
        }
        var count = 0
        sweep { _, _ in count += 1 }
        // Metadata lives in the workspace (≤ 16 bytes per query, counted in the plan).
        let keys = workspace.int64s(count, repeating: 0)
        let offsets = workspace.int64s(count, repeating: 0)
        var e = 0, total = 0, cached = 0
        sweep { i, j in
            keys[e] = Int64(i * plan.videoBlockCount + j)
            let floats = plan.queryRange(i).count * plan.videoRange(j).count
            if cached == e && 4 * (total + floats) <= cacheBudget {
                offsets[e] = Int64(total)
                total += floats
                cached += 1
            }
            e += 1
        }
        self.keys = keys
        self.offsets = offsets
        videoBlockCount = plan.videoBlockCount
        cachedCount = cached
        cache = workspace.floats(total, repeating: 0)
    }

    /// The number of blocks the ground-truth pass scores.
    var count: Int { keys.count }

    /// The ground-truth pass: scores each listed block once (in the counting pass's order),
    /// keeps it if there is room, and takes s(q, gt) for every query whose ground truth this rank
    /// holds into `thresholds` (others stay −∞).
    func scoreGroundTruths(scorer: inout BlockScorer, queries: QuerySet, videos: VideoShard,
                           scratch keys: UnsafeMutableBufferPointer<Int64>, thresholds: UnsafeMutableBufferPointer<Float>) {
        let plan = scorer.plan
        let qb = Int64(plan.queryBlock)
        var e = 0
        Self.forEachRun(plan: plan, queries: queries, videos: videos, scratch: keys) { i, j, run in
            let qs = plan.queryRange(i), vs = plan.videoRange(j)
            scorer.score(queryBlock: i, videoBlock: j)
            if e < cachedCount {
                (cache.baseAddress! + Int(offsets[e])).update(from: scorer.blockScores, count: qs.count * vs.count)
            }
            e += 1
            for k in run {
                let position = Int(keys[k] / qb), row = Int(keys[k] % qb)
                thresholds[qs.lowerBound + row] = scorer.blockScores[row * vs.count + position - vs.lowerBound]
            }
        }
    }

    /// Walks the ground truths this rank owns, query block by query block and, within one, video
    /// block by video block (both ascending): `visit(i, j, run)` for each run of at most `limit`
    /// consecutive entries of `keys` (position·Qb + row, as `ownedGroundTruths` fills them) whose
    /// ground truth lies in video block j. `keys`: Qb scratch entries.
    static func forEachRun(plan: ScoringPlan, queries: QuerySet, videos: VideoShard, scratch keys: UnsafeMutableBufferPointer<Int64>,
                           limit: Int = .max, _ visit: (_ queryBlock: Int, _ videoBlock: Int, _ run: Range<Int>) -> Void) {
        let qb = Int64(plan.queryBlock)
        for i in 0..<plan.queryBlockCount {
            let n = ownedGroundTruths(queryBlock: i, plan: plan, queries: queries, videos: videos, into: keys)
            var k = 0
            while k < n {
                let j = Int(keys[k] / qb) / plan.videoBlock
                var end = k + 1
                while end < n, end - k < limit, Int(keys[end] / qb) / plan.videoBlock == j { end += 1 }
                visit(i, j, k..<end)
                k = end
            }
        }
    }

    /// The kept scores of block (i, j) if the ground-truth pass kept them (a binary search of the
    /// kept keys, which ascend: the counting pass may visit blocks in any order).
    func scores(queryBlock i: Int, videoBlock j: Int) -> UnsafeMutablePointer<Float>? {
        let key = Int64(i * videoBlockCount + j)
        var low = 0, high = cachedCount
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        guard low < cachedCount, keys[low] == key else { return nil }
        return cache.baseAddress! + Int(offsets[low])
    }

    /// Fills keys[0..<n] with position·Qb + row for each query (row in the block) whose ground
    /// truth this rank holds at local `position`, sorted (so each video block comes once, in
    /// order); returns n. No allocation (insertion sort: nearly sorted input, n ≤ Qb).
    static func ownedGroundTruths(queryBlock i: Int, plan: ScoringPlan, queries: QuerySet, videos: VideoShard,
                                  into keys: UnsafeMutableBufferPointer<Int64>) -> Int {
        let qs = plan.queryRange(i)
        var n = 0
        for query in qs {
            if let position = videos.localPosition(ofVideo: queries.groundTruth[query]) {
                keys[n] = Int64(position) * Int64(plan.queryBlock) + Int64(query - qs.lowerBound)
                n += 1
            }
        }
        if n > 1 {
            for a in 1..<n {
                let key = keys[a]
                var b = a - 1
                while b >= 0 && keys[b] > key {
                    keys[b + 1] = keys[b]
                    b -= 1
                }
                keys[b + 1] = key
            }
        }
        return n
    }
}
