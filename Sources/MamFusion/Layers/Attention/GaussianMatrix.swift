import TensorKit

/// The Gaussian multiplier G of a GMMFormer attention branch of width w over a sequence whose
/// *padded* length is L (MODEL.md §1):
///   centre c_i = i / L, grid p_j = j / (L − 1) (linspace(0, 1, L); [0] for L = 1),
///   σ = max(w, 0.01) / 9, g_ij = exp(−(p_j − c_i)² / (2σ²)), G_ij = g_ij / max_j' g_ij'.
/// Kept quirks: L is the padded length (a video's representation depends on the longest video
/// in its batch); centres and grid are offset (i/L vs j/(L−1)); G scales logits toward 0 rather
/// than masking. Computed in Double and rounded once; the reference's constant factor
/// 1/(σ√2π) cancels in the row normalisation.
public enum GaussianMatrix {
    /// Fills `out` (L×L, row-major) with G for width `width` and padded length `length`.
    public static func fill(_ out: UnsafeMutablePointer<Float>, length L: Int, width: Float) {
        let sigma = Double(max(width, 0.01)) / 9
        let twoSigma2 = 2 * sigma * sigma
        var row = [Double](repeating: 0, count: L)
        for i in 0..<L {
            let c = Double(i) / Double(L)
            var rowMax = 0.0
            for j in 0..<L {
                let p = L == 1 ? 0 : Double(j) / Double(L - 1)
                let g = exp(-(p - c) * (p - c) / twoSigma2)
                row[j] = g
                rowMax = max(rowMax, g)
            }
            // The row maximum is attained near p = c, never 0 for σ ≥ 0.01/9 over [0, 1]… except
            // far-off centres with tiny σ underflowing everywhere; keep that row exactly 0 then.
            let inv = rowMax > 0 ? 1 / rowMax : 0
            for j in 0..<L { out[i * L + j] = Float(row[j] * inv) }
        }
    }

    /// A new L×L tensor holding G.
    public static func make(length: Int, width: Float) -> Tensor {
        let t = Tensor(shape: [length, length])
        fill(t.pointer, length: length, width: width)
        return t
    }
}

#if canImport(Glibc)
import Glibc
#endif
