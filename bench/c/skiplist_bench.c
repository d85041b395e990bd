/* Micro-benchmark of the ordered_set skiplist (skiplist.c) without the BEAM.
 *
 * Keys are 8-byte big-endian integers drawn from [0, 1,000,000). Phases:
 * one thread inserting 500,000 random keys (into an empty table: new keys,
 * index rebuilds as it grows); replacing the objects of present keys;
 * looking up random keys, first before any lookup (hints as the inserts
 * left them), then again, then present keys only and absent keys only;
 * 2 and 4 threads doing 10% insert / 10% remove / 80% lookup; a full forward
 * and a full backward scan, then both again in chunks of 1000 objects
 * resumed after their last key (as tab2list and select run) and a key per
 * call (as next/2 and prev/2). Each operation runs in its own epoch section, as
 * under the NIF glue. The baseline, measured in the same run, is a sorted
 * array of the same keys (binary search, sequential walk): what an ordered
 * structure without concurrency or updates would cost.
 *
 * The point index's hooks are weak, so that this file also links against a
 * skiplist.c without an index (for before/after runs); their lines then say
 * "n/a". */
#include "epoch.h"
#include "status.h"
#include "store.h"
#include "test_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RANGE 1000000u
#define INSERTS 500000u
#define LOOKUPS 1000000u
#define MIXED_SECONDS 1.5
#define VLEN 32

static const store_ops_t *ops = &skiplist_ops;
static store_t *tab;

/* Hooks of skiplist.c. */
__attribute__((weak)) size_t skiplist_index_bytes(store_t *s);
__attribute__((weak)) uint64_t skiplist_rebuilds(store_t *s);
__attribute__((weak)) size_t skiplist_hinted(store_t *s);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd_key(uint64_t *s)
{
    return (uint32_t)((rng_next(s) >> 32) % RANGE);
}

static void encode(unsigned char *k, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        k[i] = (unsigned char)v;
        v >>= 8;
    }
}

static int put(uint32_t key, const unsigned char *val)
{
    unsigned char k[8];
    encode(k, key);
    rec_in_t in = {.key = k, .klen = 8, .val = val, .vlen = VLEN};
    epoch_enter();
    int rc = ops->put(tab, OWN_CALL, &in, PUT_REPLACE, NULL, NULL);
    epoch_exit();
    return rc;
}

static int seen(void *ctx, const rec_t *r)
{
    (*(uint64_t *)ctx) += r->val[0];
    return 0;
}

static int get(uint32_t key, uint64_t *sink)
{
    unsigned char k[8];
    encode(k, key);
    epoch_enter();
    int rc = ops->get(tab, OWN_CALL, k, 8, seen, sink);
    epoch_exit();
    return rc;
}

static int del(uint32_t key)
{
    unsigned char k[8];
    encode(k, key);
    epoch_enter();
    int n = ops->remove(tab, OWN_CALL, k, 8, NULL, NULL, NULL, NULL);
    epoch_exit();
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static atomic_bool stop;

typedef struct {
    uint64_t seed, ops, sink;
} worker_t;

static void *mixed_main(void *arg)
{
    worker_t *w = arg;
    unsigned char val[VLEN];
    memset(val, 7, sizeof val);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 256; i++) {
            uint32_t key = rnd_key(&w->seed);
            unsigned op = (unsigned)(rng_next(&w->seed) >> 60) % 10; /* 0..9 */
            if (op == 0)
                put(key, val);
            else if (op == 1)
                del(key);
            else
                get(key, &w->sink);
        }
        w->ops += 256;
    }
    epoch_synchronize();
    return NULL;
}

static double mixed(int threads)
{
    pthread_t t[8];
    worker_t w[8];
    atomic_store(&stop, false);
    for (int i = 0; i < threads; i++) {
        w[i] = (worker_t){.seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 3)};
        pthread_create(&t[i], NULL, mixed_main, &w[i]);
    }
    double t0 = now();
    struct timespec d = {.tv_sec = (time_t)MIXED_SECONDS,
                         .tv_nsec = (long)((MIXED_SECONDS - (time_t)MIXED_SECONDS) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, true);
    uint64_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].ops;
    }
    return total / (now() - t0);
}

typedef struct {
    uint64_t n, sum;
    uint64_t every; /* stop after every this many objects; 0: never */
    unsigned char last[8];
} walk_t;

static int walk(void *ctx, const rec_t *r)
{
    walk_t *w = ctx;
    w->n++;
    w->sum += r->key[7];
    if (w->n % (w->every ? w->every : UINT64_MAX) != 0)
        return 0;
    memcpy(w->last, r->key, 8);
    return 1;
}

/* The whole table in calls that stop after every `every` objects, each in
 * its own epoch section, resuming after the key it stopped at. Returns
 * objects/s, the best of WALK_ROUNDS (a walk that other processes interrupt
 * only looks slower), or 0 if one did not see all n objects. */
#define WALK_ROUNDS 5
static double walk_chunks(enum scan_dir dir, uint64_t every, size_t n)
{
    double best = 0;
    for (int round = 0; round < WALK_ROUNDS; round++) {
        walk_t w = {.every = every};
        double t0 = now();
        int rc;
        do {
            epoch_enter();
            rc = store_scan(ops, tab, OWN_CALL, w.n > 0 ? w.last : NULL, 8, dir, walk, &w);
            epoch_exit();
        } while (rc == XETS_OK);
        if (w.n != n)
            return 0;
        double rate = w.n / (now() - t0);
        best = rate > best ? rate : best;
    }
    return best;
}

static int contains(const uint32_t *keys, size_t n, uint32_t k)
{
    return bsearch(&k, keys, n, sizeof *keys, cmp_u32) != NULL;
}

/* Lookups of LOOKUPS keys drawn with seed; with want_hits 1 or 0, only keys
 * that are (are not) in the sorted array. Returns ops/s; *hits counts. */
static double lookups(uint64_t seed, int want_hits, const uint32_t *keys, size_t n,
                      unsigned *hits, uint64_t *sink)
{
    uint32_t *q = malloc(LOOKUPS * sizeof *q);
    if (q == NULL)
        exit(1);
    for (unsigned i = 0; i < LOOKUPS; i++) {
        do
            q[i] = rnd_key(&seed);
        while (want_hits >= 0 && contains(keys, n, q[i]) != want_hits);
    }
    *hits = 0;
    double t0 = now();
    for (unsigned i = 0; i < LOOKUPS; i++)
        *hits += get(q[i], sink) == XETS_OK;
    double rate = LOOKUPS / (now() - t0);
    free(q);
    return rate;
}

int main(void)
{
    tab = test_store_open(ops, STORE_SET);
    if (tab == NULL)
        return 1;
    unsigned char val[VLEN];
    memset(val, 1, sizeof val);
    uint64_t seed = 42, sink = 0;
    uint32_t *keys = malloc(INSERTS * sizeof *keys);
    if (keys == NULL)
        return 1;

    double t0 = now();
    for (unsigned i = 0; i < INSERTS; i++) {
        keys[i] = rnd_key(&seed);
        put(keys[i], val);
    }
    double ins = INSERTS / (now() - t0);
    size_t n = ops->size(tab);
    double per = (double)ops->memory(tab) / (double)n;
    printf("insert   1 thread : %10.0f ops/s  (%zu distinct keys, %.1f bytes/object)\n", ins,
           n, per);
    if (skiplist_index_bytes != NULL)
        printf("  point index     : %.1f of those bytes/object, %llu rebuilds, %.0f%% of "
               "objects hinted\n",
               (double)skiplist_index_bytes(tab) / (double)n,
               (unsigned long long)skiplist_rebuilds(tab),
               100.0 * (double)skiplist_hinted(tab) / (double)n);
    else
        printf("  point index     : n/a\n");

    /* replacing: every key again, in the order inserted */
    memset(val, 2, sizeof val);
    t0 = now();
    for (unsigned i = 0; i < INSERTS; i++)
        put(keys[i], val);
    printf("replace  1 thread : %10.0f ops/s  (%zu keys after)\n", INSERTS / (now() - t0),
           ops->size(tab));
    if (skiplist_index_bytes != NULL)
        printf("  point index     : %.1f bytes/object, %llu rebuilds, %.0f%% of objects "
               "hinted\n",
               (double)skiplist_index_bytes(tab) / (double)n,
               (unsigned long long)skiplist_rebuilds(tab),
               100.0 * (double)skiplist_hinted(tab) / (double)n);

    /* baseline: the same distinct keys in a sorted array */
    qsort(keys, INSERTS, sizeof *keys, cmp_u32);
    size_t distinct = 0;
    for (unsigned i = 0; i < INSERTS; i++)
        if (distinct == 0 || keys[distinct - 1] != keys[i])
            keys[distinct++] = keys[i];

    unsigned hits, hits2, bhits = 0;
    double look = lookups(7, -1, keys, distinct, &hits, &sink);
    double again = lookups(7, -1, keys, distinct, &hits2, &sink);

    uint64_t lseed = 7;
    t0 = now();
    for (unsigned i = 0; i < LOOKUPS; i++)
        bhits += contains(keys, distinct, rnd_key(&lseed));
    double blook = LOOKUPS / (now() - t0);
    if (hits != bhits || hits2 != bhits || distinct != n) {
        fprintf(stderr, "disagreement with the baseline: %u, %u vs %u hits\n", hits, hits2,
                bhits);
        return 1;
    }
    printf("lookup   1 thread : %10.0f ops/s  (%.2f x sorted-array bsearch, %u%% hits)\n", look,
           look / blook, hits * 100 / LOOKUPS);
    printf("  same keys again : %10.0f ops/s\n", again);
    unsigned h1, h0;
    double only_hits = lookups(11, 1, keys, distinct, &h1, &sink);
    double only_misses = lookups(13, 0, keys, distinct, &h0, &sink);
    if (h1 != LOOKUPS || h0 != 0) {
        fprintf(stderr, "present keys not found (%u) or absent ones found (%u)\n",
                LOOKUPS - h1, h0);
        return 1;
    }
    printf("  present keys    : %10.0f ops/s\n", only_hits);
    printf("  absent keys     : %10.0f ops/s\n", only_misses);

    walk_t fw = {0}, bw = {0};
    t0 = now();
    epoch_enter();
    store_scan(ops, tab, OWN_CALL, NULL, 0, SCAN_FORWARD, walk, &fw);
    epoch_exit();
    double fscan = fw.n / (now() - t0);
    uint64_t bsum = 0;
    t0 = now();
    for (size_t i = 0; i < distinct; i++)
        bsum += keys[i] & 0xff;
    double bscan = distinct / (now() - t0 + 1e-9);
    t0 = now();
    epoch_enter();
    store_scan(ops, tab, OWN_CALL, NULL, 0, SCAN_BACKWARD, walk, &bw);
    epoch_exit();
    double rscan = bw.n / (now() - t0);
    if (fw.n != n || bw.n != n || fw.sum != bsum || bw.sum != bsum) {
        fprintf(stderr, "scan saw %llu/%llu of %zu\n", (unsigned long long)fw.n,
                (unsigned long long)bw.n, n);
        return 1;
    }
    printf("scan forward      : %10.0f rec/s  (%.3f x sorted-array walk)\n", fscan,
           fscan / bscan);
    printf("scan backward     : %10.0f rec/s  (%.2f x forward: one search per step)\n", rscan,
           rscan / fscan);
    double fchunk = walk_chunks(SCAN_FORWARD, 1000, n);
    double bchunk = walk_chunks(SCAN_BACKWARD, 1000, n);
    double fnext = walk_chunks(SCAN_FORWARD, 1, n), bnext = walk_chunks(SCAN_BACKWARD, 1, n);
    if (fchunk == 0 || bchunk == 0 || fnext == 0 || bnext == 0) {
        fprintf(stderr, "a chunked scan missed objects\n");
        return 1;
    }
    printf("  in chunks of 1000: %9.0f rec/s forward, %10.0f backward\n", fchunk, bchunk);
    printf("  a key per call  : %10.0f rec/s forward, %10.0f backward\n", fnext, bnext);

    for (int th = 2; th <= 4; th *= 2)
        printf("10/10/80 %d threads: %10.0f ops/s\n", th, mixed(th));
    printf("(final size %zu, sink %llu)\n", ops->size(tab), (unsigned long long)sink);

    test_store_close(ops, tab);
    epoch_synchronize();
    free(keys);
    return 0;
}
