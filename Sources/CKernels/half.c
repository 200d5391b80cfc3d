#include "CKernels.h"
#include <immintrin.h>

/* IEEE binary16 ⇄ binary32 with the F16C instructions (every AVX2 CPU has them): 8 values per
 * instruction. Both conversions are exact where they can be (half → float always is) and round
 * to nearest even otherwise, as NumPy's astype(float16) does. */

void mf_half_to_float(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    if (i < n) {
        uint16_t tail[8] = {0};
        float out[8];
        for (size_t k = 0; k < n - i; k++) tail[k] = x[i + k];
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tail)));
        for (size_t k = 0; k < n - i; k++) y[i + k] = out[k];
    }
}

void mf_float_to_half(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(y + i), h);
    }
    if (i < n) {
        float tail[8] = {0};
        uint16_t out[8];
        for (size_t k = 0; k < n - i; k++) tail[k] = x[i + k];
        _mm_storeu_si128((__m128i *)out, _mm256_cvtps_ph(_mm256_loadu_ps(tail), _MM_FROUND_TO_NEAREST_INT));
        for (size_t k = 0; k < n - i; k++) y[i + k] = out[k];
    }
}
