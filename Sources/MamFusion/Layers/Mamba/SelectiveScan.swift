import CKernels

/// The selective scan of one sequence (MODEL.md §1), forward and hand-written backward, over raw
/// row-major buffers; the loops are the C kernels `mf_mamba_scan_forward` / `_backward`.
///
/// Forward, for t = 0..<length (E = channels, N = states):
///   h_t = exp(Δ_t ⊙ A) ⊙ h_{t−1} + (Δ_t ⊙ u_t) ⊗ B_t,  h_{−1} = 0 (h_t is E×N),
///   y_t = h_t C_t + D ⊙ u_t.
/// Backward runs time in reverse with g_t = ∂L/∂h_t = dy_t ⊗ C_t + exp(Δ_{t+1} ⊙ A) ⊙ g_{t+1}:
///   ∂Δ_t = Σ_n g_t ⊙ (A ⊙ a_t ⊙ h_{t−1} + u_t ⊗ B_t),  ∂u_t = Σ_n g_t Δ_t B_t + D ⊙ dy_t,
///   ∂B_t = Σ_c g_t Δ_t u_t,  ∂C_t = Σ_c dy_t h_t,  ∂A = Σ_t g_t ⊙ a_t ⊙ h_{t−1} Δ_t,
///   ∂A_log = ∂A ⊙ A,  ∂D = Σ_t dy_t ⊙ u_t.
/// The forward stores h only at the end of every `segment` steps; the backward recomputes each
/// segment from its checkpoint (one extra forward scan, no per-step state). Memory per sequence
/// of length L: (⌈L/K⌉ − 1)·E·N floats of checkpoints — 720 KiB for L = 512, E = 768, N = 16,
/// K = 32, against 24 MiB for every h_t — plus `scratchCount` floats of backward scratch.
/// exp(Δ·A) is evaluated as 2^(Δ·A·log2 e) with a polynomial (≈ 1e-7 relative), as the reference
/// CUDA kernel does with exp2f.
enum SelectiveScan {
    /// Floats of checkpoints one sequence of `length` steps needs: (⌈L/K⌉ − 1)·E·N.
    static func checkpointCount(length: Int, channels: Int, states: Int, segment: Int) -> Int {
        length == 0 ? 0 : ((length + segment - 1) / segment - 1) * channels * states
    }

    /// Floats of scratch the backward needs: (2K + 1)·16·N for one recomputed segment of one
    /// channel block (room for 16 lanes, `mf_mamba_scan_lanes`), plus 2·E·N for the gradient
    /// carried across segments and the ∂A sum.
    static func scratchCount(channels: Int, states: Int, segment: Int) -> Int {
        mf_mamba_scan_scratch_floats(channels, states, segment)
    }

    /// `decay` for the kernels: −exp(A_log)·log2 e transposed to states × channels, so that
    /// exp(Δ·A) = 2^(Δ·decay) (the reference CUDA kernel's formulation).
    static func decay(aLog: UnsafePointer<Float>, channels: Int, states: Int, into decay: UnsafeMutablePointer<Float>) {
        mf_mamba_scan_decay(aLog, channels, states, decay)
    }

    /// - Parameters: delta, u, y: length×channels (row stride channels); b, c: length×states with
    ///   row stride `ldbc`; decay: from `decay(aLog:…)` (states×channels); skip: D (channels);
    ///   checkpoints: `checkpointCount` floats, written. `lanes`: the kernels' vector width (the
    ///   process's; tests compare 8 and 16: the same bits).
    static func forward(lanes: Int32 = mf_mamba_scan_lanes(), length: Int, channels: Int, states: Int,
                        delta: UnsafePointer<Float>, u: UnsafePointer<Float>,
                        b: UnsafePointer<Float>, c: UnsafePointer<Float>, ldbc: Int,
                        decay: UnsafePointer<Float>, skip: UnsafePointer<Float>,
                        y: UnsafeMutablePointer<Float>, checkpoints: UnsafeMutablePointer<Float>, segment: Int) {
        precondition(states <= Int(MF_MAMBA_MAX_STATE) && segment >= 1, "scan: states \(states) segment \(segment)")
        mf_mamba_scan_forward(lanes, length, channels, states, delta, u, b, c, ldbc, decay, skip, y, checkpoints, segment)
    }

    /// Backward of `forward` for the same inputs and checkpoints, given dy. Overwrites
    /// ddelta and du (length×channels); ACCUMULATES into db, dc (row stride lddbc), dALog
    /// (channels×states) and dSkip (channels). `scratch`: `scratchCount` floats. `lanes`: as for
    /// `forward`.
    static func backward(lanes: Int32 = mf_mamba_scan_lanes(), length: Int, channels: Int, states: Int,
                         delta: UnsafePointer<Float>, u: UnsafePointer<Float>,
                         b: UnsafePointer<Float>, c: UnsafePointer<Float>, ldbc: Int,
                         decay: UnsafePointer<Float>, skip: UnsafePointer<Float>,
                         checkpoints: UnsafePointer<Float>, segment: Int,
                         dy: UnsafePointer<Float>,
                         ddelta: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>,
                         db: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>, lddbc: Int,
                         dALog: UnsafeMutablePointer<Float>, dSkip: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>) {
        precondition(states <= Int(MF_MAMBA_MAX_STATE) && segment >= 1, "scan: states \(states) segment \(segment)")
        mf_mamba_scan_backward(lanes, length, channels, states, delta, u, b, c, ldbc, decay, skip,
                               checkpoints, segment, dy, ddelta, du, db, dc, lddbc, dALog, dSkip, scratch)
    }
}
