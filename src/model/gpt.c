/* gpt.c -- nanoGPT's GPT: forward and backward over the blocks.
 *
 *   x = drop(wte[idx] + wpe[t])                                  (B,T,C)
 *   for each block:  x = x + drop(c_proj(attn(ln_1(x))))
 *                    x = x + drop(mlp_proj(gelu(c_fc(ln_2(x)))))
 *   logits = ln_f(x) @ wte^T                                     (B,T,V)
 *
 * Activations live in one buffer with named views (NgActs); the backward reuses a few
 * scratch buffers instead of keeping a gradient for every activation.
 */
#include "kernels/kernels.h"
#include "model/model.h"
#include "util.h"
#include <string.h>

int ng_all_logits = 0;

void ng_model_free_acts(NgModel *m) {
    if (!m->acts) return;
    free(m->acts->buffer); free(m->acts->h); free(m->acts->targets); free(m->acts->idx);
    free(m->acts);
    m->acts = NULL;
}

/* sizes every activation for N = B*T rows (any B, T with B*T <= N) in one allocation */
int ng_model_alloc_acts(NgModel *m, size_t N) {
    const NgModelArgs *a = &m->args;
    int gpt = a->model_type == NG_MODEL_GPT;
    size_t C = gpt ? a->n_embd : 0, L = gpt ? a->n_layer : 0, V = a->vocab_size, NH = a->n_head;
    ng_model_free_acts(m);
    NgActs *A = ng_calloc(1, sizeof(NgActs), "activations");
    if (!A) return -1;
    m->acts = A;
    size_t per_block = N * (C * 3 + 2 * 2) + N * 3 * C + N * C + NH * N + N * 4 * C * 2 + N * C;
    size_t total = N * C + L * per_block + N * C + 2 * N + N * V + N + N * C + N * C
                 + 3 * N * C + 3 * N * C + 2 * 4 * N * C;
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
    A->capacity = N;
    return 0;
}

/* the seed of one dropout site (embedding, or block l's attention/proj/mlp) */
static uint64_t site_seed(const NgModel *m, int l, int kind) {
    return ng_hash64(m->dropout_seed ^ ng_hash64(((uint64_t)(l + 1) << 8) | (uint64_t)kind));
}
enum { DROP_EMB, DROP_ATT, DROP_ATT_PROJ, DROP_MLP_PROJ };

int ng_gpt_forward(NgModel *m, const int *idx, const int *targets, int B, int T) {
    const NgModelArgs *a = &m->args;
    int C = a->n_embd, NH = a->n_head, V = a->vocab_size, N = B * T;
    float p = m->training ? a->dropout : 0.0f;
    NgActs *A = m->acts;
    if (!A || A->capacity < (size_t)N) {
        if (ng_model_alloc_acts(m, (size_t)N) != 0) return -1;
        A = m->acts;
    }
    memcpy(A->idx, idx, sizeof(int) * N);
    const NgParams *w = &m->p;

    encoder_forward(A->encoded, idx, w->wte, w->wpe, B, T, C);
    if (p > 0.0f) dropout_forward(A->encoded, A->encoded, (size_t)N * C, p, site_seed(m, -1, DROP_EMB));
    const float *x = A->encoded;
    for (int l = 0; l < a->n_layer; l++) {
        const NgLayerParams *lw = &w->h[l];
        BlockActs *b = &A->h[l];
        layernorm_forward(b->ln_1, b->ln_1_mean, b->ln_1_rstd, x, lw->ln_1_w, lw->ln_1_b, N, C);
        matmul_forward(b->qkv, b->ln_1, lw->c_attn_w, lw->c_attn_b, N, C, 3 * C);
        attention_forward(b->atty, b->att_lse, b->qkv, B, T, C, NH, p, site_seed(m, l, DROP_ATT));
        matmul_forward(A->proj, b->atty, lw->attn_proj_w, lw->attn_proj_b, N, C, C);
        if (p > 0.0f) dropout_forward(A->proj, A->proj, (size_t)N * C, p, site_seed(m, l, DROP_ATT_PROJ));
        residual_forward(b->res_2, x, A->proj, (size_t)N * C);
        layernorm_forward(b->ln_2, b->ln_2_mean, b->ln_2_rstd, b->res_2, lw->ln_2_w, lw->ln_2_b, N, C);
        matmul_forward(b->fch, b->ln_2, lw->c_fc_w, lw->c_fc_b, N, C, 4 * C);
        gelu_forward(b->fch_gelu, b->fch, (size_t)N * 4 * C, a->gelu_tanh);
        matmul_forward(A->proj, b->fch_gelu, lw->mlp_proj_w, lw->mlp_proj_b, N, 4 * C, C);
        if (p > 0.0f) dropout_forward(A->proj, A->proj, (size_t)N * C, p, site_seed(m, l, DROP_MLP_PROJ));
        residual_forward(b->res_3, b->res_2, A->proj, (size_t)N * C);
        x = b->res_3;
    }
    layernorm_forward(A->ln_f, A->ln_f_mean, A->ln_f_rstd, x, w->ln_f_w, w->ln_f_b, N, C);

    A->has_targets = targets != NULL;
    if (targets) {
        memcpy(A->targets, targets, sizeof(int) * N);
        matmul_forward(A->logits, A->ln_f, w->wte, NULL, N, C, V);          /* lm_head = wte */
        m->loss = crossentropy_forward(A->losses, A->logits, targets, N, V);
    } else if (ng_all_logits) {
        matmul_forward(A->logits, A->ln_f, w->wte, NULL, N, C, V);
    } else {
        /* inference: only the last position's logits, (B,V) */
        for (int bi = 0; bi < B; bi++)
            memcpy(A->last + (size_t)bi * C, A->ln_f + ((size_t)bi * T + T - 1) * C, sizeof(float) * C);
        matmul_forward(A->logits, A->last, w->wte, NULL, B, C, V);
    }
    return 0;
}

int ng_gpt_backward(NgModel *m, float loss_scale) {
    const NgModelArgs *a = &m->args;
    NgActs *A = m->acts;
    if (!A || !A->has_targets) return ng_fail("backward called without a forward pass with targets");
    if (ng_model_alloc_grads(m) != 0) return -1;
    int B = m->B, T = m->T, C = a->n_embd, NH = a->n_head, V = a->vocab_size, N = B * T;
    float p = m->training ? a->dropout : 0.0f;
    const NgParams *w = &m->p;
    NgParams *g = &m->g;
    size_t NC = (size_t)N * C;

    /* classifier: dlogits in place over the logits, then into ln_f and the tied wte */
    crossentropy_backward(A->logits, A->logits, A->targets, N, V, loss_scale);
    memset(A->dC, 0, NC * sizeof(float));
    matmul_backward(A->dC, g->wte, NULL, A->logits, A->ln_f, w->wte, N, C, V);
    memset(A->dres, 0, NC * sizeof(float));
    const float *x_last = a->n_layer > 0 ? A->h[a->n_layer - 1].res_3 : A->encoded;
    layernorm_backward(A->dres, g->ln_f_w, g->ln_f_b, A->dC, x_last, w->ln_f_w, A->ln_f_mean, A->ln_f_rstd, N, C);
    A->has_targets = 0;                       /* the logits now hold gradients */

    for (int l = a->n_layer - 1; l >= 0; l--) {
        const NgLayerParams *lw = &w->h[l];
        NgLayerParams *lg = &g->h[l];
        BlockActs *b = &A->h[l];
        const float *x = l > 0 ? A->h[l - 1].res_3 : A->encoded;
        /* MLP branch: res_3 = res_2 + drop(mlp_proj(gelu(c_fc(ln_2(res_2))))) */
        const float *dproj = A->dres;
        if (p > 0.0f) {
            memset(A->dC2, 0, NC * sizeof(float));
            dropout_backward(A->dC2, A->dres, NC, p, site_seed(m, l, DROP_MLP_PROJ));
            dproj = A->dC2;
        }
        memset(A->d4C, 0, NC * 4 * sizeof(float));
        matmul_backward(A->d4C, lg->mlp_proj_w, lg->mlp_proj_b, dproj, b->fch_gelu, lw->mlp_proj_w, N, 4 * C, C);
        memset(A->d4C2, 0, NC * 4 * sizeof(float));
        gelu_backward(A->d4C2, b->fch, A->d4C, NC * 4, a->gelu_tanh);
        memset(A->dC, 0, NC * sizeof(float));
        matmul_backward(A->dC, lg->c_fc_w, lg->c_fc_b, A->d4C2, b->ln_2, lw->c_fc_w, N, C, 4 * C);
        layernorm_backward(A->dres, lg->ln_2_w, lg->ln_2_b, A->dC, b->res_2, lw->ln_2_w, b->ln_2_mean, b->ln_2_rstd, N, C);
        /* attention branch: res_2 = x + drop(attn_proj(attn(c_attn(ln_1(x))))) */
        dproj = A->dres;
        if (p > 0.0f) {
            memset(A->dC2, 0, NC * sizeof(float));
            dropout_backward(A->dC2, A->dres, NC, p, site_seed(m, l, DROP_ATT_PROJ));
            dproj = A->dC2;
        }
        memset(A->dC, 0, NC * sizeof(float));
        matmul_backward(A->dC, lg->attn_proj_w, lg->attn_proj_b, dproj, b->atty, lw->attn_proj_w, N, C, C);
        memset(A->d3C, 0, NC * 3 * sizeof(float));
        attention_backward(A->d3C, A->dC, b->qkv, b->atty, b->att_lse, B, T, C, NH, p, site_seed(m, l, DROP_ATT));
        memset(A->dC, 0, NC * sizeof(float));
        matmul_backward(A->dC, lg->c_attn_w, lg->c_attn_b, A->d3C, b->ln_1, lw->c_attn_w, N, C, 3 * C);
        layernorm_backward(A->dres, lg->ln_1_w, lg->ln_1_b, A->dC, x, lw->ln_1_w, b->ln_1_mean, b->ln_1_rstd, N, C);
    }
    const float *demb = A->dres;
    if (p > 0.0f) {
        memset(A->dC2, 0, NC * sizeof(float));
        dropout_backward(A->dC2, A->dres, NC, p, site_seed(m, -1, DROP_EMB));
        demb = A->dC2;
    }
    encoder_backward(g->wte, g->wpe, demb, A->idx, B, T, C);
    return 0;
}

/* ---- dispatch over model types ---- */

int ng_model_forward(NgModel *m, const int *idx, const int *targets, int B, int T) {
    if (B <= 0 || T <= 0) return ng_fail("forward: empty batch (B=%d, T=%d)", B, T);
    if (T > m->args.block_size) return ng_fail("cannot forward sequence of length %d, block size is only %d", T, m->args.block_size);
    for (size_t i = 0; i < (size_t)B * T; i++)
        if (idx[i] < 0 || idx[i] >= m->args.vocab_size) return ng_fail("token id %d out of range [0, %d)", idx[i], m->args.vocab_size);
    m->B = B; m->T = T;
    if (m->args.model_type == NG_MODEL_BIGRAM) return ng_bigram_forward(m, idx, targets, B, T);
    return ng_gpt_forward(m, idx, targets, B, T);
}

int ng_model_backward(NgModel *m, float loss_scale) {
    if (m->args.model_type == NG_MODEL_BIGRAM) return ng_bigram_backward(m, loss_scale);
    return ng_gpt_backward(m, loss_scale);
}

const float *ng_model_logits(const NgModel *m) {
    return m->acts ? m->acts->logits : NULL;
}
