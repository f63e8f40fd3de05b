/* import.h -- GPT-2 weights in and out (io/import.c). Internal header.
 *
 * Hugging Face GPT-2 (model.safetensors + config.json, the layout of the openai-community/gpt2*
 * repositories and of GPT2LMHeadModel.save_pretrained), and llm.c's model file (gpt2_124M.bin:
 * a 256 x int32 header then every parameter, float32 in version 3, bfloat16 in version 5).
 *
 * Every function returns 0 or -1 with a one-line ng_errmsg() naming the file.
 */
#ifndef NG_IMPORT_H
#define NG_IMPORT_H
#include "nanogpt.h"

/* gelu_override for ng_import_hf */
#define NG_GELU_FROM_CONFIG (-1)        /* config.json's activation_function (gelu_new if absent) */

/* Loads GPT-2 weights into a new model (m need not be initialised; on failure it is left
 * zeroed). spec: gpt2 | gpt2-medium | gpt2-large | gpt2-xl (looked up in the Hugging Face cache:
 * $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub, repos
 * models--openai-community--NAME and models--NAME), or the path of a model.safetensors file or of
 * a directory holding one; a config.json beside the file is read when present.
 * block_size: 0 keeps the file's n_positions, smaller crops wpe (nanoGPT's crop_block_size),
 * larger is an error. gelu_override: NG_GELU_FROM_CONFIG, 0 (exact erf) or 1 (tanh).
 * The model has bias=True and dropout 0: set m->args.dropout afterwards to finetune with dropout. */
int ng_import_hf(const char *spec, NgModel *m, int block_size, int gelu_override);

/* Writes dir/model.safetensors (HF GPT-2 names without prefix, Conv1D [in, out] layout, F32,
 * metadata {"format": "pt"}) and dir/config.json (a GPT2Config); creates dir. A model without
 * biases is written with zero biases (equivalent), with a notice on stderr. GPT models only. */
int ng_export_hf(const NgModel *m, const char *dir);

/* The lecture's own state_dict (gpt.py's GPTLanguageModel or bigram.py's BigramLanguageModel:
 * token_embedding_table.weight, blocks.0.sa.heads.0.key.weight, ..., lm_head.bias) as one
 * safetensors file at path; meta_json (may be NULL) is stored as metadata "meta". A GPT must
 * have the lecture's ReLU and no key/query/value bias (export_lecture.c). */
int ng_export_lecture(const NgModel *m, const char *path, const char *meta_json);

/* llm.c's model file, version 3 (float32); vocab padded to a multiple of 128 with zero rows.
 * llm.c always uses biases and the tanh GELU: zero biases are written for a bias=False model and
 * a notice is printed for an erf-GELU model. Written atomically (path.tmp + rename). */
int ng_export_llmc(const NgModel *m, const char *path);
/* Reads an llm.c model file (version 3 float32 or version 5 bfloat16), checking the header and
 * the exact file size. The model gets bias=True, tanh GELU; block_size as for ng_import_hf. */
int ng_import_llmc(const char *path, NgModel *m, int block_size);
/* The same on an in-memory image (for fuzzing); `name` is used in errors. */
int ng_llmc_parse(const uint8_t *buf, size_t size, const char *name, NgModel *m, int block_size);

/* init_from=SPEC for train/sample/eval: an llm.c model file (recognised by its magic) goes to
 * ng_import_llmc, anything else (gpt2* names, HF files and directories) to ng_import_hf.
 * gelu_override >= 0 also applies to llm.c files (which are tanh otherwise). */
int ng_import_pretrained(const char *spec, NgModel *m, int block_size, int gelu_override);
/* 1 if spec names something ng_import_pretrained takes rather than scratch/resume: a gpt2* name,
 * or an existing file or directory */
int ng_is_pretrained_spec(const char *spec);

/* exact conversions of 16-bit floats (IEEE half, bfloat16) to float */
float ng_f16_to_f32(uint16_t h);
float ng_bf16_to_f32(uint16_t b);

#define NG_LLMC_MODEL_MAGIC 20240326
#define NG_LLMC_TOKENS_MAGIC 20240520
#endif
