/* bench.c -- `nanogpt bench`: timed training steps (forward, backward, clip, AdamW) on random
 * tokens with the same keys as train, or generation speed with --mode=sample.
 *
 * FLOPs per iteration = tokens * (6 * N + 12 * L * C * T), N = parameters without wpe,
 * as nanoGPT's estimate_mfu counts them (tokens = batch_size * block_size * grad. accumulation).
 */
#include "app/run.h"
#include "base/util.h"
#include "model/model.h"
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>


/* CPU seconds used by all threads of the process: on a shared machine, where the wall time
 * of an iteration depends on the other programs, this is the steadier measure of the work */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* the dataset's vocabulary (as train sees it) when there is a data/<dataset>; random tokens
 * need no dataset, and then GPT-2's padded 50304 */
int ng_config_vocab(const NgConfig *cfg, int *vocab_size) {
    char dir[NG_PATH_MAX];
    snprintf(dir, sizeof dir, "data/%s", cfg->dataset);
    struct stat st;
    if (stat(dir, &st) != 0) { *vocab_size = GPT2_PADDED_VOCAB; return 0; }
    NgTokenizer tok;
    int rc = ng_dataset_vocab(cfg, &tok, vocab_size);
    ng_tokenizer_free(&tok);
    return rc;
}

int ng_bench(const NgConfig *cfg) {
    if (ng_config_validate(cfg) != 0) return -1;
    int vocab_size;
    if (ng_config_vocab(cfg, &vocab_size) != 0) return -1;
    NgModelArgs a;
    ng_model_args_from_config(&a, cfg, vocab_size);
    NgModel m;
    if (ng_model_check_memory(&a, cfg->batch_size, cfg->block_size, strcmp(cfg->mode, "train") == 0,
                              cfg->threads > 0 ? cfg->threads : ng_get_threads()) != 0) return -1;
    if (ng_model_create(&m, &a) != 0) return -1;
    m.threads = cfg->threads;
    ng_model_init_weights(&m, (uint64_t)cfg->seed);
    if (ng_model_set_dtype(&m, cfg->dtype) != 0) { ng_model_free(&m); return -1; }
    int B = cfg->batch_size, T = cfg->block_size, G = cfg->gradient_accumulation_steps, V = a.vocab_size;
    int iters = cfg->bench_iters, warmup = 2;
    double *times = ng_malloc(sizeof(double) * (size_t)iters * 2, "timings"), *cpu = times + iters;
    int *x = ng_malloc(sizeof(int) * (size_t)B * T, "a batch"), *y = ng_malloc(sizeof(int) * (size_t)B * T, "a batch");
    if (!times || !x || !y) { ng_model_free(&m); free(times); free(x); free(y); return -1; }
    NgRng rng;
    ng_rng_seed(&rng, (uint64_t)cfg->seed);
    int rc = 0;
    printf("bench: mode %s, model %s, n_layer %d, n_head %d, n_embd %d, vocab_size %d, block_size %d, batch_size %d, "
           "gradient_accumulation_steps %d, threads %d, dtype %s\n", cfg->mode, cfg->model, a.n_layer, a.n_head, a.n_embd, V, T, B, G,
           cfg->threads > 0 ? cfg->threads : ng_get_threads(), cfg->dtype);
    ng_print_dtype(&m);
    if (strcmp(cfg->mode, "train") == 0) {
        NgAdamW opt = {.lr = cfg->learning_rate, .beta1 = cfg->beta1, .beta2 = cfg->beta2, .eps = 1e-8f,
                       .weight_decay = cfg->weight_decay, .decay_all = cfg->weight_decay_all};
        m.training = 1;
        ng_model_zero_grad(&m);
        for (int it = 0; it < warmup + iters && rc == 0; it++) {
            double t0 = ng_now(), c0 = cpu_now();
            for (int micro = 0; micro < G && rc == 0; micro++) {
                for (int i = 0; i < B * T; i++) { x[i] = (int)(ng_rng_u64(&rng) % V); y[i] = (int)(ng_rng_u64(&rng) % V); }
                m.dropout_seed = ng_rng_u64(&rng);
                rc = ng_model_forward(&m, x, y, B, T);
                if (rc == 0) rc = ng_model_backward(&m, 1.0f / G);
            }
            if (rc != 0) break;
            rc = ng_optimizer_step(&m, &opt, cfg->grad_clip, NULL);
            double dt = ng_now() - t0;
            printf("iter %d: loss %.4f, time %.2fms%s\n", it, m.loss, dt * 1000, it < warmup ? " (warm-up)" : "");
            if (it >= warmup) { times[it - warmup] = dt; cpu[it - warmup] = cpu_now() - c0; }
        }
        if (rc == 0) {
            qsort(times, iters, sizeof(double), cmp_double);
            double med = times[iters / 2], tokens = (double)B * T * G;
            double flops = ng_model_flops_per_token(&a, T) * tokens;
            printf("ms/iter: median %.2f, min %.2f, max %.2f\n", med * 1000, times[0] * 1000, times[iters - 1] * 1000);
            qsort(cpu, iters, sizeof(double), cmp_double);
            printf("cpu ms/iter (all threads): median %.2f, min %.2f\n", cpu[iters / 2] * 1000, cpu[0] * 1000);
            printf("tokens/s: %.0f\n", tokens / med);
            printf("GFLOP/s: %.1f (%.3f GFLOP per iteration = tokens * (6N + 12 L C T))\n", flops / med / 1e9, flops / 1e9);
            printf("mfu: %.2f%% of %.0f GFLOP/s peak\n", 100.0 * flops / med / ng_peak_flops(cfg), ng_peak_flops(cfg) / 1e9);
            printf("peak RSS: %.1f MiB\n", peak_rss_mib());
        }
    } else {
        /* generation: one sample of max_new_tokens from a one-token prompt, KV cache included,
         * on a ready model: a first call of one token makes what the model keeps between calls
         * (the bf16 weight copy, the decoding buffers and KV cache), timed apart as the setup */
        int n = cfg->max_new_tokens;
        int *ids = ng_malloc(sizeof(int) * (size_t)(n + 1), "tokens");
        if (!ids) rc = -1;
        else ids[0] = 0;
        double t0 = ng_now();
        if (rc == 0) rc = ng_generate(&m, ids, 1, 1, cfg->temperature, cfg->top_k, V, &rng);
        double setup = ng_now() - t0;
        t0 = ng_now();
        if (rc == 0) rc = ng_generate(&m, ids, 1, n, cfg->temperature, cfg->top_k, V, &rng);
        double dt = ng_now() - t0;
        if (rc == 0) {
            printf("setup: %.1f ms (a first call of one token: the bf16 weight copy, the caches)\n", setup * 1000);
            printf("generated %d tokens in %.3f s: %.1f tokens/s, %.2f ms/token\n", n, dt, n / dt, dt * 1000 / (n > 0 ? n : 1));
            printf("peak RSS: %.1f MiB\n", peak_rss_mib());
        }
        free(ids);
    }
    free(times); free(x); free(y);
    ng_model_free(&m);
    return rc;
}
