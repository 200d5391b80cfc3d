import CKernels

/// Layer normalisation over the last axis with an affine map (MODEL.md §1; PyTorch `nn.LayerNorm`):
/// y = (x − μ)·rstd ⊙ weight + bias, μ = mean(x), rstd = 1/√(var(x) + eps), var biased (÷ cols).
///
/// Shapes: x, y [rows × cols]; weight, bias [cols]; mean, rstd [rows] (saved for backward; the
/// caller owns them). Accuracy: μ is a 16-way blocked sum and the variance is computed in a second
/// pass as Σ(x − μ)² (no E[x²] − μ² cancellation), so rows of thousands of elements keep float
/// accuracy; the weight and bias gradients use blocked sums over rows (`ColumnSums`).
public enum LayerNorm {
    /// The reference's eps (PyTorch's default).
    public static let defaultEpsilon: Float = 1e-5

    /// Writes y, mean and rstd. y may alias x.
    public static func forward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               rows: Int, cols: Int, eps: Float = defaultEpsilon) {
        let invCols = 1 / Float(cols)
        for r in 0..<rows {
            let xr = x + r * cols, yr = y + r * cols
            let mu = mf_sum(xr, cols) * invCols
            let variance = mf_sum_squared_deviation(xr, mu, cols) * invCols
            let s = 1 / (variance + eps).squareRoot()
            mean[r] = mu
            rstd[r] = s
            mapElements(xr, yr, count: cols) { v, j in (v - mu) * s * weight[j] + bias[j] }
        }
    }

    /// **Accumulates** into dx (nil to skip), dWeight and dBias, from the saved mean and rstd.
    ///
    /// With n̂ = (x − μ)·rstd and g = dy ⊙ weight:
    /// dx += rstd·(g − mean(g) − n̂·mean(g ⊙ n̂)), dWeight += Σ_rows dy ⊙ n̂, dBias += Σ_rows dy.
    /// dx must not alias x or dy.
    public static func backward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let invCols = 1 / Float(cols)
        if let dx {
            for r in 0..<rows {
                let xr = x + r * cols, gr = dy + r * cols, dxr = dx + r * cols
                let mu = mean[r], s = rstd[r]
                var sumG: Float = 0, sumGCentered: Float = 0
                mf_layernorm_backward_sums(xr, gr, weight, mu, cols, &sumG, &sumGCentered)
                let meanG = sumG * invCols
                let meanGN = sumGCentered * s * invCols
                for j in 0..<cols {
                    let nhat = (xr[j] - mu) * s
                    dxr[j] += s * (gr[j] * weight[j] - meanG - nhat * meanGN)
                }
            }
        }
        accumulateAffineGradients(x: x, mean: mean, rstd: rstd, dy: dy, dWeight: dWeight, dBias: dBias, rows: rows, cols: cols)
    }

    /// dWeight += Σ_r dy ⊙ n̂ and dBias += Σ_r dy, summed in blocks of rows (see `ColumnSums`).
    static func accumulateAffineGradients(x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                          dy: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                          dBias: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let chunk = ColumnSums.columnChunk / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * chunk) { scratch in
            let partialW = scratch.baseAddress!, partialB = partialW + chunk
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + ColumnSums.rowBlock, rows)
                var c0 = 0
                while c0 < cols {
                    let width = min(chunk, cols - c0)
                    partialW.update(repeating: 0, count: width)
                    partialB.update(repeating: 0, count: width)
                    for r in r0..<r1 {
                        let xr = x + r * cols + c0, gr = dy + r * cols + c0
                        let mu = mean[r], s = rstd[r]
                        for j in 0..<width {
                            partialW[j] += gr[j] * ((xr[j] - mu) * s)
                            partialB[j] += gr[j]
                        }
                    }
                    for j in 0..<width {
                        dWeight[c0 + j] += partialW[j]
                        dBias[c0 + j] += partialB[j]
                    }
                    c0 += width
                }
                r0 = r1
            }
        }
    }
}
