/* A seeded pseudo-random stream for tests (xorshift64*): the same seed
 * gives the same run. The state must not be 0. */
#ifndef XETS_TEST_RNG_H
#define XETS_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* 0 .. n - 1 (0 when n is 0). */
static inline size_t rng_below(uint64_t *s, size_t n)
{
    return n ? (size_t)(rng_next(s) % n) : 0;
}

#endif
