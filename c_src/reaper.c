#include "reaper.h"

#include <erl_nif.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "epoch.h"

typedef struct corpse {
    const store_ops_t *ops;
    store_t *store;
    bool keep_files; /* close, not drop */
    struct corpse *next;
} corpse_t;

static ErlNifMutex *lock;
static ErlNifCond *cond;
static ErlNifTid thread;
static corpse_t *queue; /* under lock */
static bool stopping;   /* under lock */
static unsigned long pushed, freed; /* under lock */

/* See reaper.h: no caller is left to hear of it. */
static void report(int st, const xets_call_t *call)
{
    if (st == XETS_IO || st == XETS_CORRUPT)
        enif_fprintf(stderr, "xets reaper: a store was released, but %s of %s at offset %lu "
                             "failed (errno %d): its files may not be as they should\n",
                     call->error.op, call->error.file, (unsigned long)call->error.offset,
                     call->error.err);
    else
        enif_fprintf(stderr, "xets reaper: a store was released with status %d\n", st);
}

static void *reaper_main(void *arg)
{
    (void)arg;
    /* This thread's epoch record now rather than at the first store, which
     * the leak check would take for a leak of that store's test. */
    epoch_poll();
    enif_mutex_lock(lock);
    for (;;) {
        while (queue == NULL && !stopping)
            enif_cond_wait(cond, lock);
        if (queue == NULL && stopping)
            break;
        corpse_t *batch = queue;
        queue = NULL;
        enif_mutex_unlock(lock);
        /* Every reader that could still see these stores entered its epoch
         * section before the store was queued. */
        epoch_synchronize();
        unsigned long n = 0;
        while (batch != NULL) {
            corpse_t *c = batch;
            batch = c->next;
            xets_call_t call;
            call_init(&call, CALL_OWN, NULL);
            int st = c->keep_files ? c->ops->close(c->store, &call)
                                   : c->ops->drop(c->store, &call);
            if (st != XETS_OK)
                report(st, &call);
            free(c);
            n++;
        }
        /* What the drops retired (a closed store's shell) is freed by
         * this thread only: now, rather than at the next batch. */
        epoch_synchronize();
        enif_mutex_lock(lock);
        freed += n;
        enif_cond_broadcast(cond);
    }
    enif_mutex_unlock(lock);
    return NULL;
}

int reaper_start(void)
{
    lock = enif_mutex_create("xets_reaper");
    cond = enif_cond_create("xets_reaper");
    if (lock == NULL || cond == NULL)
        return -1;
    stopping = false;
    return enif_thread_create("xets_reaper", &thread, reaper_main, NULL, NULL);
}

void reaper_stop(void)
{
    enif_mutex_lock(lock);
    stopping = true;
    enif_cond_broadcast(cond);
    enif_mutex_unlock(lock);
    enif_thread_join(thread, NULL);
    enif_cond_destroy(cond);
    enif_mutex_destroy(lock);
}

static void push(const store_ops_t *ops, store_t *s, bool keep_files)
{
    corpse_t *c = malloc(sizeof *c);
    if (c == NULL) {
        /* No memory to queue it: leaking is safer than freeing under readers. */
        return;
    }
    c->ops = ops;
    c->store = s;
    c->keep_files = keep_files;
    enif_mutex_lock(lock);
    c->next = queue;
    queue = c;
    pushed++;
    enif_cond_signal(cond);
    enif_mutex_unlock(lock);
}

void reaper_push(const store_ops_t *ops, store_t *s)
{
    push(ops, s, false);
}

void reaper_close(const store_ops_t *ops, store_t *s)
{
    push(ops, s, true);
}

void reaper_drain(void)
{
    enif_mutex_lock(lock);
    unsigned long target = pushed;
    while (freed < target)
        enif_cond_wait(cond, lock);
    enif_mutex_unlock(lock);
}
