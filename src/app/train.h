/* train.h -- internal: the state of a training/eval run, shared by train.c and bench.c */
#ifndef NG_TRAIN_H
#define NG_TRAIN_H
#include "nanogpt.h"
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
int ng_estimate_loss(NgRun *run, const NgConfig *cfg, int iter, float *train_loss, float *val_loss);
double ng_peak_flops(const NgConfig *cfg);
#define GPT2_PADDED_VOCAB 50304    /* nanoGPT: GPT-2's 50257 rounded up for efficiency */
int ng_dataset_vocab(const NgConfig *cfg, NgTokenizer *tok, int *vocab_size);
void ng_model_args_from_config(NgModelArgs *a, const NgConfig *cfg, int vocab_size);
/* the vocabulary train would use for cfg's dataset; GPT-2's padded 50304 without a dataset (bench.c) */
int ng_config_vocab(const NgConfig *cfg, int *vocab_size);
/* the prompt: start, or the contents of FILE:path (sample.c); malloc'd */
char *ng_read_start(const char *start, size_t *n);
int ng_load_for_inference(const NgConfig *cfg, NgModel *m, NgConfig *saved, NgTokenizer *tok);
#endif
