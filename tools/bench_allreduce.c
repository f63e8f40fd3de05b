/* bench_allreduce.c -- bandwidth of the gradient exchange nanogpt uses under mpirun: the
 * reduce-scatter + all-gather of a float buffer (a ring allreduce's two halves), and MPI_Allreduce
 * for comparison, at sizes from 1 MB to 100 MB (GPT-2 124M's gradient is 497 MB).
 * build: make build/bench_allreduce
 * run:   mpirun -np 2 --bind-to none build/bench_allreduce   (add --mca btl tcp,self for TCP)
 * Prints per size: the median time of 5 repetitions, the algorithm bandwidth (bytes / time)
 * and the bus bandwidth (bytes * 2(N-1)/N / time: what each link carries in a ring). */
#include "base/dist.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    if (ng_dist_init(&argc, &argv) != 0) { fprintf(stderr, "bench_allreduce: %s\n", ng_errmsg()); return 1; }
    int R = ng_dist_world(), rank = ng_dist_rank();
    size_t sizes_mb[] = {1, 10, 100};
    size_t *counts = malloc(sizeof(size_t) * (size_t)R), *displs = malloc(sizeof(size_t) * (size_t)R);
    if (rank == 0) printf("%d ranks (%s)\n%10s %10s %12s %12s %12s\n", R, ng_dist_library(), "MB", "method", "median ms", "algbw GB/s", "busbw GB/s");
    for (size_t s = 0; s < sizeof sizes_mb / sizeof sizes_mb[0]; s++) {
        size_t n = sizes_mb[s] * 1000000 / sizeof(float);
        float *buf = ng_aligned_alloc(n * sizeof(float), "buffer"), *shard = ng_aligned_alloc(n * sizeof(float), "shard");
        if (!buf || !shard) { fprintf(stderr, "bench_allreduce: %s\n", ng_errmsg()); ng_dist_abort(1); return 1; }
        for (size_t i = 0; i < n; i++) buf[i] = (float)(i % 13) * 0.25f;
        ng_dist_shards(n, 16, counts, displs);
        for (int method = 0; method < 2; method++) {
            double t[6];
            for (int r = 0; r < 6; r++) {
                ng_dist_comm_seconds();
                if (method == 0) {
                    ng_dist_reduce_scatter_f32(buf, shard, counts, displs);
                    memcpy(buf + displs[rank], shard, counts[rank] * sizeof(float));
                    ng_dist_allgather_f32(buf, counts, displs);
                } else {
                    ng_dist_allreduce_sum_f32(buf, n);
                }
                t[r] = ng_dist_comm_seconds();
                ng_dist_sum_f64(&t[r], 1);      /* the slowest rank decides: mean over ranks */
                t[r] /= R;
            }
            qsort(t + 1, 5, sizeof(double), cmp);   /* the first is a warm-up */
            double med = t[3], bytes = (double)n * sizeof(float);
            if (rank == 0)
                printf("%10zu %10s %12.2f %12.3f %12.3f\n", sizes_mb[s], method ? "allreduce" : "rs+ag", med * 1e3, bytes / med / 1e9,
                       bytes * 2.0 * (R - 1) / R / med / 1e9);
        }
        free(buf); free(shard);
    }
    free(counts); free(displs);
    ng_dist_finalize();
    return 0;
}
