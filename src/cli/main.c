/* main.c -- ./nanogpt: dispatches the sub-commands; every failure is one line
 * "nanogpt: <file>: <problem>" on stderr and exit status 1. */
#include "cli/commands.h"
#include "app/config.h"
#include "app/prepare.h"
#include "formats/bpe.h"
#include "base/dist.h"
#include "base/util.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int cmd_prepare(NgConfig *cfg, int argc, char **argv) {
    if (!ng_config_was_set(cfg, "dataset")) snprintf(cfg->dataset, sizeof cfg->dataset, "shakespeare_char");
    if (ng_config_validate(cfg) != 0) return -1;
    char dir[NG_STR + 8], input[NG_PATH_MAX];         /* data/ + a dataset name */
    snprintf(dir, sizeof dir, "data/%s", cfg->dataset);
    if (cfg->input[0]) snprintf(input, sizeof input, "%s", cfg->input);
    else snprintf(input, sizeof input, "%s/input.txt", dir);
    struct stat st;
    if (!cfg->input[0] && !strcmp(cfg->dataset, "shakespeare") && stat(input, &st) != 0)   /* nanoGPT's data/shakespeare */
        snprintf(input, sizeof input, "data/shakespeare_char/input.txt");
    if (stat(input, &st) != 0)
        return ng_fail("%s: no such file (give the text with --input=FILE)", input);
    if (!strcmp(cfg->tokenizer, "gpt2")) return ng_prepare_gpt2(input, dir, 1, 0);
    return ng_prepare_char(input, dir, 1);
}
static int cmd_train(NgConfig *cfg, int argc, char **argv) {
    /* resuming, the checkpoint decides the model's shape (ng_train validates again once it is
     * loaded): --n_embd=64 must be "cannot resume: ... has 48", not a clash with the default n_head */
    NgConfig c = *cfg;
    if (!strcmp(c.init_from, "resume")) c.n_head = 1;
    return ng_dist_agree(ng_config_validate(&c) == 0) ? ng_train(cfg) : -1;
}
static int cmd_sample(NgConfig *cfg, int argc, char **argv) { return ng_sample(cfg, stdout); }
static int cmd_eval(NgConfig *cfg, int argc, char **argv) { return ng_eval(cfg); }
static int cmd_bench(NgConfig *cfg, int argc, char **argv) { return ng_bench(cfg); }
static int cmd_serve(NgConfig *cfg, int argc, char **argv) { return ng_serve(cfg); }
static int cmd_info(NgConfig *cfg, int argc, char **argv) { return ng_info(cfg); }
static int cmd_attention(NgConfig *cfg, int argc, char **argv) { return ng_attention(cfg); }
/* report and plot: OUT_DIR ... --out=FILE (the out_dirs are the arguments without "--") */
static int over_runs(NgConfig *cfg, int argc, char **argv, const char *cmd, const char *files,
                     int (*write)(const char *const *dirs, int n, const char *out)) {
    const char **dirs = (const char **)argv;   /* filled in place: at most argc */
    int n = 0;
    for (int i = 0; i < argc; i++) if (strncmp(argv[i], "--", 2) != 0) dirs[n++] = argv[i];
    if (n == 0) return ng_fail("%s: give one or more out_dirs (nanogpt %s OUT_DIR [OUT_DIR ...] --out=%s)", cmd, cmd, files);
    if (!cfg->out[0]) return ng_fail("%s: give the file to write with --out=%s", cmd, files);
    if (write(dirs, n, cfg->out) != 0) return -1;
    printf("wrote %s (%d run%s)\n", cfg->out, n, n > 1 ? "s" : "");
    return 0;
}
static int cmd_report(NgConfig *cfg, int argc, char **argv) { return over_runs(cfg, argc, argv, "report", "FILE.html", ng_report); }
static int cmd_plot(NgConfig *cfg, int argc, char **argv) { return over_runs(cfg, argc, argv, "plot", "FILE.svg|FILE.png", ng_plot); }

int ng_cmd_export(NgConfig *cfg, int argc, char **argv);   /* cmd_export.c */

int cmd_encode(NgConfig *cfg, int argc, char **argv), cmd_decode(NgConfig *cfg, int argc, char **argv);  /* cmd_tokenize.c */
static const NgCommand commands[] = {
    {"prepare", cmd_prepare, "[--dataset=NAME] [--input=FILE]", "text -> data/NAME/{train.bin,val.bin,meta.json}", 0},
    {"train", cmd_train, "[CONFIG] [--key=value ...]", "train a GPT (nanoGPT's train.py)", 0},
    {"sample", cmd_sample, "--out_dir=DIR [--start=TEXT]", "generate text from out_dir/ckpt.safetensors", 0},
    {"eval", cmd_eval, "--out_dir=DIR", "train and val loss of a checkpoint", 0},
    {"export", ng_cmd_export, "--out_dir=DIR --format=hf|llmc|lecture PATH", "write out_dir/ckpt.safetensors as GPT-2 weights (HF dir or llm.c .bin) or the lecture's state_dict", 0},
    {"encode", cmd_encode, "[--tokenizer=gpt2|char] [--meta=FILE]", "text on stdin -> token ids on stdout", 0},
    {"decode", cmd_decode, "[--tokenizer=gpt2|char] [--meta=FILE]", "token ids on stdin -> text on stdout", 0},
    {"bench", cmd_bench, "[CONFIG] [--key=value ...]", "time training steps (or --mode=sample) on random tokens", 0},
    {"info", cmd_info, "[CONFIG | --out_dir=DIR | --init_from=...]", "B, T, C, heads, every tensor, FLOPs per token, memory of a training run", 0},
    {"report", cmd_report, "OUT_DIR [OUT_DIR ...] --out=FILE.html", "one HTML page with the curves, samples and configs of several runs", 1},
    {"plot", cmd_plot, "OUT_DIR [OUT_DIR ...] --out=FILE.svg|FILE.png", "the runs' loss curves as a picture", 1},
    {"attention", cmd_attention, "--out_dir=DIR --start=TEXT [--layer=L] [--head=H] --out=FILE.svg|.png|.html|.json", "each head's causal attention matrix for a prompt", 0},
    {"serve", cmd_serve, "--out_dir=DIR|--init_from=gpt2 [--port=8000]", "OpenAI-compatible HTTP API (POST /v1/completions)", 0},
    {NULL, NULL, NULL, NULL, 0},
};

static void usage(FILE *f) {
    fprintf(f, "usage: nanogpt <command> [CONFIG] [--key=value ...]\n\ncommands:\n");
    for (const NgCommand *c = commands; c->name; c++) {
        char head[160];
        snprintf(head, sizeof head, "%s %s", c->name, c->args);
        fprintf(f, "  %-44s %s\n", head, c->help);
    }
    fprintf(f, "  %-44s %s\n", "help", "this text and every config key");
    fprintf(f, "\nCONFIG is a nanoGPT-style config file (key = value lines); --key=value overrides apply in order.\n");
    if (ng_dist_built_with_mpi()) fprintf(f, "multi-process training: mpirun -np N ./nanogpt train ... (MPI: %s)\n", ng_dist_library());
    else fprintf(f, "multi-process training: not in this build (built without MPI; `make MPI=1` with an MPI installed)\n");
}

/* the README's key table, from the config table (tests/e2e_train.sh checks they agree) */
static void print_keys_markdown(void) {
    printf("| key | default | used by | meaning |\n|---|---|---|---|\n");
    for (const NgKey *k = ng_keys; k->name; k++) {
        if (k->type == NG_IGNORED) continue;
        char def[64], cmds[128];
        if (k->type == NG_STRING) snprintf(def, sizeof def, "'%s'", strcmp(k->def, "\n") ? k->def : "\\n");
        else snprintf(def, sizeof def, "%s", k->def);
        size_t o = 0;
        for (const char *c = k->cmds; *c && o + 3 < sizeof cmds; c++) {
            if (*c == ',') { cmds[o++] = ','; cmds[o++] = ' '; } else cmds[o++] = *c;
        }
        cmds[o] = 0;
        printf("| %s | %s | %s | %s |\n", k->name, def, cmds, k->help);
    }
}

static void print_keys(void) {
    printf("\nconfig keys (default):\n");
    for (const NgKey *k = ng_keys; k->name; k++) {
        if (k->type == NG_IGNORED) continue;
        char def[64];
        if (k->type == NG_STRING) snprintf(def, sizeof def, "'%s'", strcmp(k->def, "\n") ? k->def : "\\n");
        else snprintf(def, sizeof def, "%s", k->def);
        printf("  %-28s %-14s %s [%s]\n", k->name, def, k->help, k->cmds);
    }
    printf("\naccepted and ignored (nanoGPT keys without meaning here):");
    for (const NgKey *k = ng_keys; k->name; k++) if (k->type == NG_IGNORED) printf(" %s", k->name);
    printf("\n");
}

/* the one place that prints an error: "nanogpt: <message>", exit status 1. Under mpirun, a
 * failure every rank agreed on (ng_dist_agree) is reported once and every rank ends normally;
 * a failure of one rank alone names the rank and ends the whole job (MPI_Abort), so no rank
 * is left waiting for it. */
static int die_last(void) {
    if (ng_dist_world() > 1 && !ng_dist_stopping_together()) {
        fprintf(stderr, "nanogpt: rank %d: %s\n", ng_dist_rank(), ng_errmsg());
        fflush(stderr);
        ng_dist_abort(1);
    }
    if (ng_dist_reporter()) fprintf(stderr, "nanogpt: %s\n", ng_errmsg());
    ng_dist_finalize();
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc > 2 && !strcmp(argv[2], "--markdown")) { print_keys_markdown(); return 0; }
        usage(stdout); print_keys(); return 0;
    }
    const NgCommand *cmd = NULL;
    for (const NgCommand *c = commands; c->name; c++) if (!strcmp(c->name, name)) cmd = c;
    if (!cmd) { fprintf(stderr, "nanogpt: unknown command '%s'\n", name); usage(stderr); return 2; }
    if (ng_dist_init(&argc, &argv) != 0) return die_last();   /* under mpirun: one rank of the job */
    NgConfig cfg;
    if (ng_config_defaults(&cfg) != 0) return die_last();
    int n_conf = argc - 2;   /* export's last argument is its output PATH, not a config file */
    if (!strcmp(name, "export") && n_conf > 0 && strncmp(argv[argc - 1], "--", 2) != 0) n_conf--;
    int ok;
    if (cmd->positional) {                   /* only the --key=value arguments are config */
        ok = 1;
        for (int i = 2; i < argc && ok; i++)
            if (!strncmp(argv[i], "--", 2) && ng_config_parse_args(&cfg, 1, argv + i) != 0) ok = 0;
    } else ok = ng_config_parse_args(&cfg, n_conf, argv + 2) == 0;
    if (ok && ng_dist_world() > 1 && strcmp(name, "train") != 0)
        ok = ng_fail("%s runs as one process; only train runs over several ranks under mpirun", name) == 0;
    if (!ng_dist_agree(ok)) return die_last();
    if (cmd->run(&cfg, argc - 2, argv + 2) != 0) return die_last();
    ng_dist_finalize();
    return 0;
}
