/* Integer arithmetic on Erlang integer terms of any size, for
 * update_counter (which, like ets, must accept and produce bignums).
 *
 * Both functions take any integer terms; a non-integer (a float included)
 * gives XETS_BADARG. The common case, both operands and the result within
 * int64, does no allocation; bignums go through the external term format.
 * Thread-safe: no shared state. */
#ifndef XETS_TERM_INT_H
#define XETS_TERM_INT_H

#include <erl_nif.h>

/* *sum = a + b, made in env. XETS_OK, XETS_BADARG or XETS_NOMEM. */
int term_int_add(ErlNifEnv *env, ERL_NIF_TERM a, ERL_NIF_TERM b, ERL_NIF_TERM *sum);

/* *result = -1, 0 or 1 as a <, ==, > b. XETS_OK, XETS_BADARG or XETS_NOMEM. */
int term_int_cmp(ErlNifEnv *env, ERL_NIF_TERM a, ERL_NIF_TERM b, int *result);

#endif
