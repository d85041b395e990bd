/* Which compaction an LSM store runs next (DESIGN.md, "The disk tier";
 * doc/compaction.md): leveled compaction, as LevelDB and RocksDB do it,
 * decided from the manifest's state alone. This file only chooses; the
 * store (lsm.c) merges the files chosen and logs the edit.
 *
 * Levels. Level 0 holds the tables flushes write, newest first; their key
 * ranges may overlap. Each level L >= 1 holds tables whose key ranges do
 * not overlap, and may hold compaction_level_bytes(o, L) bytes: level 1
 * o->level1_bytes, each level after it LEVEL_RATIO times the one before;
 * the last level (MANIFEST_LEVELS - 1) has no bound. Every key's newest
 * entry lies in the lowest level that holds the key (in level 0, in its
 * newest table that does), so a lookup that searches level 0 newest
 * first and then each level down takes the first entry it finds.
 *
 * Choice. Each level has a score: level 0 its tables over o->l0_tables,
 * a level L >= 1 its bytes over its bound. The level of the highest score
 * of at least 1 is compacted into the next:
 * - level 0: all its tables (so that none older than one moved down
 *   stays above it) and the level-1 tables their keys overlap;
 * - level L >= 1: one table, the first after where the last compaction of
 *   L ended (round robin over the key space, so that every key range
 *   moves down in turn), and the level L+1 tables it overlaps.
 * A single table with nothing under it in level L+1 is moved (one
 * manifest edit), not rewritten. The merge keeps each key's newest entry
 * (the inputs come newest first) and splits its output into tables of
 * about a memtable's size (lsm.c). Tombstones are dropped when no level below L+1
 * holds a key of the inputs' range: nothing older is left for them to
 * hide.
 *
 * Why the bounds hold: after a compaction of L, L+1 is again a level of
 * disjoint ranges (the L+1 tables overlapping the input range are exactly
 * the ones rewritten, and the outputs lie within the inputs' range).
 *
 * Thread-safety: none of its own; the caller serialises use of a state
 * and its pointers (lsm.c: the flush lock). */
#ifndef XETS_DISK_COMPACTION_H
#define XETS_DISK_COMPACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "manifest.h"

#define LEVEL_RATIO 10

typedef struct compaction_options {
    uint64_t level1_bytes; /* what level 1 may hold */
    unsigned l0_tables;    /* tables in level 0 that start its compaction */
} compaction_options_t;

/* A compaction: inputs from level and level + 1, outputs to level + 1. */
typedef struct compaction {
    unsigned level;
    /* Newest data first: level's tables (level 0: newest first), then the
     * tables of level + 1 (by key). Pointers into the state, valid until
     * it changes. */
    const manifest_file_t **in;
    size_t nin;
    size_t nupper; /* how many of in are level's */
    bool move;     /* one table, nothing of level + 1 under it: moved, not rewritten */
    bool drop_tombstones;
} compaction_t;

/* What level L (>= 1) may hold; UINT64_MAX for the last level. */
uint64_t compaction_level_bytes(const compaction_options_t *o, unsigned level);

/* The compaction most due in ms, into *out: true; false when none is due
 * (or out of memory: then nothing is chosen either, and the next call
 * tries again). after[L] is where the last compaction of level L ended
 * (its largest key; empty at first): read and advanced. Free with
 * compaction_free. */
bool compaction_pick(const manifest_state_t *ms, const compaction_options_t *o,
                     bytes_t after[MANIFEST_LEVELS], compaction_t *out);

void compaction_free(compaction_t *c);

/* Whether compaction_pick would choose one, without choosing. */
bool compaction_is_due(const manifest_state_t *ms, const compaction_options_t *o);

#endif
