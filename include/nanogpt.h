/* nanogpt.h -- the public C API of nanogpt: nanoGPT (Karpathy) in C, for programs that embed
 * the model. The headers under src/ are internal and may change.
 *
 *   - NgModel: a GPT (or the lecture's bigram model) with flat parameter/gradient buffers:
 *     open a checkpoint or pretrained GPT-2 weights, or create and init one; forward,
 *     backward, AdamW step, generate and sample a token
 *   - tokenizers (a meta.json's characters, GPT-2's BPE), token files (nanoGPT's .bin)
 *   - checkpoints (safetensors), Hugging Face GPT-2 and llm.c weights in and out
 *   - NgConfig and the sub-commands as calls (ng_train, ng_sample, ...), for a program that
 *     wants nanoGPT's config keys; nothing above needs an NgConfig
 *
 * Conventions: functions that can fail return 0 on success and -1 on failure (or NULL), with a
 * one-line message from ng_errmsg() ("<file>: <problem>"). The library never exits, aborts or
 * prints errors. Memory: "(malloc'd)" means the caller owns the result and frees it with
 * free(); a struct filled by an _open/_load/_create call is released with its _free/_close
 * call (which may also be called on a zeroed struct); anything else returned points into an
 * object and lives as long as it does.
 * Threads: calls on different models, tokenizers and files may run in different threads at the
 * same time (each thread has its own ng_errmsg()); one object is used by one thread at a time.
 * Shapes are written as (B,T,C): B batch, T time (sequence), C channels, V vocabulary,
 * L layers, NH heads, hs head size = C/NH.
 */
#ifndef NANOGPT_H
#define NANOGPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NG_PATH_MAX 1024             /* bytes of every path buffer, the NUL included */

/* ----------------------------------------------------------------------------------------
 * errors */
/* The last error of the calling thread; points into thread-local storage, valid until the
 * thread's next failing call. */
const char *ng_errmsg(void);

/* ----------------------------------------------------------------------------------------
 * configuration (for the sub-command calls below): one field per nanoGPT config key, the
 * keys of `./nanogpt help` (the config table in src/app/config.c) */
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
    char activation[16];             /* "gelu" (nanoGPT) | "relu" (the lecture's FeedFoward) */
    int tied_lm_head, qkv_bias, embd_dropout, scaled_init;  /* nanoGPT: all 1; the lecture's gpt.py: all 0 */
    /* AdamW and schedule */
    float learning_rate;
    int max_iters;
    float weight_decay, beta1, beta2, grad_clip;
    int weight_decay_all;            /* decay every tensor (PyTorch's AdamW default), not matrices only */
    int decay_lr, warmup_iters, lr_decay_iters;
    float min_lr;
    /* system */
    int seed, threads;
    char dtype[16];                  /* "float32" | "bfloat16" (matmul operands) */
    int zero_stage;                  /* 0: full AdamW state per rank, 1: ZeRO-1 shards (under mpirun) */
    int ddp_overlap;                 /* under mpirun: gradient exchange overlapped with the backward */
    double peak_flops;               /* FLOP/s of this machine for MFU; 0 = built-in estimate */
    /* sample */
    char start[NG_STR * 4];
    int num_samples, max_new_tokens, top_k;
    float temperature;
    float top_p;                     /* nucleus sampling; 1.0 = off */
    char stop[NG_STR];               /* a sample ends where this text appears ("" = never) */
    int stop_at_eos;                 /* GPT-2: a sample ends at <|endoftext|> */
    /* serve */
    char host[NG_STR];
    int port;
    char api_key[NG_STR];            /* "" = no authentication */
    /* prepare */
    char input[NG_STR];
    char tokenizer[16];              /* "char" | "gpt2" */
    char meta[NG_STR];               /* encode/decode: meta.json (default data/<dataset>/meta.json) */
    /* bench */
    char mode[16];                   /* "train" | "sample" */
    int bench_iters;
    /* export */
    char format[16];                 /* "hf" | "llmc" */
    /* report, plot, attention */
    int sample_at_eval;              /* tokens sampled into report.html at each evaluation */
    char out[NG_STR];                /* output file of report, plot, attention */
    int layer, head;                 /* attention: block and head (-1: every head) */
#define NG_MAX_KEYS 128
    uint64_t set_mask[NG_MAX_KEYS / 64]; /* internal: which keys a file or --key=value set */
} NgConfig;

int ng_config_defaults(NgConfig *cfg);   /* every key at its default; 0 */
/* key=value; `where` names the source for errors ("config/x.conf:12" or "--key"). */
int ng_config_set(NgConfig *cfg, const char *key, const char *value, const char *where);
/* nanoGPT-style config file: `key = literal` lines, # comments. */
int ng_config_load_file(NgConfig *cfg, const char *path);
/* argv: leading CONFIG file (no "--") then --key=value overrides, applied in order. */
int ng_config_parse_args(NgConfig *cfg, int argc, char **argv);
/* checks relations between values (n_embd % n_head, positive sizes, ...). */
int ng_config_validate(const NgConfig *cfg);
/* the whole config as a JSON object (malloc'd; NULL if out of memory). */
char *ng_config_to_json(const NgConfig *cfg);
/* 1 if a file or --key=value set `key` (not only its default), else 0 */
int ng_config_was_set(const NgConfig *cfg, const char *key);

/* ----------------------------------------------------------------------------------------
 * random numbers: xorshift/splitmix based, reproducible across platforms */
typedef struct { uint64_t s; } NgRng;
void ng_rng_seed(NgRng *r, uint64_t seed);
uint64_t ng_rng_u64(NgRng *r);
float ng_rng_uniform(NgRng *r);                        /* [0,1) */
float ng_rng_normal(NgRng *r);                         /* N(0,1) */

/* ----------------------------------------------------------------------------------------
 * model */
typedef enum { NG_MODEL_GPT = 0, NG_MODEL_BIGRAM = 1 } NgModelType;
typedef struct NgTokenizer NgTokenizer;              /* below */

typedef struct {                     /* nanoGPT's GPTConfig */
    int model_type;                  /* NgModelType */
    int block_size, vocab_size, n_layer, n_head, n_embd;
    float dropout;
    int bias;                        /* Linear and LayerNorm biases */
    int gelu_tanh;                   /* 0: exact erf GELU, 1: tanh approximation */
    /* the lecture's gpt.py (all 0 = nanoGPT's model) */
    int relu;                        /* MLP activation ReLU instead of GELU */
    int untied_head;                 /* lm_head.weight (V,C) of its own (+ lm_head.bias (V) when bias) */
    int no_qkv_bias;                 /* c_attn (key/query/value) without bias even when bias */
    int no_embd_dropout;             /* no dropout after the token + position embeddings */
    int unscaled_init;               /* c_proj weights N(0,0.02) like every Linear, not N(0,0.02/sqrt(2L)) */
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
    float *lm_head_w, *lm_head_b;    /* (V,C), (V): only when untied_head (else lm_head = wte) */
    float *bigram;                   /* (V,V) bigram model's token_embedding_table */
} NgParams;

typedef struct {                     /* one tensor of a model, resolved from the table */
    char name[96];
    int ndim;
    int64_t shape[2];
    size_t numel;
    size_t offset;                   /* in floats, into params/grads/m/v */
    int decay;                       /* AdamW weight decay applies (ndim >= 2, or weight_decay_all) */
    int init;                        /* internal: how ng_model_init_weights draws it */
    int spec, layer;                 /* internal: row of the parameter table, layer index */
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
    int threads;                     /* team size its calls ask OpenMP for; 0 = OpenMP's default
                                      * (OMP_NUM_THREADS or all cores). Also the number of batch
                                      * shards of a training step (results depend on it, never on
                                      * the team OpenMP actually gives). */
    int all_logits;                  /* 1: a forward without targets keeps the logits of every
                                      * position, (B,T,V), not only the last one's (B,V) */
    /* How a training step uses the threads. 0 (default): a batch shard per thread while each
     * shard keeps at least n_embd rows, else one shard with parallel kernels; 1: always one
     * shard; 2: always a shard per thread (at most B). Results agree to rounding. */
    int shard_mode;
    /* precision of the matmuls (dtype): NG_DTYPE_F32, or NG_DTYPE_BF16 for bf16 operands with
     * fp32 sums taken from a bf16 copy of the weight matrices, remade when params_version moves */
    int dtype;                       /* NG_DTYPE_F32 (0, the default) or NG_DTYPE_BF16 */
    unsigned params_version;         /* bumped by each optimizer step; bump it after changing params by hand */
    struct NgBf16Weights *bf16;      /* the bf16 copy (model/precision.c), NULL until needed */
} NgModel;

int ng_model_args_validate(const NgModelArgs *a);
enum { NG_DTYPE_F32 = 0, NG_DTYPE_BF16 = 1 };   /* NgModel.dtype */
/* dtype "float32" or "bfloat16" (nanoGPT's dtype key); anything else is an error. */
int ng_model_set_dtype(NgModel *m, const char *dtype);
/* Allocates parameters (not initialised) and the tensor list; free with ng_model_free. m need
 * not be initialised (it is zeroed first, also on failure). */
int ng_model_create(NgModel *m, const NgModelArgs *args);
/* Frees everything the model owns and zeroes it; fine on a zeroed model. */
void ng_model_free(NgModel *m);
/* A model to run or fine-tune, from `spec`: a checkpoint written by ng_checkpoint_save or
 * `./nanogpt train` (a .safetensors file with nanogpt metadata, or a directory holding
 * ckpt.safetensors), or pretrained GPT-2 weights as ng_import_pretrained takes them (gpt2*
 * names, a Hugging Face model.safetensors or its directory, an llm.c .bin). tok (may be NULL)
 * gets the tokenizer: the checkpoint's vocabulary, GPT-2's for pretrained weights (kind
 * NG_TOK_NONE for a checkpoint saved without one). Free with ng_model_free / ng_tokenizer_free. */
int ng_model_load(const char *spec, NgModel *m, NgTokenizer *tok);
/* nanoGPT's init with the given seed. */
void ng_model_init_weights(NgModel *m, uint64_t seed);
/* the tensor of that state_dict name (points into m->tensors), NULL if the model has none */
const NgTensor *ng_model_find_tensor(const NgModel *m, const char *name);
/* Forward pass. idx, targets: (B,T) token ids; targets may be NULL (then only logits).
 * Target -1 is ignored in the loss. Returns 0 or -1 (allocation failure). */
int ng_model_forward(NgModel *m, const int *idx, const int *targets, int B, int T);
/* Logits of the last forward, owned by the model (valid until its next call): (B,T,V) when
 * targets were given, else only the last position's (B,V) (nanoGPT's inference-time
 * optimisation) unless m->all_logits is set. */
const float *ng_model_logits(const NgModel *m);
/* Backward of the last forward (which must have had targets); accumulates into grads,
 * scaling the loss by loss_scale (1/gradient_accumulation_steps). */
int ng_model_backward(NgModel *m, float loss_scale);
void ng_model_zero_grad(NgModel *m);
/* Incremental inference with a KV cache (one sequence): runs tokens[0..n) at positions
 * pos0..pos0+n-1, attending to the keys/values cached for positions < pos0 by earlier calls,
 * and leaves the last position's logits (V) in ng_model_logits(). pos0 = 0 starts over;
 * pos0 + n <= block_size. Each generated token then costs one position's forward. */
int ng_model_decode(NgModel *m, const int *tokens, int n, int pos0);
/* nanoGPT's generate(): appends max_new tokens to ids[0..n_prompt) (ids has room for
 * n_prompt + max_new), the context cropped to block_size, logits / temperature, top_k (0: all), drawn
 * from the softmax; ids >= vocab_limit are never drawn. Uses the KV cache while the sequence
 * fits in the block; beyond it every token needs the whole window again (positions shift).
 * Decodes through NgDecoder (a batch of one): the tokens `sample` draws in a batch. */
int ng_generate(NgModel *m, int *ids, size_t n_prompt, int max_new, float temperature, int top_k,
                int vocab_limit, NgRng *rng);

/* Batched decoding: up to n_slots sequences, each with its own KV cache (a slot), advanced one
 * position together per ng_model_decode_batch call, reading the weights once for all of them.
 * Each sequence gets bitwise the logits it gets decoded alone (a batch of one), whatever else
 * is in the batch (ng_model_decode's to rounding: its one-row products sum in another order).
 * A prefill (or, past block_size, the cropped window) runs one sequence from position 0
 * through ng_model_decode. Logits of the k-th sequence of the last call:
 * ng_decoder_logits(d, k) (a prefill is a call of one). */
typedef struct NgDecoder NgDecoder;
NgDecoder *ng_decoder_new(const NgModel *m, int n_slots);
void ng_decoder_free(NgDecoder *d);
int ng_decoder_slots(const NgDecoder *d);
int ng_decoder_len(const NgDecoder *d, int slot);          /* positions cached in slot */
int ng_decoder_prefill(NgModel *m, NgDecoder *d, int slot, const int *tokens, int n);
int ng_decoder_copy(NgDecoder *d, int from, int to);       /* slot to continues as slot from */
int ng_model_decode_batch(NgModel *m, NgDecoder *d, int n, const int *slots, const int *tokens);
const float *ng_decoder_logits(const NgDecoder *d, int k); /* (V) */

/* One draw of nanoGPT's sampling step: logits(V) / temperature, only the top_k (0: all) largest kept
 * (ties with the k-th kept too), softmax, one draw from rng. scratch: the caller's 2V floats.
 * Returns the token id. */
int ng_sample_token(const float *logits, int V, float temperature, int top_k, NgRng *rng, float *scratch);
/* The same with nucleus sampling after top-k: only the most likely tokens whose probabilities
 * (renormalised over the top_k) add up to top_p are kept (ties with the last one kept too;
 * top_p >= 1 keeps all). NaN logits are never drawn. */
int ng_sample_token_p(const float *logits, int V, float temperature, int top_k, float top_p, NgRng *rng, float *scratch);

/* nanoGPT's get_num_params(): parameters without the position embeddings. */
size_t ng_model_num_params_nonembedding(const NgModelArgs *a);
/* FLOPs per token of one training step (forward + backward): nanoGPT's estimate_mfu,
 * 6N + 12*L*C*T with N = ng_model_num_params_nonembedding. */
double ng_model_flops_per_token(const NgModelArgs *a, int T);
/* Every head's causal attention probabilities softmax(q k^T / sqrt(hs)) in block `layer` for
 * one sequence tokens[0..T): probs (NH,T,T), row t over keys 0..t, zeros above the diagonal.
 * Runs a forward pass (dropout off) and reads q and k from its activations. */
int ng_model_attention_probs(NgModel *m, const int *tokens, int T, int layer, float *probs);
/* The model's tensors (names, shapes, offsets) from the parameter table, without allocating
 * the parameters; *out is malloc'd. Returns the count or -1. */
int ng_model_list_tensors(const NgModelArgs *a, NgTensor **out);

/* Memory of a training run (memory.c), known before anything is allocated. Counts are
 * elements; ng_memory_bytes prices them at 4 (fp32) or 2 (bf16) bytes per float. */
typedef struct {
    size_t params, grads, adam;      /* parameters, their gradients, AdamW's two moments */
    size_t acts;                     /* activations (forward and backward) for B*T rows */
    int shards;                      /* batch shards of a step (one gradient copy each beyond the first) */
    size_t shard_grads;              /* floats of those extra gradient copies */
    size_t batch_ints;               /* ints of the batch and its copies */
    double runtime_bytes;            /* program, libraries and per-thread kernel scratch */
} NgMemory;
void ng_model_memory_estimate(const NgModelArgs *a, int B, int T, int threads, NgMemory *mem);
double ng_memory_bytes(const NgMemory *mem, int float_bytes);

/* ----------------------------------------------------------------------------------------
 * optimizer: AdamW with nanoGPT's parameter groups */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int t;                           /* step count, 1-based after the first step */
    int decay_all;                   /* weight decay on every tensor (torch.optim.AdamW's default) */
} NgAdamW;
int ng_adamw_step(NgModel *m, NgAdamW *opt);          /* allocates m/v on first use */
float ng_grad_norm(const NgModel *m);                  /* global L2 norm of grads */
float ng_clip_grad_norm(NgModel *m, float max_norm);   /* returns the norm before clipping */
/* the training loop's step: norm, clip, AdamW and zero_grad fused; -1 if the norm is not finite */
int ng_optimizer_step(NgModel *m, NgAdamW *opt, float grad_clip, float *norm_out);

/* ----------------------------------------------------------------------------------------
 * tokenizer: character-level (a meta.json's vocabulary) or GPT-2's byte-level BPE */
typedef enum { NG_TOK_NONE = 0, NG_TOK_CHAR, NG_TOK_GPT2 } NgTokKind;
typedef struct NgCharTokenizer NgCharTokenizer;       /* internal */
typedef struct NgBpe NgBpe;                           /* internal */
struct NgTokenizer {
    NgTokKind kind;
    int vocab_size;                  /* ids the tokenizer produces (GPT-2: 50257) */
    NgCharTokenizer *chars;          /* NG_TOK_CHAR (owned) */
    NgBpe *bpe;                      /* NG_TOK_GPT2 (owned) */
};
/* Each of these fills t (it need not be initialised); free it with ng_tokenizer_free. */
/* meta.json text: {"tokenizer": "gpt2", ...} or a char vocabulary ({"itos": [...], ...});
 * `name` names the text in errors */
int ng_tokenizer_parse_meta(NgTokenizer *t, const char *text, size_t n, const char *name);
int ng_tokenizer_load_meta(NgTokenizer *t, const char *path);
int ng_tokenizer_gpt2(NgTokenizer *t);                  /* GPT-2's BPE (tiktoken's "gpt2") */
/* text -> ids (*ids malloc'd, never NULL on success); GPT-2 allows <|endoftext|> as nanoGPT's
 * sample.py does; a character the vocabulary lacks is an error naming it */
int ng_tokenizer_encode(const NgTokenizer *t, const char *text, size_t n, int **ids, size_t *n_ids);
/* ids -> bytes (malloc'd, NUL-terminated, the length in *len unless len is NULL); ids the
 * tokenizer does not have (the padding of a vocabulary rounded up to 50304) decode to nothing */
char *ng_tokenizer_decode(const NgTokenizer *t, const int *ids, size_t n, size_t *len);
char *ng_tokenizer_meta_json(const NgTokenizer *t);     /* meta.json text (malloc'd) */
void ng_tokenizer_free(NgTokenizer *t);

/* ----------------------------------------------------------------------------------------
 * dataset: nanoGPT's raw little-endian uint16 token files */
typedef struct {
    char path[NG_PATH_MAX];
    const uint16_t *tokens;          /* mmap'd */
    size_t n_tokens;
    size_t map_size;
    void *map;
} NgTokenFile;
/* Maps and validates (even byte count, > block_size tokens, ids < vocab_size; llm.c shards
 * recognised by their header); close with ng_tokenfile_close. */
int ng_tokenfile_open(NgTokenFile *f, const char *path, int vocab_size, int block_size);
void ng_tokenfile_close(NgTokenFile *f);
/* nanoGPT's get_batch: B random windows of T+1 tokens -> the caller's x (B,T), y (B,T);
 * -1 if the file has no more than T tokens. */
int ng_get_batch(const NgTokenFile *f, NgRng *rng, int B, int T, int *x, int *y);

/* ----------------------------------------------------------------------------------------
 * checkpoints: model + optimizer + run state in one safetensors file (nanoGPT's state_dict
 * names; README "File formats") */
typedef struct {
    int iter_num;
    float best_val_loss;
    NgAdamW opt;
    uint64_t rng_state;              /* data sampler RNG (of rank 0 under mpirun) */
    int n_ranks;                     /* > 1: written by that many data-parallel ranks, */
    uint64_t *rank_rng_states;       /* [n_ranks] each rank's sampler RNG (malloc'd by load; free it) */
} NgRunState;
/* Writes atomically (temporary file, fsync, rename, fsync of the directory): the weights, the
 * AdamW moments when m has them, and cfg, rs, tok (each may be NULL). */
int ng_checkpoint_save(const char *path, const NgModel *m, const NgConfig *cfg,
                       const NgRunState *rs, const NgTokenizer *tok);
/* Reads model_args from a checkpoint, creates the model (m need not be initialised; free it
 * with ng_model_free) and loads the weights, and the AdamW moments when with_optimizer.
 * cfg (applied over what it holds), rs and tok (filled; free with ng_tokenizer_free) may be
 * NULL. ng_model_load is the short way for a model to run. */
int ng_checkpoint_load(const char *path, NgModel *m, NgConfig *cfg, NgRunState *rs,
                       NgTokenizer *tok, int with_optimizer);

/* ----------------------------------------------------------------------------------------
 * GPT-2 weights in and out: Hugging Face (model.safetensors + config.json, the layout of the
 * openai-community/gpt2* repositories and of GPT2LMHeadModel.save_pretrained) and llm.c's
 * model file (gpt2_124M.bin: a 256 x int32 header then every parameter, float32 in version 3,
 * bfloat16 in version 5). The imported model is created in m (it need not be initialised and
 * is left zeroed on failure; free it with ng_model_free); it has bias=True and dropout 0 (set
 * m->args.dropout afterwards to fine-tune with dropout). */

/* gelu_override: NG_GELU_FROM_CONFIG (config.json's activation_function, gelu_new if absent),
 * 0 (exact erf) or 1 (tanh) */
#define NG_GELU_FROM_CONFIG (-1)
/* spec: gpt2 | gpt2-medium | gpt2-large | gpt2-xl (looked up in the Hugging Face cache:
 * $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub, repos
 * models--openai-community--NAME and models--NAME), or the path of a model.safetensors file or
 * of a directory holding one; a config.json beside the file is read when present.
 * block_size: 0 keeps the file's n_positions, smaller crops wpe (nanoGPT's crop_block_size),
 * larger is an error. */
int ng_import_hf(const char *spec, NgModel *m, int block_size, int gelu_override);
/* Writes dir/model.safetensors (HF GPT-2 names without prefix, Conv1D [in, out] layout, F32,
 * metadata {"format": "pt"}) and dir/config.json (a GPT2Config); creates dir. A model without
 * biases is written with zero biases (equivalent), with a notice on stderr. GPT models only. */
int ng_export_hf(const NgModel *m, const char *dir);
/* llm.c's model file, version 3 (float32); vocab padded to a multiple of 128 with zero rows.
 * llm.c always uses biases and the tanh GELU: zero biases are written for a bias=False model
 * and a notice is printed for an erf-GELU model. Written atomically. */
int ng_export_llmc(const NgModel *m, const char *path);
/* The lecture's own state_dict (gpt.py's GPTLanguageModel or bigram.py's BigramLanguageModel:
 * token_embedding_table.weight, blocks.0.sa.heads.0.key.weight, ..., lm_head.bias) as one
 * safetensors file at path; meta_json (may be NULL) is stored as metadata "meta". A GPT must
 * have the lecture's ReLU and no key/query/value bias. Written atomically. */
int ng_export_lecture(const NgModel *m, const char *path, const char *meta_json);
/* Reads an llm.c model file (version 3 float32 or version 5 bfloat16), checking the header
 * and the exact file size. The model gets bias=True, tanh GELU; block_size as for ng_import_hf. */
int ng_import_llmc(const char *path, NgModel *m, int block_size);
/* An llm.c model file (recognised by its magic) goes to ng_import_llmc, anything else (gpt2*
 * names, HF files and directories) to ng_import_hf. gelu_override >= 0 also applies to llm.c
 * files (which are tanh otherwise). */
int ng_import_pretrained(const char *spec, NgModel *m, int block_size, int gelu_override);
/* 1 if spec names something ng_import_pretrained takes: a gpt2* name, or an existing file or
 * directory; else 0 */
int ng_is_pretrained_spec(const char *spec);

/* ----------------------------------------------------------------------------------------
 * high level: the sub-commands as library calls, with nanoGPT's config keys. They print
 * progress on stdout as ./nanogpt does and set the OpenMP thread count from cfg->threads.
 * ng_train catches SIGINT/SIGTERM while it runs (the first finishes the iteration, saves and
 * returns 0) and puts the previous handlers back when it returns. */
int ng_train(const NgConfig *cfg);
int ng_eval(const NgConfig *cfg);
int ng_sample(const NgConfig *cfg, FILE *out);
int ng_bench(const NgConfig *cfg);
/* `serve`: the OpenAI-compatible HTTP server until SIGINT/SIGTERM (src/app/serve.c) */
int ng_serve(const NgConfig *cfg);
int ng_info(const NgConfig *cfg);
/* report.c: out_dir/{run.json,samples.jsonl,report.html} of a run; status is running,
 * finished, diverged or interrupted; sample (may be NULL) is appended to samples.jsonl */
int ng_report_update(const NgConfig *cfg, const NgModel *m, const char *status, int iter, const char *sample);
/* one HTML page overlaying the runs in dirs (each an out_dir with log.jsonl) */
int ng_report(const char *const *dirs, int n, const char *out_html);
/* plot.c: the runs' loss curves as FILE.svg or FILE.png */
int ng_plot(const char *const *dirs, int n, const char *out_path);
/* attention_map.c: `attention`: the causal attention maps of cfg->start in out_dir's model */
int ng_attention(const NgConfig *cfg);
/* `prepare`: writes out_dir/{train.bin,val.bin,meta.json} from a UTF-8 text file (the first
 * 90% of the characters for train), with a character vocabulary */
int ng_prepare_char(const char *input_path, const char *out_dir, int verbose);
/* nanoGPT's get_lr: linear warmup, cosine decay to min_lr at lr_decay_iters, then min_lr */
float ng_get_lr(const NgConfig *cfg, int it);

#ifdef __cplusplus
}
#endif
#endif
