/* fs.h over POSIX: the only code in xets that calls the OS for files.
 *
 * A directory handle is an fd of the directory; files are opened, renamed,
 * removed and listed relative to it (openat, renameat, unlinkat), so that a
 * table keeps working on its own directory whatever happens to the path.
 * fs_dir_sync is fsync of that fd.
 *
 * The lock is an open file description lock (fcntl F_OFD_SETLK, a write
 * lock over the whole file) on the file LOCK in the directory. Unlike a
 * process-associated POSIX lock, it conflicts between two opens in the same
 * process, and closing some other fd of the file does not drop it; like
 * any fcntl lock, the OS drops it when the process dies, so a crashed VM
 * leaves no stale lock behind (the LOCK file stays, and means nothing by
 * itself). A child forked while the lock is held shares the description
 * and so the lock; O_CLOEXEC on every fd keeps an exec'd one from keeping
 * it.
 *
 * Creating a directory is made durable by fsync of its parent; so is
 * fs_destroy's removal of it.
 *
 * Errors name, as fs.h says: the path for fs_dir_open and fs_destroy on the
 * directory itself (also for the fsync of its parent), "." for an open
 * directory, "LOCK" for the lock, else the file by the name it was opened
 * with.
 *
 * Thread-safety: no state of its own besides the fds; pread and pwrite at
 * explicit offsets let calls on one file run concurrently, and fs_dir_list
 * reads the directory through an fd of its own. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"

#define LOCK_NAME FS_LOCK_NAME

struct fs_dir {
    int fd;
    int lock_fd; /* LOCK, holding the OFD lock */
    bool is_volatile; /* fs_dir_set_volatile */
};

struct fs_file {
    int fd;
    bool is_volatile; /* its directory's, at its open */
    char name[]; /* for errors */
};

/* The status of a failed call, with errno e. */
static int io_fail(xets_call_t *call, const char *op, const char *name, uint64_t offset, int e)
{
    int status = e == ENOENT ? XETS_NOTFOUND : e == EEXIST ? XETS_EXISTS : XETS_IO;
    return call_fail(call, status, op, name, offset, e);
}

/* fsync of up, an fd of the directory that holds path's entry (opened as
 * path's "..": a directory has one parent), which makes the creation or
 * removal of path durable; closes up. up < 0: its open failed. */
static int sync_parent(int up, const char *path, xets_call_t *call)
{
    if (up < 0)
        return call_fail(call, XETS_IO, "open", path, 0, errno);
    int rc = fsync(up) == 0 ? XETS_OK : call_fail(call, XETS_IO, "fsync", path, 0, errno);
    close(up);
    return rc;
}

int fs_dir_open(const char *path, bool create, fs_dir_t **out, xets_call_t *call)
{
    if (create && mkdir(path, 0777) != 0 && errno != EEXIST)
        return call_fail(call, XETS_IO, "mkdir", path, 0, errno);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(call, "open", path, 0, errno);
    /* Also when it existed: an earlier open may have made it and failed
     * before this fsync, and nothing else would make it durable. */
    int rc = create ? sync_parent(openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC), path, call)
                    : XETS_OK;
    if (rc != XETS_OK) {
        close(fd);
        return rc;
    }
    int lock_fd = openat(fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd < 0) {
        int e = errno;
        close(fd);
        return call_fail(call, XETS_IO, "open", LOCK_NAME, 0, e);
    }
    struct flock whole = {.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* l_len 0: to any end */
    if (fcntl(lock_fd, F_OFD_SETLK, &whole) != 0) {
        int e = errno;
        close(lock_fd);
        close(fd);
        return call_fail(call, e == EAGAIN || e == EACCES ? XETS_BUSY : XETS_IO, "lock", LOCK_NAME,
                         0, e);
    }
    fs_dir_t *d = malloc(sizeof *d);
    if (!d) {
        close(lock_fd);
        close(fd);
        return call_fail(call, XETS_NOMEM, "open", path, 0, ENOMEM);
    }
    d->fd = fd;
    d->lock_fd = lock_fd;
    d->is_volatile = false;
    *out = d;
    return XETS_OK;
}

void fs_dir_close(fs_dir_t *d)
{
    close(d->lock_fd); /* the last fd of its description: drops the lock */
    close(d->fd);
    free(d);
}

void fs_dir_set_volatile(fs_dir_t *d)
{
    d->is_volatile = true;
}

int fs_dir_sync(fs_dir_t *d, xets_call_t *call)
{
    if (d->is_volatile || fsync(d->fd) == 0)
        return XETS_OK;
    return call_fail(call, XETS_IO, "fsync", ".", 0, errno);
}

/* Reads the names into one buffer, each ending in '\0', then lays out the
 * pointers in front of a copy of it. */
int fs_dir_list(fs_dir_t *d, char ***names, size_t *n, xets_call_t *call)
{
    /* An fd of its own: a dup of d->fd would share its position with
     * concurrent listings. */
    int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd < 0 ? NULL : fdopendir(fd);
    if (!dir) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return call_fail(call, XETS_IO, "list", ".", 0, e);
    }
    char *text = NULL;
    size_t used = 0, cap = 0, count = 0;
    int e = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            e = errno;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, LOCK_NAME))
            continue;
        size_t len = strlen(de->d_name) + 1;
        if (cap - used < len) {
            cap = (cap + len) * 2;
            char *grown = realloc(text, cap);
            if (!grown) {
                e = ENOMEM;
                break;
            }
            text = grown;
        }
        memcpy(text + used, de->d_name, len);
        used += len;
        count++;
    }
    closedir(dir);
    char **list = e ? NULL : malloc(count * sizeof *list + used + 1); /* + 1: never malloc(0) */
    if (!e && !list)
        e = ENOMEM;
    if (e) {
        free(text);
        return call_fail(call, e == ENOMEM ? XETS_NOMEM : XETS_IO, "list", ".", 0, e);
    }
    char *copy = (char *)(list + count);
    if (used)
        memcpy(copy, text, used);
    free(text);
    for (size_t i = 0; i < count; i++) {
        list[i] = copy;
        copy += strlen(copy) + 1;
    }
    *names = list;
    *n = count;
    return XETS_OK;
}

int fs_destroy(const char *path, xets_call_t *call)
{
    fs_dir_t *d;
    int rc = fs_dir_open(path, false, &d, call);
    if (rc != XETS_OK)
        return rc;
    char **names;
    size_t n;
    rc = fs_dir_list(d, &names, &n, call);
    if (rc == XETS_OK) {
        for (size_t i = 0; rc == XETS_OK && i < n; i++)
            rc = fs_remove(d, names[i], call);
        free(names);
    }
    /* LOCK goes last, while still held; an opener that comes between its
     * removal and the rmdir makes a new one, and the rmdir fails. */
    if (rc == XETS_OK && unlinkat(d->fd, LOCK_NAME, 0) != 0)
        rc = call_fail(call, XETS_IO, "remove", LOCK_NAME, 0, errno);
    int up = -1; /* the parent, opened through the directory while it is there */
    if (rc == XETS_OK && (up = openat(d->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = call_fail(call, XETS_IO, "open", path, 0, errno);
    fs_dir_close(d);
    if (rc == XETS_OK && rmdir(path) != 0)
        rc = call_fail(call, XETS_IO, "remove", path, 0, errno);
    if (rc == XETS_OK)
        return sync_parent(up, path, call);
    if (up >= 0)
        close(up);
    return rc;
}

/* rename(2) that never replaces to, even if it appears after the check
 * above (rename would put a directory in place of an empty one); plain
 * rename where the file system does not know the flag. */
static int no_replace_rename(const char *from, const char *to)
{
    int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
    return r != 0 && errno == EINVAL ? rename(from, to) : r;
}

int fs_dir_move(const char *from, const char *to, xets_call_t *call)
{
    struct stat st;
    if (lstat(to, &st) == 0)
        return call_fail(call, XETS_EXISTS, "rename", to, 0, EEXIST);
    fs_dir_t *d;
    int rc = fs_dir_open(from, false, &d, call); /* the lock: no table has it open */
    if (rc != XETS_OK)
        return rc;
    /* The parent the entry leaves, opened through the directory before it
     * moves, and the one it enters, after. */
    int up_from = openat(d->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (up_from < 0)
        rc = call_fail(call, XETS_IO, "open", from, 0, errno);
    if (rc == XETS_OK && no_replace_rename(from, to) != 0)
        rc = errno == EEXIST || errno == ENOTEMPTY
                 ? call_fail(call, XETS_EXISTS, "rename", to, 0, EEXIST)
                 : io_fail(call, "rename", from, 0, errno);
    if (rc == XETS_OK)
        rc = sync_parent(openat(d->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC), to, call);
    if (rc == XETS_OK)
        rc = sync_parent(up_from, from, call);
    else if (up_from >= 0)
        close(up_from);
    fs_dir_close(d);
    return rc;
}

int fs_open(fs_dir_t *d, const char *name, enum fs_mode mode, fs_file_t **out, xets_call_t *call)
{
    if (fs_name_reserved(name))
        return call_fail(call, XETS_BADARG, "open", name, 0, EPERM);
    static const int flags[] = {
        [FS_READ] = O_RDONLY,
        [FS_WRITE] = O_RDWR,
        [FS_CREATE] = O_RDWR | O_CREAT | O_EXCL,
    };
    size_t len = strlen(name) + 1;
    fs_file_t *f = malloc(sizeof *f + len);
    if (!f)
        return call_fail(call, XETS_NOMEM, "open", name, 0, ENOMEM);
    f->fd = openat(d->fd, name, flags[mode] | O_CLOEXEC, 0666);
    if (f->fd < 0) {
        int e = errno;
        free(f);
        return io_fail(call, "open", name, 0, e);
    }
    memcpy(f->name, name, len);
    f->is_volatile = d->is_volatile;
    *out = f;
    return XETS_OK;
}

void fs_close(fs_file_t *f)
{
    close(f->fd);
    free(f);
}

int fs_read(fs_file_t *f, uint64_t offset, void *buf, size_t len, size_t *got, xets_call_t *call)
{
    if (!call_may_block(call)) {
        /* In memory or not at all (fs.h): one call that never waits. */
        struct iovec v = {buf, len};
        ssize_t r = preadv2(f->fd, &v, 1, (off_t)offset, RWF_NOWAIT);
        *got = r == (ssize_t)len ? len : 0;
        return r == (ssize_t)len ? XETS_OK : XETS_BUSY;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(f->fd, (char *)buf + done, len - done, (off_t)(offset + done));
        if (r == 0)
            break; /* the end of the file */
        if (r > 0) {
            done += (size_t)r;
        } else if (errno != EINTR) {
            *got = done;
            return call_fail(call, XETS_IO, "read", f->name, offset + done, errno);
        }
    }
    *got = done;
    return XETS_OK;
}

int fs_write(fs_file_t *f, uint64_t offset, const void *buf, size_t len, xets_call_t *call)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(offset + done));
        if (r >= 0)
            done += (size_t)r;
        else if (errno != EINTR)
            return call_fail(call, XETS_IO, "write", f->name, offset + done, errno);
    }
    return XETS_OK;
}

int fs_sync(fs_file_t *f, xets_call_t *call)
{
    if (f->is_volatile || fdatasync(f->fd) == 0)
        return XETS_OK;
    return call_fail(call, XETS_IO, "fsync", f->name, 0, errno);
}

int fs_size(fs_file_t *f, uint64_t *size, xets_call_t *call)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return call_fail(call, XETS_IO, "stat", f->name, 0, errno);
    *size = (uint64_t)st.st_size;
    return XETS_OK;
}

int fs_truncate(fs_file_t *f, uint64_t size, xets_call_t *call)
{
    return ftruncate(f->fd, (off_t)size) == 0 ? XETS_OK
                                              : call_fail(call, XETS_IO, "truncate", f->name, size, errno);
}

int fs_rename(fs_dir_t *d, const char *from, const char *to, xets_call_t *call)
{
    if (fs_name_reserved(from) || fs_name_reserved(to))
        return call_fail(call, XETS_BADARG, "rename", from, 0, EPERM);
    return renameat(d->fd, from, d->fd, to) == 0 ? XETS_OK
                                                 : call_fail(call, XETS_IO, "rename", from, 0, errno);
}

int fs_remove(fs_dir_t *d, const char *name, xets_call_t *call)
{
    if (fs_name_reserved(name))
        return call_fail(call, XETS_BADARG, "remove", name, 0, EPERM);
    return unlinkat(d->fd, name, 0) == 0 ? XETS_OK : io_fail(call, "remove", name, 0, errno);
}
