/* See fault_store.h. Every operation delegates to a hash table inside,
 * after asking whether it is the one armed. */
#include "fault_store.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "call.h"
#include "epoch.h"
#include "status.h"

#define INNER (&hash_table_ops)

struct store {
    store_t *inner;
    /* Per operation: 0, or 1 + the fault_kind it answers next. */
    atomic_int armed[FAULT_OPS];
};

static atomic_ulong log_dirty_io, log_elsewhere, log_in_section;

void fault_store_arm(store_t *s, enum fault_op op, enum fault_kind kind)
{
    atomic_store(&s->armed[op], 1 + (int)kind);
}

fault_log_t fault_store_log(void)
{
    return (fault_log_t){atomic_load(&log_dirty_io), atomic_load(&log_elsewhere),
                         atomic_load(&log_in_section)};
}

/* The request of XETS_NEED_IO: its arg is allocated, so that the leak
 * check of the suites sees a request that is neither run nor dropped. */
typedef struct request {
    bool fails;
} request_t;

static int request_run(void *arg, xets_call_t *call)
{
    request_t *r = arg;
    bool fails = r->fails;
    free(r);
    atomic_fetch_add(call_thread(call) == CALL_DIRTY_IO ? &log_dirty_io : &log_elsewhere, 1);
    if (epoch_in_section())
        atomic_fetch_add(&log_in_section, 1);
    return fails ? call_fail(call, XETS_IO, "read", "fault", 4096, EIO) : XETS_OK;
}

/* XETS_OK if op is not armed, else what it is armed to answer (once). */
static int fault(store_t *s, enum fault_op op, xets_call_t *call)
{
    int armed = atomic_exchange(&s->armed[op], 0);
    if (armed == 0)
        return XETS_OK;
    switch ((enum fault_kind)(armed - 1)) {
    case FAULT_IO:
        return call_fail(call, XETS_IO, "read", "fault", 4096, EIO);
    case FAULT_CORRUPT:
        return call_fail(call, XETS_CORRUPT, "read", "fault", 8192, 0);
    default: {
        request_t *r = malloc(sizeof *r);
        if (r == NULL)
            return XETS_NOMEM;
        r->fails = armed - 1 == FAULT_NEED_IO_FAILS;
        call->io = (call_io_t){.run = request_run, .drop = free, .arg = r};
        return XETS_NEED_IO;
    }
    }
}

static size_t fs_sort_key(const unsigned char *key, size_t klen, unsigned char *out, size_t cap)
{
    return INNER->sort_key(key, klen, out, cap);
}

static int fs_open(const store_options_t *o, store_t **out, xets_call_t *call)
{
    store_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return XETS_NOMEM;
    int st = INNER->open(o, &s->inner, call);
    if (st != XETS_OK)
        free(s);
    else
        *out = s;
    return st;
}

static int fs_close(store_t *s, xets_call_t *call)
{
    int st = INNER->drop(s->inner, call);
    free(s);
    return st;
}

/* What the inner store held goes to a fault store of its own, so that
 * the reaper drops it through these ops. */
static int fs_clear(store_t *s, store_t **old, size_t *size, xets_call_t *call)
{
    store_t *husk = calloc(1, sizeof *husk);
    if (husk == NULL)
        return XETS_NOMEM;
    int st = INNER->clear(s->inner, &husk->inner, size, call);
    if (st != XETS_OK || husk->inner == NULL) {
        free(husk);
        husk = NULL;
    }
    *old = husk;
    return st;
}

static int fs_put(store_t *s, xets_call_t *call, const rec_in_t *in, enum put_mode mode,
                  pred_fn same, void *ctx)
{
    int st = fault(s, FAULT_PUT, call);
    return st != XETS_OK ? st : INNER->put(s->inner, call, in, mode, same, ctx);
}

static int fs_get(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen,
                  visit_fn visit, void *ctx)
{
    int st = fault(s, FAULT_GET, call);
    return st != XETS_OK ? st : INNER->get(s->inner, call, key, klen, visit, ctx);
}

static int fs_remove(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen,
                     pred_fn match, void *mctx, visit_fn removed, void *rctx)
{
    int st = fault(s, FAULT_REMOVE, call);
    return st != XETS_OK ? st
                         : INNER->remove(s->inner, call, key, klen, match, mctx, removed, rctx);
}

static int fs_update(store_t *s, xets_call_t *call, const unsigned char *key, size_t klen,
                     update_fn fn, void *ctx)
{
    int st = fault(s, FAULT_UPDATE, call);
    return st != XETS_OK ? st : INNER->update(s->inner, call, key, klen, fn, ctx);
}

/* The cursor's place is the inner store's: the step runs on it. */
static int fs_cursor_next(store_cursor_t *c)
{
    store_t *s = c->s;
    int st = fault(s, FAULT_CURSOR, c->call);
    if (st != XETS_OK)
        return st;
    c->s = s->inner;
    st = INNER->cursor_next(c);
    c->s = s;
    return st;
}

static size_t fs_size(store_t *s)
{
    return INNER->size(s->inner);
}

static size_t fs_memory(store_t *s)
{
    return sizeof *s + INNER->memory(s->inner);
}

const store_ops_t fault_store_ops = {
    .order = "hash.2",
    .may_need_io = true,
    .backward = false,
    .sort_key = fs_sort_key,
    .open = fs_open,
    .close = fs_close,
    .drop = fs_close,
    .clear = fs_clear,
    .put = fs_put,
    .get = fs_get,
    .remove = fs_remove,
    .update = fs_update,
    .cursor_next = fs_cursor_next,
    .size = fs_size,
    .memory = fs_memory,
};
