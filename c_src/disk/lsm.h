/* The LSM store: a table on disk behind store.h (DESIGN.md, "The disk
 * tier"). Its parts are the files of this folder: a write-ahead log
 * (wal_file.h), SSTables (sstable_file.h), a manifest (manifest_file.h).
 *
 * The model. The store maps each key to its state: the key's objects, all
 * of them, or none (a tombstone). A state is one entry (a "blob"): for a
 * set or ordered_set the object itself (its external term format), for a
 * bag or duplicate_bag the list of its objects in insertion order, each as
 * varint length, 8-byte fingerprint (little-endian), bytes; a tombstone is
 * the empty blob. A write reads the key's state, computes the next one and
 * writes it whole: so the newest state of a key is all there is to know of
 * it, insertion order survives across files for free, and recovery, flush
 * and merge only ever take the newest entry of a key. (A bag key of many
 * objects pays for that: each write rewrites its list.)
 *
 * Where states live, newest first: the memtable (an in-memory store of
 * the same order, hash_table or skiplist, of kind set, whose objects are
 * blobs), the frozen memtables being flushed, then the SSTables, newest
 * first. A lookup takes the first state it finds, passing over the
 * SSTables whose filter says the key is not there (one hash of the key
 * for all of them); a cursor merges all of them by sort key with both
 * bounds pushed down to each. An SSTable's blocks are read through its
 * cache (sstable_file.h): a block not cached answers XETS_NEED_IO with a
 * request, never a read inside an epoch section.
 *
 * Writes. A writer holds the key's stripe lock (one of LSM_STRIPES, by
 * hash of the key) across read, compute and write, so writes to one key
 * are serialized and the log holds them in the order the memtable took
 * them. The write goes to the memtable first (which may refuse it:
 * XETS_NOMEM, XETS_DIRTY, nothing changed), then its log entry is queued
 * under the log lock, where it takes its sequence number. The committing
 * thread writes queued entries to the WAL (one write for all of them),
 * fsyncs as the sync mode says, and tells waiting writers. A write's
 * change to the object count travels in its entry, so that recovery knows
 * the count without reading data.
 *
 * Sync modes. none: the committing thread writes continuously and fsyncs
 * only at close and xets:sync/1. interval: it also fsyncs every interval.
 * always: every write's call leaves with call->await set (its sequence
 * number); the glue registers the caller with lsm_await, and the
 * committing thread's notify callback tells it once an fsync covers it,
 * so that one fsync serves every writer waiting meanwhile (group commit);
 * after telling them, the committer waits a moment (at most a quarter of
 * an fsync) for the writers it told to write again, so that they share
 * the next fsync rather than split into groups taking turns.
 * A write is visible to readers once it is in the memtable, which may be
 * before its fsync: a reader may see a write that a power cut then loses.
 *
 * Flush. Past LSM_MEMTABLE_BYTES the background flusher freezes the
 * memtable: it creates the next WAL (durably), then, holding every stripe
 * lock, installs a fresh memtable and tells the committer to switch logs
 * after the last entry of the frozen one. It writes the frozen memtable as
 * an SSTable (a straight walk in its order; tombstones kept), makes it
 * durable, and logs one manifest edit: add the table, last_seq, objects,
 * log_number = the new WAL (older WALs are dead). Only then does the
 * version drop the frozen memtable, and the dead WALs are removed.
 *
 * Compaction. After each flush the flusher runs the compactions due
 * (compaction.h: leveled, level 0 compacted once it holds LSM_L0_TABLES
 * tables, level 1 holding LSM_L0_TABLES memtables' worth, each level
 * after it LEVEL_RATIO times more), each one manifest edit; a lookup
 * reads at most one table per level below 0, by key range.
 *
 * Recovery (open): the directory's lock; the manifest (its identity
 * checked against the options: lsm_mismatch_t); the sweep of orphans; the
 * SSTables' footers and indexes (not their data: open time follows the
 * WAL and the manifest, not the table); then each live WAL replayed in
 * order into the memtable, each cut at a torn tail and fsynced with its
 * directory before anything is served (wal_file.h).
 *
 * Close: the committer drained and the WAL synced, every memtable flushed
 * to an SSTable, and one manifest edit that makes every WAL dead. After a
 * failed fsync (of the WAL, an SSTable or the manifest) the store takes no
 * more writes: each answers XETS_IO naming the failure, until reopened.
 *
 * Thread-safety: as store.h. Its own threads: a committer per store,
 * started at open and joined at close, and one flusher for all stores
 * (lsm_start). */
#ifndef XETS_DISK_LSM_H
#define XETS_DISK_LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../call.h"
#include "../store.h"

#define LSM_STRIPES 64
#define LSM_MEMTABLE_BYTES (8u << 20)
/* The most memtable bytes a store holds, in memtables' sizes: writers
 * wait past it (the active one at twice its size while one is being
 * flushed, or three times). */
#define LSM_MEMTABLES 3
/* The smallest memtable a memory limit makes (a quarter of the limit
 * over LSM_MEMTABLES). */
#define LSM_MEMTABLE_MIN (64u << 10)
/* Tables in level 0 that start its compaction into level 1. */
#define LSM_L0_TABLES 4
/* Tables in level 0 at which writers wait for compaction. */
#define LSM_L0_STALL 12
/* The longest a writer waits for the flusher at a time. */
#define LSM_STALL_MS 100

enum lsm_sync { LSM_SYNC_NONE, LSM_SYNC_INTERVAL, LSM_SYNC_ALWAYS };

/* What an xets:open/3 found on disk that differs from what it asked:
 * filled when open answers XETS_MISMATCH. what: "type", "keypos",
 * "encoding" or "order"; the two values as text (keypos in decimal). */
typedef struct lsm_mismatch {
    char what[16];
    char on_disk[32];
    char asked[32];
} lsm_mismatch_t;

/* Who waits for a write to be durable: the glue's own bytes (a pid). */
typedef struct lsm_waiter {
    uint64_t seq;
    unsigned char who[16];
} lsm_waiter_t;

/* Tells a waiter its write is durable (status XETS_OK) or never will be
 * (XETS_IO, err saying why). Called on the committing thread, with no
 * lock of the store held. */
typedef void (*lsm_notify_fn)(const lsm_waiter_t *w, uint64_t serial, int status,
                              const call_error_t *err);

/* The options of a store with files (store_options_t.disk). */
typedef struct lsm_options {
    const char *type;     /* the table type's name: "set", "bag", ... */
    uint32_t keypos;      /* 1-based */
    const char *encoding; /* the key encoding's name (key_codec.h) */
    enum lsm_sync sync;
    unsigned interval_ms; /* LSM_SYNC_INTERVAL */
    size_t memtable_bytes; /* 0: LSM_MEMTABLE_BYTES */
    size_t memory_limit;   /* bytes of memory the store may hold; 0: no limit */
    /* Its files need not outlive the store (a spilling table's): nothing
     * is ever fsynced (fs_dir_set_volatile), and a drop writes nothing
     * out before it removes them. */
    bool discardable;
    lsm_notify_fn notify;  /* LSM_SYNC_ALWAYS */
    lsm_mismatch_t *mismatch; /* filled with XETS_MISMATCH; may be NULL */
} lsm_options_t;

/* The LSM store over each in-memory order: a set, bag or duplicate_bag
 * table's (order "hash.2") and an ordered_set's (order "key"). */
extern const store_ops_t lsm_hash_ops;
extern const store_ops_t lsm_ordered_ops;

/* Starts the flusher, the thread that writes every store's memtables
 * (idempotent; opening a store starts it too). 0, or -1 if it could not
 * start. lsm_stop stops it, once every store is closed. */
int lsm_start(void);
void lsm_stop(void);

/* For a test that replays a seed: while held, the flusher starts no
 * flush (asked ones wait in its queue); lsm_flusher_step has it do every
 * flush queued, held or not, and returns once they are done. A test that
 * steps it after each write, with no write under way, sees every file
 * call in one order, run after run (the committer switches logs before a
 * flush writes its table). */
void lsm_flusher_hold(bool hold);
void lsm_flusher_step(void);

/* A number naming the store within this process, in messages to waiters. */
uint64_t lsm_serial(store_t *s);

/* Registers a caller waiting for the write of sequence number w->seq (a
 * call's await): XETS_OK, to wait for notify; XETS_END, already durable
 * (no wait, no notify); XETS_IO (call->error filled), never durable;
 * XETS_NOMEM. Inside an epoch section (the store may have been closed
 * since the write: its shell outlives every section that could see it,
 * and a store closed without failure has made every write durable). */
int lsm_await(store_t *s, const lsm_waiter_t *w, xets_call_t *call);

/* Asks for every write before the call to be made durable (xets:sync/1)
 * without waiting: sets call->await when one is not durable yet, to be
 * waited for as a write's. Inside an epoch section. */
void lsm_sync_ask(store_t *s, xets_call_t *call);

/* Makes every write before the call durable, waiting for it. Blocks: only
 * where the call may block and outside any epoch section. XETS_OK or
 * XETS_IO. */
int lsm_sync(store_t *s, xets_call_t *call);

/* What xets:info(T, disk) tells. */
typedef struct lsm_info {
    size_t files;          /* SSTables */
    uint64_t disk_bytes;   /* SSTables, WALs and manifest */
    uint64_t wal_bytes;    /* live WALs */
    size_t memtable_bytes; /* active and frozen memtables */
    size_t cache_bytes;    /* SSTable blocks held in memory */
    size_t cache_capacity; /* the cache's bound; 0: none */
    uint64_t cache_hits, cache_misses, cache_evictions;
    uint64_t cache_misses_in_place; /* read from the OS's memory, no dirty scheduler */
    size_t filter_bytes;   /* SSTables' bloom filters, held in memory */
    size_t index_bytes;    /* SSTables' indexes, held in memory */
    size_t memory_limit;   /* 0: none */
    size_t memtable_limit; /* the size at which a memtable is flushed */
    size_t level0_files;
    uint64_t stalls;       /* waits of writers for the flusher */
    uint64_t last_seq;
    uint64_t durable_seq;
    uint64_t fsyncs;       /* of the WAL, by the committer */
    uint64_t flushes;
    uint64_t compactions;  /* run (a merge, or a table moved a level down) */
    enum lsm_sync sync;
    unsigned interval_ms;
} lsm_info_t;

void lsm_info(store_t *s, lsm_info_t *out);

#endif
