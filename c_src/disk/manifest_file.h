/* The manifest as a file (doc/manifest_format.md, "Writing" and
 * "Reading"): the codec and state of manifest.h over the file system of
 * fs.h, named as names.h says. A table has one manifest_log_t, the handle
 * of its live manifest, through which every edit of its files goes.
 *
 * Writes, syncs and renames, in order:
 *   - a new manifest (a new table, or a rewrite of a long one): its first
 *     record (header and whole state) written to MANIFEST-n.tmp, fs_sync,
 *     fs_rename to MANIFEST-n, fs_dir_sync. The live manifest is the
 *     highest-numbered one, so the rename is the switch, and only a
 *     durable file ever takes the name; the rename counts once the
 *     directory is synced, and nothing is logged to the new manifest
 *     before. The older manifests are then orphans, removed by the sweep,
 *     never before the new one is durable.
 *   - an edit: applied to a copy of the state (a refused edit writes
 *     nothing), written at the end of the file claiming synced = the
 *     file's durable size (all of it: each edit is synced before the next
 *     is written), fs_sync; only then does the state take it. A failed
 *     fs_sync leaves the log failed for good: the fate of its bytes is
 *     unknown (fs.h), so no later edit may claim them durable, and the
 *     sweep may not judge files by a state that may be behind the disk.
 *     The table must be reopened.
 *   - recovery: the directory listed, the live manifest read whole and
 *     replayed; a torn tail cut (fs_truncate); then fs_sync of the file
 *     and fs_dir_sync of the directory, always, so that nothing recovery
 *     serves (edits a crashed process wrote but never synced, a rename it
 *     never made durable) can vanish in a later power cut.
 *   - the sweep: the orphans (names_orphans against the state and the
 *     live manifest's number) removed, then fs_dir_sync.
 *
 * Invariants: size is the file's length and all of it is durable (but
 * after a failed write, whose bytes past size the next edit overwrites or
 * recovery cuts as a torn tail); state is what replaying the file gives;
 * once failed, no write is made through the handle.
 *
 * Thread-safety: a handle belongs to one thread at a time (its table
 * serialises edits, rewrites and sweeps). Every call does file I/O: none
 * may run inside an epoch section or on a normal scheduler. */
#ifndef XETS_DISK_MANIFEST_FILE_H
#define XETS_DISK_MANIFEST_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "../call.h"
#include "fs.h"
#include "manifest.h"
#include "names.h"

/* (manifest_file_t names an SSTable within the state: the handle of the
 * file itself is a manifest_log_t.) Its fields are read only. */
typedef struct manifest_log {
    fs_dir_t *dir; /* the table's, borrowed */
    fs_file_t *file;
    uint64_t number; /* MANIFEST-number */
    char name[NAMES_LEN];
    uint64_t size; /* bytes of the file, all durable */
    bool failed;   /* an fsync failed: no more writes */
    manifest_header_t header;
    manifest_state_t state; /* as of the last durable edit */
} manifest_log_t;

/* Creates the manifest of a new table in d (where recovery found none):
 * header h, state s (empty, or a first state), numbered s->next_file (at
 * least 1), which its state's next_file passes. XETS_OK with *out;
 * XETS_IO; XETS_BADARG (h not encodable); XETS_NOMEM. */
int manifest_file_create(fs_dir_t *d, const manifest_header_t *h, const manifest_state_t *s,
                         manifest_log_t **out, xets_call_t *call);

/* Logs e durably, then applies it to m->state. XETS_OK; XETS_CORRUPT, e
 * breaks an invariant (nothing written); XETS_IO (m->state unchanged;
 * after a failed fsync, and for every edit after it, with op "fsync");
 * XETS_BADARG; XETS_NOMEM. */
int manifest_file_edit(manifest_log_t *m, const manifest_edit_t *e, xets_call_t *call);

/* Replaces m's manifest by a new one holding its state alone, numbered
 * from next_file (which it advances past it). On failure before the
 * rename m goes on with the old file; after it (the rename or its
 * directory sync failed), m is failed. The old file is left to the
 * sweep. XETS_OK; XETS_IO; XETS_NOMEM. */
int manifest_file_rewrite(manifest_log_t *m, xets_call_t *call);

/* Opens the live manifest of d: XETS_OK with *out, positioned to append;
 * XETS_NOTFOUND, no manifest and no table file (a new table); XETS_CORRUPT
 * (call->error: the manifest's name and the offset; "MANIFEST" when the
 * table's files have none); XETS_BADARG, a format version this code does
 * not read; XETS_IO; XETS_NOMEM. */
int manifest_file_recover(fs_dir_t *d, manifest_log_t **out, xets_call_t *call);

/* Removes the files of d that m's table does not need (names.h): SSTables
 * the state does not hold, WALs before log_number, older manifests,
 * temporary files; then syncs the directory. Files the caller is still
 * writing, not yet added by an edit, are not known to it: it runs when
 * none is (at open, or with flushes and compactions paused). XETS_OK;
 * XETS_CORRUPT, an SSTable of the state is missing (nothing removed);
 * XETS_IO (also when m is failed, removing nothing); XETS_NOMEM. */
int manifest_file_sweep(manifest_log_t *m, xets_call_t *call);

/* Closes the file and frees m (its directory stays open). */
void manifest_file_close(manifest_log_t *m);

#endif
