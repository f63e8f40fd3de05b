/* acts.c -- the activation buffers of a model (both model types), sized for N = B*T rows:
 * one allocation with named views (NgActs, model.h), plus the batch shards' gradient copies
 * and the KV cache (kept when the activations are resized). Decoding alone takes a smaller set
 * (ng_model_alloc_decode_acts). */
#include "model/model.h"
#include "base/util.h"
#include <string.h>

void ng_model_free_acts(NgModel *m) {
    if (!m->acts) return;
    for (int i = 1; i < NG_MAX_SHARDS; i++) { free(m->acts->shard_grads[i]); free(m->acts->shard_g[i].h); }
    free(m->acts->shard_h);
    free(m->acts->kv_cache);
    free(m->acts->buffer); free(m->acts->h); free(m->acts->targets); free(m->acts->idx);
    free(m->acts);
    m->acts = NULL;
}

/* a new empty NgActs in m->acts in place of the old, which is freed except for its KV cache
 * (decoding goes on after a resize of the activations, e.g. after a forward) */
static NgActs *fresh_acts(NgModel *m) {
    float *kv = m->acts ? m->acts->kv_cache : NULL;
    if (m->acts) m->acts->kv_cache = NULL;
    ng_model_free_acts(m);
    NgActs *A = m->acts = ng_calloc(1, sizeof(NgActs), "activations");
    if (!A) { free(kv); return NULL; }
    A->kv_cache = kv;
    return A;
}

/* sizes every activation for N = B*T rows (any B, T with B*T <= N) in one allocation */
int ng_model_alloc_acts(NgModel *m, size_t N) {
    const NgModelArgs *a = &m->args;
    int gpt = a->model_type == NG_MODEL_GPT;
    size_t C = gpt ? a->n_embd : 0, L = gpt ? a->n_layer : 0, V = a->vocab_size, NH = a->n_head;
    NgActs *A = fresh_acts(m);
    if (!A) return -1;
    size_t total = ng_model_acts_floats(a, N);     /* memory.c: the views taken below */
    A->buffer = ng_aligned_alloc(total * sizeof(float), "activations");
    A->h = ng_calloc(L ? L : 1, sizeof(BlockActs), "activations");
    A->targets = ng_calloc(N, sizeof(int), "targets");
    A->idx = ng_calloc(N, sizeof(int), "inputs");
    if (!A->buffer || !A->h || !A->targets || !A->idx) { ng_model_free_acts(m); return -1; }
    float *p = A->buffer;
#define TAKE(n) (p += (n), p - (n))
    A->encoded = TAKE(N * C);
    for (size_t l = 0; l < L; l++) {
        BlockActs *b = &A->h[l];
        b->ln_1 = TAKE(N * C); b->ln_1_mean = TAKE(N); b->ln_1_rstd = TAKE(N);
        b->qkv = TAKE(N * 3 * C);
        b->atty = TAKE(N * C);
        b->att_lse = TAKE(NH * N);
        b->res_2 = TAKE(N * C);
        b->ln_2 = TAKE(N * C); b->ln_2_mean = TAKE(N); b->ln_2_rstd = TAKE(N);
        b->fch = TAKE(N * 4 * C); b->fch_gelu = TAKE(N * 4 * C);
        b->res_3 = TAKE(N * C);
    }
    A->ln_f = TAKE(N * C); A->ln_f_mean = TAKE(N); A->ln_f_rstd = TAKE(N);
    A->logits = TAKE(N * V);
    A->losses = TAKE(N);
    A->last = TAKE(N * C);
    A->proj = TAKE(N * C);
    A->dres = TAKE(N * C); A->dC = TAKE(N * C); A->dC2 = TAKE(N * C);
    A->d3C = TAKE(N * 3 * C);
    A->d4C = TAKE(N * 4 * C); A->d4C2 = TAKE(N * 4 * C);
#undef TAKE
    A->capacity = A->decode_rows = N;
    return 0;
}

int ng_model_alloc_decode_acts(NgModel *m, size_t n) {
    const NgModelArgs *a = &m->args;
    size_t C = a->n_embd, V = a->vocab_size, NH = a->n_head;
    NgActs *A = fresh_acts(m);
    if (!A) return -1;
    A->buffer = ng_aligned_alloc(sizeof(float) * (n * (16 * C + NH) + C + V), "activations");
    A->h = ng_calloc(1, sizeof(BlockActs), "activations");
    if (!A->buffer || !A->h) { ng_model_free_acts(m); return -1; }
    float *p = A->buffer;
    BlockActs *b = &A->h[0];
#define TAKE(k) (p += (k), p - (k))
    A->encoded = TAKE(n * C);
    b->ln_1 = TAKE(n * C); b->qkv = TAKE(n * 3 * C); b->atty = TAKE(n * C); b->att_lse = TAKE(NH * n);
    b->ln_2 = TAKE(n * C); b->fch = TAKE(n * 4 * C); b->fch_gelu = TAKE(n * 4 * C);
    A->proj = TAKE(n * C);
    A->last = TAKE(C);
    A->logits = TAKE(V);
#undef TAKE
    A->decode_rows = n;
    return 0;
}
