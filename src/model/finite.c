/* finite.c -- weights enter the program finite or not at all */
#include "model/model.h"
#include "base/util.h"
#include <math.h>

/* first non-finite value of buf (laid out as m's tensors): its tensor named (with prefix) */
static int check_buffer(const NgModel *m, const float *buf, const char *prefix, const char *path) {
    for (int i = 0; i < m->n_tensors; i++) {
        const NgTensor *t = &m->tensors[i];
        const float *w = buf + t->offset;
        int bad = 0;
        for (size_t j = 0; j < t->numel; j++) bad |= !isfinite(w[j]);   /* branch-free: vectorises */
        if (!bad) continue;
        size_t j = 0;
        while (isfinite(w[j])) j++;
        return ng_fail("%s: tensor %s%s holds a non-finite value (%g at element %zu): the weights are broken", path,
                       prefix, t->name, w[j], j);
    }
    return 0;
}

int ng_model_check_finite(const NgModel *m, const char *path) {
    if (check_buffer(m, m->params, "", path) != 0) return -1;
    if (m->m && check_buffer(m, m->m, "optimizer.exp_avg.", path) != 0) return -1;
    if (m->v && check_buffer(m, m->v, "optimizer.exp_avg_sq.", path) != 0) return -1;
    return 0;
}
