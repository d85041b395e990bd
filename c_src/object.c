/* See object.h. */
#include "object.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "table_kind.h"

int object_key(ErlNifEnv *env, table_t *t, ERL_NIF_TERM key, kbuf_t *kb)
{
    kbuf_init(kb);
    return term_key_encode(env, key, t->kind->key_mode, kb);
}

void object_prepared_free(prepared_t *p)
{
    kbuf_free(&p->key);
    if (p->owns_etf)
        enif_release_binary(&p->etf);
}

int object_prepare(ErlNifEnv *env, table_t *t, ERL_NIF_TERM obj, const ErlNifBinary *etf,
                   prepared_t *p)
{
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(env, obj, &arity, &elems) || (unsigned)arity < t->keypos)
        return XETS_BADARG;
    p->obj = obj;
    p->fp = 0;
    p->owns_etf = etf == NULL;
    if (object_key(env, t, elems[t->keypos - 1], &p->key) != XETS_OK) {
        kbuf_free(&p->key);
        return XETS_NOMEM;
    }
    if (etf != NULL)
        p->etf = *etf;
    else if (!enif_term_to_binary(env, obj, &p->etf)) {
        kbuf_free(&p->key);
        return XETS_NOMEM;
    }
    if (t->kind->multi && term_key_fingerprint(env, obj, &p->fp) != XETS_OK) {
        object_prepared_free(p);
        return XETS_NOMEM;
    }
    return XETS_OK;
}

rec_in_t object_rec_in(const prepared_t *p)
{
    return (rec_in_t){.key = p->key.p,
                      .klen = p->key.len,
                      .val = p->etf.data,
                      .vlen = p->etf.size,
                      .fp = p->fp};
}

ERL_NIF_TERM object_decode(ErlNifEnv *env, const rec_t *r)
{
    ERL_NIF_TERM term;
    if (enif_binary_to_term(env, r->val, r->vlen, &term, 0) == 0)
        abort(); /* we wrote these bytes: failing to read them is memory corruption */
    return term;
}

int object_collect(void *vctx, const rec_t *r)
{
    collect_ctx_t *c = vctx;
    if (c->may_stop != NULL && !call_may_copy(c->may_stop, r->vlen)) {
        c->too_long = true;
        return 1;
    }
    ERL_NIF_TERM obj = object_decode(c->env, r);
    if (c->pos > 0) {
        int arity;
        const ERL_NIF_TERM *elems;
        if (!enif_get_tuple(c->env, obj, &arity, &elems) || (unsigned)arity < c->pos) {
            c->bad = true;
            return 1;
        }
        obj = elems[c->pos - 1];
    }
    c->list = enif_make_list_cell(c->env, obj, c->list);
    return 0;
}

/* The same bytes as the term's external format (when known) decode to it;
 * otherwise r is decoded into a scratch env and compared (=:= terms may
 * differ in bytes: 0.0, -0.0). */
bool object_is_identical(void *vctx, const rec_t *r)
{
    identical_ctx_t *c = vctx;
    if (c->use_fp && r->fp != c->fp)
        return false;
    if (c->etf != NULL && r->vlen == c->etf->size && memcmp(r->val, c->etf->data, r->vlen) == 0)
        return true;
    if (c->may_skip != NULL && !call_may_copy(c->may_skip, r->vlen)) {
        c->skipped = true;
        return false;
    }
    if (c->scratch == NULL)
        c->scratch = enif_alloc_env();
    bool same = enif_is_identical(object_decode(c->scratch, r), c->obj);
    enif_clear_env(c->scratch);
    return same;
}

void object_identical_done(identical_ctx_t *c)
{
    if (c->scratch != NULL)
        enif_free_env(c->scratch);
}

int object_put(table_t *t, xets_call_t *call, prepared_t *p, enum put_mode mode)
{
    rec_in_t in = object_rec_in(p);
    identical_ctx_t same = {.obj = p->obj, .etf = &p->etf, .fp = p->fp, .use_fp = true};
    int st = t->ops->put(t->store, call, &in, mode, object_is_identical, &same);
    object_identical_done(&same);
    return st;
}
