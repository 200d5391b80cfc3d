#ifndef MAMFUSION_CKERNELS_H
#define MAMFUSION_CKERNELS_H
#include <stddef.h>

/* Element-wise math that must vectorise. Swift's Float.squareRoot() and Foundation's expf
 * become one libm call per element on Linux (NATIVE-NOTES.md); these loops are compiled with
 * -O3 -fno-math-errno so clang emits vector sqrt and calls glibc's vector expf/logf (libmvec). */

/// y[i] = sqrt(x[i]); x and y may alias.
void mf_vsqrt(const float *x, float *y, size_t n);
/// y[i] = exp(x[i]); x and y may alias.
void mf_vexp(const float *x, float *y, size_t n);
/// y[i] = log(x[i]); x and y may alias.
void mf_vlog(const float *x, float *y, size_t n);
/// y[i] = log1p(exp(x[i])) with PyTorch's threshold (x > 20 → x); x and y may alias.
void mf_vsoftplus(const float *x, float *y, size_t n);
/// y[i] = 1 / (1 + exp(-x[i])); x and y may alias.
void mf_vsigmoid(const float *x, float *y, size_t n);

#include "CKernelsMamba.h"
#endif
