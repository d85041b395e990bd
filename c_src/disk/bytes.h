/* Bytes as the disk tier writes and reads them (the formats in doc/):
 * little-endian fixed-width integers and LEB128 varints, stored and loaded
 * one byte at a time (never a struct or an integer copied whole), so that
 * a file means the same on every host whatever its byte order and
 * alignment; a growable output buffer; a bounded reader over bytes that
 * may be anything; and the order of keys as byte strings.
 *
 * The buffer (bytes_t) serves two kinds of encoder:
 *   - append, then check once: bytes_put*, bytes_room and what calls them
 *     never answer; a failed allocation sets the sticky flag nomem, after
 *     which nothing more is written, so that the bytes written are a prefix
 *     of those asked for (the logs: the caller checks nomem at the end);
 *   - reserve, then write: bytes_reserve, bytes_reserve_to and bytes_set
 *     answer false and leave the buffer and nomem as they were, so that a
 *     builder can make all the room a step needs first and fail with
 *     nothing half-written (SSTable blocks). A bytes_put* into room so
 *     reserved cannot fail.
 * Invariants kept: len <= cap; after a reserve that answered true, p is
 * not NULL, even for no bytes; once nomem is set the buffer takes no byte
 * more (every reserve answers false) until its owner clears the flag or
 * frees the buffer.
 *
 * The reader (bytes_rd_t) keeps a sticky flag too: a decoder reads its
 * fields and checks bad once. A reader never moves past its end: a read
 * beyond it yields zeros and marks the reader bad. varint_get reads
 * between two pointers and never past the second.
 *
 * Varints: 7 bits a byte, least significant group first, the high bit set
 * on every byte but the last (as LevelDB and protobuf). A reader takes at
 * most VARINT_MAX bytes and refuses a value above the maximum it is given,
 * so that no length read from a file can overflow what it is added to.
 *
 * Thread-safety: no shared state; each buffer and reader belongs to one
 * thread (any number of readers may read the same bytes at once). */
#ifndef XETS_DISK_BYTES_H
#define XETS_DISK_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixed-width integers and varints ---- */

#define VARINT_MAX 10 /* bytes of the longest varint: 64 bits in 7-bit groups */

static inline void le32_store(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t le32_load(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t le64_load(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Writes v at p (room for VARINT_MAX bytes); returns the bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint from *p, not past end, into *v and moves *p past it.
 * False, with *p unchanged, if it runs past end, is longer than
 * VARINT_MAX bytes, or is above max. */
static inline bool varint_get(const uint8_t **p, const uint8_t *end, uint64_t max, uint64_t *v)
{
    const uint8_t *q = *p;
    uint64_t x = 0;
    for (unsigned shift = 0; q < end && shift < 7 * VARINT_MAX; shift += 7) {
        uint64_t b = *q++;
        if (shift == 63 && b > 1) /* the tenth byte holds the 64th bit only */
            return false;
        x |= (b & 0x7F) << shift;
        if (b < 0x80) {
            if (x > max)
                return false;
            *v = x;
            *p = q;
            return true;
        }
    }
    return false;
}

/* ---- the output buffer ---- */

/* p[0 .. len) written, room for cap. Starts as BYTES_INIT (all zero);
 * freed with bytes_free. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool nomem;
} bytes_t;

#define BYTES_INIT {NULL, 0, 0, false}

static inline void bytes_free(bytes_t *b)
{
    free(b->p);
    *b = (bytes_t)BYTES_INIT;
}

/* Room for size bytes in all; false if nomem is set or memory runs out
 * (b unchanged). Grows at least twofold, for appends in amortized
 * constant time. */
static inline bool bytes_reserve_to(bytes_t *b, size_t size)
{
    if (b->nomem)
        return false;
    if (b->p != NULL && size <= b->cap)
        return true;
    size_t cap = b->cap <= SIZE_MAX / 2 ? 2 * b->cap : SIZE_MAX;
    if (cap < 64)
        cap = 64;
    if (cap < size)
        cap = size;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Room for n more bytes; false as bytes_reserve_to. */
static inline bool bytes_reserve(bytes_t *b, size_t n)
{
    return n <= SIZE_MAX - b->len && bytes_reserve_to(b, b->len + n);
}

/* Where n more bytes go (len is not moved), or NULL with nomem set. */
static inline uint8_t *bytes_room(bytes_t *b, size_t n)
{
    if (!bytes_reserve(b, n)) {
        b->nomem = true;
        return NULL;
    }
    return b->p + b->len;
}

/* Appends d[0 .. n), or sets nomem. */
static inline void bytes_put(bytes_t *b, const void *d, size_t n)
{
    uint8_t *w = bytes_room(b, n);
    if (w) {
        if (n)
            memcpy(w, d, n);
        b->len += n;
    }
}

static inline void bytes_put_u8(bytes_t *b, uint8_t v)
{
    bytes_put(b, &v, 1);
}

static inline void bytes_put_u32(bytes_t *b, uint32_t v)
{
    uint8_t w[4];
    le32_store(w, v);
    bytes_put(b, w, 4);
}

static inline void bytes_put_u64(bytes_t *b, uint64_t v)
{
    uint8_t w[8];
    le64_store(w, v);
    bytes_put(b, w, 8);
}

/* Makes b hold exactly d[0 .. n); false as bytes_reserve_to, b then
 * empty. */
static inline bool bytes_set(bytes_t *b, const void *d, size_t n)
{
    b->len = 0;
    if (!bytes_reserve(b, n))
        return false;
    bytes_put(b, d, n);
    return true;
}

/* ---- the bounded reader ---- */

/* A reader of p[0 .. end - p). */
typedef struct bytes_rd {
    const uint8_t *p, *end;
    bool bad;
} bytes_rd_t;

static inline bytes_rd_t bytes_rd(const uint8_t *p, size_t len)
{
    return (bytes_rd_t){p, p + len, false};
}

static inline size_t bytes_left(const bytes_rd_t *r)
{
    return (size_t)(r->end - r->p);
}

/* The next n bytes, or NULL (the reader turns bad) when fewer are left. */
static inline const uint8_t *bytes_get(bytes_rd_t *r, size_t n)
{
    if (r->bad || bytes_left(r) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

static inline uint8_t bytes_get_u8(bytes_rd_t *r)
{
    const uint8_t *p = bytes_get(r, 1);
    return p ? p[0] : 0;
}

static inline uint32_t bytes_get_u32(bytes_rd_t *r)
{
    const uint8_t *p = bytes_get(r, 4);
    return p ? le32_load(p) : 0;
}

static inline uint64_t bytes_get_u64(bytes_rd_t *r)
{
    const uint8_t *p = bytes_get(r, 8);
    return p ? le64_load(p) : 0;
}

/* ---- byte strings ---- */

/* memcmp order of byte strings, a proper prefix first: the order of every
 * key and bound in the disk tier (store.h, "Order"). */
static inline int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0; /* a zero-length key may come as NULL */
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* How many bytes a and b share at their start. */
static inline size_t bytes_common(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Whether n bytes at s are a name that files record (an order or a key
 * encoding: "hash.2", "exact.1"): 1 to max bytes of printable ASCII, no
 * space. */
static inline bool bytes_name_ok(const void *s, size_t n, size_t max)
{
    const unsigned char *c = s;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (c[i] <= ' ' || c[i] > '~')
            return false;
    return true;
}

#endif
