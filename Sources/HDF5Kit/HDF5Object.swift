import CHDF5

/// What an open file shares with every object opened in it: the file identifier, its path and
/// how it was opened. Every `HDF5Object` of the file holds it strongly, so the file identifier
/// outlives all of them.
// @unchecked Sendable: every call into HDF5 runs under `HDF5Lock`.
final class HDF5FileState: @unchecked Sendable {
    let handle: HDF5Handle
    let path: String
    let access: HDF5FileAccess
    let isWritable: Bool

    init(handle: HDF5Handle, path: String, access: HDF5FileAccess, isWritable: Bool) {
        self.handle = handle
        self.path = path
        self.access = access
        self.isWritable = isWritable
    }

    var isParallel: Bool { access.communicator != nil }

    /// The dataset transfer property list for `transfer`: `H5P_DEFAULT` for a serial file, a new
    /// list owned by `scope` choosing independent or collective MPI-IO for a parallel one.
    func transferList(_ transfer: HDF5Transfer, in scope: HDF5Scope, object: @autoclosure () -> String) throws -> hid_t {
        guard isParallel else { return hid_t(H5P_DEFAULT) }
        let list = try scope.own(H5Pcreate(mf_h5p_dataset_xfer()), .propertyList, "H5Pcreate(DATASET_XFER)", object())
        let mode = transfer == .collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT
        try check(H5Pset_dxpl_mpio(list, mode), "H5Pset_dxpl_mpio", object())
        return list
    }
}

/// Something with an HDF5 identifier inside an open file: a group (the file itself is its root
/// group) or a dataset. Attributes live on any object (`HDF5Object+Attributes.swift`).
///
/// The identifier is closed exactly once: by `close()`, or when the object is released.
/// An object keeps its file open (see `HDF5File.close()`).
// @unchecked Sendable: every call into HDF5 runs under `HDF5Lock`.
public class HDF5Object: @unchecked Sendable {
    let handle: HDF5Handle
    let fileState: HDF5FileState
    /// Absolute path of the object inside its file ("/" for the root group).
    public let path: String

    init(handle: HDF5Handle, fileState: HDF5FileState, path: String) {
        self.handle = handle
        self.fileState = fileState
        self.path = path
    }

    var id: hid_t { handle.id }

    /// Path of the file on disk.
    public var filePath: String { fileState.path }

    /// "file.h5:/group/dataset" — how errors name this object.
    public var objectDescription: String { "\(fileState.path):\(path)" }

    /// "file.h5:/group/dataset" for a path below this object (relative or absolute).
    func describe(_ subpath: String) -> String { "\(fileState.path):\(absolutePath(subpath))" }

    /// The absolute path of `subpath` taken relative to this object (unless it starts with "/").
    func absolutePath(_ subpath: String) -> String {
        if subpath.hasPrefix("/") { return subpath }
        if subpath.isEmpty || subpath == "." { return path }
        return path == "/" ? "/" + subpath : path + "/" + subpath
    }

    /// Closes the object's identifier now (otherwise it is closed on release). Further use of
    /// the object throws. On a parallel file this is collective.
    public func close() throws {
        try handle.close(object: objectDescription)
    }

    deinit {
        // Close our own identifier before `fileState` may go: the file identifier is opened with
        // H5F_CLOSE_SEMI and would refuse to close while this one is still open.
        try? handle.close(object: "")
    }
}
