/* util.h -- internal helpers: checked allocation and file I/O, threads, timing. */
#ifndef NG_UTIL_H
#define NG_UTIL_H
#include "nanogpt.h"
#include <stdlib.h>

/* Allocation that reports how much was asked on failure (returns NULL, sets ng_errmsg). */
void *ng_malloc(size_t bytes, const char *what);
void *ng_calloc(size_t n, size_t size, const char *what);
/* 64-byte aligned (for SIMD), zeroed. Free with free(). */
void *ng_aligned_alloc(size_t bytes, const char *what);
/* Reads a whole file; NULL on failure with the error set. *size excludes the added NUL. */
char *ng_read_file(const char *path, size_t *size);
/* Writes a whole file atomically (tmp + fsync + rename + fsync dir). */
int ng_write_file_atomic(const char *path, const void *data, size_t size);
int ng_mkdir_p(const char *dir);
double ng_now(void);                          /* seconds, monotonic */
void ng_set_threads(int n);                   /* 0 = number of cores */
int ng_get_threads(void);
/* CLI: print "nanogpt: <msg>" and exit(1). */
void ng_die_last(void) __attribute__((noreturn));
/* 1115394 -> "1,115,394" (Python's f"{n:,}") in buf */
const char *ng_commas(uint64_t n, char *buf, size_t size);
/* Appends printf output to a growing malloc'd string. */
typedef struct { char *s; size_t len, cap; } NgStr;
void ng_str_printf(NgStr *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ng_str_json_string(NgStr *b, const char *s);  /* appends a quoted, escaped JSON string */
void ng_str_append(NgStr *b, const char *bytes, size_t n);  /* appends raw bytes (NUL too) */
#endif
