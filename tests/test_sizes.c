/* test_sizes.c -- 64-bit sizes and offsets, on sparse files (ftruncate: no disk, no time).
 *
 *   1. a token file of 1.5 * 2^32 tokens (12 GiB): ng_tokenfile_open maps it, direct reads
 *      and ng_get_batch windows at token offsets beyond 2^32 return the bytes written there;
 *   2. a safetensors file of 4 GiB + ~200 bytes with one F32 tensor over 2^30 elements and a
 *      second one starting beyond 2^32 bytes: ng_st_open maps it (memory does not grow by
 *      the file's size) and values at byte offsets beyond 2^31 and 2^32 read back;
 *   3. only with NG_TEST_BIG=1, because it reads 8 GiB of file pages (36 s on 2 shared cores,
 *      8 GiB of page cache): the token-id validation scan finds a bad id beyond 2^32.
 * The default part runs in well under a second. Files go to $TMPDIR (default /tmp). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _FILE_OFFSET_BITS 64
#include "nanogpt.h"
#include "formats/safetensors.h"
#include "test.h"
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[512];

static const char *tmp_path(const char *name) {
    static char buf[2][600];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* a sparse file of `size` bytes; 0 on success */
static int make_sparse(const char *path, uint64_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); return -1; }
    int rc = ftruncate(fd, (off_t)size);
    if (rc != 0) perror("ftruncate");
    close(fd);
    return rc;
}

static int pwrite_at(const char *path, uint64_t off, const void *data, size_t n) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t w = pwrite(fd, data, n, (off_t)off);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* What ng_get_batch draws for each window start: nanoGPT's randint(len(data) - block_size),
 * here a rejection-sampled uniform integer from the 64-bit RNG (see rng_below in dataset.c).
 * The test predicts the starts this way, writes recognisable tokens there, and checks that
 * the windows read back are those tokens. */
static uint64_t predict_below(NgRng *r, uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t v = ng_rng_u64(r);
        if (v >= threshold) return v % n;
    }
}

#define TWO32 ((uint64_t)1 << 32)

static void test_token_file(void) {
    const char *p = tmp_path("tokens_12GiB.bin");
    const uint64_t n = TWO32 + TWO32 / 2;            /* tokens: 12 GiB of uint16 */
    if (make_sparse(p, 2 * n) != 0) { CHECK(0, "could not create a sparse 12 GiB file in %s", g_dir); return; }
    /* markers at the start, just past 2^32 tokens, at the 8 GiB byte boundary and at the end */
    struct { uint64_t pos; uint16_t v; } marks[] = {
        {0, 11}, {TWO32 - 1, 12}, {TWO32, 13}, {TWO32 + 1, 14}, {TWO32 + 123457, 15}, {n - 1, 16},
    };
    int nm = (int)(sizeof marks / sizeof marks[0]);
    for (int i = 0; i < nm; i++)
        CHECK(pwrite_at(p, 2 * marks[i].pos, &marks[i].v, 2) == 0, "pwrite marker %d", i);

    /* windows of get_batch: find a seed whose 8 starts fall on both sides of 2^32 */
    enum { B = 8, T = 16 };
    const uint64_t range = n - T;
    uint64_t starts[B];
    uint64_t seed = 1;
    for (;; seed++) {
        NgRng r; ng_rng_seed(&r, seed);
        int above = 0;
        for (int b = 0; b < B; b++) { starts[b] = predict_below(&r, range); above += starts[b] >= TWO32; }
        if (above >= 3 && above <= B - 2) break;
    }
    uint16_t win[T + 1];
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= T; t++) win[t] = (uint16_t)(1000 + 100 * b + t);
        CHECK(pwrite_at(p, 2 * starts[b], win, sizeof win) == 0, "pwrite window %d", b);
    }

    long rss0 = max_rss_kb();
    NgTokenFile f;
    /* vocab_size 65536: every uint16 is a valid id, so open skips the validation scan */
    int rc = ng_tokenfile_open(&f, p, 65536, 1024);
    CHECK(rc == 0, "open a 12 GiB token file: %s", rc ? ng_errmsg() : "");
    if (rc != 0) { unlink(p); return; }
    CHECK(f.n_tokens == n, "n_tokens %zu, want %llu", f.n_tokens, (unsigned long long)n);
    CHECK(f.map_size == 2 * n, "map_size %zu", f.map_size);
    /* the window writes may have overwritten a marker; those are re-read from the windows */
    for (int i = 0; i < nm; i++) {
        int covered = 0;
        for (int b = 0; b < B; b++) covered |= marks[i].pos >= starts[b] && marks[i].pos <= starts[b] + T;
        if (!covered) CHECK(f.tokens[marks[i].pos] == marks[i].v, "token at %llu is %u, want %u",
                            (unsigned long long)marks[i].pos, f.tokens[marks[i].pos], marks[i].v);
    }
    CHECK(f.tokens[TWO32 + 2] == 0 && f.tokens[TWO32 / 2] == 0, "holes read as zeros");

    NgRng r; ng_rng_seed(&r, seed);
    int x[B * T], y[B * T];
    ng_get_batch(&f, &r, B, T, x, y);
    int above = 0;
    for (int b = 0; b < B; b++) {
        int ok = 1;
        for (int t = 0; t < T; t++)
            ok &= x[b * T + t] == 1000 + 100 * b + t && y[b * T + t] == 1000 + 100 * b + t + 1;
        CHECK(ok, "window %d at token %llu (%s 2^32): got x[0] = %d y[0] = %d, want %d %d", b,
              (unsigned long long)starts[b], starts[b] >= TWO32 ? "beyond" : "below", x[b * T], y[b * T],
              1000 + 100 * b, 1001 + 100 * b);
        above += starts[b] >= TWO32;
    }
    CHECK(above >= 3, "%d windows start beyond 2^32 tokens", above);
    long grown = max_rss_kb() - rss0;
    CHECK(grown < 64 * 1024, "peak RSS grew by %ld KiB reading a 12 GiB file (it is mapped, not read)", grown);
    ng_tokenfile_close(&f);

    /* an odd byte count beyond 4 GiB is still reported exactly */
    CHECK(make_sparse(p, 2 * n + 1) == 0, "odd-sized sparse file");
    CHECK(ng_tokenfile_open(&f, p, 65536, 8) == -1 && strstr(ng_errmsg(), "odd byte count 12884901889"),
          "odd byte count of a 12 GiB file: %s", ng_errmsg());
    unlink(p);
}

static void test_big_safetensors(void) {
    const char *p = tmp_path("big.safetensors");
    const uint64_t n_big = ((uint64_t)1 << 30) + 5;  /* F32 elements: 4 GiB + 20 bytes */
    const uint64_t big_bytes = 4 * n_big;
    char hdr[512];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"big\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":[0,%llu]},"
                      "\"tail\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[%llu,%llu]}}",
                      (unsigned long long)n_big, (unsigned long long)big_bytes, (unsigned long long)big_bytes,
                      (unsigned long long)(big_bytes + 16));
    while (hl % 8) hdr[hl++] = ' ';
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    const uint64_t data0 = 8 + (uint64_t)hl, total = data0 + big_bytes + 16;
    if (make_sparse(p, total) != 0) { CHECK(0, "could not create a sparse 4 GiB file in %s", g_dir); return; }
    CHECK(pwrite_at(p, 0, len8, 8) == 0 && pwrite_at(p, 8, hdr, (size_t)hl) == 0, "write the header");
    const uint64_t i31 = ((uint64_t)1 << 29) + 3;       /* element at byte offset 2^31 + 12 */
    const uint64_t i32 = ((uint64_t)1 << 30) + 1;       /* element at byte offset 2^32 + 4 */
    float v31 = 3.5f, v32 = -7.25f, vlast = 42.0f, vfirst = 0.125f, tail[4] = {1, 2, 3, 4};
    CHECK(pwrite_at(p, data0, &vfirst, 4) == 0 && pwrite_at(p, data0 + 4 * i31, &v31, 4) == 0 &&
          pwrite_at(p, data0 + 4 * i32, &v32, 4) == 0 && pwrite_at(p, data0 + 4 * (n_big - 1), &vlast, 4) == 0 &&
          pwrite_at(p, data0 + big_bytes, tail, sizeof tail) == 0, "write the values");

    long rss0 = max_rss_kb();
    NgStFile f;
    int rc = ng_st_open(&f, p);
    CHECK(rc == 0, "open a 4 GiB safetensors file: %s", rc ? ng_errmsg() : "");
    if (rc != 0) { unlink(p); return; }
    CHECK(f.size == total && f.data_size == big_bytes + 16, "size %zu data_size %zu", f.size, f.data_size);
    const NgStTensor *b = ng_st_find(&f, "big"), *t = ng_st_find(&f, "tail");
    CHECK(b && b->ndim == 1 && (uint64_t)b->shape[0] == n_big && b->begin == 0 && b->end == big_bytes, "big tensor entry");
    CHECK(t && t->ndim == 2 && t->begin == big_bytes && t->end == big_bytes + 16, "tail tensor entry (offsets beyond 2^32)");
    if (b && t) {
        const float *bd = (const float *)(f.data + b->begin), *td = (const float *)(f.data + t->begin);
        CHECK(bd[0] == vfirst, "big[0] = %g", bd[0]);
        CHECK(bd[i31] == v31, "big[2^29+3] (byte 2^31+12) = %g, want %g", bd[i31], v31);
        CHECK(bd[i31 - 1] == 0.0f && bd[i31 + 1] == 0.0f, "neighbours of big[2^29+3] are zero");
        CHECK(bd[i32] == v32, "big[2^30+1] (byte 2^32+4) = %g, want %g", bd[i32], v32);
        CHECK(bd[n_big - 1] == vlast, "big[last] = %g", bd[n_big - 1]);
        CHECK(td[0] == 1 && td[1] == 2 && td[2] == 3 && td[3] == 4, "tail = %g %g %g %g", td[0], td[1], td[2], td[3]);
    }
    CHECK(ng_st_meta(&f, "format") && !strcmp(ng_st_meta(&f, "format"), "pt"), "metadata of the big file");
    long grown = max_rss_kb() - rss0;
    CHECK(grown < 64 * 1024, "peak RSS grew by %ld KiB opening a 4 GiB file (it is mapped, not read)", grown);
    ng_st_close(&f);
    CHECK(f.buf == NULL && f.n_tensors == 0, "close releases the mapping");

    /* the same file one byte short: the tail tensor now ends outside the data section */
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)(total - 1)) == 0, "truncate by one byte");
    if (fd >= 0) close(fd);
    CHECK(ng_st_open(&f, p) == -1 && strstr(ng_errmsg(), "outside the data section"), "4 GiB file one byte short: %s", ng_errmsg());
    unlink(p);
}

/* NG_TEST_BIG=1: the validation scan over 2^32 + 2^20 tokens finds a bad id beyond 2^32 */
static void test_validation_scan(void) {
    if (!getenv("NG_TEST_BIG")) {
        printf("(NG_TEST_BIG not set: skipping the validation scan over an 8 GiB token file)\n");
        return;
    }
    const char *p = tmp_path("scan.bin");
    const uint64_t n = TWO32 + ((uint64_t)1 << 20);
    const uint64_t bad_pos = TWO32 + 77;
    uint16_t bad = 300;
    CHECK(make_sparse(p, 2 * n) == 0 && pwrite_at(p, 2 * bad_pos, &bad, 2) == 0, "sparse 8 GiB file");
    NgTokenFile f;
    char want[128];
    snprintf(want, sizeof want, "token id 300 at position %llu is >= vocab_size 256", (unsigned long long)bad_pos);
    CHECK(ng_tokenfile_open(&f, p, 256, 1024) == -1 && strstr(ng_errmsg(), want), "scan: %s", ng_errmsg());
    CHECK(ng_tokenfile_open(&f, p, 301, 1024) == 0 && f.n_tokens == n, "valid with vocab 301: %s", ng_errmsg());
    ng_tokenfile_close(&f);
    unlink(p);
}

int main(void) {
    const char *td = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_sizes_XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_token_file();
    test_big_safetensors();
    test_validation_scan();
    rmdir(g_dir);
    TEST_END();
}
