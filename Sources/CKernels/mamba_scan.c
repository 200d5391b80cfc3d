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
#include <stdlib.h>
#include <string.h>

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

/* ---- 8 lanes (the build's baseline: AVX2 + FMA) ---- */

/* dst[n] += lane sums of v[n] for n < N (8 states at a time through the transpose-and-add). */
ALWAYS_INLINE void add_lane_sums8(float *dst, const f8 *v, size_t N, size_t cw) {
    (void)cw;
    size_t n = 0;
    for (; n + MF_LANES <= N; n += MF_LANES) mf_store(dst + n, mf_load(dst + n) + mf_reduce8x8(v + n));
    for (; n < N; n++) dst[n] += mf_hsum8(v[n]);
}

#define VF f8
#define VL 8
#define V_LOAD mf_load
#define V_STORE mf_store
#define V_LOAD_N mf_load_n
#define V_STORE_N mf_store_n
#define V_SPLAT mf_splat
#define V_EXP2 mf_exp2_8
#define V_ADD_LANE_SUMS add_lane_sums8
#define SCAN_FN(name) name##_8
#include "mamba_scan_body.h"
#undef VF
#undef VL
#undef V_LOAD
#undef V_STORE
#undef V_LOAD_N
#undef V_STORE_N
#undef V_SPLAT
#undef V_EXP2
#undef V_ADD_LANE_SUMS
#undef SCAN_FN

/* ---- 16 lanes (AVX-512), on x86-64 when the CPU has it ---- */
#if defined(__x86_64__)
#define MF_SCAN_WIDE 1
#pragma clang attribute push (__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma"))), apply_to = function)
typedef float f16v __attribute__((ext_vector_type(16)));
typedef int i16v __attribute__((ext_vector_type(16)));
typedef float f16vu __attribute__((ext_vector_type(16), aligned(4)));

static inline f16v mf16_splat(float x) { return (f16v)(x); }
MF_DEFINE_VECTOR_ACCESS(f16v, f16vu, 16, mf16_load, mf16_store, mf16_load_n, mf16_store_n)
MF_DEFINE_EXP2(f16v, i16v, mf16_exp2)

/* dst[n] += lane sums of v[n]: the lower 8 lanes, then (when in use) the upper 8, each as an
 * 8-lane block adds its own (add_lane_sums8) — exactly what two consecutive 8-lane blocks do, so
 * the same bits as the 8-lane scan. */
ALWAYS_INLINE void add_lane_sums16(float *dst, const f16v *v, size_t N, size_t cw) {
    f8 half[MF_MAMBA_MAX_STATE];
    for (size_t n = 0; n < N; n++) half[n] = __builtin_shufflevector(v[n], v[n], 0, 1, 2, 3, 4, 5, 6, 7);
    add_lane_sums8(dst, half, N, 8);
    if (cw <= 8) return;
    for (size_t n = 0; n < N; n++) half[n] = __builtin_shufflevector(v[n], v[n], 8, 9, 10, 11, 12, 13, 14, 15);
    add_lane_sums8(dst, half, N, 8);
}
#define VF f16v
#define VL 16
#define V_LOAD mf16_load
#define V_STORE mf16_store
#define V_LOAD_N mf16_load_n
#define V_STORE_N mf16_store_n
#define V_SPLAT mf16_splat
#define V_EXP2 mf16_exp2
#define V_ADD_LANE_SUMS add_lane_sums16
#define SCAN_FN(name) name##_16
#include "mamba_scan_body.h"
#pragma clang attribute pop
#endif

/* The width the scans run at: 16 lanes where the CPU has AVX-512 (unless MAMFUSION_SCAN_LANES=8),
 * else 8. Decided once per process (every call then runs the same code: a run's bits never
 * depend on when a call happens). */
static int scan_lanes = 0;

static int wide_supported(void) {
#ifdef MF_SCAN_WIDE
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

int mf_mamba_scan_lanes(void) {
    int lanes = __atomic_load_n(&scan_lanes, __ATOMIC_RELAXED);
    if (lanes == 0) {
        const char *forced = getenv("MAMFUSION_SCAN_LANES");
        lanes = (forced && strcmp(forced, "8") == 0) || !wide_supported() ? 8 : 16;
        __atomic_store_n(&scan_lanes, lanes, __ATOMIC_RELAXED);
    }
    return lanes;
}

int mf_mamba_scan_supports_lanes(int lanes) { return lanes == 8 || (lanes == 16 && wide_supported()); }

/* Room for the widest blocks, whichever width runs. */
size_t mf_mamba_scan_scratch_floats(size_t channels, size_t states, size_t segment) {
    return (2 * segment + 1) * states * 16 + 2 * states * channels;
}

void mf_mamba_scan_forward(int lanes, size_t length, size_t channels, size_t states,
                           const float *delta, const float *u,
                           const float *B, const float *C, size_t ldbc,
                           const float *decay, const float *D,
                           float *y, float *checkpoints, size_t segment) {
#ifdef MF_SCAN_WIDE
    if (lanes == 16 && wide_supported()) {
        scan_forward_16(length, channels, states, delta, u, B, C, ldbc, decay, D, y, checkpoints, segment);
        return;
    }
#endif
    scan_forward_8(length, channels, states, delta, u, B, C, ldbc, decay, D, y, checkpoints, segment);
}

void mf_mamba_scan_backward(int lanes, size_t length, size_t channels, size_t states,
                            const float *delta, const float *u,
                            const float *B, const float *C, size_t ldbc,
                            const float *decay, const float *D,
                            const float *checkpoints, size_t segment,
                            const float *dy,
                            float *ddelta, float *du,
                            float *dB, float *dC, size_t lddbc,
                            float *dA_log, float *dD,
                            float *scratch) {
#ifdef MF_SCAN_WIDE
    if (lanes == 16 && wide_supported()) {
        scan_backward_16(length, channels, states, delta, u, B, C, ldbc, decay, D, checkpoints, segment, dy,
                         ddelta, du, dB, dC, lddbc, dA_log, dD, scratch);
        return;
    }
#endif
    scan_backward_8(length, channels, states, delta, u, B, C, ldbc, decay, D, checkpoints, segment, dy,
                    ddelta, du, dB, dC, lddbc, dA_log, dD, scratch);
}
