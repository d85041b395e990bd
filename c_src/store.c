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
    const rec_t *r;
    size_t n;
    bool stop = false;
    int rc = XETS_END;
    while (!stop && (rc = store_cursor_next(&c, &r, &n)) == XETS_OK) {
        for (size_t i = 0; i < n; i++)
            stop |= visit(ctx, &r[i]) != 0;
    }
    store_cursor_close(&c);
    if (pos != NULL && pos != local)
        free(pos);
    return stop ? XETS_OK : rc;
}
