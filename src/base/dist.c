/* dist.c -- the MPI wrapper (see dist.h). The only file that includes mpi.h.
 *
 * Collectives are MPI's own (MPI_Reduce_scatter, MPI_Allgatherv, ...): no home-made networking.
 * Results that every rank must agree on bit for bit (the gradient norm, evaluation losses)
 * go through ng_dist_sum_f64, which adds the ranks' values in rank order on every rank, and
 * the gradients through reduce-scatter + all-gather (each element reduced on one rank, then
 * copied), so the ranks never disagree in the last bit whatever algorithm MPI picks. */
#include "base/dist.h"
#include "base/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef NG_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_world = 1, g_local = 1, g_inited = 0;
static double g_comm = 0.0;
static int g_together = 0, g_reporter = 1;

int ng_dist_agree(int ok) {
    int worst = ok ? -1 : g_world - g_rank;            /* the lowest failing rank gives the largest */
    ng_dist_allreduce_max_i32(&worst, 1);
    if (worst < 0) return 1;
    int first = g_world - worst;
    g_together = 1;
    g_reporter = first == g_rank;
    if (ok) ng_fail("rank %d stopped the job", first);  /* not printed: rank `first` reports */
    return 0;
}
int ng_dist_stopping_together(void) { return g_together; }
int ng_dist_reporter(void) { return g_reporter; }

int ng_dist_launched(void) { return g_inited; }
int ng_dist_rank(void) { return g_rank; }
int ng_dist_world(void) { return g_world; }
int ng_dist_local_size(void) { return g_local; }

double ng_dist_comm_seconds(void) {
    double s = g_comm;
    g_comm = 0.0;
    return s;
}

void ng_dist_shards(size_t n, size_t align, size_t *counts, size_t *displs) {
    size_t blocks = (n + align - 1) / align, at = 0;
    for (int r = 0; r < g_world; r++) {
        size_t lo = blocks * (size_t)r / (size_t)g_world * align, hi = blocks * (size_t)(r + 1) / (size_t)g_world * align;
        if (lo > n) lo = n;
        if (hi > n) hi = n;
        displs[r] = at;
        counts[r] = hi - lo;
        at += counts[r];
    }
}

#ifdef NG_MPI
/* the exchanges in flight, and the int counts each Ireduce_scatter reads until it completes */
static MPI_Request g_pending[NG_DIST_MAX_PENDING];
static int g_n_pending;
static int *g_pending_counts;          /* [NG_DIST_MAX_PENDING * world] */

/* started by a launcher (Open MPI, MPICH/hydra, PMIx)? Without one we stay a plain process */
static int launched(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++) if (getenv(vars[i])) return 1;
    return 0;
}

int ng_dist_init(int *argc, char ***argv) {
    if (g_inited || !launched()) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return ng_fail("MPI_Init failed");
    g_inited = 1;
    /* a failed call ends the job (the default, stated): never a rank left waiting */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &g_local);
    MPI_Comm_free(&local);
    g_pending_counts = ng_malloc(sizeof(int) * NG_DIST_MAX_PENDING * (size_t)g_world, "MPI counts");
    return g_pending_counts ? 0 : -1;
}
void ng_dist_finalize(void) {
    if (g_inited) MPI_Finalize();
    g_inited = 0;
    free(g_pending_counts);
    g_pending_counts = NULL;
}
int ng_dist_built_with_mpi(void) { return 1; }
const char *ng_dist_library(void) {
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    char *nl = strpbrk(v, "\n,");
    if (nl) *nl = 0;
    return v;
}
void ng_dist_abort(int code) {
    if (g_inited) MPI_Abort(MPI_COMM_WORLD, code);
}

#define CHUNK ((size_t)1 << 30)
#define TIMED(stmt) do { double t0_ = ng_now(); stmt; g_comm += ng_now() - t0_; } while (0)

/* MPI's int counts and displacements (c[0..world), c[world..2 world)); callers keep every
 * shard under 2^31 elements (ng_ddp_share_model checks) */
static void int_counts(const size_t *counts, int *c) {
    for (int r = 0; r < g_world; r++) c[r] = (int)counts[r];
    for (int r = 0, at = 0; r < g_world; r++) { c[g_world + r] = at; at += c[r]; }
}

void ng_dist_allreduce_sum_f32(float *buf, size_t n) {
    if (g_world == 1) return;
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        TIMED(MPI_Allreduce(MPI_IN_PLACE, buf + at, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
}
void ng_dist_allreduce_max_i32(int *buf, size_t n) {
    if (g_world == 1) return;
    TIMED(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
}
void ng_dist_sum_f64(double *buf, size_t n) {
    if (g_world == 1) return;
    double all[n * (size_t)g_world];   /* n is a handful */
    TIMED(MPI_Allgather(buf, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD));
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int r = 0; r < g_world; r++) s += all[(size_t)r * n + i];
        buf[i] = s;
    }
}
void ng_dist_reduce_scatter_f32(const float *buf, float *out, const size_t *counts, const size_t *displs) {
    if (g_world == 1) { if (out != buf + displs[0]) memcpy(out, buf + displs[0], counts[0] * sizeof(float)); return; }
    int c[2 * g_world];
    int_counts(counts, c);
    TIMED(MPI_Reduce_scatter(buf, out, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
}
void ng_dist_allgather_f32(float *buf, const size_t *counts, const size_t *displs) {
    if (g_world == 1) return;
    int c[2 * g_world];
    int_counts(counts, c);
    TIMED(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, c, c + g_world, MPI_FLOAT, MPI_COMM_WORLD));
    (void)displs;
}
void ng_dist_gather_f32(const float *shard, float *buf, const size_t *counts, const size_t *displs) {
    if (g_world == 1) { if (shard != buf + displs[0]) memcpy(buf + displs[0], shard, counts[0] * sizeof(float)); return; }
    int c[2 * g_world];
    int_counts(counts, c);
    TIMED(MPI_Gatherv(shard, c[g_rank], MPI_FLOAT, buf, c, c + g_world, MPI_FLOAT, 0, MPI_COMM_WORLD));
}
void ng_dist_scatter_f32(const float *buf, float *shard, const size_t *counts, const size_t *displs) {
    if (g_world == 1) { if (shard != buf + displs[0]) memcpy(shard, buf + displs[0], counts[0] * sizeof(float)); return; }
    int c[2 * g_world];
    int_counts(counts, c);
    TIMED(MPI_Scatterv(buf, c, c + g_world, MPI_FLOAT, shard, c[g_rank], MPI_FLOAT, 0, MPI_COMM_WORLD));
}
static int pending_slot(void) {
    if (g_n_pending == NG_DIST_MAX_PENDING) ng_dist_wait_all();   /* callers stay below it */
    return g_n_pending++;
}
void ng_dist_iallreduce_sum_f32(float *buf, size_t n) {
    if (g_world == 1) return;
    int i = pending_slot();
    TIMED(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g_pending[i]));
}
void ng_dist_ireduce_scatter_f32(const float *buf, float *out, const size_t *counts) {
    if (g_world == 1) { if (out != buf) memcpy(out, buf, counts[0] * sizeof(float)); return; }
    int i = pending_slot(), *c = g_pending_counts + (size_t)i * g_world;
    for (int r = 0; r < g_world; r++) c[r] = (int)counts[r];
    TIMED(MPI_Ireduce_scatter(buf, out, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g_pending[i]));
}
void ng_dist_progress(void) {
    int done;
    if (g_n_pending > 0) TIMED(MPI_Testall(g_n_pending, g_pending, &done, MPI_STATUSES_IGNORE));
}
void ng_dist_wait_all(void) {
    if (g_n_pending > 0) TIMED(MPI_Waitall(g_n_pending, g_pending, MPI_STATUSES_IGNORE));
    g_n_pending = 0;
}
void ng_dist_allgather_u64(uint64_t one, uint64_t *all) {
    if (g_world == 1) { all[0] = one; return; }
    TIMED(MPI_Allgather(&one, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD));
}
void ng_dist_bcast(void *buf, size_t bytes, int root) {
    if (g_world == 1) return;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        size_t k = bytes - at < CHUNK ? bytes - at : CHUNK;
        TIMED(MPI_Bcast((char *)buf + at, (int)k, MPI_BYTE, root, MPI_COMM_WORLD));
    }
}
#else
/* ---- built without MPI: one rank, nothing to exchange ---- */
int ng_dist_init(int *argc, char ***argv) { (void)argc; (void)argv; g_inited = 0; return 0; }
void ng_dist_finalize(void) {}
int ng_dist_built_with_mpi(void) { return 0; }
const char *ng_dist_library(void) { return "none"; }
void ng_dist_abort(int code) { (void)code; }
void ng_dist_allreduce_sum_f32(float *buf, size_t n) { (void)buf; (void)n; }
void ng_dist_allreduce_max_i32(int *buf, size_t n) { (void)buf; (void)n; }
void ng_dist_sum_f64(double *buf, size_t n) { (void)buf; (void)n; }
void ng_dist_reduce_scatter_f32(const float *buf, float *out, const size_t *counts, const size_t *displs) {
    if (out != buf + displs[0]) memcpy(out, buf + displs[0], counts[0] * sizeof(float));
}
void ng_dist_allgather_f32(float *buf, const size_t *counts, const size_t *displs) { (void)buf; (void)counts; (void)displs; }
void ng_dist_gather_f32(const float *shard, float *buf, const size_t *counts, const size_t *displs) {
    if (shard != buf + displs[0]) memcpy(buf + displs[0], shard, counts[0] * sizeof(float));
}
void ng_dist_scatter_f32(const float *buf, float *shard, const size_t *counts, const size_t *displs) {
    if (shard != buf + displs[0]) memcpy(shard, buf + displs[0], counts[0] * sizeof(float));
}
void ng_dist_allgather_u64(uint64_t one, uint64_t *all) { all[0] = one; }
void ng_dist_iallreduce_sum_f32(float *buf, size_t n) { (void)buf; (void)n; }
void ng_dist_ireduce_scatter_f32(const float *buf, float *out, const size_t *counts) {
    if (out != buf) memcpy(out, buf, counts[0] * sizeof(float));
}
void ng_dist_progress(void) {}
void ng_dist_wait_all(void) {}
void ng_dist_bcast(void *buf, size_t bytes, int root) { (void)buf; (void)bytes; (void)root; }
#endif
