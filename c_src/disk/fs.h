/* The file system as the disk tier sees it (DESIGN.md, "The disk tier"):
 * the one interface through which xets touches files. fs_os.c implements
 * it with POSIX calls and is the only code that calls the OS for files;
 * the plain C tests link fs_sim.c instead, a simulated file system that
 * remembers what was made durable and can lose the rest (fs_sim.h).
 *
 * A table's files live in one directory, opened with fs_dir_open, which
 * also takes the directory's lock: an OS lock that no second opener (in
 * this process or another) can take, and that the OS releases when the
 * process dies, so that no stale lock ever blocks a restart. Files are
 * named within their directory by short names (no '/').
 *
 * Durability. A write is durable once fs_sync of its file has returned
 * XETS_OK; a file's creation, rename or removal is durable once fs_dir_sync
 * of its directory has returned XETS_OK. Until then a crash may lose it,
 * or (a write) keep any part of it, torn at any byte. After a failed
 * fs_sync nothing about the file's unsynced writes is known: the caller
 * must not claim them durable, now or after a retry.
 *
 * Reads and writes move every byte asked for: they loop over short reads
 * and writes and over EINTR. A read stops short only at the end of the
 * file (*got tells how far it came).
 *
 * Errors. Every call that can fail returns XETS_OK or a status, and on
 * any other status fills call->error (call.h) with the operation ("open",
 * "read", "write", "fsync", "rename", "remove", "lock", "list", "mkdir",
 * "truncate", "stat"), the file's name (the directory's path for
 * fs_dir_open and fs_destroy, "." for the directory of fs_dir_sync and
 * fs_dir_list, "LOCK" for the lock), the offset where it applies and
 * errno.
 * Every call may block: none may be made inside an epoch section
 * (epoch.h) or on a normal scheduler (call_may_block), but fs_read on a
 * thread that may not block, which then blocks on nothing (below).
 *
 * Thread-safety: calls on different handles may run concurrently; calls on
 * one fs_file_t may run concurrently except fs_close; fs_dir_t calls may
 * run concurrently except fs_dir_close, which comes after every file of
 * the directory is closed. */
#ifndef XETS_DISK_FS_H
#define XETS_DISK_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../call.h"
#include "../status.h"

typedef struct fs_dir fs_dir_t;
typedef struct fs_file fs_file_t;

/* Opens the directory at path, creating it (and making its creation
 * durable) if create and it does not exist, and takes its lock. XETS_OK;
 * XETS_NOTFOUND if it does not exist and not create; XETS_BUSY if its lock
 * is held (by this process or another); XETS_IO; XETS_NOMEM. */
int fs_dir_open(const char *path, bool create, fs_dir_t **out, xets_call_t *call);
/* Releases the lock and the handle. */
void fs_dir_close(fs_dir_t *d);
/* Says that d's files need not outlive the process (a spilling table's):
 * from now on fs_dir_sync of d, and fs_sync of the files opened in it,
 * do nothing and answer XETS_OK. */
void fs_dir_set_volatile(fs_dir_t *d);
/* Makes the creations, renames and removals of files in d durable. */
int fs_dir_sync(fs_dir_t *d, xets_call_t *call);

/* The names of the files in d (not "." or ".." or the lock's own file),
 * in no particular order: *names is one allocation holding *n pointers
 * and the strings, freed with free(). */
int fs_dir_list(fs_dir_t *d, char ***names, size_t *n, xets_call_t *call);

/* Removes every file of the directory at path, then the directory,
 * durably. The directory must not be open. XETS_NOTFOUND if it does not
 * exist; XETS_BUSY if its lock is held. */
int fs_destroy(const char *path, xets_call_t *call);

/* Renames the directory at from to to, durably (its parents' entries
 * synced). The directory must not be open; to must not exist, and a to
 * made meanwhile is never replaced. XETS_EXISTS if to does (checked
 * first); else XETS_NOTFOUND if from does not exist; XETS_BUSY if from's
 * lock is held. */
int fs_dir_move(const char *from, const char *to, xets_call_t *call);

enum fs_mode {
    FS_READ,   /* an existing file, read only */
    FS_WRITE,  /* an existing file, read and write */
    FS_CREATE  /* a new file, read and write; XETS_EXISTS if the name is taken */
};

/* The name of the lock's own file, which fs_open, fs_rename and fs_remove
 * refuse (XETS_BADARG): a caller that removed it while held would let a
 * second opener lock a new file. */
#define FS_LOCK_NAME "LOCK"

static inline bool fs_name_reserved(const char *name)
{
    return strcmp(name, FS_LOCK_NAME) == 0;
}

/* Opens name in d. XETS_NOTFOUND if it does not exist (FS_READ, FS_WRITE). */
int fs_open(fs_dir_t *d, const char *name, enum fs_mode mode, fs_file_t **out,
            xets_call_t *call);
void fs_close(fs_file_t *f);

/* Reads len bytes at offset into buf; *got < len only at the end of the
 * file. On a thread that may not block (call_may_block), it reads only
 * what the OS holds in memory, a copy (preadv2's RWF_NOWAIT): XETS_BUSY,
 * call->error untouched, when any of it would wait for the device (or
 * the read fails, or ends short: a thread that may block then reads it
 * and tells which). */
int fs_read(fs_file_t *f, uint64_t offset, void *buf, size_t len, size_t *got,
            xets_call_t *call);
/* Writes len bytes at offset (extending the file if need be). */
int fs_write(fs_file_t *f, uint64_t offset, const void *buf, size_t len, xets_call_t *call);
/* Makes the file's writes and size durable (fdatasync). */
int fs_sync(fs_file_t *f, xets_call_t *call);
int fs_size(fs_file_t *f, uint64_t *size, xets_call_t *call);
/* Cuts (or extends with zeros) the file to size bytes. */
int fs_truncate(fs_file_t *f, uint64_t size, xets_call_t *call);

/* Renames from to to within d, replacing to if it exists, atomically:
 * after a crash, to names either its old file or from's. */
int fs_rename(fs_dir_t *d, const char *from, const char *to, xets_call_t *call);
/* Removes name from d. XETS_NOTFOUND if it does not exist. */
int fs_remove(fs_dir_t *d, const char *name, xets_call_t *call);

/* ---- built on the calls above, for every implementation ---- */

/* Reads the whole of f (named name, for errors) into a buffer of its own,
 * *buf (freed with free()), of *len bytes: fewer than fs_size said only if
 * the file shrank meanwhile. */
static inline int fs_read_all(fs_file_t *f, const char *name, uint8_t **buf, size_t *len,
                              xets_call_t *call)
{
    uint64_t size;
    int st = fs_size(f, &size, call);
    if (st != XETS_OK)
        return st;
    if (size > SIZE_MAX)
        return call_fail(call, XETS_IO, "read", name, 0, EFBIG);
    *buf = malloc(size ? (size_t)size : 1);
    if (*buf == NULL)
        return XETS_NOMEM;
    st = fs_read(f, 0, *buf, (size_t)size, len, call);
    if (st != XETS_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

/* Makes f's content and its name in d durable: the file first, so that
 * the name never durably points at bytes that are not. */
static inline int fs_sync_named(fs_dir_t *d, fs_file_t *f, xets_call_t *call)
{
    int st = fs_sync(f, call);
    return st == XETS_OK ? fs_dir_sync(d, call) : st;
}

#endif
