#ifndef MAMFUSION_CKERNELS_MAMBA_H
#define MAMFUSION_CKERNELS_MAMBA_H
#include <stddef.h>

/* Fused loops of the Mamba-1 unit (MODEL.md §1), called from MamFusion's `MambaUnit`.
 * Layouts are row-major with one row per time step; E = d_inner channels, N = d_state.
 * Channels are processed in blocks of 8 (one AVX2 vector); E need not be a multiple of 8.
 * Every function works on one sequence or on a set of rows and allocates nothing. */

/* ---- selective scan (mamba_scan.c) ---- */

/// Largest d_state the scan kernels accept.
#define MF_MAMBA_MAX_STATE 64

/// decay[n][c] = −exp(A_log[c][n]) · log2 e: A (A = −exp(A_log), channels × states) in the layout
/// (states × channels) and scale the scan kernels take, so that exp(Δ·A) = 2^(Δ·decay) — the
/// reference CUDA kernel's formulation.
void mf_mamba_scan_decay(const float *A_log, size_t channels, size_t states, float *decay);

/// Forward scan of one sequence of `length` steps:
///   h_t = exp(Δ_t ⊙ A) ⊙ h_{t−1} + (Δ_t ⊙ u_t) ⊗ B_t,  h_{−1} = 0,
///   y_t = h_t C_t + D ⊙ u_t.
/// delta, u, y: length × channels (row stride `channels`); B, C: length × states with row stride
/// `ldbc` (they are column slices of x_proj's output); decay: from `mf_mamba_scan_decay`;
/// D: channels. `checkpoints` receives the state at the end of every segment of `segment` steps
/// but the last: (ceil(length/segment) − 1) blocks of states × channels (layout [k][n][c], the
/// state after step (k+1)·segment − 1). `lanes`: the vector width, 8 or 16 (16 runs only where
/// `mf_mamba_scan_supports_lanes(16)`, else 8): `mf_mamba_scan_lanes()`, the process's width,
/// but for tests that compare the widths. Every output is the same bits at either width.
void mf_mamba_scan_forward(int lanes, size_t length, size_t channels, size_t states,
                           const float *delta, const float *u,
                           const float *B, const float *C, size_t ldbc,
                           const float *decay, const float *D,
                           float *y, float *checkpoints, size_t segment);

/// The vector width the scans run at: 16 lanes (AVX-512) where the CPU has it, unless the
/// environment sets MAMFUSION_SCAN_LANES=8; else 8 (AVX2 + FMA). Fixed for the process. Every
/// output is the same bits at either width.
int mf_mamba_scan_lanes(void);
/// Whether this CPU can run the scans `lanes` (8 or 16) wide.
int mf_mamba_scan_supports_lanes(int lanes);
/// Floats of `scratch` that mf_mamba_scan_backward needs at either width:
/// (2·segment + 1)·states·16 (one recomputed segment of one channel block) + 2·states·channels
/// (the gradient carried across segment boundaries and the ∂A accumulator).
size_t mf_mamba_scan_scratch_floats(size_t channels, size_t states, size_t segment);

/// Backward of `mf_mamba_scan_forward` for the same sequence, given dy = ∂L/∂y.
/// Runs time in reverse, one segment at a time: for one block of `lanes` channels, the states and
/// exp(Δ·A) factors of a segment are recomputed from its checkpoint into `scratch`, so no
/// per-step state is kept between forward and backward.
/// Writes ddelta and du (length × channels, overwritten); ACCUMULATES into dB and dC (row stride
/// lddbc, summed over channels), dA_log (channels × states, through A = −exp(A_log):
/// ∂L/∂A_log = ∂L/∂A ⊙ A) and dD (channels).
void mf_mamba_scan_backward(int lanes, size_t length, size_t channels, size_t states,
                            const float *delta, const float *u,
                            const float *B, const float *C, size_t ldbc,
                            const float *decay, const float *D,
                            const float *checkpoints, size_t segment,
                            const float *dy,
                            float *ddelta, float *du,
                            float *dB, float *dC, size_t lddbc,
                            float *dA_log, float *dD,
                            float *scratch);

/* ---- pointwise pieces (mamba_pointwise.c) ---- */

/// Largest causal convolution width the conv kernels accept.
#define MF_MAMBA_MAX_CONV_WIDTH 8

/// Depthwise causal convolution + SiLU over one sequence:
///   u[t,c] = SiLU(bias[c] + Σ_k weight[c,k] · x[t+k−(width−1), c]), zero left padding.
/// x: length × channels with row stride ldx (the x' half of in_proj's output); weight:
/// channels × width (PyTorch's channels×1×width); u: length × channels (row stride channels).
void mf_mamba_conv_silu_forward(size_t length, size_t channels, size_t width,
                                const float *x, size_t ldx,
                                const float *weight, const float *bias, float *u);

/// Backward of `mf_mamba_conv_silu_forward` (recomputes the pre-activation from x).
/// du: ∂L/∂u (length × channels); writes dx (row stride lddx, overwritten); ACCUMULATES
/// dweight (channels × width) and dbias (channels).
void mf_mamba_conv_silu_backward(size_t length, size_t channels, size_t width,
                                 const float *x, size_t ldx,
                                 const float *weight, const float *bias,
                                 const float *du, float *dx, size_t lddx,
                                 float *dweight, float *dbias);

/// In place over rows × channels (row stride channels): delta ← softplus(delta + bias[c]),
/// PyTorch's softplus with threshold 20 (x > 20 → x).
void mf_mamba_delta_softplus(size_t rows, size_t channels, float *delta, const float *bias);

/// Backward of `mf_mamba_delta_softplus` from its output Δ: ddelta ← ddelta ⊙ σ(pre) with
/// σ(pre) = −expm1(−Δ) (1 above the threshold); ACCUMULATES dbias[c] += Σ_rows ddelta.
void mf_mamba_delta_softplus_backward(size_t rows, size_t channels, const float *delta,
                                      float *ddelta, float *dbias);

/// gated[r,c] = y[r,c] · SiLU(z[r,c]); y and gated have row stride channels, z row stride ldz.
void mf_mamba_gate_forward(size_t rows, size_t channels, const float *y,
                           const float *z, size_t ldz, float *gated);

/// Backward of `mf_mamba_gate_forward`: on entry dgated = ∂L/∂gated, on exit it holds ∂L/∂y
/// (in place); writes dz (row stride lddz, overwritten).
void mf_mamba_gate_backward(size_t rows, size_t channels, const float *y,
                            const float *z, size_t ldz, float *dgated,
                            float *dz, size_t lddz);

#endif
