/* elementwise.c -- GELU, ReLU, the residual add and dropout */
#include "kernels/kernels.h"
#include "nanogpt.h"
#include "kernels/vmath.h"
#include <math.h>

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define MIN_PARALLEL 8192             /* fewer values than this: not worth a team */

/* exact: 0.5 x (1 + erf(x / sqrt 2)); tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void ng_gelu_forward(float *out, const float *inp, size_t n, int tanh_approx) {
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        if (tanh_approx) {
            _Pragma("omp simd")
            for (size_t i = lo; i < hi; i++) {
                float x = inp[i];
                out[i] = 0.5f * x * (1.0f + ng_tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
            }
        } else {
            _Pragma("omp simd")
            for (size_t i = lo; i < hi; i++) {
                float x = inp[i];
                out[i] = 0.5f * x * (1.0f + ng_erff(x * INV_SQRT_2));
            }
        });
}

void ng_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int tanh_approx) {
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        if (tanh_approx) {
            _Pragma("omp simd")
            for (size_t i = lo; i < hi; i++) {
                float x = inp[i];
                float th = ng_tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x));
                float sech2 = 1.0f - th * th;
                float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
                dinp[i] = g * dout[i];
            }
        } else {
            _Pragma("omp simd")
            for (size_t i = lo; i < hi; i++) {
                float x = inp[i], gauss;                     /* gauss = e^{-x^2/2} */
                float erf = ng_erff_gauss(x * INV_SQRT_2, &gauss);
                float g = 0.5f * (1.0f + erf) + x * INV_SQRT_2PI * gauss;
                dinp[i] = g * dout[i];
            }
        });
}

void ng_relu_forward(float *out, const float *inp, size_t n) {
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        _Pragma("omp simd")
        for (size_t i = lo; i < hi; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f);
}

void ng_relu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        _Pragma("omp simd")
        for (size_t i = lo; i < hi; i++) dinp[i] = inp[i] > 0.0f ? dout[i] : 0.0f);
}

void ng_residual_forward(float *out, const float *a, const float *b, size_t n) {
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        _Pragma("omp simd")
        for (size_t i = lo; i < hi; i++) out[i] = a[i] + b[i]);
}

void ng_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed) {
    if (p <= 0.0f) { if (out != inp) for (size_t i = 0; i < n; i++) out[i] = inp[i]; return; }
    float scale = 1.0f / (1.0f - p);
    uint32_t th = dropout_threshold(p);
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        _Pragma("omp simd")
        for (size_t i = lo; i < hi; i++) out[i] = dropout_keep_t(seed, i, th) ? inp[i] * scale : 0.0f);
}

void ng_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed) {
    if (p <= 0.0f) {
        NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
            _Pragma("omp simd")
            for (size_t i = lo; i < hi; i++) dinp[i] = dout[i]);
        return;
    }
    float scale = 1.0f / (1.0f - p);
    uint32_t th = dropout_threshold(p);
    NG_PARALLEL_RANGE(n, 16, n >= MIN_PARALLEL,
        _Pragma("omp simd")
        for (size_t i = lo; i < hi; i++) dinp[i] = dropout_keep_t(seed, i, th) ? dout[i] * scale : 0.0f);
}
