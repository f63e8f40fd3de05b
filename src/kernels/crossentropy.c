/* crossentropy.c -- softmax + cross-entropy over the vocabulary, fused: probabilities are never
 * stored; the backward recomputes them row by row from the logits (in place). */
#include "kernels/kernels.h"
#include "kernels/vmath.h"
#include <math.h>

/* log sum_v exp(z[v]) of one row, stabilised by its maximum */
static float logsumexp(const float *z, int V) {
    float mx = -INFINITY;
    #pragma omp simd reduction(max:mx)
    for (int v = 0; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int v = 0; v < V; v++) s += ng_expf(z[v] - mx);
    return logf(s) + mx;
}

static void crossentropy_forward_rows(size_t lo, size_t hi, float *losses, const float *logits, const int *targets, int V) {
    for (size_t n = lo; n < hi; n++) {
        const float *z = logits + n * V;
        losses[n] = targets[n] < 0 ? 0.0f : logsumexp(z, V) - z[targets[n]];
    }
}

/* losses[n] = logsumexp(logits[n]) - logits[n][target]; returns the mean over counted rows
 * (summed in row order, so the same for any number of threads) */
float ng_crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V) {
    NG_PARALLEL_RANGE((size_t)N, 1, N >= 32, crossentropy_forward_rows(lo, hi, losses, logits, targets, V));
    double total = 0.0;
    int count = 0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0) { total += losses[n]; count++; }
    return count ? (float)(total / count) : 0.0f;
}

static void crossentropy_backward_rows(size_t lo, size_t hi, float *dlogits, const float *logits, const float *losses,
                                      const int *targets, int V, float scale) {
    for (size_t n = lo; n < hi; n++) {
        const float *z = logits + n * V;
        float *dz = dlogits + n * V;
        if (targets[n] < 0) {
            if (dz == z) for (int v = 0; v < V; v++) dz[v] = 0.0f;
            continue;
        }
        int tgt = targets[n];
        float lse = losses[n] + z[tgt];
        if (dz == z) {
            #pragma omp simd
            for (int v = 0; v < V; v++) dz[v] = ng_expf(z[v] - lse) * scale;
        } else {
            #pragma omp simd
            for (int v = 0; v < V; v++) dz[v] += ng_expf(z[v] - lse) * scale;
        }
        dz[tgt] -= scale;
    }
}

/* d(mean loss)/dz[n][v] = (softmax(z[n])[v] - [v == target]) / count, scaled by dloss_mean.
 * The forward's losses give each row's logsumexp back (loss + z[target]), so the
 * probabilities are computed once, straight into dlogits. */
void ng_crossentropy_backward(float *dlogits, const float *logits, const float *losses, const int *targets, int N, int V,
                           float dloss_mean) {
    int count = 0;
    for (int n = 0; n < N; n++) count += targets[n] >= 0;
    float scale = count ? dloss_mean / count : 0.0f;
    NG_PARALLEL_RANGE((size_t)N, 1, N >= 32, crossentropy_backward_rows(lo, hi, dlogits, logits, losses, targets, V, scale));
}
