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
    XETS_BUSY = -6,   /* an exclusive operation holds the table: retry */
    XETS_DIRTY = -7,  /* an object too long to copy here: redo on a dirty scheduler */
    XETS_CORRUPT = -8 /* stored bytes are malformed or truncated */
};

#endif
