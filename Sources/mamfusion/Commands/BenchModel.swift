import ArgumentParser
import CounterRandom
import Foundation
import MamFusion
import MPIKit
import TensorKit
import Training

/// `mamfusion bench model --config FILE --videos 16,32,64,128`: one training step (forward,
/// backward, BertAdam update) of the configuration's model (MamFusion or GMMFormer) on random inputs shaped like the configuration's
/// data (captions per video 5, words 30, frames uniform in 32…128), per phase, with the step's
/// useful FLOPs, GFLOP/s against the sgemm GFLOP/s measured in the same run, and peak RSS.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Time a training step of the full model.")

    @OptionGroup var options: ConfigurationOptions
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
    }

    func run() throws {
        let config = try options.resolve()
        let range = try BenchArguments.range(frames, option: "--frames")
        guard range.upperBound <= config.maxContextLength else {
            throw ValidationError("--frames must be MIN..MAX within 1…max_ctx_l (\(config.maxContextLength)), got \(frames)")
        }
        let bounds = [range.lowerBound, range.upperBound]
        let sizes = try BenchArguments.integers(videos, option: "--videos")
        let sgemm = Doctor.sgemmGFLOPs(m: 4096, n: 384, k: 384, repeats: 3)
        if !json {
            print("bench model: \(config.model.displayName), hidden \(config.hiddenSize), heads \(config.heads), Dv \(config.visualFeatureSize), Dq \(config.queryFeatureSize); "
                  + "\(captions) captions × \(words) words per video, frames \(bounds[0])…\(bounds[1]); BLAS threads \(BLAS.threads)")
            print(String(format: "same-run sgemm (4096×384×384): %.1f GFLOP/s", sgemm))
            print("videos  queries  frames |  text    clip   frame  (mamba)  loss   optim |  step s  GFLOP  GFLOP/s  %sgemm  scan%  peak RSS")
        }
        let model = MamFusionModel(configuration: config)
        let head = ShardedLossHead(model: model)
        ParameterInitializer.initialize(model.parameters, seed: UInt64(config.seed))
        let expAvg = ParameterSet(layout: model.layout), expAvgSq = ParameterSet(layout: model.layout)
        var optimizer = BertAdam(learningRate: Float(config.learningRate), weightDecay: Float(config.weightDecay),
                                 warmupProportion: config.warmupProportion, totalSteps: 1000)
        optimizer.step = 100  // past warm-up: a real update
        for v in sizes {
            let stream = RandomStream(seed: UInt64(config.seed), purpose: .synthetic, step: UInt32(v))
            let frameCounts = (0..<v).map { bounds[0] + stream.integer(below: bounds[1] - bounds[0] + 1, at: $0) }.sorted(by: >)
            let q = v * captions
            let videosBatch = SequenceBatch(lengths: frameCounts, paddedLength: frameCounts.max()!)
            let queries = SequenceBatch(lengths: Array(repeating: min(words, config.maxDescriptionLength), count: q))
            let clips = randomInputs(v * config.mapSize * config.visualFeatureSize, seed: 1)
            let framesBuffer = randomInputs(videosBatch.rows * config.visualFeatureSize, seed: 2)
            let tokens = randomInputs(queries.rows * config.queryFeatureSize, seed: 3)
            let batch = GlobalBatch(sampled: Array(0..<v), storedFrames: { frameCounts[$0] }, maxContextLength: config.maxContextLength,
                                    captionsOfVideo: { Array($0 * captions..<($0 + 1) * captions) })
            let assignment = RankAssignment(batch: batch, ranks: 1, mapSize: config.mapSize)
            let inputs = MamFusionModel.Inputs(clipFeatures: clips.pointer, frameFeatures: framesBuffer.pointer, videos: videosBatch,
                                               tokenFeatures: tokens.pointer, queries: queries)
            let flops = ModelFlops(configuration: config, frames: frameCounts, tokens: queries.lengths)
            var samples: [PhaseTimes] = []
            for step in 0...steps {
                let t = try timedStep(model, head: head, inputs: inputs, batch: batch, assignment: assignment, step: step,
                                      optimizer: &optimizer, expAvg: expAvg, expAvgSq: expAvgSq)
                if step > 0 { samples.append(t) }
            }
            let m = PhaseTimes.median(samples)
            let gflops = flops.total / 1e9
            let peak = Double(ProcessMemory.peakResidentBytes() ?? 0)
            if json {
                try printJSONObject(["model": config.model.rawValue, "videos": v, "queries": q, "frame_rows": videosBatch.rows,
                                     "text_s": m.text, "clip_s": m.clip, "frame_s": m.frame, "mamba_s": m.mamba, "loss_head_s": m.loss,
                                     "optimizer_s": m.optimizer, "step_s": m.total, "gflop": gflops, "gflops": gflops / m.total,
                                     "sgemm_gflops": sgemm, "scan_share": m.scan / m.total, "peak_rss_bytes": peak])
                continue
            }
            print(String(format: "%6d  %7d  %6d | %5.2f  %6.2f  %6.2f  (%5.2f)  %5.2f  %5.2f | %7.2f  %5.0f  %7.1f  %5.1f%%  %4.1f%%  %.2f GiB",
                         v, q, videosBatch.rows, m.text, m.clip, m.frame, m.mamba, m.loss, m.optimizer, m.total, gflops,
                         gflops / m.total, 100 * gflops / m.total / sgemm, 100 * m.scan / m.total, peak / 1_073_741_824))
        }
        guard !json else { return }
        print("phases in seconds (median of \(steps)); mamba = the Mamba units inside clip+frame (none in GMMFormer); scan% = selective-scan share of the step.")
        print("FLOPs count matrix products and the scan on valid positions only (ModelFlops).")
    }

    struct PhaseTimes {
        var text = 0.0, clip = 0.0, frame = 0.0, mamba = 0.0, scan = 0.0, loss = 0.0, optimizer = 0.0, total = 0.0
        static func median(_ xs: [PhaseTimes]) -> PhaseTimes {
            func m(_ k: KeyPath<PhaseTimes, Double>) -> Double { mamfusion.median(xs.map { $0[keyPath: k] }) }
            return PhaseTimes(text: m(\.text), clip: m(\.clip), frame: m(\.frame), mamba: m(\.mamba), scan: m(\.scan),
                              loss: m(\.loss), optimizer: m(\.optimizer), total: m(\.total))
        }
    }

    func timedStep(_ model: MamFusionModel, head: ShardedLossHead, inputs: MamFusionModel.Inputs, batch: GlobalBatch,
                   assignment: RankAssignment, step: Int, optimizer: inout BertAdam, expAvg: ParameterSet, expAvgSq: ParameterSet) throws -> PhaseTimes {
        let c = model.configuration
        let dropout = DropoutContext(seed: UInt64(c.seed), step: UInt32(step), enabled: c.dropoutEnabled)
        let sampling = model.loss.sampling(seed: UInt64(c.seed), step: step, epoch: 0)
        var collectives = StepCollectives(world: LocalWorld())
        var t = PhaseTimes()
        let mambas = model.mambaUnits
        for m in mambas { m.resetTimers() }
        let start = MonotonicClock.now()
        model.gradients.zero()
        var t0 = MonotonicClock.now()
        model.queryEncoders[0].forward(inputs.tokenFeatures, batch: inputs.queries, dropout: dropout)
        model.queryEncoders[1].forward(inputs.tokenFeatures, batch: inputs.queries, dropout: dropout)
        t.text += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        let clipBatch = inputs.clipBatch(mapSize: c.mapSize)
        model.clipBranch.forward(inputs.clipFeatures, batch: clipBatch, dropout: dropout)
        t.clip += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        model.frameBranch.forward(inputs.frameFeatures, batch: inputs.videos, dropout: dropout)
        t.frame += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        let q2 = model.queryEncoders[1].output.pointer, F = model.frameBranch.output.pointer
        _ = try head.forward(q: model.queryEncoders[0].output.pointer, q2: q2, C: model.clipBranch.output.pointer, F: F,
                             batch: batch, assignment: assignment, sampling: sampling, collectives: &collectives)
        try head.backward(q2: q2, F: F, collectives: &collectives)
        t.loss += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        model.frameBranch.backward(inputs.frameFeatures, dy: head.dF.pointer, batch: inputs.videos, dropout: dropout)
        t.frame += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        model.clipBranch.backward(inputs.clipFeatures, dy: head.dC.pointer, batch: clipBatch, dropout: dropout)
        t.clip += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        model.queryEncoders[1].backward(inputs.tokenFeatures, dy: head.dq2.pointer, batch: inputs.queries, dropout: dropout)
        model.queryEncoders[0].backward(inputs.tokenFeatures, dy: head.dq.pointer, batch: inputs.queries, dropout: dropout)
        t.text += MonotonicClock.now() - t0; t0 = MonotonicClock.now()
        optimizer.update(parameters: model.parameters, gradients: model.gradients, expAvg: expAvg, expAvgSq: expAvgSq)
        t.optimizer = MonotonicClock.now() - t0
        t.total = MonotonicClock.now() - start
        t.mamba = mambas.reduce(0) { $0 + $1.seconds }
        t.scan = mambas.reduce(0) { $0 + $1.scanSeconds }
        return t
    }

    func randomInputs(_ count: Int, seed: UInt32) -> Tensor {
        let t = Tensor(shape: [count])
        RandomStream(seed: 77, purpose: .synthetic, step: seed).fillNormal(t.buffer, std: 0.05)
        return t
    }
}
