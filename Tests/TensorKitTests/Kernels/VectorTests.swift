import Testing
import TensorKit
import TestSupport

struct VectorTests {
    @Test("add, axpy, scale and sumOfSquares match element-wise references")
    func vectorOps() {
        let n = 1037
        let a = FloatStorage.random(n, seed: 90), b = FloatStorage.random(n, seed: 91)
        let y = FloatStorage(count: n)
        Vector.add(a.base, b.base, into: y.base, count: n)
        #expect(scaledError(y.values, zip(a.doubles, b.doubles).map { $0 + $1 }) < 1e-7)
        Vector.axpy(alpha: -2, x: a.base, y: y.base, count: n)
        #expect(scaledError(y.values, zip(a.doubles, b.doubles).map { $1 - $0 }) < 1e-6)
        Vector.scale(a.base, by: 3, into: y.base, count: n)
        #expect(scaledError(y.values, a.doubles.map { 3 * $0 }) < 1e-7)
        let big = FloatStorage.random(10_000, seed: 92, offset: 1)
        let exact = big.doubles.reduce(0) { $0 + $1 * $1 }
        #expect(abs(Vector.sumOfSquares(big.base, count: big.count) - exact) <= 1e-6 * exact)
    }

    @Test("element-wise product, with b repeated, matches the reference; backward matches finite differences")
    func elementwiseProduct() {
        for (count, period) in [(17, 17), (60, 12), (33, 1)] {
            let a = FloatStorage.random(count, seed: 93), b = FloatStorage.random(period, seed: 94)
            let y = FloatStorage(count: count)
            ElementwiseProduct.forward(a: a.base, b: b.base, y: y.base, count: count, bCount: period)
            #expect(scaledError(y.values, (0..<count).map { a.doubles[$0] * b.doubles[$0 % period] }) < 1e-7)
            let dy = upstream(count), da = FloatStorage(count: count), db = FloatStorage(count: period)
            ElementwiseProduct.backward(a: a.base, b: b.base, dy: dy.base, da: da.base, db: db.base, count: count, bCount: period)
            let error = gradientError([(a, da), (b, db)]) {
                ElementwiseProduct.forward(a: a.base, b: b.base, y: y.base, count: count, bCount: period)
                return projectedLoss(y)
            }
            #expect(error < 1e-2, "\(count)/\(period): \(error)")
            #expect(accumulationError([da, db]) {
                ElementwiseProduct.backward(a: a.base, b: b.base, dy: dy.base, da: da.base, db: db.base, count: count, bCount: period)
            } < 1e-6)
        }
    }
}
