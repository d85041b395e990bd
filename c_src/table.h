/* What every table shares: the common header, ownership and heir,
 * protection, the named-table registry, fixation, and the gate through
 * which list inserts and delete_all_objects get the table to themselves.
 *
 * Thread-safety contract: a table_t is an Erlang resource, so its memory
 * lives as long as any term refers to it or the table is alive. Hot paths
 * (table_enter) read only atomics. Metadata (owner, heir, fixations, name)
 * changes under t->meta and is read under it, except the owner word, which
 * is also read atomically for access checks. A table's store is released
 * only by the reaper, after the table is dead and an epoch has passed, and
 * so is what delete_all_objects empties out of it. */
#ifndef XETS_TABLE_H
#define XETS_TABLE_H

#include <erl_nif.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "store.h"

enum protection { PROT_PRIVATE, PROT_PROTECTED, PROT_PUBLIC };
enum access { ACCESS_READ, ACCESS_WRITE, ACCESS_OWNER };
enum wc_mode { WC_FALSE, WC_TRUE, WC_AUTO };

typedef struct fixation {
    ErlNifPid pid;
    unsigned long count;
    ErlNifMonitor mon;
    struct fixation *next;
} fixation_t;

struct table_kind;

typedef struct table {
    const store_ops_t *ops;
    store_t *store; /* fixed for the table's life: delete_all_objects empties it */
    const struct table_kind *kind; /* what its type means above the store (table_kind.h) */
    unsigned keypos;
    atomic_int protection; /* enum protection; setopts/2 may change it */
    bool named;
    enum wc_mode write_concurrency;
    bool read_concurrency, decentralized_counters, compressed;
    bool clearing; /* under meta: table_clear uses the store, outside any epoch section */
    bool persistent; /* its store has files, kept when the table dies (xets:open/3) */
    bool spill;      /* its store has files, dropped with the table (xets:new/2's spill) */

    /* Even: open. Odd: one exclusive operation owns the table and every other
     * call yields and retries (as a call waits for ETS's table write lock). */
    atomic_uint_fast64_t gate;
    atomic_bool dead;
    _Atomic ERL_NIF_TERM owner; /* the pid term of the owner */

    ErlNifMutex *meta;
    ERL_NIF_TERM name;         /* atom */
    ErlNifEnv *heir_env;       /* holds heir data; NULL when heir is none */
    ErlNifPid heir;
    ERL_NIF_TERM heir_data;
    ErlNifMonitor owner_mon;
    fixation_t *fixations;     /* newest first */
    ErlNifTime fixed_since;    /* monotonic time of the first fixation */
    ErlNifTime fixed_since_mono;
    atomic_ulong fix_count;    /* sum of fixation counts */

    struct table *all_prev, *all_next; /* list of live tables, under the list lock */
} table_t;

typedef struct table_opts {
    const struct table_kind *kind;
    const store_ops_t *ops;
    enum store_kind store_kind;
    enum protection protection;
    bool named;
    unsigned keypos;
    bool has_heir;
    ErlNifPid heir;
    ERL_NIF_TERM heir_data;
    enum wc_mode write_concurrency;
    bool read_concurrency, decentralized_counters, compressed;
    const char *dir;  /* a table on disk's directory, else NULL */
    const void *disk; /* with dir: its store's options (disk/lsm.h) */
    bool spill;       /* with dir: the files die with the table (dropped, not closed) */
} table_opts_t;

int table_module_init(ErlNifEnv *env);
void table_module_stop(void);

/* Creates and registers a table owned by the calling process. Returns
 * XETS_OK, XETS_EXISTS (name taken), or what opening its store returned
 * (store.h: XETS_NOMEM; XETS_IO, XETS_CORRUPT with call->error). */
int table_create(ErlNifEnv *env, ERL_NIF_TERM name, const table_opts_t *o, table_t **out,
                 xets_call_t *call);

/* Resolves a table argument (tid or name) for an operation needing `want`.
 * Must be called inside an epoch section; the table stays valid until the
 * section ends. Returns XETS_OK, XETS_BUSY (retry later) or XETS_BADARG. */
int table_enter(ErlNifEnv *env, ERL_NIF_TERM tab, enum access want, table_t **out);
/* As table_enter, without access or gate checks: for info/2 and friends,
 * which then ask table_alive. */
table_t *table_find(ErlNifEnv *env, ERL_NIF_TERM tab);
/* Whether t is alive: not deleted, and its owner alive or, the owner being
 * dead, its heir now the owner. A table whose owner has died is buried (or
 * handed to its heir) here and now if the owner monitor has not done it
 * yet, so that no one sees a dead owner's table after the owner's links
 * and monitors fire, as in ets. Inside an epoch section or with a
 * reference to t. */
bool table_alive(ErlNifEnv *env, table_t *t);

/* The term naming the table to its users: its name if named, else its tid. */
ERL_NIF_TERM table_id_term(ErlNifEnv *env, table_t *t);

/* Exclusive operations: table_close_gate returns XETS_OK with the table to
 * the caller alone (all other calls yield until table_open_gate), or
 * XETS_BUSY. Must be called outside any epoch section. */
int table_close_gate(table_t *t);
void table_open_gate(table_t *t);

/* Empties the store (the caller holds the gate and no epoch section) and
 * hands what it held to the reaper; how many objects it held goes to *size
 * (exact: no writer is active). XETS_BADARG if the table has died, else
 * what the store's clear returned (store.h). */
int table_clear(table_t *t, size_t *size, xets_call_t *call);

/* Deletes the table: unregisters, marks dead, hands the store to the
 * reaper (which closes a persistent table's store, keeping its files, and
 * drops any other, a spilling table's files with it). */
void table_delete(ErlNifEnv *env, table_t *t);
/* xets:close/1: deletes the table and closes its store here, returning how
 * the close went (store.h). Blocks: only where the call may block and
 * outside any epoch section. XETS_BADARG if the table is dead. */
int table_close(ErlNifEnv *env, table_t *t, xets_call_t *call);
int table_rename(table_t *t, ERL_NIF_TERM name);
int table_give_away(ErlNifEnv *env, table_t *t, ErlNifPid to, ERL_NIF_TERM data);
/* Heir NULL: none. A heir that is not alive is none, as in ets. */
void table_set_heir(ErlNifEnv *env, table_t *t, const ErlNifPid *heir, ERL_NIF_TERM data);
/* safe_fixtable/2 for the calling process. */
int table_fix(ErlNifEnv *env, table_t *t, bool on);
/* All live tables as a list of id terms. XETS_OK or XETS_NOMEM. */
int table_all(ErlNifEnv *env, ERL_NIF_TERM *out);

extern ErlNifResourceType *table_resource_type;

#endif
