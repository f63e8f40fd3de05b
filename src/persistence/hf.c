/* hf.c -- GPT-2 weights in and out in Hugging Face's layout (model.safetensors + config.json),
 * and init_from=SPEC for any pretrained weights (llm.c files go to llmc.c).
 *
 * Hugging Face GPT-2 (GPT2Model / GPT2LMHeadModel state dicts) uses nanoGPT's tensor names,
 * without the "transformer." prefix in the openai-community/gpt2* files and with it in
 * GPT2LMHeadModel checkpoints, except that its four per-layer matrices (attn.c_attn, attn.c_proj,
 * mlp.c_fc, mlp.c_proj) are Conv1D weights stored [in, out]: the transpose of our nn.Linear
 * [out, in]. The h.N.attn.bias / masked_bias buffers (the causal mask) are not parameters, and
 * lm_head.weight is tied to wte.weight. Architecture: biases everywhere, LayerNorm eps 1e-5,
 * activation_function gelu_new (the tanh approximation), n_positions 1024, vocab 50257.
 *
 * Files are mmap'd read-only, so a 6 GB gpt2-xl is not copied before conversion. Everything
 * read is checked: names, dtypes, shapes against each other and against config.json, sizes.
 */
#define _FILE_OFFSET_BITS 64
#include "persistence/import.h"
#include "formats/safetensors.h"
#include "formats/dataset.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/json.h"
#include "base/util.h"
#include "model/model.h"
#include "base/fileguard.h"
#include <dirent.h>
#include <errno.h>
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
    FILE *f = is_file(p) ? ng_fopen_regular(p) : NULL;
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
        if (!tr) { ng_dtype_to_f32(dst, src, s->dtype, t->numel); continue; }
        int O = (int)t->shape[0], I = (int)t->shape[1];           /* ours [O, I], the file's [I, O] */
        ng_dtype_to_f32(tmp, src, s->dtype, t->numel);
        ng_transpose(dst, (size_t)I, tmp, (size_t)O, I, O);
    }
    /* an lm_head.weight must be the tied copy of wte */
    const NgStTensor *lm = ng_st_find(f, "lm_head.weight");
    if (rc == 0 && lm) {
        if (check_dtype(lm, path) != 0) rc = -1;
        else if (lm->ndim != 2 || lm->shape[0] != V || lm->shape[1] != C)
            rc = ng_fail("%s: lm_head.weight has shape %s, expected [%lld, %lld] (tied to wte.weight)", path,
                         shape_str(lm->ndim, lm->shape, sb, sizeof sb), (long long)V, (long long)C);
        for (int64_t r = 0; rc == 0 && r < V; r++) {
            ng_dtype_to_f32(tmp, f->data + lm->begin + (size_t)r * (size_t)C * ng_dtype_size(lm->dtype), lm->dtype, (size_t)C);
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
    NgFileMap mf;
    if (ng_file_map(&mf, path, MADV_SEQUENTIAL) != 0) return -1;
    NgStFile f;
    int rc = ng_st_parse(&f, mf.data, mf.size, path);
    if (rc == 0) {
        rc = load_hf(&f, path, cfg_path, have_cfg ? &hc : NULL, named, block_size, gelu_override, m);
        ng_st_close(&f);
    }
    ng_file_unmap(&mf);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Hugging Face export */

int ng_gpt2_architecture(const NgModel *m, const char *path, const char *what) {
    const NgModelArgs *a = &m->args;
    if (a->model_type != NG_MODEL_GPT) return ng_fail("%s: only GPT models can be exported %s (this is a bigram model)", path, what);
    if (a->relu || a->untied_head)
        return ng_fail("%s: this model has %s, which GPT-2 does not: export it with --format=lecture", path,
                       a->relu ? "a ReLU MLP" : "an untied lm_head");
    return 0;
}

int ng_export_hf(const NgModel *m, const char *dir) {
    const NgModelArgs *a = &m->args;
    if (ng_gpt2_architecture(m, dir, "as GPT-2") != 0) return -1;
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
                    ng_transpose(tr, O, src, I, (int)O, (int)I);
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
    size_t j_len;
    char *j_text = ng_str_take(&j, &j_len);
    if (!j_text) return ng_fail("%s: out of memory", cfg_path);
    rc = ng_write_file_atomic(cfg_path, j_text, j_len);
    free(j_text);
    if (rc == 0 && !a->bias)
        fprintf(stderr, "nanogpt: note: %s: the model has no biases (bias=False); GPT-2 always has them, so zero biases "
                        "were written (an equivalent model)\n", path);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * init_from: GPT-2 names, Hugging Face files or llm.c files */

int ng_is_pretrained_spec(const char *spec) {
    if (!spec || !*spec || !strcmp(spec, "scratch") || !strcmp(spec, "resume")) return 0;
    struct stat st;
    return gpt2_model_index(spec) >= 0 || stat(spec, &st) == 0;
}

static int import_pretrained(const char *spec, NgModel *m, int block_size, int gelu_override) {
    /* an llm.c token shard too: the llm.c reader names it ("an llm.c token shard, not a model file") */
    if (spec && is_file(spec) && (ng_llmc_is_model_file(spec) || ng_llmc_is_token_shard(spec))) {
        if (ng_import_llmc(spec, m, block_size) != 0) return -1;
        if (gelu_override >= 0) m->args.gelu_tanh = gelu_override != 0;
        return 0;
    }
    return ng_import_hf(spec, m, block_size, gelu_override);
}

/* pretrained weights, NaN/Inf refused (an F16 file overflows to Inf easily) */
int ng_import_pretrained(const char *spec, NgModel *m, int block_size, int gelu_override) {
    if (import_pretrained(spec, m, block_size, gelu_override) != 0) return -1;
    if (ng_model_check_finite(m, spec) != 0) { ng_model_free(m); return -1; }
    return 0;
}
