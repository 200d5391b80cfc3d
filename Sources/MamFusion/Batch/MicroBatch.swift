/// A run of consecutive videos of one rank's share of a global batch, with all their captions:
/// what one encoder pass of a step takes (`micro_batch`, DISTRIBUTED.md §3b). Positions are
/// *local*: video j is the rank's j-th video (`RankAssignment.videosOfRank[rank][j]`), query i
/// its i-th caption (`queriesOfRank[rank][i]`); a video's captions follow it.
public struct MicroBatch: Sendable, Equatable, Hashable {
    /// Its place among the step's micro-batches (0 first).
    public let index: Int
    public let videos: Range<Int>
    public let queries: Range<Int>

    public init(index: Int, videos: Range<Int>, queries: Range<Int>) {
        self.index = index
        self.videos = videos
        self.queries = queries
    }

    /// The rank's share of `batch` cut into micro-batches of `size` videos (0: the whole share
    /// in one); none when the rank holds no video.
    public static func partition(batch: GlobalBatch, assignment: RankAssignment, rank: Int, size: Int) -> [MicroBatch] {
        let videos = assignment.videosOfRank[rank]
        guard !videos.isEmpty else { return [] }
        var firstQuery = [0]
        for v in videos { firstQuery.append(firstQuery.last! + batch.queriesPerVideo[v]) }
        let step = size > 0 ? size : videos.count
        return stride(from: 0, to: videos.count, by: step).enumerated().map { index, start in
            let end = min(start + step, videos.count)
            return MicroBatch(index: index, videos: start..<end, queries: firstQuery[start]..<firstQuery[end])
        }
    }
}
