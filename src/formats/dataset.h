/* dataset.h -- internal: token files (dataset.c) as other layers see them. */
#ifndef NG_DATASET_H
#define NG_DATASET_H
#include "nanogpt.h"
#include "base/util.h"

#define NG_LLMC_TOKENS_MAGIC 20240520      /* llm.c's token shard header (int32 magic) */

/* A dataset is three files replaced together: meta.json records the size and a hash of each
 * .bin file ("files": {"train.bin": {"bytes": N, "hash": "16 hex digits"}, ...}), prepare
 * writes all three completely before it renames any into place (NgDatasetWriter, below), and
 * train checks the record, so a dataset replaced half-way is detected instead of trained on. */
typedef struct { uint64_t bytes, hash; } NgFileRecord;
/* hash of a byte stream fed in pieces whose sizes are multiples of 8, the last one aside:
 * start with h = ng_bin_hash_init(), end with ng_bin_hash_final(h, total bytes) */
uint64_t ng_bin_hash_init(void);
uint64_t ng_bin_hash_update(uint64_t h, const void *data, size_t n);
uint64_t ng_bin_hash_final(uint64_t h, uint64_t total);
/* the "files" member for train.bin and val.bin (appended to a meta.json object) */
void ng_files_record_json(NgStr *s, const NgFileRecord *train, const NgFileRecord *val);

/* prepare writing a dataset: open locks the directory (creating it; one prepare at a time,
 * killed prepares' temporaries removed) and starts train.bin and val.bin as temporary files;
 * append adds token ids (< 65536) to one of them (split 0 train, 1 val), hashing the bytes;
 * commit finishes both, writes meta.json (the tokenizer's JSON object tok_json with the files
 * record added) and only when all three are complete renames them into place, meta.json
 * first. A prepare that fails or is killed before then leaves the previous dataset as it
 * was; one stopped between the renames leaves files that disagree with meta.json, which
 * train detects. close removes what was not committed and unlocks (always call it). */
typedef struct {
    char dir[NG_PATH_MAX];
    int lock;
    NgAtomicFile bin[2];             /* train.bin, val.bin */
    uint64_t hash[2], n_tokens[2];   /* hash of the bytes written so far; ids appended */
    uint16_t buf[2][1 << 15];        /* little-endian ids, written and hashed when full */
    size_t nbuf[2];
} NgDatasetWriter;
int ng_dataset_writer_open(NgDatasetWriter *w, const char *out_dir);
int ng_dataset_append(NgDatasetWriter *w, int split, const int *ids, size_t n);
int ng_dataset_append_u16(NgDatasetWriter *w, int split, const uint16_t *ids, size_t n);
int ng_dataset_commit(NgDatasetWriter *w, const char *tok_json);
void ng_dataset_writer_close(NgDatasetWriter *w);
/* checks an opened token file against meta_path's record of it (none: nothing to check) */
int ng_tokenfile_check_record(const NgTokenFile *f, const char *meta_path, const char *name);
#endif
