/* disk/lsm.c, the LSM store, over the simulated file system (disk/fs_sim.c).
 * 1. A model, for each table kind (set, bag, duplicate_bag: lsm_hash_ops;
 *    ordered_set: lsm_ordered_ops): random sequences of put (replace and
 *    new), remove (all of a key's objects, or those matching), update,
 *    rewrite (bags: keep, replace or remove each object), get and cursor
 *    walks with random bounds (absent, inclusive or exclusive at a key's
 *    sort key) and directions, the same on the LSM store and on an
 *    in-memory store of the same kind and order (hash_table_ops,
 *    skiplist_ops), every status, object list, walk and size compared.
 *    A memtable of a few KiB makes the flusher write SSTables during the
 *    run (lsm_info must show them); the store is closed and reopened at
 *    random points (same contents and size after, read from cold tables:
 *    the reads must answer XETS_NEED_IO, which the test serves as the glue
 *    does: out of the section, call_run_io, redo), and cleared now and
 *    then. Then lifecycle: a second open of the open directory is
 *    XETS_BUSY; another type or keypos is XETS_MISMATCH saying what.
 * 2. Crashes (sync always): random writes to a set, a bag and an
 *    ordered_set, each acknowledged only once lsm_sync returned XETS_OK;
 *    the machine halts at a random I/O call (fs_sim_fail, FS_SIM_HALT),
 *    the power is cut, the old handle closed (it must free everything:
 *    ASan's leak check), and the store reopened: every acknowledged write
 *    is there, the write in flight whole or not at all, the size equals
 *    the objects a full walk counts, and the store takes writes and
 *    survives a clean close and reopen after. The seed decides the writes
 *    and the halting call, and replays its run exactly: the flusher is
 *    held, and after each acknowledged write runs the flushes asked for
 *    alone (settle), so the store's threads make their file calls in one
 *    order; the first seeds run twice, their traces of file calls
 *    (fs_sim_trace) compared. It counts the seeds that halted while a
 *    memtable was written and while compacting or sweeping after one,
 *    and fails if a long run (200 seeds or more) reached no compaction.
 * 3. Threads: writers on distinct keys, readers doing gets and walks, a
 *    small memtable so that flushes run alongside; at the end every write
 *    is there (built with ThreadSanitizer too).
 * 4. Corruption at open: a byte flipped in the manifest, in an SSTable's
 *    index, in the middle of the WAL: XETS_CORRUPT naming the file; a byte
 *    flipped in an SSTable's data: XETS_CORRUPT at the read; a torn WAL
 *    tail: the store opens with the batches before it.
 * 5. Format: a manifest of another format version (MANIFEST_VERSION + 1)
 *    is refused with XETS_BADARG naming it (the NIF's {format, File}).
 * 6. A fault at every I/O call: a scripted workload (sync always, a
 *    memtable of 1 KiB: flushes and compactions) on each
 *    kind, its fs calls counted in a fault-free run (fs_sync wrapped to
 *    tell which are fsyncs); then for each call, or a seeded sample that
 *    fits the time, a run with that call failing: EIO, ENOSPC, a short
 *    write, or (on an fsync) EIO or ENOSPC. Every failure answers a
 *    status; no write is acknowledged, nor close answers XETS_OK, after a
 *    failed fsync, and writes are refused (XETS_IO) until reopened; the
 *    store is closed (freeing all: ASan), the power cut, and on reopen
 *    every acknowledged write is there (the one in flight whole or not at
 *    all), the size is the walked count, and it takes writes.
 * 7. Filters: a table of 20000 keys written at close and reopened, its
 *    cache cold (lsm_info: no cache bytes, filter bytes for its keys):
 *    lookups of keys it does not hold, spread over its whole range, load
 *    at most 1 block in 20 (the filter's false positives; without a
 *    filter they would load every block), lookups of keys it holds load
 *    theirs; for the hash order and the key order.
 * 8. Ranges: an ordered_set written in key order over many flushes and
 *    reopened cold: a walk of 10 keys caches the block or two that hold
 *    them (tables wholly outside its bounds are not even opened), and a
 *    walk to the end finds every key after its start.
 * 9. Reopening compacts: a table closed six times (each close writing a
 *    level-0 table) compacts once opened, as the flusher lets it.
 * 10. Closing while the flusher works on two tables (it yields between
 *    compactions by queueing the first again): 60 rounds, ASan catching a
 *    flusher that came back to a closed table.
 * 11. A memory limit: the memtables it allows, a table ten times it read
 *    back within the cache's bound, writers stalled and let go.
 * 12. A discardable store (a spilling table's): no fsync, no file made by
 *    its drop.
 * 13. Writes with no fsync due reach the WAL in few file calls (the
 *    committer's linger), none lost.
 * Usage: lsm_test [SEED] runs it all; lsm_test SEED N runs crash seed SEED
 * alone N times, to replay a failing one (its message names it), checking
 * that every run makes the same file calls; lsm_test
 * SEED faults runs 5 and 6 alone (a fault run's message names its call).
 * Exits nonzero on the first failure. */
#include <erl_nif.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "check.h"
#include "disk/fs.h"
#include "disk/fs_sim.h"
#include "disk/lsm.h"
#include "disk/manifest.h"
#include "disk/names.h"
#include "epoch.h"
#include "reaper.h"
#include "rng.h"
#include "status.h"
#include "store.h"

#ifdef __SANITIZE_THREAD__
#define SCALE 4 /* ThreadSanitizer runs several times slower: do less */
#else
#define SCALE 1
#endif

#ifdef __SANITIZE_THREAD__
/* A freeze holds flush_mu and all LSM_STRIPES stripes at once, past the 64
 * locks a thread may hold that ThreadSanitizer's deadlock detector tracks
 * (it aborts on a CHECK of its own). Races are still detected. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "detect_deadlocks=0";
}
#endif

/* The reaper's enif calls, on pthreads (no BEAM here). */
#include "enif_threads.h"

/* ---- bytes ---------------------------------------------------------------- */

typedef struct tbuf {
    unsigned char *p;
    size_t len, cap;
} tbuf_t;

static void tb_put(tbuf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        CHECK(b->p != NULL, "out of memory");
    }
    if (n && p != NULL)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void tb_u32(tbuf_t *b, uint32_t x)
{
    tb_put(b, &x, 4);
}

static bool tb_eq(const tbuf_t *a, const tbuf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* ---- running an operation as the glue does -------------------------------- */

static atomic_ulong need_io; /* XETS_NEED_IO answers served */

/* Serves a XETS_NEED_IO (outside any section): the request's status. */
static int serve_io(xets_call_t *call)
{
    atomic_fetch_add(&need_io, 1);
    if (call->io.run == NULL)
        return XETS_OK; /* a redo where the call may block: it may */
    return call_run_io(call);
}

typedef int (*op_fn)(void *arg, xets_call_t *call);

/* Runs fn inside a section, serving XETS_NEED_IO and redoing it; then
 * releases what its requests kept for it, as the glue does. */
static int run_op(op_fn fn, void *arg, xets_call_t *call)
{
    for (int tries = 0;; tries++) {
        CHECK(tries < 10000, "an operation asks for I/O without end");
        call->io.run = NULL;
        epoch_enter();
        int rc = fn(arg, call);
        epoch_exit();
        int io = rc == XETS_NEED_IO ? serve_io(call) : XETS_OK;
        if (rc != XETS_NEED_IO || io != XETS_OK) {
            call_keep_release(call);
            return rc != XETS_NEED_IO ? rc : io;
        }
    }
}

/* A rewrite's replacement (out's bytes must live until the rewrite
 * returns) of object i, unique to the op (salt) and i, so
 * that a bag's objects stay distinct. */
typedef struct repl {
    unsigned char b[40];
    size_t len;
} repl_t;

#define REPLS 256

/* One operation on one store, and what it answered (out: reset at each
 * try, so that a redo leaves only the last). */
typedef struct op {
    const store_ops_t *ops;
    store_t *s;
    const unsigned char *key;
    size_t klen;
    const unsigned char *val; /* put: the object; remove, update: the target (NULL: any) */
    size_t vlen;
    const unsigned char *val2; /* update: the replacement */
    size_t vlen2;
    enum put_mode mode;
    uint64_t salt; /* rewrite: its decisions */
    repl_t repl[REPLS];
    tbuf_t out;
} op_t;

static bool same_val(void *ctx, const rec_t *r)
{
    op_t *o = ctx;
    return r->vlen == o->vlen && memcmp(r->val, o->val, o->vlen) == 0;
}

static int out_rec(void *ctx, const rec_t *r)
{
    op_t *o = ctx;
    CHECK(r->vlen > 0, "an empty object");
    tb_u32(&o->out, (uint32_t)r->vlen);
    tb_put(&o->out, r->val, r->vlen);
    return 0;
}

static int do_put(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->out.len = 0;
    rec_in_t in = {o->key, o->klen, o->val, o->vlen, XXH3_64bits(o->val, o->vlen)};
    return o->ops->put(o->s, call, &in, o->mode, same_val, o);
}

static int do_get(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->out.len = 0;
    return o->ops->get(o->s, call, o->key, o->klen, out_rec, o);
}

static int do_remove(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->out.len = 0;
    return o->ops->remove(o->s, call, o->key, o->klen, o->val ? same_val : NULL, o, out_rec, o);
}

static int update_fn_(void *ctx, const rec_t *cur, rec_in_t *out)
{
    op_t *o = ctx;
    if (o->val != NULL && !same_val(o, cur))
        return XETS_NOTFOUND;
    *out = (rec_in_t){cur->key, cur->klen, o->val2, o->vlen2, XXH3_64bits(o->val2, o->vlen2)};
    return XETS_OK;
}

static int do_update(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->out.len = 0;
    return o->ops->update(o->s, call, o->key, o->klen, update_fn_, o);
}

static int rewrite_fn_(void *ctx, size_t i, const rec_t *cur, rec_in_t *out)
{
    op_t *o = ctx;
    uint64_t h = XXH3_64bits_withSeed(cur->val, cur->vlen, o->salt + i);
    int act = (int)(h % 3);
    if (act == REWRITE_REPLACE) {
        CHECK(i < REPLS, "a key of too many objects");
        repl_t *r = &o->repl[i];
        r->len = (size_t)snprintf((char *)r->b, sizeof r->b, "r%llu.%zu",
                                  (unsigned long long)o->salt, i);
        *out = (rec_in_t){cur->key, cur->klen, r->b, r->len, XXH3_64bits(r->b, r->len)};
    }
    return act;
}

static int do_rewrite(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->out.len = 0;
    return o->ops->rewrite(o->s, call, o->key, o->klen, rewrite_fn_, o);
}

/* A walk from lo to hi in direction dir, in sections: on XETS_NEED_IO the
 * cursor is closed, the I/O served, and the walk reopened after the last
 * key yielded (store.h). Into out: each key, its objects in order. */
static int walk(const store_ops_t *ops, store_t *s, xets_call_t *call, store_bound_t lo,
                store_bound_t hi, enum scan_dir dir, tbuf_t *out, size_t *objects)
{
    out->len = 0;
    *objects = 0;
    tbuf_t last = {0};
    bool have_last = false;
    bool back = ops->backward && dir == SCAN_BACKWARD;
    int rc;
    for (int tries = 0;; tries++) {
        CHECK(tries < 100000, "a walk asks for I/O without end");
        store_bound_t l = lo, h = hi;
        if (have_last && back)
            h = (store_bound_t){last.p, last.len, false};
        else if (have_last)
            l = (store_bound_t){last.p, last.len, false};
        store_cursor_t c;
        call->io.run = NULL;
        epoch_enter();
        store_cursor_open(&c, ops, s, call, l, h, dir);
        const rec_t *r;
        size_t n;
        while ((rc = store_cursor_next(&c, &r, &n)) == XETS_OK) {
            CHECK(n > 0, "a step of no objects");
            tb_u32(out, (uint32_t)r[0].klen);
            tb_put(out, r[0].key, r[0].klen);
            tb_u32(out, (uint32_t)n);
            for (size_t i = 0; i < n; i++) {
                CHECK(r[i].klen == r[0].klen && !memcmp(r[i].key, r[0].key, r[0].klen),
                      "a step of two keys");
                tb_u32(out, (uint32_t)r[i].vlen);
                tb_put(out, r[i].val, r[i].vlen);
            }
            *objects += n;
            size_t sl = store_sort_key(ops, r[0].key, r[0].klen, NULL, 0);
            last.len = 0;
            tb_put(&last, NULL, sl);
            last.len = 0;
            store_sort_key(ops, r[0].key, r[0].klen, last.p, sl);
            last.len = sl;
            have_last = true;
        }
        store_cursor_close(&c);
        epoch_exit();
        if (rc != XETS_NEED_IO)
            break;
        int io = serve_io(call);
        if (io != XETS_OK) {
            rc = io;
            break;
        }
    }
    free(last.p);
    call_keep_release(call);
    return rc == XETS_END ? XETS_OK : rc;
}

static int walk_all(const store_ops_t *ops, store_t *s, xets_call_t *call, tbuf_t *out,
                    size_t *objects)
{
    return walk(ops, s, call, STORE_UNBOUNDED, STORE_UNBOUNDED, SCAN_FORWARD, out, objects);
}

/* ---- opening ---------------------------------------------------------- */

typedef struct kind {
    const char *type;
    const store_ops_t *lsm, *ref;
    enum store_kind kind;
} kind_t;

static const kind_t kinds[] = {
    {"set", &lsm_hash_ops, &hash_table_ops, STORE_SET},
    {"bag", &lsm_hash_ops, &hash_table_ops, STORE_BAG},
    {"duplicate_bag", &lsm_hash_ops, &hash_table_ops, STORE_DUPLICATE_BAG},
    {"ordered_set", &lsm_ordered_ops, &skiplist_ops, STORE_SET},
};

/* The memory limit of the stores opened from now on (0: none), and
 * whether they are discardable. */
static size_t memory_limit;
static bool discardable;

static int open_lsm(const kind_t *k, const char *dir, uint32_t keypos, enum lsm_sync sync,
                    size_t memtable, lsm_mismatch_t *mm, store_t **out, xets_call_t *call)
{
    lsm_options_t lo = {.type = k->type, .keypos = keypos, .encoding = "exact.1", .sync = sync,
                        .memtable_bytes = memtable, .memory_limit = memory_limit,
                        .discardable = discardable,
                        .mismatch = mm};
    call->error = (call_error_t){0};
    return k->lsm->open(&(store_options_t){.kind = k->kind, .dir = dir, .disk = &lo}, out, call);
}

static store_t *open_ok(const kind_t *k, const char *dir, enum lsm_sync sync, size_t memtable)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *s = NULL;
    int st = open_lsm(k, dir, 1, sync, memtable, NULL, &s, &call);
    CHECK(st == XETS_OK, "%s: open: %d (%s of %s, errno %d)", k->type, st,
          call.error.op ? call.error.op : "-", call.error.file, call.error.err);
    return s;
}

static void close_ok(const kind_t *k, store_t *s)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    int st = k->lsm->close(s, &call);
    CHECK(st == XETS_OK, "%s: close: %d (%s of %s, errno %d)", k->type, st,
          call.error.op ? call.error.op : "-", call.error.file, call.error.err);
}

/* Clears s (outside any section) and drops what it held once no section
 * can see it. The objects it held. */
static size_t clear_ok(const store_ops_t *ops, store_t *s)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *old = NULL;
    size_t size = 0;
    int st = ops->clear(s, &old, &size, &call);
    CHECK(st == XETS_OK, "clear: %d", st);
    if (old != NULL) {
        epoch_synchronize();
        CHECK(ops->drop(old, &call) == XETS_OK, "drop what clear left");
    }
    return size;
}

/* Waits (a few seconds at most) until the flusher has written a table. */
static void wait_flush(store_t *s, const char *what)
{
    lsm_info_t info;
    for (int i = 0; i < 5000; i++) {
        lsm_info(s, &info);
        if (info.files > 0 && info.flushes > 0)
            return;
        usleep(1000);
    }
    CHECK(false, "%s: no SSTable after many memtables' worth of writes", what);
}

/* ---- 1. the model ------------------------------------------------------- */

#define KEYS 300

static size_t key_of(unsigned id, unsigned char *b)
{
    return (size_t)sprintf((char *)b, "k%u", id);
}

static size_t val_of(unsigned kid, unsigned vid, unsigned char *b)
{
    /* Some long ones, so that a bag key's list spans more. */
    int n = sprintf((char *)b, "v%u.%u", kid, vid);
    size_t len = (size_t)n + (vid % 4 == 3 ? 40 : 0);
    for (size_t i = (size_t)n; i < len; i++)
        b[i] = (unsigned char)('a' + (kid + i) % 26);
    return len;
}

static store_bound_t random_bound(const store_ops_t *ops, uint64_t *rng, unsigned char *buf)
{
    if (rng_below(rng, 3) == 0)
        return STORE_UNBOUNDED;
    unsigned char kb[16];
    size_t kl = key_of((unsigned)rng_below(rng, KEYS), kb);
    size_t n = store_sort_key(ops, kb, kl, buf, 64);
    CHECK(n <= 64, "sort key too long");
    return (store_bound_t){buf, n, rng_below(rng, 2) == 0};
}

/* Compares every object of both stores, and their sizes. */
static void compare_all(const kind_t *k, store_t *s, store_t *ref, xets_call_t *call,
                        const char *when, uint64_t seed)
{
    tbuf_t a = {0}, b = {0};
    size_t na, nb;
    int ra = walk_all(k->lsm, s, call, &a, &na);
    int rb = walk_all(k->ref, ref, call, &b, &nb);
    CHECK(ra == XETS_OK && rb == XETS_OK, "%s seed %llu %s: walk %d / %d", k->type,
          (unsigned long long)seed, when, ra, rb);
    CHECK(na == nb && tb_eq(&a, &b), "%s seed %llu %s: contents differ (%zu objects, model %zu)",
          k->type, (unsigned long long)seed, when, na, nb);
    CHECK(k->lsm->size(s) == k->ref->size(ref) && k->lsm->size(s) == na,
          "%s seed %llu %s: size %zu, model %zu, walk %zu", k->type, (unsigned long long)seed,
          when, k->lsm->size(s), k->ref->size(ref), na);
    free(a.p);
    free(b.p);
}

static void model_run(const kind_t *k, uint64_t seed, unsigned nops)
{
    fs_sim_reset();
    uint64_t rng = seed;
    const char *dir = "/m";
    size_t memtable = 2048 + rng_below(&rng, 8) * 1024;
    memory_limit = rng_below(&rng, 2) ? 64 * 1024 : 0; /* as crash_run */
    store_t *s = open_ok(k, dir, LSM_SYNC_NONE, memtable);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *ref = NULL;
    CHECK(k->ref->open(&(store_options_t){.kind = k->kind}, &ref, &call) == XETS_OK, "model");
    bool multi = k->kind != STORE_SET;
    op_t a = {.ops = k->lsm}, b = {.ops = k->ref};
    unsigned long reopens = 0, clears = 0;
    bool flushed = false;
    for (unsigned i = 0; i < nops; i++) {
        a.s = s;
        b.s = ref;
        unsigned char kb[16], vb[64], v2[64], lob[64], hib[64];
        unsigned kid = (unsigned)rng_below(&rng, KEYS);
        size_t kl = key_of(kid, kb);
        size_t vl = val_of(kid, (unsigned)rng_below(&rng, multi ? 6 : 12), vb);
        size_t vl2 = (size_t)sprintf((char *)v2, "u%u", i);
        a.key = b.key = kb;
        a.klen = b.klen = kl;
        a.val = b.val = vb;
        a.vlen = b.vlen = vl;
        a.val2 = b.val2 = v2;
        a.vlen2 = b.vlen2 = vl2;
        a.salt = b.salt = seed ^ ((uint64_t)i << 20);
        unsigned what = (unsigned)rng_below(&rng, 100);
        op_fn fn;
        const char *name;
        if (what < 40) {
            a.mode = b.mode = rng_below(&rng, 3) == 0 ? PUT_NEW : PUT_REPLACE;
            fn = do_put;
            name = "put";
        } else if (what < 55) {
            if (rng_below(&rng, 2))
                a.val = b.val = NULL;
            fn = do_remove;
            name = "remove";
        } else if (what < 65) {
            if (rng_below(&rng, 2))
                a.val = b.val = NULL;
            fn = do_update;
            name = "update";
        } else if (what < 72 && multi) {
            fn = do_rewrite;
            name = "rewrite";
        } else if (what < 90) {
            fn = do_get;
            name = "get";
        } else {
            store_bound_t lo = random_bound(k->lsm, &rng, lob);
            store_bound_t hi = random_bound(k->lsm, &rng, hib);
            enum scan_dir d = rng_below(&rng, 2) ? SCAN_BACKWARD : SCAN_FORWARD;
            size_t na, nb;
            int ra = walk(k->lsm, s, &call, lo, hi, d, &a.out, &na);
            int rb = walk(k->ref, ref, &call, lo, hi, d, &b.out, &nb);
            CHECK(ra == rb && na == nb && tb_eq(&a.out, &b.out),
                  "%s seed %llu op %u: walk (%s%s, %s%s, %s): %d, %zu objects; model %d, %zu",
                  k->type, (unsigned long long)seed, i, lo.pos ? "bound" : "none",
                  lo.inclusive ? " incl" : "", hi.pos ? "bound" : "none",
                  hi.inclusive ? " incl" : "", d == SCAN_BACKWARD ? "back" : "fwd", ra, na, rb,
                  nb);
            goto after;
        }
        {
            int ra = run_op(fn, &a, &call);
            int rb = run_op(fn, &b, &call);
            CHECK(ra == rb, "%s seed %llu op %u: %s of %s: %d, model %d", k->type,
                  (unsigned long long)seed, i, name, (char *)kb, ra, rb);
            CHECK(tb_eq(&a.out, &b.out), "%s seed %llu op %u: %s of %s: objects differ", k->type,
                  (unsigned long long)seed, i, name, (char *)kb);
            CHECK(k->lsm->size(s) == k->ref->size(ref), "%s seed %llu op %u: %s: size %zu, model %zu",
                  k->type, (unsigned long long)seed, i, name, k->lsm->size(s),
                  k->ref->size(ref));
        }
    after:
        if (!flushed) {
            lsm_info_t info;
            lsm_info(s, &info);
            flushed = info.files > 0;
        }
        unsigned r = (unsigned)rng_below(&rng, 1000);
        if (r < 3) {
            close_ok(k, s);
            s = open_ok(k, dir, LSM_SYNC_NONE, memtable);
            compare_all(k, s, ref, &call, "after reopen", seed);
            reopens++;
        } else if (r < 4) {
            size_t had = k->lsm->size(s);
            CHECK(clear_ok(k->lsm, s) == had, "%s: clear's size", k->type);
            clear_ok(k->ref, ref);
            compare_all(k, s, ref, &call, "after clear", seed);
            clears++;
        }
    }
    if (!flushed)
        wait_flush(s, k->type);
    compare_all(k, s, ref, &call, "at the end", seed);
    close_ok(k, s);
    s = open_ok(k, dir, LSM_SYNC_NONE, memtable);
    compare_all(k, s, ref, &call, "after the last reopen", seed);
    close_ok(k, s);
    CHECK(k->ref->close(ref, &call) == XETS_OK, "model close");
    free(a.out.p);
    free(b.out.p);
    printf("  %s: seed %llu, %u ops, %lu reopens, %lu clears%s\n", k->type,
           (unsigned long long)seed, nops, reopens, clears,
           memory_limit ? ", a 64 KiB memory limit" : "");
    memory_limit = 0;
}

static void test_model(uint64_t seed)
{
    unsigned long io0 = atomic_load(&need_io);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (unsigned r = 0; r < 2; r++)
            model_run(&kinds[k], seed + 1000 * k + r, 4000 / SCALE);
    CHECK(atomic_load(&need_io) > io0, "no read of a table ever asked for I/O");
}

static void test_lifecycle(void)
{
    fs_sim_reset();
    const kind_t *k = &kinds[0];
    store_t *s = open_ok(k, "/l", LSM_SYNC_NONE, 0);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *t = NULL;
    CHECK(open_lsm(k, "/l", 1, LSM_SYNC_NONE, 0, NULL, &t, &call) == XETS_BUSY,
          "a second open of an open directory");
    close_ok(k, s);
    lsm_mismatch_t mm = {0};
    CHECK(open_lsm(&kinds[1], "/l", 1, LSM_SYNC_NONE, 0, &mm, &t, &call) == XETS_MISMATCH,
          "opened as another type");
    CHECK(!strcmp(mm.what, "type") && !strcmp(mm.on_disk, "set") && !strcmp(mm.asked, "bag"),
          "mismatch: %s %s %s", mm.what, mm.on_disk, mm.asked);
    memset(&mm, 0, sizeof mm);
    CHECK(open_lsm(k, "/l", 2, LSM_SYNC_NONE, 0, &mm, &t, &call) == XETS_MISMATCH,
          "opened with another keypos");
    CHECK(!strcmp(mm.what, "keypos") && !strcmp(mm.on_disk, "1") && !strcmp(mm.asked, "2"),
          "mismatch: %s %s %s", mm.what, mm.on_disk, mm.asked);
    /* A refused open leaves the directory to the next. */
    s = open_ok(k, "/l", LSM_SYNC_NONE, 0);
    close_ok(k, s);
}

/* ---- 2. crashes ---------------------------------------------------------- */

/* After an acknowledged write (the committer idle: lsm_sync has seen its
 * fsync): the flushes it asked for, run now and alone. With the flusher
 * held (lsm_flusher_hold) between these, a seed's file calls come in one
 * order, and a fault or halt armed at call n hits the same call in every
 * run of it. */
static void settle(void)
{
    lsm_flusher_step();
}

/* A random write (put, or remove of all or of one object) into a and b. */
static void crash_write(const kind_t *k, uint64_t *rng, unsigned i, op_t *a, op_t *b,
                        unsigned char *kb, unsigned char *vb, op_fn *fn)
{
    unsigned kid = (unsigned)rng_below(rng, 60);
    a->key = b->key = kb;
    a->klen = b->klen = key_of(kid, kb);
    a->val = b->val = vb;
    a->vlen = b->vlen = val_of(kid, (unsigned)rng_below(rng, 5) + 5 * (i % 7), vb);
    a->mode = b->mode = PUT_REPLACE;
    *fn = do_put;
    if (rng_below(rng, 4) == 0) {
        *fn = do_remove;
        if (k->kind == STORE_SET || rng_below(rng, 2))
            a->val = b->val = NULL;
    }
}

/* Where crash runs halted: anywhere (at all), in the flusher's work
 * after a write (writing a memtable; or after it, compacting and
 * sweeping), and how many had compacted before the cut. */
typedef struct crash_tally {
    unsigned long halted, in_flush, in_compaction, compacted;
} crash_tally_t;

/* One crash seed; returns the trace of its file calls up to the power cut
 * (fs_sim_trace), the same in every run of the seed. */
static uint64_t crash_run(uint64_t seed, crash_tally_t *tally)
{
    fs_sim_reset();
    lsm_flusher_hold(true);
    uint64_t rng = seed;
    const kind_t *k = &kinds[seed % 4];
    size_t memtable = 1024 + rng_below(&rng, 4) * 1024;
    /* Half the runs under a small memory limit: blocks evicted and read
     * again between writes. */
    memory_limit = rng_below(&rng, 2) ? 64 * 1024 : 0;
    store_t *s = open_ok(k, "/c", LSM_SYNC_ALWAYS, memtable);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *ref = NULL;
    CHECK(k->ref->open(&(store_options_t){.kind = k->kind}, &ref, &call) == XETS_OK, "model");
    static op_t a, b;
    a.ops = k->lsm;
    b.ops = k->ref;
    a.s = s;
    b.s = ref;
    unsigned nw = 10 + (unsigned)rng_below(&rng, 150);
    uint64_t at = fs_sim_calls() + rng_below(&rng, 4 * nw + 40);
    fs_sim_fail(at - fs_sim_calls(), EIO, FS_SIM_HALT);
    unsigned char kb[16], vb[64];
    op_fn fn = NULL;
    bool in_flight = false;
    for (unsigned i = 0; i < nw; i++) {
        crash_write(k, &rng, i, &a, &b, kb, vb, &fn);
        int ra = run_op(fn, &a, &call);
        if (ra == XETS_IO)
            break; /* refused: nothing done */
        /* Compared with the model now: the model takes it only once
         * acknowledged. */
        CHECK(ra >= 0, "crash seed %llu: write %u: %d", (unsigned long long)seed, i, ra);
        if (lsm_sync(s, &call) != XETS_OK) {
            in_flight = true;
            break;
        }
        int rb = run_op(fn, &b, &call);
        CHECK(ra == rb && tb_eq(&a.out, &b.out), "crash seed %llu: write %u: %d, model %d",
              (unsigned long long)seed, i, ra, rb);
        lsm_info_t before, after;
        lsm_info(s, &before);
        bool running = fs_sim_calls() <= at;
        settle();
        if (running && fs_sim_calls() > at) {
            lsm_info(s, &after);
            if (after.flushes == before.flushes)
                tally->in_flush++;
            else
                tally->in_compaction++;
        }
    }
    if (fs_sim_calls() > at)
        tally->halted++;
    {
        lsm_info_t info;
        lsm_info(s, &info);
        tally->compacted += info.compactions > 0;
    }
    uint64_t trace = fs_sim_trace() ^ fs_sim_calls();
    fs_sim_power_cut(seed);
    lsm_flusher_hold(false);
    /* The old handle: its files are gone stale; it must still free all. */
    k->lsm->close(s, &call);

    s = open_ok(k, "/c", LSM_SYNC_ALWAYS, memtable);
    tbuf_t got = {0}, want = {0};
    size_t ng, nwant;
    CHECK(walk_all(k->lsm, s, &call, &got, &ng) == XETS_OK, "crash seed %llu: walk",
          (unsigned long long)seed);
    CHECK(walk_all(k->ref, ref, &call, &want, &nwant) == XETS_OK, "model walk");
    if (!(ng == nwant && tb_eq(&got, &want)) && in_flight) {
        /* The write in flight, whole. */
        run_op(fn, &b, &call);
        CHECK(walk_all(k->ref, ref, &call, &want, &nwant) == XETS_OK, "model walk");
    }
    CHECK(ng == nwant && tb_eq(&got, &want),
          "crash seed %llu (%s): after recovery %zu objects, acknowledged %zu (in flight: %d)",
          (unsigned long long)seed, k->type, ng, nwant, in_flight);
    CHECK(k->lsm->size(s) == ng, "crash seed %llu: size %zu, objects %zu",
          (unsigned long long)seed, k->lsm->size(s), ng);

    /* Recovery made what it serves durable: a power cut now loses none. */
    fs_sim_power_cut(seed + 1);
    k->lsm->close(s, &call);
    s = open_ok(k, "/c", LSM_SYNC_ALWAYS, memtable);
    a.s = s;
    compare_all(k, s, ref, &call, "after a second power cut", seed);

    /* And the store goes on. */
    for (unsigned i = 0; i < 30; i++) {
        crash_write(k, &rng, i, &a, &b, kb, vb, &fn);
        int ra = run_op(fn, &a, &call);
        int rb = run_op(fn, &b, &call);
        CHECK(ra == rb && tb_eq(&a.out, &b.out), "crash seed %llu: write %u after: %d, model %d",
              (unsigned long long)seed, i, ra, rb);
    }
    CHECK(lsm_sync(s, &call) == XETS_OK, "crash seed %llu: sync after recovery: %s of %s, errno %d",
          (unsigned long long)seed, call.error.op, call.error.file, call.error.err);
    close_ok(k, s);
    s = open_ok(k, "/c", LSM_SYNC_ALWAYS, memtable);
    compare_all(k, s, ref, &call, "after recovery, writes and a reopen", seed);
    close_ok(k, s);
    CHECK(k->ref->close(ref, &call) == XETS_OK, "model close");
    free(got.p);
    free(want.p);
    memory_limit = 0;
    return trace;
}

/* Runs seed `times` times: each run makes the same file calls in the same
 * order up to its power cut. */
static void crash_replay(uint64_t seed, long times, crash_tally_t *tally)
{
    uint64_t first = crash_run(seed, tally);
    for (long i = 1; i < times; i++) {
        uint64_t again = crash_run(seed, tally);
        CHECK(again == first, "crash seed %llu: run %ld made other file calls (trace %016llx, "
              "first run %016llx)", (unsigned long long)seed, i + 1, (unsigned long long)again,
              (unsigned long long)first);
    }
}

static void test_crashes(uint64_t seed, double seconds)
{
    int64_t end = call_now() + (int64_t)(seconds * 1e6);
    unsigned long n = 0;
    crash_tally_t replays = {0}, t = {0};
    /* The first seeds twice each: a seed replays its run. */
    for (; n < 20; n++)
        crash_replay(seed + n, 2, &replays);
    for (; call_now() < end; n++)
        crash_run(seed + n, &t);
    printf("  crashes: %lu seeds from %llu (the first 20 run twice, same file calls); of the "
           "others %lu halted mid-run, %lu while a memtable was written, %lu while compacting "
           "or sweeping after one; %lu had compacted before the cut\n",
           n, (unsigned long long)seed, t.halted, t.in_flush, t.in_compaction, t.compacted);
    /* A crash inside a compaction is one this test must reach. */
    CHECK(n < 200 || (t.in_compaction > 0 && t.compacted > 0),
          "crashes: no seed halted in a compaction");
}

/* ---- 3. threads -------------------------------------------------------- */

#define WRITERS 3
#define READERS 2

typedef struct shared {
    const kind_t *k;
    store_t *s;
    atomic_int writing;
    unsigned n; /* keys per writer */
} shared_t;

typedef struct writer {
    shared_t *sh;
    unsigned t;
    uint64_t seed;
    int *last; /* per key: the vid of its object, -1 absent */
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    shared_t *sh = w->sh;
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    uint64_t rng = w->seed;
    op_t o = {.ops = sh->k->lsm, .s = sh->s};
    for (unsigned i = 0; i < 4 * sh->n; i++) {
        unsigned j = (unsigned)rng_below(&rng, sh->n);
        unsigned kid = w->t * 100000 + j;
        unsigned char kb[16], vb[64];
        o.key = kb;
        o.klen = key_of(kid, kb);
        unsigned vid = i;
        o.val = vb;
        o.vlen = val_of(kid, vid, vb);
        o.mode = PUT_REPLACE;
        if (rng_below(&rng, 5) == 0) {
            o.val = NULL;
            int rc = run_op(do_remove, &o, &call);
            CHECK(rc == (w->last[j] >= 0), "threads: remove: %d", rc);
            w->last[j] = -1;
        } else {
            CHECK(run_op(do_put, &o, &call) == XETS_OK, "threads: put");
            w->last[j] = (int)vid;
        }
    }
    free(o.out.p);
    epoch_synchronize(); /* this thread's retirements, before it ends */
    return NULL;
}

/* Checks a walk's or a get's objects: each the object of its key. */
static void check_objects(const tbuf_t *b, bool walk_form)
{
    const unsigned char *p = b->p, *end = b->p + b->len;
    while (p < end) {
        uint32_t klen = 0, n = 1;
        const unsigned char *key = NULL;
        if (walk_form) {
            memcpy(&klen, p, 4);
            key = p + 4;
            p += 4 + klen;
            memcpy(&n, p, 4);
            p += 4;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t vlen;
            memcpy(&vlen, p, 4);
            p += 4;
            CHECK(vlen > 1 && p[0] == 'v', "threads: a malformed object");
            if (key != NULL) {
                unsigned char want[16];
                size_t wl = (size_t)sprintf((char *)want, "v%.*s.", (int)klen - 1,
                                            (const char *)key + 1);
                CHECK(vlen > wl && !memcmp(p, want, wl), "threads: an object under another key");
            }
            p += vlen;
        }
    }
}

static void *reader_main(void *arg)
{
    shared_t *sh = arg;
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    uint64_t rng = (uint64_t)(uintptr_t)&call | 1;
    op_t o = {.ops = sh->k->lsm, .s = sh->s};
    tbuf_t out = {0};
    while (atomic_load(&sh->writing)) {
        unsigned kid = (unsigned)rng_below(&rng, WRITERS) * 100000 + (unsigned)rng_below(&rng, sh->n);
        unsigned char kb[16], lob[64], hib[64];
        o.key = kb;
        o.klen = key_of(kid, kb);
        int rc = run_op(do_get, &o, &call);
        CHECK(rc == XETS_OK || rc == XETS_NOTFOUND, "threads: get: %d", rc);
        check_objects(&o.out, false);
        if (rng_below(&rng, 8) == 0) {
            size_t n;
            store_bound_t lo = random_bound(sh->k->lsm, &rng, lob);
            store_bound_t hi = random_bound(sh->k->lsm, &rng, hib);
            CHECK(walk(sh->k->lsm, sh->s, &call, lo, hi, SCAN_FORWARD, &out, &n) == XETS_OK,
                  "threads: walk");
            check_objects(&out, true);
        }
    }
    free(out.p);
    free(o.out.p);
    epoch_synchronize();
    return NULL;
}

static void check_final(shared_t *sh, writer_t *w, const char *when)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    op_t o = {.ops = sh->k->lsm, .s = sh->s};
    size_t present = 0;
    for (unsigned t = 0; t < WRITERS; t++)
        for (unsigned j = 0; j < sh->n; j++) {
            unsigned char kb[16], vb[64];
            unsigned kid = t * 100000 + j;
            o.key = kb;
            o.klen = key_of(kid, kb);
            int rc = run_op(do_get, &o, &call);
            if (w[t].last[j] < 0) {
                CHECK(rc == XETS_NOTFOUND, "threads %s: removed key %u: %d", when, kid, rc);
                continue;
            }
            present++;
            size_t vl = val_of(kid, (unsigned)w[t].last[j], vb);
            uint32_t got;
            CHECK(rc == XETS_OK && o.out.len == 4 + vl && (memcpy(&got, o.out.p, 4), got == vl) &&
                      !memcmp(o.out.p + 4, vb, vl),
                  "threads %s: key %u: %d, not its last object", when, kid, rc);
        }
    tbuf_t all = {0};
    size_t n;
    CHECK(walk_all(sh->k->lsm, sh->s, &call, &all, &n) == XETS_OK, "threads: walk");
    CHECK(n == present && sh->k->lsm->size(sh->s) == present,
          "threads %s: %zu objects walked, size %zu, written %zu", when, n,
          sh->k->lsm->size(sh->s), present);
    free(all.p);
    free(o.out.p);
}

static void test_threads(uint64_t seed)
{
    const kind_t *ks[] = {&kinds[0], &kinds[3]};
    for (int x = 0; x < 2; x++) {
        fs_sim_reset();
        shared_t sh = {.k = ks[x], .n = 3000 / (SCALE + 1)}; /* the part TSan is for */
        sh.s = open_ok(sh.k, "/th", LSM_SYNC_NONE, 4096);
        atomic_store(&sh.writing, 1);
        writer_t w[WRITERS];
        pthread_t wt[WRITERS], rt[READERS];
        for (unsigned t = 0; t < WRITERS; t++) {
            w[t] = (writer_t){&sh, t, seed * 31 + t + 1, malloc(sh.n * sizeof(int))};
            CHECK(w[t].last != NULL, "out of memory");
            for (unsigned j = 0; j < sh.n; j++)
                w[t].last[j] = -1;
            CHECK(pthread_create(&wt[t], NULL, writer_main, &w[t]) == 0, "thread");
        }
        for (unsigned r = 0; r < READERS; r++)
            CHECK(pthread_create(&rt[r], NULL, reader_main, &sh) == 0, "thread");
        for (unsigned t = 0; t < WRITERS; t++)
            pthread_join(wt[t], NULL);
        atomic_store(&sh.writing, 0);
        for (unsigned r = 0; r < READERS; r++)
            pthread_join(rt[r], NULL);
        lsm_info_t info;
        lsm_info(sh.s, &info);
        CHECK(info.flushes > 0, "threads: no flush ran");
        check_final(&sh, w, "at the end");
        close_ok(sh.k, sh.s);
        sh.s = open_ok(sh.k, "/th", LSM_SYNC_NONE, 4096);
        check_final(&sh, w, "after reopen");
        close_ok(sh.k, sh.s);
        for (unsigned t = 0; t < WRITERS; t++)
            free(w[t].last);
        printf("  threads: %s, %u writers, %u readers, %lu flushes\n", sh.k->type, WRITERS,
               READERS, (unsigned long)info.flushes);
    }
}

/* ---- 4. corruption ----------------------------------------------------- */

/* The name of the first file of dir whose name contains part. */
static void find_file(const char *dir, const char *part, char *out)
{
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open(dir, false, &d, OWN_CALL) == XETS_OK, "open %s", dir);
    char **names;
    size_t n;
    CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK, "list");
    out[0] = '\0';
    for (size_t i = 0; i < n && !out[0]; i++)
        if (strstr(names[i], part) != NULL)
            snprintf(out, 64, "%s", names[i]);
    free(names);
    fs_dir_close(d);
    CHECK(out[0], "no %s file in %s", part, dir);
}

/* Flips the byte at offset (from the end if negative) of dir/name; its
 * size, through *size. */
static uint64_t flip(const char *dir, const char *name, int64_t offset)
{
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open(dir, false, &d, OWN_CALL) == XETS_OK, "open %s", dir);
    fs_file_t *f = NULL;
    CHECK(fs_open(d, name, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open %s", name);
    uint64_t size;
    CHECK(fs_size(f, &size, OWN_CALL) == XETS_OK, "size");
    uint64_t at = offset < 0 ? size - (uint64_t)-offset : (uint64_t)offset;
    unsigned char c;
    size_t got;
    CHECK(fs_read(f, at, &c, 1, &got, OWN_CALL) == XETS_OK && got == 1, "read");
    c ^= 0x5a;
    CHECK(fs_write(f, at, &c, 1, OWN_CALL) == XETS_OK, "write");
    fs_close(f);
    fs_dir_close(d);
    return size;
}

static void cut(const char *dir, const char *name, uint64_t by)
{
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open(dir, false, &d, OWN_CALL) == XETS_OK, "open %s", dir);
    fs_file_t *f = NULL;
    CHECK(fs_open(d, name, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open %s", name);
    uint64_t size;
    CHECK(fs_size(f, &size, OWN_CALL) == XETS_OK, "size");
    CHECK(fs_truncate(f, size - by, OWN_CALL) == XETS_OK, "truncate");
    fs_close(f);
    fs_dir_close(d);
}

static void expect_corrupt(const kind_t *k, const char *dir, const char *name, const char *what)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *s = NULL;
    int st = open_lsm(k, dir, 1, LSM_SYNC_NONE, 4096, NULL, &s, &call);
    CHECK(st == XETS_CORRUPT, "%s: open answers %d", what, st);
    CHECK(!strcmp(call.error.file, name), "%s: the error names %s, not %s", what,
          call.error.file, name);
}

/* Writes keys 0 .. n-1 (each synced when sync, as its own WAL record). */
static void fill(const kind_t *k, store_t *s, unsigned n, bool sync)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    op_t o = {.ops = k->lsm, .s = s, .mode = PUT_REPLACE};
    for (unsigned i = 0; i < n; i++) {
        unsigned char kb[16], vb[64];
        o.key = kb;
        o.klen = key_of(i, kb);
        o.val = vb;
        o.vlen = val_of(i, 1, vb);
        CHECK(run_op(do_put, &o, &call) == XETS_OK, "put");
        if (sync)
            CHECK(lsm_sync(s, &call) == XETS_OK, "sync");
    }
    free(o.out.p);
}

static void test_corruption(void)
{
    const kind_t *k = &kinds[3];
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    char name[64];

    /* The manifest, and SSTables. */
    fs_sim_reset();
    store_t *s = open_ok(k, "/x", LSM_SYNC_NONE, 4096);
    fill(k, s, 400, false);
    wait_flush(s, "corruption");
    close_ok(k, s);
    /* Reads are to find the damage: no compaction an open asks for. */
    lsm_flusher_hold(true);
    find_file("/x", "MANIFEST", name);
    uint64_t size = flip("/x", name, 0);
    expect_corrupt(k, "/x", name, "a manifest's first byte flipped");
    flip("/x", name, 0);
    flip("/x", name, (int64_t)size / 3);
    expect_corrupt(k, "/x", name, "a byte in the first third of the manifest flipped");
    flip("/x", name, (int64_t)size / 3);
    find_file("/x", ".sst", name);
    flip("/x", name, -1);
    expect_corrupt(k, "/x", name, "an SSTable's last byte flipped");
    flip("/x", name, -1);
    flip("/x", name, 8);
    /* Data blocks are read only when needed. */
    s = NULL;
    int st = open_lsm(k, "/x", 1, LSM_SYNC_NONE, 4096, NULL, &s, &call);
    if (st == XETS_OK) {
        tbuf_t out = {0};
        size_t n;
        st = walk_all(k->lsm, s, &call, &out, &n);
        free(out.p);
        close_ok(k, s);
    }
    CHECK(st == XETS_CORRUPT && !strcmp(call.error.file, name),
          "an SSTable's data byte flipped: %d, naming %s", st, call.error.file);
    flip("/x", name, 8);
    s = open_ok(k, "/x", LSM_SYNC_NONE, 4096);
    CHECK(k->lsm->size(s) == 400, "restored: size %zu", k->lsm->size(s));
    close_ok(k, s);

    /* The WAL: 50 records, each synced, then a power cut. */
    fs_sim_reset();
    s = open_ok(k, "/w", LSM_SYNC_ALWAYS, 1 << 20);
    fill(k, s, 50, true);
    fs_sim_power_cut(1);
    k->lsm->close(s, &call);
    find_file("/w", ".wal", name);
    size = flip("/w", name, 0);
    (void)size;
    flip("/w", name, 0);
    size = flip("/w", name, -1);
    flip("/w", name, -1);
    flip("/w", name, (int64_t)size / 2);
    expect_corrupt(k, "/w", name, "a byte in the middle of the WAL flipped");
    flip("/w", name, (int64_t)size / 2);
    /* A torn tail: the last record cut. */
    cut("/w", name, 3);
    s = open_ok(k, "/w", LSM_SYNC_ALWAYS, 1 << 20);
    tbuf_t out = {0};
    size_t n;
    CHECK(walk_all(k->lsm, s, &call, &out, &n) == XETS_OK, "walk");
    CHECK(n == 49 && k->lsm->size(s) == 49, "a torn WAL tail: %zu objects, size %zu, not 49", n,
          k->lsm->size(s));
    free(out.p);
    close_ok(k, s);
    lsm_flusher_hold(false);
    printf("  corruption: manifest, SSTable index and data, WAL middle and tail\n");
}

/* ---- 6. a fault at every I/O call ---------------------------------------- */

/* fs_sync goes through this wrapper (the build links with
 * --wrap=fs_sync): it records which counted calls are fsyncs (in the
 * fault-free run) and whether one failed (in a faulted run). */
int __real_fs_sync(fs_file_t *f, xets_call_t *call);
#define FSYNC_MAP 65536
static atomic_bool fsync_record;
static unsigned char fsync_at[FSYNC_MAP]; /* written while recording only */
static atomic_int fsync_failed;

int __wrap_fs_sync(fs_file_t *f, xets_call_t *call)
{
    uint64_t at = fs_sim_calls(); /* this call's number, unless another thread's came first */
    int st = __real_fs_sync(f, call);
    if (atomic_load(&fsync_record) && at < FSYNC_MAP)
        fsync_at[at] = 1;
    if (st != XETS_OK)
        atomic_store(&fsync_failed, 1);
    return st;
}

#define FAULT_WRITES 150
#define FAULT_MEMTABLE 1024

static bool fault_status(int st)
{
    return st == XETS_IO || st == XETS_CORRUPT || st == XETS_NOMEM;
}

typedef struct fault_tally {
    unsigned long runs, eio, enospc, shorts, fsyncs, fsync_failed, open_failed, refused, in_flight;
} fault_tally_t;

/* The scripted workload (sync always: a write acknowledged once lsm_sync
 * answers XETS_OK) on a fresh file system, the fault armed at call k
 * (k < 0: none), then close, a power cut, a reopen with no fault, and the
 * checks. The calls the workload and close made, through *calls. */
static void fault_run(const kind_t *k, int64_t fault, int err, enum fs_sim_fault fkind,
                      fault_tally_t *t, uint64_t *calls)
{
    fs_sim_reset();
    lsm_flusher_hold(true);
    atomic_store(&fsync_failed, 0);
    if (fault >= 0)
        fs_sim_fail((uint64_t)fault, err, fkind);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *ref = NULL;
    CHECK(k->ref->open(&(store_options_t){.kind = k->kind}, &ref, &call) == XETS_OK, "model");
    static op_t a, b;
    a.ops = k->lsm;
    b.ops = k->ref;
    b.s = ref;
    store_t *s = NULL;
    int st = open_lsm(k, "/f", 1, LSM_SYNC_ALWAYS, FAULT_MEMTABLE, NULL, &s, &call);
    CHECK(st == XETS_OK || fault_status(st), "faults (%s, call %lld): open: %d", k->type,
          (long long)fault, st);
    a.s = s;
    uint64_t rng = 77;
    unsigned char kb[16], vb[64];
    op_fn fn = NULL;
    bool in_flight = false, failed = st != XETS_OK, waited = false;
    if (failed)
        t->open_failed++;
    for (unsigned i = 0; i < FAULT_WRITES && !failed; i++) {
        crash_write(k, &rng, i, &a, &b, kb, vb, &fn);
        bool fsync_before = atomic_load(&fsync_failed);
        if (fsync_before && !waited) {
            /* The failing thread marks the store failed just after its
             * fsync: given time, on a loaded machine too. */
            usleep(20000);
            waited = true;
        }
        int ra = run_op(fn, &a, &call);
        CHECK(ra >= 0 || fault_status(ra), "faults (%s, call %lld): write %u: %d", k->type,
              (long long)fault, i, ra);
        if (ra < 0) {
            /* A failed read changes nothing, and the store goes on; a
             * refused write (XETS_IO) is refused for good. */
            continue;
        }
        CHECK(!fsync_before, "faults (%s, call %lld): write %u taken (%d) after a failed fsync",
              k->type, (long long)fault, i, ra);
        int ss = lsm_sync(s, &call);
        if (ss != XETS_OK) {
            CHECK(ss == XETS_IO, "faults (%s, call %lld): sync: %d", k->type, (long long)fault,
                  ss);
            in_flight = true;
            failed = true;
            break;
        }
        CHECK(!fsync_before, "faults (%s, call %lld): write %u acknowledged after a failed fsync",
              k->type, (long long)fault, i);
        int rb = run_op(fn, &b, &call);
        CHECK(ra == rb && tb_eq(&a.out, &b.out), "faults (%s, call %lld): write %u: %d, model %d",
              k->type, (long long)fault, i, ra, rb);
        settle();
    }
    if (s != NULL && atomic_load(&fsync_failed)) {
        /* Refused until reopened. */
        if (!waited)
            usleep(20000);
        a.key = (const unsigned char *)"probe";
        a.klen = 5;
        a.val = (const unsigned char *)"vprobe";
        a.vlen = 6;
        a.mode = PUT_REPLACE;
        int rp = run_op(do_put, &a, &call);
        CHECK(rp == XETS_IO, "faults (%s, call %lld): a write after a failed fsync: %d", k->type,
              (long long)fault, rp);
        t->refused++;
    }
    if (s != NULL) {
        int sc = k->lsm->close(s, &call);
        CHECK(sc == XETS_OK || fault_status(sc), "faults (%s, call %lld): close: %d", k->type,
              (long long)fault, sc);
        CHECK(sc != XETS_OK || !atomic_load(&fsync_failed),
              "faults (%s, call %lld): close answers XETS_OK after a failed fsync", k->type,
              (long long)fault);
    }
    *calls = fs_sim_calls();
    if (fault >= 0) {
        t->runs++;
        t->in_flight += in_flight;
        t->fsync_failed += atomic_load(&fsync_failed) != 0;
    }
    /* Disarmed; what was not durable may be lost. */
    fs_sim_power_cut((uint64_t)(fault + 1) * 2654435761u);
    lsm_flusher_hold(false);

    s = open_ok(k, "/f", LSM_SYNC_ALWAYS, FAULT_MEMTABLE);
    a.s = s;
    tbuf_t got = {0}, want = {0};
    size_t ng, nwant;
    CHECK(walk_all(k->lsm, s, &call, &got, &ng) == XETS_OK, "faults (%s, call %lld): walk",
          k->type, (long long)fault);
    CHECK(walk_all(k->ref, ref, &call, &want, &nwant) == XETS_OK, "model walk");
    if (!(ng == nwant && tb_eq(&got, &want)) && in_flight) {
        run_op(fn, &b, &call); /* the write in flight, whole */
        CHECK(walk_all(k->ref, ref, &call, &want, &nwant) == XETS_OK, "model walk");
    }
    CHECK(ng == nwant && tb_eq(&got, &want),
          "faults (%s, call %lld, errno %d, kind %d): after reopen %zu objects, acknowledged %zu",
          k->type, (long long)fault, err, (int)fkind, ng, nwant);
    CHECK(k->lsm->size(s) == ng, "faults (%s, call %lld): size %zu, walked %zu", k->type,
          (long long)fault, k->lsm->size(s), ng);
    /* And it takes writes again. */
    for (unsigned i = 0; i < 5; i++) {
        crash_write(k, &rng, i, &a, &b, kb, vb, &fn);
        int ra = run_op(fn, &a, &call);
        int rb = run_op(fn, &b, &call);
        CHECK(ra == rb && tb_eq(&a.out, &b.out), "faults (%s, call %lld): write after: %d, model %d",
              k->type, (long long)fault, ra, rb);
        CHECK(lsm_sync(s, &call) == XETS_OK, "faults (%s, call %lld): sync after reopen",
              k->type, (long long)fault);
    }
    close_ok(k, s);
    CHECK(k->ref->close(ref, &call) == XETS_OK, "model close");
    free(got.p);
    free(want.p);
}

static void test_faults(uint64_t seed, double seconds)
{
    int64_t start = call_now();
    fault_tally_t t = {0};
    uint64_t rng = seed;
    unsigned long total = 0, sampled = 0;
    for (size_t x = 0; x < sizeof kinds / sizeof *kinds; x++) {
        const kind_t *k = &kinds[x];
        /* The fault-free run: how many calls, which are fsyncs. */
        memset(fsync_at, 0, sizeof fsync_at);
        atomic_store(&fsync_record, true);
        uint64_t calls;
        int64_t t0 = call_now();
        fault_run(k, -1, 0, FS_SIM_FAIL, &t, &calls);
        atomic_store(&fsync_record, false);
        int64_t per = call_now() - t0;
        total += calls;
        /* A merge ran: more flushes than tables. */
        {
            fs_sim_reset();
            store_t *s = open_ok(k, "/f", LSM_SYNC_ALWAYS, FAULT_MEMTABLE);
            xets_call_t call;
            call_init(&call, CALL_OWN, NULL);
            static op_t a, b;
            a.ops = k->lsm;
            a.s = s;
            b.ops = k->ref;
            uint64_t r = 77;
            unsigned char kb[16], vb[64];
            op_fn fn;
            for (unsigned i = 0; i < FAULT_WRITES; i++) {
                crash_write(k, &r, i, &a, &b, kb, vb, &fn);
                CHECK(run_op(fn, &a, &call) >= 0 && lsm_sync(s, &call) == XETS_OK, "faults: write");
                settle();
            }
            lsm_info_t info;
            lsm_info(s, &info);
            CHECK(info.compactions > 0, "faults (%s): %lu flushes, %zu tables: no compaction",
                  k->type, (unsigned long)info.flushes, info.files);
            close_ok(k, s);
            free(a.out.p);
            a.out = (tbuf_t){0};
        }
        /* Each kind gets its share of the time left. */
        double left = seconds - (double)(call_now() - start) / 1e6;
        uint64_t budget = (uint64_t)(left / (double)(sizeof kinds / sizeof *kinds - x) * 1e6 /
                                     (double)(per > 1000 ? per : 1000));
        if (budget < 8)
            budget = 8;
        /* Every call, or every step-th from a seeded offset. */
        uint64_t step = calls <= budget ? 1 : (calls + budget - 1) / budget;
        uint64_t off = step > 1 ? rng_below(&rng, step) : 0;
        unsigned cycle = 0;
        for (uint64_t c = off; c < calls; c += step) {
            uint64_t kc = c;
            bool fsync = c < FSYNC_MAP && fsync_at[c];
            int err;
            enum fs_sim_fault fk;
            if (cycle % 4 == 3) {
                /* The next fsync at or after c. */
                while (kc < calls && kc < FSYNC_MAP && !fsync_at[kc])
                    kc++;
                if (kc >= calls || kc >= FSYNC_MAP)
                    kc = c;
                fsync = kc < FSYNC_MAP && fsync_at[kc];
            }
            if (fsync) {
                err = cycle % 2 ? ENOSPC : EIO;
                fk = FS_SIM_FAIL;
                t.fsyncs++;
            } else if (cycle % 4 == 1) {
                err = ENOSPC;
                fk = FS_SIM_FAIL;
                t.enospc++;
            } else if (cycle % 4 == 2) {
                err = ENOSPC;
                fk = FS_SIM_SHORT;
                t.shorts++;
            } else {
                err = EIO;
                fk = FS_SIM_FAIL;
                t.eio++;
            }
            cycle++;
            uint64_t ignored;
            fault_run(k, (int64_t)kc, err, fk, &t, &ignored);
            sampled++;
        }
        printf("  faults: %s, %llu calls, %.1f ms a run, every %llu-th call from %llu\n", k->type,
               (unsigned long long)calls, (double)per / 1000, (unsigned long long)step,
               (unsigned long long)off);
    }
    printf("  faults: seed %llu, %lu runs over %lu calls: %lu EIO, %lu ENOSPC, %lu short writes, "
           "%lu at an fsync (%lu runs saw an fsync fail, %lu then refused writes), %lu opens "
           "failed, %lu writes in flight; %.1f s\n",
           (unsigned long long)seed, t.runs, total, t.eio, t.enospc, t.shorts, t.fsyncs,
           t.fsync_failed, t.refused, t.open_failed, t.in_flight,
           (double)(call_now() - start) / 1e6);
    (void)sampled;
}

/* ---- 5. a manifest of another format version ------------------------------ */

static void test_format_version(void)
{
    fs_sim_reset();
    const kind_t *k = &kinds[0];
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open("/v", true, &d, OWN_CALL) == XETS_OK, "mkdir");
    manifest_header_t h = {.keypos = 1};
    h.id.version = MANIFEST_VERSION + 1;
    snprintf(h.id.encoding, sizeof h.id.encoding, "exact.1");
    snprintf(h.id.order, sizeof h.id.order, "%s", hash_table_ops.order);
    snprintf(h.type, sizeof h.type, "%s", k->type);
    manifest_state_t ms = {.next_file = 2};
    bytes_t b = BYTES_INIT;
    CHECK(manifest_encode_start(&b, &h, &ms, 1) == XETS_OK, "encode a manifest");
    char name[NAMES_LEN];
    names_format(name, NAMES_MANIFEST, 1, false);
    fs_file_t *f = NULL;
    CHECK(fs_open(d, name, FS_CREATE, &f, OWN_CALL) == XETS_OK, "create %s", name);
    CHECK(fs_write(f, 0, b.p, b.len, OWN_CALL) == XETS_OK && fs_sync_named(d, f, OWN_CALL) == XETS_OK,
          "write %s", name);
    fs_close(f);
    fs_dir_close(d);
    bytes_free(&b);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *s = NULL;
    int st = open_lsm(k, "/v", 1, LSM_SYNC_NONE, 0, NULL, &s, &call);
    CHECK(st == XETS_BADARG, "a manifest of version %u: open answers %d", h.id.version, st);
    CHECK(!strcmp(call.error.file, name), "a manifest of version %u: the error names '%s', not %s",
          h.id.version, call.error.file, name);
    printf("  format: a manifest of version %u refused, naming %s\n", h.id.version, name);
}

/* ---- 7. filters ------------------------------------------------------------ */

/* Block loads of lookups of keys ids[0..n) (made by fmt), each answering
 * want: the XETS_NEED_IO answers served, one per block read. */
static unsigned long lookups(const kind_t *k, store_t *s, const char *fmt, const unsigned *ids,
                             unsigned n, int want)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    op_t o = {.ops = k->lsm, .s = s};
    unsigned long io0 = atomic_load(&need_io);
    for (unsigned i = 0; i < n; i++) {
        unsigned char kb[32];
        o.key = kb;
        o.klen = (size_t)snprintf((char *)kb, sizeof kb, fmt, ids[i]);
        int rc = run_op(do_get, &o, &call);
        CHECK(rc == want, "%s: lookup of %s: %d, want %d", k->type, (char *)kb, rc, want);
    }
    free(o.out.p);
    return atomic_load(&need_io) - io0;
}

static void test_filters(uint64_t seed)
{
    const kind_t *ks[] = {&kinds[0], &kinds[3]};
    enum { KEYS_ON_DISK = 20000, ASKED = 1000 };
    for (int x = 0; x < 2; x++) {
        const kind_t *k = ks[x];
        fs_sim_reset();
        store_t *s = open_ok(k, "/f", LSM_SYNC_NONE, 0);
        fill(k, s, KEYS_ON_DISK, false); /* in the memtable: close writes one table */
        close_ok(k, s);
        s = open_ok(k, "/f", LSM_SYNC_NONE, 0);
        lsm_info_t info;
        lsm_info(s, &info);
        CHECK(info.files == 1 && info.cache_bytes == 0, "%s: %zu tables, %zu bytes cached",
              k->type, info.files, info.cache_bytes);
        size_t want_filter = 64 * ((KEYS_ON_DISK * 10 + 511) / 512);
        CHECK(info.filter_bytes == want_filter, "%s: %zu bytes of filter, want %zu", k->type,
              info.filter_bytes, want_filter);
        /* Keys present, each followed by "!": absent, and in the key
         * order each lies just after a key of the table, so that the
         * lookups spread over all its blocks. */
        uint64_t rng = seed;
        unsigned ids[ASKED];
        for (unsigned i = 0; i < ASKED; i++)
            ids[i] = (unsigned)rng_below(&rng, KEYS_ON_DISK);
        unsigned long absent = lookups(k, s, "k%u!", ids, ASKED, XETS_NOTFOUND);
        lsm_info(s, &info);
        size_t absent_cached = info.cache_bytes;
        CHECK(absent <= ASKED / 20, "%s: %lu blocks loaded by %u lookups of absent keys", k->type,
              absent, ASKED);
        CHECK((absent == 0) == (absent_cached == 0), "%s: loads and cache bytes disagree",
              k->type);
        unsigned long present = lookups(k, s, "k%u", ids, 100, XETS_OK);
        lsm_info(s, &info);
        CHECK(present > 0 && info.cache_bytes > absent_cached,
              "%s: lookups of present keys loaded %lu blocks", k->type, present);
        close_ok(k, s);
        printf("  filters: %s, a table of %u keys, %zu bytes of filter: %u lookups of absent "
               "keys loaded %lu blocks (%zu bytes), 100 of present keys %lu\n",
               k->type, KEYS_ON_DISK, info.filter_bytes, ASKED, absent, absent_cached, present);
    }
}

/* 8. Ranges (see the top): each flush's table holds its own stretch of
 * keys, moved down the levels whole. */
static void test_ranges(void)
{
    const kind_t *k = &kinds[3];
    const unsigned keys = 20000;
    fs_sim_reset();
    /* Each flush when asked (settle), so that the tables are the same
     * from run to run; and no compaction the reopen may ask for runs
     * until the end: it would read its new tables into the cache. */
    lsm_flusher_hold(true);
    store_t *s = open_ok(k, "/r", LSM_SYNC_NONE, 16 * 1024);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    op_t o = {.ops = k->lsm, .s = s, .mode = PUT_REPLACE};
    for (unsigned i = 0; i < keys; i++) {
        unsigned char kb[16], vb[64];
        o.key = kb;
        o.klen = (size_t)sprintf((char *)kb, "r%06u", i);
        o.val = vb;
        o.vlen = val_of(i, 1, vb);
        CHECK(run_op(do_put, &o, &call) == XETS_OK, "put");
        settle();
    }
    free(o.out.p);
    close_ok(k, s);
    s = open_ok(k, "/r", LSM_SYNC_NONE, 16 * 1024);
    lsm_info_t info;
    lsm_info(s, &info);
    CHECK(info.files > 10 && info.cache_bytes == 0, "ranges: %zu tables, %zu bytes cached",
          info.files, info.cache_bytes);
    store_bound_t lo = {(const unsigned char *)"r012000", 7, true},
                  hi = {(const unsigned char *)"r012010", 7, false};
    tbuf_t got = {0};
    size_t n;
    CHECK(walk(k->lsm, s, &call, lo, hi, SCAN_FORWARD, &got, &n) == XETS_OK && n == 10,
          "ranges: a walk of 10 keys found %zu", n);
    lsm_info(s, &info);
    /* A block is about 4 KiB: the keys' block, and one more in the same
     * or the next table if they straddle a boundary, and the next one's
     * first if they end at one; a full walk caches 150 KB. */
    CHECK(info.cache_bytes <= 3 * 4200, "ranges: a walk of 10 keys over %zu tables cached %zu bytes",
          info.files, info.cache_bytes);
    size_t narrow = info.cache_bytes;
    CHECK(walk(k->lsm, s, &call, lo, STORE_UNBOUNDED, SCAN_FORWARD, &got, &n) == XETS_OK &&
              n == (size_t)keys - 12000,
          "ranges: the walk to the end found %zu", n);
    lsm_info(s, &info);
    close_ok(k, s);
    lsm_flusher_hold(false);
    free(got.p);
    printf("  ranges: ordered_set, %zu tables: a walk of 10 keys cached %zu bytes, one to the end "
           "%zu\n", info.files, narrow, info.cache_bytes);
}

/* 9. Reopening compacts: six lives of a table, each writing a little and
 * closing (a close writes its memtable as a level-0 table and compacts
 * nothing), with the flusher held; then the seventh open asks for the
 * compaction now due, and the flusher, let go, runs it. */
static void test_reopen_compacts(void)
{
    const kind_t *k = &kinds[0];
    fs_sim_reset();
    lsm_flusher_hold(true);
    for (unsigned life = 0; life < 6; life++) {
        store_t *s = open_ok(k, "/o", LSM_SYNC_NONE, 0);
        fill(k, s, 50 * (life + 1), false);
        close_ok(k, s);
    }
    store_t *s = open_ok(k, "/o", LSM_SYNC_NONE, 0);
    lsm_info_t before, after;
    lsm_info(s, &before);
    CHECK(before.files == 6 && before.compactions == 0, "reopen: %zu tables, %lu compactions",
          before.files, (unsigned long)before.compactions);
    lsm_flusher_step();
    lsm_info(s, &after);
    CHECK(after.compactions > 0 && after.files < before.files,
          "reopen: no compaction after opening %zu tables in level 0 (%zu after)", before.files,
          after.files);
    close_ok(k, s);
    lsm_flusher_hold(false);
    printf("  reopen: 6 tables in level 0 at open, %zu after the compaction it asked for\n",
           after.files);
}

/* 10. Closing while the flusher works for two tables: the flusher yields
 * to the other table between compactions by putting the first back in its
 * queue, and a close waiting for the first's flush to end must take it out
 * again, or the flusher would come back to a freed table (ASan). Each
 * round fills two tables with small memtables, then closes the first while
 * the flusher is still at work on both. */
static void test_close_while_flushing(void)
{
    const kind_t *k = &kinds[0];
    unsigned rounds = 0;
    for (; rounds < 60; rounds++) {
        fs_sim_reset();
        store_t *a = open_ok(k, "/qa", LSM_SYNC_NONE, 1024);
        store_t *b = open_ok(k, "/qb", LSM_SYNC_NONE, 1024);
        fill(k, a, 300, false);
        fill(k, b, 300, false);
        close_ok(k, a);
        close_ok(k, b);
    }
    printf("  close while flushing: %u rounds of two tables\n", rounds);
}

/* 11. A memory limit: the memtable it makes (an eighth), a table ten
 * times the limit written and read back with the cache within its bound,
 * evicting; then, the flusher held, writers stalled (counted) once the
 * memtable is twice its size, and let go once the flusher has run. */
static void test_memory_limit(void)
{
    const kind_t *k = &kinds[0];
    const unsigned n = 10000;
    fs_sim_reset();
    memory_limit = 1u << 20;
    store_t *s = open_ok(k, "/m", LSM_SYNC_NONE, 0);
    memory_limit = 0;
    lsm_info_t info;
    lsm_info(s, &info);
    CHECK(info.memory_limit == 1u << 20 && info.memtable_limit == (1u << 20) / 12,
          "limit: %zu, memtable %zu", info.memory_limit, info.memtable_limit);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    op_t o = {.ops = k->lsm, .s = s, .mode = PUT_REPLACE};
    unsigned char kb[16], vb[1100];
    size_t most = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < n; i++) {
            o.key = kb;
            o.klen = key_of(i, kb);
            o.val = vb;
            o.vlen = 1024 + val_of(i, 1, vb);
            for (size_t j = o.vlen - 1024; j < o.vlen; j++)
                vb[j] = (unsigned char)(i * 7 + j * 13); /* little for LZ4 to take */
            CHECK(run_op(pass == 0 ? do_put : do_get, &o, &call) == XETS_OK, "pass %d: %u", pass,
                  i);
            CHECK(pass == 0 || (o.out.len == 4 + o.vlen && !memcmp(o.out.p + 4, vb, o.vlen)),
                  "read back %u", i);
            lsm_info(s, &info);
            size_t bound = info.cache_capacity + 8192; /* two blocks */
            CHECK(info.cache_bytes <= bound, "cache %zu bytes, bound %zu", info.cache_bytes, bound);
            most = info.cache_bytes > most ? info.cache_bytes : most;
        }
    }
    lsm_info(s, &info);
    CHECK(info.cache_evictions > 0 && info.cache_misses > 0 && info.cache_hits > 0,
          "evictions %llu, misses %llu, hits %llu", (unsigned long long)info.cache_evictions,
          (unsigned long long)info.cache_misses, (unsigned long long)info.cache_hits);
    printf("  memory limit: 1 MiB, %u objects of 1 KiB: at most %zu bytes cached (bound %zu), "
           "%llu evictions, %llu stalls\n", n, most, info.cache_capacity,
           (unsigned long long)info.cache_evictions, (unsigned long long)info.stalls);

    lsm_flusher_step();
    lsm_flusher_hold(true);
    uint64_t stalls = info.stalls;
    unsigned i = n;
    int st;
    do {
        o.klen = key_of(i++, kb);
        o.vlen = 1024;
        call.io.run = NULL;
        epoch_enter();
        st = do_put(&o, &call);
        epoch_exit();
        lsm_info(s, &info);
        if (st == XETS_NEED_IO && info.stalls == stalls) {
            CHECK(serve_io(&call) == XETS_OK, "a block's load");
            i--; /* redo it */
        }
        CHECK(i < n + 1000, "no stall after %u writes", i - n);
    } while (info.stalls == stalls);
    CHECK(st == XETS_NEED_IO && call.io.run != NULL && info.stalls == stalls + 1,
          "a stall: %d, %llu", st, (unsigned long long)info.stalls);
    CHECK(info.memtable_bytes <= (LSM_MEMTABLES + 1) * info.memtable_limit,
          "memtables %zu bytes, limit %zu",
          info.memtable_bytes, info.memtable_limit);
    call.io = (call_io_t){0}; /* its wait would end at LSM_STALL_MS, the flusher held */
    lsm_flusher_step();
    CHECK(run_op(do_put, &o, &call) == XETS_OK, "the stalled write, after the flush");
    lsm_flusher_hold(false);
    free(o.out.p);
    close_ok(k, s);
    printf("  memory limit: a writer stalled after %u writes with the flusher held\n", i - n);
}

/* 12. A discardable store (a spilling table's) makes no fsync (a sync
 * of its files does not reach the simulated file system) and writes
 * nothing out when dropped (makes no file): against a store that keeps
 * its files, the same writes (flushed) and drop. */
static void test_discardable(void)
{
    const kind_t *k = &kinds[0];
    uint64_t syncs[2], dropping[2]; /* fsyncs made; files made by the drop */
    for (int d = 0; d < 2; d++) {
        fs_sim_reset();
        discardable = d;
        store_t *s = open_ok(k, "/d", LSM_SYNC_NONE, 4096);
        discardable = false;
        uint64_t before = fs_sim_syncs();
        fill(k, s, 200, false);
        settle();
        /* Held, the flusher starts no flush of these before the drop:
         * what the drop makes is its own. */
        lsm_flusher_hold(true);
        fill(k, s, 20, false);
        xets_call_t call;
        call_init(&call, CALL_OWN, NULL);
        uint64_t at = fs_sim_creates();
        CHECK(k->lsm->drop(s, &call) == XETS_OK, "drop");
        dropping[d] = fs_sim_creates() - at;
        lsm_flusher_hold(false);
        syncs[d] = fs_sim_syncs() - before;
    }
    CHECK(syncs[1] == 0 && syncs[0] > 0 && dropping[1] == 0 && dropping[0] > 0,
          "discardable: %llu fsyncs, %llu files made to drop; kept: %llu, %llu",
          (unsigned long long)syncs[1], (unsigned long long)dropping[1],
          (unsigned long long)syncs[0], (unsigned long long)dropping[0]);
    printf("  discardable: no fsync and no file made to drop, against %llu fsyncs and %llu "
           "files\n", (unsigned long long)syncs[0], (unsigned long long)dropping[0]);
}

/* 13. Writes with no fsync due coalesce: quick puts to a store in {sync,
 * none} reach the WAL in at most half as many file calls (the committer
 * lets the first write of a quiet spell wait for those after it:
 * COMMIT_LINGER_US), and every one is there after a reopen. */
static void test_linger(void)
{
    const kind_t *k = &kinds[0];
    const unsigned n = 400;
    fs_sim_reset();
    memory_limit = 0;
    store_t *s = open_ok(k, "/linger", LSM_SYNC_NONE, 1 << 20); /* no flush */
    uint64_t before = fs_sim_calls();
    fill(k, s, n, false);
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    CHECK(lsm_sync(s, &call) == XETS_OK, "sync");
    uint64_t calls = fs_sim_calls() - before;
    close_ok(k, s);
    s = open_ok(k, "/linger", LSM_SYNC_NONE, 1 << 20);
    CHECK(k->lsm->size(s) == n, "%zu of %u objects after a reopen", k->lsm->size(s), n);
    close_ok(k, s);
    CHECK(calls <= n / 2, "%u puts took %llu file calls", n, (unsigned long long)calls);
    printf("  linger: %u puts, %llu file calls to write and sync them\n", n,
           (unsigned long long)calls);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
    if (seed == 0)
        seed = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("lsm_test: seed %llu\n", (unsigned long long)seed);
    CHECK(reaper_start() == 0, "reaper");
    if (argc > 2 && !strcmp(argv[2], "faults")) {
        /* lsm_test SEED faults: the format check and the faults alone. */
        test_format_version();
        test_faults(seed, SCALE > 1 ? 10.0 : 15.0);
        reaper_drain();
        reaper_stop();
        fs_sim_reset();
        printf("lsm_test: ok\n");
        return 0;
    }
    if (argc > 2) {
        /* lsm_test SEED N: crash seed SEED alone, N times (to replay one). */
        crash_tally_t tally = {0};
        crash_replay(seed, strtol(argv[2], NULL, 0), &tally);
        printf("lsm_test: crash seed %llu ok\n", (unsigned long long)seed);
        return 0;
    }
    test_lifecycle();
    test_model(seed);
    test_corruption();
    test_filters(seed);
    test_ranges();
    test_reopen_compacts();
    test_close_while_flushing();
    test_memory_limit();
    test_discardable();
    test_linger();
    test_threads(seed);
    test_format_version();
    test_faults(seed, SCALE > 1 ? 10.0 : 15.0);
    /* LSM_CRASH_SECONDS: longer runs (make soak). */
    const char *crash_seconds = getenv("LSM_CRASH_SECONDS");
    test_crashes(seed, crash_seconds != NULL ? atof(crash_seconds) : SCALE > 1 ? 10.0 : 30.0);
    reaper_drain();
    reaper_stop();
    fs_sim_reset();
    printf("lsm_test: ok\n");
    return 0;
}
