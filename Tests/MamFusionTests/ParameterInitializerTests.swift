import Testing
@testable import MamFusion

struct ParameterInitializerTests {
    static let dims = ModelDimensions(hidden: 64, heads: 4, queryFeature: 48, visualFeature: 80,
                                      maxDescriptionLength: 8, maxContextLength: 40, mapSize: 8)

    static func moments(_ xs: [Float]) -> (mean: Double, std: Double) {
        let mean = xs.reduce(0.0) { $0 + Double($1) } / Double(xs.count)
        let variance = xs.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(xs.count)
        return (mean, variance.squareRoot())
    }

    @Test("each kind of tensor gets its reference distribution")
    func distributions() {
        let p = ParameterSet(layout: .mamFusion(Self.dims))
        ParameterInitializer.initialize(p, seed: 9527)
        let w = p.tensor("clip_input_proj.net.1.weight").toArray()   // 64×80 = 5120 values
        let (mw, sw) = Self.moments(w)
        #expect(abs(mw) < 0.002 && abs(sw - 0.02) < 0.001)
        let emb = Self.moments(p.tensor("frame_pos_embed.position_embeddings.weight").toArray())
        #expect(abs(emb.std - 0.02) < 0.001)
        #expect(p.tensor("query_encoder.self.query.bias").toArray().allSatisfy { $0 == 0 })
        #expect(p.tensor("clip_encoder_mamba.0.dt_proj.bias").toArray().allSatisfy { $0 == 0 })
        #expect(p.tensor("query_encoder.output.LayerNorm.weight").toArray().allSatisfy { $0 == 1 })
        #expect(p.tensor("frame_encoder_2_mamba.1.bias").toArray().allSatisfy { $0 == 0 })
        #expect(p.tensor("frame_encoder_2_mamba.0.D").toArray().allSatisfy { $0 == 1 })
        let aLog = p.tensor("clip_encoder_mamba.0.A_log")
        for c in [0, 5, 127] { for n in 0..<16 { #expect(aLog.pointer[c * 16 + n] == Float(Double(n + 1).logarithm)) } }
        let conv = p.tensor("clip_encoder_2_mamba.0.conv1d.weight").toArray()
        #expect(conv.allSatisfy { $0 >= -0.5 && $0 < 0.5 })
        let (mc, sc) = Self.moments(conv)  // U(−0.5, 0.5): std 1/√12 ≈ 0.2887
        #expect(abs(mc) < 0.03 && abs(sc - 0.2887) < 0.02)
        let inProj = p.tensor("v2t_fusion.multihead_attn.in_proj_weight").toArray()
        let bound = Float((6.0 / Double(3 * 64 + 64)).squareRoot())
        #expect(inProj.allSatisfy { abs($0) <= bound } && abs(Float(Self.moments(inProj).std) - bound / Float(3.0).squareRoot()) < 0.01)
        #expect(p.tensor("t2v_fusion.multihead_attn.in_proj_bias").toArray().allSatisfy { $0 == 0 })
    }

    @Test("initialisation is a pure function of the seed; tensors draw from distinct streams")
    func determinism() {
        let layout = ParameterLayout.mamFusion(Self.dims)
        let a = ParameterSet(layout: layout), b = ParameterSet(layout: layout), c = ParameterSet(layout: layout)
        ParameterInitializer.initialize(a, seed: 1)
        ParameterInitializer.initialize(b, seed: 1)
        ParameterInitializer.initialize(c, seed: 2)
        #expect(a.storage.buffer.elementsEqual(b.storage.buffer))
        #expect(!a.storage.buffer.elementsEqual(c.storage.buffer))
        #expect(a.tensor("query_encoder.self.query.weight").toArray() != a.tensor("query_encoder.self.key.weight").toArray())
    }
}
