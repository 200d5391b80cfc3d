/* Pointwise and depthwise pieces of the Mamba-1 unit: causal conv + SiLU, Δ softplus, the SiLU(z)
 * gate. See CKernelsMamba.h for the contract. */
#include "CKernelsMamba.h"
#include "mamba_vmath.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- depthwise causal convolution + SiLU ----
 * One block of 8 channels at a time walks the sequence with a sliding window of the last `width`
 * input rows held in registers, so each row of x is loaded once per block. */

ALWAYS_INLINE void conv_forward_block(size_t L, size_t E, size_t W, size_t c0, size_t cw,
                                      const float *x, size_t ldx, const float *weight,
                                      const float *bias, float *u) {
    f8 wk[MF_MAMBA_MAX_CONV_WIDTH], window[MF_MAMBA_MAX_CONV_WIDTH];
    for (size_t k = 0; k < W; k++) {
        float lanes[MF_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t j = 0; j < cw; j++) lanes[j] = weight[(c0 + j) * W + k];
        wk[k] = mf_load(lanes);
        window[k] = mf_splat(0);
    }
    const f8 b = mf_load_n(bias + c0, cw);
    for (size_t t = 0; t < L; t++) {
        /* window[k] = x[t − (W−1) + k] */
        for (size_t k = 0; k + 1 < W; k++) window[k] = window[k + 1];
        window[W - 1] = mf_load_n(x + t * ldx + c0, cw);
        f8 pre = b;
        for (size_t k = 0; k < W; k++) pre += wk[k] * window[k];
        mf_store_n(u + t * E + c0, pre * mf_sigmoid8(pre), cw);
    }
}

void mf_mamba_conv_silu_forward(size_t length, size_t channels, size_t width,
                                const float *x, size_t ldx,
                                const float *weight, const float *bias, float *u) {
    if (width == 0 || width > MF_MAMBA_MAX_CONV_WIDTH) return;
    for (size_t c0 = 0; c0 < channels; c0 += MF_LANES) {
        size_t cw = channels - c0 < MF_LANES ? channels - c0 : MF_LANES;
        if (width == 4) conv_forward_block(length, channels, 4, c0, cw, x, ldx, weight, bias, u);
        else conv_forward_block(length, channels, width, c0, cw, x, ldx, weight, bias, u);
    }
}

/* Reverse walk: at step t the window holds x[t−(W−1) .. t] (to recompute the pre-activation)
 * and dpre[t .. t+W−1] (the steps whose convolution read x[t]), so
 *   dx[t] = Σ_j weight[W−1−j] · dpre[t+j]. */
ALWAYS_INLINE void conv_backward_block(size_t L, size_t E, size_t W, size_t c0, size_t cw,
                                       const float *x, size_t ldx, const float *weight,
                                       const float *bias, const float *du, float *dx, size_t lddx,
                                       float *dweight, float *dbias) {
    f8 wk[MF_MAMBA_MAX_CONV_WIDTH], xw[MF_MAMBA_MAX_CONV_WIDTH], dp[MF_MAMBA_MAX_CONV_WIDTH];
    f8 dw[MF_MAMBA_MAX_CONV_WIDTH];
    for (size_t k = 0; k < W; k++) {
        float lanes[MF_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t j = 0; j < cw; j++) lanes[j] = weight[(c0 + j) * W + k];
        wk[k] = mf_load(lanes);
        dp[k] = mf_splat(0);
        dw[k] = mf_splat(0);
        /* xw[k] = x[L−1 − (W−1) + k] */
        size_t back = W - 1 - k;
        xw[k] = back < L ? mf_load_n(x + (L - 1 - back) * ldx + c0, cw) : mf_splat(0);
    }
    const f8 b = mf_load_n(bias + c0, cw);
    f8 db = mf_splat(0);
    for (size_t t = L; t-- > 0;) {
        f8 pre = b;
        for (size_t k = 0; k < W; k++) pre += wk[k] * xw[k];
        const f8 s = mf_sigmoid8(pre);
        const f8 g = mf_load_n(du + t * E + c0, cw) * (s * (1.0f + pre * (1.0f - s)));
        for (size_t j = W - 1; j > 0; j--) dp[j] = dp[j - 1];
        dp[0] = g;
        f8 acc = mf_splat(0);
        for (size_t j = 0; j < W; j++) acc += wk[W - 1 - j] * dp[j];
        mf_store_n(dx + t * lddx + c0, acc, cw);
        for (size_t k = 0; k < W; k++) dw[k] += g * xw[k];
        db += g;
        /* Slide to t − 1: xw[k] = x[t−1 − (W−1) + k]. */
        for (size_t k = W - 1; k > 0; k--) xw[k] = xw[k - 1];
        xw[0] = t >= W ? mf_load_n(x + (t - W) * ldx + c0, cw) : mf_splat(0);
    }
    for (size_t k = 0; k < W; k++)
        for (size_t j = 0; j < cw; j++) dweight[(c0 + j) * W + k] += dw[k][j];
    for (size_t j = 0; j < cw; j++) dbias[c0 + j] += db[j];
}

void mf_mamba_conv_silu_backward(size_t length, size_t channels, size_t width,
                                 const float *x, size_t ldx,
                                 const float *weight, const float *bias,
                                 const float *du, float *dx, size_t lddx,
                                 float *dweight, float *dbias) {
    if (width == 0 || width > MF_MAMBA_MAX_CONV_WIDTH) return;
    for (size_t c0 = 0; c0 < channels; c0 += MF_LANES) {
        size_t cw = channels - c0 < MF_LANES ? channels - c0 : MF_LANES;
        if (width == 4) conv_backward_block(length, channels, 4, c0, cw, x, ldx, weight, bias, du, dx, lddx, dweight, dbias);
        else conv_backward_block(length, channels, width, c0, cw, x, ldx, weight, bias, du, dx, lddx, dweight, dbias);
    }
}

/* ---- Δ = softplus(W_dt δ + b_dt) ---- */

void mf_mamba_delta_softplus(size_t rows, size_t channels, float *delta, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        float *row = delta + r * channels;
        for (size_t c = 0; c < channels; c += MF_LANES) {
            size_t cw = channels - c < MF_LANES ? channels - c : MF_LANES;
            mf_store_n(row + c, mf_softplus8(mf_load_n(row + c, cw) + mf_load_n(bias + c, cw)), cw);
        }
    }
}

void mf_mamba_delta_softplus_backward(size_t rows, size_t channels, const float *delta,
                                      float *ddelta, float *dbias) {
    for (size_t r = 0; r < rows; r++) {
        const float *row = delta + r * channels;
        float *grow = ddelta + r * channels;
        for (size_t c = 0; c < channels; c += MF_LANES) {
            size_t cw = channels - c < MF_LANES ? channels - c : MF_LANES;
            const f8 g = mf_load_n(grow + c, cw) * mf_softplus_derivative_from_output8(mf_load_n(row + c, cw));
            mf_store_n(grow + c, g, cw);
            mf_store_n(dbias + c, mf_load_n(dbias + c, cw) + g, cw);
        }
    }
}

/* ---- y ⊙ SiLU(z) ---- */

void mf_mamba_gate_forward(size_t rows, size_t channels, const float *y,
                           const float *z, size_t ldz, float *gated) {
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < channels; c += MF_LANES) {
            size_t cw = channels - c < MF_LANES ? channels - c : MF_LANES;
            const f8 zz = mf_load_n(z + r * ldz + c, cw);
            mf_store_n(gated + r * channels + c, mf_load_n(y + r * channels + c, cw) * zz * mf_sigmoid8(zz), cw);
        }
    }
}

void mf_mamba_gate_backward(size_t rows, size_t channels, const float *y,
                            const float *z, size_t ldz, float *dgated,
                            float *dz, size_t lddz) {
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < channels; c += MF_LANES) {
            size_t cw = channels - c < MF_LANES ? channels - c : MF_LANES;
            const f8 zz = mf_load_n(z + r * ldz + c, cw);
            const f8 s = mf_sigmoid8(zz);
            const f8 g = mf_load_n(dgated + r * channels + c, cw);
            const f8 yy = mf_load_n(y + r * channels + c, cw);
            mf_store_n(dz + r * lddz + c, g * yy * (s * (1.0f + zz * (1.0f - s))), cw);
            mf_store_n(dgated + r * channels + c, g * zz * s, cw);
        }
    }
}
