/* The selective scan's kernels, written once for any vector width and included by
 * mamba_scan.c once per width: 8 lanes (AVX2 + FMA, or NEON) and 16 lanes (AVX-512, chosen at
 * run time). The includer defines
 *   VF, VL                    the float vector type and its lane count;
 *   V_LOAD, V_STORE, V_LOAD_N, V_STORE_N, V_SPLAT, V_EXP2
 *                             as mamba_vmath.h's mf_load, … for that width;
 *   V_ADD_LANE_SUMS(dst, v, N, cw) dst[n] += the lane sum of v[n], n < N (cw lanes in use);
 *   SCAN_FN(name)             the width's name for a function.
 * Each lane is one channel and runs exactly the same operations at either width, and the
 * 16-lane sums over channels (∂B, ∂C) add each 8-lane half in turn, as the 8-lane blocks do: every
 * output is the same bits at 8 and 16 lanes. */

/* Steps t0 ..< t1 of one channel block, from state `hin` ([n][c], row stride E; NULL = 0);
 * the final state goes to `hout` unless it is NULL. */
ALWAYS_INLINE void SCAN_FN(scan_forward_block)(size_t E, size_t N, size_t c0, size_t cw, size_t t0, size_t t1,
                                      const float *delta, const float *u,
                                      const float *Bm, const float *Cm, size_t ldbc,
                                      const float *decay, const float *D, float *y,
                                      const float *hin, float *hout) {
    VF an2[MF_MAMBA_MAX_STATE], h[MF_MAMBA_MAX_STATE];
    for (size_t n = 0; n < N; n++) {
        an2[n] = V_LOAD_N(decay + n * E + c0, cw);
        h[n] = hin ? V_LOAD_N(hin + n * E + c0, cw) : V_SPLAT(0);
    }
    const VF skip = V_LOAD_N(D + c0, cw);
    for (size_t t = t0; t < t1; t++) {
        const VF dt = V_LOAD_N(delta + t * E + c0, cw);
        const VF uu = V_LOAD_N(u + t * E + c0, cw);
        const VF dtu = dt * uu;
        const float *b = Bm + t * ldbc, *c = Cm + t * ldbc;
        /* Two partial sums of h·C, in registers, halve the dependency chain through the sum. */
        VF acc0 = skip * uu, acc1 = V_SPLAT(0);
        size_t n = 0;
        for (; n + 2 <= N; n += 2) {
            const VF a0 = V_EXP2(dt * an2[n]), a1 = V_EXP2(dt * an2[n + 1]);
            h[n] = a0 * h[n] + dtu * b[n];
            h[n + 1] = a1 * h[n + 1] + dtu * b[n + 1];
            acc0 += h[n] * c[n];
            acc1 += h[n + 1] * c[n + 1];
        }
        if (n < N) {
            h[n] = V_EXP2(dt * an2[n]) * h[n] + dtu * b[n];
            acc0 += h[n] * c[n];
        }
        V_STORE_N(y + t * E + c0, acc0 + acc1, cw);
    }
    if (hout) {
        for (size_t n = 0; n < N; n++) V_STORE_N(hout + n * E + c0, h[n], cw);
    }
}

static void SCAN_FN(scan_forward)(size_t length, size_t channels, size_t states,
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
        for (size_t c0 = 0; c0 < channels; c0 += VL) {
            size_t cw = channels - c0 < VL ? channels - c0 : VL;
            if (states == 16) /* the reference's d_state: constant trip counts */
                SCAN_FN(scan_forward_block)(channels, 16, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, y, hin, hout);
            else
                SCAN_FN(scan_forward_block)(channels, states, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, y, hin, hout);
        }
    }
}


/* Backward through steps t0 ..< t1 of one channel block. `carryState` ([n][c]) holds
 * a_{t1} ⊙ g_{t1} (what the later segment hands back; 0 after the last step) on entry and
 * a_{t0} ⊙ g_{t0} on exit; `dAState` ([n][c]) accumulates Σ_t g_t ⊙ h_{t−1} ⊙ a_t Δ_t. */
ALWAYS_INLINE void SCAN_FN(scan_backward_block)(size_t E, size_t N, size_t c0, size_t cw, size_t t0, size_t t1,
                                       const float *delta, const float *u,
                                       const float *Bm, const float *Cm, size_t ldbc,
                                       const float *decay, const float *D, const float *hin,
                                       const float *dy, float *ddelta, float *du,
                                       float *dB, float *dC, size_t lddbc, float *dD,
                                       float *carryState, float *dAState, float *segmentScratch) {
    VF an2[MF_MAMBA_MAX_STATE];     /* A·log2 e */
    VF carry[MF_MAMBA_MAX_STATE];   /* a_{t+1} ⊙ g_{t+1}: what step t+1 hands back to h_t */
    VF dA[MF_MAMBA_MAX_STATE];
    VF h[MF_MAMBA_MAX_STATE];
    VF dCv[MF_MAMBA_MAX_STATE], dBv[MF_MAMBA_MAX_STATE];
    for (size_t n = 0; n < N; n++) {
        an2[n] = V_LOAD_N(decay + n * E + c0, cw);
        carry[n] = V_LOAD_N(carryState + n * E + c0, cw);
        dA[n] = V_LOAD_N(dAState + n * E + c0, cw);
        h[n] = hin ? V_LOAD_N(hin + n * E + c0, cw) : V_SPLAT(0);
    }
    const VF skip = V_LOAD_N(D + c0, cw);
    VF dskip = V_SPLAT(0);
    const size_t stride = N * VL;
    float *hs = segmentScratch;                                  /* slot 0 = h_{t0−1}, slot i+1 = h_{t0+i} */
    float *as = segmentScratch + (t1 - t0 + 1) * stride;         /* slot i = a_{t0+i} = exp(Δ A) */

    /* Recompute the segment's states exactly as the forward did. */
    for (size_t n = 0; n < N; n++) V_STORE(hs + n * VL, h[n]);
    for (size_t t = t0; t < t1; t++) {
        const VF dt = V_LOAD_N(delta + t * E + c0, cw);
        const VF dtu = dt * V_LOAD_N(u + t * E + c0, cw);
        const float *b = Bm + t * ldbc;
        float *hi = hs + (t - t0 + 1) * stride, *ai = as + (t - t0) * stride;
        for (size_t n = 0; n < N; n++) {
            const VF a = V_EXP2(dt * an2[n]);
            h[n] = a * h[n] + dtu * b[n];
            V_STORE(ai + n * VL, a);
            V_STORE(hi + n * VL, h[n]);
        }
    }
    /* Reverse time through the segment. g_t = ∂L/∂h_t = dy_t C_t + a_{t+1} ⊙ g_{t+1}. */
    for (size_t t = t1; t-- > t0;) {
        const size_t i = t - t0;
        const VF dt = V_LOAD_N(delta + t * E + c0, cw);
        const VF uu = V_LOAD_N(u + t * E + c0, cw);
        const VF dyt = V_LOAD_N(dy + t * E + c0, cw);
        const VF dtu = dt * uu;
        const float *b = Bm + t * ldbc, *c = Cm + t * ldbc;
        const float *hprev = hs + i * stride, *hi = hprev + stride, *ai = as + i * stride;
        /* Two partial sums each (in registers), to halve the dependency chains. */
        VF sumGB0 = V_SPLAT(0), sumGB1 = V_SPLAT(0);   /* Σ_n g[n] B[n] */
        VF sumGHA0 = V_SPLAT(0), sumGHA1 = V_SPLAT(0); /* Σ_n g[n] h_{t−1}[n] a[n] A[n]·log2 e */
#define MF_SCAN_REVERSE_STEP(n, sumGB, sumGHA)                                        \
        do {                                                                          \
            const VF a = V_LOAD(ai + (n) * VL);                                \
            const VF g = carry[n] + dyt * c[n];                                       \
            dCv[n] = dyt * V_LOAD(hi + (n) * VL);                              \
            dBv[n] = g * dtu;                                                         \
            sumGB += g * b[n];                                                        \
            const VF gha = g * V_LOAD(hprev + (n) * VL) * a; /* ∂L/∂a · a */  \
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
        const VF gB = sumGB0 + sumGB1;
        dskip += dyt * uu;
        V_STORE_N(ddelta + t * E + c0, (sumGHA0 + sumGHA1) * MF_LN2 + uu * gB, cw);
        V_STORE_N(du + t * E + c0, dyt * skip + dt * gB, cw);
        V_ADD_LANE_SUMS(dC + t * lddbc, dCv, N, cw);
        V_ADD_LANE_SUMS(dB + t * lddbc, dBv, N, cw);
    }
    for (size_t n = 0; n < N; n++) {
        V_STORE_N(carryState + n * E + c0, carry[n], cw);
        V_STORE_N(dAState + n * E + c0, dA[n], cw);
    }
    V_STORE_N(dD + c0, V_LOAD_N(dD + c0, cw) + dskip, cw);
}

static void SCAN_FN(scan_backward)(size_t length, size_t channels, size_t states,
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
    float *carryState = scratch + (2 * segment + 1) * states * VL;
    float *dAState = carryState + states * channels;
    for (size_t i = 0; i < states * channels; i++) { carryState[i] = 0; dAState[i] = 0; }
    const size_t segments = (length + segment - 1) / segment;
    for (size_t s = segments; s-- > 0;) {
        const size_t t0 = s * segment, t1 = t0 + segment < length ? t0 + segment : length;
        const float *hin = s == 0 ? 0 : checkpoints + (s - 1) * states * channels;
        for (size_t c0 = 0; c0 < channels; c0 += VL) {
            size_t cw = channels - c0 < VL ? channels - c0 : VL;
            if (states == 16)
                SCAN_FN(scan_backward_block)(channels, 16, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, hin,
                                    dy, ddelta, du, dB, dC, lddbc, dD, carryState, dAState, segmentScratch);
            else
                SCAN_FN(scan_backward_block)(channels, states, c0, cw, t0, t1, delta, u, B, C, ldbc, decay, D, hin,
                                    dy, ddelta, du, dB, dC, lddbc, dD, carryState, dAState, segmentScratch);
        }
    }
    /* ∂L/∂A_log = ∂L/∂A ⊙ A, with A = decay · ln 2 (back from [n][c] to [c][n]). */
    for (size_t c = 0; c < channels; c++) {
        for (size_t n = 0; n < states; n++)
            dA_log[c * states + n] += dAState[n * channels + c] * (decay[n * channels + c] * MF_LN2);
    }
}
