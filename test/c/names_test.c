/* disk/names.c: the names of a table's files. Each kind formats and
 * parses back, at the smallest and largest numbers; names almost of the
 * scheme are not of it (other padding, signs, spaces, overflow, other
 * case, nothing after the prefix); the live manifest is the highest, none
 * is a new table unless table files are there; orphans of a state are
 * exactly the SSTables it does not hold, older WALs and manifests and
 * temporary files, and never a name outside the scheme; a live SSTable
 * missing from the listing is corruption. Exits nonzero on the first
 * failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "disk/names.h"
#include "status.h"

static void test_format_parse(void)
{
    struct {
        enum names_kind k;
        uint64_t n;
        bool tmp;
        const char *name;
    } cases[] = {
        {NAMES_SST, 7, false, "000007.sst"},
        {NAMES_WAL, 3, false, "000003.wal"},
        {NAMES_MANIFEST, 2, false, "MANIFEST-000002"},
        {NAMES_SST, 7, true, "000007.sst.tmp"},
        {NAMES_MANIFEST, 9, true, "MANIFEST-000009.tmp"},
        {NAMES_SST, 0, false, "000000.sst"},
        {NAMES_WAL, 1234567, false, "1234567.wal"},
        {NAMES_MANIFEST, UINT64_MAX, true, "MANIFEST-18446744073709551615.tmp"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[NAMES_LEN];
        names_format(out, cases[i].k, cases[i].n, cases[i].tmp);
        CHECK(strcmp(out, cases[i].name) == 0, "format %zu: %s", i, out);
        uint64_t n = 0;
        enum names_kind k = names_parse(cases[i].name, &n);
        CHECK(k == (cases[i].tmp ? NAMES_TMP : cases[i].k) && n == cases[i].n, "parse %s",
              cases[i].name);
    }
    const char *other[] = {"", "LOCK", "CURRENT", "notes.txt", ".sst", "00007.sst", "0000007.sst",
                           "+00007.sst", " 00007.sst", "000007.SST", "000007.sst ", "000007.ss",
                           "manifest-000002", "MANIFEST-", "MANIFEST-2", "MANIFEST-0000002",
                           "18446744073709551616.wal", "99999999999999999999.wal",
                           "000007.tmp", ".tmp", "000007.sst.tmp.tmp", "000007.wal.sst",
                           "MANIFEST-000002.sst"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        uint64_t n = 42;
        CHECK(names_parse(other[i], &n) == NAMES_OTHER && n == 42, "\"%s\" is not of the scheme",
              other[i]);
    }
}

static void test_live_manifest(void)
{
    uint64_t n = 0;
    char *a[] = {"000003.wal", "MANIFEST-000002", "LOCK", "MANIFEST-000011", "MANIFEST-000009",
                 "MANIFEST-000012.tmp"};
    CHECK(names_live_manifest(a, 6, &n) == XETS_OK && n == 11, "the highest");
    char *b[] = {"LOCK", "MANIFEST-000001.tmp", "x"};
    CHECK(names_live_manifest(b, 3, &n) == XETS_NOTFOUND, "a table not yet created");
    CHECK(names_live_manifest(NULL, 0, &n) == XETS_NOTFOUND, "an empty directory");
    char *c[] = {"MANIFEST-000001.tmp", "000004.sst"};
    CHECK(names_live_manifest(c, 2, &n) == XETS_CORRUPT, "an SSTable without a manifest");
    char *d[] = {"000004.wal"};
    CHECK(names_live_manifest(d, 1, &n) == XETS_CORRUPT, "a WAL without a manifest");
}

static void test_orphans(void)
{
    manifest_state_t s = MANIFEST_STATE_INIT;
    const uint8_t k[] = "k";
    manifest_file_t f[3] = {
        {.number = 5, .level = 0, .smallest = k, .smallest_len = 1, .largest = k, .largest_len = 1},
        {.number = 8, .level = 2, .smallest = k, .smallest_len = 1, .largest = k, .largest_len = 1},
        {.number = 9, .level = 2, .smallest = k, .smallest_len = 1, .largest = k, .largest_len = 1}};
    manifest_edit_t e = {.set = MANIFEST_SET_NEXT_FILE | MANIFEST_SET_LOG_NUMBER,
                         .next_file = 20, .log_number = 10, .add = f, .nadd = 3};
    CHECK(manifest_state_apply(&s, &e) == XETS_OK, "state");
    struct {
        char *name;
        bool orphan;
    } listing[] = {
        {"000005.sst", false}, {"000008.sst", false},    {"000009.sst", false},
        {"000006.sst", true},  {"000021.sst", true},     {"000007.wal", true},
        {"000010.wal", false}, {"000015.wal", false},    {"MANIFEST-000004", true},
        {"MANIFEST-000012", false}, {"000011.sst.tmp", true}, {"MANIFEST-000013.tmp", true},
        {"LOCK", false},       {"notes.txt", false},     {"0005.sst", false},
    };
    size_t n = sizeof listing / sizeof *listing;
    char *names[sizeof listing / sizeof *listing];
    bool orphan[sizeof listing / sizeof *listing];
    for (size_t i = 0; i < n; i++)
        names[i] = listing[i].name;
    uint64_t missing = 0;
    CHECK(names_orphans(&s, 12, names, n, orphan, &missing) == XETS_OK, "nothing missing");
    for (size_t i = 0; i < n; i++)
        CHECK(orphan[i] == listing[i].orphan, "%s: orphan %d", names[i], orphan[i]);
    /* Without 000008.sst. */
    names[1] = "000018.sst";
    CHECK(names_orphans(&s, 12, names, n, orphan, &missing) == XETS_CORRUPT && missing == 8,
          "a live SSTable missing");
    CHECK(orphan[1], "and the stray one an orphan still");
    manifest_state_free(&s);
}

int main(void)
{
    test_format_parse();
    test_live_manifest();
    test_orphans();
    printf("names_test: ok\n");
    return 0;
}
