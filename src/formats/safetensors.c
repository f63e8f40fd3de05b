/* safetensors.c -- reading and writing the safetensors format.
 *
 * A safetensors file is:
 *   8 bytes   N, the header length, little-endian u64
 *   N bytes   a JSON object: tensor name -> {"dtype": "F32", "shape": [2,3],
 *             "data_offsets": [begin, end]}, plus an optional "__metadata__" object of
 *             string -> string; the writer pads it with spaces to a multiple of 8 bytes
 *   the rest  the data section; data_offsets are relative to its start
 *
 * The reader trusts nothing: every field is type- and range-checked, sizes are computed
 * with overflow checks, tensors must lie inside the data section and must not overlap.
 * The writer streams the tensors straight from the caller's memory into a temporary file
 * next to the target and renames it over the target only when everything is on disk.
 * Host byte order is assumed to be little-endian (as the data section is).
 */
#include "formats/safetensors.h"
#include "base/json.h"
#include "base/utf8.h"
#include "base/util.h"
#include "base/fileguard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000ull   /* the reference implementation's limit (100 MB) */

/* ---------------------------------------------------------------------------------------
 * dtypes */

static const struct { const char *name; size_t size; } dtype_table[] = {
    [NG_F32] = {"F32", 4}, [NG_F16] = {"F16", 2}, [NG_BF16] = {"BF16", 2}, [NG_F64] = {"F64", 8},
    [NG_I64] = {"I64", 8}, [NG_I32] = {"I32", 4}, [NG_I16] = {"I16", 2},   [NG_I8] = {"I8", 1},
    [NG_U8] = {"U8", 1},   [NG_U16] = {"U16", 2}, [NG_U32] = {"U32", 4},   [NG_U64] = {"U64", 8},
    [NG_BOOL_DT] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtype_table / sizeof dtype_table[0]))

size_t ng_dtype_size(NgDtype d) {
    return (unsigned)d < (unsigned)N_DTYPES ? dtype_table[d].size : 0;
}

/* dtype from its safetensors name ("F32"); -1 if unknown. */
static int dtype_from_name(const char *s) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dtype_table[i].name, s) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * small helpers */

/* A name made safe for a one-line message: control bytes as \xNN, cut after ~60 bytes. */
static const char *quoted(const char *s, char *buf, size_t len) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 8 < len; p++) {
        if (o >= 60) {                          /* cut at a UTF-8 boundary, mark with ... */
            while (o > 0 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80) o--;
            if (o > 0 && (unsigned char)buf[o - 1] >= 0xC0) o--;
            memcpy(buf + o, "...", 3); o += 3;
            break;
        }
        if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
        else buf[o++] = (char)*p;
    }
    buf[o] = 0;
    return buf;
}

static char *dup_str(const char *s, const char *what) {
    size_t n = strlen(s);
    char *d = ng_malloc(n + 1, what);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static uint64_t read_le64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Element count and byte size of a shape, 0 on success, -1 on 64-bit overflow. */
static int shape_bytes(int ndim, const int64_t *shape, size_t dsize, uint64_t *numel, uint64_t *bytes) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return -1;
    *numel = n;
    return __builtin_mul_overflow(n, (uint64_t)dsize, bytes) ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * reader */

/* Reads "__metadata__": an object of string -> string, copied into f->meta_*. */
static int parse_metadata(NgStFile *f, const JsonValue *m, const char *name) {
    char q[96];
    if (m->type != JSON_OBJECT) return ng_fail("%s: __metadata__ is not an object of strings", name);
    if (m->n == 0) return 0;
    f->meta_keys = ng_calloc(m->n, sizeof *f->meta_keys, "safetensors metadata");
    f->meta_vals = ng_calloc(m->n, sizeof *f->meta_vals, "safetensors metadata");
    if (!f->meta_keys || !f->meta_vals) return -1;
    for (size_t i = 0; i < m->n; i++) {
        const JsonValue *v = &m->items[i];
        if (v->type != JSON_STRING)
            return ng_fail("%s: __metadata__ value for key '%s' is not a string", name, quoted(m->keys[i], q, sizeof q));
        if (strlen(v->string) != v->string_len)
            return ng_fail("%s: __metadata__ value for key '%s' contains a NUL character", name, quoted(m->keys[i], q, sizeof q));
        f->meta_keys[f->n_meta] = dup_str(m->keys[i], "safetensors metadata");
        f->meta_vals[f->n_meta] = dup_str(v->string, "safetensors metadata");
        f->n_meta++;                            /* counted now so close frees both */
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1]) return -1;
    }
    return 0;
}

/* A non-negative JSON integer, or -1 if v is anything else. */
static int64_t json_uint(const JsonValue *v) {
    return (v->type == JSON_NUMBER && v->is_integer && v->integer >= 0) ? v->integer : -1;
}

/* Reads one tensor entry {"dtype", "shape", "data_offsets"} into t (name already set). */
static int parse_tensor(NgStFile *f, NgStTensor *t, const JsonValue *e, const char *name) {
    char q[96];
    const char *tn = quoted(t->name, q, sizeof q);
    if (e->type != JSON_OBJECT) return ng_fail("%s: tensor '%s': entry is not an object", name, tn);
    for (size_t i = 0; i < e->n; i++) {
        const char *k = e->keys[i];
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets")) {
            char qk[96];
            return ng_fail("%s: tensor '%s': unknown field '%s'", name, tn, quoted(k, qk, sizeof qk));
        }
    }
    /* dtype */
    const JsonValue *dt = ng_json_get(e, "dtype");
    if (!dt) return ng_fail("%s: tensor '%s': missing \"dtype\"", name, tn);
    if (dt->type != JSON_STRING) return ng_fail("%s: tensor '%s': \"dtype\" is not a string", name, tn);
    int d = dtype_from_name(dt->string);
    if (d < 0 || strlen(dt->string) != dt->string_len) {
        char qd[96];
        return ng_fail("%s: tensor '%s': unknown dtype '%s'", name, tn, quoted(dt->string, qd, sizeof qd));
    }
    t->dtype = (NgDtype)d;
    /* shape */
    const JsonValue *sh = ng_json_get(e, "shape");
    if (!sh) return ng_fail("%s: tensor '%s': missing \"shape\"", name, tn);
    if (sh->type != JSON_ARRAY) return ng_fail("%s: tensor '%s': \"shape\" is not an array", name, tn);
    if (sh->n > ST_MAX_DIMS) return ng_fail("%s: tensor '%s': shape has %zu dims (at most %d supported)", name, tn, sh->n, ST_MAX_DIMS);
    t->ndim = (int)sh->n;
    for (int i = 0; i < t->ndim; i++) {
        const JsonValue *x = &sh->items[i];
        if (x->type == JSON_NUMBER && x->is_integer && x->integer < 0)
            return ng_fail("%s: tensor '%s': shape[%d] is negative (%lld)", name, tn, i, (long long)x->integer);
        if (json_uint(x) < 0) return ng_fail("%s: tensor '%s': shape[%d] is not a non-negative integer", name, tn, i);
        t->shape[i] = x->integer;
    }
    uint64_t numel, bytes;
    if (shape_bytes(t->ndim, t->shape, ng_dtype_size(t->dtype), &numel, &bytes) < 0)
        return ng_fail("%s: tensor '%s': element count or byte size of the shape overflows 64 bits", name, tn);
    /* data_offsets */
    const JsonValue *off = ng_json_get(e, "data_offsets");
    if (!off) return ng_fail("%s: tensor '%s': missing \"data_offsets\"", name, tn);
    if (off->type != JSON_ARRAY || off->n != 2)
        return ng_fail("%s: tensor '%s': \"data_offsets\" is not an array [begin, end]", name, tn);
    int64_t b = json_uint(&off->items[0]), en = json_uint(&off->items[1]);
    if (b < 0 || en < 0) return ng_fail("%s: tensor '%s': data_offsets are not non-negative integers", name, tn);
    t->begin = (uint64_t)b;
    t->end = (uint64_t)en;
    if (t->begin > t->end)
        return ng_fail("%s: tensor '%s': data_offsets begin %llu > end %llu", name, tn,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > f->data_size)
        return ng_fail("%s: tensor '%s': data_offsets [%llu, %llu] outside the data section (%zu bytes)", name, tn,
                       (unsigned long long)t->begin, (unsigned long long)t->end, f->data_size);
    if (t->end - t->begin != bytes)
        return ng_fail("%s: tensor '%s': data_offsets span %llu bytes but %s shape of %llu elements needs %llu (size mismatch)",
                       name, tn, (unsigned long long)(t->end - t->begin), dtype_table[t->dtype].name,
                       (unsigned long long)numel, (unsigned long long)bytes);
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const NgStTensor *x = *(const NgStTensor *const *)a, *y = *(const NgStTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Fails if two (non-empty) tensors share bytes: sorted by begin, each must start at or
 * after the furthest end seen so far. */
static int check_overlaps(const NgStFile *f, const char *name) {
    if (f->n_tensors < 2) return 0;
    const NgStTensor **order = ng_calloc((size_t)f->n_tensors, sizeof *order, "safetensors tensor order");
    if (!order) return -1;
    for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, by_begin);
    const NgStTensor *prev = NULL;
    int rc = 0;
    for (int i = 0; i < f->n_tensors && rc == 0; i++) {
        const NgStTensor *t = order[i];
        if (t->begin == t->end) continue;       /* empty tensors occupy no bytes */
        if (prev && t->begin < prev->end) {
            char q1[96], q2[96];
            rc = ng_fail("%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", name,
                         quoted(prev->name, q1, sizeof q1), (unsigned long long)prev->begin, (unsigned long long)prev->end,
                         quoted(t->name, q2, sizeof q2), (unsigned long long)t->begin, (unsigned long long)t->end);
        }
        if (!prev || t->end > prev->end) prev = t;
    }
    free(order);
    return rc;
}

/* Parses the header and fills f (whose buf/size the caller sets); -1 on any problem. */
static int parse_image(NgStFile *f, const uint8_t *buf, size_t size, const char *name) {
    if (size < 8) return ng_fail("%s: file too short to be safetensors (%zu bytes, need at least 8)", name, size);
    uint64_t hlen = read_le64(buf);
    if (hlen > size - 8)
        return ng_fail("%s: header length %llu goes beyond the end of the file (%zu bytes)", name, (unsigned long long)hlen, size);
    if (hlen > ST_MAX_HEADER)
        return ng_fail("%s: header length %llu is absurd (limit %llu)", name, (unsigned long long)hlen, ST_MAX_HEADER);
    f->data = buf + 8 + hlen;
    f->data_size = size - 8 - (size_t)hlen;

    char err[256];
    JsonValue *root = ng_json_parse((const char *)buf + 8, (size_t)hlen, err, sizeof err);
    if (!root) return ng_fail("%s: header is not valid JSON: %s", name, err);
    int rc = 0;
    if (root->type != JSON_OBJECT) { rc = ng_fail("%s: header is not a JSON object", name); goto done; }
    size_t n = root->n;
    if (ng_json_get(root, "__metadata__")) n--;
    if (n > 0) {
        f->tensors = ng_calloc(n, sizeof *f->tensors, "safetensors tensor list");
        if (!f->tensors) { rc = -1; goto done; }
    }
    for (size_t i = 0; i < root->n && rc == 0; i++) {
        if (strcmp(root->keys[i], "__metadata__") == 0) { rc = parse_metadata(f, &root->items[i], name); continue; }
        NgStTensor *t = &f->tensors[f->n_tensors];
        t->name = dup_str(root->keys[i], "safetensors tensor name");
        if (!t->name) { rc = -1; break; }
        f->n_tensors++;                         /* counted now so close frees the name */
        rc = parse_tensor(f, t, &root->items[i], name);
    }
    if (rc == 0) rc = check_overlaps(f, name);
done:
    ng_json_free(root);
    return rc;
}

int ng_st_parse(NgStFile *f, const uint8_t *buf, size_t size, const char *name) {
    memset(f, 0, sizeof *f);
    if (!name) name = "(memory)";
    snprintf(f->path, sizeof f->path, "%s", name);
    if (!buf && size) return ng_fail("%s: no data", name);
    if (parse_image(f, buf, size, name) < 0) { ng_st_close(f); return -1; }
    f->size = size;                             /* f->buf stays NULL: the image is the caller's */
    return 0;
}

/* The file is mapped read-only, not read: a checkpoint of several GB costs no copy and no
 * memory of its own, and only the pages of the tensors actually used are read. The mapping
 * is private and read-only; checkpoints are replaced by rename, never rewritten in place,
 * so a file being saved over never changes under a reader. */
int ng_st_open(NgStFile *f, const char *path) {
    memset(f, 0, sizeof *f);
    NgFileMap fm;
    if (ng_file_map(&fm, path, MADV_NORMAL) != 0) return -1;
    if (ng_st_parse(f, fm.data, fm.size, path) < 0) { ng_file_unmap(&fm); return -1; }
    f->buf = fm.data;                           /* owned from here on, unmapped by ng_st_close */
    return 0;
}

void ng_st_close(NgStFile *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) { free(f->meta_keys[i]); free(f->meta_vals[i]); }
    free(f->meta_keys);
    free(f->meta_vals);
    if (f->buf) munmap(f->buf, f->size);        /* only ng_st_open sets buf: its mapping */
    memset(f, 0, sizeof *f);
}

const NgStTensor *ng_st_find(const NgStFile *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *ng_st_meta(const NgStFile *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * writer */

typedef struct {
    char *name;
    NgDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;                           /* the caller's, not copied */
    uint64_t nbytes;
} StEntry;

struct NgStWriter {
    StEntry *t; int n, cap;
    char **mkeys, **mvals; int n_meta, meta_cap;
};

NgStWriter *ng_st_writer_new(void) {
    return ng_calloc(1, sizeof(NgStWriter), "safetensors writer");
}

void ng_st_writer_free(NgStWriter *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    for (int i = 0; i < w->n_meta; i++) { free(w->mkeys[i]); free(w->mvals[i]); }
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

/* Makes room for one more element in an array of `size`-byte elements. */
static int reserve(void **arr, int *cap, int n, size_t size, const char *what) {
    if (n < *cap) return 0;
    if (*cap > (1 << 28)) return ng_fail("too many entries in %s", what);
    int c = *cap ? *cap * 2 : 16;
    void *a = realloc(*arr, (size_t)c * size);
    if (!a) return ng_fail("out of memory growing %s", what);
    *arr = a; *cap = c;
    return 0;
}

int ng_st_writer_add(NgStWriter *w, const char *name, NgDtype dtype, int ndim, const int64_t *shape, const void *data) {
    char q[96];
    if (!w || !name) return ng_fail("ng_st_writer_add: no writer or no name");
    const char *tn = quoted(name, q, sizeof q);
    if (!ng_utf8_valid(name, strlen(name))) return ng_fail("%s: tensor name is not valid UTF-8", tn);
    if (strcmp(name, "__metadata__") == 0) return ng_fail("%s: reserved name, not a tensor name", tn);
    if (ng_dtype_size(dtype) == 0) return ng_fail("%s: unknown dtype %d", tn, (int)dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS) return ng_fail("%s: %d dims (0 to %d supported)", tn, ndim, ST_MAX_DIMS);
    if (ndim > 0 && !shape) return ng_fail("%s: no shape", tn);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return ng_fail("%s: shape[%d] is negative (%lld)", tn, i, (long long)shape[i]);
    uint64_t numel, bytes;
    if (shape_bytes(ndim, shape, ng_dtype_size(dtype), &numel, &bytes) < 0 || bytes > SIZE_MAX)
        return ng_fail("%s: tensor size overflows", tn);
    if (!data && bytes) return ng_fail("%s: no data", tn);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return ng_fail("%s: duplicate tensor name in safetensors writer", tn);
    if (reserve((void **)&w->t, &w->cap, w->n, sizeof *w->t, "safetensors writer") < 0) return -1;
    StEntry *e = &w->t[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = dup_str(name, "safetensors tensor name"))) return -1;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = bytes;
    w->n++;
    return 0;
}

int ng_st_writer_meta(NgStWriter *w, const char *key, const char *value) {
    char q[96];
    if (!w || !key || !value) return ng_fail("ng_st_writer_meta: no writer, key or value");
    const char *k = quoted(key, q, sizeof q);
    if (!ng_utf8_valid(key, strlen(key)) || !ng_utf8_valid(value, strlen(value))) return ng_fail("metadata '%s': key or value is not valid UTF-8", k);
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->mkeys[i], key) == 0) return ng_fail("metadata '%s': duplicate key in safetensors writer", k);
    if (w->n_meta >= w->meta_cap) {
        int cap = w->meta_cap;
        if (reserve((void **)&w->mkeys, &cap, w->n_meta, sizeof *w->mkeys, "safetensors metadata") < 0) return -1;
        cap = w->meta_cap;
        if (reserve((void **)&w->mvals, &cap, w->n_meta, sizeof *w->mvals, "safetensors metadata") < 0) return -1;
        w->meta_cap = cap;
    }
    char *kc = dup_str(key, "safetensors metadata"), *vc = dup_str(value, "safetensors metadata");
    if (!kc || !vc) { free(kc); free(vc); return -1; }
    w->mkeys[w->n_meta] = kc;
    w->mvals[w->n_meta] = vc;
    w->n_meta++;
    return 0;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. Offsets are assigned
 * contiguously in insertion order. */
static void build_header(const NgStWriter *w, NgStr *h) {
    ng_str_printf(h, "{");
    if (w->n_meta) {
        ng_str_printf(h, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i++) {
            if (i) ng_str_printf(h, ",");
            ng_str_json_string(h, w->mkeys[i]);
            ng_str_printf(h, ":");
            ng_str_json_string(h, w->mvals[i]);
        }
        ng_str_printf(h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const StEntry *e = &w->t[i];
        if (i || w->n_meta) ng_str_printf(h, ",");
        ng_str_json_string(h, e->name);
        ng_str_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_table[e->dtype].name);
        for (int d = 0; d < e->ndim; d++) ng_str_printf(h, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        ng_str_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + e->nbytes));
        off += e->nbytes;
    }
    ng_str_printf(h, "}");
    while (h->len % 8) ng_str_printf(h, " ");
}



int ng_st_writer_save(NgStWriter *w, const char *path) {
    if (!w || !path) return ng_fail("ng_st_writer_save: no writer or no path");
    NgStr h = {0};
    build_header(w, &h);
    size_t len;
    char *header = ng_str_take(&h, &len);
    if (!header) return ng_fail("%s: out of memory", path);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)len >> (8 * i));
    NgAtomicFile out;
    int rc = ng_atomic_open(&out, path);
    if (rc == 0) rc = ng_atomic_write(&out, len8, 8);
    if (rc == 0) rc = ng_atomic_write(&out, header, len);
    for (int i = 0; i < w->n && rc == 0; i++) rc = ng_atomic_write(&out, w->t[i].data, (size_t)w->t[i].nbytes);
    if (rc == 0) rc = ng_atomic_commit(&out);
    free(header);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * conversions */

float ng_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);           /* inf, nan */
    else if (exp != 0) bits = sign | ((exp + 112u) << 23) | (man << 13); /* rebias 15 -> 127 */
    else if (man == 0) bits = sign;                                     /* +-0 */
    else {                                                              /* subnormal: man * 2^-24 */
        uint32_t e = 113;
        while (!(man & 0x400u)) { man <<= 1; e--; }
        bits = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float ng_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* dst[0..n) <- n elements of dtype dt at src (any alignment); dt is F32, F16 or BF16 */
void ng_dtype_to_f32(float *dst, const uint8_t *src, NgDtype dt, size_t n) {
    if (dt == NG_F32) { memcpy(dst, src, n * sizeof(float)); return; }
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = dt == NG_F16 ? ng_f16_to_f32(h) : ng_bf16_to_f32(h);
    }
}
