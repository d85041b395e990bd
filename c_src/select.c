/* Match-spec traversals (contract in select.h).
 *
 * Which objects a chunk visits: if every clause's head binds the whole key,
 * only those keys (looked up in encoding order, so an ordered_set answers
 * in term order as a scan would); else, on ordered_set, the range of the
 * sortable encoding that covers each clause's keys: those that begin with
 * the bound leading part of its key (term_key_pattern_prefix) and pass its
 * guards that compare the key, a variable, with a constant (guard_narrow);
 * else the whole table.
 * Each visited object goes through the match engine; ets's matching rules
 * (=:= on heads) then decide, the narrowing only skips objects that no
 * clause could match.
 *
 * select_delete and select_replace decide during the scan and write after
 * it (a store's callbacks must not call back into it): each write applies
 * only if the object is still the one that matched, so each object is
 * deleted or replaced atomically, as in ETS. On a bag, "the one" is that
 * very object, known by its address in the store (stable for the epoch
 * section; a changed object is a new one), not the first equal object of
 * its key: copies are told apart, and a replaced object keeps its place,
 * as in ETS, also where a replacement equals another object of the key.
 * A key's writes are one store call (store.h, rewrite). The writes of a
 * deferred chunk, decided in Erlang after the epoch section, go to the
 * key's objects equal byte for byte to those decided on (equal objects are
 * decided alike), also in one store call: each object is written once,
 * and one that moved in the key meanwhile (a writer removed objects before
 * it) is still found.
 *
 * Reads (results and counts) may stop inside a bag's key and resume with
 * the key's objects not yet taken (key_group.h), found by their number: a
 * writer removing some of the key's older objects in between shifts them
 * onto objects already taken, which a read then meets again (README,
 * Known limitations). Writes decide a bag's key in one chunk instead, or
 * such a shift would make a replace replace objects again. A key that
 * does not fit in what is left of a chunk starts the next one, and a key
 * too long for any chunk is decided on a dirty scheduler.
 *
 * Results are consed as they are made, in front of the list the caller
 * passes: a chunk's list holds them in the reverse of the order visited,
 * and a traversal that hands each chunk's list to the next builds ets's
 * order of results (the reverse of a hash table's, a bag's keys taken
 * newest first: key_group.h) with no copy (xets_select.erl, results/1). */
#include "select.h"

#include <stdlib.h>
#include <string.h>

#include "atoms.h"
#include "call.h"
#include "glue.h"
#include "key_group.h"
#include "match.h"
#include "status.h"
#include "table_kind.h"
#include "term_key.h"

/* A chunk visits at most about this many objects (a few hundred
 * microseconds of matching), within the call's budget (call.h). A count run in
 * C builds nothing per object, so it may visit more. */
#define CHUNK_VISITS 4000
#define COUNT_VISITS 65536

/* A complete plan met an object the engine leaves to Erlang (nested too
 * deep): the chunk is done again with every object going to Erlang. */
#define REDO_DEFERRED 1

/* A byte string of its own (kbuf_t cannot be moved: it may point into
 * itself). */
typedef struct bytes {
    unsigned char *p;
    size_t len;
} bytes_t;

/* Encodings at or above lo (when has_lo) and below hi (when has_hi).
 * lo_complete: lo may itself be a key's whole encoding, which a scan must
 * then visit; else lo is only the beginning of keys (visit_range). */
typedef struct krange {
    bool has_lo, lo_complete, has_hi;
    bytes_t lo, hi;
} krange_t;

struct select_plan {
    match_prog_t *prog; /* NULL: every object in range goes to Erlang */
    bool complete;
    const table_kind_t *kind;
    unsigned keypos;
    bool nothing; /* no clause can match any object */
    bool lookups_end; /* visiting the last key ends the traversal */
    /* Every clause binds its key: the keys' encodings, sorted, unique. */
    size_t nkeys;
    bytes_t *keys;
    /* Else on ordered_set: the keys any clause can match lie in range. */
    krange_t range;
};

static ErlNifResourceType *plan_type;

static void plan_dtor(ErlNifEnv *env, void *obj)
{
    (void)env;
    select_plan_t *p = obj;
    if (p->prog != NULL)
        match_free(p->prog);
    for (size_t i = 0; i < p->nkeys; i++)
        free(p->keys[i].p);
    free(p->keys);
    free(p->range.lo.p);
    free(p->range.hi.p);
}

int select_module_init(ErlNifEnv *env)
{
    /* members: how many callbacks are set, from dtor on; without it the
     * VM takes none, and plans were never freed (the leak check found it). */
    ErlNifResourceTypeInit init = {.dtor = plan_dtor, .members = 1};
    plan_type = enif_init_resource_type(env, "xets_select_plan", &init, ERL_NIF_RT_CREATE, NULL);
    return plan_type == NULL ? XETS_NOMEM : XETS_OK;
}

/* Byte order of encodings; a proper prefix sorts first. */
static int keycmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int bytes_cmp(const void *a, const void *b)
{
    const bytes_t *x = a, *y = b;
    return keycmp(x->p, x->len, y->p, y->len);
}

static int bytes_set(bytes_t *dst, const unsigned char *p, size_t len)
{
    unsigned char *np = malloc(len > 0 ? len : 1);
    if (np == NULL)
        return XETS_NOMEM;
    memcpy(np, p, len);
    free(dst->p);
    dst->p = np;
    dst->len = len;
    return XETS_OK;
}

/* Makes b the least byte string above every string it begins (and above b
 * itself): drop trailing 0xFF bytes, then add one to the last. False if
 * nothing is above (b was all 0xFF). */
static bool successor(bytes_t *b)
{
    while (b->len > 0 && b->p[b->len - 1] == 0xFF)
        b->len--;
    if (b->len == 0)
        return false;
    b->p[b->len - 1]++;
    return true;
}

/* The bound of one clause's key: the whole encoding (complete) or the part
 * every matching key begins with; *matchable false if the head can match
 * no object (not a tuple with a key, nor a variable); *holds_map if the
 * key's pattern holds a map. */
static int clause_bound(ErlNifEnv *env, table_t *t, ERL_NIF_TERM clause, kbuf_t *b,
                        bool *complete, bool *holds_map, bool *matchable)
{
    int arity;
    const ERL_NIF_TERM *el, *head;
    *matchable = true;
    *complete = *holds_map = false;
    if (!enif_get_tuple(env, clause, &arity, &el) || arity != 3)
        return XETS_OK; /* not for ets:match_spec_compile: no narrowing */
    if (!enif_get_tuple(env, el[0], &arity, &head)) {
        /* A variable as the whole head binds nothing of the key. */
        int st = term_key_pattern_prefix(env, el[0], t->kind->key_mode, b);
        *matchable = st == XETS_END && b->len == 0;
        b->len = 0;
        return st == XETS_NOMEM ? st : XETS_OK;
    }
    if ((unsigned)arity < t->keypos) {
        *matchable = false;
        return XETS_OK;
    }
    *holds_map = term_key_holds_map(env, head[t->keypos - 1]);
    int st = term_key_pattern_prefix(env, head[t->keypos - 1], t->kind->key_mode, b);
    if (st == XETS_OK)
        *complete = true;
    else if (st == XETS_BADARG || st == XETS_END)
        st = XETS_OK; /* a prefix (empty if nothing could be encoded) */
    return st;
}

/* Raises r's lower bound to lo, if that narrows it. (At an equal bound,
 * either flag is right: a complete one only makes a scan visit lo.) */
static int range_raise_lo(krange_t *r, const unsigned char *lo, size_t len, bool complete)
{
    if (r->has_lo && keycmp(lo, len, r->lo.p, r->lo.len) <= 0)
        return XETS_OK;
    r->has_lo = true;
    r->lo_complete = complete;
    return bytes_set(&r->lo, lo, len);
}

/* Lowers r's (exclusive) upper bound to hi, if that narrows it. */
static int range_cut_hi(krange_t *r, const unsigned char *hi, size_t len)
{
    if (r->has_hi && keycmp(hi, len, r->hi.p, r->hi.len) >= 0)
        return XETS_OK;
    r->has_hi = true;
    return bytes_set(&r->hi, hi, len);
}

/* Lowers r's upper bound to just above every key that begins with b (or
 * is b): its successor, if it has one. */
static int range_cut_above(krange_t *r, const unsigned char *b, size_t len)
{
    bytes_t up = {NULL, 0};
    int st = bytes_set(&up, b, len);
    if (st == XETS_OK && successor(&up))
        st = range_cut_hi(r, up.p, up.len);
    free(up.p);
    return st;
}

/* Widens hull to cover r too (first: hull is still empty). */
static int range_cover(krange_t *hull, const krange_t *r, bool first)
{
    int st = XETS_OK;
    if (!r->has_lo) {
        hull->has_lo = false;
    } else if (first || hull->has_lo) {
        int c = first ? -1 : keycmp(r->lo.p, r->lo.len, hull->lo.p, hull->lo.len);
        if (c == 0)
            hull->lo_complete |= r->lo_complete;
        if (c < 0) {
            hull->has_lo = true;
            hull->lo_complete = r->lo_complete;
            st = bytes_set(&hull->lo, r->lo.p, r->lo.len);
        }
    }
    if (!r->has_hi) {
        hull->has_hi = false;
    } else if (st == XETS_OK && (first || hull->has_hi) &&
               (first || keycmp(r->hi.p, r->hi.len, hull->hi.p, hull->hi.len) > 0)) {
        hull->has_hi = true;
        st = bytes_set(&hull->hi, r->hi.p, r->hi.len);
    }
    return st;
}

/* A guard operand that is a constant: a number, a bitstring, an atom that
 * is no variable, or {const, X}. Anything else (a variable, an expression,
 * a tuple or list built at run time) is not, and narrows nothing. */
static bool guard_constant(ErlNifEnv *env, ERL_NIF_TERM x, ERL_NIF_TERM *c)
{
    int arity;
    const ERL_NIF_TERM *el;
    char name[256];
    switch (enif_term_type(env, x)) {
    case ERL_NIF_TERM_TYPE_INTEGER:
    case ERL_NIF_TERM_TYPE_FLOAT:
    case ERL_NIF_TERM_TYPE_BITSTRING:
        *c = x;
        return true;
    case ERL_NIF_TERM_TYPE_ATOM:
        *c = x;
        return enif_get_atom(env, x, name, sizeof name, ERL_NIF_LATIN1) > 0 && name[0] != '$' &&
               strcmp(name, "_") != 0;
    case ERL_NIF_TERM_TYPE_TUPLE:
        if (!enif_get_tuple(env, x, &arity, &el) || arity != 2 ||
            el[0] != atom_const)
            return false;
        *c = el[1];
        return true;
    default:
        return false;
    }
}

/* Guards nest andalso deeper than this only in specs written to be odd;
 * what lies deeper narrows nothing. */
#define GUARD_DEPTH 32

/* Narrows r by guard g of a clause whose key is the variable var. A clause
 * matches only if each guard of its list is true, and so both sides of an
 * andalso or an and; a comparison of var with a constant C then bounds the
 * key. Guards compare in term order, 1 == 1.0, as the ordered encoding
 * does (term_key.h), so C's encoding bounds the encodings of the keys
 * that can pass. Every other guard narrows nothing: it still runs. */
static int guard_narrow(ErlNifEnv *env, table_t *t, ERL_NIF_TERM var, ERL_NIF_TERM g, int depth,
                        krange_t *r)
{
    int arity;
    const ERL_NIF_TERM *el;
    char op[16];
    if (depth > GUARD_DEPTH || !enif_get_tuple(env, g, &arity, &el) || arity != 3 ||
        enif_get_atom(env, el[0], op, sizeof op, ERL_NIF_LATIN1) <= 0)
        return XETS_OK;
    if (strcmp(op, "andalso") == 0 || strcmp(op, "and") == 0) {
        int st = guard_narrow(env, t, var, el[1], depth + 1, r);
        return st == XETS_OK ? guard_narrow(env, t, var, el[2], depth + 1, r) : st;
    }
    /* var OP C, or C OP var read as var OP' C. */
    static const char *const ops[][2] = {{">=", "=<"}, {">", "<"}, {"<", ">"}, {"=<", ">="}};
    ERL_NIF_TERM c;
    int side;
    if (enif_is_identical(el[1], var) && guard_constant(env, el[2], &c))
        side = 0;
    else if (enif_is_identical(el[2], var) && guard_constant(env, el[1], &c))
        side = 1;
    else
        return XETS_OK;
    size_t i = 0;
    while (i < 4 && strcmp(op, ops[i][side]) != 0)
        i++;
    if (i == 4)
        return XETS_OK;
    kbuf_t b;
    kbuf_init(&b);
    int st = term_key_encode(env, c, t->kind->key_mode, &b);
    if (st == XETS_OK) {
        const char *o = ops[i][0];
        if (o[0] == '>') /* var > C passes only above C; var >= C at C too */
            st = range_raise_lo(r, b.p, b.len, o[1] == '=');
        else if (o[0] == '<') /* var < C */
            st = range_cut_hi(r, b.p, b.len);
        else /* var =< C */
            st = range_cut_above(r, b.p, b.len);
    }
    kbuf_free(&b);
    return st == XETS_BADARG ? XETS_OK : st;
}

/* Narrows r by the guards of the clause, when its head is a tuple whose key
 * is a variable ('$N'; '_' binds nothing a guard can name). */
static int clause_guard_range(ErlNifEnv *env, table_t *t, ERL_NIF_TERM clause, krange_t *r)
{
    int arity;
    const ERL_NIF_TERM *el, *head;
    char name[256];
    if (!enif_get_tuple(env, clause, &arity, &el) || arity != 3 ||
        !enif_get_tuple(env, el[0], &arity, &head) || (unsigned)arity < t->keypos)
        return XETS_OK;
    ERL_NIF_TERM var = head[t->keypos - 1];
    if (enif_get_atom(env, var, name, sizeof name, ERL_NIF_LATIN1) <= 0 || name[0] != '$' ||
        name[1] < '0' || name[1] > '9')
        return XETS_OK;
    ERL_NIF_TERM g;
    int st = XETS_OK;
    for (ERL_NIF_TERM l = el[1]; st == XETS_OK && enif_get_list_cell(env, l, &g, &l);)
        st = guard_narrow(env, t, var, g, 0, r);
    return st;
}

/* Works out which keys the clauses can match (see the file comment). */
static int plan_keys(ErlNifEnv *env, table_t *t, ERL_NIF_TERM ms, select_plan_t *p)
{
    unsigned n;
    if (!enif_get_list_length(env, ms, &n))
        return XETS_OK;
    if ((p->keys = calloc(n > 0 ? n : 1, sizeof *p->keys)) == NULL)
        return XETS_NOMEM;
    bool all_complete = true, any = false, maps = false, guarded = false;
    kbuf_t b;
    kbuf_init(&b);
    ERL_NIF_TERM clause;
    int st = XETS_OK;
    for (ERL_NIF_TERM l = ms; st == XETS_OK && enif_get_list_cell(env, l, &clause, &l);) {
        bool complete, holds_map, matchable;
        b.len = 0;
        if ((st = clause_bound(env, t, clause, &b, &complete, &holds_map, &matchable)) !=
                XETS_OK ||
            !matchable)
            continue;
        bool first = !any;
        any = true;
        all_complete &= complete;
        maps |= holds_map;
        if (complete && (st = bytes_set(&p->keys[p->nkeys], b.p, b.len)) == XETS_OK)
            p->nkeys++;
        if (!t->kind->ordered || st != XETS_OK)
            continue;
        /* The clause's keys: those that begin with its bound part, and
         * pass its guards; the plan's range covers every clause's. */
        krange_t r = {0};
        if (b.len > 0 && (st = range_raise_lo(&r, b.p, b.len, complete)) == XETS_OK)
            st = range_cut_above(&r, b.p, b.len);
        if (st == XETS_OK)
            st = clause_guard_range(env, t, clause, &r);
        guarded |= b.len == 0 && (r.has_lo || r.has_hi);
        if (st == XETS_OK)
            st = range_cover(&p->range, &r, first);
        free(r.lo.p);
        free(r.hi.p);
    }
    kbuf_free(&b);
    if (st != XETS_OK)
        return st;
    /* A map in a pattern also matches the bigger maps that hold its keys,
     * which lie beyond the range of its encoding; ets finds them where it
     * scans the whole table, as it does for a clause whose key is a
     * variable, whatever that clause's guards. */
    if (guarded && maps)
        p->range.has_lo = p->range.has_hi = false;
    p->nothing = !any;
    /* Sorted and unique: 1 and 1.0 in two clauses are one key of an
     * ordered_set, looked up once. */
    qsort(p->keys, p->nkeys, sizeof *p->keys, bytes_cmp);
    size_t u = 0;
    for (size_t i = 0; i < p->nkeys; i++) {
        if (u > 0 && bytes_cmp(&p->keys[u - 1], &p->keys[i]) == 0)
            free(p->keys[i].p);
        else
            p->keys[u++] = p->keys[i];
    }
    p->nkeys = u;
    /* Keys are looked up only if every clause binds one. And ets scans an
     * ordered_set from the least to the greatest of several keys, so that
     * a map in one of them also matches the bigger maps in that range. */
    if (!all_complete || !any || (t->kind->ordered && p->nkeys > 1 && maps)) {
        for (size_t i = 0; i < p->nkeys; i++)
            free(p->keys[i].p);
        p->nkeys = 0;
    }
    /* As ets: keys looked up end the traversal with the last of them; an
     * ordered_set looks up a single key, and scans from the least to the
     * greatest of several, ending only when a chunk finds nothing more. */
    p->lookups_end = !t->kind->ordered || p->nkeys == 1;
    return XETS_OK;
}

int select_plan(ErlNifEnv *env, table_t *t, ERL_NIF_TERM ms, ERL_NIF_TERM *plan)
{
    select_plan_t *p = enif_alloc_resource(plan_type, sizeof *p);
    if (p == NULL)
        return XETS_NOMEM;
    memset(p, 0, sizeof *p);
    p->kind = t->kind;
    p->keypos = t->keypos;
    ErlNifBinary etf;
    int st = XETS_NOMEM;
    if (enif_term_to_binary(env, ms, &etf)) {
        /* A spec the engine cannot take is run in Erlang instead. */
        if (match_compile(etf.data, etf.size, &p->prog) != XETS_OK)
            p->prog = NULL;
        enif_release_binary(&etf);
        p->complete = p->prog != NULL && match_complete(p->prog);
        st = plan_keys(env, t, ms, p);
    }
    if (st == XETS_OK)
        *plan = enif_make_resource(env, p);
    enif_release_resource(p);
    return st;
}

const select_plan_t *select_plan_get(ErlNifEnv *env, ERL_NIF_TERM term, table_t *t)
{
    select_plan_t *p;
    if (!enif_get_resource(env, term, plan_type, (void **)&p) || p->kind != t->kind ||
        p->keypos != t->keypos)
        return NULL;
    return p;
}

/* ---- chunks ------------------------------------------------------------- */

/* A delete or replace decided during the scan: the object that matched,
 * as the store holds it (valid for the epoch section), and for a replace
 * its successor. */
typedef struct pending {
    rec_t r;
    unsigned char *repl; /* NULL for a delete */
    size_t rlen;
    uint64_t fp; /* duplicate_bag: the successor's fingerprint */
} pending_t;

typedef struct chunk {
    ErlNifEnv *env;
    const select_plan_t *p;
    enum select_op op;
    enum scan_dir dir;
    bool bag;      /* a key may hold several objects */
    bool whole_keys; /* a bag's delete or replace: a key in one chunk */
    bool defer;    /* objects go to Erlang */
    bool in_range; /* check the plan's lower and upper bounds */
    match_scratch_t scratch;
    ErlNifEnv *scratch_env; /* duplicate_bag replace: fingerprints */
    ERL_NIF_TERM list;      /* reversed; results in front of the caller's tail */
    size_t items, count, cap, visited, max_visits, bytes;
    xets_call_t *call;
    bool full, past;
    /* A bag's key is taken newest first (key_group.h), and a chunk may end
     * inside it or, with whole_keys, before it: the next resumes with the
     * key's objects older than the last one taken, which are the first
     * `group_max' the store visits (so objects added to the key since are
     * not met). */
    key_group_t group;
    size_t group_max;
    bytes_t cursor; /* where a full chunk stopped, with cursor_left */
    size_t cursor_left;
    pending_t *pend;
    size_t npend, pend_cap;
    int st;
} chunk_t;

static int add_pending(chunk_t *c, const rec_t *r, const unsigned char *nv, size_t nlen)
{
    if (c->npend == c->pend_cap) {
        size_t cap = c->pend_cap ? 2 * c->pend_cap : 64;
        pending_t *np = realloc(c->pend, cap * sizeof *np);
        if (np == NULL)
            return XETS_NOMEM;
        c->pend = np;
        c->pend_cap = cap;
    }
    pending_t *e = &c->pend[c->npend];
    *e = (pending_t){.r = *r};
    if (c->op == SELECT_DELETE) {
        c->npend++;
        return XETS_OK;
    }
    if ((e->repl = malloc(nlen > 0 ? nlen : 1)) == NULL)
        return XETS_NOMEM;
    memcpy(e->repl, nv, nlen);
    e->rlen = nlen;
    c->npend++; /* freed with the others from now on */
    if (c->p->kind->multi) {
        ERL_NIF_TERM obj;
        if (c->scratch_env == NULL && (c->scratch_env = enif_alloc_env()) == NULL)
            return XETS_NOMEM;
        int st = enif_binary_to_term(c->scratch_env, nv, nlen, &obj, 0) == 0
                     ? XETS_NOMEM
                     : term_key_fingerprint(c->scratch_env, obj, &e->fp);
        enif_clear_env(c->scratch_env);
        if (st != XETS_OK)
            return st;
    }
    return XETS_OK;
}

static ERL_NIF_TERM decode_bytes(ErlNifEnv *env, const unsigned char *p, size_t len)
{
    ERL_NIF_TERM term;
    if (enif_binary_to_term(env, p, len, &term, 0) == 0)
        abort(); /* stored or made by us: unreadable bytes are memory corruption */
    return term;
}

/* Runs the plan on one stored object. */
static void process(chunk_t *c, const rec_t *r)
{
    const unsigned char *res = NULL;
    size_t rlen = 0;
    match_res_t m = c->p->prog == NULL
                        ? MATCH_DEFER
                        : match_run(c->p->prog, r->val, r->vlen, &c->scratch, &res, &rlen);
    if (m == MATCH_NO)
        return;
    if (m == MATCH_NOMEM) {
        c->st = XETS_NOMEM;
        return;
    }
    if (c->defer) {
        c->list = enif_make_list_cell(c->env, decode_bytes(c->env, r->val, r->vlen), c->list);
        c->items++;
        c->bytes += r->vlen;
        return;
    }
    if (m == MATCH_DEFER) {
        c->st = REDO_DEFERRED;
        return;
    }
    switch (c->op) {
    case SELECT_RESULTS:
        c->list = enif_make_list_cell(c->env, decode_bytes(c->env, res, rlen), c->list);
        c->items++;
        c->bytes += rlen;
        break;
    case SELECT_COUNT:
        c->count += match_result_is_true(res, rlen);
        break;
    case SELECT_DELETE:
        if (match_result_is_true(res, rlen))
            c->st = add_pending(c, r, NULL, 0);
        break;
    case SELECT_REPLACE:
        /* xets_select.erl has checked, as ets does, that the spec keeps keys. */
        c->st = add_pending(c, r, res, rlen);
        break;
    }
}

/* Whether the chunk has used its visits or its time. */
static bool spent(const chunk_t *c)
{
    return c->visited >= c->max_visits || call_late(c->call, c->visited);
}

/* Runs the plan on r. */
static void take(chunk_t *c, const rec_t *r)
{
    /* All but a count in C copy what matches (a result, an object for
     * Erlang, a pending write): decided before anything is, the chunk is
     * then done again on a dirty scheduler. */
    if ((c->op != SELECT_COUNT || c->defer) && !call_may_copy(c->call, r->vlen)) {
        c->st = XETS_DIRTY;
        return;
    }
    c->visited++;
    process(c, r);
}

/* Whether the chunk has taken all it may. */
static bool enough(const chunk_t *c)
{
    return c->items >= c->cap || c->bytes >= CALL_CHUNK_BYTES || spent(c);
}

/* Ends the chunk in r's key, with the first `left' of its objects still
 * to take. */
static void stop_in(chunk_t *c, const rec_t *r, size_t left)
{
    c->full = true;
    c->cursor_left = left;
    if (bytes_set(&c->cursor, r->key, r->klen) != XETS_OK)
        c->st = XETS_NOMEM;
}

/* Whether the chunk takes more objects. */
static bool goes_on(const chunk_t *c)
{
    return !c->full && !c->past && c->st == XETS_OK;
}

/* Takes all the gathered objects of a bag's key for a write (see the top
 * of the file), or none: the chunk then ends before the key, or moves to
 * a dirty scheduler if the key is too long for any chunk. */
static void take_whole(chunk_t *c)
{
    const key_group_t *g = &c->group;
    size_t bytes = 0; /* what goes to Erlang */
    for (size_t i = 0; c->defer && i < g->n; i++)
        bytes += g->rec[i].vlen;
    bool fits = c->visited + g->n <= c->max_visits && c->bytes + bytes <= CALL_CHUNK_BYTES;
    bool too_long = g->n > c->max_visits || bytes > CALL_LONG_OBJECT;
    if (!fits && c->visited > 0) {
        stop_in(c, &g->rec[0], g->n);
        return;
    }
    if (too_long && call_thread(c->call) == CALL_NORMAL) {
        c->st = XETS_DIRTY;
        return;
    }
    bool over = false;
    for (size_t i = g->n; i-- > 0 && c->st == XETS_OK;) {
        take(c, &g->rec[i]);
        over = over || enough(c);
    }
    if (over && c->st == XETS_OK)
        stop_in(c, &g->rec[0], 0);
}

/* Takes the gathered objects of a bag's key, newest first, as far as the
 * chunk goes. Returns goes_on(). */
static bool take_group(chunk_t *c)
{
    key_group_t *g = &c->group;
    if (c->whole_keys && g->n > 0) {
        take_whole(c);
    } else {
        for (size_t i = g->n; i-- > 0 && goes_on(c);) {
            take(c, &g->rec[i]);
            if (c->st == XETS_OK && enough(c))
                stop_in(c, &g->rec[i], i);
        }
    }
    g->n = 0;
    return goes_on(c);
}

static int visit(void *vctx, const rec_t *r)
{
    chunk_t *c = vctx;
    const select_plan_t *p = c->p;
    if (!goes_on(c))
        return 1;
    if (c->in_range) {
        const krange_t *k = &p->range;
        bool below = k->has_lo && keycmp(r->key, r->klen, k->lo.p, k->lo.len) < 0;
        bool above = k->has_hi && keycmp(r->key, r->klen, k->hi.p, k->hi.len) >= 0;
        if (c->dir == SCAN_FORWARD ? above : below) {
            c->past = true;
            return 1;
        }
        if (below || above)
            return 0;
    }
    if (!c->bag) {
        take(c, r);
        if (c->st == XETS_OK && enough(c))
            stop_in(c, r, 0);
        return !goes_on(c);
    }
    /* The store visits a key's objects together: another key's object
     * means the gathered key is whole. */
    if (key_group_ends(&c->group, r) && !take_group(c))
        return 1;
    if (c->group.n < c->group_max && key_group_add(&c->group, r) != XETS_OK) {
        c->st = XETS_NOMEM;
        return 1;
    }
    return 0;
}

/* The first key of the plan's list strictly after cursor in direction dir,
 * as an index; nkeys when there is none. */
static size_t first_key(const select_plan_t *p, const select_cursor_t *cursor, enum scan_dir dir)
{
    if (dir == SCAN_FORWARD) {
        size_t i = 0;
        while (cursor && i < p->nkeys &&
               keycmp(p->keys[i].p, p->keys[i].len, cursor->key, cursor->klen) <= 0)
            i++;
        return i;
    }
    size_t i = p->nkeys;
    while (cursor && i > 0 &&
           keycmp(p->keys[i - 1].p, p->keys[i - 1].len, cursor->key, cursor->klen) >= 0)
        i--;
    return i == 0 ? p->nkeys : i - 1;
}

/* Looks up the plan's keys from the cursor on. */
static void visit_keys(chunk_t *c, table_t *t, store_t *s, const select_cursor_t *cursor)
{
    const select_plan_t *p = c->p;
    size_t i = first_key(p, cursor, c->dir);
    while (i < p->nkeys && goes_on(c)) {
        const bytes_t *k = &p->keys[i];
        int got = t->ops->get(s, c->call, k->p, k->len, visit, c);
        if (got != XETS_OK && got != XETS_NOTFOUND) {
            c->st = got; /* a block to load, say: the chunk is redone */
            break;
        }
        take_group(c);
        c->visited += !c->full; /* a key looked up costs a visit, found or not */
        if (!c->full && spent(c)) {
            c->full = true;
            c->cursor_left = 0;
            c->st = bytes_set(&c->cursor, k->p, k->len);
        }
        if (c->dir == SCAN_FORWARD)
            i++;
        else
            i = i == 0 ? p->nkeys : i - 1;
    }
    /* ets knows it is done when it stopped after a key, not inside a bag's
     * key (even after its last object). */
    bool inside = c->full && c->bag;
    if (i == p->nkeys && p->lookups_end && !inside)
        c->past = true;
}

/* Scans the plan's range (or the table) from the cursor on. */
static void visit_range(chunk_t *c, table_t *t, store_t *s, const select_cursor_t *cursor)
{
    const select_plan_t *p = c->p;
    unsigned char *from = NULL;
    const unsigned char *after = NULL;
    size_t alen = 0;
    c->in_range = p->range.has_lo || p->range.has_hi;
    if (cursor != NULL) {
        after = cursor->key;
        alen = cursor->klen;
    } else if (c->dir == SCAN_BACKWARD && p->range.has_hi) {
        after = p->range.hi.p; /* out of range, as is anything above it */
        alen = p->range.hi.len;
    } else if (c->dir == SCAN_FORWARD && p->range.has_lo) {
        /* Strictly after a prefix is at or above it. A complete key must
         * itself be visited: start just below it, above anything that
         * differs from it before its last byte. */
        const bytes_t *lo = &p->range.lo;
        if ((from = malloc(lo->len + 8)) == NULL) {
            c->st = XETS_NOMEM;
            return;
        }
        memcpy(from, lo->p, lo->len);
        alen = lo->len;
        if (p->range.lo_complete && from[alen - 1] == 0) {
            alen--;
        } else if (p->range.lo_complete) {
            from[alen - 1]--;
            memset(from + alen, 0xFF, 8);
            alen += 8;
        }
        after = alen > 0 ? from : NULL;
    }
    int st = store_scan(t->ops, s, c->call, after, alen, c->dir, visit, c);
    if (st == XETS_NEED_IO && c->bag && c->group.n > 0 && goes_on(c)) {
        /* A block not cached after whole keys (store.h, store_scan): the
         * chunk ends after the gathered one, the next one asks for the
         * block, rather than this one being redone. */
        rec_t last = c->group.rec[0];
        if (take_group(c))
            stop_in(c, &last, 0);
        call_io_drop(c->call);
        st = XETS_OK;
    }
    if (st != XETS_OK && st != XETS_END)
        c->st = st;
    take_group(c); /* the last key the scan visited */
    free(from);
}

static int apply_pending(chunk_t *c, table_t *t);
static int apply_held(chunk_t *c, table_t *t);

static int run_chunk(ErlNifEnv *env, table_t *t, xets_call_t *call, const select_plan_t *p,
                     const select_cursor_t *cursor, enum scan_dir dir, enum select_op op, size_t cap,
                     ERL_NIF_TERM tail, bool defer, size_t *n, ERL_NIF_TERM *items,
                     ERL_NIF_TERM *next)
{
    bool ordered = p->kind->ordered;
    chunk_t c = {.env = env,
                 .call = call,
                 .p = p,
                 .op = op,
                 /* A hash table has no order to reverse: as in ets,
                  * select_reverse is select there. */
                 .dir = ordered ? dir : SCAN_FORWARD,
                 .bag = p->kind->multi,
                 .whole_keys = p->kind->multi && (op == SELECT_DELETE || op == SELECT_REPLACE),
                 .defer = defer,
                 .list = defer ? enif_make_list(env, 0) : tail,
                 .cap = cap > 0 ? cap : 1,
                 .max_visits = op == SELECT_COUNT && !defer ? COUNT_VISITS : CHUNK_VISITS,
                 .group_max = SIZE_MAX,
                 .st = XETS_OK};
    match_scratch_init(&c.scratch);
    key_group_init(&c.group);
    store_t *s = t->store;
    if (cursor != NULL && cursor->left > 0 && c.bag) {
        /* The rest of the key the last chunk stopped in (a write's: all
         * of it, the chunk having stopped before it). */
        c.group_max = cursor->left;
        int got = t->ops->get(s, call, cursor->key, cursor->klen, visit, &c);
        if (got != XETS_OK && got != XETS_NOTFOUND)
            c.st = got; /* a block to load, say: the chunk is redone */
        else
            take_group(&c);
        c.group_max = SIZE_MAX;
    }
    if (p->nothing)
        c.past = true;
    else if (goes_on(&c) && p->nkeys > 0)
        visit_keys(&c, t, s, cursor);
    else if (goes_on(&c))
        visit_range(&c, t, s, cursor);
    if (!c.full)
        c.past = true;
    /* Writes only once the whole chunk is decided: a redone chunk must not
     * have written anything. */
    int st = c.st == XETS_OK ? apply_pending(&c, t) : c.st;
    if (st == XETS_OK) {
        if (c.defer) {
            /* In the order visited, for ets:match_spec_run_r/3. */
            enif_make_reverse_list(env, c.list, items);
            *n = c.items;
        } else if (op == SELECT_RESULTS) {
            *items = c.list;
            *n = c.items;
        } else {
            *n = c.count;
        }
        if (c.past) {
            *next = atom_end_of_table;
        } else {
            ERL_NIF_TERM key;
            memcpy(enif_make_new_binary(env, c.cursor.len, &key), c.cursor.p, c.cursor.len);
            *next = enif_make_tuple2(env, key, enif_make_uint64(env, c.cursor_left));
        }
    }
    for (size_t i = 0; i < c.npend; i++)
        free(c.pend[i].repl);
    free(c.pend);
    if (c.scratch_env != NULL)
        enif_free_env(c.scratch_env);
    key_group_free(&c.group);
    match_scratch_free(&c.scratch);
    free(c.cursor.p);
    return st;
}

int select_chunk(ErlNifEnv *env, table_t *t, xets_call_t *call, const select_plan_t *p,
                 const select_cursor_t *cursor,
                 enum scan_dir dir, enum select_op op, size_t cap, ERL_NIF_TERM tail,
                 bool *deferred, size_t *n, ERL_NIF_TERM *items, ERL_NIF_TERM *next)
{
    *deferred = !p->complete;
    int st = run_chunk(env, t, call, p, cursor, dir, op, cap, tail, *deferred, n, items, next);
    if (st == REDO_DEFERRED) {
        *deferred = true;
        st = run_chunk(env, t, call, p, cursor, dir, op, cap, tail, true, n, items, next);
    }
    return st;
}

/* ---- writes decided by a chunk ------------------------------------------ */

/* The objects that are old byte for byte, and what replaces one. */
typedef struct write_ctx {
    const unsigned char *old;
    size_t olen;
    const rec_in_t *repl;
} write_ctx_t;

static bool is_old(void *ctx, const rec_t *r)
{
    const write_ctx_t *w = ctx;
    return r->vlen == w->olen && memcmp(r->val, w->old, w->olen) == 0;
}

static int replace_old(void *ctx, const rec_t *cur, rec_in_t *out)
{
    const write_ctx_t *w = ctx;
    if (!is_old(ctx, cur))
        return XETS_NOTFOUND; /* changed since it matched */
    *out = *w->repl;
    return XETS_OK;
}

/* A write to a key of a set or an ordered_set, which holds one object:
 * applies if that object is still old, byte for byte (so 0.0 is not
 * -0.0). Returns 1 if it did, 0 if not, or XETS_NOMEM. */
static int write_one(table_t *t, xets_call_t *call, const unsigned char *key, size_t klen, const unsigned char *old,
                     size_t olen, const rec_in_t *repl)
{
    write_ctx_t w = {old, olen, repl};
    store_t *s = t->store;
    if (repl == NULL)
        return t->ops->remove(s, call, key, klen, is_old, &w, NULL, NULL);
    int st = t->ops->update(s, call, key, klen, replace_old, &w);
    return st == XETS_OK ? 1 : st == XETS_NOTFOUND ? 0 : st;
}

static bool same_key(const rec_t *a, const rec_t *b)
{
    return a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* Orders a chunk's writes by the object they write, length then bytes:
 * an object is found again by its bytes, not its address, which a store
 * with files does not keep from one call to the next (identical objects
 * of a duplicate_bag match alike, so it matters not which is which). */
static int by_bytes(const void *a, const void *b)
{
    const rec_t *x = &((const pending_t *)a)->r, *y = &((const pending_t *)b)->r;
    if (x->vlen != y->vlen)
        return (x->vlen > y->vlen) - (x->vlen < y->vlen);
    return memcmp(x->val, y->val, x->vlen);
}

/* The writes a chunk decided on one bag key, sorted by_bytes. */
typedef struct matched {
    const pending_t *p;
    size_t n;
} matched_t;

/* Each object the chunk matched is written, if still in the key. */
static int rewrite_matched(void *ctx, size_t i, const rec_t *cur, rec_in_t *out)
{
    (void)i;
    const matched_t *m = ctx;
    pending_t probe = {.r.val = cur->val, .r.vlen = cur->vlen};
    const pending_t *e = bsearch(&probe, m->p, m->n, sizeof *m->p, by_bytes);
    if (e == NULL)
        return REWRITE_KEEP;
    if (e->repl == NULL)
        return REWRITE_REMOVE;
    *out = (rec_in_t){cur->key, cur->klen, e->repl, e->rlen, e->fp};
    return REWRITE_REPLACE;
}

/* The key of write i of a chunk's or of Erlang's. */
typedef void (*key_at_fn)(const void *writes, size_t i, const unsigned char **key, size_t *klen);

static void pending_key(const void *writes, size_t i, const unsigned char **key, size_t *klen)
{
    const pending_t *p = writes;
    *key = p[i].r.key;
    *klen = p[i].r.klen;
}

static void decided_key(const void *writes, size_t i, const unsigned char **key, size_t *klen)
{
    const select_write_t *w = writes;
    *key = w[i].key;
    *klen = w[i].klen;
}

/* Before n writes of a store with files: the store holds what the call
 * reads (store.h, hold), and each write's key is read, so that the
 * writes find every state without I/O: once one is done, the others
 * cannot ask for any (the chunk would be redone with writes done).
 * XETS_OK with the hold taken, to be ended by writes_end; XETS_NEED_IO
 * (its request filled) or another failure with nothing held or written. */
static int writes_begin(table_t *t, xets_call_t *call, const void *writes, size_t n,
                        key_at_fn key_at)
{
    if (t->ops->hold == NULL || n == 0)
        return XETS_OK;
    int st = t->ops->hold(t->store, call, false);
    for (size_t i = 0; i < n && st == XETS_OK; i++) {
        const unsigned char *key;
        size_t klen;
        key_at(writes, i, &key, &klen);
        st = t->ops->get(t->store, call, key, klen, glue_stop_at_first, NULL);
        st = st == XETS_NOTFOUND ? XETS_OK : st;
        if (st != XETS_OK)
            t->ops->hold(t->store, call, true);
    }
    return st;
}

static void writes_end(table_t *t, xets_call_t *call, size_t n)
{
    if (t->ops->hold != NULL && n > 0)
        t->ops->hold(t->store, call, true);
}

static int apply_pending(chunk_t *c, table_t *t)
{
    int st = writes_begin(t, c->call, c->pend, c->npend, pending_key);
    if (st != XETS_OK)
        return st;
    st = apply_held(c, t);
    writes_end(t, c->call, c->npend);
    return st;
}

/* apply_pending's writes, the states held. */
static int apply_held(chunk_t *c, table_t *t)
{
    for (size_t i = 0; i < c->npend;) {
        pending_t *e = &c->pend[i];
        size_t n = 1;
        int done;
        if (c->bag) {
            /* A key's writes are together: the chunk took it whole. */
            while (i + n < c->npend && same_key(&c->pend[i + n].r, &e->r))
                n++;
            qsort(e, n, sizeof *e, by_bytes);
            matched_t m = {e, n};
            done = t->ops->rewrite(t->store, c->call, e->r.key, e->r.klen, rewrite_matched, &m);
        } else {
            rec_in_t repl = {e->r.key, e->r.klen, e->repl, e->rlen, e->fp};
            done = write_one(t, c->call, e->r.key, e->r.klen, e->r.val, e->r.vlen,
                             e->repl != NULL ? &repl : NULL);
        }
        if (done < 0)
            return done;
        c->count += (size_t)done;
        i += n;
    }
    return XETS_OK;
}

/* Orders writes by the object they write, bytes after length. */
static int by_old(const void *a, const void *b)
{
    const select_write_t *x = a, *y = b;
    if (x->olen != y->olen)
        return (x->olen > y->olen) - (x->olen < y->olen);
    return memcmp(x->old, y->old, x->olen);
}

/* The writes Erlang decided on one bag key, sorted by_old. */
typedef struct decided {
    const select_write_t *w;
    size_t n;
} decided_t;

/* Each object equal to one Erlang decided on gets the same decision. */
static int rewrite_decided(void *ctx, size_t i, const rec_t *cur, rec_in_t *out)
{
    (void)i;
    const decided_t *d = ctx;
    select_write_t probe = {.old = cur->val, .olen = cur->vlen};
    const select_write_t *w = bsearch(&probe, d->w, d->n, sizeof *d->w, by_old);
    if (w == NULL)
        return REWRITE_KEEP;
    if (w->repl == NULL)
        return REWRITE_REMOVE;
    *out = *w->repl;
    return REWRITE_REPLACE;
}

static int write_held(table_t *t, xets_call_t *call, select_write_t *w, size_t n);

int select_write(table_t *t, xets_call_t *call, select_write_t *w, size_t n)
{
    int st = writes_begin(t, call, w, n, decided_key);
    if (st != XETS_OK)
        return st;
    st = write_held(t, call, w, n);
    writes_end(t, call, n);
    return st;
}

/* select_write's writes, the states held. */
static int write_held(table_t *t, xets_call_t *call, select_write_t *w, size_t n)
{
    bool bag = t->kind->multi;
    int total = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        int done;
        if (bag) {
            while (i + k < n && w[i + k].klen == w[i].klen &&
                   memcmp(w[i + k].key, w[i].key, w[i].klen) == 0)
                k++;
            qsort(w + i, k, sizeof *w, by_old);
            decided_t d = {w + i, k};
            done = t->ops->rewrite(t->store, call, w[i].key, w[i].klen, rewrite_decided, &d);
        } else {
            done = write_one(t, call, w[i].key, w[i].klen, w[i].old, w[i].olen, w[i].repl);
        }
        if (done < 0)
            return done;
        total += done;
        i += k;
    }
    return total;
}
