/* commands.h -- the sub-commands of ./nanogpt. Each takes the config (defaults, then the
 * command line) plus the raw arguments, and returns 0 or -1 with ng_errmsg() set. To add a
 * command: write src/cli/cmd_NAME.c and add one row to the table in main.c. */
#ifndef NG_COMMANDS_H
#define NG_COMMANDS_H
#include "nanogpt.h"
typedef struct {
    const char *name;
    int (*run)(NgConfig *cfg, int argc, char **argv);
    const char *args;                /* usage synopsis */
    const char *help;
    int positional;                  /* arguments without "--" are its own (out_dirs), not config files */
} NgCommand;
#endif
