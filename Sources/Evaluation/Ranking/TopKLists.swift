import TensorKit

/// The K best videos of every query over the whole database, ordered by the ranking order of
/// DISTRIBUTED.md §5 (score descending, then global index ascending) — so the ground truth
/// appears at position rank(q) − 1 whenever rank(q) ≤ K.
public struct TopKLists: Sendable, Equatable {
    /// Entries per query: min(K, V).
    public let k: Int
    /// [Q × k] global video indices, best first.
    public let videos: [Int32]
    /// [Q × k] their ranking scores.
    public let scores: [Float]

    public init(k: Int, videos: [Int32], scores: [Float]) {
        self.k = k
        self.videos = videos
        self.scores = scores
    }

    /// Number of queries.
    public var queries: Int { k == 0 ? 0 : videos.count / k }

    /// The list of query `q`: (global video index, score), best first.
    public func entries(ofQuery q: Int) -> [(video: Int, score: Float)] {
        (0..<k).map { (Int(videos[q * k + $0]), scores[q * k + $0]) }
    }
}

/// Whether (s1, i1) ranks strictly before (s2, i2): higher score, or equal score and lower index
/// — the project's one ranking order (`RankedScore.precedes`).
@inline(__always)
func ranksBefore(_ s1: Float, _ i1: Int32, _ s2: Float, _ i2: Int32) -> Bool {
    RankedScore(score: s1, index: i1).precedes(RankedScore(score: s2, index: i2))
}

/// One rank's K best videos per query so far: per query a binary heap of K (score, index)
/// entries whose root is the *worst* kept entry, so a candidate is one comparison against the
/// root and, rarely, a replacement and a sift-down. Empty slots hold (−∞, Int32.max), which any
/// real video beats. Memory: Q·K·8 bytes in the workspace.
struct TopKHeaps {
    static let emptyIndex = Int32.max
    let k: Int
    let scores: UnsafeMutablePointer<Float>   // [Q, K]
    let indices: UnsafeMutablePointer<Int32>  // [Q, K]

    init(queries: Int, k: Int, workspace: Workspace) {
        self.k = k
        scores = workspace.floats(queries * k, repeating: -.infinity).baseAddress!
        indices = workspace.int32s(queries * k, repeating: Self.emptyIndex).baseAddress!
    }

    /// Offers every video of one scored row (query `q`) to q's heap.
    @inline(__always)
    func offer(query q: Int, row: UnsafePointer<Float>, videoIndices: UnsafeBufferPointer<Int>) {
        let hs = scores + q * k, hi = indices + q * k
        var worst = hs[0]
        for j in 0..<videoIndices.count where row[j] >= worst {
            let index = Int32(truncatingIfNeeded: videoIndices[j])
            guard ranksBefore(row[j], index, hs[0], hi[0]) else { continue }
            Self.replaceRoot(hs, hi, k, row[j], index)
            worst = hs[0]
        }
    }

    /// Puts (s, i) at the root and sifts it down (children worse than it move up).
    private static func replaceRoot(_ hs: UnsafeMutablePointer<Float>, _ hi: UnsafeMutablePointer<Int32>, _ k: Int,
                                    _ s: Float, _ i: Int32) {
        var p = 0
        while true {
            let left = 2 * p + 1
            if left >= k { break }
            var child = left
            let right = left + 1
            // The worse child (the one that ranks after the other) must become the parent.
            if right < k && ranksBefore(hs[left], hi[left], hs[right], hi[right]) { child = right }
            guard ranksBefore(s, i, hs[child], hi[child]) else { break }
            hs[p] = hs[child]; hi[p] = hi[child]
            p = child
        }
        hs[p] = s; hi[p] = i
    }

    /// Merges every rank's heaps (`gatheredScores`/`gatheredIndices`: P blocks of [Q, K], rank
    /// order) into the global lists: each query's P·K candidates sorted by the ranking order,
    /// the first min(K, V) kept.
    static func merge(gatheredScores: UnsafeBufferPointer<Float>, gatheredIndices: UnsafeBufferPointer<Int32>,
                      queries: Int, k: Int, ranks: Int, totalVideos: Int) -> TopKLists {
        let kept = min(k, totalVideos)
        var videos = [Int32](repeating: 0, count: queries * kept)
        var scores = [Float](repeating: 0, count: queries * kept)
        var candidates: [(score: Float, index: Int32)] = []
        candidates.reserveCapacity(k * ranks)
        for q in 0..<queries {
            candidates.removeAll(keepingCapacity: true)
            for r in 0..<ranks {
                let base = (r * queries + q) * k
                for e in 0..<k where gatheredIndices[base + e] != emptyIndex {
                    candidates.append((gatheredScores[base + e], gatheredIndices[base + e]))
                }
            }
            candidates.sort { ranksBefore($0.score, $0.index, $1.score, $1.index) }
            for e in 0..<min(kept, candidates.count) {
                videos[q * kept + e] = candidates[e].index
                scores[q * kept + e] = candidates[e].score
            }
        }
        return TopKLists(k: kept, videos: videos, scores: scores)
    }
}
