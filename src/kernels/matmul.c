/* matmul.c -- the Linear layer, on one cache-blocked, register-tiled sgemm.
 *
 * sgemm computes C(M,N) (+)= op(A)(M,K) @ op(B)(K,N) in the manner of BLIS: K is cut in KC
 * blocks and N in NC blocks; each block of op(B) is packed into NR-wide strips (transposed
 * weights with 16x16 register transposes), and a micro-kernel multiplies MR rows of op(A),
 * read in place, by a KC x NR strip into MR x NR accumulators that live in vector registers.
 * Threads take independent row or column ranges of C, each with its own packing, so there
 * are no barriers; every element of C is summed by one thread in one fixed order, so results
 * are bitwise identical whatever the number of threads.
 */
#include "kernels/kernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local int ng_team_request;
static atomic_ulong g_scratch_failures;
unsigned long ng_kernel_failures(void) { return atomic_load(&g_scratch_failures); }

/* A thread's scratch buffers, freed when the thread ends (a pthread key's destructor), so a
 * program that starts and ends threads (each with its own OpenMP team) does not leak them. */
typedef struct { float *buf[NG_SCRATCH_SLOTS]; size_t cap[NG_SCRATCH_SLOTS]; } Scratch;
static _Thread_local Scratch *t_scratch;
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *p) {
    Scratch *s = p;
    for (int i = 0; i < NG_SCRATCH_SLOTS; i++) free(s->buf[i]);
    free(s);
    t_scratch = NULL;
}
static void scratch_key_create(void) { pthread_key_create(&g_scratch_key, scratch_free); }

static Scratch *thread_scratch(void) {
    pthread_once(&g_scratch_once, scratch_key_create);
    Scratch *s = calloc(1, sizeof *s);
    if (s && pthread_setspecific(g_scratch_key, s) != 0) { free(s); s = NULL; }
    return t_scratch = s;
}

float *ng_scratch(int slot, size_t n) {
    Scratch *s = t_scratch ? t_scratch : thread_scratch();
    if (!s) { atomic_fetch_add(&g_scratch_failures, 1); return NULL; }
    if (n > s->cap[slot]) {
        free(s->buf[slot]);
        size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
        s->buf[slot] = aligned_alloc(64, bytes);
        s->cap[slot] = s->buf[slot] ? n : 0;
        if (!s->buf[slot]) atomic_fetch_add(&g_scratch_failures, 1);
    }
    return s->buf[slot];
}

#if defined(__AVX512F__)
#define VW 16                        /* floats per vector register */
#define MR 8
#else
#define VW 8
#define MR 6
#endif
#define NR (2 * VW)
#define KC 256
#define MC 96                        /* multiple of MR */
#define NC 1536                      /* multiple of NR */

typedef float vec __attribute__((vector_size(VW * 4), aligned(VW * 4)));
typedef float vec_u __attribute__((vector_size(VW * 4), aligned(4)));

/* C(MR,NR) (+)= a(MR x kc, element (i, k) at a[i * a_row + k * a_col]: a packed strip or op(A)
 * in place) @ b(kc x NR strip, k-major). A full tile goes
 * straight from the registers to C; a partial one (rows < MR or cols < NR) through `edge`. */
static inline void micro_kernel(int kc, const float *restrict a, size_t a_row, size_t a_col, const float *restrict b,
                                float *restrict c, int ldc, int rows, int cols, int overwrite, float *restrict edge) {
    vec acc[MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) { acc[i][0] = (vec){0}; acc[i][1] = (vec){0}; }
    /* the C tile is needed only after the k loop: start fetching it now */
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __builtin_prefetch(c + (size_t)i * ldc, 1, 3);
            __builtin_prefetch(c + (size_t)i * ldc + NR - 1, 1, 3);
        }
    for (int k = 0; k < kc; k++) {
        vec b0 = *(const vec *)(b + (size_t)k * NR);
        vec b1 = *(const vec *)(b + (size_t)k * NR + VW);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            float ai = a[(size_t)k * a_col + (size_t)i * a_row];
            acc[i][0] += ai * b0;
            acc[i][1] += ai * b1;
        }
    }
    if (rows == MR && cols == NR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vec_u *ci = (vec_u *)(c + (size_t)i * ldc);
            if (overwrite) { ci[0] = acc[i][0]; ci[1] = acc[i][1]; }
            else { ci[0] += acc[i][0]; ci[1] += acc[i][1]; }
        }
        return;
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        *(vec *)(edge + i * NR) = acc[i][0];
        *(vec *)(edge + i * NR + VW) = acc[i][1];
    }
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        const float *t = edge + i * NR;
        if (overwrite) for (int j = 0; j < cols; j++) ci[j] = t[j];
        else for (int j = 0; j < cols; j++) ci[j] += t[j];
    }
}

/* element (i,k) of op(A) */
#define AT(i, k) (trans_a ? A[(size_t)(k) * lda + (i)] : A[(size_t)(i) * lda + (k)])
#define BT(k, j) (trans_b ? B[(size_t)(j) * ldb + (k)] : B[(size_t)(k) * ldb + (j)])

#if defined(__AVX512F__)
#include "kernels/transpose16.h"
/* dst[c * ldd + r] = src[r * lds + c] for r, c < 16: a 16x16 transpose in registers */
static inline void transpose16(const float *src, size_t lds, float *dst, size_t ldd) {
    __m512 r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * lds);
    ng_transpose16_regs(r);
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ldd, r[i]);
}
#define HAVE_TRANSPOSE16 1
#endif

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: 16x16 blocks in registers where
 * the build has them, the edges one value at a time */
void ng_transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols) {
    int r0 = 0;
#ifdef HAVE_TRANSPOSE16
    for (; r0 + 16 <= rows; r0 += 16) {
        int c0 = 0;
        for (; c0 + 16 <= cols; c0 += 16) transpose16(src + (size_t)r0 * lds + c0, lds, dst + (size_t)c0 * ldd + r0, ldd);
        for (int r = r0; r < r0 + 16; r++)
            for (int c = c0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
    }
#endif
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

/* pack rows [i0, i0+mc) x cols [k0, k0+kc) of op(A) into MR-tall strips, zero padded (used for
 * a last strip of fewer than MR rows; whole strips are read in place) */
static void pack_a(float *restrict dst, int trans_a, const float *A, int lda, int i0, int mc, int k0, int kc) {
    for (int s = 0; s < mc; s += MR) {
        float *d = dst + (size_t)s * kc;
        int rows = mc - s < MR ? mc - s : MR;
        if (!trans_a) {
            for (int r = 0; r < MR; r++) {
                const float *src = A + (size_t)(i0 + s + r) * lda + k0;
                if (r < rows) for (int k = 0; k < kc; k++) d[(size_t)k * MR + r] = src[k];
                else for (int k = 0; k < kc; k++) d[(size_t)k * MR + r] = 0.0f;
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0 + s;
                for (int r = 0; r < MR; r++) d[(size_t)k * MR + r] = r < rows ? src[r] : 0.0f;
            }
        }
    }
}

/* pack rows [k0, k0+kc) x cols [j0 + strip*NR, ...) of op(B): one NR-wide strip */
static void pack_b_strip(float *restrict d, int trans_b, const float *B, int ldb, int k0, int kc, int j0, int cols) {
    if (!trans_b) {
        if (cols == NR) {
            for (int k = 0; k < kc; k++) {
                const vec_u *src = (const vec_u *)(B + (size_t)(k0 + k) * ldb + j0);
                vec *dk = (vec *)(d + (size_t)k * NR);
                dk[0] = src[0]; dk[1] = src[1];
            }
            return;
        }
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            float *dk = d + (size_t)k * NR;
            int j = 0;
            for (; j < cols; j++) dk[j] = src[j];
            for (; j < NR; j++) dk[j] = 0.0f;
        }
    } else {
        int k = 0;
#ifdef HAVE_TRANSPOSE16
        if (cols == NR)              /* NR = 32: two 16x16 transposes per 16 values of k */
            for (; k + 16 <= kc; k += 16)
                for (int h = 0; h < NR; h += 16)
                    transpose16(B + (size_t)(j0 + h) * ldb + k0 + k, (size_t)ldb, d + (size_t)k * NR + h, NR);
#endif
        for (int j = 0; j < NR; j++) {
            if (j < cols) {
                const float *src = B + (size_t)(j0 + j) * ldb + k0;
                for (int kk = k; kk < kc; kk++) d[(size_t)kk * NR + j] = src[kk];
            } else {
                for (int kk = k; kk < kc; kk++) d[(size_t)kk * NR + j] = 0.0f;
            }
        }
    }
}

/* columns [j0, j1) of a small-M product, as dot products (or axpy-like sums when transposed) */
static void sgemm_small_m_cols(size_t j0, size_t j1, int trans_a, int trans_b, int M, int K, const float *A, int lda,
                               const float *B, int ldb, float *Cm, int ldc, int accumulate) {
    for (size_t j = j0; j < j1; j++) {
        for (int i = 0; i < M; i++) {
            float s = 0.0f;
            if (trans_b && !trans_a) {
                const float *a = A + (size_t)i * lda, *b = B + j * ldb;
                #pragma omp simd reduction(+:s)
                for (int k = 0; k < K; k++) s += a[k] * b[k];
            } else {
                for (int k = 0; k < K; k++) s += AT(i, k) * BT(k, j);
            }
            float *c = Cm + (size_t)i * ldc + j;
            *c = accumulate ? *c + s : s;
        }
    }
}

/* Small M (e.g. one token at a time when sampling): a dot-product path parallel over N. */
static void sgemm_small_m(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, float *Cm, int ldc, int accumulate) {
    NG_PARALLEL_RANGE((size_t)N, 1, (double)M * N * K >= 65536.0 * 4,
                      sgemm_small_m_cols(lo, hi, trans_a, trans_b, M, K, A, lda, B, ldb, Cm, ldc, accumulate));
}

/* The blocked product on one thread, for rows [m0, m1) and columns [n0, n1) of C, with its
 * own packing buffers */
static void sgemm_block(int trans_a, int trans_b, int m0, int m1, int n0, int n1, int K, const float *A, int lda,
                        const float *B, int ldb, float *Cm, int ldc, int accumulate) {
    int nc_max = n1 - n0 < NC ? n1 - n0 : NC;
    float *bpack = ng_scratch(NG_SCRATCH_GEMM_B, (size_t)((nc_max + NR - 1) / NR) * NR * KC);
    float *apack = ng_scratch(NG_SCRATCH_GEMM_A, MC * KC);
    if (!bpack || !apack) return;                  /* out of memory: see ng_kernel_failures */
    float acc[MR * NR] __attribute__((aligned(64)));
    for (int j0 = n0; j0 < n1; j0 += NC) {
        int nc = n1 - j0 < NC ? n1 - j0 : NC;
        int nstrips = (nc + NR - 1) / NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            int first = (k0 == 0) && !accumulate;
            for (int s = 0; s < nstrips; s++) {
                int cols = nc - s * NR < NR ? nc - s * NR : NR;
                pack_b_strip(bpack + (size_t)s * NR * kc, trans_b, B, ldb, k0, kc, j0 + s * NR, cols);
            }
            for (int i0 = m0; i0 < m1; i0 += MC) {
                int mc = m1 - i0 < MC ? m1 - i0 : MC;
                /* A is read in place while its strips are whole (a strip of MR rows is MR
                 * streams along k, or MR contiguous values per k when transposed); only a last
                 * partial strip is packed, zero padded */
                int mfull = mc - mc % MR;
                if (mfull < mc) pack_a(apack, trans_a, A, lda, i0 + mfull, mc - mfull, k0, kc);
                for (int s = 0; s < nstrips; s++) {
                    int cols = nc - s * NR < NR ? nc - s * NR : NR;
                    const float *bp = bpack + (size_t)s * NR * kc;
                    float *cs = Cm + (size_t)i0 * ldc + j0 + s * NR;
                    if (trans_a)
                        for (int r = 0; r < mfull; r += MR)
                            micro_kernel(kc, A + (size_t)k0 * lda + i0 + r, 1, (size_t)lda, bp, cs + (size_t)r * ldc, ldc,
                                         MR, cols, first, acc);
                    else
                        for (int r = 0; r < mfull; r += MR)
                            micro_kernel(kc, A + (size_t)(i0 + r) * lda + k0, (size_t)lda, 1, bp, cs + (size_t)r * ldc, ldc,
                                         MR, cols, first, acc);
                    if (mfull < mc)
                        micro_kernel(kc, apack, 1, MR, bp, cs + (size_t)mfull * ldc, ldc, mc - mfull, cols, first, acc);
                }
            }
        }
    }
}

/* Threads split C into independent parts, no barriers: rows in mr-aligned ranges when M >= N
 * (each thread packs all of B, the smaller operand), else columns in nr-aligned ranges (each
 * packs all of A). Every element is still summed by one thread in the same k order. One thread
 * for small products, and when called from inside a parallel region (the training step's batch
 * shards, attention's tiles): then no team at all. Shared by the fp32 and bf16 products. */
void ng_gemm_split(int M, int N, int K, int mr, int nr, NgGemmBlock block, void *ctx) {
    if (ng_in_parallel() || (double)M * N * K < 65536.0 * 16) {
        block(ctx, 0, M, 0, N);
        return;
    }
    #pragma omp parallel num_threads(ng_team_want())
    {
        size_t lo, hi;
        if (M >= N || (N + nr - 1) / nr < ng_team_size()) {
            ng_thread_share((size_t)M, (size_t)mr, &lo, &hi);
            if (lo < hi) block(ctx, (int)lo, (int)hi, 0, N);
        } else {
            ng_thread_share((size_t)N, (size_t)nr, &lo, &hi);
            if (lo < hi) block(ctx, 0, M, (int)lo, (int)hi);
        }
    }
}

typedef struct {
    int trans_a, trans_b, K, lda, ldb, ldc, accumulate;
    const float *A, *B;
    float *Cm;
} SgemmArgs;

static void sgemm_part(void *ctx, int m0, int m1, int n0, int n1) {
    const SgemmArgs *g = ctx;
    sgemm_block(g->trans_a, g->trans_b, m0, m1, n0, n1, g->K, g->A, g->lda, g->B, g->ldb, g->Cm, g->ldc, g->accumulate);
}

void ng_sgemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
           float *Cm, int ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate) for (int i = 0; i < M; i++) memset(Cm + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
    if (M < MR) { sgemm_small_m(trans_a, trans_b, M, N, K, A, lda, B, ldb, Cm, ldc, accumulate); return; }
    SgemmArgs g = {trans_a, trans_b, K, lda, ldb, ldc, accumulate, A, B, Cm};
    ng_gemm_split(M, N, K, MR, NR, sgemm_part, &g);
}

/* ---- small products, no packing ---- */

#define SM_MR 6
/* rows x 32 columns at (i0, j0): registers hold the tile, B rows are read in place */
static inline void small_tile(int rows, int K, const float *A, size_t a_row, size_t a_col, const float *B, size_t ldb,
                              float *Cm, size_t ldc, int accumulate) {
    vec acc[SM_MR][NR / VW];
#pragma GCC unroll 8
    for (int i = 0; i < SM_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NR / VW; v++) acc[i][v] = (vec){0};
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * ldb;
        vec bv[NR / VW];
#pragma GCC unroll 4
        for (int v = 0; v < NR / VW; v++) bv[v] = *(const vec_u *)(b + v * VW);
#pragma GCC unroll 8
        for (int i = 0; i < SM_MR; i++) {
            if (i >= rows) break;
            float a = A[(size_t)i * a_row + (size_t)k * a_col];
#pragma GCC unroll 4
            for (int v = 0; v < NR / VW; v++) acc[i][v] += a * bv[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < SM_MR; i++) {
        if (i >= rows) break;
        vec_u *c = (vec_u *)(Cm + (size_t)i * ldc);
#pragma GCC unroll 4
        for (int v = 0; v < NR / VW; v++) c[v] = accumulate ? c[v] + acc[i][v] : acc[i][v];
    }
}

void ng_sgemm_small(int M, int N, int K, const float *A, size_t a_row, size_t a_col, const float *B, size_t ldb,
                 float *Cm, size_t ldc, int accumulate) {
    int nfull = N - N % NR;
    for (int i0 = 0; i0 < M; i0 += SM_MR) {
        int rows = M - i0 < SM_MR ? M - i0 : SM_MR;
        const float *Ai = A + (size_t)i0 * a_row;
        for (int j0 = 0; j0 < nfull; j0 += NR)
            small_tile(rows, K, Ai, a_row, a_col, B + j0, ldb, Cm + (size_t)i0 * ldc + j0, ldc, accumulate);
    }
    if (nfull == N) return;
    /* the last N % NR columns: one row at a time, vectorised over the columns */
    int w = N - nfull;
    for (int i = 0; i < M; i++) {
        float acc[NR] = {0};
        for (int k = 0; k < K; k++) {
            float a = A[(size_t)i * a_row + (size_t)k * a_col];
            const float *b = B + (size_t)k * ldb + nfull;
            for (int j = 0; j < w; j++) acc[j] += a * b[j];
        }
        float *c = Cm + (size_t)i * ldc + nfull;
        for (int j = 0; j < w; j++) c[j] = accumulate ? c[j] + acc[j] : acc[j];
    }
}

/* out[n] += b for rows [lo, hi) */
static void add_bias_rows(size_t lo, size_t hi, float *out, const float *b, int OC) {
    for (size_t n = lo; n < hi; n++) {
        float *o = out + n * OC;
        #pragma omp simd
        for (int j = 0; j < OC; j++) o[j] += b[j];
    }
}

/* db[j] += sum_n dout[n][j] for columns [lo, hi), rows in order */
static void bias_grad_cols(size_t lo, size_t hi, float *db, const float *dout, int N, int OC) {
    for (int n = 0; n < N; n++) {
        const float *d = dout + (size_t)n * OC;
        #pragma omp simd
        for (size_t j = lo; j < hi; j++) db[j] += d[j];
    }
}

/* out(N,OC) = inp(N,C) @ w(OC,C)^T + b: fp32, or bf16 operands from wb's packed copy */
void ng_matmul_forward(float *out, const float *inp, const float *w, const NgWeightBf16 *wb, const float *b, int N, int C, int OC) {
    if (wb) ng_gemm_bf16(0, N, OC, C, inp, C, wb->fwd, out, OC, 0);
    else ng_sgemm(0, 1, N, OC, C, inp, C, w, C, out, OC, 0);
    if (b) NG_PARALLEL_RANGE((size_t)N, 1, N >= 32, add_bias_rows(lo, hi, out, b, OC));
}

/* ---- rows against weight rows: batched decoding ---- */

/* the lanes of v added pairwise (a fixed order) */
static inline float lane_sum(vec v) {
    float s[VW];
    memcpy(s, &v, sizeof s);
    for (int w = VW / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0];
}

/* out(i..i+ni, j) = inp rows i..i+ni-1 . w row j (ni <= 4, a constant where it is inlined).
 * Every dot product is summed the same way whatever the tile holds: VW-lane partial sums along
 * k, lane_sum, then the K % VW tail in order; so a row's result never depends on M, the tile or
 * the thread split. */
static inline __attribute__((always_inline)) void rows_tile(int ni, int i, size_t j, int K, const float *A,
                                                            const float *W, float *out, int ldo) {
    int kv = K - K % VW;
    const float *y = W + j * (size_t)K;
    vec acc[4];
#pragma GCC unroll 4
    for (int a = 0; a < ni; a++) acc[a] = (vec){0};
    for (int k = 0; k < kv; k += VW) {
        vec wv = *(const vec_u *)(y + k);
#pragma GCC unroll 4
        for (int a = 0; a < ni; a++) acc[a] += *(const vec_u *)(A + (size_t)(i + a) * K + k) * wv;
    }
    for (int a = 0; a < ni; a++) {
        const float *x = A + (size_t)(i + a) * K;
        float sum = lane_sum(acc[a]);
        for (int k = kv; k < K; k++) sum += x[k] * y[k];
        out[(size_t)(i + a) * ldo + j] = sum;
    }
}

/* rows [0, M) against weight rows [j0, j1): each weight row streamed once, in order, and used
 * for the rows 4 at a time (the rows stay in L1/L2) */
static void rows_dot(size_t j0, size_t j1, int M, int K, const float *A, const float *W, float *out, int ldo) {
    for (size_t j = j0; j < j1; j++)
        for (int i = 0; i < M; i += 4) switch (M - i < 4 ? M - i : 4) {
            case 4: rows_tile(4, i, j, K, A, W, out, ldo); break;
            case 3: rows_tile(3, i, j, K, A, W, out, ldo); break;
            case 2: rows_tile(2, i, j, K, A, W, out, ldo); break;
            default: rows_tile(1, i, j, K, A, W, out, ldo); break;
        }
}

/* out(N,OC) = inp(N,C) @ w(OC,C)^T + b with every row computed as it would be alone (N = 1),
 * whatever N: batched decoding reads each weight row once for all N sequences and still gives
 * each sequence bitwise the logits it gets decoded on its own. */
void ng_matmul_forward_rows(float *out, const float *inp, const float *w, const NgWeightBf16 *wb, const float *b, int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (wb) ng_gemm_bf16_rows(N, OC, C, inp, C, wb->fwd, out, OC);
    else NG_PARALLEL_RANGE((size_t)OC, 4, (double)N * OC * C >= 65536.0 * 4, rows_dot(lo, hi, N, C, inp, w, out, OC));
    if (b) NG_PARALLEL_RANGE((size_t)N, 1, N >= 32, add_bias_rows(lo, hi, out, b, OC));
}

/* dinp(N,C) = dout(N,OC) @ w(OC,C); dw(OC,C) += dout^T @ inp; db(OC) += sum_n dout */
/* dinp(N,C) = dout(N,OC) @ w(OC,C); dw(OC,C) += dout^T @ inp; db(OC) += sum_n dout. With wb
 * both products take bf16 operands: w from wb's packed copy, inp packed here for dw. */
void ng_matmul_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                     const NgWeightBf16 *wb, int N, int C, int OC) {
    if (wb) {
        if (dinp) ng_gemm_bf16(0, N, C, OC, dout, OC, wb->bwd, dinp, C, 0);
        if (dw) {
            uint32_t *inp_packed = (uint32_t *)ng_scratch(NG_SCRATCH_BF16_B, ng_bf16_packed_words(N, C));
            if (inp_packed) {                      /* else out of memory: see ng_kernel_failures */
                ng_bf16_pack_b(inp_packed, 0, N, C, inp, C);
                ng_gemm_bf16(1, OC, C, N, dout, OC, inp_packed, dw, C, 1);
            }
        }
    } else {
        if (dinp) ng_sgemm(0, 0, N, C, OC, dout, OC, w, C, dinp, C, 0);
        if (dw) ng_sgemm(1, 0, OC, C, N, dout, OC, inp, C, dw, C, 1);
    }
    if (db) NG_PARALLEL_RANGE((size_t)OC, 16, OC >= 64, bias_grad_cols(lo, hi, db, dout, N, OC));
}
