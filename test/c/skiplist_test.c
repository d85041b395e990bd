/* Validates the ordered_set skiplist (skiplist.c) without the BEAM.
 *
 * 0. The partial-key rules searches trust instead of reading keys: for
 *    holder, successor and key prefixes that share every length of common
 *    top bits, a tag never orders a key wrongly against its successor,
 *    settles every order its window can see, and carries the key's code
 *    past a successor exactly.
 * 1. One thread against a sorted-array model: random puts (replace and new),
 *    removes (with and without a match), updates (every status), gets and
 *    bounded scans both ways from present, absent and no keys. Once over
 *    keys of many lengths that are prefixes of each other, once over keys
 *    that part at every bit of the 8-byte prefix, at the edges of the tag
 *    window, and only after the prefix. The structure is checked as it goes
 *    (skiplist_check: order, exact tags, complete towers, accounting, the
 *    point index). Then objects of every size class (empty, kept in the
 *    node, in a blob, longer than a value word can say) replacing each other.
 * 2. Many threads at once: writers that own disjoint keys and log what they
 *    meant, readers and chunked scanners in both directions, and updaters of
 *    one shared counter. Afterwards the table must equal the logs, the
 *    counter must hold every increment, and every scan must have been
 *    strictly monotonic, self-consistent, and complete for keys that never
 *    changed.
 * 3. Many threads churning a handful of keys with insert_new/remove: every
 *    object inserted is removed exactly once or still present. Once on keys
 *    that part in the last byte, once on keys that share their first 8 bytes
 *    and are prefixes of each other (where tags cannot tell keys apart and
 *    every order is read from the keys).
 * 4. Removes racing updates of the same object still remove it.
 * 5. The point index (filter and hints) under lookups that race deletes and
 *    reinserts of the same keys and the index's rebuilds, which a thread
 *    inserting fresh keys and deleting old ones keeps triggering. Each
 *    writer publishes the state of its keys around every operation; a
 *    reader that sees the same settled state before and after its lookup
 *    must get exactly that answer: a key inserted and not yet being removed
 *    is found, a key removed (and never reinserted) is not, a key never
 *    inserted is not, an object found is the last one written; a key that
 *    is only ever replaced is always found, and never goes back to an older
 *    object. Every object read is whole and belongs to its key.
 * Each operation runs in its own epoch section, as the NIF glue does; the
 * sanitizer builds turn use-after-free, double retire and leaked nodes into
 * failures. */
#include "epoch.h"
#include "status.h"
#include "store.h"
#include "check.h"

#include "check.h"
#include "rng.h"
#include "test_store.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const store_ops_t *ops = &skiplist_ops;

/* Test hooks of skiplist.c. */
int skiplist_tag_order(uint64_t holder_pfx, uint64_t succ_pfx, uint64_t key_pfx, bool *carried);
const char *skiplist_check(store_t *s);
uint64_t skiplist_rebuilds(store_t *s);
size_t skiplist_index_bytes(store_t *s);

static void check_structure(store_t *s, const char *when)
{
    const char *bad = skiplist_check(s);
    CHECK(bad == NULL, "%s: %s", when, bad);
}

/* ---- helpers ---- */

static unsigned rnd(uint64_t *s, unsigned n)
{
    return (unsigned)((rng_next(s) >> 32) % n);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int bytes_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m > 0 ? memcmp(a, b, m) : 0;
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int t_put(store_t *s, const unsigned char *k, size_t kl, const unsigned char *v,
                 size_t vl, enum put_mode mode)
{
    rec_in_t in = {.key = k, .klen = kl, .val = v, .vlen = vl, .fp = 0};
    epoch_enter();
    int rc = ops->put(s, OWN_CALL, &in, mode, NULL, NULL);
    epoch_exit();
    return rc;
}

/* ---- 0. partial keys ---- */

/* A 64-bit prefix built from bytes that share runs of top bits: 00, 01, 7f,
 * 80, fe, ff, and now and then a random byte. */
static uint64_t patterned(uint64_t *r)
{
    static const unsigned char bytes[6] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (rnd(r, 8) == 0 ? (unsigned char)rng_next(r) : bytes[rnd(r, 6)]);
    return v;
}

static unsigned top_bits_shared(uint64_t a, uint64_t b)
{
    return a == b ? 64 : (unsigned)__builtin_clzll(a ^ b);
}

static void test_partial_keys_never_misorder(uint64_t seed)
{
    uint64_t r = seed;
    unsigned long settled = 0, trials = 2000000;
    for (unsigned long i = 0; i < trials; i++) {
        uint64_t v[3] = {patterned(&r), patterned(&r), patterned(&r)};
        /* mostly, make one or two of them part from another at a chosen
         * bit, so that every parting position and window edge comes up */
        for (unsigned j = rnd(&r, 3); j > 0; j--) {
            unsigned keep = rnd(&r, 65);
            uint64_t mask = keep == 0 ? 0 : ~0ull << (64 - keep);
            int a = (int)rnd(&r, 3), b = (int)rnd(&r, 3);
            v[a] = (v[b] & mask) | (v[a] & ~mask);
            if (keep < 64 && rnd(&r, 2) == 0)
                v[a] = (v[a] & ~(1ull << (63 - keep))) | (~v[b] & (1ull << (63 - keep)));
        }
        /* the holder is the smallest; the other two are key and successor */
        int h = v[0] <= v[1] ? (v[0] <= v[2] ? 0 : 2) : (v[1] <= v[2] ? 1 : 2);
        uint64_t holder = v[h], succ = v[(h + 1) % 3], key = v[(h + 2) % 3];
        bool carried = false;
        int o = skiplist_tag_order(holder, succ, key, &carried);
        CHECK(o >= 0 || key < succ, "%016llx: key %016llx put below %016llx",
              (unsigned long long)holder, (unsigned long long)key, (unsigned long long)succ);
        CHECK(o <= 0 || key > succ, "%016llx: key %016llx put above %016llx",
              (unsigned long long)holder, (unsigned long long)key, (unsigned long long)succ);
        CHECK(o <= 0 || carried, "code carried past %016llx wrong for key %016llx",
              (unsigned long long)succ, (unsigned long long)key);
        /* what the window sees must be settled: the successor's bits down to
         * 9 past where it leaves the holder */
        unsigned d = top_bits_shared(holder, succ);
        if (d < 64 && key != succ && top_bits_shared(key, succ) <= d + 9)
            CHECK(o != 0, "%016llx: %016llx against %016llx left open",
                  (unsigned long long)holder, (unsigned long long)key, (unsigned long long)succ);
        settled += o != 0;
    }
    CHECK(settled > trials / 2, "tags settled only %lu of %lu orders", settled, trials);
}

/* ---- 1. single thread against a model ---- */

#define MAXK 12
/* Past skiplist.c's EMBED_MAX (128), so that objects kept in their node and
 * objects in blobs of their own both come up. */
#define MAXV 160

typedef struct {
    unsigned char k[MAXK];
    size_t kl;
} tkey_t;

typedef struct {
    tkey_t key;
    unsigned char v[MAXV];
    size_t vl;
} mobj_t;

typedef struct {
    mobj_t *a;
    size_t n;
} model_t;

/* Index of the first object with key >= k. */
static size_t model_lower(const model_t *m, const unsigned char *k, size_t kl)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (bytes_cmp(m->a[mid].key.k, m->a[mid].key.kl, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static mobj_t *model_find(model_t *m, const unsigned char *k, size_t kl)
{
    size_t i = model_lower(m, k, kl);
    if (i < m->n && bytes_cmp(m->a[i].key.k, m->a[i].key.kl, k, kl) == 0)
        return &m->a[i];
    return NULL;
}

static void model_set(model_t *m, const tkey_t *k, const unsigned char *v, size_t vl)
{
    size_t i = model_lower(m, k->k, k->kl);
    if (!(i < m->n && bytes_cmp(m->a[i].key.k, m->a[i].key.kl, k->k, k->kl) == 0)) {
        memmove(&m->a[i + 1], &m->a[i], (m->n - i) * sizeof(mobj_t));
        m->n++;
        m->a[i].key = *k;
    }
    memcpy(m->a[i].v, v, vl);
    m->a[i].vl = vl;
}

static void model_del(model_t *m, const unsigned char *k, size_t kl)
{
    size_t i = model_lower(m, k, kl);
    memmove(&m->a[i], &m->a[i + 1], (m->n - i - 1) * sizeof(mobj_t));
    m->n--;
}

typedef struct {
    size_t limit, n;
    mobj_t got[64];
} collect_t;

static int collect(void *ctx, const rec_t *r)
{
    collect_t *c = ctx;
    CHECK(r->klen <= MAXK && r->vlen <= MAXV, "oversized record");
    mobj_t *o = &c->got[c->n++];
    memcpy(o->key.k, r->key, r->klen);
    o->key.kl = r->klen;
    memcpy(o->v, r->val, r->vlen);
    o->vl = r->vlen;
    return c->n >= c->limit;
}

static bool match_even(void *ctx, const rec_t *r)
{
    (void)ctx;
    return r->vlen > 0 && r->val[0] % 2 == 0;
}

typedef struct {
    int status; /* what fn answers */
    unsigned calls;
    unsigned char buf[MAXV];
} upd_ctx_t;

/* The replacement the model applies too: reversed, one byte longer, bounded. */
static size_t transform(const unsigned char *v, size_t vl, unsigned char *out)
{
    size_t n = vl + 1 > MAXV ? 1 : vl + 1;
    for (size_t i = 0; i < n; i++)
        out[i] = i < vl ? v[vl - 1 - i] : (unsigned char)(vl * 7 + 1);
    return n;
}

static int upd_transform(void *ctx, const rec_t *cur, rec_in_t *out)
{
    upd_ctx_t *u = ctx;
    u->calls++;
    if (u->status != XETS_OK)
        return u->status;
    out->val = u->buf;
    out->vlen = transform(cur->val, cur->vlen, u->buf);
    return XETS_OK;
}

static void check_scan(store_t *s, model_t *m, const tkey_t *after, enum scan_dir dir,
                       size_t limit, const char *what)
{
    collect_t c = {.limit = limit};
    epoch_enter();
    int rc = store_scan(ops, s, OWN_CALL, after ? after->k : NULL, after ? after->kl : 0, dir, collect, &c);
    epoch_exit();
    /* expected: the model's objects strictly beyond `after` in direction dir */
    size_t avail, start;
    if (dir == SCAN_FORWARD) {
        start = after == NULL ? 0 : model_lower(m, after->k, after->kl);
        if (after != NULL && start < m->n &&
            bytes_cmp(m->a[start].key.k, m->a[start].key.kl, after->k, after->kl) == 0)
            start++;
        avail = m->n - start;
    } else {
        start = after == NULL ? m->n : model_lower(m, after->k, after->kl);
        avail = start; /* objects [0, start) counted from start-1 down */
    }
    size_t want = avail < limit ? avail : limit;
    CHECK(c.n == want, "%s: got %zu records, want %zu", what, c.n, want);
    CHECK(rc == (avail >= limit ? XETS_OK : XETS_END), "%s: status %d", what, rc);
    for (size_t i = 0; i < c.n; i++) {
        const mobj_t *e = dir == SCAN_FORWARD ? &m->a[start + i] : &m->a[start - 1 - i];
        CHECK(bytes_cmp(c.got[i].key.k, c.got[i].key.kl, e->key.k, e->key.kl) == 0 &&
                  c.got[i].vl == e->vl && memcmp(c.got[i].v, e->v, e->vl) == 0,
              "%s: record %zu differs", what, i);
    }
}

static void check_whole(store_t *s, model_t *m)
{
    check_scan(s, m, NULL, SCAN_FORWARD, 64, "head of forward scan");
    /* walk everything in chunks, as first/next would */
    for (int d = 0; d < 2; d++) {
        enum scan_dir dir = d == 0 ? SCAN_FORWARD : SCAN_BACKWARD;
        tkey_t last;
        bool have = false;
        size_t seen = 0;
        for (;;) {
            collect_t c = {.limit = 50};
            epoch_enter();
            int rc = store_scan(ops, s, OWN_CALL, have ? last.k : NULL, have ? last.kl : 0, dir, collect, &c);
            epoch_exit();
            for (size_t i = 0; i < c.n; i++, seen++) {
                const mobj_t *e = dir == SCAN_FORWARD ? &m->a[seen] : &m->a[m->n - 1 - seen];
                CHECK(seen < m->n, "walk returned more than the model holds");
                CHECK(bytes_cmp(c.got[i].key.k, c.got[i].key.kl, e->key.k, e->key.kl) == 0 &&
                          c.got[i].vl == e->vl && memcmp(c.got[i].v, e->v, e->vl) == 0,
                      "walk dir %d: record %zu differs", d, seen);
            }
            if (c.n > 0) {
                last = c.got[c.n - 1].key;
                have = true;
            }
            if (rc == XETS_END)
                break;
            CHECK(rc == XETS_OK, "walk status %d", rc);
        }
        CHECK(seen == m->n, "walk dir %d saw %zu of %zu", d, seen, m->n);
    }
    CHECK(ops->size(s) == m->n, "size %zu, model %zu", ops->size(s), m->n);
}

/* Every string of length 0..5 over {00, 01, 7f, ff}: dense in prefixes. */
static size_t make_key_pool(tkey_t *pool)
{
    static const unsigned char alpha[4] = {0x00, 0x01, 0x7f, 0xff};
    size_t n = 0;
    for (size_t len = 0; len <= 5; len++) {
        size_t combos = (size_t)1 << (2 * len);
        for (size_t c = 0; c < combos; c++) {
            pool[n].kl = len;
            for (size_t i = 0; i < len; i++)
                pool[n].k[i] = alpha[(c >> (2 * i)) & 3];
            n++;
        }
    }
    return n;
}

/* Keys around two 8-byte bases that agree on their first 31 bits: each base
 * with each single bit flipped; each base kept down to each bit, then one of
 * a few 9-bit patterns (a tag's window) and zeros; each base cut to a few
 * lengths, and extended by bytes that sort below and above. Many keys share
 * a prefix; many part exactly at the edge of a window or at bit 63. */
static size_t make_bit_pool(tkey_t *pool)
{
    static const uint64_t bases[2] = {0x12035a5a00000000ull, 0x12035a5b7fffffffull};
    static const unsigned windows[4] = {0x000, 0x1ff, 0x100, 0x0ff};
    size_t n = 0;
    for (int b = 0; b < 2; b++) {
        for (unsigned bit = 0; bit < 64; bit++) {
            uint64_t flipped = bases[b] ^ (1ull << (63 - bit));
            put_be64(pool[n].k, flipped);
            pool[n++].kl = 8;
            for (int w = 0; w < 4; w++) {
                /* keep bits 0..bit, set the window after it, clear the rest */
                uint64_t keep = bit == 63 ? ~0ull : ~(~0ull >> (bit + 1));
                unsigned shift = bit + 1 + 9 <= 64 ? 64 - (bit + 1 + 9) : 0;
                uint64_t win = bit + 1 + 9 <= 64 ? (uint64_t)windows[w] << shift
                                                 : (uint64_t)windows[w] >> (bit + 10 - 64);
                put_be64(pool[n].k, (bases[b] & keep) | (bit == 63 ? 0 : win & ~keep));
                pool[n++].kl = 8;
            }
        }
        for (size_t len = 0; len <= 8; len += 2) {
            put_be64(pool[n].k, bases[b]);
            pool[n++].kl = len;
        }
        static const unsigned char tails[4][4] = {{0}, {0, 0}, {0x01}, {0xff, 0xff, 0xff, 0xff}};
        static const size_t tail_len[4] = {1, 2, 1, 4};
        for (int t = 0; t < 4; t++) {
            put_be64(pool[n].k, bases[b]);
            memcpy(pool[n].k + 8, tails[t], tail_len[t]);
            pool[n++].kl = 8 + tail_len[t];
        }
    }
    /* the pool may name a key twice: harmless for a model of a set */
    return n;
}

static void test_single_thread_matches_model(uint64_t seed, const tkey_t *pool, size_t npool)
{
    model_t m = {.a = calloc(npool + 1, sizeof(mobj_t)), .n = 0};
    CHECK(m.a != NULL, "oom");
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *refused = NULL;
    CHECK(ops->open(&(store_options_t){.kind = STORE_BAG}, &refused, &call) == XETS_BADARG &&
              ops->open(&(store_options_t){.kind = STORE_DUPLICATE_BAG}, &refused, &call) ==
                  XETS_BADARG &&
              refused == NULL,
          "skiplist accepted a bag kind");
    store_t *s = test_store_open(ops, STORE_SET);
    size_t empty_memory = ops->memory(s), empty_index = skiplist_index_bytes(s);
    uint64_t r = seed;
    unsigned char v[MAXV];

    for (int op = 0; op < 60000; op++) {
        const tkey_t *k = &pool[rnd(&r, (unsigned)npool)];
        mobj_t *cur = model_find(&m, k->k, k->kl);
        unsigned what = rnd(&r, 100);
        if (what < 35) {
            size_t vl = rnd(&r, MAXV + 1);
            for (size_t i = 0; i < vl; i++)
                v[i] = (unsigned char)rng_next(&r);
            enum put_mode mode = what < 25 ? PUT_REPLACE : PUT_NEW;
            int rc = t_put(s, k->k, k->kl, v, vl, mode);
            if (mode == PUT_NEW && cur != NULL) {
                CHECK(rc == XETS_EXISTS, "op %d: put_new on present key gave %d", op, rc);
            } else {
                CHECK(rc == XETS_OK, "op %d: put gave %d", op, rc);
                model_set(&m, k, v, vl);
            }
        } else if (what < 50) {
            bool with_match = what < 42;
            collect_t gone = {.limit = 64};
            epoch_enter();
            int n = ops->remove(s, OWN_CALL, k->k, k->kl, with_match ? match_even : NULL, NULL, collect,
                                &gone);
            epoch_exit();
            bool expect = cur != NULL && (!with_match || (cur->vl > 0 && cur->v[0] % 2 == 0));
            CHECK(n == (expect ? 1 : 0), "op %d: remove gave %d", op, n);
            CHECK(gone.n == (size_t)n, "op %d: removed() called %zu times", op, gone.n);
            if (expect) {
                CHECK(gone.got[0].vl == cur->vl && memcmp(gone.got[0].v, cur->v, cur->vl) == 0 &&
                          bytes_cmp(gone.got[0].key.k, gone.got[0].key.kl, k->k, k->kl) == 0,
                      "op %d: removed() saw the wrong object", op);
                model_del(&m, k->k, k->kl);
            }
        } else if (what < 65) {
            static const int answers[3] = {XETS_OK, XETS_BADARG, XETS_NOMEM};
            upd_ctx_t u = {.status = answers[rnd(&r, 3)]};
            epoch_enter();
            int rc = ops->update(s, OWN_CALL, k->k, k->kl, upd_transform, &u);
            epoch_exit();
            if (cur == NULL) {
                CHECK(rc == XETS_NOTFOUND && u.calls == 0, "op %d: update of absent: %d", op,
                      rc);
            } else {
                CHECK(rc == u.status && u.calls == 1, "op %d: update gave %d, fn said %d", op,
                      rc, u.status);
                if (rc == XETS_OK) {
                    unsigned char nv[MAXV];
                    size_t nl = transform(cur->v, cur->vl, nv);
                    model_set(&m, k, nv, nl);
                }
            }
        } else if (what < 80) {
            collect_t c = {.limit = 64};
            epoch_enter();
            int rc = ops->get(s, OWN_CALL, k->k, k->kl, collect, &c);
            epoch_exit();
            if (cur == NULL) {
                CHECK(rc == XETS_NOTFOUND && c.n == 0, "op %d: get of absent: %d", op, rc);
            } else {
                CHECK(rc == XETS_OK && c.n == 1 && c.got[0].vl == cur->vl &&
                          memcmp(c.got[0].v, cur->v, cur->vl) == 0,
                      "op %d: get of present: %d", op, rc);
            }
        } else {
            enum scan_dir dir = rnd(&r, 2) ? SCAN_FORWARD : SCAN_BACKWARD;
            size_t limit = 1 + rnd(&r, 20);
            check_scan(s, &m, rnd(&r, 8) == 0 ? NULL : k, dir, limit, "bounded scan");
        }
        if (op % 5000 == 4999) {
            check_whole(s, &m);
            check_structure(s, "single thread");
        }
    }
    check_whole(s, &m);
    check_structure(s, "single thread, full");
    size_t full_memory = ops->memory(s);
    CHECK(m.n == 0 || full_memory > empty_memory, "memory did not grow");

    /* Emptying the table returns size and memory to where they started,
     * but for the index, which is rebuilt for the size only as writes go on. */
    while (m.n > 0) {
        tkey_t k = m.a[m.n - 1].key;
        epoch_enter();
        int n = ops->remove(s, OWN_CALL, k.k, k.kl, NULL, NULL, NULL, NULL);
        epoch_exit();
        CHECK(n == 1, "final remove");
        m.n--;
    }
    check_whole(s, &m);
    check_structure(s, "single thread, emptied");
    CHECK(ops->memory(s) - skiplist_index_bytes(s) == empty_memory - empty_index,
          "memory %zu (index %zu) after emptying, %zu (index %zu) when new", ops->memory(s),
          skiplist_index_bytes(s), empty_memory, empty_index);
    test_store_close(ops, s);
    free(m.a);
}

/* Objects of every size class: empty, kept in the node, in a blob, and too
 * long for the value word's length bits; replaced by one another, read
 * back whole, removed, and accounted. */
static int copy_out(void *ctx, const rec_t *r)
{
    mobj_t *o = ctx;
    CHECK(r->vlen <= 70000, "object of %zu bytes", r->vlen);
    o->vl = r->vlen;
    if (r->vlen > 0) {
        o->v[0] = r->val[0];
        o->v[1] = r->val[r->vlen - 1];
    }
    memcpy(o->key.k, r->key, r->klen < MAXK ? r->klen : MAXK);
    o->key.kl = r->klen;
    return 0;
}

static void test_objects_of_every_size_round_trip(void)
{
    static const size_t sizes[] = {0, 1, 128, 129, 65534, 65535, 65536, 70000};
    static unsigned char big[70000];
    store_t *s = test_store_open(ops, STORE_SET);
    size_t empty = ops->memory(s) - skiplist_index_bytes(s);
    const unsigned char k[3] = {1, 2, 3};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++) {
            size_t a = sizes[i], b = sizes[j];
            memset(big, (int)(i * 8 + j), sizeof big);
            CHECK(t_put(s, k, 3, big, a, PUT_NEW) == XETS_OK, "put %zu", a);
            big[0] ^= 0xff;
            CHECK(t_put(s, k, 3, big, b, PUT_REPLACE) == XETS_OK, "replace %zu by %zu", a, b);
            mobj_t got = {0};
            epoch_enter();
            int rc = ops->get(s, OWN_CALL, k, 3, copy_out, &got);
            epoch_exit();
            CHECK(rc == XETS_OK && got.vl == b && got.key.kl == 3, "get after %zu -> %zu: %zu",
                  a, b, got.vl);
            CHECK(b == 0 || (got.v[0] == big[0] && got.v[1] == big[b - 1]),
                  "object of %zu bytes read back wrong", b);
            check_structure(s, "objects of every size");
            epoch_enter();
            int n = ops->remove(s, OWN_CALL, k, 3, NULL, NULL, NULL, NULL);
            epoch_exit();
            CHECK(n == 1, "remove");
            CHECK(ops->memory(s) - skiplist_index_bytes(s) == empty, "memory after %zu -> %zu",
                  a, b);
        }
    }
    test_store_close(ops, s);
}

/* ---- 2. concurrent owners, readers, scanners, counter ---- */

#define WRITERS 3
#define OWNED 1536 /* owned ids; id % WRITERS is the owner */
#define STABLE 256 /* keys no one writes after setup */
#define UPDATERS 2
#define MIN_INCREMENTS 2000

/* Owned id i has the 8-byte key be64(16 * i); stable id j has the 9-byte key
 * be64(16 * j * 6) ++ <00>, right after an owned key it extends. The counter
 * key is a single byte below all of them. */
static size_t owned_key(unsigned char *k, uint64_t id)
{
    put_be64(k, 16 * id + 16);
    return 8;
}

static size_t stable_key(unsigned char *k, uint64_t j)
{
    put_be64(k, 16 * (j * 6) + 16);
    k[8] = 0;
    return 9;
}

static const unsigned char counter_key[1] = {0x00};

/* A value: key bytes, 8-byte tag, filler, then fnv1a of all before it. A
 * torn or mixed object fails the checksum or names another key. */
static size_t make_value(unsigned char *v, const unsigned char *k, size_t kl, uint64_t tag,
                         size_t filler)
{
    size_t n = 0;
    memcpy(v, k, kl);
    n += kl;
    put_be64(v + n, tag);
    n += 8;
    for (size_t i = 0; i < filler; i++)
        v[n++] = (unsigned char)(tag + i);
    put_be64(v + n, fnv1a(v, n));
    return n + 8;
}

/* Returns the tag after checking the value is whole and belongs to r's key. */
static uint64_t check_value(const rec_t *r)
{
    CHECK(r->vlen >= r->klen + 16, "value too short: %zu", r->vlen);
    CHECK(get_be64(r->val + r->vlen - 8) == fnv1a(r->val, r->vlen - 8), "torn value");
    CHECK(memcmp(r->val, r->key, r->klen) == 0, "value of another key");
    return get_be64(r->val + r->klen);
}

static store_t *shared;
static atomic_bool stop;
static atomic_int writers_left;

typedef struct {
    int id;
    uint64_t present_tag[OWNED]; /* 0 = absent; tags start at 1 */
} writer_t;

typedef struct {
    unsigned calls;
    unsigned char buf[64];
} counter_ctx_t;

static int bump(void *ctx, const rec_t *cur, rec_in_t *out)
{
    counter_ctx_t *c = ctx;
    c->calls++;
    uint64_t n = check_value(cur);
    out->val = c->buf;
    out->vlen = make_value(c->buf, cur->key, cur->klen, n + 1, (n + 1) % 13);
    return XETS_OK;
}

static int tag_of(void *ctx, const rec_t *r)
{
    *(uint64_t *)ctx = check_value(r);
    return 0;
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    uint64_t r = mix64((uint64_t)w->id + 77);
    uint64_t tag = 1;
    unsigned char k[16], v[256];
    size_t ops_done = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed) || ops_done < 20000) {
        unsigned id = rnd(&r, OWNED / WRITERS) * WRITERS + (unsigned)w->id;
        size_t kl = owned_key(k, id);
        unsigned what = rnd(&r, 100);
        ops_done++;
        if (what < 40) {
            enum put_mode mode = what < 25 ? PUT_REPLACE : PUT_NEW;
            size_t vl = make_value(v, k, kl, ++tag, rnd(&r, 200));
            int rc = t_put(shared, k, kl, v, vl, mode);
            if (mode == PUT_NEW && w->present_tag[id] != 0) {
                CHECK(rc == XETS_EXISTS, "writer put_new on own present key: %d", rc);
            } else {
                CHECK(rc == XETS_OK, "writer put: %d", rc);
                w->present_tag[id] = tag;
            }
        } else if (what < 75) {
            uint64_t gone = 0;
            epoch_enter();
            int n = ops->remove(shared, OWN_CALL, k, kl, NULL, NULL, tag_of, &gone);
            epoch_exit();
            CHECK(n == (w->present_tag[id] != 0), "writer remove: %d", n);
            CHECK(gone == w->present_tag[id], "removed() saw tag %llu, want %llu",
                  (unsigned long long)gone, (unsigned long long)w->present_tag[id]);
            w->present_tag[id] = 0;
        } else {
            counter_ctx_t c = {0};
            epoch_enter();
            int rc = ops->update(shared, OWN_CALL, k, kl, bump, &c);
            epoch_exit();
            if (w->present_tag[id] == 0) {
                CHECK(rc == XETS_NOTFOUND, "writer update of absent: %d", rc);
            } else {
                CHECK(rc == XETS_OK && c.calls == 1, "writer update: %d", rc);
                w->present_tag[id]++;
            }
        }
    }
    epoch_synchronize();
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

/* Runs as long as the writers, so that increments really interleave. */
static void *updater_main(void *arg)
{
    uint64_t *done = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed) || *done < MIN_INCREMENTS) {
        counter_ctx_t c = {0};
        epoch_enter();
        int rc = ops->update(shared, OWN_CALL, counter_key, sizeof counter_key, bump, &c);
        epoch_exit();
        CHECK(rc == XETS_OK && c.calls >= 1, "counter update: %d", rc);
        ++*done;
    }
    epoch_synchronize();
    return NULL;
}

static void *reader_main(void *arg)
{
    uint64_t r = mix64((uint64_t)(uintptr_t)arg);
    unsigned char k[16];
    while (atomic_load_explicit(&writers_left, memory_order_relaxed) > 0) {
        uint64_t tag = 0;
        size_t kl = rnd(&r, 4) == 0 ? stable_key(k, rnd(&r, STABLE)) : owned_key(k, rnd(&r, OWNED));
        epoch_enter();
        int rc = ops->get(shared, OWN_CALL, k, kl, tag_of, &tag);
        epoch_exit();
        CHECK(rc == XETS_OK || (rc == XETS_NOTFOUND && kl == 8), "get: %d", rc);
    }
    epoch_synchronize();
    return NULL;
}

typedef struct {
    enum scan_dir dir;
    unsigned char last[16];
    size_t last_len;
    bool have_last;
    size_t in_chunk;
    size_t stable_seen;
    size_t total; /* records in the last pass */
    size_t passes;
} scanner_t;

static int scan_visit(void *ctx, const rec_t *r)
{
    scanner_t *sc = ctx;
    check_value(r);
    if (sc->have_last) {
        int c = bytes_cmp(r->key, r->klen, sc->last, sc->last_len);
        CHECK(sc->dir == SCAN_FORWARD ? c > 0 : c < 0, "scan out of order (dir %d)", sc->dir);
    }
    CHECK(r->klen <= sizeof sc->last, "key too long");
    memcpy(sc->last, r->key, r->klen);
    sc->last_len = r->klen;
    sc->have_last = true;
    if (r->klen == 9)
        sc->stable_seen++;
    sc->total++;
    return ++sc->in_chunk == 37;
}

/* Whole-table walks in chunks, each chunk its own epoch section, resuming
 * after the last key seen (which may have been deleted meanwhile). */
static void *scanner_main(void *arg)
{
    scanner_t *sc = arg;
    while (atomic_load_explicit(&writers_left, memory_order_relaxed) > 0 || sc->passes == 0) {
        sc->have_last = false;
        sc->stable_seen = 0;
        sc->total = 0;
        for (;;) {
            sc->in_chunk = 0;
            unsigned char after[16];
            size_t alen = sc->last_len;
            memcpy(after, sc->last, alen);
            epoch_enter();
            int rc = store_scan(ops, shared, OWN_CALL, sc->have_last ? after : NULL, alen, sc->dir,
                                scan_visit, sc);
            epoch_exit();
            if (rc == XETS_END)
                break;
            CHECK(rc == XETS_OK, "scan status %d", rc);
        }
        CHECK(sc->stable_seen == STABLE, "a pass saw %zu of %d keys that never changed",
              sc->stable_seen, STABLE);
        sc->passes++;
    }
    epoch_synchronize();
    return NULL;
}

static void test_concurrent_owners_match_logs(double seconds)
{
    shared = test_store_open(ops, STORE_SET);
    unsigned char k[16], v[128];
    for (unsigned j = 0; j < STABLE; j++) {
        size_t kl = stable_key(k, j);
        CHECK(t_put(shared, k, kl, v, make_value(v, k, kl, 1, j % 50), PUT_NEW) == XETS_OK,
              "stable put");
    }
    CHECK(t_put(shared, counter_key, 1, v, make_value(v, counter_key, 1, 0, 0), PUT_NEW) ==
              XETS_OK,
          "counter put");

    static writer_t writers[WRITERS];
    scanner_t scanners[2] = {{.dir = SCAN_FORWARD}, {.dir = SCAN_BACKWARD}};
    uint64_t increments[UPDATERS] = {0};
    pthread_t tw[WRITERS], tu[UPDATERS], tr, ts[2];
    atomic_store(&stop, false);
    atomic_store(&writers_left, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        writers[i].id = i;
        memset(writers[i].present_tag, 0, sizeof writers[i].present_tag);
        pthread_create(&tw[i], NULL, writer_main, &writers[i]);
    }
    for (int i = 0; i < UPDATERS; i++)
        pthread_create(&tu[i], NULL, updater_main, &increments[i]);
    pthread_create(&tr, NULL, reader_main, (void *)1);
    for (int i = 0; i < 2; i++)
        pthread_create(&ts[i], NULL, scanner_main, &scanners[i]);

    double until = now() + seconds;
    while (now() < until)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(tw[i], NULL);
    uint64_t total_increments = 0;
    for (int i = 0; i < UPDATERS; i++) {
        pthread_join(tu[i], NULL);
        total_increments += increments[i];
    }
    pthread_join(tr, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(ts[i], NULL);

    check_structure(shared, "concurrent");
    /* The table is exactly what the logs say. */
    size_t expect = STABLE + 1;
    for (unsigned id = 0; id < OWNED; id++) {
        uint64_t want = writers[id % WRITERS].present_tag[id];
        uint64_t tag = 0;
        size_t kl = owned_key(k, id);
        epoch_enter();
        int rc = ops->get(shared, OWN_CALL, k, kl, tag_of, &tag);
        epoch_exit();
        CHECK(rc == (want ? XETS_OK : XETS_NOTFOUND) && tag == want,
              "owned id %u: status %d tag %llu, log says %llu", id, rc,
              (unsigned long long)tag, (unsigned long long)want);
        expect += want != 0;
    }
    uint64_t count = 0;
    epoch_enter();
    int rc = ops->get(shared, OWN_CALL, counter_key, 1, tag_of, &count);
    epoch_exit();
    CHECK(rc == XETS_OK && count == total_increments, "counter %llu after %llu increments",
          (unsigned long long)count, (unsigned long long)total_increments);
    CHECK(ops->size(shared) == expect, "size %zu, logs say %zu", ops->size(shared), expect);
    scanner_t final = {.dir = SCAN_FORWARD};
    atomic_store(&writers_left, 0);
    scanner_main(&final);
    CHECK(final.total == expect, "a quiet scan saw %zu of %zu objects", final.total, expect);
    printf("  concurrent: %zu + %zu scan passes, %zu objects at the end\n",
           scanners[0].passes, scanners[1].passes, expect);
    test_store_close(ops, shared);
}

/* ---- 3. churn on a few keys ---- */

#define CHURN_KEYS 8
#define CHURNERS 4

/* Keys that share their first 8 bytes or are prefixes of each other, and
 * two that part at bit 63: where tags cannot order keys, searches must read
 * them, and where they part at the last bit, the window is empty. */
static size_t shared_prefix_key(unsigned char *k, uint64_t id)
{
    static const unsigned char tails[CHURN_KEYS][4] = {
        {0}, {0}, {1, 0x00}, {2, 0x00, 0x00}, {1, 0x01}, {3, 0xff, 0xff, 0xff}, {0}, {1, 0x00}};
    put_be64(k, id >= 6 ? 0x1203a5a5c3c30001ull : 0x1203a5a5c3c30000ull);
    if (id == 0)
        return 7;
    memcpy(k + 8, tails[id] + 1, tails[id][0]);
    return 8 + tails[id][0];
}

static size_t (*churn_key)(unsigned char *k, uint64_t id);

typedef struct {
    int id;
    uint64_t inserted_sum, removed_sum; /* sums of mix64(token) */
    uint64_t inserted, removed;
} churner_t;

static int sum_removed(void *ctx, const rec_t *r)
{
    churner_t *c = ctx;
    c->removed_sum += mix64(check_value(r));
    c->removed++;
    return 0;
}

static void *churner_main(void *arg)
{
    churner_t *c = arg;
    uint64_t r = mix64((uint64_t)c->id * 31 + 5);
    uint64_t seq = 0;
    unsigned char k[16], v[256];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t kl = churn_key(k, rnd(&r, CHURN_KEYS));
        unsigned what = rnd(&r, 11);
        if (what < 5) {
            uint64_t token = (uint64_t)c->id << 40 | ++seq;
            int rc = t_put(shared, k, kl, v, make_value(v, k, kl, token, rnd(&r, 200)), PUT_NEW);
            CHECK(rc == XETS_OK || rc == XETS_EXISTS, "churn put_new: %d", rc);
            if (rc == XETS_OK) {
                c->inserted_sum += mix64(token);
                c->inserted++;
            }
        } else if (what < 9) {
            epoch_enter();
            int n = ops->remove(shared, OWN_CALL, k, kl, NULL, NULL, sum_removed, c);
            epoch_exit();
            CHECK(n == 0 || n == 1, "churn remove: %d", n);
        } else if (what < 10) {
            uint64_t tag = 0;
            epoch_enter();
            ops->get(shared, OWN_CALL, k, kl, tag_of, &tag);
            epoch_exit();
        } else {
            /* a short scan from this key: whole objects, strictly ordered */
            scanner_t sc = {.dir = rnd(&r, 2) ? SCAN_FORWARD : SCAN_BACKWARD};
            memcpy(sc.last, k, kl);
            sc.last_len = kl;
            sc.have_last = true;
            epoch_enter();
            int rc = store_scan(ops, shared, OWN_CALL, k, kl, sc.dir, scan_visit, &sc);
            epoch_exit();
            CHECK(rc == XETS_OK || rc == XETS_END, "churn scan: %d", rc);
        }
    }
    epoch_synchronize();
    return NULL;
}

static void test_churn_removes_each_insert_once(double seconds, size_t (*key)(unsigned char *,
                                                                               uint64_t),
                                                const char *what)
{
    churn_key = key;
    shared = test_store_open(ops, STORE_SET);
    static churner_t cs[CHURNERS];
    pthread_t t[CHURNERS];
    atomic_store(&stop, false);
    for (int i = 0; i < CHURNERS; i++) {
        cs[i] = (churner_t){.id = i + 1};
        pthread_create(&t[i], NULL, churner_main, &cs[i]);
    }
    nanosleep(&(struct timespec){.tv_sec = (time_t)seconds,
                                 .tv_nsec = (long)((seconds - (time_t)seconds) * 1e9)},
              NULL);
    atomic_store(&stop, true);
    uint64_t ins = 0, ins_sum = 0;
    churner_t left = {0};
    for (int i = 0; i < CHURNERS; i++) {
        pthread_join(t[i], NULL);
        ins += cs[i].inserted;
        ins_sum += cs[i].inserted_sum;
        left.removed += cs[i].removed;
        left.removed_sum += cs[i].removed_sum;
    }
    check_structure(shared, what);
    /* what is still there counts as removed by the final sweep */
    unsigned char k[16];
    size_t present = 0;
    for (unsigned id = 0; id < CHURN_KEYS; id++) {
        size_t kl = churn_key(k, id);
        epoch_enter();
        present += (size_t)ops->remove(shared, OWN_CALL, k, kl, NULL, NULL, sum_removed, &left);
        epoch_exit();
    }
    CHECK(left.removed == ins && left.removed_sum == ins_sum,
          "%llu inserted, %llu removed or left (sums differ: %d)", (unsigned long long)ins,
          (unsigned long long)left.removed, left.removed_sum != ins_sum);
    CHECK(ops->size(shared) == 0, "size %zu after sweep", ops->size(shared));
    check_structure(shared, what);
    printf("  %s: %llu inserts, %zu left at the end\n", what, (unsigned long long)ins, present);
    test_store_close(ops, shared);
}

/* ---- 4. remove racing updates ---- */

/* Only the remover changes whether the key is present, so each of its
 * removes must succeed even when an update replaced the object between its
 * load and its CAS. */
static void *racing_updater_main(void *arg)
{
    (void)arg;
    unsigned char k[16];
    size_t kl = owned_key(k, 0);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        counter_ctx_t c = {0};
        epoch_enter();
        int rc = ops->update(shared, OWN_CALL, k, kl, bump, &c);
        epoch_exit();
        CHECK(rc == XETS_OK || rc == XETS_NOTFOUND, "racing update: %d", rc);
    }
    epoch_synchronize();
    return NULL;
}

static void test_remove_racing_updates_still_removes(double seconds)
{
    shared = test_store_open(ops, STORE_SET);
    pthread_t t[2];
    atomic_store(&stop, false);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, racing_updater_main, NULL);
    unsigned char k[16], v[128];
    size_t kl = owned_key(k, 0);
    double until = now() + seconds;
    unsigned rounds = 0;
    while (now() < until || rounds < 1000) {
        int rc = t_put(shared, k, kl, v, make_value(v, k, kl, 0, rounds % 7), PUT_NEW);
        CHECK(rc == XETS_OK, "put_new of a key only this thread inserts: %d", rc);
        for (int i = 0; i < 20; i++)
            sched_yield(); /* let the updaters at it */
        epoch_enter();
        int n = ops->remove(shared, OWN_CALL, k, kl, NULL, NULL, NULL, NULL);
        epoch_exit();
        CHECK(n == 1, "remove of a present key returned %d", n);
        rounds++;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(ops->size(shared) == 0, "size %zu", ops->size(shared));
    check_structure(shared, "remove racing updates");
    printf("  remove racing updates: %u rounds\n", rounds);
    test_store_close(ops, shared);
}

/* ---- 5. the point index under churn and rebuilds ---- */

#define IX_STABLE 512  /* present from the start, only replaced */
#define IX_FLIP 64     /* removed and reinserted all the time */
#define IX_FLIPPERS 2  /* flip key i belongs to flipper i % IX_FLIPPERS */
#define IX_BORN 65536  /* inserted once each, in order, later removed */
#define IX_WINDOW 1500 /* born keys present at a time */
#define IX_READERS 2

/* A key of class c (0 stable, 1 flip, 2 born) and id: 5, 9 or 12 bytes, so
 * that keys both fit in and go past the 8-byte prefix. */
static size_t ix_key(unsigned char *k, unsigned c, uint32_t id)
{
    static const size_t lens[3] = {5, 9, 12};
    size_t kl = lens[id % 3];
    memset(k, 0xa5, kl);
    k[0] = (unsigned char)(0x30 + c);
    put_be64(k + 1, 0); /* then overwrite bytes 1..4 with id, big-endian */
    k[1] = (unsigned char)(id >> 24);
    k[2] = (unsigned char)(id >> 16);
    k[3] = (unsigned char)(id >> 8);
    k[4] = (unsigned char)id;
    for (size_t i = 5; i < kl; i++)
        k[i] = (unsigned char)(id * 7 + i);
    return kl;
}

/* Published key states: seq << 2 | IX_PRESENT | IX_BUSY. A writer sets BUSY
 * (with its next seq) before an operation and the settled state after; the
 * object a put writes carries that seq as its tag. */
#define IX_BUSY 1u
#define IX_PRESENT 2u
static _Atomic uint64_t ix_flip_state[IX_FLIP];
static _Atomic uint64_t ix_born_state[IX_BORN];
static _Atomic uint32_t ix_born_next; /* born ids below this were started */
static _Atomic uint64_t ix_stable_tag[IX_STABLE]; /* tag of the last replace done */

static int ix_get(const unsigned char *k, size_t kl, uint64_t *tag)
{
    *tag = 0;
    epoch_enter();
    int rc = ops->get(shared, OWN_CALL, k, kl, tag_of, tag);
    epoch_exit();
    CHECK(rc == XETS_OK || rc == XETS_NOTFOUND, "get: %d", rc);
    return rc;
}

static void ix_put(unsigned char *v, const unsigned char *k, size_t kl, uint64_t tag,
                   enum put_mode mode)
{
    /* now and then an object too large to live in its node */
    size_t filler = tag % 5 == 0 ? 150 : tag % 17;
    int rc = t_put(shared, k, kl, v, make_value(v, k, kl, tag, filler), mode);
    CHECK(rc == XETS_OK, "index test put: %d", rc);
}

static void ix_remove(const unsigned char *k, size_t kl)
{
    epoch_enter();
    int n = ops->remove(shared, OWN_CALL, k, kl, NULL, NULL, NULL, NULL);
    epoch_exit();
    CHECK(n == 1, "index test remove of a present key: %d", n);
}

/* Removes and reinserts its flip keys, with PUT_NEW and PUT_REPLACE. */
static void *ix_flipper_main(void *arg)
{
    unsigned me_id = (unsigned)(uintptr_t)arg;
    uint64_t r = mix64(me_id + 901);
    unsigned char k[16], v[256];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned id = rnd(&r, IX_FLIP / IX_FLIPPERS) * IX_FLIPPERS + me_id;
        size_t kl = ix_key(k, 1, id);
        uint64_t st = atomic_load(&ix_flip_state[id]);
        uint64_t seq = (st >> 2) + 1;
        atomic_store(&ix_flip_state[id], seq << 2 | IX_BUSY);
        bool present;
        if (st & IX_PRESENT && rnd(&r, 3) != 0) {
            ix_remove(k, kl);
            present = false;
        } else {
            ix_put(v, k, kl, seq, st & IX_PRESENT ? PUT_REPLACE : PUT_NEW);
            present = true;
        }
        atomic_store(&ix_flip_state[id], seq << 2 | (present ? IX_PRESENT : 0));
    }
    epoch_synchronize();
    return NULL;
}

/* Inserts born keys in order, each once, and removes each IX_WINDOW later:
 * adds keep coming, so the index keeps being rebuilt. */
static void *ix_grower_main(void *arg)
{
    (void)arg;
    unsigned char k[16], v[256];
    for (uint32_t id = 0; id < IX_BORN && !atomic_load_explicit(&stop, memory_order_relaxed);
         id++) {
        size_t kl = ix_key(k, 2, id);
        atomic_store(&ix_born_state[id], 1u << 2 | IX_BUSY);
        atomic_store(&ix_born_next, id + 1);
        ix_put(v, k, kl, 1, PUT_NEW);
        atomic_store(&ix_born_state[id], 1u << 2 | IX_PRESENT);
        if (id >= IX_WINDOW) {
            uint32_t old = id - IX_WINDOW;
            kl = ix_key(k, 2, old);
            atomic_store(&ix_born_state[old], 2u << 2 | IX_BUSY);
            ix_remove(k, kl);
            atomic_store(&ix_born_state[old], 2u << 2);
        }
    }
    epoch_synchronize();
    return NULL;
}

/* Replaces stable keys with ever larger tags. */
static void *ix_replacer_main(void *arg)
{
    (void)arg;
    uint64_t r = mix64(4242), tag = 0;
    unsigned char k[16], v[256];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned id = rnd(&r, IX_STABLE);
        size_t kl = ix_key(k, 0, id);
        ix_put(v, k, kl, ++tag, PUT_REPLACE);
        atomic_store(&ix_stable_tag[id], tag);
    }
    epoch_synchronize();
    return NULL;
}

typedef struct {
    int id;
    uint64_t seen[IX_STABLE]; /* the newest tag this reader saw per stable key */
    uint64_t checked;         /* lookups whose answer was pinned down */
} ix_reader_t;

/* A lookup between two equal settled states must answer that state. */
static void ix_check_settled(_Atomic uint64_t *state, unsigned c, uint32_t id, ix_reader_t *rd)
{
    unsigned char k[16];
    size_t kl = ix_key(k, c, id);
    uint64_t before = atomic_load(state), tag;
    int rc = ix_get(k, kl, &tag);
    uint64_t after = atomic_load(state);
    if (before != after || before & IX_BUSY)
        return;
    rd->checked++;
    if (before & IX_PRESENT)
        CHECK(rc == XETS_OK && tag == before >> 2,
              "class %u key %u settled present with tag %llu: got %d, tag %llu", c, id,
              (unsigned long long)(before >> 2), rc, (unsigned long long)tag);
    else
        CHECK(rc == XETS_NOTFOUND, "class %u key %u settled absent (state %llu): found tag %llu",
              c, id, (unsigned long long)before, (unsigned long long)tag);
}

static void *ix_reader_main(void *arg)
{
    ix_reader_t *rd = arg;
    uint64_t r = mix64((uint64_t)rd->id + 555);
    unsigned char k[16];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned what = rnd(&r, 10);
        if (what < 3) {
            unsigned id = rnd(&r, IX_STABLE);
            size_t kl = ix_key(k, 0, id);
            uint64_t done = atomic_load(&ix_stable_tag[id]), tag;
            CHECK(ix_get(k, kl, &tag) == XETS_OK, "stable key %u not found", id);
            CHECK(tag >= done && tag >= rd->seen[id],
                  "stable key %u went back: tag %llu after %llu (replace done: %llu)", id,
                  (unsigned long long)tag, (unsigned long long)rd->seen[id],
                  (unsigned long long)done);
            rd->seen[id] = tag;
        } else if (what < 6) {
            unsigned id = rnd(&r, IX_FLIP);
            ix_check_settled(&ix_flip_state[id], 1, id, rd);
        } else {
            /* mostly born keys near the grower: present, just removed,
             * about to be inserted; now and then any of them */
            uint32_t next = atomic_load(&ix_born_next);
            uint32_t span = IX_WINDOW + 64, lo = next > IX_WINDOW + 32 ? next - IX_WINDOW - 32 : 0;
            uint32_t id = rnd(&r, 8) == 0 ? rnd(&r, IX_BORN) : lo + rnd(&r, span);
            if (id < IX_BORN)
                ix_check_settled(&ix_born_state[id], 2, id, rd);
        }
    }
    epoch_synchronize();
    return NULL;
}

static void test_index_answers_settled_states(double seconds)
{
    shared = test_store_open(ops, STORE_SET);
    unsigned char k[16], v[256];
    for (uint32_t id = 0; id < IX_STABLE; id++) {
        size_t kl = ix_key(k, 0, id);
        ix_put(v, k, kl, 0, PUT_NEW);
        atomic_store(&ix_stable_tag[id], 0);
    }
    for (uint32_t id = 0; id < IX_FLIP; id++)
        atomic_store(&ix_flip_state[id], 0);
    for (uint32_t id = 0; id < IX_BORN; id++)
        atomic_store(&ix_born_state[id], 0);
    atomic_store(&ix_born_next, 0);
    uint64_t rebuilds0 = skiplist_rebuilds(shared);

    static ix_reader_t readers[IX_READERS];
    pthread_t tf[IX_FLIPPERS], tg, trp, tr[IX_READERS];
    atomic_store(&stop, false);
    for (int i = 0; i < IX_FLIPPERS; i++)
        pthread_create(&tf[i], NULL, ix_flipper_main, (void *)(uintptr_t)i);
    pthread_create(&tg, NULL, ix_grower_main, NULL);
    pthread_create(&trp, NULL, ix_replacer_main, NULL);
    for (int i = 0; i < IX_READERS; i++) {
        memset(&readers[i], 0, sizeof readers[i]);
        readers[i].id = i;
        pthread_create(&tr[i], NULL, ix_reader_main, &readers[i]);
    }
    nanosleep(&(struct timespec){.tv_sec = (time_t)seconds,
                                 .tv_nsec = (long)((seconds - (time_t)seconds) * 1e9)},
              NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < IX_FLIPPERS; i++)
        pthread_join(tf[i], NULL);
    pthread_join(tg, NULL);
    pthread_join(trp, NULL);
    uint64_t checked = 0;
    for (int i = 0; i < IX_READERS; i++) {
        pthread_join(tr[i], NULL);
        checked += readers[i].checked;
    }
    check_structure(shared, "point index");
    uint64_t rebuilds = skiplist_rebuilds(shared) - rebuilds0;
    uint32_t born = atomic_load(&ix_born_next);
    CHECK(rebuilds >= 3, "only %llu index rebuilds after %u fresh keys",
          (unsigned long long)rebuilds, born);
    /* Quiet now: every key answers its final state. */
    ix_reader_t final = {.id = -1};
    for (uint32_t id = 0; id < IX_FLIP; id++)
        ix_check_settled(&ix_flip_state[id], 1, id, &final);
    for (uint32_t id = 0; id < born; id++)
        ix_check_settled(&ix_born_state[id], 2, id, &final);
    CHECK(final.checked == IX_FLIP + born, "%llu of %u final states settled",
          (unsigned long long)final.checked, IX_FLIP + born);
    printf("  point index: %llu index rebuilds, %u fresh keys, %llu racing lookups pinned\n",
           (unsigned long long)rebuilds, born, (unsigned long long)checked);
    test_store_close(ops, shared);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x5eed5eedull;
    double secs = argc > 2 ? strtod(argv[2], NULL) : 1.5;
    printf("skiplist_test seed=%#llx\n", (unsigned long long)seed);
    test_partial_keys_never_misorder(seed);
    printf("  partial keys: ok\n");
    static tkey_t pool[1365];
    test_single_thread_matches_model(seed, pool, make_key_pool(pool));
    test_single_thread_matches_model(seed + 1, pool, make_bit_pool(pool));
    test_objects_of_every_size_round_trip();
    printf("  single thread: ok\n");
    test_concurrent_owners_match_logs(secs);
    test_churn_removes_each_insert_once(secs, owned_key, "churn");
    test_churn_removes_each_insert_once(secs, shared_prefix_key, "churn, shared prefixes");
    test_remove_racing_updates_still_removes(secs / 3);
    test_index_answers_settled_states(secs);
    epoch_synchronize();
    printf("skiplist_test: ok\n");
    return 0;
}
