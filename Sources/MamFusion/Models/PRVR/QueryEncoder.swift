import TensorKit

/// The query (text) encoder (MODEL.md §2): token features (per-token L2-normalised by the loader)
/// → `query_input_proj` → `query_pos_embed` → `query_encoder` (one global BertAttention, key mask
/// = word mask) → attention pooling with `modular_vector_mapping` → q (queries × d).
///
/// Training runs it twice on the same batch with different dropout masks (q for the similarity
/// losses, q2 for the fusion); each pass is its own `QueryEncoder` (own activations, shared
/// parameters, own dropout sites).
public final class QueryEncoder {
    public let projection: InputProjection
    public let positions: PositionalEncoding
    public let attention: SelfAttention
    public let pooling: AttentionPooling
    let dAttention = ActivationBuffer(), dPositions = ActivationBuffer()
    public let features: Int

    public static let sitesUsed = 4

    public init(configuration c: RunConfiguration, site: DropoutSite, parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena) {
        let d = c.hiddenSize
        features = d
        projection = InputProjection("query_input_proj", inFeatures: c.queryFeatureSize, outFeatures: d, rate: c.inputDropout,
                                     site: site, parameters: parameters, gradients: gradients, scratch: scratch)
        positions = PositionalEncoding("query_pos_embed", features: d, maxPositions: c.maxDescriptionLength, rate: c.inputDropout,
                                       site: site.offset(1), parameters: parameters, gradients: gradients, scratch: scratch)
        attention = SelfAttention("query_encoder", features: d, heads: c.heads, width: nil, rate: c.dropout,
                                  site: site.offset(2), parameters: parameters, gradients: gradients, scratch: scratch)
        pooling = AttentionPooling("modular_vector_mapping", features: d, parameters: parameters, gradients: gradients)
    }

    /// Pooled query vectors (tokens.count × d) in `output`.
    public var output: ActivationBuffer { pooling.output }

    /// tokens: packed token features (batch.rows × Dq), one sequence per query.
    public func forward(_ tokens: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        projection.forward(tokens, batch: batch, dropout: dropout)
        positions.forward(projection.output.pointer, batch: batch, dropout: dropout)
        attention.forward(positions.output.pointer, batch: batch, dropout: dropout)
        pooling.forward(attention.output, batch: batch)
    }

    /// Accumulates parameter gradients from dy = ∂L/∂q (queries × d).
    public func backward(_ tokens: UnsafePointer<Float>, dy: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        let n = batch.rows * features
        let dA = dAttention.zeroed(n)
        pooling.backward(attention.output, dy: dy, dx: dA, batch: batch)
        let dP = dPositions.zeroed(n)
        attention.backward(positions.output.pointer, dy: dA, dx: dP, batch: batch, dropout: dropout)
        let dProjection = dAttention.zeroed(n)  // reuse: dA is consumed
        positions.backward(dy: dP, dx: dProjection, batch: batch, dropout: dropout)
        projection.backward(tokens, dy: dProjection, batch: batch, dropout: dropout)
    }
}
