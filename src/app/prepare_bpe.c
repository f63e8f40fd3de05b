/* prepare_bpe.c -- `prepare --tokenizer=gpt2`: nanoGPT's data/shakespeare/prepare.py for any
 * size of input:
 *
 *   n = len(data); train_data = data[:int(n*0.9)]; val_data = data[int(n*0.9):]
 *   train_ids = enc.encode_ordinary(train_data); val_ids = enc.encode_ordinary(val_data)
 *   -> train.bin, val.bin (uint16)
 *
 * The input is streamed and never held whole in memory:
 *   pass 1 reads it once to check that it is UTF-8 and to count its characters (code points,
 *          as Python's len(str)), which fixes the split: train is the first int(n*0.9);
 *   pass 2 reads it again in chunks of about chunk_bytes. A chunk is cut only at a safe point
 *          (ng_bpe_safe_cut: encoding the two sides apart gives the same ids as encoding the
 *          whole; the argument is in bpe.c), and the cut is the end of train exactly where
 *          train ends (nanoGPT encodes the two parts separately). Each chunk is split again at
 *          safe points into one piece per thread, the pieces are encoded in parallel, and the
 *          ids are appended to train.bin/val.bin in order (written to NAME.tmp.PID, then renamed).
 * Only a text with no safe point for a whole chunk (no "x y" nor "x\ny" anywhere in 16 MiB)
 * makes the chunk grow.
 */
#define _FILE_OFFSET_BITS 64
#include "formats/bpe.h"
#include "base/utf8.h"
#include "base/util.h"
#include "base/lock.h"
#include "base/fileguard.h"
#include "formats/dataset.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CHUNK (16u << 20)

typedef struct {
    char path[1100], tmp[1100];
    FILE *f;
    uint64_t n_tokens;
    uint64_t hash;                   /* of the bytes written so far (meta.json's record) */
    uint16_t buf[1 << 15];
    size_t nbuf;
} TokenOut;

static int out_open(TokenOut *o, const char *dir, const char *name) {
    memset(o, 0, sizeof *o);
    if (snprintf(o->path, sizeof o->path, "%s/%s", dir, name) >= (int)sizeof o->path ||
        snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%d", o->path, (int)getpid()) >= (int)sizeof o->tmp)
        return ng_fail("%s: path too long", dir);
    o->hash = ng_bin_hash_init();
    o->f = fopen(o->tmp, "wb");
    if (!o->f) return ng_fail("%s: cannot create: %s", o->tmp, strerror(errno));
    return 0;
}

static int out_flush(TokenOut *o) {
    if (o->nbuf && fwrite(o->buf, sizeof o->buf[0], o->nbuf, o->f) != o->nbuf)
        return ng_fail("%s: write failed: %s", o->tmp, strerror(errno));
    o->hash = ng_bin_hash_update(o->hash, o->buf, o->nbuf * sizeof o->buf[0]);   /* whole buffers: multiples of 8 bytes */
    o->nbuf = 0;
    return 0;
}

static int out_write(TokenOut *o, const int *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (o->nbuf == sizeof o->buf / sizeof o->buf[0] && out_flush(o) != 0) return -1;
        uint16_t v = (uint16_t)ids[i];
        unsigned char *le = (unsigned char *)&o->buf[o->nbuf++];   /* little-endian on any host */
        le[0] = (unsigned char)(v & 0xFF);
        le[1] = (unsigned char)(v >> 8);
    }
    o->n_tokens += n;
    return 0;
}

/* flush, fsync, close: the record of the finished file */
static int out_finish(TokenOut *o, NgFileRecord *rec) {
    if (out_flush(o) != 0) return -1;
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0) return ng_fail("%s: write failed: %s", o->tmp, strerror(errno));
    int rc = fclose(o->f);
    o->f = NULL;
    if (rc != 0) return ng_fail("%s: close failed: %s", o->tmp, strerror(errno));
    rec->bytes = o->n_tokens * 2;
    rec->hash = ng_bin_hash_final(o->hash, rec->bytes);
    return 0;
}

/* the finished temporary over the final name */
static int out_commit(TokenOut *o) {
    if (rename(o->tmp, o->path) != 0) return ng_fail("%s: rename failed: %s", o->path, strerror(errno));
    o->tmp[0] = 0;
    return 0;
}

static void out_abort(TokenOut *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) unlink(o->tmp);
    o->tmp[0] = 0;
}

/* Pass 1: number of code points; error (naming the byte) on invalid UTF-8. */
static int64_t count_chars(FILE *f, const char *path, uint64_t *n_bytes) {
    enum { BLOCK = 1 << 20 };
    unsigned char *buf = ng_malloc(BLOCK + 4, "read buffer");
    if (!buf) return -1;
    int64_t chars = 0;
    uint64_t pos = 0;                                    /* file offset of buf[0] */
    size_t keep = 0;                                     /* bytes of an incomplete character carried over */
    for (;;) {
        size_t got = fread(buf + keep, 1, BLOCK, f);
        if (ferror(f)) { free(buf); ng_fail("%s: read failed: %s", path, strerror(errno)); return -1; }
        size_t n = keep + got, i = 0;
        int eof = got == 0;
        while (i < n) {
            if (i + 8 <= n) {                            /* 8 ASCII bytes at a time */
                uint64_t w;
                memcpy(&w, buf + i, 8);
                if (!(w & 0x8080808080808080ull)) { i += 8; chars += 8; continue; }
            }
            if (buf[i] < 0x80) { i++; chars++; continue; }
            uint32_t cp;
            const char *why;
            int len = ng_utf8_decode(buf + i, n - i, &cp, &why);
            if (!len) {
                if (!eof && n - i < 4 && strcmp(why, "truncated sequence") == 0) break;   /* needs the next block */
                free(buf);
                ng_fail("%s: not valid UTF-8 at byte %llu (%s)", path, (unsigned long long)(pos + i), why);
                return -1;
            }
            i += (size_t)len;
            chars++;
        }
        if (eof) { *n_bytes = pos + n; break; }
        keep = n - i;
        memmove(buf, buf + i, keep);
        pos += i;
    }
    free(buf);
    return chars;
}

/* offset of the (want+1)-th character of s[0..n) (s valid UTF-8), or n if it has <= want */
static size_t skip_chars(const unsigned char *s, size_t n, uint64_t want) {
    size_t i = 0;
    for (uint64_t c = 0; i < n; i++) {
        if ((s[i] & 0xC0) == 0x80) continue;
        if (c++ == want) return i;
    }
    return n;
}

static uint64_t count_starts(const unsigned char *s, size_t n) {
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++) c += (s[i] & 0xC0) != 0x80;
    return c;
}

typedef struct {
    const NgBpe *bpe;
    NgBpeEncoder **enc;              /* one per thread */
    int threads;
} Workers;

/* Encodes s[0..n) (cut at safe points into one part per thread) and appends the ids to o. */
static int encode_and_write(Workers *w, const char *s, size_t n, TokenOut *o) {
    enum { MAXT = 256 };
    size_t cut[MAXT + 1];
    int parts = 1;
    cut[0] = 0;
    if (w->threads > 1 && n >= (size_t)w->threads * 65536) {
        for (int k = 1; k < w->threads; k++) {
            size_t target = n / (size_t)w->threads * (size_t)k;
            size_t c = target > cut[parts - 1] ? ng_bpe_safe_cut(w->bpe, s + cut[parts - 1], target - cut[parts - 1]) : 0;
            if (c) { cut[parts] = cut[parts - 1] + c; parts++; }
        }
    }
    cut[parts] = n;
    int failed = 0;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(w->threads) if (parts > 1)
    for (int k = 0; k < parts; k++) {
        NgBpeEncoder *e = w->enc[k];
        ng_bpe_encoder_reset(e);
        if (ng_bpe_encoder_run(e, s + cut[k], cut[k + 1] - cut[k], 0, NULL, NULL) != 0) {
            #pragma omp atomic write
            failed = 1;
        }
    }
    if (failed) return -1;
    for (int k = 0; k < parts; k++) {
        const int *ids;
        size_t m;
        ng_bpe_encoder_run(w->enc[k], "", 0, 0, &ids, &m);   /* fetch the output */
        if (out_write(o, ids, m) != 0) return -1;
    }
    return 0;
}

static void progress(int verbose, double t0, double *last, uint64_t done, uint64_t total, int final) {
    if (!verbose) return;
    double now = ng_now();
    if (!final && now - *last < 1.0) return;
    if (final && *last == t0) return;                    /* a short run: no progress lines */
    *last = now;
    double mb = (double)done / 1e6, mbs = mb / (now - t0 > 1e-9 ? now - t0 : 1e-9);
    fprintf(stderr, "prepare: %.1f / %.1f MB (%.0f%%), %.1f MB/s%s", mb, (double)total / 1e6,
            total ? 100.0 * (double)done / (double)total : 100.0, mbs, isatty(2) && !final ? "\r" : "\n");
    fflush(stderr);
}

/* with_commas as in dataset.c: 301966 -> "301,966" */
static const char *commas(uint64_t n, char *buf, size_t size) {
    char d[32];
    int len = snprintf(d, sizeof d, "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = 0;
    return buf;
}

int ng_prepare_gpt2(const char *input_path, const char *out_dir, int verbose, size_t chunk_bytes) {
    if (chunk_bytes == 0) chunk_bytes = DEFAULT_CHUNK;
    if (chunk_bytes < 64) chunk_bytes = 64;
    FILE *f = ng_fopen_regular(input_path);
    if (!f) return -1;

    int rc = -1, lock = -1;
    NgBpe *bpe = NULL;
    char *buf = NULL;
    TokenOut out[2];
    memset(out, 0, sizeof out);
    Workers w = {0};
    char c1[32], c2[32];

    uint64_t n_bytes = 0;
    int64_t n_chars = count_chars(f, input_path, &n_bytes);
    if (n_chars < 0) goto done;
    if (n_chars == 0) { ng_fail("%s: empty file, nothing to prepare", input_path); goto done; }
    uint64_t n_train = (uint64_t)((double)n_chars * 0.9);   /* Python: int(n * 0.9) */
    if (verbose) { printf("length of dataset in characters: %s\n", commas((uint64_t)n_chars, c1, sizeof c1)); fflush(stdout); }
    if (fseeko(f, 0, SEEK_SET) != 0) { ng_fail("%s: cannot seek: %s", input_path, strerror(errno)); goto done; }

    if (!(bpe = ng_bpe_load_gpt2())) goto done;
    w.bpe = bpe;
    w.threads = ng_get_threads();
    if (w.threads < 1) w.threads = 1;
    if (w.threads > 256) w.threads = 256;
    if (!(w.enc = ng_calloc((size_t)w.threads, sizeof *w.enc, "encoders"))) goto done;
    for (int k = 0; k < w.threads; k++) if (!(w.enc[k] = ng_bpe_encoder_new(bpe))) goto done;

    if ((lock = ng_dataset_begin(out_dir)) < 0) goto done;
    if (out_open(&out[0], out_dir, "train.bin") != 0 || out_open(&out[1], out_dir, "val.bin") != 0) goto done;

    size_t cap = chunk_bytes, len = 0;
    if (!(buf = ng_malloc(cap, "chunk buffer"))) goto done;
    uint64_t chars_done = 0, bytes_done = 0;             /* of the text handed to the encoder */
    int seg = 0, eof = 0;
    double t0 = ng_now(), last = t0;
    for (;;) {
        if (!eof && len < cap) {
            size_t got = fread(buf + len, 1, cap - len, f);
            if (ferror(f)) { ng_fail("%s: read failed: %s", input_path, strerror(errno)); goto done; }
            if (got == 0) eof = 1;
            len += got;
        }
        size_t take;
        int end_of_part = 0;
        if (seg == 0 && chars_done + count_starts((unsigned char *)buf, len) > n_train) {
            take = skip_chars((unsigned char *)buf, len, n_train - chars_done);   /* train ends here */
            end_of_part = 1;
        } else if (eof) {
            take = len;
            end_of_part = 1;
        } else if (len < cap) {
            continue;                                    /* fill the buffer first */
        } else if (!(take = ng_bpe_safe_cut(bpe, buf, len))) {
            char *bigger = realloc(buf, cap * 2);        /* no safe point in a whole chunk: grow */
            if (!bigger) { ng_fail("out of memory: no safe point to cut the text in %zu bytes", cap); goto done; }
            buf = bigger; cap *= 2;
            continue;
        }
        if (encode_and_write(&w, buf, take, &out[seg]) != 0) goto done;
        chars_done += count_starts((unsigned char *)buf, take);
        bytes_done += take;
        memmove(buf, buf + take, len - take);
        len -= take;
        progress(verbose, t0, &last, bytes_done, n_bytes, 0);
        if (end_of_part) {
            if (seg == 1) break;
            seg = 1;
            if (eof && len == 0) break;                  /* val is empty */
        }
    }
    progress(verbose, t0, &last, bytes_done, n_bytes, 1);
    if (verbose) {
        printf("train has %s tokens\n", commas(out[0].n_tokens, c1, sizeof c1));
        printf("val has %s tokens\n", commas(out[1].n_tokens, c2, sizeof c2));
        fflush(stdout);
    }
    /* meta.json (the records of the new files) first, then the files: see ng_prepare_char */
    NgFileRecord rec[2];
    if (out_finish(&out[0], &rec[0]) != 0 || out_finish(&out[1], &rec[1]) != 0) goto done;
    char json[96];
    snprintf(json, sizeof json, "{\"tokenizer\": \"gpt2\", \"vocab_size\": %d}", NG_GPT2_VOCAB);
    if (ng_dataset_write_meta(out_dir, json, &rec[0], &rec[1]) != 0) goto done;
    if (out_commit(&out[0]) != 0 || out_commit(&out[1]) != 0) goto done;
    rc = 0;
done:
    ng_dir_unlock(lock);
    out_abort(&out[0]);
    out_abort(&out[1]);
    if (w.enc) for (int k = 0; k < w.threads; k++) ng_bpe_encoder_free(w.enc[k]);
    free(w.enc);
    free(buf);
    ng_bpe_free(bpe);
    fclose(f);
    return rc;
}
