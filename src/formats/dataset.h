/* dataset.h -- internal: token files (dataset.c) as other layers see them. */
#ifndef NG_DATASET_H
#define NG_DATASET_H
#include "nanogpt.h"

#define NG_LLMC_TOKENS_MAGIC 20240520      /* llm.c's token shard header (int32 magic) */
#endif
