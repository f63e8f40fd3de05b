/* attention.c -- causal multi-head self-attention on the fused qkv tensor.
 *
 * For each (b, h) and each query time t, only row t of the (T,T) attention matrix exists,
 * in a small per-thread scratch: scores s_j = q_t . k_j / sqrt(hs) for j <= t, p = softmax(s),
 * out_t = sum_j p_j drop_j v_j. The forward keeps lse_t = log sum_j exp(s_j) so the backward
 * recomputes p_j = exp(s_j - lse_t), and the softmax backward needs only
 * D_t = dout_t . out_t (= sum_j p_j dp_j): O(T) per row, no (B,NH,T,T) buffer.
 */
#include "kernels/kernels.h"
#include <math.h>

static inline float dot(const float *restrict a, const float *restrict b, int n) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* index of attention-probability element (b,h,t,j) for the dropout hash */
static inline uint64_t att_index(int b, int h, int t, int j, int NH, int T) {
    return (((uint64_t)b * NH + h) * T + t) * (uint64_t)T + j;
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH, float p_drop, uint64_t seed) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            float att[T];
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                float mx = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * hs;
                    att[j] = dot(q, k, hs) * scale;
                    mx = att[j] > mx ? att[j] : mx;
                }
                float sum = 0.0f;
                for (int j = 0; j <= t; j++) { att[j] = expf(att[j] - mx); sum += att[j]; }
                float inv = 1.0f / sum;
                lse[((size_t)b * NH + h) * T + t] = mx + logf(sum);
                float *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int j = 0; j <= t; j++) {
                    float a = att[j] * inv;
                    if (p_drop > 0.0f) a = dropout_keep(seed, att_index(b, h, t, j, NH, T), p_drop) ? a * keep_scale : 0.0f;
                    const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + h * hs;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) o[i] += a * v[i];
                }
            }
        }
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                        int B, int T, int C, int NH, float p_drop, uint64_t seed) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    /* each (b,h) owns its slices of dq, dk, dv: no two threads write the same element */
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                size_t row = (size_t)b * T + t;
                const float *q = qkv + row * C3 + h * hs;
                const float *dy = dout + row * C + h * hs, *y = out + row * C + h * hs;
                float *dq = dqkv + row * C3 + h * hs;
                float l = lse[((size_t)b * NH + h) * T + t];
                float D = dot(dy, y, hs);
                for (int j = 0; j <= t; j++) {
                    size_t rj = (size_t)b * T + j;
                    const float *k = qkv + rj * C3 + C + h * hs, *v = qkv + rj * C3 + 2 * C + h * hs;
                    float *dk = dqkv + rj * C3 + C + h * hs, *dv = dqkv + rj * C3 + 2 * C + h * hs;
                    float p = expf(dot(q, k, hs) * scale - l);
                    float m = 1.0f;
                    if (p_drop > 0.0f) m = dropout_keep(seed, att_index(b, h, t, j, NH, T), p_drop) ? keep_scale : 0.0f;
                    float dp = m * dot(dy, v, hs);          /* dL/dp_j */
                    float ds = p * (dp - D) * scale;        /* dL/d(q.k) */
                    float a = p * m;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                        dv[i] += a * dy[i];
                    }
                }
            }
        }
    }
}
