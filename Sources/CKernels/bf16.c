/* bfloat16 rounding: see CKernelsMatmul.h. Plain loops on 32-bit patterns; clang vectorises them
 * (AVX2 integer lanes), so a conversion runs at memory speed. */
#include <math.h>
#include <string.h>
#include "CKernelsMatmul.h"

static inline uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit, then truncate. A NaN
 * (exponent all ones, fraction non-zero) keeps its sign and top bits and is made quiet, so it
 * cannot round into an infinity. Values above the largest bf16 round to ±inf, as RNE requires. */
static inline uint32_t rounded_pattern(uint32_t u) {
    uint32_t nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    uint32_t rne = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    uint32_t quiet = (u | 0x00400000u) & 0xFFFF0000u;
    return nan ? quiet : rne;
}

uint16_t mf_bf16_from_float(float x) { return (uint16_t)(rounded_pattern(bits_of(x)) >> 16); }

void mf_bf16_round_matrix(const float *src, size_t ld_src, size_t rows, size_t cols,
                          uint16_t *dst, size_t ld_dst) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * ld_src;
        uint16_t *d = dst + r * ld_dst;
        for (size_t c = 0; c < cols; c++) d[c] = (uint16_t)(rounded_pattern(bits_of(s[c])) >> 16);
    }
}

void mf_bf16_round_matrix_f32(const float *src, size_t ld_src, size_t rows, size_t cols,
                              float *dst, size_t ld_dst) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * ld_src;
        float *d = dst + r * ld_dst;
        for (size_t c = 0; c < cols; c++) d[c] = float_of(rounded_pattern(bits_of(s[c])));
    }
}

void mf_bf16_widen(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = float_of((uint32_t)src[i] << 16);
}

/* x² and e² of one value, e its bf16 rounding error (or |x| + 2⁻¹³⁴ below the normal range, where
 * a kernel may read the operand as zero). The difference of a float and its bf16 rounding is exact
 * in float: the part of the fraction rounding dropped (or its complement to the next bf16). */
static inline void rounding_terms(float value, double *square, double *error_square) {
    float error = fabsf(float_of(rounded_pattern(bits_of(value))) - value);
    float magnitude = fabsf(value);
    error = magnitude < 0x1p-126f ? magnitude + 0x1p-134f : error;
    *square += (double)value * (double)value;
    *error_square += (double)error * (double)error;
}

void mf_bf16_rounding_norms(const float *x, size_t ld, size_t rows, size_t cols,
                            double *max_squares, double *max_error_squares) {
    double most = 0, most_error = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        /* Eight partial sums (clang vectorises the lanes); any order of summing is covered by the
         * bound's margin (relative errors of order d·2⁻⁵³). */
        double squares[8] = {0}, errors[8] = {0};
        size_t c = 0;
        for (; c + 8 <= cols; c += 8)
            for (int k = 0; k < 8; k++) rounding_terms(row[c + k], &squares[k], &errors[k]);
        for (; c < cols; c++) rounding_terms(row[c], &squares[0], &errors[0]);
        double square_sum = 0, error_sum = 0;
        for (int k = 0; k < 8; k++) { square_sum += squares[k]; error_sum += errors[k]; }
        /* A NaN row wins and stays (nothing compares above it), so the caller sees it. */
        if (square_sum != square_sum || square_sum > most) most = square_sum;
        if (error_sum != error_sum || error_sum > most_error) most_error = error_sum;
    }
    *max_squares = most;
    *max_error_squares = most_error;
}
