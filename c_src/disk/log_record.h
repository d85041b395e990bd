/* The framing of the disk tier's logs, the write-ahead log (wal.h) and the
 * manifest (manifest.h): a log file is a sequence of records, each a
 * header and a payload, appended and never rewritten. doc/log_format.md
 * describes the bytes; in short:
 *
 *   0  u64 checksum  XXH3-64, seeded with the file's number, of bytes
 *                    8 .. 25 + length (all that follows it)
 *   8  u32 check     the low 32 bits of XXH3-64, same seed, of bytes 12 .. 25
 *  12  u32 length    of the payload, at most LOG_RECORD_MAX
 *  16  u8  type      enum log_type
 *  17  u64 synced    how much of the file was durable when the record was
 *                    written: never more than the record's own offset
 *  25  payload
 *
 * Every field is little-endian. The seed ties a record to its file, so
 * that bytes of another log (stale blocks a crash exposes, a copied file)
 * never read as a record of this one. The header check lets a reader
 * trust a length before it hashes what the length spans, which keeps the
 * search after a bad record linear.
 *
 * Torn or corrupt. A crash in the middle of appending leaves, after the
 * last durable byte, any mixture of what was written, zeros and old
 * bytes. Such damage lies beyond every `synced` claim that any record
 * written before the crash can make. So a bad record at offset o (one
 * that is cut short, or whose header or checksums do not match) is:
 *   - a torn tail (XETS_TORN), which recovery cuts at o, when no complete,
 *     valid record after o claims synced > o: nothing proves that o was
 *     ever durable;
 *   - corruption (XETS_CORRUPT at o) when one does: the bytes at o had
 *     been made durable and have changed since, and cutting them would
 *     lose writes that were acknowledged.
 * A valid record that claims more than its own offset is corrupt too. The
 * one damage this cannot tell from a torn tail is damage to the last
 * durable records when nothing written after them survives.
 *
 * Thread-safety: no shared state; every function may run on any thread,
 * each on its own buffer. */
#ifndef XETS_DISK_LOG_RECORD_H
#define XETS_DISK_LOG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "../status.h"
#include "bytes.h"

#define LOG_HEADER 25
/* The largest payload: a record is read whole into memory, and one batch
 * (one list insert) is one record. */
#define LOG_RECORD_MAX (1u << 30)

/* Field offsets within the header (doc/log_format.md). */
#define LOG_AT_CHECKSUM 0
#define LOG_AT_CHECK 8
#define LOG_AT_LENGTH 12
#define LOG_AT_TYPE 16
#define LOG_AT_SYNCED 17

/* Every record type of every log, in one list so that no two logs share a
 * type: a record read in the wrong kind of log is refused. 0 is never
 * written (a zeroed header never reads as a type). */
enum log_type {
    LOG_WAL_HEADER = 1,
    LOG_WAL_BATCH = 2,
    LOG_MANIFEST_HEADER = 3,
    LOG_MANIFEST_EDIT = 4
};

/* Starts a record at the end of b: reserves its header, after which the
 * caller appends the payload to b. Returns where the record starts. */
size_t log_record_begin(bytes_t *b);

/* Seals the record begun at start: its payload is b->p[start +
 * LOG_HEADER .. b->len). synced: how many bytes of the file were durable
 * when this record is written (0 when unknown; never more than the
 * record's offset in the file). number: the file's number, the checksums'
 * seed. XETS_OK; XETS_NOMEM (an append to b failed); XETS_BADARG (type
 * not in 1 .. 255, or the payload longer than LOG_RECORD_MAX). On failure
 * the record is cancelled. */
int log_record_end(bytes_t *b, size_t start, unsigned type, uint64_t synced, uint64_t number);

/* Abandons the record begun at start: b is as it was before it began
 * (its nomem cleared). */
void log_record_cancel(bytes_t *b, size_t start);

typedef struct log_record {
    unsigned type;
    const uint8_t *payload; /* within the buffer read */
    size_t len;
    uint64_t synced;
    uint64_t next; /* where the next record starts */
} log_record_t;

/* Reads the record at offset off of a log file of number number whose
 * bytes, from the file's start to its end, are buf[0 .. len). XETS_OK
 * with *r; XETS_END when off == len; XETS_TORN when the log's valid part
 * ends at off (see the top: the caller may cut the file there);
 * XETS_CORRUPT when the record at off is bad and must not be cut;
 * XETS_BADARG when off > len. The problem, if any, is at off. Reads
 * nothing outside buf and allocates nothing; time is linear in the bytes
 * read (all of them after a bad record). */
int log_record_next(const uint8_t *buf, size_t len, uint64_t off, uint64_t number,
                    log_record_t *r);

/* ---- the identity every log file opens with -----------------------------
 *
 * The first record of a log holds, before whatever its kind adds: an
 * 8-byte magic naming the kind, the format version (u32), the name of the
 * table's key encoding and the name of its files' order (key_codec.h),
 * each a u8 length and 1 .. LOG_NAME_MAX bytes of printable ASCII. */

#define LOG_MAGIC_LEN 8
#define LOG_NAME_MAX 32

typedef struct log_ident {
    uint32_t version;
    char encoding[LOG_NAME_MAX + 1]; /* NUL-terminated */
    char order[LOG_NAME_MAX + 1];
} log_ident_t;

/* Appends magic (LOG_MAGIC_LEN bytes) and id. XETS_BADARG when a name is
 * not a valid name; b's nomem tells of a failed append. */
int log_ident_put(bytes_t *b, const char *magic, const log_ident_t *id);

/* Appends a name: a u8 length, then the bytes. XETS_BADARG when s is not
 * a valid name (1 .. LOG_NAME_MAX bytes of printable ASCII, no space). */
int log_name_put(bytes_t *b, const char *s);
/* Reads a name into out (LOG_NAME_MAX + 1 bytes, NUL-terminated); false
 * when it is not a valid name (the reader turns bad). */
bool log_name_get(bytes_rd_t *rd, char *out);

/* Reads what log_ident_put wrote. XETS_OK; XETS_CORRUPT (another magic,
 * or malformed); XETS_BADARG when id->version is not version: a format
 * this code does not read, whose fields after the version are not read. */
int log_ident_get(bytes_rd_t *rd, const char *magic, uint32_t version, log_ident_t *id);

#endif
