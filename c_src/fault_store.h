/* A store that fails on demand, for tests of what the glue makes of a
 * store's failures (glue.h): a set in memory (hash_table.c) whose next
 * call of one operation answers XETS_IO, XETS_CORRUPT or XETS_NEED_IO as
 * armed, having done nothing. The I/O request of XETS_NEED_IO records,
 * when it runs, on which kind of thread and whether inside an epoch
 * section, and can be armed to fail in turn.
 *
 * Tables of it are made by xets_nif:new/2 with the type xets_fault_set
 * (table_kind.c), which xets:new/2 never passes; nothing else reaches it.
 *
 * Thread-safety: as hash_table.c; arming is atomic. */
#ifndef XETS_FAULT_STORE_H
#define XETS_FAULT_STORE_H

#include "store.h"

enum fault_op { FAULT_PUT, FAULT_GET, FAULT_REMOVE, FAULT_UPDATE, FAULT_CURSOR, FAULT_OPS };

/* What an armed operation answers. */
enum fault_kind {
    FAULT_IO,          /* XETS_IO: a read failed with EIO */
    FAULT_CORRUPT,     /* XETS_CORRUPT */
    FAULT_NEED_IO,     /* XETS_NEED_IO, with a request that succeeds */
    FAULT_NEED_IO_FAILS /* XETS_NEED_IO, with a request that fails with EIO */
};

extern const store_ops_t fault_store_ops;

/* The next call of op on s (a store of fault_store_ops) answers as kind. */
void fault_store_arm(store_t *s, enum fault_op op, enum fault_kind kind);

/* Since the module was loaded: I/O requests run on a dirty I/O
 * scheduler, run elsewhere, and run inside an epoch section. */
typedef struct fault_log {
    unsigned long dirty_io, elsewhere, in_section;
} fault_log_t;

fault_log_t fault_store_log(void);

#endif
