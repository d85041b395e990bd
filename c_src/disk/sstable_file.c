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

#include "block_cache.h"
#include "names.h"

enum writer_state { W_OPEN, W_RENAMED, W_DONE };

struct sst_file_writer {
    fs_dir_t *dir;
    fs_file_t *file; /* NULL once closed */
    sst_builder_t *b;
    enum writer_state state;
    char tmp[NAMES_LEN], name[NAMES_LEN];
};

/* Where a table's blocks are found in its store's cache (block_cache.h):
 * slots[i] is data block i's entry, or NULL, coming and going as the
 * cache loads and evicts the block. Lock-free for readers and loaders
 * alike; freed with the table, which then forgets its entries in the
 * cache. */
typedef _Atomic(cache_entry_t *) cache_slot_t;

struct sst_file {
    fs_file_t *file;
    sst_reader_t *reader; /* NULL while opening: reads go to the file */
    block_cache_t *cache;
    char name[NAMES_LEN];
    atomic_uint refs;
    cache_slot_t *slots; /* one per data block */
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

/* Adds e of f, which the caller has pinned, to pins with a reference to
 * f, the pin then pins's; false (the pin still the caller's) if the list
 * cannot grow. A block added last is not added twice: its new pin is
 * dropped. */
static bool pins_add(sst_pins_t *pins, sst_file_t *f, cache_entry_t *e)
{
    if (pins->n > 0 && pins->v[pins->n - 1].e == e) {
        block_cache_unpin(e);
        return true;
    }
    if (pins->n == pins->cap) {
        size_t cap = pins->cap ? 2 * pins->cap : 16;
        sst_pin_t *v = realloc(pins->v, cap * sizeof *v);
        if (v == NULL)
            return false;
        pins->v = v;
        pins->cap = cap;
    }
    sst_file_ref(f);
    pins->v[pins->n++] = (sst_pin_t){f, e};
    return true;
}

static void kept_release(void *arg)
{
    sst_pins_release(arg);
    free(arg);
}

/* Keeps e of f, which the caller pinned, for the call's operation
 * (call.h, call->keep; sstable_file.h, "Pins"), taking over the pin. */
static void keep(xets_call_t *call, sst_file_t *f, cache_entry_t *e)
{
    sst_pins_t *kept = call->keep.release == kept_release ? call->keep.arg : NULL;
    if (kept == NULL && call->keep.release == NULL && (kept = calloc(1, sizeof *kept)) != NULL)
        call->keep = (call_keep_t){kept, kept_release};
    if (kept == NULL || !pins_add(kept, f, e))
        block_cache_unpin(e);
}

/* Reads data block blk, unpacks it (what the cache holds is lent as
 * checked and uncompressed: sst_borrow_fn) and publishes it, unless it is
 * there already. requested (a request's own block, not one read ahead):
 * the block is kept for the call's operation. room_only as
 * block_cache_insert's. */
static int cache_load(sst_file_t *f, size_t blk, bool requested, bool room_only,
                      xets_call_t *call)
{
    cache_slot_t *sl = &f->slots[blk];
    if (requested) {
        /* Inside a section: found, the entry could be freed as soon as
         * it is evicted, before the pin. */
        epoch_enter();
        cache_entry_t *e = atomic_load_explicit(sl, memory_order_acquire);
        bool there = e != NULL && block_cache_pin(e);
        epoch_exit();
        if (there) {
            keep(call, f, e);
            return XETS_OK;
        }
    } else if (atomic_load_explicit(sl, memory_order_acquire) != NULL) {
        return XETS_OK;
    }
    uint64_t off;
    size_t len;
    sst_reader_block(f->reader, blk, &off, &len);
    bytes_t b = BYTES_INIT;
    int rc = bytes_reserve_to(&b, len) ? file_read(f, off, b.p, len, call) : XETS_NOMEM;
    if (rc == XETS_OK) {
        b.len = len;
        rc = sst_reader_unpack(f->reader, off, &b, call);
    }
    cache_entry_t *e = NULL;
    if (rc == XETS_OK)
        e = block_cache_insert(f->cache, sl, &b, requested, room_only);
    if (rc == XETS_OK && requested && !call_may_block(call))
        block_cache_count_in_place(f->cache);
    if (e != NULL)
        keep(call, f, e);
    bytes_free(&b);
    return rc;
}

/* A request's load: block blk of f, and for a walk the blocks after it
 * (up to SST_READAHEAD of them, within an eighth of a bounded cache), so
 * that a cold walk asks for one request per run of blocks, not per
 * block (each asks for its operation to be redone). */
typedef struct load_request {
    sst_file_t *f;
    size_t blk;
    bool walk;
} load_request_t;

static void load_drop(void *arg)
{
    load_request_t *q = arg;
    sst_file_close(q->f);
    free(q);
}

/* On a thread that may not block, a block the OS does not hold in memory
 * (fs.h) ends the read ahead; the requested one answers XETS_BUSY, q
 * left as it was, for the request to stand (call.h). */
static int load_run(void *arg, xets_call_t *call)
{
    load_request_t *q = arg;
    const sst_reader_t *r = q->f->reader;
    size_t capacity = block_cache_capacity(q->f->cache), ahead = 0;
    int rc = XETS_OK;
    for (size_t i = q->blk; i < sst_reader_blocks(r) && rc == XETS_OK; i++) {
        uint64_t off;
        size_t len;
        sst_reader_block(r, i, &off, &len);
        if (i > q->blk && (!q->walk || i - q->blk >= SST_READAHEAD ||
                           (capacity != 0 && (ahead += len) > capacity / 8)))
            break;
        rc = cache_load(q->f, i, i == q->blk, false, call);
        if (rc == XETS_BUSY && i > q->blk) {
            rc = XETS_OK;
            break;
        }
        if (rc == XETS_BUSY)
            return rc;
    }
    load_drop(q);
    return rc;
}

/* The reader's read callback: the footer, index and meta-index, read once
 * at open, before there is a cache (data blocks are borrowed). */
static int open_read(void *ctx, uint64_t off, void *buf, size_t len, xets_call_t *call)
{
    return file_read(ctx, off, buf, len, call);
}

/* Pins e of table f for the call (sstable_file.h, "Pins"): false if it
 * is being evicted, or the list cannot grow (a miss, then: the block is
 * loaded again). */
static bool pin(sst_pins_t *pins, sst_file_t *f, cache_entry_t *e)
{
    if (!block_cache_pin(e))
        return false;
    if (pins_add(pins, f, e))
        return true;
    block_cache_unpin(e);
    return false;
}

void sst_pins_release(sst_pins_t *pins)
{
    for (size_t i = 0; i < pins->n; i++) {
        block_cache_unpin(pins->v[i].e);
        sst_file_close(pins->v[i].f);
    }
    free(pins->v);
    *pins = (sst_pins_t){0};
}

/* The reader's borrow callback (see sstable_file.h, "Reading"). */
static int cached_borrow(void *ctx, size_t blk, bool walk, const uint8_t **p, size_t *size,
                         xets_call_t *call)
{
    sst_file_t *f = ctx;
    /* Opening (no cache yet), or outside a section, where an evicted
     * block could be freed under its reader: the reader reads its own. */
    if (f->reader == NULL || !epoch_in_section())
        return XETS_NOTFOUND;
    cache_entry_t *e = block_cache_find(f->cache, &f->slots[blk], !walk);
    if (e != NULL && (call->pins == NULL || pin(call->pins, f, e))) {
        *p = e->block.p;
        *size = e->block.len;
        return XETS_OK;
    }
    load_request_t *q = malloc(sizeof *q);
    if (q == NULL)
        return XETS_NOMEM;
    atomic_fetch_add(&f->refs, 1);
    *q = (load_request_t){f, blk, walk};
    call->io = (call_io_t){.run = load_run, .drop = load_drop, .arg = q, .here = true};
    return XETS_NEED_IO;
}

int sst_file_open(fs_dir_t *d, uint64_t number, block_cache_t *cache, sst_file_t **out,
                  xets_call_t *call)
{
    sst_file_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return XETS_NOMEM;
    atomic_init(&f->refs, 1);
    block_cache_ref(cache);
    f->cache = cache;
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
        /* + 1: never calloc(0) */
        f->slots = calloc(sst_reader_blocks(r) + 1, sizeof *f->slots);
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

int sst_file_warm(sst_file_t *f, xets_call_t *call)
{
    for (size_t i = 0; i < sst_reader_blocks(f->reader); i++) {
        uint64_t off;
        size_t len;
        sst_reader_block(f->reader, i, &off, &len);
        /* A block unpacked may be longer than stored: twice is a guess
         * that stops the warming short of the bound, not past it. */
        if (!block_cache_has_room(f->cache, 2 * len))
            break;
        int rc = cache_load(f, i, false, true, call);
        if (rc != XETS_OK)
            return rc;
    }
    return XETS_OK;
}

const sst_reader_t *sst_file_reader(const sst_file_t *f)
{
    return f->reader;
}

void sst_file_close(sst_file_t *f)
{
    if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    for (size_t i = 0; f->slots != NULL && i < sst_reader_blocks(f->reader); i++)
        if (atomic_load(&f->slots[i]) != NULL)
            block_cache_forget(f->cache, &f->slots[i]);
    sst_reader_close(f->reader);
    if (f->file != NULL)
        fs_close(f->file);
    block_cache_release(f->cache);
    free(f->slots);
    free(f);
}
