#include "atoms.h"

#define XETS_ATOM_DEFINE(var, name) ERL_NIF_TERM var;
XETS_ATOMS(XETS_ATOM_DEFINE)
#undef XETS_ATOM_DEFINE

void atoms_init(ErlNifEnv *env)
{
#define XETS_ATOM_MAKE(var, name) var = enif_make_atom(env, name);
    XETS_ATOMS(XETS_ATOM_MAKE)
#undef XETS_ATOM_MAKE
}
