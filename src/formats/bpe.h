/* bpe.h -- GPT-2's byte-level BPE tokenizer, token for token identical to tiktoken's "gpt2"
 * encoding (internal header: bpe.c, tokenizer.c, prepare_bpe.c, the CLI, tests and fuzz targets).
 *
 * The vocabulary (encoder.json) and the merges (vocab.bpe) are embedded in the binary
 * (src/formats/gpt2_files.S), so nothing is read from disk at run time.
 *
 * Invalid UTF-8: tiktoken only ever sees valid UTF-8 (it takes strings). Here every byte that is
 * not part of a valid UTF-8 sequence is a "character" of its own in the class [^\s\p{L}\p{N}]
 * (the class of U+FFFD, which is what tiktoken makes of it): the pieces are those tiktoken cuts
 * from the text with each invalid byte replaced by U+FFFD, and BPE runs on the raw bytes, so
 * decode(encode(x)) == x for any bytes x.
 */
#ifndef NG_BPE_H
#define NG_BPE_H
#include "nanogpt.h"

#define NG_GPT2_VOCAB 50257          /* 50000 merges + 256 bytes + <|endoftext|> */
#define NG_GPT2_EOT   50256          /* <|endoftext|> */

typedef struct NgBpe NgBpe;

/* Loads the embedded GPT-2 vocabulary (a few ms); NULL with ng_errmsg() set on failure. */
NgBpe *ng_bpe_load_gpt2(void);
void ng_bpe_free(NgBpe *bpe);
int ng_bpe_vocab_size(const NgBpe *bpe);

/* Encodes text[0..n) (any bytes). allow_special = 1: "<|endoftext|>" becomes NG_GPT2_EOT, like
 * tiktoken's encode(text, allowed_special={"<|endoftext|>"}); 0: it is ordinary text, like
 * encode_ordinary. *ids is malloc'd (never NULL on success, even for n == 0). 0 or -1. */
int ng_bpe_encode(const NgBpe *bpe, const char *text, size_t n, int allow_special, int **ids, size_t *n_ids);
/* The bytes of ids[0..n), malloc'd and NUL-terminated (the NUL is not counted in *len).
 * NULL with the error set for an id out of range. */
char *ng_bpe_decode(const NgBpe *bpe, const int *ids, size_t n, size_t *len);
/* The bytes of one token (not NUL-terminated), NULL if id is out of range. */
const char *ng_bpe_token_bytes(const NgBpe *bpe, int id, size_t *len);

/* ---- lower level ----
 * An encoder holds the scratch buffers and a cache of recently encoded words, so repeated
 * calls (and one encoder per thread) do not allocate; ng_bpe_encode makes one per call. */
typedef struct NgBpeEncoder NgBpeEncoder;
NgBpeEncoder *ng_bpe_encoder_new(const NgBpe *bpe);
void ng_bpe_encoder_free(NgBpeEncoder *e);
/* Appends the ids of text[0..n) to the encoder's output and returns all of it (valid until
 * the next call); ng_bpe_encoder_reset empties the output. 0 or -1 (out of memory). */
int ng_bpe_encoder_run(NgBpeEncoder *e, const char *text, size_t n, int allow_special,
                       const int **ids, size_t *n_ids);
void ng_bpe_encoder_reset(NgBpeEncoder *e);

/* The pre-tokenizer: end (exclusive) of the piece that starts at s[i], i < n. The pieces of
 * a text are the matches of GPT-2's pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * scanned left to right. */
size_t ng_bpe_piece_end(const NgBpe *bpe, const unsigned char *s, size_t n, size_t i);

/* testing: this encoder merges words longer than `bytes` with a heap, O(n log n), instead of
 * tiktoken's O(n^2) scan (the result is the same); default 256. */
void ng_bpe_encoder_set_small_piece(NgBpeEncoder *e, size_t bytes);

/* Streaming: the largest b in (0, n) such that encoding s[0..b) and s[b..) separately gives
 * the same ids as encoding s[0..n) and everything after it whole (ordinary mode), whatever
 * follows s[n-1]; 0 if s[0..n) has no such point. See the argument in bpe.c. */
size_t ng_bpe_safe_cut(const NgBpe *bpe, const char *s, size_t n);

#endif
