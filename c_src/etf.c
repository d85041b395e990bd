/* Reading Erlang terms in place in the external term format (etf.h).
 *
 * Nothing here allocates. Skipping is iterative (a count of terms still to
 * skip), so no input nests the C stack; equality and order recurse once per
 * level of tuple, list head or map value nesting, and give up with
 * ETF_UNSUP past ETF_MAX_DEPTH. List tails are walked in a loop.
 *
 * Numbers are compared exactly, as OTP does: a float is compared with an
 * integer by value (a float >= 2^53 in magnitude is itself an integer, so
 * it is turned into one and the two are compared as integers). */
#include "etf.h"

#include <string.h>

const unsigned char etf_true_bytes[8] = {ETF_VERSION, ETF_ATOM, 0, 4, 't', 'r', 'u', 'e'};
const unsigned char etf_false_bytes[9] = {ETF_VERSION, ETF_ATOM, 0, 5, 'f', 'a', 'l', 's', 'e'};
const unsigned char etf_exit_bytes[8] = {ETF_VERSION, ETF_ATOM, 0, 4, 'E', 'X', 'I', 'T'};
const unsigned char etf_nil_bytes[2] = {ETF_VERSION, ETF_NIL};

static inline uint32_t be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(unsigned char *w, uint32_t v)
{
    w[0] = (unsigned char)(v >> 8);
    w[1] = (unsigned char)v;
}

static inline void put_be32(unsigned char *w, uint32_t v)
{
    w[0] = (unsigned char)(v >> 24);
    w[1] = (unsigned char)(v >> 16);
    w[2] = (unsigned char)(v >> 8);
    w[3] = (unsigned char)v;
}

static inline size_t avail(const unsigned char *p, const unsigned char *end)
{
    return p < end ? (size_t)(end - p) : 0;
}

/* ---- skipping ----------------------------------------------------------- */

/* An atom (the node of a pid, port or reference): *next after it. */
static int skip_atom(const unsigned char *p, const unsigned char *end, const unsigned char **next)
{
    size_t a = avail(p, end), len;
    if (a < 1)
        return ETF_BAD;
    switch (p[0]) {
    case ETF_ATOM:
    case ETF_ATOM_UTF8:
        if (a < 3)
            return ETF_BAD;
        len = 3 + be16(p + 1);
        break;
    case ETF_SMALL_ATOM:
    case ETF_SMALL_ATOM_UTF8:
        if (a < 2)
            return ETF_BAD;
        len = 2 + p[1];
        break;
    case ETF_ATOM_CACHE_REF:
        return ETF_UNSUP;
    default:
        return ETF_BAD;
    }
    if (len > a)
        return ETF_BAD;
    *next = p + len;
    return ETF_OK;
}

/* The class of a term from its tag alone (STRING_EXT counts as a list). */
static unsigned tag_class_bit(unsigned char tag)
{
    switch (tag) {
    case ETF_ATOM:
    case ETF_ATOM_UTF8:
    case ETF_SMALL_ATOM:
    case ETF_SMALL_ATOM_UTF8:
        return 1u << ETF_C_ATOM;
    case ETF_NEWER_REFERENCE:
    case ETF_NEW_REFERENCE:
    case ETF_REFERENCE:
        return 1u << ETF_C_REF;
    case ETF_NEW_FUN:
    case ETF_EXPORT:
    case ETF_FUN:
        return 1u << ETF_C_FUN;
    case ETF_NEW_PORT:
    case ETF_PORT:
    case ETF_V4_PORT:
        return 1u << ETF_C_PORT;
    case ETF_NEW_PID:
    case ETF_PID:
        return 1u << ETF_C_PID;
    case ETF_SMALL_TUPLE:
    case ETF_LARGE_TUPLE:
        return 1u << ETF_C_TUPLE;
    case ETF_MAP:
        return 1u << ETF_C_MAP;
    case ETF_NIL:
        return 1u << ETF_C_NIL;
    case ETF_STRING:
    case ETF_LIST:
        return 1u << ETF_C_LIST;
    case ETF_BINARY:
    case ETF_BIT_BINARY:
        return 1u << ETF_C_BITS;
    default:
        return 1u << ETF_C_NUMBER;
    }
}

static int skip_impl(const unsigned char *p, const unsigned char *end, const unsigned char **next,
                     unsigned *seen)
{
    size_t pending = 1; /* terms still to skip; each takes at least a byte */
    while (pending > 0) {
        size_t a = avail(p, end);
        if (a < 1)
            return ETF_BAD;
        unsigned char tag = *p++;
        a--;
        pending--;
        if (seen)
            *seen |= tag_class_bit(tag);
        size_t len; /* bytes after the tag (after the node atom for pids & co) */
        int rc;
        switch (tag) {
        case ETF_SMALL_INTEGER:
            len = 1;
            break;
        case ETF_INTEGER:
            len = 4;
            break;
        case ETF_NEW_FLOAT:
            len = 8;
            break;
        case ETF_FLOAT:
            len = 31;
            break;
        case ETF_ATOM:
        case ETF_ATOM_UTF8:
        case ETF_STRING:
            if (a < 2)
                return ETF_BAD;
            len = 2 + (size_t)be16(p);
            break;
        case ETF_SMALL_ATOM:
        case ETF_SMALL_ATOM_UTF8:
            if (a < 1)
                return ETF_BAD;
            len = 1 + (size_t)p[0];
            break;
        case ETF_SMALL_TUPLE:
            if (a < 1)
                return ETF_BAD;
            pending += p[0];
            len = 1;
            break;
        case ETF_LARGE_TUPLE:
            if (a < 4)
                return ETF_BAD;
            pending += be32(p);
            len = 4;
            break;
        case ETF_MAP:
            if (a < 4)
                return ETF_BAD;
            pending += 2 * (size_t)be32(p);
            len = 4;
            break;
        case ETF_LIST:
            if (a < 4)
                return ETF_BAD;
            pending += (size_t)be32(p) + 1;
            len = 4;
            break;
        case ETF_NIL:
            len = 0;
            break;
        case ETF_BINARY:
            if (a < 4)
                return ETF_BAD;
            len = 4 + (size_t)be32(p);
            break;
        case ETF_BIT_BINARY:
            if (a < 5)
                return ETF_BAD;
            len = 5 + (size_t)be32(p);
            break;
        case ETF_SMALL_BIG:
            if (a < 1)
                return ETF_BAD;
            len = 2 + (size_t)p[0];
            break;
        case ETF_LARGE_BIG:
            if (a < 4)
                return ETF_BAD;
            len = 5 + (size_t)be32(p);
            break;
        case ETF_NEW_PID:
        case ETF_PID:
        case ETF_NEW_PORT:
        case ETF_PORT:
        case ETF_V4_PORT:
        case ETF_REFERENCE:
            if ((rc = skip_atom(p, end, &p)) != ETF_OK)
                return rc;
            a = avail(p, end);
            len = tag == ETF_NEW_PID    ? 12
                  : tag == ETF_PID      ? 9
                  : tag == ETF_NEW_PORT ? 8
                  : tag == ETF_V4_PORT  ? 12
                                        : 5; /* PORT, REFERENCE */
            break;
        case ETF_NEWER_REFERENCE:
        case ETF_NEW_REFERENCE: {
            if (a < 2)
                return ETF_BAD;
            size_t words = be16(p);
            if ((rc = skip_atom(p + 2, end, &p)) != ETF_OK)
                return rc;
            a = avail(p, end);
            len = (tag == ETF_NEWER_REFERENCE ? 4 : 1) + 4 * words;
            break;
        }
        case ETF_NEW_FUN:
            if (a < 4 || be32(p) < 4)
                return ETF_BAD;
            len = be32(p); /* counts itself, not the tag */
            break;
        case ETF_EXPORT:
            pending += 3;
            len = 0;
            break;
        case ETF_ATOM_CACHE_REF:
        case ETF_FUN:
        case ETF_COMPRESSED:
            return ETF_UNSUP;
        default:
            return ETF_BAD;
        }
        if (len > a)
            return ETF_BAD;
        p += len;
        if (pending > avail(p, end))
            return ETF_BAD;
    }
    *next = p;
    return ETF_OK;
}

int etf_skip(const unsigned char *p, const unsigned char *end, const unsigned char **next)
{
    return skip_impl(p, end, next, NULL);
}

int etf_skip_seen(const unsigned char *p, const unsigned char *end, const unsigned char **next,
                  unsigned *seen)
{
    return skip_impl(p, end, next, seen);
}

/* ---- classes and simple views ------------------------------------------ */

int etf_class(const etf_ref_t *r, etf_class_t *cls)
{
    switch (r->kind) {
    case ETF_REF_STR_TAIL:
    case ETF_REF_LIST_TAIL:
        *cls = ETF_C_LIST;
        return ETF_OK;
    case ETF_REF_BYTE:
    case ETF_REF_INT:
    case ETF_REF_FLOAT:
        *cls = ETF_C_NUMBER;
        return ETF_OK;
    case ETF_REF_TERM:
        break;
    }
    const unsigned char *p = r->p;
    size_t a = avail(p, r->end);
    if (a < 1)
        return ETF_BAD;
    switch (p[0]) {
    case ETF_SMALL_INTEGER:
    case ETF_INTEGER:
    case ETF_NEW_FLOAT:
    case ETF_FLOAT:
    case ETF_SMALL_BIG:
    case ETF_LARGE_BIG:
        *cls = ETF_C_NUMBER;
        return ETF_OK;
    case ETF_ATOM:
    case ETF_ATOM_UTF8:
    case ETF_SMALL_ATOM:
    case ETF_SMALL_ATOM_UTF8:
        *cls = ETF_C_ATOM;
        return ETF_OK;
    case ETF_NEWER_REFERENCE:
    case ETF_NEW_REFERENCE:
    case ETF_REFERENCE:
        *cls = ETF_C_REF;
        return ETF_OK;
    case ETF_NEW_FUN:
    case ETF_EXPORT:
        *cls = ETF_C_FUN;
        return ETF_OK;
    case ETF_NEW_PORT:
    case ETF_PORT:
    case ETF_V4_PORT:
        *cls = ETF_C_PORT;
        return ETF_OK;
    case ETF_NEW_PID:
    case ETF_PID:
        *cls = ETF_C_PID;
        return ETF_OK;
    case ETF_SMALL_TUPLE:
    case ETF_LARGE_TUPLE:
        *cls = ETF_C_TUPLE;
        return ETF_OK;
    case ETF_MAP:
        *cls = ETF_C_MAP;
        return ETF_OK;
    case ETF_NIL:
        *cls = ETF_C_NIL;
        return ETF_OK;
    case ETF_STRING:
        if (a < 3)
            return ETF_BAD;
        *cls = be16(p + 1) == 0 ? ETF_C_NIL : ETF_C_LIST;
        return ETF_OK;
    case ETF_LIST:
        if (a < 5)
            return ETF_BAD;
        /* A LIST_EXT of no elements would be its tail: nobody writes one. */
        if (be32(p + 1) == 0)
            return ETF_UNSUP;
        *cls = ETF_C_LIST;
        return ETF_OK;
    case ETF_BINARY:
    case ETF_BIT_BINARY:
        *cls = ETF_C_BITS;
        return ETF_OK;
    case ETF_ATOM_CACHE_REF:
    case ETF_FUN:
    case ETF_COMPRESSED:
        return ETF_UNSUP;
    default:
        return ETF_BAD;
    }
}

bool etf_is_integer(const etf_ref_t *r)
{
    switch (r->kind) {
    case ETF_REF_BYTE:
    case ETF_REF_INT:
        return true;
    case ETF_REF_TERM:
        if (avail(r->p, r->end) < 1)
            return false;
        switch (r->p[0]) {
        case ETF_SMALL_INTEGER:
        case ETF_INTEGER:
        case ETF_SMALL_BIG:
        case ETF_LARGE_BIG:
            return true;
        default:
            return false;
        }
    default:
        return false;
    }
}

bool etf_is_float(const etf_ref_t *r)
{
    if (r->kind == ETF_REF_FLOAT)
        return true;
    return r->kind == ETF_REF_TERM && avail(r->p, r->end) >= 1 &&
           (r->p[0] == ETF_NEW_FLOAT || r->p[0] == ETF_FLOAT);
}

int etf_bit_size(const etf_ref_t *r, uint64_t *bits)
{
    if (r->kind != ETF_REF_TERM)
        return ETF_BAD;
    const unsigned char *p = r->p;
    size_t a = avail(p, r->end);
    if (a >= 5 && p[0] == ETF_BINARY) {
        uint64_t n = be32(p + 1);
        if (n > a - 5)
            return ETF_BAD;
        *bits = n * 8;
        return ETF_OK;
    }
    if (a >= 6 && p[0] == ETF_BIT_BINARY) {
        uint64_t n = be32(p + 1);
        unsigned last = p[5];
        if (n > a - 6)
            return ETF_BAD;
        if (n == 0) {
            if (last != 0)
                return ETF_BAD;
            *bits = 0;
            return ETF_OK;
        }
        if (last < 1 || last > 8)
            return ETF_BAD;
        *bits = (n - 1) * 8 + last;
        return ETF_OK;
    }
    return ETF_BAD;
}

bool etf_is_binary(const etf_ref_t *r)
{
    uint64_t bits;
    return etf_bit_size(r, &bits) == ETF_OK && bits % 8 == 0;
}

/* An atom's name: *latin1 when its bytes are Latin-1 rather than UTF-8. */
static int atom_name(const etf_ref_t *r, const unsigned char **s, size_t *n, bool *latin1)
{
    if (r->kind != ETF_REF_TERM)
        return ETF_BAD;
    const unsigned char *p = r->p;
    size_t a = avail(p, r->end), hdr;
    if (a < 2)
        return ETF_BAD;
    switch (p[0]) {
    case ETF_ATOM:
    case ETF_ATOM_UTF8:
        if (a < 3)
            return ETF_BAD;
        *n = be16(p + 1);
        hdr = 3;
        break;
    case ETF_SMALL_ATOM:
    case ETF_SMALL_ATOM_UTF8:
        *n = p[1];
        hdr = 2;
        break;
    default:
        return ETF_BAD;
    }
    if (*n > a - hdr)
        return ETF_BAD;
    *s = p + hdr;
    *latin1 = p[0] == ETF_ATOM || p[0] == ETF_SMALL_ATOM;
    return ETF_OK;
}

/* The UTF-8 name of an atom, converted into buf (>= 512 bytes) when it
 * came as Latin-1 with characters above 127. */
static int atom_utf8(const etf_ref_t *r, unsigned char *buf, const unsigned char **s, size_t *n)
{
    bool latin1;
    int rc = atom_name(r, s, n, &latin1);
    if (rc != ETF_OK || !latin1)
        return rc;
    size_t k = 0, i;
    for (i = 0; i < *n && (*s)[i] < 0x80; i++)
        ;
    if (i == *n)
        return ETF_OK; /* ASCII: the same bytes */
    if (*n > 255)
        return ETF_BAD; /* atoms have at most 255 characters */
    for (i = 0; i < *n; i++) {
        unsigned char c = (*s)[i];
        if (c < 0x80) {
            buf[k++] = c;
        } else {
            buf[k++] = (unsigned char)(0xC0 | (c >> 6));
            buf[k++] = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    *s = buf;
    *n = k;
    return ETF_OK;
}

bool etf_is_atom_named(const etf_ref_t *r, const char *name, size_t len)
{
    unsigned char buf[512];
    const unsigned char *s;
    size_t n;
    if (r->kind != ETF_REF_TERM || atom_utf8(r, buf, &s, &n) != ETF_OK)
        return false;
    return n == len && memcmp(s, name, len) == 0;
}

int etf_tuple(const etf_ref_t *r, uint32_t *arity, const unsigned char **first)
{
    if (r->kind != ETF_REF_TERM)
        return ETF_BAD;
    const unsigned char *p = r->p;
    size_t a = avail(p, r->end);
    if (a >= 2 && p[0] == ETF_SMALL_TUPLE) {
        *arity = p[1];
        *first = p + 2;
        return ETF_OK;
    }
    if (a >= 5 && p[0] == ETF_LARGE_TUPLE) {
        *arity = be32(p + 1);
        *first = p + 5;
        return ETF_OK;
    }
    return ETF_BAD;
}

int etf_map_size(const etf_ref_t *r, uint32_t *size)
{
    if (r->kind != ETF_REF_TERM || avail(r->p, r->end) < 5 || r->p[0] != ETF_MAP)
        return ETF_BAD;
    *size = be32(r->p + 1);
    return ETF_OK;
}

/* ---- numbers ------------------------------------------------------------ */

typedef enum { NUM_INT, NUM_BIG, NUM_FLOAT } num_kind_t;

/* A number: an int64, a float, or a bignum outside int64 given as its
 * magnitude (n little-endian bytes, no high zero bytes) and sign. */
typedef struct {
    num_kind_t k;
    bool neg;
    int64_t i;
    double d;
    const unsigned char *mag;
    size_t n;
} num_t;

static double be_double(const unsigned char *p)
{
    uint64_t bits = (uint64_t)be32(p) << 32 | be32(p + 4);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static int get_num(const etf_ref_t *r, num_t *x)
{
    switch (r->kind) {
    case ETF_REF_BYTE:
        x->k = NUM_INT;
        x->i = r->p[0];
        return ETF_OK;
    case ETF_REF_INT:
        x->k = NUM_INT;
        x->i = r->u.i;
        return ETF_OK;
    case ETF_REF_FLOAT:
        x->k = NUM_FLOAT;
        x->d = r->u.d;
        return ETF_OK;
    case ETF_REF_TERM:
        break;
    default:
        return ETF_BAD;
    }
    const unsigned char *p = r->p;
    size_t a = avail(p, r->end), n, hdr;
    if (a < 1)
        return ETF_BAD;
    switch (p[0]) {
    case ETF_SMALL_INTEGER:
        if (a < 2)
            return ETF_BAD;
        x->k = NUM_INT;
        x->i = p[1];
        return ETF_OK;
    case ETF_INTEGER:
        if (a < 5)
            return ETF_BAD;
        x->k = NUM_INT;
        x->i = (int32_t)be32(p + 1);
        return ETF_OK;
    case ETF_NEW_FLOAT:
        if (a < 9)
            return ETF_BAD;
        x->k = NUM_FLOAT;
        x->d = be_double(p + 1);
        return ETF_OK;
    case ETF_FLOAT:
        return ETF_UNSUP;
    case ETF_SMALL_BIG:
        if (a < 3)
            return ETF_BAD;
        n = p[1];
        hdr = 2;
        break;
    case ETF_LARGE_BIG:
        if (a < 6)
            return ETF_BAD;
        n = be32(p + 1);
        hdr = 5;
        break;
    default:
        return ETF_BAD;
    }
    if (n > a - hdr - 1 || p[hdr] > 1)
        return ETF_BAD;
    bool neg = p[hdr] == 1;
    const unsigned char *mag = p + hdr + 1;
    while (n > 0 && mag[n - 1] == 0)
        n--;
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t k = n; k-- > 0;)
            u = u << 8 | mag[k];
        if (!neg && u <= (uint64_t)INT64_MAX) {
            x->k = NUM_INT;
            x->i = (int64_t)u;
            return ETF_OK;
        }
        if (neg && u <= (uint64_t)INT64_MAX + 1) {
            x->k = NUM_INT;
            x->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
            return ETF_OK;
        }
    }
    x->k = NUM_BIG;
    x->neg = neg;
    x->mag = mag;
    x->n = n;
    return ETF_OK;
}

int etf_get_int64(const etf_ref_t *r, int64_t *v)
{
    num_t x;
    if (!etf_is_integer(r))
        return ETF_BAD;
    int rc = get_num(r, &x);
    if (rc != ETF_OK)
        return rc;
    if (x.k != NUM_INT)
        return ETF_UNSUP;
    *v = x.i;
    return ETF_OK;
}

int etf_get_double(const etf_ref_t *r, double *d)
{
    num_t x;
    if (!etf_is_float(r))
        return ETF_BAD;
    int rc = get_num(r, &x);
    if (rc != ETF_OK)
        return rc;
    *d = x.d;
    return ETF_OK;
}

static inline int sign3(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Magnitudes (little-endian, no high zeros). */
static int mag_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    if (an != bn)
        return an < bn ? -1 : 1;
    for (size_t k = an; k-- > 0;)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

/* The integer |d| (which must be >= 2^63, hence integral) as a magnitude
 * in buf (>= 136 bytes). Read from the IEEE bits: no libm. */
static size_t double_mag(double d, unsigned char *buf)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    uint64_t M = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52;
    int s = (int)((bits >> 52) & 0x7FF) - 1075; /* |d| = M * 2^s, s >= 11 */
    size_t byte = (size_t)s / 8, n = byte + 9;
    unsigned bit = (unsigned)s % 8;
    memset(buf, 0, n);
    for (int k = 0; k < 8; k++) {
        uint64_t part = (M >> (8 * k)) & 0xFF;
        buf[byte + (size_t)k] |= (unsigned char)(part << bit);
        buf[byte + (size_t)k + 1] |= (unsigned char)(part >> (8 - bit));
    }
    while (n > 0 && buf[n - 1] == 0)
        n--;
    return n;
}

static int cmp_int_double(int64_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    int64_t t = (int64_t)d; /* exact: |d| < 2^63 */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_big_double(const num_t *b, double d)
{
    int sign = b->neg ? -1 : 1;
    if (d < 9223372036854775808.0 && d > -9223372036854775808.0)
        return sign; /* |b| > 2^63 > |d| */
    if ((d < 0) != b->neg)
        return sign;
    unsigned char buf[136];
    size_t n = double_mag(d, buf);
    return sign * mag_cmp(b->mag, b->n, buf, n);
}

/* Order of two numbers by value (1 and 1.0 compare equal). */
static int num_cmp(const num_t *a, const num_t *b)
{
    if (a->k == NUM_FLOAT && b->k == NUM_FLOAT)
        return (a->d > b->d) - (a->d < b->d);
    if (a->k == NUM_FLOAT)
        return -num_cmp(b, a);
    if (b->k == NUM_FLOAT)
        return a->k == NUM_INT ? cmp_int_double(a->i, b->d) : cmp_big_double(a, b->d);
    if (a->k == NUM_INT && b->k == NUM_INT)
        return sign3(a->i, b->i);
    if (a->k == NUM_INT)
        return b->neg ? 1 : -1;
    if (b->k == NUM_INT)
        return a->neg ? -1 : 1;
    if (a->neg != b->neg)
        return a->neg ? -1 : 1;
    int c = mag_cmp(a->mag, a->n, b->mag, b->n);
    return a->neg ? -c : c;
}

/* =:= on numbers: integers never equal floats. */
static bool num_eq(const num_t *a, const num_t *b, bool bitwise_floats)
{
    if ((a->k == NUM_FLOAT) != (b->k == NUM_FLOAT))
        return false;
    if (a->k == NUM_FLOAT && bitwise_floats)
        return memcmp(&a->d, &b->d, sizeof a->d) == 0;
    return num_cmp(a, b) == 0;
}

/* ---- lists -------------------------------------------------------------- */

int etf_list_split(const etf_ref_t *r, bool *is_cons, etf_ref_t *head, etf_ref_t *tail)
{
    etf_ref_t h, t;
    const unsigned char *p = r->p, *end = r->end, *next;
    uint32_t n;
    int rc;
    h.end = t.end = end;
    h.u.n = t.u.n = 0;
    switch (r->kind) {
    case ETF_REF_STR_TAIL:
        n = r->u.n;
        goto string;
    case ETF_REF_LIST_TAIL:
        n = r->u.n;
        goto list;
    case ETF_REF_TERM:
        break;
    default:
        *is_cons = false;
        return ETF_OK;
    }
    if (avail(p, end) < 1)
        return ETF_BAD;
    if (p[0] == ETF_STRING) {
        if (avail(p, end) < 3)
            return ETF_BAD;
        n = be16(p + 1);
        if (n == 0) {
            *is_cons = false;
            return ETF_OK;
        }
        p += 3;
        goto string;
    }
    if (p[0] == ETF_LIST) {
        if (avail(p, end) < 5)
            return ETF_BAD;
        n = be32(p + 1);
        if (n == 0)
            return ETF_UNSUP;
        p += 5;
        goto list;
    }
    *is_cons = false;
    return ETF_OK;

string:
    if (avail(p, end) < n)
        return ETF_BAD;
    h.kind = ETF_REF_BYTE;
    h.p = p;
    if (n > 1) {
        t.kind = ETF_REF_STR_TAIL;
        t.p = p + 1;
        t.u.n = n - 1;
    } else {
        t.kind = ETF_REF_TERM;
        t.p = etf_nil_bytes + 1;
        t.end = etf_nil_bytes + sizeof etf_nil_bytes;
    }
    goto done;

list:
    if ((rc = etf_skip(p, end, &next)) != ETF_OK)
        return rc;
    h.kind = ETF_REF_TERM;
    h.p = p;
    t.kind = n > 1 ? ETF_REF_LIST_TAIL : ETF_REF_TERM;
    t.p = next;
    t.u.n = n - 1;

done:
    *is_cons = true;
    if (head)
        *head = h;
    if (tail)
        *tail = t;
    return ETF_OK;
}

/* A stretch of bytes that are list elements: a STRING_EXT or its tail. */
static bool string_bytes(const etf_ref_t *r, const unsigned char **s, size_t *n)
{
    if (r->kind == ETF_REF_STR_TAIL) {
        if (avail(r->p, r->end) < r->u.n)
            return false;
        *s = r->p;
        *n = r->u.n;
        return true;
    }
    if (r->kind == ETF_REF_TERM && avail(r->p, r->end) >= 3 && r->p[0] == ETF_STRING) {
        *n = be16(r->p + 1);
        *s = r->p + 3;
        return avail(*s, r->end) >= *n;
    }
    return false;
}

int etf_list_length(const etf_ref_t *r, bool *proper, uint64_t *len)
{
    etf_ref_t cur = *r;
    uint64_t count = 0;
    for (;;) {
        const unsigned char *s, *p, *end = cur.end;
        size_t n;
        uint32_t k;
        int rc;
        if (string_bytes(&cur, &s, &n)) {
            *proper = true;
            *len = count + n;
            return ETF_OK;
        }
        if (cur.kind == ETF_REF_LIST_TAIL) {
            k = cur.u.n;
            p = cur.p;
        } else if (cur.kind == ETF_REF_TERM && avail(cur.p, end) >= 5 && cur.p[0] == ETF_LIST) {
            k = be32(cur.p + 1);
            p = cur.p + 5;
        } else if (cur.kind == ETF_REF_TERM && avail(cur.p, end) >= 1 && cur.p[0] == ETF_NIL) {
            *proper = true;
            *len = count;
            return ETF_OK;
        } else {
            *proper = false;
            return avail(cur.p, end) >= 1 || cur.kind != ETF_REF_TERM ? ETF_OK : ETF_BAD;
        }
        for (uint32_t j = 0; j < k; j++)
            if ((rc = etf_skip(p, end, &p)) != ETF_OK)
                return rc;
        count += k;
        cur = etf_term(p, end); /* the tail */
    }
}

/* ---- equality and order ------------------------------------------------- */

/* MODE_EQ* answer 0 for equal and nonzero otherwise, without order. */
enum { MODE_ORDER, MODE_EQ, MODE_EQ_BITWISE, MODE_EQ_ARITH };

static int cmp_rec(const etf_ref_t *a, const etf_ref_t *b, int mode, int depth, int *res);

static int atom_cmp(const etf_ref_t *a, const etf_ref_t *b, int *res)
{
    unsigned char ba[512], bb[512];
    const unsigned char *sa, *sb;
    size_t na, nb;
    int rc;
    if ((rc = atom_utf8(a, ba, &sa, &na)) != ETF_OK || (rc = atom_utf8(b, bb, &sb, &nb)) != ETF_OK)
        return rc;
    int c = memcmp(sa, sb, na < nb ? na : nb);
    *res = c ? (c < 0 ? -1 : 1) : sign3((int64_t)na, (int64_t)nb);
    return ETF_OK;
}

/* Data and bit size of a binary or bitstring. */
static int bits_view(const etf_ref_t *r, const unsigned char **d, uint64_t *bits)
{
    int rc = etf_bit_size(r, bits);
    if (rc != ETF_OK)
        return rc;
    *d = r->p + (r->p[0] == ETF_BINARY ? 5 : 6);
    return ETF_OK;
}

static int bits_cmp(const etf_ref_t *a, const etf_ref_t *b, int *res)
{
    const unsigned char *da, *db;
    uint64_t na, nb;
    int rc;
    if ((rc = bits_view(a, &da, &na)) != ETF_OK || (rc = bits_view(b, &db, &nb)) != ETF_OK)
        return rc;
    uint64_t common = na < nb ? na : nb;
    size_t full = (size_t)(common / 8);
    unsigned rest = (unsigned)(common % 8);
    int c = memcmp(da, db, full);
    if (c == 0 && rest) {
        unsigned mask = (0xFFu << (8 - rest)) & 0xFFu;
        unsigned x = da[full] & mask, y = db[full] & mask;
        c = (x > y) - (x < y);
    }
    *res = c ? (c < 0 ? -1 : 1) : (na > nb) - (na < nb);
    return ETF_OK;
}

static int span(const etf_ref_t *r, size_t *len)
{
    const unsigned char *next;
    int rc = etf_skip(r->p, r->end, &next);
    if (rc == ETF_OK)
        *len = (size_t)(next - r->p);
    return rc;
}

/* Identical bytes are the same term, whatever its type. */
static int same_bytes(const etf_ref_t *a, const etf_ref_t *b, bool *same)
{
    size_t la, lb;
    int rc;
    if ((rc = span(a, &la)) != ETF_OK || (rc = span(b, &lb)) != ETF_OK)
        return rc;
    *same = la == lb && memcmp(a->p, b->p, la) == 0;
    return ETF_OK;
}

/* The node atom of a pid, port or reference and where its fields start. */
static int node_and_rest(const etf_ref_t *r, size_t skip, etf_ref_t *node, const unsigned char **rest)
{
    if (avail(r->p, r->end) < 1 + skip)
        return ETF_BAD;
    *node = etf_term(r->p + 1 + skip, r->end);
    return skip_atom(node->p, r->end, rest);
}

/* Pids, ports, references and funs. Decided exactly when equal, and for
 * equality in the encodings term_to_binary writes; their order is left to
 * Erlang. */
static int opaque_cmp(const etf_ref_t *a, const etf_ref_t *b, int mode, int *res)
{
    bool same;
    int rc = same_bytes(a, b, &same);
    if (rc != ETF_OK)
        return rc;
    if (same) {
        *res = 0;
        return ETF_OK;
    }
    if (mode == MODE_ORDER)
        return ETF_UNSUP;
    unsigned char ta = a->p[0], tb = b->p[0];
    etf_ref_t na, nb;
    const unsigned char *ra, *rb;
    int eqnode;
    switch (ta) {
    case ETF_NEW_PID:
    case ETF_NEW_PORT:
    case ETF_V4_PORT:
    case ETF_NEWER_REFERENCE: {
        size_t skip = ta == ETF_NEWER_REFERENCE ? 2 : 0;
        if (tb != ta && !(ta != ETF_NEW_PID && ta != ETF_NEWER_REFERENCE &&
                          (tb == ETF_NEW_PORT || tb == ETF_V4_PORT)))
            return ETF_UNSUP; /* an older encoding on one side */
        if (ta == ETF_NEWER_REFERENCE && be16(a->p + 1) != be16(b->p + 1))
            return ETF_UNSUP;
        if ((rc = node_and_rest(a, skip, &na, &ra)) != ETF_OK ||
            (rc = node_and_rest(b, skip, &nb, &rb)) != ETF_OK)
            return rc;
        if ((rc = atom_cmp(&na, &nb, &eqnode)) != ETF_OK)
            return rc;
        if (eqnode != 0) {
            *res = 1;
            return ETF_OK;
        }
        if (ta == ETF_NEW_PID || ta == ETF_NEWER_REFERENCE || ta == tb) {
            /* Same encoding, same node: the remaining bytes are the identity
             * (same_bytes failed, so they differ unless the node atoms were
             * written differently). */
            size_t la = (size_t)(a->end - ra), lb = (size_t)(b->end - rb);
            size_t len = ta == ETF_NEW_PID      ? 12
                         : ta == ETF_NEW_PORT   ? 8
                         : ta == ETF_V4_PORT    ? 12
                                                : 4 + 4 * (size_t)be16(a->p + 1);
            if (la < len || lb < len)
                return ETF_BAD;
            *res = memcmp(ra, rb, len) != 0;
            return ETF_OK;
        }
        /* A NEW_PORT (32-bit number) against a V4_PORT (64-bit number). */
        const unsigned char *r4 = ta == ETF_NEW_PORT ? ra : rb, *r8 = ta == ETF_NEW_PORT ? rb : ra;
        const etf_ref_t *s4 = ta == ETF_NEW_PORT ? a : b, *s8 = ta == ETF_NEW_PORT ? b : a;
        if (avail(r4, s4->end) < 8 || avail(r8, s8->end) < 12)
            return ETF_BAD;
        *res = !(be32(r8) == 0 && memcmp(r8 + 4, r4, 8) == 0);
        return ETF_OK;
    }
    case ETF_EXPORT:
    case ETF_NEW_FUN:
        if (ta != tb) {
            *res = 1; /* a local fun is never an external one */
            return ETF_OK;
        }
        if (ta == ETF_NEW_FUN)
            return ETF_UNSUP;
        {
            /* fun M:F/A: equal when module, function and arity are. */
            etf_ref_t ma = etf_term(a->p + 1, a->end), mb = etf_term(b->p + 1, b->end);
            const unsigned char *fa, *fb, *aa, *ab;
            int c;
            if ((rc = skip_atom(ma.p, a->end, &fa)) != ETF_OK ||
                (rc = skip_atom(mb.p, b->end, &fb)) != ETF_OK)
                return rc;
            etf_ref_t xa = etf_term(fa, a->end), xb = etf_term(fb, b->end);
            if ((rc = skip_atom(fa, a->end, &aa)) != ETF_OK ||
                (rc = skip_atom(fb, b->end, &ab)) != ETF_OK)
                return rc;
            if ((rc = atom_cmp(&ma, &mb, &c)) != ETF_OK)
                return rc;
            if (c == 0 && (rc = atom_cmp(&xa, &xb, &c)) != ETF_OK)
                return rc;
            if (c == 0) {
                etf_ref_t ya = etf_term(aa, a->end), yb = etf_term(ab, b->end);
                return cmp_rec(&ya, &yb, MODE_EQ, 0, res);
            }
            *res = 1;
            return ETF_OK;
        }
    default:
        return ETF_UNSUP; /* pre-OTP-23 encodings */
    }
}

/* Maps. Equal when their pairs are, in the order written; a difference at
 * the same key means not equal; anything else is Erlang's to say. */
static int map_cmp(const etf_ref_t *a, const etf_ref_t *b, int mode, int depth, int *res)
{
    uint32_t sa, sb;
    int rc, c;
    if ((rc = etf_map_size(a, &sa)) != ETF_OK || (rc = etf_map_size(b, &sb)) != ETF_OK)
        return rc;
    if (sa != sb) {
        if (mode == MODE_ORDER)
            return ETF_UNSUP;
        *res = 1;
        return ETF_OK;
    }
    const unsigned char *pa = a->p + 5, *pb = b->p + 5;
    bool differs = false;
    for (uint32_t k = 0; k < sa; k++) {
        etf_ref_t ka = etf_term(pa, a->end), kb = etf_term(pb, b->end);
        if ((rc = cmp_rec(&ka, &kb, MODE_EQ_BITWISE, depth + 1, &c)) != ETF_OK)
            return rc;
        if (c != 0)
            return ETF_UNSUP;
        if ((rc = etf_skip(pa, a->end, &pa)) != ETF_OK || (rc = etf_skip(pb, b->end, &pb)) != ETF_OK)
            return rc;
        etf_ref_t va = etf_term(pa, a->end), vb = etf_term(pb, b->end);
        if ((rc = cmp_rec(&va, &vb, mode == MODE_ORDER ? MODE_EQ_ARITH : mode, depth + 1, &c)) != ETF_OK)
            return rc;
        if (c != 0)
            differs = true;
        if ((rc = etf_skip(pa, a->end, &pa)) != ETF_OK || (rc = etf_skip(pb, b->end, &pb)) != ETF_OK)
            return rc;
    }
    if (differs && mode == MODE_ORDER)
        return ETF_UNSUP;
    *res = differs;
    return ETF_OK;
}

/* Integers held in 32 bits or less: the common case, read without num_t. */
static inline bool quick_int(const etf_ref_t *r, int64_t *v)
{
    switch (r->kind) {
    case ETF_REF_INT:
        *v = r->u.i;
        return true;
    case ETF_REF_BYTE:
        *v = r->p[0];
        return true;
    case ETF_REF_TERM:
        if (r->end - r->p >= 2 && r->p[0] == ETF_SMALL_INTEGER) {
            *v = r->p[1];
            return true;
        }
        if (r->end - r->p >= 5 && r->p[0] == ETF_INTEGER) {
            *v = (int32_t)be32(r->p + 1);
            return true;
        }
        return false;
    default:
        return false;
    }
}

static int cmp_rec(const etf_ref_t *a0, const etf_ref_t *b0, int mode, int depth, int *res)
{
    etf_ref_t a = *a0, b = *b0;
    int64_t ia, ib;
    if (quick_int(&a, &ia) && quick_int(&b, &ib)) {
        *res = sign3(ia, ib);
        return ETF_OK;
    }
    if (depth > ETF_MAX_DEPTH)
        return ETF_UNSUP;
    for (;;) {
        etf_class_t ca, cb;
        int rc;
        if ((rc = etf_class(&a, &ca)) != ETF_OK || (rc = etf_class(&b, &cb)) != ETF_OK)
            return rc;
        if (ca != cb) {
            *res = ca < cb ? -1 : 1;
            return ETF_OK;
        }
        switch (ca) {
        case ETF_C_NUMBER: {
            num_t x, y;
            if ((rc = get_num(&a, &x)) != ETF_OK || (rc = get_num(&b, &y)) != ETF_OK)
                return rc;
            if (mode == MODE_ORDER)
                *res = num_cmp(&x, &y);
            else if (mode == MODE_EQ_ARITH)
                *res = num_cmp(&x, &y) != 0;
            else
                *res = !num_eq(&x, &y, mode == MODE_EQ_BITWISE);
            return ETF_OK;
        }
        case ETF_C_ATOM:
            return atom_cmp(&a, &b, res);
        case ETF_C_NIL:
            *res = 0;
            return ETF_OK;
        case ETF_C_BITS:
            return bits_cmp(&a, &b, res);
        case ETF_C_MAP:
            return map_cmp(&a, &b, mode, depth, res);
        case ETF_C_REF:
        case ETF_C_FUN:
        case ETF_C_PORT:
        case ETF_C_PID:
            return opaque_cmp(&a, &b, mode, res);
        case ETF_C_TUPLE: {
            uint32_t na, nb;
            const unsigned char *pa, *pb;
            if ((rc = etf_tuple(&a, &na, &pa)) != ETF_OK || (rc = etf_tuple(&b, &nb, &pb)) != ETF_OK)
                return rc;
            if (na != nb) {
                *res = na < nb ? -1 : 1;
                return ETF_OK;
            }
            for (uint32_t k = 0; k < na; k++) {
                etf_ref_t ea = etf_term(pa, a.end), eb = etf_term(pb, b.end);
                if ((rc = cmp_rec(&ea, &eb, mode, depth + 1, res)) != ETF_OK || *res != 0)
                    return rc;
                if (k + 1 < na && ((rc = etf_skip(pa, a.end, &pa)) != ETF_OK ||
                                   (rc = etf_skip(pb, b.end, &pb)) != ETF_OK))
                    return rc;
            }
            *res = 0;
            return ETF_OK;
        }
        case ETF_C_LIST: {
            const unsigned char *sa, *sb;
            size_t la, lb;
            if (string_bytes(&a, &sa, &la) && string_bytes(&b, &sb, &lb)) {
                /* Both all small integers: a shorter one is a prefix, and [] < [_|_]. */
                int c = memcmp(sa, sb, la < lb ? la : lb);
                *res = c ? (c < 0 ? -1 : 1) : (la > lb) - (la < lb);
                return ETF_OK;
            }
            bool ka, kb;
            etf_ref_t ha, hb, ta, tb;
            if ((rc = etf_list_split(&a, &ka, &ha, &ta)) != ETF_OK ||
                (rc = etf_list_split(&b, &kb, &hb, &tb)) != ETF_OK)
                return rc;
            if ((rc = cmp_rec(&ha, &hb, mode, depth + 1, res)) != ETF_OK || *res != 0)
                return rc;
            a = ta;
            b = tb;
            continue;
        }
        }
        return ETF_BAD;
    }
}

int etf_eq(const etf_ref_t *a, const etf_ref_t *b, etf_eq_mode_t mode, bool *equal)
{
    int res = 1;
    int rc = cmp_rec(a, b, mode == ETF_EQ_BITWISE ? MODE_EQ_BITWISE
                           : mode == ETF_EQ_ARITH ? MODE_EQ_ARITH
                                                  : MODE_EQ,
                     0, &res);
    *equal = res == 0;
    return rc;
}

int etf_cmp(const etf_ref_t *a, const etf_ref_t *b, int *order)
{
    return cmp_rec(a, b, MODE_ORDER, 0, order);
}

/* ---- writing ------------------------------------------------------------ */

static size_t int_size(int64_t i)
{
    if (i >= 0 && i <= 255)
        return 2;
    if (i >= INT32_MIN && i <= INT32_MAX)
        return 5;
    uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    size_t n = 0;
    while (m) {
        n++;
        m >>= 8;
    }
    return 3 + n;
}

static void int_write(int64_t i, unsigned char *w)
{
    if (i >= 0 && i <= 255) {
        w[0] = ETF_SMALL_INTEGER;
        w[1] = (unsigned char)i;
        return;
    }
    if (i >= INT32_MIN && i <= INT32_MAX) {
        w[0] = ETF_INTEGER;
        put_be32(w + 1, (uint32_t)i);
        return;
    }
    uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    size_t n = 0;
    w[0] = ETF_SMALL_BIG;
    w[2] = i < 0;
    while (m) {
        w[3 + n++] = (unsigned char)m;
        m >>= 8;
    }
    w[1] = (unsigned char)n;
}

/* A list element that term_to_binary would put in a STRING_EXT: 0..255. */
static bool small_byte(const etf_ref_t *r, unsigned char *b)
{
    int64_t v;
    if (r->kind == ETF_REF_BYTE) {
        *b = r->p[0];
        return true;
    }
    if (etf_is_integer(r) && etf_get_int64(r, &v) == ETF_OK && v >= 0 && v <= 255) {
        *b = (unsigned char)v;
        return true;
    }
    return false;
}

/* Walks a list given as elements then a tail, folding the tail's cons
 * cells in: measures it (out == NULL) or writes it in the form measured
 * before (as_string). */
static int list_walk(const etf_ref_t *elems, size_t n, const etf_ref_t *tail, unsigned char *out,
                     bool as_string, size_t *count, bool *all_small, size_t *size)
{
    size_t cnt = 0, sz = 0, pos = 5;
    bool small = true;
    int rc;
    unsigned char b;
    etf_ref_t t = *tail;
    if (out && as_string)
        pos = 3;
    for (size_t k = 0; k < n; k++) {
        size_t es;
        cnt++;
        if (!small_byte(&elems[k], &b))
            small = false;
        if (out && as_string) {
            out[pos++] = b;
            continue;
        }
        if ((rc = etf_size(&elems[k], &es)) != ETF_OK)
            return rc;
        if (out)
            etf_write(&elems[k], out + pos);
        pos += es;
        sz += es;
    }
    for (;;) {
        const unsigned char *s;
        size_t ln;
        if (string_bytes(&t, &s, &ln)) {
            cnt += ln;
            sz += 2 * ln;
            if (out && as_string) {
                memcpy(out + pos, s, ln);
                pos += ln;
            } else if (out) {
                for (size_t k = 0; k < ln; k++) {
                    out[pos++] = ETF_SMALL_INTEGER;
                    out[pos++] = s[k];
                }
            }
            t = etf_term(etf_nil_bytes + 1, etf_nil_bytes + sizeof etf_nil_bytes);
            break;
        }
        bool cons;
        etf_ref_t h, nt;
        if ((rc = etf_list_split(&t, &cons, &h, &nt)) != ETF_OK)
            return rc;
        if (!cons)
            break;
        size_t es;
        cnt++;
        if (!small_byte(&h, &b))
            small = false;
        if (out && as_string) {
            out[pos++] = b;
        } else {
            if ((rc = etf_size(&h, &es)) != ETF_OK)
                return rc;
            if (out)
                etf_write(&h, out + pos);
            pos += es;
            sz += es;
        }
        t = nt;
    }
    etf_class_t tc;
    if ((rc = etf_class(&t, &tc)) != ETF_OK)
        return rc;
    size_t ts;
    if ((rc = etf_size(&t, &ts)) != ETF_OK)
        return rc;
    if (out) {
        if (cnt == 0) {
            etf_write(&t, out);
        } else if (as_string) {
            out[0] = ETF_STRING;
            put_be16(out + 1, (uint32_t)cnt);
        } else {
            out[0] = ETF_LIST;
            put_be32(out + 1, (uint32_t)cnt);
            etf_write(&t, out + pos);
        }
        return ETF_OK;
    }
    if (cnt > UINT32_MAX)
        return ETF_UNSUP;
    *count = cnt;
    *all_small = small && tc == ETF_C_NIL && cnt <= 65535;
    *size = cnt == 0 ? ts : *all_small ? 3 + cnt : 5 + sz + ts;
    return ETF_OK;
}

int etf_list_size(const etf_ref_t *elems, size_t n, const etf_ref_t *tail, size_t *size)
{
    size_t count;
    bool all_small;
    return list_walk(elems, n, tail, NULL, false, &count, &all_small, size);
}

void etf_list_write(const etf_ref_t *elems, size_t n, const etf_ref_t *tail, unsigned char *out)
{
    size_t count, size;
    bool all_small;
    if (list_walk(elems, n, tail, NULL, false, &count, &all_small, &size) == ETF_OK)
        (void)list_walk(elems, n, tail, out, all_small && count > 0, &count, &all_small, &size);
}

int etf_size(const etf_ref_t *r, size_t *size)
{
    switch (r->kind) {
    case ETF_REF_TERM:
        return span(r, size);
    case ETF_REF_STR_TAIL:
        *size = 3 + r->u.n;
        return avail(r->p, r->end) >= r->u.n ? ETF_OK : ETF_BAD;
    case ETF_REF_LIST_TAIL:
        return etf_list_size(NULL, 0, r, size);
    case ETF_REF_BYTE:
        *size = 2;
        return ETF_OK;
    case ETF_REF_INT:
        *size = int_size(r->u.i);
        return ETF_OK;
    case ETF_REF_FLOAT:
        *size = 9;
        return ETF_OK;
    }
    return ETF_BAD;
}

void etf_write(const etf_ref_t *r, unsigned char *out)
{
    size_t n;
    uint64_t bits;
    switch (r->kind) {
    case ETF_REF_TERM:
        if (span(r, &n) == ETF_OK)
            memcpy(out, r->p, n);
        return;
    case ETF_REF_STR_TAIL:
        out[0] = ETF_STRING;
        put_be16(out + 1, r->u.n);
        memcpy(out + 3, r->p, r->u.n);
        return;
    case ETF_REF_LIST_TAIL:
        etf_list_write(NULL, 0, r, out);
        return;
    case ETF_REF_BYTE:
        out[0] = ETF_SMALL_INTEGER;
        out[1] = r->p[0];
        return;
    case ETF_REF_INT:
        int_write(r->u.i, out);
        return;
    case ETF_REF_FLOAT:
        memcpy(&bits, &r->u.d, sizeof bits);
        out[0] = ETF_NEW_FLOAT;
        put_be32(out + 1, (uint32_t)(bits >> 32));
        put_be32(out + 5, (uint32_t)bits);
        return;
    }
}

size_t etf_tuple_header(uint32_t arity, unsigned char *out)
{
    if (arity < 256) {
        out[0] = ETF_SMALL_TUPLE;
        out[1] = (unsigned char)arity;
        return 2;
    }
    out[0] = ETF_LARGE_TUPLE;
    put_be32(out + 1, arity);
    return 5;
}
