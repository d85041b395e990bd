/* Canonical sortable key encoding (DESIGN.md, "Terms"; contract in term_key.h).
 *
 * Layout. Every encoding starts with a tag byte, in Erlang's type order:
 *
 *   0x10 NUM_NEG   ~body(|v|)               negative number (body bits inverted)
 *   0x11 NUM_ZERO                           0, 0.0, -0.0 (exact mode: integer 0)
 *   0x12 NUM_POS   body(v)                  positive number
 *   0x13 FLOAT     8 bytes                  exact mode only: every float, after
 *                                           every integer; IEEE bits made sortable
 *                                           (-0.0 written as 0.0, since OTP 25
 *                                           has 0.0 =:= -0.0)
 *   0x20 ATOM      bytes(UTF-8 name)
 *   0x30 REF       bytes(node) creation:32 nwords:8 words:32*nwords
 *                                           (ID words most significant first,
 *                                           high zero words dropped: OTP compares
 *                                           them as one big number)
 *   0x40 FUN_LOCAL bytes(module) index:32s old_uniq:32s num_free:32 free vars
 *   0x41 FUN_EXPORT bytes(module) bytes(function) arity:8
 *   0x50 PORT      bytes(node) creation:32 number:64
 *   0x60 PID       serial:32 number:32 bytes(node) creation:32
 *   0x70 TUPLE     len(arity) elements
 *   0x80 MAP       len(size) keys values    keys encoded in exact mode and sorted
 *                                           by their encodings (map-key order),
 *                                           then the values in that order
 *   0x90 NIL
 *   0xA0 CONS      head, then the tail's encoding (so NIL ends a proper list)
 *   0xB0 BITS      bytes(bits)
 *
 *   body(v)   = len(L) I F, where I is the integer part of |v|, L bytes big
 *               endian without leading zeros, and F the fraction in 7-bit
 *               chunks, most significant first, each shifted left by one with
 *               the low bit set when another chunk follows. A fraction never
 *               ends in a zero chunk, so an integer has F = 0x00, and an
 *               integer and a float that are == have the same body.
 *   len(n)    = one byte n when n < 255, else 0xFF and n as 32 bits.
 *   bytes(s)  = s in groups of 8 bytes; a group followed by more data is
 *               followed by 0xFF, the last one (zero-padded) by the number
 *               of significant bits in it, 0..64. Handles bitstrings too.
 *   Fixed-width fields are big endian; "s" fields have the sign bit flipped.
 *
 * Every form is self-delimiting, and each comparison Erlang makes field by
 * field (pids: serial, number, node, creation; ports and refs: node first;
 * local funs: module, index, old_uniq, num_free, free variables; export
 * funs: module, function, arity) follows the order in which OTP 25 compares
 * them (measured, see test/xets_key_tests.erl). Pids, ports, refs, funs,
 * bignums and non-Latin-1 atoms are read from the external term format, the
 * only NIF view of their insides.
 *
 * The encoder walks the term with an explicit work stack (inline, spilling
 * to the heap) and never recurses on the C stack. */
#include "term_key.h"
#include "etf.h"
#include "status.h"

#include <xxhash.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    T_NUM_NEG = 0x10,
    T_NUM_ZERO = 0x11,
    T_NUM_POS = 0x12,
    T_FLOAT = 0x13,
    T_ATOM = 0x20,
    T_REF = 0x30,
    T_FUN_LOCAL = 0x40,
    T_FUN_EXPORT = 0x41,
    T_PORT = 0x50,
    T_PID = 0x60,
    T_TUPLE = 0x70,
    T_MAP = 0x80,
    T_NIL = 0x90,
    T_CONS = 0xA0,
    T_BITS = 0xB0
};

/* ---- output buffer ---------------------------------------------------- */

void kbuf_init(kbuf_t *b)
{
    b->p = b->inline_buf;
    b->len = 0;
    b->cap = sizeof b->inline_buf;
}

void kbuf_free(kbuf_t *b)
{
    if (b->p != b->inline_buf)
        free(b->p);
    kbuf_init(b);
}

static int kbuf_grow(kbuf_t *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need < b->len)
        return XETS_NOMEM;
    size_t cap = b->cap * 2;
    if (cap < need)
        cap = need;
    unsigned char *p;
    if (b->p == b->inline_buf) {
        p = malloc(cap);
        if (p)
            memcpy(p, b->p, b->len);
    } else {
        p = realloc(b->p, cap);
    }
    if (!p)
        return XETS_NOMEM;
    b->p = p;
    b->cap = cap;
    return XETS_OK;
}

/* Makes room for extra more bytes; returns where they go, or NULL. */
static inline unsigned char *kbuf_room(kbuf_t *b, size_t extra)
{
    if (b->cap - b->len < extra && kbuf_grow(b, extra) != XETS_OK)
        return NULL;
    return b->p + b->len;
}

static inline int put_byte(kbuf_t *b, unsigned char c)
{
    unsigned char *w = kbuf_room(b, 1);
    if (!w)
        return XETS_NOMEM;
    *w = c;
    b->len++;
    return XETS_OK;
}

static inline void be32(unsigned char *w, uint32_t v)
{
    w[0] = (unsigned char)(v >> 24);
    w[1] = (unsigned char)(v >> 16);
    w[2] = (unsigned char)(v >> 8);
    w[3] = (unsigned char)v;
}

static inline void be64(unsigned char *w, uint64_t v)
{
    be32(w, (uint32_t)(v >> 32));
    be32(w + 4, (uint32_t)v);
}

static int put_be32(kbuf_t *b, uint32_t v)
{
    unsigned char *w = kbuf_room(b, 4);
    if (!w)
        return XETS_NOMEM;
    be32(w, v);
    b->len += 4;
    return XETS_OK;
}

/* len(n): returns bytes written at w (room for 5 assumed). */
static inline size_t put_len(unsigned char *w, size_t n)
{
    if (n < 255) {
        w[0] = (unsigned char)n;
        return 1;
    }
    w[0] = 0xFF;
    be32(w + 1, (uint32_t)n);
    return 5;
}

static int put_tag_len(kbuf_t *b, unsigned char tag, size_t n)
{
    if (n > UINT32_MAX)
        return XETS_NOMEM;
    unsigned char *w = kbuf_room(b, 6);
    if (!w)
        return XETS_NOMEM;
    w[0] = tag;
    b->len += 1 + put_len(w + 1, n);
    return XETS_OK;
}

/* bytes(s) for a string of nbits bits. */
static int put_bits(kbuf_t *b, const unsigned char *d, size_t nbits)
{
    size_t full = nbits ? (nbits - 1) / 64 : 0;
    size_t need = (full + 1) * 9;
    unsigned char *w = kbuf_room(b, need);
    if (!w)
        return XETS_NOMEM;
    for (size_t i = 0; i < full; i++) {
        memcpy(w, d, 8);
        w[8] = 0xFF;
        w += 9;
        d += 8;
    }
    size_t rem = nbits - full * 64;
    size_t rb = (rem + 7) / 8;
    memset(w, 0, 8);
    memcpy(w, d, rb);
    if (rem % 8)
        w[rb - 1] &= (unsigned char)(0xFF << (8 - rem % 8));
    w[8] = (unsigned char)rem;
    b->len += need;
    return XETS_OK;
}

static int put_latin1_as_utf8(kbuf_t *b, const unsigned char *s, size_t n)
{
    unsigned char u[512];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 <= sizeof u; i++) {
        if (s[i] < 0x80) {
            u[k++] = s[i];
        } else {
            u[k++] = (unsigned char)(0xC0 | (s[i] >> 6));
            u[k++] = (unsigned char)(0x80 | (s[i] & 0x3F));
        }
    }
    return put_bits(b, u, k * 8);
}

/* ---- numbers ---------------------------------------------------------- */

/* Finishes a number whose body starts at offset start: negatives invert it. */
static void number_sign(kbuf_t *b, size_t start, int neg)
{
    if (!neg)
        return;
    for (size_t i = start; i < b->len; i++)
        b->p[i] = (unsigned char)~b->p[i];
}

static int put_u64_number(kbuf_t *b, uint64_t mag, int neg)
{
    unsigned char *w = kbuf_room(b, 11);
    if (!w)
        return XETS_NOMEM;
    if (mag == 0) {
        w[0] = T_NUM_ZERO;
        b->len++;
        return XETS_OK;
    }
    size_t L = (size_t)(64 - __builtin_clzll(mag) + 7) / 8;
    w[0] = neg ? T_NUM_NEG : T_NUM_POS;
    w[1] = (unsigned char)L;
    for (size_t i = 0; i < L; i++)
        w[2 + i] = (unsigned char)(mag >> (8 * (L - 1 - i)));
    w[2 + L] = 0;
    if (neg)
        for (size_t i = 1; i < L + 3; i++)
            w[i] = (unsigned char)~w[i];
    b->len += L + 3;
    return XETS_OK;
}

static inline int put_i64_number(kbuf_t *b, int64_t v)
{
    return v < 0 ? put_u64_number(b, (uint64_t)0 - (uint64_t)v, 1)
                 : put_u64_number(b, (uint64_t)v, 0);
}

/* A magnitude given as n little-endian bytes (external format digits). */
static int put_le_number(kbuf_t *b, const unsigned char *le, size_t n, int neg)
{
    while (n > 0 && le[n - 1] == 0)
        n--;
    if (n == 0)
        return put_byte(b, T_NUM_ZERO);
    if (n > UINT32_MAX)
        return XETS_NOMEM;
    unsigned char *w = kbuf_room(b, n + 7);
    if (!w)
        return XETS_NOMEM;
    size_t start = b->len + 1;
    w[0] = neg ? T_NUM_NEG : T_NUM_POS;
    size_t k = 1 + put_len(w + 1, n);
    for (size_t i = 0; i < n; i++)
        w[k + i] = le[n - 1 - i];
    w[k + n] = 0;
    b->len += k + n + 1;
    number_sign(b, start, neg);
    return XETS_OK;
}

/* A float on the number line shared with integers (ordered mode). */
static int put_double_ordered(kbuf_t *b, double d)
{
    if (d == 0.0)
        return put_byte(b, T_NUM_ZERO);
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    int neg = (int)(bits >> 63);
    int ex = (int)((bits >> 52) & 0x7FF);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    int e;
    if (ex == 0) {
        e = -1074;
    } else {
        m |= UINT64_C(1) << 52;
        e = ex - 1075;
    }
    int tz = __builtin_ctzll(m);
    m >>= tz;
    e += tz; /* |d| = m * 2^e, m odd */

    /* At most 1 tag + 5 len + 128 integer bytes + 154 fraction chunks. */
    unsigned char *w = kbuf_room(b, 300);
    if (!w)
        return XETS_NOMEM;
    size_t start = b->len + 1;
    w[0] = neg ? T_NUM_NEG : T_NUM_POS;
    size_t k = 1;
    if (e >= 0) {
        size_t nb = (size_t)(64 - __builtin_clzll(m)) + (size_t)e;
        size_t L = (nb + 7) / 8;
        k += put_len(w + k, L);
        for (size_t j = 0; j < L; j++) { /* j counts bytes from the least significant */
            long s = 8 * (long)j - e;
            unsigned char byte;
            if (s >= 0)
                byte = s < 64 ? (unsigned char)(m >> s) : 0;
            else
                byte = -s < 8 ? (unsigned char)(m << -s) : 0;
            w[k + L - 1 - j] = byte;
        }
        k += L;
        w[k++] = 0;
    } else {
        int fe = -e; /* fraction bits */
        uint64_t ip = fe < 64 ? m >> fe : 0;
        uint64_t fr = fe < 64 ? m & ((UINT64_C(1) << fe) - 1) : m;
        size_t L = ip ? (size_t)(64 - __builtin_clzll(ip) + 7) / 8 : 0;
        k += put_len(w + k, L);
        for (size_t i = 0; i < L; i++)
            w[k + i] = (unsigned char)(ip >> (8 * (L - 1 - i)));
        k += L;
        /* Fraction bit p (1-based after the point) is bit fe - p of fr. */
        int nchunks = (fe + 6) / 7;
        for (int c = 0; c < nchunks; c++) {
            unsigned char byte = 0;
            int lo = fe - (7 * c + 7); /* bit position of the chunk's last bit */
            if (lo < 64) {
                for (int q = 0; q < 7; q++) {
                    int pos = fe - (7 * c + q + 1);
                    if (pos >= 0 && pos < 64 && ((fr >> pos) & 1))
                        byte |= (unsigned char)(0x80 >> q);
                }
            }
            if (c + 1 < nchunks)
                byte |= 1;
            w[k++] = byte;
        }
    }
    b->len += k;
    number_sign(b, start, neg);
    return XETS_OK;
}

/* Exact mode: floats after all integers, in numeric order. */
static int put_double_exact(kbuf_t *b, double d)
{
    uint64_t bits;
    if (d == 0.0)
        d = 0.0; /* -0.0 =:= 0.0 on OTP 25 */
    memcpy(&bits, &d, sizeof bits);
    bits = (bits >> 63) ? ~bits : bits | (UINT64_C(1) << 63);
    unsigned char *w = kbuf_room(b, 9);
    if (!w)
        return XETS_NOMEM;
    w[0] = T_FLOAT;
    be64(w + 1, bits);
    b->len += 9;
    return XETS_OK;
}

/* ---- external term format reading -------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
    int bad;
} reader_t;

static inline int rd_need(reader_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

static uint32_t rd_u8(reader_t *r)
{
    if (!rd_need(r, 1))
        return 0;
    return *r->p++;
}

static uint32_t rd_u16(reader_t *r)
{
    if (!rd_need(r, 2))
        return 0;
    uint32_t v = ((uint32_t)r->p[0] << 8) | r->p[1];
    r->p += 2;
    return v;
}

static uint32_t rd_u32(reader_t *r)
{
    if (!rd_need(r, 4))
        return 0;
    uint32_t v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
                 ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    return v;
}

static uint64_t rd_u64(reader_t *r)
{
    uint64_t hi = rd_u32(r);
    return (hi << 32) | rd_u32(r);
}

/* Reads an atom; *latin1 tells whether its bytes are Latin-1 or UTF-8. */
static int rd_atom(reader_t *r, const unsigned char **s, size_t *n, int *latin1)
{
    uint32_t tag = rd_u8(r), len;
    switch (tag) {
    case ETF_ATOM: len = rd_u16(r); *latin1 = 1; break;
    case ETF_SMALL_ATOM: len = rd_u8(r); *latin1 = 1; break;
    case ETF_ATOM_UTF8: len = rd_u16(r); *latin1 = 0; break;
    case ETF_SMALL_ATOM_UTF8: len = rd_u8(r); *latin1 = 0; break;
    default: r->bad = 1; return 0;
    }
    if (!rd_need(r, len))
        return 0;
    *s = r->p;
    *n = len;
    r->p += len;
    return 1;
}

static int put_etf_atom(kbuf_t *b, reader_t *r)
{
    const unsigned char *s;
    size_t n;
    int latin1;
    if (!rd_atom(r, &s, &n, &latin1))
        return XETS_BADARG;
    return latin1 ? put_latin1_as_utf8(b, s, n) : put_bits(b, s, n * 8);
}

static int32_t rd_int(reader_t *r)
{
    uint32_t tag = rd_u8(r);
    if (tag == ETF_SMALL_INTEGER)
        return (int32_t)rd_u8(r);
    if (tag == ETF_INTEGER)
        return (int32_t)rd_u32(r);
    r->bad = 1;
    return 0;
}

static void rd_skip_pid(reader_t *r)
{
    const unsigned char *s;
    size_t n;
    int latin1;
    uint32_t tag = rd_u8(r);
    if (!rd_atom(r, &s, &n, &latin1))
        return;
    size_t skip = tag == ETF_NEW_PID ? 12 : tag == ETF_PID ? 9 : 0;
    if (skip == 0)
        r->bad = 1;
    else if (rd_need(r, skip))
        r->p += skip;
}

/* ---- the work stack ---------------------------------------------------- */

enum { OP_TERM, OP_SEQ, OP_MAP_KEY, OP_MAP_SORT, OP_FREE };

typedef struct mapframe {
    size_t n;
    key_mode_t mode; /* of the values */
    ERL_NIF_TERM *keys, *vals;
    size_t *off; /* n + 1 key offsets in the output */
    size_t *perm;
} mapframe_t;

typedef struct {
    unsigned char op, mode;
    size_t n; /* OP_SEQ: terms left; OP_MAP_KEY: next key index */
    union {
        ERL_NIF_TERM t;
        const ERL_NIF_TERM *seq;
        mapframe_t *map;
    } u;
} work_t;

typedef struct {
    work_t *w;
    size_t len, cap;
    work_t inline_w[32];
} wstack_t;

static work_t *ws_push(wstack_t *s)
{
    if (s->len == s->cap) {
        size_t cap = s->cap * 2;
        work_t *w;
        if (s->w == s->inline_w) {
            w = malloc(cap * sizeof *w);
            if (w)
                memcpy(w, s->w, s->len * sizeof *w);
        } else {
            w = cap > SIZE_MAX / sizeof *w ? NULL : realloc(s->w, cap * sizeof *w);
        }
        if (!w)
            return NULL;
        s->w = w;
        s->cap = cap;
    }
    return &s->w[s->len++];
}

static int ws_push_term(wstack_t *s, ERL_NIF_TERM t, key_mode_t mode)
{
    work_t *w = ws_push(s);
    if (!w)
        return XETS_NOMEM;
    w->op = OP_TERM;
    w->mode = (unsigned char)mode;
    w->u.t = t;
    return XETS_OK;
}

static int ws_push_seq(wstack_t *s, const ERL_NIF_TERM *seq, size_t n, key_mode_t mode)
{
    work_t *w = ws_push(s);
    if (!w)
        return XETS_NOMEM;
    w->op = OP_SEQ;
    w->mode = (unsigned char)mode;
    w->n = n;
    w->u.seq = seq;
    return XETS_OK;
}

static int ws_push_map(wstack_t *s, unsigned char op, mapframe_t *f, size_t n)
{
    work_t *w = ws_push(s);
    if (!w)
        return XETS_NOMEM;
    w->op = op;
    w->n = n;
    w->u.map = f;
    return XETS_OK;
}

/* ---- maps -------------------------------------------------------------- */

static int seg_cmp(const void *a, const void *b, void *ctx)
{
    const kbuf_t *o = ((const void **)ctx)[0];
    const size_t *off = ((const void **)ctx)[1];
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = off[i + 1] - off[i], lj = off[j + 1] - off[j];
    int c = memcmp(o->p + off[i], o->p + off[j], li < lj ? li : lj);
    if (c)
        return c;
    return li < lj ? -1 : li > lj;
}

/* Starts a map: header, frame, and the work to encode its keys. */
static int map_begin(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *o,
                     wstack_t *s, ERL_NIF_TERM *first_key)
{
    size_t n;
    if (!enif_get_map_size(env, t, &n))
        return XETS_BADARG;
    int rc = put_tag_len(o, T_MAP, n);
    if (rc != XETS_OK || n == 0)
        return rc;
    if (n > (SIZE_MAX - sizeof(mapframe_t)) / (2 * sizeof(ERL_NIF_TERM) + 3 * sizeof(size_t)))
        return XETS_NOMEM;
    mapframe_t *f = malloc(sizeof *f + n * (2 * sizeof(ERL_NIF_TERM) + 2 * sizeof(size_t)) +
                           sizeof(size_t));
    if (!f)
        return XETS_NOMEM;
    f->n = n;
    f->mode = mode;
    f->keys = (ERL_NIF_TERM *)(f + 1);
    f->vals = f->keys + n;
    f->off = (size_t *)(f->vals + n);
    f->perm = f->off + n + 1;
    if (ws_push_map(s, OP_FREE, f, 0) != XETS_OK) {
        free(f);
        return XETS_NOMEM;
    }
    ErlNifMapIterator it;
    if (!enif_map_iterator_create(env, t, &it, ERL_NIF_MAP_ITERATOR_FIRST))
        return XETS_NOMEM;
    size_t i = 0;
    ERL_NIF_TERM k, v;
    while (i < n && enif_map_iterator_get_pair(env, &it, &k, &v)) {
        f->keys[i] = k;
        f->vals[i] = v;
        i++;
        enif_map_iterator_next(env, &it);
    }
    enif_map_iterator_destroy(env, &it);
    if (i != n)
        return XETS_BADARG;
    if (ws_push_map(s, OP_MAP_SORT, f, 0) != XETS_OK)
        return XETS_NOMEM;
    if (n > 1 && ws_push_map(s, OP_MAP_KEY, f, 1) != XETS_OK)
        return XETS_NOMEM;
    f->off[0] = o->len;
    *first_key = f->keys[0];
    return XETS_OK;
}

/* All keys are encoded: sort them by encoding, queue the values. */
static int map_sort(kbuf_t *o, wstack_t *s, mapframe_t *f)
{
    size_t n = f->n;
    f->off[n] = o->len;
    int sorted = 1;
    for (size_t i = 0; i < n; i++)
        f->perm[i] = i;
    const void *ctx[2] = {o, f->off};
    for (size_t i = 0; i + 1 < n && sorted; i++)
        if (seg_cmp(&f->perm[i], &f->perm[i + 1], ctx) > 0)
            sorted = 0;
    if (!sorted) {
        qsort_r(f->perm, n, sizeof *f->perm, seg_cmp, (void *)ctx);
        size_t base = f->off[0], total = f->off[n] - base;
        unsigned char *tmp = kbuf_room(o, total);
        if (!tmp)
            return XETS_NOMEM;
        size_t k = 0;
        for (size_t j = 0; j < n; j++) {
            size_t i = f->perm[j], l = f->off[i + 1] - f->off[i];
            memcpy(tmp + k, o->p + f->off[i], l);
            k += l;
        }
        memcpy(o->p + base, tmp, total);
    }
    for (size_t j = 0; j < n; j++)
        f->keys[j] = f->vals[f->perm[j]]; /* the keys are no longer needed */
    return ws_push_seq(s, f->keys, n, f->mode);
}

/* ---- terms known through the external format --------------------------- */

static int put_via_etf(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *o,
                       wstack_t *s)
{
    ErlNifBinary bin;
    if (!enif_term_to_binary(env, t, &bin))
        return XETS_NOMEM;
    reader_t r = {bin.data, bin.data + bin.size, 0};
    int rc = XETS_OK;
    if (rd_u8(&r) != ETF_VERSION)
        r.bad = 1;
    uint32_t tag = rd_u8(&r);
    switch (tag) {
    case ETF_SMALL_BIG:
    case ETF_LARGE_BIG: {
        size_t n = tag == ETF_SMALL_BIG ? rd_u8(&r) : rd_u32(&r);
        int neg = (int)rd_u8(&r);
        if (rd_need(&r, n))
            rc = put_le_number(o, r.p, n, neg);
        break;
    }
    case ETF_ATOM:
    case ETF_SMALL_ATOM:
    case ETF_ATOM_UTF8:
    case ETF_SMALL_ATOM_UTF8:
        r.p--;
        if ((rc = put_byte(o, T_ATOM)) == XETS_OK)
            rc = put_etf_atom(o, &r);
        break;
    case ETF_BIT_BINARY: {
        uint32_t len = rd_u32(&r), bits = rd_u8(&r);
        if (!rd_need(&r, len) || bits > 8 || (len == 0 && bits != 0))
            break;
        size_t nbits = len == 0 ? 0 : ((size_t)len - 1) * 8 + (bits ? bits : 8);
        if ((rc = put_byte(o, T_BITS)) == XETS_OK)
            rc = put_bits(o, r.p, nbits);
        break;
    }
    case ETF_PID:
    case ETF_NEW_PID: {
        const unsigned char *node;
        size_t nlen;
        int latin1;
        if (!rd_atom(&r, &node, &nlen, &latin1))
            break;
        uint32_t num = rd_u32(&r), ser = rd_u32(&r);
        uint32_t cr = tag == ETF_PID ? rd_u8(&r) : rd_u32(&r);
        unsigned char *w = kbuf_room(o, 9);
        if (!w) {
            rc = XETS_NOMEM;
            break;
        }
        w[0] = T_PID;
        be32(w + 1, ser);
        be32(w + 5, num);
        o->len += 9;
        rc = latin1 ? put_latin1_as_utf8(o, node, nlen) : put_bits(o, node, nlen * 8);
        if (rc == XETS_OK)
            rc = put_be32(o, cr);
        break;
    }
    case ETF_PORT:
    case ETF_NEW_PORT:
    case ETF_V4_PORT: {
        if ((rc = put_byte(o, T_PORT)) != XETS_OK || (rc = put_etf_atom(o, &r)) != XETS_OK)
            break;
        uint64_t num = tag == ETF_V4_PORT ? rd_u64(&r) : rd_u32(&r);
        uint32_t cr = tag == ETF_PORT ? rd_u8(&r) : rd_u32(&r);
        unsigned char *w = kbuf_room(o, 12);
        if (!w) {
            rc = XETS_NOMEM;
            break;
        }
        be32(w, cr);
        be64(w + 4, num);
        o->len += 12;
        break;
    }
    case ETF_REFERENCE:
    case ETF_NEW_REFERENCE:
    case ETF_NEWER_REFERENCE: {
        uint32_t nw = tag == ETF_REFERENCE ? 1 : rd_u16(&r);
        if ((rc = put_byte(o, T_REF)) != XETS_OK || (rc = put_etf_atom(o, &r)) != XETS_OK)
            break;
        uint32_t cr = 0;
        if (tag == ETF_REFERENCE) {
            /* Node, ID, Creation: creation comes after the single word. */
            const unsigned char *id = r.p;
            if (!rd_need(&r, 5))
                break;
            r.p += 4;
            cr = rd_u8(&r);
            r.p = id;
        } else {
            cr = tag == ETF_NEW_REFERENCE ? rd_u8(&r) : rd_u32(&r);
        }
        if (!rd_need(&r, (size_t)nw * 4))
            break;
        const unsigned char *id = r.p;
        while (nw > 0 && !memcmp(id + 4 * (nw - 1), "\0\0\0\0", 4))
            nw--;
        unsigned char *w = kbuf_room(o, 5 + 4 * (size_t)nw);
        if (!w) {
            rc = XETS_NOMEM;
            break;
        }
        be32(w, cr);
        w[4] = (unsigned char)nw;
        for (uint32_t i = 0; i < nw; i++)
            memcpy(w + 5 + 4 * i, id + 4 * (nw - 1 - i), 4);
        o->len += 5 + 4 * (size_t)nw;
        break;
    }
    case ETF_EXPORT: {
        if ((rc = put_byte(o, T_FUN_EXPORT)) != XETS_OK || (rc = put_etf_atom(o, &r)) != XETS_OK ||
            (rc = put_etf_atom(o, &r)) != XETS_OK)
            break;
        int32_t arity = rd_int(&r);
        rc = put_byte(o, (unsigned char)arity);
        break;
    }
    case ETF_NEW_FUN: {
        rd_u32(&r); /* size */
        rd_u8(&r);  /* arity: not compared */
        if (!rd_need(&r, 16))
            break;
        r.p += 16; /* new uniq: not compared */
        uint32_t index = rd_u32(&r), nfree = rd_u32(&r);
        if ((rc = put_byte(o, T_FUN_LOCAL)) != XETS_OK || (rc = put_etf_atom(o, &r)) != XETS_OK)
            break;
        rd_int(&r); /* old index: not compared */
        int32_t old_uniq = rd_int(&r);
        rd_skip_pid(&r); /* creator: not compared */
        if (r.bad)
            break;
        unsigned char *w = kbuf_room(o, 12);
        if (!w) {
            rc = XETS_NOMEM;
            break;
        }
        be32(w, index ^ 0x80000000u);
        be32(w + 4, (uint32_t)old_uniq ^ 0x80000000u);
        be32(w + 8, nfree);
        o->len += 12;
        if (nfree == 0)
            break;
        /* The free variables end the fun: read them back as one tuple. */
        size_t rest = (size_t)(r.end - r.p);
        unsigned char *tb = malloc(rest + 6);
        if (!tb) {
            rc = XETS_NOMEM;
            break;
        }
        tb[0] = ETF_VERSION;
        tb[1] = ETF_LARGE_TUPLE;
        be32(tb + 2, nfree);
        memcpy(tb + 6, r.p, rest);
        ERL_NIF_TERM tup;
        const ERL_NIF_TERM *elems;
        int arity;
        if (!enif_binary_to_term(env, tb, rest + 6, &tup, 0) ||
            !enif_get_tuple(env, tup, &arity, &elems) || (uint32_t)arity != nfree)
            r.bad = 1;
        else
            rc = ws_push_seq(s, elems, nfree, mode);
        free(tb);
        break;
    }
    default:
        r.bad = 1;
    }
    enif_release_binary(&bin);
    if (rc == XETS_OK && r.bad)
        rc = XETS_BADARG;
    return rc;
}

/* ---- the encoder ------------------------------------------------------- */

static int encode_atom(ErlNifEnv *env, ERL_NIF_TERM t, kbuf_t *o, wstack_t *s)
{
    char name[256];
    int n = enif_get_atom(env, t, name, sizeof name, ERL_NIF_LATIN1);
    if (n <= 0)
        return put_via_etf(env, t, KEY_EXACT, o, s); /* not Latin-1 */
    if (put_byte(o, T_ATOM) != XETS_OK)
        return XETS_NOMEM;
    const unsigned char *u = (const unsigned char *)name;
    for (int i = 0; i < n - 1; i++)
        if (u[i] >= 0x80)
            return put_latin1_as_utf8(o, u, (size_t)n - 1);
    return put_bits(o, u, ((size_t)n - 1) * 8);
}

/* A match-spec variable ('_', '$1', ...). Any atom starting with '$' is
 * taken for one: stopping early only shortens a pattern's prefix. */
static bool is_pattern_variable(ErlNifEnv *env, ERL_NIF_TERM t)
{
    char name[256]; /* a Latin-1 atom has at most 255 characters */
    return enif_get_atom(env, t, name, sizeof name, ERL_NIF_LATIN1) > 0 &&
           (name[0] == '$' || strcmp(name, "_") == 0);
}

/* Whether t, or a term anywhere inside it, satisfies is. Beyond a depth it
 * answers true, which for both uses below only costs speed. */
static bool holds(ErlNifEnv *env, ERL_NIF_TERM t, bool (*is)(ErlNifEnv *, ERL_NIF_TERM),
                  int depth)
{
    int arity;
    const ERL_NIF_TERM *el;
    ERL_NIF_TERM head, k, v;
    if (depth > 32 || is(env, t))
        return true;
    if (enif_get_tuple(env, t, &arity, &el)) {
        for (int i = 0; i < arity; i++)
            if (holds(env, el[i], is, depth + 1))
                return true;
    } else if (enif_get_list_cell(env, t, &head, &t)) {
        return holds(env, head, is, depth + 1) || holds(env, t, is, depth + 1);
    } else if (enif_is_map(env, t)) {
        ErlNifMapIterator it;
        bool found = false;
        if (!enif_map_iterator_create(env, t, &it, ERL_NIF_MAP_ITERATOR_FIRST))
            return true;
        while (!found && enif_map_iterator_get_pair(env, &it, &k, &v)) {
            found = holds(env, k, is, depth + 1) || holds(env, v, is, depth + 1);
            enif_map_iterator_next(env, &it);
        }
        enif_map_iterator_destroy(env, &it);
        return found;
    }
    return false;
}

static bool is_map(ErlNifEnv *env, ERL_NIF_TERM t)
{
    return enif_is_map(env, t);
}

bool term_key_holds_map(ErlNifEnv *env, ERL_NIF_TERM pattern)
{
    return holds(env, pattern, is_map, 0);
}

/* Encodes t in preorder. With `pattern', stops with XETS_END at the first
 * match-spec variable, or map holding one (map keys are sorted after they
 * are encoded), leaving what precedes it in o. A map without variables is
 * a key to look up, as in ets. */
static int encode_loop(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, bool pattern, kbuf_t *o,
                       wstack_t *s)
{
    int rc;
    for (;;) {
        rc = XETS_OK;
        if (pattern && (is_pattern_variable(env, t) ||
                        (enif_is_map(env, t) && holds(env, t, is_pattern_variable, 0))))
            return XETS_END;
        switch (enif_term_type(env, t)) {
        case ERL_NIF_TERM_TYPE_INTEGER: {
            ErlNifSInt64 i;
            ErlNifUInt64 u;
            if (enif_get_int64(env, t, &i))
                rc = put_i64_number(o, i);
            else if (enif_get_uint64(env, t, &u))
                rc = put_u64_number(o, u, 0);
            else
                rc = put_via_etf(env, t, mode, o, s);
            break;
        }
        case ERL_NIF_TERM_TYPE_FLOAT: {
            double d;
            if (!enif_get_double(env, t, &d))
                return XETS_BADARG;
            rc = mode == KEY_EXACT ? put_double_exact(o, d) : put_double_ordered(o, d);
            break;
        }
        case ERL_NIF_TERM_TYPE_ATOM:
            rc = encode_atom(env, t, o, s);
            break;
        case ERL_NIF_TERM_TYPE_BITSTRING: {
            ErlNifBinary bin;
            if (enif_is_binary(env, t) && enif_inspect_binary(env, t, &bin)) {
                if ((rc = put_byte(o, T_BITS)) == XETS_OK)
                    rc = put_bits(o, bin.data, bin.size * 8);
            } else {
                rc = put_via_etf(env, t, mode, o, s);
            }
            break;
        }
        case ERL_NIF_TERM_TYPE_TUPLE: {
            int arity;
            const ERL_NIF_TERM *el;
            if (!enif_get_tuple(env, t, &arity, &el))
                return XETS_BADARG;
            if ((rc = put_tag_len(o, T_TUPLE, (size_t)arity)) != XETS_OK)
                return rc;
            if (arity == 0)
                break;
            if (arity > 1 && (rc = ws_push_seq(s, el + 1, (size_t)arity - 1, mode)) != XETS_OK)
                return rc;
            t = el[0];
            continue;
        }
        case ERL_NIF_TERM_TYPE_LIST: {
            ERL_NIF_TERM head, tail;
            if (!enif_get_list_cell(env, t, &head, &tail)) {
                rc = put_byte(o, T_NIL);
                break;
            }
            if ((rc = put_byte(o, T_CONS)) != XETS_OK ||
                (rc = ws_push_term(s, tail, mode)) != XETS_OK)
                return rc;
            t = head;
            continue;
        }
        case ERL_NIF_TERM_TYPE_MAP: {
            ERL_NIF_TERM first = 0;
            size_t depth = s->len;
            if ((rc = map_begin(env, t, mode, o, s, &first)) != XETS_OK)
                return rc;
            if (s->len == depth)
                break; /* empty map */
            t = first;
            mode = KEY_EXACT;
            continue;
        }
        case ERL_NIF_TERM_TYPE_PID:
        case ERL_NIF_TERM_TYPE_PORT:
        case ERL_NIF_TERM_TYPE_REFERENCE:
        case ERL_NIF_TERM_TYPE_FUN:
            rc = put_via_etf(env, t, mode, o, s);
            break;
        default:
            return XETS_BADARG;
        }
        if (rc != XETS_OK)
            return rc;

        /* Next piece of work. */
        for (;;) {
            if (s->len == 0)
                return XETS_OK;
            work_t *w = &s->w[s->len - 1];
            if (w->op == OP_TERM) {
                t = w->u.t;
                mode = (key_mode_t)w->mode;
                s->len--;
                break;
            } else if (w->op == OP_SEQ) {
                t = *w->u.seq++;
                mode = (key_mode_t)w->mode;
                if (--w->n == 0)
                    s->len--;
                break;
            } else if (w->op == OP_MAP_KEY) {
                mapframe_t *f = w->u.map;
                size_t i = w->n;
                f->off[i] = o->len;
                t = f->keys[i];
                mode = KEY_EXACT;
                if (i + 1 < f->n)
                    w->n++;
                else
                    s->len--;
                break;
            } else if (w->op == OP_MAP_SORT) {
                s->len--;
                if ((rc = map_sort(o, s, w->u.map)) != XETS_OK)
                    return rc;
            } else { /* OP_FREE */
                free(w->u.map);
                s->len--;
            }
        }
    }
}

static int encode(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, bool pattern, kbuf_t *out)
{
    wstack_t s;
    s.w = s.inline_w;
    s.len = 0;
    s.cap = sizeof s.inline_w / sizeof s.inline_w[0];
    size_t start = out->len;
    int rc = encode_loop(env, t, mode, pattern, out, &s);
    for (size_t i = 0; i < s.len; i++) /* work left when stopped early */
        if (s.w[i].op == OP_FREE)
            free(s.w[i].u.map);
    if (rc != XETS_OK && rc != XETS_END)
        out->len = start;
    if (s.w != s.inline_w)
        free(s.w);
    return rc;
}

int term_key_encode(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *out)
{
    return encode(env, t, mode, false, out);
}

int term_key_pattern_prefix(ErlNifEnv *env, ERL_NIF_TERM pattern, key_mode_t mode, kbuf_t *out)
{
    return encode(env, pattern, mode, true, out);
}

int term_key_fingerprint(ErlNifEnv *env, ERL_NIF_TERM obj, uint64_t *fp)
{
    kbuf_t kb;
    kbuf_init(&kb);
    int st = term_key_encode(env, obj, KEY_EXACT, &kb);
    *fp = XXH3_64bits(kb.p, kb.len);
    kbuf_free(&kb);
    return st;
}
