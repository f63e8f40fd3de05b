/* cmd_export.c -- `nanogpt export --out_dir=DIR --format=hf|llmc|lecture PATH`: the model of
 * DIR/ckpt.safetensors as weights another program can load:
 *   hf       PATH is a directory: PATH/model.safetensors + PATH/config.json (Hugging Face
 *            GPT2LMHeadModel.from_pretrained(PATH), or init_from=PATH here)
 *   llmc     PATH is llm.c's model file (gpt2_124M.bin layout, version 3, float32)
 *   lecture  PATH is a safetensors file of the lecture's gpt.py (or bigram.py) state_dict
 * PATH is the last argument (main.c keeps it out of the config parsing). */
#include "cli/commands.h"
#include "persistence/import.h"
#include "base/util.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int ng_cmd_export(NgConfig *cfg, int argc, char **argv) {
    const char *out = argc > 0 && strncmp(argv[argc - 1], "--", 2) != 0 ? argv[argc - 1] : NULL;
    if (!out || !*out) return ng_fail("export: give the output PATH as the last argument (nanogpt export --out_dir=DIR --format=hf|llmc|lecture PATH)");
    int hf = !strcmp(cfg->format, "hf"), llmc = !strcmp(cfg->format, "llmc"), lecture = !strcmp(cfg->format, "lecture");
    if (!hf && !llmc && !lecture) return ng_fail("--format: must be hf, llmc or lecture, got '%s'", cfg->format);
    char ckpt[600];
    if (snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", cfg->out_dir) >= (int)sizeof ckpt) return ng_fail("%s: path too long", cfg->out_dir);
    /* never onto the file being read: the output (or a file inside it) must not be the checkpoint */
    char target[1200];
    struct stat cs, ts;
    const char *names[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < (hf ? 2 : 1); i++) {
        if (hf) snprintf(target, sizeof target, "%s/%s", out, names[i]);
        else snprintf(target, sizeof target, "%s", out);
        if (stat(ckpt, &cs) == 0 && stat(target, &ts) == 0 && cs.st_dev == ts.st_dev && cs.st_ino == ts.st_ino)
            return ng_fail("%s: is the checkpoint being exported (%s): choose another output path", target, ckpt);
    }
    NgModel m;
    NgTokenizer tok;
    if (ng_checkpoint_load(ckpt, &m, NULL, NULL, &tok, 0) != 0) return -1;
    int rc;
    if (lecture) {
        char *meta = tok.kind != NG_TOK_NONE ? ng_tokenizer_meta_json(&tok) : NULL;
        rc = ng_export_lecture(&m, out, meta);
        free(meta);
    } else rc = hf ? ng_export_hf(&m, out) : ng_export_llmc(&m, out);
    if (rc == 0) {
        if (hf) printf("wrote %s/model.safetensors and %s/config.json (%zu parameters)\n", out, out, m.num_params);
        else if (llmc) printf("wrote %s (llm.c model file, version 3, %zu parameters)\n", out, m.num_params);
        else printf("wrote %s (the lecture's %s state_dict, %zu parameters)\n", out,
                    m.args.model_type == NG_MODEL_BIGRAM ? "bigram.py" : "gpt.py", m.num_params);
    }
    ng_tokenizer_free(&tok);
    ng_model_free(&m);
    return rc;
}
