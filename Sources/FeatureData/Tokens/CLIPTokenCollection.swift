import HDF5Kit
import InputFiles
import MPIKit
import TensorKit

/// A CLIP token file (`CLIPTokenFormat`), opened by this process (serially) or by all ranks of a
/// communicator together (parallel HDF5 over MPI-IO: opening is then collective).
///
/// Opening reads and checks the index tables (small: every rank reads them) and the padding
/// frame; the tokens and caption embeddings stay on disk and are read per shard by
/// `CLIPTokenSplit`.
public final class CLIPTokenCollection: Sendable {
    public let path: String
    public let file: HDF5File
    public let collection: String
    public let sourceDescription: String
    /// W: token and embedding width.
    public let width: Int
    /// G: the patch grid is G × G.
    public let grid: Int
    /// T: frames every video is completed to.
    public let maxFrames: Int
    public let videoIDs: [String]
    public let videoOffsets: [Int]
    public let captionIDs: [String]
    public let captionVideo: [Int]
    public let captionTexts: [String]
    /// Split names in file order with their pairs (caption indices).
    public let splits: [(name: String, captions: [Int])]
    /// The padding frame's tokens, N × W float32.
    public let paddingFrame: [Float]
    let tokens: HDF5Dataset
    let embeddings: HDF5Dataset

    /// N = 1 + G².
    public var tokensPerFrame: Int { CLIPTokenFormat.tokensPerFrame(grid: grid) }
    /// Floats of one video completed to T frames: T·N·W.
    public var videoFloats: Int { maxFrames * tokensPerFrame * width }
    /// Real frames of video v.
    public func frameCount(ofVideo v: Int) -> Int { videoOffsets[v + 1] - videoOffsets[v] }
    /// Whether tokens and embeddings are stored as float16.
    public var storesHalf: Bool { tokens.elementType.size == 2 }

    /// Opens `path`. A missing or damaged file, another format or version, and tables that do
    /// not agree (with each other or with the datasets' shapes) are `FeatureDataError`s naming
    /// the file and the item.
    public init(path: String, access: HDF5FileAccess = .serial) throws {
        let file = try withFileContext(path) { try HDF5File.open(path, access: access) }
        func fail(_ item: String?, _ problem: String) -> FeatureDataError { FeatureDataError(file: path, item: item, problem) }
        try withFileContext(path) {
            guard try file.hasAttribute("format"), let format = try? file.stringAttribute("format"), format == CLIPTokenFormat.name else {
                throw fail(nil, "not a CLIP token file: root attribute 'format' is missing or not '\(CLIPTokenFormat.name)'")
            }
            let version = try file.int64Attribute("format_version")
            guard version == CLIPTokenFormat.version else {
                throw fail("attribute 'format_version'", "CLIP token format version \(version); this build reads version \(CLIPTokenFormat.version)")
            }
        }
        let (collection, source, width, grid, maxFrames) = try withFileContext(path) {
            (try file.stringAttribute("collection"), try file.stringAttribute("source"), Int(try file.int64Attribute("width")),
             Int(try file.int64Attribute("grid")), Int(try file.int64Attribute("max_frames")))
        }
        if let problem = FeatureLimits.problem("width", width, maximum: CLIPTokenFormat.maximumWidth)
            ?? FeatureLimits.problem("grid", grid, maximum: CLIPTokenFormat.maximumGrid)
            ?? FeatureLimits.problem("max_frames", maxFrames, maximum: CLIPTokenFormat.maximumFrames) {
            throw fail("attributes 'width', 'grid', 'max_frames'", problem)
        }
        let n = CLIPTokenFormat.tokensPerFrame(grid: grid)
        let (tokens, embeddings, padding) = try withFileContext(path) {
            (try file.openDataset(CLIPTokenFormat.tokens), try file.openDataset(CLIPTokenFormat.captionEmbeddings),
             try file.openDataset(CLIPTokenFormat.paddingFrame))
        }
        for (name, dataset, shape) in [(CLIPTokenFormat.tokens, tokens, [nil, n, width]), (CLIPTokenFormat.captionEmbeddings, embeddings, [nil, width]),
                                        (CLIPTokenFormat.paddingFrame, padding, [n, width])] {
            let kind = dataset.elementType
            guard kind.kind == .float, kind.size == 2 || kind.size == 4 else {
                throw fail("/\(name)", "holds \(kind); float16 or float32 expected")
            }
            guard dataset.shape.count == shape.count, zip(dataset.shape, shape).allSatisfy({ $1 == nil || $0 == $1 }) else {
                throw fail("/\(name)", "shape \(dataset.shape); expected [\(shape.map { $0.map(String.init) ?? "any" }.joined(separator: ", "))] "
                           + "for width \(width), grid \(grid) (\(n) tokens per frame)")
            }
            if let problem = FeatureLimits.problem("rows", dataset.shape[0], maximum: FeatureLimits.maximumRows, allowZero: true) {
                throw fail("/\(name)", problem)
            }
        }
        let (videoIDs, videoOffsets, captionIDs, captionVideo, texts, paddingFrame) = try withFileContext(path) {
            (try file.readStrings(CLIPTokenFormat.videoIDs),
             try file.readDataset(CLIPTokenFormat.videoOffsets, as: Int64.self).map { Int($0) },
             try file.readStrings(CLIPTokenFormat.captionIDs),
             try file.readDataset(CLIPTokenFormat.captionVideo, as: Int64.self).map { Int($0) },
             try file.readStrings(CLIPTokenFormat.captionText),
             try padding.read(as: Float.self))
        }
        try PackedFeatureFile.checkOffsets(videoOffsets, count: videoIDs.count, rows: tokens.shape[0],
                                           name: "/\(CLIPTokenFormat.videoOffsets)", path: path)
        if let v = (0..<videoIDs.count).first(where: { videoOffsets[$0 + 1] - videoOffsets[$0] > maxFrames }) {
            throw fail("video \(Excerpt.quote(videoIDs[v]))", "\(videoOffsets[v + 1] - videoOffsets[v]) frames; the file's max_frames is \(maxFrames)")
        }
        guard embeddings.shape[0] == captionIDs.count, captionVideo.count == captionIDs.count, texts.count == captionIDs.count else {
            throw fail("/captions", "\(captionIDs.count) ids but \(embeddings.shape[0]) embeddings, \(captionVideo.count) video indices "
                       + "and \(texts.count) texts")
        }
        if let bad = captionVideo.firstIndex(where: { $0 < 0 || $0 >= videoIDs.count }) {
            throw fail("caption \(Excerpt.quote(captionIDs[bad]))", "video index \(captionVideo[bad]) outside 0..<\(videoIDs.count)")
        }
        if let bad = paddingFrame.firstIndex(where: { !$0.isFinite }) {
            throw fail("/\(CLIPTokenFormat.paddingFrame)", "non-finite value \(paddingFrame[bad]) at token \(bad / width), channel \(bad % width)")
        }
        let splits: [(name: String, captions: [Int])] = try withFileContext(path) {
            let names = (try file.stringAttribute("splits")).split(separator: ",").map(String.init)
            return try names.map { name in
                let captions = try file.readDataset("\(CLIPTokenFormat.splits)/\(name)", as: Int64.self).map { Int($0) }
                if let bad = captions.firstIndex(where: { $0 < 0 || $0 >= captionIDs.count }) {
                    throw fail("split '\(name)'", "pair \(bad) names caption index \(captions[bad]) outside 0..<\(captionIDs.count)")
                }
                return (name, captions)
            }
        }
        self.path = path
        self.file = file
        self.collection = collection
        self.sourceDescription = source
        self.width = width
        self.grid = grid
        self.maxFrames = maxFrames
        self.videoIDs = videoIDs
        self.videoOffsets = videoOffsets
        self.captionIDs = captionIDs
        self.captionVideo = captionVideo
        self.captionTexts = texts
        self.splits = splits
        self.paddingFrame = paddingFrame
        self.tokens = tokens
        self.embeddings = embeddings
    }

    /// Whether `path` is an HDF5 file whose root attribute says it is a CLIP token file.
    public static func isTokenFile(_ path: String) -> Bool {
        guard HDF5File.isHDF5(path), let file = try? HDF5File.open(path) else { return false }
        return (try? file.stringAttribute("format")) == CLIPTokenFormat.name
    }

    /// Opens split `name` (see `CLIPTokenSplit` for the reads and `transfer`).
    public func split(_ name: String, transfer: HDF5Transfer = .independent) throws -> CLIPTokenSplit {
        guard let split = splits.first(where: { $0.name == name }) else {
            throw FeatureDataError(file: path, item: "split '\(name)'", "no such split (the file holds: \(splits.map(\.name).joined(separator: ", ")))")
        }
        return CLIPTokenSplit(collection: self, name: name, captions: split.captions, transfer: transfer)
    }

    /// The two row-addressed tables: frames of /videos/tokens, captions of /captions/embeddings.
    public enum Table: Sendable {
        case tokens, embeddings
    }

    /// Rows `ranges` of `table` back to back as float32 (float16 widened exactly): N·W floats per
    /// frame, W per caption. One hyperslab per run of consecutive rows. With `.collective`
    /// transfers on a parallel file every rank must call together (see `CLIPTokenSplit`).
    public func readFloats(_ table: Table, rows ranges: [Range<Int>], transfer: HDF5Transfer = .independent) throws -> FloatStorage {
        let (dataset, name) = table == .tokens ? (tokens, CLIPTokenFormat.tokens) : (embeddings, CLIPTokenFormat.captionEmbeddings)
        let rowFloats = dataset.rowLength
        let rows = ranges.reduce(0) { $0 + $1.count }
        let runs = PackedFeatureSource.runs(ranges)
        var rounds = runs.count
        if transfer == .collective, let communicator = file.access.communicator {
            rounds = Int(try withFileContext(path) { try communicator.allreduce(Int64(runs.count), .max) })
        }
        let output = try FloatStorage(allocating: rows * rowFloats, for: "\(rows) rows of /\(name) in \(path)")
        func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>) throws {
            var cursor = 0
            for k in 0..<rounds {
                let run = k < runs.count ? runs[k] : 0..<0
                try dataset.readRows(run, into: UnsafeMutableBufferPointer(rebasing: buffer[(cursor * rowFloats)..<((cursor + run.count) * rowFloats)]),
                                     transfer: transfer)
                cursor += run.count
            }
        }
        try withFileContext(path, item: "/\(name)") {
            if dataset.elementType.size == 2 {
                let half = UnsafeMutableBufferPointer<Float16>.allocate(capacity: max(1, rows * rowFloats))
                defer { half.deallocate() }
                try read(into: half)
                HalfPrecision.widen(half.baseAddress!, into: output.base, count: rows * rowFloats)
            } else {
                try read(into: output.buffer)
            }
        }
        return output
    }
}
