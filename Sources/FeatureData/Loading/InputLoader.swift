/// What training and evaluation read a split through, whatever the layout: the split's index,
/// and model inputs for lists of its videos and captions (`VideoInputs`, `QueryInputs`).
///
/// Conformers: `SplitLoader` (PRVR features: clip and frame inputs resampled and normalised
/// from the release or packed layout) and `CLIPTokenLoader` (MUSE: CLIP tokens and caption
/// embeddings as stored). Loads run one at a time (the prefetcher's thread); `statistics` may
/// be read from another thread.
public protocol InputLoader: AnyObject, Sendable {
    /// The split: videos in first-appearance order, captions (queries) in split order.
    var index: SplitIndex { get }
    /// Bytes and seconds of every load so far.
    var statistics: LoaderStatistics { get }
    /// Inputs of `videos` (split video indices; any order, repeats allowed).
    func loadVideos(_ videos: [Int]) throws -> VideoInputs
    /// Inputs of `queries` (split caption indices), in that order.
    func loadQueries(_ queries: [Int]) throws -> QueryInputs
    /// `videos` (repeats allowed) and exactly `queries`, query i belonging to the video at
    /// `queryVideoPosition[i]` of `videos`: one micro-batch as a step plan lists it.
    func loadBatch(videos: [Int], queries: [Int], queryVideoPosition: [Int]) throws -> TrainingBatch
}

extension InputLoader {
    public func loadBatch(videos: [Int], queries: [Int], queryVideoPosition: [Int]) throws -> TrainingBatch {
        precondition(queries.count == queryVideoPosition.count && queryVideoPosition.allSatisfy { videos.indices.contains($0) },
                     "loadBatch: one video position (within the videos) per query")
        return TrainingBatch(videos: try loadVideos(videos), queries: try loadQueries(queries), queryVideoPosition: queryVideoPosition)
    }
}
