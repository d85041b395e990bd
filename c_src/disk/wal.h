/* The write-ahead log of a persistent table (DESIGN.md, "The disk tier";
 * doc/wal_format.md): the codec of its records, over byte buffers. A WAL
 * file is a log (log_record.h) whose first record is a header (the
 * table's key encoding and order, the least sequence number of its
 * batches) and whose every other record is one batch: a sequence number
 * and the batch's bytes, opaque here (the LSM store defines them; a list
 * insert is one batch, so that a crash keeps all of it or none).
 *
 * Invariants a reader checks: the header comes first and only first;
 * sequence numbers are at least the header's first_seq and strictly
 * increase from record to record. A record that breaks them is corrupt,
 * whatever its checksums say.
 *
 * Thread-safety: no shared state; each buffer and replay belongs to one
 * thread. */
#ifndef XETS_DISK_WAL_H
#define XETS_DISK_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "log_record.h"

#define WAL_MAGIC "XETS-WAL"
#define WAL_VERSION 1

typedef struct wal_header {
    log_ident_t id;     /* version, key encoding, order */
    uint64_t first_seq; /* every batch of the file has a sequence number at least this */
} wal_header_t;

/* Appends the header record, which starts the file (offset 0). number:
 * the file's number (log_record.h). XETS_OK; XETS_BADARG (a name is not
 * valid); XETS_NOMEM. On failure b is as it was. */
int wal_encode_header(bytes_t *b, const wal_header_t *h, uint64_t number);

/* Appends the record of one batch: seq and batch[0 .. len). synced: how
 * many bytes of the file were durable when it is written (log_record.h).
 * XETS_OK; XETS_BADARG (longer than a record may be); XETS_NOMEM. On
 * failure b is as it was. */
int wal_encode_batch(bytes_t *b, uint64_t seq, const void *batch, size_t len, uint64_t synced,
                     uint64_t number);

/* A replay of the WAL file of number number whose bytes are buf[0 ..
 * len). */
typedef struct wal_replay {
    const uint8_t *buf;
    size_t len;
    uint64_t number;
    /* The next record; after XETS_TORN or XETS_CORRUPT, the offset of the
     * problem (for XETS_TORN, where the file is cut). */
    uint64_t off;
    uint64_t last_seq; /* of the last batch read, if any */
    bool any;
    wal_header_t header;
} wal_replay_t;

/* Reads the header. XETS_OK; XETS_TORN at 0 when the file holds no
 * complete header (empty, or torn before its first record was durable: a
 * log with no batch); XETS_CORRUPT at r->off; XETS_BADARG when the
 * format version is not WAL_VERSION (r->header.id.version tells which). */
int wal_replay_open(wal_replay_t *r, const uint8_t *buf, size_t len, uint64_t number);

/* The next batch, after wal_replay_open answered XETS_OK: XETS_OK with its
 * sequence number and bytes (within buf); XETS_END; XETS_TORN or
 * XETS_CORRUPT at r->off, where it stays. */
int wal_replay_next(wal_replay_t *r, uint64_t *seq, const uint8_t **batch, size_t *len);

#endif
