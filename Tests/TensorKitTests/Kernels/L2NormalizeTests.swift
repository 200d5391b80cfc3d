import Testing
import TensorKit
import TestSupport

struct L2NormalizeTests {
    static func naive(_ x: [Float], rows: Int, cols: Int, convention: L2Normalize.Convention) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let d: Double
            switch convention {
            case .clamped(let eps): d = max(norm, Double(eps))
            case .shifted(let eps): d = norm + Double(eps)
            }
            for j in 0..<cols { y[r * cols + j] = row[j] / d }
        }
        return y
    }

    @Test("forward matches the reference in both conventions", arguments: [(1, 1), (3, 17), (17, 33), (2, 384)])
    func forwardMatchesNaive(rows: Int, cols: Int) {
        let x = FloatStorage.random(rows * cols, seed: 50)
        let y = FloatStorage(count: x.count), norms = FloatStorage(count: rows)
        for convention in [L2Normalize.Convention.torchNormalize, .loader] {
            L2Normalize.forward(x: x.base, y: y.base, norms: norms.base, rows: rows, cols: cols, convention: convention)
            #expect(scaledError(y.values, Self.naive(x.values, rows: rows, cols: cols, convention: convention)) < 1e-6)
        }
        // A zero row stays zero (no NaN) in both conventions.
        let zero = FloatStorage(count: cols)
        for convention in [L2Normalize.Convention.torchNormalize, .loader] {
            L2Normalize.forward(x: zero.base, y: y.base, norms: norms.base, rows: 1, cols: cols, convention: convention)
            #expect((0..<cols).allSatisfy { y.base[$0] == 0 })
        }
    }

    @Test("backward matches finite differences in both conventions, including rows on the clamped side of max(‖x‖, eps)")
    func backwardMatchesFiniteDifferences() {
        let (rows, cols) = (6, 17)
        let x = FloatStorage.random(rows * cols, seed: 51, scale: 0.3)
        // With eps = 10, rows 0–2 (norm ≈ 1.2) are clamped, rows 3–5 (norm ≈ 60) are not.
        for i in (3 * cols)..<(rows * cols) { x.base[i] *= 50 }
        let y = FloatStorage(count: x.count), norms = FloatStorage(count: rows)
        let dy = upstream(y.count)
        for convention in [L2Normalize.Convention.torchNormalize, .loader, .clamped(epsilon: 10), .shifted(epsilon: 0.5)] {
            func forward() { L2Normalize.forward(x: x.base, y: y.base, norms: norms.base, rows: rows, cols: cols, convention: convention) }
            forward()
            let dx = FloatStorage(count: x.count)
            L2Normalize.backward(x: x.base, norms: norms.base, dy: dy.base, dx: dx.base, rows: rows, cols: cols, convention: convention)
            let error = gradientError([(x, dx)], epsilon: 1e-3) { forward(); return projectedLoss(y) }
            #expect(error < 1e-2, "\(convention): \(error)")
            #expect(accumulationError([dx]) {
                L2Normalize.backward(x: x.base, norms: norms.base, dy: dy.base, dx: dx.base, rows: rows, cols: cols, convention: convention)
            } < 1e-6)
        }
    }
}
