/* config.c -- the config table: every key nanogpt knows, its type, default and help.
 * Config files, --key=value overrides, type checks, "did you mean", `nanogpt help`, the
 * checkpoint's stored config and the README's key table all come from this one table. */
#include "nanogpt.h"
#include "base/util.h"
#include "model/model.h"
#include "app/config.h"
#include "base/json.h"
#include "base/utf8.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define K(name, type, def, cmds, help) {#name, type, offsetof(NgConfig, name), sizeof(((NgConfig *)0)->name), def, cmds, help}
#define IGNORED(name, help) {#name, NG_IGNORED, 0, 0, "", "train", help}
const NgKey ng_keys[] = {
    /* I/O */
    K(out_dir,                NG_STRING, "out",      "train,sample,eval,serve", "directory of ckpt.safetensors and log.jsonl"),
    K(eval_interval,          NG_INT,    "2000",     "train",             "evaluate train/val loss every this many iterations"),
    K(log_interval,           NG_INT,    "1",        "train",             "print the training loss every this many iterations"),
    K(eval_iters,             NG_INT,    "200",      "train,eval",        "batches per split when estimating the loss"),
    K(eval_only,              NG_BOOL,   "False",    "train",             "evaluate once and exit"),
    K(always_save_checkpoint, NG_BOOL,   "True",     "train",             "save a checkpoint at every evaluation, not only when val loss improves"),
    K(init_from,              NG_STRING, "scratch",  "train,sample,eval,serve", "scratch, resume (out_dir/ckpt.safetensors), gpt2|gpt2-medium|gpt2-large|gpt2-xl (Hugging Face weights), or a model file (HF model.safetensors, llm.c .bin)"),
    /* data */
    K(dataset,                NG_STRING, "openwebtext", "train,prepare,bench", "data/<dataset>/{train,val}.bin and meta.json"),
    K(gradient_accumulation_steps, NG_INT, "40",     "train,bench",       "micro-batches per optimizer step"),
    K(batch_size,             NG_INT,    "12",       "train,bench,eval",  "sequences per micro-batch (B)"),
    K(block_size,             NG_INT,    "1024",     "train,bench,eval",  "context length (T)"),
    /* model */
    K(model,                  NG_STRING, "gpt",      "train,bench",       "gpt, or bigram (the lecture's first model)"),
    K(n_layer,                NG_INT,    "12",       "train,bench",       "transformer blocks (L)"),
    K(n_head,                 NG_INT,    "12",       "train,bench",       "attention heads (NH)"),
    K(n_embd,                 NG_INT,    "768",      "train,bench",       "channels (C)"),
    K(dropout,                NG_FLOAT,  "0.0",      "train,bench",       "dropout probability (0 for pretraining, 0.1+ for finetuning)"),
    K(bias,                   NG_BOOL,   "False",    "train,bench",       "biases in Linear and LayerNorm layers"),
    K(gelu,                   NG_STRING, "erf",      "train,bench",       "erf (exact, nanoGPT's nn.GELU) or tanh (GPT-2's approximation)"),
    /* the lecture's gpt.py where it differs from nanoGPT (config/train_lecture_gpt.conf) */
    K(activation,             NG_STRING, "gelu",     "train,bench",       "MLP nonlinearity: gelu (nanoGPT; its form is the gelu key) or relu (the lecture's FeedFoward)"),
    K(tied_lm_head,           NG_BOOL,   "True",     "train,bench",       "lm_head shares transformer.wte's matrix (nanoGPT); False: its own lm_head.weight, plus lm_head.bias when bias (the lecture)"),
    K(qkv_bias,               NG_BOOL,   "True",     "train,bench",       "with bias, c_attn has biases too; False: key/query/value without bias (the lecture's Head)"),
    K(embd_dropout,           NG_BOOL,   "True",     "train,bench",       "dropout after the token + position embeddings (nanoGPT); False: none (the lecture)"),
    K(scaled_init,            NG_BOOL,   "True",     "train,bench",       "c_proj weights N(0, 0.02/sqrt(2 n_layer)) (nanoGPT); False: N(0, 0.02) like every Linear (the lecture)"),
    /* AdamW */
    K(learning_rate,          NG_FLOAT,  "6e-4",     "train,bench",       "maximum learning rate"),
    K(max_iters,              NG_INT,    "600000",   "train",             "total number of training iterations"),
    K(weight_decay,           NG_FLOAT,  "1e-1",     "train,bench",       "AdamW weight decay (matrices only unless weight_decay_all)"),
    K(weight_decay_all,       NG_BOOL,   "False",    "train,bench",       "decay every parameter (PyTorch AdamW's default, the lecture); False: matrices only (nanoGPT's groups)"),
    K(beta1,                  NG_FLOAT,  "0.9",      "train,bench",       "AdamW beta1"),
    K(beta2,                  NG_FLOAT,  "0.95",     "train,bench",       "AdamW beta2"),
    K(grad_clip,              NG_FLOAT,  "1.0",      "train,bench",       "clip gradients at this global norm, 0 disables"),
    K(decay_lr,               NG_BOOL,   "True",     "train",             "warmup then cosine decay of the learning rate"),
    K(warmup_iters,           NG_INT,    "2000",     "train",             "linear warmup iterations"),
    K(lr_decay_iters,         NG_INT,    "600000",   "train",             "iteration where the cosine reaches min_lr (~max_iters)"),
    K(min_lr,                 NG_FLOAT,  "6e-5",     "train",             "final learning rate (~learning_rate/10)"),
    /* system */
    K(seed,                   NG_INT,    "1337",     "train,sample,eval,bench", "random seed"),
    K(threads,                NG_INT,    "0",        "train,sample,eval,bench,serve", "OpenMP threads; 0 = OMP_NUM_THREADS or all cores"),
    K(dtype,                  NG_STRING, "float32",  "train,sample,eval,bench", "float32, or bfloat16: matmuls on bf16 operands with fp32 sums (fp32 master weights, AdamW state, layernorm/softmax/loss)"),
    K(zero_stage,             NG_INT,    "0",        "train",             "under mpirun: 0 = every rank keeps the whole AdamW state, 1 = ZeRO-1 (each rank keeps and updates its shard of the moments)"),
    K(ddp_overlap,            NG_BOOL,   "True",     "train",             "under mpirun: exchange each block's gradients during the last micro-step's backward (non-blocking MPI; 11-14% faster on W2 here); False: one exchange after it"),
    K(peak_flops,             NG_DOUBLE, "0",        "train,bench",       "peak FLOP/s for MFU; 0 = 215e9 per thread (AVX-512 FMA peak measured on Zen 5)"),
    /* sample */
    K(start,                  NG_STRING, "\n",       "sample",            "prompt text, or FILE:path to read it from a file"),
    K(num_samples,            NG_INT,    "10",       "sample",            "number of samples to draw"),
    K(max_new_tokens,         NG_INT,    "500",      "sample,bench",      "tokens generated per sample"),
    K(temperature,            NG_FLOAT,  "0.8",      "sample",            "1.0 = no change, < 1.0 = less random, > 1.0 = more random"),
    K(top_k,                  NG_INT,    "200",      "sample",            "keep only the top_k most likely tokens; 0 keeps all (the lecture's full softmax)"),
    K(top_p,                  NG_FLOAT,  "1.0",      "sample",            "nucleus sampling after top_k: keep the most likely tokens whose probabilities add up to top_p (1.0 = off)"),
    K(stop,                   NG_STRING, "",         "sample",            "a sample ends where this text appears, which is not printed (\\n, \\t, \\r, \\\\ understood)"),
    K(stop_at_eos,            NG_BOOL,   "False",    "sample",            "GPT-2 tokenizer: a sample ends at <\\|endoftext\\|>"),
    /* serve */
    K(host,                   NG_STRING, "127.0.0.1", "serve",            "address the HTTP server listens on (loopback only unless given)"),
    K(port,                   NG_INT,    "8000",     "serve",             "TCP port of the HTTP server"),
    K(api_key,                NG_STRING, "",         "serve",             "if set, requests need the header Authorization: Bearer <api_key>"),
    /* prepare */
    K(input,                  NG_STRING, "",         "prepare",           "text file to prepare (default: the bundled tinyshakespeare)"),
    K(tokenizer,              NG_STRING, "char",     "prepare,encode,decode", "char (character-level vocabulary) or gpt2 (GPT-2's BPE, as tiktoken)"),
    K(meta,                   NG_STRING, "",         "encode,decode",     "meta.json of the tokenizer (default data/<dataset>/meta.json)"),
    /* bench */
    K(mode,                   NG_STRING, "train",    "bench",             "train (timed training steps) or sample (generation)"),
    K(bench_iters,            NG_INT,    "10",       "bench",             "timed iterations after warm-up"),
    /* export */
    K(format,                 NG_STRING, "hf",       "export",            "hf (Hugging Face GPT-2 directory: model.safetensors + config.json), llmc (llm.c model .bin) or lecture (the lecture's gpt.py/bigram.py state_dict, safetensors)"),
    /* report, plot, attention */
    K(sample_at_eval,         NG_INT,    "200",      "train",             "tokens sampled from the model at each evaluation for out_dir/report.html (0: none)"),
    K(out,                    NG_STRING, "",         "report,plot,attention", "output file: report FILE.html, plot FILE.svg|FILE.png, attention FILE.svg|.png|.html|.json"),
    K(layer,                  NG_INT,    "0",        "attention",         "block whose attention is shown (0 = first)"),
    K(head,                   NG_INT,    "-1",       "attention",         "head shown; -1 = every head of the layer as a grid"),
    /* nanoGPT keys with no meaning here */
    IGNORED(wandb_log, "no wandb: the log is out_dir/log.jsonl"),
    IGNORED(wandb_project, "no wandb"),
    IGNORED(wandb_run_name, "no wandb"),
    IGNORED(device, "always the CPU"),
    IGNORED(compile, "C is compiled already"),
    IGNORED(backend, "MPI whenever started by mpirun"),
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

const NgKey *ng_key_find(const char *name) {
    for (const NgKey *k = ng_keys; k->name; k++)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

int ng_config_was_set(const NgConfig *cfg, const char *key) {
    const NgKey *k = ng_key_find(key);
    return k && ((cfg->set_mask[(k - ng_keys) / 64] >> ((k - ng_keys) % 64)) & 1);
}

/* edit distance, for "did you mean" */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

static const char *nearest_key(const char *name) {
    const char *best = NULL;
    int best_d = 1 << 30;
    for (const NgKey *k = ng_keys; k->name; k++) {
        int d = edit_distance(name, k->name);
        if (d < best_d) { best_d = d; best = k->name; }
    }
    return best_d <= 4 ? best : NULL;
}

/* strips surrounding whitespace in place */
static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

/* a number, or a product of numbers ("5 * 8", as nanoGPT's configs write some values) */
static int parse_number(const char *s, double *out, int *is_int) {
    double prod = 1.0;
    int all_int = 1;
    const char *p = s;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        char *end;
        errno = 0;
        const char *start = p;
        if (*p == '+' || *p == '-') p++;
        int digits_only = 1;
        for (const char *q = p; *q && !isspace((unsigned char)*q) && *q != '*'; q++)
            if (!isdigit((unsigned char)*q) && *q != '_') digits_only = 0;
        double v = strtod(start, &end);
        if (end == start || (errno == ERANGE && fabs(v) >= 1.0) || !isfinite(v)) return -1;  /* underflow to 0 or a subnormal is fine, as in Python */
        if (!digits_only) all_int = 0;
        prod *= v;
        p = end;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '*') { p++; continue; }
        if (*p != 0) return -1;
        break;
    }
    if (!isfinite(prod)) return -1;   /* 1e200 * 1e200 is inf, inf * 0 is nan */
    *out = prod;
    *is_int = all_int;
    return 0;
}

static int hex_digits(const char *s, int n, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < n; i++) {
        int c = (unsigned char)s[i], d = isdigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (uint32_t)d;
    }
    return 0;
}

/* A Python string literal, '...' or "..." (r/R prefix: raw), with Python's escapes: \\ \' \"
 * \a \b \f \n \r \t \v, \ooo (octal), \xhh, \uhhhh, \Uhhhhhhhh (code points, written as UTF-8);
 * an unknown escape keeps its backslash, as Python does. Returns 0, -1 (not a string literal:
 * *why says what is wrong) or -2 (longer than cap). */
static int parse_string_literal(const char *s, char *out, size_t cap, const char **why) {
    static char msg[96];
    int raw = s[0] == 'r' || s[0] == 'R';
    s += raw;
    char q = s[0];
    size_t n = strlen(s), o = 0;
    *why = "not a quoted string";
    if (q != '\'' && q != '"') return -1;
    size_t i = 1;
    for (; i < n && s[i] != q; i++) {
        char buf[8];
        size_t len = 1;
        buf[0] = s[i];
        if (s[i] == '\\' && i + 1 < n) {
            char e = s[++i];
            uint32_t cp = 0;
            int cp_set = 0;
            if (raw) { buf[0] = '\\'; buf[1] = e; len = 2; }
            else if (strchr("\\'\"", e)) buf[0] = e;
            else if (strchr("abfnrtv", e)) buf[0] = "\a\b\f\n\r\t\v"[strchr("abfnrtv", e) - "abfnrtv"];
            else if (e >= '0' && e <= '7') {
                int k = 0;
                for (; k < 3 && i + k < n && s[i + k] >= '0' && s[i + k] <= '7'; k++) cp = cp * 8 + (uint32_t)(s[i + k] - '0');
                i += (size_t)k - 1;
                cp_set = 1;
            } else if (e == 'x' || e == 'u' || e == 'U') {
                int k = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (i + (size_t)k >= n || hex_digits(s + i + 1, k, &cp) != 0) {
                    snprintf(msg, sizeof msg, "truncated \\%c escape (it takes %d hex digits)", e, k);
                    *why = msg;
                    return -1;
                }
                i += (size_t)k;
                cp_set = 1;
            } else if (e == 'N') { *why = "\\N{...} escapes are not supported: write the character itself"; return -1; }
            else { buf[0] = '\\'; buf[1] = e; len = 2; }            /* Python keeps unknown escapes */
            if (cp_set) {
                if (cp == 0) { *why = "a NUL character (\\0) cannot be part of a value"; return -1; }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    snprintf(msg, sizeof msg, "escape of U+%X: not a character UTF-8 can hold", (unsigned)cp);
                    *why = msg;
                    return -1;
                }
                len = (size_t)ng_utf8_encode(cp, buf);
            }
        }
        if (o + len >= cap) return -2;
        memcpy(out + o, buf, len);
        o += len;
    }
    if (i >= n) { *why = "unterminated string (no closing quote)"; return -1; }
    if (i + 1 != n) { *why = "text after the closing quote"; return -1; }
    out[o] = 0;
    return 0;
}

int ng_config_set(NgConfig *cfg, const char *key, const char *value_in, const char *where) {
    const NgKey *k = ng_key_find(key);
    if (!k) {
        const char *near = nearest_key(key);
        if (near) return ng_fail("%s: unknown config key '%s' (did you mean '%s'?)", where, key, near);
        return ng_fail("%s: unknown config key '%s' (see `nanogpt help`)", where, key);
    }
    char buf[NG_STR * 4 + 8];
    if (strlen(value_in) >= sizeof buf) return ng_fail("%s: value of '%s' is too long", where, key);
    strcpy(buf, value_in);
    char *v = trim(buf);
    char *field = (char *)cfg + k->offset;
    if (k->type == NG_IGNORED) {
        fprintf(stderr, "nanogpt: note: %s: '%s' has no meaning here (%s), ignored\n", where, key, k->help);
        return 0;
    }
    if (strcmp(where, "default") != 0) cfg->set_mask[(k - ng_keys) / 64] |= 1ull << ((k - ng_keys) % 64);
    double num; int is_int;
    switch (k->type) {
    case NG_INT:
        if (parse_number(v, &num, &is_int) != 0 || !is_int)
            return ng_fail("%s: %s must be an integer, got '%s'", where, key, v);
        if (num < -2147483647.0 || num > 2147483647.0) return ng_fail("%s: %s = %s is out of range", where, key, v);
        *(int *)field = (int)num;
        return 0;
    case NG_FLOAT:
    case NG_DOUBLE:
        if (parse_number(v, &num, &is_int) != 0) return ng_fail("%s: %s must be a number, got '%s'", where, key, v);
        if (k->type == NG_FLOAT) {
            if (fabs(num) > 3.0e38) return ng_fail("%s: %s = %s is out of range", where, key, v);
            *(float *)field = (float)num;
        } else *(double *)field = num;
        return 0;
    case NG_BOOL:
        if (!strcmp(v, "True") || !strcmp(v, "true") || !strcmp(v, "1")) *(int *)field = 1;
        else if (!strcmp(v, "False") || !strcmp(v, "false") || !strcmp(v, "0")) *(int *)field = 0;
        else return ng_fail("%s: %s must be True or False, got '%s'", where, key, v);
        return 0;
    case NG_STRING: {
        /* files: a quoted Python string; the command line: a quoted literal, or the raw text
         * as typed (like nanoGPT's configurator, which falls back to the string) */
        char tmp[NG_STR * 4 + 8];
        int rc = -1;
        const char *why = "not a quoted string";
        int quoted = v[0] == '\'' || v[0] == '"' || ((v[0] == 'r' || v[0] == 'R') && (v[1] == '\'' || v[1] == '"'));
        if (quoted) rc = parse_string_literal(v, tmp, sizeof tmp, &why);
        int from_file = strchr(where, ':') != NULL && strncmp(where, "--", 2) != 0;
        if (rc != 0) {
            if (rc == -2) return ng_fail("%s: value of '%s' is longer than %zu bytes", where, key, k->size - 1);
            if (from_file && quoted) return ng_fail("%s: %s must be a string: %s in %.60s", where, key, why, v);
            if (from_file) return ng_fail("%s: %s must be a string (a quoted literal), got %.60s", where, key, v);
            snprintf(tmp, sizeof tmp, "%s", value_in);
        }
        if (strlen(tmp) >= k->size) return ng_fail("%s: value of '%s' is longer than %zu bytes", where, key, k->size - 1);
        if (ng_utf8_count(tmp, strlen(tmp), where) < 0) return -1;
        memcpy(field, tmp, strlen(tmp) + 1);
        return 0;
    }
    default:
        return ng_fail("%s: internal: bad key type", where);
    }
}

int ng_config_defaults(NgConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    _Static_assert(sizeof(ng_keys) / sizeof(ng_keys[0]) <= NG_MAX_KEYS + 1, "set_mask holds NG_MAX_KEYS keys");
    for (const NgKey *k = ng_keys; k->name; k++) {
        if (k->type == NG_IGNORED) continue;
        if (k->type == NG_STRING) snprintf((char *)cfg + k->offset, k->size, "%s", k->def);
        else if (ng_config_set(cfg, k->name, k->def, "default") != 0) return ng_fail("internal: default of %s: %s", k->name, ng_errmsg());
    }
    return 0;
}

int ng_config_load_file(NgConfig *cfg, const char *path) {
    size_t n;
    char *text = ng_read_file(path, &n);
    if (!text) return -1;
    if (strlen(text) != n) { free(text); return ng_fail("%s: contains a NUL byte: not a text config file", path); }
    int rc = 0, lineno = 0;
    char *save = NULL, *start = text;
    if (!strncmp(start, "\xEF\xBB\xBF", 3)) start += 3;   /* a UTF-8 byte-order mark (Windows editors) is not part of the first key */
    for (char *line = start; line && rc == 0; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        /* drop a comment: a # outside quotes */
        char quote = 0;
        for (char *p = line; *p; p++) {
            if (quote) { if (*p == '\\' && p[1]) p++; else if (*p == quote) quote = 0; }
            else if (*p == '\'' || *p == '"') quote = *p;
            else if (*p == '#') { *p = 0; break; }
        }
        char *s = trim(line);
        if (!*s) continue;
        char where[NG_PATH_MAX + 16];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        char *eq = strchr(s, '=');
        if (!eq) { rc = ng_fail("%s: expected 'key = value', got '%.60s'", where, s); break; }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        int ident = *key != 0;
        for (char *p = key; *p; p++) if (!isalnum((unsigned char)*p) && *p != '_') ident = 0;
        if (!ident) { rc = ng_fail("%s: '%.60s' is not a config key", where, key); break; }
        if (!*val) { rc = ng_fail("%s: %s has no value", where, key); break; }
        const NgKey *k = ng_key_find(key);
        /* in files strings must be quoted, as in Python */
        int raw = (val[0] == 'r' || val[0] == 'R') && (val[1] == '\'' || val[1] == '"');
        if (k && k->type == NG_STRING && val[0] != '\'' && val[0] != '"' && !raw) {
            rc = ng_fail("%s: %s must be a quoted string, got %.60s", where, key, val); break;
        }
        rc = ng_config_set(cfg, key, val, where);
    }
    free(text);
    return rc;
}

int ng_config_parse_args(NgConfig *cfg, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (ng_config_load_file(cfg, a) != 0) return -1;
            continue;
        }
        const char *eq = strchr(a, '=');
        if (!eq) return ng_fail("%s: expected --key=value", a);
        char key[128];
        size_t kl = (size_t)(eq - a - 2);
        if (kl == 0 || kl >= sizeof key) return ng_fail("%s: expected --key=value", a);
        memcpy(key, a + 2, kl); key[kl] = 0;
        char where[160];
        snprintf(where, sizeof where, "--%s", key);
        if (ng_config_set(cfg, key, eq + 1, where) != 0) return -1;
    }
    return 0;
}

static int one_of(const char *v, const char *a, const char *b) { return !strcmp(v, a) || (b && !strcmp(v, b)); }

int ng_config_validate(const NgConfig *c) {
#define REQUIRE(cond, ...) do { if (!(cond)) return ng_fail(__VA_ARGS__); } while (0)
    REQUIRE(c->batch_size > 0, "batch_size must be positive, got %d", c->batch_size);
    REQUIRE(c->block_size > 0, "block_size must be positive, got %d", c->block_size);
    REQUIRE(c->gradient_accumulation_steps > 0, "gradient_accumulation_steps must be positive, got %d", c->gradient_accumulation_steps);
    REQUIRE(one_of(c->model, "gpt", "bigram"), "model must be gpt or bigram, got '%s'", c->model);
    if (!strcmp(c->model, "gpt")) {
        REQUIRE(c->n_layer > 0, "n_layer must be positive, got %d", c->n_layer);
        REQUIRE(c->n_head > 0, "n_head must be positive, got %d", c->n_head);
        REQUIRE(c->n_embd > 0, "n_embd must be positive, got %d", c->n_embd);
        REQUIRE(c->n_embd % c->n_head == 0, "n_embd %d is not divisible by n_head %d", c->n_embd, c->n_head);
    }
    REQUIRE(c->dropout >= 0.0f && c->dropout < 1.0f, "dropout must be in [0, 1), got %g", c->dropout);
    REQUIRE(one_of(c->gelu, "erf", "tanh"), "gelu must be erf or tanh, got '%s'", c->gelu);
    REQUIRE(one_of(c->activation, "gelu", "relu"), "activation must be gelu or relu, got '%s'", c->activation);
    REQUIRE(c->init_from[0] != 0, "init_from must not be empty (scratch, resume, gpt2* or a model file)");
    REQUIRE(c->learning_rate >= 0.0f && c->min_lr >= 0.0f, "learning_rate and min_lr must not be negative");
    REQUIRE(c->max_iters >= 0 && c->max_iters <= NG_MAX_ITERS, "max_iters must be in 0..%d, got %d", NG_MAX_ITERS, c->max_iters);
    REQUIRE((long long)c->batch_size * c->block_size <= NG_MAX_BATCH_TOKENS,
            "batch_size * block_size = %lld tokens per micro-batch, more than %d", (long long)c->batch_size * c->block_size,
            NG_MAX_BATCH_TOKENS);
    REQUIRE(c->beta1 >= 0.0f && c->beta1 < 1.0f && c->beta2 >= 0.0f && c->beta2 < 1.0f, "beta1 and beta2 must be in [0, 1)");
    REQUIRE(c->weight_decay >= 0.0f, "weight_decay must not be negative");
    REQUIRE(c->grad_clip >= 0.0f, "grad_clip must not be negative (0 disables it)");
    REQUIRE(c->warmup_iters >= 0 && c->lr_decay_iters >= 0 && c->warmup_iters <= NG_MAX_ITERS && c->lr_decay_iters <= NG_MAX_ITERS,
            "warmup_iters and lr_decay_iters must be in 0..%d", NG_MAX_ITERS);
    REQUIRE(c->eval_interval > 0, "eval_interval must be positive, got %d", c->eval_interval);
    REQUIRE(c->log_interval > 0, "log_interval must be positive, got %d", c->log_interval);
    REQUIRE(c->eval_iters > 0, "eval_iters must be positive, got %d", c->eval_iters);
    REQUIRE(c->threads >= 0 && c->threads <= 1024, "threads must be in 0..1024, got %d", c->threads);
    REQUIRE(c->zero_stage == 0 || c->zero_stage == 1, "zero_stage must be 0 or 1, got %d", c->zero_stage);
    REQUIRE(c->temperature > 0.0f, "temperature must be > 0, got %g", c->temperature);
    REQUIRE(c->top_k >= 0, "top_k must be >= 1, or 0 for no cutoff, got %d", c->top_k);
    REQUIRE(c->top_p >= 0.0f && c->top_p <= 1.0f, "top_p must be in [0, 1], got %g", c->top_p);
    REQUIRE(c->port >= 0 && c->port <= 65535, "port must be in 0..65535, got %d", c->port);
    REQUIRE(c->num_samples >= 0 && c->max_new_tokens >= 0, "num_samples and max_new_tokens must not be negative");
    REQUIRE(c->max_new_tokens <= NG_MAX_NEW_TOKENS, "max_new_tokens must be at most %d, got %d", NG_MAX_NEW_TOKENS, c->max_new_tokens);
    REQUIRE(one_of(c->tokenizer, "char", "gpt2"), "tokenizer must be char or gpt2, got '%s'", c->tokenizer);
    REQUIRE(one_of(c->mode, "train", "sample"), "mode must be train or sample, got '%s'", c->mode);
    REQUIRE(c->bench_iters > 0, "bench_iters must be positive");
    REQUIRE(c->peak_flops >= 0.0, "peak_flops must not be negative");
    NgModel probe = {0};                      /* the model layer's own check of the dtype */
    if (ng_model_set_dtype(&probe, c->dtype) != 0) return -1;
    REQUIRE(c->sample_at_eval >= 0, "sample_at_eval must not be negative (0 turns the samples off)");
    REQUIRE(c->out_dir[0] != 0, "out_dir must not be empty");
    REQUIRE(c->dataset[0] != 0 && !strchr(c->dataset, '/') && strcmp(c->dataset, ".") && strcmp(c->dataset, ".."),
            "dataset must be a name under data/, got '%s'", c->dataset);
#undef REQUIRE
    return 0;
}

char *ng_config_to_json(const NgConfig *cfg) {
    NgStr b = {0};
    ng_str_printf(&b, "{");
    int first = 1;
    for (const NgKey *k = ng_keys; k->name; k++) {
        if (k->type == NG_IGNORED) continue;
        const char *field = (const char *)cfg + k->offset;
        ng_str_printf(&b, "%s\"%s\": ", first ? "" : ", ", k->name);
        first = 0;
        switch (k->type) {
        case NG_INT: ng_str_printf(&b, "%d", *(const int *)field); break;
        case NG_FLOAT: ng_str_json_number(&b, "%.9g", *(const float *)field); break;
        case NG_DOUBLE: ng_str_json_number(&b, "%.17g", *(const double *)field); break;
        case NG_BOOL: ng_str_printf(&b, "%s", *(const int *)field ? "true" : "false"); break;
        default: ng_str_json_string(&b, field); break;
        }
    }
    ng_str_printf(&b, "}");
    return ng_str_take(&b, NULL);
}

/* a config stored as JSON (a checkpoint's): each value through the config table's own parser,
 * keys this version does not know skipped; which keys count as set does not change */
int ng_config_apply_json(NgConfig *cfg, const char *json, const char *path) {
    char err[256];
    JsonValue *j = ng_json_parse(json, strlen(json), err, sizeof err);
    int rc = 0;
    if (!j || j->type != JSON_OBJECT) rc = ng_fail("%s: config metadata is not a JSON object", path);
    for (size_t i = 0; rc == 0 && i < j->n; i++) {
        const NgKey *k = ng_key_find(j->keys[i]);
        if (!k || k->type == NG_IGNORED) continue;
        const JsonValue *v = &j->items[i];
        char buf[NG_STR * 4 + 8];
        if (v->type == JSON_STRING) {
            if (v->string_len >= k->size || strlen(v->string) != v->string_len) { rc = ng_fail("%s: config.%s is invalid", path, k->name); break; }
            memcpy((char *)cfg + k->offset, v->string, v->string_len + 1);
            continue;
        }
        if (v->type == JSON_BOOL) snprintf(buf, sizeof buf, "%s", v->number != 0 ? "True" : "False");
        else if (v->type == JSON_NUMBER && v->is_integer) snprintf(buf, sizeof buf, "%lld", (long long)v->integer);
        else if (v->type == JSON_NUMBER) snprintf(buf, sizeof buf, "%.17g", v->number);
        else { rc = ng_fail("%s: config.%s has an invalid value", path, k->name); break; }
        uint64_t mask[NG_MAX_KEYS / 64];
        memcpy(mask, cfg->set_mask, sizeof mask);
        if (ng_config_set(cfg, k->name, buf, path) != 0) rc = -1;
        memcpy(cfg->set_mask, mask, sizeof mask);
    }
    ng_json_free(j);
    return rc;
}
