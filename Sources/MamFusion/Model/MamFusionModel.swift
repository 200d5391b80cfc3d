import TensorKit

/// The whole model for training and evaluation — MamFusion (MODEL.md §1–4) or its GMMFormer
/// baseline (§10), as `configuration.model` says: parameters and their gradients in flat buffers
/// of the model's `ParameterLayout`, the two query-encoder passes, the clip and frame branches
/// (with or without their Mamba units) and, for MamFusion, the two fusion modules.
///
/// The model owns the order of its passes: `encode` runs the encoders, `backward` runs them in
/// reverse and tells its caller as each `ParameterGroup` becomes final, so that the gradient
/// all-reduce of that group can start while backward goes on. What lies between — the loss head
/// over the global batch, with the fusion modules — is the training step's (it needs the other
/// ranks' embeddings).
///
/// The encoders work on packed rows (`SequenceBatch`) and keep their activations for backward;
/// buffers are reused across steps (a step of a shape seen before allocates nothing).
public final class MamFusionModel {
    public let configuration: RunConfiguration
    public let layout: ParameterLayout
    public let parameters: ParameterSet
    public let gradients: ParameterSet
    /// Pass 0 (q, for the similarities) and pass 1 (q2, for the query-diverse loss — through the
    /// fusion modules in MamFusion, directly in GMMFormer).
    public let queryEncoders: [QueryEncoder]
    public let clipBranch: VideoBranch
    public let frameBranch: VideoBranch
    /// MamFusion's fusion modules (nil for GMMFormer).
    public let fusion: Fusion?
    /// The loss hyper-parameters (MODEL.md §4).
    public let loss: LossConfiguration
    /// Temporaries shared by every layer (see `ScratchArena`).
    public let scratch: ScratchArena

    /// The two fusion modules of MamFusion (MODEL.md §2; training only): `v2t_fusion` (the pooled
    /// frame vectors attend over the second query pass) and `t2v_fusion` (the second query pass
    /// attends over the fused videos).
    public struct Fusion {
        public let videoToText: FusionAttention
        public let textToVideo: FusionAttention

        /// The fusion modules of `c`'s model bound to these buffers, or nil when it has none.
        public init?(configuration c: RunConfiguration, parameters: ParameterSet, gradients: ParameterSet) {
            guard c.model.hasFusion else { return nil }
            videoToText = FusionAttention("v2t_fusion", features: c.hiddenSize, heads: c.heads, parameters: parameters, gradients: gradients)
            textToVideo = FusionAttention("t2v_fusion", features: c.hiddenSize, heads: c.heads, parameters: parameters, gradients: gradients)
        }
    }

    /// Dropout sites: query passes 0–7, clip branch from 16, frame branch after it.
    public static let clipSite = DropoutSite(16)
    public static let frameSite = DropoutSite(16 + VideoBranch.sitesUsed)

    /// Every Mamba unit of the model (none for GMMFormer), for timers and memory reports.
    public var mambaUnits: [MambaBlock] { clipBranch.mambaUnits + frameBranch.mambaUnits }

    public init(configuration c: RunConfiguration, parameters: ParameterSet? = nil) {
        configuration = c
        layout = c.parameterLayout
        let values = parameters ?? ParameterSet(layout: layout)
        precondition(values.layout.bufferCount == layout.bufferCount, "parameters of another configuration")
        let grads = ParameterSet(layout: layout)
        let scratch = ScratchArena()
        self.scratch = scratch
        self.parameters = values
        gradients = grads
        queryEncoders = (0..<2).map { QueryEncoder(configuration: c, site: DropoutSite($0 * QueryEncoder.sitesUsed),
                                                    parameters: values, gradients: grads, scratch: scratch) }
        clipBranch = VideoBranch(.clip, configuration: c, site: Self.clipSite, parameters: values, gradients: grads, scratch: scratch)
        frameBranch = VideoBranch(.frame, configuration: c, site: Self.frameSite, parameters: values, gradients: grads, scratch: scratch)
        fusion = Fusion(configuration: c, parameters: values, gradients: grads)
        loss = LossConfiguration(c)
    }

    /// The packed inputs of one batch (or one rank's part of it), in global batch order.
    public struct Inputs {
        /// Clip inputs, `videos.count · map_size` rows × Dv.
        public var clipFeatures: UnsafePointer<Float>
        /// Frame inputs, Σ frames rows × Dv; `videos` holds the frame counts.
        public var frameFeatures: UnsafePointer<Float>
        public var videos: SequenceBatch
        /// Query token features, Σ tokens rows × Dq; `queries` holds the token counts.
        public var tokenFeatures: UnsafePointer<Float>
        public var queries: SequenceBatch

        public init(clipFeatures: UnsafePointer<Float>, frameFeatures: UnsafePointer<Float>, videos: SequenceBatch,
                    tokenFeatures: UnsafePointer<Float>, queries: SequenceBatch) {
            self.clipFeatures = clipFeatures
            self.frameFeatures = frameFeatures
            self.videos = videos
            self.tokenFeatures = tokenFeatures
            self.queries = queries
        }

        /// The clip sequences (map_size rows each, no padding) of `videos`.
        public func clipBatch(mapSize: Int) -> SequenceBatch {
            SequenceBatch(lengths: Array(repeating: mapSize, count: videos.count), globalIndices: videos.globalIndices, paddedLength: mapSize)
        }
    }

    /// Encodes everything the loss needs: q (pass 0), q2 (pass 1, training only), C and F.
    /// A rank may hold no videos or no queries of a batch (more ranks than videos): those parts
    /// are skipped.
    public func encode(_ inputs: Inputs, dropout: DropoutContext, secondQueryPass: Bool = true) {
        if inputs.queries.count > 0 {
            queryEncoders[0].forward(inputs.tokenFeatures, batch: inputs.queries, dropout: dropout)
            if secondQueryPass { queryEncoders[1].forward(inputs.tokenFeatures, batch: inputs.queries, dropout: dropout) }
        }
        if inputs.videos.count > 0 {
            clipBranch.forward(inputs.clipFeatures, batch: inputs.clipBatch(mapSize: configuration.mapSize), dropout: dropout)
            frameBranch.forward(inputs.frameFeatures, batch: inputs.videos, dropout: dropout)
        }
    }

    /// Back-propagates ∂L/∂q, ∂L/∂q2, ∂L/∂C, ∂L/∂F of `inputs` (the items `encode` last
    /// encoded) through the encoders, accumulating parameter gradients, and calls `groupDone`
    /// as each group's gradients become final: `.frame`, then `.clip`, then `.query` (the query
    /// encoders go last: their input gradients are the last to arrive from the other ranks).
    /// The fusion group is the loss head's, final before this is called.
    public func backward(_ inputs: Inputs, dq: UnsafePointer<Float>, dq2: UnsafePointer<Float>,
                         dC: UnsafePointer<Float>, dF: UnsafePointer<Float>, dropout: DropoutContext,
                         groupDone: (ParameterGroup) throws -> Void) rethrows {
        if inputs.videos.count > 0 {
            frameBranch.backward(inputs.frameFeatures, dy: dF, batch: inputs.videos, dropout: dropout)
        }
        try groupDone(.frame)
        if inputs.videos.count > 0 {
            clipBranch.backward(inputs.clipFeatures, dy: dC, batch: inputs.clipBatch(mapSize: configuration.mapSize), dropout: dropout)
        }
        try groupDone(.clip)
        if inputs.queries.count > 0 {
            queryEncoders[1].backward(inputs.tokenFeatures, dy: dq2, batch: inputs.queries, dropout: dropout)
            queryEncoders[0].backward(inputs.tokenFeatures, dy: dq, batch: inputs.queries, dropout: dropout)
        }
        try groupDone(.query)
    }
}
