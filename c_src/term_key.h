/* Canonical key encoding of live terms (DESIGN.md, "Terms"): the front end
 * of key_codec.h for terms read through erl_nif, with the same encodings
 * (KEY_ORDERED "ordered.1", KEY_EXACT "exact.1"; layout in key_codec.c):
 * a term and term_to_binary/1 of it, given to key_codec_encode with the
 * local node, encode byte for byte alike.
 *
 * Local pids, ports and references encode with the local marker: which
 * node is local is read, with the term, from a fresh reference of the
 * running node, so a key holding one encodes the same before and after
 * the node turns distributed.
 *
 * Thread-safety: as key_codec.h; env is the caller's. */
#ifndef XETS_TERM_KEY_H
#define XETS_TERM_KEY_H

#include <erl_nif.h>
#include <stdbool.h>
#include <stdint.h>

#include "key_codec.h"

/* Appends the encoding of t to out. Returns XETS_OK or XETS_NOMEM (out is
 * then left as it was). Never recurses on the C stack, whatever the depth
 * of t. */
int term_key_encode(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *out);

/* For a match-spec pattern of a key: appends the longest byte string that
 * begins the encoding of every key the pattern can match (preorder, up to
 * the first variable '_' or '$N', or map holding one). Returns XETS_OK when the pattern
 * has no variable (out then holds the key's whole encoding), XETS_END when
 * it stopped early, or XETS_NOMEM / XETS_BADARG as term_key_encode. */
int term_key_pattern_prefix(ErlNifEnv *env, ERL_NIF_TERM pattern, key_mode_t mode, kbuf_t *out);

/* Whether a pattern holds a map anywhere: a map pattern matches every map
 * that has its keys, so such a pattern, although free of variables,
 * matches keys other than its own. Very deep patterns count as holding
 * one. */
bool term_key_holds_map(ErlNifEnv *env, ERL_NIF_TERM pattern);

/* The hash of obj's exact encoding, which tells bag objects apart (equal
 * fingerprints are then checked with =:=). */
int term_key_fingerprint(ErlNifEnv *env, ERL_NIF_TERM obj, uint64_t *fp);

#endif
