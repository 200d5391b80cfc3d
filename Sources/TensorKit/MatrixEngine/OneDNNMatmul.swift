import CKernels

/// The oneDNN engine: products on oneDNN matmul primitives, cached per shape.
///
/// **Fixed shapes.** oneDNN's fastest kernels (brgemm: AMX tiles, AVX512-BF16, AVX-512) are
/// generated for one shape and one set of strides; creating one takes 0.1–0.4 ms. A training
/// step's products mostly vary in one dimension — the rows of the batch (m; the summation k of
/// a weight gradient Xᵀ·dY) — so that dimension is cut into pieces of fixed sizes (`PieceSizes`:
/// 1024, 512, …, 16), and every shape a product family can ever need is created the first time
/// the family appears. After the first step no primitive is created; a remainder thinner than 16
/// rows runs on OpenBLAS. A product's result still depends only on its operands and shape.
///
/// **Rows never depend on the batch.** The engine that runs a product, and the kernel of each
/// row, depend only on the product's fixed sizes (n, k; m, n for Xᵀ·Y), never on how many rows
/// it has: a remainder below 16 rows is padded to a 16-row piece, not handed to OpenBLAS. So a
/// row's bits are the same on any number of ranks and in any micro-batch (in bf16 a last-bit
/// difference could otherwise flip a later rounding).
///
/// **What stays on OpenBLAS.** Products with under 2¹³ multiply-adds per row (per-sequence
/// attention: 40,000 calls in a 32-video step, under 5% of its arithmetic) and products with
/// fewer than 16 columns: their shapes vary too much to cache and oneDNN would gain little on
/// them. In bf16 their operands are rounded just the same.
///
/// **No allocation when running.** Scratchpads are user-managed (one per thread, grown when a
/// primitive is created); bf16 operand copies go to growing workspaces.
final class OneDNNMatmul {

    private struct Key: Hashable {
        var transA: Bool, transB: Bool
        var m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        var alpha: UInt32
        var accumulate: Bool
        var bf16: Bool
    }

    /// A created primitive (nil: oneDNN has no kernel for the shape; OpenBLAS runs it).
    private var primitives: [Key: OpaquePointer?] = [:]
    /// Families (keys with the cut dimension set to 0) whose piece shapes have all been created.
    private var families: Set<Key> = []
    private let scratchpad = EngineBuffer()

    func run(_ p: GemmProduct, bf16: Bool, context: MatrixContext) {
        let rowWork = p.transA ? p.m * p.n : p.n * p.k
        if rowWork < MatrixEngine.oneDNNSmallProduct || p.n < PieceSizes.smallest || (!p.transA && p.k < PieceSizes.smallest) {
            context.runOpenBLAS(p, bf16: bf16)
            return
        }
        // Operands as the primitive reads them: the caller's floats, or bf16 patterns.
        let a: UnsafeRawPointer, lda: Int, b: UnsafeRawPointer, ldb: Int
        if bf16 {
            let ra = context.roundedPatterns(p.a, rows: p.aRows, columns: p.aColumns, ld: p.lda, into: context.patternsA)
            let rb = context.roundedPatterns(p.b, rows: p.bRows, columns: p.bColumns, ld: p.ldb, into: context.patternsB)
            (a, lda, b, ldb) = (UnsafeRawPointer(ra.0), ra.1, UnsafeRawPointer(rb.0), rb.1)
        } else {
            (a, lda, b, ldb) = (UnsafeRawPointer(p.a), p.lda, UnsafeRawPointer(p.b), p.ldb)
        }
        let element = bf16 ? 2 : 4
        var key = Key(transA: p.transA, transB: p.transB, m: p.m, n: p.n, k: p.k, lda: lda, ldb: ldb, ldc: p.ldc,
                      alpha: p.alpha.bitPattern, accumulate: p.beta == 1, bf16: bf16)
        prepareFamily(of: key, context: context)

        /// One piece: rows [row, row + rows) × summation [depth, depth + depths).
        func piece(row: Int, rows: Int, depth: Int, depths: Int, first: Bool) {
            let beta: Float = first ? p.beta : 1
            guard rows >= PieceSizes.smallest, depths >= PieceSizes.smallest else {
                context.runOpenBLAS(p.block(row: row, rows: rows, depth: depth, depths: depths, beta: beta), bf16: bf16)
                return
            }
            key.m = rows
            key.k = depths
            key.accumulate = beta == 1
            guard let primitive = primitive(for: key, context: context) else {
                context.runOpenBLAS(p.block(row: row, rows: rows, depth: depth, depths: depths, beta: beta), bf16: bf16)
                return
            }
            let aOffset = p.transA ? depth * lda + row : row * lda + depth
            let bOffset = p.transB ? depth : depth * ldb
            let status = mf_dnnl_matmul_execute(primitive, a + aOffset * element, b + bOffset * element,
                                                p.c + row * p.ldc, scratchpad.raw)
            precondition(status == 0, "oneDNN failed to run a \(rows)×\(p.n)×\(depths) product")
            context.statistics.oneDNNMultiplyAdds += Double(rows * p.n * depths)
        }

        func rowsOf(row: Int, rows: Int) {
            if p.transA {
                var first = true
                let rest = PieceSizes.forEach(p.k) { depth, depths in
                    piece(row: row, rows: rows, depth: depth, depths: depths, first: first)
                    first = false
                }
                if rest.size > 0 { piece(row: row, rows: rows, depth: rest.offset, depths: rest.size, first: first) }
            } else {
                piece(row: row, rows: rows, depth: 0, depths: p.k, first: true)
            }
        }
        if p.transA {
            // Xᵀ·Y: m is a fixed size of the model (a layer's width), not the batch: its rows need no
            // cutting beyond chunks (a thin last chunk runs on OpenBLAS).
            Self.fixedRows(p.m) { row, rows in rowsOf(row: row, rows: rows) }
            return
        }
        let rest = PieceSizes.forEach(p.m) { row, rows in rowsOf(row: row, rows: rows) }
        guard rest.size > 0 else { return }
        guard let primitive = primitive(for: padded(key), context: context) else { return rowsOf(row: rest.offset, rows: rest.size) }
        // The last rows, padded with zero rows to a 16-row piece (C's rows copied in when it accumulates).
        let pad = PieceSizes.smallest, rows = rest.size
        let operand = paddedRows.reserve(pad * lda * element, of: UInt8.self)
        (operand + rows * lda * element).initialize(repeating: 0, count: (pad - rows) * lda * element)
        for i in 0..<rows {
            (operand + i * lda * element).update(from: (a + (rest.offset + i) * lda * element).assumingMemoryBound(to: UInt8.self),
                                                 count: p.k * element)
        }
        let result = paddedResult.reserve(pad * p.ldc, of: Float.self)
        if p.beta != 0 { for i in 0..<rows { (result + i * p.ldc).update(from: p.c + (rest.offset + i) * p.ldc, count: p.n) } }
        let status = mf_dnnl_matmul_execute(primitive, operand, b, result, scratchpad.raw)
        precondition(status == 0, "oneDNN failed to run a \(pad)×\(p.n)×\(p.k) product")
        for i in 0..<rows { (p.c + (rest.offset + i) * p.ldc).update(from: result + i * p.ldc, count: p.n) }
        context.statistics.oneDNNMultiplyAdds += Double(pad * p.n * p.k)
    }

    /// The row pieces of an Xᵀ·Y product, whose m is fixed by the model: all of it up to 2048
    /// rows, else chunks of 1024 and the rest.
    private static func fixedRows(_ m: Int, _ body: (_ row: Int, _ rows: Int) -> Void) {
        let chunk = m <= 2 * PieceSizes.chunk ? m : PieceSizes.chunk
        var row = 0
        while row < m {
            body(row, min(chunk, m - row))
            row += chunk
        }
    }

    /// The key of a product's padded 16-row piece (a piece shape its family already has).
    private func padded(_ key: Key) -> Key {
        var shape = key
        shape.m = PieceSizes.smallest
        return shape
    }
    private let paddedRows = EngineBuffer(), paddedResult = EngineBuffer()

    /// The first time a family is seen, creates every piece shape it can need: the row pieces
    /// (and, for Xᵀ·Y products, each row piece of its fixed m × every summation piece, both as
    /// first piece and as accumulating piece).
    private func prepareFamily(of key: Key, context: MatrixContext) {
        var family = key
        if key.transA { family.k = 0 } else { family.m = 0 }
        guard !families.contains(family) else { return }
        families.insert(family)
        var shape = key
        if key.transA {
            Self.fixedRows(key.m) { _, rows in
                for depths in PieceSizes.all {
                    for accumulate in Set([key.accumulate, true]) {
                        shape.m = rows; shape.k = depths; shape.accumulate = accumulate
                        _ = primitive(for: shape, context: context)
                    }
                }
            }
        } else {
            for rows in PieceSizes.all {
                shape.m = rows
                _ = primitive(for: shape, context: context)
            }
        }
    }

    private func primitive(for key: Key, context: MatrixContext) -> OpaquePointer? {
        if let cached = primitives[key] { return cached }
        let start = MonotonicClock.now()
        var shape = mf_dnnl_matmul_shape(trans_a: key.transA ? 1 : 0, trans_b: key.transB ? 1 : 0,
                                         m: Int64(key.m), n: Int64(key.n), k: Int64(key.k),
                                         lda: Int64(key.lda), ldb: Int64(key.ldb), ldc: Int64(key.ldc),
                                         alpha: Float(bitPattern: key.alpha), accumulate: key.accumulate ? 1 : 0,
                                         bf16: key.bf16 ? 1 : 0)
        var error: UnsafePointer<CChar>? = nil
        var created = mf_dnnl_matmul_create(&shape, &error)
        if let p = created {
            let impl = String(cString: mf_dnnl_matmul_impl(p))
            if impl.hasPrefix("ref") {
                // oneDNN's reference loops: far slower than OpenBLAS; let OpenBLAS run the shape.
                mf_dnnl_matmul_destroy(p)
                created = nil
            } else {
                context.statistics.kernels[impl, default: 0] += 1
                _ = scratchpad.reserve(mf_dnnl_matmul_scratchpad_bytes(p), of: UInt8.self)
            }
        }
        if created == nil { context.statistics.unsupportedShapes += 1 }
        context.statistics.primitivesCreated += 1
        context.statistics.primitiveCreationSeconds += MonotonicClock.now() - start
        primitives[key] = created
        return created
    }

    deinit {
        for case let p? in primitives.values { mf_dnnl_matmul_destroy(p) }
    }
}
