/* config.h -- internal: the config table (one row per nanoGPT config key) behind NgConfig's
 * parser, printer and checkpoint metadata; the CLI prints it as `help` and the README table. */
#ifndef NG_CONFIG_H
#define NG_CONFIG_H
#include "nanogpt.h"

typedef enum { NG_INT, NG_FLOAT, NG_BOOL, NG_STRING, NG_DOUBLE, NG_IGNORED } NgKeyType;

typedef struct {
    const char *name;
    NgKeyType type;
    size_t offset;                   /* offsetof(NgConfig, field) */
    size_t size;                     /* for strings: buffer size */
    const char *def;                 /* default value as text */
    const char *cmds;                /* sub-commands that use it, e.g. "train,bench" */
    const char *help;
} NgKey;

extern const NgKey ng_keys[];        /* terminated by name == NULL */
const NgKey *ng_key_find(const char *name);
/* Applies a config stored as a JSON object (a checkpoint's; `path` names it in errors). */
int ng_config_apply_json(NgConfig *cfg, const char *json, const char *path);
#endif
