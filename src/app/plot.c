/* plot.c -- `nanogpt plot OUT_DIR [...] --out=FILE.svg|FILE.png`: the runs' loss curves from
 * their log.jsonl, for papers and slides: the training loss of every logged iteration (thin),
 * and the train and val loss of every evaluation (train solid, val dashed, with dots); one
 * colour per run.
 */
#include "app/draw.h"
#include "app/report.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const double COLORS[][3] = {
    {0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17}, {1.00, 0.50, 0.05},
    {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.09, 0.75, 0.81},
};
#define N_COLORS (int)(sizeof COLORS / sizeof COLORS[0])

enum { S_ITER, S_TRAIN, S_VAL, N_SERIES };
static const char *const SERIES_KEY[N_SERIES] = {"loss", "train_loss", "val_loss"};

/* value of series k in log line i (NAN when the line is not of that kind) */
static double point(const NgRunFiles *r, int i, int k, double *x) {
    *x = ng_run_log_value(r, i, "iter");
    return ng_run_log_value(r, i, SERIES_KEY[k]);
}

int ng_plot(const char *const *dirs, int n, const char *out_path) {
    if (n <= 0) return ng_fail("plot: give at least one out_dir");
    if (!ng_picture_kind(out_path)) return ng_fail("%s: the picture must be FILE.svg or FILE.png", out_path);
    NgRunFiles *runs = ng_calloc((size_t)n, sizeof(NgRunFiles), "runs");
    if (!runs) return -1;
    int rc = -1, loaded = 0;
    for (; loaded < n; loaded++) if (ng_run_files_load(&runs[loaded], dirs[loaded]) != 0) goto done;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int r = 0; r < n; r++)
        for (int i = 0; i < runs[r].n_log; i++)
            for (int k = 0; k < N_SERIES; k++) {
                double x, y = point(&runs[r], i, k, &x);
                if (!isfinite(x) || !isfinite(y)) continue;
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (!isfinite(x0)) { ng_fail("%s: no loss in log.jsonl yet", dirs[0]); goto done; }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
    double pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;

    const double W = 800, H = 500, L = 70, R = 20, T = 40, B = 55;
    NgCanvas c;
    if (ng_canvas_open(&c, out_path, W, H, 2.0) != 0) goto done;
    cairo_t *cr = c.cr;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (W - L - R))
#define PY(y) (T + (1.0 - ((y) - y0) / (y1 - y0)) * (H - T - B))
    double tk[32];
    char label[64];
    cairo_set_line_width(cr, 1.0);
    int nt = ng_nice_ticks(y0, y1, 6, tk);
    for (int i = 0; i < nt; i++) {
        cairo_set_source_rgb(cr, 0.92, 0.92, 0.94);
        cairo_move_to(cr, L, PY(tk[i])); cairo_line_to(cr, W - R, PY(tk[i])); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(label, sizeof label, "%g", tk[i]);
        ng_canvas_text(&c, L - 8, PY(tk[i]) + 4, 1.0, 12, label);
    }
    nt = ng_nice_ticks(x0, x1, 8, tk);
    for (int i = 0; i < nt; i++) {
        cairo_set_source_rgb(cr, 0.92, 0.92, 0.94);
        cairo_move_to(cr, PX(tk[i]), T); cairo_line_to(cr, PX(tk[i]), H - B); cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(label, sizeof label, "%g", tk[i]);
        ng_canvas_text(&c, PX(tk[i]), H - B + 18, 0.5, 12, label);
    }
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    cairo_move_to(cr, L, T); cairo_line_to(cr, L, H - B); cairo_line_to(cr, W - R, H - B); cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    ng_canvas_text(&c, (L + W - R) / 2, H - 14, 0.5, 13, "iteration");
    ng_canvas_text(&c, L, 24, 0.0, 16, "loss");
    cairo_save(cr);
    cairo_translate(cr, 18, (T + H - B) / 2);
    cairo_rotate(cr, -M_PI / 2);
    ng_canvas_text(&c, 0, 0, 0.5, 13, "cross-entropy loss");
    cairo_restore(cr);

    double legend_y = T + 14;
    for (int r = 0; r < n; r++) {
        const double *col = COLORS[r % N_COLORS];
        const char *slash = strrchr(runs[r].dir, '/');
        const char *name = slash && slash[1] ? slash + 1 : runs[r].dir;
        for (int k = 0; k < N_SERIES; k++) {
            static const double dash[] = {7.0, 4.0};
            cairo_set_dash(cr, dash, k == S_VAL ? 2 : 0, 0);
            cairo_set_line_width(cr, k == S_ITER ? 1.0 : 2.2);
            cairo_set_source_rgba(cr, col[0], col[1], col[2], k == S_ITER ? 0.35 : 1.0);
            int started = 0;
            for (int i = 0; i < runs[r].n_log; i++) {
                double x, y = point(&runs[r], i, k, &x);
                if (!isfinite(x) || !isfinite(y)) continue;
                if (started) cairo_line_to(cr, PX(x), PY(y));
                else cairo_move_to(cr, PX(x), PY(y));
                started = 1;
            }
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
            if (k != S_ITER)
                for (int i = 0; i < runs[r].n_log; i++) {
                    double x, y = point(&runs[r], i, k, &x);
                    if (!isfinite(x) || !isfinite(y)) continue;
                    cairo_arc(cr, PX(x), PY(y), 2.8, 0, 2 * M_PI);
                    cairo_fill(cr);
                }
            /* legend: "name: train loss" etc. (the iteration loss only for one run) */
            if (k == S_ITER && n > 1) continue;
            cairo_set_dash(cr, dash, k == S_VAL ? 2 : 0, 0);
            cairo_set_line_width(cr, 2.2);
            cairo_move_to(cr, W - R - 230, legend_y - 4); cairo_line_to(cr, W - R - 205, legend_y - 4); cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            snprintf(label, sizeof label, "%.28s%s%s", n > 1 ? name : "", n > 1 ? ": " : "",
                     k == S_ITER ? "loss (every iteration)" : k == S_TRAIN ? "train loss" : "val loss");
            ng_canvas_text(&c, W - R - 198, legend_y, 0.0, 12, label);
            legend_y += 17;
        }
    }
#undef PX
#undef PY
    rc = ng_canvas_save(&c, out_path);
done:
    for (int r = 0; r < loaded; r++) ng_run_files_free(&runs[r]);
    free(runs);
    return rc;
}
