import HDF5Kit
import Synchronization
import TensorKit

/// Model inputs from a CLIP token file (`CLIPTokenSplit`), in the shapes every model's encoders
/// take (`VideoInputs`, `QueryInputs`), with no preprocessing (MUSE's inputs are the stored
/// tokens themselves):
/// - a video is read as T frame rows of (1 + G²)·W floats (`visualDimension`): its real frames,
///   completed to T with the padding frame, each [CLS] then the patches (`frameLengths` = T, and
///   the index's `frameCounts` = T for every video: every video is read as T frames), while
///   `storedFrameCounts` are its **real** frame counts T_v (what MUSE's readout averages over);
///   there are no clip rows (`mapSize` 0);
/// - a query is one row: the caption's W-d end-of-text embedding (`tokenLengths` = 1).
///
/// The split's captions are its (video, caption) pairs in order, each naming its video by its
/// position among the split's distinct videos (first appearance), so `SplitIndex` describes a
/// pair split as it describes a caption file.
public final class CLIPTokenLoader: InputLoader, @unchecked Sendable {
    public let split: CLIPTokenSplit
    public let index: SplitIndex
    private let _statistics = Mutex(LoaderStatistics())

    // @unchecked Sendable: the split's reads go through HDF5Kit's lock; the statistics through a Mutex.
    public init(split: CLIPTokenSplit) {
        self.split = split
        let c = split.collection
        let captions = (0..<split.pairCount).map {
            SplitCaption(capID: split.captionID(ofPair: $0), text: split.captionText(ofPair: $0), videoIndex: split.pairVideo[$0])
        }
        index = SplitIndex(collection: c.collection, split: split.name, source: c.path, videoIDs: (0..<split.videoCount).map(split.videoID),
                           frameCounts: Array(repeating: c.maxFrames, count: split.videoCount), captions: captions,
                           visualDimension: c.tokensPerFrame * c.width, queryDimension: c.width)
    }

    public var statistics: LoaderStatistics { _statistics.withLock { $0 } }

    private func record(bytes: Int, seconds: Double) {
        _statistics.withLock {
            $0.loads += 1
            $0.bytesRead += bytes
            $0.readSeconds += seconds
        }
    }

    public func loadVideos(_ videos: [Int]) throws -> VideoInputs {
        let c = split.collection
        if let bad = videos.first(where: { $0 < 0 || $0 >= split.videoCount }) {
            throw FeatureDataError(file: c.path, item: "split '\(split.name)'", "video index \(bad) outside 0..<\(split.videoCount)")
        }
        let rows = c.maxFrames
        let t0 = MonotonicClock.now()
        let tokens = try FloatStorage(allocating: max(videos.count * c.videoFloats, 1), for: "the tokens of \(videos.count) videos")
        let bytes = try split.readVideos(videos, into: tokens.base)
        record(bytes: bytes, seconds: MonotonicClock.now() - t0)
        return VideoInputs(videos: videos, visualDimension: c.tokensPerFrame * c.width, mapSize: 0, clip: FloatStorage(count: 0), frames: tokens,
                           frameLengths: Array(repeating: rows, count: videos.count), frameOffsets: (0...videos.count).map { $0 * rows },
                           storedFrameCounts: videos.map(split.frameCount))
    }

    public func loadQueries(_ queries: [Int]) throws -> QueryInputs {
        let c = split.collection
        if let bad = queries.first(where: { $0 < 0 || $0 >= split.pairCount }) {
            throw FeatureDataError(file: c.path, item: "split '\(split.name)'", "caption (pair) index \(bad) outside 0..<\(split.pairCount)")
        }
        let t0 = MonotonicClock.now()
        let embeddings = try FloatStorage(allocating: max(queries.count * c.width, 1), for: "the embeddings of \(queries.count) captions")
        let bytes = try split.readCaptions(queries, into: embeddings.base)
        record(bytes: bytes, seconds: MonotonicClock.now() - t0)
        return QueryInputs(queries: queries, queryDimension: c.width, tokens: embeddings, tokenLengths: Array(repeating: 1, count: queries.count),
                           tokenOffsets: Array(0...queries.count))
    }
}
