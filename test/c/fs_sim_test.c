/* disk/fs_sim.c: the contract of fs.h (fs_contract.h), then the simulation
 * itself, which every crash test trusts.
 * 1. A power cut keeps exactly what was synced: files synced and named by
 *    a synced directory come back byte for byte, whatever the seed.
 * 2. Unsynced changes survive as a seeded prefix, the next write torn at a
 *    byte, the size maybe moved between the durable and the current one
 *    (zeros past the kept bytes): each outcome of many seeds is one of
 *    those, computed here on a model, and the seeds show each kind
 *    (nothing kept, all kept, a torn write, a moved size).
 * 3. The same seed after the same calls gives the same file system, byte
 *    for byte; other seeds give others.
 * 4. Directory edits without fs_dir_sync: a created name may vanish, a
 *    removed one come back, a rename lands whole or not at all (its
 *    target never missing), edits survive out of order; after fs_dir_sync
 *    they all stay.
 * 5. Faults: each call of a small scenario, failed in turn, reports
 *    XETS_IO with that call's op, file and errno, and does nothing: the
 *    same call then succeeds and the scenario ends as it would have; each
 *    call counts once. A short write writes half and says where it
 *    stopped. A halt fails every call from there on, and the power cut
 *    keeps no call made after it.
 * 6. A failed fs_sync loses the writes before it even when a later
 *    fs_sync succeeds (reads see them until the power cut); what is
 *    rewritten after the failure is durable.
 * 7. Handles opened before a power cut or a reset are stale (XETS_IO,
 *    EIO); the power cut releases the lock, and closing a stale handle
 *    does not release a new one's.
 * 8. fs_dir_move is durable when it returns: after a power cut the
 *    directory is at its new path only, its synced files whole; a file
 *    whose creation the directory never synced is there (a prefix of its
 *    unsynced bytes) or not, as before the move, each outcome seen; and
 *    it moves back to the path it left.
 * Exits nonzero on the first failure. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/fs.h"
#include "disk/fs_sim.h"
#include "fs_contract.h"
#include "status.h"

typedef struct buf {
    unsigned char *p;
    size_t len;
} buf_t;

static void buf_put(buf_t *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    CHECK(b->p, "out of memory");
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Cuts b, or extends it with zeros. */
static void buf_resize(buf_t *b, size_t len)
{
    if (len > b->len) {
        b->p = realloc(b->p, len + 1);
        CHECK(b->p, "out of memory");
        memset(b->p + b->len, 0, len - b->len);
    }
    b->len = len;
}

/* The whole content of name in d; a missing file leaves *b empty and
 * returns false. */
static bool read_file(fs_dir_t *d, const char *name, buf_t *b)
{
    b->len = 0;
    fs_file_t *f = NULL;
    int rc = fs_open(d, name, FS_READ, &f, OWN_CALL);
    if (rc == XETS_NOTFOUND)
        return false;
    CHECK(rc == XETS_OK, "open %s: %d", name, rc);
    buf_resize(b, fsc_size(f));
    size_t got = 0;
    CHECK(fs_read(f, 0, b->p, b->len, &got, OWN_CALL) == XETS_OK && got == b->len, "read %s", name);
    fs_close(f);
    return true;
}

static bool file_is(fs_dir_t *d, const char *name, const char *want)
{
    buf_t b = {0};
    bool is = read_file(d, name, &b) && b.len == strlen(want) && !memcmp(b.p, want, b.len);
    free(b.p);
    return is;
}

static bool file_exists(fs_dir_t *d, const char *name)
{
    buf_t b = {0};
    bool exists = read_file(d, name, &b);
    free(b.p);
    return exists;
}

/* ---- 1. synced state ------------------------------------------------------ */

static void test_cut_keeps_synced(void)
{
    unsigned char a[300], b[5000];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (unsigned char)(i * 13 + 1);
    for (uint64_t seed = 0; seed < 500; seed++) {
        fs_sim_reset();
        fs_dir_t *d = fsc_dir("/s", true);
        fsc_put(d, "a", a, sizeof a);
        fs_file_t *f = fsc_open(d, "b", FS_CREATE);
        fsc_write(f, 0, b, 100); /* rewritten whole before its sync */
        fsc_write(f, 0, b, sizeof b);
        CHECK(fs_sync(f, OWN_CALL) == XETS_OK, "sync");
        fs_close(f);
        CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
        f = fsc_open(d, "loose", FS_CREATE); /* unsynced, beside them */
        fsc_write(f, 0, b, 999);
        fs_close(f);
        fs_dir_close(d);

        fs_sim_power_cut(seed);
        d = fsc_dir("/s", false);
        fsc_expect_file(d, "a", a, sizeof a);
        fsc_expect_file(d, "b", b, sizeof b);
        fs_dir_close(d);
    }
}

/* ---- 2. unsynced changes: a prefix, torn, a size moved -------------------- */

typedef struct change {
    uint64_t at; /* a truncate's size */
    size_t len;  /* 0: a truncate */
    char fill;
} change_t;

static const change_t changes[] = {
    {10, 20, 'a'}, {35, 30, 'b'}, {50, 0, 0}, {45, 25, 'c'}, {0, 8, 'd'},
};
enum { NCHANGES = sizeof changes / sizeof changes[0], DURABLE = 40 };

static void model_apply(buf_t *b, const change_t *c, size_t n)
{
    if (!c->len) {
        buf_resize(b, c->at);
        return;
    }
    if (c->at + n > b->len)
        buf_resize(b, c->at + n);
    memset(b->p + c->at, c->fill, n);
}

/* Sets up /t/f: DURABLE bytes synced, then the changes, unsynced. Returns
 * its current size. */
static size_t build_torn(void)
{
    fs_sim_reset();
    fs_dir_t *d = fsc_dir("/t", true);
    char durable[DURABLE], fill[64];
    memset(durable, 'D', sizeof durable);
    fsc_put(d, "f", durable, sizeof durable);
    CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    fs_file_t *f = fsc_open(d, "f", FS_WRITE);
    for (size_t i = 0; i < NCHANGES; i++) {
        memset(fill, changes[i].fill, sizeof fill);
        if (changes[i].len)
            fsc_write(f, changes[i].at, fill, changes[i].len);
        else
            CHECK(fs_truncate(f, changes[i].at, OWN_CALL) == XETS_OK, "truncate");
    }
    size_t size = fsc_size(f);
    fs_close(f);
    fs_dir_close(d);
    return size;
}

enum outcome { NONE_KEPT, ALL_KEPT, TORN, SIZE_MOVED, OTHER, OUTCOMES };

/* Which kind of outcome r is, after DURABLE bytes and the changes (current
 * size now); fails if it is none that fs_sim.c allows. */
static enum outcome classify(const buf_t *r, size_t now)
{
    size_t lo = DURABLE < now ? DURABLE : now, hi = DURABLE < now ? now : DURABLE;
    bool exact = false, exact_torn = false, moved = false, none = false, all = false;
    buf_t c = {0};
    for (size_t kept = 0; kept <= NCHANGES; kept++) {
        size_t tears = kept < NCHANGES ? changes[kept].len : 0; /* torn at 1 .. len - 1 */
        for (size_t t = 0; t < (tears ? tears : 1); t++) {
            c.len = 0;
            buf_resize(&c, DURABLE);
            memset(c.p, 'D', DURABLE);
            for (size_t i = 0; i < kept; i++)
                model_apply(&c, &changes[i], changes[i].len);
            if (t)
                model_apply(&c, &changes[kept], t);
            if (c.len == r->len && !memcmp(c.p, r->p, r->len)) {
                exact_torn |= t != 0;
                exact |= t == 0;
                none |= t == 0 && kept == 0;
                all |= t == 0 && kept == NCHANGES;
            }
            if (c.len != r->len && r->len >= lo && r->len <= hi) {
                buf_resize(&c, r->len);
                moved |= !memcmp(c.p, r->p, r->len);
            }
        }
    }
    free(c.p);
    CHECK(exact || exact_torn || moved, "an outcome no prefix, tear or size gives (size %zu)", r->len);
    /* A torn write and a moved size may look alike (an append cut short):
     * only an outcome that one of them alone explains shows it. */
    return none              ? NONE_KEPT
         : all               ? ALL_KEPT
         : exact             ? OTHER
         : exact_torn && !moved ? TORN
         : moved && !exact_torn ? SIZE_MOVED
                             : OTHER;
}

static void test_cut_keeps_a_torn_prefix(void)
{
    unsigned seen[OUTCOMES] = {0};
    buf_t r = {0};
    for (uint64_t seed = 0; seed < 3000; seed++) {
        size_t now = build_torn();
        fs_sim_power_cut(seed);
        fs_dir_t *d = fsc_dir("/t", false);
        CHECK(read_file(d, "f", &r), "f is gone");
        fs_dir_close(d);
        seen[classify(&r, now)]++;
    }
    free(r.p);
    CHECK(seen[NONE_KEPT] && seen[ALL_KEPT] && seen[TORN] && seen[SIZE_MOVED],
          "seeds did not show every outcome: none %u, all %u, torn %u, size %u", seen[NONE_KEPT],
          seen[ALL_KEPT], seen[TORN], seen[SIZE_MOVED]);
}

/* ---- 3. same seed, same outcome ------------------------------------------- */

/* Synced and unsynced writes, edits of two directories, a failed fsync. */
static void build_mixed(void)
{
    fs_sim_reset();
    char data[2000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 31 + (i >> 4));
    fs_dir_t *d1 = fsc_dir("/m1", true), *d2 = fsc_dir("/m2", true);
    fsc_put(d1, "base", data, 500);
    fsc_put(d2, "other", data + 7, 300);
    CHECK(fs_dir_sync(d1, OWN_CALL) == XETS_OK && fs_dir_sync(d2, OWN_CALL) == XETS_OK, "dir sync");
    fs_file_t *f = fsc_open(d1, "base", FS_WRITE);
    for (int i = 0; i < 12; i++)
        fsc_write(f, (uint64_t)i * 97, data + i * 50, 150);
    fs_close(f);
    fs_file_t *g = fsc_open(d2, "log", FS_CREATE);
    fsc_write(g, 0, data, 700);
    fs_sim_fail(0, EIO, FS_SIM_FAIL);
    CHECK(fs_sync(g, OWN_CALL) == XETS_IO, "failed sync");
    fsc_write(g, 700, data, 300);
    CHECK(fs_sync(g, OWN_CALL) == XETS_OK, "sync");
    fsc_write(g, 1000, data + 1, 400);
    fs_close(g);
    fsc_put(d1, "new1", data + 3, 64);
    fsc_put(d1, "new2", data + 5, 65);
    CHECK(fs_rename(d1, "new1", "base", OWN_CALL) == XETS_OK, "rename");
    CHECK(fs_remove(d2, "other", OWN_CALL) == XETS_OK, "remove");
    fs_dir_close(d1);
    fs_dir_close(d2);
}

/* Every directory of build_mixed, its names sorted and their contents. */
static void snapshot(buf_t *out)
{
    static const char *const dirs[] = {"/m1", "/m2"};
    out->len = 0;
    buf_t b = {0};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        fs_dir_t *d = fsc_dir(dirs[i], false);
        char **names = NULL;
        size_t n = 0;
        CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK, "list");
        qsort(names, n, sizeof *names, fsc_cmp_names);
        for (size_t j = 0; j < n; j++) {
            CHECK(read_file(d, names[j], &b), "listed, not there: %s", names[j]);
            buf_put(out, names[j], strlen(names[j]) + 1);
            buf_put(out, &b.len, sizeof b.len);
            buf_put(out, b.p, b.len);
        }
        free(names);
        fs_dir_close(d);
    }
    free(b.p);
}

static void test_same_seed_same_outcome(void)
{
    buf_t first = {0}, again = {0}, zero = {0};
    unsigned differ = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        build_mixed();
        fs_sim_power_cut(seed);
        snapshot(&first);
        build_mixed();
        fs_sim_power_cut(seed);
        snapshot(&again);
        CHECK(first.len == again.len && !memcmp(first.p, again.p, first.len), "seed %llu replayed differently",
              (unsigned long long)seed);
        if (seed == 0)
            buf_put(&zero, first.p, first.len);
        else
            differ += first.len != zero.len || memcmp(first.p, zero.p, zero.len);
    }
    CHECK(differ > 150, "only %u seeds of 199 differ from seed 0", differ);
    free(first.p);
    free(again.p);
    free(zero.p);
}

/* ---- 4. directory edits --------------------------------------------------- */

/* /e: old, M and x durable, then unsynced: new created, old removed, tmp
 * made and renamed onto M, A and B created in that order, x renamed to y
 * and a new x made and renamed to z. */
static void build_edits(bool dir_sync)
{
    fs_sim_reset();
    fs_dir_t *d = fsc_dir("/e", true);
    fsc_put(d, "old", "OLD", 3);
    fsc_put(d, "M", "m-old", 5);
    fsc_put(d, "x", "X1", 2);
    CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    fsc_put(d, "new", "NEW", 3);
    CHECK(fs_remove(d, "old", OWN_CALL) == XETS_OK, "remove");
    fsc_put(d, "tmp", "m-new", 5);
    CHECK(fs_rename(d, "tmp", "M", OWN_CALL) == XETS_OK, "rename");
    fsc_put(d, "A", "a", 1);
    fsc_put(d, "B", "b", 1);
    CHECK(fs_rename(d, "x", "y", OWN_CALL) == XETS_OK, "rename");
    fsc_put(d, "x", "X2", 2);
    CHECK(fs_rename(d, "x", "z", OWN_CALL) == XETS_OK, "rename");
    if (dir_sync)
        CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    fs_dir_close(d);
}

static void test_dir_edits_revert(void)
{
    enum { NEW_GONE, NEW_KEPT, OLD_BACK, OLD_GONE, M_OLD, M_NEW, TMP_LEFT, B_WITHOUT_A, KINDS };
    unsigned seen[KINDS] = {0};
    for (uint64_t seed = 0; seed < 1000; seed++) {
        build_edits(false);
        fs_sim_power_cut(seed);
        fs_dir_t *d = fsc_dir("/e", false);
        bool new_kept = file_is(d, "new", "NEW"), old_back = file_is(d, "old", "OLD");
        CHECK(new_kept || !file_exists(d, "new"), "new holds something else");
        CHECK(old_back || !file_exists(d, "old"), "old holds something else");
        bool m_new = file_is(d, "M", "m-new");
        CHECK(m_new || file_is(d, "M", "m-old"), "M is missing or holds something else");
        bool tmp = file_is(d, "tmp", "m-new");
        CHECK(tmp || !file_exists(d, "tmp"), "tmp holds something else");
        CHECK(!(m_new && tmp), "the rename both happened and did not");
        bool a = file_is(d, "A", "a"), b = file_is(d, "B", "b");
        CHECK((a || !file_exists(d, "A")) && (b || !file_exists(d, "B")), "A or B holds something else");
        /* X1 lives under x or y, never both; z only ever named X2. */
        bool x1 = file_is(d, "x", "X1"), x2 = file_is(d, "x", "X2"), y = file_is(d, "y", "X1");
        bool z = file_is(d, "z", "X2");
        CHECK(x1 + y == 1, "X1 under x %d, under y %d", x1, y);
        CHECK((x1 || x2 || !file_exists(d, "x")) && (y || !file_exists(d, "y")), "x or y holds something else");
        CHECK(z || !file_exists(d, "z"), "z holds something else");
        char **names = NULL;
        size_t n = 0;
        CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK, "list");
        free(names);
        CHECK(n == (size_t)new_kept + old_back + 1 + tmp + a + b + x1 + x2 + y + z, "a name that was never made");
        fs_dir_close(d);
        seen[new_kept ? NEW_KEPT : NEW_GONE]++;
        seen[old_back ? OLD_BACK : OLD_GONE]++;
        seen[m_new ? M_NEW : M_OLD]++;
        seen[TMP_LEFT] += tmp;
        seen[B_WITHOUT_A] += b && !a;
    }
    for (int k = 0; k < KINDS; k++)
        CHECK(seen[k], "outcome %d never seen", k);

    for (uint64_t seed = 0; seed < 100; seed++) {
        build_edits(true);
        fs_sim_power_cut(seed);
        fs_dir_t *d = fsc_dir("/e", false);
        fsc_expect_list(d, "A B M new y z");
        CHECK(file_is(d, "M", "m-new") && file_is(d, "new", "NEW"), "synced edits lost");
        fs_dir_close(d);
    }
}

/* ---- 5. faults ------------------------------------------------------------ */

typedef struct scenario {
    fs_dir_t *d;
    fs_file_t *f;
} scenario_t;

/* Each step is one counted call: its op and the file its error names. */
static const struct {
    const char *op, *file;
} steps[] = {
    {"open", "/sc"}, {"open", "a"},  {"write", "a"}, {"fsync", "a"},  {"stat", "a"},   {"read", "a"},
    {"truncate", "a"}, {"fsync", "."}, {"rename", "a"}, {"list", "."}, {"remove", "b"}, {"remove", "/sc"},
};
enum { STEPS = sizeof steps / sizeof steps[0] };

static int step(int i, scenario_t *s, xets_call_t *call)
{
    char buf[8], **names;
    size_t got, n;
    uint64_t size;
    int rc;
    switch (i) {
    case 0:
        return fs_dir_open("/sc", true, &s->d, call);
    case 1:
        return fs_open(s->d, "a", FS_CREATE, &s->f, call);
    case 2:
        return fs_write(s->f, 0, "abcdef", 6, call);
    case 3:
        return fs_sync(s->f, call);
    case 4:
        rc = fs_size(s->f, &size, call);
        CHECK(rc || size == 6, "size %llu", (unsigned long long)size);
        return rc;
    case 5:
        rc = fs_read(s->f, 0, buf, sizeof buf, &got, call);
        CHECK(rc || (got == 6 && !memcmp(buf, "abcdef", 6)), "read");
        return rc;
    case 6:
        return fs_truncate(s->f, 3, call);
    case 7:
        return fs_dir_sync(s->d, call);
    case 8:
        return fs_rename(s->d, "a", "b", call);
    case 9:
        rc = fs_dir_list(s->d, &names, &n, call);
        if (!rc) {
            CHECK(n == 1 && !strcmp(names[0], "b"), "list");
            free(names);
        }
        return rc;
    case 10:
        return fs_remove(s->d, "b", call);
    default:
        if (s->f) {
            fs_close(s->f);
            fs_dir_close(s->d);
            s->f = NULL;
        }
        return fs_destroy("/sc", call);
    }
}

/* Runs the scenario with its call number fail_at failing with err (none:
 * -1); a failed step must be that one, and then succeed when redone. */
static void run_scenario(int fail_at, int err)
{
    fs_sim_reset();
    if (fail_at >= 0)
        fs_sim_fail((uint64_t)fail_at, err, FS_SIM_FAIL);
    scenario_t s = {0};
    for (int i = 0; i < STEPS; i++) {
        uint64_t before = fs_sim_calls();
        if (i == fail_at) {
            xets_call_t *call = OWN_CALL;
            CHECK_FAIL(step(i, &s, call), XETS_IO, call, steps[i].op, steps[i].file);
            CHECK(call->error.err == err, "step %d: errno %d", i, call->error.err);
            CHECK(fs_sim_calls() == before + 1, "failed step %d counted %llu calls", i,
                  (unsigned long long)(fs_sim_calls() - before));
            before++;
        }
        /* The step, or its redo: it must find everything as if it had not
         * been tried. */
        int rc = step(i, &s, OWN_CALL);
        CHECK(rc == XETS_OK, "step %d: %d, with the fault at %d", i, rc, fail_at);
        CHECK(fs_sim_calls() == before + 1, "step %d counted %llu calls", i,
              (unsigned long long)(fs_sim_calls() - before));
    }
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open("/sc", false, &d, OWN_CALL) == XETS_NOTFOUND, "the scenario left /sc");
}

static void test_faults(void)
{
    run_scenario(-1, 0);
    for (int i = 0; i < STEPS; i++) {
        run_scenario(i, EIO);
        run_scenario(i, i % 2 ? ENOSPC : EROFS);
    }

    /* A short write: half, then the error where it stopped. */
    fs_sim_reset();
    fs_dir_t *d = fsc_dir("/short", true);
    fs_file_t *f = fsc_open(d, "f", FS_CREATE);
    char data[100];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('0' + i % 10);
    xets_call_t *call = OWN_CALL;
    fs_sim_fail(0, ENOSPC, FS_SIM_SHORT);
    CHECK_FAIL(fs_write(f, 10, data, sizeof data, call), XETS_IO, call, "write", "f");
    CHECK(call->error.err == ENOSPC && call->error.offset == 60, "errno %d at %llu", call->error.err,
          (unsigned long long)call->error.offset);
    char want[60] = {0};
    memcpy(want + 10, data, 50);
    fsc_expect(f, want, sizeof want);
    fs_sim_fail(0, EIO, FS_SIM_SHORT); /* a short anything else: a plain failure */
    CHECK_FAIL(fs_truncate(f, 0, call), XETS_IO, call, "truncate", "f");
    fsc_expect(f, want, sizeof want);
    fs_close(f);
    fs_dir_close(d);

    /* A halt: the machine stops at a call; the power cut keeps nothing of
     * what came after. */
    for (uint64_t seed = 0; seed < 50; seed++) {
        fs_sim_reset();
        d = fsc_dir("/halt", true);
        fsc_put(d, "f", "one", 3);
        CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
        f = fsc_open(d, "f", FS_WRITE);
        uint64_t calls = fs_sim_calls();
        fs_sim_fail(1, EIO, FS_SIM_HALT);
        fsc_write(f, 3, "two", 3);
        CHECK_FAIL(fs_write(f, 6, "three", 5, call), XETS_IO, call, "write", "f");
        CHECK_FAIL(fs_sync(f, call), XETS_IO, call, "fsync", "f");
        CHECK_FAIL(fs_open(d, "g", FS_CREATE, &f, call), XETS_IO, call, "open", "g");
        fs_dir_t *other = NULL;
        CHECK_FAIL(fs_dir_open("/other", true, &other, call), XETS_IO, call, "open", "/other");
        CHECK(fs_sim_calls() == calls + 5, "calls after a halt are counted");
        fs_close(f);
        fs_dir_close(d);
        fs_sim_power_cut(seed);
        CHECK(fs_dir_open("/other", false, &other, OWN_CALL) == XETS_NOTFOUND, "/other made after the halt");
        d = fsc_dir("/halt", false);
        fsc_expect_list(d, "f");
        buf_t b = {0};
        CHECK(read_file(d, "f", &b), "f");
        CHECK(b.len >= 3 && b.len <= 6 && !memcmp(b.p, "one", 3), "f after the halt: %zu bytes", b.len);
        free(b.p);
        fs_dir_close(d);
    }
}

/* ---- 6. a failed fsync ---------------------------------------------------- */

static void test_failed_fsync_loses_writes(void)
{
    for (uint64_t seed = 0; seed < 200; seed++) {
        fs_sim_reset();
        fs_dir_t *d = fsc_dir("/y", true);
        fsc_put(d, "f", "AAAAAAAA", 8);
        CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
        fs_file_t *f = fsc_open(d, "f", FS_WRITE);
        fsc_write(f, 0, "BBBB", 4);
        xets_call_t *call = OWN_CALL;
        fs_sim_fail(0, EIO, FS_SIM_FAIL);
        CHECK_FAIL(fs_sync(f, call), XETS_IO, call, "fsync", "f");
        fsc_expect(f, "BBBBAAAA", 8); /* still in the page cache */
        CHECK(fs_sync(f, OWN_CALL) == XETS_OK, "sync after the failure");
        fsc_write(f, 2, "CC", 2); /* half the lost range, rewritten */
        CHECK(fs_sync(f, OWN_CALL) == XETS_OK, "sync of the rewrite");
        fsc_expect(f, "BBCCAAAA", 8);
        fs_close(f);
        fs_dir_close(d);
        fs_sim_power_cut(seed);
        d = fsc_dir("/y", false);
        fsc_expect_file(d, "f", "AACCAAAA", 8);
        fs_dir_close(d);
    }
}

/* ---- 7. stale handles ----------------------------------------------------- */

static void test_stale_handles(void)
{
    fs_sim_reset();
    fs_dir_t *d = fsc_dir("/z", true), *d2 = NULL, *d3 = NULL;
    fsc_put(d, "f", "x", 1);
    CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
    fs_file_t *f = fsc_open(d, "f", FS_WRITE);
    fs_sim_power_cut(1);
    xets_call_t *call = OWN_CALL;
    char c;
    size_t got;
    CHECK_FAIL(fs_read(f, 0, &c, 1, &got, call), XETS_IO, call, "read", "f");
    CHECK(call->error.err == EIO, "errno %d", call->error.err);
    CHECK_FAIL(fs_write(f, 0, "y", 1, call), XETS_IO, call, "write", "f");
    CHECK_FAIL(fs_sync(f, call), XETS_IO, call, "fsync", "f");
    char **names = NULL;
    size_t n = 0;
    CHECK_FAIL(fs_dir_list(d, &names, &n, call), XETS_IO, call, "list", ".");
    CHECK_FAIL(fs_open(d, "f", FS_READ, &f, call), XETS_IO, call, "open", "f");
    d2 = fsc_dir("/z", false); /* the power cut released the lock */
    fs_dir_close(d);           /* stale: must leave d2's lock alone */
    CHECK_FAIL(fs_dir_open("/z", false, &d3, call), XETS_BUSY, call, "lock", "LOCK");
    fsc_expect_file(d2, "f", "x", 1);
    fs_close(f);
    fs_dir_close(d2);

    d = fsc_dir("/r", true);
    f = fsc_open(d, "f", FS_CREATE);
    fs_sim_reset();
    CHECK_FAIL(fs_read(f, 0, &c, 1, &got, call), XETS_IO, call, "read", "f");
    fs_close(f);
    fs_dir_close(d);
    CHECK(fs_dir_open("/r", false, &d, OWN_CALL) == XETS_NOTFOUND, "/r outlived the reset");
}

/* ---- 8. a directory moved, then a power cut -------------------------------- */

static void test_dir_move_power_cut(void)
{
    static const char loose[] = "unsynced";
    unsigned kept = 0, lost = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        fs_sim_reset();
        fs_dir_t *d = fsc_dir("/m", true);
        fsc_put(d, "a", "durable", 7);
        CHECK(fs_dir_sync(d, OWN_CALL) == XETS_OK, "dir sync");
        fs_file_t *f = fsc_open(d, "loose", FS_CREATE);
        fsc_write(f, 0, loose, sizeof loose - 1);
        fs_close(f);
        fs_dir_close(d);
        CHECK(fs_dir_move("/m", "/n", OWN_CALL) == XETS_OK, "move");

        fs_sim_power_cut(seed);
        xets_call_t *call = OWN_CALL;
        fs_dir_t *no = NULL;
        CHECK_FAIL(fs_dir_open("/m", false, &no, call), XETS_NOTFOUND, call, "open", "/m");
        d = fsc_dir("/n", false);
        fsc_expect_file(d, "a", "durable", 7);
        buf_t b = {0};
        if (read_file(d, "loose", &b)) {
            /* Its unsynced write: a prefix, then zeros if its size moved
             * on past the bytes kept (fs_sim.c, "Power cut"). */
            size_t k = 0;
            while (k < b.len && k < sizeof loose - 1 && b.p[k] == (unsigned char)loose[k])
                k++;
            CHECK(b.len <= sizeof loose - 1, "loose grew to %zu", b.len);
            for (size_t i = k; i < b.len; i++)
                CHECK(b.p[i] == 0, "loose holds something else at %zu", i);
            fsc_expect_list(d, "a loose");
            kept++;
        } else {
            fsc_expect_list(d, "a");
            lost++;
        }
        free(b.p);
        fs_dir_close(d);

        /* Back to the path it left, whose record the sim keeps. */
        CHECK(fs_dir_move("/n", "/m", OWN_CALL) == XETS_OK, "move back");
        CHECK_FAIL(fs_dir_open("/n", false, &no, call), XETS_NOTFOUND, call, "open", "/n");
        d = fsc_dir("/m", false);
        fsc_expect_file(d, "a", "durable", 7);
        fs_dir_close(d);
    }
    CHECK(kept && lost, "an unsynced name kept %u times, lost %u", kept, lost);
}

int main(void)
{
    fs_sim_reset();
    fs_contract("/sim");
    test_cut_keeps_synced();
    test_cut_keeps_a_torn_prefix();
    test_same_seed_same_outcome();
    test_dir_edits_revert();
    test_faults();
    test_failed_fsync_loses_writes();
    test_stale_handles();
    test_dir_move_power_cut();
    printf("fs_sim_test: ok\n");
    return 0;
}
