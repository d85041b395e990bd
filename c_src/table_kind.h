/* What each of ets's four table types is made of (DESIGN.md, "The house":
 * the per-type descriptor): which store serves it, how its keys are
 * encoded, and each thing its type decides above the store. The glue and
 * the operations ask a table's kind what to do, never its type's name.
 * It lives above the core: table.c holds a table's kind without reading
 * it.
 *
 * Thread-safety: immutable. */
#ifndef XETS_TABLE_KIND_H
#define XETS_TABLE_KIND_H

#include <erl_nif.h>
#include <stdbool.h>

#include "store.h"
#include "term_key.h"

typedef struct table_kind {
    const ERL_NIF_TERM *name; /* the type's atom */
    const store_ops_t *ops;   /* the store serving it in memory */
    enum store_kind store;
    key_mode_t key_mode; /* ordered_set keys are equal when ==, the others when =:= */
    /* ordered_set: keys in term order. Traversals go both ways, a step
     * may start from a key not in the table, slot/2 counts objects (there
     * are no buckets), and results come in term order. */
    bool ordered;
    /* bag, duplicate_bag: a key holds many objects, told apart by a
     * fingerprint; lookup_element/3 returns a list; traversals gather a
     * key's objects (key_group.h). */
    bool multi;
    /* bag: a key's objects are distinct. As in ets, a list insert fills
     * it from the list's last object, and select_replace/2 is refused. */
    bool distinct;
    /* set, ordered_set: update_counter/3,4 and update_element/3,4. */
    bool counters;
} table_kind_t;

/* The kind of the type named by an atom, or NULL. */
const table_kind_t *table_kind_named(ERL_NIF_TERM name);

#endif
