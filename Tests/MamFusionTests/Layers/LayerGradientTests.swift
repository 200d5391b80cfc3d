import TensorKit
import TestSupport
import Testing
@testable import MamFusion

/// Finite-difference checks of every layer's hand-written backward, w.r.t. its input and every
/// parameter tensor, with dropout on (masks are pure functions of their keys, so the loss is a
/// deterministic function of the inputs) and sequences of different lengths.
struct LayerGradientTests {
    static let dropout = DropoutContext(seed: 11, step: 3, enabled: true)
    /// 21 rows (a 16-row oneDNN piece and a remainder), sequences of different lengths.
    static let batch = SequenceBatch(lengths: [9, 2, 1, 9], globalIndices: [7, 2, 0, 5], paddedLength: 10)

    @Test("InputProjection: LayerNorm, dropout, Linear and ReLU parameters", arguments: precisionChecks)
    func inputProjection(check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let layer = InputProjection("frame_input_proj", inFeatures: c.visualFeatureSize, outFeatures: c.hiddenSize, rate: 0.2,
                                    site: DropoutSite(3), parameters: p, gradients: g, scratch: ScratchArena())
        let b = Self.batch
        let x = randomBuffer(b.rows * c.visualFeatureSize, seed: 1)
        let names = ["frame_input_proj.LayerNorm.weight", "frame_input_proj.LayerNorm.bias", "frame_input_proj.net.1.weight", "frame_input_proj.net.1.bias"]
        let error = layerGradientError(checked: names.map { (p.buffer($0), g.buffer($0)) }, outputCount: b.rows * c.hiddenSize, check: check,
                                       forward: { layer.forward(x.pointer, batch: b, dropout: Self.dropout); return UnsafePointer(layer.output.pointer) },
                                       backward: { layer.backward(x.pointer, dy: $0, batch: b, dropout: Self.dropout) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("PositionalEncoding: input, table and LayerNorm", arguments: precisionChecks)
    func positionalEncoding(check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let layer = PositionalEncoding("frame_pos_embed", features: c.hiddenSize, maxPositions: c.maxContextLength, rate: 0.2,
                                       site: DropoutSite(4), parameters: p, gradients: g, scratch: ScratchArena())
        let b = Self.batch
        let x = randomBuffer(b.rows * c.hiddenSize, seed: 2), dx = Tensor(shape: [b.rows * c.hiddenSize])
        let names = ["frame_pos_embed.position_embeddings.weight", "frame_pos_embed.LayerNorm.weight", "frame_pos_embed.LayerNorm.bias"]
        let error = layerGradientError(checked: [(x.buffer, dx.buffer)] + names.map { (p.buffer($0), g.buffer($0)) },
                                       outputCount: b.rows * c.hiddenSize, check: check,
                                       forward: { layer.forward(x.pointer, batch: b, dropout: Self.dropout); return UnsafePointer(layer.output.pointer) },
                                       backward: { layer.backward(dy: $0, dx: dx.pointer, batch: b, dropout: Self.dropout) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("SelfAttention with a Gaussian width and dropout: input and all ten tensors", arguments: [nil, Float(0.5)], precisionChecks)
    func selfAttention(width: Float?, check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let name = width == nil ? "frame_encoder_1.attn0" : "frame_encoder_1.attn1"
        let layer = SelfAttention(name, features: c.hiddenSize, heads: c.heads, width: width, rate: 0.3, site: DropoutSite(5),
                                  parameters: p, gradients: g, scratch: ScratchArena())
        let b = Self.batch
        let x = randomBuffer(b.rows * c.hiddenSize, seed: 3), dx = Tensor(shape: [b.rows * c.hiddenSize])
        let names = ["self.query.weight", "self.query.bias", "self.key.weight", "self.key.bias", "self.value.weight", "self.value.bias",
                     "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias"].map { "\(name).\($0)" }
        let error = layerGradientError(checked: [(x.buffer, dx.buffer)] + names.map { (p.buffer($0), g.buffer($0)) },
                                       outputCount: b.rows * c.hiddenSize, check: check,
                                       forward: { layer.forward(x.pointer, batch: b, dropout: Self.dropout); return UnsafePointer(layer.output) },
                                       backward: { layer.backward(x.pointer, dy: $0, dx: dx.pointer, batch: b, dropout: Self.dropout) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("GMMBlock: input and one tensor of each branch", arguments: precisionChecks)
    func gmmBlock(check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let block = GMMBlock("clip_encoder", features: c.hiddenSize, heads: c.heads, rate: 0.3, site: DropoutSite(20), parameters: p, gradients: g, scratch: ScratchArena())
        let b = Self.batch
        let x = randomBuffer(b.rows * c.hiddenSize, seed: 4), dx = Tensor(shape: [b.rows * c.hiddenSize])
        let names = ["clip_encoder.attn0.self.key.weight", "clip_encoder.attn1.self.query.weight",
                     "clip_encoder.attn2.output.dense.weight", "clip_encoder.attn3.output.LayerNorm.weight"]
        let error = layerGradientError(checked: [(x.buffer, dx.buffer)] + names.map { (p.buffer($0), g.buffer($0)) },
                                       outputCount: b.rows * c.hiddenSize, epsilon: 3e-3, check: check,
                                       forward: { block.forward(x.pointer, batch: b, dropout: Self.dropout); return UnsafePointer(block.output.pointer) },
                                       backward: { block.backward(x.pointer, dy: $0, dx: dx.pointer, batch: b, dropout: Self.dropout) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("AttentionPooling: input and weight", arguments: precisionChecks)
    func attentionPooling(check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let layer = AttentionPooling("modular_vector_mapping_2", features: c.hiddenSize, parameters: p, gradients: g)
        let b = Self.batch
        let x = randomBuffer(b.rows * c.hiddenSize, seed: 5), dx = Tensor(shape: [b.rows * c.hiddenSize])
        let error = layerGradientError(checked: [(x.buffer, dx.buffer), (p.buffer("modular_vector_mapping_2.weight"), g.buffer("modular_vector_mapping_2.weight"))],
                                       outputCount: b.count * c.hiddenSize, check: check,
                                       forward: { layer.forward(x.pointer, batch: b); return UnsafePointer(layer.output.pointer) },
                                       backward: { layer.backward(x.pointer, dy: $0, dx: dx.pointer, batch: b) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("MambaBlock (x + LN(Mamba(x))): input, LayerNorm and every Mamba tensor", arguments: precisionChecks)
    func mambaBlock(check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let block = MambaBlock("frame_encoder_1_mamba", dimensions: c.dimensions, parameters: p, gradients: g, scratch: ScratchArena())
        let b = Self.batch
        let x = randomBuffer(b.rows * c.hiddenSize, seed: 6), dx = Tensor(shape: [b.rows * c.hiddenSize])
        let names = ["1.weight", "1.bias", "0.in_proj.weight", "0.conv1d.weight", "0.conv1d.bias", "0.x_proj.weight",
                     "0.dt_proj.weight", "0.dt_proj.bias", "0.A_log", "0.D", "0.out_proj.weight"].map { "frame_encoder_1_mamba.\($0)" }
        let error = layerGradientError(checked: [(x.buffer, dx.buffer)] + names.map { (p.buffer($0), g.buffer($0)) },
                                       outputCount: b.rows * c.hiddenSize, check: check,
                                       forward: { block.forward(x.pointer, batch: b); return UnsafePointer(block.output.pointer) },
                                       backward: { block.backward(dy: $0, dx: dx.pointer, batch: b) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("FusionAttention: target, memory and the packed in/out projections", arguments: precisionChecks)
    func fusionAttention(check: PrecisionCheck) {
        let c = tinyConfiguration()
        let (p, g) = perturbedParameters(c)
        let layer = OneProcessFusion(FusionAttention("v2t_fusion", features: c.hiddenSize, heads: c.heads, parameters: p, gradients: g))
        let nt = 3, nm = 5, d = c.hiddenSize
        let target = randomBuffer(nt * d, seed: 7), memory = randomBuffer(nm * d, seed: 8)
        let dTarget = Tensor(shape: [nt * d]), dMemory = Tensor(shape: [nm * d])
        let names = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"].map { "v2t_fusion.multihead_attn.\($0)" }
        let error = layerGradientError(checked: [(target.buffer, dTarget.buffer), (memory.buffer, dMemory.buffer)] + names.map { (p.buffer($0), g.buffer($0)) },
                                       outputCount: nt * d, check: check,
                                       forward: { layer.forward(target: target.pointer, targets: nt, memory: memory.pointer, memories: nm); return UnsafePointer(layer.output.pointer) },
                                       backward: { layer.backward(target: target.pointer, memory: memory.pointer, dy: $0, dTarget: dTarget.pointer, dMemory: dMemory.pointer) })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }

    @Test("TiledSimilarity: q and the video blocks through all four score matrices", arguments: precisionChecks)
    func tiledSimilarity(check: PrecisionCheck) {
        // Few queries: with many, some clip maximum sits within ε of a tie and the max's kink
        // dominates the central difference. Several tiles: TiledSimilarityTests (against the
        // whole-matrix backward).
        let Q = 5, V = 3, mc = 4, d = 16, n = mc + 1
        let s = TiledSimilarity(features: d, clips: mc)
        let q = randomBuffer(Q * d, seed: 9), E = randomBuffer(V * n * d, seed: 10)
        let dq = Tensor(shape: [Q * d]), dE = Tensor(shape: [V * n * d])
        let out = Tensor(shape: [4 * Q * V])
        let error = layerGradientError(checked: [(q.buffer, dq.buffer), (E.buffer, dE.buffer)],
                                       outputCount: 4 * Q * V, epsilon: 1e-3, check: check,
                                       forward: {
                                           s.forward(q: q.pointer, queries: Q, embeddings: E.pointer, videos: V, globalVideos: [7, 2, 9])
                                           for (k, b) in [s.clip, s.clipUnnormalized, s.frame, s.frameUnnormalized].enumerated() {
                                               (out.pointer + k * Q * V).update(from: b.pointer, count: Q * V)
                                           }
                                           return UnsafePointer(out.pointer)
                                       },
                                       backward: { w in
                                           s.backward(q: q.pointer, embeddings: E.pointer,
                                                      dClip: w, dClipUnnormalized: w + Q * V, dFrame: w + 2 * Q * V, dFrameUnnormalized: w + 3 * Q * V,
                                                      dq: dq.pointer, dE: dE.pointer)
                                       })
        #expect(error < check.tolerance(1e-2), "\(check): max relative error \(error)")
    }
}
