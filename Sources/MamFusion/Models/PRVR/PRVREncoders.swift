import FeatureData
import TensorKit

/// The encoders of the PRVR models (MODEL.md §2; MS-SL, GMMFormer, MamFusion): two passes of the
/// query encoder (q for the similarities, q2 for the query-diverse loss; each its own activations
/// and dropout sites, shared parameters), the clip branch and the frame branch — with whatever
/// layer the model puts after each GMMBlock (`afterBlock`: MamFusion's Mamba units).
///
/// It owns the order of its passes (`PRVRModel` forwards the model's calls here): `encode` runs
/// the encoders, `backward` runs them in reverse and declares the groups final as it goes —
/// `frame`, then `clip`, then `query` (the query encoders go last: their input gradients are the
/// last to arrive from the other ranks).
///
/// The encoders work on packed rows (`SequenceBatch`) and keep their activations for backward;
/// buffers are reused across steps (a step of a shape seen before allocates nothing).
public final class PRVREncoders {
    public let configuration: RunConfiguration
    public let parameters: ParameterSet
    public let gradients: ParameterSet
    /// Pass 0 (q, for the similarities) and pass 1 (q2, for the query-diverse loss).
    public let queryEncoders: [QueryEncoder]
    public let clipBranch: VideoBranch
    public let frameBranch: VideoBranch
    /// Temporaries shared by every layer (see `ScratchArena`).
    public let scratch: ScratchArena
    /// What `encode` writes: q and q2 per query (d each), C (Mc·d) and F (d) per video.
    public let embeddings: EmbeddingLayout
    public let slots: Slots
    public let partTimes = PartTimes()

    /// The PRVR embedding slots.
    public struct Slots: Sendable {
        public let q, q2, clips, frame: EmbeddingLayout.Slot
    }

    /// Dropout sites: query passes 0–7, clip branch from 16, frame branch after it.
    public static let clipSite = DropoutSite(16)
    public static let frameSite = DropoutSite(16 + VideoBranch.sitesUsed)

    /// - Parameter afterBlock: the layer that follows the GMMBlock of this name (bound to these
    ///   parameters, gradients and scratch), if any.
    public init(configuration c: RunConfiguration, parameters: ParameterSet,
                afterBlock: (String, ParameterSet, ParameterSet, ScratchArena) -> (any SequenceLayer)? = { _, _, _, _ in nil }) {
        precondition(parameters.layout.bufferCount == c.parameterLayout.bufferCount, "parameters of another configuration")
        configuration = c
        self.parameters = parameters
        let gradients = ParameterSet(layout: parameters.layout)
        self.gradients = gradients
        let scratch = ScratchArena()
        self.scratch = scratch
        queryEncoders = (0..<2).map { QueryEncoder(configuration: c, site: DropoutSite($0 * QueryEncoder.sitesUsed),
                                                    parameters: parameters, gradients: gradients, scratch: scratch) }
        let unit = { (name: String) in afterBlock(name, parameters, gradients, scratch) }
        clipBranch = VideoBranch(.clip, configuration: c, site: Self.clipSite, parameters: parameters, gradients: gradients, scratch: scratch,
                                 afterBlock: unit)
        frameBranch = VideoBranch(.frame, configuration: c, site: Self.frameSite, parameters: parameters, gradients: gradients, scratch: scratch,
                                  afterBlock: unit)
        var layout = EmbeddingLayout()
        let d = c.hiddenSize
        slots = Slots(q: layout.add("q", .query, width: d), q2: layout.add("q2", .query, width: d),
                      clips: layout.add("clip", .video, width: c.mapSize * d), frame: layout.add("frame", .video, width: d))
        embeddings = layout
    }

    /// The clip sequences (map_size rows each, no padding) of `videos`.
    func clipBatch(_ videos: SequenceBatch) -> SequenceBatch {
        SequenceBatch(lengths: Array(repeating: configuration.mapSize, count: videos.count), globalIndices: videos.globalIndices,
                      paddedLength: configuration.mapSize)
    }

    /// q (pass 0), q2 (pass 1), C and F of one micro-batch into `slots`. A micro-batch may hold
    /// no videos or no queries (more ranks than videos): those parts are skipped.
    public func encode(_ batch: EncoderBatch, into slots: EmbeddingWindow, dropout: DropoutContext) {
        let d = configuration.hiddenSize, inputs = batch.inputs
        if batch.queries.count > 0 {
            partTimes.measure("text") {
                for (encoder, slot) in zip(queryEncoders, [self.slots.q, self.slots.q2]) {
                    encoder.forward(inputs.queries.tokens.base, batch: batch.queries, dropout: dropout)
                    slots.pointer(slot).update(from: encoder.output.pointer, count: batch.queries.count * d)
                }
            }
        }
        if batch.videos.count > 0 {
            partTimes.measure("clip") {
                clipBranch.forward(inputs.videos.clip.base, batch: clipBatch(batch.videos), dropout: dropout)
                slots.pointer(self.slots.clips).update(from: clipBranch.output.pointer, count: batch.videos.count * configuration.mapSize * d)
            }
            partTimes.measure("frame") {
                frameBranch.forward(inputs.videos.frames.base, batch: batch.videos, dropout: dropout)
                slots.pointer(self.slots.frame).update(from: frameBranch.output.pointer, count: batch.videos.count * d)
            }
        }
    }

    /// Back-propagates ∂L/∂q, ∂L/∂q2, ∂L/∂C, ∂L/∂F (`slots`) of the micro-batch `encode` last
    /// encoded through the encoders, accumulating parameter gradients; declares `.frame`, then
    /// `.clip`, then `.query` final.
    public func backward(_ batch: EncoderBatch, from slots: EmbeddingWindow, dropout: DropoutContext,
                         groupDone: (ParameterGroup) throws -> Void) rethrows {
        let inputs = batch.inputs
        if batch.videos.count > 0 {
            partTimes.measure("frame") {
                frameBranch.backward(inputs.videos.frames.base, dy: slots.pointer(self.slots.frame), batch: batch.videos, dropout: dropout)
            }
        }
        try groupDone(.frame)
        if batch.videos.count > 0 {
            partTimes.measure("clip") {
                clipBranch.backward(inputs.videos.clip.base, dy: slots.pointer(self.slots.clips), batch: clipBatch(batch.videos), dropout: dropout)
            }
        }
        try groupDone(.clip)
        if batch.queries.count > 0 {
            partTimes.measure("text") {
                queryEncoders[1].backward(inputs.queries.tokens.base, dy: slots.pointer(self.slots.q2), batch: batch.queries, dropout: dropout)
                queryEncoders[0].backward(inputs.queries.tokens.base, dy: slots.pointer(self.slots.q), batch: batch.queries, dropout: dropout)
            }
        }
        try groupDone(.query)
    }

    /// Evaluation: the clip embeddings (Mc per video) and the pooled frame vector of a chunk of
    /// videos, no dropout, padded to `batch.paddedLength`.
    public func encodeForEvaluation(videos: VideoInputs, batch: SequenceBatch, clips: UnsafeMutablePointer<Float>,
                                    frames: UnsafeMutablePointer<Float>) {
        let d = configuration.hiddenSize
        clipBranch.forward(videos.clip.base, batch: clipBatch(batch), dropout: .disabled)
        frameBranch.forward(videos.frames.base, batch: batch, dropout: .disabled)
        clips.update(from: clipBranch.output.pointer, count: batch.count * configuration.mapSize * d)
        frames.update(from: frameBranch.output.pointer, count: batch.count * d)
    }

    /// Evaluation: q of a batch of queries (the first pass; no dropout, no second pass, no fusion).
    public func encodeForEvaluation(queries: QueryInputs, batch: SequenceBatch, into output: UnsafeMutablePointer<Float>) {
        queryEncoders[0].forward(queries.tokens.base, batch: batch, dropout: .disabled)
        output.update(from: queryEncoders[0].output.pointer, count: batch.count * configuration.hiddenSize)
    }
}
