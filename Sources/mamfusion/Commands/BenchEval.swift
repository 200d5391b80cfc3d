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
/// Reports, per rank and overall: scoring GFLOP/s (useful FLOPs 2·Q·V·Mc·d + 2·Q·V·d over the
/// slowest rank's evaluation time, ranking and communication included) against sgemm
/// GFLOP/s measured in the same run on every rank at once, seconds by phase, peak RSS (VmHWM),
/// and the bytes moved between ranks.
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
    @Option(name: .customLong("query-block"), help: ArgumentHelp("Preferred query block (tuning).", visibility: .hidden)) var queryBlock: Int?
    @Option(name: .customLong("video-block"), help: ArgumentHelp("Preferred video block (tuning).", visibility: .hidden)) var videoBlock: Int?
    @Option(help: "Timed repetitions of the sgemm reference (median).") var repeats: Int = 5
    @Flag(help: "Print one JSON object instead of the tables.") var json = false

    func validate() throws {
        guard videos >= 1, queries >= 1, dim >= 1, clips >= 1, chunk >= 1, topK >= 0 else {
            throw ValidationError("--videos, --queries, --dim, --clips, --chunk must be ≥ 1 and --top-k ≥ 0")
        }
        try BenchArguments.atLeast(repeats, 1, option: "--repeats")
        if let queryBlock { try BenchArguments.atLeast(queryBlock, 1, option: "--query-block") }
        if let videoBlock { try BenchArguments.atLeast(videoBlock, 1, option: "--video-block") }
    }

    func run() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
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

        var evaluator = ShardedEvaluator(world: world, memoryBudget: memoryBudget, topK: topK)
        evaluator.preferredQueryBlock = queryBlock
        evaluator.preferredVideoBlock = videoBlock
        let plan = try ScoringPlan(queries: queries, videos: mine.count, clipsPerVideo: clips, dim: dim, topK: topK, ranks: p,
                                   memoryBudget: memoryBudget, preferredQueryBlock: queryBlock, preferredVideoBlock: videoBlock)

        // sgemm references, every rank at once (the same contention as the evaluation).
        try world.barrier()
        let blockShape = (m: plan.queryBlock, n: plan.videoBlock * clips, k: dim)
        let sgemmBefore = Doctor.sgemmGFLOPs(m: blockShape.m, n: blockShape.n, k: blockShape.k, repeats: repeats)
        try world.barrier()
        let sgemmLarge = Doctor.sgemmGFLOPs(m: 1024, n: 2048, k: dim, repeats: repeats)

        try world.barrier()
        let result = try evaluator.evaluate(queries: querySet, videos: shard)
        try world.barrier()
        let sgemmAfter = Doctor.sgemmGFLOPs(m: blockShape.m, n: blockShape.n, k: blockShape.k, repeats: repeats)

        let t = result.timing
        let mineStats = RankStats(
            videos: Double(mine.count), total: t.total, groundTruthPass: t.groundTruthPass, gemm: t.gemm, clipMax: t.clipMax,
            ranking: t.ranking, communication: t.communication, usefulFlops: result.usefulFlops, executedFlops: result.executedFlops,
            sgemmBefore: sgemmBefore, sgemmAfter: sgemmAfter, sgemmLarge: sgemmLarge,
            peakRSS: Double(ProcessMemory.peakResidentBytes() ?? 0), evaluatorBytes: Double(result.allocatedBytes + plan.resultBytes),
            reducedBytes: Double(result.traffic.reducedBytes), gatherSent: Double(result.traffic.gatherSentBytes),
            gatherReceived: Double(result.traffic.gatherReceivedBytes), generation: generationSeconds, queryGather: queryGatherSeconds)
        let allStats = try world.allgather(mineStats.values)
        guard r == 0 else { return }
        let stats = (0..<p).map { RankStats(Array(allStats[($0 * RankStats.count)..<(($0 + 1) * RankStats.count)])) }
        if json {
            let wall = stats.map { $0.total }.max()!, useful = stats.reduce(0.0) { $0 + $1.usefulFlops }
            let m = result.metrics
            try printJSONObject([
                "videos": videos, "queries": queries, "dim": dim, "clips": clips, "ranks": p, "blas_threads": BLAS.threads,
                "eval_s": wall, "useful_flop": useful, "gflops": useful / wall / 1e9,
                "sgemm_reference_gflops": stats.reduce(0.0) { $0 + $1.sgemmReference },
                "peak_rss_bytes_max_rank": stats.map { $0.peakRSS }.max()!, "reduced_bytes_per_rank": stats[0].reducedBytes,
                "gather_sent_bytes_per_rank": stats[0].gatherSent, "query_gather_s": stats.map { $0.queryGather }.max()!,
                "r1": m.r1, "r5": m.r5, "r10": m.r10, "r100": m.r100, "sumr": m.sumR, "median_rank": m.medianRank, "mean_rank": m.meanRank,
                "rank_digest": String(Self.digest(result.ranks)),
            ])
            return
        }

        print("bench eval: V=\(videos) Q=\(queries) d=\(dim) Mc=\(clips) on \(p) rank\(p == 1 ? "" : "s"), BLAS threads \(BLAS.threads), "
              + "budget \(memoryBudget) B, blocks \(plan.queryBlock) queries × \(plan.videoBlock) videos (clip sgemm \(blockShape.m)×\(blockShape.n)×\(blockShape.k))")
        print("  rank  videos   eval s  gt-pass s  sgemm s  clip-max s  rank s  comm s  GFLOP/s  in-loop sgemm  ref sgemm (before/after)  % of ref  peak RSS MiB  eval buffers B")
        for (q, x) in stats.enumerated() {
            print(String(format: "  %4d  %6.0f  %7.3f  %9.3f  %7.3f  %10.3f  %6.3f  %6.3f  %7.1f  %13.1f  %9.1f (%5.1f/%5.1f)  %7.1f%%  %12.1f  %14.0f",
                         q, x.videos, x.total, x.groundTruthPass, x.gemm, x.clipMax, x.ranking, x.communication, x.gflops,
                         x.executedFlops / x.gemm / 1e9, x.sgemmReference, x.sgemmBefore, x.sgemmAfter,
                         100 * x.gflops / x.sgemmReference, x.peakRSS / 1_048_576, x.evaluatorBytes))
        }
        let wall = stats.map { $0.total }.max()!
        let useful = stats.reduce(0.0) { $0 + $1.usefulFlops }, executed = stats.reduce(0.0) { $0 + $1.executedFlops }
        let aggregate = useful / wall / 1e9
        let reference = stats.reduce(0.0) { $0 + $1.sgemmReference }, large = stats.reduce(0.0) { $0 + $1.sgemmLarge }
        let slowest = stats.max { $0.total < $1.total }!
        print(String(format: "overall: %.3e useful FLOP (2·Q·V·Mc·d + 2·Q·V·d) in %.3f s (slowest rank; ranking and communication included) → %.1f GFLOP/s "
                     + "= %.1f%% of same-run sgemm at the block shape (%.1f GFLOP/s over the ranks, mean of before/after), %.1f%% of 1024x2048x%d (%.1f)",
                     useful, wall, aggregate, 100 * aggregate / reference, reference, 100 * aggregate / large, dim, large))
        print(String(format: "  slowest rank: sgemm %.1f%% of its time, clip-max %.1f%%, ranking %.1f%%, communication %.1f%%; executed %.3e FLOP "
                     + "(ground-truth pass +%.2f%%); generation %.1f s and query all-gather %.3f s (not timed above)",
                     100 * slowest.gemm / slowest.total, 100 * slowest.clipMax / slowest.total, 100 * slowest.ranking / slowest.total,
                     100 * slowest.communication / slowest.total, executed, 100 * (executed / useful - 1),
                     stats.map { $0.generation }.max()!, stats.map { $0.queryGather }.max()!))
        print(String(format: "  peak RSS per rank: max %.1f MiB (VmHWM)", stats.map { $0.peakRSS }.max()! / 1_048_576))
        let x = stats[0]
        print("communication per rank in the evaluation: all-reduce payload \(Int(x.reducedBytes)) B (4·Q ground-truth scores + 4·Q counts when P > 1), "
              + "all-gather sent \(Int(x.gatherSent)) B / received \(Int(x.gatherReceived)) B (agreement: 16 B per rank\(topK > 0 ? "; top-K: 8·Q·K per rank" : "")) — independent of V. "
              + "Before it, the query all-gather: \(queries * dim * 4) B in all (Q×d floats).")
        let metrics = result.metrics
        print(String(format: "metrics: R@1 %.2f  R@5 %.2f  R@10 %.2f  R@100 %.2f  SumR %.2f  median %.1f  mean %.2f  (rank digest %llu)",
                     metrics.r1, metrics.r5, metrics.r10, metrics.r100, metrics.sumR, metrics.medianRank, metrics.meanRank,
                     Self.digest(result.ranks)))
    }

    /// One rank's numbers, all-gathered to rank 0 as Doubles.
    struct RankStats {
        static let count = 20
        var videos = 0.0, total = 0.0, groundTruthPass = 0.0, gemm = 0.0, clipMax = 0.0, ranking = 0.0, communication = 0.0
        var usefulFlops = 0.0, executedFlops = 0.0, sgemmBefore = 0.0, sgemmAfter = 0.0, sgemmLarge = 0.0
        var peakRSS = 0.0, evaluatorBytes = 0.0, reducedBytes = 0.0, gatherSent = 0.0, gatherReceived = 0.0
        var generation = 0.0, queryGather = 0.0, spare = 0.0

        init(videos: Double, total: Double, groundTruthPass: Double, gemm: Double, clipMax: Double, ranking: Double,
             communication: Double, usefulFlops: Double, executedFlops: Double, sgemmBefore: Double, sgemmAfter: Double,
             sgemmLarge: Double, peakRSS: Double, evaluatorBytes: Double, reducedBytes: Double, gatherSent: Double,
             gatherReceived: Double, generation: Double, queryGather: Double) {
            (self.videos, self.total, self.groundTruthPass, self.gemm, self.clipMax, self.ranking, self.communication) =
                (videos, total, groundTruthPass, gemm, clipMax, ranking, communication)
            (self.usefulFlops, self.executedFlops, self.sgemmBefore, self.sgemmAfter, self.sgemmLarge) =
                (usefulFlops, executedFlops, sgemmBefore, sgemmAfter, sgemmLarge)
            (self.peakRSS, self.evaluatorBytes, self.reducedBytes, self.gatherSent, self.gatherReceived, self.generation, self.queryGather) =
                (peakRSS, evaluatorBytes, reducedBytes, gatherSent, gatherReceived, generation, queryGather)
        }

        init(_ v: [Double]) {
            (videos, total, groundTruthPass, gemm, clipMax, ranking, communication) = (v[0], v[1], v[2], v[3], v[4], v[5], v[6])
            (usefulFlops, executedFlops, sgemmBefore, sgemmAfter, sgemmLarge) = (v[7], v[8], v[9], v[10], v[11])
            (peakRSS, evaluatorBytes, reducedBytes, gatherSent, gatherReceived, generation, queryGather, spare) =
                (v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19])
        }

        var values: [Double] {
            [videos, total, groundTruthPass, gemm, clipMax, ranking, communication, usefulFlops, executedFlops, sgemmBefore,
             sgemmAfter, sgemmLarge, peakRSS, evaluatorBytes, reducedBytes, gatherSent, gatherReceived, generation, queryGather, spare]
        }

        /// This rank's useful GFLOP/s over its whole evaluation.
        var gflops: Double { usefulFlops / total / 1e9 }
        /// The same-run sgemm reference at the block shape: mean of the measurements just before
        /// and just after the evaluation (every rank measuring at once, like the evaluation).
        var sgemmReference: Double { (sgemmBefore + sgemmAfter) / 2 }
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
