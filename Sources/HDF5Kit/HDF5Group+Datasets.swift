import CHDF5

extension HDF5Group {
    /// Creates a numeric dataset of `type` and `shape` at `path` (intermediate groups are
    /// created). `shape == []` makes a scalar dataset. With `chunk` (one extent per axis, each
    /// ≥ 1; clamped to the shape), the data is stored in chunks of that shape — e.g. a few rows
    /// per chunk for row-wise reads; a dataset with a zero-length axis is stored contiguously.
    /// Elements start at 0. Collective on a parallel file.
    @discardableResult
    public func createDataset(_ path: String, type: HDF5ScalarType, shape: [Int], chunk: [Int]? = nil) throws -> HDF5Dataset {
        let object = describe(path)
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw usageError("H5Dcreate2", object, "negative extent in shape \(shape)")
        }
        if let chunk, chunk.count != shape.count || chunk.contains(where: { $0 < 1 }) {
            throw usageError("H5Dcreate2", object, "chunk \(chunk) does not fit shape \(shape) (one extent ≥ 1 per axis)")
        }
        let did: hid_t = try withHDF5Scope(object) { scope in
            let space: hid_t
            if shape.isEmpty {
                space = try scope.own(H5Screate(H5S_SCALAR), .dataspace, "H5Screate", object)
            } else {
                var dims = shape.map { hsize_t($0) }
                space = try scope.own(H5Screate_simple(Int32(shape.count), &dims, nil), .dataspace, "H5Screate_simple", object)
            }
            let dcpl = try scope.own(H5Pcreate(mf_h5p_dataset_create()), .propertyList, "H5Pcreate(DATASET_CREATE)", object)
            // No modification times: the same content gives the same bytes (reproducible files).
            try check(H5Pset_obj_track_times(dcpl, false), "H5Pset_obj_track_times", object)
            if let chunk, !shape.isEmpty, !shape.contains(0) {
                var dims = zip(chunk, shape).map { hsize_t(Swift.min($0, $1)) }
                try check(H5Pset_chunk(dcpl, Int32(dims.count), &dims), "H5Pset_chunk", object)
            }
            let lcpl = try linkCreationList(in: scope, object: object)
            return try check(H5Dcreate2(id, path, type.fileType, space, lcpl, dcpl, hid_t(H5P_DEFAULT)), "H5Dcreate2", object)
        }
        return try HDF5Dataset(opened: HDF5Handle(did, .dataset), fileState: fileState, path: absolutePath(path))
    }

    /// Creates a dataset of `T` holding `values` (shape defaults to `[values.count]`; the
    /// element count must match) and writes them. Collective on a parallel file, where rank 0's
    /// values are written.
    @discardableResult
    public func createDataset<T: HDF5Scalar>(_ path: String, values: [T], shape: [Int]? = nil, chunk: [Int]? = nil) throws -> HDF5Dataset {
        let shape = shape ?? [values.count]
        guard shape.reduce(1, *) == values.count else {
            throw usageError("H5Dcreate2", describe(path), "\(values.count) values given for shape \(shape)")
        }
        let dataset = try createDataset(path, type: T.hdf5Type, shape: shape, chunk: chunk)
        try dataset.write(values)
        return dataset
    }

    /// Opens the existing dataset at `path`; throws an `HDF5Error` naming the file and path if
    /// it is missing or not a dataset.
    public func openDataset(_ path: String) throws -> HDF5Dataset {
        let object = describe(path)
        let did = try HDF5Lock.sync {
            try check(H5Dopen2(id, path, hid_t(H5P_DEFAULT)), "H5Dopen2", object)
        }
        return try HDF5Dataset(opened: HDF5Handle(did, .dataset), fileState: fileState, path: absolutePath(path))
    }

    /// Reads the whole numeric dataset at `path`, converted to `T`.
    public func readDataset<T: HDF5Scalar>(_ path: String, as type: T.Type = T.self) throws -> [T] {
        try openDataset(path).read(as: T.self)
    }
}
