/* encoder.c -- token and position embeddings */
#include "kernels/kernels.h"

static void encoder_forward_rows(size_t lo, size_t hi, float *out, const int *idx, const float *wte, const float *wpe,
                                 int T, int C) {
    for (size_t bt = lo; bt < hi; bt++) {
        const float *e = wte + (size_t)idx[bt] * C, *p = wpe + (bt % T) * C;
        float *o = out + bt * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
    }
}

/* out(B,T,C) = wte[idx[b,t]] + wpe[t] */
void ng_encoder_forward(float *out, const int *idx, const float *wte, const float *wpe, int B, int T, int C) {
    NG_PARALLEL_RANGE((size_t)B * T, 1, B * T >= 32, encoder_forward_rows(lo, hi, out, idx, wte, wpe, T, C));
}

/* channels [c0, c1) of the backward, every row in order */
static void encoder_backward_channels(size_t c0, size_t c1, float *dwte, float *dwpe, const float *dout, const int *idx,
                                      int B, int T, int C) {
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        const float *d = dout + bt * C;
        float *e = dwte + (size_t)idx[bt] * C;
        #pragma omp simd
        for (size_t c = c0; c < c1; c++) e[c] += d[c];
        if (dwpe) {
            float *p = dwpe + (bt % T) * C;
            #pragma omp simd
            for (size_t c = c0; c < c1; c++) p[c] += d[c];
        }
    }
}

/* dwte[idx[b,t]] += dout[b,t]; dwpe[t] += dout[b,t]. Each thread takes a contiguous range of
 * channels and walks the rows in order, so no two threads touch the same element and every
 * sum has the same order whatever the number of threads. */
void ng_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *idx, int B, int T, int C) {
    NG_PARALLEL_RANGE((size_t)C, 16, C >= 64, encoder_backward_channels(lo, hi, dwte, dwpe, dout, idx, B, T, C));
}
