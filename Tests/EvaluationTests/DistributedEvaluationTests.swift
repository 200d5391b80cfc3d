import Foundation
import Testing
import TensorKit
import TestSupport
@testable import Evaluation

/// `mamfusion selftest-eval` for real under `mpirun -np 1, 2, 3`: every rank reads only its
/// chunks of an embedding index, the sharded evaluator ranks every query, and rank 0's ranks,
/// ground-truth scores (exact bits) and top-K lists must equal a brute-force full sort with
/// the tie rule computed here — on any world size.
@Suite(.serialized)
struct DistributedEvaluationTests {
    struct Outcome {
        var ranks: [Int] = []
        var scoreBits: [UInt32] = []
        var top: [Int: [(video: Int, bits: UInt32)]] = [:]
        /// rank → [Qb, Vb, plan bytes, budget, allocated + result bytes, all-reduce payload]
        var plans: [Int: [Int]] = [:]
        /// rank → (first video, count)
        var shards: [Int: (Int, Int)] = [:]
        /// rank → [screened rows, re-scored rows, near-tie rows] (exact-bf16)
        var rescoring: [Int: [Int]] = [:]
        var wroteIndex: Set<Int> = []
    }

    static func parse(_ output: ToolRunner.Output) -> Outcome {
        var o = Outcome()
        for line in output.stdout.split(separator: "\n").map(String.init) {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count >= 2 else { continue }
            if parts[0] == "result" && parts[1] == "ranks" { o.ranks = parts.dropFirst(2).compactMap { Int($0) } }
            if parts[0] == "result" && parts[1] == "scores" { o.scoreBits = parts.dropFirst(2).compactMap { UInt32($0, radix: 16) } }
            if parts[0] == "result" && parts[1] == "top", parts.count >= 3, let q = Int(parts[2]) {
                o.top[q] = parts.dropFirst(3).compactMap { entry in
                    let pair = entry.split(separator: ":")
                    guard pair.count == 2, let video = Int(pair[0]), let bits = UInt32(pair[1], radix: 16) else { return nil }
                    return (video, bits)
                }
            }
            if parts[0] == "rank", let r = Int(parts[1]), parts.count >= 3 {
                if parts[2] == "plan" { o.plans[r] = parts.dropFirst(3).compactMap { Int($0) } }
                if parts[2] == "shard", parts.count == 5, let first = Int(parts[3]), let count = Int(parts[4]) { o.shards[r] = (first, count) }
                if parts[2] == "wrote-index" { o.wroteIndex.insert(r) }
                if parts[2] == "rescoring" { o.rescoring[r] = parts.dropFirst(3).compactMap { Int($0) } }
            }
        }
        return o
    }

    /// Runs the self-test on `p` (scoring mode and matrix engine as named) and returns what rank 0 printed.
    static func run(_ p: RetrievalProblem, ranks: Int, chunk: Int, budget: Int, topK: Int, scoring: ScoringMode = .fp32,
                    engine: MatmulEngineKind = .openblas, writeIndex: String? = nil, in dir: String) throws -> Outcome {
        let index = dir + "/index.h5", queries = dir + "/queries.h5"
        if !FileManager.default.fileExists(atPath: index) { try p.write(index: index, queries: queries) }
        var arguments = ["selftest-eval", "--index", index, "--queries", queries, "--chunk", "\(chunk)",
                         "--memory-budget", "\(budget)", "--top-k", "\(topK)", "--scoring", scoring.rawValue, "--matmul-engine", engine.rawValue]
        if let writeIndex { arguments += ["--write-index", writeIndex] }
        let environment = childEnvironment.merging(engine == .onednn ? oneDNNEverywhereEnvironment : [:]) { $1 }
        let output = try ToolRunner.run(arguments, ranks: ranks, timeout: 120, environment: environment, program: .testSupport)
        #expect(output.status == 0 && !output.timedOut, "exit \(output.status)\n\(output.stderr)")
        return parse(output)
    }

    /// Runs the self-test on `p` and checks everything against brute force.
    static func check(_ p: RetrievalProblem, ranks: Int, chunk: Int, budget: Int, topK: Int, writeIndex: Bool = false,
                      scoring: ScoringMode = .fp32, engine: MatmulEngineKind = .openblas) throws {
        try withTemporaryDirectory { dir in
            let written = dir + "/written.h5"
            let o = try run(p, ranks: ranks, chunk: chunk, budget: budget, topK: topK, scoring: scoring, engine: engine,
                            writeIndex: writeIndex ? written : nil, in: dir)

            let s = p.scores()
            let sorted = p.sortedLists(s)
            #expect(o.ranks == p.bruteForceRanks(s), "\(ranks) ranks")
            #expect(o.scoreBits == (0..<p.queries).map { s[$0][p.groundTruth[$0]].bitPattern })
            if topK > 0 {
                for q in 0..<p.queries {
                    let expected = sorted[q].prefix(topK).map { (video: $0, bits: s[q][$0].bitPattern) }
                    let got = o.top[q] ?? []
                    #expect(got.map(\.video) == expected.map(\.video) && got.map(\.bits) == expected.map(\.bits), "top-\(topK) of query \(q)")
                }
            }
            let partition = try VideoPartition(videoCount: p.videos, chunkSize: chunk, ranks: ranks)
            for r in 0..<ranks {
                let shard = o.shards[r]
                #expect(shard?.0 == partition.videos(of: r).lowerBound && shard?.1 == partition.videos(of: r).count, "rank \(r) reads its chunks")
                let plan = o.plans[r] ?? []
                #expect(plan.count == 6, "rank \(r) reports its plan")
                guard plan.count == 6 else { continue }
                #expect(plan[2] <= budget && plan[3] == budget && plan[4] <= budget, "rank \(r) within the budget: \(plan)")
                // Communication: 4·Q ground-truth scores + 4·(Q+1) counts (the last: rows of non-finite
                // scores), whatever V.
                #expect(plan[5] == (ranks > 1 ? 8 * p.queries + 4 : 0), "rank \(r) all-reduce payload \(plan[5])")
            }
            if writeIndex {
                #expect(o.wroteIndex == Set(0..<ranks))
                let header = try EmbeddingIndex.readHeader(written)
                #expect(header == EmbeddingIndex.Header(videos: p.videos, clipsPerVideo: p.clips, dim: p.dim))
                #expect(try EmbeddingIndex.readVideoIDs(written) == p.videoIDs)
                let back = try EmbeddingIndex.read(written, videos: 0..<p.videos)
                #expect(back.clips.toArray() == p.clipValues && back.frames.toArray() == p.frameValues)
            }
        }
    }

    @Test("distributed ranks, scores and top-K equal a brute-force full sort with ties", arguments: [1, 2, 3])
    func ranksEqualBruteForce(ranks: Int) throws {
        // 10 chunks of 5 videos (the last of 2), blocks forced small by the budget.
        let p = RetrievalProblem(videos: 47, queries: 61, clips: 32, dim: 8, seed: 2024)
        try Self.check(p, ranks: ranks, chunk: 5, budget: 30_000, topK: 6)
    }

    @Test("exact-bf16 on 1, 2, 3 ranks: quantised problems with ties everywhere equal the brute-force full sort (both engines)",
          arguments: [1, 2, 3])
    func exactBF16EqualsBruteForce(ranks: Int) throws {
        let p = RetrievalProblem(videos: 47, queries: 61, clips: 32, dim: 8, seed: 2024)
        for engine in ExactScoringTests.engines {
            try Self.check(p, ranks: ranks, chunk: 5, budget: 40_000, topK: 6, scoring: .exactBF16, engine: engine)
        }
    }

    @Test("exact-bf16 on 1, 2, 3 ranks: ranks, ground-truth score bits and top-K lists equal fp32's on the same ranks, with planted exact ties and near-ties inside the bf16 bound (both engines)",
          arguments: [1, 2, 3])
    func exactBF16EqualsFP32(ranks: Int) throws {
        let p = ExactScoringTests.nearTieProblem(videos: 240, queries: 120, seed: 2025)
        try withTemporaryDirectory { dir in
            for engine in ExactScoringTests.engines {
                var screened = 0, rescored = 0, nearTieRows = 0
                // The budgets force several blocks per rank (one of them without room to keep ground-truth blocks).
                for (budget, topK) in [(1 << 20, 5), (400_000, 0), (150_000, 5)] {
                    let fp32 = try Self.run(p, ranks: ranks, chunk: 10, budget: budget, topK: topK, scoring: .fp32, engine: engine, in: dir)
                    let exact = try Self.run(p, ranks: ranks, chunk: 10, budget: budget, topK: topK, scoring: .exactBF16, engine: engine, in: dir)
                    let context = "\(engine) on \(ranks) ranks, budget \(budget), top-\(topK)"
                    #expect(fp32.ranks.count == p.queries && exact.ranks == fp32.ranks, "ranks: \(context)")
                    #expect(exact.scoreBits == fp32.scoreBits, "ground-truth scores: \(context)")
                    #expect(exact.top.keys.sorted() == fp32.top.keys.sorted(), "top-K queries: \(context)")
                    for (q, list) in fp32.top {
                        #expect(exact.top[q]?.map(\.video) == list.map(\.video) && exact.top[q]?.map(\.bits) == list.map(\.bits), "top-K of \(q): \(context)")
                    }
                    let stats = (0..<ranks).compactMap { exact.rescoring[$0] }
                    #expect(stats.count == ranks, "\(context): every rank reports")
                    screened += stats.reduce(0) { $0 + $1[0] }
                    rescored += stats.reduce(0) { $0 + $1[1] }
                    nearTieRows += stats.reduce(0) { $0 + $1[2] }
                }
                // Something was decided in bf16 and near-ties were re-scored.
                #expect(nearTieRows > 0 && rescored < screened, "\(engine) on \(ranks) ranks: \(screened) rows screened, \(rescored) re-scored, \(nearTieRows) for near-ties")
            }
        }
    }

    @Test("a last chunk of a single video, a single query, and a rank without videos work")
    func edgeShapes() throws {
        try Self.check(RetrievalProblem(videos: 7, queries: 1, clips: 32, dim: 8, seed: 5), ranks: 3, chunk: 3, budget: 1 << 20, topK: 3)
        try Self.check(RetrievalProblem(videos: 2, queries: 4, clips: 32, dim: 8, seed: 6), ranks: 3, chunk: 1, budget: 1 << 20, topK: 5)
    }

    @Test("the ranks write the embedding index in parallel; it reads back identical", arguments: [2, 3])
    func indexWrittenInParallel(ranks: Int) throws {
        let p = RetrievalProblem(videos: 23, queries: 9, clips: 32, dim: 8, seed: 77)
        try Self.check(p, ranks: ranks, chunk: 4, budget: 1 << 20, topK: 0, writeIndex: true)
    }
}
