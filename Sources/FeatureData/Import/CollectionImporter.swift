#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HDF5Kit
import InputFiles
import MPIKit
import TensorKit

/// `mamfusion import`: writes a validated `ImportPlan` as a collection in the MS-SL release
/// layout (one process) or the packed HDF5 layout (P ranks, each copying its contiguous block
/// of videos and of captions through MPI-IO), streaming one array at a time: memory holds the
/// index tables (ids, counts) and one array, never the features.
///
/// Every value is checked while it is copied: a NaN or ±Inf is a problem naming the file, the
/// id, the row and the column; the pass goes on to list them all, writing nothing more. The
/// output appears complete or not at all: the release layout is written into a temporary
/// directory beside the collection and renamed into place; the packed file is written to
/// `FILE.tmp` and renamed (`HDF5File.writeAtomically`; the string tables are added by rank 0
/// before the rename). With problems, nothing is left behind.
public enum CollectionImporter {
    /// Arrays (videos + captions) done and total, on this rank.
    public typealias Progress = (_ done: Int, _ total: Int) -> Void

    /// What an import wrote (or, for a dry run, would write).
    public struct Summary: Sendable {
        public var files: [(path: String, description: String)] = []
        public var bytes = 0
        public var seconds = 0.0
    }

    /// Thrown, on every rank together, when the plan or the values have problems.
    public struct Problems: Error, CustomStringConvertible {
        public let report: InspectionReport
        public var description: String { report.render() }
    }

    /// Copies (or, with `dryRun`, reads and checks) every array of `plan`. Collective on `world`.
    @discardableResult
    public static func run(_ plan: ImportPlan, videos: FeatureArrays, queries: FeatureArrays, world: Communicator,
                           dryRun: Bool, progress: Progress? = nil) throws -> Summary {
        guard plan.isUsable else { throw Problems(report: plan.report) }
        let start = MonotonicClock.now()
        var summary = describe(plan)
        switch plan.request.output {
        case .release(let root):
            guard world.size == 1 else {
                throw FeatureDataError(file: root, "the release layout is written by one process: run import without mpirun, or write --layout packed on \(world.size) ranks")
            }
            let target = "\(root)/\(plan.request.collection)"
            guard !(try FileBytes.exists(target)) else {
                throw FeatureDataError(file: target, "already exists: remove it or choose another --collection (an import never overwrites a collection)")
            }
            if dryRun {
                try copy(plan, videos: videos, queries: queries, world: world, progress: progress) { _ in } token: { _, _ in }
            } else {
                try writeRelease(plan, root: root, videos: videos, queries: queries, world: world, progress: progress)
            }
        case .packed(let file):
            if dryRun {
                try copy(plan, videos: videos, queries: queries, world: world, progress: progress) { _ in } token: { _, _ in }
            } else {
                try writePacked(plan, file: file, videos: videos, queries: queries, world: world, progress: progress)
            }
        case .clipTokens(let file):
            guard world.size == 1 else {
                throw FeatureDataError(file: file, "the clip-tokens layout is written by one process: run import without mpirun")
            }
            let padding = try paddingFrame(plan)
            if dryRun {
                try copy(plan, videos: videos, queries: queries, world: world, progress: progress) { _ in } token: { _, _ in }
            } else {
                try writeCLIPTokens(plan, file: file, padding: padding, videos: videos, queries: queries, world: world, progress: progress)
            }
        }
        summary.seconds = MonotonicClock.now() - start
        return summary
    }

    /// The files an import of `plan` writes, with what they hold.
    static func describe(_ plan: ImportPlan) -> Summary {
        var summary = Summary()
        let dv = plan.visualDimension, dq = plan.queryDimension
        let frameBytes = plan.totalFrames * dv * 4
        let tokenBytes = (0..<plan.captionCount).reduce(0) { $0 + plan.tokenCount($1) * dq * (plan.queryIsDouble[$1] ? 8 : 4) }
        summary.bytes = frameBytes + tokenBytes
        let request = plan.request
        switch request.output {
        case .release(let root):
            let paths = CollectionPaths(root: root, collection: request.collection, visualFeature: request.visualFeature)
            summary.files.append((paths.featureFile, "\(plan.totalFrames) frame rows × Dv \(dv), float32 (\(frameBytes) bytes)"))
            summary.files.append((paths.shapeFile, "\"\(plan.totalFrames) \(dv)\""))
            summary.files.append((paths.idFile, "\(plan.totalFrames) frame ids (<video_id>_<k>)"))
            summary.files.append((paths.videoFramesFile, "\(plan.videoCount) videos"))
            for split in plan.splits {
                summary.files.append((paths.captionFile(split: split.name), "\(split.captions.count) captions"))
            }
            summary.files.append((paths.queryFeatureFile, "\(plan.captionCount) query-feature datasets × Dq \(dq) (\(tokenBytes) bytes)"))
        case .packed(let file):
            summary.files.append((file, "\(plan.videoCount) videos (\(plan.totalFrames) frame rows × Dv \(dv)), \(plan.captionCount) queries "
                                  + "(\(plan.totalTokens) token rows × Dq \(dq)), splits \(plan.splits.map(\.name).joined(separator: ", ")); \(summary.bytes) feature bytes"))
        case .clipTokens(let file):
            let n = plan.tokensPerFrame
            summary.bytes = (plan.totalFrames * n + n + plan.captionCount) * dv * 2
            summary.files.append((file, "\(plan.videoCount) videos (\(plan.totalFrames) frames × \(n) tokens × W \(dv), max_frames \(request.maxFrames)), "
                                  + "\(plan.captionCount) caption embeddings, splits \(plan.splits.map(\.name).joined(separator: ", ")); float16, \(summary.bytes) bytes"))
        }
        return summary
    }

    /// Frame ids of video `v` of `plan`: `<video_id>_<k>`, as the reference collections name
    /// them. `id.txt` is read as ISO-8859-1, so a video id beyond ASCII gets `#<v>_<k>`
    /// instead (no video id holds '#', so these are unique too).
    static func frameIDs(_ plan: ImportPlan, video v: Int) -> [String] {
        let id = plan.videoID(v)
        let stem = id.utf8.allSatisfy { $0 < 0x80 } ? id : "#\(v)"
        return (0..<plan.frameCount(v)).map { "\(stem)_\($0)" }
    }

    /// Reads, checks and hands over the arrays of this rank's blocks: the frames of its videos
    /// (to `frames`, float32, T × Dv), then the tokens of its captions (to `token`, with the
    /// caption's index). Problems (unreadable arrays, changed shapes, non-finite values) are
    /// gathered from every rank; with any, every rank throws `Problems` together.
    static func copy(_ plan: ImportPlan, videos: FeatureArrays, queries: FeatureArrays, world: Communicator, progress: Progress?,
                     frames: (UnsafeBufferPointer<Float>) throws -> Void, token: (Int, TokenValues) throws -> Void) throws {
        let videoBlock = ImportPlan.block(plan.videoCount, rank: world.rank, size: world.size)
        let queryBlock = ImportPlan.block(plan.captionCount, rank: world.rank, size: world.size)
        let total = videoBlock.count + queryBlock.count
        var problems: [String] = []
        var done = 0
        // Values of `id` must be `rows` × `perRow` × `columns` finite numbers.
        func check(_ id: String, _ source: FeatureArrays, _ values: TokenValues, rows: Int, perRow: Int = 1, columns: Int) -> Bool {
            let item = "\(source.role) of \(Excerpt.quote(id))"
            let count: Int, bad: Int?
            switch values {
            case .float32(let v): count = v.count; bad = v.withUnsafeBufferPointer { FeaturePreprocessing.firstNonFinite($0) }
            case .float64(let v): count = v.count; bad = v.withUnsafeBufferPointer { FeaturePreprocessing.firstNonFinite($0) }
            }
            if count != rows * perRow * columns {
                problems.append("\(FeatureDataError(file: source.location(id), item: item, "changed while being imported: \(count) values, \(rows * perRow * columns) expected"))")
                return false
            }
            if let bad {
                let value: String
                switch values {
                case .float32(let v): value = "\(v[bad])"
                case .float64(let v): value = "\(v[bad])"
                }
                let row = bad / (perRow * columns)
                let at = perRow == 1 ? "row \(row)" : "frame \(row), token \(bad / columns % perRow)"
                problems.append("\(FeatureDataError(file: source.location(id), item: item, "\(value) at \(at), column \(bad % columns)"))")
                return false
            }
            return true
        }
        // A rank that fails must still reach the exchange below, or the others would wait forever.
        do {
            for v in videoBlock {
                let id = plan.videoID(v)
                do {
                    let values = try videos.values(id, keepDouble: false)
                    if check(id, videos, values, rows: plan.frameCount(v), perRow: plan.tokensPerFrame, columns: plan.visualDimension), problems.isEmpty,
                       case .float32(let f) = values {
                        try f.withUnsafeBufferPointer { try frames($0) }
                    }
                } catch let error as FeatureDataError {
                    problems.append("\(error)")
                }
                done += 1
                progress?(done, total)
            }
            for q in queryBlock {
                let captionID = plan.captionID(q)
                do {
                    let values = try queries.values(captionID, keepDouble: plan.queryIsDouble[q])
                    if check(captionID, queries, values, rows: plan.tokenCount(q), columns: plan.queryDimension), problems.isEmpty {
                        try token(q, values)
                    }
                } catch let error as FeatureDataError {
                    problems.append("\(error)")
                }
                done += 1
                if done % 64 == 0 || done == total { progress?(done, total) }
            }
        } catch {
            problems.append("rank \(world.rank): \(error)")
        }
        let all = try ImportPlan.gatherLines(problems, world: world)
        if !all.isEmpty {
            var report = plan.report
            report.problems += all
            throw Problems(report: report)
        }
    }

    /// The release layout, into `root/.import-<collection>-<pid>/` first, then renamed.
    static func writeRelease(_ plan: ImportPlan, root: String, videos: FeatureArrays, queries: FeatureArrays, world: Communicator,
                             progress: Progress?) throws {
        let request = plan.request
        let staging = "\(root)/.import-\(request.collection)-\(getpid())"
        let rootExisted = try FileBytes.exists(root)
        try makeDirectories(staging)
        var published = false
        defer {
            try? FileManager.default.removeItem(atPath: staging)
            if !published && !rootExisted { try? FileManager.default.removeItem(atPath: root) }
        }
        let paths = CollectionPaths(root: staging, collection: request.collection, visualFeature: request.visualFeature)
        let writer = try ReleaseLayoutWriter(paths: paths, visualDimension: plan.visualDimension, queryDimension: plan.queryDimension)
        let texts = try ImportPlan.CaptionTexts(plan)
        var v = 0
        try copy(plan, videos: videos, queries: queries, world: world, progress: progress) { frames in
            try writer.addVideo(id: plan.videoID(v), frameIDs: frameIDs(plan, video: v), features: frames)
            v += 1
        } token: { q, values in
            let capID = ImportPlan.releaseCaptionID(captionID: plan.captionID(q), videoID: plan.videoID(plan.captionVideo(q)))
            try writer.addCaption(split: plan.split(of: q), capID: capID, text: try texts.text(q), tokens: values)
        }
        try writer.finish()
        let target = "\(root)/\(request.collection)"
        guard rename(paths.collectionDirectory, target) == 0 else {
            throw FeatureDataError(file: target, "cannot move the imported collection into place: \(InputFile.errorText(errno))")
        }
        published = true
        let directory = open(root, O_RDONLY)
        if directory >= 0 { _ = fsync(directory); close(directory) }
    }

    /// The packed layout: every rank writes its blocks of rows (MPI-IO when P > 1), then rank 0
    /// adds the tables and publishes the file.
    static func writePacked(_ plan: ImportPlan, file: String, videos: FeatureArrays, queries: FeatureArrays, world: Communicator,
                            progress: Progress?) throws {
        let request = plan.request
        let header = PackedHeader(collection: request.collection, visualFeature: request.visualFeature,
                                  source: "mamfusion import: captions \(request.captions), videos \(request.videos), queries \(request.queries)",
                                  visualDimension: plan.visualDimension, queryDimension: plan.queryDimension,
                                  queryIsDouble: plan.queryIsDouble.contains(true), totalFrames: plan.totalFrames, totalTokens: plan.totalTokens)
        let videoBlock = ImportPlan.block(plan.videoCount, rank: world.rank, size: world.size)
        let queryBlock = ImportPlan.block(plan.captionCount, rank: world.rank, size: world.size)
        let frameStart = (0..<videoBlock.lowerBound).reduce(0) { $0 + plan.frameCount($1) }
        let tokenStart = (0..<queryBlock.lowerBound).reduce(0) { $0 + plan.tokenCount($1) }
        let frameEnd = videoBlock.reduce(frameStart) { $0 + plan.frameCount($1) }
        let tokenEnd = queryBlock.reduce(tokenStart) { $0 + plan.tokenCount($1) }
        let access: HDF5FileAccess = world.size > 1 ? .parallel(world) : .serial
        do {
            try HDF5File.writeAtomically(to: file, access: access, { output in
                let writer = try PackedFeatureWriter(file: output, header: header, chunked: request.chunked, frameStart: frameStart, tokenStart: tokenStart)
                do {
                    try copy(plan, videos: videos, queries: queries, world: world, progress: progress) { frames in
                        try writer.appendFrames(frames)
                    } token: { _, values in
                        try writer.appendTokens(values)
                    }
                } catch let problems as Problems {
                    // Every rank is here together: close the datasets so that the file closes.
                    try writer.closeDatasets()
                    throw problems
                }
                try writer.finishRows(frameEnd: frameEnd, tokenEnd: tokenEnd)
            }, finishOnLeader: { output in
                try PackedFeatureWriter.writeTables(try tables(plan), header: header, to: output)
            })
        } catch let problems as Problems {
            throw problems
        } catch {
            throw FeatureDataError.wrapping(error, file: file)
        }
    }

    /// The padding frame of a CLIP token import ([1+G², W] or [1, 1+G², W], finite), read
    /// before anything is written.
    static func paddingFrame(_ plan: ImportPlan) throws -> [Float] {
        guard let path = plan.request.paddingFrame else {
            throw FeatureDataError(file: plan.request.captions, "the clip-tokens layout needs the padding frame's tokens: --padding-frame FILE.npy ([1+G², W])")
        }
        let item = "padding frame"
        let bytes = try FeatureArrays.readFile(path)
        let header = try bytes.withUnsafeBytes { try NumpyArray.parseHeader($0, file: path, item: item) }
        let expected = [plan.tokensPerFrame, plan.visualDimension]
        guard header.shape == expected || header.shape == [1] + expected else {
            throw FeatureDataError(file: path, item: item, "shape \(header.shape), expected \(expected) like every frame of the videos")
        }
        guard case .float32(let values) = try bytes.withUnsafeBytes({ try header.values(from: $0, keepDouble: false, file: path, item: item) }) else { return [] }
        if let bad = values.withUnsafeBufferPointer({ FeaturePreprocessing.firstNonFinite($0) }) {
            throw FeatureDataError(file: path, item: item, "\(values[bad]) at token \(bad / plan.visualDimension), column \(bad % plan.visualDimension)")
        }
        return values
    }

    /// The CLIP token layout (float16), through `CLIPTokenWriter`, one process.
    static func writeCLIPTokens(_ plan: ImportPlan, file: String, padding: [Float], videos: FeatureArrays, queries: FeatureArrays,
                                world: Communicator, progress: Progress?) throws {
        let request = plan.request
        let grid = Int(Double(plan.tokensPerFrame - 1).squareRoot().rounded())
        let header = CLIPTokenHeader(collection: request.collection,
                                     source: "mamfusion import: captions \(request.captions), videos \(request.videos), queries \(request.queries)",
                                     width: plan.visualDimension, grid: grid, maxFrames: request.maxFrames, totalFrames: plan.totalFrames,
                                     captionCount: plan.captionCount)
        do {
            try HDF5File.writeAtomically(to: file) { output in
                let writer = try CLIPTokenWriter(file: output, header: header)
                try padding.withUnsafeBufferPointer { try writer.setPaddingFrame($0) }
                let texts = try ImportPlan.CaptionTexts(plan)
                var v = 0
                try copy(plan, videos: videos, queries: queries, world: world, progress: progress) { tokens in
                    try writer.appendVideo(id: plan.videoID(v), tokens: tokens)
                    v += 1
                } token: { q, values in
                    guard case .float32(let embedding) = values else { return }
                    let text = try texts.text(q)
                    _ = try embedding.withUnsafeBufferPointer { try writer.appendCaption(id: plan.captionID(q), video: plan.captionVideo(q), text: text, embedding: $0) }
                }
                try writer.finish(splits: plan.splits.map { ($0.name, Array($0.captions)) })
            }
        } catch let problems as Problems {
            throw problems
        } catch {
            throw FeatureDataError.wrapping(error, file: file)
        }
    }

    /// The index tables of the packed file of `plan`, row by row: ids from the plan, texts
    /// read again from the caption table in order.
    static func tables(_ plan: ImportPlan) throws -> PackedTableRows {
        let texts = try ImportPlan.CaptionTexts(plan)
        return PackedTableRows(videoCount: plan.videoCount, queryCount: plan.captionCount, splits: plan.splits.map { ($0.name, $0.captions) },
                               videoID: plan.videoID, videoFrames: plan.frameCount, capID: plan.captionID, queryTokens: plan.tokenCount,
                               queryVideo: plan.captionVideo, text: texts.text, storedBits: { plan.queryIsDouble[$0] ? 64 : 32 })
    }
}
