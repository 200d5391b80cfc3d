import CKernels

/// Softmax over the last axis of [rows × cols] logits with an optional key mask
/// (MODEL.md §1 BertAttention step 4–5 and attention pooling).
///
/// The mask m ∈ {0, 1} has one row of `cols` entries per group of `rowsPerMask` consecutive rows:
/// row r uses `keyMask + (r / rowsPerMask)·cols`. For attention scores laid out
/// [batch, heads, Lq, L], pass the [batch × L] key mask with `rowsPerMask` = heads·Lq.
/// The mask is applied to the logits exactly as the reference does, before the softmax:
/// - `.additive(v)`: S + (1 − m)·v (BertAttention, v = −10000);
/// - `.fill(v)`: S·m + (1 − m)·v (`mask_logits` of attention pooling, v = −1e10).
/// The softmax subtracts the row maximum before exponentiating.
public enum Softmax {
    public enum MaskMode: Sendable, Equatable {
        case additive(Float)
        case fill(Float)
        /// S + (1 − m)·(−10000): BertAttention's key mask.
        public static let attention = MaskMode.additive(-10000)
        /// S·m + (1 − m)·(−1e10): the attention-pooling mask (`mask_logits`).
        public static let pooling = MaskMode.fill(-1e10)
    }

    /// probabilities = softmax(mask(logits)) row by row. probabilities may alias logits.
    public static func forward(logits: UnsafePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
                               rows: Int, cols: Int, keyMask: UnsafePointer<Float>? = nil, rowsPerMask: Int = 1,
                               maskMode: MaskMode = .attention) {
        precondition(keyMask == nil || rowsPerMask >= 1, "Softmax: rowsPerMask must be ≥ 1")
        if cols == 0 { return }
        for r in 0..<rows {
            let s = logits + r * cols, p = probabilities + r * cols
            if let keyMask {
                let m = keyMask + (r / rowsPerMask) * cols
                switch maskMode {
                case .additive(let v):
                    for j in 0..<cols { p[j] = s[j] + (1 - m[j]) * v }
                case .fill(let v):
                    for j in 0..<cols { p[j] = s[j] * m[j] + (1 - m[j]) * v }
                }
            } else if UnsafePointer(p) != s {
                p.update(from: s, count: cols)
            }
            let rowMax = mf_max(p, cols)
            mf_vexp_shifted(p, rowMax, p, cols)
            let inverseSum = 1 / mf_sum(p, cols)
            for j in 0..<cols { p[j] *= inverseSum }
        }
    }

    /// **Accumulates** dLogits += P ⊙ (dP − Σ_j dP⊙P) row by row, from the saved probabilities P
    /// (in `.fill` mode also multiplied by m, the derivative of S·m). dLogits must not alias dP.
    /// Pass the same mask arguments as to `forward`.
    public static func backward(probabilities: UnsafePointer<Float>, dProbabilities: UnsafePointer<Float>,
                                dLogits: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
                                keyMask: UnsafePointer<Float>? = nil, rowsPerMask: Int = 1,
                                maskMode: MaskMode = .attention) {
        for r in 0..<rows {
            let p = probabilities + r * cols, dp = dProbabilities + r * cols, ds = dLogits + r * cols
            let dot = mf_dot(p, dp, cols)
            if let keyMask, case .fill = maskMode {
                let m = keyMask + (r / rowsPerMask) * cols
                for j in 0..<cols { ds[j] += p[j] * (dp[j] - dot) * m[j] }
            } else {
                for j in 0..<cols { ds[j] += p[j] * (dp[j] - dot) }
            }
        }
    }
}
