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
///    and overlaps the rest of backward (`GradientBuckets`). The fusion group (empty without fusion
///    modules) is final when the head's backward ends.
///
/// **Micro-batches** (`micro_batch`, DISTRIBUTED.md §3b). The head needs every embedding of the
/// global batch at once, not the activations behind them. With micro-batches of N videos, pass 1
/// encodes the rank's share N videos (and their captions) at a time, keeping only the embeddings;
/// the head runs once; pass 2 goes back over the micro-batches in reverse order, encoding each
/// again with activations — the same dropout masks (keyed by global position) and the same padded
/// length, so the same embeddings — and running backward with its slice of the embedding
/// gradients, accumulating the parameter gradients. The last micro-batch of pass 1 is the first of
/// pass 2 and its activations are still there: it is not encoded twice. Groups are declared final
/// after the last micro-batch's backward. Memory: one micro-batch's activations plus the head's.
///
/// One code path for every world size: on one rank the collectives are identities.
public final class DistributedStep {
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
    /// Videos per micro-batch (0: the whole share in one).
    public var microBatch: Int
    /// This rank's embeddings, assembled micro-batch by micro-batch: q, q2 (own queries), C, F.
    let q = ActivationBuffer(), q2 = ActivationBuffer(), clips = ActivationBuffer(), frames = ActivationBuffer()

    /// What a step produced, for logging and failure handling.
    public struct Result: Sendable {
        public var terms = LossTerms()
        /// Seconds: local encoding, loss head and backward (compute); inside collectives and
        /// starting all-reduces (communication); waiting for the all-reduce after backward (wait).
        public var compute = 0.0, communication = 0.0, wait = 0.0
        /// The loss head's compute seconds (forward and backward, its collectives excluded).
        public var head = 0.0
        /// Seconds spent encoding micro-batches a second time (0 without micro-batches).
        public var reencode = 0.0
        /// Time the gradient all-reduce was in flight (from its first bucket to the end).
        public var allreduceInFlight = 0.0
        /// The part of `communication` inside the head's collectives (the rest: starting
        /// all-reduces and finishing them).
        public var headCommunication = 0.0
        /// For each parameter group, the seconds of backward left when it became final and its
        /// all-reduce started: the window in which that group's reduction can hide.
        public var groupLead: [ParameterGroup: Double] = [:]
        /// Bytes this rank sent (ring model, `StepCollectives`): the head's gathers and
        /// reduce-scatters, its small reductions, and the gradient all-reduce.
        public var gatherBytes = 0, headReductionBytes = 0, gradientBytes = 0
        /// A non-finite value this rank produced: where (e.g. "frame embedding of video 'v12'" or a
        /// gradient tensor name), if any.
        public var nonFinite: String?

        public var bytesSent: Int { gatherBytes + headReductionBytes + gradientBytes }
    }

    public init(model: MamFusionModel, world: any World, bucketBytes: Int, microBatch: Int = 0) {
        self.model = model
        self.world = world
        self.microBatch = microBatch
        d = model.configuration.hiddenSize
        mapSize = model.configuration.mapSize
        buckets = GradientBuckets(gradients: model.gradients, world: world, maxBytes: bucketBytes)
        head = ShardedLossHead(model: model)
        collectives = StepCollectives(world: world)
    }

    /// The model inputs of one micro-batch, from its loaded inputs (`local`: exactly its videos
    /// and captions).
    private func inputs(_ m: MicroBatch, batch: GlobalBatch, assignment: RankAssignment, local: TrainingBatch) -> MamFusionModel.Inputs {
        let videoBatch = SequenceBatch(lengths: local.videos.frameLengths, globalIndices: Array(assignment.videosOfRank[world.rank][m.videos]),
                                       paddedLength: batch.paddedLength)
        let queryBatch = SequenceBatch(lengths: local.queries.tokenLengths, globalIndices: Array(assignment.queriesOfRank[world.rank][m.queries]))
        return MamFusionModel.Inputs(clipFeatures: local.videos.clip.base, frameFeatures: local.videos.frames.base, videos: videoBatch,
                                     tokenFeatures: local.queries.tokens.base, queries: queryBatch)
    }

    /// Pass 1: encodes every micro-batch and keeps its embeddings; returns the first non-finite
    /// embedding, if any, and the last micro-batch's inputs (its activations are still there).
    private func encode(_ micro: [MicroBatch], batch: GlobalBatch, assignment: RankAssignment,
                        inputs load: (MicroBatch) throws -> TrainingBatch, dropout: DropoutContext,
                        videoNames: (Int) -> String) throws -> (nonFinite: String?, last: TrainingBatch?) {
        let qr = assignment.queriesOfRank[world.rank].count, vr = assignment.videosOfRank[world.rank].count
        let q = q.reserve(max(qr * d, 1)), q2 = q2.reserve(max(qr * d, 1))
        let C = clips.reserve(max(vr * mapSize * d, 1)), F = frames.reserve(max(vr * d, 1))
        var nonFinite: String?, last: TrainingBatch?
        for m in micro {
            let local = try load(m)
            model.encode(inputs(m, batch: batch, assignment: assignment, local: local), dropout: dropout)
            let qa = m.queries.lowerBound, va = m.videos.lowerBound
            (q + qa * d).update(from: model.queryEncoders[0].output.pointer, count: m.queries.count * d)
            (q2 + qa * d).update(from: model.queryEncoders[1].output.pointer, count: m.queries.count * d)
            (C + va * mapSize * d).update(from: model.clipBranch.output.pointer, count: m.videos.count * mapSize * d)
            (F + va * d).update(from: model.frameBranch.output.pointer, count: m.videos.count * d)
            for (j, v) in local.videos.videos.enumerated() where nonFinite == nil {
                if !Vector.sumOfSquares(F + (va + j) * d, count: d).isFinite {
                    nonFinite = "frame embedding of video '\(videoNames(v))'"
                } else if !Vector.sumOfSquares(C + (va + j) * mapSize * d, count: mapSize * d).isFinite {
                    nonFinite = "clip embedding of video '\(videoNames(v))'"
                }
            }
            last = local
        }
        if nonFinite == nil && (!Vector.sumOfSquares(q, count: qr * d).isFinite || !Vector.sumOfSquares(q2, count: qr * d).isFinite) {
            nonFinite = "query embeddings"
        }
        return (nonFinite, last)
    }

    /// Runs forward, backward and the gradient all-reduce of one step. On return the model's
    /// gradient buffer holds the summed (global) gradient on every rank.
    /// - Parameters:
    ///   - inputs: loads one micro-batch of this rank's share (`MicroBatch.partition` with
    ///     `microBatch`): its videos in share order and their captions. Called in
    ///     `MicroBatch.loadOrder` — pass 1 forwards, pass 2 backwards without the last.
    ///   - videoNames: a video's name by its dataset index (for messages).
    ///
    /// The parameters are the engine's weights for the whole step (their bf16 copy, in bf16, is
    /// made once here: the optimizer has run since the last step).
    public func run(batch: GlobalBatch, assignment: RankAssignment, inputs load: (MicroBatch) throws -> TrainingBatch,
                    videoNames: (Int) -> String, dropout: DropoutContext, sampling: TripletSampling) throws -> Result {
        try model.parameters.asEngineWeights {
            try runStep(batch: batch, assignment: assignment, inputs: load, videoNames: videoNames, dropout: dropout, sampling: sampling)
        }
    }

    private func runStep(batch: GlobalBatch, assignment: RankAssignment, inputs load: (MicroBatch) throws -> TrainingBatch,
                         videoNames: (Int) -> String, dropout: DropoutContext, sampling: TripletSampling) throws -> Result {
        var result = Result()
        let micro = MicroBatch.partition(batch: batch, assignment: assignment, rank: world.rank, size: microBatch)
        model.gradients.zero()
        buckets.beginStep()
        collectives.tally.reset()

        // 1. Local encoding, micro-batch by micro-batch (embeddings kept).
        var t0 = MonotonicClock.now()
        let (nonFinite, last) = try encode(micro, batch: batch, assignment: assignment, inputs: load, dropout: dropout, videoNames: videoNames)
        result.nonFinite = nonFinite
        result.compute += MonotonicClock.now() - t0

        // 2. The loss head over the global batch, forward and backward.
        t0 = MonotonicClock.now()
        result.terms = try head.forward(q: q.pointer, q2: q2.pointer, C: clips.pointer, F: frames.pointer, batch: batch,
                                        assignment: assignment, sampling: sampling, collectives: &collectives)
        try head.backward(q2: q2.pointer, F: frames.pointer, collectives: &collectives)
        let headCommunication = collectives.tally.seconds
        result.head = MonotonicClock.now() - t0 - headCommunication
        result.compute += result.head
        result.communication += headCommunication
        result.headCommunication = headCommunication

        // 3. Backward through the encoders, micro-batches in reverse (the last one's activations
        //    are still those of pass 1); each group's all-reduce starts once the group is final.
        t0 = MonotonicClock.now()
        var starting = 0.0
        func groupDone(_ group: ParameterGroup) throws {
            let t = MonotonicClock.now()
            result.groupLead[group] = t  // the time it became final; a lead once backward ends
            try buckets.markReady(group)
            starting += MonotonicClock.now() - t
        }
        try groupDone(.fusion)
        for (k, m) in micro.enumerated().reversed() {
            let local = k == micro.count - 1 ? last! : try load(m)
            let inputs = inputs(m, batch: batch, assignment: assignment, local: local)
            if k != micro.count - 1 {
                let t = MonotonicClock.now()
                model.encode(inputs, dropout: dropout)
                result.reencode += MonotonicClock.now() - t
            }
            let qa = m.queries.lowerBound, va = m.videos.lowerBound
            try model.backward(inputs, dq: head.dq.pointer + qa * d, dq2: head.dq2.pointer + qa * d,
                               dC: head.dC.pointer + va * mapSize * d, dF: head.dF.pointer + va * d, dropout: dropout,
                               groupDone: k == 0 ? groupDone : { _ in })
        }
        let backwardEnd = MonotonicClock.now()
        result.compute += backwardEnd - t0 - starting
        result.communication += starting
        result.groupLead = result.groupLead.mapValues { backwardEnd - $0 }

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
    public func loss(batch: GlobalBatch, assignment: RankAssignment, inputs load: (MicroBatch) throws -> TrainingBatch,
                     dropout: DropoutContext, sampling: TripletSampling) throws -> LossTerms {
        let micro = MicroBatch.partition(batch: batch, assignment: assignment, rank: world.rank, size: microBatch)
        return try model.parameters.asEngineWeights {
            _ = try encode(micro, batch: batch, assignment: assignment, inputs: load, dropout: dropout, videoNames: { "\($0)" })
            return try head.forward(q: q.pointer, q2: q2.pointer, C: clips.pointer, F: frames.pointer, batch: batch, assignment: assignment,
                                    sampling: sampling, collectives: &collectives)
        }
    }

    private func guarded<R>(_ label: String, _ body: () throws -> R) rethrows -> R {
        guard let watchdog else { return try body() }
        return try watchdog.guarding("rank \(world.rank): \(label)", body)
    }
}
