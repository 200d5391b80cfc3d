import CHDF5

/// The kinds of HDF5 identifier HDF5Kit owns, each with its close function.
enum HandleKind: Sendable {
    case file, group, dataset, dataspace, datatype, propertyList, attribute, object

    /// The close call's name, for error messages.
    var closeCall: String {
        switch self {
        case .file: "H5Fclose"
        case .group: "H5Gclose"
        case .dataset: "H5Dclose"
        case .dataspace: "H5Sclose"
        case .datatype: "H5Tclose"
        case .propertyList: "H5Pclose"
        case .attribute: "H5Aclose"
        case .object: "H5Oclose"
        }
    }

    func close(_ id: hid_t) -> herr_t {
        switch self {
        case .file: H5Fclose(id)
        case .group: H5Gclose(id)
        case .dataset: H5Dclose(id)
        case .dataspace: H5Sclose(id)
        case .datatype: H5Tclose(id)
        case .propertyList: H5Pclose(id)
        case .attribute: H5Aclose(id)
        case .object: H5Oclose(id)
        }
    }
}

/// A long-lived HDF5 identifier (file, group, dataset) owned by one Swift object: closed exactly
/// once, by `close()` (checked) or else by `deinit` (where a failure can only be ignored).
// @unchecked Sendable: its identifier is used and closed only under `HDF5Lock`.
final class HDF5Handle: @unchecked Sendable {
    /// The identifier, or `H5I_INVALID_HID` once closed (HDF5 then rejects it with
    /// "not a valid identifier", which surfaces as an `HDF5Error`).
    private(set) var id: hid_t
    let kind: HandleKind

    /// Takes ownership of `id`, which must be valid (already `check`ed).
    init(_ id: hid_t, _ kind: HandleKind) {
        self.id = id
        self.kind = kind
    }

    /// Closes the identifier now; later calls do nothing.
    func close(object: @autoclosure () -> String) throws {
        try HDF5Lock.sync {
            guard id >= 0 else { return }
            let rc = kind.close(id)
            id = mf_h5i_invalid_hid()
            try check(rc, kind.closeCall, object())
        }
    }

    deinit {
        if id >= 0 {
            let (id, kind) = (self.id, self.kind)
            HDF5Lock.sync { _ = kind.close(id) }
        }
    }
}

/// Owns the short-lived identifiers (dataspaces, datatypes, property lists, attributes) of one
/// operation and closes them, newest first, when the operation ends — whether it returned or
/// threw. A failed close is reported unless the operation already failed.
///
///     try withHDF5Scope { scope in
///         let space = try scope.own(H5Dget_space(id), .dataspace, "H5Dget_space", object)
///         …
///     }
final class HDF5Scope {
    private var owned: [(hid_t, HandleKind)] = []
    fileprivate init() {}

    /// Checks `id` (throwing the call's error if it is negative) and takes ownership of it.
    func own(_ id: hid_t, _ kind: HandleKind, _ call: @autoclosure () -> String,
             _ object: @autoclosure () -> String) throws -> hid_t {
        try check(id, call(), object())
        owned.append((id, kind))
        return id
    }

    fileprivate func closeAll(object: () -> String) throws {
        var firstError: HDF5Error?
        while let (id, kind) = owned.popLast() {
            do { try check(kind.close(id), kind.closeCall, object()) } catch let error as HDF5Error {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }

    fileprivate func closeAllIgnoringErrors() {
        while let (id, kind) = owned.popLast() { _ = kind.close(id) }
    }
}

/// Runs `body` under the HDF5 lock with a fresh `HDF5Scope`, then closes what it owns.
/// `object` names the object for a failed close.
func withHDF5Scope<R>(_ object: @autoclosure () -> String, _ body: (HDF5Scope) throws -> R) throws -> R {
    try HDF5Lock.sync {
        let scope = HDF5Scope()
        let result: R
        do {
            result = try body(scope)
        } catch {
            scope.closeAllIgnoringErrors()
            throw error
        }
        try scope.closeAll(object: object)
        return result
    }
}
