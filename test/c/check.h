/* CHECK(cond, fmt, ...): a plain C test's assertion. On failure it prints
 * where, the condition and the message, and exits 1: tests stop at the
 * first failure, and make stops with them.
 *
 * REQUIRE(cond): a fuzz target's, which aborts instead, so that the fuzz
 * driver (or libFuzzer) saves the input that failed. */
#ifndef XETS_TEST_CHECK_H
#define XETS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#endif
