import ArgumentParser
import CommandOptions
import FeatureData
import Foundation
import MamFusion
import TensorKit
import Training

/// `mamfusion bench train --config FILE --ranks 1,2 --videos 128,512`: for each global batch,
/// runs `mpirun -np P mamfusion train` for a few steps on synthetic data shaped like the
/// configuration's, and reports per run (medians of the timed steps): step time split into
/// compute / communication / wait, the loss head's compute seconds (the slowest rank's), bytes each
/// rank sends per step (the head's gathers and reduce-scatters, its small reductions, the gradient
/// all-reduce), the share of the all-reduce hidden behind backward and the largest peak RSS of any
/// rank; 1 rank × 2 BLAS threads against 2 ranks × 1 thread; and a projection to 8 and 32 nodes
/// that models what does not shrink with the node count (see `Projection`). Each run's useful
/// GFLOP/s (the step's `flops` record) is given as fractions of the same-run fp32 and bf16 limits
/// (`EngineRate.limits`, measured here at one thread, times the run's ranks × threads).
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Time distributed training steps (compute / communication / wait, head, bytes, memory).")

    @OptionGroup var options: ConfigurationOptions
    @OptionGroup var engine: EngineOptions
    @Option(help: "Rank counts to run, comma-separated (each at the same global batch).") var ranks: String = "1,2"
    @Option(help: "Timed steps per run (after 2 warm-up steps).") var steps: Int = 4
    @Option(help: "Global batches in videos (override batchsize), comma-separated.") var videos: String = "32"
    @Option(help: "Frames per video: MIN..MAX.") var frames: String = "32..128"
    @Option(help: "Words per caption (default: max_desc_l).") var words: Int?
    @Option(help: "Videos per rank per encoder pass (micro_batch; default: the configuration's).") var microBatch: Int?
    @Option(help: "Network bandwidth for the multi-node projection, Gbit/s.") var networkGbits: Double = 10
    @Option(help: "Network latency per message for the projection, µs.") var networkLatency: Double = 20
    @Flag(inversion: .prefixedNo, help: "Also run 1 rank × 2 BLAS threads (when the ranks include 1 and 2).") var threadsComparison = true
    @Option(help: ArgumentHelp("A command that takes mpirun's arguments in its place, e.g. 'Launch/cluster-sim run --' "
                               + "(default: mpirun on this machine).", valueName: "command"))
    var launcher: String?
    @Flag(help: "Print one JSON object per run (and per projection) instead of the tables.") var json = false

    func validate() throws {
        _ = try BenchArguments.integers(ranks, option: "--ranks")
        _ = try BenchArguments.integers(videos, option: "--videos")
        _ = try BenchArguments.range(frames, option: "--frames")
        try BenchArguments.atLeast(steps, 1, option: "--steps")
        if let words { try BenchArguments.atLeast(words, 1, option: "--words") }
        if let microBatch { try BenchArguments.atLeast(microBatch, 0, option: "--micro-batch") }
        guard networkGbits > 0, networkGbits.isFinite else { throw ValidationError("--network-gbits must be a positive number, got \(networkGbits)") }
        guard networkLatency >= 0, networkLatency.isFinite else { throw ValidationError("--network-latency must be ≥ 0, got \(networkLatency)") }
    }

    func run() throws {
        let config = try options.resolve(engine: engine)
        let limits = EngineRate.limits()
        let counts = try BenchArguments.integers(ranks, option: "--ranks")
        let batches = try BenchArguments.integers(videos, option: "--videos")
        let range = try BenchArguments.range(frames, option: "--frames")
        let bounds = [range.lowerBound, range.upperBound]
        let wordCount = words ?? config.maxDescriptionLength
        guard wordCount <= config.maxDescriptionLength else {
            throw ValidationError("--words must be in 1…max_desc_l (\(config.maxDescriptionLength))")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-bench-train-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var recipe = SyntheticRecipe()
        recipe.collection = "bench"
        recipe.trainVideos = batches.max()! * (steps + 2)
        recipe.evaluationVideos = 1
        recipe.queriesPerVideo = 5
        recipe.frames = bounds[0]...bounds[1]
        recipe.tokens = wordCount...wordCount
        recipe.visualDimension = config.visualFeatureSize
        recipe.queryDimension = config.queryFeatureSize
        try SyntheticGenerator(recipe: recipe).writeRelease(root: root)
        if !json {
            print("bench train: 5 captions × \(wordCount) words per video, frames \(bounds[0])…\(bounds[1]), hidden \(config.hiddenSize), "
                  + "Dv \(config.visualFeatureSize), Dq \(config.queryFeatureSize); \(steps) timed steps after 2 warm-up (medians); "
                  + "gradient \(config.gradientBucketMiB) MiB buckets; matmul_engine \(config.matmulEngine.rawValue), precision \(config.precision.rawValue)")
            print(String(format: "same-run limits per thread at %d×%d×%d: fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s (%@)", EngineRate.limitShape.m,
                         EngineRate.limitShape.n, EngineRate.limitShape.k, limits.fp32, limits.bf16, EngineRate.cpuFeatures.description))
        }
        for batch in batches {
            var runs: [(label: String, ranks: Int, threads: Int)] = counts.map { ("\($0) rank\($0 == 1 ? "" : "s") × 1 thread", $0, 1) }
            if threadsComparison && counts.contains(1) && counts.contains(2) { runs.append(("1 rank × 2 threads", 1, 2)) }
            if !json {
                print("\nglobal batch \(batch) videos (\(batch * 5) queries)")
                print("run                    step s  compute    head  re-enc    comm    wait  comm+wait  in flight  hidden   MB sent/rank (gather+head+grad)  peak RSS   GFLOP/s  %fp32  %bf16")
            }
            var results: [String: RunSummary] = [:]
            for run in runs {
                let output = "\(root)/run-\(batch)-\(run.ranks)-\(run.threads)"
                let settings = (["data_root=\(root)", "collection=bench", "visual_feature=synthetic", "output_dir=\(output)",
                                 "batchsize=\(batch)", "log_every_steps=1000"] + (microBatch.map { ["micro_batch=\($0)"] } ?? []))
                    .flatMap { ["--set", $0] }
                let arguments = ["train", "--max-steps", String(steps + 2), "--no-validation", "--quiet"]
                    + (options.config.map { ["--config", $0] } ?? []) + (options.overrides + engine.overrides).flatMap { ["--set", $0] } + settings
                let status = try Self.mpirun(ranks: run.ranks, threads: run.threads, arguments: arguments,
                                             launcher: launcher.map { $0.split(separator: " ").map(String.init) })
                guard status == 0 else { throw ValidationError("the \(run.label) run at \(batch) videos failed (exit \(status))") }
                let s = try RunSummary(metrics: "\(output)/metrics.jsonl", skip: 2)
                results[run.label] = s
                let cores = Double(run.ranks * run.threads), rate = s.flops / s.step
                let fraction = (fp32: rate / (limits.fp32 * 1e9 * cores), bf16: rate / (limits.bf16 * 1e9 * cores))
                if json {
                    try printJSONObject(["type": "run", "ranks": run.ranks, "blas_threads": run.threads, "global_videos": batch,
                                   "global_queries": batch * 5, "frames": "\(bounds[0])..\(bounds[1])", "words": wordCount,
                                   "step_s": s.step, "head_s": s.head, "compute_s": s.compute, "communication_s": s.communication,
                                   "wait_s": s.wait, "head_communication_s": s.headCommunication, "compute_spread_s": s.computeSpread, "allreduce_in_flight_s": s.inFlight, "hidden_share": s.hidden,
                                   "bytes_sent_per_rank": s.bytes, "gather_bytes_per_rank": s.gatherBytes,
                                   "head_reduction_bytes_per_rank": s.headReductionBytes, "gradient_bytes_per_rank": s.gradientBytes,
                                   "peak_rss_bytes_max_rank": s.peakResident, "micro_batch": microBatch ?? config.microBatch,
                                   "reencode_s": s.reencode, "flops": s.flops, "gflops": rate / 1e9, "engine": config.matmulEngine.rawValue,
                                   "precision": config.precision.rawValue, "fp32_limit_gflops_per_thread": limits.fp32,
                                   "bf16_limit_gflops_per_thread": limits.bf16, "fraction_of_fp32_limit": fraction.fp32,
                                   "fraction_of_bf16_limit": fraction.bf16])
                } else {
                    print(run.label.padding(toLength: 21, withPad: " ", startingAt: 0)
                          + String(format: " %7.3f  %7.3f  %6.3f  %6.3f  %6.3f  %6.3f    %5.1f%%    %7.3f   %5.1f%%   %7.1f (%.1f + %.2f + %.1f)   %5.2f GiB  %7.1f  %4.1f%%  %4.1f%%",
                                   s.step, s.compute, s.head, s.reencode, s.communication, s.wait, 100 * (s.communication + s.wait) / s.step,
                                   s.inFlight, 100 * s.hidden, s.bytes / 1e6, s.gatherBytes / 1e6, s.headReductionBytes / 1e6,
                                   s.gradientBytes / 1e6, s.peakResident / 1_073_741_824, rate / 1e9, 100 * fraction.fp32, 100 * fraction.bf16))
                }
            }
            if !json { printComparisons(results) }
            if let one = results["1 rank × 1 thread"], let two = results["2 ranks × 1 thread"] {
                let layout = config.parameterLayout, bucketBytes = Double(config.gradientBucketMiB << 20)
                let groups = layout.reducedGroups.map { group in
                    let bytes = Double(layout.range(of: group).count * MemoryLayout<Float>.stride)
                    return Projection.Group(group: group, bytes: bytes, buckets: (bytes / bucketBytes).rounded(.up))
                }.filter { $0.bytes > 0 }
                let projection = Projection(one: one, two: two, bandwidth: networkGbits * 1e9 / 8, latency: networkLatency * 1e-6, groups: groups)
                let previousGathers = 4 * Double(batch * 5 * 2 * config.hiddenSize + batch * (config.mapSize + 1) * config.hiddenSize)
                try report(projection, batch: batch, previousGatherBytes: previousGathers)
            }
        }
    }

    private func printComparisons(_ results: [String: RunSummary]) {
        if let one = results["1 rank × 1 thread"], let two = results["2 ranks × 1 thread"] {
            print(String(format: "2 ranks × 1 thread vs 1 rank × 1 thread: speed-up %.2f×, efficiency %.0f%%; head per rank %.2f× the 1-rank head",
                         one.step / two.step, 50 * one.step / two.step, two.head / one.head))
        }
        if let one = results["1 rank × 1 thread"], let threads = results["1 rank × 2 threads"], let two = results["2 ranks × 1 thread"] {
            print(String(format: "1 rank × 2 threads: speed-up %.2f× over 1 thread; 2 ranks × 1 thread is %.2f× faster than 1 rank × 2 threads",
                         one.step / threads.step, threads.step / two.step))
        }
    }

    private func report(_ p: Projection, batch: Int, previousGatherBytes: Double) throws {
        if !json {
            let leads = p.groups.map { String(format: "%@ %.0f MB %.3f s", $0.group.rawValue, $0.bytes / 1e6, p.two.leads[$0.group] ?? .nan) }
            print(String(format: "projection (%.2g Gbit/s, %.0f µs per message, ring collectives; from the 1- and 2-rank runs): encoders %.3f s (÷ N), "
                         + "head %.3f s ÷ N + %.3f s, optimiser and rest %.3f s (every rank); gradient groups all-reduced in backward order, "
                         + "each from when it is final, with the backward left then × 2/N (2 ranks: %@)",
                         networkGbits, networkLatency, p.encoders, p.headShrinking, p.headFixed, p.rest, leads.joined(separator: ", ")))
            let e = p.estimate(nodes: 2)
            print(String(format: "  2 ranks measured vs 2-node projection: step %.3f vs %.3f s; slowest rank's compute %.3f vs %.3f s "
                         + "(1-rank encoders ÷ 2 + head %.3f + imbalance %.3f); rank 0's head communication + wait %.3f vs %.3f s "
                         + "(network only: a faster rank 0 also waits out the imbalance here); starting and finishing all-reduces %.3f s (not modelled)",
                         p.two.step, e.step, p.two.computeMax, p.encoders / 2 + e.head + e.imbalance, p.encoders / 2 + e.head, e.imbalance,
                         p.two.headCommunication + p.two.wait, e.headCommunication + e.exposedAllreduce,
                         max(p.two.communication - p.two.headCommunication, 0)))
            print(String(format: "  head traffic per step at 2 ranks: %.1f MB sent per rank (the replaced design's gathers: %.1f MB, ratio %.2f)",
                         (p.two.gatherBytes + p.two.headReductionBytes) / 1e6, previousGatherBytes / 2e6,
                         (p.two.gatherBytes + p.two.headReductionBytes) / (previousGatherBytes / 2)))
        }
        for nodes in [2, 8, 32] {
            let e = p.estimate(nodes: nodes), redundant = p.estimate(nodes: nodes, redundantHead: true)
            if json {
                try printJSONObject(["type": "projection", "global_videos": batch, "nodes": nodes, "network_gbits": networkGbits,
                               "step_s": e.step, "efficiency": e.efficiency, "head_s": e.head, "head_communication_s": e.headCommunication,
                               "exposed_allreduce_s": e.exposedAllreduce, "imbalance_s": e.imbalance, "redundant_head_efficiency": redundant.efficiency])
            } else {
                print(String(format: "  %2d nodes × 1 rank: encoders %.3f + head %.3f + imbalance %.3f + head comm %.3f + exposed all-reduce %.3f + rest %.3f "
                             + "= %.3f s/step, %.0f%% efficiency (with the whole head on every rank: %.0f%%)",
                             nodes, p.encoders / Double(nodes), e.head, e.imbalance, e.headCommunication, e.exposedAllreduce, p.rest, e.step,
                             100 * e.efficiency, 100 * redundant.efficiency))
            }
        }
    }

    static func mpirun(ranks: Int, threads: Int, arguments: [String], launcher: [String]? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).path
        if let launcher {
            p.arguments = launcher + ["-np", String(ranks), "-x", "OPENBLAS_NUM_THREADS=\(threads)", binary] + arguments
        } else {
            p.arguments = ["mpirun", "-np", String(ranks), "--oversubscribe", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=\(threads)",
                           binary] + arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Medians of a run's step records after `skip` warm-up steps (peak RSS: the largest).
    struct RunSummary {
        let step, compute, head, reencode, communication, wait, inFlight, headCommunication: Double
        /// The slowest rank's compute minus the fastest's (per step, median): the load imbalance
        /// the faster ranks wait out in the collectives.
        let computeSpread: Double
        /// The slowest rank's compute (median over steps).
        let computeMax: Double
        let bytes, gatherBytes, headReductionBytes, gradientBytes, peakResident: Double
        /// Useful FLOPs of a step (the trainer's `flops` record).
        let flops: Double
        /// Per parameter group: seconds of backward left when its all-reduce started.
        let leads: [ParameterGroup: Double]

        /// The share of the all-reduce's time in flight that backward hid.
        var hidden: Double { inFlight > 0 ? max(0, 1 - wait / inFlight) : 0 }

        init(metrics path: String, skip: Int) throws {
            let records = Array(try RunRecord.read(path).steps.dropFirst(skip))
            func median(_ value: (StepRecord) -> Double) -> Double { mamfusion.median(records.map(value)) }
            step = median(\.seconds); compute = median(\.compute); communication = median(\.communication)
            wait = median(\.wait); inFlight = median(\.allreduceInFlight); head = median(\.headMaxRank)
            reencode = median(\.reencode); headCommunication = median(\.headCommunication)
            computeSpread = records.isEmpty ? 0 : median { $0.computeMaxRank - $0.computeMinRank }
            computeMax = median(\.computeMaxRank)
            var leads: [ParameterGroup: Double] = [:]
            for group in Set(records.flatMap(\.groupLead.keys)) {
                leads[group] = mamfusion.median(records.compactMap { $0.groupLead[group] })
            }
            self.leads = leads
            bytes = median { Double($0.bytesSent) }; gatherBytes = median { Double($0.gatherBytes) }
            headReductionBytes = median { Double($0.headReductionBytes) }; gradientBytes = median { Double($0.gradientBytes) }
            peakResident = records.map { Double($0.peakResidentBytesMaxRank) }.max() ?? .nan
            flops = median(\.flops)
        }
    }

    /// The step time on N nodes (one rank each) at the same global batch, from the 1- and 2-rank
    /// runs, with what does not shrink with N kept whole:
    /// - encoders: (1-rank compute − 1-rank head) / N;
    /// - loss head: a/N + b, fitted to the 1- and 2-rank head times (b: its part over all queries,
    ///   done on every rank);
    /// - head communication (blocking): its gather/reduce-scatter volume G and reduction payload R,
    ///   from the 2-rank byte counts, at (N−1)/N·G + 2(N−1)/N·R bytes plus (N−1)·α per message step
    ///   of its 7 collectives;
    /// - gradient all-reduce, group by group in backward order (fusion, frame, clip, query): a
    ///   group starts when backward has made it final (the 2-rank run's measured lead, the backward
    ///   still to run then, shrinking as 2/N like all compute) or when the link is free, and takes
    ///   2(N−1)/N·bytes/β + 2(N−1)·α per bucket; what is still running when backward ends is
    ///   exposed. (The query group is final only at the very end, and the clip group shortly
    ///   before: their transfer cannot hide, however long backward is.)
    /// - load imbalance: the ranks' compute differs (their videos have different lengths), and
    ///   every rank waits for the slowest at the step's collectives: the 2-rank run's measured
    ///   spread (slowest − fastest compute) as a share of its compute, applied to the N-node
    ///   compute (a lower bound: the slowest of N ranks is further from the mean than of 2);
    /// - the optimiser, health check and the rest of the step (1-rank step − compute): every rank.
    /// Efficiency = 1-rank step / (N · N-node step).
    struct Projection {
        struct Group {
            let group: ParameterGroup
            let bytes: Double, buckets: Double
        }
        let one: RunSummary, two: RunSummary
        let bandwidth: Double, latency: Double
        let groups: [Group]

        var encoders: Double { one.compute - one.head }
        var headShrinking: Double { max(2 * (one.head - two.head), 0) }
        var headFixed: Double { max(one.head - headShrinking, 0) }
        var rest: Double { max(one.step - one.compute - one.communication - one.wait, 0) }
        var imbalanceShare: Double { two.compute > 0 ? two.computeSpread / two.compute : 0 }

        /// Seconds after the end of backward at which the last group's all-reduce ends (≥ 0).
        func exposedAllreduce(nodes n: Double) -> Double {
            var linkFree = -Double.infinity
            for g in groups {
                // Without a measured lead (older records), assume the group was final at once.
                let ready = -(two.leads[g.group] ?? max(two.inFlight - two.wait, 0)) * 2 / n
                linkFree = max(ready, linkFree) + 2 * (n - 1) / n * g.bytes / bandwidth + 2 * (n - 1) * latency * g.buckets
            }
            return max(0, linkFree)
        }

        func estimate(nodes: Int, redundantHead: Bool = false)
            -> (step: Double, efficiency: Double, head: Double, headCommunication: Double, exposedAllreduce: Double, imbalance: Double) {
            let n = Double(nodes)
            let head = redundantHead ? one.head : headShrinking / n + headFixed
            let gatherVolume = 2 * two.gatherBytes, reductionPayload = two.headReductionBytes
            let headCommunication = (n - 1) / n * gatherVolume / bandwidth + 2 * (n - 1) / n * reductionPayload / bandwidth + 7 * (n - 1) * latency
            let exposed = exposedAllreduce(nodes: n)
            let imbalance = imbalanceShare * (encoders / n + head)
            let step = encoders / n + head + imbalance + headCommunication + exposed + rest
            return (step, one.step / (n * step), head, headCommunication, exposed, imbalance)
        }
    }
}
