import Foundation
import MPIKit
import Testing
@testable import Evaluation

struct RankRecordWriterTests {
    @Test("JSON Lines: one object per query with cap_id, video_id, rank, score and the top-K")
    func jsonLines() throws {
        let p = RetrievalProblem(videos: 12, queries: 5, clips: 32, dim: 8, seed: 31)
        let result = try ShardedEvaluator(world: LocalWorld(), topK: 3).evaluate(queries: p.querySet, videos: p.shard(0..<12))
        var captions = p.captionIDs
        captions[1] = "quote\" back\\slash\nnewline\u{1}é"
        try withTemporaryDirectory { dir in
            let path = dir + "/ranks.jsonl"
            try RankRecordWriter.write(to: path, captionIDs: captions, videoIDs: p.videoIDs, groundTruth: p.groundTruth, result: result)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == p.queries)
            for (q, line) in lines.enumerated() {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["cap_id"] as? String == captions[q])
                #expect(object["video_id"] as? String == p.videoIDs[p.groundTruth[q]])
                #expect((object["rank"] as? NSNumber)?.intValue == result.ranks[q])
                #expect((object["score"] as? NSNumber).map { Float($0.doubleValue) } == result.groundTruthScores[q], "score reads back to the same Float")
                let top = try #require(object["top"] as? [[Any]])
                #expect(top.count == 3)
                for (e, entry) in top.enumerated() {
                    let expected = result.top!.entries(ofQuery: q)[e]
                    #expect(entry[0] as? String == p.videoIDs[expected.video])
                    #expect((entry[1] as? NSNumber).map { Float($0.doubleValue) } == expected.score)
                }
            }
        }
        // Without top-K there is no "top" key.
        let plain = RankRecordWriter.record(captionID: "c", videoID: "v", rank: 2, score: 0.5, top: nil)
        #expect(plain == "{\"cap_id\": \"c\", \"video_id\": \"v\", \"rank\": 2, \"score\": 0.5}")
    }

    @Test("mismatched ids are an error, not a crash")
    func mismatch() throws {
        let p = RetrievalProblem(videos: 4, queries: 2, clips: 32, dim: 8, seed: 1)
        let result = try ShardedEvaluator(world: LocalWorld()).evaluate(queries: p.querySet, videos: p.shard(0..<4))
        #expect(throws: EvaluationError.self) {
            try RankRecordWriter.write(to: "/tmp/never.jsonl", captionIDs: ["only one"], videoIDs: p.videoIDs, groundTruth: p.groundTruth, result: result)
        }
    }
}
