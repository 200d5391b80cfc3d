/// Summary statistics of a list of counts (frames per video, tokens per query, …).
public struct Distribution: Sendable, Equatable, CustomStringConvertible {
    public let count: Int
    public let minimum: Int
    public let maximum: Int
    public let mean: Double
    public let median: Int
    public let p10: Int
    public let p90: Int

    public init(_ values: [Int]) {
        let sorted = values.sorted()
        count = sorted.count
        minimum = sorted.first ?? 0
        maximum = sorted.last ?? 0
        mean = sorted.isEmpty ? 0 : Double(sorted.reduce(0, +)) / Double(sorted.count)
        func quantile(_ q: Double) -> Int { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q * Double(sorted.count - 1) + 0.5))] }
        median = quantile(0.5)
        p10 = quantile(0.1)
        p90 = quantile(0.9)
    }

    public var description: String {
        guard count > 0 else { return "none" }
        let m = (mean * 10).rounded() / 10
        return "min \(minimum), p10 \(p10), median \(median), mean \(m), p90 \(p90), max \(maximum)"
    }
}
