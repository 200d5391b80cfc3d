#include "CKernelsOptimizer.h"
#include <math.h>

double mf_sum_squares(const float *x, size_t n) {
    /* Four independent double accumulators: vectorises and keeps the sum accurate. */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

void mf_bert_adam(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                  float clip, float step, float wd, float b1, float c1, float b2, float c2, float eps) {
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * clip;
        float mi = m[i] * b1 + c1 * gi;
        float vi = v[i] * b2 + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float u = mi / (sqrtf(vi) + eps) + wd * p[i];
        p[i] -= step * u;
    }
}
