/* SSTable blocks: the layout and its invariants are in sstable_block.h
 * and doc/sstable_format.md. Every length read from a block is checked
 * against the bytes that remain before it is used, so that no input makes
 * a read leave the block. */
#include "sstable_block.h"

void sst_bb_init(sst_block_builder_t *bb, unsigned interval)
{
    *bb = (sst_block_builder_t){.interval = interval};
}

void sst_bb_free(sst_block_builder_t *bb)
{
    bytes_free(&bb->buf);
    bytes_free(&bb->restarts);
    bytes_free(&bb->last);
}

int sst_bb_add(sst_block_builder_t *bb, const unsigned char *key, size_t klen,
               const unsigned char *head, size_t hlen, const unsigned char *val, size_t vlen)
{
    bool restart = bb->n == 0 || bb->run == bb->interval;
    size_t shared = restart ? 0 : bytes_common(bb->last.p, bb->last.len, key, klen);
    size_t unshared = klen - shared;
    /* All the room first, so that running out leaves the block as it was. */
    if (!bytes_reserve(&bb->buf, 3 * VARINT_MAX + unshared + hlen + vlen) ||
        !bytes_reserve(&bb->restarts, 4) || !bytes_reserve_to(&bb->last, klen))
        return XETS_NOMEM;
    /* Within the room reserved, no put below can fail. */
    if (restart) {
        bytes_put_u32(&bb->restarts, (uint32_t)bb->buf.len);
        bb->run = 0;
    }
    unsigned char *w = bb->buf.p + bb->buf.len;
    size_t n = varint_put(w, shared);
    n += varint_put(w + n, unshared);
    n += varint_put(w + n, hlen + vlen);
    bb->buf.len += n;
    bytes_put(&bb->buf, key + shared, unshared);
    bytes_put(&bb->buf, head, hlen);
    bytes_put(&bb->buf, val, vlen);
    bb->last.len = shared;
    bytes_put(&bb->last, key + shared, unshared);
    bb->run++;
    bb->n++;
    return XETS_OK;
}

int sst_bb_finish(sst_block_builder_t *bb, size_t extra)
{
    if (!bytes_reserve(&bb->buf, bb->restarts.len + 4 + extra))
        return XETS_NOMEM;
    bytes_put(&bb->buf, bb->restarts.p, bb->restarts.len);
    bytes_put_u32(&bb->buf, (uint32_t)(bb->restarts.len / 4));
    return XETS_OK;
}

void sst_bb_reset(sst_block_builder_t *bb)
{
    bb->buf.len = 0;
    bb->restarts.len = 0;
    bb->run = 0;
    bb->n = 0;
}

/* ---- reading ---- */

static int corrupt(const sst_block_t *b, size_t at, xets_call_t *call)
{
    return call_fail(call, XETS_CORRUPT, b->what, b->file, sst_block_where(b, at), 0);
}

static uint32_t restart_at(const sst_block_t *b, uint32_t i)
{
    return le32_load(b->p + b->end + 4 * (size_t)i);
}

int sst_block_parse(sst_block_t *b, const unsigned char *p, size_t len, uint64_t off, bool packed,
                    const char *file, const char *what, xets_call_t *call)
{
    *b = (sst_block_t){.p = p, .off = off, .packed = packed, .file = file, .what = what};
    if (len < 4)
        return corrupt(b, 0, call);
    uint32_t n = le32_load(p + len - 4);
    if (n > (len - 4) / 4)
        return corrupt(b, len - 4, call);
    b->nrestarts = n;
    b->end = len - 4 - 4 * (size_t)n;
    if ((n == 0) != (b->end == 0))
        return corrupt(b, len - 4, call);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = restart_at(b, i);
        if (i == 0 ? r != 0 : r <= restart_at(b, i - 1) || r >= b->end)
            return corrupt(b, b->end + 4 * (size_t)i, call);
    }
    return XETS_OK;
}

/* An entry as it lies in the block. */
typedef struct {
    size_t shared, unshared;
    const unsigned char *delta; /* the key's unshared bytes */
    const unsigned char *val;
    size_t vlen;
    size_t after; /* the next entry's offset */
} raw_entry_t;

/* Decodes the entry at offset at; false if it does not lie whole within
 * the block's entries. */
static bool decode(const sst_block_t *b, size_t at, raw_entry_t *e)
{
    const unsigned char *p = b->p + at, *end = b->p + b->end;
    uint64_t shared, unshared, vlen;
    if (!varint_get(&p, end, UINT32_MAX, &shared) || !varint_get(&p, end, UINT32_MAX, &unshared) ||
        !varint_get(&p, end, UINT32_MAX, &vlen) || unshared + vlen > (size_t)(end - p))
        return false;
    *e = (raw_entry_t){.shared = shared,
                       .unshared = unshared,
                       .delta = p,
                       .val = p + unshared,
                       .vlen = vlen,
                       .after = (size_t)(p - b->p) + unshared + vlen};
    return true;
}

void sst_bi_start(sst_block_iter_t *it, const sst_block_t *b, bool keep)
{
    it->b = *b;
    it->pos = it->next = 0;
    it->restart = 0;
    /* A backward walk starts past the last run. */
    it->run_start = b->nrestarts;
    it->run_at = 0;
    if (!keep) {
        it->key.len = 0;
        it->ordered = false;
    }
}

void sst_bi_free(sst_block_iter_t *it)
{
    bytes_free(&it->key);
    bytes_free(&it->run_keys);
    free(it->run);
}

/* Decodes the entry at at, the next after a key of prevlen bytes (0: none
 * before it in this walk), *restart being the first restart point not
 * before at, which it moves past at's if at is one: the checks every step
 * makes, forward or while a backward walk decodes a run. XETS_OK,
 * XETS_END at the end of the entries, XETS_CORRUPT. */
static int step(const sst_block_t *b, size_t at, uint32_t *restart, size_t prevlen,
                raw_entry_t *e, xets_call_t *call)
{
    /* A restart point the walk went past lies inside an entry. */
    if (*restart < b->nrestarts && restart_at(b, *restart) < at)
        return corrupt(b, b->end + 4 * (size_t)*restart, call);
    if (at == b->end)
        return XETS_END;
    bool at_restart = *restart < b->nrestarts && restart_at(b, *restart) == at;
    /* With no previous key, nothing can be shared. */
    if (!decode(b, at, e) || (at_restart && e->shared != 0) || e->shared > prevlen)
        return corrupt(b, at, call);
    *restart += at_restart;
    return XETS_OK;
}

int sst_bi_next(sst_block_iter_t *it, xets_call_t *call)
{
    const sst_block_t *b = &it->b;
    size_t at = it->next;
    uint32_t restart = it->restart;
    raw_entry_t e;
    int rc = step(b, at, &restart, it->key.len, &e, call);
    if (rc != XETS_OK)
        return rc;
    bool same = false;
    if (it->ordered) {
        /* The first shared bytes are equal: the rest decides. */
        size_t rest = it->key.len - e.shared;
        size_t n = e.unshared < rest ? e.unshared : rest;
        int c = n ? memcmp(e.delta, it->key.p + e.shared, n) : 0;
        if (c < 0 || (c == 0 && e.unshared < rest))
            return corrupt(b, at, call);
        same = c == 0 && e.unshared == rest;
    }
    /* One byte more: the key is never NULL, even empty, for memcmp's sake. */
    if (!bytes_reserve_to(&it->key, e.shared + e.unshared + 1))
        return XETS_NOMEM;
    it->key.len = e.shared;
    bytes_put(&it->key, e.delta, e.unshared);
    it->ordered = true;
    it->same = same;
    it->val = e.val;
    it->vlen = e.vlen;
    it->pos = at;
    it->next = e.after;
    it->restart = restart;
    return XETS_OK;
}

/* The last restart point whose key lies before the position (target,
 * inclusive), or the first: the first entry not before it lies after
 * that point's entry, before the next point's. b has a restart point. */
static int search(const sst_block_t *b, const unsigned char *target, size_t tlen, bool inclusive,
                  uint32_t *out, xets_call_t *call)
{
    uint32_t left = 0, right = b->nrestarts - 1;
    while (left < right) {
        uint32_t mid = left + (right - left + 1) / 2;
        raw_entry_t e;
        if (!decode(b, restart_at(b, mid), &e) || e.shared != 0)
            return corrupt(b, restart_at(b, mid), call);
        if (sst_before(e.delta, e.unshared, target, tlen, inclusive))
            left = mid;
        else
            right = mid - 1;
    }
    *out = left;
    return XETS_OK;
}

int sst_bi_seek(sst_block_iter_t *it, const unsigned char *target, size_t tlen, bool inclusive,
                xets_call_t *call)
{
    const sst_block_t *b = &it->b;
    if (b->nrestarts == 0)
        return XETS_END;
    uint32_t left;
    int rc = search(b, target, tlen, inclusive, &left, call);
    if (rc != XETS_OK)
        return rc;
    it->next = restart_at(b, left);
    it->restart = left;
    it->key.len = 0;
    it->ordered = false;
    for (;;) {
        rc = sst_bi_next(it, call);
        if (rc != XETS_OK || !sst_before(it->key.p, it->key.len, target, tlen, inclusive))
            return rc;
    }
}

/* Decodes the entries of run i (restart point i up to the next or the end
 * of the entries) into it->run, it->run_at past the last. Each entry's
 * key is whole in it->run_keys; their order is checked as the walk meets
 * them (sst_bi_prev). */
static int load_run(sst_block_iter_t *it, uint32_t i, xets_call_t *call)
{
    const sst_block_t *b = &it->b;
    size_t at = restart_at(b, i), stop = i + 1 < b->nrestarts ? restart_at(b, i + 1) : b->end;
    uint32_t restart = i;
    size_t prev = 0, prevlen = 0; /* the previous key in run_keys */
    it->run_n = 0;
    it->run_keys.len = 0;
    while (at != stop) {
        raw_entry_t e;
        int rc = step(b, at, &restart, prevlen, &e, call);
        /* An entry running over restart point i+1 fails the next step. */
        if (rc != XETS_OK)
            return rc;
        if (it->run_n == it->run_cap) {
            size_t cap = it->run_cap ? 2 * it->run_cap : 16;
            sst_run_entry_t *x = realloc(it->run, cap * sizeof *x);
            if (x == NULL)
                return XETS_NOMEM;
            it->run = x;
            it->run_cap = cap;
        }
        if (!bytes_reserve(&it->run_keys, e.shared + e.unshared + 1))
            return XETS_NOMEM;
        size_t key = it->run_keys.len;
        /* Within the room reserved: the shared bytes do not move. */
        bytes_put(&it->run_keys, it->run_keys.p + prev, e.shared);
        bytes_put(&it->run_keys, e.delta, e.unshared);
        it->run[it->run_n++] = (sst_run_entry_t){
            .key = key, .klen = e.shared + e.unshared, .val = e.val, .vlen = e.vlen, .pos = at};
        prev = key;
        prevlen = e.shared + e.unshared;
        at = e.after;
    }
    it->run_start = i;
    it->run_at = it->run_n;
    return XETS_OK;
}

int sst_bi_prev(sst_block_iter_t *it, xets_call_t *call)
{
    const sst_block_t *b = &it->b;
    if (it->run_at == 0) {
        if (it->run_start == 0)
            return XETS_END;
        int rc = load_run(it, it->run_start - 1, call);
        if (rc != XETS_OK)
            return rc;
    }
    const sst_run_entry_t *e = &it->run[it->run_at - 1];
    const unsigned char *k = it->run_keys.p + e->key;
    bool same = false;
    if (it->ordered) {
        /* Not after the key the walk came from (the next one forward). */
        int c = bytes_cmp(k, e->klen, it->key.p, it->key.len);
        if (c > 0)
            return corrupt(b, e->pos, call);
        same = c == 0;
    }
    /* One byte more: the key is never NULL, even empty. */
    if (!bytes_reserve_to(&it->key, e->klen + 1))
        return XETS_NOMEM;
    it->key.len = 0;
    bytes_put(&it->key, k, e->klen);
    it->run_at--;
    it->ordered = true;
    it->same = same;
    it->val = e->val;
    it->vlen = e->vlen;
    it->pos = e->pos;
    return XETS_OK;
}

int sst_bi_seek_back(sst_block_iter_t *it, const unsigned char *target, size_t tlen,
                     bool inclusive, xets_call_t *call)
{
    const sst_block_t *b = &it->b;
    if (b->nrestarts == 0)
        return XETS_END;
    /* The last entry at or before (target, inclusive) is the last before
     * the position (target, !inclusive). */
    uint32_t left;
    int rc = search(b, target, tlen, !inclusive, &left, call);
    if (rc == XETS_OK)
        rc = load_run(it, left, call);
    if (rc != XETS_OK)
        return rc;
    while (it->run_at > 0) {
        const sst_run_entry_t *e = &it->run[it->run_at - 1];
        if (sst_before(it->run_keys.p + e->key, e->klen, target, tlen, !inclusive))
            break;
        it->run_at--;
    }
    it->key.len = 0;
    it->ordered = false;
    return sst_bi_prev(it, call);
}
