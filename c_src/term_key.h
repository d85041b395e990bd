/* Canonical sortable encoding of Erlang terms (DESIGN.md, "Terms").
 *
 * KEY_ORDERED: memcmp order of encodings is Erlang term order, and terms
 *   that compare equal (==) encode identically: ordered_set keys.
 * KEY_EXACT: encodings are identical exactly when the terms are =:=: the keys
 *   of set, bag and duplicate_bag, and bag object identity. Its order is
 *   map-key order (term order, but every integer before every float).
 *
 * Every encoding is self-delimiting (none is a proper prefix of another), so
 * encodings of elements concatenate into encodings of containers. */
#ifndef XETS_TERM_KEY_H
#define XETS_TERM_KEY_H

#include <erl_nif.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { KEY_ORDERED, KEY_EXACT } key_mode_t;

/* A growable output buffer that starts on the stack. */
typedef struct kbuf {
    unsigned char *p;
    size_t len, cap;
    unsigned char inline_buf[128];
} kbuf_t;

void kbuf_init(kbuf_t *b);
void kbuf_free(kbuf_t *b);

/* Appends the encoding of t to out. Returns XETS_OK or XETS_NOMEM (out is
 * then left as it was). Never recurses on the C stack, whatever the depth
 * of t. Local pids, ports and references encode with the node's current
 * name and creation (as OTP compares them), so such keys change encoding
 * if a non-distributed node becomes distributed. Layout: term_key.c. */
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
