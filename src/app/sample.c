/* sample.c -- nanoGPT's sample.py: generate text from the checkpoint in out_dir (or from
 * pretrained weights) with ng_generate (src/model/generate.c). */
#include "base/utf8.h"
#include "app/run.h"
#include "base/util.h"
#include "model/model.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* the prompt: the start text, or the contents of FILE:path */
static char *read_start(const char *start, size_t *n) {
    if (strncmp(start, "FILE:", 5) == 0) return ng_read_file(start + 5, n);
    char *s = ng_malloc(strlen(start) + 1, "the prompt");
    if (s) { strcpy(s, start); *n = strlen(s); }
    return s;
}

int ng_sample(const NgConfig *cfg, FILE *out) {
    NgModel m;
    NgTokenizer tok;
    NgConfig saved;
    if (ng_load_for_inference(cfg, &m, &saved, &tok) != 0) return -1;
    /* temperature and top_k not given here: the training config's (its defaults unless it set
     * them, as config/train_lecture_gpt.conf does for the lecture's full softmax) */
    float temperature = ng_config_was_set(cfg, "temperature") ? cfg->temperature : saved.temperature;
    int top_k = ng_config_was_set(cfg, "top_k") ? cfg->top_k : saved.top_k;
    int rc = -1;
    int *ids = NULL, *prompt = NULL;
    char *text = NULL;
    size_t n_text = 0, n_prompt = 0;
    if (ng_config_was_set(cfg, "block_size") && cfg->block_size > m.args.block_size) {   /* as eval */
        ng_fail("%s/ckpt.safetensors: block_size %d is larger than the checkpoint's %d", cfg->out_dir, cfg->block_size, m.args.block_size);
        goto done;
    }
    /* a smaller block_size crops the context (nanoGPT's crop_block_size: positions past it unused) */
    if (ng_config_was_set(cfg, "block_size")) m.args.block_size = cfg->block_size;
    NgConfig c = *cfg;                             /* the model keys validated are the checkpoint's */
    ng_config_model_keys(&c, &m.args);
    if (ng_config_validate(&c) != 0 || ng_model_check_memory(&m.args, 1, m.args.block_size, 0, 1) != 0) goto done;
    if (tok.kind == NG_TOK_NONE) {
        ng_fail("%s/ckpt.safetensors: the checkpoint has no vocabulary (meta) to encode the prompt with", cfg->out_dir);
        goto done;
    }
    if (!(text = read_start(cfg->start, &n_text))) goto done;
    if (n_text == 0) { ng_fail("start: the prompt is empty"); goto done; }
    if (ng_utf8_count(text, n_text, "start") < 0) goto done;
    if (ng_tokenizer_encode(&tok, text, n_text, &prompt, &n_prompt) != 0) { ng_fail("start: %s", ng_errmsg()); goto done; }
    size_t cap = n_prompt + (size_t)cfg->max_new_tokens;
    ids = ng_malloc(sizeof(int) * cap, "the generated tokens");
    if (!ids) goto done;
    NgRng rng;
    ng_rng_seed(&rng, (uint64_t)cfg->seed);
    for (int s = 0; s < cfg->num_samples; s++) {
        memcpy(ids, prompt, sizeof(int) * n_prompt);
        /* ids the tokenizer does not have (the padding up to 50304) are never sampled */
        if (ng_generate(&m, ids, n_prompt, cfg->max_new_tokens, temperature, top_k, tok.vocab_size, &rng) != 0) goto done;
        size_t len = cap;
        size_t n_out;
        char *piece = ng_tokenizer_decode(&tok, ids, len, &n_out);
        if (!piece) goto done;
        fwrite(piece, 1, n_out, out);
        free(piece);
        fputs("\n---------------\n", out);
        if (fflush(out) != 0 || ferror(out)) { ng_fail("stdout: write failed: %s", strerror(errno)); goto done; }   /* a full disk, /dev/full */
    }
    rc = 0;
done:
    free(ids); free(text); free(prompt);
    ng_tokenizer_free(&tok);
    ng_model_free(&m);
    return rc;
}
