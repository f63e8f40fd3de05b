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
#include "model/model.h"
#include "base/lock.h"
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>






/* one line of log.jsonl: {"iter": it, "key": value, ...} for the n (key, printf format, value)
 * triples; a value that is not finite is written null (JSON has no inf or nan) */
typedef struct { const char *key, *fmt; double value; } LogField;
static void log_json(NgRun *run, int it, const LogField *f, int n) {
    if (!run->log) return;
    NgStr s = {0};
    ng_str_printf(&s, "{\"iter\": %d", it);
    for (int i = 0; i < n; i++) {
        ng_str_printf(&s, ", \"%s\": ", f[i].key);
        ng_str_json_number(&s, f[i].fmt, f[i].value);
    }
    ng_str_printf(&s, "}\n");
    fputs(s.s, run->log);
    fflush(run->log);
    free(s.s);
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

/* the model of a run: from the checkpoint in out_dir (resume), pretrained weights, or scratch
 * (under mpirun only rank 0 builds it; the others receive it) */
static int setup_model(NgConfig *cfg, NgRun *run, NgRunState *rs, const char *ckpt_path) {
    NgModel *m = &run->model;
    if (strcmp(cfg->init_from, "resume") == 0) {
        printf("Resuming training from %s\n", cfg->out_dir);
        NgConfig saved = *cfg;
        if (ng_checkpoint_load(ckpt_path, m, &saved, rs, &run->tok, 1) != 0) return -1;
        if (ng_check_model_keys(cfg, &m->args, ckpt_path, "cannot resume") != 0) return -1;
        /* the model's shape comes from the checkpoint, everything else from this run's config */
        ng_config_model_keys(cfg, &m->args);
        m->args.dropout = cfg->dropout;
        if (!ng_config_was_set(cfg, "dataset")) snprintf(cfg->dataset, sizeof cfg->dataset, "%s", saved.dataset);
        if (ng_check_dataset_tokenizer(cfg, &run->tok, ckpt_path) != 0) return -1;
    } else if (ng_is_pretrained_spec(cfg->init_from)) {
        /* nanoGPT's GPT.from_pretrained: the file decides the shape; dropout from the config,
         * block_size crops the position embeddings when smaller */
        printf("Initializing from %s weights\n", cfg->init_from);
        int gelu = ng_config_was_set(cfg, "gelu") ? strcmp(cfg->gelu, "tanh") == 0 : NG_GELU_FROM_CONFIG;
        if (ng_import_pretrained(cfg->init_from, m, ng_config_was_set(cfg, "block_size") ? cfg->block_size : 0, gelu) != 0) return -1;
        m->args.dropout = cfg->dropout;
        ng_config_model_keys(cfg, &m->args);
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
        if (ng_model_check_memory(&a, cfg->batch_size, cfg->block_size, 1, cfg->threads > 0 ? cfg->threads : ng_get_threads()) != 0) return -1;
        if (ng_model_create(m, &a) != 0) return -1;
        ng_model_init_weights(m, (uint64_t)cfg->seed);
    }
    return 0;
}

int ng_train(const NgConfig *cfg_in) {
    NgConfig cfg = *cfg_in;
    NgRun run;
    memset(&run, 0, sizeof run);
    int rc = -1, signals_set = 0, lock = -1;
    struct sigaction sa, old_int, old_term;
    NgRunState rs = {0};
    rs.best_val_loss = 1e9f;
    NgModel *m = &run.model;
    NgDdp ddp;
    char ckpt_path[700];
    snprintf(ckpt_path, sizeof ckpt_path, "%s/ckpt.safetensors", cfg.out_dir);
    if (ng_ddp_begin(&ddp, &cfg) != 0) return -1;
    /* a model from scratch is known now; otherwise validate once the file has decided it */
    if (strcmp(cfg.init_from, "scratch") == 0 && !ng_dist_agree(ng_config_validate(&cfg) == 0)) return -1;
    if (ddp.rank == 0) {   /* out_dir is rank 0's */
        if (ng_mkdir_p(cfg.out_dir) != 0) return -1;
        /* one run per out_dir, for the whole run; then only temporaries of processes that are gone */
        if ((lock = ng_dir_lock(cfg.out_dir, "training run")) < 0) return -1;
        ng_remove_dead_tmp(cfg.out_dir, "ckpt.safetensors.tmp.");
    }

    int rc0 = ddp.rank == 0 ? setup_model(&cfg, &run, &rs, ckpt_path) : 0;
    if (ng_ddp_share_model(&ddp, rc0, &cfg, m, &rs) != 0) goto fail;
    int vocab_size = m->args.vocab_size;
    m->threads = cfg.threads;
    if (ng_config_validate(&cfg) != 0) goto fail;
    if (ng_model_check_memory(&m->args, cfg.batch_size, cfg.block_size, 1, cfg.threads > 0 ? cfg.threads : ng_get_threads()) != 0) goto fail;
    if (ng_ddp_check_data(&ddp, ng_run_open_data(&run, &cfg, vocab_size, cfg.block_size), &run.train, &run.val) != 0) goto fail;

    int B = cfg.batch_size, T = cfg.block_size, G = cfg.gradient_accumulation_steps;
    run.x = ng_malloc(sizeof(int) * B * T, "a batch");
    run.y = ng_malloc(sizeof(int) * B * T, "a batch");
    if (!run.x || !run.y) goto fail;
    printf("tokens per iteration will be: %lld\n", (long long)G * B * T);
    printf("number of parameters: %.2fM\n", (double)(m->num_params - (m->args.model_type == NG_MODEL_GPT ? (size_t)T * m->args.n_embd : 0)) / 1e6);
    if (ddp.world > 1) printf("using %d ranks x %d threads, %d micro-steps per rank, zero_stage %d\n", ddp.world, m->threads > 0 ? m->threads : ng_get_threads(), ddp.G, ddp.zero_stage);
    else printf("using %d threads\n", m->threads > 0 ? m->threads : ng_get_threads());
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
            LogField f[] = {{"train_loss", "%.6f", tl}, {"val_loss", "%.6f", vl}, {"lr", "%.6g", lr}};
            log_json(&run, it, f, 3);
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
            char comm[64] = "";   /* under mpirun: rank 0's time in collectives (the communication share) */
            if (ddp.world > 1) snprintf(comm, sizeof comm, ", comm %.2fms", comm_ms);
            printf("iter %d: loss %.4f, time %.2fms, mfu %.2f%%, %.0f tok/s%s\n", it, loss, dt * 1000, running_mfu * 100, tok_s, comm);
            fflush(stdout);
            LogField f[] = {{"loss", "%.6f", loss}, {"time_ms", "%.3f", dt * 1000}, {"mfu", "%.6f", running_mfu},
                            {"tokens_per_sec", "%.1f", tok_s}, {"lr", "%.6g", lr}, {"grad_norm", "%.6g", norm},
                            {"comm_ms", "%.3f", comm_ms}};
            log_json(&run, it, f, ddp.world > 1 ? 7 : 6);
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
    ng_dir_unlock(lock);
    return rc;
}


