/* match.c against ETS itself: every vector in the file that
 * test/c/match_vectors.escript writes (hand-written cases of each construct,
 * then random object/spec pairs) holds what ets:match_spec_run/2 and
 * ets:select/2 answered; the engine must give the same answer, byte for
 * byte as term_to_binary/1 writes it, or defer where that is allowed.
 * Then: truncated and corrupted objects and specs (never a crash or a read
 * out of bounds: run under ASan), a few properties of the API, and the same
 * vectors run by several threads sharing each compiled program (TSan).
 * Exits nonzero on the first failure.
 *
 *   match_test.asan [VECTORS]    (default build/match_vectors.bin) */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etf.h"
#include "match.h"
#include "status.h"
#include "check.h"

#ifdef __SANITIZE_THREAD__
#define THREAD_ROUNDS 1 /* ThreadSanitizer runs several times slower */
#else
#define THREAD_ROUNDS 2
#endif

enum { MODE_MUST, MODE_DEFER, MODE_MAY };
enum { FLAG_SEMANTIC = 1 };

typedef struct {
    char *name;
    int mode, flags;
    unsigned char *obj, *spec, *res;
    size_t olen, slen, rlen;
    int expect; /* 0: no match, 1: res */
    match_prog_t *prog;
} vec_t;

static vec_t *vecs;
static size_t nvecs;

static uint32_t rd32(FILE *f)
{
    unsigned char b[4];
    CHECK(fread(b, 1, 4, f) == 4, "truncated vector file");
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static unsigned char *rdchunk(FILE *f, size_t *len)
{
    *len = rd32(f);
    unsigned char *p = malloc(*len + 1);
    CHECK(p, "out of memory");
    CHECK(fread(p, 1, *len, f) == *len, "truncated vector file");
    p[*len] = 0;
    return p;
}

static void load(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f, "cannot open %s (make builds it with test/c/match_vectors.escript)", path);
    char magic[4];
    CHECK(fread(magic, 1, 4, f) == 4 && memcmp(magic, "MSV1", 4) == 0, "bad magic");
    nvecs = rd32(f);
    vecs = calloc(nvecs, sizeof *vecs);
    CHECK(vecs, "out of memory");
    for (size_t i = 0; i < nvecs; i++) {
        vec_t *v = &vecs[i];
        size_t nl;
        v->name = (char *)rdchunk(f, &nl);
        uint32_t m = rd32(f);
        v->mode = (int)(m & 0xFF);
        v->flags = (int)(m >> 8);
        v->obj = rdchunk(f, &v->olen);
        v->spec = rdchunk(f, &v->slen);
        v->expect = (int)rd32(f);
        v->res = rdchunk(f, &v->rlen);
    }
    fclose(f);
}

static void unload(void)
{
    for (size_t i = 0; i < nvecs; i++) {
        match_free(vecs[i].prog);
        free(vecs[i].name);
        free(vecs[i].obj);
        free(vecs[i].spec);
        free(vecs[i].res);
    }
    free(vecs);
}

static void hexdump(const char *what, const unsigned char *p, size_t n)
{
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 200; i++)
        fprintf(stderr, " %u", p[i]);
    fputc('\n', stderr);
}

/* The answer for one vector; NULL when right, else what is wrong. */
static const char *judge(const vec_t *v, match_res_t got, const unsigned char *res, size_t rlen)
{
    if (got == MATCH_NOMEM)
        return "MATCH_NOMEM";
    if (got == MATCH_DEFER)
        return v->mode == MODE_MUST ? "deferred a case the engine must answer" : NULL;
    if (v->mode == MODE_DEFER)
        return "answered a case that must be deferred";
    if (v->expect == 0)
        return got == MATCH_NO ? NULL : "matched, ets did not";
    if (got != MATCH_YES)
        return "no match, ets matched";
    if (v->flags & FLAG_SEMANTIC) {
        bool eq;
        if (rlen < 1 || res[0] != ETF_VERSION)
            return "result lacks the version byte";
        etf_ref_t a = etf_term(res + 1, res + rlen), b = etf_term(v->res + 1, v->res + v->rlen);
        if (etf_eq(&a, &b, ETF_EQ_BITWISE, &eq) != ETF_OK || !eq)
            return "result differs from ets's";
        return NULL;
    }
    if (rlen != v->rlen || memcmp(res, v->res, rlen) != 0)
        return "result bytes differ from term_to_binary of ets's result";
    return NULL;
}

static void run_vectors(void)
{
    match_scratch_t s;
    match_scratch_init(&s);
    size_t deferred = 0, random = 0, random_deferred = 0, yes = 0, complete = 0;
    for (size_t i = 0; i < nvecs; i++) {
        vec_t *v = &vecs[i];
        int rc = match_compile(v->spec, v->slen, &v->prog);
        CHECK(rc == XETS_OK, "%s: match_compile gave %d", v->name, rc);
        const unsigned char *res = NULL;
        size_t rlen = 0;
        match_res_t got = match_run(v->prog, v->obj, v->olen, &s, &res, &rlen);
        const char *err = judge(v, got, res, rlen);
        if (!err && got == MATCH_DEFER && match_complete(v->prog))
            err = "deferred, yet match_complete said it never would";
        if (err) {
            fprintf(stderr, "vector \"%s\": %s (got %d)\n", v->name, err, (int)got);
            hexdump("object", v->obj, v->olen);
            hexdump("spec", v->spec, v->slen);
            if (v->expect)
                hexdump("expected", v->res, v->rlen);
            if (got == MATCH_YES)
                hexdump("got", res, rlen);
            exit(1);
        }
        if (got == MATCH_YES && match_result_is_true(res, rlen) !=
                                    (v->rlen == 8 && memcmp(v->res, etf_true_bytes, 8) == 0))
            CHECK(0, "%s: match_result_is_true wrong", v->name);
        if (got == MATCH_YES && res == v->obj)
            CHECK(rlen == v->olen, "%s: '$_' result length", v->name);
        deferred += got == MATCH_DEFER;
        yes += got == MATCH_YES;
        complete += match_complete(v->prog);
        if (v->mode == MODE_MAY) {
            random++;
            random_deferred += got == MATCH_DEFER;
        }
    }
    match_scratch_free(&s);
    printf("  %zu vectors agree with ets (%zu matched, %zu deferred in all; "
           "%zu random, %zu of them deferred; %zu specs complete)\n",
           nvecs, yes, deferred, random, random_deferred, complete);
}

/* Corrupted and truncated inputs: any answer but a crash or an
 * out-of-bounds read is fine. Each mutation is copied into a buffer of its
 * exact size so ASan catches a read one past it. */
static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void run_copy(const match_prog_t *p, const unsigned char *b, size_t n, match_scratch_t *s)
{
    unsigned char *c = malloc(n ? n : 1);
    CHECK(c, "out of memory");
    memcpy(c, b, n);
    const unsigned char *res;
    size_t rlen;
    match_res_t r = match_run(p, c, n, s, &res, &rlen);
    CHECK(r == MATCH_NO || r == MATCH_YES || r == MATCH_DEFER, "bad status %d", (int)r);
    if (r == MATCH_YES)
        CHECK(rlen >= 1 && res[0] == ETF_VERSION, "result lacks the version byte");
    free(c);
}

static void compile_copy(const unsigned char *b, size_t n, const unsigned char *obj, size_t olen,
                         match_scratch_t *s)
{
    unsigned char *c = malloc(n ? n : 1);
    CHECK(c, "out of memory");
    memcpy(c, b, n);
    match_prog_t *p = NULL;
    int rc = match_compile(c, n, &p);
    CHECK(rc == XETS_OK || rc == XETS_BADARG, "match_compile of garbage gave %d", rc);
    free(c); /* the program keeps its own copy */
    if (rc == XETS_OK) {
        run_copy(p, obj, olen, s);
        match_free(p);
    }
}

static void run_malformed(void)
{
    match_scratch_t s;
    match_scratch_init(&s);
    size_t runs = 0;
    for (size_t i = 0; i < nvecs; i++) {
        const vec_t *v = &vecs[i];
        /* Every vector gets a few; the small ones every truncation. */
        size_t stride = v->olen > 64 ? v->olen / 16 : 1;
        for (size_t n = 0; n < v->olen; n += stride, runs++)
            run_copy(v->prog, v->obj, n, &s);
        unsigned char *m = malloc(v->olen);
        CHECK(m, "out of memory");
        for (int k = 0; k < 8; k++, runs++) {
            memcpy(m, v->obj, v->olen);
            size_t at = 1 + rnd() % (v->olen - 1);
            m[at] = (unsigned char)(k < 4 ? m[at] ^ (1u << (rnd() % 8)) : rnd());
            run_copy(v->prog, m, v->olen, &s);
        }
        free(m);
        if (i % 7 == 0) {
            size_t sstride = v->slen > 48 ? v->slen / 12 : 1;
            for (size_t n = 0; n < v->slen; n += sstride, runs++)
                compile_copy(v->spec, n, v->obj, v->olen, &s);
            unsigned char *ms = malloc(v->slen);
            CHECK(ms, "out of memory");
            for (int k = 0; k < 4; k++, runs++) {
                memcpy(ms, v->spec, v->slen);
                size_t at = 1 + rnd() % (v->slen - 1);
                ms[at] = (unsigned char)rnd();
                compile_copy(ms, v->slen, v->obj, v->olen, &s);
            }
            free(ms);
        }
    }
    match_scratch_free(&s);
    printf("  %zu runs on truncated or corrupted objects and specs\n", runs);
}

/* Hand-made encodings term_to_binary never writes, which the engine must
 * still read as the same terms. */
static void run_encodings(void)
{
    match_scratch_t s;
    match_scratch_init(&s);
    const unsigned char *res;
    size_t rlen;
    match_prog_t *p;
    /* [{{'$1', '$2'}, [{'=:=', '$1', '$2'}], [yes]}] built from a vector-free spec:
     * term_to_binary([{{'$1','$2'},[{'=:=','$1','$2'}],[yes]}]) */
    static const unsigned char spec[] = {
        131, 108, 0, 0, 0, 1, 104, 3, 104, 2, 100, 0, 2, 36, 49, 100, 0, 2, 36, 50, 108, 0, 0, 0,
        1, 104, 3, 100, 0, 3, 61, 58, 61, 100, 0, 2, 36, 49, 100, 0, 2, 36, 50, 106, 108, 0, 0, 0,
        1, 100, 0, 3, 121, 101, 115, 106, 106};
    CHECK(match_compile(spec, sizeof spec, &p) == XETS_OK, "compile");
    struct {
        const char *what;
        unsigned char obj[40];
        size_t len;
        match_res_t want;
    } cases[] = {
        /* {a, a} with the second atom as SMALL_ATOM_UTF8 */
        {"atom encodings", {131, 104, 2, 100, 0, 1, 'a', 119, 1, 'a'}, 10, MATCH_YES},
        /* {'é', 'é'}: Latin-1 ATOM_EXT against ATOM_UTF8 */
        {"latin1 vs utf8 atom", {131, 104, 2, 100, 0, 1, 0xE9, 118, 0, 2, 0xC3, 0xA9}, 12, MATCH_YES},
        {"latin1 vs other utf8 atom", {131, 104, 2, 100, 0, 1, 0xE9, 118, 0, 2, 0xC3, 0xA8}, 12, MATCH_NO},
        /* {5, 5} as SMALL_INTEGER and INTEGER, then as SMALL_BIG */
        {"integer encodings", {131, 104, 2, 97, 5, 98, 0, 0, 0, 5}, 10, MATCH_YES},
        {"bignum-encoded small", {131, 104, 2, 97, 5, 110, 1, 0, 5}, 9, MATCH_YES},
        {"bignum with high zero bytes", {131, 104, 2, 97, 5, 110, 3, 0, 5, 0, 0}, 11, MATCH_YES},
        {"negative zero-padded bignum", {131, 104, 2, 98, 255, 255, 255, 251, 110, 2, 1, 5, 0}, 13, MATCH_YES},
        /* {"ab", [97, 98]}: STRING_EXT against LIST_EXT */
        {"string vs list", {131, 104, 2, 107, 0, 2, 'a', 'b', 108, 0, 0, 0, 2, 97, 'a', 97, 'b', 106}, 18, MATCH_YES},
        {"string vs improper list", {131, 104, 2, 107, 0, 2, 'a', 'b', 108, 0, 0, 0, 2, 97, 'a', 97, 'b', 97, 0}, 19, MATCH_NO},
        /* {<<1,2>>, <<1,2>> as a BIT_BINARY of 8 bits in the last byte} */
        {"binary vs full bit binary", {131, 104, 2, 109, 0, 0, 0, 2, 1, 2, 77, 0, 0, 0, 2, 8, 1, 2}, 18, MATCH_YES},
        /* old FLOAT_EXT: left to Erlang */
        {"old float", {131, 104, 2, 99, '1', 0}, 37, MATCH_DEFER},
        /* compressed term: left to Erlang */
        {"compressed", {131, 80, 0, 0, 0, 1, 0}, 7, MATCH_DEFER},
    };
    /* The old float needs its 31 bytes: "1.0" then NULs, twice. */
    memset(cases[10].obj + 4, 0, 31);
    memcpy(cases[10].obj + 4, "1.00000000000000000000e+00", 26);
    cases[10].obj[35] = 97;
    cases[10].obj[36] = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        match_res_t r = match_run(p, cases[i].obj, cases[i].len, &s, &res, &rlen);
        CHECK(r == cases[i].want, "%s: got %d, want %d", cases[i].what, (int)r, (int)cases[i].want);
    }
    match_free(p);

    /* A malformed spec is refused; a spec that is not a list too. */
    static const unsigned char not_list[] = {131, 100, 0, 1, 'a'};
    CHECK(match_compile(not_list, sizeof not_list, &p) == XETS_BADARG, "atom spec");
    CHECK(match_compile(spec, 1, &p) == XETS_BADARG, "truncated spec");
    CHECK(match_compile(spec + 1, sizeof spec - 1, &p) == XETS_BADARG, "no version byte");

    /* match_result_is_true on each atom encoding of true, and others. */
    static const unsigned char t1[] = {131, 100, 0, 4, 't', 'r', 'u', 'e'};
    static const unsigned char t2[] = {131, 115, 4, 't', 'r', 'u', 'e'};
    static const unsigned char t3[] = {131, 118, 0, 4, 't', 'r', 'u', 'e'};
    static const unsigned char t4[] = {131, 119, 4, 't', 'r', 'u', 'e'};
    static const unsigned char f1[] = {131, 119, 5, 'f', 'a', 'l', 's', 'e'};
    static const unsigned char f2[] = {131, 119, 4, 't', 'r', 'u', 'x'};
    CHECK(match_result_is_true(t1, sizeof t1) && match_result_is_true(t2, sizeof t2) &&
              match_result_is_true(t3, sizeof t3) && match_result_is_true(t4, sizeof t4),
          "true encodings");
    CHECK(!match_result_is_true(f1, sizeof f1) && !match_result_is_true(f2, sizeof f2) &&
              !match_result_is_true(t1, 5) && !match_result_is_true(t1, 0),
          "non-true results");
    match_scratch_free(&s);
    printf("  %zu hand-made encodings read as the same terms\n", sizeof cases / sizeof cases[0]);
}

/* The compiled programs shared by several threads, each with its scratch. */
static void *thread_main(void *arg)
{
    size_t id = (size_t)arg;
    match_scratch_t s;
    match_scratch_init(&s);
    for (int round = 0; round < THREAD_ROUNDS; round++) {
        for (size_t k = 0; k < nvecs; k++) {
            const vec_t *v = &vecs[(k + id * 977) % nvecs];
            const unsigned char *res = NULL;
            size_t rlen = 0;
            match_res_t got = match_run(v->prog, v->obj, v->olen, &s, &res, &rlen);
            const char *err = judge(v, got, res, rlen);
            CHECK(!err, "thread %zu, vector \"%s\": %s", id, v->name, err);
        }
    }
    match_scratch_free(&s);
    return NULL;
}

static void run_threads(void)
{
    enum { NTHREADS = 4 };
    pthread_t t[NTHREADS];
    for (size_t i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, thread_main, (void *)i) == 0, "pthread_create");
    for (size_t i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    printf("  %d threads ran every vector on the shared programs\n", NTHREADS);
}

int main(int argc, char **argv)
{
    load(argc > 1 ? argv[1] : "build/match_vectors.bin");
    run_vectors();
    run_encodings();
    run_malformed();
    run_threads();
    unload();
    printf("match: all passed\n");
    return 0;
}
