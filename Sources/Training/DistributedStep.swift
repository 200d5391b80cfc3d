import FeatureData
import MamFusion
import MPIKit
import TensorKit

/// One data-parallel training step over a global batch (DISTRIBUTED.md §1–4), for any
/// `TrainableModel`:
///
///     encode → sharded loss head (forward, backward) → model backward → gradient all-reduce → update
///
/// 1. each rank encodes its share of the videos and their captions (`TrainableModel.encode`;
///    dropout keyed by global positions, videos padded to the global batch's longest) into the
///    step's embedding buffers;
/// 2. the model's `ShardedHead` computes the loss of the global batch in shards and returns
///    ∂L/∂ of this rank's own embeddings; the head's own parameter groups (MamFusion's fusion) are
///    final then;
/// 3. backward runs through the local encoders (`TrainableModel.backward`), which declares each
///    parameter group final as it goes; that group's gradient all-reduce (sum) starts at once and
///    overlaps the rest of backward (`GradientBuckets`);
/// 4. `update()` applies the optimiser to the summed gradient — the one place a step changes the
///    parameters (the trainer calls it after every rank agreed the step is healthy).
///
/// **Micro-batches** (`micro_batch`, DISTRIBUTED.md §3b). The head needs every embedding of the
/// global batch at once, not the activations behind them. With micro-batches of N videos, pass 1
/// encodes the rank's share N videos (and their captions) at a time, keeping only the embeddings;
/// the head runs once; pass 2 goes back over the micro-batches in reverse order, encoding each
/// again with activations — the same dropout masks (keyed by global position) and the same padded
/// length, so the same embeddings — and running backward with its slice of the embedding
/// gradients, accumulating the parameter gradients. The last micro-batch of pass 1 is the first of
/// pass 2 and its activations are still there: it is not encoded twice. The encoders' groups are
/// declared final after the last micro-batch's backward. Memory: one micro-batch's activations
/// plus the head's.
///
/// One code path for every world size and every caller — training, `bench model`, the gradient
/// checks: on one rank the collectives are identities.
public final class DistributedStep {
    public let model: any TrainableModel
    public let world: any World
    public let buckets: GradientBuckets
    public let head: any ShardedHead
    /// The optimiser and its moments (`update()`).
    public let optimizer: OptimizerState
    /// Guards this step's blocking collectives (set by the trainer).
    public var watchdog: CollectiveWatchdog? {
        get { collectives.watchdog }
        set { collectives.watchdog = newValue }
    }
    var collectives: StepCollectives
    /// This rank's embeddings, assembled micro-batch by micro-batch, and their gradients from the head.
    public let embeddings: EmbeddingBuffers
    public let embeddingGradients: EmbeddingBuffers

    /// What a step produced, for logging and failure handling.
    public struct Result: Sendable {
        public var terms = LossTerms()
        /// Seconds: local encoding, loss head and backward (compute); inside collectives and
        /// starting all-reduces (communication); waiting for the all-reduce after backward (wait).
        public var compute = 0.0, communication = 0.0, wait = 0.0
        /// Of `compute`: the first encoding pass, and backward (re-encoding included).
        public var encode = 0.0, backward = 0.0
        /// The loss head's compute seconds (forward and backward, its collectives excluded).
        public var head = 0.0
        /// Seconds spent encoding micro-batches a second time (0 without micro-batches).
        public var reencode = 0.0
        /// Time the gradient all-reduce was in flight (from its first bucket to the end).
        public var allreduceInFlight = 0.0
        /// The part of `communication` inside the head's collectives (the rest: starting
        /// all-reduces and finishing them).
        /// Useful FLOPs of this rank's encoders, forward and backward (the step's FLOPs: the ranks'
        /// sum plus the head's, `TrainableModel.flops`).
        public var encoderFlops = 0.0
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

    public init(model: any TrainableModel, world: any World, bucketBytes: Int, optimizer: OptimizerState? = nil) {
        self.model = model
        self.world = world
        buckets = GradientBuckets(gradients: model.gradients, world: world, maxBytes: bucketBytes)
        head = model.makeHead()
        self.optimizer = optimizer ?? OptimizerState(configuration: model.configuration, layout: model.parameters.layout, totalSteps: 1)
        collectives = StepCollectives(world: world)
        embeddings = EmbeddingBuffers(model.embeddings)
        embeddingGradients = EmbeddingBuffers(model.embeddings)
    }

    /// Pass 1: encodes every micro-batch into `embeddings`; returns the last micro-batch's
    /// encoder batch (its activations are still there).
    private func encode(_ plan: StepPlan, inputs load: (MicroBatch) throws -> TrainingBatch, dropout: DropoutContext) throws -> EncoderBatch? {
        embeddings.reserve(queries: plan.ownQueryCount, videos: plan.ownVideoCount)
        var last: EncoderBatch?
        encoderFlops = 0
        for m in plan.microBatches {
            let batch = plan.encoderBatch(m, inputs: try load(m))
            model.encode(batch, into: embeddings.window(firstQuery: m.queries.lowerBound, firstVideo: m.videos.lowerBound), dropout: dropout)
            let flops = model.flops(frames: batch.inputs.videos.frameLengths, tokens: batch.inputs.queries.tokenLengths, pass: .trainingStep)
            encoderFlops += flops.videos + flops.queries
            last = batch
        }
        return last
    }

    /// Useful FLOPs of the last step's encoders on this rank (forward and backward, valid rows).
    private var encoderFlops = 0.0

    /// Where this rank's first non-finite embedding is, if any: "<slot> embedding of video 'name'"
    /// or "<slot> embedding of query #i".
    private func firstNonFiniteEmbedding(_ plan: StepPlan, videoNames: (Int) -> String) -> String? {
        guard let (slot, row) = embeddings.firstNonFinite() else { return nil }
        if slot.side == .video {
            return "\(slot.name) embedding of video '\(videoNames(plan.batch.videos[plan.assignment.videosOfRank[plan.rank][row]]))'"
        }
        return "\(slot.name) embedding of query #\(plan.batch.queries[plan.assignment.queriesOfRank[plan.rank][row]])"
    }

    /// Runs forward, backward and the gradient all-reduce of one step. On return the model's
    /// gradient buffer holds the summed (global) gradient on every rank; `update()` applies it.
    /// - Parameters:
    ///   - plan: the step's batch, split and micro-batches (`StepPlan`).
    ///   - inputs: the loaded inputs of one micro-batch of the plan (`StepPlan.load`), asked for in
    ///     `plan.loadOrder` — pass 1 forwards, pass 2 backwards without the last.
    ///   - videoNames: a video's name by its dataset index (for messages).
    ///   - key: what the step's random draws are keyed by.
    ///
    /// The parameters are the matrix engine's weights for the whole step: in bf16 their rounded
    /// copy is made once here (`update()` has run since the last step).
    public func run(_ plan: StepPlan, inputs load: (MicroBatch) throws -> TrainingBatch, videoNames: (Int) -> String,
                    key: StepKey) throws -> Result {
        try model.parameters.asEngineWeights { try runStep(plan, inputs: load, videoNames: videoNames, key: key) }
    }

    private func runStep(_ plan: StepPlan, inputs load: (MicroBatch) throws -> TrainingBatch, videoNames: (Int) -> String,
                         key: StepKey) throws -> Result {
        var result = Result()
        let micro = plan.microBatches, dropout = key.dropout
        model.gradients.zero()
        model.partTimes.reset()
        buckets.beginStep()
        collectives.tally.reset()

        // 1. Local encoding, micro-batch by micro-batch (embeddings kept).
        var t0 = MonotonicClock.now()
        let last = try encode(plan, inputs: load, dropout: dropout)
        result.nonFinite = firstNonFiniteEmbedding(plan, videoNames: videoNames)
        result.encoderFlops = encoderFlops
        result.encode = MonotonicClock.now() - t0
        result.compute += result.encode

        // 2. The loss head over the global batch, forward and backward.
        t0 = MonotonicClock.now()
        result.terms = try head.forward(embeddings, batch: plan.batch, assignment: plan.assignment, key: key, collectives: &collectives)
        try head.backward(embeddings, into: embeddingGradients, collectives: &collectives)
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
        for group in head.parameterGroups { try groupDone(group) }
        for (k, m) in micro.enumerated().reversed() {
            let batch = k == micro.count - 1 ? last! : plan.encoderBatch(m, inputs: try load(m))
            let window = embeddings.window(firstQuery: m.queries.lowerBound, firstVideo: m.videos.lowerBound)
            if k != micro.count - 1 {
                let t = MonotonicClock.now()
                model.encode(batch, into: window, dropout: dropout)
                result.reencode += MonotonicClock.now() - t
            }
            try model.backward(batch, from: embeddingGradients.window(firstQuery: m.queries.lowerBound, firstVideo: m.videos.lowerBound),
                               dropout: dropout, groupDone: k == 0 ? groupDone : { _ in })
        }
        let backwardEnd = MonotonicClock.now()
        result.backward = backwardEnd - t0 - starting
        result.compute += result.backward
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

    /// Applies the optimiser to the summed gradient of the last `run` (identical on every rank,
    /// so the parameters stay bit-identical): the one place a step changes the parameters.
    public func update() {
        optimizer.rule.update(parameters: model.parameters, gradients: model.gradients, expAvg: optimizer.expAvg, expAvgSq: optimizer.expAvgSq)
    }

    /// The loss of one global batch through the same path as `run` (encode, then the sharded
    /// head's forward), without backward: what gradient checks of the training path evaluate.
    public func loss(_ plan: StepPlan, inputs load: (MicroBatch) throws -> TrainingBatch, key: StepKey) throws -> LossTerms {
        try model.parameters.asEngineWeights {
            _ = try encode(plan, inputs: load, dropout: key.dropout)
            return try head.forward(embeddings, batch: plan.batch, assignment: plan.assignment, key: key, collectives: &collectives)
        }
    }

    private func guarded<R>(_ label: String, _ body: () throws -> R) rethrows -> R {
        guard let watchdog else { return try body() }
        return try watchdog.guarding("rank \(world.rank): \(label)", body)
    }
}
