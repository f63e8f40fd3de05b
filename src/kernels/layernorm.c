/* layernorm.c -- LayerNorm over channels, eps 1e-5 (nanoGPT's F.layer_norm) */
#include "kernels/kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LN_EPS 1e-5f

/* out(N,C) = (inp - mean) * rstd * w + b; saves mean(N), rstd(N) for the backward */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float s = 0.0f;
        #pragma omp simd reduction(+:s)
        for (int c = 0; c < C; c++) s += x[c];
        float m = s / C;
        float v = 0.0f;
        #pragma omp simd reduction(+:v)
        for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
        float r = 1.0f / sqrtf(v / C + LN_EPS);
        float *restrict o = out + (size_t)n * C;
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

/* dinp += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * w;
 * dw += sum_n dout * norm, db += sum_n dout. The parameter gradients are summed per thread
 * over a fixed static range of rows and then added in thread order (deterministic). */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    float *part = ng_scratch(NG_SCRATCH_LN, (size_t)nt * 2 * C);
    memset(part, 0, sizeof(float) * (size_t)nt * 2 * C);
    #pragma omp parallel num_threads(nt)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *restrict pdw = part + (size_t)tid * 2 * C, *restrict pdb = pdw + C;
        size_t n0, n1;
        ng_thread_share((size_t)N, 1, &n0, &n1);
        for (size_t n = n0; n < n1; n++) {
            const float *x = inp + n * C, *dy = dout + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            float sum_d = 0.0f, sum_dn = 0.0f;
            #pragma omp simd reduction(+:sum_d, sum_dn)
            for (int c = 0; c < C; c++) {
                float norm = (x[c] - m) * r, dn = dy[c] * w[c];
                sum_d += dn; sum_dn += dn * norm;
            }
            sum_d /= C; sum_dn /= C;
            float *restrict dx = dinp + (size_t)n * C;
            #pragma omp simd
            for (int c = 0; c < C; c++) {
                float norm = (x[c] - m) * r, dn = dy[c] * w[c];
                dx[c] += (dn - sum_d - norm * sum_dn) * r;
                pdw[c] += dy[c] * norm;
                pdb[c] += dy[c];
            }
        }
    }
    for (int t = 0; t < nt; t++) {
        const float *pdw = part + (size_t)t * 2 * C, *pdb = pdw + C;
        for (int c = 0; c < C; c++) { dw[c] += pdw[c]; if (db) db[c] += pdb[c]; }
    }
}
