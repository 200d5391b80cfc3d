import TensorKit

/// A fusion module (`v2t_fusion`, `t2v_fusion`; MODEL.md §2): standard multi-head attention with
/// a packed in-projection (`multihead_attn.in_proj_weight` 3d×d rows q|k|v, `in_proj_bias`,
/// `multihead_attn.out_proj`), no dropout, gated by element-wise product with the target:
/// output = tgt ⊙ MHA(tgt, memory, memory). No residual, no norm. The attention runs across the
/// items of the batch (one unbatched sequence of `targets` rows over `memories` rows).
///
/// The reference tiles the pooled frame vectors F 4 times. Tiled *targets* give identical rows and
/// tiled *keys/values* give exactly the attention over the untiled rows (each key's weight is
/// split evenly over its copies), so the model calls this with the untiled V rows — the same
/// function, a quarter of the work. The unused `vid_embed_proj` tensors are never touched.
///
/// Two phases, so that the rows can be spread over ranks (DISTRIBUTED.md §3): the key/value
/// projection of memory rows (`projectKeysValues`, each rank for its own rows, then gathered)
/// and the attention of target rows over all keys/values (`attend`, each rank for its own
/// targets). Their backward passes mirror them: `backwardAttend` gives the gradient of the keys
/// and values of *all* memory rows from this rank's targets (summed over ranks by a
/// reduce-scatter), and `backwardKeysValues` takes each row's summed gradient back through the
/// projection. Every parameter gradient is then a sum of per-rank partials, like any other.
/// (The tests chain both phases in one process: `OneProcessFusion`.)
public final class FusionAttention {
    let inWeight, inBias, outWeight, outBias: ParameterBinding
    public let features: Int
    public let heads: Int
    let qp = ActivationBuffer()
    let probabilities = ActivationBuffer(), ctx = ActivationBuffer(), attended = ActivationBuffer()
    public let output = ActivationBuffer()
    let dAttended = ActivationBuffer(), dContext = ActivationBuffer(), dqp = ActivationBuffer()
    let dP = ActivationBuffer(), dS = ActivationBuffer()
    private var targets = 0, memories = 0

    public init(_ name: String, features: Int, heads: Int, parameters: ParameterSet, gradients: ParameterSet) {
        inWeight = ParameterBinding("\(name).multihead_attn.in_proj_weight", parameters: parameters, gradients: gradients)
        inBias = ParameterBinding("\(name).multihead_attn.in_proj_bias", parameters: parameters, gradients: gradients)
        outWeight = ParameterBinding("\(name).multihead_attn.out_proj.weight", parameters: parameters, gradients: gradients)
        outBias = ParameterBinding("\(name).multihead_attn.out_proj.bias", parameters: parameters, gradients: gradients)
        self.features = features
        self.heads = heads
    }

    var headSize: Int { features / heads }

    // MARK: - Phase 1: keys and values of memory rows

    /// keys = memory·W_kᵀ + b_k, values = memory·W_vᵀ + b_v (rows × d each, caller's buffers).
    public func projectKeysValues(memory: UnsafePointer<Float>, rows: Int,
                                  keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        let d = features
        Linear.forward(x: memory, weight: inWeight.value + d * d, bias: inBias.value + d, y: keys, rows: rows, inFeatures: d, outFeatures: d)
        Linear.forward(x: memory, weight: inWeight.value + 2 * d * d, bias: inBias.value + 2 * d, y: values, rows: rows, inFeatures: d, outFeatures: d)
    }

    /// Accumulates dMemory and the k/v parts of the in-projection's gradient from the (summed)
    /// gradients of this rows' keys and values.
    public func backwardKeysValues(memory: UnsafePointer<Float>, rows: Int, dKeys: UnsafePointer<Float>, dValues: UnsafePointer<Float>,
                                   dMemory: UnsafeMutablePointer<Float>) {
        let d = features
        Linear.backward(x: memory, weight: inWeight.value + d * d, dy: dKeys, dx: dMemory, dWeight: inWeight.gradient + d * d,
                        dBias: inBias.gradient + d, rows: rows, inFeatures: d, outFeatures: d)
        Linear.backward(x: memory, weight: inWeight.value + 2 * d * d, dy: dValues, dx: dMemory, dWeight: inWeight.gradient + 2 * d * d,
                        dBias: inBias.gradient + 2 * d, rows: rows, inFeatures: d, outFeatures: d)
    }

    // MARK: - Phase 2: targets attend over all keys and values

    /// output (targets × d) = tgt ⊙ out_proj(softmax(Q Kᵀ/√dh) V) per head, Q = tgt·W_qᵀ + b_q,
    /// over `memories` key/value rows (memories × d each). Keeps what `backwardAttend` needs;
    /// `keys` and `values` must stay unchanged until then.
    public func attend(target: UnsafePointer<Float>, targets nt: Int,
                       keys K: UnsafePointer<Float>, values V: UnsafePointer<Float>, memories nm: Int) {
        targets = nt; memories = nm
        let d = features, dh = headSize, scale = 1 / Float(dh).squareRoot()
        let Q = qp.reserve(nt * d)
        Linear.forward(x: target, weight: inWeight.value, bias: inBias.value, y: Q, rows: nt, inFeatures: d, outFeatures: d)
        let P = probabilities.reserve(heads * nt * nm), C = ctx.reserve(nt * d)
        for h in 0..<heads {
            let S = P + h * nt * nm
            MatrixEngine.gemm(transB: true, m: nt, n: nm, k: dh, alpha: scale, a: Q + h * dh, lda: d, b: K + h * dh, ldb: d, c: S, ldc: nm)
            Softmax.forward(logits: S, probabilities: S, rows: nt, cols: nm)
            MatrixEngine.gemm(m: nt, n: dh, k: nm, a: S, lda: nm, b: V + h * dh, ldb: d, c: C + h * dh, ldc: d)
        }
        let A = attended.reserve(nt * d)
        Linear.forward(x: C, weight: outWeight.value, bias: outBias.value, y: A, rows: nt, inFeatures: d, outFeatures: d)
        ElementwiseProduct.forward(a: target, b: A, y: output.reserve(nt * d), count: nt * d)
    }

    /// From dy = ∂L/∂output: accumulates dTarget, and the gradients of all `memories` keys and
    /// values (dKeys, dValues: memories × d, accumulated), and the q and out-projection
    /// parameter gradients. Call after `attend` with the same inputs.
    public func backwardAttend(target: UnsafePointer<Float>, keys K: UnsafePointer<Float>, values V: UnsafePointer<Float>,
                               dy: UnsafePointer<Float>, dTarget: UnsafeMutablePointer<Float>,
                               dKeys dK: UnsafeMutablePointer<Float>, dValues dV: UnsafeMutablePointer<Float>) {
        let nt = targets, nm = memories, d = features, dh = headSize, scale = 1 / Float(dh).squareRoot()
        let dA = dAttended.zeroed(nt * d)
        ElementwiseProduct.backward(a: target, b: attended.pointer, dy: dy, da: dTarget, db: dA, count: nt * d)
        let dC = dContext.zeroed(nt * d)
        Linear.backward(x: ctx.pointer, weight: outWeight.value, dy: dA, dx: dC, dWeight: outWeight.gradient, dBias: outBias.gradient,
                        rows: nt, inFeatures: d, outFeatures: d)
        let Q = qp.pointer, P = probabilities.pointer
        let dQ = dqp.zeroed(nt * d)
        let gP = dP.reserve(nt * nm), gS = dS.reserve(nt * nm)
        for h in 0..<heads {
            let S = P + h * nt * nm
            MatrixEngine.gemm(transA: true, m: nm, n: dh, k: nt, a: S, lda: nm, b: dC + h * dh, ldb: d, beta: 1, c: dV + h * dh, ldc: d)
            MatrixEngine.gemm(transB: true, m: nt, n: nm, k: dh, a: dC + h * dh, lda: d, b: V + h * dh, ldb: d, c: gP, ldc: nm)
            gS.update(repeating: 0, count: nt * nm)
            Softmax.backward(probabilities: S, dProbabilities: gP, dLogits: gS, rows: nt, cols: nm)
            MatrixEngine.gemm(m: nt, n: dh, k: nm, alpha: scale, a: gS, lda: nm, b: K + h * dh, ldb: d, beta: 1, c: dQ + h * dh, ldc: d)
            MatrixEngine.gemm(transA: true, m: nm, n: dh, k: nt, alpha: scale, a: gS, lda: nm, b: Q + h * dh, ldb: d, beta: 1, c: dK + h * dh, ldc: d)
        }
        Linear.backward(x: target, weight: inWeight.value, dy: dQ, dx: dTarget, dWeight: inWeight.gradient, dBias: inBias.gradient,
                        rows: nt, inFeatures: d, outFeatures: d)
    }
}
