/* layernorm.c -- LayerNorm over channels, eps 1e-5 (nanoGPT's F.layer_norm) */
#include "kernels/kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5f
#define MIN_PARALLEL_ROWS 32

/* rows [lo, hi) of the forward */
static void layernorm_forward_rows(size_t lo, size_t hi, float *out, float *mean, float *rstd, const float *inp,
                                   const float *w, const float *b, int C) {
    for (size_t n = lo; n < hi; n++) {
        const float *x = inp + n * C;
        float s = 0.0f;
        #pragma omp simd reduction(+:s)
        for (int c = 0; c < C; c++) s += x[c];
        float m = s / C;
        float v = 0.0f;
        #pragma omp simd reduction(+:v)
        for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
        float r = 1.0f / sqrtf(v / C + LN_EPS);
        float *restrict o = out + n * C;
        if (b) {
            #pragma omp simd
            for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
        } else {
            #pragma omp simd
            for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c];
        }
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = r;
    }
}

/* out(N,C) = (inp - mean) * rstd * w + b; saves mean(N), rstd(N) for the backward */
void ng_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C) {
    NG_PARALLEL_RANGE((size_t)N, 1, N >= MIN_PARALLEL_ROWS, layernorm_forward_rows(lo, hi, out, mean, rstd, inp, w, b, C));
}

/* rows [lo, hi) of the backward; their parameter-gradient sums go to pdw, pdb */
static void layernorm_backward_rows(size_t lo, size_t hi, float *restrict pdw, float *restrict pdb, float *dinp,
                                    const float *dout, const float *inp, const float *w, const float *mean,
                                    const float *rstd, int C) {
    for (size_t n = lo; n < hi; n++) {
        const float *x = inp + n * C, *dy = dout + n * C;
        float m = mean[n], r = rstd[n];
        float sum_d = 0.0f, sum_dn = 0.0f;
        #pragma omp simd reduction(+:sum_d, sum_dn)
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * r, dn = dy[c] * w[c];
            sum_d += dn; sum_dn += dn * norm;
        }
        sum_d /= C; sum_dn /= C;
        float *restrict dx = dinp + n * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * r, dn = dy[c] * w[c];
            dx[c] += (dn - sum_d - norm * sum_dn) * r;
            pdw[c] += dy[c] * norm;
            pdb[c] += dy[c];
        }
    }
}

/* dinp += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * w;
 * dw += sum_n dout * norm, db += sum_n dout. The parameter gradients are summed over a fixed
 * number of row parts (set by N alone, not by the threads), the parts then added in order: the
 * same bits whatever team runs them. */
void ng_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    enum { MAX_PARTS = 16 };
    size_t P = (size_t)N / MIN_PARALLEL_ROWS;
    if (P < 1) P = 1;
    if (P > MAX_PARTS) P = MAX_PARTS;
    float *part = ng_scratch(NG_SCRATCH_LN, P * 2 * C);
    if (!part) return;                             /* out of memory: see ng_kernel_failures */
    memset(part, 0, sizeof(float) * P * 2 * C);
    NG_PARALLEL_RANGE(P, 1, P > 1,
        for (size_t k = lo; k < hi; k++) {
            float *pdw = part + k * 2 * C;
            layernorm_backward_rows((size_t)N * k / P, (size_t)N * (k + 1) / P, pdw, pdw + C, dinp, dout, inp, w, mean, rstd, C);
        });
    for (size_t k = 0; k < P; k++) {
        const float *pdw = part + k * 2 * C, *pdb = pdw + C;
        for (int c = 0; c < C; c++) { dw[c] += pdw[c]; if (db) db[c] += pdb[c]; }
    }
}
