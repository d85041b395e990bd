/* Seeds for the LSM store's fuzz target (test/c/lsm_fuzz.c): inputs of
 * test/c/lsm_fuzz.h of every kind, each of a few valid batches as the
 * store writes them (lsm.c: entry_put, list_put): puts, rewrites and
 * tombstones of a few keys, bag lists of several objects, deltas that
 * keep the count right, some batches of several entries; and two at the
 * edges: deltas whose sum overflows, a bag list holding an empty object
 * under an empty key. The same run writes the same files.
 *
 *   lsm_seeds OUTDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/bytes.h"
#include "lsm_fuzz.h"
#include "rng.h"

static void put_varint(bytes_t *b, uint64_t v)
{
    uint8_t *p = bytes_room(b, 10);
    CHECK(p != NULL, "out of memory");
    b->len += varint_put(p, v);
}

/* One entry: key, blob, delta. */
static void entry(bytes_t *b, const char *key, const bytes_t *blob, int64_t delta)
{
    put_varint(b, strlen(key));
    bytes_put(b, key, strlen(key));
    put_varint(b, blob->len);
    bytes_put(b, blob->p, blob->len);
    put_varint(b, ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63));
}

static void write_seed(const char *dir, int i, const bytes_t *in)
{
    CHECK(!in->nomem, "out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/seed%03d", dir, i);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(in->p, 1, in->len, f) == in->len && fclose(f) == 0, "writing %s", path);
}

/* An input of one batch. */
static void one_batch(const char *dir, int i, unsigned kind, const bytes_t *batch)
{
    bytes_t in = BYTES_INIT;
    bytes_put_u8(&in, (uint8_t)kind);
    bytes_put_u8(&in, (uint8_t)(batch->len & 0xff));
    bytes_put_u8(&in, (uint8_t)(batch->len >> 8));
    bytes_put(&in, batch->p, batch->len);
    write_seed(dir, i, &in);
    bytes_free(&in);
}

static void edges(const char *dir, int i)
{
    bytes_t batch = BYTES_INIT, blob = BYTES_INIT;
    bytes_put(&blob, "x", 1);
    entry(&batch, "k1", &blob, INT64_MAX);
    entry(&batch, "k2", &blob, INT64_MAX);
    one_batch(dir, i, 0, &batch);
    batch.len = blob.len = 0;
    put_varint(&blob, 0);
    bytes_put(&blob, "\0\0\0\0\0\0\0\0", 8);
    entry(&batch, "", &blob, 1);
    one_batch(dir, i + 1, 1, &batch);
    bytes_free(&batch);
    bytes_free(&blob);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2, "usage: lsm_seeds OUTDIR");
    edges(argv[1], 48);
    uint64_t rng = 1;
    for (int i = 0; i < 48; i++) {
        unsigned kind = (unsigned)i % LSM_FUZZ_KINDS;
        bool multi = kind == 1 || kind == 2;
        size_t nkeys = 1 + rng_below(&rng, 6);
        unsigned objs[8] = {0}; /* per key: objects now */
        bytes_t in = BYTES_INIT;
        bytes_put_u8(&in, (uint8_t)kind);
        for (size_t nb = 1 + rng_below(&rng, 8); nb > 0; nb--) {
            bytes_t batch = BYTES_INIT;
            for (size_t ne = 1 + (rng_below(&rng, 4) == 0 ? rng_below(&rng, 4) : 0); ne > 0; ne--) {
                unsigned k = (unsigned)rng_below(&rng, nkeys);
                char key[16];
                snprintf(key, sizeof key, "k%u", k);
                bytes_t blob = BYTES_INIT;
                unsigned n = rng_below(&rng, 5) == 0 ? 0 : multi ? 1 + (unsigned)rng_below(&rng, 4) : 1;
                for (unsigned j = 0; j < n; j++) {
                    char val[64];
                    int vl = snprintf(val, sizeof val, "v%u.%u.%llu", k, j,
                                      (unsigned long long)rng_below(&rng, 1000));
                    if (multi) {
                        put_varint(&blob, (uint64_t)vl);
                        uint8_t *fp = bytes_room(&blob, 8);
                        CHECK(fp != NULL, "out of memory");
                        le64_store(fp, rng_next(&rng));
                        blob.len += 8;
                    }
                    bytes_put(&blob, val, (size_t)vl);
                }
                entry(&batch, key, &blob, (int64_t)n - (int64_t)objs[k]);
                objs[k] = n;
                bytes_free(&blob);
            }
            CHECK(!batch.nomem && batch.len < 65536, "batch");
            bytes_put_u8(&in, (uint8_t)(batch.len & 0xff));
            bytes_put_u8(&in, (uint8_t)(batch.len >> 8));
            bytes_put(&in, batch.p, batch.len);
            bytes_free(&batch);
        }
        write_seed(argv[1], i, &in);
        bytes_free(&in);
    }
    return 0;
}
