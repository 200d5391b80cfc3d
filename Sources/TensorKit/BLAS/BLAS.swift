import CKernels
import COpenBLAS

/// Every matrix product in the project goes through here, to OpenBLAS's `cblas_sgemm`.
/// All matrices are row-major; `lda`, `ldb`, `ldc` are row strides in elements.
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

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is m×k (A is k×m when `transA`)
    /// and op(B) is k×n (B is n×k when `transB`). beta = 1 accumulates into C.
    @inlinable
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched for k = 0 only when beta = 1; make the beta scaling explicit.
            if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `batch` independent products C_i = alpha · op(A_i) · op(B_i) + beta · C_i with
    /// A_i = a + i·strideA, B_i = b + i·strideB, C_i = c + i·strideC (a stride of 0 shares
    /// one operand across the batch).
    @inlinable
    public static func gemmStridedBatched(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, strideA: Int,
                                          b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int,
                                          batch: Int) {
        for i in 0..<batch {
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                 a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                 beta: beta, c: c + i * strideC, ldc: ldc)
        }
    }
}
