/* What the operations of the NIF glue share (DESIGN.md, "The house").
 *
 * Each NIF is one operation (op_fn): it decodes its arguments, does its
 * work through the table and its store, and answers a status, with its
 * result in *out on XETS_OK. xets_nif.c runs every operation through one
 * path, which alone turns any other status into what Erlang sees: badarg,
 * system_limit, error({xets_io, Reason}), or a redo of the same call:
 *   XETS_BUSY     after a yield, on the same kind of thread: an exclusive
 *                 operation holds the table;
 *   XETS_DIRTY    on a dirty CPU scheduler: too long for a normal one;
 *   XETS_NEED_IO  on a dirty I/O scheduler, once the I/O the store asked
 *                 for (call.h) has run there, outside any epoch section.
 * A redo runs the operation again from its arguments, so an operation
 * answers a redo status only before it has changed anything.
 *
 * Thread-safety: an operation runs on the calling thread, and leaves no
 * epoch section open whatever it answers. */
#ifndef XETS_GLUE_H
#define XETS_GLUE_H

#include <erl_nif.h>

#include "atoms.h"
#include "call.h"
#include "epoch.h"
#include "status.h"
#include "store.h"
#include "table.h"
#include "term_key.h"

typedef int op_fn(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                  ERL_NIF_TERM *out);

/* Returns from the enclosing function with expr's status unless XETS_OK. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int try_st_ = (expr);                                                                      \
        if (try_st_ != XETS_OK)                                                                    \
            return try_st_;                                                                        \
    } while (0)

/* Opens an epoch section and enters the table tab names, for `want`
 * (table_enter). On XETS_OK the caller ends the section with
 * epoch_exit(); otherwise (XETS_BADARG, XETS_BUSY) none is open. */
static inline int glue_enter(ErlNifEnv *env, ERL_NIF_TERM tab, enum access want, table_t **t)
{
    epoch_enter();
    int st = table_enter(env, tab, want, t);
    if (st != XETS_OK)
        epoch_exit();
    return st;
}

/* glue_enter, then key encoded as a key of the table into kb. On XETS_OK
 * the caller ends with glue_leave_key(kb); otherwise nothing is left to
 * end. */
int glue_enter_key(ErlNifEnv *env, ERL_NIF_TERM tab, ERL_NIF_TERM key, enum access want,
                   table_t **t, kbuf_t *kb);

static inline void glue_leave_key(kbuf_t *kb)
{
    epoch_exit();
    kbuf_free(kb);
}

/* Opens an epoch section on t, which the caller keeps with a reference,
 * unless t has died: false then, with no section open. The table's gate
 * keeps out delete/1 but not the owner's death, whose store the reaper
 * frees once the sections open before it are over: a section that began
 * after must see the table dead, and leave its store alone. */
static inline bool glue_enter_alive(table_t *t)
{
    epoch_enter();
    if (!atomic_load(&t->dead))
        return true;
    epoch_exit();
    return false;
}

/* Ends the epoch section and opens another after every 1024 steps of a
 * long loop (epoch.h: sections are short), as glue_enter_alive. */
static inline bool glue_breathe(table_t *t, size_t step)
{
    if ((step & 1023) != 1023)
        return true;
    epoch_exit();
    return glue_enter_alive(t);
}

static inline ERL_NIF_TERM glue_reversed(ErlNifEnv *env, ERL_NIF_TERM list)
{
    ERL_NIF_TERM out;
    enif_make_reverse_list(env, list, &out);
    return out;
}

/* A direction argument: forward, else backward. */
static inline enum scan_dir glue_dir(ERL_NIF_TERM dir)
{
    return dir == atom_forward ? SCAN_FORWARD : SCAN_BACKWARD;
}

/* A traversal's cursor argument: '$end_of_table' to start (after is then
 * empty), else the key binary handed back last time. */
static inline bool glue_after(ErlNifEnv *env, ERL_NIF_TERM cursor, ErlNifBinary *after)
{
    *after = (ErlNifBinary){0};
    return cursor == atom_end_of_table || enif_inspect_binary(env, cursor, after);
}

/* A store visit that stops at the first object: for membership. */
int glue_stop_at_first(void *ctx, const rec_t *r);

/* The operations that live in files of their own. */
/* insert_list.c: insert/2 (mode PUT_REPLACE) and insert_new/2 (PUT_NEW) of
 * a list, atomic and isolated. */
int insert_list(ErlNifEnv *env, ERL_NIF_TERM tab, ERL_NIF_TERM list, enum put_mode mode,
                xets_call_t *call, ERL_NIF_TERM *out);
/* update.c: update(Tab, Key, Spec, Counter, nodefault | {default, Obj}). */
op_fn op_update;
/* traverse.c: first/3, next/4, chunk/3, objects/3. */
op_fn op_first, op_next, op_chunk, op_objects;
/* slot.c: slot/3. */
op_fn op_slot;
/* persist.c: open/4, close/1, sync/1, destroy/1, move/2, disk_info/1 of persistent
 * tables. */
op_fn op_open, op_close, op_sync, op_destroy, op_move, op_disk_info;

/* xets_nif.c: new/2's options tuple (its layout there) into *o, for new/2
 * and open/4; name is the table's name. XETS_OK or XETS_BADARG. */
int table_opts_parse(ErlNifEnv *env, ERL_NIF_TERM name, ERL_NIF_TERM tuple, table_opts_t *o);
/* xets_nif.c: the reason of error({xets_io, Reason}) for a failure st
 * (XETS_IO or XETS_CORRUPT) that e describes. */
ERL_NIF_TERM glue_io_reason(ErlNifEnv *env, int st, const call_error_t *e);
/* persist.c: the answer of a call whose write must be durable before it
 * returns (call->await): out at once if it is, else the exception that
 * xets.erl turns into a wait for the store's message. */
ERL_NIF_TERM glue_await(ErlNifEnv *env, xets_call_t *call, ERL_NIF_TERM out);

#endif
