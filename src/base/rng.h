/* rng.h -- internal: the mixing function under NgRng, used on its own as a counter-based hash
 * (dropout masks, initial weights, evaluation batches). */
#ifndef NG_RNG_H
#define NG_RNG_H
#include "nanogpt.h"
uint64_t ng_hash64(uint64_t x);                        /* splitmix64's finaliser */
#endif
