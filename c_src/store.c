/* What every store shares above its cursor (store.h) that is not inline
 * there: growing the records a step fills, sort keys, and store_scan, the
 * push traversal first/next, chunks, select and slot use, written once for
 * all stores on top of their cursors.
 *
 * Thread-safety contract: a cursor and a store_recs_t belong to one thread;
 * store_scan is as safe as the store's cursor, which store.h describes. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* A sort key store_scan builds on its stack rather than in the heap: the
 * keys of nearly every table fit. */
#define SCAN_POS_LOCAL 256

bool store_recs_grow(store_recs_t *b)
{
    if (b->cap > SIZE_MAX / 2 / sizeof *b->rec)
        return false;
    rec_t *r = malloc(2 * b->cap * sizeof *r);
    if (r == NULL)
        return false;
    memcpy(r, b->rec, b->n * sizeof *r);
    if (b->rec != b->local)
        free(b->rec);
    b->rec = r;
    b->cap *= 2;
    return true;
}

size_t store_sort_key(const store_ops_t *ops, const unsigned char *key, size_t klen,
                      unsigned char *out, size_t cap)
{
    if (ops->sort_key != NULL)
        return ops->sort_key(key, klen, out, cap);
    if (klen <= cap && klen > 0)
        memcpy(out, key, klen);
    return klen;
}

/* store_scan's walk of c: each step's objects visited as it comes. */
static int scan(store_cursor_t *c, visit_fn visit, void *ctx)
{
    const rec_t *r;
    size_t n;
    bool stop = false;
    int rc = XETS_END;
    while (!stop && (rc = store_cursor_next(c, &r, &n)) == XETS_OK)
        for (size_t i = 0; i < n; i++)
            stop |= visit(ctx, &r[i]) != 0;
    return stop ? XETS_OK : rc;
}

/* store_scan's walk of a store that may need I/O: a step is visited once
 * the next one is taken, so that when the next one asks for I/O
 * (XETS_NEED_IO) after objects were visited, the scan can stop there
 * rather than have them all visited again when the call is redone: the
 * last step is visited with the call's deadline passed (call.h), and a
 * visitor that stops there ends the scan as at any deadline, the request
 * dropped; the next call starts with the missing block, and each call
 * makes progress whatever the cache can hold. A visitor that will not
 * stop there (one that gathers a bag's keys whole, and knows a key whole
 * only when the next begins) gets XETS_NEED_IO with every key visited
 * whole: it may end its chunk after the last one itself (traverse.c,
 * select.c), or have the call redone. */
static int scan_ahead(store_cursor_t *c, xets_call_t *call, visit_fn visit, void *ctx)
{
    store_recs_t held;
    store_recs_init(&held);
    const rec_t *r;
    size_t n;
    bool stop = false;
    int rc;
    while ((rc = store_cursor_next(c, &r, &n)) == XETS_OK || held.n > 0) {
        bool last = rc != XETS_OK;
        int64_t deadline = call->deadline;
        if (last && rc == XETS_NEED_IO)
            call->deadline = 0;
        for (size_t i = 0; i < held.n; i++) /* all of the key's, stop or not */
            stop |= visit(ctx, &held.rec[i]) != 0;
        held.n = 0;
        call->deadline = deadline;
        if (stop || last)
            break;
        while (held.cap < n)
            if (!store_recs_grow(&held)) {
                store_recs_free(&held);
                return XETS_NOMEM;
            }
        memcpy(held.rec, r, n * sizeof *r);
        held.n = n;
    }
    store_recs_free(&held);
    if (stop && rc == XETS_NEED_IO)
        call_io_drop(call);
    return stop ? XETS_OK : rc;
}

int store_scan(const store_ops_t *ops, store_t *s, xets_call_t *call, const unsigned char *after,
               size_t alen,
               enum scan_dir dir, visit_fn visit, void *ctx)
{
    if (!ops->backward)
        dir = SCAN_FORWARD;
    unsigned char local[SCAN_POS_LOCAL], *pos = NULL;
    store_bound_t from = STORE_UNBOUNDED;
    if (after != NULL && ops->sort_key == NULL) {
        from = (store_bound_t){.pos = after, .len = alen, .inclusive = false};
    } else if (after != NULL) {
        size_t len = ops->sort_key(after, alen, local, sizeof local);
        pos = len <= sizeof local ? local : malloc(len);
        if (pos == NULL)
            return XETS_NOMEM;
        if (pos != local)
            ops->sort_key(after, alen, pos, len);
        from = (store_bound_t){.pos = pos, .len = len, .inclusive = false};
    }
    store_cursor_t c;
    if (dir == SCAN_FORWARD)
        store_cursor_open(&c, ops, s, call, from, STORE_UNBOUNDED, dir);
    else
        store_cursor_open(&c, ops, s, call, STORE_UNBOUNDED, from, dir);
    int rc = ops->may_need_io ? scan_ahead(&c, call, visit, ctx) : scan(&c, visit, ctx);
    store_cursor_close(&c);
    if (pos != NULL && pos != local)
        free(pos);
    return rc;
}
