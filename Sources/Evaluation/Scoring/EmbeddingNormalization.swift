import TensorKit

/// L2 normalisation of embeddings (MODEL.md §3): x̂ = x / max(‖x‖₂, ε), ε = 1e-12 (PyTorch's
/// `F.normalize`), applied row by row — the same kernel training uses (`L2Normalize`), so
/// evaluation scores and training similarities are computed identically.
public enum EmbeddingNormalization {
    public static let epsilon: Float = 1e-12

    /// Normalises each of the `rows` rows of `dim` floats at `pointer`, in place.
    public static func l2Normalize(_ pointer: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        guard rows > 0 else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rows) { norms in
            L2Normalize.forward(x: pointer, y: pointer, norms: norms.baseAddress!, rows: rows, cols: dim,
                                convention: .clamped(epsilon: epsilon))
        }
    }

    /// Normalises each row of a row-major buffer of `dim`-float rows, in place.
    public static func l2Normalize(_ buffer: UnsafeMutableBufferPointer<Float>, dim: Int) {
        precondition(dim > 0 && buffer.count % dim == 0, "buffer of \(buffer.count) floats is not rows of \(dim)")
        guard let base = buffer.baseAddress else { return }
        l2Normalize(base, rows: buffer.count / dim, dim: dim)
    }
}
