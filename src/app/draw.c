/* draw.c -- pictures through cairo: one canvas type for SVG (cairo's SVG surface) and PNG
 * (an image surface encoded by cairo's libpng writer), both collected in memory and written
 * atomically. Text uses cairo's "toy" font API with the sans-serif family. */
#include "app/draw.h"
#include <cairo-svg.h>
#include <math.h>
#include <string.h>

const char *ng_picture_kind(const char *path) {
    size_t n = strlen(path);
    if (n > 4 && !strcasecmp(path + n - 4, ".svg")) return "svg";
    if (n > 4 && !strcasecmp(path + n - 4, ".png")) return "png";
    return NULL;
}

static cairo_status_t collect(void *closure, const unsigned char *data, unsigned int length) {
    ng_str_append((NgStr *)closure, (const char *)data, length);
    return CAIRO_STATUS_SUCCESS;
}

int ng_canvas_open(NgCanvas *c, const char *path, double w, double h, double scale) {
    memset(c, 0, sizeof *c);
    const char *kind = ng_picture_kind(path);
    if (!kind) return ng_fail("%s: the picture must be FILE.svg or FILE.png", path);
    c->svg = !strcmp(kind, "svg");
    if (c->svg) c->surface = cairo_svg_surface_create_for_stream(collect, &c->bytes, w, h);
    else c->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)ceil(w * scale), (int)ceil(h * scale));
    if (cairo_surface_status(c->surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(c->surface);
        c->surface = NULL;
        return ng_fail("%s: cannot create a %.0fx%.0f picture", path, w, h);
    }
    c->cr = cairo_create(c->surface);
    if (!c->svg) cairo_scale(c->cr, scale, scale);
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    cairo_select_font_face(c->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return 0;
}

void ng_canvas_free(NgCanvas *c) {
    if (c->cr) cairo_destroy(c->cr);
    if (c->surface) cairo_surface_destroy(c->surface);
    free(c->bytes.s);
    memset(c, 0, sizeof *c);
    cairo_debug_reset_static_data();   /* cairo's font caches: nothing left for leak checkers */
}

int ng_canvas_finish(NgCanvas *c, const char *path) {
    cairo_status_t st = cairo_status(c->cr);
    cairo_destroy(c->cr);
    c->cr = NULL;
    if (st == CAIRO_STATUS_SUCCESS) {
        if (c->svg) cairo_surface_finish(c->surface);
        else st = cairo_surface_write_to_png_stream(c->surface, collect, &c->bytes);
        if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(c->surface);
    }
    if (st != CAIRO_STATUS_SUCCESS) return ng_fail("%s: drawing failed: %s", path, cairo_status_to_string(st));
    if (!c->bytes.s) return ng_fail("%s: drawing produced nothing", path);
    return 0;
}

int ng_canvas_save(NgCanvas *c, const char *path) {
    int rc = ng_canvas_finish(c, path);
    if (rc == 0) rc = ng_write_file_atomic(path, c->bytes.s, c->bytes.len);
    ng_canvas_free(c);
    return rc;
}

void ng_canvas_text(NgCanvas *c, double x, double y, double align, double size, const char *text) {
    cairo_text_extents_t e;
    cairo_set_font_size(c->cr, size);
    cairo_text_extents(c->cr, text, &e);
    cairo_move_to(c->cr, x - align * e.x_advance, y);
    cairo_show_text(c->cr, text);
}

int ng_nice_ticks(double lo, double hi, int n, double *out) {
    if (!(hi > lo)) hi = lo + 1.0;
    double raw = (hi - lo) / n, mag = pow(10.0, floor(log10(raw))), step = mag;
    const double f[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++) if (f[i] * mag >= raw) { step = f[i] * mag; break; }
    int k = 0;
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9 && k < 32; v += step) out[k++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    return k;
}
