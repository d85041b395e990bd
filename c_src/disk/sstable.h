/* SSTables: immutable sorted files of entries (DESIGN.md, "The disk
 * tier"; the byte layout, its rules and what a reader does with bad bytes
 * are in doc/sstable_format.md). This is the pure codec: the builder hands
 * its bytes to a write callback and the reader asks a read callback for
 * the bytes it needs, so that the same code writes a file through fs.h or
 * a buffer in a test, and reads a file, a cache or a buffer.
 *
 *   data block | trailer  ...     blocks of about SST_BLOCK_SIZE bytes of entries
 *   filter | trailer              a bloom filter of the keys (sstable_filter.h)
 *   meta-index | trailer          the named blocks before it: the filter
 *   index | trailer               per data block: a separator key -> its handle
 *   footer                        SST_FOOTER_SIZE bytes: handles, names, counts
 *
 * An entry is a key (the store's sort key, store.h, "Order"), a sequence
 * number, a kind (a byte the format does not interpret: put, tombstone,
 * bag object for the LSM store) and a value (an object's external term
 * format). Entries are in key order (memcmp, a proper prefix first), a
 * key's entries in descending sequence numbers, newest first; no two have
 * the same key and sequence number.
 *
 * Checksums. Every block is followed by a trailer, a type byte (0: stored
 * plainly, 1: an LZ4-compressed data block, sstable_compress.h) and the
 * XXH3-64 of the stored bytes and the type byte; the footer's
 * first 8 bytes are the XXH3-64 of the other bytes of the footer. Every
 * byte of a file is under one checksum, so that flipped or torn bytes are
 * found: at open for the footer, the index, the meta-index and the filter,
 * when a block is read for a data block. The reader also checks every rule
 * a walk meets (lengths within their block, order of keys, separators,
 * handles, counts, and on a walk over the whole table that the filter
 * passes every key), so that no bytes, even carrying right checksums, make
 * it read out of bounds, and a walk over the whole table is a full check
 * of it.
 *
 * The filter. A builder hashes each distinct key (sst_key_hash) and
 * writes the filter unless told not to; a table of no entry has none, nor
 * has one of an older writer, whose every key may be there. A lookup asks
 * sst_reader_may_contain first, with the hash computed once for all the
 * tables it asks; sst_get itself does not ask, and no walk skips.
 *
 * Errors. XETS_CORRUPT with call->error naming the file, the part
 * ("footer", "index", "meta-index", "filter", "block") and the offset of the bad
 * field or block; XETS_BADARG (call->error.op "version") for a table of a
 * format version this code does not read; a failure of the read or write
 * callback passes through as it came (XETS_IO, XETS_NEED_IO, ...).
 *
 * Thread-safety: a builder is used by one thread. A reader is immutable
 * once open: any number of threads may read through it at once (its read
 * callback must allow that), each with iterators of its own; an iterator
 * is used by one thread. */
#ifndef XETS_DISK_SSTABLE_H
#define XETS_DISK_SSTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../call.h"
#include "../status.h"
#include "sstable_block.h"
#include "sstable_filter.h"

/* Format versions. 2: data blocks may be stored compressed, written
 * unless the options say no_compression; 1: every block raw, written
 * when they do, so that such a table reads with older code too. This
 * code reads both. */
#define SST_VERSION 2
#define SST_VERSION_RAW 1
#define SST_FOOTER_SIZE 112
#define SST_TRAILER_SIZE 9              /* a block's type byte and checksum */
#define SST_NAME_MAX 15                 /* bytes of an order or encoding name */
#define SST_BLOCK_SIZE 4096             /* default target size of a data block */
#define SST_RESTART_INTERVAL 16         /* default entries between restart points */
#define SST_ENTRY_MAX ((size_t)1 << 30) /* bytes of an entry's key and value together */

/* Writes len bytes at off, all or a failure status (call->error filled).
 * A builder writes its file in one pass from offset 0. */
typedef int (*sst_write_fn)(void *ctx, uint64_t off, const void *p, size_t len, xets_call_t *call);
/* Reads len bytes at off into buf, all or a failure status (call->error
 * filled). A reader asks only for bytes within the size it was given. */
typedef int (*sst_read_fn)(void *ctx, uint64_t off, void *buf, size_t len, xets_call_t *call);

/* ---- building ---- */

typedef struct sst_options {
    const char *order;         /* the store's order (store.h): "key", "hash.2" */
    const char *encoding;      /* the key encoding (key_codec.h): "ordered.1", "exact.1" */
    size_t block_size;         /* target bytes of a data block; 0: SST_BLOCK_SIZE */
    unsigned restart_interval; /* 0: SST_RESTART_INTERVAL */
    bool no_filter;            /* none written, as by a writer before filters (tests) */
    bool no_compression;       /* every block raw, a version 1 file (tests, comparisons) */
} sst_options_t;

/* What a finished table is, for the manifest. The keys are the builder's,
 * valid until sst_builder_free; NULL (length 0) for a table of no entry,
 * whose sequence numbers are 0. */
typedef struct sst_built {
    uint64_t size; /* bytes written */
    uint64_t entries;
    uint64_t min_seq, max_seq;
    const unsigned char *smallest, *largest;
    size_t smallest_len, largest_len;
} sst_built_t;

typedef struct sst_builder sst_builder_t;

/* A builder writing through write(ctx, ...). XETS_OK, XETS_BADARG (a name
 * empty, longer than SST_NAME_MAX or not printable ASCII; a block size
 * above SST_ENTRY_MAX), XETS_NOMEM. */
int sst_builder_new(const sst_options_t *o, sst_write_fn write, void *ctx, sst_builder_t **out);
void sst_builder_free(sst_builder_t *b);

/* Appends an entry; a full data block is written out. XETS_OK;
 * XETS_BADARG, with nothing changed, for an entry that does not sort after
 * the last one (by key, then descending seq), key and value above
 * SST_ENTRY_MAX, or a finished builder; else a failure (XETS_NOMEM or the
 * write callback's) after which the builder can only be freed. */
int sst_builder_add(sst_builder_t *b, const unsigned char *key, size_t klen, uint64_t seq,
                    uint8_t kind, const unsigned char *val, size_t vlen, xets_call_t *call);

/* Writes the last data block, the filter, the meta-index, the index and
 * the footer: then the table is whole (the caller makes it durable).
 * Returns XETS_OK with *out filled, or a failure as sst_builder_add. */
int sst_builder_finish(sst_builder_t *b, sst_built_t *out, xets_call_t *call);

/* ---- reading ---- */

/* Where a reader reads: the file's bytes through read(ctx, ...), its size,
 * and its name for errors (the reader keeps a copy). */
/* Optional, beside read: lends data block number blk (sst_reader_block
 * says where it is stored) as sst_reader_unpack made it (checked and
 * uncompressed), held by the source (a cache) for as long as the source
 * says: XETS_OK with the block's bytes *p and size *size, so that a read
 * copies and checks nothing; XETS_NOTFOUND to have it read instead; or a
 * failure, as read's. walk: a walk asks (the blocks after it may follow),
 * not a point lookup (sst_get). */
typedef int (*sst_borrow_fn)(void *ctx, size_t blk, bool walk, const uint8_t **p, size_t *size,
                             xets_call_t *call);

typedef struct sst_source {
    sst_read_fn read;
    sst_borrow_fn borrow; /* NULL: every block is read */
    void *ctx;
    uint64_t size;
    const char *name;
} sst_source_t;

/* What the footer says. */
typedef struct sst_info {
    char order[SST_NAME_MAX + 1];
    char encoding[SST_NAME_MAX + 1];
    uint64_t entries;
    uint64_t min_seq, max_seq; /* 0 for a table of no entry */
} sst_info_t;

typedef struct sst_reader sst_reader_t;

/* Opens the table src holds: reads and checks the footer, the meta-index,
 * the index and the filter (the last two held in memory until close), so
 * that a table that opens has a sound skeleton. XETS_OK, XETS_CORRUPT, XETS_BADARG (its format
 * version), XETS_NOMEM, or the read callback's failure. */
int sst_reader_open(const sst_source_t *src, sst_reader_t **out, xets_call_t *call);
void sst_reader_close(sst_reader_t *r);
const sst_info_t *sst_reader_info(const sst_reader_t *r);
/* How many data blocks the table has. */
size_t sst_reader_blocks(const sst_reader_t *r);
/* False only if the table holds no key of the hash (sst_key_hash of the
 * key): a check of memory, no I/O, safe inside an epoch section. True for
 * a table without a filter. */
bool sst_reader_may_contain(const sst_reader_t *r, uint64_t hash);
/* Bytes of filter the reader holds. */
size_t sst_reader_filter_bytes(const sst_reader_t *r);
/* Bytes the reader holds in all: its index, separators and filter. */
size_t sst_reader_memory(const sst_reader_t *r);
/* Where data block i (< sst_reader_blocks) is stored: its offset and
 * length, trailer included, as the borrow callback is asked for it. */
void sst_reader_block(const sst_reader_t *r, size_t i, uint64_t *off, size_t *len);

/* Turns the data block of r stored at off, read into buf (all its bytes,
 * trailer included), into the block itself: its trailer checked, then
 * decompressed if it was stored so (buf's bytes replaced). The one way a
 * data block becomes readable, for the reader and for a cache that lends
 * blocks (sst_borrow_fn). XETS_OK; XETS_CORRUPT ("block": a checksum at
 * off, a type not known at the type byte's offset, bytes that do not
 * decompress at off); XETS_NOMEM. */
int sst_reader_unpack(const sst_reader_t *r, uint64_t off, bytes_t *buf, xets_call_t *call);

/* An entry read: its bytes are the iterator's, valid until its next step,
 * seek or close. */
typedef struct sst_entry {
    const unsigned char *key;
    size_t klen;
    uint64_t seq;
    uint8_t kind;
    const unsigned char *val;
    size_t vlen;
} sst_entry_t;

/* One end of a range of keys: absent (key NULL), or a key, inclusive or
 * not. The bytes are the caller's, valid while they are in use. */
typedef struct sst_bound {
    const unsigned char *key;
    size_t len;
    bool inclusive;
} sst_bound_t;

#define SST_UNBOUNDED ((sst_bound_t){.key = NULL})

/* Which way a walk goes. Backward yields the entries of a forward walk in
 * exact reverse: keys descending, a key's entries in ascending sequence
 * numbers, oldest first. A key's entries still come together, which is
 * all a merging cursor needs (it gathers a key's entries from every table
 * before it resolves them); exact reverse keeps one rule for both
 * directions (a backward walk is the forward one read from the end) and
 * lets each step check its entry against the one before, as forward. */
typedef enum sst_dir { SST_FORWARD, SST_BACKWARD } sst_dir_t;

/* A walk over the entries between two bounds, in the table's order or
 * its reverse: forward from lo up to hi, backward from hi down to lo.
 * Owned by the caller, for instance on its stack. */
typedef struct sst_iter {
    const sst_reader_t *r;
    sst_bound_t lo, hi;
    sst_dir_t dir;
    sst_bound_t target; /* where a pending seek lands */
    int state;
    size_t blk;   /* the current data block's number */
    bytes_t data; /* its bytes */
    sst_block_iter_t bi;
    uint64_t seq; /* the last entry's */
    /* A walk from the first entry (backward: the last) with no seek on the
     * way checks, at the end, what the footer says of all entries. */
    bool whole;
    uint64_t count, min_seq, max_seq;
    bool point; /* sst_get's: a point lookup, not a walk (sst_borrow_fn) */
} sst_iter_t;

/* Opens it on r between lo and hi, walking dir. No I/O: the first step
 * seeks. */
void sst_iter_open(sst_iter_t *it, const sst_reader_t *r, sst_bound_t lo, sst_bound_t hi,
                   sst_dir_t dir);
void sst_iter_close(sst_iter_t *it);

/* The next entry in the walk's direction into *e: XETS_OK, XETS_END past
 * the bounds or the table, XETS_CORRUPT (after which the iterator can
 * only be closed), or XETS_NOMEM or the read callback's failure, after
 * which the same call tries the same step again. */
int sst_iter_next(sst_iter_t *it, sst_entry_t *e, xets_call_t *call);

/* Moves it, anywhere, so that its next step yields the first entry at or
 * after to (backward: the last at or before to; an absent to is the first
 * entry, backward the last), never one outside the bounds. No I/O: the
 * next step seeks. to's bytes must stay valid until that step. */
void sst_iter_seek(sst_iter_t *it, sst_bound_t to);

/* Returns nonzero to stop the lookup after this entry. */
typedef int (*sst_visit_fn)(void *ctx, const sst_entry_t *e);

/* Visits the entries of key, newest first (a bag key's may span blocks).
 * XETS_OK if there was one, XETS_NOTFOUND if none, or a failure as
 * sst_iter_next. */
int sst_get(const sst_reader_t *r, const unsigned char *key, size_t klen, sst_visit_fn visit,
            void *ctx, xets_call_t *call);

#endif
