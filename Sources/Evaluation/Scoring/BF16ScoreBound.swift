import CKernels

/// The Euclidean norms of a set of operand rows that a bf16 score bound needs: the largest ‖x‖
/// and the largest ‖bf16(x) − x‖ over the rows (`mf_bf16_rounding_norms`, the engine's own
/// rounding: nearest, ties to even). Rounding errors are measured, not assumed: for normal values
/// ‖bf16(x) − x‖ ≤ u·‖x‖, and it is about 0.4·u·‖x‖ for embeddings, which makes the bound about
/// twice as tight as the worst case.
struct RoundingNorms: Sendable, Equatable {
    var norm: Double
    var error: Double

    /// The largest norms over `rows` rows of `columns` floats at `x` (row stride `ld`).
    init(_ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int) {
        var squares = 0.0, errorSquares = 0.0
        if rows > 0 && columns > 0 { mf_bf16_rounding_norms(x, ld, rows, columns, &squares, &errorSquares) }
        // Square roots of sums in double: relative errors of order 2⁻⁵², absorbed by the margin of
        // `BF16ScoreBound.score`.
        norm = squares.squareRoot()
        error = errorSquares.squareRoot()
    }

    init(norm: Double, error: Double) {
        self.norm = norm
        self.error = error
    }
}

/// A rigorous bound on how far a ranking score computed from bf16 products can be from the score
/// the fp32 evaluation computes for the same (query, video) — the screen of exact-bf16 scoring
/// (`ScoringMode.exactBF16`): a video is decided from its bf16 score only when it lies farther
/// than this bound from the ground truth's fp32 score.
///
/// ## Derivation
/// Notation: a the query row q̂ and b a clip row ĉ or the frame row f̂ as stored (fp32), d their
/// length. u = 2⁻⁸ is the unit roundoff of bfloat16 (8 significant bits, 7 stored and the implicit
/// one; round to nearest: |bf16(x) − x| ≤ 2⁻⁸·|x| for normal x). v = 2⁻²⁴ is fp32's, and
/// γₙ = n·v / (1 − n·v) (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1).
///
/// 1. **Operand rounding.** The bf16 product reads ã = bf16(a) = a + δa and b̃ = b + δb. Then
///    ã·b̃ − a·b = δa·b + a·δb + δa·δb, so by Cauchy–Schwarz
///    |ã·b̃ − a·b| ≤ ‖δa‖‖b‖ + ‖a‖‖δb‖ + ‖δa‖‖δb‖  (≤ (2u + u²)·‖a‖‖b‖ since ‖δx‖ ≤ u‖x‖;
///    the Σ|aᵢbᵢ| form is between the two). ‖δa‖, ‖δb‖ are measured (`RoundingNorms`).
/// 2. **fp32 accumulation of the bf16 product.** Each ãᵢb̃ᵢ is exact in fp32 (8 + 8 significant
///    bits ≤ 24). Summing d terms in any order — any tree of rounded additions, which covers
///    blocked sums, split accumulators, fused multiply-adds and VDPBF16PS/AMX pair steps — errs by
///    at most γ_{d−1}·Σ|ãᵢb̃ᵢ| ≤ γ_{d−1}·‖ã‖‖b̃‖ with ‖ã‖ ≤ ‖a‖ + ‖δa‖. We use γ_{2d}: a margin
///    for kernels that round a pair sum more than once.
/// 3. **The fp32 value the bf16 score is compared with.** The fp32 evaluation's s₃₂ = fl(Σ aᵢbᵢ)
///    is itself rounded: |s₃₂ − a·b| ≤ γ_d·Σ|aᵢbᵢ| ≤ γ_d·‖a‖‖b‖ (d roundings at most per term,
///    with or without fused multiply-adds).
/// 4. **Underflow.** bf16 kernels may flush subnormal operands, products and sums (DAZ/FTZ):
///    operands are covered in step 1 (a subnormal's δ is taken as |x| + 2⁻¹³⁴), each product or
///    sum that underflows moves the result by less than 2⁻¹²⁶·(1 + ‖a‖ + ‖b‖) — 4d of them at
///    most over both products.
///    So for one dot product: |s̃ − s₃₂| ≤ β_dot = (1) + (2) + (3) + (4).
/// 5. **Clip maximum.** |max_c x_c − max_c y_c| ≤ max_c |x_c − y_c|, and β_dot grows with every
///    norm, so β_clip = β_dot with the largest clip norms of the video block carries the max.
/// 6. **Weighted sum.** Both evaluations form S = fl(fl(w_c·C) + fl(w_f·F)) in Float (never fused,
///    `RankingWeights.combine`), within γ₂·(|w_c·C| + |w_f·F|) of the exact w_c·C + w_f·F, and
///    |C|, |F| are at most (1 + γ_{2d})‖ã‖‖b̃‖ (+ β for the fp32 side). Hence
///    |S̃ − S₃₂| ≤ |w_c|·β_clip + |w_f|·β_frame + 2γ₂·(M + |w_c|·β_clip + |w_f|·β_frame),
///    M = |w_c|·(1 + γ_{2d})‖ã‖‖c̃‖ + |w_f|·(1 + γ_{2d})‖ã‖‖f̃‖.
/// 7. **Evaluating the bound.** It is computed in double from norms of relative error ~2⁻⁵², then
///    enlarged by 2⁻³⁰ relative and rounded up to a Float. The comparisons that use it round
///    outwards (`ExactScreen`), so no rounding of the decision itself can flip it.
///
/// Magnitudes: for unit vectors with d = 384, β ≈ 0.8·u ≈ 0.003 (measured rounding norms) against
/// 2u ≈ 0.008 (worst case); the fp32 terms add about 2·γ_d ≈ 5·10⁻⁵.
///
/// A bound is refused (nil: the caller re-scores in fp32) when an input is not finite or a norm
/// product is so large that an fp32 sum might overflow: then the fp32 evaluation might see a
/// non-finite score that the bf16 one does not, and only the fp32 scores may decide.
enum BF16ScoreBound {
    /// bfloat16's unit roundoff (round to nearest, 8 significant bits).
    static let bf16UnitRoundoff = 0x1p-8
    /// fp32's unit roundoff.
    static let fp32UnitRoundoff = 0x1p-24

    /// γₙ = n·v / (1 − n·v), v = 2⁻²⁴.
    static func gamma(_ n: Int) -> Double {
        let nv = Double(n) * fp32UnitRoundoff
        return nv / (1 - nv)
    }

    /// Steps 1–4: the bound on |s̃ − s₃₂| of one dot product of length `dim` between rows with norms
    /// `a` and `b`, and a bound on |s̃| and |s₃₂| (the magnitude the weighted sum rounds).
    static func dotProduct(_ a: RoundingNorms, _ b: RoundingNorms, dim: Int) -> (error: Double, magnitude: Double) {
        let rounding = a.error * b.norm + a.norm * b.error + a.error * b.error
        let roundedA = a.norm + a.error, roundedB = b.norm + b.error
        let summation = gamma(2 * dim) * roundedA * roundedB + gamma(dim) * a.norm * b.norm
        let underflow = Double(4 * dim) * 0x1p-126 * (1 + roundedA + roundedB)
        return (rounding + summation + underflow, (1 + gamma(2 * dim)) * roundedA * roundedB)
    }

    /// Largest norm products the bound accepts: far below Float's 2¹²⁸, so no fp32 partial sum,
    /// weighted score or threshold ± bound can overflow.
    static let largestMagnitude = 0x1p100

    /// Steps 5–7: the bound on |S̃ − S₃₂| for every video of a block whose largest clip and frame
    /// norms are `clips` and `frames`, against a query with norms `query`; rounded up to a Float.
    /// nil when the bound cannot be trusted (non-finite inputs, overflow possible).
    static func score(query: RoundingNorms, clips: RoundingNorms, frames: RoundingNorms, weights: RankingWeights,
                      dim: Int) -> Float? {
        let clip = dotProduct(query, clips, dim: dim), frame = dotProduct(query, frames, dim: dim)
        let wc = abs(Double(weights.clip)), wf = abs(Double(weights.frame))
        let products = wc * clip.error + wf * frame.error
        let magnitude = wc * clip.magnitude + wf * frame.magnitude
        // Two weighted sums (bf16 and fp32 sides), each within γ₂ of its exact value; the 2⁻¹⁴⁹
        // terms: w·x may underflow in each of the four products.
        let combining = 2 * gamma(2) * (magnitude + products) + 4 * 0x1p-149
        let bound = (products + combining) * (1 + 0x1p-30)
        guard bound.isFinite, magnitude.isFinite, magnitude + bound < largestMagnitude,
              clip.magnitude < largestMagnitude, frame.magnitude < largestMagnitude else { return nil }
        let rounded = Float(bound)
        return Double(rounded) >= bound ? rounded : rounded.nextUp
    }
}
