import TensorKit

/// The clip branch or the frame branch of the video encoder (MODEL.md §2):
/// `<kind>_input_proj` → `<kind>_pos_embed` → GMMBlock → Mamba unit → GMMBlock → Mamba unit,
/// and for frames attention pooling with `modular_vector_mapping_2`.
///
/// - Clip branch: 32 clips per video, no mask; output C (videos × 32 × d), packed.
/// - Frame branch: each video's valid frames; the Gaussian uses the batch's padded length;
///   output F (videos × d).
public final class VideoBranch: @unchecked Sendable {
    public enum Kind: Sendable { case clip, frame }
    public let kind: Kind
    public let projection: InputProjection
    public let positions: PositionalEncoding
    public let block1: GMMBlock
    public let mamba1: MambaBlock
    public let block2: GMMBlock
    public let mamba2: MambaBlock
    public let pooling: AttentionPooling?
    public let features: Int
    let gradientA = ActivationBuffer(), gradientB = ActivationBuffer()

    public static let sitesUsed = 2 + 2 * GMMBlock.sitesUsed

    public init(_ kind: Kind, configuration c: RunConfiguration, site: DropoutSite, parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena) {
        self.kind = kind
        let d = c.hiddenSize, dims = c.dimensions
        features = d
        let names: (input: String, pos: String, block1: String, mamba1: String, block2: String, mamba2: String)
        switch kind {
        case .clip: names = ("clip_input_proj", "clip_pos_embed", "clip_encoder", "clip_encoder_mamba", "clip_encoder_2", "clip_encoder_2_mamba")
        case .frame: names = ("frame_input_proj", "frame_pos_embed", "frame_encoder_1", "frame_encoder_1_mamba", "frame_encoder_2", "frame_encoder_2_mamba")
        }
        projection = InputProjection(names.input, inFeatures: c.visualFeatureSize, outFeatures: d, rate: c.inputDropout,
                                     site: site, parameters: parameters, gradients: gradients, scratch: scratch)
        positions = PositionalEncoding(names.pos, features: d, maxPositions: c.maxContextLength, rate: c.inputDropout,
                                       site: site.offset(1), parameters: parameters, gradients: gradients, scratch: scratch)
        block1 = GMMBlock(names.block1, features: d, heads: c.heads, rate: c.dropout, site: site.offset(2),
                          parameters: parameters, gradients: gradients, scratch: scratch)
        mamba1 = MambaBlock(names.mamba1, dimensions: dims, parameters: parameters, gradients: gradients, scratch: scratch)
        block2 = GMMBlock(names.block2, features: d, heads: c.heads, rate: c.dropout, site: site.offset(2 + GMMBlock.sitesUsed),
                          parameters: parameters, gradients: gradients, scratch: scratch)
        mamba2 = MambaBlock(names.mamba2, dimensions: dims, parameters: parameters, gradients: gradients, scratch: scratch)
        pooling = kind == .frame ? AttentionPooling("modular_vector_mapping_2", features: d, parameters: parameters, gradients: gradients) : nil
    }

    /// The branch output: packed per-row features (clip) or pooled vectors (frame).
    public var output: ActivationBuffer { pooling?.output ?? mamba2.output }

    /// features: packed visual features (batch.rows × Dv).
    public func forward(_ features: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        projection.forward(features, batch: batch, dropout: dropout)
        positions.forward(projection.output.pointer, batch: batch, dropout: dropout)
        block1.forward(positions.output.pointer, batch: batch, dropout: dropout)
        mamba1.forward(block1.output.pointer, batch: batch)
        block2.forward(mamba1.output.pointer, batch: batch, dropout: dropout)
        mamba2.forward(block2.output.pointer, batch: batch)
        pooling?.forward(mamba2.output.pointer, batch: batch)
    }

    /// Accumulates parameter gradients from dy = ∂L/∂output.
    public func backward(_ features: UnsafePointer<Float>, dy: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        let n = batch.rows * self.features
        // Gradients flow down the stack alternating between two buffers: each layer reads the
        // one written by the layer above and accumulates into the other (zeroed first).
        let buffers = [gradientA, gradientB]
        var turn = 0
        func fresh() -> UnsafeMutablePointer<Float> {
            defer { turn ^= 1 }
            return buffers[turn].zeroed(n)
        }
        var upstream = dy
        if let pooling {
            let g = fresh()
            pooling.backward(mamba2.output.pointer, dy: upstream, dx: g, batch: batch)
            upstream = UnsafePointer(g)
        }
        var g = fresh()
        mamba2.backward(dy: upstream, dx: g, batch: batch)
        upstream = UnsafePointer(g); g = fresh()
        block2.backward(mamba1.output.pointer, dy: upstream, dx: g, batch: batch, dropout: dropout)
        upstream = UnsafePointer(g); g = fresh()
        mamba1.backward(dy: upstream, dx: g, batch: batch)
        upstream = UnsafePointer(g); g = fresh()
        block1.backward(positions.output.pointer, dy: upstream, dx: g, batch: batch, dropout: dropout)
        upstream = UnsafePointer(g); g = fresh()
        positions.backward(dy: upstream, dx: g, batch: batch, dropout: dropout)
        projection.backward(features, dy: g, batch: batch, dropout: dropout)
    }
}
