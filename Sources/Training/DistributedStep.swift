import FeatureData
import MamFusion
import MPIKit
import TensorKit

/// One data-parallel training step over a global batch (DISTRIBUTED.md §1–4):
///
///     encode → sharded loss head (forward, backward) → model backward → gradient all-reduce
///
/// 1. each rank encodes its share of the videos and their captions (`MamFusionModel.encode`;
///    dropout keyed by global positions, the frame branch padded to the global batch's longest
///    video);
/// 2. the `ShardedLossHead` computes the loss of the global batch in shards — query side
///    gathered, score blocks of all queries × own videos, row statistics and hard negatives
///    merged exactly — and returns ∂L/∂ of this rank's own embeddings;
/// 3. backward runs through the local encoders (`MamFusionModel.backward`), which declares each
///    parameter group final as it goes; that group's gradient all-reduce (sum) starts at once
///    and overlaps the rest of backward (`GradientBuckets`). The fusion group is final when the
///    head's backward ends.
///
/// One code path for every world size: on one rank the collectives are identities.
public final class DistributedStep: @unchecked Sendable {
    public let model: MamFusionModel
    public let world: any World
    public let buckets: GradientBuckets
    public let head: ShardedLossHead
    /// Guards this step's blocking collectives (set by the trainer).
    public var watchdog: CollectiveWatchdog? {
        get { collectives.watchdog }
        set { collectives.watchdog = newValue }
    }
    var collectives: StepCollectives
    let d: Int, mapSize: Int

    /// What a step produced, for logging and failure handling.
    public struct Result: Sendable {
        public var terms = LossTerms()
        /// Seconds: local encoding, loss head and backward (compute); inside collectives and
        /// starting all-reduces (communication); waiting for the all-reduce after backward (wait).
        public var compute = 0.0, communication = 0.0, wait = 0.0
        /// The loss head's compute seconds (forward and backward, its collectives excluded).
        public var head = 0.0
        /// Time the gradient all-reduce was in flight (from its first bucket to the end).
        public var allreduceInFlight = 0.0
        /// Bytes this rank sent (ring model, `StepCollectives`): the head's gathers and
        /// reduce-scatters, its small reductions, and the gradient all-reduce.
        public var gatherBytes = 0, headReductionBytes = 0, gradientBytes = 0
        /// A non-finite value this rank produced: where (e.g. "frame embedding of video 'v12'" or a
        /// gradient tensor name), if any.
        public var nonFinite: String?

        public var bytesSent: Int { gatherBytes + headReductionBytes + gradientBytes }
    }

    public init(model: MamFusionModel, world: any World, bucketBytes: Int) {
        self.model = model
        self.world = world
        d = model.configuration.hiddenSize
        mapSize = model.configuration.mapSize
        buckets = GradientBuckets(gradients: model.gradients, world: world, maxBytes: bucketBytes)
        head = ShardedLossHead(model: model)
        collectives = StepCollectives(world: world)
    }

    /// This rank's inputs in the model's terms.
    private func inputs(batch: GlobalBatch, assignment: RankAssignment, local: TrainingBatch) -> MamFusionModel.Inputs {
        let videoBatch = SequenceBatch(lengths: local.videos.frameLengths, globalIndices: assignment.videosOfRank[world.rank],
                                       paddedLength: batch.paddedLength)
        let queryBatch = SequenceBatch(lengths: local.queries.tokenLengths, globalIndices: assignment.queriesOfRank[world.rank])
        return MamFusionModel.Inputs(clipFeatures: local.videos.clip.base, frameFeatures: local.videos.frames.base,
                                     videos: videoBatch, tokenFeatures: local.queries.tokens.base, queries: queryBatch)
    }

    /// Runs forward, backward and the gradient all-reduce of one step. On return the model's
    /// gradient buffer holds the summed (global) gradient on every rank.
    /// - Parameters:
    ///   - local: this rank's loaded inputs: videos = the batch's `assignment.videosOfRank[rank]`
    ///     (in that order), queries = `assignment.queriesOfRank[rank]`.
    public func run(batch: GlobalBatch, assignment: RankAssignment, local: TrainingBatch, videoNames: (Int) -> String,
                    dropout: DropoutContext, sampling: TripletSampling) throws -> Result {
        var result = Result()
        let inputs = inputs(batch: batch, assignment: assignment, local: local)
        model.gradients.zero()
        buckets.beginStep()
        collectives.tally.reset()

        // 1. Local encoding.
        var t0 = MonotonicClock.now()
        model.encode(inputs, dropout: dropout)
        result.nonFinite = firstNonFinite(queries: inputs.queries.count, videos: inputs.videos.count,
                                          videoName: { videoNames(local.videos.videos[$0]) })
        result.compute += MonotonicClock.now() - t0

        // 2. The loss head over the global batch, forward and backward.
        t0 = MonotonicClock.now()
        let (q, q2, C, F) = embeddings
        result.terms = try head.forward(q: q, q2: q2, C: C, F: F, batch: batch, assignment: assignment, sampling: sampling,
                                        collectives: &collectives)
        try head.backward(q2: q2, F: F, collectives: &collectives)
        let headCommunication = collectives.tally.seconds
        result.head = MonotonicClock.now() - t0 - headCommunication
        result.compute += result.head
        result.communication += headCommunication

        // 3. Backward through the encoders; each group's all-reduce starts as it becomes final.
        t0 = MonotonicClock.now()
        var starting = 0.0
        func groupDone(_ group: ParameterGroup) throws {
            let t = MonotonicClock.now()
            try buckets.markReady(group)
            starting += MonotonicClock.now() - t
        }
        try groupDone(.fusion)
        try model.backward(inputs, dq: head.dq.pointer, dq2: head.dq2.pointer, dC: head.dC.pointer, dF: head.dF.pointer,
                           dropout: dropout, groupDone: groupDone)
        result.compute += MonotonicClock.now() - t0 - starting
        result.communication += starting

        // 4. The rest of the all-reduce.
        t0 = MonotonicClock.now()
        try guarded("the gradient all-reduce") { try buckets.finish() }
        result.wait = buckets.waitSeconds
        result.communication += MonotonicClock.now() - t0 - result.wait
        result.allreduceInFlight = buckets.inFlightSeconds
        result.gatherBytes = collectives.tally.gatherBytes
        result.headReductionBytes = collectives.tally.reductionBytes
        let P = Double(world.size)
        result.gradientBytes = Int(2 * (P - 1) / P * Double(buckets.reducedCount * MemoryLayout<Float>.stride))
        if result.nonFinite == nil, let tensor = buckets.firstNonFinite { result.nonFinite = "gradient of \(tensor)" }
        return result
    }

    /// The loss of one global batch through the same path as `run` (encode, then the sharded
    /// head's forward), without backward: what gradient checks of the training path evaluate.
    public func loss(batch: GlobalBatch, assignment: RankAssignment, local: TrainingBatch,
                     dropout: DropoutContext, sampling: TripletSampling) throws -> LossTerms {
        model.encode(inputs(batch: batch, assignment: assignment, local: local), dropout: dropout)
        let (q, q2, C, F) = embeddings
        return try head.forward(q: q, q2: q2, C: C, F: F, batch: batch, assignment: assignment, sampling: sampling,
                                collectives: &collectives)
    }

    /// The encoders' outputs: q, q2 (own queries), C, F (own videos).
    private var embeddings: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) {
        (UnsafePointer(model.queryEncoders[0].output.pointer), UnsafePointer(model.queryEncoders[1].output.pointer),
         UnsafePointer(model.clipBranch.output.pointer), UnsafePointer(model.frameBranch.output.pointer))
    }

    private func guarded<R>(_ label: String, _ body: () throws -> R) rethrows -> R {
        guard let watchdog else { return try body() }
        return try watchdog.guarding("rank \(world.rank): \(label)", body)
    }

    private func firstNonFinite(queries: Int, videos: Int, videoName: (Int) -> String) -> String? {
        let (q, q2, C, F) = embeddings
        for i in 0..<videos {
            if !Vector.sumOfSquares(F + i * d, count: d).isFinite { return "frame embedding of video '\(videoName(i))'" }
            if !Vector.sumOfSquares(C + i * mapSize * d, count: mapSize * d).isFinite { return "clip embedding of video '\(videoName(i))'" }
        }
        if !Vector.sumOfSquares(q, count: queries * d).isFinite || !Vector.sumOfSquares(q2, count: queries * d).isFinite {
            return "query embeddings"
        }
        return nil
    }
}
