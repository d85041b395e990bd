/* ETS match specifications evaluated on objects in the external term format
 * (the bytes term_to_binary/1 gives), without decoding the objects: a
 * select or select_count walks only the parts of each object the spec
 * looks at, and writes only the result the body makes.
 *
 * A spec is compiled once (from term_to_binary(MS) of a spec that
 * ets:match_spec_compile/1 accepted) and run on each object. What this
 * engine does not evaluate it never guesses: such a run answers
 * MATCH_DEFER and the caller runs the whole spec on that object in Erlang,
 * which is always correct. See match.c for what is evaluated here.
 *
 * Semantics are OTP 25's, measured against ets:match_spec_run/2 and
 * ets:select/2 (test/c/match_vectors.escript):
 *  - clauses are tried in order; a head matches structurally with =:=,
 *    except that a float written in the head matches only a float with the
 *    same bits (0.0 does not match -0.0, though '$1' seen twice does);
 *  - every guard must evaluate to true; a guard that raises is false, and
 *    the next clause is tried;
 *  - the result is the value of the last body expression (the others are
 *    never observable); in a body, a call that raises is worth the atom
 *    'EXIT' right where it was made ({{'$1', {hd, '$1'}}} gives {1, 'EXIT'}
 *    for {1}), so a body never fails and no further clause is tried.
 *
 * Thread-safety contract: a compiled program is immutable; any number of
 * threads may run it at once. match_run touches only the object (read) and
 * the caller's scratch, so each thread brings its own match_scratch_t. */
#ifndef XETS_MATCH_H
#define XETS_MATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct match_prog match_prog_t;

/* Compiles term_to_binary(MS) (starting with the version byte 131).
 * Returns XETS_OK, XETS_NOMEM, or XETS_BADARG when the bytes are not a
 * well-formed external term holding a list. Anything well-formed but not
 * understood compiles into clauses that answer MATCH_DEFER. */
int match_compile(const unsigned char *ms, size_t len, match_prog_t **out);
void match_free(match_prog_t *p);

/* True when match_run never returns MATCH_DEFER for this spec on objects
 * written by term_to_binary/1 of OTP 25 (uncompressed) that nest less than
 * ETF_MAX_DEPTH deep. Conservative: false when in doubt, e.g. for any
 * arithmetic (overflow goes to Erlang), a variable repeated in the head,
 * map patterns, or ordering two terms none of which is a plain constant. */
bool match_complete(const match_prog_t *p);

typedef enum {
    MATCH_NO,    /* no clause matched */
    MATCH_YES,   /* a clause matched: *res, *rlen is the result */
    MATCH_DEFER, /* run the whole spec on this object in Erlang instead */
    MATCH_NOMEM  /* out of memory (scratch could not grow); nothing else changed */
} match_res_t;

/* Space owned by the caller, reused across runs and programs; grows on the
 * heap as needed. The fields are private to match.c. */
struct match_block;
struct etf_ref;
typedef struct match_scratch {
    struct etf_ref *vars; /* bindings of the clause being tried */
    size_t vars_cap;
    unsigned char *out; /* the result, when it is not in the object or the program */
    size_t out_cap;
    struct match_block *first, *cur; /* terms built while evaluating */
} match_scratch_t;

void match_scratch_init(match_scratch_t *s);
void match_scratch_free(match_scratch_t *s);

/* Runs the clauses in order on one object (obj, len: its external term
 * format, version byte included). On MATCH_YES, *res and *rlen are the
 * body's result as an external term starting with 131: the object itself
 * for '$_' (res == obj), bytes inside the program for a constant, or bytes
 * in the scratch otherwise, written as term_to_binary/1 would write them.
 * They stay valid until the next match_run with the same scratch, or
 * until the program or object goes away. Malformed or truncated objects
 * give MATCH_DEFER or MATCH_NO, never a read outside [obj, obj + len). */
match_res_t match_run(const match_prog_t *p, const unsigned char *obj, size_t len,
                      match_scratch_t *s, const unsigned char **res, size_t *rlen);

/* Whether a result is the atom true (what select_count and select_delete
 * count). */
bool match_result_is_true(const unsigned char *res, size_t rlen);

#endif
