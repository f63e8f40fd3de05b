/* chartok.h -- the character-level tokenizer (nanoGPT's meta.json vocabulary); internal: the
 * public face is NgTokenizer. Used by tokenizer.c, dataset.c, tests and fuzz targets. */
#ifndef NG_CHARTOK_H
#define NG_CHARTOK_H
#include "nanogpt.h"

struct NgCharTokenizer {
    int vocab_size;
    char **itos;                     /* id -> UTF-8 string of one code point */
    /* code point -> id lookup */
    uint32_t *cps;                   /* sorted code points, [vocab_size] */
};
/* Builds the vocabulary from UTF-8 text (error on invalid UTF-8, naming `path`). */
int ng_chartok_build(NgCharTokenizer *tok, const char *text, size_t n, const char *path);
int ng_chartok_load_meta(NgCharTokenizer *tok, const char *meta_path);
int ng_chartok_save_meta(const NgCharTokenizer *tok, const char *meta_path);
/* Encodes UTF-8 text; error names the first character not in the vocabulary. *out is malloc'd. */
int ng_chartok_encode(const NgCharTokenizer *tok, const char *text, size_t n, int **out, size_t *n_out);
const char *ng_chartok_decode1(const NgCharTokenizer *tok, int id);
void ng_chartok_free(NgCharTokenizer *tok);

/* meta.json as text: parse (with every check of ng_chartok_load_meta; `name` is used as the
 * file name in errors) and build (malloc'd, NUL-terminated; NULL on out of memory). */
int ng_chartok_parse_meta(NgCharTokenizer *tok, const char *text, size_t n, const char *name);
char *ng_chartok_meta_json(const NgCharTokenizer *tok, size_t *len);

/* The same as ng_chartok_encode, but writing uint16 ids (vocab_size must be <= 65536). */
int ng_chartok_encode_u16(const NgCharTokenizer *tok, const char *text, size_t n,
                          uint16_t **out, size_t *n_out);
#endif
