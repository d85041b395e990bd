/* disk/wal_file.c over the simulated file system (disk/fs_sim.c).
 * 1. Round trip: batches of every size, synced now and then, recover in
 *    order byte for byte, each record claiming exactly the end of the
 *    last sync before it (computed here from the record sizes).
 * 2. Crashes, for thousands of seeds: random appends and syncs, then a
 *    power cut between two operations, a halt at a random I/O call then
 *    a power cut, or a process crash (no power cut: the page cache
 *    survives). Recovery holds every acknowledged batch (appended before
 *    a successful sync), then a prefix of the others, each whole; never
 *    corruption. A power cut right after recovery changes nothing (it was
 *    made durable); appends after recovery survive a sync and a power
 *    cut.
 * 3. A torn tail followed by an intact, never acknowledged record is cut:
 *    a batch appended after recovery that ends exactly where that record
 *    starts does not bring it back. A file cut inside its header recovers
 *    as empty and gets its header again. A changed durable record is
 *    XETS_CORRUPT naming the file and its offset, and nothing is cut.
 * 4. Faults: each I/O call of a small scenario fails in turn (EIO,
 *    ENOSPC, a short write): the operation answers XETS_IO naming the op,
 *    the file and the errno; after a failed fsync every append and sync
 *    is refused; after a power cut, recovery holds every batch
 *    acknowledged before the fault.
 * 5. Group commit (run under TSan too): THREADS threads each append
 *    batches with wal_file_append_next and sync up to each one's end, on
 *    a disk whose fsync takes a while (fs_sync is wrapped to sleep, see
 *    the Makefile): far fewer fsyncs than appends (the ratio is printed);
 *    recovery holds every batch exactly once, with the seq its append
 *    was given. Then, for a few seeds, the machine halts at a random I/O
 *    call mid-run and the power is cut: every batch whose sync returned
 *    XETS_OK survives, exactly once, and every batch recovered is one
 *    that was appended.
 * Same seed, same run (but for 5, whose threads interleave as they
 * will). Exits nonzero on the first failure. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "disk/fs.h"
#include "disk/fs_sim.h"
#include "disk/wal_file.h"
#include "rng.h"
#include "status.h"

#define DIR "/t"
#define NUMBER 7
#define NAME "000007.wal"
#define FIRST_SEQ 100

static const wal_header_t header = {{WAL_VERSION, "exact.1", "hash.2"}, FIRST_SEQ};

typedef struct rec {
    uint64_t seq;
    uint8_t *p;
    size_t len;
} rec_t;

typedef struct recs {
    rec_t *v;
    size_t n, cap;
} recs_t;

static void recs_add(recs_t *rs, uint64_t seq, const uint8_t *p, size_t len)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 16;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
        CHECK(rs->v, "out of memory");
    }
    uint8_t *copy = malloc(len + 1);
    CHECK(copy, "out of memory");
    if (len)
        memcpy(copy, p, len);
    rs->v[rs->n++] = (rec_t){seq, copy, len};
}

static void recs_clear(recs_t *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->v[i].p);
    rs->n = 0;
}

static void recs_free(recs_t *rs)
{
    recs_clear(rs);
    free(rs->v);
}

static bool rec_eq(const rec_t *a, const rec_t *b)
{
    return a->seq == b->seq && a->len == b->len && (a->len == 0 || !memcmp(a->p, b->p, a->len));
}

static int collect(void *arg, uint64_t seq, const uint8_t *batch, size_t len)
{
    recs_add(arg, seq, batch, len);
    return XETS_OK;
}

static fs_dir_t *dir_open(bool create)
{
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open(DIR, create, &d, OWN_CALL) == XETS_OK, "open the directory");
    return d;
}

/* Recovers the WAL into *got (cleared first); the status. */
static int recover(fs_dir_t *d, recs_t *got, wal_file_t **w, xets_call_t *call)
{
    recs_clear(got);
    wal_header_t h = header;
    int st = wal_file_recover(d, NUMBER, &h, collect, got, w, call);
    if (st == XETS_OK)
        CHECK(h.first_seq == FIRST_SEQ && !strcmp(h.id.encoding, "exact.1") &&
                  !strcmp(h.id.order, "hash.2"),
              "the header recovered");
    return st;
}

/* A batch of random length (0 .. 64 KiB, most of them short) and bytes. */
static size_t random_batch(uint64_t *rng, uint8_t *buf)
{
    size_t len = rng_below(rng, (size_t)1 << rng_below(rng, 17));
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rng_next(rng);
    return len;
}

static uint8_t batch_buf[1 << 16];

/* ---- 1. round trip -------------------------------------------------------- */

static void test_round_trip(void)
{
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    wal_file_t *w = NULL;
    CHECK(wal_file_create(d, NUMBER, &header, &w, OWN_CALL) == XETS_OK, "create");
    CHECK(wal_file_create(d, NUMBER, &header, &(wal_file_t *){NULL}, OWN_CALL) == XETS_EXISTS,
          "a second create of the same number");
    bytes_t hb = BYTES_INIT;
    CHECK(wal_encode_header(&hb, &header, NUMBER) == XETS_OK, "encode the header");
    uint64_t end = hb.len, synced = hb.len;
    bytes_free(&hb);
    CHECK(wal_file_durable(w) == end && wal_file_end(w) == end, "created durable");

    enum { N = 300 };
    recs_t want = {0};
    uint64_t claims[N];
    uint64_t rng = 42;
    CHECK(wal_file_append(w, FIRST_SEQ - 1, "x", 1, OWN_CALL) == XETS_BADARG,
          "a sequence number below first_seq");
    for (size_t i = 0; i < N; i++) {
        size_t len = random_batch(&rng, batch_buf);
        uint64_t seq = FIRST_SEQ + 3 * i;
        CHECK(wal_file_append(w, seq, batch_buf, len, OWN_CALL) == XETS_OK, "append %zu", i);
        CHECK(wal_file_append(w, seq, "x", 1, OWN_CALL) == XETS_BADARG, "a repeated seq");
        recs_add(&want, seq, batch_buf, len);
        claims[i] = synced;
        end += LOG_HEADER + 8 + len;
        if (rng_below(&rng, 10) == 0) {
            CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
            synced = end;
        }
    }
    CHECK(wal_file_end(w) == end, "the end after the appends");
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
    CHECK(wal_file_durable(w) == end, "durable after the sync");
    wal_file_close(w);

    recs_t got = {0};
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK, "recover");
    CHECK(got.n == N, "%zu batches recovered of %d", got.n, N);
    for (size_t i = 0; i < N; i++)
        CHECK(rec_eq(&got.v[i], &want.v[i]), "batch %zu", i);
    CHECK(wal_file_end(w) == end && wal_file_durable(w) == end, "the writer at the end");
    wal_file_close(w);

    /* Each record's synced field, read from the file's bytes. */
    fs_file_t *f = NULL;
    CHECK(fs_open(d, NAME, FS_READ, &f, OWN_CALL) == XETS_OK, "open");
    uint8_t *buf = malloc(end);
    size_t n = 0;
    CHECK(buf && fs_read(f, 0, buf, end, &n, OWN_CALL) == XETS_OK && n == end, "read");
    fs_close(f);
    log_record_t r;
    CHECK(log_record_next(buf, n, 0, NUMBER, &r) == XETS_OK && r.synced == 0, "the header");
    for (size_t i = 0; i < N; i++) {
        CHECK(log_record_next(buf, n, r.next, NUMBER, &r) == XETS_OK, "record %zu", i);
        CHECK(r.synced == claims[i], "record %zu claims %llu, the last sync ended at %llu", i,
              (unsigned long long)r.synced, (unsigned long long)claims[i]);
    }
    free(buf);
    recs_free(&want);
    recs_free(&got);
    fs_dir_close(d);
}

/* ---- 1b. a list of batches in one write ------------------------------------ */

static wal_batch_t *batch_new(wal_batch_t *next, uint64_t seq, const char *text)
{
    size_t len = strlen(text);
    wal_batch_t *b = malloc(sizeof *b + len);
    CHECK(b, "out of memory");
    *b = (wal_batch_t){.next = next, .seq = seq, .len = len};
    memcpy(b->bytes, text, len);
    return b;
}

static void batches_free(wal_batch_t *b)
{
    while (b) {
        wal_batch_t *next = b->next;
        free(b);
        b = next;
    }
}

static void test_batches(void)
{
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    wal_file_t *w = NULL;
    CHECK(wal_file_create(d, NUMBER, &header, &w, OWN_CALL) == XETS_OK, "create");
    uint64_t start = wal_file_end(w), end = 0;
    wal_batch_t *bad = batch_new(batch_new(NULL, FIRST_SEQ, "b"), FIRST_SEQ + 1, "a");
    CHECK(wal_file_append_batches(w, bad, &end, OWN_CALL) == XETS_BADARG &&
              wal_file_end(w) == start,
          "a list whose seqs do not rise writes nothing");
    batches_free(bad);
    CHECK(wal_file_append_batches(w, NULL, &end, OWN_CALL) == XETS_OK && end == start,
          "an empty list writes nothing");
    wal_batch_t *list =
        batch_new(batch_new(batch_new(NULL, FIRST_SEQ + 7, "three"), FIRST_SEQ + 2, "two"),
                  FIRST_SEQ, "one");
    CHECK(wal_file_append_batches(w, list, &end, OWN_CALL) == XETS_OK &&
              end == start + 3 * (LOG_HEADER + 8) + 11 && wal_file_end(w) == end,
          "three records in one write");
    CHECK(wal_file_append(w, FIRST_SEQ + 7, "x", 1, OWN_CALL) == XETS_BADARG,
          "the list's last seq is the file's");
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
    wal_file_close(w);
    recs_t got = {0};
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK && got.n == 3, "recover three");
    size_t i = 0;
    for (const wal_batch_t *b = list; b; b = b->next, i++)
        CHECK(rec_eq(&got.v[i], &(rec_t){b->seq, (uint8_t *)b->bytes, b->len}), "batch %zu", i);
    batches_free(list);
    recs_free(&got);
    wal_file_close(w);
    fs_dir_close(d);
}

/* ---- 2. crashes ----------------------------------------------------------- */

enum crash { POWER_CUT, HALT, PROCESS_CRASH };

/* got: a prefix of appended holding at least its first acked batches. */
static void check_recovered(const recs_t *got, const recs_t *appended, size_t acked,
                            uint64_t seed)
{
    CHECK(got->n >= acked && got->n <= appended->n,
          "seed %llu: %zu batches recovered, %zu acknowledged of %zu",
          (unsigned long long)seed, got->n, acked, appended->n);
    for (size_t i = 0; i < got->n; i++)
        CHECK(rec_eq(&got->v[i], &appended->v[i]), "seed %llu: batch %zu",
              (unsigned long long)seed, i);
}

static void crash_run(uint64_t seed)
{
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    enum crash how = (enum crash)rng_below(&rng, 3);
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    if (how == HALT)
        fs_sim_fail(rng_below(&rng, 60), EIO, FS_SIM_HALT);
    recs_t appended = {0};
    size_t acked = 0;
    uint64_t seq = FIRST_SEQ;
    wal_file_t *w = NULL;
    int st = wal_file_create(d, NUMBER, &header, &w, OWN_CALL);
    CHECK(st == XETS_OK || how == HALT, "seed %llu: create", (unsigned long long)seed);
    bool created = st == XETS_OK;
    size_t ops = rng_below(&rng, 40), stop = rng_below(&rng, ops + 1);
    for (size_t i = 0; created && i < ops && (how == HALT || i < stop); i++) {
        if (rng_below(&rng, 4) == 0) {
            st = wal_file_sync(w, OWN_CALL);
            if (st == XETS_OK)
                acked = appended.n;
        } else {
            size_t len = random_batch(&rng, batch_buf);
            st = wal_file_append(w, seq, batch_buf, len, OWN_CALL);
            if (st == XETS_OK)
                recs_add(&appended, seq, batch_buf, len);
            seq += 1 + rng_below(&rng, 3);
        }
        CHECK(st == XETS_OK || how == HALT, "seed %llu: op %zu: %d", (unsigned long long)seed,
              i, st);
        if (st != XETS_OK)
            break;
    }
    if (w)
        wal_file_close(w);
    fs_dir_close(d);
    if (how != PROCESS_CRASH)
        fs_sim_power_cut(seed);

    recs_t got = {0};
    d = dir_open(false);
    xets_call_t *call = OWN_CALL;
    st = recover(d, &got, &w, call);
    if (st == XETS_NOTFOUND) {
        CHECK(!created, "seed %llu: the WAL created is gone", (unsigned long long)seed);
        CHECK(wal_file_create(d, NUMBER, &header, &w, OWN_CALL) == XETS_OK, "create again");
    } else {
        CHECK(st == XETS_OK, "seed %llu: recover: %d (%s at %llu)", (unsigned long long)seed, st,
              call->error.op, (unsigned long long)call->error.offset);
    }
    check_recovered(&got, &appended, acked, seed);
    if (how == PROCESS_CRASH)
        CHECK(got.n == appended.n, "seed %llu: the page cache survives a process crash",
              (unsigned long long)seed);

    /* What recovery read is durable: a power cut now changes nothing. */
    wal_file_close(w);
    fs_dir_close(d);
    fs_sim_power_cut(seed ^ 0x5555);
    recs_t again = {0};
    d = dir_open(false);
    CHECK(recover(d, &again, &w, OWN_CALL) == XETS_OK, "seed %llu: recover again",
          (unsigned long long)seed);
    CHECK(again.n == got.n, "seed %llu: %zu batches, then %zu after a power cut",
          (unsigned long long)seed, got.n, again.n);
    for (size_t i = 0; i < got.n; i++)
        CHECK(rec_eq(&again.v[i], &got.v[i]), "seed %llu: batch %zu", (unsigned long long)seed,
              i);

    /* Appends after recovery. */
    size_t more = 1 + rng_below(&rng, 3);
    for (size_t i = 0; i < more; i++) {
        size_t len = random_batch(&rng, batch_buf);
        CHECK(wal_file_append(w, seq, batch_buf, len, OWN_CALL) == XETS_OK, "append after");
        recs_add(&again, seq++, batch_buf, len);
    }
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync after");
    wal_file_close(w);
    fs_dir_close(d);
    fs_sim_power_cut(seed ^ 0xAAAA);
    d = dir_open(false);
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK, "recover after appending");
    check_recovered(&got, &again, again.n, seed);
    wal_file_close(w);
    fs_dir_close(d);
    recs_free(&appended);
    recs_free(&got);
    recs_free(&again);
}

static void test_crashes(void)
{
    enum { SEEDS = 4000 };
    for (uint64_t seed = 1; seed <= SEEDS; seed++)
        crash_run(seed);
    printf("crash runs: %d seeds\n", SEEDS);
}

/* ---- 3. a torn tail is cut ------------------------------------------------ */

static void test_tail_cut(void)
{
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    wal_file_t *w = NULL;
    CHECK(wal_file_create(d, NUMBER, &header, &w, OWN_CALL) == XETS_OK, "create");
    CHECK(wal_file_append(w, FIRST_SEQ, "a", 1, OWN_CALL) == XETS_OK, "append a");
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
    uint64_t lost = wal_file_end(w);
    CHECK(wal_file_append(w, FIRST_SEQ + 1, "lost page", 9, OWN_CALL) == XETS_OK, "append");
    uint64_t after = wal_file_end(w);
    CHECK(wal_file_append(w, FIRST_SEQ + 5, "never acknowledged", 18, OWN_CALL) == XETS_OK,
          "append");
    wal_file_close(w);
    /* A page of the unsynced group lost; the record after it intact. */
    fs_file_t *f = NULL;
    CHECK(fs_open(d, NAME, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open");
    uint8_t zeros[64] = {0};
    CHECK(fs_write(f, lost, zeros, after - lost, OWN_CALL) == XETS_OK, "zero a record");
    fs_close(f);

    recs_t got = {0};
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK, "recover");
    CHECK(got.n == 1 && got.v[0].seq == FIRST_SEQ, "the batch before the torn tail");
    CHECK(wal_file_end(w) == lost, "the writer where the tail was cut");
    /* Ends exactly where the unacknowledged record starts. */
    CHECK(wal_file_append(w, FIRST_SEQ + 1, "new batch", 9, OWN_CALL) == XETS_OK, "append");
    CHECK(wal_file_end(w) == after, "the new batch fills the torn record's place");
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
    wal_file_close(w);
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK, "recover again");
    CHECK(got.n == 2 && got.v[1].seq == FIRST_SEQ + 1 && !memcmp(got.v[1].p, "new batch", 9),
          "%zu batches: the cut record does not come back", got.n);
    wal_file_close(w);

    /* A file too short for its header holds no batch: it gets the header
     * again. */
    CHECK(fs_open(d, NAME, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open");
    CHECK(fs_truncate(f, 10, OWN_CALL) == XETS_OK, "cut into the header");
    fs_close(f);
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK && got.n == 0, "a torn header");
    uint64_t b_at = wal_file_end(w);
    CHECK(wal_file_append(w, FIRST_SEQ, "b", 1, OWN_CALL) == XETS_OK, "append");
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
    CHECK(wal_file_append(w, FIRST_SEQ + 1, "c", 1, OWN_CALL) == XETS_OK, "append");
    CHECK(wal_file_sync(w, OWN_CALL) == XETS_OK, "sync");
    wal_file_close(w);
    fs_sim_power_cut(3);
    fs_dir_close(d);
    d = dir_open(false);
    CHECK(recover(d, &got, &w, OWN_CALL) == XETS_OK && got.n == 2, "the rewritten file");
    wal_file_close(w);

    /* Corruption: a durable record changed, which the next one proves
     * durable. Reported where it is, and nothing is cut. */
    CHECK(fs_open(d, NAME, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open");
    uint64_t size = 0;
    CHECK(fs_size(f, &size, OWN_CALL) == XETS_OK, "size");
    CHECK(fs_write(f, b_at + LOG_HEADER + 8, "B", 1, OWN_CALL) == XETS_OK, "flip a byte");
    xets_call_t *call = OWN_CALL;
    CHECK(recover(d, &got, &w, call) == XETS_CORRUPT, "a changed durable record");
    CHECK(!strcmp(call->error.file, NAME) && call->error.offset == b_at && call->error.err == 0,
          "the corruption named: %s at %llu", call->error.file,
          (unsigned long long)call->error.offset);
    uint64_t after_size = 0;
    CHECK(fs_size(f, &after_size, OWN_CALL) == XETS_OK && after_size == size, "nothing cut");
    fs_close(f);
    recs_free(&got);
    fs_dir_close(d);
}

/* ---- 4. faults ------------------------------------------------------------ */

/* Reports whether st is the I/O failure of the armed fault: XETS_IO naming
 * an op and the file (or the directory) and errno err. */
static void check_fault(int st, const xets_call_t *call, int err, const char *what)
{
    CHECK(st == XETS_IO, "%s: %d", what, st);
    CHECK(call->error.op && (!strcmp(call->error.file, NAME) || !strcmp(call->error.file, ".")) &&
              call->error.err == err,
          "%s: %s %s errno %d", what, call->error.op ? call->error.op : "?", call->error.file,
          call->error.err);
}

/* The scenario: create; then appends (a) and syncs (s): a a s a s a a s.
 * Returns the number of counted calls it made with no fault. */
static uint64_t fault_run(uint64_t at, int err, enum fs_sim_fault kind, bool arm)
{
    static const char ops[] = "aasasaas";
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    uint64_t base = fs_sim_calls();
    if (arm)
        fs_sim_fail(at, err, kind);
    xets_call_t *call = OWN_CALL;
    recs_t appended = {0};
    size_t acked = 0;
    bool faulted = false, sync_failed = false;
    wal_file_t *w = NULL;
    int st = wal_file_create(d, NUMBER, &header, &w, call);
    if (st != XETS_OK) {
        CHECK(arm, "create");
        check_fault(st, call, err, "create");
        faulted = true;
    }
    uint64_t seq = FIRST_SEQ;
    for (const char *op = ops; w && *op; op++) {
        if (*op == 's') {
            st = wal_file_sync(w, call);
            if (st == XETS_OK) {
                CHECK(!sync_failed, "a sync after a failed fsync");
                acked = appended.n;
                continue;
            }
        } else {
            uint8_t batch[3000];
            memset(batch, (int)seq, sizeof batch);
            st = wal_file_append(w, seq, batch, sizeof batch, call);
            if (st == XETS_OK) {
                CHECK(!sync_failed, "an append after a failed fsync");
                recs_add(&appended, seq++, batch, sizeof batch);
                continue;
            }
        }
        if (sync_failed) {
            /* Refused, naming the fsync that failed. */
            CHECK(st == XETS_IO && !strcmp(call->error.op, "fsync") && call->error.err == err &&
                      !strcmp(call->error.file, NAME),
                  "refused after a failed fsync: %d %s", st, call->error.op);
            continue;
        }
        CHECK(arm && !faulted, "op %c: %d", *op, st);
        check_fault(st, call, err, *op == 's' ? "sync" : "append");
        faulted = true;
        sync_failed = *op == 's';
    }
    CHECK(faulted == (arm && at < fs_sim_calls() - base), "the fault at call %llu %s",
          (unsigned long long)at, faulted ? "reported" : "missed");
    uint64_t calls = fs_sim_calls() - base;
    if (w)
        wal_file_close(w);
    fs_dir_close(d);
    fs_sim_power_cut(at);
    d = dir_open(false);
    recs_t got = {0};
    st = recover(d, &got, &w, call);
    CHECK(st == XETS_OK || (st == XETS_NOTFOUND && acked == 0), "recover: %d", st);
    check_recovered(&got, &appended, acked, at);
    if (st == XETS_OK)
        wal_file_close(w);
    fs_dir_close(d);
    recs_free(&appended);
    recs_free(&got);
    return calls;
}

static void test_faults(void)
{
    uint64_t calls = fault_run(0, 0, FS_SIM_FAIL, false);
    static const struct {
        int err;
        enum fs_sim_fault kind;
    } faults[] = {{EIO, FS_SIM_FAIL}, {ENOSPC, FS_SIM_FAIL}, {EIO, FS_SIM_SHORT}};
    for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++)
        for (uint64_t at = 0; at < calls; at++)
            fault_run(at, faults[k].err, faults[k].kind, true);
}

/* ---- 5. group commit ------------------------------------------------------ */

#define THREADS 8
#define PER 150 /* batches per thread */
#define CRASH_SEEDS 200

/* The disk's fsync takes SLOW_SYNC_NS while slow_sync is set, so that
 * threads pile up behind it as they do on a real disk; fs_sim's is
 * instant. The wait comes after the sync: what is written meanwhile is
 * not covered, so a writer that counted it durable would lose it. */
#define SLOW_SYNC_NS 200000
static atomic_bool slow_sync;

int __real_fs_sync(fs_file_t *f, xets_call_t *call);
int __wrap_fs_sync(fs_file_t *f, xets_call_t *call);
int __wrap_fs_sync(fs_file_t *f, xets_call_t *call)
{
    int st = __real_fs_sync(f, call);
    if (atomic_load(&slow_sync))
        nanosleep(&(struct timespec){0, SLOW_SYNC_NS}, NULL);
    return st;
}

typedef struct writer {
    wal_file_t *w;
    uint32_t id;
    size_t appended, acked; /* batches 0 .. appended appended, 0 .. acked durable */
    uint64_t seq[PER]; /* the seq each appended batch was given */
} writer_t;

/* Batch i of writer id: its 8 bytes name both. */
static void batch_of(uint32_t id, uint32_t i, uint8_t b[8])
{
    memcpy(b, &id, 4);
    memcpy(b + 4, &i, 4);
}

static void *writer_run(void *arg)
{
    writer_t *wr = arg;
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    for (uint32_t i = 0; i < PER; i++) {
        uint8_t b[8];
        batch_of(wr->id, i, b);
        uint64_t seq, end;
        if (wal_file_append_next(wr->w, b, sizeof b, &seq, &end, &call) != XETS_OK)
            break;
        wr->seq[i] = seq;
        wr->appended = i + 1;
        if (wal_file_sync_upto(wr->w, end, &call) != XETS_OK)
            break;
        CHECK(wal_file_durable(wr->w) >= end, "durable after its sync");
        wr->acked = i + 1;
    }
    return NULL;
}

/* How many times recovery saw each writer's batch i. */
typedef struct seen {
    const writer_t *wrs;
    uint32_t count[THREADS][PER];
} seen_t;

static int seen_visit(void *arg, uint64_t seq, const uint8_t *batch, size_t len)
{
    seen_t *s = arg;
    uint32_t id, i;
    CHECK(len == 8, "a batch of 8 bytes, not %zu", len);
    memcpy(&id, batch, 4);
    memcpy(&i, batch + 4, 4);
    CHECK(id < THREADS && i < s->wrs[id].appended, "batch %u of writer %u was appended", i,
          id);
    CHECK(s->wrs[id].seq[i] == seq, "batch %u of writer %u has the seq it was given", i, id);
    s->count[id][i]++;
    return XETS_OK;
}

/* Runs THREADS writers on a new WAL, the machine halting at I/O call halt
 * (none if UINT64_MAX) and the power cut (seed) after them; recovers and
 * checks. The number of fs_sync calls and of appends. */
static void group_run(uint64_t halt, uint64_t seed, uint64_t *fsyncs, size_t *appends)
{
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    wal_file_t *w;
    CHECK(wal_file_create(d, NUMBER, &header, &w, OWN_CALL) == XETS_OK, "create");
    static writer_t wrs[THREADS];
    pthread_t t[THREADS];
    if (halt != UINT64_MAX)
        fs_sim_fail(halt, EIO, FS_SIM_HALT);
    atomic_store(&slow_sync, true);
    for (uint32_t k = 0; k < THREADS; k++) {
        wrs[k] = (writer_t){.w = w, .id = k};
        CHECK(!pthread_create(&t[k], NULL, writer_run, &wrs[k]), "start a writer");
    }
    *appends = 0;
    for (uint32_t k = 0; k < THREADS; k++) {
        CHECK(!pthread_join(t[k], NULL), "join a writer");
        *appends += wrs[k].appended;
    }
    atomic_store(&slow_sync, false);
    *fsyncs = wal_file_fsyncs(w);
    wal_file_close(w);
    fs_dir_close(d);
    if (halt != UINT64_MAX)
        fs_sim_power_cut(seed);
    else
        CHECK(*appends == THREADS * PER, "every append done");

    d = dir_open(false);
    static seen_t seen;
    memset(&seen, 0, sizeof seen);
    seen.wrs = wrs;
    wal_header_t h = header;
    CHECK(wal_file_recover(d, NUMBER, &h, seen_visit, &seen, &w, OWN_CALL) == XETS_OK,
          "recover (halt %llu)", (unsigned long long)halt);
    for (uint32_t k = 0; k < THREADS; k++)
        for (uint32_t i = 0; i < wrs[k].appended; i++) {
            CHECK(seen.count[k][i] <= 1, "batch %u of writer %u once", i, k);
            CHECK(i >= wrs[k].acked || seen.count[k][i] == 1,
                  "acknowledged batch %u of writer %u survives (halt %llu)", i, k,
                  (unsigned long long)halt);
        }
    wal_file_close(w);
    fs_dir_close(d);
}

static void test_group_commit(void)
{
    uint64_t fsyncs;
    size_t appends;
    group_run(UINT64_MAX, 0, &fsyncs, &appends);
    printf("group commit: %zu appends from %d threads, %llu fsyncs: %.1f appends per fsync\n",
           appends, THREADS, (unsigned long long)fsyncs, (double)appends / (double)fsyncs);
    CHECK(fsyncs * 3 <= appends, "group commit: %llu fsyncs for %zu appends",
          (unsigned long long)fsyncs, appends);

    /* A full run makes a write per append and a fsync per few: halts in
     * its first part, which is where the writers all still run. */
    uint64_t rng = 11;
    for (uint64_t seed = 0; seed < CRASH_SEEDS; seed++)
        group_run(rng_below(&rng, 400), seed, &fsyncs, &appends);
    printf("group commit crashes: %d seeds\n", CRASH_SEEDS);
}

int main(void)
{
    test_round_trip();
    test_batches();
    test_tail_cut();
    test_faults();
    test_crashes();
    test_group_commit();
    return 0;
}
