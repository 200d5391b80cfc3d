#include "CKernels.h"
#include <math.h>

/* GELU with the exact (erf) form, PyTorch's nn.GELU() default:
 *   gelu(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)),  gelu'(x) = Φ(x) + x·φ(x),  φ(x) = e^{−x²/2}/√(2π).
 * erff is glibc's (correctly rounded to ≤ 1 ulp); one libm call per element. */

#define MF_SQRT1_2 0.70710678118654752f
#define MF_INV_SQRT_2PI 0.39894228040143268f

void mf_gelu_forward(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * MF_SQRT1_2));
    }
}

void mf_gelu_backward(const float *x, const float *dy, float *dx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * MF_SQRT1_2));
        float pdf = MF_INV_SQRT_2PI * expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}
