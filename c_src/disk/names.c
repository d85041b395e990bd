/* The names of a table's files (names.h). A name is read by taking it
 * apart and formatting it again: only a name that comes back the same is
 * of the scheme, so that one number never has two names. */
#include "names.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../status.h"

#define MANIFEST_PREFIX "MANIFEST-"
#define TMP_SUFFIX ".tmp"

void names_format(char out[NAMES_LEN], enum names_kind k, uint64_t n, bool tmp)
{
    const char *t = tmp ? TMP_SUFFIX : "";
    if (k == NAMES_MANIFEST)
        snprintf(out, NAMES_LEN, MANIFEST_PREFIX "%06" PRIu64 "%s", n, t);
    else
        snprintf(out, NAMES_LEN, "%06" PRIu64 "%s%s", n, k == NAMES_SST ? ".sst" : ".wal", t);
}

/* The number written in digits[0 .. len), or false. */
static bool parse_number(const char *digits, size_t len, uint64_t *n)
{
    if (len < 6 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(digits[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *n = v;
    return true;
}

enum names_kind names_parse(const char *name, uint64_t *n)
{
    size_t len = strlen(name);
    size_t tl = strlen(TMP_SUFFIX);
    bool tmp = len > tl && strcmp(name + len - tl, TMP_SUFFIX) == 0;
    if (tmp)
        len -= tl;
    enum names_kind k;
    uint64_t v;
    size_t pl = strlen(MANIFEST_PREFIX);
    if (len > pl && memcmp(name, MANIFEST_PREFIX, pl) == 0) {
        k = NAMES_MANIFEST;
        if (!parse_number(name + pl, len - pl, &v))
            return NAMES_OTHER;
    } else if (len > 4 && (memcmp(name + len - 4, ".sst", 4) == 0 ||
                           memcmp(name + len - 4, ".wal", 4) == 0)) {
        k = name[len - 3] == 's' ? NAMES_SST : NAMES_WAL;
        if (!parse_number(name, len - 4, &v))
            return NAMES_OTHER;
    } else {
        return NAMES_OTHER;
    }
    char again[NAMES_LEN];
    names_format(again, k, v, tmp);
    if (strcmp(again, name) != 0)
        return NAMES_OTHER;
    *n = v;
    return tmp ? NAMES_TMP : k;
}

int names_live_manifest(char *const *names, size_t n, uint64_t *number)
{
    bool found = false, files = false;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        switch (names_parse(names[i], &v)) {
        case NAMES_MANIFEST:
            if (!found || v > *number)
                *number = v;
            found = true;
            break;
        case NAMES_SST:
        case NAMES_WAL:
            files = true;
            break;
        default:
            break;
        }
    }
    return found ? XETS_OK : files ? XETS_CORRUPT : XETS_NOTFOUND;
}

int names_orphans(const manifest_state_t *s, uint64_t manifest, char *const *names, size_t n,
                  bool *orphan, uint64_t *missing)
{
    size_t listed = 0; /* live SSTables among the names */
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        switch (names_parse(names[i], &v)) {
        case NAMES_SST: {
            bool live = manifest_state_find(s, v) != NULL;
            orphan[i] = !live;
            listed += live;
            break;
        }
        case NAMES_WAL:
            orphan[i] = v < s->log_number;
            break;
        case NAMES_MANIFEST:
            orphan[i] = v < manifest;
            break;
        case NAMES_TMP:
            orphan[i] = true;
            break;
        case NAMES_OTHER:
            orphan[i] = false;
            break;
        }
    }
    size_t live = 0;
    for (int l = 0; l < MANIFEST_LEVELS; l++)
        live += s->level[l].n;
    if (listed == live)
        return XETS_OK;
    /* One is missing (the names of a directory are distinct): which. */
    for (int l = 0; l < MANIFEST_LEVELS; l++) {
        for (size_t j = 0; j < s->level[l].n; j++) {
            char name[NAMES_LEN];
            names_format(name, NAMES_SST, s->level[l].files[j].number, false);
            size_t i = 0;
            while (i < n && strcmp(names[i], name) != 0)
                i++;
            if (i == n) {
                *missing = s->level[l].files[j].number;
                return XETS_CORRUPT;
            }
        }
    }
    return XETS_OK;
}
