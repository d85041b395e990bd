/* The filter of an SSTable (doc/sstable_format.md, "The filter"): a bloom
 * filter over the hashes of the table's distinct keys, stored as the meta
 * block SST_FILTER_NAME, so that a lookup of a key the table does not hold
 * usually reads no data block. Pure: a block's bytes in memory, no I/O, no
 * checksum (the trailer is sstable.c's).
 *
 *   u32 lines          64-byte lines of bits, >= 1
 *   u8  probes         bits set per key, 1 to SST_FILTER_PROBES_MAX
 *   u8  zero[3]
 *   line[lines]        64 bytes, 512 bits: bit b is bit b % 8 of byte b / 8
 *
 * The hash is XXH3-64 (seed 0) of the sort key, computed once per key
 * (sst_key_hash) and handed to every table a lookup asks. Its high 32 bits
 * pick the key's line, multiply-shift onto [0, lines); its low 32 bits, x,
 * give the probes: the top 9 bits of x are a bit of the line, then x is
 * multiplied by an odd constant for the next (each product mixes every bit
 * of x into its top bits, so the probes are as good as independent).
 *
 * Why blocked (Putze, Sanders, Singler, "Cache-, hash- and space-efficient
 * bloom filters"; RocksDB's format_version 5 filter is one): all of a key's
 * probes fall in one cache line, so a lookup costs one cache miss per
 * table, where a classic bloom filter costs up to one per probe; every
 * write of a persistent table asks each table once. The price is a
 * slightly higher false positive rate at the same size (keys spread
 * unevenly over lines): about 1% at SST_FILTER_BITS bits per key and
 * SST_FILTER_PROBES probes, against 0.8% for a classic one.
 *
 * Invariants a reader checks: lines >= 1, probes within range, the zero
 * bytes zero, and the block exactly 8 + 64 * lines bytes. A filter never
 * says no for a key it was built with: the reader cannot check that at
 * open, so sstable.c checks it on a walk over the whole table.
 *
 * Thread-safety: a builder is used by one thread; a filter read is
 * immutable, any number of threads may ask it at once. */
#ifndef XETS_DISK_SSTABLE_FILTER_H
#define XETS_DISK_SSTABLE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../status.h"
#include "bytes.h"

#define SST_FILTER_NAME "filter.bloom1" /* its name in the meta-index */
#define SST_FILTER_BITS 10              /* bits of filter a builder gives each key */
#define SST_FILTER_PROBES 6             /* the best count for 10 bits per key, measured */
#define SST_FILTER_PROBES_MAX 30
#define SST_FILTER_HEADER 8
#define SST_FILTER_LINE 64 /* bytes of a line: a cache line */
/* Lines at most, so that a filter block stays under 4 GiB, as every
 * block (a table of more keys gets a filter of more than 10 keys a line). */
#define SST_FILTER_LINES_MAX ((UINT32_MAX - SST_FILTER_HEADER) / SST_FILTER_LINE)

/* The hash a filter is built and asked with: of a sort key. */
uint64_t sst_key_hash(const unsigned char *key, size_t klen);

/* ---- building ---- */

/* The hashes of the keys added so far, u64 LE each (8 bytes a key until
 * the filter is made: the number of lines is known only at the end).
 * Starts all zero. */
typedef struct sst_filter_builder {
    bytes_t hashes;
} sst_filter_builder_t;

void sst_fb_free(sst_filter_builder_t *fb);

static inline size_t sst_fb_keys(const sst_filter_builder_t *fb)
{
    return fb->hashes.len / 8;
}

/* Adds a distinct key's hash: XETS_OK or XETS_NOMEM (nothing added). */
int sst_fb_add(sst_filter_builder_t *fb, uint64_t hash);

/* The filter block of the keys added, into out (replacing what it held),
 * with room for extra more bytes (the caller's trailer). XETS_OK or
 * XETS_NOMEM. */
int sst_fb_finish(const sst_filter_builder_t *fb, bytes_t *out, size_t extra);

/* ---- reading ---- */

/* A filter held in memory: its lines aligned on 64 bytes, so that a line
 * is one cache line. All zero: no filter. */
typedef struct sst_filter {
    unsigned char *lines;
    uint32_t nlines;
    unsigned probes;
} sst_filter_t;

/* Checks the len bytes of a filter block at p and copies its lines into
 * *f. XETS_OK; XETS_CORRUPT with *bad the offset from p of the bad field;
 * XETS_NOMEM. */
int sst_filter_read(sst_filter_t *f, const unsigned char *p, size_t len, size_t *bad);
void sst_filter_free(sst_filter_t *f);

/* False only if no key of the hash was added to the filter (true when
 * there is no filter). Memory only. */
bool sst_filter_may_contain(const sst_filter_t *f, uint64_t hash);

/* Bytes the filter holds in memory. */
static inline size_t sst_filter_bytes(const sst_filter_t *f)
{
    return (size_t)f->nlines * SST_FILTER_LINE;
}

#endif
