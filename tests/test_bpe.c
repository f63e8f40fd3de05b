/* test_bpe.c -- the GPT-2 BPE tokenizer (data/bpe.c) against tiktoken: every string of
 * tests/fixtures/bpe_cases.json (written by tools/gen_bpe_fixtures.mjs from tiktoken's gpt2
 * encoding) in both modes, the whole of tinyshakespeare, nanoGPT's train/val split, chunked
 * (streaming) encoding, `prepare --tokenizer=gpt2` with tiny chunks, and the throughput
 * (printed, not checked). Run from the repository root. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogpt.h"
#include "formats/bpe.h"
#include "app/prepare.h"
#include "formats/chartok.h"
#include "base/utf8.h"
#include "base/json.h"
#include "base/util.h"
#include "test.h"
#include "formats/dataset.h"
#include <ftw.h>
#include <string.h>
#include <unistd.h>
#include <unicode/uchar.h>   /* U_UNICODE_VERSION */

#define FIXTURES "tests/fixtures/bpe_cases.json"
#define SHAKESPEARE "data/shakespeare_char/input.txt"

static NgBpe *g_bpe;
static char g_dir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static unsigned char *unhex(const char *hex, size_t *n) {
    size_t len = strlen(hex);
    unsigned char *out = malloc(len / 2 + 1);
    for (size_t i = 0; i + 1 < len; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        out[i / 2] = (unsigned char)v;
    }
    *n = len / 2;
    return out;
}

/* the ids of a JSON array of integers; *n its length */
static int *json_ids(const JsonValue *a, size_t *n) {
    *n = a && a->type == JSON_ARRAY ? a->n : 0;
    int *ids = malloc((*n ? *n : 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int)a->items[i].integer;
    return ids;
}

static int same_ids(const int *a, size_t na, const int *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void show_ids(const char *what, const int *ids, size_t n) {
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

/* encode in mode `special`, compare with want, decode back; returns 1 if all matched */
static int check_case(const char *label, const unsigned char *text, size_t n, int special, const int *want, size_t nwant) {
    int *ids; size_t m;
    if (ng_bpe_encode(g_bpe, (const char *)text, n, special, &ids, &m) != 0) {
        CHECK(0, "%s: encode failed: %s", label, ng_errmsg());
        return 0;
    }
    int ok = same_ids(ids, m, want, nwant);
    CHECK(ok, "%s (%s): ids differ from tiktoken", label, special ? "allowed_special" : "ordinary");
    if (!ok) { show_ids("got ", ids, m); show_ids("want", want, nwant); }
    size_t len;
    char *back = ng_bpe_decode(g_bpe, ids, m, &len);
    int rt = back && len == n && memcmp(back, text, n) == 0;
    CHECK(rt, "%s (%s): decode(encode(x)) != x", label, special ? "allowed_special" : "ordinary");
    free(back);
    free(ids);
    return ok && rt;
}

/* chunked: cut text at safe points found in windows of `window` bytes, encode each chunk
 * alone, and compare with encoding the whole (ordinary mode) */
static int chunked_equals_whole(const char *text, size_t n, size_t window, size_t *n_chunks) {
    int *whole; size_t nw;
    if (ng_bpe_encode(g_bpe, text, n, 0, &whole, &nw) != 0) return 0;
    NgBpeEncoder *e = ng_bpe_encoder_new(g_bpe);
    size_t pos = 0, chunks = 0;
    while (pos < n) {
        size_t w = window, cut = 0;
        while (pos + w < n && !(cut = ng_bpe_safe_cut(g_bpe, text + pos, w))) w *= 2;
        if (pos + w >= n) cut = n - pos;
        ng_bpe_encoder_run(e, text + pos, cut, 0, NULL, NULL);
        pos += cut;
        chunks++;
    }
    const int *ids; size_t m;
    ng_bpe_encoder_run(e, "", 0, 0, &ids, &m);
    int ok = same_ids(ids, m, whole, nw);
    if (!ok) {
        size_t k = 0;
        while (k < m && k < nw && ids[k] == whole[k]) k++;
        fprintf(stderr, "  window %zu: first difference at token %zu of %zu/%zu\n", window, k, m, nw);
    }
    ng_bpe_encoder_free(e);
    free(whole);
    if (n_chunks) *n_chunks = chunks;
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

static void test_fixture_cases(void) {
    size_t n;
    char *text = ng_read_file(FIXTURES, &n);
    CHECK(text != NULL, "cannot read %s: %s", FIXTURES, ng_errmsg());
    if (!text) return;
    char err[256];
    JsonValue *root = ng_json_parse(text, n, err, sizeof err);
    CHECK(root != NULL, "%s: %s", FIXTURES, err);
    if (!root) { free(text); return; }
    const JsonValue *ver = ng_json_get(root, "tiktoken_version");
    printf("fixtures: tiktoken %s (gpt2), generated under node's Unicode %s; ICU here: Unicode %s\n",
           ver ? ver->string : "?", ng_json_get(root, "unicode") ? ng_json_get(root, "unicode")->string : "?",
           U_UNICODE_VERSION);

    const JsonValue *cases = ng_json_get(root, "cases");
    CHECK(cases && cases->n >= 200, "at least 200 fixture strings");
    int matched = 0, total = 0;
    for (size_t i = 0; cases && i < cases->n; i++) {
        const JsonValue *c = &cases->items[i];
        size_t len, no, ns;
        unsigned char *bytes = unhex(ng_json_get(c, "hex")->string, &len);
        int *o = json_ids(ng_json_get(c, "ordinary"), &no), *s = json_ids(ng_json_get(c, "special"), &ns);
        const char *label = ng_json_get(c, "label")->string;
        matched += check_case(label, bytes, len, 0, o, no);
        matched += check_case(label, bytes, len, 1, s, ns);
        total += 2;
        free(bytes); free(o); free(s);
    }
    printf("tiktoken fixtures: %d of %d (string, mode) pairs match exactly\n", matched, total);

    /* invalid UTF-8: each invalid byte is one "other" character (see bpe.h); "fffd" is
     * tiktoken's encoding of the text with every invalid byte replaced by U+FFFD */
    const JsonValue *inv = ng_json_get(root, "invalid_utf8");
    int imatched = 0, itotal = 0;
    for (size_t i = 0; inv && i < inv->n; i++) {
        const JsonValue *c = &inv->items[i];
        size_t len, no, ns, nf;
        unsigned char *bytes = unhex(ng_json_get(c, "hex")->string, &len);
        int *o = json_ids(ng_json_get(c, "ordinary"), &no), *s = json_ids(ng_json_get(c, "special"), &ns);
        int *fffd = json_ids(ng_json_get(c, "fffd"), &nf);
        const char *label = ng_json_get(c, "label")->string;
        imatched += check_case(label, bytes, len, 0, o, no);
        imatched += check_case(label, bytes, len, 1, s, ns);
        /* replace every invalid byte with U+FFFD */
        unsigned char *rep = malloc(3 * len + 1);
        size_t r = 0;
        for (size_t k = 0; k < len;) {
            uint32_t cp;
            int l = ng_utf8_decode(bytes + k, len - k, &cp, NULL);
            if (l) { memcpy(rep + r, bytes + k, (size_t)l); r += (size_t)l; k += (size_t)l; }
            else { memcpy(rep + r, "\xef\xbf\xbd", 3); r += 3; k++; }
        }
        char lab[128];
        snprintf(lab, sizeof lab, "%s with U+FFFD", label);
        imatched += check_case(lab, rep, r, 0, fffd, nf);
        itotal += 3;
        free(rep); free(bytes); free(o); free(s); free(fffd);
    }
    printf("invalid UTF-8 fixtures: %d of %d match\n", imatched, itotal);

    /* the same with every piece merged by the heap (the path of pieces > 256 bytes) */
    int hmatched = 0, htotal = 0;
    NgBpeEncoder *heap_enc = ng_bpe_encoder_new(g_bpe);
    ng_bpe_encoder_set_small_piece(heap_enc, 1);
    for (size_t i = 0; cases && heap_enc && i < cases->n; i++) {
        const JsonValue *c = &cases->items[i];
        size_t len, no;
        unsigned char *bytes = unhex(ng_json_get(c, "hex")->string, &len);
        int *o = json_ids(ng_json_get(c, "ordinary"), &no);
        const int *ids; size_t m = 0;
        ng_bpe_encoder_reset(heap_enc);
        hmatched += ng_bpe_encoder_run(heap_enc, (const char *)bytes, len, 0, &ids, &m) == 0 && same_ids(ids, m, o, no);
        htotal++;
        free(bytes); free(o);
    }
    ng_bpe_encoder_free(heap_enc);
    CHECK(hmatched == htotal, "heap merge: %d of %d fixture strings match", hmatched, htotal);

    ng_json_free(root);
    free(text);
}

static void test_shakespeare(void) {
    size_t n, nb;
    char *text = ng_read_file(SHAKESPEARE, &n);
    CHECK(text != NULL, "%s: %s", SHAKESPEARE, ng_errmsg());
    char *bin = ng_read_file("tests/fixtures/bpe_shakespeare.bin", &nb);
    CHECK(bin != NULL, "bpe_shakespeare.bin: %s", ng_errmsg());
    if (!text || !bin) { free(text); free(bin); return; }
    size_t nwant = nb / 2;
    int *want = malloc(nwant * sizeof *want);
    for (size_t i = 0; i < nwant; i++) want[i] = (unsigned char)bin[2 * i] | (unsigned char)bin[2 * i + 1] << 8;

    int *ids; size_t m;
    double t = ng_now();
    int rc = ng_bpe_encode(g_bpe, text, n, 0, &ids, &m);
    t = ng_now() - t;
    CHECK(rc == 0, "encode tinyshakespeare");
    CHECK(nwant == 338025, "fixture has 338,025 tokens (%zu)", nwant);
    size_t k = 0;
    while (k < m && k < nwant && ids[k] == want[k]) k++;
    CHECK(m == nwant && k == m, "tinyshakespeare: %zu tokens, %zu match tiktoken's %zu", m, k, nwant);
    printf("tinyshakespeare: %zu of %zu tokens identical to tiktoken (%.1f MB/s, cold cache)\n", k, nwant, (double)n / t / 1e6);
    size_t len;
    char *back = ng_bpe_decode(g_bpe, ids, m, &len);
    CHECK(back && len == n && memcmp(back, text, n) == 0, "tinyshakespeare decodes back");
    free(back);
    free(ids);

    /* nanoGPT's data/shakespeare/prepare.py: train = first int(n*0.9) characters, val = the
     * rest, each encoded with encode_ordinary on its own */
    long long chars = ng_utf8_count(text, n, SHAKESPEARE);
    size_t n_train_chars = (size_t)((double)chars * 0.9), split = 0;
    for (size_t c = 0; split < n; split++) {
        if (((unsigned char)text[split] & 0xC0) == 0x80) continue;
        if (c++ == n_train_chars) break;
    }
    int *tr, *va; size_t ntr, nva;
    ng_bpe_encode(g_bpe, text, split, 0, &tr, &ntr);
    ng_bpe_encode(g_bpe, text + split, n - split, 0, &va, &nva);
    CHECK(ntr == 301966 && nva == 36059, "nanoGPT split: train %zu (want 301,966), val %zu (want 36,059)", ntr, nva);

    /* prepare with tiny chunks equals the whole-text encoding of each part */
    const size_t chunks[] = {64, 1000, 0};
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/prep%zu", g_dir, ci);
        int prc = ng_prepare_gpt2(SHAKESPEARE, dir, 0, chunks[ci]);
        CHECK(prc == 0, "prepare (chunk %zu): %s", chunks[ci], ng_errmsg());
        char path[600];
        size_t sz;
        snprintf(path, sizeof path, "%s/train.bin", dir);
        char *trb = ng_read_file(path, &sz);
        int ok = trb && sz == 2 * ntr;
        for (size_t i = 0; ok && i < ntr; i++) ok = ((unsigned char)trb[2 * i] | (unsigned char)trb[2 * i + 1] << 8) == tr[i];
        CHECK(ok, "prepare (chunk %zu): train.bin = encode_ordinary(train text) (%zu bytes)", chunks[ci], trb ? sz : 0);
        free(trb);
        snprintf(path, sizeof path, "%s/val.bin", dir);
        char *vab = ng_read_file(path, &sz);
        ok = vab && sz == 2 * nva;
        for (size_t i = 0; ok && i < nva; i++) ok = ((unsigned char)vab[2 * i] | (unsigned char)vab[2 * i + 1] << 8) == va[i];
        CHECK(ok, "prepare (chunk %zu): val.bin = encode_ordinary(val text)", chunks[ci]);
        free(vab);
        snprintf(path, sizeof path, "%s/meta.json", dir);
        char *meta = ng_read_file(path, &sz);
        /* the tokenizer, then the record of the two files (their sizes, and the hash of the
         * streamed bytes equal to the hash of the ids in memory) */
        NgFileRecord rt = {2 * ntr, 0}, rv = {2 * nva, 0};
        uint16_t *le = malloc(2 * (ntr > nva ? ntr : nva) + 2);
        for (size_t i = 0; i < ntr; i++) le[i] = (uint16_t)tr[i];
        rt.hash = ng_bin_hash_final(ng_bin_hash_update(ng_bin_hash_init(), le, rt.bytes), rt.bytes);
        for (size_t i = 0; i < nva; i++) le[i] = (uint16_t)va[i];
        rv.hash = ng_bin_hash_final(ng_bin_hash_update(ng_bin_hash_init(), le, rv.bytes), rv.bytes);
        free(le);
        NgStr want = {0};
        ng_str_printf(&want, "{\"tokenizer\": \"gpt2\", \"vocab_size\": %d, ", NG_GPT2_VOCAB);
        ng_files_record_json(&want, &rt, &rv);
        ng_str_printf(&want, "}\n");
        char *w = ng_str_take(&want, NULL);
        CHECK(meta && w && strcmp(meta, w) == 0, "meta.json: %s, want %s", meta ? meta : "(none)", w ? w : "");
        free(w);
        free(meta);
    }
    free(tr); free(va);

    /* chunked encoding of the whole text with small windows equals the whole */
    size_t nch = 0;
    CHECK(chunked_equals_whole(text, n, 16, &nch), "tinyshakespeare cut at safe points (16-byte windows)");
    CHECK(nch > 50000, "many chunks (%zu)", nch);
    CHECK(chunked_equals_whole(text, n, 4096, NULL), "tinyshakespeare cut at safe points (4 KiB windows)");

    /* throughput on tinyshakespeare x 8, one thread (informational) */
    size_t reps = 8, big_n = n * reps;
    char *big = malloc(big_n);
    for (size_t r = 0; r < reps; r++) memcpy(big + r * n, text, n);
    t = ng_now();
    ng_bpe_encode(g_bpe, big, big_n, 0, &ids, &m);
    t = ng_now() - t;
    printf("throughput: %.1f MB/s (tinyshakespeare x %zu = %.1f MB, %zu tokens, %.3f s, one core)\n",
           (double)big_n / t / 1e6, reps, (double)big_n / 1e6, m, t);
    CHECK(m == reps * nwant || m > 0, "x8 encodes");
    free(ids);
    t = ng_now();
    char *dec = ng_bpe_decode(g_bpe, want, nwant, &len);
    t = ng_now() - t;
    printf("decode: %.0f MB/s\n", (double)len / t / 1e6);
    free(dec);
    free(big);
    free(want); free(bin); free(text);
}

/* chunking and round trips on random soups of tricky characters */
static void test_random(void) {
    static const char *alphabet[] = {
        "a", "Z", "\xc3\xa9", "\xc3\x9f", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "1", "\xd9\xa3", " ", "  ", "\n", "\n\n",
        "\t", "\r\n", "'", "'s", "'ll", "'LL", "!", ".", "-", "\xc2\xa0", "\xe3\x80\x80", "\xcc\x81", "\x00", "\xc2\x85",
        "<|endoftext|>", " the", "ing", "\xff", "\x80", "\xe4\xb8", "\xf0\x9f", "x", "9", "\xe2\x80\xa8", " '", "\n ",
    };
    const size_t na = sizeof alphabet / sizeof alphabet[0];
    NgRng rng;
    ng_rng_seed(&rng, 42);
    int chunk_ok = 0, rt_ok = 0, trials = 300;
    char *buf = malloc(1 << 16);
    for (int t = 0; t < trials; t++) {
        size_t n = 0, parts = 1 + ng_rng_u64(&rng) % 400;
        for (size_t p = 0; p < parts; p++) {
            const char *a = alphabet[ng_rng_u64(&rng) % na];
            size_t l = a[0] ? strlen(a) : 1;             /* "\x00" is the NUL byte */
            memcpy(buf + n, a, l);
            n += l;
        }
        chunk_ok += chunked_equals_whole(buf, n, 12 + ng_rng_u64(&rng) % 40, NULL);
        for (int special = 0; special < 2; special++) {
            int *ids; size_t m, len;
            ng_bpe_encode(g_bpe, buf, n, special, &ids, &m);
            char *back = ng_bpe_decode(g_bpe, ids, m, &len);
            rt_ok += back && len == n && memcmp(back, buf, n) == 0;
            free(back); free(ids);
        }
    }
    CHECK(chunk_ok == trials, "random texts: chunked == whole in %d of %d", chunk_ok, trials);
    CHECK(rt_ok == 2 * trials, "random texts: decode(encode(x)) == x in %d of %d", rt_ok, 2 * trials);
    free(buf);
}

static void test_api(void) {
    size_t len;
    const char *s = ng_bpe_token_bytes(g_bpe, NG_GPT2_EOT, &len);
    CHECK(s && len == 13 && memcmp(s, "<|endoftext|>", 13) == 0, "token 50256 is <|endoftext|>");
    s = ng_bpe_token_bytes(g_bpe, 220, &len);
    CHECK(s && len == 1 && s[0] == ' ', "token 220 is a space");
    s = ng_bpe_token_bytes(g_bpe, 15496, &len);
    CHECK(s && len == 5 && memcmp(s, "Hello", 5) == 0, "token 15496 is Hello");
    CHECK(ng_bpe_token_bytes(g_bpe, 50257, &len) == NULL && ng_bpe_token_bytes(g_bpe, -1, &len) == NULL, "out of range");
    CHECK(ng_bpe_vocab_size(g_bpe) == 50257, "vocab size");
    int bad[] = {15496, 50257};
    CHECK(ng_bpe_decode(g_bpe, bad, 2, &len) == NULL && strstr(ng_errmsg(), "50257"), "decode rejects 50257: %s", ng_errmsg());
    int neg[] = {-1};
    CHECK(ng_bpe_decode(g_bpe, neg, 1, &len) == NULL, "decode rejects -1");
    char *empty = ng_bpe_decode(g_bpe, NULL, 0, &len);
    CHECK(empty && len == 0 && empty[0] == 0, "decode of nothing is \"\"");
    free(empty);
    int *ids; size_t m;
    CHECK(ng_bpe_encode(g_bpe, "", 0, 1, &ids, &m) == 0 && ids && m == 0, "encode of \"\"");
    free(ids);
    /* a huge piece (a 1 MB run of one letter) takes the heap merge and stays fast */
    size_t big = 1 << 20;
    char *a = malloc(big);
    memset(a, 'a', big);
    double t = ng_now();
    CHECK(ng_bpe_encode(g_bpe, a, big, 0, &ids, &m) == 0, "1 MB word");
    t = ng_now() - t;
    char *back = ng_bpe_decode(g_bpe, ids, m, &len);
    CHECK(back && len == big && memcmp(back, a, big) == 0, "1 MB word round trip");
    printf("1 MB single-letter word: %zu tokens in %.3f s\n", m, t);
    free(back); free(ids); free(a);
    /* load time */
    t = ng_now();
    NgBpe *b2 = ng_bpe_load_gpt2();
    t = ng_now() - t;
    CHECK(b2 != NULL, "second load");
    printf("load: %.1f ms\n", t * 1e3);
    ng_bpe_free(b2);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_bpe_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    double t = ng_now();
    g_bpe = ng_bpe_load_gpt2();
    CHECK(g_bpe != NULL, "load: %s", ng_errmsg());
    if (!g_bpe) TEST_END();
    printf("GPT-2 tokenizer loaded in %.1f ms\n", (ng_now() - t) * 1e3);
    test_api();
    test_fixture_cases();
    test_shakespeare();
    test_random();
    ng_bpe_free(g_bpe);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_END();
}
