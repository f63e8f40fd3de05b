/* attention.c -- causal multi-head self-attention on the fused qkv tensor.
 *
 * One thread takes one (b, h) at a time and walks its query rows in tiles of QB. For a tile
 * [t0, t1) only the scores of its queries against keys [0, t1) exist, stored transposed:
 * ST[j][r] = q_{t0+r} . k_j (t1 x QB, in a per-thread scratch). In that layout the softmax of
 * one query is a column, so 16 queries are normalised at once with plain vector operations
 * (no horizontal reductions), and every product runs on sgemm_small with operands read in
 * place, except the query (and, backward, dout) tile copied transposed:
 *   forward:  P = softmax(S / sqrt(hs), causal), drop, out[t0:t1] = P V[0:t1]; keeps only
 *             lse_t = log sum_j exp(s_tj / sqrt(hs)) per row.
 *   backward: P recomputed from lse; dP = dout V^T; dS = P * (drop * dP - D_t) / sqrt(hs) with
 *             D_t = dout_t . out_t (= sum_j p_tj dp_tj, so the softmax backward is O(T) per row);
 *             dQ = dS K, dK += dS^T Q, dV += (P * drop)^T dout.
 * With bf16 set (dtype=bfloat16) the six products run on bf16 operands with fp32 sums
 * (ng_gemm_bf16_small), as torch.autocast does; the softmax, its backward, lse and dropout stay
 * float32. Each operand is rounded once into 32-bit words holding two bf16 values paired along
 * its product's inner dimension (the head dim for the scores, keys or queries for the others):
 * per head K and V by rows and by pairs of rows, per tile Q and dY likewise, and P, dS and the
 * dropped P as they are made.
 * Causality is used inside a tile too: queries and keys go in aligned groups of RB, and each
 * product stops at the last key a group of queries can see (or starts at the first query that
 * sees a group of keys). Nothing of size (B,NH,T,T) is stored, and each (b, h) writes only
 * its own slices of the gradients (overwriting dqkv), so threads never race and results do
 * not depend on scheduling.
 */
#include "kernels/kernels.h"
#include "kernels/vmath.h"
#include <math.h>

#define QB 64                          /* query rows per tile */
#define RB 32                          /* causal groups of queries and keys (a multiple of VL) */
#define VL 16                          /* queries normalised together (one vector) */

/* index of attention-probability element (b,h,t,j) for the dropout hash */
static inline uint64_t att_index(int b, int h, int t, int j, int NH, int T) {
    return (((uint64_t)b * NH + h) * T + t) * (uint64_t)T + j;
}

/* dst[i * QB + r] = src[r * ld + i]: rows of one head (hs columns) transposed into a tile */
static void tile_transposed(float *dst, const float *src, size_t ld, int rows, int hs) {
    ng_transpose(dst, QB, src, ld, rows, hs);
}

/* end (exclusive) of the RB group of queries that contains query r of a tile of `rows` */
static inline int group_end(int r, int rows) {
    int e = (r / RB + 1) * RB;
    return e < rows ? e : rows;
}

/* The bf16 operands of one head (NULL words: the products run in float32). Words of two bf16
 * values; "rows" pairs along the head dim (hs2 words a row), "pairs" two rows in one row of
 * hs words. */
typedef struct {
    uint32_t *k_rows, *v_rows;     /* (T, hs2): K, V */
    uint32_t *k_pairs, *v_pairs;   /* (T2, hs): pairs of key rows of K, V */
    uint32_t *qt, *dyt;            /* (hs2, QB): the tile's Q, dY rows, pairs along the head dim, transposed */
    uint32_t *q_pairs, *dy_pairs;  /* (QB2, hs): pairs of the tile's Q, dY rows */
    uint32_t *pw;                  /* (T2, QB): pairs of key rows of P^T (forward) or dS^T (backward) */
    uint32_t *sw, *aw;             /* (T, QB2): rows of dS^T and of the dropped P^T, pairs along the queries */
    uint32_t *tmp;                 /* (QB, hs2) */
} Bf16Ops;

/* words per head and tile in the thread's bf16 scratch */
static size_t bf16_ops_words(int T, int hs) {
    size_t T2 = (size_t)(T + 1) / 2, hs2 = (size_t)(hs + 1) / 2, QB2 = QB / 2;
    return 2 * (size_t)T * hs2 + 2 * T2 * hs + 2 * hs2 * QB + 2 * QB2 * hs + T2 * QB + 2 * (size_t)T * QB2 + (size_t)QB * hs2;
}

/* carves the scratch (NULL: out of memory, counted by ng_kernel_failures) */
static int bf16_ops_init(Bf16Ops *o, int T, int hs) {
    uint32_t *w = (uint32_t *)ng_scratch(NG_SCRATCH_ATTN_BF16, bf16_ops_words(T, hs));
    if (!w) return -1;
    size_t T2 = (size_t)(T + 1) / 2, hs2 = (size_t)(hs + 1) / 2, QB2 = QB / 2;
    o->k_rows = w; w += (size_t)T * hs2;
    o->v_rows = w; w += (size_t)T * hs2;
    o->k_pairs = w; w += T2 * hs;
    o->v_pairs = w; w += T2 * hs;
    o->qt = w; w += hs2 * QB;
    o->dyt = w; w += hs2 * QB;
    o->q_pairs = w; w += QB2 * hs;
    o->dy_pairs = w; w += QB2 * hs;
    o->pw = w; w += T2 * QB;
    o->sw = w; w += (size_t)T * QB2;
    o->aw = w; w += (size_t)T * QB2;
    o->tmp = w;
    return 0;
}

/* rows [0, n) of X (stride ld, hs values) as words: by rows (n x hs2) and by pairs of rows
 * ((n+1)/2 x hs, the last high halves 0 for odd n); either may be NULL */
static void words_of_rows(uint32_t *rows, uint32_t *pairs, const float *X, size_t ld, int n, int hs) {
    if (rows) ng_bf16_words_rows(rows, (size_t)(hs + 1) / 2, X, ld, n, hs);
    if (pairs) ng_bf16_words_pairs(pairs, (size_t)hs, X, ld, n, hs);
}

/* the tile's rows of X (rows x hs), pairs along the head dim, transposed into dst (hs2 x QB) */
static void words_transposed(uint32_t *dst, uint32_t *tmp, const float *X, size_t ld, int rows, int hs) {
    int hs2 = (hs + 1) / 2;
    ng_bf16_words_rows(tmp, (size_t)hs2, X, ld, rows, hs);
    ng_transpose((float *)dst, QB, (const float *)tmp, (size_t)hs2, rows, hs2);   /* moves 32-bit words */
}

/* columns [c0, c1) of rows [0, n) of a (T x QB) tile S^T in pairs of rows, into pw (row p holds
 * rows 2p, 2p+1; for odd n the last high halves 0) */
static void tile_pairs(uint32_t *pw, const float *ST, int n, int c0, int c1) {
    ng_bf16_words_pairs(pw + c0, QB, ST + c0, QB, n, c1 - c0);
}

/* ST (t1 x QB) = K[0:t1] Q[t0:t1]^T for the causal part: key group [j0, j0 + RB) is needed
 * only by queries r >= j0 - t0 (rounded down to a group). In bf16 the keys come from kw (by
 * rows) and the queries from qtw (transposed words). */
static void scores_transposed(float *ST, const float *Kh, size_t ldk, const float *QT, const uint32_t *kw, const uint32_t *qtw,
                              int t0, int t1, int rows, int hs) {
    int hs2 = (hs + 1) / 2;
    for (int j0 = 0; j0 < t1; j0 += RB) {
        int j1 = j0 + RB < t1 ? j0 + RB : t1;
        int c0 = j0 > t0 ? (j0 - t0) / RB * RB : 0;
        if (kw) ng_gemm_bf16_small(j1 - j0, rows - c0, hs2, kw + (size_t)j0 * hs2, (size_t)hs2, 1, qtw + c0, QB,
                                   ST + (size_t)j0 * QB + c0, QB, 0);
        else ng_sgemm_small(j1 - j0, rows - c0, hs, Kh + (size_t)j0 * ldk, ldk, 1, QT + c0, QB, ST + (size_t)j0 * QB + c0, QB, 0);
        /* the entries not computed (masked, or past the last query) are read as whole vectors
         * below: give them a defined value */
        for (int j = j0; j < j1; j++) {
            float *row = ST + (size_t)j * QB;
            for (int r = 0; r < c0; r++) row[r] = 0.0f;
            for (int r = rows; r < QB; r++) row[r] = 0.0f;
        }
    }
}

/* C (rows x hs) (+)= X Y for one group of queries [r0, r1) of a tile over keys [0, n), X from a
 * (T x QB) tile stored transposed (XT[j][r]), Y (keys x hs) with row stride ldy; in bf16 X's
 * pairs of key rows come from pw (tile_pairs) and Y's from yw (pairs of key rows) */
static void tile_times_keys(float *Cm, size_t ldc, const float *XT, const uint32_t *pw, int r0, int r1, int n, const float *Y,
                            size_t ldy, const uint32_t *yw, int hs) {
    if (pw) ng_gemm_bf16_small(r1 - r0, hs, (n + 1) / 2, pw + r0, 1, QB, yw, (size_t)hs, Cm, ldc, 0);
    else ng_sgemm_small(r1 - r0, hs, n, XT + r0, 1, QB, Y, ldy, Cm, ldc, 0);
}

/* C (keys [j0, j1) x hs) += X^T Y over queries [rs, rows) of the tile: X from the transposed
 * tile (XT[j][r]), Y the tile's query rows (row stride ldy) starting at rs; in bf16 X's rows
 * are rounded here into xw (pairs along the queries) and Y's pairs of rows come from yw */
static void keys_times_queries(float *Cm, size_t ldc, const float *XT, uint32_t *xw, int j0, int j1, int rs, int rows,
                               const float *Y, size_t ldy, const uint32_t *yw, int hs) {
    if (!xw) {
        ng_sgemm_small(j1 - j0, hs, rows - rs, XT + (size_t)j0 * QB + rs, QB, 1, Y + (size_t)rs * ldy, ldy, Cm, ldc, 1);
        return;
    }
    ng_bf16_words_rows(xw + (size_t)j0 * (QB / 2), QB / 2, XT + (size_t)j0 * QB + rs, QB, j1 - j0, rows - rs);
    ng_gemm_bf16_small(j1 - j0, hs, (rows - rs + 1) / 2, xw + (size_t)j0 * (QB / 2), QB / 2, 1, yw + (size_t)(rs / 2) * hs,
                       (size_t)hs, Cm, ldc, 1);
}

/* heads [lo, hi) of the (b, h) pairs, b * NH + h */
static void attention_forward_heads(size_t lo, size_t hi, float *out, float *lse, const float *qkv, int T, int C, int NH,
                                    float p_drop, uint64_t seed, int bf16) {
    int hs = C / NH, C3 = 3 * C;
    Bf16Ops o = {0};
    if (bf16 && bf16_ops_init(&o, T, hs) != 0) return;   /* out of memory: see ng_kernel_failures */
    float scale = 1.0f / sqrtf((float)hs), keep = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    uint32_t th = dropout_threshold(p_drop);
    /* QT (hs x QB), ST = P (T x QB), PdT (T x QB) with dropout */
    float *QT = ng_scratch(NG_SCRATCH_ATTN, (size_t)hs * QB + (size_t)T * QB * (p_drop > 0.0f ? 2 : 1));
    if (!QT) return;                               /* out of memory: see ng_kernel_failures */
    float *ST = QT + (size_t)hs * QB;
    float *PdT = p_drop > 0.0f ? ST + (size_t)T * QB : ST;
    for (size_t bh = lo; bh < hi; bh++) {
        int b = (int)(bh / NH), h = (int)(bh % NH);
        const float *Q = qkv + (size_t)b * T * C3 + h * hs, *K = Q + C, *V = Q + 2 * C;
        float *O = out + (size_t)b * T * C + h * hs, *L = lse + ((size_t)b * NH + h) * T;
        if (bf16) {
            words_of_rows(o.k_rows, NULL, K, C3, T, hs);
            words_of_rows(NULL, o.v_pairs, V, C3, T, hs);
        }
        for (int t0 = 0; t0 < T; t0 += QB) {
            int t1 = t0 + QB < T ? t0 + QB : T, rows = t1 - t0;
            if (bf16) words_transposed(o.qt, o.tmp, Q + (size_t)t0 * C3, C3, rows, hs);
            else tile_transposed(QT, Q + (size_t)t0 * C3, C3, rows, hs);
            scores_transposed(ST, K, C3, QT, o.k_rows, o.qt, t0, t1, rows, hs);
            /* softmax down the columns, VL queries at a time; keys up to the end of
             * the queries' group are written (zeros past the diagonal) for P V below */
            for (int c = 0; c < rows; c += VL) {
                int nl = rows - c < VL ? rows - c : VL, jend = t0 + group_end(c, rows);
                float mx[VL], sum[VL], inv[VL];
                #pragma omp simd
                for (int q = 0; q < VL; q++) { mx[q] = -INFINITY; sum[q] = 0.0f; }
                for (int j = 0; j < jend; j++) {
                    const float *s = ST + (size_t)j * QB + c;
                    #pragma omp simd
                    for (int q = 0; q < VL; q++) mx[q] = j <= t0 + c + q && s[q] > mx[q] ? s[q] : mx[q];
                }
                for (int j = 0; j < jend; j++) {
                    float *s = ST + (size_t)j * QB + c;
                    #pragma omp simd
                    for (int q = 0; q < VL; q++) {
                        float e = j <= t0 + c + q ? ng_expf((s[q] - mx[q]) * scale) : 0.0f;
                        s[q] = e; sum[q] += e;
                    }
                }
                #pragma omp simd
                for (int q = 0; q < VL; q++) inv[q] = 1.0f / sum[q];
                for (int j = 0; j < jend; j++) {
                    float *s = ST + (size_t)j * QB + c, *a = PdT + (size_t)j * QB + c;
                    #pragma omp simd
                    for (int q = 0; q < VL; q++) s[q] *= inv[q];
                    if (p_drop > 0.0f) {
                        #pragma omp simd
                        for (int q = 0; q < VL; q++)
                            a[q] = q < nl && dropout_keep_t(seed, att_index(b, h, t0 + c + q, j, NH, T), th) ? s[q] * keep : 0.0f;
                    }
                }
                for (int q = 0; q < nl; q++) L[t0 + c + q] = mx[q] * scale + logf(sum[q]);
            }
            /* out = P V, each group of queries over the keys it sees */
            for (int r0 = 0; r0 < rows; r0 += RB) {
                int r1 = group_end(r0, rows);
                if (bf16) tile_pairs(o.pw, PdT, t0 + r1, r0, r1);
                tile_times_keys(O + (size_t)(t0 + r0) * C, C, PdT, o.pw, r0, r1, t0 + r1, V, C3, o.v_pairs, hs);
            }
        }
    }
}

void ng_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH, float p_drop, uint64_t seed,
                          int bf16) {
    NG_PARALLEL_RANGE((size_t)B * NH, 1, B * NH >= 2, attention_forward_heads(lo, hi, out, lse, qkv, T, C, NH, p_drop, seed, bf16));
}

/* query rows x heads [lo, hi) of the decode, item r * NH + h */
static void attention_decode_items(size_t lo, size_t hi, float *out, const float *qkv, const float *kc, const float *vc,
                                   int pos0, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (size_t it = lo; it < hi; it++) {
        int r = (int)(it / NH), h = (int)(it % NH);
        int m = pos0 + r + 1;                          /* causal: keys 0..pos0+r */
        float s[m];
        const float *q = qkv + (size_t)r * 3 * C + h * hs;
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

void ng_attention_decode(float *out, const float *qkv, const float *kc, const float *vc, int n, int pos0, int C, int NH) {
    NG_PARALLEL_RANGE((size_t)n * NH, 1, (long)n * (pos0 + n) * C > 65536, attention_decode_items(lo, hi, out, qkv, kc, vc, pos0, C, NH));
}

static void attention_backward_heads(size_t lo, size_t hi, float *dqkv, const float *dout, const float *qkv,
                                     const float *out, const float *lse, int T, int C, int NH, float p_drop, uint64_t seed,
                                     int bf16) {
    int hs = C / NH, C3 = 3 * C;
    Bf16Ops o = {0};
    if (bf16 && bf16_ops_init(&o, T, hs) != 0) return;   /* out of memory: see ng_kernel_failures */
    float scale = 1.0f / sqrtf((float)hs), keep = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    uint32_t th = dropout_threshold(p_drop);
    /* QT, dYT, YT (hs x QB); ST -> dS, dPT, AT = P after dropout (T x QB each) */
    float *QT = ng_scratch(NG_SCRATCH_ATTN, 3 * (size_t)hs * QB + 3 * (size_t)T * QB);
    if (!QT) return;                               /* out of memory: see ng_kernel_failures */
    float *dYT = QT + (size_t)hs * QB, *YT = dYT + (size_t)hs * QB, *ST = YT + (size_t)hs * QB;
    float *dPT = ST + (size_t)T * QB, *AT = dPT + (size_t)T * QB;
    for (size_t bh = lo; bh < hi; bh++) {
        int b = (int)(bh / NH), h = (int)(bh % NH);
        const float *Q = qkv + (size_t)b * T * C3 + h * hs, *K = Q + C, *V = Q + 2 * C;
        float *dQ = dqkv + (size_t)b * T * C3 + h * hs, *dK = dQ + C, *dV = dQ + 2 * C;
        const float *dY = dout + (size_t)b * T * C + h * hs, *Y = out + (size_t)b * T * C + h * hs;
        const float *L = lse + ((size_t)b * NH + h) * T;
        for (int j = 0; j < T; j++) {                 /* dK, dV of this head accumulate below */
            float *dk = dK + (size_t)j * C3, *dv = dV + (size_t)j * C3;
            #pragma omp simd
            for (int i = 0; i < hs; i++) { dk[i] = 0.0f; dv[i] = 0.0f; }
        }
        if (bf16) {
            words_of_rows(o.k_rows, o.k_pairs, K, C3, T, hs);
            words_of_rows(o.v_rows, NULL, V, C3, T, hs);
        }
        for (int t0 = 0; t0 < T; t0 += QB) {
            int t1 = t0 + QB < T ? t0 + QB : T, rows = t1 - t0;
            if (bf16) {
                words_transposed(o.qt, o.tmp, Q + (size_t)t0 * C3, C3, rows, hs);
                words_transposed(o.dyt, o.tmp, dY + (size_t)t0 * C, C, rows, hs);
                words_of_rows(NULL, o.q_pairs, Q + (size_t)t0 * C3, C3, rows, hs);
                words_of_rows(NULL, o.dy_pairs, dY + (size_t)t0 * C, C, rows, hs);
            } else {
                tile_transposed(QT, Q + (size_t)t0 * C3, C3, rows, hs);
            }
            tile_transposed(dYT, dY + (size_t)t0 * C, C, rows, hs);      /* also for D below */
            tile_transposed(YT, Y + (size_t)t0 * C, C, rows, hs);
            scores_transposed(ST, K, C3, QT, o.k_rows, o.qt, t0, t1, rows, hs);
            scores_transposed(dPT, V, C3, dYT, o.v_rows, o.dyt, t0, t1, rows, hs);   /* dP^T = V dY^T */
            for (int c = 0; c < rows; c += VL) {
                int nl = rows - c < VL ? rows - c : VL, jend = t0 + group_end(c, rows);
                float l[VL], D[VL];
                for (int q = 0; q < VL; q++) l[q] = q < nl ? L[t0 + c + q] : 0.0f;
                #pragma omp simd
                for (int q = 0; q < VL; q++) D[q] = 0.0f;
                for (int i = 0; i < hs; i++) {                /* D = dY . Y, down the columns */
                    const float *dy = dYT + (size_t)i * QB + c, *y = YT + (size_t)i * QB + c;
                    #pragma omp simd
                    for (int q = 0; q < VL; q++) D[q] += dy[q] * y[q];
                }
                for (int j = 0; j < jend; j++) {
                    float *s = ST + (size_t)j * QB + c, *a = AT + (size_t)j * QB + c;
                    const float *dp = dPT + (size_t)j * QB + c;
                    if (p_drop > 0.0f) {
                        /* dL/dp_j = drop_j * dy . v_j, drop_j in {0, keep} */
                        #pragma omp simd
                        for (int q = 0; q < VL; q++) {
                            int valid = q < nl && j <= t0 + c + q;
                            float p = valid ? ng_expf(s[q] * scale - l[q]) : 0.0f;
                            float dk = valid && dropout_keep_t(seed, att_index(b, h, t0 + c + q, j, NH, T), th) ? keep : 0.0f;
                            a[q] = p * dk;
                            s[q] = p * (dk * dp[q] - D[q]) * scale;
                        }
                    } else {
                        #pragma omp simd
                        for (int q = 0; q < VL; q++) {
                            float p = q < nl && j <= t0 + c + q ? ng_expf(s[q] * scale - l[q]) : 0.0f;
                            a[q] = p;
                            s[q] = p * (dp[q] - D[q]) * scale;
                        }
                    }
                }
            }
            /* dQ = dS K, each group of queries over the keys it sees */
            for (int r0 = 0; r0 < rows; r0 += RB) {
                int r1 = group_end(r0, rows);
                if (bf16) tile_pairs(o.pw, ST, t0 + r1, r0, r1);
                tile_times_keys(dQ + (size_t)(t0 + r0) * C3, C3, ST, o.pw, r0, r1, t0 + r1, K, C3, o.k_pairs, hs);
            }
            /* dK += dS^T Q, dV += A^T dY: key group [j0, j1) from the queries that see it (rs
             * is a multiple of RB: the queries' pairs start at rs / 2) */
            for (int j0 = 0; j0 < t1; j0 += RB) {
                int j1 = j0 + RB < t1 ? j0 + RB : t1, rs = j0 > t0 ? j0 - t0 : 0;
                keys_times_queries(dK + (size_t)j0 * C3, C3, ST, o.sw, j0, j1, rs, rows, Q + (size_t)t0 * C3, C3, o.q_pairs, hs);
                keys_times_queries(dV + (size_t)j0 * C3, C3, AT, o.aw, j0, j1, rs, rows, dY + (size_t)t0 * C, C, o.dy_pairs, hs);
            }
        }
    }
}

void ng_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                        int B, int T, int C, int NH, float p_drop, uint64_t seed, int bf16) {
    NG_PARALLEL_RANGE((size_t)B * NH, 1, B * NH >= 2,
                      attention_backward_heads(lo, hi, dqkv, dout, qkv, out, lse, T, C, NH, p_drop, seed, bf16));
}
