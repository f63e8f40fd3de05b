/* dist.h -- the one door to MPI: every collective the program uses, over MPI_COMM_WORLD.
 *
 * Built without MPI (no NG_MPI), or started without a launcher (no mpirun), the world is one
 * rank and every call is a no-op (reductions leave the buffer as it is). Sizes are in
 * elements; counts[r] / displs[r] give rank r's shard of a buffer (ng_dist_shards). */
#ifndef NG_DIST_H
#define NG_DIST_H
#include <stddef.h>
#include <stdint.h>

/* MPI_Init when started by mpirun (or another launcher); keeps going as one rank otherwise.
 * Returns 0, or -1 with the error set. */
int ng_dist_init(int *argc, char ***argv);
void ng_dist_finalize(void);
int ng_dist_rank(void);
int ng_dist_world(void);
int ng_dist_local_size(void);                 /* ranks on this host (MPI_Comm_split_type shared) */
int ng_dist_built_with_mpi(void);
int ng_dist_launched(void);                   /* started by a launcher (MPI_Init was called) */
const char *ng_dist_library(void);            /* "Open MPI v4.1.4, ..." or "none" */
/* ends every rank of the job at once (MPI_Abort; the CLI's answer to a failure of one rank
 * alone); returns only when not started by mpirun */
void ng_dist_abort(int code);

/* Agreement before a step every rank must take: returns 1 when `ok` holds on every rank, else
 * 0 on every rank; then the lowest failing rank is the one that reports (one message for the
 * job) and ng_dist_stopping_together() tells the CLI that every rank stops on its own (MPI_Finalize,
 * exit 1) rather than one rank taking the job down (ng_dist_abort). */
int ng_dist_agree(int ok);
int ng_dist_stopping_together(void);
int ng_dist_reporter(void);

/* the shard of an n-element buffer that each rank owns: contiguous, cut at multiples of
 * `align` elements, counts[r] >= 0 and displs[r] = sum of earlier counts; arrays of world */
void ng_dist_shards(size_t n, size_t align, size_t *counts, size_t *displs);

void ng_dist_allreduce_sum_f32(float *buf, size_t n);              /* in place */
void ng_dist_allreduce_max_i32(int *buf, size_t n);                /* in place */
/* every rank's n doubles added in rank order: the same bits on every rank */
void ng_dist_sum_f64(double *buf, size_t n);
/* buf (counts summed over ranks) reduced by sum; this rank's shard lands in out[counts[rank]] */
void ng_dist_reduce_scatter_f32(const float *buf, float *out, const size_t *counts, const size_t *displs);
/* every rank's shard buf[displs[r] .. + counts[r]) copied to every rank, in place */
void ng_dist_allgather_f32(float *buf, const size_t *counts, const size_t *displs);
/* rank 0 receives every rank's shard of buf (shards at buf + displs[r]); `shard` is this rank's */
void ng_dist_gather_f32(const float *shard, float *buf, const size_t *counts, const size_t *displs);
void ng_dist_scatter_f32(const float *buf, float *shard, const size_t *counts, const size_t *displs);
void ng_dist_allgather_u64(uint64_t one, uint64_t *all);           /* all[world] */
void ng_dist_bcast(void *buf, size_t bytes, int root);

/* Non-blocking exchanges (MPI_Iallreduce, MPI_Ireduce_scatter), to overlap with computation:
 * every rank must start the same ones in the same order. Up to NG_DIST_MAX_PENDING at once;
 * the buffers stay untouched until ng_dist_wait_all. ng_dist_progress lets MPI move them on
 * (Open MPI advances them only inside MPI calls). */
#define NG_DIST_MAX_PENDING 64
void ng_dist_iallreduce_sum_f32(float *buf, size_t n);              /* in place */
/* buf (counts summed over ranks) reduced by sum; this rank's part lands in out[counts[rank]] */
void ng_dist_ireduce_scatter_f32(const float *buf, float *out, const size_t *counts);
void ng_dist_progress(void);
void ng_dist_wait_all(void);

/* seconds spent inside the collectives above since the last call (for the comm share) */
double ng_dist_comm_seconds(void);
#endif
