/* generate.c -- nanoGPT's generate(): each step crops the context to block_size, takes the
 * last position's logits, divides by temperature, keeps the top_k, and draws from the softmax. */
#include "model/model.h"
#include "base/util.h"
#include <math.h>
#include <string.h>

/* The k-th largest (k >= 1) of a[0..n), reordering a: quickselect with a three-way partition
 * (O(n), duplicates fine). NaN must have been replaced (comparisons must be a total order). */
static float kth_largest(float *a, int n, int k) {
    int lo = 0, hi = n - 1, target = k - 1;    /* position in descending order */
    while (lo < hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));   /* median of 3 */
        int lt = lo, i = lo, gt = hi;          /* [lo,lt) > pivot, [lt,i) == pivot, (gt,hi] < pivot */
        while (i <= gt) {
            float v = a[i];
            if (v > pivot) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v < pivot) { a[i] = a[gt]; a[gt--] = v; }
            else i++;
        }
        if (target < lt) hi = lt - 1;
        else if (target > gt) lo = gt + 1;
        else return pivot;
    }
    return a[lo];
}

/* Draws one token from logits(V) with temperature (> 0) and top-k; scratch holds 2V floats.
 * softmax(logits / temperature) as exp((logit - max) / temperature): the largest logit is
 * subtracted before the scaling, so no temperature, however small, can overflow (a tiny one
 * leaves the argmax, as the limit should). A NaN logit is never drawn. */
int ng_sample_token(const float *logits, int V, float temperature, int top_k, NgRng *rng, float *scratch) {
    float *z = scratch, *sorted = scratch + V;
    for (int v = 0; v < V; v++) z[v] = logits[v] == logits[v] ? logits[v] : -INFINITY;
    float cutoff = -INFINITY;
    if (top_k > 0 && top_k < V) {
        memcpy(sorted, z, sizeof(float) * (size_t)V);
        cutoff = kth_largest(sorted, V, top_k);   /* logits below the k-th largest are dropped (same order as logits / T) */
    }
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) if (z[v] >= cutoff && z[v] > mx) mx = z[v];
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        z[v] = z[v] >= cutoff && z[v] > -INFINITY ? expf((z[v] - mx) / temperature) : 0.0f;
        if (z[v] == z[v]) sum += z[v]; else z[v] = 0.0f;     /* (inf - inf) when every logit is +inf */
    }
    double u = ng_rng_uniform(rng) * sum, acc = 0.0;
    int last = 0;
    for (int v = 0; v < V; v++) {
        if (z[v] <= 0.0f) continue;
        acc += z[v];
        last = v;
        if (u < acc) return v;
    }
    return last;
}

int ng_generate(NgModel *m, int *ids, size_t n_prompt, int max_new, float temperature, int top_k,
                int vocab_limit, NgRng *rng) {
    int V = m->args.vocab_size, block = m->args.block_size;
    int Vs = vocab_limit > 0 && vocab_limit < V ? vocab_limit : V;
    if (top_k <= 0 || top_k > Vs) top_k = Vs;                  /* 0: no cutoff */
    if (n_prompt == 0) return ng_fail("generate: empty prompt");
    if (!(temperature > 0.0f) || !isfinite(temperature)) return ng_fail("temperature must be a finite number > 0, got %g", temperature);
    float *scratch = ng_malloc(sizeof(float) * 2 * (size_t)V, "sampling scratch");
    if (!scratch) return -1;
    size_t len = n_prompt, cached = 0;      /* positions 0..cached-1 of ids are in the KV cache */
    int rc = 0;
    for (int k = 0; k < max_new && rc == 0; k++) {
        if (len <= (size_t)block) {
            rc = ng_model_decode(m, ids + cached, (int)(len - cached), (int)cached);
            cached = len;
        } else {
            /* cropped to the last block_size tokens: every position moved, so all of them again */
            rc = ng_model_decode(m, ids + len - block, block, 0);
        }
        if (rc == 0) ids[len++] = ng_sample_token(ng_model_logits(m), Vs, temperature, top_k, rng, scratch);
    }
    free(scratch);
    return rc;
}
