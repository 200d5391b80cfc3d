import Foundation
import Testing
import TensorKit
import TestSupport

struct ActivationTests {
    /// Inputs away from ReLU's kink, spanning softplus's threshold and exp's useful range.
    static func inputs(_ count: Int, seed: UInt64, scale: Float = 4) -> FloatStorage {
        let x = FloatStorage.random(count, seed: seed, scale: scale)
        for i in 0..<count where abs(x.base[i]) < 0.05 { x.base[i] += 0.1 }
        return x
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    @Test("forwards match Double references")
    func forwardsMatchNaive() {
        let x = Self.inputs(333, seed: 40, scale: 8)
        for i in 0..<10 { x.base[i] = [25, 20.5, 19.5, -30, -90, 0, 1e-3, -1e-3, 60, -120][i] }
        let xs = x.doubles
        let y = FloatStorage(count: x.count)
        ReLU.forward(x: x.base, y: y.base, count: x.count)
        #expect(scaledError(y.values, xs.map { max($0, 0) }) == 0)
        SiLU.forward(x: x.base, y: y.base, count: x.count)
        #expect(zip(y.values, xs.map { $0 * Self.sigmoid($0) }).allSatisfy { abs(Double($0) - $1) <= 3e-7 * max(abs($1), 1e-30) })
        Softplus.forward(x: x.base, y: y.base, count: x.count)
        let softplusError = zip(y.values, xs.map { $0 > 20 ? $0 : log1p(exp($0)) }).map { abs(Double($0) - $1) / max(abs($1), Double(Float.leastNormalMagnitude)) }.max()!  // (softplus(−120) ≈ 1e-52 is 0 in Float)
        #expect(softplusError <= 3e-7, "softplus \(softplusError)")
        let small = Self.inputs(200, seed: 41, scale: 3)
        let e = FloatStorage(count: small.count)
        Exp.forward(x: small.base, y: e.base, count: small.count)
        #expect(zip(e.values, small.doubles.map { exp($0) }).allSatisfy { abs(Double($0) - $1) <= 3e-7 * $1 })
    }

    @Test("ReLU, SiLU, softplus and exp backward match finite differences and accumulate")
    func backwardsMatchFiniteDifferences() {
        let count = 257
        let dy = upstream(count)
        typealias Kernel = (forward: (FloatStorage, FloatStorage) -> Void, backward: (FloatStorage, FloatStorage, FloatStorage) -> Void)
        let kernels: [(String, Float, Kernel)] = [
            ("relu", 3, ({ ReLU.forward(x: $0.base, y: $1.base, count: count) },
                         { x, _, dx in ReLU.backward(x: x.base, dy: dy.base, dx: dx.base, count: count) })),
            ("silu", 4, ({ SiLU.forward(x: $0.base, y: $1.base, count: count) },
                         { x, _, dx in SiLU.backward(x: x.base, dy: dy.base, dx: dx.base, count: count) })),
            ("softplus", 12, ({ Softplus.forward(x: $0.base, y: $1.base, count: count) },
                              { x, _, dx in Softplus.backward(x: x.base, dy: dy.base, dx: dx.base, count: count) })),
            ("exp", 1.5, ({ Exp.forward(x: $0.base, y: $1.base, count: count) },
                          { _, y, dx in Exp.backward(y: y.base, dy: dy.base, dx: dx.base, count: count) })),
        ]
        for (name, scale, kernel) in kernels {
            let x = Self.inputs(count, seed: 42, scale: scale)
            if name == "softplus" { x.base[0] = 25; x.base[1] = 19; x.base[2] = -25 }
            let y = FloatStorage(count: count), dx = FloatStorage(count: count)
            kernel.forward(x, y)
            kernel.backward(x, y, dx)
            let error = gradientError([(x, dx)]) { kernel.forward(x, y); return projectedLoss(y) }
            #expect(error < 1e-2, "\(name): \(error)")
            kernel.forward(x, y)
            #expect(accumulationError([dx]) { kernel.backward(x, y, dx) } < 1e-6, "\(name)")
        }
    }

    @Test("softplus backward follows PyTorch's rule: exactly dy above the threshold, dy·σ(x) below")
    func softplusThreshold() {
        let x = FloatStorage.of([20.5, 100, 0, -3, 19.9])
        let dy = FloatStorage.of([2, 3, 4, 5, 6]), dx = FloatStorage(count: 5)
        Softplus.backward(x: x.base, dy: dy.base, dx: dx.base, count: 5)
        #expect(dx.base[0] == 2 && dx.base[1] == 3)
        for i in 2..<5 {
            let expected = Double(dy.base[i]) * Self.sigmoid(Double(x.base[i]))
            #expect(abs(Double(dx.base[i]) - expected) <= 3e-7 * expected)
        }
    }
}
