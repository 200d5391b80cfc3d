import InputFiles
import MPIKit

/// What `mamfusion import` builds a collection from, and where it writes it.
public struct ImportRequest: Sendable {
    /// The output: the MS-SL release layout under a data root, or one packed HDF5 file.
    public enum Output: Sendable, Equatable {
        case release(root: String)
        case packed(file: String)
        /// The CLIP token layout of MUSE (`CLIPTokenFormat`): per video [T, 1+G², W] tokens, per
        /// caption a W-d end-of-text embedding, one padding frame.
        case clipTokens(file: String)

        public var layoutName: String {
            switch self {
            case .release: "release"
            case .packed: "packed"
            case .clipTokens: "clip-tokens"
            }
        }
    }

    public var captions: String
    public var captionsFormat: CaptionTable.Format
    /// The split of captions whose record names none.
    public var defaultSplit = "train"
    /// A directory of `<video_id>.npy|.npz` (T × Dv each) or an HDF5 file with a dataset per video.
    public var videos: String
    /// A directory of `<caption_id>.npy|.npz` (n_tokens × Dq each) or an HDF5 file with a dataset per caption.
    public var queries: String
    public var npzKey: String?
    public var collection: String
    public var visualFeature: String
    public var output: Output
    /// Packed output: feature datasets in chunks of rows (see `PackedFormat`).
    public var chunked = true
    /// CLIP token output: the `.npy` holding the padding frame's tokens [1+G², W], and the
    /// frames T every video is completed to (the most a video may have).
    public var paddingFrame: String?
    public var maxFrames = 12

    public init(captions: String, captionsFormat: CaptionTable.Format, videos: String, queries: String,
                collection: String, visualFeature: String, output: Output) {
        self.captions = captions
        self.captionsFormat = captionsFormat
        self.videos = videos
        self.queries = queries
        self.collection = collection
        self.visualFeature = visualFeature
        self.output = output
    }
}

/// An import, validated: which videos and captions go where, every array's size, and the
/// problems found. Built the same on every rank; the array headers are read shard by shard
/// (rank r reads the headers of its contiguous block of videos and of captions) and shared.
///
/// Checked, each problem naming the file and the id (all are listed, as `inspect` lists them):
/// caption ids given twice; ids holding whitespace, control characters or `/` (and `#` in a
/// video id: the release layout finds the video as the part of a cap_id before its first `#`);
/// splits other than train, val, test; captions whose video or query features are missing;
/// videos without any caption (they would be in no split); ids given by two files; arrays that
/// are not 2-D floats with at least one row, or exceed `FeatureLimits`; dimensions that differ
/// between videos or between captions. Values (NaN, ±Inf) are checked while they are copied.
///
/// For the CLIP token layout a video's array is [T, 1+G², W] (1 ≤ T ≤ `maxFrames`) and a
/// caption's is its [W] (or [1, W]) end-of-text embedding; every split lists its captions as
/// (video, caption) pairs.
public struct ImportPlan: Sendable {
    public let request: ImportRequest
    /// Captions in output order: split by split (train, val, test), in table order within one.
    public let captions: [ImportCaption]
    /// The splits present, with their range of `captions`.
    public let splits: [(name: String, captions: Range<Int>)]
    /// Videos in output order: first appearance over the splits' captions.
    public let videoIDs: [String]
    /// For each caption, its video (an index into `videoIDs`).
    public let captionVideo: [Int]
    public let frameCounts: [Int]
    /// Tokens per frame: 1 + G² for CLIP tokens, 1 for the PRVR layouts (a frame is one row).
    public let tokensPerFrame: Int
    public let tokenCounts: [Int]
    public let visualDimension: Int
    public let queryDimension: Int
    /// Whether each caption's token features are stored as float64 (kept as such).
    public let queryIsDouble: [Bool]
    /// Videos stored as float64 (rounded to float32: both layouts store frames in float32).
    public let doubleVideos: Int
    /// Cap_ids as written: the release layout needs `<video_id>#…` (`releaseCaptionID`).
    public let report: InspectionReport

    public var totalFrames: Int { frameCounts.reduce(0, +) }
    public var totalTokens: Int { tokenCounts.reduce(0, +) }
    public var isUsable: Bool { report.isUsable }

    /// The first `count · r / size` … block of `count` items that rank `r` of `size` handles.
    static func block(_ count: Int, rank: Int, size: Int) -> Range<Int> { (count * rank / size)..<(count * (rank + 1) / size) }

    /// The cap_id a caption gets in the release layout: its own when it already starts with
    /// `<video_id>#`, else `<video_id>#<caption_id>` (the layout finds a caption's video that way).
    public static func releaseCaptionID(_ caption: ImportCaption) -> String {
        caption.captionID.hasPrefix(caption.videoID + "#") ? caption.captionID : caption.videoID + "#" + caption.captionID
    }

    /// Why `id` cannot be an id, or nil.
    static func idProblem(_ id: String, isVideo: Bool) -> String? {
        if id.isEmpty { return "empty" }
        if id == "." || id == ".." { return "not a usable name" }
        for scalar in id.unicodeScalars {
            if scalar.value < 0x21 || scalar.value == 0x7F || (0x80...0xA0).contains(scalar.value) || scalar.properties.isWhitespace {
                return "holds whitespace or a control character"
            }
            if scalar == "/" { return "holds '/'" }
            if isVideo && scalar == "#" { return "holds '#' (the release layout ends a video id at the first '#' of a cap_id)" }
        }
        return nil
    }

    /// Reads the caption table and the array headers and validates everything but the values.
    /// Collective on `world` (the headers are read shard by shard and gathered).
    public static func make(_ request: ImportRequest, videos: FeatureArrays, queries: FeatureArrays, world: Communicator) throws -> ImportPlan {
        let table = try CaptionTable.read(request.captions, format: request.captionsFormat, defaultSplit: request.defaultSplit)
        let destination: String
        switch request.output {
        case .release(let root): destination = "\(root)/\(request.collection)"
        case .packed(let file), .clipTokens(let file): destination = file
        }
        var report = InspectionReport(layout: "import into the \(request.output.layoutName)", location: "\(request.captions) → \(destination)")
        report.collection = request.collection
        report.visualFeature = request.visualFeature
        report.details.append("videos: \(videos.path) (\(videos.ids.count) arrays); queries: \(queries.path) (\(queries.ids.count) arrays); captions: \(table.count) records")
        let list = { (items: [String]) in DatasetInspector.list(items) }

        // Ids and splits.
        var badIDs: [String] = [], badSplits: [String] = [], duplicates: [String] = []
        var firstLine: [String: Int] = [:]
        var keep: [ImportCaption] = []
        for caption in table {
            var usable = true
            if let problem = idProblem(caption.captionID, isVideo: false) {
                badIDs.append("caption \(Excerpt.quote(caption.captionID)) (line \(caption.line)): \(problem)"); usable = false
            }
            if let problem = idProblem(caption.videoID, isVideo: true) {
                badIDs.append("video \(Excerpt.quote(caption.videoID)) (line \(caption.line)): \(problem)"); usable = false
            }
            if !CaptionTable.splits.contains(caption.split) {
                badSplits.append("\(Excerpt.quote(caption.captionID)) (line \(caption.line): \(Excerpt.quote(caption.split)))"); usable = false
            }
            if let line = firstLine[caption.captionID] {
                duplicates.append("\(Excerpt.quote(caption.captionID)) (lines \(line) and \(caption.line))"); usable = false
            } else {
                firstLine[caption.captionID] = caption.line
            }
            if usable { keep.append(caption) }
        }
        if !duplicates.isEmpty { report.problems.append("\(request.captions): \(duplicates.count) duplicate caption ids: \(list(duplicates))") }
        if !badIDs.isEmpty { report.problems.append("\(request.captions): \(badIDs.count) unusable ids: \(list(badIDs))") }
        if !badSplits.isEmpty {
            report.problems.append("\(request.captions): \(badSplits.count) captions name a split other than train, val, test: \(list(badSplits))")
        }
        for source in [videos, queries] where !source.duplicates.isEmpty {
            let items = source.duplicates.keys.sorted().map { "\(Excerpt.quote($0)) (\(source.duplicates[$0]!.joined(separator: ", ")))" }
            report.problems.append("\(source.path): \(items.count) \(source.role) ids are given by two files: \(list(items))")
        }
        if !videos.ignored.isEmpty { report.notes.append("\(videos.path): \(videos.ignored.count) entries are not .npy/.npz arrays (ignored): \(list(videos.ignored.map { Excerpt.quote($0) }))") }
        if !queries.ignored.isEmpty { report.notes.append("\(queries.path): \(queries.ignored.count) entries are not .npy/.npz arrays (ignored): \(list(queries.ignored.map { Excerpt.quote($0) }))") }

        // Splits in order, videos by first appearance, missing features.
        var ordered: [ImportCaption] = []
        var splits: [(name: String, captions: Range<Int>)] = []
        for name in CaptionTable.splits {
            let start = ordered.count
            ordered += keep.filter { $0.split == name }
            if ordered.count > start { splits.append((name, start..<ordered.count)) }
        }
        var missingVideos: [String] = [], missingQueries: [String] = []
        for caption in ordered {
            if !videos.contains(caption.videoID) {
                missingVideos.append("\(Excerpt.quote(caption.captionID)) (line \(caption.line): video \(Excerpt.quote(caption.videoID)))")
            }
            if !queries.contains(caption.captionID) { missingQueries.append("\(Excerpt.quote(caption.captionID)) (line \(caption.line))") }
        }
        if !missingVideos.isEmpty {
            report.problems.append("\(missingVideos.count) captions have no video features in \(videos.path): \(list(missingVideos))")
        }
        if !missingQueries.isEmpty {
            report.problems.append("\(missingQueries.count) captions have no query features in \(queries.path): \(list(missingQueries))")
        }
        let (videoIDs, captionVideo) = SplitIndex.firstAppearance(ordered.map(\.videoID))
        let captioned = Set(table.map(\.videoID))
        let uncaptioned = videos.ids.filter { !captioned.contains($0) }
        if !uncaptioned.isEmpty {
            report.problems.append("\(videos.path): \(uncaptioned.count) videos have no caption (a video is in a split through its captions: "
                                   + "add captions or remove their files): \(list(uncaptioned.map { Excerpt.quote($0) }))")
        }
        let orphans = queries.ids.filter { firstLine[$0] == nil }
        if !orphans.isEmpty { report.notes.append("\(queries.path): \(orphans.count) query-feature arrays match no caption (not imported): \(list(orphans.map { Excerpt.quote($0) }))") }

        // Headers, shard by shard: (rows, columns, element bytes or 0 when unusable).
        // Headers are read for the arrays that are there; `videoSlot[v]` / `querySlot[q]` is the
        // place of video v / caption q among them (-1: missing, reported above).
        var videoSlot = [Int](repeating: -1, count: videoIDs.count), querySlot = [Int](repeating: -1, count: ordered.count)
        var presentVideos: [String] = [], presentQueries: [String] = []
        for (v, id) in videoIDs.enumerated() where videos.contains(id) { videoSlot[v] = presentVideos.count; presentVideos.append(id) }
        for (q, caption) in ordered.enumerated() where queries.contains(caption.captionID) { querySlot[q] = presentQueries.count; presentQueries.append(caption.captionID) }
        let clip = request.output.layoutName == "clip-tokens"
        let (videoShapes, videoProblems) = try gatherHeaders(presentVideos, source: videos, kind: clip ? .clipFrames(maximum: request.maxFrames) : .frames, world: world)
        let (queryShapes, queryProblems) = try gatherHeaders(presentQueries, source: queries, kind: clip ? .embedding : .tokens, world: world)
        report.problems += videoProblems + queryProblems
        let usableVideos = videoShapes.filter { $0.elementBytes > 0 }
        let dv = dominant(usableVideos.map(\.columns))
        let perFrame = clip ? dominant(usableVideos.map(\.perRow)) : 1
        let dq = dominant(queryShapes.filter { $0.elementBytes > 0 }.map(\.columns))
        let what = clip ? ("tokens", "[T, \(perFrame), \(dv)]") : ("features", "Dv = \(dv)")
        let odd = zip(presentVideos, videoShapes).filter { $0.1.elementBytes > 0 && ($0.1.columns != dv || $0.1.perRow != perFrame) }
        if !odd.isEmpty {
            report.problems.append("\(videos.path): \(odd.count) videos have \(what.0) of another shape than the others' \(what.1): "
                                   + list(odd.map { "\(Excerpt.quote($0.0)) (\($0.1.description))" }))
        }
        let oddQueries = zip(presentQueries, queryShapes).filter { $0.1.elementBytes > 0 && $0.1.columns != dq }
        if !oddQueries.isEmpty {
            report.problems.append("\(queries.path): \(oddQueries.count) captions have \(clip ? "embeddings" : "features") of another dimension than the others' \(clip ? "W" : "Dq") = \(dq): "
                                   + list(oddQueries.map { "\(Excerpt.quote($0.0)) (\($0.1.description))" }))
        }
        if clip && dv > 0 && dq > 0 && dv != dq {
            report.problems.append("caption embeddings have W = \(dq) but video tokens W = \(dv): both come from one CLIP's projection")
        }
        let doubles = videoShapes.filter { $0.elementBytes == 8 }.count
        if doubles > 0 { report.notes.append("\(doubles) videos are stored as float64: rounded to float32 (both layouts store frames in float32)") }
        if case .release = request.output {
            let renamed = ordered.filter { releaseCaptionID($0) != $0.captionID }.count
            if renamed > 0 { report.notes.append("\(renamed) caption ids become <video_id>#<caption_id> in the release layout (it finds a caption's video before the first '#')") }
        }

        let frameCounts = videoSlot.map { $0 < 0 ? 0 : videoShapes[$0].rows }
        let tokenCounts = querySlot.map { $0 < 0 ? 0 : queryShapes[$0].rows }
        report.visualDimension = dv
        report.queryDimension = dq
        for split in splits {
            var s = InspectionReport.Split(name: split.name)
            let videoSet = Array(Set(split.captions.map { captionVideo[$0] })).sorted()
            s.videos = videoSet.count
            s.queries = split.captions.count
            s.framesPerVideo = Distribution(videoSet.map { frameCounts[$0] })
            s.tokensPerQuery = Distribution(split.captions.map { tokenCounts[$0] })
            var perVideo: [Int: Int] = [:]
            for q in split.captions { perVideo[captionVideo[q], default: 0] += 1 }
            s.queriesPerVideo = Distribution(Array(perVideo.values))
            report.splits.append(s)
        }
        return ImportPlan(request: request, captions: ordered, splits: splits, videoIDs: videoIDs, captionVideo: captionVideo,
                          frameCounts: frameCounts, tokensPerFrame: perFrame, tokenCounts: tokenCounts, visualDimension: dv, queryDimension: dq,
                          queryIsDouble: querySlot.map { !clip && $0 >= 0 && queryShapes[$0].elementBytes == 8 }, doubleVideos: doubles, report: report)
    }

    /// The most frequent value (the smallest among ties; 0 for none).
    static func dominant(_ values: [Int]) -> Int {
        var counts: [Int: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        return counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? 0
    }

    /// What an array must be.
    enum ArrayKind: Sendable, Equatable {
        /// A video's frame features (T × Dv).
        case frames
        /// A caption's token features (n × Dq).
        case tokens
        /// A video's CLIP tokens [T, 1+G², W], 1 ≤ T ≤ maximum.
        case clipFrames(maximum: Int)
        /// A caption's end-of-text embedding [W] (or [1, W]).
        case embedding
    }

    /// An array's size as rows × perRow × columns (perRow 1 but for CLIP tokens).
    struct ArrayShape: Sendable, CustomStringConvertible {
        let rows: Int
        let perRow: Int
        let columns: Int
        /// 2, 4 or 8; 0 when the array is unusable (its problem is reported).
        let elementBytes: Int

        var count: Int { rows * perRow * columns }
        var description: String { perRow == 1 ? "\(rows)×\(columns)" : "\(rows)×\(perRow)×\(columns)" }
    }

    /// Reads and checks the headers of `ids` (this rank's block) and gathers every rank's
    /// results: the shapes of all `ids`, in order, and every problem.
    static func gatherHeaders(_ ids: [String], source: FeatureArrays, kind: ArrayKind, world: Communicator) throws -> ([ArrayShape], [String]) {
        let mine = block(ids.count, rank: world.rank, size: world.size)
        var numbers: [Int64] = []
        var problems: [String] = []
        for id in ids[mine] {
            do {
                let (shape, element) = try source.header(id)
                let size = try arrayShape(shape, kind: kind).get()
                numbers += [Int64(size.rows), Int64(size.perRow), Int64(size.columns), Int64(element.size)]
            } catch let problem as ShapeProblem {
                numbers += [0, 0, 0, 0]
                problems.append("\(FeatureDataError(file: source.location(id), item: "\(source.role) of \(Excerpt.quote(id))", problem.text))")
            } catch {
                numbers += [0, 0, 0, 0]
                problems.append("\(error)")
            }
        }
        let all = try world.allgatherv(numbers).values
        let shapes = stride(from: 0, to: all.count, by: 4).map {
            ArrayShape(rows: Int(all[$0]), perRow: Int(all[$0 + 1]), columns: Int(all[$0 + 2]), elementBytes: Int(all[$0 + 3]))
        }
        return (shapes, try gatherLines(problems, world: world))
    }

    struct ShapeProblem: Error {
        let text: String
    }

    /// The size of an array of `shape` that must be a `kind`, or why it cannot be one.
    static func arrayShape(_ shape: [Int], kind: ArrayKind) -> Result<ArrayShape, ShapeProblem> {
        let text = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        func fail(_ problem: String) -> Result<ArrayShape, ShapeProblem> { .failure(ShapeProblem(text: problem)) }
        func limits(_ problems: String?...) -> String? { problems.compactMap { $0 }.first }
        switch kind {
        case .frames, .tokens:
            let what = kind == .tokens ? "(tokens, Dq)" : "(frames, Dv)"
            guard shape.count == 2 else { return fail("shape \(text): expected 2-D \(what)") }
            guard shape[0] >= 1, shape[1] >= 1 else { return fail("empty: shape \(text), expected \(what) with at least one row") }
            let problem = kind == .tokens
                ? limits(FeatureLimits.problem("tokens", shape[0], maximum: FeatureLimits.maximumTokens),
                         FeatureLimits.problem("Dq", shape[1], maximum: FeatureLimits.maximumDimension),
                         FeatureLimits.problem("n_tokens × Dq", shape[0] * shape[1], maximum: FeatureLimits.maximumQueryFloats))
                : limits(FeatureLimits.problem("frames", shape[0], maximum: FeatureLimits.maximumRows),
                         FeatureLimits.problem("Dv", shape[1], maximum: FeatureLimits.maximumDimension))
            return problem.map(fail) ?? .success(ArrayShape(rows: shape[0], perRow: 1, columns: shape[1], elementBytes: 0))
        case .clipFrames(let maximum):
            guard shape.count == 3 else { return fail("shape \(text): expected 3-D (frames, 1 + G², W) CLIP tokens") }
            let (t, n, w) = (shape[0], shape[1], shape[2])
            if let problem = limits(FeatureLimits.problem("frames", t, maximum: maximum),
                                    FeatureLimits.problem("tokens per frame", n, maximum: CLIPTokenFormat.tokensPerFrame(grid: CLIPTokenFormat.maximumGrid)),
                                    FeatureLimits.problem("W", w, maximum: CLIPTokenFormat.maximumWidth)) {
                return fail("shape \(text): \(problem)\(t > maximum ? " (--max-frames)" : "")")
            }
            let grid = Int(Double(n - 1).squareRoot().rounded())
            guard n >= 2, grid * grid == n - 1 else { return fail("shape \(text): \(n) tokens per frame is not 1 + G² ([CLS] and a G×G patch grid)") }
            return .success(ArrayShape(rows: t, perRow: n, columns: w, elementBytes: 0))
        case .embedding:
            guard shape.count == 1 || (shape.count == 2 && shape[0] == 1) else { return fail("shape \(text): expected (W,) or (1, W): one end-of-text embedding") }
            let w = shape[shape.count - 1]
            if let problem = FeatureLimits.problem("W", w, maximum: CLIPTokenFormat.maximumWidth) { return fail("shape \(text): \(problem)") }
            return .success(ArrayShape(rows: 1, perRow: 1, columns: w, elementBytes: 0))
        }
    }

    /// Every rank's `lines`, in rank order, on every rank. Collective.
    static func gatherLines(_ lines: [String], world: Communicator) throws -> [String] {
        var bytes: [UInt8] = []
        for line in lines { bytes += Array(line.utf8) + [0] }
        let all = try world.allgatherv(bytes).values
        return all.split(separator: 0, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }
}
