#include "table_kind.h"

#include "atoms.h"
#include "fault_store.h"

static const table_kind_t kinds[] = {
    {.name = &atom_set, .ops = &hash_table_ops, .store = STORE_SET, .key_mode = KEY_EXACT,
     .counters = true},
    {.name = &atom_ordered_set, .ops = &skiplist_ops, .store = STORE_SET, .key_mode = KEY_ORDERED,
     .ordered = true, .counters = true},
    {.name = &atom_bag, .ops = &hash_table_ops, .store = STORE_BAG, .key_mode = KEY_EXACT,
     .multi = true, .distinct = true},
    {.name = &atom_duplicate_bag, .ops = &hash_table_ops, .store = STORE_DUPLICATE_BAG,
     .key_mode = KEY_EXACT, .multi = true},
    /* Tests only (fault_store.h): a set whose store fails on demand. */
    {.name = &atom_xets_fault_set, .ops = &fault_store_ops, .store = STORE_SET,
     .key_mode = KEY_EXACT, .counters = true},
};

const table_kind_t *table_kind_named(ERL_NIF_TERM name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (*kinds[i].name == name)
            return &kinds[i];
    return NULL;
}
