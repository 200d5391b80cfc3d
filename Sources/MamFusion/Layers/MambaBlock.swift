import TensorKit

/// A Mamba unit as the model applies it (MODEL.md §1): x ← x + LayerNorm(Mamba(x)), no norm
/// after the add. Names: `<name>.0.*` the Mamba core, `<name>.1.{weight,bias}` the LayerNorm.
/// Runs on packed valid rows (`SequenceBatch`): the unit is causal with padding at the end, so
/// padded rows never change valid outputs.
public final class MambaBlock: @unchecked Sendable {
    let unit: MambaUnit
    let parameters: MambaParameters
    let gradients: MambaGradients
    let lnWeight, lnBias: ParameterBinding
    public let features: Int
    var workspace: MambaWorkspace?
    let mambaOutput = ActivationBuffer(), normalized = ActivationBuffer(), mean = ActivationBuffer(), rstd = ActivationBuffer()
    public let output = ActivationBuffer()
    let dMamba = ActivationBuffer()
    /// Seconds spent in this unit (forward + backward, LayerNorm and residual included) and in its
    /// selective scans, since `resetTimers()` — for the benchmark's phase split.
    public private(set) var seconds = 0.0
    public var scanSeconds: Double { workspace?.scanSeconds ?? 0 }
    public func resetTimers() {
        seconds = 0
        workspace?.scanSeconds = 0
    }

    public init(_ name: String, dimensions: ModelDimensions, parameters: ParameterSet, gradients: ParameterSet) {
        unit = MambaUnit(dimensions: dimensions)
        self.parameters = MambaParameters(dimensions: dimensions) { parameters.tensor("\(name).0.\($0.rawValue)") }
        self.gradients = MambaParameters(dimensions: dimensions) { gradients.tensor("\(name).0.\($0.rawValue)") }
        lnWeight = ParameterBinding("\(name).1.weight", parameters: parameters, gradients: gradients)
        lnBias = ParameterBinding("\(name).1.bias", parameters: parameters, gradients: gradients)
        features = dimensions.hidden
    }

    private func workspace(for batch: SequenceBatch) -> MambaWorkspace {
        if let w = workspace, w.rowCapacity >= batch.rows, w.batch >= batch.count, w.maxLength >= batch.longest { return w }
        let w = MambaWorkspace(dimensions: unit.dimensions, packedRows: batch.rows, sequences: batch.count, maxLength: batch.longest)
        workspace = w
        return w
    }

    /// Bytes of saved activations (for memory reports).
    public var workspaceBytes: Int { workspace?.byteCount ?? 0 }

    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch) {
        let start = MonotonicClock.now()
        defer { seconds += MonotonicClock.now() - start }
        let n = batch.rows * features
        let ws = workspace(for: batch)
        let m = mambaOutput.reserve(n)
        unit.forward(packed: x, lengths: batch.lengths, parameters: parameters, output: m, workspace: ws)
        let ln = normalized.reserve(n)
        LayerNorm.forward(x: m, weight: lnWeight.value, bias: lnBias.value, y: ln, mean: mean.reserve(batch.rows),
                          rstd: rstd.reserve(batch.rows), rows: batch.rows, cols: features)
        Vector.add(x, ln, into: output.reserve(n), count: n)
    }

    /// Accumulates dx and the Mamba and LayerNorm parameter gradients from dy.
    public func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, batch: SequenceBatch) {
        let start = MonotonicClock.now()
        defer { seconds += MonotonicClock.now() - start }
        let n = batch.rows * features
        Vector.axpy(alpha: 1, x: dy, y: dx, count: n)  // the residual path
        let dm = dMamba.zeroed(n)
        LayerNorm.backward(x: mambaOutput.pointer, weight: lnWeight.value, mean: mean.pointer, rstd: rstd.pointer, dy: dy,
                           dx: dm, dWeight: lnWeight.gradient, dBias: lnBias.gradient, rows: batch.rows, cols: features)
        unit.backward(packedOutputGradient: dm, lengths: batch.lengths, parameters: parameters, gradients: gradients,
                      inputGradient: dx, workspace: workspace!)
    }
}
