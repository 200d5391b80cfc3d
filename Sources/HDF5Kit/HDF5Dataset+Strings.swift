import CHDF5
#if canImport(Glibc)
import Glibc
#endif

extension HDF5Group {
    /// Creates a 1-D dataset of variable-length UTF-8 strings (what h5py writes for `str`) at
    /// `path` and writes `strings`. A string is stored up to its first NUL character.
    ///
    /// Serial files only: HDF5 1.10 cannot write variable-length data through MPI-IO, so on a
    /// parallel file this throws (write string tables from one process, before or after the
    /// parallel phase).
    @discardableResult
    public func createStringDataset(_ path: String, strings: [String]) throws -> HDF5Dataset {
        let dataset = try createStringDataset(path, count: strings.count)
        try dataset.writeStrings(rows: 0..<strings.count, strings)
        return dataset
    }

    /// Creates a 1-D dataset of `count` variable-length UTF-8 strings at `path`, to be written
    /// piece by piece with `writeStrings(rows:_:)` (a table of millions of strings never needs
    /// to be held whole). Serial files only, as `createStringDataset(_:strings:)`.
    @discardableResult
    public func createStringDataset(_ path: String, count: Int) throws -> HDF5Dataset {
        let object = describe(path)
        guard !fileState.isParallel else {
            throw usageError("H5Dcreate2", object, "variable-length strings cannot be written through MPI-IO; write them from a serial file")
        }
        guard count >= 0 else { throw usageError("H5Dcreate2", object, "negative string count \(count)") }
        let did: hid_t = try withHDF5Scope(object) { scope in
            var dims = [hsize_t(count)]
            let space = try scope.own(H5Screate_simple(1, &dims, nil), .dataspace, "H5Screate_simple", object)
            let type = try variableStringType(in: scope, object: object)
            let lcpl = try linkCreationList(in: scope, object: object)
            let dcpl = try scope.own(H5Pcreate(mf_h5p_dataset_create()), .propertyList, "H5Pcreate(DATASET_CREATE)", object)
            try check(H5Pset_obj_track_times(dcpl, false), "H5Pset_obj_track_times", object)
            return try check(H5Dcreate2(id, path, type, space, lcpl, dcpl, hid_t(H5P_DEFAULT)), "H5Dcreate2", object)
        }
        return try HDF5Dataset(opened: HDF5Handle(did, .dataset), fileState: fileState, path: absolutePath(path))
    }

    /// Reads the whole 1-D string dataset at `path`.
    public func readStrings(_ path: String) throws -> [String] {
        try openDataset(path).readStrings()
    }
}

extension HDF5Dataset {
    /// Writes `strings` into rows `rows` of a 1-D variable-length string dataset (one string
    /// per row; a string is stored up to its first NUL). Serial files only.
    public func writeStrings(rows: Range<Int>, _ strings: [String]) throws {
        let object = objectDescription
        guard case .string(true) = elementType.kind, shape.count == 1 else {
            throw usageError("H5Dwrite", object, "dataset holds \(elementType) of shape \(shape), not a 1-D table of variable-length strings")
        }
        guard !fileState.isParallel else {
            throw usageError("H5Dwrite", object, "variable-length strings cannot be written through MPI-IO; write them from a serial file")
        }
        guard strings.count == rows.count else {
            throw usageError("H5Dwrite", object, "\(strings.count) strings given for rows \(rows)")
        }
        try requireWritable("H5Dwrite")
        try requireRows(rows, "H5Dwrite")
        guard !rows.isEmpty else { return }
        try withHDF5Scope(object) { scope in
            let type = try variableStringType(in: scope, object: object)
            let fileSpace = try scope.own(H5Dget_space(id), .dataspace, "H5Dget_space", object)
            var dims = [hsize_t(rows.count)]
            let memorySpace = try scope.own(H5Screate_simple(1, &dims, nil), .dataspace, "H5Screate_simple", object)
            var start = [hsize_t(rows.lowerBound)], count = [hsize_t(rows.count)]
            try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil), "H5Sselect_hyperslab", object)
            try withCStrings(strings) { pointers in
                try check(H5Dwrite(id, type, memorySpace, fileSpace, hid_t(H5P_DEFAULT), pointers), "H5Dwrite", object)
            }
        }
    }

    /// Reads a 1-D string dataset — variable-length or fixed-length, ASCII or UTF-8 — or the
    /// rows `rows` of it. Fixed-length strings end at their first NUL (null-terminated or
    /// null-padded) or lose trailing spaces (space-padded). Not collective.
    public func readStrings(rows: Range<Int>? = nil) throws -> [String] {
        let object = objectDescription
        guard case .string(let variableLength) = elementType.kind else {
            throw usageError("H5Dread", object, "dataset holds \(elementType), not strings")
        }
        guard shape.count <= 1 else {
            throw usageError("H5Dread", object, "string dataset of shape \(shape): only 1-D string datasets are read")
        }
        let rows = rows ?? 0..<rowCount
        if !shape.isEmpty { try requireRows(rows, "H5Dread") }
        let n = rows.count
        return try withHDF5Scope(object) { scope in
            // The file type is also the right memory type for strings (same character set and
            // padding; variable-length strings become char* in memory).
            let type = try scope.own(H5Dget_type(id), .datatype, "H5Dget_type", object)
            var fileSpace = hid_t(H5S_ALL), memorySpace = hid_t(H5S_ALL)
            if !shape.isEmpty {
                fileSpace = try scope.own(H5Dget_space(id), .dataspace, "H5Dget_space", object)
                var dims = [hsize_t(Swift.max(n, 1))]
                memorySpace = try scope.own(H5Screate_simple(1, &dims, nil), .dataspace, "H5Screate_simple", object)
                var start = [hsize_t(rows.lowerBound)], count = [hsize_t(n)]
                if n == 0 { return [] }
                try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil), "H5Sselect_hyperslab", object)
            }
            if variableLength {
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: Swift.max(n, 1))
                try check(H5Dread(id, type, memorySpace, fileSpace, hid_t(H5P_DEFAULT), &pointers), "H5Dread", object)
                let strings = pointers.prefix(n).map { $0.map { String(cString: $0) } ?? "" }
                // HDF5 allocated the strings; give them back (memory space = what was read).
                let reclaimSpace = memorySpace == hid_t(H5S_ALL)
                    ? try scope.own(H5Dget_space(id), .dataspace, "H5Dget_space", object) : memorySpace
                try check(H5Dvlen_reclaim(type, reclaimSpace, hid_t(H5P_DEFAULT), &pointers), "H5Dvlen_reclaim", object)
                return strings
            }
            let width = elementType.size
            let padding = H5Tget_strpad(type)
            try check(padding.rawValue, "H5Tget_strpad", object)
            var bytes = [UInt8](repeating: 0, count: Swift.max(n * width, 1))
            try check(H5Dread(id, type, memorySpace, fileSpace, hid_t(H5P_DEFAULT), &bytes), "H5Dread", object)
            return (0..<n).map { decodeFixed(bytes[$0 * width ..< ($0 + 1) * width], spacePadded: padding == H5T_STR_SPACEPAD) }
        }
    }
}

/// The type of variable-length UTF-8 strings (owned by `scope`).
func variableStringType(in scope: HDF5Scope, object: @autoclosure () -> String) throws -> hid_t {
    let type = try scope.own(H5Tcopy(mf_h5t_c_s1()), .datatype, "H5Tcopy", object())
    try check(H5Tset_size(type, mf_h5t_variable()), "H5Tset_size", object())
    try check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset", object())
    return type
}

/// Calls `body` with an array of C strings (`char *[]`) copied from `strings`, valid during
/// the call only.
@discardableResult
func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) throws -> R) rethrows -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    if pointers.isEmpty { pointers.append(nil) }  // a valid base address for zero strings
    return try pointers.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
}

/// The text of one fixed-length string slot: up to the first NUL, without trailing spaces
/// when space-padded. Invalid UTF-8 is repaired (U+FFFD), never fatal.
func decodeFixed(_ slot: ArraySlice<UInt8>, spacePadded: Bool) -> String {
    var end = slot.firstIndex(of: 0) ?? slot.endIndex
    if spacePadded {
        while end > slot.startIndex && slot[end - 1] == 0x20 { end -= 1 }
    }
    return String(decoding: slot[slot.startIndex..<end], as: UTF8.self)
}
