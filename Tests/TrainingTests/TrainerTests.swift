import FeatureData
import Foundation
import MamFusion
import MPIKit
import Testing
@testable import Training

/// The trainer in-process on one rank (multi-rank runs are tested through mpirun in ToolTests).
@Suite(.serialized)
struct TrainerTests {
    static func syntheticRoot() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-train-\(UUID().uuidString)").path
        var recipe = SyntheticRecipe()
        recipe.collection = "toy"
        recipe.trainVideos = 12
        recipe.evaluationVideos = 6
        recipe.queriesPerVideo = 2
        recipe.frames = 6...14
        recipe.tokens = 3...6
        recipe.visualDimension = 20
        recipe.queryDimension = 12
        recipe.seed = 3
        try SyntheticGenerator(recipe: recipe).writeRelease(root: root)
        return root
    }

    static func configuration(root: String, output: String) -> RunConfiguration {
        var c = tinyTrainingConfiguration()
        c.dataRoot = root
        c.collection = "toy"
        c.visualFeature = "synthetic"
        c.outputDirectory = output
        return c
    }

    @Test("training steps run, records and checkpoints are written, and k + k resumed steps equal 2k steps bit for bit")
    func trainsAndResumes() throws {
        let root = try Self.syntheticRoot()
        let world = try Communicator.world()
        let dirA = root + "/runA", dirB = root + "/runB"
        var c = Self.configuration(root: root, output: dirA)
        c.learningRate = 3e-3
        let loader = try SplitLoader(source: FeatureDataset.open(.release(CollectionPaths(root: root, collection: "toy", visualFeature: "synthetic")),
                                                                split: "train", visualDimension: 20, queryDimension: 12),
                                     options: LoaderOptions(mapSize: c.mapSize, maxContextLength: c.maxContextLength, maxDescriptionLength: c.maxDescriptionLength))
        var options = TrainerOptions()
        options.maxSteps = 6
        options.validate = false
        options.progress = false
        let a = try Trainer(configuration: c, world: world, loader: loader, options: options, validator: nil)
        try a.run()
        #expect(a.state.step == 6)
        let lines = try String(contentsOfFile: dirA + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6 && lines[0].contains("\"type\": \"step\""))
        #expect(FileManager.default.fileExists(atPath: dirA + "/checkpoints/latest.h5"))
        #expect(FileManager.default.fileExists(atPath: dirA + "/config.yaml"))

        // 3 steps, stop, resume, 3 more ≡ 6 uninterrupted steps (bit-for-bit on one rank).
        c.outputDirectory = dirB
        options.maxSteps = 3
        try Trainer(configuration: c, world: world, loader: loader, options: options, validator: nil).run()
        options.resumeFrom = dirB + "/checkpoints/latest.h5"
        let b = try Trainer(configuration: c, world: world, loader: loader, options: options, validator: nil)
        try b.run()
        #expect(b.state.step == 6)
        #expect(a.model.parameters.storage.buffer.elementsEqual(b.model.parameters.storage.buffer))
    }
}

/// A small configuration for fast training tests.
func tinyTrainingConfiguration() -> RunConfiguration {
    var c = RunConfiguration()
    c.hiddenSize = 16
    c.heads = 2
    c.queryFeatureSize = 12
    c.visualFeatureSize = 20
    c.maxDescriptionLength = 8
    c.maxContextLength = 12
    c.mapSize = 4
    c.batchSize = 5
    c.epochs = 3
    c.hardNegativeStartEpoch = 1
    c.hardPoolSize = 3
    c.checkpointEverySteps = 1000
    c.checksumEverySteps = 2
    return c
}
