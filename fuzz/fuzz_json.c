/* fuzz_json.c -- libFuzzer target for the JSON reader (src/base/json.c).
 *
 * Every input is parsed; when it is accepted the tree is checked for the reader's
 * promises (NUL-terminated strings, exact integers, unique findable keys), written back
 * out as JSON, parsed again and compared with the first tree. Any violation aborts, which
 * libFuzzer reports as a crash. Build and run with `make fuzz-run`. */
#include "base/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *s; size_t len, cap; } Buf;

static void put(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s) abort();
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
}

/* Writes a JSON string literal for n bytes of UTF-8 (escaping quotes, backslashes, controls). */
static void put_string(Buf *b, const char *s, size_t n) {
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') { e[0] = '\\'; e[1] = (char)c; put(b, e, 2); }
        else if (c < 0x20) { snprintf(e, sizeof e, "\\u%04x", c); put(b, e, 6); }
        else put(b, (const char *)&c, 1);
    }
    put(b, "\"", 1);
}

/* Serialises a tree and checks the reader's invariants on the way. */
static void emit(Buf *b, const JsonValue *v) {
    char num[64];
    switch (v->type) {
    case JSON_NULL: put(b, "null", 4); break;
    case JSON_BOOL: put(b, v->number ? "true" : "false", v->number ? 4 : 5); break;
    case JSON_NUMBER:
        if (v->is_integer) {
            if ((double)v->integer != v->number) abort();
            snprintf(num, sizeof num, "%lld", (long long)v->integer);
        } else {
            snprintf(num, sizeof num, "%.17g", v->number);
        }
        put(b, num, strlen(num));
        break;
    case JSON_STRING:
        if (!v->string || v->string[v->string_len] != 0) abort();
        put_string(b, v->string, v->string_len);
        break;
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < v->n; i++) { if (i) put(b, ",", 1); emit(b, &v->items[i]); }
        put(b, "]", 1);
        break;
    case JSON_OBJECT:
        put(b, "{", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (ng_json_get(v, v->keys[i]) != &v->items[i]) abort();   /* keys are unique */
            if (i) put(b, ",", 1);
            put_string(b, v->keys[i], strlen(v->keys[i]));
            put(b, ":", 1);
            emit(b, &v->items[i]);
        }
        put(b, "}", 1);
        break;
    default: abort();
    }
}

/* 1 if two trees hold the same values. */
static int same(const JsonValue *a, const JsonValue *b) {
    if (a->type != b->type || a->n != b->n) return 0;
    switch (a->type) {
    case JSON_BOOL: case JSON_NUMBER:
        if (a->number != b->number) return 0;
        return !a->is_integer || (b->is_integer && a->integer == b->integer);
    case JSON_STRING:
        return a->string_len == b->string_len && memcmp(a->string, b->string, a->string_len) == 0;
    case JSON_OBJECT: case JSON_ARRAY:
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == JSON_OBJECT && strcmp(a->keys[i], b->keys[i]) != 0) return 0;
            if (!same(&a->items[i], &b->items[i])) return 0;
        }
        return 1;
    default: return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    /* the parser must not read past `size`: hand it an exact-size heap copy so ASan sees it */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    JsonValue *v = ng_json_parse(text, size, err, sizeof err);
    free(text);
    if (!v) {
        if (strncmp(err, "byte ", 5) != 0) abort();          /* every error names its byte */
        return 0;
    }
    Buf b = {0};
    emit(&b, v);
    JsonValue *w = ng_json_parse(b.s, b.len, err, sizeof err);
    if (!w || !same(v, w)) {
        fprintf(stderr, "round trip failed: %s\n%.*s\n", w ? "trees differ" : err, (int)b.len, b.s);
        abort();
    }
    ng_json_free(w);
    ng_json_free(v);
    free(b.s);
    return 0;
}
