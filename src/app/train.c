/* train.c -- nanoGPT's train.py: the training loop, loss estimation and `eval`.
 *
 * argv -> config -> dataset (mmap) -> model (flat buffers) ->
 * loop { eval/checkpoint -> micro-batches (forward, backward) -> clip -> AdamW -> log }
 *
 * ng_train is its steps, in train.py's order, over one Train: open_out_dir, setup_model_and_data
 * (setup_model: scratch, resume or pretrained), setup_run, catch_signals, train_loop {eval_step,
 * train_iteration, log_step, save_on_signal}, shutdown_run.
 */
#include "base/rng.h"
#include "persistence/import.h"
#include "app/run.h"
#include "app/ddp.h"
#include "base/dist.h"
#include "base/util.h"
#include "base/progress.h"
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
 * then stays a temporary file, the old checkpoint is untouched).
 * Under mpirun, SIGCONTs are counted: Open MPI's mpirun ends a job with SIGCONT first, and
 * rank 0 then keeps its iter lines to itself (ng_ddp_quiet). */
static volatile sig_atomic_t g_stop, g_cont;
static void on_signal(int sig) {
    if (sig == SIGCONT) { g_cont++; return; }
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

/* the terminal's line: iteration / max_iters, loss, tokens/s, elapsed, and the time to
 * max_iters: the iterations left at their mean time plus the evaluations left at theirs */
static void show_progress(NgProgress *p, const NgConfig *cfg, int it, float loss, double tok_s, double mfu) {
    long left = cfg->max_iters - it, evals_left = cfg->max_iters / cfg->eval_interval - it / cfg->eval_interval;
    char el[32], eta[32], mf[32] = "";
    if (mfu >= 0) snprintf(mf, sizeof mf, ", mfu %.2f%%", mfu * 100);
    ng_progress_show(p, it == cfg->max_iters, "iter %d/%d: loss %.4f, %.0f tok/s%s, elapsed %s, ETA %s", it, cfg->max_iters, loss, tok_s, mf,
                     ng_fmt_duration(ng_now() - p->t_start, el, sizeof el), ng_fmt_duration(ng_progress_eta(p, left, evals_left), eta, sizeof eta));
}

/* out_dir/report.html (report.c) at an evaluation (with a sample of sample_at_eval tokens,
 * drawn from its own random stream so training is unchanged) and at the end. Not being able
 * to write the report is a note, not a reason to stop training; an error already set (the
 * run diverged) is kept. */
static void report_hook(NgRun *run, const NgConfig *cfg, int iter, const char *status, int with_sample) {
    if (ng_dist_rank() != 0) return;                 /* out_dir is rank 0's */
    char err[512];
    snprintf(err, sizeof err, "%s", ng_errmsg());
    NgModel *m = &run->model;
    char *text = NULL;
    int *ids = NULL;
    size_t n = 0;
    if (with_sample && cfg->sample_at_eval > 0 && run->tok.kind != NG_TOK_NONE &&
        ng_tokenizer_encode(&run->tok, cfg->start, strlen(cfg->start), &ids, &n) == 0 && n > 0) {
        int *all = realloc(ids, sizeof(int) * (n + (size_t)cfg->sample_at_eval));
        if (all) {
            ids = all;
            NgRng rng;
            ng_rng_seed(&rng, ng_hash64((uint64_t)cfg->seed ^ 0x5A3D1E5ull ^ ((uint64_t)iter << 20)));
            int was_training = m->training;
            m->training = 0;
            if (ng_generate(m, ids, n, cfg->sample_at_eval, cfg->temperature, cfg->top_k, run->tok.vocab_size, &rng) == 0)
                text = ng_tokenizer_decode(&run->tok, ids, n + (size_t)cfg->sample_at_eval, NULL);
            m->training = was_training;
        }
    }
    if (ng_report_update(cfg, m, status, iter, text) != 0)
        printf("note: %s/report.html not updated: %s\n", cfg->out_dir, ng_errmsg());
    free(ids); free(text);
    ng_fail("%s", err);
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

/* ---------------------------------------------------------------------------------------
 * the steps of ng_train, in the order of nanoGPT's train.py; they share one Train */

typedef struct {
    NgConfig cfg;
    NgRun run;                       /* model, data, tokenizer, batch, log.jsonl */
    NgRunState rs;                   /* iter_num, best_val_loss, optimizer */
    NgDdp ddp;                       /* the ranks under mpirun (one rank otherwise) */
    NgProgress prog;                 /* on a terminal: one line instead of the iter lines */
    NgRng rng;                       /* this rank's batch sampler */
    char ckpt_path[NG_PATH_MAX];
    int lock;                        /* out_dir's lock (rank 0) */
    int signals_set;
    struct sigaction old_int, old_term, old_cont;
    int B, T, G;                     /* batch_size, block_size, gradient_accumulation_steps */
    double flops_per_iter, t0, running_mfu;
    int local_iter;                  /* iterations of this process (the MFU skips the first 5) */
} Train;

/* the ranks, the config (a model from scratch is known now; otherwise validated once the
 * file has decided it), and out_dir: created, locked for the whole run, old temporaries gone */
static int open_out_dir(Train *t, const NgConfig *cfg_in) {
    memset(t, 0, sizeof *t);
    t->cfg = *cfg_in;
    t->lock = -1;
    t->rs.best_val_loss = 1e9f;
    ng_progress_init(&t->prog, stdout);
    snprintf(t->ckpt_path, sizeof t->ckpt_path, "%s/ckpt.safetensors", t->cfg.out_dir);
    if (ng_ddp_begin(&t->ddp, &t->cfg) != 0) return -1;
    if (strcmp(t->cfg.init_from, "scratch") == 0 && !ng_dist_agree(ng_config_validate(&t->cfg) == 0)) return -1;
    if (t->ddp.rank == 0) {   /* out_dir is rank 0's */
        if (ng_mkdir_p(t->cfg.out_dir) != 0) return -1;
        /* one run per out_dir, for the whole run; then only temporaries of processes that are gone */
        if ((t->lock = ng_dir_lock(t->cfg.out_dir, "training run")) < 0) return -1;
        ng_remove_dead_tmp(t->cfg.out_dir, "ckpt.safetensors.tmp.");
    }
    return 0;
}

/* model init (setup_model on rank 0, shared with the others), its dtype and memory, and
 * the data: train.bin and val.bin */
static int setup_model_and_data(Train *t) {
    NgConfig *cfg = &t->cfg;
    NgModel *m = &t->run.model;
    int rc0 = t->ddp.rank == 0 ? setup_model(cfg, &t->run, &t->rs, t->ckpt_path) : 0;
    if (ng_ddp_share_model(&t->ddp, rc0, cfg, m, &t->rs) != 0) return -1;
    int vocab_size = m->args.vocab_size;
    m->threads = cfg->threads;
    if (ng_config_validate(cfg) != 0) return -1;
    if (ng_model_set_dtype(m, cfg->dtype) != 0) return -1;
    if (ng_model_check_memory(&m->args, cfg->batch_size, cfg->block_size, 1, cfg->threads > 0 ? cfg->threads : ng_get_threads()) != 0) return -1;
    return ng_ddp_check_data(&t->ddp, ng_run_open_data(&t->run, cfg, vocab_size, cfg->block_size), &t->run.train, &t->run.val);
}

/* the batch buffers, the run's header lines, log.jsonl (rank 0 appends), the sampler, AdamW */
static int setup_run(Train *t) {
    NgConfig *cfg = &t->cfg;
    NgModel *m = &t->run.model;
    NgDdp *ddp = &t->ddp;
    int B = t->B = cfg->batch_size, T = t->T = cfg->block_size, G = t->G = cfg->gradient_accumulation_steps;
    t->run.x = ng_malloc(sizeof(int) * B * T, "a batch");
    t->run.y = ng_malloc(sizeof(int) * B * T, "a batch");
    if (!t->run.x || !t->run.y) return -1;
    printf("tokens per iteration will be: %lld\n", (long long)G * B * T);
    printf("number of parameters: %.2fM\n", (double)(m->num_params - (m->args.model_type == NG_MODEL_GPT ? (size_t)T * m->args.n_embd : 0)) / 1e6);
    if (ddp->world > 1) printf("using %d ranks x %d threads, %d micro-steps per rank, zero_stage %d\n", ddp->world, m->threads > 0 ? m->threads : ng_get_threads(), ddp->G, ddp->zero_stage);
    else printf("using %d threads\n", m->threads > 0 ? m->threads : ng_get_threads());
    ng_print_dtype(m);
    fflush(stdout);                  /* the banner now, not after the first evaluation */
    char log_path[NG_PATH_MAX];
    snprintf(log_path, sizeof log_path, "%s/log.jsonl", cfg->out_dir);
    t->run.log = ddp->rank == 0 ? fopen(log_path, "a") : NULL;
    if (!t->run.log && ddp->rank == 0) return ng_fail("%s: cannot open for appending", log_path);

    t->rng.s = ng_ddp_sampler_state(ddp, cfg, &t->rs, strcmp(cfg->init_from, "resume") == 0);
    NgAdamW *opt = &t->rs.opt;
    opt->beta1 = cfg->beta1; opt->beta2 = cfg->beta2; opt->eps = 1e-8f; opt->weight_decay = cfg->weight_decay;
    opt->decay_all = cfg->weight_decay_all;
    t->flops_per_iter = ng_model_flops_per_token(&m->args, T) * (double)B * T * G;
    t->t0 = ng_now();
    t->running_mfu = -1.0;
    t->local_iter = 0;
    ng_model_zero_grad(m);
    return 0;
}

/* SIGINT/SIGTERM go to on_signal for the rest of the run; release_signals restores them */
static void catch_signals(Train *t) {
    struct sigaction sa;
    g_stop = g_cont = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;        /* a line being printed is not lost to EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &t->old_int);
    sigaction(SIGTERM, &sa, &t->old_term);
    if (ng_dist_launched()) sigaction(SIGCONT, &sa, &t->old_cont);
    t->signals_set = 1;
}

static void release_signals(Train *t) {
    if (!t->signals_set) return;
    sigaction(SIGINT, &t->old_int, NULL);
    sigaction(SIGTERM, &t->old_term, NULL);
    if (ng_dist_launched()) sigaction(SIGCONT, &t->old_cont, NULL);
    t->signals_set = 0;
}

/* nanoGPT's `if iter_num % eval_interval == 0`: estimate_loss, the log line and record, the
 * checkpoint when val loss improved (or always_save_checkpoint), the report; *t_eval is its
 * time (part of this iteration's dt, as in nanoGPT). Returns 0, -1, or the signal (SIGINT,
 * SIGTERM) that ended the evaluation early, on every rank. */
static int eval_step(Train *t, int it, float lr, double *t_eval) {
    NgConfig *cfg = &t->cfg;
    float tl, vl;
    double te = ng_now();
    ng_progress_clear(&t->prog);
    int rc = ng_estimate_loss(&t->run, cfg, it, &g_stop, &tl, &vl);
    if (rc != 0) return rc;                   /* -1, or the signal that ended the evaluation */
    printf("step %d: train loss %.4f, val loss %.4f\n", it, tl, vl);
    if (!isfinite(tl) || !isfinite(vl)) {
        ng_fail("step %d: the loss is not finite (train %g, val %g): training diverged; the last checkpoint in %s is kept",
                it, tl, vl, cfg->out_dir);
        report_hook(&t->run, cfg, it, "diverged", 0);
        return -1;
    }
    LogField f[] = {{"train_loss", "%.6f", tl}, {"val_loss", "%.6f", vl}, {"lr", "%.6g", lr}};
    log_json(&t->run, it, f, 3);
    if (vl < t->rs.best_val_loss || cfg->always_save_checkpoint) {
        if (vl < t->rs.best_val_loss) t->rs.best_val_loss = vl;
        if (it > 0) {
            printf("saving checkpoint to %s\n", cfg->out_dir);
            if (ng_ddp_save(&t->ddp, t->ckpt_path, &t->run.model, cfg, &t->rs, &t->run.tok, &t->rng) != 0) return -1;
        }
    }
    report_hook(&t->run, cfg, it, "running", 1);
    fflush(stdout);
    *t_eval = ng_now() - te;
    ng_progress_pause(&t->prog, *t_eval);
    return 0;
}

/* one optimizer iteration: this rank's share of the G micro-steps (forward, backward of
 * loss / G), the ranks agree on the loss and on stopping (*stop: the signal, 0 none), then
 * clip and AdamW; a loss or gradient that is not finite ends the run as diverged */
static int train_iteration(Train *t, int it, float lr, float *loss_out, float *norm_out, int *stop) {
    NgConfig *cfg = &t->cfg;
    NgModel *m = &t->run.model;
    int B = t->B, T = t->T;
    m->training = 1;
    float loss = 0.0f;
    for (int micro = 0; micro < t->ddp.G; micro++) {   /* this rank's share of the G micro-steps */
        int k = ng_ddp_get_batch(&t->ddp, &t->run.train, &t->rng, micro, B, T, t->run.x, t->run.y);
        if (k < 0) return -1;
        m->dropout_seed = ng_hash64((uint64_t)cfg->seed ^ ng_hash64(((uint64_t)it << 16) | (uint64_t)k));
        if (ng_model_forward(m, t->run.x, t->run.y, B, T) != 0) return -1;
        loss = m->loss;
        if (ng_ddp_backward(&t->ddp, m, 1.0f / t->G, micro) != 0) return -1;
    }
    *stop = ng_ddp_agree_step(&t->ddp, &loss, g_stop);   /* every rank stops after the same step */
    t->rs.opt.lr = lr;
    float norm = NAN;
    if (!isfinite(loss) || ng_ddp_optimizer_step(&t->ddp, m, &t->rs.opt, cfg->grad_clip, &norm) != 0) {
        ng_fail("iter %d: loss is %g and gradient norm %g: training diverged (try a lower learning_rate); the last checkpoint in %s is kept",
                it, loss, norm, cfg->out_dir);
        report_hook(&t->run, cfg, it, "diverged", 0);
        return -1;
    }
    *loss_out = loss;
    *norm_out = norm;
    return 0;
}

/* timing and logging: the progress line on a terminal, and every log_interval the iter line
 * and its log.jsonl record (MFU once 5 iterations have run) */
static void log_step(Train *t, int it, float lr, float loss, float norm, double t_eval) {
    NgConfig *cfg = &t->cfg;
    double B = t->B, T = t->T, G = t->G;
    double t1 = ng_now(), dt = t1 - t->t0, comm_ms = ng_dist_comm_seconds() * 1000;
    t->t0 = t1;
    ng_progress_step(&t->prog, dt - t_eval);
    if (t->prog.tty) show_progress(&t->prog, cfg, it, loss, B * T * G / dt, t->running_mfu);
    if (it % cfg->log_interval == 0) {
        if (t->local_iter >= 5) {   /* per rank: the step's FLOPs are shared by the ranks */
            double mfu = t->flops_per_iter / t->ddp.world / dt / ng_peak_flops(cfg);
            t->running_mfu = t->running_mfu < 0 ? mfu : 0.9 * t->running_mfu + 0.1 * mfu;
        }
        double tok_s = B * T * G / dt;
        char comm[64] = "";   /* under mpirun: rank 0's time in collectives (the communication share) */
        if (t->ddp.world > 1) snprintf(comm, sizeof comm, ", comm %.2fms", comm_ms);
        if (!t->prog.tty && !ng_ddp_quiet(&t->ddp, g_cont)) printf("iter %d: loss %.4f, time %.2fms, mfu %.2f%%, %.0f tok/s%s\n", it, loss, dt * 1000, t->running_mfu * 100, tok_s, comm);
        fflush(stdout);
        LogField f[] = {{"loss", "%.6f", loss}, {"time_ms", "%.3f", dt * 1000}, {"mfu", "%.6f", t->running_mfu},
                        {"tokens_per_sec", "%.1f", tok_s}, {"lr", "%.6g", lr}, {"grad_norm", "%.6g", norm},
                        {"comm_ms", "%.3f", comm_ms}};
        log_json(&t->run, it, f, t->ddp.world > 1 ? 7 : 6);
    }
}

/* SIGINT/SIGTERM seen (stop): the checkpoint of the iterations done, and how to resume */
static int save_on_signal(Train *t, int stop) {
    ng_progress_end(&t->prog);
    printf("%s at iter %d: saving checkpoint to %s\n", stop == SIGINT ? "interrupted" : "terminated", t->rs.iter_num, t->ckpt_path);
    if (ng_ddp_save(&t->ddp, t->ckpt_path, &t->run.model, &t->cfg, &t->rs, &t->run.tok, &t->rng) != 0) return -1;
    printf("resume with --init_from=resume --out_dir=%s\n", t->cfg.out_dir);
    return 0;
}

/* the loop: evaluate every eval_interval, then one iteration, until max_iters (inclusive, as
 * nanoGPT), eval_only's first evaluation, or a signal; then the ranks' final check and the
 * report */
static int train_loop(Train *t) {
    NgConfig *cfg = &t->cfg;
    for (;;) {
        int it = t->rs.iter_num, stop = 0;
        float lr = ng_get_lr(cfg, it), loss, norm;
        double t_eval = 0.0;         /* part of this iteration's dt, as in nanoGPT */
        if (it % cfg->eval_interval == 0 && (stop = eval_step(t, it, lr, &t_eval)) != 0) {
            if (stop > 0 && cfg->eval_only) return ng_fail("the evaluation was interrupted (signal %d)", stop);
            if (stop < 0 || save_on_signal(t, stop) != 0) return -1;
            break;                   /* resumes at this iteration, its evaluation again */
        }
        if (it == 0 && cfg->eval_only) break;
        if (train_iteration(t, it, lr, &loss, &norm, &stop) != 0) return -1;
        log_step(t, it, lr, loss, norm, t_eval);
        t->rs.iter_num++;
        t->local_iter++;
        if (stop) {
            if (save_on_signal(t, stop) != 0) return -1;
            break;
        }
        if (t->rs.iter_num > cfg->max_iters) break;
    }
    if (ng_ddp_end(&t->ddp, &t->run.model) != 0) return -1;
    report_hook(&t->run, cfg, t->rs.iter_num > 0 ? t->rs.iter_num - 1 : 0, g_stop ? "interrupted" : "finished", 0);
    return 0;
}

/* shutdown: the progress line ended, ranks' buffers, signals restored, the run's files and
 * the lock of out_dir released */
static void shutdown_run(Train *t) {
    ng_progress_end(&t->prog);
    fflush(stdout);
    ng_ddp_free(&t->ddp, &t->rs);
    release_signals(t);
    ng_run_close(&t->run);
    ng_dir_unlock(t->lock);
}

int ng_train(const NgConfig *cfg_in) {
    Train t;
    if (open_out_dir(&t, cfg_in) != 0) return -1;   /* nothing to close yet */
    int rc = -1;
    if (setup_model_and_data(&t) == 0 && setup_run(&t) == 0) {
        catch_signals(&t);
        rc = train_loop(&t);
    }
    shutdown_run(&t);
    return rc;
}
