/* Throughput of hash_table.c without the BEAM: single-threaded put, get and
 * remove of 1M 9-byte keys in a set, gets of a bag of the same keys (its
 * reads are snapshots of a key's objects), traversals of both (one scan in
 * one section; chunks of 1000 objects resumed after their last key, as
 * tab2list and select run; one key per call, as next/2), then a 10/10/80 put/remove/get
 * mix on 1, 2 and 4 threads over the set's keys, half of them present. Each
 * operation runs in its own epoch section, as the NIF glue runs it. Prints
 * ops/s, and for bag gets and for the mix the ratio to set gets and to one
 * thread measured in the same run. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "epoch.h"
#include "status.h"
#include "store.h"
#include "test_store.h"

#define NKEYS 1000000u
#define KLEN 9
#define VLEN 16
#define MIX_SECONDS 1.5

static const store_ops_t *ops = &hash_table_ops;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void make_key(unsigned char *k, uint32_t i)
{
    char tmp[KLEN + 1];
    snprintf(tmp, sizeof tmp, "k%08u", i);
    memcpy(k, tmp, KLEN);
}

static unsigned char keys[NKEYS][KLEN];
static const unsigned char val[VLEN] = "0123456789abcdef";

static int put(store_t *s, uint32_t i)
{
    /* fp 0: a bag takes it for the fingerprint of every object, and with no
     * same() callback then keeps one object per key, as a set does. */
    rec_in_t in = {keys[i], KLEN, val, VLEN, 0};
    epoch_enter();
    int rc = ops->put(s, OWN_CALL, &in, PUT_REPLACE, NULL, NULL);
    epoch_exit();
    return rc;
}

static int count_visit(void *ctx, const rec_t *r)
{
    (void)r;
    ++*(unsigned *)ctx;
    return 0;
}

static int get(store_t *s, uint32_t i, unsigned *found)
{
    epoch_enter();
    int rc = ops->get(s, OWN_CALL, keys[i], KLEN, count_visit, found);
    epoch_exit();
    return rc;
}

static int del(store_t *s, uint32_t i)
{
    epoch_enter();
    int rc = ops->remove(s, OWN_CALL, keys[i], KLEN, NULL, NULL, NULL, NULL);
    epoch_exit();
    return rc;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void report(const char *what, double ops_done, double secs)
{
    printf("  %-28s %12.0f ops/s\n", what, ops_done / secs);
}

/* Random gets of keys all present; returns ops/s. */
static double random_gets(store_t *s)
{
    unsigned found = 0;
    uint64_t x = 88172645463325252u;
    double t = now();
    for (uint32_t i = 0; i < NKEYS; i++)
        get(s, (uint32_t)(rnd(&x) % NKEYS), &found);
    double rate = NKEYS / (now() - t);
    if (found != NKEYS) {
        fprintf(stderr, "bench: %u of %u gets found their key\n", found, NKEYS);
        exit(1);
    }
    return rate;
}

typedef struct walk {
    unsigned long n;
    unsigned every; /* stop after every this many objects; 0: never */
    unsigned char last[KLEN];
} walk_t;

static int walk_visit(void *ctx, const rec_t *r)
{
    walk_t *w = ctx;
    if (++w->n % (w->every ? w->every : ULONG_MAX) != 0)
        return 0;
    memcpy(w->last, r->key, KLEN);
    return 1;
}

/* Traversals of s (one object per key) in calls that stop after every
 * `every` objects, each call in its own epoch section, resuming after the
 * key it stopped at. Returns objects/s, the best of WALK_ROUNDS: a walk
 * that other processes interrupt only looks slower. */
#define WALK_ROUNDS 5
static double walk(store_t *s, unsigned every)
{
    double best = 0;
    for (int round = 0; round < WALK_ROUNDS; round++) {
        walk_t w = {.every = every};
        double t = now();
        int rc;
        do {
            epoch_enter();
            rc = store_scan(ops, s, OWN_CALL, w.n > 0 ? w.last : NULL, KLEN, SCAN_FORWARD, walk_visit, &w);
            epoch_exit();
        } while (rc == XETS_OK);
        double rate = (double)w.n / (now() - t);
        if (w.n != ops->size(s)) {
            fprintf(stderr, "bench: a traversal saw %lu of %zu objects\n", w.n, ops->size(s));
            exit(1);
        }
        best = rate > best ? rate : best;
    }
    return best;
}

static void walks(store_t *s, const char *type)
{
    char what[64];
    snprintf(what, sizeof what, "%s scan (one call)", type);
    printf("  %-28s %12.0f objects/s\n", what, walk(s, 0));
    snprintf(what, sizeof what, "%s scan (chunks of 1000)", type);
    printf("  %-28s %12.0f objects/s\n", what, walk(s, 1000));
    snprintf(what, sizeof what, "%s next (a key per call)", type);
    printf("  %-28s %12.0f objects/s\n", what, walk(s, 1));
}

static void single_thread(void)
{
    store_t *s = test_store_open(ops, STORE_SET);
    double t = now();
    for (uint32_t i = 0; i < NKEYS; i++)
        put(s, i);
    report("put (growing from empty)", NKEYS, now() - t);
    printf("  %-28s %12.1f bytes/object\n", "memory", (double)ops->memory(s) / NKEYS);

    double set_gets = random_gets(s);
    printf("  %-28s %12.0f ops/s\n", "get (random, all present)", set_gets);

    t = now();
    for (uint32_t i = 0; i < NKEYS; i++)
        put(s, i);
    report("put (replacing)", NKEYS, now() - t);
    walks(s, "set");

    t = now();
    for (uint32_t i = 0; i < NKEYS; i++)
        del(s, i);
    report("remove (shrinking to empty)", NKEYS, now() - t);
    if (ops->size(s) != 0) {
        fprintf(stderr, "bench: size %zu after removing every key\n", ops->size(s));
        exit(1);
    }
    epoch_synchronize();
    test_store_close(ops, s);

    s = test_store_open(ops, STORE_BAG);
    for (uint32_t i = 0; i < NKEYS; i++)
        put(s, i);
    double bag_gets = random_gets(s);
    printf("  %-28s %12.0f ops/s  (%.2fx set)\n", "bag get (one object a key)", bag_gets,
           bag_gets / set_gets);
    walks(s, "bag");
    epoch_synchronize();
    test_store_close(ops, s);
}

typedef struct {
    store_t *s;
    atomic_bool *stop;
    uint64_t seed;
    unsigned long ops;
} mix_t;

static void *mix_main(void *arg)
{
    mix_t *m = arg;
    uint64_t x = m->seed;
    unsigned found = 0;
    unsigned long n = 0;
    while (!atomic_load_explicit(m->stop, memory_order_relaxed)) {
        for (int i = 0; i < 256; i++) {
            uint64_t r = rnd(&x);
            uint32_t k = (uint32_t)((r >> 8) % NKEYS);
            unsigned op = (unsigned)(r & 0xff) % 10;
            if (op == 0)
                put(m->s, k);
            else if (op == 1)
                del(m->s, k);
            else
                get(m->s, k, &found);
        }
        n += 256;
    }
    m->ops = n;
    epoch_synchronize();
    return NULL;
}

static double mix(unsigned nthreads)
{
    store_t *s = test_store_open(ops, STORE_SET);
    for (uint32_t i = 0; i < NKEYS; i += 2)
        put(s, i);
    atomic_bool stop;
    atomic_init(&stop, false);
    mix_t m[8];
    pthread_t th[8];
    double t = now();
    for (unsigned i = 0; i < nthreads; i++) {
        m[i] = (mix_t){s, &stop, 0x9E3779B97F4A7C15u * (i + 1), 0};
        pthread_create(&th[i], NULL, mix_main, &m[i]);
    }
    struct timespec d = {(time_t)MIX_SECONDS, (long)((MIX_SECONDS - (time_t)MIX_SECONDS) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, true);
    unsigned long total = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        total += m[i].ops;
    }
    double rate = (double)total / (now() - t);
    epoch_synchronize();
    test_store_close(ops, s);
    return rate;
}

int main(void)
{
    for (uint32_t i = 0; i < NKEYS; i++)
        make_key(keys[i], i);
    printf("hash_table_bench: %u keys of %d bytes, %d-byte values; set unless said\n", NKEYS, KLEN,
           VLEN);
    single_thread();
    printf("  10/10/80 put/remove/get, %u keys, half present, %.1f s each:\n", NKEYS, MIX_SECONDS);
    double one = 0;
    const unsigned threads[] = {1, 2, 4};
    for (unsigned i = 0; i < 3; i++) {
        double r = mix(threads[i]);
        if (threads[i] == 1)
            one = r;
        printf("  %u thread%s %27.0f ops/s  (%.2fx one thread)\n", threads[i],
               threads[i] == 1 ? " " : "s", r, r / one);
    }
    return 0;
}
