import CKernels
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TensorKit
import TestSupport

struct BFloat16RoundingTests {
    static func pattern(_ bits: UInt32) -> UInt16 { mf_bf16_from_float(Float(bitPattern: bits)) }

    @Test("rounds to nearest with ties to even on the bit pattern")
    func nearestEven() {
        #expect(Self.pattern(0x3F80_0000) == 0x3F80)          // 1.0 exactly
        #expect(Self.pattern(0x3F80_7FFF) == 0x3F80)          // below the half: down
        #expect(Self.pattern(0x3F80_8000) == 0x3F80)          // tie, kept bit even: down
        #expect(Self.pattern(0x3F81_8000) == 0x3F82)          // tie, kept bit odd: up to even
        #expect(Self.pattern(0x3F80_8001) == 0x3F81)          // above the half: up
        #expect(Self.pattern(0xBF80_8001) == 0xBF81)          // sign kept
        #expect(Self.pattern(0x3FFF_FFFF) == 0x4000)          // carry into the exponent
    }

    @Test("infinities stay, overflow rounds to infinity, NaN stays a NaN with its sign, subnormals are kept")
    func specialValues() {
        #expect(Self.pattern(0x7F80_0000) == 0x7F80)
        #expect(Self.pattern(0xFF80_0000) == 0xFF80)
        #expect(Self.pattern(0x7F7F_FFFF) == 0x7F80)          // FLT_MAX rounds up to +inf
        let nan = Self.pattern(0x7F80_0001)                   // a NaN whose payload is in the dropped bits
        #expect(nan & 0x7F80 == 0x7F80 && nan & 0x007F != 0)
        #expect(Self.pattern(0xFFC0_0000) == 0xFFC0)
        #expect(Self.pattern(0x0001_8000) == 0x0002)          // subnormal tie to even: up
        #expect(Self.pattern(0x0000_8000) == 0x0000)          // subnormal tie to even: down
    }

    @Test("matrix rounding agrees with the scalar rounding, as patterns and as widened floats, with strides")
    func matrixRounding() {
        let rows = 7, columns = 37, ld = 41
        let x = FloatStorage.random(rows * ld, seed: 11)
        var patterns = [UInt16](repeating: 0, count: rows * columns)
        var floats = [Float](repeating: 0, count: rows * columns)
        mf_bf16_round_matrix(x.base, ld, rows, columns, &patterns, columns)
        mf_bf16_round_matrix_f32(x.base, ld, rows, columns, &floats, columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let expected = mf_bf16_from_float(x.base[r * ld + c])
                #expect(patterns[r * columns + c] == expected)
                #expect(floats[r * columns + c].bitPattern == UInt32(expected) << 16)
            }
        }
    }
}

struct MatrixEngineTests {
    /// Shapes that reach every path: OpenBLAS-sized products, oneDNN row pieces with a thin
    /// remainder (1100 = 1024 + 64 + 12), a cut summation for Xᵀ·Y (1400 = 1024 + 256 + 64 + 32 +
    /// 16 + 8), thin columns.
    static let shapes: [(m: Int, n: Int, k: Int)] = [(3, 17, 33), (1100, 40, 48), (40, 40, 1400), (300, 9, 800), (64, 64, 600)]

    /// Σ_p α·a·b in Double over the operands the selection multiplies (rounded to bf16 in bf16),
    /// and Σ_p |α·a·b| for the error bound.
    static func reference(_ tA: Bool, _ tB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                          b: UnsafePointer<Float>, ldb: Int, bf16: Bool) -> (value: [Double], magnitude: [Double]) {
        func operand(_ x: Float) -> Double {
            bf16 ? Double(Float(bitPattern: UInt32(mf_bf16_from_float(x)) << 16)) : Double(x)
        }
        var value = [Double](repeating: 0, count: m * n), magnitude = value
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, t = 0.0
                for p in 0..<k {
                    let x = operand(tA ? a[p * lda + i] : a[i * lda + p]) * operand(tB ? b[j * ldb + p] : b[p * ldb + j])
                    s += x
                    t += abs(x)
                }
                value[i * n + j] = Double(alpha) * s
                magnitude[i * n + j] = abs(Double(alpha)) * t
            }
        }
        return (value, magnitude)
    }

    @Test("every engine and precision computes α·op(A)·op(B) + β·C within fp32 summation error of the exact product of its operands",
          arguments: engineSelections)
    func productsWithinSummationError(selection: MatrixEngineSelection) {
        for (tA, tB) in MatmulTests.transposes {
            for (index, s) in Self.shapes.enumerated() {
                let pad = index % 2
                let lda = (tA ? s.m : s.k) + pad, ldb = (tB ? s.k : s.n) + pad, ldc = s.n + pad
                let a = FloatStorage.random((tA ? s.k : s.m) * lda, seed: 1)
                let b = FloatStorage.random((tB ? s.n : s.k) * ldb, seed: 2)
                let exact = Self.reference(tA, tB, m: s.m, n: s.n, k: s.k, alpha: 0.75, a: a.base, lda: lda, b: b.base, ldb: ldb,
                                           bf16: selection.precision == .bf16)
                for beta: Float in [0, 1, 0.5] {
                    let c = FloatStorage.random(s.m * ldc, seed: 3)
                    let c0 = c.values
                    MatrixEngine.with(selection) {
                        MatrixEngine.gemm(transA: tA, transB: tB, m: s.m, n: s.n, k: s.k, alpha: 0.75, a: a.base, lda: lda,
                                          b: b.base, ldb: ldb, beta: beta, c: c.base, ldc: ldc)
                    }
                    // fp32 accumulation of k exact products: |error| ≤ γ_k·Σ|α·a·b| + rounding of β·C.
                    let gamma = Double(s.k + 2) * 0x1p-24
                    var worst = 0.0
                    for i in 0..<s.m {
                        for j in 0..<s.n {
                            let e = i * s.n + j, prior = Double(c0[i * ldc + j])
                            let expected = exact.value[e] + Double(beta) * prior
                            let bound = gamma * (exact.magnitude[e] + abs(Double(beta) * prior)) + 1e-30
                            worst = max(worst, abs(Double(c.base[i * ldc + j]) - expected) / bound)
                        }
                    }
                    #expect(worst <= 1, "\(selection) tA \(tA) tB \(tB) \(s) β \(beta): error \(worst) × bound")
                    // Padding columns of C are never written.
                    if pad > 0 { for i in 0..<s.m { #expect(c.base[i * ldc + s.n] == c0[i * ldc + s.n]) } }
                }
            }
        }
    }

    /// Every bf16 product, every oneDNN-tiled product, and every product asked to be row-invariant
    /// (the evaluator's scores) under each engine at its production settings. OpenBLAS in fp32
    /// runs other products whole, as before the engine existed: its small-matrix kernels round a
    /// row differently by batch (in fp32 that stays a last-bit difference).
    @Test("a row's bits do not depend on how many rows share its product or where it sits (batches, micro-batches, ranks)",
          arguments: engineSelections.flatMap { s in
              [(s, false, true), (s, true, true), (s, true, false)].filter { $0.1 || s != .reference }
          })
    func rowsIndependentOfBatch(selection: MatrixEngineSelection, rowInvariant: Bool, oneDNNEverywhere: Bool) {
        func withEngine(_ selection: MatrixEngineSelection, _ body: () -> Void) {
            if oneDNNEverywhere { TestSupport.withEngine(selection, body) } else { MatrixEngine.with(selection, body) }
        }
        for (n, k) in [(384, 384), (384, 1536), (40, 48)] {
            let rows = 1100
            let x = FloatStorage.random(rows * k, seed: 5), w = FloatStorage.random(n * k, seed: 6)
            let whole = FloatStorage(count: rows * n)
            withEngine(selection) {
                MatrixEngine.gemm(transB: true, m: rows, n: n, k: k, a: x.base, lda: k, b: w.base, ldb: k, c: whole.base, ldc: n, rowInvariant: rowInvariant)
            }
            // β = 1 too: C's prior values (one per global row) are added the same way in every part.
            let prior = FloatStorage.random(rows * n, seed: 7)
            let wholeAccumulated = FloatStorage(count: rows * n)
            wholeAccumulated.base.update(from: prior.base, count: rows * n)
            withEngine(selection) {
                MatrixEngine.gemm(transB: true, m: rows, n: n, k: k, a: x.base, lda: k, b: w.base, ldb: k, beta: 1,
                                  c: wholeAccumulated.base, ldc: n, rowInvariant: rowInvariant)
            }
            var differing = 0
            for (offset, m) in [(0, 16), (16, 37), (53, 300), (353, 700), (1053, 47), (1099, 1)] {
                let part = FloatStorage(count: m * n), accumulated = FloatStorage(count: m * n)
                accumulated.base.update(from: prior.base + offset * n, count: m * n)
                withEngine(selection) {
                    MatrixEngine.gemm(transB: true, m: m, n: n, k: k, a: x.base + offset * k, lda: k, b: w.base, ldb: k,
                                      c: part.base, ldc: n, rowInvariant: rowInvariant)
                    MatrixEngine.gemm(transB: true, m: m, n: n, k: k, a: x.base + offset * k, lda: k, b: w.base, ldb: k,
                                      beta: 1, c: accumulated.base, ldc: n, rowInvariant: rowInvariant)
                }
                for i in 0..<(m * n) {
                    if part.base[i].bitPattern != whole.base[offset * n + i].bitPattern { differing += 1 }
                    if accumulated.base[i].bitPattern != wholeAccumulated.base[offset * n + i].bitPattern { differing += 1 }
                }
            }
            #expect(differing == 0, "\(selection) rowInvariant \(rowInvariant) oneDNN everywhere \(oneDNNEverywhere) n \(n) k \(k): \(differing) results differ")
        }
    }

    @Test("k = 0 leaves β·C")
    func emptySum() {
        for selection in engineSelections {
            let c = FloatStorage.random(12, seed: 9), c0 = c.values
            let a = FloatStorage(count: 1), b = FloatStorage(count: 1)
            MatrixEngine.with(selection) {
                MatrixEngine.gemm(m: 3, n: 4, k: 0, a: a.base, lda: 1, b: b.base, ldb: 4, beta: 0.5, c: c.base, ldc: 4)
            }
            #expect(c.values == c0.map { 0.5 * $0 }, "\(selection)")
        }
    }

    @Test("a product inside a weight scope gives the same bits as outside it", arguments: engineSelections)
    func weightScopeSameBits(selection: MatrixEngineSelection) {
        let (rows, inFeatures, outFeatures) = (1100, 48, 40)
        let parameters = FloatStorage.random(7 + outFeatures * inFeatures + 5, seed: 4)
        let weight = parameters.base + 7
        let x = FloatStorage.random(rows * inFeatures, seed: 5)
        let outside = FloatStorage(count: rows * outFeatures), inside = FloatStorage(count: rows * outFeatures)
        MatrixEngine.with(selection) {
            MatrixEngine.gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: x.base, lda: inFeatures,
                              b: weight, ldb: inFeatures, c: outside.base, ldc: outFeatures)
            MatrixEngine.withWeights(parameters.base, count: parameters.count) {
                MatrixEngine.gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: x.base, lda: inFeatures,
                                  b: weight, ldb: inFeatures, c: inside.base, ldc: outFeatures)
            }
        }
        #expect(inside.values.map(\.bitPattern) == outside.values.map(\.bitPattern))
    }

    @Test("bf16 rounds weights once per scope, not per product")
    func weightsRoundedOncePerScope() {
        let parameters = FloatStorage.random(64 * 64, seed: 6), x = FloatStorage.random(64 * 64, seed: 7)
        let y = FloatStorage(count: 64 * 64)
        for engine in [MatmulEngineKind.openblas] + (OneDNNLibrary.isAvailable ? [.onednn] : []) {
            MatrixEngine.with(.init(engine: engine, precision: .bf16)) {
                MatrixEngine.resetStatistics()
                MatrixEngine.withWeights(parameters.base, count: parameters.count) {
                    for _ in 0..<3 {
                        MatrixEngine.gemm(transB: true, m: 64, n: 64, k: 64, a: x.base, lda: 64, b: parameters.base, ldb: 64,
                                          c: y.base, ldc: 64)
                    }
                }
                let statistics = MatrixEngine.statistics
                #expect(statistics.roundedWeightFloats == Double(parameters.count), "\(engine)")
                #expect(statistics.roundedOperandFloats == 3 * 64 * 64, "\(engine): only x is rounded on use")
            }
        }
    }

    @Test("oneDNN: once a product family has run, another batch size creates no primitive",
          .enabled(if: OneDNNLibrary.isAvailable, "oneDNN is not installed here"))
    func noPrimitiveForNewBatchSizes() {
        for precision in Precision.allCases {
            MatrixEngine.with(.init(engine: .onednn, precision: precision)) {
                let d = 128  // 128·128 multiply-adds per row: oneDNN's side of the threshold
                let w = FloatStorage.random(d * d, seed: 1), dW = FloatStorage(count: d * d)
                func step(rows: Int) {
                    let x = FloatStorage.random(rows * d, seed: UInt64(rows)), y = FloatStorage(count: rows * d)
                    Linear.forward(x: x.base, weight: w.base, bias: nil, y: y.base, rows: rows, inFeatures: d, outFeatures: d)
                    Linear.backward(x: x.base, weight: w.base, dy: y.base, dx: x.base, dWeight: dW.base, dBias: nil,
                                    rows: rows, inFeatures: d, outFeatures: d)
                }
                step(rows: 2628)
                let created = MatrixEngine.statistics.primitivesCreated
                #expect(created > 0)
                for rows in [1000, 2700, 3333, 517] { step(rows: rows) }
                #expect(MatrixEngine.statistics.primitivesCreated == created, "\(precision)")
            }
        }
    }

    @Test("oneDNN runs with as many threads as OpenBLAS (one per rank by default), not one per core",
          .enabled(if: OneDNNLibrary.isAvailable && getenv("OMP_NUM_THREADS") == nil, "oneDNN is not installed, or OMP_NUM_THREADS is set"))
    func oneDNNThreads() {
        withEngine(.init(engine: .onednn, precision: .fp32)) {}
        #expect(OneDNNLibrary.threads == BLAS.threads)
    }

    @Test("oneDNN named by a missing library is a clear error; auto falls back to OpenBLAS")
    func missingLibrary() throws {
        // The library state is per process: the real check runs in a child (ToolTests); here the
        // resolution rules on what this process has.
        if let reason = OneDNNLibrary.unavailableReason {
            #expect(throws: MatrixEngineError.self) { try MatrixEngine.resolve(.onednn, precision: .fp32) }
            #expect(try MatrixEngine.resolve(.auto, precision: .bf16) == .init(engine: .openblas, precision: .bf16))
            #expect(reason.contains("openblas"))
        } else {
            #expect(try MatrixEngine.resolve(.auto, precision: .fp32) == .init(engine: .onednn, precision: .fp32))
            #expect(try MatrixEngine.resolve(.openblas, precision: .bf16) == .init(engine: .openblas, precision: .bf16))
        }
    }
}
