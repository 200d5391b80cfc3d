import MPIKit
import Testing
import TensorKit
@testable import Evaluation

/// The evaluator in one process (no MPI): exact ranks with the tie rule and top-K against a
/// brute-force full sort, on problems built to have ties, at many block shapes.
struct ShardedEvaluatorTests {
    static func evaluate(_ p: RetrievalProblem, budget: Int = 1 << 30, topK: Int = 0, weights: RankingWeights = .reference,
                         queryBlock: Int? = nil, videoBlock: Int? = nil) throws -> EvaluationResult {
        var evaluator = ShardedEvaluator(world: LocalWorld(), weights: weights, memoryBudget: budget, topK: topK)
        evaluator.preferredQueryBlock = queryBlock
        evaluator.preferredVideoBlock = videoBlock
        return try evaluator.evaluate(queries: p.querySet, videos: p.shard(0..<p.videos))
    }

    @Test("ranks equal a brute-force full sort with the tie rule (quantised scores, duplicate videos and queries)",
          arguments: [(32, 1, 1), (32, 7, 5), (32, 16, 64), (5, 3, 2), (5, 256, 64), (1, 4, 3)])
    func ranksWithTies(clips: Int, queryBlock: Int, videoBlock: Int) throws {
        let p = RetrievalProblem(videos: 41, queries: 53, clips: clips, dim: 8, seed: UInt64(clips * 1000 + queryBlock))
        let s = p.scores()
        let expected = p.bruteForceRanks(s)
        // The problem must really contain ties at the ground truth, on both sides of it.
        let tiedBefore = (0..<p.queries).filter { q in (0..<p.groundTruth[q]).contains { s[q][$0] == s[q][p.groundTruth[q]] } }
        let tiedAfter = (0..<p.queries).filter { q in (p.groundTruth[q] + 1..<p.videos).contains { s[q][$0] == s[q][p.groundTruth[q]] } }
        #expect(tiedBefore.count > 3 && tiedAfter.count > 3, "the problem needs ties (\(tiedBefore.count), \(tiedAfter.count))")
        let result = try Self.evaluate(p, queryBlock: queryBlock, videoBlock: videoBlock)
        #expect(result.plan.queryBlock == min(queryBlock, p.queries) && result.plan.videoBlock == min(videoBlock, p.videos))
        #expect(result.ranks == expected)
        #expect(result.groundTruthScores == (0..<p.queries).map { s[$0][p.groundTruth[$0]] })
        #expect(result.metrics == RecallMetrics(ranks: expected))
    }

    @Test("configurable weights change the scores as S = w_clip·S_clip + w_frame·S_frame")
    func weights() throws {
        let p = RetrievalProblem(videos: 20, queries: 15, clips: 32, dim: 8, seed: 11)
        for w in [RankingWeights(clip: 1, frame: 0), RankingWeights(clip: 0, frame: 1), RankingWeights(clip: 0.25, frame: 0.75)] {
            let s = p.scores(weights: w)
            let result = try Self.evaluate(p, weights: w, queryBlock: 4, videoBlock: 3)
            #expect(result.ranks == p.bruteForceRanks(s))
            #expect(result.groundTruthScores == (0..<p.queries).map { s[$0][p.groundTruth[$0]] })
        }
    }

    @Test("a single video and a single query work")
    func singleVideoSingleQuery() throws {
        let one = RetrievalProblem(videos: 1, queries: 1, clips: 32, dim: 8, seed: 3)
        let r1 = try Self.evaluate(one, topK: 5)
        #expect(r1.ranks == [1] && r1.top?.k == 1 && r1.top?.videos == [0])
        let manyQueries = RetrievalProblem(videos: 1, queries: 9, clips: 32, dim: 8, seed: 4)
        #expect(try Self.evaluate(manyQueries, queryBlock: 2).ranks == Array(repeating: 1, count: 9))
        let oneQuery = RetrievalProblem(videos: 30, queries: 1, clips: 32, dim: 8, seed: 5)
        #expect(try Self.evaluate(oneQuery, videoBlock: 4).ranks == oneQuery.bruteForceRanks(oneQuery.scores()))
    }

    @Test("top-K equals the first K of the brute-force sort (score descending, index ascending)", arguments: [1, 7, 40, 100])
    func topK(k: Int) throws {
        let p = RetrievalProblem(videos: 40, queries: 21, clips: 32, dim: 8, seed: UInt64(k))
        let s = p.scores()
        let result = try Self.evaluate(p, topK: k, queryBlock: 8, videoBlock: 6)
        let sorted = p.sortedLists(s)
        let top = try #require(result.top)
        #expect(top.k == min(k, p.videos))
        for q in 0..<p.queries {
            let entries = top.entries(ofQuery: q)
            #expect(entries.map(\.video) == Array(sorted[q].prefix(k)), "query \(q)")
            #expect(entries.map(\.score) == sorted[q].prefix(k).map { s[q][$0] })
            if result.ranks[q] <= top.k { #expect(entries[result.ranks[q] - 1].video == p.groundTruth[q]) }
        }
    }

    @Test("the memory budget bounds every allocation: blocks shrink, what is allocated stays within it")
    func memoryBudget() throws {
        let p = RetrievalProblem(videos: 300, queries: 120, clips: 32, dim: 8, seed: 21)
        let expected = p.bruteForceRanks(p.scores())
        var previous = Int.max
        for budget in [1 << 24, 1 << 20, 200_000, 60_000, 20_000, 14_000, 6_000] {
            for k in [0, 3] where budget >= 20_000 || k == 0 {
                let result = try Self.evaluate(p, budget: budget, topK: k)
                let plan = result.plan
                #expect(plan.totalBytes <= budget && plan.memoryBudget == budget)
                #expect(result.allocatedBytes + plan.resultBytes <= budget, "budget \(budget): allocated \(result.allocatedBytes) + \(plan.resultBytes)")
                #expect(plan.clipScoreBytes == 4 * plan.queryBlock * plan.videoBlock * 32)
                #expect(plan.queryBlock * plan.videoBlock < p.queries * p.videos || budget >= 1 << 20)
                #expect(result.ranks == expected, "budget \(budget)")
                if k == 0 {
                    #expect(plan.queryBlock * plan.videoBlock <= previous)
                    previous = plan.queryBlock * plan.videoBlock
                }
            }
        }
        #expect(previous < 16, "the smallest budget forces tiny blocks")
        #expect(throws: EvaluationError.self) { try Self.evaluate(p, budget: 2_000) }
        do {
            _ = try Self.evaluate(p, budget: 2_000)
        } catch let error as EvaluationError {
            guard case .memoryBudgetTooSmall(let budget, let needed, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(budget == 2_000 && needed > 2_000)
        }
    }

    @Test("planned blocks never exceed the budget for any shape (exhaustive small sweep)")
    func planSweep() throws {
        for q in [1, 7, 300, 10_895] {
            for v in [0, 1, 5, 2_179, 50_000] {
                for budget in [4_096, 100_000, 1 << 20, 256 << 20] {
                    for k in [0, 10] {
                        guard let plan = try? ScoringPlan(queries: q, videos: v, clipsPerVideo: 32, dim: 384, topK: k, ranks: 3, memoryBudget: budget) else {
                            // The smallest plan: the per-query state, a 1×1 block, and the least exact-bf16 needs
                            // (a query's norms, the top-K lower bounds, one waiting row).
                            #expect(ScoringPlan.fixedBytes(queries: q, topK: k, ranks: 3) + 4 * 33 + 8 + 16 + 4 * q * k + (4 * 384 + 4 + 8) > budget)
                            continue
                        }
                        #expect(plan.totalBytes <= budget)
                        #expect(plan.queryBlock >= 1 && plan.queryBlock <= max(q, 1) && plan.videoBlock >= 1 && plan.videoBlock <= max(v, 1))
                    }
                }
            }
        }
        // 256 MiB at TVR size: the preferred blocks, never Q×V.
        let tvr = try ScoringPlan(queries: 10_895, videos: 2_179, clipsPerVideo: 32, dim: 384, memoryBudget: 256 << 20)
        #expect(tvr.queryBlock == ScoringPlan.defaultQueryBlock && tvr.videoBlock * 32 == ScoringPlan.defaultClipColumns)
    }

    @Test("without room to keep the ground-truth blocks, recomputing them gives the same ranks")
    func recomputedGroundTruthBlocks() throws {
        let p = RetrievalProblem(videos: 90, queries: 60, clips: 32, dim: 8, seed: 8)
        let expected = p.bruteForceRanks(p.scores())
        let roomy = try Self.evaluate(p, queryBlock: 16, videoBlock: 8)
        #expect(roomy.cachedBlocks == roomy.groundTruthBlocks && roomy.groundTruthBlocks > 0)
        #expect(roomy.executedFlops == roomy.usefulFlops, "kept blocks: no extra sgemm")
        let tight = try ScoringPlan(queries: 60, videos: 90, clipsPerVideo: 32, dim: 8, memoryBudget: 1 << 30,
                                    preferredQueryBlock: 16, preferredVideoBlock: 8).plannedBytes
        let result = try Self.evaluate(p, budget: tight, queryBlock: 16, videoBlock: 8)
        #expect(result.cachedBlocks == 0 && result.groundTruthBlocks == roomy.groundTruthBlocks)
        #expect(result.executedFlops > result.usefulFlops)
        #expect(result.ranks == expected && roomy.ranks == expected)
    }

    @Test("normalised random floats: ranks equal a Double-precision brute force away from near-ties")
    func randomFloats() throws {
        let p = RetrievalProblem(videos: 150, queries: 80, clips: 32, dim: 48, seed: 99, quantised: false, duplicateFraction: 0)
        let s = p.scores()
        let expected = p.bruteForceRanks(s)
        let result = try Self.evaluate(p, queryBlock: 32, videoBlock: 16)
        for q in 0..<p.queries {
            let gt = s[q][p.groundTruth[q]]
            let nearTie = (0..<p.videos).contains { $0 != p.groundTruth[q] && abs(s[q][$0] - gt) < 1e-5 }
            if !nearTie { #expect(result.ranks[q] == expected[q], "query \(q)") }
            #expect(abs(result.groundTruthScores[q] - gt) < 1e-5)
        }
    }

    @Test("a ground truth outside the database is an error naming the query")
    func missingGroundTruth() throws {
        let p = RetrievalProblem(videos: 5, queries: 3, clips: 32, dim: 8, seed: 1)
        let queries = try QuerySet(embeddings: Tensor(shape: [3, 8], values: p.queryValues), groundTruth: [0, 9, 1])
        #expect(throws: EvaluationError.groundTruthMissing(query: 1, video: 9)) {
            try ShardedEvaluator(world: LocalWorld()).evaluate(queries: queries, videos: p.shard(0..<5))
        }
        // A shard that does not hold the ground truth (another rank's video, none here).
        let held = try VideoShard(clips: p.shard(0..<5).clips, frames: p.shard(0..<5).frames, globalIndices: [1, 2, 3, 4, 5])
        let firstUnheld = p.groundTruth.firstIndex(of: 0)
        #expect(firstUnheld != nil)
        #expect(throws: EvaluationError.groundTruthMissing(query: firstUnheld ?? -1, video: 0)) {
            try ShardedEvaluator(world: LocalWorld()).evaluate(queries: p.querySet, videos: held)
        }
    }
}
