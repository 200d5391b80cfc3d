import CounterRandom
import Testing
import TensorKit

/// Kernels documented as "y may alias x" take a separate single-pointer loop when called in place;
/// it must give bit-identical results to the out-of-place call.
struct InPlaceTests {
    /// Runs `kernel(input, output)` out of place and in place on copies of `x`.
    static func same(_ x: FloatStorage, _ kernel: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Bool {
        let out = FloatStorage(count: x.count)
        kernel(x.base, out.base)
        let inPlace = FloatStorage.of(x.values)
        kernel(inPlace.base, inPlace.base)
        return inPlace.values == out.values
    }

    @Test("in-place forwards equal out-of-place forwards")
    func inPlaceMatchesOutOfPlace() {
        let (rows, cols) = (5, 37)
        let n = rows * cols
        let x = FloatStorage.random(n, seed: 100, scale: 3)
        let w = FloatStorage.random(cols, seed: 101), b = FloatStorage.random(n, seed: 102)
        let stats = FloatStorage(count: 2 * rows)
        #expect(Self.same(x) { LayerNorm.forward(x: $0, weight: w.base, bias: w.base, y: $1, mean: stats.base, rstd: stats.base + rows, rows: rows, cols: cols) })
        #expect(Self.same(x) { BiasAdd.forward(x: $0, bias: w.base, y: $1, rows: rows, cols: cols) })
        #expect(Self.same(x) { L2Normalize.forward(x: $0, y: $1, norms: stats.base, rows: rows, cols: cols) })
        #expect(Self.same(x) { Softmax.forward(logits: $0, probabilities: $1, rows: rows, cols: cols) })
        #expect(Self.same(x) { ReLU.forward(x: $0, y: $1, count: n) })
        #expect(Self.same(x) { SiLU.forward(x: $0, y: $1, count: n) })
        #expect(Self.same(x) { Softplus.forward(x: $0, y: $1, count: n) })
        #expect(Self.same(x) { Exp.forward(x: $0, y: $1, count: n) })
        #expect(Self.same(x) { Vector.scale($0, by: 0.3, into: $1, count: n) })
        #expect(Self.same(x) { Vector.add($0, b.base, into: $1, count: n) })
        #expect(Self.same(x) { Vector.add(b.base, $0, into: $1, count: n) })
        #expect(Self.same(x) { ElementwiseProduct.forward(a: $0, b: w.base, y: $1, count: n, bCount: cols) })
        let stream = RandomStream(seed: 5, purpose: .dropout)
        #expect(Self.same(x) { Dropout.forward(x: $0, y: $1, mask: nil, count: n, p: 0.4, stream: stream, start: 3) })
    }
}
