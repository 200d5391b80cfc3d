import HDF5Kit

/// What a packed file describes, known before its features are streamed in.
public struct PackedHeader: Sendable {
    public var collection: String
    public var visualFeature: String
    /// Free text: where the data came from (a release directory, a synthetic recipe…).
    public var source: String
    public var visualDimension: Int
    public var queryDimension: Int
    /// Whether token features are stored as float64 (the source stored float64).
    public var queryIsDouble: Bool
    public var totalFrames: Int
    public var totalTokens: Int

    public init(collection: String, visualFeature: String, source: String, visualDimension: Int, queryDimension: Int,
                queryIsDouble: Bool, totalFrames: Int, totalTokens: Int) {
        self.collection = collection
        self.visualFeature = visualFeature
        self.source = source
        self.visualDimension = visualDimension
        self.queryDimension = queryDimension
        self.queryIsDouble = queryIsDouble
        self.totalFrames = totalFrames
        self.totalTokens = totalTokens
    }
}

/// The index tables of a packed file, written after the features (see `PackedFormat`).
public struct PackedTables: Sendable {
    public var videoIDs: [String] = []
    /// V + 1 row offsets into /frames.
    public var videoOffsets: [Int] = [0]
    public var capIDs: [String] = []
    /// Q + 1 row offsets into /queries/features.
    public var queryOffsets: [Int] = [0]
    public var queryVideo: [Int] = []
    public var texts: [String] = []
    /// 32 or 64 per query: the precision its values had in the source.
    public var storedBits: [Int] = []
    /// Splits in order: name and the range of their queries.
    public var splits: [(name: String, queries: Range<Int>)] = []

    public init() {}
}

/// The index tables of a packed file as functions of the row: what `writeTables` asks for,
/// a block of rows at a time (a table can be read from where it is kept, never held whole).
struct PackedTableRows {
    /// Rows per block written.
    static let blockRows = 16_384

    let videoCount: Int
    let queryCount: Int
    let splits: [(name: String, queries: Range<Int>)]
    let videoID: (Int) throws -> String
    let videoFrames: (Int) throws -> Int
    let capID: (Int) throws -> String
    let queryTokens: (Int) throws -> Int
    let queryVideo: (Int) throws -> Int
    let text: (Int) throws -> String
    /// 32 or 64: the precision the query's values had in the source.
    let storedBits: (Int) throws -> Int
}

/// Streams features into a new packed file: frames and token rows are appended in order and
/// written in large row blocks (the file is never held in memory); `finish` writes the index
/// tables and checks that exactly the announced numbers of rows arrived.
///
/// On a file opened in parallel (`mamfusion import` on P ranks), every rank creates the writer
/// together (creating the datasets is collective), appends the rows of its own contiguous
/// block, starting at `frameStart` / `tokenStart`, and ends with `finishRows`; the string
/// tables are then written by one process on the reopened serial file (`writeTables`), since
/// MPI-IO cannot write variable-length strings.
final class PackedFeatureWriter {
    let file: HDF5File
    let header: PackedHeader
    let frames: HDF5Dataset
    let tokens: HDF5Dataset
    private var frameBuffer: [Float] = []
    private var frameCursor = 0
    private var floatTokenBuffer: [Float] = []
    private var doubleTokenBuffer: [Double] = []
    private var tokenCursor = 0
    /// Rows buffered before a write (≈ 8 MiB: memory does not grow with the file; the buffers
    /// are allocated once, at their full size, and never grow unless one item is larger).
    private let frameBlockRows: Int
    private let tokenBlockRows: Int

    /// `chunked`: store the feature datasets in ≈ 1 MiB chunks of rows instead of contiguously
    /// (see `PackedFormat` for why contiguous is the default).
    init(file: HDF5File, header: PackedHeader, chunked: Bool = true, frameStart: Int = 0, tokenStart: Int = 0) throws {
        self.file = file
        self.header = header
        frameCursor = frameStart
        tokenCursor = tokenStart
        let dv = header.visualDimension, dq = header.queryDimension
        try file.setAttribute("format", .string(PackedFormat.name))
        try file.setAttribute("format_version", .int64(PackedFormat.version))
        try file.setAttribute("dv", .int64(Int64(dv)))
        try file.setAttribute("dq", .int64(Int64(dq)))
        try file.setAttribute("collection", .string(header.collection))
        try file.setAttribute("visual_feature", .string(header.visualFeature))
        try file.setAttribute("source", .string(header.source))
        let tokenBytes = header.queryIsDouble ? 8 : 4
        frames = try file.createDataset(PackedFormat.frames, type: .float32, shape: [header.totalFrames, dv],
                                        chunk: chunked ? [PackedFormat.chunkRows(rowBytes: dv * 4, totalRows: header.totalFrames), dv] : nil)
        tokens = try file.createDataset(PackedFormat.tokenFeatures, type: header.queryIsDouble ? .float64 : .float32,
                                        shape: [header.totalTokens, dq],
                                        chunk: chunked ? [PackedFormat.chunkRows(rowBytes: dq * tokenBytes, totalRows: header.totalTokens), dq] : nil)
        frameBlockRows = max(1, PackedFeatureWriter.blockBytes / max(1, dv * 4))
        tokenBlockRows = max(1, PackedFeatureWriter.blockBytes / max(1, dq * tokenBytes))
        frameBuffer.reserveCapacity(min(frameBlockRows, header.totalFrames) * dv)
        if header.queryIsDouble {
            doubleTokenBuffer.reserveCapacity(min(tokenBlockRows, header.totalTokens) * dq)
        } else {
            floatTokenBuffer.reserveCapacity(min(tokenBlockRows, header.totalTokens) * dq)
        }
    }

    /// Appends `rows` frame rows (rows × Dv floats).
    func appendFrames(_ values: UnsafeBufferPointer<Float>) throws {
        let dv = header.visualDimension
        if frameBuffer.count + values.count > frameBlockRows * dv { try flushFrames() }
        frameBuffer.append(contentsOf: values)
        if frameBuffer.count >= frameBlockRows * dv { try flushFrames() }
    }

    /// Appends token rows in the file's precision (float32 values into a float64 file are
    /// widened exactly; float64 into float32 is refused: it would lose bits).
    func appendTokens(_ values: TokenValues) throws {
        let dq = header.queryDimension
        if (header.queryIsDouble ? doubleTokenBuffer.count : floatTokenBuffer.count) + values.count > tokenBlockRows * dq { try flushTokens() }
        switch (values, header.queryIsDouble) {
        case (.float32(let v), false):
            floatTokenBuffer.append(contentsOf: v)
            if floatTokenBuffer.count >= tokenBlockRows * dq { try flushTokens() }
        case (.float32(let v), true):
            doubleTokenBuffer.append(contentsOf: v.map(Double.init))
            if doubleTokenBuffer.count >= tokenBlockRows * dq { try flushTokens() }
        case (.float64(let v), true):
            doubleTokenBuffer.append(contentsOf: v)
            if doubleTokenBuffer.count >= tokenBlockRows * dq { try flushTokens() }
        case (.float64, false):
            throw FeatureDataError(file: file.filePath, item: "/\(PackedFormat.tokenFeatures)", "float64 token features given to a float32 dataset")
        }
    }

    /// Bytes of rows buffered before a write.
    static let blockBytes = 8 << 20

    private func flushFrames() throws {
        let rows = frameBuffer.count / header.visualDimension
        guard rows > 0 else { return }
        guard frameCursor + rows <= header.totalFrames else {
            throw FeatureDataError(file: file.filePath, item: "/\(PackedFormat.frames)", "more frame rows than the \(header.totalFrames) announced")
        }
        try frames.writeRows(frameCursor..<frameCursor + rows, frameBuffer)
        frameCursor += rows
        frameBuffer.removeAll(keepingCapacity: true)
    }

    private func flushTokens() throws {
        let dq = header.queryDimension
        let count = header.queryIsDouble ? doubleTokenBuffer.count : floatTokenBuffer.count
        let rows = count / dq
        guard rows > 0 else { return }
        guard tokenCursor + rows <= header.totalTokens else {
            throw FeatureDataError(file: file.filePath, item: "/\(PackedFormat.tokenFeatures)", "more token rows than the \(header.totalTokens) announced")
        }
        if header.queryIsDouble {
            try tokens.writeRows(tokenCursor..<tokenCursor + rows, doubleTokenBuffer)
            doubleTokenBuffer.removeAll(keepingCapacity: true)
        } else {
            try tokens.writeRows(tokenCursor..<tokenCursor + rows, floatTokenBuffer)
            floatTokenBuffer.removeAll(keepingCapacity: true)
        }
        tokenCursor += rows
    }

    /// Writes the remaining rows and the index tables; checks the totals and the tables.
    func finish(_ tables: PackedTables) throws {
        try finishRows(frameEnd: header.totalFrames, tokenEnd: header.totalTokens)
        try Self.writeTables(tables, header: header, to: file)
    }

    /// Writes the remaining rows, checks that they end at `frameEnd` / `tokenEnd` (the end of
    /// this writer's block) and closes the datasets.
    func finishRows(frameEnd: Int, tokenEnd: Int) throws {
        try flushFrames()
        try flushTokens()
        guard frameCursor == frameEnd, tokenCursor == tokenEnd else {
            throw FeatureDataError(file: file.filePath, "wrote frame rows up to \(frameCursor) of \(frameEnd) and token rows up to \(tokenCursor) of \(tokenEnd)")
        }
        try closeDatasets()
    }

    /// Closes the feature datasets (collective on a parallel file), written rows or not.
    func closeDatasets() throws {
        try frames.close()
        try tokens.close()
    }

    /// Writes the index tables of a file whose features are complete (serially); checks them
    /// against `header`.
    static func writeTables(_ tables: PackedTables, header: PackedHeader, to file: HDF5File) throws {
        let path = file.filePath
        // The totals are checked as the offsets are written.
        guard tables.videoOffsets.count == tables.videoIDs.count + 1, tables.queryOffsets.count == tables.capIDs.count + 1,
              tables.queryVideo.count == tables.capIDs.count, tables.texts.count == tables.capIDs.count,
              tables.storedBits.count == tables.capIDs.count else {
            throw FeatureDataError(file: path, "inconsistent index tables (videos \(tables.videoIDs.count), queries \(tables.capIDs.count))")
        }
        let rows = PackedTableRows(videoCount: tables.videoIDs.count, queryCount: tables.capIDs.count, splits: tables.splits,
                                   videoID: { tables.videoIDs[$0] }, videoFrames: { tables.videoOffsets[$0 + 1] - tables.videoOffsets[$0] },
                                   capID: { tables.capIDs[$0] }, queryTokens: { tables.queryOffsets[$0 + 1] - tables.queryOffsets[$0] },
                                   queryVideo: { tables.queryVideo[$0] }, text: { tables.texts[$0] }, storedBits: { tables.storedBits[$0] })
        try writeTables(rows, header: header, to: file)
    }

    /// Writes the index tables from `rows`, a block of rows at a time: memory holds one block,
    /// whatever the number of videos and queries. Checks that the frames and tokens add up to
    /// the header's totals.
    static func writeTables(_ rows: PackedTableRows, header: PackedHeader, to file: HDF5File) throws {
        let path = file.filePath
        let block = PackedTableRows.blockRows
        func offsets(_ name: String, count: Int, total: Int, what: String, _ length: (Int) throws -> Int) throws {
            let dataset = try file.createDataset(name, type: .int64, shape: [count + 1])
            var end = 0
            for start in stride(from: 0, through: count, by: block) {
                let piece = start..<min(start + block, count + 1)
                var values: [Int64] = []
                values.reserveCapacity(piece.count)
                for i in piece {
                    if i > 0 { end += try length(i - 1) }
                    values.append(Int64(end))
                }
                try dataset.writeRows(piece, values)
            }
            guard end == total else { throw FeatureDataError(file: path, "inconsistent index tables: \(end) \(what) listed, \(total) written") }
        }
        func column<T: HDF5Scalar>(_ name: String, count: Int, _ value: (Int) throws -> T) throws {
            let dataset = try file.createDataset(name, type: T.hdf5Type, shape: [count])
            for start in stride(from: 0, to: count, by: block) {
                let piece = start..<min(start + block, count)
                try dataset.writeRows(piece, try piece.map(value))
            }
        }
        func strings(_ name: String, count: Int, _ value: (Int) throws -> String) throws {
            let dataset = try file.createStringDataset(name, count: count)
            for start in stride(from: 0, to: count, by: block) {
                let piece = start..<min(start + block, count)
                try dataset.writeStrings(rows: piece, try piece.map(value))
            }
        }
        try offsets(PackedFormat.videoOffsets, count: rows.videoCount, total: header.totalFrames, what: "frames", rows.videoFrames)
        try strings(PackedFormat.videoIDs, count: rows.videoCount, rows.videoID)
        try offsets(PackedFormat.queryOffsets, count: rows.queryCount, total: header.totalTokens, what: "token rows", rows.queryTokens)
        try strings(PackedFormat.capIDs, count: rows.queryCount, rows.capID)
        try column(PackedFormat.queryVideo, count: rows.queryCount) { Int64(try rows.queryVideo($0)) }
        try strings(PackedFormat.queryText, count: rows.queryCount, rows.text)
        try column(PackedFormat.queryBits, count: rows.queryCount) { Int64(try rows.storedBits($0)) }
        let group = try file.createGroup(PackedFormat.splits)
        for split in rows.splits {
            let g = try group.createGroup(split.name)
            try g.setAttribute("query_start", .int64(Int64(split.queries.lowerBound)))
            try g.setAttribute("query_count", .int64(Int64(split.queries.count)))
        }
        try file.setAttribute("splits", .string(rows.splits.map(\.name).joined(separator: ",")))
    }
}
