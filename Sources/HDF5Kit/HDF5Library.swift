import CHDF5

/// Facts about the linked HDF5 library.
public enum HDF5Library {
    /// "major.minor.release" of the HDF5 library in use (H5get_libversion).
    public static var version: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }

    /// Whether this HDF5 was built with parallel (MPI-IO) support.
    public static var isParallel: Bool {
        mf_h5_have_parallel() != 0
    }
}
