/* train_loop.c -- a training loop of your own, with only the public header: a small GPT on a
 * prepared dataset (`./nanogpt prepare` writes data/NAME/{train.bin,val.bin,meta.json}),
 * AdamW with gradient clipping, the loss printed as it goes, a checkpoint at the end that
 * `./nanogpt sample` and examples/generate read.
 *
 *   build/examples/train_loop DATA_DIR OUT.safetensors [STEPS]
 */
#include "nanogpt.h"
#include <stdio.h>
#include <stdlib.h>

enum { B = 8, T = 32 };

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s DATA_DIR OUT.safetensors [STEPS]\n", argv[0]); return 2; }
    int steps = argc > 3 ? atoi(argv[3]) : 100;
    char path[NG_PATH_MAX];
    NgTokenizer tok;
    NgTokenFile train = {0};
    NgModel m = {0};
    int rc = 1;
    snprintf(path, sizeof path, "%s/meta.json", argv[1]);
    if (ng_tokenizer_load_meta(&tok, path) != 0) goto fail;
    snprintf(path, sizeof path, "%s/train.bin", argv[1]);
    if (ng_tokenfile_open(&train, path, tok.vocab_size, T) != 0) goto fail;

    /* nanoGPT's GPTConfig: 2 layers, 4 heads, 64 channels, no dropout */
    NgModelArgs args = {.model_type = NG_MODEL_GPT, .block_size = T, .vocab_size = tok.vocab_size,
                        .n_layer = 2, .n_head = 4, .n_embd = 64, .dropout = 0.0f, .bias = 0, .gelu_tanh = 0};
    if (ng_model_create(&m, &args) != 0) goto fail;
    ng_model_init_weights(&m, 1337);
    printf("model: %zu parameters, vocabulary %d\n", m.num_params, tok.vocab_size);

    NgAdamW opt = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f};
    NgRng rng;
    ng_rng_seed(&rng, 1337);
    int x[B * T], y[B * T];
    m.training = 1;
    ng_model_zero_grad(&m);
    for (int step = 0; step < steps; step++) {
        if (ng_get_batch(&train, &rng, B, T, x, y) != 0) goto fail;
        if (ng_model_forward(&m, x, y, B, T) != 0) goto fail;   /* m.loss: mean cross-entropy */
        float loss = m.loss, norm;
        if (ng_model_backward(&m, 1.0f) != 0) goto fail;
        if (ng_optimizer_step(&m, &opt, 1.0f, &norm) != 0) goto fail;   /* clip at 1.0, AdamW, zero grads */
        if (step % 10 == 0 || step == steps - 1) printf("step %d: loss %.4f, grad norm %.3f\n", step, loss, norm);
    }
    /* no config, no run state: a checkpoint that holds the model and its tokenizer */
    if (ng_checkpoint_save(argv[2], &m, NULL, NULL, &tok) != 0) goto fail;
    printf("saved %s\n", argv[2]);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "train_loop: %s\n", ng_errmsg());
done:
    ng_model_free(&m);
    ng_tokenfile_close(&train);
    ng_tokenizer_free(&tok);
    return rc;
}
