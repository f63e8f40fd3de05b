/* progress.h -- a status line updated in place on a terminal (see progress.c) */
#ifndef NG_PROGRESS_H
#define NG_PROGRESS_H
#include "base/util.h"
#include <stdio.h>
typedef struct {
    FILE *f;
    int tty;                         /* draw at all: f is a terminal (or NANOGPT_PROGRESS=1) */
    int drawn;                       /* a line is on screen */
    double t_start, last_draw;
    double step_time; long steps;    /* time spent in timed steps, and how many */
    double pause_time; long pauses;  /* time spent in pauses (evaluations), and how many */
} NgProgress;
void ng_progress_init(NgProgress *p, FILE *f);
void ng_progress_step(NgProgress *p, double seconds);
void ng_progress_pause(NgProgress *p, double seconds);
double ng_progress_eta(const NgProgress *p, long steps_left, long pauses_left);
/* "\r<text>\033[K" on a terminal, at most 10 times a second unless force */
void ng_progress_show(NgProgress *p, int force, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ng_progress_clear(NgProgress *p);    /* erase the line before printing an ordinary one */
void ng_progress_end(NgProgress *p);      /* leave the last line on screen */
const char *ng_fmt_duration(double s, char *buf, size_t n);   /* "4.2s", "3m07s", "1h02m03s" */
#endif
