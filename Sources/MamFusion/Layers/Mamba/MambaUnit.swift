import CKernels
import TensorKit

/// The Mamba-1 unit core (MODEL.md §1 "Mamba unit"; the caller adds `x + LayerNorm(·)`), forward
/// and hand-written backward over a batch of sequences of different lengths.
///
/// Per valid step t of a sequence, with E = d_inner, N = d_state, R = dt_rank, W = d_conv:
/// ```
/// [x'_t, z_t] = W_in x_t                                  in_proj   (2E×d)
/// u_t  = SiLU(b_c + Σ_k w_c[·,k] ⊙ x'_{t+k−(W−1)})           conv1d    (E×1×W, E), zero left pad
/// [δ_t, B_t, C_t] = W_x u_t                               x_proj    ((R+2N)×E)
/// Δ_t  = softplus(W_dt δ_t + b_dt)                         dt_proj   (E×R, E), threshold 20
/// h_t  = exp(Δ_t ⊙ A) ⊙ h_{t−1} + (Δ_t ⊙ u_t) ⊗ B_t,  A = −exp(A_log) (E×N), h_{−1} = 0
/// y_t  = (h_t C_t + D ⊙ u_t) ⊙ SiLU(z_t)
/// out_t = W_out y_t                                        out_proj  (d×E)
/// ```
/// Batches are packed: sequence s is the next `lengths[s]` rows (no padding rows), so each
/// projection is one GEMM over all valid rows. The unit is causal, so a sequence's outputs never
/// depend on padding a caller's batch may have.
///
/// The selective scan keeps no per-step state: the forward stores h every K steps and the
/// backward recomputes each segment (`SelectiveScan`; memory formula on `MambaWorkspace`).
///
/// Buffers: parameters and gradients are the caller's views (`MambaParameters`); saved
/// activations live in the caller's `MambaWorkspace`, temporaries in its `MambaScratch` (which
/// the units of a model may share); forward and backward allocate nothing.
public struct MambaUnit: Sendable {
    public let dimensions: ModelDimensions

    public init(dimensions: ModelDimensions) {
        precondition(dimensions.mambaState <= Int(MF_MAMBA_MAX_STATE), "d_state above \(MF_MAMBA_MAX_STATE)")
        precondition(dimensions.mambaConvolution >= 1 && dimensions.mambaConvolution <= Int(MF_MAMBA_MAX_CONV_WIDTH),
                     "d_conv must be 1...\(MF_MAMBA_MAX_CONV_WIDTH)")
        self.dimensions = dimensions
    }

    // MARK: - Forward

    /// Computes the unit on packed rows: sequence s occupies the next `lengths[s]` rows of
    /// `input` (Σ lengths × d, no padding rows); writes the packed `output` rows and saves what
    /// backward needs in `workspace` (overwriting the previous batch's activations). `input` must stay
    /// alive and unchanged until `backward(packedOutputGradient:…)` (it is read again there).
    public func forward(packed input: UnsafePointer<Float>, lengths: [Int], parameters p: MambaParameters,
                        output: UnsafeMutablePointer<Float>, workspace ws: MambaWorkspace) {
        let rows = lengths.reduce(0, +)
        precondition(ws.dimensions == dimensions, "Mamba workspace built for other dimensions")
        precondition(rows <= ws.rowCapacity && lengths.count <= ws.batch && (lengths.max() ?? 0) <= ws.maxLength,
                     "Mamba: \(rows) rows in \(lengths.count) sequences exceed the workspace")
        forwardRows(x: input, rows: rows, lengths: lengths, parameters: p, output: output, workspace: ws)
    }

    /// Forward over `rows` packed valid rows `x`, writing packed output rows `out`.
    private func forwardRows(x: UnsafePointer<Float>, rows: Int, lengths: [Int], parameters p: MambaParameters,
                             output out: UnsafeMutablePointer<Float>, workspace ws: MambaWorkspace) {
        let d = dimensions.hidden, e = dimensions.mambaInner
        let s = ws.scratch
        ws.savedInput = x
        // [x' | z] = x W_inᵀ
        MatrixEngine.gemm(transB: true, m: rows, n: 2 * e, k: d, a: x, lda: d,
                  b: p.inProjection.pointer, ldb: d, c: ws.projected, ldc: 2 * e)
        coreForward(rows: rows, lengths: lengths, parameters: p.core, gated: s.gated, workspace: ws)
        // out = (y ⊙ SiLU(z)) W_outᵀ
        MatrixEngine.gemm(transB: true, m: rows, n: d, k: e, a: s.gated, lda: e,
                  b: p.outProjection.pointer, ldb: e, c: out, ldc: d)
    }

    // MARK: - The core without projections

    /// The core alone — Vim's `mamba_inner_fn_no_out_proj`, one direction of a bidirectional
    /// Mamba whose projections are shared (MUSE.md §2.5): from [x' | z] rows to the gated output
    /// y ⊙ SiLU(z), so that a caller with two cores runs in_proj and out_proj once.
    ///
    /// The caller writes the packed [x' | z] rows (Σ lengths × 2E, sequence after sequence) into
    /// `workspace.projectedRows` first; `gated` receives Σ lengths × E rows. The workspace keeps
    /// what `backwardCore` needs (the [x' | z] rows included: leave them unchanged until then).
    public func forwardCore(lengths: [Int], parameters: MambaCoreParameters, gated: UnsafeMutablePointer<Float>,
                            workspace ws: MambaWorkspace) {
        let rows = lengths.reduce(0, +)
        precondition(ws.dimensions == dimensions, "Mamba workspace built for other dimensions")
        precondition(rows <= ws.rowCapacity && lengths.count <= ws.batch && (lengths.max() ?? 0) <= ws.maxLength,
                     "Mamba core: \(rows) rows in \(lengths.count) sequences exceed the workspace")
        coreForward(rows: rows, lengths: lengths, parameters: parameters, gated: gated, workspace: ws)
    }

    /// Backward of `forwardCore`: from ∂L/∂gated (Σ lengths × E) ACCUMULATES the core's parameter
    /// gradients into `gradients` and OVERWRITES `projectedGradient` (Σ lengths × 2E) with
    /// ∂L/∂[x' | z].
    public func backwardCore(gatedGradient: UnsafePointer<Float>, lengths: [Int], parameters: MambaCoreParameters,
                             gradients: MambaCoreParameters, projectedGradient: UnsafeMutablePointer<Float>,
                             workspace ws: MambaWorkspace) {
        let rows = lengths.reduce(0, +)
        precondition(rows == ws.forwardRows, "Mamba core backward for \(rows) rows after a forward of \(ws.forwardRows)")
        ws.scratch.gated.update(from: gatedGradient, count: rows * dimensions.mambaInner)
        coreBackward(rows: rows, lengths: lengths, parameters: parameters, gradients: gradients,
                     gatedGradient: ws.scratch.gated, projectedGradient: projectedGradient, workspace: ws)
    }

    /// u = SiLU(conv(x')), [δ|B|C] = u W_xᵀ, Δ = softplus(δ W_dtᵀ + b_dt), y = scan, gated = y ⊙ SiLU(z),
    /// from `ws.projected`.
    private func coreForward(rows: Int, lengths: [Int], parameters p: MambaCoreParameters, gated: UnsafeMutablePointer<Float>,
                             workspace ws: MambaWorkspace) {
        let e = dimensions.mambaInner, n = dimensions.mambaState
        let r = dimensions.mambaDtRank, w = dimensions.mambaConvolution
        let sel = r + 2 * n
        let s = ws.scratch
        ws.forwardRows = rows
        // u = SiLU(causal depthwise conv(x')), per sequence
        var row = 0
        for length in lengths {
            mf_mamba_conv_silu_forward(length, e, w, ws.projected + row * 2 * e, 2 * e,
                                       p.convolutionWeight.pointer, p.convolutionBias.pointer, ws.convolved + row * e)
            row += length
        }
        // [δ | B | C] = u W_xᵀ
        Matmul.forward(transB: true, m: rows, n: sel, k: e, a: ws.convolved, lda: e,
                       b: p.xProjection.pointer, ldb: e, c: ws.selection, ldc: sel)
        // Δ = softplus(δ W_dtᵀ + b_dt)
        Matmul.forward(transB: true, m: rows, n: e, k: r, a: ws.selection, lda: sel,
                       b: p.dtProjectionWeight.pointer, ldb: r, c: ws.delta, ldc: e)
        mf_mamba_delta_softplus(rows, e, ws.delta, p.dtProjectionBias.pointer)
        // y = scan(Δ, u, B, C) + D ⊙ u, per sequence
        let scanStart = MonotonicClock.now()
        mf_mamba_scan_decay(p.aLog.pointer, e, n, s.decay)
        row = 0
        var checkpoint = 0
        for length in lengths {
            SelectiveScan.forward(length: length, channels: e, states: n,
                                  delta: ws.delta + row * e, u: ws.convolved + row * e,
                                  b: ws.selection + row * sel + r, c: ws.selection + row * sel + r + n, ldbc: sel,
                                  decay: s.decay, skip: p.skip.pointer,
                                  y: ws.scanOutput + row * e, checkpoints: ws.checkpoints + checkpoint,
                                  segment: ws.segmentLength)
            row += length
            checkpoint += SelectiveScan.checkpointCount(length: length, channels: e, states: n, segment: ws.segmentLength)
        }
        ws.scanSeconds += MonotonicClock.now() - scanStart
        mf_mamba_gate_forward(rows, e, ws.scanOutput, ws.projected + e, 2 * e, gated)
    }

    // MARK: - Backward

    /// Backward on packed rows after `forward(packed:…)`: ACCUMULATES ∂L/∂parameters into
    /// `gradients` and ∂L/∂input into the packed rows `inputGradient`.
    public func backward(packedOutputGradient dy: UnsafePointer<Float>, lengths: [Int], parameters p: MambaParameters,
                         gradients g: MambaGradients, inputGradient dx: UnsafeMutablePointer<Float>, workspace ws: MambaWorkspace) {
        let rows = lengths.reduce(0, +)
        precondition(rows == ws.forwardRows, "Mamba backward for \(rows) rows after a forward of \(ws.forwardRows)")
        backwardRows(dOut: dy, rows: rows, lengths: lengths, parameters: p, gradients: g, dx: dx, dxBeta: 1, workspace: ws)
    }

    /// Backward over packed rows: reads ∂out rows `dOut`, writes ∂x rows into `dx` scaled-added
    /// with `dxBeta` (0 overwrite, 1 accumulate). `dOut` may alias `dx` (read before written).
    private func backwardRows(dOut: UnsafePointer<Float>, rows: Int, lengths: [Int], parameters p: MambaParameters,
                              gradients g: MambaGradients, dx: UnsafeMutablePointer<Float>, dxBeta: Float,
                              workspace ws: MambaWorkspace) {
        let d = dimensions.hidden, e = dimensions.mambaInner
        let s = ws.scratch
        // out_proj: ∂W_out += ∂outᵀ gated (gated recomputed from y, z); ∂gated = ∂out W_out
        mf_mamba_gate_forward(rows, e, ws.scanOutput, ws.projected + e, 2 * e, s.gated)
        MatrixEngine.gemm(transA: true, m: d, n: e, k: rows, a: dOut, lda: d, b: s.gated, ldb: e,
                  beta: 1, c: g.outProjection.pointer, ldc: e)
        MatrixEngine.gemm(m: rows, n: e, k: d, a: dOut, lda: d, b: p.outProjection.pointer, ldb: e,
                  c: s.gated, ldc: e)
        coreBackward(rows: rows, lengths: lengths, parameters: p.core, gradients: g.core, gatedGradient: s.gated,
                     projectedGradient: s.projectedGradient, workspace: ws)
        // in_proj: ∂W_in += ∂[x'|z]ᵀ x; ∂x = ∂[x'|z] W_in
        MatrixEngine.gemm(transA: true, m: 2 * e, n: d, k: rows, a: s.projectedGradient, lda: 2 * e, b: ws.savedInput, ldb: d,
                  beta: 1, c: g.inProjection.pointer, ldc: d)
        MatrixEngine.gemm(m: rows, n: d, k: 2 * e, a: s.projectedGradient, lda: 2 * e, b: p.inProjection.pointer, ldb: d,
                  beta: dxBeta, c: dx, ldc: d)
    }

    /// Backward of `coreForward`: `gatedGradient` (rows × E, consumed: it is turned into ∂y in
    /// place) → ∂[x'|z] into `projectedGradient` (rows × 2E, overwritten); the core's parameter
    /// gradients accumulate.
    private func coreBackward(rows: Int, lengths: [Int], parameters p: MambaCoreParameters, gradients g: MambaCoreParameters,
                              gatedGradient dGated: UnsafeMutablePointer<Float>, projectedGradient dxz: UnsafeMutablePointer<Float>,
                              workspace ws: MambaWorkspace) {
        let e = dimensions.mambaInner, n = dimensions.mambaState
        let r = dimensions.mambaDtRank, w = dimensions.mambaConvolution
        let sel = r + 2 * n
        let s = ws.scratch
        // gate: ∂z (into the z half of ∂[x'|z]), ∂y in place
        mf_mamba_gate_backward(rows, e, ws.scanOutput, ws.projected + e, 2 * e, dGated, dxz + e, 2 * e)
        // scan: ∂Δ, ∂u (overwritten), ∂B, ∂C (accumulated: zero first), ∂A_log, ∂D
        s.selectionGradient.update(repeating: 0, count: rows * sel)
        mf_mamba_scan_decay(p.aLog.pointer, e, n, s.decay)
        let scanStart = MonotonicClock.now()
        var row = 0
        var checkpoint = 0
        for length in lengths {
            SelectiveScan.backward(length: length, channels: e, states: n,
                                   delta: ws.delta + row * e, u: ws.convolved + row * e,
                                   b: ws.selection + row * sel + r, c: ws.selection + row * sel + r + n, ldbc: sel,
                                   decay: s.decay, skip: p.skip.pointer,
                                   checkpoints: ws.checkpoints + checkpoint, segment: ws.segmentLength,
                                   dy: dGated + row * e,
                                   ddelta: s.deltaGradient + row * e, du: s.convolvedGradient + row * e,
                                   db: s.selectionGradient + row * sel + r, dc: s.selectionGradient + row * sel + r + n,
                                   lddbc: sel, dALog: g.aLog.pointer, dSkip: g.skip.pointer,
                                   scratch: s.scanScratch)
            row += length
            checkpoint += SelectiveScan.checkpointCount(length: length, channels: e, states: n, segment: ws.segmentLength)
        }
        ws.scanSeconds += MonotonicClock.now() - scanStart
        // softplus: ∂(δ W_dtᵀ + b_dt) in place; ∂b_dt
        mf_mamba_delta_softplus_backward(rows, e, ws.delta, s.deltaGradient, g.dtProjectionBias.pointer)
        // dt_proj: ∂W_dt += ∂preᵀ δ; ∂δ = ∂pre W_dt (into the δ columns of ∂[δ|B|C])
        Matmul.forward(transA: true, m: e, n: r, k: rows, a: s.deltaGradient, lda: e, b: ws.selection, ldb: sel,
                       c: g.dtProjectionWeight.pointer, ldc: r, accumulate: true)
        Matmul.forward(m: rows, n: r, k: e, a: s.deltaGradient, lda: e, b: p.dtProjectionWeight.pointer, ldb: r,
                       c: s.selectionGradient, ldc: sel)
        // x_proj: ∂W_x += ∂[δ|B|C]ᵀ u; ∂u += ∂[δ|B|C] W_x
        Matmul.forward(transA: true, m: sel, n: e, k: rows, a: s.selectionGradient, lda: sel, b: ws.convolved, ldb: e,
                       c: g.xProjection.pointer, ldc: e, accumulate: true)
        Matmul.forward(m: rows, n: e, k: sel, a: s.selectionGradient, lda: sel, b: p.xProjection.pointer, ldb: e,
                       c: s.convolvedGradient, ldc: e, accumulate: true)
        // conv + SiLU: ∂x' (into the x' half of ∂[x'|z]), ∂w_c, ∂b_c, per sequence
        row = 0
        for length in lengths {
            mf_mamba_conv_silu_backward(length, e, w, ws.projected + row * 2 * e, 2 * e,
                                        p.convolutionWeight.pointer, p.convolutionBias.pointer,
                                        s.convolvedGradient + row * e, dxz + row * 2 * e, 2 * e,
                                        g.convolutionWeight.pointer, g.convolutionBias.pointer)
            row += length
        }
    }
}
