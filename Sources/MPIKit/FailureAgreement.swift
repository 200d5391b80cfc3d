/// A step that failed on some ranks, seen from a rank where it did not fail (that rank's own
/// message says why).
public struct RankFailure: Error, CustomStringConvertible, Sendable {
    public let ranks: [Int]
    public init(ranks: [Int]) { self.ranks = ranks }
    public var description: String {
        "failed on rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")) (see that rank's message)"
    }
}

extension World {
    /// The one failure-agreement exchange: every rank says whether a step failed on it and adds
    /// a few numbers (the same count on every rank); one all-gather later every rank holds the
    /// same list of failed ranks and everyone's numbers, in rank order. Collective.
    public func gatherOutcomes(failed: Bool, values: [Int64] = []) throws -> (failedRanks: [Int], values: [[Int64]]) {
        let width = values.count + 1
        let mine = [failed ? 1 : 0] + values
        var all = [Int64](repeating: 0, count: width * size)
        try mine.withUnsafeBufferPointer { send in
            try all.withUnsafeMutableBufferPointer { try allgatherv(send, into: $0, counts: Array(repeating: width, count: size)) }
        }
        let failedRanks = (0..<size).filter { all[$0 * width] != 0 }
        return (failedRanks, (0..<size).map { Array(all[$0 * width + 1..<($0 + 1) * width]) })
    }

    /// `gatherOutcomes`, then: this rank's own `failure` is rethrown; a failure elsewhere throws
    /// `RankFailure` naming those ranks; else every rank's numbers come back. All ranks return or
    /// throw together.
    @discardableResult
    public func agreeOnFailure(_ failure: (any Error)?, values: [Int64] = []) throws -> [[Int64]] {
        let outcome = try gatherOutcomes(failed: failure != nil, values: values)
        if let failure { throw failure }
        guard outcome.failedRanks.isEmpty else { throw RankFailure(ranks: outcome.failedRanks) }
        return outcome.values
    }
}
