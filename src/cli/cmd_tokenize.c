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

/* stdin is streamed in chunks (an endless input never grows memory): each chunk is cut where
 * encoding the parts separately gives the ids of the whole, its ids written at once. */
enum { CHUNK = 1 << 20, MAX_PIECE = 64 << 20 };
static const char special[] = "<|endoftext|>";

/* how much of s[0..n) (more follows) can be encoded now: char, a whole number of UTF-8
 * characters; GPT-2, a safe cut of the BPE (ng_bpe_safe_cut) that splits no special token */
static size_t cut_point(const NgTokenizer *t, const char *s, size_t n) {
    if (t->kind == NG_TOK_CHAR) {
        size_t b = n;
        while (b > 0 && n - b < 4 && ((unsigned char)s[b - 1] & 0xC0) == 0x80) b--;   /* continuation bytes */
        if (b > 0 && ((unsigned char)s[b - 1] & 0x80)) b--;                           /* their lead byte */
        return b;
    }
    size_t b = ng_bpe_safe_cut(t->bpe, s, n);
    for (size_t p = b > sizeof special ? b - sizeof special + 1 : 0; p < b; p++) {   /* a special token across b? */
        size_t k = b - p;
        if (memcmp(s + p, special, k) == 0) return p > 0 ? cut_point(t, s, p) : 0;
    }
    return b;
}

static int write_ids(const int *ids, size_t n, size_t *written) {
    char line[16];
    for (size_t i = 0; i < n; i++, (*written)++) {
        int l = snprintf(line, sizeof line, *written ? " %d" : "%d", ids[i]);
        fwrite(line, 1, (size_t)l, stdout);
    }
    if (ferror(stdout)) return ng_fail("stdout: write failed: %s", strerror(errno));
    return 0;
}

static int flush_stdout(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) return ng_fail("stdout: write failed: %s", strerror(errno));
    return 0;
}

int cmd_encode(NgConfig *cfg, int argc, char **argv) {
    NgTokenizer t;
    if (tok_open(cfg, &t) != 0) return -1;
    size_t cap = CHUNK, len = 0, written = 0, offset = 0;   /* offset: bytes of stdin already encoded */
    char *buf = ng_malloc(cap, "stdin");
    int rc = buf ? 0 : -1, eof = 0;
    while (rc == 0) {
        if (!eof) {
            if (len == cap &&                    /* no cut in the whole buffer: twice as long */
                (cap >= MAX_PIECE || ng_grow((void **)&buf, &cap, cap + 1, 1, "stdin") != 0)) {
                rc = ng_fail("stdin: no place to cut the text in %zu bytes (one word that long?)", cap);
                break;
            }
            size_t got = fread(buf + len, 1, cap - len, stdin);
            if (got == 0 && ferror(stdin)) { rc = ng_fail("stdin: read failed: %s", strerror(errno)); break; }
            eof = got == 0;
            len += got;
            if (!eof && len < cap) continue;
        }
        size_t take = eof ? len : cut_point(&t, buf, len);
        if (take == 0 && !eof) continue;
        int *ids = NULL;
        size_t m = 0;
        if ((rc = ng_tokenizer_encode(&t, buf, take, &ids, &m)) != 0 && t.kind == NG_TOK_CHAR)
            ng_fail("stdin (the chunk from byte %zu): %s", offset, ng_errmsg());
        if (rc == 0) rc = write_ids(ids, m, &written);
        free(ids);
        memmove(buf, buf + take, len - take);
        len -= take;
        offset += take;
        if (eof && len == 0) break;
    }
    if (rc == 0) { fputc('\n', stdout); rc = flush_stdout(); }
    free(buf);
    ng_tokenizer_free(&t);
    return rc;
}

/* ids in decimal separated by spaces, newlines or commas, decoded and written chunk by chunk */
int cmd_decode(NgConfig *cfg, int argc, char **argv) {
    NgTokenizer t;
    if (tok_open(cfg, &t) != 0) return -1;
    enum { IDS = 1 << 16 };
    char *buf = ng_malloc(CHUNK + 1, "stdin");
    int *ids = ng_malloc(IDS * sizeof *ids, "token ids");
    int rc = buf && ids ? 0 : -1, eof = 0, V = t.vocab_size;
    size_t len = 0, count = 0;                  /* count: ids read so far */
    while (rc == 0 && !(eof && len == 0)) {
        size_t got = eof ? 0 : fread(buf + len, 1, CHUNK - len, stdin);
        if (got == 0 && !eof && ferror(stdin)) { rc = ng_fail("stdin: read failed: %s", strerror(errno)); break; }
        if (got == 0) eof = 1;
        len += got;
        buf[len] = 0;
        /* the ids of buf, up to the last separator unless the input has ended */
        size_t end = len;
        if (!eof) { while (end > 0 && !strchr(" \n\t\r,", buf[end - 1])) end--; }
        if (end == 0 && !eof) {
            if (len == CHUNK) { rc = ng_fail("stdin: '%.40s...' (token %zu) is not a token id", buf, count); break; }
            continue;
        }
        size_t m = 0;
        char *p = buf, *stop = buf + end;
        while (rc == 0) {
            while (p < stop && strchr(" \n\t\r,", *p) && *p) p++;
            if (p >= stop) break;
            char *e;
            errno = 0;
            long v = strtol(p, &e, 10);
            if (e == p || e > stop || (e < stop && !strchr(" \n\t\r,", *e)) || (*e == 0 && e != stop) || errno) {
                char *q = p;
                while (q < stop && !strchr(" \n\t\r,", *q) && q - p < 40) q++;
                rc = ng_fail("stdin: '%.*s' (token %zu) is not a token id", (int)(q - p), p, count);
                break;
            }
            if (v < 0 || v >= V) { rc = ng_fail("stdin: token id %ld (token %zu) is out of range (0..%d)", v, count, V - 1); break; }
            ids[m++] = (int)v;
            count++;
            p = e;
            while (p < stop && strchr(" \n\t\r,", *p) && *p) p++;
            if (m == IDS || p >= stop) {
                size_t n_out;
                char *out = ng_tokenizer_decode(&t, ids, m, &n_out);
                if (!out) { rc = ng_fail("out of memory decoding %zu token ids", m); break; }
                fwrite(out, 1, n_out, stdout);
                free(out);
                if (ferror(stdout)) rc = ng_fail("stdout: write failed: %s", strerror(errno));
                m = 0;
            }
        }
        memmove(buf, buf + end, len - end);
        len -= end;
    }
    if (rc == 0) rc = flush_stdout();
    free(buf);
    free(ids);
    ng_tokenizer_free(&t);
    return rc;
}
