/* test_kernels.c -- every kernel of src/kernels/kernels.h against finite differences and
 * naive references.
 *
 * Gradient checks: for a fixed random R, L = sum(out * R) (accumulated in double); the
 * analytic gradient is the backward with dout = R. Gradients that accumulate (parameters,
 * layernorm's dinp) are run into buffers pre-filled with random values P and read back as
 * (result - P); activation gradients that are overwritten (matmul, attention, gelu, dropout
 * dinp) into buffers of NaN, which must not leak into the result. The numeric gradient is the central difference (L(x+h) - L(x-h)) / (x+h - x-h)
 * of the float32 forward, with h = 1e-3 (the perturbation actually stored in float is used
 * as the denominator). Criterion per element:
 *     |analytic - numeric| <= 1e-2 |numeric| + 2e-3 * max|numeric over the tensor|
 * The relative part covers the O(h^2) truncation of smooth kernels (~1e-6 here); the
 * absolute part covers float32 rounding of the forward, which makes L(x+h)-L(x-h) uncertain
 * by ~1e-7 * sqrt(#outputs touched) * |out| and so the numeric gradient by ~5e-5 * sqrt(k):
 * a few 1e-4 for the sizes here, against tensor maxima of O(1..10). Measured errors are
 * printed per check (as "worst ... x tol").
 *
 * Exact references (double): sgemm for all trans combinations / accumulate modes / odd
 * sizes and leading dimensions (|c - ref| <= 1e-4 * sum_k |a_ik b_kj| (+ |c0|)), the same
 * products on one thread and on several (bitwise equal: threads split rows or columns),
 * transpose (exact),
 * attention_forward against a materialised softmax (1e-5), layernorm / gelu / crossentropy /
 * dropout / encoder forwards, matmul backward at the larger size, and adamw_update against
 * torch.optim.AdamW's formula. */
#include "kernels/kernels.h"
#include "base/util.h"
#include "test.h"
#include <stdint.h>
#include <string.h>

/* ---- deterministic random numbers (own xorshift, independent of the library) ---- */
static uint64_t rng_s = 0x9E3779B97F4A7C15ULL;
static double urand(void) { /* [0,1) */
    rng_s ^= rng_s << 13; rng_s ^= rng_s >> 7; rng_s ^= rng_s << 17;
    return (double)(rng_s >> 11) * (1.0 / 9007199254740992.0);
}
static float frand(void) { return (float)(2.0 * urand() - 1.0); } /* [-1,1) */
static float nrand(void) {                                         /* N(0,1) */
    double u1 = urand(), u2 = urand();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static float *rand_buf(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * nrand();
    return p;
}
static float *zbuf(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
/* a buffer of NaN: an activation gradient the backward must overwrite without reading */
static float *nan_buf(size_t n) { float *p = malloc((n ? n : 1) * sizeof(float)); for (size_t i = 0; i < n; i++) p[i] = NAN; return p; }
static float *dup(const float *a, size_t n) { float *p = malloc((n ? n : 1) * sizeof(float)); memcpy(p, a, n * sizeof(float)); return p; }
static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---- finite differences ---- */
typedef double (*LossFn)(void *ctx);
#define FD_H 1e-3
#define FD_RTOL 1e-2
#define FD_ATOL 2e-3

/* Checks analytic[i] against the central difference of f w.r.t. x[i] for every element
 * (or every stride-th when n > max_checks, always including the last). */
static void fd_check(const char *what, LossFn f, void *ctx, float *x, size_t n, const float *analytic, size_t max_checks) {
    size_t stride = (max_checks && n > max_checks) ? (n + max_checks - 1) / max_checks : 1;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i += stride) cnt++;
    if ((n - 1) % stride) cnt++;
    size_t *at = malloc(cnt * sizeof(size_t));
    double *num = malloc(cnt * sizeof(double));
    size_t k = 0;
    for (size_t i = 0; i < n; i += stride) at[k++] = i;
    if ((n - 1) % stride) at[k++] = n - 1;
    double scale = 0;
    for (k = 0; k < cnt; k++) {
        size_t i = at[k];
        float x0 = x[i];
        float xp = x0 + (float)FD_H, xm = x0 - (float)FD_H;
        x[i] = xp; double lp = f(ctx);
        x[i] = xm; double lm = f(ctx);
        x[i] = x0;
        num[k] = (lp - lm) / ((double)xp - (double)xm);
        if (fabs(num[k]) > scale) scale = fabs(num[k]);
    }
    int bad = 0; double worst = -1; size_t wk = 0;
    for (k = 0; k < cnt; k++) {
        double a = analytic[at[k]], d = fabs(a - num[k]);
        double tol = FD_RTOL * fabs(num[k]) + FD_ATOL * scale + 1e-12;
        if (!(d <= tol)) bad++;
        if (!(d / tol <= worst)) { worst = d / tol; wk = k; }
    }
    if (bad) {
        t_fail++;
        fprintf(stderr, "FAIL %s: %d of %zu gradient elements differ from finite differences, worst [%zu] analytic %.7g numeric %.7g (max|num| %.3g)\n",
                what, bad, cnt, at[wk], analytic[at[wk]], num[wk], scale);
    } else {
        t_pass++;
    }
    printf("  %-44s %5zu elements, worst %.3f x tol (max|grad| %.3g)\n", what, cnt, worst, scale);
    free(at); free(num);
}

/* after a backward into buffers pre-filled with p: g - p, the part the backward added */
static float *added(const float *g, const float *p, size_t n) {
    float *d = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) d[i] = g[i] - p[i];
    return d;
}

/* ======================================================================================
 * encoder */
typedef struct { const int *idx; float *wte, *wpe, *out; const float *R; int B, T, C; } EncCtx;
static double enc_loss(void *p) {
    EncCtx *c = p;
    ng_encoder_forward(c->out, c->idx, c->wte, c->wpe, c->B, c->T, c->C);
    return dot_d(c->out, c->R, (size_t)c->B * c->T * c->C);
}
static void test_encoder(void) {
    int B = 3, T = 5, C = 7, V = 6;
    int idx[15];
    for (int i = 0; i < B * T; i++) idx[i] = (i * 7 + 3) % V == 4 ? 2 : (i * 7 + 3) % V; /* repeats, token 4 unused */
    EncCtx c = {idx, rand_buf((size_t)V * C, 1), rand_buf((size_t)T * C, 1), zbuf((size_t)B * T * C),
                rand_buf((size_t)B * T * C, 1), B, T, C};
    ng_encoder_forward(c.out, idx, c.wte, c.wpe, B, T, C);
    int ok = 1;
    for (int bt = 0; bt < B * T; bt++)
        for (int k = 0; k < C; k++) ok &= c.out[bt * C + k] == c.wte[idx[bt] * C + k] + c.wpe[(bt % T) * C + k];
    CHECK(ok, "encoder_forward differs from wte[idx] + wpe[t]");
    float *pw = rand_buf((size_t)V * C, 1), *pp = rand_buf((size_t)T * C, 1);
    float *dwte = dup(pw, (size_t)V * C), *dwpe = dup(pp, (size_t)T * C);
    ng_encoder_backward(dwte, dwpe, c.R, idx, B, T, C);
    float *aw = added(dwte, pw, (size_t)V * C), *ap = added(dwpe, pp, (size_t)T * C);
    fd_check("encoder dwte", enc_loss, &c, c.wte, (size_t)V * C, aw, 0);
    fd_check("encoder dwpe", enc_loss, &c, c.wpe, (size_t)T * C, ap, 0);
    ok = 1;
    for (int k = 0; k < C; k++) ok &= aw[4 * C + k] == 0.0f;
    CHECK(ok, "encoder_backward touched the row of an unused token");
    free(c.wte); free(c.wpe); free(c.out); free((void *)c.R); free(pw); free(pp); free(dwte); free(dwpe); free(aw); free(ap);
}

/* ======================================================================================
 * layernorm */
typedef struct { float *inp, *w, *b, *out, *mean, *rstd; const float *R; int N, C; } LnCtx;
static double ln_loss(void *p) {
    LnCtx *c = p;
    ng_layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C);
    return dot_d(c->out, c->R, (size_t)c->N * c->C);
}
static void test_layernorm(int N, int C, int bias) {
    char what[128];
    size_t NC = (size_t)N * C;
    LnCtx c = {rand_buf(NC, 1.5f), rand_buf(C, 0.3f), bias ? rand_buf(C, 0.5f) : NULL, zbuf(NC), zbuf(N), zbuf(N),
               rand_buf(NC, 1), N, C};
    for (int i = 0; i < C; i++) c.w[i] += 1.0f;
    for (int n = 0; n < N; n++) for (int k = 0; k < C; k++) c.inp[(size_t)n * C + k] += 0.7f * n - 1.0f; /* row offsets */
    ng_layernorm_forward(c.out, c.mean, c.rstd, c.inp, c.w, c.b, N, C);
    /* forward against double */
    int ok = 1;
    for (int n = 0; n < N; n++) {
        const float *x = c.inp + (size_t)n * C;
        double m = 0, v = 0;
        for (int k = 0; k < C; k++) m += x[k];
        m /= C;
        for (int k = 0; k < C; k++) v += (x[k] - m) * (x[k] - m);
        double r = 1.0 / sqrt(v / C + 1e-5);
        ok &= fabs(c.mean[n] - m) <= 1e-5 * (1 + fabs(m)) && fabs(c.rstd[n] - r) <= 1e-5 * r;
        for (int k = 0; k < C; k++) {
            double y = (x[k] - m) * r * c.w[k] + (bias ? c.b[k] : 0.0);
            ok &= fabs(c.out[(size_t)n * C + k] - y) <= 1e-5 * (1 + fabs(y));
        }
    }
    snprintf(what, sizeof what, "layernorm_forward N=%d C=%d bias=%d", N, C, bias);
    CHECK(ok, "%s differs from the double reference", what);

    float *pi = rand_buf(NC, 1), *pw = rand_buf(C, 1), *pb = rand_buf(C, 1);
    float *dinp = dup(pi, NC), *dw = dup(pw, C), *db = dup(pb, C);
    ng_layernorm_backward(dinp, dw, bias ? db : NULL, c.R, c.inp, c.w, c.mean, c.rstd, N, C);
    float *ai = added(dinp, pi, NC), *aw = added(dw, pw, C), *ab = added(db, pb, C);
    snprintf(what, sizeof what, "layernorm N=%d C=%d bias=%d dinp", N, C, bias);
    fd_check(what, ln_loss, &c, c.inp, NC, ai, 400);
    snprintf(what, sizeof what, "layernorm N=%d C=%d bias=%d dw", N, C, bias);
    fd_check(what, ln_loss, &c, c.w, C, aw, 0);
    if (bias) {
        snprintf(what, sizeof what, "layernorm N=%d C=%d bias=%d db", N, C, bias);
        fd_check(what, ln_loss, &c, c.b, C, ab, 0);
    } else {
        CHECK(memcmp(db, pb, C * sizeof(float)) == 0, "layernorm_backward wrote db although it was NULL?");
    }
    free(c.inp); free(c.w); free(c.b); free(c.out); free(c.mean); free(c.rstd); free((void *)c.R);
    free(pi); free(pw); free(pb); free(dinp); free(dw); free(db); free(ai); free(aw); free(ab);
}

/* rows whose variance is comparable to eps (1e-5): the output depends on eps strongly */
static void test_layernorm_small_var(void) {
    int N = 4, C = 16;
    float *x = rand_buf((size_t)N * C, 3e-3f), *w = rand_buf(C, 1), *b = rand_buf(C, 1), *o = zbuf((size_t)N * C);
    float *mean = zbuf(N), *rstd = zbuf(N);
    for (int n = 0; n < N; n++) for (int k = 0; k < C; k++) x[n * C + k] += (float)n;
    ng_layernorm_forward(o, mean, rstd, x, w, b, N, C);
    int ok = 1;
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int k = 0; k < C; k++) m += x[n * C + k];
        m /= C;
        for (int k = 0; k < C; k++) v += (x[n * C + k] - m) * (x[n * C + k] - m);
        double r = 1.0 / sqrt(v / C + 1e-5);
        for (int k = 0; k < C; k++) {
            double y = (x[n * C + k] - m) * r * w[k] + b[k];
            /* inputs near n carry ~6e-8 * n absolute rounding, amplified by rstd ~ 300 */
            ok &= fabs(o[n * C + k] - y) <= 1e-4 * (1 + fabs(y));
        }
        ok &= fabs(rstd[n] - r) <= 1e-5 * r;
    }
    CHECK(ok, "layernorm_forward with variance ~ eps differs from the double reference (eps must be 1e-5)");
    free(x); free(w); free(b); free(o); free(mean); free(rstd);
}

/* ======================================================================================
 * matmul */
typedef struct { float *inp, *w, *b, *out; const float *R; int N, C, OC; } MmCtx;
static double mm_loss(void *p) {
    MmCtx *c = p;
    ng_matmul_forward(c->out, c->inp, c->w, NULL, c->b, c->N, c->C, c->OC);
    return dot_d(c->out, c->R, (size_t)c->N * c->OC);
}
static void test_matmul(int N, int C, int OC, int bias, size_t max_checks) {
    char what[128];
    size_t NI = (size_t)N * C, NW = (size_t)OC * C, NO = (size_t)N * OC;
    MmCtx c = {rand_buf(NI, 1), rand_buf(NW, 0.5f), bias ? rand_buf(OC, 1) : NULL, zbuf(NO), rand_buf(NO, 1), N, C, OC};
    ng_matmul_forward(c.out, c.inp, c.w, NULL, c.b, N, C, OC);
    int ok = 1;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? c.b[o] : 0, sa = bias ? fabs(c.b[o]) : 0;
            for (int k = 0; k < C; k++) {
                s += (double)c.inp[(size_t)n * C + k] * c.w[(size_t)o * C + k];
                sa += fabs((double)c.inp[(size_t)n * C + k] * c.w[(size_t)o * C + k]);
            }
            ok &= fabs(c.out[(size_t)n * OC + o] - s) <= 1e-5 * sa + 1e-6;
        }
    snprintf(what, sizeof what, "matmul_forward N=%d C=%d OC=%d bias=%d", N, C, OC, bias);
    CHECK(ok, "%s differs from the double reference", what);

    /* dinp is overwritten (pre-filled with NaN, which must not leak in); dw, db accumulate */
    float *pi = zbuf(NI), *pw = rand_buf(NW, 1), *pb = rand_buf(OC, 1);
    float *dinp = nan_buf(NI), *dw = dup(pw, NW), *db = dup(pb, OC);
    ng_matmul_backward(dinp, dw, bias ? db : NULL, c.R, c.inp, c.w, NULL, N, C, OC);
    float *ai = added(dinp, pi, NI), *aw = added(dw, pw, NW), *ab = added(db, pb, OC);
    /* exact double reference for every element */
    ok = 1;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++) {
            double s = 0, sa = 0;
            for (int o = 0; o < OC; o++) { double t = (double)c.R[(size_t)n * OC + o] * c.w[(size_t)o * C + k]; s += t; sa += fabs(t); }
            ok &= fabs(ai[(size_t)n * C + k] - s) <= 1e-5 * sa + 1e-6 * (1 + fabs(pi[(size_t)n * C + k]));
        }
    for (int o = 0; o < OC; o++)
        for (int k = 0; k < C; k++) {
            double s = 0, sa = 0;
            for (int n = 0; n < N; n++) { double t = (double)c.R[(size_t)n * OC + o] * c.inp[(size_t)n * C + k]; s += t; sa += fabs(t); }
            ok &= fabs(aw[(size_t)o * C + k] - s) <= 1e-5 * sa + 1e-6 * (1 + fabs(pw[(size_t)o * C + k]));
        }
    if (bias)
        for (int o = 0; o < OC; o++) {
            double s = 0, sa = 0;
            for (int n = 0; n < N; n++) { s += c.R[(size_t)n * OC + o]; sa += fabs(c.R[(size_t)n * OC + o]); }
            ok &= fabs(ab[o] - s) <= 1e-5 * sa + 1e-6 * (1 + fabs(pb[o]));
        }
    else
        ok &= memcmp(db, pb, OC * sizeof(float)) == 0;
    snprintf(what, sizeof what, "matmul_backward N=%d C=%d OC=%d bias=%d", N, C, OC, bias);
    CHECK(ok, "%s differs from the double reference", what);

    snprintf(what, sizeof what, "matmul N=%d C=%d OC=%d bias=%d dinp", N, C, OC, bias);
    fd_check(what, mm_loss, &c, c.inp, NI, ai, max_checks);
    snprintf(what, sizeof what, "matmul N=%d C=%d OC=%d bias=%d dw", N, C, OC, bias);
    fd_check(what, mm_loss, &c, c.w, NW, aw, max_checks);
    if (bias) {
        snprintf(what, sizeof what, "matmul N=%d C=%d OC=%d bias=%d db", N, C, OC, bias);
        fd_check(what, mm_loss, &c, c.b, OC, ab, max_checks);
    }
    free(c.inp); free(c.w); free(c.b); free(c.out); free((void *)c.R);
    free(pi); free(pw); free(pb); free(dinp); free(dw); free(db); free(ai); free(aw); free(ab);
}

/* ======================================================================================
 * sgemm against a naive triple loop */
static void test_sgemm_case(int ta, int tb, int M, int N, int K, int accumulate, int pad) {
    /* stored shapes: A is (M,K) or (K,M) when transposed; B is (K,N) or (N,K) */
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int lda = ac + pad, ldb = bc + pad, ldc = N + pad;
    float *A = rand_buf((size_t)ar * lda, 1), *B = rand_buf((size_t)br * ldb, 1);
    float *Cm = malloc(sizeof(float) * (size_t)M * ldc), *C0 = malloc(sizeof(float) * (size_t)M * ldc);
    for (size_t i = 0; i < (size_t)M * ldc; i++) {
        int col = (int)(i % ldc);
        C0[i] = col >= N ? 12345.0f : accumulate ? frand() : NAN; /* NaN: overwrite must not read C */
    }
    memcpy(Cm, C0, sizeof(float) * (size_t)M * ldc);
    ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, Cm, ldc, accumulate);
    int bad = 0; double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, sa = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b; sa += fabs(a * b);
            }
            double c0 = accumulate ? C0[(size_t)i * ldc + j] : 0.0;
            double want = c0 + s, tol = 1e-4 * (sa + fabs(c0)) + 1e-30;
            double d = fabs(Cm[(size_t)i * ldc + j] - want);
            if (!(d <= tol)) bad++;
            if (!(d / tol <= worst)) worst = d / tol;
        }
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) bad += Cm[(size_t)i * ldc + j] != 12345.0f;
    CHECK(bad == 0, "sgemm ta=%d tb=%d M=%d N=%d K=%d acc=%d pad=%d: %d elements wrong (worst %.3g x tol)", ta, tb, M, N, K,
          accumulate, pad, bad, worst);
    free(A); free(B); free(Cm); free(C0);
}
static void test_sgemm(void) {
    static const int sizes[][3] = {{1, 1, 1}, {1, 37, 19}, {3, 5, 7}, {5, 33, 300}, {7, 13, 19}, {17, 33, 9},
                                   {13, 1600, 5}, {67, 97, 130}, {100, 31, 520}, {129, 65, 257}, {201, 40, 3},
                                   {40, 700, 50}, {45, 530, 61}};   /* the last two: threads split the columns */
    int n = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int acc = 0; acc < 2; acc++) {
                    test_sgemm_case(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], acc, (int)(s % 3) * 3);
                    n++;
                }
    /* K = 0: overwrite zeroes C, accumulate leaves it */
    float Cz[6] = {1, 2, 3, 4, 5, 6}, A1[1] = {0}, B1[1] = {0};
    ng_sgemm(0, 0, 2, 3, 0, A1, 1, B1, 3, Cz, 3, 1);
    CHECK(Cz[0] == 1 && Cz[5] == 6, "sgemm K=0 accumulate changed C");
    ng_sgemm(0, 0, 2, 3, 0, A1, 1, B1, 3, Cz, 3, 0);
    CHECK(Cz[0] == 0 && Cz[5] == 0, "sgemm K=0 overwrite did not zero C");
    printf("  sgemm: %d cases (4 transposes x accumulate 0/1 x %zu sizes)\n", n, sizeof sizes / sizeof sizes[0]);
    /* threads split C by rows or columns, never a sum: the result is bitwise the same on 1 thread */
    static const int split[][3] = {{129, 65, 257}, {45, 530, 61}, {300, 300, 40}};
    for (size_t s = 0; s < sizeof split / sizeof split[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = split[s][0], N = split[s][1], K = split[s][2];
                float *A = rand_buf((size_t)M * K, 1), *B = rand_buf((size_t)K * N, 1);
                float *C1 = malloc(sizeof(float) * (size_t)M * N), *C2 = malloc(sizeof(float) * (size_t)M * N);
                int lda = ta ? M : K, ldb = tb ? K : N, threads = ng_get_threads();
                int team = ng_team_enter(1);
                ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C1, N, 0);
                ng_team_enter(threads > 1 ? threads : 2);
                ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C2, N, 0);
                ng_team_leave(team);
                CHECK(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0,
                      "sgemm ta=%d tb=%d M=%d N=%d K=%d: 1 thread and several differ", ta, tb, M, N, K);
                free(A); free(B); free(C1); free(C2);
            }
}

/* transpose: 16x16 register blocks and scalar edges against the definition */
static void test_transpose(void) {
    static const int sizes[][2] = {{1, 1}, {16, 16}, {37, 50}, {64, 32}, {33, 17}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int R = sizes[s][0], Cc = sizes[s][1], lds = Cc + 3, ldd = R + 5;
        float *src = rand_buf((size_t)R * lds, 1), *dst = calloc((size_t)Cc * ldd, sizeof(float));
        ng_transpose(dst, (size_t)ldd, src, (size_t)lds, R, Cc);
        int bad = 0;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < Cc; c++) bad += dst[(size_t)c * ldd + r] != src[(size_t)r * lds + c];
        CHECK(bad == 0, "transpose %dx%d: %d elements wrong", R, Cc, bad);
        free(src); free(dst);
    }
}

/* ======================================================================================
 * attention */
typedef struct { float *qkv, *out, *lse; const float *R; int B, T, C, NH; float p; uint64_t seed; } AttCtx;
static double att_loss(void *p) {
    AttCtx *c = p;
    ng_attention_forward(c->out, c->lse, c->qkv, c->B, c->T, c->C, c->NH, c->p, c->seed, 0);
    return dot_d(c->out, c->R, (size_t)c->B * c->T * c->C);
}
/* materialised causal softmax in double: out(B,T,C), lse(B,NH,T) */
static void attention_ref(double *out, double *lse, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH;
    double *att = malloc(sizeof(double) * T * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    if (j > t) { att[t * T + j] = -INFINITY; continue; }
                    double s = 0;
                    for (int i = 0; i < hs; i++)
                        s += (double)qkv[((size_t)b * T + t) * 3 * C + h * hs + i] * qkv[((size_t)b * T + j) * 3 * C + C + h * hs + i];
                    att[t * T + j] = s / sqrt((double)hs);
                    if (att[t * T + j] > mx) mx = att[t * T + j];
                }
                double sum = 0;
                for (int j = 0; j < T; j++) { att[t * T + j] = exp(att[t * T + j] - mx); sum += att[t * T + j]; }
                for (int j = 0; j < T; j++) att[t * T + j] /= sum;
                lse[((size_t)b * NH + h) * T + t] = mx + log(sum);
            }
            for (int t = 0; t < T; t++)
                for (int i = 0; i < hs; i++) {
                    double s = 0;
                    for (int j = 0; j < T; j++) s += att[t * T + j] * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * hs + i];
                    out[((size_t)b * T + t) * C + h * hs + i] = s;
                }
        }
    free(att);
}
static void test_attention(int B, int T, int C, int NH, float p_drop) {
    char what[128];
    size_t N3 = (size_t)B * T * 3 * C, NO = (size_t)B * T * C, NL = (size_t)B * NH * T;
    AttCtx c = {rand_buf(N3, 1.2f), zbuf(NO), zbuf(NL), rand_buf(NO, 1), B, T, C, NH, p_drop, 0xC0FFEEULL};
    ng_attention_forward(c.out, c.lse, c.qkv, B, T, C, NH, p_drop, c.seed, 0);
    double *ro = malloc(sizeof(double) * NO), *rl = malloc(sizeof(double) * NL);
    attention_ref(ro, rl, c.qkv, B, T, C, NH);
    int ok_l = 1;
    for (size_t i = 0; i < NL; i++) ok_l &= fabs(c.lse[i] - rl[i]) <= 1e-5 * (1 + fabs(rl[i]));
    snprintf(what, sizeof what, "attention B=%d T=%d C=%d NH=%d p=%.1f", B, T, C, NH, p_drop);
    CHECK(ok_l, "%s: lse differs from log-sum-exp of the scaled scores", what);
    if (p_drop == 0.0f) {
        float *rof = malloc(sizeof(float) * NO);
        for (size_t i = 0; i < NO; i++) rof[i] = (float)ro[i];
        char w2[160];
        snprintf(w2, sizeof w2, "%s: out vs materialised softmax", what);
        check_close(w2, c.out, rof, NO, 1e-5, 1e-5);
        free(rof);
    } else {
        /* dropout on the probabilities: some outputs must differ from the p=0 result, and
         * the forward must be deterministic for the seed */
        size_t ndiff = 0;
        for (size_t i = 0; i < NO; i++) ndiff += fabs(c.out[i] - ro[i]) > 1e-4;
        CHECK(ndiff > NO / 4, "%s: dropout changed only %zu of %zu outputs", what, ndiff, NO);
        float *o2 = zbuf(NO), *l2 = zbuf(NL);
        ng_attention_forward(o2, l2, c.qkv, B, T, C, NH, p_drop, c.seed, 0);
        CHECK(memcmp(o2, c.out, NO * sizeof(float)) == 0, "%s: forward not deterministic", what);
        ng_attention_forward(o2, l2, c.qkv, B, T, C, NH, p_drop, c.seed + 1, 0);
        CHECK(memcmp(o2, c.out, NO * sizeof(float)) != 0, "%s: dropout mask does not depend on the seed", what);
        free(o2); free(l2);
    }
    float *pq = zbuf(N3), *dqkv = nan_buf(N3);   /* overwritten: NaN must not leak in */
    ng_attention_backward(dqkv, c.R, c.qkv, c.out, c.lse, B, T, C, NH, p_drop, c.seed, 0);
    float *aq = added(dqkv, pq, N3);
    snprintf(what, sizeof what, "attention B=%d T=%d C=%d NH=%d p=%.1f dqkv", B, T, C, NH, p_drop);
    fd_check(what, att_loss, &c, c.qkv, N3, aq, 0);
    /* causality: the output at t must not depend on k, v at t' > t: the gradient of the first
     * output row (b=0, t=0) alone has zero k/v gradient beyond t=0 */
    float *R1 = zbuf(NO), *d1 = zbuf(N3);
    for (int i = 0; i < C; i++) R1[i] = 1.0f;
    ng_attention_forward(c.out, c.lse, c.qkv, B, T, C, NH, p_drop, c.seed, 0);
    ng_attention_backward(d1, R1, c.qkv, c.out, c.lse, B, T, C, NH, p_drop, c.seed, 0);
    int causal = 1;
    for (size_t i = 3 * (size_t)C; i < N3; i++) causal &= d1[i] == 0.0f;
    CHECK(causal, "%s: gradient leaks to later time steps", what);
    free(R1); free(d1);
    free(c.qkv); free(c.out); free(c.lse); free((void *)c.R); free(ro); free(rl); free(pq); free(dqkv); free(aq);
}

/* ======================================================================================
 * gelu */
typedef struct { float *inp, *out; const float *R; size_t n; int tanh_approx; } GeluCtx;
static double gelu_loss(void *p) {
    GeluCtx *c = p;
    ng_gelu_forward(c->out, c->inp, c->n, c->tanh_approx);
    return dot_d(c->out, c->R, c->n);
}
static void test_gelu(int tanh_approx) {
    size_t n = 121;
    GeluCtx c = {zbuf(n), zbuf(n), rand_buf(n, 1), n, tanh_approx};
    for (size_t i = 0; i < n; i++) c.inp[i] = -6.0f + 12.0f * (float)i / (float)(n - 1) + 0.01f * frand();
    c.inp[n / 2] = 0.0f;
    ng_gelu_forward(c.out, c.inp, n, tanh_approx);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double x = c.inp[i], y = tanh_approx ? 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)))
                                             : 0.5 * x * (1 + erf(x / sqrt(2.0)));
        ok &= fabs(c.out[i] - y) <= 1e-6 + 1e-6 * fabs(y);
    }
    CHECK(ok, "gelu_forward tanh=%d differs from the double formula", tanh_approx);
    float *pi = zbuf(n), *dinp = nan_buf(n);     /* overwritten: NaN must not leak in */
    ng_gelu_backward(dinp, c.inp, c.R, n, tanh_approx);
    float *ai = added(dinp, pi, n);
    fd_check(tanh_approx ? "gelu tanh dinp" : "gelu erf dinp", gelu_loss, &c, c.inp, n, ai, 0);
    free(c.inp); free(c.out); free((void *)c.R); free(pi); free(dinp); free(ai);
}

/* ======================================================================================
 * dropout and residual */
typedef struct { float *inp, *out; const float *R; size_t n; float p; uint64_t seed; } DropCtx;
static double drop_loss(void *p) {
    DropCtx *c = p;
    ng_dropout_forward(c->out, c->inp, c->n, c->p, c->seed);
    return dot_d(c->out, c->R, c->n);
}
static void test_dropout(void) {
    size_t n = 5000;
    float p = 0.3f;
    DropCtx c = {rand_buf(n, 1), zbuf(n), rand_buf(n, 1), n, p, 424242};
    ng_dropout_forward(c.out, c.inp, n, p, c.seed);
    size_t kept = 0; int ok = 1;
    for (size_t i = 0; i < n; i++) {
        int k = dropout_keep(c.seed, i, p);
        kept += k;
        ok &= c.out[i] == (k ? c.inp[i] * (1.0f / (1.0f - p)) : 0.0f);
    }
    CHECK(ok, "dropout_forward disagrees with dropout_keep");
    double frac = (double)kept / n;   /* binomial sd ~0.0065 */
    CHECK(fabs(frac - (1 - p)) < 0.03, "dropout kept %.4f, want %.2f", frac, 1 - p);
    float *inplace = dup(c.inp, n);
    ng_dropout_forward(inplace, inplace, n, p, c.seed);
    CHECK(memcmp(inplace, c.out, n * sizeof(float)) == 0, "dropout_forward in place differs");
    float *o0 = zbuf(n);
    ng_dropout_forward(o0, c.inp, n, 0.0f, c.seed);
    CHECK(memcmp(o0, c.inp, n * sizeof(float)) == 0, "dropout p=0 is not the identity");
    float *pi = zbuf(n), *dinp = nan_buf(n);     /* overwritten: NaN must not leak in */
    ng_dropout_backward(dinp, c.R, n, p, c.seed);
    float *ai = added(dinp, pi, n);
    fd_check("dropout p=0.3 dinp", drop_loss, &c, c.inp, n, ai, 600);
    float *d0 = nan_buf(n);
    ng_dropout_backward(d0, c.R, n, 0.0f, c.seed);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= d0[i] == c.R[i];
    CHECK(ok, "dropout_backward p=0 is not dinp = dout");
    /* residual */
    float *a = rand_buf(n, 1), *r = zbuf(n);
    ng_residual_forward(r, a, c.inp, n);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= r[i] == a[i] + c.inp[i];
    CHECK(ok, "residual_forward is not a + b");
    free(c.inp); free(c.out); free((void *)c.R); free(inplace); free(o0); free(pi); free(dinp); free(ai); free(d0); free(a); free(r);
}

/* ======================================================================================
 * crossentropy */
typedef struct { float *logits, *losses; const int *targets; int N, V; float dloss; } CeCtx;
/* L = dloss * mean of the per-row losses, summed in double: the float mean returned by the
 * forward would add its own rounding (~2e-7 relative) to every difference quotient */
static double ce_loss(void *p) {
    CeCtx *c = p;
    ng_crossentropy_forward(c->losses, c->logits, c->targets, c->N, c->V);
    double s = 0; int cnt = 0;
    for (int n = 0; n < c->N; n++) if (c->targets[n] >= 0) { s += c->losses[n]; cnt++; }
    return (double)c->dloss * s / cnt;
}
static void test_crossentropy(void) {
    int N = 9, V = 11;
    int targets[9] = {3, -1, 0, 10, 5, 5, -1, 7, 1};
    size_t NV = (size_t)N * V;
    CeCtx c = {rand_buf(NV, 2.0f), zbuf(N), targets, N, V, 0.7f};
    float mean = ng_crossentropy_forward(c.losses, c.logits, targets, N, V);
    double tot = 0; int cnt = 0, ok = 1;
    for (int n = 0; n < N; n++) {
        const float *z = c.logits + (size_t)n * V;
        if (targets[n] < 0) { ok &= c.losses[n] == 0.0f; continue; }
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < V; v++) s += exp(z[v] - mx);
        double l = mx + log(s) - z[targets[n]];
        ok &= fabs(c.losses[n] - l) <= 1e-5 * (1 + l);
        tot += l; cnt++;
    }
    CHECK(ok, "crossentropy_forward per-row losses differ from the double reference");
    CHECK(fabs(mean - tot / cnt) <= 1e-5 * (1 + tot / cnt), "crossentropy mean %.9g want %.9g (ignored rows must not count)", mean, tot / cnt);

    float *pl = rand_buf(NV, 1), *dl = dup(pl, NV);
    ng_crossentropy_forward(c.losses, c.logits, targets, N, V);
    ng_crossentropy_backward(dl, c.logits, c.losses, targets, N, V, c.dloss);
    float *al = added(dl, pl, NV);
    fd_check("crossentropy dlogits (x0.7, 2 ignored)", ce_loss, &c, c.logits, NV, al, 0);
    ok = 1;
    for (int v = 0; v < V; v++) ok &= al[1 * V + v] == 0.0f && al[6 * V + v] == 0.0f;
    CHECK(ok, "crossentropy_backward gave a gradient to an ignored row");
    /* in place: the logits buffer becomes the gradient (ignored rows zero) */
    float *ip = dup(c.logits, NV);
    ng_crossentropy_forward(c.losses, c.logits, targets, N, V);    /* the fd check changed them */
    ng_crossentropy_backward(ip, ip, c.losses, targets, N, V, c.dloss);
    char what[] = "crossentropy_backward in place";
    float *ref = zbuf(NV);
    ng_crossentropy_backward(ref, c.logits, c.losses, targets, N, V, c.dloss);
    check_close(what, ip, ref, NV, 1e-7, 1e-6);
    /* every target ignored: mean 0, no gradient, no NaN */
    int none[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    float m0 = ng_crossentropy_forward(c.losses, c.logits, none, N, V);
    float *z = zbuf(NV);
    ng_crossentropy_backward(z, c.logits, c.losses, none, N, V, 1.0f);
    ok = m0 == 0.0f;
    for (size_t i = 0; i < NV; i++) ok &= z[i] == 0.0f;
    CHECK(ok, "crossentropy with every target ignored: mean %g, gradient not zero", m0);
    free(c.logits); free(c.losses); free(pl); free(dl); free(al); free(ip); free(ref); free(z);
}

/* ======================================================================================
 * adamw against torch.optim.AdamW's formula (decoupled decay first, bias-corrected) */
static void test_adamw(void) {
    enum { n = 8 };
    float g[n] = {0.5f, -1e-3f, 0.0f, 3.0f, -2.5f, 1e-9f, 0.03f, -0.2f};
    float p0[n] = {0.1f, -0.7f, 0.3f, 1.5f, -0.02f, 0.0f, 2.0f, -1.0f};
    float m0[n] = {0.05f, -0.01f, 0.02f, 0.0f, -0.3f, 1e-4f, 0.01f, 0.1f};
    float v0[n] = {0.01f, 1e-6f, 4e-4f, 0.0f, 0.2f, 1e-8f, 1e-3f, 0.05f};
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f;
    const float wds[2] = {0.1f, 0.0f};
    const int ts[3] = {1, 2, 7};
    for (int wi = 0; wi < 2; wi++)
        for (int ti = 0; ti < 3; ti++) {
            int t = ts[ti];
            float wd = wds[wi];
            float p[n], m[n], v[n];
            memcpy(p, p0, sizeof p);
            if (t == 1) { memset(m, 0, sizeof m); memset(v, 0, sizeof v); }
            else { memcpy(m, m0, sizeof m); memcpy(v, v0, sizeof v); }
            float mi[n], vi[n];
            memcpy(mi, m, sizeof m); memcpy(vi, v, sizeof v);
            ng_adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, t, 1.0f, 0);
            int ok = 1;
            for (int i = 0; i < n; i++) {
                double pp = (double)p0[i] * (1.0 - (double)lr * wd);
                double mm = (double)b1 * mi[i] + (1.0 - (double)b1) * g[i];
                double vv = (double)b2 * vi[i] + (1.0 - (double)b2) * (double)g[i] * g[i];
                double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
                double want = pp - (lr / bc1) * mm / (sqrt(vv) / sqrt(bc2) + eps);
                if (!(fabs(p[i] - want) <= 1e-7 + 1e-6 * fabs(want))) {
                    ok = 0;
                    fprintf(stderr, "  adamw t=%d wd=%g [%d]: param %.9g want %.9g\n", t, wd, i, p[i], want);
                }
                ok &= fabs(m[i] - mm) <= 1e-7 * (1 + fabs(mm)) && fabs(v[i] - vv) <= 1e-6 * (1e-6 + fabs(vv));
            }
            CHECK(ok, "adamw_update t=%d weight_decay=%g differs from the reference", t, wd);
        }
}

int main(void) {
    printf("encoder\n");     test_encoder();
    printf("layernorm\n");   test_layernorm(7, 13, 1); test_layernorm(7, 13, 0); test_layernorm(5, 130, 1); test_layernorm_small_var();
    printf("matmul\n");      test_matmul(7, 13, 19, 1, 0); test_matmul(7, 13, 19, 0, 0); test_matmul(67, 130, 97, 1, 300);
    printf("sgemm\n");       test_sgemm(); test_transpose();
    printf("attention\n");   test_attention(2, 9, 12, 3, 0.0f); test_attention(2, 9, 12, 3, 0.3f); test_attention(1, 17, 16, 2, 0.0f);
                             test_attention(1, 100, 64, 2, 0.0f); test_attention(2, 70, 32, 1, 0.2f);
    printf("gelu\n");        test_gelu(0); test_gelu(1);
    printf("dropout\n");     test_dropout();
    printf("crossentropy\n"); test_crossentropy();
    printf("adamw\n");       test_adamw();
    TEST_END();
}
