/* util.c -- errors, checked allocation, threads, time, string building (files: file.c). */
#include "base/util.h"
#include "base/fileguard.h"
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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
void *ng_aligned_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes || posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
        ng_fail("out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

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
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        free(b->s);
        b->s = NULL; b->len = b->cap = 0; b->failed = 1;
        return ng_fail("out of memory building a string of %zu bytes", cap);
    }
    b->s = s; b->cap = cap;
    return 0;
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

void ng_str_json_string(NgStr *b, const char *s) {
    ng_str_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': ng_str_printf(b, "\\\""); break;
        case '\\': ng_str_printf(b, "\\\\"); break;
        case '\n': ng_str_printf(b, "\\n"); break;
        case '\r': ng_str_printf(b, "\\r"); break;
        case '\t': ng_str_printf(b, "\\t"); break;
        default:
            if (*p < 0x20) ng_str_printf(b, "\\u%04x", *p);
            else ng_str_printf(b, "%c", *p);
        }
    }
    ng_str_printf(b, "\"");
}
