/* A WAL file over fs.h (wal_file.h, which gives the order of writes and
 * syncs). The writer keeps two offsets: end, where the next record goes,
 * and durable, the end of the last successful fs_sync; durable <= end,
 * and durable is what every record claims in its synced field. The
 * header record makes the file's first bytes, so both start past it.
 *
 * Group commit: mu guards every field but f and number/name (set once).
 * An append holds mu across its fs_write, so records go out one at a time
 * in seq order. A sync that finds its offset not yet durable and no fsync
 * in flight becomes the leader: it sets syncing, snapshots end as its
 * target, drops mu for the fs_sync (appends go on meanwhile, claiming the
 * old durable), then takes mu, advances durable to the target and
 * broadcasts. A sync that finds an fsync in flight waits on cv and looks
 * again: the fsync in flight may cover it (its target was taken after the
 * caller's append returned), and if not, the caller leads the next one,
 * which covers every append that waited meanwhile. So one fs_sync
 * serves every sync that arrived while the one before it ran. */
#include "wal_file.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "names.h"

struct wal_file {
    fs_file_t *f;
    uint64_t number;
    char name[NAMES_LEN];
    uint64_t end, durable;
    uint64_t first_seq, last_seq; /* last_seq: of the last batch, if any */
    bool any;
    int failed; /* the errno of the fs_sync that failed the writer; 0 while none has */
    bool syncing; /* a leader's fs_sync is in flight */
    uint64_t fsyncs; /* fs_sync calls made by wal_file_sync */
    bytes_t buf; /* the record being written, kept for the next */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when a leader's fs_sync answers */
};

static wal_file_t *writer_new(uint64_t number)
{
    wal_file_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    if (pthread_mutex_init(&w->mu, NULL)) {
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->cv, NULL)) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    w->number = number;
    names_format(w->name, NAMES_WAL, number, false);
    return w;
}

/* Writes header h at the start of w's empty file. */
static int put_header(wal_file_t *w, const wal_header_t *h, xets_call_t *call)
{
    w->buf.len = 0;
    int st = wal_encode_header(&w->buf, h, w->number);
    if (st != XETS_OK)
        return st;
    st = fs_write(w->f, 0, w->buf.p, w->buf.len, call);
    if (st != XETS_OK)
        return st;
    w->end = w->buf.len;
    w->first_seq = h->first_seq;
    return XETS_OK;
}

/* Makes w's file as it stands, and its name in d, durable: the file
 * first, so that the name never durably points at bytes that are not. */
static int make_durable(wal_file_t *w, fs_dir_t *d, xets_call_t *call)
{
    int st = fs_sync_named(d, w->f, call);
    if (st == XETS_OK)
        w->durable = w->end;
    return st;
}

int wal_file_create(fs_dir_t *d, uint64_t number, const wal_header_t *h, wal_file_t **out,
                    xets_call_t *call)
{
    wal_file_t *w = writer_new(number);
    if (!w)
        return XETS_NOMEM;
    int st = fs_open(d, w->name, FS_CREATE, &w->f, call);
    if (st == XETS_OK)
        st = put_header(w, h, call);
    if (st == XETS_OK)
        st = make_durable(w, d, call);
    if (st != XETS_OK) {
        wal_file_close(w);
        return st;
    }
    *out = w;
    return XETS_OK;
}

/* Replays buf[0 .. len), the whole file, into visit; on XETS_OK, w->end is
 * where the valid part ends (the end, or a torn tail to cut) and w's
 * sequence numbers are the file's. */
static int replay(wal_file_t *w, const uint8_t *buf, size_t len, wal_header_t *h,
                  wal_file_visit_t visit, void *arg, xets_call_t *call)
{
    wal_replay_t r;
    int st = wal_replay_open(&r, buf, len, w->number);
    if (st == XETS_TORN) {
        /* No complete header, so no batch: the file becomes what create
         * makes. */
        st = fs_truncate(w->f, 0, call);
        return st == XETS_OK ? put_header(w, h, call) : st;
    }
    if (st == XETS_BADARG)
        h->id.version = r.header.id.version;
    if (st != XETS_OK)
        return call_fail(call, st, "read", w->name, r.off, 0);
    *h = r.header;
    w->first_seq = h->first_seq;
    uint64_t seq;
    const uint8_t *batch;
    size_t n;
    while ((st = wal_replay_next(&r, &seq, &batch, &n)) == XETS_OK) {
        st = visit(arg, seq, batch, n);
        if (st != XETS_OK)
            return st;
    }
    if (st == XETS_CORRUPT)
        return call_fail(call, st, "read", w->name, r.off, 0);
    if (st == XETS_TORN && (st = fs_truncate(w->f, r.off, call)) != XETS_OK)
        return st;
    w->end = r.off;
    w->last_seq = r.last_seq;
    w->any = r.any;
    return XETS_OK;
}

int wal_file_recover(fs_dir_t *d, uint64_t number, wal_header_t *h, wal_file_visit_t visit,
                     void *arg, wal_file_t **out, xets_call_t *call)
{
    wal_file_t *w = writer_new(number);
    if (!w)
        return XETS_NOMEM;
    uint8_t *buf = NULL;
    size_t got = 0;
    int st = fs_open(d, w->name, FS_WRITE, &w->f, call);
    /* A file that shrank under us is read as what there is. */
    if (st == XETS_OK)
        st = fs_read_all(w->f, w->name, &buf, &got, call);
    if (st == XETS_OK)
        st = replay(w, buf, got, h, visit, arg, call);
    free(buf);
    if (st == XETS_OK)
        st = make_durable(w, d, call);
    if (st != XETS_OK) {
        wal_file_close(w);
        return st;
    }
    *out = w;
    return XETS_OK;
}

/* The answer of a writer that a failed fs_sync has failed for good.
 * Called with w->mu held. */
static int refuse(wal_file_t *w, xets_call_t *call)
{
    return call_fail(call, XETS_IO, "fsync", w->name, w->durable, w->failed);
}

/* Encodes the batch seq, batch[0 .. len) after what w->buf holds, with
 * w->mu held, checking that seq follows the last one encoded (*last,
 * *any: the file's, then the buffer's). */
static int encode_locked(wal_file_t *w, uint64_t seq, const void *batch, size_t len,
                         uint64_t *last, bool *any)
{
    if (*any ? seq <= *last : seq < w->first_seq)
        return XETS_BADARG;
    int st = wal_encode_batch(&w->buf, seq, batch, len, w->durable, w->number);
    if (st == XETS_OK) {
        *last = seq;
        *any = true;
    }
    return st;
}

/* Writes what w->buf holds at the end, with w->mu held; on XETS_OK the
 * file's last batch is last. */
static int write_locked(wal_file_t *w, uint64_t last, uint64_t *end, xets_call_t *call)
{
    /* A failed write may leave part of a record past end: the next
     * record overwrites it, and a crash first leaves it a torn tail. */
    int st = fs_write(w->f, w->end, w->buf.p, w->buf.len, call);
    if (st != XETS_OK)
        return st;
    w->end += w->buf.len;
    w->last_seq = last;
    w->any = true;
    if (end)
        *end = w->end;
    return XETS_OK;
}

/* The append itself, with w->mu held; next: seq is the one after the last
 * batch's (or the header's first_seq), written back to *seq. */
static int append_locked(wal_file_t *w, uint64_t *seq, bool next, const void *batch, size_t len,
                         uint64_t *end, xets_call_t *call)
{
    if (w->failed)
        return refuse(w, call);
    if (next)
        *seq = w->any ? w->last_seq + 1 : w->first_seq;
    uint64_t last = w->last_seq;
    bool any = w->any;
    w->buf.len = 0;
    int st = encode_locked(w, *seq, batch, len, &last, &any);
    return st == XETS_OK ? write_locked(w, last, end, call) : st;
}

static int append(wal_file_t *w, uint64_t *seq, bool next, const void *batch, size_t len,
                  uint64_t *end, xets_call_t *call)
{
    pthread_mutex_lock(&w->mu);
    int st = append_locked(w, seq, next, batch, len, end, call);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int wal_file_append(wal_file_t *w, uint64_t seq, const void *batch, size_t len, xets_call_t *call)
{
    return append(w, &seq, false, batch, len, NULL, call);
}

int wal_file_append_next(wal_file_t *w, const void *batch, size_t len, uint64_t *seq,
                         uint64_t *end, xets_call_t *call)
{
    return append(w, seq, true, batch, len, end, call);
}

int wal_file_append_batches(wal_file_t *w, const wal_batch_t *list, uint64_t *end,
                            xets_call_t *call)
{
    pthread_mutex_lock(&w->mu);
    int st = XETS_OK;
    uint64_t last = w->last_seq;
    bool any = w->any;
    w->buf.len = 0;
    if (w->failed)
        st = refuse(w, call);
    for (const wal_batch_t *b = list; b && st == XETS_OK; b = b->next)
        st = encode_locked(w, b->seq, b->bytes, b->len, &last, &any);
    if (st == XETS_OK && w->buf.len > 0)
        st = write_locked(w, last, end, call);
    else if (st == XETS_OK && end)
        *end = w->end;
    pthread_mutex_unlock(&w->mu);
    return st;
}

/* Syncs up to upto, w->mu held (see the top for the leader and waiters). */
static int sync_locked(wal_file_t *w, uint64_t upto, xets_call_t *call)
{
    if (upto > w->end)
        upto = w->end;
    for (;;) {
        if (w->failed)
            return refuse(w, call);
        if (w->durable >= upto)
            return XETS_OK;
        if (w->syncing) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        w->syncing = true;
        w->fsyncs++;
        uint64_t target = w->end;
        pthread_mutex_unlock(&w->mu);
        int st = fs_sync(w->f, call);
        pthread_mutex_lock(&w->mu);
        w->syncing = false;
        if (st == XETS_OK)
            w->durable = target;
        else
            w->failed = call->error.err ? call->error.err : EIO;
        pthread_cond_broadcast(&w->cv);
        if (st != XETS_OK)
            return st;
    }
}

int wal_file_sync_upto(wal_file_t *w, uint64_t upto, xets_call_t *call)
{
    pthread_mutex_lock(&w->mu);
    int st = sync_locked(w, upto, call);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int wal_file_sync(wal_file_t *w, xets_call_t *call)
{
    return wal_file_sync_upto(w, UINT64_MAX, call);
}

/* *v, a field of w, read under w->mu. */
static uint64_t read_locked(wal_file_t *w, const uint64_t *v)
{
    pthread_mutex_lock(&w->mu);
    uint64_t x = *v;
    pthread_mutex_unlock(&w->mu);
    return x;
}

uint64_t wal_file_end(wal_file_t *w)
{
    return read_locked(w, &w->end);
}

uint64_t wal_file_durable(wal_file_t *w)
{
    return read_locked(w, &w->durable);
}

uint64_t wal_file_fsyncs(wal_file_t *w)
{
    return read_locked(w, &w->fsyncs);
}

void wal_file_close(wal_file_t *w)
{
    if (w->f)
        fs_close(w->f);
    bytes_free(&w->buf);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
