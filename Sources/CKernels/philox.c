#include "CKernels.h"
#ifdef __AVX2__
#include <immintrin.h>
#endif

/* Philox4x32-10, the same bijection as CounterRandom's Philox4x32.block (Swift), for bulk draws.
 * With AVX2, eight blocks run side by side (one 32-bit lane each; the 32×32→64-bit products are
 * two vpmuludq on the even and odd lanes); the scalar loop handles the rest and other CPUs.
 * Bit-identity with RandomStream.uniform(at:) is checked in TensorKitTests (DropoutTests). */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline float word_to_uniform(uint32_t w) { return (float)(int32_t)(w >> 8) * 0x1p-24f; }

static void philox_scalar(uint32_t key0, uint32_t key1, uint32_t item, uint32_t step, uint32_t purpose,
                          uint32_t first_block, size_t blocks, float *out) {
    for (size_t b = 0; b < blocks; b++) {
        uint32_t c0 = first_block + (uint32_t)b, c1 = item, c2 = step, c3 = purpose;
        uint32_t k0 = key0, k1 = key1;
        for (int r = 0; r < 10; r++) {
            if (r > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
        }
        out[4 * b + 0] = word_to_uniform(c0);
        out[4 * b + 1] = word_to_uniform(c1);
        out[4 * b + 2] = word_to_uniform(c2);
        out[4 * b + 3] = word_to_uniform(c3);
    }
}

#ifdef __AVX2__
/* hi:lo = a · m per 32-bit lane (m the same constant in every lane). */
static inline void mulhilo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
    __m256i even = _mm256_mul_epu32(a, m);                         /* lanes 0,2,4,6 → 64-bit */
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);   /* lanes 1,3,5,7 → 64-bit */
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

static inline __m256 words_to_uniform8(__m256i w) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(w, 8)), _mm256_set1_ps(0x1p-24f));
}
#endif

void mf_philox_uniform(uint32_t key0, uint32_t key1, uint32_t item, uint32_t step, uint32_t purpose,
                       uint32_t first_block, size_t blocks, float *out) {
    size_t b = 0;
#ifdef __AVX2__
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (; b + 8 <= blocks; b += 8) {
        __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(first_block + (uint32_t)b)), lanes);
        __m256i c1 = _mm256_set1_epi32((int)item), c2 = _mm256_set1_epi32((int)step), c3 = _mm256_set1_epi32((int)purpose);
        uint32_t k0 = key0, k1 = key1;
        for (int r = 0; r < 10; r++) {
            if (r > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
            __m256i hi0, lo0, hi1, lo1;
            mulhilo8(c0, m0, &hi0, &lo0);
            mulhilo8(c2, m1, &hi1, &lo1);
            c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
            c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
            c1 = lo1;
            c3 = lo0;
        }
        /* Transpose words-by-block (4 × 8) to block-major order: out[4·block + word]. */
        __m256 f0 = words_to_uniform8(c0), f1 = words_to_uniform8(c1), f2 = words_to_uniform8(c2), f3 = words_to_uniform8(c3);
        __m256 t0 = _mm256_unpacklo_ps(f0, f1), t1 = _mm256_unpackhi_ps(f0, f1);
        __m256 t2 = _mm256_unpacklo_ps(f2, f3), t3 = _mm256_unpackhi_ps(f2, f3);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);  /* blocks 0|4, 1|5 */
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);  /* blocks 2|6, 3|7 */
        float *o = out + 4 * b;
        _mm256_storeu_ps(o + 0, _mm256_permute2f128_ps(u0, u1, 0x20));
        _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
        _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
        _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
    }
#endif
    philox_scalar(key0, key1, item, step, purpose, first_block + (uint32_t)b, blocks - b, out + 4 * b);
}
