/* hash_table.c against a reference model, single-threaded for every kind,
 * then under concurrent writers, readers and resizes; its info(T, stats)
 * figures against a recount; and bag reads, under writers that remove and
 * add a key's objects back, against the states the key went through.
 * Exits nonzero on the first failure. Every store operation runs inside an
 * epoch section, as the NIF glue runs them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "epoch.h"
#include "status.h"
#include "store.h"
#include "check.h"
#include "test_objects.h"
#include "test_store.h"

#ifdef __SANITIZE_THREAD__
#define SCALE 3 /* ThreadSanitizer runs several times slower: do less */
#else
#define SCALE 1
#endif

static const store_ops_t *ops = &hash_table_ops;
static const char *kind_name[] = {"set", "bag", "duplicate_bag"};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- keys and values ------------------------------------------------ */

/* Key id -> bytes: a few 'x' then the decimal id, so lengths vary; id 0 is
 * the empty key. */
typedef struct {
    unsigned char b[24];
    size_t len;
} kbytes_t;

static kbytes_t key_of(uint32_t id)
{
    kbytes_t k;
    if (id == 0) {
        k.len = 0;
        return k;
    }
    uint32_t n_x = id % 4;
    char digits[10];
    size_t nd = 0;
    for (; id > 0; id /= 10)
        digits[nd++] = (char)('0' + id % 10);
    k.len = 0;
    for (uint32_t i = 0; i < n_x; i++)
        k.b[k.len++] = 'x';
    while (nd > 0)
        k.b[k.len++] = (unsigned char)digits[--nd];
    return k;
}

/* Bag identity fingerprints collide on purpose: same() must decide. */
static uint64_t fp_of(uint32_t vid)
{
    return vid % 7;
}

static rec_in_t rec_in(const kbytes_t *k, const vbytes_t *v, enum store_kind kind, uint32_t vid)
{
    return (rec_in_t){k->b, k->len, v->b, v->len, kind == STORE_SET ? 0 : fp_of(vid)};
}

/* Table order, as "hash.2" defines it (store.h): bit-reversed XXH3 with
 * its two low bits set, then length, then bytes. */
static uint64_t rev64(uint64_t x)
{
    x = ((x >> 1) & 0x5555555555555555u) | ((x & 0x5555555555555555u) << 1);
    x = ((x >> 2) & 0x3333333333333333u) | ((x & 0x3333333333333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0Fu) | ((x & 0x0F0F0F0F0F0F0F0Fu) << 4);
    x = ((x >> 8) & 0x00FF00FF00FF00FFu) | ((x & 0x00FF00FF00FF00FFu) << 8);
    x = ((x >> 16) & 0x0000FFFF0000FFFFu) | ((x & 0x0000FFFF0000FFFFu) << 16);
    return (x >> 32) | (x << 32);
}

static int key_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    uint64_t oa = rev64(XXH3_64bits(a, alen)) | 3, ob = rev64(XXH3_64bits(b, blen)) | 3;
    if (oa != ob)
        return oa < ob ? -1 : 1;
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return alen == 0 ? 0 : memcmp(a, b, alen);
}

/* ---- store calls inside epoch sections ---------------------------------- */

static int put(store_t *s, const rec_in_t *in, enum put_mode mode, pred_fn same, void *ctx)
{
    epoch_enter();
    int rc = ops->put(s, OWN_CALL, in, mode, same, ctx);
    epoch_exit();
    return rc;
}

static int get(store_t *s, const kbytes_t *k, visit_fn visit, void *ctx)
{
    epoch_enter();
    int rc = ops->get(s, OWN_CALL, k->b, k->len, visit, ctx);
    epoch_exit();
    return rc;
}

static int del(store_t *s, const kbytes_t *k, pred_fn match, void *mctx, visit_fn removed,
               void *rctx)
{
    epoch_enter();
    int rc = ops->remove(s, OWN_CALL, k->b, k->len, match, mctx, removed, rctx);
    epoch_exit();
    return rc;
}

static int update(store_t *s, const kbytes_t *k, update_fn fn, void *ctx)
{
    epoch_enter();
    int rc = ops->update(s, OWN_CALL, k->b, k->len, fn, ctx);
    epoch_exit();
    return rc;
}

static int rewrite(store_t *s, const kbytes_t *k, rewrite_fn fn, void *ctx)
{
    epoch_enter();
    int rc = ops->rewrite(s, OWN_CALL, k->b, k->len, fn, ctx);
    epoch_exit();
    return rc;
}

static int scan(store_t *s, const kbytes_t *after, visit_fn visit, void *ctx)
{
    epoch_enter();
    int rc = store_scan(ops, s, OWN_CALL, after ? after->b : NULL, after ? after->len : 0, SCAN_FORWARD,
                        visit, ctx);
    epoch_exit();
    return rc;
}

static int bucket(store_t *s, uint64_t j, uint64_t *nbuckets, visit_fn visit, void *ctx)
{
    epoch_enter();
    int rc = ops->bucket(s, OWN_CALL, j, nbuckets, visit, ctx);
    epoch_exit();
    return rc;
}

/* info(T, stats) as the glue gathers it: a step per epoch section.
 * Returns how many steps it took. */
static size_t stats(store_t *s, struct store_stats *out)
{
    store_stats_walk_t w = {0};
    size_t steps = 0;
    int rc;
    do {
        epoch_enter();
        rc = ops->stats(s, &w, out);
        epoch_exit();
        steps++;
    } while (rc == XETS_OK);
    CHECK(rc == XETS_END, "stats: %d", rc);
    return steps;
}

/* Waits for every section and frees what this thread retired. */
static void quiesce(void)
{
    epoch_synchronize();
}

/* ---- callbacks ------------------------------------------------------ */

/* Collected objects of a get, remove or scan: (key id, vid). */
typedef struct {
    uint32_t *kid, *vid;
    size_t n, cap;
    size_t stop_after; /* visit asks to stop once n reaches this; 0: never */
    kbytes_t last;     /* key of the last object seen */
} coll_t;

static void coll_reset(coll_t *c, size_t stop_after)
{
    c->n = 0;
    c->stop_after = stop_after;
}

static void coll_free(coll_t *c)
{
    free(c->kid);
    free(c->vid);
}

static int collect(void *ctx, const rec_t *r)
{
    coll_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->kid = realloc(c->kid, c->cap * sizeof *c->kid);
        c->vid = realloc(c->vid, c->cap * sizeof *c->vid);
        CHECK(c->kid && c->vid, "out of memory");
    }
    c->vid[c->n] = vid_of(r);
    c->kid[c->n] = id_of(r->key, r->klen);
    c->n++;
    CHECK(r->klen <= sizeof c->last.b, "klen %zu", r->klen);
    memcpy(c->last.b, r->key, r->klen);
    c->last.len = r->klen;
    return c->stop_after != 0 && c->n >= c->stop_after;
}

typedef struct {
    const rec_in_t *in;
    unsigned calls;
} same_ctx_t;

static bool same_obj(void *ctx, const rec_t *r)
{
    same_ctx_t *c = ctx;
    c->calls++;
    CHECK(r->fp == c->in->fp, "same() called for fp %llu, new object has %llu",
          (unsigned long long)r->fp, (unsigned long long)c->in->fp);
    return r->vlen == c->in->vlen && memcmp(r->val, c->in->val, r->vlen) == 0;
}

static bool match_vid(void *ctx, const rec_t *r)
{
    return vid_of(r) == *(uint32_t *)ctx;
}

typedef struct {
    uint32_t kid, new_vid;
    bool any;       /* take the first object; else only one with vid target */
    uint32_t target;
    int status; /* what fn returns */
    vbytes_t v;
    kbytes_t k;
} upd_ctx_t;

static int upd_fn(void *ctx, const rec_t *cur, rec_in_t *out)
{
    upd_ctx_t *u = ctx;
    CHECK(id_of(cur->key, cur->klen) == u->kid, "update saw key %u", id_of(cur->key, cur->klen));
    if (!u->any && vid_of(cur) != u->target)
        return XETS_NOTFOUND;
    if (u->status != XETS_OK)
        return u->status;
    u->v = val_of(u->kid, u->new_vid);
    u->k = key_of(u->kid);
    *out = (rec_in_t){u->k.b, u->k.len, u->v.b, u->v.len, u->any ? 0 : fp_of(u->new_vid)};
    return XETS_OK;
}

/* ---- single-threaded model check ---------------------------------------- */

#define KEYS 24000

typedef struct {
    uint32_t *v;
    uint32_t n, cap;
} vlist_t;

typedef struct {
    enum store_kind kind;
    store_t *s;
    vlist_t key[KEYS];
    size_t objects, bytes; /* bytes: key and value bytes of all objects */
    size_t peak;
    uint64_t rng;
    coll_t c, c2;
} model_t;

static void vl_push(vlist_t *l, uint32_t vid)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        CHECK(l->v, "out of memory");
    }
    l->v[l->n++] = vid;
}

static size_t obj_bytes(uint32_t kid, uint32_t vid)
{
    return key_of(kid).len + val_of(kid, vid).len;
}

static void m_add(model_t *m, uint32_t kid, uint32_t vid)
{
    vl_push(&m->key[kid], vid);
    m->objects++;
    m->bytes += obj_bytes(kid, vid);
    if (m->objects > m->peak)
        m->peak = m->objects;
}

static void m_del_at(model_t *m, uint32_t kid, uint32_t i)
{
    vlist_t *l = &m->key[kid];
    m->objects--;
    m->bytes -= obj_bytes(kid, l->v[i]);
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
    l->n--;
}

static void check_get(model_t *m, uint32_t kid)
{
    kbytes_t k = key_of(kid);
    vlist_t *l = &m->key[kid];
    coll_reset(&m->c, 0);
    int rc = get(m->s, &k, collect, &m->c);
    CHECK(rc == (l->n ? XETS_OK : XETS_NOTFOUND), "get %u: rc %d, model has %u", kid, rc, l->n);
    CHECK(m->c.n == l->n, "get %u: %zu objects, model has %u", kid, m->c.n, l->n);
    for (uint32_t i = 0; i < l->n; i++)
        CHECK(m->c.vid[i] == l->v[i] && m->c.kid[i] == kid,
              "get %u: object %u is vid %u, model (insertion order) says %u", kid, i, m->c.vid[i],
              l->v[i]);
    if (l->n > 1) { /* visit's stop ends a get early */
        coll_reset(&m->c, 1);
        CHECK(get(m->s, &k, collect, &m->c) == XETS_OK && m->c.n == 1, "get %u ignored stop", kid);
    }
}

static void op_put(model_t *m, uint32_t kid, uint32_t vid, enum put_mode mode)
{
    kbytes_t k = key_of(kid);
    vbytes_t v = val_of(kid, vid);
    rec_in_t in = rec_in(&k, &v, m->kind, vid);
    same_ctx_t sc = {&in, 0};
    vlist_t *l = &m->key[kid];
    int rc = put(m->s, &in, mode, m->kind == STORE_BAG ? same_obj : NULL, &sc);
    if (mode == PUT_NEW && l->n > 0) {
        CHECK(rc == XETS_EXISTS, "put_new on present key %u: rc %d", kid, rc);
        return;
    }
    CHECK(rc == XETS_OK, "put %u: rc %d", kid, rc);
    if (m->kind == STORE_SET) {
        if (l->n == 1)
            m_del_at(m, kid, 0);
        m_add(m, kid, vid);
        return;
    }
    unsigned fp_equal = 0;
    bool dup = false;
    for (uint32_t i = 0; i < l->n; i++) {
        fp_equal += fp_of(l->v[i]) == fp_of(vid);
        dup |= l->v[i] == vid;
    }
    if (m->kind == STORE_BAG) {
        /* same() is asked about fp-equal objects only, until one is the same. */
        CHECK(sc.calls <= fp_equal && (dup ? sc.calls >= 1 : sc.calls == fp_equal),
              "bag put %u: same() called %u times for %u fp-equal objects (dup %d)", kid,
              sc.calls, fp_equal, dup);
        if (dup)
            return;
    }
    m_add(m, kid, vid);
}

static void op_remove(model_t *m, uint32_t kid, bool by_match)
{
    kbytes_t k = key_of(kid);
    vlist_t *l = &m->key[kid];
    uint32_t target = 0;
    if (by_match) /* mostly an object the key has, sometimes one it lacks */
        target = l->n && rnd(&m->rng) % 4 ? l->v[rnd(&m->rng) % l->n] : (uint32_t)rnd(&m->rng) % 50;
    coll_reset(&m->c, 0);
    int n = del(m->s, &k, by_match ? match_vid : NULL, &target, collect, &m->c);
    CHECK(n >= 0 && (size_t)n == m->c.n, "remove %u: returned %d, removed() called %zu times", kid,
          n, m->c.n);
    size_t j = 0;
    for (uint32_t i = 0; i < l->n;) {
        if (!by_match || l->v[i] == target) {
            CHECK(j < m->c.n && m->c.vid[j] == l->v[i] && m->c.kid[j] == kid,
                  "remove %u: removed() saw the wrong object", kid);
            j++;
            m_del_at(m, kid, i);
        } else {
            i++;
        }
    }
    CHECK(j == m->c.n, "remove %u: removed %zu, model expected %zu", kid, m->c.n, j);
}

static void op_update(model_t *m, uint32_t kid)
{
    kbytes_t k = key_of(kid);
    vlist_t *l = &m->key[kid];
    upd_ctx_t u = {.kid = kid, .new_vid = (uint32_t)rnd(&m->rng) % 100000, .status = XETS_OK};
    if (rnd(&m->rng) % 4 == 0)
        u.status = rnd(&m->rng) % 2 ? XETS_NOMEM : XETS_BADARG;
    /* Bags: replace one chosen object (sometimes one the key lacks). */
    u.any = m->kind == STORE_SET;
    u.target = l->n > 0 && rnd(&m->rng) % 4 != 0 ? l->v[rnd(&m->rng) % l->n]
                                                 : (uint32_t)rnd(&m->rng) % 100000;
    uint32_t i = 0;
    while (i < l->n && !u.any && l->v[i] != u.target)
        i++;
    int rc = update(m->s, &k, upd_fn, &u);
    if (i == l->n) {
        CHECK(rc == XETS_NOTFOUND, "update of absent %u: rc %d", kid, rc);
        return;
    }
    CHECK(rc == u.status, "update %u: rc %d, fn returned %d", kid, rc, u.status);
    if (rc == XETS_OK) { /* in place: the key's order of objects stays */
        m->bytes += obj_bytes(kid, u.new_vid) - obj_bytes(kid, l->v[i]);
        l->v[i] = u.new_vid;
    }
}

/* What a rewrite does with each object of a key, and the objects it
 * expects to be called for, in order. */
typedef struct {
    uint32_t kid;
    const uint32_t *v;
    uint32_t n;
    int act[64];
    uint32_t new_vid[64];
    vbytes_t nv[64];
    kbytes_t k;
    uint32_t fail_at; /* the call that returns status instead; n or more: none */
    int status;
    uint32_t calls;
} rw_ctx_t;

static int rw_fn(void *ctx, size_t i, const rec_t *cur, rec_in_t *out)
{
    rw_ctx_t *w = ctx;
    CHECK(i == w->calls && i < w->n, "rewrite of %u: call %u for object %zu of %u", w->kid,
          w->calls, i, w->n);
    w->calls++;
    CHECK(id_of(cur->key, cur->klen) == w->kid && vid_of(cur) == w->v[i],
          "rewrite of %u: object %zu is (%u, %u), model says vid %u", w->kid, i,
          id_of(cur->key, cur->klen), vid_of(cur), w->v[i]);
    if (i == w->fail_at)
        return w->status;
    if (w->act[i] == REWRITE_REPLACE) {
        w->nv[i] = val_of(w->kid, w->new_vid[i]);
        *out = (rec_in_t){w->k.b, w->k.len, w->nv[i].b, w->nv[i].len, fp_of(w->new_vid[i])};
    }
    return w->act[i];
}

/* A rewrite keeping, replacing (in place) and removing objects at random,
 * now and then ended by a failure: what was decided before it is done. A
 * bag's replacements are objects it has nowhere else. */
static void op_rewrite(model_t *m, uint32_t kid)
{
    static uint32_t fresh = 1000000;
    vlist_t *l = &m->key[kid];
    if (l->n > 64)
        return;
    rw_ctx_t *w = calloc(1, sizeof *w);
    CHECK(w, "out of memory");
    *w = (rw_ctx_t){.kid = kid, .v = l->v, .n = l->n, .k = key_of(kid), .fail_at = UINT32_MAX};
    for (uint32_t i = 0; i < l->n; i++) {
        w->act[i] = (int)(rnd(&m->rng) % 3);
        w->new_vid[i] = m->kind == STORE_BAG ? fresh++ : (uint32_t)(rnd(&m->rng) % 12);
    }
    if (l->n > 0 && rnd(&m->rng) % 4 == 0) {
        w->fail_at = (uint32_t)(rnd(&m->rng) % l->n);
        w->status = rnd(&m->rng) % 2 ? XETS_NOMEM : XETS_BADARG;
    }
    int rc = rewrite(m->s, &w->k, rw_fn, w);
    uint32_t decided = w->fail_at < l->n ? w->fail_at : l->n;
    CHECK(w->calls == (w->fail_at < l->n ? w->fail_at + 1 : l->n),
          "rewrite of %u: fn called %u times for %u objects", kid, w->calls, l->n);
    int written = 0;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        int act = i < decided ? w->act[i] : REWRITE_KEEP;
        uint32_t vid = l->v[i];
        m->bytes -= obj_bytes(kid, vid);
        m->objects--;
        written += act != REWRITE_KEEP;
        if (act == REWRITE_REMOVE)
            continue;
        l->v[kept] = act == REWRITE_REPLACE ? w->new_vid[i] : vid;
        m->bytes += obj_bytes(kid, l->v[kept]);
        m->objects++;
        kept++;
    }
    l->n = kept;
    CHECK(rc == (w->fail_at < w->n ? w->status : written), "rewrite of %u: rc %d, expected %d",
          kid, rc, w->fail_at < w->n ? w->status : written);
    free(w);
}

/* Keys of the model in table order, with their objects: the expected full
 * scan. */
static int cmp_kid(const void *a, const void *b)
{
    kbytes_t ka = key_of(*(const uint32_t *)a), kb = key_of(*(const uint32_t *)b);
    return key_cmp(ka.b, ka.len, kb.b, kb.len);
}

static void check_scans(model_t *m)
{
    uint32_t *kids = malloc(KEYS * sizeof *kids);
    CHECK(kids, "out of memory");
    size_t nk = 0;
    for (uint32_t i = 0; i < KEYS; i++)
        if (m->key[i].n)
            kids[nk++] = i;
    qsort(kids, nk, sizeof *kids, cmp_kid);

    /* Full scan: every object once, keys in table order, objects of a key
     * together and in insertion order. */
    coll_t *c = &m->c;
    coll_reset(c, 0);
    CHECK(scan(m->s, NULL, collect, c) == XETS_END, "full scan did not end");
    CHECK(c->n == m->objects, "full scan saw %zu objects, model has %zu", c->n, m->objects);
    size_t at = 0;
    for (size_t i = 0; i < nk; i++) {
        vlist_t *l = &m->key[kids[i]];
        for (uint32_t j = 0; j < l->n; j++, at++)
            CHECK(c->kid[at] == kids[i] && c->vid[at] == l->v[j],
                  "full scan object %zu: (%u, %u), expected (%u, %u)", at, c->kid[at],
                  c->vid[at], kids[i], l->v[j]);
    }

    /* The same in chunks, resuming after the last key seen: stopping inside
     * a key's objects still finishes them. */
    coll_t *d = &m->c2;
    size_t total = 0;
    kbytes_t after;
    bool first = true;
    for (;;) {
        coll_reset(d, 1 + rnd(&m->rng) % 40);
        int rc = scan(m->s, first ? NULL : &after, collect, d);
        CHECK(total + d->n <= c->n, "chunked scans overran");
        for (size_t i = 0; i < d->n; i++)
            CHECK(d->kid[i] == c->kid[total + i] && d->vid[i] == c->vid[total + i],
                  "chunked scan differs at object %zu", total + i);
        total += d->n;
        if (rc == XETS_END)
            break;
        CHECK(rc == XETS_OK && d->n >= d->stop_after, "scan returned %d after %zu objects", rc,
              d->n);
        CHECK(total == c->n || c->kid[total] != c->kid[total - 1],
              "chunk ended inside the objects of key %u", c->kid[total - 1]);
        after = d->last;
        first = false;
    }
    CHECK(total == c->n, "chunked scans saw %zu of %zu objects", total, c->n);

    /* Resuming after any key, present or not: exactly what follows it. */
    for (int t = 0; t < 10; t++) {
        uint32_t kid = (uint32_t)(rnd(&m->rng) % (KEYS + 1000));
        kbytes_t k = key_of(kid);
        size_t lo = 0, hi = nk; /* first key of the model after kid */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            kbytes_t mk = key_of(kids[mid]);
            if (key_cmp(mk.b, mk.len, k.b, k.len) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t from = 0;
        for (size_t i = 0; i < lo; i++)
            from += m->key[kids[i]].n;
        coll_reset(d, 0);
        CHECK(scan(m->s, &k, collect, d) == XETS_END, "scan after %u did not end", kid);
        CHECK(d->n == c->n - from, "scan after %u (%s): %zu objects, expected %zu", kid,
              kid < KEYS && m->key[kid].n ? "present" : "absent", d->n, c->n - from);
        for (size_t i = 0; i < d->n; i++)
            CHECK(d->kid[i] == c->kid[from + i] && d->vid[i] == c->vid[from + i],
                  "scan after %u differs at %zu", kid, i);
    }
    free(kids);
}

static void check_counts(model_t *m, size_t baseline)
{
    size_t size = ops->size(m->s);
    CHECK(size == m->objects, "size %zu, model has %zu", size, m->objects);
    size_t mem = ops->memory(m->s);
    /* Every object's bytes plus a bounded overhead per object and for the
     * directory and dummies, which never exceed a few per peak object. */
    CHECK(mem >= baseline + m->bytes, "memory %zu below baseline %zu + data %zu", mem, baseline,
          m->bytes);
    CHECK(mem <= baseline + m->bytes + 64 * m->objects + 256 * m->peak + 4096,
          "memory %zu too far above baseline %zu + data %zu (%zu objects, peak %zu)", mem,
          baseline, m->bytes, m->objects, m->peak);
}

static void random_op(model_t *m, unsigned put_pct)
{
    uint32_t kid = (uint32_t)(rnd(&m->rng) % KEYS);
    unsigned r = (unsigned)(rnd(&m->rng) % 100);
    /* Few values per key, so bags meet their own objects again. */
    uint32_t vid = (uint32_t)(rnd(&m->rng) % (m->kind == STORE_SET ? 100000 : 12));
    if (r < put_pct)
        op_put(m, kid, vid, PUT_REPLACE);
    else if (r < put_pct + 5)
        op_put(m, kid, vid, PUT_NEW);
    else if (r < put_pct + 10)
        op_update(m, kid);
    else if (r < put_pct + 20)
        op_remove(m, kid, true);
    else if (r < put_pct + 40)
        op_remove(m, kid, false);
    else if (r < put_pct + 45)
        op_rewrite(m, kid);
    else
        check_get(m, kid);
}

static void test_model(enum store_kind kind, uint64_t seed)
{
    model_t *m = calloc(1, sizeof *m);
    CHECK(m, "out of memory");
    m->kind = kind;
    m->rng = seed;
    m->s = test_store_open(ops, kind);
    size_t baseline = ops->memory(m->s);
    coll_reset(&m->c, 0);
    CHECK(scan(m->s, NULL, collect, &m->c) == XETS_END && m->c.n == 0, "empty table scan");

    /* Grow past several doublings, churn, then shrink back to nothing. */
    const unsigned ops_per_phase = 60000 / SCALE;
    const unsigned put_pct[] = {50, 25, 5};
    for (int phase = 0; phase < 3; phase++) {
        for (unsigned i = 0; i < ops_per_phase; i++) {
            random_op(m, put_pct[phase]);
            if (i % 4096 == 0) {
                check_counts(m, baseline);
                check_scans(m);
            }
        }
        check_counts(m, baseline);
        check_scans(m);
    }
    CHECK(m->peak > 4000, "peak %zu objects: too few doublings tested", m->peak);
    for (uint32_t kid = 0; kid < KEYS; kid++)
        if (m->key[kid].n)
            op_remove(m, kid, false);
    check_counts(m, baseline);
    check_scans(m);

    /* Writes on an empty table finish the shrinking: every dummy and
     * directory segment beyond the first stripes' is gone. */
    for (uint32_t i = 0; i < 20000; i++)
        op_remove(m, (uint32_t)(rnd(&m->rng) % KEYS), false);
    size_t mem = ops->memory(m->s);
    CHECK(mem == baseline, "%s: memory %zu after emptying, baseline %zu", kind_name[kind], mem,
          baseline);

    /* And the table still works after shrinking. */
    for (uint32_t i = 0; i < 3000; i++)
        random_op(m, 60);
    check_counts(m, baseline);
    check_scans(m);

    quiesce();
    test_store_close(ops, m->s);
    for (uint32_t i = 0; i < KEYS; i++)
        free(m->key[i].v);
    coll_free(&m->c);
    coll_free(&m->c2);
    printf("  %s: model check passed (peak %zu objects)\n", kind_name[kind], m->peak);
    free(m);
}

/* Fixed cases the random model may reach rarely. */
static void test_edges(void)
{
    store_t *s = test_store_open(ops, STORE_DUPLICATE_BAG);
    kbytes_t k = key_of(5);
    vbytes_t v = val_of(5, 1);
    rec_in_t in = rec_in(&k, &v, STORE_DUPLICATE_BAG, 1);
    for (int i = 0; i < 3; i++)
        CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "dbag put");
    CHECK(put(s, &in, PUT_NEW, NULL, NULL) == XETS_EXISTS, "dbag put_new");
    coll_t c = {0};
    coll_reset(&c, 0);
    CHECK(get(s, &k, collect, &c) == XETS_OK && c.n == 3, "duplicate_bag keeps duplicates");
    /* A scan stopped on the first of several objects still visits all. */
    coll_reset(&c, 1);
    CHECK(scan(s, NULL, collect, &c) == XETS_OK && c.n == 3, "scan stop inside a key: %zu", c.n);
    coll_reset(&c, 0);
    CHECK(scan(s, &k, collect, &c) == XETS_END && c.n == 0, "scan after the only key");
    uint32_t one = 1;
    CHECK(del(s, &k, match_vid, &one, NULL, NULL) == 3, "remove all duplicates of an object");
    CHECK(ops->size(s) == 0, "size after remove");
    quiesce();
    test_store_close(ops, s);

    /* A key with more objects than a reader gathers on its stack. */
    s = test_store_open(ops, STORE_DUPLICATE_BAG);
    for (uint32_t vid = 1; vid <= 100; vid++) {
        vbytes_t bv = val_of(5, vid % 50);
        rec_in_t bin = rec_in(&k, &bv, STORE_DUPLICATE_BAG, vid % 50);
        CHECK(put(s, &bin, PUT_REPLACE, NULL, NULL) == XETS_OK, "dbag put");
    }
    coll_reset(&c, 0);
    CHECK(get(s, &k, collect, &c) == XETS_OK && c.n == 100, "get of 100 objects: %zu", c.n);
    for (uint32_t i = 0; i < 100; i++)
        CHECK(c.vid[i] == (i + 1) % 50, "object %u of 100 out of order", i);
    coll_reset(&c, 3);
    CHECK(get(s, &k, collect, &c) == XETS_OK && c.n == 3, "get of 100 ignored stop: %zu", c.n);
    coll_reset(&c, 3);
    CHECK(scan(s, NULL, collect, &c) == XETS_OK && c.n == 100, "scan stop in 100: %zu", c.n);
    uint32_t seven = 7;
    CHECK(del(s, &k, match_vid, &seven, NULL, NULL) == 2, "remove both copies of 7");
    coll_reset(&c, 0);
    CHECK(get(s, &k, collect, &c) == XETS_OK && c.n == 98, "get after remove: %zu", c.n);
    quiesce();
    test_store_close(ops, s);

    /* A set replaces; a bag dedupes with fp alone when same is NULL. */
    s = test_store_open(ops, STORE_BAG);
    vbytes_t v2 = val_of(5, 8); /* fp 1, as vid 1 */
    rec_in_t in2 = rec_in(&k, &v2, STORE_BAG, 8);
    CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "bag put");
    CHECK(put(s, &in2, PUT_REPLACE, NULL, NULL) == XETS_OK, "bag put");
    CHECK(ops->size(s) == 1, "bag with same == NULL: equal fp is the same object");
    quiesce();
    test_store_close(ops, s);
    coll_free(&c);
    printf("  edge cases passed\n");
}

/* Removes keys 1..n twice over: writes reap the buckets a shrink dropped,
 * and their segments with them, until the store holds what it held empty
 * (baseline). Then closes it. */
static void removes_reap_to(store_t *s, uint32_t n, size_t baseline)
{
    for (uint32_t round = 0; round < 2; round++)
        for (uint32_t id = 1; id <= n; id++) {
            kbytes_t k = key_of(id);
            del(s, &k, NULL, NULL, NULL, NULL);
        }
    CHECK(ops->memory(s) == baseline, "memory %zu after emptying, baseline %zu", ops->memory(s),
          baseline);
    quiesce();
    test_store_close(ops, s);
}

/* Filling right after emptying grows the table again while buckets dropped
 * by the shrink still await reaping: they must serve again as they are. */
static void test_regrow(void)
{
    store_t *s = test_store_open(ops, STORE_SET);
    size_t baseline = ops->memory(s);
    const uint32_t n = 20000 / SCALE;
    for (int cycle = 0; cycle < 4; cycle++) {
        uint32_t keep = cycle % 2 ? n / 3 : 0; /* shrink all the way, or part of it */
        for (uint32_t id = 1; id <= n; id++) {
            kbytes_t k = key_of(id);
            vbytes_t v = val_of(id, (uint32_t)cycle);
            rec_in_t in = rec_in(&k, &v, STORE_SET, 0);
            CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        }
        CHECK(ops->size(s) == n, "size %zu after filling %u", ops->size(s), n);
        for (uint32_t id = 1; id <= n; id++) {
            kbytes_t k = key_of(id);
            coll_t c = {0};
            coll_reset(&c, 0);
            CHECK(get(s, &k, collect, &c) == XETS_OK && c.n == 1 && c.vid[0] == (uint32_t)cycle,
                  "get %u after regrowing", id);
            coll_free(&c);
            if (id > keep)
                CHECK(del(s, &k, NULL, NULL, NULL, NULL) == 1, "remove %u", id);
        }
        CHECK(ops->size(s) == keep, "size %zu after removing", ops->size(s));
    }
    removes_reap_to(s, n, baseline);
    printf("  regrowth during reaping passed\n");
}

/* A table past 2^17 objects: directory segments of 2 MiB and more (fresh
 * mappings, which glibc's calloc hands out without zeroing them itself),
 * then a shrink all the way down, which retires them. */
static void test_large_directory(void)
{
    store_t *s = test_store_open(ops, STORE_SET);
    size_t baseline = ops->memory(s);
    const uint32_t n = (1u << 17) + (1u << 16);
    for (uint32_t id = 1; id <= n; id++) {
        kbytes_t k = key_of(id);
        vbytes_t v = val_of(id, 1);
        rec_in_t in = rec_in(&k, &v, STORE_SET, 0);
        CHECK(put(s, &in, PUT_NEW, NULL, NULL) == XETS_OK, "put %u", id);
    }
    struct store_stats st;
    stats(s, &st);
    CHECK(st.buckets >= (1u << 18) && st.max_chain_len > 0, "%zu buckets for %u objects",
          st.buckets, n);
    coll_t c = {0};
    for (uint32_t id = 1; id <= n; id++) {
        kbytes_t k = key_of(id);
        coll_reset(&c, 0);
        CHECK(get(s, &k, collect, &c) == XETS_OK && c.n == 1 && c.kid[0] == id,
              "get %u of a large table", id);
        CHECK(del(s, &k, NULL, NULL, NULL, NULL) == 1, "remove %u", id);
    }
    coll_free(&c);
    removes_reap_to(s, n, baseline);
    printf("  large directory passed\n");
}

/* ---- buckets (slot/2) ----------------------------------------------- */

/* Walks buckets 0, 1, ... until XETS_END: every object of the n keys in
 * kids (vals values each) is in exactly one bucket, the one its key's hash
 * names, a key's objects in insertion order; the end comes at the bucket
 * count stats reports. */
static void check_buckets(store_t *s, const uint32_t *kids, size_t n, uint32_t vals,
                          const char *what)
{
    struct store_stats st;
    stats(s, &st);
    coll_t c = {0};
    uint64_t nb = 0, j = 0;
    size_t seen = 0;
    for (;; j++) {
        coll_reset(&c, 0);
        uint64_t nbj;
        int rc = bucket(s, j, &nbj, collect, &c);
        if (j == 0)
            nb = nbj;
        CHECK(nbj == nb, "%s: bucket count changed from %llu to %llu with no writer", what,
              (unsigned long long)nb, (unsigned long long)nbj);
        if (rc == XETS_END)
            break;
        CHECK(rc == XETS_OK, "%s: bucket %llu: %d", what, (unsigned long long)j, rc);
        for (size_t i = 0; i < c.n; i++) {
            kbytes_t k = key_of(c.kid[i]);
            CHECK((XXH3_64bits(k.b, k.len) & (nb - 1)) == j, "%s: key %u in bucket %llu", what,
                  c.kid[i], (unsigned long long)j);
            /* A key's objects come together, values 1..vals in order. */
            uint32_t first = i == 0 || c.kid[i - 1] != c.kid[i] ? 1 : c.vid[i - 1] + 1;
            CHECK(c.vid[i] == first, "%s: key %u value %u after %u", what, c.kid[i], c.vid[i],
                  first - 1);
        }
        seen += c.n;
    }
    CHECK(j == nb && nb == st.buckets, "%s: end at %llu of %llu buckets, stats %zu", what,
          (unsigned long long)j, (unsigned long long)nb, st.buckets);
    CHECK(seen == n * vals, "%s: %zu objects in buckets, %zu in the table", what, seen, n * vals);
    (void)kids;
    coll_free(&c);
}

static void test_buckets(void)
{
    uint32_t *kids = malloc(20000 * sizeof *kids);
    CHECK(kids, "out of memory");
    for (int kind = STORE_SET; kind <= STORE_DUPLICATE_BAG; kind++) {
        uint32_t vals = kind == STORE_SET ? 1 : 3;
        store_t *s = test_store_open(ops, (enum store_kind)kind);
        check_buckets(s, kids, 0, vals, "empty");
        size_t n = 0;
        for (uint32_t id = 1; id <= 20000; id++) {
            kbytes_t k = key_of(id);
            for (uint32_t vid = 1; vid <= vals; vid++) {
                vbytes_t v = val_of(id, vid);
                rec_in_t in = rec_in(&k, &v, (enum store_kind)kind, vid);
                CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
            }
            kids[n++] = id;
            if (id == 1 || id == 100 || id == 20000)
                check_buckets(s, kids, n, vals, kind_name[kind]);
        }
        /* Shrunk: dropped buckets' dummies may still be in the list. */
        for (uint32_t id = 1; id <= 19900; id++) {
            kbytes_t k = key_of(id);
            CHECK(del(s, &k, NULL, NULL, NULL, NULL) == (int)vals, "remove");
        }
        check_buckets(s, kids + 19900, 100, vals, "shrunk");
        quiesce();
        test_store_close(ops, s);
    }
    free(kids);
    printf("  buckets passed\n");
}

/* ---- stats ---------------------------------------------------------- */

static bool near(double a, double b)
{
    double d = a > b ? a - b : b - a;
    return d <= 1e-9 * (1 + (a > b ? a : b));
}

/* info(T, stats) figures, recomputed from the objects' hashes over the
 * bucket count the store reports. */
static void check_stats(store_t *s, const uint32_t *kids, size_t n, const char *what)
{
    struct store_stats st;
    stats(s, &st);
    CHECK(st.buckets >= 64 && (st.buckets & (st.buckets - 1)) == 0, "%s: %zu buckets", what,
          st.buckets);
    size_t *chain = calloc(st.buckets, sizeof *chain);
    CHECK(chain, "out of memory");
    for (size_t i = 0; i < n; i++) {
        kbytes_t k = key_of(kids[i]);
        chain[XXH3_64bits(k.b, k.len) & (st.buckets - 1)]++;
    }
    double avg = (double)n / (double)st.buckets, var = 0;
    size_t min = SIZE_MAX, max = 0;
    for (size_t j = 0; j < st.buckets; j++) {
        var += ((double)chain[j] - avg) * ((double)chain[j] - avg);
        min = chain[j] < min ? chain[j] : min;
        max = chain[j] > max ? chain[j] : max;
    }
    var /= (double)st.buckets;
    double expected_var = avg * (1 - 1 / (double)st.buckets);
    CHECK(near(st.avg_chain_len, avg), "%s: average chain %g, expected %g", what,
          st.avg_chain_len, avg);
    CHECK(near(st.std_dev_chain_len * st.std_dev_chain_len, var), "%s: std dev %g, variance %g",
          what, st.std_dev_chain_len, var);
    CHECK(near(st.std_dev_expected * st.std_dev_expected, expected_var),
          "%s: expected std dev %g, variance %g", what, st.std_dev_expected, expected_var);
    CHECK(st.min_chain_len == min && st.max_chain_len == max,
          "%s: chains %zu..%zu, expected %zu..%zu", what, st.min_chain_len, st.max_chain_len, min,
          max);
    CHECK(st.kept_items == 0 && st.locks == 64, "%s: kept %zu, locks %zu", what, st.kept_items,
          st.locks);
    free(chain);
}

/* Chains count objects, so a bag key's objects all count in its bucket. */
static void test_stats(void)
{
    uint32_t *kids = malloc(20000 * sizeof *kids);
    CHECK(kids, "out of memory");
    store_t *s = test_store_open(ops, STORE_SET);
    check_stats(s, kids, 0, "empty set");
    struct store_stats st;
    stats(s, &st);
    CHECK(st.buckets == 64 && st.min_chain_len == 0 && st.max_chain_len == 0 &&
              st.std_dev_chain_len == 0,
          "empty table stats");
    size_t n = 0;
    for (uint32_t id = 1; id <= 20000; id++) {
        kbytes_t k = key_of(id);
        vbytes_t v = val_of(id, 1);
        rec_in_t in = rec_in(&k, &v, STORE_SET, 1);
        CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        kids[n++] = id;
        if (id == 1 || id == 1000 || id == 20000)
            check_stats(s, kids, n, "set");
    }
    CHECK(stats(s, &st) > 4, "20000 objects counted in one step");
    for (uint32_t id = 1; id <= 19000; id++) {
        kbytes_t k = key_of(id);
        CHECK(del(s, &k, NULL, NULL, NULL, NULL) == 1, "remove");
    }
    check_stats(s, kids + 19000, 1000, "shrunk set");
    quiesce();
    test_store_close(ops, s);

    s = test_store_open(ops, STORE_DUPLICATE_BAG);
    n = 0;
    for (uint32_t id = 1; id <= 3000; id++) {
        kbytes_t k = key_of(id % 300);
        vbytes_t v = val_of(id % 300, 1);
        rec_in_t in = rec_in(&k, &v, STORE_DUPLICATE_BAG, 1);
        CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        kids[n++] = id % 300;
    }
    check_stats(s, kids, n, "duplicate_bag");
    stats(s, &st);
    CHECK(st.max_chain_len >= 10, "10 objects of a key count as 10: max chain %zu",
          st.max_chain_len);
    /* A key of more objects than a step visits is counted whole, in one. */
    for (uint32_t i = 0; i < 10000; i++) {
        kbytes_t k = key_of(7);
        vbytes_t v = val_of(7, 2);
        rec_in_t in = rec_in(&k, &v, STORE_DUPLICATE_BAG, 2);
        CHECK(put(s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        kids[n++] = 7;
    }
    check_stats(s, kids, n, "duplicate_bag with a long key");
    quiesce();
    test_store_close(ops, s);
    free(kids);
    printf("  stats passed\n");
}

/* ---- bag snapshots ---------------------------------------------------- */

/* Each writer owns SNAP_KEYS keys and drives each through a fixed cycle of
 * puts and removes (or rewrites that remove) of whole objects (all
 * copies), every state of which is known in advance; a reader must only ever see one of those states. Even
 * keys start with SNAP_PREFIX objects nobody removes, so that their groups
 * outgrow a reader's stack buffer. */
#define SNAP_WRITERS 2
#define SNAP_READERS 2
#define SNAP_KEYS 8
#define SNAP_PREFIX 20
#define SNAP_MAX_STATES 8
#define SNAP_MAX_LEN (SNAP_PREFIX + 4)
#define SNAP_A 1
#define SNAP_X 2

typedef struct {
    bool put; /* else: remove every copy */
    uint32_t vid;
} snap_op_t;

/* duplicate_bag from [A, X, A]: removing A unlinks two runs apart, and the
 * half-done [X, A] is no state of the cycle. */
static const snap_op_t dbag_cycle[] = {{false, SNAP_A}, {true, SNAP_X}, {true, SNAP_A},
                                       {false, SNAP_X}, {true, SNAP_X}, {true, SNAP_A}};
static const uint32_t dbag_start[] = {SNAP_A, SNAP_X, SNAP_A};
/* bag from [A, X]: an object removed and appended again; a reader on its old
 * node that went on into the new one would see [A, X, A]. */
static const snap_op_t bag_cycle[] = {{false, SNAP_A}, {true, SNAP_A}, {false, SNAP_X},
                                      {true, SNAP_X}};
static const uint32_t bag_start[] = {SNAP_A, SNAP_X};

typedef struct {
    uint32_t v[SNAP_MAX_LEN];
    size_t n;
} snap_state_t;

typedef struct {
    enum store_kind kind;
    store_t *s;
    const snap_op_t *cycle;
    size_t cycle_len;
    snap_state_t states[SNAP_MAX_STATES]; /* without the prefix */
    size_t nstates;
    atomic_uint writers_left;
    atomic_ulong checked;
} snap_t;

static bool snap_has_prefix(uint32_t kid)
{
    return kid % 2 == 0;
}

static uint32_t snap_kid(unsigned writer, unsigned i)
{
    return 100 + writer * SNAP_KEYS + i;
}

static void snap_put(snap_t *sn, uint32_t kid, uint32_t vid)
{
    kbytes_t k = key_of(kid);
    vbytes_t v = val_of(kid, vid);
    rec_in_t in = rec_in(&k, &v, sn->kind, vid);
    same_ctx_t sc = {&in, 0};
    CHECK(put(sn->s, &in, PUT_REPLACE, same_obj, &sc) == XETS_OK, "snapshot put");
}

/* Checks that the objects a reader saw of key kid form a state of the cycle. */
static void snap_check(snap_t *sn, uint32_t kid, const uint32_t *v, size_t n, const char *how)
{
    size_t skip = snap_has_prefix(kid) ? SNAP_PREFIX : 0;
    CHECK(n <= SNAP_MAX_LEN, "%s of %s key %u saw %zu objects, a state that never existed", how,
          kind_name[sn->kind], kid, n);
    CHECK(n >= skip, "%s of key %u: %zu objects, fewer than its permanent ones", how, kid, n);
    for (size_t i = 0; i < skip; i++)
        CHECK(v[i] == 100 + i, "%s of key %u: permanent object %zu is %u", how, kid, i, v[i]);
    for (size_t j = 0; j < sn->nstates; j++)
        if (sn->states[j].n == n - skip &&
            memcmp(sn->states[j].v, v + skip, (n - skip) * sizeof *v) == 0) {
            atomic_fetch_add_explicit(&sn->checked, 1, memory_order_relaxed);
            return;
        }
    char buf[128];
    size_t at = 0;
    for (size_t i = skip; i < n && at < sizeof buf - 12; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, " %s", v[i] == SNAP_A ? "A" : "X");
    CHECK(false, "%s of %s key %u saw [%s ], a state that never existed", how,
          kind_name[sn->kind], kid, buf);
}

typedef struct {
    snap_t *sn;
    unsigned t;
} snap_worker_t;

/* A rewrite's removals, like a remove's. */
static int rewrite_remove_vid(void *ctx, size_t i, const rec_t *cur, rec_in_t *out)
{
    (void)i;
    (void)out;
    return match_vid(ctx, cur) ? REWRITE_REMOVE : REWRITE_KEEP;
}

static void *snap_writer(void *arg)
{
    snap_worker_t *w = arg;
    snap_t *sn = w->sn;
    const unsigned rounds = 40000 / SCALE;
    for (unsigned r = 0; r < rounds; r++)
        for (unsigned i = 0; i < SNAP_KEYS; i++) {
            uint32_t kid = snap_kid(w->t, i);
            const snap_op_t *op = &sn->cycle[r % sn->cycle_len];
            if (op->put) {
                snap_put(sn, kid, op->vid);
            } else {
                kbytes_t k = key_of(kid);
                uint32_t vid = op->vid;
                int n = r % 2 ? del(sn->s, &k, match_vid, &vid, NULL, NULL)
                              : rewrite(sn->s, &k, rewrite_remove_vid, &vid);
                CHECK(n > 0, "snapshot remove");
            }
        }
    atomic_fetch_sub(&sn->writers_left, 1);
    quiesce();
    return NULL;
}

/* What a reader saw of one key: n objects, the first SNAP_SEEN of them. */
#define SNAP_SEEN 64
typedef struct {
    snap_t *sn;
    uint32_t kid;
    uint32_t v[SNAP_SEEN];
    size_t n;
} snap_read_t;

static void snap_seen(snap_read_t *c, const rec_t *r)
{
    uint32_t vid = vid_of(r);
    if (c->n < SNAP_SEEN)
        c->v[c->n] = vid;
    c->n++;
}

static int snap_visit_get(void *ctx, const rec_t *r)
{
    snap_read_t *c = ctx;
    CHECK(id_of(r->key, r->klen) == c->kid, "get of key %u saw key %u", c->kid,
          id_of(r->key, r->klen));
    snap_seen(c, r);
    return 0;
}

/* A scan's objects, checked a key at a time. */
static int snap_visit_scan(void *ctx, const rec_t *r)
{
    snap_read_t *c = ctx;
    uint32_t kid = id_of(r->key, r->klen);
    if (c->n > 0 && kid != c->kid) {
        snap_check(c->sn, c->kid, c->v, c->n, "scan");
        c->n = 0;
    }
    c->kid = kid;
    snap_seen(c, r);
    return 0;
}

static void *snap_reader(void *arg)
{
    snap_worker_t *w = arg;
    snap_t *sn = w->sn;
    uint64_t rng = 0x2545F4914F6CDD1Du * (w->t + 1);
    while (atomic_load(&sn->writers_left) > 0) {
        for (int i = 0; i < 100; i++) {
            snap_read_t c = {.sn = sn};
            c.kid = snap_kid((unsigned)(rnd(&rng) % SNAP_WRITERS),
                             (unsigned)(rnd(&rng) % SNAP_KEYS));
            kbytes_t k = key_of(c.kid);
            get(sn->s, &k, snap_visit_get, &c);
            snap_check(sn, c.kid, c.v, c.n, "get");
        }
        snap_read_t c = {.sn = sn};
        CHECK(scan(sn->s, NULL, snap_visit_scan, &c) == XETS_END, "snapshot scan");
        if (c.n > 0)
            snap_check(sn, c.kid, c.v, c.n, "scan");
    }
    quiesce();
    return NULL;
}

static void test_bag_snapshots(enum store_kind kind)
{
    snap_t sn = {.kind = kind, .s = test_store_open(ops, kind)};
    CHECK(sn.s, "create");
    const uint32_t *start = kind == STORE_BAG ? bag_start : dbag_start;
    size_t start_len = kind == STORE_BAG ? 2 : 3;
    sn.cycle = kind == STORE_BAG ? bag_cycle : dbag_cycle;
    sn.cycle_len = kind == STORE_BAG ? 4 : 6;
    /* The cycle's states, by running it on a list. */
    snap_state_t cur = {{0}, start_len};
    memcpy(cur.v, start, start_len * sizeof *start);
    for (size_t i = 0; i < sn.cycle_len; i++) {
        sn.states[sn.nstates++] = cur;
        const snap_op_t *op = &sn.cycle[i];
        if (op->put) {
            cur.v[cur.n++] = op->vid;
        } else {
            size_t n = 0;
            for (size_t j = 0; j < cur.n; j++)
                if (cur.v[j] != op->vid)
                    cur.v[n++] = cur.v[j];
            cur.n = n;
        }
    }
    CHECK(cur.n == start_len && memcmp(cur.v, start, start_len * sizeof *start) == 0,
          "the cycle does not return to its start");
    for (unsigned t = 0; t < SNAP_WRITERS; t++)
        for (unsigned i = 0; i < SNAP_KEYS; i++) {
            uint32_t kid = snap_kid(t, i);
            if (snap_has_prefix(kid))
                for (uint32_t p = 0; p < SNAP_PREFIX; p++)
                    snap_put(&sn, kid, 100 + p);
            for (size_t j = 0; j < start_len; j++)
                snap_put(&sn, kid, start[j]);
        }
    atomic_init(&sn.writers_left, SNAP_WRITERS);
    atomic_init(&sn.checked, 0);
    snap_worker_t w[SNAP_WRITERS + SNAP_READERS];
    pthread_t th[SNAP_WRITERS + SNAP_READERS];
    for (unsigned t = 0; t < SNAP_WRITERS + SNAP_READERS; t++) {
        w[t] = (snap_worker_t){&sn, t < SNAP_WRITERS ? t : t - SNAP_WRITERS};
        CHECK(pthread_create(&th[t], NULL, t < SNAP_WRITERS ? snap_writer : snap_reader, &w[t]) ==
                  0,
              "pthread_create");
    }
    for (unsigned t = 0; t < SNAP_WRITERS + SNAP_READERS; t++)
        pthread_join(th[t], NULL);
    quiesce();
    test_store_close(ops, sn.s);
    printf("  %s: every key read was a state that existed (%lu reads)\n", kind_name[kind],
           atomic_load(&sn.checked));
}

/* ---- concurrency ---------------------------------------------------- */

#define WRITERS 4
#define READERS 2
#define OWNED 4000       /* set: keys each writer owns */
#define COUNTERS 16      /* set: keys every writer updates */
#define SHARED 1500      /* bags: keys every writer puts objects under */
#define PERM_TAG 0xFFu   /* bags: vid tag of the objects nobody removes */
#define COUNTER_BASE 1000000u

typedef struct {
    enum store_kind kind;
    store_t *s;
    atomic_uint writers_left, readers_left;
} mt_t;

typedef struct {
    mt_t *mt;
    unsigned t;
    uint64_t rng;
    /* set: vid of each owned key (0: absent); bags: this writer's objects
     * per shared key, in insertion order. */
    uint32_t owned[OWNED];
    vlist_t objs[SHARED];
    uint64_t incr[COUNTERS];
    unsigned long scans, gets;
} worker_t;

static bool is_permanent_set_key(uint32_t kid)
{
    return kid < WRITERS * OWNED && kid % 32 == 1;
}

/* Counter objects carry their count as vid. */
typedef struct {
    uint32_t kid;
    vbytes_t v;
    kbytes_t k;
} incr_ctx_t;

static int incr_fn(void *ctx, const rec_t *cur, rec_in_t *out)
{
    incr_ctx_t *c = ctx;
    uint32_t n = vid_of(cur);
    c->v = val_of(c->kid, n + 1);
    c->k = key_of(c->kid);
    *out = (rec_in_t){c->k.b, c->k.len, c->v.b, c->v.len, 0};
    return XETS_OK;
}

static void set_writer(worker_t *w)
{
    store_t *s = w->mt->s;
    uint32_t base = w->t * OWNED;
    /* Fill and drain twice, so the table grows and shrinks under readers. */
    const unsigned n = 60000 / SCALE;
    for (unsigned round = 0; round < 4; round++) {
        unsigned put_pct = round % 2 == 0 ? 75 : 0;
        for (unsigned i = 0; i < n; i++) {
            uint32_t off = (uint32_t)(rnd(&w->rng) % OWNED);
            uint32_t kid = base + off;
            kbytes_t k = key_of(kid);
            unsigned r = (unsigned)(rnd(&w->rng) % 100);
            if (r < 10) {
                uint32_t c = (uint32_t)(rnd(&w->rng) % COUNTERS);
                incr_ctx_t ic = {COUNTER_BASE + c, {{0}, 0}, {{0}, 0}};
                kbytes_t ck = key_of(COUNTER_BASE + c);
                CHECK(update(s, &ck, incr_fn, &ic) == XETS_OK, "counter update");
                w->incr[c]++;
            } else if (r < 10 + put_pct || is_permanent_set_key(kid)) {
                uint32_t vid = (uint32_t)(rnd(&w->rng) % 1000000) + 1;
                vbytes_t v = val_of(kid, vid);
                rec_in_t in = rec_in(&k, &v, STORE_SET, vid);
                bool is_new = r % 2 == 0;
                int rc = put(s, &in, is_new ? PUT_NEW : PUT_REPLACE, NULL, NULL);
                if (is_new && w->owned[off]) {
                    CHECK(rc == XETS_EXISTS, "put_new of present key %u: %d", kid, rc);
                } else {
                    CHECK(rc == XETS_OK, "put %u: %d", kid, rc);
                    w->owned[off] = vid;
                }
            } else {
                int rc = del(s, &k, NULL, NULL, NULL, NULL);
                CHECK(rc == (w->owned[off] ? 1 : 0), "remove of owned key %u: %d", kid, rc);
                w->owned[off] = 0;
            }
        }
    }
}

static void bag_writer(worker_t *w)
{
    store_t *s = w->mt->s;
    enum store_kind kind = w->mt->kind;
    uint32_t seq = 0;
    const unsigned n = 60000 / SCALE;
    for (unsigned round = 0; round < 4; round++) {
        unsigned put_pct = round % 2 == 0 ? 70 : 25;
        for (unsigned i = 0; i < n; i++) {
            uint32_t kid = (uint32_t)(rnd(&w->rng) % SHARED) + 1;
            vlist_t *l = &w->objs[kid - 1];
            kbytes_t k = key_of(kid);
            unsigned r = (unsigned)(rnd(&w->rng) % 100);
            if (r < put_pct) {
                /* Sometimes an object this writer already has: a bag keeps
                 * one, a duplicate_bag another copy. */
                bool again = l->n > 0 && r % 4 == 0;
                uint32_t vid = again ? l->v[rnd(&w->rng) % l->n] : (w->t << 24) | ++seq;
                vbytes_t v = val_of(kid, vid);
                rec_in_t in = rec_in(&k, &v, kind, vid);
                same_ctx_t sc = {&in, 0};
                CHECK(put(s, &in, PUT_REPLACE, same_obj, &sc) == XETS_OK, "bag put");
                if (!again || kind == STORE_DUPLICATE_BAG)
                    vl_push(l, vid);
            } else if (l->n > 0) {
                uint32_t vid = l->v[rnd(&w->rng) % l->n];
                uint32_t copies = 0;
                for (uint32_t j = 0; j < l->n;)
                    if (l->v[j] == vid) {
                        copies++;
                        memmove(&l->v[j], &l->v[j + 1], (l->n - j - 1) * sizeof *l->v);
                        l->n--;
                    } else {
                        j++;
                    }
                int rc = del(s, &k, match_vid, &vid, NULL, NULL);
                CHECK(rc >= 0 && (uint32_t)rc == copies, "remove of own object: %d, expected %u",
                      rc, copies);
            }
        }
    }
}

static void *writer_main(void *arg)
{
    worker_t *w = arg;
    if (w->mt->kind == STORE_SET)
        set_writer(w);
    else
        bag_writer(w);
    atomic_fetch_sub(&w->mt->writers_left, 1);
    /* Leave no retirement behind in this thread, once no reader can tell
     * ThreadSanitizer that its section ended during the wait. */
    while (atomic_load(&w->mt->readers_left) > 0)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    quiesce();
    return NULL;
}

/* Reader-side checks of one chunk: table order strictly increases between
 * keys, and within the chunk sequence; permanent objects are counted. */
typedef struct {
    worker_t *w;
    bool have_prev;
    kbytes_t prev;
    uint32_t prev_kid;
    unsigned char *seen; /* set: per key; bags: permanent object per key */
    size_t n, stop_after;
    bool bag_key_has_perm;
} scan_ctx_t;

static int scan_visit(void *ctx, const rec_t *r)
{
    scan_ctx_t *c = ctx;
    uint32_t vid = vid_of(r);
    uint32_t kid = id_of(r->key, r->klen);
    bool same_key = c->have_prev && c->prev_kid == kid;
    if (c->have_prev && !same_key)
        CHECK(key_cmp(c->prev.b, c->prev.len, r->key, r->klen) < 0,
              "scan went from key %u back to key %u", c->prev_kid, kid);
    if (c->w->mt->kind == STORE_SET) {
        CHECK(!same_key, "set key %u seen twice in a row", kid);
        if (kid < WRITERS * OWNED + 1) {
            CHECK(c->seen[kid] == 0, "scan saw key %u twice", kid);
            c->seen[kid] = 1;
        }
    } else if (vid >> 24 == PERM_TAG) {
        CHECK(c->seen[kid] == 0, "scan saw permanent object of key %u twice", kid);
        c->seen[kid] = 1;
    }
    c->have_prev = true;
    c->prev_kid = kid;
    memcpy(c->prev.b, r->key, r->klen);
    c->prev.len = r->klen;
    c->n++;
    return c->stop_after != 0 && c->n >= c->stop_after;
}

typedef struct {
    worker_t *w;
    uint32_t kid;
    uint32_t vids[4096];
    size_t n;
} get_ctx_t;

static int get_visit(void *ctx, const rec_t *r)
{
    get_ctx_t *c = ctx;
    CHECK(id_of(r->key, r->klen) == c->kid, "get %u returned key %u", c->kid,
          id_of(r->key, r->klen));
    CHECK(c->n < 4096, "get %u: too many objects", c->kid);
    c->vids[c->n++] = vid_of(r);
    return 0;
}

static void *reader_main(void *arg)
{
    worker_t *w = arg;
    mt_t *mt = w->mt;
    size_t nseen = WRITERS * OWNED + SHARED + 2;
    unsigned char *seen = malloc(nseen);
    CHECK(seen, "out of memory");
    while (atomic_load(&mt->writers_left) > 0) {
        double t0 = now();
        /* A full traversal in chunks, resuming after the last key. */
        memset(seen, 0, nseen);
        scan_ctx_t c = {.w = w, .seen = seen};
        for (;;) {
            c.n = 0;
            c.stop_after = 1 + rnd(&w->rng) % 200;
            kbytes_t after = c.prev;
            int rc = scan(mt->s, c.have_prev ? &after : NULL, scan_visit, &c);
            if (rc == XETS_END)
                break;
            CHECK(rc == XETS_OK, "scan: %d", rc);
        }
        /* Objects present throughout were seen, exactly once. */
        if (mt->kind == STORE_SET) {
            for (uint32_t kid = 0; kid < WRITERS * OWNED; kid++)
                CHECK(!is_permanent_set_key(kid) || seen[kid], "scan missed key %u", kid);
        } else {
            for (uint32_t kid = 1; kid <= SHARED; kid++)
                CHECK(seen[kid], "scan missed the permanent object of key %u", kid);
        }
        w->scans++;
        /* Rest as long as the traversal took: the writers set the pace,
         * and must keep most of the machine. */
        double rest = now() - t0;
        nanosleep(&(struct timespec){(time_t)rest, (long)((rest - (double)(time_t)rest) * 1e9)},
                  NULL);
        for (int i = 0; i < 200; i++) {
            get_ctx_t g = {.w = w};
            g.kid = mt->kind == STORE_SET ? (uint32_t)(rnd(&w->rng) % (WRITERS * OWNED))
                                          : (uint32_t)(rnd(&w->rng) % SHARED) + 1;
            kbytes_t k = key_of(g.kid);
            int rc = get(mt->s, &k, get_visit, &g);
            if (mt->kind == STORE_SET) {
                CHECK(rc == XETS_NOTFOUND || g.n == 1, "set get %u: %zu objects", g.kid, g.n);
                CHECK(!is_permanent_set_key(g.kid) || rc == XETS_OK, "permanent key %u missing",
                      g.kid);
            } else {
                CHECK(rc == XETS_OK && g.vids[0] >> 24 == PERM_TAG,
                      "get %u: the oldest object is not first", g.kid);
            }
            w->gets++;
        }
    }
    free(seen);
    atomic_fetch_sub(&mt->readers_left, 1);
    return NULL;
}

static void test_concurrent(enum store_kind kind)
{
    mt_t mt = {.kind = kind, .s = test_store_open(ops, kind)};
    CHECK(mt.s, "create");
    atomic_init(&mt.writers_left, WRITERS);
    atomic_init(&mt.readers_left, READERS);
    /* Objects no writer removes, so every traversal must see them. */
    if (kind == STORE_SET) {
        for (uint32_t kid = 0; kid < WRITERS * OWNED; kid++)
            if (is_permanent_set_key(kid)) {
                kbytes_t k = key_of(kid);
                vbytes_t v = val_of(kid, 1);
                rec_in_t in = rec_in(&k, &v, kind, 1);
                CHECK(put(mt.s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
            }
        for (uint32_t c = 0; c < COUNTERS; c++) {
            kbytes_t k = key_of(COUNTER_BASE + c);
            vbytes_t v = val_of(COUNTER_BASE + c, 0);
            rec_in_t in = rec_in(&k, &v, kind, 0);
            CHECK(put(mt.s, &in, PUT_NEW, NULL, NULL) == XETS_OK, "put");
        }
    } else {
        for (uint32_t kid = 1; kid <= SHARED; kid++) {
            kbytes_t k = key_of(kid);
            uint32_t vid = PERM_TAG << 24 | kid;
            vbytes_t v = val_of(kid, vid);
            rec_in_t in = rec_in(&k, &v, kind, vid);
            CHECK(put(mt.s, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        }
    }
    worker_t *w = calloc(WRITERS + READERS, sizeof *w);
    CHECK(w, "out of memory");
    pthread_t th[WRITERS + READERS];
    for (unsigned t = 0; t < WRITERS + READERS; t++) {
        w[t].mt = &mt;
        w[t].t = t;
        w[t].rng = 0x9E3779B97F4A7C15u * (t + 1) + kind;
        /* Owned set keys start at base t*OWNED; permanent ones are present. */
        if (kind == STORE_SET && t < WRITERS)
            for (uint32_t off = 0; off < OWNED; off++)
                w[t].owned[off] = is_permanent_set_key(t * OWNED + off) ? 1 : 0;
        CHECK(pthread_create(&th[t], NULL, t < WRITERS ? writer_main : reader_main, &w[t]) == 0,
              "pthread_create");
    }
    for (unsigned t = 0; t < WRITERS + READERS; t++)
        pthread_join(th[t], NULL);

    /* The table is exactly what the writers' own logs say. */
    coll_t c = {0};
    coll_reset(&c, 0);
    CHECK(scan(mt.s, NULL, collect, &c) == XETS_END, "final scan");
    size_t expected = 0;
    if (kind == STORE_SET) {
        uint32_t *val = calloc(WRITERS * OWNED, sizeof *val);
        uint64_t counter[COUNTERS] = {0};
        for (size_t i = 0; i < c.n; i++) {
            if (c.kid[i] >= COUNTER_BASE)
                counter[c.kid[i] - COUNTER_BASE] = c.vid[i];
            else
                val[c.kid[i]] = c.vid[i];
        }
        for (unsigned t = 0; t < WRITERS; t++)
            for (uint32_t off = 0; off < OWNED; off++) {
                CHECK(val[t * OWNED + off] == w[t].owned[off], "key %u: table %u, log %u",
                      t * OWNED + off, val[t * OWNED + off], w[t].owned[off]);
                expected += w[t].owned[off] != 0;
            }
        for (uint32_t k = 0; k < COUNTERS; k++) {
            uint64_t sum = 0;
            for (unsigned t = 0; t < WRITERS; t++)
                sum += w[t].incr[k];
            CHECK(counter[k] == sum, "counter %u is %llu, writers added %llu", k,
                  (unsigned long long)counter[k], (unsigned long long)sum);
        }
        expected += COUNTERS;
        free(val);
    } else {
        /* Per key: the permanent object first, then each writer's objects in
         * the order it inserted them. */
        size_t i = 0;
        size_t next[WRITERS];
        unsigned keys = 0;
        while (i < c.n) {
            uint32_t kid = c.kid[i];
            CHECK(kid >= 1 && kid <= SHARED && c.vid[i] >> 24 == PERM_TAG,
                  "key %u does not start with its permanent object", kid);
            keys++;
            memset(next, 0, sizeof next);
            for (i++; i < c.n && c.kid[i] == kid; i++) {
                uint32_t t = c.vid[i] >> 24;
                CHECK(t < WRITERS, "key %u: stray object %x", kid, c.vid[i]);
                vlist_t *l = &w[t].objs[kid - 1];
                CHECK(next[t] < l->n && l->v[next[t]] == c.vid[i],
                      "key %u: writer %u's objects differ from its log", kid, t);
                next[t]++;
            }
            for (unsigned t = 0; t < WRITERS; t++)
                CHECK(next[t] == w[t].objs[kid - 1].n, "key %u: writer %u lost objects", kid, t);
        }
        CHECK(keys == SHARED, "%u keys, expected %u", keys, SHARED);
        expected = SHARED;
        for (unsigned t = 0; t < WRITERS; t++)
            for (uint32_t k = 0; k < SHARED; k++)
                expected += w[t].objs[k].n;
    }
    CHECK(c.n == expected && ops->size(mt.s) == expected, "%zu objects, size %zu, expected %zu",
          c.n, ops->size(mt.s), expected);
    unsigned long scans = 0, gets = 0;
    for (unsigned t = WRITERS; t < WRITERS + READERS; t++) {
        scans += w[t].scans;
        gets += w[t].gets;
    }
    CHECK(scans > 0, "readers finished no traversal");
    quiesce();
    test_store_close(ops, mt.s);
    for (unsigned t = 0; t < WRITERS; t++)
        for (uint32_t k = 0; k < SHARED; k++)
            free(w[t].objs[k].v);
    free(w);
    coll_free(&c);
    printf("  %s: concurrent check passed (%lu full traversals, %lu gets)\n", kind_name[kind],
           scans, gets);
}

int main(void)
{
    double t0 = now(), t = t0;
    test_edges();
    test_regrow();
    test_large_directory();
    test_stats();
    test_buckets();
    test_bag_snapshots(STORE_BAG);
    test_bag_snapshots(STORE_DUPLICATE_BAG);
    printf("    (%.1f s)\n", now() - t);
    t = now();
    for (int k = STORE_SET; k <= STORE_DUPLICATE_BAG; k++) {
        test_model((enum store_kind)k, 0x1234567u + (uint64_t)k);
        printf("    (%.1f s)\n", now() - t);
        t = now();
    }
    for (int k = STORE_SET; k <= STORE_DUPLICATE_BAG; k++) {
        test_concurrent((enum store_kind)k);
        printf("    (%.1f s)\n", now() - t);
        t = now();
    }
    printf("hash_table_test: ok (%.1f s)\n", now() - t0);
    return 0;
}
