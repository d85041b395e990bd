/* Fuzz target of the WAL's reader (c_src/disk/wal.c, over
 * disk/log_record.c): the input is read as WAL file FUZZ_WAL_NUMBER, as
 * it is and resealed (test/c/log_fuzz.h). Built with clang's libFuzzer
 * (`make fuzz`) or with test/c/fuzz_driver.c (`make check`); seeded with
 * WALs written by the encoder (test/c/log_seeds.c).
 *
 * Beyond what ASan and UBSan catch, it checks: every status is one the
 * header documents; batches lie within the input, their sequence numbers
 * at least the header's first_seq and increasing; a replay stops where it
 * says; the part before a torn tail, read alone, replays to its end with
 * the same batches (cutting the tail leaves a clean log). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "check.h"
#include "disk/wal.h"
#include "log_fuzz.h"
#include "status.h"

/* Replays d[0 .. n) from a copy of exactly that size; returns the status
 * it ends with, *end where, *digest a hash of the batches. */
static int replay(const uint8_t *d, size_t n, uint64_t *end, uint64_t *digest)
{
    uint8_t *copy = malloc(n ? n : 1);
    REQUIRE(copy);
    if (n)
        memcpy(copy, d, n);
    wal_replay_t r;
    *digest = 0;
    int st = wal_replay_open(&r, copy, n, FUZZ_WAL_NUMBER);
    REQUIRE(st == XETS_OK || st == XETS_TORN || st == XETS_CORRUPT || st == XETS_BADARG);
    REQUIRE(st != XETS_TORN || r.off == 0);
    uint64_t seq, prev = 0;
    const uint8_t *batch;
    size_t len;
    for (bool first = true; st == XETS_OK; first = false) {
        st = wal_replay_next(&r, &seq, &batch, &len);
        REQUIRE(st == XETS_OK || st == XETS_END || st == XETS_TORN || st == XETS_CORRUPT);
        if (st != XETS_OK)
            break;
        REQUIRE(batch >= copy && len <= n && batch - copy <= (ptrdiff_t)(n - len));
        REQUIRE(batch + len == copy + r.off);
        REQUIRE(first ? seq >= r.header.first_seq : seq > prev);
        prev = seq;
        *digest = XXH3_64bits_withSeed(batch, len, *digest ^ seq);
    }
    REQUIRE(r.off <= n && (st != XETS_END || r.off == n));
    *end = r.off;
    free(copy);
    return st;
}

static void check(const uint8_t *d, size_t n)
{
    uint64_t end, digest, end2, digest2;
    int st = replay(d, n, &end, &digest);
    if (st == XETS_TORN && end > 0) {
        REQUIRE(replay(d, end, &end2, &digest2) == XETS_END);
        REQUIRE(end2 == end && digest2 == digest);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_fuzz_run(data, size, FUZZ_WAL_NUMBER, check);
    return 0;
}
