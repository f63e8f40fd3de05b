/* model.h -- internal: the parameter table and the model functions shared by params.c,
 * model.c, gpt.c, bigram.c, optim.c and generate.c */
#ifndef NG_MODEL_H
#define NG_MODEL_H
#include "nanogpt.h"
#include "kernels/kernels.h"
#include <stddef.h>

/* The parameter table: one row per tensor (per-layer rows have {l} in the name). */
typedef enum { NG_DIM_1 = 0, NG_DIM_V, NG_DIM_T, NG_DIM_C, NG_DIM_3C, NG_DIM_4C } NgDim;
/* NORMAL: N(0,0.02); NORMAL_PROJ: N(0,0.02/sqrt(2L)) (c_proj); UNIT: N(0,1) (nn.Embedding default, bigram) */
typedef enum { NG_INIT_NORMAL, NG_INIT_NORMAL_PROJ, NG_INIT_ZERO, NG_INIT_ONE, NG_INIT_UNIT } NgInit;
/* when a row's tensor exists: always, with bias, with bias and qkv_bias, untied, untied with bias */
typedef enum { NG_ALWAYS = 0, NG_IF_BIAS, NG_IF_QKV_BIAS, NG_IF_UNTIED, NG_IF_UNTIED_BIAS } NgPresence;
typedef struct {
    const char *name;                /* nanoGPT state_dict name, e.g. "transformer.h.{l}.attn.c_attn.weight" */
    int model_type;
    int per_layer;                   /* offset is into NgLayerParams, else into NgParams */
    int presence;                    /* NgPresence: when the tensor exists */
    NgDim dims[2];                   /* shape, NG_DIM_1 = absent trailing dim */
    NgInit init;
    size_t offset;
} NgParamSpec;
extern const NgParamSpec ng_param_table[]; /* terminated by name == NULL */

#define NG_MAX_SHARDS 64                   /* batch shards of a training step (threads used by it) */
/* Limits checked where values enter (the config, a checkpoint), so that every size and count
 * derived from them fits its type: iterations (iter + 1, it << 16 as a seed), the tokens of a
 * micro-batch (B*T in int), the tokens generated per sample (ids buffer). */
#define NG_MAX_ITERS (1 << 30)
#define NG_MAX_BATCH_TOKENS (1 << 24)
#define NG_MAX_NEW_TOKENS (1 << 28)
int ng_model_alloc_grads(NgModel *m);              /* params.c */
int ng_model_alloc_acts(NgModel *m, size_t N);      /* acts.c: for up to N = B*T rows */
/* acts.c: decode's smaller set for up to n rows (the residual rows, one block's buffers that
 * every layer reuses, one row of logits); the KV cache is kept */
int ng_model_alloc_decode_acts(NgModel *m, size_t n);
/* data parallelism (optim.c): a rank's share of the gradient norm and its share of the step */
double ng_grad_sumsq(const NgModel *m, size_t r0, size_t r1);
int ng_optimizer_step_range(NgModel *m, NgAdamW *opt, float grad_clip, float norm, size_t r0, size_t r1, float *mm, float *vv);

typedef struct {
    float *ln_1, *ln_1_mean, *ln_1_rstd;   /* (B,T,C), (B,T), (B,T) */
    float *qkv;                            /* (B,T,3C) */
    float *atty;                           /* (B,T,C) attention output, heads side by side */
    float *att_lse;                        /* (B,NH,T) */
    float *res_2;                          /* (B,T,C) residual after attention */
    float *ln_2, *ln_2_mean, *ln_2_rstd;   /* (B,T,C), (B,T), (B,T) */
    float *fch, *fch_gelu;                 /* (B,T,4C) */
    float *res_3;                          /* (B,T,C) residual after the MLP = block output */
} BlockActs;

struct NgActs {
    size_t capacity;                       /* B*T the buffers were sized for (0: decode's set) */
    size_t decode_rows;                    /* rows ng_gpt_decode may take (capacity, or decode's set) */
    float *buffer;                         /* everything below points into it */
    float *encoded;                        /* (B,T,C) block 0 input */
    BlockActs *h;                          /* [L] */
    float *ln_f, *ln_f_mean, *ln_f_rstd;   /* (B,T,C), (B,T), (B,T) */
    float *logits;                         /* (B,T,V) (only (B,V) at inference) */
    float *losses;                         /* (B,T) */
    float *last;                           /* (B,C) ln_f rows of the last positions (inference) */
    float *proj;                           /* (B,T,C) scratch: c_proj outputs before the residual */
    /* backward scratch */
    float *dres, *dC, *dC2;                /* (B,T,C) */
    float *d3C;                            /* (B,T,3C) */
    float *d4C, *d4C2;                     /* (B,T,4C) */
    int *targets;                          /* (B,T) copy of the last targets */
    int *idx;                              /* (B,T) copy of the last inputs */
    int has_targets;
    /* batch shards: the training step splits B across threads; shard s owns rows
     * [b0[s], b0[s+1]) of every activation above and (s >= 1) its own gradient buffer */
    int n_shards;
    int b0[NG_MAX_SHARDS + 1];
    float *shard_grads[NG_MAX_SHARDS];              /* [0] unused: shard 0 writes m->grads */
    NgParams shard_g[NG_MAX_SHARDS];
    BlockActs *shard_h;                    /* [n_shards * L] block views of each shard */
    size_t shard_grads_size;
    /* KV cache of ng_model_decode: per layer (block_size, C) keys then values */
    float *kv_cache;
    /* called by the backward (one shard only) when grads[from .. num_params) are final for this
     * backward call, `from` decreasing: the blocks' gradients are made last block first */
    void (*grad_hook)(void *ctx, size_t from);
    void *grad_hook_ctx;
};


/* params.c: the tensor list and the flat buffers (ng_model_create/free in model.c add the rest) */
int ng_params_create(NgModel *m, const NgModelArgs *args);
/* The tensors of a model with these args in state_dict order (per-layer rows grouped by
 * layer), with their offsets in the flat buffer; fills out[] when not NULL; returns the count. */
int ng_params_list(const NgModelArgs *a, NgTensor *out);
void ng_params_free(NgModel *m);
void ng_model_free_acts(NgModel *m);                /* acts.c */
/* bfloat16 (precision.c): makes the bf16 weight copy current (forward packs; with backward
 * also those of dinp = dout w) when m->dtype is NG_BF16, else does nothing */
int ng_model_bf16_refresh(NgModel *m, int backward);
/* the bf16 copy of the weight matrix at w (a pointer into m->params), NULL in float32 */
const NgWeightBf16 *ng_model_weight_bf16(const NgModel *m, const float *w);
/* The optimizer's step with the bf16 copy made on the way, while each block of rows is in
 * cache: begin returns 1 when the model has bf16 weights to pack (0: none, -1: out of memory);
 * ng_model_bf16_rows(m, i) is 0 for a tensor without a bf16 copy, else the block of rows
 * (NG_BF16_ROWS) to pack at a time: ng_model_bf16_pack_rows(m, i, r0, r1) packs rows [r0, r1)
 * of tensor i in both directions (r0 a multiple of the block, r1 one or the end); end marks
 * the copy current for the new params_version. */
#define NG_BF16_ROWS NG_BF16_NR   /* a strip of the forward packing */
int ng_model_bf16_begin_update(NgModel *m);
int ng_model_bf16_rows(const NgModel *m, int i);
void ng_model_bf16_pack_rows(NgModel *m, int i, size_t r0, size_t r1);
void ng_model_bf16_end_update(NgModel *m);
void ng_model_bf16_free(NgModel *m);
size_t ng_model_acts_floats(const NgModelArgs *a, size_t N);            /* memory.c */
int ng_model_shard_count(const NgModelArgs *a, int B, int T, int threads, int shard_mode);

/* memory.c: the parameter count of args (without building the model), the memory this process
 * can have (*what names the limit), and the check run before a model's buffers are allocated:
 * parameters, (training) gradients, moments and shard copies, activations of B x T tokens. */
double ng_model_param_count(const NgModelArgs *a);
double ng_memory_available(const char **what);
/* finite.c: every parameter (and AdamW moment, when loaded) finite, else the error names the
 * first tensor holding NaN/Inf; run on every model that comes from a file */
int ng_model_check_finite(const NgModel *m, const char *path);
int ng_model_check_memory(const NgModelArgs *a, int B, int T, int training, int threads);
int ng_gpt_forward(NgModel *m, const int *idx, const int *targets, int B, int T);
int ng_gpt_backward(NgModel *m, float loss_scale);
/* the grad_hook of the next backward (after the forward; NULL to remove) */
void ng_model_set_grad_hook(NgModel *m, void (*hook)(void *ctx, size_t from), void *ctx);
int ng_gpt_decode(NgModel *m, const int *tokens, int n, int pos0);
int ng_bigram_forward(NgModel *m, const int *idx, const int *targets, int B, int T);
int ng_bigram_backward(NgModel *m, float loss_scale);
#endif
