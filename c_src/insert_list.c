/* insert/2 and insert_new/2 of a list: atomic and isolated, as in ets.
 *
 * Protocol: every object is prepared (key encoded, external format made)
 * outside any epoch section, with no lock held; then the table's gate is
 * closed (table.h: every other call on the table yields until it opens,
 * as a call waits for ETS's table lock), insert_new checks its keys, and
 * the objects are published, all in short epoch sections (glue_breathe):
 * the gate keeps every other call out, so what the check learnt stays true
 * across sections. Nothing is stored unless every object is good. A long
 * list is done on a dirty scheduler; a list into a store that may need
 * I/O on a dirty I/O scheduler, where each store call that needs I/O has
 * it done in place, outside the epoch section, and is made again: a list
 * half published cannot be redone from its arguments. A store that logs
 * its writes logs the list as one entry. */
#include <stdlib.h>

#include "glue.h"
#include "object.h"
#include "table_kind.h"

/* Lists longer than this (about a millisecond of preparing and publishing
 * here) are inserted on a dirty scheduler. */
#define DIRTY_LIST_LEN 2000

static void prepared_free_all(prepared_t *ps, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        object_prepared_free(&ps[i]);
    free(ps);
}

/* Prepares every object of a list. XETS_DIRTY, with nothing prepared, once
 * the objects are too long to copy on this thread (only the one that made
 * them so has been). */
static int prepare_list(ErlNifEnv *env, table_t *t, xets_call_t *call, ERL_NIF_TERM list,
                        unsigned len, prepared_t **out)
{
    prepared_t *ps = malloc(sizeof *ps * len);
    if (ps == NULL)
        return XETS_NOMEM;
    ERL_NIF_TERM head;
    size_t bytes = 0;
    for (unsigned i = 0; i < len; i++) {
        enif_get_list_cell(env, list, &head, &list);
        int st = object_prepare(env, t, head, NULL, &ps[i]);
        if (st == XETS_OK && !call_may_copy(call, bytes += ps[i].etf.size)) {
            object_prepared_free(&ps[i]);
            st = XETS_DIRTY;
        }
        if (st != XETS_OK) {
            prepared_free_all(ps, i);
            return st;
        }
    }
    *out = ps;
    return XETS_OK;
}

/* The status of a store call (a get or a put of object i), made again
 * after the I/O it asked for is done here, outside the epoch section,
 * which is open again on return unless the table died (XETS_BADARG) or
 * the I/O failed. */
#define WITH_IO(t, call, st, expr)                                                                 \
    for ((st) = (expr); (st) == XETS_NEED_IO; (st) = (expr)) {                                     \
        epoch_exit();                                                                              \
        if (((st) = call_run_io(call)) != XETS_OK)                                                 \
            return st;                                                                             \
        if (!glue_enter_alive(t))                                                                  \
            return XETS_BADARG;                                                                    \
    }

/* With the gate closed: every key looked up, then publication. The
 * lookups are insert_new's check; into a store that may need I/O, insert's
 * too: a put reads its key's state, and a state it cannot read (a damaged
 * block, a failed read) would fail the list at object i with objects
 * 0 .. i-1 published, and logged (publish_logged). Read first, the list
 * fails before anything is published, and the puts find every state in
 * memory (the gate keeps other writers out, and the store's group holds
 * what the lookups read: store.h, hold). */
static int publish_list(table_t *t, xets_call_t *call, prepared_t *ps, unsigned len,
                        enum put_mode mode)
{
    if (!glue_enter_alive(t))
        return XETS_BADARG;
    bool look = mode == PUT_NEW || t->ops->may_need_io;
    for (unsigned i = 0; look && i < len; i++) {
        int st;
        WITH_IO(t, call, st,
                t->ops->get(t->store, call, ps[i].key.p, ps[i].key.len, glue_stop_at_first,
                            NULL));
        if ((st == XETS_OK && mode == PUT_NEW) || (st != XETS_OK && st != XETS_NOTFOUND)) {
            epoch_exit();
            return st == XETS_OK ? XETS_EXISTS : st;
        }
        if (!glue_breathe(t, i))
            return XETS_BADARG;
    }
    /* Duplicates within the list behave as successive inserts: in list
     * order, except into a bag, which ets (OTP 25) fills from the last
     * object of the list to the first, so that lookup/2 returns a key's
     * objects of one list in reverse. */
    bool backward = t->kind->distinct;
    int st = XETS_OK;
    for (unsigned i = 0; i < len && st == XETS_OK; i++) {
        WITH_IO(t, call, st, object_put(t, call, &ps[backward ? len - 1 - i : i], PUT_REPLACE));
        if (!glue_breathe(t, i))
            return XETS_BADARG;
    }
    epoch_exit();
    return st;
}

/* publish_list into a store that logs its writes as one entry of its log
 * (store.h, group), so that a crash keeps all of the list or none of it.
 * What was published is logged whatever the outcome: the log must hold
 * what the store holds. */
static int publish_logged(table_t *t, xets_call_t *call, prepared_t *ps, unsigned len,
                          enum put_mode mode)
{
    if (t->ops->group == NULL)
        return publish_list(t, call, ps, len, mode);
    int st = t->ops->group(t->store, call, false);
    if (st != XETS_OK)
        return st;
    st = publish_list(t, call, ps, len, mode);
    int logged = t->ops->group(t->store, call, true);
    return st == XETS_OK ? logged : st;
}

int insert_list(ErlNifEnv *env, ERL_NIF_TERM tab, ERL_NIF_TERM list, enum put_mode mode,
                xets_call_t *call, ERL_NIF_TERM *out)
{
    unsigned len;
    if (!enif_get_list_length(env, list, &len))
        return XETS_BADARG;
    if (len > DIRTY_LIST_LEN && call_thread(call) == CALL_NORMAL)
        return XETS_DIRTY;
    call_clock_start(call);
    table_t *t;
    TRY(glue_enter(env, tab, ACCESS_WRITE, &t));
    if (t->ops->may_need_io && !call_may_block(call)) {
        epoch_exit();
        return XETS_NEED_IO; /* no request: only the move */
    }
    /* The reference keeps a table found by name alive outside the section. */
    enif_keep_resource(t);
    epoch_exit();
    prepared_t *ps = NULL;
    int st = len == 0 ? XETS_OK : prepare_list(env, t, call, list, len, &ps);
    if (st == XETS_OK && len > 0) {
        if ((st = table_close_gate(t)) == XETS_OK) {
            st = publish_logged(t, call, ps, len, mode);
            table_open_gate(t);
        }
        prepared_free_all(ps, len);
    }
    enif_release_resource(t);
    if (st == XETS_EXISTS || st == XETS_OK)
        *out = st == XETS_OK ? atom_true : atom_false;
    return st == XETS_EXISTS ? XETS_OK : st;
}
