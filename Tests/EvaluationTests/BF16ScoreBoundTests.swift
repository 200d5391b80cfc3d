import CKernels
import TensorKit
import Testing
import TestSupport
@testable import Evaluation

/// The error bound of bf16 scores (`BF16ScoreBound`) against the fp32 scores the evaluator
/// computes for the same blocks, on both engines: never exceeded on more than 10⁶ random scores,
/// nor on inputs built to make it tight (coherent rounding errors), large, tiny (underflow) or
/// cancelling; refused where an fp32 sum could overflow or an input is not finite.
@Suite(.serialized)
struct BF16ScoreBoundTests {
    /// Every block's bf16 scores, fp32 scores and bound (one per row of a block), with the
    /// evaluator's own block scorer.
    struct ScoredProblem {
        var bf16: [Float] = [], fp32: [Float] = [], bounds: [Float?] = []
        /// Largest |S̃ − S₃₂| ÷ β over the scores with a bound, and how many had one.
        var worstRatio = 0.0
        var bounded = 0
        var refused = 0
    }

    static func score(queries: [Float], clips: [Float], frames: [Float], q: Int, v: Int, mc: Int, d: Int, engine: MatmulEngineKind,
                      weights: RankingWeights = .reference, queryBlock: Int = 64, videoBlock: Int = 32) throws -> ScoredProblem {
        let plan = try ScoringPlan(queries: q, videos: v, clipsPerVideo: mc, dim: d, memoryBudget: 1 << 30,
                                   preferredQueryBlock: queryBlock, preferredVideoBlock: videoBlock)
        let workspace = Workspace()
        var out = ScoredProblem()
        out.bf16 = [Float](repeating: 0, count: q * v)
        out.fp32 = out.bf16
        out.bounds = [Float?](repeating: nil, count: q * v)
        queries.withUnsafeBufferPointer { qp in
            clips.withUnsafeBufferPointer { cp in
                frames.withUnsafeBufferPointer { fp in
                    var scorer = BlockScorer(plan: plan, weights: weights, queries: qp.baseAddress!, clips: cp.baseAddress!,
                                             frames: fp.baseAddress!, workspace: workspace)
                    for i in 0..<plan.queryBlockCount {
                        for j in 0..<plan.videoBlockCount {
                            let qs = plan.queryRange(i), vs = plan.videoRange(j)
                            for precision in Precision.allCases {
                                withEngine(MatrixEngineSelection(engine: engine, precision: precision)) { scorer.score(queryBlock: i, videoBlock: j) }
                                for (r, query) in qs.enumerated() {
                                    for (c, video) in vs.enumerated() {
                                        let s = scorer.blockScores[r * vs.count + c]
                                        if precision == .bf16 { out.bf16[query * v + video] = s } else { out.fp32[query * v + video] = s }
                                    }
                                }
                            }
                            let clipNorms = RoundingNorms(cp.baseAddress! + vs.lowerBound * mc * d, rows: vs.count * mc, columns: d, ld: d)
                            let frameNorms = RoundingNorms(fp.baseAddress! + vs.lowerBound * d, rows: vs.count, columns: d, ld: d)
                            for query in qs {
                                let bound = BF16ScoreBound.score(query: RoundingNorms(qp.baseAddress! + query * d, rows: 1, columns: d, ld: d),
                                                                 clips: clipNorms, frames: frameNorms, weights: weights, dim: d)
                                for video in vs { out.bounds[query * v + video] = bound }
                            }
                        }
                    }
                }
            }
        }
        for e in 0..<(q * v) {
            guard let bound = out.bounds[e] else { out.refused += 1; continue }
            out.bounded += 1
            let error = abs(Double(out.bf16[e]) - Double(out.fp32[e]))
            out.worstRatio = max(out.worstRatio, bound > 0 ? error / Double(bound) : (error > 0 ? .infinity : 0))
        }
        return out
    }

    static var engines: [MatmulEngineKind] { Array(Set(engineSelections.map(\.engine))).sorted { $0.rawValue < $1.rawValue } }

    /// Rows of `dim` values of one of several shapes (`kind`), each row possibly scaled.
    static func rows(_ count: Int, dim: Int, kind: Int, rng: inout SplitMix64) -> [Float] {
        var x = [Float](repeating: 0, count: count * dim)
        for r in 0..<count {
            for i in 0..<dim {
                switch kind % 4 {
                case 0: x[r * dim + i] = rng.signed()                                            // uniform
                case 1: x[r * dim + i] = rng.signed() + rng.signed() + rng.signed()               // bell-shaped
                case 2: x[r * dim + i] = rng.below(8) == 0 ? rng.signed() : 0                    // sparse
                default: x[r * dim + i] = rng.signed() * Float(1 << rng.below(12)) / 64          // wide exponents
                }
            }
        }
        // Most rows L2-normalised, as embeddings are; some left with norms from 2⁻²⁰ to 2²⁰.
        if kind % 3 != 2 { RetrievalProblem.normalise(&x, dim) } else {
            for r in 0..<count {
                let scale = Float(sign: .plus, exponent: rng.below(41) - 20, significand: 1)
                for i in 0..<dim { x[r * dim + i] *= scale }
            }
        }
        return x
    }

    @Test("the bound holds on 2²⁰ random scores per engine (normalised and scaled rows, several distributions); largest error ÷ bound reported")
    func randomScores() throws {
        let q = 256, v = 4096, mc = 8, d = 384
        var rng = SplitMix64(seed: 22)
        var queries: [Float] = [], clips: [Float] = [], frames: [Float] = []
        for block in 0..<(q / 32) { queries += Self.rows(32, dim: d, kind: block, rng: &rng) }
        for block in 0..<(v / 32) {
            clips += Self.rows(32 * mc, dim: d, kind: block + 1, rng: &rng)
            frames += Self.rows(32, dim: d, kind: block + 2, rng: &rng)
        }
        // Queries close to some clips, so that scores near 1 are checked too.
        for query in stride(from: 0, to: q, by: 3) {
            let clip = (query * 37) % (v * mc)
            for i in 0..<d { queries[query * d + i] = clips[clip * d + i] + 0.05 * rng.signed() }
        }
        var previous: ScoredProblem? = nil
        for engine in Self.engines {
            let scored = try Self.score(queries: queries, clips: clips, frames: frames, q: q, v: v, mc: mc, d: d, engine: engine)
            let differing = previous.map { p in zip(p.bf16, scored.bf16).filter { $0.bitPattern != $1.bitPattern }.count } ?? 0
            print("bf16 score bound, \(engine): \(scored.bounded) scores, largest |S̃ − S₃₂| ÷ β = \(scored.worstRatio)"
                  + (previous == nil ? "" : "; \(differing) bf16 scores differ from the previous engine's (summation order)"))
            previous = scored
            #expect(scored.bounded == q * v && scored.refused == 0)
            #expect(scored.worstRatio <= 1, "\(engine): error exceeds the bound (\(scored.worstRatio) × β)")
            #expect(scored.worstRatio > 0.01, "\(engine): the check compares something (\(scored.worstRatio))")
        }
    }

    /// x with the largest rounding error bf16 can make, below: 1 + 2⁻⁸ − 2⁻²³ rounds down to 1.
    static let worstRounding: Float = 1 + 0x1p-8 - 0x1p-23

    @Test("adversarial: coherent rounding errors make the bound tight (above 0.9 of it, never above), at any scale where fp32 cannot overflow")
    func coherentRounding() throws {
        let q = 16, v = 16, mc = 4, d = 384
        for exponent in [0, 40, -40, -60] {
            let x = Float(sign: .plus, exponent: exponent, significand: Self.worstRounding)
            let queries = [Float](repeating: x, count: q * d)
            // Clips and frames equal to the query: every product's error has the same sign.
            let clips = [Float](repeating: x, count: v * mc * d), frames = [Float](repeating: x, count: v * d)
            for engine in Self.engines {
                let scored = try Self.score(queries: queries, clips: clips, frames: frames, q: q, v: v, mc: mc, d: d, engine: engine,
                                            queryBlock: 16, videoBlock: 16)
                #expect(scored.refused == 0)
                #expect(scored.worstRatio <= 1, "\(engine) 2^\(exponent): \(scored.worstRatio) × β")
                if exponent > -60 { #expect(scored.worstRatio > 0.9, "\(engine) 2^\(exponent): the bound is loose here (\(scored.worstRatio))") }
            }
        }
    }

    @Test("adversarial: underflow (subnormal operands and products), cancellation, and values exactly halfway between bf16 neighbours")
    func underflowCancellationTies() throws {
        let q = 16, v = 32, mc = 4, d = 64
        var rng = SplitMix64(seed: 5)
        var cases: [(String, [Float], [Float], [Float])] = []
        // Products of ~2⁻⁷⁰ values underflow fp32; operands near 2⁻¹³⁰ are subnormal.
        for exponent in [-70, -130] {
            let tiny = { (n: Int) in (0..<n).map { _ in Float(sign: .plus, exponent: exponent, significand: 1) * rng.signed() } }
            cases.append(("2^\(exponent)", tiny(q * d), tiny(v * mc * d), tiny(v * d)))
        }
        // Alternating signs: s ≈ 0 while Σ|aᵢbᵢ| is large.
        let alternating = (0..<(q * d)).map { i in (i % 2 == 0 ? 1 : -1) * Self.worstRounding }
        let shifted = (0..<(v * mc * d)).map { i in (i % 2 == 0 ? 1 : -1) * Self.worstRounding * (1 + Float(i % 3) * 0x1p-12) }
        cases.append(("cancelling", alternating, shifted, Array(shifted.prefix(v * d))))
        // Ties: 1 + 2⁻⁸ lies halfway between bf16's 1 and 1 + 2⁻⁷ (rounds to even: 1).
        let halfway = (0..<(q * d)).map { i in Float(1 + 0x1p-8) * (i % 5 == 0 ? -1 : 1) }
        cases.append(("halfway", halfway, (0..<(v * mc * d)).map { _ in Float(1 + 0x1p-8) }, (0..<(v * d)).map { _ in Float(-1 - 0x1p-8) }))
        for (name, queries, clips, frames) in cases {
            for engine in Self.engines {
                let scored = try Self.score(queries: queries, clips: clips, frames: frames, q: q, v: v, mc: mc, d: d, engine: engine,
                                            queryBlock: 16, videoBlock: 16)
                #expect(scored.refused == 0 && scored.worstRatio <= 1, "\(name), \(engine): \(scored.worstRatio) × β, \(scored.refused) refused")
            }
        }
    }

    @Test("no bound (re-score in fp32) when an input is not finite or norms are large enough for an fp32 sum to overflow")
    func refusals() {
        let unit = RoundingNorms(norm: 1, error: 0x1p-9)
        #expect(BF16ScoreBound.score(query: unit, clips: unit, frames: unit, weights: .reference, dim: 384) != nil)
        for bad in [RoundingNorms(norm: .nan, error: 0), RoundingNorms(norm: .infinity, error: 0), RoundingNorms(norm: 1, error: .nan),
                    RoundingNorms(norm: 0x1p101, error: 0x1p92)] {
            #expect(BF16ScoreBound.score(query: unit, clips: bad, frames: unit, weights: .reference, dim: 384) == nil, "\(bad)")
            #expect(BF16ScoreBound.score(query: bad, clips: unit, frames: unit, weights: .reference, dim: 384) == nil, "\(bad)")
        }
        // For unit vectors the bound is a few thousandths: (2u + u²) with u = 2⁻⁸ at most, plus fp32's γ terms.
        let worst = RoundingNorms(norm: 1, error: BF16ScoreBound.bf16UnitRoundoff)
        let bound = BF16ScoreBound.score(query: worst, clips: worst, frames: worst, weights: .reference, dim: 384)!
        #expect(bound > Float(2 * BF16ScoreBound.bf16UnitRoundoff) && bound < Float(2.1 * BF16ScoreBound.bf16UnitRoundoff))
    }

    @Test("measured rounding norms: ‖bf16(x) − x‖ ≤ u·‖x‖ for normal values (u = 2⁻⁸), subnormals counted as flushed, NaN rows win")
    func roundingNorms() {
        var rng = SplitMix64(seed: 9)
        let x = (0..<(50 * 384)).map { _ in rng.signed() }
        x.withUnsafeBufferPointer { p in
            for r in 0..<50 {
                let n = RoundingNorms(p.baseAddress! + r * 384, rows: 1, columns: 384, ld: 384)
                var exact = 0.0, error = 0.0
                for i in 0..<384 {
                    let value = p[r * 384 + i]
                    let rounded = Float(bitPattern: UInt32(mf_bf16_from_float(value)) << 16)
                    exact += Double(value) * Double(value)
                    error += Double(rounded - value) * Double(rounded - value)
                }
                // Partial sums in double, in another order: equal up to a few units of 2⁻⁵².
                #expect(abs(n.norm / exact.squareRoot() - 1) < 1e-14 && abs(n.error / error.squareRoot() - 1) < 1e-14)
                #expect(n.error <= BF16ScoreBound.bf16UnitRoundoff * n.norm && n.error > 0.2 * BF16ScoreBound.bf16UnitRoundoff * n.norm)
            }
            let all = RoundingNorms(p.baseAddress!, rows: 50, columns: 384, ld: 384)
            let largest = (0..<50).map { RoundingNorms(p.baseAddress! + $0 * 384, rows: 1, columns: 384, ld: 384) }
            #expect(all.norm == largest.map(\.norm).max()! && all.error == largest.map(\.error).max()!)
        }
        let subnormal: [Float] = [0x1p-130, -0x1p-140, 0]
        let s = RoundingNorms(subnormal, rows: 1, columns: 3, ld: 3)
        #expect(s.error >= Double(0x1p-130 as Float) + Double(0x1p-140 as Float))
        let withNaN: [Float] = [1, 2, .nan, 4, 3, 1]
        #expect(RoundingNorms(withNaN, rows: 3, columns: 2, ld: 2).norm.isNaN)
    }
}
