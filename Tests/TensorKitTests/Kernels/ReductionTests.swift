import CounterRandom
import Testing
import TensorKit
import TestSupport

struct ReductionTests {
    static let shapes: [(outer: Int, axis: Int, inner: Int)] = [(3, 5, 1), (2, 17, 33), (1, 1, 4), (4, 33, 3), (5, 32, 1)]

    /// Σ (or max, with the lowest arg-max) over the middle axis in Double.
    static func naive(_ x: [Float], _ s: (outer: Int, axis: Int, inner: Int), max useMax: Bool) -> ([Double], [Int32]) {
        var y: [Double] = [], arg: [Int32] = []
        for o in 0..<s.outer {
            for i in 0..<s.inner {
                let column = (0..<s.axis).map { Double(x[(o * s.axis + $0) * s.inner + i]) }
                if useMax {
                    let m = column.max()!
                    y.append(m)
                    arg.append(Int32(column.firstIndex(of: m)!))
                } else {
                    y.append(column.reduce(0, +))
                }
            }
        }
        return (y, arg)
    }

    /// Values in [−0.8, 0.85] that differ by ≥ 0.05 within each reduced group (a random permutation
    /// per group), so the arg-max is stable under the checker's perturbations.
    static func distinct(_ s: (outer: Int, axis: Int, inner: Int), seed: UInt64) -> FloatStorage {
        let x = FloatStorage(count: s.outer * s.axis * s.inner)
        for o in 0..<s.outer {
            for i in 0..<s.inner {
                let order = RandomStream(seed: seed, purpose: .test, step: UInt32(o * s.inner + i)).permutation(s.axis)
                for a in 0..<s.axis { x.base[(o * s.axis + a) * s.inner + i] = Float(order[a]) * 0.05 - 0.8 }
            }
        }
        return x
    }

    @Test("sum, mean and max forwards match Double references", arguments: shapes.indices)
    func forwardsMatchNaive(shapeIndex: Int) {
        let s = Self.shapes[shapeIndex]
        let x = FloatStorage.random(s.outer * s.axis * s.inner, seed: 60)
        let y = FloatStorage(count: s.outer * s.inner)
        let arg = UnsafeMutablePointer<Int32>.allocate(capacity: y.count)
        defer { arg.deallocate() }
        let (sums, _) = Self.naive(x.values, s, max: false)
        ReduceSum.forward(x: x.base, y: y.base, outer: s.outer, axis: s.axis, inner: s.inner)
        #expect(scaledError(y.values, sums) < 1e-6)
        ReduceMean.forward(x: x.base, y: y.base, outer: s.outer, axis: s.axis, inner: s.inner)
        #expect(scaledError(y.values, sums.map { $0 / Double(s.axis) }) < 1e-6)
        let (maxima, argmax) = Self.naive(x.values, s, max: true)
        ReduceMax.forward(x: x.base, y: y.base, argmax: arg, outer: s.outer, axis: s.axis, inner: s.inner)
        #expect(scaledError(y.values, maxima) == 0)
        #expect(Array(UnsafeBufferPointer(start: arg, count: y.count)) == argmax)
    }

    @Test("max takes the lowest index among ties")
    func maxTies() {
        let x = FloatStorage.of([1, 3, 3, 0, /* second column block */ 2, 2, 2, 2])
        let y = FloatStorage(count: 2)
        var arg: [Int32] = [9, 9]
        arg.withUnsafeMutableBufferPointer { ReduceMax.forward(x: x.base, y: y.base, argmax: $0.baseAddress!, outer: 2, axis: 4, inner: 1) }
        #expect(arg == [1, 0] && y.values == [3, 2])
        // Ties along the axis with inner > 1: [outer 1, axis 3, inner 3], columns [1,5,5], [3,3,9], [7,2,7].
        let z = FloatStorage.of([1, 3, 7, 5, 3, 2, 5, 9, 7])
        let w = FloatStorage(count: 3)
        var zarg: [Int32] = [9, 9, 9]
        zarg.withUnsafeMutableBufferPointer { ReduceMax.forward(x: z.base, y: w.base, argmax: $0.baseAddress!, outer: 1, axis: 3, inner: 3) }
        #expect(zarg == [1, 2, 0] && w.values == [5, 9, 7])
    }

    @Test("sum, mean and max backward match finite differences and accumulate", arguments: shapes.indices)
    func backwardsMatchFiniteDifferences(shapeIndex: Int) {
        let s = Self.shapes[shapeIndex]
        let n = s.outer * s.axis * s.inner, m = s.outer * s.inner
        let x = Self.distinct(s, seed: 61)
        let y = FloatStorage(count: m), dy = upstream(m)
        let arg = UnsafeMutablePointer<Int32>.allocate(capacity: m)
        defer { arg.deallocate() }
        let forwards: [(String, () -> Void)] = [
            ("sum", { ReduceSum.forward(x: x.base, y: y.base, outer: s.outer, axis: s.axis, inner: s.inner) }),
            ("mean", { ReduceMean.forward(x: x.base, y: y.base, outer: s.outer, axis: s.axis, inner: s.inner) }),
            ("max", { ReduceMax.forward(x: x.base, y: y.base, argmax: arg, outer: s.outer, axis: s.axis, inner: s.inner) }),
        ]
        let backwards: [(FloatStorage) -> Void] = [
            { ReduceSum.backward(dy: dy.base, dx: $0.base, outer: s.outer, axis: s.axis, inner: s.inner) },
            { ReduceMean.backward(dy: dy.base, dx: $0.base, outer: s.outer, axis: s.axis, inner: s.inner) },
            { ReduceMax.backward(dy: dy.base, argmax: arg, dx: $0.base, outer: s.outer, axis: s.axis, inner: s.inner) },
        ]
        for ((name, forward), backward) in zip(forwards, backwards) {
            forward()
            let dx = FloatStorage(count: n)
            backward(dx)
            let error = gradientError([(x, dx)]) { forward(); return projectedLoss(y) }
            #expect(error < 1e-2, "\(name) \(s): \(error)")
            #expect(accumulationError([dx]) { backward(dx) } < 1e-6, "\(name)")
        }
    }
}
