import CounterRandom
import Foundation
import Testing
import TensorKit

/// Throughput of the memory-bound kernels, printed, never asserted (timings are not tests).
/// Off by default; run in release with
/// `MF_KERNEL_TIMING=1 swift test -c release -Xswiftc -enable-testing --filter KernelSpeedReport`.
struct KernelSpeedReport {
    /// Best-of-`repeats` seconds per call of `body`.
    static func seconds(repeats: Int = 7, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            body()
            let d = ContinuousClock.now - start
            best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        return best
    }

    static func report(_ name: String, elements: Int, bytes: Int, seconds: Double) {
        print(String(format: "%-44@ %8.3f ms  %6.3f ns/elem  %6.2f GB/s", name as NSString, seconds * 1e3,
                     seconds * 1e9 / Double(elements), Double(bytes) / seconds / 1e9))
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["MF_KERNEL_TIMING"] != nil))
    func kernelSpeedReport() {
        for (rows, cols) in [(4096, 384), (4096, 3072)] {
            let n = rows * cols
            let x = FloatStorage.random(n, seed: 1), w = FloatStorage.random(cols, seed: 2, offset: 1), b = FloatStorage(count: cols)
            let y = FloatStorage(count: n), mean = FloatStorage(count: rows), rstd = FloatStorage(count: rows)
            let dy = FloatStorage.random(n, seed: 3), dx = FloatStorage(count: n)
            let dw = FloatStorage(count: cols), db = FloatStorage(count: cols)
            let f = Self.seconds {
                LayerNorm.forward(x: x.base, weight: w.base, bias: b.base, y: y.base, mean: mean.base, rstd: rstd.base, rows: rows, cols: cols)
            }
            Self.report("LayerNorm forward \(rows)×\(cols)", elements: n, bytes: 8 * n, seconds: f)  // read x, write y
            let bw = Self.seconds {
                LayerNorm.backward(x: x.base, weight: w.base, mean: mean.base, rstd: rstd.base, dy: dy.base,
                                   dx: dx.base, dWeight: dw.base, dBias: db.base, rows: rows, cols: cols)
            }
            Self.report("LayerNorm backward \(rows)×\(cols)", elements: n, bytes: 16 * n, seconds: bw)  // read x, dy, dx; write dx
        }
        for rows in [8 * 64 * 64 / 64, 64 * 8 * 64] {
            let cols = 64, n = rows * cols
            let s = FloatStorage.random(n, seed: 4), p = FloatStorage(count: n), dp = FloatStorage.random(n, seed: 5)
            let ds = FloatStorage(count: n)
            let mask = FloatStorage.of((0..<(rows / 512 * cols)).map { Float($0 % 7 == 6 ? 0 : 1) })
            let f = Self.seconds {
                Softmax.forward(logits: s.base, probabilities: p.base, rows: rows, cols: cols, keyMask: mask.base, rowsPerMask: 512)
            }
            Self.report("Softmax forward (masked) \(rows)×\(cols)", elements: n, bytes: 8 * n, seconds: f)
            let bw = Self.seconds {
                Softmax.backward(probabilities: p.base, dProbabilities: dp.base, dLogits: ds.base, rows: rows, cols: cols)
            }
            Self.report("Softmax backward \(rows)×\(cols)", elements: n, bytes: 16 * n, seconds: bw)
        }
        let n = 1 << 20
        let x = FloatStorage.random(n, seed: 6, scale: 4), y = FloatStorage(count: n)
        let dy = FloatStorage.random(n, seed: 7), dx = FloatStorage(count: n), mask = FloatStorage(count: n)
        Self.report("SiLU forward 1M", elements: n, bytes: 8 * n, seconds: Self.seconds { SiLU.forward(x: x.base, y: y.base, count: n) })
        Self.report("SiLU backward 1M", elements: n, bytes: 16 * n,
                    seconds: Self.seconds { SiLU.backward(x: x.base, dy: dy.base, dx: dx.base, count: n) })
        Self.report("Softplus forward 1M", elements: n, bytes: 8 * n, seconds: Self.seconds { Softplus.forward(x: x.base, y: y.base, count: n) })
        Self.report("Softplus backward 1M", elements: n, bytes: 16 * n,
                    seconds: Self.seconds { Softplus.backward(x: x.base, dy: dy.base, dx: dx.base, count: n) })
        Self.report("Exp forward 1M", elements: n, bytes: 8 * n, seconds: Self.seconds { Exp.forward(x: x.base, y: y.base, count: n) })
        Self.report("ReLU forward 1M", elements: n, bytes: 8 * n, seconds: Self.seconds { ReLU.forward(x: x.base, y: y.base, count: n) })
        let stream = RandomStream(seed: 1, purpose: .dropout)
        Self.report("Dropout forward 1M (with mask)", elements: n, bytes: 12 * n, seconds: Self.seconds {
            Dropout.forward(x: x.base, y: y.base, mask: mask.base, count: n, p: 0.2, stream: stream)
        })
        Self.report("Dropout backward 1M (saved mask)", elements: n, bytes: 16 * n,
                    seconds: Self.seconds { Dropout.backward(dy: dy.base, mask: mask.base, dx: dx.base, count: n) })
        Self.report("L2Normalize forward 4096×256", elements: 4096 * 256, bytes: 8 * 4096 * 256, seconds: Self.seconds {
            L2Normalize.forward(x: x.base, y: y.base, norms: mask.base, rows: 4096, cols: 256)
        })
        let big = FloatStorage.random(4096 * 384, seed: 8)
        Self.report("BiasAdd backward (column sums) 4096×384", elements: 4096 * 384, bytes: 4 * 4096 * 384, seconds: Self.seconds {
            BiasAdd.backward(dy: big.base, dx: nil, dBias: mask.base, rows: 4096, cols: 384)
        })
        Self.report("ReduceMax 16384×32 (clip max)", elements: 16384 * 32, bytes: 4 * 16384 * 32, seconds: Self.seconds {
            ReduceMax.forward(x: big.base, y: y.base, argmax: UnsafeMutableRawPointer(dx.base).bindMemory(to: Int32.self, capacity: n),
                              outer: 16384, axis: 32, inner: 1)
        })
        Self.report("ReduceSum 4×1024×384 over axis 1", elements: 4096 * 384, bytes: 4 * 4096 * 384, seconds: Self.seconds {
            ReduceSum.forward(x: big.base, y: y.base, outer: 4, axis: 1024, inner: 384)
        })
    }
}
