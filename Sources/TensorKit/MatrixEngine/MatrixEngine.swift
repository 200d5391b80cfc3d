import CKernels
import COpenBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which matrix engine a configuration asks for (`matmul_engine`, MATMUL.md §2).
public enum MatmulEngineChoice: String, CaseIterable, Sendable {
    /// oneDNN when its library loads, else OpenBLAS.
    case auto
    case onednn
    case openblas
}

/// The engine products actually run on.
public enum MatmulEngineKind: String, Sendable {
    case openblas
    case onednn
}

/// The precision of matrix-product operands (`precision`, MATMUL.md §3). Results and
/// accumulation are fp32 in both; bf16 rounds each operand to bfloat16 (nearest, ties to even).
public enum Precision: String, CaseIterable, Sendable {
    case fp32
    case bf16
}

/// An engine and a precision: what every matrix product of a process (or of a task, in tests)
/// runs with.
public struct MatrixEngineSelection: Sendable, Equatable, CustomStringConvertible {
    public let engine: MatmulEngineKind
    public let precision: Precision

    public init(engine: MatmulEngineKind, precision: Precision) {
        self.engine = engine
        self.precision = precision
    }

    /// OpenBLAS, fp32: the numbers of every release before the engine existed.
    public static let reference = MatrixEngineSelection(engine: .openblas, precision: .fp32)

    public var description: String { "\(engine.rawValue) \(precision.rawValue)" }
}

/// The engine cannot be used as configured.
public struct MatrixEngineError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// **The one interface for every matrix product** (MATMUL.md §2): `gemm` computes
/// C[m×n] = α·op(A)·op(B) + β·C, row-major, where op(A) is m×k (A stored k×m when `transA`) and
/// op(B) is k×n (B stored n×k when `transB`).
///
/// Behind it, two engines — OpenBLAS (`cblas_sgemm`) and oneDNN (matmul primitives cached per
/// shape, `OneDNNMatmul`) — and two precisions: fp32, and bf16 (operands rounded to bfloat16,
/// products accumulated and returned in fp32; everything that is not a product stays fp32).
/// With OpenBLAS, bf16 rounds the operands into fp32 buffers and runs sgemm: the same rounding and
/// the same exact products as the bf16 kernels, so the two engines differ only in summation order.
///
/// **Selection.** The command sets the process's selection once from its configuration
/// (`configure`); tests run a closure under another selection (`with`), which is task-local so
/// that tests running in parallel do not see each other's. Caches and workspaces are per thread
/// (`MatrixContext`).
///
/// **Weights.** In bf16 a weight's bf16 copy is made once per scope (`withWeights`: a training
/// step, an evaluation), not per use: products whose operand lies inside the registered block
/// read the copy. Outside a scope every operand is rounded when used, with identical results.
public enum MatrixEngine {
    @TaskLocal static var scoped: MatrixEngineSelection?
    /// The process-wide selection, packed into one byte (read by every product, written once).
    private static let processSelection = Atomic<UInt8>(MatrixEngineSelection.reference.packed)

    /// The selection products run with on this task/thread.
    public static var selection: MatrixEngineSelection {
        scoped ?? MatrixEngineSelection(packed: processSelection.load(ordering: .relaxed))
    }

    /// Turns a configuration's choice into a selection: `auto` takes oneDNN when its library loads;
    /// `onednn` where it does not is an error that says why and what to do.
    public static func resolve(_ choice: MatmulEngineChoice, precision: Precision) throws -> MatrixEngineSelection {
        switch choice {
        case .openblas:
            return MatrixEngineSelection(engine: .openblas, precision: precision)
        case .onednn:
            if let reason = OneDNNLibrary.unavailableReason {
                throw MatrixEngineError(description: "matmul_engine: onednn, but \(reason)")
            }
            return MatrixEngineSelection(engine: .onednn, precision: precision)
        case .auto:
            return MatrixEngineSelection(engine: OneDNNLibrary.isAvailable ? .onednn : .openblas, precision: precision)
        }
    }

    /// Sets the process-wide selection (the command does this once, before any product), and
    /// gives oneDNN as many threads as OpenBLAS has (one per rank by default).
    public static func configure(_ selection: MatrixEngineSelection) {
        processSelection.store(selection.packed, ordering: .relaxed)
        if selection.engine == .onednn { OneDNNLibrary.setThreads(BLAS.threads) }
    }

    /// Runs `body` with `selection` for this task only (tests compare engines and precisions).
    /// `oneDNNSmallProduct` replaces the work per row below which oneDNN leaves a product to
    /// OpenBLAS (tests pass 0 so that their small models run on oneDNN's kernels too).
    public static func with<R>(_ selection: MatrixEngineSelection, oneDNNSmallProduct: Int? = nil, _ body: () throws -> R) rethrows -> R {
        if selection.engine == .onednn { OneDNNLibrary.setThreads(BLAS.threads) }
        return try $scoped.withValue(selection) {
            try $scopedSmallProduct.withValue(oneDNNSmallProduct ?? scopedSmallProduct, operation: body)
        }
    }

    @TaskLocal static var scopedSmallProduct: Int?
    /// Products with fewer multiply-adds per row (n·k; m·n for Xᵀ·Y) run on OpenBLAS under the
    /// oneDNN engine (2¹³; the environment variable MAMFUSION_ONEDNN_SMALL_PRODUCT sets another
    /// value for a process).
    static let processSmallProduct: Int = {
        if let text = getenv("MAMFUSION_ONEDNN_SMALL_PRODUCT"), let value = Int(String(cString: text)), value >= 0 { return value }
        return 1 << 13
    }()
    static var oneDNNSmallProduct: Int { scopedSmallProduct ?? processSmallProduct }

    /// Runs `body` with the parameter block [base, base + count) registered as weights: in bf16 its
    /// rounded copy is made now, once, and every product reading inside the block uses it. The block
    /// must not change inside `body` (a step's forward and backward; the optimizer runs outside).
    public static func withWeights<R>(_ base: UnsafePointer<Float>, count: Int, _ body: () throws -> R) rethrows -> R {
        let context = MatrixContext.current
        context.pushWeights(base: base, count: count, selection: selection)
        defer { context.popWeights() }
        return try body()
    }

    /// Counters of this thread's products since the last `resetStatistics` (benches, doctor).
    public static var statistics: MatrixEngineStatistics { MatrixContext.current.statistics }
    public static func resetStatistics() { MatrixContext.current.statistics.reset() }

    /// C[m×n] = α·op(A)·op(B) + β·C (row-major; lda, ldb, ldc are row strides of the matrices as
    /// stored). β = 1 accumulates into C; k = 0 leaves β·C.
    ///
    /// `rowInvariant`: a row of C gets the same bits whatever other rows share the product (how
    /// many, where it sits). bf16 products always are (a last-bit difference could flip a later
    /// rounding), and so are oneDNN's tiled pieces; fp32 products on OpenBLAS run whole unless
    /// asked — as before the engine existed — because fixed row blocks cost time there. The
    /// evaluator asks: exact-bf16 re-scores a subset of a block's rows and must reproduce the
    /// fp32 block's bits.
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                            rowInvariant: Bool = false) {
        if m == 0 || n == 0 { return }
        let product = GemmProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
                                  rowInvariant: rowInvariant)
        MatrixContext.current.run(product, selection: selection)
    }

    /// `batch` independent products C_i = α·op(A_i)·op(B_i) + β·C_i with A_i = a + i·strideA,
    /// B_i = b + i·strideB, C_i = c + i·strideC (a stride of 0 shares one operand).
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

extension MatrixEngineSelection {
    var packed: UInt8 { (engine == .onednn ? 2 : 0) | (precision == .bf16 ? 1 : 0) }
    init(packed: UInt8) {
        self.init(engine: packed & 2 != 0 ? .onednn : .openblas, precision: packed & 1 != 0 ? .bf16 : .fp32)
    }
}
