/* SSTables as files: sstable.h's builder and reader over fs.h. The order
 * of writes, syncs and renames, and why, is in sstable_file.h.
 *
 * A writer goes OPEN (the temporary file open, being written) -> RENAMED
 * (synced, closed and renamed; the directory sync to come) -> DONE. Its
 * state says which name an abandon removes: OPEN the temporary one,
 * RENAMED the final one, DONE none. */
#include "sstable_file.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "../epoch.h"

#include "names.h"

enum writer_state { W_OPEN, W_RENAMED, W_DONE };

struct sst_file_writer {
    fs_dir_t *dir;
    fs_file_t *file; /* NULL once closed */
    sst_builder_t *b;
    enum writer_state state;
    char tmp[NAMES_LEN], name[NAMES_LEN];
};

/* A table's block cache: an open-addressing map from a block's offset to
 * the block as sst_reader_unpack makes it (checked, uncompressed), with
 * room for twice the table's blocks, so that it never fills. A slot's key
 * goes from 0 to offset + 1 once (compare-and-swap), then its block from
 * NULL to the block once; a reader that finds the key but not yet the
 * block counts a miss. Lock-free for readers and loaders alike; freed
 * with the table. */
typedef struct cache_slot {
    _Atomic uint64_t key;
    _Atomic(bytes_t *) block;
} cache_slot_t;

struct sst_file {
    fs_file_t *file;
    sst_reader_t *reader; /* NULL while opening: reads go to the file */
    char name[NAMES_LEN];
    atomic_uint refs;
    size_t mask; /* slots - 1 */
    cache_slot_t *slots;
    atomic_size_t cached; /* bytes held by the cache */
};

/* The builder's write callback: fs_write names the file and offset of a
 * failure. */
static int file_write(void *ctx, uint64_t off, const void *p, size_t len, xets_call_t *call)
{
    sst_file_writer_t *w = ctx;
    return fs_write(w->file, off, p, len, call);
}

int sst_file_create(fs_dir_t *d, uint64_t number, const sst_options_t *o,
                    sst_file_writer_t **out, xets_call_t *call)
{
    sst_file_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return XETS_NOMEM;
    w->dir = d;
    names_format(w->tmp, NAMES_SST, number, true);
    names_format(w->name, NAMES_SST, number, false);
    /* The builder first: bad options are refused before any file exists. */
    int rc = sst_builder_new(o, file_write, w, &w->b);
    if (rc == XETS_OK)
        rc = fs_open(d, w->tmp, FS_CREATE, &w->file, call);
    if (rc != XETS_OK) {
        sst_builder_free(w->b);
        free(w);
        return rc;
    }
    *out = w;
    return XETS_OK;
}

int sst_file_add(sst_file_writer_t *w, const unsigned char *key, size_t klen, uint64_t seq,
                 uint8_t kind, const unsigned char *val, size_t vlen, xets_call_t *call)
{
    return sst_builder_add(w->b, key, klen, seq, kind, val, vlen, call);
}

int sst_file_finish(sst_file_writer_t *w, sst_built_t *out, xets_call_t *call)
{
    int rc = sst_builder_finish(w->b, out, call);
    if (rc == XETS_OK)
        rc = fs_sync(w->file, call);
    if (rc != XETS_OK)
        return rc;
    fs_close(w->file);
    w->file = NULL;
    rc = fs_rename(w->dir, w->tmp, w->name, call);
    if (rc != XETS_OK)
        return rc;
    w->state = W_RENAMED;
    rc = fs_dir_sync(w->dir, call);
    if (rc != XETS_OK)
        return rc;
    w->state = W_DONE;
    return XETS_OK;
}

void sst_file_writer_free(sst_file_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->file != NULL)
        fs_close(w->file);
    if (w->state != W_DONE) {
        /* Best effort: a name that stays is an orphan (sstable_file.h), so
         * the failure, already reported or of no interest to a caller who
         * gave up, is dropped with the scratch call that holds it. */
        xets_call_t scratch;
        call_init(&scratch, CALL_OWN, NULL);
        (void)fs_remove(w->dir, w->state == W_OPEN ? w->tmp : w->name, &scratch);
    }
    sst_builder_free(w->b);
    free(w);
}

/* Reads len bytes at off from the file: every byte, which lie within the
 * size taken at open, or the file is shorter than its footer claims. */
static int file_read(sst_file_t *f, uint64_t off, void *buf, size_t len, xets_call_t *call)
{
    size_t got = 0;
    int rc = fs_read(f->file, off, buf, len, &got, call);
    if (rc == XETS_OK && got < len)
        rc = call_fail(call, XETS_CORRUPT, "truncated", f->name, off + got, 0);
    return rc;
}

static cache_slot_t *slot_of(sst_file_t *f, uint64_t off)
{
    size_t i = (size_t)(off * 0x9E3779B97F4A7C15ull >> 20) & f->mask;
    for (;; i = (i + 1) & f->mask) {
        uint64_t k = atomic_load_explicit(&f->slots[i].key, memory_order_acquire);
        if (k == off + 1)
            return &f->slots[i];
        if (k == 0) {
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong(&f->slots[i].key, &zero, off + 1) ||
                zero == off + 1)
                return &f->slots[i];
        }
    }
}

static void block_free(bytes_t *b)
{
    if (b != NULL)
        bytes_free(b);
    free(b);
}

/* Reads the len bytes of the block stored at off into the cache, unless
 * it is there, and unpacks it: what the cache holds is lent as checked and
 * uncompressed (sst_borrow_fn). */
static int cache_load(sst_file_t *f, uint64_t off, size_t len, xets_call_t *call)
{
    cache_slot_t *sl = slot_of(f, off);
    if (atomic_load_explicit(&sl->block, memory_order_acquire) != NULL)
        return XETS_OK;
    bytes_t *b = malloc(sizeof *b);
    if (b == NULL)
        return XETS_NOMEM;
    *b = (bytes_t)BYTES_INIT;
    int rc = bytes_reserve_to(b, len) ? file_read(f, off, b->p, len, call) : XETS_NOMEM;
    if (rc == XETS_OK) {
        b->len = len;
        rc = sst_reader_unpack(f->reader, off, b, call);
    }
    bytes_t *none = NULL;
    if (rc != XETS_OK || !atomic_compare_exchange_strong(&sl->block, &none, b))
        block_free(b); /* failed, or another loader was first */
    else
        atomic_fetch_add(&f->cached, b->len);
    return rc;
}

typedef struct load_request {
    sst_file_t *f;
    uint64_t off;
    size_t len;
} load_request_t;

static int load_run(void *arg, xets_call_t *call)
{
    load_request_t *q = arg;
    int rc = cache_load(q->f, q->off, q->len, call);
    sst_file_close(q->f);
    free(q);
    return rc;
}

static void load_drop(void *arg)
{
    load_request_t *q = arg;
    sst_file_close(q->f);
    free(q);
}

/* The reader's read callback: the footer, index and meta-index, read once
 * at open, before there is a cache (data blocks are borrowed). */
static int open_read(void *ctx, uint64_t off, void *buf, size_t len, xets_call_t *call)
{
    return file_read(ctx, off, buf, len, call);
}

/* The reader's borrow callback (see sstable_file.h, "Reading"). */
static int cached_borrow(void *ctx, uint64_t off, size_t len, const uint8_t **p, size_t *size,
                         xets_call_t *call)
{
    sst_file_t *f = ctx;
    if (f->reader == NULL)
        return XETS_NOTFOUND; /* opening: no cache yet */
    for (;;) {
        const bytes_t *b = atomic_load_explicit(&slot_of(f, off)->block, memory_order_acquire);
        if (b != NULL) {
            *p = b->p;
            *size = b->len;
            return XETS_OK;
        }
        if (call_may_block(call) && !epoch_in_section()) {
            int rc = cache_load(f, off, len, call);
            if (rc != XETS_OK)
                return rc;
            continue;
        }
        load_request_t *q = malloc(sizeof *q);
        if (q == NULL)
            return XETS_NOMEM;
        atomic_fetch_add(&f->refs, 1);
        *q = (load_request_t){f, off, len};
        call->io = (call_io_t){.run = load_run, .drop = load_drop, .arg = q};
        return XETS_NEED_IO;
    }
}

int sst_file_open(fs_dir_t *d, uint64_t number, sst_file_t **out, xets_call_t *call)
{
    sst_file_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return XETS_NOMEM;
    atomic_init(&f->refs, 1);
    names_format(f->name, NAMES_SST, number, false);
    uint64_t size = 0;
    int rc = fs_open(d, f->name, FS_READ, &f->file, call);
    if (rc == XETS_OK)
        rc = fs_size(f->file, &size, call);
    sst_reader_t *r = NULL;
    if (rc == XETS_OK) {
        sst_source_t src = {.read = open_read, .borrow = cached_borrow, .ctx = f,
                            .size = size, .name = f->name};
        rc = sst_reader_open(&src, &r, call);
    }
    if (rc == XETS_OK) {
        size_t slots = 4;
        while (slots < 2 * sst_reader_blocks(r) + 2)
            slots *= 2;
        f->slots = calloc(slots, sizeof *f->slots);
        f->mask = slots - 1;
        rc = f->slots ? XETS_OK : XETS_NOMEM;
    }
    f->reader = r;
    if (rc != XETS_OK) {
        sst_file_close(f);
        return rc;
    }
    *out = f;
    return XETS_OK;
}

void sst_file_ref(sst_file_t *f)
{
    atomic_fetch_add(&f->refs, 1);
}

size_t sst_file_cached(const sst_file_t *f)
{
    return atomic_load(&f->cached);
}

const sst_reader_t *sst_file_reader(const sst_file_t *f)
{
    return f->reader;
}

void sst_file_close(sst_file_t *f)
{
    if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    sst_reader_close(f->reader);
    if (f->file != NULL)
        fs_close(f->file);
    if (f->slots != NULL)
        for (size_t i = 0; i <= f->mask; i++)
            block_free(atomic_load(&f->slots[i].block));
    free(f->slots);
    free(f);
}
