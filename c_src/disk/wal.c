/* The WAL codec (wal.h, doc/wal_format.md). A header record's payload is
 * the log identity (log_record.h) and a u64 first_seq; a batch record's
 * payload is a u64 sequence number and the batch's bytes. */
#include "wal.h"

int wal_encode_header(bytes_t *b, const wal_header_t *h, uint64_t number)
{
    size_t start = log_record_begin(b);
    if (log_ident_put(b, WAL_MAGIC, &h->id) != XETS_OK) {
        log_record_cancel(b, start);
        return XETS_BADARG;
    }
    bytes_put_u64(b, h->first_seq);
    return log_record_end(b, start, LOG_WAL_HEADER, 0, number);
}

int wal_encode_batch(bytes_t *b, uint64_t seq, const void *batch, size_t len, uint64_t synced,
                     uint64_t number)
{
    if (len > LOG_RECORD_MAX - 8)
        return XETS_BADARG;
    size_t start = log_record_begin(b);
    bytes_put_u64(b, seq);
    bytes_put(b, batch, len);
    return log_record_end(b, start, LOG_WAL_BATCH, synced, number);
}

int wal_replay_open(wal_replay_t *r, const uint8_t *buf, size_t len, uint64_t number)
{
    *r = (wal_replay_t){.buf = buf, .len = len, .number = number};
    log_record_t rec;
    int st = log_record_next(buf, len, 0, number, &rec);
    if (st == XETS_END || st == XETS_TORN)
        return XETS_TORN;
    if (st != XETS_OK)
        return st;
    if (rec.type != LOG_WAL_HEADER)
        return XETS_CORRUPT;
    bytes_rd_t rd = bytes_rd(rec.payload, rec.len);
    st = log_ident_get(&rd, WAL_MAGIC, WAL_VERSION, &r->header.id);
    if (st != XETS_OK)
        return st;
    r->header.first_seq = bytes_get_u64(&rd);
    if (rd.bad || bytes_left(&rd) != 0)
        return XETS_CORRUPT;
    r->off = rec.next;
    return XETS_OK;
}

int wal_replay_next(wal_replay_t *r, uint64_t *seq, const uint8_t **batch, size_t *len)
{
    log_record_t rec;
    int st = log_record_next(r->buf, r->len, r->off, r->number, &rec);
    if (st != XETS_OK)
        return st;
    bytes_rd_t rd = bytes_rd(rec.payload, rec.len);
    uint64_t s = bytes_get_u64(&rd);
    if (rec.type != LOG_WAL_BATCH || rd.bad ||
        (r->any ? s <= r->last_seq : s < r->header.first_seq))
        return XETS_CORRUPT;
    r->last_seq = s;
    r->any = true;
    r->off = rec.next;
    *seq = s;
    *batch = rd.p;
    *len = bytes_left(&rd);
    return XETS_OK;
}
