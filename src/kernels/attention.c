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
 * Causality is used inside a tile too: rows go in aligned groups of RB, and each group's
 * products stop at the last key it can see (about half the work of the full tile at T = QB).
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

#define RB 32                          /* causal sub-blocks: rows and keys in aligned groups of RB */

/* columns of the score tile that rows [t0 + r0, t0 + r1) of a tile ending at t1 need: the keys
 * up to the last row, rounded up to RB (the fast width of sgemm_small), at most t1 */
static inline int causal_width(int t0, int r1, int t1) {
    int w = (t0 + r1 + RB - 1) / RB * RB;
    return w < t1 ? w : t1;
}

/* the n causal entries of a row rounded up to whole vectors, at most width: loops run over
 * this many entries (masked with j < n) so that they have no scalar remainder */
static inline int vec_width(int n, int width) {
    int m = (n + 15) & ~15;
    return m < width ? m : width;
}

/* Dropout on one row of probabilities: a_j = p_j * keep or 0 (j <= t), 0 beyond */
static void dropout_row(const float *p, float *a, int n, int width, float p_drop, uint64_t seed, uint64_t i0) {
    float keep = 1.0f / (1.0f - p_drop);
    uint32_t th = dropout_threshold(p_drop);
    int m = vec_width(n, width);
    #pragma omp simd
    for (int j = 0; j < m; j++) a[j] = j < n && dropout_keep_t(seed, i0 + j, th) ? p[j] * keep : 0.0f;
    #pragma omp simd
    for (int j = m; j < width; j++) a[j] = 0.0f;
}

/* Row t of the score tile (n = t + 1 causal entries of `width`) to probabilities, in place:
 * p_j = exp(s_j scale - lse) for j <= t, 0 beyond. Returns lse = log sum_j exp(s_j scale). */
static float softmax_row_forward(float *p, int n, int width, float scale) {
    int m = vec_width(n, width);
    float mx = -INFINITY;
    #pragma omp simd reduction(max:mx)
    for (int j = 0; j < m; j++) mx = j < n && p[j] > mx ? p[j] : mx;
    float sum = 0.0f;
    #pragma omp simd reduction(+:sum)
    for (int j = 0; j < m; j++) { float e = j < n ? ng_expf((p[j] - mx) * scale) : 0.0f; p[j] = e; sum += e; }
    float inv = 1.0f / sum;
    #pragma omp simd
    for (int j = 0; j < m; j++) p[j] *= inv;
    #pragma omp simd
    for (int j = m; j < width; j++) p[j] = 0.0f;
    return mx * scale + logf(sum);
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
                float *O = out + (size_t)b * T * C + h * hs, *L = lse + ((size_t)b * NH + h) * T;
                load_transposed(KT, K, C3, T, hs);
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int t1 = t0 + QB < T ? t0 + QB : T, rows = t1 - t0;
                    for (int r0 = 0; r0 < rows; r0 += RB) {     /* S = Q K^T, only the causal columns */
                        int r1 = r0 + RB < rows ? r0 + RB : rows, w = causal_width(t0, r1, t1);
                        sgemm_small(r1 - r0, w, hs, Q + (size_t)(t0 + r0) * C3, C3, 1, KT, T, P + (size_t)r0 * t1, t1, 0);
                        for (int r = r0; r < r1; r++) {
                            int t = t0 + r;
                            L[t] = softmax_row_forward(P + (size_t)r * t1, t + 1, w, scale);
                            if (p_drop > 0.0f)
                                dropout_row(P + (size_t)r * t1, Pd + (size_t)r * t1, t + 1, w, p_drop, seed, att_index(b, h, t, 0, NH, T));
                        }
                        /* out = P V over the keys these rows see */
                        sgemm_small(r1 - r0, hs, t0 + r1, Pd + (size_t)r0 * t1, t1, 1, V, C3, O + (size_t)(t0 + r0) * C, C, 0);
                    }
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
                const float *L = lse + ((size_t)b * NH + h) * T;
                load_transposed(KT, K, C3, T, hs);
                load_transposed(VT, V, C3, T, hs);
                for (int j = 0; j < T; j++) {                 /* dK, dV of this head accumulate below */
                    float *dk = dK + (size_t)j * C3, *dv = dV + (size_t)j * C3;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) { dk[i] = 0.0f; dv[i] = 0.0f; }
                }
                for (int t0 = 0; t0 < T; t0 += QB) {
                    int t1 = t0 + QB < T ? t0 + QB : T, rows = t1 - t0;
                    float *A = p_drop > 0.0f ? Pd : P;
                    for (int r0 = 0; r0 < rows; r0 += RB) {
                        int r1 = r0 + RB < rows ? r0 + RB : rows, w = causal_width(t0, r1, t1);
                        sgemm_small(r1 - r0, w, hs, Q + (size_t)(t0 + r0) * C3, C3, 1, KT, T, P + (size_t)r0 * t1, t1, 0);
                        sgemm_small(r1 - r0, w, hs, dY + (size_t)(t0 + r0) * C, C, 1, VT, T, dS + (size_t)r0 * t1, t1, 0); /* dY V^T */
                        for (int r = r0; r < r1; r++) {
                            int t = t0 + r, n = t + 1;
                            float *p = P + (size_t)r * t1, *a = A + (size_t)r * t1, *ds = dS + (size_t)r * t1;
                            float l = L[t];
                            int m = vec_width(n, w);
                            #pragma omp simd
                            for (int j = 0; j < m; j++) p[j] = j < n ? ng_expf(p[j] * scale - l) : 0.0f;
                            #pragma omp simd
                            for (int j = m; j < w; j++) p[j] = 0.0f;
                            const float *dy = dY + (size_t)t * C, *y = Y + (size_t)t * C;
                            float D = 0.0f;
                            #pragma omp simd reduction(+:D)
                            for (int i = 0; i < hs; i++) D += dy[i] * y[i];
                            if (p_drop > 0.0f) {
                                dropout_row(p, a, n, w, p_drop, seed, att_index(b, h, t, 0, NH, T));
                                float keep = 1.0f / (1.0f - p_drop);
                                /* dL/dp_j = drop_j * dy . v_j, with drop_j = a_j / p_j in {0, keep} */
                                #pragma omp simd
                                for (int j = 0; j < m; j++) ds[j] = j < n ? p[j] * ((a[j] != 0.0f ? keep : 0.0f) * ds[j] - D) * scale : 0.0f;
                            } else {
                                #pragma omp simd
                                for (int j = 0; j < m; j++) ds[j] = j < n ? p[j] * (ds[j] - D) * scale : 0.0f;
                            }
                            #pragma omp simd
                            for (int j = m; j < w; j++) ds[j] = 0.0f;
                        }
                        /* dQ = dS K over the keys these rows see */
                        sgemm_small(r1 - r0, hs, t0 + r1, dS + (size_t)r0 * t1, t1, 1, K, C3, dQ + (size_t)(t0 + r0) * C3, C3, 0);
                    }
                    /* dK += dS^T Q, dV += A^T dY: keys [j0, j1) get contributions from rows t >= j0 only
                     * (entries above the diagonal inside the block are zero) */
                    for (int j0 = 0; j0 < t1; j0 += RB) {
                        int j1 = j0 + RB < t1 ? j0 + RB : t1, rs = j0 > t0 ? j0 - t0 : 0;
                        sgemm_small(j1 - j0, hs, rows - rs, dS + (size_t)rs * t1 + j0, 1, t1, Q + (size_t)(t0 + rs) * C3, C3,
                                    dK + (size_t)j0 * C3, C3, 1);
                        sgemm_small(j1 - j0, hs, rows - rs, A + (size_t)rs * t1 + j0, 1, t1, dY + (size_t)(t0 + rs) * C, C,
                                    dV + (size_t)j0 * C3, C3, 1);
                    }
                }
            }
        }
    }
}
