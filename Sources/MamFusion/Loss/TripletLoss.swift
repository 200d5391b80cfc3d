import TensorKit

/// The triplet (ranking) term of MODEL.md §4 (MS-SL / GMMFormer `get_clip_triplet_loss`) on one
/// Q×V score matrix S, with margin m:
///
/// - **t2v**, per query q: pos = S[q,y_q]; the other videos ranked by S[q,·] descending (ties:
///   lower video index first); the negative is the r-th of them, r uniform in 0..<n with
///   n = min(hardPoolSize, V − 1) once hard negatives are on, else n = V − 1. Term
///   Σ_q relu(m + S[q,neg] − pos) / Q.
/// - **v2t**, per video v: pos = mean of S[q,v] over v's queries; negatives S[q,v] for queries of
///   other videos: the largest (ties: lowest q) once hard negatives are on, else a uniform one.
///   Term Σ_v relu(m + neg − pos) / V.
///
/// TRIP = t2v + v2t. The negative *selection* is not differentiated (as in the reference);
/// the gradient flows through the selected negative's score and the positive(s). At a hinge of
/// exactly 0 the relu subgradient used is 0.
///
/// Random negatives before the hard epoch: the reference sorts and then draws a sorted position,
/// which is the same distribution as drawing from the negatives in index order; index order is
/// used here (r-th negative video / query, skipping the positives) because it costs O(1) and a
/// draw cannot flip between ranks when two scores differ only in summation order.
///
/// **Ties.** The reference sorts with `torch.sort(descending=True)` (GMMFormer's
/// `get_clip_triplet_loss`), whose default is *not* stable: on CUDA the order of equal scores
/// is whatever its sorting network leaves, and differs from the CPU's (pytorch/pytorch #28871,
/// #103909), so the reference has no defined tie rule. Ours is the one a stable descending sort
/// gives — higher score first, then the lower global index (`RankedScore.precedes`) — for t2v
/// ranks and for the v2t hardest query alike; a tie changes which entry receives the gradient,
/// never the loss value.
///
/// **Blocks.** Rows and columns are independent: a block of rows (`selectTextToVideo`) or of
/// columns with all rows (`selectVideoToText`) with their global indices gives exactly the
/// whole matrix's selection. Sharded by videos (DISTRIBUTED.md §3), a t2v row is spread over
/// ranks: each rank offers its best negatives of the row (`collectTopNegatives`), the per-rank
/// lists are merged, and the drawn position of the merged list is the negative.
///
/// A batch with one video has no negatives: both triplet terms are 0 there (the reference fails).
public enum TripletLoss {
    /// The number of negatives a t2v draw chooses from: V − 1, or min(hard_pool_size, V − 1) once
    /// hard negatives are on (0 when V = 1: no negative).
    public static func negativePool(videos: Int, sampling: TripletSampling) -> Int {
        let negatives = max(videos - 1, 0)
        return sampling.useHardNegatives ? min(sampling.hardPoolSize, negatives) : negatives
    }

    /// The drawn position (0 ..< pool) of query `query`'s t2v negative: among the negatives in
    /// video order (random phase) or in ranked order (hard phase).
    @inline(__always)
    public static func drawnRank(query: Int, pool: Int, sampling: TripletSampling, term: TripletTerm) -> Int {
        sampling.stream(item: query).integer(below: pool, at: term.rawValue)
    }

    /// The `rank`-th video other than `positive`, in video order (the random phase).
    @inline(__always)
    public static func randomNegative(rank k: Int, positive y: Int) -> Int { k < y ? k : k + 1 }

    /// The best `keep` negatives of one score row (`columns` entries) in the ranking order of
    /// `RankedScore` (higher score first, ties to the lower global video index): `videos[j]` is
    /// column j's global video (nil: column j is video j); the column of global video `positive`
    /// is skipped. Writes `keep` records, padded with `RankedScore.none` when the row has fewer
    /// negatives. Sorted insertion: O(columns · keep), no allocation (keep ≤ 20 in every
    /// configuration).
    public static func collectTopNegatives(row: UnsafePointer<Float>, columns: Int, videos: UnsafePointer<Int32>?,
                                           positive: Int, keep: Int, into list: UnsafeMutablePointer<RankedScore>) {
        list.update(repeating: .none, count: keep)
        guard keep > 0 else { return }
        for j in 0 ..< columns {
            let video = videos.map { Int($0[j]) } ?? j
            if video == positive { continue }
            let candidate = RankedScore(score: row[j], index: Int32(video))
            if !candidate.precedes(list[keep - 1]) { continue }
            var p = keep - 1
            while p > 0 && candidate.precedes(list[p - 1]) {
                list[p] = list[p - 1]
                p -= 1
            }
            list[p] = candidate
        }
    }

    /// v2t selection for a block of `columns` videos (`videos[c]` is column c's global video):
    /// `scores` is Q × columns row-major holding those columns of S for **all** Q queries of the
    /// global batch. Writes each video's negative query (−1 when V = 1) and hinge
    /// m + S[neg,v] − mean_{q ∈ v} S[q,v].
    public static func selectVideoToText(scores: UnsafePointer<Float>, columns: Int, videos: UnsafePointer<Int32>,
                                         labels: BatchLabels, margin: Float, sampling: TripletSampling,
                                         term: TripletTerm, negative: UnsafeMutablePointer<Int32>,
                                         hinge: UnsafeMutablePointer<Float>) {
        let q = labels.queryCount
        for c in 0 ..< columns {
            let video = Int(videos[c])
            let range = labels.videoQueryRanges[video]
            let negatives = q - range.count
            guard negatives > 0 else {
                negative[c] = -1
                hinge[c] = 0
                continue
            }
            var positive: Float = 0
            for i in range { positive += scores[i * columns + c] }
            positive /= Float(range.count)
            var neg: Int
            if sampling.useHardNegatives {
                // Ascending scan with a strict comparison: ties go to the lowest query index.
                neg = range.lowerBound == 0 ? range.upperBound : 0
                for i in 0 ..< q where !range.contains(i) && scores[i * columns + c] > scores[neg * columns + c] {
                    neg = i
                }
            } else {
                let k = sampling.stream(item: video).integer(below: negatives, at: term.rawValue)
                neg = k < range.lowerBound ? k : k + range.count
            }
            negative[c] = Int32(neg)
            hinge[c] = margin + scores[neg * columns + c] - positive
        }
    }
}
