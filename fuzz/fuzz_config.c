/* fuzz_config.c -- libFuzzer target for config files (ng_config_load_file).
 *
 * Each input is written to a temporary file (one path per process, made with mkstemp) and
 * loaded into a fresh default config. Then:
 *   - a rejected file gives a one-line error that starts with the file's name;
 *   - an accepted one goes through ng_config_validate (either answer is fine) and
 *     ng_config_to_json, whose output must be a JSON object with every key of the table
 *     (what a checkpoint stores), and must load back, key by key through ng_config_set as
 *     ng_checkpoint_load does, to the very same JSON.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -D_GNU_SOURCE -Iinclude -Isrc \
 *       fuzz/fuzz_config.c $(find src -name "*.c" ! -path 'src/cli*') -lm -o fuzz_config
 *   ./fuzz_config -max_len=4096 fuzz/corpus/config
 * Notices ("'wandb_log' has no meaning here") go to /dev/null while a file loads; sanitizer
 * reports are written to fd 2 directly and still show.
 */
#include "nanogpt.h"
#include "app/config.h"
#include "base/utf8.h"
#include "base/json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[64];
static FILE *g_null;

static void cleanup(void) { if (g_path[0]) unlink(g_path); }

static int setup(void) {
    if (g_path[0]) return 0;
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_config_XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0) { perror("mkstemp"); abort(); }
    close(fd);
    atexit(cleanup);
    g_null = fopen("/dev/null", "w");
    return 0;
}

/* 1 if every string field of the config is valid UTF-8 */
static int strings_are_utf8(const NgConfig *c) {
    for (const NgKey *k = ng_keys; k->name; k++) {
        if (k->type != NG_STRING) continue;
        const char *s = (const char *)c + k->offset;
        if (ng_utf8_count(s, strlen(s), "fuzz") < 0) return 0;
    }
    return 1;
}

/* Applies a parsed config JSON to c the way ng_checkpoint_load does; 0 on success. */
static int apply_json(NgConfig *c, const JsonValue *j) {
    for (size_t i = 0; i < j->n; i++) {
        const NgKey *k = ng_key_find(j->keys[i]);
        if (!k || k->type == NG_IGNORED) return -1;        /* to_json wrote a key it should not have */
        const JsonValue *v = &j->items[i];
        char buf[NG_STR * 4 + 8];
        if (v->type == JSON_STRING) {
            if (k->type != NG_STRING || v->string_len >= k->size || strlen(v->string) != v->string_len) return -1;
            memcpy((char *)c + k->offset, v->string, v->string_len + 1);
            continue;
        }
        if (v->type == JSON_BOOL) snprintf(buf, sizeof buf, "%s", v->number != 0 ? "True" : "False");
        /* (ng_checkpoint_load turns "-0" into 0, which means the same: keep the sign here) */
        else if (v->type == JSON_NUMBER && v->is_integer && !signbit(v->number)) snprintf(buf, sizeof buf, "%lld", (long long)v->integer);
        else if (v->type == JSON_NUMBER) snprintf(buf, sizeof buf, "%.17g", v->number);
        else return -1;
        if (ng_config_set(c, k->name, buf, "roundtrip") != 0) return -1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    FILE *f = fopen(g_path, "wb");
    if (!f) { perror(g_path); abort(); }
    if (size && fwrite(data, 1, size, f) != size) { perror(g_path); abort(); }
    if (fclose(f) != 0) { perror(g_path); abort(); }

    NgConfig cfg;
    ng_config_defaults(&cfg);
    FILE *saved_stderr = stderr;
    if (g_null) stderr = g_null;                 /* silence the notices of ignored keys */
    int rc = ng_config_load_file(&cfg, g_path);
    stderr = saved_stderr;
    if (rc != 0) {
        const char *e = ng_errmsg();
        size_t n = strlen(g_path);
        if (strncmp(e, g_path, n) != 0 || (e[n] != ':') || strchr(e, '\n')) {
            fprintf(stderr, "bad error message: [%s]\n", e);
            abort();                             /* one line, names the file */
        }
        return 0;
    }
    (void)ng_config_validate(&cfg);
    (void)ng_config_was_set(&cfg, "batch_size");

    char *json = ng_config_to_json(&cfg);
    if (!json) abort();
    char err[256];
    JsonValue *j = ng_json_parse(json, strlen(json), err, sizeof err);
    if (!j) {
        /* Known issue (reported): strings are not checked for UTF-8 when set, and JSON
         * must be UTF-8. Anything else that makes the JSON unreadable is a finding. */
        if (!strings_are_utf8(&cfg)) { free(json); return 0; }
        fprintf(stderr, "ng_config_to_json gave invalid JSON (%s): %s\n", err, json);
        abort();
    }
    if (j->type != JSON_OBJECT) abort();
    size_t want = 0;
    for (const NgKey *k = ng_keys; k->name; k++) {
        if (k->type == NG_IGNORED) continue;
        want++;
        if (!ng_json_get(j, k->name)) { fprintf(stderr, "key %s missing from %s\n", k->name, json); abort(); }
    }
    if (j->n != want) abort();

    /* what a checkpoint stores loads back to the same config */
    NgConfig back;
    ng_config_defaults(&back);
    if (apply_json(&back, j) != 0) {
        fprintf(stderr, "the config JSON does not load back (%s): %s\n", ng_errmsg(), json);
        abort();
    }
    char *json2 = ng_config_to_json(&back);
    if (!json2 || strcmp(json, json2) != 0) {
        fprintf(stderr, "config JSON round trip differs:\n%s\n%s\n", json, json2 ? json2 : "(null)");
        abort();
    }
    free(json2);
    ng_json_free(j);
    free(json);
    return 0;
}
