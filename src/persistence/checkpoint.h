/* checkpoint.h -- internal: checkpoints without the config table (which lives above, in the
 * application layer: ng_checkpoint_save/ng_checkpoint_load in src/app/run.c wrap these). */
#ifndef NG_CHECKPOINT_H
#define NG_CHECKPOINT_H
#include "nanogpt.h"

/* As ng_checkpoint_save, with the config as JSON text (may be NULL). */
int ng_ckpt_write(const char *path, const NgModel *m, const char *config_json, const NgRunState *rs,
                  const NgTokenizer *tok);
/* As ng_checkpoint_load; *config_json (when config_json is not NULL) gets a malloc'd copy of the
 * config metadata (an error if the checkpoint has none). */
int ng_ckpt_read(const char *path, NgModel *m, char **config_json, NgRunState *rs, NgTokenizer *tok,
                 int with_optimizer);
#endif
