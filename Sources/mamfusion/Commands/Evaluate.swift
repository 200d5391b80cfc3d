import ArgumentParser
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

    func run() throws {
        let world = try Communicator.world()
        let config = try options.resolve()
        let model = try loadModel(config: config, checkpoint: checkpoint)
        let loader = try config.openSplit(split, world: world)
        let evaluation = SplitEvaluation(model: model, world: world, loader: loader)
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
            shard = try evaluation.encodeVideos()
        }
        let queries = try evaluation.encodeQueries()
        let evaluator = ShardedEvaluator(world: world,
                                         weights: RankingWeights(clip: Float(config.clipScaleWeight), frame: Float(config.frameScaleWeight)),
                                         memoryBudget: memoryBudget, topK: ranksOut == nil ? 0 : topK)
        let result = try evaluator.evaluate(queries: queries, videos: shard)
        let seconds = MonotonicClock.now() - start
        guard world.rank == 0 else { return }
        let split = loader.index
        if let ranksOut {
            try RankRecordWriter.write(to: ranksOut, captionIDs: split.captions.map(\.capID), videoIDs: split.videoIDs,
                                       groundTruth: split.captions.map(\.videoIndex), result: result)
        }
        let m = result.metrics
        print("evaluation of \(checkpoint ?? "the untrained model (seed \(config.seed))") on \(split.collection)/\(split.split): "
              + "\(split.captionCount) queries × \(split.videoCount) videos on \(world.size) rank\(world.size == 1 ? "" : "s")")
        print(RecallTable.format(m))
        print(String(format: "median rank %.1f, mean rank %.1f; %.2f s; %d bytes exchanged per rank", m.medianRank, m.meanRank,
                     seconds, result.traffic.totalBytes))
        if let ranksOut { print("ranks written to \(ranksOut)") }
    }
}

/// `mpirun -np P mamfusion index --config FILE --checkpoint CKPT --out INDEX.h5`: encode a split's
/// videos once (sharded over ranks, written in parallel) for `eval --index`.
struct BuildIndex: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "index", abstract: "Write the normalised video embeddings of a split.")

    @OptionGroup var options: ConfigurationOptions
    @Option(help: "Checkpoint whose encoders to use.") var checkpoint: String?
    @Option(help: "Split whose videos to encode.") var split: String = "test"
    @Option(help: "Index file to write (HDF5).") var out: String

    func run() throws {
        let world = try Communicator.world()
        let config = try options.resolve()
        let model = try loadModel(config: config, checkpoint: checkpoint)
        let loader = try config.openSplit(split, world: world)
        let shard = try SplitEvaluation(model: model, world: world, loader: loader).encodeVideos()
        let ids = shard.globalIndices.map { loader.index.videoIDs[$0] }
        try EmbeddingIndex.write(to: out, shard: shard, videoIDs: ids, communicator: world.size > 1 ? world : nil)
        if world.rank == 0 { print("wrote \(out): \(loader.index.videoCount) videos × \(config.mapSize) clips × \(config.hiddenSize)") }
    }
}

/// The model of `config` with the weights of `checkpoint` (or freshly initialised from the seed).
/// The parameter buffer is allocated first, with a thrown error if memory is short.
func loadModel(config: RunConfiguration, checkpoint: String?) throws -> MamFusionModel {
    let parameters = try ParameterSet(allocating: config.parameterLayout, for: "the model's parameters")
    let model = MamFusionModel(configuration: config, parameters: parameters)
    if let checkpoint {
        try Checkpoint.read(from: checkpoint, into: model.parameters)
    } else {
        ParameterInitializer.initialize(model.parameters, seed: UInt64(config.seed))
    }
    return model
}

/// The R@K table the commands print.
enum RecallTable {
    static func format(_ m: RecallMetrics) -> String {
        String(format: "  R@1 %6.2f   R@5 %6.2f   R@10 %6.2f   R@100 %6.2f   SumR %7.2f", m.r1, m.r5, m.r10, m.r100, m.sumR)
    }
}

