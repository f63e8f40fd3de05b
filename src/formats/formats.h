/* data.h -- internal helpers of the data layer (UTF-8, meta.json in memory), shared by
 * chartok.c, dataset.c, checkpoint code, tests and fuzz targets. Not part of the public API. */
#ifndef NG_DATA_H
#define NG_DATA_H
#include "nanogpt.h"

/* Decodes one UTF-8 code point from s[0..n) (n >= 1). Returns its length in bytes (1..4)
 * and sets *cp; returns 0 for invalid UTF-8 and sets *why (if not NULL) to a short reason:
 * "invalid byte 0xHH" style reasons are static strings ("unexpected continuation byte",
 * "invalid lead byte", "truncated sequence", "invalid continuation byte",
 * "overlong encoding", "surrogate code point", "code point above U+10FFFF"). */
int ng_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, const char **why);
/* Encodes cp (<= 0x10FFFF, not a surrogate) into out (at least 5 bytes, NUL-terminated).
 * Returns the length in bytes (1..4), or 0 if cp is not encodable. */
int ng_utf8_encode(uint32_t cp, char *out);
/* Checks that s[0..n) is valid UTF-8; returns the number of code points or -1 with the
 * error "NAME: not valid UTF-8 at byte K (reason)" (K 0-based, the offending sequence). */
long long ng_utf8_count(const char *s, size_t n, const char *name);

/* meta.json as text: parse (with every check of ng_chartok_load_meta; `name` is used as the
 * file name in errors) and build (malloc'd, NUL-terminated; NULL on out of memory). */
int ng_chartok_parse_meta(NgCharTokenizer *tok, const char *text, size_t n, const char *name);
char *ng_chartok_meta_json(const NgCharTokenizer *tok, size_t *len);

/* The same as ng_chartok_encode, but writing uint16 ids (vocab_size must be <= 65536). */
int ng_chartok_encode_u16(const NgCharTokenizer *tok, const char *text, size_t n,
                          uint16_t **out, size_t *n_out);
#endif
