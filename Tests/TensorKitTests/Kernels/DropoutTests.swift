import CounterRandom
import Testing
import TensorKit
import TestSupport

struct DropoutTests {
    static let stream = RandomStream(seed: 9527, purpose: .dropout, step: 3, item: 1)

    @Test("drops exactly the elements with uniform(at: start + i) < p and scales the rest by 1/(1 − p)",
          arguments: [0, 5, 1021, (1 << 34) - 6])  // the last crosses the 32-bit block-counter wrap
    func decisionsFollowTheStream(start: Int) {
        let (count, p): (Int, Float) = (1000, 0.3)
        let x = FloatStorage.random(count, seed: 80)
        let y = FloatStorage(count: count), mask = FloatStorage(count: count)
        Dropout.forward(x: x.base, y: y.base, mask: mask.base, count: count, p: p, stream: Self.stream, start: start)
        let scale = 1 / (1 - p)
        var dropped = 0
        for i in 0..<count {
            let drop = Self.stream.uniform(at: start + i) < p
            dropped += drop ? 1 : 0
            #expect(mask.base[i] == (drop ? 0 : scale))
            #expect(y.base[i] == (drop ? 0 : x.base[i] * scale))
        }
        #expect(abs(Double(dropped) / Double(count) - Double(p)) < 0.05)
        // In place, without a mask, gives the same values.
        let z = FloatStorage.of(x.values)
        Dropout.forward(x: z.base, y: z.base, mask: nil, count: count, p: p, stream: Self.stream, start: start)
        #expect(z.values == y.values)
    }

    @Test("p = 0 is an exact identity with a mask of ones")
    func zeroRateIsIdentity() {
        let x = FloatStorage.random(100, seed: 81)
        let y = FloatStorage(count: 100), mask = FloatStorage(count: 100), dx = FloatStorage(count: 100)
        Dropout.forward(x: x.base, y: y.base, mask: mask.base, count: 100, p: 0, stream: Self.stream)
        #expect(y.values == x.values && mask.values.allSatisfy { $0 == 1 })
        Dropout.backward(dy: x.base, dx: dx.base, count: 100, p: 0, stream: Self.stream)
        #expect(dx.values == x.values)
    }

    @Test("backward from the saved mask and from the recomputed stream agree and match finite differences")
    func backwardMatchesFiniteDifferences() {
        let (count, p, start): (Int, Float, Int) = (333, 0.45, 7)
        let x = FloatStorage.random(count, seed: 82)
        let y = FloatStorage(count: count), mask = FloatStorage(count: count)
        Dropout.forward(x: x.base, y: y.base, mask: mask.base, count: count, p: p, stream: Self.stream, start: start)
        let dy = upstream(count)
        let dxMask = FloatStorage(count: count), dxStream = FloatStorage(count: count)
        Dropout.backward(dy: dy.base, mask: mask.base, dx: dxMask.base, count: count)
        Dropout.backward(dy: dy.base, dx: dxStream.base, count: count, p: p, stream: Self.stream, start: start)
        #expect(dxMask.values == dxStream.values)
        let error = gradientError([(x, dxMask)]) {
            Dropout.forward(x: x.base, y: y.base, mask: nil, count: count, p: p, stream: Self.stream, start: start)
            return projectedLoss(y)
        }
        #expect(error < 1e-2)
        #expect(accumulationError([dxMask]) { Dropout.backward(dy: dy.base, mask: mask.base, dx: dxMask.base, count: count) } < 1e-6)
        #expect(accumulationError([dxStream]) {
            Dropout.backward(dy: dy.base, dx: dxStream.base, count: count, p: p, stream: Self.stream, start: start)
        } < 1e-6)
    }
}
