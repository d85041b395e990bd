/* Fuzz target of the manifest's reader (c_src/disk/manifest.c, over
 * disk/log_record.c) and of the file names (disk/names.c): the input is
 * read as manifest file FUZZ_MANIFEST_NUMBER, as it is and resealed
 * (test/c/log_fuzz.h), and its lines taken for a directory listing.
 * Built with clang's libFuzzer (`make fuzz`) or with
 * test/c/fuzz_driver.c (`make check`); seeded with manifests written by
 * the encoder (test/c/log_seeds.c).
 *
 * Beyond what ASan and UBSan catch, it checks: every status is one the
 * header documents; a state read keeps every invariant of manifest.h; a
 * manifest started from it replays to the same state; the part before a
 * torn tail, read alone, replays to the same state; a name parsed formats
 * back to itself; orphans are never names outside the scheme. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "check.h"
#include "disk/manifest.h"
#include "disk/names.h"
#include "log_fuzz.h"
#include "status.h"

static bool key_le(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c < 0 || (c == 0 && alen <= blen);
}

static void require_valid(const manifest_state_t *s)
{
    REQUIRE(s->log_number == 0 || s->log_number < s->next_file);
    for (unsigned l = 0; l < MANIFEST_LEVELS; l++) {
        for (size_t i = 0; i < s->level[l].n; i++) {
            const manifest_file_t *f = &s->level[l].files[i];
            REQUIRE(f->level == l && f->number != 0 && f->number < s->next_file);
            REQUIRE(i == 0 || s->level[l].files[i - 1].number < f->number);
            REQUIRE(manifest_state_find(s, f->number) == f);
            REQUIRE(key_le(f->smallest, f->smallest_len, f->largest, f->largest_len));
            REQUIRE(f->smallest_seq <= f->largest_seq && f->largest_seq <= s->last_seq);
        }
    }
}

/* The first record of a manifest of h and s, hashed. */
static uint64_t digest_of(const manifest_header_t *h, const manifest_state_t *s, bytes_t *b)
{
    b->len = 0;
    REQUIRE(manifest_encode_start(b, h, s, FUZZ_MANIFEST_NUMBER) == XETS_OK);
    return XXH3_64bits(b->p, b->len);
}

/* Replays d[0 .. n) from a copy of exactly that size into *s; returns
 * the status, *at, and for a state read *digest. */
static int replay(const uint8_t *d, size_t n, manifest_header_t *h, manifest_state_t *s,
                  uint64_t *at, uint64_t *digest)
{
    uint8_t *copy = malloc(n ? n : 1);
    REQUIRE(copy);
    if (n)
        memcpy(copy, d, n);
    int st = manifest_replay(copy, n, FUZZ_MANIFEST_NUMBER, h, s, at);
    free(copy);
    REQUIRE(st == XETS_OK || st == XETS_TORN || st == XETS_CORRUPT || st == XETS_BADARG);
    REQUIRE(*at <= n && (st != XETS_OK || *at == n));
    if (st != XETS_OK && st != XETS_TORN)
        return st;
    require_valid(s);
    /* A manifest started from the state reads back as it. */
    bytes_t b = BYTES_INIT, b2 = BYTES_INIT;
    *digest = digest_of(h, s, &b);
    manifest_header_t h2;
    manifest_state_t s2;
    uint64_t at2;
    REQUIRE(manifest_replay(b.p, b.len, FUZZ_MANIFEST_NUMBER, &h2, &s2, &at2) == XETS_OK);
    REQUIRE(digest_of(&h2, &s2, &b2) == *digest);
    manifest_state_free(&s2);
    bytes_free(&b);
    bytes_free(&b2);
    return st;
}

/* The input's lines (up to 64) as a directory listing. */
static void check_names(const uint8_t *d, size_t n, const manifest_state_t *s)
{
    char *names[64];
    size_t count = 0, from = 0;
    for (size_t i = 0; i <= n && count < 64; i++) {
        if (i < n && d[i] != '\n' && d[i] != 0)
            continue;
        names[count] = malloc(i - from + 1);
        REQUIRE(names[count]);
        if (i > from)
            memcpy(names[count], d + from, i - from);
        names[count++][i - from] = '\0';
        from = i + 1;
    }
    bool orphan[64];
    uint64_t number, missing;
    for (size_t i = 0; i < count; i++) {
        enum names_kind k = names_parse(names[i], &number);
        if (k != NAMES_OTHER && k != NAMES_TMP) {
            char again[NAMES_LEN];
            names_format(again, k, number, false);
            REQUIRE(strcmp(again, names[i]) == 0);
        }
    }
    int st = names_live_manifest(names, count, &number);
    REQUIRE(st == XETS_OK || st == XETS_NOTFOUND || st == XETS_CORRUPT);
    st = names_orphans(s, st == XETS_OK ? number : 0, names, count, orphan, &missing);
    REQUIRE(st == XETS_OK || (st == XETS_CORRUPT && manifest_state_find(s, missing)));
    for (size_t i = 0; i < count; i++) {
        REQUIRE(!orphan[i] || names_parse(names[i], &number) != NAMES_OTHER);
        free(names[i]);
    }
}

static void check(const uint8_t *d, size_t n)
{
    manifest_header_t h;
    manifest_state_t s, s2;
    uint64_t at, at2, digest, digest2;
    int st = replay(d, n, &h, &s, &at, &digest);
    if (st == XETS_TORN) {
        REQUIRE(replay(d, at, &h, &s2, &at2, &digest2) == XETS_OK);
        REQUIRE(at2 == at && digest2 == digest);
        manifest_state_free(&s2);
    }
    check_names(d, n, &s);
    manifest_state_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_fuzz_run(data, size, FUZZ_MANIFEST_NUMBER, check);
    return 0;
}
