/// Text→video retrieval metrics from exact ranks (MODEL.md §8): R@K = 100·#{rank ≤ K}/Q for
/// K = 1, 5, 10, 100, SumR = their sum, and the median and mean rank.
public struct RecallMetrics: Sendable, Equatable, Codable {
    public let r1: Double
    public let r5: Double
    public let r10: Double
    public let r100: Double
    public let medianRank: Double
    public let meanRank: Double
    public let queries: Int

    public var sumR: Double { r1 + r5 + r10 + r100 }

    /// Metrics of 1-based ranks (one per query).
    public init(ranks: [Int]) {
        queries = ranks.count
        let q = Double(max(ranks.count, 1))
        func recall(_ k: Int) -> Double { 100 * Double(ranks.filter { $0 <= k }.count) / q }
        r1 = recall(1); r5 = recall(5); r10 = recall(10); r100 = recall(100)
        let sorted = ranks.sorted()
        if sorted.isEmpty {
            medianRank = .nan
        } else if sorted.count % 2 == 1 {
            medianRank = Double(sorted[sorted.count / 2])
        } else {
            medianRank = Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        meanRank = ranks.isEmpty ? .nan : Double(ranks.reduce(0, +)) / Double(ranks.count)
    }
}
