/* report.c -- out_dir/report.html and `nanogpt report`: one self-contained HTML page per set
 * of runs (report_page.html, embedded by report_page.S) with the runs' data in a JSON block.
 *
 * A run is its out_dir:
 *   log.jsonl      what train logs (one JSON object per logged iteration and evaluation); the
 *                  page embeds these lines unchanged, so the plotted numbers are log.jsonl's
 *   run.json       status (running, finished, diverged, interrupted), iteration, config, model
 *                  shape and tensors, rewritten by ng_report_update
 *   samples.jsonl  {"iter": N, "text": "..."}: the sample generated at each evaluation
 * Training calls ng_report_update at every evaluation and at the end; it rewrites run.json
 * and report.html atomically (temporary file, fsync, rename).
 */
#include "app/report.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

extern const char ng_report_page[];          /* report_page.S */

/* the lines of text[0..n) that parse as JSON objects (a line cut short by a kill is skipped) */
static int parse_lines(NgRunFiles *r, char *text, size_t n) {
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) cap += text[i] == '\n';
    cap++;
    r->lines = ng_calloc(cap, sizeof(char *), "log lines");
    r->line_len = ng_calloc(cap, sizeof(size_t), "log lines");
    r->log = ng_calloc(cap, sizeof(JsonValue *), "log lines");
    if (!r->lines || !r->line_len || !r->log) return -1;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        char err[128];
        JsonValue *v = e > i ? ng_json_parse(text + i, e - i, err, sizeof err) : NULL;
        if (v && v->type == JSON_OBJECT) {
            r->lines[r->n_log] = text + i;
            r->line_len[r->n_log] = e - i;
            r->log[r->n_log++] = v;
        } else ng_json_free(v);
        i = e + 1;
    }
    return 0;
}

int ng_run_files_load(NgRunFiles *r, const char *dir) {
    memset(r, 0, sizeof *r);
    char path[700];
    if (snprintf(r->dir, sizeof r->dir, "%s", dir) >= (int)sizeof r->dir) return ng_fail("%s: path too long", dir);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    size_t n;
    r->log_text = ng_read_file(path, &n);
    if (!r->log_text) return ng_fail("%s: no log.jsonl: not the out_dir of a training run", dir);
    if (parse_lines(r, r->log_text, n) != 0) { ng_run_files_free(r); return -1; }
    snprintf(path, sizeof path, "%s/run.json", dir);
    FILE *f = fopen(path, "rb");                 /* optional: runs from before reports have none */
    if (f) {
        fclose(f);
        char err[128];
        r->info = ng_read_file(path, &n);
        JsonValue *v = r->info ? ng_json_parse(r->info, n, err, sizeof err) : NULL;
        if (!v || v->type != JSON_OBJECT) { free(r->info); r->info = NULL; }
        ng_json_free(v);
    }
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    f = fopen(path, "rb");
    if (f) { fclose(f); r->samples_text = ng_read_file(path, &n); }
    return 0;
}

void ng_run_files_free(NgRunFiles *r) {
    for (int i = 0; i < r->n_log; i++) ng_json_free(r->log[i]);
    free(r->log); free(r->lines); free(r->line_len);
    free(r->log_text); free(r->info); free(r->samples_text);
    memset(r, 0, sizeof *r);
}

double ng_run_log_value(const NgRunFiles *r, int i, const char *key) {
    const JsonValue *v = ng_json_get(r->log[i], key);
    return v && v->type == JSON_NUMBER ? v->number : NAN;
}

/* JSON text inside <script>: '<' (only ever inside strings) as \u003c, so that no "</script>"
 * or "<!--" in a sample can end or confuse the block */
static void append_embedded(NgStr *b, const char *s, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<') continue;
        ng_str_append(b, s + start, i - start);
        ng_str_printf(b, "\\u003c");
        start = i + 1;
    }
    ng_str_append(b, s + start, n - start);
}

/* the samples.jsonl lines that are JSON objects, as a JSON array */
static void append_samples(NgStr *b, const char *text) {
    ng_str_printf(b, "[");
    int first = 1;
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char err[128];
        JsonValue *v = len ? ng_json_parse(p, len, err, sizeof err) : NULL;
        if (v && v->type == JSON_OBJECT) {
            ng_str_printf(b, first ? "\n" : ",\n");
            append_embedded(b, p, len);
            first = 0;
        }
        ng_json_free(v);
        p = e ? e + 1 : p + len;
    }
    ng_str_printf(b, "]");
}

static void str_free(NgStr *b) { free(b->s); memset(b, 0, sizeof *b); }

int ng_report(const char *const *dirs, int n, const char *out_path) {
    if (n <= 0) return ng_fail("report: give at least one out_dir");
    NgStr data = {0};
    ng_str_printf(&data, "{\"generated\": %lld, \"runs\": [", (long long)time(NULL));
    for (int i = 0; i < n; i++) {
        NgRunFiles r;
        if (ng_run_files_load(&r, dirs[i]) != 0) { str_free(&data); return -1; }
        ng_str_printf(&data, "%s\n{\"dir\": ", i ? "," : "");
        ng_str_json_string(&data, r.dir);
        ng_str_printf(&data, ",\n\"info\": ");
        if (r.info) append_embedded(&data, r.info, strlen(r.info));
        else ng_str_printf(&data, "null");
        ng_str_printf(&data, ",\n\"samples\": ");
        append_samples(&data, r.samples_text);
        ng_str_printf(&data, ",\n\"log\": [");
        for (int k = 0; k < r.n_log; k++) {
            ng_str_printf(&data, k ? ",\n" : "\n");
            append_embedded(&data, r.lines[k], r.line_len[k]);
        }
        ng_str_printf(&data, "]}");
        ng_run_files_free(&r);
    }
    ng_str_printf(&data, "]}");
    const char *marker = "<!--NG_DATA-->";
    const char *at = strstr(ng_report_page, marker);
    NgStr page = {0};
    ng_str_append(&page, ng_report_page, (size_t)(at - ng_report_page));
    ng_str_append(&page, data.s, data.len);
    ng_str_printf(&page, "%s", at + strlen(marker));
    int rc = page.s ? ng_write_file_atomic(out_path, page.s, page.len) : ng_fail("report: out of memory");
    str_free(&data); str_free(&page);
    return rc;
}

/* text with every byte sequence that is not UTF-8 replaced by U+FFFD (a GPT-2 sample may end
 * in the middle of a character) */
static char *utf8_clean(const char *s) {
    NgStr b = {0};
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        int ok = len > 0;
        for (int k = 1; ok && k < len; k++) ok = (p[k] & 0xC0) == 0x80;
        if (ok) { ng_str_append(&b, (const char *)p, (size_t)len); p += len; }
        else { ng_str_printf(&b, "\xEF\xBF\xBD"); p++; }
    }
    ng_str_printf(&b, "%s", "");
    return b.s;
}

static int append_line(const char *path, const char *line) {
    FILE *f = fopen(path, "a");
    if (!f) return ng_fail("%s: cannot open for appending", path);
    int bad = fprintf(f, "%s\n", line) < 0;
    if (fclose(f) != 0 || bad) return ng_fail("%s: write failed", path);
    return 0;
}

int ng_report_update(const NgConfig *cfg, const NgModel *m, const char *status, int iter, const char *sample) {
    char path[700];
    if (sample) {
        char *clean = utf8_clean(sample);
        NgStr line = {0};
        ng_str_printf(&line, "{\"iter\": %d, \"text\": ", iter);
        ng_str_json_string(&line, clean ? clean : "");
        ng_str_printf(&line, "}");
        free(clean);
        snprintf(path, sizeof path, "%s/samples.jsonl", cfg->out_dir);
        int rc = line.s ? append_line(path, line.s) : -1;
        str_free(&line);
        if (rc != 0) return -1;
    }
    const NgModelArgs *a = &m->args;
    NgStr b = {0};
    const char *slash = strrchr(cfg->out_dir, '/');
    ng_str_printf(&b, "{\"name\": ");
    ng_str_json_string(&b, slash && slash[1] ? slash + 1 : cfg->out_dir);
    ng_str_printf(&b, ", \"status\": ");
    ng_str_json_string(&b, status);
    ng_str_printf(&b, ", \"iter\": %d, \"max_iters\": %d, \"updated\": %lld,\n\"model\": {\"model\": \"%s\", \"n_layer\": %d, \"n_head\": %d, "
                  "\"n_embd\": %d, \"block_size\": %d, \"vocab_size\": %d, \"bias\": %s, \"gelu\": \"%s\", \"num_params\": %zu, "
                  "\"num_params_nonembedding\": %zu, \"tensors\": [", iter, cfg->max_iters, (long long)time(NULL),
                  a->model_type == NG_MODEL_BIGRAM ? "bigram" : "gpt", a->n_layer, a->n_head, a->n_embd, a->block_size,
                  a->vocab_size, a->bias ? "true" : "false", a->gelu_tanh ? "tanh" : "erf", m->num_params,
                  ng_model_num_params_nonembedding(a));
    for (int i = 0; i < m->n_tensors; i++) {
        const NgTensor *t = &m->tensors[i];
        ng_str_printf(&b, "%s{\"name\": \"%s\", \"shape\": [%lld", i ? ", " : "", t->name, (long long)t->shape[0]);
        if (t->ndim == 2) ng_str_printf(&b, ", %lld", (long long)t->shape[1]);
        ng_str_printf(&b, "], \"numel\": %zu}", t->numel);
    }
    char *cj = ng_config_to_json(cfg);
    ng_str_printf(&b, "]},\n\"config\": %s}\n", cj ? cj : "{}");
    free(cj);
    snprintf(path, sizeof path, "%s/run.json", cfg->out_dir);
    int rc = b.s ? ng_write_file_atomic(path, b.s, b.len) : ng_fail("report: out of memory");
    str_free(&b);
    if (rc != 0) return -1;
    snprintf(path, sizeof path, "%s/report.html", cfg->out_dir);
    const char *dirs[1] = {cfg->out_dir};
    return ng_report(dirs, 1, path);
}
