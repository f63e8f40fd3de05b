/* params.c -- the parameter table and the flat parameter buffer built from it.
 *
 * Every tensor of every model is one row of ng_param_table: its nanoGPT state_dict name ({l}
 * stands for the layer), its shape in terms of V, T, C, its init, and where its named view
 * lives. Allocation, views, init, weight-decay groups and checkpoints all read this table.
 */
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/rng.h"
#include "base/util.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TOP(f) offsetof(NgParams, f)
#define LAY(f) offsetof(NgLayerParams, f)
const NgParamSpec ng_param_table[] = {
    /* name                                  model            layer presence         shape                   init                 view */
    {"transformer.wte.weight",                NG_MODEL_GPT,    0, NG_ALWAYS,         {NG_DIM_V,  NG_DIM_C}, NG_INIT_NORMAL,      TOP(wte)},
    {"transformer.wpe.weight",                NG_MODEL_GPT,    0, NG_ALWAYS,         {NG_DIM_T,  NG_DIM_C}, NG_INIT_NORMAL,      TOP(wpe)},
    {"transformer.h.{l}.ln_1.weight",         NG_MODEL_GPT,    1, NG_ALWAYS,         {NG_DIM_C,  NG_DIM_1}, NG_INIT_ONE,         LAY(ln_1_w)},
    {"transformer.h.{l}.ln_1.bias",           NG_MODEL_GPT,    1, NG_IF_BIAS,        {NG_DIM_C,  NG_DIM_1}, NG_INIT_ZERO,        LAY(ln_1_b)},
    {"transformer.h.{l}.attn.c_attn.weight",  NG_MODEL_GPT,    1, NG_ALWAYS,         {NG_DIM_3C, NG_DIM_C}, NG_INIT_NORMAL,      LAY(c_attn_w)},
    {"transformer.h.{l}.attn.c_attn.bias",    NG_MODEL_GPT,    1, NG_IF_QKV_BIAS,    {NG_DIM_3C, NG_DIM_1}, NG_INIT_ZERO,        LAY(c_attn_b)},
    {"transformer.h.{l}.attn.c_proj.weight",  NG_MODEL_GPT,    1, NG_ALWAYS,         {NG_DIM_C,  NG_DIM_C}, NG_INIT_NORMAL_PROJ, LAY(attn_proj_w)},
    {"transformer.h.{l}.attn.c_proj.bias",    NG_MODEL_GPT,    1, NG_IF_BIAS,        {NG_DIM_C,  NG_DIM_1}, NG_INIT_ZERO,        LAY(attn_proj_b)},
    {"transformer.h.{l}.ln_2.weight",         NG_MODEL_GPT,    1, NG_ALWAYS,         {NG_DIM_C,  NG_DIM_1}, NG_INIT_ONE,         LAY(ln_2_w)},
    {"transformer.h.{l}.ln_2.bias",           NG_MODEL_GPT,    1, NG_IF_BIAS,        {NG_DIM_C,  NG_DIM_1}, NG_INIT_ZERO,        LAY(ln_2_b)},
    {"transformer.h.{l}.mlp.c_fc.weight",     NG_MODEL_GPT,    1, NG_ALWAYS,         {NG_DIM_4C, NG_DIM_C}, NG_INIT_NORMAL,      LAY(c_fc_w)},
    {"transformer.h.{l}.mlp.c_fc.bias",       NG_MODEL_GPT,    1, NG_IF_BIAS,        {NG_DIM_4C, NG_DIM_1}, NG_INIT_ZERO,        LAY(c_fc_b)},
    {"transformer.h.{l}.mlp.c_proj.weight",   NG_MODEL_GPT,    1, NG_ALWAYS,         {NG_DIM_C,  NG_DIM_4C}, NG_INIT_NORMAL_PROJ, LAY(mlp_proj_w)},
    {"transformer.h.{l}.mlp.c_proj.bias",     NG_MODEL_GPT,    1, NG_IF_BIAS,        {NG_DIM_C,  NG_DIM_1}, NG_INIT_ZERO,        LAY(mlp_proj_b)},
    {"transformer.ln_f.weight",               NG_MODEL_GPT,    0, NG_ALWAYS,         {NG_DIM_C,  NG_DIM_1}, NG_INIT_ONE,         TOP(ln_f_w)},
    {"transformer.ln_f.bias",                 NG_MODEL_GPT,    0, NG_IF_BIAS,        {NG_DIM_C,  NG_DIM_1}, NG_INIT_ZERO,        TOP(ln_f_b)},
    {"lm_head.weight",                        NG_MODEL_GPT,    0, NG_IF_UNTIED,      {NG_DIM_V,  NG_DIM_C}, NG_INIT_NORMAL,      TOP(lm_head_w)},
    {"lm_head.bias",                          NG_MODEL_GPT,    0, NG_IF_UNTIED_BIAS, {NG_DIM_V,  NG_DIM_1}, NG_INIT_ZERO,        TOP(lm_head_b)},
    {"token_embedding_table.weight",          NG_MODEL_BIGRAM, 0, NG_ALWAYS,         {NG_DIM_V,  NG_DIM_V}, NG_INIT_UNIT,        TOP(bigram)},
    {NULL, 0, 0, 0, {0, 0}, 0, 0},
};

static int64_t dim_value(NgDim d, const NgModelArgs *a) {
    switch (d) {
    case NG_DIM_V: return a->vocab_size;
    case NG_DIM_T: return a->block_size;
    case NG_DIM_C: return a->n_embd;
    case NG_DIM_3C: return 3 * (int64_t)a->n_embd;
    case NG_DIM_4C: return 4 * (int64_t)a->n_embd;
    default: return 1;
    }
}

/* whether a row's tensor is part of the model with these args */
static int present(const NgParamSpec *p, const NgModelArgs *a) {
    if (p->model_type != a->model_type) return 0;
    switch ((NgPresence)p->presence) {
    case NG_IF_BIAS: return a->bias;
    case NG_IF_QKV_BIAS: return a->bias && !a->no_qkv_bias;
    case NG_IF_UNTIED: return a->untied_head;
    case NG_IF_UNTIED_BIAS: return a->untied_head && a->bias;
    default: return 1;
    }
}

static void layer_name(char *dst, size_t n, const char *pattern, int l) {
    const char *at = strstr(pattern, "{l}");
    if (!at) { snprintf(dst, n, "%s", pattern); return; }
    snprintf(dst, n, "%.*s%d%s", (int)(at - pattern), pattern, l, at + 3);
}

/* Lists the model's tensors in state_dict order (per-layer rows grouped by layer). Returns
 * the count; fills `out` when non-NULL. */
static int list_tensors(const NgModelArgs *a, NgTensor *out) {
    int n = 0;
    size_t offset = 0;
    for (int r = 0; ng_param_table[r].name; ) {
        const NgParamSpec *s = &ng_param_table[r];
        int r_end = r + 1;
        if (s->per_layer) while (ng_param_table[r_end].name && ng_param_table[r_end].per_layer) r_end++;
        int layers = s->per_layer ? a->n_layer : 1;
        for (int l = 0; l < layers; l++) {
            for (int q = r; q < r_end; q++) {
                const NgParamSpec *p = &ng_param_table[q];
                if (!present(p, a)) continue;
                if (out) {
                    NgTensor *t = &out[n];
                    memset(t, 0, sizeof *t);
                    layer_name(t->name, sizeof t->name, p->name, l);
                    t->ndim = p->dims[1] == NG_DIM_1 ? 1 : 2;
                    t->shape[0] = dim_value(p->dims[0], a);
                    t->shape[1] = t->ndim == 2 ? dim_value(p->dims[1], a) : 1;
                    t->numel = (size_t)t->shape[0] * (size_t)t->shape[1];
                    t->offset = offset;
                    t->decay = t->ndim >= 2;
                    t->init = p->init;
                    t->spec = q;
                    t->layer = l;
                    offset += t->numel;
                }
                n++;
            }
        }
        r = r_end;
    }
    return n;
}

/* points the named views (NgParams) of one buffer at its tensors */
static void set_views(NgModel *m, NgParams *views, float *base, NgLayerParams *layers) {
    memset(views, 0, sizeof *views);
    views->h = layers;
    for (int i = 0; i < m->n_tensors; i++) {
        const NgTensor *t = &m->tensors[i];
        const NgParamSpec *p = &ng_param_table[t->spec];
        char *owner = p->per_layer ? (char *)&layers[t->layer] : (char *)views;
        *(float **)(owner + p->offset) = base + t->offset;
    }
}

int ng_model_args_validate(const NgModelArgs *a) {
    if (a->model_type != NG_MODEL_GPT && a->model_type != NG_MODEL_BIGRAM) return ng_fail("model: unknown model type %d", a->model_type);
    if (a->vocab_size <= 0 || a->vocab_size > (1 << 24)) return ng_fail("vocab_size %d: must be in 1..16777216", a->vocab_size);
    if (a->block_size <= 0 || a->block_size > (1 << 20)) return ng_fail("block_size %d: must be in 1..1048576", a->block_size);
    if (a->dropout < 0.0f || a->dropout >= 1.0f) return ng_fail("dropout %g: must be in [0, 1)", a->dropout);
    if (a->model_type == NG_MODEL_BIGRAM) return 0;
    if (a->n_layer <= 0 || a->n_layer > 4096) return ng_fail("n_layer %d: must be in 1..4096", a->n_layer);
    if (a->n_head <= 0) return ng_fail("n_head %d: must be positive", a->n_head);
    if (a->n_embd <= 0 || a->n_embd > (1 << 16)) return ng_fail("n_embd %d: must be in 1..65536", a->n_embd);
    if (a->n_embd % a->n_head != 0) return ng_fail("n_embd %d is not divisible by n_head %d", a->n_embd, a->n_head);
    return 0;
}

/* frees what ng_params_create allocates (the tensor list, the flat buffers and their views) */
void ng_params_free(NgModel *m) {
    free(m->tensors); free(m->params); free(m->grads); free(m->m); free(m->v);
    free(m->p.h); free(m->g.h);
    m->tensors = NULL; m->params = m->grads = m->m = m->v = NULL;
    m->p.h = m->g.h = NULL;
}

int ng_params_create(NgModel *m, const NgModelArgs *args) {
    memset(m, 0, sizeof *m);
    if (ng_model_args_validate(args) != 0) return -1;
    if (ng_model_check_memory(args, 1, 1, 0, 1) != 0) return -1;     /* the parameters alone fit */
    m->args = *args;
    m->n_tensors = list_tensors(args, NULL);
    m->tensors = ng_calloc((size_t)m->n_tensors, sizeof(NgTensor), "the tensor list");
    if (!m->tensors) return -1;
    list_tensors(args, m->tensors);
    const NgTensor *last = &m->tensors[m->n_tensors - 1];
    m->num_params = last->offset + last->numel;
    m->params = ng_aligned_alloc(m->num_params * sizeof(float), "the parameters");
    int L = args->n_layer > 0 ? args->n_layer : 1;
    m->p.h = ng_calloc((size_t)L, sizeof(NgLayerParams), "layer views");
    m->g.h = ng_calloc((size_t)L, sizeof(NgLayerParams), "layer views");
    if (!m->params || !m->p.h || !m->g.h) { ng_params_free(m); memset(m, 0, sizeof *m); return -1; }
    set_views(m, &m->p, m->params, m->p.h);
    m->training = 0;
    return 0;
}

/* gradients, allocated on first use */
int ng_model_alloc_grads(NgModel *m) {
    if (m->grads) return 0;
    m->grads = ng_aligned_alloc(m->num_params * sizeof(float), "the gradients");
    if (!m->grads) return -1;
    NgLayerParams *h = m->g.h;
    set_views(m, &m->g, m->grads, h);
    return 0;
}

void ng_model_zero_grad(NgModel *m) {
    if (ng_model_alloc_grads(m) != 0) return;
    memset(m->grads, 0, m->num_params * sizeof(float));
}

/* N(0,1) number i of the stream `seed`: Box-Muller on two counter-based uniforms, so every
 * element can be drawn independently (in parallel) and the result does not depend on threads */
static float normal_at(uint64_t seed, uint64_t i) {
    uint64_t h1 = ng_hash64(seed + 2 * i + 1), h2 = ng_hash64(seed + 2 * i + 2);
    double u1 = ((h1 >> 11) + 1.0) * (1.0 / 9007199254740993.0);   /* (0, 1] */
    double u2 = (h2 >> 11) * (1.0 / 9007199254740992.0);            /* [0, 1) */
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void ng_model_init_weights(NgModel *m, uint64_t seed) {
    float std_proj = m->args.unscaled_init ? 0.02f : 0.02f / sqrtf(2.0f * (float)(m->args.n_layer > 0 ? m->args.n_layer : 1));
    uint64_t stream = ng_hash64(seed);
    int team = ng_team_enter(m->threads);
    for (int i = 0; i < m->n_tensors; i++) {
        const NgTensor *t = &m->tensors[i];
        float *w = m->params + t->offset;
        float std = t->init == NG_INIT_NORMAL ? 0.02f : t->init == NG_INIT_NORMAL_PROJ ? std_proj : 1.0f;
        #pragma omp parallel for schedule(static) num_threads(ng_team_want())
        for (size_t j = 0; j < t->numel; j++) {
            switch (t->init) {
            case NG_INIT_NORMAL: case NG_INIT_NORMAL_PROJ: case NG_INIT_UNIT:
                w[j] = std * normal_at(stream, t->offset + j); break;
            case NG_INIT_ZERO: w[j] = 0.0f; break;
            case NG_INIT_ONE: w[j] = 1.0f; break;
            }
        }
    }
    ng_team_leave(team);
}

const NgTensor *ng_model_find_tensor(const NgModel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}


/* 6 FLOPs per parameter per token (forward 2, backward 4; the tied lm_head counted through
 * wte, an untied one as a matrix of its own, position embeddings excluded as lookups) plus attention's 12*L*C*T per token
 * (QK^T and att@V, forward and backward, counting the full TxT as nanoGPT's estimate_mfu). */
double ng_model_flops_per_token(const NgModelArgs *a, int T) {
    if (a->model_type == NG_MODEL_BIGRAM) return 6.0 * a->vocab_size;
    double C = a->n_embd, L = a->n_layer, V = a->vocab_size;
    double N = V * C * (a->untied_head ? 2 : 1) + L * 12.0 * C * C;
    return 6.0 * N + 12.0 * L * C * T;
}
