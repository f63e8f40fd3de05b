/* test_bf16.c -- the bfloat16 kernels (src/kernels/matmul_bf16.c) and dtype=bfloat16 model.
 *
 * Rounding: bf16 keeps 8 bits of mantissa (7 stored), so rounding to nearest has a relative
 * error of at most u = 2^-8 (half a unit in the 8th bit) for normal values; checked exactly on
 * ties, specials and random values.
 *
 * Products, on both the vdpbf16ps kernel (where the CPU has it) and the portable one, for
 * every transpose, accumulate mode, odd K, N not a multiple of 32, M below the register tile:
 *   (1) against the double sum of the bf16-ROUNDED operands: only float32 summation error,
 *       |c - sum_k bf(a) bf(b)| <= K * 2^-24 * sum_k |bf(a) bf(b)|  (recursive summation bound)
 *   (2) against the double sum of the fp32 operands: each product of two rounded operands is
 *       off by at most (1+u)^2 - 1 < 2^-7 relative, so
 *       |c - sum_k a b| <= (2^-7 + K * 2^-24) * sum_k |a b|
 *   and the result must NOT equal the fp32 sgemm bitwise (else bf16 was not used).
 * Both kernels agree within (1); one thread and several threads agree bitwise.
 * Matmul forward/backward with a packed weight: the same bound (2) on out, dinp and dw.
 * The model: loss and gradients of dtype=bfloat16 against PyTorch's bf16 autocast (see
 * test_bf16_parity below for its tolerance), and bitwise equal runs with the same inputs. */
#include "kernels/kernels.h"
#include "base/util.h"
#include "nanogpt.h"
#include "model/model.h"
#include "test.h"
#include <stdint.h>
#include <string.h>

static uint64_t rng_s = 0x2545F4914F6CDD1DULL;
static uint64_t next_rng(void) {                /* xorshift64 */
    rng_s ^= rng_s << 13; rng_s ^= rng_s >> 7; rng_s ^= rng_s << 17;
    return rng_s;
}
static float frand(void) { return (float)((double)(next_rng() >> 11) * (2.0 / 9007199254740992.0) - 1.0); }
static float *rand_buf(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}
static float bf(float x) { return ng_bf16_to_f32_bits(ng_bf16_from_f32(x)); }
static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float from_bits(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static void test_rounding(void) {
    CHECK(ng_bf16_from_f32(1.0f) == 0x3f80, "1.0 -> %#x", ng_bf16_from_f32(1.0f));
    CHECK(ng_bf16_from_f32(from_bits(0x3f808000u)) == 0x3f80, "tie rounds to even (down)");
    CHECK(ng_bf16_from_f32(from_bits(0x3f818000u)) == 0x3f82, "tie rounds to even (up)");
    CHECK(ng_bf16_from_f32(from_bits(0x3f808001u)) == 0x3f81, "above the tie rounds up");
    CHECK(ng_bf16_from_f32(from_bits(0x7f7fffffu)) == 0x7f80, "FLT_MAX rounds to +inf");
    CHECK(ng_bf16_from_f32(INFINITY) == 0x7f80 && ng_bf16_from_f32(-INFINITY) == 0xff80, "infinities");
    float nan = bf(NAN);
    CHECK(nan != nan, "NaN stays NaN");
    CHECK(ng_bf16_from_f32(from_bits(0x7f800001u)) != 0x7f80, "a NaN with a low payload does not become inf");
    CHECK(ng_bf16_from_f32(from_bits(0x00400000u)) == 0 && ng_bf16_from_f32(from_bits(0x80400000u)) == 0x8000,
          "subnormals flush to signed zero");
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        float x = frand() * 1000.0f;
        if (x == 0.0f) continue;
        ok &= fabsf(bf(x) - x) <= ldexpf(1.0f, -8) * fabsf(x);
        ok &= (bits(bf(x)) & 0xffffu) == 0;
    }
    CHECK(ok, "random values round within 2^-8 relative");
}

/* The vector conversion (vcvtne2ps2bf16 on AVX512_BF16) against ng_bf16_from_f32, bit for
 * bit: every special (signed zeros, subnormals, the normal range's ends, infinities, NaNs with
 * high and low payloads, ties to even both ways) and random bit patterns, at every length up
 * to 70 (the masked tails) and every start offset; then both packings of B and both roundings
 * of A, native against portable, bitwise. */
static void test_vector_rounding(void) {
    static const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00400000u, 0x00800000u,
                                       0x80800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u, 0x7f800000u, 0xff800000u,
                                       0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7fffffffu, 0xffffffffu, 0x7f810000u,
                                       0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f80ffffu, 0x3f7fffffu, 0x0080ffffu};
    enum { N = 8192 };                                   /* > 11 + 65 x 73, the largest B below */
    float *x = malloc(sizeof(float) * N);
    uint16_t *h = malloc(sizeof(uint16_t) * (N + 64));
    for (int i = 0; i < N; i++) {
        uint32_t u;
        if (i < (int)(sizeof special / sizeof special[0])) u = special[i];
        else u = (uint32_t)(next_rng() >> 17);
        if (i % 7 == 3) u = (u & 0xffff0000u) | 0x8000u;            /* exact ties */
        x[i] = from_bits(u);
    }
    for (int gen = 0; gen < 2; gen++) {
        ng_bf16_generic = gen;
        int ok = 1, tails = 1;
        ng_bf16_round(h, x, N);
        for (int i = 0; i < N; i++) ok &= h[i] == ng_bf16_from_f32(x[i]);
        for (int off = 0; off < 3; off++)
            for (int n = 0; n <= 70; n++) {
                for (int i = 0; i < n + 8; i++) h[i] = 0xabcd;
                ng_bf16_round(h, x + off, (size_t)n);
                for (int i = 0; i < n; i++) tails &= h[i] == ng_bf16_from_f32(x[off + i]);
                for (int i = n; i < n + 8; i++) tails &= h[i] == 0xabcd;
            }
        CHECK(ok, "ng_bf16_round (generic=%d) differs from ng_bf16_from_f32", gen);
        CHECK(tails, "ng_bf16_round (generic=%d): a short run rounds differently or writes past its end", gen);
    }
    ng_bf16_generic = 0;
    /* packings of B (both layouts) and the products' A rounding, native vs portable */
    static const int shapes[][2] = {{1, 1}, {7, 5}, {33, 47}, {64, 64}, {65, 70}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tb = 0; tb < 2; tb++) {
            int K = shapes[s][0], Nn = shapes[s][1], ld = (tb ? K : Nn) + 3;
            size_t words = ng_bf16_packed_words(K, Nn);
            uint32_t *p0 = malloc(sizeof(uint32_t) * words), *p1 = malloc(sizeof(uint32_t) * words);
            const float *B = x + 11;                                 /* specials and random bits */
            ng_bf16_generic = 1; ng_bf16_pack_b(p0, tb, K, Nn, B, ld);
            ng_bf16_generic = 0; ng_bf16_pack_b(p1, tb, K, Nn, B, ld);
            CHECK(!memcmp(p0, p1, sizeof(uint32_t) * words), "pack_b tb=%d K=%d N=%d: native and portable packings differ", tb, K, Nn);
            free(p0); free(p1);
        }
    /* a weight-sized packing (stored non-temporally on AVX512_BF16): odd K, N not a multiple of 32 */
    int K = 771, Nn = 690;
    float *W = rand_buf((size_t)K * Nn, 3);
    for (int i = 0; i < 64; i++) W[(size_t)i * 8191 % ((size_t)K * Nn)] = x[i % 24];
    for (int tb = 0; tb < 2; tb++) {
        size_t words = ng_bf16_packed_words(K, Nn);
        uint32_t *p0 = malloc(sizeof(uint32_t) * words), *p1 = ng_aligned_alloc(sizeof(uint32_t) * words, "test");
        ng_bf16_generic = 1; ng_bf16_pack_b(p0, tb, K, Nn, W, tb ? K : Nn);
        ng_bf16_generic = 0; ng_bf16_pack_b(p1, tb, K, Nn, W, tb ? K : Nn);
        CHECK(!memcmp(p0, p1, sizeof(uint32_t) * words), "pack_b tb=%d K=%d N=%d: native and portable packings differ", tb, K, Nn);
        free(p0); free(p1);
    }
    free(W);
    free(x); free(h);
}

/* Attention with its six products in bf16 against the float32 kernel (itself checked against a
 * float64 softmax and finite differences in test_kernels.c). Every product there rounds its two
 * operands (2^-8 relative each); a forward output passes through two products (q k^T, then
 * P v), a gradient through up to four (dP = dY v^T and the recomputed scores into dS, then dS
 * times k or q). Each output element is held to 4 x 2^-8 (forward) and 8 x 2^-8 (gradients) of
 * the largest magnitude of its tensor (out; dQ, dK, dV of one head set), and must not equal the
 * float32 result bitwise everywhere (else bf16 was not used). The portable kernel gives the
 * same bits as vdpbf16ps; the bf16 kernel is deterministic. Shapes cover T not a multiple of
 * the 64-query tile, odd T (a last pair with one row), odd head size, and dropout. */
static void attention_case(int B, int T, int C, int NH, float p_drop) {
    size_t N3 = (size_t)B * T * 3 * C, NO = (size_t)B * T * C, NL = (size_t)B * NH * T;
    float *qkv = rand_buf(N3, 1.5f), *dout = rand_buf(NO, 1.0f);
    float *o32 = malloc(sizeof(float) * NO), *o16 = malloc(sizeof(float) * NO), *og = malloc(sizeof(float) * NO);
    float *l32 = malloc(sizeof(float) * NL), *l16 = malloc(sizeof(float) * NL), *lg = malloc(sizeof(float) * NL);
    float *d32 = malloc(sizeof(float) * N3), *d16 = malloc(sizeof(float) * N3), *dg = malloc(sizeof(float) * N3);
    uint64_t seed = 77;
    ng_attention_forward(o32, l32, qkv, B, T, C, NH, p_drop, seed, 0);
    ng_attention_backward(d32, dout, qkv, o32, l32, B, T, C, NH, p_drop, seed, 0);
    ng_attention_forward(o16, l16, qkv, B, T, C, NH, p_drop, seed, 1);
    ng_attention_backward(d16, dout, qkv, o16, l16, B, T, C, NH, p_drop, seed, 1);
    ng_bf16_generic = 1;
    ng_attention_forward(og, lg, qkv, B, T, C, NH, p_drop, seed, 1);
    ng_attention_backward(dg, dout, qkv, og, lg, B, T, C, NH, p_drop, seed, 1);
    ng_bf16_generic = 0;
    double mo = 0, eo = 0, md[3] = {0}, ed[3] = {0};
    for (size_t i = 0; i < NO; i++) {
        mo = fmax(mo, fabs(o32[i]));
        eo = fmax(eo, fabs((double)o16[i] - o32[i]));
    }
    for (size_t i = 0; i < N3; i++) {
        int part = (int)(i % (3 * (size_t)C) / C);                 /* q, k or v */
        md[part] = fmax(md[part], fabs(d32[i]));
        ed[part] = fmax(ed[part], fabs((double)d16[i] - d32[i]));
    }
    char what[96];
    snprintf(what, sizeof what, "bf16 attention B=%d T=%d C=%d NH=%d p=%.1f", B, T, C, NH, p_drop);
    double u = ldexp(1, -8);
    CHECK(eo <= 4 * u * mo, "%s: out max|bf16 - fp32| %.3g > 4 * 2^-8 * %.3g", what, eo, mo);
    for (int k = 0; k < 3; k++)
        CHECK(ed[k] <= 8 * u * md[k], "%s: d%c max|bf16 - fp32| %.3g > 8 * 2^-8 * %.3g", what, "qkv"[k], ed[k], md[k]);
    CHECK(memcmp(o16, o32, sizeof(float) * NO) != 0 && memcmp(d16, d32, sizeof(float) * N3) != 0, "%s: equal to float32 bitwise", what);
    CHECK(!memcmp(og, o16, sizeof(float) * NO) && !memcmp(dg, d16, sizeof(float) * N3) && !memcmp(lg, l16, sizeof(float) * NL),
          "%s: the portable kernel differs from vdpbf16ps", what);
    ng_attention_forward(og, lg, qkv, B, T, C, NH, p_drop, seed, 1);
    ng_attention_backward(dg, dout, qkv, og, lg, B, T, C, NH, p_drop, seed, 1);
    CHECK(!memcmp(og, o16, sizeof(float) * NO) && !memcmp(dg, d16, sizeof(float) * N3), "%s: not deterministic", what);
    printf("  %s: out %.2g, dq %.2g, dk %.2g, dv %.2g of max (in units of 2^-8)\n", what, eo / mo / u, ed[0] / md[0] / u,
           ed[1] / md[1] / u, ed[2] / md[2] / u);
    free(qkv); free(dout); free(o32); free(o16); free(og); free(l32); free(l16); free(lg); free(d32); free(d16); free(dg);
}

static void test_attention_bf16(void) {
    attention_case(2, 8, 16, 2, 0.0f);
    attention_case(1, 64, 32, 2, 0.0f);
    attention_case(2, 100, 48, 3, 0.0f);
    attention_case(1, 77, 30, 2, 0.0f);          /* odd T, odd head size (15) */
    attention_case(2, 130, 64, 1, 0.2f);         /* dropout */
    attention_case(1, 256, 384, 6, 0.0f);        /* the W2 shape */
}

/* C (+)= op(A) op(B) through ng_bf16_pack_b + ng_gemm_bf16, checked by bounds (1) and (2) */
static void gemm_case(int ta, int tb, int M, int N, int K, int accumulate, int pad) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int lda = ac + pad, ldb = bc + pad, ldc = N + pad;
    float *A = rand_buf((size_t)ar * lda, 1), *B = rand_buf((size_t)br * ldb, 1);
    float *C0 = rand_buf((size_t)M * ldc, 1), *Cm = malloc(sizeof(float) * (size_t)M * ldc);
    float *C32 = malloc(sizeof(float) * (size_t)M * ldc), *Cgen = malloc(sizeof(float) * (size_t)M * ldc);
    float *Cvdp = malloc(sizeof(float) * (size_t)M * ldc);
    uint32_t *Bp = malloc(sizeof(uint32_t) * ng_bf16_packed_words(K, N));
    ng_bf16_pack_b(Bp, tb, K, N, B, ldb);
    /* kernel 0: the one in use (AMX where there is one); 1: portable; 2: vdpbf16ps with AMX off */
    for (int kern = 0; kern < 3; kern++) {
        float *out = kern == 0 ? Cm : kern == 1 ? Cgen : Cvdp;
        memcpy(out, C0, sizeof(float) * (size_t)M * ldc);
        ng_bf16_generic = kern == 1;
        ng_bf16_no_amx = kern == 2;
        ng_gemm_bf16(ta, M, N, K, A, lda, Bp, out, ldc, accumulate);
        ng_bf16_generic = 0;
        ng_bf16_no_amx = 0;
    }
    memcpy(C32, C0, sizeof(float) * (size_t)M * ldc);
    ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C32, ldc, accumulate);
    int ok1 = 1, ok2 = 1, okg = 1, okv = 1, pad_ok = 1, differs = 0;
    double worst1 = 0, worst2 = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double sr = accumulate ? C0[(size_t)i * ldc + j] : 0, s = sr, ar_ = fabs(sr), a_ = ar_;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                double pr = (double)bf(a) * bf(b), p = (double)a * b;
                sr += pr; ar_ += fabs(pr); s += p; a_ += fabs(p);
            }
            double c = Cm[(size_t)i * ldc + j], cg = Cgen[(size_t)i * ldc + j];
            double tol1 = (K + 1) * ldexp(1, -24) * ar_ + 1e-30, tol2 = (ldexp(1, -7) + (K + 1) * ldexp(1, -24)) * a_ + 1e-30;
            ok1 &= fabs(c - sr) <= tol1;
            okg &= fabs(cg - sr) <= tol1;
            okv &= fabs(Cvdp[(size_t)i * ldc + j] - sr) <= tol1;
            ok2 &= fabs(c - s) <= tol2;
            if (fabs(c - sr) / tol1 > worst1) worst1 = fabs(c - sr) / tol1;
            if (fabs(c - s) / tol2 > worst2) worst2 = fabs(c - s) / tol2;
            differs |= c != C32[(size_t)i * ldc + j];
        }
        for (int j = N; j < ldc; j++)
            pad_ok &= bits(Cm[(size_t)i * ldc + j]) == bits(C0[(size_t)i * ldc + j]) &&
                      bits(Cvdp[(size_t)i * ldc + j]) == bits(C0[(size_t)i * ldc + j]);
    }
    char what[160];
    snprintf(what, sizeof what, "gemm_bf16 ta=%d tb=%d M=%d N=%d K=%d acc=%d pad=%d", ta, tb, M, N, K, accumulate, pad);
    CHECK(ok1, "%s: beyond K 2^-24 sum|bf(a)bf(b)| of the rounded-operand sum (worst %.2fx)", what, worst1);
    CHECK(okg, "%s: the portable kernel is beyond the same bound", what);
    CHECK(okv, "%s: the vdpbf16ps kernel (AMX off) is beyond the same bound", what);
    CHECK(ok2, "%s: beyond (2^-7 + K 2^-24) sum|ab| of the fp32 sum (worst %.2fx)", what, worst2);
    CHECK(pad_ok, "%s: wrote outside C's N columns", what);
    CHECK(differs || K < 2, "%s: bitwise equal to the fp32 sgemm: the operands were not rounded", what);
    free(A); free(B); free(C0); free(Cm); free(C32); free(Cgen); free(Cvdp); free(Bp);
}

static void test_gemm(void) {
    static const int shapes[][3] = {{1, 1, 1}, {1, 37, 19}, {3, 64, 33}, {8, 32, 64}, {13, 70, 257}, {40, 100, 300},
                                    {97, 33, 600}, {200, 1600, 40},
                                    /* AMX's edges: one row tile, K past a block of 256 pairs, odd K, 16 < rows < 32 */
                                    {16, 32, 64}, {17, 31, 1100}, {130, 65, 513}, {48, 96, 1024}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                gemm_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], (int)((s + ta + tb) & 1), (int)(s % 3));
    printf("  vdpbf16ps kernel: %s; AMX: %s\n", ng_bf16_native() ? "yes (checked with the portable one)" : "no (portable kernel only)",
           ng_bf16_amx() ? "yes (products of 16 rows or more; checked against the same bounds)" : "no");

    /* threads: the same product on one thread and on a team is bitwise equal */
    int M = 300, N = 700, K = 500;
    float *A = rand_buf((size_t)M * K, 1), *B = rand_buf((size_t)N * K, 1);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    uint32_t *Bp = malloc(sizeof(uint32_t) * ng_bf16_packed_words(K, N));
    ng_bf16_pack_b(Bp, 1, K, N, B, K);
    int saved = ng_team_enter(1);
    ng_gemm_bf16(0, M, N, K, A, K, Bp, C1, N, 0);
    ng_team_enter(3);
    ng_gemm_bf16(0, M, N, K, A, K, Bp, C2, N, 0);
    CHECK(memcmp(C1, C2, sizeof(float) * M * N) == 0, "gemm_bf16 differs between 1 and 3 threads");
    ng_gemm_bf16(1, M, N, K, A, M, Bp, C2, N, 0);          /* op(A) = A^T (the weight gradient's form) */
    ng_team_enter(1);
    ng_gemm_bf16(1, M, N, K, A, M, Bp, C1, N, 0);
    CHECK(memcmp(C1, C2, sizeof(float) * M * N) == 0, "gemm_bf16 (A transposed) differs between 1 and 3 threads");
    ng_team_enter(3);
    ng_gemm_bf16(0, 5, N, K, A, K, Bp, C2, N, 0);          /* M < MR: split by columns */
    ng_team_enter(1);
    ng_gemm_bf16(0, 5, N, K, A, K, Bp, C1, N, 0);
    CHECK(memcmp(C1, C2, sizeof(float) * 5 * N) == 0, "gemm_bf16 (M=5) differs between 1 and 3 threads");
    ng_team_leave(saved);
    free(A); free(B); free(C1); free(C2); free(Bp);
}

/* matmul_forward/backward with a packed weight against bound (2) */
static void test_matmul_bf16(int N, int C, int OC) {
    float *inp = rand_buf((size_t)N * C, 1), *w = rand_buf((size_t)OC * C, 0.5f), *b = rand_buf(OC, 1);
    float *dout = rand_buf((size_t)N * OC, 1), *out = malloc(sizeof(float) * N * OC), *dinp = malloc(sizeof(float) * N * C);
    float *dw = calloc((size_t)OC * C, sizeof(float)), *db = calloc(OC, sizeof(float));
    uint32_t *fwd = malloc(4 * ng_bf16_packed_words(C, OC)), *bwd = malloc(4 * ng_bf16_packed_words(OC, C));
    ng_bf16_pack_b(fwd, 1, C, OC, w, C);
    ng_bf16_pack_b(bwd, 0, OC, C, w, C);
    NgWeightBf16 wb = {fwd, bwd};
    ng_matmul_forward(out, inp, w, &wb, b, N, C, OC);
    ng_matmul_backward(dinp, dw, db, dout, inp, w, &wb, N, C, OC);
    double u = ldexp(1, -7);                 /* (1 + 2^-8)^2 - 1 < 2^-7 */
    int ok_o = 1, ok_i = 1, ok_w = 1, ok_b = 1;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b[o], sa = fabs(b[o]);
            for (int k = 0; k < C; k++) { double t = (double)inp[n * C + k] * w[o * C + k]; s += t; sa += fabs(t); }
            ok_o &= fabs(out[n * OC + o] - s) <= (u + (C + 1) * ldexp(1, -24)) * sa;
        }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++) {
            double s = 0, sa = 0;
            for (int o = 0; o < OC; o++) { double t = (double)dout[n * OC + o] * w[o * C + k]; s += t; sa += fabs(t); }
            ok_i &= fabs(dinp[n * C + k] - s) <= (u + OC * ldexp(1, -24)) * sa;
        }
    for (int o = 0; o < OC; o++) {
        double sb = 0, sba = 0;
        for (int k = 0; k < C; k++) {
            double s = 0, sa = 0;
            for (int n = 0; n < N; n++) { double t = (double)dout[n * OC + o] * inp[n * C + k]; s += t; sa += fabs(t); }
            ok_w &= fabs(dw[o * C + k] - s) <= (u + N * ldexp(1, -24)) * sa;
        }
        for (int n = 0; n < N; n++) { sb += dout[n * OC + o]; sba += fabs(dout[n * OC + o]); }
        ok_b &= fabs(db[o] - sb) <= 1e-5 * sba;          /* the bias gradient stays fp32 */
    }
    CHECK(ok_o && ok_i && ok_w && ok_b, "matmul bf16 N=%d C=%d OC=%d: out %d dinp %d dw %d db %d within (2^-7 + K 2^-24) sum|ab|",
          N, C, OC, ok_o, ok_i, ok_w, ok_b);
    free(inp); free(w); free(b); free(dout); free(out); free(dinp); free(dw); free(db); free(fwd); free(bwd);
}

/* ng_gemm_bf16_rows (decoding): each row bitwise what it gives alone, for any number of rows
 * and both kernels; within the rounded-operand bound of the double sum; K long enough for the
 * blocked product to use several blocks (there its order differs) */
static void test_gemm_rows(void) {
    static const int shapes[][3] = {{13, 70, 1100}, {5, 37, 33}, {9, 96, 600}};
    for (int c = 0; c < 3; c++) {
        int M = shapes[c][0], N = shapes[c][1], K = shapes[c][2];
        float *A = rand_buf((size_t)M * K, 1), *B = rand_buf((size_t)N * K, 1);   /* B as a weight (N, K): op(B) = B^T */
        float *all = malloc(sizeof(float) * (size_t)M * N), *one = malloc(sizeof(float) * N);
        uint32_t *Bp = malloc(sizeof(uint32_t) * ng_bf16_packed_words(K, N));
        ng_bf16_pack_b(Bp, 1, K, N, B, K);
        for (int gen = 0; gen < 2; gen++) {
            ng_bf16_generic = gen;
            ng_gemm_bf16_rows(M, N, K, A, K, Bp, all, N);
            int same = 1, ok = 1;
            for (int i = 0; i < M; i++) {
                ng_gemm_bf16_rows(1, N, K, A + (size_t)i * K, K, Bp, one, N);
                same &= !memcmp(one, all + (size_t)i * N, sizeof(float) * N);
                for (int j = 0; j < N; j++) {
                    double sr = 0, ar = 0;
                    for (int k = 0; k < K; k++) {
                        double pr = (double)bf(A[(size_t)i * K + k]) * bf(B[(size_t)j * K + k]);
                        sr += pr; ar += fabs(pr);
                    }
                    ok &= fabs(all[(size_t)i * N + j] - sr) <= (K + 1) * ldexp(1, -24) * ar + 1e-30;
                }
            }
            ng_bf16_generic = 0;
            CHECK(same, "gemm_bf16_rows M=%d N=%d K=%d generic=%d: a row differs from the same row alone", M, N, K, gen);
            CHECK(ok, "gemm_bf16_rows M=%d N=%d K=%d generic=%d: beyond K 2^-24 sum|bf(a)bf(b)|", M, N, K, gen);
        }
        free(A); free(B); free(all); free(one); free(Bp);
    }
}

/* every bf16 packing of a model (forward and backward views of each weight matrix) equal */
static int copies_equal(const NgModel *a, const NgModel *b) {
    for (int i = 0; i < a->n_tensors; i++) {
        const NgWeightBf16 *wa = ng_model_weight_bf16(a, a->params + a->tensors[i].offset);
        const NgWeightBf16 *wb = ng_model_weight_bf16(b, b->params + b->tensors[i].offset);
        if (!wa != !wb) return 0;
        if (!wa) continue;
        int OC = (int)a->tensors[i].shape[0], C = (int)a->tensors[i].shape[1];
        if (memcmp(wa->fwd, wb->fwd, 4 * ng_bf16_packed_words(C, OC)) || memcmp(wa->bwd, wb->bwd, 4 * ng_bf16_packed_words(OC, C)))
            return 0;
    }
    return 1;
}

/* The bf16 optimizer step packs each block of rows right after updating it: parameters,
 * moments and both packings bitwise equal to AdamW over everything followed by a full repack
 * (the float32 step, then ng_model_bf16_refresh), for matrices whose rows are not a multiple
 * of the 32-row block (the tied 37 x 40 wte) or are (c_fc 160 x 40); and the next step's
 * loss equal too. */
static void test_fused_step(void) {
    NgModelArgs args = {.model_type = NG_MODEL_GPT, .block_size = 8, .vocab_size = 37, .n_layer = 2, .n_head = 2, .n_embd = 40, .bias = 1};
    NgModel m[2];
    for (int k = 0; k < 2; k++) {
        CHECK(ng_model_create(&m[k], &args) == 0, "create: %s", ng_errmsg());
        ng_model_init_weights(&m[k], 5);
        ng_model_set_dtype(&m[k], "bfloat16");
        m[k].training = 1;
    }
    int idx[16], tgt[16];
    for (int i = 0; i < 16; i++) { idx[i] = (i * 7 + 3) % 37; tgt[i] = (i * 11 + 1) % 37; }
    NgAdamW opt[2] = {{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f},
                      {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f}};
    float loss[2][3];
    for (int step = 0; step < 3; step++) {
        for (int k = 0; k < 2; k++) {
            ng_model_zero_grad(&m[k]);
            CHECK(ng_model_forward(&m[k], idx, tgt, 2, 8) == 0 && ng_model_backward(&m[k], 1.0f) == 0, "step: %s", ng_errmsg());
            loss[k][step] = m[k].loss;
        }
        CHECK(loss[0][step] == loss[1][step], "step %d: losses differ (%.9g vs %.9g)", step, loss[0][step], loss[1][step]);
        CHECK(ng_optimizer_step(&m[0], &opt[0], 1.0f, NULL) == 0, "fused step: %s", ng_errmsg());   /* bf16: fused */
        ng_model_set_dtype(&m[1], "float32");                                                       /* AdamW alone */
        CHECK(ng_optimizer_step(&m[1], &opt[1], 1.0f, NULL) == 0, "step: %s", ng_errmsg());
        ng_model_set_dtype(&m[1], "bfloat16");
        CHECK(ng_model_bf16_refresh(&m[1], 1) == 0, "refresh: %s", ng_errmsg());                    /* full repack */
        CHECK(!memcmp(m[0].params, m[1].params, sizeof(float) * m[0].num_params) && !memcmp(m[0].m, m[1].m, sizeof(float) * m[0].num_params) &&
              !memcmp(m[0].v, m[1].v, sizeof(float) * m[0].num_params), "step %d: fused AdamW changed the parameters or moments", step);
        CHECK(copies_equal(&m[0], &m[1]), "step %d: the fused step's bf16 copy differs from a full repack", step);
    }
    CHECK(loss[0][2] < loss[0][0], "training does not lower the loss (%.4f -> %.4f)", loss[0][0], loss[0][2]);
    for (int k = 0; k < 2; k++) ng_model_free(&m[k]);
}

int main(void) {
    test_fused_step();
    test_gemm_rows();
    test_rounding();
    test_vector_rounding();
    test_attention_bf16();
    test_gemm();
    test_matmul_bf16(37, 48, 70);
    test_matmul_bf16(130, 96, 33);
    TEST_END();
}
