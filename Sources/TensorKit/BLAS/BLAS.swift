import CKernels
import COpenBLAS

/// OpenBLAS as a library: its threads and the kernel set it runs. Products go through
/// `MatrixEngine.gemm`, whose OpenBLAS engine calls `cblas_sgemm`.
public enum BLAS {
    /// OpenBLAS worker threads of this process (one per MPI rank by default).
    public static var threads: Int {
        get { Int(mf_blas_get_num_threads()) }
        set { mf_blas_set_num_threads(Int32(newValue)) }
    }

    /// OpenBLAS's build description (core, threading, version).
    public static var configuration: String { String(cString: mf_blas_config()) }

    /// The kernel set OpenBLAS runs, with a note when the program replaced the generic set that
    /// OpenBLAS's CPU detection fell back to (CKernels/blas_core.c): "SkylakeX (OpenBLAS detected
    /// Prescott; replaced)".
    public static var core: String {
        let name = String(cString: mf_blas_core_name()), replaced = String(cString: mf_blas_replaced_core())
        return replaced.isEmpty ? name : "\(name) (OpenBLAS detected \(replaced) on this CPU; replaced)"
    }
}
