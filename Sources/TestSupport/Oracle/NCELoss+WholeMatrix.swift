import CKernels
import MamFusion
#if canImport(Glibc)
import Glibc
#endif

/// **Test oracle**: NCE (MODEL.md §4) of a whole Q×V matrix in one process — the one-block case of
/// `NCELoss`'s block functions, which the sharded heads use.
extension NCELoss {
    /// Forward values and the statistics the backward pass reads (whole matrix).
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

    /// Computes NCE(S) of a whole Q×V matrix (`labels.queryCount` × `labels.videoCount`).
    public static func forward(scores: UnsafePointer<Float>, labels: BatchLabels) -> Result {
        let q = labels.queryCount, v = labels.videoCount
        var rowLSE = [Float](repeating: -.infinity, count: q)
        var rowSum = [Float](repeating: 0, count: q)
        var columnLSE = [Float](repeating: 0, count: v), positiveLSE = [Float](repeating: 0, count: v)
        var work = [Float](repeating: 0, count: 2 * v)
        let videos = (0 ..< v).map(Int32.init)
        var textToVideo = 0.0, videoToText = 0.0
        rowLSE.withUnsafeMutableBufferPointer { m in
            rowSum.withUnsafeMutableBufferPointer { s in
                work.withUnsafeMutableBufferPointer { w in
                    accumulateRowMaxima(scores: scores, rows: q, columns: v, into: m.baseAddress!)
                    accumulateRowExpSums(scores: scores, rows: q, columns: v, shift: m.baseAddress!, into: s.baseAddress!, work: w.baseAddress!)
                    for i in 0 ..< q {
                        m[i] += logf(s[i])
                        textToVideo += Double(m[i]) - Double(scores[i * v + Int(labels.queryVideo[i])])
                    }
                    videoToText = columnTerms(scores: scores, rows: q, columns: v, videos: videos, labels: labels,
                                              columnLogSumExp: &columnLSE, positiveLogSumExp: &positiveLSE, work: w.baseAddress!)
                }
            }
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
        var work = [Float](repeating: 0, count: 2 * v)
        backwardBlock(scores: scores, rows: q, columns: v, rowLogSumExp: result.rowLogSumExp, columnLogSumExp: result.columnLogSumExp,
                      positiveLogSumExp: result.positiveLogSumExp, positiveColumn: labels.queryVideo,
                      queryCount: q, videoCount: v, upstream: upstream, dScores: dScores, work: &work)
    }

}
