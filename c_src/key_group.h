/* The objects of one bag key, to be taken newest first.
 *
 * A store visits a key's objects oldest first, the order lookup returns
 * (store.h). The traversals of ets that build a list from a bag or a
 * duplicate_bag (select and match, tab2list, foldr) take each key's
 * objects newest first, and cons: their lists hold a key's objects in
 * insertion order, and the keys in the reverse of first/next order. xets
 * does the same over its own order (README, "Result order"). A key_group
 * gathers the objects of the key a store is visiting, until the store
 * moves on to another key or the visit ends; the caller then takes them
 * from the last.
 *
 * Records point into the store: they are valid for the caller's epoch
 * section. A key_group belongs to one call on one thread, and cannot be
 * moved (it may point into itself). */
#ifndef XETS_KEY_GROUP_H
#define XETS_KEY_GROUP_H

#include <stdbool.h>
#include <string.h>

#include "status.h"
#include "store.h"

/* The records gathered, oldest first, in the growable array a cursor
 * uses (store.h): most keys of a bag hold a few objects, which need no
 * allocation. */
typedef store_recs_t key_group_t;

static inline void key_group_init(key_group_t *g)
{
    store_recs_init(g);
}

static inline void key_group_free(key_group_t *g)
{
    store_recs_free(g);
}

/* Whether r is of another key than the objects gathered: the store has
 * moved on, and the gathered key is whole. */
static inline bool key_group_ends(const key_group_t *g, const rec_t *r)
{
    return g->n > 0 &&
           (g->rec[0].klen != r->klen || memcmp(g->rec[0].key, r->key, r->klen) != 0);
}

/* Appends r. Returns XETS_OK or XETS_NOMEM. */
static inline int key_group_add(key_group_t *g, const rec_t *r)
{
    if (g->n == g->cap && !store_recs_grow(g))
        return XETS_NOMEM;
    g->rec[g->n++] = *r;
    return XETS_OK;
}

#endif
