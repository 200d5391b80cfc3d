import CHDF5
import InputFiles
#if canImport(Glibc)
import Glibc
#endif

/// An open HDF5 file; also its root group ("/"), so groups, datasets and attributes are created
/// on it directly.
///
/// Files are opened with the "semi" close degree: `close()` fails (with an `HDF5Error`) while
/// other objects of the file are still open, instead of leaving the file half-open. Objects keep
/// their file's identifier alive, so releasing the `HDF5File` before its datasets is safe.
///
/// Parallel files (`access: .parallel`) go through MPI-IO; see `HDF5FileAccess` for which calls
/// are collective.
// @unchecked Sendable: every call into HDF5 runs under `HDF5Lock`.
public final class HDF5File: HDF5Group, @unchecked Sendable {
    /// How an existing file is opened.
    public enum Mode: Sendable {
        case readOnly, readWrite
    }

    /// How the file was opened (serial or parallel over a communicator).
    public var access: HDF5FileAccess { fileState.access }

    /// Whether datasets and attributes can be written.
    public var isWritable: Bool { fileState.isWritable }

    private init(state: HDF5FileState) throws {
        let root = try HDF5Lock.sync {
            try check(H5Gopen2(state.handle.id, "/", hid_t(H5P_DEFAULT)), "H5Gopen2", "\(state.path):/")
        }
        super.init(handle: HDF5Handle(root, .group), fileState: state, path: "/")
    }

    /// Creates `path`, replacing any file there (H5F_ACC_TRUNC). Collective when parallel.
    public static func create(_ path: String, access: HDF5FileAccess = .serial) throws -> HDF5File {
        let id: hid_t = try withHDF5Scope(path) { scope in
            let fapl = try accessList(access, path: path, in: scope)
            return try check(H5Fcreate(path, mf_h5f_acc_trunc(), hid_t(H5P_DEFAULT), fapl), "H5Fcreate", path)
        }
        return try HDF5File(state: HDF5FileState(handle: HDF5Handle(id, .file), path: path, access: access, isWritable: true))
    }

    /// Opens an existing file. A missing file, a file that is not HDF5 and a damaged (e.g.
    /// truncated) file each throw an `HDF5Error` naming `path`. Collective when parallel.
    public static func open(_ path: String, mode: Mode = .readOnly, access: HDF5FileAccess = .serial) throws -> HDF5File {
        let id: hid_t = try withHDF5Scope(path) { scope in
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw usageError("H5Fopen", path, InputFile.openProblem(errno))
            }
            // Before HDF5 opens it by name: a FIFO would block its open() forever.
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                throw usageError("H5Fopen", path, InputFile.notRegularProblem(info.st_mode))
            }
            guard try checkBool(H5Fis_hdf5(path), "H5Fis_hdf5", path) else {
                throw usageError("H5Fis_hdf5", path, "not an HDF5 file (no HDF5 signature; \(info.st_size) bytes)")
            }
            let fapl = try accessList(access, path: path, in: scope)
            let flags = mode == .readOnly ? mf_h5f_acc_rdonly() : mf_h5f_acc_rdwr()
            return try check(H5Fopen(path, flags, fapl), "H5Fopen", path)
        }
        return try HDF5File(state: HDF5FileState(handle: HDF5Handle(id, .file), path: path, access: access, isWritable: mode == .readWrite))
    }

    /// Whether `path` is a readable file with an HDF5 signature (does not open it fully: a
    /// truncated file can still pass).
    public static func isHDF5(_ path: String) -> Bool {
        HDF5Lock.sync { H5Fis_hdf5(path) > 0 }
    }

    /// The file access property list: semi close degree, plus MPI-IO when parallel.
    private static func accessList(_ access: HDF5FileAccess, path: String, in scope: HDF5Scope) throws -> hid_t {
        let fapl = try scope.own(H5Pcreate(mf_h5p_file_access()), .propertyList, "H5Pcreate(FILE_ACCESS)", path)
        try check(H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI), "H5Pset_fclose_degree", path)
        if let communicator = access.communicator {
            try check(H5Pset_fapl_mpio(fapl, communicator.rawHandle, mf_mpi_info_null()), "H5Pset_fapl_mpio", path)
        }
        return fapl
    }

    /// Writes every buffered change of the file to disk (H5Fflush, global scope). Collective
    /// when parallel.
    public func flush() throws {
        try HDF5Lock.sync {
            try check(H5Fflush(fileState.handle.id, H5F_SCOPE_GLOBAL), "H5Fflush", fileState.path)
        }
    }

    /// Closes the file. Throws if any group or dataset opened from it is still alive (release
    /// or close them first); the file is then left open and closed later, on release.
    /// Collective when parallel.
    public override func close() throws {
        try HDF5Lock.sync {
            try handle.close(object: objectDescription)
            try fileState.handle.close(object: fileState.path)
        }
    }
}
