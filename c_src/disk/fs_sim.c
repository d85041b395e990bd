/* fs.h in memory: the simulated file system of the plain C tests, and the
 * ground truth of every crash test (controls in fs_sim.h).
 *
 * Model. A file holds its durable content (what a power cut keeps for
 * sure), its current content (what reads see) and the list of its
 * unsynced changes, in order: writes (offset, bytes) and truncates (size).
 * A directory holds its durable entries, name -> file (as of its last
 * fs_dir_sync), its current entries, and the list of its unsynced edits:
 * create, remove, rename, each naming the file it concerns. A directory's
 * own existence is always durable: fs_dir_open makes its creation durable
 * and fs_destroy its removal before returning (fs.h), and a destroy is
 * whole. Paths are compared as strings; no parent directory is needed.
 * The lock is a flag of the directory (no LOCK file is modelled).
 *
 * Power cut (fs_sim_power_cut), from one seeded stream:
 * - A directory draws a probability (0, 1/4, 1/2, 3/4 or 1) and keeps each
 *   unsynced edit with it: the kept edits are applied in order to the
 *   durable entries, skipping one that no longer applies (a remove or
 *   rename whose name no longer binds its file, a create whose name is
 *   taken). The result is what some subsequence of the edits, each whole,
 *   gives: a rename is atomic (its target names its old file or the
 *   renamed one), a durably named file is lost only if its removal or
 *   replacement is kept, nothing appears that was not done; but edits may
 *   survive out of order, as they may across a real directory's blocks.
 * - A file keeps its durable content, then a seeded prefix of its unsynced
 *   changes; in one cut out of two, also the first change not kept (a
 *   write), torn at a seeded byte. Then, in one cut out of four, its size
 *   becomes a seeded value between its durable and current sizes, as if
 *   the size reached the disk apart from the data: growing past the kept
 *   bytes reads zeros (blocks allocated, never written, as XFS or ext4 in
 *   writeback mode show).
 * - A file that no directory names is gone; locks are released; every
 *   handle opened before is stale: its calls fail with EIO, as an fd's
 *   would across a reboot, and fs_close or fs_dir_close only frees it.
 *
 * fsync failure. Linux reports a writeback error once and may drop the
 * dirty pages, marking them clean: the data stays readable until evicted,
 * but no later fsync writes it. So a failed fs_sync marks the file's
 * unsynced changes lost: reads still see them, a power cut before the next
 * successful fs_sync treats them as any unsynced change, and that fs_sync
 * makes durable only the changes made after the failure (a lost range
 * rewritten since is a new change).
 *
 * Faults (fs_sim_fail) and counting: each fs.h call that would reach the
 * OS counts once, however many system calls fs_os.c makes for it. Short
 * counts are not faults: fs.h's reads and writes absorb them, and the loop
 * that does is fs_os.c's (test/c/fs_os_test.c makes it loop); the sim
 * moves every byte at once.
 *
 * Invariants: a directory's current entries are its durable ones with all
 * its edits applied in order; a file's current content is its durable one
 * with all its changes applied in order, except that changes made lost by
 * a failed fs_sync stay in the current content only, once a later fs_sync
 * has succeeded (as in the page cache). A file's refs count the entries,
 * edits and handles that point to it; at 0 it is freed. A handle is valid
 * while its generation is the sim's, which every power cut and reset
 * advances: a stale handle only holds its file's ref (its content is
 * another life's), and its directory is never touched (a reset frees it).
 *
 * Thread-safety: one mutex over all the state; any calls may run
 * concurrently. Deterministic: no clock, no randomness but the seed of a
 * power cut. Out of memory aborts: this is a test tool. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "fs_sim.h"

/* A write or truncate past this fails with EFBIG, as past a real file
 * system's limit, rather than allocate it. */
#define SIM_MAX_FILE ((uint64_t)1 << 30)

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes_t;

typedef struct change {
    uint64_t at;         /* a write's offset; a truncate's new size */
    size_t len;          /* a write's length */
    unsigned char *data; /* a write's bytes; NULL: a truncate */
    bool lost;           /* an fs_sync failed since */
} change_t;

typedef struct sim_file {
    struct sim_file *prev, *next; /* every file alive, oldest first */
    size_t refs;
    bytes_t durable, current;
    change_t *changes;
    size_t nchanges, cap;
} sim_file_t;

typedef struct entry {
    char *name;
    sim_file_t *file;
} entry_t;

typedef struct entries {
    entry_t *v;
    size_t n, cap;
} entries_t;

enum edit_kind { EDIT_CREATE, EDIT_REMOVE, EDIT_RENAME };

typedef struct edit {
    enum edit_kind kind;
    char *name;       /* a rename's from */
    char *to;         /* a rename's to */
    sim_file_t *file; /* created, removed or renamed */
} edit_t;

typedef struct sim_dir {
    struct sim_dir *next;
    char *path;
    bool exists, locked;
    entries_t durable, current;
    edit_t *edits;
    size_t nedits, cap;
} sim_dir_t;

struct fs_dir {
    sim_dir_t *dir;
    uint64_t gen;
    bool is_volatile; /* fs_dir_set_volatile */
};

struct fs_file {
    sim_file_t *file;
    uint64_t gen;
    bool writable;
    bool is_volatile; /* its directory's, at its open */
    char name[]; /* as opened, for errors */
};

static struct {
    pthread_mutex_t mu;
    sim_dir_t *dirs;
    sim_file_t *first, *last;
    uint64_t gen; /* of the handles that are valid */
    uint64_t calls;
    uint64_t syncs, creates; /* fs_sim_syncs, fs_sim_creates */
    uint64_t trace; /* fs_sim_trace */
    bool armed;
    uint64_t fault_at; /* the number of the call that fails */
    int fault_err;
    enum fs_sim_fault fault_kind;
    int halt_err; /* not 0: halted, every call fails with it */
    bool cold;    /* fs_sim_set_cold */
} sim = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- memory and randomness ----------------------------------------------- */

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        fprintf(stderr, "fs_sim: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t len = strlen(s) + 1;
    return memcpy(xrealloc(NULL, len), s, len);
}

/* Makes room in *v for need elements of size, doubling. */
static void *room(void *v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return v;
    *cap = need > 2 * *cap ? need : 2 * *cap;
    return xrealloc(v, *cap * size);
}

/* splitmix64: any seed, 0 included, gives a good stream. */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return n ? z % n : 0;
}

/* ---- bytes and files ------------------------------------------------------ */

/* Cuts b, or extends it with zeros. */
static void bytes_resize(bytes_t *b, size_t len)
{
    b->p = room(b->p, &b->cap, len, 1);
    if (len > b->len)
        memset(b->p + b->len, 0, len - b->len);
    b->len = len;
}

static void bytes_copy(bytes_t *to, const bytes_t *from)
{
    to->len = 0;
    bytes_resize(to, from->len);
    if (from->len)
        memcpy(to->p, from->p, from->len);
}

/* Applies the first n bytes of change c (a truncate: whole). */
static void apply(bytes_t *b, const change_t *c, size_t n)
{
    if (!c->data) {
        bytes_resize(b, c->at);
    } else if (n) {
        if (c->at + n > b->len)
            bytes_resize(b, c->at + n);
        memcpy(b->p + c->at, c->data, n);
    }
}

static sim_file_t *file_new(void)
{
    sim_file_t *f = xrealloc(NULL, sizeof *f);
    *f = (sim_file_t){.prev = sim.last};
    *(sim.last ? &sim.last->next : &sim.first) = f;
    sim.last = f;
    return f;
}

static void file_drop_changes(sim_file_t *f)
{
    for (size_t i = 0; i < f->nchanges; i++)
        free(f->changes[i].data);
    f->nchanges = 0;
}

static void file_ref(sim_file_t *f)
{
    f->refs++;
}

static void file_unref(sim_file_t *f)
{
    if (--f->refs)
        return;
    *(f->prev ? &f->prev->next : &sim.first) = f->next;
    *(f->next ? &f->next->prev : &sim.last) = f->prev;
    file_drop_changes(f);
    free(f->changes);
    free(f->durable.p);
    free(f->current.p);
    free(f);
}

/* A write of len bytes of data at at, or (data NULL) a truncate to at. */
static void file_change(sim_file_t *f, uint64_t at, const void *data, size_t len)
{
    f->changes = room(f->changes, &f->cap, f->nchanges + 1, sizeof *f->changes);
    change_t *c = &f->changes[f->nchanges++];
    *c = (change_t){.at = at, .len = len};
    if (data)
        c->data = memcpy(xrealloc(NULL, len), data, len);
    apply(&f->current, c, len);
}

static void file_sync(sim_file_t *f)
{
    for (size_t i = 0; i < f->nchanges; i++)
        if (!f->changes[i].lost)
            apply(&f->durable, &f->changes[i], f->changes[i].len);
    file_drop_changes(f);
}

/* See the top: a prefix of the changes, the next one torn, maybe a size
 * between the durable and the current one. */
static void file_cut(sim_file_t *f, uint64_t *rng)
{
    size_t old = f->durable.len, now = f->current.len;
    size_t kept = (size_t)rng_below(rng, f->nchanges + 1);
    for (size_t i = 0; i < kept; i++)
        apply(&f->durable, &f->changes[i], f->changes[i].len);
    if (kept < f->nchanges && f->changes[kept].data && rng_below(rng, 2))
        apply(&f->durable, &f->changes[kept], (size_t)rng_below(rng, f->changes[kept].len));
    if (old != now && rng_below(rng, 4) == 0) {
        size_t lo = old < now ? old : now, hi = old < now ? now : old;
        bytes_resize(&f->durable, lo + (size_t)rng_below(rng, hi - lo + 1));
    }
    file_drop_changes(f);
    bytes_copy(&f->current, &f->durable);
}

/* ---- directories ---------------------------------------------------------- */

static entry_t *entries_find(entries_t *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].name, name))
            return &e->v[i];
    return NULL;
}

/* name -> f, replacing what name bound. */
static void entries_bind(entries_t *e, const char *name, sim_file_t *f)
{
    file_ref(f);
    entry_t *x = entries_find(e, name);
    if (x) {
        file_unref(x->file);
    } else {
        e->v = room(e->v, &e->cap, e->n + 1, sizeof *e->v);
        x = &e->v[e->n++];
        x->name = xstrdup(name);
    }
    x->file = f;
}

static void entries_unbind(entries_t *e, entry_t *x)
{
    file_unref(x->file);
    free(x->name);
    *x = e->v[--e->n];
}

static void entries_clear(entries_t *e)
{
    while (e->n)
        entries_unbind(e, &e->v[e->n - 1]);
}

static void entries_copy(entries_t *to, const entries_t *from)
{
    entries_clear(to);
    for (size_t i = 0; i < from->n; i++)
        entries_bind(to, from->v[i].name, from->v[i].file);
}

/* Applies x to e if it still applies (see the top). */
static void edit_apply(entries_t *e, const edit_t *x)
{
    entry_t *at = entries_find(e, x->name);
    if (x->kind == EDIT_CREATE) {
        if (!at)
            entries_bind(e, x->name, x->file);
    } else if (at && at->file == x->file) {
        entries_unbind(e, at); /* x holds a ref: the file lives on */
        if (x->kind == EDIT_RENAME)
            entries_bind(e, x->to, x->file);
    }
}

/* Every change to a directory: recorded unsynced, applied to the current
 * entries. */
static void dir_edit(sim_dir_t *d, enum edit_kind kind, const char *name, const char *to,
                     sim_file_t *f)
{
    d->edits = room(d->edits, &d->cap, d->nedits + 1, sizeof *d->edits);
    edit_t *x = &d->edits[d->nedits++];
    *x = (edit_t){.kind = kind, .name = xstrdup(name), .to = to ? xstrdup(to) : NULL, .file = f};
    file_ref(f);
    edit_apply(&d->current, x);
}

static void dir_drop_edits(sim_dir_t *d)
{
    for (size_t i = 0; i < d->nedits; i++) {
        free(d->edits[i].name);
        free(d->edits[i].to);
        file_unref(d->edits[i].file);
    }
    d->nedits = 0;
}

static void dir_sync(sim_dir_t *d)
{
    entries_copy(&d->durable, &d->current);
    dir_drop_edits(d);
}

/* See the top: a seeded subsequence of the edits. */
static void dir_cut(sim_dir_t *d, uint64_t *rng)
{
    uint64_t keep = rng_below(rng, 5) * 64; /* out of 256 */
    for (size_t i = 0; i < d->nedits; i++)
        if (rng_below(rng, 256) < keep)
            edit_apply(&d->durable, &d->edits[i]);
    entries_copy(&d->current, &d->durable);
    dir_drop_edits(d);
}

/* Empties d; it goes on existing as a record of the path. */
static void dir_empty(sim_dir_t *d)
{
    entries_clear(&d->current);
    entries_clear(&d->durable);
    dir_drop_edits(d);
}

static sim_dir_t *dir_find(const char *path)
{
    sim_dir_t *d = sim.dirs;
    while (d && strcmp(d->path, path))
        d = d->next;
    return d;
}

/* ---- calls ---------------------------------------------------------------- */

/* Counts a call that would reach the OS, op naming it (its function):
 * the errno it must fail with, or 0. *short_write (when asked) says that
 * a write does half first. */
static int sim_call(const char *op, bool *short_write)
{
    uint64_t no = sim.calls++;
    for (const char *c = op; *c; c++) /* FNV-1a */
        sim.trace = (sim.trace ^ (unsigned char)*c) * 0x100000001b3ull;
    if (sim.armed && no == sim.fault_at) {
        sim.armed = false;
        if (sim.fault_kind == FS_SIM_HALT) {
            sim.halt_err = sim.fault_err;
        } else {
            if (short_write)
                *short_write = sim.fault_kind == FS_SIM_SHORT;
            return sim.fault_err;
        }
    }
    return sim.halt_err;
}

/* Starts a call on a handle of generation gen: takes the mutex (the
 * caller releases it), counts the call, and returns the errno it must fail
 * with (the fault's, or EIO for a stale handle), or 0. */
static int enter(const char *op, uint64_t gen)
{
    pthread_mutex_lock(&sim.mu);
    int e = sim_call(op, NULL);
    return e ? e : gen != sim.gen ? EIO : 0;
}

/* The file name binds in d, or NULL with *e set to ENOENT. */
static sim_file_t *named(sim_dir_t *d, const char *name, int *e)
{
    entry_t *x = entries_find(&d->current, name);
    if (!x)
        *e = ENOENT;
    return x ? x->file : NULL;
}

/* The status for errno e, as fs_os.c maps it where fs.h names one. */
static int status_of(int e)
{
    return e == ENOENT ? XETS_NOTFOUND : e == EEXIST ? XETS_EXISTS : XETS_IO;
}

int fs_dir_open(const char *path, bool create, fs_dir_t **out, xets_call_t *call)
{
    pthread_mutex_lock(&sim.mu);
    int e = sim_call(__func__, NULL);
    sim_dir_t *d = e ? NULL : dir_find(path);
    const char *op = "open", *name = path;
    if (!e && !(d && d->exists) && !create) {
        e = ENOENT;
    } else if (!e) {
        if (!d) {
            d = xrealloc(NULL, sizeof *d);
            *d = (sim_dir_t){.next = sim.dirs, .path = xstrdup(path)};
            sim.dirs = d;
        }
        d->exists = true;
        if (d->locked) {
            e = EAGAIN;
            op = "lock";
            name = "LOCK";
        } else {
            d->locked = true;
            *out = xrealloc(NULL, sizeof **out);
            **out = (fs_dir_t){.dir = d, .gen = sim.gen};
        }
    }
    pthread_mutex_unlock(&sim.mu);
    if (!e)
        return XETS_OK;
    return call_fail(call, e == EAGAIN ? XETS_BUSY : status_of(e), op, name, 0, e);
}

void fs_dir_close(fs_dir_t *h)
{
    pthread_mutex_lock(&sim.mu);
    if (h->gen == sim.gen)
        h->dir->locked = false;
    pthread_mutex_unlock(&sim.mu);
    free(h);
}

void fs_dir_set_volatile(fs_dir_t *h)
{
    h->is_volatile = true;
}

/* A sync of a volatile directory or file is no call: it makes nothing
 * durable, fails never, and counts as no file call. */
int fs_dir_sync(fs_dir_t *h, xets_call_t *call)
{
    if (h->is_volatile)
        return XETS_OK;
    int e = enter(__func__, h->gen);
    sim.syncs++;
    if (!e)
        dir_sync(h->dir);
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "fsync", ".", 0, e) : XETS_OK;
}

int fs_dir_list(fs_dir_t *h, char ***names, size_t *n, xets_call_t *call)
{
    int e = enter(__func__, h->gen);
    if (!e) {
        const entries_t *cur = &h->dir->current;
        size_t chars = 0;
        for (size_t i = 0; i < cur->n; i++)
            chars += strlen(cur->v[i].name) + 1;
        char **list = xrealloc(NULL, cur->n * sizeof *list + chars);
        char *s = (char *)(list + cur->n);
        for (size_t i = 0; i < cur->n; i++) {
            list[i] = s;
            s = stpcpy(s, cur->v[i].name) + 1;
        }
        *names = list;
        *n = cur->n;
    }
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "list", ".", 0, e) : XETS_OK;
}

int fs_destroy(const char *path, xets_call_t *call)
{
    pthread_mutex_lock(&sim.mu);
    int e = sim_call(__func__, NULL);
    sim_dir_t *d = e ? NULL : dir_find(path);
    int rc = XETS_OK;
    if (e)
        rc = call_fail(call, status_of(e), "remove", path, 0, e);
    else if (!d || !d->exists)
        rc = call_fail(call, XETS_NOTFOUND, "open", path, 0, ENOENT);
    else if (d->locked)
        rc = call_fail(call, XETS_BUSY, "lock", "LOCK", 0, EAGAIN);
    else {
        dir_empty(d);
        d->exists = false;
    }
    pthread_mutex_unlock(&sim.mu);
    return rc;
}

/* The directory keeps its entries and edits under its new path, durably
 * (a directory's existence is, see the top); a record of a directory that
 * no longer exists at to takes the old path. */
int fs_dir_move(const char *from, const char *to, xets_call_t *call)
{
    pthread_mutex_lock(&sim.mu);
    int e = sim_call(__func__, NULL);
    sim_dir_t *d = e ? NULL : dir_find(from);
    sim_dir_t *t = e ? NULL : dir_find(to);
    int rc = XETS_OK;
    if (e)
        rc = call_fail(call, status_of(e), "rename", from, 0, e);
    else if (t && t->exists) /* before the source, as fs_os.c: fs.h's order */
        rc = call_fail(call, XETS_EXISTS, "rename", to, 0, EEXIST);
    else if (!d || !d->exists)
        rc = call_fail(call, XETS_NOTFOUND, "open", from, 0, ENOENT);
    else if (d->locked)
        rc = call_fail(call, XETS_BUSY, "lock", "LOCK", 0, EAGAIN);
    else {
        char *old = d->path;
        d->path = xstrdup(to);
        if (t) {
            free(t->path);
            t->path = old;
        } else {
            free(old);
        }
    }
    pthread_mutex_unlock(&sim.mu);
    return rc;
}

int fs_open(fs_dir_t *dh, const char *name, enum fs_mode mode, fs_file_t **out, xets_call_t *call)
{
    if (fs_name_reserved(name))
        return call_fail(call, XETS_BADARG, "open", name, 0, EPERM);
    int e = enter(__func__, dh->gen);
    if (!e) {
        entry_t *x = entries_find(&dh->dir->current, name);
        if (x && mode == FS_CREATE) {
            e = EEXIST;
        } else if (!x && mode != FS_CREATE) {
            e = ENOENT;
        } else {
            sim_file_t *f = x ? x->file : file_new();
            if (!x) {
                dir_edit(dh->dir, EDIT_CREATE, name, NULL, f);
                sim.creates++;
            }
            size_t len = strlen(name) + 1;
            fs_file_t *h = xrealloc(NULL, sizeof *h + len);
            *h = (fs_file_t){.file = f, .gen = sim.gen, .writable = mode != FS_READ,
                             .is_volatile = dh->is_volatile};
            memcpy(h->name, name, len);
            file_ref(f);
            *out = h;
        }
    }
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, status_of(e), "open", name, 0, e) : XETS_OK;
}

void fs_close(fs_file_t *h)
{
    pthread_mutex_lock(&sim.mu);
    file_unref(h->file);
    pthread_mutex_unlock(&sim.mu);
    free(h);
}

int fs_read(fs_file_t *h, uint64_t offset, void *buf, size_t len, size_t *got, xets_call_t *call)
{
    int e = enter(__func__, h->gen);
    size_t n = 0;
    if (!e) {
        const bytes_t *b = &h->file->current;
        if (offset < b->len)
            n = len < b->len - offset ? len : b->len - (size_t)offset;
        if (n)
            memcpy(buf, b->p + offset, n);
    }
    /* On a thread that may not block, what is not in memory (the sim's
     * bytes when cold), a failure and a short read are all XETS_BUSY. */
    bool busy = !call_may_block(call) && (sim.cold || e || n < len);
    pthread_mutex_unlock(&sim.mu);
    *got = busy ? 0 : n;
    return busy ? XETS_BUSY : e ? call_fail(call, XETS_IO, "read", h->name, offset, e) : XETS_OK;
}

int fs_write(fs_file_t *h, uint64_t offset, const void *buf, size_t len, xets_call_t *call)
{
    pthread_mutex_lock(&sim.mu);
    bool short_write = false;
    int fault = sim_call(__func__, &short_write), e = fault;
    if (!fault || short_write) /* a short write must be one that could start */
        e = h->gen != sim.gen ? EIO
          : !h->writable      ? EBADF
          : offset > SIM_MAX_FILE || len > SIM_MAX_FILE - offset ? EFBIG
                              : 0;
    size_t n = e ? 0 : short_write ? len / 2 : len;
    if (n)
        file_change(h->file, offset, buf, n);
    if (!e)
        e = fault;
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "write", h->name, offset + n, e) : XETS_OK;
}

int fs_sync(fs_file_t *h, xets_call_t *call)
{
    if (h->is_volatile)
        return XETS_OK;
    int e = enter(__func__, h->gen);
    sim.syncs++;
    if (!e)
        file_sync(h->file);
    else if (h->gen == sim.gen) /* a stale handle's file is not to be touched */
        for (size_t i = 0; i < h->file->nchanges; i++)
            h->file->changes[i].lost = true;
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "fsync", h->name, 0, e) : XETS_OK;
}

int fs_size(fs_file_t *h, uint64_t *size, xets_call_t *call)
{
    int e = enter(__func__, h->gen);
    if (!e)
        *size = h->file->current.len;
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "stat", h->name, 0, e) : XETS_OK;
}

int fs_truncate(fs_file_t *h, uint64_t size, xets_call_t *call)
{
    int e = enter(__func__, h->gen);
    if (!e)
        e = !h->writable ? EINVAL : size > SIM_MAX_FILE ? EFBIG : 0;
    if (!e)
        file_change(h->file, size, NULL, 0);
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "truncate", h->name, size, e) : XETS_OK;
}

int fs_rename(fs_dir_t *dh, const char *from, const char *to, xets_call_t *call)
{
    if (fs_name_reserved(from) || fs_name_reserved(to))
        return call_fail(call, XETS_BADARG, "rename", from, 0, EPERM);
    int e = enter(__func__, dh->gen);
    sim_file_t *f = e ? NULL : named(dh->dir, from, &e);
    if (f && strcmp(from, to)) /* a rename onto itself does nothing */
        dir_edit(dh->dir, EDIT_RENAME, from, to, f);
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, XETS_IO, "rename", from, 0, e) : XETS_OK;
}

int fs_remove(fs_dir_t *dh, const char *name, xets_call_t *call)
{
    if (fs_name_reserved(name))
        return call_fail(call, XETS_BADARG, "remove", name, 0, EPERM);
    int e = enter(__func__, dh->gen);
    sim_file_t *f = e ? NULL : named(dh->dir, name, &e);
    if (f)
        dir_edit(dh->dir, EDIT_REMOVE, name, NULL, f);
    pthread_mutex_unlock(&sim.mu);
    return e ? call_fail(call, status_of(e), "remove", name, 0, e) : XETS_OK;
}

/* ---- controls (fs_sim.h) -------------------------------------------------- */

void fs_sim_reset(void)
{
    pthread_mutex_lock(&sim.mu);
    while (sim.dirs) {
        sim_dir_t *d = sim.dirs;
        sim.dirs = d->next;
        dir_empty(d);
        free(d->current.v);
        free(d->durable.v);
        free(d->edits);
        free(d->path);
        free(d);
    }
    sim.gen++;
    sim.calls = 0;
    sim.syncs = sim.creates = 0;
    sim.trace = 0xcbf29ce484222325ull;
    sim.armed = false;
    sim.halt_err = 0;
    sim.cold = false;
    pthread_mutex_unlock(&sim.mu);
}

void fs_sim_set_cold(bool cold)
{
    pthread_mutex_lock(&sim.mu);
    sim.cold = cold;
    pthread_mutex_unlock(&sim.mu);
}

void fs_sim_power_cut(uint64_t seed)
{
    pthread_mutex_lock(&sim.mu);
    uint64_t rng = seed;
    for (sim_dir_t *d = sim.dirs; d; d = d->next) {
        dir_cut(d, &rng);
        d->locked = false;
    }
    /* After the directories: the files they let go are gone already. */
    for (sim_file_t *f = sim.first; f; f = f->next)
        file_cut(f, &rng);
    sim.gen++;
    sim.armed = false;
    sim.halt_err = 0;
    pthread_mutex_unlock(&sim.mu);
}

void fs_sim_fail(uint64_t after, int err, enum fs_sim_fault kind)
{
    pthread_mutex_lock(&sim.mu);
    sim.armed = true;
    sim.fault_at = sim.calls + after;
    sim.fault_err = err;
    sim.fault_kind = kind;
    pthread_mutex_unlock(&sim.mu);
}

/* A counter of sim's, read under its lock. */
static uint64_t counted(const uint64_t *n)
{
    pthread_mutex_lock(&sim.mu);
    uint64_t v = *n;
    pthread_mutex_unlock(&sim.mu);
    return v;
}

uint64_t fs_sim_trace(void)
{
    return counted(&sim.trace);
}

uint64_t fs_sim_calls(void)
{
    return counted(&sim.calls);
}

uint64_t fs_sim_syncs(void)
{
    return counted(&sim.syncs);
}

uint64_t fs_sim_creates(void)
{
    return counted(&sim.creates);
}
