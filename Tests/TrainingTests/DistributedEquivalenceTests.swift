import FeatureData
import Foundation
import HDF5Kit
import MamFusion
import TensorKit
import TestSupport
import Testing
@testable import Training

/// DISTRIBUTED.md's one rule, tested for real: `mpirun -np P mamfusion train` from the same
/// initialisation and global batches gives the gradients and parameters of a single process (up
/// to summation order), with dropout on, on 1–4 ranks — global batches not divisible by P,
/// unequal shards, a short last batch in every epoch — in three regimes of the triplet terms:
/// random negatives, the hardest negative (hard_pool_size 1) and a pool of 20; for both models
/// (MamFusion, and GMMFormer without Mamba units and fusion).
@Suite(.serialized)
struct DistributedEquivalenceTests {
    /// 13 training videos, batch 5: epochs of 3 steps whose last batch holds 3 videos.
    static let data: String = try! writeToyCollection(trainVideos: 13, evaluationVideos: 5, frames: 5...14, seed: 11, label: "equivalence")
    /// 50 training videos for batches of 23 (a pool of 20 needs more than 21 videos).
    static let largeData: String = try! writeToyCollection(trainVideos: 50, evaluationVideos: 5, frames: 3...12, seed: 12, label: "equivalence-large")

    /// The triplet regimes of the acceptance tests.
    enum Regime: String, CaseIterable, Sendable {
        case random, hardest, pool20
        var overrides: [String] {
            switch self {
            case .random: return ["hard_negative_start_epoch=100", "hard_pool_size=20"]
            case .hardest: return ["hard_negative_start_epoch=0", "hard_pool_size=1"]
            case .pool20: return ["hard_negative_start_epoch=0", "hard_pool_size=20", "batchsize=23"]
            }
        }
        var data: String { self == .pool20 ? DistributedEquivalenceTests.largeData : DistributedEquivalenceTests.data }
    }

    static func settings(output: String, data: String = Self.data, extra: [String] = []) -> [String] {
        var pairs = ["data_root=\(data)", "collection=toy", "visual_feature=synthetic",
                     "hidden_size=16", "n_heads=2", "visual_feat_dim=20", "q_feat_size=12",
                     "max_ctx_l=12", "max_desc_l=8", "map_size=4", "batchsize=5",
                     "n_epoch=3", "hard_negative_start_epoch=1", "hard_pool_size=3",
                     "lr=0.002", "checksum_every_steps=1", "output_dir=\(output)"]
        for override in extra {
            let key = override.prefix { $0 != "=" }
            pairs.removeAll { $0.hasPrefix("\(key)=") }
            pairs.append(override)
        }
        return pairs.flatMap { ["--set", $0] }
    }

    /// Trains on `ranks` ranks of this machine, or across an emulated cluster with `launcher`
    /// (which then places the ranks).
    @discardableResult
    static func train(ranks: Int, output: String, steps: Int, resume: Bool = false, data: String = Self.data,
                      extra: [String] = [], dumpGradients: String? = nil, launcher: [String]? = nil,
                      environment: [String: String] = [:]) throws -> ToolRunner.Output {
        var arguments = ["train", "--max-steps", String(steps), "--no-validation", "--quiet"] + settings(output: output, data: data, extra: extra)
        if resume { arguments += ["--resume", "latest"] }
        if let dumpGradients { arguments += ["--dump-gradients", dumpGradients] }
        let out = try ToolRunner.run(arguments, ranks: launcher == nil ? ranks : nil, launcher: launcher, timeout: 300, environment: environment)
        #expect(out.status == 0, "train on \(ranks) ranks failed:\n\(out.stderr)\n\(out.stdout)")
        return out
    }

    /// How far P ranks may drift from 1 rank (`largestRelativeDifference`) after the few steps
    /// these tests train: the sums are only reordered.
    static let rankInvariance = 1e-5

    static func parameters(_ output: String, data: String = Self.data, extra: [String] = []) throws -> ParameterSet {
        var c = RunConfiguration()
        try c.apply(overrides: settings(output: output, data: data, extra: extra).filter { $0 != "--set" })
        let p = ParameterSet(layout: c.parameterLayout)
        try Checkpoint.read(from: "\(output)/checkpoints/latest.h5", into: p)
        return p
    }

    /// The gradient tensors of a `--dump-gradients` file, by name.
    static func dumpedGradients(_ file: String, layout: ParameterLayout) throws -> [String: [Float]] {
        let f = try HDF5File.open(file)
        var tensors: [String: [Float]] = [:]
        for spec in layout.specs {
            let dataset = try f.openDataset(spec.name)
            #expect(dataset.shape == spec.shape, "\(spec.name)")
            tensors[spec.name] = try dataset.read(as: Float.self)
        }
        return tensors
    }

    /// max over tensors of ‖a − b‖∞ / max(‖b‖∞, 1e-7 · the largest gradient entry): a tensor whose
    /// exact gradient is zero (key biases of softmax attention without a Gaussian multiplier) is
    /// judged against the floor, not against its own rounding noise. Entries that are zero in
    /// exact arithmetic (`isZeroGradientEntry`) hold only rounding noise, which each summation
    /// order draws anew: they must stay below `zeroGradientNoise` · the largest entry (a real
    /// gradient leaking in would be far larger), else the difference is reported as 1.
    static func largestGradientDifference(_ a: [String: [Float]], _ b: [String: [Float]], layout: ParameterLayout,
                                          zeroNoise: Double = zeroGradientNoise) -> (Double, String) {
        let largest = b.values.reduce(0.0) { m, t in max(m, t.reduce(0.0) { max($0, Double(abs($1))) }) }
        let hidden = layout["query_encoder.self.key.bias"].count
        var worst = (0.0, "")
        for spec in layout.specs where !spec.kind.isUnused {
            let x = a[spec.name]!, y = b[spec.name]!
            var scale = 1e-7 * largest, difference = 0.0
            for j in y.indices where !isZeroGradientEntry(spec, j, hidden: hidden) { scale = max(scale, Double(abs(y[j]))) }
            for j in y.indices {
                let d = Double(abs(x[j] - y[j]))
                if isZeroGradientEntry(spec, j, hidden: hidden) {
                    if max(Double(abs(x[j])), Double(abs(y[j]))) > zeroNoise * largest { difference = 1 }
                } else {
                    difference = max(difference, d / scale)
                }
            }
            if difference > worst.0 { worst = (difference, spec.name) }
        }
        return worst
    }

    /// How large rounding noise may make an exactly-zero gradient entry, relative to the largest
    /// gradient entry (float32 sums of terms that cancel; measured ≤ 1e-11 on these runs).
    static let zeroGradientNoise = 1e-9

    /// Entries whose gradient is exactly zero in exact arithmetic: the key biases of attention
    /// without a Gaussian multiplier (softmax is invariant to a shift along the keys) — the global
    /// branches and the query encoder — and the key third of each fusion `in_proj_bias`. Float
    /// rounding leaves ~1e-12 of noise there, which Adam's normalisation turns into a random walk
    /// of size ~lr·|noise|/ε; they are compared in absolute value instead (`zeroGradientBound`).
    static func isZeroGradientEntry(_ spec: ParameterSpec, _ j: Int, hidden: Int) -> Bool {
        if spec.name.hasSuffix(".self.key.bias") && (spec.name.hasPrefix("query_encoder.") || spec.name.contains(".attn0.")) { return true }
        if spec.name.hasSuffix("multihead_attn.in_proj_bias") { return j >= hidden && j < 2 * hidden }
        return false
    }
    static let zeroGradientBound = 1e-5

    /// max over tensors of ‖a − b‖∞ / ‖a‖∞ (zero-gradient entries: their absolute difference,
    /// which must stay below `zeroGradientBound`).
    static func largestRelativeDifference(_ a: ParameterSet, _ b: ParameterSet) -> Double {
        var worst = 0.0
        let hidden = a.layout["query_encoder.self.key.bias"].count
        for spec in a.layout.specs where !spec.kind.isUnused {
            let x = a.tensor(spec).toArray(), y = b.tensor(spec).toArray()
            let scale = x.enumerated().reduce(0) { isZeroGradientEntry(spec, $1.offset, hidden: hidden) ? $0 : max($0, Double(abs($1.element))) }
            for j in x.indices {
                let difference = Double(abs(x[j] - y[j]))
                if isZeroGradientEntry(spec, j, hidden: hidden) {
                    if difference > zeroGradientBound { worst = max(worst, 1) }
                } else {
                    worst = max(worst, difference / max(scale, 1e-30))
                }
            }
        }
        return worst
    }

    @Test("P ranks ≡ 1 rank on 1–4 ranks: first-step gradients and parameters after 5 steps", arguments: prvrModels, Regime.allCases)
    func ranksAgree(model: String, regime: Regime) throws {
        let base = regime.data, run = "\(model)-\(regime.rawValue)", overrides = regime.overrides + ["model=\(model)"]
        var gradients: [[String: [Float]]] = [], results: [ParameterSet] = []
        for ranks in 1...4 {
            let output = "\(base)/\(run)-\(ranks)", dump = "\(base)/\(run)-gradients-\(ranks).h5"
            try Self.train(ranks: ranks, output: output, steps: 5, data: base, extra: overrides, dumpGradients: dump)
            let p = try Self.parameters(output, data: base, extra: overrides)
            #expect(p.layout.model == model)
            results.append(p)
            gradients.append(try Self.dumpedGradients(dump, layout: p.layout))
        }
        let start = ParameterSet(layout: results[0].layout)
        ParameterInitializer.initialize(start, seed: 9527)
        #expect(Self.largestRelativeDifference(start, results[0]) > 1e-3, "training must have moved the parameters")
        #expect(gradients[0]["v2t_fusion.vid_embed_proj.weight"].map { $0.allSatisfy { $0 == 0 } } ?? (model == GMMFormerModel.name))
        for ranks in 2...4 {
            let (g, tensor) = Self.largestGradientDifference(gradients[ranks - 1], gradients[0], layout: results[0].layout)
            let p = Self.largestRelativeDifference(results[0], results[ranks - 1])
            print("\(model), \(regime): 1 vs \(ranks) ranks: first-step gradient \(g) (\(tensor)), parameters after 5 steps \(p)")
            #expect(g < Self.rankInvariance, "\(run), 1 vs \(ranks) ranks: first-step gradient of \(tensor) differs by \(g)")
            #expect(p < Self.rankInvariance, "\(run), 1 vs \(ranks) ranks: parameters differ by \(p)")
        }
    }

    /// The engine and precision runs beyond the default (`auto`: oneDNN fp32 where installed, which
    /// the tests above run): OpenBLAS fp32, and bf16 with each engine (oneDNN running every
    /// product it can: `oneDNNEverywhereEnvironment`).
    static let engineRuns: [MatrixEngineSelection] = engineSelections.filter { $0.engine == .openblas || $0.precision == .bf16 }

    @Test("P ranks ≡ 1 rank on 1–3 ranks with each engine and precision: first-step gradients and parameters after 5 steps",
          arguments: engineRuns)
    func ranksAgreeWithEngine(selection: MatrixEngineSelection) throws {
        let base = Self.data, run = "engine-\(selection.engine.rawValue)-\(selection.precision.rawValue)"
        let overrides = Regime.hardest.overrides + ["matmul_engine=\(selection.engine.rawValue)", "precision=\(selection.precision.rawValue)"]
        var gradients: [[String: [Float]]] = [], results: [ParameterSet] = []
        for ranks in 1...3 {
            let output = "\(base)/\(run)-\(ranks)", dump = "\(base)/\(run)-gradients-\(ranks).h5"
            try Self.train(ranks: ranks, output: output, steps: 5, data: base, extra: overrides, dumpGradients: dump,
                           environment: oneDNNEverywhereEnvironment)
            let p = try Self.parameters(output, data: base, extra: overrides)
            results.append(p)
            gradients.append(try Self.dumpedGradients(dump, layout: p.layout))
        }
        for ranks in 2...3 {
            let bf16 = selection.precision == .bf16
            let (g, tensor) = Self.largestGradientDifference(gradients[ranks - 1], gradients[0], layout: results[0].layout,
                                                             zeroNoise: bf16 ? Self.bf16ZeroGradientNoise : Self.zeroGradientNoise)
            let p = Self.largestRelativeDifference(results[0], results[ranks - 1])
            print("\(selection): 1 vs \(ranks) ranks: first-step gradient \(g) (\(tensor)), parameters after 5 steps \(p)")
            #expect(g < Self.rankInvariance, "\(run), 1 vs \(ranks) ranks: first-step gradient of \(tensor) differs by \(g)")
            #expect(p < (bf16 ? Self.bf16StepsInvariance : Self.rankInvariance), "\(run), 1 vs \(ranks) ranks: parameters differ by \(p)")
        }
    }

    /// In bf16, the exactly-zero gradient entries (`isZeroGradientEntry`) carry bf16's rounding
    /// noise instead of float32's: the terms that cancel were rounded to 8 bits before being
    /// multiplied. Measured ≤ 4.2e-8 of the largest entry; a leaking real gradient is ≥ 1e-3.
    static let bf16ZeroGradientNoise = 1e-6

    /// In bf16 the first step agrees as in fp32 (every product's bits are the same on any number of
    /// ranks; measured 2.4–3.2e-7). Later steps start from parameters that differ in their last
    /// bits (the gradient sums are reordered, as in fp32), and a parameter whose two values round
    /// to different bf16 copies — about one in 2¹⁶ per differing bit — moves by 2⁻⁸ of itself in
    /// that step's products; Adam's normalised updates carry that on. Measured after 5 steps:
    /// 4e-7 to 3.4e-4 (fp32: ≤ 3.5e-6). Bound 1e-3 (a quarter of bf16's unit roundoff).
    static let bf16StepsInvariance = 1e-3

    @Test("a checkpoint does not depend on the precision it was trained in: bf16 training keeps fp32 master weights and resumes in fp32")
    func checkpointIndependentOfPrecision() throws {
        let base = Self.data, output = "\(base)/precision-switch"
        try Self.train(ranks: 2, output: output, steps: 3, data: base, extra: ["precision=bf16"])
        let trained = try Self.parameters(output, data: base, extra: ["precision=bf16"])
        // Master weights stay fp32: updates of size lr·(Adam step) leave most weights off the bf16 grid.
        let offGrid = trained.storage.buffer.filter { $0.bitPattern & 0xFFFF != 0 }.count
        #expect(offGrid > trained.storage.count / 2, "only \(offGrid) of \(trained.storage.count) parameters are off the bf16 grid")
        try Self.train(ranks: 2, output: output, steps: 2, resume: true, data: base, extra: ["precision=fp32"])
        let resumed = try Self.parameters(output, data: base)
        #expect(Self.largestRelativeDifference(trained, resumed) > 0, "the fp32 steps after the bf16 ones must move the parameters")
    }

    @Test("on 2 ranks, 3 steps + resume + 3 steps equals 6 uninterrupted steps")
    func resumeOnTwoRanks() throws {
        let base = Self.data
        try Self.train(ranks: 2, output: "\(base)/straight", steps: 6)
        try Self.train(ranks: 2, output: "\(base)/resumed", steps: 3)
        try Self.train(ranks: 2, output: "\(base)/resumed", steps: 3, resume: true)
        let difference = Self.largestRelativeDifference(try Self.parameters("\(base)/straight"), try Self.parameters("\(base)/resumed"))
        #expect(difference == 0, "resumed run differs by \(difference)")
    }
}
