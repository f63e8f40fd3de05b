/* llmc.c -- llm.c's model files in and out.
 *
 * llm.c's model file (karpathy/llm.c, train_gpt2.c / train_gpt2.py write_model): a header of
 * 256 little-endian int32 {20240326, version, max_seq_len, vocab_size, num_layers, num_heads,
 * channels, padded_vocab_size, 0...}, then the 16 parameter tensors back to back, each holding
 * every layer: wte (Vp,C) whose rows past vocab_size are padding, wpe (maxT,C), ln1w (L,C),
 * ln1b (L,C), qkvw (L,3C,C), qkvb (L,3C), attprojw (L,C,C), attprojb (L,C), ln2w (L,C),
 * ln2b (L,C), fcw (L,4C,C), fcb (L,4C), fcprojw (L,C,4C), fcprojb (L,C), lnfw (C), lnfb (C).
 * Matrices are in nn.Linear's [out, in] layout, like ours. Version 3 stores float32, version 5
 * bfloat16.
 */
#define _FILE_OFFSET_BITS 64
#include "persistence/import.h"
#include "formats/safetensors.h"
#include "formats/dataset.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/json.h"
#include "base/util.h"
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
            ng_dtype_to_f32(llmc_view(m, k, l), p, esize == 4 ? NG_F32 : NG_BF16, (size_t)mn);
            p += fn * esize;
        }
    }
    return 0;
}

int ng_import_llmc(const char *path, NgModel *m, int block_size) {
    memset(m, 0, sizeof *m);
    NgFileMap mf;
    if (ng_file_map(&mf, path, MADV_SEQUENTIAL) != 0) return -1;
    int rc = ng_llmc_parse(mf.data, mf.size, path, m, block_size);
    ng_file_unmap(&mf);
    return rc;
}

int ng_export_llmc(const NgModel *m, const char *path) {
    const NgModelArgs *a = &m->args;
    if (ng_gpt2_architecture(m, path, "to llm.c") != 0) return -1;
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
    NgAtomicFile f;
    if (ng_atomic_open(&f, path) != 0) return -1;
    static const float zeros[1024];
    int rc = ng_atomic_write(&f, header, sizeof header);
    uint64_t fn, mn, C = (uint64_t)a->n_embd, T = (uint64_t)a->block_size;
    for (int k = 0; k < 16 && rc == 0; k++) {
        llmc_sizes(llmc_order[k].size, C, (uint64_t)Vp, (uint64_t)a->vocab_size, T, T, &fn, &mn);
        for (int l = 0; l < (llmc_order[k].per_layer ? a->n_layer : 1) && rc == 0; l++) {
            const float *v = llmc_view(m, k, l);
            uint64_t done = 0;
            if (v) { rc = ng_atomic_write(&f, v, (size_t)mn * sizeof(float)); done = mn; }   /* NULL: no bias */
            for (; rc == 0 && done < fn; done += 1024) {                                  /* padding, zero biases */
                uint64_t n = fn - done < 1024 ? fn - done : 1024;
                rc = ng_atomic_write(&f, zeros, (size_t)n * sizeof(float));
            }
        }
    }
    if (rc == 0) rc = ng_atomic_commit(&f);          /* (a failed write has removed the temporary file) */
    if (rc != 0) return -1;
    if (!a->bias)
        fprintf(stderr, "nanogpt: note: %s: the model has no biases (bias=False); llm.c always has them, so zero biases "
                        "were written (an equivalent model)\n", path);
    if (!a->gelu_tanh)
        fprintf(stderr, "nanogpt: note: %s: the model was trained with the exact (erf) GELU but llm.c uses the tanh "
                        "approximation: its outputs will differ slightly\n", path);
    return 0;
}

static int has_magic(const char *path, int32_t want) {
    FILE *f = ng_fopen_regular(path);              /* never blocks on a FIFO */
    if (!f) return 0;
    int32_t magic = 0;
    int ok = fread(&magic, sizeof magic, 1, f) == 1 && magic == want;
    fclose(f);
    return ok;
}
int ng_llmc_is_model_file(const char *path) { return has_magic(path, NG_LLMC_MODEL_MAGIC); }
int ng_llmc_is_token_shard(const char *path) { return has_magic(path, NG_LLMC_TOKENS_MAGIC); }
