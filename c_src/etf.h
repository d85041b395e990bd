/* Reading Erlang terms in place, in the external term format (ETF, the
 * bytes term_to_binary/1 gives on OTP 25): skipping, exact equality, term
 * order, and writing (parts of) terms back out. Nothing is decoded into a
 * heap; a term is named by where its bytes are.
 *
 * An etf_ref_t names one term. It is usually a whole term in some buffer,
 * but the match engine also needs terms that have no bytes of their own:
 * the tail of a STRING_EXT or LIST_EXT after some elements, one element of
 * a STRING_EXT (an integer 0..255 written as a bare byte), and integers and
 * floats computed on the fly. Every function here accepts every kind.
 *
 * Invariants of an etf_ref_t:
 *  - every read is bounded by `end`; malformed bytes give ETF_BAD, never a
 *    read past `end`;
 *  - a tail always has at least one element left (n >= 1): the empty tail
 *    of a STRING_EXT is written as ETF_NIL_REF, that of a LIST_EXT as the
 *    whole term that ends the list.
 *
 * Equality and order follow OTP 25: 0.0 =:= -0.0 is true, 1 =:= 1.0 is
 * false, 1 == 1.0 is true, numbers compare exactly by value (bignums
 * against floats included), atoms by their UTF-8 names whichever encoding
 * they came in, lists element by element whichever of STRING_EXT and
 * LIST_EXT holds them. Where OTP's answer is not worth computing here
 * (ordering two different maps, pids, ports, references or funs; equality
 * of two differently written maps or funs; terms nested deeper than
 * ETF_MAX_DEPTH; pre-OTP-23 encodings) the answer is ETF_UNSUP, so that the
 * caller can ask Erlang instead.
 *
 * Written so that the output of etf_write is what term_to_binary/1 gives
 * for the same term, as long as the bytes copied from were.
 *
 * Thread-safety: no state; every function may run on any thread at once. */
#ifndef XETS_ETF_H
#define XETS_ETF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status of every function that reads bytes. */
enum {
    ETF_OK = 0,
    ETF_BAD = -1,   /* malformed or truncated bytes */
    ETF_UNSUP = -2  /* well-formed, but not answered here (see above) */
};

/* External term format tags. */
enum {
    ETF_VERSION = 131,
    ETF_NEW_FLOAT = 70,
    ETF_BIT_BINARY = 77,
    ETF_COMPRESSED = 80,
    ETF_ATOM_CACHE_REF = 82,
    ETF_NEW_PID = 88,
    ETF_NEW_PORT = 89,
    ETF_NEWER_REFERENCE = 90,
    ETF_SMALL_INTEGER = 97,
    ETF_INTEGER = 98,
    ETF_FLOAT = 99,
    ETF_ATOM = 100,
    ETF_REFERENCE = 101,
    ETF_PORT = 102,
    ETF_PID = 103,
    ETF_SMALL_TUPLE = 104,
    ETF_LARGE_TUPLE = 105,
    ETF_NIL = 106,
    ETF_STRING = 107,
    ETF_LIST = 108,
    ETF_BINARY = 109,
    ETF_SMALL_BIG = 110,
    ETF_LARGE_BIG = 111,
    ETF_NEW_FUN = 112,
    ETF_EXPORT = 113,
    ETF_NEW_REFERENCE = 114,
    ETF_SMALL_ATOM = 115,
    ETF_MAP = 116,
    ETF_FUN = 117,
    ETF_ATOM_UTF8 = 118,
    ETF_SMALL_ATOM_UTF8 = 119,
    ETF_V4_PORT = 120
};

/* Deepest nesting of tuples, list heads and map values that equality and
 * order walk before answering ETF_UNSUP (they recurse on the C stack). */
#define ETF_MAX_DEPTH 200

typedef enum {
    ETF_REF_TERM,      /* whole term whose tag byte is at p */
    ETF_REF_STR_TAIL,  /* last n bytes of a STRING_EXT, starting at p */
    ETF_REF_LIST_TAIL, /* last n elements of a LIST_EXT (first at p), then its tail */
    ETF_REF_BYTE,      /* the integer *p (an element of a STRING_EXT) */
    ETF_REF_INT,       /* the integer i */
    ETF_REF_FLOAT      /* the float d */
} etf_ref_kind_t;

typedef struct etf_ref {
    const unsigned char *p;
    const unsigned char *end; /* bound of every read through p */
    union {
        int64_t i;
        double d;
        uint32_t n; /* tails: elements left, >= 1 */
    } u;
    etf_ref_kind_t kind;
} etf_ref_t;

/* Erlang's types, numbered in term order. */
typedef enum {
    ETF_C_NUMBER = 1, /* integer or float; see etf_is_integer/etf_is_float */
    ETF_C_ATOM,
    ETF_C_REF,
    ETF_C_FUN,
    ETF_C_PORT,
    ETF_C_PID,
    ETF_C_TUPLE,
    ETF_C_MAP,
    ETF_C_NIL,
    ETF_C_LIST, /* a cons cell */
    ETF_C_BITS  /* binary or bitstring */
} etf_class_t;

/* Whole terms of the static atoms true, false and 'EXIT' and of [], each
 * preceded by the version byte (so &X[0] .. sizeof X is a complete
 * external term). */
extern const unsigned char etf_true_bytes[8];
extern const unsigned char etf_false_bytes[9];
extern const unsigned char etf_exit_bytes[8];
extern const unsigned char etf_nil_bytes[2];

/* A reference to the whole term at p (tag byte) bounded by end. */
static inline etf_ref_t etf_term(const unsigned char *p, const unsigned char *end)
{
    etf_ref_t r;
    r.p = p;
    r.end = end;
    r.u.n = 0;
    r.kind = ETF_REF_TERM;
    return r;
}

static inline etf_ref_t etf_int(int64_t i)
{
    etf_ref_t r;
    r.p = NULL;
    r.end = NULL;
    r.u.i = i;
    r.kind = ETF_REF_INT;
    return r;
}

static inline etf_ref_t etf_float(double d)
{
    etf_ref_t r;
    r.p = NULL;
    r.end = NULL;
    r.u.d = d;
    r.kind = ETF_REF_FLOAT;
    return r;
}

/* *next = the byte after the term starting at p. Never recurses. */
int etf_skip(const unsigned char *p, const unsigned char *end, const unsigned char **next);
/* etf_skip that also ORs 1u << class into *seen for the term and every
 * term inside it (pids, ports and refs count their node atom as an atom
 * only through the class of the term, not separately). */
int etf_skip_seen(const unsigned char *p, const unsigned char *end, const unsigned char **next,
                  unsigned *seen);

/* The class of r (ETF_OK), ETF_BAD or ETF_UNSUP. */
int etf_class(const etf_ref_t *r, etf_class_t *cls);

bool etf_is_integer(const etf_ref_t *r);
bool etf_is_float(const etf_ref_t *r);
/* true for a binary (whole bytes), false for other bitstrings and terms. */
bool etf_is_binary(const etf_ref_t *r);
/* An atom whose name is the given ASCII/UTF-8 bytes. */
bool etf_is_atom_named(const etf_ref_t *r, const char *name, size_t len);

/* Integer value of r when it fits int64: ETF_OK; ETF_UNSUP for a larger
 * integer; ETF_BAD when r is not an integer at all (or malformed). */
int etf_get_int64(const etf_ref_t *r, int64_t *v);
/* Float value of r when r is a float (NEW_FLOAT_EXT or computed): ETF_OK;
 * ETF_BAD otherwise; ETF_UNSUP for the old string FLOAT_EXT. */
int etf_get_double(const etf_ref_t *r, double *d);

/* Tuples: arity, and a reference to the first element's tag byte. */
int etf_tuple(const etf_ref_t *r, uint32_t *arity, const unsigned char **first);
/* Maps: number of pairs. */
int etf_map_size(const etf_ref_t *r, uint32_t *size);
/* Bitstrings: size in bits (ETF_BAD when r is not one). */
int etf_bit_size(const etf_ref_t *r, uint64_t *bits);

/* Lists: when r is a cons cell, *is_cons = true and head/tail are set
 * (either may be NULL); when r is [] or any other term, *is_cons = false. */
int etf_list_split(const etf_ref_t *r, bool *is_cons, etf_ref_t *head, etf_ref_t *tail);
/* Length of a proper list: ETF_OK; *proper = false for an improper list or
 * a non-list. */
int etf_list_length(const etf_ref_t *r, bool *proper, uint64_t *len);

typedef enum {
    ETF_EQ_EXACT,   /* =:= */
    ETF_EQ_BITWISE, /* =:=, but floats equal only when their IEEE bits are (0.0
                       and -0.0 differ): how ETS matches floats written in a
                       match head */
    ETF_EQ_ARITH    /* == (1 == 1.0); decides more than etf_cmp, which must
                       also order what differs */
} etf_eq_mode_t;

int etf_eq(const etf_ref_t *a, const etf_ref_t *b, etf_eq_mode_t mode, bool *equal);
/* Term order: *order < 0, 0 or > 0 as a <, ==, > b (== as in 1 == 1.0). */
int etf_cmp(const etf_ref_t *a, const etf_ref_t *b, int *order);

/* Writing terms. etf_size gives the exact number of bytes etf_write puts
 * at out for r (no version byte); etf_write (and etf_list_write) may only
 * be called once the matching size call returned ETF_OK, and then writes
 * exactly that many bytes. */
int etf_size(const etf_ref_t *r, size_t *size);
void etf_write(const etf_ref_t *r, unsigned char *out);
/* A list's encoding from its elements (n refs) and its tail, in the form
 * term_to_binary chooses: STRING_EXT when the list is proper, its elements
 * are all integers 0..255 and it has at most 65535 of them; else LIST_EXT
 * with all cons cells of a list tail folded in. */
int etf_list_size(const etf_ref_t *elems, size_t n, const etf_ref_t *tail, size_t *size);
void etf_list_write(const etf_ref_t *elems, size_t n, const etf_ref_t *tail, unsigned char *out);
/* Header of a tuple of the given arity; returns bytes written (1+1 or 1+4). */
size_t etf_tuple_header(uint32_t arity, unsigned char *out);

#endif
