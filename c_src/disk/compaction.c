/* Leveled compaction's choice: compaction.h. */
#include "compaction.h"

#include <stdlib.h>

uint64_t compaction_level_bytes(const compaction_options_t *o, unsigned level)
{
    if (level + 1 >= MANIFEST_LEVELS)
        return UINT64_MAX;
    uint64_t b = o->level1_bytes;
    for (unsigned l = 1; l < level; l++)
        b = b > UINT64_MAX / LEVEL_RATIO ? UINT64_MAX : b * LEVEL_RATIO;
    return b;
}

static bool overlaps(const manifest_file_t *f, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                     size_t hilen)
{
    return bytes_cmp(f->largest, f->largest_len, lo, lolen) >= 0 &&
           bytes_cmp(f->smallest, f->smallest_len, hi, hilen) <= 0;
}

static int by_number_desc(const void *a, const void *b)
{
    uint64_t x = (*(const manifest_file_t *const *)a)->number;
    uint64_t y = (*(const manifest_file_t *const *)b)->number;
    return (x < y) - (x > y);
}

static int by_smallest(const void *a, const void *b)
{
    const manifest_file_t *x = *(const manifest_file_t *const *)a;
    const manifest_file_t *y = *(const manifest_file_t *const *)b;
    return bytes_cmp(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
}

/* The level to compact, or -1. */
static int most_due(const manifest_state_t *ms, const compaction_options_t *o)
{
    int best = -1;
    double top = 1.0;
    for (unsigned l = 0; l + 1 < MANIFEST_LEVELS; l++) {
        double score;
        if (l == 0) {
            score = (double)ms->level[0].n / (double)o->l0_tables;
        } else {
            uint64_t bytes = 0;
            for (size_t i = 0; i < ms->level[l].n; i++)
                bytes += ms->level[l].files[i].bytes;
            score = (double)bytes / (double)compaction_level_bytes(o, l);
        }
        if (score >= top && ms->level[l].n > 0) {
            top = score;
            best = (int)l;
        }
    }
    return best;
}

bool compaction_pick(const manifest_state_t *ms, const compaction_options_t *o,
                     bytes_t after[MANIFEST_LEVELS], compaction_t *out)
{
    *out = (compaction_t){0};
    int l = most_due(ms, o);
    if (l < 0)
        return false;
    const manifest_level_t *up = &ms->level[l], *down = &ms->level[l + 1];
    const manifest_file_t **in = malloc((up->n + down->n) * sizeof *in);
    if (in == NULL)
        return false;
    size_t n = 0;
    if (l == 0) {
        for (size_t i = 0; i < up->n; i++)
            in[n++] = &up->files[i];
        qsort(in, n, sizeof *in, by_number_desc);
    } else {
        /* The first table by key after where level l's last compaction
         * ended, or the first. */
        const manifest_file_t *pick = NULL, *first = NULL;
        for (size_t i = 0; i < up->n; i++) {
            const manifest_file_t *f = &up->files[i];
            if (first == NULL || by_smallest(&f, &first) < 0)
                first = f;
            if (bytes_cmp(f->smallest, f->smallest_len, after[l].p, after[l].len) > 0 &&
                (pick == NULL || by_smallest(&f, &pick) < 0))
                pick = f;
        }
        in[n++] = pick != NULL ? pick : first;
    }
    size_t nupper = n;
    /* The range of the upper inputs. */
    const manifest_file_t *lo = in[0], *hi = in[0];
    for (size_t i = 1; i < nupper; i++) {
        if (bytes_cmp(in[i]->smallest, in[i]->smallest_len, lo->smallest, lo->smallest_len) < 0)
            lo = in[i];
        if (bytes_cmp(in[i]->largest, in[i]->largest_len, hi->largest, hi->largest_len) > 0)
            hi = in[i];
    }
    const uint8_t *rlo = lo->smallest, *rhi = hi->largest;
    size_t rlolen = lo->smallest_len, rhilen = hi->largest_len;
    for (size_t i = 0; i < down->n; i++)
        if (overlaps(&down->files[i], rlo, rlolen, rhi, rhilen))
            in[n++] = &down->files[i];
    qsort(in + nupper, n - nupper, sizeof *in, by_smallest);
    /* The whole range of the inputs, for the levels below. */
    if (n > nupper) {
        const manifest_file_t *a = in[nupper], *z = in[n - 1];
        if (bytes_cmp(a->smallest, a->smallest_len, rlo, rlolen) < 0) {
            rlo = a->smallest;
            rlolen = a->smallest_len;
        }
        if (bytes_cmp(z->largest, z->largest_len, rhi, rhilen) > 0) {
            rhi = z->largest;
            rhilen = z->largest_len;
        }
    }
    bool below = false;
    for (unsigned d = (unsigned)l + 2; d < MANIFEST_LEVELS && !below; d++)
        for (size_t i = 0; i < ms->level[d].n && !below; i++)
            below = overlaps(&ms->level[d].files[i], rlo, rlolen, rhi, rhilen);
    if (l > 0 && !bytes_set(&after[l], in[0]->largest, in[0]->largest_len)) {
        free(in);
        return false;
    }
    *out = (compaction_t){.level = (unsigned)l, .in = in, .nin = n, .nupper = nupper,
                          .move = n == 1, .drop_tombstones = !below};
    return true;
}

bool compaction_is_due(const manifest_state_t *ms, const compaction_options_t *o)
{
    return most_due(ms, o) >= 0;
}

void compaction_free(compaction_t *c)
{
    free(c->in);
    c->in = NULL;
    c->nin = 0;
}
