/* ddp.c -- data-parallel training over MPI ranks: nanoGPT's DDP semantics, llm.c's ZeRO-1.
 *
 * Every rank holds the whole model and runs gradient_accumulation_steps / world micro-steps
 * on its own batches (its own sampler stream, from seed and rank). Once per optimizer step:
 *   zero_stage=0: the gradients are summed over the ranks (MPI_Allreduce) and every rank runs
 *                 AdamW on the whole buffer with its whole moments;
 *   zero_stage=1: the gradients are reduce-scattered (rank r gets the sum of its shard of the
 *                 flat buffer), every rank runs AdamW on its shard only, with only that shard's
 *                 moments (optimizer memory / world), and the updated parameters are
 *                 all-gathered: the same bytes on the wire as an allreduce.
 * The global norm is the sum of the shards' squares, added in rank order (the same bits on
 * every rank). MPI's allreduce gives every rank the same sum, and an all-gather copies, so the
 * ranks' parameters stay bitwise identical: checked at every checkpoint and at the end.
 * Only rank 0 prints, logs and writes checkpoints; checkpoints hold the whole moments and every
 * rank's sampler state, so any world size resumes from them (bitwise with the same one). */
#include "app/ddp.h"
#include "app/config.h"
#include "base/rng.h"
#include "base/dist.h"
#include "base/util.h"
#include "model/model.h"
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef NG_VERSION
#define NG_VERSION "unknown"
#endif

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV0 0xcbf29ce484222325ull

/* a hash of each config key's value (strings up to their NUL), then of the build */
static int config_hashes(const NgConfig *cfg, uint64_t *h, const char **names, int max) {
    int n = 0;
    for (const NgKey *k = ng_keys; k->name && n < max - 1; k++) {
        if (k->type == NG_IGNORED) continue;
        const char *field = (const char *)cfg + k->offset;
        names[n] = k->name;
        h[n++] = fnv(FNV0, field, k->type == NG_STRING ? strnlen(field, k->size) : k->size);
    }
    const char *version = getenv("NANOGPT_TEST_VERSION");   /* test switch: pose as another build */
    if (!version) version = NG_VERSION;
    size_t shape[] = {sizeof(NgConfig), sizeof(NgModelArgs), sizeof(NgRunState), sizeof(void *)};
    names[n] = NULL;
    h[n++] = fnv(fnv(FNV0, version, strlen(version)), shape, sizeof shape);
    return n;
}

int ng_ddp_begin(NgDdp *d, NgConfig *cfg) {
    memset(d, 0, sizeof *d);
    d->rank = ng_dist_rank();
    d->world = ng_dist_world();
    d->zero_stage = cfg->zero_stage;
    d->G = cfg->gradient_accumulation_steps;
    const char *sb = getenv("NANOGPT_TEST_SHARED_BATCHES");
    d->shared_batches = sb && atoi(sb) != 0;
    d->overlap = cfg->ddp_overlap;
    const char *kt = getenv("OMPI_MCA_odls_base_sigkill_timeout");   /* mpirun --mca passes it on */
    d->kill_timeout = kt && atof(kt) > 0 ? atof(kt) : 1.0;
    if (d->world == 1) return 0;
    if (d->rank != 0 && !freopen("/dev/null", "w", stdout)) return ng_fail("rank %d: cannot silence stdout", d->rank);

    /* the ranks must run the same build with the same config: compare with rank 0's */
    enum { MAX_KEYS = 128 };
    uint64_t mine[MAX_KEYS], root[MAX_KEYS];
    const char *names[MAX_KEYS];
    int n = config_hashes(cfg, mine, names, MAX_KEYS);
    memcpy(root, mine, sizeof(uint64_t) * (size_t)n);
    ng_dist_bcast(root, sizeof(uint64_t) * (size_t)n, 0);
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++) if (mine[i] != root[i]) bad = i;
    if (bad >= 0 && names[bad])
        ng_fail("ranks disagree: rank %d has another value of config key %s than rank 0 (start every rank with the same CONFIG and --key=value arguments)",
                d->rank, names[bad]);
    else if (bad >= 0)
        ng_fail("ranks disagree: rank %d runs another nanogpt build than rank 0 (install the same build on every host)", d->rank);
    if (!ng_dist_agree(bad < 0)) return -1;

    int G = cfg->gradient_accumulation_steps;
    if (G % d->world != 0) {
        ng_fail("gradient_accumulation_steps = %d is not divisible by the %d ranks (it is the global number of micro-steps, as in nanoGPT's DDP)", G, d->world);
        ng_dist_agree(0);
        return -1;
    }
    d->G = G / d->world;
    /* threads per rank: the host's cores shared by the ranks on the host */
    if (cfg->threads == 0 && !getenv("OMP_NUM_THREADS")) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int t = (int)(cores / ng_dist_local_size());
        cfg->threads = t > 0 ? t : 1;
    }
    return 0;
}

/* the segments' starts, last first: the head (ln_f, an untied lm_head), each block from the
 * last, then the embeddings; at most NG_DIST_MAX_PENDING (blocks merged beyond that). The
 * same on every rank: they decide the order and sizes of the non-blocking exchanges. */
static void exchange_bounds(NgDdp *d, const NgModel *m) {
    int n = 0, L = m->args.model_type == NG_MODEL_GPT ? m->args.n_layer : 0;
    int every = L / (NG_DIST_MAX_PENDING - 2) + 1;
    const NgTensor *t = ng_model_find_tensor(m, "transformer.ln_f.weight");
    if (t) d->bounds[n++] = t->offset;
    for (int l = L - 1; l >= 0; l--) {
        char name[64];
        snprintf(name, sizeof name, "transformer.h.%d.ln_1.weight", l);
        t = ng_model_find_tensor(m, name);
        if (t && l % every == 0 && t->offset > 0 && (n == 0 || t->offset < d->bounds[n - 1])) d->bounds[n++] = t->offset;
    }
    d->bounds[n++] = 0;
    d->n_bounds = n;
}

int ng_ddp_share_model(NgDdp *d, int rc0, NgConfig *cfg, NgModel *m, NgRunState *rs) {
    if (d->world == 1) return rc0;
    if (!ng_dist_agree(d->rank != 0 || rc0 == 0)) return -1;
    /* rank 0's config as the model and checkpoint decided it; threads stay this host's */
    int threads = cfg->threads;
    ng_dist_bcast(cfg, sizeof *cfg, 0);
    cfg->threads = threads;
    NgModelArgs a = m->args;
    ng_dist_bcast(&a, sizeof a, 0);
    if (d->rank != 0 && ng_model_create(m, &a) != 0) return -1;
    ng_dist_bcast(m->params, m->num_params * sizeof(float), 0);
    /* run state, every rank's sampler state included */
    uint64_t *list = rs->rank_rng_states;
    ng_dist_bcast(rs, sizeof *rs, 0);
    rs->rank_rng_states = d->rank == 0 ? list : NULL;
    if (rs->n_ranks > 1) {
        if (d->rank != 0) rs->rank_rng_states = ng_malloc(sizeof(uint64_t) * (size_t)rs->n_ranks, "rank_rng_states");
        if (!rs->rank_rng_states) return -1;
        ng_dist_bcast(rs->rank_rng_states, sizeof(uint64_t) * (size_t)rs->n_ranks, 0);
    }
    /* shards of the flat buffer, cut at 16 floats (whole vectors) */
    d->counts = ng_malloc(sizeof(size_t) * (size_t)d->world, "shards");
    d->displs = ng_malloc(sizeof(size_t) * (size_t)d->world, "shards");
    d->states = ng_malloc(sizeof(uint64_t) * (size_t)d->world, "sampler states");
    if (!d->counts || !d->displs || !d->states) return -1;
    ng_dist_shards(m->num_params, 16, d->counts, d->displs);
    exchange_bounds(d, m);
    if (d->counts[d->world - 1] + 16 > INT_MAX) {   /* MPI counts are ints (shards differ by 16 at most) */
        ng_fail("%zu parameters are too many for %d ranks (at most 2^31 per rank)", m->num_params, d->world);
        ng_dist_agree(0);
        return -1;
    }
    size_t n = d->counts[d->rank] ? d->counts[d->rank] : 1;
    d->shard = ng_aligned_alloc(n * sizeof(float), "a gradient shard");
    if (!d->shard) return -1;
    /* the optimizer moments: rank 0's (from the checkpoint) or zeros */
    int have = m->m != NULL;
    ng_dist_bcast(&have, sizeof have, 0);
    size_t bytes = m->num_params * sizeof(float);
    if (d->zero_stage == 0) {
        if (!m->m) m->m = ng_aligned_alloc(bytes, "AdamW first moments");
        if (!m->v) m->v = ng_aligned_alloc(bytes, "AdamW second moments");
        if (!m->m || !m->v) return -1;
        if (have) { ng_dist_bcast(m->m, bytes, 0); ng_dist_bcast(m->v, bytes, 0); }
        return 0;
    }
    d->mom_m = ng_aligned_alloc(n * sizeof(float), "AdamW first moments (shard)");
    d->mom_v = ng_aligned_alloc(n * sizeof(float), "AdamW second moments (shard)");
    if (!d->mom_m || !d->mom_v) return -1;
    if (have) {
        ng_dist_scatter_f32(m->m, d->mom_m, d->counts, d->displs);
        ng_dist_scatter_f32(m->v, d->mom_v, d->counts, d->displs);
    }
    free(m->m); free(m->v);
    m->m = m->v = NULL;
    return 0;
}

int ng_ddp_check_data(NgDdp *d, int rc, const NgTokenFile *train, const NgTokenFile *val) {
    if (d->world == 1) return rc;
    if (!ng_dist_agree(rc == 0)) return -1;
    uint64_t sizes[2] = {train->n_tokens, val->n_tokens};
    ng_dist_bcast(sizes, sizeof sizes, 0);
    int ok = sizes[0] == train->n_tokens && sizes[1] == val->n_tokens;
    if (!ok) {
        const NgTokenFile *f = sizes[0] != train->n_tokens ? train : val;
        ng_fail("ranks disagree: rank %d's %s has %zu tokens, rank 0's has %llu (every host needs the same data/)",
                d->rank, f->path, f->n_tokens, (unsigned long long)sizes[f == val]);
    }
    return ng_dist_agree(ok) ? 0 : -1;
}

uint64_t ng_ddp_sampler_state(const NgDdp *d, const NgConfig *cfg, const NgRunState *rs, int resumed) {
    int rank = d->shared_batches ? 0 : d->rank;
    if (resumed && rs->n_ranks > rank && rs->rank_rng_states) return rs->rank_rng_states[rank];
    if (resumed && rank == 0) return rs->rng_state;
    NgRng rng;
    /* rank 0 draws the single process's stream; rank r one of its own (resumed on more ranks
     * than wrote the checkpoint: a new stream for this iteration too) */
    uint64_t seed = (uint64_t)cfg->seed;
    if (rank > 0) seed = ng_hash64(seed ^ ng_hash64(((uint64_t)rank << 32) | (uint64_t)(resumed ? rs->iter_num : 0)));
    ng_rng_seed(&rng, seed);
    return rng.s;
}

int ng_ddp_get_batch(const NgDdp *d, const NgTokenFile *f, NgRng *rng, int micro, int B, int T, int *x, int *y) {
    int k = d->rank * d->G + micro;
    if (!d->shared_batches || d->world == 1) return ng_get_batch(f, rng, B, T, x, y) != 0 ? -1 : k;
    /* test switch: the step's world * G batches of the single process's stream, this rank
     * taking numbers rank*G .. rank*G + G-1 (the others drawn and dropped) */
    int before = micro == 0 ? d->rank * d->G : 0, after = micro == d->G - 1 ? (d->world - 1 - d->rank) * d->G : 0;
    int rc = 0;
    for (int i = 0; i < before && rc == 0; i++) rc = ng_get_batch(f, rng, B, T, x, y);
    if (rc == 0) rc = ng_get_batch(f, rng, B, T, x, y);
    if (rc == 0 && after) {
        int *sx = ng_malloc(sizeof(int) * 2 * (size_t)B * T, "a batch");
        if (!sx) return -1;
        for (int i = 0; i < after && rc == 0; i++) rc = ng_get_batch(f, rng, B, T, sx, sx + (size_t)B * T);
        free(sx);
    }
    return rc == 0 ? k : -1;
}

/* Open MPI's mpirun does not pass SIGINT/SIGTERM on: it ends the job by sending every rank
 * SIGCONT, SIGTERM odls_base_sigkill_timeout seconds later (1 by default), SIGKILL as long
 * after that, and reads no rank's output meanwhile. Rank 0, printing an iter line per step,
 * would soon block on its full pseudo-terminal and never reach the save the SIGTERM asks for;
 * so after a SIGCONT it prints none for that long (a suspended job resumed with SIGCONT just
 * misses a few lines; log.jsonl has them all). */
int ng_ddp_quiet(NgDdp *d, int conts) {
    if (!ng_dist_launched() || conts == 0) return 0;
    if (conts != d->conts) {
        d->conts = conts;
        d->quiet_until = ng_now() + 2 * d->kill_timeout + 1;
    }
    return ng_now() < d->quiet_until;
}

int ng_ddp_agree_step(const NgDdp *d, float *loss, int stop) {
    if (d->world == 1) return stop;
    double v[3] = {d->rank == d->world - 1 ? *loss : 0.0, stop != 0, !isfinite(*loss)};
    ng_dist_sum_f64(v, 3);
    *loss = v[2] > 0 ? NAN : (float)v[0];
    if (v[2] > 0) ng_dist_agree(0);               /* every rank stops on the diverged step */
    return stop ? stop : v[1] > 0 ? SIGTERM : 0;
}

/* starts the exchange of every segment that lies in grads[from .. sent) */
static void exchange_from(NgDdp *d, size_t from) {
    float *g = d->model->grads;
    for (int i = 0; i < d->n_bounds && d->bounds[i] >= from; i++) {
        size_t b = d->bounds[i];
        if (b >= d->sent) continue;
        if (d->zero_stage == 0) ng_dist_iallreduce_sum_f32(g + b, d->sent - b);
        else {   /* the part of [b, sent) in each rank's shard; this rank's lands in its place of d->shard */
            size_t parts[d->world], lo = d->displs[d->rank];
            for (int r = 0; r < d->world; r++) {
                size_t s0 = d->displs[r], s1 = s0 + d->counts[r];
                size_t a = b > s0 ? b : s0, e = d->sent < s1 ? d->sent : s1;
                parts[r] = e > a ? e - a : 0;
            }
            ng_dist_ireduce_scatter_f32(g + b, d->shard + (b > lo ? b - lo : 0), parts);
        }
        d->sent = b;
    }
    ng_dist_progress();
}
static void on_grads_final(void *ctx, size_t from) { exchange_from(ctx, from); }

int ng_ddp_backward(NgDdp *d, NgModel *m, float loss_scale, int micro) {
    if (d->world == 1 || !d->overlap || micro != d->G - 1) return ng_model_backward(m, loss_scale);
    d->model = m;
    d->sent = m->num_params;
    d->exchanging = 1;
    ng_model_set_grad_hook(m, on_grads_final, d);
    int rc = ng_model_backward(m, loss_scale);
    ng_model_set_grad_hook(m, NULL, NULL);
    exchange_from(d, 0);         /* the rest (all of it when the step had several batch shards) */
    return rc;
}

int ng_ddp_optimizer_step(NgDdp *d, NgModel *m, NgAdamW *opt, float grad_clip, float *norm) {
    if (d->world == 1) return ng_optimizer_step(m, opt, grad_clip, norm);
    if (!m->grads) return ng_fail("optimizer step before any backward pass");
    size_t lo = d->displs[d->rank], n = d->counts[d->rank], N = m->num_params;
    /* the sum of every rank's gradient (each already scaled by 1/gradient_accumulation_steps):
     * zero_stage=0 needs all of it on every rank, zero_stage=1 only this rank's shard */
    if (d->exchanging) ng_dist_wait_all();   /* started during the backward (ng_ddp_backward) */
    else if (d->zero_stage == 0) ng_dist_allreduce_sum_f32(m->grads, N);
    else ng_dist_reduce_scatter_f32(m->grads, d->shard, d->counts, d->displs);
    d->exchanging = 0;
    if (d->zero_stage == 1) memcpy(m->grads + lo, d->shard, n * sizeof(float));
    /* the global norm from the shards' sums of squares, added in rank order: the same bits on
     * every rank whatever its thread count */
    double sumsq = ng_grad_sumsq(m, lo, lo + n);
    ng_dist_sum_f64(&sumsq, 1);
    *norm = (float)sqrt(sumsq);
    if (!isfinite(*norm)) ng_dist_agree(0);
    if (d->zero_stage == 0) return ng_optimizer_step_range(m, opt, grad_clip, *norm, 0, N, m->m, m->v);
    memset(m->grads, 0, lo * sizeof(float));
    memset(m->grads + lo + n, 0, (N - lo - n) * sizeof(float));
    if (ng_optimizer_step_range(m, opt, grad_clip, *norm, lo, lo + n, d->mom_m, d->mom_v) != 0) return -1;
    ng_dist_allgather_f32(m->params, d->counts, d->displs);
    return 0;
}

/* the parameters must be bitwise identical on every rank; rank 0 says so */
static int check_identical(NgDdp *d, const NgModel *m, int verbose) {
    uint64_t h = fnv(FNV0, m->params, m->num_params * sizeof(float));
    ng_dist_allgather_u64(h, d->states);
    for (int r = 1; r < d->world; r++)
        if (d->states[r] != d->states[0]) {
            ng_fail("the parameters differ between rank 0 (hash %016llx) and rank %d (hash %016llx)",
                    (unsigned long long)d->states[0], r, (unsigned long long)d->states[r]);
            ng_dist_agree(0);
            return -1;
        }
    if (verbose) printf("parameters bitwise identical on %d ranks (hash %016llx)\n", d->world, (unsigned long long)h);
    return 0;
}

int ng_ddp_save(NgDdp *d, const char *path, NgModel *m, const NgConfig *cfg, NgRunState *rs,
                const NgTokenizer *tok, const NgRng *rng) {
    rs->rng_state = rng->s;
    if (d->world == 1) return ng_checkpoint_save(path, m, cfg, rs, tok);
    if (check_identical(d, m, 0) != 0) return -1;
    free(rs->rank_rng_states);
    rs->rank_rng_states = NULL;
    ng_dist_allgather_u64(rng->s, d->states);
    rs->rng_state = d->states[0];
    rs->n_ranks = d->world;
    rs->rank_rng_states = d->states;
    int rc = 0;
    if (d->zero_stage == 1) {   /* the whole moments, gathered on rank 0 for the file */
        size_t bytes = d->rank == 0 ? m->num_params * sizeof(float) : sizeof(float);
        m->m = ng_aligned_alloc(bytes, "AdamW first moments");
        m->v = ng_aligned_alloc(bytes, "AdamW second moments");
        if (!m->m || !m->v) rc = -1;
        if (rc == 0) {
            ng_dist_gather_f32(d->mom_m, m->m, d->counts, d->displs);
            ng_dist_gather_f32(d->mom_v, m->v, d->counts, d->displs);
        }
    }
    if (rc == 0 && d->rank == 0) rc = ng_checkpoint_save(path, m, cfg, rs, tok);
    if (d->zero_stage == 1) {
        free(m->m); free(m->v);
        m->m = m->v = NULL;
    }
    rs->rank_rng_states = NULL;
    rs->n_ranks = 0;
    return rc;
}

int ng_ddp_end(NgDdp *d, const NgModel *m) {
    return d->world == 1 ? 0 : check_identical(d, m, 1);
}

void ng_ddp_free(NgDdp *d, NgRunState *rs) {
    if (d->exchanging) ng_dist_wait_all();   /* every rank started the same exchanges */
    if (rs->rank_rng_states != d->states) free(rs->rank_rng_states);
    rs->rank_rng_states = NULL;
    free(d->counts); free(d->displs); free(d->shard); free(d->mom_m); free(d->mom_v); free(d->states);
    memset(d, 0, sizeof *d);
}
