#ifndef MAMFUSION_MAMBA_VMATH_H
#define MAMFUSION_MAMBA_VMATH_H
/* Private to CKernels: 8-lane float vectors (clang vector extensions, so the same source becomes
 * AVX2 + FMA here and NEON elsewhere) and the transcendental functions the Mamba kernels need.
 *
 * Why not expf/log1pf in a loop: clang only turns libm calls into vector calls with -fveclib,
 * which CKernels is not built with, so `for (...) y[i] = expf(x[i])` stays one scalar call per
 * element (measured: mf_vexp calls expf). exp of Δ·A is the Mamba scan's hot spot, so these are
 * Cephes-style polynomials (≈ 1–2 ulp) written on whole vectors. */
#include <stddef.h>
#include <string.h>

typedef float f8 __attribute__((ext_vector_type(8)));
typedef int i8 __attribute__((ext_vector_type(8)));
typedef float f8u __attribute__((ext_vector_type(8), aligned(4)));

#define MF_LANES 8

static inline f8 mf_splat(float x) { return (f8)(x); }

/* Unaligned loads and stores; the `count` versions touch only the first `count` lanes and read
 * the others as 0 (the tail of a channel block). One definition for any width: the 16-lane scan
 * (mamba_scan.c) instantiates them for its own vector type. */
#define MF_DEFINE_VECTOR_ACCESS(VF, VFU, LANES, load, store, load_n, store_n)          \
    static inline VF load(const float *p) { return *(const VFU *)p; }                  \
    static inline void store(float *p, VF v) { *(VFU *)p = v; }                        \
    static inline VF load_n(const float *p, size_t count) {                            \
        if (count == (LANES)) return load(p);                                          \
        float tmp[LANES] = {0};                                                        \
        memcpy(tmp, p, count * sizeof(float));                                        \
        return load(tmp);                                                              \
    }                                                                                  \
    static inline void store_n(float *p, VF v, size_t count) {                         \
        if (count == (LANES)) { store(p, v); return; }                                 \
        float tmp[LANES];                                                              \
        store(tmp, v);                                                                 \
        memcpy(p, tmp, count * sizeof(float));                                         \
    }
MF_DEFINE_VECTOR_ACCESS(f8, f8u, MF_LANES, mf_load, mf_store, mf_load_n, mf_store_n)

/* Lane-wise select: mask lanes are all-ones (true) or zero, as vector comparisons produce. */
static inline f8 mf_select(i8 mask, f8 a, f8 b) {
    i8 ai = __builtin_bit_cast(i8, a), bi = __builtin_bit_cast(i8, b);
    return __builtin_bit_cast(f8, (ai & mask) | (bi & ~mask));
}

/* exp(x), Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, scale by 2^n through the
 * exponent bits. Clamped to [-87.33, 88]: below, the result is 2^-126 ≈ 1.2e-38 instead of a
 * subnormal or 0 (irrelevant next to the 1e-7 rounding of any sum it enters); above, finite. */
static inline f8 mf_exp8(f8 x) {
    x = __builtin_elementwise_min(__builtin_elementwise_max(x, mf_splat(-87.3365447505531f)), mf_splat(88.0f));
    f8 n = __builtin_elementwise_floor(x * 1.44269504088896341f + 0.5f);
    f8 r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    f8 p = mf_splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    i8 e = (__builtin_convertvector(n, i8) + 127) << 23;
    return p * __builtin_bit_cast(f8, e);
}

/* 2^y for y ≤ 127 (Cephes exp2f: y = n + f, |f| ≤ 1/2, 2^f = 1 + f·P(f) with P of degree 5,
 * ≈ 2e-7 relative), clamped below at 2^-126 like mf_exp8. The scan evaluates exp(Δ·A) as
 * 2^(Δ·(A·log2 e)) with A·log2 e formed once per channel — what the reference CUDA kernel does —
 * which saves the Cody–Waite reduction on the hottest line of the unit. The same operations at
 * any width (MF_DEFINE_EXP2: the 16-lane scan gives the same bits lane for lane). */
#define MF_DEFINE_EXP2(VF, VI, name)                                                   \
    static inline VF name(VF y) {                                                      \
        y = __builtin_elementwise_max(y, (VF)(-126.0f));                               \
        VF n = __builtin_elementwise_floor(y + 0.5f);                                  \
        VF f = y - n;                                                                  \
        VF p = (VF)(1.535336188319500e-4f);                                            \
        p = p * f + 1.339887440266574e-3f;                                             \
        p = p * f + 9.618437357674640e-3f;                                             \
        p = p * f + 5.550332471162809e-2f;                                             \
        p = p * f + 2.402264791363012e-1f;                                             \
        p = p * f + 6.931472028550421e-1f;                                             \
        p = p * f + 1.0f;                                                              \
        VI e = (__builtin_convertvector(n, VI) + 127) << 23;                           \
        return p * __builtin_bit_cast(VF, e);                                          \
    }
MF_DEFINE_EXP2(f8, i8, mf_exp2_8)

#define MF_LOG2E 1.44269504088896341f
#define MF_LN2 0.693147180559945309f

/* log(1 + e) for 0 ≤ e ≤ 1, relative error ≈ 1e-7 even for tiny e: log(1 + e) = 2·atanh(s) with
 * s = e/(2 + e) ≤ 1/3, i.e. 2s·(1 + s²/3 + s⁴/5 + … + s¹⁴/15) (next term < 2e-9). One division
 * and eight FMAs instead of a logarithm. */
static inline f8 mf_log1p_unit8(f8 e) {
    f8 s = e / (e + 2.0f);
    f8 z = s * s;
    f8 p = mf_splat(1.0f / 15);
    p = p * z + 1.0f / 13;
    p = p * z + 1.0f / 11;
    p = p * z + 1.0f / 9;
    p = p * z + 1.0f / 7;
    p = p * z + 1.0f / 5;
    p = p * z + 1.0f / 3;
    p = p * z + 1.0f;
    return 2.0f * s * p;
}

/* PyTorch's softplus with threshold 20: x > 20 → x, else log(1 + exp(x)) = max(x,0) + log1p(exp(-|x|)). */
static inline f8 mf_softplus8(f8 x) {
    f8 s = __builtin_elementwise_max(x, mf_splat(0.0f)) + mf_log1p_unit8(mf_exp8(-__builtin_elementwise_abs(x)));
    return mf_select(x > 20.0f, x, s);
}

/* softplus'(pre) expressed through Δ = softplus(pre) ≥ 0: σ(pre) = 1 − exp(−Δ) = −expm1(−Δ);
 * PyTorch's gradient is 1 above the threshold, i.e. for Δ > 20. For Δ < 1/2 the Taylor series of
 * expm1 (to Δ⁹/9!, error < 6e-9 relative) avoids the cancellation in 1 − exp(−Δ). */
static inline f8 mf_softplus_derivative_from_output8(f8 delta) {
    f8 x = -delta;
    f8 p = mf_splat(1.0f / 362880);
    p = p * x + 1.0f / 40320;
    p = p * x + 1.0f / 5040;
    p = p * x + 1.0f / 720;
    p = p * x + 1.0f / 120;
    p = p * x + 1.0f / 24;
    p = p * x + 1.0f / 6;
    p = p * x + 0.5f;
    p = p * x + 1.0f;
    f8 small = -(x * p);
    f8 large = 1.0f - mf_exp8(x);
    return mf_select(delta > 20.0f, mf_splat(1.0f), mf_select(delta < 0.5f, small, large));
}

/* σ(x) = 1 / (1 + exp(−x)). */
static inline f8 mf_sigmoid8(f8 x) { return 1.0f / (1.0f + mf_exp8(-x)); }

/* Lane i of the result = sum of the 8 lanes of v[i] (an 8×8 transpose-and-add). */
static inline f8 mf_reduce8x8(const f8 *v) {
    f8 a0 = __builtin_shufflevector(v[0], v[1], 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(v[0], v[1], 1, 9, 3, 11, 5, 13, 7, 15);
    f8 a1 = __builtin_shufflevector(v[2], v[3], 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(v[2], v[3], 1, 9, 3, 11, 5, 13, 7, 15);
    f8 a2 = __builtin_shufflevector(v[4], v[5], 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(v[4], v[5], 1, 9, 3, 11, 5, 13, 7, 15);
    f8 a3 = __builtin_shufflevector(v[6], v[7], 0, 8, 2, 10, 4, 12, 6, 14) + __builtin_shufflevector(v[6], v[7], 1, 9, 3, 11, 5, 13, 7, 15);
    /* a0 = [v0(01) v1(01) v0(23) v1(23) v0(45) v1(45) v0(67) v1(67)] */
    f8 b0 = __builtin_shufflevector(a0, a1, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(a0, a1, 2, 3, 10, 11, 6, 7, 14, 15);
    f8 b1 = __builtin_shufflevector(a2, a3, 0, 1, 8, 9, 4, 5, 12, 13) + __builtin_shufflevector(a2, a3, 2, 3, 10, 11, 6, 7, 14, 15);
    /* b0 = [v0(0-3) v1(0-3) v2(0-3) v3(0-3) v0(4-7) v1(4-7) v2(4-7) v3(4-7)] */
    return __builtin_shufflevector(b0, b1, 0, 1, 2, 3, 8, 9, 10, 11) + __builtin_shufflevector(b0, b1, 4, 5, 6, 7, 12, 13, 14, 15);
}

/* Sum of the 8 lanes. */
static inline float mf_hsum8(f8 v) {
    v = v + __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
    v = v + __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
    v = v + __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
    return v[0];
}

#endif
