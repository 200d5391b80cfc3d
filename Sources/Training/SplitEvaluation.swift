import Evaluation
import FeatureData
import MamFusion
import MPIKit
import TensorKit

/// Evaluation of a model on a split (MODEL.md §8, DISTRIBUTED.md §5), with the reference's
/// semantics: videos in first-appearance order, encoded in consecutive chunks of
/// `eval_context_bsz`, each chunk padded to its own longest video (through G this changes frame
/// embeddings — part of the contract); chunks spread over ranks, each rank reading only its own;
/// queries encoded sharded (in batches of `eval_query_bsz`) and all-gathered; then the
/// `ShardedEvaluator` gives exact global ranks with O(Q) communication. The model's evaluation
/// encoder (`TrainableModel.encodeForEvaluation`): no dropout, no second query pass, no head.
///
/// `phases` tells where this rank's time went, for the phase table of `mamfusion eval`.
public final class SplitEvaluation {
    public let model: any TrainableModel
    /// The ranks sharing the split (`LocalWorld()`: this process alone, no MPI).
    public let world: any World
    public let loader: any InputLoader
    /// Called after each chunk of this rank's videos with (videos encoded, videos of this rank).
    public var progress: ((Int, Int) -> Void)?

    /// Seconds of this rank by phase, and the useful FLOPs of its encoders (forward, valid rows).
    public struct Phases: Sendable {
        public var reading = 0.0, videoEncoding = 0.0, queryEncoding = 0.0, queryGather = 0.0
        public var videoFlops = 0.0, queryFlops = 0.0
        public var encoding: Double { videoEncoding + queryEncoding }
        public var encoderFlops: Double { videoFlops + queryFlops }
    }
    public private(set) var phases = Phases()

    public init(model: any TrainableModel, world: any World, loader: any InputLoader) {
        self.model = model
        self.world = world
        self.loader = loader
    }

    var configuration: RunConfiguration { model.configuration }

    /// The chunks of videos owned by this rank, encoded and L2-normalised (the parameters are the
    /// matrix engine's weights throughout: one bf16 copy for the whole encoding).
    public func encodeVideos() throws -> VideoShard {
        try model.parameters.asEngineWeights { try encodeOwnVideos() }
    }

    private func encodeOwnVideos() throws -> VideoShard {
        let c = configuration, shape = model.evaluationShape, d = shape.dimension, mc = shape.clipsPerVideo
        let split = loader.index
        let rank = world.rank
        let partition = try VideoPartition(videoCount: split.videoCount, chunkSize: c.evalContextBatchSize, ranks: world.size)
        let mine = partition.videos(of: rank)
        let clips = Tensor(shape: [mine.count, mc, d]), frames = Tensor(shape: [mine.count, d])
        var encoded = 0
        progress?(0, mine.count)
        for chunk in partition.chunks(of: rank) {
            let videos = Array(partition.videos(ofChunk: chunk))
            var t0 = MonotonicClock.now()
            let inputs = try loader.loadVideos(videos)
            phases.reading += MonotonicClock.now() - t0
            t0 = MonotonicClock.now()
            let batch = SequenceBatch(lengths: inputs.frameLengths, globalIndices: videos, paddedLength: inputs.longestFrameInput)
            let at = videos[0] - mine.lowerBound
            model.encodeForEvaluation(videos: inputs, batch: batch, clips: clips.pointer + at * mc * d, frames: frames.pointer + at * d)
            phases.videoEncoding += MonotonicClock.now() - t0
            phases.videoFlops += model.flops(frames: inputs.frameLengths, tokens: [], pass: .encoding).videos
            encoded += videos.count
            progress?(encoded, mine.count)
        }
        EmbeddingNormalization.l2Normalize(clips.pointer, rows: mine.count * mc, dim: d)
        EmbeddingNormalization.l2Normalize(frames.pointer, rows: mine.count, dim: d)
        return try VideoShard(clips: clips, frames: frames, videos: mine)
    }

    /// All queries of the split, encoded sharded (contiguous ranges per rank), all-gathered and
    /// L2-normalised; ground truth = each caption's video index.
    public func encodeQueries() throws -> QuerySet {
        try model.parameters.asEngineWeights { try encodeAllQueries() }
    }

    private func encodeAllQueries() throws -> QuerySet {
        let c = configuration, d = model.evaluationShape.dimension
        let split = loader.index
        let Q = split.captionCount, P = world.size
        let share = (0..<P).map { r in (Q * r / P)..<(Q * (r + 1) / P) }
        let mine = share[world.rank]
        var local = [Float](repeating: 0, count: mine.count * d)
        var start = mine.lowerBound
        while start < mine.upperBound {
            let ids = Array(start..<min(start + c.evalQueryBatchSize, mine.upperBound))
            var t0 = MonotonicClock.now()
            let inputs = try loader.loadQueries(ids)
            phases.reading += MonotonicClock.now() - t0
            t0 = MonotonicClock.now()
            let batch = SequenceBatch(lengths: inputs.tokenLengths, globalIndices: ids)
            local.withUnsafeMutableBufferPointer {
                model.encodeForEvaluation(queries: inputs, batch: batch, into: $0.baseAddress! + (start - mine.lowerBound) * d)
            }
            phases.queryEncoding += MonotonicClock.now() - t0
            phases.queryFlops += model.flops(frames: [], tokens: inputs.tokenLengths, pass: .encoding).queries
            start += ids.count
        }
        let all = Tensor(shape: [Q, d])
        let t0 = MonotonicClock.now()
        try local.withUnsafeBufferPointer {
            try world.allgatherv($0, into: all.buffer, counts: share.map { $0.count * d })
        }
        phases.queryGather += MonotonicClock.now() - t0
        EmbeddingNormalization.l2Normalize(all.pointer, rows: Q, dim: d)
        return try QuerySet(embeddings: all, groundTruth: split.captions.map(\.videoIndex))
    }

    /// Encodes and evaluates a text–video model (`RetrievalTask.textVideo`): exact t2v and v2t ranks.
    public func evaluateTextVideo(memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget) throws -> TextVideoResult {
        let shard = try encodeVideos()
        let queries = try encodeQueries()
        return try TextVideoEvaluator(world: world, memoryBudget: memoryBudget).evaluate(queries: queries, videos: shard)
    }

    /// Encodes and evaluates: exact global ranks (and top-K lists when `topK` > 0).
    public func evaluate(memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget, topK: Int = 0) throws -> EvaluationResult {
        let shard = try encodeVideos()
        let queries = try encodeQueries()
        let c = configuration
        var evaluator = ShardedEvaluator(world: world,
                                         weights: RankingWeights(clip: Float(c.clipScaleWeight), frame: Float(c.frameScaleWeight)),
                                         memoryBudget: memoryBudget, topK: topK)
        evaluator.scoring = ScoringMode(c.evalScoring, engine: MatrixEngine.selection.engine)
        return try evaluator.evaluate(queries: queries, videos: shard)
    }
}
