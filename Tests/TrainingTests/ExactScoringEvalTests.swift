import Foundation
import TensorKit
import Testing
import TestSupport

/// `mamfusion eval --eval-scoring exact-bf16` as a user runs it (encoders, sharded videos, the
/// evaluator, `--ranks-out` with top-K): the file it writes is byte for byte the one fp32 scoring
/// writes, on 1, 2 and 3 ranks and with either engine — with an untrained model, whose scores
/// crowd together, so many rows hold near-ties, and a budget that makes several blocks per rank.
@Suite(.serialized)
struct ExactScoringEvalTests {
    @Test("eval --ranks-out: exact-bf16 writes fp32's file byte for byte on 1, 2 and 3 ranks, with and without top-K, both engines",
          arguments: [1, 2, 3])
    func ranksOutIdentical(ranks: Int) throws {
        let root = try writeToyCollection(trainVideos: 6, evaluationVideos: 48, frames: 4...12, seed: 17, label: "exact-bf16")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let settings = DistributedEquivalenceTests.settings(output: root + "/run", data: root, extra: ["eval_context_bsz=5"])
        let runs = OneDNNLibrary.isAvailable ? [("openblas", 5), ("onednn", 0), ("onednn", 3)] : [("openblas", 5), ("openblas", 0)]
        for (engine, topK) in runs {
            var files: [String: String] = [:]
            for scoring in ["fp32", "exact-bf16"] {
                let file = root + "/ranks-\(engine)-\(topK)-\(scoring).jsonl"
                let out = try ToolRunner.run(["eval", "--split", "test", "--ranks-out", file, "--top-k", "\(topK)", "--json", "--memory-budget", "60000",
                                              "--eval-scoring", scoring, "--matmul-engine", engine] + settings,
                                             ranks: ranks, timeout: 120, environment: engine == "onednn" ? oneDNNEverywhereEnvironment : [:])
                let context = "\(engine) \(scoring) top-\(topK) on \(ranks) ranks"
                #expect(out.status == 0 && !out.timedOut, "\(context): \(out.stderr)")
                let line = try #require(out.stdout.split(separator: "\n").first { $0.hasPrefix("{") })
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["eval_scoring"] as? String == scoring)
                let share = (object["rescored_share"] as? NSNumber)?.doubleValue ?? -1
                // Rows were re-scored; without top-K (whose candidates cover most of so few videos) others were decided in bf16.
                #expect(scoring == "fp32" ? share == 0 : share > 0 && (topK > 0 || share < 1), "\(context): re-scored share \(share)")
                files[scoring] = try String(contentsOfFile: file, encoding: .utf8)
            }
            #expect(files["fp32"]?.split(separator: "\n").count == 96)
            #expect(files["exact-bf16"] == files["fp32"], "\(engine) top-\(topK) on \(ranks) ranks: the files differ")
        }
    }
}
