/* optim.c -- AdamW with nanoGPT's two parameter groups, gradient clipping, LR schedule */
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/util.h"
#include <math.h>

/* AdamW over elements [a, b) of tensor t, their moments at ma, va */
static void adamw_part(NgModel *m, const NgAdamW *opt, const NgTensor *t, float grad_scale, int zero_grad, size_t a, size_t b,
                       float *ma, float *va) {
    ng_adamw_update(m->params + a, m->grads + a, ma, va, b - a, opt->lr, opt->beta1, opt->beta2, opt->eps,
                    t->decay || opt->decay_all ? opt->weight_decay : 0.0f, opt->t, grad_scale, zero_grad);
}

/* One AdamW step over params[r0, r1) (every tensor: r0 = 0, r1 = num_params), with the moments
 * of that range in mm/vv (index 0 = element r0): weight decay on tensors with >= 2 dims
 * (nanoGPT's configure_optimizers; the tied wte/lm_head matrix is one tensor here, counted
 * once). Gradients are multiplied by grad_scale on the way; zero_grad clears them in the same pass. */
static void adamw_range(NgModel *m, NgAdamW *opt, float grad_scale, int zero_grad, size_t r0, size_t r1, float *mm, float *vv) {
    /* one parallel region over the range: each thread updates the part of every tensor
     * inside its share (cut at multiples of 16 floats) */
    m->params_version++;                      /* the bf16 weight copy is remade from the new values */
    size_t n = r1 - r0;
    int team = ng_team_enter(m->threads);
    #pragma omp parallel if(n >= 65536) num_threads(ng_team_want())
    {
        size_t lo, hi;
        ng_thread_share(n, 16, &lo, &hi);
        lo += r0; hi += r0;
        for (int i = 0; i < m->n_tensors; i++) {
            const NgTensor *t = &m->tensors[i];
            size_t a = t->offset > lo ? t->offset : lo, b = t->offset + t->numel < hi ? t->offset + t->numel : hi;
            if (a >= b) continue;
            adamw_part(m, opt, t, grad_scale, zero_grad, a, b, mm + (a - r0), vv + (a - r0));
        }
    }
    ng_team_leave(team);
}

/* The whole step in bfloat16: each weight matrix in blocks of rows, every block updated and
 * then packed into the bf16 copy while it is still in cache (instead of a second and a third
 * pass over all the weights at the next forward and backward). The same AdamW call per element
 * range as adamw_range (adamw_part), so the same bits; blocks go to threads dynamically. */
static void adamw_all_bf16(NgModel *m, NgAdamW *opt, float grad_scale, int zero_grad) {
    m->params_version++;
    int team = ng_team_enter(m->threads);
    #pragma omp parallel if(m->num_params >= 65536) num_threads(ng_team_want())
    for (int i = 0; i < m->n_tensors; i++) {
        const NgTensor *t = &m->tensors[i];
        size_t rows = ng_model_bf16_rows(m, i);
        size_t width = rows ? (size_t)t->shape[1] : 16384, step = rows ? rows * width : width;
        long blocks = (long)((t->numel + step - 1) / step);
        /* no barrier between tensors: every block is independent (the region's end waits) */
        #pragma omp for schedule(dynamic, 1) nowait
        for (long k = 0; k < blocks; k++) {
            size_t a = t->offset + (size_t)k * step, b = a + step < t->offset + t->numel ? a + step : t->offset + t->numel;
            adamw_part(m, opt, t, grad_scale, zero_grad, a, b, m->m + a, m->v + a);
            if (rows) ng_model_bf16_pack_rows(m, i, (size_t)k * rows, (b - t->offset) / width);
        }
    }
    ng_team_leave(team);
    ng_model_bf16_end_update(m);
}

static int adamw_step(NgModel *m, NgAdamW *opt, float grad_scale, int zero_grad) {
    if (!m->grads) return ng_fail("optimizer step before any backward pass");
    if (!m->m) {
        m->m = ng_aligned_alloc(m->num_params * sizeof(float), "AdamW first moments");
        m->v = ng_aligned_alloc(m->num_params * sizeof(float), "AdamW second moments");
        if (!m->m || !m->v) return -1;
    }
    opt->t++;
    int fused = ng_model_bf16_begin_update(m);
    if (fused < 0) return -1;
    if (fused) adamw_all_bf16(m, opt, grad_scale, zero_grad);
    else adamw_range(m, opt, grad_scale, zero_grad, 0, m->num_params, m->m, m->v);
    return 0;
}

int ng_adamw_step(NgModel *m, NgAdamW *opt) { return adamw_step(m, opt, 1.0f, 0); }

/* clip coefficient of torch.nn.utils.clip_grad_norm_ */
static float clip_coef(float norm, float max_norm) {
    if (max_norm <= 0.0f) return 1.0f;
    float coef = max_norm / (norm + 1e-6f);
    return coef < 1.0f ? coef : 1.0f;
}

/* The training loop's step: global norm, clipping folded into AdamW, gradients cleared, in
 * two passes over the gradients instead of four. Same numbers as ng_clip_grad_norm followed
 * by ng_adamw_step. A non-finite norm leaves the parameters untouched and returns -1. */
int ng_optimizer_step(NgModel *m, NgAdamW *opt, float grad_clip, float *norm_out) {
    if (!m->grads) return ng_fail("optimizer step before any backward pass");
    float norm = ng_grad_norm(m);
    if (norm_out) *norm_out = norm;
    if (!isfinite(norm)) return ng_fail("the gradient norm is %g", norm);
    return adamw_step(m, opt, clip_coef(norm, grad_clip), 1);
}

/* sum of squares of grads[r0, r1) in double over a fixed number of contiguous parts (set by
 * the size alone), the parts then added in order: the same bits on every run, whatever team
 * OpenMP gives */
double ng_grad_sumsq(const NgModel *m, size_t r0, size_t r1) {
    enum { PARTS = 64 };
    double part[PARTS];
    const float *g = m->grads + r0;
    size_t n = r1 - r0, P = n >= 65536 ? PARTS : 1;
    int team = ng_team_enter(m->threads);
    NG_PARALLEL_RANGE(P, 1, P > 1,
        for (size_t k = lo; k < hi; k++) {
            double s = 0.0;
            size_t a = n * k / P, b = n * (k + 1) / P;
            _Pragma("omp simd reduction(+:s)")
            for (size_t i = a; i < b; i++) s += (double)g[i] * g[i];
            part[k] = s;
        });
    ng_team_leave(team);
    double s = 0.0;
    for (size_t k = 0; k < P; k++) s += part[k];
    return s;
}

/* global L2 norm of all gradients */
float ng_grad_norm(const NgModel *m) { return (float)sqrt(ng_grad_sumsq(m, 0, m->num_params)); }

/* The step of one rank under data parallelism: AdamW over its range [r0, r1) with the moments
 * of that range (mm, vv), clipped by the global `norm` the ranks computed together; the
 * range's gradients cleared. Same numbers as ng_optimizer_step over the whole buffer. */
int ng_optimizer_step_range(NgModel *m, NgAdamW *opt, float grad_clip, float norm, size_t r0, size_t r1, float *mm, float *vv) {
    if (!m->grads) return ng_fail("optimizer step before any backward pass");
    if (!isfinite(norm)) return ng_fail("the gradient norm is %g", norm);
    opt->t++;
    adamw_range(m, opt, clip_coef(norm, grad_clip), 1, r0, r1, mm, vv);
    return 0;
}

/* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1 */
float ng_clip_grad_norm(NgModel *m, float max_norm) {
    float norm = ng_grad_norm(m);
    float coef = clip_coef(norm, max_norm);
    if (coef < 1.0f) {
        int team = ng_team_enter(m->threads);
        #pragma omp parallel for schedule(static) num_threads(ng_team_want())
        for (size_t i = 0; i < m->num_params; i++) m->grads[i] *= coef;
        ng_team_leave(team);
    }
    return norm;
}
