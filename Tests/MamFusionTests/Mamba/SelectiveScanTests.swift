#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import CKernels
import Testing
import TensorKit
import TestSupport
@testable import MamFusion

/// The selective scan alone on a long sequence: L = 300 with segment K = 32 is 9 full checkpoint
/// segments and a partial one of 12 steps; 12 channels are a full 8-lane block and a 4-lane tail.
final class ScanFixture {
    let length = 300, channels: Int, states = 16, segment = 32
    let delta: Tensor, u: Tensor, b: Tensor, c: Tensor, aLog: Tensor, skip: Tensor
    let y: Tensor, dy: Tensor
    let ddelta: Tensor, du: Tensor, db: Tensor, dc: Tensor, dALog: Tensor, dSkip: Tensor
    let decay: Tensor, checkpoints: Tensor, scratch: Tensor
    let projection = GradientCheck.Projection(seed: 99)

    /// The kernels' vector width.
    let lanes: Int32

    init(channels: Int = 12, lanes: Int32 = mf_mamba_scan_lanes()) {
        self.channels = channels
        self.lanes = lanes
        let le = [length, channels], ln = [length, states]
        delta = Tensor(shape: le); u = Tensor(shape: le); b = Tensor(shape: ln); c = Tensor(shape: ln)
        aLog = Tensor(shape: [channels, states]); skip = Tensor(shape: [channels])
        y = Tensor(shape: le); dy = Tensor(shape: le)
        ddelta = Tensor(shape: le); du = Tensor(shape: le); db = Tensor(shape: ln); dc = Tensor(shape: ln)
        dALog = Tensor(shape: [channels, states]); dSkip = Tensor(shape: [channels])
        decay = Tensor(shape: [states, channels])
        checkpoints = Tensor(shape: [max(SelectiveScan.checkpointCount(length: length, channels: channels,
                                                                       states: states, segment: segment), 1)])
        scratch = Tensor(shape: [SelectiveScan.scratchCount(channels: channels, states: states, segment: segment)])
        // Small Δ keep a long memory (exp(Δ·A) close to 1 for small n), so gradients flow across
        // many segment boundaries.
        MambaTestValues.uniform(delta, seed: 5, item: 0, low: 0.005, high: 0.15)
        MambaTestValues.normal(u, seed: 5, item: 1)
        MambaTestValues.normal(b, seed: 5, item: 2)
        MambaTestValues.normal(c, seed: 5, item: 3)
        MambaTestValues.uniform(aLog, seed: 5, item: 4, low: -0.2, high: 0.2)
        for i in 0..<aLog.count { aLog.pointer[i] += Float(log(Double(i % states + 1))) }
        MambaTestValues.normal(skip, seed: 5, item: 5, mean: 1, std: 0.3)
        let w = projection.weights(count: y.count)
        for i in 0..<w.count { dy.pointer[i] = w[i] }
    }

    func forward() {
        SelectiveScan.decay(aLog: aLog.pointer, channels: channels, states: states, into: decay.pointer)
        SelectiveScan.forward(lanes: lanes, length: length, channels: channels, states: states, delta: delta.pointer, u: u.pointer,
                              b: b.pointer, c: c.pointer, ldbc: states, decay: decay.pointer, skip: skip.pointer,
                              y: y.pointer, checkpoints: checkpoints.pointer, segment: segment)
    }

    func backward() {
        for t in [db, dc, dALog, dSkip] { t.fill(0) }
        SelectiveScan.backward(lanes: lanes, length: length, channels: channels, states: states, delta: delta.pointer, u: u.pointer,
                               b: b.pointer, c: c.pointer, ldbc: states, decay: decay.pointer, skip: skip.pointer,
                               checkpoints: checkpoints.pointer, segment: segment, dy: dy.pointer,
                               ddelta: ddelta.pointer, du: du.pointer, db: db.pointer, dc: dc.pointer, lddbc: states,
                               dALog: dALog.pointer, dSkip: dSkip.pointer, scratch: scratch.pointer)
    }

    func loss() -> Double {
        forward()
        return projection.loss(UnsafeBufferPointer(y.buffer))
    }
}

struct SelectiveScanTests {
    @Test("long-sequence scan forward matches the Double reference with full per-step state")
    func forwardLong() {
        let f = ScanFixture()
        f.forward()
        func dbl(_ t: Tensor) -> [Double] { t.toArray().map(Double.init) }
        let ref = MambaReference.scan(length: f.length, channels: f.channels, states: f.states,
                                      delta: dbl(f.delta), u: dbl(f.u), b: dbl(f.b), c: dbl(f.c),
                                      aLog: dbl(f.aLog), skip: dbl(f.skip))
        let scale = ref.map(abs).max() ?? 0
        let worst = zip(f.y.toArray(), ref).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(scale > 1)
        #expect(worst / scale < 1e-5, "max |Δ| \(worst) over max |ref| \(scale)")
    }

    @Test("long-sequence scan backward matches finite differences for Δ, u, B, C, A_log, D")
    func backwardLong() {
        let f = ScanFixture()
        f.forward()
        f.backward()
        // y is linear in u, B, C and D, so a large step has no truncation error and keeps the
        // Float rounding of L (≈ 1e-5 over 3,600 outputs) negligible; Δ and A_log enter through
        // exp(Δ·A): A_log gets a step of 0.1 (per element ≈ 0.1/√192 ≈ 7e-3), Δ (as small as 0.005)
        // one of 0.01 (per element ≈ 0.01/√3600 ≈ 2e-4).
        let pairs: [(String, Tensor, Tensor, Float)] = [
            ("delta", f.delta, f.ddelta, 0.01), ("u", f.u, f.du, 1), ("B", f.b, f.db, 1),
            ("C", f.c, f.dc, 1), ("A_log", f.aLog, f.dALog, 0.1), ("D", f.skip, f.dSkip, 1),
        ]
        for (name, value, gradient, epsilon) in pairs {
            let error = GradientCheck.maxRelativeError(parameters: [value.buffer],
                                                       gradients: [UnsafeBufferPointer(gradient.buffer)],
                                                       directions: 4, epsilon: epsilon) { f.loss() }
            print("scan gradient check (L = 300) \(name): max relative error \(error)")
            #expect(error < 1e-2, "\(name)")
        }
    }

    @Test("8 and 16 lanes give the same bits: forward, checkpoints and every gradient")
    func widths() throws {
        guard mf_mamba_scan_supports_lanes(16) == 1 else {
            // No AVX-512 here: the scans run at 8 lanes.
            #expect(mf_mamba_scan_lanes() == 8)
            print("scan widths: this CPU has no AVX-512; only the 8-lane scan is tested")
            return
        }
        // 40 channels: two full 16-lane blocks and an 8-lane tail (five 8-lane blocks); 44: a
        // 12-lane tail (five 8-lane blocks and a 4-lane tail).
        for channels in [40, 44] {
            var results: [[[Float]]] = []
            for lanes in [Int32(8), 16] {
                let f = ScanFixture(channels: channels, lanes: lanes)
                f.forward()
                f.backward()
                results.append([f.y, f.checkpoints, f.ddelta, f.du, f.dALog, f.dSkip, f.db, f.dc].map { $0.toArray() })
            }
            let names = ["y", "checkpoints", "∂Δ", "∂u", "∂A_log", "∂D", "∂B", "∂C"]
            for (k, name) in names.enumerated() {
                #expect(zip(results[0][k], results[1][k]).allSatisfy { $0.bitPattern == $1.bitPattern },
                        "\(name) differs between 8 and 16 lanes (\(channels) channels)")
            }
            #expect(results[1][6].contains { $0 != 0 } && results[1][7].contains { $0 != 0 })
        }
    }

    @Test("the whole unit on a 300-step sequence matches the reference, forward and ∂x")
    func unitLong() {
        let f = MambaFixture(hidden: 6, lengths: [300, 150], padded: 300, segment: 32)
        f.computeGradients()
        let ref = f.reference(0)
        let scale = ref.map(abs).max() ?? 0
        let worst = (0..<ref.count).map { abs(Double(f.output.pointer[$0]) - ref[$0]) }.max() ?? 0
        #expect(worst / scale < 1e-5, "max |Δ| \(worst) over max |ref| \(scale)")
        let error = GradientCheck.maxRelativeError(parameters: [f.input.buffer],
                                                   gradients: [UnsafeBufferPointer(f.inputGradient.buffer)],
                                                   directions: 4, epsilon: 3e-2) { f.loss() }
        print("Mamba gradient check x (L = 300): max relative error \(error)")
        #expect(error < 1e-2)
    }
}
