import ArgumentParser
import CounterRandom
import Foundation
import MamFusion
import TensorKit

/// `mamfusion bench kernels`: the memory-bound kernels (LayerNorm, softmax, activations,
/// dropout, normalisation, reductions: ms, ns per element and GB/s of the bytes they must move)
/// and a Mamba block (x + LN(Mamba(x))) forward and backward at the TVR sizes, with its selective
/// scan's share — best of `--repeats`, one BLAS thread. The model's own split is `bench model`.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels", abstract: "Time the memory-bound kernels and a Mamba block.")

    @Option(help: "Repetitions (best reported: the least disturbed run on a shared machine).") var repeats: Int = 7
    @Flag(help: "Print one JSON object per kernel instead of the table.") var json = false

    func validate() throws { try BenchArguments.atLeast(repeats, 1, option: "--repeats") }

    func run() throws {
        if !json { print("bench kernels: best of \(repeats), BLAS threads \(BLAS.threads) (\(BLAS.core))") }
        func seconds(_ body: () -> Void) -> Double {
            body()
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = MonotonicClock.now()
                body()
                best = min(best, MonotonicClock.now() - start)
            }
            return best
        }
        func report(_ name: String, elements: Int, bytes: Int, seconds: Double) {
            if json {
                try? printJSONObject(["kernel": name, "seconds": seconds, "elements": elements, "bytes": bytes,
                                      "ns_per_element": seconds * 1e9 / Double(elements), "gbps": Double(bytes) / seconds / 1e9])
            } else {
                print("  " + name.padding(toLength: 48, withPad: " ", startingAt: 0)
                      + String(format: " %8.3f ms  %6.3f ns/elem  %6.2f GB/s", seconds * 1e3, seconds * 1e9 / Double(elements), Double(bytes) / seconds / 1e9))
            }
        }
        for (rows, cols) in [(4096, 384), (4096, 3072)] {
            let n = rows * cols
            let x = FloatStorage.random(n, seed: 1), w = FloatStorage.random(cols, seed: 2, offset: 1), b = FloatStorage(count: cols)
            let y = FloatStorage(count: n), mean = FloatStorage(count: rows), rstd = FloatStorage(count: rows)
            let dy = FloatStorage.random(n, seed: 3), dx = FloatStorage(count: n)
            let dw = FloatStorage(count: cols), db = FloatStorage(count: cols)
            let f = seconds {
                LayerNorm.forward(x: x.base, weight: w.base, bias: b.base, y: y.base, mean: mean.base, rstd: rstd.base, rows: rows, cols: cols)
            }
            report("LayerNorm forward \(rows)×\(cols)", elements: n, bytes: 8 * n, seconds: f)  // read x, write y
            let bw = seconds {
                LayerNorm.backward(x: x.base, weight: w.base, mean: mean.base, rstd: rstd.base, dy: dy.base,
                                   dx: dx.base, dWeight: dw.base, dBias: db.base, rows: rows, cols: cols)
            }
            report("LayerNorm backward \(rows)×\(cols)", elements: n, bytes: 16 * n, seconds: bw)  // read x, dy, dx; write dx
        }
        for rows in [8 * 64 * 64 / 64, 64 * 8 * 64] {
            let cols = 64, n = rows * cols
            let s = FloatStorage.random(n, seed: 4), p = FloatStorage(count: n), dp = FloatStorage.random(n, seed: 5)
            let ds = FloatStorage(count: n)
            let mask = FloatStorage.of((0..<(rows / 512 * cols)).map { Float($0 % 7 == 6 ? 0 : 1) })
            let f = seconds {
                Softmax.forward(logits: s.base, probabilities: p.base, rows: rows, cols: cols, keyMask: mask.base, rowsPerMask: 512)
            }
            report("Softmax forward (masked) \(rows)×\(cols)", elements: n, bytes: 8 * n, seconds: f)
            let bw = seconds {
                Softmax.backward(probabilities: p.base, dProbabilities: dp.base, dLogits: ds.base, rows: rows, cols: cols)
            }
            report("Softmax backward \(rows)×\(cols)", elements: n, bytes: 16 * n, seconds: bw)
        }
        let n = 1 << 20
        let x = FloatStorage.random(n, seed: 6, scale: 4), y = FloatStorage(count: n)
        let dy = FloatStorage.random(n, seed: 7), dx = FloatStorage(count: n), mask = FloatStorage(count: n)
        report("SiLU forward 1M", elements: n, bytes: 8 * n, seconds: seconds { SiLU.forward(x: x.base, y: y.base, count: n) })
        report("SiLU backward 1M", elements: n, bytes: 16 * n,
                    seconds: seconds { SiLU.backward(x: x.base, dy: dy.base, dx: dx.base, count: n) })
        report("Softplus forward 1M", elements: n, bytes: 8 * n, seconds: seconds { Softplus.forward(x: x.base, y: y.base, count: n) })
        report("Softplus backward 1M", elements: n, bytes: 16 * n,
                    seconds: seconds { Softplus.backward(x: x.base, dy: dy.base, dx: dx.base, count: n) })
        report("Exp forward 1M", elements: n, bytes: 8 * n, seconds: seconds { Exp.forward(x: x.base, y: y.base, count: n) })
        report("ReLU forward 1M", elements: n, bytes: 8 * n, seconds: seconds { ReLU.forward(x: x.base, y: y.base, count: n) })
        let stream = RandomStream(seed: 1, purpose: .dropout)
        report("Dropout forward 1M (with mask)", elements: n, bytes: 12 * n, seconds: seconds {
            Dropout.forward(x: x.base, y: y.base, mask: mask.base, count: n, p: 0.2, stream: stream)
        })
        report("Dropout backward 1M (saved mask)", elements: n, bytes: 16 * n,
                    seconds: seconds { Dropout.backward(dy: dy.base, mask: mask.base, dx: dx.base, count: n) })
        report("L2Normalize forward 4096×256", elements: 4096 * 256, bytes: 8 * 4096 * 256, seconds: seconds {
            L2Normalize.forward(x: x.base, y: y.base, norms: mask.base, rows: 4096, cols: 256)
        })
        let big = FloatStorage.random(4096 * 384, seed: 8)
        report("BiasAdd backward (column sums) 4096×384", elements: 4096 * 384, bytes: 4 * 4096 * 384, seconds: seconds {
            BiasAdd.backward(dy: big.base, dx: nil, dBias: mask.base, rows: 4096, cols: 384)
        })
        report("ReduceMax 16384×32 (clip max)", elements: 16384 * 32, bytes: 4 * 16384 * 32, seconds: seconds {
            ReduceMax.forward(x: big.base, y: y.base, argmax: UnsafeMutableRawPointer(dx.base).bindMemory(to: Int32.self, capacity: n),
                              outer: 16384, axis: 32, inner: 1)
        })
        report("ReduceSum 4×1024×384 over axis 1", elements: 4096 * 384, bytes: 4 * 4096 * 384, seconds: seconds {
            ReduceSum.forward(x: big.base, y: y.base, outer: 4, axis: 1024, inner: 384)
        })
        mambaBlock(report: { name, s, scan in
            if json {
                try? printJSONObject(["kernel": name, "seconds": s, "scan_share": scan])
            } else {
                print("  " + name.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: " %8.3f ms  (selective scan %.0f%%)", s * 1e3, 100 * scan))
            }
        }, seconds: seconds)
    }

    /// A Mamba block of the TVR model on 16 videos of 32…128 frames and on 64 videos × 32 clips.
    func mambaBlock(report: (String, Double, Double) -> Void, seconds: (() -> Void) -> Double) {
        let dims = ModelDimensions()
        var c = RunConfiguration()
        c.model = MamFusionModel.name
        let layout = MamFusionModel.layout(c)
        let parameters = ParameterSet(layout: layout), gradients = ParameterSet(layout: layout)
        ParameterInitializer.initialize(parameters, seed: 1)
        let block = MambaBlock("frame_encoder_1_mamba", dimensions: dims, parameters: parameters, gradients: gradients, scratch: ScratchArena())
        let stream = RandomStream(seed: 11, purpose: .synthetic)
        let frames = (0..<16).map { 32 + stream.integer(below: 97, at: $0) }
        for (label, lengths) in [("frames", frames), ("clips", Array(repeating: 32, count: 64))] {
            let batch = SequenceBatch(lengths: lengths, paddedLength: lengths.max()!)
            let x = FloatStorage.random(batch.rows * dims.hidden, seed: 3), dy = FloatStorage.random(batch.rows * dims.hidden, seed: 4)
            let dx = FloatStorage(count: batch.rows * dims.hidden)
            block.forward(x.base, batch: batch)
            block.resetTimers()
            let forward = seconds { block.forward(x.base, batch: batch) }
            let scanForward = block.scanSeconds / Double(repeats + 1)
            block.resetTimers()
            let backward = seconds { block.backward(dy: dy.base, dx: dx.base, batch: batch) }
            let scanBackward = block.scanSeconds / Double(repeats + 1)
            report("Mamba block forward, \(lengths.count) × \(label) (\(batch.rows) rows)", forward, scanForward / forward)
            report("Mamba block backward, \(lengths.count) × \(label)", backward, scanBackward / backward)
        }
    }
}

private extension FloatStorage {
    /// Benchmark inputs: draws from the `.synthetic` stream.
    static func random(_ count: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> FloatStorage {
        random(count, seed: seed, purpose: .synthetic, scale: scale, offset: offset)
    }
}
