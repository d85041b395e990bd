/* ETS match specifications run on objects in the external term format
 * (contract in match.h).
 *
 * Compiling turns each clause into a pattern tree for the head and
 * expression trees for the guards and the last body expression (the only
 * one whose value can be seen: ETS ignores the others, even when they
 * raise). Nodes point into the program's own copy of the spec for their
 * constants. Running walks the pattern over the object's bytes, binding
 * variables to etf_ref_t (which can name the tail of a STRING_EXT or
 * LIST_EXT, so [H|T] patterns copy nothing); values the guards and body
 * build (tuples, lists) are written in the external format into the
 * scratch's block arena, and the final result into the scratch's output.
 *
 * Evaluated here: heads of any shape except map patterns; type tests;
 * is_record/3; comparisons in full term order (except ordering two
 * different maps, pids, ports, refs or funs); and, or, andalso, orelse,
 * not, xor; element, hd, tl, length, size, bit_size, byte_size, map_size;
 * binary + - *, div, rem, band, bor, bxor, bnot, bsl, bsr on integers
 * whose operands and result fit int64; abs and unary + and - on any
 * integer, abs and unary + on floats; {const, T}; tuple and list
 * construction; '$_', '$$', '$N' and constants. In a body, a call that
 * raises is worth 'EXIT' where it was made, as in ETS.
 *
 * Answered MATCH_DEFER: map patterns in heads, map construction, map_get,
 * is_map_key, float arithmetic and float conversions (float, round,
 * trunc, '/'), binary_part, self, node; unary minus of a float;
 * arithmetic whose operands or result leave int64; variables '$N' with N of ten digits or more (OTP
 * wraps them); anything a walk cannot decide (etf.h's ETF_UNSUP) and
 * malformed objects. A clause whose guard or body needs any of these
 * answers MATCH_DEFER whenever its head matches (and the clauses before
 * it did not); one whose head has a map pattern does so when the rest of
 * the head matches.
 *
 * Recursion: patterns and expressions are trees no deeper than MAX_NEST
 * (deeper clauses always defer), and list spines are walked in loops. */
#include "match.h"
#include "etf.h"
#include "status.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEST 100     /* tuple / call / list-head nesting of a clause */
#define MAX_VAR 999999999 /* '$N' beyond this: OTP's own parse wraps, so defer */

/* ---- block arena ---------------------------------------------------------
 * Bump allocation in a chain of blocks that never move, so references into
 * what was built stay valid while more is built. Used for the program's
 * nodes and for the values a run builds (reset at each run). */

typedef struct match_block {
    struct match_block *next;
    size_t cap, used;
    max_align_t data[]; /* cap bytes */
} match_block_t;

#define BLOCK_MIN 4096

static void *arena_alloc(match_block_t **first, match_block_t **cur, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    match_block_t *b = *cur;
    while (b && b->cap - b->used < n) {
        b = b->next;
        if (b)
            b->used = 0; /* blocks past cur hold nothing of this run */
    }
    if (!b) {
        size_t cap = *cur ? (*cur)->cap * 2 : BLOCK_MIN;
        while (cap < n)
            cap *= 2;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = NULL;
        /* Append at the end of the chain. */
        if (!*first) {
            *first = b;
        } else {
            match_block_t *t = *cur ? *cur : *first;
            while (t->next)
                t = t->next;
            t->next = b;
        }
    }
    *cur = b;
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    return p;
}

static void arena_reset(match_block_t *first, match_block_t **cur)
{
    if (first)
        first->used = 0;
    *cur = first;
}

static void arena_free(match_block_t *b)
{
    while (b) {
        match_block_t *n = b->next;
        free(b);
        b = n;
    }
}

/* ---- program -------------------------------------------------------------- */

typedef enum {
    P_ANY,   /* '_' */
    P_BIND,  /* first occurrence of a variable */
    P_CHECK, /* later occurrence: =:= the bound value */
    P_CONST, /* =:= with floats compared bitwise */
    P_TUPLE,
    P_CONS,
    P_MAP /* a map pattern: checks it is a map, then defers */
} pat_op_t;

typedef struct pat {
    pat_op_t op;
    uint32_t slot;  /* P_BIND, P_CHECK */
    uint32_t n;     /* P_TUPLE: arity */
    uint32_t upto;  /* P_TUPLE: elements from upto on are all '_' */
    etf_ref_t c;    /* P_CONST: the constant; P_CONS: the list it came from */
    struct pat **kids; /* P_TUPLE: n; P_CONS: head, tail */
} pat_t;

typedef enum {
    E_CONST,
    E_VAR,
    E_OBJ, /* '$_' */
    E_ALL, /* '$$' */
    E_TUPLE,
    E_LIST, /* n elements, then the tail as args[n] */
    E_CALL
} expr_op_t;

typedef enum {
    F_IS_ATOM,
    F_IS_FLOAT,
    F_IS_INTEGER,
    F_IS_LIST,
    F_IS_NUMBER,
    F_IS_PID,
    F_IS_PORT,
    F_IS_REFERENCE,
    F_IS_TUPLE,
    F_IS_MAP,
    F_IS_BINARY,
    F_IS_FUNCTION,
    F_IS_RECORD,
    F_ABS,
    F_ELEMENT,
    F_HD,
    F_TL,
    F_LENGTH,
    F_SIZE,
    F_BIT_SIZE,
    F_BYTE_SIZE,
    F_MAP_SIZE,
    F_PLUS,
    F_MINUS,
    F_TIMES,
    F_DIV,
    F_REM,
    F_BAND,
    F_BOR,
    F_BXOR,
    F_BNOT,
    F_BSL,
    F_BSR,
    F_EXACT_EQ,
    F_EXACT_NE,
    F_EQ,
    F_NE,
    F_LT,
    F_LE,
    F_GT,
    F_GE,
    F_NOT,
    F_XOR,
    F_AND,
    F_OR,
    F_ANDALSO,
    F_ORELSE
} fn_t;

typedef struct expr {
    expr_op_t op;
    fn_t fn;
    uint32_t n;     /* E_TUPLE, E_CALL: arguments; E_LIST: elements */
    uint32_t slot;  /* E_VAR */
    etf_ref_t c;    /* E_CONST */
    bool literal;   /* E_CONST: c is this expression's own text in the spec
                       (not so for {const, T}, nor for {{...}} folded into
                       the inner tuple) */
    const unsigned char *whole; /* E_CONST as a result: version byte + term */
    size_t wlen;
    struct expr **args;
} expr_t;

typedef struct clause {
    pat_t *head;
    expr_t **guards;
    uint32_t nguards;
    expr_t *result;
    uint32_t *all; /* slots in variable-number order, for '$$' */
    uint32_t nall;
    bool defer_on_match; /* the guards or body need Erlang */
    bool defer_on_reach; /* even the head cannot be matched here */
} clause_t;

struct match_prog {
    match_block_t *mem, *mem_cur;
    unsigned char *spec; /* our copy: every constant points into it */
    size_t spec_len;
    clause_t *clauses;
    size_t nclauses;
    uint32_t nvars; /* most variables of any clause */
    bool complete;
};

static const struct {
    const char *name;
    uint8_t min, max;
    fn_t fn;
} fn_table[] = {
    {"is_atom", 1, 1, F_IS_ATOM},
    {"is_float", 1, 1, F_IS_FLOAT},
    {"is_integer", 1, 1, F_IS_INTEGER},
    {"is_list", 1, 1, F_IS_LIST},
    {"is_number", 1, 1, F_IS_NUMBER},
    {"is_pid", 1, 1, F_IS_PID},
    {"is_port", 1, 1, F_IS_PORT},
    {"is_reference", 1, 1, F_IS_REFERENCE},
    {"is_tuple", 1, 1, F_IS_TUPLE},
    {"is_map", 1, 1, F_IS_MAP},
    {"is_binary", 1, 1, F_IS_BINARY},
    {"is_function", 1, 1, F_IS_FUNCTION},
    {"is_record", 3, 3, F_IS_RECORD},
    {"abs", 1, 1, F_ABS},
    {"element", 2, 2, F_ELEMENT},
    {"hd", 1, 1, F_HD},
    {"tl", 1, 1, F_TL},
    {"length", 1, 1, F_LENGTH},
    {"size", 1, 1, F_SIZE},
    {"bit_size", 1, 1, F_BIT_SIZE},
    {"byte_size", 1, 1, F_BYTE_SIZE},
    {"map_size", 1, 1, F_MAP_SIZE},
    {"+", 1, 2, F_PLUS},
    {"-", 1, 2, F_MINUS},
    {"*", 2, 2, F_TIMES},
    {"div", 2, 2, F_DIV},
    {"rem", 2, 2, F_REM},
    {"band", 2, 2, F_BAND},
    {"bor", 2, 2, F_BOR},
    {"bxor", 2, 2, F_BXOR},
    {"bnot", 1, 1, F_BNOT},
    {"bsl", 2, 2, F_BSL},
    {"bsr", 2, 2, F_BSR},
    {"=:=", 2, 2, F_EXACT_EQ},
    {"=/=", 2, 2, F_EXACT_NE},
    {"==", 2, 2, F_EQ},
    {"/=", 2, 2, F_NE},
    {"<", 2, 2, F_LT},
    {"=<", 2, 2, F_LE},
    {">", 2, 2, F_GT},
    {">=", 2, 2, F_GE},
    {"not", 1, 1, F_NOT},
    {"xor", 2, 2, F_XOR},
    {"and", 1, 255, F_AND},
    {"or", 1, 255, F_OR},
    {"andalso", 1, 255, F_ANDALSO},
    {"orelse", 1, 255, F_ORELSE},
};

/* ---- compiling ------------------------------------------------------------ */

/* Variables of the clause being compiled: number -> slot. */
typedef struct {
    uint32_t num;
    bool bound; /* bound by the head outside map patterns */
} var_t;

typedef struct {
    match_prog_t *prog;
    var_t *vars;
    uint32_t nvars, cap;
    bool unsupported;  /* guards/body need Erlang */
    bool head_bad;     /* head cannot be matched here */
    bool has_map;      /* head has a map pattern */
    bool incomplete;   /* some run may defer */
    int rc;            /* XETS_NOMEM when allocation failed */
} cc_t;

static void *cc_alloc(cc_t *c, size_t n)
{
    void *p = arena_alloc(&c->prog->mem, &c->prog->mem_cur, n);
    if (!p)
        c->rc = XETS_NOMEM;
    else
        memset(p, 0, n);
    return p;
}

/* '$N' -> N; -1 for other atoms; -2 for a variable whose number is too
 * large to handle the way OTP does. */
static int64_t var_number(const etf_ref_t *r)
{
    etf_class_t cls;
    if (etf_class(r, &cls) != ETF_OK || cls != ETF_C_ATOM)
        return -1;
    const unsigned char *p = r->p, *s;
    size_t n;
    if (p[0] == ETF_ATOM || p[0] == ETF_ATOM_UTF8) {
        if (r->end - p < 3)
            return -1;
        n = (size_t)p[1] << 8 | p[2];
        s = p + 3;
    } else {
        if (r->end - p < 2)
            return -1;
        n = p[1];
        s = p + 2;
    }
    if (n < 2 || (size_t)(r->end - s) < n || s[0] != '$')
        return -1;
    if (s[1] == '0')
        return n == 2 ? 0 : -1;
    int64_t v = 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v <= MAX_VAR)
            v = v * 10 + (s[i] - '0');
    }
    return v > MAX_VAR ? -2 : v;
}

static bool is_atom(const etf_ref_t *r, const char *name)
{
    return etf_is_atom_named(r, name, strlen(name));
}

/* Slot of variable num, made when new. */
static int var_slot(cc_t *c, uint32_t num, uint32_t *slot, bool *existed)
{
    for (uint32_t i = 0; i < c->nvars; i++)
        if (c->vars[i].num == num) {
            *slot = i;
            *existed = true;
            return XETS_OK;
        }
    if (c->nvars == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 16;
        var_t *v = realloc(c->vars, cap * sizeof *v);
        if (!v)
            return c->rc = XETS_NOMEM;
        c->vars = v;
        c->cap = cap;
    }
    c->vars[c->nvars].num = num;
    c->vars[c->nvars].bound = false;
    *slot = c->nvars++;
    *existed = false;
    return XETS_OK;
}

/* Which classes a constant holds (bits 1u << etf_class_t). */
static unsigned const_classes(const etf_ref_t *r)
{
    unsigned seen = 0;
    const unsigned char *next;
    if (r->kind == ETF_REF_TERM) {
        if (etf_skip_seen(r->p, r->end, &next, &seen) != ETF_OK)
            return ~0u;
        return seen;
    }
    if (r->kind == ETF_REF_STR_TAIL)
        return 1u << ETF_C_LIST;
    if (r->kind == ETF_REF_LIST_TAIL) {
        /* Elements then the tail, all contiguous. */
        const unsigned char *p = r->p;
        for (uint32_t i = 0; i <= r->u.n; i++)
            if (etf_skip_seen(p, r->end, &p, &seen) != ETF_OK)
                return ~0u;
        return seen | 1u << ETF_C_LIST;
    }
    return 1u << ETF_C_NUMBER;
}

/* Constants whose comparison with anything is always decided here. */
static bool plain_const(const expr_t *e)
{
    const unsigned hard = 1u << ETF_C_MAP | 1u << ETF_C_PID | 1u << ETF_C_PORT | 1u << ETF_C_REF |
                          1u << ETF_C_FUN;
    return e->op == E_CONST && (const_classes(&e->c) & hard) == 0;
}

static pat_t *new_pat(cc_t *c, pat_op_t op)
{
    pat_t *p = cc_alloc(c, sizeof *p);
    if (p)
        p->op = op;
    return p;
}

/* A constant in a head: decided here unless it holds refs or funs. */
static pat_t *const_pat(cc_t *c, pat_t *p, const etf_ref_t *r)
{
    p->op = P_CONST;
    p->c = *r;
    p->kids = NULL;
    if (const_classes(r) & (1u << ETF_C_REF | 1u << ETF_C_FUN))
        c->incomplete = true;
    return p;
}

static pat_t *compile_pat(cc_t *c, const etf_ref_t *r, int depth);

/* A list pattern: a chain of P_CONS nodes (matched in a loop, not by
 * recursion); cells whose head and tail are both constants fold into one
 * P_CONST, from the end. */
static pat_t *compile_pat_list(cc_t *c, const etf_ref_t *r, int depth)
{
    pat_t *first = NULL, **link = &first;
    pat_t **chain = NULL;
    size_t nchain = 0, cap = 0;
    etf_ref_t cur = *r;
    for (;;) {
        bool cons;
        etf_ref_t h, t;
        if (etf_list_split(&cur, &cons, &h, &t) != ETF_OK) {
            c->head_bad = true;
            break;
        }
        if (!cons) {
            *link = compile_pat(c, &cur, depth + 1);
            break;
        }
        pat_t *node = new_pat(c, P_CONS);
        pat_t **kids = cc_alloc(c, 2 * sizeof *kids);
        if (!node || !kids)
            break;
        node->c = cur;
        node->kids = kids;
        if (!(kids[0] = compile_pat(c, &h, depth + 1)))
            break;
        *link = node;
        link = &kids[1];
        if (nchain == cap) {
            cap = cap ? cap * 2 : 8;
            pat_t **nc = realloc(chain, cap * sizeof *nc);
            if (!nc) {
                c->rc = XETS_NOMEM;
                break;
            }
            chain = nc;
        }
        chain[nchain++] = node;
        cur = t;
    }
    bool ok = c->rc == XETS_OK && !c->head_bad && *link;
    for (size_t i = nchain; ok && i-- > 0;) {
        pat_t *n = chain[i];
        if (n->kids[0]->op == P_CONST && n->kids[1]->op == P_CONST)
            const_pat(c, n, &n->c);
    }
    free(chain);
    return ok ? first : NULL;
}

static pat_t *compile_pat(cc_t *c, const etf_ref_t *r, int depth)
{
    etf_class_t cls;
    if (depth > MAX_NEST || etf_class(r, &cls) != ETF_OK) {
        c->head_bad = true;
        return NULL;
    }
    pat_t *p;
    switch (cls) {
    case ETF_C_ATOM: {
        if (is_atom(r, "_"))
            return new_pat(c, P_ANY);
        int64_t v = var_number(r);
        if (v == -2) {
            c->head_bad = true;
            return NULL;
        }
        if (v < 0)
            break;
        uint32_t slot;
        bool existed;
        if (var_slot(c, (uint32_t)v, &slot, &existed) != XETS_OK)
            return NULL;
        if ((p = new_pat(c, existed ? P_CHECK : P_BIND)))
            p->slot = slot;
        if (existed)
            c->incomplete = true; /* =:= of two parts of the object */
        return p;
    }
    case ETF_C_TUPLE: {
        uint32_t n;
        const unsigned char *q;
        if (etf_tuple(r, &n, &q) != ETF_OK || !(p = new_pat(c, P_TUPLE)))
            break;
        pat_t **kids = cc_alloc(c, (size_t)n * sizeof *kids);
        if (!kids)
            return NULL;
        bool all_const = true;
        for (uint32_t i = 0; i < n; i++) {
            etf_ref_t e = etf_term(q, r->end);
            if (!(kids[i] = compile_pat(c, &e, depth + 1)))
                return NULL;
            if (kids[i]->op != P_CONST)
                all_const = false;
            if (kids[i]->op != P_ANY)
                p->upto = i + 1;
            if (i + 1 < n && etf_skip(q, r->end, &q) != ETF_OK) {
                c->head_bad = true;
                return NULL;
            }
        }
        p->n = n;
        p->kids = kids;
        return all_const ? const_pat(c, p, r) : p;
    }
    case ETF_C_LIST:
        return compile_pat_list(c, r, depth);
    case ETF_C_MAP:
        c->has_map = true;
        c->incomplete = true;
        return new_pat(c, P_MAP);
    default:
        break;
    }
    p = new_pat(c, P_CONST);
    return p ? const_pat(c, p, r) : NULL;
}

static expr_t *unsupported(cc_t *c)
{
    c->unsupported = true;
    return NULL;
}

static expr_t *new_expr(cc_t *c, expr_op_t op, uint32_t nargs)
{
    expr_t *e = cc_alloc(c, sizeof *e);
    if (!e)
        return NULL;
    e->op = op;
    e->n = nargs;
    if (nargs && !(e->args = cc_alloc(c, (size_t)nargs * sizeof *e->args)))
        return NULL;
    return e;
}

static expr_t *const_expr(cc_t *c, const etf_ref_t *r)
{
    expr_t *e = new_expr(c, E_CONST, 0);
    if (e)
        e->c = *r;
    return e;
}

/* Whether a tuple or list built from these is the spec's text itself. */
static bool all_literal(expr_t *const *args, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (args[i]->op != E_CONST || !args[i]->literal)
            return false;
    return true;
}

static expr_t *literal_expr(cc_t *c, const etf_ref_t *r)
{
    expr_t *e = const_expr(c, r);
    if (e)
        e->literal = true;
    return e;
}

static expr_t *compile_expr(cc_t *c, const etf_ref_t *r, int depth);

/* A call {Name, Args...}: the tuple's elements after the name at q. */
static expr_t *compile_call(cc_t *c, const etf_ref_t *r, uint32_t n, const unsigned char *q,
                            int depth)
{
    etf_ref_t name = etf_term(q, r->end);
    if (etf_skip(q, r->end, &q) != ETF_OK)
        return unsupported(c);
    if (is_atom(&name, "const") && n == 2) {
        etf_ref_t v = etf_term(q, r->end);
        return const_expr(c, &v);
    }
    uint32_t nargs = n - 1;
    size_t k;
    for (k = 0; k < sizeof fn_table / sizeof fn_table[0]; k++)
        if (nargs >= fn_table[k].min && nargs <= fn_table[k].max && is_atom(&name, fn_table[k].name))
            break;
    if (k == sizeof fn_table / sizeof fn_table[0])
        return unsupported(c); /* a guard BIF this engine leaves to Erlang */
    expr_t *e = new_expr(c, E_CALL, nargs);
    if (!e)
        return NULL;
    e->fn = fn_table[k].fn;
    for (uint32_t i = 0; i < nargs; i++) {
        etf_ref_t a = etf_term(q, r->end);
        if (!(e->args[i] = compile_expr(c, &a, depth + 1)))
            return NULL;
        if (i + 1 < nargs && etf_skip(q, r->end, &q) != ETF_OK)
            return unsupported(c);
    }
    switch (e->fn) {
    case F_ABS:
    case F_MINUS:
    case F_TIMES:
    case F_DIV:
    case F_REM:
    case F_BAND:
    case F_BOR:
    case F_BXOR:
    case F_BNOT:
    case F_BSL:
    case F_BSR:
        c->incomplete = true; /* beyond int64, and floats, go to Erlang */
        break;
    case F_PLUS:
        if (nargs == 2)
            c->incomplete = true;
        break;
    case F_EXACT_EQ:
    case F_EXACT_NE:
    case F_EQ:
    case F_NE:
    case F_LT:
    case F_LE:
    case F_GT:
    case F_GE:
        if (!plain_const(e->args[0]) && !plain_const(e->args[1]))
            c->incomplete = true;
        break;
    default:
        break;
    }
    return e;
}

static expr_t *compile_list_expr(cc_t *c, const etf_ref_t *r, int depth)
{
    expr_t **items = NULL;
    size_t n = 0, cap = 0;
    etf_ref_t cur = *r;
    expr_t *e = NULL;
    for (;;) {
        bool cons;
        etf_ref_t h, t;
        if (etf_list_split(&cur, &cons, &h, &t) != ETF_OK) {
            unsupported(c);
            goto out;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            expr_t **ni = realloc(items, cap * sizeof *ni);
            if (!ni) {
                c->rc = XETS_NOMEM;
                goto out;
            }
            items = ni;
        }
        /* The tail (when not a cons) is the last item. */
        if (!(items[n++] = compile_expr(c, cons ? &h : &cur, depth + 1)))
            goto out;
        if (!cons)
            break;
        cur = t;
    }
    if (n - 1 > UINT32_MAX - 1) {
        unsupported(c);
        goto out;
    }
    if (all_literal(items, (uint32_t)n)) {
        e = literal_expr(c, r);
        goto out;
    }
    if ((e = new_expr(c, E_LIST, (uint32_t)n))) {
        e->n = (uint32_t)(n - 1);
        memcpy(e->args, items, n * sizeof *items);
    }
out:
    free(items);
    return e;
}

static expr_t *compile_expr(cc_t *c, const etf_ref_t *r, int depth)
{
    etf_class_t cls;
    if (depth > MAX_NEST || etf_class(r, &cls) != ETF_OK)
        return unsupported(c);
    switch (cls) {
    case ETF_C_ATOM: {
        if (is_atom(r, "$_"))
            return new_expr(c, E_OBJ, 0);
        if (is_atom(r, "$$"))
            return new_expr(c, E_ALL, 0);
        int64_t v = var_number(r);
        if (v == -2)
            return unsupported(c);
        if (v < 0)
            return literal_expr(c, r);
        for (uint32_t i = 0; i < c->nvars; i++)
            if (c->vars[i].num == (uint32_t)v) {
                expr_t *e = new_expr(c, E_VAR, 0);
                if (e)
                    e->slot = i;
                return e;
            }
        return unsupported(c); /* bound only inside a map pattern */
    }
    case ETF_C_TUPLE: {
        uint32_t n;
        const unsigned char *q;
        if (etf_tuple(r, &n, &q) != ETF_OK || n == 0)
            return unsupported(c);
        etf_ref_t first = etf_term(q, r->end);
        etf_class_t fc;
        if (etf_class(&first, &fc) != ETF_OK)
            return unsupported(c);
        if (n == 1 && fc == ETF_C_TUPLE) {
            /* {{...}}: a tuple built from the values of its elements. */
            uint32_t m;
            if (etf_tuple(&first, &m, &q) != ETF_OK)
                return unsupported(c);
            expr_t *e = new_expr(c, E_TUPLE, m);
            if (!e)
                return NULL;
            for (uint32_t i = 0; i < m; i++) {
                etf_ref_t a = etf_term(q, r->end);
                if (!(e->args[i] = compile_expr(c, &a, depth + 1)))
                    return NULL;
                if (i + 1 < m && etf_skip(q, r->end, &q) != ETF_OK)
                    return unsupported(c);
            }
            /* All literal: the value is the inner tuple's text. */
            return all_literal(e->args, m) ? const_expr(c, &first) : e;
        }
        if (fc == ETF_C_ATOM)
            return compile_call(c, r, n, q, depth);
        return unsupported(c);
    }
    case ETF_C_LIST:
        return compile_list_expr(c, r, depth);
    case ETF_C_MAP:
        return unsupported(c); /* maps are built with evaluated values */
    default:
        break;
    }
    return literal_expr(c, r);
}

static int by_var_number(const void *a, const void *b, void *vars)
{
    const var_t *v = vars;
    uint32_t x = v[*(const uint32_t *)a].num, y = v[*(const uint32_t *)b].num;
    return (x > y) - (x < y);
}

/* The items of a proper list, into an arena array. */
static int list_items(cc_t *c, const etf_ref_t *r, etf_ref_t **items, uint32_t *n)
{
    bool proper;
    uint64_t len;
    if (etf_list_length(r, &proper, &len) != ETF_OK || !proper || len > UINT32_MAX)
        return XETS_BADARG;
    *n = (uint32_t)len;
    if (!(*items = cc_alloc(c, (size_t)len * sizeof **items)))
        return XETS_NOMEM;
    etf_ref_t cur = *r;
    for (uint32_t i = 0; i < *n; i++) {
        bool cons;
        if (etf_list_split(&cur, &cons, &(*items)[i], &cur) != ETF_OK || !cons)
            return XETS_BADARG;
    }
    return XETS_OK;
}

static void compile_clause(cc_t *c, const etf_ref_t *r, clause_t *cl)
{
    uint32_t n, ng, nb;
    const unsigned char *q;
    etf_class_t cls;
    etf_ref_t parts[3], *guards, *body;
    c->nvars = 0;
    c->unsupported = c->head_bad = c->has_map = false;
    if (etf_class(r, &cls) != ETF_OK || cls != ETF_C_TUPLE || etf_tuple(r, &n, &q) != ETF_OK ||
        n != 3) {
        cl->defer_on_reach = true;
        return;
    }
    for (uint32_t i = 0; i < 3; i++) {
        parts[i] = etf_term(q, r->end);
        if (i < 2 && etf_skip(q, r->end, &q) != ETF_OK) {
            cl->defer_on_reach = true;
            return;
        }
    }
    cl->head = compile_pat(c, &parts[0], 0);
    if (c->rc != XETS_OK)
        return;
    if (!cl->head || c->head_bad) {
        cl->defer_on_reach = true;
        return;
    }
    if (c->has_map) {
        cl->defer_on_match = true;
        return;
    }
    int rc;
    if ((rc = list_items(c, &parts[1], &guards, &ng)) != XETS_OK ||
        (rc = list_items(c, &parts[2], &body, &nb)) != XETS_OK || nb == 0) {
        if (rc == XETS_NOMEM)
            c->rc = rc;
        cl->defer_on_match = true;
        return;
    }
    if (ng && !(cl->guards = cc_alloc(c, (size_t)ng * sizeof *cl->guards)))
        return;
    for (uint32_t i = 0; i < ng && !c->unsupported && c->rc == XETS_OK; i++)
        cl->guards[i] = compile_expr(c, &guards[i], 0);
    cl->nguards = ng;
    /* Only the last body expression's value is ever seen. */
    if (!c->unsupported && c->rc == XETS_OK)
        cl->result = compile_expr(c, &body[nb - 1], 0);
    if (c->rc != XETS_OK)
        return;
    if (c->unsupported) {
        cl->defer_on_match = true;
        return;
    }
    if (cl->result->op == E_CONST) {
        size_t sz;
        unsigned char *w;
        if (etf_size(&cl->result->c, &sz) != ETF_OK) {
            cl->defer_on_match = true;
            return;
        }
        if (!(w = cc_alloc(c, sz + 1)))
            return;
        w[0] = ETF_VERSION;
        etf_write(&cl->result->c, w + 1);
        cl->result->whole = w;
        cl->result->wlen = sz + 1;
    }
    cl->nall = c->nvars;
    if (c->nvars && !(cl->all = cc_alloc(c, c->nvars * sizeof *cl->all)))
        return;
    for (uint32_t i = 0; i < c->nvars; i++)
        cl->all[i] = i;
    if (c->nvars > 1)
        qsort_r(cl->all, c->nvars, sizeof *cl->all, by_var_number, c->vars);
}

int match_compile(const unsigned char *ms, size_t len, match_prog_t **out)
{
    const unsigned char *next;
    if (len < 2 || ms[0] != ETF_VERSION || etf_skip(ms + 1, ms + len, &next) != ETF_OK)
        return XETS_BADARG;
    match_prog_t *p = calloc(1, sizeof *p);
    if (!p)
        return XETS_NOMEM;
    if (!(p->spec = malloc(len))) {
        free(p);
        return XETS_NOMEM;
    }
    memcpy(p->spec, ms, len);
    p->spec_len = len;
    cc_t c = {.prog = p, .rc = XETS_OK};
    etf_ref_t top = etf_term(p->spec + 1, p->spec + len), *items;
    uint32_t n;
    int rc = list_items(&c, &top, &items, &n);
    if (rc == XETS_OK && n && !(p->clauses = cc_alloc(&c, (size_t)n * sizeof *p->clauses)))
        rc = XETS_NOMEM;
    if (rc == XETS_OK) {
        p->nclauses = n;
        p->complete = true;
        for (uint32_t i = 0; i < n && c.rc == XETS_OK; i++) {
            clause_t *cl = &p->clauses[i];
            c.incomplete = false;
            compile_clause(&c, &items[i], cl);
            if (c.incomplete || cl->defer_on_match || cl->defer_on_reach)
                p->complete = false;
            if (c.nvars > p->nvars)
                p->nvars = c.nvars;
        }
        rc = c.rc;
    }
    free(c.vars);
    if (rc != XETS_OK) {
        match_free(p);
        return rc;
    }
    *out = p;
    return XETS_OK;
}

void match_free(match_prog_t *p)
{
    if (!p)
        return;
    arena_free(p->mem);
    free(p->spec);
    free(p);
}

bool match_complete(const match_prog_t *p)
{
    return p->complete;
}

/* ---- running -------------------------------------------------------------- */

void match_scratch_init(match_scratch_t *s)
{
    memset(s, 0, sizeof *s);
}

void match_scratch_free(match_scratch_t *s)
{
    free(s->vars);
    free(s->out);
    arena_free(s->first);
    match_scratch_init(s);
}

typedef struct {
    match_scratch_t *s;
    const clause_t *cl;
    etf_ref_t obj; /* the whole object, after the version byte */
    bool pending;  /* the head matched so far only thanks to parts left to Erlang */
    bool body;     /* evaluating the body: a call that raises is worth 'EXIT' */
} run_t;

enum { PM_FAIL, PM_OK, PM_DEFER };
enum { EV_OK, EV_RAISE, EV_DEFER, EV_NOMEM };

/* Matches pt against *t0. References go by pointer: copies of the 32-byte
 * etf_ref_t through the stack were a measurable part of a run. */
static int pmatch(run_t *r, const pat_t *pt, const etf_ref_t *t0)
{
    const etf_ref_t *t = t0;
    etf_ref_t tl; /* list tails, as the loop walks a list pattern */
    for (;;) {
        etf_class_t cls;
        int rc;
        switch (pt->op) {
        case P_ANY:
            return PM_OK;
        case P_BIND:
            r->s->vars[pt->slot] = *t;
            return PM_OK;
        case P_CHECK:
        case P_CONST: {
            bool eq;
            rc = etf_eq(pt->op == P_CHECK ? &r->s->vars[pt->slot] : &pt->c, t,
                        pt->op == P_CONST ? ETF_EQ_BITWISE : ETF_EQ_EXACT, &eq);
            if (rc == ETF_UNSUP) {
                r->pending = true;
                return PM_OK;
            }
            if (rc != ETF_OK)
                return PM_DEFER;
            return eq ? PM_OK : PM_FAIL;
        }
        case P_MAP:
            if (etf_class(t, &cls) != ETF_OK)
                return PM_DEFER;
            if (cls != ETF_C_MAP)
                return PM_FAIL;
            r->pending = true;
            return PM_OK;
        case P_TUPLE: {
            uint32_t n;
            const unsigned char *q, *end = t->end;
            if (t->kind == ETF_REF_TERM && end - t->p >= 2 && t->p[0] == ETF_SMALL_TUPLE) {
                n = t->p[1]; /* the usual case, without the general checks */
                q = t->p + 2;
            } else {
                if (etf_class(t, &cls) != ETF_OK)
                    return PM_DEFER;
                if (cls != ETF_C_TUPLE)
                    return PM_FAIL;
                if (etf_tuple(t, &n, &q) != ETF_OK)
                    return PM_DEFER;
            }
            if (n != pt->n)
                return PM_FAIL;
            for (uint32_t i = 0; i < pt->upto; i++) {
                etf_ref_t e = etf_term(q, end);
                int m = pmatch(r, pt->kids[i], &e);
                if (m != PM_OK)
                    return m;
                if (i + 1 < pt->upto && etf_skip(q, end, &q) != ETF_OK)
                    return PM_DEFER;
            }
            return PM_OK;
        }
        case P_CONS: {
            bool cons;
            etf_ref_t h, next;
            if (etf_list_split(t, &cons, &h, &next) != ETF_OK)
                return PM_DEFER;
            if (!cons)
                return PM_FAIL;
            int m = pmatch(r, pt->kids[0], &h);
            if (m != PM_OK)
                return m;
            pt = pt->kids[1];
            tl = next;
            t = &tl;
            continue;
        }
        }
        return PM_DEFER;
    }
}

static etf_ref_t bool_ref(bool b)
{
    return b ? etf_term(etf_true_bytes + 1, etf_true_bytes + sizeof etf_true_bytes)
             : etf_term(etf_false_bytes + 1, etf_false_bytes + sizeof etf_false_bytes);
}

/* 1 for true, 0 for false, -1 for anything else. */
static int as_bool(const etf_ref_t *v)
{
    if (v->p == etf_true_bytes + 1) /* what comparisons and type tests give */
        return 1;
    if (v->p == etf_false_bytes + 1)
        return 0;
    if (is_atom(v, "true"))
        return 1;
    if (is_atom(v, "false"))
        return 0;
    return -1;
}

static int eval(run_t *r, const expr_t *e, etf_ref_t *out);

/* Builds the tuple, list or '$$' of e: into the arena, or (final) into the
 * scratch's output after a version byte. */
static int build(run_t *r, const expr_t *e, bool final, etf_ref_t *out)
{
    match_scratch_t *s = r->s;
    size_t n = e->op == E_ALL ? r->cl->nall : e->n + (e->op == E_LIST);
    etf_ref_t *v = arena_alloc(&s->first, &s->cur, (n ? n : 1) * sizeof *v);
    size_t *sizes = e->op == E_TUPLE ? arena_alloc(&s->first, &s->cur, (n ? n : 1) * sizeof *sizes) : NULL;
    if (!v || (e->op == E_TUPLE && !sizes))
        return EV_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (e->op == E_ALL)
            v[i] = s->vars[r->cl->all[i]];
        else if ((rc = eval(r, e->args[i], &v[i])) != EV_OK)
            return rc;
    }
    size_t size = 0;
    unsigned char hdr[5];
    size_t hlen = 0;
    etf_ref_t nil = etf_term(etf_nil_bytes + 1, etf_nil_bytes + sizeof etf_nil_bytes);
    if (e->op == E_TUPLE) {
        hlen = etf_tuple_header(e->n, hdr);
        size = hlen;
        for (size_t i = 0; i < n; i++) {
            if (etf_size(&v[i], &sizes[i]) != ETF_OK)
                return EV_DEFER;
            size += sizes[i];
        }
    } else if (etf_list_size(v, e->op == E_ALL ? n : n - 1, e->op == E_ALL ? &nil : &v[n - 1], &size) !=
               ETF_OK) {
        return EV_DEFER;
    }
    unsigned char *w;
    if (final) {
        if (s->out_cap < size + 1) {
            unsigned char *o = realloc(s->out, size + 1);
            if (!o)
                return EV_NOMEM;
            s->out = o;
            s->out_cap = size + 1;
        }
        s->out[0] = ETF_VERSION;
        w = s->out + 1;
    } else if (!(w = arena_alloc(&s->first, &s->cur, size))) {
        return EV_NOMEM;
    }
    if (e->op == E_TUPLE) {
        memcpy(w, hdr, hlen);
        size_t pos = hlen;
        for (size_t i = 0; i < n; i++) {
            etf_write(&v[i], w + pos);
            pos += sizes[i];
        }
    } else {
        etf_list_write(v, e->op == E_ALL ? n : n - 1, e->op == E_ALL ? &nil : &v[n - 1], w);
    }
    *out = etf_term(w, w + size);
    return EV_OK;
}

typedef enum { A_INT, A_BIG, A_FLOAT, A_NOTNUM, A_ERR } num_arg_t;

static num_arg_t num_arg(const etf_ref_t *v, int64_t *i)
{
    etf_class_t cls;
    if (etf_class(v, &cls) != ETF_OK)
        return A_ERR;
    if (cls != ETF_C_NUMBER)
        return A_NOTNUM;
    if (etf_is_float(v))
        return A_FLOAT;
    int rc = etf_get_int64(v, i);
    return rc == ETF_OK ? A_INT : rc == ETF_UNSUP ? A_BIG : A_ERR;
}

/* v >> k, arithmetic, for any k >= 0. */
static int64_t shift_right(int64_t v, uint64_t k)
{
    if (k >= 63)
        return v < 0 ? -1 : 0;
    return v < 0 ? ~(~v >> k) : v >> k;
}

/* v << k within int64; false when the result would not fit. */
static bool shift_left(int64_t v, uint64_t k, int64_t *res)
{
    if (v == 0) {
        *res = 0;
        return true;
    }
    if (k > 63 || v > shift_right(INT64_MAX, k) || v < shift_right(INT64_MIN, k))
        return false;
    *res = (int64_t)((uint64_t)v << k); /* in range, checked above */
    return true;
}

/* Integer-only operators (div, rem, band, bor, bxor, bsl, bsr). */
static int int_op(fn_t fn, int64_t a, int64_t b, int64_t *res)
{
    switch (fn) {
    case F_DIV:
    case F_REM:
        if (b == 0)
            return EV_RAISE;
        if (b == -1) {
            if (fn == F_REM) {
                *res = 0;
                return EV_OK;
            }
            if (a == INT64_MIN)
                return EV_DEFER;
        }
        *res = fn == F_DIV ? a / b : a % b;
        return EV_OK;
    case F_BAND:
        *res = a & b;
        return EV_OK;
    case F_BOR:
        *res = a | b;
        return EV_OK;
    case F_BXOR:
        *res = a ^ b;
        return EV_OK;
    case F_BSL:
    case F_BSR: {
        bool left = (fn == F_BSL) == (b >= 0);
        uint64_t k = b >= 0 ? (uint64_t)b : (uint64_t)0 - (uint64_t)b;
        if (!left) {
            *res = shift_right(a, k);
            return EV_OK;
        }
        return shift_left(a, k, res) ? EV_OK : EV_DEFER;
    }
    default:
        return EV_DEFER;
    }
}

/* + - * on two numbers. */
static int arith(fn_t fn, const etf_ref_t *x, const etf_ref_t *y, etf_ref_t *out)
{
    int64_t a = 0, b = 0, res;
    num_arg_t ka = num_arg(x, &a), kb = num_arg(y, &b);
    if (ka == A_ERR || kb == A_ERR)
        return EV_DEFER;
    if (ka == A_NOTNUM || kb == A_NOTNUM)
        return EV_RAISE;
    if (ka != A_INT || kb != A_INT)
        return EV_DEFER; /* floats and bignums: Erlang's */
    bool ovf = fn == F_PLUS    ? __builtin_add_overflow(a, b, &res)
               : fn == F_MINUS ? __builtin_sub_overflow(a, b, &res)
                               : __builtin_mul_overflow(a, b, &res);
    if (ovf)
        return EV_DEFER;
    *out = etf_int(res);
    return EV_OK;
}

/* An integer outside int64 (or INT64_MIN) with its sign set (neg) or
 * flipped (neg < 0), written into the arena: abs and unary minus of
 * bignums, which only change the sign byte. */
static int big_sign(run_t *r, const etf_ref_t *v, int neg, etf_ref_t *out)
{
    size_t size;
    unsigned char *w;
    if (v->kind == ETF_REF_TERM && v->p < v->end &&
        (v->p[0] == ETF_SMALL_BIG || v->p[0] == ETF_LARGE_BIG)) {
        size_t at = v->p[0] == ETF_SMALL_BIG ? 2 : 5;
        if (etf_size(v, &size) != ETF_OK || size <= at)
            return EV_DEFER;
        if (!(w = arena_alloc(&r->s->first, &r->s->cur, size)))
            return EV_NOMEM;
        memcpy(w, v->p, size);
        w[at] = (unsigned char)(neg < 0 ? !w[at] : neg);
    } else {
        /* INT64_MIN: |v| = 2^63, a SMALL_BIG of 8 bytes. */
        size = 11;
        if (!(w = arena_alloc(&r->s->first, &r->s->cur, size)))
            return EV_NOMEM;
        static const unsigned char two63[11] = {ETF_SMALL_BIG, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};
        memcpy(w, two63, size);
        w[2] = (unsigned char)(neg < 0 ? 0 : neg);
    }
    *out = etf_term(w, w + size);
    return EV_OK;
}

static int classify(const etf_ref_t *v, etf_class_t *cls)
{
    return etf_class(v, cls) == ETF_OK ? EV_OK : EV_DEFER;
}

#define EVAL_ARG(i, dst)                                  \
    do {                                                  \
        int rc_ = eval(r, e->args[(i)], (dst));           \
        if (rc_ != EV_OK)                                 \
            return rc_;                                   \
    } while (0)

static int call(run_t *r, const expr_t *e, etf_ref_t *out)
{
    etf_ref_t a, b, c;
    etf_class_t cls;
    int64_t i, j;
    uint64_t bits;
    uint32_t n;
    const unsigned char *q;
    int rc;
    bool flag;
    switch (e->fn) {
    case F_IS_ATOM:
    case F_IS_LIST:
    case F_IS_NUMBER:
    case F_IS_PID:
    case F_IS_PORT:
    case F_IS_REFERENCE:
    case F_IS_TUPLE:
    case F_IS_MAP:
    case F_IS_FUNCTION: {
        EVAL_ARG(0, &a);
        if ((rc = classify(&a, &cls)) != EV_OK)
            return rc;
        static const etf_class_t want[] = {
            [F_IS_ATOM] = ETF_C_ATOM,   [F_IS_LIST] = ETF_C_LIST,       [F_IS_NUMBER] = ETF_C_NUMBER,
            [F_IS_PID] = ETF_C_PID,     [F_IS_PORT] = ETF_C_PORT,       [F_IS_REFERENCE] = ETF_C_REF,
            [F_IS_TUPLE] = ETF_C_TUPLE, [F_IS_MAP] = ETF_C_MAP,         [F_IS_FUNCTION] = ETF_C_FUN,
        };
        *out = bool_ref(cls == want[e->fn] || (e->fn == F_IS_LIST && cls == ETF_C_NIL));
        return EV_OK;
    }
    case F_IS_FLOAT:
    case F_IS_INTEGER:
    case F_IS_BINARY:
        EVAL_ARG(0, &a);
        if ((rc = classify(&a, &cls)) != EV_OK)
            return rc;
        *out = bool_ref(e->fn == F_IS_FLOAT     ? etf_is_float(&a)
                        : e->fn == F_IS_INTEGER ? etf_is_integer(&a)
                                                : etf_is_binary(&a));
        return EV_OK;
    case F_IS_RECORD: {
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        EVAL_ARG(2, &c);
        if ((rc = classify(&b, &cls)) != EV_OK)
            return rc;
        num_arg_t k = num_arg(&c, &i);
        if (k == A_ERR)
            return EV_DEFER;
        /* The tag must be an atom and the size a small integer (60 bits). */
        if (cls != ETF_C_ATOM || k != A_INT || i < -((int64_t)1 << 59) || i >= (int64_t)1 << 59)
            return EV_RAISE;
        if ((rc = classify(&a, &cls)) != EV_OK)
            return rc;
        flag = false;
        if (cls == ETF_C_TUPLE) {
            if (etf_tuple(&a, &n, &q) != ETF_OK)
                return EV_DEFER;
            if (n >= 1 && (int64_t)n == i) {
                etf_ref_t first = etf_term(q, a.end);
                if (etf_eq(&first, &b, ETF_EQ_EXACT, &flag) != ETF_OK)
                    return EV_DEFER;
            }
        }
        *out = bool_ref(flag);
        return EV_OK;
    }
    case F_ABS: {
        EVAL_ARG(0, &a);
        num_arg_t k = num_arg(&a, &i);
        double d;
        if (k == A_NOTNUM)
            return EV_RAISE;
        if (k == A_INT && i != INT64_MIN) {
            *out = etf_int(i < 0 ? -i : i);
            return EV_OK;
        }
        if (k == A_INT || k == A_BIG)
            return big_sign(r, &a, 0, out);
        if (k == A_FLOAT && etf_get_double(&a, &d) == ETF_OK) {
            *out = etf_float(d < 0 ? -d : d); /* abs(-0.0) is -0.0 in OTP 25 */
            return EV_OK;
        }
        return EV_DEFER;
    }
    case F_ELEMENT: {
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        num_arg_t k = num_arg(&a, &i);
        if (k == A_ERR || classify(&b, &cls) != EV_OK)
            return EV_DEFER;
        if (k != A_INT || cls != ETF_C_TUPLE)
            return EV_RAISE;
        if (etf_tuple(&b, &n, &q) != ETF_OK)
            return EV_DEFER;
        if (i < 1 || i > (int64_t)n)
            return EV_RAISE;
        for (int64_t x = 1; x < i; x++)
            if (etf_skip(q, b.end, &q) != ETF_OK)
                return EV_DEFER;
        *out = etf_term(q, b.end);
        return EV_OK;
    }
    case F_HD:
    case F_TL:
        EVAL_ARG(0, &a);
        if (etf_list_split(&a, &flag, e->fn == F_HD ? out : NULL, e->fn == F_TL ? out : NULL) != ETF_OK)
            return EV_DEFER;
        return flag ? EV_OK : EV_RAISE;
    case F_LENGTH:
        EVAL_ARG(0, &a);
        if (etf_list_length(&a, &flag, &bits) != ETF_OK)
            return EV_DEFER;
        if (!flag)
            return EV_RAISE;
        *out = etf_int((int64_t)bits);
        return EV_OK;
    case F_SIZE:
    case F_BIT_SIZE:
    case F_BYTE_SIZE:
    case F_MAP_SIZE:
        EVAL_ARG(0, &a);
        if ((rc = classify(&a, &cls)) != EV_OK)
            return rc;
        if (cls == ETF_C_TUPLE && e->fn == F_SIZE) {
            if (etf_tuple(&a, &n, &q) != ETF_OK)
                return EV_DEFER;
            *out = etf_int(n);
            return EV_OK;
        }
        if (cls == ETF_C_MAP && e->fn == F_MAP_SIZE) {
            if (etf_map_size(&a, &n) != ETF_OK)
                return EV_DEFER;
            *out = etf_int(n);
            return EV_OK;
        }
        if (cls != ETF_C_BITS || e->fn == F_MAP_SIZE)
            return EV_RAISE;
        if (etf_bit_size(&a, &bits) != ETF_OK)
            return EV_DEFER;
        *out = etf_int((int64_t)(e->fn == F_SIZE       ? bits / 8
                                 : e->fn == F_BIT_SIZE ? bits
                                                       : (bits + 7) / 8));
        return EV_OK;
    case F_PLUS:
    case F_MINUS:
        if (e->n == 1) {
            EVAL_ARG(0, &a);
            num_arg_t k = num_arg(&a, &i);
            if (k == A_NOTNUM)
                return EV_RAISE;
            if (k == A_ERR)
                return EV_DEFER;
            if (e->fn == F_PLUS) {
                *out = a;
                return EV_OK;
            }
            if (k == A_INT && i != INT64_MIN) {
                *out = etf_int(-i);
                return EV_OK;
            }
            if (k == A_INT || k == A_BIG)
                return big_sign(r, &a, -1, out);
            return EV_DEFER; /* -X of a float: Erlang's (signed zeros) */
        }
        /* fall through */
    case F_TIMES:
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        return arith(e->fn, &a, &b, out);
    case F_DIV:
    case F_REM:
    case F_BAND:
    case F_BOR:
    case F_BXOR:
    case F_BSL:
    case F_BSR: {
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        num_arg_t ka = num_arg(&a, &i), kb = num_arg(&b, &j);
        int64_t res;
        if (ka == A_ERR || kb == A_ERR)
            return EV_DEFER;
        if (ka == A_NOTNUM || ka == A_FLOAT || kb == A_NOTNUM || kb == A_FLOAT)
            return EV_RAISE;
        if (ka == A_BIG || kb == A_BIG)
            return EV_DEFER;
        if ((rc = int_op(e->fn, i, j, &res)) != EV_OK)
            return rc;
        *out = etf_int(res);
        return EV_OK;
    }
    case F_BNOT: {
        EVAL_ARG(0, &a);
        num_arg_t k = num_arg(&a, &i);
        if (k == A_NOTNUM || k == A_FLOAT)
            return EV_RAISE;
        if (k != A_INT)
            return EV_DEFER;
        *out = etf_int(~i);
        return EV_OK;
    }
    case F_EXACT_EQ:
    case F_EXACT_NE:
    case F_EQ:
    case F_NE:
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        if (etf_eq(&a, &b, e->fn == F_EXACT_EQ || e->fn == F_EXACT_NE ? ETF_EQ_EXACT : ETF_EQ_ARITH,
                   &flag) != ETF_OK)
            return EV_DEFER;
        *out = bool_ref(flag == (e->fn == F_EXACT_EQ || e->fn == F_EQ));
        return EV_OK;
    case F_LT:
    case F_LE:
    case F_GT:
    case F_GE: {
        int o;
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        if (etf_cmp(&a, &b, &o) != ETF_OK)
            return EV_DEFER;
        *out = bool_ref(e->fn == F_LT   ? o < 0
                        : e->fn == F_LE ? o <= 0
                        : e->fn == F_GT ? o > 0
                                        : o >= 0);
        return EV_OK;
    }
    case F_NOT: {
        EVAL_ARG(0, &a);
        int x = as_bool(&a);
        if (x < 0)
            return EV_RAISE;
        *out = bool_ref(!x);
        return EV_OK;
    }
    case F_XOR: {
        EVAL_ARG(0, &a);
        EVAL_ARG(1, &b);
        int x = as_bool(&a), y = as_bool(&b);
        if (x < 0 || y < 0)
            return EV_RAISE;
        *out = bool_ref(x != y);
        return EV_OK;
    }
    case F_AND:
    case F_OR: {
        /* Every argument is evaluated, and each must be a boolean. */
        bool and = e->fn == F_AND, acc = and, bad = false;
        for (uint32_t k = 0; k < e->n; k++) {
            EVAL_ARG(k, &a);
            int x = as_bool(&a);
            if (x < 0)
                bad = true;
            else
                acc = and ? acc && x : acc || x;
        }
        if (bad)
            return EV_RAISE;
        *out = bool_ref(acc);
        return EV_OK;
    }
    case F_ANDALSO:
    case F_ORELSE: {
        /* Stops at the first false (true); every argument but the last must
         * be a boolean; the last one's value is the result, whatever it is. */
        int stop = e->fn == F_ORELSE;
        for (uint32_t k = 0; k + 1 < e->n; k++) {
            EVAL_ARG(k, &a);
            int x = as_bool(&a);
            if (x < 0)
                return EV_RAISE;
            if (x == stop) {
                *out = a;
                return EV_OK;
            }
        }
        EVAL_ARG(e->n - 1, out);
        return EV_OK;
    }
    }
    return EV_DEFER;
}

static int eval(run_t *r, const expr_t *e, etf_ref_t *out)
{
    switch (e->op) {
    case E_CONST:
        *out = e->c;
        return EV_OK;
    case E_VAR:
        *out = r->s->vars[e->slot];
        return EV_OK;
    case E_OBJ:
        *out = r->obj;
        return EV_OK;
    case E_ALL:
    case E_TUPLE:
    case E_LIST:
        return build(r, e, false, out);
    case E_CALL: {
        int rc = call(r, e, out);
        if (rc == EV_RAISE && r->body) {
            /* In a body, ETS catches each failing call where it happens. */
            *out = etf_term(etf_exit_bytes + 1, etf_exit_bytes + sizeof etf_exit_bytes);
            return EV_OK;
        }
        return rc;
    }
    }
    return EV_DEFER;
}

static match_res_t result(run_t *r, const unsigned char *obj, size_t len, const unsigned char **res,
                          size_t *rlen)
{
    const expr_t *e = r->cl->result;
    match_scratch_t *s = r->s;
    etf_ref_t v;
    int rc;
    switch (e->op) {
    case E_OBJ:
        *res = obj;
        *rlen = len;
        return MATCH_YES;
    case E_CONST:
        *res = e->whole;
        *rlen = e->wlen;
        return MATCH_YES;
    case E_ALL:
    case E_TUPLE:
    case E_LIST:
        rc = build(r, e, true, &v);
        break;
    default:
        rc = eval(r, e, &v);
        break;
    }
    if (rc == EV_RAISE) {
        *res = etf_exit_bytes;
        *rlen = sizeof etf_exit_bytes;
        return MATCH_YES;
    }
    if (rc != EV_OK)
        return rc == EV_NOMEM ? MATCH_NOMEM : MATCH_DEFER;
    if (e->op == E_ALL || e->op == E_TUPLE || e->op == E_LIST) {
        *res = s->out;
        *rlen = (size_t)(v.end - v.p) + 1;
        return MATCH_YES;
    }
    /* Values that already have a version byte in front of them. */
    if (v.kind == ETF_REF_TERM) {
        static const struct {
            const unsigned char *b;
            size_t n;
        } known[] = {{etf_true_bytes, sizeof etf_true_bytes},
                     {etf_false_bytes, sizeof etf_false_bytes},
                     {etf_exit_bytes, sizeof etf_exit_bytes},
                     {etf_nil_bytes, sizeof etf_nil_bytes}};
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (v.p == known[k].b + 1) {
                *res = known[k].b;
                *rlen = known[k].n;
                return MATCH_YES;
            }
        if (v.p == obj + 1) {
            *res = obj;
            *rlen = len;
            return MATCH_YES;
        }
    }
    size_t size;
    if (etf_size(&v, &size) != ETF_OK)
        return MATCH_DEFER;
    if (s->out_cap < size + 1) {
        unsigned char *o = realloc(s->out, size + 1);
        if (!o)
            return MATCH_NOMEM;
        s->out = o;
        s->out_cap = size + 1;
    }
    s->out[0] = ETF_VERSION;
    etf_write(&v, s->out + 1);
    *res = s->out;
    *rlen = size + 1;
    return MATCH_YES;
}

match_res_t match_run(const match_prog_t *p, const unsigned char *obj, size_t len,
                      match_scratch_t *s, const unsigned char **res, size_t *rlen)
{
    if (len < 2 || obj[0] != ETF_VERSION || obj[1] == ETF_COMPRESSED)
        return MATCH_DEFER;
    if (s->vars_cap < p->nvars) {
        etf_ref_t *v = realloc(s->vars, p->nvars * sizeof *v);
        if (!v)
            return MATCH_NOMEM;
        s->vars = v;
        s->vars_cap = p->nvars;
    }
    arena_reset(s->first, &s->cur);
    run_t r = {.s = s, .obj = etf_term(obj + 1, obj + len)};
    for (size_t k = 0; k < p->nclauses; k++) {
        const clause_t *cl = &p->clauses[k];
        if (cl->defer_on_reach)
            return MATCH_DEFER;
        r.cl = cl;
        r.pending = false;
        int m = pmatch(&r, cl->head, &r.obj);
        if (m == PM_FAIL)
            continue;
        if (m == PM_DEFER || r.pending || cl->defer_on_match)
            return MATCH_DEFER;
        bool pass = true;
        for (uint32_t g = 0; g < cl->nguards && pass; g++) {
            etf_ref_t v;
            int rc = eval(&r, cl->guards[g], &v);
            if (rc == EV_DEFER)
                return MATCH_DEFER;
            if (rc == EV_NOMEM)
                return MATCH_NOMEM;
            pass = rc == EV_OK && as_bool(&v) == 1;
        }
        if (pass) {
            r.body = true;
            return result(&r, obj, len, res, rlen);
        }
    }
    return MATCH_NO;
}

bool match_result_is_true(const unsigned char *res, size_t rlen)
{
    if (rlen == sizeof etf_true_bytes && memcmp(res, etf_true_bytes, rlen) == 0)
        return true; /* how this engine and term_to_binary write it */
    if (rlen < 2 || res[0] != ETF_VERSION)
        return false;
    etf_ref_t v = etf_term(res + 1, res + rlen);
    return is_atom(&v, "true");
}
