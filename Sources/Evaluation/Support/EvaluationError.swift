/// Why an evaluation (or an embedding-index read/write) could not run. Errors are values with
/// context — the query, the video, the file, the rank — never a crash on input a user controls.
///
/// Errors whose cause is global (a missing ground-truth video, a budget too small on some rank)
/// are thrown on every rank together, so no rank is left waiting in a collective.
public enum EvaluationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The memory budget cannot hold even the smallest block plus the per-query state.
    case memoryBudgetTooSmall(budget: Int, needed: Int, detail: String)
    /// Shapes or indices that do not fit together (what, and on which rank).
    case invalidInput(String)
    /// Query `query`'s ground-truth video `video` is held by no rank.
    case groundTruthMissing(query: Int, video: Int)
    /// Reading or writing a file failed.
    case io(path: String, message: String)
    /// There is nothing to rank (a split without queries).
    case noQueries
    /// Ranking scores of `rows` (query, video block) rows are NaN or ±Inf, first for query
    /// `firstQuery` (0-based, in split order): ranks would be meaningless, so none are given.
    case nonFiniteScores(rows: Int, firstQuery: Int)

    public var description: String {
        switch self {
        case let .memoryBudgetTooSmall(budget, needed, detail):
            return "memory budget of \(budget) bytes is too small: at least \(needed) bytes are needed (\(detail))"
        case let .invalidInput(message):
            return "invalid evaluation input: \(message)"
        case let .groundTruthMissing(query, video):
            return "the ground-truth video \(video) of query \(query) is held by no rank"
        case let .io(path, message):
            return "\(path): \(message)"
        case .noQueries:
            return "no queries to rank: the split holds no captions"
        case let .nonFiniteScores(rows, firstQuery):
            return "ranking scores are not finite (NaN or ±Inf) in \(rows) row\(rows == 1 ? "" : "s") of scores, first for query #\(firstQuery + 1); "
                + "refusing to rank them: the model's parameters or its inputs hold non-finite or overflowing values"
        }
    }
}
