/// One caption of a split, as the loader and the reports see it.
public struct SplitCaption: Sendable, Equatable {
    /// `<video_id>#enc#<k>`: the key of its query features.
    public let capID: String
    /// The sentence (for reports only).
    public let text: String
    /// Index of its video in `SplitIndex.videoIDs`.
    public let videoIndex: Int
}

/// What one split (train, val, test) holds, independent of the layout it is read from.
///
/// - Videos are numbered 0..<videoCount in **first-appearance order of the caption file**
///   (the reference's order: the evaluation encodes videos in this order, and ties in ranking
///   are broken by it).
/// - Captions (queries) are numbered 0..<captionCount in caption-file order.
/// - `videoCaptions[videoCaptionOffsets[v] ..< videoCaptionOffsets[v+1]]` are the captions of
///   video v, in caption-file order.
public struct SplitIndex: Sendable {
    public let collection: String
    /// "train", "val", "test" or any other caption-file suffix.
    public let split: String
    /// Where the data comes from (a directory or a packed file), for messages.
    public let source: String
    public let videoIDs: [String]
    /// T: frames of each video as stored (before any resampling).
    public let frameCounts: [Int]
    public let captions: [SplitCaption]
    public let videoCaptionOffsets: [Int]
    public let videoCaptions: [Int]
    /// Dv: floats per frame.
    public let visualDimension: Int
    /// Dq: floats per query token.
    public let queryDimension: Int

    public init(collection: String, split: String, source: String, videoIDs: [String], frameCounts: [Int],
                captions: [SplitCaption], visualDimension: Int, queryDimension: Int) {
        self.collection = collection
        self.split = split
        self.source = source
        self.videoIDs = videoIDs
        self.frameCounts = frameCounts
        self.captions = captions
        self.visualDimension = visualDimension
        self.queryDimension = queryDimension
        var counts = [Int](repeating: 0, count: videoIDs.count)
        for c in captions { counts[c.videoIndex] += 1 }
        var offsets = [0]
        offsets.reserveCapacity(videoIDs.count + 1)
        for n in counts { offsets.append(offsets[offsets.count - 1] + n) }
        var fill = Array(offsets.dropLast())
        var grouped = [Int](repeating: 0, count: captions.count)
        for (q, c) in captions.enumerated() {
            grouped[fill[c.videoIndex]] = q
            fill[c.videoIndex] += 1
        }
        videoCaptionOffsets = offsets
        videoCaptions = grouped
    }

    public var videoCount: Int { videoIDs.count }
    public var captionCount: Int { captions.count }

    /// The captions of video `v`, in caption-file order.
    public func captions(ofVideo v: Int) -> ArraySlice<Int> {
        videoCaptions[videoCaptionOffsets[v]..<videoCaptionOffsets[v + 1]]
    }

    /// Videos in first-appearance order of `captionVideoIDs` (one entry per caption), and the
    /// video index of each caption.
    static func firstAppearance<Key: Hashable>(_ captionVideoIDs: [Key]) -> (videos: [Key], indexOfCaption: [Int]) {
        var position: [Key: Int] = [:]
        var videos: [Key] = []
        var indices: [Int] = []
        indices.reserveCapacity(captionVideoIDs.count)
        for id in captionVideoIDs {
            if let p = position[id] {
                indices.append(p)
            } else {
                position[id] = videos.count
                indices.append(videos.count)
                videos.append(id)
            }
        }
        return (videos, indices)
    }
}
