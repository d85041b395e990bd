/* NIF glue: the function table, argument decoding, and the mapping of core
 * status codes to Erlang results and exceptions. Table lifecycle lives in
 * table.c; structures in hash_table.c and skiplist.c; terms in term_key.c
 * and term_int.c. Every operation runs inside one epoch section. */
#include <erl_nif.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "epoch.h"
#include "key_group.h"
#include "quiesce.h"
#include "reaper.h"
#include "select.h"
#include "status.h"
#include "table.h"
#include "term_int.h"
#include "term_key.h"

static ERL_NIF_TERM atom_true, atom_false, atom_undefined, atom_none, atom_ok;
static ERL_NIF_TERM atom_ordered, atom_exact, atom_end_of_table, atom_forward;
static ERL_NIF_TERM atom_set, atom_ordered_set, atom_bag, atom_duplicate_bag;
static ERL_NIF_TERM atom_private, atom_protected, atom_public, atom_auto;
static ERL_NIF_TERM atom_system_limit, atom_nodefault, atom_default, atom_keep;
static ERL_NIF_TERM atom_results, atom_count, atom_delete, atom_replace, atom_deferred;
static ERL_NIF_TERM atom_lookup, atom_walk, atom_continue, atom_error, atom_corrupt, atom_badarg;

/* Lists longer than this (about a millisecond of preparing and publishing
 * here) are inserted on a dirty scheduler; the table is closed to other
 * calls meanwhile, as ETS holds its table lock. */
#define DIRTY_LIST_LEN 2000
/* A traversal chunk stops after this many objects, or at the bounds of
 * chunk.h. */
#define CHUNK_OBJECTS 1000

static ERL_NIF_TERM raise_nomem(ErlNifEnv *env)
{
    return enif_raise_exception(env, atom_system_limit);
}

/* Charges the calling process for the time it spent in C since start, so
 * that a loop of chunk calls is preempted like a loop of Erlang code (a
 * time slice is about a millisecond). */
static void charge(ErlNifEnv *env, ErlNifTime start)
{
    if (enif_thread_type() != ERL_NIF_THR_NORMAL_SCHEDULER)
        return;
    ErlNifTime percent = (enif_monotonic_time(ERL_NIF_USEC) - start) / 10;
    if (percent > 0)
        enif_consume_timeslice(env, percent > 100 ? 100 : (int)percent);
}

/* Runs the same call again once the process has yielded: the table is held
 * by an exclusive operation. Giving up the time slice keeps the scheduler
 * free for the holder. */
static ERL_NIF_TERM retry(ErlNifEnv *env, const char *name,
                          ERL_NIF_TERM (*fn)(ErlNifEnv *, int, const ERL_NIF_TERM[]), int argc,
                          const ERL_NIF_TERM argv[])
{
    enif_consume_timeslice(env, 100);
    return enif_schedule_nif(env, name, 0, fn, argc, argv);
}

/* Runs the same call again on a dirty scheduler: it met an object too long
 * to copy on a normal one (chunk.h). */
static ERL_NIF_TERM on_dirty(ErlNifEnv *env, const char *name,
                             ERL_NIF_TERM (*fn)(ErlNifEnv *, int, const ERL_NIF_TERM[]), int argc,
                             const ERL_NIF_TERM argv[])
{
    return enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_CPU_BOUND, fn, argc, argv);
}

#define ENTER(env, tab, want, t, name, fn)                                                        \
    do {                                                                                          \
        epoch_enter();                                                                            \
        int enter_st_ = table_enter(env, tab, want, &t);                                          \
        if (enter_st_ != XETS_OK) {                                                               \
            epoch_exit();                                                                         \
            if (enter_st_ == XETS_BUSY)                                                           \
                return retry(env, name, fn, argc, argv);                                          \
            return enif_make_badarg(env);                                                         \
        }                                                                                         \
    } while (0)

/* ENTER, then argv[1] encoded as a key of t into kb. The caller ends with
 * leave_key(&kb), which also ends the epoch section. */
#define ENTER_KEY(env, want, t, kb, name, fn)                                                    \
    ENTER(env, argv[0], want, t, name, fn);                                                       \
    if (encode_key(env, t, argv[1], &kb) != XETS_OK) {                                            \
        leave_key(&kb);                                                                           \
        return raise_nomem(env);                                                                  \
    }

static void leave_key(kbuf_t *kb)
{
    epoch_exit();
    kbuf_free(kb);
}

/* ---- keys and objects -------------------------------------------------- */

static int encode_key(ErlNifEnv *env, table_t *t, ERL_NIF_TERM key, kbuf_t *kb)
{
    kbuf_init(kb);
    return term_key_encode(env, key, t->key_mode, kb);
}

/* An object ready to be stored. */
typedef struct prepared {
    ERL_NIF_TERM obj;
    kbuf_t key;
    ErlNifBinary etf;
    bool owns_etf; /* made here, not passed in */
    uint64_t fp;
} prepared_t;

static void prepared_free(prepared_t *p)
{
    kbuf_free(&p->key);
    if (p->owns_etf)
        enif_release_binary(&p->etf);
}

static bool has_fingerprint(table_t *t)
{
    return t->type == TYPE_BAG || t->type == TYPE_DUPLICATE_BAG;
}

/* Returns XETS_BADARG for anything that is not a tuple with a key. etf is
 * obj's external format as term_to_binary/1 made it, kept alive by the
 * caller, or NULL to make it here. */
static int prepare(ErlNifEnv *env, table_t *t, ERL_NIF_TERM obj, const ErlNifBinary *etf,
                   prepared_t *p)
{
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(env, obj, &arity, &elems) || (unsigned)arity < t->keypos)
        return XETS_BADARG;
    p->obj = obj;
    p->fp = 0;
    p->owns_etf = etf == NULL;
    if (encode_key(env, t, elems[t->keypos - 1], &p->key) != XETS_OK) {
        kbuf_free(&p->key);
        return XETS_NOMEM;
    }
    if (etf != NULL)
        p->etf = *etf;
    else if (!enif_term_to_binary(env, obj, &p->etf)) {
        kbuf_free(&p->key);
        return XETS_NOMEM;
    }
    if (has_fingerprint(t) && term_key_fingerprint(env, obj, &p->fp) != XETS_OK) {
        prepared_free(p);
        return XETS_NOMEM;
    }
    return XETS_OK;
}

static rec_in_t rec_in_of(const prepared_t *p)
{
    return (rec_in_t){.key = p->key.p,
                      .klen = p->key.len,
                      .val = p->etf.data,
                      .vlen = p->etf.size,
                      .fp = p->fp};
}

static ERL_NIF_TERM decode(ErlNifEnv *env, const rec_t *r)
{
    ERL_NIF_TERM term;
    if (enif_binary_to_term(env, r->val, r->vlen, &term, 0) == 0)
        abort(); /* we wrote these bytes: failing to read them is memory corruption */
    return term;
}

/* Is the stored object r =:= the term in ctx? The same bytes as the term's
 * external format (when known) decode to it; otherwise r is decoded into a
 * scratch env and compared (=:= terms may differ in bytes: 0.0, -0.0). */
typedef struct identical_ctx {
    ERL_NIF_TERM obj;
    const ErlNifBinary *etf; /* obj's external format, or NULL */
    uint64_t fp;
    bool use_fp;
    /* delete_object: an object too long to decode here is taken as not
     * identical, and the call redone on a dirty scheduler. Objects =:= obj
     * are all as long as it, so none of them is deleted before the redo. */
    bool may_skip;
    bool skipped;
    ErlNifEnv *scratch;
} identical_ctx_t;

static bool is_identical(void *vctx, const rec_t *r)
{
    identical_ctx_t *c = vctx;
    if (c->use_fp && r->fp != c->fp)
        return false;
    if (c->etf != NULL && r->vlen == c->etf->size && memcmp(r->val, c->etf->data, r->vlen) == 0)
        return true;
    if (c->may_skip && too_long_here(r->vlen)) {
        c->skipped = true;
        return false;
    }
    if (c->scratch == NULL)
        c->scratch = enif_alloc_env();
    bool same = enif_is_identical(decode(c->scratch, r), c->obj);
    enif_clear_env(c->scratch);
    return same;
}

static void identical_done(identical_ctx_t *c)
{
    if (c->scratch != NULL)
        enif_free_env(c->scratch);
}

static int put_prepared(table_t *t, prepared_t *p, enum put_mode mode)
{
    rec_in_t in = rec_in_of(p);
    identical_ctx_t same = {.obj = p->obj, .etf = &p->etf, .fp = p->fp, .use_fp = true};
    int st = t->ops->put(table_store(t), &in, mode, is_identical, &same);
    identical_done(&same);
    return st;
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

/* new(Name, {Type, Protection, Named, Keypos, Heir, WriteConc, ReadConc,
 *            DecentralizedCounters, Compressed}) with options already
 * checked and normalized by xets:new/2. */
static ERL_NIF_TERM new_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    int n;
    const ERL_NIF_TERM *o;
    table_opts_t opts = {0};
    if (!enif_is_atom(env, argv[0]) || !enif_get_tuple(env, argv[1], &n, &o) || n != 9)
        return enif_make_badarg(env);
    if (o[0] == atom_set)
        opts.type = TYPE_SET;
    else if (o[0] == atom_ordered_set)
        opts.type = TYPE_ORDERED_SET;
    else if (o[0] == atom_bag)
        opts.type = TYPE_BAG;
    else if (o[0] == atom_duplicate_bag)
        opts.type = TYPE_DUPLICATE_BAG;
    else
        return enif_make_badarg(env);
    if (o[1] == atom_private)
        opts.protection = PROT_PRIVATE;
    else if (o[1] == atom_protected)
        opts.protection = PROT_PROTECTED;
    else if (o[1] == atom_public)
        opts.protection = PROT_PUBLIC;
    else
        return enif_make_badarg(env);
    int heir_arity;
    const ERL_NIF_TERM *heir;
    if (!get_bool(o[2], &opts.named) || !enif_get_uint(env, o[3], &opts.keypos) ||
        opts.keypos < 1 || !get_bool(o[6], &opts.read_concurrency) ||
        !get_bool(o[7], &opts.decentralized_counters) || !get_bool(o[8], &opts.compressed))
        return enif_make_badarg(env);
    if (o[5] == atom_auto)
        opts.write_concurrency = WC_AUTO;
    else if (o[5] == atom_true)
        opts.write_concurrency = WC_TRUE;
    else if (o[5] == atom_false)
        opts.write_concurrency = WC_FALSE;
    else
        return enif_make_badarg(env);
    if (o[4] != atom_none) {
        if (!enif_get_tuple(env, o[4], &heir_arity, &heir) || heir_arity != 2 ||
            !enif_get_local_pid(env, heir[0], &opts.heir))
            return enif_make_badarg(env);
        opts.has_heir = true;
        opts.heir_data = heir[1];
    }
    table_t *t;
    xets_call_t call;
    call_init(&call, CALL_NORMAL);
    int st = table_create(env, argv[0], &opts, &t, &call);
    if (st == XETS_EXISTS)
        return enif_make_badarg(env);
    if (st != XETS_OK)
        return raise_nomem(env);
    ERL_NIF_TERM id = opts.named ? argv[0] : enif_make_resource(env, t);
    enif_release_resource(t);
    return id;
}

static ERL_NIF_TERM delete_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ENTER(env, argv[0], ACCESS_WRITE, t, "delete", delete_nif);
    table_delete(env, t);
    epoch_exit();
    return atom_true;
}

static ERL_NIF_TERM type_atom(table_t *t)
{
    static const ERL_NIF_TERM *names[] = {&atom_set, &atom_ordered_set, &atom_bag,
                                          &atom_duplicate_bag};
    return *names[t->type];
}

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
static ERL_NIF_TERM info_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    epoch_enter();
    table_t *t = table_find(env, argv[0]);
    if (t == NULL || !table_alive(env, t)) {
        epoch_exit();
        /* As ets: a tid of a deleted table or an unused name is undefined,
         * any other reference is not a table identifier at all. */
        return t == NULL && enif_is_ref(env, argv[0]) ? enif_make_badarg(env) : atom_undefined;
    }
    store_t *s = table_store(t);
    size_t size = t->ops->size(s);
    size_t mem = t->ops->memory(s) + sizeof *t;
    /* The section lasts to the end: a table found by name is kept only by
     * it until enif_make_resource below. */
    ERL_NIF_TERM prot[] = {atom_private, atom_protected, atom_public};
    ERL_NIF_TERM wc[] = {atom_false, atom_true, atom_auto};
    enif_mutex_lock(t->meta);
    ERL_NIF_TERM heir =
        t->heir_env != NULL ? enif_make_pid(env, &t->heir) : atom_none;
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
        type_atom(t),
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
    return enif_make_tuple_from_array(env, items, sizeof items / sizeof items[0]);
}

static bool enter_alive(table_t *t);

/* stats(Tab) -> false | the 8-tuple of ets:info(Tab, stats). It walks the
 * whole table, so it runs on a dirty scheduler, in steps, each in an epoch
 * section of its own (store.h). */
static ERL_NIF_TERM stats_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    epoch_enter();
    /* Like info/2, whatever the protection; xets:info/2 has checked that
     * the table exists (if it is deleted meanwhile, stats are of nothing). */
    table_t *t = table_find(env, argv[0]);
    if (t == NULL || !table_alive(env, t) || t->ops->stats == NULL) {
        epoch_exit();
        return atom_false;
    }
    /* Between sections, a table found by name is kept by this reference. */
    enif_keep_resource(t);
    store_stats_walk_t w = {0};
    struct store_stats st;
    int rc;
    while ((rc = t->ops->stats(table_store(t), &w, &st)) == XETS_OK) {
        epoch_exit();
        if (!enter_alive(t))
            break; /* deleted meanwhile: no section is open */
    }
    if (rc != XETS_OK)
        epoch_exit();
    enif_release_resource(t);
    if (rc != XETS_END)
        return atom_false;
    return enif_make_tuple8(env, enif_make_uint64(env, st.buckets),
                            enif_make_double(env, st.avg_chain_len),
                            enif_make_double(env, st.std_dev_chain_len),
                            enif_make_double(env, st.std_dev_expected),
                            enif_make_uint64(env, st.min_chain_len),
                            enif_make_uint64(env, st.max_chain_len),
                            enif_make_uint64(env, st.kept_items), enif_make_uint64(env, st.locks));
}

static ERL_NIF_TERM whereis_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    if (!enif_is_atom(env, argv[0]))
        return enif_make_badarg(env);
    epoch_enter();
    table_t *t = table_find(env, argv[0]);
    ERL_NIF_TERM r = t != NULL && table_alive(env, t) ? enif_make_resource(env, t)
                                                          : atom_undefined;
    epoch_exit();
    return r;
}

static ERL_NIF_TERM all_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    (void)argv;
    ERL_NIF_TERM all;
    return table_all(env, &all) == XETS_OK ? all : raise_nomem(env);
}

/* ---- single-key reads -------------------------------------------------- */

typedef struct collect_ctx {
    ErlNifEnv *env;
    ERL_NIF_TERM list; /* reversed */
    unsigned pos;      /* lookup_element: element to take, else 0 */
    bool bad;          /* an object lacked element pos */
    bool may_stop;     /* a read, which may stop at an object too long to copy */
    bool too_long;     /* and did: to be redone on a dirty scheduler */
} collect_ctx_t;

static int collect(void *vctx, const rec_t *r)
{
    collect_ctx_t *c = vctx;
    if (c->may_stop && too_long_here(r->vlen)) {
        c->too_long = true;
        return 1;
    }
    ERL_NIF_TERM obj = decode(c->env, r);
    if (c->pos > 0) {
        int arity;
        const ERL_NIF_TERM *elems;
        if (!enif_get_tuple(c->env, obj, &arity, &elems) || (unsigned)arity < c->pos) {
            c->bad = true;
            return 1;
        }
        obj = elems[c->pos - 1];
    }
    c->list = enif_make_list_cell(c->env, obj, c->list);
    return 0;
}

static ERL_NIF_TERM reversed(ErlNifEnv *env, ERL_NIF_TERM list)
{
    ERL_NIF_TERM out;
    enif_make_reverse_list(env, list, &out);
    return out;
}

static ERL_NIF_TERM lookup_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    kbuf_t kb;
    ENTER_KEY(env, ACCESS_READ, t, kb, "lookup", lookup_nif);
    collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .may_stop = true};
    t->ops->get(table_store(t), kb.p, kb.len, collect, &c);
    leave_key(&kb);
    if (c.too_long)
        return on_dirty(env, "lookup", lookup_nif, argc, argv);
    return reversed(env, c.list);
}

/* lookup_element(Tab, Key, Pos, nodefault | {default, Default}) */
static ERL_NIF_TERM lookup_element_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    unsigned pos;
    int arity;
    const ERL_NIF_TERM *dflt = NULL;
    if (!enif_get_uint(env, argv[2], &pos) || pos < 1)
        return enif_make_badarg(env);
    if (argv[3] != atom_nodefault &&
        (!enif_get_tuple(env, argv[3], &arity, &dflt) || arity != 2 || dflt[0] != atom_default))
        return enif_make_badarg(env);
    table_t *t;
    kbuf_t kb;
    ENTER_KEY(env, ACCESS_READ, t, kb, "lookup_element", lookup_element_nif);
    collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .pos = pos, .may_stop = true};
    int st = t->ops->get(table_store(t), kb.p, kb.len, collect, &c);
    bool many = t->type == TYPE_BAG || t->type == TYPE_DUPLICATE_BAG;
    leave_key(&kb);
    if (c.too_long)
        return on_dirty(env, "lookup_element", lookup_element_nif, argc, argv);
    if (c.bad)
        return enif_make_badarg(env);
    if (st == XETS_NOTFOUND)
        return dflt != NULL ? dflt[1] : enif_make_badarg(env);
    if (many)
        return reversed(env, c.list);
    ERL_NIF_TERM head, tail;
    enif_get_list_cell(env, c.list, &head, &tail);
    return head;
}

static int stop_at_first(void *ctx, const rec_t *r)
{
    (void)ctx;
    (void)r;
    return 1;
}

static ERL_NIF_TERM member_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    kbuf_t kb;
    ENTER_KEY(env, ACCESS_READ, t, kb, "member", member_nif);
    int st = t->ops->get(table_store(t), kb.p, kb.len, stop_at_first, NULL);
    leave_key(&kb);
    return st == XETS_NOTFOUND ? atom_false : atom_true;
}

/* ---- writes ------------------------------------------------------------ */

static ERL_NIF_TERM insert_one(ErlNifEnv *env, table_t *t, ERL_NIF_TERM obj,
                               const ErlNifBinary *etf, enum put_mode mode)
{
    prepared_t p;
    int st = prepare(env, t, obj, etf, &p);
    if (st != XETS_OK) {
        epoch_exit();
        return st == XETS_BADARG ? enif_make_badarg(env) : raise_nomem(env);
    }
    st = put_prepared(t, &p, mode);
    epoch_exit();
    prepared_free(&p);
    if (st == XETS_NOMEM)
        return raise_nomem(env);
    return st == XETS_EXISTS ? atom_false : atom_true;
}

/* Prepares every object of a list; nothing is stored unless all are good.
 * XETS_DIRTY, with nothing prepared, once the objects are too long to copy
 * on this thread (only the one that made them so has been). */
static int prepare_list(ErlNifEnv *env, table_t *t, ERL_NIF_TERM list, unsigned len,
                        prepared_t **out)
{
    prepared_t *ps = malloc(sizeof *ps * len);
    if (ps == NULL)
        return XETS_NOMEM;
    ERL_NIF_TERM head;
    size_t bytes = 0;
    for (unsigned i = 0; i < len; i++) {
        enif_get_list_cell(env, list, &head, &list);
        int st = prepare(env, t, head, NULL, &ps[i]);
        if (st == XETS_OK && too_long_here(bytes += ps[i].etf.size)) {
            prepared_free(&ps[i]);
            st = XETS_DIRTY;
        }
        if (st != XETS_OK) {
            while (i-- > 0)
                prepared_free(&ps[i]);
            free(ps);
            return st;
        }
    }
    *out = ps;
    return XETS_OK;
}

/* Opens an epoch section on t, unless t has died. The gate keeps out
 * delete/1 but not the owner's death, whose store the reaper frees once
 * the sections open before it are over: so a section that began after
 * must see the table dead, and leave its store alone. */
static bool enter_alive(table_t *t)
{
    epoch_enter();
    if (!atomic_load(&t->dead))
        return true;
    epoch_exit();
    return false;
}

/* Ends the epoch section and opens another after every 1024 steps of a
 * loop under the gate, so that a long list never holds back reclamation
 * or another table's gate (the gate keeps every other call out meanwhile,
 * so what the loop learnt stays true). False, with no section open, if
 * the table died meanwhile. */
static bool breathe(table_t *t, unsigned step)
{
    if ((step & 1023) != 1023)
        return true;
    epoch_exit();
    return enter_alive(t);
}

/* With the gate closed: insert_new's check, then publication. */
static int publish_list(table_t *t, prepared_t *ps, unsigned len, enum put_mode mode)
{
    if (!enter_alive(t))
        return XETS_BADARG;
    for (unsigned i = 0; mode == PUT_NEW && i < len; i++) {
        if (t->ops->get(table_store(t), ps[i].key.p, ps[i].key.len, stop_at_first, NULL) !=
            XETS_NOTFOUND) {
            epoch_exit();
            return XETS_EXISTS;
        }
        if (!breathe(t, i))
            return XETS_BADARG;
    }
    /* Duplicates within the list behave as successive inserts: in list
     * order, except into a bag, which ets (OTP 25) fills from the last
     * object of the list to the first, so that lookup/2 returns a key's
     * objects of one list in reverse. */
    bool backward = t->type == TYPE_BAG;
    int st = XETS_OK;
    for (unsigned i = 0; i < len && st == XETS_OK; i++) {
        st = put_prepared(t, &ps[backward ? len - 1 - i : i], PUT_REPLACE);
        if (!breathe(t, i))
            return XETS_BADARG;
    }
    epoch_exit();
    return st;
}

static void prepared_free_all(prepared_t *ps, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        prepared_free(&ps[i]);
    free(ps);
}

/* insert_list(Tab, List, New): a list of objects, atomic and isolated:
 * prepared with no epoch section held, then published with the gate
 * closed. A long list moves itself to a dirty scheduler first. */
static ERL_NIF_TERM insert_list(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    enum put_mode mode = argv[2] == atom_true ? PUT_NEW : PUT_REPLACE;
    unsigned len;
    if (!enif_get_list_length(env, argv[1], &len))
        return enif_make_badarg(env);
    int flags = len > DIRTY_LIST_LEN ? ERL_NIF_DIRTY_JOB_CPU_BOUND : 0;
    if (flags != 0 && enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER)
        return enif_schedule_nif(env, "insert", flags, insert_list, argc, argv);
    ErlNifTime start = enif_monotonic_time(ERL_NIF_USEC);
    table_t *t = NULL;
    epoch_enter();
    int st = table_enter(env, argv[0], ACCESS_WRITE, &t);
    /* The reference keeps a table found by name alive outside the section. */
    bool kept = st == XETS_OK && len > 0;
    if (kept)
        enif_keep_resource(t);
    epoch_exit();
    if (kept) {
        prepared_t *ps = NULL;
        if ((st = prepare_list(env, t, argv[1], len, &ps)) == XETS_OK &&
            (st = table_close_gate(t)) == XETS_BUSY)
            prepared_free_all(ps, len);
        if (st == XETS_OK) {
            st = publish_list(t, ps, len, mode);
            table_open_gate(t);
            prepared_free_all(ps, len);
        }
        enif_release_resource(t);
    }
    if (st == XETS_DIRTY)
        return on_dirty(env, "insert", insert_list, argc, argv);
    charge(env, start);
    if (st == XETS_BUSY) {
        enif_consume_timeslice(env, 100);
        return enif_schedule_nif(env, "insert", flags, insert_list, argc, argv);
    }
    if (st == XETS_BADARG)
        return enif_make_badarg(env);
    if (st == XETS_NOMEM)
        return raise_nomem(env);
    return st == XETS_EXISTS ? atom_false : atom_true;
}

/* insert(Tab, List) and insert_new(Tab, List): xets.erl sends one object,
 * alone or as the only one of a list, to insert_object. */
static ERL_NIF_TERM insert_common(ErlNifEnv *env, const ERL_NIF_TERM argv[], enum put_mode mode)
{
    ERL_NIF_TERM args[3] = {argv[0], argv[1], mode == PUT_NEW ? atom_true : atom_false};
    return insert_list(env, 3, args);
}

static ERL_NIF_TERM insert_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return insert_common(env, argv, PUT_REPLACE);
}

/* insert_object(Tab, Object, Etf, New): one object, with the external
 * format xets.erl made with term_to_binary/1. That makes a small object a
 * binary on the process heap, where enif_term_to_binary must allocate a
 * reference-counted one (and free it): most of the allocator's share of a
 * single insert. */
static ERL_NIF_TERM insert_object_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    ErlNifBinary etf;
    if (!enif_is_tuple(env, argv[1]) || !enif_inspect_binary(env, argv[2], &etf))
        return enif_make_badarg(env);
    if (too_long_here(etf.size))
        return on_dirty(env, "insert_object", insert_object_nif, argc, argv);
    table_t *t;
    ENTER(env, argv[0], ACCESS_WRITE, t, "insert_object", insert_object_nif);
    return insert_one(env, t, argv[1], &etf, argv[3] == atom_true ? PUT_NEW : PUT_REPLACE);
}

static ERL_NIF_TERM insert_new_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    return insert_common(env, argv, PUT_NEW);
}

static ERL_NIF_TERM delete_key_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    kbuf_t kb;
    ENTER_KEY(env, ACCESS_WRITE, t, kb, "delete", delete_key_nif);
    t->ops->remove(table_store(t), kb.p, kb.len, NULL, NULL, NULL, NULL);
    leave_key(&kb);
    return atom_true;
}

static int find_too_long(void *vctx, const rec_t *r)
{
    return *(bool *)vctx = too_long_here(r->vlen);
}

static ERL_NIF_TERM take_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    kbuf_t kb;
    ENTER_KEY(env, ACCESS_WRITE, t, kb, "take", take_nif);
    /* The removed objects are decoded as they go, past stopping: a normal
     * scheduler first looks for one too long to copy there. */
    bool too_long = false;
    if (enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER)
        t->ops->get(table_store(t), kb.p, kb.len, find_too_long, &too_long);
    collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0)};
    if (!too_long)
        t->ops->remove(table_store(t), kb.p, kb.len, NULL, NULL, collect, &c);
    leave_key(&kb);
    if (too_long)
        return on_dirty(env, "take", take_nif, argc, argv);
    return reversed(env, c.list);
}

static ERL_NIF_TERM delete_object_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ENTER(env, argv[0], ACCESS_WRITE, t, "delete_object", delete_object_nif);
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(env, argv[1], &arity, &elems) || (unsigned)arity < t->keypos) {
        epoch_exit();
        return enif_make_badarg(env);
    }
    kbuf_t kb;
    identical_ctx_t same = {.obj = argv[1], .use_fp = has_fingerprint(t), .may_skip = true};
    if (encode_key(env, t, elems[t->keypos - 1], &kb) != XETS_OK ||
        (same.use_fp && term_key_fingerprint(env, argv[1], &same.fp) != XETS_OK)) {
        leave_key(&kb);
        return raise_nomem(env);
    }
    t->ops->remove(table_store(t), kb.p, kb.len, is_identical, &same, NULL, NULL);
    leave_key(&kb);
    identical_done(&same);
    if (same.skipped)
        return on_dirty(env, "delete_object", delete_object_nif, argc, argv);
    return atom_true;
}

static ERL_NIF_TERM delete_all_objects_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ENTER(env, argv[0], ACCESS_WRITE, t, "delete_all_objects", delete_all_objects_nif);
    /* Closing the gate waits for epoch sections, so ours must end first;
     * the reference keeps a table found by name alive meanwhile. */
    enif_keep_resource(t);
    epoch_exit();
    if (table_close_gate(t) != XETS_OK) {
        enif_release_resource(t);
        return retry(env, "delete_all_objects", delete_all_objects_nif, argc, argv);
    }
    /* The size is what ets:internal_delete_all/2 answers. */
    size_t n = 0;
    xets_call_t call;
    call_init(&call, CALL_NORMAL);
    int st = table_clear(t, &n, &call);
    table_open_gate(t);
    enif_release_resource(t);
    if (st == XETS_BADARG)
        return enif_make_badarg(env);
    return st == XETS_OK ? enif_make_uint64(env, n) : raise_nomem(env);
}

/* ---- update_counter / update_element ------------------------------------ */

/* One change to an object: element pos gets value (update_element) or is
 * incremented by incr with an optional threshold (update_counter). */
typedef struct change {
    unsigned pos;
    ERL_NIF_TERM value; /* update_element: the new value; update_counter: incr */
    bool has_threshold;
    ERL_NIF_TERM threshold, setvalue;
} change_t;

typedef struct update_ctx {
    ErlNifEnv *env;
    table_t *t;
    bool counter;
    change_t *changes;
    unsigned n;
    ErlNifBinary out; /* the last replacement encoded */
    bool has_out;
    ERL_NIF_TERM *results;    /* update_counter results, in order */
    ERL_NIF_TERM key;         /* for a default object: its key is replaced */
} update_ctx_t;

static int apply_changes(update_ctx_t *c, ERL_NIF_TERM obj, ERL_NIF_TERM *out)
{
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(c->env, obj, &arity, &elems))
        return XETS_BADARG;
    ERL_NIF_TERM small[32];
    ERL_NIF_TERM *e = (size_t)arity <= 32 ? small : malloc(sizeof *e * (size_t)arity);
    if (e == NULL)
        return XETS_NOMEM;
    memcpy(e, elems, sizeof *e * (size_t)arity);
    int st = XETS_OK;
    for (unsigned i = 0; i < c->n && st == XETS_OK; i++) {
        change_t *ch = &c->changes[i];
        if (ch->pos > (unsigned)arity || ch->pos == c->t->keypos) {
            st = XETS_BADARG;
            break;
        }
        if (!c->counter) {
            e[ch->pos - 1] = ch->value;
            continue;
        }
        ERL_NIF_TERM sum;
        int sign, above;
        st = term_int_add(c->env, e[ch->pos - 1], ch->value, &sum);
        if (st == XETS_OK && ch->has_threshold) {
            ERL_NIF_TERM zero = enif_make_int(c->env, 0);
            if ((st = term_int_cmp(c->env, ch->value, zero, &sign)) == XETS_OK &&
                (st = term_int_cmp(c->env, sum, ch->threshold, &above)) == XETS_OK &&
                ((sign >= 0 && above > 0) || (sign < 0 && above < 0)))
                sum = ch->setvalue;
        }
        e[ch->pos - 1] = sum;
        c->results[i] = sum;
    }
    if (st == XETS_OK)
        *out = enif_make_tuple_from_array(c->env, e, (unsigned)arity);
    if (e != small)
        free(e);
    return st;
}

static int encode_replacement(update_ctx_t *c, ERL_NIF_TERM obj, rec_in_t *out)
{
    if (c->has_out)
        enif_release_binary(&c->out);
    c->has_out = enif_term_to_binary(c->env, obj, &c->out);
    if (!c->has_out)
        return XETS_NOMEM;
    out->val = c->out.data;
    out->vlen = c->out.size;
    out->fp = 0;
    return XETS_OK;
}

static int update_object(void *vctx, const rec_t *cur, rec_in_t *out)
{
    update_ctx_t *c = vctx;
    if (too_long_here(cur->vlen))
        return XETS_DIRTY; /* before changing anything */
    ERL_NIF_TERM updated;
    int st = apply_changes(c, decode(c->env, cur), &updated);
    if (st != XETS_OK)
        return st;
    out->key = cur->key;
    out->klen = cur->klen;
    return encode_replacement(c, updated, out);
}

/* Parses an update_counter op: Incr | {Pos, Incr} | {Pos, Incr, Thr, Set}. */
static bool parse_counter_op(ErlNifEnv *env, table_t *t, ERL_NIF_TERM op, bool bare, change_t *ch)
{
    int arity;
    const ERL_NIF_TERM *e;
    if (bare && enif_is_number(env, op)) {
        ch->pos = t->keypos + 1;
        ch->value = op;
        ch->has_threshold = false;
    } else if (enif_get_tuple(env, op, &arity, &e) && (arity == 2 || arity == 4) &&
               enif_get_uint(env, e[0], &ch->pos) && ch->pos >= 1) {
        ch->value = e[1];
        ch->has_threshold = arity == 4;
        if (ch->has_threshold) {
            ch->threshold = e[2];
            ch->setvalue = e[3];
        }
    } else {
        return false;
    }
    int dummy;
    ERL_NIF_TERM zero = enif_make_int(env, 0);
    return term_int_cmp(env, ch->value, zero, &dummy) == XETS_OK &&
           (!ch->has_threshold || (term_int_cmp(env, ch->threshold, zero, &dummy) == XETS_OK &&
                                   term_int_cmp(env, ch->setvalue, zero, &dummy) == XETS_OK));
}

static bool parse_element_op(ErlNifEnv *env, ERL_NIF_TERM op, change_t *ch)
{
    int arity;
    const ERL_NIF_TERM *e;
    if (!enif_get_tuple(env, op, &arity, &e) || arity != 2 || !enif_get_uint(env, e[0], &ch->pos) ||
        ch->pos < 1)
        return false;
    ch->value = e[1];
    return true;
}

/* Parses a single op or a list of ops into c->changes. */
static bool parse_changes(ErlNifEnv *env, table_t *t, ERL_NIF_TERM spec, update_ctx_t *c,
                          change_t *buf)
{
    c->changes = buf;
    c->n = 0;
    if (!enif_is_list(env, spec)) {
        c->n = 1;
        return c->counter ? parse_counter_op(env, t, spec, true, buf) : parse_element_op(env, spec, buf);
    }
    ERL_NIF_TERM head;
    while (enif_get_list_cell(env, spec, &head, &spec)) {
        change_t *ch = &buf[c->n++];
        if (!(c->counter ? parse_counter_op(env, t, head, false, ch) : parse_element_op(env, head, ch)))
            return false;
    }
    return enif_is_empty_list(env, spec);
}

/* Inserts Default, its key replaced by Key, with the changes applied.
 * XETS_BADARG if Default has no key position. */
static int insert_default(update_ctx_t *c, ERL_NIF_TERM dflt, const kbuf_t *kb)
{
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(c->env, dflt, &arity, &elems) || (unsigned)arity < c->t->keypos)
        return XETS_BADARG;
    ERL_NIF_TERM *e = malloc(sizeof *e * (size_t)arity);
    if (e == NULL)
        return XETS_NOMEM;
    memcpy(e, elems, sizeof *e * (size_t)arity);
    e[c->t->keypos - 1] = c->key;
    ERL_NIF_TERM obj = enif_make_tuple_from_array(c->env, e, (unsigned)arity);
    free(e);
    ERL_NIF_TERM updated;
    rec_in_t in = {.key = kb->p, .klen = kb->len};
    int st;
    if ((st = apply_changes(c, obj, &updated)) != XETS_OK ||
        (st = encode_replacement(c, updated, &in)) != XETS_OK)
        return st;
    return c->t->ops->put(table_store(c->t), &in, PUT_NEW, NULL, NULL);
}

/* update(Tab, Key, Spec, Counter, nodefault | {default, Obj}): update_counter
 * (Counter true) and update_element. Checked in ets's order: the table
 * type, Default's type, then the key, then the spec; Default's key position
 * only when it is used. */
static ERL_NIF_TERM update_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ENTER(env, argv[0], ACCESS_WRITE, t, "update", update_nif);
    update_ctx_t c = {.env = env, .t = t, .counter = argv[3] == atom_true, .key = argv[1]};
    int arity;
    const ERL_NIF_TERM *dflt = NULL;
    unsigned nops = 1;
    if ((t->type != TYPE_SET && t->type != TYPE_ORDERED_SET) ||
        (argv[4] != atom_nodefault &&
         (!enif_get_tuple(env, argv[4], &arity, &dflt) || arity != 2 ||
          dflt[0] != atom_default || !enif_is_tuple(env, dflt[1])))) {
        epoch_exit();
        return enif_make_badarg(env);
    }
    /* Cells, counted up to the tail: an improper list is refused by
     * parse_changes, after the key lookup. */
    ERL_NIF_TERM head, rest = argv[2];
    if (enif_is_list(env, rest))
        for (nops = 0; enif_get_list_cell(env, rest, &head, &rest); nops++)
            ;
    kbuf_t kb;
    kbuf_init(&kb); /* freed below even if the mallocs fail first */
    change_t *changes = malloc(sizeof *changes * (nops ? nops : 1));
    c.results = malloc(sizeof *c.results * (nops ? nops : 1));
    if (changes == NULL || c.results == NULL || encode_key(env, t, argv[1], &kb) != XETS_OK) {
        kbuf_free(&kb);
        free(changes);
        free(c.results);
        epoch_exit();
        return raise_nomem(env);
    }
    int st;
    if (!parse_changes(env, t, argv[2], &c, changes)) {
        st = t->ops->get(table_store(t), kb.p, kb.len, stop_at_first, NULL) == XETS_NOTFOUND &&
                     dflt == NULL
                 ? XETS_NOTFOUND
                 : XETS_BADARG;
    } else {
        do {
            st = t->ops->update(table_store(t), kb.p, kb.len, update_object, &c);
            if (st == XETS_NOTFOUND && dflt != NULL)
                st = insert_default(&c, dflt[1], &kb);
            /* XETS_EXISTS: someone inserted the key meanwhile; update theirs. */
        } while (st == XETS_EXISTS);
    }
    leave_key(&kb);
    free(changes);
    if (c.has_out)
        enif_release_binary(&c.out);
    if (st == XETS_DIRTY) {
        free(c.results);
        return on_dirty(env, "update", update_nif, argc, argv);
    }
    ERL_NIF_TERM result;
    if (st == XETS_NOTFOUND)
        result = c.counter ? enif_make_badarg(env) : atom_false;
    else if (st == XETS_NOMEM)
        result = raise_nomem(env);
    else if (st != XETS_OK)
        result = enif_make_badarg(env);
    else if (!c.counter)
        result = atom_true;
    else if (enif_is_list(env, argv[2]))
        result = enif_make_list_from_array(env, c.results, c.n);
    else
        result = c.results[0];
    free(c.results);
    return result;
}

/* ---- traversal --------------------------------------------------------- */

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
    ErlNifTime deadline;
    bool too_long; /* stopped at an object to copy on a dirty scheduler */
    /* A bag traversed backward: each key's objects are taken newest first,
     * gathered here until the scan moves on (key_group.h). */
    key_group_t *group;
    bool nomem; /* the group could not grow */
} chunk_ctx_t;

/* Conses r's object onto the chunk. Returns whether the chunk is full. */
static bool chunk_take(chunk_ctx_t *c, const rec_t *r)
{
    c->list = enif_make_list_cell(c->env, decode(c->env, r), c->list);
    c->count++;
    c->bytes += r->vlen;
    return c->count >= CHUNK_OBJECTS || c->bytes >= CHUNK_BYTES || chunk_late(c->count, c->deadline);
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
    if (too_long_here(r->vlen)) {
        c->too_long = true;
        return 1;
    }
    if (c->key_only) {
        /* The scan visits the rest of the key's objects after this stop;
         * as ets, answer with the key of the newest one (they are all =:=,
         * but 0.0 and -0.0 print differently). */
        int arity;
        const ERL_NIF_TERM *elems;
        ERL_NIF_TERM obj = decode(c->env, r);
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

static bool is_hash(table_t *t)
{
    return t->type != TYPE_ORDERED_SET;
}

/* What a step (first, next and their reverses) answers: the key, or with
 * What = lookup (first_lookup/1 and friends of OTP 27) or walk (xets's
 * own walks: table/2, i/1) {Key, Objects}, the objects read in the same
 * visit as the key. */
static chunk_ctx_t step_ctx(ErlNifEnv *env, table_t *t, ERL_NIF_TERM what)
{
    return (chunk_ctx_t){.env = env,
                         .keypos = t->keypos,
                         .key_only = true,
                         .with_objects = what == atom_lookup || what == atom_walk,
                         .objects = enif_make_list(env, 0)};
}

static ERL_NIF_TERM step_result(ErlNifEnv *env, int st, const chunk_ctx_t *c)
{
    if (st == XETS_END)
        return atom_end_of_table;
    return c->with_objects ? enif_make_tuple2(env, c->list, reversed(env, c->objects)) : c->list;
}

/* first/last: first(Tab, forward | backward, key | lookup) */
static ERL_NIF_TERM first_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ENTER(env, argv[0], ACCESS_READ, t, "first", first_nif);
    chunk_ctx_t c = step_ctx(env, t, argv[2]);
    enum scan_dir dir = argv[1] == atom_forward ? SCAN_FORWARD : SCAN_BACKWARD;
    int st = store_scan(t->ops, table_store(t), NULL, 0, dir, chunk_visit, &c);
    epoch_exit();
    if (c.too_long)
        return on_dirty(env, "first", first_nif, argc, argv);
    if (st == XETS_NOMEM)
        return raise_nomem(env);
    return step_result(env, st, &c);
}

/* next/prev: next(Tab, Key, forward | backward, key | lookup | walk). On
 * hash tables the key must be in the table unless the table is fixed (ETS
 * raises badarg). */
static ERL_NIF_TERM next_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    kbuf_t kb;
    ENTER_KEY(env, ACCESS_READ, t, kb, "next", next_nif);
    store_t *s = table_store(t);
    /* As ets: on ordered_set the end marker is no key to step from (but
     * xets's walks go on past an object whose key it is); hash tables step
     * only from a key they hold, unless fixed. */
    if (is_hash(t) ? atomic_load(&t->fix_count) == 0 &&
                         t->ops->get(s, kb.p, kb.len, stop_at_first, NULL) == XETS_NOTFOUND
                   : argv[1] == atom_end_of_table && argv[3] != atom_walk) {
        leave_key(&kb);
        return enif_make_badarg(env);
    }
    chunk_ctx_t c = step_ctx(env, t, argv[3]);
    enum scan_dir dir = argv[2] == atom_forward ? SCAN_FORWARD : SCAN_BACKWARD;
    int st = store_scan(t->ops, s, kb.p, kb.len, dir, chunk_visit, &c);
    leave_key(&kb);
    if (c.too_long)
        return on_dirty(env, "next", next_nif, argc, argv);
    if (st == XETS_NOMEM)
        return raise_nomem(env);
    return step_result(env, st, &c);
}

/* One chunk of a scan from after (the start if empty) in direction dir,
 * into c: each bag key's objects newest first if newest_first. Call in an
 * epoch section. Returns store_scan's status (XETS_NOMEM among them). */
static int chunk_scan(chunk_ctx_t *c, table_t *t, const ErlNifBinary *after, enum scan_dir dir,
                      bool newest_first)
{
    key_group_t group;
    key_group_init(&group);
    bool bag = t->type == TYPE_BAG || t->type == TYPE_DUPLICATE_BAG;
    c->group = bag && newest_first ? &group : NULL;
    int st = store_scan(t->ops, table_store(t), after->size ? after->data : NULL, after->size, dir,
                        chunk_visit, c);
    /* The last key the scan visited; the table ends there. */
    if (c->group != NULL && !c->too_long && !c->nomem && c->cursor == atom_end_of_table)
        chunk_take_group(c);
    c->group = NULL;
    key_group_free(&group);
    return st;
}

/* chunk(Tab, Cursor, forward | backward) -> {Objects, Cursor} | {Objects, '$end_of_table'}
 * Cursor is '$end_of_table' to start, else the binary returned last time.
 * Objects are in the order visited: a hash table's keys in its one order,
 * a bag's objects of a key oldest first forward and newest first
 * backward, as ets's foldl and foldr take them. */
static ERL_NIF_TERM chunk_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ErlNifBinary after = {0};
    if (argv[1] != atom_end_of_table && !enif_inspect_binary(env, argv[1], &after))
        return enif_make_badarg(env);
    ErlNifTime start = enif_monotonic_time(ERL_NIF_USEC);
    ENTER(env, argv[0], ACCESS_READ, t, "chunk", chunk_nif);
    chunk_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .keypos = t->keypos,
                     .cursor = atom_end_of_table, .deadline = chunk_deadline()};
    enum scan_dir dir = argv[2] == atom_forward ? SCAN_FORWARD : SCAN_BACKWARD;
    int st = chunk_scan(&c, t, &after, dir, dir == SCAN_BACKWARD);
    epoch_exit();
    if (c.too_long)
        return on_dirty(env, "chunk", chunk_nif, argc, argv);
    if (st == XETS_NOMEM)
        return raise_nomem(env);
    charge(env, start);
    if (c.nomem)
        return raise_nomem(env);
    return enif_make_tuple2(env, reversed(env, c.list), c.cursor);
}

/* objects(Tab, Cursor, Tail) -> {Objects, Cursor, Reversed}, for
 * tab2list/1: a chunk's objects in front of Tail, the objects of the
 * chunks before, so that the last chunk returns them all, in ets's order
 * (README, "Result order") or, if Reversed, in its reverse. A hash table's
 * chunks take each bag key's objects newest first, and cons: ets's order.
 * An ordered_set's go forward (a skiplist's backward step is a search),
 * giving the reverse of term order, for Erlang to reverse once. Cursor as
 * in chunk/3. */
static ERL_NIF_TERM objects_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ErlNifBinary after = {0};
    if ((argv[1] != atom_end_of_table && !enif_inspect_binary(env, argv[1], &after)) ||
        !enif_is_list(env, argv[2]))
        return enif_make_badarg(env);
    ErlNifTime start = enif_monotonic_time(ERL_NIF_USEC);
    ENTER(env, argv[0], ACCESS_READ, t, "objects", objects_nif);
    chunk_ctx_t c = {.env = env, .list = argv[2], .keypos = t->keypos,
                     .cursor = atom_end_of_table, .deadline = chunk_deadline()};
    int st = chunk_scan(&c, t, &after, SCAN_FORWARD, true);
    bool reversed = !is_hash(t);
    epoch_exit();
    if (c.too_long)
        return on_dirty(env, "objects", objects_nif, argc, argv);
    charge(env, start);
    if (c.nomem || st == XETS_NOMEM)
        return raise_nomem(env);
    return enif_make_tuple3(env, c.list, c.cursor, reversed ? atom_true : atom_false);
}

/* ---- slot -------------------------------------------------------------- */

/* Objects a slot call counts past before it hands a cursor back to Erlang
 * (a few hundred microseconds). */
#define SLOT_BUDGET 20000

typedef struct slot_ctx {
    ErlNifEnv *env;
    uint64_t left;     /* objects still to pass */
    unsigned budget;   /* objects this call may still pass */
    ERL_NIF_TERM found; /* [Object], once reached */
    ERL_NIF_TERM cursor;
} slot_ctx_t;

static int slot_visit(void *vctx, const rec_t *r)
{
    slot_ctx_t *c = vctx;
    if (c->left == 0) {
        c->found = enif_make_list1(c->env, decode(c->env, r));
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
static ERL_NIF_TERM slot_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    ErlNifUInt64 i;
    ErlNifBinary after = {0};
    if (!enif_get_uint64(env, argv[1], &i) ||
        (argv[2] != atom_end_of_table && !enif_inspect_binary(env, argv[2], &after)))
        return enif_make_badarg(env);
    ErlNifTime start = enif_monotonic_time(ERL_NIF_USEC);
    table_t *t;
    ENTER(env, argv[0], ACCESS_READ, t, "slot", slot_nif);
    store_t *s = table_store(t);
    if (t->ops->bucket != NULL) {
        uint64_t nbuckets;
        collect_ctx_t c = {.env = env, .list = enif_make_list(env, 0), .may_stop = true};
        int st = t->ops->bucket(s, i, &nbuckets, collect, &c);
        epoch_exit();
        if (c.too_long)
            return on_dirty(env, "slot", slot_nif, argc, argv);
        if (st == XETS_OK)
            return reversed(env, c.list);
        return i == nbuckets ? atom_end_of_table : enif_make_badarg(env);
    }
    slot_ctx_t c = {.env = env, .left = i, .budget = SLOT_BUDGET, .found = atom_undefined,
                    .cursor = atom_undefined};
    int st = store_scan(t->ops, s, after.size ? after.data : NULL, after.size, SCAN_FORWARD,
                        slot_visit, &c);
    epoch_exit();
    charge(env, start);
    if (st == XETS_NOMEM)
        return raise_nomem(env);
    if (st == XETS_OK && c.found != atom_undefined)
        return c.found;
    if (st == XETS_OK)
        return enif_make_tuple3(env, atom_continue, enif_make_uint64(env, c.left), c.cursor);
    return c.left == 0 ? atom_end_of_table : enif_make_badarg(env);
}

/* ---- match specifications ---------------------------------------------- */

/* select_plan(Tab, MatchSpec) -> {Plan, Ordered}: Ordered whether the
 * table is an ordered_set, whose chunks of results xets.erl puts in the
 * order visited; xets.erl has checked the spec with
 * ets:match_spec_compile/1. */
static ERL_NIF_TERM select_plan_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ENTER(env, argv[0], ACCESS_READ, t, "select_plan", select_plan_nif);
    ERL_NIF_TERM plan;
    int st = select_plan(env, t, argv[1], &plan);
    bool ordered = t->type == TYPE_ORDERED_SET;
    epoch_exit();
    if (st != XETS_OK)
        return raise_nomem(env);
    return enif_make_tuple2(env, plan, ordered ? atom_true : atom_false);
}

/* select(Tab, Plan, Cursor, forward | backward, Op, Cap, Tail) ->
 *     {N, Results, Cursor} | {N, Cursor} | {deferred, Objects, Cursor}
 * with Op results (N results in reverse order in front of Tail) or count
 * | delete | replace (N objects counted, deleted or replaced), select.h.
 * Cursor is '$end_of_table' to start, else the {KeyBinary, Left} returned
 * last time. */
static ERL_NIF_TERM select_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
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
        return enif_make_badarg(env);
    if (argv[2] != atom_end_of_table) {
        if (!enif_get_tuple(env, argv[2], &arity, &cur) || arity != 2 ||
            !enif_inspect_binary(env, cur[0], &key) ||
            !enif_get_uint64(env, cur[1], (ErlNifUInt64 *)&cursor.left))
            return enif_make_badarg(env);
        cursor.key = key.data;
        cursor.klen = key.size;
    }
    ErlNifTime start = enif_monotonic_time(ERL_NIF_USEC);
    table_t *t;
    ENTER(env, argv[0], op == SELECT_RESULTS || op == SELECT_COUNT ? ACCESS_READ : ACCESS_WRITE,
          t, "select", select_nif);
    const select_plan_t *p = select_plan_get(env, argv[1], t);
    /* As ets: select_replace is refused on a bag. */
    if (p == NULL || (op == SELECT_REPLACE && t->type == TYPE_BAG)) {
        epoch_exit();
        return enif_make_badarg(env);
    }
    ERL_NIF_TERM items, next;
    bool deferred;
    size_t n;
    enum scan_dir dir = argv[3] == atom_forward ? SCAN_FORWARD : SCAN_BACKWARD;
    int st = select_chunk(env, t, p, argv[2] == atom_end_of_table ? NULL : &cursor, dir, op,
                          cap, argv[6], &deferred, &n, &items, &next);
    epoch_exit();
    if (st == XETS_DIRTY)
        return on_dirty(env, "select", select_nif, argc, argv);
    charge(env, start);
    if (st != XETS_OK)
        return raise_nomem(env);
    if (deferred)
        return enif_make_tuple3(env, atom_deferred, items, next);
    if (op == SELECT_RESULTS)
        return enif_make_tuple3(env, enif_make_uint64(env, n), items, next);
    return enif_make_tuple2(env, enif_make_uint64(env, n), next);
}

/* select_write(Tab, [{Object, Replacement | delete}]) -> N: the writes
 * Erlang decided on the objects of a deferred delete or replace chunk, in
 * the chunk's order; N is how many objects were deleted or replaced
 * (select.h). A replacement must keep the key. More writes than a list
 * insert takes here go to a dirty scheduler. */
static ERL_NIF_TERM select_write_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    unsigned len;
    if (!enif_get_list_length(env, argv[1], &len))
        return enif_make_badarg(env);
    if (len > DIRTY_LIST_LEN && enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER)
        return on_dirty(env, "select_write", select_write_nif, argc, argv);
    ErlNifTime start = enif_monotonic_time(ERL_NIF_USEC);
    table_t *t;
    ENTER(env, argv[0], ACCESS_WRITE, t, "select_write", select_write_nif);
    /* Two prepared objects per write: the old one and its replacement. */
    prepared_t *ps = malloc(2 * sizeof *ps * (len > 0 ? len : 1));
    select_write_t *ws = malloc(sizeof *ws * (len > 0 ? len : 1));
    rec_in_t *repls = malloc(sizeof *repls * (len > 0 ? len : 1));
    int st = ps == NULL || ws == NULL || repls == NULL ? XETS_NOMEM : XETS_OK;
    unsigned n = 0, nps = 0;
    size_t bytes = 0;
    ERL_NIF_TERM list = argv[1], head;
    for (; st == XETS_OK && enif_get_list_cell(env, list, &head, &list); n++) {
        int arity;
        const ERL_NIF_TERM *w;
        if (!enif_get_tuple(env, head, &arity, &w) || arity != 2) {
            st = XETS_BADARG;
            break;
        }
        prepared_t *old = &ps[nps];
        if ((st = prepare(env, t, w[0], NULL, old)) != XETS_OK)
            break;
        nps++;
        bytes += old->etf.size;
        ws[n] = (select_write_t){old->key.p, old->key.len, old->etf.data, old->etf.size, NULL};
        if (w[1] != atom_delete) {
            prepared_t *np = &ps[nps];
            if ((st = prepare(env, t, w[1], NULL, np)) != XETS_OK)
                break;
            nps++;
            bytes += np->etf.size;
            if (np->key.len != old->key.len || memcmp(np->key.p, old->key.p, old->key.len) != 0)
                st = XETS_BADARG; /* the key would change */
            repls[n] = rec_in_of(np);
            ws[n].repl = &repls[n];
        }
        if (st == XETS_OK && too_long_here(bytes))
            st = XETS_DIRTY;
    }
    if (st == XETS_OK)
        st = select_write(t, ws, n);
    epoch_exit();
    for (unsigned i = 0; i < nps; i++)
        prepared_free(&ps[i]);
    free(ps);
    free(ws);
    free(repls);
    if (st == XETS_DIRTY)
        return on_dirty(env, "select_write", select_write_nif, argc, argv);
    charge(env, start);
    if (st >= 0)
        return enif_make_int(env, st);
    return st == XETS_BADARG ? enif_make_badarg(env) : raise_nomem(env);
}

/* ---- ownership --------------------------------------------------------- */

static ERL_NIF_TERM safe_fixtable_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    bool on;
    if (!get_bool(argv[1], &on))
        return enif_make_badarg(env);
    ENTER(env, argv[0], ACCESS_READ, t, "safe_fixtable", safe_fixtable_nif);
    ERL_NIF_TERM r = table_fix(env, t, on) == XETS_OK ? atom_true : raise_nomem(env);
    epoch_exit();
    return r;
}

static ERL_NIF_TERM give_away_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    ErlNifPid to;
    if (!enif_get_local_pid(env, argv[1], &to))
        return enif_make_badarg(env);
    ENTER(env, argv[0], ACCESS_OWNER, t, "give_away", give_away_nif);
    ERL_NIF_TERM r = table_give_away(env, t, to, argv[2]) == XETS_OK ? atom_true : enif_make_badarg(env);
    epoch_exit();
    return r;
}

/* setopts(Tab, keep | none | {Pid, Data}, keep | Protection): the options
 * ets lets the owner change, checked and split by xets:setopts/2. */
static ERL_NIF_TERM setopts_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    int arity;
    const ERL_NIF_TERM *h;
    ErlNifPid heir;
    bool keep_heir = argv[1] == atom_keep, none = argv[1] == atom_none;
    int prot = argv[2] == atom_private ? PROT_PRIVATE
               : argv[2] == atom_protected ? PROT_PROTECTED
               : argv[2] == atom_public ? PROT_PUBLIC
               : -1;
    if ((!keep_heir && !none &&
         (!enif_get_tuple(env, argv[1], &arity, &h) || arity != 2 ||
          !enif_get_local_pid(env, h[0], &heir))) ||
        (prot < 0 && argv[2] != atom_keep))
        return enif_make_badarg(env);
    ENTER(env, argv[0], ACCESS_OWNER, t, "setopts", setopts_nif);
    if (!keep_heir)
        table_set_heir(env, t, none ? NULL : &heir, none ? atom_none : h[1]);
    if (prot >= 0)
        atomic_store_explicit(&t->protection, prot, memory_order_relaxed);
    epoch_exit();
    return atom_true;
}

static ERL_NIF_TERM rename_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    table_t *t;
    if (!enif_is_atom(env, argv[1]))
        return enif_make_badarg(env);
    ENTER(env, argv[0], ACCESS_WRITE, t, "rename", rename_nif);
    /* As ets: the result is the table's identifier after the rename, which
     * is the new name only for a named table. */
    ERL_NIF_TERM r = table_rename(t, argv[1]) == XETS_OK ? table_id_term(env, t)
                                                          : enif_make_badarg(env);
    epoch_exit();
    return r;
}

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
    kbuf_free(b);
    return bin;
}

static ERL_NIF_TERM key_encode_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    key_mode_t mode;
    if (!get_key_mode(argv[1], &mode))
        return enif_make_badarg(env);
    kbuf_t b;
    kbuf_init(&b);
    if (term_key_encode(env, argv[0], mode, &b) != XETS_OK) {
        kbuf_free(&b);
        return raise_nomem(env);
    }
    return key_binary(env, &b);
}

/* For tests of the codec, on a dirty scheduler (its bytes may be long): the
 * key encoding of external-format bytes (of element Keypos of a tuple, or
 * with 0 of the whole term), the local node being that of a pid, port or
 * reference given in external format. */
static ERL_NIF_TERM key_encode_etf_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    ErlNifBinary etf, node_etf;
    unsigned keypos;
    key_mode_t mode;
    key_node_t local;
    const unsigned char *next;
    if (!enif_inspect_binary(env, argv[0], &etf) || !enif_get_uint(env, argv[1], &keypos) ||
        !get_key_mode(argv[2], &mode) || !enif_inspect_binary(env, argv[3], &node_etf) ||
        node_etf.size < 1 ||
        key_codec_node_read(node_etf.data + 1, node_etf.data + node_etf.size, &local, &next) != XETS_OK)
        return enif_make_badarg(env);
    kbuf_t b;
    kbuf_init(&b);
    int st = keypos == 0 ? key_codec_encode(etf.data, etf.size, mode, &local, &b)
                         : key_codec_encode_element(etf.data, etf.size, keypos, mode, &local, &b);
    switch (st) {
    case XETS_OK:
        return key_binary(env, &b);
    case XETS_CORRUPT:
        return enif_make_tuple2(env, atom_error, atom_corrupt);
    case XETS_BADARG:
        return enif_make_tuple2(env, atom_error, atom_badarg);
    default:
        return raise_nomem(env);
    }
}

/* ---- module ------------------------------------------------------------ */

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info)
{
    (void)priv;
    (void)info;
    struct {
        ERL_NIF_TERM *atom;
        const char *name;
    } atoms[] = {
        {&atom_true, "true"},
        {&atom_false, "false"},
        {&atom_undefined, "undefined"},
        {&atom_none, "none"},
        {&atom_ok, "ok"},
        {&atom_ordered, "ordered"},
        {&atom_exact, "exact"},
        {&atom_end_of_table, "$end_of_table"},
        {&atom_forward, "forward"},
        {&atom_set, "set"},
        {&atom_ordered_set, "ordered_set"},
        {&atom_bag, "bag"},
        {&atom_duplicate_bag, "duplicate_bag"},
        {&atom_private, "private"},
        {&atom_protected, "protected"},
        {&atom_public, "public"},
        {&atom_auto, "auto"},
        {&atom_system_limit, "system_limit"},
        {&atom_nodefault, "nodefault"},
        {&atom_default, "default"},
        {&atom_keep, "keep"},
        {&atom_results, "results"},
        {&atom_count, "count"},
        {&atom_delete, "delete"},
        {&atom_replace, "replace"},
        {&atom_deferred, "deferred"},
        {&atom_lookup, "lookup"},
        {&atom_walk, "walk"},
        {&atom_continue, "continue"},
        {&atom_error, "error"},
        {&atom_corrupt, "corrupt"},
        {&atom_badarg, "badarg"},
    };
    for (size_t i = 0; i < sizeof atoms / sizeof atoms[0]; i++)
        *atoms[i].atom = enif_make_atom(env, atoms[i].name);
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
    {"delete", 1, delete_nif, 0},
    {"info", 1, info_nif, 0},
    {"stats", 1, stats_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
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
    {"key_encode_etf", 4, key_encode_etf_nif, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"select_plan", 2, select_plan_nif, 0},
    {"select", 7, select_nif, 0},
    {"select_write", 2, select_write_nif, 0},
};

ERL_NIF_INIT(xets_nif, nif_funcs, load, NULL, NULL, unload)
