/* test_data.c -- the data layer: UTF-8, the char tokenizer and meta.json, `prepare` on
 * tinyshakespeare, token files, get_batch, and the RNG. Run from the repository root. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogpt.h"
#include "base/rng.h"
#include "formats/chartok.h"
#include "base/utf8.h"
#include "base/util.h"
#include "formats/dataset.h"
#include "app/prepare.h"
#include "test.h"
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];   /* the mkdtemp directory every file of this test goes into */

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* ng_errmsg() contains `want` */
static int err_has(const char *want) {
    if (strstr(ng_errmsg(), want)) return 1;
    fprintf(stderr, "  error was: %s\n  expected it to contain: %s\n", ng_errmsg(), want);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */

static void test_utf8(void) {
    uint32_t cp; const char *why;
    CHECK(ng_utf8_decode((const unsigned char *)"A", 1, &cp, &why) == 1 && cp == 'A', "ASCII");
    CHECK(ng_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp, &why) == 2 && cp == 0xE9, "2-byte é");
    CHECK(ng_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp, &why) == 3 && cp == 0x20AC, "3-byte €");
    CHECK(ng_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp, &why) == 4 && cp == 0x1F600, "4-byte emoji");
    CHECK(ng_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp, &why) == 4 && cp == 0x10FFFF, "U+10FFFF");
    CHECK(ng_utf8_decode((const unsigned char *)"\xc2\x80", 2, &cp, &why) == 2 && cp == 0x80, "U+0080");
    CHECK(ng_utf8_decode((const unsigned char *)"\xef\xbf\xbf", 3, &cp, &why) == 3 && cp == 0xFFFF, "U+FFFF");

    /* encode is the inverse */
    char buf[8];
    uint32_t cps[] = {0, 'x', 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
    int ok = 1;
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        int len = ng_utf8_encode(cps[i], buf);
        uint32_t back = 0xFFFFFFFF;
        if (len < 1 || ng_utf8_decode((unsigned char *)buf, (size_t)len, &back, NULL) != len || back != cps[i]) ok = 0;
    }
    CHECK(ok, "utf8 encode/decode round trip");
    CHECK(ng_utf8_encode(0xD800, buf) == 0 && ng_utf8_encode(0x110000, buf) == 0, "unencodable code points");

    /* every kind of invalid input, placed after "ab" so the offset is 2 */
    struct { const char *bytes; size_t n; const char *why; } bad[] = {
        {"\xc0\x80", 2, "overlong encoding"},              /* NUL in 2 bytes */
        {"\xc1\xbf", 2, "overlong encoding"},
        {"\xe0\x80\xaf", 3, "overlong encoding"},          /* '/' in 3 bytes */
        {"\xf0\x82\x82\xac", 4, "overlong encoding"},      /* € in 4 bytes */
        {"\xed\xa0\x80", 3, "surrogate code point"},       /* U+D800 */
        {"\xed\xbf\xbf", 3, "surrogate code point"},       /* U+DFFF */
        {"\xe2\x82", 2, "truncated sequence"},             /* cut at end of input */
        {"\xe2\x82x", 3, "truncated sequence"},            /* cut by an ASCII byte */
        {"\xf0\x9f\x98", 3, "truncated sequence"},
        {"\xc3", 1, "truncated sequence"},
        {"\xf4\x90\x80\x80", 4, "code point above U+10FFFF"},
        {"\xf7\xbf\xbf\xbf", 4, "code point above U+10FFFF"},
        {"\x80", 1, "unexpected continuation byte"},
        {"\xbf", 1, "unexpected continuation byte"},
        {"\xf8\x88\x80\x80\x80", 5, "invalid lead byte"},
        {"\xff", 1, "invalid lead byte"},
        {"\xfe", 1, "invalid lead byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[16] = "ab";
        memcpy(text + 2, bad[i].bytes, bad[i].n);
        memcpy(text + 2 + bad[i].n, "cd", 2);
        size_t n = 2 + bad[i].n + 2;
        NgCharTokenizer tok;
        char want[128];
        snprintf(want, sizeof want, "x.txt: not valid UTF-8 at byte 2 (%s)", bad[i].why);
        CHECK(ng_chartok_build(&tok, text, n, "x.txt") == -1 && err_has(want), "invalid UTF-8 case %zu", i);
        CHECK(tok.vocab_size == 0 && tok.itos == NULL, "failed build leaves tok empty");
        CHECK(ng_utf8_count(text, n, "y") == -1 && err_has("y: not valid UTF-8 at byte 2"), "count case %zu", i);
    }
    /* the offset is in bytes, after multi-byte characters */
    NgCharTokenizer tok;
    CHECK(ng_chartok_build(&tok, "\xc3\xa9\xe2\x82\xac\xff", 6, "z") == -1 && err_has("z: not valid UTF-8 at byte 5"), "byte offset");
    CHECK(ng_utf8_count("h\xc3\xa9llo\xf0\x9f\x98\x80", 10, "t") == 6, "count code points");
}

static void test_vocab(void) {
    /* mixed script: ASCII, Latin-1, Greek, Cyrillic, CJK, emoji; repeated characters */
    const char *text = "h\xc3\xa9llo w\xc3\xb6rld! \xce\xa9\xce\xb1 \xd0\xb6 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\n\xce\xb1\xe4\xb8\xad";
    NgCharTokenizer tok;
    int rc = ng_chartok_build(&tok, text, strlen(text), "mixed");
    CHECK(rc == 0, "build: %s", ng_errmsg());
    if (rc) return;
    uint32_t want[] = {'\n', ' ', '!', 'd', 'h', 'l', 'o', 'r', 'w', 0xE9, 0xF6, 0x3A9, 0x3B1, 0x436,
                       0x4E2D, 0x6587, 0x1F600};
    int V = (int)(sizeof want / sizeof want[0]);
    CHECK(tok.vocab_size == V, "vocab size %d, want %d", tok.vocab_size, V);
    int sorted = 1, match = tok.vocab_size == V;
    for (int i = 0; i < tok.vocab_size; i++) {
        if (i && tok.cps[i - 1] >= tok.cps[i]) sorted = 0;
        if (match && tok.cps[i] != want[i]) match = 0;
    }
    CHECK(sorted, "cps sorted by code point");
    CHECK(match, "vocabulary = sorted unique code points");
    CHECK(strcmp(ng_chartok_decode1(&tok, 0), "\n") == 0, "itos[0] newline");
    CHECK(strcmp(ng_chartok_decode1(&tok, V - 1), "\xf0\x9f\x98\x80") == 0, "itos[last] emoji");
    CHECK(strcmp(ng_chartok_decode1(&tok, 9), "\xc3\xa9") == 0, "itos[9] é");
    CHECK(ng_chartok_decode1(&tok, -1) == NULL && ng_chartok_decode1(&tok, V) == NULL, "decode1 out of range");

    /* encode / decode round trip */
    int *ids; size_t n;
    rc = ng_chartok_encode(&tok, text, strlen(text), &ids, &n);
    CHECK(rc == 0, "encode: %s", ng_errmsg());
    if (rc == 0) {
        CHECK(n == (size_t)ng_utf8_count(text, strlen(text), NULL), "one token per code point (%zu)", n);
        CHECK(ids[0] == 4 && ids[1] == 9, "first ids h, é: %d %d", ids[0], ids[1]);
        NgStr s = {0};
        for (size_t i = 0; i < n; i++) ng_str_printf(&s, "%s", ng_chartok_decode1(&tok, ids[i]));
        CHECK(s.s && strcmp(s.s, text) == 0, "decode(encode(text)) == text");
        free(s.s);
        free(ids);
    }
    uint16_t *ids16;
    CHECK(ng_chartok_encode_u16(&tok, "lo\xce\xb1", 4, &ids16, &n) == 0 && n == 3 && ids16[0] == 5 && ids16[1] == 6 && ids16[2] == 12, "encode_u16");
    free(ids16);
    /* empty text encodes to nothing */
    CHECK(ng_chartok_encode(&tok, "", 0, &ids, &n) == 0 && n == 0, "encode empty");
    free(ids);
    /* unknown characters */
    CHECK(ng_chartok_encode(&tok, "hollow z", 8, &ids, &n) == -1 &&
          err_has("character 'z' (U+007A) at byte 7 is not in the vocabulary") && ids == NULL, "unknown ASCII");
    CHECK(ng_chartok_encode(&tok, "h\xc3\xa9\xe2\x82\xac", 6, &ids, &n) == -1 &&
          err_has("character '\xe2\x82\xac' (U+20AC) at byte 3 is not in the vocabulary"), "unknown euro");
    CHECK(ng_chartok_encode(&tok, "h\tx", 3, &ids, &n) == -1 && err_has("character '\\t' (U+0009) at byte 1"), "unknown tab shown escaped");
    CHECK(ng_chartok_encode(&tok, "h\xc3", 2, &ids, &n) == -1 && err_has("not valid UTF-8 at byte 1"), "encode invalid UTF-8");
    ng_chartok_free(&tok);
    ng_chartok_free(&tok);   /* idempotent */
    CHECK(ng_chartok_build(&tok, "", 0, "e.txt") == -1 && err_has("e.txt: empty text"), "build empty");
}

static void test_meta_roundtrip(void) {
    /* includes NUL, quote, backslash, control characters, DEL, non-ASCII */
    const char text[] = "a\0\"\\\x01\x1f\x7f\t\r\n/\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80z";
    size_t len = sizeof text - 1;
    NgCharTokenizer tok, back;
    int rc = ng_chartok_build(&tok, text, len, "rt");
    CHECK(rc == 0, "build: %s", ng_errmsg());
    if (rc) return;
    CHECK(tok.cps[0] == 0 && tok.itos[0][0] == 0, "NUL is id 0, itos \"\"");
    const char *path = tmp_path("meta_rt.json");
    CHECK(ng_chartok_save_meta(&tok, path) == 0, "save: %s", ng_errmsg());
    rc = ng_chartok_load_meta(&back, path);
    CHECK(rc == 0, "load: %s", ng_errmsg());
    if (rc == 0) {
        int same = back.vocab_size == tok.vocab_size;
        for (int i = 0; same && i < tok.vocab_size; i++)
            same = back.cps[i] == tok.cps[i] && strcmp(back.itos[i], tok.itos[i]) == 0;
        CHECK(same, "meta.json round trip");
        int *ids; size_t n;
        CHECK(ng_chartok_encode(&back, text, len, &ids, &n) == 0 && n == 15 && ids[1] == 0, "encode with NUL");
        free(ids);
        ng_chartok_free(&back);
    }
    /* the file itself: our format, nanoGPT-like key names */
    size_t n;
    char *json = ng_read_file(path, &n);
    const char *head = "{\"vocab_size\": 15, \"tokenizer\": \"char\", \"itos\": [\"\\u0000\", \"\\u0001\", \"\\t\", \"\\n\"";
    CHECK(json && strncmp(json, head, strlen(head)) == 0,
          "meta.json text: %.80s", json ? json : "(null)");
    free(json);
    ng_chartok_free(&tok);

    /* a hand-written, unsorted itos is fine: ids are the positions */
    NgCharTokenizer u;
    const char *m = "{\"vocab_size\": 3, \"itos\": [\"b\", \"\\u00e9\", \"a\"], \"stoi\": {\"a\": 2}}";
    rc = ng_chartok_parse_meta(&u, m, strlen(m), "u.json");
    CHECK(rc == 0, "unsorted itos: %s", ng_errmsg());
    if (rc == 0) {
        int *ids; size_t k;
        CHECK(ng_chartok_encode(&u, "ab\xc3\xa9", 4, &ids, &k) == 0 && k == 3 && ids[0] == 2 && ids[1] == 0 && ids[2] == 1,
              "encode with unsorted itos");
        free(ids);
        CHECK(ng_chartok_encode(&u, "abc", 3, &ids, &k) == -1 && err_has("'c' (U+0063) at byte 2"), "unsorted unknown");
        ng_chartok_free(&u);
    }
}

static void test_meta_hostile(void) {
    struct { const char *json; const char *want; } cases[] = {
        {"not json", "bad.json: not valid JSON: byte 0"},
        {"", "bad.json: not valid JSON"},
        {"{\"vocab_size\": 2, \"itos\": [\"a\", \"b\"", "bad.json: not valid JSON"},
        {"[\"a\"]", "bad.json: the top level must be a JSON object"},
        {"{\"vocab_size\": 3, \"itos\": [\"a\", \"b\"]}", "bad.json: vocab_size is 3 but itos has 2 entries"},
        {"{\"vocab_size\": 2, \"itos\": [\"a\", \"bc\"]}", "bad.json: itos[1] has 2 characters, must be exactly one"},
        {"{\"vocab_size\": 2, \"itos\": [\"a\", \"\\u00e9\\u00e9\"]}", "bad.json: itos[1] has 2 characters"},
        {"{\"vocab_size\": 3, \"itos\": [\"a\", \"b\", \"a\"]}", "bad.json: itos[0] and itos[2] are both 'a' (U+0061)"},
        {"{\"vocab_size\": 2, \"itos\": [\"\\n\", \"\\u000a\"]}", "bad.json: itos[0] and itos[1] are both '\\n' (U+000A)"},
        {"{\"vocab_size\": -1, \"itos\": []}", "bad.json: vocab_size -1 is out of range"},
        {"{\"vocab_size\": 0, \"itos\": []}", "bad.json: vocab_size 0 is out of range"},
        {"{\"vocab_size\": 99999999999, \"itos\": []}", "bad.json: vocab_size 99999999999 is out of range"},
        {"{\"vocab_size\": 1e300, \"itos\": []}", "bad.json: vocab_size must be an integer"},
        {"{\"vocab_size\": 2.5, \"itos\": [\"a\", \"b\"]}", "bad.json: vocab_size must be an integer"},
        {"{\"vocab_size\": \"2\", \"itos\": [\"a\", \"b\"]}", "bad.json: vocab_size must be an integer"},
        {"{\"vocab_size\": 2}", "bad.json: missing \"itos\""},
        {"{\"itos\": [\"a\"]}", "bad.json: missing \"vocab_size\""},
        {"{\"vocab_size\": 1, \"itos\": \"a\"}", "bad.json: itos must be an array of strings"},
        {"{\"vocab_size\": 2, \"itos\": [\"a\", 7]}", "bad.json: itos[1] is not a string"},
        {"{\"vocab_size\": 2, \"itos\": [\"a\", null]}", "bad.json: itos[1] is not a string"},
        {"{\"vocab_size\": 2, \"itos\": [\"\", \"a\"]}", "bad.json: itos[0] is an empty string"},
        {"{\"vocab_size\": 1, \"itos\": [\"\\u0000a\"]}", "bad.json: itos[0] has 2 characters"},
        {"{\"vocab_size\": 1, \"itos\": [\"a\"], \"tokenizer\": \"gpt2\"}", "bad.json: tokenizer is \"gpt2\", only \"char\" is supported"},
        {"{\"vocab_size\": 1, \"itos\": [\"a\"], \"tokenizer\": 1}", "bad.json: tokenizer must be the string \"char\""},
        {"{\"vocab_size\": 1, \"itos\": [\"\\ud800\"]}", "bad.json:"},     /* lone surrogate */
        {"{\"vocab_size\": 1, \"vocab_size\": 1, \"itos\": [\"a\"]}", "bad.json: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = tmp_path("bad.json");
        write_bytes(path, cases[i].json, strlen(cases[i].json));
        char want[300];
        snprintf(want, sizeof want, "%s%s", g_dir, "/");   /* messages name the file by its path */
        NgCharTokenizer tok;
        int rc = ng_chartok_load_meta(&tok, path);
        CHECK(rc == -1 && strstr(ng_errmsg(), want) == ng_errmsg() && err_has(cases[i].want) && !strchr(ng_errmsg(), '\n'),
              "hostile meta.json %zu: %s", i, cases[i].json);
        CHECK(tok.vocab_size == 0 && tok.itos == NULL && tok.cps == NULL, "rejected meta leaves tok empty");
        if (rc == 0) ng_chartok_free(&tok);
    }
    NgCharTokenizer tok;
    CHECK(ng_chartok_load_meta(&tok, tmp_path("does_not_exist.json")) == -1 && err_has("does_not_exist.json: cannot open"), "missing meta");
}

/* ---------------------------------------------------------------------------------------- */

static void test_prepare(void) {
    const char *input = "data/shakespeare_char/input.txt";
    struct stat st;
    if (stat(input, &st) != 0) { CHECK(0, "%s not found (run from the repository root)", input); return; }
    CHECK(st.st_size == 1115394, "tinyshakespeare is %lld bytes", (long long)st.st_size);
    const char *out = tmp_path("shakespeare_char");
    char out_dir[512];
    snprintf(out_dir, sizeof out_dir, "%s/sub", out);   /* also checks that prepare makes parents */
    int rc = ng_prepare_char(input, out_dir, 1);
    CHECK(rc == 0, "prepare: %s", ng_errmsg());
    if (rc) return;
    char p[600];
    NgCharTokenizer tok;
    snprintf(p, sizeof p, "%s/meta.json", out_dir);
    rc = ng_chartok_load_meta(&tok, p);
    CHECK(rc == 0 && tok.vocab_size == 65, "meta vocab %d: %s", tok.vocab_size, rc ? ng_errmsg() : "");
    if (rc == 0) {
        CHECK(strcmp(tok.itos[0], "\n") == 0 && strcmp(tok.itos[1], " ") == 0 && strcmp(tok.itos[64], "z") == 0 &&
              strcmp(tok.itos[18], "F") == 0, "itos matches nanoGPT's chars");
        ng_chartok_free(&tok);
    }
    NgTokenFile tr, va;
    snprintf(p, sizeof p, "%s/train.bin", out_dir);
    rc = ng_tokenfile_open(&tr, p, 65, 256);
    CHECK(rc == 0 && tr.n_tokens == 1003854, "train has %zu tokens: %s", tr.n_tokens, rc ? ng_errmsg() : "");
    if (rc == 0) {
        const int want[8] = {18, 47, 56, 57, 58, 1, 15, 47};   /* "First Ci" in nanoGPT */
        int ok = 1;
        for (int i = 0; i < 8; i++) ok &= tr.tokens[i] == want[i];
        CHECK(ok, "first train tokens %d %d %d %d %d %d %d %d", tr.tokens[0], tr.tokens[1], tr.tokens[2],
              tr.tokens[3], tr.tokens[4], tr.tokens[5], tr.tokens[6], tr.tokens[7]);
        ng_tokenfile_close(&tr);
    }
    snprintf(p, sizeof p, "%s/val.bin", out_dir);
    rc = ng_tokenfile_open(&va, p, 65, 256);
    CHECK(rc == 0 && va.n_tokens == 111540, "val has %zu tokens: %s", va.n_tokens, rc ? ng_errmsg() : "");
    ng_tokenfile_close(&va);
    /* no temporary files left behind */
    snprintf(p, sizeof p, "%s/train.bin.tmp.%d", out_dir, (int)getpid());
    CHECK(access(p, F_OK) != 0, "no .tmp left");

    /* split by characters, not bytes: 10 code points of 2 bytes -> 9 + 1 tokens */
    const char *small = tmp_path("small.txt");
    const char *s10 = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xce\xb1";
    write_bytes(small, s10, strlen(s10));
    const char *sd = tmp_path("small_out");
    rc = ng_prepare_char(small, sd, 0);
    CHECK(rc == 0, "prepare small: %s", ng_errmsg());
    snprintf(p, sizeof p, "%s/train.bin", sd);
    CHECK(ng_tokenfile_open(&tr, p, 2, 8) == 0 && tr.n_tokens == 9 && tr.tokens[8] == 0, "small train: %s", ng_errmsg());
    ng_tokenfile_close(&tr);
    snprintf(p, sizeof p, "%s/val.bin", sd);
    size_t vn; char *vb = ng_read_file(p, &vn);
    CHECK(vb && vn == 2 && vb[0] == 1 && vb[1] == 0, "small val is one token (id 1, little-endian)");
    free(vb);

    /* errors */
    const char *empty = tmp_path("empty.txt");
    write_bytes(empty, "", 0);
    CHECK(ng_prepare_char(empty, tmp_path("e_out"), 0) == -1 && err_has("empty.txt: empty file"), "prepare empty");
    const char *bad = tmp_path("bad.txt");
    write_bytes(bad, "abc\xed\xa0\x80", 6);
    CHECK(ng_prepare_char(bad, tmp_path("b_out"), 0) == -1 && err_has("bad.txt: not valid UTF-8 at byte 3 (surrogate"), "prepare bad utf8");
    CHECK(ng_prepare_char(tmp_path("nope.txt"), tmp_path("n_out"), 0) == -1 && err_has("nope.txt: cannot open"), "prepare missing");
    /* more than 65536 distinct characters cannot be uint16 ids */
    NgStr big = {0};
    char cbuf[8];
    for (uint32_t cp = 0x4E00; cp < 0x4E00 + 65537; cp++) {
        uint32_t c = cp >= 0xD800 ? cp + 0x800 : cp;  /* skip the surrogates */
        ng_utf8_encode(c, cbuf);
        ng_str_printf(&big, "%s", cbuf);
    }
    const char *bigf = tmp_path("big.txt");
    write_bytes(bigf, big.s, big.len);
    free(big.s);
    CHECK(ng_prepare_char(bigf, tmp_path("big_out"), 0) == -1 && err_has("big.txt: 65537 distinct characters"), "vocab > 65536");
}

/* ---------------------------------------------------------------------------------------
 * a prepare that fails part-way leaves the previous dataset as it was */

/* the three files of the dataset in dir, concatenated (NULL if one is missing) */
static char *dataset_bytes(const char *dir, size_t *n) {
    NgStr s = {0};
    static const char *const names[] = {"train.bin", "val.bin", "meta.json"};
    for (int i = 0; i < 3; i++) {
        char p[600];
        size_t k;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        char *b = ng_read_file(p, &k);
        if (!b) { free(s.s); return NULL; }
        ng_str_printf(&s, "%s:%zu:", names[i], k);
        ng_str_append(&s, b, k);
        free(b);
    }
    return ng_str_take(&s, n);
}

static int dataset_is(const char *dir, const char *want, size_t want_n) {
    size_t n;
    char *b = dataset_bytes(dir, &n);
    int ok = b && want && n == want_n && memcmp(b, want, n) == 0;
    free(b);
    return ok;
}

static int prep_char(const char *in, const char *out) { return ng_prepare_char(in, out, 0); }
static int prep_gpt2(const char *in, const char *out) { return ng_prepare_gpt2(in, out, 0, 4096); }

static void prepare_fails_cleanly(const char *kind, int (*prepare)(const char *, const char *)) {
    char dir[300], old_txt[300], new_txt[300];
    snprintf(dir, sizeof dir, "%s/keep_%s", g_dir, kind);
    snprintf(old_txt, sizeof old_txt, "%s/old_%s.txt", g_dir, kind);
    snprintf(new_txt, sizeof new_txt, "%s/new_%s.txt", g_dir, kind);
    write_bytes(old_txt, "abcabcabcabc abc\n", 17);
    NgStr big = {0};
    for (int i = 0; i < 20000; i++) ng_str_printf(&big, "the quick brown fox %d\n", i);
    write_bytes(new_txt, big.s, big.len);
    free(big.s);
    CHECK(prepare(old_txt, dir) == 0, "%s: prepare the previous dataset: %s", kind, ng_errmsg());
    size_t n0;
    char *before = dataset_bytes(dir, &n0);
    CHECK(before != NULL, "%s: the previous dataset has its three files", kind);

    /* a writer that never commits (a prepare that stops before the end) */
    NgDatasetWriter *w = malloc(sizeof *w);
    int ids[3] = {1, 2, 3};
    CHECK(ng_dataset_writer_open(w, dir) == 0 && ng_dataset_append(w, 0, ids, 3) == 0 && ng_dataset_append(w, 1, ids, 3) == 0,
          "writer: %s", ng_errmsg());
    CHECK(test_tmp_files(dir) == 2, "train.bin and val.bin are temporaries while written (%d)", test_tmp_files(dir));
    ng_dataset_writer_close(w);
    free(w);
    CHECK(dataset_is(dir, before, n0) && test_tmp_files(dir) == 0, "%s: a writer closed without commit changes nothing", kind);

    /* meta.json cannot be written after train.bin and val.bin are complete: none of the
     * three is replaced (its temporary name is taken by a directory) */
    char blocker[400];
    snprintf(blocker, sizeof blocker, "%s/meta.json.tmp.%d", dir, (int)getpid());
    CHECK(mkdir(blocker, 0755) == 0, "mkdir %s", blocker);
    CHECK(prepare(new_txt, dir) == -1 && err_has("meta.json: cannot create"), "%s: prepare fails at meta.json", kind);
    rmdir(blocker);
    CHECK(dataset_is(dir, before, n0), "%s: train.bin, val.bin and meta.json are the previous ones", kind);
    CHECK(test_tmp_files(dir) == 0, "%s: the finished temporaries were removed (%d left)", kind, test_tmp_files(dir));

    /* the disk fills up while train.bin is written (RLIMIT_FSIZE: write fails with EFBIG) */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct rlimit lim = {100 * 1000, old.rlim_max};
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        int rc = prepare(new_txt, dir);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(rc == -1 && err_has("train.bin: write failed"), "%s: prepare fails on a full disk", kind);
        CHECK(dataset_is(dir, before, n0) && test_tmp_files(dir) == 0, "%s: the previous dataset is intact after a failed write", kind);
    }
    signal(SIGXFSZ, prev);

    /* and a prepare that completes replaces all three, consistently */
    CHECK(prepare(new_txt, dir) == 0, "%s: prepare: %s", kind, ng_errmsg());
    CHECK(!dataset_is(dir, before, n0) && test_tmp_files(dir) == 0, "%s: replaced", kind);
    static const char *const names[2] = {"train.bin", "val.bin"};
    for (int k = 0; k < 2; k++) {
        char p[400], meta[400];
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        snprintf(meta, sizeof meta, "%s/meta.json", dir);
        NgTokenFile f;
        CHECK(ng_tokenfile_open(&f, p, 65536, 8) == 0 && ng_tokenfile_check_record(&f, meta, names[k]) == 0,
              "%s: the new %s matches the new meta.json: %s", kind, names[k], ng_errmsg());
        ng_tokenfile_close(&f);
    }
    free(before);
}

static void test_prepare_fails_cleanly(void) {
    prepare_fails_cleanly("char", prep_char);
    prepare_fails_cleanly("gpt2", prep_gpt2);
}

static void test_tokenfile(void) {
    uint16_t toks[64];
    for (int i = 0; i < 64; i++) toks[i] = (uint16_t)i;
    const char *p = tmp_path("toks.bin");
    write_bytes(p, toks, sizeof toks);
    NgTokenFile f;
    int rc = ng_tokenfile_open(&f, p, 64, 63);
    CHECK(rc == 0 && f.n_tokens == 64 && f.tokens[63] == 63 && strcmp(f.path, p) == 0, "open: %s", ng_errmsg());
    ng_tokenfile_close(&f);
    ng_tokenfile_close(&f);   /* idempotent */
    CHECK(ng_tokenfile_open(&f, p, 64, 64) == -1 && err_has("toks.bin: has 64 tokens, needs at least block_size+1 = 65"), "too few tokens");
    CHECK(ng_tokenfile_open(&f, p, 63, 8) == -1 && err_has("toks.bin: token id 63 at position 63 is >= vocab_size 63"), "id >= vocab");
    CHECK(ng_tokenfile_open(&f, p, 10, 8) == -1 && err_has("toks.bin: token id 10 at position 10 is >= vocab_size 10"), "first bad id");
    CHECK(ng_tokenfile_open(&f, p, 0, 8) == -1 && err_has("vocab_size must be positive"), "vocab 0");
    CHECK(ng_tokenfile_open(&f, p, 64, 0) == -1 && err_has("block_size must be positive"), "block 0");
    CHECK(f.tokens == NULL && f.map == NULL, "failed open leaves f empty");
    toks[5] = 65535;   /* any id is fine once vocab_size covers the whole uint16 range */
    write_bytes(p, toks, sizeof toks);
    CHECK(ng_tokenfile_open(&f, p, 65536, 8) == 0 && f.tokens[5] == 65535, "vocab 65536 accepts 65535");
    ng_tokenfile_close(&f);
    CHECK(ng_tokenfile_open(&f, p, 50304, 8) == -1 && err_has("token id 65535 at position 5 is >= vocab_size 50304"), "gpt2 vocab");

    const char *odd = tmp_path("odd.bin");
    write_bytes(odd, toks, 63);
    CHECK(ng_tokenfile_open(&f, odd, 64, 8) == -1 && err_has("odd.bin: odd byte count 63"), "odd byte count");
    const char *empty = tmp_path("empty.bin");
    write_bytes(empty, "", 0);
    CHECK(ng_tokenfile_open(&f, empty, 64, 8) == -1 && err_has("empty.bin: has 0 tokens, needs at least block_size+1 = 9"), "empty");
    CHECK(ng_tokenfile_open(&f, tmp_path("none.bin"), 64, 8) == -1 && err_has("none.bin: cannot open"), "missing");
    CHECK(ng_tokenfile_open(&f, g_dir, 64, 8) == -1 && err_has("not a regular file"), "directory");

    /* a larger file exercises the threaded scan: bad id near the end */
    size_t n = 3000000;
    uint16_t *big = malloc(n * 2);
    for (size_t i = 0; i < n; i++) big[i] = (uint16_t)(i % 97);
    big[n - 3] = 200; big[n - 1] = 300;
    const char *bp = tmp_path("big.bin");
    write_bytes(bp, big, n * 2);
    free(big);
    CHECK(ng_tokenfile_open(&f, bp, 97, 1024) == -1 && err_has("token id 200 at position 2999997 is >= vocab_size 97"), "big scan");
    CHECK(ng_tokenfile_open(&f, bp, 301, 1024) == 0 && f.n_tokens == n, "big ok");
    ng_tokenfile_close(&f);
}

/* llm.c token shards: 256 x int32 header {20240520, 1, num_tokens, 0...} + uint16 tokens */
static void write_shard(const char *path, int32_t magic, int32_t version, int32_t claimed, const uint16_t *toks, size_t n) {
    int32_t h[256] = {0};
    h[0] = magic; h[1] = version; h[2] = claimed;
    FILE *fp = fopen(path, "wb");
    if (!fp) { perror(path); exit(1); }
    fwrite(h, sizeof h, 1, fp);
    if (n) fwrite(toks, 2, n, fp);
    fclose(fp);
}

static void test_llmc_shard(void) {
    uint16_t toks[100];
    for (int i = 0; i < 100; i++) toks[i] = (uint16_t)(i * 7 % 50);
    NgTokenFile f;
    const char *p = tmp_path("shard.bin");
    write_shard(p, 20240520, 1, 100, toks, 100);
    int rc = ng_tokenfile_open(&f, p, 50, 16);
    CHECK(rc == 0 && f.n_tokens == 100 && f.tokens[0] == 0 && f.tokens[99] == toks[99] && f.tokens[1] == 7,
          "valid shard: %s", rc ? ng_errmsg() : "wrong tokens");
    if (rc == 0) {   /* get_batch reads only tokens, never the header */
        NgRng rng; ng_rng_seed(&rng, 1);
        int x[4 * 16], y[4 * 16], ok = 1;
        for (int k = 0; k < 50; k++) {
            ng_get_batch(&f, &rng, 4, 16, x, y);
            for (int i = 0; i < 4 * 16; i++) ok &= x[i] < 50 && y[i] < 50 && (y[i] == (x[i] + 7) % 50);
        }
        CHECK(ok, "shard batches are windows of the tokens");
    }
    ng_tokenfile_close(&f);
    CHECK(ng_tokenfile_open(&f, p, 49, 16) == -1 && err_has("shard.bin: token id 49 at position 7 is >= vocab_size 49"), "shard: id check, position after the header");
    CHECK(ng_tokenfile_open(&f, p, 50, 100) == -1 && err_has("has 100 tokens, needs at least block_size+1 = 101"), "shard: too few tokens");

    const char *t = tmp_path("shard_trunc.bin");
    write_shard(t, 20240520, 1, 100, toks, 99);
    CHECK(ng_tokenfile_open(&f, t, 50, 16) == -1 && err_has("shard_trunc.bin: llm.c token shard header says 100 tokens (1224 bytes) but the file has 1222 bytes (truncated?)"), "shard: truncated");
    write_shard(t, 20240520, 1, 90, toks, 100);
    CHECK(ng_tokenfile_open(&f, t, 50, 16) == -1 && err_has("header says 90 tokens (1204 bytes) but the file has 1224 bytes"), "shard: too long");
    write_shard(t, 20240520, 1, -5, toks, 100);
    CHECK(ng_tokenfile_open(&f, t, 50, 16) == -1 && err_has("header says -5 tokens"), "shard: negative count");
    const char *v = tmp_path("shard_v2.bin");
    write_shard(v, 20240520, 2, 100, toks, 100);
    CHECK(ng_tokenfile_open(&f, v, 50, 16) == -1 && err_has("shard_v2.bin: llm.c token shard version 2 is not supported"), "shard: wrong version");
    CHECK(!strchr(ng_errmsg(), '\n'), "one line");

    /* no magic, or a nonzero header tail: a raw nanoGPT file (the header read as tokens) */
    const char *r = tmp_path("raw_like.bin");
    write_shard(r, 12345, 1, 100, toks, 100);
    CHECK(ng_tokenfile_open(&f, r, 65536, 16) == 0 && f.n_tokens == 512 + 100 && f.tokens[0] == 12345, "no magic: raw");
    ng_tokenfile_close(&f);
    uint16_t raw[600] = {0};
    raw[0] = 0x0520; raw[1] = 0x0134;   /* 20240520 as little-endian int32 */
    raw[2] = 1; raw[4] = 100; raw[300] = 9;
    write_bytes(r, raw, sizeof raw);
    CHECK(ng_tokenfile_open(&f, r, 65536, 16) == 0 && f.n_tokens == 600, "magic but header tail nonzero: raw");
    ng_tokenfile_close(&f);
    write_bytes(r, raw, 600);   /* magic, shorter than a header: raw */
    CHECK(ng_tokenfile_open(&f, r, 65536, 16) == 0 && f.n_tokens == 300, "magic, short file: raw");
    ng_tokenfile_close(&f);
}

static void test_get_batch(void) {
    /* tokens[i] = i % 1000, so a window's start is readable from its values */
    const size_t n = 5000;
    uint16_t *toks = malloc(n * 2);
    for (size_t i = 0; i < n; i++) toks[i] = (uint16_t)(i % 1000);
    const char *p = tmp_path("batch.bin");
    write_bytes(p, toks, n * 2);
    NgTokenFile f;
    int rc = ng_tokenfile_open(&f, p, 1000, 64);
    CHECK(rc == 0, "open: %s", ng_errmsg());
    if (rc) { free(toks); return; }
    enum { B = 16, T = 64 };
    int x[B * T], y[B * T];
    NgRng rng; ng_rng_seed(&rng, 1337);
    int shifted = 1, contiguous = 1;
    for (int iter = 0; iter < 50; iter++) {
        ng_get_batch(&f, &rng, B, T, x, y);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                if (t + 1 < T && y[b * T + t] != x[b * T + t + 1]) shifted = 0;
                if (y[b * T + t] != (x[b * T + t] + 1) % 1000) contiguous = 0;
            }
    }
    CHECK(shifted, "y[t] == x[t+1]");
    CHECK(contiguous, "windows are contiguous runs of the file");
    /* same seed, same batches */
    int x2[B * T], y2[B * T];
    NgRng r1, r2; ng_rng_seed(&r1, 7); ng_rng_seed(&r2, 7);
    ng_get_batch(&f, &r1, B, T, x, y);
    ng_get_batch(&f, &r2, B, T, x2, y2);
    CHECK(memcmp(x, x2, sizeof x) == 0 && memcmp(y, y2, sizeof y) == 0, "get_batch reproducible");
    ng_tokenfile_close(&f);

    /* window starts cover exactly [0, n - T): with n = T + 3, starts are 0, 1, 2 */
    const int T2 = 8;
    write_bytes(p, toks, (size_t)(T2 + 3) * 2);
    rc = ng_tokenfile_open(&f, p, 1000, T2);
    CHECK(rc == 0, "open small: %s", ng_errmsg());
    if (rc == 0) {
        int seen[16] = {0}, in_bounds = 1;
        int xs[4 * 8], ys[4 * 8];
        for (int iter = 0; iter < 3000; iter++) {
            ng_get_batch(&f, &rng, 4, T2, xs, ys);
            for (int b = 0; b < 4; b++) {
                int start = xs[b * T2];
                if (start < 0 || start > 2 || ys[b * T2 + T2 - 1] != start + T2) in_bounds = 0;
                else seen[start]++;
            }
        }
        CHECK(in_bounds, "every window lies within the file");
        CHECK(seen[0] > 3500 && seen[1] > 3500 && seen[2] > 3500, "all starts drawn about equally: %d %d %d", seen[0], seen[1], seen[2]);
        ng_tokenfile_close(&f);
    }
    /* the smallest legal file: n = T + 1, the only window starts at 0 */
    write_bytes(p, toks, (size_t)(T2 + 1) * 2);
    if (ng_tokenfile_open(&f, p, 1000, T2) == 0) {
        int xs[2 * 8], ys[2 * 8];
        ng_get_batch(&f, &rng, 2, T2, xs, ys);
        CHECK(xs[0] == 0 && xs[8] == 0 && ys[7] == 8 && ys[15] == 8, "n = T+1: one window");
        ng_tokenfile_close(&f);
    } else CHECK(0, "open n=T+1: %s", ng_errmsg());
    free(toks);
}

/* Files over 4 GiB (sparse, so this takes no disk): only with NG_TEST_BIG=1, it reads 4 GiB. */
static void test_big_file(void) {
    if (!getenv("NG_TEST_BIG")) return;
    const char *p = tmp_path("huge.bin");
    FILE *fp = fopen(p, "wb");
    size_t n = ((size_t)1 << 31) + 5;   /* tokens: 4 GiB + 10 bytes */
    uint16_t last = 7;
    if (!fp || fseeko(fp, (off_t)(n - 1) * 2, SEEK_SET) != 0 || fwrite(&last, 2, 1, fp) != 1) { CHECK(0, "sparse file"); if (fp) fclose(fp); return; }
    fclose(fp);
    NgTokenFile f;
    int rc = ng_tokenfile_open(&f, p, 8, 1024);
    CHECK(rc == 0 && f.n_tokens == n && f.tokens[n - 1] == 7, "4 GiB token file: %s", rc ? ng_errmsg() : "");
    if (rc == 0) {
        NgRng r; ng_rng_seed(&r, 3);
        int x[4 * 16], y[4 * 16];
        ng_get_batch(&f, &r, 4, 16, x, y);
        ng_tokenfile_close(&f);
    }
    CHECK(ng_tokenfile_open(&f, p, 7, 1024) == -1 && err_has("token id 7 at position 2147483652"), "4 GiB bad id position");
    unlink(p);
}

/* ---------------------------------------------------------------------------------------- */

static void test_rng(void) {
    /* splitmix64's reference output for seed 0 */
    NgRng r; ng_rng_seed(&r, 0);
    CHECK(ng_rng_u64(&r) == 0xE220A8397B1DCDAFull, "splitmix64 reference value");
    CHECK(ng_hash64(0) == 0, "hash64(0)");
    CHECK(ng_hash64(1) != ng_hash64(2), "hash64 differs");

    NgRng a, b, c; ng_rng_seed(&a, 42); ng_rng_seed(&b, 42); ng_rng_seed(&c, 43);
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ng_rng_u64(&a), y = ng_rng_u64(&b), z = ng_rng_u64(&c);
        same &= x == y; differ += x != z;
    }
    CHECK(same, "same seed -> same sequence");
    CHECK(differ > 990, "different seed -> different sequence");
    /* the state is the whole generator: copying it continues the same stream */
    NgRng saved = a;
    uint64_t next = ng_rng_u64(&a);
    CHECK(ng_rng_u64(&saved) == next, "state copy resumes the stream");

    NgRng u; ng_rng_seed(&u, 123);
    double sum = 0; int in_range = 1;
    const int N = 100000;
    for (int i = 0; i < N; i++) { float v = ng_rng_uniform(&u); in_range &= v >= 0.0f && v < 1.0f; sum += v; }
    CHECK(in_range, "uniform in [0,1)");
    CHECK(fabs(sum / N - 0.5) < 0.01, "uniform mean %f", sum / N);

    NgRng g; ng_rng_seed(&g, 2024);
    double s1 = 0, s2 = 0; int finite = 1;
    for (int i = 0; i < N; i++) { float v = ng_rng_normal(&g); finite &= isfinite(v); s1 += v; s2 += (double)v * v; }
    double mean = s1 / N, std = sqrt(s2 / N - mean * mean);
    CHECK(finite, "normal finite");
    CHECK(fabs(mean) < 0.02, "normal mean %f", mean);
    CHECK(fabs(std - 1.0) < 0.02, "normal std %f", std);
    NgRng g1, g2; ng_rng_seed(&g1, 5); ng_rng_seed(&g2, 5);
    int nsame = 1;
    for (int i = 0; i < 100; i++) nsame &= ng_rng_normal(&g1) == ng_rng_normal(&g2);
    CHECK(nsame, "normal reproducible");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ng_test_data.XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_utf8();
    test_vocab();
    test_meta_roundtrip();
    test_meta_hostile();
    test_prepare();
    test_prepare_fails_cleanly();
    test_tokenfile();
    test_llmc_shard();
    test_get_batch();
    test_big_file();
    test_rng();
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_END();
}
