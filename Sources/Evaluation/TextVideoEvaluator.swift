import MPIKit
import TensorKit

/// Text→video and video→text retrieval metrics (MUSE.md §5): R@1/5/10, median and mean rank in
/// each direction, from exact 1-based ranks.
public struct TextVideoMetrics: Sendable, Equatable {
    public let textToVideo: RecallMetrics
    public let videoToText: RecallMetrics

    /// t2v R@1 + R@5 + R@10 + v2t R@1 + R@5 + R@10 ("RSum"): what model selection ranks by.
    public var rSum: Double {
        textToVideo.r1 + textToVideo.r5 + textToVideo.r10 + videoToText.r1 + videoToText.r5 + videoToText.r10
    }

    /// The values under the record names of `metrics.jsonl`, `--json` and TensorBoard.
    public var named: [(name: String, value: Double)] {
        [("t2v_r1", textToVideo.r1), ("t2v_r5", textToVideo.r5), ("t2v_r10", textToVideo.r10),
         ("t2v_median_rank", textToVideo.medianRank), ("t2v_mean_rank", textToVideo.meanRank),
         ("v2t_r1", videoToText.r1), ("v2t_r5", videoToText.r5), ("v2t_r10", videoToText.r10),
         ("v2t_median_rank", videoToText.medianRank), ("v2t_mean_rank", videoToText.meanRank), ("rsum", rSum)]
    }
}

/// What `TextVideoEvaluator.evaluate` returns, global (identical on every rank) but the timing.
public struct TextVideoResult: Sendable {
    /// Per caption: the rank of its video among all videos, and the score of that video.
    public let textToVideoRanks: [Int]
    public let textToVideoScores: [Float]
    /// Per video: the rank of its captions among the captions grouped by video (each video's
    /// best caption standing for it), and the score of its own best caption.
    public let videoToTextRanks: [Int]
    public let videoToTextScores: [Float]
    /// Per video: its caption of the highest score (the one that stands for it; the first on ties).
    public let videoToTextCaptions: [Int]
    /// Seconds of this rank (scoring: the score products; ranking; collectives; the whole call),
    /// in the phases `ShardedEvaluator` reports.
    public let timing: EvaluationTiming

    public var metrics: TextVideoMetrics {
        TextVideoMetrics(textToVideo: RecallMetrics(ranks: textToVideoRanks), videoToText: RecallMetrics(ranks: videoToTextRanks))
    }
}

/// Exact text→video and video→text ranks over a video set sharded across ranks (MUSE.md §5,
/// DISTRIBUTED.md §5), one vector per video and per caption, scores s(c, v) = ĉ·v̂:
///
/// - **t2v**, per caption c with video g(c): rank = 1 + #{v : s(c,v) > s(c,g)} +
///   #{v : s(c,v) = s(c,g), v < g} (the project's tie rule), counted per rank over its videos and
///   summed with one Q-vector all-reduce, after one Q-vector MAX all-reduce that brings every
///   rank s(c, g(c)) from the rank owning g(c).
/// - **v2t**, per video v: every video u stands by its best caption, m(u, v) = max_{c: g(c)=u}
///   s(c, v) (the official `tensor_video_to_text_sim`; with one caption per video, as MSR-VTT
///   1k-A, it is plain video→text); rank = 1 + #{u : m(u,v) > m(v,v)} + #{u < v : m(u,v) = m(v,v)}.
///   Local to v's rank (the captions are on every rank); ranks gathered in video order.
///
/// Each video's column of scores is one product of the Q × W captions with its W-vector, so its
/// bits depend only on those operands, never on the world size: P ranks give 1 rank's ranks
/// exactly. Every video and caption is embedded once (by the caller). Scores of a rank's videos
/// are kept while they fit `memoryBudget` (else recomputed bit-identically in the second pass).
///
/// Ties: the official `compute_metrics` gives the best position among equal scores (1 + #{>});
/// here ties are broken by index, as everywhere in this project. Collective: every rank calls.
public struct TextVideoEvaluator {
    public let world: any World
    public var memoryBudget: Int

    public init(world: any World, memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget) {
        self.world = world
        self.memoryBudget = memoryBudget
    }

    /// - Parameters:
    ///   - queries: every caption (normalised), ground truth = its video's global index.
    ///   - videos: this rank's videos; their vectors (normalised) in `frames`.
    public func evaluate(queries: QuerySet, videos: VideoShard) throws -> TextVideoResult {
        let start = MonotonicClock.now()
        var collectives = EvaluationCollectives(world)
        let q = queries.count, w = queries.dim, vr = videos.count
        guard q > 0 else { throw EvaluationError.noQueries }
        guard videos.dim == w else { throw EvaluationError.invalidInput("caption vectors of \(w) floats, video vectors of \(videos.dim)") }
        // Agree on V (every rank's count) and on every rank being able to run.
        let counts = try collectives.agreeOnFailure(nil, values: [Int64(vr)]).map { Int($0[0]) }
        let totalVideos = counts.reduce(0, +)
        for (c, v) in queries.groundTruth.enumerated() where v < 0 || v >= totalVideos {
            throw EvaluationError.groundTruthMissing(query: c, video: v)
        }
        let captions = queries.embeddings.pointer, vectors = videos.frames.pointer
        let kept = min(vr, max(1, memoryBudget / max(1, 4 * q)))
        let cache = FloatStorage(count: max(kept * q, 1))
        let column = FloatStorage(count: q)
        var scoring = 0.0, ranking = 0.0
        var computed = [Bool](repeating: false, count: kept)
        /// s(·, v) for own video j, from the cache or computed into `column`.
        func scores(_ j: Int) -> UnsafeMutablePointer<Float> {
            if j < kept, computed[j] { return cache.base + j * q }
            let target = j < kept ? cache.base + j * q : column.base
            let t0 = MonotonicClock.now()
            Matmul.forward(transB: true, m: q, n: 1, k: w, a: captions, b: vectors + j * w, c: target, ldc: 1)
            scoring += MonotonicClock.now() - t0
            if j < kept { computed[j] = true }
            return target
        }
        // Captions of each global video (for v2t), and the ground-truth threshold of each caption.
        var captionsOf = [[Int]](repeating: [], count: totalVideos)
        for (c, v) in queries.groundTruth.enumerated() { captionsOf[v].append(c) }
        var thresholds = [Float](repeating: -.infinity, count: q)
        var nonFinite = 0, firstNonFinite = Int.max
        var v2tRanks = [Int32](repeating: 0, count: vr), v2tScores = [Float](repeating: 0, count: vr)
        var v2tCaptions = [Int32](repeating: 0, count: vr)
        var best = [Float](repeating: 0, count: totalVideos)
        for (j, v) in videos.globalIndices.enumerated() {
            let s = scores(j)
            if let bad = NonFiniteScan.first(s, count: q) {
                nonFinite += 1
                firstNonFinite = min(firstNonFinite, bad)
                continue
            }
            let t0 = MonotonicClock.now()
            for c in captionsOf[v] { thresholds[c] = s[c] }
            // v2t: every video by its best caption; v's own best against them.
            for u in 0..<totalVideos { best[u] = captionsOf[u].reduce(-Float.infinity) { max($0, s[$1]) } }
            let own = best[v]
            v2tCaptions[j] = Int32(captionsOf[v].first { s[$0] == own } ?? 0)
            var above: Int32 = 0
            for u in 0..<totalVideos where best[u] > own || (best[u] == own && u < v) { above += 1 }
            v2tRanks[j] = 1 + above
            v2tScores[j] = own
            ranking += MonotonicClock.now() - t0
        }
        try thresholds.withUnsafeMutableBufferPointer { try collectives.allreduce($0, .max) }
        // t2v counts over this rank's videos; one more slot: rows with non-finite scores.
        var t2vCounts = [Int32](repeating: 0, count: q + 1)
        for (j, v) in videos.globalIndices.enumerated() {
            let s = scores(j)
            if NonFiniteScan.first(s, count: q) != nil { continue }
            let t0 = MonotonicClock.now()
            for c in 0..<q {
                let g = queries.groundTruth[c]
                if s[c] > thresholds[c] || (s[c] == thresholds[c] && v < g) { t2vCounts[c] += 1 }
            }
            ranking += MonotonicClock.now() - t0
        }
        t2vCounts[q] = Int32(nonFinite)
        try t2vCounts.withUnsafeMutableBufferPointer { try collectives.allreduce($0, .sum) }
        if t2vCounts[q] > 0 {
            let first = try collectives.agreeOnFailure(nil, values: [Int64(firstNonFinite == Int.max ? -1 : firstNonFinite)])
                .map { $0[0] }.filter { $0 >= 0 }.min()
            throw EvaluationError.nonFiniteScores(rows: Int(t2vCounts[q]), firstQuery: Int(first ?? 0))
        }
        // v2t ranks and scores in global video order (ranks hold ascending, contiguous videos).
        var allRanks = [Int32](repeating: 0, count: totalVideos), allScores = [Float](repeating: 0, count: totalVideos)
        try v2tRanks.withUnsafeBufferPointer { send in
            try allRanks.withUnsafeMutableBufferPointer { try world.allgatherv(send, into: $0, counts: counts) }
        }
        try v2tScores.withUnsafeBufferPointer { send in
            try allScores.withUnsafeMutableBufferPointer { try world.allgatherv(send, into: $0, counts: counts) }
        }
        var allCaptions = [Int32](repeating: 0, count: totalVideos)
        try v2tCaptions.withUnsafeBufferPointer { send in
            try allCaptions.withUnsafeMutableBufferPointer { try world.allgatherv(send, into: $0, counts: counts) }
        }
        return TextVideoResult(textToVideoRanks: t2vCounts.prefix(q).map { 1 + Int($0) }, textToVideoScores: thresholds,
                               videoToTextRanks: allRanks.map(Int.init), videoToTextScores: allScores,
                               videoToTextCaptions: allCaptions.map(Int.init),
                               timing: EvaluationTiming(groundTruthPass: 0, countingPass: 0, gemm: scoring, clipMax: 0, groundTruthGemm: 0,
                                                        groundTruthClipMax: 0, ranking: ranking, communication: collectives.seconds,
                                                        total: MonotonicClock.now() - start))
    }
}
