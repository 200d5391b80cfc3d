import MPIKit
import TensorKit
import TestSupport
import Testing
@testable import Evaluation

/// `TextVideoEvaluator` against a brute-force evaluation of the whole score matrix: t2v ranks
/// with the tie rule, v2t ranks over videos standing by their best caption (several captions
/// per video), exact ties included, and a memory budget too small to keep the scores.
struct TextVideoEvaluatorTests {
    /// Rank of `gt` in `scores` (descending, ties to the lower index).
    static func rank(_ scores: [Float], _ gt: Int) -> Int {
        1 + scores.indices.filter { scores[$0] > scores[gt] || (scores[$0] == scores[gt] && $0 < gt) }.count
    }

    @Test("t2v and v2t ranks equal a brute-force evaluation, ties and multi-caption videos included", arguments: [1 << 20, 64])
    func bruteForce(budget: Int) throws {
        let w = 6, videos = 9
        let groundTruth = [0, 0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 8]
        var rng = TestSupport.SplitMix64(state: 5)
        var v = (0..<(videos * w)).map { _ in rng.float() }
        var c = (0..<(groundTruth.count * w)).map { _ in rng.float() }
        // Exact ties: video 5 is video 2's copy, caption 4 is caption 3's.
        for i in 0..<w { v[5 * w + i] = v[2 * w + i]; c[4 * w + i] = c[3 * w + i] }
        let vt = Tensor(shape: [videos, w], values: v), ct = Tensor(shape: [groundTruth.count, w], values: c)
        EmbeddingNormalization.l2Normalize(vt.pointer, rows: videos, dim: w)
        EmbeddingNormalization.l2Normalize(ct.pointer, rows: groundTruth.count, dim: w)
        let shard = try VideoShard(clips: Tensor(shape: [videos, 0, w]), frames: vt, videos: 0..<videos)
        let result = try TextVideoEvaluator(world: LocalWorld(), memoryBudget: budget).evaluate(queries: try QuerySet(embeddings: ct, groundTruth: groundTruth),
                                                                                              videos: shard)
        var s = [[Float]](repeating: [Float](repeating: 0, count: videos), count: groundTruth.count)
        for q in groundTruth.indices {
            for j in 0..<videos {
                var dot: Float = 0
                Matmul.forward(transB: true, m: 1, n: 1, k: w, a: ct.pointer + q * w, b: vt.pointer + j * w, c: &dot)
                s[q][j] = dot
            }
        }
        // Scores per video column come from one product per video: the oracle's 1×1 products
        // round differently, so compare ranks where no near-tie can flip them.
        for q in groundTruth.indices { #expect(result.textToVideoRanks[q] == Self.rank(s[q], groundTruth[q]), "caption \(q)") }
        for j in 0..<videos {
            let best = (0..<videos).map { u in groundTruth.indices.filter { groundTruth[$0] == u }.map { s[$0][j] }.max()! }
            #expect(result.videoToTextRanks[j] == Self.rank(best, j), "video \(j)")
            #expect(groundTruth[result.videoToTextCaptions[j]] == j)
        }
        #expect(result.metrics.textToVideo.queries == groundTruth.count && result.metrics.videoToText.queries == videos)
        #expect(result.videoToTextRanks[5] > 1 || result.videoToTextRanks[2] > 1, "video 5 is video 2's copy: one of them loses the tie")
    }
}
