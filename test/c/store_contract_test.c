/* The store contract (store.h), checked against every store: hash_table_ops
 * as set, bag and duplicate_bag, and skiplist_ops.
 *
 * 1. Orders: each store's sort key is the order it names ("key": the key
 *    itself; "hash.2": reversed XXH3 with its two low bits set, big-endian,
 *    then the length, 32-bit big-endian, then the key), computed here
 *    independently.
 * 2. A model: random sequences of put (replace and new), remove (all of a
 *    key's objects, or those matching), get and cursor walks, the same on
 *    the store and on a model that keeps, per key, its objects in
 *    insertion order, and the keys sorted by their sort keys. A walk has
 *    random bounds (absent, or inclusive or exclusive, at a key's sort key,
 *    a prefix of one, just past one, or random bytes) and a random
 *    direction (a store without a backward order walks forward, as ETS
 *    aliases last/prev to first/next on hash tables). It runs in chunks,
 *    each in its own epoch section, re-opened from the last key's sort key
 *    as an exclusive bound, as store.h prescribes, with writes in between;
 *    every step must be the model's next key within the bounds, with all
 *    its objects in insertion order.
 * 3. Concurrency: writers add and remove keys (growing and shrinking hash
 *    tables) and objects of permanent keys while walkers go through in
 *    chunks with random bounds and directions. Every walk must see each
 *    permanent key within its bounds exactly once, keys strictly in order
 *    (so none twice), each step whole: one key, well-formed objects in
 *    insertion order. Built with ThreadSanitizer too.
 * 4. Bag keys read whole: while a writer takes keys through removes of
 *    objects that are not adjacent and puts of objects just removed, every
 *    key a cursor yields is in a state the key went through.
 * 5. Lifecycle: a store in memory refuses a directory; close and drop
 *    free everything, of an empty store and a full one (the
 *    AddressSanitizer build's leak check sees it); clear empties the store
 *    at once and says how many objects it held, what a reader holds stays
 *    readable until its section ends, the old contents go to a store whose
 *    drop frees them, and the cleared store takes a new one's memory and
 *    goes on matching the model. Then clears alongside readers of size,
 *    memory and stats, which store.h allows (ThreadSanitizer build too).
 * Every store operation runs inside an epoch section, as the NIF glue runs
 * them. Exits nonzero on the first failure. */
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
#include "test_objects.h"
#include "test_store.h"

#ifdef __SANITIZE_THREAD__
#define SCALE 4 /* ThreadSanitizer runs several times slower: do less */
#else
#define SCALE 1
#endif

typedef struct subject {
    const char *name;
    const store_ops_t *ops;
    enum store_kind kind;
} subject_t;

static const subject_t subjects[] = {
    {"hash_table set", &hash_table_ops, STORE_SET},
    {"hash_table bag", &hash_table_ops, STORE_BAG},
    {"hash_table duplicate_bag", &hash_table_ops, STORE_DUPLICATE_BAG},
    {"skiplist (ordered_set)", &skiplist_ops, STORE_SET},
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint32_t below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(rnd(s) % n);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* memcmp order, a proper prefix first: the order of sort keys and bounds. */
static int bytes_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* ---- keys, objects, sort keys ------------------------------------------ */

#define POS_MAX 40 /* room for any sort key or bound made here */

/* Key id -> bytes: id 0 is the empty key; others are decimal digits, some
 * behind a 0xFF byte, some followed by a 0x00 byte, so that keys are
 * prefixes of one another and bytes compare unsigned. */
typedef struct kbytes {
    unsigned char b[16];
    size_t len;
} kbytes_t;

static kbytes_t key_of(uint32_t id)
{
    kbytes_t k = {.len = 0};
    if (id == 0)
        return k;
    if (id % 3 == 0)
        k.b[k.len++] = 0xFF;
    char digits[12];
    int nd = snprintf(digits, sizeof digits, "%u", id);
    memcpy(k.b + k.len, digits, (size_t)nd);
    k.len += (size_t)nd;
    if (id % 5 == 0)
        k.b[k.len++] = 0x00;
    return k;
}

/* Bag fingerprints collide on purpose: same() must decide. */
static uint64_t fp_of(enum store_kind kind, uint32_t vid)
{
    return kind == STORE_SET ? 0 : vid % 7;
}

static bool same_obj(void *ctx, const rec_t *r)
{
    const rec_in_t *in = ctx;
    return r->vlen == in->vlen && memcmp(r->val, in->val, r->vlen) == 0;
}

static bool match_vid(void *ctx, const rec_t *r)
{
    return vid_of(r) == *(const uint32_t *)ctx;
}

/* Not a permanent key's first object. */
static bool is_added(void *ctx, const rec_t *r)
{
    (void)ctx;
    return vid_of(r) != 0;
}

typedef struct pos {
    unsigned char b[POS_MAX];
    size_t len;
} pos_t;

/* The sort key of the order a store names, worked out here from the name. */
static pos_t expected_sort_key(const char *order, const unsigned char *key, size_t klen)
{
    pos_t p = {.len = 0};
    if (strcmp(order, "hash.2") == 0) {
        uint64_t h = XXH3_64bits(key, klen), r = 0;
        for (int i = 0; i < 64; i++)
            r |= ((h >> i) & 1) << (63 - i);
        r |= 3;
        for (int i = 7; i >= 0; i--)
            p.b[p.len++] = (unsigned char)(r >> (8 * i));
        for (int i = 3; i >= 0; i--)
            p.b[p.len++] = (unsigned char)(klen >> (8 * i));
    } else {
        CHECK(strcmp(order, "key") == 0, "unknown order %s", order);
    }
    memcpy(p.b + p.len, key, klen);
    p.len += klen;
    return p;
}

static pos_t sort_key(const store_ops_t *ops, const unsigned char *key, size_t klen)
{
    pos_t p;
    p.len = store_sort_key(ops, key, klen, p.b, sizeof p.b);
    CHECK(p.len <= sizeof p.b, "sort key of %zu bytes", p.len);
    return p;
}

/* 1. store_sort_key computes the order the store names, and writes nothing
 * when the room is too small. */
static void check_order(const subject_t *sub)
{
    for (uint32_t id = 0; id < 2000; id++) {
        kbytes_t k = key_of(id);
        pos_t want = expected_sort_key(sub->ops->order, k.b, k.len);
        pos_t got = sort_key(sub->ops, k.b, k.len);
        CHECK(got.len == want.len && memcmp(got.b, want.b, got.len) == 0,
              "%s: sort key of key %u is not order %s", sub->name, id, sub->ops->order);
        unsigned char canary[POS_MAX];
        memset(canary, 0xA5, sizeof canary);
        if (want.len > 0) {
            CHECK(store_sort_key(sub->ops, k.b, k.len, canary, want.len - 1) == want.len,
                  "%s: sort_key with too little room", sub->name);
            for (size_t i = 0; i < sizeof canary; i++)
                CHECK(canary[i] == 0xA5, "%s: sort_key wrote past its room", sub->name);
        }
    }
}

/* ---- cursor calls ------------------------------------------------------- */

typedef struct bound_buf {
    pos_t p;
    store_bound_t b;
} bound_buf_t;

/* A random bound: absent, or inclusive or exclusive at the sort key of a
 * key (of nkeys), a prefix of one, a position just past one, or random
 * bytes. */
static void random_bound(const store_ops_t *ops, uint64_t *r, uint32_t nkeys, bound_buf_t *out)
{
    kbytes_t k = key_of(below(r, nkeys));
    out->p = sort_key(ops, k.b, k.len);
    switch (below(r, 8)) {
    case 0:
    case 1:
        out->b = STORE_UNBOUNDED;
        return;
    case 2:
        out->p.len = below(r, (uint32_t)out->p.len + 1);
        break;
    case 3:
        out->p.b[out->p.len++] = 0; /* the first position past the key */
        break;
    case 4:
        out->p.len = below(r, 15);
        for (size_t i = 0; i < out->p.len; i++)
            out->p.b[i] = (unsigned char)rnd(r);
        break;
    default:
        break;
    }
    out->b = (store_bound_t){.pos = out->p.b, .len = out->p.len, .inclusive = below(r, 2) == 0};
}

static bool within(const store_bound_t *lo, const store_bound_t *hi, const pos_t *p)
{
    if (lo->pos != NULL) {
        int c = bytes_cmp(p->b, p->len, lo->pos, lo->len);
        if (c < 0 || (c == 0 && !lo->inclusive))
            return false;
    }
    if (hi->pos != NULL) {
        int c = bytes_cmp(p->b, p->len, hi->pos, hi->len);
        if (c > 0 || (c == 0 && !hi->inclusive))
            return false;
    }
    return true;
}

/* A walk that goes on from section to section: the bounds it was asked for,
 * and the last key's sort key, copied before its section ends. */
typedef struct walk {
    const subject_t *sub;
    store_t *s;
    bound_buf_t lo, hi;
    enum scan_dir dir; /* as the store walks it */
    bool have_last, done;
    pos_t last;
    store_cursor_t c;
} walk_t;

static void walk_start(walk_t *w, const subject_t *sub, store_t *s, uint64_t *r, uint32_t nkeys)
{
    w->sub = sub;
    w->s = s;
    random_bound(sub->ops, r, nkeys, &w->lo);
    random_bound(sub->ops, r, nkeys, &w->hi);
    w->dir = below(r, 2) ? SCAN_BACKWARD : SCAN_FORWARD;
    if (!sub->ops->backward)
        w->dir = SCAN_FORWARD;
    w->have_last = w->done = false;
}

/* Opens the cursor for a chunk: the asked bounds, the end already walked
 * replaced by the last key, exclusive. The caller is in an epoch section. */
static void walk_open(walk_t *w, enum scan_dir asked)
{
    store_bound_t lo = w->lo.b, hi = w->hi.b;
    if (w->have_last) {
        store_bound_t after = {.pos = w->last.b, .len = w->last.len, .inclusive = false};
        if (w->dir == SCAN_FORWARD)
            lo = after;
        else
            hi = after;
    }
    store_cursor_open(&w->c, w->sub->ops, w->s, OWN_CALL, lo, hi, asked);
}

/* A step: XETS_OK with the key's objects, or XETS_END; remembers the key. */
static int walk_step(walk_t *w, const rec_t **recs, size_t *n)
{
    int rc = store_cursor_next(&w->c, recs, n);
    CHECK(rc == XETS_OK || rc == XETS_END, "%s: cursor step: %d", w->sub->name, rc);
    if (rc == XETS_END) {
        w->done = true;
        CHECK(*n == 0, "%s: an end with %zu objects", w->sub->name, *n);
        CHECK(store_cursor_next(&w->c, recs, n) == XETS_END, "%s: a step after the end",
              w->sub->name);
        return rc;
    }
    CHECK(*n > 0, "%s: a step with no objects", w->sub->name);
    for (size_t i = 1; i < *n; i++)
        CHECK(bytes_cmp((*recs)[i].key, (*recs)[i].klen, (*recs)[0].key, (*recs)[0].klen) == 0,
              "%s: a step with two keys", w->sub->name);
    pos_t p = sort_key(w->sub->ops, (*recs)[0].key, (*recs)[0].klen);
    CHECK(within(&w->lo.b, &w->hi.b, &p), "%s: key %u outside the bounds", w->sub->name,
          id_of((*recs)[0].key, (*recs)[0].klen));
    if (w->have_last) {
        int c = bytes_cmp(p.b, p.len, w->last.b, w->last.len);
        CHECK(w->dir == SCAN_FORWARD ? c > 0 : c < 0, "%s: key %u out of order (%s)",
              w->sub->name, id_of((*recs)[0].key, (*recs)[0].klen),
              w->dir == SCAN_FORWARD ? "forward" : "backward");
    }
    w->last = p;
    w->have_last = true;
    return rc;
}

/* ---- 2. against a model ------------------------------------------------- */

#define MODEL_KEYS 300
#define MODEL_OPS (40000 / SCALE)
#define MODEL_VIDS 6 /* bag objects of a key are few, so that puts repeat them */

typedef struct mkey {
    uint32_t *v; /* vids in insertion order */
    size_t n, cap;
    pos_t pos;
} mkey_t;

typedef struct model {
    const subject_t *sub;
    store_t *s;
    mkey_t key[MODEL_KEYS];
    uint32_t order[MODEL_KEYS]; /* key ids by sort key */
    uint32_t rank[MODEL_KEYS];  /* id -> index in order */
    uint32_t next_vid;
    uint64_t r;
} model_t;

static const model_t *sorting;

static int by_pos(const void *a, const void *b)
{
    const pos_t *x = &sorting->key[*(const uint32_t *)a].pos;
    const pos_t *y = &sorting->key[*(const uint32_t *)b].pos;
    return bytes_cmp(x->b, x->len, y->b, y->len);
}

static void model_init(model_t *m, const subject_t *sub, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->sub = sub;
    m->s = test_store_open(sub->ops, sub->kind);
    m->r = seed;
    m->next_vid = 1;
    for (uint32_t id = 0; id < MODEL_KEYS; id++) {
        kbytes_t k = key_of(id);
        m->key[id].pos = sort_key(sub->ops, k.b, k.len);
        m->order[id] = id;
    }
    sorting = m;
    qsort(m->order, MODEL_KEYS, sizeof *m->order, by_pos);
    for (uint32_t i = 0; i < MODEL_KEYS; i++) {
        m->rank[m->order[i]] = i;
        if (i > 0) {
            const pos_t *a = &m->key[m->order[i - 1]].pos, *b = &m->key[m->order[i]].pos;
            CHECK(bytes_cmp(a->b, a->len, b->b, b->len) < 0, "%s: two keys, one sort key",
                  sub->name);
        }
    }
}

static void model_free(model_t *m)
{
    for (uint32_t id = 0; id < MODEL_KEYS; id++)
        free(m->key[id].v);
    epoch_synchronize();
    test_store_close(m->sub->ops, m->s);
}

static size_t model_objects(const model_t *m)
{
    size_t n = 0;
    for (uint32_t id = 0; id < MODEL_KEYS; id++)
        n += m->key[id].n;
    return n;
}

static void mk_push(mkey_t *k, uint32_t vid)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 4;
        k->v = realloc(k->v, k->cap * sizeof *k->v);
        CHECK(k->v != NULL, "out of memory");
    }
    k->v[k->n++] = vid;
}

static void model_put(model_t *m, uint32_t id, uint32_t vid, enum put_mode mode)
{
    const subject_t *sub = m->sub;
    kbytes_t k = key_of(id);
    vbytes_t v = val_of(id, vid);
    rec_in_t in = {k.b, k.len, v.b, v.len, fp_of(sub->kind, vid)};
    epoch_enter();
    int rc = sub->ops->put(m->s, OWN_CALL, &in, mode, same_obj, &in);
    epoch_exit();
    mkey_t *mk = &m->key[id];
    if (mode == PUT_NEW && mk->n > 0) {
        CHECK(rc == XETS_EXISTS, "%s: put_new of present key %u: %d", sub->name, id, rc);
        return;
    }
    CHECK(rc == XETS_OK, "%s: put of key %u: %d", sub->name, id, rc);
    bool have = false;
    for (size_t i = 0; i < mk->n; i++)
        have |= mk->v[i] == vid;
    if (sub->kind == STORE_SET)
        mk->n = 0;
    if (sub->kind != STORE_BAG || !have)
        mk_push(mk, vid);
}

static void model_remove(model_t *m, uint32_t id, bool one)
{
    const subject_t *sub = m->sub;
    kbytes_t k = key_of(id);
    mkey_t *mk = &m->key[id];
    uint32_t vid = one && mk->n > 0 ? mk->v[below(&m->r, (uint32_t)mk->n)] : 0;
    epoch_enter();
    int rc = sub->ops->remove(m->s, OWN_CALL, k.b, k.len, one ? match_vid : NULL, &vid, NULL, NULL);
    epoch_exit();
    size_t kept = 0;
    for (size_t i = 0; i < mk->n; i++)
        if (one && mk->v[i] != vid)
            mk->v[kept++] = mk->v[i];
    CHECK((size_t)rc == mk->n - kept, "%s: remove of key %u took %d, model %zu", sub->name, id,
          rc, mk->n - kept);
    mk->n = kept;
}

/* Checks one step's objects against the model's key. */
static void model_check_key(const model_t *m, uint32_t id, const rec_t *recs, size_t n,
                            const char *what)
{
    const mkey_t *mk = &m->key[id];
    kbytes_t k = key_of(id);
    CHECK(n == mk->n, "%s: %s of key %u: %zu objects, model has %zu", m->sub->name, what, id, n,
          mk->n);
    for (size_t i = 0; i < n; i++) {
        CHECK(recs[i].klen == k.len && memcmp(recs[i].key, k.b, k.len) == 0,
              "%s: %s of key %u: another key's object", m->sub->name, what, id);
        uint32_t vid = vid_of(&recs[i]);
        CHECK(vid == mk->v[i], "%s: %s of key %u: object %zu is %u, model has %u (insertion "
              "order)", m->sub->name, what, id, i, vid, mk->v[i]);
    }
}

typedef struct got {
    rec_t r[256];
    size_t n;
} got_t;

static int gather(void *ctx, const rec_t *r)
{
    got_t *g = ctx;
    CHECK(g->n < 256, "a get of over 256 objects");
    g->r[g->n++] = *r;
    return 0;
}

static void model_get(model_t *m, uint32_t id)
{
    kbytes_t k = key_of(id);
    got_t g = {.n = 0};
    epoch_enter();
    int rc = m->sub->ops->get(m->s, OWN_CALL, k.b, k.len, gather, &g);
    model_check_key(m, id, g.r, g.n, "get");
    epoch_exit();
    CHECK(rc == (m->key[id].n > 0 ? XETS_OK : XETS_NOTFOUND), "%s: get of key %u: %d",
          m->sub->name, id, rc);
}

static void model_write(model_t *m)
{
    uint32_t id = below(&m->r, MODEL_KEYS);
    switch (below(&m->r, 8)) {
    case 0:
        model_remove(m, id, false);
        break;
    case 1:
        model_remove(m, id, true);
        break;
    case 2:
        model_put(m, id, m->next_vid++, PUT_NEW);
        break;
    default:
        /* bags: repeated objects; sets: a new one each time */
        model_put(m, id,
                  m->sub->kind == STORE_SET ? m->next_vid++ : 1 + below(&m->r, MODEL_VIDS),
                  PUT_REPLACE);
        break;
    }
}

/* The index in m->order of the model's next key after index i in the
 * walk's direction (i = -1 or MODEL_KEYS to start), within the bounds;
 * -1 or MODEL_KEYS at the end. */
static int model_next(const model_t *m, const walk_t *w, int i)
{
    int step = w->dir == SCAN_FORWARD ? 1 : -1;
    for (i += step; i >= 0 && i < MODEL_KEYS; i += step) {
        const mkey_t *mk = &m->key[m->order[i]];
        if (mk->n > 0 && within(&w->lo.b, &w->hi.b, &mk->pos))
            break;
    }
    return i;
}

/* A walk in chunks of 1 to 8 steps, a write or two between chunks. */
static void model_walk(model_t *m)
{
    walk_t w;
    walk_start(&w, m->sub, m->s, &m->r, MODEL_KEYS);
    /* What the caller asked for: a store without a backward order must walk
     * forward whatever it is asked. */
    enum scan_dir asked = w.dir;
    if (!m->sub->ops->backward && below(&m->r, 2))
        asked = SCAN_BACKWARD;
    int i = w.dir == SCAN_FORWARD ? -1 : MODEL_KEYS;
    while (!w.done) {
        epoch_enter();
        walk_open(&w, asked);
        for (unsigned steps = 1 + below(&m->r, 8); steps > 0 && !w.done; steps--) {
            const rec_t *recs;
            size_t n;
            int rc = walk_step(&w, &recs, &n);
            i = model_next(m, &w, i);
            bool model_end = i < 0 || i >= MODEL_KEYS;
            if (rc == XETS_END) {
                CHECK(model_end, "%s: the walk ended before key %u", m->sub->name,
                      m->order[i]);
                break;
            }
            CHECK(!model_end, "%s: the walk found key %u past the model's last",
                  m->sub->name, id_of(recs[0].key, recs[0].klen));
            model_check_key(m, m->order[i], recs, n, "cursor step");
        }
        store_cursor_close(&w.c);
        epoch_exit();
        if (below(&m->r, 2))
            model_write(m);
    }
}

/* The records of one key outgrow the cursor's own room. */
static void check_many(const subject_t *sub)
{
    if (sub->kind == STORE_SET)
        return;
    model_t *m = malloc(sizeof *m);
    CHECK(m != NULL, "out of memory");
    model_init(m, sub, 99);
    uint32_t many = 5 * STORE_CURSOR_LOCAL;
    for (uint32_t vid = 1; vid <= many; vid++) {
        model_put(m, 7, vid, PUT_REPLACE);
        if (sub->kind == STORE_DUPLICATE_BAG)
            model_put(m, 7, vid, PUT_REPLACE);
    }
    model_put(m, 8, 1, PUT_REPLACE);
    for (int round = 0; round < 20; round++)
        model_walk(m);
    model_get(m, 7);
    model_free(m);
    free(m);
}

/* n random writes, gets and walks; returns how many walks. */
static size_t model_run(model_t *m, unsigned n)
{
    size_t walks = 0;
    for (unsigned op = 0; op < n; op++) {
        uint32_t x = below(&m->r, 16);
        if (x < 10)
            model_write(m);
        else if (x < 13)
            model_get(m, below(&m->r, MODEL_KEYS));
        else
            model_walk(m), walks++;
    }
    return walks;
}

static void check_model(const subject_t *sub)
{
    model_t *m = malloc(sizeof *m);
    CHECK(m != NULL, "out of memory");
    model_init(m, sub, 0x9E3779B97F4A7C15u);
    /* An empty store ends at once, whatever the bounds and direction. */
    for (int round = 0; round < 50; round++)
        model_walk(m);
    size_t walks = model_run(m, MODEL_OPS);
    printf("  %s: %u operations, %zu walks against the model\n", sub->name, MODEL_OPS,
           walks);
    model_free(m);
    free(m);
}

/* ---- 3. concurrent writers and walkers ---------------------------------- */

#define PERMANENT 256               /* key ids 2i, i < PERMANENT: present throughout */
#define CHURN_KEYS (24000 / SCALE)  /* key ids that come and go */
#define WRITERS 2
#define WALKERS 2
#define CONCURRENT_SECONDS 1.5

static bool is_permanent(uint32_t id)
{
    return id % 2 == 0 && id < 2 * PERMANENT;
}

typedef struct shared {
    const subject_t *sub;
    store_t *s;
    atomic_bool stop;
} shared_t;

typedef struct writer {
    shared_t *sh;
    unsigned w;
    uint64_t r;
    uint32_t vid; /* this writer's objects: increasing, so insertion order shows */
    unsigned long ops;
} writer_t;

/* A writer owns the keys id % WRITERS == w, so the objects of a key are
 * added by one thread, vids increasing; it grows the store for a while,
 * then shrinks it. */
static void *writer_main(void *arg)
{
    writer_t *wr = arg;
    const subject_t *sub = wr->sh->sub;
    while (!atomic_load_explicit(&wr->sh->stop, memory_order_relaxed)) {
        bool growing = (wr->ops / 8192) % 2 == 0;
        uint32_t id = below(&wr->r, CHURN_KEYS / WRITERS) * WRITERS + wr->w;
        kbytes_t k = key_of(id);
        bool perm = is_permanent(id);
        epoch_enter();
        if (perm && sub->kind == STORE_SET) {
            /* a set's permanent key gets a new object now and then */
            vbytes_t v = val_of(id, ++wr->vid);
            rec_in_t in = {k.b, k.len, v.b, v.len, 0};
            CHECK(sub->ops->put(wr->sh->s, OWN_CALL, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        } else if (below(&wr->r, 10) < (growing ? 7u : 3u)) {
            vbytes_t v = val_of(id, ++wr->vid);
            rec_in_t in = {k.b, k.len, v.b, v.len, fp_of(sub->kind, wr->vid)};
            CHECK(sub->ops->put(wr->sh->s, OWN_CALL, &in, PUT_REPLACE, same_obj, &in) == XETS_OK, "put");
            if (sub->kind == STORE_DUPLICATE_BAG && below(&wr->r, 4) == 0)
                CHECK(sub->ops->put(wr->sh->s, OWN_CALL, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        } else if (perm) {
            /* a bag's permanent key loses the objects added after its first */
            sub->ops->remove(wr->sh->s, OWN_CALL, k.b, k.len, is_added, NULL, NULL, NULL);
        } else {
            sub->ops->remove(wr->sh->s, OWN_CALL, k.b, k.len, NULL, NULL, NULL, NULL);
        }
        epoch_exit();
        wr->ops++;
    }
    epoch_synchronize();
    return NULL;
}

typedef struct walker {
    shared_t *sh;
    uint64_t r;
    unsigned long walks, steps;
} walker_t;

static void *walker_main(void *arg)
{
    walker_t *wk = arg;
    const subject_t *sub = wk->sh->sub;
    unsigned char seen[2 * PERMANENT];
    while (!atomic_load_explicit(&wk->sh->stop, memory_order_relaxed)) {
        walk_t w;
        walk_start(&w, sub, wk->sh->s, &wk->r, CHURN_KEYS);
        memset(seen, 0, sizeof seen);
        while (!w.done) {
            epoch_enter();
            walk_open(&w, w.dir);
            for (unsigned steps = 1 + below(&wk->r, 64); steps > 0; steps--) {
                const rec_t *recs;
                size_t n;
                if (walk_step(&w, &recs, &n) == XETS_END)
                    break;
                wk->steps++;
                uint32_t id = id_of(recs[0].key, recs[0].klen);
                uint32_t prev = 0;
                for (size_t i = 0; i < n; i++) {
                    uint32_t vid = vid_of(&recs[i]);
                    /* insertion order: the writer's vids increase; a
                     * duplicate_bag may hold one twice in a row */
                    CHECK(i == 0 || vid > prev || (sub->kind == STORE_DUPLICATE_BAG &&
                                                   vid == prev),
                          "%s: key %u: object %u after %u", sub->name, id, vid, prev);
                    prev = vid;
                }
                if (is_permanent(id)) {
                    CHECK(seen[id] == 0, "%s: permanent key %u seen twice", sub->name, id);
                    seen[id] = 1;
                    CHECK(sub->kind == STORE_SET || vid_of(&recs[0]) == 0,
                          "%s: permanent key %u without its first object", sub->name, id);
                }
            }
            store_cursor_close(&w.c);
            epoch_exit();
        }
        for (uint32_t id = 0; id < 2 * PERMANENT; id += 2) {
            kbytes_t k = key_of(id);
            pos_t p = sort_key(sub->ops, k.b, k.len);
            CHECK(seen[id] || !within(&w.lo.b, &w.hi.b, &p),
                  "%s: a walk (%s) missed permanent key %u", sub->name,
                  w.dir == SCAN_FORWARD ? "forward" : "backward", id);
        }
        wk->walks++;
    }
    epoch_synchronize();
    return NULL;
}

static int count_visit(void *ctx, const rec_t *r)
{
    vid_of(r);
    ++*(size_t *)ctx;
    return 0;
}

/* Puts a first object (vid 0) for the keys from first to last, every step. */
static void shared_fill(shared_t *sh, uint32_t first, uint32_t last, uint32_t step)
{
    const subject_t *sub = sh->sub;
    for (uint32_t id = first; id <= last; id += step) {
        kbytes_t k = key_of(id);
        vbytes_t v = val_of(id, 0);
        rec_in_t in = {k.b, k.len, v.b, v.len, fp_of(sub->kind, 0)};
        epoch_enter();
        CHECK(sub->ops->put(sh->s, OWN_CALL, &in, PUT_REPLACE, NULL, NULL) == XETS_OK, "put");
        epoch_exit();
    }
}

/* A store of sub's kind shared by threads, filled as shared_fill does. */
static void shared_init(shared_t *sh, const subject_t *sub, uint32_t first, uint32_t last,
                        uint32_t step)
{
    *sh = (shared_t){.sub = sub, .s = test_store_open(sub->ops, sub->kind)};
    atomic_init(&sh->stop, false);
    shared_fill(sh, first, last, step);
}

/* Lets the n threads in t run for CONCURRENT_SECONDS, then stops them. */
static void shared_run(shared_t *sh, const pthread_t *t, unsigned n)
{
    double end = now() + CONCURRENT_SECONDS;
    struct timespec tick = {0, 10 * 1000 * 1000};
    while (now() < end)
        nanosleep(&tick, NULL);
    atomic_store(&sh->stop, true);
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

static void check_concurrent(const subject_t *sub)
{
    shared_t sh;
    shared_init(&sh, sub, 0, 2 * PERMANENT - 2, 2);
    writer_t wr[WRITERS];
    walker_t wk[WALKERS];
    pthread_t t[WRITERS + WALKERS];
    for (unsigned i = 0; i < WRITERS; i++) {
        wr[i] = (writer_t){.sh = &sh, .w = i, .r = 0x2545F4914F6CDD1Du * (i + 1)};
        CHECK(pthread_create(&t[i], NULL, writer_main, &wr[i]) == 0, "thread");
    }
    for (unsigned i = 0; i < WALKERS; i++) {
        wk[i] = (walker_t){.sh = &sh, .r = 0x9E3779B97F4A7C15u * (i + 7)};
        CHECK(pthread_create(&t[WRITERS + i], NULL, walker_main, &wk[i]) == 0, "thread");
    }
    shared_run(&sh, t, WRITERS + WALKERS);
    unsigned long writes = 0, walks = 0, steps = 0;
    for (unsigned i = 0; i < WRITERS; i++)
        writes += wr[i].ops;
    for (unsigned i = 0; i < WALKERS; i++) {
        walks += wk[i].walks;
        steps += wk[i].steps;
    }
    CHECK(walks > 0, "%s: no walk finished", sub->name);
    /* Quiet again: a whole walk sees every object. */
    size_t n = 0;
    epoch_enter();
    CHECK(store_scan(sub->ops, sh.s, OWN_CALL, NULL, 0, SCAN_FORWARD, count_visit, &n) == XETS_END,
          "scan");
    epoch_exit();
    CHECK(n == sub->ops->size(sh.s), "%s: a quiet walk saw %zu of %zu objects", sub->name, n,
          sub->ops->size(sh.s));
    printf("  %s: %lu writes, %lu walks (%lu steps) alongside\n", sub->name, writes, walks,
           steps);
    epoch_synchronize();
    test_store_close(sub->ops, sh.s);
}

/* ---- 4. a bag key is read whole ------------------------------------------ */

/* Writers take the keys of a bag through a cycle whose removes unlink
 * objects that are not adjacent (so not with one store) and whose puts add
 * back objects just removed, while walkers read them through cursors, with
 * point bounds and without: every read must be a state the cycle went
 * through, never a half-removed key nor one with an object twice. */
#define SNAP_KEYS 8
#define SNAP_ODD UINT32_MAX /* remove every odd vid */
#define SNAP_MAX 8

static const struct {
    bool put;
    uint32_t vid;
} snap_cycle[] = {{true, 1}, {true, 2}, {true, 3}, {false, SNAP_ODD},
                  {true, 1}, {true, 3}, {false, SNAP_ODD}, {false, 2}};
#define SNAP_CYCLE (sizeof snap_cycle / sizeof *snap_cycle)

typedef struct snap_state {
    uint32_t v[SNAP_MAX];
    size_t n;
} snap_state_t;

static snap_state_t snap_states[SNAP_CYCLE];

static bool is_odd(void *ctx, const rec_t *r)
{
    (void)ctx;
    return vid_of(r) % 2 == 1;
}

/* The states of a key (after its permanent object, vid 0), by running the
 * cycle on a list. */
static void snap_states_init(void)
{
    snap_state_t cur = {.n = 0};
    for (size_t i = 0; i < SNAP_CYCLE; i++) {
        snap_states[i] = cur;
        if (snap_cycle[i].put) {
            cur.v[cur.n++] = snap_cycle[i].vid;
            continue;
        }
        size_t kept = 0;
        for (size_t j = 0; j < cur.n; j++)
            if (snap_cycle[i].vid == SNAP_ODD ? cur.v[j] % 2 == 0 : cur.v[j] != snap_cycle[i].vid)
                cur.v[kept++] = cur.v[j];
        cur.n = kept;
    }
    CHECK(cur.n == 0, "the cycle does not come back");
}

static void snap_check(const subject_t *sub, const rec_t *recs, size_t n)
{
    uint32_t id = id_of(recs[0].key, recs[0].klen);
    CHECK(n >= 1 && vid_of(&recs[0]) == 0, "%s: key %u without its permanent object", sub->name,
          id);
    for (size_t j = 0; j < SNAP_CYCLE; j++) {
        bool same = snap_states[j].n == n - 1;
        for (size_t i = 1; same && i < n; i++)
            same = vid_of(&recs[i]) == snap_states[j].v[i - 1];
        if (same)
            return;
    }
    char buf[64];
    size_t at = 0;
    for (size_t i = 1; i < n && at < sizeof buf - 12; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, " %u", vid_of(&recs[i]));
    CHECK(false, "%s: key %u read as [0%s ], a state it never had", sub->name, id, buf);
}

static void *snap_writer(void *arg)
{
    shared_t *sh = arg;
    const subject_t *sub = sh->sub;
    for (size_t c = 0; !atomic_load_explicit(&sh->stop, memory_order_relaxed); c++) {
        for (uint32_t id = 1; id <= SNAP_KEYS; id++) {
            kbytes_t k = key_of(id);
            uint32_t vid = snap_cycle[c % SNAP_CYCLE].vid;
            epoch_enter();
            if (snap_cycle[c % SNAP_CYCLE].put) {
                vbytes_t v = val_of(id, vid);
                rec_in_t in = {k.b, k.len, v.b, v.len, fp_of(sub->kind, vid)};
                CHECK(sub->ops->put(sh->s, OWN_CALL, &in, PUT_REPLACE, same_obj, &in) == XETS_OK, "put");
            } else {
                CHECK(sub->ops->remove(sh->s, OWN_CALL, k.b, k.len, vid == SNAP_ODD ? is_odd : match_vid,
                                       &vid, NULL, NULL) > 0,
                      "remove");
            }
            epoch_exit();
        }
    }
    epoch_synchronize();
    return NULL;
}

static void *snap_walker(void *arg)
{
    walker_t *wk = arg;
    const subject_t *sub = wk->sh->sub;
    while (!atomic_load_explicit(&wk->sh->stop, memory_order_relaxed)) {
        kbytes_t k = key_of(1 + below(&wk->r, SNAP_KEYS));
        pos_t p = sort_key(sub->ops, k.b, k.len);
        store_bound_t at = {.pos = p.b, .len = p.len, .inclusive = true};
        bool point = below(&wk->r, 2) == 0;
        store_cursor_t c;
        epoch_enter();
        if (point)
            store_cursor_open(&c, sub->ops, wk->sh->s, OWN_CALL, at, at, SCAN_FORWARD);
        else
            store_cursor_open(&c, sub->ops, wk->sh->s, OWN_CALL, STORE_UNBOUNDED, STORE_UNBOUNDED,
                              SCAN_FORWARD);
        const rec_t *recs;
        size_t n, keys = 0;
        while (store_cursor_next(&c, &recs, &n) == XETS_OK) {
            snap_check(sub, recs, n);
            keys++;
            wk->steps++;
        }
        store_cursor_close(&c);
        epoch_exit();
        CHECK(keys == (point ? 1 : SNAP_KEYS), "%s: a walk saw %zu keys", sub->name, keys);
        wk->walks++;
    }
    epoch_synchronize();
    return NULL;
}

static void check_snapshots(const subject_t *sub)
{
    if (sub->kind == STORE_SET)
        return;
    shared_t sh;
    shared_init(&sh, sub, 1, SNAP_KEYS, 1);
    walker_t wk[WALKERS];
    pthread_t t[1 + WALKERS];
    CHECK(pthread_create(&t[0], NULL, snap_writer, &sh) == 0, "thread");
    for (unsigned i = 0; i < WALKERS; i++) {
        wk[i] = (walker_t){.sh = &sh, .r = 0x9E3779B97F4A7C15u * (i + 3)};
        CHECK(pthread_create(&t[1 + i], NULL, snap_walker, &wk[i]) == 0, "thread");
    }
    shared_run(&sh, t, 1 + WALKERS);
    unsigned long reads = 0;
    for (unsigned i = 0; i < WALKERS; i++)
        reads += wk[i].steps;
    printf("  %s: %lu reads of keys being rewritten, each a state they had\n", sub->name, reads);
    epoch_synchronize();
    test_store_close(sub->ops, sh.s);
}

/* ---- 5. lifecycle -------------------------------------------------------- */

#define INFO_READERS 2
#define CLEAR_KEYS (2000 / SCALE)
#define CLEAR_ROUNDS 40

static int keep_first(void *ctx, const rec_t *r)
{
    *(rec_t *)ctx = *r;
    return 1;
}

/* Opens a model's store and fills it (or not), then closes or drops it. */
static void check_release(const subject_t *sub, bool full, bool drop)
{
    model_t *m = malloc(sizeof *m);
    CHECK(m != NULL, "out of memory");
    model_init(m, sub, 0xC1EA2u + 2 * full + drop);
    for (unsigned i = 0; full && i < 4 * MODEL_KEYS; i++)
        model_write(m);
    store_t *s = m->s;
    m->s = NULL;
    for (uint32_t id = 0; id < MODEL_KEYS; id++)
        free(m->key[id].v);
    free(m);
    epoch_synchronize();
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    int rc = drop ? sub->ops->drop(s, &call) : sub->ops->close(s, &call);
    CHECK(rc == XETS_OK, "%s: %s: %d", sub->name, drop ? "drop" : "close", rc);
}

/* Clears a full store while this thread's epoch section holds an object it
 * read through get and one through a cursor. */
static void check_clear(const subject_t *sub)
{
    model_t *m = malloc(sizeof *m);
    CHECK(m != NULL, "out of memory");
    model_init(m, sub, 0xC1EA3u);
    size_t new_memory = sub->ops->memory(m->s);
    for (unsigned i = 0; i < 4 * MODEL_KEYS; i++)
        model_write(m);
    size_t objects = model_objects(m);
    uint32_t id = 0;
    while (m->key[id].n == 0)
        id++;
    kbytes_t k = key_of(id);
    rec_t by_get, by_cursor;
    store_cursor_t c;
    const rec_t *recs;
    size_t n;
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    epoch_enter();
    CHECK(sub->ops->get(m->s, &call, k.b, k.len, keep_first, &by_get) == XETS_OK, "get");
    store_cursor_open(&c, sub->ops, m->s, &call, STORE_UNBOUNDED, STORE_UNBOUNDED, SCAN_FORWARD);
    CHECK(store_cursor_next(&c, &recs, &n) == XETS_OK, "cursor step");
    by_cursor = recs[0];
    store_cursor_close(&c);
    store_t *old = NULL;
    size_t size = 0;
    CHECK(sub->ops->clear(m->s, &old, &size, &call) == XETS_OK, "%s: clear", sub->name);
    CHECK(size == objects, "%s: clear of %zu objects said %zu", sub->name, objects, size);
    CHECK(sub->ops->size(m->s) == 0, "%s: %zu objects after clear", sub->name,
          sub->ops->size(m->s));
    CHECK(sub->ops->memory(m->s) == new_memory, "%s: cleared, takes %zu bytes, new %zu",
          sub->name, sub->ops->memory(m->s), new_memory);
    CHECK(sub->ops->get(m->s, &call, k.b, k.len, keep_first, &by_get) == XETS_NOTFOUND,
          "%s: a key found after clear", sub->name);
    /* what the section read is still there: torn or freed bytes fail here */
    vid_of(&by_get);
    vid_of(&by_cursor);
    epoch_exit();
    for (uint32_t i = 0; i < MODEL_KEYS; i++)
        m->key[i].n = 0;
    epoch_synchronize();
    if (old != NULL)
        CHECK(sub->ops->drop(old, &call) == XETS_OK, "%s: drop of what clear left", sub->name);
    /* the cleared store is as good as new */
    for (int round = 0; round < 20; round++)
        model_walk(m);
    model_run(m, MODEL_OPS / 4);
    model_free(m);
    free(m);
}

/* Reads size, memory and stats (a step per section) until stopped, as
 * ets:info does alongside delete_all_objects. */
static void *info_reader(void *arg)
{
    shared_t *sh = arg;
    const store_ops_t *ops = sh->sub->ops;
    store_stats_walk_t w = {0};
    struct store_stats st;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        epoch_enter();
        size_t size = ops->size(sh->s);
        CHECK(size <= CLEAR_KEYS, "%s: size %zu of at most %u objects", sh->sub->name, size,
              CLEAR_KEYS);
        CHECK(ops->memory(sh->s) > 0, "memory");
        if (ops->stats != NULL && ops->stats(sh->s, &w, &st) == XETS_END) {
            CHECK(st.buckets >= 64 && (st.buckets & (st.buckets - 1)) == 0, "%s: %zu buckets",
                  sh->sub->name, st.buckets);
            memset(&w, 0, sizeof w);
        }
        epoch_exit();
    }
    epoch_synchronize();
    return NULL;
}

static void check_clear_alongside(const subject_t *sub)
{
    shared_t sh;
    shared_init(&sh, sub, 1, CLEAR_KEYS, 1);
    pthread_t t[INFO_READERS];
    for (unsigned i = 0; i < INFO_READERS; i++)
        CHECK(pthread_create(&t[i], NULL, info_reader, &sh) == 0, "thread");
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    for (int round = 0; round < CLEAR_ROUNDS; round++) {
        store_t *old = NULL;
        size_t size = 0;
        CHECK(sub->ops->clear(sh.s, &old, &size, &call) == XETS_OK, "clear");
        CHECK(size == CLEAR_KEYS, "%s: clear of %u objects said %zu", sub->name, CLEAR_KEYS,
              size);
        epoch_synchronize();
        if (old != NULL)
            CHECK(sub->ops->drop(old, &call) == XETS_OK, "drop");
        shared_fill(&sh, 1, CLEAR_KEYS, 1);
    }
    atomic_store(&sh.stop, true);
    for (unsigned i = 0; i < INFO_READERS; i++)
        pthread_join(t[i], NULL);
    epoch_synchronize();
    test_store_close(sub->ops, sh.s);
}

static void check_lifecycle(const subject_t *sub)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *s = NULL;
    CHECK(sub->ops->open(&(store_options_t){.kind = sub->kind, .dir = "/tmp"}, &s, &call) ==
                  XETS_BADARG &&
              s == NULL,
          "%s: a store in memory took a directory", sub->name);
    for (int full = 0; full < 2; full++)
        for (int drop = 0; drop < 2; drop++)
            check_release(sub, full, drop);
    check_clear(sub);
    check_clear_alongside(sub);
    printf("  %s: open, close, drop, clear (%d alongside info readers)\n", sub->name,
           CLEAR_ROUNDS);
}

int main(void)
{
    double t0 = now();
    snap_states_init();
    for (size_t i = 0; i < sizeof subjects / sizeof *subjects; i++) {
        const subject_t *sub = &subjects[i];
        check_order(sub);
        check_many(sub);
        check_model(sub);
        check_concurrent(sub);
        check_snapshots(sub);
        check_lifecycle(sub);
    }
    printf("store_contract_test: ok (%.1f s)\n", now() - t0);
    return 0;
}
