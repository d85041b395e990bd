/* The LSM store (lsm.h, which gives the model, the order of writes, flush,
 * recovery and close). This file is in four parts: states and log
 * entries (codecs), the store's structure and its threads (committer,
 * flusher), recovery and close, and the store.h operations.
 *
 * Versions. What a reader needs (the memtable, the frozen one, the
 * SSTables) is one immutable version_t behind an atomic pointer, read once
 * per operation inside the caller's epoch section. A new version is
 * published under flush_mu (freeze, flush, clear: one at a time) and the
 * old one retired through the epoch, so a reader's version, and every
 * memtable and table it names, outlives the reader's section: a memtable
 * leaves through the reaper (dropped after an epoch), a table through the
 * version's reference to it.
 *
 * Locks, in the order they are taken: flush_mu, group_lock, then the
 * stripes (in index order), then log_mu. A writer holds one stripe and, briefly,
 * log_mu; a freeze holds flush_mu, every stripe and log_mu; the committer
 * only log_mu, never across I/O. A hold or group (group_lock shared) never
 * waits for the flusher (stall), which may be waiting for group_lock. */
#include "lsm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../epoch.h"
#include "../reaper.h"
#include "bytes.h"
#include "compaction.h"
#include "fs.h"
#include "manifest_file.h"
#include "names.h"
#include "sstable_file.h"
#include "wal_file.h"

/* An SSTable entry's kind: a state, or the empty state (a tombstone). */
enum { KIND_STATE = 0, KIND_TOMBSTONE = 1 };

/* Entries between restart points in the tables the store writes: a
 * lookup decodes at most this many entries of a block after its binary
 * search of the restarts (the format's default, 16, costs a lookup twice
 * the decoding for about 3% less space). */
#define LSM_RESTART_INTERVAL 4

/* Bytes a flush gathers in one epoch section before writing them out. */
#define FLUSH_CHUNK (256 * 1024)
/* Bytes of queued log entries past which a writer wakes the committer
 * again (it is woken when the queue becomes non-empty, and may be asleep
 * again by the time much more is queued). */
#define COMMIT_EAGER_BYTES (256 * 1024)
/* How long the committer lets a write wait for others to join it, when
 * no fsync is due and nobody waits (committer_main). */
#define COMMIT_LINGER_US 200

/* ---- states and log entries -------------------------------------------- */

/* A key's state as found: its blob (a tombstone when len is 0), pointing
 * into a memtable or a table's cached block, valid for the caller's epoch
 * section (capture_mem, capture_sst). */
typedef struct state {
    bool found;
    const unsigned char *p;
    size_t len;
} state_t;

/* Calls visit on each object of a state: the blob itself for a store of
 * one object per key, else each of its list. XETS_OK, a nonzero visit
 * stopping it (*stopped), or XETS_CORRUPT for a list that does not
 * parse. */
static int state_each(bool multi, const unsigned char *key, size_t klen, const unsigned char *p,
                      size_t len, visit_fn visit, void *ctx, bool *stopped)
{
    *stopped = false;
    if (len == 0)
        return XETS_OK;
    if (!multi) {
        *stopped = visit(ctx, &(rec_t){key, klen, p, len, 0}) != 0;
        return XETS_OK;
    }
    const unsigned char *end = p + len;
    while (p < end) {
        uint64_t n;
        if (!varint_get(&p, end, SIZE_MAX, &n) || (size_t)(end - p) < 8 || n > (size_t)(end - p) - 8)
            return XETS_CORRUPT;
        uint64_t fp = le64_load(p);
        p += 8;
        if (visit(ctx, &(rec_t){key, klen, p, (size_t)n, fp})) {
            *stopped = true;
            return XETS_OK;
        }
        p += n;
    }
    return XETS_OK;
}

/* Appends one object to a list blob. */
static void list_put(bytes_t *b, const unsigned char *val, size_t vlen, uint64_t fp)
{
    uint8_t *room = bytes_room(b, 10 + 8);
    if (room != NULL) {
        size_t n = varint_put(room, vlen);
        le64_store(room + n, fp);
        b->len += n + 8;
    }
    bytes_put(b, val, vlen);
}

/* A log entry: varint klen, key, varint blen, blob, varint zigzag delta.
 * A batch (one WAL record) is one or more entries. */
static size_t entry_size(size_t klen, size_t blen)
{
    return 10 + klen + 10 + blen + 10;
}

static size_t entry_put(uint8_t *p, const unsigned char *key, size_t klen,
                        const unsigned char *blob, size_t blen, int64_t delta)
{
    uint8_t *q = p;
    q += varint_put(q, klen);
    memcpy(q, key, klen);
    q += klen;
    q += varint_put(q, blen);
    if (blen)
        memcpy(q, blob, blen);
    q += blen;
    q += varint_put(q, ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63));
    return (size_t)(q - p);
}

typedef struct entry {
    const uint8_t *key, *blob;
    size_t klen, blen;
    int64_t delta;
} entry_t;

/* The next entry of a batch at *p: true, or false at the end or (*bad) on
 * malformed bytes. */
static bool entry_get(const uint8_t **p, const uint8_t *end, entry_t *e, bool *bad)
{
    *bad = false;
    if (*p == end)
        return false;
    uint64_t klen, blen, z;
    const uint8_t *q = *p;
    if (!varint_get(&q, end, (uint64_t)(end - q), &klen) || klen > (size_t)(end - q))
        goto bad;
    e->key = q;
    e->klen = klen;
    q += klen;
    if (!varint_get(&q, end, (uint64_t)(end - q), &blen) || blen > (size_t)(end - q))
        goto bad;
    e->blob = q;
    e->blen = blen;
    q += blen;
    if (!varint_get(&q, end, UINT64_MAX, &z))
        goto bad;
    e->delta = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    *p = q;
    return true;
bad:
    *bad = true;
    return false;
}

/* ---- the store ------------------------------------------------------------ */

/* An SSTable of a version: its reader (a reference) and what the manifest
 * says of it: its level and its first and last sort keys (in the
 * version's keys). */
typedef struct table_ref {
    sst_file_t *f;
    uint64_t number, bytes;
    unsigned level;
    const uint8_t *lo, *hi;
    size_t lolen, hilen;
} table_ref_t;

/* What readers see: the memtables and the tables, in the order a lookup
 * searches them (compaction.h): level 0 newest first, then each level by
 * key. Immutable once published. */
typedef struct version {
    store_t *mem;
    store_t *frozen; /* being flushed, or NULL */
    uint8_t *keys;   /* the tables' lo and hi */
    size_t l0;       /* tables in level 0 */
    size_t meta;     /* bytes the tables' readers hold: indexes, filters */
    size_t nsst;
    table_ref_t sst[];
} version_t;

typedef struct lsm {
    const store_ops_t *ops; /* lsm_hash_ops or lsm_ordered_ops */
    const store_ops_t *mem_ops;
    enum store_kind kind;
    bool multi;
    size_t prefix; /* bytes of a sort key before the key (the hash order's) */
    char *path;
    bool husk; /* what clear emptied out: only versions to release */
    uint64_t serial;

    fs_dir_t *dir;
    manifest_header_t header;
    _Atomic(version_t *) ver;
    pthread_mutex_t stripe[LSM_STRIPES];
    /* Held shared by a group of writes (a list insert) from its first
     * write to its log entry, exclusive by a freeze: a freeze between
     * them would write part of the group into the frozen memtable while
     * its entry, and the objects it counts, went to the next WAL, and
     * recovery would count them twice. Held shared by a hold too
     * (lsm_hold), and exclusive by a version_swap: a held call's states
     * stay in the tables where it read them. */
    pthread_rwlock_t group_lock;
    atomic_uint_fast64_t objects;
    atomic_size_t mem_bytes; /* written to the active memtable since its start */
    size_t mem_limit;
    size_t memory_limit; /* lsm_options_t's: 0, none */
    bool discardable;    /* lsm_options_t's */
    bool dropping;       /* lsm_drop: its close writes nothing out */
    block_cache_t *cache;
    atomic_uint_fast64_t stalls;

    /* The log, under log_mu. */
    pthread_mutex_t log_mu;
    pthread_cond_t log_cv;     /* wakes the committer */
    pthread_cond_t durable_cv; /* wakes lsm_sync */
    wal_batch_t *pending, **pending_tail;
    size_t pending_bytes, npending; /* bytes and batches queued */
    size_t gather; /* the committer waits for this many batches queued (0: not waiting) */
    uint64_t last_seq;    /* the last given out */
    uint64_t written_seq; /* the last written to a WAL */
    uint64_t durable_seq; /* the last made durable */
    uint64_t sync_wanted; /* a sync/1 wants up to it */
    lsm_waiter_t *waiters;
    size_t nwaiters, capwaiters;
    wal_file_t *wal;      /* the committer's */
    wal_file_t *next_wal; /* to switch to once switch_after is written */
    uint64_t switch_after;
    atomic_int failed; /* XETS_IO once writes are refused; fail says why (under log_mu) */
    call_error_t fail;
    bool stop;
    bool closed; /* lsm_await's answer from now on: durable, or failed */
    enum lsm_sync sync;
    unsigned interval_ms;
    lsm_notify_fn notify;
    uint64_t fsyncs;
    pthread_t committer;

    /* In the flusher's queue, or being flushed by it (under the queue's
     * lock, flushers.mu). */
    struct lsm *queue_next;
    bool queued, flushing;
    atomic_bool flush_asked; /* since the last freeze */
    /* The manifest and the versions, under flush_mu. */
    pthread_mutex_t flush_mu;
    manifest_log_t *man;
    uint64_t next_file;
    atomic_uint_fast64_t flushes, compactions, man_bytes;
    bytes_t compact_after[MANIFEST_LEVELS]; /* compaction_pick's round robin */
} lsm_t;

static atomic_uint_fast64_t serials = 1;

static inline lsm_t *L(store_t *s)
{
    return (lsm_t *)s;
}

static pthread_mutex_t *stripe_of(lsm_t *s, const unsigned char *key, size_t klen)
{
    return &s->stripe[XXH3_64bits(key, klen) % LSM_STRIPES];
}

/* Frees a version and its references to tables (not its memtables: they
 * leave on their own). */
static void version_free(void *p)
{
    version_t *v = p;
    for (size_t i = 0; i < v->nsst; i++)
        sst_file_close(v->sst[i].f);
    free(v->keys);
    free(v);
}

static version_t *version_now(lsm_t *s)
{
    return atomic_load_explicit(&s->ver, memory_order_acquire);
}

/* Bounds the cache by what the memory limit leaves it (README, "Tables
 * larger than memory"): the limit less the memtables at their most (a
 * writer waits past that: stall_due) and what the tables' readers hold,
 * but never below an eighth of the limit, so that a limit too small for
 * its tables' indexes still caches a few blocks. */
static void cache_bound(lsm_t *s, const version_t *v)
{
    if (s->memory_limit == 0)
        return;
    size_t reserved = LSM_MEMTABLES * s->mem_limit + v->meta, least = s->memory_limit / 8;
    block_cache_set_capacity(s->cache, s->memory_limit > reserved + least
                                           ? s->memory_limit - reserved
                                           : least);
}

/* Publishes v (under flush_mu); the old one is retired through the epoch. */
static void version_publish(lsm_t *s, version_t *v)
{
    cache_bound(s, v);
    version_t *old = atomic_exchange_explicit(&s->ver, v, memory_order_acq_rel);
    if (old != NULL)
        epoch_retire(old, version_free);
}

static void flusher_progress(void);

/* Publishes v, whose tables differ from the current version's (a flush
 * done, a compaction), exclusive of write groups: a group's writes then
 * find each state where its reads found it, in the blocks the group
 * pinned (sstable_file.h, "Pins"). Writers waiting for the flusher are
 * told. */
static void version_swap(lsm_t *s, version_t *v)
{
    pthread_rwlock_wrlock(&s->group_lock);
    version_publish(s, v);
    pthread_rwlock_unlock(&s->group_lock);
    flusher_progress();
}

/* The search order of a version's tables. */
static int search_order(const void *a, const void *b)
{
    const table_ref_t *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->level == 0)
        return (x->number < y->number) - (x->number > y->number);
    return bytes_cmp(x->lo, x->lolen, y->lo, y->lolen);
}

/* The reader of table number: from's, or one of fresh's. */
static sst_file_t *reader_of(uint64_t number, const version_t *from, sst_file_t *const *fresh,
                             const uint64_t *fresh_numbers, size_t nfresh)
{
    for (size_t i = 0; from != NULL && i < from->nsst; i++)
        if (from->sst[i].number == number)
            return from->sst[i].f;
    for (size_t i = 0; i < nfresh; i++)
        if (fresh_numbers[i] == number)
            return fresh[i];
    return NULL;
}

/* A version of memtables mem and frozen and the tables of ms (none if ms
 * is NULL), each read through from's reader of it or one of fresh (table
 * fresh_numbers[i]); it takes its own references. NULL: out of memory (or
 * a table with no reader, which callers never ask for). */
static version_t *version_make(const manifest_state_t *ms, const version_t *from,
                               sst_file_t *const *fresh, const uint64_t *fresh_numbers,
                               size_t nfresh, store_t *mem, store_t *frozen)
{
    size_t n = 0, key_bytes = 0;
    for (int l = 0; ms != NULL && l < MANIFEST_LEVELS; l++)
        for (size_t i = 0; i < ms->level[l].n; i++, n++)
            key_bytes += ms->level[l].files[i].smallest_len + ms->level[l].files[i].largest_len;
    version_t *v = calloc(1, sizeof *v + n * sizeof(table_ref_t));
    uint8_t *k = v != NULL ? malloc(key_bytes + 1) : NULL;
    if (k == NULL) {
        free(v);
        return NULL;
    }
    v->mem = mem;
    v->frozen = frozen;
    v->keys = k;
    for (int l = 0; ms != NULL && l < MANIFEST_LEVELS; l++) {
        for (size_t i = 0; i < ms->level[l].n; i++) {
            const manifest_file_t *m = &ms->level[l].files[i];
            sst_file_t *f = reader_of(m->number, from, fresh, fresh_numbers, nfresh);
            if (f == NULL) {
                version_free(v);
                return NULL;
            }
            sst_file_ref(f);
            v->l0 += l == 0;
            v->meta += sst_reader_memory(sst_file_reader(f));
            table_ref_t *t = &v->sst[v->nsst++];
            *t = (table_ref_t){.f = f, .number = m->number, .bytes = m->bytes, .level = (unsigned)l,
                               .lo = k, .lolen = m->smallest_len};
            if (m->smallest_len)
                memcpy(k, m->smallest, m->smallest_len);
            k += m->smallest_len;
            t->hi = k;
            t->hilen = m->largest_len;
            if (m->largest_len)
                memcpy(k, m->largest, m->largest_len);
            k += m->largest_len;
        }
    }
    qsort(v->sst, v->nsst, sizeof *v->sst, search_order);
    return v;
}

/* v's tables with memtables mem and frozen. */
static version_t *version_mems(lsm_t *s, const version_t *v, store_t *mem, store_t *frozen)
{
    return version_make(&s->man->state, v, NULL, NULL, 0, mem, frozen);
}

/* Refuses writes from now on (under log_mu), keeping the first reason. */
static void fail_locked(lsm_t *s, const call_error_t *why)
{
    if (atomic_load(&s->failed))
        return;
    s->fail = *why;
    atomic_store(&s->failed, XETS_IO);
}

static void fail_now(lsm_t *s, const call_error_t *why)
{
    pthread_mutex_lock(&s->log_mu);
    fail_locked(s, why);
    pthread_mutex_unlock(&s->log_mu);
}

static int refuse(lsm_t *s, xets_call_t *call)
{
    call->error = s->fail;
    return XETS_IO;
}

/* ---- the committer -------------------------------------------------------- */

/* Tells the waiters the durable point reached (or the failure) covers,
 * outside log_mu (taken on entry and on return). */
static size_t notify_locked(lsm_t *s)
{
    if (s->nwaiters == 0 || s->notify == NULL)
        return 0;
    size_t n = 0;
    lsm_waiter_t *due = malloc(s->nwaiters * sizeof *due);
    if (due == NULL)
        return 0; /* told at the next round */
    for (size_t i = 0; i < s->nwaiters;) {
        if (s->failed || s->waiters[i].seq <= s->durable_seq) {
            due[n++] = s->waiters[i];
            s->waiters[i] = s->waiters[--s->nwaiters];
        } else {
            i++;
        }
    }
    int st = s->failed ? XETS_IO : XETS_OK;
    call_error_t why = s->fail;
    pthread_mutex_unlock(&s->log_mu);
    for (size_t i = 0; i < n; i++)
        s->notify(&due[i], s->serial, st, &why);
    free(due);
    pthread_mutex_lock(&s->log_mu);
    return n;
}

static void batches_free(wal_batch_t *b)
{
    while (b != NULL) {
        wal_batch_t *next = b->next;
        free(b);
        b = next;
    }
}

/* Writes list (batches in seq order) to the WAL, switching files after
 * switch_after when a switch is pending (next): every batch up to it was
 * queued before the switch was asked, so it was written before or is in
 * list. The old file is synced first, so that recovery never finds a
 * later file holding batches that an earlier one lost, and only then is
 * it closed, after s->wal has moved (lsm_info reads it). */
static int commit_write(lsm_t *s, wal_batch_t *list, wal_file_t **wal, wal_file_t *next,
                        uint64_t switch_after, xets_call_t *call)
{
    wal_batch_t *rest = NULL, **cut = &list;
    if (next != NULL) {
        while (*cut != NULL && (*cut)->seq <= switch_after)
            cut = &(*cut)->next;
        rest = *cut;
        *cut = NULL;
    }
    int st = wal_file_append_batches(*wal, list, NULL, call);
    *cut = rest; /* the caller frees the list whole */
    if (st != XETS_OK || next == NULL)
        return st;
    if ((st = wal_file_sync(*wal, call)) != XETS_OK)
        return st;
    wal_file_t *old = *wal;
    pthread_mutex_lock(&s->log_mu);
    s->wal = next;
    s->next_wal = NULL;
    pthread_mutex_unlock(&s->log_mu);
    wal_file_close(old);
    *wal = next;
    return wal_file_append_batches(next, rest, NULL, call);
}

/* The moment us microseconds from now, as pthread_cond_timedwait takes
 * it (the realtime clock, the condition variables' default). */
static struct timespec deadline_in(int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += us / 1000000;
    ts.tv_nsec += (us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Waits on log_cv (log_mu held) for at most us microseconds; forever if
 * us is negative. */
static void wait_log(lsm_t *s, int64_t us)
{
    if (us < 0) {
        pthread_cond_wait(&s->log_cv, &s->log_mu);
        return;
    }
    struct timespec ts = deadline_in(us);
    pthread_cond_timedwait(&s->log_cv, &s->log_mu, &ts);
}

/* The committer: takes what is queued, writes it, syncs as the mode and
 * the waiters say, tells them. After a failure it only drops what is
 * queued and tells waiters, until stopped. */
static void *committer_main(void *arg)
{
    lsm_t *s = arg;
    xets_call_t call = *OWN_CALL;
    int64_t last_sync = call_now();
    size_t gather = 0;     /* batches to wait for (see below) */
    int64_t gather_us = 0; /* at most this long: a quarter of the last fsync */
    pthread_mutex_lock(&s->log_mu);
    for (;;) {
        bool failed = atomic_load(&s->failed);
        bool dirty = s->written_seq > s->durable_seq;
        bool due = s->pending != NULL || (s->next_wal != NULL && !failed) ||
                   (!failed && (s->sync_wanted > s->durable_seq || s->nwaiters > 0));
        if (!due && !s->stop) {
            int64_t us = -1;
            if (s->sync == LSM_SYNC_INTERVAL && dirty && !failed)
                us = last_sync + (int64_t)s->interval_ms * 1000 - call_now();
            if (us != 0)
                wait_log(s, us > 0 ? us : -1);
            if (us >= 0 && !(s->pending != NULL || s->stop))
                us = 0; /* the interval is up: sync below */
        }
        /* With no fsync due and nobody waiting ({sync, none} and
         * {interval, _} between syncs), the first write of a quiet spell
         * waits a moment for the writes after it: one write call and one
         * wake-up of this thread for all of them, not one per write
         * (measured: the wake-ups alone took 5% of a writer's time).
         * Nothing is promised of such writes before a sync: the queue
         * was already lost with the VM before this thread wrote it. */
        if (s->sync != LSM_SYNC_ALWAYS && s->pending != NULL && s->next_wal == NULL &&
            !s->stop && s->nwaiters == 0 && s->sync_wanted <= s->durable_seq &&
            s->pending_bytes < COMMIT_EAGER_BYTES && !atomic_load(&s->failed))
            wait_log(s, COMMIT_LINGER_US);
        /* Group commit: the writers the last round told are durable
         * mostly write again at once. Waiting a moment for them puts them
         * under this fsync rather than the next, so that a steady set of
         * writers shares one fsync instead of splitting into groups that
         * take turns. The wait ends once they are all back, after a
         * quarter of the last fsync's time (a longer wait idles the CPU
         * that writers, many on few cores, need between their fsyncs: 64
         * writers on 2 cores ran 10-20% slower waiting half an fsync), or
         * on stop or failure. */
        if (gather > 0) {
            int64_t until = call_now() + gather_us, left;
            s->gather = gather;
            while (s->npending < s->gather && !s->stop && !atomic_load(&s->failed) &&
                   (left = until - call_now()) > 0)
                wait_log(s, left);
            s->gather = 0;
        }
        wal_batch_t *list = s->pending;
        s->pending = NULL;
        s->pending_tail = &s->pending;
        s->pending_bytes = 0;
        s->npending = 0;
        uint64_t upto = s->last_seq;
        wal_file_t *wal = s->wal, *next = s->next_wal;
        uint64_t switch_after = s->switch_after;
        bool stopping = s->stop;
        bool sync = upto > s->durable_seq &&
                    (s->sync == LSM_SYNC_ALWAYS || s->sync_wanted > s->durable_seq || stopping ||
                     (s->sync == LSM_SYNC_INTERVAL &&
                      call_now() - last_sync >= (int64_t)s->interval_ms * 1000));
        failed = atomic_load(&s->failed);
        pthread_mutex_unlock(&s->log_mu);

        int st = XETS_OK;
        if (!failed && (list != NULL || next != NULL))
            st = commit_write(s, list, &wal, next, switch_after, &call);
        if (!failed && st == XETS_OK && sync) {
            int64_t t0 = call_now();
            st = wal_file_sync(wal, &call);
            last_sync = call_now();
            gather_us = (last_sync - t0) / 4 < 500 ? (last_sync - t0) / 4 : 500;
        }
        batches_free(list);

        pthread_mutex_lock(&s->log_mu);
        if (st != XETS_OK)
            fail_locked(s, &call.error);
        if (st == XETS_OK && !failed) {
            s->written_seq = upto;
            if (sync) {
                s->durable_seq = upto;
                s->fsyncs++;
            }
        }
        size_t told = notify_locked(s);
        gather = s->sync == LSM_SYNC_ALWAYS && told > 0 ? told + s->npending : 0;
        pthread_cond_broadcast(&s->durable_cv);
        if (stopping && s->pending == NULL)
            break;
    }
    pthread_mutex_unlock(&s->log_mu);
    return NULL;
}

/* Queues a batch (under log_mu: it takes its sequence number there). */
static void enqueue(lsm_t *s, wal_batch_t *b, xets_call_t *call)
{
    pthread_mutex_lock(&s->log_mu);
    b->seq = ++s->last_seq;
    b->next = NULL;
    bool was_empty = s->pending == NULL;
    *s->pending_tail = b;
    s->pending_tail = &b->next;
    s->pending_bytes += b->len;
    s->npending++;
    if (s->sync == LSM_SYNC_ALWAYS) {
        call->await.store = s;
        call->await.seq = b->seq;
    }
    if (was_empty || s->pending_bytes >= COMMIT_EAGER_BYTES ||
        (s->gather > 0 && s->npending >= s->gather))
        pthread_cond_signal(&s->log_cv);
    pthread_mutex_unlock(&s->log_mu);
}

/* ---- the flusher ---------------------------------------------------------- */

typedef struct chunk {
    lsm_t *s;
    bytes_t buf;   /* sort key length, sort key, blob length, blob; ... */
    bytes_t after; /* the last key gathered */
    bool nomem;
} chunk_t;

static int chunk_visit(void *ctx, const rec_t *r)
{
    chunk_t *c = ctx;
    lsm_t *s = c->s;
    size_t sklen = store_sort_key(s->mem_ops, r->key, r->klen, NULL, 0);
    uint8_t *p = bytes_room(&c->buf, 20 + sklen + r->vlen);
    if (p == NULL || !bytes_set(&c->after, r->key, r->klen)) {
        c->nomem = true;
        return 1;
    }
    uint8_t *q = p + varint_put(p, sklen);
    q += store_sort_key(s->mem_ops, r->key, r->klen, q, sklen);
    q += varint_put(q, r->vlen);
    if (r->vlen)
        memcpy(q, r->val, r->vlen);
    c->buf.len += (size_t)(q - p) + r->vlen;
    return c->buf.len >= FLUSH_CHUNK;
}

/* The manifest's record of table n just built, its entries all at seq;
 * its first and last keys copied into keys, which *add points into. */
static int table_added(const sst_built_t *built, uint64_t n, unsigned level, uint64_t seq,
                       bytes_t *keys, manifest_file_t *add)
{
    keys->len = 0;
    bytes_put(keys, built->smallest, built->smallest_len);
    bytes_put(keys, built->largest, built->largest_len);
    if (keys->nomem)
        return XETS_NOMEM;
    *add = (manifest_file_t){.number = n, .level = level, .entries = built->entries,
                             .bytes = built->size, .smallest_seq = seq, .largest_seq = seq,
                             .smallest = keys->p, .smallest_len = (uint32_t)built->smallest_len,
                             .largest = keys->p + built->smallest_len,
                             .largest_len = (uint32_t)built->largest_len};
    return XETS_OK;
}

/* How the store writes a table, by flush or compaction alike. */
static sst_options_t table_options(const lsm_t *s)
{
    return (sst_options_t){.order = s->header.id.order, .encoding = s->header.id.encoding,
                           .restart_interval = LSM_RESTART_INTERVAL};
}

/* Writes memtable mem as SSTable number n, its entries at sequence
 * number seq: walked in chunks gathered inside epoch sections and written
 * outside them. XETS_OK with the table durable and *add filled for the
 * manifest (its keys in *keys); else a failure, nothing left behind. An
 * empty memtable is XETS_END, writing nothing. */
static int write_table(lsm_t *s, store_t *mem, uint64_t n, uint64_t seq, manifest_file_t *add,
                       bytes_t *keys, xets_call_t *call)
{
    sst_options_t o = table_options(s);
    sst_file_writer_t *w = NULL;
    chunk_t c = {.s = s};
    bool any = false, first = true;
    int st = XETS_OK;
    for (;;) {
        c.buf.len = 0;
        epoch_enter();
        st = store_scan(s->mem_ops, mem, call, first ? NULL : c.after.p, c.after.len,
                        SCAN_FORWARD, chunk_visit, &c);
        epoch_exit();
        first = false;
        if (c.nomem)
            st = XETS_NOMEM;
        if (st != XETS_OK && st != XETS_END)
            break;
        bool last = st == XETS_END;
        /* Any failure to create (XETS_EXISTS, XETS_BADARG too) leaves no
         * writer to add to. */
        if (c.buf.len > 0 && w == NULL && (st = sst_file_create(s->dir, n, &o, &w, call)) != XETS_OK)
            break;
        const uint8_t *p = c.buf.p, *end = c.buf.p + c.buf.len;
        while (p < end) {
            uint64_t sklen = 0, blen = 0; /* our own bytes: they parse */
            varint_get(&p, end, UINT64_MAX, &sklen);
            const uint8_t *sk = p;
            p += sklen;
            varint_get(&p, end, UINT64_MAX, &blen);
            st = sst_file_add(w, sk, sklen, seq, blen ? KIND_STATE : KIND_TOMBSTONE, p, blen, call);
            p += blen;
            any = true;
            if (st != XETS_OK)
                break;
        }
        if (st != XETS_OK && st != XETS_END)
            break;
        if (last) {
            st = XETS_OK;
            break;
        }
    }
    sst_built_t built;
    if (st == XETS_OK && !any)
        st = XETS_END;
    else if (st == XETS_OK)
        st = sst_file_finish(w, &built, call);
    if (st == XETS_OK)
        st = table_added(&built, n, 0, seq, keys, add);
    if (w != NULL)
        sst_file_writer_free(w);
    bytes_free(&c.buf);
    bytes_free(&c.after);
    return st;
}

static wal_header_t wal_header(lsm_t *s, uint64_t first_seq)
{
    return (wal_header_t){.id = s->header.id, .first_seq = first_seq};
}

/* Creates the next WAL, to follow the batches up to the last given out. */
static int wal_next(lsm_t *s, wal_file_t **w, uint64_t *number, xets_call_t *call)
{
    pthread_mutex_lock(&s->log_mu);
    uint64_t first = s->last_seq + 1;
    pthread_mutex_unlock(&s->log_mu);
    *number = s->next_file++;
    wal_header_t h = wal_header(s, first);
    return wal_file_create(s->dir, *number, &h, w, call);
}

static void stripes_lock(lsm_t *s)
{
    for (int i = 0; i < LSM_STRIPES; i++)
        pthread_mutex_lock(&s->stripe[i]);
}

static void stripes_unlock(lsm_t *s)
{
    for (int i = LSM_STRIPES - 1; i >= 0; i--)
        pthread_mutex_unlock(&s->stripe[i]);
}

/* Waits (log_mu held) until the committer has made the switch asked
 * last, or has failed (then it switches no more). */
static void switch_wait_locked(lsm_t *s)
{
    while (s->next_wal != NULL && !atomic_load(&s->failed)) {
        pthread_cond_signal(&s->log_cv);
        pthread_cond_wait(&s->durable_cv, &s->log_mu);
    }
}

/* Has the committer move to WAL w after the last batch given out so far
 * (every stripe locked, so no write is between memtable and queue): the
 * returned seq. Also the object count at that point. One switch at a
 * time: a switch asked before (a flush's, then a clear's or the next
 * flush's) is waited for, since overwriting it would send the batches
 * between the two to the WAL that the first one's manifest edit made
 * dead. A failed store's committer switches no more: w is closed. */
static uint64_t switch_log(lsm_t *s, wal_file_t *w, uint64_t *objects)
{
    pthread_mutex_lock(&s->log_mu);
    switch_wait_locked(s);
    uint64_t at = s->last_seq;
    if (s->next_wal == NULL) {
        s->next_wal = w;
        s->switch_after = at;
    } else {
        wal_file_close(w);
    }
    *objects = atomic_load(&s->objects);
    pthread_cond_signal(&s->log_cv);
    pthread_mutex_unlock(&s->log_mu);
    return at;
}

/* One flush (flush_mu held): freeze the memtable, write it, log the edit,
 * publish. */
static int flush_once(lsm_t *s, xets_call_t *call)
{
    wal_file_t *w = NULL;
    uint64_t wal_number;
    int st = wal_next(s, &w, &wal_number, call);
    if (st != XETS_OK)
        return st;
    store_t *fresh = NULL;
    st = s->mem_ops->open(&(store_options_t){.kind = STORE_SET}, &fresh, call);
    if (st != XETS_OK) {
        wal_file_close(w);
        return st;
    }
    pthread_rwlock_wrlock(&s->group_lock);
    stripes_lock(s);
    version_t *v = version_now(s);
    version_t *frozen_v = version_mems(s, v, fresh, v->mem);
    if (frozen_v == NULL) {
        stripes_unlock(s);
        pthread_rwlock_unlock(&s->group_lock);
        s->mem_ops->drop(fresh, call);
        wal_file_close(w);
        return XETS_NOMEM;
    }
    uint64_t objects;
    uint64_t seq = switch_log(s, w, &objects);
    store_t *frozen = v->mem;
    version_publish(s, frozen_v);
    atomic_store(&s->mem_bytes, 0);
    atomic_store(&s->flush_asked, false);
    stripes_unlock(s);
    pthread_rwlock_unlock(&s->group_lock);
    /* The committer's switch (the old WAL's last writes and fsync) before
     * the table's writes, not alongside: no writer waits for it (the
     * stripes are free), and a flush's file calls then come in one order,
     * which a crash test replaying a seed relies on (lsm_flusher_hold). */
    pthread_mutex_lock(&s->log_mu);
    switch_wait_locked(s);
    pthread_mutex_unlock(&s->log_mu);

    manifest_file_t add;
    bytes_t keys = BYTES_INIT;
    uint64_t n = s->next_file++;
    st = write_table(s, frozen, n, seq, &add, &keys, call);
    sst_file_t *f = NULL;
    if (st == XETS_OK || st == XETS_END) {
        manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE | MANIFEST_SET_LAST_SEQ |
                                    MANIFEST_SET_LOG_NUMBER | MANIFEST_SET_OBJECTS,
                             .next_file = s->next_file, .last_seq = seq,
                             .log_number = wal_number, .objects = objects,
                             .add = &add, .nadd = st == XETS_OK};
        bool added = st == XETS_OK;
        st = manifest_file_edit(s->man, &e, call);
        if (st == XETS_OK && added)
            st = sst_file_open(s->dir, n, s->cache, &f, call);
        if (st == XETS_OK && added)
            st = sst_file_warm(f, call);
    }
    bytes_free(&keys);
    if (st != XETS_OK) {
        sst_file_close(f);
        return st; /* the frozen memtable stays readable; writes stop */
    }
    version_t *done = version_make(&s->man->state, frozen_v, &f, &n, f != NULL, frozen_v->mem,
                                   NULL);
    sst_file_close(f);
    if (done == NULL)
        return XETS_NOMEM;
    version_swap(s, done);
    reaper_push(s->mem_ops, frozen);
    atomic_fetch_add(&s->flushes, 1);
    atomic_store(&s->man_bytes, s->man->size);
    /* The WALs before wal_number are dead: their removal may fail or be
     * cut short by a crash, and the next sweep finishes it. */
    return manifest_file_sweep(s->man, call);
}

/* The tables a compaction writes: each one's manifest record (its keys
 * in keys[i]) and reader. */
typedef struct outputs {
    manifest_file_t *add;
    bytes_t *keys;
    sst_file_t **f;
    uint64_t *numbers;
    size_t n, cap;
} outputs_t;

static bool outputs_grow(outputs_t *o)
{
    if (o->n < o->cap)
        return true;
    size_t cap = o->cap ? 2 * o->cap : 4;
    manifest_file_t *add = realloc(o->add, cap * sizeof *add);
    if (add != NULL)
        o->add = add;
    bytes_t *keys = realloc(o->keys, cap * sizeof *keys);
    if (keys != NULL)
        o->keys = keys;
    sst_file_t **f = realloc(o->f, cap * sizeof *f);
    if (f != NULL)
        o->f = f;
    uint64_t *numbers = realloc(o->numbers, cap * sizeof *numbers);
    if (numbers != NULL)
        o->numbers = numbers;
    if (add == NULL || keys == NULL || f == NULL || numbers == NULL)
        return false;
    for (size_t i = o->cap; i < cap; i++) {
        o->keys[i] = (bytes_t)BYTES_INIT;
        o->f[i] = NULL;
    }
    o->cap = cap;
    return true;
}

static void outputs_free(outputs_t *o)
{
    for (size_t i = 0; i < o->cap; i++) {
        bytes_free(&o->keys[i]);
        sst_file_close(o->f[i]);
    }
    free(o->add);
    free(o->keys);
    free(o->f);
    free(o->numbers);
}

/* Finishes output table w (number o->numbers[o->n]) at level, opens it
 * and warms the cache with it (as a flush does its table). */
static int output_finish(lsm_t *s, sst_file_writer_t *w, outputs_t *o, unsigned level,
                         uint64_t seq, xets_call_t *call)
{
    sst_built_t built;
    size_t i = o->n;
    int st = sst_file_finish(w, &built, call);
    if (st == XETS_OK)
        st = table_added(&built, o->numbers[i], level, seq, &o->keys[i], &o->add[i]);
    if (st == XETS_OK)
        st = sst_file_open(s->dir, o->numbers[i], s->cache, &o->f[i], call);
    if (st == XETS_OK)
        st = sst_file_warm(o->f[i], call);
    if (st == XETS_OK)
        o->n++;
    return st;
}

/* Merges c's inputs (flush_mu held) into tables of about a memtable's size at
 * level c->level + 1: each key's newest entry (the first input's that has
 * it), tombstones dropped if c says so. */
static int merge_inputs(lsm_t *s, version_t *v, const compaction_t *c, outputs_t *out,
                        xets_call_t *call)
{
    size_t n = c->nin;
    sst_iter_t *its = calloc(n, sizeof *its);
    sst_entry_t *heads = calloc(n, sizeof *heads);
    bool *live = calloc(n, sizeof *live);
    bytes_t key = BYTES_INIT;
    sst_file_writer_t *w = NULL;
    uint64_t seq = 0, written = 0;
    size_t opened = 0;
    int st = its && heads && live ? XETS_OK : XETS_NOMEM;
    for (size_t i = 0; i < n && st == XETS_OK; i++, opened++) {
        const sst_reader_t *r = sst_file_reader(reader_of(c->in[i]->number, v, NULL, NULL, 0));
        sst_iter_open(&its[i], r, SST_UNBOUNDED, SST_UNBOUNDED, SST_FORWARD);
        st = sst_iter_next(&its[i], &heads[i], call);
        live[i] = st == XETS_OK;
        if (st == XETS_END)
            st = XETS_OK;
        if (sst_reader_info(r)->max_seq > seq)
            seq = sst_reader_info(r)->max_seq;
    }
    sst_options_t o = table_options(s);
    unsigned level = c->level + 1;
    while (st == XETS_OK) {
        size_t win = n;
        for (size_t i = 0; i < n; i++)
            if (live[i] && (win == n || bytes_cmp(heads[i].key, heads[i].klen, heads[win].key,
                                                  heads[win].klen) < 0))
                win = i; /* ties keep the newer, earlier input */
        if (win == n)
            break;
        if (heads[win].kind != KIND_TOMBSTONE || !c->drop_tombstones) {
            if (w == NULL && !outputs_grow(out))
                st = XETS_NOMEM;
            if (st == XETS_OK && w == NULL) {
                out->numbers[out->n] = s->next_file++;
                st = sst_file_create(s->dir, out->numbers[out->n], &o, &w, call);
                written = 0;
            }
            if (st == XETS_OK)
                st = sst_file_add(w, heads[win].key, heads[win].klen, seq, heads[win].kind,
                                  heads[win].val, heads[win].vlen, call);
            written += heads[win].klen + heads[win].vlen;
        }
        if (st == XETS_OK && !bytes_set(&key, heads[win].key, heads[win].klen))
            st = XETS_NOMEM;
        for (size_t i = 0; i < n && st == XETS_OK; i++) {
            if (!live[i] || bytes_cmp(heads[i].key, heads[i].klen, key.p, key.len) != 0)
                continue;
            st = sst_iter_next(&its[i], &heads[i], call);
            live[i] = st == XETS_OK;
            if (st == XETS_END)
                st = XETS_OK;
        }
        /* A table ends between keys: no key's entry spans two. */
        if (st == XETS_OK && w != NULL && written >= s->mem_limit) {
            st = output_finish(s, w, out, level, seq, call);
            sst_file_writer_free(w);
            w = NULL;
        }
    }
    if (st == XETS_OK && w != NULL)
        st = output_finish(s, w, out, level, seq, call);
    if (w != NULL)
        sst_file_writer_free(w);
    for (size_t i = 0; i < opened; i++)
        sst_iter_close(&its[i]);
    free(its);
    free(heads);
    free(live);
    bytes_free(&key);
    return st;
}

/* Runs compaction c (flush_mu held): merges its inputs (or moves its one
 * table down), logs one manifest edit that swaps them for the outputs,
 * publishes the version, and sweeps the inputs' files (which readers of
 * older versions may still hold open: their handles outlive the names). */
static int compaction_run(lsm_t *s, const compaction_t *c, xets_call_t *call)
{
    version_t *v = version_now(s);
    outputs_t out = {0};
    uint64_t *gone = malloc(c->nin * sizeof *gone);
    int st = gone != NULL ? XETS_OK : XETS_NOMEM;
    for (size_t i = 0; i < c->nin && st == XETS_OK; i++)
        gone[i] = c->in[i]->number;
    if (st == XETS_OK && c->move) {
        /* The same table, a level down: its record copied (the edit
         * applies its removal first), its keys kept in out.keys. */
        manifest_file_t m = *c->in[0];
        if (outputs_grow(&out)) {
            bytes_put(&out.keys[0], m.smallest, m.smallest_len);
            bytes_put(&out.keys[0], m.largest, m.largest_len);
        }
        if (out.cap == 0 || out.keys[0].nomem) {
            st = XETS_NOMEM;
        } else {
            m.smallest = out.keys[0].p;
            m.largest = out.keys[0].p + m.smallest_len;
            m.level = c->level + 1;
            out.add[0] = m;
            out.n = 1;
        }
    } else if (st == XETS_OK) {
        st = merge_inputs(s, v, c, &out, call);
    }
    if (st == XETS_OK) {
        manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE, .next_file = s->next_file,
                             .remove = gone, .nremove = c->nin, .add = out.add, .nadd = out.n};
        st = manifest_file_edit(s->man, &e, call);
    }
    free(gone);
    if (st != XETS_OK) {
        outputs_free(&out); /* unnamed by any edit: orphans the sweep removes */
        return st;
    }
    /* A moved table keeps its reader (from v); written ones are new. */
    version_t *w = version_make(&s->man->state, v, out.f, out.numbers, c->move ? 0 : out.n,
                                v->mem, v->frozen);
    outputs_free(&out);
    if (w == NULL) /* the edit is durable: this version could not follow it */
        return call_fail(call, XETS_IO, "compact", s->path, 0, ENOMEM);
    version_swap(s, w);
    atomic_fetch_add(&s->compactions, 1);
    atomic_store(&s->man_bytes, s->man->size);
    return manifest_file_sweep(s->man, call);
}

static compaction_options_t compaction_options(const lsm_t *s)
{
    return (compaction_options_t){.level1_bytes = LSM_L0_TABLES * s->mem_limit,
                                  .l0_tables = LSM_L0_TABLES};
}

/* Whether a compaction is due in s's manifest (flush_mu held, or no
 * flusher yet). */
static bool compaction_due(lsm_t *s)
{
    compaction_options_t o = compaction_options(s);
    return compaction_is_due(&s->man->state, &o);
}

static bool flusher_others_waiting(void);
static void flusher_ask(lsm_t *s);

/* The flusher's work for s (flush_mu held): the memtable written if a
 * writer asked, then the compactions due until none is, with the
 * memtable written again between two whenever writers ask meanwhile, so
 * that a long run of compactions does not let it grow without end. When
 * other tables wait for the flusher, s goes back to the end of its queue
 * after one compaction: one busy table must not keep the others' flushes
 * waiting (a test's bag table once ran 95 compactions while three others
 * ran none). */
static int flush_and_compact(lsm_t *s, xets_call_t *call)
{
    compaction_options_t o = compaction_options(s);
    compaction_t c;
    int st = XETS_OK;
    for (;;) {
        if (atomic_load(&s->flush_asked) && (st = flush_once(s, call)) != XETS_OK)
            return st;
        if (atomic_load(&s->failed) || !compaction_pick(&s->man->state, &o, s->compact_after, &c))
            return st;
        st = compaction_run(s, &c, call);
        compaction_free(&c);
        if (st != XETS_OK)
            return st;
        if (flusher_others_waiting()) {
            flusher_ask(s);
            return XETS_OK;
        }
    }
}

/* The flusher: one thread for every store, which writes the memtables
 * that writers ask it to (a queue of stores, each in it once), so that a
 * node with many tables does not have as many threads. Its lock is taken
 * alone: a writer asks for a flush while it holds a stripe. It starts
 * with the NIF (lsm_start), so that its epoch record exists before any
 * table does, or with the first store of a plain C test. */
static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the queue is not empty, a flush ended, or progress */
    lsm_t *head, *tail;
    bool started, stop;
    bool held;    /* lsm_flusher_hold: start no flush */
    bool running; /* a flush is under way */
    uint64_t progress; /* versions published by flushes and compactions */
    pthread_t thread;
} flushers = {.once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER,
              .cv = PTHREAD_COND_INITIALIZER};

static void flush_store(lsm_t *s, xets_call_t *call)
{
    if (atomic_load(&s->failed))
        return;
    pthread_mutex_lock(&s->flush_mu);
    int st = flush_and_compact(s, call);
    pthread_mutex_unlock(&s->flush_mu);
    if (st != XETS_OK && st != XETS_NOMEM)
        fail_now(s, &call->error);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    xets_call_t call = *OWN_CALL;
    /* The thread's epoch record now, not at its first flush. */
    epoch_poll();
    pthread_mutex_lock(&flushers.mu);
    for (;;) {
        while ((flushers.head == NULL || flushers.held) && !flushers.stop)
            pthread_cond_wait(&flushers.cv, &flushers.mu);
        if (flushers.head == NULL)
            break;
        lsm_t *s = flushers.head;
        flushers.head = s->queue_next;
        if (flushers.head == NULL)
            flushers.tail = NULL;
        s->queued = false;
        s->flushing = flushers.running = true;
        pthread_mutex_unlock(&flushers.mu);
        flush_store(s, &call);
        /* What it retired (the versions it replaced) is freed by this
         * thread only (epoch.h). */
        epoch_synchronize();
        pthread_mutex_lock(&flushers.mu);
        s->flushing = flushers.running = false;
        pthread_cond_broadcast(&flushers.cv);
    }
    pthread_mutex_unlock(&flushers.mu);
    epoch_thread_exit();
    return NULL;
}

static void flusher_start_once(void)
{
    flushers.started = pthread_create(&flushers.thread, NULL, flusher_main, NULL) == 0;
}

int lsm_start(void)
{
    pthread_once(&flushers.once, flusher_start_once);
    return flushers.started ? 0 : -1;
}

void lsm_stop(void)
{
    if (!flushers.started)
        return;
    pthread_mutex_lock(&flushers.mu);
    flushers.stop = true;
    pthread_cond_broadcast(&flushers.cv);
    pthread_mutex_unlock(&flushers.mu);
    pthread_join(flushers.thread, NULL);
}

void lsm_flusher_hold(bool hold)
{
    pthread_mutex_lock(&flushers.mu);
    flushers.held = hold;
    pthread_cond_broadcast(&flushers.cv);
    pthread_mutex_unlock(&flushers.mu);
}

void lsm_flusher_step(void)
{
    pthread_mutex_lock(&flushers.mu);
    bool held = flushers.held;
    flushers.held = false;
    pthread_cond_broadcast(&flushers.cv);
    while (flushers.started && (flushers.head != NULL || flushers.running))
        pthread_cond_wait(&flushers.cv, &flushers.mu);
    flushers.held = held;
    pthread_mutex_unlock(&flushers.mu);
}

/* Tells writers waiting for the flusher (stall) that it published a
 * version. */
static void flusher_progress(void)
{
    pthread_mutex_lock(&flushers.mu);
    flushers.progress++;
    pthread_cond_broadcast(&flushers.cv);
    pthread_mutex_unlock(&flushers.mu);
}

/* Waits until the flusher publishes a version, at most ms. */
static void flusher_wait_progress(unsigned ms)
{
    struct timespec until = deadline_in((int64_t)ms * 1000);
    pthread_mutex_lock(&flushers.mu);
    uint64_t at = flushers.progress;
    while (flushers.progress == at &&
           pthread_cond_timedwait(&flushers.cv, &flushers.mu, &until) == 0)
        ;
    pthread_mutex_unlock(&flushers.mu);
}

static bool flusher_others_waiting(void)
{
    pthread_mutex_lock(&flushers.mu);
    bool waiting = flushers.head != NULL;
    pthread_mutex_unlock(&flushers.mu);
    return waiting;
}

/* Asks the flusher to write s's memtable, or to run its compactions. */
static void flusher_ask(lsm_t *s)
{
    pthread_mutex_lock(&flushers.mu);
    if (!s->queued) {
        s->queued = true;
        s->queue_next = NULL;
        if (flushers.tail != NULL)
            flushers.tail->queue_next = s;
        else
            flushers.head = s;
        flushers.tail = s;
        pthread_cond_broadcast(&flushers.cv);
    }
    pthread_mutex_unlock(&flushers.mu);
}

/* Takes s out of the flusher's queue and waits for a flush of it under
 * way to end: then no flush of s comes again (its writers have stopped).
 * A flush under way may put s back in the queue as it ends (it yields to
 * other tables between compactions: flush_and_compact), so the queue is
 * checked again each time the flusher wakes this. */
static void flusher_forget(lsm_t *s)
{
    pthread_mutex_lock(&flushers.mu);
    for (;;) {
        if (s->queued) {
            lsm_t **link = &flushers.head, *prev = NULL;
            while (*link != s) {
                prev = *link;
                link = &(*link)->queue_next;
            }
            *link = s->queue_next;
            if (flushers.tail == s)
                flushers.tail = prev;
            s->queued = false;
        }
        if (!s->flushing)
            break;
        pthread_cond_wait(&flushers.cv, &flushers.mu);
    }
    pthread_mutex_unlock(&flushers.mu);
}

/* ---- open, recovery, close ------------------------------------------------ */

static const char *order_of(const store_ops_t *ops)
{
    return ops == &lsm_hash_ops ? hash_table_ops.order : skiplist_ops.order;
}

/* strdup, through the malloc xets counts (alloc_count.h: strdup's own
 * malloc inside libc is not, and its free would be). */
static char *copy_string(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, text, n);
    return copy;
}

static lsm_t *lsm_alloc(const store_ops_t *ops, enum store_kind kind)
{
    lsm_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->ops = ops;
    s->mem_ops = ops == &lsm_hash_ops ? &hash_table_ops : &skiplist_ops;
    s->kind = kind;
    s->multi = kind != STORE_SET;
    s->prefix = ops == &lsm_hash_ops ? 12 : 0;
    s->serial = atomic_fetch_add(&serials, 1);
    s->pending_tail = &s->pending;
    for (int i = 0; i < LSM_STRIPES; i++)
        pthread_mutex_init(&s->stripe[i], NULL);
    pthread_rwlock_init(&s->group_lock, NULL);
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_cond_init(&s->log_cv, NULL);
    pthread_cond_init(&s->durable_cv, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    return s;
}

/* The shell of a closed store: what lsm_await may still read. */
static void shell_free(void *p)
{
    lsm_t *s = p;
    for (int i = 0; i < LSM_STRIPES; i++)
        pthread_mutex_destroy(&s->stripe[i]);
    pthread_rwlock_destroy(&s->group_lock);
    pthread_mutex_destroy(&s->log_mu);
    pthread_cond_destroy(&s->log_cv);
    pthread_cond_destroy(&s->durable_cv);
    pthread_mutex_destroy(&s->flush_mu);
    free(s);
}

/* Releases what s holds: versions, memtables, tables, files; its shell
 * (locks, the closed flag) once no epoch section can still be in
 * lsm_await on it, which a writer's glue may call after the table has
 * died. */
static void lsm_free(lsm_t *s, xets_call_t *call)
{
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        bytes_free(&s->compact_after[l]);
    version_t *v = atomic_load(&s->ver);
    if (v != NULL) {
        if (v->mem != NULL)
            s->mem_ops->drop(v->mem, call);
        if (v->frozen != NULL)
            s->mem_ops->drop(v->frozen, call);
        version_free(v);
    }
    block_cache_release(s->cache);
    if (s->wal != NULL)
        wal_file_close(s->wal);
    if (s->next_wal != NULL)
        wal_file_close(s->next_wal);
    batches_free(s->pending);
    free(s->waiters);
    if (s->man != NULL)
        manifest_file_close(s->man);
    if (s->dir != NULL)
        fs_dir_close(s->dir);
    free(s->path);
    pthread_mutex_lock(&s->log_mu);
    s->closed = true;
    pthread_mutex_unlock(&s->log_mu);
    epoch_retire(s, shell_free);
}

static int mismatch(const lsm_options_t *o, const char *what, const char *disk, const char *asked)
{
    if (o->mismatch != NULL) {
        lsm_mismatch_t *m = o->mismatch;
        snprintf(m->what, sizeof m->what, "%s", what);
        snprintf(m->on_disk, sizeof m->on_disk, "%s", disk);
        snprintf(m->asked, sizeof m->asked, "%s", asked);
    }
    return XETS_MISMATCH;
}

/* Whether the manifest found is the table asked for. */
static int check_identity(const manifest_header_t *disk, const manifest_header_t *want,
                          const lsm_options_t *o)
{
    if (strcmp(disk->type, want->type) != 0)
        return mismatch(o, "type", disk->type, want->type);
    if (disk->keypos != want->keypos) {
        char a[16], b[16];
        snprintf(a, sizeof a, "%u", (unsigned)disk->keypos);
        snprintf(b, sizeof b, "%u", (unsigned)want->keypos);
        return mismatch(o, "keypos", a, b);
    }
    if (strcmp(disk->id.encoding, want->id.encoding) != 0)
        return mismatch(o, "encoding", disk->id.encoding, want->id.encoding);
    if (strcmp(disk->id.order, want->id.order) != 0)
        return mismatch(o, "order", disk->id.order, want->id.order);
    return XETS_OK;
}

/* Applies one batch of a WAL being replayed to the memtable. */
typedef struct replay {
    lsm_t *s;
    uint64_t after; /* batches up to it are in SSTables */
    uint64_t last;
    int64_t delta;
    const char *file;
    xets_call_t *call;
} replay_t;

static int replay_batch(void *arg, uint64_t seq, const uint8_t *batch, size_t len)
{
    replay_t *r = arg;
    lsm_t *s = r->s;
    if (seq > r->last)
        r->last = seq;
    if (seq <= r->after)
        return XETS_OK;
    const uint8_t *p = batch, *end = batch + len;
    entry_t e;
    bool bad;
    int st = XETS_OK;
    epoch_enter();
    version_t *v = version_now(s);
    while (st == XETS_OK && entry_get(&p, end, &e, &bad)) {
        st = s->mem_ops->put(v->mem, r->call, &(rec_in_t){e.key, e.klen, e.blob, e.blen, 0},
                             PUT_REPLACE, NULL, NULL);
        /* Deltas come from the file: a sum past int64 is corruption. */
        if (__builtin_add_overflow(r->delta, e.delta, &r->delta)) {
            bad = true;
            break;
        }
    }
    epoch_exit();
    if (st == XETS_OK && bad)
        st = call_fail(r->call, XETS_CORRUPT, "read", r->file, 0, 0);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The live WALs of the directory (numbered at least log_number), in
 * order, into *nums (freed by the caller). */
static int live_wals(lsm_t *s, uint64_t log_number, uint64_t **nums, size_t *n,
                     xets_call_t *call)
{
    char **names = NULL;
    size_t count = 0;
    int st = fs_dir_list(s->dir, &names, &count, call);
    if (st != XETS_OK)
        return st;
    *nums = malloc((count + 1) * sizeof **nums);
    *n = 0;
    if (*nums == NULL) {
        free(names);
        return XETS_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        uint64_t num;
        if (names_parse(names[i], &num) == NAMES_WAL && num >= log_number)
            (*nums)[(*n)++] = num;
    }
    free(names);
    qsort(*nums, *n, sizeof **nums, cmp_u64);
    return XETS_OK;
}

/* Opens the tables the manifest names into a version with memtable mem. */
static int open_tables(lsm_t *s, store_t *mem, xets_call_t *call)
{
    const manifest_state_t *ms = &s->man->state;
    size_t n = 0;
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        n += ms->level[l].n;
    sst_file_t **f = calloc(n + 1, sizeof *f);
    uint64_t *numbers = calloc(n + 1, sizeof *numbers);
    int st = f && numbers ? XETS_OK : XETS_NOMEM;
    size_t opened = 0;
    for (int l = 0; l < MANIFEST_LEVELS && st == XETS_OK; l++)
        for (size_t i = 0; i < ms->level[l].n && st == XETS_OK; i++, opened++) {
            numbers[opened] = ms->level[l].files[i].number;
            st = sst_file_open(s->dir, numbers[opened], s->cache, &f[opened], call);
        }
    version_t *v = st == XETS_OK ? version_make(ms, NULL, f, numbers, n, mem, NULL) : NULL;
    if (st == XETS_OK && v == NULL)
        st = XETS_NOMEM;
    if (st == XETS_OK)
        version_publish(s, v);
    else
        s->mem_ops->drop(mem, call);
    for (size_t i = 0; f != NULL && i < opened; i++)
        sst_file_close(f[i]);
    free(f);
    free(numbers);
    return st;
}

/* Replays the live WALs, oldest first; the last stays open for appends. */
static int recover_wals(lsm_t *s, xets_call_t *call)
{
    const manifest_state_t *ms = &s->man->state;
    uint64_t *nums = NULL;
    size_t n = 0;
    int st = live_wals(s, ms->log_number, &nums, &n, call);
    replay_t r = {.s = s, .after = ms->last_seq, .last = ms->last_seq, .call = call};
    for (size_t i = 0; i < n && st == XETS_OK; i++) {
        char name[NAMES_LEN];
        names_format(name, NAMES_WAL, nums[i], false);
        r.file = name;
        wal_header_t h = wal_header(s, r.last + 1);
        wal_file_t *w = NULL;
        st = wal_file_recover(s->dir, nums[i], &h, replay_batch, &r, &w, call);
        if (st == XETS_OK && (strcmp(h.id.encoding, s->header.id.encoding) != 0 ||
                              strcmp(h.id.order, s->header.id.order) != 0))
            st = call_fail(call, XETS_CORRUPT, "read", name, 0, 0);
        if (st != XETS_OK) {
            if (w != NULL)
                wal_file_close(w);
            break;
        }
        /* A WAL made ahead (a flush's) starts after the seqs given out
         * then, some of which a crash may have lost: the seqs handed out
         * from now on must not fall below its first, which its appends
         * refuse (XETS_BADARG). */
        if (h.first_seq > r.last + 1)
            r.last = h.first_seq - 1;
        if (s->wal != NULL)
            wal_file_close(s->wal);
        s->wal = w;
        if (nums[i] >= s->next_file)
            s->next_file = nums[i] + 1;
    }
    free(nums);
    if (st != XETS_OK)
        return st;
    s->last_seq = s->written_seq = s->durable_seq = r.last;
    /* Deltas that take the count below zero (or past what a count can
     * be) come from no history of writes: damaged bytes with good
     * checksums. */
    if ((r.delta < 0 && (uint64_t)-(r.delta + 1) >= ms->objects) ||
        (r.delta > 0 && ms->objects > UINT64_MAX - (uint64_t)r.delta))
        return call_fail(call, XETS_CORRUPT, "read", "WAL", 0, 0);
    atomic_store(&s->objects, ms->objects + (uint64_t)r.delta);
    if (s->wal == NULL) {
        uint64_t number;
        st = wal_next(s, &s->wal, &number, call);
    }
    return st;
}

static int lsm_open_with(const store_ops_t *ops, const store_options_t *o, store_t **out,
                         xets_call_t *call)
{
    const lsm_options_t *lo = o->disk;
    if (o->dir == NULL || lo == NULL)
        return XETS_BADARG;
    lsm_t *s = lsm_alloc(ops, o->kind);
    if (s == NULL)
        return XETS_NOMEM;
    s->sync = lo->sync;
    s->interval_ms = lo->interval_ms ? lo->interval_ms : 1000;
    s->notify = lo->notify;
    s->mem_limit = lo->memtable_bytes ? lo->memtable_bytes : LSM_MEMTABLE_BYTES;
    /* The memtables take at most a quarter of the limit, the cache the
     * rest (cache_bound). */
    s->memory_limit = lo->memory_limit;
    size_t share = s->memory_limit / (4 * LSM_MEMTABLES);
    if (share < LSM_MEMTABLE_MIN)
        share = LSM_MEMTABLE_MIN;
    if (s->memory_limit != 0 && s->mem_limit > share)
        s->mem_limit = share; /* never above the size asked for */
    s->cache = block_cache_new(0);
    s->path = copy_string(o->dir);
    manifest_header_t want = {.keypos = lo->keypos};
    want.id.version = MANIFEST_VERSION;
    snprintf(want.id.encoding, sizeof want.id.encoding, "%s", lo->encoding);
    snprintf(want.id.order, sizeof want.id.order, "%s", order_of(ops));
    snprintf(want.type, sizeof want.type, "%s", lo->type);
    s->header = want;

    int st = s->path && s->cache ? fs_dir_open(o->dir, true, &s->dir, call) : XETS_NOMEM;
    if (st == XETS_OK && lo->discardable)
        fs_dir_set_volatile(s->dir);
    s->discardable = lo->discardable;
    if (st == XETS_OK)
        st = manifest_file_recover(s->dir, &s->man, call);
    if (st == XETS_NOTFOUND) {
        manifest_state_t first = {.next_file = 1};
        st = manifest_file_create(s->dir, &want, &first, &s->man, call);
    } else if (st == XETS_OK) {
        st = check_identity(&s->man->header, &want, lo);
    }
    if (st == XETS_OK)
        st = manifest_file_sweep(s->man, call);
    store_t *mem = NULL;
    if (st == XETS_OK) {
        s->next_file = s->man->state.next_file;
        st = s->mem_ops->open(&(store_options_t){.kind = STORE_SET}, &mem, call);
    }
    if (st == XETS_OK)
        st = open_tables(s, mem, call);
    else if (mem != NULL)
        s->mem_ops->drop(mem, call);
    if (st == XETS_OK)
        st = recover_wals(s, call);
    if (st == XETS_OK && (lsm_start() != 0 ||
                          pthread_create(&s->committer, NULL, committer_main, s) != 0))
        st = XETS_NOMEM;
    /* Tables a close wrote (it does not compact) may have made one due:
     * without this, a table closed and opened often would pile them up
     * in level 0 until its next flush. */
    if (st == XETS_OK && compaction_due(s))
        flusher_ask(s);
    if (st != XETS_OK) {
        xets_call_t quiet = *OWN_CALL;
        lsm_free(s, &quiet);
        return st;
    }
    *out = (store_t *)s;
    return XETS_OK;
}

static int lsm_open_hash(const store_options_t *o, store_t **out, xets_call_t *call)
{
    return lsm_open_with(&lsm_hash_ops, o, out, call);
}

static int lsm_open_ordered(const store_options_t *o, store_t **out, xets_call_t *call)
{
    return lsm_open_with(&lsm_ordered_ops, o, out, call);
}

/* Close: the threads stopped (the committer drains and syncs), then
 * whatever memtables hold written as tables, and one edit that makes
 * every WAL dead. */
static int lsm_close(store_t *ss, xets_call_t *call)
{
    lsm_t *s = L(ss);
    if (s->husk) {
        lsm_free(s, call);
        return XETS_OK;
    }
    flusher_forget(s);
    pthread_mutex_lock(&s->log_mu);
    s->stop = true;
    pthread_cond_signal(&s->log_cv);
    pthread_mutex_unlock(&s->log_mu);
    pthread_join(s->committer, NULL);

    /* A discardable store being dropped has nothing to keep. */
    int st = s->failed ? refuse(s, call) : XETS_OK;
    if (s->dropping) {
        lsm_free(s, call);
        return st;
    }
    version_t *v = atomic_load(&s->ver);
    store_t *mems[2] = {v->frozen, v->mem}; /* oldest first: numbers rise */
    manifest_file_t add[2];
    bytes_t keys[2] = {BYTES_INIT, BYTES_INIT};
    size_t nadd = 0;
    for (int i = 0; i < 2 && st == XETS_OK; i++) {
        if (mems[i] == NULL)
            continue;
        uint64_t n = s->next_file++;
        st = write_table(s, mems[i], n, s->last_seq, &add[nadd], &keys[nadd], call);
        if (st == XETS_OK)
            nadd++;
        else if (st == XETS_END)
            st = XETS_OK;
    }
    if (st == XETS_OK && (nadd > 0 || s->last_seq > s->man->state.last_seq)) {
        uint64_t dead = s->next_file++;
        manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE | MANIFEST_SET_LAST_SEQ |
                                    MANIFEST_SET_LOG_NUMBER | MANIFEST_SET_OBJECTS,
                             .next_file = s->next_file, .last_seq = s->last_seq,
                             .log_number = dead, .objects = atomic_load(&s->objects),
                             .add = add, .nadd = nadd};
        st = manifest_file_edit(s->man, &e, call);
        if (st == XETS_OK) {
            wal_file_close(s->wal);
            s->wal = NULL;
            st = manifest_file_sweep(s->man, call);
        }
    }
    for (int i = 0; i < 2; i++)
        bytes_free(&keys[i]);
    lsm_free(s, call);
    return st;
}

static int lsm_drop(store_t *ss, xets_call_t *call)
{
    lsm_t *s = L(ss);
    if (s->husk)
        return lsm_close(ss, call);
    char *path = copy_string(s->path);
    s->dropping = s->discardable;
    int st = lsm_close(ss, call);
    if (path == NULL)
        return XETS_NOMEM;
    if (st == XETS_OK)
        st = fs_destroy(path, call);
    free(path);
    return st;
}

/* Empties the table by one manifest edit that removes every table and
 * makes a fresh WAL the only live one; what the store held goes to a husk
 * that the reaper releases. Its I/O needs a thread that may block, outside
 * any epoch section: elsewhere XETS_NEED_IO, to be redone there. */
static int lsm_clear(store_t *ss, store_t **old, size_t *size, xets_call_t *call)
{
    lsm_t *s = L(ss);
    if (!call_may_block(call) || epoch_in_section())
        return XETS_NEED_IO;
    pthread_mutex_lock(&s->flush_mu);
    pthread_mutex_lock(&s->log_mu);
    int st = s->failed ? refuse(s, call) : XETS_OK;
    pthread_mutex_unlock(&s->log_mu);
    lsm_t *husk = st == XETS_OK ? lsm_alloc(s->ops, s->kind) : NULL;
    store_t *fresh = NULL;
    if (st == XETS_OK && husk == NULL)
        st = XETS_NOMEM;
    if (st == XETS_OK)
        st = s->mem_ops->open(&(store_options_t){.kind = STORE_SET}, &fresh, call);
    wal_file_t *w = NULL;
    uint64_t wal_number = 0;
    if (st == XETS_OK)
        st = wal_next(s, &w, &wal_number, call);
    version_t *v = version_now(s);
    version_t *empty = st == XETS_OK ? version_make(NULL, NULL, NULL, NULL, 0, fresh, NULL) : NULL;
    if (st == XETS_OK && empty == NULL)
        st = XETS_NOMEM;
    uint64_t *gone = st == XETS_OK ? malloc((v->nsst + 1) * sizeof *gone) : NULL;
    if (st == XETS_OK && gone == NULL)
        st = XETS_NOMEM;
    if (st == XETS_OK) {
        for (size_t i = 0; i < v->nsst; i++)
            gone[i] = v->sst[i].number;
        pthread_mutex_lock(&s->log_mu);
        uint64_t at = s->last_seq;
        pthread_mutex_unlock(&s->log_mu);
        manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE | MANIFEST_SET_LAST_SEQ |
                                    MANIFEST_SET_LOG_NUMBER | MANIFEST_SET_OBJECTS,
                             .next_file = s->next_file, .last_seq = at,
                             .log_number = wal_number, .objects = 0,
                             .remove = gone, .nremove = v->nsst};
        st = manifest_file_edit(s->man, &e, call);
    }
    free(gone);
    if (st != XETS_OK) {
        if (empty != NULL)
            version_free(empty);
        if (fresh != NULL)
            s->mem_ops->drop(fresh, call);
        if (w != NULL)
            wal_file_close(w);
        if (husk != NULL)
            lsm_free(husk, call);
        pthread_mutex_unlock(&s->flush_mu);
        return st;
    }
    uint64_t objects;
    stripes_lock(s);
    switch_log(s, w, &objects);
    atomic_store(&s->objects, 0);
    atomic_store(&s->mem_bytes, 0);
    /* The husk takes the old version whole: its memtables and tables. */
    version_t *was = atomic_exchange(&s->ver, empty);
    stripes_unlock(s);
    atomic_store(&husk->ver, was);
    husk->husk = true;
    *old = (store_t *)husk;
    *size = (size_t)objects;
    st = manifest_file_sweep(s->man, call);
    pthread_mutex_unlock(&s->flush_mu);
    /* The table is empty whatever the sweep did: a file it left is an
     * orphan the next open removes. */
    (void)st;
    return XETS_OK;
}

/* ---- reads ---------------------------------------------------------------- */

static int capture_mem(void *ctx, const rec_t *r)
{
    state_t *st = ctx;
    st->found = true;
    st->p = r->val;
    st->len = r->vlen;
    return 1;
}

/* A table's value lies in a block its cache lends (sstable_file.h), held
 * until the table is closed, which its version's retirement through the
 * epoch puts after every section that could see it: valid for the
 * caller's section, uncopied. */
static int capture_sst(void *ctx, const sst_entry_t *e)
{
    state_t *st = ctx;
    st->found = true;
    bool none = e->kind == KIND_TOMBSTONE || e->vlen == 0;
    st->p = none ? NULL : e->val;
    st->len = none ? 0 : e->vlen;
    return 1;
}

/* The sort key of key, in buf (grown as needed) unless it is the key. */
static int sort_key_of(lsm_t *s, const unsigned char *key, size_t klen, bytes_t *buf,
                       const unsigned char **sk, size_t *sklen)
{
    if (s->prefix == 0) {
        *sk = key;
        *sklen = klen;
        return XETS_OK;
    }
    size_t n = store_sort_key(s->mem_ops, key, klen, NULL, 0);
    if (!bytes_reserve_to(buf, n))
        return XETS_NOMEM;
    store_sort_key(s->mem_ops, key, klen, buf->p, n);
    *sk = buf->p;
    *sklen = n;
    return XETS_OK;
}

/* The key's newest state in v, into *st. */
static int find_state(lsm_t *s, version_t *v, xets_call_t *call, const unsigned char *key,
                      size_t klen, state_t *st)
{
    st->found = false;
    store_t *mems[2] = {v->mem, v->frozen};
    for (int i = 0; i < 2; i++) {
        if (mems[i] == NULL)
            continue;
        int rc = s->mem_ops->get(mems[i], call, key, klen, capture_mem, st);
        if (rc == XETS_OK)
            return XETS_OK;
        if (rc != XETS_NOTFOUND)
            return rc;
    }
    if (v->nsst == 0)
        return XETS_OK;
    bytes_t skbuf = BYTES_INIT;
    const unsigned char *sk;
    size_t sklen;
    int rc = sort_key_of(s, key, klen, &skbuf, &sk, &sklen);
    /* One hash for every table's filter; a table it turns away costs no
     * block (a new key, which every insert looks up, usually visits none). */
    uint64_t hash = rc == XETS_OK ? sst_key_hash(sk, sklen) : 0;
    for (size_t i = 0; rc == XETS_OK && i < v->nsst; i++) {
        const table_ref_t *t = &v->sst[i];
        if (bytes_cmp(sk, sklen, t->lo, t->lolen) < 0 || bytes_cmp(sk, sklen, t->hi, t->hilen) > 0)
            continue;
        const sst_reader_t *r = sst_file_reader(t->f);
        if (!sst_reader_may_contain(r, hash))
            continue;
        rc = sst_get(r, sk, sklen, capture_sst, st, call);
        if (rc == XETS_OK)
            break;
        if (rc == XETS_NOTFOUND)
            rc = XETS_OK;
    }
    bytes_free(&skbuf);
    return rc;
}

static int corrupt_state(lsm_t *s, xets_call_t *call)
{
    (void)s;
    return call_fail(call, XETS_CORRUPT, "state", "memtable", 0, 0);
}

static int lsm_get(store_t *ss, xets_call_t *call, const unsigned char *key, size_t klen,
                   visit_fn visit, void *ctx)
{
    lsm_t *s = L(ss);
    state_t st = {0};
    int rc = find_state(s, version_now(s), call, key, klen, &st);
    if (rc == XETS_OK && (!st.found || st.len == 0))
        rc = XETS_NOTFOUND;
    bool stopped;
    if (rc == XETS_OK && state_each(s->multi, key, klen, st.p, st.len, visit, ctx, &stopped))
        rc = corrupt_state(s, call);
    return rc;
}

/* ---- writes --------------------------------------------------------------- */

typedef struct group {
    bytes_t b;
} group_t;

/* Writes the key's next state (the caller holds its stripe): memtable
 * first, then the log entry, queued or gathered into the call's group. */
static int commit(lsm_t *s, version_t *v, xets_call_t *call, const unsigned char *key,
                  size_t klen, const unsigned char *blob, size_t blen, int64_t delta)
{
    size_t room = entry_size(klen, blen);
    wal_batch_t *b = NULL;
    group_t *g = call->group;
    if (g != NULL) {
        if (!bytes_reserve(&g->b, room))
            return XETS_NOMEM;
    } else if ((b = malloc(sizeof *b + room)) == NULL) {
        return XETS_NOMEM;
    }
    int rc = s->mem_ops->put(v->mem, call, &(rec_in_t){key, klen, blob, blen, 0}, PUT_REPLACE,
                             NULL, NULL);
    if (rc != XETS_OK) {
        free(b);
        return rc;
    }
    atomic_fetch_add(&s->objects, (uint64_t)delta);
    if (g != NULL) {
        g->b.len += entry_put(g->b.p + g->b.len, key, klen, blob, blen, delta);
    } else {
        b->len = entry_put(b->bytes, key, klen, blob, blen, delta);
        enqueue(s, b, call);
    }
    /* The bytes written count every rewrite of a key; past the limit,
     * the memtable's own figure decides. */
    if (atomic_fetch_add(&s->mem_bytes, klen + blen + 64) + klen + blen + 64 > s->mem_limit) {
        size_t held = s->mem_ops->memory(v->mem);
        if (held <= s->mem_limit)
            atomic_store(&s->mem_bytes, held);
        else if (!atomic_exchange(&s->flush_asked, true))
            flusher_ask(s);
    }
    return XETS_OK;
}

/* Whether writers must wait for the flusher: the memtable has grown to
 * twice its size while the one before it is still being written, or to
 * three times while the flusher has not frozen it yet (busy with other
 * tables), so that the memtables never hold more than LSM_MEMTABLES
 * times their size; or level 0 holds LSM_L0_STALL tables, compaction far
 * behind, which bounds the tables a lookup reads. Not once the store has
 * failed: its flusher has stopped, and its writes are refused anyway. */
static bool stall_due(lsm_t *s)
{
    version_t *v = version_now(s);
    size_t held = atomic_load(&s->mem_bytes);
    return !atomic_load_explicit(&s->failed, memory_order_relaxed) &&
           (held >= (v->frozen != NULL ? LSM_MEMTABLES - 1 : LSM_MEMTABLES) * s->mem_limit ||
            v->l0 >= LSM_L0_STALL);
}

/* A stall's wait: until the flusher publishes a version, at most
 * LSM_STALL_MS; the redone write checks again. */
static int stall_run(void *arg, xets_call_t *call)
{
    (void)arg;
    (void)call;
    flusher_wait_progress(LSM_STALL_MS);
    return XETS_OK;
}

/* A write that must wait (stall_due) answers XETS_NEED_IO with the wait
 * as its request, on a thread that may block; counted. */
static int stall(lsm_t *s, xets_call_t *call)
{
    atomic_fetch_add(&s->stalls, 1);
    call->io = (call_io_t){.run = stall_run};
    return XETS_NEED_IO;
}

/* What every write starts with: writes refused after a failure; a wait
 * for the flusher when it is far behind (not within a hold or group,
 * whose writes cannot be redone: a group waits as it begins); the key's
 * stripe taken; its
 * state found. On XETS_OK the caller holds the stripe and must end with
 * write_end. */
static int write_begin(lsm_t *s, xets_call_t *call, const unsigned char *key, size_t klen,
                       version_t **v, state_t *st)
{
    if (call->pins == NULL && stall_due(s))
        return stall(s, call);
    if (atomic_load_explicit(&s->failed, memory_order_relaxed)) {
        pthread_mutex_lock(&s->log_mu);
        int rc = refuse(s, call);
        pthread_mutex_unlock(&s->log_mu);
        return rc;
    }
    pthread_mutex_lock(stripe_of(s, key, klen));
    *v = version_now(s);
    int rc = find_state(s, *v, call, key, klen, st);
    if (rc != XETS_OK)
        pthread_mutex_unlock(stripe_of(s, key, klen));
    return rc;
}

static void write_end(lsm_t *s, const unsigned char *key, size_t klen)
{
    pthread_mutex_unlock(stripe_of(s, key, klen));
}

/* A list being rebuilt from a state: the objects kept, replaced or
 * added, in order. */
typedef struct rebuild {
    bytes_t out;
    size_t n; /* objects in out */
} rebuild_t;

typedef struct bag_put {
    const rec_in_t *in;
    bool distinct; /* a bag: an object equal to in (same fp and same()) is not added */
    pred_fn same;
    void *ctx;
    bool dup;
    rebuild_t rb;
} bag_put_t;

static int bag_put_visit(void *ctx, const rec_t *r)
{
    bag_put_t *b = ctx;
    if (b->distinct && r->fp == b->in->fp && (b->same == NULL || b->same(b->ctx, r))) {
        b->dup = true;
        return 1;
    }
    list_put(&b->rb.out, r->val, r->vlen, r->fp);
    b->rb.n++;
    return 0;
}

static int lsm_put(store_t *ss, xets_call_t *call, const rec_in_t *in, enum put_mode mode,
                   pred_fn same, void *ctx)
{
    lsm_t *s = L(ss);
    version_t *v;
    state_t st = {0};
    int rc = write_begin(s, call, in->key, in->klen, &v, &st);
    if (rc != XETS_OK)
        return rc;
    bool exists = st.found && st.len > 0;
    /* insert_new refuses a present key in every kind, as ets does (and
     * the stores in memory). */
    if (mode == PUT_NEW && exists) {
        rc = XETS_EXISTS;
    } else if (!s->multi) {
        rc = commit(s, v, call, in->key, in->klen, in->val, in->vlen, exists ? 0 : 1);
    } else {
        bag_put_t b = {.in = in, .distinct = s->kind == STORE_BAG, .same = same, .ctx = ctx};
        bool stopped;
        rc = state_each(true, in->key, in->klen, st.p, st.len, bag_put_visit, &b, &stopped);
        if (rc != XETS_OK)
            rc = corrupt_state(s, call);
        else if (!b.dup) {
            list_put(&b.rb.out, in->val, in->vlen, in->fp);
            rc = b.rb.out.nomem ? XETS_NOMEM
                                : commit(s, v, call, in->key, in->klen, b.rb.out.p, b.rb.out.len, 1);
        }
        bytes_free(&b.rb.out);
    }
    write_end(s, in->key, in->klen);
    return rc;
}

typedef struct remove_ctx {
    pred_fn match;
    void *mctx;
    visit_fn removed;
    void *rctx;
    rebuild_t rb;
    int count;
} remove_ctx_t;

static int remove_visit(void *ctx, const rec_t *r)
{
    remove_ctx_t *m = ctx;
    if (m->match == NULL || m->match(m->mctx, r)) {
        if (m->removed != NULL)
            m->removed(m->rctx, r);
        m->count++;
    } else {
        list_put(&m->rb.out, r->val, r->vlen, r->fp);
        m->rb.n++;
    }
    return 0;
}

static int lsm_remove(store_t *ss, xets_call_t *call, const unsigned char *key, size_t klen,
                      pred_fn match, void *mctx, visit_fn removed, void *rctx)
{
    lsm_t *s = L(ss);
    version_t *v;
    state_t st = {0};
    int rc = write_begin(s, call, key, klen, &v, &st);
    if (rc != XETS_OK)
        return rc;
    remove_ctx_t m = {.match = match, .mctx = mctx, .removed = removed, .rctx = rctx};
    bool stopped;
    if (state_each(s->multi, key, klen, st.p, st.len, remove_visit, &m, &stopped) != XETS_OK)
        rc = corrupt_state(s, call);
    else if (m.rb.out.nomem)
        rc = XETS_NOMEM;
    else if (m.count > 0)
        rc = commit(s, v, call, key, klen, s->multi ? m.rb.out.p : NULL,
                    s->multi ? m.rb.out.len : 0, -(int64_t)m.count);
    write_end(s, key, klen);
    bytes_free(&m.rb.out);
    return rc == XETS_OK ? m.count : rc;
}

/* update and rewrite: each object offered to a decision, the list
 * rebuilt from what it decides. */
typedef struct decide {
    bool multi;
    update_fn update; /* update: the first it takes is replaced, and no more */
    rewrite_fn rewrite;
    void *ctx;
    size_t i;
    int status; /* XETS_NOTFOUND until something changes */
    int changed;
    rebuild_t rb;
    /* A set's replacement (no list to rebuild). */
    const unsigned char *one;
    size_t onelen;
} decide_t;

static int decide_visit(void *ctx, const rec_t *r)
{
    decide_t *d = ctx;
    rec_in_t out = {0};
    int act = REWRITE_KEEP;
    if (d->update != NULL && d->changed == 0) {
        int rc = d->update(d->ctx, r, &out);
        if (rc == XETS_OK)
            act = REWRITE_REPLACE;
        else if (rc != XETS_NOTFOUND) {
            d->status = rc;
            return 1;
        }
    } else if (d->rewrite != NULL) {
        act = d->rewrite(d->ctx, d->i, r, &out);
        if (act < 0) {
            d->status = act;
            return 1;
        }
    }
    d->i++;
    if (act != REWRITE_KEEP)
        d->changed++;
    if (act == REWRITE_REPLACE && !d->multi) {
        /* A set's object: the replacement is the state; copied, since
         * out's bytes are the decision's only until it returns. */
        if (!bytes_set(&d->rb.out, out.val, out.vlen))
            d->rb.out.nomem = true;
        d->one = d->rb.out.p;
        d->onelen = out.vlen;
    } else if (act == REWRITE_REPLACE) {
        list_put(&d->rb.out, out.val, out.vlen, out.fp);
        d->rb.n++;
    } else if (act == REWRITE_KEEP && d->multi) {
        list_put(&d->rb.out, r->val, r->vlen, r->fp);
        d->rb.n++;
    }
    return 0;
}

static int decide_run(lsm_t *s, xets_call_t *call, const unsigned char *key, size_t klen,
                      decide_t *d)
{
    version_t *v;
    state_t st = {0};
    int rc = write_begin(s, call, key, klen, &v, &st);
    if (rc != XETS_OK)
        return rc;
    d->multi = s->multi;
    d->status = XETS_OK;
    bool stopped;
    if (state_each(s->multi, key, klen, st.p, st.len, decide_visit, d, &stopped) != XETS_OK)
        rc = corrupt_state(s, call);
    else if (d->status != XETS_OK)
        rc = d->status;
    else if (d->rb.out.nomem)
        rc = XETS_NOMEM;
    else if (d->changed > 0 && s->multi)
        rc = commit(s, v, call, key, klen, d->rb.out.p, d->rb.out.len,
                    (int64_t)d->rb.n - (int64_t)d->i);
    else if (d->changed > 0)
        rc = commit(s, v, call, key, klen, d->one, d->onelen, 0);
    write_end(s, key, klen);
    bytes_free(&d->rb.out);
    return rc;
}

static int lsm_update(store_t *ss, xets_call_t *call, const unsigned char *key, size_t klen,
                      update_fn fn, void *ctx)
{
    decide_t d = {.update = fn, .ctx = ctx};
    int rc = decide_run(L(ss), call, key, klen, &d);
    if (rc == XETS_OK && d.changed == 0)
        return XETS_NOTFOUND;
    return rc;
}

static int lsm_rewrite(store_t *ss, xets_call_t *call, const unsigned char *key, size_t klen,
                       rewrite_fn fn, void *ctx)
{
    decide_t d = {.rewrite = fn, .ctx = ctx};
    int rc = decide_run(L(ss), call, key, klen, &d);
    return rc == XETS_OK ? d.changed : rc;
}

/* A hold: the version's tables kept (group_lock shared: no flush ends
 * and no compaction is published meanwhile, version_swap) and each block
 * the call borrows pinned (call->pins, sstable_file.h), until its end. */
static int lsm_hold(store_t *ss, xets_call_t *call, bool end)
{
    lsm_t *s = L(ss);
    if (end) {
        sst_pins_release(call->pins);
        free(call->pins);
        call->pins = NULL;
        pthread_rwlock_unlock(&s->group_lock);
        return XETS_OK;
    }
    call->pins = calloc(1, sizeof *call->pins);
    if (call->pins == NULL)
        return XETS_NOMEM;
    pthread_rwlock_rdlock(&s->group_lock);
    return XETS_OK;
}

static int lsm_group(store_t *ss, xets_call_t *call, bool end)
{
    lsm_t *s = L(ss);
    group_t *g = call->group;
    if (!end) {
        /* A group's writes are not stalled one by one (write_begin): it
         * waits here, where it may (a list insert's group begins outside
         * any section, on a thread that may block). */
        while (call_may_block(call) && !epoch_in_section() && stall_due(s)) {
            atomic_fetch_add(&s->stalls, 1);
            flusher_wait_progress(LSM_STALL_MS);
        }
        g = calloc(1, sizeof *g);
        if (g == NULL || lsm_hold(ss, call, false) != XETS_OK) {
            free(g);
            return XETS_NOMEM;
        }
        call->group = g;
        return XETS_OK;
    }
    call->group = NULL;
    int rc = XETS_OK;
    if (g->b.len > 0) {
        wal_batch_t *b = malloc(sizeof *b + g->b.len);
        if (b == NULL) {
            rc = XETS_NOMEM;
        } else {
            memcpy(b->bytes, g->b.p, g->b.len);
            b->len = g->b.len;
            enqueue(s, b, call);
        }
    }
    lsm_hold(ss, call, true);
    bytes_free(&g->b);
    free(g);
    return rc;
}

/* ---- the merging cursor --------------------------------------------------- */

/* One source of a merge: a memtable's cursor or a table's iterator, with
 * its current key (head). */
typedef struct source {
    bool is_mem, live;
    store_cursor_t mc;
    sst_iter_t it;
    const unsigned char *sk, *key, *blob;
    size_t sklen, klen, blen;
    bytes_t skbuf; /* a memtable key's sort key, in the hash order */
} source_t;

typedef struct merge {
    version_t *v;
    size_t n;
    bytes_t sk; /* the current key's sort key, copied */
    source_t src[];
} merge_t;

typedef struct lsm_place {
    merge_t *m;
} __attribute__((may_alias)) lsm_place_t;

static int source_step(lsm_t *s, source_t *x, xets_call_t *call)
{
    if (x->is_mem) {
        const rec_t *r;
        size_t n;
        int rc = store_cursor_next(&x->mc, &r, &n);
        if (rc == XETS_END) {
            x->live = false;
            return XETS_OK;
        }
        if (rc != XETS_OK)
            return rc;
        x->live = true;
        x->key = r[0].key;
        x->klen = r[0].klen;
        x->blob = r[0].val;
        x->blen = r[0].vlen;
        return sort_key_of(s, x->key, x->klen, &x->skbuf, &x->sk, &x->sklen);
    }
    sst_entry_t e;
    int rc = sst_iter_next(&x->it, &e, call);
    if (rc == XETS_END) {
        x->live = false;
        return XETS_OK;
    }
    if (rc != XETS_OK)
        return rc;
    if (e.klen < s->prefix)
        return call_fail(call, XETS_CORRUPT, "key", "sstable", 0, 0);
    x->live = true;
    x->sk = e.key;
    x->sklen = e.klen;
    x->key = e.key + s->prefix;
    x->klen = e.klen - s->prefix;
    x->blob = e.kind == KIND_TOMBSTONE ? NULL : e.val;
    x->blen = e.kind == KIND_TOMBSTONE ? 0 : e.vlen;
    return XETS_OK;
}

static sst_bound_t sst_bound(store_bound_t b)
{
    return (sst_bound_t){.key = b.pos, .len = b.len, .inclusive = b.inclusive};
}

/* Whether table t may hold a key within the cursor's bounds. */
static bool table_in_range(const table_ref_t *t, const store_cursor_t *c)
{
    if (c->lo.pos != NULL) {
        int k = bytes_cmp(t->hi, t->hilen, c->lo.pos, c->lo.len);
        if (k < 0 || (k == 0 && !c->lo.inclusive))
            return false;
    }
    if (c->hi.pos != NULL) {
        int k = bytes_cmp(t->lo, t->lolen, c->hi.pos, c->hi.len);
        if (k > 0 || (k == 0 && !c->hi.inclusive))
            return false;
    }
    return true;
}

static int merge_open(lsm_t *s, store_cursor_t *c, merge_t **out)
{
    version_t *v = version_now(s);
    /* Tables wholly outside the bounds are left out: a range walk reads
     * only the tables, and within them only the blocks, of its range. */
    size_t n = 1 + (v->frozen != NULL);
    for (size_t i = 0; i < v->nsst; i++)
        n += table_in_range(&v->sst[i], c);
    merge_t *m = calloc(1, sizeof *m + n * sizeof(source_t));
    if (m == NULL)
        return XETS_NOMEM;
    m->v = v;
    m->n = n;
    store_t *mems[2] = {v->mem, v->frozen};
    size_t j = 0;
    for (int i = 0; i < 2; i++) {
        if (mems[i] == NULL)
            continue;
        source_t *x = &m->src[j++];
        x->is_mem = true;
        store_cursor_open(&x->mc, s->mem_ops, mems[i], c->call, c->lo, c->hi, c->dir);
    }
    for (size_t i = 0; i < v->nsst; i++)
        if (table_in_range(&v->sst[i], c))
            sst_iter_open(&m->src[j++].it, sst_file_reader(v->sst[i].f), sst_bound(c->lo),
                          sst_bound(c->hi), c->dir == SCAN_BACKWARD ? SST_BACKWARD : SST_FORWARD);
    *out = m;
    int rc = XETS_OK;
    for (size_t i = 0; i < n && rc == XETS_OK; i++)
        rc = source_step(s, &m->src[i], c->call);
    return rc;
}

static void lsm_cursor_close(store_cursor_t *c)
{
    merge_t *m = ((lsm_place_t *)c->place)->m;
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        source_t *x = &m->src[i];
        if (x->is_mem)
            store_cursor_close(&x->mc);
        else
            sst_iter_close(&x->it);
        bytes_free(&x->skbuf);
    }
    bytes_free(&m->sk);
    free(m);
    ((lsm_place_t *)c->place)->m = NULL;
}

static int collect_rec(void *ctx, const rec_t *r)
{
    store_recs_t *b = ctx;
    if (b->n == b->cap && !store_recs_grow(b))
        return 1;
    b->rec[b->n++] = *r;
    return 0;
}

static int lsm_cursor_next(store_cursor_t *c)
{
    lsm_t *s = L(c->s);
    lsm_place_t *place = (lsm_place_t *)c->place;
    int rc;
    if (place->m == NULL && (rc = merge_open(s, c, &place->m)) != XETS_OK)
        return rc;
    merge_t *m = place->m;
    bool back = c->dir == SCAN_BACKWARD;
    for (;;) {
        source_t *win = NULL;
        for (size_t i = 0; i < m->n; i++) {
            source_t *x = &m->src[i];
            if (!x->live)
                continue;
            int d = win ? bytes_cmp(x->sk, x->sklen, win->sk, win->sklen) : 0;
            if (win == NULL || (back ? d > 0 : d < 0))
                win = x; /* ties keep the newer, earlier source */
        }
        if (win == NULL)
            return XETS_END;
        /* A memtable's bytes are valid for the caller's section, and so
         * is a table's value (capture_sst); a table's key is rebuilt in
         * its iterator, until its next step: copied, and the copy
         * retired, so that it lives as long. */
        const unsigned char *key = win->key, *blob = win->blob;
        size_t klen = win->klen, blen = win->blen;
        if (!win->is_mem && blen > 0) {
            unsigned char *copy = malloc(klen ? klen : 1);
            if (copy == NULL)
                return XETS_NOMEM;
            memcpy(copy, key, klen);
            epoch_retire(copy, free);
            key = copy;
        }
        if (!bytes_set(&m->sk, win->sk, win->sklen))
            return XETS_NOMEM;
        for (size_t i = 0; i < m->n; i++) {
            source_t *x = &m->src[i];
            if (x->live && bytes_cmp(x->sk, x->sklen, m->sk.p, m->sk.len) == 0 &&
                (rc = source_step(s, x, c->call)) != XETS_OK)
                return rc;
        }
        if (blen == 0)
            continue; /* a tombstone */
        c->recs.n = 0;
        bool stopped;
        if (state_each(s->multi, key, klen, blob, blen, collect_rec, &c->recs, &stopped) != XETS_OK)
            return corrupt_state(s, c->call);
        if (stopped)
            return XETS_NOMEM;
        return XETS_OK;
    }
}

/* ---- figures -------------------------------------------------------------- */

static size_t lsm_size(store_t *ss)
{
    return (size_t)atomic_load(&L(ss)->objects);
}

static size_t lsm_memory(store_t *ss)
{
    lsm_t *s = L(ss);
    version_t *v = version_now(s);
    size_t bytes = sizeof *s + s->mem_ops->memory(v->mem) + v->meta;
    if (v->frozen != NULL)
        bytes += s->mem_ops->memory(v->frozen);
    block_cache_stats_t cs;
    block_cache_stats(s->cache, &cs);
    return bytes + cs.bytes;
}

uint64_t lsm_serial(store_t *ss)
{
    return L(ss)->serial;
}

int lsm_await(store_t *ss, const lsm_waiter_t *w, xets_call_t *call)
{
    lsm_t *s = L(ss);
    pthread_mutex_lock(&s->log_mu);
    int rc = XETS_OK;
    if (w->seq <= s->durable_seq || (s->closed && !s->failed))
        rc = XETS_END; /* a close that did not fail synced everything */
    else if (s->failed)
        rc = refuse(s, call);
    else if (s->nwaiters == s->capwaiters) {
        size_t cap = s->capwaiters ? 2 * s->capwaiters : 16;
        lsm_waiter_t *grown = realloc(s->waiters, cap * sizeof *grown);
        if (grown == NULL)
            rc = XETS_NOMEM;
        else {
            s->waiters = grown;
            s->capwaiters = cap;
        }
    }
    if (rc == XETS_OK) {
        s->waiters[s->nwaiters++] = *w;
        pthread_cond_signal(&s->log_cv);
    }
    pthread_mutex_unlock(&s->log_mu);
    return rc;
}

void lsm_sync_ask(store_t *ss, xets_call_t *call)
{
    lsm_t *s = L(ss);
    pthread_mutex_lock(&s->log_mu);
    if (s->last_seq > s->durable_seq) {
        if (s->last_seq > s->sync_wanted)
            s->sync_wanted = s->last_seq;
        call->await.store = s;
        call->await.seq = s->last_seq;
        pthread_cond_signal(&s->log_cv);
    }
    pthread_mutex_unlock(&s->log_mu);
}

int lsm_sync(store_t *ss, xets_call_t *call)
{
    lsm_t *s = L(ss);
    pthread_mutex_lock(&s->log_mu);
    uint64_t want = s->last_seq;
    if (want > s->sync_wanted)
        s->sync_wanted = want;
    pthread_cond_signal(&s->log_cv);
    while (!s->failed && s->durable_seq < want)
        pthread_cond_wait(&s->durable_cv, &s->log_mu);
    int rc = s->durable_seq >= want ? XETS_OK : refuse(s, call);
    pthread_mutex_unlock(&s->log_mu);
    return rc;
}

void lsm_info(store_t *ss, lsm_info_t *out)
{
    lsm_t *s = L(ss);
    /* Its own section (they nest): the memtables it measures may be
     * dropped once a flush has replaced the version. */
    epoch_enter();
    version_t *v = version_now(s);
    *out = (lsm_info_t){.files = v->nsst, .sync = s->sync, .interval_ms = s->interval_ms};
    out->memtable_bytes = s->mem_ops->memory(v->mem);
    if (v->frozen != NULL)
        out->memtable_bytes += s->mem_ops->memory(v->frozen);
    for (size_t i = 0; i < v->nsst; i++) {
        out->filter_bytes += sst_reader_filter_bytes(sst_file_reader(v->sst[i].f));
        out->disk_bytes += v->sst[i].bytes;
    }
    out->index_bytes = v->meta - out->filter_bytes;
    out->level0_files = v->l0;
    epoch_exit();
    block_cache_stats_t cs;
    block_cache_stats(s->cache, &cs);
    out->cache_bytes = cs.bytes;
    out->cache_capacity = cs.capacity;
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_misses_in_place = cs.in_place;
    out->cache_evictions = cs.evictions;
    out->memory_limit = s->memory_limit;
    out->memtable_limit = s->mem_limit;
    out->stalls = atomic_load(&s->stalls);
    out->disk_bytes += atomic_load(&s->man_bytes);
    out->flushes = atomic_load(&s->flushes);
    out->compactions = atomic_load(&s->compactions);
    pthread_mutex_lock(&s->log_mu);
    out->last_seq = s->last_seq;
    out->durable_seq = s->durable_seq;
    out->fsyncs = s->fsyncs;
    out->wal_bytes = s->wal != NULL ? wal_file_end(s->wal) : 0;
    pthread_mutex_unlock(&s->log_mu);
    out->disk_bytes += out->wal_bytes;
}

/* The hash order's sort key is the memtable's (hash_table.c). */
static size_t lsm_hash_sort_key(const unsigned char *key, size_t klen, unsigned char *out,
                                size_t cap)
{
    return hash_table_ops.sort_key(key, klen, out, cap);
}

const store_ops_t lsm_hash_ops = {
    .order = "hash.2", .may_need_io = true, .backward = false, .sort_key = lsm_hash_sort_key,
    .open = lsm_open_hash,
    .close = lsm_close, .drop = lsm_drop, .clear = lsm_clear, .put = lsm_put, .get = lsm_get,
    .remove = lsm_remove, .update = lsm_update, .rewrite = lsm_rewrite,
    .cursor_next = lsm_cursor_next, .cursor_close = lsm_cursor_close, .group = lsm_group, .hold = lsm_hold,
    .size = lsm_size, .memory = lsm_memory};

const store_ops_t lsm_ordered_ops = {
    .order = "key", .may_need_io = true, .backward = true, .open = lsm_open_ordered,
    .close = lsm_close, .drop = lsm_drop, .clear = lsm_clear, .put = lsm_put, .get = lsm_get,
    .remove = lsm_remove, .update = lsm_update, .rewrite = lsm_rewrite,
    .cursor_next = lsm_cursor_next, .cursor_close = lsm_cursor_close, .group = lsm_group, .hold = lsm_hold,
    .size = lsm_size, .memory = lsm_memory};
