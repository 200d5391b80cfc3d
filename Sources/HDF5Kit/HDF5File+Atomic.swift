#if canImport(Glibc)
import Glibc
#endif
import MPIKit
import TensorKit

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
    ///
    /// `finishOnLeader`, when given, runs after `body` has closed the file on every rank: rank 0
    /// (the only process, if serial) reopens the temporary file serially and writes what MPI-IO
    /// cannot — variable-length string tables after a parallel write of the numbers — before
    /// the rename. Its failure is shared like the rename's.
    @discardableResult
    public static func writeAtomically<R>(to path: String, access: HDF5FileAccess = .serial,
                                          _ body: (HDF5File) throws -> R,
                                          finishOnLeader: ((HDF5File) throws -> Void)? = nil) throws -> R {
        let temporary = path + ".tmp"
        let communicator = access.communicator
        let isLeader = (communicator?.rank ?? 0) == 0
        let result: R
        do {
            result = try fill(try create(temporary, access: access), with: body)
        } catch {
            if isLeader { unlink(temporary) }
            throw error
        }
        // Only the leader touches the directory; everyone learns whether it worked.
        var failure: (any Error)? = nil
        if isLeader, let finishOnLeader {
            do {
                try fill(try open(temporary, mode: .readWrite), with: finishOnLeader)
            } catch {
                failure = error
                unlink(temporary)
            }
        }
        if isLeader && failure == nil {
            do { try AtomicPublish.publish(temporary, as: path) } catch {
                failure = usageError(error.call, error.path, error.reason)
            }
        }
        if let communicator {
            try communicator.agreeOnFailure(failure)
        } else if let failure {
            throw failure
        }
        return result
    }

    /// Runs `body` on `file`, then flushes and closes it; closes it on failure too.
    private static func fill<R>(_ file: HDF5File, with body: (HDF5File) throws -> R) throws -> R {
        do {
            let result = try body(file)
            try file.flush()
            try file.close()
            return result
        } catch {
            try? file.close()
            throw error
        }
    }
}
