/* util.h -- internal helpers of every layer: errors, checked allocation, file I/O, threads,
 * timing, growing strings. Not part of the public API. */
#ifndef NG_UTIL_H
#define NG_UTIL_H
#include "nanogpt.h"
#include <stdlib.h>

/* Sets this thread's error message (what ng_errmsg() returns) and returns -1. Library code
 * never prints errors and never exits: it returns -1 with ng_fail("<file>: <problem>"). */
int ng_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that reports how much was asked on failure (returns NULL, sets ng_errmsg). */
void *ng_malloc(size_t bytes, const char *what);
void *ng_calloc(size_t n, size_t size, const char *what);
/* 64-byte aligned (for SIMD; 2 MiB and on huge pages from 4 MiB), zeroed. Free with free(). */
void *ng_aligned_alloc(size_t bytes, const char *what);
/* 64-byte aligned, not zeroed, on 4 KiB pages: for buffers only read where written first (a
 * KV cache), so that the pages never used are never touched */
void *ng_aligned_alloc_uninit(size_t bytes, const char *what);
/* ---- files (file.c) ---- */
/* Reads a whole file; NULL on failure with the error set. *size excludes the added NUL. */
char *ng_read_file(const char *path, size_t *size);
/* A regular file mapped read-only (data NULL for an empty file); madvise(advice) on it. */
typedef struct { void *data; size_t size; } NgFileMap;
int ng_file_map(NgFileMap *fm, const char *path, int advice);
void ng_file_unmap(NgFileMap *fm);
/* Writing a file atomically: open writes path.tmp.PID, finish fsyncs and closes it (it stays a
 * temporary file), commit finishes it if that is not done yet, renames it over path and fsyncs
 * the directory (an I/O error there is an error; a filesystem that cannot fsync a directory is
 * fine). Several files that belong together are all finished before any is committed. Any
 * failure removes the temporary file and leaves the previous path as it was; abort does the
 * same on purpose, also after finish, and does nothing after commit or on a zeroed struct. */
typedef struct { int fd; char path[NG_PATH_MAX], tmp[NG_PATH_MAX + 16]; } NgAtomicFile;
int ng_atomic_open(NgAtomicFile *f, const char *path);
int ng_atomic_write(NgAtomicFile *f, const void *data, size_t n);   /* on failure: aborted */
int ng_atomic_finish(NgAtomicFile *f);                              /* on failure: aborted */
int ng_atomic_commit(NgAtomicFile *f);                              /* on failure: aborted */
void ng_atomic_abort(NgAtomicFile *f);
int ng_write_file_atomic(const char *path, const void *data, size_t size);   /* all three at once */
int ng_mkdir_p(const char *dir);
double ng_now(void);                          /* seconds, monotonic */
int ng_get_threads(void);                     /* OpenMP's default team size */
/* 1115394 -> "1,115,394" (Python's f"{n:,}") into buf; returns buf */
const char *ng_with_commas(uint64_t n, char *buf, size_t size);
/* The one growable array: makes *arr (*cap elements of `size` bytes, realloc'd) hold at least
 * `need`, doubling; 0, or -1 with the error set (naming `what`) and *arr unchanged. */
int ng_grow(void **arr, size_t *cap, size_t need, size_t size, const char *what);
/* A growing malloc'd string (start with NgStr b = {0}). Out of memory frees it and marks it
 * failed: the appends that follow do nothing and ng_str_take returns NULL with the error set. */
typedef struct { char *s; size_t len, cap; int failed; } NgStr;
void ng_str_printf(NgStr *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ng_str_json_string(NgStr *b, const char *s);  /* appends a quoted, escaped JSON string */
/* bytes s[0..n) as a JSON string (NUL as \\u0000, bytes that are not UTF-8 as U+FFFD) */
void ng_str_json_bytes(NgStr *b, const char *s, size_t n);
/* appends x with fmt (one double conversion), or null when x is not finite: never invalid JSON */
void ng_str_json_number(NgStr *b, const char *fmt, double x);
void ng_str_append(NgStr *b, const char *bytes, size_t n);  /* appends raw bytes (NUL too) */
/* The string (NUL-terminated, never NULL unless out of memory; the caller frees it) and its
 * length in *len (may be NULL); NULL with the error set if an append ran out of memory. */
char *ng_str_take(NgStr *b, size_t *len);
#endif
