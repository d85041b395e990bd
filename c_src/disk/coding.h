/* Byte coding shared by the disk formats: little-endian fixed-width
 * integers and LEB128 varints, written and read one byte at a time (never
 * a struct or an integer copied whole), so that a file means the same on
 * every host whatever its byte order and alignment; and a growable byte
 * buffer to build them in.
 *
 * Varints: 7 bits a byte, least significant group first, the high bit set
 * on every byte but the last (as LevelDB and protobuf). A reader takes at
 * most VARINT_MAX bytes and refuses a value above the maximum it is given,
 * so that no length read from a file can overflow what it is added to.
 *
 * Thread-safety: no shared state. */
#ifndef XETS_DISK_CODING_H
#define XETS_DISK_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VARINT_MAX 10 /* bytes of the longest varint: 64 bits in 7-bit groups */

static inline void le_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void le_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t le_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t le_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Writes v at p (room for VARINT_MAX bytes); returns the bytes written. */
static inline size_t varint_put(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* Reads a varint from *p, not past end, into *v and moves *p past it.
 * False, with *p unchanged, if it runs past end, is longer than
 * VARINT_MAX bytes, or is above max. */
static inline bool varint_get(const unsigned char **p, const unsigned char *end, uint64_t max,
                              uint64_t *v)
{
    const unsigned char *q = *p;
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

/* A growable byte buffer; zero is an empty one. */
typedef struct dbuf {
    unsigned char *p;
    size_t len, cap;
} dbuf_t;

/* Room for n more bytes; false if out of memory (the buffer unchanged). */
static inline bool dbuf_reserve(dbuf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return true;
    if (n > SIZE_MAX / 2 - b->len)
        return false;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Room for size bytes in all; false if out of memory (the buffer
 * unchanged). */
static inline bool dbuf_room(dbuf_t *b, size_t size)
{
    return size <= b->len || dbuf_reserve(b, size - b->len);
}

/* Appends n bytes; the room must have been reserved. */
static inline void dbuf_put(dbuf_t *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Makes the buffer hold exactly p[0..n); false if out of memory. */
static inline bool dbuf_set(dbuf_t *b, const void *p, size_t n)
{
    b->len = 0;
    if (!dbuf_reserve(b, n))
        return false;
    dbuf_put(b, p, n);
    return true;
}

static inline void dbuf_free(dbuf_t *b)
{
    free(b->p);
    *b = (dbuf_t){0};
}

/* memcmp order of byte strings, a proper prefix first: the order of every
 * key and bound in the disk tier (store.h, "Order"). */
static inline int bytes_cmp(const unsigned char *a, size_t alen, const unsigned char *b,
                            size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0; /* a zero-length key may come as NULL */
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* How many bytes a and b share at their start. */
static inline size_t bytes_common(const unsigned char *a, size_t alen, const unsigned char *b,
                                  size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

#endif
