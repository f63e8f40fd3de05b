/* dataset.h -- internal: token files (dataset.c) as other layers see them. */
#ifndef NG_DATASET_H
#define NG_DATASET_H
#include "nanogpt.h"
#include "base/util.h"

#define NG_LLMC_TOKENS_MAGIC 20240520      /* llm.c's token shard header (int32 magic) */

/* A dataset is three files replaced together: meta.json records the size and a hash of each
 * .bin file ("files": {"train.bin": {"bytes": N, "hash": "16 hex digits"}, ...}), prepare
 * writes it before the .bin files, and train checks it, so a dataset replaced half-way (a full
 * disk, a kill during prepare) is detected instead of trained on. */
typedef struct { uint64_t bytes, hash; } NgFileRecord;
/* hash of a byte stream fed in pieces whose sizes are multiples of 8, the last one aside:
 * start with h = ng_bin_hash_init(), end with ng_bin_hash_final(h, total bytes) */
uint64_t ng_bin_hash_init(void);
uint64_t ng_bin_hash_update(uint64_t h, const void *data, size_t n);
uint64_t ng_bin_hash_final(uint64_t h, uint64_t total);
/* the "files" member for train.bin and val.bin (appended to a meta.json object) */
void ng_files_record_json(NgStr *s, const NgFileRecord *train, const NgFileRecord *val);
/* prepare: the dataset directory created and locked (returns the lock, ng_dir_unlock it),
 * killed prepares' temporaries removed; meta.json written from the tokenizer's JSON object
 * and the records of the two .bin files */
int ng_dataset_begin(const char *out_dir);
int ng_dataset_write_meta(const char *out_dir, const char *tok_json, const NgFileRecord *train, const NgFileRecord *val);
/* checks an opened token file against meta_path's record of it (none: nothing to check) */
int ng_tokenfile_check_record(const NgTokenFile *f, const char *meta_path, const char *name);
#endif
