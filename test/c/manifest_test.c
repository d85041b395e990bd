/* disk/manifest.c: the manifest's edits and the state they build. The
 * first record byte for byte as doc/manifest_format.md lays it out;
 * random edit sequences (adds, removes, moves between levels, scalars)
 * applied to a state and replayed from their log agree with a plain model
 * of the files; a manifest started from a state replays to that state;
 * every prefix, flipped byte and noisy tail (test/c/log_check.h), damage
 * to the first record always corruption; each invariant broken by an edit
 * is refused with the state unchanged and, in a log, reported at its
 * record's offset; malformed edits (counts past the bytes, bytes too many
 * or too few, unknown bits); another version, a keypos of 0, records of
 * other kinds. Exits nonzero on the first failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "check.h"
#include "disk/manifest.h"
#include "log_check.h"
#include "manifest_model.h"
#include "rng.h"
#include "status.h"

#define NUMBER 2 /* MANIFEST-000002 */

static const manifest_header_t header = {{MANIFEST_VERSION, "ordered.1", "key"}, "ordered_set", 1};

/* A hash of h and s: of the first record a manifest of them starts with. */
static uint64_t digest_of(const manifest_header_t *h, const manifest_state_t *s)
{
    bytes_t b = BYTES_INIT;
    CHECK(manifest_encode_start(&b, h, s, NUMBER) == XETS_OK, "encode start");
    uint64_t d = XXH3_64bits(b.p, b.len);
    bytes_free(&b);
    return d;
}

static bool header_is(const manifest_header_t *h, const manifest_header_t *want)
{
    return h->id.version == want->id.version && strcmp(h->id.encoding, want->id.encoding) == 0 &&
           strcmp(h->id.order, want->id.order) == 0 && strcmp(h->type, want->type) == 0 &&
           h->keypos == want->keypos;
}

static int read_manifest(const uint8_t *buf, size_t len, uint64_t *at, uint64_t *digest)
{
    manifest_header_t h;
    manifest_state_t s;
    int st = manifest_replay(buf, len, NUMBER, &h, &s, at);
    if (st == XETS_OK || st == XETS_TORN) {
        CHECK(header_is(&h, &header), "the header read back");
        *digest = digest_of(&header, &s);
    }
    manifest_state_free(&s);
    return st;
}

static const log_kind_t kind = {"manifest", read_manifest, XETS_CORRUPT, true};

/* A manifest of n random edits into s (each made durable before the
 * next when each_synced, else claiming nothing), checked against the
 * model as it goes; the final state in *state. */
static void sample(log_sample_t *s, size_t n, bool each_synced, uint64_t seed, model_t *m,
                   manifest_state_t *state)
{
    *s = (log_sample_t){.b = BYTES_INIT};
    *m = (model_t){.next_file = 2};
    *state = (manifest_state_t)MANIFEST_STATE_INIT;
    state->next_file = 2;
    CHECK(manifest_encode_start(&s->b, &header, state, NUMBER) == XETS_OK, "start");
    log_sample_mark(s, 0);
    static edit_buf_t eb;
    for (size_t i = 0; i < n; i++) {
        random_edit(&seed, m, &eb);
        CHECK(manifest_state_apply(state, &eb.e) == XETS_OK, "edit %zu applies", i);
        model_check(m, state);
        uint64_t synced = each_synced ? s->b.len : 0;
        CHECK(manifest_encode_edit(&s->b, &eb.e, synced, NUMBER) == XETS_OK, "encode %zu", i);
        log_sample_mark(s, synced);
    }
}

static void test_golden(void)
{
    bytes_t b = BYTES_INIT;
    manifest_state_t s = MANIFEST_STATE_INIT;
    manifest_file_t f = {.number = 5, .level = 1, .entries = 10, .bytes = 4096,
                         .smallest_seq = 3, .largest_seq = 9,
                         .smallest = (const uint8_t *)"a", .smallest_len = 1,
                         .largest = (const uint8_t *)"bc", .largest_len = 2};
    manifest_edit_t e = {.set = 15, .next_file = 6, .last_seq = 9, .log_number = 4, .objects = 12,
                         .add = &f, .nadd = 1};
    CHECK(manifest_state_apply(&s, &e) == XETS_OK, "apply");
    CHECK(manifest_encode_start(&b, &header, &s, NUMBER) == XETS_OK, "start");
    const uint8_t payload[] = {
        'X', 'E', 'T', 'S', '-', 'M', 'A', 'N', 1, 0, 0, 0,                  /* magic, version */
        9, 'o', 'r', 'd', 'e', 'r', 'e', 'd', '.', '1', 3, 'k', 'e', 'y',    /* encoding, order */
        11, 'o', 'r', 'd', 'e', 'r', 'e', 'd', '_', 's', 'e', 't', 1, 0, 0, 0, /* type, keypos */
        15, 6, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, /* scalars */
        12, 0, 0, 0, 0, 0, 0, 0,                                             /* objects */
        0, 0, 0, 0,                                                          /* no removals */
        1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1,                               /* one file: 5, level 1 */
        10, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0,                    /* entries, bytes */
        3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,                      /* seqs */
        1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 'c'};                              /* keys */
    CHECK(b.len == LOG_HEADER + sizeof payload && b.p[LOG_AT_TYPE] == LOG_MANIFEST_HEADER &&
              memcmp(b.p + LOG_HEADER, payload, sizeof payload) == 0,
          "the first record as doc/manifest_format.md says");
    size_t at = b.len;
    manifest_edit_t rm = {.set = MANIFEST_SET_LAST_SEQ, .last_seq = 10, .remove = &f.number, .nremove = 1};
    CHECK(manifest_encode_edit(&b, &rm, at, NUMBER) == XETS_OK, "edit");
    const uint8_t edit[] = {2, 10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(b.len == at + LOG_HEADER + sizeof edit && b.p[at + LOG_AT_TYPE] == LOG_MANIFEST_EDIT &&
              memcmp(b.p + at + LOG_HEADER, edit, sizeof edit) == 0,
          "an edit as doc/manifest_format.md says");
    bytes_free(&b);
    manifest_state_free(&s);
}

static void test_round_trip(void)
{
    static log_sample_t s;
    static model_t m;
    manifest_state_t state, replayed;
    sample(&s, 2000, true, 1, &m, &state);
    manifest_header_t h;
    uint64_t at;
    CHECK(manifest_replay(s.b.p, s.b.len, NUMBER, &h, &replayed, &at) == XETS_OK &&
              at == s.b.len,
          "replay");
    CHECK(header_is(&h, &header), "header");
    model_check(&m, &replayed);
    /* A new manifest of the state replays to it. */
    bytes_t b = BYTES_INIT;
    CHECK(manifest_encode_start(&b, &header, &replayed, NUMBER + 5) == XETS_OK, "start");
    manifest_state_t again;
    CHECK(manifest_replay(b.p, b.len, NUMBER + 5, &h, &again, &at) == XETS_OK, "replay start");
    model_check(&m, &again);
    manifest_state_free(&again);
    CHECK(manifest_replay(b.p, b.len, NUMBER, &h, &again, &at) == XETS_CORRUPT && at == 0,
          "read as another file's: the first record is not there");
    manifest_state_free(&state);
    manifest_state_free(&replayed);
    manifest_state_free(&again);
    bytes_free(&b);
    bytes_free(&s.b);
}

static void test_damage(void)
{
    static log_sample_t s;
    static model_t m;
    manifest_state_t state;
    for (int synced = 0; synced < 2; synced++) {
        sample(&s, 20, synced, 30 + synced, &m, &state);
        log_check_all(&kind, &s, 3 + synced);
        manifest_state_free(&state);
        bytes_free(&s.b);
    }
}

/* ---- invariants --------------------------------------------------------- */

static const uint8_t ka[] = "a", kb[] = "b";

static manifest_file_t file(uint64_t number, unsigned level)
{
    return (manifest_file_t){.number = number, .level = level, .smallest_seq = 1,
                             .largest_seq = 2, .smallest = ka, .smallest_len = 1,
                             .largest = kb, .largest_len = 1};
}

/* A state of files 3 (level 0) and 4 (level 1), next_file 10, last_seq
 * 50, log_number 5; its manifest in *b. */
static void base(manifest_state_t *s, bytes_t *b)
{
    *s = (manifest_state_t)MANIFEST_STATE_INIT;
    manifest_file_t f[2] = {file(3, 0), file(4, 1)};
    manifest_edit_t e = {.set = 7, .next_file = 10, .last_seq = 50, .log_number = 5, .add = f, .nadd = 2};
    CHECK(manifest_state_apply(s, &e) == XETS_OK, "base");
    *b = (bytes_t)BYTES_INIT;
    CHECK(manifest_encode_start(b, &header, s, NUMBER) == XETS_OK, "base start");
}

/* e applied to the base state, and replayed after it from a log. */
static int try_edit(const manifest_edit_t *e)
{
    manifest_state_t s;
    bytes_t b;
    base(&s, &b);
    uint64_t before = digest_of(&header, &s);
    int st = manifest_state_apply(&s, e);
    if (st != XETS_OK)
        CHECK(digest_of(&header, &s) == before, "a refused edit leaves the state as it was");
    size_t at_edit = b.len;
    CHECK(manifest_encode_edit(&b, e, b.len, NUMBER) == XETS_OK, "encode");
    CHECK(manifest_encode_edit(&b, &(manifest_edit_t){0}, b.len, NUMBER) == XETS_OK, "encode");
    manifest_state_t r;
    manifest_header_t h;
    uint64_t at;
    int rst = manifest_replay(b.p, b.len, NUMBER, &h, &r, &at);
    CHECK(rst == st, "replayed as applied: %d, %d", rst, st);
    CHECK(st != XETS_CORRUPT || at == at_edit, "corrupt at the edit's offset");
    if (st == XETS_OK)
        CHECK(digest_of(&header, &r) == digest_of(&header, &s), "replayed as applied");
    manifest_state_free(&s);
    manifest_state_free(&r);
    bytes_free(&b);
    return st;
}

static void test_invariants(void)
{
    uint64_t n3 = 3, n4 = 4, n7 = 7, twice[2] = {3, 3};
    manifest_file_t f;
    manifest_file_t two[2] = {file(7, 0), file(7, 2)};
#define EDIT(...) (&(manifest_edit_t){__VA_ARGS__})
    CHECK(try_edit(EDIT(0)) == XETS_OK, "an empty edit");
    CHECK(try_edit(EDIT(.remove = &n7, .nremove = 1)) == XETS_CORRUPT, "removing a file not there");
    CHECK(try_edit(EDIT(.remove = twice, .nremove = 2)) == XETS_CORRUPT, "removing one twice");
    f = file(3, 2);
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "adding a live file");
    CHECK(try_edit(EDIT(.remove = &n3, .nremove = 1, .add = &f, .nadd = 1)) == XETS_OK,
          "moving a file: removed and added in one edit");
    CHECK(try_edit(EDIT(.add = two, .nadd = 2)) == XETS_CORRUPT, "adding one twice");
    f = file(10, 0);
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "a number not below next_file");
    CHECK(try_edit(EDIT(.set = MANIFEST_SET_NEXT_FILE, .next_file = 11, .add = &f, .nadd = 1)) ==
              XETS_OK,
          "a number below the next_file the edit sets");
    f = file(0, 0);
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "number 0");
    f = file(7, MANIFEST_LEVELS);
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "a level too deep");
    f = file(7, 0);
    f.smallest = kb;
    f.largest = ka;
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "smallest key after largest");
    f.largest = (const uint8_t *)"";
    f.largest_len = 0;
    f.smallest = ka;
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "a key after its own prefix");
    f = file(7, 0);
    f.smallest_len = 0;
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_OK, "an empty smallest key");
    f = file(7, 0);
    f.smallest_seq = 3;
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "smallest seq after largest");
    f = file(7, 0);
    f.largest_seq = 51;
    CHECK(try_edit(EDIT(.add = &f, .nadd = 1)) == XETS_CORRUPT, "a seq past last_seq");
    CHECK(try_edit(EDIT(.set = MANIFEST_SET_LAST_SEQ, .last_seq = 51, .add = &f, .nadd = 1)) ==
              XETS_OK,
          "a seq up to the last_seq the edit sets");
    CHECK(try_edit(EDIT(.set = MANIFEST_SET_NEXT_FILE, .next_file = 9)) == XETS_CORRUPT,
          "next_file going back");
    CHECK(try_edit(EDIT(.set = MANIFEST_SET_LAST_SEQ, .last_seq = 49)) == XETS_CORRUPT,
          "last_seq going back");
    CHECK(try_edit(EDIT(.set = MANIFEST_SET_LOG_NUMBER, .log_number = 4)) == XETS_CORRUPT,
          "log_number going back");
    CHECK(try_edit(EDIT(.set = MANIFEST_SET_LOG_NUMBER, .log_number = 10)) == XETS_CORRUPT,
          "log_number not below next_file");
    CHECK(try_edit(EDIT(.set = 16)) == XETS_CORRUPT, "an unknown field");
    CHECK(try_edit(EDIT(.remove = &n4, .nremove = 1, .set = 7, .next_file = 12,
                        .last_seq = 60, .log_number = 11)) == XETS_OK,
          "all scalars at once");
#undef EDIT
}

/* ---- malformed bytes -------------------------------------------------- */

/* The base manifest, then a record of type type and the given payload:
 * the replay's status, *at. */
static int replay_with(unsigned type, const uint8_t *payload, size_t len, uint64_t *at,
                       uint64_t *record)
{
    manifest_state_t s;
    bytes_t b;
    base(&s, &b);
    *record = b.len;
    size_t start = log_record_begin(&b);
    bytes_put(&b, payload, len);
    CHECK(log_record_end(&b, start, type, start, NUMBER) == XETS_OK, "seal");
    manifest_header_t h;
    manifest_state_t r;
    int st = manifest_replay(b.p, b.len, NUMBER, &h, &r, at);
    manifest_state_free(&s);
    manifest_state_free(&r);
    bytes_free(&b);
    return st;
}

static void test_malformed(void)
{
    uint64_t at, record;
    manifest_file_t f = file(7, 1);
    manifest_edit_t e = {.set = 1, .next_file = 12, .remove = (uint64_t[]){4}, .nremove = 1,
                         .add = &f, .nadd = 1};
    bytes_t b = BYTES_INIT;
    CHECK(manifest_encode_edit(&b, &e, 0, NUMBER) == XETS_OK, "edit");
    const uint8_t *payload = b.p + LOG_HEADER;
    size_t len = b.len - LOG_HEADER;
    CHECK(replay_with(LOG_MANIFEST_EDIT, payload, len, &at, &record) == XETS_OK, "as written");
    for (size_t cut = 0; cut < len; cut++)
        CHECK(replay_with(LOG_MANIFEST_EDIT, payload, cut, &at, &record) == XETS_CORRUPT &&
                  at == record,
              "cut at %zu", cut);
    uint8_t copy[256];
    memcpy(copy, payload, len);
    copy[len] = 0;
    CHECK(replay_with(LOG_MANIFEST_EDIT, copy, len + 1, &at, &record) == XETS_CORRUPT,
          "a byte too many");
    /* Counts past the bytes: refused before anything is allocated for them. */
    size_t counts[] = {9, 9 + 4 + 8}; /* where the removal and addition counts are */
    for (size_t i = 0; i < 2; i++) {
        memcpy(copy, payload, len);
        le32_store(copy + counts[i], UINT32_MAX);
        CHECK(replay_with(LOG_MANIFEST_EDIT, copy, len, &at, &record) == XETS_CORRUPT,
              "count %zu past the bytes", i);
    }
    CHECK(replay_with(LOG_WAL_BATCH, payload, len, &at, &record) == XETS_CORRUPT && at == record,
          "a WAL's record");
    bytes_free(&b);

    /* The first record. */
    manifest_state_t s = MANIFEST_STATE_INIT, r;
    manifest_header_t h;
    CHECK(manifest_encode_start(&b, &header, &s, NUMBER) == XETS_OK, "start");
    CHECK(replay_with(LOG_MANIFEST_HEADER, b.p + LOG_HEADER, b.len - LOG_HEADER, &at, &record) ==
              XETS_CORRUPT,
          "a second first record");
    b.p[LOG_HEADER + 8] = 2; /* the version */
    size_t start = 0;
    bytes_t again = BYTES_INIT;
    start = log_record_begin(&again);
    bytes_put(&again, b.p + LOG_HEADER, b.len - LOG_HEADER);
    CHECK(log_record_end(&again, start, LOG_MANIFEST_HEADER, 0, NUMBER) == XETS_OK, "seal");
    CHECK(manifest_replay(again.p, again.len, NUMBER, &h, &r, &at) == XETS_BADARG &&
              h.id.version == 2,
          "version 2 is not read, and says so");
    bytes_free(&again);
    manifest_header_t bad = header;
    bad.keypos = 0;
    CHECK(manifest_encode_start(&again, &bad, &s, NUMBER) == XETS_BADARG && again.len == 0,
          "keypos 0 refused");
    bad = header;
    strcpy(bad.type, "a b");
    CHECK(manifest_encode_start(&again, &bad, &s, NUMBER) == XETS_BADARG && again.len == 0,
          "a type name that is not a name refused");
    CHECK(manifest_encode_edit(&again, &(manifest_edit_t){0}, 0, NUMBER) == XETS_OK, "edit");
    CHECK(manifest_replay(again.p, again.len, NUMBER, &h, &r, &at) == XETS_CORRUPT && at == 0,
          "an edit where the first record goes");
    bytes_free(&again);
    bytes_free(&b);
}

int main(void)
{
    test_golden();
    test_round_trip();
    test_damage();
    test_invariants();
    test_malformed();
    printf("manifest_test: ok\n");
    return 0;
}
