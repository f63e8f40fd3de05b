/* attention_probs.c -- the lecture's picture of attention: for one sequence, every head's
 * T x T matrix softmax(q k^T / sqrt(hs)) with the causal mask, from the q and k that a forward
 * pass leaves in block l's qkv activations (B,T,3C). The attention kernels never store this
 * matrix (they keep only its log-sum-exp); here it is computed again, in double precision,
 * for looking at. */
#include "model/model.h"
#include "base/util.h"
#include <math.h>
#include <string.h>

int ng_model_attention_probs(NgModel *m, const int *tokens, int T, int layer, float *probs) {
    const NgModelArgs *a = &m->args;
    if (a->model_type != NG_MODEL_GPT) return ng_fail("attention: the %s model has no attention", "bigram");
    if (layer < 0 || layer >= a->n_layer) return ng_fail("layer %d: the model has layers 0..%d", layer, a->n_layer - 1);
    int was_training = m->training;
    m->training = 0;                                     /* no dropout: the model as sampled */
    int rc = ng_model_forward(m, tokens, NULL, 1, T);
    m->training = was_training;
    if (rc != 0) return -1;
    int C = a->n_embd, NH = a->n_head, hs = C / NH;
    const float *qkv = m->acts->h[layer].qkv;            /* (T,3C): q | k | v, heads side by side */
    double scale = 1.0 / sqrt((double)hs);
    double *row = ng_malloc(sizeof(double) * (size_t)T, "an attention row");
    if (!row) return -1;
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
            const float *q = qkv + (size_t)t * 3 * C + h * hs;
            double mx = -INFINITY, sum = 0.0;
            for (int u = 0; u <= t; u++) {               /* scores of the keys at or before t */
                const float *k = qkv + (size_t)u * 3 * C + C + h * hs;
                double d = 0.0;
                for (int i = 0; i < hs; i++) d += (double)q[i] * k[i];
                row[u] = d * scale;
                if (row[u] > mx) mx = row[u];
            }
            for (int u = 0; u <= t; u++) { row[u] = exp(row[u] - mx); sum += row[u]; }
            float *out = probs + ((size_t)h * T + t) * T;
            for (int u = 0; u < T; u++) out[u] = u <= t ? (float)(row[u] / sum) : 0.0f;
        }
    free(row);
    return 0;
}
