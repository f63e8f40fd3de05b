/* test_config.c -- the config table and its parser: nanoGPT's train.py defaults, loading
 * nanoGPT's config/train_shakespeare_char.py (the .conf and a verbatim copy of the .py),
 * --key=value overrides in order, products, every kind of error with its message and
 * "file:line", ng_config_validate, ng_config_to_json (parsed back with the JSON reader),
 * and the learning-rate schedule ng_get_lr. Run from the repository root. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "base/json.h"
#include "nanogpt.h"
#include "app/config.h"
#include "test.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[256];   /* mkdtemp directory for every file this test writes */
static int g_nfiles;

/* Writes text to a new file in g_dir and returns its path (static storage, 8 slots). */
static const char *write_tmp(const char *name, const char *text, size_t n) {
    static char buf[8][512];
    char *p = buf[g_nfiles++ % 8];
    snprintf(p, 512, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) { perror(p); exit(1); }
    if (n) fwrite(text, 1, n, f);
    fclose(f);
    return p;
}
static const char *write_conf(const char *name, const char *text) { return write_tmp(name, text, strlen(text)); }

/* ng_errmsg() contains `want` */
static int err_has(const char *want) {
    if (strstr(ng_errmsg(), want)) return 1;
    fprintf(stderr, "  error was: %s\n  expected it to contain: %s\n", ng_errmsg(), want);
    return 0;
}

/* Loads a one-file config into fresh defaults: 0/-1 as ng_config_load_file. */
static int load_text(NgConfig *c, const char *name, const char *text) {
    ng_config_defaults(c);
    return ng_config_load_file(c, write_conf(name, text));
}

/* A config file text must fail, with the error naming "path:line" and containing `want`. */
static int bad_file(const char *text, int line, const char *want) {
    NgConfig c;
    char name[32];
    static int k;
    snprintf(name, sizeof name, "bad%d.conf", k++);
    ng_config_defaults(&c);
    const char *path = write_conf(name, text);
    if (ng_config_load_file(&c, path) == 0) { fprintf(stderr, "  accepted: %s\n", text); return 0; }
    char where[600];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    return err_has(where) && err_has(want) && !strchr(ng_errmsg(), '\n');
}
#define BAD_FILE(text, line, want) CHECK(bad_file(text, line, want), "%s", text)

/* ng_config_set(key, value, "--key") must fail with a message containing `want`. */
static int bad_set(const char *key, const char *value, const char *want) {
    NgConfig c;
    ng_config_defaults(&c);
    char where[128];
    snprintf(where, sizeof where, "--%s", key);
    if (ng_config_set(&c, key, value, where) == 0) { fprintf(stderr, "  accepted: %s=%s\n", key, value); return 0; }
    return err_has(where) && err_has(want);
}
#define BAD_SET(key, value, want) CHECK(bad_set(key, value, want), "%s=%s", key, value)

/* Runs fn(arg) with stderr captured into buf. */
static int capture_stderr(int (*fn)(void *), void *arg, char *buf, size_t cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0) { perror("capture"); exit(1); }
    dup2(fd, 2);
    close(fd);
    int rc = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return rc;
}

static int feq(float a, double b) { return fabs((double)a - b) <= 1e-6 * fabs(b) + 1e-12; }

/* ----------------------------------------------------------------------------------------
 * nanoGPT's train.py defaults */
static void test_defaults(void) {
    NgConfig c;
    memset(&c, 0xAB, sizeof c);
    ng_config_defaults(&c);
    CHECK(strcmp(c.out_dir, "out") == 0, "out_dir '%s'", c.out_dir);
    CHECK(c.eval_interval == 2000, "eval_interval %d", c.eval_interval);
    CHECK(c.log_interval == 1, "log_interval %d", c.log_interval);
    CHECK(c.eval_iters == 200, "eval_iters %d", c.eval_iters);
    CHECK(c.eval_only == 0, "eval_only %d", c.eval_only);
    CHECK(c.always_save_checkpoint == 1, "always_save_checkpoint %d", c.always_save_checkpoint);
    CHECK(strcmp(c.init_from, "scratch") == 0, "init_from '%s'", c.init_from);
    CHECK(strcmp(c.dataset, "openwebtext") == 0, "dataset '%s'", c.dataset);
    CHECK(c.gradient_accumulation_steps == 40, "gradient_accumulation_steps %d", c.gradient_accumulation_steps);
    CHECK(c.batch_size == 12, "batch_size %d", c.batch_size);
    CHECK(c.block_size == 1024, "block_size %d", c.block_size);
    CHECK(strcmp(c.model, "gpt") == 0, "model '%s'", c.model);
    CHECK(c.n_layer == 12 && c.n_head == 12 && c.n_embd == 768, "model %d/%d/%d", c.n_layer, c.n_head, c.n_embd);
    CHECK(c.dropout == 0.0f, "dropout %g", c.dropout);
    CHECK(c.bias == 0, "bias %d", c.bias);
    CHECK(strcmp(c.gelu, "erf") == 0, "gelu '%s'", c.gelu);
    CHECK(c.learning_rate == 6e-4f, "learning_rate %g", c.learning_rate);
    CHECK(c.max_iters == 600000, "max_iters %d", c.max_iters);
    CHECK(c.weight_decay == 0.1f, "weight_decay %g", c.weight_decay);
    CHECK(c.beta1 == 0.9f && c.beta2 == 0.95f, "betas %g %g", c.beta1, c.beta2);
    CHECK(c.grad_clip == 1.0f, "grad_clip %g", c.grad_clip);
    CHECK(c.decay_lr == 1, "decay_lr %d", c.decay_lr);
    CHECK(c.warmup_iters == 2000, "warmup_iters %d", c.warmup_iters);
    CHECK(c.lr_decay_iters == 600000, "lr_decay_iters %d", c.lr_decay_iters);
    CHECK(c.min_lr == 6e-5f, "min_lr %g", c.min_lr);
    CHECK(c.seed == 1337, "seed %d", c.seed);
    CHECK(c.threads == 0 && c.peak_flops == 0.0, "threads %d peak_flops %g", c.threads, c.peak_flops);
    /* sample.py's defaults */
    CHECK(strcmp(c.start, "\n") == 0, "start '%s'", c.start);
    CHECK(c.num_samples == 10 && c.max_new_tokens == 500, "num_samples %d max_new_tokens %d", c.num_samples, c.max_new_tokens);
    CHECK(c.temperature == 0.8f && c.top_k == 200, "temperature %g top_k %d", c.temperature, c.top_k);
    CHECK(c.input[0] == 0 && strcmp(c.tokenizer, "char") == 0, "input '%s' tokenizer '%s'", c.input, c.tokenizer);
    CHECK(strcmp(c.mode, "train") == 0 && c.bench_iters == 10, "mode '%s' bench_iters %d", c.mode, c.bench_iters);
    CHECK(c.set_mask == 0, "nothing is 'set' by the defaults: mask %llx", (unsigned long long)c.set_mask);
    CHECK(!ng_config_was_set(&c, "batch_size") && !ng_config_was_set(&c, "no_such_key"), "was_set on defaults");
    CHECK(ng_config_validate(&c) == 0, "the defaults validate: %s", ng_errmsg());

    /* the table itself: unique names, defaults that parse, every non-ignored key has a field */
    int n = 0, dup = 0, ignored = 0;
    for (const NgKey *k = ng_keys; k->name; k++, n++) {
        for (const NgKey *j = ng_keys; j < k; j++) if (!strcmp(j->name, k->name)) dup++;
        if (k->type == NG_IGNORED) { ignored++; continue; }
        CHECK(ng_key_find(k->name) == k, "ng_key_find(%s)", k->name);
        CHECK(k->help && k->help[0] && k->cmds && k->cmds[0], "%s has help and commands", k->name);
        CHECK(k->offset + (k->type == NG_DOUBLE ? sizeof(double) : k->type == NG_STRING ? k->size : sizeof(int)) <= sizeof(NgConfig),
              "%s fits in NgConfig", k->name);
    }
    CHECK(dup == 0, "%d duplicate key names", dup);
    CHECK(n <= 64, "%d keys fit set_mask", n);
    CHECK(ignored == 7, "ignored keys: %d", ignored);
    CHECK(ng_key_find("wandb_log") && ng_key_find("wandb_log")->type == NG_IGNORED, "wandb_log is accepted and ignored");
    CHECK(ng_key_find("n_layers") == NULL, "no key n_layers");
}

/* ----------------------------------------------------------------------------------------
 * nanoGPT's config/train_shakespeare_char.py */

/* The upstream file, byte for byte. */
static const char SHAKESPEARE_CHAR_PY[] =
    "# train a miniature character-level shakespeare model\n"
    "# good for debugging and playing on macbooks and such\n"
    "\n"
    "out_dir = 'out-shakespeare-char'\n"
    "eval_interval = 250 # keep frequent because we'll overfit\n"
    "eval_iters = 200\n"
    "log_interval = 10 # don't print too too often\n"
    "\n"
    "# we expect to overfit on this small dataset, so only save when val improves\n"
    "always_save_checkpoint = False\n"
    "\n"
    "wandb_log = False # override via command line if you like\n"
    "wandb_project = 'shakespeare-char'\n"
    "wandb_run_name = 'mini-gpt'\n"
    "\n"
    "dataset = 'shakespeare_char'\n"
    "gradient_accumulation_steps = 1\n"
    "batch_size = 64\n"
    "block_size = 256 # context of up to 256 previous characters\n"
    "\n"
    "# baby GPT model :)\n"
    "n_layer = 6\n"
    "n_head = 6\n"
    "n_embd = 384\n"
    "dropout = 0.2\n"
    "\n"
    "learning_rate = 1e-3 # with baby networks can afford to go a bit higher\n"
    "max_iters = 5000\n"
    "lr_decay_iters = 5000 # make equal to max_iters usually\n"
    "min_lr = 1e-4 # learning_rate / 10 usually\n"
    "beta2 = 0.99 # make a bit bigger because number of tokens per iter is small\n"
    "\n"
    "warmup_iters = 100 # not super necessary potentially\n"
    "\n"
    "# on macbook also add\n"
    "# device = 'cpu'  # run on cpu only\n"
    "# compile = False # do not torch compile the model\n";

static void check_shakespeare(const NgConfig *c, const char *what) {
    CHECK(strcmp(c->out_dir, "out-shakespeare-char") == 0, "%s: out_dir '%s'", what, c->out_dir);
    CHECK(c->eval_interval == 250 && c->eval_iters == 200 && c->log_interval == 10, "%s: eval %d/%d log %d", what,
          c->eval_interval, c->eval_iters, c->log_interval);
    CHECK(c->always_save_checkpoint == 0, "%s: always_save_checkpoint %d", what, c->always_save_checkpoint);
    CHECK(strcmp(c->dataset, "shakespeare_char") == 0, "%s: dataset '%s'", what, c->dataset);
    CHECK(c->gradient_accumulation_steps == 1, "%s: gradient_accumulation_steps %d", what, c->gradient_accumulation_steps);
    CHECK(c->batch_size == 64 && c->block_size == 256, "%s: batch %d block %d", what, c->batch_size, c->block_size);
    CHECK(c->n_layer == 6 && c->n_head == 6 && c->n_embd == 384, "%s: model %d/%d/%d", what, c->n_layer, c->n_head, c->n_embd);
    CHECK(c->dropout == 0.2f, "%s: dropout %g", what, c->dropout);
    CHECK(c->learning_rate == 1e-3f && c->min_lr == 1e-4f, "%s: lr %g min_lr %g", what, c->learning_rate, c->min_lr);
    CHECK(c->max_iters == 5000 && c->lr_decay_iters == 5000 && c->warmup_iters == 100, "%s: iters %d/%d/%d", what,
          c->max_iters, c->lr_decay_iters, c->warmup_iters);
    CHECK(c->beta2 == 0.99f && c->beta1 == 0.9f, "%s: betas %g %g", what, c->beta1, c->beta2);
    /* untouched keys keep train.py's defaults */
    CHECK(c->weight_decay == 0.1f && c->grad_clip == 1.0f && c->seed == 1337 && c->bias == 0, "%s: defaults kept", what);
    CHECK(ng_config_was_set(c, "batch_size") && ng_config_was_set(c, "out_dir") && ng_config_was_set(c, "always_save_checkpoint"),
          "%s: set keys are marked", what);
    CHECK(!ng_config_was_set(c, "seed") && !ng_config_was_set(c, "weight_decay") && !ng_config_was_set(c, "wandb_log"),
          "%s: other keys are not marked", what);
    CHECK(ng_config_validate(c) == 0, "%s validates: %s", what, ng_errmsg());
}

static int load_conf_fn(void *arg) {
    ng_config_defaults((NgConfig *)arg);
    return ng_config_load_file((NgConfig *)arg, "config/train_shakespeare_char.conf");
}

static void test_shakespeare(void) {
    NgConfig c;
    char err[4096];
    int rc = capture_stderr(load_conf_fn, &c, err, sizeof err);
    CHECK(rc == 0, "config/train_shakespeare_char.conf loads: %s", ng_errmsg());
    if (rc == 0) check_shakespeare(&c, "train_shakespeare_char.conf");
    /* wandb_* lines are notices on stderr, not errors */
    CHECK(strstr(err, "wandb_log") && strstr(err, "wandb_project") && strstr(err, "wandb_run_name"), "notices for wandb_*: [%s]", err);
    CHECK(strstr(err, "note") != NULL, "they are notes: [%s]", err);
    CHECK(strstr(err, "config/train_shakespeare_char.conf:") != NULL, "the notices name file:line: [%s]", err);
    CHECK(strstr(err, "error") == NULL && strstr(err, "unknown") == NULL, "no errors: [%s]", err);

    /* a verbatim copy of nanoGPT's .py file gives the same config */
    NgConfig py;
    ng_config_defaults(&py);
    rc = ng_config_load_file(&py, write_conf("train_shakespeare_char.py", SHAKESPEARE_CHAR_PY));
    CHECK(rc == 0, "nanoGPT's train_shakespeare_char.py loads: %s", ng_errmsg());
    if (rc == 0) {
        check_shakespeare(&py, "train_shakespeare_char.py");
        char *a = ng_config_to_json(&c), *b = ng_config_to_json(&py);
        CHECK(a && b && strcmp(a, b) == 0, ".conf and .py give the same config:\n%s\n%s", a, b);
        CHECK(c.set_mask == py.set_mask, "same keys set: %llx %llx", (unsigned long long)c.set_mask, (unsigned long long)py.set_mask);
        free(a); free(b);
    }
    /* the commented "# device = 'cpu'" lines are comments: uncommented they are notices */
    NgConfig d;
    CHECK(load_text(&d, "dev.py", "device = 'cpu'  # run on cpu only\ncompile = False # do not torch compile the model\n"
                                  "dtype = 'float32'\nbackend = 'nccl'\n") == 0,
          "device/compile/dtype/backend are accepted: %s", ng_errmsg());

    /* the CPU config */
    NgConfig cpu;
    ng_config_defaults(&cpu);
    rc = ng_config_load_file(&cpu, "config/train_shakespeare_char_cpu.conf");
    CHECK(rc == 0, "train_shakespeare_char_cpu.conf loads: %s", ng_errmsg());
    CHECK(cpu.batch_size == 12 && cpu.block_size == 64 && cpu.n_layer == 4 && cpu.n_head == 4 && cpu.n_embd == 128 &&
          cpu.dropout == 0.0f && cpu.max_iters == 2000 && cpu.lr_decay_iters == 2000 && cpu.eval_iters == 20 && cpu.log_interval == 1,
          "cpu config values");
    CHECK(ng_config_validate(&cpu) == 0, "cpu config validates: %s", ng_errmsg());
}

/* ----------------------------------------------------------------------------------------
 * values: products, literals, comments, overrides in order */
static void test_values(void) {
    NgConfig c;
    CHECK(load_text(&c, "prod.conf", "gradient_accumulation_steps = 5 * 8\n") == 0 && c.gradient_accumulation_steps == 40,
          "5 * 8 -> %d (%s)", c.gradient_accumulation_steps, ng_errmsg());
    CHECK(load_text(&c, "prod2.conf", "batch_size=2*3*4\nlearning_rate = 2 * 3e-4\n") == 0 && c.batch_size == 24 &&
          feq(c.learning_rate, 6e-4), "2*3*4 -> %d, 2 * 3e-4 -> %g", c.batch_size, c.learning_rate);
    CHECK(load_text(&c, "neg.conf", "seed = -7\nlearning_rate = +1e-3\n") == 0 && c.seed == -7 && c.learning_rate == 1e-3f,
          "signs: %d %g", c.seed, c.learning_rate);
    CHECK(load_text(&c, "float.conf", "dropout = 0\nweight_decay = 1e-2\nbeta1 = .5\npeak_flops = 1.5e12\n") == 0 &&
          c.dropout == 0.0f && c.weight_decay == 1e-2f && c.beta1 == 0.5f && c.peak_flops == 1.5e12,
          "floats: %g %g %g %g", c.dropout, c.weight_decay, c.beta1, c.peak_flops);
    CHECK(load_text(&c, "bool.conf", "bias = True\neval_only = true\ndecay_lr = False\nalways_save_checkpoint = 0\n") == 0 &&
          c.bias == 1 && c.eval_only == 1 && c.decay_lr == 0 && c.always_save_checkpoint == 0, "bools");
    /* strings: both quotes, escapes, '#' inside quotes, CRLF lines, no final newline */
    CHECK(load_text(&c, "str.conf", "out_dir = \"out-x\"\r\ninit_from='resume'\r\nstart = 'a#b\\n\\'c\\'' # not a comment inside\r\n"
                                    "dataset = 'x # y'") == 0,
          "string literals load: %s", ng_errmsg());
    CHECK(strcmp(c.out_dir, "out-x") == 0 && strcmp(c.init_from, "resume") == 0, "out_dir '%s' init_from '%s'", c.out_dir, c.init_from);
    CHECK(strcmp(c.start, "a#b\n'c'") == 0, "start '%s'", c.start);
    CHECK(strcmp(c.dataset, "x # y") == 0, "dataset '%s'", c.dataset);
    CHECK(load_text(&c, "utf8.conf", "start = 'caf\xc3\xa9 \xe4\xb8\xad'\n") == 0 && strcmp(c.start, "caf\xc3\xa9 \xe4\xb8\xad") == 0,
          "UTF-8 string: %s", ng_errmsg());
    CHECK(load_text(&c, "empty.conf", "") == 0, "an empty file loads");
    CHECK(load_text(&c, "comments.conf", "# only\n   # comments\n\n\t\n") == 0 && c.set_mask == 0, "comment-only file sets nothing");
    CHECK(load_text(&c, "space.conf", "   n_layer   =   3   \n\tn_head\t=\t3\t\n") == 0 && c.n_layer == 3 && c.n_head == 3,
          "whitespace around keys and values");

    /* --key=value: in order, the later one wins; a file applies where it stands */
    char *a1[] = {"--batch_size=4", "--batch_size=8"};
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 2, a1) == 0 && c.batch_size == 8, "--batch_size=4 --batch_size=8 -> %d", c.batch_size);
    char *a2[] = {"config/train_shakespeare_char.conf", "--batch_size=4", "--out_dir=o2", "--dropout=0.0", "--bias=True", "--max_iters=5 * 2"};
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 6, a2) == 0, "file then overrides: %s", ng_errmsg());
    CHECK(c.batch_size == 4 && strcmp(c.out_dir, "o2") == 0 && c.dropout == 0.0f && c.bias == 1 && c.max_iters == 10,
          "overrides beat the file: %d '%s' %g %d %d", c.batch_size, c.out_dir, c.dropout, c.bias, c.max_iters);
    CHECK(c.n_layer == 6 && c.block_size == 256, "the file's other values stay");
    char *a3[] = {"--batch_size=4", "config/train_shakespeare_char.conf"};
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 2, a3) == 0 && c.batch_size == 64, "an override before the file is overridden by it: %d", c.batch_size);
    /* bare command-line strings are kept as typed; quoted ones are literals */
    char *a4[] = {"--start=ROMEO: hi", "--out_dir='quoted'", "--dataset=shakespeare_char"};
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 3, a4) == 0 && strcmp(c.start, "ROMEO: hi") == 0 && strcmp(c.out_dir, "quoted") == 0 &&
          strcmp(c.dataset, "shakespeare_char") == 0, "bare and quoted CLI strings: '%s' '%s'", c.start, c.out_dir);
    CHECK(ng_config_was_set(&c, "start") && ng_config_was_set(&c, "dataset") && !ng_config_was_set(&c, "batch_size"), "CLI keys marked");
    char *a5[] = {"--wandb_log=True", "--compile=False", "--device=cpu"};
    ng_config_defaults(&c);
    fflush(stderr);
    CHECK(ng_config_parse_args(&c, 3, a5) == 0 && c.set_mask == 0, "ignored keys on the command line are accepted: %s", ng_errmsg());

    /* bounds that are still fine */
    CHECK(load_text(&c, "max.conf", "max_iters = 2147483647\nseed = -2147483647\n") == 0 && c.max_iters == INT_MAX && c.seed == -INT_MAX,
          "int extremes: %s", ng_errmsg());
    char longs[300];
    memset(longs, 'x', 255); longs[255] = 0;
    ng_config_defaults(&c);
    CHECK(ng_config_set(&c, "out_dir", longs, "--out_dir") == 0 && strlen(c.out_dir) == 255, "255-byte out_dir fits");
}

/* ----------------------------------------------------------------------------------------
 * errors: each is one line naming where, with a specific message */
static void test_errors(void) {
    /* unknown keys */
    BAD_FILE("n_layers = 4\n", 1, "did you mean 'n_layer'");
    BAD_FILE("# c\n\nbatchsize = 4\n", 3, "did you mean 'batch_size'");
    BAD_FILE("learningrate = 1e-3\n", 1, "unknown config key 'learningrate'");
    BAD_FILE("completely_unrelated_thing = 4\n", 1, "unknown config key");
    BAD_SET("n_layers", "2", "did you mean 'n_layer'");
    BAD_SET("zzzzzzzzzzzzzzzzzzzz", "2", "see `nanogpt help`");
    char *a[] = {"--n_layers=2"};
    NgConfig c;
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 1, a) != 0 && err_has("--n_layers: ") && err_has("did you mean 'n_layer'"), "CLI unknown key");
    /* wrong types */
    BAD_FILE("batch_size = 'abc'\n", 1, "batch_size must be an integer");
    BAD_FILE("batch_size = 4.5\n", 1, "batch_size must be an integer");
    BAD_FILE("batch_size = 1e3\n", 1, "must be an integer");
    BAD_FILE("batch_size = abc\n", 1, "must be an integer");
    BAD_FILE("batch_size = 2 * 1.5\n", 1, "must be an integer");
    BAD_FILE("dropout = True\n", 1, "dropout must be a number");
    BAD_FILE("dropout = '0.1'\n", 1, "dropout must be a number");
    BAD_FILE("bias = 3\n", 1, "bias must be True or False");
    BAD_FILE("bias = 'True'\n", 1, "must be True or False");
    BAD_FILE("out_dir = 5\n", 1, "out_dir must be a quoted string");
    BAD_SET("batch_size", "abc", "batch_size must be an integer, got 'abc'");
    BAD_SET("dropout", "True", "must be a number");
    BAD_SET("bias", "yes", "must be True or False");
    BAD_SET("learning_rate", "nan", "must be a number");
    BAD_SET("learning_rate", "inf", "must be a number");
    BAD_SET("batch_size", "4 4", "must be an integer");
    BAD_SET("batch_size", "4 *", "must be an integer");
    /* unparsable lines */
    BAD_FILE("n_layer = 4\nthis line has no equals sign\n", 2, "expected 'key = value'");
    BAD_FILE("n_layer 4\n", 1, "expected 'key = value'");
    BAD_FILE("= 4\n", 1, "is not a config key");
    BAD_FILE("n-layer = 4\n", 1, "is not a config key");
    BAD_FILE("n_layer == 4\n", 1, "n_layer must be an integer");
    /* strings */
    BAD_FILE("out_dir = out-x\n", 1, "out_dir must be a quoted string");
    BAD_FILE("\n\ndataset = shakespeare_char # bare\n", 3, "dataset must be a quoted string");
    BAD_FILE("out_dir = 'unterminated\n", 1, "out_dir must be a string");
    BAD_FILE("out_dir = \"mixed'\n", 1, "must be a string");
    BAD_FILE("out_dir = 'a' 'b'\n", 1, "must be a string");
    BAD_FILE("out_dir = 'nul\\0'\n", 1, "must be a string");
    char longline[400];
    snprintf(longline, sizeof longline, "out_dir = '%0300d'\n", 0);
    BAD_FILE(longline, 1, "longer than 255 bytes");
    /* ranges */
    BAD_FILE("batch_size = 3000000000\n", 1, "out of range");
    BAD_FILE("max_iters = 100000 * 100000\n", 1, "out of range");
    BAD_FILE("seed = -3000000000\n", 1, "out of range");
    BAD_FILE("learning_rate = 1e39\n", 1, "out of range");
    BAD_FILE("learning_rate = 1e400\n", 1, "must be a number");
    NgConfig u;
    CHECK(load_text(&u, "under.conf", "learning_rate = 1e-400\nweight_decay = 1e-30 * 1e-20\n") == 0 && u.learning_rate == 0.0f &&
          u.weight_decay == 0.0f, "underflow gives 0, as in Python: %s", ng_errmsg());
    /* a product that overflows to inf, or inf * 0 = nan, is not a number */
    BAD_FILE("peak_flops = 1e200 * 1e200\n", 1, "peak_flops");
    BAD_FILE("dropout = 1e200 * 1e200 * 0\n", 1, "dropout");
    BAD_FILE("batch_size = 1e200 * 1e200 * 0\n", 1, "batch_size");
    /* empty values */
    BAD_FILE("batch_size =\n", 1, "batch_size has no value");
    BAD_FILE("out_dir =    # nothing\n", 1, "out_dir has no value");
    BAD_SET("batch_size", "", "must be an integer");
    BAD_SET("dropout", "  ", "must be a number");
    BAD_SET("bias", "", "must be True or False");
    /* command-line shape */
    char *b1[] = {"--batch_size"}, *b2[] = {"--=4"};
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 1, b1) != 0 && err_has("expected --key=value"), "--batch_size without =");
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 1, b2) != 0 && err_has("expected --key=value"), "--=4");
    /* the file itself */
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no_such.conf", g_dir);
    ng_config_defaults(&c);
    CHECK(ng_config_load_file(&c, missing) != 0 && err_has(missing) && err_has("cannot open"), "missing file");
    ng_config_defaults(&c);
    CHECK(ng_config_load_file(&c, g_dir) != 0 && err_has(g_dir), "a directory is not a config file");
    ng_config_defaults(&c);
    CHECK(ng_config_load_file(&c, write_tmp("nul.conf", "n_layer = 4\0\n", 13)) != 0 && err_has("NUL byte"), "NUL byte");
    char *b3[] = {missing};
    ng_config_defaults(&c);
    CHECK(ng_config_parse_args(&c, 1, b3) != 0 && err_has(missing), "missing file from argv");
    /* the line number counts every line, comments and blank ones included */
    BAD_FILE("# 1\n\n# 3\nn_layer = 4\n\n\nn_head = x\n", 7, "n_head must be an integer");
    /* errors stop at the first bad line: later lines are not applied */
    ng_config_defaults(&c);
    CHECK(ng_config_load_file(&c, write_conf("stop.conf", "batch_size = 'x'\nn_layer = 3\n")) != 0 && c.n_layer == 12,
          "loading stops at the first error");
}

/* ----------------------------------------------------------------------------------------
 * ng_config_validate */
static int invalid(const char *args_line, const char *want) {
    NgConfig c;
    ng_config_defaults(&c);
    char buf[512], *argv[16];
    snprintf(buf, sizeof buf, "%s", args_line);
    int argc = 0;
    for (char *t = strtok(buf, " "); t && argc < 16; t = strtok(NULL, " ")) argv[argc++] = t;
    if (ng_config_parse_args(&c, argc, argv) != 0) { fprintf(stderr, "  parse failed: %s\n", ng_errmsg()); return 0; }
    if (ng_config_validate(&c) == 0) { fprintf(stderr, "  validated: %s\n", args_line); return 0; }
    return err_has(want);
}
#define INVALID(args, want) CHECK(invalid(args, want), "%s", args)

static void test_validate(void) {
    INVALID("--n_embd=100 --n_head=12", "not divisible by n_head");
    INVALID("--n_embd=64 --n_head=5", "n_embd 64 is not divisible by n_head 5");
    INVALID("--batch_size=0", "batch_size must be positive");
    INVALID("--batch_size=-1", "batch_size must be positive");
    INVALID("--block_size=0", "block_size must be positive");
    INVALID("--n_layer=0", "n_layer must be positive");
    INVALID("--n_layer=-2", "n_layer must be positive");
    INVALID("--n_head=0", "n_head must be positive");
    INVALID("--n_embd=0", "n_embd must be positive");
    INVALID("--n_embd=-768", "n_embd must be positive");
    INVALID("--gradient_accumulation_steps=0", "gradient_accumulation_steps must be positive");
    INVALID("--temperature=0", "temperature must be > 0");
    INVALID("--temperature=-1", "temperature must be > 0");
    INVALID("--top_k=-1", "top_k must be >= 1, or 0 for no cutoff");
    INVALID("--top_k=-5", "top_k must be >= 1");
    INVALID("--dropout=1", "dropout must be in [0, 1)");
    INVALID("--dropout=1.5", "dropout must be in [0, 1)");
    INVALID("--dropout=-0.1", "dropout must be in [0, 1)");
    INVALID("--model=transformer", "model must be gpt or bigram");
    INVALID("--gelu=relu", "gelu must be erf or tanh");
    INVALID("--init_from=", "init_from must not be empty");
    INVALID("--beta2=1", "beta1 and beta2");
    INVALID("--learning_rate=-1e-3", "learning_rate");
    INVALID("--max_iters=-1", "max_iters");
    INVALID("--eval_interval=0", "eval_interval must be positive");
    INVALID("--eval_iters=0", "eval_iters must be positive");
    INVALID("--log_interval=0", "log_interval must be positive");
    INVALID("--threads=-1", "threads");
    INVALID("--out_dir=", "out_dir must not be empty");
    INVALID("--dataset=", "dataset");
    INVALID("--dataset=a/b", "dataset must be a name under data/");
    INVALID("--tokenizer=bpe", "tokenizer must be char or gpt2");
    INVALID("--mode=fast", "mode must be train or sample");
    INVALID("--num_samples=-1", "num_samples");

    /* valid corner cases */
    NgConfig c;
    ng_config_defaults(&c);
    char *ok1[] = {"--model=bigram", "--n_embd=100", "--n_head=12", "--dropout=0.99", "--top_k=1", "--temperature=1e-3"};
    CHECK(ng_config_parse_args(&c, 6, ok1) == 0 && ng_config_validate(&c) == 0,
          "bigram ignores n_embd %% n_head; dropout 0.99, top_k 1, small temperature: %s", ng_errmsg());
    ng_config_defaults(&c);
    char *ok2[] = {"--n_layer=1", "--n_head=1", "--n_embd=1", "--block_size=1", "--batch_size=1", "--max_iters=0", "--gelu=tanh",
                   "--init_from=resume", "--num_samples=0", "--max_new_tokens=0"};
    CHECK(ng_config_parse_args(&c, 10, ok2) == 0 && ng_config_validate(&c) == 0, "smallest valid model: %s", ng_errmsg());
}

/* ----------------------------------------------------------------------------------------
 * ng_config_to_json */
static int json_matches(const NgConfig *c, const char *what) {
    char *s = ng_config_to_json(c);
    if (!s) { fprintf(stderr, "  %s: ng_config_to_json returned NULL\n", what); return 0; }
    char err[256];
    JsonValue *j = ng_json_parse(s, strlen(s), err, sizeof err);
    int ok = 1;
    if (!j || j->type != JSON_OBJECT) { fprintf(stderr, "  %s: not a JSON object (%s): %s\n", what, j ? "wrong type" : err, s); ok = 0; }
    size_t want = 0;
    for (const NgKey *k = ng_keys; ok && k->name; k++) {
        const JsonValue *v = ng_json_get(j, k->name);
        if (k->type == NG_IGNORED) {
            if (v) { fprintf(stderr, "  %s: ignored key %s is in the JSON\n", what, k->name); ok = 0; }
            continue;
        }
        want++;
        const char *field = (const char *)c + k->offset;
        int good = v != NULL;
        if (good) switch (k->type) {
            case NG_INT: good = v->type == JSON_NUMBER && v->is_integer && v->integer == *(const int *)field; break;
            case NG_BOOL: good = v->type == JSON_BOOL && (v->number != 0) == (*(const int *)field != 0); break;
            case NG_FLOAT: good = v->type == JSON_NUMBER && (float)v->number == *(const float *)field; break;
            case NG_DOUBLE: good = v->type == JSON_NUMBER && v->number == *(const double *)field; break;
            case NG_STRING: good = v->type == JSON_STRING && v->string_len == strlen(field) && strcmp(v->string, field) == 0; break;
            default: good = 0;
        }
        if (!good) { fprintf(stderr, "  %s: key %s is missing or differs in %s\n", what, k->name, s); ok = 0; }
    }
    if (ok && j->n != want) { fprintf(stderr, "  %s: %zu members, want %zu\n", what, j->n, want); ok = 0; }
    ng_json_free(j);
    free(s);
    return ok;
}

static void test_json(void) {
    NgConfig c;
    ng_config_defaults(&c);
    CHECK(json_matches(&c, "defaults"), "defaults to JSON");
    ng_config_defaults(&c);
    CHECK(ng_config_load_file(&c, "config/train_shakespeare_char_cpu.conf") == 0 && json_matches(&c, "cpu conf"), "cpu conf to JSON");
    /* strings that need escaping, odd floats, extremes */
    ng_config_defaults(&c);
    char *a[] = {"--start=say \"quoted\" back\\slash\ttab\nnewline\x01\x1f caf\xc3\xa9 \xf0\x9f\x98\x80",
                 "--out_dir=a\"b", "--learning_rate=1e-38", "--peak_flops=1.7976931348623157e308",
                 "--seed=-2147483647", "--max_iters=2147483647", "--dropout=0.30000001", "--min_lr=3e38"};
    CHECK(ng_config_parse_args(&c, 8, a) == 0, "odd values parse: %s", ng_errmsg());
    CHECK(json_matches(&c, "odd values"), "odd values to JSON");
    /* a subnormal double is printed with %.17g: it must read back (a checkpoint stores it) */
    ng_config_defaults(&c);
    CHECK(load_text(&c, "subnormal.conf", "peak_flops = 1e-160 * 1e-160\nlearning_rate = 1e-30 * 1e-15\n") == 0 && c.peak_flops > 0.0 &&
          c.learning_rate > 0.0f, "subnormal products: %s", ng_errmsg());
    CHECK(json_matches(&c, "subnormal"), "subnormal to JSON");
    char back[64];
    snprintf(back, sizeof back, "%.17g", c.peak_flops);
    double pf = c.peak_flops;
    CHECK(ng_config_set(&c, "peak_flops", back, "json") == 0 && c.peak_flops == pf, "peak_flops %s reads back: %s", back, ng_errmsg());
    /* the stored config must be storable: a checkpoint's metadata has to be valid UTF-8 JSON,
     * so a string that is not valid UTF-8 must be rejected when it is set (or be escaped) */
    ng_config_defaults(&c);
    int set_rc = ng_config_set(&c, "out_dir", "caf\xe9", "--out_dir");
    CHECK(set_rc != 0 || json_matches(&c, "latin-1 out_dir"),
          "a non-UTF-8 string is either rejected by ng_config_set or gives valid JSON");
    ng_config_defaults(&c);
    set_rc = load_text(&c, "latin1.conf", "start = 'caf\xe9'\n");
    CHECK(set_rc != 0 || json_matches(&c, "latin-1 start from a file"),
          "a non-UTF-8 string in a file is either rejected or gives valid JSON");
}

/* ----------------------------------------------------------------------------------------
 * ng_get_lr: nanoGPT's get_lr (linear warmup, cosine decay to min_lr) */
static void test_lr(void) {
    NgConfig c;
    ng_config_defaults(&c);
    c.learning_rate = 1e-3f; c.min_lr = 1e-4f; c.warmup_iters = 100; c.lr_decay_iters = 5000;
    CHECK(feq(ng_get_lr(&c, 0), 1e-3 * 1.0 / 101.0), "lr(0) = %g", ng_get_lr(&c, 0));
    CHECK(feq(ng_get_lr(&c, 49), 1e-3 * 50.0 / 101.0), "lr(49) = %g", ng_get_lr(&c, 49));
    CHECK(feq(ng_get_lr(&c, 99), 1e-3 * 100.0 / 101.0), "lr(99) = %g", ng_get_lr(&c, 99));
    CHECK(feq(ng_get_lr(&c, 100), 1e-3), "lr(warmup) = %g", ng_get_lr(&c, 100));
    CHECK(feq(ng_get_lr(&c, 5000), 1e-4), "lr(lr_decay_iters) = %g", ng_get_lr(&c, 5000));
    CHECK(fabs(ng_get_lr(&c, 2550) - 5.5e-4) <= 1e-6, "lr(midway) = %g", ng_get_lr(&c, 2550));
    CHECK(ng_get_lr(&c, 5001) == c.min_lr && ng_get_lr(&c, 100000) == c.min_lr && ng_get_lr(&c, INT_MAX) == c.min_lr,
          "beyond lr_decay_iters: min_lr");
    /* cosine: a quarter of the way, coeff = 0.5 * (1 + cos(pi/4)) */
    double q = 1e-4 + 0.5 * (1.0 + cos(M_PI / 4)) * (1e-3 - 1e-4);
    CHECK(fabs(ng_get_lr(&c, 100 + 4900 / 4) - q) <= 1e-6, "lr(quarter) = %g want %g", ng_get_lr(&c, 1325), q);
    int mono = 1;
    for (int it = 1; it <= 100; it++) if (!(ng_get_lr(&c, it) > ng_get_lr(&c, it - 1))) mono = 0;
    for (int it = 101; it <= 5000; it++) if (!(ng_get_lr(&c, it) <= ng_get_lr(&c, it - 1))) mono = 0;
    CHECK(mono, "warmup rises, decay falls");
    /* the defaults: train.py's 6e-4 / 2000 / 600000 / 6e-5 */
    ng_config_defaults(&c);
    CHECK(feq(ng_get_lr(&c, 0), 6e-4 / 2001.0) && feq(ng_get_lr(&c, 2000), 6e-4) && feq(ng_get_lr(&c, 600000), 6e-5) &&
          fabs(ng_get_lr(&c, 301000) - 3.3e-4) <= 1e-6, "default schedule");
    /* no warmup; decay_lr off */
    c.warmup_iters = 0;
    CHECK(feq(ng_get_lr(&c, 0), 6e-4), "no warmup: lr(0) = %g", ng_get_lr(&c, 0));
    c.decay_lr = 0;
    CHECK(ng_get_lr(&c, 0) == c.learning_rate && ng_get_lr(&c, 123456) == c.learning_rate && ng_get_lr(&c, 10000000) == c.learning_rate,
          "decay_lr False: constant");
    /* warmup == lr_decay_iters (no decay span): max at the end of warmup, then min_lr */
    ng_config_defaults(&c);
    c.warmup_iters = 10; c.lr_decay_iters = 10;
    CHECK(feq(ng_get_lr(&c, 9), 6e-4 * 10 / 11.0) && isfinite(ng_get_lr(&c, 10)) && ng_get_lr(&c, 11) == c.min_lr,
          "zero decay span: %g %g %g", ng_get_lr(&c, 9), ng_get_lr(&c, 10), ng_get_lr(&c, 11));
}


/* ----------------------------------------------------------------------------------------
 * Python string literals as Python reads them (expected bytes from ast.literal_eval, UTF-8),
 * a BOM before the first key, and one-line messages whatever a value holds */
static int string_value(const char *literal, const char *want) {
    NgConfig c;
    char text[300];
    snprintf(text, sizeof text, "out_dir = %s\n", literal);
    if (load_text(&c, "str.conf", text) != 0) { fprintf(stderr, "  rejected %s: %s\n", literal, ng_errmsg()); return 0; }
    if (strcmp(c.out_dir, want) != 0) { fprintf(stderr, "  %s gave '%s'\n", literal, c.out_dir); return 0; }
    return 1;
}
static void test_python_strings(void) {
    CHECK(string_value("'a\\x41\\u00e9\\U0001F600'", "aA\xc3\xa9\xf0\x9f\x98\x80"), "\\x \\u \\U");
    CHECK(string_value("'\\101\\7z'", "A\x07z"), "octal");
    CHECK(string_value("'tab\\there\\\\'", "tab\there\\"), "\\t \\\\");
    CHECK(string_value("'q\\'\\\"'", "q'\""), "quotes");
    CHECK(string_value("\"it's\"", "it's"), "the other quote inside");
    CHECK(string_value("'\\d\\w'", "\\d\\w"), "unknown escapes keep their backslash");
    CHECK(string_value("r'\\n\\x'", "\\n\\x"), "raw string");
    CHECK(string_value("'a # not a comment' # a comment", "a # not a comment"), "# inside quotes");
    BAD_FILE("out_dir = 'abc\n", 1, "unterminated string");
    BAD_FILE("out_dir = \"abc # comment\n", 1, "unterminated string");
    BAD_FILE("out_dir = 'a\\x4'\n", 1, "truncated \\x escape");
    BAD_FILE("out_dir = 'a\\u12'\n", 1, "truncated \\u escape");
    BAD_FILE("out_dir = 'a\\U0011FFFF'\n", 1, "not a character UTF-8 can hold");
    BAD_FILE("out_dir = 'a\\ud800'\n", 1, "not a character UTF-8 can hold");
    BAD_FILE("out_dir = 'a\\x00'\n", 1, "NUL");
    BAD_FILE("out_dir = 'a\\N{DASH}'\n", 1, "\\N{...} escapes are not supported");
    BAD_FILE("out_dir = 'a' 'b'\n", 1, "text after the closing quote");
    /* a UTF-8 BOM before the first key is skipped, not read as part of the key */
    NgConfig c;
    CHECK(load_text(&c, "bom.conf", "\xEF\xBB\xBF" "batch_size = 7\n") == 0 && c.batch_size == 7, "BOM: %s", ng_errmsg());
    BAD_FILE("\xEF\xBB\xBF" "batch_sise = 7\n", 1, "unknown config key 'batch_sise'");
    /* control characters in values and keys come back escaped, on one line */
    BAD_FILE("batch_size = '4\x1b[2J'\n", 1, "'4\\x1b[2J'");
    BAD_SET("batch_size", "4\n\x07", "'4\\n\\x07'");
    CHECK(!strchr(ng_errmsg(), '\n') && !strchr(ng_errmsg(), '\x07'), "raw control characters in: %s", ng_errmsg());
    BAD_SET("block_size", "1\r2", "1\\r2");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ng_test_config_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_defaults();
    test_shakespeare();
    test_values();
    test_errors();
    test_validate();
    test_json();
    test_lr();
    test_python_strings();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_END();
}
