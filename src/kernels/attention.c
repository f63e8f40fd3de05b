/* attention.c -- causal multi-head self-attention on the fused qkv tensor.
 *
 * One thread takes one (b, h) at a time and walks its query rows in blocks of QB. For a block
 * [t0, t1) only the tile S = Q[t0:t1] K[0:t1]^T of the attention matrix exists (QB x t1, in a
 * per-thread scratch). The products run on sgemm_small, with K and V of the head copied
 * transposed once per (b, h) so that every right-hand operand has contiguous rows:
 *   forward:  P = softmax(S / sqrt(hs), causal), drop, out[t0:t1] = P V[0:t1]; keeps only
 *             lse_t = log sum_j exp(s_tj) per row.
 *   backward: P recomputed from lse; dP = dout V^T; dS = P * (drop * dP - D_t) / sqrt(hs) with
 *             D_t = dout_t . out_t (= sum_j p_tj dp_tj, so the softmax backward is O(T) per row);
 *             dQ += dS K, dK += dS^T Q, dV += (P * drop)^T dout.
 * Nothing of size (B,NH,T,T) is stored, and each (b, h) writes only its own slices of the
 * gradients (overwriting dqkv), so threads never race and results do not depend on scheduling.
 */
#include "kernels/kernels.h"
#include "kernels/vmath.h"
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#else
static int omp_in_parallel(void) { return 0; }
#endif

#define QB 64                          /* query rows per tile */

/* index of attention-probability element (b,h,t,j) for the dropout hash */
static inline uint64_t att_index(int b, int h, int t, int j, int NH, int T) {
    return (((uint64_t)b * NH + h) * T + t) * (uint64_t)T + j;
}

/* dst(hs, T) = the hs columns of head h (starting at column `col`) of rows 0..T-1, transposed */
static void load_transposed(float *dst, const float *src, size_t ld, int T, int hs) {
    for (int j = 0; j < T; j++)
        for (int i = 0; i < hs; i++) dst[(size_t)i * T + j] = src[(size_t)j * ld + i];
}

/* Turns row t of the score tile into probabilities p_j = exp(s_j * scale - lse) for j <= t,
 * 0 beyond; computes lse first when `lse` points to an unset value (forward). Returns in
 * `a` the probabilities after dropout (a may equal p when there is no dropout). */
static void softmax_row(float *p, float *a, int n, int width, float scale, float *lse, int have_lse,
                        float p_drop, uint64_t seed, int b, int h, int t, int NH, int T) {
    float l;
    if (have_lse) {
        l = *lse;
    } else {
        float mx = -INFINITY;
        #pragma omp simd reduction(max:mx)
        for (int j = 0; j < n; j++) mx = p[j] > mx ? p[j] : mx;
        mx *= scale;
        float sum = 0.0f;
        #pragma omp simd reduction(+:sum)
        for (int j = 0; j < n; j++) sum += ng_expf(p[j] * scale - mx);
        l = mx + logf(sum);
        *lse = l;
    }
    #pragma omp simd
    for (int j = 0; j < n; j++) p[j] = ng_expf(p[j] * scale - l);
    for (int j = n; j < width; j++) p[j] = 0.0f;
    if (p_drop > 0.0f) {
        float keep = 1.0f / (1.0f - p_drop);
        uint32_t th = dropout_threshold(p_drop);
        uint64_t i0 = att_index(b, h, t, 0, NH, T);
        #pragma omp simd
        for (int j = 0; j < n; j++) a[j] = dropout_keep_t(seed, i0 + j, th) ? p[j] * keep : 0.0f;
        for (int j = n; j < width; j++) a[j] = 0.0f;
    }
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH, float p_drop, uint64_t seed) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        float *KT = ng_scratch(NG_SCRATCH_ATTN, (size_t)hs * T + (size_t)QB * T * (p_drop > 0.0f ? 2 : 1));
        float *P = KT + (size_t)hs * T;
        float *Pd = p_drop > 0.0f ? P + (size_t)QB * T : P;
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const float *Q = qkv + (size_t)b * T * C3 + h * hs, *K = Q + C, *V = Q + 2 * C;
                load_transposed(KT, K, C3, T, hs);
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int t1 = t0 + QB < T ? t0 + QB : T, rows = t1 - t0;
                    sgemm_small(rows, t1, hs, Q + (size_t)t0 * C3, C3, 1, KT, T, P, t1, 0);   /* S (rows, t1) */
                    for (int r = 0; r < rows; r++) {
                        int t = t0 + r;
                        softmax_row(P + (size_t)r * t1, Pd + (size_t)r * t1, t + 1, t1, scale,
                                    lse + ((size_t)b * NH + h) * T + t, 0, p_drop, seed, b, h, t, NH, T);
                    }
                    sgemm_small(rows, hs, t1, Pd, t1, 1, V, C3, out + ((size_t)b * T + t0) * C + h * hs, C, 0);
                }
            }
        }
    }
}

void attention_decode(float *out, const float *qkv, const float *kc, const float *vc, int n, int pos0, int C, int NH) {
    int hs = C / NH, L = pos0 + n;
    float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(2) schedule(static) if(!omp_in_parallel() && (long)n * L * C > 65536)
    for (int r = 0; r < n; r++) {
        for (int h = 0; h < NH; h++) {
            float s[L];
            const float *q = qkv + (size_t)r * 3 * C + h * hs;
            int m = pos0 + r + 1;                      /* causal: keys 0..pos0+r */
            float mx = -INFINITY;
            for (int j = 0; j < m; j++) {
                const float *k = kc + (size_t)j * C + h * hs;
                float d = 0.0f;
                #pragma omp simd reduction(+:d)
                for (int i = 0; i < hs; i++) d += q[i] * k[i];
                s[j] = d * scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            float sum = 0.0f;
            for (int j = 0; j < m; j++) { s[j] = ng_expf(s[j] - mx); sum += s[j]; }
            float inv = 1.0f / sum, *o = out + (size_t)r * C + h * hs;
            for (int i = 0; i < hs; i++) o[i] = 0.0f;
            for (int j = 0; j < m; j++) {
                const float *v = vc + (size_t)j * C + h * hs;
                float a = s[j] * inv;
                #pragma omp simd
                for (int i = 0; i < hs; i++) o[i] += a * v[i];
            }
        }
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                        int B, int T, int C, int NH, float p_drop, uint64_t seed) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        /* P (probabilities), Pd (after dropout), dS: three (QB, T) tiles */
        float *KT = ng_scratch(NG_SCRATCH_ATTN, 2 * (size_t)hs * T + (size_t)QB * T * 3);
        float *VT = KT + (size_t)hs * T, *P = VT + (size_t)hs * T;
        float *Pd = P + (size_t)QB * T, *dS = Pd + (size_t)QB * T;
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const float *Q = qkv + (size_t)b * T * C3 + h * hs, *K = Q + C, *V = Q + 2 * C;
                float *dQ = dqkv + (size_t)b * T * C3 + h * hs, *dK = dQ + C, *dV = dQ + 2 * C;
                const float *dY = dout + (size_t)b * T * C + h * hs, *Y = out + (size_t)b * T * C + h * hs;
                load_transposed(KT, K, C3, T, hs);
                load_transposed(VT, V, C3, T, hs);
                for (int j = 0; j < T; j++) {                 /* dK, dV of this head accumulate below */
                    float *dk = dK + (size_t)j * C3, *dv = dV + (size_t)j * C3;
                    for (int i = 0; i < hs; i++) { dk[i] = 0.0f; dv[i] = 0.0f; }
                }
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int t1 = t0 + QB < T ? t0 + QB : T, rows = t1 - t0;
                    float *A = p_drop > 0.0f ? Pd : P;
                    sgemm_small(rows, t1, hs, Q + (size_t)t0 * C3, C3, 1, KT, T, P, t1, 0);
                    sgemm_small(rows, t1, hs, dY + (size_t)t0 * C, C, 1, VT, T, dS, t1, 0);   /* dY V^T */
                    for (int r = 0; r < rows; r++) {
                        int t = t0 + r;
                        float *p = P + (size_t)r * t1, *a = A + (size_t)r * t1, *ds = dS + (size_t)r * t1;
                        float l = lse[((size_t)b * NH + h) * T + t];
                        softmax_row(p, a, t + 1, t1, scale, &l, 1, p_drop, seed, b, h, t, NH, T);
                        const float *dy = dY + (size_t)t * C, *y = Y + (size_t)t * C;
                        float D = 0.0f;
                        #pragma omp simd reduction(+:D)
                        for (int i = 0; i < hs; i++) D += dy[i] * y[i];
                        if (p_drop > 0.0f) {
                            float keep = 1.0f / (1.0f - p_drop);
                            /* dL/dp_j = drop_j * dy . v_j, with drop_j = a_j / p_j in {0, keep} */
                            for (int j = 0; j <= t; j++) ds[j] = p[j] * ((a[j] != 0.0f ? keep : 0.0f) * ds[j] - D) * scale;
                        } else {
                            #pragma omp simd
                            for (int j = 0; j <= t; j++) ds[j] = p[j] * (ds[j] - D) * scale;
                        }
                        for (int j = t + 1; j < t1; j++) ds[j] = 0.0f;
                    }
                    sgemm_small(rows, hs, t1, dS, t1, 1, K, C3, dQ + (size_t)t0 * C3, C3, 0);      /* dQ = dS K */
                    sgemm_small(t1, hs, rows, dS, 1, t1, Q + (size_t)t0 * C3, C3, dK, C3, 1);  /* dK += dS^T Q */
                    sgemm_small(t1, hs, rows, A, 1, t1, dY + (size_t)t0 * C, C, dV, C3, 1);    /* dV += A^T dY */
                }
            }
        }
    }
}
