/* test.h -- a tiny test harness: CHECK macros count passes and failures; every test
 * program ends with TEST_END, which prints "N passed, N failed" and sets the exit code. */
#ifndef NG_TEST_H
#define NG_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
static int t_pass, t_fail;
#define CHECK(cond, ...) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
/* |a-b| <= atol + rtol*|b| for every element; reports the worst one */
static inline int check_close(const char *what, const float *a, const float *b, size_t n, double atol, double rtol) {
    size_t worst = 0; double worst_excess = -1; int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]), tol = atol + rtol * fabs((double)b[i]);
        if (!(d <= tol)) bad++;
        if (d - tol > worst_excess) { worst_excess = d - tol; worst = i; }
    }
    if (bad) { t_fail++; fprintf(stderr, "FAIL %s: %d of %zu elements out of tolerance (atol %g rtol %g), worst [%zu] got %.9g want %.9g\n",
                                 what, bad, n, atol, rtol, worst, n ? a[worst] : 0.0, n ? b[worst] : 0.0); }
    else t_pass++;
    return !bad;
}
/* files in dir whose name has ".tmp." (temporary files of an atomic write), -1 if unreadable */
static inline int test_tmp_files(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}
#define TEST_END() do { printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail); return t_fail ? 1 : 0; } while (0)
#endif
