import FeatureData
import Foundation
import HDF5Kit
import MamFusion
import MPIKit
import TestSupport
import Testing
@testable import Training

/// `mamfusion train` started without mpirun (a world of one process), run as a child process —
/// initialising MPI inside the test process would fork Open MPI's singleton daemon, which would
/// inherit other tests' pipes — and the same `Trainer` run in-process on `LocalWorld` (no MPI).
@Suite(.serialized)
struct TrainerTests {
    /// A trainer inside this process on `LocalWorld`, on the release-layout collection `root`.
    static func trainInProcess(_ c: RunConfiguration, root: String, steps: Int) throws -> Trainer {
        let source = try FeatureDataset.open(.release(CollectionPaths(root: root, collection: c.collection, visualFeature: c.visualFeature)),
                                             split: "train", visualDimension: c.visualFeatureSize, queryDimension: c.queryFeatureSize)
        let loader = try SplitLoader(source: source, options: LoaderOptions(mapSize: c.mapSize, maxContextLength: c.maxContextLength,
                                                                            maxDescriptionLength: c.maxDescriptionLength))
        var options = TrainerOptions()
        options.maxSteps = steps
        options.validate = false
        options.progress = false
        options.handlesStopSignals = false
        let trainer = try Trainer(configuration: c, world: LocalWorld(), loader: loader, options: options, validator: nil)
        try trainer.run()
        return trainer
    }

    @Test("the trainer runs in-process on LocalWorld, for both models: the same parameters, moments and records as `mamfusion train`, bit for bit",
          arguments: prvrModels)
    func inProcess(model: String) throws {
        let root = try writeToyCollection(trainVideos: 12, evaluationVideos: 6, frames: 6...14, seed: 6, label: "in-process")
        let child = root + "/child", here = root + "/here"
        let settings = { (output: String) in
            DistributedEquivalenceTests.settings(output: output, data: root, extra: ["model=\(model)", "hard_negative_start_epoch=1"])
        }
        let out = try ToolRunner.run(["train", "--max-steps", "5", "--no-validation", "--quiet"] + settings(child))
        #expect(out.status == 0, "\(out.stderr)")
        let c = try RunConfiguration.load(file: nil, overrides: settings(here).filter { $0 != "--set" })
        let trainer = try Self.trainInProcess(c, root: root, steps: 5)
        #expect(trainer.state.step == 5 && trainer.world.size == 1)
        for file in ["latest.h5"] {
            let a = try HDF5File.open("\(child)/checkpoints/\(file)"), b = try HDF5File.open("\(here)/checkpoints/\(file)")
            for group in ["model", "optimizer/exp_avg", "optimizer/exp_avg_sq"] {
                for name in try a.openGroup(group).memberNames() {
                    let x: [Float] = try a.openDataset("\(group)/\(name)").read(as: Float.self)
                    let y: [Float] = try b.openDataset("\(group)/\(name)").read(as: Float.self)
                    #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "\(model): /\(group)/\(name) differs")
                }
            }
        }
        func losses(_ dir: String) throws -> [String] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                String(line.split(separator: ",").first { $0.contains("\"loss\":") } ?? "")
            }
        }
        #expect(try losses(child) == losses(here) && losses(here).count == 5)
        let records = try RunRecord.read(here + "/metrics.jsonl").steps
        #expect(records.map(\.step) == Array(1...5) && records.allSatisfy { $0.terms.terms.map(\.name) == PRVRLossTerms.names && $0.seconds > 0 })
    }

    @Test("training steps run, records and checkpoints are written, and k + k resumed steps equal 2k steps bit for bit")
    func trainsAndResumes() throws {
        let root = try writeToyCollection(trainVideos: 12, evaluationVideos: 6, frames: 6...14, seed: 3, label: "train")
        let settings = { (output: String) in
            DistributedEquivalenceTests.settings(output: output).map { $0.hasPrefix("data_root=") ? "data_root=\(root)" : $0 }
        }
        let dirA = root + "/runA", dirB = root + "/runB"
        var out = try ToolRunner.run(["train", "--max-steps", "6", "--no-validation", "--quiet"] + settings(dirA))
        #expect(out.status == 0, "\(out.stderr)")
        let lines = try String(contentsOfFile: dirA + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6 && lines.allSatisfy { $0.contains("\"type\": \"step\"") && $0.contains("\"loss\": ") })
        #expect(FileManager.default.fileExists(atPath: dirA + "/config.yaml"))
        let resolved = try RunConfiguration.parse(yaml: String(contentsOfFile: dirA + "/config.yaml", encoding: .utf8))
        #expect(resolved.batchSize == 5 && resolved.outputDirectory == dirA)

        out = try ToolRunner.run(["train", "--max-steps", "3", "--no-validation", "--quiet"] + settings(dirB))
        #expect(out.status == 0, "\(out.stderr)")
        out = try ToolRunner.run(["train", "--resume", "latest", "--max-steps", "3", "--no-validation", "--quiet"] + settings(dirB))
        #expect(out.status == 0, "\(out.stderr)")
        let a = try DistributedEquivalenceTests.parameters(dirA), b = try DistributedEquivalenceTests.parameters(dirB)
        #expect(a.storage.buffer.elementsEqual(b.storage.buffer))
        #expect(try String(contentsOfFile: dirB + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 6)
    }

    @Test("a training run with validation keeps the best checkpoint and records R@K per epoch")
    func validationAndBest() throws {
        let root = try writeToyCollection(trainVideos: 12, evaluationVideos: 6, frames: 6...14, seed: 4, label: "validate")
        let output = root + "/run"
        let arguments = DistributedEquivalenceTests.settings(output: output).map { $0.hasPrefix("data_root=") ? "data_root=\(root)" : $0 }
            .map { $0 == "n_epoch=3" ? "n_epoch=2" : $0 }
        let out = try ToolRunner.run(["train"] + arguments, ranks: 2, timeout: 300)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("epoch 1 validation: R@1"))
        let records = try String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.filter { $0.contains("\"type\": \"validation\"") && $0.contains("\"sumr\": ") }.count == 2)
        #expect(FileManager.default.fileExists(atPath: output + "/checkpoints/best.h5"))
        let best = try Checkpoint.read(from: output + "/checkpoints/best.h5", into: DistributedEquivalenceTests.parameters(output)).state
        #expect(best.bestEpoch >= 0 && best.bestSumR > 0)
    }

    @Test("GMMFormer end to end: trained with validation on 2 ranks, its checkpoint evaluated and indexed; loading it as MamFusion names both models")
    func gmmFormerEndToEnd() throws {
        let root = try writeToyCollection(trainVideos: 12, evaluationVideos: 6, frames: 6...14, seed: 5, label: "gmmformer")
        let output = root + "/run"
        let settings = DistributedEquivalenceTests.settings(output: output, data: root, extra: ["n_epoch=1", "model=gmmformer"])
        let out = try ToolRunner.run(["train"] + settings, ranks: 2, timeout: 300)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("epoch 0 validation: R@1"))
        let best = output + "/checkpoints/best.h5"
        let parameters = try DistributedEquivalenceTests.parameters(output, data: root, extra: ["model=gmmformer"])
        #expect(parameters.layout.model == GMMFormerModel.name && parameters.layout.spec(named: "v2t_fusion.multihead_attn.in_proj_weight") == nil)

        let evaluation = try ToolRunner.run(["eval", "--checkpoint", best, "--split", "test"] + settings, ranks: 2)
        #expect(evaluation.status == 0, "\(evaluation.stderr)")
        #expect(evaluation.stdout.contains("SumR"))
        let index = root + "/index.h5"
        let indexed = try ToolRunner.run(["index", "--checkpoint", best, "--split", "test", "--out", index] + settings, ranks: 2)
        #expect(indexed.status == 0, "\(indexed.stderr)")
        let fromIndex = try ToolRunner.run(["eval", "--checkpoint", best, "--split", "test", "--index", index] + settings, ranks: 2)
        #expect(fromIndex.status == 0, "\(fromIndex.stderr)")
        let recall = { (text: String) in text.split(separator: "\n").first { $0.contains("SumR") }.map(String.init) }
        #expect(recall(fromIndex.stdout) != nil && recall(fromIndex.stdout) == recall(evaluation.stdout))

        // The phase table on the text output, and the same numbers as one JSON object.
        #expect(evaluation.stdout.contains("where the time went") && evaluation.stdout.contains("peak RSS"), "\(evaluation.stdout)")
        let json = try ToolRunner.run(["eval", "--checkpoint", best, "--split", "test", "--json"] + settings, ranks: 2)
        #expect(json.status == 0, "\(json.stderr)")
        let line = try #require(json.stdout.split(separator: "\n").first { $0.hasPrefix("{") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for key in ["r1", "r5", "r10", "r100", "sumr", "queries", "videos", "ranks", "reading_s", "video_encoding_s", "query_encoding_s",
                    "query_gather_s", "scoring_s", "ranking_s", "encoder_gflops", "fp32_limit_gflops", "bf16_limit_gflops",
                    "encoder_fraction_of_fp32_limit", "encoder_fraction_of_bf16_limit", "peak_rss_bytes_max_rank"] {
            #expect(object[key] is NSNumber, "eval --json lacks \(key): \(line)")
        }
        #expect(object["ranks"] as? Int == 2)
        let sumR = (object["sumr"] as? NSNumber)?.doubleValue ?? -1
        #expect(recall(evaluation.stdout)?.contains(String(format: "%7.2f", sumR)) == true, "JSON SumR \(sumR) vs \(recall(evaluation.stdout) ?? "")")

        let wrong = try ToolRunner.run(["eval", "--checkpoint", best] + settings + ["--set", "model=mamfusion"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("holds a gmmformer model, but the configuration's model is mamfusion"), "\(wrong.stderr)")
    }
}
