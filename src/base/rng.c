/* rng.c -- small, reproducible random numbers.
 *
 * The whole generator state is one uint64 (NgRng.s), so a checkpoint can store it and a
 * resumed run continues the exact same sequence. The generator is splitmix64: the state
 * advances by a fixed odd constant (the "golden gamma") and each output is the state pushed
 * through a 64-bit mixing function (ng_hash64). It passes BigCrush, accepts any seed
 * (including 0), and every step is plain integer arithmetic, so the integer and uniform
 * streams are bit-identical on every platform.
 */
#include "base/rng.h"
#include <math.h>

#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ull

/* splitmix64's finaliser: a bijective avalanche mix of 64 bits. Also used on its own as a
 * counter-based hash (e.g. dropout masks from (seed, position)). */
uint64_t ng_hash64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void ng_rng_seed(NgRng *r, uint64_t seed) { r->s = seed; }

uint64_t ng_rng_u64(NgRng *r) {
    r->s += GOLDEN_GAMMA;
    return ng_hash64(r->s);
}

/* The top 24 bits scaled by 2^-24: every value is exactly representable in a float, so the
 * result is in [0,1) and never rounds up to 1.0f. */
float ng_rng_uniform(NgRng *r) {
    return (float)(ng_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

/* Box-Muller, stateless (no cached second value, so the state stays one u64): each call
 * draws two uniforms and returns one N(0,1) sample. u1 is taken in (0,1] so log(u1) is
 * finite; the largest possible |z| is sqrt(-2 ln 2^-24) ~= 5.77. */
float ng_rng_normal(NgRng *r) {
    double u1 = ((double)(ng_rng_u64(r) >> 40) + 1.0) * (1.0 / 16777216.0);   /* (0,1] */
    double u2 = (double)(ng_rng_u64(r) >> 40) * (1.0 / 16777216.0);           /* [0,1) */
    const double two_pi = 6.283185307179586476925286766559;
    return (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
}
