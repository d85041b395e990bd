/* The canonical sortable key encoding (DESIGN.md, "Terms"; contract in
 * key_codec.h), and its encoder from external-format bytes.
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
 *   0x30 REF       node nwords:8 words:32*nwords
 *                                           (ID words most significant first,
 *                                           high zero words dropped: OTP compares
 *                                           them as one big number)
 *   0x40 FUN_LOCAL bytes(module) index:32s old_uniq:32s num_free:32 free vars
 *   0x41 FUN_EXPORT bytes(module) bytes(function) len(arity)
 *                                           (binary_to_term/1 makes export funs
 *                                           of any 32-bit arity)
 *   0x50 PORT      node number:64
 *   0x60 PID       serial:32 number:32 node
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
 *   node      = 0x00 for the local node (key_codec.h: the caller says which
 *               node that is), else 0x01 bytes(UTF-8 name) creation:32. The
 *               local marker carries neither name nor creation, so a local
 *               pid, port or reference encodes the same whatever the node is
 *               called at the moment.
 *   Fixed-width fields are big endian; "s" fields have the sign bit flipped.
 *
 * Every form is self-delimiting, and each comparison Erlang makes field by
 * field (pids: serial, number, node, creation; ports and refs: node first,
 * then creation; local funs: module, index, old_uniq, num_free, free
 * variables; export funs: module, function, arity) follows the order in
 * which OTP 25 compares them (measured, see test/xets_key_tests.erl). The
 * local marker sorts before every node name: among local ones, and among
 * remote ones, the order is Erlang's; between the two it differs where
 * Erlang would compare the local node's current name (README, "Differences
 * from ets").
 *
 * Reading the external format. The encoding of some bytes is that of the
 * term binary_to_term/1 makes of them on the writer's node, so the forms
 * that hold the same term encode alike: INTEGER_EXT or a bignum for a small
 * integer (bignum digits may have high zeros), ATOM_EXT or ATOM_UTF8_EXT,
 * STRING_EXT or LIST_EXT, a list tail written as another list, map pairs in
 * any order, the pre-OTP-23 pid, port and reference forms. What OTP checks
 * is checked: atoms (valid UTF-8, at most 255 characters), floats (finite),
 * bitstrings (1 to 8 bits in a last byte), map keys (no two alike),
 * reference lengths (5 words at most), old creations (2 bits), the size a
 * fun claims, and what a local pid, port or reference holds (OTP 25's
 * limits). Trailing bytes are corrupt, although binary_to_term/1 ignores
 * them. Compressed terms (tag 80), atom cache references (distribution
 * only), FLOAT_EXT and FUN_EXT (not written since R12) are XETS_BADARG,
 * formats this codec does not read: a compressed term would have to be
 * inflated into as much memory as its length field claims, and xets never
 * writes one (the disk tier compresses blocks, not terms).
 *
 * The walker encodes in preorder with an explicit work stack (inline,
 * spilling to the heap) and never recurses on the C stack. External format
 * is read through one cursor: a tuple's elements, a list's cells and a
 * fun's free variables follow each other, so the stack holds counts, not
 * positions. A map's values must come after all its keys, in key order:
 * a map of two pairs or more is first skipped through (etf_skip, which
 * also proves that the pairs its size field claims are there), then a
 * frame records where each key and value starts, and the cursor jumps
 * back past the map when its values are done. So the work is linear in
 * the input, but for one more skip of each map of two pairs or more per
 * such map around it, and what is allocated (stack, frames, output) is
 * proportional to the input bytes present, whatever a length field says.
 * Live terms (term_key.c) share the same stack and map frames. */
#include "key_codec.h"
#include "etf.h"
#include "status.h"

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

enum { NODE_LOCAL = 0x00, NODE_REMOTE = 0x01 };

const char *key_codec_name(key_mode_t mode)
{
    return mode == KEY_EXACT ? KEY_EXACT_ENCODING : KEY_ORDERED_ENCODING;
}

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

/* Latin-1 text (at most 255 characters: an atom's) as UTF-8 into u (room
 * for 510 bytes); returns its length. */
static size_t latin1_to_utf8(const unsigned char *s, size_t n, unsigned char *u)
{
    size_t k = 0;
    while (k < n && s[k] < 0x80) /* ASCII, as node names are: the same bytes */
        k++;
    memcpy(u, s, k);
    for (size_t i = k; i < n; i++) {
        if (s[i] < 0x80) {
            u[k++] = s[i];
        } else {
            u[k++] = (unsigned char)(0xC0 | (s[i] >> 6));
            u[k++] = (unsigned char)(0x80 | (s[i] & 0x3F));
        }
    }
    return k;
}

/* An atom's name as bytes(UTF-8 name); Latin-1 names have at most 255
 * characters. */
static int put_name(kbuf_t *b, const unsigned char *s, size_t n, bool latin1)
{
    unsigned char u[510];
    if (latin1) {
        size_t i = 0;
        while (i < n && s[i] < 0x80)
            i++;
        if (i < n) {
            n = latin1_to_utf8(s, n, u);
            s = u;
        }
    }
    return put_bits(b, s, n * 8);
}

/* ---- numbers ---------------------------------------------------------- */

/* Finishes a number whose body starts at offset start: negatives invert it. */
static void number_sign(kbuf_t *b, size_t start, bool neg)
{
    if (!neg)
        return;
    for (size_t i = start; i < b->len; i++)
        b->p[i] = (unsigned char)~b->p[i];
}

static int put_u64_number(kbuf_t *b, uint64_t mag, bool neg)
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

int key_codec_put_int(kbuf_t *b, int64_t v)
{
    return v < 0 ? put_u64_number(b, (uint64_t)0 - (uint64_t)v, true)
                 : put_u64_number(b, (uint64_t)v, false);
}

int key_codec_put_uint(kbuf_t *b, uint64_t v)
{
    return put_u64_number(b, v, false);
}

/* A magnitude given as n little-endian bytes (external format digits). */
static int put_le_number(kbuf_t *b, const unsigned char *le, size_t n, bool neg)
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
    bool neg = bits >> 63;
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

    /* Tag, length, the integer bytes (at most 128) and the terminating 0,
     * or the integer part (at most 8 bytes) and the fraction's 7-bit
     * chunks (at most 154): room asked for exactly enough, so that a key's
     * encoding stays in kbuf_t's inline buffer. */
    size_t int_bytes = e >= 0 ? ((size_t)(64 - __builtin_clzll(m)) + (size_t)e + 7) / 8 : 0;
    unsigned char *w = kbuf_room(b, e >= 0 ? 1 + 5 + int_bytes + 1 : 1 + 5 + 8 + (size_t)(-e + 6) / 7);
    if (!w)
        return XETS_NOMEM;
    size_t start = b->len + 1;
    w[0] = neg ? T_NUM_NEG : T_NUM_POS;
    size_t k = 1;
    if (e >= 0) {
        size_t L = int_bytes;
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
        /* Fraction bit p (1-based after the point) is bit fe - p of fr;
         * a chunk holds 7 of them, the first as its top bit, and its low
         * bit says whether a chunk follows. */
        int nchunks = (fe + 6) / 7;
        for (int c = 0; c < nchunks; c++) {
            int lo = fe - (7 * c + 7); /* the chunk's last bit; at least -6 */
            uint64_t bits7 = lo >= 64 ? 0 : lo >= 0 ? fr >> lo : fr << -lo;
            w[k++] = (unsigned char)((bits7 & 0x7F) << 1 | (c + 1 < nchunks));
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

int key_codec_put_float(kbuf_t *b, double d, key_mode_t mode)
{
    return mode == KEY_EXACT ? put_double_exact(b, d) : put_double_ordered(b, d);
}

/* ---- other terms ------------------------------------------------------- */

int key_codec_put_atom(kbuf_t *b, const unsigned char *name, size_t len, bool latin1)
{
    int rc = put_byte(b, T_ATOM);
    return rc != XETS_OK ? rc : put_name(b, name, len, latin1);
}

int key_codec_put_binary(kbuf_t *b, const unsigned char *data, size_t size)
{
    if (size > SIZE_MAX / 8)
        return XETS_NOMEM;
    int rc = put_byte(b, T_BITS);
    return rc != XETS_OK ? rc : put_bits(b, data, size * 8);
}

int key_codec_put_tuple(kbuf_t *b, size_t arity)
{
    return put_tag_len(b, T_TUPLE, arity);
}

int key_codec_put_map(kbuf_t *b, size_t size)
{
    return put_tag_len(b, T_MAP, size);
}

int key_codec_put_nil(kbuf_t *b)
{
    return put_byte(b, T_NIL);
}

int key_codec_put_cons(kbuf_t *b)
{
    return put_byte(b, T_CONS);
}

/* Each cell at most 5 bytes: T_CONS then the number as put_u64_number
 * writes it (T_NUM_ZERO; or T_NUM_POS, 1, the byte, 0). */
int key_codec_put_string(kbuf_t *b, const unsigned char *s, size_t n)
{
    if (n > (SIZE_MAX - 1) / 5)
        return XETS_NOMEM;
    unsigned char *w = kbuf_room(b, 5 * n + 1), *start = w;
    if (!w)
        return XETS_NOMEM;
    for (size_t i = 0; i < n; i++) {
        *w++ = T_CONS;
        if (s[i] == 0) {
            *w++ = T_NUM_ZERO;
        } else {
            w[0] = T_NUM_POS;
            w[1] = 1;
            w[2] = s[i];
            w[3] = 0;
            w += 4;
        }
    }
    *w++ = T_NIL;
    b->len += (size_t)(w - start);
    return XETS_OK;
}

/* ---- reading the external format --------------------------------------- */

/* A cursor: every read checks the bound; a failed read sets bad, reads as
 * zeros and leaves p where it was, so that one check at the end of a term
 * covers all of its reads. */
typedef struct {
    const unsigned char *p, *end;
    bool bad;
} rd_t;

static inline bool rd_need(rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static inline uint32_t rd_u8(rd_t *r)
{
    if (!rd_need(r, 1))
        return 0;
    return *r->p++;
}

static inline uint32_t rd_u16(rd_t *r)
{
    if (!rd_need(r, 2))
        return 0;
    uint32_t v = ((uint32_t)r->p[0] << 8) | r->p[1];
    r->p += 2;
    return v;
}

static inline uint32_t rd_u32(rd_t *r)
{
    if (!rd_need(r, 4))
        return 0;
    uint32_t v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
                 ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    return v;
}

static inline uint64_t rd_u64(rd_t *r)
{
    uint64_t hi = rd_u32(r);
    return (hi << 32) | rd_u32(r);
}

/* n bytes, returned in place. */
static inline const unsigned char *rd_bytes(rd_t *r, size_t n)
{
    if (!rd_need(r, n))
        return NULL;
    const unsigned char *s = r->p;
    r->p += n;
    return s;
}

static inline void rd_fail(rd_t *r)
{
    r->bad = true;
}

/* A creation of the pre-OTP-23 forms: 2 bits in a byte. */
static uint32_t rd_old_creation(rd_t *r)
{
    uint32_t c = rd_u8(r);
    if (c > 3)
        rd_fail(r);
    return c;
}

/* UTF-8 as binary_to_term/1 takes it in an atom: shortest forms, no
 * surrogates, at most 255 characters. */
static bool atom_utf8_ok(const unsigned char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; chars++) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return chars <= 255;
}

/* An atom (tag included): its name bytes and whether they are Latin-1. */
typedef struct {
    const unsigned char *s;
    size_t n;
    bool latin1;
} name_t;

static bool rd_atom(rd_t *r, name_t *a)
{
    uint32_t tag = rd_u8(r);
    switch (tag) {
    case ETF_ATOM: a->n = rd_u16(r), a->latin1 = true; break;
    case ETF_SMALL_ATOM: a->n = rd_u8(r), a->latin1 = true; break;
    case ETF_ATOM_UTF8: a->n = rd_u16(r), a->latin1 = false; break;
    case ETF_SMALL_ATOM_UTF8: a->n = rd_u8(r), a->latin1 = false; break;
    default: rd_fail(r); return false;
    }
    if ((a->s = rd_bytes(r, a->n)) == NULL)
        return false;
    if (a->latin1 ? a->n > 255 : !atom_utf8_ok(a->s, a->n)) {
        rd_fail(r);
        return false;
    }
    return true;
}

/* An integer written as SMALL_INTEGER_EXT or INTEGER_EXT. */
static int64_t rd_fixnum(rd_t *r)
{
    uint32_t tag = rd_u8(r);
    if (tag == ETF_SMALL_INTEGER)
        return rd_u8(r);
    if (tag == ETF_INTEGER)
        return (int32_t)rd_u32(r);
    rd_fail(r);
    return 0;
}

/* An integer of the BEAM's small range, |v| < 2^59, in any integer form. */
static int64_t rd_small(rd_t *r)
{
    const unsigned char *at = r->p;
    uint32_t tag = rd_u8(r);
    if (tag != ETF_SMALL_BIG && tag != ETF_LARGE_BIG) {
        r->p = at;
        return rd_fixnum(r);
    }
    size_t n = tag == ETF_SMALL_BIG ? rd_u8(r) : rd_u32(r);
    bool neg = rd_u8(r) != 0;
    const unsigned char *d = rd_bytes(r, n);
    uint64_t v = 0;
    while (d && n > 0 && d[n - 1] == 0)
        n--;
    if (!d || n > 8) {
        rd_fail(r);
        return 0;
    }
    while (n > 0)
        v = v << 8 | d[--n];
    if (v > (neg ? UINT64_C(1) << 59 : (UINT64_C(1) << 59) - 1)) {
        rd_fail(r);
        return 0;
    }
    return neg ? -(int64_t)v : (int64_t)v;
}

/* The node of a pid, port or reference as read: name and creation. */
typedef struct {
    name_t name;
    uint32_t creation;
} node_ref_t;

/* Whether a node name as read is the text of a UTF-8 name. */
static bool name_is(const name_t *a, const unsigned char *utf8, size_t len)
{
    if (!a->latin1)
        return a->n == len && memcmp(a->s, utf8, len) == 0;
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        unsigned char c = a->s[i];
        if (c < 0x80) {
            if (k >= len || utf8[k++] != c)
                return false;
        } else if (len - k < 2 || k + 2 > len || utf8[k++] != (unsigned char)(0xC0 | (c >> 6)) ||
                   utf8[k++] != (unsigned char)(0x80 | (c & 0x3F))) {
            return false;
        }
    }
    return k == len;
}

const key_node_t key_codec_all_local;

static bool is_local(const node_ref_t *node, const key_node_t *local)
{
    if (local == &key_codec_all_local)
        return true;
    return local != NULL && node->creation == local->creation &&
           name_is(&node->name, local->name, local->len);
}

static int put_node(kbuf_t *b, const node_ref_t *node, bool local)
{
    if (local)
        return put_byte(b, NODE_LOCAL);
    int rc = put_byte(b, NODE_REMOTE);
    if (rc == XETS_OK)
        rc = put_name(b, node->name.s, node->name.n, node->name.latin1);
    unsigned char *w = rc == XETS_OK ? kbuf_room(b, 4) : NULL;
    if (!w)
        return XETS_NOMEM;
    be32(w, node->creation);
    b->len += 4;
    return XETS_OK;
}

/* A pid, port or reference, read whole: its node and its identity. */
typedef struct {
    node_ref_t node;
    uint64_t num;    /* pids and ports */
    uint32_t serial; /* pids */
    const unsigned char *id; /* references: nw words, as written */
    size_t nw;
} opaque_t;

/* The fields of the pid, port or reference whose tag is tag. */
static void rd_fields(rd_t *r, uint32_t tag, opaque_t *x)
{
    x->nw = 1;
    switch (tag) {
    case ETF_PID:
    case ETF_NEW_PID:
        rd_atom(r, &x->node.name);
        x->num = rd_u32(r);
        x->serial = rd_u32(r);
        x->node.creation = tag == ETF_PID ? rd_old_creation(r) : rd_u32(r);
        return;
    case ETF_PORT:
    case ETF_NEW_PORT:
    case ETF_V4_PORT:
        rd_atom(r, &x->node.name);
        x->num = tag == ETF_V4_PORT ? rd_u64(r) : rd_u32(r);
        x->node.creation = tag == ETF_PORT ? rd_old_creation(r) : rd_u32(r);
        return;
    case ETF_REFERENCE: /* Node, ID, Creation */
        rd_atom(r, &x->node.name);
        x->id = rd_bytes(r, 4);
        x->node.creation = rd_old_creation(r);
        return;
    case ETF_NEW_REFERENCE:
    case ETF_NEWER_REFERENCE:
        if ((x->nw = rd_u16(r)) > 5) /* OTP's references have at most 5 words */
            rd_fail(r);
        rd_atom(r, &x->node.name);
        x->node.creation = tag == ETF_NEW_REFERENCE ? rd_old_creation(r) : rd_u32(r);
        x->id = rd_bytes(r, 4 * x->nw);
        return;
    default:
        rd_fail(r);
    }
}

/* Whether a local pid, port or reference fits in what the BEAM holds of
 * one: binary_to_term/1 on OTP 25 refuses the others. */
static bool fits_locally(uint32_t tag, const opaque_t *x)
{
    switch (tag) {
    case ETF_PID:
    case ETF_NEW_PID:
        return x->num <= 0x7FFF && x->serial <= 0x1FFF;
    case ETF_PORT:
    case ETF_NEW_PORT:
    case ETF_V4_PORT:
        return x->num <= 0x0FFFFFFF;
    default: /* references: 1 to 3 words, 18 bits in the first */
        return x->nw >= 1 && x->nw <= 3 && x->id[0] == 0 && x->id[1] < 4;
    }
}

/* Reads the pid, port or reference whose tag (already read) is tag, of a
 * term written on node local (NULL: none); *is_loc tells whether it is
 * local. A local one that no BEAM could hold is a failed read. */
static void rd_opaque(rd_t *r, uint32_t tag, const key_node_t *local, opaque_t *x, bool *is_loc)
{
    rd_fields(r, tag, x);
    *is_loc = !r->bad && is_local(&x->node, local);
    if (*is_loc && !fits_locally(tag, x))
        rd_fail(r);
}

/* ---- the work stack ---------------------------------------------------- */

enum {
    OP_LIVE,     /* the live term u.t */
    OP_SEQ,      /* n terms at u.seq: live, or positions of external format */
    OP_ETF,      /* n terms at the cursor */
    OP_LIST,     /* n list elements at the cursor, each after a CONS, then the tail */
    OP_GOTO,     /* the cursor moves to u.p (past a map, its values done) */
    OP_AT,       /* the cursor must be at u.p (the end of a fun) */
    OP_MAP_KEY,  /* key n of map u.map */
    OP_MAP_SORT, /* all keys of u.map encoded: sort them, queue the values */
    OP_FREE      /* frame u.map is done with */
};

typedef struct mapframe {
    size_t n;
    key_mode_t mode; /* of the values */
    bool etf;        /* keys and vals are positions of external format */
    key_live_t *keys, *vals;
    size_t *off; /* n + 1 key offsets in the output */
    size_t *perm;
} mapframe_t;

typedef struct {
    unsigned char op, mode;
    bool etf; /* OP_SEQ */
    size_t n;
    union {
        key_live_t t;
        const key_live_t *seq;
        const unsigned char *p;
        mapframe_t *map;
    } u;
} work_t;

struct key_walk {
    kbuf_t *out;
    key_live_fn fn; /* NULL: nothing but external format */
    void *ctx;
    const key_node_t *local;
    rd_t r;
    work_t *w;
    size_t len, cap;
    work_t inline_w[32];
};

static void walk_init(key_walk_t *w, kbuf_t *out, key_live_fn fn, void *ctx)
{
    w->out = out;
    w->fn = fn;
    w->ctx = ctx;
    w->local = NULL;
    w->r = (rd_t){NULL, NULL, false};
    w->w = w->inline_w;
    w->len = 0;
    w->cap = sizeof w->inline_w / sizeof w->inline_w[0];
}

/* Frees what a walk that stopped early left on its stack. */
static void walk_done(key_walk_t *w)
{
    for (size_t i = 0; i < w->len; i++)
        if (w->w[i].op == OP_FREE)
            free(w->w[i].u.map);
    if (w->w != w->inline_w)
        free(w->w);
}

static work_t *push(key_walk_t *w, unsigned char op, key_mode_t mode, size_t n)
{
    if (w->len == w->cap) {
        size_t cap = w->cap * 2;
        work_t *s;
        if (w->w == w->inline_w) {
            s = malloc(cap * sizeof *s);
            if (s)
                memcpy(s, w->w, w->len * sizeof *s);
        } else {
            s = cap > SIZE_MAX / sizeof *s ? NULL : realloc(w->w, cap * sizeof *s);
        }
        if (!s)
            return NULL;
        w->w = s;
        w->cap = cap;
    }
    work_t *it = &w->w[w->len++];
    it->op = op;
    it->mode = (unsigned char)mode;
    it->etf = false;
    it->n = n;
    return it;
}

static int push_at(key_walk_t *w, unsigned char op, const unsigned char *p)
{
    work_t *it = push(w, op, KEY_EXACT, 0);
    if (!it)
        return XETS_NOMEM;
    it->u.p = p;
    return XETS_OK;
}

kbuf_t *key_codec_out(key_walk_t *w)
{
    return w->out;
}

int key_codec_push(key_walk_t *w, key_live_t t, key_mode_t mode)
{
    work_t *it = push(w, OP_LIVE, mode, 1);
    if (!it)
        return XETS_NOMEM;
    it->u.t = t;
    return XETS_OK;
}

static int push_seq(key_walk_t *w, const key_live_t *ts, size_t n, key_mode_t mode, bool etf)
{
    work_t *it = push(w, OP_SEQ, mode, n);
    if (!it)
        return XETS_NOMEM;
    it->etf = etf;
    it->u.seq = ts;
    return XETS_OK;
}

int key_codec_push_seq(key_walk_t *w, const key_live_t *ts, size_t n, key_mode_t mode)
{
    return push_seq(w, ts, n, mode, false);
}

/* ---- maps -------------------------------------------------------------- */

/* A frame for a map of n >= 1 pairs, queued with the work of its keys. */
static mapframe_t *map_frame(key_walk_t *w, size_t n, key_mode_t mode, bool etf)
{
    size_t per = 2 * sizeof(key_live_t) + 2 * sizeof(size_t);
    if (n > (SIZE_MAX - sizeof(mapframe_t) - sizeof(size_t)) / per)
        return NULL;
    mapframe_t *f = malloc(sizeof *f + n * per + sizeof(size_t));
    if (!f)
        return NULL;
    f->n = n;
    f->mode = mode;
    f->etf = etf;
    f->keys = (key_live_t *)(f + 1);
    f->vals = f->keys + n;
    f->off = (size_t *)(f->vals + n);
    f->perm = f->off + n + 1;
    work_t *it = push(w, OP_FREE, KEY_EXACT, 0);
    if (!it) {
        free(f);
        return NULL;
    }
    it->u.map = f;
    return f;
}

static int push_map_work(key_walk_t *w, mapframe_t *f)
{
    work_t *sort = push(w, OP_MAP_SORT, KEY_EXACT, 0);
    if (!sort)
        return XETS_NOMEM;
    sort->u.map = f;
    work_t *key = push(w, OP_MAP_KEY, KEY_EXACT, 0);
    if (!key)
        return XETS_NOMEM;
    key->u.map = f;
    return XETS_OK;
}

int key_codec_push_map(key_walk_t *w, size_t n, key_mode_t mode, key_live_t **keys,
                       key_live_t **vals)
{
    mapframe_t *f = map_frame(w, n, mode, false);
    if (!f)
        return XETS_NOMEM;
    *keys = f->keys;
    *vals = f->vals;
    return push_map_work(w, f);
}

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

/* All keys are encoded: sort them by encoding, queue the values. Two keys
 * alike can only come from bytes (binary_to_term/1 refuses them). */
static int map_sort(key_walk_t *w, mapframe_t *f)
{
    kbuf_t *o = w->out;
    size_t n = f->n;
    f->off[n] = o->len;
    for (size_t i = 0; i < n; i++)
        f->perm[i] = i;
    const void *ctx[2] = {o, f->off};
    bool sorted = true;
    for (size_t i = 0; i + 1 < n && sorted; i++)
        if (seg_cmp(&f->perm[i], &f->perm[i + 1], ctx) >= 0)
            sorted = false;
    if (!sorted) {
        qsort_r(f->perm, n, sizeof *f->perm, seg_cmp, (void *)ctx);
        for (size_t i = 0; i + 1 < n; i++)
            if (seg_cmp(&f->perm[i], &f->perm[i + 1], ctx) == 0)
                return XETS_CORRUPT;
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
    return push_seq(w, f->keys, n, f->mode, f->etf);
}

/* A map of n >= 2 pairs whose pairs start at the cursor (tag at map):
 * checked whole first, so that the frame is only as big as the bytes. */
static int etf_map(key_walk_t *w, const unsigned char *map, size_t n, key_mode_t mode)
{
    const unsigned char *end, *p = w->r.p;
    int st = etf_skip(map, w->r.end, &end);
    if (st != ETF_OK)
        return st == ETF_UNSUP ? XETS_BADARG : XETS_CORRUPT;
    mapframe_t *f = map_frame(w, n, mode, true);
    if (!f || push_at(w, OP_GOTO, end) != XETS_OK)
        return XETS_NOMEM;
    for (size_t i = 0; i < n; i++) {
        f->keys[i] = (key_live_t)p;
        if (etf_skip(p, end, &p) != ETF_OK)
            return XETS_CORRUPT;
        f->vals[i] = (key_live_t)p;
        if (etf_skip(p, end, &p) != ETF_OK)
            return XETS_CORRUPT;
    }
    return push_map_work(w, f);
}

/* ---- terms in external format ------------------------------------------ */

/* bytes(name) of the atom at the cursor. */
static int put_etf_name(kbuf_t *o, rd_t *r)
{
    name_t a;
    if (!rd_atom(r, &a))
        return XETS_OK; /* r->bad tells */
    return put_name(o, a.s, a.n, a.latin1);
}

/* A pid, port or reference after its tag. */
static int etf_opaque(key_walk_t *w, uint32_t tag)
{
    opaque_t x;
    bool loc;
    rd_opaque(&w->r, tag, w->local, &x, &loc);
    if (w->r.bad)
        return XETS_OK;
    kbuf_t *o = w->out;
    unsigned char *b;
    int rc;
    switch (tag) {
    case ETF_PID:
    case ETF_NEW_PID:
        if ((b = kbuf_room(o, 9)) == NULL)
            return XETS_NOMEM;
        b[0] = T_PID;
        be32(b + 1, x.serial);
        be32(b + 5, (uint32_t)x.num);
        o->len += 9;
        return put_node(o, &x.node, loc);
    case ETF_PORT:
    case ETF_NEW_PORT:
    case ETF_V4_PORT:
        if ((rc = put_byte(o, T_PORT)) != XETS_OK || (rc = put_node(o, &x.node, loc)) != XETS_OK)
            return rc;
        if ((b = kbuf_room(o, 8)) == NULL)
            return XETS_NOMEM;
        be64(b, x.num);
        o->len += 8;
        return XETS_OK;
    default: /* references */
        while (x.nw > 0 && !memcmp(x.id + 4 * (x.nw - 1), "\0\0\0\0", 4))
            x.nw--;
        if ((rc = put_byte(o, T_REF)) != XETS_OK || (rc = put_node(o, &x.node, loc)) != XETS_OK)
            return rc;
        if ((b = kbuf_room(o, 1 + 4 * x.nw)) == NULL)
            return XETS_NOMEM;
        b[0] = (unsigned char)x.nw;
        for (size_t i = 0; i < x.nw; i++)
            memcpy(b + 1 + 4 * i, x.id + 4 * (x.nw - 1 - i), 4);
        o->len += 1 + 4 * x.nw;
        return XETS_OK;
    }
}

/* NEW_FUN_EXT after its tag (at fun): Size counts the bytes after the tag,
 * the free variables end it. */
static int etf_fun(key_walk_t *w, const unsigned char *fun, key_mode_t mode)
{
    rd_t *r = &w->r;
    uint32_t size = rd_u32(r);
    const unsigned char *end = fun + 1 + size;
    if (size < 4 || size > (size_t)(r->end - fun - 1)) {
        rd_fail(r);
        return XETS_OK;
    }
    rd_u8(r);          /* arity: not compared */
    rd_bytes(r, 16);   /* uniq: not compared */
    uint32_t index = rd_u32(r), nfree = rd_u32(r);
    int rc = put_byte(w->out, T_FUN_LOCAL);
    if (rc == XETS_OK)
        rc = put_etf_name(w->out, r);
    rd_small(r); /* old index: not compared */
    int64_t old_uniq = rd_small(r); /* compared as the BEAM keeps it: 32 bits */
    opaque_t creator; /* not compared */
    bool loc;
    uint32_t tag = rd_u8(r);
    if (tag == ETF_PID || tag == ETF_NEW_PID)
        rd_opaque(r, tag, w->local, &creator, &loc);
    else
        rd_fail(r);
    if (rc != XETS_OK || r->bad)
        return rc;
    unsigned char *o = kbuf_room(w->out, 12);
    if (!o)
        return XETS_NOMEM;
    be32(o, index ^ 0x80000000u);
    be32(o + 4, (uint32_t)old_uniq ^ 0x80000000u);
    be32(o + 8, nfree);
    w->out->len += 12;
    if (nfree == 0) {
        if (r->p != end)
            rd_fail(r);
        return XETS_OK;
    }
    if (push_at(w, OP_AT, end) != XETS_OK || !push(w, OP_ETF, mode, nfree))
        return XETS_NOMEM;
    return XETS_OK;
}

static int etf_export(key_walk_t *w)
{
    rd_t *r = &w->r;
    int rc = put_byte(w->out, T_FUN_EXPORT);
    if (rc == XETS_OK)
        rc = put_etf_name(w->out, r);
    if (rc == XETS_OK)
        rc = put_etf_name(w->out, r);
    int64_t arity = rd_small(r); /* the BEAM keeps 32 bits of it */
    if (arity < 0)
        rd_fail(r);
    unsigned char *o = rc == XETS_OK && !r->bad ? kbuf_room(w->out, 5) : NULL;
    if (!o)
        return rc != XETS_OK || r->bad ? rc : XETS_NOMEM;
    w->out->len += put_len(o, (uint32_t)arity);
    return XETS_OK;
}

/* The elements of a STRING_EXT: integers 0..255, then NIL. */
static int etf_string(key_walk_t *w)
{
    rd_t *r = &w->r;
    size_t n = rd_u16(r);
    const unsigned char *s = rd_bytes(r, n);
    return s ? key_codec_put_string(w->out, s, n) : XETS_OK;
}

static int etf_bits(key_walk_t *w, uint32_t tag)
{
    rd_t *r = &w->r;
    size_t len = rd_u32(r), bits = tag == ETF_BIT_BINARY ? rd_u8(r) : 8;
    if (len == 0 ? tag == ETF_BIT_BINARY && bits != 0 : bits < 1 || bits > 8) {
        rd_fail(r);
        return XETS_OK;
    }
    const unsigned char *d = rd_bytes(r, len);
    if (!d)
        return XETS_OK;
    int rc = put_byte(w->out, T_BITS);
    return rc != XETS_OK ? rc : put_bits(w->out, d, len == 0 ? 0 : (len - 1) * 8 + bits);
}

/* Encodes the term at the cursor: all of it, or its head and the work of
 * the rest. */
static int etf_step(key_walk_t *w, key_mode_t mode)
{
    rd_t *r = &w->r;
    kbuf_t *o = w->out;
    const unsigned char *start = r->p;
    uint32_t tag = rd_u8(r);
    int rc = XETS_OK;
    switch (tag) {
    case ETF_SMALL_INTEGER:
        rc = put_u64_number(o, rd_u8(r), false);
        break;
    case ETF_INTEGER:
        rc = key_codec_put_int(o, (int32_t)rd_u32(r));
        break;
    case ETF_SMALL_BIG:
    case ETF_LARGE_BIG: {
        size_t n = tag == ETF_SMALL_BIG ? rd_u8(r) : rd_u32(r);
        bool neg = rd_u8(r) != 0; /* any sign byte but 0 is negative, as for OTP */
        const unsigned char *d = rd_bytes(r, n);
        if (d)
            rc = put_le_number(o, d, n, neg);
        break;
    }
    case ETF_NEW_FLOAT: {
        uint64_t bits = rd_u64(r);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (((bits >> 52) & 0x7FF) == 0x7FF)
            rd_fail(r); /* infinities and NaNs are no Erlang floats */
        else if (!r->bad)
            rc = key_codec_put_float(o, d, mode);
        break;
    }
    case ETF_ATOM:
    case ETF_SMALL_ATOM:
    case ETF_ATOM_UTF8:
    case ETF_SMALL_ATOM_UTF8:
        r->p = start;
        if ((rc = put_byte(o, T_ATOM)) == XETS_OK)
            rc = put_etf_name(o, r);
        break;
    case ETF_SMALL_TUPLE:
    case ETF_LARGE_TUPLE: {
        size_t arity = tag == ETF_SMALL_TUPLE ? rd_u8(r) : rd_u32(r);
        if (!r->bad && (rc = put_tag_len(o, T_TUPLE, arity)) == XETS_OK && arity > 0 &&
            !push(w, OP_ETF, mode, arity))
            rc = XETS_NOMEM;
        break;
    }
    case ETF_NIL:
        rc = put_byte(o, T_NIL);
        break;
    case ETF_STRING:
        rc = etf_string(w);
        break;
    case ETF_LIST: {
        size_t n = rd_u32(r);
        if (!r->bad && !push(w, OP_LIST, mode, n))
            rc = XETS_NOMEM;
        break;
    }
    case ETF_BINARY:
    case ETF_BIT_BINARY:
        rc = etf_bits(w, tag);
        break;
    case ETF_PID:
    case ETF_NEW_PID:
    case ETF_PORT:
    case ETF_NEW_PORT:
    case ETF_V4_PORT:
    case ETF_REFERENCE:
    case ETF_NEW_REFERENCE:
    case ETF_NEWER_REFERENCE:
        rc = etf_opaque(w, tag);
        break;
    case ETF_NEW_FUN:
        rc = etf_fun(w, start, mode);
        break;
    case ETF_EXPORT:
        rc = etf_export(w);
        break;
    case ETF_MAP: {
        size_t n = rd_u32(r);
        if (r->bad || (rc = put_tag_len(o, T_MAP, n)) != XETS_OK || n == 0)
            break;
        if (n == 1) /* key, then value: in the order of the bytes */
            rc = push(w, OP_ETF, mode, 1) && push(w, OP_ETF, KEY_EXACT, 1) ? XETS_OK : XETS_NOMEM;
        else
            rc = etf_map(w, start, n, mode);
        break;
    }
    case ETF_COMPRESSED:
    case ETF_ATOM_CACHE_REF:
    case ETF_FLOAT:
    case ETF_FUN:
        if (!r->bad)
            return XETS_BADARG;
        break;
    default:
        rd_fail(r);
    }
    if (rc == XETS_OK && r->bad)
        rc = XETS_CORRUPT;
    return rc;
}

/* ---- the walk ---------------------------------------------------------- */

static int encode_one(key_walk_t *w, key_live_t t, bool etf, key_mode_t mode)
{
    if (!etf)
        return w->fn(w, t, mode, w->ctx);
    w->r.p = (const unsigned char *)t;
    return etf_step(w, mode);
}

/* Runs the stack empty. */
static int walk(key_walk_t *w)
{
    while (w->len > 0) {
        work_t *it = &w->w[w->len - 1];
        key_mode_t mode = (key_mode_t)it->mode;
        key_live_t t = (key_live_t)w->r.p;
        bool etf = true;
        switch (it->op) {
        case OP_LIVE:
            t = it->u.t;
            etf = false;
            w->len--;
            break;
        case OP_SEQ:
            t = *it->u.seq++;
            etf = it->etf;
            if (--it->n == 0)
                w->len--;
            break;
        case OP_ETF:
            if (--it->n == 0)
                w->len--;
            break;
        case OP_LIST:
            if (it->n == 0) {
                w->len--; /* the tail */
            } else {
                it->n--;
                if (put_byte(w->out, T_CONS) != XETS_OK)
                    return XETS_NOMEM;
            }
            break;
        case OP_GOTO:
            w->r.p = it->u.p;
            w->len--;
            continue;
        case OP_AT:
            if (w->r.p != it->u.p)
                return XETS_CORRUPT;
            w->len--;
            continue;
        case OP_MAP_KEY: {
            mapframe_t *f = it->u.map;
            size_t i = it->n;
            f->off[i] = w->out->len;
            t = f->keys[i];
            etf = f->etf;
            mode = KEY_EXACT;
            if (i + 1 < f->n)
                it->n++;
            else
                w->len--;
            break;
        }
        case OP_MAP_SORT: {
            mapframe_t *f = it->u.map;
            w->len--;
            int rc = map_sort(w, f);
            if (rc != XETS_OK)
                return rc;
            continue;
        }
        case OP_FREE:
            free(it->u.map);
            w->len--;
            continue;
        }
        int rc = encode_one(w, t, etf, mode);
        if (rc != XETS_OK)
            return rc;
    }
    return XETS_OK;
}

int key_codec_walk(key_live_t t, key_mode_t mode, key_live_fn fn, void *ctx, kbuf_t *out)
{
    key_walk_t w;
    walk_init(&w, out, fn, ctx);
    size_t start = out->len;
    int rc = fn(&w, t, mode, ctx);
    if (rc == XETS_OK)
        rc = walk(&w);
    walk_done(&w);
    if (rc != XETS_OK && rc != XETS_END)
        out->len = start;
    return rc;
}

/* Encodes the one term at p, which ends at end when whole: out is left as
 * it was unless it succeeds. */
static int encode_etf(const unsigned char *p, const unsigned char *end, bool whole,
                      key_mode_t mode, const key_node_t *local, kbuf_t *out)
{
    key_walk_t w;
    walk_init(&w, out, NULL, NULL);
    w.r = (rd_t){p, end, false};
    w.local = local;
    size_t start = out->len;
    int rc = etf_step(&w, mode);
    if (rc == XETS_OK)
        rc = walk(&w);
    if (rc == XETS_OK && whole && w.r.p != end)
        rc = XETS_CORRUPT;
    walk_done(&w);
    if (rc != XETS_OK)
        out->len = start;
    return rc;
}

int key_codec_encode(const unsigned char *etf, size_t len, key_mode_t mode,
                     const key_node_t *local, kbuf_t *out)
{
    if (len < 1 || etf[0] != ETF_VERSION)
        return XETS_CORRUPT;
    return encode_etf(etf + 1, etf + len, true, mode, local, out);
}

int key_codec_encode_element(const unsigned char *etf, size_t len, uint32_t keypos,
                             key_mode_t mode, const key_node_t *local, kbuf_t *out)
{
    if (len < 2 || etf[0] != ETF_VERSION)
        return XETS_CORRUPT;
    const unsigned char *end = etf + len, *el;
    if (etf[1] != ETF_SMALL_TUPLE && etf[1] != ETF_LARGE_TUPLE)
        return XETS_BADARG;
    etf_ref_t tuple = etf_term(etf + 1, end);
    uint32_t arity;
    if (etf_tuple(&tuple, &arity, &el) != ETF_OK)
        return XETS_CORRUPT;
    if (keypos == 0 || keypos > arity)
        return XETS_BADARG;
    for (uint32_t i = 1; i < keypos; i++) {
        int st = etf_skip(el, end, &el);
        if (st != ETF_OK)
            return st == ETF_UNSUP ? XETS_BADARG : XETS_CORRUPT;
    }
    return encode_etf(el, end, false, mode, local, out);
}

int key_codec_node_read(const unsigned char *p, const unsigned char *end, key_node_t *node,
                        const unsigned char **next)
{
    rd_t r = {p, end, false};
    opaque_t x;
    rd_fields(&r, rd_u8(&r), &x);
    if (r.bad)
        return XETS_CORRUPT;
    const name_t *a = &x.node.name;
    if (a->latin1) {
        node->len = latin1_to_utf8(a->s, a->n, node->name);
    } else {
        memcpy(node->name, a->s, a->n);
        node->len = a->n;
    }
    node->creation = x.node.creation;
    *next = r.p;
    return XETS_OK;
}
