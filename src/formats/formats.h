/* data.h -- internal helpers of the data layer (UTF-8, meta.json in memory), shared by
 * chartok.c, dataset.c, checkpoint code, tests and fuzz targets. Not part of the public API. */
#ifndef NG_DATA_H
#define NG_DATA_H
#include "nanogpt.h"
#include "base/util.h"

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

/* A dataset is three files replaced together: meta.json records the size and a hash of each
 * .bin file ("files": {"train.bin": {"bytes": N, "hash": "16 hex digits"}, ...}), prepare
 * writes it before the .bin files, and train checks it, so a dataset replaced half-way (a full
 * disk, a kill during prepare) is detected instead of trained on. */
typedef struct { uint64_t bytes, hash; } NgFileRecord;
/* hash of a byte stream fed in pieces whose sizes are multiples of 8, the last one aside:
 * start with h = ng_bin_hash_init(), end with ng_bin_hash_final(h, total bytes) */
uint64_t ng_bin_hash_init(void);
uint64_t ng_bin_hash_update(uint64_t h, const void *data, size_t n);
uint64_t ng_bin_hash_final(uint64_t h, uint64_t total);
/* the "files" member for train.bin and val.bin (appended to a meta.json object) */
void ng_files_record_json(NgStr *s, const NgFileRecord *train, const NgFileRecord *val);
/* prepare: the dataset directory created and locked (returns the lock, ng_dir_unlock it),
 * killed prepares' temporaries removed; meta.json written from the tokenizer's JSON object
 * and the records of the two .bin files */
int ng_dataset_begin(const char *out_dir);
int ng_dataset_write_meta(const char *out_dir, const char *tok_json, const NgFileRecord *train, const NgFileRecord *val);
/* checks an opened token file against meta_path's record of it (none: nothing to check) */
int ng_tokenfile_check_record(const NgTokenFile *f, const char *meta_path, const char *name);
#endif
