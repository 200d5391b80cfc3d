import CKernels
import COpenBLAS

/// One thread's matrix-engine state: the oneDNN primitive cache, the operand workspaces, the
/// registered weight blocks and their bf16 copies, and the statistics. Reached through
/// `MatrixContext.current` (a pthread-specific pointer, released when the thread ends): oneDNN
/// streams and a primitive's memory objects must not be shared between threads, and neither
/// must workspaces.
final class MatrixContext {
    var statistics = MatrixEngineStatistics()
    private(set) lazy var oneDNN = OneDNNMatmul()
    /// Operands rounded to bf16 on use: as fp32 values (OpenBLAS) and as bf16 patterns (oneDNN).
    let roundedA = EngineBuffer(), roundedB = EngineBuffer()
    let patternsA = EngineBuffer(), patternsB = EngineBuffer()
    private var weights: [WeightBlock] = []
    private var weightDepth = 0

    static var current: MatrixContext {
        if let raw = mf_thread_context_get() { return Unmanaged<MatrixContext>.fromOpaque(raw).takeUnretainedValue() }
        let context = MatrixContext()
        mf_thread_context_set(Unmanaged.passRetained(context).toOpaque()) { raw in
            if let raw { Unmanaged<MatrixContext>.fromOpaque(raw).release() }
        }
        return context
    }

    /// Runs one product with `selection`.
    func run(_ product: GemmProduct, selection: MatrixEngineSelection) {
        var p = product
        statistics.products += 1
        if p.k == 0 {
            // No products to sum: C = β·C (BLAS leaves C untouched only for β = 1).
            if p.beta != 1 { scale(p.c, rows: p.m, columns: p.n, ld: p.ldc, by: p.beta) }
            return
        }
        if p.beta != 0 && p.beta != 1 {
            scale(p.c, rows: p.m, columns: p.n, ld: p.ldc, by: p.beta)
            p.beta = 1
        }
        switch selection.engine {
        case .openblas: runOpenBLAS(p, bf16: selection.precision == .bf16)
        case .onednn: oneDNN.run(p, bf16: selection.precision == .bf16, context: self)
        }
    }

    /// Rows of C per OpenBLAS call in a bf16 or row-invariant product over rows (not `transA`),
    /// the last block padded with zero rows. OpenBLAS picks its kernel — its small-matrix path among them — by
    /// the whole shape, so a row's bits would otherwise depend on how many rows share its product:
    /// on the batch, the micro-batch and the rank count; in bf16 such a last-bit difference can
    /// flip a later rounding by 2⁻⁸. With fixed blocks a row's result depends only on its own
    /// operands. Other fp32 products run whole, exactly as before the engine existed (the
    /// reference numbers; blocks cost up to a third of a step there).
    static let openBLASRowBlock = 64
    let paddedRows = EngineBuffer(), paddedResult = EngineBuffer()

    /// The product on OpenBLAS; in bf16 the operands are first rounded (weights from the scope's
    /// copy). Also the path of oneDNN's small products.
    func runOpenBLAS(_ p: GemmProduct, bf16: Bool) {
        statistics.openBLASMultiplyAdds += Double(p.multiplyAdds)
        var a = p.a, lda = p.lda, b = p.b, ldb = p.ldb
        if bf16 {
            (a, lda) = roundedFloats(p.a, rows: p.aRows, columns: p.aColumns, ld: p.lda, into: roundedA)
            (b, ldb) = roundedFloats(p.b, rows: p.bRows, columns: p.bColumns, ld: p.ldb, into: roundedB)
        }
        func sgemm(m: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int) {
            cblas_sgemm(CblasRowMajor, p.transA ? CblasTrans : CblasNoTrans, p.transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(p.n), Int32(p.k), p.alpha, a, Int32(lda), b, Int32(ldb), p.beta, c, Int32(ldc))
        }
        // Xᵀ·Y products sum over the rows (k); their m is a fixed size of the model.
        guard (bf16 || p.rowInvariant) && !p.transA else { return sgemm(m: p.m, a: a, c: p.c, ldc: p.ldc) }
        let block = Self.openBLASRowBlock, full = p.m / block * block
        for row in stride(from: 0, to: full, by: block) { sgemm(m: block, a: a + row * lda, c: p.c + row * p.ldc, ldc: p.ldc) }
        let rest = p.m - full
        guard rest > 0 else { return }
        let rows = paddedRows.reserve(block * lda, of: Float.self)
        (rows + rest * lda).update(repeating: 0, count: (block - rest) * lda)
        for i in 0..<rest { (rows + i * lda).update(from: a + (full + i) * lda, count: p.k) }
        let result = paddedResult.reserve(block * p.n, of: Float.self)
        if p.beta != 0 { for i in 0..<rest { (result + i * p.n).update(from: p.c + (full + i) * p.ldc, count: p.n) } }
        sgemm(m: block, a: rows, c: result, ldc: p.n)
        for i in 0..<rest { (p.c + (full + i) * p.ldc).update(from: result + i * p.n, count: p.n) }
    }

    /// The bf16-rounded values of a stored matrix as fp32: the weight block's copy when the matrix
    /// lies inside one, else rounded now into `buffer`. Either way the row stride stays `ld`, so a
    /// product has the same shape and strides (hence the same kernel and bits) inside a weight
    /// scope as outside it.
    func roundedFloats(_ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int,
                       into buffer: EngineBuffer) -> (UnsafePointer<Float>, Int) {
        if let block = weightBlock(containing: x, rows: rows, columns: columns, ld: ld), let copy = block.floats(&statistics) {
            return (copy + (x - block.base), ld)
        }
        let out = buffer.reserve((rows - 1) * ld + columns, of: Float.self)
        mf_bf16_round_matrix_f32(x, ld, rows, columns, out, ld)
        statistics.roundedOperandFloats += Double(rows * columns)
        return (UnsafePointer(out), ld)
    }

    /// The bf16 patterns of a stored matrix: the weight block's copy when inside one, else rounded
    /// now into `buffer` (row stride `ld`, as `roundedFloats`).
    func roundedPatterns(_ x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int,
                         into buffer: EngineBuffer) -> (UnsafePointer<UInt16>, Int) {
        if let block = weightBlock(containing: x, rows: rows, columns: columns, ld: ld), let copy = block.patterns(&statistics) {
            return (copy + (x - block.base), ld)
        }
        let out = buffer.reserve((rows - 1) * ld + columns, of: UInt16.self)
        mf_bf16_round_matrix(x, ld, rows, columns, out, ld)
        statistics.roundedOperandFloats += Double(rows * columns)
        return (UnsafePointer(out), ld)
    }

    // MARK: weight blocks

    /// A registered parameter block and its bf16 copies, made when first read in a scope (as
    /// fp32 values for OpenBLAS, as bf16 patterns for oneDNN) and then reused until the scope ends.
    final class WeightBlock {
        var base: UnsafePointer<Float>
        var count: Int
        var rounds = false
        private let floatCopy = EngineBuffer(), patternCopy = EngineBuffer()
        private var floatsReady = false, patternsReady = false
        init(base: UnsafePointer<Float>, count: Int) {
            self.base = base
            self.count = count
        }

        func reset(base: UnsafePointer<Float>, count: Int, rounds: Bool) {
            self.base = base
            self.count = count
            self.rounds = rounds
            floatsReady = false
            patternsReady = false
        }

        func floats(_ statistics: inout MatrixEngineStatistics) -> UnsafePointer<Float>? {
            guard rounds else { return nil }
            let copy = floatCopy.reserve(count, of: Float.self)
            if !floatsReady {
                mf_bf16_round_matrix_f32(base, count, 1, count, copy, count)
                statistics.roundedWeightFloats += Double(count)
                floatsReady = true
            }
            return UnsafePointer(copy)
        }

        func patterns(_ statistics: inout MatrixEngineStatistics) -> UnsafePointer<UInt16>? {
            guard rounds else { return nil }
            let copy = patternCopy.reserve(count, of: UInt16.self)
            if !patternsReady {
                mf_bf16_round_matrix(base, count, 1, count, copy, count)
                statistics.roundedWeightFloats += Double(count)
                patternsReady = true
            }
            return UnsafePointer(copy)
        }
    }

    func pushWeights(base: UnsafePointer<Float>, count: Int, selection: MatrixEngineSelection) {
        // Blocks are reused scope after scope (their copies keep their memory): no allocation per step.
        if weightDepth == weights.count { weights.append(WeightBlock(base: base, count: count)) }
        weights[weightDepth].reset(base: base, count: count, rounds: selection.precision == .bf16)
        weightDepth += 1
    }

    func popWeights() {
        weightDepth -= 1
        weights[weightDepth].reset(base: weights[weightDepth].base, count: 0, rounds: false)
    }

    /// The innermost registered block holding every element of the stored matrix, if any.
    private func weightBlock(containing x: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int) -> WeightBlock? {
        guard weightDepth > 0 else { return nil }
        let extent = (rows - 1) * ld + columns
        for i in stride(from: weightDepth - 1, through: 0, by: -1) {
            let block = weights[i]
            if x >= block.base && x + extent <= block.base + block.count { return block }
        }
        return nil
    }

    private func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ld: Int, by beta: Float) {
        for i in 0..<rows {
            let row = c + i * ld
            for j in 0..<columns { row[j] = beta == 0 ? 0 : beta * row[j] }
        }
    }
}
