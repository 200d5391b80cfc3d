import FeatureData
import Foundation
import HDF5Kit
import MamFusion
import MPIKit
import TestSupport
import Testing
@testable import Training

/// The third model (`ToyModel`, in `Sources/TestSupport/Models/Toy/`, the tests' only): a model is
/// a type plus a registry line and a configuration value. It trains through the real trainer — in
/// this process on `LocalWorld`, and as `train` under `mpirun` on 1 and 2 ranks (the test-support
/// tool is the shipped `train` command with the test models registered) — on batches of
/// (video, caption) pairs where a video can come twice, and 2 ranks give 1 rank's trajectory.
@Suite(.serialized)
struct ToyModelTests {
    static let settings = ["collection=toy", "visual_feature=synthetic", "model=toy", "hidden_size=16", "n_heads=2", "visual_feat_dim=20",
                           "q_feat_size=12", "max_ctx_l=12", "max_desc_l=8", "map_size=4", "batchsize=8", "n_epoch=3", "lr=0.002",
                           "checksum_every_steps=1"]

    static func arguments(data: String, output: String, extra: [String] = []) -> [String] {
        (settings + ["data_root=\(data)", "output_dir=\(output)"] + extra).flatMap { ["--set", $0] }
    }

    /// The tensors of a checkpoint group, by name.
    static func tensors(_ path: String, group: String = "model") throws -> [String: [Float]] {
        let file = try HDF5File.open(path)
        var out: [String: [Float]] = [:]
        for name in try file.openGroup(group).memberNames() { out[name] = try file.openDataset("\(group)/\(name)").read(as: Float.self) }
        return out
    }

    /// max over tensors of ‖a − b‖∞ / ‖b‖∞.
    static func largestRelativeDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Double {
        var worst = 0.0
        for (name, y) in b {
            let x = a[name] ?? [], scale = y.reduce(0.0) { max($0, Double(abs($1))) }
            guard x.count == y.count else { return .infinity }
            let difference = zip(x, y).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) }
            worst = max(worst, scale > 0 ? difference / scale : difference)
        }
        return worst
    }

    @Test("the toy model trains in-process on LocalWorld and under mpirun on 1 and 2 ranks; 1 rank equals in-process bit for bit, 2 ranks equal 1")
    func trainsOnOneAndTwoRanks() throws {
        TestModels.register()
        let data = try writeToyCollection(trainVideos: 13, evaluationVideos: 5, frames: 5...14, seed: 21, label: "toy-model")
        // An epoch is 26 (video, caption) pairs in batches of 8: some batch holds a video twice.
        let sampler = EpochSampler(videoCount: 26, batchSize: 8, seed: 9527)
        let source = try FeatureDataset.open(.release(CollectionPaths(root: data, collection: "toy", visualFeature: "synthetic")), split: "train")
        let videoOf = source.index.captions.map(\.videoIndex)
        #expect((0..<sampler.stepsPerEpoch).contains { index in
            let videos = sampler.batch(epoch: 0, index: index).map { videoOf[$0] }
            return Set(videos).count < videos.count
        }, "the fixture should put a video twice in a batch")

        var c = try RunConfiguration.load(file: nil, overrides: Self.settings + ["data_root=\(data)", "output_dir=\(data)/here"])
        #expect(c.modelType.name == ToyModel.name && c.modelType.batchComposition == .captionPairs)
        _ = try TrainerTests.trainInProcess(c, root: data, steps: 7)
        c.outputDirectory = "\(data)/here"
        for ranks in [1, 2] {
            let out = try ToolRunner.run(["train", "--max-steps", "7", "--no-validation", "--quiet", "--dump-gradients", "\(data)/gradients-\(ranks).h5"]
                                         + Self.arguments(data: data, output: "\(data)/ranks-\(ranks)"), ranks: ranks, timeout: 300,
                                         program: .testSupport)
            try #require(out.status == 0, "toy on \(ranks) ranks:\n\(out.stderr)")
        }
        let here = try Self.tensors("\(data)/here/checkpoints/latest.h5")
        let one = try Self.tensors("\(data)/ranks-1/checkpoints/latest.h5"), two = try Self.tensors("\(data)/ranks-2/checkpoints/latest.h5")
        #expect(Set(one.keys) == ["video_proj.weight", "text_proj.weight"])
        #expect(one.keys.allSatisfy { one[$0]!.map(\.bitPattern) == here[$0]!.map(\.bitPattern) }, "in-process and mpirun -np 1 differ")
        let start = ParameterSet(layout: c.parameterLayout)
        ToyModel.initialize(start, seed: UInt64(c.seed))
        let initial = Dictionary(uniqueKeysWithValues: start.layout.specs.map { ($0.name, start.tensor($0).toArray()) })
        #expect(Self.largestRelativeDifference(one, initial) > 1e-3, "training must have moved the parameters")
        let g1 = try Self.tensors("\(data)/gradients-1.h5", group: "/"), g2 = try Self.tensors("\(data)/gradients-2.h5", group: "/")
        let gradient = Self.largestRelativeDifference(g2, g1), difference = Self.largestRelativeDifference(two, one)
        print("toy model, 2 ranks vs 1 rank: first-step gradient \(gradient), parameters after 7 steps \(difference)")
        #expect(gradient < DistributedEquivalenceTests.rankInvariance, "first-step gradients of 2 ranks differ from 1 by \(gradient)")
        #expect(difference < DistributedEquivalenceTests.rankInvariance, "parameters of 2 ranks differ from 1 by \(difference)")
        let records = try String(contentsOfFile: "\(data)/ranks-2/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.count == 7 && records.allSatisfy { $0.contains("\"t2v\": ") && $0.contains("\"v2t\": ") })
    }

    @Test("the toy model's gradient through the training step matches finite differences")
    func gradient() throws {
        TestModels.register()
        var c = tinyConfiguration()
        c.model = ToyModel.name
        let (p, _) = perturbedParameters(c, seed: 11)
        let step = DistributedStep(model: c.makeModel(parameters: p), world: LocalWorld(), bucketBytes: 1 << 16)
        let fixture = StepFixture(c, frames: [5, 3, 2, 4], captions: [1, 1, 1, 1], seed: 46)
        let key = StepKey(seed: 1, step: 2, epoch: 0, dropoutEnabled: false)
        let result = try step.run(fixture.plan(microBatch: 2), inputs: fixture.inputs, videoNames: { "v\($0)" }, key: key)
        #expect(result.terms.total.isFinite && result.terms.total > 0 && result.reencode > 0)
        let error = GradientCheck.maxRelativeError(parameters: [p.storage.buffer], gradients: [UnsafeBufferPointer(step.model.gradients.storage.buffer)],
                                                   directions: 4, epsilon: 1e-2) {
            (try? step.loss(fixture.plan(), inputs: fixture.inputs, key: key).total) ?? .nan
        }
        print("toy model gradient check through the training step (2 micro-batches): max relative error \(error)")
        #expect(error < 1e-3, "max relative error \(error)")
    }
}
