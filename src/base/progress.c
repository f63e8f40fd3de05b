/* progress.c -- one status line updated in place on a terminal ("\r" + text + erase to the
 * end of the line), nothing at all when the stream is not a terminal, so that logs written
 * to files and pipes stay exactly as they were.
 *
 * NANOGPT_PROGRESS=1 forces the line on (tests), =0 forces it off.
 */
#include "base/progress.h"
#include "base/dist.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ng_progress_init(NgProgress *p, FILE *f) {
    memset(p, 0, sizeof *p);
    p->f = f;
    const char *force = getenv("NANOGPT_PROGRESS");
    if (force && *force) p->tty = strcmp(force, "0") != 0;
    /* under mpirun the ranks' stdout is a pseudo-terminal that mpirun forwards: plain lines */
    else p->tty = isatty(fileno(f)) && ng_dist_world() <= 1;
    p->t_start = ng_now();
}

void ng_progress_step(NgProgress *p, double seconds) { p->step_time += seconds; p->steps++; }
void ng_progress_pause(NgProgress *p, double seconds) { p->pause_time += seconds; p->pauses++; }

/* seconds left: steps at their mean time so far, plus pauses (evaluations) at theirs; a pause
 * not yet seen is priced at nothing until the first one has been timed */
double ng_progress_eta(const NgProgress *p, long steps_left, long pauses_left) {
    double eta = 0.0;
    if (p->steps > 0) eta += p->step_time / (double)p->steps * (double)steps_left;
    if (p->pauses > 0) eta += p->pause_time / (double)p->pauses * (double)pauses_left;
    return eta;
}

const char *ng_fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0.0) || s > 1e9) { snprintf(buf, n, "?"); return buf; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%.1fs", s);
    return buf;
}

void ng_progress_show(NgProgress *p, int force, const char *fmt, ...) {
    if (!p->tty) return;
    double now = ng_now();
    if (!force && p->drawn && now - p->last_draw < 0.1) return;   /* at most 10 redraws a second */
    p->last_draw = now;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(p->f, "\r%s\033[K", line);
    fflush(p->f);
    p->drawn = 1;
}

void ng_progress_clear(NgProgress *p) {
    if (!p->tty || !p->drawn) return;
    fprintf(p->f, "\r\033[K");
    fflush(p->f);
    p->drawn = 0;
}

void ng_progress_end(NgProgress *p) {
    if (!p->tty || !p->drawn) return;
    fputc('\n', p->f);
    fflush(p->f);
    p->drawn = 0;
}
