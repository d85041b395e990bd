/* set, bag and duplicate_bag: a split-ordered list (Shalev and Shavit,
 * "Split-Ordered Lists: Lock-Free Extensible Hash Tables", JACM 2006) whose
 * writers take stripe locks instead of using CAS.
 *
 * Every object lives in one sorted singly linked list, ordered by
 * (order, dummy-before-regular, klen, key bytes, insertion), where order is
 * the bit-reversed XXH3 hash of the key. Reversal makes the objects of hash
 * bucket j (the low `bits` bits of the hash) one contiguous run of the list
 * that starts at reverse(j), so the directory of buckets is only a set of
 * shortcuts into the list: bucket j holds a dummy node of order reverse(j),
 * and doubling the table just makes more shortcuts; no object ever moves.
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
 * - The table also shrinks: lowering `bits` is immediate, and the dummies of
 *   the dropped buckets are then unlinked by writers, HT_REAP_BATCH buckets
 *   per write operation, from the top down, so that neither the directory
 *   nor a traversal keeps paying for a size the table no longer has.
 * - The directory is segmented (segment k holds buckets [2^k, 2^(k+1)), the
 *   first HT_NSTRIPES buckets are fixed) so growth allocates, never copies,
 *   and it holds the dummies themselves rather than pointers to them: finding
 *   a bucket's start is one cache miss, and a dummy costs no allocation. A
 *   dummy's segment is retired, as a whole, only after all its dummies are
 *   unlinked.
 *
 * Invariants:
 * - The list is sorted. The next pointer of an unlinked object never
 *   changes; that of an unlinked dummy changes only if the dummy is linked
 *   again, at the same place, so it still leads on to greater nodes.
 * - bits only changes, and segments are only allocated or retired, under the
 *   resize mutex, which is always taken before a stripe lock, never after.
 * - Segment k (k >= HT_STRIPE_BITS) is allocated exactly when
 *   2^k < reap_hi, and 2^bits <= reap_hi. Buckets in [2^bits, reap_hi) are
 *   dropped and await reaping; buckets at or above reap_hi have no dummy.
 * - A dummy is in the list exactly when it is marked live; both change under
 *   the lock of the dummy's stripe. A writer links dummies only for buckets
 *   below 2^bits as read under that lock, which is why a reaped bucket is
 *   never linked again behind the reaper's back.
 *
 * Memory ordering: a node, a dummy or a segment is fully written before a
 * release store publishes it (a next pointer, a dummy's live mark, a segment
 * pointer, `bits`), and every load that can see it is an acquire load. Unlinking is also a release store, since it may publish to a reader
 * a node that another writer linked. Counters are relaxed: they are exact
 * only when writers are quiet, as store.h says. */
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
/* Grow above 2 objects per bucket, shrink below 1/8. */
#define HT_GROW_LOAD 2
#define HT_SHRINK_LOAD 8
/* After its own load has called for a resize check, a stripe waits this many
 * of its writes before calling again, so that a misleading stripe (a skewed
 * one, or one of a tiny table) rarely costs a sum over all stripes. */
#define HT_CHECK_BACKOFF 64
#define HT_REAP_BATCH 8
#define HT_POLL_EVERY 64

/* What the list links: the header shared by objects and dummies. */
typedef struct ht_link ht_link_t;
struct ht_link {
    _Atomic(ht_link_t *) next;
    uint64_t order;
    uint32_t klen; /* objects: key length */
    bool dummy;
    _Atomic bool live; /* dummies: in the list; changed under the stripe lock */
};

/* An object: one allocation holding the header, the key and the value. */
typedef struct ht_node {
    ht_link_t h;
    uint64_t fp;
    size_t vlen;
    unsigned char data[]; /* key bytes, then value bytes */
} ht_node_t;
/* Allocations cover the whole struct, whatever the key and value lengths. */
#define HT_HDR sizeof(ht_node_t)

typedef struct ht_stripe {
    alignas(HT_CACHE_LINE) pthread_mutex_t lock;
    _Atomic size_t count; /* objects; stored under lock, read by anyone */
    _Atomic size_t bytes; /* object allocations */
    unsigned skip;        /* under lock: writes left before the next load check */
} ht_stripe_t;

struct store {
    ht_stripe_t stripe[HT_NSTRIPES];
    alignas(HT_CACHE_LINE) _Atomic unsigned bits;
    _Atomic uint64_t reap_hi;
    _Atomic size_t dir_bytes;
    enum store_kind kind;
    /* Dummies live in the directory itself, so that finding a bucket's start
     * costs one cache miss, and cost nothing to allocate. */
    ht_link_t base[HT_NSTRIPES]; /* buckets below HT_NSTRIPES: always live */
    _Atomic(ht_link_t *) seg[HT_MAX_BITS];
    alignas(HT_CACHE_LINE) pthread_mutex_t resize;
};

static _Thread_local unsigned ht_writes;

static uint64_t ht_rev64(uint64_t x)
{
    x = ((x >> 1) & 0x5555555555555555u) | ((x & 0x5555555555555555u) << 1);
    x = ((x >> 2) & 0x3333333333333333u) | ((x & 0x3333333333333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0Fu) | ((x & 0x0F0F0F0F0F0F0F0Fu) << 4);
    x = ((x >> 8) & 0x00FF00FF00FF00FFu) | ((x & 0x00FF00FF00FF00FFu) << 8);
    x = ((x >> 16) & 0x0000FFFF0000FFFFu) | ((x & 0x0000FFFF0000FFFFu) << 16);
    return (x >> 32) | (x << 32);
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

/* Dummy of bucket j >= HT_NSTRIPES, NULL when its segment is not allocated. */
static ht_link_t *ht_slot(store_t *s, uint64_t j)
{
    unsigned k = ht_log2(j);
    ht_link_t *seg = atomic_load_explicit(&s->seg[k], memory_order_acquire);
    return seg == NULL ? NULL : &seg[j - ((uint64_t)1 << k)];
}

/* The dummy of bucket j or of its nearest ancestor that is in the list. */
static ht_link_t *ht_dummy_near(store_t *s, uint64_t j)
{
    for (; j >= HT_NSTRIPES; j = ht_parent(j)) {
        ht_link_t *d = ht_slot(s, j);
        /* Acquire: pairs with the release that made it live, after its
         * order and next were written. */
        if (d != NULL && atomic_load_explicit(&d->live, memory_order_acquire))
            return d;
    }
    return &s->base[j];
}

/* Where a reader starts looking for the objects of hash h. */
static ht_link_t *ht_reader_start(store_t *s, uint64_t h)
{
    return ht_dummy_near(s, h & ht_mask(atomic_load_explicit(&s->bits, memory_order_acquire)));
}

static ht_node_t *ht_obj(ht_link_t *l)
{
    return (ht_node_t *)l;
}

static int ht_key_cmp(ht_link_t *l, const unsigned char *key, size_t klen)
{
    if (l->klen != klen)
        return l->klen < klen ? -1 : 1;
    return klen == 0 ? 0 : memcmp(ht_obj(l)->data, key, klen);
}

static bool ht_same_key(ht_link_t *l, uint64_t order, const unsigned char *key, size_t klen)
{
    return !l->dummy && l->order == order && ht_key_cmp(l, key, klen) == 0;
}

/* Whether l sorts before the key (or_equal: before or at it). */
static bool ht_before(ht_link_t *l, uint64_t order, const unsigned char *key, size_t klen,
                      bool or_equal)
{
    if (l->order != order)
        return l->order < order;
    if (l->dummy)
        return true;
    int c = ht_key_cmp(l, key, klen);
    return c < 0 || (or_equal && c == 0);
}

/* From pred (which sorts before the key), the first link not before the key
 * (past: not at it either); its predecessor goes to *predp. */
static ht_link_t *ht_seek(ht_link_t *pred, uint64_t order, const unsigned char *key, size_t klen,
                          bool past, ht_link_t **predp)
{
    ht_link_t *cur = atomic_load_explicit(&pred->next, memory_order_acquire);
    while (cur != NULL && ht_before(cur, order, key, klen, past)) {
        pred = cur;
        cur = atomic_load_explicit(&cur->next, memory_order_acquire);
    }
    *predp = pred;
    return cur;
}

static rec_t ht_rec(ht_link_t *l)
{
    ht_node_t *n = ht_obj(l);
    return (rec_t){n->data, n->h.klen, n->data + n->h.klen, n->vlen, n->fp};
}

static size_t ht_node_size(ht_link_t *l)
{
    return HT_HDR + l->klen + ht_obj(l)->vlen;
}

static ht_node_t *ht_node_new(uint64_t order, const rec_in_t *in)
{
    /* A key beyond 4 GiB cannot be stored, like one beyond memory. */
    if (in->klen > UINT32_MAX || in->vlen > SIZE_MAX - HT_HDR - in->klen)
        return NULL;
    ht_node_t *n = malloc(HT_HDR + in->klen + in->vlen);
    if (n == NULL)
        return NULL;
    atomic_init(&n->h.next, NULL);
    n->h.order = order;
    n->h.klen = (uint32_t)in->klen;
    n->h.dummy = false;
    atomic_init(&n->h.live, false);
    n->fp = in->fp;
    n->vlen = in->vlen;
    if (in->klen > 0)
        memcpy(n->data, in->key, in->klen);
    if (in->vlen > 0)
        memcpy(n->data + in->klen, in->val, in->vlen);
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

/* Links l after pred, in front of next. Release on both stores: l may be a
 * dummy that readers still traverse from an earlier life in the list. */
static void ht_link(ht_link_t *pred, ht_link_t *l, ht_link_t *next)
{
    atomic_store_explicit(&l->next, next, memory_order_release);
    atomic_store_explicit(&pred->next, l, memory_order_release);
}

/* Replaces object cur, pred's successor, by n. st locked. */
static void ht_replace(ht_stripe_t *st, ht_link_t *pred, ht_link_t *cur, ht_node_t *n)
{
    ht_link(pred, &n->h, atomic_load_explicit(&cur->next, memory_order_relaxed));
    ht_add(&st->bytes, ht_node_size(&n->h));
    ht_sub(&st->bytes, ht_node_size(cur));
    epoch_retire(cur, free);
}

/* Unlinks the objects from first (pred's successor) up to end, exclusive,
 * with one store, so a reader sees all of them or none, and retires them.
 * st locked. */
static void ht_unlink(ht_stripe_t *st, ht_link_t *pred, ht_link_t *first, ht_link_t *end)
{
    atomic_store_explicit(&pred->next, end, memory_order_release);
    while (first != end) {
        ht_link_t *next = atomic_load_explicit(&first->next, memory_order_relaxed);
        ht_sub(&st->bytes, ht_node_size(first));
        epoch_retire(first, free);
        first = next;
    }
}

/* Where a writer starts looking for the objects of hash h, linking the
 * missing dummies of the bucket and its ancestors so that later searches are
 * short. Lock of h's stripe held: bits read under it cannot have dropped the
 * bucket's segment (the reaper frees one only after taking every stripe lock
 * for its buckets, and lowers bits before that). */
static ht_link_t *ht_writer_start(store_t *s, uint64_t h)
{
    uint64_t j = h & ht_mask(atomic_load_explicit(&s->bits, memory_order_acquire));
    ht_link_t *missing[HT_MAX_BITS];
    uint64_t missing_j[HT_MAX_BITS];
    unsigned n = 0;
    ht_link_t *d = NULL;
    for (; j >= HT_NSTRIPES; j = ht_parent(j)) {
        ht_link_t *slot = ht_slot(s, j);
        if (atomic_load_explicit(&slot->live, memory_order_relaxed)) {
            d = slot;
            break;
        }
        missing_j[n] = j;
        missing[n++] = slot;
    }
    if (d == NULL)
        d = &s->base[j];
    while (n > 0) {
        ht_link_t *nd = missing[--n];
        uint64_t order = ht_rev64(missing_j[n]);
        /* Written once: a dummy reaped and linked again keeps them, and
         * readers may still be reading them. */
        if (!nd->dummy) {
            nd->order = order;
            nd->dummy = true;
        }
        ht_link_t *pred = d;
        ht_link_t *cur = atomic_load_explicit(&pred->next, memory_order_relaxed);
        while (cur != NULL && cur->order < order) {
            pred = cur;
            cur = atomic_load_explicit(&cur->next, memory_order_relaxed);
        }
        ht_link(pred, nd, cur);
        atomic_store_explicit(&nd->live, true, memory_order_release);
        d = nd;
    }
    return d;
}

static size_t ht_size(store_t *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < HT_NSTRIPES; i++)
        n += atomic_load_explicit(&s->stripe[i].count, memory_order_relaxed);
    return n;
}

static size_t ht_memory(store_t *s)
{
    size_t n = sizeof *s + atomic_load_explicit(&s->dir_bytes, memory_order_relaxed);
    for (unsigned i = 0; i < HT_NSTRIPES; i++)
        n += atomic_load_explicit(&s->stripe[i].bytes, memory_order_relaxed);
    return n;
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

/* Moves bits to fit the exact size. Growth allocates the segments it needs;
 * shrinking leaves the dropped buckets to ht_reap. */
static void ht_resize(store_t *s)
{
    if (pthread_mutex_trylock(&s->resize) != 0)
        return;
    size_t n = ht_size(s);
    unsigned bits = atomic_load_explicit(&s->bits, memory_order_relaxed);
    unsigned want = bits;
    uint64_t reap_hi = atomic_load_explicit(&s->reap_hi, memory_order_relaxed);
    while (want < HT_MAX_BITS && n / HT_GROW_LOAD > ((size_t)1 << want)) {
        uint64_t lo = (uint64_t)1 << want;
        if (reap_hi <= lo) {
            /* Zeroed: no dummy in it is live. */
            ht_link_t *seg = calloc(lo, sizeof *seg);
            if (seg == NULL)
                break;
            /* Release: a writer that sees the new bits also sees the segment. */
            atomic_store_explicit(&s->seg[want], seg, memory_order_release);
            ht_add(&s->dir_bytes, lo * sizeof *seg);
        }
        want++;
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

/* Unlinks the dummy of dropped bucket j, if it is in the list. */
static void ht_reap_bucket(store_t *s, uint64_t j)
{
    ht_link_t *d = ht_slot(s, j);
    ht_stripe_t *st = ht_stripe_of(s, ht_rev64(j));
    pthread_mutex_lock(&st->lock);
    if (atomic_load_explicit(&d->live, memory_order_relaxed)) {
        /* Dead before the unlink, so a reader that still finds d live began
         * its section while d was in the list: d's successor cannot be freed
         * before that reader is done. */
        atomic_store_explicit(&d->live, false, memory_order_relaxed);
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
 * its last bucket is gone (readers may still be on its dummies). */
static void ht_reap(store_t *s)
{
    if (pthread_mutex_trylock(&s->resize) != 0)
        return;
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
    pthread_mutex_unlock(&s->resize);
}

/* Ends a write: unlocks st, then does this write's share of table upkeep. */
static void ht_write_done(store_t *s, ht_stripe_t *st)
{
    bool check = ht_load_check(s, st);
    pthread_mutex_unlock(&st->lock);
    if (check)
        ht_resize(s);
    /* Relaxed: only a hint; ht_reap rereads both under the resize mutex. */
    if (atomic_load_explicit(&s->reap_hi, memory_order_relaxed) >
        (uint64_t)1 << atomic_load_explicit(&s->bits, memory_order_relaxed))
        ht_reap(s);
    if (++ht_writes % HT_POLL_EVERY == 0)
        epoch_poll();
}

static store_t *ht_create(enum store_kind kind)
{
    store_t *s = aligned_alloc(alignof(store_t), sizeof *s);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    /* The stripe dummies, in list order: stripe t's region starts at order
     * t << (64 - HT_STRIPE_BITS), the dummy of the bucket reversing t. */
    ht_link_t *prev = NULL;
    for (unsigned t = 0; t < HT_NSTRIPES; t++) {
        uint64_t order = (uint64_t)t << (64 - HT_STRIPE_BITS);
        ht_link_t *d = &s->base[ht_rev64(order)];
        atomic_init(&d->next, NULL);
        d->order = order;
        d->klen = 0;
        d->dummy = true;
        atomic_init(&d->live, true);
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
    }
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&s->resize, NULL);
    atomic_init(&s->bits, HT_STRIPE_BITS);
    atomic_init(&s->reap_hi, HT_NSTRIPES);
    atomic_init(&s->dir_bytes, 0);
    for (unsigned k = 0; k < HT_MAX_BITS; k++)
        atomic_init(&s->seg[k], NULL);
    s->kind = kind;
    return s;
}

static void ht_destroy(store_t *s)
{
    ht_link_t *l = &s->base[0];
    while (l != NULL) {
        ht_link_t *next = atomic_load_explicit(&l->next, memory_order_relaxed);
        if (!l->dummy)
            free(l);
        l = next;
    }
    for (unsigned k = 0; k < HT_MAX_BITS; k++)
        free(atomic_load_explicit(&s->seg[k], memory_order_relaxed));
    for (unsigned t = 0; t < HT_NSTRIPES; t++)
        pthread_mutex_destroy(&s->stripe[t].lock);
    pthread_mutex_destroy(&s->resize);
    free(s);
}

static int ht_put(store_t *s, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx)
{
    uint64_t h = XXH3_64bits(in->key, in->klen);
    uint64_t order = ht_rev64(h);
    /* Built before locking, to keep the critical section short. */
    ht_node_t *n = ht_node_new(order, in);
    if (n == NULL)
        return XETS_NOMEM;
    ht_stripe_t *st = ht_stripe_of(s, order);
    pthread_mutex_lock(&st->lock);
    ht_link_t *pred;
    ht_link_t *cur = ht_seek(ht_writer_start(s, h), order, in->key, in->klen, false, &pred);
    bool found = cur != NULL && ht_same_key(cur, order, in->key, in->klen);
    bool keep = true;
    if (found && mode == PUT_NEW) {
        keep = false;
    } else if (found && s->kind == STORE_SET) {
        ht_replace(st, pred, cur, n);
    } else {
        /* Past the key's objects, so bag objects stay in insertion order. */
        for (; keep && cur != NULL && ht_same_key(cur, order, in->key, in->klen);
             cur = atomic_load_explicit(&cur->next, memory_order_relaxed)) {
            rec_t r = ht_rec(cur);
            if (s->kind == STORE_BAG && r.fp == in->fp && (same == NULL || same(ctx, &r)))
                keep = false;
            pred = cur;
        }
        if (keep) {
            ht_link(pred, &n->h, cur);
            ht_add(&st->bytes, ht_node_size(&n->h));
            ht_add(&st->count, 1);
        }
    }
    ht_write_done(s, st);
    if (!keep)
        free(n);
    return found && mode == PUT_NEW ? XETS_EXISTS : XETS_OK;
}

static int ht_get(store_t *s, const unsigned char *key, size_t klen, visit_fn visit, void *ctx)
{
    uint64_t h = XXH3_64bits(key, klen);
    uint64_t order = ht_rev64(h);
    ht_link_t *pred;
    ht_link_t *cur = ht_seek(ht_reader_start(s, h), order, key, klen, false, &pred);
    int rc = XETS_NOTFOUND;
    for (; cur != NULL && ht_same_key(cur, order, key, klen);
         cur = atomic_load_explicit(&cur->next, memory_order_acquire)) {
        rc = XETS_OK;
        rec_t r = ht_rec(cur);
        if (visit(ctx, &r))
            break;
    }
    return rc;
}

static int ht_remove(store_t *s, const unsigned char *key, size_t klen, pred_fn match, void *mctx,
                     visit_fn removed, void *rctx)
{
    uint64_t h = XXH3_64bits(key, klen);
    uint64_t order = ht_rev64(h);
    ht_stripe_t *st = ht_stripe_of(s, order);
    pthread_mutex_lock(&st->lock);
    ht_link_t *pred;
    ht_link_t *cur = ht_seek(ht_writer_start(s, h), order, key, klen, false, &pred);
    /* Consecutive removed objects go in one store: removing all of a key's
     * objects is then atomic for readers too. */
    ht_link_t *run = NULL;
    int n = 0;
    for (; cur != NULL && ht_same_key(cur, order, key, klen);
         cur = atomic_load_explicit(&cur->next, memory_order_relaxed)) {
        rec_t r = ht_rec(cur);
        if (match == NULL || match(mctx, &r)) {
            if (removed != NULL)
                removed(rctx, &r);
            if (run == NULL)
                run = cur;
            n++;
        } else {
            if (run != NULL)
                ht_unlink(st, pred, run, cur);
            run = NULL;
            pred = cur;
        }
    }
    if (run != NULL)
        ht_unlink(st, pred, run, cur);
    ht_sub(&st->count, (size_t)n);
    ht_write_done(s, st);
    return n;
}

static int ht_update(store_t *s, const unsigned char *key, size_t klen, update_fn fn, void *ctx)
{
    /* As ETS: update_counter and update_element are for sets only. */
    if (s->kind != STORE_SET)
        return XETS_BADARG;
    uint64_t h = XXH3_64bits(key, klen);
    uint64_t order = ht_rev64(h);
    ht_stripe_t *st = ht_stripe_of(s, order);
    pthread_mutex_lock(&st->lock);
    ht_link_t *pred;
    ht_link_t *cur = ht_seek(ht_writer_start(s, h), order, key, klen, false, &pred);
    int rc = XETS_NOTFOUND;
    if (cur != NULL && ht_same_key(cur, order, key, klen)) {
        rec_t r = ht_rec(cur);
        rec_in_t out;
        rc = fn(ctx, &r, &out);
        if (rc == XETS_OK) {
            ht_node_t *n = ht_node_new(order, &out);
            if (n == NULL)
                rc = XETS_NOMEM;
            else
                ht_replace(st, pred, cur, n);
        }
    }
    ht_write_done(s, st);
    return rc;
}

static int ht_scan(store_t *s, const unsigned char *after, size_t alen, enum scan_dir dir,
                   visit_fn visit, void *ctx)
{
    /* A hash table has no order of its own: last/prev alias first/next, as in
     * ETS. Split order does not change when the table resizes, so resuming
     * after a key neither repeats nor skips a key that stays in the table. */
    (void)dir;
    ht_link_t *cur;
    if (after == NULL) {
        cur = atomic_load_explicit(&s->base[0].next, memory_order_acquire);
    } else {
        uint64_t h = XXH3_64bits(after, alen);
        ht_link_t *pred;
        cur = ht_seek(ht_reader_start(s, h), ht_rev64(h), after, alen, true, &pred);
    }
    for (; cur != NULL; cur = atomic_load_explicit(&cur->next, memory_order_acquire)) {
        if (cur->dummy)
            continue;
        rec_t r = ht_rec(cur);
        if (visit(ctx, &r)) {
            /* The caller resumes after this key: finish its objects first. */
            for (ht_link_t *l = atomic_load_explicit(&cur->next, memory_order_acquire);
                 l != NULL && ht_same_key(l, cur->order, r.key, r.klen);
                 l = atomic_load_explicit(&l->next, memory_order_acquire)) {
                rec_t lr = ht_rec(l);
                visit(ctx, &lr);
            }
            return XETS_OK;
        }
    }
    return XETS_END;
}

const store_ops_t hash_table_ops = {
    .create = ht_create,
    .destroy = ht_destroy,
    .put = ht_put,
    .get = ht_get,
    .remove = ht_remove,
    .update = ht_update,
    .scan = ht_scan,
    .size = ht_size,
    .memory = ht_memory,
};
