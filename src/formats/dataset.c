/* dataset.c -- nanoGPT's token files, get_batch, and the `prepare` step for shakespeare_char.
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
#include "formats/chartok.h"
#include "base/utf8.h"
#include "formats/dataset.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
 * prepare (data/shakespeare_char/prepare.py) */

/* 1115394 -> "1,115,394" (Python's f"{n:,}") */
static const char *with_commas(size_t n, char *buf, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static int write_tokens(const char *dir, const char *file, const uint16_t *ids, size_t n) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return ng_fail("%s: path too long", dir);
    return ng_write_file_atomic(path, ids, n * sizeof(uint16_t));
}

int ng_prepare_char(const char *input_path, const char *out_dir, int verbose) {
    size_t n_bytes;
    char *text = ng_read_file(input_path, &n_bytes);
    if (!text) return -1;
    if (n_bytes == 0) { free(text); return ng_fail("%s: empty file, nothing to prepare", input_path); }

    NgCharTokenizer tok;
    uint16_t *ids = NULL;
    size_t n = 0;
    int rc = -1;
    char c1[32], c2[32];
    if (ng_chartok_build(&tok, text, n_bytes, input_path) != 0) { free(text); return -1; }
    if (tok.vocab_size > 65536) {
        ng_fail("%s: %d distinct characters, more than the 65536 that uint16 token ids can hold",
                input_path, tok.vocab_size);
        goto done;
    }
    if (ng_chartok_encode_u16(&tok, text, n_bytes, &ids, &n) != 0) goto done;

    if (verbose) {
        printf("length of dataset in characters: %s\n", with_commas(n, c1, sizeof c1));
        printf("all the unique characters: ");
        for (int i = 0; i < tok.vocab_size; i++) {
            const char *s = tok.itos[i];
            fwrite(s, 1, tok.cps[i] == 0 ? 1 : strlen(s), stdout);
        }
        printf("\nvocab size: %s\n", with_commas((size_t)tok.vocab_size, c1, sizeof c1));
    }

    /* split by characters, like slicing the Python str: train = data[:int(n*0.9)] */
    size_t n_train = (size_t)((double)n * 0.9);
    size_t n_val = n - n_train;
    if (verbose) {
        printf("train has %s tokens\n", with_commas(n_train, c1, sizeof c1));
        printf("val has %s tokens\n", with_commas(n_val, c2, sizeof c2));
        fflush(stdout);
    }

    char meta[1024];
    if (snprintf(meta, sizeof meta, "%s/meta.json", out_dir) >= (int)sizeof meta) { ng_fail("%s: path too long", out_dir); goto done; }
    if (ng_mkdir_p(out_dir) != 0) goto done;
    if (write_tokens(out_dir, "train.bin", ids, n_train) != 0) goto done;
    if (write_tokens(out_dir, "val.bin", ids + n_train, n_val) != 0) goto done;
    if (ng_chartok_save_meta(&tok, meta) != 0) goto done;
    rc = 0;
done:
    free(ids);
    free(text);
    ng_chartok_free(&tok);
    return rc;
}
