/* The interface every table structure implements (one ops table per type,
 * as ETS's DbTableMethod). Structures know nothing of Erlang: keys are
 * canonical encodings (term_key.h) compared with memcmp, objects are opaque
 * byte strings (the object's external term format), and whatever needs term
 * semantics is asked of the caller through callbacks.
 *
 * Order. Each store names its order (store_ops_t.order): a map from a key
 * to a byte string, its sort key (store_sort_key), such that the
 * store's traversal order is memcmp order of sort keys (a proper prefix
 * first). A merging cursor over several stores of one order, or a file
 * written in it, compares positions with memcmp alone. Cursor bounds are
 * sort keys, or any byte strings: a bound need not be any key's sort key.
 *
 * Cursor. store_cursor_open() a caller-owned store_cursor_t with a low and
 * a high bound (each inclusive, exclusive or absent) and a direction; each
 * store_cursor_next() yields the objects of one key, all of them, in
 * insertion order, the keys in the store's order (reversed for
 * SCAN_BACKWARD when the store has that direction; see
 * store_ops_t.backward); store_cursor_close() releases it. A cursor takes
 * no lock between steps and allocates only for a key with more objects
 * than it holds inside (STORE_CURSOR_LOCAL).
 *
 * What stays valid when. The rec_t array a step returns, and what it says of
 * the key's objects, holds until the next step or close. The bytes a rec_t
 * points to are the store's own: they stay valid until the caller's epoch
 * section ends, even if the object is removed or replaced meanwhile. The
 * cursor's own place in the store (a node) is only meaningful within the
 * epoch section it was opened in: every step of one open must run in that
 * section. To go on in a later section, the caller keeps the last key's sort
 * key (a copy: the rec_t's bytes die with the section), closes, and opens
 * again with it as an exclusive bound (low going forward, high going
 * backward): store_scan() does that with the key it is given. The bounds'
 * bytes belong to the caller and must stay valid until close.
 *
 * Concurrent writers. Traversals are not snapshots: a key that is in the
 * store, within the bounds, from the open to the end of the walk is yielded
 * exactly once; keys come in strictly increasing (decreasing) order, so none
 * is yielded twice, even across a re-seek; a key added or removed meanwhile
 * may or may not be. The objects of one key are read as one consistent
 * state of that key (a bag key is never seen half removed).
 *
 * The call. Every operation but sort_key, size, memory and stats takes the
 * call
 * it runs for (call.h; a cursor keeps the one it was opened with). A store
 * in memory has no use for it. A store with files reads there whether its
 * thread may block; it never blocks inside the caller's epoch section, but
 * answers XETS_NEED_IO with a request in the call, having changed nothing;
 * a failure of its files it answers with XETS_IO or XETS_CORRUPT and the
 * detail in the call. Any operation below may answer these three besides
 * the statuses it names.
 *
 * Lifecycle. open makes a store (in memory, or on files in a directory);
 * close releases it and keeps its files, drop removes them too; clear
 * empties a store in place, in O(1), handing what it held to another store
 * that is dropped once no epoch section can see it (the reaper's work,
 * reaper.h): a store stays at one address for its whole life, so that a
 * store of files, whose directory no second store may open, can be
 * emptied by one edit of its manifest.
 *
 * Thread-safety contract: every operation may run concurrently with every
 * other on the same store, except the lifecycle: open, close and drop have
 * the store to themselves, and clear runs alongside size, memory and stats
 * only (ets:info reads them without waiting for an exclusive operation).
 * Callers wrap every operation but the lifecycle's in
 * epoch_enter()/epoch_exit() (epoch.h); a rec_t handed to a callback points
 * into the store and stays valid until the caller's epoch section ends.
 * Readers take no writer's lock, except to get past writers that keep
 * changing the key they read (bag snapshots), and in stats. Callbacks must
 * not call back into the same store. A cursor is used by one thread. */
#ifndef XETS_STORE_H
#define XETS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "status.h"

/* An object on its way in: the store copies the bytes it keeps. */
typedef struct rec_in {
    const unsigned char *key; /* canonical key encoding */
    size_t klen;
    const unsigned char *val; /* the whole object, external term format */
    size_t vlen;
    uint64_t fp; /* bag: hash of the whole object's exact encoding; else 0 */
} rec_in_t;

/* A stored object as a callback or a cursor step sees it: its bytes are the
 * store's, valid until the end of the caller's epoch section. */
typedef struct rec {
    const unsigned char *key;
    size_t klen;
    const unsigned char *val;
    size_t vlen;
    uint64_t fp;
} rec_t;

/* Returns nonzero to stop the traversal after this record. */
typedef int (*visit_fn)(void *ctx, const rec_t *r);
/* Returns true when r is the object the caller means. */
typedef bool (*pred_fn)(void *ctx, const rec_t *r);
/* Computes the replacement of cur into *out (bytes owned by the caller and
 * valid until the structure has copied them). Returns XETS_OK, or a status
 * the structure passes back unchanged (XETS_BADARG, XETS_NOMEM).
 * May be called more than once per update: it must have no side effects
 * other than on its own context. */
typedef int (*update_fn)(void *ctx, const rec_t *cur, rec_in_t *out);
/* What a rewrite does with one object. */
enum rewrite_act { REWRITE_KEEP, REWRITE_REPLACE, REWRITE_REMOVE };
/* Decides for cur, the i-th (from 0) of its key's objects in insertion
 * order: returns a rewrite_act, with the replacement in *out for
 * REWRITE_REPLACE (bytes owned by the caller, valid until the rewrite
 * returns), or a negative status that ends the rewrite. */
typedef int (*rewrite_fn)(void *ctx, size_t i, const rec_t *cur, rec_in_t *out);

enum store_kind { STORE_SET, STORE_BAG, STORE_DUPLICATE_BAG };
enum put_mode { PUT_REPLACE, PUT_NEW };
enum scan_dir { SCAN_FORWARD, SCAN_BACKWARD };

typedef struct store store_t;
typedef struct store_ops store_ops_t;

/* One end of a cursor's range: a position in the store's order. */
typedef struct store_bound {
    const unsigned char *pos; /* NULL: no bound on this end */
    size_t len;
    bool inclusive;
} store_bound_t;

#define STORE_UNBOUNDED ((store_bound_t){.pos = NULL})

/* The objects of one key a cursor holds without allocating. */
#define STORE_CURSOR_LOCAL 16
/* Bytes of a store's own cursor state. */
#define STORE_CURSOR_PLACE 32

/* A growable array of records, the first STORE_CURSOR_LOCAL of them inside
 * (so it must not be moved once in use). */
typedef struct store_recs {
    rec_t *rec;
    size_t n, cap;
    rec_t local[STORE_CURSOR_LOCAL];
} store_recs_t;

/* A cursor (see the top of this file). Owned by the caller, for instance
 * on its stack; not to be moved between open and close. */
typedef struct store_cursor {
    const store_ops_t *ops;
    store_t *s;
    xets_call_t *call; /* the call the steps run for */
    store_bound_t lo, hi;
    enum scan_dir dir; /* SCAN_FORWARD when the store has no other */
    store_recs_t recs; /* the current step's objects */
    /* The store's own state (its place in the list, say), zero at open:
     * a store reads and writes it as a struct of its own, declared
     * may_alias. */
    _Alignas(8) unsigned char place[STORE_CURSOR_PLACE];
} store_cursor_t;

/* What open makes or finds. */
typedef struct store_options {
    enum store_kind kind;
    const char *dir; /* where the store's files are; NULL: in memory */
    const void *disk; /* with dir: the options of a store with files (disk/lsm.h) */
} store_options_t;

/* Bytes of a store's own stats walk state. */
#define STORE_STATS_PLACE 64

/* A stats walk between its steps (store_ops_t.stats): zero to start, then
 * the store's own (as a cursor's place), holding no pointer into the
 * store: where the walk is, in the store's order, and what it has counted
 * so far. */
typedef struct store_stats_walk {
    _Alignas(8) unsigned char place[STORE_STATS_PLACE];
} store_stats_walk_t;

/* What ets:info(T, stats) reports for a hash table, computed the same way
 * over the structure's own buckets. A chain is the objects of one bucket
 * (every object of a bag key counts). */
struct store_stats {
    size_t buckets;           /* number of buckets */
    double avg_chain_len;     /* objects / buckets */
    double std_dev_chain_len; /* population standard deviation over all buckets */
    double std_dev_expected;  /* sqrt(avg * (1 - 1/buckets)): a uniform hash's */
    size_t min_chain_len;     /* over all buckets, empty ones included */
    size_t max_chain_len;
    size_t kept_items;        /* deleted objects still kept for a fixed table */
    size_t locks;             /* writer locks */
};

struct store_ops {
    /* The name of the store's order (see the top), versioned: files record
     * it. "key": the key encoding itself. "hash.2": the key's XXH3-64 (whose
     * output xxHash keeps stable since 0.8) with its bits reversed and the
     * two low bits of that set, 8 bytes, then its length, 4 bytes, both
     * big-endian, then its bytes (hash_table.c). ("hash.1" kept all 64
     * bits.) */
    const char *order;
    /* Whether an operation may answer XETS_NEED_IO (a store with files).
     * An operation of several writes, which cannot be redone once one is
     * done, then runs where it may block, and does each write's I/O in
     * place (insert_list.c). */
    bool may_need_io;
    /* Whether cursors can walk the order backward. A store that cannot
     * walks forward whatever direction it is asked for, as ETS aliases
     * last/prev to first/next on hash tables; the bounds still say low and
     * high in its order. */
    bool backward;
    /* Writes the key's sort key to out if it fits in cap bytes; returns its
     * length either way. NULL where the sort key is the key itself (order
     * "key"), which then needs no copy: see store_sort_key. */
    size_t (*sort_key)(const unsigned char *key, size_t klen, unsigned char *out, size_t cap);

    /* ---- lifecycle (see the top) ---- */

    /* Opens the store o describes into *out (set only on XETS_OK): a new,
     * empty one in memory (o->dir NULL), or the one in o->dir. Returns
     * XETS_OK, XETS_BADARG (options this store does not take: a directory
     * for a store in memory, a kind it does not hold), XETS_NOMEM, or
     * XETS_IO or XETS_CORRUPT with call->error filled. */
    int (*open)(const store_options_t *o, store_t **out, xets_call_t *call);
    /* Releases s and keeps its files. No operation runs on s any more, and
     * no epoch section can still reach what it held. Its memory is
     * released whatever the status: XETS_IO or XETS_CORRUPT (call->error
     * filled) only say that its files may not be as they should (a last
     * flush failed), for whoever opens them next. */
    int (*close)(store_t *s, xets_call_t *call);
    /* As close, and removes s's files. For a store in memory, which has
     * none, the same function as close. */
    int (*drop)(store_t *s, xets_call_t *call);
    /* Empties s at once and in O(1), whatever it holds: what s held moves
     * to *old, a store to be dropped (only dropped: its files, if any, are
     * no longer s's) once no epoch section can still see it; *old is NULL
     * when nothing needs releasing later. *size is how many objects s held.
     * No other operation runs on s meanwhile but size, memory and stats,
     * which see it before, after, or part way (approximate figures), and
     * whatever they reach stays valid until their epoch section ends.
     * Returns XETS_OK, or XETS_NOMEM, XETS_IO, XETS_CORRUPT (call->error
     * filled) with s as it was. */
    int (*clear)(store_t *s, store_t **old, size_t *size, xets_call_t *call);

    /* set: replaces the key's object (PUT_REPLACE) or fails with XETS_EXISTS
     * (PUT_NEW). bag: appends after the key's objects unless same() is true
     * for one of them (then nothing changes; same is only called for records
     * whose fp equals in->fp). duplicate_bag: appends. Returns XETS_OK,
     * XETS_EXISTS or XETS_NOMEM. */
    int (*put)(store_t *s, xets_call_t *call, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx);

    /* Visits the key's objects in insertion order; XETS_NOTFOUND if none. */
    int (*get)(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, visit_fn visit, void *ctx);

    /* Removes the key's objects for which match() is true (all of them when
     * match is NULL), calling removed() for each before it is retired.
     * Returns how many were removed (0 if none). */
    int (*remove)(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, pred_fn match, void *mctx,
                  visit_fn removed, void *rctx);

    /* Atomically replaces the first of the key's objects (in insertion
     * order) for which fn computes a replacement, in its place; fn passes
     * an object over by returning XETS_NOTFOUND. Returns XETS_NOTFOUND if
     * fn took none, else fn's status. A set has one object per key. */
    int (*update)(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, update_fn fn, void *ctx);

    /* Optional (NULL where a key has one object: update and remove serve
     * there): calls fn on each of the key's objects, in insertion order,
     * and replaces each in its place or removes it as fn decides, all in
     * one critical section of writers to the key. fn's replacements must
     * keep the key (and a bag's objects distinct). Returns how many objects were
     * replaced or removed, or fn's status (what fn decided before it
     * stays done) or XETS_NOMEM. */
    int (*rewrite)(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, rewrite_fn fn, void *ctx);

    /* A cursor step (store_cursor_next): fills c->recs with the objects of
     * the next key within the bounds, the first step seeking from the
     * bounds (c->place is zero then). Returns XETS_OK, XETS_END once past
     * the bounds or the store, or XETS_NOMEM (the cursor then stays where
     * it was). */
    int (*cursor_next)(store_cursor_t *c);
    /* Optional (NULL where a cursor's place holds all its state): releases
     * what the cursor's steps took (store_cursor_close). */
    void (*cursor_close)(store_cursor_t *c);

    /* Optional (NULL for a store that logs nothing): with end false,
     * starts gathering the writes made with call into one entry of the
     * store's log (call->group); with end true, logs what was gathered as
     * that one entry, so that a crash keeps all of it or none, and ends
     * the group. Every write in between must have the store to itself
     * (a list insert holds the table's gate). Returns XETS_OK, XETS_NOMEM
     * (begin), or a failure of the store (end). */
    int (*group)(store_t *s, xets_call_t *call, bool end);
    /* Optional (NULL for a store that reads nothing from files): with end
     * false, keeps what the call reads from now on where it can be read
     * again without I/O, until the call lets it go (end true). A call
     * that reads states in one operation and writes them in later ones
     * (select's chunk writes), and cannot answer XETS_NEED_IO once it has
     * written, holds across both. A group holds as well. Returns XETS_OK
     * or XETS_NOMEM (begin). */
    int (*hold)(store_t *s, xets_call_t *call, bool end);

    /* Exact when no writer is active. */
    size_t (*size)(store_t *s);
    /* Bytes the structure and its objects occupy. */
    size_t (*memory)(store_t *s);

    /* Optional (NULL where the structure has no buckets): a step of a walk
     * over the whole structure (O(n) in all), w zero at the first. A step
     * ends between keys once it has visited a bounded number of objects (a
     * key's objects count in one step, as a lookup reads them in one
     * section), so that the caller's epoch section stays short; it may be
     * the last of its section: nothing in w points into s. Returns XETS_OK
     * while there is more to walk, then XETS_END with the figures in *out.
     * Writes, resizes and clears between steps leave the figures
     * approximate. */
    int (*stats)(store_t *s, store_stats_walk_t *w, struct store_stats *out);

    /* Optional (NULL where the structure has no buckets), for ets:slot/2:
     * visits the objects of bucket j, all of them, in list order, as one
     * consistent read. The current number of buckets goes to *nbuckets;
     * returns XETS_END if j is not below it, else XETS_OK. */
    int (*bucket)(store_t *s, xets_call_t *call, uint64_t j, uint64_t *nbuckets, visit_fn visit, void *ctx);
};

extern const store_ops_t hash_table_ops;
extern const store_ops_t skiplist_ops;

/* ---- cursors and what is built on them ---- */

/* Records gathered into a store_recs_t, usable from init to free. Inline,
 * as the cursor calls below: a call into store.c from the NIF goes through
 * the PLT, a cost on every next/2. */
static inline void store_recs_init(store_recs_t *b)
{
    b->rec = b->local;
    b->n = 0;
    b->cap = STORE_CURSOR_LOCAL;
}

static inline void store_recs_free(store_recs_t *b)
{
    if (b->rec != b->local)
        free(b->rec);
}

/* Doubles the room; false if out of memory (the records stay). */
bool store_recs_grow(store_recs_t *b);

/* Opens c on s between lo and hi (each STORE_UNBOUNDED, or a position in
 * s's order, inclusive or not), walking dir. Opening does no work: the
 * first step seeks. */
static inline void store_cursor_open(store_cursor_t *c, const store_ops_t *ops, store_t *s,
                                     xets_call_t *call, store_bound_t lo, store_bound_t hi,
                                     enum scan_dir dir)
{
    c->ops = ops;
    c->s = s;
    c->call = call;
    c->lo = lo;
    c->hi = hi;
    c->dir = ops->backward ? dir : SCAN_FORWARD;
    store_recs_init(&c->recs);
    memset(c->place, 0, sizeof c->place);
}

/* The next key's objects: *recs[0..*n), all with the same key, in insertion
 * order (see "What stays valid when" above). Returns XETS_OK, XETS_END,
 * XETS_NOMEM, or a failure of the store (see "The call"). */
static inline int store_cursor_next(store_cursor_t *c, const rec_t **recs, size_t *n)
{
    int rc = c->ops->cursor_next(c);
    *recs = c->recs.rec;
    *n = rc == XETS_OK ? c->recs.n : 0;
    return rc;
}

static inline void store_cursor_close(store_cursor_t *c)
{
    if (c->ops->cursor_close != NULL)
        c->ops->cursor_close(c);
    store_recs_free(&c->recs);
}

/* The key's sort key in the order of ops's stores, as ops->sort_key. */
size_t store_sort_key(const store_ops_t *ops, const unsigned char *key, size_t klen,
                      unsigned char *out, size_t cap);

/* Visits objects in the store's order starting strictly after key `after`
 * (from the first object when after is NULL), until visit returns nonzero,
 * and then the rest of that key's objects: the caller resumes after a key.
 * The key need not be in the store. Returns XETS_OK if visit stopped the
 * scan, XETS_END if the store ran out, or a cursor step's failure
 * (XETS_NOMEM, or see "The call"); on XETS_NEED_IO from a store that may
 * need I/O, every key visited was visited whole, and the visitor, if it
 * has taken some, may end there, the request dropped (store.c,
 * scan_ahead). A store without a
 * backward order walks forward (store_ops_t.backward). */
int store_scan(const store_ops_t *ops, store_t *s, xets_call_t *call, const unsigned char *after,
               size_t alen,
               enum scan_dir dir, visit_fn visit, void *ctx);

#endif
