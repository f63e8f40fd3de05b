/* utf8.h -- UTF-8: decode one code point, encode one, validate a text (internal). */
#ifndef NG_UTF8_H
#define NG_UTF8_H
#include <stddef.h>
#include <stdint.h>

#define NG_MAX_CP 0x10FFFFu

/* Decodes one UTF-8 code point from s[0..n) (n >= 1). Returns its length in bytes (1..4)
 * and sets *cp; returns 0 for invalid UTF-8 and sets *why (if not NULL) to a short reason,
 * a static string ("unexpected continuation byte", "invalid lead byte", "truncated sequence",
 * "overlong encoding", "surrogate code point", "code point above U+10FFFF"). */
int ng_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, const char **why);
/* Encodes cp (<= 0x10FFFF, not a surrogate) into out (at least 5 bytes, NUL-terminated).
 * Returns the length in bytes (1..4), or 0 if cp is not encodable. */
int ng_utf8_encode(uint32_t cp, char *out);
/* Checks that s[0..n) is valid UTF-8; returns the number of code points or -1 with the
 * error "NAME: not valid UTF-8 at byte K (reason)" (K 0-based, the offending sequence). */
long long ng_utf8_count(const char *s, size_t n, const char *name);
/* Sets the error "NAME: not valid UTF-8 at byte POS (WHY)" (without "NAME: " when name is
 * NULL) and returns -1. */
int ng_utf8_error(const char *name, size_t pos, const char *why);
/* 1 if s[0..n) is valid UTF-8, else 0 (no error set). */
int ng_utf8_valid(const char *s, size_t n);
#endif
