#if canImport(Glibc)
import Glibc
#endif

/// A user's input file opened for reading — the one place where text inputs (caption files,
/// `shape.txt`, `id.txt`, `video2frames.txt`, run configurations, metrics logs) are opened.
///
/// Opening never blocks and never reads what is not a file: the file is opened with
/// `O_NONBLOCK` (a FIFO with no writer would otherwise block `open` forever), then `fstat`
/// must show a regular file — a FIFO, directory, socket or device is an error that says which.
/// A file larger than the caller's maximum is refused from its size, before any byte is read,
/// so a huge file fails at once and with bounded memory. A missing file, a symlink loop or a
/// permission problem is an error that says why.
public final class InputFile {
    public let path: String
    /// Size in bytes at open (`fstat`).
    public let size: Int
    private let descriptor: Int32

    /// Text files larger than this are refused by default: 1 GiB. The largest text file of the
    /// reference collections (TVR's `video2frames.txt` / `id.txt`) is tens of MB.
    public static let defaultMaximumBytes = 1 << 30

    /// Opens `path` for reading. `what` names the file's role in the size error ("a caption
    /// file"); `maximumBytes` is the largest size accepted.
    public init(_ path: String, maximumBytes: Int = InputFile.defaultMaximumBytes, what: String = "a text file") throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw InputFileError(file: path, Self.openProblem(errno)) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw InputFileError(file: path, "cannot stat: \(Self.errorText(code))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw InputFileError(file: path, Self.notRegularProblem(info.st_mode))
        }
        guard Int(info.st_size) <= maximumBytes else {
            close(fd)
            throw InputFileError(file: path, "\(info.st_size) bytes: larger than the maximum of \(maximumBytes) bytes for \(what)")
        }
        // Back to blocking reads (no effect on a regular file, but say what we mean).
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        size = Int(info.st_size)
        descriptor = fd
        self.maximumBytes = maximumBytes
        self.what = what
    }

    private let maximumBytes: Int
    private let what: String

    deinit { close(descriptor) }

    /// Reads up to `count` bytes into `buffer` at the current position; 0 at the end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw InputFileError(file: path, "read failed: \(Self.errorText(errno))")
        }
    }

    /// Reads up to `buffer.count` bytes at byte `offset` (pread; the position is unchanged); 0
    /// at the end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        while true {
            let n = pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw InputFileError(file: path, "read failed: \(Self.errorText(errno))")
        }
    }

    /// Every byte of the file (at most `maximumBytes`: a file that grew past it while being
    /// read is refused too).
    public func readAll() throws -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(size)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { break }
            guard bytes.count + n <= maximumBytes else {
                throw InputFileError(file: path, "grew past the maximum of \(maximumBytes) bytes for \(what) while being read")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Reads the file in chunks of at most `chunkBytes`, passing each to `body`.
    public func forEachChunk(chunkBytes: Int = 1 << 20, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        var total = 0
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { return }
            total += n
            guard total <= maximumBytes else {
                throw InputFileError(file: path, "grew past the maximum of \(maximumBytes) bytes for \(what) while being read")
            }
            try chunk.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// The bytes of `path` (see `init` for the checks).
    public static func readAll(_ path: String, maximumBytes: Int = defaultMaximumBytes, what: String = "a text file") throws -> [UInt8] {
        try InputFile(path, maximumBytes: maximumBytes, what: what).readAll()
    }

    /// Checks, without opening it, that `path` names a regular file (following symlinks): for
    /// files that a library opens by name (HDF5), so that a FIFO never reaches its `open`.
    public static func requireRegularFile(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw InputFileError(file: path, openProblem(errno)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw InputFileError(file: path, notRegularProblem(info.st_mode)) }
    }

    /// Why `open` or `stat` failed, in words (errno `code`).
    public static func openProblem(_ code: Int32) -> String {
        switch code {
        case ENOENT: "missing file (\(errorText(code)))"
        case ELOOP: "cannot open: too many levels of symbolic links (a symlink loop?)"
        default: "cannot open: \(errorText(code))"
        }
    }

    /// "not a regular file (a FIFO)" and the like, for `st_mode` `mode`.
    public static func notRegularProblem(_ mode: mode_t) -> String {
        let kind: String
        switch mode & S_IFMT {
        case S_IFDIR: kind = "a directory"
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFSOCK: kind = "a socket"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        default: kind = "file type 0o\(String(mode & S_IFMT, radix: 8))"
        }
        return "not a regular file (\(kind))"
    }

    public static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
