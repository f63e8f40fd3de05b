/* model.h -- internal model functions shared by params.c, gpt.c, bigram.c */
#ifndef NG_MODEL_H
#define NG_MODEL_H
#include "nanogpt.h"
#include <stddef.h>
int ng_model_alloc_grads(NgModel *m);
int ng_model_alloc_acts(NgModel *m, size_t N);   /* for up to N = B*T rows */
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
    size_t capacity;                       /* B*T the buffers were sized for */
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
    int b0[65];
    float *shard_grads[64];                /* [0] unused: shard 0 writes m->grads */
    NgParams shard_g[64];
    BlockActs *shard_h;                    /* [n_shards * L] block views of each shard */
    size_t shard_grads_size;
    /* KV cache of ng_model_decode: per layer (block_size, C) keys then values */
    float *kv_cache;
};


void ng_model_free_acts(NgModel *m);
int ng_gpt_forward(NgModel *m, const int *idx, const int *targets, int B, int T);
int ng_gpt_backward(NgModel *m, float loss_scale);
int ng_bigram_forward(NgModel *m, const int *idx, const int *targets, int B, int T);
int ng_bigram_backward(NgModel *m, float loss_scale);
#endif
