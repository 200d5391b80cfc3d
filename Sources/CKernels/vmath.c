#include "CKernels.h"
#include <math.h>

void mf_vsqrt(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
}

void mf_vexp(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

void mf_vlog(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = logf(x[i]);
}

void mf_vsoftplus(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v > 20.0f ? v : log1pf(expf(v));
    }
}

void mf_vsigmoid(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}
