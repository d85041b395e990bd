/* A store's block cache: the data blocks of its SSTables held in memory,
 * checked and uncompressed (sst_reader_unpack), within a bound of bytes
 * (DESIGN.md, "The disk tier"; README, "Tables larger than memory").
 *
 * Finding a block is the table's business: each open table
 * (sstable_file.c) keeps a slot per block it has cached, an atomic pointer
 * to the block's entry, so that a hit is a load and no lock. The cache
 * owns what the slots point to: it publishes an entry into its slot, keeps
 * the count of bytes, and chooses what to evict.
 *
 * The policy: segmented, as 2Q and SLRU are, so that a scan does not
 * evict the hot set. An entry comes into the probation queue; a hit sets
 * its reference mark (a relaxed store, no lock), if a point lookup hit
 * it. Past the bound, the
 * evictor looks at the head of probation: marked, the entry moves to the
 * protected queue, its mark cleared; not, it is evicted. Protected holds
 * at most PROTECTED_SHARE of the bound: past it, its head goes back to
 * probation's tail, so a block once hot and no longer is a candidate
 * again. When probation is empty the evictor takes protected's head,
 * giving a marked entry a second turn (CLOCK). A block read once, or by
 * walks only (each block of a tab2list of a cold table), is never
 * marked, and leaves first.
 * A block loaded by a request (a XETS_NEED_IO) comes in with its mark at
 * -1: the redone operation's hit, the one the load was for, only brings
 * it to 0, and is not counted as a hit either. The request keeps it
 * pinned for the operation (call.h, call->keep).
 *
 * Memory: an entry is freed through the epoch (epoch_retire) when
 * evicted, so that a block found inside a section stays readable until
 * the section ends, whatever the evictor does meanwhile. A block found
 * outside any section could be freed under its reader: the tables lend
 * none there (sstable_file.c).
 *
 * Pins. An entry may be pinned (a write that read a key's state and will
 * write it later in the same call must find the block again:
 * sstable_file.h, "Pins"): the evictor passes over a pinned entry, moving
 * it to its queue's tail, and the bound may be exceeded while every
 * candidate is pinned. An entry being evicted is marked dead first (pins
 * -1, by compare-and-swap from 0), so that a pin either lands before the
 * eviction, which it then stops, or fails.
 *
 * Bound: bytes of block plus the entry's header; 0 is no bound, every
 * block kept until its table closes (a table with no memory limit).
 *
 * Thread-safety: any thread may call any function; the queues and counts
 * are under the cache's mutex, taken to insert, evict, forget and read the
 * figures, never on a hit. */
#ifndef XETS_DISK_BLOCK_CACHE_H
#define XETS_DISK_BLOCK_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

/* Share of the bound that protected entries may hold, in percent. */
#define CACHE_PROTECTED_SHARE 80

typedef struct cache_entry cache_entry_t;

struct cache_entry {
    bytes_t block;
    /* -1: loaded for a request, not found since; 0: not hit since
     * queued; 1: hit */
    _Atomic int mark;
    _Atomic int pins; /* > 0: pinned; -1: dead, being evicted */
    /* Under the cache's mutex: */
    cache_entry_t *prev, *next;
    _Atomic(cache_entry_t *) *slot; /* where it is published */
    size_t charge;
    bool is_protected;
};

typedef struct block_cache block_cache_t;

typedef struct block_cache_stats {
    size_t bytes, capacity, entries;
    uint64_t hits, misses, evictions;
    uint64_t in_place; /* block_cache_count_in_place */
} block_cache_stats_t;

/* A cache of the given bound (0: none), with one reference; NULL without
 * memory. */
block_cache_t *block_cache_new(size_t capacity);
/* Another reference, for each table reading through c (a table may
 * outlive its store's use of it: a cleared store's old tables). */
void block_cache_ref(block_cache_t *c);
/* Drops a reference; the last frees c, which then holds no entry. */
void block_cache_release(block_cache_t *c);
/* A new bound, enforced at the next insertion. */
void block_cache_set_capacity(block_cache_t *c, size_t capacity);

/* The block published in slot, or NULL: a hit or a miss, counted; a hit
 * marks the entry if mark (a point lookup's: a walk's, which visits each
 * block once, marks nothing, so that a scan leaves no block looking
 * hot). A block's first hit after a request loaded it counts as neither:
 * it is the redone operation's, whose miss was counted. Inside an epoch
 * section: the entry stays readable until it ends. */
cache_entry_t *block_cache_find(block_cache_t *c, _Atomic(cache_entry_t *) *slot, bool mark);

/* Publishes block (its bytes taken: *block is left empty) in slot, which
 * must be empty, as a new entry at probation's tail, then evicts down to
 * the bound. requested: loaded for a request, the entry published pinned
 * (its mark starts at -1), or, if another loader was first, that one's
 * entry pinned; then returned, for the caller to unpin. room_only:
 * published only if it fits without evicting anything (a table just
 * written warming the cache). Returns the entry requested, pinned, or
 * NULL (not requested; or no room, no memory, or a requested block whose
 * other loader's entry is being evicted); the bytes not published are
 * freed. */
cache_entry_t *block_cache_insert(block_cache_t *c, _Atomic(cache_entry_t *) *slot,
                                  bytes_t *block, bool requested, bool room_only);

/* The bound now (0: none). */
size_t block_cache_capacity(const block_cache_t *c);

/* Whether a block of len bytes would fit now without evicting. */
bool block_cache_has_room(block_cache_t *c, size_t len);

/* Pins e (found inside the current section): true, or false if it is
 * being evicted (then it is as good as a miss). */
bool block_cache_pin(cache_entry_t *e);
void block_cache_unpin(cache_entry_t *e);

/* Takes the entry out of slot, if any, and frees it at once: for a table
 * being closed, whose blocks no section can see any more. */
void block_cache_forget(block_cache_t *c, _Atomic(cache_entry_t *) *slot);

void block_cache_stats(block_cache_t *c, block_cache_stats_t *out);

/* Counts a miss whose block a thread that may not block read from the
 * OS's memory (disk/fs.h), sparing its call a dirty scheduler. */
void block_cache_count_in_place(block_cache_t *c);

#endif
