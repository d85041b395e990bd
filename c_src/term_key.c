/* Canonical key encoding of live terms (contract in term_key.h): a callback
 * of key_codec.c's walker that reads terms through erl_nif.
 *
 * Integers that fit 64 bits, floats, Latin-1 atoms and binaries ("plain"
 * terms) are encoded from their values, also in the loops over a tuple's
 * elements and a list's cells, so that the commonest keys, a plain term or
 * a tuple of them, need no walk at all; the other parts of tuples, lists
 * and maps are handed to the walker. Pids, ports, references, funs,
 * bignums, other atoms and bitstrings are read in the external format, the
 * only NIF view of their insides, by the same code that encodes stored
 * bytes, told which node is local: a local pid or port's own (known from
 * enif_get_local_pid/port), or that of a pid of this node encoded in the
 * same bytes. */
#include "term_key.h"
#include "status.h"

#include <xxhash.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(_Generic((ERL_NIF_TERM)0, key_live_t: 1, default: 0),
               "tuple elements are handed to the walker as key_live_t");

typedef struct {
    ErlNifEnv *env;
    bool pattern; /* stop at match-spec variables */
} live_t;

/* t, a term put_plain does not encode and no tuple, list or map, through
 * term_to_binary/1, which writes its type's node-independent parts (a
 * bignum's digits, an atom's UTF-8 name, a bitstring's bits) and the
 * node-dependent ones as the running node sees them. Which node is local:
 * for a pid or port, enif_get_local_pid/port say whether it is itself;
 * for references and funs (whose free variables may hold pids, ports and
 * references), that of a pid of this node written in the same bytes, as
 * {Probe, t}, so that both see the same node name (the caller's pid, or a
 * fresh reference in an env without a process). */
static int put_via_etf(ErlNifEnv *env, ERL_NIF_TERM t, ErlNifTermType type, key_mode_t mode,
                       kbuf_t *o)
{
    ErlNifPid pid;
    ErlNifPort port;
    bool self_local = false, probe = false;
    switch (type) {
    case ERL_NIF_TERM_TYPE_PID:
        self_local = enif_get_local_pid(env, t, &pid);
        break;
    case ERL_NIF_TERM_TYPE_PORT:
        self_local = enif_get_local_port(env, t, &port);
        break;
    case ERL_NIF_TERM_TYPE_REFERENCE:
    case ERL_NIF_TERM_TYPE_FUN:
        probe = true;
        t = enif_make_tuple2(env, enif_self(env, &pid) ? enif_make_pid(env, &pid) : enif_make_ref(env),
                             t);
        break;
    case ERL_NIF_TERM_TYPE_ATOM:      /* not Latin-1 */
    case ERL_NIF_TERM_TYPE_INTEGER:   /* a bignum */
    case ERL_NIF_TERM_TYPE_BITSTRING: /* not whole bytes */
        break;
    default:
        return XETS_BADARG;
    }
    ErlNifBinary bin;
    if (!enif_term_to_binary(env, t, &bin))
        return XETS_NOMEM;
    const unsigned char *end = bin.data + bin.size, *next;
    key_node_t local;
    int rc;
    if (probe) /* after the version byte, SMALL_TUPLE_EXT 2 */
        rc = key_codec_node_read(bin.data + 3, end, &local, &next) != XETS_OK
                 ? XETS_BADARG
                 : key_codec_encode_element(bin.data, bin.size, 2, mode, &local, o);
    else
        rc = key_codec_encode(bin.data, bin.size, mode, self_local ? &key_codec_all_local : NULL,
                              o);
    enif_release_binary(&bin);
    return rc;
}

/* A match-spec variable ('_', '$1', ...). Any atom starting with '$' is
 * taken for one: stopping early only shortens a pattern's prefix. */
static bool is_pattern_variable(ErlNifEnv *env, ERL_NIF_TERM t)
{
    char name[256];
    return enif_get_atom(env, t, name, sizeof name, ERL_NIF_LATIN1) > 0 &&
           (name[0] == '$' || strcmp(name, "_") == 0);
}

/* Whether t, or a term anywhere inside it, satisfies is. Beyond a depth it
 * answers true, which for both uses below only costs speed. */
static bool holds(ErlNifEnv *env, ERL_NIF_TERM t, bool (*is)(ErlNifEnv *, ERL_NIF_TERM),
                  int depth)
{
    int arity;
    const ERL_NIF_TERM *el;
    ERL_NIF_TERM head, k, v;
    if (depth > 32 || is(env, t))
        return true;
    if (enif_get_tuple(env, t, &arity, &el)) {
        for (int i = 0; i < arity; i++)
            if (holds(env, el[i], is, depth + 1))
                return true;
    } else if (enif_get_list_cell(env, t, &head, &t)) {
        return holds(env, head, is, depth + 1) || holds(env, t, is, depth + 1);
    } else if (enif_is_map(env, t)) {
        ErlNifMapIterator it;
        bool found = false;
        if (!enif_map_iterator_create(env, t, &it, ERL_NIF_MAP_ITERATOR_FIRST))
            return true;
        while (!found && enif_map_iterator_get_pair(env, &it, &k, &v)) {
            found = holds(env, k, is, depth + 1) || holds(env, v, is, depth + 1);
            enif_map_iterator_next(env, &it);
        }
        enif_map_iterator_destroy(env, &it);
        return found;
    }
    return false;
}

static bool is_map(ErlNifEnv *env, ERL_NIF_TERM t)
{
    return enif_is_map(env, t);
}

bool term_key_holds_map(ErlNifEnv *env, ERL_NIF_TERM pattern)
{
    return holds(env, pattern, is_map, 0);
}

static int encode_map(key_walk_t *w, ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode)
{
    size_t n;
    key_live_t *keys, *vals;
    int rc;
    if (!enif_get_map_size(env, t, &n))
        return XETS_BADARG;
    if ((rc = key_codec_put_map(key_codec_out(w), n)) != XETS_OK || n == 0 ||
        (rc = key_codec_push_map(w, n, mode, &keys, &vals)) != XETS_OK)
        return rc;
    ErlNifMapIterator it;
    if (!enif_map_iterator_create(env, t, &it, ERL_NIF_MAP_ITERATOR_FIRST))
        return XETS_NOMEM;
    size_t i = 0;
    while (i < n && enif_map_iterator_get_pair(env, &it, &keys[i], &vals[i])) {
        i++;
        enif_map_iterator_next(env, &it);
    }
    enif_map_iterator_destroy(env, &it);
    return i == n ? XETS_OK : XETS_BADARG;
}

/* Encodes t, if it is a term of no parts read without the external format
 * (numbers up to 64 bits, floats, Latin-1 atoms, binaries): the elements
 * of most keys, encoded in the loops over tuples and lists below rather
 * than one walker step each. *type = 0 when done, else t's type. */
static int put_plain(const live_t *c, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *o,
                     ErlNifTermType *type)
{
    ErlNifEnv *env = c->env;
    ErlNifTermType ty = enif_term_type(env, t);
    *type = 0;
    switch (ty) {
    case ERL_NIF_TERM_TYPE_INTEGER: {
        ErlNifSInt64 i;
        ErlNifUInt64 u;
        if (enif_get_int64(env, t, &i))
            return key_codec_put_int(o, i);
        if (enif_get_uint64(env, t, &u))
            return key_codec_put_uint(o, u);
        break;
    }
    case ERL_NIF_TERM_TYPE_FLOAT: {
        double d;
        if (enif_get_double(env, t, &d))
            return key_codec_put_float(o, d, mode);
        break;
    }
    case ERL_NIF_TERM_TYPE_ATOM: {
        char name[256]; /* a Latin-1 atom has at most 255 characters */
        int n = enif_get_atom(env, t, name, sizeof name, ERL_NIF_LATIN1);
        if (n <= 0)
            break;
        if (c->pattern && (name[0] == '$' || strcmp(name, "_") == 0))
            return XETS_END;
        return key_codec_put_atom(o, (const unsigned char *)name, (size_t)n - 1, true);
    }
    case ERL_NIF_TERM_TYPE_BITSTRING: {
        ErlNifBinary bin;
        if (enif_is_binary(env, t) && enif_inspect_binary(env, t, &bin))
            return key_codec_put_binary(o, bin.data, bin.size);
        break;
    }
    default:
        break;
    }
    *type = ty;
    return XETS_OK;
}

/* A tuple's header, and its elements up to the first that put_plain does
 * not encode: *i, *arity when there is none. */
static int put_tuple(const live_t *c, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *o,
                     const ERL_NIF_TERM **el, size_t *arity, size_t *i)
{
    int n, rc;
    ErlNifTermType type;
    *i = *arity = 0;
    if (!enif_get_tuple(c->env, t, &n, el))
        return XETS_BADARG;
    *arity = (size_t)n;
    if ((rc = key_codec_put_tuple(o, *arity)) != XETS_OK)
        return rc;
    for (; *i < *arity; ++*i)
        if ((rc = put_plain(c, (*el)[*i], mode, o, &type)) != XETS_OK || type != 0)
            return rc;
    return XETS_OK;
}

/* A Latin-1 string, the commonest list in keys: a proper list of
 * integers 0 to 255, read in one call and encoded in one loop rather than
 * a call or three per cell. XETS_END when t is some other list (OTP 25's
 * enif_get_string reads Latin-1 only: other strings take the cell loop). */
static int put_string(ErlNifEnv *env, ERL_NIF_TERM t, kbuf_t *o)
{
    char small[256];
    int n = enif_get_string(env, t, small, sizeof small, ERL_NIF_LATIN1);
    if (n > 0) /* the bytes and a NUL */
        return key_codec_put_string(o, (const unsigned char *)small, (size_t)n - 1);
    unsigned len;
    if (n == 0 || !enif_get_list_length(env, t, &len) || len >= INT_MAX)
        return XETS_END;
    char *big = malloc((size_t)len + 1);
    if (big == NULL)
        return XETS_NOMEM;
    n = enif_get_string(env, t, big, len + 1, ERL_NIF_LATIN1);
    int rc = n > 0 ? key_codec_put_string(o, (const unsigned char *)big, (size_t)n - 1) : XETS_END;
    free(big);
    return rc;
}

/* The walker's callback: one live term. With `pattern', stops with
 * XETS_END at the first match-spec variable, or map holding one (map keys
 * are sorted after they are encoded), leaving what precedes it encoded. A
 * map without variables is a key to look up, as in ets. */
static int encode_live(key_walk_t *w, key_live_t lt, key_mode_t mode, void *vctx)
{
    const live_t *c = vctx;
    ErlNifEnv *env = c->env;
    ERL_NIF_TERM t = lt;
    kbuf_t *o = key_codec_out(w);
    ErlNifTermType type, el_type;
    int rc = put_plain(c, t, mode, o, &type);
    if (type == 0)
        return rc;
    switch (type) {
    case ERL_NIF_TERM_TYPE_TUPLE: {
        const ERL_NIF_TERM *el;
        size_t arity, i;
        if ((rc = put_tuple(c, t, mode, o, &el, &arity, &i)) != XETS_OK || i == arity)
            return rc;
        if (i + 1 < arity &&
            (rc = key_codec_push_seq(w, el + i + 1, arity - i - 1, mode)) != XETS_OK)
            return rc;
        return key_codec_push(w, el[i], mode);
    }
    case ERL_NIF_TERM_TYPE_LIST: {
        if ((rc = put_string(env, t, o)) != XETS_END)
            return rc;
        ERL_NIF_TERM head;
        while (enif_get_list_cell(env, t, &head, &t)) {
            if ((rc = key_codec_put_cons(o)) != XETS_OK ||
                (rc = put_plain(c, head, mode, o, &el_type)) != XETS_OK)
                return rc;
            if (el_type != 0) {
                if ((rc = key_codec_push(w, t, mode)) != XETS_OK)
                    return rc;
                return key_codec_push(w, head, mode);
            }
        }
        return enif_is_empty_list(env, t) ? key_codec_put_nil(o) : key_codec_push(w, t, mode);
    }
    case ERL_NIF_TERM_TYPE_MAP:
        if (c->pattern && holds(env, t, is_pattern_variable, 0))
            return XETS_END;
        return encode_map(w, env, t, mode);
    default:
        return put_via_etf(env, t, type, mode, o);
    }
}

int term_key_encode(ErlNifEnv *env, ERL_NIF_TERM t, key_mode_t mode, kbuf_t *out)
{
    live_t c = {env, false};
    ErlNifTermType type;
    size_t start = out->len;
    bool walk = false;
    /* Most keys need no walk: a term of no parts, a tuple of plain terms. */
    int rc = put_plain(&c, t, mode, out, &type);
    if (rc != XETS_OK || type == 0) {
        /* done */
    } else if (type == ERL_NIF_TERM_TYPE_TUPLE) {
        const ERL_NIF_TERM *el;
        size_t arity, i;
        rc = put_tuple(&c, t, mode, out, &el, &arity, &i);
        walk = rc == XETS_OK && i < arity;
    } else if (type == ERL_NIF_TERM_TYPE_LIST || type == ERL_NIF_TERM_TYPE_MAP) {
        walk = true;
    } else {
        rc = put_via_etf(env, t, type, mode, out);
    }
    if (walk) {
        out->len = start;
        return key_codec_walk(t, mode, encode_live, &c, out);
    }
    if (rc != XETS_OK)
        out->len = start;
    return rc;
}

int term_key_pattern_prefix(ErlNifEnv *env, ERL_NIF_TERM pattern, key_mode_t mode, kbuf_t *out)
{
    live_t c = {env, true};
    return key_codec_walk(pattern, mode, encode_live, &c, out);
}

int term_key_fingerprint(ErlNifEnv *env, ERL_NIF_TERM obj, uint64_t *fp)
{
    kbuf_t kb;
    kbuf_init(&kb);
    int st = term_key_encode(env, obj, KEY_EXACT, &kb);
    *fp = XXH3_64bits(kb.p, kb.len);
    kbuf_free(&kb);
    return st;
}
