/* draw.h -- internal: a cairo picture written as FILE.svg or FILE.png (plot.c, attention_map.c) */
#ifndef NG_DRAW_H
#define NG_DRAW_H
#include "base/util.h"
#include <cairo.h>
typedef struct {
    cairo_surface_t *surface;
    cairo_t *cr;
    NgStr bytes;                     /* the encoded file, written atomically by ng_canvas_save */
    int svg;                         /* 1: SVG (vector), 0: PNG */
} NgCanvas;
/* "svg", "png" (from path's extension), or NULL */
const char *ng_picture_kind(const char *path);
/* a white canvas of w x h points (PNG: pixels at `scale`) for path's kind */
int ng_canvas_open(NgCanvas *c, const char *path, double w, double h, double scale);
int ng_canvas_finish(NgCanvas *c, const char *path);  /* the encoded file in c->bytes */
int ng_canvas_save(NgCanvas *c, const char *path);    /* finishes, writes, frees */
void ng_canvas_free(NgCanvas *c);
/* text at (x, y) (baseline), align 0 left, 0.5 centre, 1 right */
void ng_canvas_text(NgCanvas *c, double x, double y, double align, double size, const char *text);
/* "nice" tick values covering [lo, hi] with about n steps: returns the count (at most 32) */
int ng_nice_ticks(double lo, double hi, int n, double *out);
#endif
