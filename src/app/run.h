/* run.h -- internal: the state of a training/eval run and the helpers train.c, eval.c,
 * sample.c and bench.c share (run.c). */
#ifndef NG_RUN_H
#define NG_RUN_H
#include "nanogpt.h"
#include <signal.h>
#include <stdarg.h>
typedef struct {
    NgModel model;
    NgTokenFile train, val;
    NgTokenizer tok;
    int *x, *y;                      /* (B,T) batch */
    FILE *log;                       /* out_dir/log.jsonl */
} NgRun;
int ng_run_open_data(NgRun *run, const NgConfig *cfg, int vocab_size, int block_size);
void ng_run_close(NgRun *run);
/* nanoGPT's estimate_loss(): 0, or -1 on an error; with stop (a signal handler's flag, or NULL)
 * it returns that signal instead once *stop is set on any rank, between two batches */
int ng_estimate_loss(NgRun *run, const NgConfig *cfg, int iter, const volatile sig_atomic_t *stop,
                     float *train_loss, float *val_loss);
double ng_peak_flops(const NgConfig *cfg);
#define GPT2_PADDED_VOCAB 50304    /* nanoGPT: GPT-2's 50257 rounded up for efficiency */
int ng_dataset_vocab(const NgConfig *cfg, NgTokenizer *tok, int *vocab_size);
void ng_model_args_from_config(NgModelArgs *a, const NgConfig *cfg, int vocab_size);
/* the vocabulary train would use for cfg's dataset; GPT-2's padded 50304 without a dataset (bench.c) */
int ng_config_vocab(const NgConfig *cfg, int *vocab_size);
/* the prompt: start, or the contents of FILE:path (sample.c); malloc'd */
char *ng_read_start(const char *start, size_t *n);
/* The model `sample` and `eval` run: init_from=gpt2*|PATH (pretrained weights, GPT-2's
 * tokenizer), else the checkpoint in out_dir (its config in saved, its tokenizer in tok) */
int ng_load_for_inference(const NgConfig *cfg, NgModel *m, NgConfig *saved, NgTokenizer *tok);
void ng_print_dtype(const NgModel *m);      /* train, bench: "dtype bfloat16: ..." */
/* the config's model keys (n_layer, n_head, n_embd, block_size, bias, model, gelu) as the model has them */
void ng_config_model_keys(NgConfig *cfg, const NgModelArgs *a);
/* model keys the config sets must be the checkpoint's: "PATH: VERB: the config sets ..." */
int ng_check_model_keys(const NgConfig *cfg, const NgModelArgs *a, const char *path, const char *verb);
/* the dataset's vocabulary (its meta.json, none: GPT-2's) must be the model's tokenizer */
int ng_check_dataset_tokenizer(const NgConfig *cfg, const NgTokenizer *tok, const char *source);
/* the config's model keys (n_layer, n_head, n_embd, block_size, bias, model, gelu) as the model has them */
void ng_config_model_keys(NgConfig *cfg, const NgModelArgs *a);
#endif
