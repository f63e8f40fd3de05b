/* test_safetensors.c -- the JSON reader (positive and negative cases), the safetensors
 * writer/reader round trip, a table of hostile files that must each be rejected with a
 * specific message, atomic saves that fail without touching the previous file, and files
 * finished first and committed together (NgAtomicFile's finish/commit). */
#include "base/json.h"
#include "nanogpt.h"
#include "formats/safetensors.h"
#include "base/util.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * JSON */

static char jerr[256];

/* Parses a NUL-terminated test string (the parser itself never needs the NUL). */
static JsonValue *jp(const char *s) { return ng_json_parse(s, strlen(s), jerr, sizeof jerr); }

/* 1 if s is rejected with an error message containing `want`. */
static int jbad(const char *s, size_t n, const char *want) {
    JsonValue *v = ng_json_parse(s, n, jerr, sizeof jerr);
    if (v) { ng_json_free(v); fprintf(stderr, "  accepted: %.*s\n", (int)n, s); return 0; }
    if (!strstr(jerr, want)) { fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", jerr, want); return 0; }
    return strncmp(jerr, "byte ", 5) == 0;
}
#define JBAD(s, want) CHECK(jbad(s, strlen(s), want), "%s", s)

/* A number parses to the given double / exact integer. */
static int jnum(const char *s, double d, int is_int, int64_t i) {
    JsonValue *v = jp(s);
    int ok = v && v->type == JSON_NUMBER && v->number == d && v->is_integer == is_int && (!is_int || v->integer == i);
    ng_json_free(v);
    return ok;
}

/* A string parses to exactly these bytes. */
static int jstr(const char *s, const char *want, size_t want_len) {
    JsonValue *v = jp(s);
    int ok = v && v->type == JSON_STRING && v->string_len == want_len && memcmp(v->string, want, want_len) == 0 &&
             v->string[want_len] == 0;
    ng_json_free(v);
    return ok;
}

/* depth nested arrays: [[[...]]] */
static char *nested(int depth) {
    char *s = malloc(2 * (size_t)depth + 1);
    for (int i = 0; i < depth; i++) { s[i] = '['; s[2 * depth - 1 - i] = ']'; }
    s[2 * depth] = 0;
    return s;
}

static void test_json(void) {
    /* structure */
    JsonValue *v = jp(" {\"a\": 1, \"b\" : [true, false, null], \"c\":\"x\", \"d\":{}, \"e\":[]} \n");
    CHECK(v && v->type == JSON_OBJECT && v->n == 5, "object: %s", jerr);
    if (v) {
        const JsonValue *b = ng_json_get(v, "b");
        CHECK(ng_json_get(v, "a") && ng_json_get(v, "a")->is_integer && ng_json_get(v, "a")->integer == 1, "a");
        CHECK(b && b->type == JSON_ARRAY && b->n == 3 && b->items[0].type == JSON_BOOL && b->items[0].number == 1 &&
              b->items[1].number == 0 && b->items[2].type == JSON_NULL, "b");
        CHECK(ng_json_get(v, "c") && strcmp(ng_json_get(v, "c")->string, "x") == 0, "c");
        CHECK(ng_json_get(v, "d")->type == JSON_OBJECT && ng_json_get(v, "d")->n == 0, "d");
        CHECK(ng_json_get(v, "e")->type == JSON_ARRAY && ng_json_get(v, "e")->n == 0, "e");
        CHECK(ng_json_get(v, "zz") == NULL && ng_json_get(b, "a") == NULL, "json_get on absent key / non-object");
        CHECK(strcmp(v->keys[0], "a") == 0 && strcmp(v->keys[4], "e") == 0, "keys keep their order");
    }
    ng_json_free(v);
    v = jp("\"top\""); CHECK(v && v->type == JSON_STRING, "scalar at top level"); ng_json_free(v);
    v = jp("null"); CHECK(v && v->type == JSON_NULL, "null at top level"); ng_json_free(v);
    /* input need not be NUL-terminated: only n bytes are read */
    v = ng_json_parse("[1,2]xyz", 5, jerr, sizeof jerr); CHECK(v && v->n == 2, "prefix of a buffer"); ng_json_free(v);
    CHECK(jnum("123", 123, 1, 123), "123");
    { JsonValue *t = ng_json_parse("123", 2, jerr, sizeof jerr); CHECK(t && t->integer == 12, "only 2 bytes read"); ng_json_free(t); }

    /* numbers */
    CHECK(jnum("0", 0, 1, 0), "0");
    CHECK(jnum("-0", 0, 1, 0), "-0");
    CHECK(jnum("-42", -42, 1, -42), "-42");
    CHECK(jnum("9223372036854775807", 9223372036854775807.0, 1, INT64_MAX), "int64 max exact");
    CHECK(jnum("-9223372036854775808", -9223372036854775808.0, 1, INT64_MIN), "int64 min exact");
    CHECK(jnum("9223372036854775808", 9223372036854775808.0, 0, 0), "int64 max + 1 is not an integer");
    CHECK(jnum("123456789012345678901234567890", 123456789012345678901234567890.0, 0, 0), "huge integer -> double");
    CHECK(jnum("1.5", 1.5, 0, 0), "1.5");
    CHECK(jnum("1e3", 1000, 0, 0), "1e3 is not an integer");
    CHECK(jnum("-1.25e-2", -0.0125, 0, 0), "-1.25e-2");
    CHECK(jnum("2E+2", 200, 0, 0), "2E+2");
    CHECK(jnum("1e-400", 0, 0, 0), "underflow is 0");
    JBAD("01", "leading zero");
    JBAD("-", "expected a digit");
    JBAD("1.", "after '.'");
    JBAD(".5", "unexpected '.'");
    JBAD("+1", "unexpected '+'");
    JBAD("1e", "exponent");
    JBAD("1e+", "exponent");
    JBAD("1e999", "out of range");
    JBAD("-1e999", "out of range");
    JBAD("NaN", "unexpected 'N'");
    JBAD("Infinity", "unexpected 'I'");

    /* strings and escapes */
    CHECK(jstr("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8), "simple escapes");
    CHECK(jstr("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6), "\\u escapes to UTF-8");
    CHECK(jstr("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4), "surrogate pair");
    CHECK(jstr("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4), "last code point");
    CHECK(jstr("\"a\\u0000b\"", "a\0b", 3), "\\u0000 inside a value");
    CHECK(jstr("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xf0\x9f\x98\x80", 10), "raw UTF-8");
    CHECK(jstr("\"\x7f\"", "\x7f", 1), "DEL needs no escape");
    JBAD("\"abc", "unterminated string");
    JBAD("\"abc\\", "unterminated string");
    JBAD("\"\\x\"", "invalid escape");
    JBAD("\"\\u12\"", "invalid hex digit");
    JBAD("\"\\u12G4\"", "invalid hex digit");
    JBAD("\"\\ud800\"", "not followed by a low surrogate");
    JBAD("\"\\ud800\\u0041\"", "not a low surrogate");
    JBAD("\"\\ud800\\ud800\"", "not a low surrogate");
    JBAD("\"\\udc00\"", "lone low surrogate");
    JBAD("\"\\ud83d\\ude0\"", "invalid hex digit");
    JBAD("\"a\tb\"", "control character");
    JBAD("\"a\nb\"", "control character");
    JBAD("\"\xff\"", "invalid UTF-8");
    JBAD("\"\xc0\xaf\"", "invalid UTF-8");        /* overlong '/' */
    JBAD("\"\xed\xa0\x80\"", "invalid UTF-8");    /* UTF-8 encoded surrogate */
    JBAD("\"\xf4\x90\x80\x80\"", "invalid UTF-8");/* > U+10FFFF */
    JBAD("\"\xe2\x82\"", "invalid UTF-8");        /* truncated sequence */
    CHECK(jbad("\"ab\0c\"", 6, "control character"), "raw NUL in string");

    /* syntax */
    JBAD("", "end of input");
    JBAD("   ", "end of input");
    JBAD("[1,]", "byte 3: unexpected ']'");
    JBAD("[1 2]", "expected ',' or ']'");
    JBAD("[1,2", "unterminated array");
    JBAD("{\"a\":1,}", "expected a string key");
    JBAD("{\"a\" 1}", "expected ':'");
    JBAD("{a:1}", "expected a string key");
    JBAD("{\"a\":1", "unterminated object");
    JBAD("['x']", "unexpected '''");
    JBAD("tru", "invalid literal");
    JBAD("nul", "invalid literal");
    JBAD("[1] x", "byte 4: unexpected 'x' after the JSON value");
    JBAD("{}{}", "after the JSON value");
    JBAD("\xef\xbb\xbf{}", "unexpected byte 0xef");  /* BOM */
    JBAD("[1] /* c */", "after the JSON value");
    JBAD("{\"a\\u0000b\":1}", "\\u0000");
    /* duplicate keys, also among many and after escapes */
    JBAD("{\"a\":1,\"a\":2}", "byte 7: duplicate key \"a\"");
    JBAD("{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k2\":5}", "byte 29: duplicate key \"k2\"");
    JBAD("{\"a\":1,\"b\":2,\"\\u0061\":3}", "duplicate key \"a\"");
    JBAD("{\"x\":{\"a\":1,\"a\":1}}", "duplicate key");
    v = jp("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"); CHECK(v != NULL, "same key in different objects is fine: %s", jerr); ng_json_free(v);
    /* nesting limit: 64 levels parse, 65 do not */
    char *s64 = nested(64), *s65 = nested(65), *s10k = nested(10000);
    v = jp(s64); CHECK(v != NULL, "64 levels: %s", jerr); ng_json_free(v);
    JBAD(s65, "nesting deeper than 64");
    JBAD(s10k, "nesting deeper than 64");
    free(s64); free(s65); free(s10k);
    /* NULL / zero-length input */
    CHECK(ng_json_parse(NULL, 0, jerr, sizeof jerr) == NULL && strstr(jerr, "byte 0"), "empty input");
    { JsonValue *t = ng_json_parse("x", 1, NULL, 0); CHECK(t == NULL, "error without a buffer"); }
    ng_json_free(NULL);
    { JsonValue *t = ng_json_parse("1", 1, NULL, 0); ng_json_free(t); }
}

/* ---------------------------------------------------------------------------------------
 * safetensors helpers */

static char dir[256];

/* An in-memory safetensors image: 8-byte header length, header, data_len bytes 0xAB. */
static uint8_t *image(const char *header, size_t data_len, size_t *size) {
    size_t h = strlen(header);
    *size = 8 + h + data_len;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, 0xAB, data_len);
    return b;
}

/* 1 if the header (with data_len data bytes) is rejected with a message containing want. */
static int st_bad(const char *header, size_t data_len, const char *want) {
    size_t n;
    uint8_t *b = image(header, data_len, &n);
    NgStFile f;
    int rc = ng_st_parse(&f, b, n, "hostile.safetensors");
    int zeroed = f.tensors == NULL && f.n_tensors == 0 && f.meta_keys == NULL && f.buf == NULL;
    free(b);
    if (rc == 0) { fprintf(stderr, "  accepted: %s\n", header); ng_st_close(&f); return 0; }
    const char *msg = ng_errmsg();
    if (!strstr(msg, want) || strncmp(msg, "hostile.safetensors: ", 21) != 0 || strchr(msg, '\n')) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", msg, want);
        return 0;
    }
    return zeroed;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, fp);
    fclose(fp);
    return b;
}

/* Number of "*.tmp.*" files left in the test directory. */
static int tmp_files_left(void) { return test_tmp_files(dir); }

/* ---------------------------------------------------------------------------------------
 * round trip */

static void test_round_trip(void) {
    float a[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 6};
    uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    int64_t l[4] = {INT64_MIN, -1, 0, INT64_MAX};
    uint8_t u = 200;
    uint16_t bf[3] = {0x3f80, 0x4000, 0xbf80};
    double dd[2] = {3.141592653589793, -1e300};
    int64_t sa[2] = {2, 3}, sh[1] = {4}, sl[2] = {2, 2}, se[2] = {0, 5}, sbf[1] = {3}, sd[3] = {1, 2, 1};

    NgStWriter *w = ng_st_writer_new();
    CHECK(ng_st_writer_add(w, "transformer.wte.weight", NG_F32, 2, sa, a) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_add(w, "half", NG_F16, 1, sh, h) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_add(w, "longs", NG_I64, 2, sl, l) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_add(w, "scalar", NG_U8, 0, NULL, &u) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_add(w, "empty", NG_BOOL_DT, 2, se, NULL) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_add(w, "bf", NG_BF16, 1, sbf, bf) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_add(w, "caf\xc3\xa9 \"q\"", NG_F64, 3, sd, dd) == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_meta(w, "format", "pt") == 0, "%s", ng_errmsg());
    CHECK(ng_st_writer_meta(w, "config", "{\"n_layer\": 2}\n\ttab\\") == 0, "%s", ng_errmsg());
    /* writer errors */
    CHECK(ng_st_writer_add(w, "half", NG_F32, 1, sh, a) < 0 && strstr(ng_errmsg(), "duplicate"), "duplicate name: %s", ng_errmsg());
    int64_t neg[1] = {-1}, big[3] = {INT64_MAX, INT64_MAX, 2};
    CHECK(ng_st_writer_add(w, "neg", NG_F32, 1, neg, a) < 0 && strstr(ng_errmsg(), "negative"), "negative dim");
    CHECK(ng_st_writer_add(w, "big", NG_F32, 3, big, a) < 0 && strstr(ng_errmsg(), "overflow"), "overflow");
    CHECK(ng_st_writer_add(w, "nine", NG_F32, 9, sd, a) < 0, "9 dims");
    CHECK(ng_st_writer_add(w, "__metadata__", NG_F32, 0, NULL, a) < 0, "reserved name");
    CHECK(ng_st_writer_add(w, "bad\xff", NG_F32, 0, NULL, a) < 0 && strstr(ng_errmsg(), "UTF-8"), "invalid UTF-8 name");
    CHECK(ng_st_writer_add(w, "dt", (NgDtype)99, 0, NULL, a) < 0, "unknown dtype");
    CHECK(ng_st_writer_meta(w, "format", "np") < 0 && strstr(ng_errmsg(), "duplicate"), "duplicate metadata key");

    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    CHECK(ng_st_writer_save(w, path) == 0, "save: %s", ng_errmsg());
    ng_st_writer_free(w);
    CHECK(tmp_files_left() == 0, "no temporary file left behind");

    /* the header as the reference implementation lays it out */
    size_t n;
    uint8_t *raw = read_all(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | raw[i];
    const char *want_start = "{\"__metadata__\":{\"format\":\"pt\",\"config\":\"{\\\"n_layer\\\": 2}\\n\\ttab\\\\\"},"
                             "\"transformer.wte.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},";
    CHECK(hl % 8 == 0 && hl + 8 <= n, "header padded to a multiple of 8 (%llu)", (unsigned long long)hl);
    CHECK(memcmp(raw + 8, want_start, strlen(want_start)) == 0, "header layout: %.*s", (int)hl, (const char *)raw + 8);
    CHECK(n == 8 + hl + 24 + 8 + 32 + 1 + 0 + 6 + 16, "file size %zu", n);

    NgStFile f;
    CHECK(ng_st_open(&f, path) == 0, "open: %s", ng_errmsg());
    CHECK(f.n_tensors == 7 && f.n_meta == 2 && f.buf != NULL && f.size == n, "counts");
    CHECK(strcmp(f.path, path) == 0, "path kept");
    const char *names[7] = {"transformer.wte.weight", "half", "longs", "scalar", "empty", "bf", "caf\xc3\xa9 \"q\""};
    const void *datas[7] = {a, h, l, &u, NULL, bf, dd};
    NgDtype dts[7] = {NG_F32, NG_F16, NG_I64, NG_U8, NG_BOOL_DT, NG_BF16, NG_F64};
    int ndims[7] = {2, 1, 2, 0, 2, 1, 3};
    const int64_t *shapes[7] = {sa, sh, sl, NULL, se, sbf, sd};
    uint64_t expect_begin = 0;
    for (int i = 0; i < 7 && f.n_tensors == 7; i++) {
        const NgStTensor *t = ng_st_find(&f, names[i]);
        CHECK(t == &f.tensors[i], "find %s (insertion order kept)", names[i]);
        if (!t) continue;
        size_t bytes = (size_t)(t->end - t->begin);
        int shape_ok = t->ndim == ndims[i];
        for (int d = 0; d < ndims[i] && shape_ok; d++) shape_ok = t->shape[d] == shapes[i][d];
        CHECK(t->dtype == dts[i] && shape_ok, "%s: dtype/shape", names[i]);
        CHECK(t->begin == expect_begin, "%s: contiguous offsets", names[i]);
        CHECK(bytes == 0 || memcmp(f.data + t->begin, datas[i], bytes) == 0, "%s: bytes", names[i]);
        expect_begin = t->end;
    }
    CHECK(expect_begin == f.data_size, "data section is exactly the tensors");
    CHECK(ng_st_find(&f, "nope") == NULL && ng_st_find(&f, "half ") == NULL, "absent tensor");
    CHECK(ng_st_meta(&f, "format") && strcmp(ng_st_meta(&f, "format"), "pt") == 0, "meta format");
    CHECK(ng_st_meta(&f, "config") && strcmp(ng_st_meta(&f, "config"), "{\"n_layer\": 2}\n\ttab\\") == 0, "meta config");
    CHECK(ng_st_meta(&f, "nope") == NULL, "absent meta");
    ng_st_close(&f);
    CHECK(f.tensors == NULL && f.buf == NULL && f.n_tensors == 0, "close zeroes");
    ng_st_close(&f);                                     /* twice is fine */

    /* the same image parsed from memory borrows it */
    CHECK(ng_st_parse(&f, raw, n, "mem") == 0 && f.buf == NULL && f.data == raw + 8 + hl && f.n_tensors == 7, "parse from memory");
    ng_st_close(&f);
    free(raw);

    /* exact bytes of a minimal file */
    float two[2] = {1, 2};
    int64_t s2[1] = {2};
    w = ng_st_writer_new();
    ng_st_writer_add(w, "a", NG_F32, 1, s2, two);
    snprintf(path, sizeof path, "%s/min.safetensors", dir);
    CHECK(ng_st_writer_save(w, path) == 0, "%s", ng_errmsg());
    ng_st_writer_free(w);
    raw = read_all(path, &n);
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    CHECK(n == 8 + 56 + 8 && raw[0] == 56 && raw[1] == 0 && memcmp(raw + 8, hdr, 56) == 0 && memcmp(raw + 64, two, 8) == 0,
          "minimal file bytes");
    free(raw);

    /* an empty writer makes a valid empty file */
    w = ng_st_writer_new();
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    CHECK(ng_st_writer_save(w, path) == 0, "%s", ng_errmsg());
    ng_st_writer_free(w);
    CHECK(ng_st_open(&f, path) == 0 && f.n_tensors == 0 && f.n_meta == 0 && f.size == 16, "empty file: %s", ng_errmsg());
    ng_st_close(&f);

    NgStFile z;
    memset(&z, 0, sizeof z);
    ng_st_close(&z);                                     /* zeroed struct */
    ng_st_writer_free(NULL);
    CHECK(ng_st_open(&f, "/nonexistent/x.safetensors") < 0 && f.tensors == NULL, "missing file");
    CHECK(ng_dtype_size(NG_BF16) == 2 && ng_dtype_size(NG_U64) == 8 && ng_dtype_size(NG_BOOL_DT) == 1 &&
          ng_dtype_size((NgDtype)42) == 0, "dtype sizes");
}

/* ---------------------------------------------------------------------------------------
 * hostile files */

static void test_hostile(void) {
    NgStFile f;
    /* truncated: fewer than 8 bytes */
    uint8_t five[5] = {1, 0, 0, 0, 0};
    CHECK(ng_st_parse(&f, five, 5, "t5") < 0 && strstr(ng_errmsg(), "too short"), "%s", ng_errmsg());
    CHECK(ng_st_parse(&f, NULL, 0, "t0") < 0 && strstr(ng_errmsg(), "too short"), "%s", ng_errmsg());
    /* header length beyond the file, and 2^63 */
    size_t n;
    uint8_t *b = image("{}", 0, &n);
    b[0] = 100;
    CHECK(ng_st_parse(&f, b, n, "x") < 0 && strstr(ng_errmsg(), "header length 100 goes beyond the end"), "%s", ng_errmsg());
    memset(b, 0, 8);
    b[7] = 0x80;
    CHECK(ng_st_parse(&f, b, n, "x") < 0 && strstr(ng_errmsg(), "header length 9223372036854775808 goes beyond"), "%s", ng_errmsg());
    memset(b, 0xff, 8);
    CHECK(ng_st_parse(&f, b, n, "x") < 0 && strstr(ng_errmsg(), "goes beyond"), "%s", ng_errmsg());
    free(b);
    /* a header above 100 MB is refused before it is parsed (calloc'd zero pages stay untouched) */
    size_t huge = 100000016;
    b = calloc(1, huge);
    if (b) {
        uint64_t hl = huge - 8;
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hl >> (8 * i));
        CHECK(ng_st_parse(&f, b, huge, "x") < 0 && strstr(ng_errmsg(), "absurd"), "%s", ng_errmsg());
        free(b);
    }

    struct { const char *header; size_t data; const char *want; } table[] = {
        {"{\"a\":", 0, "header is not valid JSON: byte 5:"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, "not valid JSON"},
        {"[1,2]", 0, "header is not a JSON object"},
        {"\"abc\"", 0, "header is not a JSON object"},
        {"", 0, "not valid JSON"},
        {"{\"a\":5}", 0, "tensor 'a': entry is not an object"},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing \"dtype\""},
        {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is not a string"},
        {"{\"a\":{\"dtype\":\"Q8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype 'Q8'"},
        {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'f32'"},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, "\"shape\" is not an array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "\"data_offsets\" is not an array [begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4, "not non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "not non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field 'x'"},
        /* offsets outside the data section */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "data_offsets [0, 16] outside the data section (8 bytes)"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,0]}}", 8, "not non-negative integers"},
        /* begin > end */
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "data_offsets begin 8 > end 4"},
        /* overlap */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
        {"{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
         12, "overlap"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
         12, "overlap"},
        /* size does not match the shape */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "size mismatch"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 8, "size mismatch"},
        /* element count / byte count overflowing 64 bits */
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,0]}}", 0, "overflows 64 bits"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0, "overflows 64 bits"},
        /* shapes */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0] is negative (-1)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10, "shape[0] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e1],\"data_offsets\":[0,40]}}", 40, "shape[0] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "9 dims (at most 8"},
        /* metadata */
        {"{\"__metadata__\":{\"a\":1}}", 0, "__metadata__ value for key 'a' is not a string"},
        {"{\"__metadata__\":{\"a\":\"x\",\"b\":null}}", 0, "key 'b' is not a string"},
        {"{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is not an object"},
        {"{\"__metadata__\":{\"a\":\"x\\u0000y\"}}", 0, "contains a NUL"},
        /* names: NUL, duplicates, non-UTF-8 */
        {"{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "\\u0000"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
         2, "duplicate key"},
        {"{\"\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "invalid UTF-8"},
        /* a control character in a name is escaped in the one-line message */
        {"{\"a\\nb\":{\"dtype\":\"Q\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a\\x0ab': unknown dtype"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        CHECK(st_bad(table[i].header, table[i].data, table[i].want), "hostile #%zu: %s", i, table[i].header);

    /* accepted edge cases: empty tensors anywhere, gaps, trailing spaces, metadata only */
    const char *good[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ",
        "{\"__metadata__\":{}}",
        "{\"__metadata__\":{\"k\":\"v\"},\"s\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[7,8]}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        b = image(good[i], 8, &n);
        int rc = ng_st_parse(&f, b, n, "good");
        CHECK(rc == 0, "good #%zu: %s", i, ng_errmsg());
        ng_st_close(&f);
        free(b);
    }
}

/* ---------------------------------------------------------------------------------------
 * failed saves leave the previous file alone */

static void test_failed_save(void) {
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/keep.safetensors", dir);
    float small[4] = {1, 2, 3, 4};
    int64_t s4[1] = {4};
    NgStWriter *w = ng_st_writer_new();
    ng_st_writer_add(w, "w", NG_F32, 1, s4, small);
    CHECK(ng_st_writer_save(w, path) == 0, "%s", ng_errmsg());
    ng_st_writer_free(w);
    size_t n0, n1;
    uint8_t *before = read_all(path, &n0);

    /* a new, bigger version of the file */
    size_t big_n = 1 << 20;
    float *big = calloc(big_n, sizeof(float));
    int64_t sb[1] = {(int64_t)big_n};
    w = ng_st_writer_new();
    ng_st_writer_add(w, "w", NG_F32, 1, sb, big);

    /* 1: a directory that does not exist */
    snprintf(bad, sizeof bad, "%s/no/such/dir/keep.safetensors", dir);
    CHECK(ng_st_writer_save(w, bad) < 0 && strstr(ng_errmsg(), "cannot create") && strstr(ng_errmsg(), "untouched"),
          "%s", ng_errmsg());

    /* 2: the disk "fills up" mid-write: RLIMIT_FSIZE makes write() come up short and then
     * fail with EFBIG, as ENOSPC would */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    struct rlimit lim = {64 * 1024 + 3, old.rlim_max};
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        int rc = ng_st_writer_save(w, path);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(rc < 0 && strstr(ng_errmsg(), "write failed") && strstr(ng_errmsg(), "(the previous file is untouched)"),
              "disk full: %s", ng_errmsg());
        uint8_t *after = read_all(path, &n1);
        CHECK(after && n1 == n0 && memcmp(before, after, n0) == 0, "previous file intact after a failed write");
        free(after);
        CHECK(tmp_files_left() == 0, "temporary file removed after a failed write");
    }
    signal(SIGXFSZ, prev);

    /* 3: the target is a directory: rename fails */
    snprintf(bad, sizeof bad, "%s/adir", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", bad);
    CHECK(system(cmd) == 0, "mkdir");
    CHECK(ng_st_writer_save(w, bad) < 0 && strstr(ng_errmsg(), "rename failed") && strstr(ng_errmsg(), "untouched"),
          "%s", ng_errmsg());
    CHECK(tmp_files_left() == 0, "temporary file removed after a failed rename");

    /* and a successful save does replace it */
    CHECK(ng_st_writer_save(w, path) == 0, "%s", ng_errmsg());
    NgStFile f;
    CHECK(ng_st_open(&f, path) == 0 && f.n_tensors == 1 && f.tensors[0].shape[0] == (int64_t)big_n, "replaced");
    ng_st_close(&f);
    ng_st_writer_free(w);
    free(big);
    free(before);
}

/* ---------------------------------------------------------------------------------------
 * NgAtomicFile: finish completes the temporary file without touching path; commit puts it in
 * place; abort after finish removes it; a failed finish/commit leaves path alone */

static int file_is(const char *path, const char *want) {
    size_t n;
    uint8_t *b = read_all(path, &n);
    int ok = b && n == strlen(want) && memcmp(b, want, n) == 0;
    free(b);
    return ok;
}

static void test_atomic_finish(void) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/pair_a", dir);
    snprintf(b, sizeof b, "%s/pair_b", dir);
    CHECK(ng_write_file_atomic(a, "old a", 5) == 0 && ng_write_file_atomic(b, "old b", 5) == 0, "%s", ng_errmsg());

    /* two files finished: both temporaries complete, both old files untouched */
    NgAtomicFile fa, fb;
    CHECK(ng_atomic_open(&fa, a) == 0 && ng_atomic_write(&fa, "new a!", 6) == 0, "%s", ng_errmsg());
    CHECK(ng_atomic_open(&fb, b) == 0 && ng_atomic_write(&fb, "new b!", 6) == 0, "%s", ng_errmsg());
    CHECK(ng_atomic_finish(&fa) == 0 && ng_atomic_finish(&fb) == 0, "finish: %s", ng_errmsg());
    CHECK(ng_atomic_finish(&fa) == 0, "finishing twice is harmless");
    CHECK(tmp_files_left() == 2 && file_is(fa.tmp, "new a!") && file_is(fb.tmp, "new b!"), "finished temporaries hold the new bytes");
    CHECK(file_is(a, "old a") && file_is(b, "old b"), "finish leaves the previous files in place");
    CHECK(ng_atomic_write(&fa, "x", 1) < 0 && strstr(ng_errmsg(), "internal"), "no write after finish: %s", ng_errmsg());

    /* abort after finish: the temporary goes, the old file stays; commit of the other */
    ng_atomic_abort(&fa);
    CHECK(file_is(a, "old a") && tmp_files_left() == 1, "abort after finish removes the temporary only");
    CHECK(ng_atomic_commit(&fb) == 0 && file_is(b, "new b!") && tmp_files_left() == 0, "commit after finish: %s", ng_errmsg());
    ng_atomic_abort(&fb);
    CHECK(file_is(b, "new b!"), "abort after commit does nothing");
    NgAtomicFile zero;
    memset(&zero, 0, sizeof zero);
    int stdin_open = fcntl(0, F_GETFD) != -1;
    ng_atomic_abort(&zero);                           /* a zeroed one: nothing (fd 0 stays as it was) */
    CHECK((fcntl(0, F_GETFD) != -1) == stdin_open, "aborting a zeroed NgAtomicFile closes nothing");

    /* commit of a finished file whose rename fails (the target became a directory): the
     * temporary goes, nothing is replaced */
    char d[512], cmd[600];
    snprintf(d, sizeof d, "%s/pair_dir", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/x'", d);
    CHECK(system(cmd) == 0, "mkdir");
    NgAtomicFile fd;
    CHECK(ng_atomic_open(&fd, d) == 0 && ng_atomic_write(&fd, "z", 1) == 0 && ng_atomic_finish(&fd) == 0, "%s", ng_errmsg());
    CHECK(ng_atomic_commit(&fd) < 0 && strstr(ng_errmsg(), "rename failed") && strstr(ng_errmsg(), "untouched"), "%s", ng_errmsg());
    CHECK(tmp_files_left() == 0, "temporary removed after a failed commit");
    CHECK(ng_atomic_finish(&fd) < 0, "a failed file cannot be finished again");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_safetensors_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_json();
    test_round_trip();
    test_hostile();
    test_failed_save();
    test_atomic_finish();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_END();
}
