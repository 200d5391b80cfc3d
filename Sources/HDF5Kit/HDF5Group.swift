import CHDF5

/// What a path inside a file names.
public enum HDF5ObjectKind: Sendable, Equatable {
    case group, dataset
    /// A committed datatype or anything else HDF5Kit does not open.
    case other
}

/// An HDF5 group: a directory of named groups and datasets. Paths given to its methods are
/// relative to the group, or absolute ("/a/b") from the file's root.
///
/// On a parallel file, creating groups is collective; opening and querying are not.
// @unchecked Sendable: every call into HDF5 runs under `HDF5Lock`.
public class HDF5Group: HDF5Object, @unchecked Sendable {
    /// Creates the group at `path`, creating missing intermediate groups too
    /// (H5Pset_create_intermediate_group). Throws if something already exists at `path`.
    @discardableResult
    public func createGroup(_ path: String) throws -> HDF5Group {
        let object = describe(path)
        let gid: hid_t = try withHDF5Scope(object) { scope in
            let lcpl = try linkCreationList(in: scope, object: object)
            let gcpl = try scope.own(H5Pcreate(mf_h5p_group_create()), .propertyList, "H5Pcreate(GROUP_CREATE)", object)
            try check(H5Pset_obj_track_times(gcpl, false), "H5Pset_obj_track_times", object)
            return try check(H5Gcreate2(id, path, lcpl, gcpl, hid_t(H5P_DEFAULT)), "H5Gcreate2", object)
        }
        return HDF5Group(handle: HDF5Handle(gid, .group), fileState: fileState, path: absolutePath(path))
    }

    /// Opens the existing group at `path`; throws if it is missing or not a group.
    public func openGroup(_ path: String) throws -> HDF5Group {
        let object = describe(path)
        let gid = try HDF5Lock.sync {
            try check(H5Gopen2(id, path, hid_t(H5P_DEFAULT)), "H5Gopen2", object)
        }
        return HDF5Group(handle: HDF5Handle(gid, .group), fileState: fileState, path: absolutePath(path))
    }

    /// Whether `path` names an object. Checks one component at a time (H5Lexists on "a", then
    /// "a/b", …), so a missing intermediate group gives `false`, not an error; a component
    /// that exists but is not a group also gives `false`.
    public func exists(_ path: String) throws -> Bool {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if components.isEmpty { return true }  // "" or "/": this group / the root
        let object = describe(path)
        return try HDF5Lock.sync {
            let root = path.hasPrefix("/") ? "/" : ""
            for i in components.indices {
                let prefix = root + components[...i].joined(separator: "/")
                guard try checkBool(H5Lexists(id, prefix, hid_t(H5P_DEFAULT)), "H5Lexists", object) else { return false }
                // A link may dangle (soft link to nothing): ask for the object too.
                guard try checkBool(H5Oexists_by_name(id, prefix, hid_t(H5P_DEFAULT)), "H5Oexists_by_name", object) else { return false }
                if i < components.count - 1, try objectKind(at: prefix, object: object) != .group { return false }
            }
            return true
        }
    }

    /// What `path` names, or nil if nothing is there.
    public func kind(of path: String) throws -> HDF5ObjectKind? {
        guard try exists(path) else { return nil }
        return try HDF5Lock.sync { try objectKind(at: path, object: describe(path)) }
    }

    /// The names of this group's direct members (groups, datasets, links), **sorted by name**
    /// in byte order (HDF5's name index, H5_ITER_INC) — not in creation order, which HDF5 only
    /// tracks when the group was created with creation-order tracking.
    public func memberNames() throws -> [String] {
        final class Names { var names: [String] = [] }
        let names = Names()
        try HDF5Lock.sync {
            try withExtendedLifetime(names) {
                try check(H5Literate(id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, context in
                    guard let name, let context else { return -1 }
                    Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().names.append(String(cString: name))
                    return 0
                }, Unmanaged.passUnretained(names).toOpaque()), "H5Literate", objectDescription)
            }
        }
        return names.names
    }

    /// The kind of an object known to exist (caller holds the lock).
    func objectKind(at path: String, object: @autoclosure () -> String) throws -> HDF5ObjectKind {
        let oid = try check(H5Oopen(id, path, hid_t(H5P_DEFAULT)), "H5Oopen", object())
        let type = H5Iget_type(oid)
        try check(H5Oclose(oid), "H5Oclose", object())
        try check(type.rawValue, "H5Iget_type", object())
        switch type {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// Link creation properties: create missing intermediate groups; names are UTF-8 (as h5py).
    func linkCreationList(in scope: HDF5Scope, object: @autoclosure () -> String) throws -> hid_t {
        let lcpl = try scope.own(H5Pcreate(mf_h5p_link_create()), .propertyList, "H5Pcreate(LINK_CREATE)", object())
        try check(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group", object())
        try check(H5Pset_char_encoding(lcpl, H5T_CSET_UTF8), "H5Pset_char_encoding", object())
        return lcpl
    }
}
