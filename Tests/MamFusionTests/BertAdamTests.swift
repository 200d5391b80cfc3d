import Foundation
import Testing
@testable import MamFusion

struct BertAdamTests {
    /// A tiny layout: a decayed weight, a bias, a LayerNorm weight, a Mamba LayerNorm (decayed by
    /// the name rule) and an unused tensor.
    static func layout() -> ParameterLayout {
        ParameterLayout(model: "test", groups: [.clip, .query], entries: [
            .init(name: "enc.dense.weight", shape: [2, 3], kind: .linearWeight, group: .query),
            .init(name: "enc.dense.bias", shape: [2], kind: .linearBias, group: .query),
            .init(name: "enc.LayerNorm.weight", shape: [3], kind: .layerNormWeight, group: .query),
            .init(name: "enc_mamba.1.weight", shape: [2], kind: .layerNormWeight, group: .clip),
            .init(name: "fusion.vid_embed_proj.weight", shape: [4], kind: .unusedWeight, group: .unused),
        ])
    }

    /// Independent Double reference of MODEL.md §6.
    static func reference(p: inout [Double], m: inout [Double], v: inout [Double], g: [Double],
                          lr: Double, wd: Double, decays: Bool, step: Int, total: Int, warmup: Double) {
        let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let coef = 1.0 / (norm + 1e-6)
        let gc = coef < 1 ? g.map { $0 * coef } : g
        let x = Double(step) / Double(total)
        let sched = x < warmup ? x / warmup : max((x - 1) / (warmup - 1), 0)
        for i in p.indices {
            m[i] = 0.9 * m[i] + 0.1 * gc[i]
            v[i] = 0.999 * v[i] + 0.001 * gc[i] * gc[i]
            let u = m[i] / (v[i].squareRoot() + 1e-6) + (decays ? wd * p[i] : 0)
            p[i] -= lr * sched * u
        }
    }

    @Test("updates match a hand-written reference: per-tensor clip, no bias correction, decay by name, first factor 0")
    func matchesReference() {
        let layout = Self.layout()
        let params = ParameterSet(layout: layout), grads = ParameterSet(layout: layout)
        let m = ParameterSet(layout: layout), v = ParameterSet(layout: layout)
        var optimizer = BertAdam(learningRate: 0.1, weightDecay: 0.01, warmupProportion: 0.25, totalSteps: 8)
        var refP: [String: [Double]] = [:], refM: [String: [Double]] = [:], refV: [String: [Double]] = [:]
        for (i, s) in layout.specs.enumerated() {
            let t = params.tensor(s)
            for j in 0..<t.count { t.pointer[j] = Float(i + 1) * 0.3 - Float(j) * 0.2 }
            refP[s.name] = t.toArray().map(Double.init)
            refM[s.name] = Array(repeating: 0, count: t.count)
            refV[s.name] = Array(repeating: 0, count: t.count)
        }
        for step in 0..<5 {
            for (i, s) in layout.specs.enumerated() {
                let g = grads.tensor(s)
                // The weight's gradient has norm > 1 (clipped); the others are small (not clipped).
                for j in 0..<g.count { g.pointer[j] = (i == 0 ? 2.0 : 0.1) * Float(j + 1 + step) * (j % 2 == 0 ? 1 : -1) }
            }
            let before = params.toDictionary()
            optimizer.update(parameters: params, gradients: grads, expAvg: m, expAvgSq: v)
            if step == 0 { #expect(params.toDictionary() == before, "the very first update has factor 0") }
            for s in layout.specs where !s.kind.isUnused {
                Self.reference(p: &refP[s.name]!, m: &refM[s.name]!, v: &refV[s.name]!,
                               g: grads.tensor(s).toArray().map(Double.init), lr: 0.1, wd: 0.01,
                               decays: BertAdam.decays(s.name), step: step, total: 8, warmup: 0.25)
                for (a, b) in zip(params.tensor(s).toArray(), refP[s.name]!) {
                    #expect(abs(Double(a) - b) <= 1e-5 * max(1, abs(b)), "\(s.name) step \(step): \(a) vs \(b)")
                }
            }
            #expect(params.tensor("fusion.vid_embed_proj.weight").toArray() == before["fusion.vid_embed_proj.weight"], "unused tensors are never updated")
        }
        #expect(optimizer.step == 5)
    }

    @Test("decay rule is the reference's name rule")
    func decayRule() {
        #expect(BertAdam.decays("clip_encoder.attn0.self.query.weight"))
        #expect(!BertAdam.decays("clip_encoder.attn0.self.query.bias"))
        #expect(!BertAdam.decays("clip_encoder.attn0.output.LayerNorm.weight"))
        #expect(!BertAdam.decays("v2t_fusion.multihead_attn.in_proj_bias"))
        #expect(BertAdam.decays("clip_encoder_mamba.1.weight"))
        #expect(BertAdam.decays("clip_encoder_mamba.0.A_log"))
        // MUSE (MUSE.md §3: its own norm weights, A_log and D are decayed by the official rule).
        #expect(BertAdam.decays("MS_mamba.0.layer_norm1.weight") && BertAdam.decays("MS_mamba.3.mamba.A_b_log") && BertAdam.decays("MS_mamba.1.mamba.D_b"))
        #expect(!BertAdam.decays("MS_mamba.0.layer_norm1.bias") && !BertAdam.decays("MS_mamba.2.mamba.dt_proj_b.bias"))
    }

    @Test("warmup-linear schedule")
    func schedule() {
        #expect(BertAdam.schedule(0, warmup: 0.01) == 0)
        #expect(BertAdam.schedule(0.005, warmup: 0.01) == 0.5)
        #expect(abs(BertAdam.schedule(0.01, warmup: 0.01) - 1) < 1e-12)
        #expect(abs(BertAdam.schedule(0.505, warmup: 0.01) - 0.5) < 1e-12)
        #expect(BertAdam.schedule(1.2, warmup: 0.01) == 0)
    }

    @Test("warmup_cosine: x/w, then ½(1 + cos πx) — a jump from 1 to ≈ 0.976 at the end of a 10% warm-up")
    func cosineSchedule() {
        let s = BertAdam.Schedule.warmupCosine
        #expect(s.factor(0, warmup: 0.1) == 0 && s.factor(0.05, warmup: 0.1) == 0.5)
        #expect(abs(s.factor(0.1, warmup: 0.1) - 0.5 * (1 + cos(Double.pi * 0.1))) < 1e-15)
        #expect(abs(s.factor(0.1, warmup: 0.1) - 0.97553) < 1e-5)
        #expect(abs(s.factor(0.5, warmup: 0.1) - 0.5) < 1e-12 && abs(s.factor(1, warmup: 0.1)) < 1e-12)
    }

    @Test("MUSE's recipe: ∇/divisor, then a global clip, then the per-tensor clip, β2 0.98, warmup_cosine; the unused group never moves")
    func museRecipe() {
        let layout = Self.layout()
        let params = ParameterSet(layout: layout), grads = ParameterSet(layout: layout)
        let m = ParameterSet(layout: layout), v = ParameterSet(layout: layout)
        var c = RunConfiguration()
        c.learningRate = 0.1
        c.weightDecay = 0.2
        c.warmupProportion = 0.25
        c.adamBeta2 = 0.98
        c.learningRateSchedule = .warmupCosine
        c.globalClipNorm = 1.0
        c.gradientDivisor = 8
        var optimizer = BertAdam(configuration: c, totalSteps: 8)
        let trained = layout.specs.filter { $0.group != .unused }
        var refP: [String: [Double]] = [:], refM: [String: [Double]] = [:], refV: [String: [Double]] = [:]
        for (i, s) in layout.specs.enumerated() {
            let t = params.tensor(s)
            for j in 0..<t.count { t.pointer[j] = Float(i + 1) * 0.3 - Float(j) * 0.2 }
            refP[s.name] = t.toArray().map(Double.init)
            refM[s.name] = Array(repeating: 0, count: t.count)
            refV[s.name] = Array(repeating: 0, count: t.count)
        }
        let frozen = params.tensor("fusion.vid_embed_proj.weight").toArray()
        for step in 0..<5 {
            for (i, s) in layout.specs.enumerated() {
                let g = grads.tensor(s)
                // Large enough that both clips bite in some steps (‖∇‖/8 above 1 globally).
                for j in 0..<g.count { g.pointer[j] = (i == 0 ? 9.0 : 2.0) * Float(j + 1 + step) * (j % 2 == 0 ? 1 : -1) }
            }
            optimizer.update(parameters: params, gradients: grads, expAvg: m, expAvgSq: v)
            // Reference, in Double.
            let raw = Dictionary(uniqueKeysWithValues: trained.map { ($0.name, grads.tensor($0).toArray().map { Double($0) / 8 }) })
            let total = raw.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1 * $1 } }.squareRoot()
            let global = min(1, 1.0 / (total + 1e-6))
            let x = Double(step) / 8, sched = x < 0.25 ? x / 0.25 : 0.5 * (1 + cos(Double.pi * x))
            for s in trained {
                let g = raw[s.name]!.map { $0 * global }
                let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let clipped = norm > 1 - 1e-6 ? g.map { $0 * (1 / (norm + 1e-6)) } : g
                for j in clipped.indices {
                    refM[s.name]![j] = 0.9 * refM[s.name]![j] + 0.1 * clipped[j]
                    refV[s.name]![j] = 0.98 * refV[s.name]![j] + 0.02 * clipped[j] * clipped[j]
                    let u = refM[s.name]![j] / (refV[s.name]![j].squareRoot() + 1e-6) + (BertAdam.decays(s.name) ? 0.2 * refP[s.name]![j] : 0)
                    refP[s.name]![j] -= 0.1 * sched * u
                }
                for (a, b) in zip(params.tensor(s).toArray(), refP[s.name]!) {
                    #expect(abs(Double(a) - b) <= 1e-5 * max(1, abs(b)), "\(s.name) step \(step): \(a) vs \(b)")
                }
            }
            #expect(params.tensor("fusion.vid_embed_proj.weight").toArray() == frozen)
        }
    }
}

extension ParameterSet {
    func toDictionary() -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: layout.specs.map { ($0.name, tensor($0).toArray()) })
    }
}
