import CSignals
import FeatureData
import Foundation
import HDF5Kit
import Logging
import MamFusion
import MPIKit
import TensorKit

/// What `mamfusion train` was asked to do beyond the configuration.
public struct TrainerOptions: Sendable {
    /// Stop after this many optimiser steps in this run (a `latest` checkpoint is written).
    public var maxSteps: Int?
    /// Continue from this checkpoint (parameters, optimiser state, sampler position, best score).
    public var resumeFrom: String?
    /// Start from these weights with a fresh optimiser.
    public var initCheckpoint: String?
    /// Write the summed, pre-clipping gradients of the first step here (HDF5, one dataset per name).
    public var dumpGradients: String?
    /// Validate after every epoch (off for pure step counting).
    public var validate = true
    /// Print a progress line (rank 0).
    public var progress = true
    /// Let SIGINT/SIGTERM stop the run at the next step boundary (off for a trainer run inside
    /// another program, e.g. a test).
    public var handlesStopSignals = true
    public init() {}
}

/// A training run that has to stop, with the reason (every rank agrees on it).
public struct TrainingStopped: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32
    public var description: String { message }
}

/// The distributed training loop (DISTRIBUTED.md, MODEL.md §6–7) for the configuration's model:
/// epochs of global batches from the `EpochSampler`, one `DistributedStep` each, the optimiser on
/// the summed gradient (identical on every rank, so parameters stay bit-identical — checked by a
/// periodic checksum), validation and model selection after each epoch, checkpoints, resume,
/// progress and metrics records. Runs on any `World`: the MPI world under `mpirun`, or
/// `LocalWorld` inside another program (tests run it in-process).
public final class Trainer {
    public let configuration: RunConfiguration
    public let world: any World
    public let model: any TrainableModel
    public let step: DistributedStep
    let loader: any InputLoader
    let sampler: EpochSampler
    public private(set) var state = TrainingState()
    let records: RunRecords
    let options: TrainerOptions
    let validator: ((any TrainableModel) throws -> (metrics: [String: Double], sumR: Double))?
    /// The inputs of the coming steps, micro-batch by micro-batch, loaded ahead.
    let inputs: StepInputs
    /// Events worth a line in the log (checkpoints, stops), as opposed to the progress lines.
    let logger: Logger
    /// The one stall detector: guards every blocking collective of a step and the check-ins.
    let watchdog: CollectiveWatchdog

    public init(configuration c: RunConfiguration, world: any World, loader: any InputLoader, options: TrainerOptions,
                validator: ((any TrainableModel) throws -> (metrics: [String: Double], sumR: Double))?) throws {
        configuration = c
        self.world = world
        var logger = Logger(label: "mamfusion.train")
        logger[metadataKey: "rank"] = "\(world.rank)"
        self.logger = logger
        self.loader = loader
        inputs = StepInputs(loader: loader)
        self.options = options
        self.validator = validator
        let modelType = c.modelType
        model = modelType.init(configuration: c, parameters: try ParameterSet(allocating: modelType.layout(c), for: "the model's parameters"))
        let items = modelType.batchComposition == .captionPairs ? loader.index.captionCount : loader.index.videoCount
        sampler = EpochSampler(videoCount: items, batchSize: c.batchSize, seed: UInt64(c.seed))
        let optimizer = try OptimizerState(allocating: c, layout: model.layout, totalSteps: sampler.stepsPerEpoch * c.epochs)
        step = DistributedStep(model: model, world: world, bucketBytes: c.gradientBucketMiB << 20, optimizer: optimizer)
        watchdog = try CollectiveWatchdog(world: world, timeout: c.collectiveTimeoutSeconds)
        step.watchdog = watchdog
        records = try RunRecords(directory: c.outputDirectory, configurationYAML: c.yaml, writes: world.rank == 0,
                                 append: options.resumeFrom != nil)
        state.seed = c.seed
        // Every rank reads the same checkpoint: its conversion notes are printed once, by rank 0.
        let printsNotes = world.rank == 0
        let note: (String) -> Void = { text in if printsNotes { Checkpoint.printNote(text) } }
        if let path = options.resumeFrom {
            let (saved, _, hasOptimizer) = try Checkpoint.read(from: path, into: model.parameters, expAvg: optimizer.expAvg,
                                                               expAvgSq: optimizer.expAvgSq, note: note)
            guard hasOptimizer else {
                throw TrainingStopped(message: "\(path) has no optimiser state; use --init-checkpoint to start from its weights", exitCode: 2)
            }
            state = saved
            optimizer.rule.step = saved.step
        } else if let path = options.initCheckpoint {
            try Checkpoint.read(from: path, into: model.parameters, note: note)
        } else {
            modelType.initialize(model.parameters, seed: UInt64(c.seed))
        }
        if options.handlesStopSignals { mf_install_stop_handlers() }
    }

    /// The plan of global step `step`, batch `index` of `epoch` (the model's batch composition,
    /// split over the ranks, cut into micro-batches); the loads of this rank's share are queued
    /// in `inputs`.
    func plan(step: Int, epoch: Int, index: Int, permutation: [Int]) -> StepPlan {
        let c = configuration, split = loader.index
        let drawn = sampler.batch(epoch: epoch, index: index, permutation: permutation)
        let batch: GlobalBatch
        switch c.modelType.batchComposition {
        case .videosWithCaptions:
            batch = GlobalBatch(sampled: drawn, storedFrames: { split.frameCounts[$0] }, maxContextLength: c.maxContextLength,
                                captionsOfVideo: { Array(split.captions(ofVideo: $0)) })
        case .captionPairs:
            batch = GlobalBatch(pairs: drawn.map { (split.captions[$0].videoIndex, $0) }, storedFrames: { split.frameCounts[$0] },
                                maxContextLength: c.maxContextLength)
        }
        let assignment = RankAssignment(batch: batch, ranks: world.size, mapSize: c.mapSize, tokensPerQuery: c.maxDescriptionLength)
        let plan = StepPlan(step: step, batch: batch, assignment: assignment, rank: world.rank, microBatch: c.microBatch)
        inputs.plan(plan)
        return plan
    }

    /// Trains until `n_epoch`, early stopping, `--max-steps`, a signal or a failure.
    public func run() throws {
        let c = configuration
        let stepsPerEpoch = sampler.stepsPerEpoch
        let runStart = MonotonicClock.now()
        var stepsThisRun = 0
        var epoch = state.epoch
        var recentStepSeconds: [Double] = []
        if world.rank == 0 && options.progress {
            log("training \(model.displayName): \(loader.index.videoCount) videos, \(loader.index.captionCount) captions, batch \(c.batchSize) "
                + (c.modelType.batchComposition == .captionPairs ? "(video, caption) pairs, " : "videos, ")
                + "\(stepsPerEpoch) steps/epoch × \(c.epochs) epochs on \(world.size) rank\(world.size == 1 ? "" : "s"); "
                + "\(model.layout.parameterCount) parameters; run directory \(records.directory)")
        }
        while epoch < c.epochs {
            let permutation = sampler.permutation(epoch: epoch)
            var index = state.batchInEpoch
            var next = index < stepsPerEpoch ? plan(step: state.step, epoch: epoch, index: index, permutation: permutation) : nil
            while let current = next {
                let batch = current.batch
                // Queue the next batch of the epoch: its first load runs while this one's last computes.
                next = index + 1 < stepsPerEpoch ? plan(step: state.step + 1, epoch: epoch, index: index + 1, permutation: permutation) : nil

                let t0 = MonotonicClock.now()
                let key = StepKey(seed: UInt64(c.seed), step: state.step, epoch: epoch, dropoutEnabled: c.dropoutEnabled)
                let split = loader.index
                let result = try step.run(current, inputs: { [inputs] in try inputs.inputs(step: current.step, $0) },
                                          videoNames: { split.videoIDs[$0] }, key: key)
                let agreement = try checkHealthAndAgreeOnStop(result, epoch: epoch)
                let stop = agreement.stopSignal
                if let path = options.dumpGradients, stepsThisRun == 0 { try dumpGradients(to: path) }
                step.update()
                state.step += 1
                state.batchInEpoch = index + 1
                stepsThisRun += 1
                let seconds = MonotonicClock.now() - t0
                recentStepSeconds.append(seconds)
                if recentStepSeconds.count > 20 { recentStepSeconds.removeFirst() }
                if world.rank == 0 { recordStep(result, agreement, epoch: epoch, index: index, batch: batch, seconds: seconds) }
                if world.rank == 0 && options.progress && (state.step % c.logEverySteps == 0 || index + 1 == stepsPerEpoch) {
                    progressLine(result, agreement, epoch: epoch, index: index, batch: batch, recent: recentStepSeconds, stepsPerEpoch: stepsPerEpoch)
                }
                if state.step % c.checksumEverySteps == 0 { try verifyParametersAgree() }
                let limitReached = options.maxSteps.map { stepsThisRun >= $0 } ?? false
                if stop != 0 || limitReached {
                    try saveLatest()
                    if stop != 0 {
                        throw TrainingStopped(message: "stopped by signal \(stop) after step \(state.step); wrote \(records.latestCheckpoint)", exitCode: 130)
                    }
                    if world.rank == 0 && options.progress { log("reached --max-steps \(options.maxSteps!) at step \(state.step); wrote \(records.latestCheckpoint)") }
                    return
                }
                if state.step % c.checkpointEverySteps == 0 { try saveLatest() }
                index += 1
            }
            // End of epoch: validation, model selection, early stopping, latest checkpoint.
            state.epoch = epoch + 1
            state.batchInEpoch = 0
            if options.validate, let validator {
                try checkIn("the validation after epoch \(epoch)")
                let (metrics, sumR) = try validator(model)
                var improved = false
                if sumR > state.bestSumR {
                    state.bestSumR = sumR
                    state.bestEpoch = epoch
                    state.epochsWithoutImprovement = 0
                    improved = true
                } else {
                    state.epochsWithoutImprovement += 1
                }
                if world.rank == 0 {
                    var record = ValidationRecord()
                    (record.step, record.epoch, record.sumR, record.bestSumR) = (state.step, epoch, sumR, state.bestSumR)
                    record.metrics = metrics.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
                    records.record(.validation(record))
                    if options.progress {
                        let best = improved ? " (best so far)" : " (best \(String(format: "%.2f", state.bestSumR)) at epoch \(state.bestEpoch))"
                        if let t2v = metrics["t2v_r1"] {
                            log(String(format: "epoch %d validation: t2v R@1 %.2f R@5 %.2f R@10 %.2f MdR %.1f MnR %.1f | v2t R@1 %.2f R@5 %.2f R@10 %.2f "
                                       + "MdR %.1f MnR %.1f | RSum %.2f%@", epoch, t2v, metrics["t2v_r5"] ?? .nan, metrics["t2v_r10"] ?? .nan,
                                       metrics["t2v_median_rank"] ?? .nan, metrics["t2v_mean_rank"] ?? .nan, metrics["v2t_r1"] ?? .nan,
                                       metrics["v2t_r5"] ?? .nan, metrics["v2t_r10"] ?? .nan, metrics["v2t_median_rank"] ?? .nan,
                                       metrics["v2t_mean_rank"] ?? .nan, sumR, best))
                        } else {
                            log(String(format: "epoch %d validation: R@1 %.2f R@5 %.2f R@10 %.2f R@100 %.2f SumR %.2f%@", epoch,
                                       metrics["r1"] ?? .nan, metrics["r5"] ?? .nan, metrics["r10"] ?? .nan, metrics["r100"] ?? .nan, sumR, best))
                        }
                    }
                }
                if improved { try saveCheckpoint(to: records.bestCheckpoint) }
            }
            try saveLatest()
            if options.validate, validator != nil, state.epochsWithoutImprovement > c.maxEarlyStopCount {
                if world.rank == 0 && options.progress { log("early stop: SumR has not improved for \(state.epochsWithoutImprovement) epochs") }
                return
            }
            epoch += 1
        }
        if world.rank == 0 && options.progress {
            log(String(format: "training finished: %d steps in %.1f s", stepsThisRun, MonotonicClock.now() - runStart))
        }
    }

    // MARK: - Health, agreement, records

    /// What the ranks agreed on after a step: the stop signal (0: none) and the largest per-rank
    /// values the records report.
    struct StepAgreement {
        var stopSignal: Int32
        /// The largest peak resident memory of any rank, bytes.
        var peakResidentBytes: Int
        /// The largest loss-head compute time of any rank, seconds.
        var headSeconds: Double
        /// The largest and the smallest compute time (encoders, head, backward) of any rank,
        /// seconds: the faster ranks wait the difference in the step's collectives.
        var computeSecondsMax: Double, computeSecondsMin: Double
        /// Useful FLOPs of every rank's encoders, summed.
        var encoderFlops: Double
    }

    /// One small exchange per step (`World.gatherOutcomes`, the failure agreement) settles, for
    /// every rank at once: did any rank see a non-finite value (then all stop, naming the lowest
    /// such rank), was any rank asked to stop by SIGINT/SIGTERM (then all stop after this step),
    /// and the per-rank maxima of the records.
    private func checkHealthAndAgreeOnStop(_ result: DistributedStep.Result, epoch: Int) throws -> StepAgreement {
        let bad = result.nonFinite != nil
        if bad {
            logger.error("rank \(world.rank) at step \(state.step): non-finite \(result.nonFinite!)")
        }
        // Per rank: [stop signal, peak RSS, head µs, compute µs, encoder kFLOP].
        let local: [Int64] = [Int64(mf_stop_signal()), Int64(ProcessMemory.peakResidentBytes() ?? 0), Int64((result.head * 1e6).rounded()),
                              Int64((result.compute * 1e6).rounded()), Int64((result.encoderFlops / 1e3).rounded())]
        let outcome = try watchdog.guarding("rank \(world.rank): the health check of step \(state.step)") {
            try world.gatherOutcomes(failed: bad, values: local)
        }
        if let first = outcome.failedRanks.first {
            throw TrainingStopped(message: "stopping: \(world.describe(rank: first)) produced a non-finite value at step \(state.step) "
                                  + "(see its message); the last good checkpoint is untouched", exitCode: 3)
        }
        func largest(_ k: Int) -> Int64 { outcome.values.map { $0[k] }.max() ?? 0 }
        for (name, value) in result.terms.named where !value.isFinite {
            throw TrainingStopped(message: "stopping: loss term \(name) is \(value) at step \(state.step) (epoch \(epoch)); "
                                  + "the last good checkpoint is untouched", exitCode: 3)
        }
        return StepAgreement(stopSignal: Int32(largest(0)), peakResidentBytes: Int(largest(1)), headSeconds: Double(largest(2)) / 1e6,
                             computeSecondsMax: Double(largest(3)) / 1e6,
                             computeSecondsMin: Double(outcome.values.map { $0[3] }.min() ?? 0) / 1e6,
                             encoderFlops: Double(outcome.values.reduce(0) { $0 + $1[4] }) * 1e3)
    }

    /// Every rank arrives at `label`, at the same step — under the watchdog, so a rank that never
    /// arrives is named: the check-in before work whose collectives are not guarded one by one
    /// (the validation).
    private func checkIn(_ label: String) throws {
        let step = Int64(state.step)
        let (high, low) = try watchdog.guarding("rank \(world.rank): \(label) (step \(step))") {
            (try world.allreduce(step, .max), try world.allreduce(step, .min))
        }
        if high != low {
            throw TrainingStopped(message: "ranks diverged: at \(label) they are at steps \(low)…\(high); stopping", exitCode: 4)
        }
    }

    /// A cheap checksum of the parameters (sum and a bit-pattern hash) compared across ranks,
    /// under the collective watchdog like every blocking collective of a step (a rank that stalls
    /// just before it would otherwise leave the others waiting here forever).
    private func verifyParametersAgree() throws {
        let buffer = model.parameters.storage.buffer
        var hash: UInt64 = 1469598103934665603
        var i = 0
        while i < buffer.count {
            hash = (hash ^ UInt64(buffer[i].bitPattern)) &* 1099511628211
            i += 97
        }
        let value = Int64(bitPattern: hash)
        let (high, low) = try watchdog.guarding("rank \(world.rank): the parameter checksum of step \(state.step)") {
            (try world.allreduce(value, .max), try world.allreduce(value, .min))
        }
        if high != low {
            throw TrainingStopped(message: "parameters diverged across ranks at step \(state.step) (checksums differ); stopping", exitCode: 4)
        }
    }

    private func saveCheckpoint(to path: String) throws {
        if world.rank == 0 {
            try Checkpoint.write(to: path, parameters: model.parameters, expAvg: step.optimizer.expAvg, expAvgSq: step.optimizer.expAvgSq,
                                 state: state, configurationYAML: configuration.yaml)
            logger.debug("checkpoint written", metadata: ["path": "\(path)", "step": "\(state.step)"])
        }
    }

    private func saveLatest() throws { try saveCheckpoint(to: records.latestCheckpoint) }

    private func dumpGradients(to path: String) throws {
        guard world.rank == 0 else { return }
        try HDF5File.writeAtomically(to: path) { file in
            try file.setAttribute("step", .int64(Int64(state.step)))
            for spec in model.layout.specs {
                let dataset = try file.createDataset(spec.name, type: .float32, shape: spec.shape)
                try dataset.write(from: UnsafeBufferPointer(model.gradients.tensor(spec).buffer))
            }
        }
    }

    private func recordStep(_ r: DistributedStep.Result, _ agreement: StepAgreement, epoch: Int, index: Int, batch: GlobalBatch, seconds: Double) {
        var record = StepRecord()
        (record.step, record.epoch, record.batch, record.videos, record.queries) = (state.step, epoch, index, batch.videoCount, batch.queryCount)
        (record.loss, record.terms, record.learningRate) = (r.terms.total, r.terms, step.optimizer.rule.currentLearningRate)
        (record.seconds, record.compute, record.communication, record.wait) = (seconds, r.compute, r.communication, r.wait)
        (record.allreduceInFlight, record.head, record.headMaxRank) = (r.allreduceInFlight, r.head, agreement.headSeconds)
        (record.headCommunication, record.reencode) = (r.headCommunication, r.reencode)
        (record.computeMaxRank, record.computeMinRank) = (agreement.computeSecondsMax, agreement.computeSecondsMin)
        (record.microBatch, record.peakResidentBytesMaxRank) = (configuration.microBatch, agreement.peakResidentBytes)
        (record.gatherBytes, record.headReductionBytes, record.gradientBytes, record.bytesSent) =
            (r.gatherBytes, r.headReductionBytes, r.gradientBytes, r.bytesSent)
        record.groupLead = r.groupLead
        // Useful FLOPs of the step: every rank's encoders and the head over the global batch.
        record.flops = agreement.encoderFlops + model.flops(frames: Array(repeating: 0, count: batch.videoCount),
                                                            tokens: Array(repeating: 0, count: batch.queryCount), pass: .trainingStep).head
        records.record(.step(record))
    }

    private func progressLine(_ r: DistributedStep.Result, _ agreement: StepAgreement, epoch: Int, index: Int, batch: GlobalBatch,
                              recent: [Double], stepsPerEpoch: Int) {
        let mean = recent.reduce(0, +) / Double(max(recent.count, 1))
        let remaining = (configuration.epochs - epoch - 1) * stepsPerEpoch + (stepsPerEpoch - index - 1)
        let terms = r.terms.named.map { String(format: "%@ %.4f", $0.0, $0.1) }.joined(separator: " ")
        log(String(format: "epoch %d step %d/%d (global %d) loss %.4f [%@] | %.1f videos/s %.1f queries/s | step %.2fs = compute %.2f + comm %.2f + wait %.2f | peak RSS %.2f GiB | ETA %@",
                   epoch, index + 1, stepsPerEpoch, state.step, r.terms.total, terms,
                   Double(batch.videoCount) / mean, Double(batch.queryCount) / mean,
                   mean, r.compute, r.communication, r.wait, Double(agreement.peakResidentBytes) / 1_073_741_824,
                   formatDuration(Double(remaining) * mean)))
    }

    private func log(_ line: String) {
        print(line)
        fflush(nil)
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
