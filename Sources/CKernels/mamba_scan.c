/* Selective scan of the Mamba-1 unit: forward, and backward by reverse-time recurrence with
 * segment checkpoints. See CKernelsMamba.h for the contract.
 *
 * Layout of the work: the scan is independent per channel, so it runs one block of 8 channels
 * at a time (one vector lane per channel) through the whole sequence. The state of a block is
 * states × 8 floats; B_t[n] and C_t[n] are broadcast to all lanes, so y_t = Σ_n h_t[n] C_t[n]
 * is a plain vector sum with no horizontal reduction. Only the backward's dB_t and dC_t (sums
 * over channels) need a lane reduction, done as an 8×8 transpose-and-add per 8 states. */
#include "CKernelsMamba.h"
#include "mamba_vmath.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* scale · A[c0 + j, n] for lane j (0 for lanes past the last channel). */
ALWAYS_INLINE void gather_block_columns(const float *matrix, size_t columns, size_t c0, size_t cw,
                                        size_t count, float scale, f8 *out) {
    for (size_t n = 0; n < count; n++) {
        float lanes[MF_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t j = 0; j < cw; j++) lanes[j] = matrix[(c0 + j) * columns + n];
        out[n] = mf_load(lanes) * scale;
    }
}

ALWAYS_INLINE void scan_forward_block(size_t L, size_t E, size_t N, size_t c0, size_t cw,
                                      const float *delta, const float *u,
                                      const float *Bm, const float *Cm, size_t ldbc,
                                      const float *A, const float *D,
                                      float *y, float *checkpoints, size_t K) {
    f8 an2[MF_MAMBA_MAX_STATE], h[MF_MAMBA_MAX_STATE];
    gather_block_columns(A, N, c0, cw, N, MF_LOG2E, an2); /* exp(Δ·A) = 2^(Δ·A·log2 e) */
    for (size_t n = 0; n < N; n++) h[n] = mf_splat(0);
    const f8 skip = mf_load_n(D + c0, cw);
    size_t untilCheckpoint = K;
    for (size_t t = 0; t < L; t++) {
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
        if (--untilCheckpoint == 0) {
            untilCheckpoint = K;
            if (t + 1 < L) {
                float *chk = checkpoints + ((t + 1) / K - 1) * N * E + c0;
                for (size_t k = 0; k < N; k++) mf_store_n(chk + k * E, h[k], cw);
            }
        }
    }
}

void mf_mamba_scan_forward(size_t length, size_t channels, size_t states,
                           const float *delta, const float *u,
                           const float *B, const float *C, size_t ldbc,
                           const float *A, const float *D,
                           float *y, float *checkpoints, size_t segment) {
    if (states > MF_MAMBA_MAX_STATE || segment == 0) return;
    for (size_t c0 = 0; c0 < channels; c0 += MF_LANES) {
        size_t cw = channels - c0 < MF_LANES ? channels - c0 : MF_LANES;
        if (states == 16) /* the reference's d_state: fully unrolled */
            scan_forward_block(length, channels, 16, c0, cw, delta, u, B, C, ldbc, A, D, y, checkpoints, segment);
        else
            scan_forward_block(length, channels, states, c0, cw, delta, u, B, C, ldbc, A, D, y, checkpoints, segment);
    }
}

/* dst[n] += lane sums of v[n] for n < N (8 states at a time through the transpose-and-add). */
ALWAYS_INLINE void add_lane_sums(float *dst, const f8 *v, size_t N) {
    size_t n = 0;
    for (; n + MF_LANES <= N; n += MF_LANES) mf_store(dst + n, mf_load(dst + n) + mf_reduce8x8(v + n));
    for (; n < N; n++) dst[n] += mf_hsum8(v[n]);
}

ALWAYS_INLINE void scan_backward_block(size_t L, size_t E, size_t N, size_t c0, size_t cw,
                                       const float *delta, const float *u,
                                       const float *Bm, const float *Cm, size_t ldbc,
                                       const float *A, const float *D,
                                       const float *checkpoints, size_t K,
                                       const float *dy, float *ddelta, float *du,
                                       float *dB, float *dC, size_t lddbc,
                                       float *dA_log, float *dD, float *scratch) {
    f8 an2[MF_MAMBA_MAX_STATE];     /* A·log2 e */
    f8 carry[MF_MAMBA_MAX_STATE];   /* a_{t+1} ⊙ g_{t+1}: what step t+1 hands back to h_t */
    f8 dA[MF_MAMBA_MAX_STATE];      /* Σ_t g_t ⊙ h_{t−1} ⊙ a_t Δ_t (= ∂L/∂A) for this block */
    f8 h[MF_MAMBA_MAX_STATE];
    f8 dCv[MF_MAMBA_MAX_STATE], dBv[MF_MAMBA_MAX_STATE];
    gather_block_columns(A, N, c0, cw, N, MF_LOG2E, an2);
    for (size_t n = 0; n < N; n++) { carry[n] = mf_splat(0); dA[n] = mf_splat(0); }
    const f8 skip = mf_load_n(D + c0, cw);
    f8 dskip = mf_splat(0);
    const size_t stride = N * MF_LANES;
    float *hs = scratch;                   /* [i][n][lane]: slot 0 = h_{t0−1}, slot i+1 = h_{t0+i} */
    float *as = scratch + (K + 1) * stride; /* [i][n][lane]: a_{t0+i} = exp(Δ A) */

    const size_t segments = (L + K - 1) / K;
    for (size_t s = segments; s-- > 0;) {
        const size_t t0 = s * K, t1 = t0 + K < L ? t0 + K : L;
        if (s == 0) {
            for (size_t n = 0; n < N; n++) h[n] = mf_splat(0);
        } else {
            const float *chk = checkpoints + (s - 1) * N * E + c0;
            for (size_t n = 0; n < N; n++) h[n] = mf_load_n(chk + n * E, cw);
        }
        for (size_t n = 0; n < N; n++) mf_store(hs + n * MF_LANES, h[n]);
        /* Recompute the segment's states exactly as the forward did. */
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
#define MF_SCAN_REVERSE_STEP(n, sumGB, sumGHA)                                            \
            do {                                                                          \
                const f8 a = mf_load(ai + (n) * MF_LANES);                                \
                const f8 g = carry[n] + dyt * c[n];                                       \
                dCv[n] = dyt * mf_load(hi + (n) * MF_LANES);                              \
                dBv[n] = g * dtu;                                                         \
                sumGB += g * b[n];                                                        \
                const f8 gha = g * mf_load(hprev + (n) * MF_LANES) * a; /* ∂L/∂a·a */    \
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
    }
    for (size_t n = 0; n < N; n++) {
        const f8 grad = dA[n] * (an2[n] * MF_LN2); /* ∂A/∂A_log = −exp(A_log) = A */
        for (size_t j = 0; j < cw; j++) dA_log[(c0 + j) * N + n] += grad[j];
    }
    for (size_t j = 0; j < cw; j++) dD[c0 + j] += dskip[j];
}

size_t mf_mamba_scan_scratch_floats(size_t states, size_t segment) {
    return (2 * segment + 1) * states * MF_LANES;
}

void mf_mamba_scan_backward(size_t length, size_t channels, size_t states,
                            const float *delta, const float *u,
                            const float *B, const float *C, size_t ldbc,
                            const float *A, const float *D,
                            const float *checkpoints, size_t segment,
                            const float *dy,
                            float *ddelta, float *du,
                            float *dB, float *dC, size_t lddbc,
                            float *dA_log, float *dD,
                            float *scratch) {
    if (states > MF_MAMBA_MAX_STATE || segment == 0) return;
    for (size_t c0 = 0; c0 < channels; c0 += MF_LANES) {
        size_t cw = channels - c0 < MF_LANES ? channels - c0 : MF_LANES;
        if (states == 16)
            scan_backward_block(length, channels, 16, c0, cw, delta, u, B, C, ldbc, A, D, checkpoints, segment,
                                dy, ddelta, du, dB, dC, lddbc, dA_log, dD, scratch);
        else
            scan_backward_block(length, channels, states, c0, cw, delta, u, B, C, ldbc, A, D, checkpoints, segment,
                                dy, ddelta, du, dB, dC, lddbc, dA_log, dD, scratch);
    }
}
