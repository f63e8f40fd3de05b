/* train.c -- nanoGPT's train.py: the training loop, loss estimation and `eval`.
 *
 * argv -> config -> dataset (mmap) -> model (flat buffers) ->
 * loop { eval/checkpoint -> micro-batches (forward, backward) -> clip -> AdamW -> log }
 */
#include "base/rng.h"
#include "persistence/import.h"
#include "app/run.h"
#include "app/ddp.h"
#include "base/dist.h"
#include "base/util.h"
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>



/* the config's model keys as the loaded model has them (the checkpoint or file decided) */
static void config_from_model(NgConfig *cfg, const NgModelArgs *a) {
    cfg->n_layer = a->n_layer; cfg->n_head = a->n_head; cfg->n_embd = a->n_embd;
    cfg->block_size = a->block_size; cfg->bias = a->bias;
    snprintf(cfg->model, sizeof cfg->model, "%s", a->model_type == NG_MODEL_BIGRAM ? "bigram" : "gpt");
    snprintf(cfg->gelu, sizeof cfg->gelu, "%s", a->gelu_tanh ? "tanh" : "erf");
    snprintf(cfg->activation, sizeof cfg->activation, "%s", a->relu ? "relu" : "gelu");
    cfg->tied_lm_head = !a->untied_head; cfg->qkv_bias = !a->no_qkv_bias;
    cfg->embd_dropout = !a->no_embd_dropout; cfg->scaled_init = !a->unscaled_init;
}

/* On resume, the checkpoint decides the model; a config that says otherwise is an error. */
static int check_resume_config(const NgConfig *cfg, const NgModelArgs *a, const char *path) {
    struct { const char *key; int cfg_val, ckpt_val; } keys[] = {
        {"n_layer", cfg->n_layer, a->n_layer}, {"n_head", cfg->n_head, a->n_head},
        {"n_embd", cfg->n_embd, a->n_embd}, {"block_size", cfg->block_size, a->block_size},
        {"bias", cfg->bias, a->bias},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (ng_config_was_set(cfg, keys[i].key) && keys[i].cfg_val != keys[i].ckpt_val)
            return ng_fail("%s: cannot resume: the config sets %s = %d but the checkpoint's model has %d",
                           path, keys[i].key, keys[i].cfg_val, keys[i].ckpt_val);
    if (ng_config_was_set(cfg, "model") && strcmp(cfg->model, a->model_type == NG_MODEL_BIGRAM ? "bigram" : "gpt"))
        return ng_fail("%s: cannot resume: the config sets model = %s but the checkpoint holds another model", path, cfg->model);
    return 0;
}

static void log_json(NgRun *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_json(NgRun *run, const char *fmt, ...) {
    if (!run->log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(run->log, fmt, ap);
    va_end(ap);
    fputc('\n', run->log);
    fflush(run->log);
}

/* SIGINT/SIGTERM: the first asks the loop to finish its iteration, save and return; a second
 * SIGINT ends the process at once by the signal's default action (a checkpoint being written
 * then stays a temporary file, the old checkpoint is untouched). */
static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    if (g_stop && sig == SIGINT) {
        static const char msg[] = "\nnanogpt: second interrupt, exiting now (the last checkpoint is intact)\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);                 /* delivered when this handler returns */
        return;
    }
    g_stop = sig;
}

/* removes temporary files of checkpoint saves that were killed half-way */
static void remove_stale_tmp(const char *out_dir) {
    DIR *d = opendir(out_dir);
    if (!d) return;
    struct dirent *e;
    char path[1200];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "ckpt.safetensors.tmp.", 21) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", out_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}


/* the model of a run: from the checkpoint in out_dir (resume), pretrained weights, or scratch
 * (under mpirun only rank 0 builds it; the others receive it) */
static int setup_model(NgConfig *cfg, NgRun *run, NgRunState *rs, const char *ckpt_path) {
    NgModel *m = &run->model;
    if (strcmp(cfg->init_from, "resume") == 0) {
        printf("Resuming training from %s\n", cfg->out_dir);
        NgConfig saved = *cfg;
        if (ng_checkpoint_load(ckpt_path, m, &saved, rs, &run->tok, 1) != 0) return -1;
        if (check_resume_config(cfg, &m->args, ckpt_path) != 0) return -1;
        /* the model's shape comes from the checkpoint, everything else from this run's config */
        config_from_model(cfg, &m->args);
        m->args.dropout = cfg->dropout;
        if (!ng_config_was_set(cfg, "dataset")) snprintf(cfg->dataset, sizeof cfg->dataset, "%s", saved.dataset);
    } else if (ng_is_pretrained_spec(cfg->init_from)) {
        /* nanoGPT's GPT.from_pretrained: the file decides the shape; dropout from the config,
         * block_size crops the position embeddings when smaller */
        printf("Initializing from %s weights\n", cfg->init_from);
        int gelu = ng_config_was_set(cfg, "gelu") ? strcmp(cfg->gelu, "tanh") == 0 : NG_GELU_FROM_CONFIG;
        if (ng_import_pretrained(cfg->init_from, m, ng_config_was_set(cfg, "block_size") ? cfg->block_size : 0, gelu) != 0) return -1;
        m->args.dropout = cfg->dropout;
        config_from_model(cfg, &m->args);
        if (ng_tokenizer_gpt2(&run->tok) != 0) return -1;
    } else if (strcmp(cfg->init_from, "scratch") != 0) {
        ng_fail("init_from: '%s' is not scratch, resume, gpt2, gpt2-medium, gpt2-large, gpt2-xl or an existing model file", cfg->init_from);
        return -1;
    } else {
        printf("Initializing a new model from scratch\n");
        int vocab_size = 0;
        if (ng_dataset_vocab(cfg, &run->tok, &vocab_size) != 0) return -1;
        NgModelArgs a;
        ng_model_args_from_config(&a, cfg, vocab_size);
        if (ng_model_create(m, &a) != 0) return -1;
        ng_model_init_weights(m, (uint64_t)cfg->seed);
    }
    return 0;
}

int ng_train(const NgConfig *cfg_in) {
    NgConfig cfg = *cfg_in;
    NgRun run;
    memset(&run, 0, sizeof run);
    int rc = -1, signals_set = 0;
    struct sigaction sa, old_int, old_term;
    NgRunState rs = {0};
    rs.best_val_loss = 1e9f;
    NgModel *m = &run.model;
    NgDdp ddp;
    char ckpt_path[700];
    snprintf(ckpt_path, sizeof ckpt_path, "%s/ckpt.safetensors", cfg.out_dir);
    if (ng_ddp_begin(&ddp, &cfg) != 0) return -1;
    ng_set_threads(cfg.threads);
    /* a model from scratch is known now; otherwise validate once the file has decided it */
    if (strcmp(cfg.init_from, "scratch") == 0 && !ng_dist_agree(ng_config_validate(&cfg) == 0)) return -1;
    if (ddp.rank == 0) {   /* out_dir is rank 0's */
        if (ng_mkdir_p(cfg.out_dir) != 0) return -1;
        remove_stale_tmp(cfg.out_dir);
    }

    int rc0 = ddp.rank == 0 ? setup_model(&cfg, &run, &rs, ckpt_path) : 0;
    if (ng_ddp_share_model(&ddp, rc0, &cfg, m, &rs) != 0) goto fail;
    int vocab_size = m->args.vocab_size;
    if (ng_config_validate(&cfg) != 0) goto fail;
    if (ng_ddp_check_data(&ddp, ng_run_open_data(&run, &cfg, vocab_size, cfg.block_size), &run.train, &run.val) != 0) goto fail;

    int B = cfg.batch_size, T = cfg.block_size, G = cfg.gradient_accumulation_steps;
    run.x = ng_malloc(sizeof(int) * B * T, "a batch");
    run.y = ng_malloc(sizeof(int) * B * T, "a batch");
    if (!run.x || !run.y) goto fail;
    printf("tokens per iteration will be: %lld\n", (long long)G * B * T);
    printf("number of parameters: %.2fM\n", (double)(m->num_params - (m->args.model_type == NG_MODEL_GPT ? (size_t)T * m->args.n_embd : 0)) / 1e6);
    if (ddp.world > 1) printf("using %d ranks x %d threads, %d micro-steps per rank, zero_stage %d\n", ddp.world, ng_get_threads(), ddp.G, ddp.zero_stage);
    else printf("using %d threads\n", ng_get_threads());
    char log_path[720];
    snprintf(log_path, sizeof log_path, "%s/log.jsonl", cfg.out_dir);
    run.log = ddp.rank == 0 ? fopen(log_path, "a") : NULL;
    if (!run.log && ddp.rank == 0) { ng_fail("%s: cannot open for appending", log_path); goto fail; }

    NgRng rng;
    rng.s = ng_ddp_sampler_state(&ddp, &cfg, &rs, strcmp(cfg.init_from, "resume") == 0);
    NgAdamW *opt = &rs.opt;
    opt->beta1 = cfg.beta1; opt->beta2 = cfg.beta2; opt->eps = 1e-8f; opt->weight_decay = cfg.weight_decay;
    opt->decay_all = cfg.weight_decay_all;
    double flops_per_iter = ng_model_flops_per_token(&m->args, T) * (double)B * T * G;
    double t0 = ng_now(), running_mfu = -1.0;
    int local_iter = 0;
    ng_model_zero_grad(m);
    g_stop = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signals_set = 1;

    for (;;) {
        int it = rs.iter_num;
        float lr = ng_get_lr(&cfg, it);
        if (it % cfg.eval_interval == 0) {
            float tl, vl;
            if (ng_estimate_loss(&run, &cfg, it, &tl, &vl) != 0) goto fail;
            printf("step %d: train loss %.4f, val loss %.4f\n", it, tl, vl);
            if (!isfinite(tl) || !isfinite(vl)) {
                ng_fail("step %d: the loss is not finite (train %g, val %g): training diverged; the last checkpoint in %s is kept",
                        it, tl, vl, cfg.out_dir);
                goto fail;
            }
            log_json(&run, "{\"iter\": %d, \"train_loss\": %.6f, \"val_loss\": %.6f, \"lr\": %.6g}", it, tl, vl, lr);
            if (vl < rs.best_val_loss || cfg.always_save_checkpoint) {
                if (vl < rs.best_val_loss) rs.best_val_loss = vl;
                if (it > 0) {
                    printf("saving checkpoint to %s\n", cfg.out_dir);
                    if (ng_ddp_save(&ddp, ckpt_path, m, &cfg, &rs, &run.tok, &rng) != 0) goto fail;
                }
            }
            fflush(stdout);
        }
        if (it == 0 && cfg.eval_only) break;

        m->training = 1;
        float loss = 0.0f;
        for (int micro = 0; micro < ddp.G; micro++) {   /* this rank's share of the G micro-steps */
            int k = ng_ddp_get_batch(&ddp, &run.train, &rng, micro, B, T, run.x, run.y);
            if (k < 0) goto fail;
            m->dropout_seed = ng_hash64((uint64_t)cfg.seed ^ ng_hash64(((uint64_t)it << 16) | (uint64_t)k));
            if (ng_model_forward(m, run.x, run.y, B, T) != 0) goto fail;
            loss = m->loss;
            if (ng_model_backward(m, 1.0f / G) != 0) goto fail;
        }
        int stop = ng_ddp_agree_step(&ddp, &loss, g_stop);   /* every rank stops after the same step */
        opt->lr = lr;
        float norm = NAN;
        if (!isfinite(loss) || ng_ddp_optimizer_step(&ddp, m, opt, cfg.grad_clip, &norm) != 0) {
            ng_fail("iter %d: loss is %g and gradient norm %g: training diverged (try a lower learning_rate); the last checkpoint in %s is kept",
                    it, loss, norm, cfg.out_dir);
            goto fail;
        }

        double t1 = ng_now(), dt = t1 - t0, comm_ms = ng_dist_comm_seconds() * 1000;
        t0 = t1;
        if (it % cfg.log_interval == 0) {
            if (local_iter >= 5) {   /* per rank: the step's FLOPs are shared by the ranks */
                double mfu = flops_per_iter / ddp.world / dt / ng_peak_flops(&cfg);
                running_mfu = running_mfu < 0 ? mfu : 0.9 * running_mfu + 0.1 * mfu;
            }
            double tok_s = (double)B * T * G / dt;
            char comm[64] = "", comm_json[64] = "";
            if (ddp.world > 1) {   /* time in collectives on rank 0 (the communication share) */
                snprintf(comm, sizeof comm, ", comm %.2fms", comm_ms);
                snprintf(comm_json, sizeof comm_json, ", \"comm_ms\": %.3f", comm_ms);
            }
            printf("iter %d: loss %.4f, time %.2fms, mfu %.2f%%, %.0f tok/s%s\n", it, loss, dt * 1000, running_mfu * 100, tok_s, comm);
            fflush(stdout);
            log_json(&run, "{\"iter\": %d, \"loss\": %.6f, \"time_ms\": %.3f, \"mfu\": %.6f, \"tokens_per_sec\": %.1f, \"lr\": %.6g, \"grad_norm\": %.6g%s}",
                     it, loss, dt * 1000, running_mfu, tok_s, lr, norm, comm_json);
        }
        rs.iter_num++;
        local_iter++;
        if (stop) {
            printf("%s at iter %d: saving checkpoint to %s\n", stop == SIGINT ? "interrupted" : "terminated", rs.iter_num, ckpt_path);
            if (ng_ddp_save(&ddp, ckpt_path, m, &cfg, &rs, &run.tok, &rng) != 0) goto fail;
            printf("resume with --init_from=resume --out_dir=%s\n", cfg.out_dir);
            break;
        }
        if (rs.iter_num > cfg.max_iters) break;
    }
    if (ng_ddp_end(&ddp, m) != 0) goto fail;
    rc = 0;
fail:
    fflush(stdout);
    ng_ddp_free(&ddp, &rs);
    if (signals_set) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    ng_run_close(&run);
    return rc;
}


