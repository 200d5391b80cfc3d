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
///
/// **Blocks of columns.** In training each rank holds the columns of its own videos for all Q
/// rows (DISTRIBUTED.md §3). A column's terms (v2t) are then local (`columnTerms`); a row's
/// logsumexp (t2v) is rebuilt from per-block partials: the row maxima of every block
/// (`accumulateRowMaxima`, combined by MAX) and the sums of exp(S − that maximum)
/// (`accumulateRowExpSums`, combined by SUM). `backwardBlock` then needs only the rebuilt row
/// logsumexps. (The one-block, whole-matrix case is the tests' oracle, in TestSupport.)
public enum NCELoss {
    // MARK: - Blocks

    /// m[q] = max(m[q], max_j S[q,j]) over a Q×Vb block (row-major, Vb columns).
    public static func accumulateRowMaxima(scores: UnsafePointer<Float>, rows: Int, columns: Int, into m: UnsafeMutablePointer<Float>) {
        for i in 0 ..< rows {
            let s = scores + i * columns
            var best = m[i]
            for j in 0 ..< columns { best = max(best, s[j]) }
            m[i] = best
        }
    }

    /// s[q] += Σ_j exp(S[q,j] − shift[q]) over a Q×Vb block; `work` holds Vb floats.
    public static func accumulateRowExpSums(scores: UnsafePointer<Float>, rows: Int, columns: Int, shift: UnsafePointer<Float>,
                                            into s: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>) {
        guard columns > 0 else { return }
        for i in 0 ..< rows {
            mf_vexp_shifted(scores + i * columns, shift[i], work, columns)
            s[i] += sum(work, columns)
        }
    }

    /// The v2t terms of a Q×Vb block whose column j is video `videos[j]` with its queries at
    /// rows `labels.videoQueryRanges[videos[j]]`: writes each column's logsumexp over all rows and
    /// over its positives, and returns Σ_j (column − positive) logsumexp (not yet divided by V).
    /// `work` holds 2·Vb floats.
    public static func columnTerms(scores: UnsafePointer<Float>, rows: Int, columns: Int, videos: UnsafePointer<Int32>,
                                   labels: BatchLabels, columnLogSumExp: UnsafeMutablePointer<Float>,
                                   positiveLogSumExp: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>) -> Double {
        guard columns > 0 else { return 0 }
        let columnMax = work, tmp = work + columns
        columnMax.update(repeating: -.infinity, count: columns)
        for i in 0 ..< rows {
            let s = scores + i * columns
            for j in 0 ..< columns { columnMax[j] = max(columnMax[j], s[j]) }
        }
        // Column sums of exp(S − column max), row by row so that it vectorises.
        columnLogSumExp.update(repeating: 0, count: columns)
        for i in 0 ..< rows {
            let s = scores + i * columns
            for j in 0 ..< columns { tmp[j] = s[j] - columnMax[j] }
            mf_vexp(tmp, tmp, columns)
            for j in 0 ..< columns { columnLogSumExp[j] += tmp[j] }
        }
        var total = 0.0
        for j in 0 ..< columns {
            columnLogSumExp[j] = columnMax[j] + logf(columnLogSumExp[j])
            // The positives of a video are a handful of rows: a direct loop.
            let range = labels.videoQueryRanges[Int(videos[j])]
            var m = -Float.infinity
            for i in range { m = max(m, scores[i * columns + j]) }
            var e: Float = 0
            for i in range { e += expf(scores[i * columns + j] - m) }
            positiveLogSumExp[j] = m + logf(e)
            total += Double(columnLogSumExp[j]) - Double(positiveLogSumExp[j])
        }
        return total
    }

    /// Adds `upstream` · ∂NCE/∂S to a Q×Vb block of `dScores` (accumulated): the t2v part with
    /// the rows' global logsumexps, the v2t part with the block's column statistics.
    /// `positiveColumn[q]` is the block column of q's video, −1 when it is not in the block;
    /// `queryCount`/`videoCount` are the global Q and V (the means' denominators). `work` holds
    /// 2·Vb floats.
    public static func backwardBlock(scores: UnsafePointer<Float>, rows: Int, columns: Int,
                                     rowLogSumExp: UnsafePointer<Float>, columnLogSumExp: UnsafePointer<Float>,
                                     positiveLogSumExp: UnsafePointer<Float>, positiveColumn: UnsafePointer<Int32>,
                                     queryCount: Int, videoCount: Int, upstream: Float,
                                     dScores: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>) {
        guard columns > 0 else { return }
        let perQuery = upstream / Float(queryCount), perVideo = upstream / Float(videoCount)
        let rowSoftmax = work, columnSoftmax = work + columns
        for i in 0 ..< rows {
            let s = scores + i * columns, d = dScores + i * columns
            let lse = rowLogSumExp[i]
            for j in 0 ..< columns {
                rowSoftmax[j] = s[j] - lse
                columnSoftmax[j] = s[j] - columnLogSumExp[j]
            }
            mf_vexp(rowSoftmax, rowSoftmax, columns)
            mf_vexp(columnSoftmax, columnSoftmax, columns)
            for j in 0 ..< columns { d[j] += perQuery * rowSoftmax[j] + perVideo * columnSoftmax[j] }
            // Query i is a positive of its own video only: one column gets the corrections.
            let y = Int(positiveColumn[i])
            if y >= 0 { d[y] -= perQuery + perVideo * expf(s[y] - positiveLogSumExp[y]) }
        }
    }

    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var total: Float = 0
        for j in 0 ..< n { total += x[j] }
        return total
    }
}
