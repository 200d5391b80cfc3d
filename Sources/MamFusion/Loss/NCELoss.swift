import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// The NCE term of MODEL.md §4 (MS-SL's `clip_nce`, no temperature) on one Q×V score matrix:
///
///     t2v = mean_q [ logsumexp_v S[q,v] − S[q,y_q] ]
///     v2t = mean_v [ logsumexp_{all q} S[q,v] − logsumexp_{q: y_q = v} S[q,v] ]
///     NCE = t2v + v2t
///
/// Used on the *unnormalised* scores S_clip' and S_frame'. Every logsumexp subtracts its maximum,
/// so scores of any finite size give a finite loss and gradient.
///
/// Gradient (what `backward` adds, with upstream g):
///
///     dS[q,v] += g/Q · (softmax_v S[q,·] − [v = y_q])
///              + g/V · (softmax_q S[·,v] − [y_q = v] · softmax_{q ∈ v} S[·,v])
public enum NCELoss {
    /// Forward values and the statistics the backward pass reads.
    public struct Result: Sendable {
        /// NCE = t2v + v2t.
        public var value: Double
        /// The text-to-video half.
        public var textToVideo: Double
        /// The video-to-text half.
        public var videoToText: Double
        /// logsumexp_v S[q,v] per query (Q).
        public var rowLogSumExp: [Float]
        /// logsumexp over all queries of S[·,v] per video (V).
        public var columnLogSumExp: [Float]
        /// logsumexp over v's own queries of S[·,v] per video (V).
        public var positiveLogSumExp: [Float]
    }

    /// Computes NCE(S).
    /// - Parameters:
    ///   - scores: S, Q×V row-major (`labels.queryCount` × `labels.videoCount`), read only.
    public static func forward(scores: UnsafePointer<Float>, labels: BatchLabels) -> Result {
        let q = labels.queryCount, v = labels.videoCount
        var rowLSE = [Float](repeating: 0, count: q)
        var columnMax = [Float](repeating: -.infinity, count: v)
        var columnSum = [Float](repeating: 0, count: v)
        var positiveLSE = [Float](repeating: 0, count: v)
        var row = [Float](repeating: 0, count: v)
        var textToVideo = 0.0
        row.withUnsafeMutableBufferPointer { rowBuffer in
            let tmp = rowBuffer.baseAddress!
            columnMax.withUnsafeMutableBufferPointer { cmax in
                // Pass 1: row logsumexp and column maxima.
                for i in 0 ..< q {
                    let s = scores + i * v
                    var m = -Float.infinity
                    for j in 0 ..< v {
                        m = max(m, s[j])
                        cmax[j] = max(cmax[j], s[j])
                    }
                    for j in 0 ..< v { tmp[j] = s[j] - m }
                    mf_vexp(tmp, tmp, v)
                    let lse = m + logf(sum(tmp, v))
                    rowLSE[i] = lse
                    textToVideo += Double(lse) - Double(s[Int(labels.queryVideo[i])])
                }
                // Pass 2: column sums of exp(S − column max), row by row so it vectorises.
                columnSum.withUnsafeMutableBufferPointer { csum in
                    for i in 0 ..< q {
                        let s = scores + i * v
                        for j in 0 ..< v { tmp[j] = s[j] - cmax[j] }
                        mf_vexp(tmp, tmp, v)
                        for j in 0 ..< v { csum[j] += tmp[j] }
                    }
                }
            }
        }
        var columnLSE = [Float](repeating: 0, count: v)
        var videoToText = 0.0
        for j in 0 ..< v {
            columnLSE[j] = columnMax[j] + logf(columnSum[j])
            // The positives of a video are a handful of rows: a direct loop.
            let range = labels.videoQueryRanges[j]
            var m = -Float.infinity
            for i in range { m = max(m, scores[i * v + j]) }
            var s: Float = 0
            for i in range { s += expf(scores[i * v + j] - m) }
            positiveLSE[j] = m + logf(s)
            videoToText += Double(columnLSE[j]) - Double(positiveLSE[j])
        }
        textToVideo /= Double(q)
        videoToText /= Double(v)
        return Result(value: textToVideo + videoToText, textToVideo: textToVideo, videoToText: videoToText,
                      rowLogSumExp: rowLSE, columnLogSumExp: columnLSE, positiveLogSumExp: positiveLSE)
    }

    /// Adds `upstream` · ∂NCE/∂S to `dScores` (Q×V row-major, accumulated, not overwritten).
    /// `result` must come from `forward` on the same `scores`.
    public static func backward(scores: UnsafePointer<Float>, labels: BatchLabels, result: Result,
                                upstream: Float, dScores: UnsafeMutablePointer<Float>) {
        let q = labels.queryCount, v = labels.videoCount
        let perQuery = upstream / Float(q), perVideo = upstream / Float(v)
        var work = [Float](repeating: 0, count: 2 * v)
        work.withUnsafeMutableBufferPointer { w in
            let rowSoftmax = w.baseAddress!, columnSoftmax = w.baseAddress! + v
            result.columnLogSumExp.withUnsafeBufferPointer { clse in
                for i in 0 ..< q {
                    let s = scores + i * v, d = dScores + i * v
                    let lse = result.rowLogSumExp[i]
                    for j in 0 ..< v {
                        rowSoftmax[j] = s[j] - lse
                        columnSoftmax[j] = s[j] - clse[j]
                    }
                    mf_vexp(rowSoftmax, rowSoftmax, v)
                    mf_vexp(columnSoftmax, columnSoftmax, v)
                    for j in 0 ..< v { d[j] += perQuery * rowSoftmax[j] + perVideo * columnSoftmax[j] }
                    // Query i is a positive of its own video only: one column gets the corrections.
                    let y = Int(labels.queryVideo[i])
                    d[y] -= perQuery + perVideo * expf(s[y] - result.positiveLogSumExp[y])
                }
            }
        }
    }

    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var total: Float = 0
        for j in 0 ..< n { total += x[j] }
        return total
    }
}
