/* Bytes as the disk tier writes and reads them: little-endian fixed-width
 * integers stored and loaded byte by byte (never by copying a struct, so
 * that a file means the same on every machine), a growable output buffer,
 * and a bounded reader over bytes that may be anything.
 *
 * Both the buffer and the reader keep a sticky failure flag instead of
 * answering every call: an encoder appends its fields and checks once at
 * the end (bytes_t.nomem); a decoder reads its fields and checks once
 * (bytes_rd_t.bad). A reader never moves past its end: a read beyond it
 * yields zeros and marks the reader bad.
 *
 * Thread-safety: none needed; each buffer and reader belongs to one
 * thread. */
#ifndef XETS_DISK_BYTES_H
#define XETS_DISK_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline uint64_t le64_load(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* An output buffer: p[0 .. len) written, room for cap. Starts zeroed
 * (BYTES_INIT); freed with bytes_free. Once an allocation has failed,
 * nomem stays set and nothing more is written. */
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

/* Where n more bytes go (len is not moved), or NULL with nomem set. */
static inline uint8_t *bytes_room(bytes_t *b, size_t n)
{
    if (b->nomem)
        return NULL;
    if (!b->p || b->cap - b->len < n) {
        size_t need = b->len + n;
        size_t cap = b->cap <= SIZE_MAX / 2 && b->cap ? 2 * b->cap : 256;
        if (cap < need)
            cap = need;
        uint8_t *p = need < n ? NULL : realloc(b->p, cap);
        if (!p) {
            b->nomem = true;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

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

#endif
