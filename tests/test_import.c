/* test_import.c -- GPT-2 weights in and out (io/import.c) against tests/fixtures/tiny_gpt2,
 * a tiny random GPT-2 in Hugging Face's layout written by tools/gen_gpt2_fixtures.py with
 * expected logits and a greedy continuation from PyTorch (float64 reference).
 *
 *   HF import: logits <= 1e-5 (F32, F16, BF16 weights: each against the logits of its own
 *   rounded weights, and loosely against the F32 ones), greedy continuation equal, prefixed
 *   GPT2LMHeadModel names with tied lm_head and mask buffers, wpe cropping, gelu override,
 *   the cache lookup for gpt2* names; export hf -> import and export llmc -> import give
 *   bitwise-identical parameters (bias=False models: zero biases, same logits); llm.c version 5
 *   (bf16); the `nanogpt export` command; one-line errors for every broken input.
 * Run from the repository root. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogpt.h"
#include "formats/safetensors.h"
#include "persistence/import.h"
#include "base/util.h"
#include "test.h"
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];

/* the fixture directory ($NG_GPT2_FIXTURES, default tests/fixtures/tiny_gpt2); fx(NULL) is the
 * directory itself, fx("x") a file in it */
static const char *fx(const char *name) {
    static char buf[8][600];
    static int k;
    const char *d = getenv("NG_GPT2_FIXTURES");
    if (!d || !*d) d = "tests/fixtures/tiny_gpt2";
    k = (k + 1) % 8;
    if (name) snprintf(buf[k], sizeof buf[k], "%s/%s", d, name);
    else snprintf(buf[k], sizeof buf[k], "%s", d);
    return buf[k];
}

static const char *tmp_path(const char *name) {
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int err_has(const char *want) {
    const char *e = ng_errmsg();
    if (strstr(e, want) && !strchr(e, '\n')) return 1;
    fprintf(stderr, "  error was: %s\n  expected one line containing: %s\n", e, want);
    return 0;
}

static void *read_all(const char *path, size_t *n) {
    void *p = ng_read_file(path, n);
    if (!p) { fprintf(stderr, "%s\n", ng_errmsg()); exit(1); }
    return p;
}
static void write_all(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}
static void copy_file(const char *from, const char *to) {
    size_t n;
    void *p = read_all(from, &n);
    write_all(to, p, n);
    free(p);
}

/* ---- the expected values ---- */
static int g_B, g_T, g_V, g_nprompt, g_ngreedy;
static int *g_idx, *g_prompt, *g_greedy;
static float *g_logits, *g_logits_f16, *g_logits_bf16;

static void *take(const NgStFile *f, const char *name, NgDtype dt, size_t *numel) {
    const NgStTensor *t = ng_st_find(f, name);
    if (!t || t->dtype != dt) { fprintf(stderr, "%s: tensor %s missing or wrong dtype\n", f->path, name); exit(1); }
    size_t n = (size_t)(t->end - t->begin);
    void *p = malloc(n ? n : 1);
    memcpy(p, f->data + t->begin, n);
    *numel = n / ng_dtype_size(dt);
    return p;
}

static void load_expected(void) {
    NgStFile f;
    if (ng_st_open(&f, fx("expected.safetensors")) != 0) { fprintf(stderr, "%s\n", ng_errmsg()); exit(1); }
    size_t n;
    const NgStTensor *lt = ng_st_find(&f, "logits");
    if (!lt || lt->ndim != 3) { fprintf(stderr, "expected.safetensors: bad logits\n"); exit(1); }
    g_B = (int)lt->shape[0]; g_T = (int)lt->shape[1]; g_V = (int)lt->shape[2];
    g_idx = take(&f, "idx", NG_I32, &n);
    g_logits = take(&f, "logits", NG_F32, &n);
    g_logits_f16 = take(&f, "logits_f16", NG_F32, &n);
    g_logits_bf16 = take(&f, "logits_bf16", NG_F32, &n);
    g_prompt = take(&f, "greedy_prompt", NG_I32, &n); g_nprompt = (int)n;
    g_greedy = take(&f, "greedy", NG_I32, &n); g_ngreedy = (int)n;
    ng_st_close(&f);
}

/* logits of every position of a forward without targets */
static const float *forward_all(NgModel *m, const int *idx, int B, int T) {
    m->all_logits = 1;
    int rc = ng_model_forward(m, idx, NULL, B, T);
    m->all_logits = 0;
    return rc == 0 ? ng_model_logits(m) : NULL;
}

static int same_args(const NgModelArgs *a, const NgModelArgs *b) {
    return a->model_type == b->model_type && a->block_size == b->block_size && a->vocab_size == b->vocab_size
        && a->n_layer == b->n_layer && a->n_head == b->n_head && a->n_embd == b->n_embd && a->bias == b->bias
        && a->gelu_tanh == b->gelu_tanh;
}

static int same_params(const NgModel *a, const NgModel *b) {
    return a->num_params == b->num_params && same_args(&a->args, &b->args)
        && memcmp(a->params, b->params, a->num_params * sizeof(float)) == 0;
}

/* ---------------------------------------------------------------------------------------- */

static void test_conversions(void) {
    struct { uint16_t h; float f; } f16[] = {
        {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f}, {0x0001, 5.9604644775390625e-08f}, {0x03ff, 6.0975551605224609e-05f},
        {0x0400, 6.103515625e-05f}, {0x3555, 0.333251953125f}, {0x0000, 0.0f}, {0x7c00, INFINITY}, {0xfc00, -INFINITY},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++) ok &= ng_f16_to_f32(f16[i].h) == f16[i].f;
    CHECK(ok, "f16 values");
    float nz = ng_f16_to_f32(0x8000);
    CHECK(nz == 0.0f && signbit(nz), "f16 -0");
    CHECK(isnan(ng_f16_to_f32(0x7e00)), "f16 nan");
    CHECK(ng_bf16_to_f32(0x3f80) == 1.0f && ng_bf16_to_f32(0xc040) == -3.0f && ng_bf16_to_f32(0x0001) == 9.1835496157991212e-41f,
          "bf16 values");
    /* every f16 is exactly representable: converting back by rounding gives the same bits */
    int monotone = 1;
    for (uint32_t h = 0; h < 0x7c00; h++) monotone &= ng_f16_to_f32((uint16_t)h) < ng_f16_to_f32((uint16_t)(h + 1));
    CHECK(monotone, "f16 positive values strictly increasing");
}

static void test_hf_f32(void) {
    NgModel m;
    int rc = ng_import_hf(fx(NULL), &m, 0, NG_GELU_FROM_CONFIG);
    CHECK(rc == 0, "import the fixture directory: %s", ng_errmsg());
    if (rc) return;
    NgModelArgs want = {.model_type = NG_MODEL_GPT, .block_size = 32, .vocab_size = 50, .n_layer = 2, .n_head = 2, .n_embd = 16, .dropout = 0.0f, .bias = 1, .gelu_tanh = 1};
    CHECK(same_args(&m.args, &want), "args: block %d vocab %d L %d NH %d C %d bias %d tanh %d", m.args.block_size,
          m.args.vocab_size, m.args.n_layer, m.args.n_head, m.args.n_embd, m.args.bias, m.args.gelu_tanh);
    CHECK(g_V == m.args.vocab_size, "fixture vocab");
    const float *lg = forward_all(&m, g_idx, g_B, g_T);
    CHECK(lg != NULL, "forward");
    if (lg) check_close("HF F32 logits (all positions, no targets)", lg, g_logits, (size_t)g_B * g_T * g_V, 1e-5, 0);
    /* with targets the same logits */
    int *tg = malloc(sizeof(int) * g_B * g_T);
    for (int i = 0; i < g_B * g_T; i++) tg[i] = (g_idx[i] + 1) % g_V;
    if (ng_model_forward(&m, g_idx, tg, g_B, g_T) == 0)
        check_close("HF F32 logits (with targets)", ng_model_logits(&m), g_logits, (size_t)g_B * g_T * g_V, 1e-5, 0);
    free(tg);

    /* the file path gives the same model */
    NgModel m2;
    CHECK(ng_import_hf(fx("model.safetensors"), &m2, 0, NG_GELU_FROM_CONFIG) == 0 && same_params(&m, &m2), "file path: %s", ng_errmsg());
    ng_model_free(&m2);
    /* gelu override */
    CHECK(ng_import_hf(fx(NULL), &m2, 0, 0) == 0 && m2.args.gelu_tanh == 0, "gelu override erf");
    ng_model_free(&m2);

    /* greedy continuation, argmax of the last position at every step */
    int seq[64], n = g_nprompt;
    memcpy(seq, g_prompt, sizeof(int) * n);
    while (n < g_ngreedy) {
        if (ng_model_forward(&m, seq, NULL, 1, n) != 0) break;
        const float *l = ng_model_logits(&m);
        int best = 0;
        for (int v = 1; v < g_V; v++) if (l[v] > l[best]) best = v;
        seq[n++] = best;
    }
    CHECK(n == g_ngreedy && memcmp(seq, g_greedy, sizeof(int) * n) == 0, "greedy continuation equals PyTorch's");
    ng_model_free(&m);
}

static void test_hf_16bit(void) {
    NgModel m;
    size_t n = (size_t)g_B * g_T * g_V;
    int rc = ng_import_hf(fx("model_f16.safetensors"), &m, 0, NG_GELU_FROM_CONFIG);
    CHECK(rc == 0, "F16 (transformer. prefix, lm_head, U8 mask buffers): %s", ng_errmsg());
    if (rc == 0) {
        const float *lg = forward_all(&m, g_idx, g_B, g_T);
        if (lg) check_close("F16 logits vs F16 reference", lg, g_logits_f16, n, 1e-5, 0);
        if (lg) check_close("F16 logits vs F32 reference (loose)", lg, g_logits, n, 2e-2, 0);
        ng_model_free(&m);
    }
    rc = ng_import_hf(fx("model_bf16.safetensors"), &m, 0, NG_GELU_FROM_CONFIG);
    CHECK(rc == 0, "BF16: %s", ng_errmsg());
    if (rc == 0) {
        const float *lg = forward_all(&m, g_idx, g_B, g_T);
        if (lg) check_close("BF16 logits vs BF16 reference", lg, g_logits_bf16, n, 1e-5, 0);
        if (lg) check_close("BF16 logits vs F32 reference (loose)", lg, g_logits, n, 1.5e-1, 0);
        ng_model_free(&m);
    }
}

static void test_crop(void) {
    NgModel full, m;
    if (ng_import_hf(fx(NULL), &full, 0, -1) != 0) { CHECK(0, "import: %s", ng_errmsg()); return; }
    int rc = ng_import_hf(fx(NULL), &m, 8, -1);
    CHECK(rc == 0 && m.args.block_size == 8, "crop to 8: %s", ng_errmsg());
    if (rc == 0) {
        const NgTensor *wpe = ng_model_find_tensor(&m, "transformer.wpe.weight");
        CHECK(wpe && wpe->shape[0] == 8 && wpe->shape[1] == 16 && memcmp(m.p.wpe, full.p.wpe, 8 * 16 * sizeof(float)) == 0,
              "wpe cropped to its first 8 rows");
        CHECK(memcmp(m.p.wte, full.p.wte, 50 * 16 * sizeof(float)) == 0, "wte untouched");
        int idx[2 * 8];
        float want[2 * 8 * 50];
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 8; t++) {
                idx[b * 8 + t] = g_idx[b * g_T + t];
                memcpy(want + (b * 8 + t) * 50, g_logits + ((size_t)b * g_T + t) * g_V, 50 * sizeof(float));
            }
        const float *lg = forward_all(&m, idx, 2, 8);
        if (lg) check_close("cropped model logits for T=8", lg, want, 2 * 8 * 50, 1e-5, 0);
        ng_model_free(&m);
    }
    CHECK(ng_import_hf(fx(NULL), &m, 33, -1) == -1 && err_has("model.safetensors: block_size 33 is larger than the model's n_positions 32"), "larger block");
    CHECK(m.params == NULL, "failed import leaves the model empty");
    CHECK(ng_import_hf(fx(NULL), &m, 32, -1) == 0 && m.args.block_size == 32, "block_size = n_positions");
    ng_model_free(&m);
    ng_model_free(&full);
}

/* a random bias=False model with the exact GELU */
static int make_nobias(NgModel *m) {
    NgModelArgs a = {.model_type = NG_MODEL_GPT, .block_size = 16, .vocab_size = 37, .n_layer = 2, .n_head = 2, .n_embd = 8, .dropout = 0.0f, .bias = 0, .gelu_tanh = 0};
    if (ng_model_create(m, &a) != 0) return -1;
    ng_model_init_weights(m, 7);
    for (size_t i = 0; i < m->num_params; i++) m->params[i] *= 10.0f;   /* O(1) logits */
    return 0;
}

/* b (bias=True) holds a's tensors bitwise and zero biases */
static int holds_with_zero_biases(const NgModel *a, const NgModel *b) {
    int ok = b->args.bias == 1;
    for (int i = 0; i < b->n_tensors && ok; i++) {
        const NgTensor *t = &b->tensors[i];
        const NgTensor *s = ng_model_find_tensor(a, t->name);
        if (s) ok = s->numel == t->numel && memcmp(a->params + s->offset, b->params + t->offset, t->numel * sizeof(float)) == 0;
        else for (size_t k = 0; k < t->numel && ok; k++) ok = b->params[t->offset + k] == 0.0f;
    }
    return ok;
}

static void check_same_logits(NgModel *a, NgModel *b, const char *what) {
    int idx[2 * 16];
    for (int i = 0; i < 32; i++) idx[i] = (i * 11 + 3) % a->args.vocab_size;
    size_t n = (size_t)32 * a->args.vocab_size;
    float *la = malloc(n * sizeof(float));
    const float *l = forward_all(a, idx, 2, 16);
    if (l) memcpy(la, l, n * sizeof(float));
    const float *lb = forward_all(b, idx, 2, 16);
    CHECK(l && lb, "%s: forward", what);
    if (l && lb) check_close(what, lb, la, n, 1e-6, 1e-6);
    free(la);
}

static void test_hf_roundtrip(void) {
    NgModel m, m2;
    if (ng_import_hf(fx(NULL), &m, 0, -1) != 0) { CHECK(0, "import: %s", ng_errmsg()); return; }
    const char *dir = tmp_path("hf_out/nested");
    int rc = ng_export_hf(&m, dir);
    CHECK(rc == 0, "export hf: %s", ng_errmsg());
    rc = rc ? rc : ng_import_hf(dir, &m2, 0, -1);
    CHECK(rc == 0 && same_params(&m, &m2), "export hf -> import: bitwise identical (%s)", rc ? ng_errmsg() : "params differ");
    if (rc == 0) ng_model_free(&m2);
    /* the file is plain HF: no prefix, Conv1D layout, F32, format pt; config.json a GPT2Config */
    NgStFile f;
    char p[700];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (ng_st_open(&f, p) == 0) {
        const NgStTensor *t = ng_st_find(&f, "h.1.mlp.c_fc.weight");
        const char *fmt = ng_st_meta(&f, "format");
        CHECK(t && t->dtype == NG_F32 && t->shape[0] == 16 && t->shape[1] == 64 && fmt && !strcmp(fmt, "pt")
              && f.n_tensors == 2 + 2 * 12 + 2 && !ng_st_find(&f, "transformer.wte.weight"), "exported safetensors layout");
        NgStFile ref;   /* every exported tensor byte-equal to the one PyTorch wrote */
        int same = ng_st_open(&ref, fx("model.safetensors")) == 0;
        for (int i = 0; same && i < f.n_tensors; i++) {
            const NgStTensor *a = &f.tensors[i], *b = ng_st_find(&ref, a->name);
            same = b && a->ndim == b->ndim && a->end - a->begin == b->end - b->begin
                && !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim)
                && !memcmp(f.data + a->begin, ref.data + b->begin, a->end - a->begin);
            if (!same) fprintf(stderr, "  exported %s differs from the fixture's\n", a->name);
        }
        CHECK(same, "exported tensors equal the PyTorch-written HF tensors");
        ng_st_close(&ref);
        ng_st_close(&f);
    } else CHECK(0, "open export: %s", ng_errmsg());
    snprintf(p, sizeof p, "%s/config.json", dir);
    size_t n;
    char *cfg = ng_read_file(p, &n);
    CHECK(cfg && strstr(cfg, "\"model_type\": \"gpt2\"") && strstr(cfg, "\"GPT2LMHeadModel\"") && strstr(cfg, "\"n_positions\": 32")
          && strstr(cfg, "\"activation_function\": \"gelu_new\"") && strstr(cfg, "\"layer_norm_epsilon\": 1e-05")
          && strstr(cfg, "\"n_head\": 2") && strstr(cfg, "\"vocab_size\": 50"), "config.json: %s", cfg ? cfg : ng_errmsg());
    free(cfg);
    /* a cropped model exports with its block size */
    ng_model_free(&m);
    if (ng_import_hf(fx(NULL), &m, 8, -1) == 0 && ng_export_hf(&m, tmp_path("hf_crop")) == 0 && ng_import_hf(tmp_path("hf_crop"), &m2, 0, -1) == 0) {
        CHECK(same_params(&m, &m2) && m2.args.block_size == 8, "cropped export round trip");
        ng_model_free(&m2);
    } else CHECK(0, "cropped export: %s", ng_errmsg());
    ng_model_free(&m);

    /* bias=False, erf GELU: zero biases, "gelu", same logits */
    if (make_nobias(&m) != 0) return;
    rc = ng_export_hf(&m, tmp_path("hf_nobias"));
    rc = rc ? rc : ng_import_hf(tmp_path("hf_nobias"), &m2, 0, -1);
    CHECK(rc == 0, "bias=False export/import: %s", ng_errmsg());
    if (rc == 0) {
        CHECK(m2.args.gelu_tanh == 0 && m2.args.n_embd == 8 && m2.args.vocab_size == 37, "erf GELU comes back as erf");
        CHECK(holds_with_zero_biases(&m, &m2), "weights bitwise, biases zero");
        check_same_logits(&m, &m2, "bias=False vs zero-bias logits");
        ng_model_free(&m2);
    }
    ng_model_free(&m);
    NgModelArgs big = {.model_type = NG_MODEL_BIGRAM, .block_size = 8, .vocab_size = 10, .n_layer = 0, .n_head = 0, .n_embd = 0, .dropout = 0.0f, .bias = 0, .gelu_tanh = 0};
    if (ng_model_create(&m, &big) == 0) {
        CHECK(ng_export_hf(&m, tmp_path("hf_bigram")) == -1 && err_has("only GPT models"), "bigram cannot be exported");
        CHECK(ng_export_llmc(&m, tmp_path("bigram.bin")) == -1 && err_has("only GPT models"), "bigram cannot be exported to llm.c");
        ng_model_free(&m);
    }
}

static void test_llmc_roundtrip(void) {
    NgModel m, m2;
    if (ng_import_hf(fx(NULL), &m, 0, -1) != 0) { CHECK(0, "import: %s", ng_errmsg()); return; }
    const char *p = tmp_path("tiny.bin");
    int rc = ng_export_llmc(&m, p);
    CHECK(rc == 0, "export llmc: %s", ng_errmsg());
    size_t n;
    uint8_t *buf = read_all(p, &n);
    int32_t h[8];
    memcpy(h, buf, sizeof h);
    size_t C = 16, L = 2, Vp = 128, T = 32;
    size_t numel = Vp * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
    CHECK(n == 1024 + 4 * numel, "llm.c file size %zu, want %zu", n, 1024 + 4 * numel);
    CHECK(h[0] == 20240326 && h[1] == 3 && h[2] == 32 && h[3] == 50 && h[4] == 2 && h[5] == 2 && h[6] == 16 && h[7] == 128, "llm.c header");
    /* layout spot checks: wte row 0 first, padded rows zero, then wpe; lnfb last */
    float v;
    memcpy(&v, buf + 1024, 4);
    CHECK(v == m.p.wte[0], "wte first");
    int pad_zero = 1;
    for (size_t i = 50 * C; i < Vp * C; i++) { memcpy(&v, buf + 1024 + 4 * i, 4); pad_zero &= v == 0.0f; }
    CHECK(pad_zero, "padded vocab rows are zero");
    memcpy(&v, buf + 1024 + 4 * Vp * C, 4);
    CHECK(v == m.p.wpe[0], "wpe after the padded wte");
    memcpy(&v, buf + 1024 + 4 * (Vp * C + T * C + L * C), 4);
    CHECK(v == m.p.h[0].ln_1_b[0], "ln1b after ln1w of every layer");
    memcpy(&v, buf + 1024 + 4 * (Vp * C + T * C + 2 * L * C + L * 3 * C * C + 5), 4);
    CHECK(v == m.p.h[0].c_attn_b[5], "qkvb after qkvw of every layer");
    memcpy(&v, buf + n - 4, 4);
    CHECK(v == m.p.ln_f_b[C - 1], "lnfb last");

    /* the whole image, restated here in llm.c's order (train_gpt2.c fill_in_parameter_sizes) */
    float *img = calloc(numel, sizeof(float)), *o = img;
    memcpy(o, m.p.wte, 50 * C * 4); o += Vp * C;
    memcpy(o, m.p.wpe, T * C * 4); o += T * C;
#define ALL_LAYERS(field, count) for (size_t l = 0; l < L; l++) { memcpy(o, m.p.h[l].field, (count) * 4); o += (count); }
    ALL_LAYERS(ln_1_w, C) ALL_LAYERS(ln_1_b, C) ALL_LAYERS(c_attn_w, 3 * C * C) ALL_LAYERS(c_attn_b, 3 * C)
    ALL_LAYERS(attn_proj_w, C * C) ALL_LAYERS(attn_proj_b, C) ALL_LAYERS(ln_2_w, C) ALL_LAYERS(ln_2_b, C)
    ALL_LAYERS(c_fc_w, 4 * C * C) ALL_LAYERS(c_fc_b, 4 * C) ALL_LAYERS(mlp_proj_w, 4 * C * C) ALL_LAYERS(mlp_proj_b, C)
#undef ALL_LAYERS
    memcpy(o, m.p.ln_f_w, C * 4); o += C;
    memcpy(o, m.p.ln_f_b, C * 4); o += C;
    CHECK((size_t)(o - img) == numel && n == 1024 + 4 * numel && memcmp(buf + 1024, img, 4 * numel) == 0, "llm.c parameter image in llm.c's order");
    free(img);

    rc = ng_import_llmc(p, &m2, 0);
    CHECK(rc == 0 && same_params(&m, &m2), "export llmc -> import: bitwise identical (%s)", rc ? ng_errmsg() : "params differ");
    if (rc == 0) ng_model_free(&m2);
    NgModel m3;   /* init_from dispatch: the llm.c magic, else Hugging Face */
    rc = ng_import_pretrained(p, &m2, 0, -1);
    CHECK(rc == 0 && same_params(&m, &m2), "ng_import_pretrained(llm.c file): %s", ng_errmsg());
    if (rc == 0) ng_model_free(&m2);
    rc = ng_import_pretrained(p, &m2, 0, 0);
    CHECK(rc == 0 && m2.args.gelu_tanh == 0, "ng_import_pretrained(llm.c file, erf)");
    if (rc == 0) ng_model_free(&m2);
    rc = ng_import_pretrained(fx(NULL), &m2, 0, -1);
    CHECK(rc == 0 && ng_import_hf(fx(NULL), &m3, 0, -1) == 0 && same_params(&m3, &m2), "ng_import_pretrained(HF dir): %s", ng_errmsg());
    if (rc == 0) { ng_model_free(&m2); ng_model_free(&m3); }
    CHECK(ng_import_pretrained(tmp_path("nope.bin"), &m2, 0, -1) == -1 && err_has("nope.bin: no such file or directory"), "ng_import_pretrained(missing)");
    CHECK(ng_is_pretrained_spec("gpt2") && ng_is_pretrained_spec("gpt2-xl") && ng_is_pretrained_spec(p) && ng_is_pretrained_spec(fx(NULL))
          && !ng_is_pretrained_spec("scratch") && !ng_is_pretrained_spec("resume") && !ng_is_pretrained_spec("gpt3")
          && !ng_is_pretrained_spec(""), "ng_is_pretrained_spec");

    rc = ng_import_llmc(p, &m2, 5);
    CHECK(rc == 0 && m2.args.block_size == 5 && memcmp(m2.p.wpe, m.p.wpe, 5 * C * sizeof(float)) == 0
          && memcmp(m2.p.ln_f_b, m.p.ln_f_b, C * sizeof(float)) == 0, "llm.c crop: %s", ng_errmsg());
    if (rc == 0) ng_model_free(&m2);
    CHECK(ng_import_llmc(p, &m2, 40) == -1 && err_has("tiny.bin: block_size 40 is larger than the model's max_seq_len 32"), "llm.c larger block");

    /* version 5: bfloat16 parameters */
    size_t n5 = 1024 + 2 * numel;
    uint8_t *b5 = malloc(n5);
    memcpy(b5, buf, 1024);
    int32_t five = 5;
    memcpy(b5 + 4, &five, 4);
    for (size_t i = 0; i < numel; i++) {
        uint32_t bits;
        memcpy(&bits, buf + 1024 + 4 * i, 4);
        uint16_t hi = (uint16_t)(bits >> 16);
        memcpy(b5 + 1024 + 2 * i, &hi, 2);
    }
    const char *p5 = tmp_path("tiny_bf16.bin");
    write_all(p5, b5, n5);
    rc = ng_import_llmc(p5, &m2, 0);
    CHECK(rc == 0, "llm.c version 5: %s", ng_errmsg());
    if (rc == 0) {
        int ok = m2.num_params == m.num_params;
        for (size_t i = 0; ok && i < m.num_params; i++) {
            uint32_t bits;
            memcpy(&bits, &m.params[i], 4);
            bits &= 0xffff0000u;
            float t;
            memcpy(&t, &bits, 4);
            ok = m2.params[i] == t;
        }
        CHECK(ok, "version 5 parameters are the bf16 values");
        ng_model_free(&m2);
    }
    write_all(p5, b5, n5 - 2);
    CHECK(ng_import_llmc(p5, &m2, 0) == -1 && err_has("needs") && err_has("truncated"), "v5 truncated");
    free(b5);

    /* hostile files */
    const char *q = tmp_path("bad.bin");
    write_all(q, buf, n - 4);
    CHECK(ng_import_llmc(q, &m2, 0) == -1 && err_has("bad.bin: file is") && err_has("(truncated?)"), "truncated");
    CHECK(m2.params == NULL, "failed llm.c import leaves the model empty");
    uint8_t *big = malloc(n + 4);
    memcpy(big, buf, n);
    memset(big + n, 0, 4);
    write_all(q, big, n + 4);
    free(big);
    CHECK(ng_import_llmc(q, &m2, 0) == -1 && err_has("bytes but its header"), "trailing bytes");
    write_all(q, buf, 100);
    CHECK(ng_import_llmc(q, &m2, 0) == -1 && err_has("bad.bin: file too short"), "too short");
    write_all(q, buf, 0);
    CHECK(ng_import_llmc(q, &m2, 0) == -1 && err_has("bad.bin: file too short"), "empty");
    struct { int field; int32_t value; const char *err; } bad[] = {
        {0, 12345, "bad magic 12345"}, {0, 20240520, "llm.c token shard"}, {1, 4, "version 4 is not supported"},
        {2, 0, "max_seq_len 0"}, {3, -1, "vocab_size -1"}, {4, 0, "num_layers 0"}, {5, 3, "num_heads 3 does not divide channels 16"},
        {5, 0, "num_heads 0"}, {6, 0, "channels 0"}, {7, 49, "padded_vocab_size 49"}, {4, 1 << 20, "num_layers 1048576"},
        {6, 1 << 16, "needs"}, {7, 256, "needs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t old;
        memcpy(&old, buf + 4 * bad[i].field, 4);
        memcpy(buf + 4 * bad[i].field, &bad[i].value, 4);
        write_all(q, buf, n);
        memcpy(buf + 4 * bad[i].field, &old, 4);
        CHECK(ng_import_llmc(q, &m2, 0) == -1 && err_has(bad[i].err), "header field %d = %d", bad[i].field, bad[i].value);
    }
    CHECK(ng_import_llmc(tmp_path("none.bin"), &m2, 0) == -1 && err_has("none.bin: cannot open"), "missing llm.c file");
    CHECK(ng_import_llmc(g_dir, &m2, 0) == -1 && err_has("not a regular file"), "directory");
    free(buf);
    ng_model_free(&m);

    /* bias=False: zero biases, same logits */
    if (make_nobias(&m) != 0) return;
    rc = ng_export_llmc(&m, tmp_path("nobias.bin"));
    rc = rc ? rc : ng_import_llmc(tmp_path("nobias.bin"), &m2, 0);
    CHECK(rc == 0, "bias=False llm.c: %s", ng_errmsg());
    if (rc == 0) {
        CHECK(holds_with_zero_biases(&m, &m2) && m2.args.gelu_tanh == 1, "llm.c: weights bitwise, biases zero, tanh GELU");
        m2.args.gelu_tanh = 0;   /* the same math as the original */
        check_same_logits(&m, &m2, "llm.c bias=False vs zero-bias logits");
        ng_model_free(&m2);
    }
    ng_model_free(&m);
    CHECK(ng_export_llmc(&m, tmp_path("no/such/dir/x.bin")) == -1 && err_has("cannot create"), "export into a missing directory");
}

/* builds a variant of the F32 fixture: tensor `drop` left out, `rename` (old=new) renamed,
 * `reshape` given the shape {r0, r1}, `retype` written as I32, plus extra tensor `add` */
typedef struct { const char *drop, *rename_from, *rename_to, *reshape, *retype, *add; int64_t r0, r1; int add_lm_untied; } Variant;

static const char *write_variant(const char *dir, const Variant *v) {
    static char out[700];
    mkdir(tmp_path(dir), 0755);
    snprintf(out, sizeof out, "%s/model.safetensors", tmp_path(dir));
    char cfgdst[700];
    snprintf(cfgdst, sizeof cfgdst, "%s/config.json", tmp_path(dir));
    copy_file(fx("config.json"), cfgdst);
    NgStFile f;
    if (ng_st_open(&f, fx("model.safetensors")) != 0) { fprintf(stderr, "%s\n", ng_errmsg()); exit(1); }
    NgStWriter *w = ng_st_writer_new();
    char names[64][128];
    int nn = 0;
    float *lm = NULL;
    for (int i = 0; i < f.n_tensors; i++) {
        const NgStTensor *t = &f.tensors[i];
        if (v->drop && !strcmp(t->name, v->drop)) continue;
        const char *name = t->name;
        if (v->rename_from && !strncmp(name, v->rename_from, strlen(v->rename_from))) {
            snprintf(names[nn], sizeof names[0], "%s%s", v->rename_to, name + strlen(v->rename_from));
            name = names[nn++];
        }
        int64_t shape[8];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (v->reshape && !strcmp(t->name, v->reshape)) { shape[0] = v->r0; shape[1] = v->r1; }
        NgDtype dt = v->retype && !strcmp(t->name, v->retype) ? NG_I32 : t->dtype;
        ng_st_writer_add(w, name, dt, t->ndim, shape, f.data + t->begin);
        if (v->add_lm_untied && !strcmp(t->name, "wte.weight")) {
            lm = malloc(t->end - t->begin);
            memcpy(lm, f.data + t->begin, t->end - t->begin);
            lm[50 * 16 - 1] += 1.0f;
            ng_st_writer_add(w, "lm_head.weight", NG_F32, 2, shape, lm);
        }
    }
    static const float one[16];
    int64_t s16 = 16;
    if (v->add) ng_st_writer_add(w, v->add, NG_F32, 1, &s16, one);
    if (ng_st_writer_save(w, out) != 0) { fprintf(stderr, "%s\n", ng_errmsg()); exit(1); }
    ng_st_writer_free(w);
    ng_st_close(&f);
    free(lm);
    return out;
}

static void write_config(const char *dir, const char *json) {
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", tmp_path(dir));
    write_all(p, json, strlen(json));
}

static void test_hf_errors(void) {
    NgModel m;
    CHECK(ng_import_hf(tmp_path("nothing.safetensors"), &m, 0, -1) == -1
          && err_has("nothing.safetensors: no such file or directory (expected gpt2, gpt2-medium, gpt2-large, gpt2-xl"), "missing file");
    CHECK(ng_import_hf("gpt3", &m, 0, -1) == -1 && err_has("gpt3: no such file"), "unknown name");
    CHECK(ng_import_hf("", &m, 0, -1) == -1 && err_has("empty"), "empty spec");
    mkdir(tmp_path("emptydir"), 0755);
    CHECK(ng_import_hf(tmp_path("emptydir"), &m, 0, -1) == -1 && err_has("emptydir: no model.safetensors in this directory"), "empty dir");
    Variant v = {0};
    const char *p;
    v.reshape = "h.1.attn.c_attn.weight"; v.r0 = 48; v.r1 = 16;
    p = write_variant("v_shape", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("v_shape/model.safetensors: tensor h.1.attn.c_attn.weight has shape [48, 16], expected [16, 48] (Conv1D: [in, out])"), "Linear layout instead of Conv1D");
    memset(&v, 0, sizeof v);
    v.reshape = "ln_f.bias"; v.r0 = 4; v.r1 = 4;   /* same numel, 1-d expected */
    p = write_variant("v_shape2", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("tensor ln_f.bias has shape [4]"), "1-d shape");
    memset(&v, 0, sizeof v);
    v.drop = "h.0.mlp.c_fc.bias";
    p = write_variant("v_drop", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("v_drop/model.safetensors: tensor h.0.mlp.c_fc.bias is missing"), "missing tensor");
    memset(&v, 0, sizeof v);
    v.add = "h.0.attn.rotary";
    p = write_variant("v_add", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("unexpected tensor h.0.attn.rotary"), "unexpected tensor");
    memset(&v, 0, sizeof v);
    v.rename_from = "h.1."; v.rename_to = "h.2.";
    p = write_variant("v_gap", &v);
    write_config("v_gap", "{\"n_head\": 2}");
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("unexpected tensor h.2.") && err_has("1-layer"), "layer numbering gap");
    memset(&v, 0, sizeof v);
    v.retype = "wpe.weight";
    p = write_variant("v_dtype", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("tensor wpe.weight has dtype") && err_has("only F32, F16 and BF16"), "I32 tensor");
    memset(&v, 0, sizeof v);
    v.add_lm_untied = 1;
    p = write_variant("v_untied", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("lm_head.weight differs from wte.weight (row 49)"), "untied lm_head");
    memset(&v, 0, sizeof v);
    v.drop = "wte.weight";
    p = write_variant("v_nowte", &v);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("no tensor wte.weight"), "no wte");

    /* config.json against the tensors */
    memset(&v, 0, sizeof v);
    p = write_variant("v_cfg", &v);
    struct { const char *json, *err; } cfgs[] = {
        {"{\"n_layer\": 3, \"n_head\": 2}", "v_cfg/config.json: n_layer is 3 but"},
        {"{\"n_embd\": 32, \"n_head\": 2}", "n_embd is 32 but"},
        {"{\"n_positions\": 1024, \"n_head\": 2}", "n_positions is 1024 but"},
        {"{\"n_ctx\": 64, \"n_head\": 2}", "n_positions is 64 but"},
        {"{\"vocab_size\": 50257, \"n_head\": 2}", "vocab_size is 50257 but"},
        {"{\"n_head\": 3}", "n_embd 16 is not divisible by n_head 3"},
        {"{\"n_head\": 2, \"activation_function\": \"relu\"}", "activation_function 'relu' is not supported"},
        {"{\"n_head\": 2, \"layer_norm_epsilon\": 1e-6}", "layer_norm_epsilon must be 1e-5"},
        {"{\"n_head\": 2, \"model_type\": \"llama\"}", "model_type is 'llama', not gpt2"},
        {"{\"n_head\": 2, \"n_inner\": 100}", "n_inner 100 is not supported"},
        {"{\"n_head\": -2}", "n_head must be a positive integer"},
        {"{\"n_head\": 2, \"scale_attn_by_inverse_layer_idx\": true}", "scale_attn_by_inverse_layer_idx"},
        {"{\"n_head\": 2,}", "v_cfg/config.json: not valid JSON"},
        {"[1]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        write_config("v_cfg", cfgs[i].json);
        CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has(cfgs[i].err), "config %s", cfgs[i].json);
    }
    write_config("v_cfg", "{\"n_head\": 4, \"activation_function\": \"gelu\", \"n_inner\": null}");
    CHECK(ng_import_hf(p, &m, 0, -1) == 0 && m.args.n_head == 4 && m.args.gelu_tanh == 0, "config: n_head 4, exact gelu: %s", ng_errmsg());
    ng_model_free(&m);
    /* without config.json a non-standard width has no known n_head */
    unlink(tmp_path("v_cfg/config.json"));
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("cannot tell n_head for n_embd 16") && err_has("config.json"), "no config.json");
    /* truncated safetensors */
    size_t n;
    void *img = read_all(fx("model.safetensors"), &n);
    write_all(tmp_path("v_cfg/model.safetensors"), img, n - 10);
    free(img);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("v_cfg/model.safetensors: "), "truncated safetensors");
    write_all(tmp_path("v_cfg/model.safetensors"), "", 0);
    CHECK(ng_import_hf(p, &m, 0, -1) == -1 && err_has("too short"), "empty safetensors");
    CHECK(m.params == NULL && m.tensors == NULL, "failed imports leave the model empty");
}

static void test_cache_lookup(void) {
    NgModel m;
    char abs_fx[PATH_MAX], p[900];
    if (!realpath(fx(NULL), abs_fx)) { CHECK(0, "realpath"); return; }
    setenv("HF_HUB_CACHE", tmp_path("cacheA"), 1);
    setenv("HF_HOME", tmp_path("hfhome"), 1);
    setenv("XDG_CACHE_HOME", tmp_path("xdg"), 1);
    setenv("HOME", tmp_path("home"), 1);
    unsetenv("HUGGINGFACE_HUB_CACHE");
    CHECK(ng_import_hf("gpt2-medium", &m, 0, -1) == -1 && err_has("gpt2-medium: model.safetensors not found in the Hugging Face cache")
          && err_has("models--openai-community--gpt2-medium/snapshots/*/") && err_has("cacheA") && err_has("hfhome/hub")
          && err_has("home/.cache/huggingface/hub")
          && err_has("huggingface-cli download openai-community/gpt2-medium model.safetensors config.json")
          && err_has("https://huggingface.co/openai-community/gpt2-medium/resolve/main/model.safetensors"), "not cached");

    /* HF_HOME/hub/models--gpt2/snapshots/<hash>/ with symlinks (as the hub stores blobs) */
    snprintf(p, sizeof p, "%s", tmp_path("hfhome/hub/models--gpt2/snapshots/0123abcd"));
    ng_mkdir_p(p);
    char link[1000], target[PATH_MAX + 40];
    snprintf(link, sizeof link, "%s/model.safetensors", p);
    snprintf(target, sizeof target, "%s/model.safetensors", abs_fx);
    CHECK(symlink(target, link) == 0, "symlink");
    /* no config.json: gpt2's standard 12 heads do not divide this tiny model's 16 channels */
    CHECK(ng_import_hf("gpt2", &m, 0, -1) == -1 && err_has("n_embd 16 is not divisible by n_head 12"), "named: standard heads without config.json");
    snprintf(link, sizeof link, "%s/config.json", p);
    snprintf(target, sizeof target, "%s/config.json", abs_fx);
    CHECK(symlink(target, link) == 0, "symlink config");
    int rc = ng_import_hf("gpt2", &m, 0, -1);
    CHECK(rc == 0 && m.args.n_head == 2 && m.args.n_layer == 2, "found in HF_HOME/hub/models--gpt2: %s", ng_errmsg());
    if (rc == 0) ng_model_free(&m);

    /* HF_HUB_CACHE first; refs/main picks the snapshot */
    snprintf(p, sizeof p, "%s", tmp_path("cacheA/models--openai-community--gpt2/snapshots/aaaa"));
    ng_mkdir_p(p);   /* an empty snapshot that sorts first */
    snprintf(p, sizeof p, "%s", tmp_path("cacheA/models--openai-community--gpt2/snapshots/ffff"));
    ng_mkdir_p(p);
    snprintf(link, sizeof link, "%s/model.safetensors", p);
    copy_file(fx("model_bf16.safetensors"), link);
    snprintf(link, sizeof link, "%s/config.json", p);
    copy_file(fx("config.json"), link);
    ng_mkdir_p(tmp_path("cacheA/models--openai-community--gpt2/refs"));
    write_all(tmp_path("cacheA/models--openai-community--gpt2/refs/main"), "ffff\n", 5);
    NgModel bf;
    rc = ng_import_hf("gpt2", &m, 0, -1);
    CHECK(rc == 0 && ng_import_hf(fx("model_bf16.safetensors"), &bf, 0, -1) == 0 && same_params(&m, &bf), "HF_HUB_CACHE wins: %s", ng_errmsg());
    if (rc == 0) { ng_model_free(&m); ng_model_free(&bf); }
    unsetenv("HF_HUB_CACHE"); unsetenv("HF_HOME"); unsetenv("XDG_CACHE_HOME"); unsetenv("HOME");
    CHECK(ng_import_hf("gpt2-xl", &m, 0, -1) == -1 && err_has("none: HF_HUB_CACHE, HF_HOME and HOME are unset"), "no cache dirs");
}

/* the CLI: a checkpoint -> `nanogpt export` -> import */
static int run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void) {
    if (access("./nanogpt", X_OK) != 0) { printf("(./nanogpt not built: skipping the export command test)\n"); return; }
    NgModel m, m2;
    if (ng_import_hf(fx(NULL), &m, 0, -1) != 0) { CHECK(0, "import: %s", ng_errmsg()); return; }
    ng_mkdir_p(tmp_path("ck"));
    char ck[700], cmd[3000];
    snprintf(ck, sizeof ck, "%s/ckpt.safetensors", tmp_path("ck"));
    CHECK(ng_checkpoint_save(ck, &m, NULL, NULL, NULL) == 0, "checkpoint: %s", ng_errmsg());
    snprintf(cmd, sizeof cmd, "./nanogpt export --out_dir=%s --format=hf %s > %s 2>&1", tmp_path("ck"), tmp_path("cli_hf"), tmp_path("cli.log"));
    CHECK(run(cmd) == 0, "%s", cmd);
    CHECK(ng_import_hf(tmp_path("cli_hf"), &m2, 0, -1) == 0 && same_params(&m, &m2), "nanogpt export hf -> import: %s", ng_errmsg());
    ng_model_free(&m2);
    snprintf(cmd, sizeof cmd, "./nanogpt export --out_dir=%s --format=llmc %s > %s 2>&1", tmp_path("ck"), tmp_path("cli.bin"), tmp_path("cli.log"));
    CHECK(run(cmd) == 0, "%s", cmd);
    CHECK(ng_import_llmc(tmp_path("cli.bin"), &m2, 0) == 0 && same_params(&m, &m2), "nanogpt export llmc -> import: %s", ng_errmsg());
    ng_model_free(&m2);
    size_t n;
    snprintf(cmd, sizeof cmd, "./nanogpt export --out_dir=%s --format=onnx %s > %s 2>&1", tmp_path("ck"), tmp_path("x"), tmp_path("cli.log"));
    int rc = run(cmd);
    char *log = ng_read_file(tmp_path("cli.log"), &n);
    CHECK(rc == 1 && log && !strcmp(log, "nanogpt: --format: must be hf, llmc or lecture, got 'onnx'\n"), "bad format: %d %s", rc, log ? log : "");
    free(log);
    snprintf(cmd, sizeof cmd, "./nanogpt export --out_dir=%s > %s 2>&1", tmp_path("ck"), tmp_path("cli.log"));
    rc = run(cmd);
    log = ng_read_file(tmp_path("cli.log"), &n);
    CHECK(rc == 1 && log && strstr(log, "give the output PATH") && strchr(log, '\n') == log + n - 1, "no PATH: %d %s", rc, log ? log : "");
    free(log);
    snprintf(cmd, sizeof cmd, "./nanogpt export --out_dir=%s %s > %s 2>&1", tmp_path("nock"), tmp_path("y"), tmp_path("cli.log"));
    rc = run(cmd);
    log = ng_read_file(tmp_path("cli.log"), &n);
    CHECK(rc == 1 && log && strstr(log, "nock/ckpt.safetensors: cannot open"), "no checkpoint: %d %s", rc, log ? log : "");
    free(log);
    ng_model_free(&m);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ng_test_import.XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    load_expected();
    test_conversions();
    test_hf_f32();
    test_hf_16bit();
    test_crop();
    test_hf_roundtrip();
    test_llmc_roundtrip();
    test_hf_errors();
    test_cache_lookup();
    test_cli();
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(g_idx); free(g_prompt); free(g_greedy); free(g_logits); free(g_logits_f16); free(g_logits_bf16);
    TEST_END();
}
