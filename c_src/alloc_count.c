/* xets's own heap use, counted (alloc_count.h).
 *
 * The NIF is linked with -Wl,--wrap for malloc, calloc, realloc,
 * aligned_alloc and free (c_src/Makefile): every call that xets's C code
 * makes to them comes here, and nothing else does (the BEAM's allocations
 * and those inside libraries are not xets's). The plain C tests link the
 * core without this file and without the wrapping.
 *
 * Each thread counts in a slot of its own, made on its first allocation
 * and never freed (the BEAM's threads live as long as the VM): one writer
 * per slot, so a count is a relaxed load and store, no atomic
 * read-modify-write, and readers sum the slots with relaxed loads. Sizes
 * are malloc_usable_size's, at allocation and at free alike, so a block
 * counts the same both ways without a header. A block freed by another
 * thread than the one that made it moves the counts between slots; only
 * the sums mean anything. */
#include "alloc_count.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
void __real_free(void *p);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
void __wrap_free(void *p);

typedef struct slot {
    atomic_llong blocks, bytes;
    struct slot *next; /* immutable once published */
} slot_t;

static _Atomic(slot_t *) slots;
static _Thread_local slot_t *mine;

static slot_t *my_slot(void)
{
    if (mine == NULL) {
        /* Not counted: the slot is the counter's, not xets's. */
        slot_t *s = __real_calloc(1, sizeof *s);
        if (s == NULL)
            return NULL;
        s->next = atomic_load_explicit(&slots, memory_order_relaxed);
        /* Release: a reader that finds s sees its next. */
        while (!atomic_compare_exchange_weak_explicit(&slots, &s->next, s, memory_order_release,
                                                      memory_order_relaxed))
            ;
        mine = s;
    }
    return mine;
}

/* Single writer: a plain add through relaxed accesses. */
static void add(atomic_llong *c, long long d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static void count(void *p, int sign)
{
    slot_t *s;
    if (p == NULL || (s = my_slot()) == NULL)
        return;
    add(&s->blocks, sign);
    add(&s->bytes, sign * (long long)malloc_usable_size(p));
}

void *__wrap_malloc(size_t size)
{
    void *p = __real_malloc(size);
    count(p, 1);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = __real_calloc(n, size);
    count(p, 1);
    return p;
}

void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
    void *p = __real_aligned_alloc(alignment, size);
    count(p, 1);
    return p;
}

void *__wrap_realloc(void *p, size_t size)
{
    if (p != NULL && size == 0) {
        /* glibc frees p and returns NULL. */
        __wrap_free(p);
        return NULL;
    }
    size_t before = p != NULL ? malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, size);
    if (q == NULL)
        return NULL; /* p is as it was */
    slot_t *s = my_slot();
    if (s != NULL) {
        if (p == NULL)
            add(&s->blocks, 1);
        add(&s->bytes, (long long)malloc_usable_size(q) - (long long)before);
    }
    return q;
}

void __wrap_free(void *p)
{
    count(p, -1);
    __real_free(p);
}

void alloc_count_read(long long *blocks, long long *bytes)
{
    long long n = 0, b = 0;
    for (slot_t *s = atomic_load_explicit(&slots, memory_order_acquire); s != NULL; s = s->next) {
        n += atomic_load_explicit(&s->blocks, memory_order_relaxed);
        b += atomic_load_explicit(&s->bytes, memory_order_relaxed);
    }
    *blocks = n;
    *bytes = b;
}
