#ifndef MAMFUSION_CKERNELS_MATMUL_H
#define MAMFUSION_CKERNELS_MATMUL_H
#include <stddef.h>
#include <stdint.h>

/* ---- bfloat16 rounding (bf16.c) ----
 * bfloat16 keeps float's sign and 8-bit exponent and the top 7 of its 23 fraction bits. Rounding
 * is to nearest, ties to even, on the bit pattern (exactly what VCVTNEPS2BF16 does, except that
 * subnormals are kept instead of flushed to zero and NaNs stay NaN with their sign). Every
 * engine rounds its operands with these functions, so a bf16 product means the same thing on
 * every CPU and with every engine. */

/// The bfloat16 bit pattern nearest to x (ties to even).
uint16_t mf_bf16_from_float(float x);
/// dst[r·ld_dst + c] = bf16(src[r·ld_src + c]) for r < rows, c < cols.
void mf_bf16_round_matrix(const float *src, size_t ld_src, size_t rows, size_t cols,
                          uint16_t *dst, size_t ld_dst);
/// The same rounding, the results widened back to float (exactly representable): operands for an
/// fp32 product that computes the bf16 product (products of two bf16 values are exact in fp32).
void mf_bf16_round_matrix_f32(const float *src, size_t ld_src, size_t rows, size_t cols,
                              float *dst, size_t ld_dst);
/// dst[i] = the float value of the bfloat16 pattern src[i].
void mf_bf16_widen(const uint16_t *src, float *dst, size_t n);
/// Over the rows of a rows×cols matrix (row stride ld): the largest Σ x² of a row and the largest
/// Σ e² of a row, e = |bf16(x) − x| the rounding error of each value — or |x| + 2⁻¹³⁴ where
/// |x| < 2⁻¹²⁶, since bf16 kernels may read a subnormal operand as zero (DAZ). Sums in double.
/// The evaluator's error bound of bf16 scores is built from these (Evaluation/BF16ScoreBound).
void mf_bf16_rounding_norms(const float *x, size_t ld, size_t rows, size_t cols,
                            double *max_squares, double *max_error_squares);

/* ---- oneDNN matmul (onednn.c) ----
 * oneDNN 2.x (libdnnl.so.2) is loaded at run time with dlopen, so the program builds and runs
 * where it is absent (the OpenBLAS engine) and says why when it is asked for and missing. Only
 * the matmul primitive is used: fixed shapes and strides (oneDNN's fastest kernels, brgemm,
 * need them), a user-managed scratchpad (no allocation when it runs), C = alpha·op(A)·op(B)
 * (+ C when `accumulate`), row-major, fp32 or bf16 operands, always an fp32 result. */

/// 1 when libdnnl.so.2 is loaded and usable; otherwise 0 and *error says why (static text).
int mf_dnnl_load(const char **error);
/// "2.6.3" (after a successful load), or "" before.
const char *mf_dnnl_version(void);
/// The instruction set oneDNN dispatches to on this CPU ("avx512_core_amx", "avx512_core_bf16", …).
const char *mf_dnnl_isa(void);
/// Sets the OpenMP threads oneDNN runs with (libgomp's omp_set_num_threads); returns 0 if absent.
int mf_dnnl_set_threads(int threads);
/// The OpenMP threads oneDNN runs with (omp_get_max_threads; 0 before a successful load).
int mf_dnnl_threads(void);

typedef struct mf_dnnl_matmul mf_dnnl_matmul;

/// The product a primitive computes. Strides are row strides of the matrices as stored (A is
/// k×m when trans_a, B is n×k when trans_b).
typedef struct {
    int32_t trans_a, trans_b;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha;
    int32_t accumulate;
    int32_t bf16;
} mf_dnnl_matmul_shape;

/// Creates the primitive (NULL and *error set on failure: static text or oneDNN's status name).
mf_dnnl_matmul *mf_dnnl_matmul_create(const mf_dnnl_matmul_shape *shape, const char **error);
/// The implementation oneDNN chose ("brg:avx512_core_amx", "gemm:jit", …).
const char *mf_dnnl_matmul_impl(const mf_dnnl_matmul *p);
/// Bytes of scratchpad `mf_dnnl_matmul_execute` needs (64-byte aligned memory).
size_t mf_dnnl_matmul_scratchpad_bytes(const mf_dnnl_matmul *p);
/// Runs the product on the given operands (float or uint16_t bf16 as created); returns 0 on success.
int mf_dnnl_matmul_execute(mf_dnnl_matmul *p, const void *a, const void *b, float *c, void *scratchpad);
void mf_dnnl_matmul_destroy(mf_dnnl_matmul *p);

/* ---- per-thread engine state (thread_context.c) ----
 * The matrix engine keeps caches and workspaces per thread (oneDNN streams and the memory objects
 * of a primitive must not be shared between threads). One pointer per thread; `release` is called
 * with it when the thread ends. */
void *mf_thread_context_get(void);
void mf_thread_context_set(void *context, void (*release)(void *));
#endif
