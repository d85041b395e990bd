/* The canonical sortable key encoding (DESIGN.md, "Terms"), without a BEAM:
 * its two named encodings, the encoder from external-format bytes (what
 * term_to_binary/1 writes), and the walker that term_key.c, the encoder of
 * live terms, drives. Layout and reading rules: key_codec.c.
 *
 * KEY_ORDERED: memcmp order of encodings is Erlang term order, and terms
 *   that compare equal (==) encode identically: ordered_set keys.
 * KEY_EXACT: encodings are identical exactly when the terms are =:=: the keys
 *   of set, bag and duplicate_bag, and bag object identity. Its order is
 *   map-key order (term order, but every integer before every float).
 *
 * Every encoding is self-delimiting (none is a proper prefix of another), so
 * encodings of elements concatenate into encodings of containers.
 *
 * Node independence: a pid, port or reference of the local node encodes
 * with a fixed local marker instead of the node's name and creation, so
 * that it encodes the same before and after the node turns distributed.
 * Which node is local is given by the caller (key_node_t): the live-term
 * encoder asks the running node; the disk tier records the writer's node
 * with the bytes it stores. Local ones sort before those of any other node
 * (README, "Differences from ets").
 *
 * Thread-safety: no shared state; every function may run on any thread at
 * once, each on its own output buffer. */
#ifndef XETS_KEY_CODEC_H
#define XETS_KEY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { KEY_ORDERED, KEY_EXACT } key_mode_t;

/* Names of the two encodings, stored by the disk tier with what it writes
 * and checked when it opens it. A change to what any term encodes to is a
 * new version. */
#define KEY_ORDERED_ENCODING "ordered.1"
#define KEY_EXACT_ENCODING "exact.1"

const char *key_codec_name(key_mode_t mode);

/* A growable output buffer that starts on the stack. */
typedef struct kbuf {
    unsigned char *p;
    size_t len, cap;
    unsigned char inline_buf[128];
} kbuf_t;

void kbuf_init(kbuf_t *b);
void kbuf_free(kbuf_t *b);

/* The longest node name: an atom of 255 characters of up to 4 UTF-8 bytes. */
#define KEY_NODE_NAME_MAX 1020

/* A node identity: the UTF-8 text of its name atom, and its creation.
 * Pids, ports and references that carry exactly this name and creation
 * are the local node's. */
typedef struct key_node {
    unsigned char name[KEY_NODE_NAME_MAX];
    size_t len;
    uint32_t creation;
} key_node_t;

/* *node = the node of the pid, port or reference whose external format
 * (tag byte, no version byte) is at p, bounded by end; *next = the byte
 * after it. XETS_OK, XETS_CORRUPT (malformed, or not a pid, port or
 * reference). Give it term_to_binary(self()) + 1 to learn the local node. */
int key_codec_node_read(const unsigned char *p, const unsigned char *end, key_node_t *node,
                        const unsigned char **next);

/* A local node meaning: every pid, port and reference in the bytes is the
 * local node's, whatever node they name (for the bytes of one pid or port
 * known to be local, as term_key.c has them). */
extern const key_node_t key_codec_all_local;

/* Appends to out the encoding of the term whose external format, version
 * byte first, is etf[0 .. len), written on node local (NULL: no node is
 * local; every pid, port and reference encodes with its node's name and
 * creation, as a term carried off its node would). Returns XETS_OK;
 * XETS_CORRUPT when the bytes are malformed, truncated, or followed by
 * anything; XETS_BADARG for well-formed bytes this codec does not read
 * (compressed terms, atom cache references, FLOAT_EXT and FUN_EXT: formats
 * term_to_binary/1 does not write); XETS_NOMEM. On failure out is left as
 * it was. Time is linear in len but for nested maps (key_codec.c, end of
 * its header); memory is proportional to len. */
int key_codec_encode(const unsigned char *etf, size_t len, key_mode_t mode,
                     const key_node_t *local, kbuf_t *out);

/* The same for element keypos (1-based) of the tuple whose external format
 * is etf[0 .. len), an object as stored: only the tuple's header, the
 * elements before the key and the key itself are read. XETS_BADARG also
 * when the term is not a tuple of at least keypos elements. */
int key_codec_encode_element(const unsigned char *etf, size_t len, uint32_t keypos,
                             key_mode_t mode, const key_node_t *local, kbuf_t *out);

/* ---- for term_key.c: encoding terms that are not bytes ------------------
 *
 * A walk encodes one term in preorder with an explicit work stack, never
 * recursing on the C stack. Terms of the caller's ("live" terms, opaque
 * words here) are handed to its callback, which appends their encoding to
 * the output with the key_codec_put_* functions (or key_codec_encode*), or
 * queues their parts with key_codec_push*. Work queued last runs first. */
typedef uintptr_t key_live_t;
typedef struct key_walk key_walk_t;

/* XETS_OK to go on; any other status ends the walk with it (XETS_END:
 * stop here, keeping what is encoded so far). */
typedef int (*key_live_fn)(key_walk_t *w, key_live_t t, key_mode_t mode, void *ctx);

/* Appends the encoding of live term t. On a status other than XETS_OK and
 * XETS_END, out is left as it was. */
int key_codec_walk(key_live_t t, key_mode_t mode, key_live_fn fn, void *ctx, kbuf_t *out);

kbuf_t *key_codec_out(key_walk_t *w);
int key_codec_push(key_walk_t *w, key_live_t t, key_mode_t mode);
/* n >= 1 terms, encoded in order; ts must live until the walk ends. */
int key_codec_push_seq(key_walk_t *w, const key_live_t *ts, size_t n, key_mode_t mode);
/* A map of n >= 1 pairs, its header already written: *keys and *vals get
 * room for n terms each, which the caller fills before returning. */
int key_codec_push_map(key_walk_t *w, size_t n, key_mode_t mode, key_live_t **keys,
                       key_live_t **vals);

int key_codec_put_int(kbuf_t *b, int64_t v);
int key_codec_put_uint(kbuf_t *b, uint64_t v);
int key_codec_put_float(kbuf_t *b, double d, key_mode_t mode);
/* An atom's name, as Latin-1 or as UTF-8 bytes. */
int key_codec_put_atom(kbuf_t *b, const unsigned char *name, size_t len, bool latin1);
int key_codec_put_binary(kbuf_t *b, const unsigned char *data, size_t size);
int key_codec_put_tuple(kbuf_t *b, size_t arity);
int key_codec_put_map(kbuf_t *b, size_t size);
int key_codec_put_nil(kbuf_t *b);
/* A list cell: its head's encoding follows, then its tail's. */
int key_codec_put_cons(kbuf_t *b);
/* A proper list of the integers s[0 .. n), 0 to 255 (a Latin-1 string):
 * its cells and NIL, as the cells of its integers would encode. */
int key_codec_put_string(kbuf_t *b, const unsigned char *s, size_t n);

#endif
