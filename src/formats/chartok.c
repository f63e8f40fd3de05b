/* chartok.c -- the character-level tokenizer of nanoGPT's data/shakespeare_char/prepare.py.
 *
 *   chars = sorted(list(set(data)))         vocabulary: the distinct code points of the text,
 *                                            sorted by code point (Python sorts str by code point)
 *   stoi  = { ch:i for i,ch in enumerate(chars) }
 *
 * nanoGPT stores the vocabulary in meta.pkl; we store it in meta.json:
 *   {"vocab_size": 65, "tokenizer": "char", "itos": ["\n", " ", "!", ...]}
 *
 * Text is UTF-8 and is decoded into code points first (a Python str is a sequence of code
 * points), so "é" is one token, not two. Invalid UTF-8 is an error naming the byte offset.
 * The NUL character (U+0000) is an ordinary code point: it is written as "\u0000" in
 * meta.json, and its itos entry is a 1-byte allocation holding "" (decode1 returns an empty
 * C string for it, since a C string cannot carry the NUL byte).
 *
 * In the tokenizer struct, cps[id] is the code point of itos[id]. For every vocabulary we build
 * (and every meta.json nanoGPT would produce) itos is sorted, so cps is sorted and code
 * point -> id is a binary search over cps. A hand-written meta.json may list the characters in
 * any order; then encode sorts a (code point, id) permutation first.
 */
#include "formats/chartok.h"
#include "base/utf8.h"
#include "base/json.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>

#define NG_MAX_VOCAB 1112064   /* number of Unicode scalar values: 0x110000 minus 2048 surrogates */

/* A code point as it appears in an error message: printable characters as themselves,
 * control characters escaped ('\n', '\x01'), so the message stays on one line. */
static void describe_cp(uint32_t cp, char *buf, size_t size) {
    if (cp == '\n') snprintf(buf, size, "\\n");
    else if (cp == '\t') snprintf(buf, size, "\\t");
    else if (cp == '\r') snprintf(buf, size, "\\r");
    else if (cp < 0x20 || cp == 0x7F) snprintf(buf, size, "\\x%02x", (unsigned)cp);
    else if (cp >= 0x80 && cp < 0xA0) snprintf(buf, size, "\\u%04x", (unsigned)cp);  /* C1 controls */
    else if (!ng_utf8_encode(cp, buf)) snprintf(buf, size, "?");
}

/* ---------------------------------------------------------------------------------------
 * construction */

void ng_chartok_free(NgCharTokenizer *tok) {
    if (!tok) return;
    if (tok->itos)
        for (int i = 0; i < tok->vocab_size; i++) free(tok->itos[i]);
    free(tok->itos);
    free(tok->cps);
    memset(tok, 0, sizeof *tok);
}

/* Allocates an empty tokenizer of V entries (itos all NULL). */
static int tok_alloc(NgCharTokenizer *tok, int V) {
    memset(tok, 0, sizeof *tok);
    tok->itos = ng_calloc((size_t)V, sizeof(char *), "tokenizer itos");
    tok->cps = ng_calloc((size_t)V, sizeof(uint32_t), "tokenizer code points");
    if (!tok->itos || !tok->cps) { free(tok->itos); free(tok->cps); memset(tok, 0, sizeof *tok); return -1; }
    tok->vocab_size = V;
    return 0;
}

/* Sets entry id to code point cp (stored as its UTF-8 string). */
static int tok_set(NgCharTokenizer *tok, int id, uint32_t cp) {
    char buf[8];
    int len = ng_utf8_encode(cp, buf);
    if (!len) return ng_fail("code point U+%04X cannot be encoded as UTF-8", (unsigned)cp);
    char *s = ng_malloc((size_t)len + 1, "tokenizer entry");
    if (!s) return -1;
    memcpy(s, buf, (size_t)len + 1);
    tok->itos[id] = s;
    tok->cps[id] = cp;
    return 0;
}

int ng_chartok_build(NgCharTokenizer *tok, const char *text, size_t n, const char *path) {
    memset(tok, 0, sizeof *tok);
    if (!path) path = "text";
    if (n == 0) return ng_fail("%s: empty text, there is no vocabulary to build", path);
    /* one bit per possible code point (136 KiB): set() of the characters */
    uint8_t *seen = ng_calloc((NG_MAX_CP + 1) / 8, 1, "vocabulary bitmap");
    if (!seen) return -1;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (s[i] < 0x80) { cp = s[i]; i++; }
        else {
            const char *why;
            int len = ng_utf8_decode(s + i, n - i, &cp, &why);
            if (!len) { free(seen); return ng_utf8_error(path, i, why); }
            i += (size_t)len;
        }
        seen[cp >> 3] |= (uint8_t)(1u << (cp & 7));
    }
    /* sorted(...): walk the bitmap in code point order */
    int V = 0;
    for (uint32_t cp = 0; cp <= NG_MAX_CP; cp++) V += (seen[cp >> 3] >> (cp & 7)) & 1;
    if (tok_alloc(tok, V) != 0) { free(seen); return -1; }
    int id = 0;
    for (uint32_t cp = 0; cp <= NG_MAX_CP; cp++) {
        if (!((seen[cp >> 3] >> (cp & 7)) & 1)) continue;
        if (tok_set(tok, id++, cp) != 0) { free(seen); ng_chartok_free(tok); return -1; }
    }
    free(seen);
    return 0;
}

const char *ng_chartok_decode1(const NgCharTokenizer *tok, int id) {
    if (!tok || !tok->itos || id < 0 || id >= tok->vocab_size) return NULL;
    return tok->itos[id];
}

/* ---------------------------------------------------------------------------------------
 * code point -> id */

typedef struct { uint32_t cp; int id; } CpId;

static int cmp_cpid(const void *a, const void *b) {
    const CpId *x = a, *y = b;
    if (x->cp != y->cp) return x->cp < y->cp ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* (code point, id) pairs sorted by code point (then id); NULL on out of memory. */
static CpId *sorted_pairs(const NgCharTokenizer *tok) {
    CpId *p = ng_malloc((size_t)tok->vocab_size * sizeof(CpId), "tokenizer lookup");
    if (!p) return NULL;
    for (int i = 0; i < tok->vocab_size; i++) { p[i].cp = tok->cps[i]; p[i].id = i; }
    qsort(p, (size_t)tok->vocab_size, sizeof(CpId), cmp_cpid);
    return p;
}

typedef struct {
    int ascii[128];        /* id of each ASCII character, -1 if absent */
    const uint32_t *keys;  /* sorted code points */
    CpId *pairs;           /* when itos is not sorted: sorted pairs (keys unused) */
    int V;
} Lookup;

static int lookup_init(Lookup *L, const NgCharTokenizer *tok) {
    L->V = tok->vocab_size;
    L->keys = tok->cps;
    L->pairs = NULL;
    int sorted = 1;
    for (int i = 1; i < L->V && sorted; i++) sorted = tok->cps[i - 1] < tok->cps[i];
    if (!sorted && !(L->pairs = sorted_pairs(tok))) return -1;
    for (int c = 0; c < 128; c++) L->ascii[c] = -1;
    for (int i = L->V - 1; i >= 0; i--)
        if (tok->cps[i] < 128) L->ascii[tok->cps[i]] = i;
    return 0;
}

static int lookup_find(const Lookup *L, uint32_t cp) {
    if (cp < 128) return L->ascii[cp];
    int lo = 0, hi = L->V - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        uint32_t k = L->pairs ? L->pairs[mid].cp : L->keys[mid];
        if (k == cp) return L->pairs ? L->pairs[mid].id : mid;
        if (k < cp) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* Encodes into either out32 or out16 (whichever is not NULL, sized >= n). Returns the
 * number of tokens, or -1 with the error set. */
static long long encode_core(const NgCharTokenizer *tok, const char *text, size_t n,
                             int *out32, uint16_t *out16) {
    Lookup L;
    if (lookup_init(&L, tok) != 0) return -1;
    const unsigned char *s = (const unsigned char *)text;
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = 1;
        if (s[i] < 0x80) cp = s[i];
        else {
            const char *why;
            len = ng_utf8_decode(s + i, n - i, &cp, &why);
            if (!len) { free(L.pairs); ng_utf8_error(NULL, i, why); return -1; }
        }
        int id = lookup_find(&L, cp);
        if (id < 0) {
            char shown[16];
            describe_cp(cp, shown, sizeof shown);
            free(L.pairs);
            ng_fail("character '%s' (U+%04X) at byte %zu is not in the vocabulary", shown, (unsigned)cp, i);
            return -1;
        }
        if (out32) out32[count] = id; else out16[count] = (uint16_t)id;
        count++;
        i += (size_t)len;
    }
    free(L.pairs);
    return (long long)count;
}

int ng_chartok_encode(const NgCharTokenizer *tok, const char *text, size_t n, int **out, size_t *n_out) {
    *out = NULL; *n_out = 0;
    int *ids = ng_calloc(n ? n : 1, sizeof(int), "encoded tokens");   /* <= one token per byte */
    if (!ids) return -1;
    long long count = encode_core(tok, text, n, ids, NULL);
    if (count < 0) { free(ids); return -1; }
    if ((size_t)count < n) {                                             /* shrink if multi-byte */
        int *shrunk = realloc(ids, (count ? (size_t)count : 1) * sizeof(int));
        if (shrunk) ids = shrunk;
    }
    *out = ids; *n_out = (size_t)count;
    return 0;
}

int ng_chartok_encode_u16(const NgCharTokenizer *tok, const char *text, size_t n,
                          uint16_t **out, size_t *n_out) {
    *out = NULL; *n_out = 0;
    if (tok->vocab_size > 65536)
        return ng_fail("vocab_size %d does not fit uint16 token ids (at most 65536)", tok->vocab_size);
    uint16_t *ids = ng_calloc(n ? n : 1, sizeof(uint16_t), "encoded tokens");
    if (!ids) return -1;
    long long count = encode_core(tok, text, n, NULL, ids);
    if (count < 0) { free(ids); return -1; }
    *out = ids; *n_out = (size_t)count;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * meta.json */

char *ng_chartok_meta_json(const NgCharTokenizer *tok, size_t *len) {
    NgStr b = {0};
    ng_str_printf(&b, "{\"vocab_size\": %d, \"tokenizer\": \"char\", \"itos\": [", tok->vocab_size);
    for (int i = 0; i < tok->vocab_size; i++) {
        if (i) ng_str_printf(&b, ", ");
        if (tok->cps[i] == 0) ng_str_printf(&b, "\"\\u0000\"");   /* "" would lose the NUL */
        else ng_str_json_string(&b, tok->itos[i]);
    }
    ng_str_printf(&b, "]}\n");
    return ng_str_take(&b, len);
}

int ng_chartok_save_meta(const NgCharTokenizer *tok, const char *meta_path) {
    size_t len;
    char *json = ng_chartok_meta_json(tok, &len);
    if (!json) return ng_fail("%s: out of memory", meta_path);
    int rc = ng_write_file_atomic(meta_path, json, len);
    free(json);
    return rc;
}

/* Checks one itos entry: a JSON string holding exactly one code point. */
static int meta_entry(const JsonValue *e, int i, uint32_t *cp, const char *name) {
    if (e->type != JSON_STRING) return ng_fail("%s: itos[%d] is not a string", name, i);
    if (e->string_len == 0) return ng_fail("%s: itos[%d] is an empty string, must be exactly one character", name, i);
    const char *why;
    int len = ng_utf8_decode((const unsigned char *)e->string, e->string_len, cp, &why);
    if (!len) return ng_fail("%s: itos[%d] is not valid UTF-8 (%s)", name, i, why);
    if ((size_t)len != e->string_len) {
        long long k = ng_utf8_count(e->string, e->string_len, NULL);
        if (k < 0) return ng_fail("%s: itos[%d] is not valid UTF-8", name, i);
        return ng_fail("%s: itos[%d] has %lld characters, must be exactly one", name, i, k);
    }
    return 0;
}

int ng_chartok_parse_meta(NgCharTokenizer *tok, const char *text, size_t n, const char *name) {
    memset(tok, 0, sizeof *tok);
    if (!name) name = "meta.json";
    char err[256];
    JsonValue *root = ng_json_parse(text, n, err, sizeof err);
    if (!root) return ng_fail("%s: not valid JSON: %s", name, err);
    int rc = -1;
    CpId *pairs = NULL;
    const JsonValue *vs, *tk, *itos;
    if (root->type != JSON_OBJECT) { ng_fail("%s: the top level must be a JSON object", name); goto done; }

    tk = ng_json_get(root, "tokenizer");   /* optional (nanoGPT's meta.pkl has none), but if given: "char" */
    if (tk && (tk->type != JSON_STRING || strcmp(tk->string, "char") != 0 || tk->string_len != 4)) {
        if (tk->type == JSON_STRING) ng_fail("%s: tokenizer is \"%.40s\", only \"char\" is supported", name, tk->string);
        else ng_fail("%s: tokenizer must be the string \"char\"", name);
        goto done;
    }
    vs = ng_json_get(root, "vocab_size");
    if (!vs) { ng_fail("%s: missing \"vocab_size\"", name); goto done; }
    if (vs->type != JSON_NUMBER || !vs->is_integer) { ng_fail("%s: vocab_size must be an integer", name); goto done; }
    if (vs->integer < 1 || vs->integer > NG_MAX_VOCAB) {
        ng_fail("%s: vocab_size %lld is out of range (1..%d)", name, (long long)vs->integer, NG_MAX_VOCAB);
        goto done;
    }
    itos = ng_json_get(root, "itos");
    if (!itos) { ng_fail("%s: missing \"itos\"", name); goto done; }
    if (itos->type != JSON_ARRAY) { ng_fail("%s: itos must be an array of strings", name); goto done; }
    if ((long long)itos->n != vs->integer) {
        ng_fail("%s: vocab_size is %lld but itos has %zu entries", name, (long long)vs->integer, itos->n);
        goto done;
    }

    int V = (int)vs->integer;
    if (tok_alloc(tok, V) != 0) goto done;
    for (int i = 0; i < V; i++) {
        uint32_t cp;
        if (meta_entry(&itos->items[i], i, &cp, name) != 0 || tok_set(tok, i, cp) != 0) goto done;
    }
    /* ids must map to distinct characters */
    if (!(pairs = sorted_pairs(tok))) goto done;
    for (int i = 1; i < V; i++) {
        if (pairs[i].cp != pairs[i - 1].cp) continue;
        char shown[16];
        describe_cp(pairs[i].cp, shown, sizeof shown);
        ng_fail("%s: itos[%d] and itos[%d] are both '%s' (U+%04X)", name, pairs[i - 1].id, pairs[i].id,
                shown, (unsigned)pairs[i].cp);
        goto done;
    }
    rc = 0;
done:
    free(pairs);
    ng_json_free(root);
    if (rc != 0) ng_chartok_free(tok);
    return rc;
}

int ng_chartok_load_meta(NgCharTokenizer *tok, const char *meta_path) {
    memset(tok, 0, sizeof *tok);
    size_t n;
    char *text = ng_read_file(meta_path, &n);
    if (!text) return -1;
    int rc = ng_chartok_parse_meta(tok, text, n, meta_path);
    free(text);
    return rc;
}
