/* SSTables as files (c_src/disk/sstable_file.[ch]) over the simulated file
 * system (disk/fs_sim.c).
 * 1. Round trip: tables of random sorted entries (a key's entries newest
 *    first, a few values of hundreds of KiB) written, opened, walked whole
 *    and looked up key by key, present and absent, against the model; what
 *    sst_file_finish returns is what the manifest needs.
 * 2. Crash: for many seeds, the machine stops at each I/O call of a write
 *    in turn, then a power cut: the final name is absent or names the
 *    whole table, never a partial or corrupt one; the temporary name, if
 *    it stays, is an orphan (names_orphans); nothing else appears. A write
 *    that returned XETS_OK survives any power cut whole.
 * 3. Faults: each I/O call of a write fails in turn (EIO, ENOSPC, a short
 *    write): XETS_IO naming that call's op, file and errno; no final file
 *    appears and the temporary one is removed; a power cut then leaves the
 *    final name absent or whole. A writer given up before finishing
 *    removes its file too.
 * 4. Corruption through the file: a table cut by a byte, every byte of a
 *    table flipped in turn: XETS_CORRUPT naming the file and an offset
 *    within it, and never a wrong answer before; a table cut under an open
 *    reader: XETS_CORRUPT "truncated" at the offset where its bytes stop,
 *    not XETS_IO.
 * 5. Threads: one table open, read by several threads at once, each
 *    walking it whole and looking up every key (for ThreadSanitizer).
 * Half the values are runs of a byte, so that every table holds blocks
 * stored compressed and raw; the cache holds them uncompressed (more
 * bytes than the file's data blocks). 
 * Exits nonzero on the first failure. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/bytes.h"
#include "disk/fs.h"
#include "disk/fs_sim.h"
#include "disk/names.h"
#include "disk/sstable_file.h"
#include "epoch.h"
#include "rng.h"
#include "sstable_mem.h"
#include "status.h"

#ifdef __SANITIZE_THREAD__
#define SCALE 4 /* ThreadSanitizer runs several times slower */
#else
#define SCALE 1
#endif

#define DIR "/t"
#define NUMBER 7 /* the table's file number */

/* The cache the tables read through: no bound, but in test_bounded. */
static block_cache_t *cache;

static size_t cached_bytes(void)
{
    block_cache_stats_t st;
    block_cache_stats(cache, &st);
    return st.bytes;
}

static uint64_t rng = 0x5eedf11eull;

/* ---- the model: entries in the table's order ---------------------------- */

typedef struct set {
    mem_entry_t *e;
    size_t n;
} set_t;

/* n keys (each a "key-" and a decimal number, spaced by at least 2 so that
 * number + 1 is absent), each with 1 to 3 entries of descending seq; one
 * entry in `large` on average gets a value of 64 to 320 KiB. Values are
 * random bytes, or half of them a run of one byte, so that blocks are
 * stored compressed and raw. */
static set_t set_random(size_t nkeys, size_t large)
{
    set_t s = {.e = calloc(3 * nkeys + 1, sizeof(mem_entry_t))};
    CHECK(s.e, "out of memory");
    unsigned char *val = malloc(320 * 1024);
    CHECK(val, "out of memory");
    uint64_t k = 0;
    for (size_t i = 0; i < nkeys; i++) {
        k += 2 + rng_below(&rng, 50);
        char key[32];
        int klen = snprintf(key, sizeof key, "key-%012llu", (unsigned long long)k);
        size_t m = 1 + rng_below(&rng, 3);
        uint64_t seq = 1000 + rng_below(&rng, 1000);
        for (size_t j = 0; j < m; j++) {
            size_t vlen = large && rng_below(&rng, large) == 0 ? (64 + rng_below(&rng, 256)) * 1024
                                                               : rng_below(&rng, 100);
            bool run = rng_below(&rng, 2);
            for (size_t b = 0; b < vlen; b++)
                val[b] = run && b > 0 ? val[0] : (unsigned char)rng_next(&rng);
            seq -= 1 + rng_below(&rng, 10);
            mem_entry_copy(&s.e[s.n++],
                           &(sst_entry_t){.key = (const unsigned char *)key,
                                          .klen = (size_t)klen,
                                          .seq = seq,
                                          .kind = (uint8_t)rng_below(&rng, 3),
                                          .val = val,
                                          .vlen = vlen});
        }
    }
    free(val);
    return s;
}

static void set_free(set_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        mem_entry_free(&s->e[i]);
    free(s->e);
}

static const sst_options_t OPTS = {.order = "key", .encoding = "ordered.1", .block_size = 512};

/* Writes s as table NUMBER of d: the status of the first failure (its
 * error in call), the writer freed (abandoned on failure) either way.
 * With OK, checks what the manifest is told, and the size it says into
 * *size (if not NULL). */
static int write_table(fs_dir_t *d, const set_t *s, uint64_t *size, xets_call_t *call)
{
    sst_file_writer_t *w = NULL;
    int rc = sst_file_create(d, NUMBER, &OPTS, &w, call);
    if (rc != XETS_OK)
        return rc;
    for (size_t i = 0; i < s->n && rc == XETS_OK; i++) {
        const mem_entry_t *e = &s->e[i];
        rc = sst_file_add(w, e->key, e->klen, e->seq, e->kind, e->val, e->vlen, call);
    }
    sst_built_t built;
    if (rc == XETS_OK)
        rc = sst_file_finish(w, &built, call);
    if (rc == XETS_OK) {
        /* A table of no entry: no keys, sequence numbers 0. */
        uint64_t min = s->n ? UINT64_MAX : 0, max = 0;
        for (size_t i = 0; i < s->n; i++) {
            min = s->e[i].seq < min ? s->e[i].seq : min;
            max = s->e[i].seq > max ? s->e[i].seq : max;
        }
        CHECK(built.entries == s->n && built.min_seq == min && built.max_seq == max,
              "built: %llu entries, seqs %llu..%llu", (unsigned long long)built.entries,
              (unsigned long long)built.min_seq, (unsigned long long)built.max_seq);
        const mem_entry_t *first = s->n ? &s->e[0] : NULL, *last = s->n ? &s->e[s->n - 1] : NULL;
        CHECK(s->n ? !bytes_cmp(built.smallest, built.smallest_len, first->key, first->klen) &&
                         !bytes_cmp(built.largest, built.largest_len, last->key, last->klen)
                   : built.smallest_len == 0 && built.largest_len == 0,
              "built: smallest or largest key");
        if (size)
            *size = built.size;
    }
    sst_file_writer_free(w);
    return rc;
}

/* ---- reading back ------------------------------------------------------- */

typedef struct visit {
    const set_t *s;
    size_t at; /* the next entry of s the lookup must give */
    bool wrong;
} visit_t;

static int visit_entry(void *ctx, const sst_entry_t *e)
{
    visit_t *v = ctx;
    if (v->at >= v->s->n || !mem_entry_equal(e, &v->s->e[v->at]))
        v->wrong = true;
    v->at++;
    return 0;
}

/* Reads a table back against s: walks it whole, looks up every key and a
 * key absent after each. Returns the first failure (XETS_OK if none);
 * every answer given before it must be right. */
static int read_all(const sst_reader_t *r, const set_t *s, xets_call_t *call)
{
    int rc;
    CHECK(sst_reader_info(r)->entries == s->n, "footer: %llu entries, want %zu",
          (unsigned long long)sst_reader_info(r)->entries, s->n);
    sst_iter_t it;
    sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, SST_FORWARD);
    sst_entry_t e;
    size_t i = 0;
    while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK) {
        CHECK(i < s->n && mem_entry_equal(&e, &s->e[i]), "walk: entry %zu wrong", i);
        i++;
    }
    sst_iter_close(&it);
    if (rc == XETS_END) {
        CHECK(i == s->n, "walk: %zu entries, want %zu", i, s->n);
        rc = XETS_OK;
    }
    for (size_t k = 0; k < s->n && rc == XETS_OK;) {
        const mem_entry_t *key = &s->e[k];
        visit_t v = {.s = s, .at = k};
        rc = sst_get(r, key->key, key->klen, visit_entry, &v, call);
        if (rc != XETS_OK)
            break;
        size_t end = k;
        while (end < s->n && !bytes_cmp(s->e[end].key, s->e[end].klen, key->key, key->klen))
            end++;
        CHECK(!v.wrong && v.at == end, "get %.*s: wrong entries", (int)key->klen, key->key);
        /* The key after it, which the spacing of keys leaves absent. */
        unsigned char absent[32];
        CHECK(key->klen < sizeof absent, "key too long");
        memcpy(absent, key->key, key->klen);
        absent[key->klen] = 0;
        v = (visit_t){.s = s, .at = s->n};
        rc = sst_get(r, absent, key->klen + 1, visit_entry, &v, call);
        CHECK(rc != XETS_OK, "get of an absent key found %zu entries", v.at - s->n);
        if (rc == XETS_NOTFOUND)
            rc = XETS_OK;
        k = end;
    }
    return rc;
}

/* read_all of table NUMBER of d, opened for it. */
static int read_back(fs_dir_t *d, const set_t *s, xets_call_t *call)
{
    sst_file_t *f = NULL;
    int rc = sst_file_open(d, NUMBER, cache, &f, call);
    if (rc != XETS_OK)
        return rc;
    rc = read_all(sst_file_reader(f), s, call);
    sst_file_close(f);
    return rc;
}

/* The call's error must name op and file, with errno err (0: any). */
static void expect_error(const xets_call_t *call, const char *op, const char *file, int err)
{
    CHECK(call->error.op && !strcmp(call->error.op, op), "op %s, want %s",
          call->error.op ? call->error.op : "(none)", op);
    CHECK(!strcmp(call->error.file, file), "file %s, want %s", call->error.file, file);
    CHECK(err == 0 || call->error.err == err, "errno %d, want %d", call->error.err, err);
}

static fs_dir_t *dir_open(bool create)
{
    fs_dir_t *d = NULL;
    CHECK(fs_dir_open(DIR, create, &d, OWN_CALL) == XETS_OK, "open " DIR);
    return d;
}

/* The directory after a crash, or after a write that failed: the final
 * name absent or naming the whole table of s, the temporary name an
 * orphan, nothing else. Returns whether the final name is there. */
static bool check_aftermath(fs_dir_t *d, const set_t *s)
{
    char final[NAMES_LEN], tmp[NAMES_LEN];
    names_format(final, NAMES_SST, NUMBER, false);
    names_format(tmp, NAMES_SST, NUMBER, true);
    char **names = NULL;
    size_t n = 0;
    CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK, "list");
    bool orphan[2] = {false, false}, has_final = false;
    CHECK(n <= 2, "%zu files", n);
    manifest_state_t empty = MANIFEST_STATE_INIT;
    uint64_t missing = 0;
    CHECK(names_orphans(&empty, 1, names, n, orphan, &missing) == XETS_OK, "orphans");
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(names[i], final)) {
            has_final = true;
            xets_call_t *call = OWN_CALL;
            int rc = read_back(d, s, call);
            CHECK(rc == XETS_OK, "%s after the crash: %d (%s at %llu)", final, rc,
                  call->error.op ? call->error.op : "?", (unsigned long long)call->error.offset);
        } else {
            CHECK(!strcmp(names[i], tmp), "a stray file %s", names[i]);
            CHECK(orphan[i], "%s not an orphan", tmp);
        }
    }
    free(names);
    return has_final;
}

/* ---- 1. round trip -------------------------------------------------------- */

static void test_round_trip(void)
{
    for (int round = 0; round < 6; round++) {
        fs_sim_reset();
        fs_dir_t *d = dir_open(true);
        set_t s = set_random(round == 0 ? 0 : round == 1 ? 1 : 2000 / SCALE, 20);
        uint64_t built = 0;
        CHECK(write_table(d, &s, &built, OWN_CALL) == XETS_OK, "write");
        fs_file_t *f = NULL;
        char name[NAMES_LEN];
        names_format(name, NAMES_SST, NUMBER, false);
        uint64_t size = 0;
        CHECK(fs_open(d, name, FS_READ, &f, OWN_CALL) == XETS_OK, "open %s", name);
        CHECK(fs_size(f, &size, OWN_CALL) == XETS_OK && size == built,
              "built: size %llu, the file %llu", (unsigned long long)built,
              (unsigned long long)size);
        fs_close(f);
        CHECK(read_back(d, &s, OWN_CALL) == XETS_OK, "read back");
        set_free(&s);
        fs_dir_close(d);
    }
}

/* ---- 2. crash --------------------------------------------------------------- */

static void test_crash(void)
{
    unsigned halted = 0, kept = 0;
    for (uint64_t seed = 1; seed <= 40 / SCALE; seed++) {
        set_t s = set_random(60, 40);
        /* The calls of one clean write. */
        fs_sim_reset();
        fs_dir_t *d = dir_open(true);
        uint64_t before = fs_sim_calls();
        CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "clean write");
        uint64_t calls = fs_sim_calls() - before;
        fs_dir_close(d);
        for (uint64_t k = 0; k <= calls; k++) {
            fs_sim_reset();
            d = dir_open(true);
            if (k < calls)
                fs_sim_fail(k, EIO, FS_SIM_HALT);
            int rc = write_table(d, &s, NULL, OWN_CALL);
            CHECK(k < calls ? rc == XETS_IO : rc == XETS_OK, "halt after %llu calls: %d",
                  (unsigned long long)k, rc);
            fs_dir_close(d);
            fs_sim_power_cut(seed * 1000 + k);
            d = dir_open(false);
            bool whole = check_aftermath(d, &s);
            CHECK(whole || k < calls, "a write that returned OK lost by a power cut");
            halted += k < calls;
            kept += whole && k < calls;
            fs_dir_close(d);
        }
        set_free(&s);
    }
    /* The cuts must have reached both outcomes for the checks to mean much. */
    CHECK(kept > 0 && kept < halted, "%u of %u halted writes kept", kept, halted);
}

/* ---- 3. faults ---------------------------------------------------------------- */

static void test_faults(void)
{
    static const struct {
        int err;
        enum fs_sim_fault kind;
    } faults[] = {{EIO, FS_SIM_FAIL}, {ENOSPC, FS_SIM_FAIL}, {ENOSPC, FS_SIM_SHORT}};
    char final[NAMES_LEN], tmp[NAMES_LEN];
    names_format(final, NAMES_SST, NUMBER, false);
    names_format(tmp, NAMES_SST, NUMBER, true);
    set_t s = set_random(60, 40);
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    uint64_t before = fs_sim_calls();
    CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "clean write");
    uint64_t calls = fs_sim_calls() - before;
    fs_dir_close(d);
    /* open, writes, fsync of the file, rename, fsync of the directory */
    CHECK(calls >= 5, "%llu calls", (unsigned long long)calls);
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        for (uint64_t k = 0; k < calls; k++) {
            fs_sim_reset();
            d = dir_open(true);
            fs_sim_fail(k, faults[f].err, faults[f].kind);
            xets_call_t *call = OWN_CALL;
            int rc = write_table(d, &s, NULL, call);
            CHECK(rc == XETS_IO, "fault at call %llu: %d", (unsigned long long)k, rc);
            if (k == 0)
                expect_error(call, "open", tmp, faults[f].err);
            else if (k < calls - 3)
                expect_error(call, "write", tmp, faults[f].err);
            else if (k == calls - 3)
                expect_error(call, "fsync", tmp, faults[f].err);
            else if (k == calls - 2)
                expect_error(call, "rename", tmp, faults[f].err);
            else
                expect_error(call, "fsync", ".", faults[f].err);
            /* The fault is spent: the abandon's removal worked. */
            char **names = NULL;
            size_t n = 0;
            CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK && n == 0,
                  "fault at call %llu: %zu files left (%s)", (unsigned long long)k, n,
                  n ? names[0] : "");
            free(names);
            fs_dir_close(d);
            fs_sim_power_cut(k);
            d = dir_open(false);
            check_aftermath(d, &s);
            fs_dir_close(d);
        }
    }
    /* Given up after an entry: the file goes. */
    fs_sim_reset();
    d = dir_open(true);
    sst_file_writer_t *w = NULL;
    CHECK(sst_file_create(d, NUMBER, &OPTS, &w, OWN_CALL) == XETS_OK, "create");
    const mem_entry_t *e = &s.e[0];
    CHECK(sst_file_add(w, e->key, e->klen, e->seq, e->kind, e->val, e->vlen, OWN_CALL) == XETS_OK,
          "add");
    sst_file_writer_free(w);
    char **names = NULL;
    size_t n = 0;
    CHECK(fs_dir_list(d, &names, &n, OWN_CALL) == XETS_OK && n == 0, "a writer given up left a file");
    free(names);
    /* A temporary name taken (by an earlier life's orphan) is refused. */
    fs_file_t *file = NULL;
    CHECK(fs_open(d, tmp, FS_CREATE, &file, OWN_CALL) == XETS_OK, "create %s", tmp);
    fs_close(file);
    xets_call_t *call = OWN_CALL;
    CHECK(sst_file_create(d, NUMBER, &OPTS, &w, call) == XETS_EXISTS, "a taken temporary name");
    expect_error(call, "open", tmp, 0);
    fs_dir_close(d);
    set_free(&s);
}

/* ---- 4. corruption through the file --------------------------------------------- */

/* The table after its bytes were changed: XETS_CORRUPT naming it, at an
 * offset within size, and no wrong answer before (read_back checks). */
static void expect_corrupt(fs_dir_t *d, const set_t *s, uint64_t size, const char *what)
{
    char final[NAMES_LEN];
    names_format(final, NAMES_SST, NUMBER, false);
    xets_call_t *call = OWN_CALL;
    int rc = read_back(d, s, call);
    CHECK(rc == XETS_CORRUPT, "%s: %d", what, rc);
    CHECK(!strcmp(call->error.file, final), "%s: file %s", what, call->error.file);
    CHECK(call->error.offset <= size, "%s: offset %llu past %llu", what,
          (unsigned long long)call->error.offset, (unsigned long long)size);
}

static void test_corruption(void)
{
    char final[NAMES_LEN];
    names_format(final, NAMES_SST, NUMBER, false);
    set_t s = set_random(30, 0);
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "write");
    fs_file_t *f = NULL;
    CHECK(fs_open(d, final, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open");
    uint64_t size = 0;
    CHECK(fs_size(f, &size, OWN_CALL) == XETS_OK, "size");
    /* Every byte flipped in turn, then put back. */
    for (uint64_t at = 0; at < size; at++) {
        unsigned char byte, flipped;
        size_t got = 0;
        CHECK(fs_read(f, at, &byte, 1, &got, OWN_CALL) == XETS_OK && got == 1, "read");
        flipped = byte ^ (unsigned char)(1u << (at % 8));
        CHECK(fs_write(f, at, &flipped, 1, OWN_CALL) == XETS_OK, "flip");
        expect_corrupt(d, &s, size, "a flipped byte");
        CHECK(fs_write(f, at, &byte, 1, OWN_CALL) == XETS_OK, "unflip");
    }
    CHECK(read_back(d, &s, OWN_CALL) == XETS_OK, "the table restored");
    /* Cut by one byte. */
    CHECK(fs_truncate(f, size - 1, OWN_CALL) == XETS_OK, "truncate");
    expect_corrupt(d, &s, size, "cut by a byte");
    fs_close(f);
    fs_dir_close(d);
    set_free(&s);

    /* Cut under an open reader: the reader asks for bytes its footer
     * promised, the file no longer has them. */
    s = set_random(200, 0);
    fs_sim_reset();
    d = dir_open(true);
    CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "write");
    sst_file_t *t = NULL;
    CHECK(sst_file_open(d, NUMBER, cache, &t, OWN_CALL) == XETS_OK, "open");
    CHECK(fs_open(d, final, FS_WRITE, &f, OWN_CALL) == XETS_OK, "open");
    CHECK(fs_size(f, &size, OWN_CALL) == XETS_OK, "size");
    uint64_t cut = size / 2;
    CHECK(fs_truncate(f, cut, OWN_CALL) == XETS_OK, "truncate");
    fs_close(f);
    sst_iter_t it;
    sst_iter_open(&it, sst_file_reader(t), SST_UNBOUNDED, SST_UNBOUNDED, SST_FORWARD);
    sst_entry_t e;
    size_t i = 0;
    xets_call_t *call = OWN_CALL;
    int rc;
    while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK) {
        CHECK(i < s.n && mem_entry_equal(&e, &s.e[i]), "walk: entry %zu wrong", i);
        i++;
    }
    sst_iter_close(&it);
    CHECK(rc == XETS_CORRUPT, "a table cut under its reader: %d", rc);
    expect_error(call, "truncated", final, 0);
    CHECK(call->error.offset == cut, "truncated at %llu, want %llu",
          (unsigned long long)call->error.offset, (unsigned long long)cut);
    CHECK(i > 0 && i < s.n, "walked %zu of %zu before the cut", i, s.n);
    sst_file_close(t);
    fs_dir_close(d);
    set_free(&s);
}

/* ---- 4b. the block cache and I/O requests ---------------------------------------- */

static enum call_thread normal_thread(void)
{
    return CALL_NORMAL;
}

/* A walk from a normal scheduler inside an epoch section reads no file:
 * a block not cached answers XETS_NEED_IO with a request, run outside
 * the section, which loads it and the SST_READAHEAD - 1 after it, and the
 * walk made again finds them. The request runs on the normal scheduler
 * when the OS holds the blocks in memory, and is given back (XETS_BUSY)
 * when it does not (every other one: fs_sim_set_cold). */
static void test_cache(void)
{
    set_t s = set_random(2000, 0);
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "write");
    sst_file_t *t = NULL;
    CHECK(sst_file_open(d, NUMBER, cache, &t, OWN_CALL) == XETS_OK, "open");
    size_t blocks = sst_reader_blocks(sst_file_reader(t));
    CHECK(blocks > 4 && cached_bytes() == 0, "%zu blocks, none cached at open", blocks);
    size_t requests = 0;
    for (;;) {
        xets_call_t call;
        call_init(&call, CALL_UNKNOWN, normal_thread);
        uint64_t reads = fs_sim_calls();
        epoch_enter();
        int rc = read_all(sst_file_reader(t), &s, &call);
        epoch_exit();
        CHECK(fs_sim_calls() == reads, "no file call inside the section");
        if (rc == XETS_OK)
            break;
        CHECK(rc == XETS_NEED_IO && call.io.run != NULL, "a request: %d", rc);
        requests++;
        CHECK(requests <= blocks + 1, "a request per block at most, and one again");
        if (requests == 3) {
            /* A request abandoned keeps the table until it is dropped. */
            call.io.drop(call.io.arg);
            continue;
        }
        if (requests % 2 == 0) {
            /* Run where it may not block, a request whose block the OS
             * does not hold in memory is given back, to run where it may. */
            fs_sim_set_cold(true);
            void *arg = call.io.arg;
            CHECK(call_run_io(&call) == XETS_BUSY && call.io.run != NULL && call.io.here &&
                      call.io.arg == arg &&
                      call.keep.release == NULL,
                  "a cold request given back, nothing kept");
            fs_sim_set_cold(false);
            call.thread = CALL_DIRTY_IO;
        }
        CHECK(call_run_io(&call) == XETS_OK, "the request runs");
        call_keep_release(&call); /* each try a new call, here */
    }
    size_t runs = (blocks + SST_READAHEAD - 1) / SST_READAHEAD;
    CHECK(requests == runs + 1, "%zu requests for %zu blocks", requests, blocks);
    /* Uncompressed, the blocks take more than they do in the file, whose
     * data blocks end where the meta-index's handle (its footer) says. */
    fs_file_t *file = NULL;
    char final[NAMES_LEN];
    names_format(final, NAMES_SST, NUMBER, false);
    uint64_t size = 0;
    unsigned char handle[8];
    size_t got = 0;
    CHECK(fs_open(d, final, FS_READ, &file, OWN_CALL) == XETS_OK &&
              fs_size(file, &size, OWN_CALL) == XETS_OK &&
              fs_read(file, size - SST_FOOTER_SIZE + 8, handle, 8, &got, OWN_CALL) == XETS_OK &&
              got == 8,
          "the footer");
    fs_close(file);
    CHECK(cached_bytes() > le64_load(handle), "the blocks cached uncompressed: %zu bytes",
          cached_bytes());
    /* A request taken, then the table closed by its opener: the request
     * still runs on the table it holds. */
    xets_call_t call;
    call_init(&call, CALL_NORMAL, normal_thread);
    sst_file_close(t);
    CHECK(sst_file_open(d, NUMBER, cache, &t, OWN_CALL) == XETS_OK, "open again");
    epoch_enter();
    int rc = read_all(sst_file_reader(t), &s, &call);
    epoch_exit();
    CHECK(rc == XETS_NEED_IO, "a fresh table has nothing cached");
    sst_file_close(t);
    CHECK(call_run_io(&call) == XETS_OK, "the request outlives the opener's close");
    call_keep_release(&call);
    fs_dir_close(d);
    set_free(&s);
}

/* ---- 4c. a bounded cache, pins ------------------------------------------------- */

/* The first entry after k's of another key. */
static size_t next_key(const set_t *s, size_t k)
{
    size_t j = k + 1;
    while (j < s->n && !bytes_cmp(s->e[j].key, s->e[j].klen, s->e[k].key, s->e[k].klen))
        j++;
    return j;
}

/* sst_get of entry k of s (a key's first) in a section, as from a normal scheduler:
 * XETS_OK (found without I/O), or XETS_NEED_IO with the request run. */
static int get_in_section(const sst_reader_t *r, const set_t *s, size_t k, xets_call_t *call)
{
    visit_t v = {.s = s, .at = k};
    epoch_enter();
    int rc = sst_get(r, s->e[k].key, s->e[k].klen, visit_entry, &v, call);
    epoch_exit();
    if (rc == XETS_NEED_IO) {
        CHECK(call_run_io(call) == XETS_OK, "the request runs");
        return rc;
    }
    CHECK(rc == XETS_OK && !v.wrong && v.at > k, "get of entry %zu: %d", k, rc);
    call_keep_release(call); /* the operation ends */
    return rc;
}

/* A cache bounded below the table's size stays within its bound (plus
 * the block being inserted) while every key is read, evicting; a block a
 * call pinned is found again however many others are loaded meanwhile,
 * and evictable again once released; reads outside a section fill
 * nothing. */
static void test_bounded(void)
{
    set_t s = set_random(2000, 0);
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "write");
    block_cache_t *unbounded = cache;
    cache = block_cache_new(4 * SST_BLOCK_SIZE);
    sst_file_t *t = NULL;
    CHECK(sst_file_open(d, NUMBER, cache, &t, OWN_CALL) == XETS_OK, "open");
    const sst_reader_t *r = sst_file_reader(t);
    CHECK(sst_reader_blocks(r) > 16, "%zu blocks", sst_reader_blocks(r));

    CHECK(read_all(r, &s, OWN_CALL) == XETS_OK && cached_bytes() == 0,
          "a read outside any section caches nothing");
    xets_call_t call;
    call_init(&call, CALL_UNKNOWN, normal_thread);
    size_t most = 0;
    for (size_t k = 0; k < s.n; k = next_key(&s, k)) {
        int tries = 0;
        while (get_in_section(r, &s, k, &call) == XETS_NEED_IO)
            CHECK(++tries < 3, "entry %zu: its block loaded, then found", k);
        if (cached_bytes() > most)
            most = cached_bytes();
    }
    block_cache_stats_t st;
    block_cache_stats(cache, &st);
    CHECK(most <= 5 * SST_BLOCK_SIZE + 1024, "at most %zu bytes cached, bound %zu", most,
          st.capacity);
    CHECK(st.evictions > 0 && st.misses >= sst_reader_blocks(r) && st.hits > 0,
          "evictions %llu, misses %llu, hits %llu", (unsigned long long)st.evictions,
          (unsigned long long)st.misses, (unsigned long long)st.hits);

    /* Entry 0 read with pins, then every other key: its block stays. */
    sst_pins_t pins = {0};
    call.pins = &pins;
    while (get_in_section(r, &s, 0, &call) == XETS_NEED_IO)
        ;
    call.pins = NULL;
    CHECK(pins.n == 1, "one block pinned: %zu", pins.n);
    for (size_t k = next_key(&s, s.n / 2); k < s.n; k = next_key(&s, k))
        while (get_in_section(r, &s, k, &call) == XETS_NEED_IO)
            ;
    CHECK(get_in_section(r, &s, 0, &call) == XETS_OK, "the pinned block is still there");
    sst_pins_release(&pins);
    for (size_t k = next_key(&s, s.n / 2); k < s.n; k = next_key(&s, k))
        while (get_in_section(r, &s, k, &call) == XETS_NEED_IO)
            ;
    epoch_enter();
    visit_t v = {.s = &s, .at = 0};
    int rc = sst_get(r, s.e[0].key, s.e[0].klen, visit_entry, &v, &call);
    epoch_exit();
    CHECK(rc == XETS_NEED_IO, "released, it was evicted: %d", rc);
    call.io.drop(call.io.arg);

    /* A pin holds its table: closed by its opener, the table stays until
     * the pin is released, and its blocks leave the cache with it. */
    call.pins = &pins;
    while (get_in_section(r, &s, 0, &call) == XETS_NEED_IO)
        ;
    call.pins = NULL;
    sst_file_close(t);
    CHECK(cached_bytes() > 0, "the pinned table's blocks stay");
    sst_pins_release(&pins);
    CHECK(cached_bytes() == 0, "its last reference gone, nothing of it is cached");
    epoch_synchronize();
    block_cache_release(cache);
    cache = unbounded;
    fs_dir_close(d);
    set_free(&s);
}

/* ---- 5. threads ------------------------------------------------------------------ */

typedef struct reader_arg {
    const sst_reader_t *r;
    const set_t *s;
} reader_arg_t;

static void *reader_main(void *arg)
{
    reader_arg_t *a = arg;
    for (int i = 0; i < 3; i++)
        CHECK(read_all(a->r, a->s, OWN_CALL) == XETS_OK, "a thread's read");
    return NULL;
}

static void test_threads(void)
{
    set_t s = set_random(500 / SCALE, 0);
    fs_sim_reset();
    fs_dir_t *d = dir_open(true);
    CHECK(write_table(d, &s, NULL, OWN_CALL) == XETS_OK, "write");
    sst_file_t *t = NULL;
    CHECK(sst_file_open(d, NUMBER, cache, &t, OWN_CALL) == XETS_OK, "open");
    reader_arg_t arg = {.r = sst_file_reader(t), .s = &s};
    pthread_t th[4];
    for (size_t i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, reader_main, &arg) == 0, "pthread_create");
    for (size_t i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    sst_file_close(t);
    fs_dir_close(d);
    set_free(&s);
}

int main(void)
{
    cache = block_cache_new(0);
    test_round_trip();
    test_crash();
    test_faults();
    test_corruption();
    test_cache();
    test_bounded();
    test_threads();
    epoch_synchronize();
    block_cache_release(cache);
    printf("sstable_file_test: ok\n");
    return 0;
}
