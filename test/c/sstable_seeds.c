/* Seeds for the SSTable fuzz target (test/c/sstable_fuzz.c): one file per
 * table, small enough for the fuzz driver (64 KiB), of every shape the
 * reader meets: no entry, one, keys that are prefixes of each other and
 * the empty key, one key's entries over many blocks, restart points at
 * every entry or every 16, blocks of one entry or of many, both orders'
 * names, and random sets, their values random or runs (so that data
 * blocks are stored compressed and raw); every fourth without a filter
 * (an older writer's table), the others with one; every fifth with
 * compression off (a version 1 table).
 *
 *   sstable_seeds OUTDIR */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sstable_mem.h"

static uint64_t rng = 12345;
static int nfiles;
static const char *outdir;

static void add(sst_builder_t *b, const void *key, size_t klen, uint64_t seq, const void *val,
                size_t vlen)
{
    if (sst_builder_add(b, key, klen, seq, (uint8_t)(seq % 3), val, vlen, OWN_CALL) != XETS_OK) {
        fprintf(stderr, "sstable_seeds: an entry refused\n");
        exit(1);
    }
}

static sst_builder_t *start(mem_file_t *f, size_t block_size, unsigned interval)
{
    *f = MEM_FILE_INIT;
    sst_options_t o = {.order = nfiles % 2 ? "hash.2" : "key",
                       .encoding = nfiles % 2 ? "exact.1" : "ordered.1",
                       .block_size = block_size,
                       .restart_interval = interval,
                       .no_filter = nfiles % 4 == 3,
                       .no_compression = nfiles % 5 == 4};
    sst_builder_t *b;
    if (sst_builder_new(&o, mem_write, f, &b) != XETS_OK)
        exit(1);
    return b;
}

static void finish(sst_builder_t *b, mem_file_t *f)
{
    sst_built_t built;
    if (sst_builder_finish(b, &built, OWN_CALL) != XETS_OK)
        exit(1);
    sst_builder_free(b);
    char path[4096];
    snprintf(path, sizeof path, "%s/table%03d", outdir, nfiles++);
    FILE *out = fopen(path, "wb");
    if (out == NULL || fwrite(f->b.p, 1, f->b.len, out) != f->b.len || fclose(out) != 0) {
        perror(path);
        exit(1);
    }
    bytes_free(&f->b);
}

typedef struct key {
    unsigned char b[12];
    size_t len;
} seed_key_t;

static int key_cmp(const void *x, const void *y)
{
    const seed_key_t *a = x, *b = y;
    return bytes_cmp(a->b, a->len, b->b, b->len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sstable_seeds OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    mem_file_t f;
    sst_builder_t *b;

    finish(start(&f, 0, 0), &f);

    b = start(&f, 0, 0);
    add(b, "k", 1, 7, "v", 1);
    finish(b, &f);

    static const char *prefixes[] = {"", "a", "aa", "aab", "ab", "b", "b\xff", "b\xff\xff"};
    for (unsigned interval = 1; interval <= 2; interval++) {
        b = start(&f, 8 * interval, interval);
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
            for (uint64_t seq = 2; seq > 0; seq--)
                add(b, prefixes[i], strlen(prefixes[i]), seq, "", 0);
        finish(b, &f);
    }

    b = start(&f, 64, 4);
    add(b, "j", 1, 1, "before", 6);
    for (uint64_t seq = 60; seq > 0; seq--)
        add(b, "k", 1, seq, &seq, 1);
    add(b, "l", 1, 1, "after", 5);
    finish(b, &f);

    static const size_t block_sizes[] = {1, 48, 200, 1024, 4096};
    for (int t = 0; t < 20; t++) {
        b = start(&f, block_sizes[t % 5], t % 3 == 0 ? 1 : 16);
        seed_key_t keys[150];
        size_t n = 1 + rng_below(&rng, 150);
        for (size_t i = 0; i < n; i++) {
            keys[i].len = rng_below(&rng, sizeof keys[i].b + 1);
            for (size_t j = 0; j < keys[i].len; j++)
                keys[i].b[j] = "\0\1ab\xff"[rng_below(&rng, 5)];
        }
        qsort(keys, n, sizeof keys[0], key_cmp);
        unsigned char val[64];
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && key_cmp(&keys[i - 1], &keys[i]) == 0)
                continue;
            unsigned shift = (unsigned)rng_below(&rng, 60);
            for (uint64_t seq = 1 + rng_below(&rng, 3); seq > 0; seq--) {
                size_t vlen = rng_below(&rng, sizeof val);
                bool run = t % 2 == 0;
                for (size_t j = 0; j < vlen; j++)
                    val[j] = run && j > 0 ? val[0] : (unsigned char)rng_next(&rng);
                add(b, keys[i].b, keys[i].len, seq << shift, val, vlen);
            }
        }
        finish(b, &f);
    }
    printf("sstable seeds: %d tables in %s\n", nfiles, outdir);
    return 0;
}
