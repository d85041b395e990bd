/* The blocks of an SSTable (doc/sstable_format.md): a sorted run of
 * key/value entries with prefix-compressed keys, binary-searchable through
 * restart points, as LevelDB's blocks. Data blocks, the index block and
 * the meta-index block all have this layout; what a value holds is the
 * table's business (sstable.c). Pure: bytes in memory, no I/O, no
 * checksum (the trailer after a block is sstable.c's too).
 *
 *   entry*          varint shared | varint unshared | varint vlen
 *                   | key[shared..shared+unshared) | value[vlen]
 *   restart[n]      u32 LE: offsets of the entries that store their whole key
 *   n               u32 LE
 *
 * Invariants a builder keeps and a reader checks as it walks: keys are in
 * memcmp order, a proper prefix first, equal keys allowed (a key can
 * hold several entries, and an index several blocks of one key); the
 * first entry is a restart point; every restart point is an entry
 * boundary and its entry has shared 0; the restart offsets ascend; n is 0
 * exactly when the block has no entry. A block a reader walked whole
 * without a complaint is one its binary search reads right.
 *
 * Thread-safety: a builder and an iterator are each used by one thread;
 * any number of iterators may read one block's bytes at once. */
#ifndef XETS_DISK_SSTABLE_BLOCK_H
#define XETS_DISK_SSTABLE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../call.h"
#include "../status.h"
#include "bytes.h"

/* ---- building ---- */

typedef struct sst_block_builder {
    bytes_t buf;       /* the entries; after sst_bb_finish, the whole block */
    bytes_t restarts;  /* the restart offsets so far, u32 LE each */
    bytes_t last;      /* the last key added (kept across sst_bb_reset) */
    unsigned interval; /* entries from one restart point to the next */
    unsigned run;      /* entries since the last restart point */
    size_t n;          /* entries in this block */
} sst_block_builder_t;

/* A builder with a restart point every interval (>= 1) entries. */
void sst_bb_init(sst_block_builder_t *bb, unsigned interval);
void sst_bb_free(sst_block_builder_t *bb);

/* Appends an entry whose value is head[0..hlen) then val[0..vlen) (a
 * table's value header and an object, without copying them together
 * first). The key must not sort before the last one and the block must
 * stay under 4 GiB: the caller's to keep. XETS_OK or XETS_NOMEM (nothing
 * appended). */
int sst_bb_add(sst_block_builder_t *bb, const unsigned char *key, size_t klen,
               const unsigned char *head, size_t hlen, const unsigned char *val, size_t vlen);

/* The block's size if finished now. */
static inline size_t sst_bb_size(const sst_block_builder_t *bb)
{
    return bb->buf.len + bb->restarts.len + 4;
}

/* Appends the restart array to bb->buf, with room for extra more bytes
 * (the caller's trailer): bb->buf is then the whole block. XETS_OK or
 * XETS_NOMEM (bb as it was). */
int sst_bb_finish(sst_block_builder_t *bb, size_t extra);

/* Empties bb for the next block, keeping its last key. */
void sst_bb_reset(sst_block_builder_t *bb);

/* ---- reading ---- */

/* A block's bytes, its restart array checked. */
typedef struct sst_block {
    const unsigned char *p;
    size_t end; /* entries lie in [0, end), the restart array after */
    uint32_t nrestarts;
    uint64_t off;     /* where the block lies in the file, for error offsets */
    bool packed;      /* stored compressed: no byte of p lies in the file as it is */
    const char *file; /* the file and the block's role, for errors */
    const char *what;
} sst_block_t;

/* Reads the restart array of the len bytes at p (len < 4 GiB), the block
 * at off in file, stored compressed if packed. XETS_OK, or XETS_CORRUPT
 * (sst_block_where the bad count or restart offset) with call->error.op =
 * what. */
int sst_block_parse(sst_block_t *b, const unsigned char *p, size_t len, uint64_t off, bool packed,
                    const char *file, const char *what, xets_call_t *call);

/* The offset in the file that an error at byte at of b names: that byte's,
 * or the block's own when it was stored compressed. */
static inline uint64_t sst_block_where(const sst_block_t *b, size_t at)
{
    return b->packed ? b->off : b->off + at;
}

/* An entry of a run decoded for a backward walk: its key in the
 * iterator's run_keys. */
typedef struct sst_run_entry {
    size_t key, klen;
    const unsigned char *val;
    size_t vlen;
    size_t pos; /* its offset in the block */
} sst_run_entry_t;

/* A walk over a block's entries, forward or backward. Keys are prefix
 * compressed from one restart point to the next, so they decode forward
 * only: a backward walk decodes a run (a restart point's entries up to the
 * next) into run and run_keys and walks that backward, then the run
 * before it (LevelDB's Prev does the same); memory: one run's keys. */
typedef struct sst_block_iter {
    sst_block_t b;
    size_t pos;       /* the current entry's offset */
    size_t next;      /* the next one's */
    uint32_t restart; /* the first restart point at or after next */
    bytes_t key;      /* the current key */
    bool ordered;     /* key is the previous entry's: the next key is checked against it */
    bool same;        /* the current key equals the previous entry's (when that is known) */
    const unsigned char *val;
    size_t vlen;
    /* Backward: the run decoded, starting at restart point run_start; the
     * current entry is run[run_at] (run_at == run_n: none of it yet). */
    sst_run_entry_t *run;
    size_t run_n, run_cap, run_at;
    uint32_t run_start;
    bytes_t run_keys;
} sst_block_iter_t;

/* Places it before the first entry of b for sst_bi_next, and after its
 * last for sst_bi_prev. With keep, the key it holds
 * (the last of the block before b) stays the previous key for the order
 * check, so that a walk over consecutive blocks checks their order as
 * one. it must be zero or have been used before. */
void sst_bi_start(sst_block_iter_t *it, const sst_block_t *b, bool keep);
void sst_bi_free(sst_block_iter_t *it);

/* Steps to the next entry: XETS_OK (it->key, it->val current), XETS_END
 * past the last, XETS_CORRUPT (the offset of the entry or restart point
 * at fault), XETS_NOMEM (it unchanged). */
int sst_bi_next(sst_block_iter_t *it, xets_call_t *call);

/* Steps to the first entry whose key is not before target (inclusive:
 * >= target, else > target), by binary search over the restart points
 * and then a walk: XETS_OK there, XETS_END if no entry is, or a failure
 * as sst_bi_next. */
int sst_bi_seek(sst_block_iter_t *it, const unsigned char *target, size_t tlen, bool inclusive,
                xets_call_t *call);

/* Steps to the entry before the current one (from the start: the last
 * one): XETS_OK (it->key, it->val current; it->same: its key equals the
 * one the walk came from), XETS_END before the first, XETS_CORRUPT (a key
 * after the one the walk came from, or a run that does not decode),
 * XETS_NOMEM (it unchanged). Backward steps and forward ones do not mix
 * without a seek in between. */
int sst_bi_prev(sst_block_iter_t *it, xets_call_t *call);

/* Steps to the last entry whose key is not after target (inclusive:
 * <= target, else < target): XETS_OK there, XETS_END if no entry is, or a
 * failure as sst_bi_prev. */
int sst_bi_seek_back(sst_block_iter_t *it, const unsigned char *target, size_t tlen,
                     bool inclusive, xets_call_t *call);

/* Whether key k lies before position t: below it, or at it when the
 * position is exclusive. */
static inline bool sst_before(const unsigned char *k, size_t klen, const unsigned char *t,
                              size_t tlen, bool inclusive)
{
    int c = bytes_cmp(k, klen, t, tlen);
    return c < 0 || (c == 0 && !inclusive);
}

#endif
