/* Objects of the store tests: a key names its id in decimal digits (other
 * bytes are the test's to choose), and an object (key id, vid) carries both
 * ids, then filler derived from them, so that a reader can tell a torn
 * object or one filed under another key. */
#ifndef XETS_TEST_OBJECTS_H
#define XETS_TEST_OBJECTS_H

#include <stdint.h>
#include <string.h>

#include "check.h"
#include "store.h"

static inline uint32_t id_of(const unsigned char *b, size_t len)
{
    uint32_t id = 0;
    for (size_t i = 0; i < len; i++)
        if (b[i] >= '0' && b[i] <= '9')
            id = id * 10 + (uint32_t)(b[i] - '0');
    return id;
}

typedef struct vbytes {
    unsigned char b[8 + 16];
    size_t len;
} vbytes_t;

static inline vbytes_t val_of(uint32_t kid, uint32_t vid)
{
    vbytes_t v;
    memcpy(v.b, &kid, 4);
    memcpy(v.b + 4, &vid, 4);
    v.len = 8 + vid % 13;
    for (size_t i = 8; i < v.len; i++)
        v.b[i] = (unsigned char)(kid * 7 + vid * 13 + i);
    return v;
}

/* Checks that r is a well-formed object of its key; returns its vid. */
static inline uint32_t vid_of(const rec_t *r)
{
    CHECK(r->vlen >= 8 && r->vlen <= 8 + 16, "vlen %zu", r->vlen);
    uint32_t kid, vid;
    memcpy(&kid, r->val, 4);
    memcpy(&vid, r->val + 4, 4);
    CHECK(kid == id_of(r->key, r->klen), "object of key %u filed under key %u", kid,
          id_of(r->key, r->klen));
    vbytes_t v = val_of(kid, vid);
    CHECK(v.len == r->vlen && memcmp(v.b, r->val, v.len) == 0, "torn object: key %u vid %u",
          kid, vid);
    return vid;
}

#endif
