import InputFiles
import HDF5Kit

/// A collection in the MS-SL release layout (DATA.md §1), opened once per process and shared by
/// its splits: the BigFile of visual features, `video2frames.txt` resolved to feature rows, and
/// the query-feature HDF5 file (opened serially: every rank opens its own handle).
///
/// Opening validates everything that does not need a split: `shape.txt` / `feature.bin` /
/// `id.txt` agreement, duplicate frame or video ids, frame ids missing from `id.txt`, and the
/// expected dimensions. `split(_:)` then validates one caption file against it.
public final class ReleaseCollection: Sendable {
    public let paths: CollectionPaths
    public let features: BigFile
    /// The query-feature file, opened serially.
    public let queryFile: HDF5File
    /// Names of the root-level datasets of the query file (one per cap_id).
    public let queryNames: Set<String>
    /// Videos of `video2frames.txt`, in file order.
    public let videoFrameLists: [VideoRows]
    private let videoByID: [String: Int]

    /// One video of `video2frames.txt` resolved to rows of `feature.bin`.
    public struct VideoRows: Sendable {
        public let videoID: String
        /// Rows of `feature.bin` in temporal order.
        public let rows: [Int32]
        /// Line of `video2frames.txt` where the video's entry starts.
        public let line: Int
    }

    /// Opens the collection at `paths`. `visualDimension`, when given (the configuration's
    /// `visual_feat_dim`), must match `shape.txt`.
    public init(paths: CollectionPaths, visualDimension: Int? = nil) throws {
        self.paths = paths
        features = try BigFile(directory: paths.featureDirectory)
        if let visualDimension, visualDimension != features.dimension {
            throw FeatureDataError(file: paths.shapeFile, line: 1, "visual features have D = \(features.dimension) but the configuration expects visual_feat_dim \(visualDimension)")
        }
        let framesPath = paths.videoFramesFile
        let entries = try VideoFramesLiteral.read(framesPath)
        var lists: [VideoRows] = []
        lists.reserveCapacity(entries.count)
        var byID: [String: Int] = [:]
        for entry in entries {
            var rows = [Int32]()
            rows.reserveCapacity(entry.frameIDs.count)
            for frame in entry.frameIDs {
                guard let row = features.row(of: frame) else {
                    throw FeatureDataError(file: framesPath, item: "frame \(Excerpt.quote(frame)) of video \(Excerpt.quote(entry.videoID))", line: entry.line,
                                           "frame id is not in \(paths.idFile)")
                }
                rows.append(Int32(row))
            }
            byID[entry.videoID] = lists.count
            lists.append(VideoRows(videoID: entry.videoID, rows: rows, line: entry.line))
        }
        videoFrameLists = lists
        videoByID = byID
        let queryPath = paths.queryFeatureFile
        let file = try withFileContext(queryPath) { try HDF5File.open(queryPath, access: .serial) }
        queryNames = Set(try withFileContext(queryPath) { try file.memberNames() })
        queryFile = file
    }

    /// The video of `video2frames.txt` named `id`, if any.
    public func video(_ id: String) -> VideoRows? { videoByID[id].map { videoFrameLists[$0] } }

    /// The caption files that exist, among train, val and test (in that order). A caption
    /// path that is there but cannot be followed (a symlink loop) is an error naming it.
    public var availableSplits: [String] {
        get throws { try ["train", "val", "test"].filter { try FileBytes.exists(paths.captionFile(split: $0)) } }
    }

    /// Opens split `split` (its caption file must exist). Checks that every caption's video has
    /// frames and every caption has query features; `queryDimension` (from the configuration),
    /// when given, is the expected Dq, else Dq is read from the first caption's features.
    public func split(_ split: String, queryDimension: Int? = nil) throws -> ReleaseFeatureSource {
        let captionPath = paths.captionFile(split: split)
        let lines = try CaptionFile.read(captionPath)
        let (videoIDs, videoOfCaption) = SplitIndex.firstAppearance(lines.map(\.videoID))
        var firstLine: [Int: Int] = [:]
        for (q, v) in videoOfCaption.enumerated() where firstLine[v] == nil { firstLine[v] = lines[q].line }
        var rows: [Int32] = []
        var offsets = [0]
        var counts: [Int] = []
        for (v, id) in videoIDs.enumerated() {
            let line = firstLine[v] ?? 0
            guard let video = video(id) else {
                let capID = lines.first(where: { $0.videoID == id })?.capID ?? id
                throw FeatureDataError(file: captionPath, item: "caption \(Excerpt.quote(capID))", line: line,
                                       "its video \(Excerpt.quote(id)) has no features (not in \(paths.videoFramesFile))")
            }
            guard !video.rows.isEmpty else {
                throw FeatureDataError(file: paths.videoFramesFile, item: "video \(Excerpt.quote(id))", line: video.line,
                                       "video has zero frames (used by \(captionPath):\(line))")
            }
            rows.append(contentsOf: video.rows)
            offsets.append(rows.count)
            counts.append(video.rows.count)
        }
        for caption in lines where !queryNames.contains(caption.capID) {
            throw FeatureDataError(file: paths.queryFeatureFile, item: "caption \(Excerpt.quote(caption.capID))",
                                   "caption id has no query features (listed at \(captionPath):\(caption.line))")
        }
        let dq: Int
        if let queryDimension {
            dq = queryDimension
        } else if let first = lines.first {
            dq = try queryShape(first.capID).dimension
        } else {
            dq = 0
        }
        let captions = zip(lines, videoOfCaption).map { SplitCaption(capID: $0.capID, text: $0.text, videoIndex: $1) }
        let index = SplitIndex(collection: paths.collection, split: split, source: paths.root, videoIDs: videoIDs,
                               frameCounts: counts, captions: captions, visualDimension: features.dimension, queryDimension: dq)
        return ReleaseFeatureSource(collection: self, index: index, frameRows: rows, frameOffsets: offsets,
                                    captionLines: lines.map(\.line), captionFile: captionPath)
    }

    /// Shape and stored type of the query features of `capID`, validated: a 2-D float dataset
    /// with at least one token (and `expected` floats per token when given).
    func queryShape(_ capID: String, expected: Int? = nil) throws -> (tokens: Int, dimension: Int, isDouble: Bool) {
        let file = paths.queryFeatureFile
        return try withFileContext(file, item: "caption \(Excerpt.quote(capID))") {
            let dataset = try queryFile.openDataset(capID)
            return try Self.validateQuery(dataset, capID: capID, file: file, expected: expected)
        }
    }

    static func validateQuery(_ dataset: HDF5Dataset, capID: String, file: String, expected: Int?) throws -> (tokens: Int, dimension: Int, isDouble: Bool) {
        guard case .float = dataset.elementType.kind else {
            throw FeatureDataError(file: file, item: "caption \(Excerpt.quote(capID))", "query features hold \(dataset.elementType), not floating-point numbers")
        }
        guard dataset.shape.count == 2 else {
            throw FeatureDataError(file: file, item: "caption \(Excerpt.quote(capID))", "query features have shape \(dataset.shape); expected (n_tokens, Dq)")
        }
        let (n, d) = (dataset.shape[0], dataset.shape[1])
        if let expected, d != expected {
            throw FeatureDataError(file: file, item: "caption \(Excerpt.quote(capID))", "query features have the wrong dimension: shape (\(n), \(d)), expected Dq = \(expected)")
        }
        guard n >= 1, d >= 1 else {
            throw FeatureDataError(file: file, item: "caption \(Excerpt.quote(capID))", "query features are empty: shape (\(n), \(d))")
        }
        if let problem = FeatureLimits.problem("tokens", n, maximum: FeatureLimits.maximumTokens)
            ?? FeatureLimits.problem("Dq", d, maximum: FeatureLimits.maximumDimension)
            ?? FeatureLimits.problem("n_tokens × Dq", n * d, maximum: FeatureLimits.maximumQueryFloats) {  // n·d ≤ 2^32: no overflow
            throw FeatureDataError(file: file, item: "caption \(Excerpt.quote(capID))", "query features of shape (\(n), \(d)): \(problem)")
        }
        return (n, d, dataset.elementType.size > 4)
    }
}
