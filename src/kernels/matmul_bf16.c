/* matmul_bf16.c -- the bf16 product under dtype=bfloat16: C(M,N) (+)= op(A)(M,K) @ B(K,N) with
 * both operands rounded to bfloat16 (8 bits of mantissa) and every sum in float32.
 *
 * The AVX512_BF16 instruction vdpbf16ps multiplies 16 pairs of bf16 values and adds both
 * products of each pair to one float32 lane, so both operands come in pairs along K:
 *   B is packed once (a weight: once per optimizer step, by the model) into strips of NR = 32
 *     columns, each strip K/2 words per column, word (p, j) = (B(2p, j), B(2p+1, j));
 *   A is rounded to bf16 pairs on the way in, one copy per call (rows of pairs, or pairs of
 *     rows when A is transposed), which the threads then read in place.
 * A micro-kernel keeps an MR x NR tile of C in 2*MR vector registers: per pair of k, two
 * words-vectors of the B strip and, for each row, one word of A broadcast. Blocking (KC2 pairs
 * of k, MC rows, NC columns) and the split among threads are those of the fp32 sgemm
 * (ng_gemm_split in matmul.c). Every element of C is summed by one thread in one fixed order.
 *
 * CPUs without AVX512_BF16 (and builds for them) run a portable micro-kernel on the same
 * packed operands: each pair's two products (exact in float32: 8 x 8 bits of mantissa) are
 * added as two fused multiply-adds, high half first, which is the arithmetic vdpbf16ps
 * specifies (its inputs are never subnormal: the rounding flushes them).
 */
#include "kernels/kernels.h"
#include <string.h>

#define NR NG_BF16_NR                /* columns of a packed strip (32): two 16-lane vectors */
#define MR 8                         /* rows of the register tile */
#define KC2 256                      /* pairs of k per block at most (512 values of k) */
#define MC 96                        /* multiple of MR */
#define NC 1536                      /* multiple of NR */

int ng_bf16_generic = 0;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "kernels/transpose16.h"
#define HAVE_NATIVE 1
#define NATIVE_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
int ng_bf16_native(void) {
    if (ng_bf16_generic) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}

/* AMX (tdpbf16ps: a 16 x 32 bf16 tile times a 16-pair x 16 tile into 16 x 16 fp32 sums per
 * instruction) where the CPU has AMX_TILE and AMX_BF16 and Linux grants this process the
 * tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, asked once, for every thread) */
#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))
#if defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define HAVE_AMX 1
static int amx_granted(void) {
    static int state;                              /* 0 not asked yet, 1 granted, -1 not */
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (!s) {
        unsigned a, b, c, d;
        s = -1;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1) && (d >> 24 & 1) &&
            syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0)
            s = 1;
        __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    }
    return s > 0;
}
#endif
#else
int ng_bf16_native(void) { return 0; }
#endif

int ng_bf16_no_amx = 0;
int ng_bf16_amx(void) {
#ifdef HAVE_AMX
    return !ng_bf16_no_amx && ng_bf16_native() && amx_granted();
#else
    return 0;
#endif
}

static inline int imin(int a, int b) { return a < b ? a : b; }

/* ---- rounding and packing ----
 * Every conversion goes through round_run (n values in order) or pair_run (two rows
 * interleaved into words). Where the CPU has AVX512_BF16, vcvtne2ps2bf16 rounds 32 values per
 * instruction with exactly ng_bf16_from_f32's rule (nearest even, NaN made quiet with the same
 * bits, subnormal inputs to signed zero, whatever MXCSR says); elsewhere the portable loops
 * below (the compiler vectorises them). The two give the same bits (test_bf16). */

static void round_run_generic(uint16_t *restrict h, const float *restrict src, size_t n) {
    for (size_t k = 0; k < n; k++) h[k] = ng_bf16_from_f32(src[k]);
}

/* d[j] = (r0[j], r1[j]) for j < n (r1 NULL: high halves 0); stream: d is written once and
 * read much later (a weight's packing), so whole aligned lines may bypass the cache */
static void pair_run_generic(uint32_t *restrict d, const float *restrict r0, const float *restrict r1, size_t n, int stream) {
    if (r1)
        for (size_t j = 0; j < n; j++) d[j] = (uint32_t)ng_bf16_from_f32(r0[j]) | (uint32_t)ng_bf16_from_f32(r1[j]) << 16;
    else
        for (size_t j = 0; j < n; j++) d[j] = ng_bf16_from_f32(r0[j]);
}

#ifdef HAVE_NATIVE
NATIVE_TARGET static void round_run_native(uint16_t *restrict h, const float *restrict src, size_t n) {
    size_t k = 0;
    for (; k + 32 <= n; k += 32)
        _mm512_storeu_si512(h + k, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k)));
    if (k < n) {                                   /* the last 1..31 values, masked */
        size_t r = n - k;
        __mmask16 m0 = (__mmask16)(r >= 16 ? 0xffffu : (1u << r) - 1u);
        __mmask16 m1 = (__mmask16)(r <= 16 ? 0u : (1u << (r - 16)) - 1u);
        __m512 lo = _mm512_maskz_loadu_ps(m0, src + k), hi = _mm512_maskz_loadu_ps(m1, src + k + 16);
        __mmask32 m = (__mmask32)(r >= 32 ? 0xffffffffu : (1u << r) - 1u);
        _mm512_mask_storeu_epi16(h + k, m, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

/* word j of 16: bf16 j (row 0) low, bf16 16 + j (row 1) high */
NATIVE_TARGET static inline __m512i interleave_words(__m512 r0, __m512 r1) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(r1, r0));
}

/* 16 words at d: a non-temporal store when asked and d is a whole line */
NATIVE_TARGET static inline void store_words(uint32_t *d, __m512i w, int stream) {
    if (stream && !((uintptr_t)d & 63)) _mm512_stream_si512((void *)d, w);
    else _mm512_storeu_si512(d, w);
}

NATIVE_TARGET static void pair_run_native(uint32_t *restrict d, const float *restrict r0, const float *restrict r1, size_t n,
                                          int stream) {
    size_t j = 0;
    if (!r1) {
        for (; j + 16 <= n; j += 16)
            store_words(d + j, _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(r0 + j))), stream);
    } else {
        for (; j + 16 <= n; j += 16)
            store_words(d + j, interleave_words(_mm512_loadu_ps(r0 + j), _mm512_loadu_ps(r1 + j)), stream);
    }
    if (j < n) {
        __mmask16 m = (__mmask16)((1u << (n - j)) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(m, r0 + j), b = r1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
        __m512i w = r1 ? interleave_words(a, b) : _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a));
        _mm512_mask_storeu_epi32(d + j, m, w);
    }
}
#endif

/* the conversion of this call: native where the CPU has it (and ng_bf16_generic is not set) */
typedef struct {
    void (*round_run)(uint16_t *restrict, const float *restrict, size_t);
    void (*pair_run)(uint32_t *restrict, const float *restrict, const float *restrict, size_t, int);
} Rounding;

static Rounding rounding(void) {
#ifdef HAVE_NATIVE
    if (ng_bf16_native()) return (Rounding){round_run_native, pair_run_native};
#endif
    return (Rounding){round_run_generic, pair_run_generic};
}

void ng_bf16_round(uint16_t *dst, const float *src, size_t n) { rounding().round_run(dst, src, n); }

/* d[p] = (src[2p], src[2p+1]) for p < K/2 (rounded up: the last high half is 0 for odd K).
 * Little-endian words: the pairs are the K values rounded in order, 16 bits each. */
static void row_words(const Rounding *rd, uint32_t *restrict d, const float *restrict src, int K) {
    uint16_t *h = (uint16_t *)d;
    rd->round_run(h, src, (size_t)K);
    if (K & 1) h[K] = 0;
}

/* d[j] = (r0[j], r1[j]) for j < n (r1 NULL: high halves 0), then zeros up to n_pad */
static void pair_words(const Rounding *rd, uint32_t *restrict d, const float *restrict r0, const float *restrict r1, int n,
                       int n_pad, int stream) {
    rd->pair_run(d, r0, r1, (size_t)n, stream);
    for (int j = n; j < n_pad; j++) d[j] = 0;
}

size_t ng_bf16_packed_words(int K, int N) {
    return (size_t)((N + NR - 1) / NR) * (size_t)((K + 1) / 2) * NR;
}

/* the 2-D forms for attention's tiles: one dispatch per tile, the row loop compiled for each
 * kernel (a tile's rows are short: per-row calls would cost more than the rounding) */
#define WORDS_2D(SUFFIX, TARGET, ROUND_RUN, PAIR_RUN)                                                             \
    TARGET static void words_rows_##SUFFIX(uint32_t *d, size_t ldd, const float *src, size_t lds, int rows, int K) { \
        for (int r = 0; r < rows; r++) {                                                                         \
            uint16_t *h = (uint16_t *)(d + (size_t)r * ldd);                                                     \
            ROUND_RUN(h, src + (size_t)r * lds, (size_t)K);                                                      \
            if (K & 1) h[K] = 0;                                                                                 \
        }                                                                                                        \
    }                                                                                                            \
    TARGET static void words_pairs_##SUFFIX(uint32_t *d, size_t ldd, const float *src, size_t lds, int rows, int n) { \
        for (int p = 0; 2 * p < rows; p++)                                                                       \
            PAIR_RUN(d + (size_t)p * ldd, src + (size_t)2 * p * lds,                                             \
                     2 * p + 1 < rows ? src + (size_t)(2 * p + 1) * lds : NULL, (size_t)n, 0);                   \
    }
WORDS_2D(generic, , round_run_generic, pair_run_generic)
#ifdef HAVE_NATIVE
WORDS_2D(native, NATIVE_TARGET, round_run_native, pair_run_native)
#endif

void ng_bf16_words_rows(uint32_t *d, size_t ldd, const float *src, size_t lds, int rows, int K) {
#ifdef HAVE_NATIVE
    if (ng_bf16_native()) { words_rows_native(d, ldd, src, lds, rows, K); return; }
#endif
    words_rows_generic(d, ldd, src, lds, rows, K);
}

void ng_bf16_words_pairs(uint32_t *d, size_t ldd, const float *src, size_t lds, int rows, int n) {
#ifdef HAVE_NATIVE
    if (ng_bf16_native()) { words_pairs_native(d, ldd, src, lds, rows, n); return; }
#endif
    words_pairs_generic(d, ldd, src, lds, rows, n);
}

/* a packing of B this large is a weight's, written once per optimizer step and next read from
 * memory: its whole lines are stored non-temporally (no read for ownership, no cache evicted) */
static inline int streamed(int K, int N) { return (size_t)K * N >= ((size_t)1 << 19); }

/* non-temporal stores are ordered only by a fence: each packing call ends with one */
static inline void store_fence(void) {
#ifdef HAVE_NATIVE
    _mm_sfence();
#endif
}

/* op(B) not transposed: pairs of rows [lo, hi) into every strip (rows read in order) */
static void pack_b_pairs(size_t lo, size_t hi, uint32_t *dst, int K, int N, const float *B, int ldb) {
    size_t K2 = (size_t)(K + 1) / 2;
    Rounding rd = rounding();
    int stream = streamed(K, N);
    for (size_t p = lo; p < hi; p++) {
        const float *r0 = B + 2 * p * ldb, *r1 = (int)(2 * p + 1) < K ? r0 + ldb : NULL;
        for (int j0 = 0; j0 < N; j0 += NR)
            pair_words(&rd, dst + (size_t)(j0 / NR) * K2 * NR + p * NR, r0 + j0, r1 ? r1 + j0 : NULL, imin(NR, N - j0), NR,
                       stream);
    }
}

/* op(B) transposed: strips [s0, s1); column j of op(B) is row j of B, its pairs neighbours:
 * 32 rows are rounded into words, then the (32 x K2) words transposed into the (K2 x 32) strip */
static void pack_bt_strips_generic(size_t s0, size_t s1, uint32_t *dst, int K, int N, const float *B, int ldb) {
    int K2 = (K + 1) / 2;
    uint32_t *t = (uint32_t *)ng_scratch(NG_SCRATCH_BF16_T, (size_t)NR * K2);
    if (!t) return;                                /* out of memory: see ng_kernel_failures */
    Rounding rd = rounding();
    for (size_t s = s0; s < s1; s++) {
        int j0 = (int)s * NR, cols = imin(NR, N - j0);
        for (int jj = 0; jj < NR; jj++) {
            if (jj < cols) row_words(&rd, t + (size_t)jj * K2, B + (size_t)(j0 + jj) * ldb, K);
            else memset(t + (size_t)jj * K2, 0, sizeof(uint32_t) * K2);
        }
        ng_transpose((float *)(dst + s * (size_t)K2 * NR), NR, (const float *)t, (size_t)K2, NR, K2);
    }
}

#ifdef HAVE_NATIVE
/* pack_bt_strips in registers: per 16 columns of op(B) (16 rows of B) and 32 values of k, each
 * row rounded into 16 words (pairs of k in order) by one vcvtne2ps2bf16, the 16 x 16 words
 * transposed, and each pair's 16 words stored into the strip (rows past N and k past K read as
 * zero, as the packing wants) */
NATIVE_TARGET static void pack_bt_strips_native(size_t s0, size_t s1, uint32_t *dst, int K, int N, const float *B, int ldb) {
    int K2 = (K + 1) / 2, stream = streamed(K, N);
    for (size_t s = s0; s < s1; s++) {
        int j0 = (int)s * NR, cols = imin(NR, N - j0);
        uint32_t *d = dst + s * (size_t)K2 * NR;
        for (int h = 0; h < NR; h += 16)
            for (int k = 0; k < K; k += 32) {
                int rem = K - k;
                __mmask16 m0 = (__mmask16)(rem >= 16 ? 0xffffu : (1u << rem) - 1u);
                __mmask16 m1 = (__mmask16)(rem >= 32 ? 0xffffu : rem <= 16 ? 0u : (1u << (rem - 16)) - 1u);
                __m512 r[16];
                for (int i = 0; i < 16; i++) {
                    if (h + i >= cols) { r[i] = _mm512_setzero_ps(); continue; }
                    const float *row = B + (size_t)(j0 + h + i) * ldb + k;
                    r[i] = (__m512)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, row + 16), _mm512_maskz_loadu_ps(m0, row));
                }
                ng_transpose16_regs(r);
                int pairs = imin(16, K2 - k / 2);
                for (int q = 0; q < pairs; q++) store_words(d + (size_t)(k / 2 + q) * NR + h, (__m512i)r[q], stream);
            }
    }
}
#endif

static void pack_bt_strips(size_t s0, size_t s1, uint32_t *dst, int K, int N, const float *B, int ldb) {
#ifdef HAVE_NATIVE
    if (ng_bf16_native()) { pack_bt_strips_native(s0, s1, dst, K, N, B, ldb); return; }
#endif
    pack_bt_strips_generic(s0, s1, dst, K, N, B, ldb);
}

void ng_bf16_pack_b_part(uint32_t *dst, int trans_b, int K, int N, const float *B, int ldb, size_t lo, size_t hi) {
    if (trans_b) pack_bt_strips(lo, hi, dst, K, N, B, ldb);
    else pack_b_pairs(lo, hi, dst, K, N, B, ldb);
    store_fence();
}

void ng_bf16_pack_b(uint32_t *dst, int trans_b, int K, int N, const float *B, int ldb) {
    size_t strips = (size_t)(N + NR - 1) / NR, pairs = (size_t)(K + 1) / 2;
    int worth = (double)K * N >= 65536.0;
    if (trans_b) NG_PARALLEL_RANGE(strips, 1, worth && strips >= 2, pack_bt_strips(lo, hi, dst, K, N, B, ldb); store_fence());
    else NG_PARALLEL_RANGE(pairs, 1, worth, pack_b_pairs(lo, hi, dst, K, N, B, ldb); store_fence());
}

/* rows [lo, hi) of op(A) as rows of pairs, a[i*K2 + p] (rows past M zero) */
static void pack_a_rows(size_t lo, size_t hi, uint32_t *a, int M, int K, const float *A, int lda) {
    size_t K2 = (size_t)(K + 1) / 2;
    Rounding rd = rounding();
    for (size_t i = lo; i < hi; i++) {
        if ((int)i < M) row_words(&rd, a + i * K2, A + i * lda, K);
        else memset(a + i * K2, 0, sizeof(uint32_t) * K2);
    }
}

/* pairs [lo, hi) of op(A) = A^T from pairs of rows of A, in panels of MR rows: word (i, p) at
 * a[(i / MR) * K2 * MR + p * MR + i % MR] (rows past M zero), so that a tile reads one
 * contiguous stream (a row of A^T is a column of A: its pairs are far apart) */
static void pack_a_pairs(size_t lo, size_t hi, uint32_t *a, int M, int Mp, int K, const float *A, int lda) {
    size_t K2 = (size_t)(K + 1) / 2;
    enum { PB = 16 };                /* pairs per pass: then each panel gets PB * MR words (8 lines) in a row */
    uint32_t *t = (uint32_t *)ng_scratch(NG_SCRATCH_BF16_T, (size_t)PB * Mp);
    if (!t) return;                                /* out of memory: see ng_kernel_failures */
    Rounding rd = rounding();
    for (size_t p0 = lo; p0 < hi; p0 += PB) {
        size_t np = hi - p0 < PB ? hi - p0 : PB;
        for (size_t q = 0; q < np; q++) {          /* PB pairs of rows into t (vector loops) */
            const float *r0 = A + 2 * (p0 + q) * lda, *r1 = (int)(2 * (p0 + q) + 1) < K ? r0 + lda : NULL;
            pair_words(&rd, t + q * Mp, r0, r1, M, Mp, 0);
        }
        for (int i0 = 0; i0 < Mp; i0 += MR) {      /* then each panel's PB x MR words */
            uint32_t *d = a + (size_t)i0 * K2 + p0 * MR;
            for (size_t q = 0; q < np; q++) memcpy(d + q * MR, t + q * Mp + i0, sizeof(uint32_t) * MR);
        }
    }
}

/* ---- micro-kernels: C(rows, cols) (+)= a (R x kc2 words, word (i, p) at a[i*a_row + p*a_col])
 * @ b (kc2 x NR words); R is a constant after inlining (MR, or fewer for a last strip) ---- */

/* C tile from the accumulators (vectors of 16 floats at acc[i*NR + v*16]) */
static inline void store_tile(const float *acc, int rows, int cols, float *restrict c, int ldc, int overwrite) {
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        const float *t = acc + i * NR;
        if (overwrite) for (int j = 0; j < cols; j++) ci[j] = t[j];
        else for (int j = 0; j < cols; j++) ci[j] += t[j];
    }
}

typedef float vf __attribute__((vector_size(64), aligned(64)));
typedef float vf_u __attribute__((vector_size(64), aligned(4)));
typedef uint32_t vu __attribute__((vector_size(64), aligned(64)));
typedef uint32_t vu_u __attribute__((vector_size(64), aligned(4)));   /* packed B need not be aligned */

static inline __attribute__((always_inline)) void mk_generic(const int R, int kc2, const uint32_t *restrict a, size_t a_row,
                                                             size_t a_col, const uint32_t *restrict b, float *restrict c,
                                                             int ldc, int rows, int cols, int overwrite) {
    vf acc[MR][2];
    for (int i = 0; i < R; i++) { acc[i][0] = (vf){0}; acc[i][1] = (vf){0}; }
    for (int p = 0; p < kc2; p++) {
        vu w0 = *(const vu_u *)(b + (size_t)p * NR), w1 = *(const vu_u *)(b + (size_t)p * NR + 16);
        vf lo0 = (vf)(w0 << 16), hi0 = (vf)(w0 & 0xffff0000u), lo1 = (vf)(w1 << 16), hi1 = (vf)(w1 & 0xffff0000u);
        for (int i = 0; i < R; i++) {
            uint32_t wa = a[(size_t)p * a_col + (size_t)i * a_row];
            float alo = ng_bf16_to_f32_bits((uint16_t)wa), ahi = ng_bf16_to_f32_bits((uint16_t)(wa >> 16));
            acc[i][0] += ahi * hi0;            /* two roundings (fused multiply-adds under  */
            acc[i][0] += alo * lo0;            /* -ffp-contract=fast), high half first      */
            acc[i][1] += ahi * hi1;
            acc[i][1] += alo * lo1;
        }
    }
    float t[MR * NR] __attribute__((aligned(64)));
    for (int i = 0; i < R; i++) { *(vf *)(t + i * NR) = acc[i][0]; *(vf *)(t + i * NR + 16) = acc[i][1]; }
    store_tile(t, rows, cols, c, ldc, overwrite);
}

#ifdef HAVE_NATIVE
static inline __attribute__((always_inline)) NATIVE_TARGET void mk_native(const int R, int kc2, const uint32_t *restrict a,
                                                                        size_t a_row, size_t a_col,
                                                                        const uint32_t *restrict b, float *restrict c,
                                                                        int ldc, int rows, int cols, int overwrite) {
    __m512 acc[MR][2];
    for (int i = 0; i < R; i++) { acc[i][0] = _mm512_setzero_ps(); acc[i][1] = _mm512_setzero_ps(); }
    /* the C tile (both 64-byte lines of each row) is written after the k loop: fetch it now */
    for (int i = 0; i < R; i++) {
        __builtin_prefetch(c + (size_t)i * ldc, 1, 3);
        __builtin_prefetch(c + (size_t)i * ldc + NR - 1, 1, 3);
    }
    for (int p = 0; p < kc2; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)p * NR), b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)p * NR + 16);
        for (int i = 0; i < R; i++) {
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[(size_t)p * a_col + (size_t)i * a_row]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
        }
    }
    if (rows == R && cols == NR) {
        for (int i = 0; i < R; i++) {
            float *ci = c + (size_t)i * ldc;
            if (overwrite) { _mm512_storeu_ps(ci, acc[i][0]); _mm512_storeu_ps(ci + 16, acc[i][1]); }
            else {
                _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc[i][0]));
                _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc[i][1]));
            }
        }
        return;
    }
    float t[MR * NR] __attribute__((aligned(64)));
    for (int i = 0; i < R; i++) { _mm512_store_ps(t + i * NR, acc[i][0]); _mm512_store_ps(t + i * NR + 16, acc[i][1]); }
    store_tile(t, rows, cols, c, ldc, overwrite);
}
#endif

/* ---- the blocked product on one thread: rows [m0, m1) (m0 a multiple of MR) and columns
 * [n0, n1) (n0 a multiple of NR) of C ---- */

typedef struct {
    int M, N, K, ldc, accumulate;
    int whole_k;                     /* 1: no blocking along K (rows: a few, each summed in one run) */
    const uint32_t *a;               /* op(A) as bf16 pairs */
    size_t a_row, a_col, a_panel;    /* word (i, p) at a[(i/MR)*a_panel + (i%MR)*a_row + p*a_col] */
    const uint32_t *b;               /* packed B */
    float *Cm;
} GemmArgs;

/* pairs of k per block: K2 split into equal blocks of at most KC2 (a short last block would
 * pay the C tile's load and store for little work) */
static inline int kc_block(int K2) {
    int blocks = (K2 + KC2 - 1) / KC2;
    return (K2 + blocks - 1) / blocks;
}

/* one tile of MR (or rows < MR) rows; the switch instantiates the micro-kernel per row count */
#define TILE(MK, kc2, a, b, c, rows, cols, first)                                                   \
    switch (rows) {                                                                                  \
    case 1: MK(1, kc2, a, g->a_row, g->a_col, b, c, g->ldc, 1, cols, first); break;                  \
    case 2: MK(2, kc2, a, g->a_row, g->a_col, b, c, g->ldc, 2, cols, first); break;                  \
    case 3: MK(3, kc2, a, g->a_row, g->a_col, b, c, g->ldc, 3, cols, first); break;                  \
    case 4: MK(4, kc2, a, g->a_row, g->a_col, b, c, g->ldc, 4, cols, first); break;                  \
    default: MK(MR, kc2, a, g->a_row, g->a_col, b, c, g->ldc, rows, cols, first); break;             \
    }

#define GEMM_BLOCK(MK)                                                                               \
    const GemmArgs *g = ctx;                                                                         \
    int K2 = (g->K + 1) / 2, kcb = g->whole_k ? K2 : kc_block(K2);                                   \
    for (int j0 = n0; j0 < n1; j0 += NC) {                                                           \
        int nc = imin(NC, n1 - j0);                                                                  \
        for (int p0 = 0; p0 < K2; p0 += kcb) {                                                       \
            int kc2 = imin(kcb, K2 - p0), first = p0 == 0 && !g->accumulate;                         \
            for (int i0 = m0; i0 < m1; i0 += MC) {                                                   \
                int mc = imin(MC, m1 - i0);                                                          \
                for (int s = 0; s < nc; s += NR) {                                                   \
                    int cols = imin(NR, nc - s);                                                     \
                    const uint32_t *bp = g->b + (size_t)((j0 + s) / NR) * K2 * NR + (size_t)p0 * NR; \
                    float *cs = g->Cm + (size_t)i0 * g->ldc + j0 + s;                                \
                    for (int r = 0; r < mc; r += MR) {                                               \
                        const uint32_t *ap = g->a + (size_t)((i0 + r) / MR) * g->a_panel + (size_t)p0 * g->a_col; \
                        int rows = imin(MR, mc - r);                                                 \
                        TILE(MK, kc2, ap, bp, cs + (size_t)r * g->ldc, rows, cols, first)            \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

static void gemm_block_generic(void *ctx, int m0, int m1, int n0, int n1) { GEMM_BLOCK(mk_generic) }
#ifdef HAVE_NATIVE
NATIVE_TARGET static void gemm_block_native(void *ctx, int m0, int m1, int n0, int n1) { GEMM_BLOCK(mk_native) }
#endif

/* ---- the AMX product (where ng_bf16_amx()): C tiles of 16 x 16 floats in tile registers ----
 * op(A) is rounded into tiles of 16 rows x 16 pairs (1 KiB each, a row's 16 pairs in one 64-byte
 * line), word (i, p) at a[((i / 16) * K2p / 16 + p / 16) * 256 + (i % 16) * 16 + p % 16] with
 * K2p = K2 rounded up to 16 (rows past M and pairs past K2 zero); B is the same packed strips
 * (a tile is 16 pairs of one strip's half, rows 128 bytes apart). A register block is 32 x 32
 * of C: four C tiles, two of A, two of B. Each element of C is still summed by one thread in one
 * fixed order (its K blocks in turn), so results do not depend on the thread count; the sums
 * inside tdpbf16ps are the hardware's own, so they are not bitwise those of vdpbf16ps. */
#ifdef HAVE_AMX
#define AMX_MR 32                    /* rows of a register block (two tiles), and of a block of A: 32-256 measured, 32 best */
#define AMX_KC2 256                  /* pairs of k per block at most (a multiple of 16) */

static inline size_t amx_k2p(int K) { return (size_t)((K + 1) / 2 + 15) / 16 * 16; }

/* tile rows [t0, t1) of op(A) = A (rows of A): each row's 32 values of k at a time into one line */
AMX_TARGET static void amx_pack_a_rows(size_t t0, size_t t1, uint32_t *a, int M, int K, const float *A, int lda) {
    size_t K2p = amx_k2p(K), nb = K2p / 16;
    for (size_t t = t0; t < t1; t++)
        for (int r = 0; r < 16; r++) {
            int i = (int)t * 16 + r;
            uint32_t *d = a + t * nb * 256 + (size_t)r * 16;
            for (size_t b = 0; b < nb; b++) {
                int k = (int)b * 32, rem = i < M ? K - k : 0;
                __mmask16 m0 = (__mmask16)(rem >= 16 ? 0xffffu : rem <= 0 ? 0u : (1u << rem) - 1u);
                __mmask16 m1 = (__mmask16)(rem >= 32 ? 0xffffu : rem <= 16 ? 0u : (1u << (rem - 16)) - 1u);
                const float *src = A + (size_t)(i < M ? i : 0) * lda + k;
                __m512 lo = _mm512_maskz_loadu_ps(m0, src), hi = _mm512_maskz_loadu_ps(m1, src + 16);
                _mm512_store_si512(d + b * 256, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            }
        }
}

/* pair blocks [b0, b1) of op(A) = A^T: per 16 rows of op(A) (16 columns of A) and 16 pairs of k,
 * the 16 pairs' words (each 16 rows wide) made from 32 rows of A, then transposed */
AMX_TARGET static void amx_pack_a_cols(size_t b0, size_t b1, uint32_t *a, int M, int K, const float *A, int lda) {
    size_t K2p = amx_k2p(K), nb = K2p / 16, tiles = (size_t)(M + 15) / 16;
    for (size_t b = b0; b < b1; b++)
        for (size_t t = 0; t < tiles; t++) {
            int i0 = (int)t * 16, cols = imin(16, M - i0);
            __mmask16 m = (__mmask16)(cols >= 16 ? 0xffffu : (1u << cols) - 1u);
            __m512 w[16];
            for (int q = 0; q < 16; q++) {
                int k = (int)b * 32 + 2 * q;
                __m512 r0 = k < K ? _mm512_maskz_loadu_ps(m, A + (size_t)k * lda + i0) : _mm512_setzero_ps();
                __m512 r1 = k + 1 < K ? _mm512_maskz_loadu_ps(m, A + (size_t)(k + 1) * lda + i0) : _mm512_setzero_ps();
                w[q] = (__m512)interleave_words(r0, r1);
            }
            ng_transpose16_regs(w);
            uint32_t *d = a + (t * nb + b) * 256;
            for (int r = 0; r < 16; r++) _mm512_store_si512(d + r * 16, (__m512i)w[r]);
        }
}

typedef struct __attribute__((packed, aligned(64))) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
    uint8_t reserved2[16];
} TileConfig;

/* every tile 16 rows of 64 bytes: 0-3 the C block, 4-5 A, 6-7 B */
AMX_TARGET static void amx_configure(void) {
    TileConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
}

/* C(rows, cols) (+)= a (R16 row tiles, a_step words apart) @ b (a strip at the block's first
 * pair) over `steps` tiles of 16 pairs; the last step reads btail instead when it is given
 * (the strip's last pairs, zero padded). load_c: start from C (else from zero). */
AMX_TARGET static inline __attribute__((always_inline)) void amx_block(const int R16, int steps, const uint32_t *a,
                                                                      size_t a_step, const uint32_t *b,
                                                                      const uint32_t *btail, float *c, int ldc, int rows,
                                                                      int cols, int load_c) {
    float buf[AMX_MR * NR] __attribute__((aligned(64)));
    int direct = rows == 16 * R16 && cols == NR;
    float *cc = direct ? c : buf;
    size_t ldcc = direct ? (size_t)ldc : NR, stride = ldcc * sizeof(float);
    if (load_c) {
        if (!direct) {
            memset(buf, 0, sizeof buf);
            for (int i = 0; i < rows; i++) memcpy(buf + (size_t)i * NR, c + (size_t)i * ldc, sizeof(float) * cols);
        }
        _tile_loadd(0, cc, stride);
        _tile_loadd(1, cc + 16, stride);
        if (R16 == 2) { _tile_loadd(2, cc + 16 * ldcc, stride); _tile_loadd(3, cc + 16 * ldcc + 16, stride); }
    } else {
        _tile_zero(0); _tile_zero(1);
        if (R16 == 2) { _tile_zero(2); _tile_zero(3); }
    }
    for (int t = 0; t < steps; t++) {
        const uint32_t *bp = btail && t == steps - 1 ? btail : b + (size_t)t * 16 * NR;
        _tile_loadd(4, a + (size_t)t * 256, 64);
        _tile_loadd(6, bp, NR * sizeof(uint32_t));
        _tile_loadd(7, bp + 16, NR * sizeof(uint32_t));
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (R16 == 2) {
            _tile_loadd(5, a + a_step + (size_t)t * 256, 64);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, cc, stride);
    _tile_stored(1, cc + 16, stride);
    if (R16 == 2) { _tile_stored(2, cc + 16 * ldcc, stride); _tile_stored(3, cc + 16 * ldcc + 16, stride); }
    if (!direct)
        for (int i = 0; i < rows; i++) memcpy(c + (size_t)i * ldc, buf + (size_t)i * NR, sizeof(float) * cols);
}

/* rows [m0, m1) (m0 a multiple of AMX_MR) and columns [n0, n1) (n0 a multiple of NR) of C */
AMX_TARGET static void gemm_block_amx(void *ctx, int m0, int m1, int n0, int n1) {
    const GemmArgs *g = ctx;
    int K2 = (g->K + 1) / 2, K2p = (int)amx_k2p(g->K);
    int blocks = (K2p + AMX_KC2 - 1) / AMX_KC2, kcb = ((K2p + blocks - 1) / blocks + 15) / 16 * 16;
    uint32_t btail[16 * NR] __attribute__((aligned(64)));
    amx_configure();
    for (int j0 = n0; j0 < n1; j0 += NC) {
        int nc = imin(NC, n1 - j0);
        for (int p0 = 0; p0 < K2p; p0 += kcb) {
            int kc2 = imin(kcb, K2p - p0), steps = kc2 / 16, load_c = p0 > 0 || g->accumulate;
            int last = p0 + kc2 - 16, tail = K2 - last;          /* pairs of the strip in the last step */
            for (int i0 = m0; i0 < m1; i0 += AMX_MR) {    /* one register block of rows: its A tiles stay in L1 */
                int rows = imin(AMX_MR, m1 - i0);
                const uint32_t *ap = g->a + (size_t)(i0 / 16) * K2p * 16 + (size_t)p0 * 16;
                for (int s = 0; s < nc; s += NR) {                   /* while the strips of B stream past */
                    int cols = imin(NR, nc - s);
                    const uint32_t *strip = g->b + (size_t)((j0 + s) / NR) * K2 * NR;
                    const uint32_t *bt = NULL;
                    if (tail < 16) {                               /* K2 is not a multiple of 16 */
                        memcpy(btail, strip + (size_t)last * NR, sizeof(uint32_t) * NR * tail);
                        memset(btail + (size_t)tail * NR, 0, sizeof(uint32_t) * NR * (16 - tail));
                        bt = btail;
                    }
                    float *cs = g->Cm + (size_t)i0 * g->ldc + j0 + s;
                    if (rows > 16)
                        amx_block(2, steps, ap, (size_t)K2p * 16, strip + (size_t)p0 * NR, bt, cs, g->ldc, rows, cols, load_c);
                    else
                        amx_block(1, steps, ap, 0, strip + (size_t)p0 * NR, bt, cs, g->ldc, rows, cols, load_c);
                }
            }
        }
    }
    _tile_release();
}

/* the product on AMX: op(A) rounded into tiles, then the team over blocks of C */
static void gemm_amx(int trans_a, int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float *Cm, int ldc,
                     int accumulate) {
    size_t K2p = amx_k2p(K), tiles = (size_t)(M + 15) / 16;
    uint32_t *a = (uint32_t *)ng_scratch(NG_SCRATCH_BF16_A, tiles * 16 * K2p);
    if (!a) return;                                /* out of memory: see ng_kernel_failures */
    int worth = (double)M * K >= 65536.0;
    if (!trans_a) NG_PARALLEL_RANGE(tiles, 1, worth, amx_pack_a_rows(lo, hi, a, M, K, A, lda));
    else NG_PARALLEL_RANGE(K2p / 16, 1, worth, amx_pack_a_cols(lo, hi, a, M, K, A, lda));
    GemmArgs g = {M, N, K, ldc, accumulate, 0, a, 0, 0, 0, Bp, Cm};
    ng_gemm_split(M, N, K, AMX_MR, NR, gemm_block_amx, &g);
}
#endif

static void gemm_bf16(int trans_a, int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float *Cm, int ldc,
                      int accumulate, int whole_k) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate) for (int i = 0; i < M; i++) memset(Cm + (size_t)i * ldc, 0, sizeof(float) * N);
        return;
    }
#ifdef HAVE_AMX
    if (!whole_k && M >= 16 && ng_bf16_amx()) { gemm_amx(trans_a, M, N, K, A, lda, Bp, Cm, ldc, accumulate); return; }
#endif
    int K2 = (K + 1) / 2, Mp = (M + MR - 1) / MR * MR;
    uint32_t *a = (uint32_t *)ng_scratch(NG_SCRATCH_BF16_A, (size_t)Mp * K2);
    if (!a) return;                                /* out of memory: see ng_kernel_failures */
    GemmArgs g = {M, N, K, ldc, accumulate, whole_k, a, 0, 0, (size_t)MR * K2, Bp, Cm};
    int worth = (double)M * K >= 65536.0;
    if (!trans_a) {
        g.a_row = (size_t)K2; g.a_col = 1;
        NG_PARALLEL_RANGE((size_t)Mp, 1, worth, pack_a_rows(lo, hi, a, M, K, A, lda));
    } else {
        g.a_row = 1; g.a_col = MR;
        NG_PARALLEL_RANGE((size_t)K2, 1, worth, pack_a_pairs(lo, hi, a, M, Mp, K, A, lda));
    }
    /* the tile computes MR rows even for fewer (up to 4 are specialised): count them in the
     * work that decides whether a team pays */
    NgGemmBlock block = gemm_block_generic;
#ifdef HAVE_NATIVE
    if (ng_bf16_native()) block = gemm_block_native;
#endif
    ng_gemm_split(M, N, M < MR ? K * (MR / 2) : K, MR, NR, block, &g);
}

void ng_gemm_bf16(int trans_a, int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float *Cm, int ldc,
                  int accumulate) {
    gemm_bf16(trans_a, M, N, K, A, lda, Bp, Cm, ldc, accumulate, 0);
}

void ng_gemm_bf16_rows(int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float *Cm, int ldc) {
    gemm_bf16(0, M, N, K, A, lda, Bp, Cm, ldc, 0, 1);
}

/* ---- small products on bf16 words in place (attention tiles), single-threaded:
 * C(M,N) (+)= A B over K2 pairs, word (i, p) of A at a[i*a_row + p*a_col], word (p, j) of B at
 * b[p*ldb + j]; register tiles of MR x NR, the last columns masked ---- */

/* one tile of R rows (a constant after inlining) and cols <= NR columns */
static inline __attribute__((always_inline)) void small_tile_generic(const int R, int K2, const uint32_t *a, size_t a_row,
                                                                    size_t a_col, const uint32_t *b, size_t ldb, float *c,
                                                                    size_t ldc, int cols, int accumulate) {
    float acc[MR][NR];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < cols; j++) acc[i][j] = 0.0f;
    for (int p = 0; p < K2; p++) {
        const uint32_t *bp = b + (size_t)p * ldb;
        for (int i = 0; i < R; i++) {
            uint32_t wa = a[(size_t)i * a_row + (size_t)p * a_col];
            float alo = ng_bf16_to_f32_bits((uint16_t)wa), ahi = ng_bf16_to_f32_bits((uint16_t)(wa >> 16));
            for (int j = 0; j < cols; j++) {         /* vdpbf16ps's order: high half first */
                acc[i][j] += ahi * ng_bf16_to_f32_bits((uint16_t)(bp[j] >> 16));
                acc[i][j] += alo * ng_bf16_to_f32_bits((uint16_t)bp[j]);
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < cols; j++) c[(size_t)i * ldc + j] = accumulate ? c[(size_t)i * ldc + j] + acc[i][j] : acc[i][j];
}

#ifdef HAVE_NATIVE
static inline __attribute__((always_inline)) NATIVE_TARGET void small_tile_native(const int R, int K2, const uint32_t *a,
                                                                                size_t a_row, size_t a_col, const uint32_t *b,
                                                                                size_t ldb, float *c, size_t ldc, int cols,
                                                                                int accumulate) {
    __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffffu : (1u << cols) - 1u);
    __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffffu : cols <= 16 ? 0u : (1u << (cols - 16)) - 1u);
    __m512 acc[MR][2];
    for (int i = 0; i < R; i++) { acc[i][0] = _mm512_setzero_ps(); acc[i][1] = _mm512_setzero_ps(); }
    for (int p = 0; p < K2; p++) {
        const uint32_t *bp = b + (size_t)p * ldb;
        __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi32(m0, bp), b1 = (__m512bh)_mm512_maskz_loadu_epi32(m1, bp + 16);
        for (int i = 0; i < R; i++) {
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[(size_t)i * a_row + (size_t)p * a_col]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
        }
    }
    for (int i = 0; i < R; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 v0 = acc[i][0], v1 = acc[i][1];
        if (accumulate) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), v1);
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}
#endif

#define SMALL_TILES(TILE_FN)                                                                                  \
    for (int j0 = 0; j0 < N; j0 += NR) {                                                                     \
        int cols = imin(NR, N - j0);                                                                         \
        for (int i0 = 0; i0 < M; i0 += MR) {                                                                 \
            const uint32_t *ai = a + (size_t)i0 * a_row;                                                     \
            float *ci = Cm + (size_t)i0 * ldc + j0;                                                          \
            switch (imin(MR, M - i0)) {                                                                      \
            case 1: TILE_FN(1, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            case 2: TILE_FN(2, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            case 3: TILE_FN(3, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            case 4: TILE_FN(4, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            case 5: TILE_FN(5, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            case 6: TILE_FN(6, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            case 7: TILE_FN(7, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;          \
            default: TILE_FN(MR, K2, ai, a_row, a_col, b + j0, ldb, ci, ldc, cols, accumulate); break;        \
            }                                                                                                \
        }                                                                                                    \
    }

static void small_generic(int M, int N, int K2, const uint32_t *a, size_t a_row, size_t a_col, const uint32_t *b, size_t ldb,
                          float *Cm, size_t ldc, int accumulate) {
    SMALL_TILES(small_tile_generic)
}
#ifdef HAVE_NATIVE
NATIVE_TARGET static void small_native(int M, int N, int K2, const uint32_t *a, size_t a_row, size_t a_col, const uint32_t *b,
                                       size_t ldb, float *Cm, size_t ldc, int accumulate) {
    SMALL_TILES(small_tile_native)
}
#endif

void ng_gemm_bf16_small(int M, int N, int K2, const uint32_t *a, size_t a_row, size_t a_col, const uint32_t *b, size_t ldb,
                        float *Cm, size_t ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
#ifdef HAVE_NATIVE
    if (ng_bf16_native()) { small_native(M, N, K2, a, a_row, a_col, b, ldb, Cm, ldc, accumulate); return; }
#endif
    small_generic(M, N, K2, a, a_row, a_col, b, ldb, Cm, ldc, accumulate);
}
