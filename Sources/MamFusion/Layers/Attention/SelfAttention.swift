import TensorKit

/// One `BertAttention` branch (MODEL.md §1) — the residual self-attention sub-layer, optionally
/// with the GMMFormer Gaussian multiplier:
/// 1. Q, K, V = three Linear(d, d) (`.self.query/.key/.value`);
/// 2. per head, S = Q_h K_hᵀ / √dh; 3. with a width w: S ← S ⊙ G_w (before mask and softmax);
/// 4. key mask; 5. P = Dropout_drop(softmax(S)), ctx = P V_h;
/// 6. out = LayerNorm(x + Dropout_drop(Linear(ctx))) (`.output.dense`, `.output.LayerNorm`).
///
/// Sequences are packed (`SequenceBatch`): attention runs per sequence over its n valid rows
/// only. Masked keys get exactly zero weight in the reference (exp of ≈ −10000 underflows), so
/// this is the reference's result for every valid row; G is taken from the matrix of the batch's
/// *padded* length L (its top-left n×n block), as the reference computes it.
///
/// Memory kept for backward per call: Q, K, V, ctx and the residual sum (5 · rows · d floats),
/// the probabilities (heads · Σ n² floats) and LayerNorm statistics — plus the output when the
/// caller needs it later (`keepsOutput`; a GMM branch's output is consumed at once by the block's
/// mean and lives in a scratch slot). Dropout masks are recomputed from the counter-based streams,
/// never stored; every backward temporary comes from the model's `ScratchArena`.
public final class SelfAttention {
    let query, queryBias, key, keyBias, value, valueBias, dense, denseBias, lnWeight, lnBias: ParameterBinding
    public let features: Int
    public let heads: Int
    public let width: Float?
    let rate: Double
    let site: DropoutSite

    let q = ActivationBuffer(), k = ActivationBuffer(), v = ActivationBuffer(), ctx = ActivationBuffer()
    let probabilities = ActivationBuffer(), residual = ActivationBuffer()
    let mean = ActivationBuffer(), rstd = ActivationBuffer()
    let ownOutput: ActivationBuffer?
    let gaussian = ActivationBuffer()
    private var gaussianLength = -1
    let scratch: ScratchArena
    /// Scratch slots: 0 the output (when not kept), 1–6 backward gradients, 7–9 per-head work.
    enum Slot { static let output = 0, projected = 1, dResidual = 1, dProjected = 2, dContext = 3, dq = 4, dk = 5, dv = 6,
                      p = 7, dp = 8, ds = 9 }
    private var probabilityOffsets: [Int] = []
    private var rows = 0

    public init(_ name: String, features: Int, heads: Int, width: Float?, rate: Double, site: DropoutSite,
                parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena, keepsOutput: Bool = true) {
        self.scratch = scratch
        ownOutput = keepsOutput ? ActivationBuffer() : nil
        func bind(_ suffix: String) -> ParameterBinding { ParameterBinding("\(name).\(suffix)", parameters: parameters, gradients: gradients) }
        query = bind("self.query.weight"); queryBias = bind("self.query.bias")
        key = bind("self.key.weight"); keyBias = bind("self.key.bias")
        value = bind("self.value.weight"); valueBias = bind("self.value.bias")
        dense = bind("output.dense.weight"); denseBias = bind("output.dense.bias")
        lnWeight = bind("output.LayerNorm.weight"); lnBias = bind("output.LayerNorm.bias")
        precondition(features % heads == 0, "hidden size \(features) not divisible by \(heads) heads")
        self.features = features
        self.heads = heads
        self.width = width
        self.rate = rate
        self.site = site
    }

    var headSize: Int { features / heads }

    /// The output (rows × d) of the last forward; a scratch slot unless `keepsOutput` (then valid
    /// only until another layer runs).
    public var output: UnsafeMutablePointer<Float> { ownOutput?.pointer ?? scratch.slot(Slot.output, 0) }
    var scale: Float { 1 / Float(headSize).squareRoot() }

    private func gaussianMatrix(_ L: Int) -> UnsafeMutablePointer<Float> {
        if gaussianLength != L, let width {
            GaussianMatrix.fill(gaussian.reserve(L * L), length: L, width: width)
            gaussianLength = L
        }
        return gaussian.pointer
    }

    /// out = LN(x + Dropout(Linear(attention(x)))) into `output` (rows × d).
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        rows = batch.rows
        let d = features, dh = headSize, n = rows * d
        let Q = q.reserve(n), K = k.reserve(n), V = v.reserve(n), C = ctx.reserve(n)
        Linear.forward(x: x, weight: query.value, bias: queryBias.value, y: Q, rows: rows, inFeatures: d, outFeatures: d)
        Linear.forward(x: x, weight: key.value, bias: keyBias.value, y: K, rows: rows, inFeatures: d, outFeatures: d)
        Linear.forward(x: x, weight: value.value, bias: valueBias.value, y: V, rows: rows, inFeatures: d, outFeatures: d)

        probabilityOffsets.removeAll(keepingCapacity: true)
        var total = 0
        for len in batch.lengths {
            probabilityOffsets.append(total)
            total += heads * len * len
        }
        let P = probabilities.reserve(total)
        let L = batch.paddedLength
        let G: UnsafeMutablePointer<Float>? = width == nil ? nil : gaussianMatrix(L)
        let p = dropout.rate(rate)
        let Pd = scratch.slot(Slot.p, batch.longest * batch.longest)
        for s in 0..<batch.count {
            let len = batch.lengths[s], o = batch.offsets[s] * d
            let stream = dropout.stream(item: batch.globalIndices[s])
            for h in 0..<heads {
                let S = P + probabilityOffsets[s] + h * len * len
                MatrixEngine.gemm(transB: true, m: len, n: len, k: dh, alpha: scale, a: Q + o + h * dh, lda: d,
                          b: K + o + h * dh, ldb: d, c: S, ldc: len)
                if let G { for i in 0..<len { ElementwiseProduct.forward(a: S + i * len, b: G + i * L, y: S + i * len, count: len) } }
                Softmax.forward(logits: S, probabilities: S, rows: len, cols: len)
                let used: UnsafePointer<Float>
                if p == 0 {
                    used = UnsafePointer(S)
                } else {
                    Dropout.forward(x: S, y: Pd, mask: nil, count: len * len, p: p, stream: stream, start: site.start + h * len * len)
                    used = UnsafePointer(Pd)
                }
                MatrixEngine.gemm(m: len, n: dh, k: len, a: used, lda: len, b: V + o + h * dh, ldb: d, c: C + o + h * dh, ldc: d)
            }
        }
        let out = scratch.slot(Slot.projected, n)
        Linear.forward(x: C, weight: dense.value, bias: denseBias.value, y: out, rows: rows, inFeatures: d, outFeatures: d)
        dropout.forward(site: site.offset(1), rate: p, x: out, y: out, batch: batch, cols: d)
        let R = residual.reserve(n)
        Vector.add(out, x, into: R, count: n)
        let y = ownOutput?.reserve(n) ?? scratch.slot(Slot.output, n)
        LayerNorm.forward(x: R, weight: lnWeight.value, bias: lnBias.value, y: y, mean: mean.reserve(rows),
                          rstd: rstd.reserve(rows), rows: rows, cols: d)
    }

    /// Accumulates dx += ∂L/∂x and every parameter gradient, from dy = ∂L/∂output.
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         batch: SequenceBatch, dropout: DropoutContext) {
        let d = features, dh = headSize, n = rows * d
        let dR = scratch.zeroed(Slot.dResidual, n)
        LayerNorm.backward(x: residual.pointer, weight: lnWeight.value, mean: mean.pointer, rstd: rstd.pointer, dy: dy,
                           dx: dR, dWeight: lnWeight.gradient, dBias: lnBias.gradient, rows: rows, cols: d)
        Vector.axpy(alpha: 1, x: dR, y: dx, count: n)  // the residual path
        let p = dropout.rate(rate)
        let dOut = scratch.zeroed(Slot.dProjected, n)
        dropout.backward(site: site.offset(1), rate: p, dy: dR, dx: dOut, batch: batch, cols: d)
        let dC = scratch.zeroed(Slot.dContext, n)
        Linear.backward(x: ctx.pointer, weight: dense.value, dy: dOut, dx: dC, dWeight: dense.gradient, dBias: denseBias.gradient,
                        rows: rows, inFeatures: d, outFeatures: d)

        let Q = q.pointer, K = k.pointer, V = v.pointer, P = probabilities.pointer
        let dQ = scratch.zeroed(Slot.dq, n), dK = scratch.zeroed(Slot.dk, n), dV = scratch.zeroed(Slot.dv, n)
        let L = batch.paddedLength
        let G: UnsafeMutablePointer<Float>? = width == nil ? nil : gaussianMatrix(L)
        let longest2 = batch.longest * batch.longest
        let Pd = scratch.slot(Slot.p, longest2), dPd = scratch.slot(Slot.dp, longest2), dS = scratch.slot(Slot.ds, longest2)
        for s in 0..<batch.count {
            let len = batch.lengths[s], o = batch.offsets[s] * d, m = len * len
            let stream = dropout.stream(item: batch.globalIndices[s])
            for h in 0..<heads {
                let S = P + probabilityOffsets[s] + h * m
                let start = site.start + h * m
                let used: UnsafePointer<Float>
                if p == 0 {
                    used = UnsafePointer(S)
                } else {
                    Dropout.forward(x: S, y: Pd, mask: nil, count: m, p: p, stream: stream, start: start)
                    used = UnsafePointer(Pd)
                }
                // dV_h += Pdᵀ dctx_h ; dPd = dctx_h V_hᵀ
                MatrixEngine.gemm(transA: true, m: len, n: dh, k: len, a: used, lda: len, b: dC + o + h * dh, ldb: d,
                          beta: 1, c: dV + o + h * dh, ldc: d)
                MatrixEngine.gemm(transB: true, m: len, n: len, k: dh, a: dC + o + h * dh, lda: d, b: V + o + h * dh, ldb: d,
                          c: dPd, ldc: len)
                let dP: UnsafePointer<Float>
                if p == 0 {
                    dP = UnsafePointer(dPd)
                } else {
                    Pd.update(repeating: 0, count: m)
                    Dropout.backward(dy: dPd, dx: Pd, count: m, p: p, stream: stream, start: start)
                    dP = UnsafePointer(Pd)
                }
                dS.update(repeating: 0, count: m)
                Softmax.backward(probabilities: S, dProbabilities: dP, dLogits: dS, rows: len, cols: len)
                if let G { for i in 0..<len { ElementwiseProduct.forward(a: dS + i * len, b: G + i * L, y: dS + i * len, count: len) } }
                MatrixEngine.gemm(m: len, n: dh, k: len, alpha: scale, a: dS, lda: len, b: K + o + h * dh, ldb: d,
                          beta: 1, c: dQ + o + h * dh, ldc: d)
                MatrixEngine.gemm(transA: true, m: len, n: dh, k: len, alpha: scale, a: dS, lda: len, b: Q + o + h * dh, ldb: d,
                          beta: 1, c: dK + o + h * dh, ldc: d)
            }
        }
        Linear.backward(x: x, weight: query.value, dy: dQ, dx: dx, dWeight: query.gradient, dBias: queryBias.gradient,
                        rows: rows, inFeatures: d, outFeatures: d)
        Linear.backward(x: x, weight: key.value, dy: dK, dx: dx, dWeight: key.gradient, dBias: keyBias.gradient,
                        rows: rows, inFeatures: d, outFeatures: d)
        Linear.backward(x: x, weight: value.value, dy: dV, dx: dx, dWeight: value.gradient, dBias: valueBias.gradient,
                        rows: rows, inFeatures: d, outFeatures: d)
    }
}
