/* The manifest as a file (manifest_file.h; the order of writes, syncs and
 * renames is there). Each step that may fail leaves the handle as it was
 * unless the disk may now differ from it in a way no retry can tell: a
 * failed fsync (its bytes' fate unknown) and a failed rename or directory
 * sync of a new manifest (which file is live after a crash unknown) fail
 * the handle for good. */
#include <errno.h>
#include <stdlib.h>

#include "manifest_file.h"

static int failed(manifest_log_t *m, xets_call_t *call)
{
    return call_fail(call, XETS_IO, "fsync", m->name, m->size, EIO);
}

/* A state of MANIFEST-number: s with next_file past number, so that the
 * number, given out to the manifest, is given to no other file. */
static int state_for(const manifest_state_t *s, uint64_t number, manifest_state_t *out)
{
    int st = manifest_state_copy(out, s);
    manifest_edit_t past = {.set = MANIFEST_SET_NEXT_FILE, .next_file = number + 1};
    if (st == XETS_OK && (st = manifest_state_apply(out, &past)) != XETS_OK)
        manifest_state_free(out);
    return st;
}

/* Writes MANIFEST-number of h and s into place durably (see the top of
 * manifest_file.h) and opens it into m. *renamed tells whether the rename
 * was tried: a failure after it leaves the live manifest unknown. */
static int write_new(fs_dir_t *d, const manifest_header_t *h, const manifest_state_t *s,
                     uint64_t number, manifest_log_t *m, bool *renamed, xets_call_t *call)
{
    *renamed = false;
    *m = (manifest_log_t){.dir = d, .number = number, .header = *h};
    names_format(m->name, NAMES_MANIFEST, number, false);
    char tmp[NAMES_LEN];
    names_format(tmp, NAMES_MANIFEST, number, true);
    int st = state_for(s, number, &m->state);
    if (st != XETS_OK)
        return st;
    bytes_t b = BYTES_INIT;
    st = manifest_encode_start(&b, h, &m->state, number);
    /* A temporary file of this number is a leftover of an earlier try:
     * the number was never given to anything else. */
    if (st == XETS_OK && (st = fs_remove(d, tmp, call)) == XETS_NOTFOUND)
        st = XETS_OK;
    if (st == XETS_OK)
        st = fs_open(d, tmp, FS_CREATE, &m->file, call);
    if (st == XETS_OK)
        st = fs_write(m->file, 0, b.p, b.len, call);
    if (st == XETS_OK)
        st = fs_sync(m->file, call);
    if (st == XETS_OK) {
        *renamed = true;
        st = fs_rename(d, tmp, m->name, call);
    }
    if (st == XETS_OK)
        st = fs_dir_sync(d, call);
    m->size = b.len;
    bytes_free(&b);
    if (st != XETS_OK) {
        if (m->file)
            fs_close(m->file);
        manifest_state_free(&m->state);
    }
    return st;
}

int manifest_file_create(fs_dir_t *d, const manifest_header_t *h, const manifest_state_t *s,
                         manifest_log_t **out, xets_call_t *call)
{
    manifest_log_t *m = malloc(sizeof *m);
    if (!m)
        return XETS_NOMEM;
    bool renamed;
    int st = write_new(d, h, s, s->next_file ? s->next_file : 1, m, &renamed, call);
    if (st != XETS_OK) {
        free(m);
        return st;
    }
    *out = m;
    return XETS_OK;
}

int manifest_file_rewrite(manifest_log_t *m, xets_call_t *call)
{
    if (m->failed)
        return failed(m, call);
    uint64_t number = m->state.next_file > m->number ? m->state.next_file : m->number + 1;
    manifest_log_t next;
    bool renamed;
    int st = write_new(m->dir, &m->header, &m->state, number, &next, &renamed, call);
    if (st != XETS_OK) {
        m->failed = renamed;
        return st;
    }
    fs_close(m->file);
    manifest_state_free(&m->state);
    *m = next;
    return XETS_OK;
}

int manifest_file_edit(manifest_log_t *m, const manifest_edit_t *e, xets_call_t *call)
{
    if (m->failed)
        return failed(m, call);
    manifest_state_t next;
    int st = manifest_state_copy(&next, &m->state);
    if (st != XETS_OK)
        return st;
    if ((st = manifest_state_apply(&next, e)) != XETS_OK) {
        manifest_state_free(&next);
        return st == XETS_CORRUPT ? call_fail(call, st, "edit", m->name, m->size, 0) : st;
    }
    bytes_t b = BYTES_INIT;
    /* All of the file before this record is durable, and nothing more. */
    st = manifest_encode_edit(&b, e, m->size, m->number);
    if (st == XETS_OK)
        st = fs_write(m->file, m->size, b.p, b.len, call);
    if (st == XETS_OK && (st = fs_sync(m->file, call)) != XETS_OK)
        m->failed = true;
    if (st == XETS_OK) {
        manifest_state_free(&m->state);
        m->state = next;
        m->size += b.len;
    } else {
        manifest_state_free(&next);
    }
    bytes_free(&b);
    return st;
}

/* Reads the whole of m->file and replays it into m; cuts a torn tail,
 * then makes what it read durable. */
static int replay_file(manifest_log_t *m, xets_call_t *call)
{
    uint8_t *buf;
    size_t got;
    int st = fs_read_all(m->file, m->name, &buf, &got, call);
    if (st != XETS_OK)
        return st;
    uint64_t at = 0;
    st = manifest_replay(buf, got, m->number, &m->header, &m->state, &at);
    free(buf);
    if (st == XETS_CORRUPT || st == XETS_BADARG)
        return call_fail(call, st, "read", m->name, at, 0);
    if (st != XETS_OK && st != XETS_TORN)
        return st;
    m->size = at;
    /* A torn edit was never acknowledged: cut it, so that the next edit
     * follows the last whole one. */
    if (st == XETS_TORN && (st = fs_truncate(m->file, at, call)) != XETS_OK)
        return st;
    /* What was read may be a crashed process's unsynced writes, or a
     * rename it never made durable: durable before anyone relies on it. */
    return fs_sync_named(m->dir, m->file, call);
}

int manifest_file_recover(fs_dir_t *d, manifest_log_t **out, xets_call_t *call)
{
    char **names;
    size_t n;
    int st = fs_dir_list(d, &names, &n, call);
    if (st != XETS_OK)
        return st;
    uint64_t number = 0;
    st = names_live_manifest(names, n, &number);
    free(names);
    if (st == XETS_CORRUPT)
        return call_fail(call, st, "read", "MANIFEST", 0, 0);
    if (st != XETS_OK)
        return st;
    manifest_log_t *m = malloc(sizeof *m);
    if (!m)
        return XETS_NOMEM;
    *m = (manifest_log_t){.dir = d, .number = number};
    names_format(m->name, NAMES_MANIFEST, number, false);
    st = fs_open(d, m->name, FS_WRITE, &m->file, call);
    if (st == XETS_OK)
        st = replay_file(m, call);
    if (st != XETS_OK) {
        manifest_file_close(m);
        return st;
    }
    *out = m;
    return XETS_OK;
}

int manifest_file_sweep(manifest_log_t *m, xets_call_t *call)
{
    if (m->failed)
        return failed(m, call);
    char **names;
    size_t n;
    int st = fs_dir_list(m->dir, &names, &n, call);
    if (st != XETS_OK)
        return st;
    bool *orphan = malloc(n ? n * sizeof *orphan : 1);
    uint64_t missing;
    if (!orphan)
        st = XETS_NOMEM;
    else if (names_orphans(&m->state, m->number, names, n, orphan, &missing) != XETS_OK) {
        char name[NAMES_LEN];
        names_format(name, NAMES_SST, missing, false);
        st = call_fail(call, XETS_CORRUPT, "read", name, 0, 0);
    }
    for (size_t i = 0; st == XETS_OK && i < n; i++)
        if (orphan[i] && (st = fs_remove(m->dir, names[i], call)) == XETS_NOTFOUND)
            st = XETS_OK;
    if (st == XETS_OK)
        st = fs_dir_sync(m->dir, call);
    free(orphan);
    free(names);
    return st;
}

void manifest_file_close(manifest_log_t *m)
{
    if (m->file)
        fs_close(m->file);
    manifest_state_free(&m->state);
    free(m);
}
