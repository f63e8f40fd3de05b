/* export_lecture.c -- a model as the lecture's own programs hold it: the state_dict of gpt.py's
 * GPTLanguageModel or bigram.py's BigramLanguageModel (karpathy/ng-video-lecture), in one
 * safetensors file, so that `model.load_state_dict(load_file(PATH))` loads it there.
 *
 * gpt.py's names and shapes, for layer l and head h (hs = C/NH):
 *   token_embedding_table.weight (V,C) = transformer.wte.weight
 *   position_embedding_table.weight (T,C) = transformer.wpe.weight
 *   blocks.l.sa.heads.h.{key,query,value}.weight (hs,C): rows of the fused c_attn.weight (3C,C),
 *       query h at h*hs, key h at C + h*hs, value h at 2C + h*hs (each head a Linear without bias)
 *   blocks.l.sa.heads.h.tril (T,T): the causal mask buffer (ones on and below the diagonal)
 *   blocks.l.sa.proj.{weight,bias} = attn.c_proj;  blocks.l.ffwd.net.0.* = mlp.c_fc;
 *   blocks.l.ffwd.net.2.* = mlp.c_proj;  blocks.l.ln1.* = ln_1;  blocks.l.ln2.* = ln_2;
 *   ln_f.* = transformer.ln_f;  lm_head.{weight,bias} (V,C), (V)
 * A model without some biases (bias=False) gets zero biases and a tied lm_head gets a copy of
 * wte and a zero bias: the same function. GELU, or biases on key/query/value, have no place in
 * gpt.py: such a model is refused. bigram.py: token_embedding_table.weight (V,V).
 * Metadata: "lecture" (gpt.py | bigram.py) and "hyperparameters" (JSON: the globals the file's
 * classes read: vocab_size, block_size, n_embd, n_head, n_layer, dropout), "meta" when given. */
#include "persistence/import.h"
#include "base/util.h"
#include <stdio.h>
#include <string.h>

/* one tensor: a view into the model, or zeros when the model has none */
static int add(NgStWriter *w, const char *name, int ndim, int64_t d0, int64_t d1, const float *src, const float *zeros) {
    int64_t shape[2] = {d0, d1};
    return ng_st_writer_add(w, name, NG_F32, ndim, shape, src ? src : zeros);
}

int ng_export_lecture(const NgModel *m, const char *path, const char *meta_json) {
    const NgModelArgs *a = &m->args;
    int gpt = a->model_type == NG_MODEL_GPT;
    if (gpt && !a->relu)
        return ng_fail("%s: the lecture's gpt.py has a ReLU MLP and this model GELU (train it with activation='relu', config/train_lecture_gpt.conf)", path);
    if (gpt && a->bias && !a->no_qkv_bias)
        return ng_fail("%s: the lecture's key/query/value Linears have no bias and this model's c_attn has one (train it with qkv_bias=False)", path);
    int64_t V = a->vocab_size, T = a->block_size, C = a->n_embd, NH = a->n_head, hs = NH > 0 ? C / NH : 0;
    NgStWriter *w = ng_st_writer_new();
    size_t nz = gpt ? (size_t)(V > 4 * C ? V : 4 * C) : 1;
    float *zeros = ng_calloc(nz, sizeof(float), "zero biases");
    float *tril = gpt ? ng_calloc((size_t)(T * T), sizeof(float), "the causal mask") : NULL;
    int rc = w && zeros && (tril || !gpt) ? 0 : -1;
    char hp[256];
    snprintf(hp, sizeof hp, "{\"vocab_size\": %d, \"block_size\": %d, \"n_embd\": %d, \"n_head\": %d, \"n_layer\": %d, \"dropout\": %.9g}",
             a->vocab_size, a->block_size, gpt ? a->n_embd : 0, gpt ? a->n_head : 0, gpt ? a->n_layer : 0, a->dropout);
    if (rc == 0) rc = ng_st_writer_meta(w, "format", "pt");
    if (rc == 0) rc = ng_st_writer_meta(w, "lecture", gpt ? "gpt.py" : "bigram.py");
    if (rc == 0) rc = ng_st_writer_meta(w, "hyperparameters", hp);
    if (rc == 0 && meta_json) rc = ng_st_writer_meta(w, "meta", meta_json);
    if (!gpt) {
        if (rc == 0) rc = add(w, "token_embedding_table.weight", 2, V, V, m->p.bigram, NULL);
        goto save;
    }
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j <= i; j++) tril[i * T + j] = 1.0f;
    const NgParams *p = &m->p;
    if (rc == 0) rc = add(w, "token_embedding_table.weight", 2, V, C, p->wte, NULL);
    if (rc == 0) rc = add(w, "position_embedding_table.weight", 2, T, C, p->wpe, NULL);
    char name[128];
#define ADD(ndim, d0, d1, src, ...) (snprintf(name, sizeof name, __VA_ARGS__), add(w, name, ndim, d0, d1, src, zeros))
    for (int l = 0; l < a->n_layer && rc == 0; l++) {
        const NgLayerParams *h = &p->h[l];
        for (int k = 0; k < NH && rc == 0; k++) {
            /* in gpt.py's order (key, query, value); their rows in c_attn are q | k | v */
            static const char *const name_of[3] = {"key", "query", "value"};
            static const int slice_of[3] = {1, 0, 2};
            for (int s = 0; s < 3 && rc == 0; s++)
                rc = ADD(2, hs, C, h->c_attn_w + (size_t)(slice_of[s] * C + k * hs) * C, "blocks.%d.sa.heads.%d.%s.weight", l, k, name_of[s]);
            if (rc == 0) rc = ADD(2, T, T, tril, "blocks.%d.sa.heads.%d.tril", l, k);
        }
        if (rc == 0) rc = ADD(2, C, C, h->attn_proj_w, "blocks.%d.sa.proj.weight", l);
        if (rc == 0) rc = ADD(1, C, 1, h->attn_proj_b, "blocks.%d.sa.proj.bias", l);
        if (rc == 0) rc = ADD(2, 4 * C, C, h->c_fc_w, "blocks.%d.ffwd.net.0.weight", l);
        if (rc == 0) rc = ADD(1, 4 * C, 1, h->c_fc_b, "blocks.%d.ffwd.net.0.bias", l);
        if (rc == 0) rc = ADD(2, C, 4 * C, h->mlp_proj_w, "blocks.%d.ffwd.net.2.weight", l);
        if (rc == 0) rc = ADD(1, C, 1, h->mlp_proj_b, "blocks.%d.ffwd.net.2.bias", l);
        if (rc == 0) rc = ADD(1, C, 1, h->ln_1_w, "blocks.%d.ln1.weight", l);
        if (rc == 0) rc = ADD(1, C, 1, h->ln_1_b, "blocks.%d.ln1.bias", l);
        if (rc == 0) rc = ADD(1, C, 1, h->ln_2_w, "blocks.%d.ln2.weight", l);
        if (rc == 0) rc = ADD(1, C, 1, h->ln_2_b, "blocks.%d.ln2.bias", l);
    }
#undef ADD
    if (rc == 0) rc = add(w, "ln_f.weight", 1, C, 1, p->ln_f_w, zeros);
    if (rc == 0) rc = add(w, "ln_f.bias", 1, C, 1, p->ln_f_b, zeros);
    if (rc == 0) rc = add(w, "lm_head.weight", 2, V, C, p->lm_head_w ? p->lm_head_w : p->wte, zeros);
    if (rc == 0) rc = add(w, "lm_head.bias", 1, V, 1, p->lm_head_b, zeros);
save:
    if (rc == 0) rc = ng_st_writer_save(w, path);
    ng_st_writer_free(w);
    free(zeros); free(tril);
    return rc;
}
