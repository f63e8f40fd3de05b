/* report.h -- internal: a training run's files as the report and the plots read them */
#ifndef NG_REPORT_H
#define NG_REPORT_H
#include "nanogpt.h"
#include "base/json.h"
#include "base/util.h"
typedef struct {
    char dir[600];
    char *info;                      /* run.json text, NULL when absent */
    char *log_text;                  /* log.jsonl */
    char **lines; size_t *line_len;  /* the log's lines that are JSON objects, in order */
    JsonValue **log; int n_log;      /* ... parsed */
    char *samples_text;              /* samples.jsonl, NULL when absent */
} NgRunFiles;
int ng_run_files_load(NgRunFiles *r, const char *dir);
void ng_run_files_free(NgRunFiles *r);
/* the value of `key` in log line i, or NAN */
double ng_run_log_value(const NgRunFiles *r, int i, const char *key);
#endif
