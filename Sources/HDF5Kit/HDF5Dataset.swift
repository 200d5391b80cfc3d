import CHDF5

/// An HDF5 dataset: an n-dimensional array of numbers or strings, stored row-major.
///
/// "Rows" are the slices along the first axis: a dataset of shape [N, D1, D2] has N rows of
/// D1·D2 elements each. Row-range reads and writes (`readRows`, `writeRows`) move
/// `rows.count × rowLength` contiguous elements between caller memory and the file with one
/// hyperslab — the hot path of sharded data loading.
///
/// Buffers passed in are only used during the call; the caller owns them.
/// On a parallel file: `.collective` transfers must be called by every rank (a rank with
/// nothing to move passes an empty range); whole-dataset writes are collective (see `write`).
// @unchecked Sendable: every call into HDF5 runs under `HDF5Lock`.
public final class HDF5Dataset: HDF5Object, @unchecked Sendable {
    /// Extent of every axis, outermost first ([] for a scalar dataset). Read once, at open.
    public let shape: [Int]
    /// What the file stores.
    public let elementType: HDF5ElementType

    init(opened handle: HDF5Handle, fileState: HDF5FileState, path: String) throws {
        let object = "\(fileState.path):\(path)"
        (shape, elementType) = try withHDF5Scope(object) { scope in
            let space = try scope.own(H5Dget_space(handle.id), .dataspace, "H5Dget_space", object)
            let rank = Int(try check(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims", object))
            var dims = [hsize_t](repeating: 0, count: rank)
            try check(H5Sget_simple_extent_dims(space, &dims, nil), "H5Sget_simple_extent_dims", object)
            let type = try scope.own(H5Dget_type(handle.id), .datatype, "H5Dget_type", object)
            return (dims.map { Int($0) }, try HDF5ElementType.describe(type, object: object))
        }
        super.init(handle: handle, fileState: fileState, path: path)
    }

    /// Number of elements (1 for a scalar dataset).
    public var elementCount: Int { shape.reduce(1, *) }
    /// Extent of the first axis (1 for a scalar dataset).
    public var rowCount: Int { shape.first ?? 1 }
    /// Elements per row: the product of every axis but the first.
    public var rowLength: Int { shape.dropFirst().reduce(1, *) }

    // MARK: - Whole-dataset I/O

    /// Reads every element, converted to `T` (e.g. a float64 file into `[Float]`).
    /// Not collective: on a parallel file each rank reads on its own.
    public func read<T: HDF5Scalar>(as type: T.Type = T.self) throws -> [T] {
        try [T](unsafeUninitializedCapacity: elementCount) { buffer, initialised in
            try read(into: buffer)
            initialised = elementCount
        }
    }

    /// Reads every element into the first `elementCount` elements of `buffer` (which must hold
    /// at least that many), converted to `T`. Not collective.
    public func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>) throws {
        try requireNumeric("H5Dread")
        try requireCapacity(buffer.count, elementCount, "H5Dread")
        try transfer("H5Dread", rows: nil, memoryType: T.hdf5Type, elements: elementCount,
                     read: UnsafeMutableRawPointer(buffer.baseAddress), write: nil, mode: .independent)
    }

    /// Writes every element from `values` (exactly `elementCount` of them; HDF5 converts `T` to
    /// the stored type). On a parallel file this is collective and the values of the
    /// communicator's rank 0 are the ones written.
    public func write<T: HDF5Scalar>(_ values: [T]) throws {
        try values.withUnsafeBufferPointer { try write(from: $0) }
    }

    /// `write(_:)` from caller memory (exactly `elementCount` elements).
    public func write<T: HDF5Scalar>(from buffer: UnsafeBufferPointer<T>) throws {
        try requireNumeric("H5Dwrite")
        try requireWritable("H5Dwrite")
        guard buffer.count == elementCount else {
            throw usageError("H5Dwrite", objectDescription, "\(buffer.count) values given for shape \(shape) (\(elementCount) elements)")
        }
        if let communicator = fileState.access.communicator, communicator.rank != 0 {
            // Every rank joins the collective call; only rank 0 moves data.
            try transfer("H5Dwrite", rows: 0..<0, memoryType: T.hdf5Type, elements: 0,
                         read: nil, write: nil, mode: .collective)
        } else {
            try transfer("H5Dwrite", rows: nil, memoryType: T.hdf5Type, elements: elementCount,
                         read: nil, write: UnsafeRawPointer(buffer.baseAddress),
                         mode: fileState.isParallel ? .collective : .independent)
        }
    }

    // MARK: - Row ranges (hyperslabs along the first axis)

    /// Reads rows `rows` (all of the remaining axes) into a new array of
    /// `rows.count × rowLength` elements, converted to `T`.
    public func readRows<T: HDF5Scalar>(_ rows: Range<Int>, as type: T.Type = T.self,
                                        transfer mode: HDF5Transfer = .independent) throws -> [T] {
        let count = rows.count * rowLength
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialised in
            try readRows(rows, into: buffer, transfer: mode)
            initialised = count
        }
    }

    /// Reads rows `rows` into the first `rows.count × rowLength` elements of `buffer` (which
    /// must hold at least that many), converted to `T`. Row i of the range lands at
    /// `buffer[(i − rows.lowerBound) · rowLength ...]`.
    public func readRows<T: HDF5Scalar>(_ rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<T>,
                                        transfer mode: HDF5Transfer = .independent) throws {
        try requireNumeric("H5Dread")
        try requireRows(rows, "H5Dread")
        let count = rows.count * rowLength
        try requireCapacity(buffer.count, count, "H5Dread")
        try transfer("H5Dread", rows: rows, memoryType: T.hdf5Type, elements: count,
                     read: UnsafeMutableRawPointer(buffer.baseAddress), write: nil, mode: mode)
    }

    /// Writes rows `rows` from `values` (exactly `rows.count × rowLength` elements).
    public func writeRows<T: HDF5Scalar>(_ rows: Range<Int>, _ values: [T],
                                         transfer mode: HDF5Transfer = .independent) throws {
        try values.withUnsafeBufferPointer { try writeRows(rows, from: $0, transfer: mode) }
    }

    /// Writes rows `rows` from caller memory (exactly `rows.count × rowLength` elements, row
    /// after row).
    public func writeRows<T: HDF5Scalar>(_ rows: Range<Int>, from buffer: UnsafeBufferPointer<T>,
                                         transfer mode: HDF5Transfer = .independent) throws {
        try requireNumeric("H5Dwrite")
        try requireWritable("H5Dwrite")
        try requireRows(rows, "H5Dwrite")
        let count = rows.count * rowLength
        guard buffer.count == count else {
            throw usageError("H5Dwrite", objectDescription, "\(buffer.count) values given for rows \(rows) of \(rowLength) elements (\(count) expected)")
        }
        try transfer("H5Dwrite", rows: rows, memoryType: T.hdf5Type, elements: count,
                     read: nil, write: UnsafeRawPointer(buffer.baseAddress), mode: mode)
    }

    // MARK: - The one transfer routine

    /// Moves `elements` elements between memory and the file.
    /// `rows == nil`: the whole dataset (H5S_ALL). Otherwise a hyperslab of whole rows; an empty
    /// range selects nothing in file and memory, so a rank can still join a collective call.
    /// Exactly one of `read` / `write` is used (the one matching `call`); nil is allowed when
    /// there is nothing to move.
    /// The memory type is looked up under the lock: HDF5's predefined-type macros call
    /// `H5open()`, which pushes onto the library's (unlocked, global) API context, and must not
    /// run while another thread is inside the library.
    func transfer(_ call: String, rows: Range<Int>?, memoryType scalar: HDF5ScalarType, elements: Int,
                  read: UnsafeMutableRawPointer?, write: UnsafeRawPointer?, mode: HDF5Transfer) throws {
        let object = objectDescription
        let suffix = rows.map { " rows \($0.lowerBound)..<\($0.upperBound)" } ?? ""
        try withHDF5Scope(object) { scope in
            let memoryType = scalar.memoryType
            var fileSpace = hid_t(H5S_ALL), memorySpace = hid_t(H5S_ALL)
            if let rows {
                fileSpace = try scope.own(H5Dget_space(id), .dataspace, "H5Dget_space", object)
                // The memory space has the selection's own shape [rows, …]: with a flat one HDF5
                // 1.10 maps chunked selections element by element (~20× slower). A 1-element
                // space with nothing selected stands in for an empty buffer.
                var memoryDims = elements == 0 ? [hsize_t(1)] : [hsize_t(rows.count)] + shape.dropFirst().map { hsize_t($0) }
                memorySpace = try scope.own(H5Screate_simple(Int32(memoryDims.count), &memoryDims, nil), .dataspace, "H5Screate_simple", object)
                if elements == 0 {
                    try check(H5Sselect_none(fileSpace), "H5Sselect_none", object)
                    try check(H5Sselect_none(memorySpace), "H5Sselect_none", object)
                } else {
                    var start = [hsize_t](repeating: 0, count: shape.count)
                    var count = shape.map { hsize_t($0) }
                    start[0] = hsize_t(rows.lowerBound)
                    count[0] = hsize_t(rows.count)
                    try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil), "H5Sselect_hyperslab", object + suffix)
                }
            }
            let dxpl = try fileState.transferList(mode, in: scope, object: object)
            // HDF5 rejects a null buffer even when nothing is selected.
            var placeholder: UInt64 = 0
            _ = try withUnsafeMutableBytes(of: &placeholder) { dummy in
                if call == "H5Dwrite" {
                    try check(H5Dwrite(id, memoryType, memorySpace, fileSpace, dxpl, write ?? UnsafeRawPointer(dummy.baseAddress!)), call, object + suffix)
                } else {
                    try check(H5Dread(id, memoryType, memorySpace, fileSpace, dxpl, read ?? dummy.baseAddress!), call, object + suffix)
                }
            }
        }
    }

    // MARK: - Preconditions, as errors

    func requireNumeric(_ call: String) throws {
        guard elementType.isNumeric else {
            throw usageError(call, objectDescription, "dataset holds \(elementType), not numbers")
        }
    }

    func requireWritable(_ call: String) throws {
        guard fileState.isWritable else {
            throw usageError(call, objectDescription, "file is open read-only")
        }
    }

    func requireRows(_ rows: Range<Int>, _ call: String) throws {
        guard !shape.isEmpty else {
            throw usageError(call, objectDescription, "a scalar dataset has no rows")
        }
        guard rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
            throw usageError(call, objectDescription, "rows \(rows.lowerBound)..<\(rows.upperBound) outside 0..<\(shape[0])")
        }
    }

    func requireCapacity(_ have: Int, _ need: Int, _ call: String) throws {
        guard have >= need else {
            throw usageError(call, objectDescription, "buffer holds \(have) elements, \(need) needed")
        }
    }
}
