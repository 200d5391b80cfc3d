import TensorKit

/// The exact-rank count of DISTRIBUTED.md §5 over one scored block:
///
///     counts[q] += #{v in block : s(q,v) > s(q,gt)} + #{v in block : s(q,v) = s(q,gt), index(v) < index(gt)}
///
/// so that after summing over blocks and ranks, rank(q) = 1 + counts[q] — exactly the position
/// of gt in a full sort by (score descending, global index ascending). The ground truth itself
/// is never counted (equal score, equal index).
///
/// Because a block's global indices increase, "index(v) < index(gt)" holds on a prefix of the
/// block: videos before `split` count when s ≥ t, the others when s > t — two plain loops that
/// the compiler vectorises.
///
/// - scores: [rows, videoIndices.count] row-major ranking scores of queries `queries`.
/// - thresholds: s(q, gt(q)) for every query (indexed by global query number).
/// - groundTruth: gt(q) for every query; counts: per query, accumulated.
///
/// Comparisons with NaN are false, so a NaN score would silently count as "not above" and a
/// broken model would rank every query first. Rows holding a NaN or ±Inf score are therefore
/// not counted at all: each adds one to `nonFiniteRows` (and the first one's query is kept in
/// `firstNonFiniteQuery`, the smallest such query, whatever order blocks come in), and the caller
/// refuses the evaluation.
///
/// `queries` names the query of each row: a range for a block, any list for re-scored rows.
@inline(never)
func countRankedAbove<Queries: Sequence<Int>>(scores: UnsafePointer<Float>, queries: Queries, videoIndices: UnsafeBufferPointer<Int>,
                                               thresholds: UnsafeBufferPointer<Float>, groundTruth: UnsafeBufferPointer<Int>,
                                               counts: UnsafeMutableBufferPointer<Int32>, nonFiniteRows: inout Int,
                                               firstNonFiniteQuery: inout Int?) {
    let nv = videoIndices.count
    guard nv > 0 else { return }
    let first = videoIndices[0], last = videoIndices[nv - 1]
    for (i, q) in queries.enumerated() {
        let row = scores + i * nv
        if NonFiniteScan.first(row, count: nv) != nil || !thresholds[q].isFinite {
            nonFiniteRows += 1
            firstNonFiniteQuery = min(firstNonFiniteQuery ?? q, q)
            continue
        }
        let t = thresholds[q], g = groundTruth[q]
        // split = #{videos of the block with index < g}.
        var split: Int
        if g <= first {
            split = 0
        } else if g > last {
            split = nv
        } else {
            var low = 0, high = nv
            while low < high {
                let mid = (low + high) / 2
                if videoIndices[mid] < g { low = mid + 1 } else { high = mid }
            }
            split = low
        }
        var c: Int32 = 0
        for j in 0..<split { c &+= row[j] >= t ? 1 : 0 }
        for j in split..<nv { c &+= row[j] > t ? 1 : 0 }
        counts[q] &+= c
    }
}

/// The counting pass's running state on one rank: each query's count of videos ranked before its
/// ground truth, the top-K heaps, and the rows refused for non-finite scores. Every block of exact
/// scores goes through `add` (`countRankedAbove`, then the heaps).
struct RankTally {
    let thresholds: UnsafeBufferPointer<Float>
    let groundTruth: UnsafeBufferPointer<Int>
    let counts: UnsafeMutableBufferPointer<Int32>
    let heaps: TopKHeaps?
    private(set) var nonFiniteRows = 0
    private(set) var firstNonFiniteQuery: Int? = nil
    /// Seconds in counting and in the heaps.
    var seconds = 0.0

    init(thresholds: UnsafeBufferPointer<Float>, groundTruth: UnsafeBufferPointer<Int>, counts: UnsafeMutableBufferPointer<Int32>,
         heaps: TopKHeaps?) {
        self.thresholds = thresholds
        self.groundTruth = groundTruth
        self.counts = counts
        self.heaps = heaps
    }

    /// Counts rows of scores ([rows, videoIndices.count], row r for the r-th of `queries`) and
    /// offers them to the heaps.
    mutating func add<Queries: Collection<Int>>(scores: UnsafePointer<Float>, queries: Queries, videoIndices: UnsafeBufferPointer<Int>) {
        let t0 = MonotonicClock.now()
        countRankedAbove(scores: scores, queries: queries, videoIndices: videoIndices, thresholds: thresholds,
                         groundTruth: groundTruth, counts: counts, nonFiniteRows: &nonFiniteRows, firstNonFiniteQuery: &firstNonFiniteQuery)
        if let heaps {
            for (row, query) in queries.enumerated() {
                heaps.offer(query: query, row: scores + row * videoIndices.count, videoIndices: videoIndices)
            }
        }
        seconds += MonotonicClock.now() - t0
    }
}
