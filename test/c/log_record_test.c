/* disk/log_record.c: the framing of the WAL and the manifest. One record
 * byte for byte as doc/log_format.md lays it out; records of every type
 * and size read back as written; every prefix, flipped byte and tail of
 * zeros or noise of logs written with each kind of durability claim
 * (test/c/log_check.h); a lost stretch inside an unsynced write is a torn
 * tail, inside a synced one corruption; lengths past the bytes or past
 * LOG_RECORD_MAX; another file's number; a record claiming more than its
 * offset; what the encoder refuses; the log identity; several threads
 * reading one log (for ThreadSanitizer). Exits nonzero on the first
 * failure. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "check.h"
#include "disk/log_record.h"
#include "log_check.h"
#include "rng.h"
#include "status.h"

#define NUMBER 7 /* the file number of every log here */

static int read_log(const uint8_t *buf, size_t len, uint64_t *at, uint64_t *digest)
{
    uint64_t off = 0;
    log_record_t r;
    int st;
    while ((st = log_record_next(buf, len, off, NUMBER, &r)) == XETS_OK) {
        *digest = XXH3_64bits_withSeed(r.payload, r.len, *digest ^ r.type ^ (r.synced << 8));
        off = r.next;
    }
    *at = off;
    return st == XETS_END ? XETS_OK : st;
}

static const log_kind_t kind = {"log", read_log, XETS_OK, false};

static void append(bytes_t *b, unsigned type, const void *payload, size_t len, uint64_t synced)
{
    size_t start = log_record_begin(b);
    bytes_put(b, payload, len);
    CHECK(log_record_end(b, start, type, synced, NUMBER) == XETS_OK, "append");
}

/* How the records of a sample claim durability. */
enum claims {
    CLAIM_NONE, /* sync none: nothing is known durable */
    CLAIM_EACH, /* each record made durable before the next is written */
    CLAIM_GROUP /* group commit: groups of 1 to 5 records, one sync each */
};

/* n records of random types and sizes into s. */
static void sample(log_sample_t *s, size_t n, enum claims claims, uint64_t seed)
{
    *s = (log_sample_t){.b = BYTES_INIT};
    uint64_t synced = 0;
    size_t left_in_group = 0;
    uint8_t payload[300];
    for (size_t i = 0; i < n; i++) {
        if (left_in_group == 0) {
            synced = s->b.len;
            left_in_group = 1 + rng_below(&seed, 5);
        }
        left_in_group--;
        size_t len = rng_below(&seed, 8) == 0 ? rng_below(&seed, sizeof payload)
                                              : rng_below(&seed, 40);
        for (size_t k = 0; k < len; k++)
            payload[k] = (uint8_t)rng_next(&seed);
        uint64_t claim = claims == CLAIM_NONE ? 0 : claims == CLAIM_EACH ? s->b.len : synced;
        append(&s->b, 1 + (unsigned)rng_below(&seed, 255), payload, len, claim);
        log_sample_mark(s, claim);
    }
}

static void test_golden_record(void)
{
    bytes_t b = BYTES_INIT;
    append(&b, 4, "abc", 3, 0x0102030405060708ull);
    uint8_t want[LOG_HEADER + 3] = {
        [12] = 3,    0,    0,    0,    /* length */
        [16] = 4,                      /* type */
        [17] = 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* synced */
        [25] = 'a',  'b',  'c'};
    uint32_t check = (uint32_t)XXH3_64bits_withSeed(want + 12, 13, NUMBER);
    for (int i = 0; i < 4; i++)
        want[8 + i] = (uint8_t)(check >> 8 * i);
    uint64_t sum = XXH3_64bits_withSeed(want + 8, sizeof want - 8, NUMBER);
    for (int i = 0; i < 8; i++)
        want[i] = (uint8_t)(sum >> 8 * i);
    CHECK(b.len == sizeof want && memcmp(b.p, want, sizeof want) == 0,
          "the record is not laid out as doc/log_format.md says");
    bytes_free(&b);
}

static void test_round_trip(void)
{
    static log_sample_t s;
    sample(&s, 500, CLAIM_GROUP, 11);
    /* and one long record, and one empty */
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    append(&s.b, 9, big, sizeof big, s.b.len);
    log_sample_mark(&s, s.ends[s.n - 1]);
    append(&s.b, 255, NULL, 0, 0);
    log_sample_mark(&s, 0);

    uint64_t off = 0;
    for (size_t i = 0; i < s.n; i++) {
        log_record_t r;
        CHECK(log_record_next(s.b.p, s.b.len, off, NUMBER, &r) == XETS_OK, "record %zu", i);
        CHECK(r.next == s.ends[i] && r.synced == s.synced[i], "record %zu: where or claim", i);
        CHECK(r.payload == s.b.p + off + LOG_HEADER && r.len == s.ends[i] - off - LOG_HEADER,
              "record %zu: payload", i);
        off = r.next;
    }
    CHECK(memcmp(s.b.p + s.ends[s.n - 2] - sizeof big, big, sizeof big) == 0, "long payload");
    log_record_t r;
    CHECK(log_record_next(s.b.p, s.b.len, off, NUMBER, &r) == XETS_END, "end");
    CHECK(log_record_next(s.b.p, s.b.len, off + 1, NUMBER, &r) == XETS_BADARG, "past the end");
    bytes_free(&s.b);
}

static void test_damage(void)
{
    static log_sample_t s;
    for (enum claims c = CLAIM_NONE; c <= CLAIM_GROUP; c++) {
        sample(&s, 60, c, 100 + c);
        log_check_all(&kind, &s, 5 + c);
        bytes_free(&s.b);
    }
}

/* A power cut loses a whole page of an unsynced write while later pages
 * of it survive: a torn tail at the first record the loss touches; the
 * same loss inside a synced write, with a record after it saying so, is
 * corruption. */
static void test_lost_page(void)
{
    static log_sample_t s;
    sample(&s, 300, CLAIM_EACH, 3);
    size_t synced_records = 150;
    uint64_t synced = s.ends[synced_records - 1];
    /* The rest, rewritten as one unsynced write. */
    s.b.len = synced;
    s.n = synced_records;
    uint64_t seed = 9;
    while (s.b.len < synced + 3 * 4096) {
        uint8_t payload[30];
        for (size_t k = 0; k < sizeof payload; k++)
            payload[k] = (uint8_t)rng_next(&seed);
        append(&s.b, 1, payload, sizeof payload, synced);
        log_sample_mark(&s, synced);
    }
    uint64_t page = (synced / 4096 + 1) * 4096;
    uint8_t *p = malloc(s.b.len);
    CHECK(p, "out of memory");
    memcpy(p, s.b.p, s.b.len);
    memset(p + page, 0, 4096);
    size_t r = 0;
    while (s.ends[r] <= page)
        r++;
    uint64_t at, digest;
    CHECK(log_read_exact(&kind, p, s.b.len, &at, &digest) == XETS_TORN &&
              at == s.ends[r - 1],
          "a page lost from an unsynced write is a torn tail");
    memcpy(p, s.b.p, s.b.len);
    memset(p + page - 4096, 0, 4096);
    r = 0;
    while (s.ends[r] <= page - 4096)
        r++;
    CHECK(log_read_exact(&kind, p, s.b.len, &at, &digest) == XETS_CORRUPT &&
              at == s.ends[r - 1],
          "a page lost from a synced write is corruption");
    free(p);
    bytes_free(&s.b);
}

/* A header whose check matches, over the given length (the checksum left
 * wrong), at the end of b. */
static void put_forged_header(bytes_t *b, uint32_t length)
{
    uint8_t *h = bytes_room(b, LOG_HEADER);
    CHECK(h, "out of memory");
    memset(h, 0, LOG_HEADER);
    le32_store(h + LOG_AT_LENGTH, length);
    h[LOG_AT_TYPE] = 1;
    le64_store(h + LOG_AT_SYNCED, 0);
    le32_store(h + LOG_AT_CHECK, (uint32_t)XXH3_64bits_withSeed(h + 12, 13, NUMBER));
    b->len += LOG_HEADER;
}

static void test_lengths(void)
{
    log_record_t r;
    uint32_t lengths[] = {LOG_RECORD_MAX + 1, UINT32_MAX, 1000};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        bytes_t b = BYTES_INIT;
        append(&b, 1, "x", 1, 0);
        uint64_t bad = b.len;
        put_forged_header(&b, lengths[i]);
        bytes_put(&b, "0123456789", 10);
        CHECK(log_record_next(b.p, b.len, bad, NUMBER, &r) == XETS_TORN,
              "a length past the bytes or the limit, nothing after: torn");
        /* A record after it, written once it was durable. */
        append(&b, 2, "y", 1, bad + 1);
        CHECK(log_record_next(b.p, b.len, bad, NUMBER, &r) == XETS_CORRUPT,
              "a length past the bytes or the limit, a later record claims it: corrupt");
        bytes_free(&b);
    }
}

static void test_claims(void)
{
    bytes_t b = BYTES_INIT;
    log_record_t r;
    append(&b, 1, "a", 1, 0);
    uint64_t second = b.len;
    append(&b, 1, "b", 1, second + 1);
    CHECK(log_record_next(b.p, b.len, second, NUMBER, &r) == XETS_CORRUPT,
          "a record that claims its own bytes durable is corrupt");
    CHECK(log_record_next(b.p, b.len, 0, NUMBER, &r) == XETS_OK, "the record before is read");
    /* Another file's number: no record of this file. */
    CHECK(log_record_next(b.p, b.len, 0, NUMBER + 1, &r) == XETS_TORN, "another file's number");
    bytes_free(&b);
}

static void test_encoder_refuses(void)
{
    bytes_t b = BYTES_INIT;
    append(&b, 1, "a", 1, 0);
    size_t len = b.len;
    unsigned types[] = {0, 256};
    for (size_t i = 0; i < 2; i++) {
        size_t start = log_record_begin(&b);
        bytes_put(&b, "zz", 2);
        CHECK(log_record_end(&b, start, types[i], 0, NUMBER) == XETS_BADARG && b.len == len,
              "type %u refused, the buffer as it was", types[i]);
    }
    /* A payload past the limit is refused before its bytes are read. */
    uint8_t header[LOG_HEADER];
    bytes_t huge = {header, LOG_HEADER + (size_t)LOG_RECORD_MAX + 1, sizeof header, false};
    CHECK(log_record_end(&huge, 0, 1, 0, NUMBER) == XETS_BADARG && huge.len == 0,
          "payload past LOG_RECORD_MAX refused");
    size_t start = log_record_begin(&b);
    b.nomem = true;
    CHECK(log_record_end(&b, start, 1, 0, NUMBER) == XETS_NOMEM && b.len == len && !b.nomem,
          "a failed append cancels the record");
    bytes_free(&b);
}

static void test_ident(void)
{
    log_ident_t id = {1, "ordered.1", "key"}, out;
    bytes_t b = BYTES_INIT;
    CHECK(log_ident_put(&b, "XETS-TST", &id) == XETS_OK, "put");
    bytes_rd_t rd = bytes_rd(b.p, b.len);
    CHECK(log_ident_get(&rd, "XETS-TST", 1, &out) == XETS_OK && bytes_left(&rd) == 0, "get");
    CHECK(out.version == 1 && strcmp(out.encoding, "ordered.1") == 0 &&
              strcmp(out.order, "key") == 0,
          "round trip");
    rd = bytes_rd(b.p, b.len);
    CHECK(log_ident_get(&rd, "XETS-XXX", 1, &out) == XETS_CORRUPT, "another magic");
    rd = bytes_rd(b.p, b.len);
    CHECK(log_ident_get(&rd, "XETS-TST", 2, &out) == XETS_BADARG && out.version == 1,
          "another version: refused, saying which");
    for (size_t cut = 0; cut < b.len; cut++) {
        rd = bytes_rd(b.p, cut);
        CHECK(log_ident_get(&rd, "XETS-TST", 1, &out) == XETS_CORRUPT, "cut at %zu", cut);
    }
    bytes_free(&b);

    const char *bad[] = {"", "a b", "tab\t", "\x7f", "\xc3\xa9",
                         "123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        log_ident_t e = {1, "x", "y"};
        snprintf(e.order, sizeof e.order, "%s", bad[i]);
        if (strlen(bad[i]) > LOG_NAME_MAX)
            memcpy(e.order, bad[i], LOG_NAME_MAX + 1); /* not NUL-terminated within the field */
        CHECK(log_ident_put(&b, "XETS-TST", &e) == XETS_BADARG && b.len == 0,
              "name %zu refused, nothing written", i);
        /* The same name in bytes is refused by the reader. */
        uint8_t raw[64] = {(uint8_t)strlen(bad[i])};
        memcpy(raw + 1, bad[i], strlen(bad[i]));
        rd = bytes_rd(raw, 1 + strlen(bad[i]));
        char name[LOG_NAME_MAX + 1];
        CHECK(!log_name_get(&rd, name) && rd.bad, "name %zu read", i);
    }
    bytes_free(&b);
}

typedef struct {
    const log_sample_t *s;
    uint64_t digest;
} reader_arg_t;

static void *reader(void *arg)
{
    reader_arg_t *a = arg;
    uint64_t at;
    for (int k = 0; k < 20; k++)
        CHECK(read_log(a->s->b.p, a->s->b.len, &at, &a->digest) == XETS_OK, "thread read");
    return NULL;
}

static void test_threads(void)
{
    static log_sample_t s;
    sample(&s, 400, CLAIM_GROUP, 21);
    pthread_t t[4];
    reader_arg_t a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (reader_arg_t){&s, 0};
        CHECK(pthread_create(&t[i], NULL, reader, &a[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    for (int i = 1; i < 4; i++)
        CHECK(a[i].digest == a[0].digest, "threads read alike");
    bytes_free(&s.b);
}

int main(void)
{
    test_golden_record();
    test_round_trip();
    test_damage();
    test_lost_page();
    test_lengths();
    test_claims();
    test_encoder_refuses();
    test_ident();
    test_threads();
    printf("log_record_test: ok\n");
    return 0;
}
