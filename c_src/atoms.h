/* The atoms the glue answers with and reads, made once at load.
 *
 * Thread-safety: written by atoms_init() in the NIF's load, read-only
 * after. */
#ifndef XETS_ATOMS_H
#define XETS_ATOMS_H

#include <erl_nif.h>

#define XETS_ATOMS(X)                                                                              \
    X(atom_true, "true")                                                                           \
    X(atom_false, "false")                                                                         \
    X(atom_undefined, "undefined")                                                                 \
    X(atom_none, "none")                                                                           \
    X(atom_ok, "ok")                                                                               \
    X(atom_error, "error")                                                                         \
    X(atom_badarg, "badarg")                                                                       \
    X(atom_system_limit, "system_limit")                                                           \
    X(atom_xets_io, "xets_io")                                                                     \
    X(atom_corrupt, "corrupt")                                                                     \
    X(atom_xets_await, "$xets_await")                                                              \
    X(atom_xets_synced, "$xets_synced")                                                            \
    X(atom_locked, "locked")                                                                       \
    X(atom_mismatch, "mismatch")                                                                   \
    X(atom_format, "format")                                                                       \
    X(atom_always, "always")                                                                       \
    X(atom_interval, "interval")                                                                   \
    X(atom_persistent, "persistent")                                                               \
    X(atom_spill, "spill")                                                                         \
    X(atom_infinity, "infinity")                                                                   \
    X(atom_enoent, "enoent")                                                                       \
    X(atom_ordered, "ordered")                                                                     \
    X(atom_exact, "exact")                                                                         \
    X(atom_end_of_table, "$end_of_table")                                                          \
    X(atom_forward, "forward")                                                                     \
    X(atom_set, "set")                                                                             \
    X(atom_ordered_set, "ordered_set")                                                             \
    X(atom_bag, "bag")                                                                             \
    X(atom_duplicate_bag, "duplicate_bag")                                                         \
    X(atom_private, "private")                                                                     \
    X(atom_protected, "protected")                                                                 \
    X(atom_public, "public")                                                                       \
    X(atom_auto, "auto")                                                                           \
    X(atom_nodefault, "nodefault")                                                                 \
    X(atom_default, "default")                                                                     \
    X(atom_keep, "keep")                                                                           \
    X(atom_results, "results")                                                                     \
    X(atom_count, "count")                                                                         \
    X(atom_delete, "delete")                                                                       \
    X(atom_replace, "replace")                                                                     \
    X(atom_deferred, "deferred")                                                                   \
    X(atom_lookup, "lookup")                                                                       \
    X(atom_walk, "walk")                                                                           \
    X(atom_continue, "continue")                                                                   \
    X(atom_const, "const")                                                                         \
    X(atom_xets_fault_set, "xets_fault_set")                                                       \
    X(atom_put, "put")                                                                             \
    X(atom_get, "get")                                                                             \
    X(atom_remove, "remove")                                                                       \
    X(atom_update, "update")                                                                       \
    X(atom_cursor, "cursor")                                                                       \
    X(atom_io, "io")                                                                               \
    X(atom_need_io, "need_io")                                                                     \
    X(atom_need_io_fails, "need_io_fails")

#define XETS_ATOM_DECLARE(var, name) extern ERL_NIF_TERM var;
XETS_ATOMS(XETS_ATOM_DECLARE)
#undef XETS_ATOM_DECLARE

void atoms_init(ErlNifEnv *env);

#endif
