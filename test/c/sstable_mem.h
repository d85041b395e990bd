/* An SSTable in memory for the tests, the fuzz target and its seed
 * generator (c_src/disk/sstable.h): the builder's write callback appends
 * to it, the reader's read callback reads from it; and entries copied, to
 * compare with what a reader gives.
 *
 * Reading can also fail on purpose (the n-th read answers a given status,
 * once), and reseal: every read handed out with its checksum made right
 * for the bytes it holds (a block's last 8 bytes are the XXH3-64 of the
 * bytes before them, the footer's first 8 that of the bytes after them),
 * so that bytes changed on purpose reach the decoders behind the
 * checksums, as a file crafted to crash the reader would.
 *
 * A read outside the file, which the reader promises never to make,
 * aborts. Reads may run on several threads at once when no failure is
 * armed. */
#ifndef XETS_TEST_SSTABLE_MEM_H
#define XETS_TEST_SSTABLE_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "call.h"
#include "disk/bytes.h"
#include "disk/sstable.h"
#include "status.h"

typedef struct mem_file {
    bytes_t b;
    bool reseal;
    long fail_at; /* the read that fails, from 0; -1: none */
    int fail_rc;  /* what it answers */
    long reads;   /* reads so far, counted while a failure is armed */
} mem_file_t;

#define MEM_FILE_INIT ((mem_file_t){.fail_at = -1})

static inline int mem_write(void *ctx, uint64_t off, const void *p, size_t len, xets_call_t *call)
{
    (void)call;
    mem_file_t *f = ctx;
    if (off != f->b.len) {
        fprintf(stderr, "mem_write: at %llu, the file ends at %zu\n", (unsigned long long)off,
                f->b.len);
        abort();
    }
    if (!bytes_reserve(&f->b, len))
        return XETS_NOMEM;
    bytes_put(&f->b, p, len);
    return XETS_OK;
}

static inline int mem_read(void *ctx, uint64_t off, void *buf, size_t len, xets_call_t *call)
{
    mem_file_t *f = ctx;
    if (off > f->b.len || len > f->b.len - off) {
        fprintf(stderr, "mem_read: %zu bytes at %llu, past the end at %zu\n", len,
                (unsigned long long)off, f->b.len);
        abort();
    }
    if (f->fail_at >= 0 && f->reads++ == f->fail_at) {
        f->fail_at = -1;
        return f->fail_rc == XETS_IO ? call_fail(call, XETS_IO, "read", "mem", off, 5) : f->fail_rc;
    }
    unsigned char *p = buf;
    memcpy(p, f->b.p + off, len);
    if (f->reseal && len >= 8) {
        if (off + len == f->b.len && len == SST_FOOTER_SIZE)
            le64_store(p, XXH3_64bits(p + 8, len - 8));
        else
            le64_store(p + len - 8, XXH3_64bits(p, len - 8));
    }
    return XETS_OK;
}

static inline sst_source_t mem_source(mem_file_t *f)
{
    return (sst_source_t){.read = mem_read, .ctx = f, .size = f->b.len, .name = "mem.sst"};
}

/* An entry with bytes of its own: one a test expects, or one a walk saw. */
typedef struct mem_entry {
    unsigned char *key;
    size_t klen;
    uint64_t seq;
    uint8_t kind;
    unsigned char *val;
    size_t vlen;
} mem_entry_t;

static inline void mem_entry_copy(mem_entry_t *m, const sst_entry_t *e)
{
    *m = (mem_entry_t){.klen = e->klen, .seq = e->seq, .kind = e->kind, .vlen = e->vlen};
    m->key = malloc(e->klen + 1);
    m->val = malloc(e->vlen + 1);
    if (m->key == NULL || m->val == NULL)
        abort();
    if (e->klen) /* an empty key may be NULL */
        memcpy(m->key, e->key, e->klen);
    if (e->vlen)
        memcpy(m->val, e->val, e->vlen);
}

static inline void mem_entry_free(mem_entry_t *m)
{
    free(m->key);
    free(m->val);
}

static inline bool mem_entry_equal(const sst_entry_t *e, const mem_entry_t *m)
{
    return bytes_cmp(e->key, e->klen, m->key, m->klen) == 0 && e->seq == m->seq &&
           e->kind == m->kind && bytes_cmp(e->val, e->vlen, m->val, m->vlen) == 0;
}

#endif
