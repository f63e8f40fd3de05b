/* eval.c -- `nanogpt eval`: the loss of a checkpoint (or of pretrained weights) on both splits. */
#include "app/run.h"
#include "base/util.h"
#include "app/config.h"
#include "model/model.h"
#include "persistence/import.h"
#include <stdio.h>
#include <string.h>

/* `eval`: the loss of the checkpoint in out_dir (or of pretrained weights) on both splits */
int ng_eval(const NgConfig *cfg_in) {
    NgConfig cfg = *cfg_in, saved;
    NgRun run;
    memset(&run, 0, sizeof run);
    if (ng_load_for_inference(&cfg, &run.model, &saved, &run.tok) != 0) return -1;
    /* the checkpoint's dataset and batch shape unless given on the command line */
    if (!ng_config_was_set(&cfg, "dataset")) snprintf(cfg.dataset, sizeof cfg.dataset, "%s", saved.dataset);
    if (!ng_config_was_set(&cfg, "batch_size")) cfg.batch_size = saved.batch_size;
    if (!ng_config_was_set(&cfg, "block_size")) cfg.block_size = run.model.args.block_size;
    if (!ng_config_was_set(&cfg, "eval_iters")) cfg.eval_iters = saved.eval_iters;
    int rc = -1, T = cfg.block_size;
    ng_config_model_keys(&cfg, &run.model.args);      /* the checkpoint's model keys are the ones validated */
    cfg.block_size = T;
    char source[NG_PATH_MAX];                              /* where the model came from, for messages */
    if (ng_config_was_set(&cfg, "init_from") && ng_is_pretrained_spec(cfg.init_from)) snprintf(source, sizeof source, "%s", cfg.init_from);
    else snprintf(source, sizeof source, "%s/ckpt.safetensors", cfg.out_dir);
    if (cfg.block_size > run.model.args.block_size)
        ng_fail("%s/ckpt.safetensors: block_size %d is larger than the checkpoint's %d", cfg.out_dir, cfg.block_size, run.model.args.block_size);
    else if (ng_config_validate(&cfg) == 0 && ng_check_dataset_tokenizer(&cfg, &run.tok, source) == 0 &&
             ng_model_check_memory(&run.model.args, cfg.batch_size, cfg.block_size, 0, 1) == 0 &&
             ng_run_open_data(&run, &cfg, run.model.args.vocab_size, cfg.block_size) == 0) {
        run.x = ng_malloc(sizeof(int) * cfg.batch_size * cfg.block_size, "a batch");
        run.y = ng_malloc(sizeof(int) * cfg.batch_size * cfg.block_size, "a batch");
        float tl, vl;
        if (run.x && run.y && ng_estimate_loss(&run, &cfg, 0, NULL, &tl, &vl) == 0) {
            printf("train loss %.4f, val loss %.4f\n", tl, vl);
            rc = 0;
        }
    }
    ng_run_close(&run);
    return rc;
}
