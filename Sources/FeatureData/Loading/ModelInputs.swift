import TensorKit

/// Preprocessed video inputs for a list of videos, packed (llm.c style: one contiguous buffer,
/// sequences back to back).
///
/// - `clip`: videos.count × mapSize × Dv — video i's clip input is rows i·mapSize ..< (i+1)·mapSize.
/// - `frames`: Σ frameLengths × Dv — video i's frame input is rows
///   frameOffsets[i] ..< frameOffsets[i] + frameLengths[i] (min(T, max_ctx_l) rows).
/// The storages are owned by this value (and whoever keeps them); nothing else writes them.
public struct VideoInputs: Sendable {
    /// Split video indices, in the order requested.
    public let videos: [Int]
    public let visualDimension: Int
    public let mapSize: Int
    public let clip: FloatStorage
    public let frames: FloatStorage
    public let frameLengths: [Int]
    /// videos.count + 1 row offsets into `frames`.
    public let frameOffsets: [Int]
    /// T of each video as stored, before resampling.
    public let storedFrameCounts: [Int]

    public init(videos: [Int], visualDimension: Int, mapSize: Int, clip: FloatStorage, frames: FloatStorage, frameLengths: [Int],
                frameOffsets: [Int], storedFrameCounts: [Int]) {
        precondition(frameLengths.count == videos.count && frameOffsets.count == videos.count + 1 && storedFrameCounts.count == videos.count,
                     "video inputs: one frame length, offset and stored count per video")
        self.videos = videos
        self.visualDimension = visualDimension
        self.mapSize = mapSize
        self.clip = clip
        self.frames = frames
        self.frameLengths = frameLengths
        self.frameOffsets = frameOffsets
        self.storedFrameCounts = storedFrameCounts
    }

    public var count: Int { videos.count }
    /// The longest frame input (the padding length of a batch).
    public var longestFrameInput: Int { frameLengths.max() ?? 0 }

    /// Video i's clip input (mapSize × Dv floats).
    public func clipRows(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: clip.base + i * mapSize * visualDimension, count: mapSize * visualDimension)
    }

    /// Video i's frame input (frameLengths[i] × Dv floats).
    public func frameRows(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: frames.base + frameOffsets[i] * visualDimension, count: frameLengths[i] * visualDimension)
    }
}

/// Preprocessed query inputs, packed: query i's tokens are rows
/// tokenOffsets[i] ..< tokenOffsets[i] + tokenLengths[i] of `tokens` (Σ lengths × Dq), each
/// ≤ max_desc_l rows.
public struct QueryInputs: Sendable {
    /// Split caption indices, in the order requested.
    public let queries: [Int]
    public let queryDimension: Int
    public let tokens: FloatStorage
    public let tokenLengths: [Int]
    /// queries.count + 1 row offsets into `tokens`.
    public let tokenOffsets: [Int]

    public init(queries: [Int], queryDimension: Int, tokens: FloatStorage, tokenLengths: [Int], tokenOffsets: [Int]) {
        precondition(tokenLengths.count == queries.count && tokenOffsets.count == queries.count + 1,
                     "query inputs: one token length and offset per query")
        self.queries = queries
        self.queryDimension = queryDimension
        self.tokens = tokens
        self.tokenLengths = tokenLengths
        self.tokenOffsets = tokenOffsets
    }

    public var count: Int { queries.count }

    /// Query i's token rows (tokenLengths[i] × Dq floats).
    public func tokenRows(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: tokens.base + tokenOffsets[i] * queryDimension, count: tokenLengths[i] * queryDimension)
    }
}

/// A rank's part of a training batch: its videos and their captions, flattened in video order —
/// all of a video's captions in caption-file order (the reference collate's query order), or
/// one caption per video for a batch of (video, caption) pairs, where a video may come twice.
public struct TrainingBatch: Sendable {
    public let videos: VideoInputs
    public let queries: QueryInputs
    /// For each query, the position of its video in `videos.videos`.
    public let queryVideoPosition: [Int]

    public init(videos: VideoInputs, queries: QueryInputs, queryVideoPosition: [Int]) {
        precondition(queryVideoPosition.count == queries.count, "training batch: one video position per query")
        self.videos = videos
        self.queries = queries
        self.queryVideoPosition = queryVideoPosition
    }
}
