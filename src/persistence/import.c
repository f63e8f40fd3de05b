/* import.c -- GPT-2 weights in and out: Hugging Face safetensors and llm.c model files.
 *
 * Hugging Face GPT-2 (GPT2Model / GPT2LMHeadModel state dicts) uses nanoGPT's tensor names,
 * without the "transformer." prefix in the openai-community/gpt2* files and with it in
 * GPT2LMHeadModel checkpoints, except that its four per-layer matrices (attn.c_attn, attn.c_proj,
 * mlp.c_fc, mlp.c_proj) are Conv1D weights stored [in, out]: the transpose of our nn.Linear
 * [out, in]. The h.N.attn.bias / masked_bias buffers (the causal mask) are not parameters, and
 * lm_head.weight is tied to wte.weight. Architecture: biases everywhere, LayerNorm eps 1e-5,
 * activation_function gelu_new (the tanh approximation), n_positions 1024, vocab 50257.
 *
 * llm.c's model file (karpathy/llm.c, train_gpt2.c / train_gpt2.py write_model): a header of
 * 256 little-endian int32 {20240326, version, max_seq_len, vocab_size, num_layers, num_heads,
 * channels, padded_vocab_size, 0...}, then the 16 parameter tensors back to back, each holding
 * every layer: wte (Vp,C) whose rows past vocab_size are padding, wpe (maxT,C), ln1w (L,C),
 * ln1b (L,C), qkvw (L,3C,C), qkvb (L,3C), attprojw (L,C,C), attprojb (L,C), ln2w (L,C),
 * ln2b (L,C), fcw (L,4C,C), fcb (L,4C), fcprojw (L,C,4C), fcprojb (L,C), lnfw (C), lnfb (C).
 * Matrices are in nn.Linear's [out, in] layout, like ours. Version 3 stores float32, version 5
 * bfloat16.
 *
 * Files are mmap'd read-only, so a 6 GB gpt2-xl is not copied before conversion. Everything
 * read is checked: names, dtypes, shapes against each other and against config.json, sizes.
 */
#define _FILE_OFFSET_BITS 64
#include "persistence/import.h"
#include "base/json.h"
#include "base/util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors and llm.c files are little-endian; this code reads them in place and needs a little-endian host"
#endif

#define HF_PREFIX "transformer."

/* ---------------------------------------------------------------------------------------
 * numbers */

float ng_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);           /* inf, nan */
    else if (exp != 0) bits = sign | ((exp + 112u) << 23) | (man << 13); /* rebias 15 -> 127 */
    else if (man == 0) bits = sign;                                     /* +-0 */
    else {                                                              /* subnormal: man * 2^-24 */
        uint32_t e = 113;
        while (!(man & 0x400u)) { man <<= 1; e--; }
        bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float ng_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* dst[0..n) <- n elements of dtype dt at src (any alignment); dt is F32, F16 or BF16 */
static void convert(float *dst, const uint8_t *src, NgDtype dt, size_t n) {
    if (dt == NG_F32) { memcpy(dst, src, n * sizeof(float)); return; }
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = dt == NG_F16 ? ng_f16_to_f32(h) : ng_bf16_to_f32(h);
    }
}

/* ---------------------------------------------------------------------------------------
 * files */

typedef struct { uint8_t *map; size_t size; } MappedFile;

static int map_file(MappedFile *mf, const char *path) {
    memset(mf, 0, sizeof *mf);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ng_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; close(fd); return ng_fail("%s: cannot stat: %s", path, strerror(e)); }
    if (!S_ISREG(st.st_mode)) { close(fd); return ng_fail("%s: not a regular file", path); }
    mf->size = (size_t)st.st_size;
    if (mf->size == 0) { close(fd); return 0; }   /* the parsers report "too short" */
    void *p = mmap(NULL, mf->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return ng_fail("%s: mmap failed: %s", path, strerror(e));
    madvise(p, mf->size, MADV_SEQUENTIAL);
    mf->map = p;
    return 0;
}

static void unmap_file(MappedFile *mf) {
    if (mf->map) munmap(mf->map, mf->size);
    memset(mf, 0, sizeof *mf);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++) o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

/* ---------------------------------------------------------------------------------------
 * the GPT-2 family */

static const struct { const char *name; int n_layer, n_head, n_embd; } gpt2_models[] = {
    {"gpt2", 12, 12, 768}, {"gpt2-medium", 24, 16, 1024}, {"gpt2-large", 36, 20, 1280}, {"gpt2-xl", 48, 25, 1600},
};
#define N_GPT2 ((int)(sizeof gpt2_models / sizeof gpt2_models[0]))

static int gpt2_model_index(const char *name) {
    for (int i = 0; i < N_GPT2; i++) if (!strcmp(gpt2_models[i].name, name)) return i;
    return -1;
}

static int gpt2_heads_for(int64_t n_embd) {
    for (int i = 0; i < N_GPT2; i++) if (gpt2_models[i].n_embd == n_embd) return gpt2_models[i].n_head;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * finding model.safetensors */

/* Hugging Face hub cache directories, in lookup order, without duplicates. */
static int hub_dirs(char dirs[][512], int max) {
    const char *e;
    char buf[512];
    int n = 0;
    for (int k = 0; k < 5; k++) {
        buf[0] = 0;
        if (k == 0 && (e = getenv("HF_HUB_CACHE")) && *e) snprintf(buf, sizeof buf, "%s", e);
        if (k == 1 && (e = getenv("HUGGINGFACE_HUB_CACHE")) && *e) snprintf(buf, sizeof buf, "%s", e);
        if (k == 2 && (e = getenv("HF_HOME")) && *e) snprintf(buf, sizeof buf, "%s/hub", e);
        if (k == 3 && (e = getenv("XDG_CACHE_HOME")) && *e) snprintf(buf, sizeof buf, "%s/huggingface/hub", e);
        if (k == 4 && (e = getenv("HOME")) && *e) snprintf(buf, sizeof buf, "%s/.cache/huggingface/hub", e);
        if (!buf[0] || n >= max) continue;
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strcmp(dirs[i], buf);
        if (!dup) snprintf(dirs[n++], sizeof dirs[0], "%s", buf);
    }
    return n;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* repo/snapshots/<refs/main>/model.safetensors, else the first snapshot (by name) that has one */
static int find_in_repo(const char *repo, char *out, size_t n) {
    char p[1024], ref[128] = "";
    snprintf(p, sizeof p, "%s/refs/main", repo);
    FILE *f = fopen(p, "r");
    if (f) {
        if (!fgets(ref, sizeof ref, f)) ref[0] = 0;
        fclose(f);
        ref[strcspn(ref, " \t\r\n")] = 0;
        if (ref[0] && !strchr(ref, '/') && strcmp(ref, ".") && strcmp(ref, "..")) {
            if (snprintf(out, n, "%s/snapshots/%s/model.safetensors", repo, ref) < (int)n && is_file(out)) return 1;
        }
    }
    snprintf(p, sizeof p, "%s/snapshots", repo);
    DIR *d = opendir(p);
    if (!d) return 0;
    char *names[256];
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < 256) {
        if (e->d_name[0] == '.') continue;
        if (!(names[k] = strdup(e->d_name))) break;
        k++;
    }
    closedir(d);
    qsort(names, (size_t)k, sizeof names[0], by_name);
    int found = 0;
    for (int i = 0; i < k; i++) {
        if (!found && snprintf(out, n, "%s/%s/model.safetensors", p, names[i]) < (int)n && is_file(out)) found = 1;
        free(names[i]);
    }
    return found;
}

static int find_cached(const char *name, char *out, size_t n) {
    char dirs[5][512], repo[1024];
    int nd = hub_dirs(dirs, 5);
    for (int i = 0; i < nd; i++) {
        if (snprintf(repo, sizeof repo, "%s/models--openai-community--%s", dirs[i], name) < (int)sizeof repo
            && find_in_repo(repo, out, n)) return 0;
        if (snprintf(repo, sizeof repo, "%s/models--%s", dirs[i], name) < (int)sizeof repo
            && find_in_repo(repo, out, n)) return 0;
    }
    char where[600] = "";
    size_t o = 0;
    for (int i = 0; i < nd && o < sizeof where; i++)
        o += (size_t)snprintf(where + o, sizeof where - o, "%s%s", i ? ", " : "", dirs[i]);
    if (nd == 0) snprintf(where, sizeof where, "none: HF_HUB_CACHE, HF_HOME and HOME are unset");
    return ng_fail("%s: model.safetensors not found in the Hugging Face cache (looked for "
                   "models--openai-community--%s/snapshots/*/ and models--%s/snapshots/*/ in %s); download it with "
                   "`huggingface-cli download openai-community/%s model.safetensors config.json` or from "
                   "https://huggingface.co/openai-community/%s/resolve/main/model.safetensors (then give its path)",
                   name, name, name, where, name, name);
}

/* spec -> the model.safetensors path; *named = index into gpt2_models or -1 */
static int resolve_spec(const char *spec, char *path, size_t n, int *named) {
    *named = -1;
    int idx = gpt2_model_index(spec);
    if (idx >= 0) {
        *named = idx;
        return find_cached(spec, path, n);
    }
    struct stat st;
    if (stat(spec, &st) != 0)
        return ng_fail("%s: no such file or directory (expected gpt2, gpt2-medium, gpt2-large, gpt2-xl "
                       "or the path of a GPT-2 model.safetensors)", spec);
    if (S_ISDIR(st.st_mode)) {
        if (snprintf(path, n, "%s/model.safetensors", spec) >= (int)n) return ng_fail("%s: path too long", spec);
        if (!is_file(path)) return ng_fail("%s: no model.safetensors in this directory", spec);
        return 0;
    }
    if (snprintf(path, n, "%s", spec) >= (int)n) return ng_fail("%s: path too long", spec);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * config.json */

typedef struct {
    int64_t n_layer, n_head, n_embd, n_positions, vocab_size, n_inner;   /* -1: absent */
    int gelu_tanh;                                                       /* -1: absent */
} HfConfig;

static int cfg_int(const JsonValue *j, const char *key, int64_t *out, const char *path) {
    const JsonValue *v = ng_json_get(j, key);
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_NUMBER || !v->is_integer || v->integer < 1 || v->integer > (1 << 24))
        return ng_fail("%s: %s must be a positive integer", path, key);
    *out = v->integer;
    return 0;
}

static int parse_hf_config(const char *path, HfConfig *c) {
    size_t n;
    char *text = ng_read_file(path, &n);
    if (!text) return -1;
    char err[256];
    JsonValue *j = ng_json_parse(text, n, err, sizeof err);
    free(text);
    if (!j) return ng_fail("%s: not valid JSON (%s)", path, err);
    int rc = 0;
    if (j->type != JSON_OBJECT) rc = ng_fail("%s: not a JSON object", path);
    int64_t n_ctx = -1;
    if (rc == 0) rc = cfg_int(j, "n_layer", &c->n_layer, path);
    if (rc == 0) rc = cfg_int(j, "n_head", &c->n_head, path);
    if (rc == 0) rc = cfg_int(j, "n_embd", &c->n_embd, path);
    if (rc == 0) rc = cfg_int(j, "n_positions", &c->n_positions, path);
    if (rc == 0) rc = cfg_int(j, "n_ctx", &n_ctx, path);
    if (rc == 0) rc = cfg_int(j, "vocab_size", &c->vocab_size, path);
    if (rc == 0) rc = cfg_int(j, "n_inner", &c->n_inner, path);
    if (rc == 0 && c->n_positions < 0) c->n_positions = n_ctx;
    const JsonValue *v;
    if (rc == 0 && (v = ng_json_get(j, "model_type")) && (v->type != JSON_STRING || strcmp(v->string, "gpt2")))
        rc = ng_fail("%s: model_type is %s%s%s, not gpt2", path, v->type == JSON_STRING ? "'" : "",
                     v->type == JSON_STRING ? v->string : "not a string", v->type == JSON_STRING ? "'" : "");
    if (rc == 0 && (v = ng_json_get(j, "activation_function"))) {
        const char *a = v->type == JSON_STRING ? v->string : "";
        if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh") || !strcmp(a, "gelu_fast")) c->gelu_tanh = 1;
        else if (!strcmp(a, "gelu")) c->gelu_tanh = 0;
        else rc = ng_fail("%s: activation_function '%.40s' is not supported (gelu_new or gelu)", path, a);
    }
    if (rc == 0 && (v = ng_json_get(j, "layer_norm_epsilon"))
        && (v->type != JSON_NUMBER || v->number < 0.99e-5 || v->number > 1.01e-5))
        rc = ng_fail("%s: layer_norm_epsilon must be 1e-5 (nanoGPT's LayerNorm)", path);
    if (rc == 0 && (v = ng_json_get(j, "scale_attn_weights")) && v->type == JSON_BOOL && v->number == 0)
        rc = ng_fail("%s: scale_attn_weights false is not supported", path);
    if (rc == 0 && (v = ng_json_get(j, "scale_attn_by_inverse_layer_idx")) && v->type == JSON_BOOL && v->number != 0)
        rc = ng_fail("%s: scale_attn_by_inverse_layer_idx true is not supported", path);
    ng_json_free(j);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Hugging Face import */

static const NgStTensor *hf_find(const NgStFile *f, const char *prefix, const char *name) {
    char full[200];
    if (snprintf(full, sizeof full, "%s%s", prefix, name) >= (int)sizeof full) return NULL;
    return ng_st_find(f, full);
}

/* h.N.attn.bias, h.N.attn.masked_bias (causal-mask buffers) and lm_head.weight (tied) */
static int hf_ignored(const char *n) {
    if (!strcmp(n, "lm_head.weight")) return 1;
    if (strncmp(n, "h.", 2) != 0) return 0;
    const char *p = n + 2;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return !strcmp(p, ".attn.bias") || !strcmp(p, ".attn.masked_bias");
}

/* our per-layer matrices are the Conv1D weights of HF */
static int is_conv1d(const NgTensor *t) { return ng_param_table[t->spec].per_layer && t->ndim == 2; }

static int check_dtype(const NgStTensor *s, const char *path) {
    if (s->dtype == NG_F32 || s->dtype == NG_F16 || s->dtype == NG_BF16) return 0;
    return ng_fail("%s: tensor %s has dtype %d: only F32, F16 and BF16 are supported", path, s->name, (int)s->dtype);
}

static int load_hf(const NgStFile *f, const char *path, const char *cfg_path, const HfConfig *hc, int named,
                   int block_size, int gelu_override, NgModel *m) {
    char sb[64], sb2[64];
    const char *pre = !ng_st_find(f, "wte.weight") && ng_st_find(f, HF_PREFIX "wte.weight") ? HF_PREFIX : "";
    const NgStTensor *wte = hf_find(f, pre, "wte.weight"), *wpe = hf_find(f, pre, "wpe.weight");
    if (!wte) return ng_fail("%s: no tensor wte.weight (or transformer.wte.weight): not a GPT-2 model", path);
    if (!wpe) return ng_fail("%s: no tensor %swpe.weight: not a GPT-2 model", path, pre);
    if (wte->ndim != 2 || wte->shape[0] < 1 || wte->shape[0] > (1 << 24) || wte->shape[1] < 1 || wte->shape[1] > (1 << 16))
        return ng_fail("%s: %swte.weight has shape %s, expected [vocab_size, n_embd]", path, pre, shape_str(wte->ndim, wte->shape, sb, sizeof sb));
    int64_t V = wte->shape[0], C = wte->shape[1];
    if (wpe->ndim != 2 || wpe->shape[1] != C || wpe->shape[0] < 1 || wpe->shape[0] > (1 << 20))
        return ng_fail("%s: %swpe.weight has shape %s, expected [n_positions, %lld]", path, pre,
                       shape_str(wpe->ndim, wpe->shape, sb, sizeof sb), (long long)C);
    int64_t T = wpe->shape[0];
    int L = 0;
    char name[160];
    for (;; L++) {
        snprintf(name, sizeof name, "h.%d.ln_1.weight", L);
        if (L > 4096 || !hf_find(f, pre, name)) break;
    }
    if (L == 0) return ng_fail("%s: no layers (no tensor %sh.0.ln_1.weight)", path, pre);
    if (L > 4096) return ng_fail("%s: more than 4096 layers", path);
    if (hc) {
        struct { const char *key; int64_t cfg, file; const char *from; } chk[] = {
            {"n_embd", hc->n_embd, C, "wte.weight"}, {"vocab_size", hc->vocab_size, V, "wte.weight"},
            {"n_positions", hc->n_positions, T, "wpe.weight"}, {"n_layer", hc->n_layer, L, "the h.N tensors"},
        };
        for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++)
            if (chk[i].cfg >= 0 && chk[i].cfg != chk[i].file)
                return ng_fail("%s: %s is %lld but %s has %lld (from %s)", cfg_path, chk[i].key, (long long)chk[i].cfg,
                               path, (long long)chk[i].file, chk[i].from);
        if (hc->n_inner >= 0 && hc->n_inner != 4 * C)
            return ng_fail("%s: n_inner %lld is not supported (the MLP must be 4 * n_embd = %lld)", cfg_path,
                           (long long)hc->n_inner, (long long)(4 * C));
    }
    int64_t NH = hc && hc->n_head > 0 ? hc->n_head : named >= 0 ? gpt2_models[named].n_head : gpt2_heads_for(C);
    if (NH <= 0)
        return ng_fail("%s: cannot tell n_head for n_embd %lld (not a standard GPT-2 size): put a config.json with n_head beside it",
                       path, (long long)C);
    if (C % NH != 0) return ng_fail("%s: n_embd %lld is not divisible by n_head %lld", hc && hc->n_head > 0 ? cfg_path : path,
                                    (long long)C, (long long)NH);
    if (block_size < 0) return ng_fail("%s: block_size %d must not be negative", path, block_size);
    if (block_size > T)
        return ng_fail("%s: block_size %d is larger than the model's n_positions %lld (only cropping is possible)", path,
                       block_size, (long long)T);
    NgModelArgs a = {0};
    a.model_type = NG_MODEL_GPT;
    a.block_size = block_size > 0 ? block_size : (int)T;
    a.vocab_size = (int)V;
    a.n_layer = L;
    a.n_head = (int)NH;
    a.n_embd = (int)C;
    a.dropout = 0.0f;
    a.bias = 1;
    a.gelu_tanh = gelu_override >= 0 ? gelu_override != 0 : hc && hc->gelu_tanh >= 0 ? hc->gelu_tanh : 1;
    if (ng_model_create(m, &a) != 0) return ng_fail("%s: %s", path, ng_errmsg());

    /* every tensor of the file is a parameter of this model or an ignorable buffer */
    size_t plen = strlen(pre);
    int rc = 0;
    for (int i = 0; i < f->n_tensors && rc == 0; i++) {
        const char *n = f->tensors[i].name;
        if (plen && !strncmp(n, pre, plen)) n += plen;
        if (hf_ignored(n)) continue;
        if (snprintf(name, sizeof name, HF_PREFIX "%s", n) >= (int)sizeof name || !ng_model_find_tensor(m, name))
            rc = ng_fail("%s: unexpected tensor %.100s (not part of a %d-layer GPT-2)", path, f->tensors[i].name, L);
    }
    /* convert into the model; Conv1D matrices transposed, wpe cropped to block_size rows */
    size_t C4 = 4 * (size_t)C;
    float *tmp = rc == 0 ? ng_malloc(C4 * (size_t)C * sizeof(float), "a weight matrix") : NULL;
    if (rc == 0 && !tmp) rc = -1;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const NgTensor *t = &m->tensors[i];
        const char *hn = t->name + strlen(HF_PREFIX);
        const NgStTensor *s = hf_find(f, pre, hn);
        if (!s) { rc = ng_fail("%s: tensor %s%s is missing", path, pre, hn); break; }
        if ((rc = check_dtype(s, path)) != 0) break;
        int tr = is_conv1d(t);
        int64_t want[2] = {tr ? t->shape[1] : t->shape[0], tr ? t->shape[0] : t->shape[1]};
        if (!strcmp(hn, "wpe.weight")) want[0] = T;
        int ok = s->ndim == t->ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = s->shape[d] == want[d];
        if (!ok) {
            rc = ng_fail("%s: tensor %s has shape %s, expected %s%s", path, s->name, shape_str(s->ndim, s->shape, sb, sizeof sb),
                         shape_str(t->ndim, want, sb2, sizeof sb2), tr ? " (Conv1D: [in, out])" : "");
            break;
        }
        float *dst = m->params + t->offset;
        const uint8_t *src = f->data + s->begin;
        if (!tr) { convert(dst, src, s->dtype, t->numel); continue; }
        size_t O = (size_t)t->shape[0], I = (size_t)t->shape[1];   /* ours [O, I], the file's [I, O] */
        convert(tmp, src, s->dtype, t->numel);
        for (size_t i0 = 0; i0 < I; i0 += 64)                      /* blocked transpose */
            for (size_t o = 0; o < O; o++)
                for (size_t ii = i0; ii < I && ii < i0 + 64; ii++) dst[o * I + ii] = tmp[ii * O + o];
    }
    /* an lm_head.weight must be the tied copy of wte */
    const NgStTensor *lm = ng_st_find(f, "lm_head.weight");
    if (rc == 0 && lm) {
        if (check_dtype(lm, path) != 0) rc = -1;
        else if (lm->ndim != 2 || lm->shape[0] != V || lm->shape[1] != C)
            rc = ng_fail("%s: lm_head.weight has shape %s, expected [%lld, %lld] (tied to wte.weight)", path,
                         shape_str(lm->ndim, lm->shape, sb, sizeof sb), (long long)V, (long long)C);
        for (int64_t r = 0; rc == 0 && r < V; r++) {
            convert(tmp, f->data + lm->begin + (size_t)r * (size_t)C * ng_dtype_size(lm->dtype), lm->dtype, (size_t)C);
            if (memcmp(tmp, m->p.wte + (size_t)r * (size_t)C, (size_t)C * sizeof(float)) != 0)
                rc = ng_fail("%s: lm_head.weight differs from wte.weight (row %lld): untied output layers are not supported",
                             path, (long long)r);
        }
    }
    free(tmp);
    if (rc != 0) ng_model_free(m);
    return rc;
}

int ng_import_hf(const char *spec, NgModel *m, int block_size, int gelu_override) {
    memset(m, 0, sizeof *m);
    if (!spec || !*spec) return ng_fail("init_from: empty model name or path");
    char path[1024], cfg_path[1100];
    int named;
    if (resolve_spec(spec, path, sizeof path, &named) != 0) return -1;
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(cfg_path, sizeof cfg_path, "%.*s/config.json", (int)(slash - path), path);
    else snprintf(cfg_path, sizeof cfg_path, "config.json");
    HfConfig hc = {-1, -1, -1, -1, -1, -1, -1};
    int have_cfg = is_file(cfg_path);
    if (have_cfg && parse_hf_config(cfg_path, &hc) != 0) return -1;
    MappedFile mf;
    if (map_file(&mf, path) != 0) return -1;
    NgStFile f;
    int rc = ng_st_parse(&f, mf.map, mf.size, path);
    if (rc == 0) {
        rc = load_hf(&f, path, cfg_path, have_cfg ? &hc : NULL, named, block_size, gelu_override, m);
        ng_st_close(&f);
    }
    unmap_file(&mf);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Hugging Face export */

/* GPT-2's layouts hold nanoGPT's architecture: GELU and lm_head tied to wte */
static int gpt2_architecture(const NgModel *m, const char *path, const char *what) {
    const NgModelArgs *a = &m->args;
    if (a->model_type != NG_MODEL_GPT) return ng_fail("%s: only GPT models can be exported %s (this is a bigram model)", path, what);
    if (a->relu || a->untied_head)
        return ng_fail("%s: this model has %s, which GPT-2 does not: export it with --format=lecture", path,
                       a->relu ? "a ReLU MLP" : "an untied lm_head");
    return 0;
}

int ng_export_hf(const NgModel *m, const char *dir) {
    const NgModelArgs *a = &m->args;
    if (gpt2_architecture(m, dir, "as GPT-2") != 0) return -1;
    char path[1100], cfg_path[1100];
    if (snprintf(path, sizeof path, "%s/model.safetensors", dir) >= (int)sizeof path
        || snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir) >= (int)sizeof cfg_path)
        return ng_fail("%s: path too long", dir);
    if (ng_mkdir_p(dir) != 0) return -1;
    size_t C = (size_t)a->n_embd;
    float *zeros = ng_calloc(4 * C, sizeof(float), "zero biases");
    float **owned = ng_calloc((size_t)m->n_tensors, sizeof(float *), "transposed weights");
    NgStWriter *w = ng_st_writer_new();
    int rc = zeros && owned && w ? 0 : -1, n_owned = 0;
    /* the table's order (HF's state_dict order); per-layer rows grouped by layer; every bias */
    for (int r = 0; ng_param_table[r].name && rc == 0;) {
        int r_end = r + 1;
        if (ng_param_table[r].per_layer) while (ng_param_table[r_end].name && ng_param_table[r_end].per_layer) r_end++;
        int layers = ng_param_table[r].per_layer ? a->n_layer : 1;
        for (int l = 0; l < layers && rc == 0; l++)
            for (int q = r; q < r_end && rc == 0; q++) {
                const NgParamSpec *p = &ng_param_table[q];
                if (p->model_type != NG_MODEL_GPT || p->presence == NG_IF_UNTIED || p->presence == NG_IF_UNTIED_BIAS) continue;
                char full[128];
                const char *at = strstr(p->name, "{l}");
                if (at) snprintf(full, sizeof full, "%.*s%d%s", (int)(at - p->name), p->name, l, at + 3);
                else snprintf(full, sizeof full, "%s", p->name);
                const char *hn = full + strlen(HF_PREFIX);
                const NgTensor *t = ng_model_find_tensor(m, full);
                if (!t) {   /* a bias of a bias=False (or qkv_bias=False) model */
                    int64_t n = p->dims[0] == NG_DIM_3C ? 3 * (int64_t)C : p->dims[0] == NG_DIM_4C ? 4 * (int64_t)C : (int64_t)C;
                    rc = p->presence != NG_ALWAYS ? ng_st_writer_add(w, hn, NG_F32, 1, &n, zeros) : ng_fail("%s: model has no tensor %s", dir, full);
                    continue;
                }
                const float *src = m->params + t->offset;
                int64_t shape[2] = {t->shape[0], t->shape[1]};
                if (p->per_layer && t->ndim == 2) {   /* Conv1D: [in, out] */
                    size_t O = (size_t)t->shape[0], I = (size_t)t->shape[1];
                    float *tr = ng_malloc(t->numel * sizeof(float), "a transposed weight");
                    if (!tr) { rc = -1; break; }
                    owned[n_owned++] = tr;
                    for (size_t o0 = 0; o0 < O; o0 += 64)
                        for (size_t i = 0; i < I; i++)
                            for (size_t o = o0; o < O && o < o0 + 64; o++) tr[i * O + o] = src[o * I + i];
                    shape[0] = (int64_t)I; shape[1] = (int64_t)O;
                    src = tr;
                }
                rc = ng_st_writer_add(w, hn, NG_F32, t->ndim, shape, src);
            }
        r = r_end;
    }
    if (rc == 0) rc = ng_st_writer_meta(w, "format", "pt");
    if (rc == 0) rc = ng_st_writer_save(w, path);
    ng_st_writer_free(w);
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    free(zeros);
    if (rc != 0) return -1;

    int eos = a->vocab_size > 50256 ? 50256 : a->vocab_size - 1;
    NgStr j = {0};
    ng_str_printf(&j,
        "{\n"
        "  \"activation_function\": \"%s\",\n"
        "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
        "  \"attn_pdrop\": %.9g,\n"
        "  \"bos_token_id\": %d,\n"
        "  \"embd_pdrop\": %.9g,\n"
        "  \"eos_token_id\": %d,\n"
        "  \"initializer_range\": 0.02,\n"
        "  \"layer_norm_epsilon\": 1e-05,\n"
        "  \"model_type\": \"gpt2\",\n"
        "  \"n_ctx\": %d,\n"
        "  \"n_embd\": %d,\n"
        "  \"n_head\": %d,\n"
        "  \"n_inner\": null,\n"
        "  \"n_layer\": %d,\n"
        "  \"n_positions\": %d,\n"
        "  \"reorder_and_upcast_attn\": false,\n"
        "  \"resid_pdrop\": %.9g,\n"
        "  \"scale_attn_by_inverse_layer_idx\": false,\n"
        "  \"scale_attn_weights\": true,\n"
        "  \"tie_word_embeddings\": true,\n"
        "  \"torch_dtype\": \"float32\",\n"
        "  \"use_cache\": true,\n"
        "  \"vocab_size\": %d\n"
        "}\n",
        a->gelu_tanh ? "gelu_new" : "gelu", a->dropout, eos, a->dropout, eos, a->block_size, a->n_embd, a->n_head,
        a->n_layer, a->block_size, a->dropout, a->vocab_size);
    if (!j.s) return ng_fail("%s: out of memory", cfg_path);
    rc = ng_write_file_atomic(cfg_path, j.s, j.len);
    free(j.s);
    if (rc == 0 && !a->bias)
        fprintf(stderr, "nanogpt: note: %s: the model has no biases (bias=False); GPT-2 always has them, so zero biases "
                        "were written (an equivalent model)\n", path);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * llm.c model files */

#define LLMC_HEADER_INTS 256
#define LLMC_HEADER_BYTES (LLMC_HEADER_INTS * 4)

enum { SZ_C, SZ_3C, SZ_4C, SZ_CC, SZ_3CC, SZ_4CC, SZ_WTE, SZ_WPE };
#define TOPV(f) offsetof(NgParams, f)
#define LAYV(f) offsetof(NgLayerParams, f)
static const struct { const char *name; int per_layer; size_t view; int size; } llmc_order[16] = {
    {"wte", 0, TOPV(wte), SZ_WTE},          {"wpe", 0, TOPV(wpe), SZ_WPE},
    {"ln1w", 1, LAYV(ln_1_w), SZ_C},        {"ln1b", 1, LAYV(ln_1_b), SZ_C},
    {"qkvw", 1, LAYV(c_attn_w), SZ_3CC},    {"qkvb", 1, LAYV(c_attn_b), SZ_3C},
    {"attprojw", 1, LAYV(attn_proj_w), SZ_CC}, {"attprojb", 1, LAYV(attn_proj_b), SZ_C},
    {"ln2w", 1, LAYV(ln_2_w), SZ_C},        {"ln2b", 1, LAYV(ln_2_b), SZ_C},
    {"fcw", 1, LAYV(c_fc_w), SZ_4CC},       {"fcb", 1, LAYV(c_fc_b), SZ_4C},
    {"fcprojw", 1, LAYV(mlp_proj_w), SZ_4CC}, {"fcprojb", 1, LAYV(mlp_proj_b), SZ_C},
    {"lnfw", 0, TOPV(ln_f_w), SZ_C},        {"lnfb", 0, TOPV(ln_f_b), SZ_C},
};

/* elements of one tensor (one layer) in the file and in the model */
static void llmc_sizes(int kind, uint64_t C, uint64_t Vp, uint64_t V, uint64_t maxT, uint64_t T, uint64_t *file, uint64_t *model) {
    switch (kind) {
    case SZ_C: *file = C; break;
    case SZ_3C: *file = 3 * C; break;
    case SZ_4C: *file = 4 * C; break;
    case SZ_CC: *file = C * C; break;
    case SZ_3CC: *file = 3 * C * C; break;
    case SZ_4CC: *file = 4 * C * C; break;
    case SZ_WTE: *file = Vp * C; *model = V * C; return;
    default: *file = maxT * C; *model = T * C; return;
    }
    *model = *file;
}

static float *llmc_view(const NgModel *m, int k, int l) {
    const char *owner = llmc_order[k].per_layer ? (const char *)&m->p.h[l] : (const char *)&m->p;
    return *(float *const *)(owner + llmc_order[k].view);
}

int ng_llmc_parse(const uint8_t *buf, size_t size, const char *name, NgModel *m, int block_size) {
    memset(m, 0, sizeof *m);
    if (!name) name = "(memory)";
    if (!buf || size < LLMC_HEADER_BYTES)
        return ng_fail("%s: file too short for an llm.c model file (%zu bytes, the header alone is %d)", name, size, LLMC_HEADER_BYTES);
    int32_t h[8];
    memcpy(h, buf, sizeof h);
    if (h[0] != NG_LLMC_MODEL_MAGIC) {
        if (h[0] == NG_LLMC_TOKENS_MAGIC) return ng_fail("%s: this is an llm.c token shard (magic %d), not a model file", name, h[0]);
        return ng_fail("%s: bad magic %d: not an llm.c model file (expected %d)", name, h[0], NG_LLMC_MODEL_MAGIC);
    }
    if (h[1] != 3 && h[1] != 5)
        return ng_fail("%s: llm.c model file version %d is not supported (3: float32, 5: bfloat16)", name, h[1]);
    int maxT = h[2], V = h[3], L = h[4], NH = h[5], C = h[6], Vp = h[7];
    if (maxT < 1 || maxT > (1 << 20)) return ng_fail("%s: max_seq_len %d is out of range (1..1048576)", name, maxT);
    if (V < 1 || V > (1 << 24)) return ng_fail("%s: vocab_size %d is out of range (1..16777216)", name, V);
    if (L < 1 || L > 4096) return ng_fail("%s: num_layers %d is out of range (1..4096)", name, L);
    if (C < 1 || C > (1 << 16)) return ng_fail("%s: channels %d is out of range (1..65536)", name, C);
    if (NH < 1 || C % NH != 0) return ng_fail("%s: num_heads %d does not divide channels %d", name, NH, C);
    if (Vp < V || Vp > (1 << 25)) return ng_fail("%s: padded_vocab_size %d is out of range (vocab_size %d .. 33554432)", name, Vp, V);
    if (block_size < 0) return ng_fail("%s: block_size %d must not be negative", name, block_size);
    if (block_size > maxT)
        return ng_fail("%s: block_size %d is larger than the model's max_seq_len %d (only cropping is possible)", name, block_size, maxT);
    int T = block_size > 0 ? block_size : maxT;
    size_t esize = h[1] == 3 ? 4 : 2;
    uint64_t numel = 0, fn, mn;
    for (int k = 0; k < 16; k++) {
        llmc_sizes(llmc_order[k].size, (uint64_t)C, (uint64_t)Vp, (uint64_t)V, (uint64_t)maxT, (uint64_t)T, &fn, &mn);
        numel += fn * (llmc_order[k].per_layer ? (uint64_t)L : 1);   /* < 2^50: no overflow with these limits */
    }
    uint64_t want = LLMC_HEADER_BYTES + numel * esize;
    if ((uint64_t)size != want)
        return ng_fail("%s: file is %zu bytes but its header (version %d, L=%d C=%d Vp=%d maxT=%d) needs %llu%s", name, size,
                       h[1], L, C, Vp, maxT, (unsigned long long)want, (uint64_t)size < want ? " (truncated?)" : "");
    NgModelArgs a = {0};
    a.model_type = NG_MODEL_GPT;
    a.block_size = T;
    a.vocab_size = V;
    a.n_layer = L;
    a.n_head = NH;
    a.n_embd = C;
    a.bias = 1;
    a.gelu_tanh = 1;
    if (ng_model_create(m, &a) != 0) return ng_fail("%s: %s", name, ng_errmsg());
    const uint8_t *p = buf + LLMC_HEADER_BYTES;
    for (int k = 0; k < 16; k++) {
        llmc_sizes(llmc_order[k].size, (uint64_t)C, (uint64_t)Vp, (uint64_t)V, (uint64_t)maxT, (uint64_t)T, &fn, &mn);
        for (int l = 0; l < (llmc_order[k].per_layer ? L : 1); l++) {
            convert(llmc_view(m, k, l), p, esize == 4 ? NG_F32 : NG_BF16, (size_t)mn);
            p += fn * esize;
        }
    }
    return 0;
}

int ng_import_llmc(const char *path, NgModel *m, int block_size) {
    memset(m, 0, sizeof *m);
    MappedFile mf;
    if (map_file(&mf, path) != 0) return -1;
    int rc = ng_llmc_parse(mf.map, mf.size, path, m, block_size);
    unmap_file(&mf);
    return rc;
}

static int write_or_fail(FILE *f, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, f) != n) return ng_fail("%s: write failed: %s", path, strerror(errno));
    return 0;
}

int ng_export_llmc(const NgModel *m, const char *path) {
    const NgModelArgs *a = &m->args;
    if (gpt2_architecture(m, path, "to llm.c") != 0) return -1;
    int Vp = (a->vocab_size + 127) / 128 * 128;
    int32_t header[LLMC_HEADER_INTS] = {0};
    header[0] = NG_LLMC_MODEL_MAGIC;
    header[1] = 3;
    header[2] = a->block_size;
    header[3] = a->vocab_size;
    header[4] = a->n_layer;
    header[5] = a->n_head;
    header[6] = a->n_embd;
    header[7] = Vp;
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) return ng_fail("%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return ng_fail("%s: cannot create: %s", tmp, strerror(errno));
    static const float zeros[1024];
    int rc = write_or_fail(f, header, sizeof header, path);
    uint64_t fn, mn, C = (uint64_t)a->n_embd, T = (uint64_t)a->block_size;
    for (int k = 0; k < 16 && rc == 0; k++) {
        llmc_sizes(llmc_order[k].size, C, (uint64_t)Vp, (uint64_t)a->vocab_size, T, T, &fn, &mn);
        for (int l = 0; l < (llmc_order[k].per_layer ? a->n_layer : 1) && rc == 0; l++) {
            const float *v = llmc_view(m, k, l);
            uint64_t done = 0;
            if (v) { rc = write_or_fail(f, v, (size_t)mn * sizeof(float), path); done = mn; }   /* NULL: no bias */
            for (; rc == 0 && done < fn; done += 1024) {                                  /* padding, zero biases */
                uint64_t n = fn - done < 1024 ? fn - done : 1024;
                rc = write_or_fail(f, zeros, (size_t)n * sizeof(float), path);
            }
        }
    }
    if (rc == 0 && fflush(f) != 0) rc = ng_fail("%s: write failed: %s", path, strerror(errno));
    if (rc == 0 && fsync(fileno(f)) != 0) rc = ng_fail("%s: fsync failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0) rc = ng_fail("%s: close failed: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = ng_fail("%s: rename failed: %s", path, strerror(errno));
    if (rc != 0) { unlink(tmp); return -1; }
    if (!a->bias)
        fprintf(stderr, "nanogpt: note: %s: the model has no biases (bias=False); llm.c always has them, so zero biases "
                        "were written (an equivalent model)\n", path);
    if (!a->gelu_tanh)
        fprintf(stderr, "nanogpt: note: %s: the model was trained with the exact (erf) GELU but llm.c uses the tanh "
                        "approximation: its outputs will differ slightly\n", path);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * init_from */

static int has_llmc_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int32_t magic = 0;
    int ok = fread(&magic, sizeof magic, 1, f) == 1 && magic == NG_LLMC_MODEL_MAGIC;
    fclose(f);
    return ok;
}

int ng_is_pretrained_spec(const char *spec) {
    if (!spec || !*spec || !strcmp(spec, "scratch") || !strcmp(spec, "resume")) return 0;
    struct stat st;
    return gpt2_model_index(spec) >= 0 || stat(spec, &st) == 0;
}

int ng_import_pretrained(const char *spec, NgModel *m, int block_size, int gelu_override) {
    if (spec && is_file(spec) && has_llmc_magic(spec)) {
        if (ng_import_llmc(spec, m, block_size) != 0) return -1;
        if (gelu_override >= 0) m->args.gelu_tanh = gelu_override != 0;
        return 0;
    }
    return ng_import_hf(spec, m, block_size, gelu_override);
}
