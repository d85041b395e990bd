/* Table lifecycle: creation, the named-table registry, ownership and heir
 * (owner monitored from C), protection, fixation, deletion, and the gate of
 * exclusive operations. See table.h for the thread-safety contract. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "epoch.h"
#include "disk/lsm.h"
#include "reaper.h"
#include "status.h"

ErlNifResourceType *table_resource_type;

/* The registry maps a name atom to its table. Readers walk it lock-free
 * inside an epoch section; writers serialize on reg_lock. Entries are their
 * own nodes (not links inside table_t) so that a rename, which moves a table
 * between chains, can never send a concurrent reader down the wrong chain. */
#define REG_BUCKETS 1024

typedef struct reg_entry {
    ERL_NIF_TERM name;
    table_t *table;
    _Atomic(struct reg_entry *) next;
} reg_entry_t;

static _Atomic(reg_entry_t *) registry[REG_BUCKETS];
static ErlNifMutex *reg_lock;

/* Every live table, for all/0. */
static table_t *all_head;
static ErlNifMutex *all_lock;

static ERL_NIF_TERM atom_ets_transfer;

static void owner_down(ErlNifEnv *env, table_t *t, ErlNifPid dead_owner);

static bool owner_alive(ErlNifEnv *env, ERL_NIF_TERM owner)
{
    ErlNifPid pid = {owner};
    return enif_is_process_alive(env, &pid);
}

static size_t reg_bucket(ERL_NIF_TERM name)
{
    uint64_t x = (uint64_t)name * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 54) % REG_BUCKETS;
}

static table_t *reg_lookup(ERL_NIF_TERM name)
{
    reg_entry_t *e = atomic_load_explicit(&registry[reg_bucket(name)], memory_order_acquire);
    for (; e != NULL; e = atomic_load_explicit(&e->next, memory_order_acquire))
        if (e->name == name)
            return e->table;
    return NULL;
}

/* Under reg_lock. */
static int reg_insert(ERL_NIF_TERM name, table_t *t)
{
    if (reg_lookup(name) != NULL)
        return XETS_EXISTS;
    reg_entry_t *e = malloc(sizeof *e);
    if (e == NULL)
        return XETS_NOMEM;
    _Atomic(reg_entry_t *) *head = &registry[reg_bucket(name)];
    e->name = name;
    e->table = t;
    atomic_store_explicit(&e->next, atomic_load_explicit(head, memory_order_relaxed),
                          memory_order_relaxed);
    /* Release: a reader that finds e sees its fields. */
    atomic_store_explicit(head, e, memory_order_release);
    return XETS_OK;
}

/* Under reg_lock. */
static void reg_remove(ERL_NIF_TERM name, table_t *t)
{
    _Atomic(reg_entry_t *) *link = &registry[reg_bucket(name)];
    reg_entry_t *e;
    while ((e = atomic_load_explicit(link, memory_order_relaxed)) != NULL) {
        if (e->name == name && e->table == t) {
            atomic_store_explicit(link, atomic_load_explicit(&e->next, memory_order_relaxed),
                                  memory_order_release);
            epoch_retire(e, free);
            return;
        }
        link = &e->next;
    }
}

static void all_insert(table_t *t)
{
    enif_mutex_lock(all_lock);
    t->all_prev = NULL;
    t->all_next = all_head;
    if (all_head != NULL)
        all_head->all_prev = t;
    all_head = t;
    enif_mutex_unlock(all_lock);
}

static void all_remove(table_t *t)
{
    enif_mutex_lock(all_lock);
    if (t->all_prev != NULL)
        t->all_prev->all_next = t->all_next;
    else
        all_head = t->all_next;
    if (t->all_next != NULL)
        t->all_next->all_prev = t->all_prev;
    enif_mutex_unlock(all_lock);
}

ERL_NIF_TERM table_id_term(ErlNifEnv *env, table_t *t)
{
    if (t->named) {
        enif_mutex_lock(t->meta);
        ERL_NIF_TERM name = t->name;
        enif_mutex_unlock(t->meta);
        return name;
    }
    return enif_make_resource(env, t);
}

int table_all(ErlNifEnv *env, ERL_NIF_TERM *out)
{
    /* The tables are collected under all_lock and looked at after it:
     * bury takes all_lock under a table's meta lock, and table_alive and
     * table_id_term take the meta lock. */
    size_t n = 0, cap = 0;
    table_t **tabs = NULL;
    enif_mutex_lock(all_lock);
    for (table_t *t = all_head; t != NULL; t = t->all_next) {
        if (n == cap) {
            size_t ncap = cap == 0 ? 64 : 2 * cap;
            table_t **bigger = realloc(tabs, ncap * sizeof *tabs);
            if (bigger == NULL) {
                enif_mutex_unlock(all_lock);
                while (n > 0)
                    enif_release_resource(tabs[--n]);
                free(tabs);
                return XETS_NOMEM;
            }
            tabs = bigger;
            cap = ncap;
        }
        enif_keep_resource(t);
        tabs[n++] = t;
    }
    enif_mutex_unlock(all_lock);
    ERL_NIF_TERM list = enif_make_list(env, 0);
    for (size_t i = 0; i < n; i++) {
        if (table_alive(env, tabs[i]))
            list = enif_make_list_cell(env, table_id_term(env, tabs[i]), list);
        enif_release_resource(tabs[i]);
    }
    free(tabs);
    *out = list;
    return XETS_OK;
}

static void release_table(void *p)
{
    enif_release_resource(p);
}

/* Registers t under name. A name held by a table whose owner has died is
 * free, as in ets: that table's burial is finished first. */
static int register_name(ErlNifEnv *env, ERL_NIF_TERM name, table_t *t)
{
    for (;;) {
        enif_mutex_lock(reg_lock);
        int st = reg_insert(name, t);
        enif_mutex_unlock(reg_lock);
        if (st != XETS_EXISTS)
            return st;
        epoch_enter();
        table_t *holder = reg_lookup(name);
        bool taken = holder != NULL && table_alive(env, holder);
        epoch_exit();
        if (taken)
            return XETS_EXISTS;
    }
}

/* Hands a dead table's store to the reaper: closed, files kept, for a
 * persistent table; dropped for one in memory, and for a spilling one,
 * whose files go with it, as its objects would in ets. */
static void release_store(table_t *t)
{
    if (t->persistent)
        reaper_close(t->ops, t->store);
    else
        reaper_push(t->ops, t->store);
}

int table_create(ErlNifEnv *env, ERL_NIF_TERM name, const table_opts_t *o, table_t **out,
                 xets_call_t *call)
{
    table_t *t = enif_alloc_resource(table_resource_type, sizeof *t);
    if (t == NULL)
        return XETS_NOMEM;
    memset(t, 0, sizeof *t);
    t->ops = o->ops;
    t->kind = o->kind;
    t->keypos = o->keypos;
    atomic_init(&t->protection, o->protection);
    t->named = o->named;
    t->write_concurrency = o->write_concurrency;
    t->read_concurrency = o->read_concurrency;
    t->decentralized_counters = o->decentralized_counters;
    t->compressed = o->compressed;
    t->name = name;
    t->meta = enif_mutex_create("xets_table_meta");
    t->persistent = o->dir != NULL && !o->spill;
    t->spill = o->dir != NULL && o->spill;
    store_options_t so = {.kind = o->store_kind, .dir = o->dir, .disk = o->disk};
    int st = t->meta == NULL ? XETS_NOMEM : t->ops->open(&so, &t->store, call);
    if (st != XETS_OK) {
        /* The destructor sees a dead table with no store. */
        atomic_store(&t->dead, true);
        enif_release_resource(t);
        return st;
    }
    table_set_heir(env, t, o->has_heir ? &o->heir : NULL, o->heir_data);
    ErlNifPid self;
    enif_self(env, &self);
    atomic_store(&t->owner, self.pid);
    if (o->named) {
        st = register_name(env, name, t);
        if (st != XETS_OK) {
            atomic_store(&t->dead, true);
            release_store(t);
            enif_release_resource(t);
            return st;
        }
    }
    enif_monitor_process(env, t, &self, &t->owner_mon);
    all_insert(t);
    /* The "alive" reference: a table outlives every term naming it until it
     * is deleted, as in ETS. The caller's reference is released by the caller. */
    enif_keep_resource(t);
    *out = t;
    return XETS_OK;
}

table_t *table_find(ErlNifEnv *env, ERL_NIF_TERM tab)
{
    void *p;
    if (enif_get_resource(env, tab, table_resource_type, &p))
        return p;
    if (enif_is_atom(env, tab))
        return reg_lookup(tab);
    return NULL;
}

int table_enter(ErlNifEnv *env, ERL_NIF_TERM tab, enum access want, table_t **out)
{
    table_t *t = table_find(env, tab);
    if (t == NULL || atomic_load_explicit(&t->dead, memory_order_acquire))
        return XETS_BADARG;
    ErlNifPid self;
    enif_self(env, &self);
    ERL_NIF_TERM owner = atomic_load_explicit(&t->owner, memory_order_relaxed);
    /* A caller that is not the owner may come after the owner's death and
     * before the monitor's news of it: the table is then the heir's, or
     * gone (the owner is alive when it calls). */
    if (self.pid != owner && !owner_alive(env, owner)) {
        if (!table_alive(env, t))
            return XETS_BADARG;
        owner = atomic_load_explicit(&t->owner, memory_order_relaxed);
    }
    int prot = atomic_load_explicit(&t->protection, memory_order_relaxed);
    if ((want == ACCESS_OWNER || prot == PROT_PRIVATE ||
         (want == ACCESS_WRITE && prot == PROT_PROTECTED)) &&
        self.pid != owner)
        return XETS_BADARG;
    /* Acquire: pairs with table_open_gate's release, so the exclusive
     * operation's writes are visible once the gate reads open. */
    if (atomic_load_explicit(&t->gate, memory_order_acquire) & 1)
        return XETS_BUSY;
    *out = t;
    return XETS_OK;
}

int table_close_gate(table_t *t)
{
    uint_fast64_t g = atomic_load_explicit(&t->gate, memory_order_relaxed);
    if ((g & 1) ||
        !atomic_compare_exchange_strong_explicit(&t->gate, &g, g + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return XETS_BUSY;
    /* Every call that read the gate open did so inside an epoch section;
     * once those sections end, no call but ours touches the table. */
    epoch_synchronize();
    return XETS_OK;
}

void table_open_gate(table_t *t)
{
    atomic_fetch_add_explicit(&t->gate, 1, memory_order_release);
}

/* The owner's death does not wait for the gate: bury may come while the
 * store is being cleared, outside any epoch section, which the reaper's
 * wait would not cover. So the clear announces itself under meta; bury,
 * finding it under way, leaves the store to it, and the clear, finding the
 * table dead once done, hands the store to the reaper itself: either way
 * once, after its last use. The clear itself runs outside meta, which
 * callers on normal schedulers wait for (table_alive), since a store of
 * files clears with a write to its manifest. */
int table_clear(table_t *t, size_t *size, xets_call_t *call)
{
    enif_mutex_lock(t->meta);
    bool dead = atomic_load(&t->dead);
    t->clearing = !dead;
    enif_mutex_unlock(t->meta);
    if (dead)
        return XETS_BADARG;
    store_t *old = NULL;
    int st = t->ops->clear(t->store, &old, size, call);
    if (old != NULL)
        reaper_push(t->ops, old);
    enif_mutex_lock(t->meta);
    t->clearing = false;
    dead = atomic_load(&t->dead);
    enif_mutex_unlock(t->meta);
    if (dead)
        release_store(t);
    return st;
}

static void drop_fixations(ErlNifEnv *env, table_t *t)
{
    while (t->fixations != NULL) {
        fixation_t *f = t->fixations;
        t->fixations = f->next;
        enif_demonitor_process(env, t, &f->mon);
        free(f);
    }
    atomic_store(&t->fix_count, 0);
}

/* Under t->meta, with t already marked dead by the caller. The store
 * goes to the reaper when release is true and no clear is under way (which
 * hands it on itself, table_clear). */
static void bury(ErlNifEnv *env, table_t *t, bool release)
{
    if (t->named) {
        enif_mutex_lock(reg_lock);
        reg_remove(t->name, t);
        enif_mutex_unlock(reg_lock);
    }
    all_remove(t);
    enif_demonitor_process(env, t, &t->owner_mon);
    drop_fixations(env, t);
    if (release && !t->clearing)
        release_store(t);
    /* Readers that found the table through the registry may still use it
     * until their epoch sections end. */
    epoch_retire(t, release_table);
}

void table_delete(ErlNifEnv *env, table_t *t)
{
    enif_mutex_lock(t->meta);
    if (!atomic_exchange(&t->dead, true))
        bury(env, t, true);
    enif_mutex_unlock(t->meta);
}

int table_close(ErlNifEnv *env, table_t *t, xets_call_t *call)
{
    enif_mutex_lock(t->meta);
    bool was_dead = atomic_exchange(&t->dead, true);
    bool clearing = t->clearing;
    if (!was_dead)
        bury(env, t, false);
    enif_mutex_unlock(t->meta);
    if (was_dead)
        return XETS_BADARG;
    if (clearing) {
        /* The clear hands the store to the reaper when it ends. */
        reaper_drain();
        return XETS_OK;
    }
    /* Every call that found the table alive did so in a section. */
    epoch_synchronize();
    return t->ops->close(t->store, call);
}

int table_rename(table_t *t, ERL_NIF_TERM name)
{
    int st = XETS_OK;
    enif_mutex_lock(t->meta);
    /* Dead already if the owner died since the caller found it: bury has
     * unregistered it, and a name registered now would outlive it. */
    if (atomic_load(&t->dead)) {
        st = XETS_BADARG;
    } else if (t->named) {
        enif_mutex_lock(reg_lock);
        /* Renaming onto its own name is refused too: the name is taken. */
        st = reg_insert(name, t);
        if (st == XETS_OK)
            reg_remove(t->name, t);
        enif_mutex_unlock(reg_lock);
    }
    if (st == XETS_OK)
        t->name = name;
    enif_mutex_unlock(t->meta);
    return st;
}

/* Under t->meta. */
static void send_transfer(table_t *t, ErlNifPid *to, ErlNifPid from, ERL_NIF_TERM data)
{
    ErlNifEnv *msg_env = enif_alloc_env();
    ERL_NIF_TERM id = t->named ? t->name : enif_make_resource(msg_env, t);
    ERL_NIF_TERM msg = enif_make_tuple4(msg_env, atom_ets_transfer, id,
                                        enif_make_pid(msg_env, &from),
                                        enif_make_copy(msg_env, data));
    enif_send(NULL, to, msg_env, msg);
    enif_free_env(msg_env);
}

int table_give_away(ErlNifEnv *env, table_t *t, ErlNifPid to, ERL_NIF_TERM data)
{
    ErlNifPid self;
    enif_self(env, &self);
    if (to.pid == self.pid)
        return XETS_BADARG;
    enif_mutex_lock(t->meta);
    ErlNifMonitor mon;
    if (atomic_load(&t->dead) || self.pid != atomic_load(&t->owner) ||
        enif_monitor_process(env, t, &to, &mon) != 0) {
        enif_mutex_unlock(t->meta);
        return XETS_BADARG;
    }
    enif_demonitor_process(env, t, &t->owner_mon);
    t->owner_mon = mon;
    atomic_store(&t->owner, to.pid);
    send_transfer(t, &to, self, data);
    enif_mutex_unlock(t->meta);
    return XETS_OK;
}

void table_set_heir(ErlNifEnv *env, table_t *t, const ErlNifPid *heir, ERL_NIF_TERM data)
{
    enif_mutex_lock(t->meta);
    if (t->heir_env != NULL) {
        enif_free_env(t->heir_env);
        t->heir_env = NULL;
    }
    if (heir != NULL && enif_is_process_alive(env, (ErlNifPid *)heir)) {
        t->heir_env = enif_alloc_env();
        t->heir = *heir;
        t->heir_data = enif_make_copy(t->heir_env, data);
    }
    enif_mutex_unlock(t->meta);
}

int table_fix(ErlNifEnv *env, table_t *t, bool on)
{
    ErlNifPid self;
    enif_self(env, &self);
    enif_mutex_lock(t->meta);
    fixation_t **link = &t->fixations;
    while (*link != NULL && (*link)->pid.pid != self.pid)
        link = &(*link)->next;
    fixation_t *f = *link;
    if (on) {
        if (f == NULL) {
            f = malloc(sizeof *f);
            if (f == NULL) {
                enif_mutex_unlock(t->meta);
                return XETS_NOMEM;
            }
            f->pid = self;
            f->count = 0;
            enif_monitor_process(env, t, &self, &f->mon);
            f->next = t->fixations;
            t->fixations = f;
        }
        if (atomic_fetch_add(&t->fix_count, 1) == 0) {
            t->fixed_since = enif_monotonic_time(ERL_NIF_USEC) + enif_time_offset(ERL_NIF_USEC);
            t->fixed_since_mono = enif_monotonic_time(ERL_NIF_NSEC);
        }
        f->count++;
    } else if (f != NULL) {
        atomic_fetch_sub(&t->fix_count, 1);
        if (--f->count == 0) {
            *link = f->next;
            enif_demonitor_process(env, t, &f->mon);
            free(f);
        }
    }
    enif_mutex_unlock(t->meta);
    return XETS_OK;
}

/* The owner died: the heir takes the table if it can, else it is deleted. */
static void owner_down(ErlNifEnv *env, table_t *t, ErlNifPid dead_owner)
{
    if (t->heir_env != NULL && t->heir.pid != dead_owner.pid) {
        ErlNifMonitor mon;
        if (enif_monitor_process(env, t, &t->heir, &mon) == 0) {
            t->owner_mon = mon;
            atomic_store(&t->owner, t->heir.pid);
            send_transfer(t, &t->heir, dead_owner, t->heir_data);
            return;
        }
    }
    if (!atomic_exchange(&t->dead, true))
        bury(env, t, true);
}

/* ets deletes a dead owner's tables, or hands them to their heirs, before
 * the owner's links and monitors fire. xets hears of the death from its own
 * monitor, which fires among the others, in any order with them: so
 * whoever finds the owner dead first does what the monitor would have
 * done, and the monitor, when it fires, finds it done. */
bool table_alive(ErlNifEnv *env, table_t *t)
{
    if (atomic_load(&t->dead))
        return false;
    if (owner_alive(env, atomic_load(&t->owner)))
        return true;
    enif_mutex_lock(t->meta);
    ErlNifPid owner = {atomic_load(&t->owner)};
    if (!atomic_load(&t->dead) && !enif_is_process_alive(env, &owner)) {
        /* The owner monitor has fired or is firing: its down callback, if
         * still to come, then finds another monitor and does nothing. */
        enif_demonitor_process(env, t, &t->owner_mon);
        owner_down(env, t, owner);
    }
    bool alive = !atomic_load(&t->dead);
    enif_mutex_unlock(t->meta);
    return alive;
}

static void fixer_down(table_t *t, ErlNifPid pid)
{
    for (fixation_t **link = &t->fixations; *link != NULL; link = &(*link)->next) {
        fixation_t *f = *link;
        if (f->pid.pid == pid.pid) {
            atomic_fetch_sub(&t->fix_count, f->count);
            *link = f->next;
            free(f);
            return;
        }
    }
}

static void table_down(ErlNifEnv *env, void *obj, ErlNifPid *pid, ErlNifMonitor *mon)
{
    table_t *t = obj;
    enif_mutex_lock(t->meta);
    if (!atomic_load(&t->dead)) {
        if (enif_compare_monitors(mon, &t->owner_mon) == 0)
            owner_down(env, t, *pid);
        else
            fixer_down(t, *pid);
    }
    enif_mutex_unlock(t->meta);
}

static void table_dtor(ErlNifEnv *env, void *obj)
{
    (void)env;
    table_t *t = obj;
    if (t->heir_env != NULL)
        enif_free_env(t->heir_env);
    while (t->fixations != NULL) {
        fixation_t *f = t->fixations;
        t->fixations = f->next;
        free(f);
    }
    if (t->meta != NULL)
        enif_mutex_destroy(t->meta);
}

int table_module_init(ErlNifEnv *env)
{
    ErlNifResourceTypeInit init = {.dtor = table_dtor, .down = table_down, .members = 3};
    table_resource_type = enif_init_resource_type(env, "xets_table", &init,
                                                  ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER, NULL);
    reg_lock = enif_mutex_create("xets_registry");
    all_lock = enif_mutex_create("xets_all_tables");
    atom_ets_transfer = enif_make_atom(env, "ETS-TRANSFER");
    if (table_resource_type == NULL || reg_lock == NULL || all_lock == NULL)
        return -1;
    /* The disk tier's flusher before any table, so that its epoch record
     * is not taken for a table's leak (test/xets_leak_cth.erl). */
    return reaper_start() != 0 || lsm_start() != 0 ? -1 : 0;
}

void table_module_stop(void)
{
    reaper_stop();
    lsm_stop();
}
