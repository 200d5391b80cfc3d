import ArgumentParser
import CommandOptions
import Evaluation
import FeatureData
import Foundation
import MamFusion
import MPIKit
import TensorKit
import Training

/// `mpirun -np P mamfusion eval --config FILE --checkpoint CKPT`: exact text→video R@1/5/10/100,
/// SumR, median and mean rank over a video database sharded across ranks (MODEL.md §8,
/// DISTRIBUTED.md §5). With `--index INDEX.h5` the videos come from an embedding index
/// (`mamfusion index`) instead of being encoded.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint: exact global R@K over videos sharded across ranks."
    )

    @OptionGroup var options: ConfigurationOptions
    @OptionGroup var engine: EngineOptions

    @Option(help: "Checkpoint to evaluate (omit for the untrained model of the configuration's seed).")
    var checkpoint: String?

    @Option(help: "Caption split to evaluate (test, val, train, …).")
    var split: String = "test"

    @Option(help: "Write one JSON object per query (cap_id, video_id, rank, score[, top]) to this file.")
    var ranksOut: String?

    @Option(help: "With --ranks-out: also list each query's K best videos.")
    var topK: Int = 0

    @Option(help: "Bytes the scorer may allocate per rank (blocks never exceed it).")
    var memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget

    @Option(help: "Score against this embedding index (mamfusion index) instead of encoding the videos.")
    var index: String?

    @Option(name: .customLong("eval-scoring"),
            help: "Score products: fp32, exact-bf16 (bf16 screen, near-ties re-scored in fp32: fp32's ranks bit for bit), bf16 (approximate) or auto (overrides 'eval_scoring').")
    var evalScoring: RunConfiguration.EvalScoring?

    @Flag(help: "Print one JSON object (metrics, sizes, phase seconds, rates, memory) instead of the tables.")
    var json = false

    func run() throws {
        let world = try Communicator.world()
        var config = try options.resolve(engine: engine)
        if let evalScoring { config.evalScoring = evalScoring }
        try world.configureMatrixEngine(config.matmulEngine, precision: config.precision)
        let model = try loadModel(config: config, checkpoint: checkpoint, rank: world.rank)
        let loader = try config.openSplit(split, world: world)
        let evaluation = SplitEvaluation(model: model, world: world, loader: loader)
        if config.modelType.retrievalTask == .textVideo { return try evaluateTextVideo(evaluation, config: config, world: world) }
        let start = MonotonicClock.now()
        let shard: VideoShard
        if let index {
            let header = try EmbeddingIndex.readHeader(index)
            guard header.videos == loader.index.videoCount else {
                throw ValidationError("\(index) holds \(header.videos) videos but split '\(split)' has \(loader.index.videoCount)")
            }
            let partition = try VideoPartition(videoCount: header.videos, chunkSize: config.evalContextBatchSize, ranks: world.size)
            shard = try EmbeddingIndex.read(index, videos: partition.videos(of: world.rank))
        } else {
            let bar = world.rank == 0 && !json ? ProgressBar("encoding videos (rank 0)", unit: .items("videos")) : nil
            evaluation.progress = bar.map { bar in { bar.update($0, $1) } }
            shard = try evaluation.encodeVideos()
            bar?.finish()
        }
        let queries = try evaluation.encodeQueries()
        var evaluator = ShardedEvaluator(world: world,
                                         weights: RankingWeights(clip: Float(config.clipScaleWeight), frame: Float(config.frameScaleWeight)),
                                         memoryBudget: memoryBudget, topK: ranksOut == nil ? 0 : topK)
        evaluator.scoring = ScoringMode(config.evalScoring, engine: MatrixEngine.selection.engine)
        let result = try evaluator.evaluate(queries: queries, videos: shard)
        let seconds = MonotonicClock.now() - start
        // The same-run fp32 and bf16 limits, every rank at once (the contention the encoders saw).
        try world.barrier()
        let phases = EvaluationPhases(evaluation.phases, result.timing, limits: EngineRate.limits(), rescoring: result.rescoring,
                                      peakResident: Double(ProcessMemory.peakResidentBytes() ?? 0))
        let all = try EvaluationPhases.gather(phases, world: world)
        guard world.rank == 0 else { return }
        let split = loader.index
        if let ranksOut {
            try RankRecordWriter.write(to: ranksOut, captionIDs: split.captions.map(\.capID), videoIDs: split.videoIDs,
                                       groundTruth: split.captions.map(\.videoIndex), result: result)
        }
        let m = result.metrics
        if json {
            var object: [String: Any] = [
                "checkpoint": checkpoint ?? "", "model": config.model, "split": split.split, "collection": split.collection,
                "queries": split.captionCount, "videos": split.videoCount, "ranks": world.size, "blas_threads": BLAS.threads,
                "r1": m.r1, "r5": m.r5, "r10": m.r10, "r100": m.r100, "sumr": m.sumR, "median_rank": m.medianRank, "mean_rank": m.meanRank,
                "seconds": seconds, "bytes_exchanged_per_rank": result.traffic.totalBytes, "index": index ?? "",
                "eval_scoring": result.scoring.rawValue,
            ]
            for (key, value) in EvaluationPhases.summary(all) { object[key] = value }
            try printJSONObject(object)
            return
        }
        print("evaluation of \(checkpoint ?? "the untrained model (seed \(config.seed))") on \(split.collection)/\(split.split): "
              + "\(split.captionCount) queries × \(split.videoCount) videos on \(world.size) rank\(world.size == 1 ? "" : "s")")
        print(RecallTable.format(m))
        print(String(format: "median rank %.1f, mean rank %.1f; %.2f s; %d bytes exchanged per rank", m.medianRank, m.meanRank,
                     seconds, result.traffic.totalBytes))
        print(EvaluationPhases.table(all, usedIndex: index != nil, scoring: result.scoring))
        if let ranksOut { print("ranks written to \(ranksOut)") }
    }
}

extension Evaluate {
    /// A text–video model (MUSE): t2v and v2t ranks (`TextVideoEvaluator`), both directions in
    /// the table, `--json` and `--ranks-out`.
    func evaluateTextVideo(_ evaluation: SplitEvaluation, config: RunConfiguration, world: Communicator) throws {
        guard index == nil else { throw ValidationError("--index is for the PRVR models; \(config.model) encodes its videos") }
        let start = MonotonicClock.now()
        let bar = world.rank == 0 && !json ? ProgressBar("encoding videos (rank 0)", unit: .items("videos")) : nil
        evaluation.progress = bar.map { bar in { bar.update($0, $1) } }
        let shard = try evaluation.encodeVideos()
        bar?.finish()
        let queries = try evaluation.encodeQueries()
        let result = try TextVideoEvaluator(world: world, memoryBudget: memoryBudget).evaluate(queries: queries, videos: shard)
        let seconds = MonotonicClock.now() - start
        try world.barrier()
        let phases = EvaluationPhases(evaluation.phases, result.timing, limits: EngineRate.limits(), peakResident: Double(ProcessMemory.peakResidentBytes() ?? 0))
        let all = try EvaluationPhases.gather(phases, world: world)
        guard world.rank == 0 else { return }
        let split = evaluation.loader.index
        if let ranksOut {
            try TextVideoRankWriter.write(to: ranksOut, captionIDs: split.captions.map(\.capID), videoIDs: split.videoIDs,
                                          groundTruth: split.captions.map(\.videoIndex), result: result)
        }
        let m = result.metrics
        if json {
            var object: [String: Any] = [
                "checkpoint": checkpoint ?? "", "model": config.model, "split": split.split, "collection": split.collection,
                "queries": split.captionCount, "videos": split.videoCount, "ranks": world.size, "blas_threads": BLAS.threads, "seconds": seconds,
            ]
            for (name, value) in m.named { object[name] = value }
            for (key, value) in EvaluationPhases.summary(all) { object[key] = value }
            try printJSONObject(object)
            return
        }
        print("evaluation of \(checkpoint ?? "the untrained model (seed \(config.seed))") on \(split.collection)/\(split.split): "
              + "\(split.captionCount) captions × \(split.videoCount) videos on \(world.size) rank\(world.size == 1 ? "" : "s")")
        print(RecallTable.format(m))
        print(String(format: "%.2f s", seconds))
        print(EvaluationPhases.table(all, usedIndex: false))
        if let ranksOut { print("ranks written to \(ranksOut)") }
    }
}

/// One rank's evaluation time by phase, the encoders' useful FLOPs, a same-run sgemm rate and
/// peak memory: what the phase table of `mamfusion eval` shows for every rank.
struct EvaluationPhases {
    static let fields = ["reading_s", "video_encoding_s", "query_encoding_s", "query_gather_s", "scoring_s", "ranking_s",
                         "evaluator_communication_s", "evaluator_s", "encoder_flop", "fp32_limit_gflops", "bf16_limit_gflops", "peak_rss_bytes",
                         "screened_scores", "rescored_scores"]
    var values: [Double]

    /// `rescoring`: what exact-bf16 scoring screened and re-scored on this rank (none otherwise).
    init(_ p: SplitEvaluation.Phases, _ t: EvaluationTiming, limits: EngineRate.Limits, rescoring r: RescoringStatistics = RescoringStatistics(),
         peakResident: Double) {
        values = [p.reading, p.videoEncoding, p.queryEncoding, p.queryGather, t.scoring, t.ranking, t.communication, t.total,
                  p.encoderFlops, limits.fp32, limits.bf16, peakResident, Double(r.screenedScores), Double(r.rescoredScores)]
    }

    init(values: [Double]) { self.values = values }

    subscript(_ field: String) -> Double { values[Self.fields.firstIndex(of: field)!] }

    var encodingGFLOPs: Double {
        let seconds = self["video_encoding_s"] + self["query_encoding_s"]
        return seconds > 0 ? self["encoder_flop"] / seconds / 1e9 : 0
    }

    /// Every rank's phases, on every rank (one small all-gather).
    static func gather(_ mine: EvaluationPhases, world: Communicator) throws -> [EvaluationPhases] {
        let all = try world.allgather(mine.values)
        let n = fields.count
        return (0..<world.size).map { EvaluationPhases(values: Array(all[$0 * n..<($0 + 1) * n])) }
    }

    /// The slowest rank's seconds per phase, the encoders' rate and its fractions of the same-run
    /// fp32 and bf16 limits (the slowest rank's), the largest peak RSS.
    static func summary(_ all: [EvaluationPhases]) -> [String: Double] {
        var out: [String: Double] = [:]
        for field in fields where field.hasSuffix("_s") { out[field] = all.map { $0[field] }.max() ?? 0 }
        out["encoder_gflops"] = all.map(\.encodingGFLOPs).min() ?? 0
        out["fp32_limit_gflops"] = all.map { $0["fp32_limit_gflops"] }.min() ?? 0
        out["bf16_limit_gflops"] = all.map { $0["bf16_limit_gflops"] }.min() ?? 0
        out["encoder_fraction_of_fp32_limit"] = all.map { $0.encodingGFLOPs / max($0["fp32_limit_gflops"], 1e-9) }.min() ?? 0
        out["encoder_fraction_of_bf16_limit"] = all.map { $0.encodingGFLOPs / max($0["bf16_limit_gflops"], 1e-9) }.min() ?? 0
        out["peak_rss_bytes_max_rank"] = all.map { $0["peak_rss_bytes"] }.max() ?? 0
        out["rescored_share"] = rescoredShare(all)
        return out
    }

    /// The share of the bf16-screened scores that exact-bf16 re-scored in fp32, over all ranks.
    static func rescoredShare(_ all: [EvaluationPhases]) -> Double {
        let screened = all.reduce(0.0) { $0 + $1["screened_scores"] }
        return screened > 0 ? all.reduce(0.0) { $0 + $1["rescored_scores"] } / screened : 0
    }

    /// `scoring`: the evaluator's scoring mode (a re-scored column for exact-bf16); nil for
    /// evaluators without modes.
    static func table(_ all: [EvaluationPhases], usedIndex: Bool, scoring: ScoringMode? = nil) -> String {
        var lines = ["where the time went (seconds per rank; scoring = score products and clip maxima, ranking = counting ranks"
                        + (scoring.map { "; \($0) scoring" } ?? "") + "):",
                     "  rank  reading  video enc  query enc  query gather  scoring  ranking  comm   encoders GFLOP/s (% of same-run fp32 | bf16 limit)  peak RSS"
                        + (scoring == .exactBF16 ? "    re-scored" : "")]
        for (r, p) in all.enumerated() {
            let fp32 = p["fp32_limit_gflops"], bf16 = p["bf16_limit_gflops"], screened = p["screened_scores"]
            lines.append(String(format: "  %4d  %7.2f  %9.2f  %9.2f  %12.3f  %7.2f  %7.2f  %5.2f   %6.1f (%5.1f%% of %5.1f | %5.1f%% of %5.1f)      %6.2f GiB",
                                r, p["reading_s"], p["video_encoding_s"], p["query_encoding_s"], p["query_gather_s"], p["scoring_s"],
                                p["ranking_s"], p["evaluator_communication_s"], p.encodingGFLOPs,
                                fp32 > 0 ? 100 * p.encodingGFLOPs / fp32 : 0, fp32, bf16 > 0 ? 100 * p.encodingGFLOPs / bf16 : 0, bf16,
                                p["peak_rss_bytes"] / 1_073_741_824)
                            + (scoring == .exactBF16 ? String(format: "  %8.2f%%", screened > 0 ? 100 * p["rescored_scores"] / screened : 0) : ""))
        }
        if scoring == .exactBF16 {
            lines.append(String(format: "  exact-bf16: %.2f%% of the bf16-screened scores re-scored in fp32 (rows holding a near-tie or a top-K candidate)",
                                100 * rescoredShare(all)))
        }
        if usedIndex { lines.append("  (videos read from the index: no video encoding)") }
        return lines.joined(separator: "\n")
    }
}

/// `mpirun -np P mamfusion index --config FILE --checkpoint CKPT --out INDEX.h5`: encode a split's
/// videos once (sharded over ranks, written in parallel) for `eval --index`.
struct BuildIndex: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "index", abstract: "Write the normalised video embeddings of a split.")

    @OptionGroup var options: ConfigurationOptions
    @OptionGroup var engine: EngineOptions
    @Option(help: "Checkpoint whose encoders to use.") var checkpoint: String?
    @Option(help: "Split whose videos to encode.") var split: String = "test"
    @Option(help: "Index file to write (HDF5).") var out: String

    func run() throws {
        let world = try Communicator.world()
        let config = try options.resolve(engine: engine)
        try world.configureMatrixEngine(config.matmulEngine, precision: config.precision)
        let model = try loadModel(config: config, checkpoint: checkpoint, rank: world.rank)
        let loader = try config.openSplit(split, world: world)
        let shard = try SplitEvaluation(model: model, world: world, loader: loader).encodeVideos()
        let ids = shard.globalIndices.map { loader.index.videoIDs[$0] }
        try EmbeddingIndex.write(to: out, shard: shard, videoIDs: ids, world: world)
        if world.rank == 0 { print("wrote \(out): \(loader.index.videoCount) videos × \(config.mapSize) clips × \(config.hiddenSize)") }
    }
}

/// The model of `config` with the weights of `checkpoint` (or freshly initialised from the seed).
/// The parameter buffer is allocated first, with a thrown error if memory is short. Every rank
/// reads the same file, so only rank 0 prints the checkpoint's conversion notes.
func loadModel(config: RunConfiguration, checkpoint: String?, rank: Int) throws -> any TrainableModel {
    let parameters = try ParameterSet(allocating: config.parameterLayout, for: "the model's parameters")
    let model = config.makeModel(parameters: parameters)
    if let checkpoint {
        try Checkpoint.read(from: checkpoint, into: model.parameters, note: { text in if rank == 0 { Checkpoint.printNote(text) } })
    } else {
        config.modelType.initialize(model.parameters, seed: UInt64(config.seed))
    }
    return model
}

/// The R@K table the commands print.
enum RecallTable {
    /// Both directions of a text–video evaluation.
    static func format(_ m: TextVideoMetrics) -> String {
        func row(_ name: String, _ r: RecallMetrics) -> String {
            String(format: "  %@  R@1 %6.2f   R@5 %6.2f   R@10 %6.2f   MdR %6.1f   MnR %7.1f", name, r.r1, r.r5, r.r10, r.medianRank, r.meanRank)
        }
        return [row("t2v", m.textToVideo), row("v2t", m.videoToText), String(format: "  RSum %7.2f", m.rSum)].joined(separator: "\n")
    }

    static func format(_ m: RecallMetrics) -> String {
        String(format: "  R@1 %6.2f   R@5 %6.2f   R@10 %6.2f   R@100 %6.2f   SumR %7.2f", m.r1, m.r5, m.r10, m.r100, m.sumR)
    }
}


extension RunConfiguration.EvalScoring: ExpressibleByArgument {}
