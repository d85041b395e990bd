/* SSTables as files: sstable.h's builder and reader over fs.h. The order
 * of writes, syncs and renames, and why, is in sstable_file.h.
 *
 * A writer goes OPEN (the temporary file open, being written) -> RENAMED
 * (synced, closed and renamed; the directory sync to come) -> DONE. Its
 * state says which name an abandon removes: OPEN the temporary one,
 * RENAMED the final one, DONE none. */
#include "sstable_file.h"

#include <stdlib.h>

#include "names.h"

enum writer_state { W_OPEN, W_RENAMED, W_DONE };

struct sst_file_writer {
    fs_dir_t *dir;
    fs_file_t *file; /* NULL once closed */
    sst_builder_t *b;
    enum writer_state state;
    char tmp[NAMES_LEN], name[NAMES_LEN];
};

struct sst_file {
    fs_file_t *file;
    sst_reader_t *reader;
    char name[NAMES_LEN];
};

/* The builder's write callback: fs_write names the file and offset of a
 * failure. */
static int file_write(void *ctx, uint64_t off, const void *p, size_t len, xets_call_t *call)
{
    sst_file_writer_t *w = ctx;
    return fs_write(w->file, off, p, len, call);
}

int sst_file_create(fs_dir_t *d, uint64_t number, const sst_options_t *o,
                    sst_file_writer_t **out, xets_call_t *call)
{
    sst_file_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return XETS_NOMEM;
    w->dir = d;
    names_format(w->tmp, NAMES_SST, number, true);
    names_format(w->name, NAMES_SST, number, false);
    /* The builder first: bad options are refused before any file exists. */
    int rc = sst_builder_new(o, file_write, w, &w->b);
    if (rc == XETS_OK)
        rc = fs_open(d, w->tmp, FS_CREATE, &w->file, call);
    if (rc != XETS_OK) {
        sst_builder_free(w->b);
        free(w);
        return rc;
    }
    *out = w;
    return XETS_OK;
}

int sst_file_add(sst_file_writer_t *w, const unsigned char *key, size_t klen, uint64_t seq,
                 uint8_t kind, const unsigned char *val, size_t vlen, xets_call_t *call)
{
    return sst_builder_add(w->b, key, klen, seq, kind, val, vlen, call);
}

int sst_file_finish(sst_file_writer_t *w, sst_built_t *out, xets_call_t *call)
{
    int rc = sst_builder_finish(w->b, out, call);
    if (rc == XETS_OK)
        rc = fs_sync(w->file, call);
    if (rc != XETS_OK)
        return rc;
    fs_close(w->file);
    w->file = NULL;
    rc = fs_rename(w->dir, w->tmp, w->name, call);
    if (rc != XETS_OK)
        return rc;
    w->state = W_RENAMED;
    rc = fs_dir_sync(w->dir, call);
    if (rc != XETS_OK)
        return rc;
    w->state = W_DONE;
    return XETS_OK;
}

void sst_file_writer_free(sst_file_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->file != NULL)
        fs_close(w->file);
    if (w->state != W_DONE) {
        /* Best effort: a name that stays is an orphan (sstable_file.h), so
         * the failure, already reported or of no interest to a caller who
         * gave up, is dropped with the scratch call that holds it. */
        xets_call_t scratch;
        call_init(&scratch, CALL_OWN, NULL);
        (void)fs_remove(w->dir, w->state == W_OPEN ? w->tmp : w->name, &scratch);
    }
    sst_builder_free(w->b);
    free(w);
}

/* The reader's read callback: every byte asked for, which lie within the
 * size taken at open, or the file is shorter than its footer claims. */
static int file_read(void *ctx, uint64_t off, void *buf, size_t len, xets_call_t *call)
{
    sst_file_t *f = ctx;
    size_t got = 0;
    int rc = fs_read(f->file, off, buf, len, &got, call);
    if (rc == XETS_OK && got < len)
        rc = call_fail(call, XETS_CORRUPT, "truncated", f->name, off + got, 0);
    return rc;
}

int sst_file_open(fs_dir_t *d, uint64_t number, sst_file_t **out, xets_call_t *call)
{
    sst_file_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return XETS_NOMEM;
    names_format(f->name, NAMES_SST, number, false);
    uint64_t size = 0;
    int rc = fs_open(d, f->name, FS_READ, &f->file, call);
    if (rc == XETS_OK)
        rc = fs_size(f->file, &size, call);
    if (rc == XETS_OK) {
        sst_source_t src = {.read = file_read, .ctx = f, .size = size, .name = f->name};
        rc = sst_reader_open(&src, &f->reader, call);
    }
    if (rc != XETS_OK) {
        sst_file_close(f);
        return rc;
    }
    *out = f;
    return XETS_OK;
}

const sst_reader_t *sst_file_reader(const sst_file_t *f)
{
    return f->reader;
}

void sst_file_close(sst_file_t *f)
{
    if (f == NULL)
        return;
    sst_reader_close(f->reader);
    if (f->file != NULL)
        fs_close(f->file);
    free(f);
}
