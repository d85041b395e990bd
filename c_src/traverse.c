/* Traversals one step or one chunk at a time: first/next and their
 * reverses (a key, or a key with its objects), chunk/3 (foldl, foldr,
 * table/2) and objects/3 (tab2list/1). Each call is short (call.h) and
 * resumes from a key handed back to Erlang, through store_scan (store.h),
 * so the table may change between calls as ets allows. */
#include <string.h>

#include "glue.h"
#include "key_group.h"
#include "object.h"
#include "table_kind.h"

/* A traversal chunk stops after this many objects, or at the call's
 * budget (call.h). */
#define CHUNK_OBJECTS 1000

typedef struct chunk_ctx {
    ErlNifEnv *env;
    ERL_NIF_TERM list; /* reversed */
    unsigned count;
    size_t bytes;
    unsigned keypos;
    bool key_only;      /* first/next: collect the first key only */
    bool with_objects;  /* key_only: and that key's objects, into objects */
    ERL_NIF_TERM objects; /* reversed */
    ERL_NIF_TERM cursor;
    xets_call_t *call;
    bool too_long; /* stopped at an object to copy on a dirty scheduler */
    /* A bag traversed backward: each key's objects are taken newest first,
     * gathered here until the scan moves on (key_group.h). */
    key_group_t *group;
    bool nomem; /* the group could not grow */
} chunk_ctx_t;

/* Conses r's object onto the chunk. Returns whether the chunk is full. */
static bool chunk_take(chunk_ctx_t *c, const rec_t *r)
{
    c->list = enif_make_list_cell(c->env, object_decode(c->env, r), c->list);
    c->count++;
    c->bytes += r->vlen;
    return c->count >= CHUNK_OBJECTS || c->bytes >= CALL_CHUNK_BYTES || call_late(c->call, c->count);
}

/* Takes the gathered key's objects, newest first, all of them (a chunk
 * ends after a key). Returns whether the chunk is full. */
static bool chunk_take_group(chunk_ctx_t *c)
{
    bool full = false;
    for (size_t i = c->group->n; i-- > 0;)
        full |= chunk_take(c, &c->group->rec[i]);
    return full;
}

static int chunk_visit(void *vctx, const rec_t *r)
{
    chunk_ctx_t *c = vctx;
    if (!call_may_copy(c->call, r->vlen)) {
        c->too_long = true;
        return 1;
    }
    if (c->key_only) {
        /* The scan visits the rest of the key's objects after this stop;
         * as ets, answer with the key of the newest one (they are all =:=,
         * but 0.0 and -0.0 print differently). */
        int arity;
        const ERL_NIF_TERM *elems;
        ERL_NIF_TERM obj = object_decode(c->env, r);
        enif_get_tuple(c->env, obj, &arity, &elems);
        c->list = elems[c->keypos - 1];
        if (c->with_objects)
            c->objects = enif_make_list_cell(c->env, obj, c->objects);
        return 1;
    }
    if (c->group == NULL) {
        if (!chunk_take(c, r))
            return 0;
        /* The cursor must be made now: r is only valid inside the scan. */
        memcpy(enif_make_new_binary(c->env, r->klen, &c->cursor), r->key, r->klen);
        return 1;
    }
    /* The scan visits the rest of a key after a stop: the next chunk's. */
    if (c->cursor != atom_end_of_table)
        return 1;
    if (key_group_ends(c->group, r)) {
        const rec_t *last = &c->group->rec[0];
        if (chunk_take_group(c)) {
            memcpy(enif_make_new_binary(c->env, last->klen, &c->cursor), last->key, last->klen);
            return 1;
        }
        c->group->n = 0;
    }
    if (key_group_add(c->group, r) != XETS_OK) {
        c->nomem = true;
        return 1;
    }
    return 0;
}

/* What a step (first, next and their reverses) answers: the key, or with
 * What = lookup (first_lookup/1 and friends of OTP 27) or walk (xets's
 * own walks: table/2, i/1) {Key, Objects}, the objects read in the same
 * visit as the key. */
static chunk_ctx_t step_ctx(ErlNifEnv *env, table_t *t, xets_call_t *call, ERL_NIF_TERM what)
{
    return (chunk_ctx_t){.env = env,
                         .call = call,
                         .keypos = t->keypos,
                         .key_only = true,
                         .with_objects = what == atom_lookup || what == atom_walk,
                         .objects = enif_make_list(env, 0)};
}

/* The step's answer from store_scan's status. */
static int step_result(ErlNifEnv *env, int st, const chunk_ctx_t *c, ERL_NIF_TERM *out)
{
    if (c->too_long)
        return XETS_DIRTY;
    if (st == XETS_END)
        *out = atom_end_of_table;
    else if (st == XETS_OK)
        *out = c->with_objects ? enif_make_tuple2(env, c->list, glue_reversed(env, c->objects))
                               : c->list;
    return st == XETS_END ? XETS_OK : st;
}

/* first/last: first(Tab, forward | backward, key | lookup) */
int op_first(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    chunk_ctx_t c = step_ctx(env, t, call, argv[2]);
    int st = store_scan(t->ops, t->store, call, NULL, 0, glue_dir(argv[1]), chunk_visit, &c);
    epoch_exit();
    return step_result(env, st, &c, out);
}

/* next/prev: next(Tab, Key, forward | backward, key | lookup | walk). */
int op_next(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_READ, &t, &kb));
    store_t *s = t->store;
    /* As ets: on ordered_set the end marker is no key to step from (but
     * xets's walks go on past an object whose key it is); hash tables step
     * only from a key they hold, unless fixed. */
    int st = XETS_OK;
    if (t->kind->ordered) {
        if (argv[1] == atom_end_of_table && argv[3] != atom_walk)
            st = XETS_BADARG;
    } else if (atomic_load(&t->fix_count) == 0) {
        st = t->ops->get(s, call, kb.p, kb.len, glue_stop_at_first, NULL);
        st = st == XETS_NOTFOUND ? XETS_BADARG : st;
    }
    chunk_ctx_t c = step_ctx(env, t, call, argv[3]);
    if (st == XETS_OK)
        st = step_result(env, store_scan(t->ops, s, call, kb.p, kb.len, glue_dir(argv[2]),
                                         chunk_visit, &c),
                         &c, out);
    glue_leave_key(&kb);
    return st;
}

/* One chunk of a scan from after (the start if empty) in direction dir,
 * into c: each bag key's objects newest first if newest_first. Call in an
 * epoch section. Returns store_scan's status, XETS_DIRTY, or XETS_NOMEM. */
static int chunk_scan(chunk_ctx_t *c, table_t *t, const ErlNifBinary *after, enum scan_dir dir,
                      bool newest_first)
{
    key_group_t group;
    key_group_init(&group);
    c->group = t->kind->multi && newest_first ? &group : NULL;
    int st = store_scan(t->ops, t->store, c->call, after->size ? after->data : NULL,
                        after->size, dir, chunk_visit, c);
    /* A block not cached after whole keys (store.h, store_scan): the
     * chunk ends after the gathered one, and the next call, which
     * resumes there, asks for the block; redone instead, the chunk would
     * need every block it took to stay cached meanwhile. */
    if (st == XETS_NEED_IO && c->group != NULL && c->group->n > 0 && !c->too_long &&
        !c->nomem && c->cursor == atom_end_of_table) {
        const rec_t *last = &c->group->rec[0];
        chunk_take_group(c);
        memcpy(enif_make_new_binary(c->env, last->klen, &c->cursor), last->key, last->klen);
        call_io_drop(c->call);
        st = XETS_OK;
    }
    /* The last key the scan visited; the table ends there. */
    if (c->group != NULL && !c->too_long && !c->nomem && c->cursor == atom_end_of_table)
        chunk_take_group(c);
    c->group = NULL;
    key_group_free(&group);
    if (c->too_long)
        return XETS_DIRTY;
    if (c->nomem)
        return XETS_NOMEM;
    return st == XETS_END ? XETS_OK : st;
}

/* chunk(Tab, Cursor, forward | backward) -> {Objects, Cursor} | {Objects, '$end_of_table'}
 * Objects are in the order visited: a hash table's keys in its one order,
 * a bag's objects of a key oldest first forward and newest first
 * backward, as ets's foldl and foldr take them. */
int op_chunk(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    ErlNifBinary after;
    if (!glue_after(env, argv[1], &after))
        return XETS_BADARG;
    call_clock_start(call);
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    chunk_ctx_t c = {.env = env, .call = call, .list = enif_make_list(env, 0),
                     .keypos = t->keypos, .cursor = atom_end_of_table};
    enum scan_dir dir = glue_dir(argv[2]);
    int st = chunk_scan(&c, t, &after, dir, dir == SCAN_BACKWARD);
    epoch_exit();
    if (st == XETS_OK)
        *out = enif_make_tuple2(env, glue_reversed(env, c.list), c.cursor);
    return st;
}

/* objects(Tab, Cursor, Tail) -> {Objects, Cursor, Reversed}, for
 * tab2list/1: a chunk's objects in front of Tail, the objects of the
 * chunks before, so that the last chunk returns them all, in ets's order
 * (README, "Result order") or, if Reversed, in its reverse. A hash table's
 * chunks take each bag key's objects newest first, and cons: ets's order.
 * An ordered_set's go forward (a skiplist's backward step is a search),
 * giving the reverse of term order, for Erlang to reverse once. Cursor as
 * in chunk/3. */
int op_objects(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    ErlNifBinary after;
    if (!glue_after(env, argv[1], &after) || !enif_is_list(env, argv[2]))
        return XETS_BADARG;
    call_clock_start(call);
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    chunk_ctx_t c = {.env = env, .call = call, .list = argv[2], .keypos = t->keypos,
                     .cursor = atom_end_of_table};
    int st = chunk_scan(&c, t, &after, SCAN_FORWARD, true);
    bool reversed = t->kind->ordered;
    epoch_exit();
    if (st == XETS_OK)
        *out = enif_make_tuple3(env, c.list, c.cursor, reversed ? atom_true : atom_false);
    return st;
}
