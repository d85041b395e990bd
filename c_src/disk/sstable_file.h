/* SSTables as files (DESIGN.md, "The disk tier"): the codec of sstable.h
 * over the file system of fs.h, writing a table so that a crash never
 * leaves a partial one under its name, and reading one so that a file
 * shorter than its footer claims is corrupt, not an I/O failure.
 *
 * Writing table n:
 *   1. fs_open(FS_CREATE) the temporary name 000n.sst.tmp (names.h);
 *   2. the builder writes the table through fs_write, in one pass;
 *   3. fs_sync the file: its bytes and size are durable;
 *   4. fs_rename the temporary name to 000n.sst;
 *   5. fs_dir_sync the directory: the name is durable.
 * Sync before rename: a rename may reach the disk before data written
 * ahead of it, so renaming first could leave, after a crash, a torn table
 * under the final name; synced first, the final name, if a crash keeps
 * it, names the whole table. Directory sync last: until it returns, a
 * crash may undo the rename. Only when sst_file_finish has returned XETS_OK
 * is the table durable under its name, and only then may the manifest edit
 * that adds it be written: an edit written earlier could survive a crash
 * that loses the file, and recovery would find the manifest naming a table
 * that is not there (names_orphans: XETS_CORRUPT).
 *
 * A write that fails, or that its caller gives up, is abandoned by
 * sst_file_writer_free: the file is closed and its name removed (the
 * temporary one, or the final one if the rename was done but the directory
 * sync failed), best effort and without a directory sync. Whatever a crash
 * or a failed removal leaves (the temporary name, or a whole table under a
 * final name no manifest holds) is an orphan that names_orphans reports and
 * recovery removes. The number must be fresh (the manifest's next_file):
 * a temporary name left by an earlier life with the same number makes the
 * create fail with XETS_EXISTS, so recovery removes orphans before it hands
 * out numbers.
 *
 * Reading: fs_open(FS_READ) the final name, fs_size, and an sst_reader_t
 * whose read callback requires every byte: the reader asks only for bytes
 * within the size it was given, so a short read means the file shrank
 * under it, shorter than its footer claims: XETS_CORRUPT with
 * call->error.op "truncated" and the offset where the bytes stop. The
 * reader's errors name the file (000n.sst). Once open, the table reads its
 * data blocks through its store's cache (block_cache.h), which holds them
 * checked and uncompressed once (sst_reader_unpack) and lends them to the
 * reader (sst_borrow_fn): a read copies nothing, and an entry's value
 * stays valid until the caller's epoch section ends, whatever the cache
 * evicts meanwhile. Only inside a section does a table lend: there it
 * never blocks either, and a block not cached answers XETS_NEED_IO with a
 * request (call.h) that loads it, holding a reference to the table until
 * it runs or is dropped; a walk's request loads the blocks after it too
 * (SST_READAHEAD). The block the request was for stays pinned for the
 * operation that asked, from redo to redo, until it ends (call->keep), so
 * that an operation needing many blocks at once finds them all however
 * small the cache. Outside
 * any section (a flush, a compaction: threads that may block) the reader
 * reads each block into its own buffer, and the cache is neither used nor
 * filled by it.
 *
 * Pins. A call that reads a key's state and writes the key later, in
 * another store operation (a list insert's lookups before its puts, a
 * select chunk's writes after its lookups), must find the state again
 * without I/O: it cannot answer XETS_NEED_IO with half its writes done.
 * Such a call sets call->pins (the LSM store's holds and groups do:
 * store.h, hold): every block lent to it is pinned (block_cache.h), with
 * a reference to its table, until sst_pins_release, so that neither the
 * cache nor a close takes it away meanwhile.
 *
 * Warming. A table just written (a flush's, a compaction's) may fill the
 * cache with its blocks while they fit without evicting anything
 * (sst_file_warm): a table within its memory limit then stays in memory
 * whole, as it was in its memtables, and a larger one pushes nothing
 * out.
 *
 * Errors: as fs.h and sstable.h say, call->error naming the file (the
 * temporary name for a failure while writing it) and the offset.
 *
 * Thread-safety: a writer is used by one thread. A table open for reading
 * is as its sst_reader_t: any number of threads may read it at once,
 * filling the cache together; it is freed when its last reference is
 * closed (the opener's, one per pending load request, one per pin). No
 * call but a read inside a section (which never blocks) may be made
 * inside an epoch section or on a normal scheduler (fs.h). */
#ifndef XETS_DISK_SSTABLE_FILE_H
#define XETS_DISK_SSTABLE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "../call.h"
#include "block_cache.h"
#include "fs.h"
#include "sstable.h"

/* Blocks a walk's request loads, the one it missed and those after it. */
#define SST_READAHEAD 16

/* ---- writing ---- */

typedef struct sst_file_writer sst_file_writer_t;

/* Starts table number in d, written under its temporary name. XETS_OK;
 * XETS_BADARG (the options, as sst_builder_new); XETS_EXISTS (the
 * temporary name is taken); XETS_NOMEM; XETS_IO. Nothing is left behind
 * on failure. */
int sst_file_create(fs_dir_t *d, uint64_t number, const sst_options_t *o,
                    sst_file_writer_t **out, xets_call_t *call);

/* Appends an entry, as sst_builder_add. After a failure other than
 * XETS_BADARG the writer can only be freed. */
int sst_file_add(sst_file_writer_t *w, const unsigned char *key, size_t klen, uint64_t seq,
                 uint8_t kind, const unsigned char *val, size_t vlen, xets_call_t *call);

/* Finishes the table and makes it durable under its final name (steps 3 to
 * 5 above). XETS_OK with *out filled (its keys valid until
 * sst_file_writer_free): now the manifest may name the table. Any failure
 * leaves the writer only to be freed, which abandons the table. */
int sst_file_finish(sst_file_writer_t *w, sst_built_t *out, xets_call_t *call);

/* Frees w; unless sst_file_finish returned XETS_OK, abandons the table
 * (see the top). */
void sst_file_writer_free(sst_file_writer_t *w);

/* ---- reading ---- */

typedef struct sst_file sst_file_t;

/* Opens table number in d for reading (reading its footer and index here:
 * the thread may block), its blocks cached in cache. XETS_OK;
 * XETS_NOTFOUND; or a failure as fs_open, fs_size and sst_reader_open. */
int sst_file_open(fs_dir_t *d, uint64_t number, block_cache_t *cache, sst_file_t **out,
                  xets_call_t *call);
/* Takes another reference to f, closed with sst_file_close. */
void sst_file_ref(sst_file_t *f);
/* Loads f's blocks into the cache, in order, while they fit without
 * evicting (see the top, "Warming"). Outside any section. XETS_OK or a
 * read's failure. */
int sst_file_warm(sst_file_t *f, xets_call_t *call);
/* Its reader, valid until sst_file_close. */
const sst_reader_t *sst_file_reader(const sst_file_t *f);
void sst_file_close(sst_file_t *f);

/* ---- pins (see the top) ---- */

typedef struct sst_pin {
    sst_file_t *f;
    cache_entry_t *e;
} sst_pin_t;

typedef struct sst_pins {
    sst_pin_t *v;
    size_t n, cap;
} sst_pins_t;

/* Unpins every block of pins and closes their references, leaving pins
 * empty. Any thread, in a section or not. */
void sst_pins_release(sst_pins_t *pins);

#endif
