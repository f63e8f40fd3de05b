/* bench_bf16.c -- the bf16 peak of this machine (a vdpbf16ps loop) and the GFLOP/s of the bf16
 * GEMM (ng_gemm_bf16) next to the fp32 sgemm at the largest shapes of the W2/W3 workloads,
 * each pair run back to back.
 * build: make build/libnanogpt.a && cc -O3 -march=native -fopenmp -Iinclude -Isrc tools/bench_bf16.c build/libnanogpt.a -lm -o build/bench_bf16
 * usage: build/bench_bf16 [threads] */
#include "kernels/kernels.h"
#include "base/util.h"
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* wall time, or with NG_BENCH_CPU=1 this process's CPU time divided by the threads: on a
 * machine shared with other jobs, the time our threads actually ran */
static int g_cpu_clock;
static double now(void) {
    if (!g_cpu_clock) return ng_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (ts.tv_sec + ts.tv_nsec * 1e-9) / ng_get_threads();
}

/* 24 independent chains of vdpbf16ps per thread (more than latency x issue width); each
 * instruction is 16 lanes x 2 products x 2 FLOPs = 64 FLOPs */
__attribute__((target("avx512f,avx512bf16"), noinline)) static double peak_loop(long iters) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i);
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x3c003c00);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(a));
    }
    float s = 0;
    for (int i = 0; i < 24; i++) s += _mm512_reduce_add_ps(acc[i]);
    return s;
}

__attribute__((noinline)) static double fma_loop(long iters) {
    typedef float v16 __attribute__((vector_size(64)));
    v16 acc[24], a = {0}, b = {0};
    for (int i = 0; i < 24; i++) acc[i] = (v16){0} + (float)i;
    a += 1.0f; b += 1e-3f;
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) acc[i] = acc[i] * a + b;
        __asm__ volatile("" : "+v"(a));
    }
    float s = 0;
    for (int i = 0; i < 24; i++) for (int j = 0; j < 16; j++) s += acc[i][j];
    return s;
}

/* 4 independent tile accumulators, operand tiles loaded once; each tdpbf16ps is
 * 16 x 16 lanes x 32 products x 2 FLOPs = 16384 FLOPs */
__attribute__((target("amx-tile,amx-bf16"), noinline)) static double amx_loop(long iters) {
    struct __attribute__((packed, aligned(64))) { uint8_t palette, start, r0[14]; uint16_t colsb[16]; uint8_t rows[16], r1[16]; } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    static uint16_t ab[16 * 32] __attribute__((aligned(64)));
    static float out[16 * 16] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) ab[i] = 0x3c00;     /* 2^-7 */
    _tile_loadconfig(&cfg);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    _tile_loadd(4, ab, 64); _tile_loadd(5, ab, 64); _tile_loadd(6, ab, 64); _tile_loadd(7, ab, 64);
    for (long it = 0; it < iters; it++) {
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    return out[0];
}

static double amx_peak(void) {
    long iters = 2000000;
    double best = 0, sink = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        #pragma omp parallel reduction(+:sink)
        sink += amx_loop(iters);
        double dt = now() - t0, f = (double)ng_get_threads() * iters * 4 * 16384 / dt;
        if (f > best) best = f;
    }
    if (sink == 42) printf(" ");
    return best;
}

static double peak(int bf16) {
    long iters = 20000000;
    double best = 0, sink = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        #pragma omp parallel reduction(+:sink)
        sink += bf16 ? peak_loop(iters) : fma_loop(iters);
        double dt = now() - t0, f = (double)ng_get_threads() * iters * 24 * (bf16 ? 64 : 32) / dt;
        if (f > best) best = f;
    }
    if (sink == 42) printf(" ");
    return best;
}

static double g_vdp_peak, g_amx_peak;

static void run(const char *what, int ta, int tb, int M, int N, int K, int reps) {
    int amx = ng_bf16_amx() && M >= 16;            /* the kernel ng_gemm_bf16 picks */
    double bf16_peak = amx ? g_amx_peak : g_vdp_peak;
    float *A = ng_aligned_alloc(sizeof(float) * (size_t)M * K, "A"), *B = ng_aligned_alloc(sizeof(float) * (size_t)K * N, "B");
    float *C = ng_aligned_alloc(sizeof(float) * (size_t)M * N, "C");
    uint32_t *Bp = ng_aligned_alloc(sizeof(uint32_t) * ng_bf16_packed_words(K, N), "Bp");
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)(i % 5) * 0.1f;
    int lda = ta ? M : K, ldb = tb ? K : N;
    double best32 = 1e9, best16 = 1e9, bestp = 1e9;
    ng_bf16_pack_b(Bp, tb, K, N, B, ldb);
    ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, N, 0);
    ng_gemm_bf16(ta, M, N, K, A, lda, Bp, C, N, 0);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        ng_sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, N, 1);
        double t1 = now();
        ng_gemm_bf16(ta, M, N, K, A, lda, Bp, C, N, 1);
        double t2 = now();
        ng_bf16_pack_b(Bp, tb, K, N, B, ldb);
        double t3 = now();
        if (t1 - t0 < best32) best32 = t1 - t0;
        if (t2 - t1 < best16) best16 = t2 - t1;
        if (t3 - t2 < bestp) bestp = t3 - t2;
    }
    double f = 2.0 * M * N * K;
    printf("%-30s ta=%d tb=%d M=%5d N=%5d K=%5d: fp32 %6.1f, bf16 %6.1f GFLOP/s (%.2fx, %3.0f%% of the %s peak; packing B %.2f ms)\n",
           what, ta, tb, M, N, K, f / best32 / 1e9, f / best16 / 1e9, best32 / best16, 100.0 * f / best16 / bf16_peak,
           amx ? "AMX" : "vdpbf16ps", bestp * 1e3);
    free(A); free(B); free(C); free(Bp);
}

int main(int argc, char **argv) {
    if (argc > 1) omp_set_num_threads(atoi(argv[1]));   /* a tool, not the library: the process is ours */
    g_cpu_clock = getenv("NG_BENCH_CPU") && atoi(getenv("NG_BENCH_CPU"));
    printf("threads %d, vdpbf16ps: %s, AMX: %s\n", ng_get_threads(), ng_bf16_native() ? "yes" : "no (portable kernel)",
           ng_bf16_amx() ? "yes" : "no");
    double p16 = ng_bf16_native() ? peak(1) : 0, p32 = peak(0), pamx = ng_bf16_amx() ? amx_peak() : 0;
    printf("peak: vdpbf16ps loop %.1f GFLOP/s, fp32 FMA loop %.1f GFLOP/s (%.2fx)\n", p16 / 1e9, p32 / 1e9, p16 / p32);
    if (pamx > 0) printf("peak: tdpbf16ps (AMX) loop %.1f GFLOP/s (%.2fx the FMA loop)\n", pamx / 1e9, pamx / p32);
    g_vdp_peak = p16 > 0 ? p16 : p32;
    g_amx_peak = pamx > 0 ? pamx : g_vdp_peak;
    run("W2 fc fwd (16384x1536x384)", 0, 1, 16384, 1536, 384, 3);
    run("W2 fc dW", 1, 0, 1536, 384, 16384, 3);
    run("W2 fc dinp", 0, 0, 16384, 384, 1536, 3);
    run("W2 shard fc fwd (8192x1536x384)", 0, 1, 8192, 1536, 384, 3);
    run("W3 lm_head fwd (256x50304x768)", 0, 1, 256, 50304, 768, 3);
    run("W3 lm_head dW", 1, 0, 50304, 768, 256, 3);
    run("W3 lm_head dinp", 0, 0, 256, 768, 50304, 3);
    run("W3 fc fwd (256x3072x768)", 0, 1, 256, 3072, 768, 5);
    run("W3 fc dW", 1, 0, 3072, 768, 256, 5);
    run("decode fc (1x3072x768)", 0, 1, 1, 3072, 768, 50);
    run("decode lm_head (1x50304x768)", 0, 1, 1, 50304, 768, 10);
    return 0;
}
