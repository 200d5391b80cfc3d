import Testing
import TensorKit
import TestSupport

struct LayerNormTests {
    /// (x − μ)/√(var + eps)·w + b in Double, with μ and rstd.
    static func naive(_ x: [Float], _ w: [Float], _ b: [Float], rows: Int, cols: Int, eps: Double)
        -> (y: [Double], mean: [Double], rstd: [Double]) {
        var y = [Double](repeating: 0, count: rows * cols), mean: [Double] = [], rstd: [Double] = []
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mu = row.reduce(0, +) / Double(cols)
            let v = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(cols)
            let s = 1 / (v + eps).squareRoot()
            for j in 0..<cols { y[r * cols + j] = (row[j] - mu) * s * Double(w[j]) + Double(b[j]) }
            mean.append(mu)
            rstd.append(s)
        }
        return (y, mean, rstd)
    }

    @Test("forward matches a Double reference, saves mean and rstd, and stays accurate on long rows with an offset mean",
          arguments: [(1, 1), (1, 17), (3, 33), (17, 5), (2, 3072)])
    func forwardMatchesNaive(rows: Int, cols: Int) {
        let x = FloatStorage.random(rows * cols, seed: 20, scale: 2, offset: cols > 1000 ? 10 : 0.5)
        let w = FloatStorage.random(cols, seed: 21, offset: 1), b = FloatStorage.random(cols, seed: 22)
        let y = FloatStorage(count: x.count), mean = FloatStorage(count: rows), rstd = FloatStorage(count: rows)
        LayerNorm.forward(x: x.base, weight: w.base, bias: b.base, y: y.base, mean: mean.base, rstd: rstd.base,
                          rows: rows, cols: cols)
        let expected = Self.naive(x.values, w.values, b.values, rows: rows, cols: cols, eps: 1e-5)
        #expect(scaledError(y.values, expected.y) < 1e-5)
        #expect(scaledError(mean.values, expected.mean) < 1e-6)
        #expect(scaledError(rstd.values, expected.rstd) < 1e-6)
    }

    @Test("backward matches finite differences for dx, dweight and dbias", arguments: [(1, 17), (3, 33), (17, 5), (70, 3)])
    func backwardMatchesFiniteDifferences(rows: Int, cols: Int) {
        let x = FloatStorage.random(rows * cols, seed: 23, scale: 1.5, offset: 0.3)
        let w = FloatStorage.random(cols, seed: 24, scale: 0.5, offset: 1), b = FloatStorage.random(cols, seed: 25)
        let y = FloatStorage(count: x.count), mean = FloatStorage(count: rows), rstd = FloatStorage(count: rows)
        func forward() {
            LayerNorm.forward(x: x.base, weight: w.base, bias: b.base, y: y.base, mean: mean.base, rstd: rstd.base,
                              rows: rows, cols: cols)
        }
        forward()
        let dy = upstream(y.count)
        let dx = FloatStorage(count: x.count), dw = FloatStorage(count: cols), db = FloatStorage(count: cols)
        LayerNorm.backward(x: x.base, weight: w.base, mean: mean.base, rstd: rstd.base, dy: dy.base,
                           dx: dx.base, dWeight: dw.base, dBias: db.base, rows: rows, cols: cols)
        let error = gradientError([(x, dx), (w, dw), (b, db)]) {
            forward()
            return projectedLoss(y)
        }
        #expect(error < 1e-2, "\(rows)×\(cols): \(error)")
        // Each gradient on its own, so an error in one cannot hide behind the others.
        for pair in [(x, dx), (w, dw), (b, db)] {
            let e = gradientError([pair]) { forward(); return projectedLoss(y) }
            #expect(e < 1e-2, "\(rows)×\(cols): \(e)")
        }
    }

    @Test("backward accumulates into dx, dweight and dbias")
    func gradientsAccumulate() {
        let (rows, cols) = (5, 17)
        let x = FloatStorage.random(rows * cols, seed: 26), w = FloatStorage.random(cols, seed: 27), b = FloatStorage(count: cols)
        let y = FloatStorage(count: x.count), mean = FloatStorage(count: rows), rstd = FloatStorage(count: rows)
        LayerNorm.forward(x: x.base, weight: w.base, bias: b.base, y: y.base, mean: mean.base, rstd: rstd.base, rows: rows, cols: cols)
        let dy = upstream(y.count)
        let dx = FloatStorage(count: x.count), dw = FloatStorage(count: cols), db = FloatStorage(count: cols)
        #expect(accumulationError([dx, dw, db]) {
            LayerNorm.backward(x: x.base, weight: w.base, mean: mean.base, rstd: rstd.base, dy: dy.base,
                               dx: dx.base, dWeight: dw.base, dBias: db.base, rows: rows, cols: cols)
        } < 1e-6)
    }
}
