/* util.c -- errors, checked allocation, files, threads, time, string building. */
#include "base/util.h"
#include <errno.h>
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

static char g_err[1024];
const char *ng_errmsg(void) { return g_err[0] ? g_err : "unknown error"; }
int ng_fail(const char *fmt, ...) {
    char tmp[sizeof g_err];
    va_list ap; va_start(ap, fmt); vsnprintf(tmp, sizeof tmp, fmt, ap); va_end(ap);
    memcpy(g_err, tmp, sizeof g_err);
    return -1;
}
void ng_die_last(void) { fprintf(stderr, "nanogpt: %s\n", ng_errmsg()); exit(1); }

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

char *ng_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { ng_fail("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) { fclose(f); ng_fail("%s: not a regular file", path); return NULL; }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) { fclose(f); ng_fail("%s: out of memory reading %zu bytes", path, n); return NULL; }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) { free(buf); ng_fail("%s: read error", path); return NULL; }
    buf[n] = 0;
    if (size) *size = n;
    return buf;
}

static int fsync_dir_of(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) { if (slash == dir) slash[1] = 0; else *slash = 0; } else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return 0;          /* best effort */
    fsync(fd);
    close(fd);
    return 0;
}

int ng_write_file_atomic(const char *path, const void *data, size_t size) {
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return ng_fail("%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ng_fail("%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left > (1u << 30) ? (1u << 30) : left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno; close(fd); unlink(tmp);
            return ng_fail("%s: write failed: %s (the previous file is untouched)", path, strerror(e));
        }
        p += w; left -= (size_t)w;
    }
    if (fsync(fd) != 0) { int e = errno; close(fd); unlink(tmp); return ng_fail("%s: fsync failed: %s", path, strerror(e)); }
    if (close(fd) != 0) { int e = errno; unlink(tmp); return ng_fail("%s: close failed: %s", path, strerror(e)); }
    if (rename(tmp, path) != 0) { int e = errno; unlink(tmp); return ng_fail("%s: rename failed: %s", path, strerror(e)); }
    return fsync_dir_of(path);
}

int ng_mkdir_p(const char *dir) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return ng_fail("%s: path too long", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return ng_fail("%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return ng_fail("%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return ng_fail("%s: not a directory", buf);
    return 0;
}

double ng_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ng_set_threads(int n) {
#ifdef _OPENMP
    if (n <= 0) {
        const char *env = getenv("OMP_NUM_THREADS");
        n = (env && atoi(env) > 0) ? atoi(env) : omp_get_num_procs();
    }
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}
int ng_get_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ng_str_printf(NgStr *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) return;
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)need + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { fprintf(stderr, "nanogpt: out of memory building a string of %zu bytes\n", cap); exit(1); }
        b->s = s; b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

void ng_str_append(NgStr *b, const char *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { fprintf(stderr, "nanogpt: out of memory building a string of %zu bytes\n", cap); exit(1); }
        b->s = s; b->cap = cap;
    }
    memcpy(b->s + b->len, bytes, n);
    b->len += n;
    b->s[b->len] = 0;
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

const char *ng_commas(uint64_t n, char *buf, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < len && (size_t)o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}
