/* info.c -- `nanogpt info`: the lecture's view of a model before (or after) training it:
 * B, T, C, n_head and head size; every tensor of the parameter table with its shape and
 * parameter count; FLOPs per token as nanoGPT's estimate_mfu counts them; the memory a
 * training run needs (memory.c); tokens per iteration.
 *
 * The model comes from, in order: --init_from=gpt2*|PATH (pretrained weights), a checkpoint
 * in out_dir (when out_dir was given or init_from=resume), else the config (the dataset's
 * vocabulary, or GPT-2's padded 50304 without one, as bench). Nothing but the tensor list
 * is allocated in the last case, so `info` works for models that would not fit.
 */
#include "app/run.h"
#include "persistence/import.h"
#include "base/util.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>


/* the model's arguments and the run's config (B, T, G) */
static int info_model(NgConfig *cfg, NgModelArgs *a, const char **source, char *ckpt, size_t ckpt_size) {
    snprintf(ckpt, ckpt_size, "%s/ckpt.safetensors", cfg->out_dir);
    struct stat st;
    int pretrained = ng_config_was_set(cfg, "init_from") && ng_is_pretrained_spec(cfg->init_from);
    int from_ckpt = !pretrained && (!strcmp(cfg->init_from, "resume") ||
                                    (ng_config_was_set(cfg, "out_dir") && stat(ckpt, &st) == 0));
    if (pretrained || from_ckpt) {
        NgModel m;
        NgConfig saved;
        if (ng_load_for_inference(cfg, &m, &saved, NULL) != 0) return -1;
        *a = m.args;
        ng_model_free(&m);
        /* the run's batch shape unless given here */
        if (from_ckpt) {
            if (!ng_config_was_set(cfg, "batch_size")) cfg->batch_size = saved.batch_size;
            if (!ng_config_was_set(cfg, "gradient_accumulation_steps")) cfg->gradient_accumulation_steps = saved.gradient_accumulation_steps;
            if (!ng_config_was_set(cfg, "threads")) cfg->threads = saved.threads;
        }
        if (!ng_config_was_set(cfg, "block_size") || cfg->block_size > a->block_size) cfg->block_size = a->block_size;
        *source = pretrained ? cfg->init_from : ckpt;
        return 0;
    }
    if (ng_config_validate(cfg) != 0) return -1;
    int vocab_size;
    if (ng_config_vocab(cfg, &vocab_size) != 0) return -1;
    ng_model_args_from_config(a, cfg, vocab_size);
    *source = "the config";
    return ng_model_args_validate(a);
}

int ng_info(const NgConfig *cfg_in) {
    NgConfig cfg = *cfg_in;
    NgModelArgs a;
    const char *source;
    char ckpt[700];
    if (info_model(&cfg, &a, &source, ckpt, sizeof ckpt) != 0) return -1;
    int threads = cfg.threads > 0 ? cfg.threads : ng_get_threads();
    NgTensor *t = NULL;
    int n = ng_model_list_tensors(&a, &t);
    if (n < 0) return -1;
    int gpt = a.model_type == NG_MODEL_GPT;
    int B = cfg.batch_size, T = cfg.block_size, G = cfg.gradient_accumulation_steps;
    int C = gpt ? a.n_embd : 0, NH = gpt ? a.n_head : 0, L = gpt ? a.n_layer : 0;
    char b1[32], b2[32], b3[32];

    printf("model: %s from %s: n_layer %d, n_head %d, n_embd %d, block_size %d, vocab_size %d, bias %s, gelu %s\n",
           gpt ? "gpt" : "bigram", source, L, NH, C, a.block_size, a.vocab_size, a.bias ? "True" : "False",
           a.gelu_tanh ? "tanh" : "erf");
    printf("B (batch_size) %d, T (block_size) %d, C (n_embd) %d, n_head %d, head size %d\n", B, T, C, NH, NH ? C / NH : 0);
    printf("tokens per iteration: %s (B %d x T %d x gradient_accumulation_steps %d)\n",
           ng_with_commas((size_t)B * T * G, b1, sizeof b1), B, T, G);

    printf("\n%-44s %-14s %14s\n", "tensor", "shape", "parameters");
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        char shape[48];
        if (t[i].ndim == 2) snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)t[i].shape[0], (long long)t[i].shape[1]);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)t[i].shape[0]);
        printf("%-44s %-14s %14s\n", t[i].name, shape, ng_with_commas(t[i].numel, b1, sizeof b1));
        total += t[i].numel;
    }
    free(t);
    size_t N = ng_model_num_params_nonembedding(&a);
    printf("%-44s %-14s %14s\n", "total", "", ng_with_commas(total, b1, sizeof b1));
    printf("number of parameters: %s (%.2fM); without the position embeddings (nanoGPT's get_num_params): %s (%.2fM)\n",
           ng_with_commas(total, b1, sizeof b1), total / 1e6, ng_with_commas(N, b2, sizeof b2), N / 1e6);

    double fpt = ng_model_flops_per_token(&a, T);
    printf("\nFLOPs per token: %.0f (forward %.0f, backward %.0f) = 6N + 12*L*n_head*head_size*T (nanoGPT's estimate_mfu)\n",
           fpt, fpt / 3, fpt * 2 / 3);
    printf("FLOPs per iteration: %.6g (x %s tokens)\n", fpt * (double)B * T * G, ng_with_commas((size_t)B * T * G, b3, sizeof b3));

    NgMemory mem;
    ng_model_memory_estimate(&a, B, T, threads, &mem);
    const double MiB = 1024.0 * 1024.0;
    printf("\nmemory of a training run (%d threads, %d batch shard%s):\n", threads, mem.shards, mem.shards > 1 ? "s" : "");
    printf("  %-44s %12s %12s\n", "", "fp32 MiB", "bf16 MiB");
    struct { const char *what; double floats; } rows[] = {
        {"parameters", (double)mem.params},
        {"gradients", (double)mem.grads},
        {"AdamW moments (exp_avg, exp_avg_sq)", (double)mem.adam},
        {"activations (B x T rows, forward + backward)", (double)mem.acts},
        {"per-shard gradient copies", (double)mem.shard_grads},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        printf("  %-44s %12.1f %12.1f\n", rows[i].what, rows[i].floats * 4 / MiB, rows[i].floats * 2 / MiB);
    double other = mem.runtime_bytes + (double)mem.batch_ints * sizeof(int);
    printf("  %-44s %12.1f %12.1f\n", "program, batch and kernel scratch", other / MiB, other / MiB);
    printf("  %-44s %12.1f %12.1f\n", "total (estimated peak RSS)", ng_memory_bytes(&mem, 4) / MiB, ng_memory_bytes(&mem, 2) / MiB);
    return 0;
}
