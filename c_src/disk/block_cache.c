/* The block cache's queues and eviction (the policy is in block_cache.h).
 * Each queue is a doubly linked list, head the next candidate, tail the
 * newest; both under mu with the counts. */
#include "block_cache.h"

#include <pthread.h>
#include <stdlib.h>

#include "../epoch.h"

/* An entry's own bytes beside its block's, in its charge. */
#define ENTRY_OVERHEAD (sizeof(cache_entry_t) + 16)

typedef struct queue {
    cache_entry_t *head, *tail;
    size_t bytes;
} queue_t;

struct block_cache {
    atomic_uint refs;
    pthread_mutex_t mu;
    queue_t probation, protect;
    size_t bytes, entries;
    _Atomic size_t capacity;
    uint64_t evictions;
    /* Counted on every lookup, apart from the rest that is written under
     * mu. */
    _Alignas(64) atomic_uint_fast64_t hits;
    atomic_uint_fast64_t misses, in_place;
};

block_cache_t *block_cache_new(size_t capacity)
{
    block_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->capacity, capacity);
    return c;
}

void block_cache_ref(block_cache_t *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void block_cache_release(block_cache_t *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void block_cache_set_capacity(block_cache_t *c, size_t capacity)
{
    atomic_store(&c->capacity, capacity);
}

size_t block_cache_capacity(const block_cache_t *c)
{
    return atomic_load(&c->capacity);
}

cache_entry_t *block_cache_find(block_cache_t *c, _Atomic(cache_entry_t *) *slot, bool mark)
{
    cache_entry_t *e = atomic_load_explicit(slot, memory_order_acquire);
    if (e == NULL) {
        atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
        return NULL;
    }
    int m = atomic_load_explicit(&e->mark, memory_order_relaxed);
    if (m < 0 || (m == 0 && mark))
        atomic_store_explicit(&e->mark, m < 0 ? 0 : 1, memory_order_relaxed);
    if (m >= 0)
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
    return e;
}

static void entry_free(void *p)
{
    cache_entry_t *e = p;
    bytes_free(&e->block);
    free(e);
}

static queue_t *queue_of(block_cache_t *c, const cache_entry_t *e)
{
    return e->is_protected ? &c->protect : &c->probation;
}

static void unlink_entry(block_cache_t *c, cache_entry_t *e)
{
    queue_t *q = queue_of(c, e);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        q->tail = e->prev;
    e->prev = e->next = NULL;
    q->bytes -= e->charge;
}

static void append(block_cache_t *c, cache_entry_t *e, bool protect)
{
    e->is_protected = protect;
    queue_t *q = queue_of(c, e);
    e->prev = q->tail;
    e->next = NULL;
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->bytes += e->charge;
}

static void requeue(block_cache_t *c, cache_entry_t *e, bool protect)
{
    unlink_entry(c, e);
    append(c, e, protect);
}

/* Takes e out of the cache (mu held): unpublished, then freed once no
 * section can see it. */
static void evict(block_cache_t *c, cache_entry_t *e)
{
    unlink_entry(c, e);
    cache_entry_t *self = e;
    atomic_compare_exchange_strong(e->slot, &self, NULL);
    c->bytes -= e->charge;
    c->entries--;
    c->evictions++;
    epoch_retire(e, entry_free);
}

/* Evicts down to the bound (mu held). Each step either evicts, moves an
 * entry between queues clearing its mark, or passes over one it must
 * keep: a pinned one, or fresh, the one being inserted (a block larger
 * than what is left of the bound would go before its reader saw it). It
 * stops after a full round of the entries without evicting, leaving the
 * cache over its bound until they are unpinned. */
static void shrink(block_cache_t *c, const cache_entry_t *fresh)
{
    size_t capacity = atomic_load(&c->capacity);
    size_t protect_max = capacity / 100 * CACHE_PROTECTED_SHARE;
    size_t idle = 0;
    while (capacity != 0 && c->bytes > capacity && idle <= 2 * c->entries) {
        while (c->protect.bytes > protect_max && c->protect.head != NULL) {
            cache_entry_t *d = c->protect.head;
            atomic_store_explicit(&d->mark, 0, memory_order_relaxed);
            requeue(c, d, false);
        }
        cache_entry_t *e = c->probation.head != NULL ? c->probation.head : c->protect.head;
        if (e == NULL)
            break;
        int mark = atomic_load_explicit(&e->mark, memory_order_relaxed);
        if (mark > 0) {
            atomic_store_explicit(&e->mark, 0, memory_order_relaxed);
            requeue(c, e, true); /* hit since queued: protected (again) */
            idle++;
            continue;
        }
        if (e == fresh) {
            requeue(c, e, e->is_protected);
            idle++;
            continue;
        }
        int zero = 0;
        if (!atomic_compare_exchange_strong(&e->pins, &zero, -1)) {
            requeue(c, e, e->is_protected); /* pinned: passed over */
            idle++;
            continue;
        }
        evict(c, e);
        idle = 0;
    }
}

bool block_cache_has_room(block_cache_t *c, size_t len)
{
    size_t capacity = atomic_load(&c->capacity);
    pthread_mutex_lock(&c->mu);
    bool room = capacity == 0 || c->bytes + len + ENTRY_OVERHEAD <= capacity;
    pthread_mutex_unlock(&c->mu);
    return room;
}

cache_entry_t *block_cache_insert(block_cache_t *c, _Atomic(cache_entry_t *) *slot,
                                  bytes_t *block, bool requested, bool room_only)
{
    cache_entry_t *e = NULL;
    if (!room_only || block_cache_has_room(c, block->cap))
        e = malloc(sizeof *e);
    if (e == NULL) {
        bytes_free(block);
        return NULL;
    }
    *e = (cache_entry_t){.block = *block, .slot = slot, .charge = block->cap + ENTRY_OVERHEAD};
    atomic_init(&e->mark, requested ? -1 : 0);
    atomic_init(&e->pins, requested ? 1 : 0);
    *block = (bytes_t)BYTES_INIT;
    pthread_mutex_lock(&c->mu);
    cache_entry_t *first = NULL;
    bool published = atomic_compare_exchange_strong(slot, &first, e);
    if (published) {
        append(c, e, false);
        c->bytes += e->charge;
        c->entries++;
        shrink(c, e);
    } else if (requested && !block_cache_pin(first)) {
        first = NULL; /* being evicted: as good as not there */
    }
    pthread_mutex_unlock(&c->mu);
    if (published)
        return requested ? e : NULL;
    entry_free(e); /* another loader was first */
    return requested ? first : NULL;
}

bool block_cache_pin(cache_entry_t *e)
{
    int p = atomic_load(&e->pins);
    while (p >= 0)
        if (atomic_compare_exchange_weak(&e->pins, &p, p + 1))
            return true;
    return false;
}

void block_cache_unpin(cache_entry_t *e)
{
    atomic_fetch_sub(&e->pins, 1);
}

void block_cache_forget(block_cache_t *c, _Atomic(cache_entry_t *) *slot)
{
    pthread_mutex_lock(&c->mu);
    cache_entry_t *e = atomic_exchange(slot, NULL);
    if (e != NULL) {
        unlink_entry(c, e);
        c->bytes -= e->charge;
        c->entries--;
    }
    pthread_mutex_unlock(&c->mu);
    if (e != NULL)
        entry_free(e);
}

void block_cache_stats(block_cache_t *c, block_cache_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = (block_cache_stats_t){.bytes = c->bytes,
                                 .capacity = atomic_load(&c->capacity),
                                 .entries = c->entries,
                                 .evictions = c->evictions};
    pthread_mutex_unlock(&c->mu);
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->in_place = atomic_load(&c->in_place);
}

void block_cache_count_in_place(block_cache_t *c)
{
    atomic_fetch_add_explicit(&c->in_place, 1, memory_order_relaxed);
}
