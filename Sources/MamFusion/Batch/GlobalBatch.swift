/// One global batch as the loss sees it, whatever rank holds which video (DISTRIBUTED.md §1):
/// a list of video *positions*, each with its queries flattened in position order (each
/// position's queries contiguous). Two compositions (`BatchComposition`):
/// - videos with all their captions (`init(sampled:…)`): videos ordered by frame count descending
///   — ties kept in sampler order, as the reference's stable `sort(key=len, reverse=True)` keeps
///   them — each with every caption, in caption-file order;
/// - (video, caption) pairs (`init(pairs:…)`), in sampler order: one caption per position; a
///   video drawn in two pairs holds two positions, each its own item.
///
/// Positions in this order are the *global indices* that key every random draw of the step.
public struct GlobalBatch: Sendable, Equatable {
    /// Dataset video indices, in global order.
    public let videos: [Int]
    /// Frame rows of each video after the max_ctx_l resampling: min(T, max_ctx_l).
    public let frameLengths: [Int]
    /// Dataset caption indices, in global order.
    public let queries: [Int]
    /// Captions per video (same order as `videos`).
    public let queriesPerVideo: [Int]
    /// First global query position of each video.
    public let queryOffsets: [Int]

    /// - Parameters:
    ///   - sampled: the sampler's video indices for this batch.
    ///   - storedFrames: T per dataset video; `captionsOfVideo` its captions in file order.
    public init(sampled: [Int], storedFrames: (Int) -> Int, maxContextLength: Int, captionsOfVideo: (Int) -> [Int]) {
        let lengths = sampled.map { min(storedFrames($0), maxContextLength) }
        // Stable sort by length, descending.
        let order = sampled.indices.sorted { a, b in lengths[a] != lengths[b] ? lengths[a] > lengths[b] : a < b }
        videos = order.map { sampled[$0] }
        frameLengths = order.map { lengths[$0] }
        var queries: [Int] = [], perVideo: [Int] = [], offsets: [Int] = []
        for v in videos {
            let captions = captionsOfVideo(v)
            offsets.append(queries.count)
            perVideo.append(captions.count)
            queries += captions
        }
        self.queries = queries
        queriesPerVideo = perVideo
        queryOffsets = offsets
    }

    /// Pairs in sampler order: position i is video `pairs[i].video` with the single query
    /// `pairs[i].caption`.
    /// - Parameters:
    ///   - storedFrames: T per dataset video.
    public init(pairs: [(video: Int, caption: Int)], storedFrames: (Int) -> Int, maxContextLength: Int) {
        videos = pairs.map(\.video)
        frameLengths = pairs.map { min(storedFrames($0.video), maxContextLength) }
        queries = pairs.map(\.caption)
        queriesPerVideo = Array(repeating: 1, count: pairs.count)
        queryOffsets = Array(pairs.indices)
    }

    public var videoCount: Int { videos.count }
    public var queryCount: Int { queries.count }
    /// The frame branch pads to the longest video of the global batch (the Gaussian sees it).
    public var paddedLength: Int { frameLengths.max() ?? 0 }
}

/// Which videos (and so which captions) each rank encodes: a deterministic split of the global
/// batch that balances work. Units are taken in global order (longest first) and each goes to
/// the rank with the least work so far (ties: lowest rank) — the classic longest-first greedy,
/// within 4/3 of the best balance. Work ≈ frame rows + clip rows + caption token rows.
///
/// A unit is the loss head's group of `TiledSimilarity.videoGroup` consecutive videos when the
/// batch has at least two groups per rank (a rank that owns a whole group scores it without
/// empty slots), else a single video.
public struct RankAssignment: Sendable, Equatable {
    /// Global video positions held by each rank, ascending.
    public let videosOfRank: [[Int]]
    /// Global query positions held by each rank, ascending (the captions of its videos).
    public let queriesOfRank: [[Int]]

    public init(batch: GlobalBatch, ranks: Int, mapSize: Int, tokensPerQuery: Int = 30) {
        let group = TiledSimilarity.videoGroup
        let unit = batch.videoCount >= 2 * ranks * group ? group : 1
        var load = [Int](repeating: 0, count: ranks)
        var videos = [[Int]](repeating: [], count: ranks)
        for first in stride(from: 0, to: batch.videoCount, by: unit) {
            let members = first..<min(first + unit, batch.videoCount)
            let work = members.reduce(0) { $0 + batch.frameLengths[$1] + mapSize + batch.queriesPerVideo[$1] * tokensPerQuery }
            var target = 0
            for r in 1..<ranks where load[r] < load[target] { target = r }
            load[target] += work
            videos[target].append(contentsOf: members)
        }
        videosOfRank = videos
        queriesOfRank = videos.map { vs in vs.flatMap { v in (0..<batch.queriesPerVideo[v]).map { batch.queryOffsets[v] + $0 } } }
    }
}
