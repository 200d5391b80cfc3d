import MPIKit
import Testing
import TensorKit
@testable import Evaluation

/// NaN compares false, so a NaN score used to count as "not above" the ground
/// truth and a broken model ranked every query first (R@1 100). Non-finite scores are refused.
struct NonFiniteScoreTests {
    @Test("a NaN or ±Inf among the scores is refused, naming the first query", arguments: ["query", "video", "groundTruth", "inf"])
    func refused(where place: String) throws {
        var p = RetrievalProblem(videos: 12, queries: 9, clips: 4, dim: 8, seed: 21)
        switch place {
        case "query": p.queryValues[3 * 8 + 2] = .nan                       // query 3's row of scores is NaN
        case "video": p.frameValues[7 * 8] = .nan                             // every query's score of video 7
        case "groundTruth": p.clipValues[p.groundTruth[5] * 4 * 8 + 1] = .nan  // every score of query 5's ground truth
        default: p.queryValues[6 * 8] = .infinity                            // query 6: ±Inf/NaN scores
        }
        let evaluator = ShardedEvaluator(world: LocalWorld(), memoryBudget: 1 << 30)
        #expect {
            try evaluator.evaluate(queries: p.querySet, videos: p.shard(0..<p.videos))
        } throws: { error in
            guard case .nonFiniteScores(let rows, let first) = error as? EvaluationError else { return false }
            let expectedFirst = place == "query" ? 3 : place == "inf" ? 6 : 0
            return rows >= 1 && first == expectedFirst && "\(error)".contains("not finite") && "\(error)".contains("query #\(expectedFirst + 1)")
        }
    }

    @Test("the rank count never counts a NaN row: it reports it instead")
    func rankCountingReportsNaN() {
        let scores: [Float] = [0.5, .nan, 0.9, 0.1, 0.2, 0.3]  // 2 queries × 3 videos
        var counts: [Int32] = [0, 0]
        var rows = 0
        var first: Int? = nil
        scores.withUnsafeBufferPointer { s in
            [0, 1, 2].withUnsafeBufferPointer { videos in
                [Float(0.5), Float(0.2)].withUnsafeBufferPointer { thresholds in
                    [0, 1].withUnsafeBufferPointer { truth in
                        counts.withUnsafeMutableBufferPointer { c in
                            countRankedAbove(scores: s.baseAddress!, queries: 0..<2, videoIndices: videos, thresholds: thresholds,
                                             groundTruth: truth, counts: c, nonFiniteRows: &rows, firstNonFiniteQuery: &first)
                        }
                    }
                }
            }
        }
        #expect(rows == 1 && first == 0)
        #expect(counts == [0, 1])  // query 1: only video 2 (0.3 > 0.2) ranks above
    }

    @Test("a split without queries is refused, not ranked to NaN metrics")
    func noQueries() throws {
        let p = RetrievalProblem(videos: 3, queries: 1, clips: 4, dim: 8, seed: 2)
        let empty = try QuerySet(embeddings: Tensor(shape: [0, 8]), groundTruth: [])
        #expect(throws: EvaluationError.noQueries) {
            try ShardedEvaluator(world: LocalWorld()).evaluate(queries: empty, videos: p.shard(0..<p.videos))
        }
    }
}
