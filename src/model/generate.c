/* generate.c -- nanoGPT's generate(): each step crops the context to block_size, takes the
 * last position's logits, divides by temperature, keeps the top_k (then the top_p nucleus),
 * and draws from the softmax. */
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

/* The smallest weight c such that the weights >= c of a[0..n) (all > 0) add up to at least
 * need: a quickselect over the values in descending order that keeps the mass of those above
 * the current range (O(n), reorders a, ties all on one side). Rounding that leaves the total
 * short of need keeps everything (0). */
static float nucleus_cutoff(float *a, int n, double need) {
    int lo = 0, hi = n - 1;
    double above = 0.0;                        /* mass of the values larger than all of [lo, hi] */
    while (lo <= hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));   /* median of 3 */
        int lt = lo, i = lo, gt = hi;          /* [lo,lt) > pivot, [lt,gt] == pivot, (gt,hi] < pivot */
        while (i <= gt) {
            float v = a[i];
            if (v > pivot) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v < pivot) { a[i] = a[gt]; a[gt--] = v; }
            else i++;
        }
        double big = 0.0;
        for (int j = lo; j < lt; j++) big += a[j];
        if (above + big >= need) { hi = lt - 1; continue; }
        double eq = (double)pivot * (gt - lt + 1);
        if (above + big + eq >= need) return pivot;
        above += big + eq;
        lo = gt + 1;
    }
    return 0.0f;
}

/* Draws one token from logits(V) with temperature (> 0), top-k (0: all) and top-p; scratch
 * holds 2V floats. softmax(logits / temperature) as exp((logit - max) / temperature): the
 * largest logit is subtracted before the scaling, so no temperature, however small, can
 * overflow (a tiny one leaves the argmax, as the limit should). A NaN logit is never drawn. */
int ng_sample_token_p(const float *logits, int V, float temperature, int top_k, float top_p, NgRng *rng, float *scratch) {
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
    if (top_p < 1.0f && sum > 0.0) {
        int n = 0;
        float keep;
        for (int v = 0; v < V; v++) if (z[v] > 0.0f) sorted[n++] = z[v];
        if (top_p > 0.0f) keep = nucleus_cutoff(sorted, n, (double)top_p * sum);
        else { keep = 0.0f; for (int j = 0; j < n; j++) keep = sorted[j] > keep ? sorted[j] : keep; }  /* the most likely only */
        sum = 0.0;
        for (int v = 0; v < V; v++) { if (z[v] < keep) z[v] = 0.0f; sum += z[v]; }
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

int ng_sample_token(const float *logits, int V, float temperature, int top_k, NgRng *rng, float *scratch) {
    return ng_sample_token_p(logits, V, temperature, top_k, 1.0f, rng, scratch);
}

/* one sequence through the batched decoder (a batch of one), so that a sample is the same
 * token for token whether it is drawn alone or with others (ng_seqs_step) */
int ng_generate(NgModel *m, int *ids, size_t n_prompt, int max_new, float temperature, int top_k,
                int vocab_limit, NgRng *rng) {
    int V = m->args.vocab_size, block = m->args.block_size, slot = 0;
    int Vs = vocab_limit > 0 && vocab_limit < V ? vocab_limit : V;
    if (top_k <= 0 || top_k > Vs) top_k = Vs;                  /* 0: no cutoff */
    if (n_prompt == 0) return ng_fail("generate: empty prompt");
    if (!(temperature > 0.0f) || !isfinite(temperature)) return ng_fail("temperature must be a finite number > 0, got %g", temperature);
    float *scratch = ng_malloc(sizeof(float) * 2 * (size_t)V, "sampling scratch");
    NgDecoder *d = scratch ? ng_decoder_new(m, 1) : NULL;
    int rc = d ? 0 : -1;
    size_t len = n_prompt;
    for (int k = 0; k < max_new && rc == 0; k++) {
        if (len > (size_t)block)                  /* cropped: every position moved, the whole window again */
            rc = ng_decoder_prefill(m, d, slot, ids + len - block, block);
        else if (k == 0)
            rc = ng_decoder_prefill(m, d, slot, ids, (int)len);
        else
            rc = ng_model_decode_batch(m, d, 1, &slot, ids + len - 1);
        if (rc == 0) ids[len++] = ng_sample_token(ng_decoder_logits(d, 0), Vs, temperature, top_k, rng, scratch);
    }
    ng_decoder_free(d);
    free(scratch);
    return rc;
}
