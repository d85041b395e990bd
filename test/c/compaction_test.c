/* disk/compaction.c, leveled compaction's choice, on manifest states built
 * by hand:
 * 1. Nothing is due in an empty state, nor below the level-0 trigger.
 * 2. Level 0 at its trigger: all its tables, newest first, then exactly
 *    the level-1 tables their keys overlap, by key; tombstones dropped
 *    only when no deeper level overlaps the inputs' range.
 * 3. A level over its bound: one table at a time, round robin by key
 *    (wrapping), with the tables under it; a table with nothing under it
 *    is moved; the level of the higher score goes first; the last level
 *    is never compacted.
 * 4. Random flushes and the compactions they make due, applied as the
 *    store applies them (each merge's output one table over the inputs'
 *    whole range, or a move): every level >= 1 stays a level of disjoint
 *    key ranges, and level 0 stays below its trigger once nothing is due. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/compaction.h"
#include "rng.h"

static const compaction_options_t OPT = {.level1_bytes = 400, .l0_tables = 4};

/* Keys are 4 ASCII digits: "0000" .. "9999". */
typedef struct table {
    unsigned level, lo, hi;
    uint64_t bytes;
} table_t;

static char key_text[64][5];

/* Adds tables t[0 .. n) to ms, numbered from ms->next_file. */
static void add(manifest_state_t *ms, const table_t *t, size_t n)
{
    manifest_file_t f[16];
    static char keys[16][2][5];
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i][0], 5, "%04u", t[i].lo);
        snprintf(keys[i][1], 5, "%04u", t[i].hi);
        f[i] = (manifest_file_t){.number = ms->next_file + i, .level = t[i].level,
                                 .bytes = t[i].bytes, .entries = 1,
                                 .smallest = (const uint8_t *)keys[i][0], .smallest_len = 4,
                                 .largest = (const uint8_t *)keys[i][1], .largest_len = 4};
    }
    manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE, .next_file = ms->next_file + n,
                         .add = f, .nadd = n};
    CHECK(manifest_state_apply(ms, &e) == XETS_OK, "apply");
}

static unsigned key_of(const uint8_t *k)
{
    return (unsigned)atoi((const char *)memcpy(key_text[0], k, 4));
}

static void test_nothing_due(void)
{
    manifest_state_t ms = {.next_file = 1};
    bytes_t after[MANIFEST_LEVELS] = {0};
    compaction_t c;
    CHECK(!compaction_pick(&ms, &OPT, after, &c), "empty: nothing due");
    table_t t[3] = {{0, 10, 20, 50}, {0, 15, 30, 50}, {0, 5, 8, 50}};
    add(&ms, t, 3);
    CHECK(!compaction_pick(&ms, &OPT, after, &c), "3 tables in level 0: nothing due");
    manifest_state_free(&ms);
    printf("  nothing due: empty, and below the level-0 trigger\n");
}

static void test_level0(void)
{
    manifest_state_t ms = {.next_file = 1};
    bytes_t after[MANIFEST_LEVELS] = {0};
    /* Level 1: 2, 3, 4 (numbers 1..3); level 0: 5..8. */
    table_t l1[3] = {{1, 0, 99, 10}, {1, 100, 199, 10}, {1, 500, 599, 10}};
    add(&ms, l1, 3);
    table_t l0[4] = {{0, 120, 130, 10}, {0, 150, 160, 10}, {0, 110, 190, 10}, {0, 140, 141, 10}};
    add(&ms, l0, 4);
    compaction_t c;
    CHECK(compaction_pick(&ms, &OPT, after, &c), "level 0 at its trigger");
    CHECK(c.level == 0 && c.nupper == 4 && c.nin == 5 && !c.move, "level 0: %u, %zu of %zu",
          c.level, c.nupper, c.nin);
    for (size_t i = 0; i < 4; i++)
        CHECK(c.in[i]->number == 7 - (uint64_t)i && c.in[i]->level == 0, "level 0 newest first: %zu is %llu",
              i, (unsigned long long)c.in[i]->number);
    CHECK(c.in[4]->number == 2, "the level-1 table under them: %llu",
          (unsigned long long)c.in[4]->number);
    CHECK(c.drop_tombstones, "nothing deeper: tombstones dropped");
    compaction_free(&c);
    /* A level-2 table under the range: tombstones kept. */
    table_t l2[1] = {{2, 180, 185, 10}};
    add(&ms, l2, 1);
    CHECK(compaction_pick(&ms, &OPT, after, &c) && c.level == 0 && !c.drop_tombstones,
          "a deeper table overlaps: tombstones kept");
    compaction_free(&c);
    manifest_state_free(&ms);
    printf("  level 0: all its tables newest first, the level-1 tables under them\n");
}

static void test_levels(void)
{
    manifest_state_t ms = {.next_file = 1};
    bytes_t after[MANIFEST_LEVELS] = {0};
    /* Level 1 over its bound (500 of 400): 5 tables; level 2 one table
     * under the second. */
    table_t t[6] = {{1, 300, 399, 100}, {1, 0, 99, 100}, {1, 100, 199, 100},
                    {1, 400, 499, 100}, {1, 200, 299, 100}, {2, 150, 250, 100}};
    add(&ms, t, 6);
    unsigned want[7] = {0, 100, 200, 300, 400, 0, 100};
    for (int i = 0; i < 7; i++) {
        compaction_t c;
        CHECK(compaction_pick(&ms, &OPT, after, &c) && c.level == 1 && c.nupper == 1,
              "level 1 due");
        unsigned lo = key_of(c.in[0]->smallest);
        CHECK(lo == want[i], "round robin: pick %d starts at %u, want %u", i, lo, want[i]);
        bool under = lo == 100 || lo == 200;
        CHECK(c.nin == 1 + (size_t)under && c.move == !under, "pick at %u: %zu inputs, move %d", lo,
              c.nin, c.move);
        if (under)
            CHECK(c.in[1]->level == 2, "the table under it");
        compaction_free(&c);
    }
    /* Level 0 at 2x its trigger outranks level 1 at 1.25x. */
    table_t l0[8];
    for (int i = 0; i < 8; i++)
        l0[i] = (table_t){0, 10 * (unsigned)i, 10 * (unsigned)i + 5, 10};
    add(&ms, l0, 8);
    compaction_t c;
    CHECK(compaction_pick(&ms, &OPT, after, &c) && c.level == 0, "the higher score first");
    compaction_free(&c);
    manifest_state_free(&ms);
    /* The last level holds any amount: never compacted. */
    manifest_state_t last = {.next_file = 1};
    table_t big[1] = {{MANIFEST_LEVELS - 1, 0, 10, UINT64_MAX / 4}};
    add(&last, big, 1);
    bytes_t after2[MANIFEST_LEVELS] = {0};
    CHECK(!compaction_pick(&last, &OPT, after2, &c), "the last level is never compacted");
    manifest_state_free(&last);
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        bytes_free(&after[l]);
    printf("  levels: round robin, moves, scores, the last level\n");
}

/* Every level >= 1 of ms: disjoint ranges. */
static void check_levels(const manifest_state_t *ms, uint64_t seed, int step)
{
    for (int l = 1; l < MANIFEST_LEVELS; l++)
        for (size_t i = 0; i < ms->level[l].n; i++)
            for (size_t j = i + 1; j < ms->level[l].n; j++) {
                const manifest_file_t *a = &ms->level[l].files[i], *b = &ms->level[l].files[j];
                bool apart = bytes_cmp(a->largest, 4, b->smallest, 4) < 0 ||
                             bytes_cmp(b->largest, 4, a->smallest, 4) < 0;
                CHECK(apart, "seed %llu step %d: level %d tables %llu and %llu overlap",
                      (unsigned long long)seed, step, l, (unsigned long long)a->number,
                      (unsigned long long)b->number);
            }
}

static void test_random(uint64_t seed)
{
    unsigned long merges = 0, moves = 0, deepest = 0;
    for (uint64_t r = 0; r < 200; r++) {
        uint64_t rng = seed + r;
        manifest_state_t ms = {.next_file = 1};
        bytes_t after[MANIFEST_LEVELS] = {0};
        for (int step = 0; step < 300; step++) {
            unsigned lo = (unsigned)rng_below(&rng, 9000);
            table_t t = {0, lo, lo + (unsigned)rng_below(&rng, 1000), 100};
            add(&ms, &t, 1);
            compaction_t c;
            while (compaction_pick(&ms, &OPT, after, &c)) {
                /* Applied as a store applies it: the inputs out, one table
                 * over their whole range in (a merge), or the one moved. */
                uint64_t gone[64];
                unsigned a = 9999, z = 0;
                uint64_t bytes = 0;
                CHECK(c.nin <= 64, "inputs");
                for (size_t i = 0; i < c.nin; i++) {
                    gone[i] = c.in[i]->number;
                    unsigned x = key_of(c.in[i]->smallest), y = key_of(c.in[i]->largest);
                    a = x < a ? x : a;
                    z = y > z ? y : z;
                    bytes += c.in[i]->bytes;
                }
                char k[2][5];
                snprintf(k[0], 5, "%04u", a);
                snprintf(k[1], 5, "%04u", z);
                manifest_file_t out = {.number = ms.next_file, .level = c.level + 1,
                                       .bytes = c.move ? c.in[0]->bytes : bytes * 9 / 10,
                                       .entries = 1, .smallest = (const uint8_t *)k[0],
                                       .smallest_len = 4, .largest = (const uint8_t *)k[1],
                                       .largest_len = 4};
                manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE, .next_file = ms.next_file + 1,
                                     .remove = gone, .nremove = c.nin, .add = &out, .nadd = 1};
                moves += c.move;
                merges += !c.move;
                if (c.level + 1 > deepest)
                    deepest = c.level + 1;
                compaction_free(&c);
                CHECK(manifest_state_apply(&ms, &e) == XETS_OK, "apply a compaction");
                check_levels(&ms, seed + r, step);
            }
            CHECK(ms.level[0].n < OPT.l0_tables, "level 0 at its trigger, nothing due");
        }
        for (int l = 0; l < MANIFEST_LEVELS; l++)
            bytes_free(&after[l]);
        manifest_state_free(&ms);
    }
    printf("  random: 200 runs of 300 flushes from seed %llu: %lu merges, %lu moves, levels "
           "down to %lu, every level disjoint\n",
           (unsigned long long)seed, merges, moves, deepest);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
    printf("compaction_test: seed %llu\n", (unsigned long long)seed);
    test_nothing_due();
    test_level0();
    test_levels();
    test_random(seed);
    printf("compaction_test: ok\n");
    return 0;
}
