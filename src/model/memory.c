/* memory.c -- what a model will need, checked before anything is allocated.
 *
 * The estimate adds the parameters, (training) their gradients, the AdamW moments and one
 * gradient copy per extra batch shard, the activations of B*T rows (ng_model_alloc_acts'
 * layout) and the batches, and compares the total with what this process can have: physical
 * memory, ulimit -v (RLIMIT_AS), RLIMIT_DATA and the cgroup's memory.max. A model that cannot
 * fit fails in a millisecond instead of zero-filling gigabytes first (or being OOM-killed). */
#include "model/model.h"
#include "base/util.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

double ng_model_param_count(const NgModelArgs *a) {
    double V = a->vocab_size, C = a->n_embd, L = a->n_layer, T = a->block_size;
    if (a->model_type == NG_MODEL_BIGRAM) return V * V;
    double per_layer = 12.0 * C * C + (a->bias ? 13.0 : 2.0) * C;   /* 4 matrices, 2 LayerNorms, biases */
    return V * C * (a->untied_head ? 2.0 : 1.0) + T * C + L * per_layer + (a->bias ? 2.0 : 1.0) * C;
}

/* floats of the activations for N rows: ng_model_alloc_acts' buffer */
static double act_floats(const NgModelArgs *a, double N) {
    int gpt = a->model_type == NG_MODEL_GPT;
    double C = gpt ? a->n_embd : 0, L = gpt ? a->n_layer : 0, V = a->vocab_size, NH = a->n_head;
    return N * (C + L * (16.0 * C + 4.0 + NH) + C + 3.0 + V + 2.0 * C + 14.0 * C);
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

int ng_model_check_memory(const NgModelArgs *a, int B, int T, int training, int threads) {
    double P = ng_model_param_count(a), N = (double)B * T;
    int S = threads > 0 ? threads : 1;
    if (S > B) S = B;
    double params = 4.0 * P;
    double optim = training ? 4.0 * P * (3.0 + (S > 1 ? S - 1 : 0)) : 0.0;   /* grads, m, v, shard grads */
    double acts = 4.0 * act_floats(a, N) + 2.0 * 4.0 * N;                   /* + the batches x, y */
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
