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
///
/// Memory: the caption table is streamed, never held. The plan keeps, per caption, its id
/// (in an `IDTable`), the byte offset and line of its record (its text is read again from the
/// table when it is written: `CaptionTexts`) and a few 32-bit numbers; per video, its id and
/// frame count. About 40 bytes + the id per caption and 20 bytes + the id per video — the
/// features themselves are streamed one array at a time (`CollectionImporter`).
public struct ImportPlan: Sendable {
    public let request: ImportRequest
    /// Every distinct caption id of the table, in table order (entry c).
    let captionTable: IDTable
    /// Entry c: the byte offset and line of its record in the table.
    let recordOffset: [Int]
    let recordLine: [Int32]
    /// Entry c: its video, an entry of `videoTable`.
    let recordVideo: [Int32]
    /// Every video id the table names, in table order.
    let videoTable: IDTable
    /// Caption q (output order: split by split, in table order within one) is entry `captionEntry[q]`.
    let captionEntry: [Int32]
    /// Video v (output order: first appearance over the output's captions) is entry `videoEntry[v]`.
    let videoEntry: [Int32]
    /// For each caption, its video (an index of the output's videos).
    let captionVideos: [Int32]
    let frameCounts: [Int32]
    let tokenCounts: [Int32]
    /// The parser that read the table (it reads a record again for its text).
    let parser: CaptionTable.RecordParser
    /// The splits present, with their range of captions.
    public let splits: [(name: String, captions: Range<Int>)]
    /// Tokens per frame: 1 + G² for CLIP tokens, 1 for the PRVR layouts (a frame is one row).
    public let tokensPerFrame: Int
    public let visualDimension: Int
    public let queryDimension: Int
    /// Whether each caption's token features are stored as float64 (kept as such).
    public let queryIsDouble: [Bool]
    /// Videos stored as float64 (rounded to float32: both layouts store frames in float32).
    public let doubleVideos: Int
    public let report: InspectionReport
    public let totalFrames: Int
    public let totalTokens: Int

    public var isUsable: Bool { report.isUsable }
    public var videoCount: Int { videoEntry.count }
    public var captionCount: Int { captionEntry.count }
    public func videoID(_ v: Int) -> String { videoTable[Int(videoEntry[v])] }
    public func captionID(_ q: Int) -> String { captionTable[Int(captionEntry[q])] }
    public func captionVideo(_ q: Int) -> Int { Int(captionVideos[q]) }
    public func frameCount(_ v: Int) -> Int { Int(frameCounts[v]) }
    public func tokenCount(_ q: Int) -> Int { Int(tokenCounts[q]) }
    /// The split caption q is in.
    public func split(of q: Int) -> String { splits.first { $0.captions.contains(q) }!.name }

    /// The first `count · r / size` … block of `count` items that rank `r` of `size` handles.
    static func block(_ count: Int, rank: Int, size: Int) -> Range<Int> { (count * rank / size)..<(count * (rank + 1) / size) }

    /// The cap_id a caption gets in the release layout: its own when it already starts with
    /// `<video_id>#`, else `<video_id>#<caption_id>` (the layout finds a caption's video that way).
    public static func releaseCaptionID(captionID: String, videoID: String) -> String {
        captionID.hasPrefix(videoID + "#") ? captionID : videoID + "#" + captionID
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
        let destination: String
        switch request.output {
        case .release(let root): destination = "\(root)/\(request.collection)"
        case .packed(let file), .clipTokens(let file): destination = file
        }
        var report = InspectionReport(layout: "import into the \(request.output.layoutName)", location: "\(request.captions) → \(destination)")
        report.collection = request.collection
        report.visualFeature = request.visualFeature
        let list = { (items: [String]) in DatasetInspector.list(items) }

        // One pass over the table: ids, splits, duplicates. Records are not kept: a caption is
        // its entry in `captionTable`, its record's place in the file, its video and its split.
        var captionTable = IDTable(), videoTable = IDTable()
        var recordOffset: [Int] = [], recordLine: [Int32] = [], recordVideo: [Int32] = []
        /// Entry c's split (an index of `CaptionTable.splits`), or −1 when it is not imported.
        var recordSplit: [Int8] = []
        var badIDs: [String] = [], badSplits: [String] = [], duplicates: [String] = []
        var records = 0
        let parser = try CaptionTable.forEachRecord(request.captions, format: request.captionsFormat, defaultSplit: request.defaultSplit) { caption, offset in
            records += 1
            var usable = true
            if let problem = idProblem(caption.captionID, isVideo: false) {
                badIDs.append("caption \(Excerpt.quote(caption.captionID)) (line \(caption.line)): \(problem)"); usable = false
            }
            if let problem = idProblem(caption.videoID, isVideo: true) {
                badIDs.append("video \(Excerpt.quote(caption.videoID)) (line \(caption.line)): \(problem)"); usable = false
            }
            let split = CaptionTable.splits.firstIndex(of: caption.split)
            if split == nil {
                badSplits.append("\(Excerpt.quote(caption.captionID)) (line \(caption.line): \(Excerpt.quote(caption.split)))"); usable = false
            }
            let video = videoTable.insert(caption.videoID).index
            let (entry, inserted) = captionTable.insert(caption.captionID)
            guard inserted else {
                duplicates.append("\(Excerpt.quote(caption.captionID)) (lines \(recordLine[entry]) and \(caption.line))")
                return
            }
            recordOffset.append(offset)
            recordLine.append(Int32(clamping: caption.line))
            recordVideo.append(Int32(video))
            recordSplit.append(usable ? Int8(split!) : -1)
        }
        report.details.append("videos: \(videos.path) (\(videos.count) arrays); queries: \(queries.path) (\(queries.count) arrays); captions: \(records) records")
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
        var captionEntry: [Int32] = []
        var splits: [(name: String, captions: Range<Int>)] = []
        for (s, name) in CaptionTable.splits.enumerated() {
            let start = captionEntry.count
            for c in recordSplit.indices where recordSplit[c] == Int8(s) { captionEntry.append(Int32(c)) }
            if captionEntry.count > start { splits.append((name, start..<captionEntry.count)) }
        }
        recordSplit = []
        var missingVideos: [String] = [], missingQueries: [String] = []
        var videoOf = [Int32](repeating: -1, count: videoTable.count)
        var videoEntry: [Int32] = [], captionVideos: [Int32] = []
        captionVideos.reserveCapacity(captionEntry.count)
        // Whether each video's and each caption's array is there (asked once per id).
        var videoPresent: [Bool] = [], queryPresent: [Bool] = []
        queryPresent.reserveCapacity(captionEntry.count)
        for c in captionEntry.lazy.map({ Int($0) }) {
            let entry = Int(recordVideo[c])
            if videoOf[entry] < 0 {
                videoOf[entry] = Int32(videoEntry.count)
                videoEntry.append(Int32(entry))
                videoPresent.append(videos.contains(videoTable[entry]))
            }
            let v = Int(videoOf[entry])
            captionVideos.append(Int32(v))
            let captionID = captionTable[c]
            if !videoPresent[v] {
                missingVideos.append("\(Excerpt.quote(captionID)) (line \(recordLine[c]): video \(Excerpt.quote(videoTable[entry])))")
            }
            queryPresent.append(queries.contains(captionID))
            if !queryPresent.last! { missingQueries.append("\(Excerpt.quote(captionID)) (line \(recordLine[c]))") }
        }
        videoOf = []
        if !missingVideos.isEmpty {
            report.problems.append("\(missingVideos.count) captions have no video features in \(videos.path): \(list(missingVideos))")
        }
        if !missingQueries.isEmpty {
            report.problems.append("\(missingQueries.count) captions have no query features in \(queries.path): \(list(missingQueries))")
        }
        var uncaptioned: [String] = [], orphans: [String] = []
        try videos.forEachID { if videoTable.index(of: $0) == nil { uncaptioned.append($0) } }
        try queries.forEachID { if captionTable.index(of: $0) == nil { orphans.append($0) } }
        if !uncaptioned.isEmpty {
            report.problems.append("\(videos.path): \(uncaptioned.count) videos have no caption (a video is in a split through its captions: "
                                   + "add captions or remove their files): \(list(uncaptioned.sorted().map { Excerpt.quote($0) }))")
        }
        if !orphans.isEmpty { report.notes.append("\(queries.path): \(orphans.count) query-feature arrays match no caption (not imported): \(list(orphans.sorted().map { Excerpt.quote($0) }))") }

        // Headers, shard by shard. Headers are read for the arrays that are there;
        // `presentVideos` / `presentQueries` list the videos / captions whose arrays are there
        // (the others are reported above).
        let presentVideos = Array(videoPresent.indices.lazy.filter { videoPresent[$0] }.map { Int32($0) })
        let presentQueries = Array(queryPresent.indices.lazy.filter { queryPresent[$0] }.map { Int32($0) })
        videoPresent = []
        queryPresent = []
        let clip = request.output.layoutName == "clip-tokens"
        let videoShapes = try gatherHeaders(presentVideos.count, id: { videoTable[Int(videoEntry[Int(presentVideos[$0])])] }, source: videos,
                                            kind: clip ? .clipFrames(maximum: request.maxFrames) : .frames, world: world)
        let queryShapes = try gatherHeaders(presentQueries.count, id: { captionTable[Int(captionEntry[Int(presentQueries[$0])])] }, source: queries,
                                            kind: clip ? .embedding : .tokens, world: world)
        report.problems += videoShapes.problems + queryShapes.problems
        let usableVideos = videoShapes.shapes.lazy.filter { $0.elementBytes > 0 }
        let dv = dominant(usableVideos.map(\.columns))
        let perFrame = clip ? dominant(usableVideos.map(\.perRow)) : 1
        let dq = dominant(queryShapes.shapes.lazy.filter { $0.elementBytes > 0 }.map(\.columns))
        let what = clip ? ("tokens", "[T, \(perFrame), \(dv)]") : ("features", "Dv = \(dv)")
        let odd = videoShapes.shapes.indices.filter { videoShapes.shapes[$0].elementBytes > 0 && (videoShapes.shapes[$0].columns != dv || videoShapes.shapes[$0].perRow != perFrame) }
        if !odd.isEmpty {
            report.problems.append("\(videos.path): \(odd.count) videos have \(what.0) of another shape than the others' \(what.1): "
                                   + list(odd.map { "\(Excerpt.quote(videoTable[Int(videoEntry[Int(presentVideos[$0])])])) (\(videoShapes.shapes[$0].description))" }))
        }
        let oddQueries = queryShapes.shapes.indices.filter { queryShapes.shapes[$0].elementBytes > 0 && queryShapes.shapes[$0].columns != dq }
        if !oddQueries.isEmpty {
            report.problems.append("\(queries.path): \(oddQueries.count) captions have \(clip ? "embeddings" : "features") of another dimension than the others' \(clip ? "W" : "Dq") = \(dq): "
                                   + list(oddQueries.map { "\(Excerpt.quote(captionTable[Int(captionEntry[Int(presentQueries[$0])])])) (\(queryShapes.shapes[$0].description))" }))
        }
        if clip && dv > 0 && dq > 0 && dv != dq {
            report.problems.append("caption embeddings have W = \(dq) but video tokens W = \(dv): both come from one CLIP's projection")
        }
        let doubles = videoShapes.shapes.lazy.filter { $0.elementBytes == 8 }.count
        if doubles > 0 { report.notes.append("\(doubles) videos are stored as float64: rounded to float32 (both layouts store frames in float32)") }
        if case .release = request.output {
            var renamed = 0
            for q in captionEntry.indices {
                let captionID = captionTable[Int(captionEntry[q])], videoID = videoTable[Int(videoEntry[Int(captionVideos[q])])]
                if releaseCaptionID(captionID: captionID, videoID: videoID) != captionID { renamed += 1 }
            }
            if renamed > 0 { report.notes.append("\(renamed) caption ids become <video_id>#<caption_id> in the release layout (it finds a caption's video before the first '#')") }
        }

        var frameCounts = [Int32](repeating: 0, count: videoEntry.count), tokenCounts = [Int32](repeating: 0, count: captionEntry.count)
        var queryIsDouble = [Bool](repeating: false, count: captionEntry.count)
        for (slot, v) in presentVideos.lazy.map({ Int($0) }).enumerated() { frameCounts[v] = Int32(videoShapes.shapes[slot].rows) }
        for (slot, q) in presentQueries.lazy.map({ Int($0) }).enumerated() {
            tokenCounts[q] = Int32(queryShapes.shapes[slot].rows)
            queryIsDouble[q] = !clip && queryShapes.shapes[slot].elementBytes == 8
        }
        report.visualDimension = dv
        report.queryDimension = dq
        var perVideo = [Int32](repeating: 0, count: videoEntry.count)
        for split in splits {
            var s = InspectionReport.Split(name: split.name)
            var splitVideos: [Int] = []
            for q in split.captions {
                let v = Int(captionVideos[q])
                if perVideo[v] == 0 { splitVideos.append(v) }
                perVideo[v] += 1
            }
            s.videos = splitVideos.count
            s.queries = split.captions.count
            s.framesPerVideo = Distribution(splitVideos.map { Int(frameCounts[$0]) })
            s.tokensPerQuery = Distribution(split.captions.map { Int(tokenCounts[$0]) })
            s.queriesPerVideo = Distribution(splitVideos.map { Int(perVideo[$0]) })
            for v in splitVideos { perVideo[v] = 0 }
            report.splits.append(s)
        }
        return ImportPlan(request: request, captionTable: captionTable, recordOffset: recordOffset, recordLine: recordLine, recordVideo: recordVideo,
                          videoTable: videoTable, captionEntry: captionEntry, videoEntry: videoEntry, captionVideos: captionVideos,
                          frameCounts: frameCounts, tokenCounts: tokenCounts, parser: parser, splits: splits, tokensPerFrame: perFrame,
                          visualDimension: dv, queryDimension: dq, queryIsDouble: queryIsDouble, doubleVideos: doubles, report: report,
                          totalFrames: frameCounts.reduce(0) { $0 + Int($1) }, totalTokens: tokenCounts.reduce(0) { $0 + Int($1) })
    }

    /// The texts of the plan's captions, read again from the table in caption order (in order,
    /// one read per MiB of table). A record that no longer holds its caption — the table was
    /// changed during the import — is an error naming the file and line.
    final class CaptionTexts {
        private let plan: ImportPlan
        private let reader: CaptionTable.RecordReader

        init(_ plan: ImportPlan) throws {
            self.plan = plan
            reader = try CaptionTable.RecordReader(plan.parser)
        }

        func text(_ q: Int) throws -> String {
            let c = Int(plan.captionEntry[q]), line = Int(plan.recordLine[c])
            let record = try reader.record(at: plan.recordOffset[c], line: line)
            guard let record, record.captionID == plan.captionTable[c], record.videoID == plan.videoID(plan.captionVideo(q)) else {
                throw FeatureDataError(file: plan.request.captions, line: line,
                                       "changed while being imported: caption \(Excerpt.quote(plan.captionTable[c])) is no longer on this line")
            }
            return record.text
        }
    }

    /// The most frequent value (the smallest among ties; 0 for none).
    static func dominant<Values: Sequence<Int>>(_ values: Values) -> Int {
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

    /// The shapes of many arrays as gathered: 4 × 32-bit numbers each (rows, perRow, columns,
    /// element bytes — all within `FeatureLimits`), read as `ArrayShape`s (an import reads
    /// hundreds of thousands of headers).
    struct ArrayShapes: RandomAccessCollection {
        let numbers: [Int32]
        var startIndex: Int { 0 }
        var endIndex: Int { numbers.count / 4 }
        subscript(i: Int) -> ArrayShape {
            ArrayShape(rows: Int(numbers[4 * i]), perRow: Int(numbers[4 * i + 1]), columns: Int(numbers[4 * i + 2]), elementBytes: Int(numbers[4 * i + 3]))
        }
    }

    /// Reads and checks the headers of the `count` arrays `id(0)`, `id(1)`, … and gathers
    /// every rank's results: the shapes of all, in order, and every problem. Done in rounds of
    /// `headerRound` arrays, each rank reading its block of a round, so that what is exchanged
    /// at once stays small.
    static func gatherHeaders(_ count: Int, id: (Int) -> String, source: FeatureArrays, kind: ArrayKind,
                              world: Communicator) throws -> (shapes: ArrayShapes, problems: [String]) {
        var shapes: [Int32] = []
        shapes.reserveCapacity(4 * count)
        var problems: [String] = []
        var numbers: [Int32] = []
        for start in stride(from: 0, to: count, by: headerRound) {
            let round = start..<min(start + headerRound, count)
            let mine = block(round.count, rank: world.rank, size: world.size)
            numbers.removeAll(keepingCapacity: true)
            for i in mine.lazy.map({ round.lowerBound + $0 }) {
                let id = id(i)
                do {
                    let (shape, element) = try source.header(id)
                    let size = try arrayShape(shape, kind: kind).get()
                    numbers += [Int32(clamping: size.rows), Int32(clamping: size.perRow), Int32(clamping: size.columns), Int32(element.size)]
                } catch let problem as ShapeProblem {
                    numbers += [0, 0, 0, 0]
                    problems.append("\(FeatureDataError(file: source.location(id), item: "\(source.role) of \(Excerpt.quote(id))", problem.text))")
                } catch {
                    numbers += [0, 0, 0, 0]
                    problems.append("\(error)")
                }
            }
            shapes += try world.allgatherv(numbers).values
        }
        return (ArrayShapes(numbers: shapes), try gatherLines(problems, world: world))
    }

    /// Arrays whose headers are exchanged at once.
    static let headerRound = 1 << 16

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
