import CounterRandom
import Foundation
import Testing
import TensorKit
import TestSupport
@testable import MamFusion

/// A ResMamba block's tensors by official name (after `MS_mamba.<i>.`), O(1) random values.
final class BlockTensors {
    let dims: ModelDimensions
    var values: [String: Tensor] = [:], gradients: [String: Tensor] = [:]

    init(width: Int, seed: UInt32) {
        var d = ModelDimensions(hidden: width, heads: 1)
        d.mambaExpand = 1
        dims = d
        for (k, name) in ResMambaBlockParameters.names().enumerated() {
            let shape = ResMambaBlockParameters.shape(name, d)
            let t = Tensor(shape: shape)
            let s = RandomStream(seed: 5, purpose: .test, step: seed, item: UInt32(k))
            switch name {
            case let n where n.contains("A_"):
                s.fillUniform(t.buffer, low: -0.2, high: 0.2)
                for i in 0..<t.count { t.pointer[i] += Float(log(Double(i % d.mambaState + 1))) }
            case let n where n.hasSuffix(".D") || n.hasSuffix("D_b"): s.fillNormal(t.buffer, mean: 1, std: 0.3)
            case let n where n.contains("conv1d"): s.fillUniform(t.buffer, low: -0.5, high: 0.5)
            case let n where n.contains("dt_proj") && n.hasSuffix("bias"): s.fillUniform(t.buffer, low: -2.5, high: 0)
            case "layer_norm1.weight": s.fillNormal(t.buffer, mean: 1, std: 0.2)
            default: s.fillNormal(t.buffer, mean: 0, std: 1 / Float(shape.last!).squareRoot())
            }
            values[name] = t
            gradients[name] = Tensor(shape: shape)
        }
    }

    var parameters: ResMambaBlockParameters { .init(dimensions: dims) { self.values[$0]! } }
    var gradientViews: ResMambaBlockParameters { .init(dimensions: dims) { self.gradients[$0]! } }
}

struct ResMambaBlockTests {
    @Test("y = x + Wg·Dropout(BiMamba(LN(x))) + bg, the mask keyed by (seed, step, global index, site)")
    func forwardComposition() {
        let t = BlockTensors(width: 8, seed: 1)
        let batch = SequenceBatch(lengths: [6, 3], globalIndices: [4, 9])
        let dropout = DropoutContext(seed: 3, step: 2, enabled: true)
        let block = ResMambaBlock(dimensions: t.dims, parameters: t.parameters, gradients: t.gradientViews, rate: 0.3, site: DropoutSite(2),
                                  scratch: ScratchArena())
        let x = ConvolutionTests.random(9 * 8, seed: 40)
        let y = block.forward(x.pointer, batch: batch, dropout: dropout)
        // The same pieces, composed by hand.
        let h = Tensor(shape: [72]), mean = Tensor(shape: [9]), rstd = Tensor(shape: [9]), m = Tensor(shape: [72]), expected = Tensor(shape: [72])
        LayerNorm.forward(x: x.pointer, weight: t.values["layer_norm1.weight"]!.pointer, bias: t.values["layer_norm1.bias"]!.pointer, y: h.pointer,
                          mean: mean.pointer, rstd: rstd.pointer, rows: 9, cols: 8)
        BidirectionalMamba(dimensions: t.dims, parameters: t.parameters.mamba, gradients: t.gradientViews.mamba, scratch: ScratchArena())
            .forward(h.pointer, batch: batch, output: m.pointer)
        for (s, item) in [(0, 4), (1, 9)] {
            let o = batch.offsets[s] * 8
            Dropout.forward(x: m.pointer + o, y: m.pointer + o, mask: nil, count: batch.lengths[s] * 8, p: 0.3,
                            stream: RandomStream(seed: 3, purpose: .dropout, step: 2, item: UInt32(item)), start: DropoutSite(2).start)
        }
        Linear.forward(x: m.pointer, weight: t.values["temporal_fc.weight"]!.pointer, bias: t.values["temporal_fc.bias"]!.pointer,
                       y: expected.pointer, rows: 9, inFeatures: 8, outFeatures: 8)
        for i in 0..<72 { #expect(y[i] == x.pointer[i] + expected.pointer[i]) }
        #expect((0..<72).contains { m.pointer[$0] == 0 }, "some entries dropped at p = 0.3")
    }

    @Test("∂L/∂x and every parameter gradient match finite differences, dropout on")
    func gradients() {
        let t = BlockTensors(width: 8, seed: 2)
        let batch = SequenceBatch(lengths: [6, 1, 4], globalIndices: [0, 5, 2])
        let dropout = DropoutContext(seed: 7, step: 1, enabled: true)
        let block = ResMambaBlock(dimensions: t.dims, parameters: t.parameters, gradients: t.gradientViews, rate: 0.2, site: DropoutSite(1),
                                  scratch: ScratchArena())
        let x = ConvolutionTests.random(11 * 8, seed: 41), dx = Tensor(shape: [88]), projection = GradientCheck.Projection(seed: 42)
        func loss() -> Double { projection.loss(UnsafeBufferPointer(start: block.forward(x.pointer, batch: batch, dropout: dropout), count: 88)) }
        _ = loss()
        let w = projection.weights(count: 88)
        let dy = Tensor(shape: [88], values: w)
        block.backward(dy.pointer, dx: dx.pointer)
        let input = GradientCheck.maxRelativeError(parameters: [x.buffer], gradients: [UnsafeBufferPointer(dx.buffer)], directions: 4, epsilon: 3e-2, loss: loss)
        #expect(input < 1e-2, "x: \(input)")
        for name in ResMambaBlockParameters.names() {
            let epsilon: Float = name.contains("A_") || name.contains("dt_proj") && name.hasSuffix("weight") ? 0.3 : 3e-2
            let error = GradientCheck.maxRelativeError(parameters: [t.values[name]!.buffer], gradients: [UnsafeBufferPointer(t.gradients[name]!.buffer)],
                                                       directions: 3, epsilon: epsilon, loss: loss)
            #expect(error < 1e-2, "\(name): \(error)")
        }
    }
}
