/* Fuzz target of the LSM store's own decoders (c_src/disk/lsm.c): the
 * entries of a WAL batch (entry_get) and a bag key's state list
 * (state_each). The input (test/c/lsm_fuzz.h) is a kind and the bytes of
 * batches; the target writes them as a valid WAL (wal_encode_header,
 * wal_encode_batch: the checksums hold, so the bytes reach the entry
 * decoder) beside a manifest of an empty table that names that WAL live,
 * in the simulated file system, and opens the store: recovery replays
 * the batches into the memtable. If the open succeeds, a full cursor walk,
 * gets of keys it yielded and of a fixed one, a put and a remove, then a
 * close (which writes the memtable as an SSTable). Any status is fine;
 * nothing may crash, leak or read out of bounds (ASan, UBSan), and every
 * status is one store.h allows. Built with clang's libFuzzer (`make
 * fuzz`) or with test/c/fuzz_driver.c (`make check`); seeded with valid
 * batches of every kind (test/c/lsm_seeds.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/fs.h"
#include "disk/fs_sim.h"
#include "disk/lsm.h"
#include "disk/manifest.h"
#include "disk/names.h"
#include "disk/wal.h"
#include "enif_threads.h"
#include "epoch.h"
#include "lsm_fuzz.h"
#include "reaper.h"
#include "status.h"
#include "store.h"

static const struct {
    const char *type;
    const store_ops_t *ops;
    enum store_kind kind;
} kinds[LSM_FUZZ_KINDS] = {
    {"set", &lsm_hash_ops, STORE_SET},
    {"bag", &lsm_hash_ops, STORE_BAG},
    {"duplicate_bag", &lsm_hash_ops, STORE_DUPLICATE_BAG},
    {"ordered_set", &lsm_ordered_ops, STORE_SET},
};

static void write_file(fs_dir_t *d, const char *name, const bytes_t *b)
{
    fs_file_t *f = NULL;
    REQUIRE(fs_open(d, name, FS_CREATE, &f, OWN_CALL) == XETS_OK);
    REQUIRE(fs_write(f, 0, b->p, b->len, OWN_CALL) == XETS_OK);
    REQUIRE(fs_sync_named(d, f, OWN_CALL) == XETS_OK);
    fs_close(f);
}

static bool allowed(int st)
{
    return st == XETS_OK || st == XETS_IO || st == XETS_CORRUPT || st == XETS_NOMEM ||
           st == XETS_NOTFOUND || st == XETS_DIRTY;
}

/* Runs an operation's redo loop as the glue does (store.h: XETS_NEED_IO
 * served outside the section). */
typedef int (*op_fn)(void *arg, xets_call_t *call);

static int run(op_fn fn, void *arg, xets_call_t *call)
{
    for (int tries = 0; tries < 1000; tries++) {
        call->io.run = NULL;
        epoch_enter();
        int st = fn(arg, call);
        epoch_exit();
        if (st == XETS_NEED_IO && call->io.run != NULL && (st = call_run_io(call)) == XETS_OK)
            continue;
        call_keep_release(call);
        if (st != XETS_NEED_IO)
            return st;
    }
    REQUIRE(!"an operation asks for I/O without end");
    return XETS_IO;
}

typedef struct op {
    const store_ops_t *ops;
    store_t *s;
    const unsigned char *key, *val;
    size_t klen, vlen;
    size_t seen;
} op_t;

static int count_rec(void *ctx, const rec_t *r)
{
    op_t *o = ctx;
    REQUIRE(r->klen == o->klen && (o->klen == 0 || !memcmp(r->key, o->key, o->klen)));
    o->seen++;
    return 0;
}

static int do_get(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->seen = 0;
    return o->ops->get(o->s, call, o->key, o->klen, count_rec, o);
}

static int do_put(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    rec_in_t in = {o->key, o->klen, o->val, o->vlen, 0x1234};
    return o->ops->put(o->s, call, &in, PUT_REPLACE, NULL, NULL);
}

static int do_remove(void *arg, xets_call_t *call)
{
    op_t *o = arg;
    o->seen = 0;
    return o->ops->remove(o->s, call, o->key, o->klen, NULL, NULL, count_rec, o);
}

#define KEEP 3

/* A full walk; up to KEEP keys it yields copied into keys. */
static int walk(const store_ops_t *ops, store_t *s, xets_call_t *call, bytes_t *keys,
                size_t *nkeys)
{
    bytes_t last = BYTES_INIT;
    bool have_last = false;
    int rc = XETS_OK;
    for (int tries = 0; tries < 1000; tries++) {
        store_bound_t lo = have_last ? (store_bound_t){last.p, last.len, false} : STORE_UNBOUNDED;
        store_cursor_t c;
        call->io.run = NULL;
        epoch_enter();
        store_cursor_open(&c, ops, s, call, lo, STORE_UNBOUNDED, SCAN_FORWARD);
        const rec_t *r;
        size_t n;
        while ((rc = store_cursor_next(&c, &r, &n)) == XETS_OK) {
            REQUIRE(n > 0);
            if (*nkeys < KEEP)
                REQUIRE(bytes_set(&keys[(*nkeys)++], r[0].key, r[0].klen));
            size_t sl = store_sort_key(ops, r[0].key, r[0].klen, NULL, 0);
            REQUIRE(bytes_reserve_to(&last, sl));
            last.len = store_sort_key(ops, r[0].key, r[0].klen, last.p, sl);
            have_last = true;
        }
        store_cursor_close(&c);
        epoch_exit();
        if (rc != XETS_NEED_IO)
            break;
        if (call->io.run != NULL && (rc = call_run_io(call)) != XETS_OK)
            break;
    }
    bytes_free(&last);
    call_keep_release(call);
    return rc == XETS_END ? XETS_OK : rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool started;
    if (!started) {
        REQUIRE(reaper_start() == 0);
        started = true;
    }
    if (size < 1)
        return 0;
    unsigned kx = data[0] % LSM_FUZZ_KINDS;
    const store_ops_t *ops = kinds[kx].ops;
    data++;
    size--;

    /* The WAL: a header, then each batch, every checksum right. */
    wal_header_t wh = {.id = {WAL_VERSION, "exact.1", ""}, .first_seq = 1};
    snprintf(wh.id.order, sizeof wh.id.order, "%s", ops->order);
    bytes_t wal = BYTES_INIT;
    REQUIRE(wal_encode_header(&wal, &wh, LSM_FUZZ_WAL) == XETS_OK);
    uint64_t seq = 1;
    while (size > 0) {
        size_t len = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
        size_t skip = size >= 2 ? 2 : size;
        data += skip;
        size -= skip;
        if (len > size)
            len = size;
        int st = wal_encode_batch(&wal, seq, data, len, wal.len, LSM_FUZZ_WAL);
        REQUIRE(st == XETS_OK);
        seq++;
        data += len;
        size -= len;
    }
    /* The manifest: an empty table whose live WAL is LSM_FUZZ_WAL. */
    manifest_header_t mh = {.keypos = 1};
    mh.id = wh.id;
    mh.id.version = MANIFEST_VERSION;
    snprintf(mh.type, sizeof mh.type, "%s", kinds[kx].type);
    manifest_state_t ms = {.next_file = LSM_FUZZ_WAL + 1, .log_number = LSM_FUZZ_WAL};
    bytes_t man = BYTES_INIT;
    REQUIRE(manifest_encode_start(&man, &mh, &ms, LSM_FUZZ_MANIFEST) == XETS_OK);

    fs_sim_reset();
    fs_dir_t *d = NULL;
    REQUIRE(fs_dir_open("/z", true, &d, OWN_CALL) == XETS_OK);
    char name[NAMES_LEN];
    names_format(name, NAMES_MANIFEST, LSM_FUZZ_MANIFEST, false);
    write_file(d, name, &man);
    names_format(name, NAMES_WAL, LSM_FUZZ_WAL, false);
    write_file(d, name, &wal);
    fs_dir_close(d);
    bytes_free(&man);
    bytes_free(&wal);

    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    lsm_options_t lo = {.type = kinds[kx].type, .keypos = 1, .encoding = "exact.1",
                        .sync = LSM_SYNC_NONE, .memtable_bytes = 4096};
    store_t *s = NULL;
    int st = ops->open(&(store_options_t){.kind = kinds[kx].kind, .dir = "/z", .disk = &lo}, &s,
                       &call);
    REQUIRE(st == XETS_OK || st == XETS_CORRUPT || st == XETS_IO || st == XETS_NOMEM);
    if (st == XETS_OK) {
        bytes_t keys[KEEP] = {BYTES_INIT, BYTES_INIT, BYTES_INIT};
        size_t nkeys = 0;
        st = walk(ops, s, &call, keys, &nkeys);
        REQUIRE(allowed(st));
        op_t o = {.ops = ops, .s = s};
        for (size_t i = 0; i < nkeys; i++) {
            o.key = keys[i].p;
            o.klen = keys[i].len;
            REQUIRE(allowed(run(do_get, &o, &call)));
        }
        o.key = (const unsigned char *)"k1";
        o.klen = 2;
        o.val = (const unsigned char *)"fuzz";
        o.vlen = 4;
        REQUIRE(allowed(run(do_get, &o, &call)));
        REQUIRE(allowed(run(do_put, &o, &call)));
        if (nkeys > 0) {
            o.key = keys[0].p;
            o.klen = keys[0].len;
            st = run(do_put, &o, &call);
            REQUIRE(allowed(st));
            st = run(do_remove, &o, &call);
            REQUIRE(st >= 0 || allowed(st));
        }
        (void)ops->size(s);
        st = ops->close(s, &call);
        REQUIRE(allowed(st));
        for (size_t i = 0; i < KEEP; i++)
            bytes_free(&keys[i]);
    }
    reaper_drain();
    epoch_synchronize();
    return 0;
}
