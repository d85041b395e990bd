/* How much one NIF call over many objects (a traversal's or a select's
 * chunk) may do before it returns with a cursor: at most CHUNK_BYTES of
 * objects, and about CHUNK_USEC, whatever its objects cost (cold caches,
 * long objects, a busy machine). The clock is read every CLOCK_EVERY
 * objects. The call then stays well within the millisecond of a time
 * slice, which xets_nif.c charges to the caller. */
#ifndef XETS_CHUNK_H
#define XETS_CHUNK_H

#include <erl_nif.h>
#include <stdbool.h>
#include <stddef.h>

#define CHUNK_BYTES (256 * 1024)
#define CHUNK_USEC 500
#define CLOCK_EVERY 256

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
