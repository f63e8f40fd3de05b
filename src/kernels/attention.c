/* attention.c -- causal multi-head self-attention on the fused qkv tensor.
 *
 * For each (b, h) one thread copies K and V of that head transposed into a small scratch
 * (hs, T), so every inner loop runs over contiguous keys j and vectorizes. For each query
 * time t only row t of the (T,T) attention matrix exists: s_j = q_t . k_j / sqrt(hs) for
 * j <= t, p = softmax(s), out_t = sum_j p_j drop_j v_j. The forward keeps
 * lse_t = log sum_j exp(s_j), so the backward recomputes p_j = exp(s_j - lse_t), and the softmax
 * backward needs only D_t = dout_t . out_t (= sum_j p_j dp_j): O(T) per row, and nothing of
 * size (B,NH,T,T) is ever stored.
 */
#include "kernels/kernels.h"
#include "kernels/vmath.h"
#include <math.h>
#include <stdlib.h>

/* index of attention-probability element (b,h,t,j) for the dropout hash */
static inline uint64_t att_index(int b, int h, int t, int j, int NH, int T) {
    return (((uint64_t)b * NH + h) * T + t) * (uint64_t)T + j;
}

/* dst(hs, T) = the hs columns at `col` of rows b*T .. b*T+T-1 of qkv, transposed */
static void load_transposed(float *dst, const float *qkv, int b, int T, int C3, int col, int hs) {
    for (int j = 0; j < T; j++) {
        const float *src = qkv + ((size_t)b * T + j) * C3 + col;
        for (int i = 0; i < hs; i++) dst[(size_t)i * T + j] = src[i];
    }
}

/* s[0..n) = scale * (q . KT[:, j]) */
static inline void scores(float *restrict s, const float *restrict q, const float *restrict KT, int n, int T, int hs, float scale) {
    for (int j = 0; j < n; j++) s[j] = 0.0f;
    for (int i = 0; i < hs; i++) {
        float qi = q[i] * scale;
        const float *kt = KT + (size_t)i * T;
        #pragma omp simd
        for (int j = 0; j < n; j++) s[j] += qi * kt[j];
    }
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH, float p_drop, uint64_t seed) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    #pragma omp parallel
    {
        float *KT = ng_scratch(NG_SCRATCH_ATTN, (size_t)hs * T + T);
        float *att = KT + (size_t)hs * T;
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                load_transposed(KT, qkv, b, T, C3, C + h * hs, hs);
                for (int t = 0; t < T; t++) {
                    const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                    int n = t + 1;
                    scores(att, q, KT, n, T, hs, scale);
                    float mx = -INFINITY;
                    #pragma omp simd reduction(max:mx)
                    for (int j = 0; j < n; j++) mx = att[j] > mx ? att[j] : mx;
                    float sum = 0.0f;
                    #pragma omp simd reduction(+:sum)
                    for (int j = 0; j < n; j++) { att[j] = ng_expf(att[j] - mx); sum += att[j]; }
                    float inv = 1.0f / sum;
                    lse[((size_t)b * NH + h) * T + t] = mx + logf(sum);
                    if (p_drop > 0.0f)
                        for (int j = 0; j < n; j++)
                            att[j] = dropout_keep(seed, att_index(b, h, t, j, NH, T), p_drop) ? att[j] * keep_scale : 0.0f;
                    float *o = out + ((size_t)b * T + t) * C + h * hs;
                    for (int i = 0; i < hs; i++) o[i] = 0.0f;
                    for (int j = 0; j < n; j++) {
                        float a = att[j] * inv;
                        const float *v = qkv + ((size_t)b * T + j) * C3 + 2 * C + h * hs;
                        #pragma omp simd
                        for (int i = 0; i < hs; i++) o[i] += a * v[i];
                    }
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
    #pragma omp parallel
    {
        size_t hT = (size_t)hs * T;
        float *KT = ng_scratch(NG_SCRATCH_ATTN, 4 * hT + 3 * (size_t)T);
        float *VT = KT + hT, *dKT = VT + hT, *dVT = dKT + hT;
        float *p = dVT + hT, *ds = p + T, *a = ds + T;
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                load_transposed(KT, qkv, b, T, C3, C + h * hs, hs);
                load_transposed(VT, qkv, b, T, C3, 2 * C + h * hs, hs);
                for (size_t i = 0; i < 2 * hT; i++) dKT[i] = 0.0f;
                for (int t = 0; t < T; t++) {
                    size_t row = (size_t)b * T + t;
                    const float *q = qkv + row * C3 + h * hs;
                    const float *dy = dout + row * C + h * hs, *y = out + row * C + h * hs;
                    float *dq = dqkv + row * C3 + h * hs;
                    float l = lse[((size_t)b * NH + h) * T + t];
                    int n = t + 1;
                    float D = 0.0f;
                    #pragma omp simd reduction(+:D)
                    for (int i = 0; i < hs; i++) D += dy[i] * y[i];
                    scores(p, q, KT, n, T, hs, scale);
                    #pragma omp simd
                    for (int j = 0; j < n; j++) p[j] = ng_expf(p[j] - l);
                    scores(ds, dy, VT, n, T, hs, 1.0f);            /* ds_j = dy . v_j for now */
                    for (int j = 0; j < n; j++) a[j] = p[j];
                    if (p_drop > 0.0f)
                        for (int j = 0; j < n; j++) {
                            float m = dropout_keep(seed, att_index(b, h, t, j, NH, T), p_drop) ? keep_scale : 0.0f;
                            ds[j] *= m;                            /* dL/dp_j */
                            a[j] *= m;                             /* the weight of v_j in out_t */
                        }
                    #pragma omp simd
                    for (int j = 0; j < n; j++) ds[j] = p[j] * (ds[j] - D) * scale;   /* dL/d(q . k_j) */
                    for (int i = 0; i < hs; i++) {
                        const float *kt = KT + (size_t)i * T;
                        float *dkt = dKT + (size_t)i * T, *dvt = dVT + (size_t)i * T;
                        float qi = q[i], dyi = dy[i], acc = 0.0f;
                        #pragma omp simd reduction(+:acc)
                        for (int j = 0; j < n; j++) {
                            acc += ds[j] * kt[j];
                            dkt[j] += ds[j] * qi;
                            dvt[j] += a[j] * dyi;
                        }
                        dq[i] += acc;
                    }
                }
                for (int j = 0; j < T; j++) {
                    float *dk = dqkv + ((size_t)b * T + j) * C3 + C + h * hs, *dv = dk + C;
                    for (int i = 0; i < hs; i++) { dk[i] += dKT[(size_t)i * T + j]; dv[i] += dVT[(size_t)i * T + j]; }
                }
            }
        }
    }
}
