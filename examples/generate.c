/* generate.c -- text from a trained model, with only the public header:
 *
 *   build/examples/generate SPEC [PROMPT] [N_TOKENS]
 *
 * SPEC: a checkpoint (out_dir/ckpt.safetensors or out_dir itself), or pretrained GPT-2
 * weights (gpt2, a Hugging Face model.safetensors, an llm.c .bin). Prints the prompt and N new
 * tokens (default 100) drawn at temperature 0.8 from the top 200, then on stderr how many
 * tokens were generated. */
#include "nanogpt.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s SPEC [PROMPT] [N_TOKENS]\n", argv[0]); return 2; }
    const char *prompt = argc > 2 ? argv[2] : "\n";
    int n_new = argc > 3 ? atoi(argv[3]) : 100;
    NgModel m;
    NgTokenizer tok;
    if (ng_model_load(argv[1], &m, &tok) != 0) { fprintf(stderr, "generate: %s\n", ng_errmsg()); return 1; }
    int rc = 1;
    int *ids = NULL;                              /* the prompt's ids, then room for n_new more */
    size_t n_prompt = 0;
    char *text = NULL;
    if (tok.kind == NG_TOK_NONE) { fprintf(stderr, "generate: %s has no tokenizer\n", argv[1]); goto done; }
    if (ng_tokenizer_encode(&tok, prompt, strlen(prompt), &ids, &n_prompt) != 0) goto fail;
    int *room = realloc(ids, sizeof(int) * (n_prompt + (size_t)n_new));
    if (!room) { fprintf(stderr, "generate: out of memory\n"); goto done; }
    ids = room;
    NgRng rng;
    ng_rng_seed(&rng, 1337);
    /* ids the tokenizer lacks (a GPT-2 vocabulary padded to 50304) are never drawn */
    if (ng_generate(&m, ids, n_prompt, n_new, 0.8f, 200, tok.vocab_size, &rng) != 0) goto fail;
    size_t len;
    if (!(text = ng_tokenizer_decode(&tok, ids, n_prompt + (size_t)n_new, &len))) goto fail;
    fwrite(text, 1, len, stdout);
    printf("\n");
    fprintf(stderr, "generated %d tokens after a prompt of %zu\n", n_new, n_prompt);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "generate: %s\n", ng_errmsg());
done:
    free(text);
    free(ids);
    ng_tokenizer_free(&tok);
    ng_model_free(&m);
    return rc;
}
