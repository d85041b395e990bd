/* disk/fs_os.c on the real file system, in a fresh directory under $TMPDIR
 * (or /tmp): the contract of fs.h (fs_contract.h), then what only the OS
 * shows.
 * 1. Short counts and EINTR: this program is linked with pread and pwrite
 *    wrapped (c_src/Makefile); while `choppy`, each moves a seeded part of
 *    what it is asked, or fails with EINTR first, as the OS may. The
 *    contract's files and names still read and write whole, and a read
 *    the OS cuts short stops only at the end of the file.
 * 2. The lock across processes: a forked child cannot take the lock this
 *    process holds; this process cannot take the one a child holds, and
 *    takes it once SIGKILL has ended the child (no stale lock).
 * 3. Every fd fs_os.c keeps open is close-on-exec.
 * 4. On disk: the lock's file is there (and the contract saw it is not
 *    listed); a failed mkdir names "mkdir"; fs_destroy leaves nothing, so
 *    that the test directory itself can be removed at the end.
 * 5. A read on a thread that may not block (a normal scheduler's): bytes
 *    the OS holds in memory are read; once they are synced and dropped
 *    from its page cache (posix_fadvise, where the file system lets it:
 *    mincore says), XETS_BUSY with call->error untouched, while a thread
 *    that may block reads them, after which they are in memory again.
 * Exits nonzero on the first failure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "disk/fs.h"
#include "fs_contract.h"
#include "rng.h"
#include "status.h"

/* ---- a choppy OS: pread and pwrite wrapped at link time ------------------- */

/* Set and cleared while no other thread runs, which only reads it. */
static bool choppy;
static uint64_t chop_rng = 0x5DEECE66Du;
static unsigned long chopped, interrupted;

ssize_t __real_pread(int fd, void *buf, size_t len, off_t offset);
ssize_t __real_pwrite(int fd, const void *buf, size_t len, off_t offset);

/* How many of len bytes the OS moves this time; 0: it fails with EINTR. */
static size_t chop(size_t len)
{
    if (rng_below(&chop_rng, 4) == 0) {
        interrupted++;
        errno = EINTR;
        return 0;
    }
    chopped++;
    return 1 + rng_below(&chop_rng, len < 4096 ? len : 4096);
}

ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t offset)
{
    if (!choppy || !len)
        return __real_pread(fd, buf, len, offset);
    size_t n = chop(len);
    return n ? __real_pread(fd, buf, n, offset) : -1;
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t offset)
{
    if (!choppy || !len)
        return __real_pwrite(fd, buf, len, offset);
    size_t n = chop(len);
    return n ? __real_pwrite(fd, buf, n, offset) : -1;
}

static void test_short_counts(const char *root)
{
    choppy = true;
    fsc_files(root);
    fsc_names(root);
    choppy = false;
    /* Proof that the wrapping is linked in: else nothing was chopped. */
    CHECK(chopped > 500 && interrupted > 100, "chopped %lu, interrupted %lu", chopped, interrupted);
}

/* ---- the lock across processes -------------------------------------------- */

static void test_lock_across_processes(const char *root)
{
    char path[FSC_PATH];
    fs_dir_t *d = fsc_fresh(path, root, "fork"), *other = NULL;

    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0)
        _exit(fs_dir_open(path, false, &other, OWN_CALL) == XETS_BUSY ? 0 : 1);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child took the lock this process holds");
    fs_dir_close(d);

    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        char took = fs_dir_open(path, false, &other, OWN_CALL) == XETS_OK ? 'y' : 'n';
        if (write(ready[1], &took, 1) != 1)
            _exit(1);
        for (;;)
            pause(); /* holding the lock until killed */
    }
    char took = 0;
    CHECK(read(ready[0], &took, 1) == 1 && took == 'y', "the child could not take the lock");
    xets_call_t *call = OWN_CALL;
    CHECK_FAIL(fs_dir_open(path, false, &other, call), XETS_BUSY, call, "lock", "LOCK");
    CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, &status, 0) == pid, "kill the child");
    close(ready[0]);
    close(ready[1]);
    d = fsc_dir(path, false); /* the dead child's lock is gone */
    fsc_done(d, path);
}

/* ---- fds and the disk ----------------------------------------------------- */

/* Every fd open on a file below root must be close-on-exec. Returns how
 * many there are. */
static int check_cloexec_below(const char *root)
{
    char real[PATH_MAX];
    CHECK(realpath(root, real), "realpath %s", root);
    DIR *fds = opendir("/proc/self/fd");
    CHECK(fds, "/proc/self/fd");
    int found = 0;
    for (struct dirent *de; (de = readdir(fds));) {
        char link[64], target[PATH_MAX];
        int fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || fd == dirfd(fds))
            continue;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strncmp(target, real, strlen(real)))
            continue;
        found++;
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d on %s is not close-on-exec", fd, target);
    }
    closedir(fds);
    return found;
}

static void test_on_disk(const char *root)
{
    char path[FSC_PATH], lock[FSC_PATH + 8];
    fs_dir_t *d = fsc_fresh(path, root, "disk");
    fs_file_t *f = fsc_open(d, "f", FS_CREATE);
    CHECK(check_cloexec_below(root) == 3, "fds: the directory, its lock, the file");
    snprintf(lock, sizeof lock, "%s/LOCK", path);
    struct stat st;
    CHECK(stat(lock, &st) == 0, "no lock file");
    fs_close(f);
    fs_dir_close(d);
    CHECK(check_cloexec_below(root) == 0, "fds left open");

    char deep[600];
    snprintf(deep, sizeof deep, "%s/no/such", root);
    xets_call_t *call = OWN_CALL;
    CHECK_FAIL(fs_dir_open(deep, true, &d, call), XETS_IO, call, "mkdir", deep);
    CHECK(call->error.err == ENOENT, "errno %d", call->error.err);

    CHECK(fs_destroy(path, OWN_CALL) == XETS_OK, "destroy");
    CHECK(stat(path, &st) != 0 && errno == ENOENT, "destroy left the directory");
}

/* Whether the first page of the file at path is in the page cache. */
static bool resident(const char *path)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open %s", path);
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED, "mmap %s", path);
    unsigned char in = 0;
    CHECK(mincore(m, 4096, &in) == 0, "mincore");
    munmap(m, 4096);
    close(fd);
    return in & 1;
}

static void test_read_in_memory_only(const char *root)
{
    char path[FSC_PATH], file[FSC_PATH + 8];
    fs_dir_t *d = fsc_fresh(path, root, "nowait");
    fs_file_t *f = fsc_open(d, "f", FS_CREATE);
    static char data[4096], back[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    fsc_write(f, 0, data, sizeof data);
    xets_call_t normal;
    call_init(&normal, CALL_NORMAL, NULL);
    normal.error.op = "untouched";
    size_t got = 0;
    CHECK(fs_read(f, 0, back, sizeof back, &got, &normal) == XETS_OK && got == sizeof back &&
              memcmp(back, data, sizeof data) == 0,
          "bytes just written are read in place");
    CHECK(fs_sync(f, OWN_CALL) == XETS_OK, "sync");
    snprintf(file, sizeof file, "%s/f", path);
    int fd = open(file, O_RDONLY);
    CHECK(fd >= 0 && posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "fadvise");
    close(fd);
    if (resident(file)) {
        printf("fs_os_test: %s keeps the file in memory: no XETS_BUSY to see\n", root);
    } else {
        CHECK(fs_read(f, 0, back, sizeof back, &got, &normal) == XETS_BUSY && got == 0,
              "bytes not in memory: XETS_BUSY");
        CHECK(!strcmp(normal.error.op, "untouched"), "call->error untouched");
        CHECK(fs_read(f, 0, back, sizeof back, &got, OWN_CALL) == XETS_OK && got == sizeof back,
              "a thread that may block reads them");
    }
    memset(back, 0, sizeof back);
    CHECK(fs_read(f, 0, back, sizeof back, &got, &normal) == XETS_OK && got == sizeof back &&
              memcmp(back, data, sizeof data) == 0,
          "in memory again: read in place");
    fs_close(f);
    fsc_done(d, path);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char root[256];
    snprintf(root, sizeof root, "%s/xets_fs_os_test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(root), "mkdtemp %s", root);
    fs_contract(root);
    test_short_counts(root);
    test_lock_across_processes(root);
    test_on_disk(root);
    test_read_in_memory_only(root);
    CHECK(rmdir(root) == 0, "%s: not empty at the end", root);
    printf("fs_os_test: ok\n");
    return 0;
}
