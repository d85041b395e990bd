/* The names of a persistent table's files (doc/manifest_format.md, "File
 * names"), and what a directory listing says once the manifest is read:
 * pure functions over names, no file system.
 *
 *   000007.sst       SSTable 7
 *   000003.wal       write-ahead log 3
 *   MANIFEST-000002  manifest 2
 *   <any of those>.tmp   a file being written, renamed into place once
 *                        durable
 *
 * Every file takes its number from one counter (the manifest's
 * next_file), so a number names one file; numbers are decimal, at least
 * six digits, zero-padded, in exactly that form. The live manifest is the
 * one with the highest number: a new manifest is renamed into place only
 * once it is durable, and the old one removed after, so no CURRENT file
 * is needed. Names not of this scheme (the fs layer's lock, a user's
 * notes) are never touched.
 *
 * Thread-safety: no shared state. */
#ifndef XETS_DISK_NAMES_H
#define XETS_DISK_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

enum names_kind {
    NAMES_OTHER, /* not of the scheme */
    NAMES_SST,
    NAMES_WAL,
    NAMES_MANIFEST,
    NAMES_TMP /* a temporary name of any of the three */
};

/* "MANIFEST-" + 20 digits + ".tmp" + NUL, rounded up. */
#define NAMES_LEN 40

/* The name of file number n of kind k (SST, WAL or MANIFEST), with ".tmp"
 * after it when tmp. */
void names_format(char out[NAMES_LEN], enum names_kind k, uint64_t n, bool tmp);

/* The kind of name, and for the three kinds of table file (and their
 * temporary names) its number. */
enum names_kind names_parse(const char *name, uint64_t *n);

/* The number of the live manifest among the n names: XETS_OK;
 * XETS_NOTFOUND when there is none and no SSTable or WAL either (a table
 * not yet created, or whose creation a crash cut short); XETS_CORRUPT
 * when there are SSTables or WALs but no manifest. */
int names_live_manifest(char *const *names, size_t n, uint64_t *number);

/* orphan[i] = whether names[i] is a file that the table whose live
 * manifest is number manifest, of state s, does not need: an SSTable s
 * does not hold, a WAL numbered below s->log_number, an older manifest, a
 * temporary file. XETS_OK; XETS_CORRUPT when an SSTable of s is not among
 * the names (*missing = its number); orphan[] is filled either way. */
int names_orphans(const manifest_state_t *s, uint64_t manifest, char *const *names, size_t n,
                  bool *orphan, uint64_t *missing);

#endif
