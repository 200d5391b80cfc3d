import CounterRandom
import Foundation
import MPIKit
import Testing
import TensorKit
import TestSupport
@testable import MamFusion

struct SymmetricInfoNCEHeadTests {
    /// Unit rows.
    static func units(_ rows: Int, _ w: Int, seed: UInt32) -> Tensor {
        let t = ConvolutionTests.random(rows * w, seed: seed)
        let n = Tensor(shape: [rows])
        L2Normalize.forward(x: t.pointer, y: t.pointer, norms: n.pointer, rows: rows, cols: w)
        return t
    }

    /// The whole-matrix loss in Double: ½[mean_i (LSE_j S_ij − S_ii) + mean_j (LSE_i S_ij − S_jj)].
    static func oracle(texts: [Float], videos: [Float], b: Int, w: Int, scale: Double = 100) -> (Double, Double) {
        var s = [[Double]](repeating: [Double](repeating: 0, count: b), count: b)
        for i in 0..<b { for j in 0..<b { s[i][j] = scale * (0..<w).reduce(0) { $0 + Double(texts[i * w + $1]) * Double(videos[j * w + $1]) } } }
        func lse(_ x: [Double]) -> Double { let m = x.max()!; return m + log(x.reduce(0) { $0 + exp($1 - m) }) }
        var t2v = 0.0, v2t = 0.0
        for i in 0..<b {
            t2v += lse(s[i]) - s[i][i]
            v2t += lse((0..<b).map { s[$0][i] }) - s[i][i]
        }
        t2v /= Double(b)
        v2t /= Double(b)
        return (t2v, v2t)
    }

    @Test("one rank: the loss equals the whole-matrix oracle; ∂v matches finite differences; two pairs of one video are each other's negatives")
    func oneRank() throws {
        let b = 6, w = 5
        let texts = Self.units(b, w, seed: 50), videos = Self.units(b, w, seed: 51)
        // Pairs 1 and 4 share a video: the same embedding in two columns.
        (videos.pointer + 4 * w).update(from: videos.pointer + 1 * w, count: w)
        let head = SymmetricInfoNCEHead(width: w)
        var collectives = StepCollectives(world: LocalWorld())
        let terms = try head.forward(videos: videos.pointer, captions: texts.pointer, assignment: [Array(0..<b)], collectives: &collectives)
        let (t2v, v2t) = Self.oracle(texts: texts.toArray(), videos: videos.toArray(), b: b, w: w)
        #expect(abs(terms.textToVideo - t2v) < 1e-4 * max(1, t2v) && abs(terms.videoToText - v2t) < 1e-4 * max(1, v2t), "\(terms) vs \(t2v), \(v2t)")
        head.backward()
        let dv = Tensor(shape: [b * w], values: Array(UnsafeBufferPointer(start: head.videoGradient.pointer, count: b * w)))
        // The loss as a function of unnormalised videos would mix in the normalisation; check
        // ∂L/∂v directly on the raw embedding values (the head does not normalise them).
        let error = GradientCheck.maxRelativeError(parameters: [videos.buffer], gradients: [UnsafeBufferPointer(dv.buffer)], directions: 4, epsilon: 1e-3) {
            let (a, c) = Self.oracle(texts: texts.toArray(), videos: videos.toArray(), b: b, w: w)
            return 0.5 * (a + c)
        }
        #expect(error < 1e-3, "\(error)")
    }

    @Test("the loss and ∂v do not depend on which rank holds which pair (simulated shards, any assignment)")
    func assignments() throws {
        let b = 7, w = 4
        let texts = Self.units(b, w, seed: 52), videos = Self.units(b, w, seed: 53)
        let whole = SymmetricInfoNCEHead(width: w)
        var collectives = StepCollectives(world: LocalWorld())
        let reference = try whole.forward(videos: videos.pointer, captions: texts.pointer, assignment: [Array(0..<b)], collectives: &collectives)
        whole.backward()
        // A permuted single-rank order: rows given in another local order with their global positions.
        let order = [3, 0, 6, 2, 5, 1, 4]
        let pv = Tensor(shape: [b * w]), pt = Tensor(shape: [b * w])
        for (local, global) in order.enumerated() {
            (pv.pointer + local * w).update(from: videos.pointer + global * w, count: w)
            (pt.pointer + local * w).update(from: texts.pointer + global * w, count: w)
        }
        let permuted = SymmetricInfoNCEHead(width: w)
        let terms = try permuted.forward(videos: pv.pointer, captions: pt.pointer, assignment: [order], collectives: &collectives)
        permuted.backward()
        #expect(abs(terms.total - reference.total) < 1e-6 * reference.total)
        for (local, global) in order.enumerated() {
            for i in 0..<w {
                #expect(abs(permuted.videoGradient.pointer[local * w + i] - whole.videoGradient.pointer[global * w + i]) < 1e-6)
            }
        }
    }
}
