import ArgumentParser
import CounterRandom
import Evaluation
import Foundation
import MPIKit
import TensorKit

/// `mamfusion bench eval --videos N --queries Q`: evaluation at any scale, without data. Random normalised
/// embeddings (no encoder) — each rank generates only its own chunks of videos, each video a
/// pure function of (seed, video index), so every world size sees the same database — and the
/// real sharded evaluator (`ShardedEvaluator`) scores and ranks them.
///
/// Query q's ground truth is video ⌊q·V/Q⌋ (queries grouped by video, as in caption files);
/// q is a noisy copy of one of its clips, so ranks are not trivial. Queries are generated
/// sharded and all-gathered, as encoded queries would be.
///
/// Every scoring mode of `--scoring` (default fp32 and exact-bf16) runs on the same database in
/// the same run. Reports, per mode, rank and overall: scoring GFLOP/s (useful FLOPs
/// 2·Q·V·Mc·d + 2·Q·V·d over the slowest rank's evaluation time, ranking and communication
/// included) against sgemm GFLOP/s measured in the same run on every rank at once, seconds by
/// phase, peak RSS (VmHWM), and the bytes moved between ranks; for exact-bf16 the re-scored
/// share; then each mode's time against fp32's, whether its ranks, ground-truth scores and top-K
/// lists equal fp32's bit for bit, and the same-run fp32 and bf16 product rates at the block shape.
struct BenchEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score and rank random embeddings at scale, sharded over ranks (no encoder)."
    )

    @Option(help: "Videos in the database (V).") var videos: Int
    @Option(help: "Queries (Q).") var queries: Int
    @Option(help: "Embedding size (d).") var dim: Int = 384
    @Option(help: "Clips per video (Mc).") var clips: Int = 32
    @Option(name: .customLong("memory-budget"), help: "Evaluator memory budget per rank, bytes.")
    var memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget
    @Option(help: "Seed of the random embeddings.") var seed: UInt64 = 9527
    @Option(help: "Videos per chunk (eval_context_bsz).") var chunk: Int = 100
    @Option(name: .customLong("top-k"), help: "Also keep each query's K best videos.") var topK: Int = 0
    @Option(help: "Query noise (0: each query equals one of its video's clips).") var noise: Float = 0.3
    @Option(help: "Scoring modes to run, in order (comma-separated: fp32, exact-bf16, bf16); ratios are against fp32.")
    var scoring: String = "fp32,exact-bf16"
    @Option(name: .customLong("matmul-engine"), help: "auto, onednn or openblas.") var matmulEngine: MatmulEngineChoice = .auto
    @Option(name: .customLong("query-block"), help: ArgumentHelp("Preferred query block (tuning).", visibility: .hidden)) var queryBlock: Int?
    @Option(name: .customLong("video-block"), help: ArgumentHelp("Preferred video block (tuning).", visibility: .hidden)) var videoBlock: Int?
    @Option(help: "Timed repetitions of the sgemm reference (median).") var repeats: Int = 5
    @Flag(help: "Print one JSON object per scoring mode instead of the tables.") var json = false

    func validate() throws {
        guard videos >= 1, queries >= 1, dim >= 1, clips >= 1, chunk >= 1, topK >= 0 else {
            throw ValidationError("--videos, --queries, --dim, --clips, --chunk must be ≥ 1 and --top-k ≥ 0")
        }
        try BenchArguments.atLeast(repeats, 1, option: "--repeats")
        if let queryBlock { try BenchArguments.atLeast(queryBlock, 1, option: "--query-block") }
        if let videoBlock { try BenchArguments.atLeast(videoBlock, 1, option: "--video-block") }
        _ = try modes()
    }

    /// `--scoring` as modes: one or more, each once.
    func modes() throws -> [ScoringMode] {
        let names = scoring.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var modes: [ScoringMode] = []
        for name in names {
            guard let mode = ScoringMode(rawValue: name) else {
                throw ValidationError("--scoring takes fp32, exact-bf16 or bf16 (comma-separated), got '\(name)' in '\(scoring)'")
            }
            guard !modes.contains(mode) else { throw ValidationError("--scoring names \(name) twice") }
            modes.append(mode)
        }
        return modes
    }

    func run() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
        let selection = try world.configureMatrixEngine(matmulEngine, precision: .fp32)
        let modes = try modes()
        let partition = try VideoPartition(videoCount: videos, chunkSize: chunk, ranks: p)
        let mine = partition.videos(of: r)

        // The database: this rank's videos only.
        var t0 = MonotonicClock.now()
        let clipTensor = Tensor(shape: [mine.count, clips, dim])
        let frameTensor = Tensor(shape: [mine.count, dim])
        for (i, v) in mine.enumerated() {
            Self.video(v, seed: seed, clips: clips, dim: dim,
                       clipsOut: clipTensor.pointer + i * clips * dim, frameOut: frameTensor.pointer + i * dim)
        }
        let shard = try VideoShard(clips: clipTensor, frames: frameTensor, videos: mine)

        // Queries: generated sharded, then all-gathered (Q×d floats).
        let myQueries = (r * queries / p)..<((r + 1) * queries / p)
        var local = [Float](repeating: 0, count: myQueries.count * dim)
        local.withUnsafeMutableBufferPointer { out in
            for (i, q) in myQueries.enumerated() { Self.query(q, queries: queries, videos: videos, seed: seed, clips: clips, dim: dim, noise: noise, out: out.baseAddress! + i * dim) }
        }
        let generationSeconds = MonotonicClock.now() - t0
        try world.barrier()
        t0 = MonotonicClock.now()
        let (gathered, _) = try world.allgatherv(local)
        let queryGatherSeconds = MonotonicClock.now() - t0
        let queryTensor = Tensor(shape: [queries, dim], values: gathered)
        let querySet = try QuerySet(embeddings: queryTensor, groundTruth: (0..<queries).map { $0 * videos / queries })

        let plan = try ScoringPlan(queries: queries, videos: mine.count, clipsPerVideo: clips, dim: dim, topK: topK, ranks: p,
                                   memoryBudget: memoryBudget, preferredQueryBlock: queryBlock, preferredVideoBlock: videoBlock)

        // sgemm references and the block shape's fp32 and bf16 rates, every rank at once (the same
        // contention as the evaluation).
        try world.barrier()
        let blockShape = (m: plan.queryBlock, n: plan.videoBlock * clips, k: dim)
        let sgemmBefore = Doctor.sgemmGFLOPs(m: blockShape.m, n: blockShape.n, k: blockShape.k, repeats: repeats)
        try world.barrier()
        let sgemmLarge = Doctor.sgemmGFLOPs(m: 1024, n: 2048, k: dim, repeats: repeats)
        try world.barrier()
        let rates = Precision.allCases.map {
            EngineRate.gflops(MatrixEngineSelection(engine: selection.engine, precision: $0), m: blockShape.m, n: blockShape.n, k: blockShape.k,
                              repeats: repeats)
        }
        var once = [generationSeconds, queryGatherSeconds, sgemmBefore, sgemmLarge, rates[0], rates[1], 0]

        var runs: [(mode: ScoringMode, result: EvaluationResult, stats: [RankStats])] = []
        for mode in modes {
            var evaluator = ShardedEvaluator(world: world, memoryBudget: memoryBudget, topK: topK)
            evaluator.preferredQueryBlock = queryBlock
            evaluator.preferredVideoBlock = videoBlock
            evaluator.scoring = mode
            try world.barrier()
            let result = try evaluator.evaluate(queries: querySet, videos: shard)
            let mineStats = RankStats(result, videos: mine.count, peakRSS: Double(ProcessMemory.peakResidentBytes() ?? 0))
            let all = try world.allgather(mineStats.values)
            runs.append((mode, result, (0..<p).map { RankStats(values: Array(all[($0 * RankStats.fields.count)..<(($0 + 1) * RankStats.fields.count)])) }))
        }
        try world.barrier()
        once[6] = Doctor.sgemmGFLOPs(m: blockShape.m, n: blockShape.n, k: blockShape.k, repeats: repeats)
        let allOnce = try world.allgather(once)
        guard r == 0 else { return }
        let perRank = (0..<p).map { Array(allOnce[($0 * once.count)..<(($0 + 1) * once.count)]) }
        // The same-run sgemm reference at the block shape: mean of the measurements just before and
        // just after the evaluations, summed over the ranks.
        let reference = perRank.reduce(0.0) { $0 + ($1[2] + $1[6]) / 2 }, large = perRank.reduce(0.0) { $0 + $1[3] }
        let fp32Rate = perRank.reduce(0.0) { $0 + $1[4] }, bf16Rate = perRank.reduce(0.0) { $0 + $1[5] }
        let fp32Run = runs.first { $0.mode == .fp32 }
        let generation = perRank.map { $0[0] }.max()!, queryGather = perRank.map { $0[1] }.max()!

        func wall(_ stats: [RankStats]) -> Double { stats.map { $0["total_s"] }.max()! }
        func identical(_ result: EvaluationResult) -> (ranks: Bool, scores: Bool, top: Bool)? {
            guard let fp32 = fp32Run?.result else { return nil }
            return (result.ranks == fp32.ranks, result.groundTruthScores.map(\.bitPattern) == fp32.groundTruthScores.map(\.bitPattern),
                    result.top?.videos == fp32.top?.videos && result.top?.scores.map(\.bitPattern) == fp32.top?.scores.map(\.bitPattern))
        }

        if json {
            for run in runs {
                let stats = run.stats, m = run.result.metrics, seconds = wall(stats)
                let useful = stats.reduce(0.0) { $0 + $1["useful_flop"] }
                let screened = stats.reduce(0.0) { $0 + $1["screened_scores"] }, rescored = stats.reduce(0.0) { $0 + $1["rescored_scores"] }
                var object: [String: Any] = [
                    "videos": videos, "queries": queries, "dim": dim, "clips": clips, "ranks": p, "blas_threads": BLAS.threads,
                    "matmul_engine": selection.engine.rawValue, "eval_scoring": run.mode.rawValue,
                    "eval_s": seconds, "useful_flop": useful, "gflops": useful / seconds / 1e9,
                    "sgemm_reference_gflops": reference, "block_fp32_gflops": fp32Rate, "block_bf16_gflops": bf16Rate,
                    "peak_rss_bytes_max_rank": stats.map { $0["peak_rss_bytes"] }.max()!, "reduced_bytes_per_rank": stats[0]["reduced_bytes"],
                    "gather_sent_bytes_per_rank": stats[0]["gather_sent_bytes"], "query_gather_s": queryGather,
                    "bf16_gemm_s": stats.map { $0["bf16_gemm_s"] }.max()!, "fp32_gemm_s": stats.map { $0["gemm_s"] - $0["bf16_gemm_s"] }.max()!,
                    "screening_s": stats.map { $0["screening_s"] }.max()!,
                    "rescored_share": screened > 0 ? rescored / screened : 0, "near_ties": stats.reduce(0.0) { $0 + $1["near_ties"] },
                    "r1": m.r1, "r5": m.r5, "r10": m.r10, "r100": m.r100, "sumr": m.sumR, "median_rank": m.medianRank, "mean_rank": m.meanRank,
                    "rank_digest": String(Self.digest(run.result.ranks)),
                ]
                if let fp32Run {
                    object["speedup_over_fp32"] = wall(fp32Run.stats) / seconds
                    if let same = identical(run.result) { object["identical_to_fp32"] = same.ranks && same.scores && same.top }
                }
                try printJSONObject(object)
            }
            return
        }

        print("bench eval: V=\(videos) Q=\(queries) d=\(dim) Mc=\(clips) on \(p) rank\(p == 1 ? "" : "s"), engine \(selection.engine.rawValue), "
              + "BLAS threads \(BLAS.threads), budget \(memoryBudget) B, blocks \(plan.queryBlock) queries × \(plan.videoBlock) videos "
              + "(clip sgemm \(blockShape.m)×\(blockShape.n)×\(blockShape.k)); query noise \(noise); \(EngineRate.cpuFeatures)")
        print(String(format: "same-run product rates at the block shape, every rank at once (sum over ranks): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s "
                     + "(bf16 = %.2f× fp32)", fp32Rate, bf16Rate, bf16Rate / fp32Rate))
        for run in runs {
            let stats = run.stats
            print("\n\(run.mode) scoring:")
            print("  rank  videos   eval s  gt-pass s  sgemm s (bf16)  clip-max s  screen s  rank s  comm s  GFLOP/s  in-loop sgemm  % of ref  re-scored  peak RSS MiB  eval buffers B")
            for (q, x) in stats.enumerated() {
                let rescored = x["screened_scores"] > 0 ? String(format: "%8.3f%%", 100 * x["rescored_scores"] / x["screened_scores"]) : "        –"
                print(String(format: "  %4d  %6.0f  %7.3f  %9.3f  %7.3f (%5.2f)  %10.3f  %8.3f  %6.3f  %6.3f  %7.1f  %13.1f  %7.1f%%  %@  %12.1f  %14.0f",
                             q, x["videos"], x["total_s"], x["ground_truth_pass_s"], x["gemm_s"], x["bf16_gemm_s"], x["clip_max_s"], x["screening_s"],
                             x["ranking_s"], x["communication_s"], x.gflops, x["executed_flop"] / x["gemm_s"] / 1e9, 100 * x.gflops / (reference / Double(p)),
                             rescored, x["peak_rss_bytes"] / 1_048_576, x["evaluator_bytes"]))
            }
            let seconds = wall(stats)
            let useful = stats.reduce(0.0) { $0 + $1["useful_flop"] }, executed = stats.reduce(0.0) { $0 + $1["executed_flop"] }
            let aggregate = useful / seconds / 1e9
            let slowest = stats.max { $0["total_s"] < $1["total_s"] }!
            print(String(format: "  overall: %.3e useful FLOP (2·Q·V·Mc·d + 2·Q·V·d) in %.3f s (slowest rank; ranking and communication included) → %.1f GFLOP/s "
                         + "= %.1f%% of same-run sgemm at the block shape (%.1f GFLOP/s over the ranks, mean of before/after), %.1f%% of 1024x2048x%d (%.1f)",
                         useful, seconds, aggregate, 100 * aggregate / reference, reference, 100 * aggregate / large, dim, large))
            print(String(format: "  slowest rank: products %.1f%% of its time (bf16 %.1f%%), clip-max %.1f%%, screening %.1f%%, ranking %.1f%%, communication %.1f%%; "
                         + "executed %.3e FLOP (%.2f%% beyond the useful: ground-truth pass and re-scoring)",
                         100 * slowest["gemm_s"] / slowest["total_s"], 100 * slowest["bf16_gemm_s"] / slowest["total_s"], 100 * slowest["clip_max_s"] / slowest["total_s"],
                         100 * slowest["screening_s"] / slowest["total_s"], 100 * slowest["ranking_s"] / slowest["total_s"],
                         100 * slowest["communication_s"] / slowest["total_s"], executed, 100 * (executed / useful - 1)))
            if run.mode == .exactBF16 {
                let sum = { (field: String) in stats.reduce(0.0) { $0 + $1[field] } }
                print(String(format: "  re-scored in fp32: %.3f%% of the %.3e bf16-screened scores (%.0f of %.0f rows: %.0f with a near-tie, %.0f with a top-K candidate, "
                             + "%.0f without a usable bound); %.0f scores within the bound of their ground truth's; ground-truth pass: %.0f rows in fp32",
                             100 * sum("rescored_scores") / max(sum("screened_scores"), 1), sum("screened_scores"), sum("rescored_rows"), sum("screened_rows"),
                             sum("near_tie_rows"), sum("candidate_rows"), sum("unbounded_rows"), sum("near_ties"), sum("ground_truth_rows")))
            }
            let metrics = run.result.metrics
            print(String(format: "  metrics: R@1 %.2f  R@5 %.2f  R@10 %.2f  R@100 %.2f  SumR %.2f  median %.1f  mean %.2f  (rank digest %llu)",
                         metrics.r1, metrics.r5, metrics.r10, metrics.r100, metrics.sumR, metrics.medianRank, metrics.meanRank,
                         Self.digest(run.result.ranks)))
        }
        print("")
        if let fp32Run {
            for run in runs where run.mode != .fp32 {
                let same = identical(run.result)!
                func yes(_ b: Bool) -> String { b ? "yes" : "NO" }
                print(String(format: "%@ vs fp32 (same run): %.3f s vs %.3f s → speed-up %.2f×; identical ranks %@, ground-truth scores (bits) %@%@",
                             run.mode.rawValue, wall(run.stats), wall(fp32Run.stats), wall(fp32Run.stats) / wall(run.stats), yes(same.ranks), yes(same.scores),
                             topK > 0 ? ", top-\(topK) lists (videos and score bits) \(yes(same.top))" : ""))
            }
        }
        print(String(format: "generation %.1f s and query all-gather %.3f s (not timed above); peak RSS per rank: max %.1f MiB (VmHWM)",
                     generation, queryGather, runs.flatMap { $0.stats.map { $0["peak_rss_bytes"] } }.max()! / 1_048_576))
        let x = runs[0].stats[0]
        print("communication per rank in an evaluation: all-reduce payload \(Int(x["reduced_bytes"])) B (4·Q ground-truth scores + 4·Q counts when P > 1), "
              + "all-gather sent \(Int(x["gather_sent_bytes"])) B / received \(Int(x["gather_received_bytes"])) B (agreement: 16 B per rank\(topK > 0 ? "; top-K: 8·Q·K per rank" : "")) — independent of V. "
              + "Before it, the query all-gather: \(queries * dim * 4) B in all (Q×d floats).")
    }

    /// One rank's numbers of one evaluation, all-gathered to rank 0 as Doubles.
    struct RankStats {
        static let fields = ["videos", "total_s", "ground_truth_pass_s", "gemm_s", "bf16_gemm_s", "clip_max_s", "screening_s", "ranking_s",
                             "communication_s", "useful_flop", "executed_flop", "peak_rss_bytes", "evaluator_bytes", "reduced_bytes",
                             "gather_sent_bytes", "gather_received_bytes", "screened_rows", "screened_scores", "rescored_rows", "rescored_scores",
                             "near_tie_rows", "candidate_rows", "unbounded_rows", "near_ties", "ground_truth_rows"]
        var values: [Double]

        init(values: [Double]) { self.values = values }

        init(_ result: EvaluationResult, videos: Int, peakRSS: Double) {
            let t = result.timing, s = result.rescoring
            values = [Double(videos), t.total, t.groundTruthPass, t.gemm, t.bf16Gemm, t.clipMax, t.screening, t.ranking, t.communication,
                      result.usefulFlops, result.executedFlops, peakRSS, Double(result.allocatedBytes + result.plan.resultBytes),
                      Double(result.traffic.reducedBytes), Double(result.traffic.gatherSentBytes), Double(result.traffic.gatherReceivedBytes),
                      Double(s.screenedRows), Double(s.screenedScores), Double(s.rescoredRows), Double(s.rescoredScores),
                      Double(s.nearTieRows), Double(s.candidateRows), Double(s.unboundedRows), Double(s.nearTies), Double(s.groundTruthRows)]
        }

        subscript(_ field: String) -> Double { values[Self.fields.firstIndex(of: field)!] }

        /// This rank's useful GFLOP/s over its whole evaluation.
        var gflops: Double { self["useful_flop"] / self["total_s"] / 1e9 }
    }

    /// Video v's clip rows (Mc × d) and frame row (d): U[−1, 1) draws from the stream
    /// (seed, synthetic, item v) — clips first, then the frame — each row L2-normalised.
    static func video(_ v: Int, seed: UInt64, clips: Int, dim: Int, clipsOut: UnsafeMutablePointer<Float>, frameOut: UnsafeMutablePointer<Float>) {
        let stream = RandomStream(seed: seed, purpose: .synthetic, item: UInt32(truncatingIfNeeded: v))
        fillSigned(stream, clipsOut, count: clips * dim, start: 0)
        fillSigned(stream, frameOut, count: dim, start: clips * dim)
        EmbeddingNormalization.l2Normalize(clipsOut, rows: clips, dim: dim)
        EmbeddingNormalization.l2Normalize(frameOut, rows: 1, dim: dim)
    }

    /// Query q: clip (q mod Mc) of its ground-truth video plus `noise`·U[−1, 1) per element
    /// (stream (seed, synthetic, step 1, item q)), L2-normalised.
    static func query(_ q: Int, queries: Int, videos: Int, seed: UInt64, clips: Int, dim: Int, noise: Float, out: UnsafeMutablePointer<Float>) {
        let gt = q * videos / queries
        let stream = RandomStream(seed: seed, purpose: .synthetic, item: UInt32(truncatingIfNeeded: gt))
        fillSigned(stream, out, count: dim, start: (q % clips) * dim)
        EmbeddingNormalization.l2Normalize(out, rows: 1, dim: dim)
        let noiseStream = RandomStream(seed: seed, purpose: .synthetic, step: 1, item: UInt32(truncatingIfNeeded: q))
        for i in 0..<dim { out[i] += noise * (2 * noiseStream.uniform(at: i) - 1) }
        EmbeddingNormalization.l2Normalize(out, rows: 1, dim: dim)
    }

    /// out[i] = 2·uniform(at: start + i) − 1, four draws per Philox block when `start` is a
    /// multiple of 4 (the same values, a quarter of the Philox calls).
    static func fillSigned(_ stream: RandomStream, _ out: UnsafeMutablePointer<Float>, count: Int, start: Int) {
        var i = 0
        while start % 4 == 0 && i + 4 <= count {
            let w = stream.words(block: UInt32(truncatingIfNeeded: (start + i) >> 2))
            out[i] = Float(w.0 >> 8) * 0x1p-23 - 1
            out[i + 1] = Float(w.1 >> 8) * 0x1p-23 - 1
            out[i + 2] = Float(w.2 >> 8) * 0x1p-23 - 1
            out[i + 3] = Float(w.3 >> 8) * 0x1p-23 - 1
            i += 4
        }
        while i < count { out[i] = 2 * stream.uniform(at: start + i) - 1; i += 1 }
    }

    /// An order-sensitive digest of the ranks (equal digests: equal ranks, for comparing world sizes).
    static func digest(_ ranks: [Int]) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for x in ranks { h = (h ^ UInt64(x)) &* 0x100000001b3 }
        return h
    }
}
