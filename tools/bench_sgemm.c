/* bench_sgemm.c -- GFLOP/s of the sgemm at the shapes nanogpt uses.
 * build: make build/libnanogpt.a && cc -O3 -march=native -fopenmp -Iinclude -Isrc tools/bench_sgemm.c build/libnanogpt.a -lm -o build/bench_sgemm */
#include "kernels/kernels.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>

static void run(const char *what, int ta, int tb, int M, int N, int K, int reps) {
    float *A = ng_aligned_alloc(sizeof(float) * (size_t)M * K, "A"), *B = ng_aligned_alloc(sizeof(float) * (size_t)K * N, "B");
    float *C = ng_aligned_alloc(sizeof(float) * (size_t)M * N, "C");
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)(i % 5) * 0.1f;
    int lda = ta ? M : K, ldb = tb ? K : N;
    ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, N, 0);
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = ng_now();
        ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, N, 1);
        double dt = ng_now() - t0;
        if (dt < best) best = dt;
    }
    printf("%-34s ta=%d tb=%d M=%5d N=%5d K=%5d: %7.1f GFLOP/s\n", what, ta, tb, M, N, K, 2.0 * M * N * K / best / 1e9);
    free(A); free(B); free(C);
}

int main(int argc, char **argv) {
    ng_team_enter(argc > 1 ? atoi(argv[1]) : 0);
    printf("threads %d\n", ng_team_want());
    run("W1 shard qkv fwd (384x384x128)", 0, 1, 384, 384, 128, 100);
    run("W1 shard qkv dinp", 0, 0, 384, 128, 384, 100);
    run("W1 shard qkv dW", 1, 0, 384, 128, 384, 100);
    run("W1 shard fc fwd", 0, 1, 384, 512, 128, 100);
    run("W1 shard fcproj fwd", 0, 1, 384, 128, 512, 100);
    run("W1 shard fcproj dW", 1, 0, 128, 512, 384, 100);
    run("W1 shard lm_head fwd", 0, 1, 384, 65, 128, 100);
    run("W1 qkv fwd (768x384x128)", 0, 1, 768, 384, 128, 50);
    run("W1 fc dinp", 0, 0, 768, 128, 512, 50);
    run("W1 fc dW", 1, 0, 512, 128, 768, 50);
    run("attn tile S=QK^T 64x64x32", 0, 1, 64, 64, 32, 200);
    run("attn tile dK=dS^T Q 64x32x64", 1, 0, 64, 32, 64, 200);
    run("W2 fc fwd (16384x1536x384)", 0, 1, 16384, 1536, 384, 3);
    run("W2 fc dW", 1, 0, 1536, 384, 16384, 3);
    run("W2 fc dinp", 0, 0, 16384, 384, 1536, 3);
    run("W3 lm_head fwd (256x50304x768)", 0, 1, 256, 50304, 768, 3);
    run("W3 lm_head dW", 1, 0, 50304, 768, 256, 3);
    run("W3 lm_head dinp", 0, 0, 256, 768, 50304, 3);
    run("W3 fc fwd (256x3072x768)", 0, 1, 256, 3072, 768, 5);
    run("square 2048", 0, 0, 2048, 2048, 2048, 3);
    return 0;
}
