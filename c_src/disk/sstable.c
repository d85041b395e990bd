/* SSTables: the builder, the reader and its iterator (sstable.h; the
 * layout and rules in doc/sstable_format.md).
 *
 * Builder. Entries go into a data block until it reaches the target size
 * (so a block holds at least one entry, and one larger than the target
 * alone); the block is then written with its trailer, compressed if that
 * saves an eighth of it (sstable_compress.h) and the options allow. Its index entry
 * waits for the next key, so that its separator can be shortened to lie
 * between the block's last key and the next block's first (LevelDB's
 * FindShortestSeparator); the last block's separator is its last key.
 * Each distinct key's hash goes to the filter builder, whose block is
 * written after the last data block and named in the meta-index.
 *
 * Reader. Open reads the footer, then the index, whose handles must tile
 * the file from offset 0 (one data block after the other), then the
 * meta-index, whose blocks must tile the rest up to it: every byte of the
 * file then lies in a checksummed block or the footer. The index's
 * separators and handles are kept in an array for binary search, the
 * filter (if the meta-index names one) in memory too. A data
 * block is read (its checksum checked, then decompressed if stored so:
 * unpack, the one place either happens) when an iterator reaches it; that
 * one function, load_block, takes blocks from a cache where the source
 * lends them (sst_borrow_fn), the cache having made them with unpack too.
 *
 * Separators: block i's keys are <= its separator, which is <= block
 * i+1's first key (equal when a key's entries run on from one block into
 * the next). The first block whose separator is not before a key is then
 * the first that can hold it, and if it holds none at or after the key,
 * the next block's first entry is the one. A walk checks both bounds as it
 * goes from block to block, so that a table a walk finds sound is one
 * whose lookups and seeks find what the walk found. A walk over the whole
 * table also asks the filter for each key it yields, so that a table it
 * finds sound has a filter that turns away none of its keys (checksums
 * cannot tell a filter built wrong from a right one).
 *
 * Backward. A walk goes block by block from the last, each block run by
 * run from its end (sstable_block.h), checking each entry against the one
 * it came from and the same separators at block boundaries. The last entry
 * at or before t is the one before the first entry after t: it lies in the
 * first block whose separator is after t, or is the last of the block
 * before; no such block, it is the table's last. */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "sstable.h"
#include "sstable_compress.h"

#define SST_MAGIC "xets.sst"     /* 8 bytes, the last of a table */
#define SST_BLOCK_MAX UINT32_MAX /* bytes of a block without its trailer */

/* Trailer types: the block stored as it is; a data block stored
 * compressed (only in a version 2 table). */
enum { BLOCK_PLAIN = 0, BLOCK_LZ4 = 1 };

/* The footer, versions 1 and 2 alike. The version and the magic stay at these places
 * from the end in every version, so that any version's footer says which
 * it is; the version's complement makes a damaged version read as damage,
 * not as a version not known. */
enum {
    F_CHECKSUM = 0, /* u64: XXH3-64 of bytes 8..112 */
    F_META = 8,     /* u64 offset, u64 size: the meta-index */
    F_INDEX = 24,   /* u64 offset, u64 size: the index */
    F_ENTRIES = 40, /* u64 */
    F_MIN_SEQ = 48, /* u64 */
    F_MAX_SEQ = 56, /* u64 */
    F_ORDER = 64,   /* 16 bytes: the name, NUL-padded */
    F_ENCODING = 80,
    F_VERSION = 96, /* u32, then u32 its complement */
    F_MAGIC = 104   /* 8 bytes */
};
_Static_assert(F_MAGIC + 8 == SST_FOOTER_SIZE, "the footer's fields fill it");
_Static_assert(SST_NAME_MAX + 1 == F_ENCODING - F_ORDER, "a name field holds a name and a NUL");

/* ---- building ---- */

struct sst_builder {
    sst_write_fn write;
    void *ctx;
    size_t block_size;
    char order[SST_NAME_MAX + 1], encoding[SST_NAME_MAX + 1];
    sst_block_builder_t data, index, meta; /* data.last: the last key added */
    bytes_t first;                         /* the first key added */
    bytes_t sep;                           /* scratch: a separator */
    sst_filter_builder_t filter;           /* the distinct keys' hashes */
    bool no_filter;                        /* write none (sst_options_t) */
    bool compress;                         /* data blocks compressed where it pays */
    bytes_t packed;                        /* scratch: a data block compressed */
    uint64_t off;                          /* bytes written */
    /* The last data block written, whose index entry waits for the next key. */
    bool pending;
    uint64_t pending_off, pending_size;
    uint64_t entries, min_seq, max_seq, last_seq;
    int failed; /* a failure after which the builder can only be freed */
    bool finished;
};

int sst_builder_new(const sst_options_t *o, sst_write_fn write, void *ctx, sst_builder_t **out)
{
    if (!bytes_name_ok(o->order, strlen(o->order), SST_NAME_MAX) ||
        !bytes_name_ok(o->encoding, strlen(o->encoding), SST_NAME_MAX) ||
        o->block_size > SST_ENTRY_MAX)
        return XETS_BADARG;
    sst_builder_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return XETS_NOMEM;
    b->write = write;
    b->ctx = ctx;
    b->block_size = o->block_size ? o->block_size : SST_BLOCK_SIZE;
    b->no_filter = o->no_filter;
    b->compress = !o->no_compression;
    strcpy(b->order, o->order);
    strcpy(b->encoding, o->encoding);
    sst_bb_init(&b->data, o->restart_interval ? o->restart_interval : SST_RESTART_INTERVAL);
    /* A restart point at every entry: the index is searched in memory, and
     * the meta-index is a handful of names. */
    sst_bb_init(&b->index, 1);
    sst_bb_init(&b->meta, 1);
    *out = b;
    return XETS_OK;
}

void sst_builder_free(sst_builder_t *b)
{
    if (b == NULL)
        return;
    sst_bb_free(&b->data);
    sst_bb_free(&b->index);
    sst_bb_free(&b->meta);
    bytes_free(&b->first);
    bytes_free(&b->sep);
    bytes_free(&b->packed);
    sst_fb_free(&b->filter);
    free(b);
}

static int fail(sst_builder_t *b, int rc)
{
    b->failed = rc;
    return rc;
}

/* Writes the block of len bytes at p (room for its trailer after them)
 * and its trailer of the given type at the end of the file, the block's
 * handle into *off and *size. */
static int write_bytes(sst_builder_t *b, unsigned char *p, size_t len, uint8_t type,
                       uint64_t *off, uint64_t *size, xets_call_t *call)
{
    if (len > SST_BLOCK_MAX) /* an index of huge keys: the restart offsets would not fit */
        return XETS_BADARG;
    p[len] = type;
    le64_store(p + len + 1, XXH3_64bits(p, len + 1));
    int rc = b->write(b->ctx, b->off, p, len + SST_TRAILER_SIZE, call);
    if (rc != XETS_OK)
        return rc;
    *off = b->off;
    *size = len;
    b->off += len + SST_TRAILER_SIZE;
    return XETS_OK;
}

/* Writes bb's block as write_bytes, compressed if compress and that pays
 * (only data blocks are: the index, meta-index and filter are read once,
 * at open), and empties bb. */
static int write_block(sst_builder_t *b, sst_block_builder_t *bb, bool compress, uint64_t *off,
                       uint64_t *size, xets_call_t *call)
{
    int rc = sst_bb_finish(bb, SST_TRAILER_SIZE);
    unsigned char *p = bb->buf.p;
    size_t len = bb->buf.len;
    uint8_t type = BLOCK_PLAIN;
    if (rc == XETS_OK && compress) {
        b->packed.len = 0;
        rc = sst_compress(p, len, SST_TRAILER_SIZE, &b->packed);
        if (rc == XETS_OK) {
            p = b->packed.p;
            len = b->packed.len;
            type = BLOCK_LZ4;
        } else if (rc == XETS_NOTFOUND) {
            rc = XETS_OK; /* it does not pay: raw */
        }
    }
    if (rc == XETS_OK)
        rc = write_bytes(b, p, len, type, off, size, call);
    if (rc == XETS_OK)
        sst_bb_reset(bb);
    return rc;
}

/* Adds to bb an entry naming the block at off of size bytes. */
static int add_handle(sst_block_builder_t *bb, const unsigned char *key, size_t klen,
                      uint64_t off, uint64_t size)
{
    unsigned char h[2 * VARINT_MAX];
    size_t n = varint_put(h, off);
    n += varint_put(h + n, size);
    return sst_bb_add(bb, key, klen, h, n, NULL, 0);
}

/* Adds the pending block's index entry, under the separator key sep. */
static int add_index(sst_builder_t *b, const unsigned char *sep, size_t len)
{
    b->pending = false;
    return add_handle(&b->index, sep, len, b->pending_off, b->pending_size);
}

/* Writes the filter of the keys added and names it in the meta-index. */
static int write_filter(sst_builder_t *b, xets_call_t *call)
{
    bytes_t block = BYTES_INIT;
    uint64_t off, size;
    int rc = sst_fb_finish(&b->filter, &block, SST_TRAILER_SIZE);
    if (rc == XETS_OK)
        rc = write_bytes(b, block.p, block.len, BLOCK_PLAIN, &off, &size, call);
    bytes_free(&block);
    if (rc != XETS_OK)
        return rc;
    static const char name[] = SST_FILTER_NAME;
    return add_handle(&b->meta, (const unsigned char *)name, sizeof name - 1, off, size);
}

/* Into b->sep, a short key s, last <= s <= next and s < next unless they
 * are equal (last being the last key of the block written, next the first
 * of the next one): their common prefix and last's next byte plus one,
 * where that stays below next's; else last itself. */
static int separator(sst_builder_t *b, const unsigned char *next, size_t nlen)
{
    const bytes_t *last = &b->data.last;
    size_t d = bytes_common(last->p, last->len, next, nlen);
    bool shorten = d < last->len && d < nlen && last->p[d] < 0xFF && last->p[d] + 1 < next[d];
    if (!bytes_set(&b->sep, last->p, shorten ? d + 1 : last->len))
        return XETS_NOMEM;
    if (shorten)
        b->sep.p[d]++;
    return XETS_OK;
}

int sst_builder_add(sst_builder_t *b, const unsigned char *key, size_t klen, uint64_t seq,
                    uint8_t kind, const unsigned char *val, size_t vlen, xets_call_t *call)
{
    if (b->failed)
        return b->failed;
    if (b->finished || klen > SST_ENTRY_MAX || vlen > SST_ENTRY_MAX - klen)
        return XETS_BADARG;
    int c = 1; /* the key against the last: a new key unless 0 */
    if (b->entries > 0) {
        c = bytes_cmp(key, klen, b->data.last.p, b->data.last.len);
        if (c < 0 || (c == 0 && seq >= b->last_seq))
            return XETS_BADARG;
    }
    int rc = XETS_OK;
    if (b->pending && ((rc = separator(b, key, klen)) != XETS_OK ||
                       (rc = add_index(b, b->sep.p, b->sep.len)) != XETS_OK))
        return fail(b, rc);
    if (c != 0 && !b->no_filter && (rc = sst_fb_add(&b->filter, sst_key_hash(key, klen))) != XETS_OK)
        return fail(b, rc);
    if (b->entries == 0 && !bytes_set(&b->first, key, klen))
        return fail(b, XETS_NOMEM);
    unsigned char head[VARINT_MAX + 1];
    size_t hlen = varint_put(head, seq);
    head[hlen++] = kind;
    if ((rc = sst_bb_add(&b->data, key, klen, head, hlen, val, vlen)) != XETS_OK)
        return fail(b, rc);
    b->min_seq = b->entries == 0 || seq < b->min_seq ? seq : b->min_seq;
    b->max_seq = b->entries == 0 || seq > b->max_seq ? seq : b->max_seq;
    b->last_seq = seq;
    b->entries++;
    if (sst_bb_size(&b->data) >= b->block_size) {
        if ((rc = write_block(b, &b->data, b->compress, &b->pending_off, &b->pending_size,
                              call)) != XETS_OK)
            return fail(b, rc);
        b->pending = true;
    }
    return XETS_OK;
}

/* A key the builder holds: never NULL, even empty (a buffer never grown). */
static const unsigned char *key_bytes(const bytes_t *k)
{
    return k->p != NULL ? k->p : (const unsigned char *)"";
}

int sst_builder_finish(sst_builder_t *b, sst_built_t *out, xets_call_t *call)
{
    if (b->failed)
        return b->failed;
    if (b->finished)
        return XETS_BADARG;
    int rc = XETS_OK;
    uint64_t meta_off, meta_size, index_off, index_size;
    if (b->data.n > 0) {
        if ((rc = write_block(b, &b->data, b->compress, &b->pending_off, &b->pending_size,
                              call)) != XETS_OK)
            return fail(b, rc);
        b->pending = true;
    }
    if ((b->pending && (rc = add_index(b, b->data.last.p, b->data.last.len)) != XETS_OK) ||
        (sst_fb_keys(&b->filter) > 0 && (rc = write_filter(b, call)) != XETS_OK) ||
        (rc = write_block(b, &b->meta, false, &meta_off, &meta_size, call)) != XETS_OK ||
        (rc = write_block(b, &b->index, false, &index_off, &index_size, call)) != XETS_OK)
        return fail(b, rc);

    unsigned char f[SST_FOOTER_SIZE] = {0};
    le64_store(f + F_META, meta_off);
    le64_store(f + F_META + 8, meta_size);
    le64_store(f + F_INDEX, index_off);
    le64_store(f + F_INDEX + 8, index_size);
    le64_store(f + F_ENTRIES, b->entries);
    le64_store(f + F_MIN_SEQ, b->min_seq);
    le64_store(f + F_MAX_SEQ, b->max_seq);
    memcpy(f + F_ORDER, b->order, strlen(b->order));
    memcpy(f + F_ENCODING, b->encoding, strlen(b->encoding));
    uint32_t version = b->compress ? SST_VERSION : SST_VERSION_RAW;
    le32_store(f + F_VERSION, version);
    le32_store(f + F_VERSION + 4, ~version);
    memcpy(f + F_MAGIC, SST_MAGIC, 8);
    le64_store(f + F_CHECKSUM, XXH3_64bits(f + 8, SST_FOOTER_SIZE - 8));
    if ((rc = b->write(b->ctx, b->off, f, sizeof f, call)) != XETS_OK)
        return fail(b, rc);
    b->off += sizeof f;
    b->finished = true;

    bool any = b->entries > 0;
    *out = (sst_built_t){.size = b->off,
                         .entries = b->entries,
                         .min_seq = b->min_seq,
                         .max_seq = b->max_seq,
                         .smallest = any ? key_bytes(&b->first) : NULL,
                         .smallest_len = b->first.len,
                         .largest = any ? key_bytes(&b->data.last) : NULL,
                         .largest_len = b->data.last.len};
    return XETS_OK;
}

/* ---- reading ---- */

/* Where a block lies: its offset and its size without the trailer. */
typedef struct handle {
    uint64_t off, size;
} handle_t;

/* A data block as the index knows it: its separator (in r->seps) and
 * handle. */
typedef struct index_entry {
    size_t sep, seplen;
    handle_t h;
} index_entry_t;

struct sst_reader {
    sst_read_fn read;
    sst_borrow_fn borrow;
    void *ctx;
    char name[sizeof((call_error_t *)0)->file];
    sst_info_t info;
    uint32_t version; /* the footer's: SST_VERSION_RAW or SST_VERSION */
    uint64_t footer;  /* the footer's offset */
    size_t nblocks;
    index_entry_t *index;
    bytes_t seps; /* the separators, one after the other */
    sst_filter_t filter; /* all zero: none */
    uint64_t filter_off;
};

static int corrupt(const sst_reader_t *r, const char *what, uint64_t off, xets_call_t *call)
{
    return call_fail(call, XETS_CORRUPT, what, r->name, off, 0);
}

/* buf holds the block stored at off and its trailer: checks the trailer
 * (the checksum covers the stored bytes), then leaves in buf the block
 * itself, decompressed if it was stored so, which only a data block of a
 * version 2 table may be. */
static int unpack(const sst_reader_t *r, uint64_t off, const char *what, bool data, bytes_t *buf,
                  xets_call_t *call)
{
    size_t size = buf->len - SST_TRAILER_SIZE;
    const uint8_t *p = buf->p;
    if (XXH3_64bits(p, size + 1) != le64_load(p + size + 1))
        return corrupt(r, what, off, call);
    if (p[size] == BLOCK_PLAIN) {
        buf->len = size;
        return XETS_OK;
    }
    if (p[size] != BLOCK_LZ4 || !data || r->version == SST_VERSION_RAW)
        return corrupt(r, what, off + size, call);
    bytes_t plain = BYTES_INIT;
    int rc = sst_decompress(p, size, &plain);
    if (rc != XETS_OK) {
        bytes_free(&plain);
        return rc == XETS_CORRUPT ? corrupt(r, what, off, call) : rc;
    }
    bytes_free(buf);
    *buf = plain;
    return XETS_OK;
}

int sst_reader_unpack(const sst_reader_t *r, uint64_t off, bytes_t *buf, xets_call_t *call)
{
    return unpack(r, off, "block", true, buf, call);
}

/* The block at h read into buf and unpacked (a data block if data). h
 * lies within the file (checked at open). */
static int read_block(const sst_reader_t *r, handle_t h, const char *what, bool data,
                      bytes_t *buf, xets_call_t *call)
{
    size_t n = h.size + SST_TRAILER_SIZE;
    buf->len = 0;
    if (!bytes_reserve_to(buf, n))
        return XETS_NOMEM;
    int rc = r->read(r->ctx, h.off, buf->p, n, call);
    if (rc != XETS_OK)
        return rc;
    buf->len = n;
    return unpack(r, h.off, what, data, buf, call);
}

/* Which data block load_block loads, for the source's borrow: its number
 * and whether a walk or a point lookup asks. */
typedef struct data_ref {
    size_t blk;
    bool walk;
} data_ref_t;

/* The block at h into *b (a data block if data is not NULL): lent by the
 * source, or read into buf and unpacked; then its restart array
 * checked. */
static int load_block(const sst_reader_t *r, handle_t h, const char *what,
                      const data_ref_t *data, bytes_t *buf, sst_block_t *b, xets_call_t *call)
{
    const uint8_t *p;
    size_t len;
    int rc = r->borrow != NULL && data != NULL
                 ? r->borrow(r->ctx, data->blk, data->walk, &p, &len, call)
                 : XETS_NOTFOUND;
    if (rc == XETS_NOTFOUND) {
        rc = read_block(r, h, what, data != NULL, buf, call);
        p = buf->p;
        len = buf->len;
    }
    if (rc != XETS_OK)
        return rc;
    /* Unpacked, a block stored compressed is longer than stored
     * (sst_decompress refuses any other), a raw one as long. */
    return sst_block_parse(b, p, len, h.off, len != h.size, r->name, what, call);
}

/* Reads one of the footer's names into out; false if it is not one. */
static bool footer_name(const unsigned char *field, char *out)
{
    memcpy(out, field, SST_NAME_MAX + 1);
    size_t len = strnlen(out, SST_NAME_MAX + 1);
    for (size_t i = len; i <= SST_NAME_MAX; i++)
        if (out[i] != 0)
            return false;
    return bytes_name_ok(out, len, SST_NAME_MAX);
}

/* The handle in the footer field at f + field, of a block that must end
 * at end. */
static int footer_handle(const sst_reader_t *r, const unsigned char *f, unsigned field,
                         uint64_t end, handle_t *h, xets_call_t *call)
{
    h->off = le64_load(f + field);
    h->size = le64_load(f + field + 8);
    if (h->size > SST_BLOCK_MAX || h->size + SST_TRAILER_SIZE > end ||
        h->off != end - h->size - SST_TRAILER_SIZE)
        return corrupt(r, "footer", r->footer + field, call);
    return XETS_OK;
}

/* Checks the footer at r->footer, fills r->info and the handles of the
 * meta-index and the index. */
static int read_footer(sst_reader_t *r, handle_t *meta, handle_t *index, xets_call_t *call)
{
    unsigned char f[SST_FOOTER_SIZE];
    int rc = r->read(r->ctx, r->footer, f, sizeof f, call);
    if (rc != XETS_OK)
        return rc;
    uint64_t at = r->footer;
    if (memcmp(f + F_MAGIC, SST_MAGIC, 8) != 0)
        return corrupt(r, "footer", at + F_MAGIC, call);
    uint32_t version = le32_load(f + F_VERSION);
    if (le32_load(f + F_VERSION + 4) != ~version)
        return corrupt(r, "footer", at + F_VERSION, call);
    if (version != SST_VERSION && version != SST_VERSION_RAW)
        return call_fail(call, XETS_BADARG, "version", r->name, at + F_VERSION, 0);
    if (XXH3_64bits(f + 8, sizeof f - 8) != le64_load(f + F_CHECKSUM))
        return corrupt(r, "footer", at, call);
    r->version = version;
    sst_info_t *i = &r->info;
    if (!footer_name(f + F_ORDER, i->order))
        return corrupt(r, "footer", at + F_ORDER, call);
    if (!footer_name(f + F_ENCODING, i->encoding))
        return corrupt(r, "footer", at + F_ENCODING, call);
    i->entries = le64_load(f + F_ENTRIES);
    i->min_seq = le64_load(f + F_MIN_SEQ);
    i->max_seq = le64_load(f + F_MAX_SEQ);
    if (i->min_seq > i->max_seq || (i->entries == 0 && i->max_seq != 0))
        return corrupt(r, "footer", at + F_MIN_SEQ, call);
    /* The index ends where the footer begins, the meta-index where the
     * index begins. */
    if ((rc = footer_handle(r, f, F_INDEX, at, index, call)) != XETS_OK)
        return rc;
    return footer_handle(r, f, F_META, index->off, meta, call);
}

/* The meta blocks this reader knows, as the meta-index names them. */
typedef struct meta_blocks {
    bool has_filter;
    handle_t filter; /* the first block named SST_FILTER_NAME */
} meta_blocks_t;

/* Walks the block b of handles (the index or the meta-index): each entry's
 * value is a handle, each block the one right after the one before, the
 * first at *at, none past limit; *at ends where the last ends. The index
 * (meta NULL): the entries go into r's index. The meta-index: the blocks
 * it knows go into *meta, the others are passed over. */
static int walk_handles(sst_reader_t *r, const sst_block_t *b, uint64_t *at, uint64_t limit,
                        meta_blocks_t *meta, xets_call_t *call)
{
    sst_block_iter_t it = {0};
    sst_bi_start(&it, b, false);
    size_t cap = 0;
    int rc;
    while ((rc = sst_bi_next(&it, call)) == XETS_OK) {
        const unsigned char *p = it.val, *end = p + it.vlen;
        handle_t h;
        if (!varint_get(&p, end, UINT64_MAX, &h.off) ||
            !varint_get(&p, end, SST_BLOCK_MAX, &h.size) || p != end || h.off != *at ||
            h.size + SST_TRAILER_SIZE > limit - *at) {
            rc = corrupt(r, b->what, sst_block_where(b, it.pos), call);
            break;
        }
        *at += h.size + SST_TRAILER_SIZE;
        if (meta != NULL) {
            static const char filter[] = SST_FILTER_NAME;
            if (!meta->has_filter &&
                bytes_cmp(it.key.p, it.key.len, (const uint8_t *)filter, sizeof filter - 1) == 0)
                *meta = (meta_blocks_t){.has_filter = true, .filter = h};
            continue;
        }
        if (r->nblocks == cap) {
            cap = cap ? 2 * cap : 16;
            index_entry_t *x = realloc(r->index, cap * sizeof *x);
            if (x == NULL) {
                rc = XETS_NOMEM;
                break;
            }
            r->index = x;
        }
        if (!bytes_reserve(&r->seps, it.key.len + 1)) { /* never NULL, even empty */
            rc = XETS_NOMEM;
            break;
        }
        r->index[r->nblocks++] = (index_entry_t){.sep = r->seps.len, .seplen = it.key.len, .h = h};
        bytes_put(&r->seps, it.key.p, it.key.len);
    }
    sst_bi_free(&it);
    return rc == XETS_END ? XETS_OK : rc;
}

/* Reads the filter block at h into r->filter, its layout checked. */
static int read_filter(sst_reader_t *r, handle_t h, bytes_t *buf, xets_call_t *call)
{
    r->filter_off = h.off;
    int rc = read_block(r, h, "filter", false, buf, call);
    size_t bad;
    if (rc == XETS_OK && (rc = sst_filter_read(&r->filter, buf->p, h.size, &bad)) == XETS_CORRUPT)
        rc = corrupt(r, "filter", h.off + bad, call);
    return rc;
}

/* Reads the index, then the meta-index (whose blocks lie between the data
 * blocks and it), then the meta blocks it names that this reader knows. */
static int read_skeleton(sst_reader_t *r, handle_t meta, handle_t index, xets_call_t *call)
{
    bytes_t buf = BYTES_INIT;
    sst_block_t b;
    uint64_t at = 0;
    meta_blocks_t known = {0};
    int rc = load_block(r, index, "index", NULL, &buf, &b, call);
    if (rc == XETS_OK)
        rc = walk_handles(r, &b, &at, meta.off, NULL, call);
    if (rc == XETS_OK && (r->nblocks == 0) != (r->info.entries == 0))
        rc = corrupt(r, "footer", r->footer + F_ENTRIES, call);
    if (rc == XETS_OK)
        rc = load_block(r, meta, "meta-index", NULL, &buf, &b, call);
    if (rc == XETS_OK)
        rc = walk_handles(r, &b, &at, meta.off, &known, call);
    if (rc == XETS_OK && at != meta.off)
        rc = corrupt(r, "meta-index", meta.off, call);
    if (rc == XETS_OK && known.has_filter)
        rc = read_filter(r, known.filter, &buf, call);
    bytes_free(&buf);
    return rc;
}

int sst_reader_open(const sst_source_t *src, sst_reader_t **out, xets_call_t *call)
{
    sst_reader_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return XETS_NOMEM;
    r->read = src->read;
    r->borrow = src->borrow;
    r->ctx = src->ctx;
    snprintf(r->name, sizeof r->name, "%s", src->name);
    handle_t meta, index;
    int rc;
    if (src->size < SST_FOOTER_SIZE)
        rc = corrupt(r, "footer", 0, call);
    else {
        r->footer = src->size - SST_FOOTER_SIZE;
        rc = read_footer(r, &meta, &index, call);
    }
    if (rc == XETS_OK)
        rc = read_skeleton(r, meta, index, call);
    if (rc != XETS_OK) {
        sst_reader_close(r);
        return rc;
    }
    *out = r;
    return XETS_OK;
}

void sst_reader_close(sst_reader_t *r)
{
    if (r == NULL)
        return;
    free(r->index);
    bytes_free(&r->seps);
    sst_filter_free(&r->filter);
    free(r);
}

size_t sst_reader_blocks(const sst_reader_t *r)
{
    return r->nblocks;
}

const sst_info_t *sst_reader_info(const sst_reader_t *r)
{
    return &r->info;
}

bool sst_reader_may_contain(const sst_reader_t *r, uint64_t hash)
{
    return sst_filter_may_contain(&r->filter, hash);
}

size_t sst_reader_filter_bytes(const sst_reader_t *r)
{
    return sst_filter_bytes(&r->filter);
}

size_t sst_reader_memory(const sst_reader_t *r)
{
    return sizeof *r + r->nblocks * sizeof *r->index + r->seps.cap + sst_filter_bytes(&r->filter);
}

void sst_reader_block(const sst_reader_t *r, size_t i, uint64_t *off, size_t *len)
{
    *off = r->index[i].h.off;
    *len = r->index[i].h.size + SST_TRAILER_SIZE;
}

/* ---- iterating ---- */

/* Backward, "first" and "next" read "last" and "previous", "past the
 * last" reads "before the first". */
enum iter_state {
    IT_SEEK,      /* find it->target's block and the entry in it */
    IT_FIRST,     /* read block it->blk and step to its first entry */
    IT_STEP,      /* step to the next entry of the block */
    IT_BLOCK_END, /* past the last entry of block it->blk */
    IT_DONE
};

void sst_iter_open(sst_iter_t *it, const sst_reader_t *r, sst_bound_t lo, sst_bound_t hi,
                   sst_dir_t dir)
{
    sst_bound_t start = dir == SST_FORWARD ? lo : hi;
    *it = (sst_iter_t){.r = r,
                       .lo = lo,
                       .hi = hi,
                       .dir = dir,
                       .target = start,
                       .state = IT_SEEK,
                       .whole = start.key == NULL,
                       .min_seq = UINT64_MAX};
}

void sst_iter_close(sst_iter_t *it)
{
    bytes_free(&it->data);
    sst_bi_free(&it->bi);
}

void sst_iter_seek(sst_iter_t *it, sst_bound_t to)
{
    /* The bound the walk starts from: a position beyond it (before lo,
     * backward after hi), or at it, is its. */
    const sst_bound_t *start = it->dir == SST_FORWARD ? &it->lo : &it->hi;
    if (start->key != NULL) {
        int c = to.key == NULL ? -1 : bytes_cmp(to.key, to.len, start->key, start->len);
        if (it->dir == SST_BACKWARD && to.key != NULL)
            c = -c;
        if (c < 0 || (c == 0 && !(start->inclusive && !to.inclusive)))
            to = *start;
    }
    it->target = to;
    it->state = IT_SEEK;
    it->whole = false;
}

static const unsigned char *sep_of(const sst_reader_t *r, size_t i)
{
    return r->seps.p + r->index[i].sep;
}

/* Block i's separator against key k, as bytes_cmp. */
static int sep_cmp(const sst_reader_t *r, size_t i, const bytes_t *k)
{
    return bytes_cmp(sep_of(r, i), r->index[i].seplen, k->p, k->len);
}

/* The first block whose separator is not before t: the first that can hold
 * an entry at or after t. */
static size_t find_block(const sst_reader_t *r, const sst_bound_t *t)
{
    size_t lo = 0, hi = r->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sst_before(sep_of(r, mid), r->index[mid].seplen, t->key, t->len, t->inclusive))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Reads block it->blk and places the block iterator before its first
 * entry (keep: as sst_bi_start). */
static int enter_block(sst_iter_t *it, bool keep, xets_call_t *call)
{
    sst_block_t b;
    data_ref_t data = {it->blk, !it->point};
    int rc = load_block(it->r, it->r->index[it->blk].h, "block", &data, &it->data, &b, call);
    if (rc != XETS_OK)
        return rc;
    if (b.nrestarts == 0) /* the builder writes no empty data block */
        return corrupt(it->r, "block", b.off, call);
    sst_bi_start(&it->bi, &b, keep);
    return XETS_OK;
}

/* The entry the block iterator is on, into *e, unless it lies past the
 * bound the walk stops at. */
static int yield(sst_iter_t *it, sst_entry_t *e, xets_call_t *call)
{
    const sst_block_iter_t *bi = &it->bi;
    const unsigned char *p = bi->val, *end = p + bi->vlen;
    bool fwd = it->dir == SST_FORWARD;
    uint64_t seq;
    /* bi->same is never true on the first entry after a seek (its key is
     * the first not before the target, backward the last not after it):
     * it->seq is then the entry's the walk came from. */
    if (!varint_get(&p, end, UINT64_MAX, &seq) || p == end ||
        (bi->same && (fwd ? seq >= it->seq : seq <= it->seq)))
        return corrupt(it->r, "block", sst_block_where(&bi->b, bi->pos), call);
    /* Forward within hi: before it as an exclusive position when hi is
     * inclusive; backward within lo: not before it. */
    const sst_bound_t *stop = fwd ? &it->hi : &it->lo;
    if (stop->key != NULL &&
        (fwd ? !sst_before(bi->key.p, bi->key.len, stop->key, stop->len, !stop->inclusive)
             : sst_before(bi->key.p, bi->key.len, stop->key, stop->len, stop->inclusive))) {
        it->state = IT_DONE;
        it->whole = false;
        return XETS_END;
    }
    it->seq = seq;
    it->state = IT_STEP;
    if (it->whole) {
        it->count++;
        it->min_seq = seq < it->min_seq ? seq : it->min_seq;
        it->max_seq = seq > it->max_seq ? seq : it->max_seq;
        /* Each key once (a key's entries after its first are the same). */
        const sst_reader_t *r = it->r;
        if (!bi->same && r->filter.nlines > 0 &&
            !sst_filter_may_contain(&r->filter, sst_key_hash(bi->key.p, bi->key.len)))
            return corrupt(r, "filter", r->filter_off, call);
    }
    *e = (sst_entry_t){.key = bi->key.p,
                       .klen = bi->key.len,
                       .seq = seq,
                       .kind = *p,
                       .val = p + 1,
                       .vlen = (size_t)(end - p - 1)};
    return XETS_OK;
}

/* At the end of a walk from the first entry: what the footer says of all. */
static int check_whole(const sst_iter_t *it, xets_call_t *call)
{
    const sst_info_t *i = &it->r->info;
    if (it->count != i->entries ||
        (it->count > 0 && (it->min_seq != i->min_seq || it->max_seq != i->max_seq)))
        return corrupt(it->r, "footer", it->r->footer + F_ENTRIES, call);
    return XETS_OK;
}

/* The block iterator's key, block it->blk's first (last: its last), must
 * not lie below the separator before the block (last: above its own). */
static int check_sep(const sst_iter_t *it, bool last, xets_call_t *call)
{
    const sst_reader_t *r = it->r;
    if (last ? sep_cmp(r, it->blk, &it->bi.key) < 0
             : it->blk > 0 && sep_cmp(r, it->blk - 1, &it->bi.key) > 0)
        return corrupt(r, "block", r->index[it->blk].h.off, call);
    return XETS_OK;
}

/* Forward from the target: the first block that can hold an entry at or
 * after it. XETS_END: no such block, or none in it. */
static int seek_forward(sst_iter_t *it, xets_call_t *call)
{
    const sst_reader_t *r = it->r;
    it->blk = it->target.key == NULL ? 0 : find_block(r, &it->target);
    if (it->blk == r->nblocks)
        return XETS_END;
    int rc = enter_block(it, false, call);
    if (rc != XETS_OK)
        return rc;
    return it->target.key == NULL ? sst_bi_next(&it->bi, call)
                                  : sst_bi_seek(&it->bi, it->target.key, it->target.len,
                                                it->target.inclusive, call);
}

/* Backward from the target: the first block that can hold an entry after
 * it holds the entry sought, or the block before holds it as its last; no
 * such block: the table's last entry. XETS_END: none in the block. */
static int seek_backward(sst_iter_t *it, xets_call_t *call)
{
    const sst_reader_t *r = it->r;
    const sst_bound_t *t = &it->target;
    if (r->nblocks == 0) {
        it->blk = 0;
        return XETS_END;
    }
    it->blk = t->key == NULL ? r->nblocks
                             : find_block(r, &(sst_bound_t){t->key, t->len, !t->inclusive});
    bool last = it->blk == r->nblocks;
    if (last)
        it->blk--;
    int rc = enter_block(it, false, call);
    if (rc != XETS_OK)
        return rc;
    rc = last ? sst_bi_prev(&it->bi, call)
              : sst_bi_seek_back(&it->bi, t->key, t->len, t->inclusive, call);
    return rc == XETS_OK && last ? check_sep(it, true, call) : rc;
}

/* One step in the iterator's direction; the states as sst_iter_next. A
 * walk enters each block from its side (forward at the first entry,
 * backward at the last) and checks that entry against the separator on
 * that side; leaving a block, it checks the other side. */
static int step(sst_iter_t *it, xets_call_t *call)
{
    const sst_reader_t *r = it->r;
    bool back = it->dir == SST_BACKWARD;
    int rc;
    for (;;) {
        switch (it->state) {
        case IT_SEEK:
        case IT_STEP:
            rc = it->state == IT_STEP ? (back ? sst_bi_prev(&it->bi, call)
                                              : sst_bi_next(&it->bi, call))
                 : back               ? seek_backward(it, call)
                                      : seek_forward(it, call);
            if (rc == XETS_END) {
                it->state = IT_BLOCK_END;
                continue;
            }
            return rc;
        case IT_FIRST:
            if ((rc = enter_block(it, true, call)) != XETS_OK)
                return rc;
            rc = back ? sst_bi_prev(&it->bi, call) : sst_bi_next(&it->bi, call);
            return rc == XETS_OK ? check_sep(it, back, call) : rc;
        case IT_BLOCK_END:
            /* Leaving a block: its other side against its separator. */
            if (it->blk < r->nblocks && it->bi.ordered &&
                (rc = check_sep(it, !back, call)) != XETS_OK)
                return rc;
            if (back ? it->blk > 0 : it->blk + 1 < r->nblocks) {
                it->blk = back ? it->blk - 1 : it->blk + 1;
                it->state = IT_FIRST;
                continue;
            }
            it->state = IT_DONE;
            return XETS_END;
        default:
            return XETS_END;
        }
    }
}

int sst_iter_next(sst_iter_t *it, sst_entry_t *e, xets_call_t *call)
{
    bool done = it->state == IT_DONE;
    int rc = step(it, call);
    if (rc == XETS_END) {
        /* Reaching the end (not being there already) of a whole walk. */
        if (!done && it->whole && (rc = check_whole(it, call)) == XETS_OK)
            rc = XETS_END;
        it->whole = false;
        return rc;
    }
    return rc == XETS_OK ? yield(it, e, call) : rc;
}

int sst_get(const sst_reader_t *r, const unsigned char *key, size_t klen, sst_visit_fn visit,
            void *ctx, xets_call_t *call)
{
    /* A zero-length key may come as NULL, which a bound takes for none. */
    sst_bound_t at = {
        .key = key != NULL ? key : (const unsigned char *)"", .len = klen, .inclusive = true};
    sst_iter_t it;
    sst_iter_open(&it, r, at, at, SST_FORWARD);
    it.point = true;
    sst_entry_t e;
    int rc, found = XETS_NOTFOUND;
    while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK) {
        found = XETS_OK;
        if (visit(ctx, &e))
            break;
    }
    sst_iter_close(&it);
    return rc == XETS_OK || rc == XETS_END ? found : rc;
}
