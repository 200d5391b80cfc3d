import TensorKit

/// `LinearLayer(in → d)` of the reference (MODEL.md §1), used for every input projection:
/// y = ReLU( W · Dropout_p(LayerNorm(x)) + b ), the LayerNorm over the *input* features
/// (eps 1e-5, affine). Names: `<name>.LayerNorm.{weight,bias}`, `<name>.net.1.{weight,bias}`.
///
/// Shapes: x (rows × in) → y (rows × out), rows = the packed valid rows of a `SequenceBatch`.
/// Saved for backward (owned by the layer, reused across steps): the LayerNorm output before
/// and after dropout, mean/rstd per row, the pre-activation. The input x is read again in
/// backward (the caller keeps it alive).
public final class InputProjection: @unchecked Sendable {
    let lnWeight, lnBias, weight, bias: ParameterBinding
    public let inFeatures: Int
    public let outFeatures: Int
    let site: DropoutSite
    let rate: Double

    let normalized = ActivationBuffer(), dropped = ActivationBuffer(), mean = ActivationBuffer(), rstd = ActivationBuffer()
    let preActivation = ActivationBuffer()
    public let output = ActivationBuffer()
    let dPre = ActivationBuffer(), dDropped = ActivationBuffer(), dNormalized = ActivationBuffer()
    private var rows = 0
    private var droppedIsNormalized = true

    public init(_ name: String, inFeatures: Int, outFeatures: Int, rate: Double, site: DropoutSite,
                parameters: ParameterSet, gradients: ParameterSet) {
        lnWeight = ParameterBinding("\(name).LayerNorm.weight", parameters: parameters, gradients: gradients)
        lnBias = ParameterBinding("\(name).LayerNorm.bias", parameters: parameters, gradients: gradients)
        weight = ParameterBinding("\(name).net.1.weight", parameters: parameters, gradients: gradients)
        bias = ParameterBinding("\(name).net.1.bias", parameters: parameters, gradients: gradients)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rate = rate
        self.site = site
    }

    /// y = ReLU(W·dropout(LN(x)) + b) into `output`.
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        rows = batch.rows
        let n = rows * inFeatures
        let ln = normalized.reserve(n)
        LayerNorm.forward(x: x, weight: lnWeight.value, bias: lnBias.value, y: ln,
                          mean: mean.reserve(rows), rstd: rstd.reserve(rows), rows: rows, cols: inFeatures)
        let p = dropout.rate(rate)
        droppedIsNormalized = p == 0
        let d = droppedIsNormalized ? ln : dropped.reserve(n)
        if !droppedIsNormalized { dropout.forward(site: site, rate: p, x: ln, y: d, batch: batch, cols: inFeatures) }
        let pre = preActivation.reserve(rows * outFeatures)
        Linear.forward(x: d, weight: weight.value, bias: bias.value, y: pre, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        ReLU.forward(x: pre, y: output.reserve(rows * outFeatures), count: rows * outFeatures)
    }

    /// Accumulates parameter gradients from dy (rows × out); the input (data) gets no gradient.
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        let m = rows * outFeatures, n = rows * inFeatures
        let dp = dPre.zeroed(m)
        ReLU.backward(x: preActivation.pointer, dy: dy, dx: dp, count: m)
        let d = droppedIsNormalized ? normalized.pointer : dropped.pointer
        let dd = dDropped.zeroed(n)
        Linear.backward(x: d, weight: weight.value, dy: dp, dx: dd, dWeight: weight.gradient, dBias: bias.gradient,
                        rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        let dn: UnsafeMutablePointer<Float>
        if droppedIsNormalized {
            dn = dd
        } else {
            dn = dNormalized.zeroed(n)
            dropout.backward(site: site, rate: dropout.rate(rate), dy: dd, dx: dn, batch: batch, cols: inFeatures)
        }
        LayerNorm.backward(x: x, weight: lnWeight.value, mean: mean.pointer, rstd: rstd.pointer, dy: dn,
                           dx: nil, dWeight: lnWeight.gradient, dBias: lnBias.gradient, rows: rows, cols: inFeatures)
    }
}
