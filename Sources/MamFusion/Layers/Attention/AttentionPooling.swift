import TensorKit

/// Attention pooling (`modular_vector_mapping`, MODEL.md §1): per sequence,
/// a = softmax over its valid positions of (w · x_n), pooled = Σ_n a_n x_n. Padded positions
/// get weight exactly 0 in the reference (logit −1e10), so pooling over the valid rows is exact.
/// Name: `<name>.weight` (1 × d, no bias).
public final class AttentionPooling {
    let weight: ParameterBinding
    public let features: Int
    let logits = ActivationBuffer()   // becomes the attention weights a
    public let output = ActivationBuffer()
    let dLogits = ActivationBuffer(), dWeights = ActivationBuffer()

    public init(_ name: String, features: Int, parameters: ParameterSet, gradients: ParameterSet) {
        weight = ParameterBinding("\(name).weight", parameters: parameters, gradients: gradients)
        self.features = features
    }

    /// pooled (count × d) into `output`.
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch) {
        let d = features, rows = batch.rows
        let a = logits.reserve(rows)
        MatrixEngine.gemm(m: rows, n: 1, k: d, a: x, lda: d, b: weight.value, ldb: 1, c: a, ldc: 1)
        let y = output.zeroed(batch.count * d)
        for s in 0..<batch.count {
            let o = batch.offsets[s], n = batch.lengths[s]
            Softmax.forward(logits: a + o, probabilities: a + o, rows: 1, cols: n)
            // pooled_s = a_sᵀ X_s
            MatrixEngine.gemm(transA: true, m: 1, n: d, k: n, a: a + o, lda: 1, b: x + o * d, ldb: d, c: y + s * d, ldc: d)
        }
    }

    /// Accumulates dx and dw from dy = ∂L/∂pooled (count × d).
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, batch: SequenceBatch) {
        let d = features, rows = batch.rows
        let a = logits.pointer
        let da = dWeights.reserve(rows)
        let dt = dLogits.zeroed(rows)
        for s in 0..<batch.count {
            let o = batch.offsets[s], n = batch.lengths[s]
            // dx_n += a_n · dy_s ; da_n = x_n · dy_s
            MatrixEngine.gemm(m: n, n: d, k: 1, a: a + o, lda: 1, b: dy + s * d, ldb: d, beta: 1, c: dx + o * d, ldc: d)
            MatrixEngine.gemm(m: n, n: 1, k: d, a: x + o * d, lda: d, b: dy + s * d, ldb: 1, c: da + o, ldc: 1)
            Softmax.backward(probabilities: a + o, dProbabilities: da + o, dLogits: dt + o, rows: 1, cols: n)
        }
        // dw += dtᵀ X ; dx += dt wᵀ
        MatrixEngine.gemm(transA: true, m: 1, n: d, k: rows, a: dt, lda: 1, b: x, ldb: d, beta: 1, c: weight.gradient, ldc: d)
        MatrixEngine.gemm(m: rows, n: d, k: 1, a: dt, lda: 1, b: weight.value, ldb: d, beta: 1, c: dx, ldc: d)
    }
}
