#if canImport(Glibc)
import Glibc
#endif
import InputFiles

/// Reads of the small text files of a dataset (captions, `shape.txt`, `id.txt`,
/// `video2frames.txt`) through `InputFile` — regular files only, never blocking on a FIFO,
/// bounded in size — with errors that name the file. Never used for `feature.bin`.
enum FileBytes {
    /// The bytes of `path` (at most `InputFile.defaultMaximumBytes`). A missing, unreadable,
    /// non-regular or too large file is a `FeatureDataError` naming it.
    static func read(_ path: String, what: String = "a text file") throws -> [UInt8] {
        try converting { try InputFile.readAll(path, what: what) }
    }

    /// Runs `body`, turning an `InputFileError` into the `FeatureDataError` with the same parts.
    static func converting<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let error as InputFileError {
            throw FeatureDataError(file: error.file, line: error.line, error.problem)
        }
    }

    /// Size in bytes of the regular file at `path` (a FIFO, directory or device is an error).
    static func size(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FeatureDataError(file: path, missingFileProblem(errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FeatureDataError(file: path, InputFile.notRegularProblem(info.st_mode)) }
        return Int(info.st_size)
    }

    /// Whether something exists at `path`: false only when nothing is there at all. A name that
    /// is there but cannot be followed (a symlink loop, a link to a missing file, no permission)
    /// is an error saying why — never silently "absent".
    static func exists(_ path: String) throws -> Bool {
        var info = stat()
        if stat(path, &info) == 0 { return true }
        let code = errno
        if lstat(path, &info) != 0 && (code == ENOENT || code == ENOTDIR) { return false }
        if code == ENOENT { throw FeatureDataError(file: path, "a symbolic link to a missing file") }
        throw FeatureDataError(file: path, missingFileProblem(code))
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func missingFileProblem(_ code: Int32) -> String { InputFile.openProblem(code) }
}

func errorText(_ code: Int32) -> String { InputFile.errorText(code) }

/// Text from bytes read as ISO-8859-1 (every byte is the code point of the same value), the
/// encoding `id.txt` is written in. ASCII — the common case — takes the fast path.
func latin1String<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
    var scalars = String.UnicodeScalarView()
    for b in bytes { scalars.append(Unicode.Scalar(b)) }
    return String(scalars)
}

@inline(__always) func isSpace(_ b: UInt8) -> Bool {
    b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
}
