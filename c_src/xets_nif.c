/* NIF glue: the function table, resource types, argument decoding, and the
 * mapping of core status codes to Erlang results and exceptions. */
#include <erl_nif.h>
#include <string.h>

#include "status.h"
#include "term_key.h"

static ERL_NIF_TERM atom_ordered, atom_exact;

static ERL_NIF_TERM key_encode_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
    (void)argc;
    key_mode_t mode;
    if (enif_is_identical(argv[1], atom_ordered))
        mode = KEY_ORDERED;
    else if (enif_is_identical(argv[1], atom_exact))
        mode = KEY_EXACT;
    else
        return enif_make_badarg(env);
    kbuf_t b;
    kbuf_init(&b);
    if (term_key_encode(env, argv[0], mode, &b) != XETS_OK) {
        kbuf_free(&b);
        return enif_raise_exception(env, enif_make_atom(env, "system_limit"));
    }
    ERL_NIF_TERM bin;
    memcpy(enif_make_new_binary(env, b.len, &bin), b.p, b.len);
    kbuf_free(&b);
    return bin;
}

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info)
{
    (void)priv;
    (void)info;
    atom_ordered = enif_make_atom(env, "ordered");
    atom_exact = enif_make_atom(env, "exact");
    return 0;
}

static ErlNifFunc nif_funcs[] = {
    {"key_encode", 2, key_encode_nif, 0},
};

ERL_NIF_INIT(xets_nif, nif_funcs, load, NULL, NULL, NULL)
