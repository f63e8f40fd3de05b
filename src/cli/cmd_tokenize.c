/* cmd_tokenize.c -- `nanogpt encode` and `nanogpt decode`: text on stdin -> token ids on
 * stdout (decimal, separated by spaces, one newline at the end), and back.
 *
 *   --tokenizer=gpt2   GPT-2's BPE (tiktoken's gpt2; "<|endoftext|>" in the text is the special
 *                      token 50256, as nanoGPT's sample.py encodes prompts)
 *   --tokenizer=char   the character vocabulary of a meta.json
 *   --meta=FILE        meta.json to use (default data/<dataset>/meta.json)
 * Without --tokenizer, the meta.json decides: {"tokenizer": "gpt2"} means GPT-2, else char. */
#include "cli/commands.h"
#include "formats/bpe.h"
#include "base/json.h"
#include "base/util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the "tokenizer" field of a meta.json, "" if absent or unreadable */
static void meta_tokenizer(const char *path, char *out, size_t size) {
    out[0] = 0;
    size_t n;
    char *text = ng_read_file(path, &n);
    if (!text) return;
    char err[128];
    JsonValue *root = ng_json_parse(text, n, err, sizeof err);
    const JsonValue *t = root ? ng_json_get(root, "tokenizer") : NULL;
    if (t && t->type == JSON_STRING) snprintf(out, size, "%s", t->string);
    ng_json_free(root);
    free(text);
}

/* --tokenizer=gpt2, or the meta.json (--meta, else the dataset's) */
static int tok_open(NgConfig *cfg, NgTokenizer *t) {
    memset(t, 0, sizeof *t);
    char meta[NG_STR + 32], kind[32];
    if (cfg->meta[0]) snprintf(meta, sizeof meta, "%s", cfg->meta);
    else snprintf(meta, sizeof meta, "data/%s/meta.json", cfg->dataset);
    if (ng_config_was_set(cfg, "tokenizer")) snprintf(kind, sizeof kind, "%s", cfg->tokenizer);
    else {
        meta_tokenizer(meta, kind, sizeof kind);
        if (strcmp(kind, "gpt2") != 0) snprintf(kind, sizeof kind, "char");
    }
    if (!strcmp(kind, "gpt2")) return ng_tokenizer_gpt2(t);
    if (strcmp(kind, "char") != 0) return ng_fail("--tokenizer: must be char or gpt2, got '%s'", kind);
    struct stat st;
    if (stat(meta, &st) != 0)
        return ng_fail("%s: no such file (give --meta=FILE, --dataset=NAME or --tokenizer=gpt2)", meta);
    if (ng_tokenizer_load_meta(t, meta) != 0) return -1;
    if (t->kind != NG_TOK_CHAR) return ng_fail("%s: not a char vocabulary (use --tokenizer=gpt2)", meta);
    return 0;
}

static char *read_stdin(size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *buf = ng_malloc(cap + 1, "stdin");
    if (!buf) return NULL;
    for (;;) {
        if (len == cap) {
            size_t bytes = cap + 1;                      /* room for cap characters and a NUL */
            if (ng_grow((void **)&buf, &bytes, 2 * cap + 1, 1, "stdin") != 0) { free(buf); return NULL; }
            cap = bytes - 1;
        }
        size_t got = fread(buf + len, 1, cap - len, stdin);
        len += got;
        if (got == 0) {
            if (ferror(stdin)) { free(buf); ng_fail("stdin: read failed: %s", strerror(errno)); return NULL; }
            break;
        }
    }
    buf[len] = 0;
    *n = len;
    return buf;
}

static int write_ids(const int *ids, size_t n) {
    char line[16];
    for (size_t i = 0; i < n; i++) {
        int l = snprintf(line, sizeof line, i ? " %d" : "%d", ids[i]);
        fwrite(line, 1, (size_t)l, stdout);
    }
    fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) return ng_fail("stdout: write failed: %s", strerror(errno));
    return 0;
}

int cmd_encode(NgConfig *cfg, int argc, char **argv) {
    NgTokenizer t;
    if (tok_open(cfg, &t) != 0) return -1;
    size_t n;
    char *text = read_stdin(&n);
    int rc = -1, *ids = NULL;
    size_t m = 0;
    if (!text) goto done;
    if ((rc = ng_tokenizer_encode(&t, text, n, &ids, &m)) != 0 && t.kind == NG_TOK_CHAR) ng_fail("stdin: %s", ng_errmsg());
    if (rc == 0) rc = write_ids(ids, m);
done:
    free(ids);
    free(text);
    ng_tokenizer_free(&t);
    return rc;
}

int cmd_decode(NgConfig *cfg, int argc, char **argv) {
    NgTokenizer t;
    if (tok_open(cfg, &t) != 0) return -1;
    size_t n, m = 0, cap = 1024;
    char *text = read_stdin(&n);
    int rc = -1, *ids = ng_malloc(cap * sizeof *ids, "token ids");
    int V = t.vocab_size;
    if (!text || !ids) goto done;
    for (char *p = text; ; ) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') p++;
        if (p >= text + n) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && !strchr(" \n\t\r,", *end)) || errno) {
            char *e = p;
            while (e < text + n && !strchr(" \n\t\r,", *e) && e - p < 40) e++;
            ng_fail("stdin: '%.*s' (token %zu) is not a token id", (int)(e - p), p, m);
            goto done;
        }
        if (v < 0 || v >= V) { ng_fail("stdin: token id %ld (token %zu) is out of range (0..%d)", v, m, V - 1); goto done; }
        if (ng_grow((void **)&ids, &cap, m + 1, sizeof *ids, "token ids") != 0) goto done;
        ids[m++] = (int)v;
        p = end;
    }
    size_t len;
    char *out = ng_tokenizer_decode(&t, ids, m, &len);
    if (!out) goto done;
    fwrite(out, 1, len, stdout);
    free(out);
    if (fflush(stdout) != 0 || ferror(stdout)) { ng_fail("stdout: write failed: %s", strerror(errno)); goto done; }
    rc = 0;
done:
    free(ids);
    free(text);
    ng_tokenizer_free(&t);
    return rc;
}
