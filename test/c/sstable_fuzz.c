/* Fuzz target of the SSTable reader (c_src/disk/sstable.c): the input is
 * taken for a whole table file, read as it is and then with every read's
 * checksum made right (test/c/sstable_mem.h), so that the decoders behind
 * the checksums meet the changed bytes too, as they would in a file made
 * to crash them. Built with clang's libFuzzer (`make fuzz`) or with
 * test/c/fuzz_driver.c (`make check`); seeded with small tables of every
 * shape, version 2 tables with data blocks stored compressed (so that
 * mutations reach the decompression) and raw, and version 1 tables
 * (test/c/sstable_seeds.c).
 *
 * Beyond what ASan and UBSan catch (and the memory file, which aborts on
 * a read outside the file), it checks: every status is one the reader may
 * give, with an offset within the file for XETS_CORRUPT; a walk yields
 * entries in strictly ascending order (key, then descending seq), a
 * backward walk in the exact reverse order; a whole walk finds the table
 * broken backward exactly when it does forward; and when a walk over the
 * whole table finds nothing wrong, the table is sound, so that the
 * backward walk yields the forward one's entries reversed, the footer's
 * count is what the walk saw, the filter (if any) passes every key the
 * walk saw, a lookup of every key gives exactly the walk's entries of
 * that key, a key just past one is absent, and walks between bounds and
 * after seeks, both ways, give exactly the walk's entries between them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sstable_mem.h"

static void require_status(int rc, const xets_call_t *call, size_t size)
{
    REQUIRE(rc == XETS_OK || rc == XETS_END || rc == XETS_NOTFOUND || rc == XETS_CORRUPT);
    if (rc == XETS_CORRUPT)
        REQUIRE(call->error.offset <= size && call->error.op != NULL);
}

/* Walks the whole table dir into *out (n entries, in the walk's order);
 * returns the walk's end. */
static int walk_all(const sst_reader_t *r, sst_dir_t dir, mem_entry_t **out, size_t *n,
                    size_t size, xets_call_t *call)
{
    sst_iter_t it;
    sst_iter_open(&it, r, SST_UNBOUNDED, SST_UNBOUNDED, dir);
    mem_entry_t *all = NULL;
    size_t cap = 0;
    sst_entry_t e;
    int rc;
    *n = 0;
    while ((rc = sst_iter_next(&it, &e, call)) == XETS_OK) {
        if (*n > 0) {
            const mem_entry_t *p = &all[*n - 1];
            int c = bytes_cmp(p->key, p->klen, e.key, e.klen);
            if (dir == SST_FORWARD)
                REQUIRE(c < 0 || (c == 0 && p->seq > e.seq));
            else
                REQUIRE(c > 0 || (c == 0 && p->seq < e.seq));
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            all = realloc(all, cap * sizeof *all);
            REQUIRE(all != NULL);
        }
        mem_entry_copy(&all[(*n)++], &e);
    }
    require_status(rc, call, size);
    sst_iter_close(&it);
    *out = all;
    return rc;
}

typedef struct expect {
    const mem_entry_t *at;
    size_t left;
} expect_t;

static int visit(void *ctx, const sst_entry_t *e)
{
    expect_t *x = ctx;
    REQUIRE(x->left > 0 && mem_entry_equal(e, x->at));
    x->at++;
    x->left--;
    return 0;
}

/* A walk between lo and hi that seeks to `to` after `seek_at` entries
 * gives the sound table's entries between them. */
static void check_walk(const sst_reader_t *r, const mem_entry_t *all, size_t n, sst_bound_t lo,
                       sst_bound_t hi, size_t seek_at, sst_bound_t to, xets_call_t *call)
{
    sst_iter_t it;
    sst_iter_open(&it, r, lo, hi, SST_FORWARD);
    size_t i = 0;
    while (i < n && lo.key && sst_before(all[i].key, all[i].klen, lo.key, lo.len, lo.inclusive))
        i++;
    sst_entry_t e;
    for (size_t step = 0;; step++) {
        if (step == seek_at) { /* forward or back: to, or lo if to lies before it */
            sst_iter_seek(&it, to);
            i = 0;
            while (i < n &&
                   ((lo.key && sst_before(all[i].key, all[i].klen, lo.key, lo.len, lo.inclusive)) ||
                    (to.key && sst_before(all[i].key, all[i].klen, to.key, to.len, to.inclusive))))
                i++;
        }
        int rc = sst_iter_next(&it, &e, call);
        if (i < n &&
            (!hi.key || !sst_before(hi.key, hi.len, all[i].key, all[i].klen, hi.inclusive))) {
            REQUIRE(rc == XETS_OK && mem_entry_equal(&e, &all[i]));
            i++;
        } else {
            REQUIRE(rc == XETS_END);
            break;
        }
    }
    sst_iter_close(&it);
}

/* The same backward: from hi down to lo, the seek to `to` landing on the
 * last entry at or before it (or hi, if to lies after it). */
static void check_walk_back(const sst_reader_t *r, const mem_entry_t *all, size_t n,
                            sst_bound_t lo, sst_bound_t hi, size_t seek_at, sst_bound_t to,
                            xets_call_t *call)
{
    sst_iter_t it;
    sst_iter_open(&it, r, lo, hi, SST_BACKWARD);
    size_t i = n; /* the entry due is all[i - 1] */
    while (i > 0 && hi.key &&
           !sst_before(all[i - 1].key, all[i - 1].klen, hi.key, hi.len, !hi.inclusive))
        i--;
    sst_entry_t e;
    for (size_t step = 0;; step++) {
        if (step == seek_at) {
            sst_iter_seek(&it, to);
            i = n;
            while (i > 0 && ((hi.key && !sst_before(all[i - 1].key, all[i - 1].klen, hi.key,
                                                    hi.len, !hi.inclusive)) ||
                             (to.key && !sst_before(all[i - 1].key, all[i - 1].klen, to.key,
                                                    to.len, !to.inclusive))))
                i--;
        }
        int rc = sst_iter_next(&it, &e, call);
        if (i > 0 && (!lo.key || !sst_before(all[i - 1].key, all[i - 1].klen, lo.key, lo.len,
                                             lo.inclusive))) {
            REQUIRE(rc == XETS_OK && mem_entry_equal(&e, &all[--i]));
        } else {
            REQUIRE(rc == XETS_END);
            break;
        }
    }
    sst_iter_close(&it);
}

/* A sound table: what every lookup and bounded walk must give. */
static void check_sound(const sst_reader_t *r, const mem_entry_t *all, size_t n, xets_call_t *call)
{
    REQUIRE(sst_reader_info(r)->entries == n);
    for (size_t i = 0; i < n; i++)
        REQUIRE(sst_reader_may_contain(r, sst_key_hash(all[i].key, all[i].klen)));
    for (size_t i = 0, k = 0; i < n && k < 64; k++) {
        size_t run = 1;
        while (i + run < n &&
               bytes_cmp(all[i + run].key, all[i + run].klen, all[i].key, all[i].klen) == 0)
            run++;
        expect_t x = {&all[i], run};
        REQUIRE(sst_get(r, all[i].key, all[i].klen, visit, &x, call) == XETS_OK && x.left == 0);
        /* Just past the key: absent unless it is the next key. */
        unsigned char *past = malloc(all[i].klen + 1);
        REQUIRE(past != NULL);
        memcpy(past, all[i].key, all[i].klen);
        past[all[i].klen] = 0;
        bool next = i + run < n &&
                    bytes_cmp(all[i + run].key, all[i + run].klen, past, all[i].klen + 1) == 0;
        if (!next)
            REQUIRE(sst_get(r, past, all[i].klen + 1, visit, &(expect_t){0}, call) ==
                    XETS_NOTFOUND);
        free(past);
        i += run;
    }
    if (n == 0)
        return;
    /* Bounds at entries spread over the table, both kinds. */
    for (size_t k = 0; k < 8; k++) {
        const mem_entry_t *a = &all[k * n / 8], *b = &all[(k * 5 + 3) % 8 * n / 8];
        sst_bound_t lo = {a->key, a->klen, k & 1}, hi = {b->key, b->klen, k & 2};
        sst_bound_t to = {all[(k + 2) % n].key, all[(k + 2) % n].klen, k & 4};
        check_walk(r, all, n, lo, hi, k, to, call);
        check_walk(r, all, n, SST_UNBOUNDED, hi, SIZE_MAX, to, call);
        check_walk(r, all, n, lo, SST_UNBOUNDED, k, SST_UNBOUNDED, call);
        check_walk_back(r, all, n, lo, hi, k, to, call);
        check_walk_back(r, all, n, lo, SST_UNBOUNDED, SIZE_MAX, to, call);
        check_walk_back(r, all, n, SST_UNBOUNDED, hi, k, SST_UNBOUNDED, call);
    }
}

static int visit_any(void *ctx, const sst_entry_t *e)
{
    (void)ctx;
    (void)e;
    return 0;
}

/* A table a walk found broken: lookups of the keys the walk saw, and a
 * walk dir between two of them, give statuses the reader may give. */
static void check_broken(const sst_reader_t *r, const mem_entry_t *all, size_t n, size_t size,
                         sst_dir_t dir, xets_call_t *call)
{
    for (size_t i = 0; i < n && i < 16; i++)
        require_status(sst_get(r, all[i].key, all[i].klen, visit_any, NULL, call), call, size);
    if (n == 0)
        return;
    sst_iter_t it;
    sst_iter_open(&it, r, (sst_bound_t){all[n / 2].key, all[n / 2].klen, true},
                  (sst_bound_t){all[n - 1].key, all[n - 1].klen, false}, dir);
    sst_entry_t e;
    int rc;
    for (int steps = 0; (rc = sst_iter_next(&it, &e, call)) == XETS_OK && steps < 1000; steps++)
        if (steps == 2)
            sst_iter_seek(&it, (sst_bound_t){all[0].key, all[0].klen, false});
    require_status(rc, call, size);
    sst_iter_close(&it);
}

static void run(mem_file_t *f)
{
    sst_source_t src = mem_source(f);
    sst_reader_t *r;
    xets_call_t *call = OWN_CALL;
    int rc = sst_reader_open(&src, &r, call);
    REQUIRE(rc == XETS_OK || rc == XETS_CORRUPT || rc == XETS_BADARG);
    if (rc != XETS_OK) {
        REQUIRE(call->error.offset <= f->b.len);
        return;
    }
    const sst_info_t *info = sst_reader_info(r);
    REQUIRE(strlen(info->order) <= SST_NAME_MAX && strlen(info->encoding) <= SST_NAME_MAX);
    mem_entry_t *all, *back;
    size_t n, nback;
    int rc_fwd = walk_all(r, SST_FORWARD, &all, &n, f->b.len, call);
    int rc_back = walk_all(r, SST_BACKWARD, &back, &nback, f->b.len, call);
    if (rc_fwd == XETS_END) {
        /* Sound: the backward walk is the forward one reversed. */
        REQUIRE(rc_back == XETS_END && nback == n);
        for (size_t i = 0; i < n; i++) {
            const mem_entry_t *b = &back[i];
            sst_entry_t e = {b->key, b->klen, b->seq, b->kind, b->val, b->vlen};
            REQUIRE(mem_entry_equal(&e, &all[n - 1 - i]));
        }
        check_sound(r, all, n, call);
    } else {
        REQUIRE(rc_back != XETS_END);
        check_broken(r, all, n, f->b.len, SST_FORWARD, call);
        check_broken(r, all, n, f->b.len, SST_BACKWARD, call);
    }
    for (size_t i = 0; i < n; i++)
        mem_entry_free(&all[i]);
    for (size_t i = 0; i < nback; i++)
        mem_entry_free(&back[i]);
    free(all);
    free(back);
    sst_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Read only: resealing changes what a read hands out, not the file. */
    mem_file_t f = MEM_FILE_INIT;
    f.b = (bytes_t){.p = (unsigned char *)data, .len = size, .cap = size};
    run(&f);
    f.reseal = true;
    run(&f);
    return 0;
}
