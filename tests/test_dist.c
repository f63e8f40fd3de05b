/* test_dist.c -- the MPI wrapper as one process (what every build runs without mpirun), and the
 * checkpoint's per-rank sampler states (rank_rng_states) through a save/load round trip and
 * damaged values. The collectives over several ranks are tested by tests/e2e_mpi.sh. */
#include "test.h"
#include "base/dist.h"
#include "base/util.h"
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static void test_one_rank(void) {
    CHECK(ng_dist_init(NULL, NULL) == 0 && ng_dist_rank() == 0 && ng_dist_world() == 1 && ng_dist_local_size() == 1,
          "one rank without mpirun: rank %d world %d", ng_dist_rank(), ng_dist_world());
    size_t counts[1], displs[1];
    ng_dist_shards(1000, 16, counts, displs);
    CHECK(counts[0] == 1000 && displs[0] == 0, "one shard of everything: %zu at %zu", counts[0], displs[0]);
    float buf[40], out[40];
    for (int i = 0; i < 40; i++) buf[i] = (float)i * 0.5f;
    ng_dist_allreduce_sum_f32(buf, 40);
    ng_dist_allgather_f32(buf, (size_t[]){40}, (size_t[]){0});
    CHECK(buf[39] == 19.5f && buf[1] == 0.5f, "allreduce/allgather of one rank leave the buffer: %g", buf[39]);
    ng_dist_reduce_scatter_f32(buf, out, (size_t[]){40}, (size_t[]){0});
    CHECK(!memcmp(buf, out, sizeof buf), "reduce-scatter of one rank copies its shard");
    memset(out, 0, sizeof out);
    ng_dist_scatter_f32(buf, out, (size_t[]){40}, (size_t[]){0});
    CHECK(!memcmp(buf, out, sizeof buf), "scatter of one rank copies its shard");
    double s[2] = {1.25, -3.0};
    ng_dist_sum_f64(s, 2);
    CHECK(s[0] == 1.25 && s[1] == -3.0, "sum over one rank: %g %g", s[0], s[1]);
    uint64_t all[1];
    ng_dist_allgather_u64(42, all);
    CHECK(all[0] == 42, "allgather of one rank: %llu", (unsigned long long)all[0]);
    CHECK(ng_dist_agree(1) == 1 && !ng_dist_stopping_together(), "agreeing on success");
    ng_fail("the problem");
    CHECK(ng_dist_agree(0) == 0 && ng_dist_stopping_together() && ng_dist_reporter() && !strcmp(ng_errmsg(), "the problem"),
          "agreeing on a failure keeps the message: %s", ng_errmsg());
}

/* a tiny bigram model saved with 3 ranks' sampler states */
static void test_rank_states(void) {
    char dir[] = "/tmp/ng_test_dist.XXXXXX", path[128];
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    NgModel m, m2;
    NgModelArgs a = {.model_type = NG_MODEL_BIGRAM, .vocab_size = 5, .block_size = 4};
    CHECK(ng_model_create(&m, &a) == 0, "create: %s", ng_errmsg());
    ng_model_init_weights(&m, 1);
    m.m = ng_aligned_alloc(m.num_params * sizeof(float), "m");
    m.v = ng_aligned_alloc(m.num_params * sizeof(float), "v");
    uint64_t states[3] = {1, 2222, UINT64_MAX};
    NgRunState rs = {.iter_num = 7, .best_val_loss = 1.5f, .rng_state = 1, .n_ranks = 3, .rank_rng_states = states};
    rs.opt.t = 7;
    CHECK(ng_checkpoint_save(path, &m, NULL, &rs, NULL) == 0, "save: %s", ng_errmsg());
    NgRunState back = {0};
    CHECK(ng_checkpoint_load(path, &m2, NULL, &back, NULL, 1) == 0, "load: %s", ng_errmsg());
    CHECK(back.n_ranks == 3 && back.rank_rng_states && back.rank_rng_states[0] == 1 && back.rank_rng_states[1] == 2222
          && back.rank_rng_states[2] == UINT64_MAX && back.rng_state == 1, "every rank's sampler state back: %d", back.n_ranks);
    free(back.rank_rng_states);
    ng_model_free(&m2);
    /* one process: no list written, none read */
    rs.n_ranks = 0; rs.rank_rng_states = NULL;
    CHECK(ng_checkpoint_save(path, &m, NULL, &rs, NULL) == 0, "save: %s", ng_errmsg());
    memset(&back, 0, sizeof back);
    CHECK(ng_checkpoint_load(path, &m2, NULL, &back, NULL, 1) == 0 && back.n_ranks == 0 && !back.rank_rng_states, "no list");
    ng_model_free(&m2);
    /* damaged lists (same length, so the header stays valid): one line naming the file */
    rs.n_ranks = 3; rs.rank_rng_states = states;
    static const char *bad[] = {"1,2x22,18446744073709551615", "1,,2222118446744073709551615", "1,2222,18446744073709551616", "1,2222,-8446744073709551615"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECK(ng_checkpoint_save(path, &m, NULL, &rs, NULL) == 0, "save: %s", ng_errmsg());
        size_t n;
        char *buf = ng_read_file(path, &n);
        char *at = buf ? memmem(buf, n, "1,2222,18446744073709551615", 27) : NULL;
        CHECK(at != NULL, "the list is in the file");
        if (!at) { free(buf); continue; }
        memcpy(at, bad[k], 27);
        CHECK(ng_write_file_atomic(path, buf, n) == 0, "write");
        free(buf);
        memset(&back, 0, sizeof back);
        int rc = ng_checkpoint_load(path, &m2, NULL, &back, NULL, 1);
        CHECK(rc == -1 && strstr(ng_errmsg(), "rank_rng_states is invalid") && strstr(ng_errmsg(), path) && !back.rank_rng_states,
              "damaged list '%s': %s", bad[k], ng_errmsg());
        if (rc == 0) ng_model_free(&m2);
    }
    ng_model_free(&m);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_rank_states();
    test_one_rank();
    TEST_END();
}
