/* The interface every table structure implements (one ops table per type,
 * as ETS's DbTableMethod). Structures know nothing of Erlang: keys are
 * canonical encodings (term_key.h) compared with memcmp, objects are opaque
 * byte strings (the object's external term format), and whatever needs term
 * semantics is asked of the caller through callbacks.
 *
 * Thread-safety contract: every operation may run concurrently with every
 * other on the same store, except destroy. Callers wrap each operation in
 * epoch_enter()/epoch_exit() (epoch.h); a rec_t handed to a callback points
 * into the store and stays valid until the caller's epoch section ends.
 * Readers take no writer's lock, except to get past writers that keep
 * changing the key they read (bag snapshots), and in stats. Callbacks must
 * not call back into the same store. */
#ifndef XETS_STORE_H
#define XETS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An object on its way in: the store copies the bytes it keeps. */
typedef struct rec_in {
    const unsigned char *key; /* canonical key encoding */
    size_t klen;
    const unsigned char *val; /* the whole object, external term format */
    size_t vlen;
    uint64_t fp; /* bag: hash of the whole object's exact encoding; else 0 */
} rec_in_t;

/* A stored object as a callback sees it. */
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

typedef struct store_ops {
    store_t *(*create)(enum store_kind kind);
    /* No concurrent users remain; frees every object. */
    void (*destroy)(store_t *s);

    /* set: replaces the key's object (PUT_REPLACE) or fails with XETS_EXISTS
     * (PUT_NEW). bag: appends after the key's objects unless same() is true
     * for one of them (then nothing changes; same is only called for records
     * whose fp equals in->fp). duplicate_bag: appends. Returns XETS_OK,
     * XETS_EXISTS or XETS_NOMEM. */
    int (*put)(store_t *s, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx);

    /* Visits the key's objects in insertion order; XETS_NOTFOUND if none. */
    int (*get)(store_t *s, const unsigned char *key, size_t klen, visit_fn visit, void *ctx);

    /* Removes the key's objects for which match() is true (all of them when
     * match is NULL), calling removed() for each before it is retired.
     * Returns how many were removed (0 if none). */
    int (*remove)(store_t *s, const unsigned char *key, size_t klen, pred_fn match, void *mctx,
                  visit_fn removed, void *rctx);

    /* Atomically replaces the first of the key's objects (in insertion
     * order) for which fn computes a replacement, in its place; fn passes
     * an object over by returning XETS_NOTFOUND. Returns XETS_NOTFOUND if
     * fn took none, else fn's status. A set has one object per key. */
    int (*update)(store_t *s, const unsigned char *key, size_t klen, update_fn fn, void *ctx);

    /* Optional (NULL where a key has one object: update and remove serve
     * there): calls fn on each of the key's objects, in insertion order,
     * and replaces each in its place or removes it as fn decides, all in
     * one critical section of writers to the key. fn's replacements must
     * keep the key (and a bag's objects distinct). Returns how many objects were
     * replaced or removed, or fn's status (what fn decided before it
     * stays done) or XETS_NOMEM. */
    int (*rewrite)(store_t *s, const unsigned char *key, size_t klen, rewrite_fn fn, void *ctx);

    /* Visits objects in table order starting strictly after key `after`
     * (from the first object when after is NULL), until visit returns
     * nonzero. All objects of one key are visited together, in insertion
     * order. The key need not be in the table. Returns XETS_OK if visit
     * stopped the scan, XETS_END if the table ran out. Stores without an
     * order of their own ignore dir (ETS aliases last/prev to first/next). */
    int (*scan)(store_t *s, const unsigned char *after, size_t alen, enum scan_dir dir,
                visit_fn visit, void *ctx);

    /* Exact when no writer is active. */
    size_t (*size)(store_t *s);
    /* Bytes the structure and its objects occupy. */
    size_t (*memory)(store_t *s);

    /* Optional (NULL where the structure has no buckets): fills *out and
     * returns XETS_OK. Walks the whole structure, O(n). */
    int (*stats)(store_t *s, struct store_stats *out);

    /* Optional (NULL where the structure has no buckets), for ets:slot/2:
     * visits the objects of bucket j, all of them, in list order, as one
     * consistent read. The current number of buckets goes to *nbuckets;
     * returns XETS_END if j is not below it, else XETS_OK. */
    int (*bucket)(store_t *s, uint64_t j, uint64_t *nbuckets, visit_fn visit, void *ctx);
} store_ops_t;

extern const store_ops_t hash_table_ops;
extern const store_ops_t skiplist_ops;

#endif
