/* How much one NIF call may do on a normal scheduler. Over many objects (a
 * traversal's or a select's chunk) it returns with a cursor after at most
 * CHUNK_BYTES of objects, and about CHUNK_USEC, whatever its objects cost
 * (cold caches, long objects, a busy machine). The clock is read every
 * CLOCK_EVERY objects. The call then stays well within the millisecond of
 * a time slice, which xets_nif.c charges to the caller. One object too
 * long to copy within that goes to a dirty scheduler, as does a bag key
 * that a delete or replace must decide in one call (select.c) when it has
 * more objects than a chunk takes. */
#ifndef XETS_CHUNK_H
#define XETS_CHUNK_H

#include <erl_nif.h>
#include <stdbool.h>
#include <stddef.h>

#define CHUNK_BYTES (256 * 1024)
#define CHUNK_USEC 500
#define CLOCK_EVERY 256

/* An object whose stored form is longer than this is copied in or out on
 * a dirty scheduler: a copy of a megabyte, into pages just allocated,
 * takes a few hundred microseconds. (ets holds no scheduler for a long
 * binary: it shares it instead of copying it.) */
#define DIRTY_OBJECT_BYTES (1024 * 1024)

/* Whether the calling thread must leave a copy of len bytes to a dirty
 * scheduler (the call then answers XETS_DIRTY, or redoes itself there). */
static inline bool too_long_here(size_t len)
{
    return len > DIRTY_OBJECT_BYTES && enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
}

static inline ErlNifTime chunk_deadline(void)
{
    return enif_monotonic_time(ERL_NIF_USEC) + CHUNK_USEC;
}

/* Whether a chunk that has visited n objects is past its deadline. */
static inline bool chunk_late(size_t n, ErlNifTime deadline)
{
    return n % CLOCK_EVERY == 0 && enif_monotonic_time(ERL_NIF_USEC) >= deadline;
}

#endif
