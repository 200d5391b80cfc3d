import Foundation
import TensorKit
@testable import Evaluation

/// Deterministic pseudo-random values (SplitMix64), independent of the code under test.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// U[−1, 1).
    mutating func signed() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

/// A small text→video problem in full (every video on one process), for brute force.
///
/// `quantised`: every component is a multiple of 1/4 in [−1/2, 1/2], so every dot product and
/// partial sum is exactly representable — BLAS's summation order cannot change a bit — and ties
/// are everywhere: coarse values, plus videos that are exact copies of earlier videos and
/// queries that are copies of earlier queries (deliberate ties on both sides of the ground
/// truth in index order).
struct RetrievalProblem {
    let videos: Int, queries: Int, clips: Int, dim: Int
    var clipValues: [Float]    // [V, Mc, d]
    var frameValues: [Float]   // [V, d]
    var queryValues: [Float]   // [Q, d]
    var groundTruth: [Int]

    init(videos: Int, queries: Int, clips: Int, dim: Int, seed: UInt64, quantised: Bool = true, duplicateFraction: Double = 0.3) {
        self.videos = videos; self.queries = queries; self.clips = clips; self.dim = dim
        var rng = SplitMix64(seed: seed)
        func value() -> Float { quantised ? Float(rng.below(5) - 2) * 0.25 : rng.signed() }
        clipValues = (0..<videos * clips * dim).map { _ in value() }
        frameValues = (0..<videos * dim).map { _ in value() }
        queryValues = (0..<queries * dim).map { _ in value() }
        if !quantised {
            Self.normalise(&clipValues, dim); Self.normalise(&frameValues, dim); Self.normalise(&queryValues, dim)
        }
        for v in 1..<max(videos, 1) where Double(rng.below(1000)) < duplicateFraction * 1000 {
            let source = rng.below(v)
            for i in 0..<clips * dim { clipValues[v * clips * dim + i] = clipValues[source * clips * dim + i] }
            for i in 0..<dim { frameValues[v * dim + i] = frameValues[source * dim + i] }
        }
        for q in 1..<max(queries, 1) where Double(rng.below(1000)) < duplicateFraction * 1000 {
            let source = rng.below(q)
            for i in 0..<dim { queryValues[q * dim + i] = queryValues[source * dim + i] }
        }
        // Ground truth: mostly in video order (as caption files are), some anywhere.
        groundTruth = (0..<queries).map { q in
            rng.below(4) == 0 ? rng.below(videos) : min(videos - 1, q * videos / max(queries, 1))
        }
    }

    static func normalise(_ x: inout [Float], _ d: Int) {
        for r in 0..<(x.count / d) {
            var s = 0.0
            for i in 0..<d { s += Double(x[r * d + i]) * Double(x[r * d + i]) }
            let n = Float(s.squareRoot())
            for i in 0..<d { x[r * d + i] /= max(n, 1e-12) }
        }
    }

    var querySet: QuerySet { try! QuerySet(embeddings: Tensor(shape: [queries, dim], values: queryValues), groundTruth: groundTruth) }

    /// The shard of videos `range`.
    func shard(_ range: Range<Int>) -> VideoShard {
        let clipsT = Tensor(shape: [range.count, clips, dim], values: Array(clipValues[(range.lowerBound * clips * dim)..<(range.upperBound * clips * dim)]))
        let framesT = Tensor(shape: [range.count, dim], values: Array(frameValues[(range.lowerBound * dim)..<(range.upperBound * dim)]))
        return try! VideoShard(clips: clipsT, frames: framesT, videos: range)
    }

    var videoIDs: [String] { (0..<videos).map { "video\($0)" } }
    var captionIDs: [String] { (0..<queries).map { "video\(groundTruth[$0])#enc#\($0)" } }

    // MARK: - Brute force

    /// S[q][v] by plain loops (exact for quantised problems; Double dot products otherwise),
    /// combined as MODEL.md §3 says.
    func scores(weights: RankingWeights = .reference) -> [[Float]] {
        (0..<queries).map { q in
            (0..<videos).map { v in
                var best = -Float.infinity
                for c in 0..<clips {
                    best = max(best, dot(q, clipValues, (v * clips + c) * dim))
                }
                let frame = dot(q, frameValues, v * dim)
                return weights.clip * best + weights.frame * frame
            }
        }
    }

    private func dot(_ q: Int, _ table: [Float], _ offset: Int) -> Float {
        var s = 0.0
        for i in 0..<dim { s += Double(queryValues[q * dim + i]) * Double(table[offset + i]) }
        return Float(s)
    }

    /// Every query's videos fully sorted by (score descending, index ascending): the tie rule.
    func sortedLists(_ s: [[Float]]) -> [[Int]] {
        s.map { row in (0..<videos).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) } }
    }

    /// rank(q) = 1 + position of gt in the full sort.
    func bruteForceRanks(_ s: [[Float]]) -> [Int] {
        sortedLists(s).enumerated().map { q, order in order.firstIndex(of: groundTruth[q])! + 1 }
    }
}
