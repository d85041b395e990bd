/* What every log of the disk tier must do with damage (disk/log_record.h),
 * checked on a sample log of any kind through a reader of that kind:
 *
 *   - every prefix of the log (a crash that kept the first k bytes) reads
 *     as the records wholly inside it, then the end (k at a record's end)
 *     or a torn tail at the start of the record cut; never corruption
 *     (but for a log whose first record is durable by protocol, the
 *     manifest, cut inside that record);
 *   - a byte flipped anywhere in record r reads as records 0 .. r-1, then
 *     a problem at r's start: corruption exactly when a later record
 *     claims r's bytes were durable, a torn tail otherwise; never a
 *     record with other content;
 *   - zeros or bytes at random after the log read as a torn tail where
 *     the log ended.
 * Each variant is read from a buffer of exactly its size, so that
 * AddressSanitizer sees any read past it.
 *
 * A reader reads a whole log and returns XETS_OK (read to its end),
 * XETS_TORN or XETS_CORRUPT, with *at the offset where the valid part
 * ends or the problem is, and *digest a hash of everything it accepted. */
#ifndef XETS_TEST_LOG_CHECK_H
#define XETS_TEST_LOG_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/bytes.h"
#include "rng.h"
#include "status.h"

typedef int (*log_read_fn)(const uint8_t *buf, size_t len, uint64_t *at, uint64_t *digest);

typedef struct log_kind {
    const char *name;
    log_read_fn read;
    int empty;          /* what an empty file reads as (unless first_durable) */
    bool first_durable; /* any damage to the first record is corruption */
} log_kind_t;

#define LOG_SAMPLE_MAX 4096

/* A log as written: its bytes, where each record ends, what each claims
 * durable. */
typedef struct log_sample {
    bytes_t b;
    size_t n;
    uint64_t ends[LOG_SAMPLE_MAX];
    uint64_t synced[LOG_SAMPLE_MAX];
} log_sample_t;

/* Notes the record just appended to s->b, written claiming synced. */
static inline void log_sample_mark(log_sample_t *s, uint64_t synced)
{
    CHECK(s->n < LOG_SAMPLE_MAX && !s->b.nomem, "sample too long");
    s->ends[s->n] = s->b.len;
    s->synced[s->n++] = synced;
}

static inline uint64_t log_sample_start(const log_sample_t *s, size_t r)
{
    return r ? s->ends[r - 1] : 0;
}

/* Reads p[0 .. len) from a copy of exactly that size. */
static inline int log_read_exact(const log_kind_t *k, const uint8_t *p, size_t len, uint64_t *at,
                                 uint64_t *digest)
{
    uint8_t *copy = malloc(len ? len : 1);
    CHECK(copy, "out of memory");
    if (len)
        memcpy(copy, p, len);
    *at = UINT64_MAX;
    *digest = 0;
    int st = k->read(copy, len, at, digest);
    free(copy);
    return st;
}

/* Checks a damaged read: want records 0 .. j-1 accepted and status want
 * at the start of record j. ref[j]: the digest of records 0 .. j-1. */
static inline void log_expect(const log_kind_t *k, const log_sample_t *s, const uint64_t *ref,
                              const uint8_t *p, size_t len, size_t j, int want, const char *what,
                              size_t where)
{
    uint64_t at, digest;
    int st = log_read_exact(k, p, len, &at, &digest);
    CHECK(st == want, "%s: %s %zu: status %d, not %d", k->name, what, where, st, want);
    CHECK(at == log_sample_start(s, j), "%s: %s %zu: at %llu, not %llu", k->name, what, where,
          (unsigned long long)at, (unsigned long long)log_sample_start(s, j));
    if (st != XETS_CORRUPT)
        CHECK(digest == ref[j], "%s: %s %zu: other content than the records before", k->name,
              what, where);
}

/* ref[j] for j = 0 .. s->n: the digests of the whole prefixes. */
static inline void log_reference(const log_kind_t *k, const log_sample_t *s, uint64_t *ref)
{
    uint64_t at;
    ref[0] = 0;
    for (size_t j = 1; j <= s->n; j++) {
        int st = log_read_exact(k, s->b.p, s->ends[j - 1], &at, &ref[j]);
        CHECK(st == XETS_OK && at == s->ends[j - 1], "%s: the first %zu records read as %d at %llu",
              k->name, j, st, (unsigned long long)at);
    }
}

/* What damage at the start of record r reads as (see the top). */
static inline int log_damage_status(const log_kind_t *k, const log_sample_t *s, size_t r)
{
    if (r == 0 && k->first_durable)
        return XETS_CORRUPT;
    for (size_t q = r + 1; q < s->n; q++)
        if (s->synced[q] > log_sample_start(s, r))
            return XETS_CORRUPT;
    return XETS_TORN;
}

static inline void log_check_prefixes(const log_kind_t *k, const log_sample_t *s)
{
    uint64_t *ref = malloc((s->n + 1) * sizeof *ref);
    CHECK(ref, "out of memory");
    log_reference(k, s, ref);
    size_t j = 0; /* records wholly inside the prefix */
    for (size_t len = 0; len <= s->b.len; len++) {
        while (j < s->n && s->ends[j] <= len)
            j++;
        int want = len == log_sample_start(s, j) ? XETS_OK : XETS_TORN;
        if (j == 0)
            want = k->first_durable ? XETS_CORRUPT : len == 0 ? k->empty : XETS_TORN;
        log_expect(k, s, ref, s->b.p, len, j, want, "prefix", len);
    }
    free(ref);
}

static inline void log_check_flips(const log_kind_t *k, const log_sample_t *s)
{
    static const uint8_t masks[] = {0x01, 0x80, 0xFF};
    uint64_t *ref = malloc((s->n + 1) * sizeof *ref);
    uint8_t *p = malloc(s->b.len);
    CHECK(ref && p, "out of memory");
    log_reference(k, s, ref);
    memcpy(p, s->b.p, s->b.len);
    size_t r = 0; /* the record holding byte i */
    for (size_t i = 0; i < s->b.len; i++) {
        while (s->ends[r] <= i)
            r++;
        for (size_t m = 0; m < sizeof masks; m++) {
            p[i] ^= masks[m];
            log_expect(k, s, ref, p, s->b.len, r, log_damage_status(k, s, r), "flip at", i);
            p[i] ^= masks[m];
        }
    }
    free(p);
    free(ref);
}

/* Zeros, then bytes at random, of every length up to 100 after the log. */
static inline void log_check_tails(const log_kind_t *k, const log_sample_t *s, uint64_t seed)
{
    uint64_t *ref = malloc((s->n + 1) * sizeof *ref);
    uint8_t *p = malloc(s->b.len + 100);
    CHECK(ref && p, "out of memory");
    log_reference(k, s, ref);
    memcpy(p, s->b.p, s->b.len);
    for (int random = 0; random < 2; random++) {
        for (size_t extra = 1; extra <= 100; extra++) {
            for (size_t i = 0; i < extra; i++)
                p[s->b.len + i] = random ? (uint8_t)rng_next(&seed) : 0;
            log_expect(k, s, ref, p, s->b.len + extra, s->n, XETS_TORN,
                       random ? "random tail of" : "zero tail of", extra);
        }
    }
    free(p);
    free(ref);
}

static inline void log_check_all(const log_kind_t *k, const log_sample_t *s, uint64_t seed)
{
    log_check_prefixes(k, s);
    log_check_flips(k, s);
    log_check_tails(k, s, seed);
}

#endif
