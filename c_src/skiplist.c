/* ordered_set: a lock-free skiplist after Fraser ("Practical lock-freedom",
 * 2004) and Herlihy & Shavit ("The Art of Multiprocessor Programming",
 * ch. 14), one object per key.
 *
 * How it departs from Pugh's skiplist: there are no locks and no backward
 * links. Every level is a Harris list: a node leaves a level when the low bit
 * of its own next pointer there is set (the pointer is then frozen) and a CAS
 * on its predecessor's pointer unlinks it. Writers' searches perform that CAS
 * for any marked node they meet; readers step over marked nodes and never
 * write. Towers are linked bottom-up and marked top-down, level 0 last.
 *
 * How it departs from the textbook:
 * - The node's value pointer, not the level-0 mark, is the linearization
 *   point of object changes. Replacing an object is a CAS of the value
 *   pointer to a new blob; removing it is a CAS to NULL, and only then is the
 *   tower marked and unlinked. NULL is terminal and makes the node absent to
 *   every reader; an insert that meets such a node helps mark it and retries.
 * - Memory is reclaimed through epochs (epoch.h), not a collector. A blob is
 *   retired by the thread whose CAS displaced it. A node may still be getting
 *   upper levels linked by its inserter after it was deleted, so the inserter
 *   (when it stops linking) and the deleter (the thread whose mark on level 0
 *   landed) each bump node->done; the second one runs a full search for the
 *   key, which unlinks the node from every level, and retires it (Fraser's
 *   READY_FOR_FREE handshake).
 * - An inserter never links an upper level in front of another node with its
 *   own key (that node is dead and fully marked: it searches again, which
 *   unlinks it). Hence a search for K meets every node with key K on every
 *   level it descends, which is what makes the cleanup search sufficient.
 * - Backward traversal is a fresh predecessor search per step, without
 *   allocation: towers are singly linked.
 *
 * Invariants:
 * - On every level keys strictly increase along next pointers, frozen ones
 *   included; so a traversal never repeats a key or goes backwards, and a
 *   node present for a whole traversal is on its path.
 * - A node is linked on level i only after every level below i; level 0
 *   holds at most one node per key. A marked pointer and a NULL value never
 *   change again.
 * - Keys, heights and blobs are immutable once published; a node is retired
 *   only when no level links it, and nothing links it again.
 *
 * Memory ordering:
 * - Node and blob contents are written before the CAS that publishes them,
 *   which is release; every load of a next or value pointer is acquire, so a
 *   thread that sees a pointer sees what it points to.
 * - Every CAS (links, marks, values) is acq_rel: a thread that won a CAS
 *   acts on what the previous owner of the word published.
 * - node->done is bumped with an acq_rel fetch-add, so the second party sees
 *   the first party's links or marks before its cleanup search.
 * - The height hint s->top and the counters are relaxed: a stale top only
 *   makes a search start lower (each level is a subset of the one below), and
 *   searches that must reach a given node start at least at its height;
 *   counters are exact only when quiescent.
 * ck_pr's x86-64 port is inline assembly, which ThreadSanitizer cannot see;
 * under TSan the same orderings are spelled with compiler builtins. */
#include "epoch.h"
#include "status.h"
#include "store.h"

#include <ck_pr.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
#define SL_TSAN 1
#else
#define SL_TSAN 0
#endif

/* Towers grow with p = 1/2: against p = 1/4, about 5 more bytes a node
 * bought some 40% faster lookups in the benchmark's 400k-key table, where
 * nearly every node visited is a cache miss. 32 levels serve 2^32 keys. */
#define MAX_HEIGHT 32
#define NSTRIPES 32
/* Writes between two epoch_poll() calls of one thread. */
#define POLL_EVERY 64

typedef struct blob {
    size_t vlen;
    uint64_t fp;
    unsigned char bytes[];
} blob_t;

/* Searches read kpfx and next[i] of every node they pass, so those come
 * first; kpfx settles most comparisons without touching the key bytes. */
typedef struct node {
    uint64_t kpfx; /* key_prefix() of the key */
    size_t klen;
    unsigned height;
    unsigned done; /* inserter and deleter each add 1; the second retires */
    blob_t *val;   /* NULL once the object is removed */
    struct node *next[]; /* height links, low bit = marked; then the key */
} node_t;

/* A key being searched for, with its prefix computed once. */
typedef struct skey {
    const unsigned char *p;
    size_t len;
    uint64_t pfx;
} skey_t;

/* One per cache line: threads hashed to different stripes never share one. */
typedef struct stripe {
    _Alignas(64) uint64_t count;
    uint64_t bytes;
} stripe_t;

struct store {
    node_t *head; /* sentinel below every key; never marked */
    unsigned top; /* hint: the tallest tower so far */
    stripe_t stripe[NSTRIPES];
};

/* ---- atomics: ck_pr, or builtins the race detector understands ---- */

static inline void *load_acquire(const void *addr)
{
#if SL_TSAN
    return __atomic_load_n((void *const *)addr, __ATOMIC_ACQUIRE);
#else
    void *v = ck_pr_load_ptr((void *const *)addr);
    ck_pr_fence_acquire();
    return v;
#endif
}

static inline bool cas_acqrel(void *addr, void *old, void *new)
{
#if SL_TSAN
    return __atomic_compare_exchange_n((void **)addr, &old, new, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
#else
    ck_pr_fence_release();
    bool ok = ck_pr_cas_ptr(addr, old, new);
    ck_pr_fence_acquire();
    return ok;
#endif
}

static inline unsigned faa_acqrel_uint(unsigned *addr, unsigned d)
{
#if SL_TSAN
    return __atomic_fetch_add(addr, d, __ATOMIC_ACQ_REL);
#else
    ck_pr_fence_release();
    unsigned old = ck_pr_faa_uint(addr, d);
    ck_pr_fence_acquire();
    return old;
#endif
}

static inline unsigned faa_relaxed_uint(unsigned *addr, unsigned d)
{
#if SL_TSAN
    return __atomic_fetch_add(addr, d, __ATOMIC_RELAXED);
#else
    return ck_pr_faa_uint(addr, d);
#endif
}

static inline unsigned load_relaxed_uint(const unsigned *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_RELAXED);
#else
    return ck_pr_load_uint(addr);
#endif
}

static inline bool cas_relaxed_uint(unsigned *addr, unsigned old, unsigned new)
{
#if SL_TSAN
    return __atomic_compare_exchange_n(addr, &old, new, false, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
#else
    return ck_pr_cas_uint(addr, old, new);
#endif
}

static inline void add_relaxed_64(uint64_t *addr, uint64_t d)
{
#if SL_TSAN
    __atomic_fetch_add(addr, d, __ATOMIC_RELAXED);
#else
    ck_pr_add_64(addr, d);
#endif
}

static inline uint64_t load_relaxed_64(const uint64_t *addr)
{
#if SL_TSAN
    return __atomic_load_n(addr, __ATOMIC_RELAXED);
#else
    return ck_pr_load_64(addr);
#endif
}

/* ---- thread-local state: PRNG, counter stripe, poll pacing ---- */

static unsigned threads_seen;

typedef struct thread_state {
    uint64_t rng; /* xorshift64*, never 0 once set */
    unsigned stripe;
    unsigned writes;
} thread_state_t;

static _Thread_local thread_state_t tl;

static thread_state_t *me(void)
{
    if (tl.rng == 0) {
        unsigned n = faa_relaxed_uint(&threads_seen, 1);
        tl.stripe = n % NSTRIPES;
        tl.rng = ((uint64_t)(uintptr_t)&tl ^ ((uint64_t)n + 1) * 0x9E3779B97F4A7C15ull) | 1;
    }
    return &tl;
}

static unsigned random_height(void)
{
    thread_state_t *t = me();
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    uint64_t r = (t->rng * 0x2545F4914F6CDD1Dull) >> 16; /* the low bits are weakest */
    unsigned h = 1;
    while (h < MAX_HEIGHT && (r & 1) == 0) {
        h++;
        r >>= 1;
    }
    return h;
}

static void counted(store_t *s, int64_t dcount, int64_t dbytes)
{
    stripe_t *st = &s->stripe[me()->stripe];
    add_relaxed_64(&st->count, (uint64_t)dcount);
    add_relaxed_64(&st->bytes, (uint64_t)dbytes);
}

/* Lets the epoch free retirements now and then, whatever the op mix. */
static void wrote(void)
{
    if (++me()->writes % POLL_EVERY == 0)
        epoch_poll();
}

/* ---- nodes, blobs, keys ---- */

static inline bool is_marked(const node_t *p)
{
    return ((uintptr_t)p & 1) != 0;
}

static inline node_t *marked(const node_t *p)
{
    return (node_t *)((uintptr_t)p | 1);
}

static inline node_t *unmarked(const node_t *p)
{
    return (node_t *)((uintptr_t)p & ~(uintptr_t)1);
}

static inline unsigned char *node_key(const node_t *n)
{
    return (unsigned char *)(n->next + n->height);
}

static size_t node_bytes(unsigned height, size_t klen)
{
    return sizeof(node_t) + height * sizeof(node_t *) + klen;
}

static size_t blob_bytes(const blob_t *b)
{
    return sizeof(blob_t) + b->vlen;
}

static blob_t *blob_new(const unsigned char *val, size_t vlen, uint64_t fp)
{
    blob_t *b = malloc(sizeof(blob_t) + vlen);
    if (b == NULL)
        return NULL;
    b->vlen = vlen;
    b->fp = fp;
    if (vlen > 0)
        memcpy(b->bytes, val, vlen);
    return b;
}

/* The first 8 bytes, big-endian, zero-padded. Padding keeps the order: a
 * key that is padded at the first difference is a prefix of the other. */
static uint64_t key_prefix(const unsigned char *key, size_t klen)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < klen ? key[i] : 0);
    return v;
}

static skey_t skey(const unsigned char *key, size_t klen)
{
    return (skey_t){.p = key, .len = klen, .pfx = key_prefix(key, klen)};
}

static skey_t node_skey(const node_t *n)
{
    return (skey_t){.p = node_key(n), .len = n->klen, .pfx = n->kpfx};
}

static node_t *node_new(const unsigned char *key, size_t klen, unsigned height, blob_t *val)
{
    node_t *n = malloc(node_bytes(height, klen));
    if (n == NULL)
        return NULL;
    n->kpfx = key_prefix(key, klen);
    n->val = val;
    n->klen = klen;
    n->done = 0;
    n->height = height;
    for (unsigned i = 0; i < height; i++)
        n->next[i] = NULL;
    if (klen > 0)
        memcpy(node_key(n), key, klen);
    return n;
}

/* memcmp order, then length: a proper prefix sorts first. */
static int key_cmp(const node_t *n, const skey_t *k)
{
    if (n->kpfx != k->pfx)
        return n->kpfx < k->pfx ? -1 : 1;
    size_t m = n->klen < k->len ? n->klen : k->len;
    int c = m > 0 ? memcmp(node_key(n), k->p, m) : 0;
    if (c != 0)
        return c;
    return (n->klen > k->len) - (n->klen < k->len);
}

static rec_t rec_of(const node_t *n, const blob_t *b)
{
    return (rec_t){.key = node_key(n), .klen = n->klen, .val = b->bytes, .vlen = b->vlen,
                   .fp = b->fp};
}

/* ---- searches ---- */

/* Writers' search: fills preds/succs on every level below max(top, min_h),
 * unlinking marked nodes on the way, and returns the level-0 node holding
 * the key, if any. preds[i] < key <= succs[i] on each level. */
static node_t *find(store_t *s, const skey_t *key, unsigned min_h, node_t **preds,
                    node_t **succs)
{
retry:;
    unsigned top = load_relaxed_uint(&s->top);
    unsigned levels = top > min_h ? top : min_h;
    node_t *pred = s->head;
    int c = 1;
    for (unsigned i = levels; i-- > 0;) {
        node_t *curr = unmarked(load_acquire(&pred->next[i]));
        c = 1;
        while (curr != NULL) {
            node_t *succ = load_acquire(&curr->next[i]);
            if (is_marked(succ)) {
                /* A CAS that fails means pred itself moved on or was
                 * marked: its snapshot is stale, start over. */
                if (!cas_acqrel(&pred->next[i], curr, unmarked(succ)))
                    goto retry;
                curr = unmarked(succ);
                continue;
            }
            c = key_cmp(curr, key);
            if (c >= 0)
                break;
            pred = curr;
            curr = succ;
        }
        preds[i] = pred;
        succs[i] = curr;
    }
    return c == 0 ? succs[0] : NULL;
}

/* Readers' search: never writes, steps over marked nodes. Returns the first
 * level-0 node with a key >= key (NULL if none) and sets *predp to the last
 * node before it (the head if none). With to_end, key is +infinity. */
static node_t *seek(store_t *s, const skey_t *key, bool to_end, node_t **predp)
{
    node_t *pred = s->head;
    node_t *curr = NULL;
    for (unsigned i = load_relaxed_uint(&s->top); i-- > 0;) {
        curr = unmarked(load_acquire(&pred->next[i]));
        while (curr != NULL) {
            node_t *succ = load_acquire(&curr->next[i]);
            if (is_marked(succ)) {
                curr = unmarked(succ);
                continue;
            }
            if (!to_end && key_cmp(curr, key) >= 0)
                break;
            pred = curr;
            curr = succ;
        }
    }
    if (predp != NULL)
        *predp = pred;
    return curr;
}

static node_t *seek_exact(store_t *s, const unsigned char *key, size_t klen)
{
    skey_t k = skey(key, klen);
    node_t *n = seek(s, &k, false, NULL);
    return n != NULL && key_cmp(n, &k) == 0 ? n : NULL;
}

/* ---- removal and linking ---- */

/* Both the inserter and the deleter are done with n: unlink it everywhere,
 * then hand it to the epoch. */
static void retire_node(store_t *s, node_t *n)
{
    node_t *preds[MAX_HEIGHT], *succs[MAX_HEIGHT];
    skey_t k = node_skey(n);
    find(s, &k, n->height, preds, succs);
    epoch_retire(n, free);
}

static void mark_link(node_t **link)
{
    for (;;) {
        node_t *v = load_acquire(link);
        if (is_marked(v) || cas_acqrel(link, v, marked(v)))
            return;
    }
}

/* Marks the tower of n, whose value is NULL, top-down; whoever marks level 0
 * is the deleter and takes part in the retirement handshake. */
static void help_delete(store_t *s, node_t *n)
{
    for (unsigned i = n->height; i-- > 1;)
        mark_link(&n->next[i]);
    for (;;) {
        node_t *v = load_acquire(&n->next[0]);
        if (is_marked(v))
            return;
        if (cas_acqrel(&n->next[0], v, marked(v)))
            break;
    }
    if (faa_acqrel_uint(&n->done, 1) == 1)
        retire_node(s, n);
}

/* Links levels 1.. of n, already on level 0, until done or n is deleted. */
static void link_upper(store_t *s, node_t *n, node_t **preds, node_t **succs)
{
    skey_t key = node_skey(n);
    for (unsigned i = 1; i < n->height; i++) {
        for (;;) {
            node_t *succ = succs[i];
            if (succ == NULL || key_cmp(succ, &key) != 0) {
                node_t *mine = load_acquire(&n->next[i]);
                if (is_marked(mine))
                    goto done;
                if (mine != succ && !cas_acqrel(&n->next[i], mine, succ))
                    continue; /* it was just marked */
                if (cas_acqrel(&preds[i]->next[i], succ, n))
                    break;
            }
            /* pred moved, or succ is a dead twin that this search unlinks */
            if (find(s, &key, n->height, preds, succs) != n)
                goto done; /* n was removed from level 0 */
        }
    }
done:
    if (faa_acqrel_uint(&n->done, 1) == 1)
        retire_node(s, n);
}

/* ---- operations ---- */

static store_t *sl_create(enum store_kind kind)
{
    if (kind != STORE_SET)
        return NULL;
    store_t *s = aligned_alloc(_Alignof(store_t), sizeof(store_t));
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    s->head = node_new(NULL, 0, MAX_HEIGHT, NULL);
    if (s->head == NULL) {
        free(s);
        return NULL;
    }
    s->top = 1;
    return s;
}

static void sl_destroy(store_t *s)
{
    node_t *n = unmarked(s->head->next[0]);
    while (n != NULL) {
        node_t *next = unmarked(n->next[0]);
        free(n->val);
        free(n);
        n = next;
    }
    free(s->head);
    free(s);
}

static int put(store_t *s, const rec_in_t *in, enum put_mode mode)
{
    node_t *preds[MAX_HEIGHT], *succs[MAX_HEIGHT];
    blob_t *b = blob_new(in->val, in->vlen, in->fp);
    if (b == NULL)
        return XETS_NOMEM;
    unsigned h = random_height();
    unsigned top = load_relaxed_uint(&s->top);
    while (top < h && !cas_relaxed_uint(&s->top, top, h))
        top = load_relaxed_uint(&s->top);

    skey_t key = skey(in->key, in->klen);
    node_t *n = NULL; /* allocated on the first miss, private until linked */
    for (;;) {
        node_t *found = find(s, &key, h, preds, succs);
        if (found != NULL) {
            blob_t *old = load_acquire(&found->val);
            if (old == NULL) {
                help_delete(s, found);
                continue;
            }
            if (mode == PUT_NEW) {
                free(b);
                free(n);
                return XETS_EXISTS;
            }
            if (!cas_acqrel(&found->val, old, b))
                continue;
            counted(s, 0, (int64_t)blob_bytes(b) - (int64_t)blob_bytes(old));
            epoch_retire(old, free);
            free(n);
            return XETS_OK;
        }
        if (n == NULL) {
            n = node_new(in->key, in->klen, h, b);
            if (n == NULL) {
                free(b);
                return XETS_NOMEM;
            }
        }
        for (unsigned i = 0; i < h; i++)
            n->next[i] = succs[i];
        if (cas_acqrel(&preds[0]->next[0], succs[0], n)) {
            counted(s, 1, (int64_t)(node_bytes(h, in->klen) + blob_bytes(b)));
            link_upper(s, n, preds, succs);
            return XETS_OK;
        }
    }
}

static int sl_put(store_t *s, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx)
{
    (void)same; /* one object per key: there is no bag identity to test */
    (void)ctx;
    int rc = put(s, in, mode);
    wrote();
    return rc;
}

static int sl_get(store_t *s, const unsigned char *key, size_t klen, visit_fn visit, void *ctx)
{
    int rc = XETS_NOTFOUND;
    node_t *n = seek_exact(s, key, klen);
    if (n != NULL) {
        blob_t *v = load_acquire(&n->val);
        if (v != NULL) {
            rec_t r = rec_of(n, v);
            visit(ctx, &r);
            rc = XETS_OK;
        }
    }
    return rc;
}

static int sl_remove(store_t *s, const unsigned char *key, size_t klen, pred_fn match,
                     void *mctx, visit_fn removed, void *rctx)
{
    int count = 0;
    node_t *n = seek_exact(s, key, klen);
    while (n != NULL) {
        blob_t *v = load_acquire(&n->val);
        if (v == NULL)
            break;
        rec_t r = rec_of(n, v);
        if (match != NULL && !match(mctx, &r))
            break;
        if (cas_acqrel(&n->val, v, NULL)) {
            if (removed != NULL)
                removed(rctx, &r);
            counted(s, -1, -(int64_t)(node_bytes(n->height, n->klen) + blob_bytes(v)));
            epoch_retire(v, free);
            help_delete(s, n);
            count = 1;
            break;
        }
        /* the object changed under match: judge the new one */
    }
    wrote();
    return count;
}

/* The key of what fn returns is ignored: an update cannot move an object. */
static int sl_update(store_t *s, const unsigned char *key, size_t klen, update_fn fn, void *ctx)
{
    int rc = XETS_NOTFOUND;
    node_t *n = seek_exact(s, key, klen);
    while (n != NULL) {
        blob_t *v = load_acquire(&n->val);
        if (v == NULL) {
            rc = XETS_NOTFOUND;
            break;
        }
        rec_t cur = rec_of(n, v);
        rec_in_t out = {.key = cur.key, .klen = cur.klen, .fp = cur.fp};
        rc = fn(ctx, &cur, &out);
        if (rc != XETS_OK)
            break;
        blob_t *nb = blob_new(out.val, out.vlen, out.fp);
        if (nb == NULL) {
            rc = XETS_NOMEM;
            break;
        }
        if (cas_acqrel(&n->val, v, nb)) {
            counted(s, 0, (int64_t)blob_bytes(nb) - (int64_t)blob_bytes(v));
            epoch_retire(v, free);
            break;
        }
        free(nb); /* lost to another writer: recompute from its object */
    }
    wrote();
    return rc;
}

static int scan_forward(store_t *s, const unsigned char *after, size_t alen, visit_fn visit,
                        void *ctx)
{
    node_t *n;
    if (after == NULL) {
        n = unmarked(load_acquire(&s->head->next[0]));
    } else {
        skey_t k = skey(after, alen);
        n = seek(s, &k, false, NULL);
        if (n != NULL && key_cmp(n, &k) == 0)
            n = unmarked(load_acquire(&n->next[0]));
    }
    /* Frozen links of deleted nodes still lead forward in key order. */
    for (; n != NULL; n = unmarked(load_acquire(&n->next[0]))) {
        blob_t *v = load_acquire(&n->val);
        if (v == NULL)
            continue;
        rec_t r = rec_of(n, v);
        if (visit(ctx, &r))
            return XETS_OK;
    }
    return XETS_END;
}

static int scan_backward(store_t *s, const unsigned char *after, size_t alen, visit_fn visit,
                         void *ctx)
{
    bool to_end = after == NULL;
    skey_t bound = to_end ? (skey_t){.p = NULL} : skey(after, alen);
    for (;;) {
        node_t *pred;
        seek(s, &bound, to_end, &pred);
        if (pred == s->head)
            return XETS_END;
        blob_t *v = load_acquire(&pred->val);
        if (v != NULL) {
            rec_t r = rec_of(pred, v);
            if (visit(ctx, &r))
                return XETS_OK;
        }
        /* pred stays allocated until our epoch section ends */
        bound = node_skey(pred);
        to_end = false;
    }
}

static int sl_scan(store_t *s, const unsigned char *after, size_t alen, enum scan_dir dir,
                   visit_fn visit, void *ctx)
{
    int rc = dir == SCAN_BACKWARD ? scan_backward(s, after, alen, visit, ctx)
                                  : scan_forward(s, after, alen, visit, ctx);
    return rc;
}

static size_t sl_size(store_t *s)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < NSTRIPES; i++)
        sum += load_relaxed_64(&s->stripe[i].count);
    /* Stripes may be transiently negative while writers are active. */
    return (int64_t)sum < 0 ? 0 : (size_t)sum;
}

static size_t sl_memory(store_t *s)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < NSTRIPES; i++)
        sum += load_relaxed_64(&s->stripe[i].bytes);
    size_t fixed = sizeof(store_t) + node_bytes(MAX_HEIGHT, 0);
    return (int64_t)sum < 0 ? fixed : fixed + (size_t)sum;
}

const store_ops_t skiplist_ops = {
    .create = sl_create,
    .destroy = sl_destroy,
    .put = sl_put,
    .get = sl_get,
    .remove = sl_remove,
    .update = sl_update,
    .scan = sl_scan,
    .size = sl_size,
    .memory = sl_memory,
};
