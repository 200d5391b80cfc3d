import CounterRandom
import Foundation
@testable import MamFusion

/// A small loss problem: labels, a Q×V score matrix with well-separated entries (every pair of
/// entries differs by at least half a grid step, so a small finite-difference perturbation never
/// reorders them), and L2-normalised fused query vectors.
struct LossProblem {
    let labels: BatchLabels
    var scores: [Float]
    var fused: [Float]
    let dimension: Int

    var queries: Int { labels.queryCount }
    var videos: Int { labels.videoCount }

    /// `queriesPerVideo` fixes the batch; `scale` stretches the scores' range [−1, 1].
    init(seed: UInt64, queriesPerVideo: [Int], dimension: Int = 16, scale: Float = 1) throws {
        labels = try BatchLabels(queriesPerVideo: queriesPerVideo)
        self.dimension = dimension
        let count = labels.queryCount * labels.videoCount
        let stream = RandomStream(seed: seed, purpose: .test, step: 1)
        let order = stream.permutation(count)
        let gap = 2 / Float(max(count, 1))
        scores = (0 ..< count).map { k in
            scale * ((Float(order[k]) + 0.5 * stream.uniform(at: 10_000 + k)) * gap - 1)
        }
        let vectors = RandomStream(seed: seed, purpose: .test, step: 2)
        fused = (0 ..< labels.queryCount * dimension).map { vectors.normal(at: $0) }
        for q in 0 ..< labels.queryCount {
            var norm: Float = 0
            for k in 0 ..< dimension { norm += fused[q * dimension + k] * fused[q * dimension + k] }
            norm = norm.squareRoot()
            for k in 0 ..< dimension { fused[q * dimension + k] /= norm }
        }
    }

    /// Random videos with 1…maxQueries queries each.
    static func randomCounts(seed: UInt64, videos: Int, maxQueries: Int) -> [Int] {
        let stream = RandomStream(seed: seed, purpose: .test, step: 3)
        return (0 ..< videos).map { 1 + stream.integer(below: maxQueries, at: $0) }
    }

    func score(_ q: Int, _ v: Int) -> Double { Double(scores[q * videos + v]) }
}

/// Brute-force evaluations of MODEL.md §4 in Double, written independently of the kernels:
/// plain loops, explicit sorts, no shifting tricks beyond what Double needs.
enum ReferenceLoss {
    static func logSumExp(_ x: [Double]) -> Double {
        let m = x.max()!
        return m + log(x.map { exp($0 - m) }.reduce(0, +))
    }

    static func nce(_ p: LossProblem) -> (t2v: Double, v2t: Double) {
        var t2v = 0.0
        for q in 0 ..< p.queries {
            let row = (0 ..< p.videos).map { p.score(q, $0) }
            t2v += logSumExp(row) - p.score(q, Int(p.labels.queryVideo[q]))
        }
        var v2t = 0.0
        for v in 0 ..< p.videos {
            let column = (0 ..< p.queries).map { p.score($0, v) }
            let positives = (0 ..< p.queries).filter { p.labels.queryVideo[$0] == v }.map { p.score($0, v) }
            v2t += logSumExp(column) - logSumExp(positives)
        }
        return (t2v / Double(p.queries), v2t / Double(p.videos))
    }

    /// The triplet term with the draws of `sampling`: returns the values and the chosen negatives.
    static func triplet(_ p: LossProblem, margin: Double, sampling: TripletSampling, branch: SimilarityBranch)
        -> (t2v: Double, v2t: Double, t2vNegative: [Int], v2tNegative: [Int]) {
        var t2v = 0.0
        var t2vNegative: [Int] = []
        for q in 0 ..< p.queries {
            let y = Int(p.labels.queryVideo[q])
            let others = (0 ..< p.videos).filter { $0 != y }
            guard !others.isEmpty else { t2vNegative.append(-1); continue }
            let candidates: [Int]
            if sampling.useHardNegatives {
                let ranked = others.sorted { a, b in
                    p.score(q, a) != p.score(q, b) ? p.score(q, a) > p.score(q, b) : a < b
                }
                candidates = Array(ranked.prefix(sampling.hardPoolSize))
            } else {
                candidates = others
            }
            let stream = RandomStream(seed: sampling.seed, purpose: .tripletNegative, step: sampling.step, item: UInt32(q))
            let neg = candidates[stream.integer(below: candidates.count, at: branch.textToVideoTerm.rawValue)]
            t2vNegative.append(neg)
            t2v += max(0, margin + p.score(q, neg) - p.score(q, y))
        }
        var v2t = 0.0
        var v2tNegative: [Int] = []
        for v in 0 ..< p.videos {
            let own = (0 ..< p.queries).filter { p.labels.queryVideo[$0] == v }
            let others = (0 ..< p.queries).filter { p.labels.queryVideo[$0] != v }
            guard !others.isEmpty else { v2tNegative.append(-1); continue }
            let positive = own.map { p.score($0, v) }.reduce(0, +) / Double(own.count)
            let neg: Int
            if sampling.useHardNegatives {
                neg = others.sorted { a, b in
                    p.score(a, v) != p.score(b, v) ? p.score(a, v) > p.score(b, v) : a < b
                }[0]
            } else {
                let stream = RandomStream(seed: sampling.seed, purpose: .tripletNegative, step: sampling.step, item: UInt32(v))
                neg = others[stream.integer(below: others.count, at: branch.videoToTextTerm.rawValue)]
            }
            v2tNegative.append(neg)
            v2t += max(0, margin + p.score(neg, v) - positive)
        }
        return (t2v / Double(p.queries), v2t / Double(p.videos), t2vNegative, v2tNegative)
    }

    static func queryDiverse(_ p: LossProblem, alpha: Double, delta: Double) -> Double {
        var total = 0.0
        for j in 0 ..< p.queries {
            var s = 0.0
            for i in 0 ..< p.queries where i != j && p.labels.queryVideo[i] == p.labels.queryVideo[j] {
                var dot = 0.0
                for k in 0 ..< p.dimension { dot += Double(p.fused[i * p.dimension + k]) * Double(p.fused[j * p.dimension + k]) }
                s += exp(alpha * (dot + delta))
            }
            total += log(1 + s)
        }
        return total / Double(p.queries)
    }
}

/// Relative difference with a floor, for comparing Float kernels with Double references.
func relativeDifference(_ a: Double, _ b: Double, floor: Double = 1e-3) -> Double {
    abs(a - b) / max(abs(a), abs(b), floor)
}
