/// A fully connected layer in PyTorch's layout (MODEL.md §1 LinearLayer, attention projections,
/// Mamba projections): y[rows×out] = x[rows×in]·Wᵀ + b, with W stored out×in.
public enum Linear {
    /// y = x·Wᵀ + b (`bias` nil: no bias). y must not alias x.
    public static func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int) {
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        MatrixEngine.gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                  a: x, lda: inFeatures, b: weight, ldb: inFeatures,
                  beta: bias == nil ? 0 : 1, c: y, ldc: outFeatures)
    }

    /// **Accumulates**: dx += dy·W, dWeight += dyᵀ·x, dBias += Σ_rows dy (blocked sum over rows).
    /// Any of the three may be nil to skip it (e.g. no dx for a projection of input features).
    public static func backward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                                dBias: UnsafeMutablePointer<Float>?,
                                rows: Int, inFeatures: Int, outFeatures: Int) {
        if let dx {
            MatrixEngine.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                      a: dy, lda: outFeatures, b: weight, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
        }
        if let dWeight {
            MatrixEngine.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                      a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
        }
        if let dBias {
            ColumnSums.accumulate(dy, rows: rows, cols: outFeatures, ld: outFeatures, into: dBias)
        }
    }
}
