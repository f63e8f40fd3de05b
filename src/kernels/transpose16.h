/* transpose16.h -- a 16x16 transpose of 32-bit lanes held in AVX-512 registers (pairs of
 * rows, then pairs of pairs, then 128-bit lanes), shared by the fp32 packing (matmul.c) and
 * the bf16 packing (matmul_bf16.c), which feed it floats or pairs of bf16 values */
#ifndef NG_TRANSPOSE16_H
#define NG_TRANSPOSE16_H
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* lane c of r[i] becomes lane i of r[c], for i, c < 16 */
static inline __attribute__((always_inline, target("avx512f"))) void ng_transpose16_regs(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4g + q], lane L: column 4L + q of rows 4g..4g+3 */
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int q = 0; q < 4; q++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88), u1 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88), u3 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
        t[q] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[4 + q] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[8 + q] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[12 + q] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}
#endif
#endif
