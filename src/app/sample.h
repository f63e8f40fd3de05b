/* sample.h -- internal: drawing samples token by token, shared by `sample` and `serve`.
 * A sequence (NgSeq) owns its tokens, its random stream and its text; ng_seqs_step advances
 * any set of sequences by one token each through one batched decode. */
#ifndef NG_SAMPLE_H
#define NG_SAMPLE_H
#include "nanogpt.h"
#include "base/util.h"

#define NG_MAX_STOPS 4
typedef struct {
    float temperature, top_p;
    int top_k;
    int stop_at_eos;                 /* GPT-2: a sample ends at <|endoftext|> */
    char *stops[NG_MAX_STOPS];       /* stop strings (escapes already decoded), owned by the caller */
    int n_stops;
} NgSampleParams;

typedef enum { NG_RUNNING = 0, NG_FINISH_LENGTH, NG_FINISH_STOP } NgFinish;

typedef struct {
    const NgSampleParams *p;
    int *ids; size_t len, n_prompt;  /* prompt + generated tokens; room for n_prompt + max_new */
    int max_new, n_new;
    int slot;                        /* its KV cache in the decoder */
    NgRng rng;
    NgStr text;                      /* bytes of the generated tokens */
    size_t searched;                 /* stop strings looked for in text[0..searched + ...) */
    size_t end;                      /* once finished by a stop string: where it starts */
    size_t sent;                     /* bytes of text handed out so far */
    NgFinish finish;
} NgSeq;

/* ids: malloc'd copy of the prompt with room for max_new more; seeds its stream with seed */
int ng_seq_init(NgSeq *s, const NgSampleParams *p, const int *prompt, size_t n_prompt, int max_new, uint64_t seed, int slot);
void ng_seq_free(NgSeq *s);
/* one token for each of the n sequences (unfinished ones): a sequence's first token (its
 * prompt's prefill, shared with the one before when the prompt is the same) and tokens past
 * block_size (the cropped window) decode on their own, all others in one batched step */
int ng_seqs_step(NgModel *m, NgDecoder *d, const NgTokenizer *tok, NgSeq **seqs, int n, float *scratch);
/* text[sent, result) may be handed out: never the start of a possible stop string, never
 * part of a UTF-8 character (unless finished) */
size_t ng_seq_ready(const NgSeq *s);
/* "\n", "\t", "\r", "\\", "\"", "\'" in a stop string given as text; malloc'd */
char *ng_unescape(const char *s);
/* slots of a decoder that fit a memory budget (at most want) */
int ng_decoder_budget(const NgModel *m, int want);
#endif
