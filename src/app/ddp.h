/* ddp.h -- internal: data-parallel training over MPI ranks (nanoGPT's DDP, llm.c's ZeRO-1).
 *
 * train.c calls these at fixed points; with one rank each is what the single process did. */
#ifndef NG_DDP_H
#define NG_DDP_H
#include "nanogpt.h"
#include "base/dist.h"

typedef struct {
    int rank, world, zero_stage;
    int G;                           /* micro-steps of this rank: gradient_accumulation_steps / world */
    int shared_batches;              /* test switch: every rank takes the single process's batches */
    size_t *counts, *displs;         /* [world] each rank's shard of the parameter buffer */
    float *shard;                    /* (counts[rank]) the reduced gradient of this rank's shard */
    float *mom_m, *mom_v;            /* zero_stage=1: this rank's shard of the AdamW moments */
    uint64_t *states;                /* [world] scratch: every rank's sampler state */
    /* the exchange overlapped with the last micro-step's backward: it starts a segment of the
     * gradient as soon as the backward has finished it (segments: the head, each block, the
     * embeddings; bounds[] their starts, descending, ending with 0) */
    int overlap, exchanging;
    size_t bounds[NG_DIST_MAX_PENDING], sent;   /* grads[sent .. num_params) started */
    int n_bounds;
    NgModel *model;
    int conts;                       /* SIGCONTs seen (ng_ddp_quiet) */
    double kill_timeout, quiet_until;
} NgDdp;

/* before anything else: the ranks agree on config, binary and micro-step split; threads per
 * rank default to the host's cores / ranks on the host; only rank 0 prints */
int ng_ddp_begin(NgDdp *d, NgConfig *cfg);
/* after rank 0 built the model (rc0 its result): every rank gets rank 0's config, model,
 * optimizer moments (its shard with zero_stage=1) and run state */
int ng_ddp_share_model(NgDdp *d, int rc0, NgConfig *cfg, NgModel *m, NgRunState *rs);
/* after every rank opened its data (rc its result): all opened it, and the token counts agree */
int ng_ddp_check_data(NgDdp *d, int rc, const NgTokenFile *train, const NgTokenFile *val);
/* this rank's sampler state: fresh (from seed and rank) or the checkpoint's */
uint64_t ng_ddp_sampler_state(const NgDdp *d, const NgConfig *cfg, const NgRunState *rs, int resumed);
/* draws this rank's batch for micro-step `micro`; returns its index among the step's global
 * micro-steps (for the dropout masks) */
int ng_ddp_get_batch(const NgDdp *d, const NgTokenFile *f, NgRng *rng, int micro, int B, int T, int *x, int *y);
/* ng_model_backward; on the last micro-step (micro = G-1) it also starts the gradient exchange,
 * each segment as soon as the backward has made it (ng_ddp_optimizer_step waits for it) */
int ng_ddp_backward(NgDdp *d, NgModel *m, float loss_scale, int micro);
/* whether rank 0 should print no iter line now: for 2 odls_base_sigkill_timeout + 1 seconds
 * after a SIGCONT (`conts` counts them) under a launcher, see ddp.c */
int ng_ddp_quiet(NgDdp *d, int conts);
/* once per step, every rank: the loss to log (the step's last micro-batch, on the last rank)
 * and the stop request (a signal seen by any rank), the same on every rank */
int ng_ddp_agree_step(const NgDdp *d, float *loss, int stop);
/* gradients averaged over ranks, global norm, clipping and AdamW (ZeRO-1: on this rank's
 * shard, then the parameters gathered): every rank takes the identical step */
int ng_ddp_optimizer_step(NgDdp *d, NgModel *m, NgAdamW *opt, float grad_clip, float *norm);
/* checkpoint (every rank calls it; rank 0 writes): every rank's sampler state, the whole
 * moments, and a check that the parameters are bitwise identical on every rank */
int ng_ddp_save(NgDdp *d, const char *path, NgModel *m, const NgConfig *cfg, NgRunState *rs,
                const NgTokenizer *tok, const NgRng *rng);
/* end of training: the parameters are checked identical on every rank */
int ng_ddp_end(NgDdp *d, const NgModel *m);
void ng_ddp_free(NgDdp *d, NgRunState *rs);
#endif
