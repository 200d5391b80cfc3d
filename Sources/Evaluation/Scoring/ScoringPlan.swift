/// The block shapes of one rank's scoring loop, chosen from a memory budget in bytes.
///
/// The loop scores `queryBlock` queries × `videoBlock` videos at a time: one sgemm
/// (Qb×d)·(d×Vb·Mc) into `clipScores`, the max over each group of Mc columns fused right
/// after, plus one sgemm (Qb×d)·(d×Vb) for the frame score into `blockScores`, which then holds
/// the ranking scores of the block. Never Q×V (nor Q×Vr) scores at once.
///
/// What the budget covers — everything the evaluator allocates, which a run reports as
/// `EvaluationResult.allocatedBytes` + `resultBytes`:
/// - block buffers: 4·Qb·Vb·Mc + 4·Qb·Vb bytes, plus 8·Qb for the first pass's list of
///   ground-truth positions;
/// - per-query state: the ground-truth score and the count of videos ranked above (4 + 4 bytes
///   per query), the returned ranks and scores (8 + 4 bytes per query), and the list of the
///   ground-truth pass's blocks (at most one per query, 16 bytes each);
/// - the ground-truth pass's block scores, kept for the counting pass within what is left
///   (`cacheBudget`);
/// - with top-K: this rank's K best per query (8 bytes per entry), every rank's lists after the
///   all-gather (8·P per entry), the merged list returned (8 per entry) and one query's P·K
///   candidates while merging;
/// - with exact-bf16 scoring (`ScoringMode.exactBF16`): the rows waiting to be re-scored in
///   fp32 — up to `rescoreRows` (≤ Qb) of them, each 4·d bytes of query, 4·Vb of scores and 8
///   for its number — the queries' norms (16·Q when the budget allows, else a query block's,
///   16·Qb) and, with top-K, a lower bound per entry (4·Q·K).
/// The blocks are the same in every scoring mode, because a score's bits may depend on its
/// block's shape and exact-bf16 must reproduce fp32's: in every mode they leave room for
/// exact-bf16's least (its fixed bytes and one waiting row). Exact-bf16 takes the rest of what it
/// needs from what the blocks leave (first from the kept ground-truth blocks; at a tight budget
/// it re-scores fewer rows at a time), so it runs whenever fp32 does.
/// Not covered: the inputs (owned by the caller) and the matrix engine's own buffers (OpenBLAS's
/// packing buffers, of a fixed size; in bf16, the rounded operands of one block, 2 bytes per
/// element: about 1.6 MB at the default blocks).
public struct ScoringPlan: Sendable, Equatable, CustomStringConvertible {
    /// Q, all queries (every rank scores all of them).
    public let queries: Int
    /// Vr, this rank's videos.
    public let videos: Int
    public let clipsPerVideo: Int
    public let dim: Int
    /// K of the top-K lists (0: none).
    public let topK: Int
    /// P, the number of ranks (sizes the top-K all-gather).
    public let ranks: Int
    public let memoryBudget: Int
    /// Qb.
    public let queryBlock: Int
    /// Vb.
    public let videoBlock: Int
    /// The precision of the score products (the blocks do not depend on it; the bytes do).
    public let scoring: ScoringMode
    /// Exact-bf16: how many rows wait to be re-scored together at most (0 in the other modes).
    public let rescoreRows: Int
    /// Exact-bf16: whether every query's norms are kept (16·Q bytes) instead of recomputed for
    /// every block (Q·d per video block).
    public let keepsQueryNorms: Bool

    /// Preferred Qb: tall enough for sgemm to run near its peak, small enough that the first
    /// pass (ground-truth scores) touches few video blocks per query block.
    public static let defaultQueryBlock = 256
    /// Preferred Vb·Mc, the sgemm's n.
    public static let defaultClipColumns = 2048

    /// Plans blocks within `memoryBudget` bytes, starting from the preferred block sizes and
    /// shrinking them (Qb down to 64, then Vb down to 16, then Qb down to 8, then Vb, then Qb
    /// down to 1) until everything fits. Throws `memoryBudgetTooSmall` if even 1×1 blocks do not.
    public init(queries: Int, videos: Int, clipsPerVideo: Int, dim: Int, topK: Int = 0, ranks: Int = 1,
                memoryBudget: Int, preferredQueryBlock: Int? = nil, preferredVideoBlock: Int? = nil,
                scoring: ScoringMode = .fp32) throws {
        guard queries >= 0, videos >= 0, clipsPerVideo >= 1, dim >= 1, topK >= 0, ranks >= 1 else {
            throw EvaluationError.invalidInput("cannot plan Q=\(queries), Vr=\(videos), Mc=\(clipsPerVideo), d=\(dim), K=\(topK), P=\(ranks)")
        }
        self.queries = queries
        self.videos = videos
        self.clipsPerVideo = clipsPerVideo
        self.dim = dim
        self.topK = topK
        self.ranks = ranks
        self.memoryBudget = memoryBudget
        self.scoring = scoring
        let fixed = Self.fixedBytes(queries: queries, topK: topK, ranks: ranks)
        // A block's buffers and the least exact-bf16 needs on top of them (whatever the mode).
        func blockBytes(_ qb: Int, _ vb: Int) -> Int {
            4 * qb * vb * (clipsPerVideo + 1) + 8 * qb
                + Self.screenFixedBytes(queries: queries, topK: topK, queryBlock: qb) + Self.rescoreRowBytes(dim: dim, videoBlock: vb)
        }
        var qb = max(1, min(queries, preferredQueryBlock ?? Self.defaultQueryBlock))
        var vb = max(1, min(videos, preferredVideoBlock ?? max(1, Self.defaultClipColumns / clipsPerVideo)))
        let stages: [(shrinkQuery: Bool, floor: Int)] = [(true, 64), (false, 16), (true, 8), (false, 1), (true, 1)]
        for stage in stages {
            while fixed + blockBytes(qb, vb) > memoryBudget {
                if stage.shrinkQuery {
                    guard qb > stage.floor else { break }
                    qb = max(stage.floor, (qb + 1) / 2)
                } else {
                    guard vb > stage.floor else { break }
                    vb = max(stage.floor, (vb + 1) / 2)
                }
            }
        }
        guard fixed + blockBytes(qb, vb) <= memoryBudget else {
            throw EvaluationError.memoryBudgetTooSmall(
                budget: memoryBudget, needed: fixed + blockBytes(1, 1),
                detail: "\(fixed) bytes of per-query state for Q=\(queries)\(topK > 0 ? ", top-\(topK) over \(ranks) rank(s)" : "") plus one 1×1 block")
        }
        queryBlock = qb
        videoBlock = vb
        // Exact-bf16: one waiting row is planned for; with what is left, every query's norms, then
        // as many more rows as it holds, up to Qb.
        var left = memoryBudget - fixed - blockBytes(qb, vb)
        keepsQueryNorms = scoring == .exactBF16 && left >= 16 * queries
        if keepsQueryNorms { left -= 16 * queries }
        rescoreRows = scoring == .exactBF16 ? min(qb, 1 + left / Self.rescoreRowBytes(dim: dim, videoBlock: vb)) : 0
    }

    /// Bytes of one row waiting to be re-scored: its query, its scores, its number.
    static func rescoreRowBytes(dim: Int, videoBlock: Int) -> Int { 4 * dim + 4 * videoBlock + 8 }
    /// Exact-bf16's bytes besides its waiting rows: the norms of a query block's queries, and a
    /// lower bound per top-K entry.
    static func screenFixedBytes(queries: Int, topK: Int, queryBlock: Int) -> Int { 16 * queryBlock + 4 * queries * topK }

    /// Bytes proportional to Q (and K·P), independent of the block shape and of V.
    static func fixedBytes(queries: Int, topK: Int, ranks: Int) -> Int {
        queries * (4 + 4)            // ground-truth scores, counts (workspace)
            + queries * 16           // ≤ one ground-truth block per query: its key and offset
            + 16 * (ranks + 1)       // the agreement all-gather
            + queries * (8 + 4)      // returned ranks ([Int]) and ground-truth scores ([Float])
            + queries * topK * 8 * (1 + ranks + 1)  // local heaps, all-gathered lists, merged lists
            + (topK > 0 ? ranks * topK * 8 : 0)     // one query's candidates during the merge
    }

    /// Bytes of the Qb × Vb·Mc clip-similarity buffer (the clip sgemm's output).
    public var clipScoreBytes: Int { 4 * queryBlock * videoBlock * clipsPerVideo }
    /// Bytes of the Qb × Vb ranking-score buffer.
    public var blockScoreBytes: Int { 4 * queryBlock * videoBlock }
    /// Bytes of the first pass's (local ground-truth position, query) keys: Qb Int64s.
    public var groundTruthKeyBytes: Int { 8 * queryBlock }
    /// Bytes proportional to Q (see the type's documentation).
    public var fixedBytes: Int { Self.fixedBytes(queries: queries, topK: topK, ranks: ranks) }
    /// Bytes of exact-bf16 scoring beyond fp32's (0 in the other modes).
    public var exactScreenBytes: Int {
        scoring == .exactBF16
            ? Self.screenFixedBytes(queries: queries, topK: topK, queryBlock: keepsQueryNorms ? queries : queryBlock)
                + rescoreRows * Self.rescoreRowBytes(dim: dim, videoBlock: videoBlock)
            : 0
    }
    /// Bytes of the arrays handed back to the caller (ranks, scores, merged top-K).
    public var resultBytes: Int { queries * (8 + 4) + queries * topK * 8 }
    /// What the budget leaves for keeping the ground-truth pass's block scores
    /// (`GroundTruthBlocks`): only what they need is allocated. The room left for exact-bf16 in
    /// every mode (`plannedBytes`) is not theirs, so the same blocks are kept in every mode.
    public var cacheBudget: Int { memoryBudget - max(totalBytes, plannedBytes) }
    /// The bytes the blocks were planned with: `totalBytes` of fp32 plus the least exact-bf16
    /// needs (its fixed bytes and one waiting row). A budget of exactly this keeps no
    /// ground-truth blocks.
    public var plannedBytes: Int {
        clipScoreBytes + blockScoreBytes + groundTruthKeyBytes + fixedBytes
            + Self.screenFixedBytes(queries: queries, topK: topK, queryBlock: queryBlock) + Self.rescoreRowBytes(dim: dim, videoBlock: videoBlock)
    }
    /// Everything the evaluator allocates under this plan, without the kept ground-truth
    /// blocks (at most `cacheBudget` more): never more than `memoryBudget` in all.
    public var totalBytes: Int { clipScoreBytes + blockScoreBytes + groundTruthKeyBytes + fixedBytes + exactScreenBytes }

    /// Number of query blocks.
    public var queryBlockCount: Int { (queries + queryBlock - 1) / queryBlock }
    /// Number of video blocks.
    public var videoBlockCount: Int { (videos + videoBlock - 1) / videoBlock }
    /// The queries of query block `i`.
    public func queryRange(_ i: Int) -> Range<Int> { (i * queryBlock)..<min((i + 1) * queryBlock, queries) }
    /// The local videos of video block `j`.
    public func videoRange(_ j: Int) -> Range<Int> { (j * videoBlock)..<min((j + 1) * videoBlock, videos) }

    public var description: String {
        "blocks \(queryBlock) queries × \(videoBlock) videos (\(queryBlockCount)×\(videoBlockCount)), \(scoring) scoring, \(totalBytes) of \(memoryBudget) bytes"
    }
}
