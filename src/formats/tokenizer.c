/* tokenizer.c -- one face for both tokenizers: the character vocabulary of a meta.json and
 * GPT-2's BPE. A meta.json says which: {"tokenizer": "gpt2", "vocab_size": 50257} or a char
 * vocabulary {"vocab_size": N, "tokenizer": "char", "itos": [...]}. */
#include "formats/bpe.h"
#include "formats/chartok.h"
#include "base/json.h"
#include "base/util.h"
#include <string.h>

int ng_tokenizer_gpt2(NgTokenizer *t) {
    memset(t, 0, sizeof *t);
    t->bpe = ng_bpe_load_gpt2();
    if (!t->bpe) return -1;
    t->kind = NG_TOK_GPT2;
    t->vocab_size = ng_bpe_vocab_size(t->bpe);
    return 0;
}

int ng_tokenizer_parse_meta(NgTokenizer *t, const char *text, size_t n, const char *name) {
    memset(t, 0, sizeof *t);
    char err[256];
    JsonValue *root = ng_json_parse(text, n, err, sizeof err);
    if (!root) return ng_fail("%s: not valid JSON (%s)", name, err);
    const JsonValue *kind = ng_json_get(root, "tokenizer");
    int gpt2 = kind && kind->type == JSON_STRING && strcmp(kind->string, "gpt2") == 0;
    const JsonValue *vs = ng_json_get(root, "vocab_size");
    int bad_size = gpt2 && vs && !(vs->type == JSON_NUMBER && vs->is_integer && vs->integer == NG_GPT2_VOCAB);
    ng_json_free(root);
    if (bad_size) return ng_fail("%s: a gpt2 tokenizer has vocab_size %d", name, NG_GPT2_VOCAB);
    if (gpt2) return ng_tokenizer_gpt2(t);
    t->chars = ng_calloc(1, sizeof *t->chars, "the vocabulary");
    if (!t->chars) return -1;
    if (ng_chartok_parse_meta(t->chars, text, n, name) != 0) { ng_tokenizer_free(t); return -1; }
    t->kind = NG_TOK_CHAR;
    t->vocab_size = t->chars->vocab_size;
    return 0;
}

int ng_tokenizer_load_meta(NgTokenizer *t, const char *path) {
    size_t n;
    memset(t, 0, sizeof *t);
    char *text = ng_read_file(path, &n);
    if (!text) return -1;
    int rc = ng_tokenizer_parse_meta(t, text, n, path);
    free(text);
    return rc;
}

int ng_tokenizer_encode(const NgTokenizer *t, const char *text, size_t n, int **ids, size_t *n_ids) {
    if (t->kind == NG_TOK_GPT2) return ng_bpe_encode(t->bpe, text, n, 1, ids, n_ids);
    if (t->kind == NG_TOK_CHAR) return ng_chartok_encode(t->chars, text, n, ids, n_ids);
    return ng_fail("no tokenizer");
}

char *ng_tokenizer_decode(const NgTokenizer *t, const int *ids, size_t n, size_t *len) {
    NgStr out = {0};
    ng_str_append(&out, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size) continue;      /* padding of the vocabulary */
        if (t->kind == NG_TOK_GPT2) {
            size_t bl;
            const char *b = ng_bpe_token_bytes(t->bpe, ids[i], &bl);
            if (b) ng_str_append(&out, b, bl);
        } else {
            const char *piece = ng_chartok_decode1(t->chars, ids[i]);
            /* U+0000 is the empty C string in itos: one NUL byte */
            if (piece) ng_str_append(&out, piece, t->chars->cps[ids[i]] == 0 ? 1 : strlen(piece));
        }
    }
    return ng_str_take(&out, len);
}

char *ng_tokenizer_meta_json(const NgTokenizer *t) {
    if (t->kind == NG_TOK_CHAR) return ng_chartok_meta_json(t->chars, NULL);
    if (t->kind == NG_TOK_GPT2) {
        NgStr s = {0};
        ng_str_printf(&s, "{\"tokenizer\": \"gpt2\", \"vocab_size\": %d}", t->vocab_size);
        return ng_str_take(&s, NULL);
    }
    return NULL;
}

void ng_tokenizer_free(NgTokenizer *t) {
    if (t->chars) { ng_chartok_free(t->chars); free(t->chars); }
    ng_bpe_free(t->bpe);
    memset(t, 0, sizeof *t);
}
