/// Who holds what of one global batch, in the index maps the sharded loss head needs
/// (DISTRIBUTED.md §3). Rank r owns the videos `RankAssignment.videosOfRank[r]` and all their
/// captions; its score columns are its videos in ascending global order. Gathers and
/// reduce-scatters move rows in *rank order* (rank 0's rows, then rank 1's, …); the head works
/// in *global order*, so each gathered row carries its global index here.
///
/// Rebuilt every step into the same arrays (their capacity is kept).
public struct HeadGeometry: Sendable {
    public init() {}

    public private(set) var rank = 0, ranks = 1
    /// Q and V of the global batch.
    public private(set) var queryCount = 0, videoCount = 0
    /// Labels of the global batch (y_q, each video's query range).
    public private(set) var labels: BatchLabels?
    /// This rank's videos (global, ascending): score column j is video `videos[j]`.
    public private(set) var videos: [Int32] = []
    /// This rank's queries (global, ascending): the captions of its videos, video by video.
    public private(set) var queries: [Int32] = []
    /// Labels of this rank's own queries over its own videos (for the query-diverse loss).
    public private(set) var localLabels: BatchLabels?
    /// Queries and videos per rank (the block sizes of gathers and reduce-scatters).
    public private(set) var queriesPerRank: [Int] = [], videosPerRank: [Int] = []
    /// The global index of each row of a rank-order query / video gather.
    public private(set) var queryOrder: [Int32] = [], videoOrder: [Int32] = []
    /// Per query: the column of its video on this rank, −1 when another rank owns it.
    public private(set) var positiveColumn: [Int32] = []
    /// Per global video: its column on this rank, −1 when another rank owns it.
    public private(set) var column: [Int32] = []

    public var ownVideoCount: Int { videos.count }
    public var ownQueryCount: Int { queries.count }

    /// Rebuilds the maps for `batch` split by `assignment`, seen from `rank`.
    public mutating func update(batch: GlobalBatch, assignment: RankAssignment, rank: Int) throws {
        self.rank = rank
        ranks = assignment.videosOfRank.count
        queryCount = batch.queryCount
        videoCount = batch.videoCount
        let global = try BatchLabels(queriesPerVideo: batch.queriesPerVideo)
        labels = global
        videos.removeAll(keepingCapacity: true)
        videos.append(contentsOf: assignment.videosOfRank[rank].lazy.map { Int32($0) })
        queries.removeAll(keepingCapacity: true)
        queries.append(contentsOf: assignment.queriesOfRank[rank].lazy.map { Int32($0) })
        localLabels = videos.isEmpty ? nil : try BatchLabels(queriesPerVideo: videos.map { global.videoQueryRanges[Int($0)].count })
        queriesPerRank = assignment.queriesOfRank.map(\.count)
        videosPerRank = assignment.videosOfRank.map(\.count)
        queryOrder.removeAll(keepingCapacity: true)
        for owned in assignment.queriesOfRank { queryOrder.append(contentsOf: owned.lazy.map { Int32($0) }) }
        videoOrder.removeAll(keepingCapacity: true)
        for owned in assignment.videosOfRank { videoOrder.append(contentsOf: owned.lazy.map { Int32($0) }) }
        column.removeAll(keepingCapacity: true)
        column.append(contentsOf: repeatElement(-1, count: videoCount))
        for (j, v) in videos.enumerated() { column[Int(v)] = Int32(j) }
        positiveColumn.removeAll(keepingCapacity: true)
        let column = self.column
        positiveColumn.append(contentsOf: global.queryVideo.lazy.map { column[Int($0)] })
    }
}
