import CKernels

/// Row-wise L2 normalisation of a [rows × cols] matrix, in the two conventions of the reference.
///
/// - `.clamped(epsilon:)`: y = x / max(‖x‖, eps) — `F.normalize` (eps 1e-12), used for the
///   similarity scores and the query-diverse loss (MODEL.md §3, §4).
/// - `.shifted(epsilon:)`: y = x / (‖x‖ + eps) — the data loader's per-token normalisation of
///   query features (eps 1e-5, MODEL.md §2).
///
/// ‖x‖ is computed as √(Σx²) with a 16-way blocked sum; the un-clamped norm of each row is saved
/// in `norms` [rows] for backward (the caller owns it).
public enum L2Normalize {
    public enum Convention: Sendable, Equatable {
        case clamped(epsilon: Float)
        case shifted(epsilon: Float)
        /// `F.normalize(x, dim=-1)`: x / max(‖x‖, 1e-12).
        public static let torchNormalize = Convention.clamped(epsilon: 1e-12)
        /// The loader's `x / (‖x‖ + 1e-5)`.
        public static let loader = Convention.shifted(epsilon: 1e-5)
    }

    /// Writes y and norms. y may alias x.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>,
                               rows: Int, cols: Int, convention: Convention = .torchNormalize) {
        for r in 0..<rows {
            let xr = x + r * cols, yr = y + r * cols
            let norm = mf_dot(xr, xr, cols).squareRoot()
            norms[r] = norm
            let inverse = 1 / denominator(norm, convention)
            mapElements(xr, yr, count: cols) { v, _ in v * inverse }
        }
    }

    /// **Accumulates** dx from the saved input x and norms. With n = ‖x‖ and D the denominator:
    /// - clamped, n ≥ eps: dx += (dy − x·(x·dy)/n²)/n; clamped, n < eps: dx += dy/eps (the max
    ///   picked the constant, so only the numerator varies);
    /// - shifted: dx += dy/D − x·(x·dy)/(D²·n) (the second term dropped at n = 0).
    /// dx must not alias dy or x.
    public static func backward(x: UnsafePointer<Float>, norms: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                                convention: Convention = .torchNormalize) {
        for r in 0..<rows {
            let xr = x + r * cols, gr = dy + r * cols, dxr = dx + r * cols
            let norm = norms[r]
            let d = denominator(norm, convention)
            let inverse = 1 / d
            var coupling: Float = 0  // coefficient of x in dx
            switch convention {
            case .clamped(let eps):
                if norm >= eps { coupling = mf_dot(xr, gr, cols) / (norm * norm * norm) }
            case .shifted:
                if norm > 0 { coupling = mf_dot(xr, gr, cols) / (d * d * norm) }
            }
            for j in 0..<cols { dxr[j] += gr[j] * inverse - xr[j] * coupling }
        }
    }

    @inline(__always)
    static func denominator(_ norm: Float, _ convention: Convention) -> Float {
        switch convention {
        case .clamped(let eps): return max(norm, eps)
        case .shifted(let eps): return norm + eps
        }
    }
}
