/* gpt.c -- nanoGPT's GPT: forward and backward over the blocks.
 *
 *   x = drop(wte[idx] + wpe[t])                                  (B,T,C)
 *   for each block:  x = x + drop(c_proj(attn(ln_1(x))))
 *                    x = x + drop(mlp_proj(gelu(c_fc(ln_2(x)))))
 *   logits = ln_f(x) @ wte^T                                     (B,T,V)
 *
 * The lecture's gpt.py is the same graph with the options of NgModelArgs: ReLU for GELU, no
 * embedding dropout, c_attn without bias (its per-head key/query/value Linears, fused), and
 * logits = ln_f(x) @ lm_head.weight^T + lm_head.bias (untied).
 *
 * Activations live in one buffer with named views (NgActs); the backward reuses a few
 * scratch buffers instead of keeping a gradient for every activation.
 */
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/rng.h"
#include "base/util.h"
#include <stddef.h>
#include <string.h>

/* the bf16 copy of weight w when the model runs in bfloat16, else NULL (fp32 products) */
#define WB(w) ng_model_weight_bf16(m, (w))



/* the seed of one dropout site (embedding, or block l's attention/proj/mlp) of one shard */
static uint64_t site_seed(uint64_t seed, int l, int kind) {
    return ng_hash64(seed ^ ng_hash64(((uint64_t)(l + 1) << 8) | (uint64_t)kind));
}
enum { DROP_EMB, DROP_ATT, DROP_ATT_PROJ, DROP_MLP_PROJ };

/* the MLP's nonlinearity: GELU (nanoGPT) or ReLU (the lecture) */
static void act_forward(const NgModelArgs *a, float *out, const float *inp, size_t n) {
    if (a->relu) ng_relu_forward(out, inp, n);
    else ng_gelu_forward(out, inp, n, a->gelu_tanh);
}
static void act_backward(const NgModelArgs *a, float *dinp, const float *inp, const float *dout, size_t n) {
    if (a->relu) ng_relu_backward(dinp, inp, dout, n);
    else ng_gelu_backward(dinp, inp, dout, n, a->gelu_tanh);
}
/* lm_head's matrix in parameters or gradients: its own (untied, the lecture) or wte (tied);
 * its bias is p->lm_head_b (NULL when it has none) */
static float *lm_head(const NgParams *p) { return p->lm_head_w ? p->lm_head_w : p->wte; }

/* The activations of rows [r0, r0 + n) of A: every per-row pointer moved by r0 rows.
 * `h` receives the L block views. */
static NgActs acts_rows(const NgActs *A, BlockActs *h, const NgModelArgs *a, size_t r0) {
    size_t C = a->n_embd, NH = a->n_head, V = a->vocab_size;
    NgActs S = *A;
    S.encoded = A->encoded + r0 * C;
    for (int l = 0; l < a->n_layer; l++) {
        const BlockActs *b = &A->h[l];
        BlockActs *o = &h[l];
        o->ln_1 = b->ln_1 + r0 * C; o->ln_1_mean = b->ln_1_mean + r0; o->ln_1_rstd = b->ln_1_rstd + r0;
        o->qkv = b->qkv + r0 * 3 * C; o->atty = b->atty + r0 * C; o->att_lse = b->att_lse + r0 * NH;
        o->res_2 = b->res_2 + r0 * C;
        o->ln_2 = b->ln_2 + r0 * C; o->ln_2_mean = b->ln_2_mean + r0; o->ln_2_rstd = b->ln_2_rstd + r0;
        o->fch = b->fch + r0 * 4 * C; o->fch_gelu = b->fch_gelu + r0 * 4 * C; o->res_3 = b->res_3 + r0 * C;
    }
    S.h = h;
    S.ln_f = A->ln_f + r0 * C; S.ln_f_mean = A->ln_f_mean + r0; S.ln_f_rstd = A->ln_f_rstd + r0;
    S.logits = A->logits + r0 * V; S.losses = A->losses + r0; S.last = A->last + r0 * C;
    S.proj = A->proj + r0 * C;
    S.dres = A->dres + r0 * C; S.dC = A->dC + r0 * C; S.dC2 = A->dC2 + r0 * C;
    S.d3C = A->d3C + r0 * 3 * C; S.d4C = A->d4C + r0 * 4 * C; S.d4C2 = A->d4C2 + r0 * 4 * C;
    S.targets = A->targets + r0; S.idx = A->idx + r0;
    return S;
}

/* the blocks and ln_f for rows of one shard: x = ln_f(blocks(drop(embed(idx)))) */
static void forward_body(const NgModel *m, NgActs *A, int B, int T, float p, uint64_t seed) {
    const NgModelArgs *a = &m->args;
    int C = a->n_embd, NH = a->n_head, N = B * T;
    const NgParams *w = &m->p;
    ng_encoder_forward(A->encoded, A->idx, w->wte, w->wpe, B, T, C);
    if (p > 0.0f && !a->no_embd_dropout) ng_dropout_forward(A->encoded, A->encoded, (size_t)N * C, p, site_seed(seed, -1, DROP_EMB));
    const float *x = A->encoded;
    for (int l = 0; l < a->n_layer; l++) {
        const NgLayerParams *lw = &w->h[l];
        BlockActs *b = &A->h[l];
        ng_layernorm_forward(b->ln_1, b->ln_1_mean, b->ln_1_rstd, x, lw->ln_1_w, lw->ln_1_b, N, C);
        ng_matmul_forward(b->qkv, b->ln_1, lw->c_attn_w, WB(lw->c_attn_w), lw->c_attn_b, N, C, 3 * C);
        ng_attention_forward(b->atty, b->att_lse, b->qkv, B, T, C, NH, p, site_seed(seed, l, DROP_ATT), m->dtype == NG_DTYPE_BF16);
        ng_matmul_forward(A->proj, b->atty, lw->attn_proj_w, WB(lw->attn_proj_w), lw->attn_proj_b, N, C, C);
        if (p > 0.0f) ng_dropout_forward(A->proj, A->proj, (size_t)N * C, p, site_seed(seed, l, DROP_ATT_PROJ));
        ng_residual_forward(b->res_2, x, A->proj, (size_t)N * C);
        ng_layernorm_forward(b->ln_2, b->ln_2_mean, b->ln_2_rstd, b->res_2, lw->ln_2_w, lw->ln_2_b, N, C);
        ng_matmul_forward(b->fch, b->ln_2, lw->c_fc_w, WB(lw->c_fc_w), lw->c_fc_b, N, C, 4 * C);
        act_forward(a, b->fch_gelu, b->fch, (size_t)N * 4 * C);
        ng_matmul_forward(A->proj, b->fch_gelu, lw->mlp_proj_w, WB(lw->mlp_proj_w), lw->mlp_proj_b, N, 4 * C, C);
        if (p > 0.0f) ng_dropout_forward(A->proj, A->proj, (size_t)N * C, p, site_seed(seed, l, DROP_MLP_PROJ));
        ng_residual_forward(b->res_3, b->res_2, A->proj, (size_t)N * C);
        x = b->res_3;
    }
    ng_layernorm_forward(A->ln_f, A->ln_f_mean, A->ln_f_rstd, x, w->ln_f_w, w->ln_f_b, N, C);
}

/* grads[from .. num_params) are final: tell the hook (a step of one shard only; with several,
 * the gradients are final once ng_gpt_backward has added the shards) */
static void grads_final(const NgModel *m, const NgParams *g, const float *from) {
    const NgActs *A = m->acts;
    if (A->grad_hook && A->n_shards == 1 && g == &m->g) A->grad_hook(A->grad_hook_ctx, (size_t)(from - m->grads));
}

/* backward of one shard's rows, from dlogits (in A->logits) to the gradients g */
static void backward_body(const NgModel *m, NgActs *A, NgParams *g, int B, int T, float p, uint64_t seed) {
    const NgModelArgs *a = &m->args;
    int C = a->n_embd, NH = a->n_head, V = a->vocab_size, N = B * T;
    const NgParams *w = &m->p;
    size_t NC = (size_t)N * C;
    ng_matmul_backward(A->dC, lm_head(g), g->lm_head_b, A->logits, A->ln_f, lm_head(w), WB(lm_head(w)), N, C, V);
    memset(A->dres, 0, NC * sizeof(float));
    const float *x_last = a->n_layer > 0 ? A->h[a->n_layer - 1].res_3 : A->encoded;
    ng_layernorm_backward(A->dres, g->ln_f_w, g->ln_f_b, A->dC, x_last, w->ln_f_w, A->ln_f_mean, A->ln_f_rstd, N, C);
    grads_final(m, g, g->ln_f_w);            /* ln_f (and an untied lm_head after it) */
    for (int l = a->n_layer - 1; l >= 0; l--) {
        const NgLayerParams *lw = &w->h[l];
        NgLayerParams *lg = &g->h[l];
        BlockActs *b = &A->h[l];
        const float *x = l > 0 ? A->h[l - 1].res_3 : A->encoded;
        /* MLP branch: res_3 = res_2 + drop(mlp_proj(gelu(c_fc(ln_2(res_2))))) */
        const float *dproj = A->dres;
        if (p > 0.0f) {
            ng_dropout_backward(A->dC2, A->dres, NC, p, site_seed(seed, l, DROP_MLP_PROJ));
            dproj = A->dC2;
        }
        ng_matmul_backward(A->d4C, lg->mlp_proj_w, lg->mlp_proj_b, dproj, b->fch_gelu, lw->mlp_proj_w, WB(lw->mlp_proj_w), N, 4 * C, C);
        act_backward(a, A->d4C2, b->fch, A->d4C, NC * 4);
        ng_matmul_backward(A->dC, lg->c_fc_w, lg->c_fc_b, A->d4C2, b->ln_2, lw->c_fc_w, WB(lw->c_fc_w), N, C, 4 * C);
        ng_layernorm_backward(A->dres, lg->ln_2_w, lg->ln_2_b, A->dC, b->res_2, lw->ln_2_w, b->ln_2_mean, b->ln_2_rstd, N, C);
        /* attention branch: res_2 = x + drop(attn_proj(attn(c_attn(ln_1(x))))) */
        dproj = A->dres;
        if (p > 0.0f) {
            ng_dropout_backward(A->dC2, A->dres, NC, p, site_seed(seed, l, DROP_ATT_PROJ));
            dproj = A->dC2;
        }
        ng_matmul_backward(A->dC, lg->attn_proj_w, lg->attn_proj_b, dproj, b->atty, lw->attn_proj_w, WB(lw->attn_proj_w), N, C, C);
        ng_attention_backward(A->d3C, A->dC, b->qkv, b->atty, b->att_lse, B, T, C, NH, p, site_seed(seed, l, DROP_ATT),
                              m->dtype == NG_DTYPE_BF16);
        ng_matmul_backward(A->dC, lg->c_attn_w, lg->c_attn_b, A->d3C, b->ln_1, lw->c_attn_w, WB(lw->c_attn_w), N, C, 3 * C);
        ng_layernorm_backward(A->dres, lg->ln_1_w, lg->ln_1_b, A->dC, x, lw->ln_1_w, b->ln_1_mean, b->ln_1_rstd, N, C);
        grads_final(m, g, lg->ln_1_w);       /* block l and everything after it */
    }
    const float *demb = A->dres;
    if (p > 0.0f && !a->no_embd_dropout) {
        ng_dropout_backward(A->dC2, A->dres, NC, p, site_seed(seed, -1, DROP_EMB));
        demb = A->dC2;
    }
    ng_encoder_backward(g->wte, g->wpe, demb, A->idx, B, T, C);
}

static int count_targets(const int *targets, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += targets[i] >= 0;
    return c;
}

/* Splits the batch into S shards for a training step: each shard is the whole forward and
 * backward of B/S sequences with single-threaded kernels (no barriers inside the step), and
 * the shards are the iterations of a loop over the team OpenMP actually gives (all S on one
 * thread under OMP_THREAD_LIMIT=1). S depends on the model's thread setting and the shapes,
 * never on the team obtained; the gradients of shards 1.. are added to shard 0's in shard
 * order, so the result is bitwise the same for a given S whatever the team. */
static int plan_shards(NgModel *m, int B) {
    NgActs *A = m->acts;
    /* A shard costs its own copy of the gradients (and their reduction) and packs every weight
     * again: worth it while each shard has at least n_embd rows (nanoGPT's configs); a large
     * model on few rows (GPT-2 at T=64, B=4) runs as one shard with the kernels parallel inside. */
    int S = ng_model_shard_count(&m->args, B, m->T, m->threads > 0 ? m->threads : ng_max_threads(), m->shard_mode);
    if (A->n_shards != S || !A->shard_h) {
        free(A->shard_h);
        int L = m->args.n_layer > 0 ? m->args.n_layer : 1;
        A->shard_h = ng_calloc((size_t)S * L, sizeof(BlockActs), "shard views");
        if (!A->shard_h) return -1;
        A->n_shards = S;
    }
    for (int s = 0; s <= S; s++) A->b0[s] = (int)((long long)B * s / S);
    return 0;
}

/* shard s of S in a training step: forward, lm_head and loss of its rows; returns its loss
 * summed over its targets */
static double forward_shard(NgModel *m, int s, int S, int T, float p) {
    const NgModelArgs *a = &m->args;
    NgActs *A = m->acts;
    int b0 = A->b0[s], Bs = A->b0[s + 1] - b0;
    NgActs R = acts_rows(A, A->shard_h + (size_t)s * (a->n_layer > 0 ? a->n_layer : 1), a, (size_t)b0 * T);
    uint64_t seed = S > 1 ? ng_hash64(m->dropout_seed ^ (uint64_t)(s + 1)) : m->dropout_seed;
    forward_body(m, &R, Bs, T, p, seed);
    ng_matmul_forward(R.logits, R.ln_f, lm_head(&m->p), WB(lm_head(&m->p)), m->p.lm_head_b, Bs * T, a->n_embd, a->vocab_size);
    float mean = ng_crossentropy_forward(R.losses, R.logits, R.targets, Bs * T, a->vocab_size);
    return (double)mean * count_targets(R.targets, (size_t)Bs * T);
}

/* shard s of S: backward of its rows into its own gradient buffer (shard 0: m->g) */
static void backward_shard(NgModel *m, int s, int S, int T, float p, int total, float loss_scale) {
    const NgModelArgs *a = &m->args;
    NgActs *A = m->acts;
    int b0 = A->b0[s], Bs = A->b0[s + 1] - b0;
    NgActs R = acts_rows(A, A->shard_h + (size_t)s * (a->n_layer > 0 ? a->n_layer : 1), a, (size_t)b0 * T);
    uint64_t seed = S > 1 ? ng_hash64(m->dropout_seed ^ (uint64_t)(s + 1)) : m->dropout_seed;
    int count = count_targets(R.targets, (size_t)Bs * T);
    /* d(mean over all rows) = d(shard mean) * count / total; dlogits in place */
    ng_crossentropy_backward(R.logits, R.logits, R.losses, R.targets, Bs * T, a->vocab_size, total ? loss_scale * count / total : 0.0f);
    backward_body(m, &R, s == 0 ? &m->g : &A->shard_g[s], Bs, T, p, seed);
}

int ng_gpt_forward(NgModel *m, const int *idx, const int *targets, int B, int T) {
    const NgModelArgs *a = &m->args;
    int C = a->n_embd, V = a->vocab_size, N = B * T;
    float p = m->training ? a->dropout : 0.0f;
    NgActs *A = m->acts;
    if (!A || A->capacity < (size_t)N) {
        if (ng_model_alloc_acts(m, (size_t)N) != 0) return -1;
        A = m->acts;
    }
    if (ng_model_bf16_refresh(m, 0) != 0) return -1;
    memcpy(A->idx, idx, sizeof(int) * N);
    A->has_targets = targets != NULL;
    if (!targets) {
        /* inference: kernels parallel inside; only the last position's logits, (B,V) */
        A->n_shards = 1;
        forward_body(m, A, B, T, p, m->dropout_seed);
        if (m->all_logits) {
            ng_matmul_forward(A->logits, A->ln_f, lm_head(&m->p), WB(lm_head(&m->p)), m->p.lm_head_b, N, C, V);
        } else {
            for (int bi = 0; bi < B; bi++)
                memcpy(A->last + (size_t)bi * C, A->ln_f + ((size_t)bi * T + T - 1) * C, sizeof(float) * C);
            ng_matmul_forward(A->logits, A->last, lm_head(&m->p), WB(lm_head(&m->p)), m->p.lm_head_b, B, C, V);
        }
        return 0;
    }
    memcpy(A->targets, targets, sizeof(int) * N);
    if (plan_shards(m, B) != 0) return -1;
    int S = A->n_shards, total = count_targets(targets, (size_t)N);
    double loss_sum = 0.0;
    /* One shard runs outside any parallel construct: inside even an inactive one (if(0)), the
     * kernels' own parallel regions would be nested teams, whose threads libgomp creates and
     * destroys every time (and with them their thread-local kernel scratch: leaked). */
    if (S == 1) loss_sum = forward_shard(m, 0, 1, T, p);
    else {
        double shard_loss[NG_MAX_SHARDS];       /* added in shard order: the same on every run */
        #pragma omp parallel for schedule(static, 1) num_threads(S)
        for (int s = 0; s < S; s++) shard_loss[s] = forward_shard(m, s, S, T, p);
        for (int s = 0; s < S; s++) loss_sum += shard_loss[s];
    }
    m->loss = total ? (float)(loss_sum / total) : 0.0f;
    return 0;
}

/* shard s >= 1's gradient buffer and views (zero: allocated zeroed, and cleared again by
 * the reduction that consumes it) */
static int shard_grads(NgModel *m, int s) {
    NgActs *A = m->acts;
    if (!A->shard_grads[s]) {
        A->shard_grads[s] = ng_aligned_alloc(m->num_params * sizeof(float), "per-thread gradients");
        A->shard_g[s].h = ng_calloc(m->args.n_layer > 0 ? m->args.n_layer : 1, sizeof(NgLayerParams), "views");
        if (!A->shard_grads[s] || !A->shard_g[s].h) return -1;
        /* same layout as m->g: move every view by the distance between the buffers */
        NgLayerParams *h = A->shard_g[s].h;
        A->shard_g[s] = m->g;
        A->shard_g[s].h = h;
        ptrdiff_t d = A->shard_grads[s] - m->grads;
        float **top[] = {&A->shard_g[s].wte, &A->shard_g[s].wpe, &A->shard_g[s].ln_f_w, &A->shard_g[s].ln_f_b,
                         &A->shard_g[s].lm_head_w, &A->shard_g[s].lm_head_b, &A->shard_g[s].bigram};
        for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) if (*top[i]) *top[i] += d;
        for (int l = 0; l < m->args.n_layer; l++) {
            h[l] = m->g.h[l];
            float **f = (float **)&h[l];
            for (size_t i = 0; i < sizeof(NgLayerParams) / sizeof(float *); i++) if (f[i]) f[i] += d;
        }
    }
    /* else: still zero, the reduction below clears it after adding it in */
    return 0;
}

int ng_gpt_backward(NgModel *m, float loss_scale) {
    const NgModelArgs *a = &m->args;
    NgActs *A = m->acts;
    if (!A || !A->has_targets) return ng_fail("backward called without a forward pass with targets");
    if (ng_model_alloc_grads(m) != 0) return -1;
    if (ng_model_bf16_refresh(m, 1) != 0) return -1;
    int T = m->T, S = A->n_shards;
    float p = m->training ? a->dropout : 0.0f;
    for (int s = 1; s < S; s++) if (shard_grads(m, s) != 0) return -1;
    int total = count_targets(A->targets, (size_t)m->B * T);
    if (S == 1) backward_shard(m, 0, 1, T, p, total, loss_scale);   /* no team: see ng_gpt_forward */
    else {
        #pragma omp parallel for schedule(static, 1) num_threads(S)
        for (int s = 0; s < S; s++) backward_shard(m, s, S, T, p, total, loss_scale);
    }
    A->has_targets = 0;                       /* the logits now hold gradients */
    if (S > 1) {                              /* g += shard 1, shard 2, ... (cleared on the way) */
        size_t n = m->num_params;
        #pragma omp parallel num_threads(ng_team_want())
        {
            size_t lo, hi;
            ng_thread_share(n, 16, &lo, &hi);
            for (int s = 1; s < S; s++) {
                float *restrict g = m->grads + lo, *restrict sg = A->shard_grads[s] + lo;
                #pragma omp simd
                for (size_t i = 0; i < hi - lo; i++) { g[i] += sg[i]; sg[i] = 0.0f; }
            }
        }
    }
    return 0;
}

/* incremental inference (ng_model_decode): see nanogpt.h */
int ng_gpt_decode(NgModel *m, const int *tokens, int n, int pos0) {
    const NgModelArgs *a = &m->args;
    int C = a->n_embd, V = a->vocab_size, T = a->block_size, NH = a->n_head;
    if (n <= 0 || pos0 < 0 || pos0 + n > T) return ng_fail("decode: positions %d..%d outside the block of %d", pos0, pos0 + n - 1, T);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V) return ng_fail("token id %d out of range [0, %d)", tokens[i], V);
    NgActs *A = m->acts;
    if (!A || A->decode_rows < (size_t)n) {       /* training's buffers serve when they are there */
        if (ng_model_alloc_decode_acts(m, (size_t)n) != 0) return -1;
        A = m->acts;
    }
    if (ng_model_bf16_refresh(m, 0) != 0) return -1;
    if (!A->kv_cache) {
        A->kv_cache = ng_aligned_alloc_uninit(sizeof(float) * (size_t)a->n_layer * 2 * T * C, "the KV cache");
        if (!A->kv_cache) return -1;
    }
    m->B = 1; m->T = n;
    A->has_targets = 0;
    const NgParams *w = &m->p;
    float *x = A->encoded;                                  /* (n, C) rows of the residual stream */
    for (int r = 0; r < n; r++)
        for (int c = 0; c < C; c++) x[(size_t)r * C + c] = w->wte[(size_t)tokens[r] * C + c] + w->wpe[(size_t)(pos0 + r) * C + c];
    BlockActs *b = &A->h[0];                                /* block 0's buffers serve every layer */
    for (int l = 0; l < a->n_layer; l++) {
        const NgLayerParams *lw = &w->h[l];
        float *kc = A->kv_cache + (size_t)l * 2 * T * C, *vc = kc + (size_t)T * C;
        ng_layernorm_forward(b->ln_1, NULL, NULL, x, lw->ln_1_w, lw->ln_1_b, n, C);
        ng_matmul_forward(b->qkv, b->ln_1, lw->c_attn_w, WB(lw->c_attn_w), lw->c_attn_b, n, C, 3 * C);
        for (int r = 0; r < n; r++) {
            memcpy(kc + (size_t)(pos0 + r) * C, b->qkv + (size_t)r * 3 * C + C, sizeof(float) * C);
            memcpy(vc + (size_t)(pos0 + r) * C, b->qkv + (size_t)r * 3 * C + 2 * C, sizeof(float) * C);
        }
        /* Only the last row's logits are wanted: the last block needs the keys and values of
         * every row (for the cache, above) but the rest of itself only for the last row. */
        int r0 = l == a->n_layer - 1 ? n - 1 : 0, nr = n - r0;
        float *xr = x + (size_t)r0 * C;
        if (pos0 == 0 && r0 == 0) ng_attention_forward(b->atty, b->att_lse, b->qkv, 1, n, C, NH, 0.0f, 0, 0);   /* a fresh window (fp32, as decoding) */
        else ng_attention_decode(b->atty, b->qkv + (size_t)r0 * 3 * C, kc, vc, nr, pos0 + r0, C, NH);
        ng_matmul_forward(A->proj, b->atty, lw->attn_proj_w, WB(lw->attn_proj_w), lw->attn_proj_b, nr, C, C);
        ng_residual_forward(xr, xr, A->proj, (size_t)nr * C);
        ng_layernorm_forward(b->ln_2, NULL, NULL, xr, lw->ln_2_w, lw->ln_2_b, nr, C);
        ng_matmul_forward(b->fch, b->ln_2, lw->c_fc_w, WB(lw->c_fc_w), lw->c_fc_b, nr, C, 4 * C);
        act_forward(a, b->fch_gelu, b->fch, (size_t)nr * 4 * C);
        ng_matmul_forward(A->proj, b->fch_gelu, lw->mlp_proj_w, WB(lw->mlp_proj_w), lw->mlp_proj_b, nr, 4 * C, C);
        ng_residual_forward(xr, xr, A->proj, (size_t)nr * C);
    }
    ng_layernorm_forward(A->last, NULL, NULL, x + (size_t)(n - 1) * C, w->ln_f_w, w->ln_f_b, 1, C);
    ng_matmul_forward(A->logits, A->last, lm_head(w), WB(lm_head(w)), w->lm_head_b, 1, C, V);
    return 0;
}

/* ---- batched decoding: several sequences, each with its own KV cache, one step together ---- */

struct NgDecoder {
    int n_slots, L, T, C, V;
    float **kv;                            /* [n_slots]: per layer (T, C) keys then values, on first use */
    int *len;                              /* positions cached in each slot */
    float *x, *ln, *qkv, *atty, *proj, *fch, *fch_gelu;   /* (S,C) (S,C) (S,3C) (S,C) (S,C) (S,4C) (S,4C) */
    float *logits;                         /* (S,V) in the order of the last call's sequences */
};

NgDecoder *ng_decoder_new(const NgModel *m, int n_slots) {
    const NgModelArgs *a = &m->args;
    if (n_slots <= 0) { ng_fail("decoder: %d sequences", n_slots); return NULL; }
    NgDecoder *d = ng_calloc(1, sizeof *d, "the decoder");
    if (!d) return NULL;
    int gpt = a->model_type == NG_MODEL_GPT;
    size_t S = (size_t)n_slots, C = gpt ? (size_t)a->n_embd : 0;
    d->n_slots = n_slots; d->L = gpt ? a->n_layer : 0; d->T = a->block_size; d->C = (int)C; d->V = a->vocab_size;
    d->kv = ng_calloc(S, sizeof(float *), "the decoder");
    d->len = ng_calloc(S, sizeof(int), "the decoder");
    d->x = ng_aligned_alloc(sizeof(float) * (S * 16 * C + S * (size_t)d->V), "the decoder's activations");
    if (!d->kv || !d->len || !d->x) { ng_decoder_free(d); return NULL; }
    d->ln = d->x + S * C; d->qkv = d->ln + S * C; d->atty = d->qkv + S * 3 * C; d->proj = d->atty + S * C;
    d->fch = d->proj + S * C; d->fch_gelu = d->fch + S * 4 * C; d->logits = d->fch_gelu + S * 4 * C;
    return d;
}

void ng_decoder_free(NgDecoder *d) {
    if (!d) return;
    if (d->kv) for (int s = 0; s < d->n_slots; s++) free(d->kv[s]);
    free(d->kv); free(d->len); free(d->x); free(d);
}

int ng_decoder_slots(const NgDecoder *d) { return d->n_slots; }
int ng_decoder_len(const NgDecoder *d, int slot) { return d->len[slot]; }
const float *ng_decoder_logits(const NgDecoder *d, int k) { return d->logits + (size_t)k * d->V; }

static float *slot_cache(NgDecoder *d, int s) {
    if (!d->kv[s]) d->kv[s] = ng_aligned_alloc_uninit(sizeof(float) * (size_t)d->L * 2 * d->T * d->C, "a KV cache");
    return d->kv[s];
}

/* ng_model_decode from position 0 (the prompt, or a cropped window), its cache kept in slot */
int ng_decoder_prefill(NgModel *m, NgDecoder *d, int slot, const int *tokens, int n) {
    if (slot < 0 || slot >= d->n_slots) return ng_fail("decoder: no sequence %d", slot);
    d->len[slot] = 0;
    if (ng_model_decode(m, tokens, n, 0) != 0) return -1;
    memcpy(d->logits, ng_model_logits(m), sizeof(float) * d->V);
    if (d->L > 0) {
        float *kv = slot_cache(d, slot);
        if (!kv) return -1;
        size_t TC = (size_t)d->T * d->C;
        for (int l = 0; l < 2 * d->L; l++) memcpy(kv + l * TC, m->acts->kv_cache + l * TC, sizeof(float) * n * d->C);
    }
    d->len[slot] = n;
    return 0;
}

int ng_decoder_copy(NgDecoder *d, int from, int to) {
    if (from < 0 || to < 0 || from >= d->n_slots || to >= d->n_slots) return ng_fail("decoder: no sequence %d or %d", from, to);
    if (from == to) return 0;
    if (d->L > 0) {
        float *src = d->kv[from], *dst = slot_cache(d, to);
        if (!dst) return -1;
        size_t TC = (size_t)d->T * d->C;
        for (int l = 0; src && l < 2 * d->L; l++) memcpy(dst + l * TC, src + l * TC, sizeof(float) * d->len[from] * d->C);
    }
    d->len[to] = d->len[from];
    return 0;
}

/* One position for each of n sequences: tokens[k] goes at the next position of slots[k].
 * Every row is computed as ng_model_decode computes a lone position (ng_matmul_forward_rows,
 * attention per sequence), so each sequence gets bitwise the logits it would get alone; the
 * weights are read once for all n. Logits (n,V) in ng_decoder_logits(d, k). */
static int decode_batch(NgModel *m, NgDecoder *d, int n, const int *slots, const int *tokens);

int ng_model_decode_batch(NgModel *m, NgDecoder *d, int n, const int *slots, const int *tokens) {
    int team = ng_team_enter(m->threads);           /* the model's team size, as its other calls */
    int rc = decode_batch(m, d, n, slots, tokens);
    ng_team_leave(team);
    return rc;
}

/* out(n,OC) = inp(n,C) @ w^T + b for a decoding step, each row computed as it would be alone:
 * in float32 on the weights, in bfloat16 on their packed bf16 copy (half the bytes per token) */
static void decode_linear(const NgModel *m, float *out, const float *inp, const float *w, const float *b, int n, int C, int OC) {
    ng_matmul_forward_rows(out, inp, w, WB(w), b, n, C, OC);
}

static int decode_batch(NgModel *m, NgDecoder *d, int n, const int *slots, const int *tokens) {
    const NgModelArgs *a = &m->args;
    int C = d->C, V = d->V, T = d->T, NH = a->n_head;
    if (n <= 0 || n > d->n_slots) return ng_fail("decoder: %d sequences in a step of at most %d", n, d->n_slots);
    for (int k = 0; k < n; k++) {
        int s = slots[k];
        if (s < 0 || s >= d->n_slots) return ng_fail("decoder: no sequence %d", s);
        if (d->len[s] < 1 || d->len[s] >= T) return ng_fail("decode: position %d outside the block of %d (prefill first)", d->len[s], T);
        if (tokens[k] < 0 || tokens[k] >= V) return ng_fail("token id %d out of range [0, %d)", tokens[k], V);
        for (int j = 0; j < k; j++) if (slots[j] == s) return ng_fail("decoder: sequence %d twice in one step", s);
    }
    if (a->model_type != NG_MODEL_GPT) {                   /* the bigram model has no context */
        for (int k = 0; k < n; k++) {
            if (ng_model_forward(m, tokens + k, NULL, 1, 1) != 0) return -1;
            memcpy(d->logits + (size_t)k * V, ng_model_logits(m), sizeof(float) * V);
            d->len[slots[k]]++;
        }
        return 0;
    }
    if (ng_model_bf16_refresh(m, 0) != 0) return -1;
    const NgParams *w = &m->p;
    float *x = d->x;                                       /* (n,C) one residual row per sequence */
    for (int k = 0; k < n; k++)
        for (int c = 0; c < C; c++)
            x[(size_t)k * C + c] = w->wte[(size_t)tokens[k] * C + c] + w->wpe[(size_t)d->len[slots[k]] * C + c];
    size_t TC = (size_t)T * C;
    for (int l = 0; l < a->n_layer; l++) {
        const NgLayerParams *lw = &w->h[l];
        ng_layernorm_forward(d->ln, NULL, NULL, x, lw->ln_1_w, lw->ln_1_b, n, C);
        decode_linear(m, d->qkv, d->ln, lw->c_attn_w, lw->c_attn_b, n, C, 3 * C);
        for (int k = 0; k < n; k++) {
            int s = slots[k], pos = d->len[s];
            float *kc = d->kv[s] + (size_t)l * 2 * TC, *vc = kc + TC;
            const float *q = d->qkv + (size_t)k * 3 * C;
            memcpy(kc + (size_t)pos * C, q + C, sizeof(float) * C);
            memcpy(vc + (size_t)pos * C, q + 2 * C, sizeof(float) * C);
            ng_attention_decode(d->atty + (size_t)k * C, q, kc, vc, 1, pos, C, NH);
        }
        decode_linear(m, d->proj, d->atty, lw->attn_proj_w, lw->attn_proj_b, n, C, C);
        ng_residual_forward(x, x, d->proj, (size_t)n * C);
        ng_layernorm_forward(d->ln, NULL, NULL, x, lw->ln_2_w, lw->ln_2_b, n, C);
        decode_linear(m, d->fch, d->ln, lw->c_fc_w, lw->c_fc_b, n, C, 4 * C);
        act_forward(a, d->fch_gelu, d->fch, (size_t)n * 4 * C);
        decode_linear(m, d->proj, d->fch_gelu, lw->mlp_proj_w, lw->mlp_proj_b, n, 4 * C, C);
        ng_residual_forward(x, x, d->proj, (size_t)n * C);
    }
    ng_layernorm_forward(d->ln, NULL, NULL, x, w->ln_f_w, w->ln_f_b, n, C);
    decode_linear(m, d->logits, d->ln, lm_head(w), w->lm_head_b, n, C, V);
    for (int k = 0; k < n; k++) d->len[slots[k]]++;
    return 0;
}
