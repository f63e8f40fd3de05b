/* test_generate.c -- sampling: the KV-cache path (ng_model_decode / ng_generate) against
 * nanoGPT's generate(), which recomputes the whole cropped context for every token. */
#include "nanogpt.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* reference: logits of the last position from a full forward over the cropped context */
static const float *full_logits(NgModel *m, const int *ids, size_t len) {
    int T = (int)(len < (size_t)m->args.block_size ? len : (size_t)m->args.block_size);
    if (ng_model_forward(m, ids + len - T, NULL, 1, T) != 0) return NULL;
    return ng_model_logits(m);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

static void test_model(int bias, int gelu_tanh) {
    NgModelArgs a = {.model_type = NG_MODEL_GPT, .block_size = 16, .vocab_size = 29, .n_layer = 2, .n_head = 4, .n_embd = 32, .dropout = 0.0f, .bias = bias, .gelu_tanh = gelu_tanh};
    NgModel m;
    CHECK(ng_model_create(&m, &a) == 0, "create: %s", ng_errmsg());
    ng_model_init_weights(&m, 7);
    /* 5x the init's weights so the logits are not all alike (at 20x the network is so
     * sensitive that float rounding alone moves logits by 1e-3) */
    for (size_t i = 0; i < m.num_params; i++) m.params[i] *= 5.0f;
    int V = a.vocab_size;
    float *ref = malloc(sizeof(float) * V);

    /* decode position by position == full forward of the prefix, to 1e-5 */
    int ids[64] = {3, 14, 15, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2};
    int ok = 1;
    for (int len = 1; len <= 16; len++) {
        memcpy(ref, full_logits(&m, ids, (size_t)len), sizeof(float) * V);
        CHECK(ng_model_decode(&m, ids + len - 1, 1, len - 1) == 0, "decode: %s", ng_errmsg());
        const float *got = ng_model_logits(&m);
        /* 1e-5 of the row's scale: the two paths sum in different orders */
        float scale = 1.0f;
        for (int v = 0; v < V; v++) scale = fmaxf(scale, fabsf(ref[v]));
        for (int v = 0; v < V; v++) ok &= fabsf(got[v] - ref[v]) <= 1e-5f * scale;
    }
    CHECK(ok, "bias=%d tanh=%d: KV-cache logits differ from the full forward", bias, gelu_tanh);
    /* a prefill of several positions at once, then one more */
    CHECK(ng_model_decode(&m, ids, 10, 0) == 0 && ng_model_decode(&m, ids + 10, 3, 10) == 0, "prefill: %s", ng_errmsg());
    memcpy(ref, full_logits(&m, ids, 13), sizeof(float) * V);
    ng_model_decode(&m, ids, 13, 0);
    check_close("prefill of 13 positions", ng_model_logits(&m), ref, V, 1e-5, 1e-5);

    /* greedy generation across the block boundary: the same tokens as nanoGPT's loop */
    int gen[64], want[64];
    memcpy(gen, ids, sizeof(int) * 5);
    memcpy(want, ids, sizeof(int) * 5);
    NgRng rng;
    ng_rng_seed(&rng, 1);
    CHECK(ng_generate(&m, gen, 5, 40, 1.0f, 1, V, &rng) == 0, "generate: %s", ng_errmsg());
    for (size_t len = 5; len < 45; len++) want[len] = argmax(full_logits(&m, want, len), V);
    CHECK(memcmp(gen, want, sizeof(int) * 45) == 0, "bias=%d tanh=%d: greedy generation with the KV cache differs", bias, gelu_tanh);

    /* ids at or above vocab_limit are never drawn, even at a high temperature */
    int lim[400];
    lim[0] = 0;
    ng_rng_seed(&rng, 2);
    CHECK(ng_generate(&m, lim, 1, 300, 5.0f, V, 7, &rng) == 0, "generate: %s", ng_errmsg());
    ok = 1;
    for (int i = 1; i < 301; i++) ok &= lim[i] >= 0 && lim[i] < 7;
    CHECK(ok, "a token >= vocab_limit 7 was sampled");
    /* the same seed draws the same tokens */
    int again[400];
    again[0] = 0;
    ng_rng_seed(&rng, 2);
    ng_generate(&m, again, 1, 300, 5.0f, V, 7, &rng);
    CHECK(memcmp(lim, again, sizeof(int) * 301) == 0, "sampling is not reproducible for a fixed seed");
    /* bad positions are errors, not crashes */
    CHECK(ng_model_decode(&m, ids, 1, 16) != 0, "decode beyond the block accepted");
    int bad = V;
    CHECK(ng_model_decode(&m, &bad, 1, 0) != 0, "decode of token id %d accepted", bad);
    free(ref);
    ng_model_free(&m);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* top-k: every draw is among the k largest logits (ties included), top_k = 1 is the argmax,
 * and logits with repeats, infinities and a NaN neither crash nor hang the selection */
static void test_top_k(void) {
    enum { V = 1000 };
    float logits[V], sorted[V], scratch[2 * V];
    NgRng rng;
    ng_rng_seed(&rng, 9);
    for (int v = 0; v < V; v++) logits[v] = (float)(ng_rng_u64(&rng) % 50) * 0.1f;   /* many ties */
    logits[17] = -INFINITY; logits[400] = NAN;
    for (int v = 0; v < V; v++) sorted[v] = logits[v] == logits[v] ? logits[v] : -INFINITY;
    qsort(sorted, V, sizeof(float), cmp_desc);
    const int ks[] = {1, 3, 50, 999, V};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        int k = ks[i], bad = 0;
        float cutoff = sorted[k - 1];
        for (int d = 0; d < 2000; d++) {
            int t = ng_sample_token(logits, V, 1.0f, k, &rng, scratch);
            bad += t < 0 || t >= V || !(logits[t] >= cutoff);
        }
        CHECK(bad == 0, "top_k=%d: %d of 2000 draws below the k-th largest logit %g", k, bad, cutoff);
    }
}

int main(void) {
    test_top_k();
    test_model(1, 0);
    test_model(0, 1);
    TEST_END();
}
