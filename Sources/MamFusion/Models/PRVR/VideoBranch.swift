import TensorKit

/// The clip branch or the frame branch of the video encoder (MODEL.md §2, §10):
/// `<kind>_input_proj` → `<kind>_pos_embed` → GMMBlock → (the model's layer) → GMMBlock → (the
/// model's layer), and for frames attention pooling with `modular_vector_mapping_2`. What follows
/// each GMMBlock is the model's choice (`afterBlock`): a Mamba unit in MamFusion, nothing in
/// GMMFormer.
///
/// - Clip branch: 32 clips per video, no mask; output C (videos × 32 × d), packed.
/// - Frame branch: each video's valid frames; the Gaussian uses the batch's padded length;
///   output F (videos × d).
///
/// The layers between the positional encoding and the pooling are one `stack` of
/// `SequenceLayer`s, so every model runs the same forward and backward.
public final class VideoBranch {
    public enum Kind: Sendable { case clip, frame }
    public let kind: Kind
    public let projection: InputProjection
    public let positions: PositionalEncoding
    public let block1: GMMBlock
    public let block2: GMMBlock
    public let pooling: AttentionPooling?
    public let features: Int
    /// block1, what follows it, block2, what follows it — in forward order.
    let stack: [any SequenceLayer]
    let gradientA = ActivationBuffer(), gradientB = ActivationBuffer()

    public static let sitesUsed = 2 + 2 * GMMBlock.sitesUsed

    /// The GMMBlock names of a branch (`clip_encoder`, `clip_encoder_2`; `frame_encoder_1`,
    /// `frame_encoder_2`): what a model's layers after them are named after.
    public static func blockNames(_ kind: Kind) -> [String] {
        kind == .clip ? ["clip_encoder", "clip_encoder_2"] : ["frame_encoder_1", "frame_encoder_2"]
    }

    /// - Parameter afterBlock: the layer that follows the GMMBlock of this name, if any.
    public init(_ kind: Kind, configuration c: RunConfiguration, site: DropoutSite, parameters: ParameterSet, gradients: ParameterSet,
                scratch: ScratchArena, afterBlock: (String) -> (any SequenceLayer)? = { _ in nil }) {
        self.kind = kind
        let d = c.hiddenSize
        features = d
        let prefix = kind == .clip ? "clip" : "frame", blocks = Self.blockNames(kind)
        projection = InputProjection("\(prefix)_input_proj", inFeatures: c.visualFeatureSize, outFeatures: d, rate: c.inputDropout,
                                     site: site, parameters: parameters, gradients: gradients, scratch: scratch)
        positions = PositionalEncoding("\(prefix)_pos_embed", features: d, maxPositions: c.maxContextLength, rate: c.inputDropout,
                                       site: site.offset(1), parameters: parameters, gradients: gradients, scratch: scratch)
        block1 = GMMBlock(blocks[0], features: d, heads: c.heads, rate: c.dropout, site: site.offset(2),
                          parameters: parameters, gradients: gradients, scratch: scratch)
        block2 = GMMBlock(blocks[1], features: d, heads: c.heads, rate: c.dropout, site: site.offset(2 + GMMBlock.sitesUsed),
                          parameters: parameters, gradients: gradients, scratch: scratch)
        stack = [block1, afterBlock(blocks[0]), block2, afterBlock(blocks[1])].compactMap { $0 }
        pooling = kind == .frame ? AttentionPooling("modular_vector_mapping_2", features: d, parameters: parameters, gradients: gradients) : nil
    }

    /// The stack's output: packed per-row features.
    var stackOutput: ActivationBuffer { stack[stack.count - 1].output }

    /// The branch output: packed per-row features (clip) or pooled vectors (frame).
    public var output: ActivationBuffer { pooling?.output ?? stackOutput }

    /// features: packed visual features (batch.rows × Dv).
    public func forward(_ features: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        projection.forward(features, batch: batch, dropout: dropout)
        positions.forward(projection.output.pointer, batch: batch, dropout: dropout)
        var x = positions.output
        for layer in stack {
            layer.forward(x.pointer, batch: batch, dropout: dropout)
            x = layer.output
        }
        pooling?.forward(x.pointer, batch: batch)
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
            pooling.backward(stackOutput.pointer, dy: upstream, dx: g, batch: batch)
            upstream = UnsafePointer(g)
        }
        for i in stack.indices.reversed() {
            let g = fresh()
            stack[i].backward(i == 0 ? positions.output.pointer : stack[i - 1].output.pointer, dy: upstream, dx: g, batch: batch, dropout: dropout)
            upstream = UnsafePointer(g)
        }
        let g = fresh()
        positions.backward(dy: upstream, dx: g, batch: batch, dropout: dropout)
        projection.backward(features, dy: g, batch: batch, dropout: dropout)
    }
}
