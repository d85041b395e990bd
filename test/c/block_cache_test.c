/* The block cache (disk/block_cache.h): its bound, its scan-resistant
 * policy, request loads, pins, room-only insertion, forgetting, the
 * figures; then threads finding, pinning and inserting at once (under
 * ThreadSanitizer, and ASan for the memory the epoch frees). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "disk/block_cache.h"
#include "epoch.h"
#include "rng.h"

#define BLOCK 1000
#define SLOTS 2000

static _Atomic(cache_entry_t *) slots[SLOTS];

static bytes_t block_of(size_t i)
{
    bytes_t b = BYTES_INIT;
    CHECK(bytes_reserve_to(&b, BLOCK), "memory");
    memset(b.p, (int)(i & 0xFF), BLOCK);
    b.len = BLOCK;
    return b;
}

/* Inserts block i; a requested one's entry comes back pinned, and is
 * unpinned here unless keep. Whether block i is there after. */
static bool insert_as(block_cache_t *c, size_t i, bool requested, bool room_only,
                      cache_entry_t **keep)
{
    bytes_t b = block_of(i);
    cache_entry_t *e = block_cache_insert(c, &slots[i], &b, requested, room_only);
    CHECK(requested == (e != NULL) || (!requested && e == NULL), "pinned only if requested");
    if (keep != NULL)
        *keep = e;
    else if (e != NULL)
        block_cache_unpin(e);
    return atomic_load(&slots[i]) != NULL;
}

static bool insert(block_cache_t *c, size_t i, bool requested, bool room_only)
{
    return insert_as(c, i, requested, room_only, NULL);
}

static bool cached(size_t i)
{
    return atomic_load(&slots[i]) != NULL;
}

static size_t charge(void)
{
    block_cache_t *c = block_cache_new(0);
    insert(c, 0, false, false);
    block_cache_stats_t st;
    block_cache_stats(c, &st);
    block_cache_forget(c, &slots[0]);
    block_cache_release(c);
    return st.bytes;
}

static void forget_all(block_cache_t *c)
{
    for (size_t i = 0; i < SLOTS; i++)
        block_cache_forget(c, &slots[i]);
    epoch_synchronize();
}

/* A hot set hit twice survives a scan of twenty times the bound, read
 * once each; the same set never hit does not. */
static void test_scan_resistance(void)
{
    size_t one = charge();
    for (int hit = 0; hit < 2; hit++) {
        block_cache_t *c = block_cache_new(100 * one);
        epoch_enter();
        for (size_t i = 0; i < 50; i++)
            insert(c, i, false, false);
        for (int round = 0; hit && round < 2; round++)
            for (size_t i = 0; i < 50; i++)
                CHECK(block_cache_find(c, &slots[i], true) != NULL, "hot block %zu", i);
        size_t most = 0;
        for (size_t i = 50; i < SLOTS; i++) {
            insert(c, i, true, false);
            CHECK(block_cache_find(c, &slots[i], true) != NULL, "the block loaded for the redo");
            block_cache_stats_t st;
            block_cache_stats(c, &st);
            most = st.bytes > most ? st.bytes : most;
        }
        epoch_exit();
        size_t kept = 0;
        for (size_t i = 0; i < 50; i++)
            kept += cached(i);
        block_cache_stats_t st;
        block_cache_stats(c, &st);
        CHECK(most <= 100 * one, "within the bound: %zu of %zu", most, 100 * one);
        if (hit) {
            CHECK(kept == 50, "the hot set kept whole: %zu of 50", kept);
            /* Two rounds of 50 hits; the redo's finds count as none. */
            CHECK(st.hits == 100 && st.misses == 0, "hits %llu misses %llu",
                  (unsigned long long)st.hits, (unsigned long long)st.misses);
        } else {
            CHECK(kept == 0, "blocks never hit are evicted first: %zu kept", kept);
        }
        CHECK(st.evictions == SLOTS - 100, "evictions %llu", (unsigned long long)st.evictions);
        forget_all(c);
        block_cache_stats(c, &st);
        CHECK(st.bytes == 0 && st.entries == 0, "forgotten: %zu bytes", st.bytes);
        block_cache_release(c);
    }
}

/* A hot set larger than protected's share is cycled, not kept whole: the
 * blocks hot long ago go back to probation and leave before the newest
 * hot ones. */
static void test_protected_share(void)
{
    size_t one = charge();
    block_cache_t *c = block_cache_new(100 * one);
    epoch_enter();
    for (size_t i = 0; i < 200; i++) {
        insert(c, i, false, false);
        block_cache_find(c, &slots[i], true);
    }
    for (size_t i = 200; i < 260; i++)
        insert(c, i, false, false);
    epoch_exit();
    size_t protect_max = 100 * CACHE_PROTECTED_SHARE / 100, kept = 0;
    for (size_t i = 0; i < 200; i++)
        kept += cached(i);
    CHECK(kept <= protect_max + 1, "hot blocks kept: %zu, protected holds %zu", kept, protect_max);
    CHECK(!cached(0) && cached(199), "the oldest hot block left, the newest stayed");
    forget_all(c);
    block_cache_release(c);
}

/* Pinned entries are passed over; a dead one cannot be pinned; room-only
 * insertion does not evict; a slot taken keeps its first entry. */
static void test_pins_and_room(void)
{
    size_t one = charge();
    block_cache_t *c = block_cache_new(10 * one);
    epoch_enter();
    for (size_t i = 0; i < 10; i++)
        insert(c, i, false, false);
    CHECK(!insert(c, 10, false, true), "no room: not inserted");
    CHECK(!cached(10), "and not published");
    cache_entry_t *e = block_cache_find(c, &slots[0], true);
    CHECK(e != NULL && block_cache_pin(e), "pinned");
    atomic_store(&e->mark, 0); /* as if never hit: first to go, were it not pinned */
    for (size_t i = 20; i < 60; i++)
        insert(c, i, false, false);
    CHECK(cached(0), "a pinned block stays");
    block_cache_unpin(e);
    for (size_t i = 60; i < 80; i++)
        insert(c, i, false, false);
    CHECK(!cached(0), "unpinned, it goes");
    CHECK(!block_cache_pin(e), "an evicted entry cannot be pinned");
    cache_entry_t *first = atomic_load(&slots[79]);
    CHECK(insert(c, 79, false, false) && atomic_load(&slots[79]) == first,
          "a second loader's block is dropped, the first's kept");
    epoch_exit();
    forget_all(c);
    block_cache_release(c);
}

/* A block a request loads comes in pinned, for the operation that asked
 * for it, however many are loaded after it; unpinned, it goes as any;
 * a second loader of the same block gets the first one's entry. */
static void test_request_pinned(void)
{
    size_t one = charge();
    block_cache_t *c = block_cache_new(10 * one);
    epoch_enter();
    cache_entry_t *e = NULL, *again = NULL;
    insert_as(c, 100, true, false, &e);
    CHECK(e != NULL && atomic_load(&slots[100]) == e, "a request's block, pinned");
    insert_as(c, 100, true, false, &again);
    CHECK(again == e, "a second loader pins the first one's entry");
    block_cache_unpin(again);
    for (size_t i = 0; i < 40; i++)
        insert(c, i, false, false);
    CHECK(cached(100), "pinned, it stays");
    block_cache_unpin(e);
    for (size_t i = 40; i < 60; i++)
        insert(c, i, false, false);
    CHECK(!cached(100), "unpinned, it goes");
    epoch_exit();
    forget_all(c);
    block_cache_release(c);
}

/* ---- threads ---- */

typedef struct arg {
    block_cache_t *c;
    uint64_t seed;
} arg_t;

static void *worker(void *p)
{
    arg_t *a = p;
    uint64_t r = a->seed;
    for (int n = 0; n < 20000; n++) {
        size_t i = rng_below(&r, 300);
        epoch_enter();
        cache_entry_t *e = block_cache_find(a->c, &slots[i], true);
        if (e == NULL) {
            epoch_exit();
            insert(a->c, i, true, false);
            continue;
        }
        bool pinned = rng_below(&r, 4) == 0 && block_cache_pin(e);
        CHECK(e->block.len == BLOCK && e->block.p[BLOCK - 1] == (unsigned char)(i & 0xFF),
              "a found block's bytes");
        epoch_exit();
        if (pinned) {
            CHECK(e->block.p[0] == (unsigned char)(i & 0xFF), "a pinned block outside a section");
            block_cache_unpin(e);
        }
        if (n % 256 == 0)
            epoch_poll();
    }
    epoch_thread_exit();
    return NULL;
}

static void test_threads(void)
{
    size_t one = charge();
    block_cache_t *c = block_cache_new(50 * one);
    pthread_t th[4];
    arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (arg_t){c, 1000 + (uint64_t)i};
        CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    block_cache_stats_t st;
    block_cache_stats(c, &st);
    CHECK(st.bytes <= 50 * one && st.evictions > 0 && st.hits > 0,
          "bytes %zu evictions %llu",
          st.bytes, (unsigned long long)st.evictions);
    forget_all(c);
    block_cache_release(c);
}

int main(void)
{
    test_scan_resistance();
    test_protected_share();
    test_pins_and_room();
    test_request_pinned();
    test_threads();
    epoch_synchronize();
    printf("block_cache_test: ok\n");
    return 0;
}
