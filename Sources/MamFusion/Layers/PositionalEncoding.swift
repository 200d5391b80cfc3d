import TensorKit

/// Learned positional encoding (MODEL.md §1): y = Dropout_input_drop( LayerNorm( x + E[0..n−1] ) )
/// for each sequence of n rows, positions counted from each sequence's first row.
/// Names: `<name>.position_embeddings.weight` (max_pos × d), `<name>.LayerNorm.{weight,bias}`.
public final class PositionalEncoding {
    let table, lnWeight, lnBias: ParameterBinding
    public let features: Int
    public let maxPositions: Int
    let rate: Double
    let site: DropoutSite

    let summed = ActivationBuffer(), mean = ActivationBuffer(), rstd = ActivationBuffer()
    public let output = ActivationBuffer()
    let scratch: ScratchArena
    private var rows = 0

    public init(_ name: String, features: Int, maxPositions: Int, rate: Double, site: DropoutSite,
                parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena) {
        self.scratch = scratch
        table = ParameterBinding("\(name).position_embeddings.weight", parameters: parameters, gradients: gradients)
        lnWeight = ParameterBinding("\(name).LayerNorm.weight", parameters: parameters, gradients: gradients)
        lnBias = ParameterBinding("\(name).LayerNorm.bias", parameters: parameters, gradients: gradients)
        self.features = features
        self.maxPositions = maxPositions
        self.rate = rate
        self.site = site
    }

    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        precondition(batch.longest <= maxPositions, "a sequence of \(batch.longest) rows exceeds the \(maxPositions) positions")
        rows = batch.rows
        let d = features
        let s = summed.reserve(rows * d)
        for q in 0..<batch.count {
            let o = batch.offsets[q]
            for i in 0..<batch.lengths[q] {
                Vector.add(x + (o + i) * d, table.value + i * d, into: s + (o + i) * d, count: d)
            }
        }
        let ln = scratch.slot(0, rows * d)
        LayerNorm.forward(x: s, weight: lnWeight.value, bias: lnBias.value, y: ln, mean: mean.reserve(rows),
                          rstd: rstd.reserve(rows), rows: rows, cols: d)
        dropout.forward(site: site, rate: dropout.rate(rate), x: ln, y: output.reserve(rows * d), batch: batch, cols: d)
    }

    /// Accumulates dx += ∂L/∂x and the table and LayerNorm gradients from dy.
    public func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        let d = features, n = rows * d
        let dn = scratch.zeroed(0, n)
        dropout.backward(site: site, rate: dropout.rate(rate), dy: dy, dx: dn, batch: batch, cols: d)
        let ds = scratch.zeroed(1, n)
        LayerNorm.backward(x: summed.pointer, weight: lnWeight.value, mean: mean.pointer, rstd: rstd.pointer, dy: dn,
                           dx: ds, dWeight: lnWeight.gradient, dBias: lnBias.gradient, rows: rows, cols: d)
        Vector.axpy(alpha: 1, x: ds, y: dx, count: n)
        for q in 0..<batch.count {
            let o = batch.offsets[q]
            for i in 0..<batch.lengths[q] {
                Vector.axpy(alpha: 1, x: ds + (o + i) * d, y: table.gradient + i * d, count: d)
            }
        }
    }
}
