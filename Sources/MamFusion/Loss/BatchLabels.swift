/// Which video each query of a training batch belongs to (MODEL.md §4).
///
/// A batch holds V videos with **all** their captions; queries are flattened in video order, so
/// each video's queries are one contiguous run: `queryVideo` (y_q) is non-decreasing, starts at
/// 0, steps by 0 or 1, and every video has at least one query. Both views are kept because the
/// loss kernels need both: y_q per score row (t2v) and the query range per score column (v2t,
/// query-diverse blocks).
///
/// Video and query indices are positions in the **global** batch — the same on every rank.
public struct BatchLabels: Sendable, Equatable {
    /// y_q for each of the Q queries.
    public let queryVideo: [Int32]
    /// The queries of video v: `videoQueryRanges[v]`, contiguous, non-empty, in order.
    public let videoQueryRanges: [Range<Int>]

    /// Q: the number of queries (score-matrix rows).
    public var queryCount: Int { queryVideo.count }
    /// V: the number of videos (score-matrix columns).
    public var videoCount: Int { videoQueryRanges.count }
    /// The largest number of queries of one video (sizes the query-diverse workspace).
    public var largestVideo: Int { videoQueryRanges.map(\.count).max() ?? 0 }

    /// Labels from the number of captions of each video, in batch order.
    public init(queriesPerVideo: [Int]) throws(BatchLabelsError) {
        guard !queriesPerVideo.isEmpty else { throw .emptyBatch }
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(queriesPerVideo.count)
        var start = 0
        for (v, n) in queriesPerVideo.enumerated() {
            guard n >= 1 else { throw .videoWithoutQueries(video: v) }
            ranges.append(start ..< start + n)
            start += n
        }
        var labels = [Int32](repeating: 0, count: start)
        for (v, r) in ranges.enumerated() { for q in r { labels[q] = Int32(v) } }
        self.queryVideo = labels
        self.videoQueryRanges = ranges
    }

    /// Labels from y_q, checked: `videoCount` videos, each with a contiguous, non-empty run of
    /// queries in video order.
    public init(queryVideo: [Int32], videoCount: Int) throws(BatchLabelsError) {
        guard videoCount >= 1, !queryVideo.isEmpty else { throw .emptyBatch }
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(videoCount)
        var start = 0
        for q in 0 ..< queryVideo.count {
            let y = Int(queryVideo[q])
            guard y >= 0, y < videoCount else {
                throw .videoIndexOutOfRange(query: q, video: y, videoCount: videoCount)
            }
            let current = ranges.count  // the video whose run is open (ranges.count before closing it)
            if y == current { continue }
            if y == current + 1, q > 0 {
                ranges.append(start ..< q)
                start = q
                continue
            }
            // y == 0 at q == 0 is the `current` case; anything else breaks contiguity or skips a video.
            if y > current { throw .videoWithoutQueries(video: q == 0 ? 0 : current + 1) }
            throw .notContiguous(query: q, video: y)
        }
        ranges.append(start ..< queryVideo.count)
        guard ranges.count == videoCount else { throw .videoWithoutQueries(video: ranges.count) }
        self.queryVideo = queryVideo
        self.videoQueryRanges = ranges
    }
}

/// Why a batch's labels cannot be used by the loss.
public enum BatchLabelsError: Error, Equatable, CustomStringConvertible {
    /// No video or no query.
    case emptyBatch
    /// A video has no caption in the batch (the loss needs ≥ 1 positive per video).
    case videoWithoutQueries(video: Int)
    /// Query `query` names video `video`, outside 0..<videoCount.
    case videoIndexOutOfRange(query: Int, video: Int, videoCount: Int)
    /// Query `query` belongs to video `video`, whose run of queries ended earlier.
    case notContiguous(query: Int, video: Int)

    public var description: String {
        switch self {
        case .emptyBatch:
            return "batch labels: the batch has no video or no query"
        case .videoWithoutQueries(let v):
            return "batch labels: video \(v) has no query (every video of a batch needs at least one caption)"
        case .videoIndexOutOfRange(let q, let v, let n):
            return "batch labels: query \(q) names video \(v), outside 0..<\(n)"
        case .notContiguous(let q, let v):
            return "batch labels: query \(q) belongs to video \(v) but is not contiguous with that video's other queries (queries must be flattened in video order)"
        }
    }
}
