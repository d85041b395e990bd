/* A write-ahead log file (DESIGN.md, "The disk tier"; doc/wal_format.md):
 * the WAL codec (wal.h) over the file system (fs.h). A writer creates the
 * file or recovers an existing one, appends batches at its end and makes
 * them durable with wal_file_sync; recovery replays a file and leaves it
 * as durable as what it replayed.
 *
 * Order of writes and syncs, and why:
 *   create:  write the header record at 0; fs_sync the file; fs_dir_sync
 *            the directory. Only then is the writer returned, so that no
 *            append is acknowledged in a file whose name a power cut could
 *            still erase.
 *   append:  encode the batch with synced = the end of the last
 *            successful fs_sync (never more: a record claiming bytes not
 *            durable would turn a torn tail into corruption, log_record.h);
 *            write it at the end. Not durable until the next sync.
 *   sync:    fs_sync; only once it has answered XETS_OK does the durable
 *            end advance to the end of what was appended before it. A
 *            failed fs_sync fails the writer for good: the kernel may have
 *            dropped the unsynced pages and marked them clean, so no later
 *            fs_sync would write them (PostgreSQL's fsync lesson, fs.h).
 *            Every later append and sync answers XETS_IO naming that
 *            fsync and its errno; the store must move to a new file.
 *   recover: read the whole file and replay it; if its tail is torn,
 *            fs_truncate it there; then fs_sync the file and fs_dir_sync
 *            the directory, always, before returning: the file may hold
 *            bytes (and the directory a name) that only the page cache
 *            holds, after a process crash with no power cut, and a table
 *            that served them could see a power cut erase them.
 *
 * Recovery returns a writer positioned after the last record, with the
 * whole file durable. A file too short for its whole header (created,
 * then a crash before the header was durable) holds no batch: recovery
 * cuts it to empty and writes the header it is given into it, as create
 * does. A bad record that a later one proves durable is XETS_CORRUPT
 * (call->error: the file and the record's offset); the table does not
 * open, and nothing is cut.
 *
 * Group commit: appends and syncs may come from many threads at once.
 * Appends are serialized (one lock held across the write), so records go
 * out one at a time and each learns its end offset. A sync covers every
 * append that returned before it: it returns at once if that is durable
 * already; if an fsync is in flight it waits for it, and then for the next
 * one if that did not cover it; otherwise it leads: it takes the end as
 * it stands, runs fs_sync without the lock (appends go on meanwhile, their
 * records claiming only the old durable end), and only once fs_sync has
 * answered XETS_OK advances the durable end to the end it took and wakes
 * every waiter. So N threads that append and sync together cost about one
 * fsync per round, not N. A failed fsync fails the writer for good and
 * wakes every waiter with XETS_IO.
 *
 * Sequence numbers must rise in file order: a caller that picks its own
 * seq (wal_file_append) must order its appends itself; concurrent callers
 * use wal_file_append_next, which takes the next seq under the lock.
 *
 * Thread-safety: every call but create, recover and close may run
 * concurrently on one writer; close comes after every other call has
 * returned. Different writers are independent. Every call blocks, on I/O
 * or on another thread's fsync: only on xets's own threads or dirty I/O
 * schedulers, never inside an epoch section nor on a normal scheduler
 * (the store's committing thread will message waiting processes instead
 * of blocking a scheduler). */
#ifndef XETS_DISK_WAL_FILE_H
#define XETS_DISK_WAL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "../call.h"
#include "fs.h"
#include "wal.h"

typedef struct wal_file wal_file_t;

/* Creates WAL file number (names.h: NNNNNN.wal) in d, holding header h,
 * durably (see the top). XETS_OK with *out; XETS_EXISTS (the name is
 * taken); XETS_IO; XETS_NOMEM; XETS_BADARG (a name in h is not valid). On
 * failure the file may exist, empty or with part of its header: recovery
 * treats it as a file with no batch. */
int wal_file_create(fs_dir_t *d, uint64_t number, const wal_header_t *h, wal_file_t **out,
                    xets_call_t *call);

/* Called by recovery with each batch in order; its bytes live until it
 * returns. A status other than XETS_OK stops recovery, which returns it. */
typedef int (*wal_file_visit_t)(void *arg, uint64_t seq, const uint8_t *batch, size_t len);

/* Recovers WAL file number of d (see the top): calls visit for each batch
 * in order, cuts a torn tail, makes the file and its name durable, and
 * returns a writer at its end. h: on entry, the header to write if the
 * file holds none; on return, the file's header. XETS_OK with *out;
 * XETS_NOTFOUND (no such file); XETS_CORRUPT (call->error: file and
 * offset); XETS_BADARG (a format version not read: h->id.version tells
 * which); XETS_IO; XETS_NOMEM; or what visit returned. On any failure the
 * batches already visited must be dropped: nothing was made durable. */
int wal_file_recover(fs_dir_t *d, uint64_t number, wal_header_t *h, wal_file_visit_t visit,
                     void *arg, wal_file_t **out, xets_call_t *call);

/* Appends the batch seq, batch[0 .. len) at the end of the file; durable
 * after the next successful wal_file_sync. XETS_OK; XETS_IO (the write
 * failed: nothing is acknowledged, and the next append writes at the same
 * offset; or the writer failed for good); XETS_BADARG (seq not above the
 * last batch's, or below the header's first_seq: the file would read as
 * corrupt; or the batch is too long); XETS_NOMEM. */
int wal_file_append(wal_file_t *w, uint64_t seq, const void *batch, size_t len, xets_call_t *call);

/* As wal_file_append, with seq the one after the last batch's (the
 * header's first_seq in a file with none), taken under the append lock:
 * *seq is the batch's on XETS_OK, and *end (if not NULL) the end of its
 * record, the offset to give wal_file_sync_upto. */
int wal_file_append_next(wal_file_t *w, const void *batch, size_t len, uint64_t *seq,
                         uint64_t *end, xets_call_t *call);

/* A batch waiting to be appended, one of a list: its bytes follow it. */
typedef struct wal_batch {
    struct wal_batch *next;
    uint64_t seq;
    size_t len;
    unsigned char bytes[];
} wal_batch_t;

/* Appends the batches of list in order, each as wal_file_append would,
 * with one write: all of them, or none (nothing is acknowledged; the next
 * append writes at the same offset). *end (if not NULL): the end of the
 * last record. Statuses as wal_file_append; an empty list writes
 * nothing. */
int wal_file_append_batches(wal_file_t *w, const wal_batch_t *list, uint64_t *end,
                            xets_call_t *call);

/* Makes the file durable up to upto (at most the end at the call): shares
 * an fsync with concurrent callers (see the top). XETS_OK; XETS_IO, after
 * which the writer is failed for good (see the top). */
int wal_file_sync_upto(wal_file_t *w, uint64_t upto, xets_call_t *call);

/* Makes every batch appended before it durable: wal_file_sync_upto of the
 * end at the call. */
int wal_file_sync(wal_file_t *w, xets_call_t *call);

/* The end of the file as appended, the end of its durable prefix, and
 * how many fs_sync calls syncs have made (for group commit's tests and
 * stats). */
uint64_t wal_file_end(wal_file_t *w);
uint64_t wal_file_durable(wal_file_t *w);
uint64_t wal_file_fsyncs(wal_file_t *w);

/* Closes the file; what was not synced may be lost in a power cut. */
void wal_file_close(wal_file_t *w);

#endif
