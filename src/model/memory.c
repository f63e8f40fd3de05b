/* memory.c -- how much memory a model needs, known before anything is allocated, and the
 * check run before a model's buffers are allocated.
 *
 * One estimate (ng_model_memory_estimate) from the sizes the allocations use: the parameter
 * table gives the parameter count (and so the gradients and the two AdamW moments),
 * ng_model_acts_floats the one activation buffer acts.c allocates for B*T rows,
 * ng_model_shard_count how many batch shards (each with its own gradient copy) a training
 * step of that shape runs. `info` prints it; ng_model_check_memory compares it with what this
 * process can have (physical memory, ulimit -v (RLIMIT_AS), RLIMIT_DATA and the cgroup's
 * memory.max), so a model that cannot fit fails in a millisecond instead of zero-filling
 * gigabytes first (or being OOM-killed).
 */
#include "model/model.h"
#include "base/util.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* a cgroup v2 limit: "max" or a byte count (its size reads 0: read it, never stat it) */
static double cgroup_limit(void) {
    int fd = open("/sys/fs/cgroup/memory.max", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    return end != buf ? v : 0;
}

double ng_memory_available(const char **what) {
    double best = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    *what = "the machine's memory";
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < best) {
        best = (double)rl.rlim_cur; *what = "the address-space limit (ulimit -v)";
    }
    if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < best) {
        best = (double)rl.rlim_cur; *what = "the data-segment limit (ulimit -d)";
    }
    double cg = cgroup_limit();
    if (cg > 0 && cg < best) { best = cg; *what = "the cgroup's memory.max"; }
    return best;
}

static double gb(double bytes) { return bytes / 1e9; }

/* the parameter count of args, from the parameter table */
double ng_model_param_count(const NgModelArgs *a) {
    NgTensor *t = NULL;
    int n = ng_model_list_tensors(a, &t);
    double P = n > 0 ? (double)(t[n - 1].offset + t[n - 1].numel) : 0.0;
    free(t);
    return P;
}

int ng_model_check_memory(const NgModelArgs *a, int B, int T, int training, int threads) {
    NgMemory mem;
    ng_model_memory_estimate(a, B, T, threads > 0 ? threads : 1, &mem);
    double P = (double)mem.params;
    double params = 4.0 * P;
    double optim = training ? 4.0 * ((double)mem.grads + mem.adam + mem.shard_grads) : 0.0;   /* grads, m, v, shard grads */
    double acts = 4.0 * (double)mem.acts + (double)mem.batch_ints * sizeof(int);
    double total = params + optim + acts;
    const char *what;
    double have = ng_memory_available(&what);
    if (total <= have) return 0;
    char detail[160];
    if (training) snprintf(detail, sizeof detail, "parameters %.2f GB, gradients and AdamW moments %.2f GB, activations of %d x %d tokens %.2f GB",
                           gb(params), gb(optim), B, T, gb(acts));
    else snprintf(detail, sizeof detail, "parameters %.2f GB, activations of %d x %d tokens %.2f GB", gb(params), B, T, gb(acts));
    return ng_fail("the model (%.0f parameters) needs about %.2f GB (%s) but %s is %.2f GB", P, gb(total), detail, what, gb(have));
}
