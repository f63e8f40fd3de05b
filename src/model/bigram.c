/* bigram.c -- the lecture's first model: logits(B,T,V) = token_embedding_table[idx] */
#include "kernels/kernels.h"
#include "model/model.h"
#include "base/util.h"
#include <string.h>

/* fewer logits than this: a team costs more than it saves (bigram.py's batch is 256 x 65) */
#define BIGRAM_MIN_PARALLEL 65536

int ng_bigram_forward(NgModel *m, const int *idx, const int *targets, int B, int T) {
    int V = m->args.vocab_size, N = B * T;
    if (!m->acts || m->acts->capacity < (size_t)N)
        if (ng_model_alloc_acts(m, (size_t)N) != 0) return -1;
    NgActs *A = m->acts;
    memcpy(A->idx, idx, sizeof(int) * N);
    /* at inference only the last position of each row, (B,V) */
    int all = targets || m->all_logits;
    int rows = all ? N : B;
    #pragma omp parallel for schedule(static) if((size_t)rows * V >= BIGRAM_MIN_PARALLEL) num_threads(ng_team_want())
    for (int r = 0; r < rows; r++) {
        int tok = all ? idx[r] : idx[(size_t)r * T + T - 1];
        memcpy(A->logits + (size_t)r * V, m->p.bigram + (size_t)tok * V, sizeof(float) * V);
    }
    A->has_targets = targets != NULL;
    if (targets) {
        memcpy(A->targets, targets, sizeof(int) * N);
        m->loss = ng_crossentropy_forward(A->losses, A->logits, targets, N, V);
    }
    return 0;
}

int ng_bigram_backward(NgModel *m, float loss_scale) {
    NgActs *A = m->acts;
    if (!A || !A->has_targets) return ng_fail("backward called without a forward pass with targets");
    if (ng_model_alloc_grads(m) != 0) return -1;
    int V = m->args.vocab_size, N = m->B * m->T;
    ng_crossentropy_backward(A->logits, A->logits, A->losses, A->targets, N, V, loss_scale);
    A->has_targets = 0;
    /* dtable[idx] += dlogits; parallel over columns so rows sharing a token never race */
    #pragma omp parallel for schedule(static) if((size_t)N * V >= BIGRAM_MIN_PARALLEL) num_threads(ng_team_want())
    for (int v = 0; v < V; v++)
        for (int n = 0; n < N; n++) m->g.bigram[(size_t)A->idx[n] * V + v] += A->logits[(size_t)n * V + v];
    return 0;
}
