/* The manifest of a persistent table (DESIGN.md, "The disk tier";
 * doc/manifest_format.md): which files make the table. It is a log
 * (log_record.h) of atomic edits ("add 7, remove 3 and 4"), each appended
 * and made durable before anything relies on it; replaying the edits in
 * order into an empty manifest_state_t gives the table's files.
 *
 * Its first record holds the table's identity (format version, key
 * encoding, order, table type, keypos), with which xets:open/3 checks
 * what it is asked for, and a first edit: the whole state when the
 * manifest was written. A manifest is written whole under a temporary
 * name, made durable and only then renamed into place (names.h), so its
 * first record is always durable: a reader that cannot read it reports
 * corruption, never a torn tail. Later edits follow the torn-or-corrupt
 * rule of log_record.h.
 *
 * State invariants, checked by every edit (a breach is corruption): file
 * numbers start at 1; a live file's number is below next_file, and so is
 * log_number unless it is 0 (no WAL named yet); a number is live at most
 * once, on one level below MANIFEST_LEVELS; a file's smallest key is at
 * most its largest (memcmp order, shorter first), its smallest sequence
 * number at most its largest, which is at most last_seq; next_file,
 * last_seq and log_number never decrease. Within an edit, removals apply
 * before additions, so that one edit moves a file between levels.
 *
 * Thread-safety: no shared state; a state belongs to one thread (or to
 * whoever serialises its edits). */
#ifndef XETS_DISK_MANIFEST_H
#define XETS_DISK_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "log_record.h"

#define MANIFEST_MAGIC "XETS-MAN"
#define MANIFEST_VERSION 1
#define MANIFEST_LEVELS 8

typedef struct manifest_header {
    log_ident_t id;                /* version, key encoding, order */
    char type[LOG_NAME_MAX + 1];   /* the table type's name: "set", "bag", ... */
    uint32_t keypos;               /* 1-based */
} manifest_header_t;

/* An SSTable as the manifest knows it. */
typedef struct manifest_file {
    uint64_t number;
    unsigned level;
    uint64_t entries, bytes;
    uint64_t smallest_seq, largest_seq;
    /* The first and last sort keys of the file (in the table's order). */
    const uint8_t *smallest, *largest;
    uint32_t smallest_len, largest_len;
} manifest_file_t;

/* Which of an edit's scalar fields it sets. */
enum {
    MANIFEST_SET_NEXT_FILE = 1,
    MANIFEST_SET_LAST_SEQ = 2,
    MANIFEST_SET_LOG_NUMBER = 4,
    MANIFEST_SET_OBJECTS = 8
};

typedef struct manifest_edit {
    unsigned set;        /* MANIFEST_SET_* */
    uint64_t next_file;  /* the next file number to give out */
    uint64_t last_seq;   /* batches up to it are in SSTables: WALs replay after it */
    uint64_t log_number; /* WAL files numbered at least this are live */
    uint64_t objects;    /* the table's objects after the batches up to last_seq */
    const uint64_t *remove;
    size_t nremove;
    const manifest_file_t *add;
    size_t nadd;
} manifest_edit_t;

typedef struct manifest_level {
    manifest_file_t *files; /* sorted by number; keys owned by the state */
    size_t n;
} manifest_level_t;

/* The files of a table, with the scalars of manifest_edit_t. A zeroed
 * state (MANIFEST_STATE_INIT) is the empty one. */
typedef struct manifest_state {
    manifest_level_t level[MANIFEST_LEVELS];
    uint64_t next_file, last_seq, log_number, objects;
} manifest_state_t;

#define MANIFEST_STATE_INIT {0}

void manifest_state_free(manifest_state_t *s);

/* The live file numbered number, or NULL. */
const manifest_file_t *manifest_state_find(const manifest_state_t *s, uint64_t number);

/* Applies e to s, all of it or nothing: XETS_OK; XETS_CORRUPT when e
 * breaks an invariant (see the top); XETS_NOMEM. s is unchanged on
 * failure. Copies the keys it keeps. */
int manifest_state_apply(manifest_state_t *s, const manifest_edit_t *e);

/* Makes *to (which it initialises) a copy of from, keys and all: XETS_OK;
 * XETS_NOMEM, *to empty. */
int manifest_state_copy(manifest_state_t *to, const manifest_state_t *from);

/* Appends the first record of a manifest file of number number: h and the
 * whole of s. XETS_OK; XETS_BADARG (a name not valid, keypos 0, or too
 * large for a record); XETS_NOMEM. On failure b is as it was. */
int manifest_encode_start(bytes_t *b, const manifest_header_t *h, const manifest_state_t *s,
                          uint64_t number);

/* Appends the record of e. synced: how much of the file was durable when
 * it is written (log_record.h; the whole file, when each edit is made
 * durable before the next is written). XETS_OK; XETS_BADARG (a key too
 * long for a record); XETS_NOMEM. On failure b is as it was. */
int manifest_encode_edit(bytes_t *b, const manifest_edit_t *e, uint64_t synced, uint64_t number);

/* Reads the manifest file of number number whose bytes are buf[0 .. len)
 * into *h and *s (which it initialises). XETS_OK, the whole file read
 * (*at = len); XETS_TORN, a torn last edit cut off at *at (s holds the
 * edits before it); XETS_CORRUPT at *at (a bad record, or an edit that
 * breaks an invariant); XETS_BADARG when the format version is not
 * MANIFEST_VERSION (h->id.version tells which); XETS_NOMEM. s is empty
 * after a failure. */
int manifest_replay(const uint8_t *buf, size_t len, uint64_t number, manifest_header_t *h,
                    manifest_state_t *s, uint64_t *at);

#endif
