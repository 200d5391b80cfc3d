/// The text parts of a "BigFile" feature directory (DATA.md §1): `shape.txt` and `id.txt`.
public enum BigFileHeader {
    /// Parses `shape.txt`: its first line is `<N> <D>` (rows and floats per row), N ≥ 0, D ≥ 1,
    /// with N × D × 4 bytes representable. Anything after the first line is ignored, as the
    /// reference reads only that line.
    public static func parseShape(_ bytes: [UInt8], file: String) throws -> (rows: Int, dimension: Int) {
        try bytes.withUnsafeBufferPointer { buffer in
            guard let first = lineRanges(buffer).first else {
                throw FeatureDataError(file: file, line: 1, "malformed shape.txt: empty file, expected '<N> <D>'")
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[first.range]), as: UTF8.self)
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2, let n = Int(fields[0]), let d = Int(fields[1]) else {
                throw FeatureDataError(file: file, line: 1, "malformed shape.txt: expected '<N> <D>' (two integers), found '\(text)'")
            }
            guard n >= 0, d >= 1 else {
                throw FeatureDataError(file: file, line: 1, "malformed shape.txt: N = \(n), D = \(d) (need N ≥ 0, D ≥ 1)")
            }
            let (cells, o1) = n.multipliedReportingOverflow(by: d)
            let (_, o2) = cells.multipliedReportingOverflow(by: 4)
            guard !o1, !o2 else {
                throw FeatureDataError(file: file, line: 1, "malformed shape.txt: N × D = \(n) × \(d) is too large")
            }
            return (n, d)
        }
    }

    /// Parses `id.txt`: every whitespace-separated token is one frame id, in row order, read
    /// as ISO-8859-1.
    public static func parseIDs(_ bytes: [UInt8]) -> [String] {
        bytes.withUnsafeBufferPointer { buffer in
            var ids: [String] = []
            var i = 0
            let n = buffer.count
            while i < n {
                while i < n && isSpace(buffer[i]) { i += 1 }
                let start = i
                while i < n && !isSpace(buffer[i]) { i += 1 }
                if i > start { ids.append(latin1String(UnsafeBufferPointer(rebasing: buffer[start..<i]))) }
            }
            return ids
        }
    }
}
