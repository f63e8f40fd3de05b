/* nanogpt.h -- the public C API of nanogpt: nanoGPT (Karpathy) in C.
 *
 * Everything a C program needs to load, train and sample a GPT:
 *   - NgConfig: every setting, one field per nanoGPT config key (see the table in config.c)
 *   - NgModel:  a GPT (or the lecture's bigram model) with flat parameter/gradient buffers
 *   - datasets (nanoGPT's raw uint16 .bin files), the char tokenizer (meta.json)
 *   - checkpoints in the safetensors format
 *
 * Conventions: functions that can fail on user input return 0 on success and -1 on
 * failure, with a one-line message available from ng_errmsg() ("<file>: <problem>").
 * Shapes are written in comments as (B,T,C): B batch, T time (sequence), C channels,
 * V vocabulary, L layers, NH heads, hs head size = C/NH.
 */
#ifndef NANOGPT_H
#define NANOGPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------------------------
 * errors */
const char *ng_errmsg(void);                               /* last error message */
int ng_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* set it, return -1 */

/* ----------------------------------------------------------------------------------------
 * configuration: one struct, one field per key of the config table (config.c) */
#define NG_STR 256
typedef struct {
    /* I/O */
    char out_dir[NG_STR];
    int eval_interval, log_interval, eval_iters, eval_only, always_save_checkpoint;
    char init_from[NG_STR];          /* "scratch" | "resume" */
    /* data */
    char dataset[NG_STR];
    int gradient_accumulation_steps, batch_size, block_size;
    /* model */
    char model[16];                  /* "gpt" | "bigram" */
    int n_layer, n_head, n_embd;
    float dropout;
    int bias;
    char gelu[16];                   /* "erf" (nanoGPT's nn.GELU()) | "tanh" (GPT-2) */
    /* AdamW and schedule */
    float learning_rate;
    int max_iters;
    float weight_decay, beta1, beta2, grad_clip;
    int decay_lr, warmup_iters, lr_decay_iters;
    float min_lr;
    /* system */
    int seed, threads;
    int zero_stage;                  /* 0: full AdamW state per rank, 1: ZeRO-1 shards (under mpirun) */
    double peak_flops;               /* FLOP/s of this machine for MFU; 0 = built-in estimate */
    /* sample */
    char start[NG_STR * 4];
    int num_samples, max_new_tokens, top_k;
    float temperature;
    /* prepare */
    char input[NG_STR];
    char tokenizer[16];              /* "char" | "gpt2" */
    char meta[NG_STR];               /* encode/decode: meta.json (default data/<dataset>/meta.json) */
    /* bench */
    char mode[16];                   /* "train" | "sample" */
    int bench_iters;
    /* export */
    char format[16];                 /* "hf" | "llmc" */
    uint64_t set_mask;               /* bit i: ng_keys[i] was set by a file or --key=value */
} NgConfig;

typedef enum { NG_INT, NG_FLOAT, NG_BOOL, NG_STRING, NG_DOUBLE, NG_IGNORED } NgKeyType;

typedef struct {
    const char *name;
    NgKeyType type;
    size_t offset;                   /* offsetof(NgConfig, field) */
    size_t size;                     /* for strings: buffer size */
    const char *def;                 /* default value as text */
    const char *cmds;                /* sub-commands that use it, e.g. "train,bench" */
    const char *help;
} NgKey;

extern const NgKey ng_keys[];        /* terminated by name == NULL */
void ng_config_defaults(NgConfig *cfg);
/* key=value; `where` names the source for errors ("config/x.conf:12" or "--key"). */
int ng_config_set(NgConfig *cfg, const char *key, const char *value, const char *where);
/* nanoGPT-style config file: `key = literal` lines, # comments. */
int ng_config_load_file(NgConfig *cfg, const char *path);
/* argv: leading CONFIG file (no "--") then --key=value overrides, applied in order. */
int ng_config_parse_args(NgConfig *cfg, int argc, char **argv);
/* checks relations between values (n_embd % n_head, positive sizes, ...). */
int ng_config_validate(const NgConfig *cfg);
/* the whole config as a JSON object (for checkpoints and logs); malloc'd. */
char *ng_config_to_json(const NgConfig *cfg);
const NgKey *ng_key_find(const char *name);
int ng_config_was_set(const NgConfig *cfg, const char *key);

/* ----------------------------------------------------------------------------------------
 * random numbers: xorshift/splitmix based, reproducible across platforms */
typedef struct { uint64_t s; } NgRng;
void ng_rng_seed(NgRng *r, uint64_t seed);
uint64_t ng_rng_u64(NgRng *r);
float ng_rng_uniform(NgRng *r);                        /* [0,1) */
float ng_rng_normal(NgRng *r);                         /* N(0,1) */
uint64_t ng_hash64(uint64_t x);                        /* splitmix64 finaliser */

/* ----------------------------------------------------------------------------------------
 * model */
typedef enum { NG_MODEL_GPT = 0, NG_MODEL_BIGRAM = 1 } NgModelType;

typedef struct {                     /* nanoGPT's GPTConfig */
    int model_type;                  /* NgModelType */
    int block_size, vocab_size, n_layer, n_head, n_embd;
    float dropout;
    int bias;                        /* Linear and LayerNorm biases */
    int gelu_tanh;                   /* 0: exact erf GELU, 1: tanh approximation */
} NgModelArgs;

/* Views into the flat parameter buffer (and, with the same layout, into the gradient). */
typedef struct {
    float *ln_1_w, *ln_1_b;          /* (C) */
    float *c_attn_w, *c_attn_b;      /* (3C,C), (3C) */
    float *attn_proj_w, *attn_proj_b;/* (C,C), (C) */
    float *ln_2_w, *ln_2_b;          /* (C) */
    float *c_fc_w, *c_fc_b;          /* (4C,C), (4C) */
    float *mlp_proj_w, *mlp_proj_b;  /* (C,4C), (C) */
} NgLayerParams;

typedef struct {
    float *wte;                      /* (V,C) token embedding, tied with lm_head */
    float *wpe;                      /* (T,C) position embedding */
    NgLayerParams *h;                /* [L] */
    float *ln_f_w, *ln_f_b;          /* (C) */
    float *bigram;                   /* (V,V) bigram model's token_embedding_table */
} NgParams;

/* The parameter table: one row per tensor (per-layer rows have {l} in the name). */
typedef enum { NG_DIM_1 = 0, NG_DIM_V, NG_DIM_T, NG_DIM_C, NG_DIM_3C, NG_DIM_4C } NgDim;
/* NORMAL: N(0,0.02); NORMAL_PROJ: N(0,0.02/sqrt(2L)) (c_proj); UNIT: N(0,1) (nn.Embedding default, bigram) */
typedef enum { NG_INIT_NORMAL, NG_INIT_NORMAL_PROJ, NG_INIT_ZERO, NG_INIT_ONE, NG_INIT_UNIT } NgInit;
typedef struct {
    const char *name;                /* nanoGPT state_dict name, e.g. "transformer.h.{l}.attn.c_attn.weight" */
    int model_type;
    int per_layer;                   /* offset is into NgLayerParams, else into NgParams */
    int is_bias;                     /* present only when bias=True */
    NgDim dims[2];                   /* shape, NG_DIM_1 = absent trailing dim */
    NgInit init;
    size_t offset;
} NgParamSpec;
extern const NgParamSpec ng_param_table[]; /* terminated by name == NULL */

typedef struct {                     /* one tensor of a model, resolved from the table */
    char name[96];
    int ndim;
    int64_t shape[2];
    size_t numel;
    size_t offset;                   /* in floats, into params/grads/m/v */
    int decay;                       /* AdamW weight decay applies (ndim >= 2) */
    NgInit init;
    int spec, layer;                 /* row of ng_param_table, layer index */
} NgTensor;

typedef struct NgActs NgActs;        /* activations (model.c) */

typedef struct {
    NgModelArgs args;
    NgTensor *tensors; int n_tensors;
    size_t num_params;
    float *params;                   /* one contiguous buffer */
    float *grads;                    /* same layout, NULL until needed */
    float *m, *v;                    /* AdamW moments, same layout, NULL until needed */
    NgParams p, g;                   /* named views into params and grads */
    /* activations for the current (B,T) */
    NgActs *acts;
    int B, T;                        /* the shape acts were sized for */
    float loss;                      /* mean loss of the last forward with targets */
    uint64_t dropout_seed;           /* drives the counter-based dropout masks */
    int training;                    /* dropout on (1) or off (0) */
} NgModel;

int ng_model_args_validate(const NgModelArgs *a);
/* Allocates parameters (not initialised) and the tensor list. */
int ng_model_create(NgModel *m, const NgModelArgs *args);
void ng_model_free(NgModel *m);
/* nanoGPT's init with the given seed. */
void ng_model_init_weights(NgModel *m, uint64_t seed);
const NgTensor *ng_model_find_tensor(const NgModel *m, const char *name);
/* Forward pass. idx, targets: (B,T) token ids; targets may be NULL (then only logits).
 * Target -1 is ignored in the loss. Returns 0 or -1 (allocation failure). */
int ng_model_forward(NgModel *m, const int *idx, const int *targets, int B, int T);
/* Logits of the last forward: (B,T,V) when targets were given, else only the last
 * position's (B,V) (nanoGPT's inference-time optimisation) unless all_logits was set. */
const float *ng_model_logits(const NgModel *m);
/* Backward of the last forward (which must have had targets); accumulates into grads,
 * scaling the loss by loss_scale (1/gradient_accumulation_steps). */
int ng_model_backward(NgModel *m, float loss_scale);
void ng_model_zero_grad(NgModel *m);
extern int ng_all_logits;            /* testing: keep logits of all positions at inference */
/* testing: how a training step uses the threads. 0 (default): a batch shard per thread while
 * each shard keeps at least n_embd rows, else one shard with parallel kernels; 1: always one
 * shard; 2: always a shard per thread (at most B). Results agree to rounding. */
extern int ng_shard_mode;
/* Incremental inference with a KV cache (one sequence): runs tokens[0..n) at positions
 * pos0..pos0+n-1, attending to the keys/values cached for positions < pos0 by earlier calls,
 * and leaves the last position's logits (V) in ng_model_logits(). pos0 = 0 starts over;
 * pos0 + n <= block_size. Each generated token then costs one position's forward. */
int ng_model_decode(NgModel *m, const int *tokens, int n, int pos0);
/* nanoGPT's generate(): appends max_new tokens to ids[0..n_prompt) (ids has room for
 * n_prompt + max_new), the context cropped to block_size, logits / temperature, top_k, drawn
 * from the softmax; ids >= vocab_limit are never drawn. Uses the KV cache while the sequence
 * fits in the block; beyond it every token needs the whole window again (positions shift). */
int ng_generate(NgModel *m, int *ids, size_t n_prompt, int max_new, float temperature, int top_k,
                int vocab_limit, NgRng *rng);

/* One draw of nanoGPT's sampling step: logits(V) / temperature, only the top_k largest kept
 * (ties with the k-th kept too), softmax, one draw from rng. scratch holds 2V floats. */
int ng_sample_token(const float *logits, int V, float temperature, int top_k, NgRng *rng, float *scratch);

/* FLOPs of one training step (forward + backward) for tokens = B*T (6N + attention). */
double ng_model_flops_per_token(const NgModelArgs *a, int T);

/* ----------------------------------------------------------------------------------------
 * optimizer: AdamW with nanoGPT's parameter groups */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int t;                           /* step count, 1-based after the first step */
} NgAdamW;
int ng_adamw_step(NgModel *m, NgAdamW *opt);          /* allocates m/v on first use */
float ng_grad_norm(const NgModel *m);                  /* global L2 norm of grads */
float ng_clip_grad_norm(NgModel *m, float max_norm);   /* returns the norm before clipping */
float ng_get_lr(const NgConfig *cfg, int it);          /* warmup + cosine, nanoGPT's get_lr */
/* the training loop's step: norm, clip, AdamW and zero_grad fused; -1 if the norm is not finite */
int ng_optimizer_step(NgModel *m, NgAdamW *opt, float grad_clip, float *norm_out);

/* ----------------------------------------------------------------------------------------
 * tokenizer (character level, nanoGPT's meta.json) */
typedef struct {
    int vocab_size;
    char **itos;                     /* id -> UTF-8 string of one code point */
    /* code point -> id lookup */
    uint32_t *cps;                   /* sorted code points, [vocab_size] */
} NgCharTokenizer;
/* Builds the vocabulary from UTF-8 text (error on invalid UTF-8, naming `path`). */
int ng_chartok_build(NgCharTokenizer *tok, const char *text, size_t n, const char *path);
int ng_chartok_load_meta(NgCharTokenizer *tok, const char *meta_path);
int ng_chartok_save_meta(const NgCharTokenizer *tok, const char *meta_path);
/* Encodes UTF-8 text; error names the first character not in the vocabulary. *out is malloc'd. */
int ng_chartok_encode(const NgCharTokenizer *tok, const char *text, size_t n, int **out, size_t *n_out);
const char *ng_chartok_decode1(const NgCharTokenizer *tok, int id);
void ng_chartok_free(NgCharTokenizer *tok);

/* ----------------------------------------------------------------------------------------
 * tokenizer: character-level (a meta.json's vocabulary) or GPT-2's byte-level BPE */
typedef enum { NG_TOK_NONE = 0, NG_TOK_CHAR, NG_TOK_GPT2 } NgTokKind;
typedef struct NgBpe NgBpe;
typedef struct {
    NgTokKind kind;
    int vocab_size;                  /* ids the tokenizer produces (GPT-2: 50257) */
    NgCharTokenizer chars;           /* NG_TOK_CHAR */
    NgBpe *bpe;                      /* NG_TOK_GPT2 */
} NgTokenizer;
/* meta.json text: {"tokenizer": "gpt2", ...} or a char vocabulary ({"itos": [...], ...}) */
int ng_tokenizer_parse_meta(NgTokenizer *t, const char *text, size_t n, const char *name);
int ng_tokenizer_load_meta(NgTokenizer *t, const char *path);
int ng_tokenizer_gpt2(NgTokenizer *t);
/* text -> ids (*ids malloc'd); GPT-2 allows <|endoftext|> as nanoGPT's sample.py does */
int ng_tokenizer_encode(const NgTokenizer *t, const char *text, size_t n, int **ids, size_t *n_ids);
/* ids -> bytes (malloc'd, NUL-terminated); ids the tokenizer does not have (the padding of a
 * vocabulary rounded up to 50304) decode to nothing */
char *ng_tokenizer_decode(const NgTokenizer *t, const int *ids, size_t n, size_t *len);
char *ng_tokenizer_meta_json(const NgTokenizer *t);     /* malloc'd meta.json text */
void ng_tokenizer_free(NgTokenizer *t);

/* ----------------------------------------------------------------------------------------
 * dataset: nanoGPT's raw little-endian uint16 token files */
typedef struct {
    char path[512];
    const uint16_t *tokens;          /* mmap'd */
    size_t n_tokens;
    size_t map_size;
    void *map;
} NgTokenFile;
/* Opens and validates: even byte count, > block_size tokens, ids < vocab_size. */
int ng_tokenfile_open(NgTokenFile *f, const char *path, int vocab_size, int block_size);
void ng_tokenfile_close(NgTokenFile *f);
/* nanoGPT's get_batch: B random windows of T+1 tokens -> x (B,T), y (B,T). */
void ng_get_batch(const NgTokenFile *f, NgRng *rng, int B, int T, int *x, int *y);
/* `prepare`: writes dir/{train.bin,val.bin,meta.json} from a UTF-8 text file (90/10 split). */
int ng_prepare_char(const char *input_path, const char *out_dir, int verbose);

/* ----------------------------------------------------------------------------------------
 * safetensors (io/safetensors.c) */
typedef enum { NG_F32, NG_F16, NG_BF16, NG_F64, NG_I64, NG_I32, NG_I16, NG_I8, NG_U8, NG_U16, NG_U32, NG_U64, NG_BOOL_DT } NgDtype;
typedef struct {
    char *name;
    NgDtype dtype;
    int ndim;
    int64_t shape[8];
    uint64_t begin, end;             /* byte offsets into the data section */
} NgStTensor;
typedef struct {
    char path[512];
    uint8_t *buf; size_t size;       /* the whole file */
    const uint8_t *data; size_t data_size;  /* data section */
    NgStTensor *tensors; int n_tensors;
    char **meta_keys, **meta_vals; int n_meta;  /* __metadata__ (string -> string) */
} NgStFile;
int ng_st_open(NgStFile *f, const char *path);
/* Same checks on an in-memory image (for fuzzing); `name` is used in errors. */
int ng_st_parse(NgStFile *f, const uint8_t *buf, size_t size, const char *name);
void ng_st_close(NgStFile *f);
const NgStTensor *ng_st_find(const NgStFile *f, const char *name);
const char *ng_st_meta(const NgStFile *f, const char *key);
size_t ng_dtype_size(NgDtype d);

typedef struct NgStWriter NgStWriter;
NgStWriter *ng_st_writer_new(void);
/* data is not copied: it must stay valid until ng_st_writer_save. */
int ng_st_writer_add(NgStWriter *w, const char *name, NgDtype dtype, int ndim, const int64_t *shape, const void *data);
int ng_st_writer_meta(NgStWriter *w, const char *key, const char *value);
/* writes atomically: path.tmp, fsync, rename, fsync(dir). */
int ng_st_writer_save(NgStWriter *w, const char *path);
void ng_st_writer_free(NgStWriter *w);

/* ----------------------------------------------------------------------------------------
 * checkpoint (io/checkpoint.c): model + optimizer + run state in one safetensors file */
typedef struct {
    int iter_num;
    float best_val_loss;
    NgAdamW opt;
    uint64_t rng_state;              /* data sampler RNG (of rank 0 under mpirun) */
    int n_ranks;                     /* > 1: written by that many data-parallel ranks, */
    uint64_t *rank_rng_states;       /* [n_ranks] each rank's sampler RNG (malloc'd by load; free it) */
} NgRunState;
int ng_checkpoint_save(const char *path, const NgModel *m, const NgConfig *cfg,
                       const NgRunState *rs, const NgTokenizer *tok);
/* Reads model_args and config from a checkpoint, creates the model and loads weights
 * (and optimizer moments when with_optimizer). cfg/rs/tok may be NULL. */
int ng_checkpoint_load(const char *path, NgModel *m, NgConfig *cfg, NgRunState *rs,
                       NgTokenizer *tok, int with_optimizer);

/* ----------------------------------------------------------------------------------------
 * high level: the sub-commands as library calls */
int ng_train(const NgConfig *cfg);
int ng_eval(const NgConfig *cfg);
int ng_sample(const NgConfig *cfg, FILE *out);
int ng_bench(const NgConfig *cfg);

#ifdef __cplusplus
}
#endif
#endif
