/* See quiesce.h. */
#include "quiesce.h"

#include <stdbool.h>
#include <time.h>

#include "alloc_count.h"
#include "epoch.h"
#include "reaper.h"

/* The dirty calls of one round meet here. */
static ErlNifMutex *lock;
static ErlNifSInt64 round_id; /* under lock */
static unsigned arrived;      /* under lock */

int quiesce_init(void)
{
    lock = enif_mutex_create("xets_quiesce");
    return lock != NULL ? 0 : -1;
}

ERL_NIF_TERM quiesce_normal_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    epoch_synchronize();
    return enif_make_atom(env, "ok");
}

ERL_NIF_TERM quiesce_dirty_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    ErlNifSInt64 round;
    unsigned n;
    if (!enif_get_int64(env, argv[0], &round) || !enif_get_uint(env, argv[1], &n))
        return enif_make_badarg(env);
    epoch_synchronize();
    ErlNifTime give_up = enif_monotonic_time(ERL_NIF_MSEC) + 2000;
    enif_mutex_lock(lock);
    if (round_id != round) {
        round_id = round;
        arrived = 0;
    }
    arrived++;
    /* Holding this thread until the others arrive is what sends each call
     * of the round to a thread of its own. (ErlNifCond has no timed wait:
     * the waiters look every millisecond.) */
    bool met;
    while (!(met = round_id != round || arrived >= n) &&
           enif_monotonic_time(ERL_NIF_MSEC) < give_up) {
        enif_mutex_unlock(lock);
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        enif_mutex_lock(lock);
    }
    enif_mutex_unlock(lock);
    return enif_make_atom(env, met ? "ok" : "timeout");
}

ERL_NIF_TERM reaper_drain_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    reaper_drain();
    return enif_make_atom(env, "ok");
}

ERL_NIF_TERM alloc_stats_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    long long blocks, bytes;
    alloc_count_read(&blocks, &bytes);
    return enif_make_tuple2(env, enif_make_int64(env, blocks), enif_make_int64(env, bytes));
}
