import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The query-diverse loss of MODEL.md §4 (GMMFormer's `query_diverse_loss`), on fused query
/// vectors that are **already L2-normalised** (x̂, Q×d row-major; the caller owns the
/// normalisation and chains its backward):
///
///     L_j = log(1 + Σ_{i ≠ j, y_i = y_j} exp(α (x̂_i·x̂_j + δ)))     QDL = (1/Q) Σ_j L_j
///
/// with α = neg_factor[1] (32) and δ = neg_factor[0]. Only pairs of the same video matter, so
/// the Gram matrix is computed per video block (n_v × n_v, one BLAS product each) instead of Q×Q;
/// a video with one query contributes 0. Each L_j is a log-sum-exp over {0} ∪ {α(G_ij + δ)},
/// shifted by its maximum, so α = 32 (exp up to e^38) and any input stay finite.
///
/// Gradient: with w_ji = exp(α(G_ij + δ) − L_j) (the softmax weight of pair i in L_j) and
/// P_ji = (g α / Q) w_ji, G is symmetric, so dx̂_b += (P + Pᵀ) x̂_b for each video block b.
public enum QueryDiverseLoss {
    /// Computes QDL(x̂).
    /// - Parameters:
    ///   - normalized: x̂, Q×`dimension` row-major, rows L2-normalised (not checked).
    ///   - labels: the videos of these rows (a rank's own videos hold all their queries, so a
    ///     rank computes its part of QDL alone).
    ///   - queryCount: the denominator Q of the mean — the global batch's (default: these rows').
    public static func forward(normalized: UnsafePointer<Float>, dimension: Int, labels: BatchLabels,
                               alpha: Float, delta: Float, queryCount: Int? = nil) -> Double {
        let largest = labels.largestVideo
        guard largest >= 2 else { return 0 }
        var total = 0.0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: largest * largest) { gram in
            for range in labels.videoQueryRanges where range.count >= 2 {
                let n = range.count
                blockGram(normalized + range.lowerBound * dimension, n: n, dimension: dimension, into: gram.baseAddress!)
                for j in 0 ..< n {
                    total += rowLoss(gram: gram.baseAddress!, n: n, row: j, alpha: alpha, delta: delta)
                }
            }
        }
        return total / Double(queryCount ?? labels.queryCount)
    }

    /// Adds `upstream` · ∂QDL/∂x̂ to `dNormalized` (Q×`dimension` row-major, accumulated).
    public static func backward(normalized: UnsafePointer<Float>, dimension: Int, labels: BatchLabels,
                                alpha: Float, delta: Float, upstream: Float, queryCount: Int? = nil,
                                dNormalized: UnsafeMutablePointer<Float>) {
        let largest = labels.largestVideo
        guard largest >= 2 else { return }
        let scale = Double(upstream) * Double(alpha) / Double(queryCount ?? labels.queryCount)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * largest * largest) { work in
            let gram = work.baseAddress!, coupling = work.baseAddress! + largest * largest
            for range in labels.videoQueryRanges where range.count >= 2 {
                let n = range.count
                let x = normalized + range.lowerBound * dimension
                blockGram(x, n: n, dimension: dimension, into: gram)
                // coupling[j·n + i] = P_ji = scale · w_ji (row j: the pairs of L_j).
                for j in 0 ..< n {
                    let l = rowLoss(gram: gram, n: n, row: j, alpha: alpha, delta: delta)
                    for i in 0 ..< n {
                        coupling[j * n + i] = i == j ? 0
                            : Float(scale * exp(Double(alpha) * (Double(gram[j * n + i]) + Double(delta)) - l))
                    }
                }
                // Symmetrise in place: C = P + Pᵀ.
                for j in 0 ..< n {
                    for i in j + 1 ..< n {
                        let s = coupling[j * n + i] + coupling[i * n + j]
                        coupling[j * n + i] = s
                        coupling[i * n + j] = s
                    }
                }
                MatrixEngine.gemm(m: n, n: dimension, k: n, a: coupling, lda: n, b: x, ldb: dimension,
                          beta: 1, c: dNormalized + range.lowerBound * dimension, ldc: dimension)
            }
        }
    }

    /// G = x̂_b x̂_bᵀ for one video block (n × n, row-major).
    @inline(__always)
    static func blockGram(_ x: UnsafePointer<Float>, n: Int, dimension: Int, into gram: UnsafeMutablePointer<Float>) {
        MatrixEngine.gemm(transB: true, m: n, n: n, k: dimension, a: x, lda: dimension, b: x, ldb: dimension,
                  c: gram, ldc: n)
    }

    /// L_j = log(1 + Σ_{i ≠ j} exp(α(G_ji + δ))) of one row of a block's Gram matrix, as a
    /// log-sum-exp over {0} ∪ {α(G_ji + δ)} (in Double: a block holds a handful of queries).
    @inline(__always)
    static func rowLoss(gram: UnsafePointer<Float>, n: Int, row j: Int, alpha: Float, delta: Float) -> Double {
        var m = 0.0
        for i in 0 ..< n where i != j {
            m = max(m, Double(alpha) * (Double(gram[j * n + i]) + Double(delta)))
        }
        var s = exp(-m)
        for i in 0 ..< n where i != j {
            s += exp(Double(alpha) * (Double(gram[j * n + i]) + Double(delta)) - m)
        }
        return m + log(s)
    }
}
