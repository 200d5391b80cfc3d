import FeatureData
import Foundation
import HDF5Kit
import MamFusion
import TestSupport
import Testing
@testable import Training

/// DISTRIBUTED.md's one rule, tested for real: `mpirun -np P mamfusion train` from the same
/// initialisation and global batches gives the parameters of a single process (up to summation
/// order), with dropout on, random then hard negatives, and a short last batch in every epoch.
@Suite(.serialized)
struct DistributedEquivalenceTests {
    /// 13 training videos, batch 5: epochs of 3 steps whose last batch holds 3 videos.
    static let data: String = try! writeToyCollection(trainVideos: 13, evaluationVideos: 5, frames: 5...14, seed: 11, label: "equivalence")

    static func settings(output: String) -> [String] {
        ["--set", "data_root=\(data)", "--set", "collection=toy", "--set", "visual_feature=synthetic",
         "--set", "hidden_size=16", "--set", "n_heads=2", "--set", "visual_feat_dim=20", "--set", "q_feat_size=12",
         "--set", "max_ctx_l=12", "--set", "max_desc_l=8", "--set", "map_size=4", "--set", "batchsize=5",
         "--set", "n_epoch=3", "--set", "hard_negative_start_epoch=1", "--set", "hard_pool_size=3",
         "--set", "lr=0.002", "--set", "checksum_every_steps=1", "--set", "output_dir=\(output)"]
    }

    /// Trains on `ranks` ranks of this machine, or across an emulated cluster with `launcher`
    /// (which then places the ranks).
    @discardableResult
    static func train(ranks: Int, output: String, steps: Int, resume: Bool = false, launcher: [String]? = nil,
                      environment: [String: String] = [:]) throws -> ToolRunner.Output {
        var arguments = ["train", "--max-steps", String(steps), "--no-validation", "--quiet"] + settings(output: output)
        if resume { arguments += ["--resume", "latest"] }
        let out = try ToolRunner.run(arguments, ranks: launcher == nil ? ranks : nil, launcher: launcher, timeout: 300, environment: environment)
        #expect(out.status == 0, "train on \(ranks) ranks failed:\n\(out.stderr)\n\(out.stdout)")
        return out
    }

    /// How far P ranks may drift from 1 rank (`largestRelativeDifference`) after the few steps
    /// these tests train: the sums are only reordered.
    static let rankInvariance = 1e-5

    static func parameters(_ output: String) throws -> ParameterSet {
        var c = RunConfiguration()
        try c.apply(overrides: settings(output: output).filter { $0 != "--set" })
        let p = ParameterSet(layout: .mamFusion(c.dimensions))
        try Checkpoint.read(from: "\(output)/checkpoints/latest.h5", into: p)
        return p
    }

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

    @Test("1, 2 and 3 ranks give the same parameters after 7 steps over 3 epochs")
    func ranksAgree() throws {
        let base = Self.data
        var results: [ParameterSet] = []
        for ranks in 1...3 {
            let output = "\(base)/run-\(ranks)"
            try Self.train(ranks: ranks, output: output, steps: 7)
            results.append(try Self.parameters(output))
        }
        let start = ParameterSet(layout: results[0].layout)
        ParameterInitializer.initialize(start, seed: 9527)
        #expect(Self.largestRelativeDifference(start, results[0]) > 1e-3, "training must have moved the parameters")
        for ranks in 2...3 {
            let difference = Self.largestRelativeDifference(results[0], results[ranks - 1])
            print("largest relative parameter difference, 1 vs \(ranks) ranks after 7 steps: \(difference)")
            #expect(difference < Self.rankInvariance, "1 vs \(ranks) ranks: \(difference)")
        }
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

extension DistributedEquivalenceTests {
    @Test("--dump-gradients writes the summed first-step gradient; 1 and 2 ranks agree")
    func dumpedGradientsAgree() throws {
        let base = Self.data
        var dumps: [[String: [Float]]] = []
        for ranks in 1...2 {
            let output = "\(base)/dump-\(ranks)", file = "\(base)/gradients-\(ranks).h5"
            let out = try ToolRunner.run(["train", "--max-steps", "1", "--no-validation", "--quiet", "--dump-gradients", file]
                                         + Self.settings(output: output), ranks: ranks)
            #expect(out.status == 0, "\(out.stderr)")
            let layout = try Self.parameters(output).layout
            let f = try HDF5File.open(file)
            var tensors: [String: [Float]] = [:]
            for spec in layout.specs {
                let dataset = try f.openDataset(spec.name)
                #expect(dataset.shape == spec.shape, "\(spec.name)")
                tensors[spec.name] = try dataset.read(as: Float.self)
            }
            dumps.append(tensors)
        }
        let hidden = 16
        var worst = 0.0
        for (name, one) in dumps[0] where !name.contains("vid_embed_proj") {
            let two = dumps[1][name]!
            let scale = one.reduce(0) { max($0, Double(abs($1))) }
            guard scale > 1e-6 else { continue }  // the zero-gradient key biases (see isZeroGradientEntry)
            let difference = zip(one, two).enumerated().reduce(0.0) { acc, e in
                name.hasSuffix("in_proj_bias") && e.offset >= hidden && e.offset < 2 * hidden ? acc : max(acc, Double(abs(e.element.0 - e.element.1)))
            }
            worst = max(worst, difference / scale)
        }
        print("largest relative first-step gradient difference, 1 vs 2 ranks: \(worst)")
        #expect(worst < 1e-4)
        #expect(dumps[0]["v2t_fusion.vid_embed_proj.weight"]!.allSatisfy { $0 == 0 })
    }
}
