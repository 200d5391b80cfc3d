/// A scored item — a score and its global index — as top-k lists hold it: the order is the
/// ranking order used everywhere in this project (higher score first, ties to the lower index:
/// a stable descending sort), and the layout is MPI_FLOAT_INT's (struct { float; int; }), so
/// lists of them are merged across ranks as they are (`World.allreduceTopK`).
public struct RankedScore: Sendable, Equatable {
    public var score: Float
    public var index: Int32
    public init(score: Float, index: Int32) {
        self.score = score
        self.index = index
    }

    /// The padding record, after every real one.
    public static let none = RankedScore(score: -.infinity, index: .max)

    /// The order of top-k lists: higher score first, then the lower index — a stable descending
    /// sort by score (MPI_MAXLOC's tie rule too).
    @inlinable
    public func precedes(_ other: RankedScore) -> Bool {
        score > other.score || (score == other.score && index < other.index)
    }
}
