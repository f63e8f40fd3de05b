/* fuzz_meta.c -- libFuzzer target for meta.json parsing (ng_chartok_parse_meta).
 *
 * Any input must either be rejected with a one-line error or give a tokenizer that satisfies
 * every invariant the rest of the program relies on; then its meta.json must round-trip and
 * encoding the input bytes must not crash.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Iinclude -Isrc \
 *       fuzz/fuzz_meta.c src/formats/chartok.c src/base/json.c src/base/util.c -lm -o fuzz_meta
 *   ./fuzz_meta fuzz/corpus/meta
 */
#include "nanogpt.h"
#include "formats/chartok.h"
#include "base/utf8.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NgCharTokenizer tok;
    if (ng_chartok_parse_meta(&tok, (const char *)data, size, "fuzz.json") != 0) {
        const char *e = ng_errmsg();
        if (strncmp(e, "fuzz.json: ", 11) != 0 || strchr(e, '\n')) abort();   /* one line, names the file */
        if (tok.itos || tok.cps || tok.vocab_size) abort();                      /* left empty */
        return 0;
    }
    /* invariants: V entries, each one code point whose UTF-8 is itos[i], all distinct */
    if (tok.vocab_size < 1) abort();
    for (int i = 0; i < tok.vocab_size; i++) {
        const char *s = ng_chartok_decode1(&tok, i);
        char buf[8];
        int len = ng_utf8_encode(tok.cps[i], buf);
        if (!s || !len || memcmp(s, buf, (size_t)len + 1) != 0) abort();
    }
    /* meta.json we write parses back to the same tokenizer */
    size_t n;
    char *json = ng_chartok_meta_json(&tok, &n);
    NgCharTokenizer back;
    if (!json || ng_chartok_parse_meta(&back, json, n, "rt.json") != 0) abort();
    if (back.vocab_size != tok.vocab_size ||
        memcmp(back.cps, tok.cps, (size_t)tok.vocab_size * sizeof(uint32_t)) != 0) abort();
    ng_chartok_free(&back);
    free(json);
    /* encoding arbitrary bytes either fails cleanly or gives ids in range */
    int *ids; size_t k;
    if (ng_chartok_encode(&tok, (const char *)data, size, &ids, &k) == 0) {
        for (size_t i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= tok.vocab_size) abort();
        free(ids);
    }
    ng_chartok_free(&tok);
    return 0;
}
