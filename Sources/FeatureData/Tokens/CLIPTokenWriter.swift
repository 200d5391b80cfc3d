import HDF5Kit
import TensorKit

/// What a CLIP token file holds, known before its tokens are streamed in.
public struct CLIPTokenHeader: Sendable, Equatable {
    public var collection: String
    /// Free text: where the tokens came from (an extraction run, a synthetic recipe…).
    public var source: String
    public var width: Int
    public var grid: Int
    public var maxFrames: Int
    /// Σ real frames over all videos, and the number of captions: the datasets are created at
    /// these sizes and `finish` checks that exactly this much arrived.
    public var totalFrames: Int
    public var captionCount: Int
    /// Store tokens and embeddings as float16 (the default: exact for fp16 CLIP) or float32.
    public var half: Bool

    public init(collection: String, source: String, width: Int, grid: Int, maxFrames: Int, totalFrames: Int,
                captionCount: Int, half: Bool = true) {
        (self.collection, self.source, self.width, self.grid, self.maxFrames) = (collection, source, width, grid, maxFrames)
        (self.totalFrames, self.captionCount, self.half) = (totalFrames, captionCount, half)
    }

    var tokensPerFrame: Int { CLIPTokenFormat.tokensPerFrame(grid: grid) }
}

/// Streams a new CLIP token file (`CLIPTokenFormat`): videos and captions are appended in order
/// and written in blocks of about 32 MiB (the collection is never held in memory); `finish` writes
/// the tables and the splits and checks that exactly the announced numbers of frames and
/// captions arrived. Serial files only (string tables cannot be written through MPI-IO); use it
/// inside `HDF5File.writeAtomically` so a failed run leaves no file behind.
public final class CLIPTokenWriter {
    public let header: CLIPTokenHeader
    let file: HDF5File
    let tokens: HDF5Dataset
    let embeddings: HDF5Dataset
    private var tokenBuffer: [Float] = []
    private var frameCursor = 0
    private var embeddingBuffer: [Float] = []
    private var captionCursor = 0
    private var videoIDs: [String] = []
    private var videoOffsets: [Int] = [0]
    private var captionIDs: [String] = []
    private var captionVideo: [Int] = []
    private var captionTexts: [String] = []
    private var paddingWritten = false
    private let blockFrames: Int
    private let blockCaptions: Int

    public init(file: HDF5File, header: CLIPTokenHeader) throws {
        func bad(_ problem: String) -> FeatureDataError { FeatureDataError(file: file.filePath, problem) }
        if let problem = FeatureLimits.problem("width", header.width, maximum: CLIPTokenFormat.maximumWidth)
            ?? FeatureLimits.problem("grid", header.grid, maximum: CLIPTokenFormat.maximumGrid)
            ?? FeatureLimits.problem("max_frames", header.maxFrames, maximum: CLIPTokenFormat.maximumFrames) {
            throw bad(problem)
        }
        guard header.totalFrames >= 0, header.captionCount >= 0 else { throw bad("negative frame or caption count") }
        self.file = file
        self.header = header
        let n = header.tokensPerFrame, w = header.width
        let type: HDF5ScalarType = header.half ? .float16 : .float32
        try file.setAttribute("format", .string(CLIPTokenFormat.name))
        try file.setAttribute("format_version", .int64(CLIPTokenFormat.version))
        try file.setAttribute("width", .int64(Int64(w)))
        try file.setAttribute("grid", .int64(Int64(header.grid)))
        try file.setAttribute("max_frames", .int64(Int64(header.maxFrames)))
        try file.setAttribute("collection", .string(header.collection))
        try file.setAttribute("source", .string(header.source))
        // One frame per chunk: a video's read touches exactly its own frames.
        tokens = try file.createDataset(CLIPTokenFormat.tokens, type: type, shape: [header.totalFrames, n, w], chunk: [1, n, w])
        embeddings = try file.createDataset(CLIPTokenFormat.captionEmbeddings, type: type, shape: [header.captionCount, w],
                                            chunk: [PackedFormat.chunkRows(rowBytes: w * type.size, totalRows: header.captionCount), w])
        blockFrames = max(1, (32 << 20) / (n * w * 4))
        blockCaptions = max(1, (32 << 20) / (w * 4))
    }

    /// The padding frame's tokens (N × W floats); required once before `finish`.
    public func setPaddingFrame(_ values: UnsafeBufferPointer<Float>) throws {
        let n = header.tokensPerFrame * header.width
        guard values.count == n else { throw FeatureDataError(file: file.filePath, item: "padding frame", "\(values.count) values; \(n) expected") }
        try write(CLIPTokenFormat.paddingFrame, rows: nil, values, shape: [header.tokensPerFrame, header.width])
        paddingWritten = true
    }

    /// Appends a video: its real frames' tokens (T_v × N × W floats, 1 ≤ T_v ≤ max_frames).
    /// Returns its index (for `appendCaption`).
    @discardableResult
    public func appendVideo(id: String, tokens values: UnsafeBufferPointer<Float>) throws -> Int {
        let frameFloats = header.tokensPerFrame * header.width
        let frames = values.count / frameFloats
        guard values.count % frameFloats == 0, (1...header.maxFrames).contains(frames) else {
            throw FeatureDataError(file: file.filePath, item: "video '\(id)'", "\(values.count) values: not 1…\(header.maxFrames) frames of \(frameFloats)")
        }
        guard frameCursor + tokenBuffer.count / frameFloats + frames <= header.totalFrames else {
            throw FeatureDataError(file: file.filePath, item: "video '\(id)'", "more frames than the \(header.totalFrames) announced")
        }
        tokenBuffer.append(contentsOf: values)
        videoIDs.append(id)
        videoOffsets.append(videoOffsets.last! + frames)
        if tokenBuffer.count >= blockFrames * frameFloats { try flushTokens() }
        return videoIDs.count - 1
    }

    /// Appends a caption of video `video` (an index `appendVideo` returned) with its W-d
    /// end-of-text embedding. Returns its index (for the splits).
    @discardableResult
    public func appendCaption(id: String, video: Int, text: String, embedding: UnsafeBufferPointer<Float>) throws -> Int {
        guard embedding.count == header.width else {
            throw FeatureDataError(file: file.filePath, item: "caption '\(id)'", "\(embedding.count) values; width \(header.width) expected")
        }
        guard video >= 0 && video < videoIDs.count else {
            throw FeatureDataError(file: file.filePath, item: "caption '\(id)'", "video index \(video) outside the \(videoIDs.count) videos appended so far")
        }
        guard captionIDs.count < header.captionCount else {
            throw FeatureDataError(file: file.filePath, item: "caption '\(id)'", "more captions than the \(header.captionCount) announced")
        }
        embeddingBuffer.append(contentsOf: embedding)
        captionIDs.append(id)
        captionVideo.append(video)
        captionTexts.append(text)
        if embeddingBuffer.count >= blockCaptions * header.width { try flushEmbeddings() }
        return captionIDs.count - 1
    }

    private func flushTokens() throws {
        let frameFloats = header.tokensPerFrame * header.width
        let frames = tokenBuffer.count / frameFloats
        guard frames > 0 else { return }
        try tokenBuffer.withUnsafeBufferPointer { try write(CLIPTokenFormat.tokens, rows: frameCursor..<frameCursor + frames, $0) }
        frameCursor += frames
        tokenBuffer.removeAll(keepingCapacity: true)
    }

    private func flushEmbeddings() throws {
        let rows = embeddingBuffer.count / header.width
        guard rows > 0 else { return }
        try embeddingBuffer.withUnsafeBufferPointer { try write(CLIPTokenFormat.captionEmbeddings, rows: captionCursor..<captionCursor + rows, $0) }
        captionCursor += rows
        embeddingBuffer.removeAll(keepingCapacity: true)
    }

    /// Writes float values into rows of an existing dataset (`rows` given) or a new one of
    /// `shape`, narrowed to float16 when the header asks for it.
    private func write(_ path: String, rows: Range<Int>?, _ values: UnsafeBufferPointer<Float>, shape: [Int] = []) throws {
        let dataset = rows == nil ? try file.createDataset(path, type: header.half ? .float16 : .float32, shape: shape)
            : path == CLIPTokenFormat.tokens ? tokens : embeddings
        if header.half {
            let half = UnsafeMutableBufferPointer<Float16>.allocate(capacity: max(1, values.count))
            defer { half.deallocate() }
            if let base = values.baseAddress { HalfPrecision.narrow(base, into: half.baseAddress!, count: values.count) }
            let narrowed = UnsafeBufferPointer(rebasing: half[0..<values.count])
            if let rows { try dataset.writeRows(rows, from: narrowed) } else { try dataset.write(from: narrowed) }
        } else if let rows {
            try dataset.writeRows(rows, from: values)
        } else {
            try dataset.write(from: values)
        }
    }

    /// Writes the remaining rows, the tables and the splits (name → caption indices, in order);
    /// checks the totals.
    public func finish(splits: [(name: String, captions: [Int])]) throws {
        try flushTokens()
        try flushEmbeddings()
        let path = file.filePath
        guard frameCursor == header.totalFrames, captionCursor == header.captionCount else {
            throw FeatureDataError(file: path, "wrote \(frameCursor) of \(header.totalFrames) frames and \(captionCursor) of \(header.captionCount) captions")
        }
        guard paddingWritten else { throw FeatureDataError(file: path, "no padding frame was given") }
        for split in splits {
            guard !split.name.isEmpty, !split.name.contains(","), !split.name.contains("/") else {
                throw FeatureDataError(file: path, item: "split '\(split.name)'", "split names must be non-empty, without ',' or '/'")
            }
            if let bad = split.captions.first(where: { $0 < 0 || $0 >= captionIDs.count }) {
                throw FeatureDataError(file: path, item: "split '\(split.name)'", "caption index \(bad) outside 0..<\(captionIDs.count)")
            }
        }
        try file.createDataset(CLIPTokenFormat.videoOffsets, values: videoOffsets.map { Int64($0) })
        try file.createStringDataset(CLIPTokenFormat.videoIDs, strings: videoIDs)
        try file.createStringDataset(CLIPTokenFormat.captionIDs, strings: captionIDs)
        try file.createDataset(CLIPTokenFormat.captionVideo, values: captionVideo.map { Int64($0) })
        try file.createStringDataset(CLIPTokenFormat.captionText, strings: captionTexts)
        let group = try file.createGroup(CLIPTokenFormat.splits)
        for split in splits { try group.createDataset(split.name, values: split.captions.map { Int64($0) }) }
        try file.setAttribute("splits", .string(splits.map(\.name).joined(separator: ",")))
        try tokens.close()
        try embeddings.close()
    }
}
