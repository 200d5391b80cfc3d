import TensorKit

/// The tensors of one bidirectional Mamba (Vim's `Mamba(bimamba_type="v2")`, MUSE.md §2.5):
/// in_proj and out_proj shared by the two directions, a Mamba core each.
public struct BidirectionalMambaParameters {
    /// The tensors' official names (after `<block>.mamba.`), in the official state_dict order:
    /// the module's own parameters first (A_log, D, A_b_log, D_b), then its sub-modules.
    public static func names() -> [String] {
        ["A_log", "D", "A_b_log", "D_b", "in_proj.weight"]
            + ["conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight", "dt_proj.bias"]
            + ["conv1d_b.weight", "conv1d_b.bias", "x_proj_b.weight", "dt_proj_b.weight", "dt_proj_b.bias", "out_proj.weight"]
    }

    /// The official name of a core tensor of the backward (reversed) direction: Vim appends `_b`
    /// to the module (`conv1d_b.weight`) or to the parameter (`A_b_log`, `D_b`).
    public static func backwardName(_ name: MambaParameters.Name) -> String {
        switch name {
        case .aLog: return "A_b_log"
        case .skip: return "D_b"
        default:
            let parts = name.rawValue.split(separator: ".")
            return "\(parts[0])_b.\(parts[1])"
        }
    }

    /// PyTorch shapes by official name.
    public static func shape(_ name: String, _ dimensions: ModelDimensions) -> [Int] {
        switch name {
        case "in_proj.weight": return MambaParameters.Name.inProjection.shape(dimensions)
        case "out_proj.weight": return MambaParameters.Name.outProjection.shape(dimensions)
        default:
            let core = MambaCoreParameters.names.first { $0.rawValue == name || backwardName($0) == name }!
            return core.shape(dimensions)
        }
    }

    /// W_in (2E × W): rows 0..<E give x', rows E..<2E give z.
    public let inProjection: Tensor
    /// W_out (W × E).
    public let outProjection: Tensor
    public let forward: MambaCoreParameters
    public let backward: MambaCoreParameters

    /// Views by official name (e.g. `{ set.tensor("MS_mamba.0.mamba." + $0) }`), shapes checked.
    public init(dimensions: ModelDimensions, view: (String) -> Tensor) {
        func checked(_ name: String) -> Tensor {
            let t = view(name)
            precondition(t.shape == Self.shape(name, dimensions), "BiMamba \(name): expected shape \(Self.shape(name, dimensions)), got \(t.shape)")
            return t
        }
        inProjection = checked("in_proj.weight")
        outProjection = checked("out_proj.weight")
        forward = MambaCoreParameters(dimensions: dimensions) { checked($0.rawValue) }
        backward = MambaCoreParameters(dimensions: dimensions) { checked(Self.backwardName($0)) }
    }

    /// Values in one bidirectional Mamba (908,288 at W = 512, expand 1).
    public static func count(_ dimensions: ModelDimensions) -> Int {
        names().reduce(0) { $0 + shape($1, dimensions).reduce(1, *) }
    }
}

/// A bidirectional Mamba, Vim's v2 (MUSE.md §2.5), forward and hand-written backward over packed
/// sequences (`SequenceBatch`, rows × W):
///
///     [x' | z] = x W_inᵀ                                  (once, shared)
///     g_f = core_f([x' | z])                              (the sequence in order)
///     g_b = flip(core_b(flip([x' | z])))                  (the sequence reversed in time)
///     out = (g_f + g_b) W_outᵀ                            (a sum, not halved; once, shared)
///
/// where core is one MamFusion Mamba unit without its projections (`MambaUnit.forwardCore`),
/// gated output y ⊙ SiLU(z). Each direction keeps its own `MambaWorkspace`; the two share one
/// `MambaScratch` (they never run at the same time). `x` must stay alive and unchanged between
/// forward and backward (∂W_in reads it).
public final class BidirectionalMamba {
    public let dimensions: ModelDimensions
    let unit: MambaUnit
    let parameters: BidirectionalMambaParameters
    let gradients: BidirectionalMambaParameters
    private(set) var forwardWorkspace: MambaWorkspace?
    private(set) var backwardWorkspace: MambaWorkspace?
    /// g_f + g_b, kept for ∂W_out.
    let gated = ActivationBuffer()
    let scratch: ScratchArena
    private var savedInput: UnsafePointer<Float>?
    private var savedBatch: SequenceBatch?

    public init(dimensions: ModelDimensions, parameters: BidirectionalMambaParameters, gradients: BidirectionalMambaParameters,
                scratch: ScratchArena) {
        self.dimensions = dimensions
        unit = MambaUnit(dimensions: dimensions)
        self.parameters = parameters
        self.gradients = gradients
        self.scratch = scratch
    }

    /// Workspaces for `batch`, grown (by 1/8, so slowly varying shapes do not reallocate) when
    /// too small or when the shared scratch was replaced.
    private func workspaces(for batch: SequenceBatch) -> (MambaWorkspace, MambaWorkspace) {
        if let f = forwardWorkspace, let b = backwardWorkspace, f.rowCapacity >= batch.rows, f.batch >= batch.count,
           f.maxLength >= batch.longest, f.scratch === scratch.currentMambaScratch {
            return (f, b)
        }
        let rows = batch.rows + batch.rows / 8
        let shared = scratch.mambaScratch(dimensions: dimensions, rows: rows)
        let sequences = batch.count + batch.count / 8 + 1
        let f = MambaWorkspace(dimensions: dimensions, packedRows: rows, sequences: sequences, maxLength: batch.longest, scratch: shared)
        let b = MambaWorkspace(dimensions: dimensions, packedRows: rows, sequences: sequences, maxLength: batch.longest, scratch: shared)
        (forwardWorkspace, backwardWorkspace) = (f, b)
        return (f, b)
    }

    /// Copies each sequence's rows of `source` (row stride `cols`) into `target` in reverse time
    /// order: row offset + t ↦ row offset + length − 1 − t. With `accumulate`, adds instead.
    static func reverse(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, batch: SequenceBatch,
                        cols: Int, accumulate: Bool = false) {
        for s in 0..<batch.count {
            let first = batch.offsets[s], length = batch.lengths[s]
            for t in 0..<length {
                let from = source + (first + t) * cols, to = target + (first + length - 1 - t) * cols
                if accumulate { Vector.axpy(alpha: 1, x: from, y: to, count: cols) } else { to.update(from: from, count: cols) }
            }
        }
    }

    /// out (rows × W) from x (rows × W).
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, output: UnsafeMutablePointer<Float>) {
        let w = dimensions.hidden, e = dimensions.mambaInner, rows = batch.rows
        let (f, b) = workspaces(for: batch)
        Matmul.forward(transB: true, m: rows, n: 2 * e, k: w, a: x, b: parameters.inProjection.pointer, c: f.projectedRows)
        Self.reverse(f.projectedRows, into: b.projectedRows, batch: batch, cols: 2 * e)
        let g = gated.reserve(rows * e)
        let reversed = scratch.slot(0, rows * e)
        unit.forwardCore(lengths: batch.lengths, parameters: parameters.forward, gated: g, workspace: f)
        unit.forwardCore(lengths: batch.lengths, parameters: parameters.backward, gated: reversed, workspace: b)
        Self.reverse(reversed, into: g, batch: batch, cols: e, accumulate: true)
        Matmul.forward(transB: true, m: rows, n: w, k: e, a: g, b: parameters.outProjection.pointer, c: output)
        savedInput = x
        savedBatch = batch
    }

    /// **Accumulates** dx (rows × W) and every parameter gradient from dOut (rows × W).
    public func backward(_ dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        guard let x = savedInput, let batch = savedBatch, let f = forwardWorkspace, let b = backwardWorkspace else {
            preconditionFailure("BidirectionalMamba.backward before forward")
        }
        let w = dimensions.hidden, e = dimensions.mambaInner, rows = batch.rows
        // out_proj: ∂W_out += ∂outᵀ g, ∂g = ∂out W_out
        let dg = scratch.slot(0, rows * e)
        Matmul.forward(m: rows, n: e, k: w, a: dOut, b: parameters.outProjection.pointer, c: dg)
        Matmul.backward(transB: true, m: rows, n: w, k: e, a: gated.pointer, b: parameters.outProjection.pointer,
                        dC: dOut, dA: nil, dB: gradients.outProjection.pointer)
        // The two cores: ∂[x' | z] of each (the reversed one flipped back) summed.
        let dxz = scratch.slot(1, rows * 2 * e), dxzReversed = scratch.slot(2, rows * 2 * e), dgReversed = scratch.slot(3, rows * e)
        unit.backwardCore(gatedGradient: dg, lengths: batch.lengths, parameters: parameters.forward, gradients: gradients.forward,
                          projectedGradient: dxz, workspace: f)
        Self.reverse(dg, into: dgReversed, batch: batch, cols: e)
        unit.backwardCore(gatedGradient: dgReversed, lengths: batch.lengths, parameters: parameters.backward, gradients: gradients.backward,
                          projectedGradient: dxzReversed, workspace: b)
        Self.reverse(dxzReversed, into: dxz, batch: batch, cols: 2 * e, accumulate: true)
        // in_proj: ∂W_in += ∂[x'|z]ᵀ x, ∂x += ∂[x'|z] W_in
        Matmul.backward(transB: true, m: rows, n: 2 * e, k: w, a: x, b: parameters.inProjection.pointer,
                        dC: dxz, dA: dx, dB: gradients.inProjection.pointer)
    }

    /// Bytes held by this layer's own buffers (the shared scratch not included).
    public var bytes: Int { gated.bytes + (forwardWorkspace?.byteCount ?? 0) + (backwardWorkspace?.byteCount ?? 0) }
}
