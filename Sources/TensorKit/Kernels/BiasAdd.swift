/// y[r, j] = x[r, j] + b[j]: a bias vector broadcast over the rows of a [rows × cols] matrix.
public enum BiasAdd {
    /// y = x + b per row; x and y may alias (in place).
    public static func forward(x: UnsafePointer<Float>, bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                               rows: Int, cols: Int) {
        for r in 0..<rows {
            let xr = x + r * cols, yr = y + r * cols
            mapElements(xr, yr, count: cols) { v, j in v + bias[j] }
        }
    }

    /// **Accumulates**: dBias += Σ_rows dy (blocked sum over rows) and, when `dx` is given,
    /// dx += dy (pass nil when the caller's dx and dy are the same buffer).
    public static func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>,
                                rows: Int, cols: Int) {
        if let dx { Vector.axpy(alpha: 1, x: dy, y: dx, count: rows * cols) }
        ColumnSums.accumulate(dy, rows: rows, cols: cols, ld: cols, into: dBias)
    }
}
