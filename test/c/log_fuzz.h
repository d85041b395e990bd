/* What the fuzz targets of the disk tier's logs (wal_fuzz.c,
 * manifest_fuzz.c) share with the seeds they start from (log_seeds.c):
 * the file numbers the seeds are written for, and resealing.
 *
 * A mutated log almost never passes its checksums, so mutations would
 * reach only the framing. Each target therefore also reads the input
 * resealed: every record's header and checksums computed again around
 * whatever its payload now holds, so that the decoders of headers,
 * batches and edits see mutated bytes past the framing. */
#ifndef XETS_TEST_LOG_FUZZ_H
#define XETS_TEST_LOG_FUZZ_H

#include <stdint.h>

#include "check.h"
#include "disk/log_record.h"

#define FUZZ_WAL_NUMBER 3
#define FUZZ_MANIFEST_NUMBER 2

/* The records of in[0 .. len), sealed again for file number into out:
 * each keeps its length (cut to the bytes left), type (0 made 1) and
 * durability claim (cut to its offset); a stretch too short for a header
 * stays as it is, a torn tail. */
static inline void log_fuzz_reseal(const uint8_t *in, size_t len, uint64_t number, bytes_t *out)
{
    size_t off = 0;
    while (len - off >= LOG_HEADER) {
        const uint8_t *h = in + off;
        size_t n = le32_load(h + LOG_AT_LENGTH);
        if (n > len - off - LOG_HEADER)
            n = len - off - LOG_HEADER;
        size_t start = log_record_begin(out);
        bytes_put(out, h + LOG_HEADER, n);
        uint64_t synced = le64_load(h + LOG_AT_SYNCED);
        REQUIRE(log_record_end(out, start, h[LOG_AT_TYPE] ? h[LOG_AT_TYPE] : 1,
                               synced < start ? synced : start, number) == XETS_OK);
        off += LOG_HEADER + n;
    }
    bytes_put(out, in + off, len - off);
    REQUIRE(!out->nomem);
}

/* A target's whole run: check on the input as it is, then resealed for
 * file number. */
static inline void log_fuzz_run(const uint8_t *data, size_t size, uint64_t number,
                                void (*check)(const uint8_t *d, size_t n))
{
    check(data, size);
    bytes_t sealed = BYTES_INIT;
    log_fuzz_reseal(data, size, number, &sealed);
    check(sealed.p, sealed.len);
    bytes_free(&sealed);
}

#endif
