import Testing
import TensorKit
import TestSupport

struct MatmulTests {
    static let transposes: [(Bool, Bool)] = [(false, false), (false, true), (true, false), (true, true)]
    static let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (3, 17, 33), (17, 3, 5), (33, 33, 17), (1, 33, 3)]

    /// α·op(A)·op(B) in Double, with explicit leading dimensions.
    static func naive(_ tA: Bool, _ tB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                      a: [Float], lda: Int, b: [Float], ldb: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = tA ? a[p * lda + i] : a[i * lda + p]
                    let bv = tB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                c[i * n + j] = alpha * s
            }
        }
        return c
    }

    @Test("forward matches a naive triple loop for every transpose combination, padded leading dimensions and accumulate")
    func forwardMatchesNaive() {
        for (tA, tB) in Self.transposes {
            for (index, s) in Self.shapes.enumerated() {
                let pad = index % 2  // every other shape uses padded rows
                let lda = (tA ? s.m : s.k) + pad, ldb = (tB ? s.k : s.n) + pad
                let a = FloatStorage.random((tA ? s.k : s.m) * lda, seed: 1)
                let b = FloatStorage.random((tB ? s.n : s.k) * ldb, seed: 2)
                let c = FloatStorage.random(s.m * s.n, seed: 3)
                let c0 = c.doubles
                let expected = Self.naive(tA, tB, m: s.m, n: s.n, k: s.k, alpha: 0.5, a: a.values, lda: lda, b: b.values, ldb: ldb)
                Matmul.forward(transA: tA, transB: tB, m: s.m, n: s.n, k: s.k, alpha: 0.5,
                               a: a.base, lda: lda, b: b.base, ldb: ldb, c: c.base)
                #expect(scaledError(c.values, expected) < 1e-5, "tA \(tA) tB \(tB) \(s)")
                c.base.update(from: c0.map(Float.init), count: c.count)
                Matmul.forward(transA: tA, transB: tB, m: s.m, n: s.n, k: s.k, alpha: 0.5,
                               a: a.base, lda: lda, b: b.base, ldb: ldb, c: c.base, accumulate: true)
                #expect(scaledError(c.values, zip(c0, expected).map { $0 + $1 }) < 1e-5, "accumulate tA \(tA) tB \(tB) \(s)")
            }
        }
    }

    @Test("backward matches finite differences for every transpose combination")
    func backwardMatchesFiniteDifferences() {
        let (m, n, k) = (5, 7, 3)
        for (tA, tB) in Self.transposes {
            let a = FloatStorage.random(m * k, seed: 4), b = FloatStorage.random(k * n, seed: 5)
            let c = FloatStorage(count: m * n)
            let da = FloatStorage(count: m * k), db = FloatStorage(count: k * n)
            let dc = upstream(m * n)
            Matmul.backward(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.7, a: a.base, b: b.base,
                            dC: dc.base, dA: da.base, dB: db.base)
            let error = gradientError([(a, da), (b, db)]) {
                Matmul.forward(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.7, a: a.base, b: b.base, c: c.base)
                return projectedLoss(c)
            }
            #expect(error < 1e-2, "tA \(tA) tB \(tB): \(error)")
        }
    }

    @Test("batched forward matches per-item products; batched backward matches finite differences with a shared operand")
    func batched() {
        let (m, n, k, batch) = (4, 3, 5, 3)
        for (tA, tB) in Self.transposes {
            let a = FloatStorage.random(batch * m * k, seed: 6)
            let b = FloatStorage.random(k * n, seed: 7)  // shared: stride 0
            let c = FloatStorage(count: batch * m * n)
            Matmul.forwardBatched(transA: tA, transB: tB, m: m, n: n, k: k, a: a.base, strideA: m * k,
                                  b: b.base, strideB: 0, c: c.base, strideC: m * n, batch: batch)
            var expected: [Double] = []
            for i in 0..<batch {
                expected += Self.naive(tA, tB, m: m, n: n, k: k, alpha: 1, a: Array(a.values[(i * m * k)..<((i + 1) * m * k)]),
                                       lda: tA ? m : k, b: b.values, ldb: tB ? k : n)
            }
            #expect(scaledError(c.values, expected) < 1e-5)

            let da = FloatStorage(count: a.count), db = FloatStorage(count: b.count)
            let dc = upstream(c.count)
            Matmul.backwardBatched(transA: tA, transB: tB, m: m, n: n, k: k, a: a.base, strideA: m * k,
                                   b: b.base, strideB: 0, dC: dc.base, strideC: m * n,
                                   dA: da.base, dB: db.base, batch: batch)
            let error = gradientError([(a, da), (b, db)]) {
                Matmul.forwardBatched(transA: tA, transB: tB, m: m, n: n, k: k, a: a.base, strideA: m * k,
                                      b: b.base, strideB: 0, c: c.base, strideC: m * n, batch: batch)
                return projectedLoss(c)
            }
            #expect(error < 1e-2, "tA \(tA) tB \(tB): \(error)")
        }
    }

    @Test("Linear forward is x·Wᵀ + b; backward matches finite differences for x, W and b")
    func linear() {
        for (rows, inF, outF) in [(1, 1, 1), (3, 17, 33), (17, 5, 3)] {
            let x = FloatStorage.random(rows * inF, seed: 8), w = FloatStorage.random(outF * inF, seed: 9)
            let bias = FloatStorage.random(outF, seed: 10)
            let y = FloatStorage(count: rows * outF)
            for withBias in [false, true] {
                Linear.forward(x: x.base, weight: w.base, bias: withBias ? UnsafePointer(bias.base) : nil, y: y.base,
                               rows: rows, inFeatures: inF, outFeatures: outF)
                var expected = Self.naive(false, true, m: rows, n: outF, k: inF, alpha: 1, a: x.values, lda: inF, b: w.values, ldb: inF)
                if withBias { for r in 0..<rows { for j in 0..<outF { expected[r * outF + j] += Double(bias.base[j]) } } }
                #expect(scaledError(y.values, expected) < 1e-5)
            }
            let dx = FloatStorage(count: x.count), dw = FloatStorage(count: w.count), db = FloatStorage(count: outF)
            let dy = upstream(y.count)
            Linear.backward(x: x.base, weight: w.base, dy: dy.base, dx: dx.base, dWeight: dw.base, dBias: db.base,
                            rows: rows, inFeatures: inF, outFeatures: outF)
            let error = gradientError([(x, dx), (w, dw), (bias, db)]) {
                Linear.forward(x: x.base, weight: w.base, bias: bias.base, y: y.base, rows: rows, inFeatures: inF, outFeatures: outF)
                return projectedLoss(y)
            }
            #expect(error < 1e-2, "\(rows)×\(inF)→\(outF): \(error)")
        }
    }

    @Test("BiasAdd broadcasts over rows; backward gives Σ_rows dy and dx += dy")
    func biasAdd() {
        let (rows, cols) = (17, 33)
        let x = FloatStorage.random(rows * cols, seed: 11), b = FloatStorage.random(cols, seed: 12)
        let y = FloatStorage(count: x.count)
        BiasAdd.forward(x: x.base, bias: b.base, y: y.base, rows: rows, cols: cols)
        let expected = (0..<x.count).map { Double(x.base[$0]) + Double(b.base[$0 % cols]) }
        #expect(scaledError(y.values, expected) < 1e-6)
        let dx = FloatStorage(count: x.count), db = FloatStorage(count: cols), dy = upstream(y.count)
        BiasAdd.backward(dy: dy.base, dx: dx.base, dBias: db.base, rows: rows, cols: cols)
        let error = gradientError([(x, dx), (b, db)]) {
            BiasAdd.forward(x: x.base, bias: b.base, y: y.base, rows: rows, cols: cols)
            return projectedLoss(y)
        }
        #expect(error < 1e-2)
        // Blocked column sums over many rows stay accurate.
        let many = 1000
        let g = FloatStorage.random(many * 3, seed: 13, offset: 1)
        let sums = FloatStorage(count: 3)
        BiasAdd.backward(dy: g.base, dx: nil, dBias: sums.base, rows: many, cols: 3)
        let exact = (0..<3).map { j in (0..<many).reduce(0.0) { $0 + Double(g.base[$1 * 3 + j]) } }
        #expect(scaledError(sums.values, exact) < 1e-6)
    }

    @Test("Matmul, Linear and BiasAdd backward accumulate into their gradients")
    func gradientsAccumulate() {
        let (m, n, k) = (4, 5, 6)
        let a = FloatStorage.random(m * k, seed: 14), b = FloatStorage.random(n * k, seed: 15), dc = upstream(m * n)
        let da = FloatStorage(count: a.count), db = FloatStorage(count: b.count), dbias = FloatStorage(count: n)
        #expect(accumulationError([da, db]) {
            Matmul.backward(transB: true, m: m, n: n, k: k, a: a.base, b: b.base, dC: dc.base, dA: da.base, dB: db.base)
        } < 1e-6)
        #expect(accumulationError([da, db, dbias]) {
            Linear.backward(x: a.base, weight: b.base, dy: dc.base, dx: da.base, dWeight: db.base, dBias: dbias.base,
                            rows: m, inFeatures: k, outFeatures: n)
        } < 1e-6)
        let dx = FloatStorage(count: m * n)
        #expect(accumulationError([dx, dbias]) {
            BiasAdd.backward(dy: dc.base, dx: dx.base, dBias: dbias.base, rows: m, cols: n)
        } < 1e-6)
    }
}
