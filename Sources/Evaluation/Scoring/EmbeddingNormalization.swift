/// L2 normalisation of embeddings (MODEL.md §3): x̂ = x / max(‖x‖₂, ε), ε = 1e-12 (PyTorch's
/// `F.normalize`), applied row by row.
public enum EmbeddingNormalization {
    public static let epsilon: Float = 1e-12

    /// Normalises each of the `rows` rows of `dim` floats at `pointer`, in place. The squared
    /// norm is accumulated in Double so that the result does not depend on vector width.
    public static func l2Normalize(_ pointer: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        for r in 0..<rows {
            let row = pointer + r * dim
            var sum = 0.0
            for i in 0..<dim { sum += Double(row[i]) * Double(row[i]) }
            let norm = max(Float(sum.squareRoot()), epsilon)
            for i in 0..<dim { row[i] /= norm }
        }
    }

    /// Normalises each row of a row-major buffer of `dim`-float rows, in place.
    public static func l2Normalize(_ buffer: UnsafeMutableBufferPointer<Float>, dim: Int) {
        precondition(dim > 0 && buffer.count % dim == 0, "buffer of \(buffer.count) floats is not rows of \(dim)")
        guard let base = buffer.baseAddress else { return }
        l2Normalize(base, rows: buffer.count / dim, dim: dim)
    }
}
