/* vmath.h -- exp, erf and tanh in plain C that compilers vectorize inside `omp simd` loops
 * (libm's scalar calls do not vectorize without -ffast-math). */
#ifndef NG_VMATH_H
#define NG_VMATH_H
#include <math.h>
#include <stdint.h>

/* e^x: x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (relative error
 * < 2e-7), 2^n built in the exponent bits. Inputs are clamped to [-87.3, 88.7]; NaN gives NaN. */
static inline float ng_expf(float x) {
    /* the clamps are written as x86's max/min (a NaN becomes the bound here and is passed
     * through at the end), so that they compile to one instruction each */
    float y = x > -87.3f ? x : -87.3f;
    y = y < 88.7f ? y : 88.7f;
    /* n = round(y / ln2) by the 1.5 * 2^23 trick (floorf would not vectorize) */
    float n = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = y - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    union { uint32_t i; float f; } s;
    s.i = (uint32_t)((int32_t)n + 127) << 23;
    float e = p * s.f;
    return x == x ? e : x;
}

/* erf: Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), the same formula PyTorch's
 * vectorized CPU kernels use for float. Also returns e^{-x^2}, which the formula computes on
 * the way (GELU's backward needs it too). */
static inline float ng_erff_gauss(float x, float *gauss) {
    float ax = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float g = ng_expf(-ax * ax);
    *gauss = g;
    float y = 1.0f - poly * g;
    return x < 0.0f ? -y : y;
}
static inline float ng_erff(float x) {
    float g;
    return ng_erff_gauss(x, &g);
}

/* tanh(x) = 1 - 2 / (e^{2x} + 1); absolute error ~1e-7 */
static inline float ng_tanhf(float x) {
    return 1.0f - 2.0f / (ng_expf(2.0f * x) + 1.0f);
}
#endif
