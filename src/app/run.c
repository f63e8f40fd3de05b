/* run.c -- what train, eval, sample and bench share: the dataset and its vocabulary, the model
 * a config asks for, loss estimation, the learning-rate schedule, and checkpoints with their
 * config (the config table lives in this layer, so the NgConfig side of ng_checkpoint_save and
 * ng_checkpoint_load is here, over persistence/checkpoint.c). */
#include "app/run.h"
#include "kernels/kernels.h"
#include "app/config.h"
#include "persistence/checkpoint.h"
#include "base/dist.h"
#include "base/rng.h"
#include "base/util.h"
#include "base/progress.h"
#include "formats/dataset.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int ng_checkpoint_save(const char *path, const NgModel *m, const NgConfig *cfg, const NgRunState *rs,
                       const NgTokenizer *tok) {
    char *json = NULL;
    if (cfg && !(json = ng_config_to_json(cfg))) return -1;
    int rc = ng_ckpt_write(path, m, json, rs, tok);
    free(json);
    return rc;
}

int ng_checkpoint_load(const char *path, NgModel *m, NgConfig *cfg, NgRunState *rs, NgTokenizer *tok,
                       int with_optimizer) {
    char *json = NULL;
    if (ng_ckpt_read(path, m, cfg ? &json : NULL, rs, tok, with_optimizer) != 0) return -1;
    int rc = cfg ? ng_config_apply_json(cfg, json, path) : 0;
    free(json);
    if (rc != 0) {
        ng_model_free(m);
        if (tok) ng_tokenizer_free(tok);
        if (rs) { free(rs->rank_rng_states); rs->rank_rng_states = NULL; rs->n_ranks = 0; }
    }
    return rc;
}

/* train.bin and val.bin, checked against what meta.json records of them (when it exists) */
int ng_run_open_data(NgRun *run, const NgConfig *cfg, int vocab_size, int block_size) {
    char path[NG_PATH_MAX], meta[NG_PATH_MAX];
    snprintf(meta, sizeof meta, "data/%s/meta.json", cfg->dataset);
    struct stat st;
    int has_meta = stat(meta, &st) == 0;
    for (int split = 0; split < 2; split++) {
        NgTokenFile *f = split ? &run->val : &run->train;
        const char *name = split ? "val.bin" : "train.bin";
        snprintf(path, sizeof path, "data/%s/%s", cfg->dataset, name);
        if (ng_tokenfile_open(f, path, vocab_size, block_size) != 0) return -1;
        if (has_meta && ng_tokenfile_check_record(f, meta, name) != 0) return -1;
    }
    return 0;
}

/* the config's model keys as the loaded model has them (the checkpoint or file decided) */
void ng_config_model_keys(NgConfig *cfg, const NgModelArgs *a) {
    cfg->n_layer = a->n_layer; cfg->n_head = a->n_head; cfg->n_embd = a->n_embd;
    cfg->block_size = a->block_size; cfg->bias = a->bias;
    snprintf(cfg->model, sizeof cfg->model, "%s", a->model_type == NG_MODEL_BIGRAM ? "bigram" : "gpt");
    snprintf(cfg->gelu, sizeof cfg->gelu, "%s", a->gelu_tanh ? "tanh" : "erf");
    snprintf(cfg->activation, sizeof cfg->activation, "%s", a->relu ? "relu" : "gelu");
    cfg->tied_lm_head = !a->untied_head; cfg->qkv_bias = !a->no_qkv_bias;
    cfg->embd_dropout = !a->no_embd_dropout; cfg->scaled_init = !a->unscaled_init;
}

/* The dataset's vocabulary (its meta.json; none: GPT-2's, as nanoGPT reads such a dataset) must
 * be the checkpoint's: the same ids would otherwise mean other characters. */
int ng_check_dataset_tokenizer(const NgConfig *cfg, const NgTokenizer *tok, const char *ckpt) {
    if (tok->kind == NG_TOK_NONE) return 0;                 /* a checkpoint without a vocabulary */
    char path[NG_PATH_MAX];
    snprintf(path, sizeof path, "data/%s/meta.json", cfg->dataset);
    struct stat st;
    const char *kinds[] = {"none", "char", "gpt2"};
    const char *kind = kinds[tok->kind <= NG_TOK_GPT2 ? tok->kind : 0];
    if (stat(path, &st) != 0) {
        if (tok->kind == NG_TOK_GPT2) return 0;
        return ng_fail("%s: the checkpoint's vocabulary is %d characters but data/%s has no meta.json (a GPT-2 dataset): "
                       "its token ids mean other things", ckpt, tok->vocab_size, cfg->dataset);
    }
    NgTokenizer d;
    if (ng_tokenizer_load_meta(&d, path) != 0) return -1;
    char *a = ng_tokenizer_meta_json(tok), *b = ng_tokenizer_meta_json(&d);
    int same = a && b && strcmp(a, b) == 0, rc = 0;
    if (!same)
        rc = ng_fail("%s: its vocabulary (%s, %d tokens) differs from the checkpoint's (%s, %d tokens): the token ids would "
                     "mean other characters", path, d.kind == NG_TOK_GPT2 ? "gpt2" : "char", d.vocab_size, kind, tok->vocab_size);
    free(a); free(b);
    ng_tokenizer_free(&d);
    return rc;
}

/* The checkpoint decides the model: a config that says otherwise is an error ("PATH: VERB: the config
 * sets n_layer = 3 but ..."); inference (VERB not "cannot resume") may crop block_size. */
int ng_check_model_keys(const NgConfig *cfg, const NgModelArgs *a, const char *path, const char *verb) {
    int resume = strcmp(verb, "cannot resume") == 0;      /* inference may crop block_size (checked by its caller) */
    struct { const char *key; int cfg_val, ckpt_val; } keys[] = {
        {"n_layer", cfg->n_layer, a->n_layer}, {"n_head", cfg->n_head, a->n_head},
        {"n_embd", cfg->n_embd, a->n_embd}, {"bias", cfg->bias, a->bias}, {"block_size", cfg->block_size, a->block_size},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] - !resume; i++)
        if (ng_config_was_set(cfg, keys[i].key) && keys[i].cfg_val != keys[i].ckpt_val)
            return ng_fail("%s: %s: the config sets %s = %d but the checkpoint's model has %d",
                           path, verb, keys[i].key, keys[i].cfg_val, keys[i].ckpt_val);
    if (ng_config_was_set(cfg, "model") && strcmp(cfg->model, a->model_type == NG_MODEL_BIGRAM ? "bigram" : "gpt"))
        return ng_fail("%s: %s: the config sets model = %s but the checkpoint holds another model", path, verb, cfg->model);
    return 0;
}


/* The dataset's tokenizer (its meta.json) and the model's vocabulary size: a char vocabulary
 * as it is; GPT-2's (a gpt2 meta.json, or no meta.json at all, as in nanoGPT) padded to 50304 */
int ng_dataset_vocab(const NgConfig *cfg, NgTokenizer *tok, int *vocab_size) {
    char path[NG_PATH_MAX];
    snprintf(path, sizeof path, "data/%s/meta.json", cfg->dataset);
    struct stat st;
    memset(tok, 0, sizeof *tok);
    if (stat(path, &st) != 0) {
        snprintf(path, sizeof path, "data/%s/train.bin", cfg->dataset);
        if (stat(path, &st) != 0)
            return ng_fail("data/%s: no such dataset (run `./nanogpt prepare --dataset=%s` first)", cfg->dataset, cfg->dataset);
        printf("no meta.json in data/%s, using GPT-2's vocab_size of %d (50257 rounded up for efficiency)\n", cfg->dataset, GPT2_PADDED_VOCAB);
        *vocab_size = GPT2_PADDED_VOCAB;
        return 0;
    }
    if (ng_tokenizer_load_meta(tok, path) != 0) return -1;
    printf("found vocab_size = %d (inside %s)\n", tok->vocab_size, path);
    *vocab_size = tok->kind == NG_TOK_GPT2 ? GPT2_PADDED_VOCAB : tok->vocab_size;
    if (tok->kind == NG_TOK_GPT2) printf("padding the vocabulary to %d for efficiency, as nanoGPT does\n", GPT2_PADDED_VOCAB);
    return 0;
}

void ng_run_close(NgRun *run) {
    ng_tokenfile_close(&run->train);
    ng_tokenfile_close(&run->val);
    ng_tokenizer_free(&run->tok);
    ng_model_free(&run->model);
    free(run->x); free(run->y);
    if (run->log) fclose(run->log);
    memset(run, 0, sizeof *run);
}

/* estimate_loss(): mean loss over eval_iters batches of each split, dropout off. Batches
 * come from their own RNG stream, seeded by (seed, iter, split), so evaluating never
 * changes the training batches (and a resumed run sees the same ones). Under mpirun each
 * rank evaluates every world-th of those batches and the sums are added over the ranks. A
 * signal (stop) ends it between batches: an evaluation of 2 x 200 large batches takes minutes. */
int ng_estimate_loss(NgRun *run, const NgConfig *cfg, int iter, const volatile sig_atomic_t *stop,
                     float *train_loss, float *val_loss) {
    NgModel *m = &run->model;
    int B = cfg->batch_size, T = cfg->block_size;
    int was_training = m->training;
    m->training = 0;
    NgProgress prog;                 /* on a terminal: the batches done */
    ng_progress_init(&prog, stdout);
    for (int split = 0; split < 2; split++) {
        NgRng rng;
        ng_rng_seed(&rng, ng_hash64((uint64_t)cfg->seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)iter << 1 | split)));
        const NgTokenFile *f = split ? &run->val : &run->train;
        double sum = 0.0;
        for (int k = 0; k < cfg->eval_iters; k++) {   /* under mpirun: every world-th batch on each rank */
            ng_progress_show(&prog, 0, "estimate_loss: %s batch %d/%d", split ? "val" : "train", k + 1, cfg->eval_iters);
            int mine = k % ng_dist_world() == ng_dist_rank();
            if (ng_get_batch(f, &rng, B, T, run->x, run->y) != 0 || (mine && ng_model_forward(m, run->x, run->y, B, T) != 0)) {
                ng_progress_clear(&prog);
                m->training = was_training;
                return -1;
            }
            if (mine) sum += m->loss;
            /* a signal: the ranks agree after each round of one batch per rank */
            int world = ng_dist_world(), signal_seen = stop ? (int)*stop : 0;
            if (stop && (k % world == world - 1 || k == cfg->eval_iters - 1)) {
                if (world > 1) ng_dist_allreduce_max_i32(&signal_seen, 1);
                if (signal_seen) {
                    ng_progress_clear(&prog);
                    m->training = was_training;
                    return signal_seen;
                }
            }
        }
        ng_dist_sum_f64(&sum, 1);
        *(split ? val_loss : train_loss) = (float)(sum / cfg->eval_iters);
    }
    ng_progress_clear(&prog);
    m->training = was_training;
    return 0;
}

void ng_model_args_from_config(NgModelArgs *a, const NgConfig *cfg, int vocab_size) {
    memset(a, 0, sizeof *a);
    a->model_type = strcmp(cfg->model, "bigram") == 0 ? NG_MODEL_BIGRAM : NG_MODEL_GPT;
    a->n_layer = cfg->n_layer; a->n_head = cfg->n_head; a->n_embd = cfg->n_embd;
    a->block_size = cfg->block_size; a->vocab_size = vocab_size;
    a->bias = cfg->bias; a->dropout = cfg->dropout;
    a->gelu_tanh = strcmp(cfg->gelu, "tanh") == 0;
    a->relu = strcmp(cfg->activation, "relu") == 0;
    a->untied_head = !cfg->tied_lm_head;
    a->no_qkv_bias = !cfg->qkv_bias;
    a->no_embd_dropout = !cfg->embd_dropout;
    a->unscaled_init = !cfg->scaled_init;
}

double ng_peak_flops(const NgConfig *cfg) {
    return cfg->peak_flops > 0 ? cfg->peak_flops : 215e9 * (cfg->threads > 0 ? cfg->threads : ng_get_threads());
}

/* The model `sample` and `eval` run: init_from=gpt2*|PATH (pretrained weights, GPT-2's
 * tokenizer), else the checkpoint in out_dir (its config and tokenizer in saved/tok) */
int ng_load_for_inference(const NgConfig *cfg, NgModel *m, NgConfig *saved, NgTokenizer *tok) {
    *saved = *cfg;
    if (tok) memset(tok, 0, sizeof *tok);
    if (ng_config_was_set(cfg, "init_from") && strcmp(cfg->init_from, "resume") && strcmp(cfg->init_from, "scratch") &&
        !ng_is_pretrained_spec(cfg->init_from))   /* never out_dir's checkpoint in its place, as train */
        return ng_fail("init_from: '%s' is not resume, gpt2, gpt2-medium, gpt2-large, gpt2-xl or an existing model file", cfg->init_from);
    if (ng_config_was_set(cfg, "init_from") && ng_is_pretrained_spec(cfg->init_from)) {
        int gelu = ng_config_was_set(cfg, "gelu") ? strcmp(cfg->gelu, "tanh") == 0 : NG_GELU_FROM_CONFIG;
        if (ng_import_pretrained(cfg->init_from, m, ng_config_was_set(cfg, "block_size") ? cfg->block_size : 0, gelu) != 0) return -1;
        if (tok && ng_tokenizer_gpt2(tok) != 0) { ng_model_free(m); return -1; }
        saved->block_size = m->args.block_size;
        m->threads = cfg->threads;
    } else {
        char path[NG_PATH_MAX];
        snprintf(path, sizeof path, "%s/ckpt.safetensors", cfg->out_dir);
        if (ng_checkpoint_load(path, m, saved, NULL, tok, 0) != 0) return -1;
        m->threads = cfg->threads;
        /* the checkpoint decides the model: model keys given that say otherwise are an error */
        if (ng_check_model_keys(cfg, &m->args, path, "cannot use it") != 0) { ng_model_free(m); if (tok) ng_tokenizer_free(tok); return -1; }
    }
    /* the matmuls' precision is this command's, whatever the checkpoint was trained in */
    if (ng_model_set_dtype(m, cfg->dtype) != 0) { ng_model_free(m); if (tok) ng_tokenizer_free(tok); return -1; }
    return 0;
}

/* one line saying which precision the matmuls run in */
void ng_print_dtype(const NgModel *m) {
    if (m->dtype == NG_DTYPE_BF16)
        printf("dtype bfloat16: bf16 matmuls with fp32 sums (%s)\n",
               ng_bf16_amx()      ? "AMX tdpbf16ps tiles, AVX512_BF16 vdpbf16ps for the small products"
               : ng_bf16_native() ? "AVX512_BF16 vdpbf16ps"
                                  : "portable kernel: this CPU has no AVX512_BF16, slower");
}

/* nanoGPT's get_lr: linear warmup, cosine decay to min_lr at lr_decay_iters, then min_lr */
float ng_get_lr(const NgConfig *cfg, int it) {
    if (!cfg->decay_lr) return cfg->learning_rate;
    if (it < cfg->warmup_iters) return cfg->learning_rate * (float)((double)it + 1.0) / (float)((double)cfg->warmup_iters + 1.0);
    if (it > cfg->lr_decay_iters) return cfg->min_lr;
    double span = (double)(cfg->lr_decay_iters - cfg->warmup_iters);
    double ratio = span > 0.0 ? (double)(it - cfg->warmup_iters) / span : 1.0;
    if (ratio < 0.0) ratio = 0.0;
    if (ratio > 1.0) ratio = 1.0;
    double coeff = 0.5 * (1.0 + cos(M_PI * ratio));
    return (float)(cfg->min_lr + coeff * (cfg->learning_rate - cfg->min_lr));
}
