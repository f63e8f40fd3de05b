/* precision.c -- dtype: float32, or bfloat16 matmuls over a bf16 copy of the weights.
 *
 * In bfloat16 the parameters (the fp32 masters), the gradients, AdamW's moments and every
 * op but the matmuls stay in float32. The matmuls round their operands to bf16 and sum in
 * fp32 (kernels/matmul_bf16.c). The weights' side of each product comes from a copy of every
 * weight matrix (the Linear layers and wte as lm_head), rounded and packed for the kernel
 * once per optimizer step (params_version), not once per micro-batch: the forward packing
 * (out = inp w^T) when a forward runs, the backward one (dinp = dout w) when a backward runs.
 */
#include "model/model.h"
#include "base/util.h"
#include <string.h>

struct NgBf16Weights {
    NgWeightBf16 *w;                 /* [n_tensors]: NULL pointers for tensors that are not matmul weights */
    uint32_t *buf[2];                /* forward, backward packings of all of them */
    int made[2];                     /* buf[i] holds the packing of params_version `version[i]` */
    unsigned version[2];
};

int ng_model_set_dtype(NgModel *m, const char *dtype) {
    if (strcmp(dtype, "float32") == 0) m->dtype = NG_DTYPE_F32;
    else if (strcmp(dtype, "bfloat16") == 0) m->dtype = NG_DTYPE_BF16;
    else if (strcmp(dtype, "float16") == 0)
        return ng_fail("dtype float16 is not supported: this CPU has no float16 arithmetic (use bfloat16 or float32)");
    else return ng_fail("dtype must be float32 or bfloat16, got '%s'", dtype);
    return 0;
}

/* tensor i is the weight of a matmul: the GPT's 2-D tensors but the position embedding */
static int is_matmul_weight(const NgModel *m, int i) {
    const NgTensor *t = &m->tensors[i];
    return m->args.model_type == NG_MODEL_GPT && t->ndim == 2 && m->params + t->offset != m->p.wpe;
}

/* the packings are read through const views (NgWeightBf16) and written only here, in buf[] */
static uint32_t *own(const uint32_t *p) { return (uint32_t *)p; }

/* words of tensor t's packing in direction dir: forward op(B) = w^T (C, OC), backward op(B) = w (OC, C) */
static size_t packed_words(const NgTensor *t, int dir) {
    int OC = (int)t->shape[0], C = (int)t->shape[1];
    return dir == 0 ? ng_bf16_packed_words(C, OC) : ng_bf16_packed_words(OC, C);
}

/* the packings of directions [0, dirs) allocated (once: forward, and backward only once a
 * backward or an optimizer step wants it, so inference holds one copy) and every matmul
 * weight's fwd/bwd pointed into them */
static int bf16_layout(NgModel *m, int dirs) {
    struct NgBf16Weights *W = m->bf16;
    if (!W) {
        W = m->bf16 = ng_calloc(1, sizeof *W, "the bf16 weights");
        if (W) W->w = ng_calloc((size_t)m->n_tensors, sizeof(NgWeightBf16), "the bf16 weights");
        if (!W || !W->w) { ng_model_bf16_free(m); return -1; }
    }
    for (int dir = 0; dir < dirs; dir++) {
        if (W->buf[dir]) continue;
        size_t words = 0;
        for (int i = 0; i < m->n_tensors; i++)
            if (is_matmul_weight(m, i)) words += packed_words(&m->tensors[i], dir);
        uint32_t *p = W->buf[dir] = ng_aligned_alloc((words ? words : 1) * sizeof(uint32_t), "the bf16 weights");
        if (!p) return -1;
        for (int i = 0; i < m->n_tensors; i++) {
            if (!is_matmul_weight(m, i)) continue;
            if (dir == 0) W->w[i].fwd = p;
            else W->w[i].bwd = p;
            p += packed_words(&m->tensors[i], dir);
        }
        W->made[dir] = 0;
    }
    return 0;
}

int ng_model_bf16_refresh(NgModel *m, int backward) {
    if (m->dtype != NG_DTYPE_BF16) return 0;
    if (bf16_layout(m, backward ? 2 : 1) != 0) return -1;
    struct NgBf16Weights *W = m->bf16;
    for (int dir = 0; dir <= backward; dir++) {
        if (W->made[dir] && W->version[dir] == m->params_version) continue;
        for (int i = 0; i < m->n_tensors; i++) {
            if (!is_matmul_weight(m, i)) continue;
            const NgTensor *t = &m->tensors[i];
            int OC = (int)t->shape[0], C = (int)t->shape[1];
            const float *w = m->params + t->offset;                /* (OC, C) */
            if (dir == 0) ng_bf16_pack_b(own(W->w[i].fwd), 1, C, OC, w, C);
            else ng_bf16_pack_b(own(W->w[i].bwd), 0, OC, C, w, C);
        }
        W->made[dir] = 1;
        W->version[dir] = m->params_version;
    }
    return 0;
}

int ng_model_bf16_begin_update(NgModel *m) {
    if (m->dtype != NG_DTYPE_BF16 || m->args.model_type != NG_MODEL_GPT) return 0;
    return bf16_layout(m, 2) == 0 ? 1 : -1;
}

int ng_model_bf16_rows(const NgModel *m, int i) { return is_matmul_weight(m, i) ? NG_BF16_ROWS : 0; }

void ng_model_bf16_pack_rows(NgModel *m, int i, size_t r0, size_t r1) {
    const NgTensor *t = &m->tensors[i];
    int OC = (int)t->shape[0], C = (int)t->shape[1];
    const float *w = m->params + t->offset;
    const NgWeightBf16 *wb = &m->bf16->w[i];
    ng_bf16_pack_b_part(own(wb->fwd), 1, C, OC, w, C, r0 / NG_BF16_ROWS, (r1 + NG_BF16_ROWS - 1) / NG_BF16_ROWS);
    ng_bf16_pack_b_part(own(wb->bwd), 0, OC, C, w, C, r0 / 2, (r1 + 1) / 2);
}

void ng_model_bf16_end_update(NgModel *m) {
    struct NgBf16Weights *W = m->bf16;
    for (int dir = 0; dir < 2; dir++) { W->made[dir] = 1; W->version[dir] = m->params_version; }
}

const NgWeightBf16 *ng_model_weight_bf16(const NgModel *m, const float *w) {
    if (m->dtype != NG_DTYPE_BF16 || !m->bf16) return NULL;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->params + m->tensors[i].offset == w) return m->bf16->w[i].fwd ? &m->bf16->w[i] : NULL;
    return NULL;
}

void ng_model_bf16_free(NgModel *m) {
    if (!m->bf16) return;
    free(m->bf16->w); free(m->bf16->buf[0]); free(m->bf16->buf[1]);
    free(m->bf16);
    m->bf16 = NULL;
}
