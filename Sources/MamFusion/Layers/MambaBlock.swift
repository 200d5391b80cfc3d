import TensorKit

/// A Mamba unit as the model applies it (MODEL.md §1): x ← x + LayerNorm(Mamba(x)), no norm
/// after the add. Names: `<name>.0.*` the Mamba core, `<name>.1.{weight,bias}` the LayerNorm.
/// Runs on packed valid rows (`SequenceBatch`): the unit is causal with padding at the end, so
/// padded rows never change valid outputs.
public final class MambaBlock {
    let unit: MambaUnit
    let parameters: MambaParameters
    let gradients: MambaGradients
    let lnWeight, lnBias: ParameterBinding
    public let features: Int
    var workspace: MambaWorkspace?
    let mambaOutput = ActivationBuffer(), mean = ActivationBuffer(), rstd = ActivationBuffer()
    public let output = ActivationBuffer()
    let scratch: ScratchArena
    /// Seconds spent in this unit (forward + backward, LayerNorm and residual included) and in its
    /// selective scans, since `resetTimers()` — for the benchmark's phase split.
    public private(set) var seconds = 0.0
    public var scanSeconds: Double { workspace?.scanSeconds ?? 0 }
    public func resetTimers() {
        seconds = 0
        workspace?.scanSeconds = 0
    }

    public init(_ name: String, dimensions: ModelDimensions, parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena) {
        self.scratch = scratch
        unit = MambaUnit(dimensions: dimensions)
        self.parameters = MambaParameters(dimensions: dimensions) { parameters.tensor("\(name).0.\($0.rawValue)") }
        self.gradients = MambaParameters(dimensions: dimensions) { gradients.tensor("\(name).0.\($0.rawValue)") }
        lnWeight = ParameterBinding("\(name).1.weight", parameters: parameters, gradients: gradients)
        lnBias = ParameterBinding("\(name).1.bias", parameters: parameters, gradients: gradients)
        features = dimensions.hidden
    }

    private func workspace(for batch: SequenceBatch) -> MambaWorkspace {
        if let w = workspace, w.rowCapacity >= batch.rows, w.batch >= batch.count, w.maxLength >= batch.longest,
           w.scratch === scratch.currentMambaScratch { return w }
        // Grow by 1/8 so that slowly varying batch shapes do not reallocate every step.
        let rows = batch.rows + batch.rows / 8
        let shared = scratch.mambaScratch(dimensions: unit.dimensions, rows: rows)
        let w = MambaWorkspace(dimensions: unit.dimensions, packedRows: rows, sequences: batch.count + batch.count / 8 + 1,
                               maxLength: max(batch.longest, unit.dimensions.maxContextLength), scratch: shared)
        workspace = w
        return w
    }

    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch) {
        let start = MonotonicClock.now()
        defer { seconds += MonotonicClock.now() - start }
        let n = batch.rows * features
        let ws = workspace(for: batch)
        let m = mambaOutput.reserve(n)
        unit.forward(packed: x, lengths: batch.lengths, parameters: parameters, output: m, workspace: ws)
        let ln = scratch.slot(0, n)
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
        let dm = scratch.zeroed(0, n)
        LayerNorm.backward(x: mambaOutput.pointer, weight: lnWeight.value, mean: mean.pointer, rstd: rstd.pointer, dy: dy,
                           dx: dm, dWeight: lnWeight.gradient, dBias: lnBias.gradient, rows: batch.rows, cols: features)
        unit.backward(packedOutputGradient: dm, lengths: batch.lengths, parameters: parameters, gradients: gradients,
                      inputGradient: dx, workspace: workspace!)
    }
}
