/* The context of one call into the core (DESIGN.md, "The house"): what the
 * call may spend, what its thread may do, the I/O a store asks to have
 * done, and what went wrong. The glue makes one per NIF call (call_init)
 * and passes it to every store operation; a thread of xets's own makes its
 * own. BEAM-free, so that the core runs in plain C tests.
 *
 * Budget. A call on a normal scheduler returns within about a millisecond
 * (DESIGN.md, "Concurrency"): an operation over many objects (a traversal
 * or a select chunk) starts the call's clock (call_clock_start), and stops
 * with a cursor once it has taken CALL_CHUNK_BYTES of objects or passed
 * its deadline, CALL_CHUNK_USEC later, whatever its objects cost (cold
 * caches, long objects, a busy machine). The clock is read every
 * CALL_CLOCK_EVERY objects. The glue charges the time of a call whose
 * clock ran to the calling process, so that a loop of chunk calls is
 * preempted as a loop of Erlang code is. A call on one key never reads the
 * clock: two reads would cost a lookup a fifth of its time.
 *
 * Where it runs. Copying an object longer than CALL_LONG_OBJECT takes a few
 * hundred microseconds: a normal scheduler leaves it to a dirty one (the
 * operation answers XETS_DIRTY before changing anything, and the glue
 * redoes it there). Only a dirty I/O scheduler or a thread of xets's own
 * may block on a file (call_may_block).
 *
 * I/O. A store that needs something from a file that it may not read here
 * (the thread may not block, or the caller is inside an epoch section or
 * holds a lock a reader waits on) fills call->io and answers XETS_NEED_IO,
 * having changed nothing. The glue then runs call->io.run on a dirty I/O
 * scheduler, outside any epoch section, and redoes the operation from its
 * arguments; but a request marked io.here it runs first on the normal
 * scheduler itself, where a file read takes only what the OS holds in
 * memory (disk/fs.h): it answers XETS_BUSY, having consumed nothing,
 * when it would wait for the device (call_run_io leaves the request in
 * call->io), and only then goes to a dirty scheduler. call->io.arg
 * belongs to the request: run consumes it, and drop (when not NULL) frees
 * it if the request is abandoned instead.
 * XETS_NEED_IO with no request (io.run NULL) asks only for the redo where
 * the call may block. What a request loads, it keeps for the redone
 * operation in call->keep (the store's own: pinned blocks), which goes
 * with the operation from redo to redo, every request of it adding to
 * it, until the operation ends and the glue releases it
 * (call_keep_release): so that an operation whose redos each load a
 * block finds all of them however much else is loaded meanwhile, and
 * ends.
 *
 * Errors. A store whose file operation fails answers XETS_IO, one that
 * finds stored bytes malformed XETS_CORRUPT, after call_fail() has said
 * what, where and why in call->error; the glue raises
 * error({xets_io, Reason}) from it (DESIGN.md, "Errors").
 *
 * Thread-safety: a call is used by the one thread that made it. */
#ifndef XETS_CALL_H
#define XETS_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "status.h"

#define CALL_CHUNK_BYTES (256 * 1024)
#define CALL_CHUNK_USEC 500
#define CALL_CLOCK_EVERY 256
/* ets holds no scheduler for a long binary: it shares it instead of
 * copying it. A megabyte copied into pages just allocated takes a few
 * hundred microseconds. */
#define CALL_LONG_OBJECT (1024 * 1024)

enum call_thread {
    CALL_UNKNOWN,   /* not asked yet (call_thread asks) */
    CALL_NORMAL,    /* a normal scheduler */
    CALL_DIRTY_CPU, /* a dirty CPU scheduler */
    CALL_DIRTY_IO,  /* a dirty I/O scheduler */
    CALL_OWN        /* a thread of xets's own (or a plain C test) */
};

struct xets_call;

typedef struct call_io {
    /* Does the I/O; XETS_OK, or XETS_IO, XETS_CORRUPT, XETS_NOMEM with
     * call->error filled. */
    int (*run)(void *arg, struct xets_call *call);
    void (*drop)(void *arg);
    void *arg;
    bool here; /* may be tried where the call may not block (see the top) */
} call_io_t;

/* What a call keeps for its redone operation (see the top): arg, freed
 * by release; all zero when nothing. */
typedef struct call_keep {
    void *arg;
    void (*release)(void *arg);
} call_keep_t;

typedef struct call_error {
    const char *op; /* what failed: "read", "write", "fsync", "open", ... */
    char file[64];  /* the file, within its table's directory */
    uint64_t offset;
    int err; /* errno; 0 for corrupt bytes */
} call_error_t;

typedef struct xets_call {
    enum call_thread thread; /* read with call_thread() */
    /* Says where this thread is, once asked: most calls never need to
     * know (the question costs a call into the VM). */
    enum call_thread (*where)(void);
    int64_t start;    /* call_now() at call_clock_start, else 0 */
    int64_t deadline; /* past it, a chunked operation stops */
    call_io_t io;       /* filled with XETS_NEED_IO */
    call_keep_t keep;   /* what its requests loaded (see the top) */
    call_error_t error; /* filled with XETS_IO and XETS_CORRUPT */
    /* Durability the caller must wait for before it may answer (a store
     * with files in sync mode always, disk/lsm.h): the store and the
     * sequence number of the call's last write; store NULL when none. */
    struct {
        void *store;
        uint64_t seq;
    } await;
    /* The log entry a store gathers the call's writes into, between its
     * group begin and end (store.h); NULL when each write is its own. */
    void *group;
    /* The cached blocks the call holds while it reads states it writes
     * later (disk/sstable_file.h, "Pins"); NULL when it holds none. */
    struct sst_pins *pins;
} xets_call_t;

/* A call of a thread of xets's own, for the enclosing block (plain C
 * tests and benchmarks). */
#define OWN_CALL (&(xets_call_t){.thread = CALL_OWN, .deadline = INT64_MAX})

/* Monotonic microseconds. */
static inline int64_t call_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A call beginning now on a thread of the given kind, or, with
 * CALL_UNKNOWN, on one that where() tells once asked. Only the fields
 * every call reads are set: io and error are filled by whoever answers
 * XETS_NEED_IO, XETS_IO or XETS_CORRUPT. */
static inline void call_init(xets_call_t *c, enum call_thread thread,
                             enum call_thread (*where)(void))
{
    c->thread = thread;
    c->where = where;
    c->start = 0;
    c->deadline = INT64_MAX;
    c->io.run = NULL;
    c->keep.release = NULL;
    c->await.store = NULL;
    c->group = NULL;
    c->pins = NULL;
}

/* Starts the budget of an operation over many objects (see the top). */
static inline void call_clock_start(xets_call_t *c)
{
    c->start = call_now();
    c->deadline = c->start + CALL_CHUNK_USEC;
}

static inline enum call_thread call_thread(xets_call_t *c)
{
    if (c->thread == CALL_UNKNOWN)
        c->thread = c->where();
    return c->thread;
}

/* Whether this thread may copy an object of len bytes (see the top). */
static inline bool call_may_copy(xets_call_t *c, size_t len)
{
    return len <= CALL_LONG_OBJECT || call_thread(c) != CALL_NORMAL;
}

static inline bool call_may_block(xets_call_t *c)
{
    enum call_thread t = call_thread(c);
    return t == CALL_DIRTY_IO || t == CALL_OWN;
}

/* Whether an operation that has visited n objects is past its deadline
 * (a deadline of 0 has passed whatever n: store_scan sets it to stop a
 * scan at a block not cached). */
static inline bool call_late(const xets_call_t *c, size_t n)
{
    return c->deadline == 0 || (n % CALL_CLOCK_EVERY == 0 && call_now() >= c->deadline);
}

/* Runs the I/O request a store made (XETS_NEED_IO) on this thread,
 * outside any epoch section. Returns its status; on XETS_BUSY (an io.here
 * request that would have had to wait here) the request stands, still in
 * call->io. */
static inline int call_run_io(xets_call_t *c)
{
    call_io_t io = c->io;
    c->io.run = NULL;
    int st = io.run(io.arg, c);
    if (st == XETS_BUSY)
        c->io = io;
    return st;
}

/* Releases what the call keeps for its operation (see the top). */
static inline void call_keep_release(xets_call_t *c)
{
    if (c->keep.release != NULL)
        c->keep.release(c->keep.arg);
    c->keep = (call_keep_t){0};
}

/* Abandons the I/O request a store made (XETS_NEED_IO), if any: the
 * caller goes on without it. */
static inline void call_io_drop(xets_call_t *c)
{
    if (c->io.run != NULL && c->io.drop != NULL)
        c->io.drop(c->io.arg);
    c->io.run = NULL;
}

/* Records what failed, for XETS_IO (err an errno) or XETS_CORRUPT (err 0),
 * and returns that status. */
static inline int call_fail(xets_call_t *c, int status, const char *op, const char *file,
                            uint64_t offset, int err)
{
    c->error.op = op;
    /* A name longer than the field is cut: memcpy, not snprintf, whose
     * truncation warning would trap callers with names of known size. */
    size_t len = strnlen(file, sizeof c->error.file - 1);
    memcpy(c->error.file, file, len);
    c->error.file[len] = '\0';
    c->error.offset = offset;
    c->error.err = err;
    return status;
}

#endif
