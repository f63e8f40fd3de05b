/* json.c -- a strict, bounds-checked JSON reader (RFC 8259).
 *
 * A recursive-descent parser over text[0..n) (never reads past n, needs no NUL). It
 * builds a tree of JsonValue nodes; json_free releases the whole tree. What it rejects:
 *   - anything that is not RFC 8259 JSON: leading BOM, comments, trailing commas, single
 *     quotes, leading zeros / '+' / '.5' / '1.' numbers, NaN/Infinity, unescaped control
 *     characters in strings, invalid escapes, lone or mismatched UTF-16 surrogates,
 *     invalid UTF-8 (overlong, surrogates, > U+10FFFF), trailing non-whitespace
 *   - nesting deeper than JSON_MAX_DEPTH, duplicate keys in an object
 *   - numbers whose magnitude overflows a double (1e999)
 *   - U+0000 in object keys: keys are returned as NUL-terminated C strings without a
 *     length, so a NUL would silently truncate them (values may contain \u0000).
 * Errors are "byte K: problem", K the 0-based offset of the offending byte.
 */
#include "base/json.h"
#include "base/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct {
    const unsigned char *s;   /* the text */
    size_t n, pos;            /* length, read position */
    char *err; size_t errlen; /* where the message goes */
    int failed;               /* set by the first error; later errors are ignored */
} Parser;

/* Records "byte K: <message>" (only the first error counts) and returns -1. */
static int fail_at(Parser *p, size_t at, const char *fmt, ...) {
    if (p->failed) return -1;
    p->failed = 1;
    if (p->err && p->errlen) {
        char msg[200];
        va_list ap; va_start(ap, fmt); vsnprintf(msg, sizeof msg, fmt, ap); va_end(ap);
        snprintf(p->err, p->errlen, "byte %zu: %s", at, msg);
    }
    return -1;
}

/* Describes the byte at `at` for messages: 'x', a hex code, or "end of input". */
static const char *describe(const Parser *p, size_t at, char *buf, size_t len) {
    if (at >= p->n) snprintf(buf, len, "end of input");
    else if (p->s[at] >= 0x20 && p->s[at] < 0x7f) snprintf(buf, len, "'%c'", p->s[at]);
    else snprintf(buf, len, "byte 0x%02x", p->s[at]);
    return buf;
}

static void skip_ws(Parser *p) {
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Frees what a value owns (not the node itself). */
static void value_clear(JsonValue *v) {
    if (!v) return;
    free(v->string);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items) value_clear(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

void ng_json_free(JsonValue *v) {
    if (!v) return;
    value_clear(v);
    free(v);
}

const JsonValue *ng_json_get(const JsonValue *obj, const char *key) {
    if (!obj || !key || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * strings */

/* Value of one hex digit, or -1. */
static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \uXXXX escape starting at p->pos (just after the 'u'). */
static int read_hex4(Parser *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (p->pos + i >= p->n) return fail_at(p, p->pos + i, "truncated \\u escape");
        int h = hexval(p->s[p->pos + i]);
        if (h < 0) return fail_at(p, p->pos + i, "invalid hex digit in \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* Parses a string starting at the opening quote. Output: malloc'd NUL-terminated UTF-8
 * in *out with its length (which may include NULs from \u0000) in *out_len. */
static int parse_string(Parser *p, char **out, size_t *out_len) {
    size_t start = p->pos;
    p->pos++;                                   /* opening quote */
    /* the decoded text is never longer than the raw text, so one allocation suffices:
     * find the closing quote first (skipping escaped characters) to size it */
    size_t end = p->pos;
    while (end < p->n && p->s[end] != '"') end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->n) return fail_at(p, start, "unterminated string");
    char *buf = malloc(end - p->pos + 1);
    if (!buf) return fail_at(p, start, "out of memory");
    size_t len = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = p->s[p->pos];
        if (c < 0x20) { free(buf); return fail_at(p, p->pos, "unescaped control character 0x%02x in string", c); }
        if (c >= 0x80) {                        /* raw UTF-8: validate and copy */
            uint32_t cp;
            size_t k = (size_t)ng_utf8_decode(p->s + p->pos, end - p->pos, &cp, NULL);
            if (!k) { free(buf); return fail_at(p, p->pos, "invalid UTF-8 in string"); }
            memcpy(buf + len, p->s + p->pos, k);
            len += k; p->pos += k;
            continue;
        }
        if (c != '\\') { buf[len++] = (char)c; p->pos++; continue; }
        size_t esc = p->pos;                    /* escape: p->pos + 1 < end holds here */
        unsigned char e = p->s[esc + 1];
        p->pos += 2;
        switch (e) {
        case '"': buf[len++] = '"'; break;
        case '\\': buf[len++] = '\\'; break;
        case '/': buf[len++] = '/'; break;
        case 'b': buf[len++] = '\b'; break;
        case 'f': buf[len++] = '\f'; break;
        case 'n': buf[len++] = '\n'; break;
        case 'r': buf[len++] = '\r'; break;
        case 't': buf[len++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (read_hex4(p, &cp) < 0) { free(buf); return -1; }
            if (cp >= 0xDC00 && cp <= 0xDFFF) { free(buf); return fail_at(p, esc, "lone low surrogate \\u%04X", cp); }
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* must be followed by \uDC00..\uDFFF */
                if (p->pos + 1 >= p->n || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    free(buf); return fail_at(p, esc, "high surrogate \\u%04X not followed by a low surrogate", cp);
                }
                p->pos += 2;
                if (read_hex4(p, &lo) < 0) { free(buf); return -1; }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf); return fail_at(p, esc, "high surrogate \\u%04X followed by \\u%04X, not a low surrogate", cp, lo);
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char enc[5];
            size_t k = (size_t)ng_utf8_encode(cp, enc);  /* <= 4 bytes from >= 6 raw: fits */
            memcpy(buf + len, enc, k);
            len += k;
            break;
        }
        default: {
            char d[32];
            free(buf);
            return fail_at(p, esc, "invalid escape \\%s", describe(p, esc + 1, d, sizeof d));
        }
        }
    }
    p->pos++;                                   /* closing quote */
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * numbers */

/* Parses a number per the RFC grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * Integers that fit int64 also get their exact value. */
static int parse_number(Parser *p, JsonValue *v) {
    size_t start = p->pos, i = p->pos;
    int neg = 0, is_int = 1;
    if (i < p->n && p->s[i] == '-') { neg = 1; i++; }
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') return fail_at(p, i, "expected a digit");
    if (p->s[i] == '0') {
        i++;
        if (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') return fail_at(p, i, "leading zero in number");
    } else {
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    size_t int_end = i;
    if (i < p->n && p->s[i] == '.') {
        is_int = 0; i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') return fail_at(p, i, "expected a digit after '.'");
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        is_int = 0; i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') return fail_at(p, i, "expected a digit in exponent");
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9') i++;
    }
    /* exact int64 value: accumulate the magnitude in uint64, stop on overflow */
    v->type = JSON_NUMBER;
    if (is_int) {
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = 1;
        for (size_t k = start + neg; k < int_end && fits; k++) {
            unsigned d = p->s[k] - '0';
            if (mag > (limit - d) / 10) fits = 0;
            else mag = mag * 10 + d;
        }
        if (fits) {
            v->is_integer = 1;
            v->integer = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        }
    }
    /* the double: strtod needs a NUL-terminated copy (the input may not have one) */
    size_t len = i - start;
    char small[64], *tmp = len < sizeof small ? small : malloc(len + 1);
    if (!tmp) return fail_at(p, start, "out of memory");
    memcpy(tmp, p->s + start, len);
    tmp[len] = 0;
    errno = 0;
    double d = strtod(tmp, NULL);
    int range = errno == ERANGE && (d > 1.0 || d < -1.0);  /* overflow; underflow is fine */
    if (tmp != small) free(tmp);
    if (range) return fail_at(p, start, "number out of range");
    v->number = d;
    p->pos = i;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * values */

static int parse_value(Parser *p, JsonValue *v, int depth);

/* Matches a literal (true/false/null) at p->pos. */
static int parse_literal(Parser *p, const char *word) {
    size_t len = strlen(word);
    if (p->n - p->pos < len || memcmp(p->s + p->pos, word, len) != 0)
        return fail_at(p, p->pos, "invalid literal (expected '%s')", word);
    p->pos += len;
    return 0;
}

/* Grows an array of `size`-byte elements to hold at least need; returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap * 2 : 4;
    if (c < need) c = need;
    if (c > SIZE_MAX / size) return -1;
    void *a = realloc(*arr, c * size);
    if (!a) return -1;
    *arr = a;
    *cap = c;
    return 0;
}

static int parse_array(Parser *p, JsonValue *v, int depth) {
    size_t cap = 0;
    v->type = JSON_ARRAY;
    p->pos++;                                   /* '[' */
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == ']') { p->pos++; return 0; }
    for (;;) {
        if (grow((void **)&v->items, &cap, v->n + 1, sizeof *v->items) < 0) return fail_at(p, p->pos, "out of memory");
        JsonValue *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        v->n++;                                 /* counted now so an error frees it */
        if (parse_value(p, item, depth + 1) < 0) return -1;
        skip_ws(p);
        char d[32];
        if (p->pos >= p->n) return fail_at(p, p->pos, "unterminated array (expected ',' or ']')");
        if (p->s[p->pos] == ']') { p->pos++; return 0; }
        if (p->s[p->pos] != ',') return fail_at(p, p->pos, "expected ',' or ']' in array, got %s", describe(p, p->pos, d, sizeof d));
        p->pos++;
        skip_ws(p);
    }
}

/* One key of an object, remembered for the duplicate check. */
typedef struct { const char *key; size_t at; } KeyRef;
static int keyref_cmp(const void *a, const void *b) {
    const KeyRef *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return (x->at > y->at) - (x->at < y->at);
}

/* Fails if two keys of the object are equal (sorting makes this O(n log n), so a huge
 * object cannot make the parser slow); reports the later occurrence. */
static int check_duplicates(Parser *p, const JsonValue *v, const size_t *key_at) {
    if (v->n < 2) return 0;
    if (v->n == 2) {
        if (strcmp(v->keys[0], v->keys[1]) == 0) return fail_at(p, key_at[1], "duplicate key \"%.64s\"", v->keys[1]);
        return 0;
    }
    KeyRef *refs = malloc(v->n * sizeof *refs);
    if (!refs) return fail_at(p, p->pos, "out of memory");
    for (size_t i = 0; i < v->n; i++) { refs[i].key = v->keys[i]; refs[i].at = key_at[i]; }
    qsort(refs, v->n, sizeof *refs, keyref_cmp);
    size_t dup = SIZE_MAX;
    const char *dup_key = NULL;
    for (size_t i = 1; i < v->n; i++)
        if (strcmp(refs[i - 1].key, refs[i].key) == 0 && refs[i].at < dup) { dup = refs[i].at; dup_key = refs[i].key; }
    int rc = 0;
    if (dup_key) rc = fail_at(p, dup, "duplicate key \"%.64s\"", dup_key);
    free(refs);
    return rc;
}

static int parse_object(Parser *p, JsonValue *v, int depth) {
    size_t cap = 0, kcap = 0, acap = 0;
    size_t *key_at = NULL;                      /* offset of each key, for messages */
    char d[32];
    int rc = -1;
    v->type = JSON_OBJECT;
    p->pos++;                                   /* '{' */
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '}') { p->pos++; return 0; }
    for (;;) {
        if (p->pos >= p->n || p->s[p->pos] != '"') {
            fail_at(p, p->pos, "expected a string key in object, got %s", describe(p, p->pos, d, sizeof d));
            goto done;
        }
        if (grow((void **)&v->items, &cap, v->n + 1, sizeof *v->items) < 0 ||
            grow((void **)&v->keys, &kcap, v->n + 1, sizeof *v->keys) < 0 ||
            grow((void **)&key_at, &acap, v->n + 1, sizeof *key_at) < 0) {
            fail_at(p, p->pos, "out of memory");
            goto done;
        }
        size_t at = p->pos, klen;
        char *key;
        if (parse_string(p, &key, &klen) < 0) goto done;
        JsonValue *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        v->keys[v->n] = key;
        key_at[v->n] = at;
        v->n++;                                 /* counted now so an error frees it */
        if (strlen(key) != klen) { fail_at(p, at, "object key contains \\u0000 (not supported)"); goto done; }
        skip_ws(p);
        if (p->pos >= p->n || p->s[p->pos] != ':') {
            fail_at(p, p->pos, "expected ':' after object key, got %s", describe(p, p->pos, d, sizeof d));
            goto done;
        }
        p->pos++;
        if (parse_value(p, item, depth + 1) < 0) goto done;
        skip_ws(p);
        if (p->pos >= p->n) { fail_at(p, p->pos, "unterminated object (expected ',' or '}')"); goto done; }
        if (p->s[p->pos] == '}') { p->pos++; break; }
        if (p->s[p->pos] != ',') {
            fail_at(p, p->pos, "expected ',' or '}' in object, got %s", describe(p, p->pos, d, sizeof d));
            goto done;
        }
        p->pos++;
        skip_ws(p);
    }
    rc = check_duplicates(p, v, key_at);
done:
    free(key_at);
    return rc;
}

/* Parses one value (with leading whitespace) into *v, which starts zeroed. On failure
 * *v may hold partial results; the caller frees them with value_clear. */
static int parse_value(Parser *p, JsonValue *v, int depth) {
    skip_ws(p);
    if (p->pos >= p->n) return fail_at(p, p->pos, "unexpected end of input (expected a value)");
    unsigned char c = p->s[p->pos];
    if ((c == '[' || c == '{') && depth >= JSON_MAX_DEPTH)
        return fail_at(p, p->pos, "nesting deeper than %d", JSON_MAX_DEPTH);
    switch (c) {
    case '{': return parse_object(p, v, depth);
    case '[': return parse_array(p, v, depth);
    case '"': v->type = JSON_STRING; return parse_string(p, &v->string, &v->string_len);
    case 't': v->type = JSON_BOOL; v->number = 1; return parse_literal(p, "true");
    case 'f': v->type = JSON_BOOL; v->number = 0; return parse_literal(p, "false");
    case 'n': v->type = JSON_NULL; return parse_literal(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
        char d[32];
        return fail_at(p, p->pos, "unexpected %s (expected a value)", describe(p, p->pos, d, sizeof d));
    }
}

JsonValue *ng_json_parse(const char *text, size_t n, char *err, size_t errlen) {
    Parser p = { (const unsigned char *)text, n, 0, err, errlen, 0 };
    if (err && errlen) err[0] = 0;
    if (!text && n) { fail_at(&p, 0, "no input"); return NULL; }
    JsonValue *v = calloc(1, sizeof *v);
    if (!v) { fail_at(&p, 0, "out of memory"); return NULL; }
    if (parse_value(&p, v, 0) == 0) {
        skip_ws(&p);
        if (p.pos == n) return v;
        char d[32];
        fail_at(&p, p.pos, "unexpected %s after the JSON value", describe(&p, p.pos, d, sizeof d));
    }
    ng_json_free(v);
    return NULL;
}
