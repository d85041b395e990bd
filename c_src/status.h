/* Status codes returned by the C core. Only the NIF glue turns them into
 * Erlang results or exceptions (as ETS's DB_ERROR_* codes). */
#ifndef XETS_STATUS_H
#define XETS_STATUS_H

enum {
    XETS_OK = 0,
    XETS_NOTFOUND = -1, /* no object with that key */
    XETS_EXISTS = -2,   /* insert_new: the key is present */
    XETS_END = -3,      /* traversal reached the end of the table */
    XETS_NOMEM = -4,
    XETS_BADARG = -5, /* not accepted: an update callback refused the object, bytes of a format not read */
    XETS_BUSY = -6,    /* an exclusive operation holds the table: retry */
    XETS_DIRTY = -7,   /* too long for this thread: redo on a dirty CPU scheduler */
    XETS_CORRUPT = -8, /* stored bytes are malformed or truncated (call.h: error) */
    XETS_NEED_IO = -9, /* nothing done: run the call's I/O request, then redo (call.h) */
    XETS_IO = -10,     /* a file operation failed (call.h: error) */
    XETS_TORN = -11,   /* a log ends in a torn record: recovery cuts it (disk/log_record.h) */
    XETS_MISMATCH = -12 /* a table on disk is not what its opener asked for (disk/lsm.h) */
};

#endif
