import InputFiles

/// The text parts of a "BigFile" feature directory (DATA.md §1): `shape.txt` and `id.txt`.
public enum BigFileHeader {
    /// Parses `shape.txt`: its first line is `<N> <D>` (rows and floats per row), with
    /// 0 ≤ N ≤ `FeatureLimits.maximumRows` and 1 ≤ D ≤ `FeatureLimits.maximumDimension`, so
    /// that N × D × 4 bytes (and D × 4) are representable. Anything after the first line is
    /// ignored, as the reference reads only that line. Errors quote at most an excerpt.
    public static func parseShape(_ bytes: [UInt8], file: String) throws -> (rows: Int, dimension: Int) {
        var first: [UInt8]? = nil
        bytes.withUnsafeBufferPointer { buffer in
            // The first line only: a line break ends the search, however long the file.
            let end = buffer.firstIndex(of: 0x0A) ?? buffer.count
            var line = Array(buffer[0..<end])
            if line.last == 0x0D { line.removeLast() }
            if end < buffer.count || !line.isEmpty { first = line }
        }
        guard let first else {
            throw FeatureDataError(file: file, line: 1, "malformed shape.txt: empty file, expected '<N> <D>'")
        }
        // Two integers and their separators fit in 256 bytes; a longer line is malformed anyway.
        let text = first.count <= 256 ? String(decoding: first, as: UTF8.self) : ""
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 2, let n = Int(fields[0]), let d = Int(fields[1]) else {
            throw FeatureDataError(file: file, line: 1, "malformed shape.txt: expected '<N> <D>' (two integers), found \(Excerpt.quote(first))")
        }
        if let problem = FeatureLimits.problem("N", n, maximum: FeatureLimits.maximumRows, allowZero: true)
            ?? FeatureLimits.problem("D", d, maximum: FeatureLimits.maximumDimension) {
            throw FeatureDataError(file: file, line: 1, "malformed shape.txt: \(problem)")
        }
        let (cells, o1) = n.multipliedReportingOverflow(by: d)
        let (_, o2) = cells.multipliedReportingOverflow(by: 4)
        guard !o1, !o2 else {
            throw FeatureDataError(file: file, line: 1, "malformed shape.txt: N × D = \(n) × \(d) is too large")
        }
        return (n, d)
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
