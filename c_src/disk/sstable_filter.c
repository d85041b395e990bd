/* The filter of an SSTable: layout, probing and why in sstable_filter.h.
 * Building sets the bits of every hash at once at the end, when the number
 * of keys, and so of lines, is known. Reading copies the lines into memory
 * aligned on a cache line, where the read buffer would put them anywhere:
 * a line across two cache lines would cost a lookup two misses. */
#include <xxhash.h>

#include "sstable_filter.h"

#define PROBE_MIX 0x9E3779B9u /* odd: 2^32 / the golden ratio */
#define LINE_BITS (8 * SST_FILTER_LINE)
#define BIT_SHIFT 23 /* the top 9 bits of 32 pick one of LINE_BITS */
_Static_assert(LINE_BITS >> (32 - BIT_SHIFT) == 1, "9 bits pick a bit of a line");
/* Probe x's byte of its line, and its bit in that byte. */
#define PROBE_BYTE(x) ((x) >> BIT_SHIFT >> 3)
#define PROBE_BIT(x) (1u << ((x) >> BIT_SHIFT & 7))

uint64_t sst_key_hash(const unsigned char *key, size_t klen)
{
    return XXH3_64bits(key, klen);
}

/* The line of hash h among n: its high half mapped onto [0, n). */
static size_t line_of(uint64_t h, uint32_t n)
{
    return (size_t)(((h >> 32) * n) >> 32);
}

/* ---- building ---- */

void sst_fb_free(sst_filter_builder_t *fb)
{
    bytes_free(&fb->hashes);
}

int sst_fb_add(sst_filter_builder_t *fb, uint64_t hash)
{
    if (!bytes_reserve(&fb->hashes, 8))
        return XETS_NOMEM;
    bytes_put_u64(&fb->hashes, hash);
    return XETS_OK;
}

int sst_fb_finish(const sst_filter_builder_t *fb, bytes_t *out, size_t extra)
{
    size_t keys = sst_fb_keys(fb);
    uint64_t want = ((uint64_t)keys * SST_FILTER_BITS + LINE_BITS - 1) / LINE_BITS;
    uint32_t n = want == 0 ? 1 : want > SST_FILTER_LINES_MAX ? SST_FILTER_LINES_MAX : (uint32_t)want;
    size_t len = SST_FILTER_HEADER + (size_t)n * SST_FILTER_LINE;
    out->len = 0;
    if (!bytes_reserve_to(out, len + extra))
        return XETS_NOMEM;
    unsigned char *p = out->p;
    memset(p, 0, len);
    le32_store(p, n);
    p[4] = SST_FILTER_PROBES;
    unsigned char *lines = p + SST_FILTER_HEADER;
    for (size_t i = 0; i < keys; i++) {
        uint64_t h = le64_load(fb->hashes.p + 8 * i);
        unsigned char *line = lines + line_of(h, n) * SST_FILTER_LINE;
        uint32_t x = (uint32_t)h;
        for (unsigned k = 0; k < SST_FILTER_PROBES; k++, x *= PROBE_MIX)
            line[PROBE_BYTE(x)] |= (unsigned char)PROBE_BIT(x);
    }
    out->len = len;
    return XETS_OK;
}

/* ---- reading ---- */

int sst_filter_read(sst_filter_t *f, const unsigned char *p, size_t len, size_t *bad)
{
    *f = (sst_filter_t){0};
    if (len < SST_FILTER_HEADER) {
        *bad = 0;
        return XETS_CORRUPT;
    }
    uint32_t n = le32_load(p);
    unsigned probes = p[4];
    if (n == 0 || (len - SST_FILTER_HEADER) / SST_FILTER_LINE != n ||
        (len - SST_FILTER_HEADER) % SST_FILTER_LINE != 0) {
        *bad = 0;
        return XETS_CORRUPT;
    }
    if (probes == 0 || probes > SST_FILTER_PROBES_MAX) {
        *bad = 4;
        return XETS_CORRUPT;
    }
    for (size_t i = 5; i < SST_FILTER_HEADER; i++)
        if (p[i] != 0) {
            *bad = i;
            return XETS_CORRUPT;
        }
    size_t bytes = (size_t)n * SST_FILTER_LINE; /* a multiple of the alignment */
    f->lines = aligned_alloc(SST_FILTER_LINE, bytes);
    if (f->lines == NULL)
        return XETS_NOMEM;
    memcpy(f->lines, p + SST_FILTER_HEADER, bytes);
    f->nlines = n;
    f->probes = probes;
    return XETS_OK;
}

void sst_filter_free(sst_filter_t *f)
{
    free(f->lines);
    *f = (sst_filter_t){0};
}

bool sst_filter_may_contain(const sst_filter_t *f, uint64_t hash)
{
    if (f->nlines == 0)
        return true;
    const unsigned char *line = f->lines + line_of(hash, f->nlines) * SST_FILTER_LINE;
    uint32_t x = (uint32_t)hash;
    for (unsigned k = 0; k < f->probes; k++, x *= PROBE_MIX)
        if (!(line[PROBE_BYTE(x)] & PROBE_BIT(x)))
            return false;
    return true;
}
