/* disk/wal.c: the write-ahead log's records. A small WAL byte for byte as
 * doc/wal_format.md lays it out; batches of every size, long and empty,
 * replay as written with their sequence numbers; every prefix, flipped
 * byte and noisy tail of WALs written with sync always, group commit and
 * sync none (test/c/log_check.h); a file with no whole header; sequence
 * numbers that repeat, go back or start below the header's; records of
 * another kind or a second header; another format version or magic.
 * Exits nonzero on the first failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "check.h"
#include "disk/wal.h"
#include "log_check.h"
#include "rng.h"
#include "status.h"

#define NUMBER 3 /* 000003.wal */

static const wal_header_t header = {{WAL_VERSION, "exact.1", "hash.2"}, 100};

static int read_wal(const uint8_t *buf, size_t len, uint64_t *at, uint64_t *digest)
{
    wal_replay_t r;
    int st = wal_replay_open(&r, buf, len, NUMBER);
    if (st == XETS_OK) {
        CHECK(r.header.first_seq == header.first_seq &&
                  strcmp(r.header.id.encoding, header.id.encoding) == 0 &&
                  strcmp(r.header.id.order, header.id.order) == 0,
              "the header read back");
        uint64_t seq;
        const uint8_t *batch;
        size_t n;
        while ((st = wal_replay_next(&r, &seq, &batch, &n)) == XETS_OK) {
            CHECK(batch >= buf && batch + n <= buf + len, "a batch within the bytes");
            *digest = XXH3_64bits_withSeed(batch, n, *digest ^ seq);
        }
    }
    *at = r.off;
    return st == XETS_END ? XETS_OK : st;
}

static const log_kind_t kind = {"wal", read_wal, XETS_TORN, false};

enum sync_mode { SYNC_NONE, SYNC_ALWAYS, SYNC_GROUP };

/* A WAL of n batches; seqs[i] the sequence number of batch i. */
static void sample(log_sample_t *s, size_t n, enum sync_mode mode, uint64_t seed, uint64_t *seqs)
{
    *s = (log_sample_t){.b = BYTES_INIT};
    CHECK(wal_encode_header(&s->b, &header, NUMBER) == XETS_OK, "header");
    log_sample_mark(s, 0);
    uint64_t seq = header.first_seq, synced = 0;
    uint8_t batch[200];
    for (size_t i = 0; i < n; i++) {
        if (mode == SYNC_ALWAYS || (mode == SYNC_GROUP && rng_below(&seed, 3) == 0))
            synced = s->b.len;
        size_t len = rng_below(&seed, 6) == 0 ? rng_below(&seed, sizeof batch) : rng_below(&seed, 30);
        for (size_t k = 0; k < len; k++)
            batch[k] = (uint8_t)rng_next(&seed);
        CHECK(wal_encode_batch(&s->b, seq, batch, len, synced, NUMBER) == XETS_OK, "batch");
        log_sample_mark(s, synced);
        if (seqs)
            seqs[i] = seq;
        seq += 1 + rng_below(&seed, 3);
    }
}

static void test_golden(void)
{
    bytes_t b = BYTES_INIT;
    CHECK(wal_encode_header(&b, &header, NUMBER) == XETS_OK, "header");
    const uint8_t payload[] = {'X', 'E', 'T', 'S', '-', 'W', 'A', 'L', 1, 0, 0, 0, /* version */
                               7, 'e', 'x', 'a', 'c', 't', '.', '1',              /* encoding */
                               6, 'h', 'a', 's', 'h', '.', '2',                   /* order */
                               100, 0, 0, 0, 0, 0, 0, 0};                         /* first_seq */
    CHECK(b.len == LOG_HEADER + sizeof payload && b.p[LOG_AT_TYPE] == LOG_WAL_HEADER &&
              memcmp(b.p + LOG_HEADER, payload, sizeof payload) == 0,
          "the header record as doc/wal_format.md says");
    size_t at = b.len;
    CHECK(wal_encode_batch(&b, 0x0102, "ab", 2, 9, NUMBER) == XETS_OK, "batch");
    const uint8_t batch[] = {0x02, 0x01, 0, 0, 0, 0, 0, 0, 'a', 'b'};
    CHECK(b.len == at + LOG_HEADER + sizeof batch && b.p[at + LOG_AT_TYPE] == LOG_WAL_BATCH &&
              le64_load(b.p + at + LOG_AT_SYNCED) == 9 &&
              memcmp(b.p + at + LOG_HEADER, batch, sizeof batch) == 0,
          "a batch record as doc/wal_format.md says");
    bytes_free(&b);
}

static void test_round_trip(void)
{
    static log_sample_t s;
    static uint64_t seqs[LOG_SAMPLE_MAX];
    sample(&s, 1000, SYNC_GROUP, 1, seqs);
    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i % 251);
    uint64_t last = seqs[999] + 5;
    CHECK(wal_encode_batch(&s.b, last, big, sizeof big, s.b.len, NUMBER) == XETS_OK, "long");
    CHECK(wal_encode_batch(&s.b, last + 1, NULL, 0, s.b.len, NUMBER) == XETS_OK, "empty");

    wal_replay_t r;
    CHECK(wal_replay_open(&r, s.b.p, s.b.len, NUMBER) == XETS_OK, "open");
    uint64_t seq;
    const uint8_t *batch;
    size_t n;
    for (size_t i = 0; i < 1000; i++) {
        CHECK(wal_replay_next(&r, &seq, &batch, &n) == XETS_OK && seq == seqs[i], "batch %zu", i);
        CHECK(batch + n == s.b.p + s.ends[i + 1] &&
                  n == s.ends[i + 1] - s.ends[i] - LOG_HEADER - 8,
              "batch %zu: its bytes", i);
    }
    CHECK(wal_replay_next(&r, &seq, &batch, &n) == XETS_OK && seq == last && n == sizeof big &&
              memcmp(batch, big, n) == 0,
          "the long batch");
    CHECK(wal_replay_next(&r, &seq, &batch, &n) == XETS_OK && seq == last + 1 && n == 0,
          "the empty batch");
    CHECK(wal_replay_next(&r, &seq, &batch, &n) == XETS_END && r.off == s.b.len, "end");
    CHECK(wal_replay_next(&r, &seq, &batch, &n) == XETS_END, "end again");
    bytes_free(&s.b);
}

static void test_damage(void)
{
    static log_sample_t s;
    for (enum sync_mode m = SYNC_NONE; m <= SYNC_GROUP; m++) {
        sample(&s, 50, m, 10 + m, NULL);
        log_check_all(&kind, &s, 20 + m);
        bytes_free(&s.b);
    }
}

/* The header, then batches with these sequence numbers; reads to the
 * first problem and returns it, with *at. */
static int replay_seqs(const uint64_t *seqs, size_t n, uint64_t *at)
{
    bytes_t b = BYTES_INIT;
    CHECK(wal_encode_header(&b, &header, NUMBER) == XETS_OK, "header");
    uint64_t offs[8];
    for (size_t i = 0; i < n; i++) {
        offs[i] = b.len;
        CHECK(wal_encode_batch(&b, seqs[i], "x", 1, b.len, NUMBER) == XETS_OK, "batch");
    }
    wal_replay_t r;
    CHECK(wal_replay_open(&r, b.p, b.len, NUMBER) == XETS_OK, "open");
    uint64_t seq;
    const uint8_t *batch;
    size_t len, i = 0;
    int st;
    while ((st = wal_replay_next(&r, &seq, &batch, &len)) == XETS_OK)
        CHECK(seq == seqs[i++], "sequence number");
    if (st == XETS_CORRUPT)
        CHECK(r.off == offs[i], "at the bad record");
    *at = i;
    bytes_free(&b);
    return st;
}

static void test_sequence(void)
{
    uint64_t at;
    CHECK(replay_seqs((uint64_t[]){100, 101, 105, UINT64_MAX}, 4, &at) == XETS_END,
          "increasing from first_seq");
    CHECK(replay_seqs((uint64_t[]){100, 101, 101}, 3, &at) == XETS_CORRUPT && at == 2,
          "a repeated sequence number");
    CHECK(replay_seqs((uint64_t[]){100, 105, 104, 106}, 4, &at) == XETS_CORRUPT && at == 2,
          "a sequence number going back");
    CHECK(replay_seqs((uint64_t[]){99, 100}, 2, &at) == XETS_CORRUPT && at == 0,
          "below the header's first_seq");
    CHECK(replay_seqs((uint64_t[]){UINT64_MAX, UINT64_MAX}, 2, &at) == XETS_CORRUPT && at == 1,
          "nothing after the last sequence number");
}

/* Records a WAL may not hold, each sealed as a valid record. */
static void test_wrong_records(void)
{
    wal_replay_t r;
    uint64_t seq;
    const uint8_t *batch;
    size_t len;
    bytes_t b = BYTES_INIT;
    CHECK(wal_encode_header(&b, &header, NUMBER) == XETS_OK, "header");
    size_t second = b.len;
    CHECK(wal_encode_header(&b, &header, NUMBER) == XETS_OK, "a second header");
    CHECK(wal_replay_open(&r, b.p, b.len, NUMBER) == XETS_OK &&
              wal_replay_next(&r, &seq, &batch, &len) == XETS_CORRUPT && r.off == second,
          "a second header is corrupt");
    b.len = second;
    size_t start = log_record_begin(&b);
    bytes_put(&b, "1234567", 7); /* shorter than a sequence number */
    CHECK(log_record_end(&b, start, LOG_WAL_BATCH, 0, NUMBER) == XETS_OK, "short");
    CHECK(wal_replay_open(&r, b.p, b.len, NUMBER) == XETS_OK &&
              wal_replay_next(&r, &seq, &batch, &len) == XETS_CORRUPT && r.off == second,
          "a batch too short for its sequence number is corrupt");
    b.len = second;
    start = log_record_begin(&b);
    bytes_put_u64(&b, 200);
    CHECK(log_record_end(&b, start, LOG_MANIFEST_EDIT, 0, NUMBER) == XETS_OK, "edit");
    CHECK(wal_replay_open(&r, b.p, b.len, NUMBER) == XETS_OK &&
              wal_replay_next(&r, &seq, &batch, &len) == XETS_CORRUPT && r.off == second,
          "a manifest's record is corrupt");
    b.len = 0;
    CHECK(wal_encode_batch(&b, 100, "x", 1, 0, NUMBER) == XETS_OK, "batch first");
    CHECK(wal_replay_open(&r, b.p, b.len, NUMBER) == XETS_CORRUPT && r.off == 0,
          "a batch where the header goes is corrupt");
    bytes_free(&b);
}

/* A header record whose payload is the given bytes. */
static int open_with_payload(const uint8_t *payload, size_t len, wal_replay_t *r, bytes_t *b)
{
    b->len = 0;
    size_t start = log_record_begin(b);
    bytes_put(b, payload, len);
    CHECK(log_record_end(b, start, LOG_WAL_HEADER, 0, NUMBER) == XETS_OK, "seal");
    return wal_replay_open(r, b->p, b->len, NUMBER);
}

static void test_header(void)
{
    wal_replay_t r;
    bytes_t b = BYTES_INIT, good = BYTES_INIT;
    CHECK(wal_replay_open(&r, NULL, 0, NUMBER) == XETS_TORN && r.off == 0, "an empty file");
    CHECK(wal_encode_header(&good, &header, NUMBER) == XETS_OK, "header");
    const uint8_t *payload = good.p + LOG_HEADER;
    size_t len = good.len - LOG_HEADER;
    uint8_t copy[128];
    memcpy(copy, payload, len);
    copy[8] = 2;
    CHECK(open_with_payload(copy, len, &r, &b) == XETS_BADARG && r.header.id.version == 2,
          "version 2 is not read, and says so");
    memcpy(copy, payload, len);
    copy[4] = 'M';
    CHECK(open_with_payload(copy, len, &r, &b) == XETS_CORRUPT, "another magic");
    for (size_t cut = 0; cut < len; cut++)
        CHECK(open_with_payload(payload, cut, &r, &b) == XETS_CORRUPT, "payload cut at %zu", cut);
    memcpy(copy, payload, len);
    copy[len] = 0;
    CHECK(open_with_payload(copy, len + 1, &r, &b) == XETS_CORRUPT, "a byte too many");
    wal_header_t bad = header;
    strcpy(bad.id.order, "has space");
    CHECK(wal_encode_header(&b, &bad, NUMBER) == XETS_BADARG, "a name that is not one");
    bytes_free(&b);
    bytes_free(&good);
}

int main(void)
{
    test_golden();
    test_round_trip();
    test_damage();
    test_sequence();
    test_wrong_records();
    test_header();
    printf("wal_test: ok\n");
    return 0;
}
