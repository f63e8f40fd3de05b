/* model.c -- a model's lifecycle and the dispatch over model types: create and free (the
 * parameters of params.c, the activations of acts.c), forward, backward, decode and logits
 * (gpt.c or bigram.c). A kernel that could not get its scratch memory skips its work; the
 * calls here notice (ng_kernel_failures) and fail instead of returning its results. */
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/util.h"
#include <string.h>

/* rc of a step that started when the kernels' failure count was `before` */
static int kernels_ok(int rc, unsigned long before) {
    if (rc == 0 && ng_kernel_failures() != before) return ng_fail("out of memory allocating kernel scratch");
    return rc;
}

int ng_model_create(NgModel *m, const NgModelArgs *args) {
    return ng_params_create(m, args);
}

void ng_model_free(NgModel *m) {
    ng_model_free_acts(m);
    ng_model_bf16_free(m);
    ng_params_free(m);
    memset(m, 0, sizeof *m);
}

/* Every call below runs its kernels with the model's team size (NgModel.threads), asked for the
 * calling thread only (ng_team_enter); nothing changes OpenMP's process-wide settings. */
static int model_forward(NgModel *m, const int *idx, const int *targets, int B, int T) {
    if (B <= 0 || T <= 0) return ng_fail("forward: empty batch (B=%d, T=%d)", B, T);
    if (T > m->args.block_size) return ng_fail("cannot forward sequence of length %d, block size is only %d", T, m->args.block_size);
    for (size_t i = 0; i < (size_t)B * T; i++)
        if (idx[i] < 0 || idx[i] >= m->args.vocab_size) return ng_fail("token id %d out of range [0, %d)", idx[i], m->args.vocab_size);
    m->B = B; m->T = T;
    unsigned long before = ng_kernel_failures();
    int rc = m->args.model_type == NG_MODEL_BIGRAM ? ng_bigram_forward(m, idx, targets, B, T) : ng_gpt_forward(m, idx, targets, B, T);
    return kernels_ok(rc, before);
}

int ng_model_forward(NgModel *m, const int *idx, const int *targets, int B, int T) {
    int team = ng_team_enter(m->threads);
    int rc = model_forward(m, idx, targets, B, T);
    ng_team_leave(team);
    return rc;
}

int ng_model_backward(NgModel *m, float loss_scale) {
    unsigned long before = ng_kernel_failures();
    int team = ng_team_enter(m->threads);
    int rc = m->args.model_type == NG_MODEL_BIGRAM ? ng_bigram_backward(m, loss_scale) : ng_gpt_backward(m, loss_scale);
    ng_team_leave(team);
    return kernels_ok(rc, before);
}

void ng_model_set_grad_hook(NgModel *m, void (*hook)(void *ctx, size_t from), void *ctx) {
    if (!m->acts) return;
    m->acts->grad_hook = hook;
    m->acts->grad_hook_ctx = ctx;
}

/* incremental inference: see nanogpt.h */
int ng_model_decode(NgModel *m, const int *tokens, int n, int pos0) {
    if (m->args.model_type != NG_MODEL_GPT)              /* the bigram model has no context */
        return ng_model_forward(m, tokens + n - 1, NULL, 1, 1);
    unsigned long before = ng_kernel_failures();
    int team = ng_team_enter(m->threads);
    int rc = ng_gpt_decode(m, tokens, n, pos0);
    ng_team_leave(team);
    return kernels_ok(rc, before);
}

const float *ng_model_logits(const NgModel *m) {
    return m->acts ? m->acts->logits : NULL;
}
