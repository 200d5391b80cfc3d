/* Selective scan of the Mamba-1 unit: forward, and backward by reverse-time recurrence with
 * segment checkpoints. See CKernelsMamba.h for the contract.
 *
 * Layout of the work: the scan is independent per channel, so it runs on blocks of 8 channels
 * (one vector lane per channel). The state of a block is states × 8 floats; B_t[n] and C_t[n]
 * are broadcast to all lanes, so y_t = Σ_n h_t[n] C_t[n] is a plain vector sum with no
 * horizontal reduction. Only the backward's dB_t and dC_t (sums over channels) need a lane
 * reduction, done as an 8×8 transpose-and-add per 8 states.
 *
 * Order: segment-major — for each segment of K steps, every channel block in turn. The rows a
 * segment touches (K rows of Δ, u, y, …) stay in L1 while the blocks sweep across them, so the
 * second half of each 64-byte line is still cached when the neighbouring block needs it. The
 * state carried from one segment to the next is exactly the checkpoint, so the forward needs no
 * state buffer of its own. */
#include "CKernelsMamba.h"
#include "mamba_vmath.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

void mf_mamba_scan_decay(const float *A_log, size_t channels, size_t states, float *decay) {
    for (size_t n = 0; n < states; n++) {
        for (size_t c = 0; c < channels; c++) decay[n * channels + c] = A_log[c * states + n];
    }
    for (size_t i = 0; i < channels * states; i += MF_LANES) {
        size_t cw = channels * states - i < MF_LANES ? channels * states - i : MF_LANES;
        mf_store_n(decay + i, -mf_exp8(mf_load_n(decay + i, cw)) * MF_LOG2E, cw);
    }
}

/* Steps t0 ..< t1 of one channel block, from state `hin` ([n][c], row stride E; NULL = 0);
 * the final state goes to `hout` unless it is NULL. */
ALWAYS_INLINE void scan_forward_block(size_t E, size_t N, size_t c0, size_t cw, size_t t0, size_t t1,
                                      const float *delta, const float *u,
                                      const float *Bm, const float *Cm, size_t ldbc,
                                      const float *decay, const float *D, float *y,
                                      const float *hin, float *hout) {
    f8 an2[MF_MAMBA_MAX_STATE], h[MF_MAMBA_MAX_STATE];
    for (size_t n = 0; n < N; n++) {
        an2[n] = mf_load_n(decay + n * E + c0, cw);
        h[n] = hin ? mf_load_n(hin + n * E + c0, cw) : mf_splat(0);
    }
    const f8 skip = mf_load_n(D + c0, cw);
    for (size_t t = t0; t < t1; t++) {
        const f8 dt = mf_load_n(delta + t * E + c0, cw);
        const f8 uu = mf_load_n(u + t * E + c0, cw);
        const f8 dtu = dt * uu;
        const float *b = Bm + t * ldbc, *c = Cm + t * ldbc;
        /* Two partial sums of h·C, in registers, halve the dependency chain through the sum. */
        f8 acc0 = skip * uu, acc1 = mf_splat(0);
        size_t n = 0;
        for (; n + 2 <= N; n += 2) {
            const f8 a0 = mf_exp2_8(dt * an2[n]), a1 = mf_exp2_8(dt * an2[n + 1]);
            h[n] = a0 * h[n] + dtu * b[n];
            h[n + 1] = a1 * h[n + 1] + dtu * b[n + 1];
            acc0 += h[n] * c[n];
            acc1 += h[n + 1] * c[n + 1];
        }
        if (n < N) {
            h[n] = mf_exp2_8(dt * an2[n]) * h[n] + dtu * b[n];
            acc0 += h[n] * c[n];
        }
        mf_store_n(y + t * E + c0, acc0 + acc1, cw);
    }
    if (hout) {
        for (size_t n = 0; n < N; n++) mf_store_n(hout + n * E + c0, h[n], cw);
    }
}

void mf_mamba_scan_forward(size_t length, size_t channels, size_t states,
                           const float *delta, const float *u,
                           const float *B, const float *C, size_t ldbc,
                           const float *decay, const float *D,
                           float *y, float *checkpoints, size_t segment) {
    if (states > MF_MAMBA_MAX_STATE || segment == 0) return;
    const size_t segments = (length + segment - 1) / segment;
    for (size_t s = 0; s < segments; s++) {
        const size_t t0 = s * segment, t1 = t0 + segment < length ? t0 + segment : length;
        const float *hin = s == 0 ? 0 : checkpoints + (s - 1) * states * channels;
        float *hout = s + 1 < segments ? checkpoints + s * states * channels : 0;
        for (size_t c0 = 0; c0 < channels; c0 += MF_LANES) {
            size_t cw = channels - c0 < MF_LANES ? channels - c0 : MF_LANES;
            if (states == 16) /* the reference's d_state: constant trip counts */
                scan_forward_block(channels, 16, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, y, hin, hout);
            else
                scan_forward_block(channels, states, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, y, hin, hout);
        }
    }
}

/* dst[n] += lane sums of v[n] for n < N (8 states at a time through the transpose-and-add). */
ALWAYS_INLINE void add_lane_sums(float *dst, const f8 *v, size_t N) {
    size_t n = 0;
    for (; n + MF_LANES <= N; n += MF_LANES) mf_store(dst + n, mf_load(dst + n) + mf_reduce8x8(v + n));
    for (; n < N; n++) dst[n] += mf_hsum8(v[n]);
}

size_t mf_mamba_scan_scratch_floats(size_t channels, size_t states, size_t segment) {
    return (2 * segment + 1) * states * MF_LANES + 2 * states * channels;
}

/* Backward through steps t0 ..< t1 of one channel block. `carryState` ([n][c]) holds
 * a_{t1} ⊙ g_{t1} (what the later segment hands back; 0 after the last step) on entry and
 * a_{t0} ⊙ g_{t0} on exit; `dAState` ([n][c]) accumulates Σ_t g_t ⊙ h_{t−1} ⊙ a_t Δ_t. */
ALWAYS_INLINE void scan_backward_block(size_t E, size_t N, size_t c0, size_t cw, size_t t0, size_t t1,
                                       const float *delta, const float *u,
                                       const float *Bm, const float *Cm, size_t ldbc,
                                       const float *decay, const float *D, const float *hin,
                                       const float *dy, float *ddelta, float *du,
                                       float *dB, float *dC, size_t lddbc, float *dD,
                                       float *carryState, float *dAState, float *segmentScratch) {
    f8 an2[MF_MAMBA_MAX_STATE];     /* A·log2 e */
    f8 carry[MF_MAMBA_MAX_STATE];   /* a_{t+1} ⊙ g_{t+1}: what step t+1 hands back to h_t */
    f8 dA[MF_MAMBA_MAX_STATE];
    f8 h[MF_MAMBA_MAX_STATE];
    f8 dCv[MF_MAMBA_MAX_STATE], dBv[MF_MAMBA_MAX_STATE];
    for (size_t n = 0; n < N; n++) {
        an2[n] = mf_load_n(decay + n * E + c0, cw);
        carry[n] = mf_load_n(carryState + n * E + c0, cw);
        dA[n] = mf_load_n(dAState + n * E + c0, cw);
        h[n] = hin ? mf_load_n(hin + n * E + c0, cw) : mf_splat(0);
    }
    const f8 skip = mf_load_n(D + c0, cw);
    f8 dskip = mf_splat(0);
    const size_t stride = N * MF_LANES;
    float *hs = segmentScratch;                                  /* slot 0 = h_{t0−1}, slot i+1 = h_{t0+i} */
    float *as = segmentScratch + (t1 - t0 + 1) * stride;         /* slot i = a_{t0+i} = exp(Δ A) */

    /* Recompute the segment's states exactly as the forward did. */
    for (size_t n = 0; n < N; n++) mf_store(hs + n * MF_LANES, h[n]);
    for (size_t t = t0; t < t1; t++) {
        const f8 dt = mf_load_n(delta + t * E + c0, cw);
        const f8 dtu = dt * mf_load_n(u + t * E + c0, cw);
        const float *b = Bm + t * ldbc;
        float *hi = hs + (t - t0 + 1) * stride, *ai = as + (t - t0) * stride;
        for (size_t n = 0; n < N; n++) {
            const f8 a = mf_exp2_8(dt * an2[n]);
            h[n] = a * h[n] + dtu * b[n];
            mf_store(ai + n * MF_LANES, a);
            mf_store(hi + n * MF_LANES, h[n]);
        }
    }
    /* Reverse time through the segment. g_t = ∂L/∂h_t = dy_t C_t + a_{t+1} ⊙ g_{t+1}. */
    for (size_t t = t1; t-- > t0;) {
        const size_t i = t - t0;
        const f8 dt = mf_load_n(delta + t * E + c0, cw);
        const f8 uu = mf_load_n(u + t * E + c0, cw);
        const f8 dyt = mf_load_n(dy + t * E + c0, cw);
        const f8 dtu = dt * uu;
        const float *b = Bm + t * ldbc, *c = Cm + t * ldbc;
        const float *hprev = hs + i * stride, *hi = hprev + stride, *ai = as + i * stride;
        /* Two partial sums each (in registers), to halve the dependency chains. */
        f8 sumGB0 = mf_splat(0), sumGB1 = mf_splat(0);   /* Σ_n g[n] B[n] */
        f8 sumGHA0 = mf_splat(0), sumGHA1 = mf_splat(0); /* Σ_n g[n] h_{t−1}[n] a[n] A[n]·log2 e */
#define MF_SCAN_REVERSE_STEP(n, sumGB, sumGHA)                                        \
        do {                                                                          \
            const f8 a = mf_load(ai + (n) * MF_LANES);                                \
            const f8 g = carry[n] + dyt * c[n];                                       \
            dCv[n] = dyt * mf_load(hi + (n) * MF_LANES);                              \
            dBv[n] = g * dtu;                                                         \
            sumGB += g * b[n];                                                        \
            const f8 gha = g * mf_load(hprev + (n) * MF_LANES) * a; /* ∂L/∂a · a */  \
            sumGHA += gha * an2[n];                                                   \
            dA[n] += gha * dt;                                                        \
            carry[n] = g * a;                                                         \
        } while (0)
        size_t n = 0;
        for (; n + 2 <= N; n += 2) {
            MF_SCAN_REVERSE_STEP(n, sumGB0, sumGHA0);
            MF_SCAN_REVERSE_STEP(n + 1, sumGB1, sumGHA1);
        }
        if (n < N) MF_SCAN_REVERSE_STEP(n, sumGB0, sumGHA0);
#undef MF_SCAN_REVERSE_STEP
        const f8 gB = sumGB0 + sumGB1;
        dskip += dyt * uu;
        mf_store_n(ddelta + t * E + c0, (sumGHA0 + sumGHA1) * MF_LN2 + uu * gB, cw);
        mf_store_n(du + t * E + c0, dyt * skip + dt * gB, cw);
        add_lane_sums(dC + t * lddbc, dCv, N);
        add_lane_sums(dB + t * lddbc, dBv, N);
    }
    for (size_t n = 0; n < N; n++) {
        mf_store_n(carryState + n * E + c0, carry[n], cw);
        mf_store_n(dAState + n * E + c0, dA[n], cw);
    }
    mf_store_n(dD + c0, mf_load_n(dD + c0, cw) + dskip, cw);
}

void mf_mamba_scan_backward(size_t length, size_t channels, size_t states,
                            const float *delta, const float *u,
                            const float *B, const float *C, size_t ldbc,
                            const float *decay, const float *D,
                            const float *checkpoints, size_t segment,
                            const float *dy,
                            float *ddelta, float *du,
                            float *dB, float *dC, size_t lddbc,
                            float *dA_log, float *dD,
                            float *scratch) {
    if (states > MF_MAMBA_MAX_STATE || segment == 0) return;
    float *segmentScratch = scratch;
    float *carryState = scratch + (2 * segment + 1) * states * MF_LANES;
    float *dAState = carryState + states * channels;
    for (size_t i = 0; i < states * channels; i++) { carryState[i] = 0; dAState[i] = 0; }
    const size_t segments = (length + segment - 1) / segment;
    for (size_t s = segments; s-- > 0;) {
        const size_t t0 = s * segment, t1 = t0 + segment < length ? t0 + segment : length;
        const float *hin = s == 0 ? 0 : checkpoints + (s - 1) * states * channels;
        for (size_t c0 = 0; c0 < channels; c0 += MF_LANES) {
            size_t cw = channels - c0 < MF_LANES ? channels - c0 : MF_LANES;
            if (states == 16)
                scan_backward_block(channels, 16, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, hin,
                                    dy, ddelta, du, dB, dC, lddbc, dD, carryState, dAState, segmentScratch);
            else
                scan_backward_block(channels, states, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, hin,
                                    dy, ddelta, du, dB, dC, lddbc, dD, carryState, dAState, segmentScratch);
        }
    }
    /* ∂L/∂A_log = ∂L/∂A ⊙ A, with A = decay · ln 2 (back from [n][c] to [c][n]). */
    for (size_t c = 0; c < channels; c++) {
        for (size_t n = 0; n < states; n++)
            dA_log[c * states + n] += dAState[n * channels + c] * (decay[n * channels + c] * MF_LN2);
    }
}
