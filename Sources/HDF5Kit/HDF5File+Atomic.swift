#if canImport(Glibc)
import Glibc
#endif

extension HDF5File {
    /// Writes a file so that `path` holds either its old content or the complete new one, never
    /// a torn mixture (checkpoints): `body` fills a new file at `path + ".tmp"`, which is then
    /// flushed, closed, synced to disk and renamed over `path` (rename is atomic on POSIX file
    /// systems); the directory is synced too.
    ///
    /// If `body` (or any step before the rename) throws, the temporary file is removed and
    /// `path` is untouched. `body` must not keep groups or datasets of the file beyond its end:
    /// the close would fail and nothing is renamed.
    ///
    /// Parallel: every rank calls this together; the rename is done by the communicator's rank 0
    /// and its outcome is shared, so all ranks return or throw together.
    @discardableResult
    public static func writeAtomically<R>(to path: String, access: HDF5FileAccess = .serial,
                                          _ body: (HDF5File) throws -> R) throws -> R {
        let temporary = path + ".tmp"
        let communicator = access.communicator
        let isLeader = (communicator?.rank ?? 0) == 0
        let result: R
        do {
            let file = try create(temporary, access: access)
            do {
                result = try body(file)
                try file.flush()
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
        } catch {
            if isLeader { unlink(temporary) }
            throw error
        }
        // Only the leader touches the directory; everyone learns whether it worked.
        var failure: HDF5Error? = nil
        if isLeader {
            failure = publish(temporary, as: path)
            if failure != nil { unlink(temporary) }
        }
        if let communicator {
            let failed = try communicator.allreduce(Int32(failure == nil ? 0 : 1), .max)
            if failed != 0 {
                throw failure ?? usageError("rename", path, "rank 0 could not move \(temporary) into place")
            }
        } else if let failure {
            throw failure
        }
        return result
    }

    /// fsync(temporary), rename(temporary → path), fsync(directory). Returns the first failure.
    private static func publish(_ temporary: String, as path: String) -> HDF5Error? {
        func posixError(_ call: String, _ object: String) -> HDF5Error {
            usageError(call, object, String(cString: strerror(errno)))
        }
        let fd = Glibc.open(temporary, O_RDONLY)
        guard fd >= 0 else { return posixError("open", temporary) }
        let synced = fsync(fd)
        Glibc.close(fd)
        guard synced == 0 else { return posixError("fsync", temporary) }
        guard rename(temporary, path) == 0 else { return posixError("rename", "\(temporary) → \(path)") }
        // Make the rename itself durable. Some file systems refuse fsync on a directory;
        // the file is already in place, so that is not an error.
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let dfd = Glibc.open(directory.isEmpty ? "/" : directory, O_RDONLY)
        if dfd >= 0 {
            _ = fsync(dfd)
            Glibc.close(dfd)
        }
        return nil
    }
}
