/* adamw.c -- torch.optim.AdamW: decoupled weight decay, bias-corrected moments */
#include "kernels/kernels.h"
#include <math.h>

void ng_adamw_update(float *param, float *grad, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t, float grad_scale, int zero_grad) {
    /* bias corrections in double, as PyTorch computes them in Python floats */
    float bc1 = (float)(1.0 - pow(beta1, t)), bc2 = (float)(1.0 - pow(beta2, t));
    float step = lr / bc1, bc2_sqrt = (float)sqrt((double)bc2);
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float g = grad_scale == 1.0f ? grad[i] : grad[i] * grad_scale;
        if (zero_grad) grad[i] = 0.0f;
        float p = param[i] * (1.0f - lr * weight_decay);
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi; v[i] = vi;
        param[i] = p - step * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}
