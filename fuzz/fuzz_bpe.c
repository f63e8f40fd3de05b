/* fuzz_bpe.c -- libFuzzer target for the GPT-2 BPE tokenizer (data/bpe.c).
 *
 * For any bytes x, in both modes (ordinary and <|endoftext|> allowed):
 *   - every id is in 0..50256, and decode(encode(x)) == x;
 *   - the heap merge (long words) gives the same ids as tiktoken's scan (short words);
 *   - cutting x at ng_bpe_safe_cut and encoding the two parts apart gives the ids of x
 *     (the property `prepare` relies on to stream), and pieces tile x.
 *   make fuzz && ./build/fuzz/fuzz_bpe fuzz/corpus/bpe
 */
#include "nanogpt.h"
#include "formats/bpe.h"
#include <stdlib.h>
#include <string.h>

static NgBpe *bpe;

static int *encode(const uint8_t *data, size_t size, int special, size_t *n) {
    int *ids;
    if (ng_bpe_encode(bpe, (const char *)data, size, special, &ids, n) != 0) abort();
    for (size_t i = 0; i < *n; i++)
        if (ids[i] < 0 || ids[i] > NG_GPT2_EOT || (!special && ids[i] == NG_GPT2_EOT)) abort();
    return ids;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!bpe && !(bpe = ng_bpe_load_gpt2())) abort();
    int *ord = NULL;
    size_t n_ord = 0;
    for (int special = 0; special < 2; special++) {
        size_t n, len;
        int *ids = encode(data, size, special, &n);
        char *back = ng_bpe_decode(bpe, ids, n, &len);
        if (!back || len != size || memcmp(back, data, size) != 0) abort();
        free(back);
        if (special) free(ids);
        else { ord = ids; n_ord = n; }
    }
    /* every word through the heap merge */
    NgBpeEncoder *e = ng_bpe_encoder_new(bpe);
    if (!e) abort();
    ng_bpe_encoder_set_small_piece(e, 1);
    const int *heap;
    size_t n;
    if (ng_bpe_encoder_run(e, (const char *)data, size, 0, &heap, &n) != 0) abort();
    if (n != n_ord || memcmp(heap, ord, n * sizeof *ord) != 0) abort();
    ng_bpe_encoder_free(e);
    /* safe cut */
    size_t cut = ng_bpe_safe_cut(bpe, (const char *)data, size);
    if (cut) {
        size_t na, nb;
        int *a = encode(data, cut, 0, &na), *b = encode(data + cut, size - cut, 0, &nb);
        if (na + nb != n_ord || memcmp(a, ord, na * sizeof *a) != 0 || memcmp(b, ord + na, nb * sizeof *b) != 0) abort();
        free(a); free(b);
    }
    /* the pre-tokenizer's pieces are non-empty and tile the input */
    for (size_t i = 0; i < size;) {
        size_t j = ng_bpe_piece_end(bpe, data, size, i);
        if (j <= i || j > size) abort();
        i = j;
    }
    free(ord);
    return 0;
}
