import TensorKit

/// The views of one ResMamba block (`MS_mamba.<i>.…` in the official code).
public struct ResMambaBlockParameters {
    /// Official names after `MS_mamba.<i>.`, in state_dict order.
    public static func names() -> [String] {
        BidirectionalMambaParameters.names().map { "mamba." + $0 } + ["layer_norm1.weight", "layer_norm1.bias", "temporal_fc.weight", "temporal_fc.bias"]
    }

    public static func shape(_ name: String, _ dimensions: ModelDimensions) -> [Int] {
        let w = dimensions.hidden
        switch name {
        case "layer_norm1.weight", "layer_norm1.bias", "temporal_fc.bias": return [w]
        case "temporal_fc.weight": return [w, w]
        default: return BidirectionalMambaParameters.shape(String(name.dropFirst("mamba.".count)), dimensions)
        }
    }

    public let mamba: BidirectionalMambaParameters
    public let normWeight: Tensor, normBias: Tensor
    /// Wg (W × W) and bg: `temporal_fc`.
    public let gateWeight: Tensor, gateBias: Tensor

    /// Views by official name after `MS_mamba.<i>.`.
    public init(dimensions: ModelDimensions, view: (String) -> Tensor) {
        func checked(_ name: String) -> Tensor {
            let t = view(name)
            precondition(t.shape == Self.shape(name, dimensions), "ResMamba \(name): expected shape \(Self.shape(name, dimensions)), got \(t.shape)")
            return t
        }
        mamba = BidirectionalMambaParameters(dimensions: dimensions) { view("mamba." + $0) }
        (normWeight, normBias) = (checked("layer_norm1.weight"), checked("layer_norm1.bias"))
        (gateWeight, gateBias) = (checked("temporal_fc.weight"), checked("temporal_fc.bias"))
    }

    /// Values in one block (1,171,968 at W = 512: BiMamba 908,288 + LN 1,024 + temporal_fc 262,656).
    public static func count(_ dimensions: ModelDimensions) -> Int {
        names().reduce(0) { $0 + shape($1, dimensions).reduce(1, *) }
    }
}

/// One pre-norm ResMamba block of MUSE (⚠ pre-norm in the code, post-norm in the paper; MUSE.md
/// §2.4), forward and hand-written backward over packed sequences (rows × W):
///
///     y = x + Wg · Dropout_p(BiMamba(LayerNorm(x))) + bg
///
/// LayerNorm eps 1e-5; the dropout mask is keyed by (seed, step, the sequence's global index,
/// the block's site) and recomputed in backward (`DropoutContext`). The block owns its output
/// buffer (the next block's input, which it reads again in backward) and what its backward
/// needs; temporaries come from the shared `ScratchArena` (slots 0–3 the BiMamba's, 4–5 its own).
public final class ResMambaBlock {
    public let dimensions: ModelDimensions
    let parameters: ResMambaBlockParameters
    let gradients: ResMambaBlockParameters
    let mamba: BidirectionalMamba
    /// Dropout rate and the site that keys its masks.
    let rate: Double
    let site: DropoutSite
    let scratch: ScratchArena
    let mean = ActivationBuffer(), rstd = ActivationBuffer()
    /// LayerNorm(x): the BiMamba's input, kept for its backward.
    let normalized = ActivationBuffer()
    /// Dropout(BiMamba(·)): temporal_fc's input, kept for ∂Wg.
    let dropped = ActivationBuffer()
    public let output = ActivationBuffer()
    private var saved: (x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext)?

    public init(dimensions: ModelDimensions, parameters: ResMambaBlockParameters, gradients: ResMambaBlockParameters,
                rate: Double, site: DropoutSite, scratch: ScratchArena) {
        self.dimensions = dimensions
        self.parameters = parameters
        self.gradients = gradients
        self.rate = rate
        self.site = site
        self.scratch = scratch
        mamba = BidirectionalMamba(dimensions: dimensions, parameters: parameters.mamba, gradients: gradients.mamba, scratch: scratch)
    }

    /// `output` (rows × W) from x (rows × W), which must stay alive and unchanged until backward.
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) -> UnsafeMutablePointer<Float> {
        let w = dimensions.hidden, rows = batch.rows, n = rows * w
        let h = normalized.reserve(n)
        LayerNorm.forward(x: x, weight: parameters.normWeight.pointer, bias: parameters.normBias.pointer, y: h,
                          mean: mean.reserve(rows), rstd: rstd.reserve(rows), rows: rows, cols: w)
        let m = scratch.slot(4, n)
        mamba.forward(h, batch: batch, output: m)
        let d = dropped.reserve(n)
        dropout.forward(site: site, rate: dropout.rate(rate), x: m, y: d, batch: batch, cols: w)
        let y = output.reserve(n)
        Linear.forward(x: d, weight: parameters.gateWeight.pointer, bias: parameters.gateBias.pointer, y: y,
                       rows: rows, inFeatures: w, outFeatures: w)
        Vector.add(x, y, into: y, count: n)
        saved = (x, batch, dropout)
        return y
    }

    /// **Accumulates** dx (rows × W) and every parameter gradient from dy (rows × W). dy must not
    /// be a scratch slot.
    public func backward(_ dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        guard let (x, batch, dropout) = saved else { preconditionFailure("ResMambaBlock.backward before forward") }
        let w = dimensions.hidden, rows = batch.rows, n = rows * w
        Vector.axpy(alpha: 1, x: dy, y: dx, count: n)  // the residual path
        // temporal_fc: ∂d = ∂y Wg, ∂Wg += ∂yᵀ d, ∂bg += Σ ∂y; then the dropout mask.
        let dd = scratch.zeroed(5, n)
        Linear.backward(x: dropped.pointer, weight: parameters.gateWeight.pointer, dy: dy, dx: dd,
                        dWeight: gradients.gateWeight.pointer, dBias: gradients.gateBias.pointer, rows: rows, inFeatures: w, outFeatures: w)
        let dm = scratch.zeroed(4, n)
        dropout.backward(site: site, rate: dropout.rate(rate), dy: dd, dx: dm, batch: batch, cols: w)
        // BiMamba, then the LayerNorm (∂h reuses slot 5: ∂d is consumed).
        let dh = scratch.zeroed(5, n)
        mamba.backward(dm, dx: dh)
        LayerNorm.backward(x: x, weight: parameters.normWeight.pointer, mean: mean.pointer, rstd: rstd.pointer, dy: dh, dx: dx,
                           dWeight: gradients.normWeight.pointer, dBias: gradients.normBias.pointer, rows: rows, cols: w)
    }

    /// Bytes held by this block's own buffers.
    public var bytes: Int { [mean, rstd, normalized, dropped, output].reduce(mamba.bytes) { $0 + $1.bytes } }
}
