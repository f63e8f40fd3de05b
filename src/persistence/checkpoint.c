/* checkpoint.c -- a training run in one safetensors file.
 *
 * Tensors: every model tensor under its nanoGPT state_dict name (lm_head.weight omitted when it
 * is tied to transformer.wte.weight), and the AdamW moments as "optimizer.exp_avg.<name>" and
 * "optimizer.exp_avg_sq.<name>". __metadata__ (string -> string):
 *   format "nanogpt", model_args (JSON, exactly nanoGPT's GPTConfig keys), model ("gpt"|"bigram"),
 *   gelu ("erf"|"tanh"), model_options (JSON: activation, tied_lm_head, qkv_bias, embd_dropout,
 *   scaled_init, the lecture's options; absent in older files = nanoGPT's model),
 *   config (JSON of every key), iter_num, best_val_loss, optimizer_step,
 *   rng_state (the data sampler's), meta (the tokenizer's meta.json, when there is one),
 *   rank_rng_states (a run over several ranks: every rank's sampler state, comma-separated).
 */
#include "persistence/checkpoint.h"
#include "formats/safetensors.h"
#include "base/json.h"
#include "base/util.h"
#include "model/model.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define EXP_AVG "optimizer.exp_avg."
#define EXP_AVG_SQ "optimizer.exp_avg_sq."

int ng_ckpt_write(const char *path, const NgModel *m, const char *config_json, const NgRunState *rs,
                  const NgTokenizer *tok) {
    NgStWriter *w = ng_st_writer_new();
    if (!w) return ng_fail("%s: out of memory", path);
    int rc = 0;
    char (*names)[128] = ng_calloc((size_t)m->n_tensors * 2, sizeof *names, "checkpoint names");
    if (!names) { ng_st_writer_free(w); return -1; }
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const NgTensor *t = &m->tensors[i];
        rc = ng_st_writer_add(w, t->name, NG_F32, t->ndim, t->shape, m->params + t->offset);
    }
    if (m->m && m->v) {
        for (int i = 0; i < m->n_tensors && rc == 0; i++) {
            const NgTensor *t = &m->tensors[i];
            snprintf(names[2 * i], sizeof names[0], EXP_AVG "%s", t->name);
            snprintf(names[2 * i + 1], sizeof names[0], EXP_AVG_SQ "%s", t->name);
            rc = ng_st_writer_add(w, names[2 * i], NG_F32, t->ndim, t->shape, m->m + t->offset);
            if (rc == 0) rc = ng_st_writer_add(w, names[2 * i + 1], NG_F32, t->ndim, t->shape, m->v + t->offset);
        }
    }
    const NgModelArgs *a = &m->args;
    char args[512], num[64];
    snprintf(args, sizeof args,
             "{\"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, \"block_size\": %d, \"bias\": %s, \"vocab_size\": %d, \"dropout\": %.9g}",
             a->n_layer, a->n_head, a->n_embd, a->block_size, a->bias ? "true" : "false", a->vocab_size, a->dropout);
    if (rc == 0) rc = ng_st_writer_meta(w, "format", "nanogpt");
    if (rc == 0) rc = ng_st_writer_meta(w, "model_args", args);
    if (rc == 0) rc = ng_st_writer_meta(w, "model", a->model_type == NG_MODEL_BIGRAM ? "bigram" : "gpt");
    if (rc == 0) rc = ng_st_writer_meta(w, "gelu", a->gelu_tanh ? "tanh" : "erf");
    char options[256];
    snprintf(options, sizeof options,
             "{\"activation\": \"%s\", \"tied_lm_head\": %s, \"qkv_bias\": %s, \"embd_dropout\": %s, \"scaled_init\": %s}",
             a->relu ? "relu" : "gelu", a->untied_head ? "false" : "true", a->no_qkv_bias ? "false" : "true",
             a->no_embd_dropout ? "false" : "true", a->unscaled_init ? "false" : "true");
    if (rc == 0) rc = ng_st_writer_meta(w, "model_options", options);
    if (rc == 0 && config_json) rc = ng_st_writer_meta(w, "config", config_json);
    if (rs) {
        snprintf(num, sizeof num, "%d", rs->iter_num);
        if (rc == 0) rc = ng_st_writer_meta(w, "iter_num", num);
        snprintf(num, sizeof num, "%.9g", rs->best_val_loss);
        if (rc == 0) rc = ng_st_writer_meta(w, "best_val_loss", num);
        snprintf(num, sizeof num, "%d", rs->opt.t);
        if (rc == 0) rc = ng_st_writer_meta(w, "optimizer_step", num);
        snprintf(num, sizeof num, "%" PRIu64, rs->rng_state);
        if (rc == 0) rc = ng_st_writer_meta(w, "rng_state", num);
        if (rs->n_ranks > 1 && rs->rank_rng_states) {
            NgStr b = {0};
            for (int r = 0; r < rs->n_ranks; r++) ng_str_printf(&b, "%s%" PRIu64, r ? "," : "", rs->rank_rng_states[r]);
            if (rc == 0) rc = b.s ? ng_st_writer_meta(w, "rank_rng_states", b.s) : ng_fail("%s: out of memory", path);
            free(b.s);
        }
    }
    char *meta = tok && tok->kind != NG_TOK_NONE ? ng_tokenizer_meta_json(tok) : NULL;
    if (tok && tok->kind != NG_TOK_NONE && !meta) rc = -1;
    if (rc == 0 && meta) rc = ng_st_writer_meta(w, "meta", meta);
    if (rc == 0) rc = ng_st_writer_save(w, path);
    free(meta); free(names);
    ng_st_writer_free(w);
    return rc;
}

/* integer member of a JSON object, with a range check */
static int json_int(const JsonValue *o, const char *key, int lo, int hi, int *out, const char *path) {
    const JsonValue *v = ng_json_get(o, key);
    if (!v || v->type != JSON_NUMBER || !v->is_integer) return ng_fail("%s: model_args.%s is missing or not an integer", path, key);
    if (v->integer < lo || v->integer > hi) return ng_fail("%s: model_args.%s = %lld is out of range", path, key, (long long)v->integer);
    *out = (int)v->integer;
    return 0;
}

/* the lecture's options (metadata model_options); a file without them has nanoGPT's model */
static int parse_model_options(const NgStFile *f, NgModelArgs *a, const char *path) {
    const char *s = ng_st_meta(f, "model_options");
    if (!s) return 0;
    char err[256];
    JsonValue *j = ng_json_parse(s, strlen(s), err, sizeof err);
    if (!j) return ng_fail("%s: model_options is not valid JSON (%s)", path, err);
    int rc = j->type == JSON_OBJECT ? 0 : ng_fail("%s: model_options is not a JSON object", path);
    const JsonValue *act = rc == 0 ? ng_json_get(j, "activation") : NULL;
    if (act && (act->type != JSON_STRING || (strcmp(act->string, "gelu") && strcmp(act->string, "relu"))))
        rc = ng_fail("%s: model_options.activation must be \"gelu\" or \"relu\"", path);
    else if (act) a->relu = !strcmp(act->string, "relu");
    struct { const char *key; int *negated; } flags[] = {
        {"tied_lm_head", &a->untied_head}, {"qkv_bias", &a->no_qkv_bias},
        {"embd_dropout", &a->no_embd_dropout}, {"scaled_init", &a->unscaled_init},
    };
    for (size_t i = 0; rc == 0 && i < sizeof flags / sizeof flags[0]; i++) {
        const JsonValue *v = ng_json_get(j, flags[i].key);
        if (!v) continue;
        if (v->type != JSON_BOOL) rc = ng_fail("%s: model_options.%s is not a boolean", path, flags[i].key);
        else *flags[i].negated = v->number == 0;
    }
    ng_json_free(j);
    return rc;
}

static int parse_model_args(const NgStFile *f, NgModelArgs *a, const char *path) {
    const char *s = ng_st_meta(f, "model_args");
    if (!s) return ng_fail("%s: no model_args in the metadata: not a nanogpt checkpoint", path);
    char err[256];
    JsonValue *j = ng_json_parse(s, strlen(s), err, sizeof err);
    if (!j) return ng_fail("%s: model_args is not valid JSON (%s)", path, err);
    memset(a, 0, sizeof *a);
    int rc = 0;
    if (j->type != JSON_OBJECT) rc = ng_fail("%s: model_args is not a JSON object", path);
    const char *model = ng_st_meta(f, "model");
    a->model_type = model && !strcmp(model, "bigram") ? NG_MODEL_BIGRAM : NG_MODEL_GPT;
    if (model && strcmp(model, "gpt") && strcmp(model, "bigram")) rc = ng_fail("%s: unknown model '%s'", path, model);
    const char *gelu = ng_st_meta(f, "gelu");
    if (gelu && strcmp(gelu, "erf") && strcmp(gelu, "tanh")) rc = ng_fail("%s: unknown gelu '%s'", path, gelu);
    a->gelu_tanh = gelu && !strcmp(gelu, "tanh");
    if (rc == 0) rc = json_int(j, "vocab_size", 1, 1 << 24, &a->vocab_size, path);
    if (rc == 0) rc = json_int(j, "block_size", 1, 1 << 20, &a->block_size, path);
    if (rc == 0) rc = json_int(j, "n_layer", 0, 4096, &a->n_layer, path);
    if (rc == 0) rc = json_int(j, "n_head", 0, 1 << 16, &a->n_head, path);
    if (rc == 0) rc = json_int(j, "n_embd", 0, 1 << 16, &a->n_embd, path);
    if (rc == 0) {
        const JsonValue *b = ng_json_get(j, "bias"), *d = ng_json_get(j, "dropout");
        if (!b || b->type != JSON_BOOL) rc = ng_fail("%s: model_args.bias is missing or not a boolean", path);
        else a->bias = b->number != 0;
        if (rc == 0 && (!d || d->type != JSON_NUMBER)) rc = ng_fail("%s: model_args.dropout is missing or not a number", path);
        else if (rc == 0) a->dropout = (float)d->number;
    }
    ng_json_free(j);
    if (rc == 0) rc = parse_model_options(f, a, path);
    if (rc == 0 && ng_model_args_validate(a) != 0) rc = ng_fail("%s: model_args: %s", path, ng_errmsg());
    return rc;
}

/* copies one F32 tensor of the file into dst after checking its shape */
static int load_tensor(const NgStFile *f, const char *name, const NgTensor *t, float *dst, const char *path) {
    const NgStTensor *s = ng_st_find(f, name);
    if (!s) return ng_fail("%s: tensor %s is missing", path, name);
    if (s->dtype != NG_F32) return ng_fail("%s: tensor %s: dtype is not F32", path, name);
    int shape_ok = s->ndim == t->ndim;
    for (int d = 0; shape_ok && d < t->ndim; d++) shape_ok = s->shape[d] == t->shape[d];
    if (!shape_ok) {
        if (t->ndim == 2) return ng_fail("%s: tensor %s has the wrong shape (model_args want [%lld, %lld])", path, name, (long long)t->shape[0], (long long)t->shape[1]);
        return ng_fail("%s: tensor %s has the wrong shape (model_args want [%lld])", path, name, (long long)t->shape[0]);
    }
    memcpy(dst, f->data + s->begin, t->numel * sizeof(float));
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || s[0] == '-') return -1;
    *out = v;
    return 0;
}

/* every tensor of the model must be there (copied in); nothing unknown may be */
static int load_weights(const NgStFile *f, NgModel *m, const char *path) {
    for (int i = 0; i < m->n_tensors; i++)
        if (load_tensor(f, m->tensors[i].name, &m->tensors[i], m->params + m->tensors[i].offset, path) != 0) return -1;
    for (int i = 0; i < f->n_tensors; i++) {
        const char *n = f->tensors[i].name;
        if (!strncmp(n, EXP_AVG, strlen(EXP_AVG))) n += strlen(EXP_AVG);
        else if (!strncmp(n, EXP_AVG_SQ, strlen(EXP_AVG_SQ))) n += strlen(EXP_AVG_SQ);
        else if (!strcmp(n, "lm_head.weight") && !m->args.untied_head) continue;   /* a copy of the tied wte */
        if (!ng_model_find_tensor(m, n)) return ng_fail("%s: unexpected tensor %s for this model", path, f->tensors[i].name);
    }
    return 0;
}

/* the AdamW moments (to resume training); none before the first step (a run stopped during
 * its first evaluation): they are zero then, made by the first step */
static int load_moments(const NgStFile *f, NgModel *m, const char *path) {
    if (ng_st_find(f, EXP_AVG "transformer.wte.weight") == NULL && ng_st_find(f, EXP_AVG "token_embedding_table.weight") == NULL) {
        uint64_t step;
        if (parse_u64(ng_st_meta(f, "optimizer_step"), &step) == 0 && step == 0) return 0;
        return ng_fail("%s: has no optimizer state to resume from", path);
    }
    m->m = ng_aligned_alloc(m->num_params * sizeof(float), "AdamW first moments");
    m->v = ng_aligned_alloc(m->num_params * sizeof(float), "AdamW second moments");
    if (!m->m || !m->v) return -1;
    char name[160];
    for (int i = 0; i < m->n_tensors; i++) {
        const NgTensor *t = &m->tensors[i];
        snprintf(name, sizeof name, EXP_AVG "%s", t->name);
        if (load_tensor(f, name, t, m->m + t->offset, path) != 0) return -1;
        snprintf(name, sizeof name, EXP_AVG_SQ "%s", t->name);
        if (load_tensor(f, name, t, m->v + t->offset, path) != 0) return -1;
    }
    return 0;
}

/* "s0,s1,..." -> rs->rank_rng_states (the sampler state of each rank of a multi-process run) */
static int parse_rank_rngs(const char *list, NgRunState *rs, const char *path) {
    int n = 1;
    for (const char *c = list; *c; c++) n += *c == ',';
    if (n < 2 || n > 1 << 20) return ng_fail("%s: rank_rng_states is invalid", path);
    rs->rank_rng_states = ng_malloc(sizeof(uint64_t) * (size_t)n, "rank_rng_states");
    if (!rs->rank_rng_states) return -1;
    char item[32];
    const char *at = list;
    for (int r = 0; r < n; r++) {
        size_t len = strcspn(at, ",");
        if (len == 0 || len >= sizeof item) break;
        memcpy(item, at, len);
        item[len] = 0;
        if (parse_u64(item, &rs->rank_rng_states[r]) != 0) break;
        at += len + (at[len] == ',');
        if (r == n - 1) { rs->n_ranks = n; return 0; }
    }
    free(rs->rank_rng_states);
    rs->rank_rng_states = NULL;
    return ng_fail("%s: rank_rng_states is invalid", path);
}

static int read_run_state(const NgStFile *f, NgRunState *rs, const char *path) {
    memset(rs, 0, sizeof *rs);
    uint64_t it = 0, step = 0, rng = 0;
    const char *bvl = ng_st_meta(f, "best_val_loss");
    if (parse_u64(ng_st_meta(f, "iter_num"), &it) != 0 || it > NG_MAX_ITERS)
        return ng_fail("%s: iter_num missing or invalid (at most %d)", path, NG_MAX_ITERS);
    if (parse_u64(ng_st_meta(f, "optimizer_step"), &step) != 0 || step > NG_MAX_ITERS)
        return ng_fail("%s: optimizer_step missing or invalid (at most %d)", path, NG_MAX_ITERS);
    if (parse_u64(ng_st_meta(f, "rng_state"), &rng) != 0) return ng_fail("%s: rng_state missing or invalid", path);
    if (!bvl) return ng_fail("%s: best_val_loss missing", path);
    float best = strtof(bvl, NULL);
    if (isnan(best) || best < 0.0f)   /* +inf: no evaluation yet, still a valid "best so far" */
        return ng_fail("%s: best_val_loss is %s: a loss is a number >= 0 (no later save could ever beat it)", path, bvl);
    rs->iter_num = (int)it;
    rs->opt.t = (int)step;
    rs->rng_state = rng;
    rs->best_val_loss = best;
    const char *list = ng_st_meta(f, "rank_rng_states");
    return list ? parse_rank_rngs(list, rs, path) : 0;
}

/* the config metadata, copied (malloc'd) */
static int read_config_json(const NgStFile *f, char **config_json, const char *path) {
    const char *c = ng_st_meta(f, "config");
    if (!c) return ng_fail("%s: no config in the metadata", path);
    if (!(*config_json = ng_malloc(strlen(c) + 1, "the checkpoint's config"))) return -1;
    strcpy(*config_json, c);
    return 0;
}

/* the tokenizer of the meta metadata (none: kind NG_TOK_NONE); freed again on failure */
static int read_tokenizer(const NgStFile *f, NgTokenizer *tok, int vocab_size, const char *path) {
    memset(tok, 0, sizeof *tok);
    const char *meta = ng_st_meta(f, "meta");
    if (!meta) return 0;
    char name[NG_PATH_MAX + 16];
    snprintf(name, sizeof name, "%s (meta)", path);
    if (ng_tokenizer_parse_meta(tok, meta, strlen(meta), name) != 0) return -1;
    if (tok->vocab_size > vocab_size) {
        ng_fail("%s: the vocabulary has %d tokens but the model only %d", path, tok->vocab_size, vocab_size);
        ng_tokenizer_free(tok);
        return -1;
    }
    return 0;
}

int ng_ckpt_read(const char *path, NgModel *m, char **config_json, NgRunState *rs, NgTokenizer *tok,
                 int with_optimizer) {
    if (config_json) *config_json = NULL;
    NgStFile f;
    memset(m, 0, sizeof *m);
    if (ng_st_open(&f, path) != 0) return -1;
    NgModelArgs a;
    int rc = parse_model_args(&f, &a, path);
    /* the file holds every parameter as float32: model_args claiming more are bounded by the
     * file's own size before anything is allocated */
    double P = rc == 0 ? ng_model_param_count(&a) : 0;
    if (rc == 0 && P * 4.0 > (double)f.size)
        rc = ng_fail("%s: model_args describe %.0f parameters (%.0f bytes as float32) but the file has only %zu bytes",
                     path, P, P * 4.0, f.size);
    if (rc == 0 && with_optimizer) rc = ng_model_check_memory(&a, 1, 1, 1, 1);   /* + the moments */
    if (rc == 0) rc = ng_model_create(m, &a);
    if (rc == 0) rc = load_weights(&f, m, path);
    if (rc == 0 && with_optimizer) rc = load_moments(&f, m, path);
    if (rc == 0) rc = ng_model_check_finite(m, path);
    if (rc == 0 && rs) rc = read_run_state(&f, rs, path);
    if (rc == 0 && config_json) rc = read_config_json(&f, config_json, path);
    if (rc == 0 && tok) rc = read_tokenizer(&f, tok, a.vocab_size, path);
    ng_st_close(&f);
    if (rc != 0) {
        ng_model_free(m);
        if (config_json) { free(*config_json); *config_json = NULL; }
        if (rs) { free(rs->rank_rng_states); rs->rank_rng_states = NULL; rs->n_ranks = 0; }
    }
    return rc;
}

/* a safetensors file written as a nanogpt checkpoint (its metadata says so) */
static int is_checkpoint(const char *path, int *yes) {
    NgStFile f;
    if (ng_st_open(&f, path) != 0) return -1;
    const char *format = ng_st_meta(&f, "format");
    *yes = format && strcmp(format, "nanogpt") == 0;
    ng_st_close(&f);
    return 0;
}

int ng_model_load(const char *spec, NgModel *m, NgTokenizer *tok) {
    memset(m, 0, sizeof *m);
    if (tok) memset(tok, 0, sizeof *tok);
    char path[NG_PATH_MAX];
    struct stat st;
    size_t len = strlen(spec);
    int ckpt = 0;
    if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (snprintf(path, sizeof path, "%s/ckpt.safetensors", spec) >= (int)sizeof path) return ng_fail("%s: path too long", spec);
        ckpt = stat(path, &st) == 0;
    } else if (len > 12 && strcmp(spec + len - 12, ".safetensors") == 0) {
        if (is_checkpoint(spec, &ckpt) != 0) return -1;
        snprintf(path, sizeof path, "%s", spec);
    }
    if (ckpt) return ng_ckpt_read(path, m, NULL, NULL, tok, 0);
    if (ng_import_pretrained(spec, m, 0, NG_GELU_FROM_CONFIG) != 0) return -1;
    if (tok && ng_tokenizer_gpt2(tok) != 0) { ng_model_free(m); return -1; }
    return 0;
}
