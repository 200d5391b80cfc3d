#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import CKernels
import CounterRandom
import Testing
import TensorKit
@testable import MamFusion

/// Speed report of the Mamba unit at the TVR size (not a correctness test). Runs only with
/// MAMFUSION_BENCH=1, and is meaningful only in a release build with one BLAS thread:
/// `OPENBLAS_NUM_THREADS=1 MAMFUSION_BENCH=1 swift test -c release --filter MambaSpeedTests`
@Suite(.serialized, .enabled(if: getenv("MAMFUSION_BENCH") != nil))
struct MambaSpeedTests {
    /// Fastest of `repeats` runs after one warm-up, in seconds (the machine is shared, so the
    /// minimum is the least disturbed run).
    static func time(_ repeats: Int, _ body: () -> Void) -> Double {
        body()
        var samples: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<repeats {
            let elapsed = clock.measure(body)
            samples.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return samples.min()!
    }

    static func report(label: String, lengths: [Int], padded: Int, segment: Int = 32) {
        let dims = ModelDimensions()
        let d = dims.hidden, e = dims.mambaInner, n = dims.mambaState, r = dims.mambaDtRank
        let sel = r + 2 * n
        let unit = MambaUnit(dimensions: dims)
        // The model's initialisation (MODEL.md §5), viewed as one Mamba unit.
        let set = ParameterSet(layout: .mamFusion(dims))
        ParameterInitializer.initialize(set, seed: 1)
        let p = MambaParameters(dimensions: dims) { set.tensor("clip_encoder_mamba.0.\($0.rawValue)") }
        let g = MambaParameters(allocating: dims)
        let ws = MambaWorkspace(dimensions: dims, batch: lengths.count, maxLength: padded, segmentLength: segment)
        let shape = [lengths.count, padded, d]
        let x = Tensor(shape: shape), out = Tensor(shape: shape), dout = Tensor(shape: shape), dx = Tensor(shape: shape)
        RandomStream(seed: 3, purpose: .test).fillNormal(x.buffer)
        RandomStream(seed: 4, purpose: .test).fillNormal(dout.buffer)
        let rows = lengths.reduce(0, +)
        let repeats = 9

        let forward = time(repeats) { unit.forward(input: x, lengths: lengths, parameters: p, output: out, workspace: ws) }
        let backward = time(repeats) {
            unit.backward(outputGradient: dout, lengths: lengths, parameters: p, gradients: g, inputGradient: dx, workspace: ws)
        }
        unit.forward(input: x, lengths: lengths, parameters: p, output: out, workspace: ws)

        // Pieces, replayed on the workspace the forward filled.
        func eachSequence(_ body: (Int, Int, Int) -> Void) {
            var row = 0, checkpoint = 0
            for length in lengths {
                body(length, row, checkpoint)
                row += length
                checkpoint += SelectiveScan.checkpointCount(length: length, channels: e, states: n, segment: segment)
            }
        }
        let scanForward = time(repeats) {
            eachSequence { length, row, checkpoint in
                SelectiveScan.forward(length: length, channels: e, states: n, delta: ws.delta + row * e, u: ws.convolved + row * e,
                                      b: ws.selection + row * sel + r, c: ws.selection + row * sel + r + n, ldbc: sel,
                                      decay: ws.scratch.decay, skip: p.skip.pointer, y: ws.scanOutput + row * e,
                                      checkpoints: ws.checkpoints + checkpoint, segment: segment)
            }
        }
        let scanBackward = time(repeats) {
            eachSequence { length, row, checkpoint in
                SelectiveScan.backward(length: length, channels: e, states: n, delta: ws.delta + row * e, u: ws.convolved + row * e,
                                       b: ws.selection + row * sel + r, c: ws.selection + row * sel + r + n, ldbc: sel,
                                       decay: ws.scratch.decay, skip: p.skip.pointer, checkpoints: ws.checkpoints + checkpoint,
                                       segment: segment, dy: ws.scanOutput + row * e,
                                       ddelta: ws.scratch.deltaGradient + row * e, du: ws.scratch.convolvedGradient + row * e,
                                       db: ws.scratch.selectionGradient + row * sel + r, dc: ws.scratch.selectionGradient + row * sel + r + n,
                                       lddbc: sel, dALog: g.aLog.pointer, dSkip: g.skip.pointer, scratch: ws.scratch.scanScratch)
            }
        }
        let convForward = time(repeats) {
            eachSequence { length, row, _ in
                mf_mamba_conv_silu_forward(length, e, 4, ws.projected + row * 2 * e, 2 * e, p.convolutionWeight.pointer,
                                           p.convolutionBias.pointer, ws.scratch.convolvedGradient + row * e)
            }
        }
        let convBackward = time(repeats) {
            eachSequence { length, row, _ in
                mf_mamba_conv_silu_backward(length, e, 4, ws.projected + row * 2 * e, 2 * e, p.convolutionWeight.pointer,
                                            p.convolutionBias.pointer, ws.convolved + row * e,
                                            ws.scratch.projectedGradient + row * 2 * e, 2 * e,
                                            g.convolutionWeight.pointer, g.convolutionBias.pointer)
            }
        }
        let gateForward = time(repeats) { mf_mamba_gate_forward(rows, e, ws.scanOutput, ws.projected + e, 2 * e, ws.scratch.gated) }
        let gateBackward = time(repeats) {
            mf_mamba_gate_backward(rows, e, ws.scanOutput, ws.projected + e, 2 * e, ws.scratch.gated, ws.scratch.projectedGradient + e, 2 * e)
        }
        let softplusForward = time(repeats) {
            ws.scratch.deltaGradient.update(from: ws.delta, count: rows * e)
            mf_mamba_delta_softplus(rows, e, ws.scratch.deltaGradient, p.dtProjectionBias.pointer)
        }
        let softplusBackward = time(repeats) {
            mf_mamba_delta_softplus_backward(rows, e, ws.delta, ws.scratch.deltaGradient, g.dtProjectionBias.pointer)
        }
        let pointwiseForward = convForward + gateForward + softplusForward
        let gemmForward = time(repeats) {
            BLAS.gemm(transB: true, m: rows, n: 2 * e, k: d, a: ws.inputRows, lda: d, b: p.inProjection.pointer, ldb: d, c: ws.scratch.projectedGradient, ldc: 2 * e)
            BLAS.gemm(transB: true, m: rows, n: sel, k: e, a: ws.convolved, lda: e, b: p.xProjection.pointer, ldb: e, c: ws.scratch.selectionGradient, ldc: sel)
            BLAS.gemm(transB: true, m: rows, n: e, k: r, a: ws.selection, lda: sel, b: p.dtProjectionWeight.pointer, ldb: r, c: ws.scratch.deltaGradient, ldc: e)
            BLAS.gemm(transB: true, m: rows, n: d, k: e, a: ws.scratch.gated, lda: e, b: p.outProjection.pointer, ldb: e, c: ws.scratch.modelRows, ldc: d)
        }
        // The alternative to gathering: the same in_proj GEMM over every padded row.
        let paddedRows = lengths.count * padded
        let inProjPadded = time(repeats) {
            BLAS.gemm(transB: true, m: paddedRows, n: 2 * e, k: d, a: x.pointer, lda: d, b: p.inProjection.pointer, ldb: d,
                      c: ws.scratch.projectedGradient, ldc: 2 * e)
        }
        let inProjGathered = time(repeats) {
            var row = 0
            for (b, length) in lengths.enumerated() {
                ws.scratch.modelRows.advanced(by: row * d).update(from: x.pointer + b * padded * d, count: length * d)
                row += length
            }
            BLAS.gemm(transB: true, m: rows, n: 2 * e, k: d, a: ws.scratch.modelRows, lda: d, b: p.inProjection.pointer, ldb: d,
                      c: ws.scratch.projectedGradient, ldc: 2 * e)
        }

        let T = Double(rows), E = Double(e), N = Double(n), D = Double(d), R = Double(r)
        let gemmFlopsForward = 2 * T * (2 * E * D + (R + 2 * N) * E + E * R + D * E)
        let scanFlopsForward = 7 * T * E * N       // per (t,c,n): Δ·A, exp, a·h, (Δu)·B, +, h·C, +
        let scanFlopsBackward = 17 * T * E * N     // useful backward terms, recomputation not counted
        let forwardFlops = gemmFlopsForward + scanFlopsForward
        let backwardFlops = 2 * gemmFlopsForward + scanFlopsBackward
        func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1e3) }
        func gf(_ f: Double, _ s: Double) -> String { String(format: "%.1f GFLOP/s", f / s / 1e9) }
        print("""
        === Mamba \(label): \(lengths.count) sequences, \(rows) valid rows of \(paddedRows) (Lpad \(padded)), K = \(segment), workspace \(ws.byteCount >> 20) MiB saved + \(ws.scratch.byteCount >> 20) MiB scratch
          forward  \(ms(forward))  \(String(format: "%.3f", forwardFlops / 1e9)) GFLOP  \(gf(forwardFlops, forward))
          backward \(ms(backward))  \(String(format: "%.3f", backwardFlops / 1e9)) GFLOP  \(gf(backwardFlops, backward))
          total    \(ms(forward + backward))  \(gf(forwardFlops + backwardFlops, forward + backward))
          scan forward  \(ms(scanForward)) (\(String(format: "%.0f%%", 100 * scanForward / forward)) of forward, \(gf(scanFlopsForward, scanForward)), \(String(format: "%.2f ns", scanForward / (T * E * N) * 1e9)) per (t,c,n))
          scan backward \(ms(scanBackward)) (\(String(format: "%.0f%%", 100 * scanBackward / backward)) of backward, \(gf(scanFlopsBackward, scanBackward)))
          scan share of forward+backward \(String(format: "%.0f%%", 100 * (scanForward + scanBackward) / (forward + backward)))
          forward GEMMs \(ms(gemmForward)) (\(gf(gemmFlopsForward, gemmForward))); conv+SiLU, softplus, gate \(ms(pointwiseForward))
          conv+SiLU \(ms(convForward)) / \(ms(convBackward)), gate \(ms(gateForward)) / \(ms(gateBackward)), softplus (+copy) \(ms(softplusForward)) / \(ms(softplusBackward)) (forward / backward)
          in_proj: gathered rows incl. copy \(ms(inProjGathered)) vs all padded rows \(ms(inProjPadded))
        """)
    }

    @Test("TVR size: 16 sequences of 32…128 frames")
    func frames() {
        let stream = RandomStream(seed: 11, purpose: .test)
        let lengths = (0..<16).map { 32 + stream.integer(below: 97, at: $0) }
        for segment in [16, 32, 64] {
            Self.report(label: "frames", lengths: lengths, padded: lengths.max()!, segment: segment)
        }
    }

    @Test("TVR size: 64 videos × 32 clips")
    func clips() {
        Self.report(label: "clips", lengths: Array(repeating: 32, count: 64), padded: 32)
    }
}
