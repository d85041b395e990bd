/* The contract of disk/fs.h, run against both implementations: by
 * fs_os_test.c over the real file system, by fs_sim_test.c over the
 * simulated one (each links one of them). fs_contract(root) uses paths
 * below root, which must exist for fs_os (fs_dir_open makes one level).
 *
 * 1. Directories and the lock: a missing directory without create is
 *    NOTFOUND; create makes it; a second open, with or without create,
 *    is BUSY (the lock conflicts within one process) until the first is
 *    closed; fs_destroy of an open directory is BUSY; the lock's own file
 *    is never listed.
 * 2. Files: FS_READ and FS_WRITE of a missing file are NOTFOUND, FS_CREATE
 *    of a taken name EXISTS, each naming "open" and the file; what is
 *    written reads back, a write past the end leaves zeros before it; a
 *    read across the end gives what there is (*got < len), at or past the
 *    end nothing; size and truncate (cut, and extend with zeros); a write
 *    or truncate through an FS_READ handle is XETS_IO naming "write" (or
 *    "truncate"), the file and the offset; a megabyte in one call.
 * 3. Names: the list is exactly the files; rename replaces its target and
 *    the source is gone; rename of a missing file is XETS_IO ("rename");
 *    remove, then NOTFOUND for a second remove ("remove"); an open handle
 *    reads its file after the file is removed; all of it survives closing
 *    and reopening the directory.
 * 4. fs_destroy removes the directory and its files: NOTFOUND before it
 *    exists and after; a directory made again at the path is empty.
 * 5. Threads: writers and readers share one handle, each thread with its
 *    own range, while others create, list and remove files of their own
 *    (for ThreadSanitizer); then the whole file reads back.
 * 6. fs_dir_move moves a closed directory with its files (listed and read
 *    back at the new path, NOTFOUND at the old, and movable again); it
 *    refuses a missing source (NOTFOUND, "open", the source), a target
 *    that exists, even empty (EXISTS, "rename", the target: both left as
 *    they were), checked before the source (a missing source and a
 *    taken target: EXISTS), and a source open (BUSY, "lock", "LOCK").
 * Stops the test program at the first failure. */
#ifndef XETS_TEST_FS_CONTRACT_H
#define XETS_TEST_FS_CONTRACT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "check.h"
#include "disk/fs.h"
#include "status.h"

/* rc must be status, with the call's error naming op and file (as far as
 * call_error_t holds it), filled by this call: it is cleared before rc is
 * evaluated. */
#define CHECK_FAIL(rc, status, call, op_, file_)                                                 \
    do {                                                                                          \
        (call)->error = (call_error_t){0};                                                        \
        int rc_ = (rc);                                                                           \
        CHECK(rc_ == (status), "status %d, want %d", rc_, (status));                              \
        CHECK((call)->error.op && !strcmp((call)->error.op, (op_)), "op %s, want %s",             \
              (call)->error.op ? (call)->error.op : "(none)", (op_));                             \
        CHECK(!strncmp((call)->error.file, (file_), sizeof (call)->error.file - 1), "file %s, want %s", \
              (call)->error.file, (file_));                                                       \
        CHECK((call)->error.err != 0, "no errno");                                                \
    } while (0)

enum { FSC_PATH = 512 };

/* root/name into path, of FSC_PATH bytes. */
static void fsc_path(char *path, const char *root, const char *name)
{
    CHECK((size_t)snprintf(path, FSC_PATH, "%s/%s", root, name) < FSC_PATH, "path too long");
}

static fs_dir_t *fsc_dir(const char *path, bool create)
{
    fs_dir_t *d = NULL;
    int rc = fs_dir_open(path, create, &d, OWN_CALL);
    CHECK(rc == XETS_OK, "fs_dir_open %s: %d", path, rc);
    return d;
}

/* A new directory root/name, opened; its path into path. */
static fs_dir_t *fsc_fresh(char *path, const char *root, const char *name)
{
    fsc_path(path, root, name);
    return fsc_dir(path, true);
}

/* Closes d and destroys it. */
static void fsc_done(fs_dir_t *d, const char *path)
{
    fs_dir_close(d);
    CHECK(fs_destroy(path, OWN_CALL) == XETS_OK, "destroy %s", path);
}

static fs_file_t *fsc_open(fs_dir_t *d, const char *name, enum fs_mode mode)
{
    fs_file_t *f = NULL;
    int rc = fs_open(d, name, mode, &f, OWN_CALL);
    CHECK(rc == XETS_OK, "fs_open %s: %d", name, rc);
    return f;
}

static void fsc_write(fs_file_t *f, uint64_t offset, const void *buf, size_t len)
{
    int rc = fs_write(f, offset, buf, len, OWN_CALL);
    CHECK(rc == XETS_OK, "fs_write at %llu: %d", (unsigned long long)offset, rc);
}

static uint64_t fsc_size(fs_file_t *f)
{
    uint64_t size = 0;
    int rc = fs_size(f, &size, OWN_CALL);
    CHECK(rc == XETS_OK, "fs_size: %d", rc);
    return size;
}

/* The file must hold exactly len bytes, those of want. */
static void fsc_expect(fs_file_t *f, const void *want, size_t len)
{
    CHECK(fsc_size(f) == len, "size %llu, want %zu", (unsigned long long)fsc_size(f), len);
    unsigned char *buf = malloc(len + 1);
    size_t got = 0;
    int rc = fs_read(f, 0, buf, len + 1, &got, OWN_CALL);
    CHECK(rc == XETS_OK && got == len, "read: %d, got %zu of %zu", rc, got, len);
    CHECK(!len || !memcmp(buf, want, len), "content differs");
    free(buf);
}

/* A new file name holding len bytes of data, synced. */
static void fsc_put(fs_dir_t *d, const char *name, const void *data, size_t len)
{
    fs_file_t *f = fsc_open(d, name, FS_CREATE);
    fsc_write(f, 0, data, len);
    CHECK(fs_sync(f, OWN_CALL) == XETS_OK, "fs_sync %s", name);
    fs_close(f);
}

static void fsc_expect_file(fs_dir_t *d, const char *name, const void *want, size_t len)
{
    fs_file_t *f = fsc_open(d, name, FS_READ);
    fsc_expect(f, want, len);
    fs_close(f);
}

static int fsc_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory must list exactly want, a space-separated sorted list. */
static void fsc_expect_list(fs_dir_t *d, const char *want)
{
    char **names = NULL;
    size_t n = 0;
    int rc = fs_dir_list(d, &names, &n, OWN_CALL);
    CHECK(rc == XETS_OK, "fs_dir_list: %d", rc);
    qsort(names, n, sizeof *names, fsc_cmp_names);
    char got[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(got + used, sizeof got - used, "%s%s", i ? " " : "", names[i]);
    CHECK(!strcmp(got, want), "list \"%s\", want \"%s\"", got, want);
    free(names);
}

static void fsc_dir_and_lock(const char *root)
{
    char path[FSC_PATH];
    fsc_path(path, root, "lock");
    xets_call_t *call = OWN_CALL;
    fs_dir_t *d = NULL, *again = NULL;
    CHECK_FAIL(fs_dir_open(path, false, &d, call), XETS_NOTFOUND, call, "open", path);
    d = fsc_dir(path, true);
    CHECK_FAIL(fs_dir_open(path, true, &again, call), XETS_BUSY, call, "lock", "LOCK");
    CHECK_FAIL(fs_dir_open(path, false, &again, call), XETS_BUSY, call, "lock", "LOCK");
    CHECK_FAIL(fs_destroy(path, call), XETS_BUSY, call, "lock", "LOCK");
    fsc_expect_list(d, "");
    /* The lock's own file is out of reach. */
    fs_file_t *f = NULL;
    CHECK_FAIL(fs_open(d, "LOCK", FS_READ, &f, call), XETS_BADARG, call, "open", "LOCK");
    CHECK_FAIL(fs_open(d, "LOCK", FS_CREATE, &f, call), XETS_BADARG, call, "open", "LOCK");
    CHECK_FAIL(fs_remove(d, "LOCK", call), XETS_BADARG, call, "remove", "LOCK");
    fsc_put(d, "x", "x", 1);
    CHECK_FAIL(fs_rename(d, "x", "LOCK", call), XETS_BADARG, call, "rename", "x");
    CHECK(fs_remove(d, "x", call) == XETS_OK, "remove x");
    fs_dir_close(d);
    d = fsc_dir(path, false);
    CHECK_FAIL(fs_dir_open(path, false, &again, call), XETS_BUSY, call, "lock", "LOCK");
    fs_dir_close(d);
    d = fsc_dir(path, true); /* create of an existing directory opens it */
    fsc_done(d, path);
}

static void fsc_files(const char *root)
{
    char path[FSC_PATH];
    fs_dir_t *d = fsc_fresh(path, root, "files");
    xets_call_t *call = OWN_CALL;
    fs_file_t *f = NULL, *ro = NULL;
    CHECK_FAIL(fs_open(d, "a", FS_READ, &f, call), XETS_NOTFOUND, call, "open", "a");
    CHECK_FAIL(fs_open(d, "a", FS_WRITE, &f, call), XETS_NOTFOUND, call, "open", "a");
    f = fsc_open(d, "a", FS_CREATE);
    CHECK_FAIL(fs_open(d, "a", FS_CREATE, &ro, call), XETS_EXISTS, call, "open", "a");
    fsc_expect(f, "", 0);

    fsc_write(f, 0, "hello", 5);
    fsc_expect(f, "hello", 5);
    fsc_write(f, 10, "xy", 2);
    fsc_expect(f, "hello\0\0\0\0\0xy", 12);

    char buf[16];
    size_t got = 99;
    CHECK(fs_read(f, 8, buf, 10, &got, OWN_CALL) == XETS_OK && got == 4, "across the end: %zu", got);
    CHECK(!memcmp(buf, "\0\0xy", 4), "across the end: bytes");
    CHECK(fs_read(f, 12, buf, 4, &got, OWN_CALL) == XETS_OK && got == 0, "at the end: %zu", got);
    CHECK(fs_read(f, 1000, buf, 4, &got, OWN_CALL) == XETS_OK && got == 0, "past the end: %zu", got);

    CHECK(fs_truncate(f, 3, OWN_CALL) == XETS_OK, "truncate");
    fsc_expect(f, "hel", 3);
    CHECK(fs_truncate(f, 6, OWN_CALL) == XETS_OK, "truncate up");
    fsc_expect(f, "hel\0\0\0", 6);
    CHECK(fs_sync(f, OWN_CALL) == XETS_OK, "sync");

    ro = fsc_open(d, "a", FS_READ);
    CHECK_FAIL(fs_write(ro, 7, "z", 1, call), XETS_IO, call, "write", "a");
    CHECK(call->error.offset == 7, "write error at %llu", (unsigned long long)call->error.offset);
    CHECK_FAIL(fs_truncate(ro, 1, call), XETS_IO, call, "truncate", "a");
    fsc_expect(ro, "hel\0\0\0", 6);
    fs_close(ro);
    fs_close(f);

    f = fsc_open(d, "a", FS_WRITE); /* FS_WRITE sees and changes what is there */
    fsc_expect(f, "hel\0\0\0", 6);
    fsc_write(f, 3, "p!", 2);
    fsc_expect(f, "help!\0", 6);
    fs_close(f);

    enum { BIG = (1 << 20) + 17 };
    unsigned char *big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)(i * 131 + (i >> 9));
    f = fsc_open(d, "big", FS_CREATE);
    fsc_write(f, 0, big, BIG);
    fsc_expect(f, big, BIG);
    fs_close(f);
    free(big);

    fsc_done(d, path);
}

static void fsc_names(const char *root)
{
    char path[FSC_PATH];
    fs_dir_t *d = fsc_fresh(path, root, "names");
    xets_call_t *call = OWN_CALL;
    fs_file_t *f = NULL;
    fsc_put(d, "a", "first", 5);
    fsc_put(d, "b", "second", 6);
    fsc_put(d, "c", "third", 5);
    fsc_expect_list(d, "a b c");

    CHECK(fs_rename(d, "a", "b", OWN_CALL) == XETS_OK, "rename");
    fsc_expect_file(d, "b", "first", 5);
    CHECK_FAIL(fs_open(d, "a", FS_READ, &f, call), XETS_NOTFOUND, call, "open", "a");
    fsc_expect_list(d, "b c");
    CHECK_FAIL(fs_rename(d, "missing", "d", call), XETS_IO, call, "rename", "missing");
    CHECK(fs_rename(d, "c", "d", OWN_CALL) == XETS_OK, "rename to a new name");
    fsc_expect_list(d, "b d");

    f = fsc_open(d, "d", FS_READ);
    CHECK(fs_remove(d, "d", OWN_CALL) == XETS_OK, "remove");
    CHECK_FAIL(fs_remove(d, "d", call), XETS_NOTFOUND, call, "remove", "d");
    fsc_expect(f, "third", 5); /* an open file outlives its name */
    fs_close(f);
    fsc_expect_list(d, "b");
    CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    fs_dir_close(d);

    d = fsc_dir(path, false);
    fsc_expect_list(d, "b");
    fsc_expect_file(d, "b", "first", 5);
    fsc_done(d, path);
}

static void fsc_destroy(const char *root)
{
    char path[FSC_PATH];
    fsc_path(path, root, "destroy");
    xets_call_t *call = OWN_CALL;
    fs_dir_t *d = NULL;
    CHECK_FAIL(fs_destroy(path, call), XETS_NOTFOUND, call, "open", path);
    d = fsc_dir(path, true);
    fsc_put(d, "x", "1", 1);
    fsc_put(d, "y", "22", 2);
    CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    fsc_done(d, path);
    CHECK_FAIL(fs_dir_open(path, false, &d, call), XETS_NOTFOUND, call, "open", path);
    CHECK_FAIL(fs_destroy(path, call), XETS_NOTFOUND, call, "open", path);
    d = fsc_dir(path, true);
    fsc_expect_list(d, "");
    fsc_done(d, path);
}

enum { FSC_THREADS = 4, FSC_CHUNK = 4096, FSC_CHUNKS = 16 };

typedef struct fsc_worker {
    fs_dir_t *d;
    fs_file_t *shared;
    int id;
} fsc_worker_t;

static unsigned char fsc_byte(int id, size_t i)
{
    return (unsigned char)(id * 37 + i * 7 + (i >> 8));
}

static void *fsc_worker_main(void *arg)
{
    fsc_worker_t *w = arg;
    unsigned char buf[FSC_CHUNK], back[FSC_CHUNK];
    for (size_t c = 0; c < FSC_CHUNKS; c++) {
        /* Chunks of the threads interleave in the shared file. */
        uint64_t at = (c * FSC_THREADS + (size_t)w->id) * FSC_CHUNK;
        for (size_t i = 0; i < FSC_CHUNK; i++)
            buf[i] = fsc_byte(w->id, c * FSC_CHUNK + i);
        fsc_write(w->shared, at, buf, FSC_CHUNK);
        size_t got = 0;
        CHECK(fs_read(w->shared, at, back, FSC_CHUNK, &got, OWN_CALL) == XETS_OK && got == FSC_CHUNK,
              "thread read");
        CHECK(!memcmp(buf, back, FSC_CHUNK), "thread %d chunk %zu", w->id, c);

        char name[32];
        snprintf(name, sizeof name, "t%d.%zu", w->id, c);
        fsc_put(w->d, name, buf, 64);
        char **names = NULL;
        size_t n = 0;
        CHECK(fs_dir_list(w->d, &names, &n, OWN_CALL) == XETS_OK && n >= 2, "thread list");
        free(names);
        fsc_expect_file(w->d, name, buf, 64);
        CHECK(fs_remove(w->d, name, OWN_CALL) == XETS_OK, "thread remove");
    }
    return NULL;
}

static void fsc_threads(const char *root)
{
    char path[FSC_PATH];
    fs_dir_t *d = fsc_fresh(path, root, "threads");
    fs_file_t *shared = fsc_open(d, "shared", FS_CREATE);
    pthread_t th[FSC_THREADS];
    fsc_worker_t w[FSC_THREADS];
    for (int t = 0; t < FSC_THREADS; t++) {
        w[t] = (fsc_worker_t){.d = d, .shared = shared, .id = t};
        CHECK(pthread_create(&th[t], NULL, fsc_worker_main, &w[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < FSC_THREADS; t++)
        pthread_join(th[t], NULL);
    enum { TOTAL = FSC_THREADS * FSC_CHUNKS * FSC_CHUNK };
    unsigned char *want = malloc(TOTAL);
    for (size_t c = 0; c < FSC_CHUNKS; c++)
        for (int t = 0; t < FSC_THREADS; t++)
            for (size_t i = 0; i < FSC_CHUNK; i++)
                want[(c * FSC_THREADS + (size_t)t) * FSC_CHUNK + i] = fsc_byte(t, c * FSC_CHUNK + i);
    fsc_expect(shared, want, TOTAL);
    free(want);
    fs_close(shared);
    fsc_expect_list(d, "shared");
    fsc_done(d, path);
}

static void fsc_dir_move(const char *root)
{
    char from[FSC_PATH], to[FSC_PATH], gone[FSC_PATH];
    fsc_path(from, root, "move_from");
    fsc_path(to, root, "move_to");
    fsc_path(gone, root, "move_gone");
    xets_call_t *call = OWN_CALL;
    CHECK_FAIL(fs_dir_move(from, to, call), XETS_NOTFOUND, call, "open", from);

    fs_dir_t *d = fsc_dir(from, true);
    fsc_put(d, "a", "first", 5);
    fsc_put(d, "b", "second", 6);
    CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    CHECK_FAIL(fs_dir_move(from, to, call), XETS_BUSY, call, "lock", "LOCK");
    fs_dir_close(d);

    /* A taken target, even an empty directory, is refused; nothing moves. */
    fs_dir_t *t = fsc_dir(to, true);
    fs_dir_close(t);
    CHECK_FAIL(fs_dir_move(from, to, call), XETS_EXISTS, call, "rename", to);
    CHECK_FAIL(fs_dir_move(gone, to, call), XETS_EXISTS, call, "rename", to);
    t = fsc_dir(to, false);
    fsc_expect_list(t, "");
    fsc_done(t, to);
    d = fsc_dir(from, false);
    fsc_expect_list(d, "a b");
    fs_dir_close(d);

    CHECK(fs_dir_move(from, to, OWN_CALL) == XETS_OK, "move");
    fs_dir_t *no = NULL;
    CHECK_FAIL(fs_dir_open(from, false, &no, call), XETS_NOTFOUND, call, "open", from);
    CHECK_FAIL(fs_dir_move(from, gone, call), XETS_NOTFOUND, call, "open", from);
    t = fsc_dir(to, false);
    fsc_expect_list(t, "a b");
    fsc_expect_file(t, "a", "first", 5);
    fsc_expect_file(t, "b", "second", 6);
    fsc_put(t, "c", "third", 5); /* the moved directory works as any */
    CHECK(fs_dir_sync(t, OWN_CALL) == XETS_OK, "dir sync");
    fs_dir_close(t);

    /* And moves again, back to a path it left. */
    CHECK(fs_dir_move(to, from, OWN_CALL) == XETS_OK, "move back");
    CHECK_FAIL(fs_dir_open(to, false, &no, call), XETS_NOTFOUND, call, "open", to);
    d = fsc_dir(from, false);
    fsc_expect_list(d, "a b c");
    fsc_expect_file(d, "c", "third", 5);
    fsc_done(d, from);
}

static void fs_contract(const char *root)
{
    fsc_dir_and_lock(root);
    fsc_files(root);
    fsc_names(root);
    fsc_destroy(root);
    fsc_threads(root);
    fsc_dir_move(root);
}

#endif
