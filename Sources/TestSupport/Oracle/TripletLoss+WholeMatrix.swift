import MamFusion
import TensorKit

/// **Test oracle**: TRIP (MODEL.md §4) of a whole Q×V matrix in one process, from the same
/// selection rules (`TripletLoss.drawnRank`, `collectTopNegatives`, `selectVideoToText`) the
/// sharded PRVR head uses on its blocks.
extension TripletLoss {
    /// The negatives one forward pass chose, and the hinge arguments m + neg − pos (before the
    /// relu). The backward pass reads only this: a hinge > 0 passes gradient.
    public struct Selection: Sendable, Equatable {
        /// t2v: the negative video of each query (Q), −1 when there is none (V = 1).
        public var textToVideoNegative: [Int32]
        /// t2v: m + S[q,neg] − S[q,y_q] per query (0 when there is no negative).
        public var textToVideoHinge: [Float]
        /// v2t: the negative query of each video (V), −1 when there is none (V = 1).
        public var videoToTextNegative: [Int32]
        /// v2t: m + S[neg,v] − mean_{q ∈ v} S[q,v] per video (0 when there is no negative).
        public var videoToTextHinge: [Float]
    }

    /// Forward values and the selection the backward pass reads.
    public struct Result: Sendable {
        /// TRIP = t2v + v2t.
        public var value: Double
        public var textToVideo: Double
        public var videoToText: Double
        public var selection: Selection
    }

    /// Computes TRIP(S) over the whole batch.
    /// - Parameters:
    ///   - scores: S, Q×V row-major (`labels.queryCount` × `labels.videoCount`).
    ///   - branch: which score matrix this is (picks the draw indices of its two terms).
    public static func forward(scores: UnsafePointer<Float>, labels: BatchLabels, margin: Float,
                               sampling: TripletSampling, branch: SimilarityBranch) -> Result {
        let q = labels.queryCount, v = labels.videoCount
        var selection = Selection(textToVideoNegative: .init(repeating: -1, count: q),
                                  textToVideoHinge: .init(repeating: 0, count: q),
                                  videoToTextNegative: .init(repeating: -1, count: v),
                                  videoToTextHinge: .init(repeating: 0, count: v))
        labels.queryVideo.withUnsafeBufferPointer { y in
            selection.textToVideoNegative.withUnsafeMutableBufferPointer { neg in
                selection.textToVideoHinge.withUnsafeMutableBufferPointer { hinge in
                    selectTextToVideo(scores: scores, queries: q, videos: v, queryVideo: y.baseAddress!,
                                      firstQuery: 0, margin: margin, sampling: sampling,
                                      term: branch.textToVideoTerm,
                                      negative: neg.baseAddress!, hinge: hinge.baseAddress!)
                }
            }
        }
        let videos = (0 ..< v).map(Int32.init)
        selection.videoToTextNegative.withUnsafeMutableBufferPointer { neg in
            selection.videoToTextHinge.withUnsafeMutableBufferPointer { hinge in
                selectVideoToText(scores: scores, columns: v, videos: videos, labels: labels, margin: margin,
                                  sampling: sampling, term: branch.videoToTextTerm,
                                  negative: neg.baseAddress!, hinge: hinge.baseAddress!)
            }
        }
        var textToVideo = 0.0, videoToText = 0.0
        for h in selection.textToVideoHinge where h > 0 { textToVideo += Double(h) }
        for h in selection.videoToTextHinge where h > 0 { videoToText += Double(h) }
        textToVideo /= Double(q)
        videoToText /= Double(v)
        return Result(value: textToVideo + videoToText, textToVideo: textToVideo, videoToText: videoToText,
                      selection: selection)
    }

    /// Adds `upstream` · ∂TRIP/∂S to `dScores` (Q×V row-major, accumulated), for the negatives
    /// and hinges in `selection` (held fixed).
    public static func backward(selection: Selection, labels: BatchLabels, upstream: Float,
                                dScores: UnsafeMutablePointer<Float>) {
        let q = labels.queryCount, v = labels.videoCount
        let perQuery = upstream / Float(q)
        for i in 0 ..< q {
            let neg = Int(selection.textToVideoNegative[i])
            guard neg >= 0, selection.textToVideoHinge[i] > 0 else { continue }
            dScores[i * v + neg] += perQuery
            dScores[i * v + Int(labels.queryVideo[i])] -= perQuery
        }
        let perVideo = upstream / Float(v)
        for j in 0 ..< v {
            let neg = Int(selection.videoToTextNegative[j])
            guard neg >= 0, selection.videoToTextHinge[j] > 0 else { continue }
            dScores[neg * v + j] += perVideo
            let range = labels.videoQueryRanges[j]
            let perPositive = perVideo / Float(range.count)
            for i in range { dScores[i * v + j] -= perPositive }
        }
    }

    /// t2v selection for a block of `queries` consecutive score rows (queries × videos,
    /// row-major), whose first row is global query `firstQuery`. Writes each row's negative
    /// video (−1 when V = 1) and hinge m + S[q,neg] − S[q,y_q]. Rows are independent, so any
    /// block of rows of the global score matrix gives the same result as the whole matrix.
    /// - Parameters:
    ///   - queryVideo: y for the block's rows (`queries` entries).
    public static func selectTextToVideo(scores: UnsafePointer<Float>, queries: Int, videos: Int,
                                         queryVideo: UnsafePointer<Int32>, firstQuery: Int,
                                         margin: Float, sampling: TripletSampling, term: TripletTerm,
                                         negative: UnsafeMutablePointer<Int32>,
                                         hinge: UnsafeMutablePointer<Float>) {
        let pool = negativePool(videos: videos, sampling: sampling)
        guard pool > 0 else {
            negative.update(repeating: -1, count: queries)
            hinge.update(repeating: 0, count: queries)
            return
        }
        withUnsafeTemporaryAllocation(of: RankedScore.self, capacity: pool) { ranked in
            for r in 0 ..< queries {
                let row = scores + r * videos
                let y = Int(queryVideo[r])
                let k = drawnRank(query: firstQuery + r, pool: pool, sampling: sampling, term: term)
                let neg: Int
                if sampling.useHardNegatives {
                    collectTopNegatives(row: row, columns: videos, videos: nil, positive: y, keep: k + 1, into: ranked.baseAddress!)
                    neg = Int(ranked[k].index)
                } else {
                    neg = randomNegative(rank: k, positive: y)
                }
                negative[r] = Int32(neg)
                hinge[r] = margin + row[neg] - row[y]
            }
        }
    }

}
