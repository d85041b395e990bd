/* disk/manifest_file.c over the simulated file system (disk/fs_sim.h).
 * 1. Round trip: random edits (test/c/manifest_model.h) and rewrites
 *    logged, closed, recovered: the state is the model's, also after a
 *    power cut.
 * 2. Crashes: thousands of seeded runs of edits, rewrites, SSTables
 *    written and added (or written and never added), cut by a power cut
 *    between steps or a halt at a seeded I/O call (in the middle of an
 *    edit, a rewrite, the creation): recovery gives the state after the
 *    last acknowledged step or after the one in flight, whole, never
 *    corruption; it leaves a manifest that reads to its end; the sweep
 *    leaves exactly the live manifest and the state's SSTables; a second
 *    power cut and recovery give the same state. The seeds show each
 *    outcome: the acknowledged state, the one in flight, no table yet.
 * 3. Faults: each I/O call of a small scenario fails in turn (EIO, ENOSPC,
 *    a short write): XETS_IO naming the op and the file; the state as
 *    before the failed step; after a failed fsync of an edit every edit
 *    is refused, else the next one is logged; after a power cut, every
 *    acknowledged edit is recovered.
 * 4. A crashed process (no power cut): an edit it wrote but never synced,
 *    and a new manifest it renamed but never made durable, are made
 *    durable by the recovery that serves them.
 * Exits nonzero on the first failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/fs.h"
#include "disk/fs_sim.h"
#include "disk/manifest_file.h"
#include "manifest_model.h"
#include "rng.h"
#include "status.h"

#define DIR "t"
#define ORPHAN_BASE 1000000 /* numbers of SSTables never added */

static const manifest_header_t header = {{MANIFEST_VERSION, "ordered.1", "key"}, "ordered_set", 1};

static bool state_same(const manifest_state_t *a, const manifest_state_t *b)
{
    bytes_t x = BYTES_INIT, y = BYTES_INIT;
    CHECK(manifest_encode_start(&x, &header, a, 1) == XETS_OK &&
              manifest_encode_start(&y, &header, b, 1) == XETS_OK,
          "encode");
    bool same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    bytes_free(&x);
    bytes_free(&y);
    return same;
}

static void state_set(manifest_state_t *to, const manifest_state_t *from)
{
    manifest_state_free(to);
    CHECK(manifest_state_copy(to, from) == XETS_OK, "copy");
}

/* A run: the table, the model that makes its edits, and what recovery
 * may give: the state after the last acknowledged step (acked, when
 * created) or after the one in flight (pending, when one is). */
typedef struct {
    uint64_t rng;
    fs_dir_t *dir;
    manifest_log_t *log;
    model_t model;
    edit_buf_t eb;
    bool created, in_flight;
    manifest_state_t acked, pending;
    int phase;         /* of the step that failed */
    uint64_t orphans;  /* SSTables written, never added */
    xets_call_t call;
} run_t;

enum { IN_TEST, IN_CREATE, IN_EDIT, IN_REWRITE, IN_RECOVER, IN_SWEEP };

static void run_init(run_t *r, uint64_t seed)
{
    *r = (run_t){.rng = seed};
    call_init(&r->call, CALL_OWN, NULL);
}

static void run_free(run_t *r)
{
    if (r->log)
        manifest_file_close(r->log);
    if (r->dir)
        fs_dir_close(r->dir);
    manifest_state_free(&r->acked);
    manifest_state_free(&r->pending);
    r->log = NULL;
    r->dir = NULL;
}

/* SSTable number, durable and in place, as a flush writes it. */
static int write_sst(fs_dir_t *d, uint64_t number, xets_call_t *call)
{
    char name[NAMES_LEN];
    names_format(name, NAMES_SST, number, false);
    fs_file_t *f;
    int st = fs_open(d, name, FS_CREATE, &f, call);
    if (st != XETS_OK)
        return st;
    st = fs_write(f, 0, name, strlen(name), call);
    if (st == XETS_OK)
        st = fs_sync(f, call);
    fs_close(f);
    return st == XETS_OK ? fs_dir_sync(d, call) : st;
}

static int step_create(run_t *r)
{
    r->phase = IN_TEST;
    int st = fs_dir_open(DIR, true, &r->dir, &r->call);
    if (st != XETS_OK)
        return st;
    manifest_state_t empty = MANIFEST_STATE_INIT;
    manifest_state_free(&r->pending);
    manifest_edit_t first = {.set = MANIFEST_SET_NEXT_FILE, .next_file = 2};
    CHECK(manifest_state_apply(&r->pending, &first) == XETS_OK, "first state");
    r->in_flight = true;
    r->phase = IN_CREATE;
    st = manifest_file_create(r->dir, &header, &empty, &r->log, &r->call);
    if (st != XETS_OK)
        return st;
    CHECK(r->log->number == 1 && state_same(&r->log->state, &r->pending), "created");
    r->created = true;
    r->in_flight = false;
    state_set(&r->acked, &r->pending);
    r->model = (model_t){.next_file = 2};
    return XETS_OK;
}

static int step_edit(run_t *r)
{
    random_edit(&r->rng, &r->model, &r->eb);
    const manifest_edit_t *e = &r->eb.e;
    r->phase = IN_TEST;
    for (size_t i = 0; i < e->nadd; i++) {
        if (manifest_state_find(&r->acked, e->add[i].number))
            continue; /* moved */
        int st = write_sst(r->dir, e->add[i].number, &r->call);
        if (st != XETS_OK)
            return st;
    }
    state_set(&r->pending, &r->acked);
    CHECK(manifest_state_apply(&r->pending, e) == XETS_OK, "the model's edit applies");
    r->in_flight = true;
    r->phase = IN_EDIT;
    int st = manifest_file_edit(r->log, e, &r->call);
    if (st != XETS_OK)
        return st;
    r->in_flight = false;
    state_set(&r->acked, &r->pending);
    CHECK(state_same(&r->log->state, &r->acked), "the state took the edit");
    model_check(&r->model, &r->log->state);
    return XETS_OK;
}

static int step_rewrite(run_t *r)
{
    uint64_t want = r->acked.next_file > r->log->number ? r->acked.next_file : r->log->number + 1;
    state_set(&r->pending, &r->acked);
    manifest_edit_t past = {.set = MANIFEST_SET_NEXT_FILE, .next_file = want + 1};
    CHECK(manifest_state_apply(&r->pending, &past) == XETS_OK, "past");
    r->in_flight = true;
    r->phase = IN_REWRITE;
    int st = manifest_file_rewrite(r->log, &r->call);
    if (st != XETS_OK)
        return st;
    r->in_flight = false;
    state_set(&r->acked, &r->pending);
    CHECK(r->log->number == want && state_same(&r->log->state, &r->acked), "rewritten");
    r->model.next_file = r->acked.next_file;
    return XETS_OK;
}

static int step_orphan(run_t *r)
{
    r->phase = IN_TEST;
    return write_sst(r->dir, ORPHAN_BASE + r->orphans++, &r->call);
}

/* One random step of a run. */
static int step(run_t *r)
{
    switch (rng_below(&r->rng, 8)) {
    case 0:
        return step_rewrite(r);
    case 1:
        return step_orphan(r);
    default:
        return step_edit(r);
    }
}

/* The live manifest read from the file system: it must read to its end. */
static void check_whole(fs_dir_t *d, uint64_t number, const manifest_state_t *want)
{
    char name[NAMES_LEN];
    names_format(name, NAMES_MANIFEST, number, false);
    fs_file_t *f;
    uint64_t len, at;
    size_t got;
    CHECK(fs_open(d, name, FS_READ, &f, OWN_CALL) == XETS_OK && fs_size(f, &len, OWN_CALL) == XETS_OK,
          "open %s", name);
    uint8_t *buf = malloc(len + 1);
    CHECK(buf && fs_read(f, 0, buf, len, &got, OWN_CALL) == XETS_OK && got == len, "read");
    fs_close(f);
    manifest_header_t h;
    manifest_state_t s;
    int st = manifest_replay(buf, len, number, &h, &s, &at);
    CHECK(st == XETS_OK && at == len, "%s reads to its end after recovery: %d at %llu of %llu",
          name, st, (unsigned long long)at, (unsigned long long)len);
    CHECK(state_same(&s, want), "%s holds the state recovered", name);
    manifest_state_free(&s);
    free(buf);
}

/* After the sweep: the live manifest and the state's SSTables, nothing
 * else. */
static void check_swept(fs_dir_t *d, const manifest_log_t *log)
{
    char **names;
    size_t n, ssts = 0;
    CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK, "list");
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        enum names_kind k = names_parse(names[i], &v);
        CHECK((k == NAMES_MANIFEST && v == log->number) ||
                  (k == NAMES_SST && manifest_state_find(&log->state, v)),
              "%s left by the sweep", names[i]);
        ssts += k == NAMES_SST;
    }
    size_t live = 0;
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        live += log->state.level[l].n;
    CHECK(ssts == live && n == live + 1, "the sweep kept every live file");
    free(names);
}

/* How often recovery gave the acknowledged state, the one in flight, no
 * table: the crash seeds must show each. */
static unsigned outcomes[3];

/* Power cut, then recovery: the state is acked or pending; the sweep;
 * another power cut and recovery give the same. Returns whether a table
 * was found. */
static bool check_recovery(run_t *r, uint64_t seed, const char *what)
{
    manifest_state_t got = MANIFEST_STATE_INIT;
    bool found = false;
    for (int round = 0; round < 2; round++) {
        if (r->log)
            manifest_file_close(r->log);
        if (r->dir)
            fs_dir_close(r->dir);
        r->log = NULL;
        r->dir = NULL;
        fs_sim_power_cut(seed * 2 + (uint64_t)round);
        CHECK(fs_dir_open(DIR, true, &r->dir, OWN_CALL) == XETS_OK, "reopen");
        xets_call_t *call = OWN_CALL;
        int st = manifest_file_recover(r->dir, &r->log, call);
        if (round == 1) {
            CHECK(found ? st == XETS_OK : st == XETS_NOTFOUND, "%s: the second recovery: %d", what,
                  st);
            if (found)
                CHECK(state_same(&r->log->state, &got), "%s: the second recovery's state", what);
            break;
        }
        if (st == XETS_NOTFOUND) {
            CHECK(!r->created, "%s: an acknowledged table lost", what);
            outcomes[2]++;
            continue;
        }
        CHECK(st == XETS_OK, "%s: recovery: %d (%s %s at %llu)", what, st, call->error.op,
              call->error.file, (unsigned long long)call->error.offset);
        bool is_acked = r->created && state_same(&r->log->state, &r->acked);
        bool is_pending = r->in_flight && state_same(&r->log->state, &r->pending);
        outcomes[is_acked ? 0 : 1]++;
        CHECK(is_acked || is_pending, "%s: the state recovered is neither acknowledged nor in flight",
              what);
        check_whole(r->dir, r->log->number, &r->log->state);
        st = manifest_file_sweep(r->log, call);
        CHECK(st == XETS_OK, "%s: sweep: %d (%s %s)", what, st, call->error.op, call->error.file);
        check_swept(r->dir, r->log);
        found = true;
        CHECK(manifest_state_copy(&got, &r->log->state) == XETS_OK, "copy");
    }
    manifest_state_free(&got);
    return found;
}

static void test_round_trip(void)
{
    fs_sim_reset();
    run_t r;
    run_init(&r, 7);
    CHECK(step_create(&r) == XETS_OK, "create");
    for (int i = 0; i < 600; i++) {
        int st = i % 150 == 149 ? step_rewrite(&r) : step_edit(&r);
        CHECK(st == XETS_OK, "step %d", i);
    }
    uint64_t number = r.log->number;
    manifest_file_close(r.log);
    r.log = NULL;
    CHECK(manifest_file_recover(r.dir, &r.log, OWN_CALL) == XETS_OK, "recover");
    CHECK(r.log->number == number && r.log->size > 0, "the live manifest");
    model_check(&r.model, &r.log->state);
    CHECK(strcmp(r.log->header.type, "ordered_set") == 0 && r.log->header.keypos == 1,
          "the header");
    /* A power cut keeps it all: every step was acknowledged. */
    CHECK(check_recovery(&r, 3, "round trip"), "found");
    model_check(&r.model, &r.log->state);
    run_free(&r);
}

static void test_crashes(void)
{
    enum { SEEDS = 3000 };
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        fs_sim_reset();
        run_t r;
        run_init(&r, seed * 0x9E3779B97F4A7C15ull | 1);
        size_t steps = 3 + rng_below(&r.rng, 25);
        /* Half the runs halt at a call (about 5 a step), the others are
         * cut after their last step. */
        if (rng_below(&r.rng, 2))
            fs_sim_fail(rng_below(&r.rng, steps * 5 + 10), EIO, FS_SIM_HALT);
        int st = step_create(&r);
        for (size_t i = 0; st == XETS_OK && i < steps; i++)
            st = step(&r);
        CHECK(st == XETS_OK || st == XETS_IO, "seed %llu: %d", (unsigned long long)seed, st);
        char what[32];
        snprintf(what, sizeof what, "seed %llu", (unsigned long long)seed);
        check_recovery(&r, seed, what);
        run_free(&r);
    }
    CHECK(outcomes[0] && outcomes[1] && outcomes[2], "outcomes %u %u %u", outcomes[0],
          outcomes[1], outcomes[2]);
}

/* The fault scenario: create, edits, a reopen, a rewrite, an edit, a
 * sweep. */
static int scenario(run_t *r)
{
    int st = step_create(r);
    for (int i = 0; st == XETS_OK && i < 3; i++)
        st = step_edit(r);
    if (st == XETS_OK)
        st = step_orphan(r);
    if (st == XETS_OK) {
        manifest_file_close(r->log);
        r->log = NULL;
        r->phase = IN_RECOVER;
        st = manifest_file_recover(r->dir, &r->log, &r->call);
    }
    if (st == XETS_OK)
        st = step_rewrite(r);
    if (st == XETS_OK)
        st = step_edit(r);
    if (st == XETS_OK) {
        r->phase = IN_SWEEP;
        st = manifest_file_sweep(r->log, &r->call);
    }
    return st;
}

static void test_faults(void)
{
    fs_sim_reset();
    run_t r;
    run_init(&r, 11);
    CHECK(scenario(&r) == XETS_OK, "the scenario without faults");
    uint64_t calls = fs_sim_calls();
    run_free(&r);
    static const struct {
        int err;
        enum fs_sim_fault kind;
    } faults[] = {{EIO, FS_SIM_FAIL}, {ENOSPC, FS_SIM_FAIL}, {ENOSPC, FS_SIM_SHORT}};
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        for (uint64_t k = 0; k < calls; k++) {
            fs_sim_reset();
            run_init(&r, 11);
            fs_sim_fail(k, faults[f].err, faults[f].kind);
            int st = scenario(&r);
            char what[48];
            snprintf(what, sizeof what, "fault %zu at call %llu", f, (unsigned long long)k);
            CHECK(st == XETS_IO, "%s: %d", what, st);
            CHECK(r.call.error.op && r.call.error.file[0] && r.call.error.err == faults[f].err,
                  "%s: the error says what and where", what);
            if (r.log) {
                CHECK(state_same(&r.log->state, &r.acked), "%s: the state as before the failure",
                      what);
                manifest_edit_t more = {.set = MANIFEST_SET_LAST_SEQ,
                                        .last_seq = r.acked.last_seq + 1};
                bool fsync_failed = r.phase == IN_EDIT && strcmp(r.call.error.op, "fsync") == 0;
                st = manifest_file_edit(r.log, &more, &r.call);
                if (fsync_failed || (r.phase == IN_REWRITE && r.log->failed)) {
                    CHECK(st == XETS_IO && r.log->failed && strcmp(r.call.error.op, "fsync") == 0,
                          "%s: edits refused after a failed fsync or switch: %d", what, st);
                } else {
                    CHECK(st == XETS_OK, "%s: the next edit: %d", what, st);
                    CHECK(manifest_state_apply(&r.acked, &more) == XETS_OK, "more");
                    /* What failed here (a write, a new manifest before
                     * its switch) cannot be on disk whole. */
                    r.in_flight = false;
                }
            }
            check_recovery(&r, k * 3 + f, what);
            run_free(&r);
        }
    }
}

/* A process dies (the file system keeps its page cache: no power cut)
 * after doing by hand what crash() does; the next open recovers, and its
 * state must outlive a power cut. */
static void process_crash(run_t *r, void (*crash)(run_t *), uint64_t seed, const char *what)
{
    crash(r);
    manifest_file_close(r->log);
    fs_dir_close(r->dir);
    r->log = NULL;
    CHECK(fs_dir_open(DIR, false, &r->dir, OWN_CALL) == XETS_OK, "reopen");
    CHECK(manifest_file_recover(r->dir, &r->log, OWN_CALL) == XETS_OK, "%s: recover", what);
    CHECK(state_same(&r->log->state, &r->pending), "%s: what the process wrote is served", what);
    /* Served, so acknowledged: no write since may have made it durable. */
    state_set(&r->acked, &r->pending);
    CHECK(check_recovery(r, seed, what), "%s: found", what);
}

/* An edit written whole, never synced. */
static void crash_unsynced_edit(run_t *r)
{
    random_edit(&r->rng, &r->model, &r->eb);
    manifest_edit_t e = r->eb.e;
    e.nadd = 0; /* no SSTable to write first */
    state_set(&r->pending, &r->acked);
    CHECK(manifest_state_apply(&r->pending, &e) == XETS_OK, "applies");
    bytes_t b = BYTES_INIT;
    CHECK(manifest_encode_edit(&b, &e, r->log->size, r->log->number) == XETS_OK, "encode");
    CHECK(fs_write(r->log->file, r->log->size, b.p, b.len, OWN_CALL) == XETS_OK, "write");
    bytes_free(&b);
}

/* A new manifest written and synced, renamed, the rename not synced. */
static void crash_unsynced_rename(run_t *r)
{
    uint64_t number = r->acked.next_file;
    state_set(&r->pending, &r->acked);
    manifest_edit_t past = {.set = MANIFEST_SET_NEXT_FILE, .next_file = number + 1};
    CHECK(manifest_state_apply(&r->pending, &past) == XETS_OK, "past");
    bytes_t b = BYTES_INIT;
    CHECK(manifest_encode_start(&b, &header, &r->pending, number) == XETS_OK, "encode");
    char tmp[NAMES_LEN], name[NAMES_LEN];
    names_format(tmp, NAMES_MANIFEST, number, true);
    names_format(name, NAMES_MANIFEST, number, false);
    fs_file_t *f;
    CHECK(fs_open(r->dir, tmp, FS_CREATE, &f, OWN_CALL) == XETS_OK &&
              fs_write(f, 0, b.p, b.len, OWN_CALL) == XETS_OK && fs_sync(f, OWN_CALL) == XETS_OK &&
              fs_rename(r->dir, tmp, name, OWN_CALL) == XETS_OK,
          "a new manifest");
    fs_close(f);
    bytes_free(&b);
}

static void test_process_crash(void)
{
    for (uint64_t seed = 1; seed <= 200; seed++) {
        for (int kind = 0; kind < 2; kind++) {
            fs_sim_reset();
            run_t r;
            run_init(&r, seed);
            CHECK(step_create(&r) == XETS_OK, "create");
            for (int i = 0; i < 5; i++)
                CHECK(step_edit(&r) == XETS_OK, "edit");
            char what[48];
            snprintf(what, sizeof what, "process crash %d, seed %llu", kind,
                     (unsigned long long)seed);
            process_crash(&r, kind ? crash_unsynced_rename : crash_unsynced_edit, seed, what);
            run_free(&r);
        }
    }
}

int main(void)
{
    test_round_trip();
    test_crashes();
    test_faults();
    test_process_crash();
    printf("manifest_file_test: ok\n");
    return 0;
}
