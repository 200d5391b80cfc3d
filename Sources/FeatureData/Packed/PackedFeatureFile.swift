import InputFiles
import HDF5Kit
import MPIKit

/// A packed HDF5 feature file (`PackedFormat`), opened by this process (serially) or by all
/// ranks of a communicator together (parallel HDF5 over MPI-IO: opening is then collective).
///
/// Opening reads and validates the index tables (every rank reads them: they are small) and
/// the format version; the features stay on disk and are read per shard by the split sources.
public final class PackedFeatureFile: Sendable {
    public let path: String
    public let file: HDF5File
    public let collection: String
    public let visualFeature: String
    public let sourceDescription: String
    public let visualDimension: Int
    public let queryDimension: Int
    public let videoIDs: [String]
    public let videoOffsets: [Int]
    public let capIDs: [String]
    public let queryOffsets: [Int]
    public let queryVideo: [Int]
    public let texts: [String]
    /// 32 or 64 per query: the precision the source stored it in.
    public let storedBits: [Int]
    /// Split names in file order, with their query ranges.
    public let splits: [(name: String, queries: Range<Int>)]
    let frames: HDF5Dataset
    let tokens: HDF5Dataset
    /// Whether /queries/features holds float64.
    public let queryIsDouble: Bool

    /// Opens `path`. A missing file, a file that is not HDF5 or is damaged, a file of another
    /// format or format version, and inconsistent tables are `FeatureDataError`s naming the file.
    public init(path: String, access: HDF5FileAccess = .serial) throws {
        let file = try withFileContext(path) { try HDF5File.open(path, access: access) }
        func fail(_ item: String?, _ problem: String) -> FeatureDataError { FeatureDataError(file: path, item: item, problem) }
        try withFileContext(path) {
            guard try file.hasAttribute("format"), let format = try? file.stringAttribute("format"), format == PackedFormat.name else {
                throw fail(nil, "not a packed feature file: root attribute 'format' is missing or not '\(PackedFormat.name)'")
            }
            let version = try file.int64Attribute("format_version")
            guard version == PackedFormat.version else {
                throw fail("attribute 'format_version'", "packed format version \(version); this build reads version \(PackedFormat.version) (re-run mamfusion convert)")
            }
        }
        let (collection, visualFeature, source, dv, dq) = try withFileContext(path) {
            (try file.stringAttribute("collection"), try file.stringAttribute("visual_feature"), try file.stringAttribute("source"),
             Int(try file.int64Attribute("dv")), Int(try file.int64Attribute("dq")))
        }
        let (frames, tokens, videoIDs, videoOffsets, capIDs, queryOffsets, queryVideo, texts) = try withFileContext(path) {
            (try file.openDataset(PackedFormat.frames), try file.openDataset(PackedFormat.tokenFeatures),
             try file.readStrings(PackedFormat.videoIDs), try file.readDataset(PackedFormat.videoOffsets, as: Int64.self).map { Int($0) },
             try file.readStrings(PackedFormat.capIDs), try file.readDataset(PackedFormat.queryOffsets, as: Int64.self).map { Int($0) },
             try file.readDataset(PackedFormat.queryVideo, as: Int64.self).map { Int($0) }, try file.readStrings(PackedFormat.queryText))
        }
        let storedBits = try withFileContext(path) { try file.readDataset(PackedFormat.queryBits, as: Int64.self).map { Int($0) } }
        guard storedBits.count == capIDs.count, storedBits.allSatisfy({ $0 == 32 || $0 == 64 }) else {
            throw fail("/\(PackedFormat.queryBits)", "\(storedBits.count) entries for \(capIDs.count) queries, each must be 32 or 64")
        }
        if tokens.elementType.size <= 4, storedBits.contains(64) {
            throw fail("/\(PackedFormat.queryBits)", "float64 queries recorded in a float32 dataset")
        }
        // Tables must agree with each other and with the feature datasets.
        // Bounded before any size is computed from them (FeatureLimits).
        if let problem = FeatureLimits.problem("dv", dv, maximum: FeatureLimits.maximumDimension)
            ?? FeatureLimits.problem("dq", dq, maximum: FeatureLimits.maximumDimension) {
            throw fail("attributes 'dv', 'dq'", problem)
        }
        for (name, dataset) in [(PackedFormat.frames, frames), (PackedFormat.tokenFeatures, tokens)] where dataset.shape.count == 2 {
            if let problem = FeatureLimits.problem("rows", dataset.shape[0], maximum: FeatureLimits.maximumRows, allowZero: true) {
                throw fail("/\(name)", problem)
            }
        }
        guard frames.shape.count == 2, frames.shape[1] == dv else {
            throw fail("/\(PackedFormat.frames)", "shape \(frames.shape) does not match dv = \(dv)")
        }
        guard tokens.shape.count == 2, tokens.shape[1] == dq else {
            throw fail("/\(PackedFormat.tokenFeatures)", "shape \(tokens.shape) does not match dq = \(dq)")
        }
        try Self.checkOffsets(videoOffsets, count: videoIDs.count, rows: frames.shape[0], name: "/\(PackedFormat.videoOffsets)", path: path)
        try Self.checkOffsets(queryOffsets, count: capIDs.count, rows: tokens.shape[0], name: "/\(PackedFormat.queryOffsets)", path: path)
        if let q = (0..<capIDs.count).first(where: { queryOffsets[$0 + 1] - queryOffsets[$0] > FeatureLimits.maximumTokens
                                                      || (queryOffsets[$0 + 1] - queryOffsets[$0]) * dq > FeatureLimits.maximumQueryFloats }) {
            throw fail("caption \(Excerpt.quote(capIDs[q]))", "\(queryOffsets[q + 1] - queryOffsets[q]) tokens of Dq = \(dq): more than the maximum of "
                       + "\(FeatureLimits.maximumTokens) tokens or \(FeatureLimits.maximumQueryFloats) floats per query")
        }
        guard queryVideo.count == capIDs.count, texts.count == capIDs.count else {
            throw fail("/queries", "\(capIDs.count) cap_ids but \(queryVideo.count) video indices and \(texts.count) texts")
        }
        if let bad = queryVideo.firstIndex(where: { $0 < 0 || $0 >= videoIDs.count }) {
            throw fail("caption '\(capIDs[bad])'", "video index \(queryVideo[bad]) outside 0..<\(videoIDs.count)")
        }
        let splits: [(name: String, queries: Range<Int>)] = try withFileContext(path) {
            var splits: [(name: String, queries: Range<Int>)] = []
            let names = (try file.stringAttribute("splits")).split(separator: ",").map(String.init)
            for name in names {
                let group = try file.openGroup("\(PackedFormat.splits)/\(name)")
                let start = Int(try group.int64Attribute("query_start")), count = Int(try group.int64Attribute("query_count"))
                guard start >= 0, count >= 0, start <= capIDs.count, count <= capIDs.count - start else {
                    throw fail("split '\(name)'", "query range start \(start), count \(count) outside 0..<\(capIDs.count)")
                }
                splits.append((name, start..<start + count))
            }
            return splits
        }
        self.path = path
        self.file = file
        self.collection = collection
        self.visualFeature = visualFeature
        self.sourceDescription = source
        self.visualDimension = dv
        self.queryDimension = dq
        self.videoIDs = videoIDs
        self.videoOffsets = videoOffsets
        self.capIDs = capIDs
        self.queryOffsets = queryOffsets
        self.queryVideo = queryVideo
        self.texts = texts
        self.storedBits = storedBits
        self.splits = splits
        self.frames = frames
        self.tokens = tokens
        self.queryIsDouble = tokens.elementType.size > 4
    }

    static func checkOffsets(_ offsets: [Int], count: Int, rows: Int, name: String, path: String) throws {
        guard offsets.count == count + 1, offsets.first == 0, offsets.last == rows else {
            throw FeatureDataError(file: path, item: name, "\(offsets.count) offsets for \(count) items ending at \(offsets.last ?? -1); expected \(count + 1) from 0 to \(rows)")
        }
        for i in 0..<count where offsets[i + 1] <= offsets[i] {
            throw FeatureDataError(file: path, item: name, "item \(i) has \(offsets[i + 1] - offsets[i]) rows (offsets must increase)")
        }
    }

    /// Frames of packed video `v`.
    public func frameRows(ofVideo v: Int) -> Range<Int> { videoOffsets[v]..<videoOffsets[v + 1] }
    /// Token rows of packed query `q`.
    public func tokenRows(ofQuery q: Int) -> Range<Int> { queryOffsets[q]..<queryOffsets[q + 1] }

    /// Opens split `name`. `transfer` chooses independent or collective MPI-IO reads on a
    /// parallel file (see `PackedFeatureSource`).
    public func split(_ name: String, transfer: HDF5Transfer = .independent) throws -> PackedFeatureSource {
        guard let split = splits.first(where: { $0.name == name }) else {
            throw FeatureDataError(file: path, item: "split '\(name)'", "no such split (the file holds: \(splits.map(\.name).joined(separator: ", ")))")
        }
        let range = split.queries
        let (globalVideos, videoOfCaption) = SplitIndex.firstAppearance(range.map { queryVideo[$0] })
        let captions = range.enumerated().map { i, q in SplitCaption(capID: capIDs[q], text: texts[q], videoIndex: videoOfCaption[i]) }
        let index = SplitIndex(collection: collection, split: name, source: path, videoIDs: globalVideos.map { videoIDs[$0] },
                               frameCounts: globalVideos.map { videoOffsets[$0 + 1] - videoOffsets[$0] }, captions: captions,
                               visualDimension: visualDimension, queryDimension: queryDimension)
        return PackedFeatureSource(file: self, index: index, packedVideos: globalVideos, firstQuery: range.lowerBound, transfer: transfer)
    }
}
