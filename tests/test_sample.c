/* test_sample.c -- sampling: top-p (nucleus) draws, stop strings across token boundaries,
 * UTF-8-safe streaming, batched decoding bitwise equal to one sequence at a time, and the
 * `sample` command's streamed output equal to the library's non-streamed generation. */
#include "nanogpt.h"
#include "app/sample.h"
#include "base/util.h"
#include "kernels/kernels.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* the nucleus by the definition: probabilities sorted, the shortest prefix reaching top_p,
 * plus every token tied with its last one; NaN logits excluded */
static void nucleus_ref(const float *logits, int V, float top_p, int *in, double *prob) {
    float *p = malloc(sizeof(float) * V), *s = malloc(sizeof(float) * V);
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) if (logits[v] == logits[v] && logits[v] > mx) mx = logits[v];
    double sum = 0;
    for (int v = 0; v < V; v++) { p[v] = logits[v] == logits[v] ? expf(logits[v] - mx) : 0.0f; sum += p[v]; }
    memcpy(s, p, sizeof(float) * V);
    qsort(s, V, sizeof(float), cmp_desc);
    double acc = 0; float cut = s[0];
    for (int i = 0; i < V; i++) { acc += s[i]; cut = s[i]; if (acc >= top_p * sum) break; }
    double kept = 0;
    for (int v = 0; v < V; v++) { in[v] = p[v] > 0 && p[v] >= cut; kept += in[v] ? p[v] : 0; }
    for (int v = 0; v < V; v++) prob[v] = in[v] ? p[v] / kept : 0.0;
    free(p); free(s);
}

static void test_top_p(void) {
    enum { V = 64, DRAWS = 40000 };
    float logits[V], scratch[2 * V];
    int in[V], count[V];
    double prob[V];
    NgRng r;
    ng_rng_seed(&r, 5);
    for (int v = 0; v < V; v++) logits[v] = 3.0f * ng_rng_normal(&r);
    logits[7] = logits[8] = logits[9] = 2.5f;          /* ties, at the edge of the nucleus for some p */
    logits[20] = NAN; logits[21] = -INFINITY;
    float ps[] = {0.05f, 0.3f, 0.5f, 0.9f, 0.999f};
    for (size_t t = 0; t < sizeof ps / sizeof ps[0]; t++) {
        nucleus_ref(logits, V, ps[t], in, prob);
        memset(count, 0, sizeof count);
        int outside = 0;
        for (int i = 0; i < DRAWS; i++) {
            int k = ng_sample_token_p(logits, V, 1.0f, V, ps[t], &r, scratch);
            count[k]++;
            outside += !in[k];
        }
        CHECK(outside == 0, "top_p=%g: %d of %d draws outside the nucleus", ps[t], outside, DRAWS);
        /* each kept token's frequency within 5 standard deviations of its probability */
        int off = 0;
        for (int v = 0; v < V; v++) {
            double sd = sqrt(prob[v] * (1 - prob[v]) / DRAWS) + 1e-9;
            if (fabs((double)count[v] / DRAWS - prob[v]) > 5 * sd + 1e-4) off++;
        }
        CHECK(off == 0, "top_p=%g: %d tokens drawn at the wrong frequency", ps[t], off);
    }
    /* the tie at the edge: with p just past the first of three equal tokens all three stay */
    float tl[6] = {1.0f, 1.0f, 1.0f, 0.0f, -1.0f, NAN};
    int seen[6] = {0};
    for (int i = 0; i < 3000; i++) seen[ng_sample_token_p(tl, 6, 1.0f, 6, 0.2f, &r, scratch)]++;
    CHECK(seen[0] && seen[1] && seen[2] && !seen[3] && !seen[4] && !seen[5], "tied tokens: %d %d %d %d %d %d",
          seen[0], seen[1], seen[2], seen[3], seen[4], seen[5]);
    /* top_k first, then top_p over the renormalised top_k */
    int bad = 0;
    for (int i = 0; i < 3000; i++) { int k = ng_sample_token_p(tl, 6, 1.0f, 4, 0.99f, &r, scratch); bad += k > 3; }
    CHECK(bad == 0, "top_k=4 then top_p: %d draws outside the top 4", bad);
    /* top_p = 0: the most likely token only; top_p = 1 leaves the draw as it was */
    CHECK(ng_sample_token_p(tl + 2, 3, 1.0f, 3, 0.0f, &r, scratch) == 0, "top_p=0 is not greedy");
    NgRng a, b;
    ng_rng_seed(&a, 9); ng_rng_seed(&b, 9);
    int same = 1;
    for (int i = 0; i < 500; i++) same &= ng_sample_token_p(logits, V, 0.7f, 20, 1.0f, &a, scratch) == ng_sample_token(logits, V, 0.7f, 20, &b, scratch);
    CHECK(same, "top_p=1 changes the draws");
    /* all logits NaN: a token id in range, no crash */
    float nan[4] = {NAN, NAN, NAN, NAN};
    int k = ng_sample_token_p(nan, 4, 1.0f, 4, 0.5f, &r, scratch);
    CHECK(k >= 0 && k < 4, "all-NaN logits drew %d", k);
}

/* a character tokenizer over the distinct ASCII characters of text (sorted, as prepare does) */
static void char_tokenizer(NgTokenizer *tok, const char *text) {
    char seen[128] = {0};
    for (const char *p = text; *p; p++) seen[(unsigned char)*p & 127] = 1;
    NgStr meta = {0};
    int n = 0;
    ng_str_printf(&meta, "{\"itos\": [");
    for (int c = 0; c < 128; c++) if (seen[c]) { char ch[2] = {(char)c, 0}; ng_str_printf(&meta, n++ ? ", " : ""); ng_str_json_string(&meta, ch); }
    ng_str_printf(&meta, "], \"vocab_size\": %d}", n);
    memset(tok, 0, sizeof *tok);
    CHECK(ng_tokenizer_parse_meta(tok, meta.s, meta.len, "meta") == 0, "meta: %s", ng_errmsg());
    free(meta.s);
}

/* a bigram model over a char vocabulary that always continues a->b->c->d->a (greedy) */
static void make_cycle(NgModel *m, NgTokenizer *tok, const char *alphabet) {
    char_tokenizer(tok, alphabet);
    int V = tok->vocab_size;
    NgModelArgs a = {.model_type = NG_MODEL_BIGRAM, .block_size = 8, .vocab_size = V};
    CHECK(ng_model_create(m, &a) == 0, "bigram: %s", ng_errmsg());
    for (int i = 0; i < V; i++)
        for (int j = 0; j < V; j++) m->p.bigram[(size_t)i * V + j] = j == (i + 1) % V ? 5.0f : 0.0f;
}

static void test_stop_and_stream(void) {
    NgModel m; NgTokenizer tok;
    make_cycle(&m, &tok, "abcd");                       /* ids 0..3 = a b c d */
    NgDecoder *d = ng_decoder_new(&m, 2);
    float scratch[8];
    NgSampleParams p = {1.0f, 1.0f, 1, 0, {"cda"}, 1};  /* greedy; the stop spans three tokens */
    NgSeq s, *ss = &s;
    int prompt[1] = {0};
    ng_seq_init(&s, &p, prompt, 1, 20, 1, 0);
    size_t ready_before_c = 0;
    for (int i = 0; i < 20 && !s.finish; i++) {
        CHECK(ng_seqs_step(&m, d, &tok, &ss, 1, scratch) == 0, "step: %s", ng_errmsg());
        if (s.text.len == 1) ready_before_c = ng_seq_ready(&s);   /* "b": nothing can start a stop yet... */
        if (s.text.len == 2) CHECK(ng_seq_ready(&s) == 1, "\"bc\": the c may start \"cda\" and must be held, ready=%zu", ng_seq_ready(&s));
    }
    CHECK(ready_before_c == 0 || ready_before_c == 1, "ready %zu", ready_before_c);
    CHECK(s.finish == NG_FINISH_STOP && s.end == 1 && ng_seq_ready(&s) == 1 && !memcmp(s.text.s, "b", 1),
          "stop \"cda\" across tokens: finish %d end %zu text %s", s.finish, s.end, s.text.s);
    CHECK(s.n_new == 4, "generated %d tokens, want 4 (b c d a)", s.n_new);
    ng_seq_free(&s);
    /* max_new reached without a stop: finish length, everything handed out */
    p.stops[0] = "zz";
    ng_seq_init(&s, &p, prompt, 1, 6, 1, 1);
    while (!s.finish) ng_seqs_step(&m, d, &tok, &ss, 1, scratch);
    CHECK(s.finish == NG_FINISH_LENGTH && s.text.len == 6 && ng_seq_ready(&s) == 6 && !memcmp(s.text.s, "bcdabc", 6),
          "length: %d %zu %s", s.finish, s.text.len, s.text.s);
    ng_seq_free(&s);
    ng_decoder_free(d);
    ng_model_free(&m); ng_tokenizer_free(&tok);

    /* UTF-8: bytes of an incomplete character are held back until it is whole */
    NgSampleParams q = {1.0f, 1.0f, 1, 0, {NULL}, 0};
    memset(&s, 0, sizeof s);
    s.p = &q;
    const char *euro = "x\xE2\x82\xAC";                /* x then U+20AC in three bytes */
    for (size_t n = 1; n <= 4; n++) {
        s.text.s = (char *)euro; s.text.len = n;
        size_t want = n == 1 || n == 4 ? n : 1;
        CHECK(ng_seq_ready(&s) == want, "%zu bytes of x\\u20ac: ready %zu, want %zu", n, ng_seq_ready(&s), want);
    }
    s.text.s = "a\x80\x80\x80\x80"; s.text.len = 5;     /* invalid bytes are not held forever */
    CHECK(ng_seq_ready(&s) == 5, "stray continuation bytes held back");
    char *u = ng_unescape("a\\nb\\\\n\\t\\q");
    CHECK(u && !strcmp(u, "a\nb\\n\t\\q"), "unescape: %s", u ? u : "(null)");
    free(u);
}

/* ng_matmul_forward_rows: each row bitwise as alone, on any number of threads, and right */
static void test_matmul_rows(void) {
    int C = 777, OC = 1001;                          /* not multiples of the vector width or the tile */
    float *x = malloc(sizeof(float) * 9 * C), *w = malloc(sizeof(float) * OC * C), *b = malloc(sizeof(float) * OC);
    float *all = malloc(sizeof(float) * 9 * OC), *one = malloc(sizeof(float) * OC);
    NgRng r;
    ng_rng_seed(&r, 3);
    for (int i = 0; i < 9 * C; i++) x[i] = ng_rng_normal(&r);
    for (int i = 0; i < OC * C; i++) w[i] = ng_rng_normal(&r);
    for (int i = 0; i < OC; i++) b[i] = ng_rng_normal(&r);
    int same = 1, close = 1;
    for (int threads = 1; threads <= 2; threads++) {
        ng_team_enter(threads);
        for (int N = 1; N <= 9; N += 4) {
            ng_matmul_forward_rows(all, x, w, NULL, b, N, C, OC);
            for (int i = 0; i < N; i++) {
                ng_team_enter(3 - threads);          /* the lone row on the other thread count */
                ng_matmul_forward_rows(one, x + (size_t)i * C, w, NULL, b, 1, C, OC);
                ng_team_enter(threads);
                same &= !memcmp(one, all + (size_t)i * OC, sizeof(float) * OC);
                for (int j = 0; j < OC; j++) {
                    double d = b[j];
                    for (int k = 0; k < C; k++) d += (double)x[(size_t)i * C + k] * w[(size_t)j * C + k];
                    close &= fabs(d - one[j]) <= 1e-3;
                }
            }
        }
    }
    ng_team_enter(0);
    CHECK(same, "rows of a batched product differ from the same rows alone");
    CHECK(close, "batched product differs from the double-precision sum by more than 1e-3");
    free(x); free(w); free(b); free(all); free(one);
}

/* batched decoding gives each sequence bitwise the logits of ng_model_decode alone, in float32
 * and in bfloat16 (the bf16 product on the packed weight copy) */
static void test_decode_batch(int bias, int gelu_tanh, int bf16) {
    NgModelArgs a = {.model_type = NG_MODEL_GPT, .block_size = 16, .vocab_size = 29, .n_layer = 2, .n_head = 4, .n_embd = 32, .bias = bias, .gelu_tanh = gelu_tanh};
    NgModel m;
    CHECK(ng_model_create(&m, &a) == 0, "create: %s", ng_errmsg());
    ng_model_init_weights(&m, 3);
    for (size_t i = 0; i < m.num_params; i++) m.params[i] *= 5.0f;
    if (bf16) CHECK(ng_model_set_dtype(&m, "bfloat16") == 0, "dtype: %s", ng_errmsg());
    int V = a.vocab_size, S = 5;
    int seqs[5][16];
    NgRng r;
    ng_rng_seed(&r, 11);
    for (int s = 0; s < S; s++) for (int t = 0; t < 16; t++) seqs[s][t] = (int)(ng_rng_u64(&r) % V);
    NgDecoder *d = ng_decoder_new(&m, S);
    int plen[5] = {1, 3, 7, 2, 5}, slots[5] = {4, 0, 3, 1, 2};   /* slots out of order */
    enum { STEPS = 8 };
    /* one sequence at a time (a decoder of one), and ng_model_decode position by position */
    float *want = malloc(sizeof(float) * V * S * STEPS), *got = malloc(sizeof(float) * V * S * STEPS);
    float *ref = malloc(sizeof(float) * V * S * STEPS);
    NgDecoder *one = ng_decoder_new(&m, 1);
    int zero = 0;
    for (int s = 0; s < S; s++) {
        ng_decoder_prefill(&m, one, 0, seqs[s], plen[s]);
        ng_model_decode(&m, seqs[s], plen[s], 0);
        for (int step = 0; step < STEPS; step++) {
            ng_model_decode_batch(&m, one, 1, &zero, seqs[s] + plen[s] + step);
            memcpy(want + ((size_t)step * S + s) * V, ng_decoder_logits(one, 0), sizeof(float) * V);
            ng_model_decode(&m, seqs[s] + plen[s] + step, 1, plen[s] + step);
            memcpy(ref + ((size_t)step * S + s) * V, ng_model_logits(&m), sizeof(float) * V);
        }
    }
    ng_decoder_free(one);
    for (int s = 0; s < S; s++) CHECK(ng_decoder_prefill(&m, d, slots[s], seqs[s], plen[s]) == 0, "prefill: %s", ng_errmsg());
    for (int step = 0; step < STEPS; step++) {
        int tk[5];
        for (int s = 0; s < S; s++) tk[s] = seqs[s][plen[s] + step];
        CHECK(ng_model_decode_batch(&m, d, S, slots, tk) == 0, "batch: %s", ng_errmsg());
        for (int s = 0; s < S; s++) memcpy(got + ((size_t)step * S + s) * V, ng_decoder_logits(d, s), sizeof(float) * V);
    }
    CHECK(!memcmp(got, want, sizeof(float) * V * S * STEPS), "bias=%d tanh=%d bf16=%d: batched logits differ from one sequence at a time",
          bias, gelu_tanh, bf16);
    /* and agree with ng_model_decode (other kernels, other summation order) to rounding: float32's
     * 1e-5 of the largest logit; in bf16 the two paths may round a matmul input to different bf16
     * neighbours (2^-8 relative), which 2 layers and the head carry to about 1% */
    float scale = 1.0f;
    for (size_t i = 0; i < (size_t)V * S * STEPS; i++) scale = fmaxf(scale, fabsf(ref[i]));
    check_close("batched decode against ng_model_decode", got, ref, (size_t)V * S * STEPS, (bf16 ? 1e-2 : 1e-5) * scale, 0);
    if (bf16) {                      /* the bf16 weights were used: float32 decodes differently */
        ng_model_set_dtype(&m, "float32");
        ng_model_decode(&m, seqs[0], plen[0] + 1, 0);
        const float *l32 = ng_model_logits(&m), *l16 = ref + (size_t)0 * S * V;   /* step 0 of sequence 0 */
        CHECK(memcmp(l32, l16, sizeof(float) * V) != 0, "bf16 decode equals float32: bf16 weights not used");
        ng_model_set_dtype(&m, "bfloat16");
    }
    free(got); free(ref);
    int bad_tok = 99, s0 = 0;
    CHECK(ng_model_decode_batch(&m, d, 1, &s0, &bad_tok) != 0, "token id 99 accepted");
    int twice[2] = {1, 1}, tk2[2] = {0, 0};
    CHECK(ng_model_decode_batch(&m, d, 2, twice, tk2) != 0, "one slot twice in a step accepted");
    free(want);
    ng_decoder_free(d);
    ng_model_free(&m);
}

/* `sample` streams; its output equals the library's generation decoded at the end (ng_generate
 * with the stream of seed + s for sample s), for a batch of samples and any thread count */
static void test_sample_command(void) {
    char dir[] = "/tmp/test_sample_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    const char *text = "First Citizen:\nBefore we proceed any further, hear me speak.\n";
    NgTokenizer tok;
    char_tokenizer(&tok, text);
    NgModelArgs a = {.model_type = NG_MODEL_GPT, .block_size = 24, .vocab_size = tok.vocab_size, .n_layer = 2, .n_head = 2, .n_embd = 32, .bias = 1};
    NgModel m;
    ng_model_create(&m, &a);
    ng_model_init_weights(&m, 1);
    for (size_t i = 0; i < m.num_params; i++) m.params[i] *= 8.0f;
    NgConfig cfg;
    ng_config_defaults(&cfg);
    cfg.n_layer = 2; cfg.n_head = 2; cfg.n_embd = 32; cfg.block_size = 24; cfg.bias = 1;
    char path[300];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    NgRunState rs = {0};
    CHECK(ng_checkpoint_save(path, &m, &cfg, &rs, &tok) == 0, "save: %s", ng_errmsg());
    snprintf(cfg.out_dir, sizeof cfg.out_dir, "%s", dir);
    snprintf(cfg.start, sizeof cfg.start, "First");
    cfg.num_samples = 4; cfg.max_new_tokens = 40; cfg.seed = 42;
    ng_config_set(&cfg, "temperature", "1.3", "--temperature");   /* given: not the checkpoint's */
    ng_config_set(&cfg, "top_k", "20", "--top_k");
    NgStr want = {0};
    for (int s = 0; s < cfg.num_samples; s++) {              /* past the block of 24 too */
        int ids[64] = {0};
        int *pr; size_t np;
        ng_tokenizer_encode(&tok, "First", 5, &pr, &np);
        memcpy(ids, pr, sizeof(int) * np);
        NgRng r;
        ng_rng_seed(&r, 42 + s);
        ng_generate(&m, ids, np, 40, 1.3f, 20, tok.vocab_size, &r);
        size_t n;
        char *t = ng_tokenizer_decode(&tok, ids, np + 40, &n);
        ng_str_append(&want, t, n);
        ng_str_append(&want, "\n---------------\n", 17);
        free(t); free(pr);
    }
    for (int threads = 1; threads <= 2; threads++) {
        cfg.threads = threads;
        FILE *f = tmpfile();
        CHECK(ng_sample(&cfg, f) == 0, "sample: %s", ng_errmsg());
        long n = ftell(f);
        rewind(f);
        char *got = calloc(1, (size_t)n + 1);
        CHECK(fread(got, 1, (size_t)n, f) == (size_t)n, "read back");
        fclose(f);
        CHECK((size_t)n == want.len && !memcmp(got, want.s, want.len), "threads=%d: sample printed\n%s\nwant\n%s", threads, got, want.s);
        free(got);
    }
    /* a stop string: each sample is the unstopped one cut where the string first appears */
    snprintf(cfg.stop, sizeof cfg.stop, "e");
    FILE *f = tmpfile();
    CHECK(ng_sample(&cfg, f) == 0, "sample with stop: %s", ng_errmsg());
    long n = ftell(f);
    rewind(f);
    char *got = calloc(1, (size_t)n + 1);
    CHECK(fread(got, 1, (size_t)n, f) == (size_t)n, "read back");
    fclose(f);
    NgStr cut = {0};
    for (char *p = want.s; p && *p;) {
        char *sep = strstr(p, "\n---------------\n");
        char *e = memchr(p + 5, 'e', (size_t)(sep - p - 5));
        ng_str_append(&cut, p, (size_t)((e ? e : sep) - p));
        ng_str_append(&cut, "\n---------------\n", 17);
        p = sep + 17;
    }
    CHECK(!strcmp(got, cut.s), "stop=e: printed\n%s\nwant\n%s", got, cut.s);
    free(got); free(cut.s); free(want.s);
    unlink(path); rmdir(dir);
    ng_tokenizer_free(&tok);
    ng_model_free(&m);
}

int main(void) {
    test_top_p();
    test_stop_and_stream();
    test_matmul_rows();
    test_decode_batch(1, 0, 0);
    test_decode_batch(0, 1, 0);
    test_decode_batch(1, 0, 1);
    test_decode_batch(0, 1, 1);
    test_sample_command();
    TEST_END();
}
