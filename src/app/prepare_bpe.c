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
 *          ids are appended to train.bin/val.bin in order (written to NAME.tmp.PID);
 *   then meta.json, and only when all three files are complete are they renamed into place
 *          (NgDatasetWriter, formats/dataset.c), so a failed or killed prepare leaves the
 *          previous dataset as it was.
 * Only a text with no safe point for a whole chunk (no "x y" nor "x\ny" anywhere in 16 MiB)
 * makes the chunk grow.
 */
#define _FILE_OFFSET_BITS 64
#include "formats/bpe.h"
#include "base/utf8.h"
#include "base/util.h"
#include "base/fileguard.h"
#include "formats/dataset.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CHUNK (16u << 20)

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

/* Encodes s[0..n) (cut at safe points into one part per thread) and appends the ids to
 * split (0 train.bin, 1 val.bin) of out. */
static int encode_and_write(Workers *w, const char *s, size_t n, NgDatasetWriter *out, int split) {
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
        if (ng_dataset_append(out, split, ids, m) != 0) return -1;
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

/* ---------------------------------------------------------------------------------------
 * the steps of ng_prepare_gpt2, sharing one Prep */

typedef struct {
    const char *input_path;
    FILE *f;
    uint64_t n_bytes, n_train;       /* of the input: bytes; train = the first n_train characters */
    NgBpe *bpe;
    Workers w;
    NgDatasetWriter out;             /* train.bin, val.bin, meta.json */
    char *buf;                       /* the chunk being encoded */
    size_t cap;
} Prep;

/* pass 1: the text is UTF-8; the split: train = data[:int(n*0.9)] (n in characters) */
static int find_split(Prep *p, int verbose) {
    char c1[32];
    int64_t n_chars = count_chars(p->f, p->input_path, &p->n_bytes);
    if (n_chars < 0) return -1;
    if (n_chars == 0) return ng_fail("%s: empty file, nothing to prepare", p->input_path);
    p->n_train = (uint64_t)((double)n_chars * 0.9);   /* Python: int(n * 0.9) */
    if (verbose) { printf("length of dataset in characters: %s\n", ng_with_commas((uint64_t)n_chars, c1, sizeof c1)); fflush(stdout); }
    if (fseeko(p->f, 0, SEEK_SET) != 0) return ng_fail("%s: cannot seek: %s", p->input_path, strerror(errno));
    return 0;
}

/* enc = tiktoken.get_encoding("gpt2"), with one encoder per thread */
static int open_workers(Prep *p) {
    Workers *w = &p->w;
    if (!(p->bpe = ng_bpe_load_gpt2())) return -1;
    w->bpe = p->bpe;
    w->threads = ng_get_threads();
    if (w->threads < 1) w->threads = 1;
    if (w->threads > 256) w->threads = 256;
    if (!(w->enc = ng_calloc((size_t)w->threads, sizeof *w->enc, "encoders"))) return -1;
    for (int k = 0; k < w->threads; k++) if (!(w->enc[k] = ng_bpe_encoder_new(p->bpe))) return -1;
    return 0;
}

static void close_workers(Workers *w) {
    if (w->enc) for (int k = 0; k < w->threads; k++) ng_bpe_encoder_free(w->enc[k]);
    free(w->enc);
    w->enc = NULL;
}

/* pass 2: train_ids = enc.encode_ordinary(train_data), then val's, chunk by chunk, each chunk
 * cut at a safe point (or where train ends) and appended to train.bin / val.bin */
static int encode_stream(Prep *p, size_t chunk_bytes, int verbose) {
    p->cap = chunk_bytes;
    if (!(p->buf = ng_malloc(p->cap, "chunk buffer"))) return -1;
    size_t len = 0;
    uint64_t chars_done = 0, bytes_done = 0;             /* of the text handed to the encoder */
    int seg = 0, eof = 0;
    double t0 = ng_now(), last = t0;
    for (;;) {
        if (!eof && len < p->cap) {
            size_t got = fread(p->buf + len, 1, p->cap - len, p->f);
            if (ferror(p->f)) return ng_fail("%s: read failed: %s", p->input_path, strerror(errno));
            if (got == 0) eof = 1;
            len += got;
        }
        unsigned char *text = (unsigned char *)p->buf;
        size_t take;
        int end_of_part = 0;
        if (seg == 0 && chars_done + count_starts(text, len) > p->n_train) {
            take = skip_chars(text, len, p->n_train - chars_done);   /* train ends here */
            end_of_part = 1;
        } else if (eof) {
            take = len;
            end_of_part = 1;
        } else if (len < p->cap) {
            continue;                                    /* fill the buffer first */
        } else if (!(take = ng_bpe_safe_cut(p->bpe, p->buf, len))) {
            /* no safe point in a whole chunk: twice the buffer */
            if (ng_grow((void **)&p->buf, &p->cap, p->cap + 1, 1, "chunk buffer") != 0)
                return ng_fail("out of memory: no safe point to cut the text in %zu bytes", p->cap);
            continue;
        }
        if (encode_and_write(&p->w, p->buf, take, &p->out, seg) != 0) return -1;
        chars_done += count_starts(text, take);
        bytes_done += take;
        memmove(p->buf, p->buf + take, len - take);
        len -= take;
        progress(verbose, t0, &last, bytes_done, p->n_bytes, 0);
        if (end_of_part) {
            if (seg == 1) break;
            seg = 1;
            if (eof && len == 0) break;                  /* val is empty */
        }
    }
    progress(verbose, t0, &last, bytes_done, p->n_bytes, 1);
    return 0;
}

/* the token counts, then meta.json with the tokenizer; all three files into place */
static int write_meta(Prep *p, int verbose) {
    char c1[32], c2[32];
    if (verbose) {
        printf("train has %s tokens\n", ng_with_commas(p->out.n_tokens[0], c1, sizeof c1));
        printf("val has %s tokens\n", ng_with_commas(p->out.n_tokens[1], c2, sizeof c2));
        fflush(stdout);
    }
    char json[96];
    snprintf(json, sizeof json, "{\"tokenizer\": \"gpt2\", \"vocab_size\": %d}", NG_GPT2_VOCAB);
    return ng_dataset_commit(&p->out, json);
}

int ng_prepare_gpt2(const char *input_path, const char *out_dir, int verbose, size_t chunk_bytes) {
    if (chunk_bytes == 0) chunk_bytes = DEFAULT_CHUNK;
    if (chunk_bytes < 64) chunk_bytes = 64;
    Prep *p = ng_calloc(1, sizeof *p, "prepare");
    if (!p) return -1;
    p->input_path = input_path;
    p->out.lock = -1;
    int rc = -1;
    if (!(p->f = ng_fopen_regular(input_path))) { free(p); return -1; }
    if (find_split(p, verbose) == 0 && open_workers(p) == 0 && ng_dataset_writer_open(&p->out, out_dir) == 0 &&
        encode_stream(p, chunk_bytes, verbose) == 0 && write_meta(p, verbose) == 0)
        rc = 0;
    ng_dataset_writer_close(&p->out);
    close_workers(&p->w);
    free(p->buf);
    ng_bpe_free(p->bpe);
    fclose(p->f);
    free(p);
    return rc;
}
