import HDF5Kit
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// `mamfusion convert`: release layout → packed HDF5 (DATA.md §2), losslessly, and the
/// verification that re-reads both and compares them bit for bit.
///
/// Every split whose caption file exists (train, val, test) is converted. Videos are stored
/// once, in first-appearance order over the splits' caption files; frames are copied row for
/// row from `feature.bin` (bit-identical float32); token features keep their stored values
/// (float32, or float64 if the source stores float64; float16 is widened exactly).
public enum ReleaseConverter {
    /// Bytes done and total, for a progress bar.
    public typealias Progress = (_ done: Int, _ total: Int) -> Void

    public struct Summary: Sendable {
        public var splits: [(name: String, videos: Int, queries: Int)] = []
        public var videos = 0
        public var frames = 0
        public var tokens = 0
        /// Feature bytes copied (frames and tokens as stored).
        public var bytes = 0
        public var seconds = 0.0
        public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e6 : 0 }
    }

    /// What conversion and verification both need: the opened collection and its splits.
    struct Plan {
        let collection: ReleaseCollection
        let sources: [ReleaseFeatureSource]
        /// Packed video table: id and rows of `feature.bin`.
        let videoIDs: [String]
        let videoRows: [[Int32]]
        /// Per split, per caption: its packed video.
        let captionVideo: [[Int]]
        let tokenCounts: [[Int]]
        let queryIsDouble: Bool
        let queryElementBytes: Int
        let queryDimension: Int

        var totalFrames: Int { videoRows.reduce(0) { $0 + $1.count } }
        var totalTokens: Int { tokenCounts.reduce(0) { $0 + $1.reduce(0, +) } }
        var totalBytes: Int {
            totalFrames * collection.features.dimension * 4 + totalTokens * queryDimension * (queryIsDouble ? 8 : 4)
        }
    }

    static func plan(_ paths: CollectionPaths, visualDimension: Int?, queryDimension: Int?) throws -> Plan {
        let collection = try ReleaseCollection(paths: paths, visualDimension: visualDimension)
        let names = try collection.availableSplits
        guard !names.isEmpty else {
            throw FeatureDataError(file: paths.captionFile(split: "train"), "missing file: no caption file for train, val or test")
        }
        var sources: [ReleaseFeatureSource] = []
        var dq = queryDimension
        for name in names {
            let source = try collection.split(name, queryDimension: dq)
            dq = source.index.queryDimension
            sources.append(source)
        }
        var position: [String: Int] = [:]
        var videoIDs: [String] = []
        var videoRows: [[Int32]] = []
        var captionVideo: [[Int]] = []
        var tokenCounts: [[Int]] = []
        var anyDouble = false, widest = 0
        for source in sources {
            let index = source.index
            var local: [Int] = []
            for (v, id) in index.videoIDs.enumerated() {
                if let p = position[id] {
                    local.append(p)
                } else {
                    position[id] = videoIDs.count
                    local.append(videoIDs.count)
                    videoIDs.append(id)
                    videoRows.append(Array(source.frameRows[source.frameOffsets[v]..<source.frameOffsets[v + 1]]))
                }
            }
            captionVideo.append(index.captions.map { local[$0.videoIndex] })
            var counts: [Int] = []
            counts.reserveCapacity(index.captionCount)
            for caption in index.captions {
                let shape = try collection.queryShape(caption.capID, expected: index.queryDimension)
                counts.append(shape.tokens)
                anyDouble = anyDouble || shape.isDouble
            }
            widest = max(widest, anyDouble ? 8 : 4)
            tokenCounts.append(counts)
        }
        return Plan(collection: collection, sources: sources, videoIDs: videoIDs, videoRows: videoRows, captionVideo: captionVideo,
                    tokenCounts: tokenCounts, queryIsDouble: anyDouble, queryElementBytes: widest, queryDimension: dq ?? 0)
    }

    /// Converts the release layout at `paths` into the packed file `output` (written
    /// atomically). `visualDimension` / `queryDimension`, when given, must match the data.
    @discardableResult
    /// `chunked` stores the features in chunks of rows (see `PackedFormat`).
    public static func convert(_ paths: CollectionPaths, to output: String, visualDimension: Int? = nil, queryDimension: Int? = nil,
                               chunked: Bool = true, progress: Progress? = nil) throws -> Summary {
        let start = MonotonicClock.now()
        let plan = try plan(paths, visualDimension: visualDimension, queryDimension: queryDimension)
        let features = plan.collection.features
        let dv = features.dimension, dq = plan.queryDimension
        let header = PackedHeader(collection: paths.collection, visualFeature: paths.visualFeature,
                                  source: "MS-SL release layout at \(paths.root) (\(paths.collection), \(paths.visualFeature))",
                                  visualDimension: dv, queryDimension: dq, queryIsDouble: plan.queryIsDouble,
                                  totalFrames: plan.totalFrames, totalTokens: plan.totalTokens)
        let total = plan.totalBytes
        var summary = Summary()
        try withFileContext(output) {
            try HDF5File.writeAtomically(to: output) { file in
                let writer = try PackedFeatureWriter(file: file, header: header, chunked: chunked)
                var tables = PackedTables()
                var done = 0
                var buffer = [Float]()
                for (v, rows) in plan.videoRows.enumerated() {
                    if buffer.count < rows.count * dv { buffer = [Float](repeating: 0, count: rows.count * dv) }
                    try buffer.withUnsafeMutableBufferPointer { b in
                        try rows.withUnsafeBufferPointer { _ = try features.readRows($0, into: b.baseAddress!) }
                        try writer.appendFrames(UnsafeBufferPointer(rebasing: b[0..<(rows.count * dv)]))
                    }
                    done += rows.count * dv * 4
                    tables.videoIDs.append(plan.videoIDs[v])
                    tables.videoOffsets.append(tables.videoOffsets.last! + rows.count)
                    progress?(done, total)
                }
                for (s, source) in plan.sources.enumerated() {
                    let first = tables.capIDs.count
                    for (q, caption) in source.index.captions.enumerated() {
                        let raw = try source.readQueries([q]).queries[0]
                        try writer.appendTokens(raw.values)
                        done += raw.tokenCount * dq * (plan.queryIsDouble ? 8 : 4)
                        tables.capIDs.append(caption.capID)
                        tables.queryOffsets.append(tables.queryOffsets.last! + raw.tokenCount)
                        tables.queryVideo.append(plan.captionVideo[s][q])
                        tables.texts.append(caption.text)
                        if case .float64 = raw.values { tables.storedBits.append(64) } else { tables.storedBits.append(32) }
                        if q % 256 == 0 { progress?(done, total) }
                    }
                    tables.splits.append((source.index.split, first..<tables.capIDs.count))
                    summary.splits.append((source.index.split, source.index.videoCount, source.index.captionCount))
                }
                progress?(done, total)
                try writer.finish(tables)
            }
        }
        summary.videos = plan.videoIDs.count
        summary.frames = plan.totalFrames
        summary.tokens = plan.totalTokens
        summary.bytes = total
        summary.seconds = MonotonicClock.now() - start
        return summary
    }

    /// Re-reads the packed file `output` and the release layout at `paths` and compares
    /// everything: split membership and order, video ids and frame counts, every frame row and
    /// token row bit for bit, cap_ids and texts. The first difference is a `FeatureDataError`
    /// naming the item. Returns the bytes compared (per side).
    @discardableResult
    public static func verify(_ paths: CollectionPaths, packed output: String, progress: Progress? = nil) throws -> Int {
        let plan = try plan(paths, visualDimension: nil, queryDimension: nil)
        let packed = try PackedFeatureFile(path: output)
        let features = plan.collection.features
        let dv = features.dimension
        func mismatch(_ item: String, _ problem: String) -> FeatureDataError {
            FeatureDataError(file: output, item: item, "verification failed: \(problem)")
        }
        guard packed.visualDimension == dv, packed.queryDimension == plan.queryDimension else {
            throw mismatch("attributes dv/dq", "packed (\(packed.visualDimension), \(packed.queryDimension)) vs release (\(dv), \(plan.queryDimension))")
        }
        guard packed.videoIDs == plan.videoIDs else { throw mismatch("/video_ids", "video table differs from the release's first-appearance order") }
        guard packed.splits.map(\.name) == plan.sources.map(\.index.split) else {
            throw mismatch("splits", "packed \(packed.splits.map(\.name)) vs release \(plan.sources.map(\.index.split))")
        }
        let total = plan.totalBytes
        var done = 0
        var expected = [Float](), actual = [Float]()
        for (v, rows) in plan.videoRows.enumerated() {
            let range = packed.frameRows(ofVideo: v)
            guard range.count == rows.count else {
                throw mismatch("video '\(plan.videoIDs[v])'", "\(range.count) frames in the packed file, \(rows.count) in the release")
            }
            let n = rows.count * dv
            if expected.count < n { expected = [Float](repeating: 0, count: n); actual = expected }
            try expected.withUnsafeMutableBufferPointer { e in
                try rows.withUnsafeBufferPointer { _ = try features.readRows($0, into: e.baseAddress!) }
            }
            try actual.withUnsafeMutableBufferPointer { a in
                try withFileContext(output) { try packed.frames.readRows(range, into: a) }
            }
            if memcmp(expected, actual, n * 4) != 0 {
                let k = (0..<n).first { expected[$0].bitPattern != actual[$0].bitPattern } ?? 0
                throw mismatch("video '\(plan.videoIDs[v])'", "frame \(k / dv), column \(k % dv): packed \(actual[k]) vs release \(expected[k])")
            }
            done += n * 4
            progress?(done, total)
        }
        for (s, source) in plan.sources.enumerated() {
            let range = packed.splits[s].queries
            let index = source.index
            guard range.count == index.captionCount else {
                throw mismatch("split '\(index.split)'", "\(range.count) queries in the packed file, \(index.captionCount) in the release")
            }
            let packedSource = try packed.split(index.split)
            guard packedSource.index.videoIDs == index.videoIDs, packedSource.index.frameCounts == index.frameCounts else {
                throw mismatch("split '\(index.split)'", "videos or their order differ")
            }
            for (q, caption) in index.captions.enumerated() {
                let p = range.lowerBound + q
                guard packed.capIDs[p] == caption.capID, packed.texts[p] == caption.text, packed.queryVideo[p] == plan.captionVideo[s][q] else {
                    throw mismatch("caption '\(caption.capID)'", "cap_id, text or video differs (packed '\(packed.capIDs[p])')")
                }
                let release = try source.readQueries([q]).queries[0]
                let stored = try packedSource.readQueries([q]).queries[0]
                guard release.tokenCount == stored.tokenCount, equalBits(release.values, stored.values) else {
                    throw mismatch("caption '\(caption.capID)'", "token features differ (\(stored.tokenCount) vs \(release.tokenCount) tokens)")
                }
                done += release.tokenCount * plan.queryDimension * (plan.queryIsDouble ? 8 : 4)
                if q % 256 == 0 { progress?(done, total) }
            }
        }
        progress?(done, total)
        return done
    }

    /// Bit equality of token values, including their precision.
    static func equalBits(_ a: TokenValues, _ b: TokenValues) -> Bool {
        switch (a, b) {
        case (.float32(let x), .float32(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
        case (.float64(let x), .float64(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
        default:
            return false  // the stored precision decides the normalisation: it must be kept
        }
    }
}
