/* A plain model of a manifest's files, and random edits that fit it, for
 * the tests of the manifest's codec (manifest_test.c) and of its file
 * (manifest_file_test.c): random_edit builds an edit of adds (numbered
 * from next_file), removals, moves between levels and scalars, and
 * applies it to the model; model_check compares a state with the model. */
#ifndef XETS_TEST_MANIFEST_MODEL_H
#define XETS_TEST_MANIFEST_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "disk/manifest.h"
#include "rng.h"

#define MODEL_MAX 512
#define KEY_MAX 12

typedef struct {
    manifest_file_t f[MODEL_MAX];
    uint8_t keys[MODEL_MAX][2][KEY_MAX];
    size_t n;
    uint64_t next_file, last_seq, log_number, objects;
} model_t;

static inline void model_check(const model_t *m, const manifest_state_t *s)
{
    CHECK(s->next_file == m->next_file && s->last_seq == m->last_seq &&
              s->log_number == m->log_number && s->objects == m->objects,
          "scalars");
    size_t total = 0;
    for (int l = 0; l < MANIFEST_LEVELS; l++) {
        total += s->level[l].n;
        for (size_t i = 1; i < s->level[l].n; i++)
            CHECK(s->level[l].files[i - 1].number < s->level[l].files[i].number,
                  "level %d sorted by number", l);
    }
    CHECK(total == m->n, "%zu files, not %zu", total, m->n);
    for (size_t i = 0; i < m->n; i++) {
        const manifest_file_t *want = &m->f[i], *got = manifest_state_find(s, want->number);
        CHECK(got, "file %llu is live", (unsigned long long)want->number);
        CHECK(got->level == want->level && got->entries == want->entries &&
                  got->bytes == want->bytes && got->smallest_seq == want->smallest_seq &&
                  got->largest_seq == want->largest_seq &&
                  got->smallest_len == want->smallest_len &&
                  got->largest_len == want->largest_len &&
                  memcmp(got->smallest, want->smallest, want->smallest_len) == 0 &&
                  memcmp(got->largest, want->largest, want->largest_len) == 0,
              "file %llu as added", (unsigned long long)want->number);
    }
}

/* A random key pair into k, smallest first. */
static inline void random_keys(uint64_t *rng, uint8_t k[2][KEY_MAX], uint32_t len[2])
{
    for (int j = 0; j < 2; j++) {
        len[j] = (uint32_t)rng_below(rng, KEY_MAX + 1);
        for (uint32_t i = 0; i < len[j]; i++)
            k[j][i] = (uint8_t)('a' + rng_below(rng, 3));
    }
    size_t n = len[0] < len[1] ? len[0] : len[1];
    int c = memcmp(k[0], k[1], n);
    if (c > 0 || (c == 0 && len[0] > len[1])) {
        uint8_t t[KEY_MAX];
        memcpy(t, k[0], KEY_MAX);
        memcpy(k[0], k[1], KEY_MAX);
        memcpy(k[1], t, KEY_MAX);
        uint32_t tl = len[0];
        len[0] = len[1];
        len[1] = tl;
    }
}

typedef struct {
    manifest_edit_t e;
    uint64_t remove[8];
    manifest_file_t add[8];
    uint8_t keys[8][2][KEY_MAX];
} edit_buf_t;

/* A random edit that fits m, into eb; applies it to m. */
static inline void random_edit(uint64_t *rng, model_t *m, edit_buf_t *eb)
{
    manifest_edit_t *e = &eb->e;
    *e = (manifest_edit_t){.remove = eb->remove, .add = eb->add};
    if (rng_below(rng, 3) == 0) {
        e->set |= MANIFEST_SET_LAST_SEQ;
        m->last_seq += rng_below(rng, 100);
        e->last_seq = m->last_seq;
    }
    /* Removals and moves of live files. */
    for (size_t k = rng_below(rng, 3); k > 0 && m->n > 0; k--) {
        size_t i = rng_below(rng, m->n);
        manifest_file_t f = m->f[i];
        bool again = false; /* moved already by this edit */
        for (size_t j = 0; j < e->nremove; j++)
            again |= e->remove[j] == f.number;
        if (again)
            continue;
        eb->remove[e->nremove++] = f.number;
        if (rng_below(rng, 2) == 0) { /* moved */
            f.level = (f.level + 1) % MANIFEST_LEVELS;
            memcpy(eb->keys[e->nadd], m->keys[i], sizeof eb->keys[0]);
            f.smallest = eb->keys[e->nadd][0];
            f.largest = eb->keys[e->nadd][1];
            eb->add[e->nadd++] = f;
            m->f[i].level = f.level;
        } else {
            m->n--;
            m->f[i] = m->f[m->n];
            memcpy(m->keys[i], m->keys[m->n], sizeof m->keys[0]);
            m->f[i].smallest = m->keys[i][0];
            m->f[i].largest = m->keys[i][1];
        }
    }
    /* New files, numbered from next_file. */
    size_t fresh = m->n + 4 < MODEL_MAX ? rng_below(rng, 4) : 0;
    for (size_t k = 0; k < fresh; k++) {
        manifest_file_t *f = &eb->add[e->nadd];
        uint32_t len[2];
        random_keys(rng, eb->keys[e->nadd], len);
        uint64_t hi = m->last_seq ? rng_below(rng, m->last_seq + 1) : 0;
        *f = (manifest_file_t){.number = ++m->next_file,
                               .level = (unsigned)rng_below(rng, MANIFEST_LEVELS),
                               .entries = rng_next(rng),
                               .bytes = rng_next(rng),
                               .smallest_seq = hi ? rng_below(rng, hi + 1) : 0,
                               .largest_seq = hi,
                               .smallest = eb->keys[e->nadd][0],
                               .largest = eb->keys[e->nadd][1],
                               .smallest_len = len[0],
                               .largest_len = len[1]};
        memcpy(m->keys[m->n], eb->keys[e->nadd], sizeof m->keys[0]);
        m->f[m->n] = *f;
        m->f[m->n].smallest = m->keys[m->n][0];
        m->f[m->n].largest = m->keys[m->n][1];
        m->n++;
        e->nadd++;
    }
    if (fresh || rng_below(rng, 4) == 0) {
        m->next_file += rng_below(rng, 3) + 1;
        e->set |= MANIFEST_SET_NEXT_FILE;
        e->next_file = m->next_file;
    }
    if (rng_below(rng, 4) == 0 && m->next_file > m->log_number + 1) {
        m->log_number += rng_below(rng, m->next_file - m->log_number);
        e->set |= MANIFEST_SET_LOG_NUMBER;
        e->log_number = m->log_number;
    }
    if (rng_below(rng, 3) == 0) {
        /* Any count: the manifest records it, it does not judge it. */
        m->objects = rng_below(rng, 1000000);
        e->set |= MANIFEST_SET_OBJECTS;
        e->objects = m->objects;
    }
}

#endif
