/* sample.c -- nanoGPT's sample.py: generate text from the checkpoint in out_dir.
 * Each step crops the context to block_size, takes the last position's logits, divides by
 * temperature, keeps the top_k, and draws from the softmax. */
#include "data/data.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Draws one token from logits(V) with temperature and top-k; scratch holds 2V floats. */
int ng_sample_token(const float *logits, int V, float temperature, int top_k, NgRng *rng, float *scratch) {
    float *z = scratch, *sorted = scratch + V;
    for (int v = 0; v < V; v++) z[v] = logits[v] / temperature;
    float cutoff = -INFINITY;
    if (top_k < V) {
        memcpy(sorted, z, sizeof(float) * V);
        qsort(sorted, V, sizeof(float), cmp_desc);
        cutoff = sorted[top_k - 1];           /* logits below the k-th largest are dropped */
    }
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) if (z[v] >= cutoff && z[v] > mx) mx = z[v];
    double sum = 0.0;
    for (int v = 0; v < V; v++) { z[v] = z[v] >= cutoff ? expf(z[v] - mx) : 0.0f; sum += z[v]; }
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

/* the prompt: the start text, or the contents of FILE:path */
static char *read_start(const char *start, size_t *n) {
    if (strncmp(start, "FILE:", 5) == 0) return ng_read_file(start + 5, n);
    char *s = ng_malloc(strlen(start) + 1, "the prompt");
    if (s) { strcpy(s, start); *n = strlen(s); }
    return s;
}

int ng_sample(const NgConfig *cfg, FILE *out) {
    NgModel m;
    NgCharTokenizer tok;
    NgConfig saved = *cfg;
    char path[700];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", cfg->out_dir);
    ng_set_threads(cfg->threads);
    if (ng_config_validate(cfg) != 0) return -1;
    if (ng_checkpoint_load(path, &m, &saved, NULL, &tok, 0) != 0) return -1;
    int rc = -1, V = m.args.vocab_size, block = m.args.block_size;
    int *ids = NULL;
    float *scratch = NULL;
    char *text = NULL;
    size_t n_text = 0, n_prompt = 0;
    if (tok.vocab_size == 0) {
        ng_fail("%s: the checkpoint has no vocabulary (meta) to encode the prompt with", path);
        goto done;
    }
    if (!(text = read_start(cfg->start, &n_text))) goto done;
    if (n_text == 0) { ng_fail("start: the prompt is empty"); goto done; }
    int *prompt = NULL;
    char where[64];
    snprintf(where, sizeof where, "start");
    if (ng_utf8_count(text, n_text, where) < 0) goto done;
    if (ng_chartok_encode(&tok, text, n_text, &prompt, &n_prompt) != 0) { ng_fail("start: %s", ng_errmsg()); goto done; }
    size_t cap = n_prompt + (size_t)cfg->max_new_tokens;
    ids = ng_malloc(sizeof(int) * cap, "the generated tokens");
    scratch = ng_malloc(sizeof(float) * 2 * (size_t)V, "sampling scratch");
    if (!ids || !scratch) { free(prompt); goto done; }
    NgRng rng;
    ng_rng_seed(&rng, (uint64_t)cfg->seed);
    int top_k = cfg->top_k < V ? cfg->top_k : V;
    for (int s = 0; s < cfg->num_samples; s++) {
        memcpy(ids, prompt, sizeof(int) * n_prompt);
        size_t len = n_prompt;
        for (int k = 0; k < cfg->max_new_tokens; k++) {
            size_t T = len < (size_t)block ? len : (size_t)block;     /* crop to block_size */
            if (ng_model_forward(&m, ids + len - T, NULL, 1, (int)T) != 0) { free(prompt); goto done; }
            ids[len++] = ng_sample_token(ng_model_logits(&m), V, cfg->temperature, top_k, &rng, scratch);
        }
        for (size_t i = 0; i < len; i++) {
            const char *piece = ng_chartok_decode1(&tok, ids[i]);
            if (piece) fputs(piece, out);       /* ids beyond the vocabulary (padding) decode to nothing */
        }
        fputs("\n---------------\n", out);
        fflush(out);
    }
    free(prompt);
    rc = 0;
done:
    free(ids); free(scratch); free(text);
    ng_chartok_free(&tok);
    ng_model_free(&m);
    return rc;
}
