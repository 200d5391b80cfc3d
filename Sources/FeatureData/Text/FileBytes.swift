#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads of the small text files of a dataset (captions, `shape.txt`, `id.txt`,
/// `video2frames.txt`), with errors that name the file. Never used for `feature.bin`.
enum FileBytes {
    /// The bytes of `path`. A missing or unreadable file is a `FeatureDataError` naming it.
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FeatureDataError(file: path, missingFileProblem(errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FeatureDataError(file: path, "cannot stat: \(errorText(errno))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FeatureDataError(file: path, "not a regular file") }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FeatureDataError(file: path, "read failed: \(errorText(errno))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Size in bytes of the regular file at `path`.
    static func size(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FeatureDataError(file: path, missingFileProblem(errno)) }
        return Int(info.st_size)
    }

    /// Whether a file (or directory) exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func missingFileProblem(_ code: Int32) -> String {
        code == ENOENT ? "missing file (no such file or directory)" : "cannot open: \(errorText(code))"
    }
}

func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Text from bytes read as ISO-8859-1 (every byte is the code point of the same value), the
/// encoding `id.txt` is written in. ASCII — the common case — takes the fast path.
func latin1String<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
    var scalars = String.UnicodeScalarView()
    for b in bytes { scalars.append(Unicode.Scalar(b)) }
    return String(scalars)
}

/// Splits `bytes` into lines at `\n`, dropping one trailing `\r` per line. Yields
/// (1-based line number, byte range of the line).
func lineRanges(_ bytes: UnsafeBufferPointer<UInt8>) -> [(line: Int, range: Range<Int>)] {
    var result: [(Int, Range<Int>)] = []
    var start = 0, line = 1
    let n = bytes.count
    var i = 0
    while i <= n {
        if i == n || bytes[i] == 0x0A {
            var end = i
            if end > start && bytes[end - 1] == 0x0D { end -= 1 }
            if !(i == n && start == n) { result.append((line, start..<end)) }
            line += 1
            start = i + 1
        }
        i += 1
    }
    return result
}

@inline(__always) func isSpace(_ b: UInt8) -> Bool {
    b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
}
