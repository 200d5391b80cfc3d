import HDF5Kit
import MPIKit
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The embedding index of encode-once / query-many evaluation (encode a split's videos once, score many query sets against them): every test video's
/// normalised clip and frame embeddings with its id, in one HDF5 file.
///
/// Layout:
/// - `/clip`  float32 [V, Mc, d] — ĉ, row v = global video v;
/// - `/frame` float32 [V, d]     — f̂;
/// - `/video_ids` variable-length UTF-8 strings [V];
/// - root attributes `format` = "mamfusion-embedding-index", `version` = 1, `videos` = V,
///   `clips_per_video` = Mc, `dim` = d.
///
/// **Writing** is collective: every rank writes its own rows of `/clip` and `/frame` in
/// parallel through MPI-IO (collective transfers, in batches of ≤ 64 MiB so no single MPI-IO
/// request nears 2 GiB). Parallel HDF5 cannot write variable-length strings, so the ids (and
/// the string attribute) are added afterwards by rank 0 alone, reopening the file serially
/// (without a communicator, one process writes everything in a single open).
/// All of it goes to `PATH.tmp`, which rank 0 syncs and renames to `PATH` only when everything
/// succeeded: a reader never sees a partial index.
///
/// **Reading** is per rank: each rank opens the file read-only on its own and reads just its
/// rows (`read(_:videos:)`), e.g. `VideoPartition.videos(of: rank)`.
public enum EmbeddingIndex {
    public static let format = "mamfusion-embedding-index"
    public static let version: Int64 = 1
    /// Rows per write request are capped at this many bytes.
    static let batchBytes = 64 << 20

    /// What an index holds.
    public struct Header: Sendable, Equatable {
        public let videos: Int
        public let clipsPerVideo: Int
        public let dim: Int
        public init(videos: Int, clipsPerVideo: Int, dim: Int) {
            self.videos = videos
            self.clipsPerVideo = clipsPerVideo
            self.dim = dim
        }
    }

    /// Writes the index (collective over `world`; a world of one rank holds every video).
    /// Each rank passes its shard — consecutive global videos; the ranks' shards together cover
    /// 0..<V without overlap — and the ids of its own videos (`videoIDs.count == shard.count`).
    /// Several ranks write through MPI-IO: their world must be MPI.
    public static func write(to path: String, shard: VideoShard, videoIDs: [String], world: any World) throws {
        let ranks = world.size, me = world.rank
        let access = HDF5FileAccess.shared(by: world), communicator = access.communicator
        guard ranks == 1 || communicator != nil else {
            throw EvaluationError.invalidInput("an index written by \(ranks) ranks needs an MPI world (MPI-IO)")
        }
        let start = shard.globalIndices.first ?? 0
        var problem: String? = nil
        if videoIDs.count != shard.count {
            problem = "rank \(me): \(videoIDs.count) ids for \(shard.count) videos"
        } else if let last = shard.globalIndices.last, last - start + 1 != shard.count {
            problem = "rank \(me): videos are not consecutive (\(start)…\(last) holds \(shard.count))"
        }
        // Every rank learns every rank's (problem, start, count, Mc, d).
        let all = try world.agreeOnFailure(problem.map { EvaluationError.invalidInput($0) },
                                           values: [Int64(start), Int64(shard.count), Int64(shard.clipsPerVideo), Int64(shard.dim)])
        let pieces = (0..<ranks).map { (start: Int(all[$0][0]), count: Int(all[$0][1])) }
        let total = pieces.reduce(0) { $0 + $1.count }
        var covered = 0
        for piece in pieces.filter({ $0.count > 0 }).sorted(by: { $0.start < $1.start }) {
            guard piece.start == covered else {
                throw EvaluationError.invalidInput("the ranks' videos do not tile 0..<\(total): a shard starts at \(piece.start), expected \(covered)")
            }
            covered += piece.count
        }
        let mc = Int(all[0][2]), d = Int(all[0][3])
        guard (0..<ranks).allSatisfy({ Int(all[$0][2]) == mc && Int(all[$0][3]) == d }) else {
            throw EvaluationError.invalidInput("ranks disagree on the embedding shape (Mc, d)")
        }

        let temporary = path + ".tmp"
        let transfer: HDF5Transfer = communicator == nil ? .independent : .collective

        // Every id, in global order, on rank 0 (each rank's ids placed by its shard's start:
        // rank order need not be video order).
        let idBytes = Array(videoIDs.joined(separator: "\u{0}").utf8) + (videoIDs.isEmpty ? [] : [0])
        let (gathered, bytesPerRank) = try communicator.map { try $0.allgatherv(idBytes) } ?? (idBytes, [idBytes.count])
        var ids = [String](repeating: "", count: me == 0 ? total : 0)
        if me == 0 {
            var offset = 0
            for r in 0..<ranks {
                let chunk = gathered[offset..<offset + bytesPerRank[r]]
                offset += bytesPerRank[r]
                let names = chunk.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
                for (i, name) in names.enumerated() { ids[pieces[r].start + i] = name }
            }
        }
        func writeStrings(_ file: HDF5File) throws {
            try file.createStringDataset("video_ids", strings: ids).close()
            try file.setAttribute("format", .string(format))
        }

        // Phase 1 (collective): the numeric rows, each rank its own — and, for a single process,
        // everything (one open: no window in which another process could hold the file).
        do {
            let file = try HDF5File.create(temporary, access: access)
            try file.setAttribute("version", .int64(version))
            try file.setAttribute("videos", .int64(Int64(total)))
            try file.setAttribute("clips_per_video", .int64(Int64(mc)))
            try file.setAttribute("dim", .int64(Int64(d)))
            let clipSet = try file.createDataset("clip", type: .float32, shape: [total, mc, d])
            let frameSet = try file.createDataset("frame", type: .float32, shape: [total, d])
            let rowsPerBatch = max(1, batchBytes / max(1, 4 * mc * d))
            let myBatches = (shard.count + rowsPerBatch - 1) / rowsPerBatch
            let batches = try communicator.map { try $0.allreduce(Int64(myBatches), .max) }.map(Int.init) ?? myBatches
            for b in 0..<batches {
                let local = min(b * rowsPerBatch, shard.count)..<min((b + 1) * rowsPerBatch, shard.count)
                let global = (start + local.lowerBound)..<(start + local.upperBound)
                try clipSet.writeRows(global, from: UnsafeBufferPointer(start: shard.clips.pointer + local.lowerBound * mc * d, count: local.count * mc * d),
                                      transfer: transfer)
                try frameSet.writeRows(global, from: UnsafeBufferPointer(start: shard.frames.pointer + local.lowerBound * d, count: local.count * d),
                                       transfer: transfer)
            }
            try clipSet.close()
            try frameSet.close()
            if communicator == nil { try writeStrings(file) }
            try file.flush()
            try file.close()
        } catch {
            if me == 0 { unlink(temporary) }
            throw error
        }

        // Phase 2 (rank 0): with MPI-IO, the strings from a serial reopen; then publish.
        var failure: (any Error)? = nil
        if me == 0 {
            do {
                if communicator != nil {
                    let file = try HDF5File.open(temporary, mode: .readWrite)
                    try writeStrings(file)
                    try file.close()
                }
                try AtomicPublish.publish(temporary, as: path)
            } catch let error as AtomicPublish.Failure {
                failure = EvaluationError.io(path: error.path, message: "\(error.call): \(error.reason)")
            } catch {
                failure = error
                unlink(temporary)
            }
        }
        try world.agreeOnFailure(failure)
    }

    /// The sizes stored in an index (checks the format).
    public static func readHeader(_ path: String) throws -> Header {
        let file = try HDF5File.open(path)
        return try header(of: file, path: path)
    }

    /// Every video id, in global order.
    public static func readVideoIDs(_ path: String) throws -> [String] {
        let file = try HDF5File.open(path)
        _ = try header(of: file, path: path)
        return try file.readStrings("video_ids")
    }

    /// The shard of global videos `videos` (this process only; ranks read concurrently).
    public static func read(_ path: String, videos: Range<Int>) throws -> VideoShard {
        let file = try HDF5File.open(path)
        let h = try header(of: file, path: path)
        guard videos.lowerBound >= 0, videos.upperBound <= h.videos else {
            throw EvaluationError.invalidInput("\(path): videos \(videos) outside the index's 0..<\(h.videos)")
        }
        let clips = Tensor(shape: [videos.count, h.clipsPerVideo, h.dim])
        let frames = Tensor(shape: [videos.count, h.dim])
        try file.openDataset("clip").readRows(videos, into: clips.buffer)
        try file.openDataset("frame").readRows(videos, into: frames.buffer)
        return try VideoShard(clips: clips, frames: frames, videos: videos)
    }

    private static func header(of file: HDF5File, path: String) throws -> Header {
        guard case .string(format)? = try? file.attribute("format") else {
            throw EvaluationError.io(path: path, message: "not a \(format) file (no 'format' attribute with that value)")
        }
        guard case .int64(let videos) = try file.attribute("videos"),
              case .int64(let mc) = try file.attribute("clips_per_video"),
              case .int64(let d) = try file.attribute("dim") else {
            throw EvaluationError.io(path: path, message: "malformed index header")
        }
        let h = Header(videos: Int(videos), clipsPerVideo: Int(mc), dim: Int(d))
        let clipShape = try file.openDataset("clip").shape, frameShape = try file.openDataset("frame").shape
        guard clipShape == [h.videos, h.clipsPerVideo, h.dim], frameShape == [h.videos, h.dim] else {
            throw EvaluationError.io(path: path, message: "datasets \(clipShape), \(frameShape) disagree with the header \(h)")
        }
        return h
    }
}
