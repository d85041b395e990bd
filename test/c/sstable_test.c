/* The SSTable codec (c_src/disk/sstable.[ch], sstable_block.[ch],
 * sstable_filter.[ch], sstable_compress.[ch]) without files: tables built
 * into memory and read back. A table of two entries byte for byte as
 * doc/sstable_format.md lays it out, with its filter and without, in
 * version 2 and in version 1 (compression off); round trips of random
 * entry sets (empty, tiny, many blocks, restart points at every entry or
 * every 16, values of tens of MiB, one key's entries over many blocks,
 * keys that are prefixes of each other, zero-length keys and values;
 * values half of them compressible, data blocks compressed where that
 * pays, and a quarter of the sets with compression off), each
 * read back whole, by lookups of every key present and of keys absent,
 * and by walks between random bounds with seeks on the way, against the
 * sorted array it was built from, the filter turning away none of the
 * keys; meta blocks this reader does not know read past; entries refused
 * out of order; every byte of a small table changed in turn, and every
 * truncation: found (XETS_CORRUPT with an offset), and never a wrong
 * answer before; bytes made wrong behind right checksums: order of keys
 * and of a key's entries, separators, counts, block types, versions;
 * reads that fail, passed through, then the same step again goes on;
 * writes that fail, after which the builder stays failed; one table read
 * by several threads at once (for ThreadSanitizer); compression: a
 * compressed block as the page lays it out (its size, then LZ4's bytes of
 * the raw block), a block kept compressed exactly when that saves an
 * eighth, compressed blocks damaged behind right checksums (sizes absurd,
 * too small, too large, LZ4 bytes that do not decode, a compressed type
 * in a version 1 table or on the index) found at the block; the filter: its false
 * positive rate over 100k absent keys (printed, under 2%), a key of many
 * entries counted once, a table without one read as before, damage found
 * at open (checksum, layout) or by a whole walk (bits a key needs
 * cleared). Exits nonzero on the first failure. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <lz4.h>

#include "check.h"
#include "disk/bytes.h"
#include "disk/sstable.h"
#include "disk/sstable_compress.h"
#include "rng.h"
#include "sstable_mem.h"
#include "status.h"

#ifdef __SANITIZE_THREAD__
#define SCALE 4 /* ThreadSanitizer runs several times slower */
#else
#define SCALE 1
#endif

static uint64_t rng = 0x5eed5eed5eedull;

/* ---- entry sets, the model -------------------------------------------------- */

typedef mem_entry_t ent_t;

typedef struct set {
    ent_t *e;
    size_t n, cap;
} set_t;

static void set_add(set_t *s, const void *key, size_t klen, uint64_t seq, uint8_t kind,
                    const void *val, size_t vlen)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->e = realloc(s->e, s->cap * sizeof *s->e);
        CHECK(s->e, "out of memory");
    }
    mem_entry_copy(
        &s->e[s->n++],
        &(sst_entry_t){
            .key = key, .klen = klen, .seq = seq, .kind = kind, .val = val, .vlen = vlen});
}

static void set_free(set_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        mem_entry_free(&s->e[i]);
    free(s->e);
    *s = (set_t){0};
}

/* The table's order: key ascending, then seq descending. */
static int ent_cmp(const void *a, const void *b)
{
    const ent_t *x = a, *y = b;
    int c = bytes_cmp(x->key, x->klen, y->key, y->klen);
    return c ? c : x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* Short keys over a few bytes, so that keys are often prefixes of each
 * other, share prefixes, and hold 0x00 and 0xFF (where a separator cannot
 * be bumped). */
static size_t random_key(unsigned char *k, size_t max)
{
    static const unsigned char alpha[] = {0x00, 0x01, 'a', 'b', 'c', 0xFE, 0xFF};
    size_t len = rng_below(&rng, max + 1);
    for (size_t i = 0; i < len; i++)
        k[i] = alpha[rng_below(&rng, sizeof alpha)];
    return len;
}

static uint64_t random_seq(void)
{
    switch (rng_below(&rng, 3)) {
    case 0:
        return rng_below(&rng, 100);
    case 1:
        return UINT64_MAX - rng_below(&rng, 100); /* ten-byte varints */
    default:
        return rng_next(&rng) >> rng_below(&rng, 64);
    }
}

/* len bytes at v: random, or (compressible) a short random chunk over
 * and over, with a byte changed here and there. */
static void random_value(unsigned char *v, size_t len, bool compressible)
{
    size_t period = 1 + rng_below(&rng, 8);
    for (size_t j = 0; j < len; j++)
        v[j] = !compressible || j < period || rng_below(&rng, 16) == 0 ? (unsigned char)rng_next(&rng)
                                                                       : v[j - period];
}

/* About nkeys keys, each with 1 to per_key entries, values up to max_val
 * bytes, half of them compressible; sorted, no (key, seq) twice. */
static set_t random_set(size_t nkeys, size_t per_key, size_t max_val, size_t key_max)
{
    set_t s = {0};
    unsigned char k[64], *v = malloc(max_val + 1);
    CHECK(v, "out of memory");
    for (size_t i = 0; i < nkeys; i++) {
        size_t klen = random_key(k, key_max);
        for (size_t m = 1 + rng_below(&rng, per_key); m > 0; m--) {
            size_t vlen = rng_below(&rng, max_val + 1);
            random_value(v, vlen, rng_below(&rng, 2));
            set_add(&s, k, klen, random_seq(), (uint8_t)rng_next(&rng), v, vlen);
        }
    }
    free(v);
    if (s.n > 0)
        qsort(s.e, s.n, sizeof *s.e, ent_cmp);
    size_t w = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (w > 0 && ent_cmp(&s.e[w - 1], &s.e[i]) == 0)
            mem_entry_free(&s.e[i]);
        else
            s.e[w++] = s.e[i];
    }
    s.n = w;
    return s;
}

/* The first entry at or after position (key, inclusive); absent: 0. */
static size_t model_first(const set_t *s, sst_bound_t b)
{
    if (b.key == NULL)
        return 0;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sst_before(s->e[mid].key, s->e[mid].klen, b.key, b.len, b.inclusive))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Backward: one past the last entry at or before position (key,
 * inclusive), the first after it; absent: past the last. */
static size_t model_last(const set_t *s, sst_bound_t b)
{
    return b.key == NULL ? s->n : model_first(s, (sst_bound_t){b.key, b.len, !b.inclusive});
}

static bool model_within(const ent_t *e, sst_bound_t hi)
{
    return hi.key == NULL || !sst_before(hi.key, hi.len, e->key, e->klen, hi.inclusive);
}

/* How many entries from s->e[i] on have its key. */
static size_t key_run(const set_t *s, size_t i)
{
    size_t n = 1;
    while (i + n < s->n &&
           bytes_cmp(s->e[i + n].key, s->e[i + n].klen, s->e[i].key, s->e[i].klen) == 0)
        n++;
    return n;
}

static bool model_has_key(const set_t *s, const unsigned char *k, size_t len)
{
    size_t i = model_first(s, (sst_bound_t){.key = k, .len = len, .inclusive = true});
    return i < s->n && bytes_cmp(s->e[i].key, s->e[i].klen, k, len) == 0;
}

static void check_entry(const sst_entry_t *got, const ent_t *want, const char *what)
{
    CHECK(got->klen == want->klen && memcmp(got->key, want->key, want->klen) == 0, "%s: key", what);
    CHECK(got->seq == want->seq, "%s: seq %llu, want %llu", what, (unsigned long long)got->seq,
          (unsigned long long)want->seq);
    CHECK(got->kind == want->kind, "%s: kind", what);
    CHECK(got->vlen == want->vlen && memcmp(got->val, want->val, want->vlen) == 0,
          "%s: value of %zu bytes, want %zu", what, got->vlen, want->vlen);
}

/* ---- building and reading ------------------------------------------------- */

static const sst_options_t ORDERED = {.order = "key", .encoding = "ordered.1"};

/* ORDERED with data blocks of a target size and restart points every
 * interval entries. */
static sst_options_t blocks_of(size_t block_size, unsigned interval)
{
    sst_options_t o = ORDERED;
    o.block_size = block_size;
    o.restart_interval = interval;
    return o;
}

static void build(const set_t *s, sst_options_t o, mem_file_t *f)
{
    *f = MEM_FILE_INIT;
    sst_builder_t *b;
    CHECK(sst_builder_new(&o, mem_write, f, &b) == XETS_OK, "builder");
    for (size_t i = 0; i < s->n; i++) {
        const ent_t *e = &s->e[i];
        CHECK(sst_builder_add(b, e->key, e->klen, e->seq, e->kind, e->val, e->vlen, OWN_CALL) ==
                  XETS_OK,
              "add %zu", i);
    }
    sst_built_t built;
    CHECK(sst_builder_finish(b, &built, OWN_CALL) == XETS_OK, "finish");
    CHECK(built.size == f->b.len, "size %llu, wrote %zu", (unsigned long long)built.size, f->b.len);
    CHECK(built.entries == s->n, "entries");
    if (s->n > 0) {
        const ent_t *first = &s->e[0], *last = &s->e[s->n - 1];
        CHECK(built.smallest != NULL && built.largest != NULL, "keys, even empty ones");
        CHECK(bytes_cmp(built.smallest, built.smallest_len, first->key, first->klen) == 0,
              "smallest");
        CHECK(bytes_cmp(built.largest, built.largest_len, last->key, last->klen) == 0, "largest");
    } else {
        CHECK(built.smallest == NULL && built.largest == NULL && built.max_seq == 0, "empty");
    }
    sst_builder_free(b);
}

static sst_reader_t *open_ok(mem_file_t *f)
{
    sst_source_t src = mem_source(f);
    sst_reader_t *r;
    xets_call_t *call = OWN_CALL;
    int rc = sst_reader_open(&src, &r, call);
    CHECK(rc == XETS_OK, "open: %d (%s at %llu)", rc, rc == XETS_CORRUPT ? call->error.op : "-",
          (unsigned long long)call->error.offset);
    return r;
}

/* Walks from lo to hi, seeking once at step seek_at (if any) to seek_to,
 * and compares with the model. */
static void check_walk(const sst_reader_t *r, const set_t *s, sst_bound_t lo, sst_bound_t hi,
                       size_t seek_at, sst_bound_t seek_to)
{
    sst_iter_t it;
    sst_iter_open(&it, r, lo, hi, SST_FORWARD);
    size_t i = model_first(s, lo);
    sst_entry_t e;
    for (size_t step = 0;; step++) {
        if (step == seek_at) {
            sst_iter_seek(&it, seek_to);
            size_t j = model_first(s, seek_to);
            i = j > model_first(s, lo) ? j : model_first(s, lo);
        }
        int rc = sst_iter_next(&it, &e, OWN_CALL);
        if (i < s->n && model_within(&s->e[i], hi)) {
            CHECK(rc == XETS_OK, "walk: step %zu: %d", step, rc);
            check_entry(&e, &s->e[i], "walk");
            i++;
        } else {
            CHECK(rc == XETS_END, "walk: step %zu: %d, want the end", step, rc);
            CHECK(sst_iter_next(&it, &e, OWN_CALL) == XETS_END, "the end stays");
            break;
        }
    }
    sst_iter_close(&it);
}

/* Walks backward from hi to lo, seeking once at step seek_at (if any) to
 * seek_to, and compares with the model read from the end. */
static void check_walk_back(const sst_reader_t *r, const set_t *s, sst_bound_t lo, sst_bound_t hi,
                            size_t seek_at, sst_bound_t seek_to)
{
    sst_iter_t it;
    sst_iter_open(&it, r, lo, hi, SST_BACKWARD);
    size_t i = model_last(s, hi); /* the entry due is s->e[i - 1] */
    size_t stop = model_first(s, lo);
    sst_entry_t e;
    for (size_t step = 0;; step++) {
        if (step == seek_at) {
            sst_iter_seek(&it, seek_to);
            size_t j = model_last(s, seek_to);
            i = j < model_last(s, hi) ? j : model_last(s, hi);
        }
        int rc = sst_iter_next(&it, &e, OWN_CALL);
        if (i > stop) {
            CHECK(rc == XETS_OK, "walk back: step %zu: %d", step, rc);
            check_entry(&e, &s->e[--i], "walk back");
        } else {
            CHECK(rc == XETS_END, "walk back: step %zu: %d, want the end", step, rc);
            CHECK(sst_iter_next(&it, &e, OWN_CALL) == XETS_END, "the end stays");
            break;
        }
    }
    sst_iter_close(&it);
}

typedef struct got {
    const set_t *s;
    size_t at, n; /* the entries expected: s->e[at..at+n) */
} got_t;

static int visit_expect(void *ctx, const sst_entry_t *e)
{
    got_t *g = ctx;
    CHECK(g->n > 0, "get: one entry more than the key has");
    check_entry(e, &g->s->e[g->at], "get");
    g->at++;
    g->n--;
    return 0;
}

static void check_get(const sst_reader_t *r, const set_t *s, const unsigned char *k, size_t klen)
{
    got_t g = {.s = s,
               .at = model_first(s, (sst_bound_t){.key = k, .len = klen, .inclusive = true})};
    if (model_has_key(s, k, klen))
        g.n = key_run(s, g.at);
    int rc = sst_get(r, k, klen, visit_expect, &g, OWN_CALL);
    CHECK(rc == (model_has_key(s, k, klen) ? XETS_OK : XETS_NOTFOUND), "get: %d", rc);
    CHECK(g.n == 0, "get: %zu entries missing", g.n);
}

/* A bound for the walks: none, a key of the set, or a key near one. */
static sst_bound_t random_bound(const set_t *s, unsigned char *buf)
{
    sst_bound_t b = {.key = buf, .inclusive = rng_below(&rng, 2)};
    size_t pick = rng_below(&rng, 5);
    if (pick == 0)
        return SST_UNBOUNDED;
    if (pick <= 2 && s->n > 0) {
        const ent_t *e = &s->e[rng_below(&rng, s->n)];
        memcpy(buf, e->key, e->klen);
        b.len = e->klen;
        if (pick == 2 && b.len < 60)
            buf[b.len++] = (unsigned char)rng_below(&rng, 3) * 0x7F; /* just after it */
        return b;
    }
    b.len = random_key(buf, 10);
    return b;
}

/* Reads the table back every way and compares with the set it holds. */
static void check_table(mem_file_t *f, const set_t *s, const sst_options_t *o, size_t walks)
{
    sst_reader_t *r = open_ok(f);
    const sst_info_t *info = sst_reader_info(r);
    CHECK(strcmp(info->order, o->order) == 0 && strcmp(info->encoding, o->encoding) == 0, "names");
    CHECK(info->entries == s->n, "entries %llu", (unsigned long long)info->entries);
    check_walk(r, s, SST_UNBOUNDED, SST_UNBOUNDED, SIZE_MAX, SST_UNBOUNDED);
    check_walk_back(r, s, SST_UNBOUNDED, SST_UNBOUNDED, SIZE_MAX, SST_UNBOUNDED);
    for (size_t i = 0; i < s->n; i += key_run(s, i)) {
        check_get(r, s, s->e[i].key, s->e[i].klen);
        CHECK(sst_reader_may_contain(r, sst_key_hash(s->e[i].key, s->e[i].klen)),
              "the filter turns away a key of the table");
    }
    unsigned char k[64];
    for (size_t i = 0; i < walks; i++) {
        size_t klen = random_key(k, 10);
        check_get(r, s, k, klen); /* mostly absent */
    }
    unsigned char lo[64], hi[64], to[64];
    for (size_t i = 0; i < walks; i++) {
        sst_bound_t l = random_bound(s, lo), h = random_bound(s, hi);
        size_t seek_at = rng_below(&rng, 3) == 0 ? rng_below(&rng, 20) : SIZE_MAX;
        check_walk(r, s, l, h, seek_at, random_bound(s, to));
        check_walk_back(r, s, l, h, seek_at, random_bound(s, to));
    }
    sst_reader_close(r);
}

/* ---- the tests ------------------------------------------------------------ */

static void check_corrupt(int rc, xets_call_t *call, size_t size, const char *what)
{
    CHECK(rc == XETS_CORRUPT, "%s: %d, want XETS_CORRUPT", what, rc);
    CHECK(call->error.offset <= size && strcmp(call->error.file, "mem.sst") == 0 &&
              call->error.err == 0,
          "%s: the error says where", what);
}

/* Appends a block and its trailer, as doc/sstable_format.md says. */
static void put_block(bytes_t *out, const void *p, size_t len)
{
    CHECK(bytes_reserve(out, len + SST_TRAILER_SIZE), "out of memory");
    unsigned char *w = out->p + out->len;
    bytes_put(out, p, len);
    w[len] = 0; /* stored plainly */
    le64_store(w + len + 1, XXH3_64bits(w, len + 1));
    out->len += SST_TRAILER_SIZE;
}

/* The footer's checksum, of its other bytes. */
static void seal_footer(unsigned char *footer)
{
    le64_store(footer, XXH3_64bits(footer + 8, SST_FOOTER_SIZE - 8));
}

/* Sets the bits of the key's hash in a filter's 64-byte lines, as
 * doc/sstable_format.md says ("The filter"), written from the page. */
static void filter_set(unsigned char *lines, uint32_t nlines, unsigned probes, const char *key)
{
    uint64_t h = XXH3_64bits(key, strlen(key));
    unsigned char *line = lines + 64 * (((h >> 32) * nlines) >> 32);
    uint32_t x = (uint32_t)h;
    for (unsigned i = 0; i < probes; i++, x *= 0x9E3779B9u)
        line[(x >> 23) / 8] |= (unsigned char)(1u << ((x >> 23) % 8));
}

/* Two entries, byte for byte: the layout doc/sstable_format.md gives;
 * with their filter, and without, as a writer before filters wrote it;
 * in version 2, and in version 1 when compression is off (a block this
 * small is stored raw either way). */
static void test_layout(bool filter, bool compress)
{
    set_t s = {0};
    set_add(&s, "a", 1, 1, 0, "x", 1);
    set_add(&s, "b", 1, 2, 1, "", 0);
    mem_file_t f;
    sst_options_t o = ORDERED;
    o.no_filter = !filter;
    o.no_compression = !compress;
    build(&s, o, &f);

    static const unsigned char data[] = {
        0, 1, 3, 'a', 1, 0, 'x',    /* shared 0, unshared 1, value 3: key, seq 1, kind 0, object */
        0, 1, 2, 'b', 2, 1,         /* no shared prefix */
        0, 0, 0, 0,   1, 0, 0,   0, /* restart points: offset 0; one */
    };
    /* Two keys at 10 bits each: one line; 6 probes. */
    unsigned char bloom[8 + 64] = {1, 0, 0, 0, 6, 0, 0, 0};
    filter_set(bloom + 8, 1, 6, "a");
    filter_set(bloom + 8, 1, 6, "b");
    uint64_t bloom_off = sizeof data + SST_TRAILER_SIZE;
    /* The meta-index: "filter.bloom1" -> the filter's handle; or empty. */
    static const unsigned char meta_filter[] = {
        0,   13,  2,   'f', 'i', 'l', 't', 'e', 'r', '.', 'b', 'l', 'o', 'o', 'm', '1',
        sizeof data + SST_TRAILER_SIZE, sizeof bloom, 0, 0, 0, 0, 1, 0, 0, 0};
    static const unsigned char meta_none[] = {0, 0, 0, 0};
    const unsigned char *meta = filter ? meta_filter : meta_none;
    size_t meta_size = filter ? sizeof meta_filter : sizeof meta_none;
    static const unsigned char index[] = {0, 1, 2, 'b', 0, sizeof data, 0, 0, 0, 0, 1, 0, 0, 0};
    bytes_t want = BYTES_INIT;
    put_block(&want, data, sizeof data);
    if (filter)
        put_block(&want, bloom, sizeof bloom);
    put_block(&want, meta, meta_size);
    put_block(&want, index, sizeof index);
    CHECK(bytes_reserve(&want, SST_FOOTER_SIZE), "out of memory");
    unsigned char *ft = want.p + want.len;
    memset(ft, 0, SST_FOOTER_SIZE);
    want.len += SST_FOOTER_SIZE;
    uint64_t meta_off = bloom_off + (filter ? sizeof bloom + SST_TRAILER_SIZE : 0);
    uint64_t index_off = meta_off + meta_size + SST_TRAILER_SIZE;
    uint64_t fields[] = {meta_off, meta_size, index_off, sizeof index, 2, 1, 2};
    for (int i = 0; i < 7; i++)
        le64_store(ft + 8 + 8 * i, fields[i]);
    memcpy(ft + 64, "key", 3);
    memcpy(ft + 80, "ordered.1", 9);
    uint32_t version = compress ? 2 : 1;
    le32_store(ft + 96, version);
    le32_store(ft + 100, ~version);
    memcpy(ft + 104, "xets.sst", 8);
    seal_footer(ft);
    CHECK(f.b.len == want.len, "a table of %zu bytes, want %zu", f.b.len, want.len);
    for (size_t i = 0; i < want.len; i++)
        CHECK(f.b.p[i] == want.p[i], "byte %zu: %#x, want %#x", i, f.b.p[i], want.p[i]);
    check_table(&f, &s, &o, 10);
    sst_reader_t *r = open_ok(&f);
    CHECK(sst_reader_filter_bytes(r) == (filter ? 64 : 0), "filter bytes");
    sst_reader_close(r);
    bytes_free(&want);
    bytes_free(&f.b);
    set_free(&s);
}

/* Meta blocks this reader does not know (another filter, properties):
 * read past, as long as they tile the bytes between the data blocks and
 * the meta-index. The table, built without a filter, is rebuilt around
 * its data blocks and index. */
static void test_meta_blocks(void)
{
    mem_file_t f;
    set_t s = random_set(50, 2, 30, 6);
    sst_options_t o = blocks_of(128, 0);
    o.no_filter = true;
    build(&s, o, &f);
    size_t footer = f.b.len - SST_FOOTER_SIZE; /* its fields: doc/sstable_format.md */
    uint64_t data_end = le64_load(f.b.p + footer + 8);
    uint64_t index_off = le64_load(f.b.p + footer + 24),
             index_size = le64_load(f.b.p + footer + 32);
    for (int gap = 0; gap < 3; gap++) {
        mem_file_t g = MEM_FILE_INIT;
        CHECK(bytes_set(&g.b, f.b.p, data_end), "out of memory");
        static const char *names[] = {"filter.x", "properties"};
        uint64_t at[2];
        for (int i = 0; i < 2; i++) {
            at[i] = g.b.len;
            put_block(&g.b, names[i], strlen(names[i])); /* bytes only their readers read */
        }
        sst_block_builder_t meta;
        sst_bb_init(&meta, 1);
        for (int i = 0; i < 2; i++) {
            unsigned char h[2 * VARINT_MAX];
            size_t n = varint_put(h, at[i]);
            /* gap 1: the last block named one byte short; 2: a byte long */
            size_t len = strlen(names[i]) - (gap == 1 && i == 1) + (gap == 2 && i == 1);
            n += varint_put(h + n, len);
            CHECK(sst_bb_add(&meta, (const unsigned char *)names[i], strlen(names[i]), h, n, NULL,
                             0) == XETS_OK,
                  "meta-index");
        }
        CHECK(sst_bb_finish(&meta, 0) == XETS_OK, "meta-index");
        uint64_t meta_off = g.b.len, meta_size = meta.buf.len;
        put_block(&g.b, meta.buf.p, meta.buf.len);
        sst_bb_free(&meta);
        uint64_t new_index = g.b.len;
        CHECK(bytes_reserve(&g.b, index_size + SST_TRAILER_SIZE + SST_FOOTER_SIZE),
              "out of memory");
        bytes_put(&g.b, f.b.p + index_off, index_size + SST_TRAILER_SIZE + SST_FOOTER_SIZE);
        unsigned char *ft = g.b.p + g.b.len - SST_FOOTER_SIZE;
        le64_store(ft + 8, meta_off);
        le64_store(ft + 16, meta_size);
        le64_store(ft + 24, new_index);
        seal_footer(ft);
        if (gap == 0) {
            check_table(&g, &s, &o, 50);
        } else {
            sst_source_t src = mem_source(&g);
            sst_reader_t *r;
            xets_call_t *call = OWN_CALL;
            int rc = sst_reader_open(&src, &r, call);
            check_corrupt(rc, call, g.b.len, "meta blocks that do not tile");
            CHECK(strcmp(call->error.op, "meta-index") == 0, "the meta-index at fault");
        }
        bytes_free(&g.b);
    }
    bytes_free(&f.b);
    set_free(&s);
}

static void test_empty(void)
{
    set_t s = {0};
    mem_file_t f;
    build(&s, (sst_options_t){.order = "hash.2", .encoding = "exact.1"}, &f);
    CHECK(f.b.len == 2 * (4 + SST_TRAILER_SIZE) + SST_FOOTER_SIZE, "an empty table's size");
    check_table(&f, &s, &(sst_options_t){.order = "hash.2", .encoding = "exact.1"}, 20);
    sst_reader_t *r = open_ok(&f);
    CHECK(sst_get(r, NULL, 0, visit_expect, &(got_t){.s = &s}, OWN_CALL) == XETS_NOTFOUND,
          "the empty key");
    sst_reader_close(r);
    bytes_free(&f.b);
}

/* The data blocks' handles, from the index: (offset, size) each, in
 * file order, into *h (malloc'd); their count. */
static size_t data_handles(const mem_file_t *f, uint64_t (**h)[2])
{
    const unsigned char *ft = f->b.p + f->b.len - SST_FOOTER_SIZE;
    uint64_t off = le64_load(ft + 24), size = le64_load(ft + 32);
    sst_block_t b;
    CHECK(sst_block_parse(&b, f->b.p + off, size, off, false, "mem.sst", "index", OWN_CALL) ==
              XETS_OK,
          "the index");
    sst_block_iter_t it = {0};
    sst_bi_start(&it, &b, false);
    size_t n = 0;
    *h = NULL;
    while (sst_bi_next(&it, OWN_CALL) == XETS_OK) {
        *h = realloc(*h, (n + 1) * sizeof **h);
        CHECK(*h, "out of memory");
        const unsigned char *p = it.val, *end = p + it.vlen;
        CHECK(varint_get(&p, end, UINT64_MAX, &(*h)[n][0]) &&
                  varint_get(&p, end, UINT64_MAX, &(*h)[n][1]),
              "a handle");
        n++;
    }
    sst_bi_free(&it);
    return n;
}

/* How many data blocks are stored raw (n[0]) and compressed (n[1]), from
 * their trailers' type bytes. */
static void block_types(const mem_file_t *f, size_t n[2])
{
    uint64_t(*h)[2];
    size_t blocks = data_handles(f, &h);
    n[0] = n[1] = 0;
    for (size_t i = 0; i < blocks; i++) {
        unsigned char type = f->b.p[h[i][0] + h[i][1]];
        CHECK(type <= 1, "block %zu of type %u", i, type);
        n[type]++;
    }
    free(h);
}

/* The format version in f's footer. */
static uint32_t version_of(const mem_file_t *f)
{
    return le32_load(f->b.p + f->b.len - SST_FOOTER_SIZE + 96);
}

/* Random sets of every size, with blocks from a few entries to many. */
static void test_round_trips(void)
{
    static const size_t block_sizes[] = {1, 64, 256, 1024, 4096};
    static const unsigned intervals[] = {1, 2, 16};
    size_t lz4 = 0, raw = 0;
    for (int round = 0; round < 60 / SCALE; round++) {
        size_t nkeys = round < 10 ? (size_t)round : rng_below(&rng, 1500);
        set_t s = random_set(nkeys, 1 + rng_below(&rng, 4), rng_below(&rng, 300),
                             1 + rng_below(&rng, 12));
        sst_options_t o = blocks_of(block_sizes[rng_below(&rng, 5)], intervals[rng_below(&rng, 3)]);
        o.no_compression = round % 4 == 3;
        mem_file_t f;
        build(&s, o, &f);
        size_t n[2];
        block_types(&f, n);
        CHECK(version_of(&f) == (o.no_compression ? 1 : 2), "the version");
        CHECK(!o.no_compression || n[1] == 0, "compression off: every block raw");
        lz4 += n[1];
        raw += n[0];
        check_table(&f, &s, &o, 100 / SCALE);
        bytes_free(&f.b);
        set_free(&s);
    }
    CHECK(lz4 > 0 && raw > 0, "blocks of both kinds: %zu compressed, %zu raw", lz4, raw);
}

/* Keys that are prefixes of each other, the empty key, empty values. */
static void test_prefixes(void)
{
    static const char *keys[] = {"", "a", "aa", "aaa", "aab", "ab", "b", "b\xff", "b\xff\xff", "c"};
    for (unsigned interval = 1; interval <= 3; interval++) {
        set_t s = {0};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            for (uint64_t seq = 3; seq > 0; seq--)
                set_add(&s, keys[i], strlen(keys[i]), seq, 0, "", 0);
        sst_options_t o = blocks_of(8 * interval, interval);
        mem_file_t f;
        build(&s, o, &f);
        check_table(&f, &s, &o, 200);
        sst_reader_t *r = open_ok(&f);
        got_t g = {.s = &s, .at = 0, .n = 3};
        CHECK(sst_get(r, NULL, 0, visit_expect, &g, OWN_CALL) == XETS_OK && g.n == 0,
              "the empty key");
        static const struct {
            const char *k;
            size_t len;
        } absent[] = {{"\x00", 1},  {"a\x00", 2},         {"aac", 3},
                      {"b\xfe", 2}, {"b\xff\xff\xff", 4}, {"d", 1}};
        for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
            CHECK(sst_get(r, (const unsigned char *)absent[i].k, absent[i].len, visit_expect,
                          &(got_t){.s = &s}, OWN_CALL) == XETS_NOTFOUND,
                  "absent %zu", i);
        sst_reader_close(r);
        bytes_free(&f.b);
        set_free(&s);
    }
}

/* One key with a thousand entries over many blocks, between two others:
 * a lookup gets them all, newest first; bounds just around it. */
static void test_long_key(void)
{
    set_t s = {0};
    set_add(&s, "j", 1, 7, 0, "before", 6);
    for (uint64_t seq = 1000; seq > 0; seq--)
        set_add(&s, "k", 1, seq * 3, 2, &seq, sizeof seq);
    set_add(&s, "l", 1, 7, 0, "after", 5);
    sst_options_t o = blocks_of(128, 0);
    mem_file_t f;
    build(&s, o, &f);
    check_table(&f, &s, &o, 100);
    sst_reader_t *r = open_ok(&f);
    check_get(r, &s, (const unsigned char *)"k", 1);
    const unsigned char *k = (const unsigned char *)"k";
    sst_bound_t in = {.key = k, .len = 1, .inclusive = true}, ex = {.key = k, .len = 1};
    check_walk(r, &s, ex, SST_UNBOUNDED, SIZE_MAX, SST_UNBOUNDED);
    check_walk(r, &s, SST_UNBOUNDED, ex, SIZE_MAX, SST_UNBOUNDED);
    check_walk(r, &s, in, in, 500, ex);
    sst_reader_close(r);
    bytes_free(&f.b);
    set_free(&s);
}

/* Values of tens of MiB: a block then holds one entry larger than the
 * target size. */
static void test_huge_values(void)
{
    set_t s = {0};
    size_t big = (size_t)24 << 20;
    unsigned char *v = malloc(big);
    CHECK(v, "out of memory");
    for (size_t i = 0; i < big; i++)
        v[i] = (unsigned char)(i * 7 + (i >> 12));
    set_add(&s, "a", 1, 1, 0, "small", 5);
    set_add(&s, "b", 1, 9, 0, v, big);
    set_add(&s, "b", 1, 8, 0, v, 5 << 20);
    set_add(&s, "c", 1, 1, 0, "", 0);
    set_add(&s, "d", 1, 1, 0, v + 1, big - 1);
    free(v);
    mem_file_t f;
    build(&s, ORDERED, &f);
    check_table(&f, &s, &ORDERED, 20);
    bytes_free(&f.b);
    set_free(&s);
}

/* The builder refuses, changing nothing, what does not sort after the last
 * entry, entries too large, bad names, and anything once finished. */
static void test_refusals(void)
{
    mem_file_t f = MEM_FILE_INIT;
    sst_builder_t *b;
    static const char *bad_names[] = {"", "sixteen.bytes.xx", "sp ace", "tab\t"};
    for (size_t i = 0; i < 4; i++) {
        sst_options_t o = {.order = bad_names[i], .encoding = "exact.1"};
        CHECK(sst_builder_new(&o, mem_write, &f, &b) == XETS_BADARG, "name %zu", i);
        o = (sst_options_t){.order = "key", .encoding = bad_names[i]};
        CHECK(sst_builder_new(&o, mem_write, &f, &b) == XETS_BADARG, "encoding %zu", i);
    }
    CHECK(sst_builder_new(
              &(sst_options_t){.order = "fifteen.bytes.x", .encoding = "e", .block_size = 16},
              mem_write, &f, &b) == XETS_OK,
          "fifteen bytes");
    const unsigned char *k = (const unsigned char *)"kkmm";
    xets_call_t *call = OWN_CALL;
    CHECK(sst_builder_add(b, k, 2, 5, 0, k, 1, call) == XETS_OK, "first");
    CHECK(sst_builder_add(b, k, 2, 5, 0, k, 1, call) == XETS_BADARG, "the same key and seq");
    CHECK(sst_builder_add(b, k, 2, 6, 0, k, 1, call) == XETS_BADARG, "a newer seq after an older");
    CHECK(sst_builder_add(b, k, 1, 1, 0, k, 1, call) == XETS_BADARG, "a smaller key");
    CHECK(sst_builder_add(b, k, 2, 4, 0, k, 1, call) == XETS_OK, "an older seq");
    /* Never read: refused on its length. */
    CHECK(sst_builder_add(b, k, SST_ENTRY_MAX + 1, 1, 0, k, 0, call) == XETS_BADARG, "a huge key");
    CHECK(sst_builder_add(b, (const unsigned char *)"z", 1, 1, 0, k, SST_ENTRY_MAX, call) ==
              XETS_BADARG,
          "a huge value");
    CHECK(sst_builder_add(b, k, 4, 1, 0, k, 0, call) == XETS_OK, "a longer key");
    sst_built_t built;
    CHECK(sst_builder_finish(b, &built, call) == XETS_OK, "finish");
    CHECK(built.entries == 3 && built.min_seq == 1 && built.max_seq == 5, "counts");
    CHECK(sst_builder_add(b, (const unsigned char *)"z", 1, 1, 0, k, 0, call) == XETS_BADARG,
          "after finish");
    CHECK(sst_builder_finish(b, &built, call) == XETS_BADARG, "finish twice");
    sst_builder_free(b);
    sst_reader_t *r = open_ok(&f);
    CHECK(strcmp(sst_reader_info(r)->order, "fifteen.bytes.x") == 0, "the name read back");
    sst_reader_close(r);
    bytes_free(&f.b);
}

/* A small table of several blocks, its entries and its keys. */
static set_t small_set(mem_file_t *f)
{
    set_t s = random_set(12, 3, 6, 4);
    build(&s, blocks_of(64, 2), f);
    return s;
}

/* Whatever a damaged table answers is right or XETS_CORRUPT: its lookups
 * and its walk. A walk over the whole table ends in XETS_CORRUPT (every
 * byte lies under a checksum); before that, it yields the right entries. */
static void check_damaged(mem_file_t *f, const set_t *s, const char *what)
{
    sst_source_t src = mem_source(f);
    sst_reader_t *r;
    xets_call_t *call = OWN_CALL;
    int rc = sst_reader_open(&src, &r, call);
    if (rc != XETS_OK) {
        check_corrupt(rc, call, f->b.len, what);
        return;
    }
    for (size_t i = 0; i < s->n; i += key_run(s, i)) {
        got_t g = {.s = s, .at = i, .n = key_run(s, i)};
        rc = sst_get(r, s->e[i].key, s->e[i].klen, visit_expect, &g, call);
        if (rc != XETS_CORRUPT)
            CHECK(rc == XETS_OK && g.n == 0, "%s: a lookup: %d", what, rc);
    }
    sst_iter_t it;
    sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, SST_FORWARD);
    sst_entry_t e;
    size_t i = 0;
    while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK) {
        CHECK(i < s->n, "%s: an entry too many", what);
        check_entry(&e, &s->e[i++], what);
    }
    check_corrupt(rc, call, f->b.len, what);
    sst_iter_close(&it);
    /* Backward, the same from the other end. */
    sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, SST_BACKWARD);
    i = s->n;
    while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK) {
        CHECK(i > 0, "%s: an entry too many backward", what);
        check_entry(&e, &s->e[--i], what);
    }
    check_corrupt(rc, call, f->b.len, what);
    sst_iter_close(&it);
    sst_reader_close(r);
}

/* A small table of a few blocks, some of them compressed. */
static set_t small_compressed_set(mem_file_t *f)
{
    set_t s = random_set(16, 2, 80, 4);
    build(&s, blocks_of(200, 2), f);
    size_t n[2];
    block_types(f, n);
    CHECK(n[0] + n[1] >= 3 && n[1] >= 2, "%zu blocks raw, %zu compressed", n[0], n[1]);
    return s;
}

/* Every byte changed in turn (one bit, all bits, a random value), in a
 * table of raw blocks and in one of compressed ones. */
static void test_flips(bool compressed)
{
    mem_file_t f;
    set_t s = compressed ? small_compressed_set(&f) : small_set(&f);
    bytes_t orig = BYTES_INIT;
    CHECK(bytes_set(&orig, f.b.p, f.b.len), "out of memory");
    char what[64];
    for (size_t i = 0; i < orig.len; i++) {
        unsigned char masks[] = {1, 0xFF, (unsigned char)(1 + rng_below(&rng, 255))};
        for (int m = 0; m < 3; m++) {
            f.b.p[i] ^= masks[m];
            snprintf(what, sizeof what, "byte %zu ^ %#x", i, masks[m]);
            check_damaged(&f, &s, what);
            f.b.p[i] = orig.p[i];
        }
    }
    bytes_free(&orig);
    bytes_free(&f.b);
    set_free(&s);
}

/* Every truncation, and bytes appended, fail at open. */
static void test_truncations(void)
{
    mem_file_t f;
    set_t s = small_set(&f);
    size_t size = f.b.len;
    for (size_t len = 0; len < size; len++) {
        f.b.len = len;
        sst_source_t src = mem_source(&f);
        sst_reader_t *r;
        xets_call_t *call = OWN_CALL;
        check_corrupt(sst_reader_open(&src, &r, call), call, len, "a truncation");
    }
    f.b.len = size;
    for (size_t n = 1; n <= 16; n++) {
        CHECK(bytes_reserve(&f.b, 1), "out of memory");
        bytes_put(&f.b, "\0", 1);
        sst_source_t src = mem_source(&f);
        sst_reader_t *r;
        xets_call_t *call = OWN_CALL;
        check_corrupt(sst_reader_open(&src, &r, call), call, f.b.len, "bytes appended");
    }
    bytes_free(&f.b);
    set_free(&s);
}

/* Where the bytes of needle first lie in f. */
static size_t find(const mem_file_t *f, const char *needle, size_t len)
{
    for (size_t i = 0; i + len <= f->b.len; i++)
        if (memcmp(f->b.p + i, needle, len) == 0)
            return i;
    CHECK(0, "%s not in the table", needle);
    return 0;
}

/* Opens f with its checksums made right, walks it whole: the status of the
 * open, or of the walk if the open succeeded; the error's offset in *off.
 * A backward walk must come to the same status (it may find the fault at
 * another entry). */
static int open_and_walk(mem_file_t *f, uint64_t *off)
{
    f->reseal = true;
    sst_source_t src = mem_source(f);
    sst_reader_t *r;
    xets_call_t *call = OWN_CALL;
    int rc = sst_reader_open(&src, &r, call);
    if (rc == XETS_OK) {
        sst_iter_t it;
        sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, SST_FORWARD);
        sst_entry_t e;
        while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK)
            ;
        sst_iter_close(&it);
        xets_call_t *back = OWN_CALL;
        int brc;
        sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, SST_BACKWARD);
        while ((brc = sst_iter_next(&it, &e, back)) == XETS_OK)
            ;
        sst_iter_close(&it);
        CHECK(brc == rc, "backward: %d, forward: %d", brc, rc);
        sst_reader_close(r);
    }
    *off = call->error.offset;
    f->reseal = false;
    return rc;
}

/* Bytes made wrong behind right checksums: what the decoders check. */
static void test_behind_checksums(void)
{
    set_t s = {0};
    set_add(&s, "AAAA", 4, 5, 0, "v5", 2);
    set_add(&s, "KKKK", 4, 5, 0, "w5", 2);
    set_add(&s, "KKKK", 4, 3, 0, "w3", 2);
    set_add(&s, "ZZZZ", 4, 1, 0, "z1", 2);
    mem_file_t f;
    uint64_t off;
    build(&s, ORDERED, &f); /* one data block */
    CHECK(open_and_walk(&f, &off) == XETS_END, "resealed as it was: sound");

    size_t at = find(&f, "KKKK", 4);
    f.b.p[at] = '0'; /* "0KKK" after "AAAA" */
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == at - 3, "keys out of order: %llu",
          (unsigned long long)off);
    f.b.p[at] = 'K';

    at = find(&f, "w3", 2);
    f.b.p[at - 2] = 5; /* seq 3 -> 5, as the entry before */
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == at - 5, "a key's seqs not descending");
    f.b.p[at - 2] = 3;

    /* The data block's count of restart points (one), then its type byte
     * (2: no type of version 2). */
    size_t type = find(&f, "\x01\0\0\0\0", 5) + 4;
    f.b.p[type] = 2;
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == type, "a block type not known");
    f.b.p[type] = 0;

    size_t footer = f.b.len - SST_FOOTER_SIZE;
    f.b.p[footer + 40]++; /* doc/sstable_format.md: the footer's entry count */
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == footer + 40,
          "a count the table does not hold");
    f.b.p[footer + 40]--;
    f.b.p[footer + 48] = 2; /* the smallest seq */
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT, "a seq range the table does not hold");
    f.b.p[footer + 48] = 1;

    f.b.p[footer + 96] = 3; /* version 3, its complement right */
    f.b.p[footer + 100] = (unsigned char)~3;
    CHECK(open_and_walk(&f, &off) == XETS_BADARG && off == footer + 96, "a version not known");
    f.b.p[footer + 100] = (unsigned char)~2;
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == footer + 96,
          "a version and another's complement");
    f.b.p[footer + 96] = 2;
    CHECK(open_and_walk(&f, &off) == XETS_END, "restored");
    bytes_free(&f.b);

    /* A restart point inside an entry: every entry one (offsets 0, 11,
     * 22, 33), the second moved one byte on. */
    build(&s, blocks_of(0, 1), &f);
    CHECK(open_and_walk(&f, &off) == XETS_END, "a restart point at every entry: sound");
    size_t restarts = find(&f, "\0\0\0\0\x0b\0\0\0", 8);
    f.b.p[restarts + 4]++;
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == restarts + 4,
          "a restart point inside an entry: %llu", (unsigned long long)off);
    bytes_free(&f.b);

    /* Bytes between the data blocks and the meta-index that no block
     * holds, the footer's handles moved past them. */
    build(&s, ORDERED, &f);
    footer = f.b.len - SST_FOOTER_SIZE;
    uint64_t meta = le64_load(f.b.p + footer + 8);
    CHECK(bytes_reserve(&f.b, 3), "out of memory");
    memmove(f.b.p + meta + 3, f.b.p + meta, f.b.len - meta);
    f.b.len += 3;
    footer += 3;
    le64_store(f.b.p + footer + 8, meta + 3);
    le64_store(f.b.p + footer + 24, le64_load(f.b.p + footer + 24) + 3);
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == meta + 3,
          "bytes outside any block: %llu", (unsigned long long)off);
    bytes_free(&f.b);

    /* A key past its block's separator: one entry a block, and no filter,
     * which would turn the changed key away before the separator is met. */
    sst_options_t one = blocks_of(1, 0);
    one.no_filter = true;
    build(&s, one, &f);
    CHECK(open_and_walk(&f, &off) == XETS_END, "one entry a block: sound");
    at = find(&f, "AAAA", 4);
    f.b.p[at] = 'D'; /* "DAAA", past the separator "B" */
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == 0, "a key past its separator: %llu",
          (unsigned long long)off);
    f.b.p[at] = 'A';
    at = find(&f, "ZZZZ", 4);
    f.b.p[at] = 'K'; /* "KZZZ", after "KKKK" but below the separator "L" before it */
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == at - 3,
          "a key below the separator before it: %llu", (unsigned long long)off);
    bytes_free(&f.b);
    set_free(&s);
}

/* A read that fails passes its status through; the same call again goes
 * on as if nothing had failed. */
static void test_read_failures(void)
{
    mem_file_t f;
    set_t s = random_set(40, 3, 20, 6);
    build(&s, blocks_of(100, 0), &f);
    static const int statuses[] = {XETS_IO, XETS_NEED_IO};
    for (int st = 0; st < 2; st++) {
        for (long k = 0;; k++) {
            f.fail_at = k;
            f.fail_rc = statuses[st];
            f.reads = 0;
            sst_source_t src = mem_source(&f);
            sst_reader_t *r;
            xets_call_t *call = OWN_CALL;
            int rc = sst_reader_open(&src, &r, call);
            bool failed = rc != XETS_OK;
            if (failed) {
                CHECK(rc == statuses[st], "open: %d", rc);
                if (rc == XETS_IO)
                    CHECK(call->error.err == 5 && strcmp(call->error.op, "read") == 0,
                          "the error passes");
                CHECK(sst_reader_open(&src, &r, call) == XETS_OK, "open again");
            }
            sst_iter_t it;
            sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, SST_FORWARD);
            sst_entry_t e;
            for (size_t i = 0;;) {
                rc = sst_iter_next(&it, &e, call);
                if (rc == statuses[st]) {
                    CHECK(!failed, "one failure only");
                    failed = true;
                    continue;
                }
                if (i == s.n) {
                    CHECK(rc == XETS_END, "the end: %d", rc);
                    break;
                }
                CHECK(rc == XETS_OK, "walk: %d", rc);
                check_entry(&e, &s.e[i++], "after a failure");
            }
            sst_iter_close(&it);
            sst_reader_close(r);
            if (!failed)
                break; /* k passed the reads of the whole walk */
        }
    }
    f.fail_at = -1;
    bytes_free(&f.b);
    set_free(&s);
}

/* A write that fails passes its status through, and the builder stays
 * failed. */
static int failing_write(void *ctx, uint64_t off, const void *p, size_t len, xets_call_t *call)
{
    long *left = ctx;
    if ((*left)-- == 0)
        return call_fail(call, XETS_IO, "write", "mem", off, 28);
    (void)p;
    (void)len;
    return XETS_OK;
}

static void test_write_failures(void)
{
    set_t s = random_set(50, 2, 40, 6);
    for (long k = 0;; k++) {
        long left = k;
        sst_builder_t *b;
        sst_options_t o = blocks_of(64, 0);
        CHECK(sst_builder_new(&o, failing_write, &left, &b) == XETS_OK, "builder");
        xets_call_t *call = OWN_CALL;
        int rc = XETS_OK;
        for (size_t i = 0; i < s.n && rc == XETS_OK; i++)
            rc = sst_builder_add(b, s.e[i].key, s.e[i].klen, s.e[i].seq, 0, s.e[i].val, s.e[i].vlen,
                                 call);
        sst_built_t built;
        if (rc == XETS_OK)
            rc = sst_builder_finish(b, &built, call);
        if (rc == XETS_OK) { /* k passed the writes of the whole table */
            sst_builder_free(b);
            break;
        }
        CHECK(rc == XETS_IO && call->error.err == 28, "the write's failure: %d", rc);
        CHECK(sst_builder_add(b, (const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff", 7, 1, 0,
                              NULL, 0, call) == XETS_IO,
              "stays failed");
        CHECK(sst_builder_finish(b, &built, call) == XETS_IO, "stays failed");
        sst_builder_free(b);
    }
    set_free(&s);
}

/* Several threads read one table at once. */
typedef struct reader_arg {
    const sst_reader_t *r;
    const set_t *s;
    uint64_t seed;
} reader_arg_t;

static void *reader_thread(void *p)
{
    reader_arg_t *a = p;
    uint64_t local = a->seed;
    for (int i = 0; i < 300; i++) {
        const ent_t *e = &a->s->e[rng_below(&local, a->s->n)];
        check_get(a->r, a->s, e->key, e->klen);
    }
    for (int i = 0; i < 3; i++)
        check_walk(a->r, a->s, SST_UNBOUNDED, SST_UNBOUNDED, SIZE_MAX, SST_UNBOUNDED);
    return NULL;
}

static void test_threads(void)
{
    mem_file_t f;
    set_t s = random_set(1000, 3, 50, 10);
    build(&s, ORDERED, &f);
    sst_reader_t *r = open_ok(&f);
    pthread_t t[4];
    reader_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (reader_arg_t){.r = r, .s = &s, .seed = 77 + (uint64_t)i};
        CHECK(pthread_create(&t[i], NULL, reader_thread, &args[i]) == 0, "thread");
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    sst_reader_close(r);
    bytes_free(&f.b);
    set_free(&s);
}

/* The handle of the meta block the meta-index names name. */
static void meta_handle(const mem_file_t *f, const char *name, uint64_t *off, uint64_t *size)
{
    const unsigned char *ft = f->b.p + f->b.len - SST_FOOTER_SIZE;
    uint64_t meta_off = le64_load(ft + 8), meta_size = le64_load(ft + 16);
    sst_block_t b;
    CHECK(sst_block_parse(&b, f->b.p + meta_off, meta_size, meta_off, false, "mem.sst", "meta-index",
                          OWN_CALL) == XETS_OK,
          "the meta-index");
    sst_block_iter_t it = {0};
    sst_bi_start(&it, &b, false);
    bool found = false;
    while (!found && sst_bi_next(&it, OWN_CALL) == XETS_OK) {
        const unsigned char *p = it.val, *end = p + it.vlen;
        found = bytes_cmp(it.key.p, it.key.len, (const unsigned char *)name, strlen(name)) == 0 &&
                varint_get(&p, end, UINT64_MAX, off) && varint_get(&p, end, UINT64_MAX, size);
    }
    sst_bi_free(&it);
    CHECK(found, "no meta block %s", name);
}

/* n distinct keys of the form prefix.i. */
static set_t numbered_keys(const char *prefix, size_t n, size_t per_key)
{
    set_t s = {0};
    char k[32];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(k, sizeof k, "%s.%zu", prefix, i);
        for (size_t m = per_key; m > 0; m--)
            set_add(&s, k, (size_t)len, m, 0, "v", 1);
    }
    qsort(s.e, s.n, sizeof *s.e, ent_cmp);
    return s;
}

/* Bytes of filter for n keys: 10 bits a key, in lines of 64 bytes. */
static size_t filter_size(size_t n)
{
    return 64 * ((n * SST_FILTER_BITS + 511) / 512);
}

/* No key of the table turned away; of keys it does not hold, about 1 in
 * 100 let through at 10 bits a key (a classic bloom filter's 0.8%, a bit
 * more for lines of 512 bits): measured over 100k keys, printed, and held
 * under 2%. */
static void test_filter_rate(void)
{
    size_t n = 100000 / SCALE;
    set_t s = numbered_keys("present", n, 1);
    mem_file_t f;
    build(&s, ORDERED, &f);
    sst_reader_t *r = open_ok(&f);
    CHECK(sst_reader_filter_bytes(r) == filter_size(n), "filter bytes %zu, want %zu",
          sst_reader_filter_bytes(r), filter_size(n));
    for (size_t i = 0; i < s.n; i++)
        CHECK(sst_reader_may_contain(r, sst_key_hash(s.e[i].key, s.e[i].klen)),
              "key %zu turned away", i);
    size_t passed = 0;
    char k[32];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(k, sizeof k, "absent.%zu", i);
        passed += sst_reader_may_contain(r, sst_key_hash((const unsigned char *)k, (size_t)len));
    }
    double rate = (double)passed / (double)n;
    printf("  filter: %zu keys, %zu bytes; %zu of %zu absent keys let through: %.3f%%\n", n,
           sst_reader_filter_bytes(r), passed, n, 100 * rate);
    CHECK(rate < 0.02, "false positive rate %.4f", rate);
    sst_reader_close(r);
    bytes_free(&f.b);
    set_free(&s);
}

/* A key of many entries (a bag's, or versions) is one key to the filter:
 * its size is that of the distinct keys. */
static void test_filter_keys_once(void)
{
    set_t s = numbered_keys("bag", 1000, 7);
    sst_options_t o = blocks_of(256, 0);
    mem_file_t f;
    build(&s, o, &f);
    sst_reader_t *r = open_ok(&f);
    CHECK(sst_reader_filter_bytes(r) == filter_size(1000), "filter bytes %zu for 1000 keys",
          sst_reader_filter_bytes(r));
    sst_reader_close(r);
    check_table(&f, &s, &o, 50);
    bytes_free(&f.b);
    set_free(&s);
}

/* A table without a filter (a writer before filters) reads as one with:
 * every key may be there, no byte of filter. */
static void test_no_filter(void)
{
    set_t s = random_set(300, 3, 20, 8);
    sst_options_t o = blocks_of(200, 0);
    o.no_filter = true;
    mem_file_t f;
    build(&s, o, &f);
    check_table(&f, &s, &o, 100);
    sst_reader_t *r = open_ok(&f);
    CHECK(sst_reader_filter_bytes(r) == 0, "no filter");
    for (uint64_t h = 0; h < 1000; h++)
        CHECK(sst_reader_may_contain(r, h * 0x9E3779B97F4A7C15ull), "no filter turns away");
    sst_reader_close(r);
    bytes_free(&f.b);
    set_free(&s);
}

/* Opens f and expects XETS_CORRUPT from the filter at offset at. */
static void expect_filter_corrupt(mem_file_t *f, uint64_t at, const char *what)
{
    sst_source_t src = mem_source(f);
    sst_reader_t *r;
    xets_call_t *call = OWN_CALL;
    int rc = sst_reader_open(&src, &r, call);
    CHECK(rc == XETS_CORRUPT && strcmp(call->error.op, "filter") == 0 &&
              strcmp(call->error.file, "mem.sst") == 0 && call->error.offset == at,
          "%s: %d (%s at %llu), want corrupt filter at %llu", what, rc,
          rc == XETS_CORRUPT ? call->error.op : "-", (unsigned long long)call->error.offset,
          (unsigned long long)at);
}

/* A damaged filter: a flipped byte fails its checksum at open (the
 * block's offset); behind a right checksum, a layout not sound fails at
 * open (the field's offset), and bits cleared that a key needs fail a walk
 * over the whole table. */
static void test_filter_damage(void)
{
    set_t s = numbered_keys("k", 500, 2);
    mem_file_t f;
    build(&s, blocks_of(512, 0), &f);
    uint64_t off, size;
    meta_handle(&f, SST_FILTER_NAME, &off, &size);
    CHECK(size == 8 + filter_size(500), "the filter's size %llu", (unsigned long long)size);
    f.b.p[off + size / 2] ^= 0x10;
    expect_filter_corrupt(&f, off, "a byte of the filter flipped");
    f.b.p[off + size / 2] ^= 0x10;
    f.b.p[off + size + 1] ^= 1; /* its checksum */
    expect_filter_corrupt(&f, off, "the filter's checksum flipped");
    f.b.p[off + size + 1] ^= 1;

    f.reseal = true;
    static const struct {
        size_t at;
        unsigned char to;
        const char *what;
    } bad[] = {{0, 0, "no line"},  {0, 200, "more lines than bytes"}, {4, 0, "no probe"},
               {4, 31, "too many probes"}, {6, 1, "a zero byte not"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char *p = f.b.p + off + bad[i].at, was = *p;
        *p = bad[i].to;
        expect_filter_corrupt(&f, off + bad[i].at, bad[i].what);
        *p = was;
    }
    uint64_t at;
    CHECK(open_and_walk(&f, &at) == XETS_END, "resealed as it was: sound");
    memset(f.b.p + off + 8, 0, size - 8); /* a filter that turns every key away */
    CHECK(open_and_walk(&f, &at) == XETS_CORRUPT && at == off, "a filter without the keys: %llu",
          (unsigned long long)at);
    f.reseal = false;
    bytes_free(&f.b);
    set_free(&s);
}

/* ---- compression ---------------------------------------------------------- */

/* Twenty entries of runs of a letter: one data block that compresses. */
static set_t runs_set(void)
{
    set_t s = {0};
    unsigned char v[200];
    char k[16];
    for (int i = 0; i < 20; i++) {
        memset(v, 'a' + i % 3, sizeof v);
        int len = snprintf(k, sizeof k, "key%03d", i);
        set_add(&s, k, (size_t)len, 1, 0, v, sizeof v);
    }
    return s;
}

/* A compressed data block as doc/sstable_format.md lays it out: type 1,
 * the checksum over the stored bytes and the type, the uncompressed size
 * as a varint, then LZ4's block of the raw block's bytes (decoded here by
 * LZ4 itself, not by the reader); the handle's size is the stored size;
 * the table is version 2, the same one built raw is version 1. */
static void test_compressed_layout(void)
{
    set_t s = runs_set();
    sst_options_t o = blocks_of(1 << 20, 0); /* one data block */
    mem_file_t raw, lz;
    o.no_compression = true;
    build(&s, o, &raw);
    o.no_compression = false;
    build(&s, o, &lz);
    CHECK(version_of(&raw) == 1 && version_of(&lz) == 2, "versions");
    uint64_t(*hr)[2], (*hl)[2];
    CHECK(data_handles(&raw, &hr) == 1 && data_handles(&lz, &hl) == 1, "one data block each");
    CHECK(hr[0][0] == 0 && hl[0][0] == 0, "at offset 0");
    size_t size = hr[0][1], stored = hl[0][1];
    const unsigned char *block = raw.b.p, *p = lz.b.p, *end = lz.b.p + stored;
    CHECK(block[size] == 0 && p[stored] == 1, "types %u and %u", block[size], p[stored]);
    CHECK(le64_load(p + stored + 1) == XXH3_64bits(p, stored + 1), "the checksum");
    CHECK(stored <= size - size / 8, "%zu bytes stored for %zu", stored, size);
    uint64_t ulen;
    CHECK(varint_get(&p, end, UINT64_MAX, &ulen) && ulen == size, "the size first");
    unsigned char *out = malloc(size);
    CHECK(out, "out of memory");
    int n = LZ4_decompress_safe((const char *)p, (char *)out, (int)(end - p), (int)size);
    CHECK(n == (int)size && memcmp(out, block, size) == 0, "then LZ4's bytes of the raw block");
    free(out);
    check_table(&raw, &s, &o, 50);
    check_table(&lz, &s, &o, 50);
    free(hr);
    free(hl);
    bytes_free(&raw.b);
    bytes_free(&lz.b);
    set_free(&s);
}

/* A block is kept compressed exactly when that saves at least an eighth
 * of it (and at least a byte): blocks from random to repetitive, against
 * LZ4 itself; what is kept decompresses to the block. Through the
 * builder, a table of random values stays raw (type 0) and one of runs
 * does not. */
static void test_compression_rule(void)
{
    static unsigned char v[4096];
    static char lz[LZ4_COMPRESSBOUND(4096)];
    size_t kept = 0, raw = 0;
    bytes_t out = BYTES_INIT, back = BYTES_INIT;
    for (int i = 0; i < 3000 / SCALE; i++) {
        size_t len = 1 + rng_below(&rng, sizeof v), period = 1 + rng_below(&rng, 16);
        size_t repeat = rng_below(&rng, 101); /* in percent */
        for (size_t j = 0; j < len; j++)
            v[j] = j >= period && rng_below(&rng, 100) < repeat ? v[j - period]
                                                               : (unsigned char)rng_next(&rng);
        int n = LZ4_compress_default((const char *)v, lz, (int)len, sizeof lz);
        CHECK(n > 0, "LZ4");
        unsigned char head[VARINT_MAX];
        size_t hlen = varint_put(head, len), save = len / 8 > 0 ? len / 8 : 1;
        bool pays = hlen + (size_t)n + save <= len;
        out.len = 0;
        int rc = sst_compress(v, len, SST_TRAILER_SIZE, &out);
        CHECK(rc == (pays ? XETS_OK : XETS_NOTFOUND), "%zu bytes to %d: %d", len, n, rc);
        if (!pays) {
            CHECK(out.len == 0, "nothing kept");
            raw++;
            continue;
        }
        kept++;
        CHECK(out.len == hlen + (size_t)n && memcmp(out.p, head, hlen) == 0 &&
                  memcmp(out.p + hlen, lz, (size_t)n) == 0,
              "the size, then LZ4's bytes");
        CHECK(out.cap >= out.len + SST_TRAILER_SIZE, "room for the trailer");
        CHECK(sst_decompress(out.p, out.len, &back) == XETS_OK && back.len == len &&
                  memcmp(back.p, v, len) == 0,
              "decompressed: the block");
    }
    CHECK(kept > 100 && raw > 100, "%zu kept, %zu raw", kept, raw);
    bytes_free(&out);
    bytes_free(&back);

    set_t s = {0};
    for (int i = 0; i < 50; i++) {
        char k[16];
        int len = snprintf(k, sizeof k, "key%03d", i);
        random_value(v, 100, false);
        set_add(&s, k, (size_t)len, 1, 0, v, 100);
    }
    mem_file_t f;
    build(&s, ORDERED, &f);
    size_t types[2];
    block_types(&f, types);
    CHECK(types[0] > 0 && types[1] == 0, "random values: every block raw");
    CHECK(version_of(&f) == 2, "a version 2 table even so");
    check_table(&f, &s, &ORDERED, 20);
    bytes_free(&f.b);
    set_free(&s);
    s = runs_set();
    build(&s, ORDERED, &f);
    block_types(&f, types);
    CHECK(types[0] == 0 && types[1] > 0, "runs: compressed");
    bytes_free(&f.b);
    set_free(&s);
}

/* Compressed bytes wrong behind right checksums: XETS_CORRUPT at the block
 * (offset 0, the table's one data block), never a crash or a read past
 * the stored bytes (ASan); a compressed type where none may be: at the
 * type byte. */
static void test_compressed_damage(void)
{
    set_t s = runs_set();
    mem_file_t f;
    build(&s, blocks_of(1 << 20, 0), &f);
    uint64_t(*h)[2];
    CHECK(data_handles(&f, &h) == 1, "one data block");
    size_t stored = h[0][1];
    free(h);
    bytes_t orig = BYTES_INIT;
    CHECK(bytes_set(&orig, f.b.p, f.b.len), "out of memory");
    const unsigned char *p = f.b.p;
    uint64_t size, off;
    CHECK(varint_get(&p, f.b.p + stored, UINT64_MAX, &size), "the size");
    size_t hlen = (size_t)(p - f.b.p);
    CHECK(hlen == 2 && size < 1 << 14, "a size of two varint bytes (%zu)", hlen);
    CHECK(open_and_walk(&f, &off) == XETS_END, "resealed as it was: sound");
    /* Sizes in the same two bytes: too small for LZ4's bytes, one too
     * large, and not above the stored size. */
    uint64_t sizes[] = {size - 1, size + 1, stored, 0};
    for (int i = 0; i < 4; i++) {
        varint_put(f.b.p, sizes[i] | 1 << 14); /* three bytes: the third is LZ4's first */
        f.b.p[1] &= 0x7F;                      /* ended after two */
        f.b.p[2] = orig.p[2];
        CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == 0, "size %llu: at %llu",
              (unsigned long long)sizes[i], (unsigned long long)off);
        memcpy(f.b.p, orig.p, stored);
    }
    /* Sizes absurd, in the stored bytes' first five: above what the bytes
     * can expand to, above the largest block, and a varint that does not
     * end; then LZ4 bytes that do not decode (a literal run longer than
     * the block). */
    static const unsigned char absurd[][5] = {
        {0x80, 0x80, 0x80, 0x80, 0x04}, {0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, {0x80, 0x80, 0x80, 0x80, 0x80}};
    for (int i = 0; i < 3; i++) {
        memcpy(f.b.p, absurd[i], 5);
        if (i == 2)
            memset(f.b.p, 0x80, stored);
        CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == 0, "absurd size %d", i);
        memcpy(f.b.p, orig.p, stored);
    }
    memset(f.b.p + hlen, 0xFF, stored - hlen);
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == 0, "LZ4 bytes that do not decode");
    memcpy(f.b.p, orig.p, stored);
    /* The table called version 1, where no block is compressed. */
    size_t footer = f.b.len - SST_FOOTER_SIZE;
    le32_store(f.b.p + footer + 96, 1);
    le32_store(f.b.p + footer + 100, ~(uint32_t)1);
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == stored,
          "a compressed block in a version 1 table: at %llu", (unsigned long long)off);
    memcpy(f.b.p + footer, orig.p + footer, SST_FOOTER_SIZE);
    /* The index called compressed: only data blocks may be. */
    uint64_t index_off = le64_load(f.b.p + footer + 24), index_size = le64_load(f.b.p + footer + 32);
    f.b.p[index_off + index_size] = 1;
    CHECK(open_and_walk(&f, &off) == XETS_CORRUPT && off == index_off + index_size,
          "a compressed index");
    f.b.p[index_off + index_size] = 0;
    CHECK(open_and_walk(&f, &off) == XETS_END && memcmp(f.b.p, orig.p, f.b.len) == 0, "restored");
    bytes_free(&orig);
    bytes_free(&f.b);
    set_free(&s);
}

int main(void)
{
    test_layout(true, true);
    test_layout(false, true);
    test_layout(true, false);
    test_empty();
    test_meta_blocks();
    test_round_trips();
    test_prefixes();
    test_long_key();
    test_huge_values();
    test_refusals();
    test_flips(false);
    test_flips(true);
    test_truncations();
    test_behind_checksums();
    test_read_failures();
    test_write_failures();
    test_threads();
    test_compressed_layout();
    test_compression_rule();
    test_compressed_damage();
    test_filter_rate();
    test_filter_keys_once();
    test_no_filter();
    test_filter_damage();
    printf("sstable_test: ok\n");
    return 0;
}
