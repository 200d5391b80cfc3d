#ifndef MAMFUSION_CKERNELS_H
#define MAMFUSION_CKERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "CKernelsOptimizer.h"

/* Inner loops that must vectorise and that Swift does not vectorise on Linux: element-wise
 * transcendental functions (Float.squareRoot() and expf become one libm call per element, and
 * clang without -fveclib does not call the vector libm either — vmath.c uses branch-free
 * polynomials instead) and float reductions (which strict IEEE order keeps scalar — reduce.c keeps
 * 16 explicit partial sums). Compiled with -O3 -fno-math-errno -mavx2 -mfma.
 *
 * Accuracy against the correctly rounded value, measured in TensorKitTests/VectorMathTests over
 * the whole float range: exp and log 1 ulp, sigmoid 2 ulp, softplus 3 ulp (tests allow 2/2/3/3).
 * All propagate NaN.
 *
 * "x and y may alias" means the very same buffer (in place); partially overlapping ranges are not
 * supported (the loops are vectorised assuming they do not occur). */

/// The kernel set OpenBLAS runs ("SkylakeX", "Haswell", …), and the generic set it had detected
/// when blas_core.c replaced it at load time ("" when it did not; see blas_core.c for why).
const char *mf_blas_core_name(void);
const char *mf_blas_replaced_core(void);

/// y[i] = sqrt(x[i]); x and y may alias.
void mf_vsqrt(const float *x, float *y, size_t n);
/// y[i] = exp(x[i]); x and y may alias. Underflows through subnormals to 0, overflows to +inf.
void mf_vexp(const float *x, float *y, size_t n);
/// y[i] = exp(x[i] − shift); x and y may alias (softmax: shift = the row maximum).
void mf_vexp_shifted(const float *x, float shift, float *y, size_t n);
/// y[i] = log(x[i]); x and y may alias. log(0) = −inf, log(negative) = NaN.
void mf_vlog(const float *x, float *y, size_t n);
/// y[i] = log1p(exp(x[i])) with PyTorch's threshold (x > 20 → x); x and y may alias.
void mf_vsoftplus(const float *x, float *y, size_t n);
/// y[i] = 1 / (1 + exp(-x[i])); x and y may alias.
void mf_vsigmoid(const float *x, float *y, size_t n);

/// dx[i] += dy[i] · (x > 20 ? 1 : z / (z + 1)), z = exp(x[i]) — PyTorch's softplus_backward.
void mf_softplus_backward(const float *x, const float *dy, float *dx, size_t n);
/// y[i] = x[i] · σ(x[i]); x and y may alias.
void mf_silu_forward(const float *x, float *y, size_t n);
/// dx[i] += dy[i] · σ(x[i]) · (1 + x[i] · (1 − σ(x[i]))).
void mf_silu_backward(const float *x, const float *dy, float *dx, size_t n);

/// y[i] = ½·x[i]·(1 + erf(x[i]/√2)) (exact GELU, PyTorch's default); x and y may alias.
void mf_gelu_forward(const float *x, float *y, size_t n);
/// dx[i] += dy[i] · (Φ(x[i]) + x[i]·φ(x[i])) from the saved input x.
void mf_gelu_backward(const float *x, const float *dy, float *dx, size_t n);

/// Σ x[i] (16 partial sums, combined pairwise; 0 for n = 0).
float mf_sum(const float *x, size_t n);
/// Σ x[i] · y[i] (16 partial sums).
float mf_dot(const float *x, const float *y, size_t n);
/// Σ (x[i] − c)² (16 partial sums) — the second pass of a two-pass variance.
float mf_sum_squared_deviation(const float *x, float c, size_t n);
/// max x[i] (−inf for n = 0; NaNs are skipped).
float mf_max(const float *x, size_t n);
/// LayerNorm backward row sums with g = dy ⊙ w: *sum_g = Σ g[i], *sum_g_centered = Σ g[i]·(x[i] − mean)
/// (centred before multiplying, so a large mean does not cancel digits away).
void mf_layernorm_backward_sums(const float *x, const float *dy, const float *w, float mean, size_t n,
                                float *sum_g, float *sum_g_centered);

/// Uniform draws U[0, 1) = (word >> 8)·2⁻²⁴ of Philox4x32-10 blocks first_block … first_block +
/// blocks − 1 (32-bit wrap-around), counter (block, item, step, purpose), key (key0, key1): out
/// receives 4·blocks floats, word-major within a block — exactly RandomStream.uniform(at:) for
/// indices 4·first_block ….
void mf_philox_uniform(uint32_t key0, uint32_t key1, uint32_t item, uint32_t step, uint32_t purpose,
                       uint32_t first_block, size_t blocks, float *out);

/// y[i] = x[i] widened from IEEE binary16 bits to float (exact; F16C, 8 per instruction).
void mf_half_to_float(const uint16_t *x, float *y, size_t n);
/// y[i] = x[i] rounded to IEEE binary16 bits, to nearest even (±inf beyond the half range).
void mf_float_to_half(const float *x, uint16_t *y, size_t n);

#include "CKernelsMamba.h"
#include "CKernelsMatmul.h"
#endif
