/* prepare.h -- internal: `prepare` for GPT-2's tokenizer (ng_prepare_char, the char one, is
 * public). */
#ifndef NG_PREPARE_H
#define NG_PREPARE_H
#include "nanogpt.h"

/* `prepare --tokenizer=gpt2`: input text -> out_dir/{train.bin,val.bin,meta.json} with
 * nanoGPT's split (train = the first 90% of the characters, val = the rest, each encoded with
 * encode_ordinary), streaming the input in chunks of about chunk_bytes (0 = default 16 MiB).
 * meta.json is {"tokenizer": "gpt2", "vocab_size": 50257}. */
int ng_prepare_gpt2(const char *input_path, const char *out_dir, int verbose, size_t chunk_bytes);
#endif
