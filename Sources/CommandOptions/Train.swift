import ArgumentParser
import Foundation
import MamFusion
import Evaluation
import MPIKit
import Training

/// `mpirun -np P mamfusion train --config FILE`: data-parallel training with exact global-batch
/// losses (DISTRIBUTED.md). Rank 0 prints progress and writes the run directory
/// (`output_dir`: config.yaml, metrics.jsonl, checkpoints/latest.h5 and best.h5). The test-support
/// tool runs this same command with the test-only models registered.
public struct Train: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Train MamFusion (or the GMMFormer baseline: model: gmmformer) on P ranks (mpirun -np P) with the same trajectory as one process.",
        discussion: """
        Examples:
          mpirun -np 2 mamfusion train --config Configs/demo.yaml
          mpirun -np 4 mamfusion train --config Configs/tvr.yaml --set data_root=/data/prvr
          mpirun -np 4 mamfusion train --config Configs/tvr.yaml --resume latest
        """
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Continue a run: 'latest' (output_dir/checkpoints/latest.h5), a run directory, or a checkpoint file.")
    var resume: String?

    @Option(help: "Start from these weights (e.g. converted reference weights) with a fresh optimiser.")
    var initCheckpoint: String?

    @Option(help: "Stop after this many steps in this run (writes the latest checkpoint).")
    var maxSteps: Int?

    @Option(help: "Write the summed, pre-clipping gradients of the first step to this HDF5 file.")
    var dumpGradients: String?

    @Flag(help: "Skip the per-epoch validation (and so model selection and early stopping).")
    var noValidation = false

    @Flag(help: "No progress lines.")
    var quiet = false

    public func run() throws {
        let world = try Communicator.world()
        do {
            let config = try options.resolve()
            try world.configureMatrixEngine(config.matmulEngine, precision: config.precision)
            var trainerOptions = TrainerOptions()
            trainerOptions.maxSteps = maxSteps
            trainerOptions.initCheckpoint = initCheckpoint
            trainerOptions.dumpGradients = dumpGradients
            trainerOptions.validate = !noValidation
            trainerOptions.progress = !quiet
            if let resume {
                trainerOptions.resumeFrom = try Self.resolveResume(resume, config: config)
            }
            let loader = try config.openSplit("train", world: world)
            let validator = noValidation ? nil : try Validation.make(config: config, world: world)
            let trainer = try Trainer(configuration: config, world: world, loader: loader, options: trainerOptions, validator: validator)
            try trainer.run()
        } catch let stop as TrainingStopped {
            if world.rank == 0 { FileHandle.standardError.write(Data("mamfusion: \(stop.message)\n".utf8)) }
            throw ExitCode(stop.exitCode)
        }
    }

    static func resolveResume(_ value: String, config: RunConfiguration) throws -> String {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let candidate: String
        if value == "latest" {
            candidate = "\(config.outputDirectory)/checkpoints/latest.h5"
        } else if fm.fileExists(atPath: value, isDirectory: &isDirectory), isDirectory.boolValue {
            candidate = "\(value)/checkpoints/latest.h5"
        } else {
            candidate = value
        }
        guard fm.fileExists(atPath: candidate) else { throw ValidationError("--resume \(value): no checkpoint at \(candidate)") }
        return candidate
    }
}

/// Per-epoch validation with the distributed evaluator: R@K and SumR on the val split (the
/// reference's model selection).
public enum Validation {
    public static func make(config: RunConfiguration, world: any World) throws -> (any TrainableModel) throws -> (metrics: [String: Double], sumR: Double) {
        let loader = try config.openSplit("val", world: world)
        if config.modelType.retrievalTask == .textVideo {
            return { model in
                let m = try SplitEvaluation(model: model, world: world, loader: loader).evaluateTextVideo().metrics
                return (Dictionary(uniqueKeysWithValues: m.named.map { ($0.name, $0.value) }), m.rSum)
            }
        }
        return { model in
            let m = try SplitEvaluation(model: model, world: world, loader: loader).evaluate().metrics
            return (["r1": m.r1, "r5": m.r5, "r10": m.r10, "r100": m.r100, "median_rank": m.medianRank, "mean_rank": m.meanRank], m.sumR)
        }
    }
}
