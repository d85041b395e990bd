/* update_counter/3,4 and update_element/3,4 on a set or an ordered_set:
 * one atomic read-modify-write of a key's object through the store's
 * update (the store retries the callback if the object changes under it,
 * so the callback has no side effects but on its own context). Counters
 * are added with term_int.h (bignums included); a default object is
 * inserted with PUT_NEW, and if another process inserted the key
 * meanwhile, theirs is updated instead. Arguments are checked in ets's
 * order (see op_update). */
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "object.h"
#include "table_kind.h"
#include "term_int.h"

/* One change to an object: element pos gets value (update_element) or is
 * incremented by incr with an optional threshold (update_counter). */
typedef struct change {
    unsigned pos;
    ERL_NIF_TERM value; /* update_element: the new value; update_counter: incr */
    bool has_threshold;
    ERL_NIF_TERM threshold, setvalue;
} change_t;

typedef struct update_ctx {
    ErlNifEnv *env;
    xets_call_t *call;
    table_t *t;
    bool counter;
    change_t *changes;
    unsigned n;
    ErlNifBinary out; /* the last replacement encoded */
    bool has_out;
    ERL_NIF_TERM *results;    /* update_counter results, in order */
    ERL_NIF_TERM key;         /* for a default object: its key is replaced */
} update_ctx_t;

static int apply_changes(update_ctx_t *c, ERL_NIF_TERM obj, ERL_NIF_TERM *out)
{
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(c->env, obj, &arity, &elems))
        return XETS_BADARG;
    ERL_NIF_TERM small[32];
    ERL_NIF_TERM *e = (size_t)arity <= 32 ? small : malloc(sizeof *e * (size_t)arity);
    if (e == NULL)
        return XETS_NOMEM;
    memcpy(e, elems, sizeof *e * (size_t)arity);
    int st = XETS_OK;
    for (unsigned i = 0; i < c->n && st == XETS_OK; i++) {
        change_t *ch = &c->changes[i];
        if (ch->pos > (unsigned)arity || ch->pos == c->t->keypos) {
            st = XETS_BADARG;
            break;
        }
        if (!c->counter) {
            e[ch->pos - 1] = ch->value;
            continue;
        }
        ERL_NIF_TERM sum;
        int sign, above;
        st = term_int_add(c->env, e[ch->pos - 1], ch->value, &sum);
        if (st == XETS_OK && ch->has_threshold) {
            ERL_NIF_TERM zero = enif_make_int(c->env, 0);
            if ((st = term_int_cmp(c->env, ch->value, zero, &sign)) == XETS_OK &&
                (st = term_int_cmp(c->env, sum, ch->threshold, &above)) == XETS_OK &&
                ((sign >= 0 && above > 0) || (sign < 0 && above < 0)))
                sum = ch->setvalue;
        }
        e[ch->pos - 1] = sum;
        c->results[i] = sum;
    }
    if (st == XETS_OK)
        *out = enif_make_tuple_from_array(c->env, e, (unsigned)arity);
    if (e != small)
        free(e);
    return st;
}

static int encode_replacement(update_ctx_t *c, ERL_NIF_TERM obj, rec_in_t *out)
{
    if (c->has_out)
        enif_release_binary(&c->out);
    c->has_out = enif_term_to_binary(c->env, obj, &c->out);
    if (!c->has_out)
        return XETS_NOMEM;
    out->val = c->out.data;
    out->vlen = c->out.size;
    out->fp = 0;
    return XETS_OK;
}

static int update_object(void *vctx, const rec_t *cur, rec_in_t *out)
{
    update_ctx_t *c = vctx;
    if (!call_may_copy(c->call, cur->vlen))
        return XETS_DIRTY; /* before changing anything */
    ERL_NIF_TERM updated;
    int st = apply_changes(c, object_decode(c->env, cur), &updated);
    if (st != XETS_OK)
        return st;
    out->key = cur->key;
    out->klen = cur->klen;
    return encode_replacement(c, updated, out);
}

/* Parses an update_counter op: Incr | {Pos, Incr} | {Pos, Incr, Thr, Set}. */
static bool parse_counter_op(ErlNifEnv *env, table_t *t, ERL_NIF_TERM op, bool bare, change_t *ch)
{
    int arity;
    const ERL_NIF_TERM *e;
    if (bare && enif_is_number(env, op)) {
        ch->pos = t->keypos + 1;
        ch->value = op;
        ch->has_threshold = false;
    } else if (enif_get_tuple(env, op, &arity, &e) && (arity == 2 || arity == 4) &&
               enif_get_uint(env, e[0], &ch->pos) && ch->pos >= 1) {
        ch->value = e[1];
        ch->has_threshold = arity == 4;
        if (ch->has_threshold) {
            ch->threshold = e[2];
            ch->setvalue = e[3];
        }
    } else {
        return false;
    }
    int dummy;
    ERL_NIF_TERM zero = enif_make_int(env, 0);
    return term_int_cmp(env, ch->value, zero, &dummy) == XETS_OK &&
           (!ch->has_threshold || (term_int_cmp(env, ch->threshold, zero, &dummy) == XETS_OK &&
                                   term_int_cmp(env, ch->setvalue, zero, &dummy) == XETS_OK));
}

static bool parse_element_op(ErlNifEnv *env, ERL_NIF_TERM op, change_t *ch)
{
    int arity;
    const ERL_NIF_TERM *e;
    if (!enif_get_tuple(env, op, &arity, &e) || arity != 2 || !enif_get_uint(env, e[0], &ch->pos) ||
        ch->pos < 1)
        return false;
    ch->value = e[1];
    return true;
}

/* Parses a single op or a list of ops into c->changes. */
static bool parse_changes(ErlNifEnv *env, table_t *t, ERL_NIF_TERM spec, update_ctx_t *c,
                          change_t *buf)
{
    c->changes = buf;
    c->n = 0;
    if (!enif_is_list(env, spec)) {
        c->n = 1;
        return c->counter ? parse_counter_op(env, t, spec, true, buf) : parse_element_op(env, spec, buf);
    }
    ERL_NIF_TERM head;
    while (enif_get_list_cell(env, spec, &head, &spec)) {
        change_t *ch = &buf[c->n++];
        if (!(c->counter ? parse_counter_op(env, t, head, false, ch) : parse_element_op(env, head, ch)))
            return false;
    }
    return enif_is_empty_list(env, spec);
}

/* Inserts Default, its key replaced by Key, with the changes applied.
 * XETS_BADARG if Default has no key position. */
static int insert_default(update_ctx_t *c, ERL_NIF_TERM dflt, const kbuf_t *kb)
{
    int arity;
    const ERL_NIF_TERM *elems;
    if (!enif_get_tuple(c->env, dflt, &arity, &elems) || (unsigned)arity < c->t->keypos)
        return XETS_BADARG;
    ERL_NIF_TERM *e = malloc(sizeof *e * (size_t)arity);
    if (e == NULL)
        return XETS_NOMEM;
    memcpy(e, elems, sizeof *e * (size_t)arity);
    e[c->t->keypos - 1] = c->key;
    ERL_NIF_TERM obj = enif_make_tuple_from_array(c->env, e, (unsigned)arity);
    free(e);
    ERL_NIF_TERM updated;
    rec_in_t in = {.key = kb->p, .klen = kb->len};
    int st;
    if ((st = apply_changes(c, obj, &updated)) != XETS_OK ||
        (st = encode_replacement(c, updated, &in)) != XETS_OK)
        return st;
    return c->t->ops->put(c->t->store, c->call, &in, PUT_NEW, NULL, NULL);
}

/* update(Tab, Key, Spec, Counter, nodefault | {default, Obj}): update_counter
 * (Counter true) and update_element. Checked in ets's order: the table
 * type, Default's type, then the key, then the spec; Default's key position
 * only when it is used. */
static int update(ErlNifEnv *env, const ERL_NIF_TERM argv[], update_ctx_t *c, table_t *t,
                  const kbuf_t *kb, change_t *changes)
{
    const ERL_NIF_TERM *dflt = NULL;
    int arity;
    if (!t->kind->counters ||
        (argv[4] != atom_nodefault &&
         (!enif_get_tuple(env, argv[4], &arity, &dflt) || arity != 2 ||
          dflt[0] != atom_default || !enif_is_tuple(env, dflt[1]))))
        return XETS_BADARG;
    if (!parse_changes(env, t, argv[2], c, changes)) {
        int st = t->ops->get(t->store, c->call, kb->p, kb->len, glue_stop_at_first, NULL);
        return st == XETS_NOTFOUND && dflt == NULL ? XETS_NOTFOUND
               : st == XETS_OK || st == XETS_NOTFOUND ? XETS_BADARG
                                                      : st;
    }
    int st;
    do {
        st = t->ops->update(t->store, c->call, kb->p, kb->len, update_object, c);
        if (st == XETS_NOTFOUND && dflt != NULL)
            st = insert_default(c, dflt[1], kb);
        /* XETS_EXISTS: someone inserted the key meanwhile; update theirs. */
    } while (st == XETS_EXISTS);
    return st;
}

int op_update(ErlNifEnv *env, const ERL_NIF_TERM argv[], xets_call_t *call, ERL_NIF_TERM *out)
{
    update_ctx_t c = {.env = env, .call = call, .counter = argv[3] == atom_true, .key = argv[1]};
    /* Cells, counted up to the tail: an improper list is refused by
     * parse_changes, after the key lookup. */
    unsigned nops = 1;
    ERL_NIF_TERM head, rest = argv[2];
    if (enif_is_list(env, rest))
        for (nops = 0; enif_get_list_cell(env, rest, &head, &rest); nops++)
            ;
    change_t *changes = malloc(sizeof *changes * (nops ? nops : 1));
    c.results = malloc(sizeof *c.results * (nops ? nops : 1));
    kbuf_t kb;
    int st = changes == NULL || c.results == NULL ? XETS_NOMEM : XETS_OK;
    if (st == XETS_OK && (st = glue_enter_key(env, argv[0], argv[1], ACCESS_WRITE, &c.t, &kb)) ==
                             XETS_OK) {
        st = update(env, argv, &c, c.t, &kb, changes);
        glue_leave_key(&kb);
    }
    if (c.has_out)
        enif_release_binary(&c.out);
    if (st == XETS_NOTFOUND && !c.counter) {
        *out = atom_false;
        st = XETS_OK;
    } else if (st == XETS_NOTFOUND) {
        st = XETS_BADARG;
    } else if (st == XETS_OK) {
        *out = !c.counter                  ? atom_true
               : enif_is_list(env, argv[2]) ? enif_make_list_from_array(env, c.results, c.n)
                                            : c.results[0];
    }
    free(changes);
    free(c.results);
    return st;
}
