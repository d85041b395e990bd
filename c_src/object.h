/* Objects on their way into a store and out of it, for the operations of
 * the glue: a term prepared for storing (its key encoded, its external
 * format, a bag's fingerprint), a stored object decoded, and the identity
 * test that tells a bag's objects apart (=:=).
 *
 * Thread-safety: whatever the caller's env allows; stored bytes are read
 * inside the caller's epoch section. */
#ifndef XETS_OBJECT_H
#define XETS_OBJECT_H

#include <erl_nif.h>
#include <stdbool.h>

#include "call.h"
#include "store.h"
#include "table.h"
#include "term_key.h"

/* argv's key encoded as a key of t, into kb (initialized here, freed by
 * the caller whatever the result). XETS_OK or XETS_NOMEM. */
int object_key(ErlNifEnv *env, table_t *t, ERL_NIF_TERM key, kbuf_t *kb);

/* An object ready to be stored. */
typedef struct prepared {
    ERL_NIF_TERM obj;
    kbuf_t key;
    ErlNifBinary etf;
    bool owns_etf; /* made here, not passed in */
    uint64_t fp;
} prepared_t;

/* Prepares obj, a tuple with a key, for t: XETS_OK, XETS_BADARG for
 * anything else, or XETS_NOMEM. etf is obj's external format as
 * term_to_binary/1 made it, kept alive by the caller, or NULL to make it
 * here. */
int object_prepare(ErlNifEnv *env, table_t *t, ERL_NIF_TERM obj, const ErlNifBinary *etf,
                   prepared_t *p);
void object_prepared_free(prepared_t *p);
rec_in_t object_rec_in(const prepared_t *p);

/* Stores a prepared object as insert/2 does (or insert_new/2 with
 * PUT_NEW): a store's put with bag identity. */
int object_put(table_t *t, xets_call_t *call, prepared_t *p, enum put_mode mode);

/* The stored object as a term of env. */
ERL_NIF_TERM object_decode(ErlNifEnv *env, const rec_t *r);

/* A store visit that conses each object (or its element pos) onto list,
 * in reverse. */
typedef struct collect_ctx {
    ErlNifEnv *env;
    ERL_NIF_TERM list; /* reversed */
    unsigned pos;      /* lookup_element: element to take, else 0 */
    bool bad;          /* an object lacked element pos */
    /* A read, which stops at an object too long to copy on this thread,
     * to be redone on a dirty scheduler (too_long). NULL: no stop. */
    xets_call_t *may_stop;
    bool too_long;
} collect_ctx_t;

int object_collect(void *ctx, const rec_t *r);

/* Is a stored object =:= obj? (object_is_identical, a store's pred_fn.) */
typedef struct identical_ctx {
    ERL_NIF_TERM obj;
    const ErlNifBinary *etf; /* obj's external format, or NULL */
    uint64_t fp;
    bool use_fp;
    /* delete_object: an object too long to decode on this thread is taken
     * as not identical, and the call redone on a dirty scheduler. Objects
     * =:= obj are all as long as it, so none of them is deleted before
     * the redo. NULL: decode whatever the length. */
    xets_call_t *may_skip;
    bool skipped;
    ErlNifEnv *scratch;
} identical_ctx_t;

bool object_is_identical(void *ctx, const rec_t *r);
void object_identical_done(identical_ctx_t *c);

#endif
