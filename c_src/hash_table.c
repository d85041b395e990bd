/* set, bag and duplicate_bag: a split-ordered list (Shalev and Shavit,
 * "Split-Ordered Lists: Lock-Free Extensible Hash Tables", JACM 2006) whose
 * writers take stripe locks instead of using CAS.
 *
 * Every object lives in one sorted singly linked list, ordered by
 * (order, klen, key bytes, insertion), where order is the bit-reversed
 * XXH3 hash of the key with its two low bits set, which a dummy's order
 * has clear: the paper's regular and dummy keys (ht_link_t). Reversal
 * makes the objects of hash bucket j (the low `bits` bits of the hash) one
 * contiguous run of the list that starts at reverse(j), so the directory
 * of buckets is only a set of shortcuts into the list: bucket j holds a
 * dummy node of order reverse(j), and doubling the table just makes more
 * shortcuts; no object ever moves.
 *
 * The list's order is the store's order (store.h, "hash.2"): a key's sort
 * key is its order and its length, both big-endian (8 and 4 bytes), then
 * its bytes, so that memcmp of sort keys is list order; a cursor walks the
 * list, and flushing a hash memtable to a file will be a straight walk. The
 * order has one direction: cursors asked to go backward go forward, as ETS
 * aliases last/prev to first/next. A cursor holds a link between steps
 * (within one epoch section) and no lock; it seeks a bound from the bucket
 * that the bound's first 8 bytes name.
 *
 * Departures from the paper:
 * - Writers are serialized per stripe, a lock over the region of the list
 *   whose orders share their top HT_STRIPE_BITS bits. The region starts at a
 *   permanent dummy (the dummies of buckets 0..HT_NSTRIPES-1), so every next
 *   pointer a writer stores belongs to a node of its own stripe, and a
 *   bucket's dummy and all its ancestors lie in the stripe of the bucket's
 *   keys. With that, unlinking is a plain store, there are no deletion marks,
 *   and an update or a bag's duplicate check is a critical section rather
 *   than a CAS retry loop.
 * - Readers take no lock. They follow next pointers with acquire loads; a
 *   node unlinked under their feet keeps its next pointer, which still leads
 *   to greater nodes of the list, and epoch reclamation (epoch.h, entered by
 *   the caller) keeps it allocated while they may hold it.
 * - A set object is replaced by linking a new node in place of the old one,
 *   so a reader sees one object or the other, never a mix.
 * - A bag key's objects are read as a snapshot, as ETS's lookup under the
 *   bucket lock. Appending an object is one store, but removing is not
 *   (objects matched apart are unlinked by separate stores), and a reader on
 *   a node unlinked under it would go on into objects added since (an object
 *   removed and added again would be seen twice). So a bag remove keeps its
 *   stripe's sequence count odd while it unlinks, and a bag reader (a cursor,
 *   key by key) gathers the key's objects, visits them only if the count has
 *   not moved, and after HT_READ_TRIES failures reads under the stripe lock,
 *   so that it never spins behind a descheduled writer.
 * - Dummies are also linked ahead of use: after the table doubles, each
 *   write links the dummy of one new bucket of its own stripe, from the
 *   bottom up, under the stripe lock it holds anyway, so that readers nearly
 *   always start at their own bucket's dummy rather than at an ancestor's,
 *   whose run is twice as long. Writers still link a missing dummy on first
 *   use, as in the paper. A search ends on reaching the next bucket's
 *   dummy, known by its address alone (ht_bucket_end), so a miss need not
 *   touch the node after its bucket.
 * - The table also shrinks: lowering `bits` is immediate, and the dummies of
 *   the dropped buckets are then unlinked by writers, HT_REAP_BATCH buckets
 *   per write operation, from the top down, so that neither the directory
 *   nor a traversal keeps paying for a size the table no longer has.
 * - The directory is segmented (segment k holds buckets [2^k, 2^(k+1)), the
 *   first HT_NSTRIPES buckets, fixed, are an array of their own) so growth
 *   allocates, never copies,
 *   and it holds the dummies themselves rather than pointers to them: finding
 *   a bucket's start is one cache miss, and a dummy costs no allocation. A
 *   dummy's segment is retired, as a whole, only after all its dummies are
 *   unlinked. Within a segment the dummies lie in split order, and a scan
 *   prefetches, from the directory, the dummies and first objects of the
 *   buckets ahead (ht_scan_warm): the list alone gives one cache miss after
 *   another, with nothing to overlap them.
 * - Clearing (delete_all_objects) walks nothing: the directory, which
 *   reaches the whole list, and the counts change places with those of a
 *   new empty store, which takes the list to the reaper (store.h).
 * - info(T, stats) is counted in steps of about HT_STATS_STEP nodes, each
 *   resuming from an order, so that no epoch section lasts long.
 *
 * Invariants:
 * - The list is sorted. The next pointer of an unlinked object never
 *   changes; that of an unlinked dummy changes only if the dummy is linked
 *   again, at the same place, so it still leads on to greater nodes.
 * - bits and reap_hi only change, and segments are only allocated
 *   or retired, under the resize mutex (or by a clear, which no writer
 *   runs alongside), which is always taken before a stripe lock, never
 *   after.
 * - Segment k (k >= HT_STRIPE_BITS) is allocated exactly when
 *   2^k < reap_hi, and 2^bits <= reap_hi. Buckets in [2^bits, reap_hi) are
 *   dropped and await reaping; buckets at or above reap_hi have no dummy.
 * - Stripe t's buckets at or above HT_NSTRIPES are those congruent to r(t)
 *   modulo HT_NSTRIPES (r(t): the bucket below HT_NSTRIPES in stripe t).
 *   Those below fill[t] have their dummies in the list, unless a shrink
 *   dropped them since (a hint, not a promise: linking on use makes up).
 * - A dummy is in the list exactly when it is marked live; both change under
 *   the lock of the dummy's stripe. A writer links dummies only for buckets
 *   below 2^bits as read under that lock, which is why a reaped bucket is
 *   never linked again behind the reaper's back.
 * - A stripe's sequence count is odd exactly from a bag remove's first match
 *   to the end of its unlinks; it changes under the stripe lock.
 *
 * Memory ordering: a node, a dummy or a segment is fully written before a
 * release store publishes it (a next pointer, a dummy's live mark, a segment
 * pointer, `bits`), and every load that can see it is an acquire load.
 * Unlinking is also a release store, since it may publish to a reader a node
 * that another writer linked. A remove makes its sequence count odd with a
 * relaxed store: the release of each unlink that follows orders it first, so
 * a reader whose acquire load sees an unlink, then rereads the count, finds
 * it moved. The count is made even again with a release store, which the
 * reader's first load of it acquires: a reader that starts from it sees all
 * the remove's unlinks. Counters are relaxed: they are exact only when
 * writers are quiet, as store.h says. */
#include <ck_pr.h>
#include <endian.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "epoch.h"
#include "status.h"
#include "store.h"

/* 64 stripes: enough writers in parallel for the cores a BEAM node has, at a
 * fixed cost of about 6 KiB per table (stripes and their dummies). */
#define HT_STRIPE_BITS 6
#define HT_NSTRIPES (1u << HT_STRIPE_BITS)
/* 2^48 buckets is beyond any memory that could fill them. */
#define HT_MAX_BITS 48
#define HT_CACHE_LINE 64
/* Grow above 1 object per bucket, shrink below 1/8. One rather than two: a
 * lookup then touches about 0.6 fewer nodes, for twice the directory (24 to
 * 48 bytes per object over a doubling cycle, instead of 12 to 24). */
#define HT_GROW_LOAD 1
#define HT_SHRINK_LOAD 8
/* After its own load has called for a resize check, a stripe waits this many
 * of its writes before calling again, so that a misleading stripe (a skewed
 * one, or one of a tiny table) rarely costs a sum over all stripes. */
#define HT_CHECK_BACKOFF 64
#define HT_REAP_BATCH 8
#define HT_POLL_EVERY 64
/* A bag reader tries this many times to read a key between writers before
 * it takes the stripe lock. */
#define HT_READ_TRIES 4

/* What the list links: the header shared by objects and dummies, 16 bytes,
 * so that a directory line holds four dummies.
 *
 * The order's two low bits say what the link is. An object's order is the
 * reversed hash with both set (HT_REGULAR): the hash's top two bits are not
 * part of it, which only means that keys whose hashes differ there alone
 * are told apart by their bytes. A dummy's order is the reversal of its
 * bucket, whose low 16 bits are clear (buckets are below 2^48), with
 * HT_LIVE set while it is in the list. So a dummy sorts before the objects
 * of its bucket, live or not, and neither bit changes a comparison with
 * another link's order. Only a dummy's order changes once published (its
 * live bit, under its stripe's lock): atomic, read relaxed except where a
 * reader decides on the live bit. */
typedef struct ht_link ht_link_t;
struct ht_link {
    _Atomic(ht_link_t *) next;
    _Atomic uint64_t order;
};
#define HT_REGULAR 3u
#define HT_LIVE 2u

/* An object: one allocation holding the header, the key and the value,
 * and, in a bag or duplicate_bag, the object's fingerprint after the value
 * (store.h: rec_t.fp), which a set's objects do without. */
typedef struct ht_node {
    ht_link_t h;
    uint32_t klen;
    uint32_t vlen;
    unsigned char data[]; /* key bytes, value bytes, [fingerprint] */
} ht_node_t;
#define HT_HDR sizeof(ht_node_t)

/* What a stripe's writers touch, on a line of its own (on x86-64 the five
 * fields fill it). Bag readers read seq here too: a line of its own would
 * cost every table 4 KiB more, to spare bag readers a miss only while
 * writers are busy in the same stripe. */
typedef struct ht_stripe {
    alignas(HT_CACHE_LINE) pthread_mutex_t lock;
    _Atomic size_t count; /* objects; stored under lock, read by anyone */
    _Atomic size_t bytes; /* object allocations */
    unsigned skip;        /* under lock: writes left before the next load check */
    _Atomic unsigned seq; /* odd while a bag remove unlinks; stored under lock */
} ht_stripe_t;

struct store {
    ht_stripe_t stripe[HT_NSTRIPES];
    alignas(HT_CACHE_LINE) _Atomic unsigned bits;
    /* fill[t], under stripe t's lock: the next of its buckets whose dummy
     * its writers link ahead of use (ht_fill_ahead). Apart from the
     * stripes, 8 to a line: a stripe line of 72 bytes would take two. */
    uint64_t fill[HT_NSTRIPES];
    _Atomic uint64_t reap_hi;
    _Atomic size_t dir_bytes;
    enum store_kind kind;
    /* Dummies live in the directory itself, so that finding a bucket's start
     * costs one cache miss, and cost nothing to allocate. The dummies of
     * buckets below HT_NSTRIPES (always live) are an array of their own,
     * as segments are, so that a clear hands the whole list on to another
     * store by moving pointers. */
    _Atomic(ht_link_t *) base;
    _Atomic(ht_link_t *) seg[HT_MAX_BITS];
    alignas(HT_CACHE_LINE) pthread_mutex_t resize;
};

static _Thread_local unsigned ht_writes;

/* Bits within each byte, then the bytes with one bswap: every lookup and
 * each dummy a scan passes reverses a few of these. */
static inline uint64_t ht_rev64(uint64_t x)
{
    x = ((x >> 1) & 0x5555555555555555u) | ((x & 0x5555555555555555u) << 1);
    x = ((x >> 2) & 0x3333333333333333u) | ((x & 0x3333333333333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0Fu) | ((x & 0x0F0F0F0F0F0F0F0Fu) << 4);
    return __builtin_bswap64(x);
}

static unsigned ht_log2(uint64_t j)
{
    return 63u - (unsigned)__builtin_clzll(j);
}

/* Bucket j's parent: the bucket it split from when the table last doubled
 * past j. Its dummy precedes j's and lies in the same stripe. */
static uint64_t ht_parent(uint64_t j)
{
    return j & ~((uint64_t)1 << ht_log2(j));
}

static ht_stripe_t *ht_stripe_of(store_t *s, uint64_t order)
{
    return &s->stripe[order >> (64 - HT_STRIPE_BITS)];
}

static uint64_t ht_mask(unsigned bits)
{
    return ((uint64_t)1 << bits) - 1;
}

/* The order of the objects of hash h. */
static uint64_t ht_order_of(uint64_t h)
{
    return ht_rev64(h) | HT_REGULAR;
}

static bool ht_is_dummy(const ht_link_t *l)
{
    return (atomic_load_explicit(&l->order, memory_order_relaxed) & 1u) == 0;
}

/* l's place in the list's order: a dummy's without its live bit. */
static uint64_t ht_ord(const ht_link_t *l)
{
    uint64_t o = atomic_load_explicit(&l->order, memory_order_relaxed);
    return (o & 1u) ? o : o & ~(uint64_t)HT_LIVE;
}

/* Whether dummy d is in the list. Acquire: pairs with the release that
 * made it live, after its next was written. */
static bool ht_live(const ht_link_t *d)
{
    return (atomic_load_explicit(&d->order, memory_order_acquire) & HT_LIVE) != 0;
}

/* The dummies of buckets below HT_NSTRIPES. Acquire: pairs with the
 * release of a clear that put in new ones, which stats may run alongside
 * (store.h); other operations never do, and pay nothing for it on x86. */
static ht_link_t *ht_base(store_t *s)
{
    return atomic_load_explicit(&s->base, memory_order_acquire);
}

/* Dummy of bucket j >= HT_NSTRIPES, NULL when its segment is not allocated.
 * Segment k holds its buckets in split order (bucket 2^k + i at the k-bit
 * reversal of i, which is the top k bits of the bucket's order below its
 * leading one): a scan, which meets dummies in split order, then reads each
 * segment front to back instead of one page here, one there. */
static ht_link_t *ht_slot(store_t *s, uint64_t j)
{
    unsigned k = ht_log2(j);
    ht_link_t *seg = atomic_load_explicit(&s->seg[k], memory_order_acquire);
    return seg == NULL ? NULL : &seg[ht_rev64(j) >> (64 - k)];
}

/* The dummy of bucket j or of its nearest ancestor that is in the list. */
static ht_link_t *ht_dummy_near(store_t *s, uint64_t j)
{
    for (; j >= HT_NSTRIPES; j = ht_parent(j)) {
        ht_link_t *d = ht_slot(s, j);
        if (d != NULL && ht_live(d))
            return d;
    }
    return &ht_base(s)[j];
}

/* The dummy of bucket j, live or not; NULL if its segment is not allocated. */
static ht_link_t *ht_dummy_any(store_t *s, uint64_t j)
{
    return j < HT_NSTRIPES ? &ht_base(s)[j] : ht_slot(s, j);
}

/* Where bucket j's run of the list ends, once all dummies are linked: at
 * the dummy of the bucket after j in split order (NULL if none). Any key
 * of j sorts before it, so a search that reaches a link equal to it stops
 * without touching it: a miss costs one cache line less. Only the address
 * is used, which needs no liveness check: the segment read here cannot be
 * freed while the caller's epoch section lasts, so no other node can have
 * that address meanwhile. */
static const ht_link_t *ht_bucket_end(store_t *s, uint64_t j, unsigned bits)
{
    uint64_t step = (uint64_t)1 << (64 - bits);
    uint64_t next = ht_rev64(j) + step;
    if (next == 0)
        return NULL;
    return ht_dummy_any(s, ht_rev64(next));
}

/* Where a reader starts looking for the objects of hash h; where it may
 * stop goes to *stop. */
static ht_link_t *ht_reader_start(store_t *s, uint64_t h, const ht_link_t **stop)
{
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_acquire);
    *stop = ht_bucket_end(s, h & ht_mask(bits), bits);
    return ht_dummy_near(s, h & ht_mask(bits));
}

static ht_node_t *ht_obj(ht_link_t *l)
{
    return (ht_node_t *)l;
}

/* Object l's key against key. */
static int ht_key_cmp(ht_link_t *l, const unsigned char *key, size_t klen)
{
    ht_node_t *n = ht_obj(l);
    if (n->klen != klen)
        return n->klen < klen ? -1 : 1;
    return klen == 0 ? 0 : memcmp(n->data, key, klen);
}

/* order is an object's: a link of the same order is an object. The raw
 * order serves, live bit and all (see ht_link_t). */
static bool ht_same_key(ht_link_t *l, uint64_t order, const unsigned char *key, size_t klen)
{
    return atomic_load_explicit(&l->order, memory_order_relaxed) == order &&
           ht_key_cmp(l, key, klen) == 0;
}

/* Whether l sorts before the key of an object's order (or_equal: before or
 * at it). */
static bool ht_before(ht_link_t *l, uint64_t order, const unsigned char *key, size_t klen,
                      bool or_equal)
{
    uint64_t o = atomic_load_explicit(&l->order, memory_order_relaxed);
    if (o != order)
        return o < order;
    int c = ht_key_cmp(l, key, klen);
    return c < 0 || (or_equal && c == 0);
}

/* Whether cur is an object of the key; stop (ht_bucket_end) is not. */
static bool ht_is_key(ht_link_t *cur, const ht_link_t *stop, uint64_t order,
                      const unsigned char *key, size_t klen)
{
    return cur != NULL && cur != stop && ht_same_key(cur, order, key, klen);
}

/* From pred (which sorts before the key), the first link not before the key
 * (past: not at it either), or stop if it comes first; the link's
 * predecessor goes to *predp. */
static ht_link_t *ht_seek(ht_link_t *pred, const ht_link_t *stop, uint64_t order,
                          const unsigned char *key, size_t klen, bool past, ht_link_t **predp)
{
    ht_link_t *cur = atomic_load_explicit(&pred->next, memory_order_acquire);
    while (cur != NULL && cur != stop && ht_before(cur, order, key, klen, past)) {
        pred = cur;
        cur = atomic_load_explicit(&cur->next, memory_order_acquire);
    }
    *predp = pred;
    return cur;
}

/* Bytes of fingerprint after an object's value. */
static size_t ht_fp_bytes(const store_t *s)
{
    return s->kind == STORE_SET ? 0 : sizeof(uint64_t);
}

static rec_t ht_rec(const store_t *s, ht_link_t *l)
{
    ht_node_t *n = ht_obj(l);
    rec_t r = {n->data, n->klen, n->data + n->klen, n->vlen, 0};
    if (ht_fp_bytes(s) > 0)
        memcpy(&r.fp, n->data + n->klen + n->vlen, sizeof r.fp);
    return r;
}

static size_t ht_node_size(const store_t *s, ht_link_t *l)
{
    return HT_HDR + ht_obj(l)->klen + ht_obj(l)->vlen + ht_fp_bytes(s);
}

static ht_node_t *ht_node_new(const store_t *s, uint64_t order, const rec_in_t *in)
{
    /* A key or a value beyond 4 GiB cannot be stored, like one beyond
     * memory. */
    if (in->klen > UINT32_MAX || in->vlen > UINT32_MAX)
        return NULL;
    size_t fpb = ht_fp_bytes(s);
    ht_node_t *n = malloc(HT_HDR + in->klen + in->vlen + fpb);
    if (n == NULL)
        return NULL;
    atomic_init(&n->h.next, NULL);
    atomic_init(&n->h.order, order);
    n->klen = (uint32_t)in->klen;
    n->vlen = (uint32_t)in->vlen;
    if (in->klen > 0)
        memcpy(n->data, in->key, in->klen);
    if (in->vlen > 0)
        memcpy(n->data + in->klen, in->val, in->vlen);
    if (fpb > 0)
        memcpy(n->data + in->klen + in->vlen, &in->fp, fpb);
    return n;
}

static void ht_add(_Atomic size_t *c, size_t delta)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

static void ht_sub(_Atomic size_t *c, size_t delta)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - delta,
                          memory_order_relaxed);
}

/* ---- snapshots of a bag key ----------------------------------------- */

/* A stripe's sequence count as a read of its bag keys starts. Acquire:
 * pairs with the release that made it even, after a remove's unlinks. */
static unsigned ht_read_begin(ht_stripe_t *st)
{
    return atomic_load_explicit(&st->seq, memory_order_acquire);
}

/* Whether nothing was unlinked in the stripe since ht_read_begin returned
 * seq. Relaxed: the loads it must follow are acquire loads. */
static bool ht_read_valid(ht_stripe_t *st, unsigned seq)
{
    return (seq & 1) == 0 && atomic_load_explicit(&st->seq, memory_order_relaxed) == seq;
}

/* st locked; unlinks follow (see the memory ordering above). */
static void ht_write_begin(ht_stripe_t *st)
{
    atomic_store_explicit(&st->seq, atomic_load_explicit(&st->seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* st locked; the unlinks are done. */
static void ht_write_end(ht_stripe_t *st)
{
    atomic_store_explicit(&st->seq, atomic_load_explicit(&st->seq, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* Appends the objects of the key from cur on to g, and puts the link after
 * them into *end. False if g could not grow. With st, a
 * read of st begun at seq: a group that outgrows its room after the stripe
 * has changed is cut short, the read having failed anyway (the unlinked
 * nodes of a key removed and added again over and over lead on from one to
 * the next, without end). The records point into the list: valid for the
 * caller's epoch section. */
static bool ht_group_gather(const store_t *s, store_recs_t *g, ht_link_t *cur,
                            const ht_link_t *stop, uint64_t order,
                            const unsigned char *key, size_t klen, ht_stripe_t *st,
                            unsigned seq, ht_link_t **end)
{
    size_t n = g->n; /* in a register: the records' stores may alias g */
    bool room = true;
    for (; ht_is_key(cur, stop, order, key, klen);
         cur = atomic_load_explicit(&cur->next, memory_order_acquire)) {
        if (n == g->cap) {
            g->n = n;
            if (st != NULL && !ht_read_valid(st, seq))
                break;
            if (!(room = store_recs_grow(g)))
                break;
        }
        g->rec[n++] = ht_rec(s, cur);
    }
    g->n = n;
    *end = cur;
    return room;
}

/* Visits the key's objects from cur on, straight from the list, for a
 * reader holding the stripe lock, until visit stops. Returns how many it
 * visited. */
static size_t ht_run_visit(const store_t *s, ht_link_t *cur, const ht_link_t *stop,
                           uint64_t order, const unsigned char *key, size_t klen, visit_fn visit,
                           void *ctx)
{
    size_t n = 0;
    for (; ht_is_key(cur, stop, order, key, klen);
         cur = atomic_load_explicit(&cur->next, memory_order_acquire)) {
        rec_t r = ht_rec(s, cur);
        n++;
        if (visit(ctx, &r))
            break;
    }
    return n;
}

/* ---- writers --------------------------------------------------------- */

/* Links l after pred, in front of next. Release on both stores: l may be a
 * dummy that readers still traverse from an earlier life in the list. */
static void ht_link(ht_link_t *pred, ht_link_t *l, ht_link_t *next)
{
    atomic_store_explicit(&l->next, next, memory_order_release);
    atomic_store_explicit(&pred->next, l, memory_order_release);
}

/* Replaces object cur, pred's successor, by n. st locked. */
static void ht_replace(const store_t *s, ht_stripe_t *st, ht_link_t *pred, ht_link_t *cur,
                       ht_node_t *n)
{
    ht_link(pred, &n->h, atomic_load_explicit(&cur->next, memory_order_relaxed));
    ht_add(&st->bytes, ht_node_size(s, &n->h));
    ht_sub(&st->bytes, ht_node_size(s, cur));
    epoch_retire(cur, free);
}

/* Unlinks the objects from first (pred's successor) up to end, exclusive,
 * with one store, so a reader sees all of them or none, and retires them.
 * st locked. */
static void ht_unlink(const store_t *s, ht_stripe_t *st, ht_link_t *pred, ht_link_t *first,
                      ht_link_t *end)
{
    atomic_store_explicit(&pred->next, end, memory_order_release);
    while (first != end) {
        ht_link_t *next = atomic_load_explicit(&first->next, memory_order_relaxed);
        ht_sub(&st->bytes, ht_node_size(s, first));
        epoch_retire(first, free);
        first = next;
    }
}

/* The dummy of bucket j, linking it and its missing ancestors first so that
 * later searches are short. Lock of j's stripe held, and j below 2^bits as
 * read under it: the bucket's segment cannot then be dropped (the reaper
 * frees one only after taking every stripe lock for its buckets, and lowers
 * bits before that). */
static ht_link_t *ht_dummy_link(store_t *s, uint64_t j)
{
    ht_link_t *missing[HT_MAX_BITS];
    uint64_t missing_j[HT_MAX_BITS];
    unsigned n = 0;
    ht_link_t *d = NULL;
    for (; j >= HT_NSTRIPES; j = ht_parent(j)) {
        ht_link_t *slot = ht_slot(s, j);
        if (atomic_load_explicit(&slot->order, memory_order_relaxed) & HT_LIVE) {
            d = slot;
            break;
        }
        missing_j[n] = j;
        missing[n++] = slot;
    }
    if (d == NULL)
        d = &ht_base(s)[j];
    while (n > 0) {
        ht_link_t *nd = missing[--n];
        uint64_t order = ht_rev64(missing_j[n]);
        /* A dummy reaped and linked again has this order already, which
         * readers may still be reading; a new one (zeroed) gets it before
         * ht_link publishes it. */
        atomic_store_explicit(&nd->order, order, memory_order_relaxed);
        ht_link_t *pred = d;
        ht_link_t *cur = atomic_load_explicit(&pred->next, memory_order_relaxed);
        while (cur != NULL && ht_ord(cur) < order) {
            pred = cur;
            cur = atomic_load_explicit(&cur->next, memory_order_relaxed);
        }
        ht_link(pred, nd, cur);
        atomic_store_explicit(&nd->order, order | HT_LIVE, memory_order_release);
        d = nd;
    }
    return d;
}

/* As ht_reader_start, for a writer holding the lock of h's stripe. */
static ht_link_t *ht_writer_start(store_t *s, uint64_t h, const ht_link_t **stop)
{
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_acquire);
    *stop = ht_bucket_end(s, h & ht_mask(bits), bits);
    return ht_dummy_link(s, h & ht_mask(bits));
}

static size_t ht_size(store_t *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < HT_NSTRIPES; i++)
        n += atomic_load_explicit(&s->stripe[i].count, memory_order_relaxed);
    return n;
}

/* The bits that hold n objects at HT_GROW_LOAD per bucket, growing from
 * bits. */
static unsigned ht_fit_bits(size_t n, unsigned bits)
{
    while (bits < HT_MAX_BITS && n / HT_GROW_LOAD > ((size_t)1 << bits))
        bits++;
    return bits;
}

/* The directory counts the segments that a growth due now will allocate
 * (ht_resize): a stripe's load check starts it some writes later, after a
 * number that depends on which stripes the keys fell in, so that counting
 * only what is allocated would give equal contents inserted in another
 * order another memory. */
static size_t ht_memory(store_t *s)
{
    size_t m = sizeof *s + HT_NSTRIPES * sizeof(ht_link_t) +
               atomic_load_explicit(&s->dir_bytes, memory_order_relaxed);
    for (unsigned i = 0; i < HT_NSTRIPES; i++)
        m += atomic_load_explicit(&s->stripe[i].bytes, memory_order_relaxed);
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_relaxed);
    uint64_t reap_hi = atomic_load_explicit(&s->reap_hi, memory_order_relaxed);
    unsigned want = ht_fit_bits(ht_size(s), bits);
    for (unsigned k = bits; k < want; k++)
        if (reap_hi <= (uint64_t)1 << k)
            m += ((size_t)1 << k) * sizeof(ht_link_t);
    return m;
}

/* Whether the stripe's own load suggests the table should be resized. The
 * hash spreads keys evenly over stripes, so this costs no shared access;
 * ht_resize confirms with the exact size. st locked. */
static bool ht_load_check(store_t *s, ht_stripe_t *st)
{
    if (st->skip > 0) {
        st->skip--;
        return false;
    }
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_relaxed);
    size_t per = (size_t)1 << (bits - HT_STRIPE_BITS); /* buckets per stripe */
    size_t c = atomic_load_explicit(&st->count, memory_order_relaxed);
    if (c > HT_GROW_LOAD * per || (bits > HT_STRIPE_BITS && HT_SHRINK_LOAD * c < per)) {
        st->skip = HT_CHECK_BACKOFF;
        return true;
    }
    return false;
}

/* Moves bits to fit the exact size. Growth allocates the segments it needs
 * and leaves the new buckets to ht_fill_ahead; shrinking leaves the dropped
 * buckets to ht_reap. */
static void ht_resize(store_t *s)
{
    if (pthread_mutex_trylock(&s->resize) != 0)
        return;
    size_t n = ht_size(s);
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_relaxed);
    unsigned want = ht_fit_bits(n, bits);
    uint64_t reap_hi = atomic_load_explicit(&s->reap_hi, memory_order_relaxed);
    for (unsigned k = bits; k < want; k++) {
        uint64_t lo = (uint64_t)1 << k;
        if (reap_hi <= lo) {
            /* Zeroed: no dummy in it is live. A large one is a fresh
             * mapping, zeroed by the kernel page by page as it is touched,
             * so that the writer that grows the table does not zero
             * megabytes in one call. (Transparent huge pages for it made
             * random lookups about 10% faster, but a huge page's first
             * touch held a writer 20-56 ms in 2 of 5 runs on this VM.) */
            ht_link_t *seg = calloc(lo, sizeof *seg);
            if (seg == NULL) {
                want = k;
                break;
            }
            /* Release: a writer that sees the new bits also sees the segment. */
            atomic_store_explicit(&s->seg[k], seg, memory_order_release);
            ht_add(&s->dir_bytes, lo * sizeof *seg);
        }
        if (reap_hi < lo << 1)
            reap_hi = lo << 1;
    }
    while (want > HT_STRIPE_BITS && n * HT_SHRINK_LOAD < ((size_t)1 << want))
        want--;
    atomic_store_explicit(&s->reap_hi, reap_hi, memory_order_relaxed);
    if (want != bits)
        atomic_store_explicit(&s->bits, want, memory_order_release);
    pthread_mutex_unlock(&s->resize);
}

/* The bucket below HT_NSTRIPES whose stripe is t: its low bits, reversed,
 * are t. */
static uint64_t ht_stripe_bucket(unsigned t)
{
    return ht_rev64(t) >> (64 - HT_STRIPE_BITS);
}

/* Links the dummy of the next of st's buckets that the table's last
 * growth added, if any is left: one per write keeps up, since the table
 * doubles again only after as many inserts as the dummies it needs, and
 * the writer holds the stripe's lock already, so no other writer waits.
 * Once done it writes nothing, so writers of the stripes that share
 * fill's line do not take it from each other. st locked. */
static void ht_fill_ahead(store_t *s, ht_stripe_t *st)
{
    unsigned t = (unsigned)(st - s->stripe);
    /* Acquire: the segment of a bucket below 2^bits is seen allocated. */
    uint64_t nb = (uint64_t)1 << atomic_load_explicit(&s->bits, memory_order_acquire);
    uint64_t j = s->fill[t];
    if (j < nb) {
        ht_dummy_link(s, j);
        s->fill[t] = j + HT_NSTRIPES;
    } else if (j >= nb + HT_NSTRIPES) {
        /* Past what a shrink left: on from its top, in the same stripe
         * (j's residue modulo HT_NSTRIPES names it). */
        s->fill[t] = nb + (j & (HT_NSTRIPES - 1));
    }
}

/* Unlinks the dummy of dropped bucket j, if it is in the list. */
static void ht_reap_bucket(store_t *s, uint64_t j)
{
    ht_link_t *d = ht_slot(s, j);
    ht_stripe_t *st = ht_stripe_of(s, ht_rev64(j));
    pthread_mutex_lock(&st->lock);
    uint64_t order = atomic_load_explicit(&d->order, memory_order_relaxed);
    if (order & HT_LIVE) {
        /* Dead before the unlink, so a reader that still finds d live began
         * its section while d was in the list: d's successor cannot be freed
         * before that reader is done. */
        atomic_store_explicit(&d->order, order & ~(uint64_t)HT_LIVE, memory_order_relaxed);
        ht_link_t *pred = ht_dummy_near(s, ht_parent(j));
        ht_link_t *cur;
        while ((cur = atomic_load_explicit(&pred->next, memory_order_relaxed)) != d)
            pred = cur;
        atomic_store_explicit(&pred->next, atomic_load_explicit(&d->next, memory_order_relaxed),
                              memory_order_release);
    }
    pthread_mutex_unlock(&st->lock);
}

/* Reaps up to HT_REAP_BATCH dropped buckets, retiring each segment once
 * its last bucket is gone (readers may still be on its dummies). Resize
 * mutex held. */
static void ht_reap(store_t *s)
{
    uint64_t nb = (uint64_t)1 << atomic_load_explicit(&s->bits, memory_order_relaxed);
    uint64_t hi = atomic_load_explicit(&s->reap_hi, memory_order_relaxed);
    for (unsigned i = 0; i < HT_REAP_BATCH && hi > nb; i++) {
        uint64_t j = --hi;
        ht_reap_bucket(s, j);
        if ((j & (j - 1)) == 0) {
            unsigned k = ht_log2(j);
            ht_link_t *seg = atomic_load_explicit(&s->seg[k], memory_order_relaxed);
            atomic_store_explicit(&s->seg[k], NULL, memory_order_relaxed);
            ht_sub(&s->dir_bytes, j * sizeof *seg);
            epoch_retire(seg, free);
        }
    }
    atomic_store_explicit(&s->reap_hi, hi, memory_order_relaxed);
}

/* Ends a write: unlocks st, then does this write's share of table upkeep. */
static void ht_write_done(store_t *s, ht_stripe_t *st)
{
    ht_fill_ahead(s, st);
    bool check = ht_load_check(s, st);
    pthread_mutex_unlock(&st->lock);
    if (check)
        ht_resize(s);
    /* Relaxed: only a hint; ht_reap rereads under the resize mutex. */
    uint64_t nb = (uint64_t)1 << atomic_load_explicit(&s->bits, memory_order_relaxed);
    if (atomic_load_explicit(&s->reap_hi, memory_order_relaxed) > nb &&
        pthread_mutex_trylock(&s->resize) == 0) {
        ht_reap(s);
        pthread_mutex_unlock(&s->resize);
    }
    if (++ht_writes % HT_POLL_EVERY == 0)
        epoch_poll();
}

/* ---- lifecycle -------------------------------------------------------- */

static int ht_open(const store_options_t *o, store_t **out, xets_call_t *call)
{
    (void)call;
    if (o->dir != NULL)
        return XETS_BADARG;
    store_t *s = aligned_alloc(alignof(store_t), sizeof *s);
    ht_link_t *base = malloc(HT_NSTRIPES * sizeof *base);
    if (s == NULL || base == NULL) {
        free(s);
        free(base);
        return XETS_NOMEM;
    }
    memset(s, 0, sizeof *s);
    /* The stripe dummies, in list order: stripe t's region starts at order
     * t << (64 - HT_STRIPE_BITS), the dummy of the bucket reversing t. */
    ht_link_t *prev = NULL;
    for (unsigned t = 0; t < HT_NSTRIPES; t++) {
        uint64_t order = (uint64_t)t << (64 - HT_STRIPE_BITS);
        ht_link_t *d = &base[ht_rev64(order)];
        atomic_init(&d->next, NULL);
        atomic_init(&d->order, order | HT_LIVE);
        if (prev != NULL)
            atomic_init(&prev->next, d);
        prev = d;
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    /* Critical sections are short: spin a little before sleeping. */
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    for (unsigned t = 0; t < HT_NSTRIPES; t++) {
        ht_stripe_t *st = &s->stripe[t];
        pthread_mutex_init(&st->lock, &attr);
        atomic_init(&st->count, 0);
        atomic_init(&st->bytes, 0);
        st->skip = 0;
        atomic_init(&st->seq, 0);
    }
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&s->resize, NULL);
    atomic_init(&s->bits, HT_STRIPE_BITS);
    for (unsigned t = 0; t < HT_NSTRIPES; t++)
        s->fill[t] = HT_NSTRIPES + ht_stripe_bucket(t);
    atomic_init(&s->reap_hi, HT_NSTRIPES);
    atomic_init(&s->dir_bytes, 0);
    atomic_init(&s->base, base);
    for (unsigned k = 0; k < HT_MAX_BITS; k++)
        atomic_init(&s->seg[k], NULL);
    s->kind = o->kind;
    *out = s;
    return XETS_OK;
}

/* Serves as close and as drop: a store in memory has no files. */
static int ht_close(store_t *s, xets_call_t *call)
{
    (void)call;
    ht_link_t *base = atomic_load_explicit(&s->base, memory_order_relaxed);
    for (ht_link_t *l = &base[0], *next; l != NULL; l = next) {
        next = atomic_load_explicit(&l->next, memory_order_relaxed);
        if (!ht_is_dummy(l))
            free(l);
    }
    free(base);
    for (unsigned k = 0; k < HT_MAX_BITS; k++)
        free(atomic_load_explicit(&s->seg[k], memory_order_relaxed));
    for (unsigned t = 0; t < HT_NSTRIPES; t++)
        pthread_mutex_destroy(&s->stripe[t].lock);
    pthread_mutex_destroy(&s->resize);
    free(s);
    return XETS_OK;
}

/* Swaps a field of s with o's: o is still private, s may be read meanwhile
 * by stats, size and memory. Release: a reader that loads the new value
 * sees what o's open wrote behind it. */
#define HT_SWAP(s, o, field)                                                                      \
    atomic_store_explicit(&(o)->field,                                                            \
                          atomic_exchange_explicit(&(s)->field,                                   \
                                                   atomic_load_explicit(&(o)->field,              \
                                                                        memory_order_relaxed),    \
                                                   memory_order_release),                         \
                          memory_order_relaxed)

/* Everything s holds is reached from its base dummies and segments, and
 * counted in its stripes and directory: these change places with those of
 * a new, empty store, which then holds the list, and is dropped by walking
 * it once no reader can be in it. The locks stay where they are. A reader
 * alongside (stats) may meet either list, or both in turn, each kept
 * whole: the old one is freed only after its section. */
static int ht_clear(store_t *s, store_t **old, size_t *size, xets_call_t *call)
{
    store_t *o;
    int st = ht_open(&(store_options_t){.kind = s->kind}, &o, call);
    if (st != XETS_OK)
        return st;
    *size = ht_size(s);
    HT_SWAP(s, o, base);
    for (unsigned k = 0; k < HT_MAX_BITS; k++)
        HT_SWAP(s, o, seg[k]);
    HT_SWAP(s, o, bits);
    HT_SWAP(s, o, reap_hi);
    HT_SWAP(s, o, dir_bytes);
    for (unsigned t = 0; t < HT_NSTRIPES; t++) {
        HT_SWAP(s, o, stripe[t].count);
        HT_SWAP(s, o, stripe[t].bytes);
    }
    *old = o;
    return XETS_OK;
}

static int ht_put(store_t *s, xets_call_t *call, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx)
{
    (void)call;
    uint64_t h = XXH3_64bits(in->key, in->klen);
    uint64_t order = ht_order_of(h);
    /* Built before locking, to keep the critical section short. */
    ht_node_t *n = ht_node_new(s, order, in);
    if (n == NULL)
        return XETS_NOMEM;
    ht_stripe_t *st = ht_stripe_of(s, order);
    pthread_mutex_lock(&st->lock);
    ht_link_t *pred;
    const ht_link_t *stop;
    ht_link_t *from = ht_writer_start(s, h, &stop);
    ht_link_t *cur = ht_seek(from, stop, order, in->key, in->klen, false, &pred);
    bool found = ht_is_key(cur, stop, order, in->key, in->klen);
    bool keep = true;
    if (found && mode == PUT_NEW) {
        keep = false;
    } else if (found && s->kind == STORE_SET) {
        ht_replace(s, st, pred, cur, n);
    } else {
        /* Past the key's objects, so bag objects stay in insertion order.
         * Appending is one store: bag readers need no sequence count. */
        for (; keep && ht_is_key(cur, stop, order, in->key, in->klen);
             cur = atomic_load_explicit(&cur->next, memory_order_relaxed)) {
            rec_t r = ht_rec(s, cur);
            if (s->kind == STORE_BAG && r.fp == in->fp && (same == NULL || same(ctx, &r)))
                keep = false;
            pred = cur;
        }
        if (keep) {
            ht_link(pred, &n->h, cur);
            ht_add(&st->bytes, ht_node_size(s, &n->h));
            ht_add(&st->count, 1);
        }
    }
    ht_write_done(s, st);
    if (!keep)
        free(n);
    return found && mode == PUT_NEW ? XETS_EXISTS : XETS_OK;
}

/* A bag key's objects as they were at one moment, visited after the read. */
static int ht_get_group(store_t *s, uint64_t h, const unsigned char *key, size_t klen,
                        visit_fn visit, void *ctx)
{
    uint64_t order = ht_order_of(h);
    ht_stripe_t *st = ht_stripe_of(s, order);
    store_recs_t g;
    store_recs_init(&g);
    ht_link_t *pred, *end;
    const ht_link_t *stop;
    for (unsigned tries = 0; tries < HT_READ_TRIES; tries++) {
        if (tries > 0)
            ck_pr_stall();
        unsigned seq = ht_read_begin(st);
        ht_link_t *from = ht_reader_start(s, h, &stop);
        ht_link_t *cur = ht_seek(from, stop, order, key, klen, false, &pred);
        g.n = 0;
        if (!ht_group_gather(s, &g, cur, stop, order, key, klen, st, seq, &end))
            break;
        if (ht_read_valid(st, seq)) {
            for (size_t i = 0; i < g.n && !visit(ctx, &g.rec[i]); i++)
                ;
            int rc = g.n > 0 ? XETS_OK : XETS_NOTFOUND;
            store_recs_free(&g);
            return rc;
        }
    }
    store_recs_free(&g);
    /* Writers keep changing the stripe (or one is descheduled mid-change), or
     * the key has too many objects to gather: read as a writer would. */
    pthread_mutex_lock(&st->lock);
    ht_link_t *from = ht_reader_start(s, h, &stop);
    ht_link_t *cur = ht_seek(from, stop, order, key, klen, false, &pred);
    size_t n = ht_run_visit(s, cur, stop, order, key, klen, visit, ctx);
    pthread_mutex_unlock(&st->lock);
    return n > 0 ? XETS_OK : XETS_NOTFOUND;
}

static int ht_get(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, visit_fn visit, void *ctx)
{
    (void)call;
    uint64_t h = XXH3_64bits(key, klen);
    if (s->kind != STORE_SET)
        return ht_get_group(s, h, key, klen, visit, ctx);
    uint64_t order = ht_order_of(h);
    ht_link_t *pred;
    const ht_link_t *stop;
    ht_link_t *from = ht_reader_start(s, h, &stop);
    ht_link_t *cur = ht_seek(from, stop, order, key, klen, false, &pred);
    /* A set key has one object: no need to look at the node after it. */
    if (!ht_is_key(cur, stop, order, key, klen))
        return XETS_NOTFOUND;
    rec_t r = ht_rec(s, cur);
    visit(ctx, &r);
    return XETS_OK;
}

/* Where a writer of a key starts (remove, update, rewrite): the key's
 * stripe locked (the caller ends with ht_write_done), its order, and the
 * key's first object or where it would be, with the link before it. */
static ht_link_t *ht_lock_key(store_t *s, const unsigned char *key, size_t klen, uint64_t *order,
                              ht_stripe_t **st, ht_link_t **pred, const ht_link_t **stop)
{
    uint64_t h = XXH3_64bits(key, klen);
    *order = ht_order_of(h);
    *st = ht_stripe_of(s, *order);
    pthread_mutex_lock(&(*st)->lock);
    ht_link_t *from = ht_writer_start(s, h, stop);
    return ht_seek(from, *stop, *order, key, klen, false, pred);
}

static int ht_remove(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, pred_fn match, void *mctx,
                     visit_fn removed, void *rctx)
{
    (void)call;
    uint64_t order;
    ht_stripe_t *st;
    ht_link_t *pred;
    const ht_link_t *stop;
    ht_link_t *cur = ht_lock_key(s, key, klen, &order, &st, &pred, &stop);
    bool bag = s->kind != STORE_SET;
    /* Consecutive removed objects go in one store: removing all of a key's
     * objects is then atomic for readers too. */
    ht_link_t *run = NULL;
    int n = 0;
    for (; ht_is_key(cur, stop, order, key, klen);
         cur = atomic_load_explicit(&cur->next, memory_order_relaxed)) {
        rec_t r = ht_rec(s, cur);
        if (match == NULL || match(mctx, &r)) {
            if (removed != NULL)
                removed(rctx, &r);
            if (run == NULL)
                run = cur;
            if (bag && n == 0)
                ht_write_begin(st);
            n++;
        } else {
            if (run != NULL)
                ht_unlink(s, st, pred, run, cur);
            run = NULL;
            pred = cur;
        }
    }
    if (run != NULL)
        ht_unlink(s, st, pred, run, cur);
    if (bag && n > 0)
        ht_write_end(st);
    ht_sub(&st->count, (size_t)n);
    ht_write_done(s, st);
    return n;
}

static int ht_update(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, update_fn fn, void *ctx)
{
    (void)call;
    uint64_t order;
    ht_stripe_t *st;
    ht_link_t *pred;
    const ht_link_t *stop;
    ht_link_t *cur = ht_lock_key(s, key, klen, &order, &st, &pred, &stop);
    int rc = XETS_NOTFOUND;
    while (ht_is_key(cur, stop, order, key, klen)) {
        rec_t r = ht_rec(s, cur);
        rec_in_t out;
        rc = fn(ctx, &r, &out);
        if (rc == XETS_OK) {
            ht_node_t *n = ht_node_new(s, order, &out);
            if (n == NULL)
                rc = XETS_NOMEM;
            else
                ht_replace(s, st, pred, cur, n);
        }
        if (rc != XETS_NOTFOUND)
            break;
        pred = cur;
        cur = atomic_load_explicit(&cur->next, memory_order_relaxed);
    }
    ht_write_done(s, st);
    return rc;
}

/* As ht_remove and ht_update together: a bag reader sees the key before
 * the rewrite or after its removals (the sequence count is odd from the
 * first one on), each replacement as one object or the other. */
static int ht_rewrite(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen, rewrite_fn fn, void *ctx)
{
    (void)call;
    uint64_t order;
    ht_stripe_t *st;
    ht_link_t *pred;
    const ht_link_t *stop;
    ht_link_t *cur = ht_lock_key(s, key, klen, &order, &st, &pred, &stop);
    bool bag = s->kind != STORE_SET;
    /* Consecutive removed objects go in one store, as in ht_remove. */
    ht_link_t *run = NULL;
    int replaced = 0, removed = 0, rc = XETS_OK;
    for (size_t i = 0; ht_is_key(cur, stop, order, key, klen); i++) {
        rec_t r = ht_rec(s, cur);
        rec_in_t out;
        int act = fn(ctx, i, &r, &out);
        if (act < 0) {
            rc = act;
            break;
        }
        ht_link_t *next = atomic_load_explicit(&cur->next, memory_order_relaxed);
        if (act == REWRITE_REMOVE) {
            if (run == NULL)
                run = cur;
            if (bag && removed == 0)
                ht_write_begin(st);
            removed++;
            cur = next;
            continue;
        }
        if (run != NULL)
            ht_unlink(s, st, pred, run, cur);
        run = NULL;
        if (act == REWRITE_REPLACE) {
            ht_node_t *n = ht_node_new(s, order, &out);
            if (n == NULL) {
                rc = XETS_NOMEM;
                break;
            }
            ht_replace(s, st, pred, cur, n);
            cur = &n->h;
            replaced++;
        }
        pred = cur;
        cur = next;
    }
    if (run != NULL)
        ht_unlink(s, st, pred, run, cur);
    if (bag && removed > 0)
        ht_write_end(st);
    ht_sub(&st->count, (size_t)removed);
    ht_write_done(s, st);
    return rc != XETS_OK ? rc : replaced + removed;
}

/* How far ahead, in buckets, a scan warms each stage (ht_scan_warm). */
#define HT_WARM_DUMMY 24
#define HT_WARM_FIRST 12
#define HT_WARM_SECOND 6

/* A scan follows next pointers, each a cache miss that nothing overlaps
 * (the list is in hash order, the nodes anywhere in memory). But the dummies
 * of the buckets ahead are at addresses known without the list, so at each
 * dummy a scan warms, in stages, the dummy HT_WARM_DUMMY buckets ahead, the
 * first object of the one HT_WARM_FIRST ahead, and the node after that
 * object HT_WARM_SECOND ahead: when the scan gets there, they are in cache.
 * Only hints: a prefetch never faults, and a pointer is followed only from
 * a live dummy, whose next leads to nodes the caller's epoch section keeps
 * allocated, as the scan's own reads do. Relaxed loads: nothing read here
 * decides anything. */
static void ht_scan_warm(store_t *s, uint64_t order, unsigned bits)
{
    uint64_t step = (uint64_t)1 << (64 - bits);
    ht_link_t *d = ht_dummy_any(s, ht_rev64(order + HT_WARM_DUMMY * step) & ht_mask(bits));
    if (d != NULL)
        __builtin_prefetch(d);
    d = ht_dummy_any(s, ht_rev64(order + HT_WARM_FIRST * step) & ht_mask(bits));
    if (d != NULL)
        __builtin_prefetch(atomic_load_explicit(&d->next, memory_order_relaxed));
    d = ht_dummy_any(s, ht_rev64(order + HT_WARM_SECOND * step) & ht_mask(bits));
    if (d != NULL && ht_live(d)) {
        ht_link_t *first = atomic_load_explicit(&d->next, memory_order_acquire);
        if (first != NULL && !ht_is_dummy(first)) {
            __builtin_prefetch((const char *)first + HT_CACHE_LINE);
            __builtin_prefetch(atomic_load_explicit(&first->next, memory_order_relaxed));
        }
    }
}

/* ---- the order and cursors ------------------------------------------ */

/* The sort key (store.h) of the list's order: order, klen and the key
 * bytes, the numbers big-endian, so that memcmp of sort keys follows the
 * list. A dummy sorts as its order alone, 8 bytes: a proper prefix of its
 * bucket's objects' sort keys, above every object of a lower order. */
#define HT_POS_HEAD 12

static size_t ht_sort_key(const unsigned char *key, size_t klen, unsigned char *out, size_t cap)
{
    size_t len = HT_POS_HEAD + klen;
    if (len <= cap) {
        uint64_t order = htobe64(ht_order_of(XXH3_64bits(key, klen)));
        uint32_t kl = htobe32((uint32_t)klen);
        memcpy(out, &order, 8);
        memcpy(out + 8, &kl, 4);
        if (klen > 0)
            memcpy(out + HT_POS_HEAD, key, klen);
    }
    return len;
}

/* memcmp order of l's sort key against the bytes b (any bytes: a bound). */
static int ht_pos_cmp(ht_link_t *l, const unsigned char *b, size_t blen)
{
    if (blen >= HT_POS_HEAD) {
        /* A whole head, as seeks from a key have: compared as numbers. */
        uint64_t order;
        uint32_t kl;
        memcpy(&order, b, 8);
        memcpy(&kl, b + 8, 4);
        order = be64toh(order);
        kl = be32toh(kl);
        uint64_t lo = ht_ord(l);
        if (lo != order)
            return lo < order ? -1 : 1;
        if (ht_is_dummy(l))
            return -1; /* its 8 bytes are a proper prefix of b */
        if (ht_obj(l)->klen != kl)
            return ht_obj(l)->klen < kl ? -1 : 1;
        size_t rest = blen - HT_POS_HEAD, m = kl < rest ? kl : rest;
        int c = m > 0 ? memcmp(ht_obj(l)->data, b + HT_POS_HEAD, m) : 0;
        return c != 0 ? c : (kl > rest) - (kl < rest);
    }
    unsigned char head[HT_POS_HEAD];
    uint64_t order = htobe64(ht_ord(l));
    memcpy(head, &order, 8);
    size_t hl = 8;
    if (!ht_is_dummy(l)) {
        uint32_t kl = htobe32(ht_obj(l)->klen);
        memcpy(head + 8, &kl, 4);
        hl = HT_POS_HEAD;
    }
    /* b ends within an object's head: the object's sort key is longer. */
    int c = memcmp(head, b, hl < blen ? hl : blen);
    return c != 0 ? c : (hl > blen) - (hl < blen);
}

/* Whether l lies beyond bound b on the side sign points to: +1 above a high
 * bound, -1 below a low one. */
static bool ht_beyond(ht_link_t *l, const store_bound_t *b, int sign)
{
    int c = ht_pos_cmp(l, b->pos, b->len) * sign;
    return c > 0 || (c == 0 && !b->inclusive);
}

/* A cursor's place (store_cursor_t.place). */
typedef struct ht_place {
    ht_link_t *cur; /* the next link to look at; NULL once done */
    /* Bags: the stripe being read and its count when the read of the keys
     * met since began. One count serves every key of the stripe until a key
     * fails to validate; that key is then read again, from its bucket. */
    ht_stripe_t *st;
    unsigned seq;
    unsigned bits; /* for ht_scan_warm's hints only */
    bool started;
} __attribute__((may_alias)) ht_place_t;
_Static_assert(sizeof(ht_place_t) <= STORE_CURSOR_PLACE, "store.h: STORE_CURSOR_PLACE");

/* The first link at or past the low bound (past it when exclusive). The
 * bound's first 8 bytes, zero-padded, name the order it falls in; the
 * bucket of that order starts no later than the bound, and nothing before
 * its dummy is at or past the bound. */
static void ht_cursor_seek(store_t *s, const store_cursor_t *c, ht_place_t *p)
{
    /* Relaxed: only for hints. */
    p->bits = atomic_load_explicit(&s->bits, memory_order_relaxed);
    p->started = true;
    if (c->lo.pos == NULL) {
        p->cur = &ht_base(s)[0];
        return;
    }
    unsigned char first[8] = {0};
    memcpy(first, c->lo.pos, c->lo.len < 8 ? c->lo.len : 8);
    uint64_t order;
    memcpy(&order, first, 8);
    order = be64toh(order);
    /* The region of a stripe starts at its permanent dummy: a seek into it
     * begins the stripe's read before it follows a link there, and stops
     * before the next stripe's permanent dummy, which the step then meets. */
    p->st = ht_stripe_of(s, order);
    p->seq = ht_read_begin(p->st);
    const ht_link_t *stop;
    ht_link_t *cur = ht_reader_start(s, ht_rev64(order), &stop);
    do
        cur = atomic_load_explicit(&cur->next, memory_order_acquire);
    while (cur != NULL && ht_beyond(cur, &c->lo, -1));
    p->cur = cur;
}

/* A bag key whose read failed to validate (or outgrew memory) read again:
 * from its bucket, up to HT_READ_TRIES reads in all, then under the
 * stripe lock (as in ht_get_group, but gathered under the lock and handed
 * out after it). The count read under the lock is even and covers the
 * lock's view, so the walk goes on from it. Returns the link after the
 * key's objects with *rc XETS_OK, or after where the key was if it is gone
 * by now with *rc XETS_NOTFOUND (the walk goes on from there), or NULL with
 * *rc XETS_NOMEM. Apart from ht_cursor_next, whose common path stays small. */
static __attribute__((noinline, cold)) ht_link_t *
ht_cursor_reread(store_cursor_t *c, ht_place_t *p, uint64_t order, const unsigned char *key,
                 size_t klen, bool whole, int *rc)
{
    store_t *s = c->s;
    ht_link_t *pred, *end;
    const ht_link_t *stop;
    for (unsigned tries = 1; whole && tries < HT_READ_TRIES; tries++) {
        ck_pr_stall();
        p->seq = ht_read_begin(p->st);
        ht_link_t *from = ht_reader_start(s, ht_rev64(order), &stop);
        ht_link_t *at = ht_seek(from, stop, order, key, klen, false, &pred);
        c->recs.n = 0;
        whole = ht_group_gather(s, &c->recs, at, stop, order, key, klen, p->st, p->seq, &end);
        if (whole && ht_read_valid(p->st, p->seq)) {
            *rc = c->recs.n > 0 ? XETS_OK : XETS_NOTFOUND;
            return end;
        }
    }
    pthread_mutex_lock(&p->st->lock);
    ht_link_t *from = ht_reader_start(s, ht_rev64(order), &stop);
    ht_link_t *at = ht_seek(from, stop, order, key, klen, false, &pred);
    c->recs.n = 0;
    whole = ht_group_gather(s, &c->recs, at, stop, order, key, klen, NULL, 0, &end);
    p->seq = atomic_load_explicit(&p->st->seq, memory_order_relaxed);
    pthread_mutex_unlock(&p->st->lock);
    *rc = !whole ? XETS_NOMEM : c->recs.n > 0 ? XETS_OK : XETS_NOTFOUND;
    return whole ? end : NULL;
}

/* Hash order has one direction: c->dir is always SCAN_FORWARD here. Split
 * order does not change when the table resizes, so a cursor, or a re-seek
 * from the last key, neither repeats nor skips a key that stays in the
 * table. */
static int ht_cursor_next(store_cursor_t *c)
{
    store_t *s = c->s;
    ht_place_t *p = (ht_place_t *)c->place;
    if (!p->started)
        ht_cursor_seek(s, c, p);
    bool bag = s->kind != STORE_SET;
    ht_link_t *cur = p->cur, *end;
    while (cur != NULL) {
        if (ht_is_dummy(cur)) {
            uint64_t order = ht_ord(cur);
            ht_scan_warm(s, order, p->bits);
            if (bag && ht_stripe_of(s, order) != p->st) {
                p->st = ht_stripe_of(s, order);
                p->seq = ht_read_begin(p->st);
            }
            cur = atomic_load_explicit(&cur->next, memory_order_acquire);
            continue;
        }
        if (c->hi.pos != NULL && ht_beyond(cur, &c->hi, 1))
            break;
        /* cur holds the key: the first record needs no comparing. Its
         * bytes are fetched while the walk goes on to the next node: they
         * are compared with that node's key when it has the same order (a
         * bag's next object), and the value after them is what the caller
         * reads. */
        uint64_t order = ht_ord(cur);
        rec_t k = ht_rec(s, cur);
        __builtin_prefetch(k.key);
        c->recs.rec[0] = k;
        c->recs.n = 1;
        ht_link_t *next = atomic_load_explicit(&cur->next, memory_order_acquire);
        bool whole = ht_group_gather(s, &c->recs, next, NULL, order, k.key, k.klen,
                                     bag ? p->st : NULL, p->seq, &end);
        if (whole && (!bag || ht_read_valid(p->st, p->seq))) {
            p->cur = end;
            return XETS_OK;
        }
        int rc;
        end = ht_cursor_reread(c, p, order, k.key, k.klen, whole, &rc);
        if (rc != XETS_NOTFOUND) {
            /* On XETS_NOMEM the cursor stays at the key. */
            p->cur = rc == XETS_OK ? end : cur;
            return rc;
        }
        cur = end;
    }
    p->cur = NULL;
    return XETS_END;
}

/* Square root by Newton's method, from above: the C library's would need
 * libm, which the build does not link, for a figure that is only shown. */
static double ht_sqrt(double x)
{
    if (!(x > 0))
        return 0;
    double r = x < 1 ? 1 : x;
    for (;;) {
        double next = (r + x / r) / 2;
        if (next >= r)
            return r;
        r = next;
    }
}

/* A stats walk's place (store_stats_walk_t): where the next step starts,
 * and the figures so far, as erl_db_hash.c's db_calc_stats_hash gathers
 * them. A chain is the objects of one bucket: one run of the list. */
typedef struct ht_stats_walk {
    uint64_t pos;             /* the order the next step starts at */
    uint64_t objects, used;   /* objects counted; chains closed or open */
    uint64_t sq_sum, min, max; /* over closed chains; min 0: none yet */
    uint64_t bucket, len;     /* the open chain, if len > 0 */
} __attribute__((may_alias)) ht_stats_walk_t;
_Static_assert(sizeof(ht_stats_walk_t) <= STORE_STATS_PLACE, "store.h: STORE_STATS_PLACE");

/* Nodes (objects and dummies) a stats step visits, about: a node is a
 * cache miss, so a step takes a few hundred microseconds at most. */
#define HT_STATS_STEP 4096

static void ht_stats_close_chain(ht_stats_walk_t *w)
{
    w->sq_sum += w->len * w->len;
    w->min = w->min == 0 || w->len < w->min ? w->len : w->min;
    w->max = w->len > w->max ? w->len : w->max;
    w->len = 0;
}

/* ets:info(T, stats) computes the same figures over its buckets. Each
 * stripe's part of the list is read under its lock, as ETS reads each
 * bucket under its own, in steps that end between two orders (so a bag
 * key's objects are counted in one step, as a lookup reads them in one
 * section) after HT_STATS_STEP nodes or at the end of a stripe's part.
 * The next step seeks its order again from the bucket's dummy, under the
 * bucket count of its own time: a resize or a clear between steps leaves
 * the figures approximate (a chain counted in two steps under two counts
 * may count as two, the bucket count is the last step's), as the buckets
 * of a busy ets table change while it counts them. */
static int ht_stats(store_t *s, store_stats_walk_t *sw, struct store_stats *out)
{
    ht_stats_walk_t *w = (ht_stats_walk_t *)sw->place;
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_acquire);
    uint64_t mask = ht_mask(bits);
    size_t visited = 0;
    for (;;) {
        ht_stripe_t *st = ht_stripe_of(s, w->pos);
        pthread_mutex_lock(&st->lock);
        ht_link_t *l = atomic_load_explicit(&ht_dummy_near(s, ht_rev64(w->pos) & mask)->next,
                                            memory_order_acquire);
        while (l != NULL && ht_ord(l) < w->pos)
            l = atomic_load_explicit(&l->next, memory_order_acquire);
        uint64_t last = w->pos;
        for (; l != NULL && ht_stripe_of(s, ht_ord(l)) == st;
             l = atomic_load_explicit(&l->next, memory_order_acquire)) {
            /* Past the budget, a step has visited a node: last is its order. */
            uint64_t order = ht_ord(l);
            if (visited >= HT_STATS_STEP && order != last)
                break;
            visited++;
            last = order;
            if (ht_is_dummy(l))
                continue;
            uint64_t j = ht_rev64(order) & mask;
            if (w->len > 0 && j != w->bucket)
                ht_stats_close_chain(w);
            w->used += w->len == 0;
            w->bucket = j;
            w->len++;
            w->objects++;
        }
        /* Where the next step starts: l, the first node of an order not
         * counted yet (in st past the budget, else the next stripe's
         * permanent dummy), or the end of the list. */
        if (l != NULL)
            w->pos = ht_ord(l);
        pthread_mutex_unlock(&st->lock);
        if (l == NULL)
            break;
        if (visited >= HT_STATS_STEP)
            return XETS_OK;
    }
    if (w->len > 0)
        ht_stats_close_chain(w);
    uint64_t nb = (uint64_t)1 << bits;
    double avg = (double)w->objects / (double)nb;
    out->buckets = nb;
    out->avg_chain_len = avg;
    out->std_dev_chain_len =
        ht_sqrt(((double)w->sq_sum - avg * (double)w->objects) / (double)nb);
    out->std_dev_expected = ht_sqrt(avg * (1 - 1 / (double)nb));
    out->min_chain_len = w->used < nb ? 0 : w->min;
    out->max_chain_len = w->max;
    out->kept_items = 0; /* removed objects are unlinked at once, fixed or not */
    out->locks = HT_NSTRIPES;
    return XETS_END;
}

/* Bucket j's objects are the run of the list with orders in
 * [reverse(j), reverse(j) + 2^(64 - bits)), all in j's stripe (bits is never
 * below HT_STRIPE_BITS): read under the stripe lock, as ETS reads a bucket
 * under its lock, so a bag key is never seen half removed. Dummies of
 * buckets dropped by a shrink may still lie in the run: they are passed. */
static int ht_bucket(store_t *s, xets_call_t *call, uint64_t j, uint64_t *nbuckets, visit_fn visit, void *ctx)
{
    (void)call;
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_acquire);
    *nbuckets = (uint64_t)1 << bits;
    if (j >= *nbuckets)
        return XETS_END;
    uint64_t lo = ht_rev64(j), span = (uint64_t)1 << (64 - bits);
    ht_stripe_t *st = ht_stripe_of(s, lo);
    pthread_mutex_lock(&st->lock);
    ht_link_t *cur = atomic_load_explicit(&ht_dummy_near(s, j)->next, memory_order_acquire);
    while (cur != NULL && ht_ord(cur) < lo)
        cur = atomic_load_explicit(&cur->next, memory_order_acquire);
    /* order - lo < span: also right for the last bucket, whose run ends
     * where orders wrap-> */
    for (; cur != NULL && ht_ord(cur) - lo < span;
         cur = atomic_load_explicit(&cur->next, memory_order_acquire)) {
        if (!ht_is_dummy(cur)) {
            rec_t r = ht_rec(s, cur);
            visit(ctx, &r);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return XETS_OK;
}

const store_ops_t hash_table_ops = {
    .order = "hash.2",
    .backward = false,
    .sort_key = ht_sort_key,
    .open = ht_open,
    .close = ht_close,
    .drop = ht_close,
    .clear = ht_clear,
    .put = ht_put,
    .get = ht_get,
    .remove = ht_remove,
    .update = ht_update,
    .rewrite = ht_rewrite,
    .cursor_next = ht_cursor_next,
    .size = ht_size,
    .memory = ht_memory,
    .stats = ht_stats,
    .bucket = ht_bucket,
};
