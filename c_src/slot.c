/* ets:slot/2 (see op_slot). */
#include <string.h>

#include "glue.h"
#include "object.h"

/* Objects a slot call counts past before it hands a cursor back to Erlang
 * (a few hundred microseconds). */
#define SLOT_BUDGET 20000

typedef struct slot_ctx {
    ErlNifEnv *env;
    uint64_t left;     /* objects still to pass */
    unsigned budget;   /* objects this call may still pass */
    ERL_NIF_TERM found; /* [Object], once reached */
    ERL_NIF_TERM cursor;
    xets_call_t *call;
    bool too_long; /* the object found is to be copied on a dirty scheduler */
} slot_ctx_t;

static int slot_visit(void *vctx, const rec_t *r)
{
    slot_ctx_t *c = vctx;
    if (c->left == 0 && !call_may_copy(c->call, r->vlen)) {
        c->too_long = true;
        return 1;
    }
    if (c->left == 0) {
        c->found = enif_make_list1(c->env, object_decode(c->env, r));
        return 1;
    }
    c->left--;
    if (--c->budget == 0) {
        memcpy(enif_make_new_binary(c->env, r->klen, &c->cursor), r->key, r->klen);
        return 1;
    }
    return 0;
}

/* slot(Tab, I, Cursor) -> [Object] | '$end_of_table' | {continue, Left, Cursor}
 * A structure with buckets (set, bag, duplicate_bag) answers with bucket I,
 * as ETS does; slots run from 0 to the current number of buckets, which
 * changes as the table grows and shrinks. One without (ordered_set, whose
 * keys hold one object each) answers with the I-th object in table order,
 * as ETS does: counted at most SLOT_BUDGET objects per call, from Cursor
 * ('$end_of_table' for the start, else the key binary handed back with the
 * Left objects still to pass). Past the end by more than one: badarg. */
int op_slot(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    ErlNifUInt64 i;
    ErlNifBinary after;
    if (!enif_get_uint64(env, argv[1], &i) || !glue_after(env, argv[2], &after))
        return XETS_BADARG;
    call_clock_start(call);
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    store_t *s = t->store;
    if (t->ops->bucket != NULL) {
        uint64_t nbuckets;
        collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .may_stop = call};
        int st = t->ops->bucket(s, call, i, &nbuckets, object_collect, &c);
        epoch_exit();
        if (c.too_long)
            return XETS_DIRTY;
        if (st == XETS_OK)
            *out = glue_reversed(env, c.list);
        else if (st == XETS_END && i == nbuckets)
            *out = atom_end_of_table;
        else
            return st == XETS_END ? XETS_BADARG : st;
        return XETS_OK;
    }
    slot_ctx_t c = {.env = env, .left = i, .budget = SLOT_BUDGET, .found = atom_undefined,
                    .cursor = atom_undefined, .call = call};
    int st = store_scan(t->ops, s, call, after.size ? after.data : NULL, after.size, SCAN_FORWARD,
                        slot_visit, &c);
    epoch_exit();
    if (c.too_long)
        return XETS_DIRTY;
    if (st == XETS_OK && c.found != atom_undefined)
        *out = c.found;
    else if (st == XETS_OK)
        *out = enif_make_tuple3(env, atom_continue, enif_make_uint64(env, c.left), c.cursor);
    else if (st == XETS_END && c.left == 0)
        *out = atom_end_of_table;
    else
        return st == XETS_END ? XETS_BADARG : st;
    return XETS_OK;
}
