/* Retirements are collected per thread in batches of RETIRE_BATCH so that
 * ck_epoch sees one deferred call per batch, not one per object, and no
 * stored object needs an embedded ck_epoch_entry_t. */
#include "epoch.h"

#include <ck_epoch.h>
#include <stdlib.h>

/* A batch stays below 1 KiB, within glibc's per-thread cache sizes: a
 * request of 1 KiB or more first consolidates every small chunk freed so
 * far (the objects the last batch retired), after which the small
 * allocations of the next writes take malloc's slow path. */
#define RETIRE_BATCH 56

/* ck_epoch orders the end of a section before the frees that waited for it
 * with inline assembly ThreadSanitizer cannot see; without being told, it
 * takes every deferred free for a race with the reads that preceded it.
 * Every section's end releases one clock and every deferred free acquires
 * it. (Premature frees are the AddressSanitizer build's to catch.) */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
static char tsan_epoch_clock;
#define SECTION_ENDS() __tsan_release(&tsan_epoch_clock)
#define FREES_BEGIN() __tsan_acquire(&tsan_epoch_clock)
#else
#define SECTION_ENDS() ((void)0)
#define FREES_BEGIN() ((void)0)
#endif

typedef struct retire_batch {
    ck_epoch_entry_t entry; /* first: the callback casts back from it */
    unsigned n;
    struct {
        void *p;
        epoch_free_fn fn;
    } item[RETIRE_BATCH];
} retire_batch_t;
_Static_assert(sizeof(retire_batch_t) < 1000, "see RETIRE_BATCH");

static ck_epoch_t global_epoch;
static _Thread_local ck_epoch_record_t *my_record;
static _Thread_local retire_batch_t *my_batch;

__attribute__((constructor)) static void epoch_global_init(void)
{
    ck_epoch_init(&global_epoch);
}

static ck_epoch_record_t *record(void)
{
    if (my_record == NULL) {
        /* Records of threads that ended are reused before new ones are made. */
        ck_epoch_record_t *r = ck_epoch_recycle(&global_epoch, NULL);
        if (r == NULL) {
            r = malloc(sizeof *r);
            if (r == NULL)
                abort();
            ck_epoch_register(&global_epoch, r, NULL);
        }
        my_record = r;
    }
    return my_record;
}

void epoch_enter(void)
{
    ck_epoch_begin(record(), NULL);
}

void epoch_exit(void)
{
    SECTION_ENDS();
    ck_epoch_end(my_record, NULL);
}

static void run_batch(ck_epoch_entry_t *e)
{
    retire_batch_t *b = (retire_batch_t *)e;
    FREES_BEGIN();
    for (unsigned i = 0; i < b->n; i++)
        b->item[i].fn(b->item[i].p);
    free(b);
}

static void flush_batch(void)
{
    if (my_batch != NULL && my_batch->n > 0) {
        ck_epoch_call(record(), &my_batch->entry, run_batch);
        my_batch = NULL;
    }
}

void epoch_retire(void *p, epoch_free_fn fn)
{
    if (my_batch == NULL) {
        my_batch = malloc(sizeof *my_batch);
        if (my_batch == NULL) {
            /* Out of memory: waiting is the only safe way to free p. */
            epoch_synchronize();
            fn(p);
            return;
        }
        my_batch->n = 0;
    }
    my_batch->item[my_batch->n].p = p;
    my_batch->item[my_batch->n].fn = fn;
    if (++my_batch->n == RETIRE_BATCH) {
        flush_batch();
        ck_epoch_poll(record());
    }
}

bool epoch_in_section(void)
{
    return my_record != NULL && ck_pr_load_uint(&my_record->active) > 0;
}

void epoch_poll(void)
{
    flush_batch();
    ck_epoch_poll(record());
}

void epoch_thread_exit(void)
{
    if (my_record == NULL)
        return;
    epoch_synchronize();
    ck_epoch_unregister(my_record);
    my_record = NULL;
}

void epoch_synchronize(void)
{
    flush_batch();
    ck_epoch_barrier(record());
    FREES_BEGIN();
}
