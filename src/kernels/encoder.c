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

/* dwte[idx[b,t]] += dout[b,t]; dwpe[t] += dout[b,t]. Parallel over channels so that no two
 * threads touch the same row element and the order of sums is fixed. */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *idx, int B, int T, int C) {
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        for (int bt = 0; bt < B * T; bt++) {
            float d = dout[(size_t)bt * C + c];
            dwte[(size_t)idx[bt] * C + c] += d;
            if (dwpe) dwpe[(size_t)(bt % T) * C + c] += d;
        }
    }
}
