#include "CKernels.h"
#include <math.h>
#include <string.h>

/* Row reductions. Strict IEEE order forbids the compiler from vectorising a float sum, so these
 * keep 16 explicit partial sums (two 8-lane vectors): element i goes to partial i mod 16, the
 * partials are combined pairwise at the end. That is blocked summation: the rounding error grows
 * like (n/16 + 4)·ε instead of n·ε, and the result does not depend on the CPU. */

typedef float v8f __attribute__((vector_size(32)));

static inline v8f load8(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }

static inline float hsum16(v8f a, v8f b) {
    v8f s = a + b;
    float t0 = s[0] + s[4], t1 = s[1] + s[5], t2 = s[2] + s[6], t3 = s[3] + s[7];
    return (t0 + t2) + (t1 + t3);
}

float mf_sum(const float *x, size_t n) {
    v8f a = {0}, b = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a += load8(x + i);
        b += load8(x + i + 8);
    }
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i];
    return hsum16(a, b) + tail;
}

float mf_dot(const float *x, const float *y, size_t n) {
    v8f a = {0}, b = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a += load8(x + i) * load8(y + i);
        b += load8(x + i + 8) * load8(y + i + 8);
    }
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i] * y[i];
    return hsum16(a, b) + tail;
}

float mf_sum_squared_deviation(const float *x, float c, size_t n) {
    v8f a = {0}, b = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f d0 = load8(x + i) - c, d1 = load8(x + i + 8) - c;
        a += d0 * d0;
        b += d1 * d1;
    }
    float tail = 0.0f;
    for (; i < n; i++) { float d = x[i] - c; tail += d * d; }
    return hsum16(a, b) + tail;
}

float mf_max(const float *x, size_t n) {
    v8f a = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a = __builtin_elementwise_max(a, load8(x + i));
    }
    float m = -INFINITY;
    for (int j = 0; j < 8; j++) m = a[j] > m ? a[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

void mf_layernorm_backward_sums(const float *x, const float *dy, const float *w, float mean, size_t n,
                                float *sum_g, float *sum_g_centered) {
    v8f g0 = {0}, g1 = {0}, c0 = {0}, c1 = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f ga = load8(dy + i) * load8(w + i), gb = load8(dy + i + 8) * load8(w + i + 8);
        g0 += ga;
        g1 += gb;
        c0 += ga * (load8(x + i) - mean);
        c1 += gb * (load8(x + i + 8) - mean);
    }
    float tg = 0.0f, tc = 0.0f;
    for (; i < n; i++) {
        float g = dy[i] * w[i];
        tg += g;
        tc += g * (x[i] - mean);
    }
    *sum_g = hsum16(g0, g1) + tg;
    *sum_g_centered = hsum16(c0, c1) + tc;
}
