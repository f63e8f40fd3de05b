/* kernels.h -- the layers of a GPT, forward and backward side by side.
 * Shapes: B batch, T time, C channels, NH heads, hs = C/NH, V vocabulary, N = B*T rows.
 * Backward functions ACCUMULATE (+=) into parameter gradients (the caller zeroes them once
 * per optimizer step) and into layernorm's dinp (the residual stream, where gradients of
 * both branches meet); every other activation gradient (matmul, attention, gelu, dropout
 * dinp) is OVERWRITTEN, so the step never has to clear those buffers. All kernels are
 * OpenMP-parallel and bitwise deterministic for a fixed thread count. */
#ifndef NG_KERNELS_H
#define NG_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static inline int ng_thread_id(void) {             /* in the current team */
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
static inline int ng_team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}
static inline int ng_max_threads(void) {            /* of a new team */
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
/* inside any parallel region, even one whose team came out as a single thread (OMP_THREAD_LIMIT,
 * OMP_DYNAMIC): kernels called there run on the calling thread without a construct of their own */
static inline int ng_in_parallel(void) {
#ifdef _OPENMP
    return omp_get_level() > 0;
#else
    return 0;
#endif
}

/* The team size the calling thread's kernels ask for (0: OpenMP's default, omp_get_max_threads).
 * Set per call by the model (NgModel.threads, see ng_team_enter), never process-wide; OpenMP may
 * still give a smaller team (OMP_THREAD_LIMIT, OMP_DYNAMIC), and every region is correct for the
 * team it actually gets. */
extern _Thread_local int ng_team_request;
static inline int ng_team_want(void) {
    return ng_team_request > 0 ? ng_team_request : ng_max_threads();
}
/* sets the request for the calling thread, returns the previous one (give it to ng_team_leave) */
static inline int ng_team_enter(int threads) { int old = ng_team_request; ng_team_request = threads; return old; }
static inline void ng_team_leave(int old) { ng_team_request = old; }

/* Inside a parallel region: the calling thread's share [*lo, *hi) of n items, contiguous and in
 * thread order; the cuts are rounded down to multiples of `align` (the last share ends at n).
 * Thread k's share depends only on k and the team size actually obtained (never the size asked
 * for), so every item is covered whatever team OpenMP gives. */
static inline void ng_thread_share(size_t n, size_t align, size_t *lo, size_t *hi) {
    size_t tid = (size_t)ng_thread_id(), nth = (size_t)ng_team_size();
    *lo = n * tid / nth / align * align;
    *hi = tid == nth - 1 ? n : n * (tid + 1) / nth / align * align;
}

/* Runs the statements after the third argument, which see `size_t lo, hi`, over [0, n): split
 * among a new team in contiguous shares (ng_thread_share, cut at multiples of align) when
 * `worth` (the work pays for a team) holds, else on the calling thread. A caller already inside
 * a parallel region (a batch shard, an attention head) never enters an OpenMP construct:
 * libgomp charges microseconds even for a region that cannot start threads. */
#define NG_PARALLEL_RANGE(n, align, worth, ...) do {                                          \
        size_t ng_n_ = (n);                                                                     \
        if (!(worth) || ng_in_parallel()) { size_t lo = 0, hi = ng_n_; __VA_ARGS__; }          \
        else {                                                                                  \
            _Pragma("omp parallel num_threads(ng_team_want())")                                 \
            { size_t lo, hi; ng_thread_share(ng_n_, (align), &lo, &hi); __VA_ARGS__; }          \
        }                                                                                       \
    } while (0)

/* token + position embedding: out(B,T,C) = wte[idx[b,t]] + wpe[t] */
void ng_encoder_forward(float *out, const int *idx, const float *wte, const float *wpe, int B, int T, int C);
void ng_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *idx, int B, int T, int C);

/* LayerNorm over the last dim (eps 1e-5): out(N,C), mean(N), rstd(N). b may be NULL (bias=False). */
void ng_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C);
void ng_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* The bf16 copy of one Linear weight w(OC,C), packed for ng_gemm_bf16 (ng_bf16_pack_b):
 * fwd = op(B) of out = inp w^T (K = C), bwd = op(B) of dinp = dout w (K = OC; NULL when only
 * inference runs). */
typedef struct { const uint32_t *fwd, *bwd; } NgWeightBf16;

/* Linear: out(N,OC) = inp(N,C) @ w(OC,C)^T + b(OC); b / db may be NULL. The backward
 * overwrites dinp (may be NULL) and accumulates dw, db. wb = NULL: fp32 products; else every
 * product takes bf16 operands (wb for w, inp/dout rounded to bf16) with fp32 sums. */
void ng_matmul_forward(float *out, const float *inp, const float *w, const NgWeightBf16 *wb, const float *b, int N, int C, int OC);
/* the same product with each row computed exactly as a lone row is (batched decoding) */
void ng_matmul_forward_rows(float *out, const float *inp, const float *w, const NgWeightBf16 *wb, const float *b, int N, int C, int OC);
void ng_matmul_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                     const NgWeightBf16 *wb, int N, int C, int OC);
/* The general product under both: C(M,N) (+)= op(A)(M,K) @ op(B)(K,N), row-major with leading
 * dims lda/ldb/ldc; op transposes when trans_* is set. accumulate=0 overwrites C. */
void ng_sgemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
           float *Cm, int ldc, int accumulate);

/* Runs block(ctx, m0, m1, n0, n1) over C(M,N) for a product with inner size K: on the calling
 * thread for small products or inside a parallel region, else split among a new team by rows
 * (cut at multiples of mr) or columns (multiples of nr), each part summed by one thread. */
typedef void (*NgGemmBlock)(void *ctx, int m0, int m1, int n0, int n1);
void ng_gemm_split(int M, int N, int K, int mr, int nr, NgGemmBlock block, void *ctx);

/* ---- bfloat16 products (matmul_bf16.c) ----
 * bf16 = the top 16 bits of a float32 (8 bits of mantissa), rounded to nearest even; values
 * below float32's normal range become (signed) zero, as the CPU's own conversion does. */
static inline uint16_t ng_bf16_from_f32(float f) {
    union { float f; uint32_t u; } x = {f};
    uint32_t u = x.u;
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);     /* NaN, kept quiet */
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);            /* zero, subnormal */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float ng_bf16_to_f32_bits(uint16_t h) {
    union { uint32_t u; float f; } x = {(uint32_t)h << 16};
    return x.f;
}
/* 1 when the CPU has AVX512_BF16 (vdpbf16ps) and ng_bf16_generic is not set: then the bf16
 * products run on it, else on a portable kernel that does the same fp32 arithmetic on the
 * same bf16 operands. */
int ng_bf16_native(void);
/* 1 when, besides, the CPU has AMX_BF16 and the OS grants the tile state (asked once): then
 * ng_gemm_bf16 with 16 rows or more runs on tdpbf16ps tiles (fp32 sums in the hardware's order,
 * not bitwise vdpbf16ps's; deterministic and the same for any thread count) */
int ng_bf16_amx(void);
extern int ng_bf16_no_amx;           /* testing: 1 keeps ng_gemm_bf16 on vdpbf16ps */
extern int ng_bf16_generic;          /* testing: 1 forces the portable kernel */
/* dst[k] = ng_bf16_from_f32(src[k]) for k < n (32 at a time on AVX512_BF16: the same bits) */
void ng_bf16_round(uint16_t *dst, const float *src, size_t n);
/* op(B)(K,N) packed for ng_gemm_bf16: strips of 32 columns, in each K/2 (rounded up) pairs of
 * rows as 32-bit words (low half row 2p, high half row 2p+1, zero past K or N). op(B)(k,j) is
 * B[k*ldb + j], or B[j*ldb + k] with trans_b. */
#define NG_BF16_NR 32                /* columns of op(B) per packed strip */
size_t ng_bf16_packed_words(int K, int N);
void ng_bf16_pack_b(uint32_t *dst, int trans_b, int K, int N, const float *B, int ldb);
/* the same, for part [lo, hi) of dst only, on the calling thread: strips of 32 columns of op(B)
 * (trans_b: rows 32 lo .. 32 hi - 1 of B), else pairs of rows of B (rows 2 lo .. 2 hi - 1) */
void ng_bf16_pack_b_part(uint32_t *dst, int trans_b, int K, int N, const float *B, int ldb, size_t lo, size_t hi);
/* C(M,N) (+)= op(A)(M,K) @ B(K,N) with op(A) rounded to bf16 on the way (A[i*lda + k], or
 * A[k*lda + i] with trans_a) and B packed by ng_bf16_pack_b; fp32 sums. */
void ng_gemm_bf16(int trans_a, int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float *Cm, int ldc,
                  int accumulate);
/* C(M,N) = A(M,K) @ B for a few rows (decoding): every element summed over all of K in one run
 * (no blocking along K), so each row's result is bitwise the same whatever M, the tile or the
 * thread split, and each weight strip is streamed once per call */
void ng_gemm_bf16_rows(int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float *Cm, int ldc);

/* bf16 words for the small products below, from `rows` rows of src (stride lds) into rows of d
 * (stride ldd words): by rows, d[r][p] = (src[r][2p], src[r][2p+1]) for p < K/2 (rounded up; an
 * odd K's last high half 0); by pairs of rows, d[p][j] = (src[2p][j], src[2p+1][j]) for j < n
 * and p < rows/2 (rounded up; for odd rows the last high halves 0) */
void ng_bf16_words_rows(uint32_t *d, size_t ldd, const float *src, size_t lds, int rows, int K);
void ng_bf16_words_pairs(uint32_t *d, size_t ldd, const float *src, size_t lds, int rows, int n);
/* C(M,N) (+)= A B on bf16 operands already in words, fp32 sums, single-threaded (attention
 * tiles): K2 pairs along the inner dimension, word (i, p) of A at a[i*a_row + p*a_col], word
 * (p, j) of B at b[p*ldb + j] */
void ng_gemm_bf16_small(int M, int N, int K2, const uint32_t *a, size_t a_row, size_t a_col, const uint32_t *b, size_t ldb,
                        float *Cm, size_t ldc, int accumulate);

/* Small products without packing, single-threaded (for attention tiles): C(M,N) (+)= A(M,K) @ B(K,N)
 * with A(i,k) = A[i*a_row + k*a_col] (any strides, so A may be transposed) and B row-major with
 * contiguous rows (ldb >= N). */
void ng_sgemm_small(int M, int N, int K, const float *A, size_t a_row, size_t a_col, const float *B, size_t ldb,
                 float *Cm, size_t ldc, int accumulate);

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (a transposed copy) */
void ng_transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols);

/* Causal self-attention on the fused qkv(B,T,3C) (q | k | v, head h at columns h*hs):
 * out(B,T,C) = softmax(q k^T / sqrt(hs), causal) (with dropout p_drop on the probabilities) @ v.
 * Saves only lse(B,NH,T), the log-sum-exp of each row; the backward recomputes the
 * probabilities, so no (T,T) matrix is kept. Dropout masks come from (seed, b, h, t, t2).
 * bf16: the products (q k^T, P v and the four of the backward) on bf16 operands with fp32
 * sums (dtype=bfloat16); softmax, lse and dropout stay float32. */
void ng_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH, float p_drop, uint64_t seed,
                          int bf16);
void ng_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                        int B, int T, int C, int NH, float p_drop, uint64_t seed, int bf16);

/* Attention of n new query rows (positions pos0..pos0+n-1, q in qkv rows of stride 3C) over
 * cached keys/values kc, vc (block, C) that already hold positions 0..pos0+n-1: out (n, C). */
void ng_attention_decode(float *out, const float *qkv, const float *kc, const float *vc, int n, int pos0, int C, int NH);

/* GELU: exact (0.5x(1+erf(x/sqrt2))) or tanh approximation */
void ng_gelu_forward(float *out, const float *inp, size_t n, int tanh_approx);
void ng_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int tanh_approx);

/* ReLU: out = max(x, 0); backward dinp = dout where x > 0, else 0 (PyTorch's gradient at 0) */
void ng_relu_forward(float *out, const float *inp, size_t n);
void ng_relu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* out = a + b (the residual stream) */
void ng_residual_forward(float *out, const float *a, const float *b, size_t n);

/* Inverted dropout: out = inp * keep / (1-p). Element i is kept when the i-th output of a
 * splitmix64 stream started at `seed` is >= p (24-bit uniform): a pure function of (seed, i),
 * so the backward and a resumed run see the same mask without storing it. out may alias inp. */
static inline uint32_t dropout_threshold(float p) { return (uint32_t)(p * 16777216.0f); }
static inline int dropout_keep_t(uint64_t seed, uint64_t i, uint32_t threshold) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 40) >= threshold;
}
static inline int dropout_keep(uint64_t seed, uint64_t i, float p) { return dropout_keep_t(seed, i, dropout_threshold(p)); }
void ng_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed);
void ng_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed);

/* Cross-entropy over logits(N,V): losses(N) (0 where target == -1); returns the mean over
 * rows whose target != -1 (0 if none). Backward takes the forward's losses, writes
 * dlogits += dloss_mean * d(mean)/dlogits, and may run in place (dlogits == logits). */
float ng_crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V);
void ng_crossentropy_backward(float *dlogits, const float *logits, const float *losses, const int *targets, int N, int V,
                           float dloss_mean);

/* A per-thread scratch buffer of at least n floats, 64-byte aligned, kept between calls so
 * the training step does not allocate (slot: which of a few independent buffers). NULL when
 * memory runs out: the kernel then skips its work and the failure is counted, for the model
 * to notice after the step (ng_kernel_failures). */
float *ng_scratch(int slot, size_t n);
/* How many scratch allocations have failed in this process so far (it only grows): a caller
 * compares it before and after a step to know that the step's results are not to be used. */
unsigned long ng_kernel_failures(void);
enum { NG_SCRATCH_GEMM_B, NG_SCRATCH_GEMM_A, NG_SCRATCH_ATTN, NG_SCRATCH_ATTN_BF16, NG_SCRATCH_LN, NG_SCRATCH_BF16_A, NG_SCRATCH_BF16_B,
       NG_SCRATCH_BF16_T, NG_SCRATCH_SLOTS };

/* AdamW (decoupled weight decay, bias-corrected, torch.optim.AdamW semantics) on n values; t >= 1.
 * The gradient used is grad * grad_scale (the clipping coefficient); with zero_grad the
 * gradient is cleared in the same pass, ready for the next step. Single-threaded: the
 * optimizer gives each thread one contiguous range of the flat parameter buffer. */
void ng_adamw_update(float *param, float *grad, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t, float grad_scale, int zero_grad);
#endif
