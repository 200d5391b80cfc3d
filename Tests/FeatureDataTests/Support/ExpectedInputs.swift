@testable import FeatureData

/// Model inputs computed here the plain way, from DATA.md §1, for comparison with the loader:
/// segment means in Double, row norms by plain summation (exact for the ≤ 7-float rows the
/// fixtures use, where NumPy's pairwise order is plain order), one division per element.
enum ExpectedInputs {
    static func boundaries(_ t: Int, _ m: Int) -> [Int] {
        (0...m).map { i in min(Int((Double(i * t) / Double(m)).rounded(.toNearestOrEven)), t - 1) }
    }

    static func normalise(_ row: [Double]) -> [Float] {
        var s = 0.0
        for x in row { s += x * x }
        let denominator = s.squareRoot() + 1e-5
        return row.map { Float($0 / denominator) }
    }

    static func resample(_ frames: [Float], t: Int, d: Int, m: Int) -> [[Double]] {
        let idx = boundaries(t, m)
        return (0..<m).map { i in
            let (s, e) = (idx[i], idx[i + 1])
            if s < e {
                var sum = [Double](repeating: 0, count: d)
                for f in s..<e { for j in 0..<d { sum[j] += Double(frames[f * d + j]) } }
                return sum.map { $0 / Double(e - s) }
            }
            return (0..<d).map { Double(frames[s * d + $0]) }
        }
    }

    static func clip(_ frames: [Float], t: Int, d: Int, mapSize: Int) -> [Float] {
        resample(frames, t: t, d: d, m: mapSize).flatMap(normalise)
    }

    static func frameInput(_ frames: [Float], t: Int, d: Int, maxContext: Int) -> [Float] {
        if t > maxContext { return resample(frames, t: t, d: d, m: maxContext).flatMap(normalise) }
        return (0..<t).flatMap { f in normalise((0..<d).map { Double(frames[f * d + $0]) }) }
    }

    static func query(_ tokens: [Float], n: Int, d: Int, maxTokens: Int) -> [Float] {
        (0..<min(n, maxTokens)).flatMap { k -> [Float] in
            let row = Array(tokens[(k * d)..<((k + 1) * d)])
            var s: Float = 0
            for x in row { s += x * x }
            let denominator = s.squareRoot() + Float(1e-5)
            return row.map { $0 / denominator }
        }
    }
}
