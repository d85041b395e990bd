/* The log framing: records sealed in place and read back with the
 * torn-or-corrupt rule of log_record.h (doc/log_format.md).
 *
 * After a bad record the reader searches the rest of the log for valid
 * records, byte by byte: the header check rejects almost every offset
 * after hashing 13 bytes, and a valid record is skipped whole, so the
 * search is linear in the bytes left but for payloads forged to hold
 * valid headers of this very file.
 *
 * XXH3 is compiled in (XXH_INLINE_ALL) rather than called in the shared
 * library: the hashes read every byte a record spans, and only code
 * compiled here is seen by AddressSanitizer; inlined, the 13-byte header
 * check is also cheaper. */
#include "log_record.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static uint32_t header_check(const uint8_t *h, uint64_t number)
{
    return (uint32_t)XXH3_64bits_withSeed(h + LOG_AT_LENGTH, LOG_HEADER - LOG_AT_LENGTH, number);
}

static uint64_t record_checksum(const uint8_t *h, size_t len, uint64_t number)
{
    return XXH3_64bits_withSeed(h + LOG_AT_CHECK, LOG_HEADER - LOG_AT_CHECK + len, number);
}

size_t log_record_begin(bytes_t *b)
{
    size_t start = b->len;
    if (bytes_room(b, LOG_HEADER))
        b->len += LOG_HEADER;
    return start;
}

void log_record_cancel(bytes_t *b, size_t start)
{
    b->len = start;
    b->nomem = false;
}

int log_record_end(bytes_t *b, size_t start, unsigned type, uint64_t synced, uint64_t number)
{
    if (b->nomem) {
        log_record_cancel(b, start);
        return XETS_NOMEM;
    }
    size_t len = b->len - start - LOG_HEADER;
    if (type == 0 || type > 255 || len > LOG_RECORD_MAX) {
        log_record_cancel(b, start);
        return XETS_BADARG;
    }
    uint8_t *h = b->p + start;
    le32_store(h + LOG_AT_LENGTH, (uint32_t)len);
    h[LOG_AT_TYPE] = (uint8_t)type;
    le64_store(h + LOG_AT_SYNCED, synced);
    le32_store(h + LOG_AT_CHECK, header_check(h, number));
    le64_store(h + LOG_AT_CHECKSUM, record_checksum(h, len, number));
    return XETS_OK;
}

/* Whether a whole record with matching header check and checksum starts
 * at off (off <= len); fills *r when it does. */
static bool record_at(const uint8_t *buf, size_t len, uint64_t off, uint64_t number,
                      log_record_t *r)
{
    if (len - off < LOG_HEADER)
        return false;
    const uint8_t *h = buf + off;
    if (le32_load(h + LOG_AT_CHECK) != header_check(h, number))
        return false;
    uint32_t n = le32_load(h + LOG_AT_LENGTH);
    if (n > LOG_RECORD_MAX || n > len - off - LOG_HEADER)
        return false;
    if (le64_load(h + LOG_AT_CHECKSUM) != record_checksum(h, n, number))
        return false;
    r->type = h[LOG_AT_TYPE];
    r->payload = h + LOG_HEADER;
    r->len = n;
    r->synced = le64_load(h + LOG_AT_SYNCED);
    r->next = off + LOG_HEADER + n;
    return true;
}

int log_record_next(const uint8_t *buf, size_t len, uint64_t off, uint64_t number,
                    log_record_t *r)
{
    if (off > len)
        return XETS_BADARG;
    if (off == len)
        return XETS_END;
    if (record_at(buf, len, off, number, r))
        return r->synced > off ? XETS_CORRUPT : XETS_OK;
    /* A bad record: torn, unless a valid one after it was written once
     * the bytes at off were durable. */
    log_record_t later;
    for (uint64_t p = off + 1; len - p >= LOG_HEADER;) {
        if (!record_at(buf, len, p, number, &later)) {
            p++;
            continue;
        }
        if (later.synced > off)
            return XETS_CORRUPT;
        p = later.next;
    }
    return XETS_TORN;
}

/* ---- the identity every log file opens with ---------------------------- */

int log_name_put(bytes_t *b, const char *s)
{
    size_t n = strnlen(s, LOG_NAME_MAX + 1);
    if (!bytes_name_ok(s, n, LOG_NAME_MAX))
        return XETS_BADARG;
    bytes_put_u8(b, (uint8_t)n);
    bytes_put(b, s, n);
    return XETS_OK;
}

bool log_name_get(bytes_rd_t *rd, char *out)
{
    size_t n = bytes_get_u8(rd);
    const uint8_t *p = bytes_get(rd, n);
    if (!p || !bytes_name_ok(p, n, LOG_NAME_MAX)) {
        rd->bad = true;
        return false;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

int log_ident_put(bytes_t *b, const char *magic, const log_ident_t *id)
{
    if (!bytes_name_ok(id->encoding, strnlen(id->encoding, LOG_NAME_MAX + 1), LOG_NAME_MAX) ||
        !bytes_name_ok(id->order, strnlen(id->order, LOG_NAME_MAX + 1), LOG_NAME_MAX))
        return XETS_BADARG;
    bytes_put(b, magic, LOG_MAGIC_LEN);
    bytes_put_u32(b, id->version);
    log_name_put(b, id->encoding);
    log_name_put(b, id->order);
    return XETS_OK;
}

int log_ident_get(bytes_rd_t *rd, const char *magic, uint32_t version, log_ident_t *id)
{
    const uint8_t *m = bytes_get(rd, LOG_MAGIC_LEN);
    if (!m || memcmp(m, magic, LOG_MAGIC_LEN) != 0)
        return XETS_CORRUPT;
    id->version = bytes_get_u32(rd);
    if (rd->bad)
        return XETS_CORRUPT;
    if (id->version != version)
        return XETS_BADARG;
    log_name_get(rd, id->encoding);
    log_name_get(rd, id->order);
    return rd->bad ? XETS_CORRUPT : XETS_OK;
}
