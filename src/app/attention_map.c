/* attention_map.c -- `nanogpt attention --out_dir=DIR --start=TEXT [--layer=L] [--head=H]
 * --out=FILE.svg|.png|.html|.json`: the lecture's attention maps. For the prompt (cropped to
 * block_size), each head's T x T causal matrix softmax(q k^T / sqrt(head_size)) of block L
 * (ng_model_attention_probs), rows = queries, columns = keys, labelled with the tokens; every
 * head of the layer as a grid when no head is given. .json writes the numbers:
 *   {"layer": L, "head": H, "tokens": [...], "token_ids": [...], "matrix": [[...], ...]}
 * with "head": [0, 1, ...] and "matrix" one T x T matrix per head when no head is given.
 */
#include "app/draw.h"
#include "app/run.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* a token as a label: newline, tab and space made visible */
static void token_label(const char *s, char *out, size_t n) {
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        if (*s == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (*s == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (*s == ' ') { memcpy(out + o, "\xE2\x90\xA3", 3); o += 3; }   /* U+2423 open box */
        else if ((unsigned char)*s < 0x20) out[o++] = '?';
        else out[o++] = *s;
    }
    out[o] = 0;
}

static int write_json(const char *path, int layer, int head, int NH, int T, char **tokens, const int *ids, const float *probs) {
    NgStr b = {0};
    ng_str_printf(&b, "{\"layer\": %d, \"head\": ", layer);
    if (head >= 0) ng_str_printf(&b, "%d", head);
    else for (int h = 0; h < NH; h++) ng_str_printf(&b, "%s%d%s", h ? ", " : "[", h, h == NH - 1 ? "]" : "");
    ng_str_printf(&b, ",\n\"tokens\": [");
    for (int t = 0; t < T; t++) { if (t) ng_str_printf(&b, ", "); ng_str_json_string(&b, tokens[t]); }
    ng_str_printf(&b, "],\n\"token_ids\": [");
    for (int t = 0; t < T; t++) ng_str_printf(&b, "%s%d", t ? ", " : "", ids[t]);
    ng_str_printf(&b, "],\n\"matrix\": ");
    int h0 = head >= 0 ? head : 0, h1 = head >= 0 ? head + 1 : NH;
    if (head < 0) ng_str_printf(&b, "[");
    for (int h = h0; h < h1; h++) {
        ng_str_printf(&b, "%s[", h > h0 ? ",\n" : "");
        for (int t = 0; t < T; t++) {
            ng_str_printf(&b, "%s[", t ? ",\n " : "");
            for (int u = 0; u < T; u++) ng_str_printf(&b, "%s%.9g", u ? ", " : "", probs[((size_t)h * T + t) * T + u]);
            ng_str_printf(&b, "]");
        }
        ng_str_printf(&b, "]");
    }
    if (head < 0) ng_str_printf(&b, "]");
    ng_str_printf(&b, "}\n");
    int rc = b.s ? ng_write_file_atomic(path, b.s, b.len) : ng_fail("%s: out of memory", path);
    free(b.s);
    return rc;
}

/* the maps as a picture: one T x T grid of cells per head, white (0) to dark blue (1),
 * the masked upper triangle light grey; token labels while they fit */
static int draw_maps(NgCanvas *c, const char *path, int layer, int head, int NH, int T, char **labels, const float *probs) {
    int h0 = head >= 0 ? head : 0, nh = head >= 0 ? 1 : NH;
    int cols = (int)ceil(sqrt((double)nh)), rows = (nh + cols - 1) / cols;
    double cell = 360.0 / T;
    if (cell > 26) cell = 26;
    if (cell < 3) cell = 3;
    int show = cell >= 7;                                 /* labels readable */
    double fs = cell * 0.7 < 11 ? cell * 0.7 : 11, lab = show ? 12 + fs * 5 : 8;
    double side = cell * T, pw = lab + side + 24, ph = 24 + lab + side + 16;
    double W = cols * pw + 10, H = rows * ph + 34;
    if (ng_canvas_open(c, path, W, H, 2.0) != 0) return -1;
    cairo_t *cr = c->cr;
    char title[128];
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    snprintf(title, sizeof title, "attention softmax(QK^T/sqrt(head_size)), layer %d%s", layer, head >= 0 ? "" : ", every head");
    ng_canvas_text(c, 10, 20, 0.0, 14, title);
    for (int k = 0; k < nh; k++) {
        int h = h0 + k;
        double ox = 10 + (k % cols) * pw + lab, oy = 34 + (k / cols) * ph + 20 + lab;
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        snprintf(title, sizeof title, "head %d", h);
        ng_canvas_text(c, ox, oy - lab - 6, 0.0, 12, title);
        for (int t = 0; t < T; t++)
            for (int u = 0; u < T; u++) {
                double p = probs[((size_t)h * T + t) * T + u];
                if (u > t) cairo_set_source_rgb(cr, 0.94, 0.94, 0.95);
                else cairo_set_source_rgb(cr, 1 - 0.97 * p, 1 - 0.81 * p, 1 - 0.58 * p);
                cairo_rectangle(cr, ox + u * cell, oy + t * cell, cell, cell);
                cairo_fill(cr);
            }
        cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
        cairo_set_line_width(cr, 0.6);
        cairo_rectangle(cr, ox, oy, side, side);
        cairo_stroke(cr);
        if (!show) continue;
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        for (int t = 0; t < T; t++) {
            ng_canvas_text(c, ox - 4, oy + (t + 0.72) * cell, 1.0, fs, labels[t]);   /* queries */
            cairo_save(cr);
            cairo_translate(cr, ox + (t + 0.72) * cell, oy - 4);
            cairo_rotate(cr, -M_PI / 2);
            ng_canvas_text(c, 0, 0, 0.0, fs, labels[t]);                             /* keys */
            cairo_restore(cr);
        }
    }
    return 0;
}

static int write_html(const char *path, NgCanvas *c, int layer, int head, const char *prompt) {
    NgStr b = {0};
    ng_str_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nanogpt attention, layer %d</title>\n"
                  "<style>body{font-family:system-ui,sans-serif;margin:20px;color:#222} pre{background:#f6f6f8;padding:6px;white-space:pre-wrap}</style>"
                  "</head><body>\n<h1 style=\"font-size:18px\">attention of layer %d, %s</h1>\n<pre>", layer, layer, head >= 0 ? "one head" : "every head");
    for (const char *p = prompt; *p; p++) {           /* the prompt, HTML-escaped */
        if (*p == '<') ng_str_printf(&b, "&lt;");
        else if (*p == '&') ng_str_printf(&b, "&amp;");
        else if (*p == '>') ng_str_printf(&b, "&gt;");
        else ng_str_append(&b, p, 1);
    }
    ng_str_printf(&b, "</pre>\n");
    const char *svg = c->bytes.s, *start = strstr(svg, "<svg");   /* inline: without the XML declaration */
    ng_str_printf(&b, "%s\n</body></html>\n", start ? start : svg);
    int rc = b.s ? ng_write_file_atomic(path, b.s, b.len) : ng_fail("%s: out of memory", path);
    free(b.s);
    return rc;
}

int ng_attention(const NgConfig *cfg) {
    const char *out = cfg->out;
    size_t ol = strlen(out);
    int json = ol > 5 && !strcasecmp(out + ol - 5, ".json"), html = ol > 5 && !strcasecmp(out + ol - 5, ".html");
    if (!json && !html && !ng_picture_kind(out))
        return ng_fail("attention: give the output with --out=FILE.svg, FILE.png, FILE.html or FILE.json%s%s", *out ? ", got " : "", out);
    NgModel m;
    NgTokenizer tok;
    NgConfig saved;
    if (ng_load_for_inference(cfg, &m, &saved, &tok) != 0) return -1;
    m.threads = cfg->threads;
    int rc = -1, NH = m.args.n_head, T = 0;
    size_t n = 0, n_ids = 0;
    int *ids = NULL;
    float *probs = NULL;
    char **tokens = NULL, **labels = NULL;
    char *prompt = ng_read_start(cfg->start, &n);
    if (!prompt) goto done;
    if (m.args.model_type != NG_MODEL_GPT) { ng_fail("attention: the bigram model has no attention"); goto done; }
    if (cfg->layer < 0 || cfg->layer >= m.args.n_layer) { ng_fail("--layer=%d: the model has layers 0..%d", cfg->layer, m.args.n_layer - 1); goto done; }
    if (cfg->head < -1 || cfg->head >= NH) { ng_fail("--head=%d: the model has heads 0..%d (or -1 for all)", cfg->head, NH - 1); goto done; }
    if (tok.kind == NG_TOK_NONE) { ng_fail("%s: the checkpoint has no tokenizer (meta.json) to encode --start", cfg->out_dir); goto done; }
    if (ng_tokenizer_encode(&tok, prompt, n, &ids, &n_ids) != 0) goto done;
    if (n_ids == 0) { ng_fail("--start: the prompt is empty"); goto done; }
    T = n_ids > (size_t)m.args.block_size ? m.args.block_size : (int)n_ids;   /* the first block_size tokens */
    probs = ng_malloc(sizeof(float) * (size_t)NH * T * T, "attention maps");
    tokens = ng_calloc((size_t)T, sizeof(char *), "tokens");
    labels = ng_calloc((size_t)T, sizeof(char *), "tokens");
    if (!probs || !tokens || !labels) goto done;
    for (int t = 0; t < T; t++) {
        tokens[t] = ng_tokenizer_decode(&tok, ids + t, 1, NULL);
        labels[t] = ng_malloc(4 * strlen(tokens[t] ? tokens[t] : "") + 8, "a label");
        if (!tokens[t] || !labels[t]) goto done;
        token_label(tokens[t], labels[t], 4 * strlen(tokens[t]) + 8);
    }
    if (ng_model_attention_probs(&m, ids, T, cfg->layer, probs) != 0) goto done;
    if (json) rc = write_json(out, cfg->layer, cfg->head, NH, T, tokens, ids, probs);
    else {
        NgCanvas c;
        char kind_path[16];
        snprintf(kind_path, sizeof kind_path, "x.%s", html ? "svg" : ng_picture_kind(out));
        if (draw_maps(&c, html ? kind_path : out, cfg->layer, cfg->head, NH, T, labels, probs) != 0) goto done;
        if (html) {
            rc = ng_canvas_finish(&c, out);
            if (rc == 0) rc = write_html(out, &c, cfg->layer, cfg->head, prompt);
            ng_canvas_free(&c);
        } else rc = ng_canvas_save(&c, out);
    }
    if (rc == 0) printf("wrote %s: layer %d, %s, %d tokens%s\n", out, cfg->layer, cfg->head >= 0 ? "one head" : "every head", T,
                        n_ids > (size_t)T ? " (the prompt cropped to block_size)" : "");
done:
    for (int t = 0; t < T && tokens; t++) { free(tokens[t]); if (labels) free(labels[t]); }
    free(tokens); free(labels); free(probs); free(ids); free(prompt);
    ng_tokenizer_free(&tok);
    ng_model_free(&m);
    return rc;
}
