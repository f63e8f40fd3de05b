/* import.h -- internal parts of GPT-2 weights in and out (src/persistence/hf.c, llmc.c): the public calls are
 * in nanogpt.h (ng_import_hf, ng_export_hf, ng_import_llmc, ng_export_llmc, ...). */
#ifndef NG_IMPORT_H
#define NG_IMPORT_H
#include "nanogpt.h"
#include "formats/safetensors.h"     /* ng_f16_to_f32, ng_bf16_to_f32 */

/* An llm.c model file in memory (for fuzzing); `name` is used in errors. */
int ng_llmc_parse(const uint8_t *buf, size_t size, const char *name, NgModel *m, int block_size);

/* GPT-2's layouts (HF, llm.c) hold nanoGPT's architecture only: a GPT with GELU and lm_head
 * tied to wte; otherwise -1 with an error naming path ("exported <what>") */
int ng_gpt2_architecture(const NgModel *m, const char *path, const char *what);

/* 1 if path is a file that starts with llm.c's model magic */
int ng_llmc_is_model_file(const char *path);
int ng_llmc_is_token_shard(const char *path);     /* llm.c's token file (magic 20240520) */

#define NG_LLMC_MODEL_MAGIC 20240326
#endif
