import MPIKit
import Testing
import TensorKit
import TestSupport
@testable import Evaluation

/// Exact-bf16 scoring (`ScoringMode.exactBF16`) in one process: the same ranks, ground-truth
/// scores and top-K lists as fp32 scoring, bit for bit, on both engines — on problems with
/// planted exact ties (duplicate videos and queries) and near-ties inside the bf16 bound
/// (copies of a ground-truth video perturbed in their last bits), at many block shapes, with
/// and without kept ground-truth blocks.
@Suite(.serialized)
struct ExactScoringTests {
    static func evaluate(_ p: RetrievalProblem, scoring: ScoringMode, engine: MatmulEngineKind, budget: Int = 1 << 30, topK: Int = 0,
                         queryBlock: Int? = nil, videoBlock: Int? = nil) throws -> EvaluationResult {
        var evaluator = ShardedEvaluator(world: LocalWorld(), memoryBudget: budget, topK: topK)
        evaluator.preferredQueryBlock = queryBlock
        evaluator.preferredVideoBlock = videoBlock
        evaluator.scoring = scoring
        return try withEngine(MatrixEngineSelection(engine: engine, precision: .fp32)) {
            try evaluator.evaluate(queries: p.querySet, videos: p.shard(0..<p.videos))
        }
    }

    /// Real-valued normalised embeddings with exact duplicates (ties) and, for every third query,
    /// a copy of its ground-truth video whose frame is scaled by 1 ± 2⁻¹⁶…2⁻¹¹: a score within
    /// far less than the bf16 bound of the ground truth's, on either side of it.
    static func nearTieProblem(videos: Int, queries: Int, clips: Int = 32, dim: Int = 48, seed: UInt64) -> RetrievalProblem {
        var p = RetrievalProblem(videos: videos, queries: queries, clips: clips, dim: dim, seed: seed, quantised: false, duplicateFraction: 0.2)
        var rng = SplitMix64(seed: seed ^ 0xABCD)
        for q in stride(from: 0, to: queries, by: 3) {
            let gt = p.groundTruth[q], copy = (gt + 1 + rng.below(videos - 1)) % videos
            guard copy != gt else { continue }
            for i in 0..<(clips * dim) { p.clipValues[copy * clips * dim + i] = p.clipValues[gt * clips * dim + i] }
            let scale = 1 + Float(rng.below(2) == 0 ? 1 : -1) * Float(sign: .plus, exponent: -11 - rng.below(6), significand: 1)
            for i in 0..<dim { p.frameValues[copy * dim + i] = p.frameValues[gt * dim + i] * scale }
        }
        return p
    }

    static var engines: [MatmulEngineKind] { BF16ScoreBoundTests.engines }

    static func expectIdentical(_ exact: EvaluationResult, _ fp32: EvaluationResult, _ context: String) {
        #expect(exact.ranks == fp32.ranks, "ranks: \(context)")
        #expect(exact.groundTruthScores.map(\.bitPattern) == fp32.groundTruthScores.map(\.bitPattern), "ground-truth scores: \(context)")
        #expect(exact.top?.videos == fp32.top?.videos, "top-K videos: \(context)")
        #expect(exact.top?.scores.map(\.bitPattern) == fp32.top?.scores.map(\.bitPattern), "top-K scores: \(context)")
        #expect(exact.plan.queryBlock == fp32.plan.queryBlock && exact.plan.videoBlock == fp32.plan.videoBlock, "same blocks: \(context)")
    }

    @Test("real-valued scores with planted ties and near-ties: identical ranks, score bits and top-K to fp32, both engines, many blocks",
          arguments: [(8, 4, 0, 150, 90), (16, 8, 5, 150, 90), (7, 5, 3, 150, 90), (64, 64, 0, 700, 300), (256, 64, 10, 1400, 600)])
    func identicalToFP32(queryBlock: Int, videoBlock: Int, topK: Int, videos: Int, queries: Int) throws {
        let p = Self.nearTieProblem(videos: videos, queries: queries, seed: UInt64(queryBlock * 100 + videoBlock))
        for engine in Self.engines {
            let fp32 = try Self.evaluate(p, scoring: .fp32, engine: engine, topK: topK, queryBlock: queryBlock, videoBlock: videoBlock)
            let exact = try Self.evaluate(p, scoring: .exactBF16, engine: engine, topK: topK, queryBlock: queryBlock, videoBlock: videoBlock)
            let context = "\(engine), blocks \(queryBlock)×\(videoBlock), top-\(topK)"
            Self.expectIdentical(exact, fp32, context)
            let r = exact.rescoring
            // The test means something: near-ties were found and re-scored, and most rows were decided in bf16.
            #expect(r.nearTieRows > 0 && r.nearTies > 0, "no near-tie re-scored: \(context) \(r)")
            #expect(r.rescoredRows < r.screenedRows && r.screenedRows > 0, "nothing decided in bf16: \(context) \(r)")
            #expect(fp32.rescoring == RescoringStatistics() && fp32.scoring == .fp32 && exact.scoring == .exactBF16)
            // Planted near-ties really decide ranks: plain bf16 scoring gets some of them wrong.
            if engine == Self.engines.first && queryBlock == 16 {
                let plain = try Self.evaluate(p, scoring: .bf16, engine: engine, topK: topK, queryBlock: queryBlock, videoBlock: videoBlock)
                #expect(plain.ranks != fp32.ranks, "plain bf16 ranks the near-ties like fp32: the problem is too easy")
            }
        }
    }

    @Test("quantised scores (every sum exact): ties everywhere, exact-bf16 equals the brute-force full sort with the tie rule")
    func tiesEverywhere() throws {
        let p = RetrievalProblem(videos: 61, queries: 47, clips: 32, dim: 8, seed: 31)
        let s = p.scores()
        for engine in Self.engines {
            for topK in [0, 4] {
                let exact = try Self.evaluate(p, scoring: .exactBF16, engine: engine, topK: topK, queryBlock: 9, videoBlock: 7)
                #expect(exact.ranks == p.bruteForceRanks(s), "\(engine) top-\(topK)")
                #expect(exact.groundTruthScores == (0..<p.queries).map { s[$0][p.groundTruth[$0]] })
                if topK > 0 {
                    let sorted = p.sortedLists(s)
                    for q in 0..<p.queries { #expect(exact.top!.entries(ofQuery: q).map(\.video) == Array(sorted[q].prefix(topK)), "query \(q)") }
                }
                #expect(exact.rescoring.nearTieRows > 0)
            }
        }
    }

    @Test("without room to keep ground-truth blocks (screened like the others) and at tight budgets: still identical to fp32")
    func budgets() throws {
        let p = Self.nearTieProblem(videos: 120, queries: 70, seed: 77)
        for engine in Self.engines {
            for topK in [0, 3] {
                let roomy = try ScoringPlan(queries: 70, videos: 120, clipsPerVideo: 32, dim: 48, topK: topK, memoryBudget: 1 << 30,
                                            preferredQueryBlock: 16, preferredVideoBlock: 8, scoring: .exactBF16)
                let fp32 = try Self.evaluate(p, scoring: .fp32, engine: engine, topK: topK, queryBlock: 16, videoBlock: 8)
                let exact = try Self.evaluate(p, scoring: .exactBF16, engine: engine, budget: roomy.plannedBytes, topK: topK, queryBlock: 16, videoBlock: 8)
                #expect(exact.cachedBlocks == 0 && exact.groundTruthBlocks > 0)
                #expect(exact.allocatedBytes + exact.plan.resultBytes <= roomy.plannedBytes)
                Self.expectIdentical(exact, fp32, "\(engine) top-\(topK), no kept blocks")
                for budget in [200_000, 60_000, 30_000] {
                    let small = try Self.evaluate(p, scoring: .fp32, engine: engine, budget: budget, topK: topK)
                    let screened = try Self.evaluate(p, scoring: .exactBF16, engine: engine, budget: budget, topK: topK)
                    Self.expectIdentical(screened, small, "\(engine) top-\(topK), budget \(budget)")
                    #expect(screened.allocatedBytes + screened.plan.resultBytes <= budget)
                }
            }
        }
    }

    @Test("the blocks do not depend on the mode; exact-bf16 plans wherever fp32 does, its extra bytes in what the blocks leave (fewer rows re-scored at a time when tight)")
    func plans() throws {
        var rows: [Int] = []
        for budget in [1 << 24, 1 << 20, 400_000, 200_000, 100_000] {
            let fp32 = try ScoringPlan(queries: 300, videos: 500, clipsPerVideo: 32, dim: 48, topK: 5, memoryBudget: budget)
            let exact = try ScoringPlan(queries: 300, videos: 500, clipsPerVideo: 32, dim: 48, topK: 5, memoryBudget: budget, scoring: .exactBF16)
            #expect(fp32.queryBlock == exact.queryBlock && fp32.videoBlock == exact.videoBlock)
            #expect(exact.totalBytes == fp32.totalBytes + exact.exactScreenBytes && exact.totalBytes <= budget)
            #expect(exact.rescoreRows >= 1 && exact.rescoreRows <= exact.queryBlock && fp32.rescoreRows == 0)
            rows.append(exact.rescoreRows)
        }
        #expect(rows.first == 256 && rows.last! < 64, "re-scored rows at a time: \(rows)")
        // Exact-bf16 plans wherever fp32 does, with the same blocks.
        for budget in stride(from: 2_000, through: 80_000, by: 1_500) {
            for k in [0, 4] {
                let fp32 = try? ScoringPlan(queries: 300, videos: 500, clipsPerVideo: 32, dim: 48, topK: k, memoryBudget: budget)
                let exact = try? ScoringPlan(queries: 300, videos: 500, clipsPerVideo: 32, dim: 48, topK: k, memoryBudget: budget, scoring: .exactBF16)
                #expect((fp32 == nil) == (exact == nil), "budget \(budget), top-\(k)")
                #expect(fp32?.queryBlock == exact?.queryBlock && fp32?.videoBlock == exact?.videoBlock && (exact?.totalBytes ?? 0) <= budget)
            }
        }
    }

    @Test("a NaN or ±Inf is refused by exact-bf16 exactly as by fp32 (same rows, same first query)",
          arguments: ["query", "video", "groundTruth", "inf"])
    func nonFinite(place: String) throws {
        var p = RetrievalProblem(videos: 12, queries: 9, clips: 4, dim: 8, seed: 21)
        switch place {
        case "query": p.queryValues[3 * 8 + 2] = .nan
        case "video": p.frameValues[7 * 8] = .nan
        case "groundTruth": p.clipValues[p.groundTruth[5] * 4 * 8 + 1] = .nan
        default: p.queryValues[6 * 8] = .infinity
        }
        for engine in Self.engines {
            var errors: [EvaluationError] = []
            for scoring in [ScoringMode.fp32, .exactBF16] {
                do {
                    _ = try Self.evaluate(p, scoring: scoring, engine: engine, queryBlock: 4, videoBlock: 3)
                    Issue.record("\(scoring) ranked non-finite scores")
                } catch let error as EvaluationError {
                    errors.append(error)
                }
            }
            #expect(errors.count == 2 && errors[0] == errors[1], "\(engine) \(place): \(errors)")
        }
    }

    @Test("a single video and a single query")
    func edges() throws {
        for engine in Self.engines {
            for (v, q) in [(1, 1), (1, 5), (30, 1)] {
                let p = Self.nearTieProblem(videos: max(v, 2), queries: q, seed: UInt64(v * 10 + q))
                let fp32 = try Self.evaluate(p, scoring: .fp32, engine: engine, topK: 3, videoBlock: 4)
                let exact = try Self.evaluate(p, scoring: .exactBF16, engine: engine, topK: 3, videoBlock: 4)
                Self.expectIdentical(exact, fp32, "\(engine) V=\(v) Q=\(q)")
            }
        }
    }

    @Test("eval_scoring auto: exact-bf16 only for oneDNN on a CPU with AMX; fp32 without AMX (AVX512-BF16 alone) or on OpenBLAS")
    func automaticMode() {
        let amx = EngineRate.CPUFeatures(avx512: true, avx512BF16: true, amx: true)
        let avx512BF16Only = EngineRate.CPUFeatures(avx512: true, avx512BF16: true, amx: false)
        #expect(ScoringMode.automatic(engine: .onednn, features: amx) == .exactBF16)
        #expect(ScoringMode.automatic(engine: .onednn, features: avx512BF16Only) == .fp32)
        #expect(ScoringMode.automatic(engine: .onednn, features: .init()) == .fp32)
        #expect(ScoringMode.automatic(engine: .openblas, features: amx) == .fp32)
    }
}
