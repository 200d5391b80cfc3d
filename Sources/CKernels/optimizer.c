#include "CKernelsOptimizer.h"
#include <math.h>

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
