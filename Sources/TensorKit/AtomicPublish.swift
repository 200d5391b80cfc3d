#if canImport(Glibc)
import Glibc
#endif

/// The one way this project puts a finished file in place so that `path` holds either its old
/// content or the complete new one, never a torn mixture (checkpoints, indexes, rank records, run
/// configurations): the complete file at `temporary` is synced to disk, renamed over `path`
/// (rename is atomic on POSIX file systems), and the directory is synced so the rename itself is
/// durable. On failure `temporary` is removed and `path` untouched.
public enum AtomicPublish {
    /// Why a publish failed: the system call, its object and the system's reason.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let call: String, path: String, reason: String
        public var description: String { "\(call) \(path): \(reason)" }
    }

    public static func publish(_ temporary: String, as path: String) throws(Failure) {
        func fail(_ call: String, _ object: String) -> Failure {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return Failure(call: call, path: object, reason: reason)
        }
        let fd = open(temporary, O_RDONLY)
        guard fd >= 0 else { throw fail("open", temporary) }
        let synced = fsync(fd)
        close(fd)
        guard synced == 0 else { throw fail("fsync", temporary) }
        guard rename(temporary, path) == 0 else { throw fail("rename", "\(temporary) → \(path)") }
        // Some file systems refuse fsync on a directory; the file is in place, so that is not an error.
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let dfd = open(directory.isEmpty ? "/" : directory, O_RDONLY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes `bytes` to `path` through a temporary file and `publish`.
    public static func write(_ bytes: [UInt8], to path: String) throws(Failure) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw Failure(call: "open", path: temporary, reason: String(cString: strerror(errno))) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n <= 0 {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw Failure(call: "write", path: temporary, reason: reason)
            }
            written += n
        }
        close(fd)
        try publish(temporary, as: path)
    }
}
