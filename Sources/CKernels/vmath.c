#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Element-wise transcendental functions that vectorise.
 *
 * clang does not turn expf/logf calls into vector calls on Linux without -fveclib (which the
 * package's C flags do not pass), so a loop over expf stays one libm call per element. The
 * functions below are branch-free polynomial versions (Cephes single-precision coefficients,
 * ≤ 2 ulp over the whole float range in the tests) written with selects only, so clang emits AVX2
 * code for every loop that calls them. */

/* Every element-wise loop reads and writes only index i, so it is safe when the output is the
 * input itself (in place); without this hint clang's runtime overlap check would send in-place
 * calls to the scalar fallback loop (5–10× slower). Partially overlapping buffers are not allowed. */
#define SAME_INDEX_LOOP _Pragma("clang loop vectorize(assume_safety)")

static inline float bits_to_float(uint32_t b) { float f; memcpy(&f, &b, sizeof f); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t b; memcpy(&b, &f, sizeof b); return b; }

/* exp(x): x = n·ln2 + r, |r| ≤ ln2/2 (ln2 split in two for an exact reduction), exp(r) by a
 * degree-6 polynomial, 2^n applied as 2^(n/2)·2^(n−n/2) so that every intermediate scale is a
 * normal float: results underflow through the subnormals to 0 and overflow to +inf like expf. */
static inline float mf_exp1(float x) {
    /* Below −104 the result is 0. Those lanes compute exp(0) and are replaced at the end, rather
     * than computing a subnormal: producing subnormals costs a ~100-cycle microcode assist per
     * vector on x86, and masked softmax logits (−10000) would hit it on every masked key. */
    int zero = x < -104.0f;
    float xc = zero ? 0.0f : x;
    xc = xc > 89.0f ? 89.0f : xc;
    float fx = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - fx * 0.693359375f;
    r = r - fx * -2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    int32_t n = (int32_t)fx;
    int32_t n1 = n >> 1, n2 = n - n1;
    float s1 = bits_to_float((uint32_t)(n1 + 127) << 23);
    float s2 = bits_to_float((uint32_t)(n2 + 127) << 23);
    float result = (y * s1) * s2;
    result = zero ? 0.0f : result;
    return x != x ? x : result;
}

/* log(x) for x > 0 (subnormals included): x = m·2^e with m ∈ [√½, √2), log(m) by the Cephes
 * degree-9 polynomial in m − 1; log(0) = −inf, log(x < 0) = NaN, log(+inf) = +inf. */
static inline float mf_log1(float x) {
    int tiny = x < 1.17549435e-38f;                     /* subnormal: rescale by 2^25 first */
    float xs = tiny ? x * 33554432.0f : x;
    uint32_t b = float_to_bits(xs);
    int32_t e = (int32_t)((b >> 23) & 0xff) - 126;
    float m = bits_to_float((b & 0x007fffffu) | 0x3f000000u); /* m ∈ [0.5, 1) */
    e = tiny ? e - 25 : e;
    int small = m < 0.707106781186547524f;
    e = small ? e - 1 : e;
    m = small ? m + m - 1.0f : m - 1.0f;
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    float fe = (float)e;
    y = y + fe * -2.12194440e-4f;
    y = y - 0.5f * z;
    float result = m + y + fe * 0.693359375f;
    result = x == INFINITY ? x : result;
    result = x == 0.0f ? -INFINITY : result;
    result = (x < 0.0f || x != x) ? NAN : result;
    return result;
}

/* log1p(t) for t ≥ 0 from log(1 + t), corrected for the rounding of 1 + t (Goldberg's trick). */
static inline float mf_log1p_nonneg(float t) {
    float u = 1.0f + t;
    float d = u - 1.0f;
    float corrected = mf_log1(u) * (t / (d == 0.0f ? 1.0f : d));
    return d == 0.0f ? t : corrected;
}

/* σ(x) from e = exp(−|x|) ∈ (0, 1]: 1/(1 + e) for x ≥ 0, e/(1 + e) for x < 0 — never overflows, and
 * stays accurate (down to the subnormals) for very negative x, where 1/(1 + exp(−x)) flushes to 0. */
static inline float mf_sigmoid1(float x) {
    float e = mf_exp1(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

void mf_vsqrt(const float *x, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
}

void mf_vexp(const float *x, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) y[i] = mf_exp1(x[i]);
}

void mf_vexp_shifted(const float *x, float shift, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) y[i] = mf_exp1(x[i] - shift);
}

void mf_vlog(const float *x, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) y[i] = mf_log1(x[i]);
}

void mf_vsoftplus(const float *x, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = mf_exp1(v > 20.0f ? 20.0f : v);
        y[i] = v > 20.0f ? v : mf_log1p_nonneg(t);
    }
}

void mf_vsigmoid(const float *x, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) y[i] = mf_sigmoid1(x[i]);
}

void mf_softplus_backward(const float *x, const float *dy, float *dx, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float z = mf_exp1(v > 20.0f ? 20.0f : v);
        dx[i] += v > 20.0f ? dy[i] : dy[i] * z / (z + 1.0f);
    }
}

void mf_silu_forward(const float *x, float *y, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * mf_sigmoid1(v);
    }
}

void mf_silu_backward(const float *x, const float *dy, float *dx, size_t n) {
    SAME_INDEX_LOOP
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float s = mf_sigmoid1(v);
        dx[i] += dy[i] * s * (1.0f + v * (1.0f - s));
    }
}
