import ArgumentParser
import FeatureData
import Foundation
import MamFusion
import TensorKit

/// `mamfusion bench train --config FILE --ranks 1,2`: runs `mpirun -np P mamfusion train` for a
/// few steps at the same global batch on synthetic data shaped like the configuration's, and
/// reports time per step split into compute / communication / wait (medians), how much of the
/// gradient all-reduce was hidden behind backward, 1 rank × 2 BLAS threads against 2 ranks × 1
/// thread, and a projection to 8 and 32 nodes from the ring all-reduce model.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Time distributed training steps (compute / communication / wait).")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "Rank counts to run, comma-separated (each at the same global batch).") var ranks: String = "1,2"
    @Option(help: "Timed steps per run (after 2 warm-up steps).") var steps: Int = 4
    @Option(help: "Global batch in videos (overrides batchsize).") var videos: Int = 32
    @Option(help: "Frames per video: MIN..MAX.") var frames: String = "32..128"
    @Option(help: "Network bandwidth for the multi-node projection, Gbit/s.") var networkGbits: Double = 10
    @Option(help: "Network latency per message for the projection, µs.") var networkLatency: Double = 20

    func run() throws {
        var config = try options.resolve()
        config.batchSize = videos
        let counts = ranks.split(separator: ",").compactMap { Int($0) }
        let bounds = frames.split(separator: ".").compactMap { Int($0) }
        guard bounds.count == 2, !counts.isEmpty else { throw ValidationError("--ranks like 1,2 and --frames like 32..128") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-bench-train-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var recipe = SyntheticRecipe()
        recipe.collection = "bench"
        recipe.trainVideos = videos * (steps + 2)
        recipe.evaluationVideos = 1
        recipe.queriesPerVideo = 5
        recipe.frames = bounds[0]...bounds[1]
        recipe.tokens = config.maxDescriptionLength...config.maxDescriptionLength
        recipe.visualDimension = config.visualFeatureSize
        recipe.queryDimension = config.queryFeatureSize
        try SyntheticGenerator(recipe: recipe).writeRelease(root: root)
        print("bench train: global batch \(videos) videos × 5 captions, frames \(bounds[0])…\(bounds[1]), hidden \(config.hiddenSize), "
              + "Dv \(config.visualFeatureSize), Dq \(config.queryFeatureSize); \(steps) timed steps after 2 warm-up; gradient \(config.gradientBucketMiB) MiB buckets")
        var runs: [(label: String, ranks: Int, threads: Int)] = counts.map { ("\($0) rank\($0 == 1 ? "" : "s") × 1 thread", $0, 1) }
        if counts.contains(1) && counts.contains(2) { runs.append(("1 rank × 2 threads", 1, 2)) }
        print("run                     step s   compute   comm    wait   comm+wait  all-reduce in flight  hidden")
        var results: [String: StepSummary] = [:]
        for run in runs {
            let output = "\(root)/run-\(run.ranks)-\(run.threads)"
            let settings = ["--set", "data_root=\(root)", "--set", "collection=bench", "--set", "visual_feature=synthetic",
                            "--set", "output_dir=\(output)", "--set", "batchsize=\(videos)", "--set", "log_every_steps=1000"]
            let arguments = ["train", "--max-steps", String(steps + 2), "--no-validation", "--quiet"]
                + (options.config.map { ["--config", $0] } ?? []) + options.overrides.flatMap { ["--set", $0] } + settings
            let status = try Self.mpirun(ranks: run.ranks, threads: run.threads, arguments: arguments)
            guard status == 0 else { throw ValidationError("the \(run.label) run failed (exit \(status))") }
            let summary = try StepSummary(metrics: "\(output)/metrics.jsonl", skip: 2)
            results[run.label] = summary
            print(run.label.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: " %7.3f  %7.3f  %6.3f  %6.3f   %5.1f%%        %7.3f            %5.1f%%",
                         summary.step, summary.compute, summary.communication, summary.wait,
                         100 * (summary.communication + summary.wait) / summary.step, summary.inFlight,
                         summary.inFlight > 0 ? 100 * (1 - summary.wait / summary.inFlight) : 0))
        }
        if let one = results["1 rank × 1 thread"], let two = results["2 ranks × 1 thread"] {
            print(String(format: "2 ranks × 1 thread vs 1 rank × 1 thread: speed-up %.2f×, efficiency %.0f%%", one.step / two.step, 50 * one.step / two.step))
        }
        if let one = results["1 rank × 1 thread"], let threads = results["1 rank × 2 threads"], let two = results["2 ranks × 1 thread"] {
            print(String(format: "1 rank × 2 threads: speed-up %.2f× over 1 thread; 2 ranks × 1 thread is %.2f× faster than 1 rank × 2 threads",
                         one.step / threads.step, threads.step / two.step))
        }
        // Ring all-reduce model: per step each rank sends and receives 2(P−1)/P · n bytes in 2(P−1) messages.
        guard let one = results["1 rank × 1 thread"] else { return }
        let layout = ParameterLayout.mamFusion(config.dimensions)
        let gradientBytes = Double(layout.bufferCount * 4)
        let buckets = max(1, Int((gradientBytes / Double(config.gradientBucketMiB << 20)).rounded(.up)))
        let gatherBytes = Double(videos * (config.mapSize + 1) * config.hiddenSize * 4 + videos * 5 * 2 * config.hiddenSize * 4)
        let beta = networkGbits * 1e9 / 8, alpha = networkLatency * 1e-6
        print(String(format: "projection (ring all-reduce, %.0f Gbit/s, %.0f µs; gradient %.1f MB in %d buckets, embedding gathers %.1f MB):",
                     networkGbits, networkLatency, gradientBytes / 1e6, buckets, gatherBytes / 1e6))
        for nodes in [8, 32] {
            let p = Double(nodes)
            let allreduce = 2 * (p - 1) * alpha * Double(buckets) + 2 * (p - 1) / p * gradientBytes / beta
            let gather = (p - 1) * alpha * 2 + (p - 1) / p * gatherBytes / beta
            let compute = one.compute / p
            let hiddenFraction = results["2 ranks × 1 thread"].map { $0.inFlight > 0 ? max(0, 1 - $0.wait / $0.inFlight) : 0 } ?? 0
            let exposed = allreduce * (1 - hiddenFraction) + gather
            print(String(format: "  %2d nodes × 1 rank: compute %.3f s + exposed communication %.3f s (all-reduce %.3f s, %.0f%% hidden; gathers %.3f s) = %.3f s/step, %.0f%% efficiency",
                         nodes, compute, exposed, allreduce, 100 * hiddenFraction, gather, compute + exposed, 100 * compute / (compute + exposed)))
        }
    }

    static func mpirun(ranks: Int, threads: Int, arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mpirun", "-np", String(ranks), "--oversubscribe", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=\(threads)",
                       URL(fileURLWithPath: CommandLine.arguments[0]).path] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Medians of a run's step records after `skip` warm-up steps.
    struct StepSummary {
        let step: Double, compute: Double, communication: Double, wait: Double, inFlight: Double
        init(metrics path: String, skip: Int) throws {
            let records = try MetricsReader.steps(path).dropFirst(skip)
            func median(_ key: String) -> Double {
                let xs = records.compactMap { $0[key] }.sorted()
                return xs.isEmpty ? .nan : xs[xs.count / 2]
            }
            step = median("seconds"); compute = median("compute_s"); communication = median("communication_s")
            wait = median("wait_s"); inFlight = median("allreduce_in_flight_s")
        }
    }
}

/// Reads the numeric fields of a run's step records.
enum MetricsReader {
    static func steps(_ path: String) throws -> [[String: Double]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["type"] as? String == "step" else { return nil }
            return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }
}
