/* Match-spec traversals: select, select_count, select_delete,
 * select_replace, select_reverse (xets_select.erl builds the match family
 * on them).
 *
 * A plan is what a match spec means for one table: its program for the
 * match engine (match.h), and which keys can match at all: every clause's
 * key bound gives a list of keys to look up; on ordered_set, bound leading
 * parts of the keys, and guards comparing a key variable with constants,
 * give a range of the sortable encoding. Plans are
 * immutable resources, shared by the chunks of one traversal and by its
 * continuations. Each chunk is one short NIF call: it resumes where the
 * last one stopped. */
#ifndef XETS_SELECT_H
#define XETS_SELECT_H

#include <erl_nif.h>
#include <stdbool.h>
#include <stddef.h>

#include "table.h"

typedef struct select_plan select_plan_t;

enum select_op { SELECT_RESULTS, SELECT_COUNT, SELECT_DELETE, SELECT_REPLACE };

int select_module_init(ErlNifEnv *env);

/* Plans ms, already accepted by ets:match_spec_compile/1, for t: on
 * XETS_OK, *plan is a new resource term. Returns XETS_OK or XETS_NOMEM. */
int select_plan(ErlNifEnv *env, table_t *t, ERL_NIF_TERM ms, ERL_NIF_TERM *plan);

/* The plan a term names, if it was made for a table like t; else NULL. */
const select_plan_t *select_plan_get(ErlNifEnv *env, ERL_NIF_TERM term, table_t *t);

/* Where a chunk resumes: after the key whose encoding is key, or, when
 * left > 0, in that bag key, with the `left' objects a lookup returns
 * first (its oldest ones; all those it had, for a delete or replace that
 * stopped before the key). */
typedef struct select_cursor {
    const unsigned char *key;
    size_t klen;
    size_t left;
} select_cursor_t;

/* One chunk of a traversal, from the start (cursor NULL) or from cursor, in
 * direction dir (ordered_set; a hash table has one order). The order is
 * ets's: keys in table order, a bag key's objects newest first
 * (key_group.h). When the engine ran the spec on every object, *n is the
 * number of results (SELECT_RESULTS, at most about cap of them), which
 * *items then holds in reverse order in front of tail, or the number of
 * objects counted, deleted or replaced. Otherwise (*deferred: the spec
 * needs what the engine leaves to Erlang), *items is the list of the *n
 * objects that may match (at most about cap), in the order visited, for
 * Erlang to run the spec on with ets:match_spec_run_r/3, and nothing was
 * written. On a bag, SELECT_DELETE and SELECT_REPLACE take a key's
 * objects all in one chunk. *next is the cursor to resume from, {Key,
 * Left}, or '$end_of_table'. Call inside an epoch section on an entered
 * table. Returns XETS_OK, XETS_NOMEM, or XETS_DIRTY (an object too long
 * to copy on this thread, or a bag key too long to decide in one chunk
 * here: nothing was written; call.h), or a store's failure (XETS_IO...). */
int select_chunk(ErlNifEnv *env, table_t *t, xets_call_t *call, const select_plan_t *p,
                 const select_cursor_t *cursor,
                 enum scan_dir dir, enum select_op op, size_t cap, ERL_NIF_TERM tail,
                 bool *deferred, size_t *n, ERL_NIF_TERM *items, ERL_NIF_TERM *next);

/* A delete or replace that Erlang decided on an object of a deferred
 * chunk: the object's key, the object (old), and its replacement (with
 * the same key), or NULL to delete it. */
typedef struct select_write {
    const unsigned char *key;
    size_t klen;
    const unsigned char *old;
    size_t olen;
    const rec_in_t *repl;
} select_write_t;

/* Applies the writes of one deferred chunk, given in its order (w is
 * reordered). On a bag, in one store call per key, each of the key's
 * objects equal byte for byte to an old one gets its write (the chunk
 * took the key whole, and equal objects match alike). On a set or an
 * ordered_set, the key's object, if still old byte for byte (so 0.0 is
 * not -0.0). Returns how many objects it deleted or replaced, or the
 * store's failure (XETS_NOMEM, XETS_IO...). Call inside an epoch section on an entered table. */
int select_write(table_t *t, xets_call_t *call, select_write_t *w, size_t n);

#endif
