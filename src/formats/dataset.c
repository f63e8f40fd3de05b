/* dataset.c -- nanoGPT's token files and get_batch.
 *
 * A token file (train.bin / val.bin) is nanoGPT's format: raw uint16 token ids, little-endian,
 * no header (np.array(ids, dtype=np.uint16).tofile(path)). We mmap it read-only, like
 * nanoGPT's np.memmap, so files larger than memory work; sizes are 64-bit throughout.
 *
 * llm.c's token shards (fineweb_train_000001.bin, ...) are accepted too: a header of 256
 * little-endian int32 {20240520, version 1, num_tokens, 0, ...} followed by num_tokens uint16
 * ids. A file is taken for a shard when it starts with that magic and the rest of the header
 * is zero (a raw file starting with those exact 512 token ids is not a realistic collision);
 * its version and size are then checked strictly.
 */
#define _FILE_OFFSET_BITS 64
#include "formats/dataset.h"
#include "base/util.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/fileguard.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "token files are little-endian uint16; this code reads them in place and needs a little-endian host"
#endif

/* ---------------------------------------------------------------------------------------
 * token files */

/* Largest token id in t[0..n): a branch-free max reduction, vectorised and threaded. */
static unsigned max_token(const uint16_t *t, size_t n) {
    unsigned mx = 0;
    #pragma omp parallel for reduction(max : mx) schedule(static)
    for (size_t i = 0; i < n; i++) mx = t[i] > mx ? t[i] : mx;
    return mx;
}

/* llm.c shard header: the magic, then zeros after {magic, version, num_tokens} */
#define SHARD_HEADER_INTS 256
static int is_shard_header(const int32_t *h) {
    if (h[0] != NG_LLMC_TOKENS_MAGIC) return 0;
    for (int i = 3; i < SHARD_HEADER_INTS; i++) if (h[i] != 0) return 0;
    return 1;
}

int ng_tokenfile_open(NgTokenFile *f, const char *path, int vocab_size, int block_size) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    if (vocab_size <= 0) return ng_fail("%s: vocab_size must be positive (got %d)", path, vocab_size);
    if (block_size <= 0) return ng_fail("%s: block_size must be positive (got %d)", path, block_size);

    NgFileMap fm;
    if (ng_file_map(&fm, path, MADV_SEQUENTIAL) != 0) return -1;
    size_t bytes = fm.size;
    int rc = 0;
    /* an llm.c shard? */
    size_t skip = 0;
    int32_t hdr[SHARD_HEADER_INTS];
    if (bytes >= sizeof hdr && (memcpy(hdr, fm.data, sizeof hdr), is_shard_header(hdr))) {
        uint64_t want = sizeof hdr + 2 * (uint64_t)(uint32_t)hdr[2];
        if (hdr[1] != 1)
            rc = ng_fail("%s: llm.c token shard version %d is not supported (only version 1, uint16 tokens)", path, hdr[1]);
        else if (hdr[2] < 0 || (uint64_t)bytes != want)
            rc = ng_fail("%s: llm.c token shard header says %d tokens (%llu bytes) but the file has %zu bytes%s", path,
                         hdr[2], (unsigned long long)want, bytes, (uint64_t)bytes < want ? " (truncated?)" : "");
        skip = sizeof hdr;
    }
    size_t n = (bytes - skip) / 2, need = (size_t)block_size + 1;
    if (rc == 0 && (bytes - skip) % 2 != 0) rc = ng_fail("%s: odd byte count %zu (a token file is raw uint16 token ids)", path, bytes);
    else if (rc == 0 && n < need) rc = ng_fail("%s: has %zu tokens, needs at least block_size+1 = %zu", path, n, need);
    if (rc != 0) { ng_file_unmap(&fm); return -1; }
    void *map = fm.data;
    const uint16_t *t = (const uint16_t *)((const char *)map + skip);

    /* validate every id once, so training never indexes the embedding out of bounds */
    if (vocab_size < 65536 && max_token(t, n) >= (unsigned)vocab_size) {
        size_t p = 0;
        while (t[p] < vocab_size) p++;
        unsigned bad = t[p];
        ng_file_unmap(&fm);
        return ng_fail("%s: token id %u at position %zu is >= vocab_size %d", path, bad, p, vocab_size);
    }
    madvise(map, bytes, MADV_RANDOM);   /* get_batch reads random windows */
    f->map = map;
    f->map_size = bytes;
    f->tokens = t;
    f->n_tokens = n;
    return 0;
}

void ng_tokenfile_close(NgTokenFile *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

/* Uniform integer in [0, n), n >= 1, without modulo bias: reject the lowest (2^64 mod n)
 * values of the 64-bit draw so the remaining range is a whole multiple of n. */
static uint64_t rng_below(NgRng *rng, uint64_t n) {
    uint64_t threshold = (0 - n) % n;   /* = 2^64 mod n */
    for (;;) {
        uint64_t r = ng_rng_u64(rng);
        if (r >= threshold) return r % n;
    }
}

/* nanoGPT:
 *   ix = torch.randint(len(data) - block_size, (batch_size,))
 *   x = torch.stack([data[i:i+block_size] for i in ix])
 *   y = torch.stack([data[i+1:i+1+block_size] for i in ix])
 * so each window start i is uniform in [0, n_tokens - T). */
int ng_get_batch(const NgTokenFile *f, NgRng *rng, int B, int T, int *x, int *y) {
    if (T <= 0 || f->n_tokens <= (size_t)T)   /* ng_tokenfile_open checks n_tokens > block_size */
        return ng_fail("%s: %zu tokens, too few for a batch of block_size %d", f->path, f->n_tokens, T);
    uint64_t range = (uint64_t)(f->n_tokens - (size_t)T);
    for (int b = 0; b < B; b++) {
        const uint16_t *w = f->tokens + rng_below(rng, range);
        int *xb = x + (size_t)b * T, *yb = y + (size_t)b * T;
        for (int t = 0; t < T; t++) { xb[t] = w[t]; yb[t] = w[t + 1]; }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * a dataset directory written by prepare (app/prepare_*.c) */

int ng_dataset_writer_open(NgDatasetWriter *w, const char *out_dir) {
    memset(w, 0, sizeof *w);
    w->lock = -1;
    if (snprintf(w->dir, sizeof w->dir, "%s", out_dir) >= (int)sizeof w->dir) return ng_fail("%s: path too long", out_dir);
    if (ng_mkdir_p(out_dir) != 0) return -1;
    if ((w->lock = ng_dir_lock(out_dir, "prepare")) < 0) return -1;
    static const char *const tmps[] = {"train.bin.tmp.", "val.bin.tmp.", "meta.json.tmp."};
    for (size_t i = 0; i < sizeof tmps / sizeof tmps[0]; i++) ng_remove_dead_tmp(out_dir, tmps[i]);
    static const char *const names[2] = {"train.bin", "val.bin"};
    for (int k = 0; k < 2; k++) {
        char path[NG_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", out_dir, names[k]) >= (int)sizeof path) return ng_fail("%s: path too long", out_dir);
        if (ng_atomic_open(&w->bin[k], path) != 0) return -1;
        w->hash[k] = ng_bin_hash_init();
    }
    return 0;
}

/* the buffered ids of one file written and hashed (whole buffers: multiples of 8 bytes) */
static int writer_flush(NgDatasetWriter *w, int k) {
    size_t bytes = w->nbuf[k] * sizeof w->buf[k][0];
    if (bytes && ng_atomic_write(&w->bin[k], w->buf[k], bytes) != 0) return -1;
    w->hash[k] = ng_bin_hash_update(w->hash[k], w->buf[k], bytes);
    w->nbuf[k] = 0;
    return 0;
}

int ng_dataset_append(NgDatasetWriter *w, int split, const int *ids, size_t n) {
    const size_t cap = sizeof w->buf[0] / sizeof w->buf[0][0];
    for (size_t i = 0; i < n; i++) {
        if (w->nbuf[split] == cap && writer_flush(w, split) != 0) return -1;
        w->buf[split][w->nbuf[split]++] = (uint16_t)ids[i];   /* little-endian host (checked above) */
    }
    w->n_tokens[split] += n;
    return 0;
}

int ng_dataset_append_u16(NgDatasetWriter *w, int split, const uint16_t *ids, size_t n) {
    const size_t cap = sizeof w->buf[0] / sizeof w->buf[0][0];
    for (size_t i = 0; i < n;) {
        if (w->nbuf[split] == cap && writer_flush(w, split) != 0) return -1;
        size_t take = cap - w->nbuf[split] < n - i ? cap - w->nbuf[split] : n - i;
        memcpy(w->buf[split] + w->nbuf[split], ids + i, take * sizeof *ids);
        w->nbuf[split] += take;
        i += take;
    }
    w->n_tokens[split] += n;
    return 0;
}

int ng_dataset_commit(NgDatasetWriter *w, const char *tok_json) {
    /* train.bin and val.bin complete (written, fsynced, closed), with their records */
    NgFileRecord rec[2];
    for (int k = 0; k < 2; k++) {
        if (writer_flush(w, k) != 0 || ng_atomic_finish(&w->bin[k]) != 0) return -1;
        rec[k].bytes = w->n_tokens[k] * sizeof(uint16_t);
        rec[k].hash = ng_bin_hash_final(w->hash[k], rec[k].bytes);
    }
    /* meta.json = the tokenizer's object with the files record added, complete too */
    char path[NG_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/meta.json", w->dir) >= (int)sizeof path) return ng_fail("%s: path too long", w->dir);
    const char *close = strrchr(tok_json, '}');
    if (!close) return ng_fail("%s: internal: the tokenizer's JSON is not an object", path);
    NgStr s = {0};
    ng_str_append(&s, tok_json, (size_t)(close - tok_json));
    ng_str_printf(&s, ", ");
    ng_files_record_json(&s, &rec[0], &rec[1]);
    ng_str_printf(&s, "}\n");
    size_t len;
    char *json = ng_str_take(&s, &len);
    if (!json) return -1;
    NgAtomicFile meta;
    int rc = ng_atomic_open(&meta, path);
    if (rc == 0) rc = ng_atomic_write(&meta, json, len);
    if (rc == 0) rc = ng_atomic_finish(&meta);
    free(json);
    if (rc != 0) return -1;
    /* only now: all three into place */
    if (ng_atomic_commit(&meta) != 0) return -1;
    for (int k = 0; k < 2; k++) if (ng_atomic_commit(&w->bin[k]) != 0) return -1;
    return 0;
}

void ng_dataset_writer_close(NgDatasetWriter *w) {
    for (int k = 0; k < 2; k++) ng_atomic_abort(&w->bin[k]);
    ng_dir_unlock(w->lock);
    w->lock = -1;
}

/* ---------------------------------------------------------------------------------------
 * what meta.json records of the .bin files (formats.h) */

uint64_t ng_bin_hash_init(void) { return 0xcbf29ce484222325ull; }

/* 8-byte little-endian words, each xor-ed in and mixed (multiply, rotate): memory speed */
uint64_t ng_bin_hash_update(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(&w, p + i, k);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

uint64_t ng_bin_hash_final(uint64_t h, uint64_t total) { return ng_hash64(h ^ total); }

void ng_files_record_json(NgStr *s, const NgFileRecord *train, const NgFileRecord *val) {
    ng_str_printf(s, "\"files\": {\"train.bin\": {\"bytes\": %llu, \"hash\": \"%016llx\"}, "
                     "\"val.bin\": {\"bytes\": %llu, \"hash\": \"%016llx\"}}",
                  (unsigned long long)train->bytes, (unsigned long long)train->hash,
                  (unsigned long long)val->bytes, (unsigned long long)val->hash);
}

int ng_tokenfile_check_record(const NgTokenFile *f, const char *meta_path, const char *name) {
    size_t n;
    char *text = ng_read_file(meta_path, &n);
    if (!text) return -1;
    char err[256];
    JsonValue *root = ng_json_parse(text, n, err, sizeof err);
    free(text);
    if (!root) return ng_fail("%s: not valid JSON: %s", meta_path, err);
    int rc = 0;
    const JsonValue *files = root->type == JSON_OBJECT ? ng_json_get(root, "files") : NULL;
    const JsonValue *rec = files && files->type == JSON_OBJECT ? ng_json_get(files, name) : NULL;
    if (files && (!rec || rec->type != JSON_OBJECT)) rc = ng_fail("%s: files has no record of %s", meta_path, name);
    else if (rec) {
        const JsonValue *b = ng_json_get(rec, "bytes"), *h = ng_json_get(rec, "hash");
        char *end = NULL;
        unsigned long long want_hash = h && h->type == JSON_STRING ? strtoull(h->string, &end, 16) : 0;
        if (!b || b->type != JSON_NUMBER || !b->is_integer || !end || *end || h->string_len != 16)
            rc = ng_fail("%s: the record of %s needs an integer \"bytes\" and a 16-digit hex \"hash\"", meta_path, name);
        else if ((uint64_t)b->integer != (uint64_t)f->map_size)
            rc = ng_fail("%s: has %zu bytes but %s records %lld: the dataset was replaced only in part (an interrupted "
                         "prepare?); run prepare again", f->path, f->map_size, meta_path, (long long)b->integer);
        else {
            uint64_t got = ng_bin_hash_final(ng_bin_hash_update(ng_bin_hash_init(), f->map, f->map_size), f->map_size);
            if (got != (uint64_t)want_hash)
                rc = ng_fail("%s: its contents differ from what %s records (hash %016llx, recorded %s): the dataset was "
                             "replaced only in part (an interrupted prepare?); run prepare again", f->path, meta_path,
                             (unsigned long long)got, h->string);
        }
    }
    ng_json_free(root);
    return rc;
}
