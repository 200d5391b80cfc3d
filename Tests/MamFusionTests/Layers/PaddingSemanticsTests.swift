import TensorKit
import TestSupport
import Testing
@testable import MamFusion

/// The model runs on packed valid rows; the reference runs on padded batches with key masks.
/// These tests pin down that the two agree exactly where the spec says outputs must not depend
/// on padding, and that the Gaussian branches do depend on the padded length, as they must.
struct PaddingSemanticsTests {
    /// The reference BertAttention on a padded batch, in Double: padded rows hold garbage, keys
    /// are masked with −10000 after the Gaussian multiplier, no dropout.
    static func paddedReference(x: [[Double]], valid: Int, L: Int, width: Float?, p: ParameterSet, name: String, heads: Int) -> [[Double]] {
        let d = x[0].count, dh = d / heads
        func w(_ n: String) -> [Float] { p.tensor("\(name).\(n)").toArray() }
        func linear(_ W: [Float], _ b: [Float], _ v: [Double]) -> [Double] {
            (0..<d).map { o in Double(b[o]) + (0..<d).reduce(0.0) { $0 + Double(W[o * d + $1]) * v[$1] } }
        }
        let Q = x.map { linear(w("self.query.weight"), w("self.query.bias"), $0) }
        let K = x.map { linear(w("self.key.weight"), w("self.key.bias"), $0) }
        let V = x.map { linear(w("self.value.weight"), w("self.value.bias"), $0) }
        let G = width.map { GaussianMatrix.make(length: L, width: $0).toArray() }
        var ctx = [[Double]](repeating: [Double](repeating: 0, count: d), count: L)
        for h in 0..<heads {
            for i in 0..<L {
                var s = (0..<L).map { j in (0..<dh).reduce(0.0) { $0 + Q[i][h * dh + $1] * K[j][h * dh + $1] } / Double(dh).squareRoot() }
                if let G { for j in 0..<L { s[j] *= Double(G[i * L + j]) } }
                for j in valid..<L { s[j] += -10000 }
                let m = s.max()!
                let e = s.map { exp($0 - m) }
                let z = e.reduce(0, +)
                for j in 0..<L { for k in 0..<dh { ctx[i][h * dh + k] += e[j] / z * V[j][h * dh + k] } }
            }
        }
        let lw = w("output.LayerNorm.weight"), lb = w("output.LayerNorm.bias")
        return (0..<L).map { i in
            let o = linear(w("output.dense.weight"), w("output.dense.bias"), ctx[i])
            let r = (0..<d).map { o[$0] + x[i][$0] }
            let mean = r.reduce(0, +) / Double(d)
            let variance = r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            return (0..<d).map { (r[$0] - mean) / (variance + 1e-5).squareRoot() * Double(lw[$0]) + Double(lb[$0]) }
        }
    }

    @Test("packed attention equals the reference's padded, masked attention on every valid row", arguments: [nil, Float(0.5), Float(5.0)])
    func packedEqualsPadded(width: Float?) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let name = "frame_encoder_2.attn0"
        let layer = SelfAttention(name, features: c.hiddenSize, heads: c.heads, width: width, rate: 0, site: DropoutSite(0), parameters: p, gradients: g, scratch: ScratchArena())
        let lengths = [6, 3, 1], L = 7, d = c.hiddenSize
        let batch = SequenceBatch(lengths: lengths, paddedLength: L)
        let x = randomBuffer(batch.rows * d, seed: 21)
        layer.forward(x.pointer, batch: batch, dropout: .disabled)
        for (s, n) in lengths.enumerated() {
            var padded = (0..<n).map { i in (0..<d).map { Double(x.pointer[(batch.offsets[s] + i) * d + $0]) } }
            for k in n..<L { padded.append((0..<d).map { Double(k * 31 + $0 % 7) }) }  // garbage padding
            let reference = Self.paddedReference(x: padded, valid: n, L: L, width: width, p: p, name: name, heads: c.heads)
            for i in 0..<n {
                for j in 0..<d {
                    let got = Double(layer.output[(batch.offsets[s] + i) * d + j])
                    #expect(abs(got - reference[i][j]) < 2e-4, "seq \(s) row \(i) col \(j): \(got) vs \(reference[i][j])")
                }
            }
        }
    }

    @Test("a video's frame embedding does not depend on other videos, only on the padded length (through G)")
    func frameEmbeddingDependsOnPaddedLengthOnly() {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let scratch = ScratchArena()
        let branch = VideoBranch(.frame, configuration: c, site: DropoutSite(40), parameters: p, gradients: g, scratch: scratch) {
            MambaBlock("\($0)_mamba", dimensions: c.dimensions, parameters: p, gradients: g, scratch: scratch)
        }
        let dv = c.visualFeatureSize, d = c.hiddenSize
        let video = randomBuffer(4 * dv, seed: 30), other = randomBuffer(9 * dv, seed: 31)
        func embed(_ inputs: [Tensor], lengths: [Int], paddedLength: Int) -> [Float] {
            let packed = Tensor(shape: [lengths.reduce(0, +) * dv])
            var o = 0
            for t in inputs { (packed.pointer + o).update(from: t.pointer, count: t.count); o += t.count }
            branch.forward(packed.pointer, batch: SequenceBatch(lengths: lengths, paddedLength: paddedLength), dropout: .disabled)
            return Array(UnsafeBufferPointer(start: branch.output.pointer, count: d))  // the first video's F
        }
        let alone = embed([video], lengths: [4], paddedLength: 9)
        let together = embed([video, other], lengths: [4, 9], paddedLength: 9)
        for j in 0..<d { #expect(abs(alone[j] - together[j]) < 1e-5) }
        let shorterPadding = embed([video], lengths: [4], paddedLength: 4)
        let difference = zip(alone, shorterPadding).map { abs($0 - $1) }.max()!
        #expect(difference > 1e-3, "the Gaussian branches must see the padded length (difference \(difference))")
    }
}

#if canImport(Glibc)
import Glibc
#endif
