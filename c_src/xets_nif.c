/* The NIF glue (DESIGN.md, "The house"): the function table, argument
 * decoding, and the one path every operation runs through (glue.h), which
 * maps core statuses to Erlang results and exceptions and redoes a call
 * where it can go on. The operations too long to sit here live in files
 * named for them: insert_list.c, update.c, traverse.c, slot.c, and
 * select.c; table lifecycle in table.c, the type descriptor in
 * table_kind.c. */
#include <ctype.h>
#include <erl_nif.h>
#include <stdlib.h>
#include <string.h>

#include "fault_store.h"
#include "glue.h"
#include "object.h"
#include "quiesce.h"
#include "select.h"
#include "table_kind.h"

/* ---- the one path ------------------------------------------------------ */

/* What a NIF is: its operation, and what a redo needs. */
typedef struct nif {
    const char *name;
    int arity;
    op_fn *op;
    ERL_NIF_TERM (*self)(ErlNifEnv *, int, const ERL_NIF_TERM[]);
} nif_t;

/* An I/O request (call.h) on its way to a dirty I/O scheduler, as the
 * extra last argument of the redone call, with what the operation keeps
 * from its earlier requests (call->keep): a resource, so that a request
 * whose call never runs (its process died) is dropped, and what it keeps
 * released, by the destructor. */
static ErlNifResourceType *io_request_type;

typedef struct io_request {
    call_io_t io;
    call_keep_t keep;
    _Atomic(bool) taken;
} io_request_t;

static void io_request_dtor(ErlNifEnv *env, void *obj)
{
    (void)env;
    io_request_t *r = obj;
    if (atomic_load(&r->taken))
        return;
    if (r->io.drop != NULL)
        r->io.drop(r->io.arg);
    if (r->keep.release != NULL)
        r->keep.release(r->keep.arg);
}

static enum call_thread thread_kind(void)
{
    switch (enif_thread_type()) {
    case ERL_NIF_THR_NORMAL_SCHEDULER:
        return CALL_NORMAL;
    case ERL_NIF_THR_DIRTY_CPU_SCHEDULER:
        return CALL_DIRTY_CPU;
    case ERL_NIF_THR_DIRTY_IO_SCHEDULER:
        return CALL_DIRTY_IO;
    default:
        return CALL_OWN;
    }
}

static int flags_of(enum call_thread thread)
{
    return thread == CALL_DIRTY_CPU ? ERL_NIF_DIRTY_JOB_CPU_BOUND
           : thread == CALL_DIRTY_IO ? ERL_NIF_DIRTY_JOB_IO_BOUND
                                     : 0;
}

/* Charges the calling process for the time its call spent in C, so that a
 * loop of chunk calls is preempted like a loop of Erlang code (a time
 * slice is about a millisecond). */
static void charge(ErlNifEnv *env, xets_call_t *call)
{
    if (call->start == 0 || call_thread(call) != CALL_NORMAL)
        return;
    int64_t percent = (call_now() - call->start) / 10;
    if (percent > 0)
        enif_consume_timeslice(env, percent > 100 ? 100 : (int)percent);
}

/* The Reason of error({xets_io, Reason}): {Op, File, Offset, Posix} for a
 * failed file operation, {corrupt, File, Offset} for malformed bytes. */
ERL_NIF_TERM glue_io_reason(ErlNifEnv *env, int st, const call_error_t *e)
{
    ERL_NIF_TERM file = enif_make_string(env, e->file, ERL_NIF_LATIN1);
    ERL_NIF_TERM offset = enif_make_uint64(env, e->offset);
    if (st == XETS_CORRUPT)
        return enif_make_tuple3(env, atom_corrupt, file, offset);
    /* As file's errors: the errno's name in lower case (eio, enospc). */
    const char *name = strerrorname_np(e->err);
    char posix[32] = "unknown";
    for (size_t i = 0; name != NULL && name[i] != '\0' && i + 1 < sizeof posix; i++)
        posix[i] = (char)tolower((unsigned char)name[i]), posix[i + 1] = '\0';
    return enif_make_tuple4(env, enif_make_atom(env, e->op), file, offset,
                            enif_make_atom(env, posix));
}

/* Runs the call again from its arguments, with flags; with io, the
 * call's I/O request (if any) and what the call keeps go along as an
 * extra last argument, else what it keeps is released. */
static ERL_NIF_TERM redo(ErlNifEnv *env, const nif_t *nif, const ERL_NIF_TERM argv[], int flags,
                         xets_call_t *call, bool io)
{
    ERL_NIF_TERM args[8];
    memcpy(args, argv, sizeof *args * (size_t)nif->arity);
    if (!io || (call->io.run == NULL && call->keep.release == NULL)) {
        call_keep_release(call);
        return enif_schedule_nif(env, nif->name, flags, nif->self, nif->arity, args);
    }
    io_request_t *r = enif_alloc_resource(io_request_type, sizeof *r);
    if (r == NULL) {
        call_io_drop(call);
        call_keep_release(call);
        return enif_raise_exception(env, atom_system_limit);
    }
    r->io = call->io;
    r->keep = call->keep;
    call->io.run = NULL;
    call->keep = (call_keep_t){0};
    atomic_init(&r->taken, false);
    args[nif->arity] = enif_make_resource(env, r);
    enif_release_resource(r);
    return enif_schedule_nif(env, nif->name, flags, nif->self, nif->arity + 1, args);
}

/* Runs the I/O request a redone call carries, if any. */
static int run_io_request(ErlNifEnv *env, ERL_NIF_TERM term, xets_call_t *call)
{
    io_request_t *r;
    if (!enif_get_resource(env, term, io_request_type, (void **)&r) ||
        atomic_exchange(&r->taken, true))
        return XETS_BADARG;
    call->io = r->io;
    call->keep = r->keep;
    return call->io.run != NULL ? call_run_io(call) : XETS_OK;
}

/* What the one path makes of any status but a plain XETS_OK (glue.h):
 * out of line, so that the path's common case stays small. */
static ERL_NIF_TERM __attribute__((noinline))
glue_finish(ErlNifEnv *env, const ERL_NIF_TERM argv[], const nif_t *nif, xets_call_t *call,
            int st, ERL_NIF_TERM out)
{
    charge(env, call);
    if (st != XETS_NEED_IO)
        call_keep_release(call); /* the operation has ended */
    switch (st) {
    case XETS_OK:
        return call->await.store != NULL ? glue_await(env, call, out) : out;
    case XETS_BADARG:
        return enif_make_badarg(env);
    case XETS_NOMEM:
        return enif_raise_exception(env, atom_system_limit);
    case XETS_BUSY:
        /* Giving up the time slice keeps the scheduler free for the
         * holder of the table. */
        enif_consume_timeslice(env, 100);
        return redo(env, nif, argv, flags_of(call_thread(call)), call, false);
    case XETS_DIRTY:
        if (call_thread(call) == CALL_NORMAL)
            return redo(env, nif, argv, ERL_NIF_DIRTY_JOB_CPU_BOUND, call, false);
        break;
    case XETS_NEED_IO:
        /* Served here if it may be and the OS holds it in memory (call.h),
         * the redo staying on this scheduler: a trip to a dirty one costs
         * more. */
        if (call->io.run != NULL && call->io.here && call_thread(call) == CALL_NORMAL &&
            (st = call_run_io(call)) != XETS_BUSY)
            return st == XETS_OK ? redo(env, nif, argv, 0, call, true)
                                 : glue_finish(env, argv, nif, call, st, out);
        return redo(env, nif, argv, ERL_NIF_DIRTY_JOB_IO_BOUND, call, true);
    case XETS_IO:
    case XETS_CORRUPT:
        return enif_raise_exception(
            env, enif_make_tuple2(env, atom_xets_io, glue_io_reason(env, st, &call->error)));
    }
    /* A status no operation should answer: a bug, told rather than hidden. */
    return enif_raise_exception(env, enif_make_tuple2(env, enif_make_atom(env, "xets_internal"),
                                                      enif_make_int(env, st)));
}

/* The one path (glue.h), inlined into each NIF, whose operation is then
 * a direct call. A call whose clock ran (call_clock_start) is charged. */
static inline __attribute__((always_inline)) ERL_NIF_TERM
glue_run(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[], const nif_t *nif)
{
    xets_call_t call;
    call_init(&call, CALL_UNKNOWN, thread_kind);
    ERL_NIF_TERM out;
    int st = argc > nif->arity ? run_io_request(env, argv[nif->arity], &call) : XETS_OK;
    if (st == XETS_OK)
        st = nif->op(env, argv, &call, &out);
    if (st == XETS_OK && call.start == 0 && call.await.store == NULL &&
        call.keep.release == NULL)
        return out;
    return glue_finish(env, argv, nif, &call, st, out);
}

/* Defines name_nif, the NIF of operation op. */
#define NIF(name, arity, op)                                                                       \
    static ERL_NIF_TERM name##_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);         \
    static const nif_t name##_def = {#name, arity, op, name##_nif};                                \
    static ERL_NIF_TERM name##_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])          \
    {                                                                                              \
        return glue_run(env, argc, argv, &name##_def);                                             \
    }

int glue_enter_key(ErlNifEnv *env, ERL_NIF_TERM tab, ERL_NIF_TERM key, enum access want,
                   table_t **t, kbuf_t *kb)
{
    TRY(glue_enter(env, tab, want, t));
    if (object_key(env, *t, key, kb) != XETS_OK) {
        glue_leave_key(kb);
        return XETS_NOMEM;
    }
    return XETS_OK;
}

int glue_stop_at_first(void *ctx, const rec_t *r)
{
    (void)ctx;
    (void)r;
    return 1;
}

/* ---- new / delete / info ----------------------------------------------- */

static bool get_bool(ERL_NIF_TERM t, bool *out)
{
    if (t == atom_true)
        *out = true;
    else if (t == atom_false)
        *out = false;
    else
        return false;
    return true;
}

/* new/2's options tuple, {Type, Protection, Named, Keypos, Heir,
 * WriteConc, ReadConc, DecentralizedCounters, Compressed}, checked and
 * normalized by xets:new/2 (and xets:open/3). */
int table_opts_parse(ErlNifEnv *env, ERL_NIF_TERM name, ERL_NIF_TERM tuple, table_opts_t *opts)
{
    int n;
    const ERL_NIF_TERM *o;
    if (!enif_is_atom(env, name) || !enif_get_tuple(env, tuple, &n, &o) || n != 9)
        return XETS_BADARG;
    const table_kind_t *kind = table_kind_named(o[0]);
    if (kind == NULL)
        return XETS_BADARG;
    opts->kind = kind;
    opts->ops = kind->ops;
    opts->store_kind = kind->store;
    if (o[1] == atom_private)
        opts->protection = PROT_PRIVATE;
    else if (o[1] == atom_protected)
        opts->protection = PROT_PROTECTED;
    else if (o[1] == atom_public)
        opts->protection = PROT_PUBLIC;
    else
        return XETS_BADARG;
    int heir_arity;
    const ERL_NIF_TERM *heir;
    if (!get_bool(o[2], &opts->named) || !enif_get_uint(env, o[3], &opts->keypos) ||
        opts->keypos < 1 || !get_bool(o[6], &opts->read_concurrency) ||
        !get_bool(o[7], &opts->decentralized_counters) || !get_bool(o[8], &opts->compressed))
        return XETS_BADARG;
    if (o[5] == atom_auto)
        opts->write_concurrency = WC_AUTO;
    else if (o[5] == atom_true)
        opts->write_concurrency = WC_TRUE;
    else if (o[5] == atom_false)
        opts->write_concurrency = WC_FALSE;
    else
        return XETS_BADARG;
    if (o[4] != atom_none) {
        if (!enif_get_tuple(env, o[4], &heir_arity, &heir) || heir_arity != 2 ||
            !enif_get_local_pid(env, heir[0], &opts->heir))
            return XETS_BADARG;
        opts->has_heir = true;
        opts->heir_data = heir[1];
    }
    return XETS_OK;
}

/* new(Name, Options): Options as table_opts_parse. */
static int op_new(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_opts_t opts = {0};
    TRY(table_opts_parse(env, argv[0], argv[1], &opts));
    table_t *t;
    int st = table_create(env, argv[0], &opts, &t, call);
    if (st != XETS_OK)
        return st == XETS_EXISTS ? XETS_BADARG : st;
    *out = opts.named ? argv[0] : enif_make_resource(env, t);
    enif_release_resource(t);
    return XETS_OK;
}
NIF(new, 2, op_new)
NIF(open, 4, op_open)
NIF(close, 1, op_close)
NIF(sync, 1, op_sync)
NIF(destroy, 1, op_destroy)
NIF(move, 2, op_move)
NIF(disk_info, 1, op_disk_info)

static int op_delete(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_WRITE, &t));
    table_delete(env, t);
    epoch_exit();
    *out = atom_true;
    return XETS_OK;
}
NIF(delete, 1, op_delete)

static ERL_NIF_TERM fixations_term(ErlNifEnv *env, table_t *t)
{
    ERL_NIF_TERM list = enif_make_list(env, 0);
    for (fixation_t *f = t->fixations; f != NULL; f = f->next)
        list = enif_make_list_cell(
            env, enif_make_tuple2(env, enif_make_pid(env, &f->pid), enif_make_ulong(env, f->count)),
            list);
    return list;
}

/* info(Tab) -> undefined | {Id, Name, Type, Size, MemoryBytes, Owner, Heir,
 *   Protection, Keypos, Named, WriteConc, ReadConc, DecCounters, Compressed,
 *   Fixations, FixedSinceSystemUs, FixedSinceMonotonicNs}
 * xets:info/1,2 arrange it as ets does. */
static int op_info(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    (void)call;
    epoch_enter();
    table_t *t = table_find(env, argv[0]);
    if (t == NULL || !table_alive(env, t)) {
        epoch_exit();
        /* As ets: a tid of a deleted table or an unused name is undefined,
         * any other reference is not a table identifier at all. */
        *out = atom_undefined;
        return t == NULL && enif_is_ref(env, argv[0]) ? XETS_BADARG : XETS_OK;
    }
    store_t *s = t->store;
    size_t size = t->ops->size(s);
    size_t mem = t->ops->memory(s) + sizeof *t;
    /* The section lasts to the end: a table found by name is kept only by
     * it until enif_make_resource below. */
    ERL_NIF_TERM prot[] = {atom_private, atom_protected, atom_public};
    ERL_NIF_TERM wc[] = {atom_false, atom_true, atom_auto};
    enif_mutex_lock(t->meta);
    ERL_NIF_TERM heir = t->heir_env != NULL ? enif_make_pid(env, &t->heir) : atom_none;
    ERL_NIF_TERM fixations = fixations_term(env, t);
    bool fixed = t->fixations != NULL;
    ERL_NIF_TERM since = fixed ? enif_make_int64(env, t->fixed_since) : atom_false;
    ERL_NIF_TERM since_mono = fixed ? enif_make_int64(env, t->fixed_since_mono) : atom_false;
    ERL_NIF_TERM name = t->name;
    enif_mutex_unlock(t->meta);
    ErlNifPid owner = {atomic_load(&t->owner)};
    ERL_NIF_TERM items[] = {
        enif_make_resource(env, t),
        name,
        *t->kind->name,
        enif_make_uint64(env, size),
        enif_make_uint64(env, mem),
        enif_make_pid(env, &owner),
        heir,
        prot[atomic_load(&t->protection)],
        enif_make_uint(env, t->keypos),
        t->named ? atom_true : atom_false,
        wc[t->write_concurrency],
        t->read_concurrency ? atom_true : atom_false,
        t->decentralized_counters ? atom_true : atom_false,
        t->compressed ? atom_true : atom_false,
        fixations,
        since,
        since_mono,
    };
    epoch_exit();
    *out = enif_make_tuple_from_array(env, items, sizeof items / sizeof items[0]);
    return XETS_OK;
}
NIF(info, 1, op_info)

/* stats(Tab) -> false | the 8-tuple of ets:info(Tab, stats). It walks the
 * whole table, so it runs on a dirty scheduler, in steps, each in an epoch
 * section of its own (store.h). */
static int op_stats(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    if (call_thread(call) == CALL_NORMAL)
        return XETS_DIRTY;
    epoch_enter();
    /* Like info/2, whatever the protection; xets:info/2 has checked that
     * the table exists (if it is deleted meanwhile, stats are of nothing). */
    table_t *t = table_find(env, argv[0]);
    if (t == NULL || !table_alive(env, t) || t->ops->stats == NULL) {
        epoch_exit();
        *out = atom_false;
        return XETS_OK;
    }
    /* Between sections, a table found by name is kept by this reference. */
    enif_keep_resource(t);
    store_stats_walk_t w = {0};
    struct store_stats st;
    int rc;
    while ((rc = t->ops->stats(t->store, &w, &st)) == XETS_OK) {
        epoch_exit();
        if (!glue_enter_alive(t))
            break; /* deleted meanwhile: no section is open */
    }
    if (rc != XETS_OK)
        epoch_exit();
    enif_release_resource(t);
    *out = rc != XETS_END ? atom_false
                          : enif_make_tuple8(env, enif_make_uint64(env, st.buckets),
                                             enif_make_double(env, st.avg_chain_len),
                                             enif_make_double(env, st.std_dev_chain_len),
                                             enif_make_double(env, st.std_dev_expected),
                                             enif_make_uint64(env, st.min_chain_len),
                                             enif_make_uint64(env, st.max_chain_len),
                                             enif_make_uint64(env, st.kept_items),
                                             enif_make_uint64(env, st.locks));
    return XETS_OK;
}
NIF(stats, 1, op_stats)

static int op_whereis(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                      ERL_NIF_TERM *out)
{
    (void)call;
    if (!enif_is_atom(env, argv[0]))
        return XETS_BADARG;
    epoch_enter();
    table_t *t = table_find(env, argv[0]);
    *out = t != NULL && table_alive(env, t) ? enif_make_resource(env, t) : atom_undefined;
    epoch_exit();
    return XETS_OK;
}
NIF(whereis, 1, op_whereis)

static int op_all(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    (void)argv;
    (void)call;
    return table_all(env, out);
}
NIF(all, 0, op_all)

/* ---- single-key reads -------------------------------------------------- */

static int op_lookup(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                     ERL_NIF_TERM *out)
{
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_READ, &t, &kb));
    collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .may_stop = call};
    int st = t->ops->get(t->store, call, kb.p, kb.len, object_collect, &c);
    glue_leave_key(&kb);
    if (c.too_long)
        return XETS_DIRTY;
    *out = glue_reversed(env, c.list);
    return st == XETS_NOTFOUND ? XETS_OK : st;
}
NIF(lookup, 2, op_lookup)

/* For the bench's floor row: what lookup/2 does but its store's work (the
 * table found and entered, the key encoded, an empty list made), so that
 * `make bench` shows how far each operation is from merely calling. */
static int op_lookup_floor(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                           ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_READ, &t, &kb));
    glue_leave_key(&kb);
    *out = enif_make_list(env, 0);
    return XETS_OK;
}
NIF(lookup_floor, 2, op_lookup_floor)

/* lookup_element(Tab, Key, Pos, nodefault | {default, Default}) */
static int op_lookup_element(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                             ERL_NIF_TERM *out)
{
    unsigned pos;
    int arity;
    const ERL_NIF_TERM *dflt = NULL;
    if (!enif_get_uint(env, argv[2], &pos) || pos < 1)
        return XETS_BADARG;
    if (argv[3] != atom_nodefault &&
        (!enif_get_tuple(env, argv[3], &arity, &dflt) || arity != 2 || dflt[0] != atom_default))
        return XETS_BADARG;
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_READ, &t, &kb));
    collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .pos = pos, .may_stop = call};
    int st = t->ops->get(t->store, call, kb.p, kb.len, object_collect, &c);
    bool many = t->kind->multi;
    glue_leave_key(&kb);
    if (c.too_long)
        return XETS_DIRTY;
    if (c.bad)
        return XETS_BADARG;
    if (st == XETS_NOTFOUND && dflt == NULL)
        return XETS_BADARG;
    if (st == XETS_NOTFOUND)
        *out = dflt[1];
    else if (many)
        *out = glue_reversed(env, c.list);
    else
        enif_get_list_cell(env, c.list, out, &c.list);
    return st == XETS_NOTFOUND ? XETS_OK : st;
}
NIF(lookup_element, 4, op_lookup_element)

static int op_member(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                     ERL_NIF_TERM *out)
{
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_READ, &t, &kb));
    int st = t->ops->get(t->store, call, kb.p, kb.len, glue_stop_at_first, NULL);
    glue_leave_key(&kb);
    *out = st == XETS_NOTFOUND ? atom_false : atom_true;
    return st == XETS_NOTFOUND ? XETS_OK : st;
}
NIF(member, 2, op_member)

/* ---- writes ------------------------------------------------------------ */

/* insert(Tab, List) and insert_new(Tab, List): xets.erl sends one object,
 * alone or as the only one of a list, to insert_object. */
static int op_insert(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                     ERL_NIF_TERM *out)
{
    return insert_list(env, argv[0], argv[1], PUT_REPLACE, call, out);
}
NIF(insert, 2, op_insert)

static int op_insert_new(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                         ERL_NIF_TERM *out)
{
    return insert_list(env, argv[0], argv[1], PUT_NEW, call, out);
}
NIF(insert_new, 2, op_insert_new)

/* insert_object(Tab, Object, Etf, New): one object, with the external
 * format xets.erl made with term_to_binary/1. That makes a small object a
 * binary on the process heap, where enif_term_to_binary must allocate a
 * reference-counted one (and free it): most of the allocator's share of a
 * single insert. */
static int op_insert_object(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                            ERL_NIF_TERM *out)
{
    ErlNifBinary etf;
    if (!enif_is_tuple(env, argv[1]) || !enif_inspect_binary(env, argv[2], &etf))
        return XETS_BADARG;
    if (!call_may_copy(call, etf.size))
        return XETS_DIRTY;
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_WRITE, &t));
    prepared_t p;
    int st = object_prepare(env, t, argv[1], &etf, &p);
    if (st == XETS_OK) {
        st = object_put(t, call, &p, argv[3] == atom_true ? PUT_NEW : PUT_REPLACE);
        object_prepared_free(&p);
    }
    epoch_exit();
    *out = st == XETS_EXISTS ? atom_false : atom_true;
    return st == XETS_EXISTS ? XETS_OK : st;
}
NIF(insert_object, 4, op_insert_object)

static int op_delete_key(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                         ERL_NIF_TERM *out)
{
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_WRITE, &t, &kb));
    int st = t->ops->remove(t->store, call, kb.p, kb.len, NULL, NULL, NULL, NULL);
    glue_leave_key(&kb);
    *out = atom_true;
    return st >= 0 ? XETS_OK : st;
}
NIF(delete_key, 2, op_delete_key)

static int find_too_long(void *vctx, const rec_t *r)
{
    collect_ctx_t *c = vctx;
    return c->too_long = !call_may_copy(c->may_stop, r->vlen);
}

static int op_take(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_t *t;
    kbuf_t kb;
    TRY(glue_enter_key(env, argv[0], argv[1], ACCESS_WRITE, &t, &kb));
    /* The removed objects are decoded as they go, past stopping: a normal
     * scheduler first looks for one too long to copy there. */
    collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .may_stop = call};
    int st = call_thread(call) == CALL_NORMAL
                 ? t->ops->get(t->store, call, kb.p, kb.len, find_too_long, &c)
                 : XETS_OK;
    c.may_stop = NULL;
    if (!c.too_long && (st == XETS_OK || st == XETS_NOTFOUND))
        st = t->ops->remove(t->store, call, kb.p, kb.len, NULL, NULL, object_collect, &c);
    glue_leave_key(&kb);
    if (c.too_long)
        return XETS_DIRTY;
    *out = glue_reversed(env, c.list);
    return st >= 0 ? XETS_OK : st;
}
NIF(take, 2, op_take)

static int op_delete_object(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                            ERL_NIF_TERM *out)
{
    int arity;
    const ERL_NIF_TERM *elems;
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_WRITE, &t));
    if (!enif_get_tuple(env, argv[1], &arity, &elems) || (unsigned)arity < t->keypos) {
        epoch_exit();
        return XETS_BADARG;
    }
    kbuf_t kb;
    identical_ctx_t same = {.obj = argv[1], .use_fp = t->kind->multi, .may_skip = call};
    int st = object_key(env, t, elems[t->keypos - 1], &kb);
    if (st == XETS_OK && same.use_fp)
        st = term_key_fingerprint(env, argv[1], &same.fp);
    if (st == XETS_OK)
        st = t->ops->remove(t->store, call, kb.p, kb.len, object_is_identical, &same, NULL,
                            NULL);
    glue_leave_key(&kb);
    object_identical_done(&same);
    if (same.skipped)
        return XETS_DIRTY;
    *out = atom_true;
    return st >= 0 ? XETS_OK : st;
}
NIF(delete_object, 2, op_delete_object)

static int op_delete_all_objects(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                                 ERL_NIF_TERM *out)
{
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_WRITE, &t));
    /* Closing the gate waits for epoch sections, so ours must end first;
     * the reference keeps a table found by name alive meanwhile. */
    enif_keep_resource(t);
    epoch_exit();
    int st = table_close_gate(t);
    size_t n = 0;
    if (st == XETS_OK) {
        st = table_clear(t, &n, call);
        table_open_gate(t);
    }
    enif_release_resource(t);
    /* The size is what ets:internal_delete_all/2 answers. */
    *out = enif_make_uint64(env, n);
    return st;
}
NIF(delete_all_objects, 1, op_delete_all_objects)

NIF(update, 5, op_update)

/* ---- traversal --------------------------------------------------------- */

NIF(first, 3, op_first)
NIF(next, 4, op_next)
NIF(slot, 3, op_slot)
NIF(chunk, 3, op_chunk)
NIF(objects, 3, op_objects)

/* ---- match specifications ---------------------------------------------- */

/* select_plan(Tab, MatchSpec) -> {Plan, Ordered}: Ordered whether the
 * table is an ordered_set, whose chunks of results xets_select.erl puts
 * in the order visited; xets_select.erl has checked the spec with
 * ets:match_spec_compile/1. */
static int op_select_plan(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                          ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    ERL_NIF_TERM plan;
    int st = select_plan(env, t, argv[1], &plan);
    bool ordered = t->kind->ordered;
    epoch_exit();
    *out = enif_make_tuple2(env, plan, ordered ? atom_true : atom_false);
    return st;
}
NIF(select_plan, 2, op_select_plan)

/* select(Tab, Plan, Cursor, forward | backward, Op, Cap, Tail) ->
 *     {N, Results, Cursor} | {N, Cursor} | {deferred, Objects, Cursor}
 * with Op results (N results in reverse order in front of Tail) or count
 * | delete | replace (N objects counted, deleted or replaced), select.h.
 * Cursor is '$end_of_table' to start, else the {KeyBinary, Left} returned
 * last time. */
static int op_select(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                     ERL_NIF_TERM *out)
{
    const ERL_NIF_TERM *ops[] = {&atom_results, &atom_count, &atom_delete, &atom_replace};
    enum select_op op = SELECT_RESULTS;
    while (op <= SELECT_REPLACE && argv[4] != *ops[op])
        op++;
    ErlNifBinary key;
    unsigned long cap;
    int arity;
    const ERL_NIF_TERM *cur;
    select_cursor_t cursor;
    if (op > SELECT_REPLACE || !enif_get_ulong(env, argv[5], &cap) || !enif_is_list(env, argv[6]))
        return XETS_BADARG;
    if (argv[2] != atom_end_of_table) {
        if (!enif_get_tuple(env, argv[2], &arity, &cur) || arity != 2 ||
            !enif_inspect_binary(env, cur[0], &key) ||
            !enif_get_uint64(env, cur[1], (ErlNifUInt64 *)&cursor.left))
            return XETS_BADARG;
        cursor.key = key.data;
        cursor.klen = key.size;
    }
    call_clock_start(call);
    table_t *t;
    TRY(glue_enter(env, argv[0],
                   op == SELECT_RESULTS || op == SELECT_COUNT ? ACCESS_READ : ACCESS_WRITE, &t));
    const select_plan_t *p = select_plan_get(env, argv[1], t);
    /* As ets: select_replace is refused on a bag. */
    if (p == NULL || (op == SELECT_REPLACE && t->kind->distinct)) {
        epoch_exit();
        return XETS_BADARG;
    }
    ERL_NIF_TERM items, next;
    bool deferred;
    size_t n;
    int st = select_chunk(env, t, call, p, argv[2] == atom_end_of_table ? NULL : &cursor,
                          glue_dir(argv[3]), op,
                          cap, argv[6], &deferred, &n, &items, &next);
    epoch_exit();
    if (st != XETS_OK)
        return st;
    if (deferred)
        *out = enif_make_tuple3(env, atom_deferred, items, next);
    else if (op == SELECT_RESULTS)
        *out = enif_make_tuple3(env, enif_make_uint64(env, n), items, next);
    else
        *out = enif_make_tuple2(env, enif_make_uint64(env, n), next);
    return XETS_OK;
}
NIF(select, 7, op_select)

/* More writes than this in one select_write call go to a dirty scheduler,
 * as a long list insert does. */
#define DIRTY_WRITES 2000

/* The writes of select_write, prepared: two objects per write, the old
 * one and its replacement. */
typedef struct writes {
    prepared_t *ps;
    unsigned nps;
    select_write_t *ws;
    rec_in_t *repls;
} writes_t;

static int prepare_writes(ErlNifEnv *env, table_t *t, xets_call_t *call, ERL_NIF_TERM list,
                          unsigned len, writes_t *w, unsigned *n)
{
    size_t bytes = 0;
    ERL_NIF_TERM head;
    for (*n = 0; enif_get_list_cell(env, list, &head, &list); ++*n) {
        int arity;
        const ERL_NIF_TERM *pair;
        if (*n >= len || !enif_get_tuple(env, head, &arity, &pair) || arity != 2)
            return XETS_BADARG;
        prepared_t *old = &w->ps[w->nps];
        TRY(object_prepare(env, t, pair[0], NULL, old));
        w->nps++;
        bytes += old->etf.size;
        w->ws[*n] = (select_write_t){old->key.p, old->key.len, old->etf.data, old->etf.size, NULL};
        if (pair[1] != atom_delete) {
            prepared_t *np = &w->ps[w->nps];
            TRY(object_prepare(env, t, pair[1], NULL, np));
            w->nps++;
            bytes += np->etf.size;
            if (np->key.len != old->key.len || memcmp(np->key.p, old->key.p, old->key.len) != 0)
                return XETS_BADARG; /* the key would change */
            w->repls[*n] = object_rec_in(np);
            w->ws[*n].repl = &w->repls[*n];
        }
        if (!call_may_copy(call, bytes))
            return XETS_DIRTY;
    }
    return XETS_OK;
}

/* select_write(Tab, [{Object, Replacement | delete}]) -> N: the writes
 * Erlang decided on the objects of a deferred delete or replace chunk, in
 * the chunk's order; N is how many objects were deleted or replaced
 * (select.h). A replacement must keep the key. */
static int op_select_write(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                           ERL_NIF_TERM *out)
{
    unsigned len;
    if (!enif_get_list_length(env, argv[1], &len))
        return XETS_BADARG;
    if (len > DIRTY_WRITES && call_thread(call) == CALL_NORMAL)
        return XETS_DIRTY;
    call_clock_start(call);
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_WRITE, &t));
    size_t room = len > 0 ? len : 1;
    writes_t w = {.ps = malloc(2 * sizeof *w.ps * room),
                  .ws = malloc(sizeof *w.ws * room),
                  .repls = malloc(sizeof *w.repls * room)};
    unsigned n = 0;
    int st = w.ps == NULL || w.ws == NULL || w.repls == NULL
                 ? XETS_NOMEM
                 : prepare_writes(env, t, call, argv[1], len, &w, &n);
    if (st == XETS_OK)
        st = select_write(t, call, w.ws, n);
    epoch_exit();
    for (unsigned i = 0; i < w.nps; i++)
        object_prepared_free(&w.ps[i]);
    free(w.ps);
    free(w.ws);
    free(w.repls);
    if (st < 0)
        return st;
    *out = enif_make_int(env, st);
    return XETS_OK;
}
NIF(select_write, 2, op_select_write)

/* ---- ownership --------------------------------------------------------- */

static int op_safe_fixtable(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                            ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    bool on;
    if (!get_bool(argv[1], &on))
        return XETS_BADARG;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    int st = table_fix(env, t, on);
    epoch_exit();
    *out = atom_true;
    return st;
}
NIF(safe_fixtable, 2, op_safe_fixtable)

static int op_give_away(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                        ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    ErlNifPid to;
    if (!enif_get_local_pid(env, argv[1], &to))
        return XETS_BADARG;
    TRY(glue_enter(env, argv[0], ACCESS_OWNER, &t));
    int st = table_give_away(env, t, to, argv[2]);
    epoch_exit();
    *out = atom_true;
    return st == XETS_OK ? XETS_OK : XETS_BADARG;
}
NIF(give_away, 3, op_give_away)

/* setopts(Tab, keep | none | {Pid, Data}, keep | Protection): the options
 * ets lets the owner change, checked and split by xets:setopts/2. */
static int op_setopts(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                      ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    int arity;
    const ERL_NIF_TERM *h;
    ErlNifPid heir;
    bool keep_heir = argv[1] == atom_keep, none = argv[1] == atom_none;
    int prot = argv[2] == atom_private     ? PROT_PRIVATE
               : argv[2] == atom_protected ? PROT_PROTECTED
               : argv[2] == atom_public    ? PROT_PUBLIC
                                           : -1;
    if ((!keep_heir && !none &&
         (!enif_get_tuple(env, argv[1], &arity, &h) || arity != 2 ||
          !enif_get_local_pid(env, h[0], &heir))) ||
        (prot < 0 && argv[2] != atom_keep))
        return XETS_BADARG;
    TRY(glue_enter(env, argv[0], ACCESS_OWNER, &t));
    if (!keep_heir)
        table_set_heir(env, t, none ? NULL : &heir, none ? atom_none : h[1]);
    if (prot >= 0)
        atomic_store_explicit(&t->protection, prot, memory_order_relaxed);
    epoch_exit();
    *out = atom_true;
    return XETS_OK;
}
NIF(setopts, 3, op_setopts)

static int op_rename(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                     ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    if (!enif_is_atom(env, argv[1]))
        return XETS_BADARG;
    TRY(glue_enter(env, argv[0], ACCESS_WRITE, &t));
    /* As ets: the result is the table's identifier after the rename, which
     * is the new name only for a named table. */
    int st = table_rename(t, argv[1]) == XETS_OK ? XETS_OK : XETS_BADARG;
    *out = table_id_term(env, t);
    epoch_exit();
    return st;
}
NIF(rename, 2, op_rename)

static bool get_key_mode(ERL_NIF_TERM t, key_mode_t *mode)
{
    if (t == atom_ordered)
        *mode = KEY_ORDERED;
    else if (t == atom_exact)
        *mode = KEY_EXACT;
    else
        return false;
    return true;
}

static ERL_NIF_TERM key_binary(ErlNifEnv *env, kbuf_t *b)
{
    ERL_NIF_TERM bin;
    memcpy(enif_make_new_binary(env, b->len, &bin), b->p, b->len);
    return bin;
}

static int op_key_encode(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                         ERL_NIF_TERM *out)
{
    (void)call;
    key_mode_t mode;
    if (!get_key_mode(argv[1], &mode))
        return XETS_BADARG;
    kbuf_t b;
    kbuf_init(&b);
    int st = term_key_encode(env, argv[0], mode, &b);
    if (st == XETS_OK)
        *out = key_binary(env, &b);
    kbuf_free(&b);
    return st;
}
NIF(key_encode, 2, op_key_encode)

/* For tests of the codec, on a dirty scheduler (its bytes may be long): the
 * key encoding of external-format bytes (of element Keypos of a tuple, or
 * with 0 of the whole term), the local node being that of a pid, port or
 * reference given in external format: the encoding, {error, corrupt} or
 * {error, badarg}. */
static int op_key_encode_etf(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                             ERL_NIF_TERM *out)
{
    ErlNifBinary etf, node_etf;
    unsigned keypos;
    key_mode_t mode;
    key_node_t local;
    const unsigned char *next;
    if (call_thread(call) == CALL_NORMAL)
        return XETS_DIRTY;
    if (!enif_inspect_binary(env, argv[0], &etf) || !enif_get_uint(env, argv[1], &keypos) ||
        !get_key_mode(argv[2], &mode) || !enif_inspect_binary(env, argv[3], &node_etf) ||
        node_etf.size < 1 ||
        key_codec_node_read(node_etf.data + 1, node_etf.data + node_etf.size, &local, &next) !=
            XETS_OK)
        return XETS_BADARG;
    kbuf_t b;
    kbuf_init(&b);
    int st = keypos == 0 ? key_codec_encode(etf.data, etf.size, mode, &local, &b)
                         : key_codec_encode_element(etf.data, etf.size, keypos, mode, &local, &b);
    if (st == XETS_OK)
        *out = key_binary(env, &b);
    else if (st == XETS_CORRUPT || st == XETS_BADARG)
        *out = enif_make_tuple2(env, atom_error, st == XETS_CORRUPT ? atom_corrupt : atom_badarg);
    kbuf_free(&b);
    return st == XETS_CORRUPT || st == XETS_BADARG ? XETS_OK : st;
}
NIF(key_encode_etf, 4, op_key_encode_etf)

/* ---- tests of the one path (fault_store.h) ----------------------------- */

/* fault_arm(Tab, put | get | remove | update | cursor,
 *           io | corrupt | need_io | need_io_fails) -> true:
 * the next call of that store operation on a table of type xets_fault_set
 * answers as armed. */
static int op_fault_arm(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call,
                        ERL_NIF_TERM *out)
{
    (void)call;
    const ERL_NIF_TERM *ops[] = {&atom_put, &atom_get, &atom_remove, &atom_update, &atom_cursor};
    const ERL_NIF_TERM *kinds[] = {&atom_io, &atom_corrupt, &atom_need_io, &atom_need_io_fails};
    unsigned op = 0, kind = 0;
    while (op < FAULT_OPS && argv[1] != *ops[op])
        op++;
    while (kind < sizeof kinds / sizeof kinds[0] && argv[2] != *kinds[kind])
        kind++;
    if (op == FAULT_OPS || kind == sizeof kinds / sizeof kinds[0])
        return XETS_BADARG;
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    bool faulty = t->ops == &fault_store_ops;
    if (faulty)
        fault_store_arm(t->store, op, kind);
    epoch_exit();
    *out = atom_true;
    return faulty ? XETS_OK : XETS_BADARG;
}
NIF(fault_arm, 3, op_fault_arm)

/* fault_log() -> {DirtyIo, Elsewhere, InSection}: where the I/O requests
 * of fault stores ran. */
static ERL_NIF_TERM fault_log_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    fault_log_t log = fault_store_log();
    return enif_make_tuple3(env, enif_make_ulong(env, log.dirty_io),
                            enif_make_ulong(env, log.elsewhere),
                            enif_make_ulong(env, log.in_section));
}

/* ---- module ------------------------------------------------------------ */

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info)
{
    (void)priv;
    (void)info;
    atoms_init(env);
    ErlNifResourceTypeInit init = {.dtor = io_request_dtor, .members = 1};
    io_request_type =
        enif_init_resource_type(env, "xets_io_request", &init, ERL_NIF_RT_CREATE, NULL);
    if (io_request_type == NULL)
        return -1;
    int st = table_module_init(env);
    if (st == 0)
        st = select_module_init(env);
    return st != 0 ? st : quiesce_init();
}

static void unload(ErlNifEnv *env, void *priv)
{
    (void)env;
    (void)priv;
    table_module_stop();
}

static ErlNifFunc nif_funcs[] = {
    {"new", 2, new_nif, 0},
    {"open", 4, open_nif, 0},
    {"close", 1, close_nif, 0},
    {"sync", 1, sync_nif, 0},
    {"destroy", 1, destroy_nif, 0},
    {"move", 2, move_nif, 0},
    {"disk_info", 1, disk_info_nif, 0},
    {"delete", 1, delete_nif, 0},
    {"info", 1, info_nif, 0},
    {"stats", 1, stats_nif, 0},
    {"whereis", 1, whereis_nif, 0},
    {"all", 0, all_nif, 0},
    {"lookup", 2, lookup_nif, 0},
    {"lookup_element", 4, lookup_element_nif, 0},
    {"member", 2, member_nif, 0},
    {"insert", 2, insert_nif, 0},
    {"insert_new", 2, insert_new_nif, 0},
    {"insert_object", 4, insert_object_nif, 0},
    {"delete", 2, delete_key_nif, 0},
    {"take", 2, take_nif, 0},
    {"delete_object", 2, delete_object_nif, 0},
    {"delete_all_objects", 1, delete_all_objects_nif, 0},
    {"update", 5, update_nif, 0},
    {"first", 3, first_nif, 0},
    {"next", 4, next_nif, 0},
    {"slot", 3, slot_nif, 0},
    {"chunk", 3, chunk_nif, 0},
    {"objects", 3, objects_nif, 0},
    {"safe_fixtable", 2, safe_fixtable_nif, 0},
    {"give_away", 3, give_away_nif, 0},
    {"setopts", 3, setopts_nif, 0},
    {"rename", 2, rename_nif, 0},
    {"reaper_drain", 0, reaper_drain_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"quiesce_normal", 0, quiesce_normal_nif, 0},
    {"quiesce_dirty_cpu", 2, quiesce_dirty_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"quiesce_dirty_io", 2, quiesce_dirty_nif, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"alloc_stats", 0, alloc_stats_nif, 0},
    {"key_encode", 2, key_encode_nif, 0},
    {"lookup_floor", 2, lookup_floor_nif, 0},
    {"key_encode_etf", 4, key_encode_etf_nif, 0},
    {"select_plan", 2, select_plan_nif, 0},
    {"select", 7, select_nif, 0},
    {"select_write", 2, select_write_nif, 0},
    {"fault_arm", 3, fault_arm_nif, 0},
    {"fault_log", 0, fault_log_nif, 0},
};

ERL_NIF_INIT(xets_nif, nif_funcs, load, NULL, NULL, unload)
