import CHDF5

/// Attributes: small named values attached to a file (its root group), a group or a dataset.
/// On a parallel file, writing and deleting attributes are collective, with the same value on
/// every rank; reading is not.
extension HDF5Object {
    /// Writes attribute `name`, replacing an existing one of that name (whatever its type).
    public func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws {
        let object = "\(objectDescription) (attribute '\(name)')"
        guard fileState.isWritable else { throw usageError("H5Acreate2", object, "file is open read-only") }
        try withHDF5Scope(object) { scope in
            if try checkBool(H5Aexists(id, name), "H5Aexists", object) {
                try check(H5Adelete(id, name), "H5Adelete", object)
            }
            switch value {
            case .string(let text):
                let space = try scope.own(H5Screate(H5S_SCALAR), .dataspace, "H5Screate", object)
                let type = try variableStringType(in: scope, object: object)
                let attribute = try scope.own(H5Acreate2(id, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)), .attribute, "H5Acreate2", object)
                try withCStrings([text]) { try check(H5Awrite(attribute, type, $0), "H5Awrite", object) }
            case .int64(let v): try writeNumeric(name, [v], scalar: true, scope: scope, object: object)
            case .double(let v): try writeNumeric(name, [v], scalar: true, scope: scope, object: object)
            case .floats(let v): try writeNumeric(name, v, scalar: false, scope: scope, object: object)
            case .doubles(let v): try writeNumeric(name, v, scalar: false, scope: scope, object: object)
            case .int64s(let v): try writeNumeric(name, v, scalar: false, scope: scope, object: object)
            }
        }
    }

    private func writeNumeric<T: HDF5Scalar>(_ name: String, _ values: [T], scalar: Bool, scope: HDF5Scope, object: String) throws {
        let space: hid_t
        if scalar {
            space = try scope.own(H5Screate(H5S_SCALAR), .dataspace, "H5Screate", object)
        } else {
            var dims = [hsize_t(values.count)]
            space = try scope.own(H5Screate_simple(1, &dims, nil), .dataspace, "H5Screate_simple", object)
        }
        let attribute = try scope.own(H5Acreate2(id, name, T.hdf5Type.fileType, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)), .attribute, "H5Acreate2", object)
        if values.isEmpty { return }  // nothing to write; HDF5 wants a non-null buffer otherwise
        _ = try values.withUnsafeBufferPointer {
            try check(H5Awrite(attribute, T.hdf5Type.memoryType, $0.baseAddress!), "H5Awrite", object)
        }
    }

    /// Reads attribute `name` (see `HDF5AttributeValue` for how stored types map to cases).
    /// Throws if it is missing or of a kind HDF5Kit does not read (e.g. compound, 2-D).
    public func attribute(_ name: String) throws -> HDF5AttributeValue {
        let object = "\(objectDescription) (attribute '\(name)')"
        return try withAttribute(name, object: object) { attribute, type, elementType, count, isScalar in
            switch elementType.kind {
            case .string(let variableLength):
                guard count == 1 else { throw usageError("H5Aread", object, "\(count) strings; one expected") }
                if variableLength {
                    var pointer: UnsafeMutablePointer<CChar>? = nil
                    try check(H5Aread(attribute, type, &pointer), "H5Aread", object)
                    let text = pointer.map { String(cString: $0) } ?? ""
                    try withHDF5Scope(object) { scope in
                        let space = try scope.own(H5Aget_space(attribute), .dataspace, "H5Aget_space", object)
                        try check(H5Dvlen_reclaim(type, space, hid_t(H5P_DEFAULT), &pointer), "H5Dvlen_reclaim", object)
                    }
                    return .string(text)
                }
                let padding = H5Tget_strpad(type)
                try check(padding.rawValue, "H5Tget_strpad", object)
                var bytes = [UInt8](repeating: 0, count: Swift.max(elementType.size, 1))
                try check(H5Aread(attribute, type, &bytes), "H5Aread", object)
                return .string(decodeFixed(bytes[0..<elementType.size], spacePadded: padding == H5T_STR_SPACEPAD))
            case .integer:
                let values: [Int64] = try readNumeric(attribute, count: count, object: object)
                return isScalar ? .int64(values[0]) : .int64s(values)
            case .float:
                if isScalar { return .double(try readNumeric(attribute, count: 1, object: object)[0]) }
                return elementType.size <= 4
                    ? .floats(try readNumeric(attribute, count: count, object: object))
                    : .doubles(try readNumeric(attribute, count: count, object: object))
            case .other:
                throw usageError("H5Aread", object, "attribute holds \(elementType), which HDF5Kit does not read")
            }
        }
    }

    /// Whether attribute `name` exists.
    public func hasAttribute(_ name: String) throws -> Bool {
        try HDF5Lock.sync { try checkBool(H5Aexists(id, name), "H5Aexists", "\(objectDescription) (attribute '\(name)')") }
    }

    /// Deletes attribute `name` (throws if missing).
    public func deleteAttribute(_ name: String) throws {
        let object = "\(objectDescription) (attribute '\(name)')"
        guard fileState.isWritable else { throw usageError("H5Adelete", object, "file is open read-only") }
        try HDF5Lock.sync { try check(H5Adelete(id, name), "H5Adelete", object) }
    }

    /// The names of this object's attributes, sorted by name (byte order).
    public func attributeNames() throws -> [String] {
        final class Names { var names: [String] = [] }
        let names = Names()
        try HDF5Lock.sync {
            try withExtendedLifetime(names) {
                try check(H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, context in
                    guard let name, let context else { return -1 }
                    Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().names.append(String(cString: name))
                    return 0
                }, Unmanaged.passUnretained(names).toOpaque()), "H5Aiterate2", objectDescription)
            }
        }
        return names.names
    }

    // MARK: - Typed reads

    /// A string attribute (variable- or fixed-length); throws if it holds something else.
    public func stringAttribute(_ name: String) throws -> String {
        guard case .string(let s) = try attribute(name) else { throw mismatch(name, "a string") }
        return s
    }

    /// An integer attribute (scalar or one-element array, any integer width).
    public func int64Attribute(_ name: String) throws -> Int64 {
        switch try attribute(name) {
        case .int64(let v): return v
        case .int64s(let v) where v.count == 1: return v[0]
        default: throw mismatch(name, "one integer")
        }
    }

    /// A numeric attribute as Double (scalar or one-element array, float or integer).
    public func doubleAttribute(_ name: String) throws -> Double {
        switch try attribute(name) {
        case .double(let v): return v
        case .int64(let v): return Double(v)
        case .floats(let v) where v.count == 1: return Double(v[0])
        case .doubles(let v) where v.count == 1: return v[0]
        default: throw mismatch(name, "one number")
        }
    }

    /// A float array attribute (float32 or float64 in the file; a scalar gives one element).
    public func floatArrayAttribute(_ name: String) throws -> [Float] {
        switch try attribute(name) {
        case .floats(let v): return v
        case .doubles(let v): return v.map { Float($0) }
        case .double(let v): return [Float(v)]
        default: throw mismatch(name, "floats")
        }
    }

    /// An integer array attribute (a scalar gives one element).
    public func int64ArrayAttribute(_ name: String) throws -> [Int64] {
        switch try attribute(name) {
        case .int64s(let v): return v
        case .int64(let v): return [v]
        default: throw mismatch(name, "integers")
        }
    }

    private func mismatch(_ name: String, _ expected: String) -> HDF5Error {
        let found = (try? attribute(name)).map { "\($0)" } ?? "?"
        return usageError("H5Aread", "\(objectDescription) (attribute '\(name)')", "holds \(found), not \(expected)")
    }

    // MARK: - Plumbing

    /// Opens attribute `name` and calls `body(attribute, fileType, elementType, count, isScalar)`.
    private func withAttribute<R>(_ name: String, object: String,
                                  _ body: (hid_t, hid_t, HDF5ElementType, Int, Bool) throws -> R) throws -> R {
        try withHDF5Scope(object) { scope in
            let attribute = try scope.own(H5Aopen(id, name, hid_t(H5P_DEFAULT)), .attribute, "H5Aopen", object)
            let type = try scope.own(H5Aget_type(attribute), .datatype, "H5Aget_type", object)
            let space = try scope.own(H5Aget_space(attribute), .dataspace, "H5Aget_space", object)
            let rank = Int(try check(H5Sget_simple_extent_ndims(space), "H5Sget_simple_extent_ndims", object))
            guard rank <= 1 else { throw usageError("H5Aread", object, "\(rank)-D attribute; scalars and 1-D arrays are read") }
            let count = Int(try check(H5Sget_simple_extent_npoints(space), "H5Sget_simple_extent_npoints", object))
            let elementType = try HDF5ElementType.describe(type, object: object)
            return try body(attribute, type, elementType, count, rank == 0)
        }
    }

    private func readNumeric<T: HDF5Scalar>(_ attribute: hid_t, count: Int, object: String) throws -> [T] {
        guard count > 0 else { return [] }
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialised in
            try check(H5Aread(attribute, T.hdf5Type.memoryType, buffer.baseAddress!), "H5Aread", object)
            initialised = count
        }
    }
}
