import TensorKit

/// `LinearLayer(in → d)` of the reference (MODEL.md §1), used for every input projection:
/// y = ReLU( W · Dropout_p(LayerNorm(x)) + b ), the LayerNorm over the *input* features
/// (eps 1e-5, affine). Names: `<name>.LayerNorm.{weight,bias}`, `<name>.net.1.{weight,bias}`.
///
/// Shapes: x (rows × in) → y (rows × out), rows = the packed valid rows of a `SequenceBatch`.
/// Kept for backward: the LayerNorm output (rows × in), its mean/rstd and y; the dropped copy is
/// recomputed from the counter-based masks in backward instead of stored. The input x is read
/// again in backward (the caller keeps it alive).
public final class InputProjection {
    let lnWeight, lnBias, weight, bias: ParameterBinding
    public let inFeatures: Int
    public let outFeatures: Int
    let site: DropoutSite
    let rate: Double
    let scratch: ScratchArena

    let normalized = ActivationBuffer(), mean = ActivationBuffer(), rstd = ActivationBuffer()
    public let output = ActivationBuffer()
    private var rows = 0

    public init(_ name: String, inFeatures: Int, outFeatures: Int, rate: Double, site: DropoutSite,
                parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena) {
        lnWeight = ParameterBinding("\(name).LayerNorm.weight", parameters: parameters, gradients: gradients)
        lnBias = ParameterBinding("\(name).LayerNorm.bias", parameters: parameters, gradients: gradients)
        weight = ParameterBinding("\(name).net.1.weight", parameters: parameters, gradients: gradients)
        bias = ParameterBinding("\(name).net.1.bias", parameters: parameters, gradients: gradients)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rate = rate
        self.site = site
        self.scratch = scratch
    }

    /// The dropped LayerNorm output: the saved one itself when the rate is 0, else recomputed
    /// into a scratch slot from the counter-based masks.
    private func dropped(_ batch: SequenceBatch, _ dropout: DropoutContext) -> UnsafeMutablePointer<Float> {
        let p = dropout.rate(rate)
        if p == 0 { return normalized.pointer }
        let d = scratch.slot(0, rows * inFeatures)
        dropout.forward(site: site, rate: p, x: normalized.pointer, y: d, batch: batch, cols: inFeatures)
        return d
    }

    /// y = ReLU(W·dropout(LN(x)) + b) into `output`.
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        rows = batch.rows
        LayerNorm.forward(x: x, weight: lnWeight.value, bias: lnBias.value, y: normalized.reserve(rows * inFeatures),
                          mean: mean.reserve(rows), rstd: rstd.reserve(rows), rows: rows, cols: inFeatures)
        let y = output.reserve(rows * outFeatures)
        Linear.forward(x: dropped(batch, dropout), weight: weight.value, bias: bias.value, y: y, rows: rows,
                       inFeatures: inFeatures, outFeatures: outFeatures)
        ReLU.forward(x: y, y: y, count: rows * outFeatures)
    }

    /// Accumulates parameter gradients from dy (rows × out); the input (data) gets no gradient.
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        let m = rows * outFeatures, n = rows * inFeatures
        let dPre = scratch.zeroed(1, m)
        ReLU.backward(x: output.pointer, dy: dy, dx: dPre, count: m)   // y > 0 exactly where the pre-activation is
        let dDropped = scratch.zeroed(2, n)
        Linear.backward(x: dropped(batch, dropout), weight: weight.value, dy: dPre, dx: dDropped, dWeight: weight.gradient,
                        dBias: bias.gradient, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        let p = dropout.rate(rate)
        var dNormalized = dDropped
        if p != 0 {
            dNormalized = scratch.zeroed(0, n)
            dropout.backward(site: site, rate: p, dy: dDropped, dx: dNormalized, batch: batch, cols: inFeatures)
        }
        LayerNorm.backward(x: x, weight: lnWeight.value, mean: mean.pointer, rstd: rstd.pointer, dy: dNormalized,
                           dx: nil, dWeight: lnWeight.gradient, dBias: lnBias.gradient, rows: rows, cols: inFeatures)
    }
}
