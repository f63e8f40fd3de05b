/* util.c -- errors, checked allocation, threads, time, string building (files: file.c). */
#include "base/util.h"
#include "base/fileguard.h"
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* one message per thread: two threads (two models, two requests) never see each other's */
static _Thread_local char g_err[1024];
const char *ng_errmsg(void) { return g_err[0] ? g_err : "unknown error"; }
/* The message is one line whatever it quotes (a value, a file name, a file's bytes): control
 * characters are written as escapes (\n, \t, \r, \xNN), so an error can never be a multi-line
 * message, move the cursor or ring the terminal. */
int ng_fail(const char *fmt, ...) {
    char tmp[sizeof g_err], esc[sizeof g_err];
    va_list ap; va_start(ap, fmt); vsnprintf(tmp, sizeof tmp, fmt, ap); va_end(ap);
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)tmp; *p && o + 5 < sizeof esc; p++) {
        if (*p >= 0x20 && *p != 0x7F) { esc[o++] = (char)*p; continue; }
        const char *named = *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\r' ? "\\r" : NULL;
        if (named) { memcpy(esc + o, named, 2); o += 2; }
        else o += (size_t)snprintf(esc + o, sizeof esc - o, "\\x%02x", *p);
    }
    esc[o] = 0;
    memcpy(g_err, esc, sizeof g_err);
    return -1;
}

void *ng_malloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ng_fail("out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}
void *ng_calloc(size_t n, size_t size, const char *what) {
    if (size && n > SIZE_MAX / size) { ng_fail("allocation size overflow for %s", what); return NULL; }
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ng_fail("out of memory allocating %zu bytes for %s", n * size, what);
    return p;
}
/* Zeroed buffers of 4 MiB and more (weights, moments, activations) are 2 MiB-aligned and
 * asked for transparent huge pages: a first touch of a 4 KiB page costs about 12 us in the
 * virtual machines measured here (the GPT-2 124M bf16 weights' first packing took a second of
 * page faults), and the kernels stream these buffers through fewer TLB entries. */
#define NG_HUGE_PAGE ((size_t)2 << 20)
static void *aligned_alloc_pages(size_t bytes, int zero, const char *what) {
    void *p = NULL;
    int huge = zero && bytes >= 2 * NG_HUGE_PAGE;     /* not zeroed: touched only where used */
    size_t align = huge ? NG_HUGE_PAGE : 64, rounded = (bytes + align - 1) & ~(align - 1);
    if (rounded < bytes || posix_memalign(&p, align, rounded ? rounded : 64) != 0) {
        ng_fail("out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (huge) madvise(p, rounded, MADV_HUGEPAGE);     /* advice only: without THP, 4 KiB pages */
#endif
    if (zero) memset(p, 0, rounded);
    return p;
}
void *ng_aligned_alloc(size_t bytes, const char *what) { return aligned_alloc_pages(bytes, 1, what); }
void *ng_aligned_alloc_uninit(size_t bytes, const char *what) { return aligned_alloc_pages(bytes, 0, what); }

double ng_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* OpenMP's default team size (OMP_NUM_THREADS or all cores); nothing here changes it: a
 * model's calls ask for their own team size (NgModel.threads) */
int ng_get_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* grows b to hold n more bytes and a NUL; on failure frees it and marks it failed (every
 * later append is ignored; ng_str_take reports the error) */
static int str_reserve(NgStr *b, size_t n) {
    if (b->failed) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t need = b->len + n + 1;
    if (ng_grow((void **)&b->s, &b->cap, need < 256 ? 256 : need, 1, "a string") == 0) return 0;
    free(b->s);
    b->s = NULL; b->len = b->cap = 0; b->failed = 1;
    return -1;
}

void ng_str_printf(NgStr *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0 || str_reserve(b, (size_t)need) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

void ng_str_append(NgStr *b, const char *bytes, size_t n) {
    if (str_reserve(b, n) != 0) return;
    memcpy(b->s + b->len, bytes, n);
    b->len += n;
    b->s[b->len] = 0;
}

void ng_str_json_number(NgStr *b, const char *fmt, double x) {
    if (!isfinite(x)) { ng_str_printf(b, "null"); return; }    /* JSON has no inf or nan */
    char tmp[64];
    snprintf(tmp, sizeof tmp, fmt, x);
    ng_str_printf(b, "%s", tmp);
}

char *ng_str_take(NgStr *b, size_t *len) {
    if (!b->failed && str_reserve(b, 0) == 0) b->s[b->len] = 0;
    if (b->failed) { ng_fail("out of memory building a string"); return NULL; }
    if (len) *len = b->len;
    return b->s;
}

void ng_str_json_string(NgStr *b, const char *s) { ng_str_json_bytes(b, s, strlen(s)); }

/* length of the valid UTF-8 character at s[0..n) (lead byte >= 0x80), 0 if invalid */
static size_t utf8_char(const unsigned char *s, size_t n) {
    size_t len = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++) if ((s[i] & 0xC0) != 0x80) return 0;
    if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0;   /* overlong, surrogate */
    if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;   /* overlong, > U+10FFFF */
    return len;
}

void ng_str_json_bytes(NgStr *b, const char *s, size_t n) {
    ng_str_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t run = i;                          /* plain bytes go in one piece */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\') run++;
        if (run > i) { ng_str_append(b, s + i, run - i); i = run; continue; }
        if (c >= 0x80) {
            size_t k = utf8_char(p + i, n - i);
            if (k) ng_str_append(b, s + i, k);
            else ng_str_append(b, "\xEF\xBF\xBD", 3);   /* U+FFFD for a byte that is not UTF-8 */
            i += k ? k : 1;
            continue;
        }
        switch (c) {
        case '"': ng_str_append(b, "\\\"", 2); break;
        case '\\': ng_str_append(b, "\\\\", 2); break;
        case '\n': ng_str_append(b, "\\n", 2); break;
        case '\r': ng_str_append(b, "\\r", 2); break;
        case '\t': ng_str_append(b, "\\t", 2); break;
        default: ng_str_printf(b, "\\u%04x", c);
        }
        i++;
    }
    ng_str_append(b, "\"", 1);
}

const char *ng_with_commas(uint64_t n, char *buf, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

int ng_grow(void **arr, size_t *cap, size_t need, size_t size, const char *what) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c = c > SIZE_MAX / 2 ? need : 2 * c;
    if (size && c > SIZE_MAX / size) return ng_fail("allocation size overflow for %s", what);
    void *a = realloc(*arr, c * size);
    if (!a) return ng_fail("out of memory allocating %zu bytes for %s", c * size, what);
    *arr = a;
    *cap = c;
    return 0;
}

