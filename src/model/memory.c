/* memory.c -- how much memory a model needs, before anything is allocated.
 *
 * The same sizes the allocations use: the parameter table gives the parameter count (and so
 * the gradients and the two AdamW moments), ng_model_acts_floats the one activation buffer
 * gpt.c allocates for B*T rows, ng_model_shard_count how many batch shards (each with its
 * own gradient copy) a training step of that shape runs.
 */
#include "model/model.h"
#include "base/util.h"
#include <string.h>

/* floats in the activation buffer of ng_model_alloc_acts for N = B*T rows */
size_t ng_model_acts_floats(const NgModelArgs *a, size_t N) {
    int gpt = a->model_type == NG_MODEL_GPT;
    size_t C = gpt ? a->n_embd : 0, L = gpt ? a->n_layer : 0, V = a->vocab_size, NH = gpt ? a->n_head : 0;
    size_t per_block = N * C + 2 * N             /* ln_1, mean, rstd */
                     + N * 3 * C                 /* qkv */
                     + N * C + NH * N            /* atty, att_lse */
                     + N * C                     /* res_2 */
                     + N * C + 2 * N             /* ln_2, mean, rstd */
                     + 2 * N * 4 * C             /* fch, fch_gelu */
                     + N * C;                    /* res_3 */
    return N * C                                 /* encoded */
         + L * per_block
         + N * C + 2 * N                         /* ln_f, mean, rstd */
         + N * V + N                             /* logits, losses */
         + N * C + N * C                         /* last, proj */
         + 3 * N * C + 3 * N * C + 2 * 4 * N * C; /* dres dC dC2, d3C, d4C d4C2 */
}

/* batch shards of a training step on `threads` threads (see plan_shards in gpt.c): one per
 * thread while each keeps at least n_embd rows, else one shard with parallel kernels */
int ng_model_shard_count(const NgModelArgs *a, int B, int T, int threads, int shard_mode) {
    int S = threads;
    if (a->model_type != NG_MODEL_GPT) return 1;
    if (S > B) S = B;
    if (S > 1 && (shard_mode == 1 || (shard_mode == 0 && (long long)B * T / S < a->n_embd))) S = 1;
    if (S > NG_MAX_SHARDS) S = NG_MAX_SHARDS;
    return S < 1 ? 1 : S;
}

/* what the program itself holds besides the model: code, libraries, stacks (measured as the
 * peak RSS of `bench` on a model of a few kilobytes), and per thread the matmul's packing
 * scratch (KC x NC and MC x KC floats) */
#define NG_RUNTIME_BYTES (4.5 * 1024 * 1024)
#define NG_THREAD_SCRATCH_FLOATS (256.0 * 1536 + 96.0 * 256)

void ng_model_memory_estimate(const NgModelArgs *a, int B, int T, int threads, NgMemory *mem) {
    memset(mem, 0, sizeof *mem);
    NgTensor *t = NULL;                          /* the tensor list only, no buffers */
    int n = ng_model_list_tensors(a, &t);
    if (n > 0) mem->params = t[n - 1].offset + t[n - 1].numel;
    free(t);
    mem->grads = mem->params;
    mem->adam = 2 * mem->params;
    mem->acts = ng_model_acts_floats(a, (size_t)B * T);
    mem->shards = ng_model_shard_count(a, B, T, threads, 0);   /* the default shard mode */
    mem->shard_grads = (size_t)(mem->shards - 1) * mem->params;
    mem->batch_ints = 4 * (size_t)B * T;         /* x, y and the model's copies of idx, targets */
    mem->runtime_bytes = NG_RUNTIME_BYTES + NG_THREAD_SCRATCH_FLOATS * sizeof(float) * (threads > 0 ? threads : 1);
}

/* bytes of a training run with every float stored in `float_bytes` (4: fp32, 2: bf16) */
double ng_memory_bytes(const NgMemory *mem, int float_bytes) {
    double floats = (double)mem->params + mem->grads + mem->adam + mem->acts + mem->shard_grads;
    return floats * float_bytes + (double)mem->batch_ints * sizeof(int) + mem->runtime_bytes;
}
