import FeatureData
import MamFusion
import MPIKit
import TensorKit

/// One data-parallel training step over a global batch (DISTRIBUTED.md §1–4):
/// 1. each rank encodes its share of the videos and their captions (dropout keyed by global
///    positions, the frame branch padded to the global batch's longest video);
/// 2. the pooled queries of both passes and the clip/frame embeddings are all-gathered and put
///    in global order, so every rank holds exactly what a single process would;
/// 3. every rank computes the loss head (similarities, fusion, all loss terms, hardest negatives
///    over the global batch) redundantly — the same numbers on every rank — and takes the exact
///    gradient of the global loss with respect to its own embeddings;
/// 4. backward runs through the local encoders; each gradient bucket's all-reduce (sum) starts as
///    soon as its tensors are final. The fusion modules, computed redundantly, keep their
///    gradient on rank 0 only, so they count once.
///
/// Communication per step: two all-gathers (Q·2d and V·(Mc + 1)·d floats in total) and the
/// gradient all-reduce (the flat buffer, in buckets).
public final class DistributedStep: @unchecked Sendable {
    public let model: MamFusionModel
    public let world: Communicator
    public let buckets: GradientBuckets
    /// Guards this step's blocking collectives (set by the trainer).
    public var watchdog: CollectiveWatchdog?
    let d: Int, mapSize: Int
    // Local ↔ global staging (reused across steps).
    let sendQueries = ActivationBuffer(), sendVideos = ActivationBuffer()
    let gatheredQueries = ActivationBuffer(), gatheredVideos = ActivationBuffer()
    let globalQ = ActivationBuffer(), globalQ2 = ActivationBuffer(), globalC = ActivationBuffer(), globalF = ActivationBuffer()
    let localDq = ActivationBuffer(), localDq2 = ActivationBuffer(), localDC = ActivationBuffer(), localDF = ActivationBuffer()

    /// What a step produced, for logging and failure handling.
    public struct Result: Sendable {
        public var terms: LossTerms
        /// Seconds: local encoding + backward + loss head (compute), inside collectives
        /// (communication: gathers plus starting all-reduces), and waiting for the all-reduce after
        /// backward (wait).
        public var compute = 0.0, communication = 0.0, wait = 0.0
        /// Time the gradient all-reduce was in flight (overlapping backward).
        public var allreduceInFlight = 0.0
        /// A non-finite value this rank produced: where (e.g. "frame embedding of video 'v12'" or a
        /// gradient tensor name), if any.
        public var nonFinite: String?
    }

    public init(model: MamFusionModel, world: Communicator, bucketBytes: Int) {
        self.model = model
        self.world = world
        d = model.configuration.hiddenSize
        mapSize = model.configuration.mapSize
        buckets = GradientBuckets(gradients: model.gradients, world: world, maxBytes: bucketBytes)
    }

    /// Runs forward, backward and the gradient all-reduce of one step. On return the model's
    /// gradient buffer holds the summed (global) gradient on every rank.
    /// - Parameters:
    ///   - local: this rank's loaded inputs: videos = the batch's `assignment.videosOfRank[rank]`
    ///     (in that order), queries = `assignment.queriesOfRank[rank]`.
    public func run(batch: GlobalBatch, assignment: RankAssignment, local: TrainingBatch, videoNames: (Int) -> String,
                    dropout: DropoutContext, sampling: TripletSampling) throws -> Result {
        let rank = world.rank, P = world.size
        let myVideos = assignment.videosOfRank[rank], myQueries = assignment.queriesOfRank[rank]
        let V = batch.videoCount, Q = batch.queryCount, mc = mapSize
        var result = Result(terms: LossTerms(clipNCE: 0, clipTriplet: 0, frameNCE: 0, frameTriplet: 0, queryDiverse: 0))
        let videoBatch = SequenceBatch(lengths: local.videos.frameLengths, globalIndices: myVideos, paddedLength: batch.paddedLength)
        let queryBatch = SequenceBatch(lengths: local.queries.tokenLengths, globalIndices: myQueries)
        let inputs = MamFusionModel.Inputs(clipFeatures: local.videos.clip.base, frameFeatures: local.videos.frames.base,
                                           videos: videoBatch, tokenFeatures: local.queries.tokens.base, queries: queryBatch)
        model.gradients.zero()
        buckets.beginStep()

        // 1. Local encoding.
        var t0 = MonotonicClock.now()
        model.encode(inputs, dropout: dropout)
        let vr = myVideos.count, qr = myQueries.count
        let q = model.queryEncoders[0].output.pointer, q2 = model.queryEncoders[1].output.pointer
        let C = model.clipBranch.output.pointer, F = model.frameBranch.output.pointer
        result.nonFinite = firstNonFinite(q: q, q2: q2, C: C, F: F, queries: qr, videos: vr,
                                          videoName: { videoNames(local.videos.videos[$0]) })
        result.compute += MonotonicClock.now() - t0

        // 2. Gather into global order: per query [q | q2], per video [C (Mc·d) | F (d)].
        t0 = MonotonicClock.now()
        let perQuery = 2 * d, perVideo = (mc + 1) * d
        let sq = sendQueries.reserve(max(qr * perQuery, 1)), sv = sendVideos.reserve(max(vr * perVideo, 1))
        for i in 0..<qr {
            (sq + i * perQuery).update(from: q + i * d, count: d)
            (sq + i * perQuery + d).update(from: q2 + i * d, count: d)
        }
        for i in 0..<vr {
            (sv + i * perVideo).update(from: C + i * mc * d, count: mc * d)
            (sv + i * perVideo + mc * d).update(from: F + i * d, count: d)
        }
        let gq = gatheredQueries.reserve(Q * perQuery), gv = gatheredVideos.reserve(V * perVideo)
        if P == 1 {
            gq.update(from: sq, count: Q * perQuery)
            gv.update(from: sv, count: V * perVideo)
        } else {
            try guarded("the embedding all-gather") {
                try world.allgatherv(UnsafeBufferPointer(start: sq, count: qr * perQuery), into: UnsafeMutableBufferPointer(start: gq, count: Q * perQuery),
                                     counts: assignment.queriesOfRank.map { $0.count * perQuery })
                try world.allgatherv(UnsafeBufferPointer(start: sv, count: vr * perVideo), into: UnsafeMutableBufferPointer(start: gv, count: V * perVideo),
                                     counts: assignment.videosOfRank.map { $0.count * perVideo })
            }
        }
        result.communication += MonotonicClock.now() - t0
        t0 = MonotonicClock.now()
        let GQ = globalQ.reserve(Q * d), GQ2 = globalQ2.reserve(Q * d), GC = globalC.reserve(V * mc * d), GF = globalF.reserve(V * d)
        var row = 0
        for owned in assignment.queriesOfRank {
            for g in owned {
                (GQ + g * d).update(from: gq + row * perQuery, count: d)
                (GQ2 + g * d).update(from: gq + row * perQuery + d, count: d)
                row += 1
            }
        }
        row = 0
        for owned in assignment.videosOfRank {
            for g in owned {
                (GC + g * mc * d).update(from: gv + row * perVideo, count: mc * d)
                (GF + g * d).update(from: gv + row * perVideo + mc * d, count: d)
                row += 1
            }
        }

        // 3. The loss over the global batch, on every rank.
        let labels = try BatchLabels(queriesPerVideo: batch.queriesPerVideo)
        let head = model.lossHead
        result.terms = head.forward(q: GQ, q2: GQ2, clipEmbeddings: GC, frameEmbeddings: GF, labels: labels, sampling: sampling)
        head.backward(q: GQ, q2: GQ2, clipEmbeddings: GC, frameEmbeddings: GF, labels: labels)
        if rank != 0 {
            // The fusion modules ran identically on every rank: their gradient counts once.
            for spec in model.layout.specs where spec.name.hasPrefix("v2t_fusion.") || spec.name.hasPrefix("t2v_fusion.") {
                model.gradients.tensor(spec).fill(0)
            }
        }
        // This rank's slices of ∂L/∂(q, q2, C, F), in local order.
        let dq = localDq.reserve(max(qr * d, 1)), dq2 = localDq2.reserve(max(qr * d, 1))
        let dC = localDC.reserve(max(vr * mc * d, 1)), dF = localDF.reserve(max(vr * d, 1))
        for (i, g) in myQueries.enumerated() {
            (dq + i * d).update(from: head.dq.pointer + g * d, count: d)
            (dq2 + i * d).update(from: head.dq2.pointer + g * d, count: d)
        }
        for (i, g) in myVideos.enumerated() {
            (dC + i * mc * d).update(from: head.dC.pointer + g * mc * d, count: mc * d)
            (dF + i * d).update(from: head.dF.pointer + g * d, count: d)
        }
        result.compute += MonotonicClock.now() - t0

        // 4. Backward, module by module, starting each bucket's all-reduce as it completes.
        func ready(_ prefixes: [String]) throws {
            let t = MonotonicClock.now()
            try buckets.markReady { spec in spec.kind.isUnused || prefixes.contains { spec.name.hasPrefix($0) } }
            result.communication += MonotonicClock.now() - t
        }
        t0 = MonotonicClock.now()
        try ready(["v2t_fusion.", "t2v_fusion."])
        if vr > 0 {
            model.frameBranch.backward(inputs.frameFeatures, dy: dF, batch: videoBatch, dropout: dropout)
        }
        try ready(["frame_", "modular_vector_mapping_2."])
        if vr > 0 {
            model.clipBranch.backward(inputs.clipFeatures, dy: dC, batch: inputs.clipBatch(mapSize: mc), dropout: dropout)
        }
        try ready(["clip_"])
        if qr > 0 {
            model.queryEncoders[1].backward(inputs.tokenFeatures, dy: dq2, batch: queryBatch, dropout: dropout)
            model.queryEncoders[0].backward(inputs.tokenFeatures, dy: dq, batch: queryBatch, dropout: dropout)
        }
        result.compute += MonotonicClock.now() - t0
        t0 = MonotonicClock.now()
        try guarded("the gradient all-reduce") { try buckets.finish() }
        result.wait = buckets.waitSeconds
        result.communication += MonotonicClock.now() - t0 - result.wait
        result.allreduceInFlight = buckets.inFlightSeconds
        if result.nonFinite == nil, let tensor = buckets.firstNonFinite { result.nonFinite = "gradient of \(tensor)" }
        return result
    }

    private func guarded<R>(_ label: String, _ body: () throws -> R) rethrows -> R {
        guard let watchdog else { return try body() }
        return try watchdog.guarding("rank \(world.rank): \(label)", body)
    }

    private func firstNonFinite(q: UnsafePointer<Float>, q2: UnsafePointer<Float>, C: UnsafePointer<Float>, F: UnsafePointer<Float>,
                                queries: Int, videos: Int, videoName: (Int) -> String) -> String? {
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
