/* Seeds for the fuzz targets of the WAL and the manifest
 * (test/c/wal_fuzz.c, test/c/manifest_fuzz.c): logs written by their
 * encoders, one file per input, for the file numbers of log_fuzz.h: WALs
 * of up to 40 batches of many sizes, written with each kind of sync, some
 * cut short or followed by zeros; manifests of up to 30 edits that add,
 * remove and move files, and a directory listing. The same run writes
 * the same files.
 *
 *   log_seeds wal|manifest OUTDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk/manifest.h"
#include "disk/wal.h"
#include "log_fuzz.h"
#include "rng.h"

static void write_seed(const char *dir, int i, const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/seed%03d", dir, i);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, len, f) == len && fclose(f) == 0, "writing %s", path);
}

/* Ends some seeds torn: cut inside their last record, or followed by
 * zeros. */
static void write_log(const char *dir, int i, bytes_t *b, uint64_t *rng)
{
    switch (rng_below(rng, 4)) {
    case 0:
        write_seed(dir, i, b->p, b->len - rng_below(rng, LOG_HEADER));
        break;
    case 1: {
        size_t zeros = 1 + rng_below(rng, 64);
        uint8_t *tail = bytes_room(b, zeros);
        CHECK(tail, "out of memory");
        memset(tail, 0, zeros);
        write_seed(dir, i, b->p, b->len + zeros);
        break;
    }
    default:
        write_seed(dir, i, b->p, b->len);
    }
}

static void wals(const char *dir)
{
    uint64_t rng = 1;
    const wal_header_t header[2] = {{{WAL_VERSION, "exact.1", "hash.2"}, 1},
                                    {{WAL_VERSION, "ordered.1", "key"}, 1000}};
    uint8_t batch[300];
    for (int i = 0; i < 40; i++) {
        bytes_t b = BYTES_INIT;
        const wal_header_t *h = &header[i % 2];
        CHECK(wal_encode_header(&b, h, FUZZ_WAL_NUMBER) == XETS_OK, "header");
        uint64_t seq = h->first_seq, synced = 0;
        for (size_t n = rng_below(&rng, 41); n > 0; n--) {
            if (i % 3 == 1 || (i % 3 == 2 && rng_below(&rng, 3) == 0))
                synced = b.len; /* sync always; group commit */
            size_t len = rng_below(&rng, rng_below(&rng, 4) == 0 ? sizeof batch : 20);
            for (size_t k = 0; k < len; k++)
                batch[k] = (uint8_t)rng_next(&rng);
            CHECK(wal_encode_batch(&b, seq, batch, len, synced, FUZZ_WAL_NUMBER) == XETS_OK,
                  "batch");
            seq += 1 + rng_below(&rng, 4);
        }
        write_log(dir, i, &b, &rng);
        bytes_free(&b);
    }
}

static void manifests(const char *dir)
{
    uint64_t rng = 2;
    const manifest_header_t header = {{MANIFEST_VERSION, "exact.1", "hash.2"}, "bag", 2};
    for (int i = 0; i < 30; i++) {
        manifest_state_t s = {.next_file = 3, .log_number = 2};
        bytes_t b = BYTES_INIT;
        CHECK(manifest_encode_start(&b, &header, &s, FUZZ_MANIFEST_NUMBER) == XETS_OK, "start");
        for (size_t n = rng_below(&rng, 31); n > 0; n--) {
            char keys[2][16];
            manifest_file_t add[2];
            uint64_t remove[1];
            manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE | MANIFEST_SET_LAST_SEQ,
                                 .last_seq = s.last_seq + 10, .add = add, .remove = remove};
            /* One file flushed; now and then one moved down a level. */
            unsigned key = (unsigned)rng_below(&rng, 100);
            snprintf(keys[0], sizeof keys[0], "k%u", key);
            snprintf(keys[1], sizeof keys[1], "k%u~", key);
            add[e.nadd++] = (manifest_file_t){
                .number = s.next_file, .entries = 1 + rng_below(&rng, 1000),
                .bytes = 4096 * (1 + rng_below(&rng, 10)), .smallest_seq = s.last_seq + 1,
                .largest_seq = e.last_seq, .smallest = (const uint8_t *)keys[0],
                .smallest_len = (uint32_t)strlen(keys[0]), .largest = (const uint8_t *)keys[1],
                .largest_len = (uint32_t)strlen(keys[1])};
            e.next_file = s.next_file + 1 + rng_below(&rng, 2);
            if (s.level[0].n > 0 && rng_below(&rng, 3) == 0) {
                manifest_file_t moved = s.level[0].files[0];
                remove[e.nremove++] = moved.number;
                moved.level = 1 + (unsigned)rng_below(&rng, MANIFEST_LEVELS - 1);
                add[e.nadd++] = moved;
            }
            if (rng_below(&rng, 4) == 0) {
                e.set |= MANIFEST_SET_LOG_NUMBER;
                e.log_number = e.next_file - 1;
            }
            CHECK(manifest_encode_edit(&b, &e, b.len, FUZZ_MANIFEST_NUMBER) == XETS_OK, "edit");
            CHECK(manifest_state_apply(&s, &e) == XETS_OK, "the edit fits");
        }
        write_log(dir, i, &b, &rng);
        bytes_free(&b);
        manifest_state_free(&s);
    }
    /* manifest_fuzz.c also takes an input's lines for a directory listing. */
    static const char listing[] = "000003.sst\n000004.sst\n000002.wal\n000009.wal\nMANIFEST-000002\n"
                                  "MANIFEST-000001\n000012.sst.tmp\nMANIFEST-000013.tmp\nLOCK\n";
    write_seed(dir, 30, (const uint8_t *)listing, sizeof listing - 1);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "wal") != 0 && strcmp(argv[1], "manifest") != 0)) {
        fprintf(stderr, "usage: log_seeds wal|manifest OUTDIR\n");
        return 2;
    }
    if (strcmp(argv[1], "wal") == 0)
        wals(argv[2]);
    else
        manifests(argv[2]);
    return 0;
}
