import ArgumentParser
import CommandOptions
import CounterRandom
import FeatureData
import Foundation
import MamFusion
import MPIKit
import TensorKit
import Training

/// `mamfusion bench model --config FILE --videos 16,32,64,128`: one training step (forward,
/// sharded loss head, backward, gradient all-reduce, optimiser update) of the configuration's
/// model on one rank, through exactly the calls training makes (`DistributedStep.run`, then
/// `update()`), on random inputs shaped like the configuration's data (captions per video 5,
/// words 30, frames uniform in 32…128): the model's parts (`TrainableModel.partTimes`, e.g. text,
/// clip, frame and MamFusion's mamba), the loss head and the optimiser, with the step's useful
/// FLOPs, GFLOP/s as fractions of the same-run fp32 and bf16 limits (`EngineRate.limits`), and
/// peak RSS. `--engines openblas:fp32,onednn:fp32,onednn:bf16` times each engine and precision in
/// the same run, one row each, with its speed-up over the first.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Time a training step of the full model.")

    @OptionGroup var options: ConfigurationOptions
    @OptionGroup var engine: EngineOptions
    @Option(help: "Engines and precisions to compare in this run, e.g. openblas:fp32,onednn:fp32,onednn:bf16 (default: the configuration's).")
    var engines: String?
    @Option(help: "Videos per batch, comma-separated.") var videos: String = "16,32,64,128"
    @Option(help: "Captions per video.") var captions: Int = 5
    @Option(help: "Words per caption.") var words: Int = 30
    @Option(help: "Frames per video: MIN..MAX, drawn uniformly.") var frames: String = "32..128"
    @Option(help: "Timed steps per size (after one warm-up step); the median is reported.") var steps: Int = 2
    @Flag(help: "Print one JSON object per batch size instead of the table.") var json = false

    func validate() throws {
        _ = try BenchArguments.integers(videos, option: "--videos")
        _ = try BenchArguments.range(frames, option: "--frames")
        try BenchArguments.atLeast(captions, 1, option: "--captions")
        try BenchArguments.atLeast(words, 1, option: "--words")
        try BenchArguments.atLeast(steps, 1, option: "--steps")
        if let engines { _ = try EngineList.parse(engines, option: "--engines") }
    }

    func run() throws {
        let config = try options.resolve(engine: engine)
        let configured = try LocalWorld().configureMatrixEngine(config.matmulEngine, precision: config.precision)
        let selections = try engines.map { try EngineList.parse($0, option: "--engines") } ?? [configured]
        let range = try BenchArguments.range(frames, option: "--frames")
        guard range.upperBound <= config.maxContextLength else {
            throw ValidationError("--frames must be MIN..MAX within 1…max_ctx_l (\(config.maxContextLength)), got \(frames)")
        }
        let sizes = try BenchArguments.integers(videos, option: "--videos")
        let limits = EngineRate.limits()
        let model = config.makeModel()
        config.modelType.initialize(model.parameters, seed: UInt64(config.seed))
        let step = DistributedStep(model: model, world: LocalWorld(), bucketBytes: config.gradientBucketMiB << 20,
                                   optimizer: OptimizerState(configuration: config, layout: model.layout, totalSteps: 1000))
        step.optimizer.rule.step = 100  // past warm-up: a real update
        var printedHeader = false, firstStep = 0.0
        for v in sizes {
            let stream = RandomStream(seed: UInt64(config.seed), purpose: .synthetic, step: UInt32(v))
            let frameCounts = (0..<v).map { range.lowerBound + stream.integer(below: range.count, at: $0) }.sorted(by: >)
            let q = v * captions, tokens = min(words, config.maxDescriptionLength)
            let batch = GlobalBatch(sampled: Array(0..<v), storedFrames: { frameCounts[$0] }, maxContextLength: config.maxContextLength,
                                    captionsOfVideo: { Array($0 * captions..<($0 + 1) * captions) })
            let plan = StepPlan(step: 0, batch: batch, assignment: RankAssignment(batch: batch, ranks: 1, mapSize: config.mapSize), rank: 0,
                                microBatch: 0)
            let inputs = randomBatch(config, frames: batch.frameLengths, queriesPerVideo: captions, tokens: tokens)
            let flops = model.flops(frames: batch.frameLengths, tokens: inputs.queries.tokenLengths, pass: .trainingStep)
            for (index, selection) in selections.enumerated() {
            var samples: [[String: Double]] = [], created = 0
            MatrixEngine.configure(selection)
            for k in 0...steps {
                if k == 1 { MatrixEngine.resetStatistics() }
                let key = StepKey(seed: UInt64(config.seed), step: k, epoch: 0, dropoutEnabled: config.dropoutEnabled)
                let start = MonotonicClock.now()
                let result = try step.run(plan, inputs: { _ in inputs }, videoNames: { "#\($0)" }, key: key)
                let updating = MonotonicClock.now()
                step.update()
                let end = MonotonicClock.now()
                var times = ["loss_head": result.head, "optimizer": end - updating, "step": end - start,
                             "encode": result.encode, "backward": result.backward]
                for part in model.partTimes.parts { times[part.name] = part.seconds }
                if k > 0 { samples.append(times) }
            }
            created = MatrixEngine.statistics.primitivesCreated
            let parts = model.partTimes.parts.map(\.name)
            func m(_ key: String) -> Double { median(samples.compactMap { $0[key] }) }
            let gflop = flops.total / 1e9, stepSeconds = m("step"), peak = Double(ProcessMemory.peakResidentBytes() ?? 0)
            let scanShare = flops.scan > 0 ? m("scan") / stepSeconds : 0
            let fraction = limits.fractions(flops.total / stepSeconds)
            if index == 0 { firstStep = stepSeconds }
            if json {
                var object: [String: Any] = ["model": config.model, "videos": v, "queries": q, "frame_rows": batch.frameLengths.reduce(0, +),
                                             "loss_head_s": m("loss_head"), "optimizer_s": m("optimizer"), "step_s": stepSeconds,
                                             "encode_s": m("encode"), "backward_s": m("backward"), "gflop": gflop,
                                             "gflops": gflop / stepSeconds, "scan_share": scanShare, "peak_rss_bytes": peak,
                                             "engine": selection.engine.rawValue, "precision": selection.precision.rawValue,
                                             "fp32_limit_gflops": limits.fp32, "bf16_limit_gflops": limits.bf16,
                                             "fraction_of_fp32_limit": fraction.fp32, "fraction_of_bf16_limit": fraction.bf16,
                                             "speedup_over_first": firstStep / stepSeconds, "primitives_created_after_first_step": created]
                for part in parts { object["\(part)_s"] = m(part) }
                try printJSONObject(object)
                continue
            }
            if !printedHeader {
                print("bench model: \(model.displayName), hidden \(config.hiddenSize), heads \(config.heads), Dv \(config.visualFeatureSize), "
                      + "Dq \(config.queryFeatureSize); \(captions) captions × \(words) words per video, frames \(range.lowerBound)…\(range.upperBound); "
                      + "BLAS threads \(BLAS.threads)")
                print(String(format: "same-run limits at %d×%d×%d: fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s (%@)", EngineRate.limitShape.m,
                             EngineRate.limitShape.n, EngineRate.limitShape.k, limits.fp32, limits.bf16, EngineRate.cpuFeatures.description))
                let columns = parts.map { String(repeating: " ", count: max(0, 6 - $0.count)) + $0 }
                print("videos  queries  frames  engine        | " + columns.joined(separator: "  ")
                      + "   head   optim |  step s  speed-up  GFLOP  GFLOP/s  %fp32  %bf16  scan%  peak RSS")
                printedHeader = true
            }
            print(String(format: "%6d  %7d  %6d  ", v, q, batch.frameLengths.reduce(0, +))
                  + selection.description.padding(toLength: 12, withPad: " ", startingAt: 0) + "  | "
                  + parts.map { String(format: "%6.2f", m($0)) }.joined(separator: "  ")
                  + String(format: "  %5.2f  %6.2f | %7.2f  %7.2f×  %5.0f  %7.1f  %4.1f%%  %4.1f%%  %4.1f%%  %.2f GiB",
                           m("loss_head"), m("optimizer"), stepSeconds, firstStep / stepSeconds, gflop, gflop / stepSeconds,
                           100 * fraction.fp32, 100 * fraction.bf16, 100 * scanShare, peak / 1_073_741_824))
            if created > 0 { print("  note: \(created) matrix-engine primitives were created after the warm-up step") }
            }
        }
        guard !json else { return }
        print("phases in seconds (median of \(steps)), forward and backward together; the model's parts may nest (MamFusion: mamba and scan "
              + "inside clip and frame); scan% = the selective scan's share of the step.")
        print("FLOPs count matrix products and the scan on valid positions only (TrainableModel.flops); %fp32 and %bf16: useful GFLOP/s "
              + "as a share of the same-run limits; speed-up: over the first engine of the size.")
    }

    /// Random inputs of one batch (videos in batch order, `queriesPerVideo` captions each, every
    /// caption `tokens` tokens), drawn from the `.synthetic` stream.
    func randomBatch(_ c: RunConfiguration, frames: [Int], queriesPerVideo: Int, tokens: Int) -> TrainingBatch {
        let v = frames.count, q = v * queriesPerVideo, dv = c.visualFeatureSize, dq = c.queryFeatureSize
        var frameOffsets = [0], tokenOffsets = [0]
        for n in frames { frameOffsets.append(frameOffsets.last! + n) }
        for _ in 0..<q { tokenOffsets.append(tokenOffsets.last! + tokens) }
        let videos = VideoInputs(videos: Array(0..<v), visualDimension: dv, mapSize: c.mapSize,
                                 clip: randomInputs(v * c.mapSize * dv, seed: 1), frames: randomInputs(frameOffsets.last! * dv, seed: 2),
                                 frameLengths: frames, frameOffsets: frameOffsets, storedFrameCounts: frames)
        let queries = QueryInputs(queries: Array(0..<q), queryDimension: dq, tokens: randomInputs(tokenOffsets.last! * dq, seed: 3),
                                  tokenLengths: Array(repeating: tokens, count: q), tokenOffsets: tokenOffsets)
        return TrainingBatch(videos: videos, queries: queries, queryVideoPosition: (0..<q).map { $0 / queriesPerVideo })
    }

    func randomInputs(_ count: Int, seed: UInt32) -> FloatStorage {
        let storage = FloatStorage(count: count)
        RandomStream(seed: 77, purpose: .synthetic, step: seed).fillNormal(storage.buffer, std: 0.05)
        return storage
    }
}
