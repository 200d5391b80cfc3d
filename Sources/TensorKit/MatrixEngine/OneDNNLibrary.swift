import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// oneDNN 2.x, loaded at run time (CKernels/onednn.c): whether it is here, and what it runs on.
public enum OneDNNLibrary {
    /// Why the library cannot be used here (not installed, wrong version, built without its
    /// headers), or nil when it can.
    public static var unavailableReason: String? {
        var error: UnsafePointer<CChar>? = nil
        return mf_dnnl_load(&error) != 0 ? nil : error.map { String(cString: $0) } ?? "oneDNN could not be loaded"
    }

    public static var isAvailable: Bool { mf_dnnl_load(nil) != 0 }

    /// "2.6.3", or "" when unavailable.
    public static var version: String { isAvailable ? String(cString: mf_dnnl_version()) : "" }

    /// The instruction set oneDNN dispatches to here: "avx512_core_amx" (the AMX tile units),
    /// "avx512_core_bf16" (AVX512-BF16 dot products), "avx512_core", "avx2", …
    public static var instructionSet: String { isAvailable ? String(cString: mf_dnnl_isa()) : "" }

    /// Whether bf16 products run on AMX tiles here (the case the bf16 mode is made for).
    public static var hasAMX: Bool { instructionSet == "avx512_core_amx" }

    /// OpenMP threads of oneDNN's kernels (one per rank by default, as OpenBLAS): the user's
    /// OMP_NUM_THREADS wins when set. (OpenMP's own default is one thread per core, which under
    /// mpirun puts P·cores spinning threads on the cores.)
    static func setThreads(_ threads: Int) {
        guard isAvailable, getenv("OMP_NUM_THREADS") == nil else { return }
        _ = mf_dnnl_set_threads(Int32(threads))
    }

    /// The threads oneDNN's kernels run with now.
    public static var threads: Int { Int(mf_dnnl_threads()) }
}
