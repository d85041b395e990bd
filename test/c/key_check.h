/* An independent reader of the key layout (c_src/key_codec.c, "Layout"),
 * for tests: key_check_one(p, len) tells whether p holds exactly one
 * well-formed encoding, with map keys in strictly increasing order. It
 * walks with an explicit stack, as the encoder does, so deep keys do not
 * overflow the C stack. Not a decoder: it checks shape, not meaning. */
#ifndef XETS_TEST_KEY_CHECK_H
#define XETS_TEST_KEY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end;
} kc_t;

static bool kc_need(kc_t *c, size_t n)
{
    return (size_t)(c->end - c->p) >= n;
}

/* len(n). */
static bool kc_len(kc_t *c, uint64_t *n)
{
    if (!kc_need(c, 1))
        return false;
    if (*c->p != 0xFF) {
        *n = *c->p++;
        return true;
    }
    if (!kc_need(c, 5))
        return false;
    *n = (uint64_t)c->p[1] << 24 | (uint64_t)c->p[2] << 16 | (uint64_t)c->p[3] << 8 | c->p[4];
    c->p += 5;
    return *n >= 255; /* the short form is the only form below 255 */
}

/* bytes(s): groups of 8 and a marker; padding bits are zero. */
static bool kc_bytes(kc_t *c)
{
    for (;;) {
        if (!kc_need(c, 9))
            return false;
        unsigned m = c->p[8];
        if (m == 0xFF) {
            c->p += 9;
            continue;
        }
        if (m > 64)
            return false;
        for (unsigned bit = m; bit < 64; bit++)
            if (c->p[bit / 8] & (0x80 >> (bit % 8)))
                return false;
        c->p += 9;
        return true;
    }
}

/* body(v) of a number, its bytes inverted when inv. */
static bool kc_body(kc_t *c, unsigned char inv)
{
    if (!kc_need(c, 1))
        return false;
    unsigned char b0 = c->p[0] ^ inv;
    uint64_t L;
    if (b0 != 0xFF) {
        L = b0;
        c->p++;
    } else {
        if (!kc_need(c, 5))
            return false;
        L = (uint64_t)(c->p[1] ^ inv) << 24 | (uint64_t)(c->p[2] ^ inv) << 16 |
            (uint64_t)(c->p[3] ^ inv) << 8 | (c->p[4] ^ inv);
        c->p += 5;
    }
    if (!kc_need(c, L) || (L > 0 && (c->p[0] ^ inv) == 0))
        return false; /* no leading zero byte */
    c->p += L;
    for (size_t k = 0;; k++) { /* fraction chunks, the last with its low bit clear */
        if (!kc_need(c, 1))
            return false;
        unsigned char f = *c->p++ ^ inv;
        if (!(f & 1))
            return f != 0 || k == 0; /* only an integer's fraction is a zero chunk */
    }
}

static bool kc_node(kc_t *c)
{
    if (!kc_need(c, 1))
        return false;
    unsigned char m = *c->p++;
    if (m == 0x00)
        return true;
    if (m != 0x01 || !kc_bytes(c) || !kc_need(c, 4))
        return false;
    c->p += 4;
    return true;
}

static int kc_segcmp(const unsigned char *a, size_t la, const unsigned char *b, size_t lb)
{
    int r = memcmp(a, b, la < lb ? la : lb);
    return r ? r : (la > lb) - (la < lb);
}

/* Pending work: n more encodings; for a map's keys, where the last began. */
typedef struct {
    uint64_t n;
    uint64_t keys; /* of these, how many are map keys still to come (checked in order) */
    const unsigned char *prev;
    size_t prev_len;
    bool cons; /* a list tail: one encoding, then done */
} kc_frame_t;

static bool key_check_one(const unsigned char *p, size_t len)
{
    kc_t c = {p, p + len};
    size_t cap = 64, depth = 0;
    kc_frame_t *st = malloc(cap * sizeof *st);
    bool ok = st != NULL;
    if (ok)
        st[depth++] = (kc_frame_t){1, 0, NULL, 0, false};
    while (ok && depth > 0) {
        kc_frame_t *f = &st[depth - 1];
        if (f->n == 0) {
            depth--;
            continue;
        }
        f->n--;
        bool is_key = f->keys > 0;
        if (is_key)
            f->keys--;
        const unsigned char *start = c.p;
        kc_frame_t push = {0, 0, NULL, 0, false};
        if (!kc_need(&c, 1)) {
            ok = false;
            break;
        }
        uint64_t n;
        switch (*c.p++) {
        case 0x10: ok = kc_body(&c, 0xFF); break;
        case 0x11: break;
        case 0x12: ok = kc_body(&c, 0x00); break;
        case 0x13: ok = kc_need(&c, 8); c.p += ok ? 8 : 0; break;
        case 0x20: ok = kc_bytes(&c); break;
        case 0x30:
            ok = kc_node(&c) && kc_need(&c, 1) && c.p[0] <= 5 && kc_need(&c, 1 + 4 * (size_t)c.p[0]);
            if (ok) {
                size_t nw = c.p[0];
                ok = nw == 0 || memcmp(c.p + 1, "\0\0\0\0", 4) != 0; /* high zero words dropped */
                c.p += 1 + 4 * nw;
            }
            break;
        case 0x40:
            ok = kc_bytes(&c) && kc_need(&c, 12);
            if (ok) {
                push.n = (uint64_t)c.p[8] << 24 | (uint64_t)c.p[9] << 16 | (uint64_t)c.p[10] << 8 | c.p[11];
                c.p += 12;
            }
            break;
        case 0x41: ok = kc_bytes(&c) && kc_bytes(&c) && kc_len(&c, &n); break;
        case 0x50: ok = kc_node(&c) && kc_need(&c, 8); c.p += ok ? 8 : 0; break;
        case 0x60: ok = kc_need(&c, 8) && (c.p += 8, kc_node(&c)); break;
        case 0x70: ok = kc_len(&c, &push.n); break;
        case 0x80:
            ok = kc_len(&c, &n);
            push.n = 2 * n;
            push.keys = n;
            break;
        case 0x90: break;
        case 0xA0: push.n = 2; break; /* head, then the tail */
        case 0xB0: ok = kc_bytes(&c); break;
        default: ok = false;
        }
        if (!ok)
            break;
        if (is_key) { /* map keys strictly increase; a key's encoding ends at the next push */
            /* the key may itself have parts: its end is known only once they are read,
             * so compare the prefix read so far only for keys without parts */
            if (push.n == 0) {
                size_t l = (size_t)(c.p - start);
                if (f->prev && kc_segcmp(f->prev, f->prev_len, start, l) >= 0) {
                    ok = false;
                    break;
                }
                f->prev = start;
                f->prev_len = l;
            } else {
                f->prev = NULL; /* keys with parts: order not checked here */
            }
        }
        if (f->n == 0)
            depth--; /* done with it before its last term's parts: a list's cells do not pile up */
        if (push.n > 0) {
            if (push.n > (uint64_t)(c.end - c.p)) { /* every encoding takes a byte */
                ok = false;
                break;
            }
            if (depth == cap) {
                kc_frame_t *s = realloc(st, 2 * cap * sizeof *st);
                if (!s) {
                    ok = false;
                    break;
                }
                st = s;
                cap *= 2;
            }
            st[depth++] = push;
        }
    }
    free(st);
    return ok && c.p == c.end;
}

#endif
