/* encoder.c -- token and position embeddings */
#include "kernels/kernels.h"

/* out(B,T,C) = wte[idx[b,t]] + wpe[t] */
void encoder_forward(float *out, const int *idx, const float *wte, const float *wpe, int B, int T, int C) {
    #pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        int t = bt % T;
        const float *e = wte + (size_t)idx[bt] * C, *p = wpe + (size_t)t * C;
        float *o = out + (size_t)bt * C;
        for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
    }
}

/* dwte[idx[b,t]] += dout[b,t]; dwpe[t] += dout[b,t]. Each thread takes a contiguous range of
 * channels and walks the rows in order, so no two threads touch the same element and every
 * sum has the same order whatever the number of threads. */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *idx, int B, int T, int C) {
    #pragma omp parallel
    {
        size_t c0, c1;
        ng_thread_share((size_t)C, 1, &c0, &c1);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                size_t bt = (size_t)b * T + t;
                const float *d = dout + bt * C;
                float *e = dwte + (size_t)idx[bt] * C, *p = dwpe ? dwpe + (size_t)t * C : NULL;
                #pragma omp simd
                for (size_t c = c0; c < c1; c++) e[c] += d[c];
                if (p) {
                    #pragma omp simd
                    for (size_t c = c0; c < c1; c++) p[c] += d[c];
                }
            }
    }
}
