import HDF5Kit
import MPIKit

/// A packed HDF5 feature file (`PackedFormat`), opened by this process (serially) or by all
/// ranks of a communicator together (parallel HDF5 over MPI-IO: opening is then collective).
///
/// Opening reads and validates the index tables (every rank reads them: they are small) and
/// the format version; the features stay on disk and are read per shard by the split sources.
public final class PackedFeatureFile: @unchecked Sendable {
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
        guard frames.shape.count == 2, frames.shape[1] == dv else {
            throw fail("/\(PackedFormat.frames)", "shape \(frames.shape) does not match dv = \(dv)")
        }
        guard tokens.shape.count == 2, tokens.shape[1] == dq else {
            throw fail("/\(PackedFormat.tokenFeatures)", "shape \(tokens.shape) does not match dq = \(dq)")
        }
        try Self.checkOffsets(videoOffsets, count: videoIDs.count, rows: frames.shape[0], name: "/\(PackedFormat.videoOffsets)", path: path)
        try Self.checkOffsets(queryOffsets, count: capIDs.count, rows: tokens.shape[0], name: "/\(PackedFormat.queryOffsets)", path: path)
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
                guard start >= 0, count >= 0, start + count <= capIDs.count else {
                    throw fail("split '\(name)'", "query range \(start)..<\(start + count) outside 0..<\(capIDs.count)")
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
        let (packedVideos, videoOfCaption) = SplitIndex.firstAppearance(range.map { String(queryVideo[$0]) })
        let globalVideos = packedVideos.map { Int($0)! }
        let captions = range.enumerated().map { i, q in SplitCaption(capID: capIDs[q], text: texts[q], videoIndex: videoOfCaption[i]) }
        let index = SplitIndex(collection: collection, split: name, source: path, videoIDs: globalVideos.map { videoIDs[$0] },
                               frameCounts: globalVideos.map { videoOffsets[$0 + 1] - videoOffsets[$0] }, captions: captions,
                               visualDimension: visualDimension, queryDimension: queryDimension)
        return PackedFeatureSource(file: self, index: index, packedVideos: globalVideos, firstQuery: range.lowerBound, transfer: transfer)
    }
}

/// One split of a packed file. Each read moves one hyperslab per run of consecutive rows (a
/// video, or several videos stored next to each other) straight into the caller's buffer.
///
/// On a parallel file with `.collective` transfers, every rank must call `readFrames` and
/// `readQueries` together (a rank with nothing to read passes an empty list); the ranks first
/// agree on the number of hyperslab rounds with one small all-reduce on the file's communicator,
/// so that call must not overlap other collectives on that communicator from another thread.
/// `.independent` transfers (the default) need no coordination.
public final class PackedFeatureSource: FeatureSource, @unchecked Sendable {
    public let file: PackedFeatureFile
    public let index: SplitIndex
    /// Packed video index of each split video.
    let packedVideos: [Int]
    /// Packed index of the split's first query (its queries are contiguous).
    let firstQuery: Int
    public let transfer: HDF5Transfer

    init(file: PackedFeatureFile, index: SplitIndex, packedVideos: [Int], firstQuery: Int, transfer: HDF5Transfer) {
        self.file = file
        self.index = index
        self.packedVideos = packedVideos
        self.firstQuery = firstQuery
        self.transfer = transfer
    }

    /// Consecutive row ranges merged into runs.
    static func runs(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for r in ranges where !r.isEmpty {
            if let last = runs.last, last.upperBound == r.lowerBound {
                runs[runs.count - 1] = last.lowerBound..<r.upperBound
            } else {
                runs.append(r)
            }
        }
        return runs
    }

    /// The number of hyperslab rounds: this rank's runs, or the maximum over ranks when
    /// collective.
    private func rounds(_ runs: Int) throws -> Int {
        guard transfer == .collective, let communicator = file.file.access.communicator else { return runs }
        return Int(try communicator.allreduce(Int64(runs), .max))
    }

    public func readFrames(of videos: [Int], into output: UnsafeMutablePointer<Float>) throws -> Int {
        let runs = Self.runs(videos.map { file.frameRows(ofVideo: packedVideos[$0]) })
        let dv = index.visualDimension
        let total = try rounds(runs.count)
        var cursor = 0
        try withFileContext(file.path, item: "/\(PackedFormat.frames)") {
            for k in 0..<total {
                let run = k < runs.count ? runs[k] : 0..<0
                try file.frames.readRows(run, into: UnsafeMutableBufferPointer(start: output + cursor * dv, count: run.count * dv), transfer: transfer)
                cursor += run.count
            }
        }
        return cursor * dv * 4
    }

    public func readQueries(_ queries: [Int]) throws -> (queries: [RawQuery], bytes: Int) {
        let rows = queries.map { file.tokenRows(ofQuery: firstQuery + $0) }
        let runs = Self.runs(rows)
        let dq = index.queryDimension
        let totalRows = rows.reduce(0) { $0 + $1.count }
        let total = try rounds(runs.count)
        return try withFileContext(file.path, item: "/\(PackedFormat.tokenFeatures)") {
            if file.queryIsDouble {
                let all = try readRuns(runs, rounds: total, rows: totalRows, as: Double.self)
                // Queries the source stored as float32 are handed out as float32 (exactly).
                var raw = split(all, rows) { .float64($0) }
                for (i, q) in queries.enumerated() where file.storedBits[firstQuery + q] == 32 {
                    if case .float64(let values) = raw[i].values {
                        raw[i] = RawQuery(tokenCount: raw[i].tokenCount, values: .float32(values.map { Float($0) }))
                    }
                }
                return (raw, totalRows * dq * 8)
            }
            let all = try readRuns(runs, rounds: total, rows: totalRows, as: Float.self)
            return (split(all, rows) { .float32($0) }, totalRows * dq * 4)
        }
    }

    private func readRuns<T: HDF5Scalar & Numeric>(_ runs: [Range<Int>], rounds: Int, rows: Int, as: T.Type) throws -> [T] {
        let dq = index.queryDimension
        var all = [T](repeating: 0, count: rows * dq)
        try all.withUnsafeMutableBufferPointer { buffer in
            var cursor = 0
            for k in 0..<rounds {
                let run = k < runs.count ? runs[k] : 0..<0
                try file.tokens.readRows(run, into: UnsafeMutableBufferPointer(rebasing: buffer[(cursor * dq)..<((cursor + run.count) * dq)]), transfer: transfer)
                cursor += run.count
            }
        }
        return all
    }

    private func split<T>(_ all: [T], _ rows: [Range<Int>], _ wrap: ([T]) -> TokenValues) -> [RawQuery] {
        let dq = index.queryDimension
        var cursor = 0
        return rows.map { r in
            defer { cursor += r.count }
            return RawQuery(tokenCount: r.count, values: wrap(Array(all[(cursor * dq)..<((cursor + r.count) * dq)])))
        }
    }

    public func locate(frame: Int, ofVideo video: Int) -> ItemLocation {
        let row = file.videoOffsets[packedVideos[video]] + frame
        return ItemLocation(file: file.path, item: "frame \(frame) of video '\(index.videoIDs[video])' (row \(row) of /\(PackedFormat.frames))")
    }

    public func locate(query: Int) -> ItemLocation {
        ItemLocation(file: file.path, item: "caption '\(index.captions[query].capID)' (/\(PackedFormat.tokenFeatures))")
    }
}
