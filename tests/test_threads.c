/* test_threads.c -- the library from several threads at once: two models in two pthreads, a
 * training step (forward, backward, clipped AdamW) on one and a generation on the other, give
 * bitwise the results of the same work done one after the other; each thread keeps its own
 * error message. Uses only the public header. Runs under `make sanitize` too. */
#include "nanogpt.h"
#include "test.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum { B = 4, T = 32, V = 65, STEPS = 2, N_NEW = 48 };

typedef struct {                     /* thread A: training steps */
    NgModel m;
    float loss[STEPS], norm[STEPS];
    int rc;
} TrainJob;

typedef struct {                     /* thread B: generation */
    NgModel m;
    int ids[1 + N_NEW];
    int rc;
} GenJob;

static const NgModelArgs ARGS = {.model_type = NG_MODEL_GPT, .block_size = T, .vocab_size = V, .n_layer = 2, .n_head = 4,
                                  .n_embd = 64, .dropout = 0.1f, .bias = 1};

static void *train_job(void *p) {
    TrainJob *j = p;
    j->rc = -1;
    if (ng_model_create(&j->m, &ARGS) != 0) return NULL;
    ng_model_init_weights(&j->m, 1);
    int x[B * T], y[B * T];
    NgRng rng;
    ng_rng_seed(&rng, 42);
    NgAdamW opt = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    j->m.training = 1;
    ng_model_zero_grad(&j->m);
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < B * T; i++) { x[i] = (int)(ng_rng_u64(&rng) % V); y[i] = (int)(ng_rng_u64(&rng) % V); }
        j->m.dropout_seed = ng_rng_u64(&rng);
        if (ng_model_forward(&j->m, x, y, B, T) != 0 || ng_model_backward(&j->m, 1.0f) != 0) return NULL;
        j->loss[s] = j->m.loss;
        if (ng_optimizer_step(&j->m, &opt, 1.0f, &j->norm[s]) != 0) return NULL;
    }
    j->rc = 0;
    return NULL;
}

static void *gen_job(void *p) {
    GenJob *j = p;
    j->rc = -1;
    if (ng_model_create(&j->m, &ARGS) != 0) return NULL;
    ng_model_init_weights(&j->m, 2);
    for (size_t i = 0; i < j->m.num_params; i++) j->m.params[i] *= 4.0f;   /* logits less alike */
    NgRng rng;
    ng_rng_seed(&rng, 7);
    j->ids[0] = 11;
    j->rc = ng_generate(&j->m, j->ids, 1, N_NEW, 1.0f, 20, V, &rng);
    return NULL;
}

/* each thread fails in its own way many times and must always read back its own message */
typedef struct { int token, mismatches; } ErrJob;
static void *error_job(void *p) {
    ErrJob *j = p;
    NgModelArgs a = {.model_type = NG_MODEL_BIGRAM, .block_size = 8, .vocab_size = 5};
    NgModel m;
    if (ng_model_create(&m, &a) != 0) { j->mismatches = -1; return NULL; }
    char want[64];
    snprintf(want, sizeof want, "token id %d out of range", j->token);
    for (int i = 0; i < 20000; i++) {
        int idx = j->token;
        if (ng_model_forward(&m, &idx, NULL, 1, 1) != -1 || !strstr(ng_errmsg(), want)) j->mismatches++;
    }
    ng_model_free(&m);
    return NULL;
}

static int same_train(const TrainJob *a, const TrainJob *b) {
    return a->rc == 0 && b->rc == 0 && a->m.num_params == b->m.num_params
        && memcmp(a->m.params, b->m.params, a->m.num_params * sizeof(float)) == 0
        && memcmp(a->m.m, b->m.m, a->m.num_params * sizeof(float)) == 0
        && memcmp(a->loss, b->loss, sizeof a->loss) == 0 && memcmp(a->norm, b->norm, sizeof a->norm) == 0;
}

int main(void) {
    /* one after the other (each in a thread of its own, as below, so that every thread starts
     * with the same OpenMP settings) */
    static TrainJob ref_train, train;
    static GenJob ref_gen, gen;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, train_job, &ref_train); pthread_join(ta, NULL);
    pthread_create(&tb, NULL, gen_job, &ref_gen); pthread_join(tb, NULL);
    CHECK(ref_train.rc == 0 && ref_gen.rc == 0, "reference runs: %s", ng_errmsg());
    CHECK(ref_train.loss[0] > 3.5f && ref_train.loss[0] < 5.0f, "first loss %g near ln(65) = 4.17", ref_train.loss[0]);
    int distinct = 0;
    for (int i = 2; i <= N_NEW; i++) distinct += ref_gen.ids[i] != ref_gen.ids[i - 1];
    CHECK(distinct > N_NEW / 4, "the generation is not one token repeated (%d changes)", distinct);

    /* at the same time, a few times over */
    for (int rep = 0; rep < 3; rep++) {
        memset(&train, 0, sizeof train); memset(&gen, 0, sizeof gen);
        pthread_create(&ta, NULL, train_job, &train);
        pthread_create(&tb, NULL, gen_job, &gen);
        pthread_join(ta, NULL); pthread_join(tb, NULL);
        CHECK(same_train(&train, &ref_train), "rep %d: training step in parallel with a generation differs from alone", rep);
        CHECK(gen.rc == 0 && memcmp(gen.ids, ref_gen.ids, sizeof gen.ids) == 0,
              "rep %d: generation in parallel with a training step differs from alone", rep);
        ng_model_free(&train.m); ng_model_free(&gen.m);
    }
    ng_model_free(&ref_train.m); ng_model_free(&ref_gen.m);

    /* error messages are per thread */
    ErrJob e1 = {5, 0}, e2 = {7, 0};
    pthread_create(&ta, NULL, error_job, &e1);
    pthread_create(&tb, NULL, error_job, &e2);
    pthread_join(ta, NULL); pthread_join(tb, NULL);
    CHECK(e1.mismatches == 0 && e2.mismatches == 0, "a thread read another thread's error (%d, %d times)", e1.mismatches, e2.mismatches);
    TEST_END();
}
