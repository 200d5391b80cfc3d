#if canImport(Glibc)
import Glibc
#endif
import InputFiles

/// A "BigFile" feature directory (DATA.md §1): `shape.txt` (`<N> <D>`), `id.txt` (N frame ids)
/// and `feature.bin` (N × D little-endian float32, row i = id i), read by offsets with
/// `pread` — never loaded whole, and a file truncated after opening gives an error, not a
/// crash (as a memory map would).
///
/// Opening checks that `feature.bin` holds exactly N × D floats, that `id.txt` holds N ids and
/// that no id repeats; each failure is a `FeatureDataError` naming the file and the item.
/// Safe to read from several threads at once (`pread` has no shared file position).
public final class BigFile: Sendable {
    public let directory: String
    /// N: rows of `feature.bin`.
    public let rowCount: Int
    /// D: floats per row.
    public let dimension: Int
    /// The frame id of every row.
    public let ids: [String]
    private let rowOfID: [String: Int32]
    private let descriptor: Int32
    public var featureFile: String { directory + "/feature.bin" }

    public init(directory: String) throws {
        self.directory = directory
        let shapePath = directory + "/shape.txt", idPath = directory + "/id.txt", binPath = directory + "/feature.bin"
        // Bounded by parseShape (N ≤ 2^31 − 1, D ≤ 2^20, N·D·4 representable): no product below overflows.
        (rowCount, dimension) = try BigFileHeader.parseShape(FileBytes.read(shapePath, what: "shape.txt"), file: shapePath)
        let rowBytes = dimension * 4
        let size = try FileBytes.size(binPath)
        let expected = rowCount * rowBytes
        if size != expected {
            if size % rowBytes != 0 {
                throw FeatureDataError(file: binPath, "truncated feature.bin: \(size) bytes is not a whole number of rows of D = \(dimension) float32 (\(rowBytes) bytes); shape.txt says \(rowCount) × \(dimension) = \(expected) bytes (\(size / rowBytes) whole rows present)")
            }
            throw FeatureDataError(file: binPath, "shape.txt disagrees with feature.bin: shape.txt says \(rowCount) × \(dimension) float32 = \(expected) bytes, feature.bin has \(size) bytes (\(size / rowBytes) rows of D = \(dimension))")
        }
        ids = try BigFileHeader.parseIDs(FileBytes.read(idPath, what: "id.txt"))
        guard ids.count == rowCount else {
            throw FeatureDataError(file: idPath, "id.txt holds \(ids.count) frame ids but shape.txt says N = \(rowCount) rows")
        }
        var map = [String: Int32](minimumCapacity: ids.count)
        for (row, id) in ids.enumerated() {
            if let first = map.updateValue(Int32(row), forKey: id) {
                throw FeatureDataError(file: idPath, item: "frame \(Excerpt.quote(id))", "duplicate frame id (ids #\(Int(first) + 1) and #\(row + 1))")
            }
        }
        rowOfID = map
        let fd = open(binPath, O_RDONLY)
        guard fd >= 0 else { throw FeatureDataError(file: binPath, FileBytes.missingFileProblem(errno)) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// The row of frame `id`, or nil if `id.txt` does not list it.
    public func row(of id: String) -> Int? { rowOfID[id].map(Int.init) }

    /// Reads `rows` (in that order) into `output` (rows.count × D floats); consecutive rows are
    /// read with one `pread`. Returns the bytes read.
    @discardableResult
    public func readRows(_ rows: UnsafeBufferPointer<Int32>, into output: UnsafeMutablePointer<Float>) throws -> Int {
        let rowBytes = dimension * 4
        var i = 0, bytes = 0
        while i < rows.count {
            var j = i + 1
            while j < rows.count && rows[j] == rows[j - 1] + 1 { j += 1 }
            let first = Int(rows[i]), count = j - i
            guard first >= 0, first + count <= rowCount else {
                throw FeatureDataError(file: featureFile, "rows \(first)..<\(first + count) outside 0..<\(rowCount)")
            }
            try readBytes(into: UnsafeMutableRawPointer(output + i * dimension), count: count * rowBytes,
                          offset: first * rowBytes, rows: first..<first + count)
            bytes += count * rowBytes
            i = j
        }
        #if _endian(big)
        for k in 0..<(rows.count * dimension) { output[k] = Float(bitPattern: UInt32(littleEndian: output[k].bitPattern)) }
        #endif
        return bytes
    }

    /// `readRows` of a contiguous range.
    @discardableResult
    public func readRows(_ range: Range<Int>, into output: UnsafeMutablePointer<Float>) throws -> Int {
        let rows = range.map { Int32($0) }
        return try rows.withUnsafeBufferPointer { try readRows($0, into: output) }
    }

    private func readBytes(into buffer: UnsafeMutableRawPointer, count: Int, offset: Int, rows: Range<Int>) throws {
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FeatureDataError(file: featureFile, item: "rows \(rows.lowerBound)..<\(rows.upperBound)", "read failed: \(errorText(errno))")
            }
            if n == 0 {
                throw FeatureDataError(file: featureFile, item: "rows \(rows.lowerBound)..<\(rows.upperBound)", "truncated feature.bin: end of file at byte \(offset + done) (the file shrank after it was opened)")
            }
            done += n
        }
    }
}
