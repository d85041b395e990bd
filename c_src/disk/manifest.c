/* The manifest codec and state (manifest.h, doc/manifest_format.md).
 *
 * An edit's bytes: u8 set (MANIFEST_SET_* bits), then next_file,
 * last_seq, log_number, objects as u64 each, only those set, in that order; u32
 * count of removals and that many u64 numbers; u32 count of additions and
 * that many files (FILE_MIN bytes each and their keys). The first record
 * holds the log identity, the table type's name, a u32 keypos, then an
 * edit: the state when the file was written.
 *
 * A decoded edit points into the record it came from, but for one
 * allocation that holds its arrays, sized only after the counts are known
 * to fit in the bytes left. Applying an edit checks it whole first, then
 * builds new arrays for the levels it touches, then swaps them in, so
 * that a failure leaves the state as it was. */
#include "manifest.h"

/* number, level, entries, bytes, smallest_seq, largest_seq, two key lengths */
#define FILE_MIN (8 + 1 + 4 * 8 + 2 * 4)
#define SET_ALL                                                                                    \
    (MANIFEST_SET_NEXT_FILE | MANIFEST_SET_LAST_SEQ | MANIFEST_SET_LOG_NUMBER |                    \
     MANIFEST_SET_OBJECTS)

/* ---- state ------------------------------------------------------------- */

static void file_free_keys(manifest_file_t *f)
{
    /* The state's one allocation per file, holding both keys. */
    free((void *)f->smallest);
}

void manifest_state_free(manifest_state_t *s)
{
    for (int l = 0; l < MANIFEST_LEVELS; l++) {
        for (size_t i = 0; i < s->level[l].n; i++)
            file_free_keys(&s->level[l].files[i]);
        free(s->level[l].files);
    }
    *s = (manifest_state_t)MANIFEST_STATE_INIT;
}

static manifest_file_t *find_in(const manifest_level_t *lv, uint64_t number)
{
    size_t lo = 0, hi = lv->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lv->files[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < lv->n && lv->files[lo].number == number ? &lv->files[lo] : NULL;
}

const manifest_file_t *manifest_state_find(const manifest_state_t *s, uint64_t number)
{
    for (int l = 0; l < MANIFEST_LEVELS; l++) {
        const manifest_file_t *f = find_in(&s->level[l], number);
        if (f)
            return f;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_file(const void *a, const void *b)
{
    return cmp_u64(&((const manifest_file_t *)a)->number, &((const manifest_file_t *)b)->number);
}

static bool sorted_has(const uint64_t *v, size_t n, uint64_t x)
{
    return bsearch(&x, v, n, sizeof *v, cmp_u64) != NULL;
}

static bool sorted_has_twins(const uint64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] == v[i - 1])
            return true;
    return false;
}

/* Whether key a sorts after key b: memcmp order, a prefix first. */
static bool key_after(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    return c > 0 || (c == 0 && alen > blen);
}

/* The state's scalars after e. */
static void scalars_after(const manifest_state_t *s, const manifest_edit_t *e,
                          manifest_state_t *to)
{
    to->next_file = e->set & MANIFEST_SET_NEXT_FILE ? e->next_file : s->next_file;
    to->last_seq = e->set & MANIFEST_SET_LAST_SEQ ? e->last_seq : s->last_seq;
    to->log_number = e->set & MANIFEST_SET_LOG_NUMBER ? e->log_number : s->log_number;
    to->objects = e->set & MANIFEST_SET_OBJECTS ? e->objects : s->objects;
}

/* Whether e keeps the invariants of manifest.h on s; rm and ad are the
 * numbers it removes and adds, sorted. */
static bool edit_fits(const manifest_state_t *s, const manifest_edit_t *e, const uint64_t *rm,
                      const uint64_t *ad)
{
    manifest_state_t to;
    scalars_after(s, e, &to);
    if (e->set & ~(unsigned)SET_ALL || to.next_file < s->next_file ||
        to.last_seq < s->last_seq || to.log_number < s->log_number ||
        (to.log_number != 0 && to.log_number >= to.next_file))
        return false;
    if (sorted_has_twins(rm, e->nremove) || sorted_has_twins(ad, e->nadd))
        return false;
    for (size_t i = 0; i < e->nremove; i++)
        if (!manifest_state_find(s, rm[i]))
            return false;
    for (size_t i = 0; i < e->nadd; i++) {
        const manifest_file_t *f = &e->add[i];
        if (f->number == 0 || f->number >= to.next_file || f->level >= MANIFEST_LEVELS ||
            key_after(f->smallest, f->smallest_len, f->largest, f->largest_len) ||
            f->smallest_seq > f->largest_seq || f->largest_seq > to.last_seq ||
            (manifest_state_find(s, f->number) && !sorted_has(rm, e->nremove, f->number)))
            return false;
    }
    return true;
}

/* Builds the levels e touches into fresh (untouched ones: files NULL),
 * the added files' keys copied; XETS_NOMEM with nothing allocated. */
static int build_levels(const manifest_state_t *s, const manifest_edit_t *e, const uint64_t *rm,
                        manifest_level_t fresh[MANIFEST_LEVELS])
{
    size_t count[MANIFEST_LEVELS] = {0};
    bool touched[MANIFEST_LEVELS] = {false};
    for (size_t i = 0; i < e->nremove; i++)
        touched[manifest_state_find(s, rm[i])->level] = true;
    for (size_t i = 0; i < e->nadd; i++) {
        touched[e->add[i].level] = true;
        count[e->add[i].level]++;
    }
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        fresh[l] = (manifest_level_t){NULL, 0};
    bool ok = true;
    for (int l = 0; ok && l < MANIFEST_LEVELS; l++) {
        if (!touched[l])
            continue;
        /* Room for every file the level has and gets; those removed leave
         * places unused. */
        size_t room = s->level[l].n + count[l];
        fresh[l].files = malloc(room ? room * sizeof *fresh[l].files : 1);
        ok = fresh[l].files != NULL;
        for (size_t i = 0; ok && i < s->level[l].n; i++)
            if (!sorted_has(rm, e->nremove, s->level[l].files[i].number))
                fresh[l].files[fresh[l].n++] = s->level[l].files[i];
    }
    size_t i = 0;
    for (; ok && i < e->nadd; i++) {
        const manifest_file_t *f = &e->add[i];
        uint8_t *keys = malloc((size_t)f->smallest_len + f->largest_len + 1);
        if (!keys) {
            ok = false;
            break;
        }
        if (f->smallest_len)
            memcpy(keys, f->smallest, f->smallest_len);
        if (f->largest_len)
            memcpy(keys + f->smallest_len, f->largest, f->largest_len);
        manifest_file_t *to = &fresh[f->level].files[fresh[f->level].n++];
        *to = *f;
        to->smallest = keys;
        to->largest = keys + f->smallest_len;
    }
    if (ok) {
        for (int l = 0; l < MANIFEST_LEVELS; l++)
            if (fresh[l].files)
                qsort(fresh[l].files, fresh[l].n, sizeof *fresh[l].files, cmp_file);
        return XETS_OK;
    }
    /* Out of memory: undo. The keys copied are those of the first i
     * additions, each the last of its level so far. */
    while (i > 0) {
        const manifest_file_t *f = &e->add[--i];
        file_free_keys(&fresh[f->level].files[--fresh[f->level].n]);
    }
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        free(fresh[l].files);
    return XETS_NOMEM;
}

int manifest_state_apply(manifest_state_t *s, const manifest_edit_t *e)
{
    size_t n = e->nremove + e->nadd;
    if (n < e->nremove || n > SIZE_MAX / sizeof(uint64_t) - 1)
        return XETS_NOMEM;
    uint64_t *rm = malloc((n + 1) * sizeof *rm);
    if (!rm)
        return XETS_NOMEM;
    uint64_t *ad = rm + e->nremove;
    if (e->nremove)
        memcpy(rm, e->remove, e->nremove * sizeof *rm);
    for (size_t i = 0; i < e->nadd; i++)
        ad[i] = e->add[i].number;
    qsort(rm, e->nremove, sizeof *rm, cmp_u64);
    qsort(ad, e->nadd, sizeof *ad, cmp_u64);
    manifest_level_t fresh[MANIFEST_LEVELS];
    int st = !edit_fits(s, e, rm, ad) ? XETS_CORRUPT : build_levels(s, e, rm, fresh);
    if (st == XETS_OK) {
        for (size_t i = 0; i < e->nremove; i++)
            file_free_keys((manifest_file_t *)manifest_state_find(s, rm[i]));
        for (int l = 0; l < MANIFEST_LEVELS; l++) {
            if (!fresh[l].files)
                continue;
            free(s->level[l].files);
            s->level[l] = fresh[l];
        }
        scalars_after(s, e, s);
    }
    free(rm);
    return st;
}

/* ---- encoding ---------------------------------------------------------- */

static void put_key(bytes_t *b, const uint8_t *k, uint32_t len)
{
    bytes_put_u32(b, len);
    bytes_put(b, k, len);
}

/* The bytes of an edit (see the top), appended to b. */
static void put_edit(bytes_t *b, const manifest_edit_t *e)
{
    bytes_put_u8(b, (uint8_t)e->set);
    if (e->set & MANIFEST_SET_NEXT_FILE)
        bytes_put_u64(b, e->next_file);
    if (e->set & MANIFEST_SET_LAST_SEQ)
        bytes_put_u64(b, e->last_seq);
    if (e->set & MANIFEST_SET_LOG_NUMBER)
        bytes_put_u64(b, e->log_number);
    if (e->set & MANIFEST_SET_OBJECTS)
        bytes_put_u64(b, e->objects);
    bytes_put_u32(b, (uint32_t)e->nremove);
    for (size_t i = 0; i < e->nremove; i++)
        bytes_put_u64(b, e->remove[i]);
    bytes_put_u32(b, (uint32_t)e->nadd);
    for (size_t i = 0; i < e->nadd; i++) {
        const manifest_file_t *f = &e->add[i];
        bytes_put_u64(b, f->number);
        bytes_put_u8(b, (uint8_t)f->level);
        bytes_put_u64(b, f->entries);
        bytes_put_u64(b, f->bytes);
        bytes_put_u64(b, f->smallest_seq);
        bytes_put_u64(b, f->largest_seq);
        put_key(b, f->smallest, f->smallest_len);
        put_key(b, f->largest, f->largest_len);
    }
}

/* Whether e's counts and levels fit their fields (its size is checked by
 * log_record_end). */
static bool edit_encodable(const manifest_edit_t *e)
{
    if (e->nremove > LOG_RECORD_MAX / 8 || e->nadd > LOG_RECORD_MAX / FILE_MIN)
        return false;
    for (size_t i = 0; i < e->nadd; i++)
        if (e->add[i].level > UINT8_MAX)
            return false;
    return true;
}

int manifest_encode_edit(bytes_t *b, const manifest_edit_t *e, uint64_t synced, uint64_t number)
{
    if (!edit_encodable(e))
        return XETS_BADARG;
    size_t start = log_record_begin(b);
    put_edit(b, e);
    return log_record_end(b, start, LOG_MANIFEST_EDIT, synced, number);
}

/* The edit that builds s from the empty state: every scalar and every
 * file, in *all (freed by the caller). XETS_NOMEM. */
static int whole_state(const manifest_state_t *s, manifest_edit_t *whole, manifest_file_t **all)
{
    size_t n = 0;
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        n += s->level[l].n;
    *all = malloc(n ? n * sizeof **all : 1);
    if (!*all)
        return XETS_NOMEM;
    n = 0;
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        for (size_t i = 0; i < s->level[l].n; i++)
            (*all)[n++] = s->level[l].files[i];
    *whole = (manifest_edit_t){.set = SET_ALL, .next_file = s->next_file,
                               .last_seq = s->last_seq, .log_number = s->log_number,
                               .objects = s->objects, .add = *all, .nadd = n};
    return XETS_OK;
}

int manifest_state_copy(manifest_state_t *to, const manifest_state_t *from)
{
    *to = (manifest_state_t)MANIFEST_STATE_INIT;
    manifest_edit_t whole;
    manifest_file_t *all;
    int st = whole_state(from, &whole, &all);
    if (st != XETS_OK)
        return st;
    /* from keeps the invariants, so only memory can fail. */
    st = manifest_state_apply(to, &whole);
    free(all);
    return st;
}

int manifest_encode_start(bytes_t *b, const manifest_header_t *h, const manifest_state_t *s,
                          uint64_t number)
{
    manifest_edit_t whole;
    manifest_file_t *all;
    if (whole_state(s, &whole, &all) != XETS_OK)
        return XETS_NOMEM;
    int st = XETS_BADARG;
    size_t start = log_record_begin(b);
    if (h->keypos != 0 && edit_encodable(&whole) &&
        log_ident_put(b, MANIFEST_MAGIC, &h->id) == XETS_OK && log_name_put(b, h->type) == XETS_OK) {
        bytes_put_u32(b, h->keypos);
        put_edit(b, &whole);
        st = log_record_end(b, start, LOG_MANIFEST_HEADER, 0, number);
    } else {
        log_record_cancel(b, start);
    }
    free(all);
    return st;
}

/* ---- decoding ---------------------------------------------------------- */

static const uint8_t *get_key(bytes_rd_t *rd, uint32_t *len)
{
    *len = bytes_get_u32(rd);
    return bytes_get(rd, *len);
}

/* Reads the edit that ends rd into *e, whose arrays it allocates in
 * *mem. XETS_OK, XETS_CORRUPT, XETS_NOMEM; *mem is NULL on failure. */
static int get_edit(bytes_rd_t *rd, manifest_edit_t *e, void **mem)
{
    *mem = NULL;
    *e = (manifest_edit_t){.set = bytes_get_u8(rd)};
    if (e->set & ~(unsigned)SET_ALL)
        return XETS_CORRUPT;
    if (e->set & MANIFEST_SET_NEXT_FILE)
        e->next_file = bytes_get_u64(rd);
    if (e->set & MANIFEST_SET_LAST_SEQ)
        e->last_seq = bytes_get_u64(rd);
    if (e->set & MANIFEST_SET_LOG_NUMBER)
        e->log_number = bytes_get_u64(rd);
    if (e->set & MANIFEST_SET_OBJECTS)
        e->objects = bytes_get_u64(rd);
    /* Counts are trusted only as far as the bytes left can hold them. */
    e->nremove = bytes_get_u32(rd);
    if (rd->bad || e->nremove > bytes_left(rd) / 8)
        return XETS_CORRUPT;
    const uint8_t *removed = bytes_get(rd, e->nremove * 8);
    e->nadd = bytes_get_u32(rd);
    if (rd->bad || e->nadd > bytes_left(rd) / FILE_MIN)
        return XETS_CORRUPT;
    uint64_t *rm = malloc(e->nremove * sizeof *rm + e->nadd * sizeof(manifest_file_t) + 1);
    if (!rm)
        return XETS_NOMEM;
    manifest_file_t *add = (manifest_file_t *)(rm + e->nremove);
    for (size_t i = 0; i < e->nremove; i++)
        rm[i] = le64_load(removed + 8 * i);
    for (size_t i = 0; i < e->nadd; i++) {
        manifest_file_t *f = &add[i];
        f->number = bytes_get_u64(rd);
        f->level = bytes_get_u8(rd);
        f->entries = bytes_get_u64(rd);
        f->bytes = bytes_get_u64(rd);
        f->smallest_seq = bytes_get_u64(rd);
        f->largest_seq = bytes_get_u64(rd);
        f->smallest = get_key(rd, &f->smallest_len);
        f->largest = get_key(rd, &f->largest_len);
    }
    if (rd->bad || bytes_left(rd) != 0) {
        free(rm);
        return XETS_CORRUPT;
    }
    e->remove = rm;
    e->add = add;
    *mem = rm;
    return XETS_OK;
}

/* Applies the edit that ends rd to s. */
static int apply_bytes(manifest_state_t *s, bytes_rd_t *rd)
{
    manifest_edit_t e;
    void *mem;
    int st = get_edit(rd, &e, &mem);
    if (st == XETS_OK)
        st = manifest_state_apply(s, &e);
    free(mem);
    return st;
}

/* Reads the first record (at 0) into *h and *s. */
static int replay_start(const uint8_t *buf, size_t len, uint64_t number, manifest_header_t *h,
                        manifest_state_t *s, uint64_t *next)
{
    log_record_t rec;
    /* Durable before the file had its name: whatever is wrong with it is
     * corruption, never a torn tail. */
    if (log_record_next(buf, len, 0, number, &rec) != XETS_OK || rec.type != LOG_MANIFEST_HEADER)
        return XETS_CORRUPT;
    bytes_rd_t rd = bytes_rd(rec.payload, rec.len);
    int st = log_ident_get(&rd, MANIFEST_MAGIC, MANIFEST_VERSION, &h->id);
    if (st != XETS_OK)
        return st;
    log_name_get(&rd, h->type);
    h->keypos = bytes_get_u32(&rd);
    if (rd.bad || h->keypos == 0)
        return XETS_CORRUPT;
    *next = rec.next;
    return apply_bytes(s, &rd);
}

int manifest_replay(const uint8_t *buf, size_t len, uint64_t number, manifest_header_t *h,
                    manifest_state_t *s, uint64_t *at)
{
    *s = (manifest_state_t)MANIFEST_STATE_INIT;
    *at = 0;
    uint64_t off;
    int st = replay_start(buf, len, number, h, s, &off);
    while (st == XETS_OK) {
        *at = off;
        log_record_t rec;
        st = log_record_next(buf, len, off, number, &rec);
        if (st != XETS_OK)
            break;
        if (rec.type != LOG_MANIFEST_EDIT) {
            st = XETS_CORRUPT;
            break;
        }
        bytes_rd_t rd = bytes_rd(rec.payload, rec.len);
        st = apply_bytes(s, &rd);
        off = rec.next;
    }
    if (st == XETS_END)
        return XETS_OK;
    if (st != XETS_TORN)
        manifest_state_free(s);
    return st;
}
