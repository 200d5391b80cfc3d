import HDF5Kit

/// One split of a packed file. Each read moves one hyperslab per run of consecutive rows (a
/// video, or several videos stored next to each other) straight into the caller's buffer.
///
/// On a parallel file with `.collective` transfers, every rank must call `readFrames` and
/// `readQueries` together (a rank with nothing to read passes an empty list); the ranks first
/// agree on the number of hyperslab rounds with one small all-reduce on the file's communicator,
/// so that call must not overlap other collectives on that communicator from another thread.
/// `.independent` transfers (the default) need no coordination.
public final class PackedFeatureSource: FeatureSource, Sendable {
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
