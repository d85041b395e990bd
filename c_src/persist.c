/* The NIF side of persistent tables (DESIGN.md, "The disk tier";
 * disk/lsm.h): open, close, sync, destroy and info(T, disk), and the wait
 * of a writer for durability.
 *
 * Spilling tables (xets:new/2's {spill, Dir}, src/xets_spill.erl) open
 * here too, in a directory of their own that the Erlang side names: they
 * differ only in the table's death, which drops their store, files and
 * all, where a persistent table's closes it (table.c, release_store).
 * To close/1 and sync/1 they are tables in memory (badarg): nothing of
 * theirs is meant to outlive them. info(T, disk) describes them.
 *
 * Opening, closing and destroying do file I/O: each answers XETS_NEED_IO
 * (no request) where its thread may not block, and the glue redoes it on
 * a dirty I/O scheduler. Their failures are results, not exceptions:
 * {error, Reason} as DESIGN.md, "Errors", says of admin functions.
 *
 * Waiting for durability ({sync, always}). A write's call leaves its store
 * with call->await set; glue_await registers the calling process with the
 * store (lsm_await) and raises {'$xets_await', Serial, Seq, Result}, which
 * xets.erl catches (xets_call.hrl) to wait in a receive for the committing
 * thread's {'$xets_synced', Serial, Seq, ok | {error, Reason}}: so the
 * writer holds no scheduler while the fsync runs, and every writer waiting
 * meanwhile shares it.
 *
 * Thread-safety: as the glue; await_notify runs on a store's committing
 * thread. */
#include <stdio.h>
#include <string.h>

#include "disk/fs.h"
#include "disk/lsm.h"
#include "glue.h"
#include "key_codec.h"
#include "reaper.h"
#include "table_kind.h"

/* {error, Reason} for a failed open, close or destroy. */
static ERL_NIF_TERM error_term(ErlNifEnv *env, ERL_NIF_TERM reason)
{
    return enif_make_tuple2(env, atom_error, reason);
}

static ERL_NIF_TERM io_error(ErlNifEnv *env, int st, const call_error_t *e)
{
    return error_term(env, glue_io_reason(env, st, e));
}

/* The committing thread's message to a waiter. */
static void await_notify(const lsm_waiter_t *w, uint64_t serial, int status,
                         const call_error_t *err)
{
    ErlNifPid pid;
    memcpy(&pid, w->who, sizeof pid);
    ErlNifEnv *env = enif_alloc_env();
    ERL_NIF_TERM reply = status == XETS_OK
                             ? atom_ok
                             : enif_make_tuple2(env, atom_error, glue_io_reason(env, status, err));
    ERL_NIF_TERM msg = enif_make_tuple4(env, atom_xets_synced, enif_make_uint64(env, serial),
                                        enif_make_uint64(env, w->seq), reply);
    enif_send(NULL, &pid, env, msg);
    enif_free_env(env);
}

ERL_NIF_TERM glue_await(ErlNifEnv *env, xets_call_t *call, ERL_NIF_TERM out)
{
    store_t *s = call->await.store;
    lsm_waiter_t w = {.seq = call->await.seq};
    ErlNifPid self;
    enif_self(env, &self);
    _Static_assert(sizeof self <= sizeof w.who, "lsm_waiter_t.who holds a pid");
    memcpy(w.who, &self, sizeof self);
    /* The table may have died since the write: the section keeps the
     * store's shell (lsm.h, lsm_await). */
    epoch_enter();
    int st = lsm_await(s, &w, call);
    epoch_exit();
    if (st == XETS_END)
        return out;
    if (st == XETS_NOMEM)
        return enif_raise_exception(env, atom_system_limit);
    if (st != XETS_OK)
        return enif_raise_exception(
            env, enif_make_tuple2(env, atom_xets_io, glue_io_reason(env, st, &call->error)));
    return enif_raise_exception(env, enif_make_tuple4(env, atom_xets_await,
                                                      enif_make_uint64(env, lsm_serial(s)),
                                                      enif_make_uint64(env, w.seq), out));
}

/* A directory argument: a binary, not empty, no NUL, as a C string. */
static bool get_dir(ErlNifEnv *env, ERL_NIF_TERM term, char *out, size_t cap)
{
    ErlNifBinary b;
    if (!enif_inspect_binary(env, term, &b) || b.size == 0 || b.size >= cap ||
        memchr(b.data, 0, b.size) != NULL)
        return false;
    memcpy(out, b.data, b.size);
    out[b.size] = '\0';
    return true;
}

/* {Sync, MemtableBytes, MemoryLimit, Life}: Sync none | always |
 * {interval, Ms}; MemtableBytes 0 for the default, MemoryLimit 0 for
 * none; Life persistent, or spill (*spill set: the files die with the
 * table). */
static bool get_disk_opts(ErlNifEnv *env, ERL_NIF_TERM arg, lsm_options_t *lo, bool *spill)
{
    int n;
    const ERL_NIF_TERM *t, *d;
    unsigned ms;
    ErlNifUInt64 bytes, limit;
    if (!enif_get_tuple(env, arg, &n, &d) || n != 4 || !enif_get_uint64(env, d[1], &bytes) ||
        bytes > SIZE_MAX || !enif_get_uint64(env, d[2], &limit) || limit > SIZE_MAX ||
        (d[3] != atom_persistent && d[3] != atom_spill))
        return false;
    lo->memtable_bytes = (size_t)bytes;
    lo->memory_limit = (size_t)limit;
    *spill = d[3] == atom_spill;
    lo->discardable = *spill;
    ERL_NIF_TERM term = d[0];
    if (term == atom_none)
        lo->sync = LSM_SYNC_NONE;
    else if (term == atom_always)
        lo->sync = LSM_SYNC_ALWAYS;
    else if (enif_get_tuple(env, term, &n, &t) && n == 2 && t[0] == atom_interval &&
             enif_get_uint(env, t[1], &ms) && ms > 0) {
        lo->sync = LSM_SYNC_INTERVAL;
        lo->interval_ms = ms;
    } else
        return false;
    return true;
}

/* {mismatch, What, OnDisk, Asked}: keypos as integers, the rest atoms. */
static ERL_NIF_TERM mismatch_term(ErlNifEnv *env, const lsm_mismatch_t *m)
{
    bool number = strcmp(m->what, "keypos") == 0;
    ERL_NIF_TERM v[2];
    const char *text[2] = {m->on_disk, m->asked};
    for (int i = 0; i < 2; i++)
        v[i] = number ? enif_make_uint(env, (unsigned)strtoul(text[i], NULL, 10))
                      : enif_make_atom(env, text[i]);
    return enif_make_tuple4(env, atom_mismatch, enif_make_atom(env, m->what), v[0], v[1]);
}

/* open(Name, Options, Dir, Disk): Options as new/2's (table_opts_parse),
 * Dir a binary, Disk as get_disk_opts. Answers {ok, Tab} or
 * {error, Reason}; a name already taken is badarg, as new/2's. A spilling
 * table's Dir is a fresh one: what it finds there is not checked. */
int op_open(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_opts_t opts = {0};
    char dir[4096];
    lsm_options_t lo = {.notify = await_notify};
    char type[32];
    TRY(table_opts_parse(env, argv[0], argv[1], &opts));
    if (!get_dir(env, argv[2], dir, sizeof dir) || !get_disk_opts(env, argv[3], &lo, &opts.spill) ||
        !enif_get_atom(env, *opts.kind->name, type, sizeof type, ERL_NIF_LATIN1))
        return XETS_BADARG;
    if (!call_may_block(call))
        return XETS_NEED_IO;
    lsm_mismatch_t mm = {0};
    lo.type = type;
    lo.keypos = opts.keypos;
    lo.encoding = key_codec_name(opts.kind->key_mode);
    lo.mismatch = &mm;
    opts.ops = opts.kind->ops == &hash_table_ops ? &lsm_hash_ops : &lsm_ordered_ops;
    opts.dir = dir;
    opts.disk = &lo;
    table_t *t;
    call->error.op = NULL;
    int st = table_create(env, argv[0], &opts, &t, call);
    if (st == XETS_BUSY) {
        /* A table of this directory may be closing: its owner died, and
         * the reaper has yet to release the lock. */
        reaper_drain();
        st = table_create(env, argv[0], &opts, &t, call);
    }
    switch (st) {
    case XETS_OK:
        *out = enif_make_tuple2(env, atom_ok, opts.named ? argv[0] : enif_make_resource(env, t));
        enif_release_resource(t);
        return XETS_OK;
    case XETS_EXISTS:
        return XETS_BADARG;
    case XETS_BUSY:
        *out = error_term(env, enif_make_tuple2(env, atom_locked, argv[2]));
        return XETS_OK;
    case XETS_MISMATCH:
        *out = error_term(env, mismatch_term(env, &mm));
        return XETS_OK;
    case XETS_BADARG:
        if (call->error.op == NULL)
            return XETS_BADARG;
        /* A file of a format version this code does not read. */
        *out = error_term(env, enif_make_tuple2(env, atom_format,
                                                enif_make_string(env, call->error.file,
                                                                 ERL_NIF_LATIN1)));
        return XETS_OK;
    case XETS_IO:
    case XETS_CORRUPT:
        *out = io_error(env, st, &call->error);
        return XETS_OK;
    default:
        return st;
    }
}

/* The persistent table tab names, entered for want (the caller ends the
 * section); XETS_BADARG for a table in memory or a spilling one. */
static int enter_persistent(ErlNifEnv *env, ERL_NIF_TERM tab, enum access want, table_t **t)
{
    TRY(glue_enter(env, tab, want, t));
    if (!(*t)->persistent) {
        epoch_exit();
        return XETS_BADARG;
    }
    return XETS_OK;
}

/* close(Tab): the owner only, as delete/1. ok or {error, Reason}. */
int op_close(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_t *t;
    TRY(enter_persistent(env, argv[0], ACCESS_OWNER, &t));
    if (!call_may_block(call)) {
        epoch_exit();
        return XETS_NEED_IO;
    }
    /* The reference keeps the table past the section. */
    enif_keep_resource(t);
    epoch_exit();
    int st = table_close(env, t, call);
    enif_release_resource(t);
    if (st == XETS_OK)
        *out = atom_ok;
    else if (st == XETS_IO || st == XETS_CORRUPT)
        *out = io_error(env, st, &call->error);
    else
        return st;
    return XETS_OK;
}

/* sync(Tab): every write before it durable. ok, or error({xets_io, _}):
 * the wait is a writer's (glue_await). */
int op_sync(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    table_t *t;
    TRY(enter_persistent(env, argv[0], ACCESS_READ, &t));
    lsm_sync_ask(t->store, call);
    epoch_exit();
    *out = atom_ok;
    return XETS_OK;
}

/* What Erlang sees of a call on the directory dir of a closed table
 * (destroy, move): ok, or {error, Reason}: {locked, Dir}, enoent, eexist,
 * or an I/O failure's reason. */
static int dir_answer(ErlNifEnv *env, int st, ERL_NIF_TERM dir, xets_call_t *call,
                      ERL_NIF_TERM *out)
{
    if (st == XETS_OK)
        *out = atom_ok;
    else if (st == XETS_BUSY)
        *out = error_term(env, enif_make_tuple2(env, atom_locked, dir));
    else if (st == XETS_NOTFOUND)
        *out = error_term(env, atom_enoent);
    else if (st == XETS_EXISTS)
        *out = error_term(env, enif_make_atom(env, "eexist"));
    else if (st == XETS_IO || st == XETS_CORRUPT)
        *out = io_error(env, st, &call->error);
    else
        return st;
    return XETS_OK;
}

/* destroy(Dir): removes a closed table's files and its directory. ok or
 * {error, Reason}: {locked, Dir} while a table has it open, enoent when
 * there is no such directory. */
int op_destroy(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    char dir[4096];
    if (!get_dir(env, argv[0], dir, sizeof dir))
        return XETS_BADARG;
    if (!call_may_block(call))
        return XETS_NEED_IO;
    int st = fs_destroy(dir, call);
    if (st == XETS_BUSY) {
        reaper_drain();
        st = fs_destroy(dir, call);
    }
    return dir_answer(env, st, argv[0], call, out);
}

/* move(From, To): renames a closed table's directory, durably. ok or
 * {error, Reason}: {locked, From} while a table has it open, enoent when
 * there is no From, eexist when To exists. */
int op_move(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    char from[4096], to[4096];
    if (!get_dir(env, argv[0], from, sizeof from) || !get_dir(env, argv[1], to, sizeof to))
        return XETS_BADARG;
    if (!call_may_block(call))
        return XETS_NEED_IO;
    int st = fs_dir_move(from, to, call);
    if (st == XETS_BUSY) {
        reaper_drain();
        st = fs_dir_move(from, to, call);
    }
    return dir_answer(env, st, argv[0], call, out);
}

static ERL_NIF_TERM pair(ErlNifEnv *env, const char *key, ERL_NIF_TERM v)
{
    return enif_make_tuple2(env, enif_make_atom(env, key), v);
}

/* A bound of bytes, 0 for none: infinity. */
static ERL_NIF_TERM bound(ErlNifEnv *env, size_t bytes)
{
    return bytes != 0 ? enif_make_uint64(env, bytes) : atom_infinity;
}

/* disk_info(Tab): what xets:info(Tab, disk) shows, a proplist, for a
 * persistent or a spilling table; undefined for a table in memory. */
int op_disk_info(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    (void)call;
    table_t *t;
    TRY(glue_enter(env, argv[0], ACCESS_READ, &t));
    if (!t->persistent && !t->spill) {
        epoch_exit();
        *out = atom_undefined;
        return XETS_OK;
    }
    lsm_info_t i;
    lsm_info(t->store, &i);
    epoch_exit();
    ERL_NIF_TERM sync = i.sync == LSM_SYNC_NONE     ? atom_none
                        : i.sync == LSM_SYNC_ALWAYS ? atom_always
                                                    : enif_make_tuple2(env, atom_interval,
                                                                       enif_make_uint(env, i.interval_ms));
    ERL_NIF_TERM items[] = {
        pair(env, "files", enif_make_uint64(env, i.files)),
        pair(env, "disk_bytes", enif_make_uint64(env, i.disk_bytes)),
        pair(env, "wal_bytes", enif_make_uint64(env, i.wal_bytes)),
        pair(env, "memtable_bytes", enif_make_uint64(env, i.memtable_bytes)),
        pair(env, "cache_bytes", enif_make_uint64(env, i.cache_bytes)),
        pair(env, "cache_capacity", bound(env, i.cache_capacity)),
        pair(env, "cache_hits", enif_make_uint64(env, i.cache_hits)),
        pair(env, "cache_misses", enif_make_uint64(env, i.cache_misses)),
        pair(env, "cache_misses_in_place", enif_make_uint64(env, i.cache_misses_in_place)),
        pair(env, "cache_evictions", enif_make_uint64(env, i.cache_evictions)),
        pair(env, "filter_bytes", enif_make_uint64(env, i.filter_bytes)),
        pair(env, "index_bytes", enif_make_uint64(env, i.index_bytes)),
        pair(env, "memory_limit", bound(env, i.memory_limit)),
        pair(env, "memtable_limit", enif_make_uint64(env, i.memtable_limit)),
        pair(env, "level0_files", enif_make_uint64(env, i.level0_files)),
        pair(env, "stalls", enif_make_uint64(env, i.stalls)),
        pair(env, "last_seq", enif_make_uint64(env, i.last_seq)),
        pair(env, "durable_seq", enif_make_uint64(env, i.durable_seq)),
        pair(env, "fsyncs", enif_make_uint64(env, i.fsyncs)),
        pair(env, "flushes", enif_make_uint64(env, i.flushes)),
        pair(env, "compactions", enif_make_uint64(env, i.compactions)),
        pair(env, "sync", sync),
    };
    *out = enif_make_list_from_array(env, items, sizeof items / sizeof *items);
    return XETS_OK;
}
