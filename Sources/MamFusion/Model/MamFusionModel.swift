import TensorKit

/// The whole MamFusion model for training and evaluation (MODEL.md §1–4): parameters and their
/// gradients in flat buffers of `ParameterLayout.mamFusion`, the two query-encoder passes, the
/// clip and frame branches and the loss head.
///
/// The encoders work on packed rows (`SequenceBatch`) and keep their activations for backward;
/// buffers are reused across steps (a step of a shape seen before allocates nothing).
public final class MamFusionModel: @unchecked Sendable {
    public let configuration: RunConfiguration
    public let layout: ParameterLayout
    public let parameters: ParameterSet
    public let gradients: ParameterSet
    /// Pass 0 (q, for the similarities) and pass 1 (q2, for the fusion).
    public let queryEncoders: [QueryEncoder]
    public let clipBranch: VideoBranch
    public let frameBranch: VideoBranch
    public let lossHead: LossHead
    /// Temporaries shared by every layer (see `ScratchArena`).
    public let scratch: ScratchArena

    /// Dropout sites: query passes 0–7, clip branch from 16, frame branch after it.
    public static let clipSite = DropoutSite(16)
    public static let frameSite = DropoutSite(16 + VideoBranch.sitesUsed)

    public init(configuration c: RunConfiguration, parameters: ParameterSet? = nil) {
        configuration = c
        layout = .mamFusion(c.dimensions)
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
        lossHead = LossHead(configuration: c, parameters: values, gradients: grads)
    }

    /// The packed inputs of one batch (or one rank's part of it), in global batch order.
    public struct Inputs: @unchecked Sendable {
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

    /// Back-propagates ∂L/∂q, ∂L/∂q2, ∂L/∂C, ∂L/∂F of this rank's items through the encoders,
    /// accumulating parameter gradients.
    public func backwardEncoders(_ inputs: Inputs, dq: UnsafePointer<Float>, dq2: UnsafePointer<Float>,
                                 dC: UnsafePointer<Float>, dF: UnsafePointer<Float>, dropout: DropoutContext) {
        frameBranch.backward(inputs.frameFeatures, dy: dF, batch: inputs.videos, dropout: dropout)
        clipBranch.backward(inputs.clipFeatures, dy: dC, batch: inputs.clipBatch(mapSize: configuration.mapSize), dropout: dropout)
        queryEncoders[1].backward(inputs.tokenFeatures, dy: dq2, batch: inputs.queries, dropout: dropout)
        queryEncoders[0].backward(inputs.tokenFeatures, dy: dq, batch: inputs.queries, dropout: dropout)
    }

    /// One single-process training forward + backward over a whole batch: gradients are
    /// accumulated into `gradients` (zero them first for a fresh step). Returns the loss terms.
    public func forwardBackward(_ inputs: Inputs, labels: BatchLabels, dropout: DropoutContext, sampling: TripletSampling) -> LossTerms {
        let terms = loss(inputs, labels: labels, dropout: dropout, sampling: sampling)
        lossHead.backward(q: queryEncoders[0].output.pointer, q2: queryEncoders[1].output.pointer,
                          clipEmbeddings: clipBranch.output.pointer, frameEmbeddings: frameBranch.output.pointer, labels: labels)
        backwardEncoders(inputs, dq: lossHead.dq.pointer, dq2: lossHead.dq2.pointer, dC: lossHead.dC.pointer,
                         dF: lossHead.dF.pointer, dropout: dropout)
        return terms
    }

    /// The loss only (forward; keeps activations for a following backward).
    public func loss(_ inputs: Inputs, labels: BatchLabels, dropout: DropoutContext, sampling: TripletSampling) -> LossTerms {
        encode(inputs, dropout: dropout)
        return lossHead.forward(q: queryEncoders[0].output.pointer, q2: queryEncoders[1].output.pointer,
                                clipEmbeddings: clipBranch.output.pointer, frameEmbeddings: frameBranch.output.pointer,
                                labels: labels, sampling: sampling)
    }
}
