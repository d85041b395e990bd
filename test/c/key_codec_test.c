/* key_codec.c without a BEAM: the key encoder from external-format bytes.
 * Encodings written out by hand for one term of each kind (the same bytes
 * xets_nif:key_encode/2 gives for the term); numbers of every size sort by
 * value; random terms in external format encode into exactly one
 * well-formed encoding (test/c/key_check.h), alike whole and as an
 * object's element, and every cut or extension of their bytes is refused;
 * the local marker; terms a million levels deep; lengths that claim more
 * than the bytes hold; several threads at once (for ThreadSanitizer). The
 * comparison with the encoder of live terms is test/xets_key_etf_tests.erl.
 * Exits nonzero on the first failure. */
#include <math.h> /* isfinite */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key_check.h"
#include "key_codec.h"
#include "status.h"
#include "check.h"
#include "rng.h"


#ifdef __SANITIZE_THREAD__
#define SCALE 4 /* ThreadSanitizer runs several times slower; only test_threads needs it */
#else
#define SCALE 1
#endif

/* ---- writing external format --------------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *d, size_t n)
{
    if (b->cap - b->len < n) {
        b->cap = (b->cap + n) * 2;
        b->p = realloc(b->p, b->cap);
        CHECK(b->p, "out of memory");
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put8(buf_t *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put16(buf_t *b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v);
}

static void put32(buf_t *b, uint32_t v)
{
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}

static void put64(buf_t *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}

static void w_int(buf_t *b, int64_t v)
{
    if (v >= 0 && v <= 255) {
        put8(b, 97);
        put8(b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        put8(b, 98);
        put32(b, (uint32_t)v);
    } else {
        uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        unsigned char d[8];
        unsigned n = 0;
        for (; m; m >>= 8)
            d[n++] = (unsigned char)m;
        put8(b, 110);
        put8(b, n);
        put8(b, v < 0);
        put(b, d, n);
    }
}

static void w_float(buf_t *b, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put8(b, 70);
    put64(b, bits);
}

static void w_atom(buf_t *b, const char *s)
{
    put8(b, 119); /* SMALL_ATOM_UTF8_EXT */
    put8(b, (unsigned)strlen(s));
    put(b, s, strlen(s));
}

static void w_pid(buf_t *b, const char *node, uint32_t num, uint32_t serial, uint32_t creation)
{
    put8(b, 88);
    w_atom(b, node);
    put32(b, num);
    put32(b, serial);
    put32(b, creation);
}

static void w_port(buf_t *b, const char *node, uint64_t num, uint32_t creation)
{
    put8(b, 120);
    w_atom(b, node);
    put64(b, num);
    put32(b, creation);
}

static void w_ref(buf_t *b, const char *node, uint32_t creation, const uint32_t *words, unsigned n)
{
    put8(b, 90);
    put16(b, n);
    w_atom(b, node);
    put32(b, creation);
    for (unsigned i = 0; i < n; i++)
        put32(b, words[i]);
}

#define LOCAL "nonode@nohost"

/* ---- random terms --------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    return rng_next(&rng_state);
}

static unsigned below(unsigned n)
{
    return (unsigned)rng_below(&rng_state, n);
}

static double rnd_double(void)
{
    for (;;) {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d))
            return d;
    }
}

static void gen(buf_t *b, int depth);

static void gen_leaf(buf_t *b)
{
    static const char *atoms[] = {"", "a", "ok", "abcdefgh", "abcdefghi", "\xc3\xb6", "\xe6\x97\xa5",
                                  "\xf0\x9f\x99\x82", LOCAL, "x@h"};
    uint32_t words[3] = {(uint32_t)below(1 << 18), (uint32_t)rnd(), (uint32_t)rnd()};
    switch (below(12)) {
    case 0: w_int(b, (int64_t)below(300) - 150); break;
    case 1: w_int(b, (int64_t)rnd() >> below(64)); break;
    case 2: { /* a bignum of up to 40 digits */
        unsigned n = 1 + below(40);
        put8(b, 110);
        put8(b, n);
        put8(b, below(2));
        for (unsigned i = 0; i < n; i++)
            put8(b, i + 1 == n ? 1 + below(255) : below(256));
        break;
    }
    case 3: w_float(b, below(4) ? rnd_double() : below(2) ? 0.0 : -0.0); break;
    case 4: w_atom(b, atoms[below(sizeof atoms / sizeof atoms[0])]); break;
    case 5: w_pid(b, below(2) ? LOCAL : "x@h", below(0x8000), below(0x2000), 0); break;
    case 6: w_port(b, below(2) ? LOCAL : "y@h", below(0x10000000), 0); break;
    case 7: w_ref(b, below(2) ? LOCAL : "x@h", 0, words, 1 + below(3)); break;
    case 8: { /* a binary or bitstring */
        unsigned n = below(20), bits = n ? 1 + below(8) : 0;
        put8(b, bits == 8 || n == 0 ? 109 : 77);
        put32(b, n);
        if (!(bits == 8 || n == 0))
            put8(b, bits);
        for (unsigned i = 0; i < n; i++)
            put8(b, below(256));
        break;
    }
    case 9: { /* a string */
        unsigned n = 1 + below(10);
        put8(b, 107);
        put16(b, n);
        for (unsigned i = 0; i < n; i++)
            put8(b, below(256));
        break;
    }
    case 10: /* fun m:f/A */
        put8(b, 113);
        w_atom(b, "m");
        w_atom(b, "f");
        w_int(b, below(300));
        break;
    default: put8(b, 106); break; /* [] */
    }
}

static void gen(buf_t *b, int depth)
{
    if (depth <= 0 || below(3) == 0) {
        gen_leaf(b);
        return;
    }
    unsigned n = below(5);
    switch (below(5)) {
    case 0: /* tuple */
        put8(b, 104);
        put8(b, n);
        for (unsigned i = 0; i < n; i++)
            gen(b, depth - 1);
        break;
    case 1: /* list, proper or not */
        put8(b, 108);
        put32(b, n + 1);
        for (unsigned i = 0; i <= n; i++)
            gen(b, depth - 1);
        if (below(2))
            put8(b, 106);
        else
            gen_leaf(b);
        break;
    case 2: { /* map: distinct integer keys, in a random order */
        put8(b, 116);
        put32(b, n);
        unsigned start = below(1000);
        for (unsigned i = 0; i < n; i++) {
            w_int(b, (int64_t)((start + i * 7919u) % 100000) - 50000);
            gen(b, depth - 1);
        }
        break;
    }
    case 3: { /* local fun with free variables: Size patched once known */
        size_t at = b->len;
        put8(b, 112);
        put32(b, 0);
        put8(b, 0);
        for (int i = 0; i < 16; i++)
            put8(b, below(256));
        put32(b, below(10));
        put32(b, n);
        w_atom(b, "m");
        w_int(b, below(10));
        w_int(b, (int64_t)(int32_t)rnd());
        w_pid(b, LOCAL, 1, 0, 0);
        for (unsigned i = 0; i < n; i++)
            gen(b, depth - 1);
        uint32_t size = (uint32_t)(b->len - at - 1);
        b->p[at + 1] = (unsigned char)(size >> 24);
        b->p[at + 2] = (unsigned char)(size >> 16);
        b->p[at + 3] = (unsigned char)(size >> 8);
        b->p[at + 4] = (unsigned char)size;
        break;
    }
    default:
        gen_leaf(b);
    }
}

/* ---- helpers -------------------------------------------------------------- */

static key_node_t local_node, other_node;

static void node_of(key_node_t *n, const char *name, uint32_t creation)
{
    buf_t b = {0};
    const unsigned char *next;
    w_pid(&b, name, 0, 0, creation);
    CHECK(key_codec_node_read(b.p, b.p + b.len, n, &next) == XETS_OK && next == b.p + b.len, "node");
    free(b.p);
}

/* The encoding of a whole term (version byte included), or a status. */
static int enc(const unsigned char *etf, size_t len, key_mode_t mode, kbuf_t *out)
{
    kbuf_init(out);
    return key_codec_encode(etf, len, mode, &local_node, out);
}

static void hex(const char *what, const unsigned char *p, size_t n)
{
    fprintf(stderr, "%s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", p[i]);
    fputc('\n', stderr);
}

/* ---- encodings written out ------------------------------------------------ */

typedef struct {
    const char *name;
    key_mode_t mode;
    unsigned char etf[40], key[40];
    size_t elen, klen;
} vector_t;

#define V(NAME, MODE, ETF, KEY)                                                       \
    {NAME, MODE, ETF, KEY, sizeof((unsigned char[])ETF), sizeof((unsigned char[])KEY)}
#define B(...) {__VA_ARGS__}

static const vector_t vectors[] = {
    V("5", KEY_ORDERED, B(131, 97, 5), B(18, 1, 5, 0)),
    V("-1", KEY_ORDERED, B(131, 98, 255, 255, 255, 255), B(16, 254, 254, 255)),
    V("0", KEY_ORDERED, B(131, 97, 0), B(17)),
    V("1.5", KEY_ORDERED, B(131, 70, 63, 248, 0, 0, 0, 0, 0, 0), B(18, 1, 1, 128)),
    V("1.5", KEY_EXACT, B(131, 70, 63, 248, 0, 0, 0, 0, 0, 0), B(19, 191, 248, 0, 0, 0, 0, 0, 0)),
    V("-0.0", KEY_EXACT, B(131, 70, 128, 0, 0, 0, 0, 0, 0, 0), B(19, 128, 0, 0, 0, 0, 0, 0, 0)),
    V("ok", KEY_ORDERED, B(131, 100, 0, 2, 111, 107), B(32, 111, 107, 0, 0, 0, 0, 0, 0, 16)),
    V("{1,2}", KEY_ORDERED, B(131, 104, 2, 97, 1, 97, 2), B(112, 2, 18, 1, 1, 0, 18, 1, 2, 0)),
    V("[1|2]", KEY_ORDERED, B(131, 108, 0, 0, 0, 1, 97, 1, 97, 2), B(160, 18, 1, 1, 0, 18, 1, 2, 0)),
    V("#{b=>1,a=>2}", KEY_ORDERED,
      B(131, 116, 0, 0, 0, 2, 100, 0, 1, 98, 97, 1, 100, 0, 1, 97, 97, 2),
      B(128, 2, 32, 97, 0, 0, 0, 0, 0, 0, 0, 8, 32, 98, 0, 0, 0, 0, 0, 0, 0, 8, 18, 1, 2, 0, 18, 1, 1, 0)),
    V("<<\"abc\">>", KEY_ORDERED, B(131, 109, 0, 0, 0, 3, 97, 98, 99), B(176, 97, 98, 99, 0, 0, 0, 0, 0, 24)),
    V("<0.5.1>", KEY_ORDERED,
      B(131, 88, 100, 0, 13, 'n', 'o', 'n', 'o', 'd', 'e', '@', 'n', 'o', 'h', 'o', 's', 't', 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0),
      B(96, 0, 0, 0, 1, 0, 0, 0, 5, 0)),
    V("pid 5 of x@h, serial 1, creation 2", KEY_ORDERED,
      B(131, 88, 100, 0, 3, 120, 64, 104, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2),
      B(96, 0, 0, 0, 1, 0, 0, 0, 5, 1, 120, 64, 104, 0, 0, 0, 0, 0, 24, 0, 0, 0, 2)),
    V("fun m:f/2", KEY_ORDERED, B(131, 113, 100, 0, 1, 109, 100, 0, 1, 102, 97, 2),
      B(65, 109, 0, 0, 0, 0, 0, 0, 0, 8, 102, 0, 0, 0, 0, 0, 0, 0, 8, 2)),
    V("#Port<0.5>", KEY_ORDERED,
      B(131, 89, 100, 0, 13, 'n', 'o', 'n', 'o', 'd', 'e', '@', 'n', 'o', 'h', 'o', 's', 't', 0, 0, 0, 5, 0, 0, 0, 0),
      B(80, 0, 0, 0, 0, 0, 0, 0, 0, 5)),
    V("\"ab\"", KEY_EXACT, B(131, 107, 0, 2, 97, 98), B(160, 18, 1, 97, 0, 160, 18, 1, 98, 0, 144)),
};

static void test_vectors(void)
{
    CHECK(strcmp(key_codec_name(KEY_ORDERED), "ordered.1") == 0, "%s", key_codec_name(KEY_ORDERED));
    CHECK(strcmp(key_codec_name(KEY_EXACT), "exact.1") == 0, "%s", key_codec_name(KEY_EXACT));
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const vector_t *v = &vectors[i];
        kbuf_t k;
        int st = enc(v->etf, v->elen, v->mode, &k);
        if (st != XETS_OK || k.len != v->klen || memcmp(k.p, v->key, k.len) != 0) {
            hex("got", k.p, k.len);
            hex("want", v->key, v->klen);
            CHECK(false, "%s: status %d", v->name, st);
        }
        CHECK(key_check_one(k.p, k.len), "%s: not one encoding", v->name);
        kbuf_free(&k);
    }
}

/* ---- numbers -------------------------------------------------------------- */

/* Erlang's order of an integer and a float: exact, by value. */
static int cmp_int_double(int64_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    int64_t t = (int64_t)d;
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

typedef struct {
    bool is_float;
    int64_t i;
    double d;
    kbuf_t ord, exa;
} num_t;

static int num_cmp(const num_t *a, const num_t *b, key_mode_t mode)
{
    if (a->is_float != b->is_float && mode == KEY_EXACT)
        return a->is_float ? 1 : -1; /* map-key order: integers first */
    if (!a->is_float && !b->is_float)
        return (a->i > b->i) - (a->i < b->i);
    if (a->is_float && b->is_float) {
        if (mode == KEY_EXACT && a->d == 0.0 && b->d == 0.0)
            return 0;
        return (a->d > b->d) - (a->d < b->d);
    }
    return a->is_float ? -cmp_int_double(b->i, a->d) : cmp_int_double(a->i, b->d);
}

static int seg_cmp(const kbuf_t *a, const kbuf_t *b)
{
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
    return c ? (c > 0) - (c < 0) : (a->len > b->len) - (a->len < b->len);
}

static double pow2(int e)
{
    double d = 1.0;
    for (; e > 0; e--)
        d *= 2;
    for (; e < 0; e++)
        d /= 2;
    return d;
}

/* Numbers sort by value: every pair of a sample checked. */
static void test_numbers(void)
{
    enum { N = 1500 / SCALE };
    static num_t nums[N];
    for (size_t i = 0; i < N; i++) {
        num_t *x = &nums[i];
        buf_t b = {0};
        put8(&b, 131);
        x->is_float = below(2);
        if (x->is_float) {
            switch (below(4)) {
            case 0: x->d = rnd_double(); break;
            case 1: x->d = (double)((int64_t)rnd() >> below(64)); break;
            case 2: x->d = (double)((int64_t)below(2000) - 1000) / (1 + below(8)); break;
            default: x->d = pow2((int)below(140) - 70) * (1.0 + below(100) / 64.0) * (below(2) ? 1 : -1);
            }
            w_float(&b, x->d);
        } else {
            x->i = below(3) ? (int64_t)rnd() >> below(64) : (int64_t)below(2000) - 1000;
            w_int(&b, x->i);
        }
        CHECK(enc(b.p, b.len, KEY_ORDERED, &x->ord) == XETS_OK, "number %zu", i);
        CHECK(enc(b.p, b.len, KEY_EXACT, &x->exa) == XETS_OK, "number %zu", i);
        CHECK(key_check_one(x->ord.p, x->ord.len) && key_check_one(x->exa.p, x->exa.len), "number %zu", i);
        free(b.p);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            CHECK(num_cmp(&nums[i], &nums[j], KEY_ORDERED) == seg_cmp(&nums[i].ord, &nums[j].ord),
                  "ordered: %zu (%d %lld %g) vs %zu (%d %lld %g)", i, nums[i].is_float, (long long)nums[i].i,
                  nums[i].d, j, nums[j].is_float, (long long)nums[j].i, nums[j].d);
            CHECK(num_cmp(&nums[i], &nums[j], KEY_EXACT) == seg_cmp(&nums[i].exa, &nums[j].exa),
                  "exact: %zu vs %zu", i, j);
        }
    for (size_t i = 0; i < N; i++) {
        kbuf_free(&nums[i].ord);
        kbuf_free(&nums[i].exa);
    }
}

/* ---- random terms --------------------------------------------------------- */

enum { TERMS = 4000 / SCALE };

typedef struct {
    buf_t etf;
    kbuf_t key[2]; /* ordered, exact */
} term_t;

static term_t terms[TERMS];

static void test_random_terms(void)
{
    for (size_t i = 0; i < TERMS; i++) {
        term_t *t = &terms[i];
        put8(&t->etf, 131);
        gen(&t->etf, 5);
        for (int m = 0; m < 2; m++) {
            kbuf_t *k = &t->key[m];
            int st = enc(t->etf.p, t->etf.len, (key_mode_t)m, k);
            if (st != XETS_OK)
                hex("etf", t->etf.p, t->etf.len);
            CHECK(st == XETS_OK, "term %zu mode %d: status %d", i, m, st);
            CHECK(key_check_one(k->p, k->len), "term %zu mode %d: not one encoding", i, m);

            /* As the element of an object, after another element. */
            buf_t obj = {0};
            put8(&obj, 131);
            put8(&obj, 104);
            put8(&obj, 3);
            w_atom(&obj, "first");
            put(&obj, t->etf.p + 1, t->etf.len - 1);
            put8(&obj, 200); /* not looked at */
            kbuf_t e;
            kbuf_init(&e);
            CHECK(key_codec_encode_element(obj.p, obj.len, 2, (key_mode_t)m, &local_node, &e) == XETS_OK &&
                      e.len == k->len && memcmp(e.p, k->p, k->len) == 0,
                  "term %zu as element 2", i);
            kbuf_free(&e);
            free(obj.p);
        }
        /* Every cut, and the bytes followed by one more, are refused; out is
         * left as it was. */
        size_t cuts = i < 300 ? t->etf.len : 8;
        for (size_t c = 0; c <= cuts; c++) {
            size_t len = c < cuts ? (i < 300 ? c : below((unsigned)t->etf.len)) : t->etf.len + 1;
            unsigned char *p = malloc(len + 1);
            CHECK(p, "out of memory");
            memcpy(p, t->etf.p, len <= t->etf.len ? len : t->etf.len);
            if (len > t->etf.len)
                p[t->etf.len] = 0;
            kbuf_t k;
            kbuf_init(&k);
            k.p[0] = 42;
            k.len = 1;
            int st = key_codec_encode(p, len, KEY_ORDERED, &local_node, &k);
            CHECK(st == XETS_CORRUPT && k.len == 1 && k.p[0] == 42, "term %zu cut at %zu: %d", i, len, st);
            kbuf_free(&k);
            free(p);
        }
    }
}

/* The bytes of one term, encoded by several threads at once. */
static void *encode_all(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < TERMS; i++)
        for (int m = 0; m < 2; m++) {
            kbuf_t k;
            CHECK(enc(terms[i].etf.p, terms[i].etf.len, (key_mode_t)m, &k) == XETS_OK &&
                      k.len == terms[i].key[m].len && memcmp(k.p, terms[i].key[m].p, k.len) == 0,
                  "thread: term %zu", i);
            kbuf_free(&k);
        }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, encode_all, NULL) == 0, "thread");
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
}

/* ---- the local marker ----------------------------------------------------- */

static void test_local_marker(void)
{
    buf_t b = {0};
    put8(&b, 131);
    w_pid(&b, LOCAL, 5, 1, 0);
    kbuf_t mine, theirs;
    kbuf_init(&mine);
    kbuf_init(&theirs);
    CHECK(key_codec_encode(b.p, b.len, KEY_ORDERED, &local_node, &mine) == XETS_OK, "local");
    CHECK(key_codec_encode(b.p, b.len, KEY_ORDERED, &other_node, &theirs) == XETS_OK, "other");
    CHECK(mine.len == 10 && mine.p[9] == 0x00, "the local marker ends a local pid");
    CHECK(theirs.p[9] == 0x01 && seg_cmp(&mine, &theirs) < 0, "another node's pid sorts after");
    kbuf_free(&theirs);
    /* Every node local: an x@h pid too. */
    b.len = 0;
    put8(&b, 131);
    w_pid(&b, "x@h", 5, 1, 7);
    CHECK(key_codec_encode(b.p, b.len, KEY_ORDERED, &key_codec_all_local, &theirs) == XETS_OK &&
              theirs.len == 10 && memcmp(theirs.p, mine.p, 10) == 0,
          "all local");
    kbuf_free(&theirs);
    kbuf_free(&mine);
    b.len = 0;
    put8(&b, 131);
    w_pid(&b, LOCAL, 5, 1, 0);
    /* No node local: the name is written. */
    CHECK(key_codec_encode(b.p, b.len, KEY_EXACT, NULL, &theirs) == XETS_OK && theirs.p[9] == 0x01, "none");
    kbuf_free(&theirs);
    /* A local pid no BEAM holds (number of 16 bits) is refused; another
     * node's is not. */
    b.len = 0;
    put8(&b, 131);
    w_pid(&b, LOCAL, 0x8000, 0, 0);
    CHECK(key_codec_encode(b.p, b.len, KEY_EXACT, &local_node, &theirs) == XETS_CORRUPT, "too big");
    CHECK(key_codec_encode(b.p, b.len, KEY_EXACT, &other_node, &theirs) == XETS_OK, "of another node");
    kbuf_free(&theirs);
    free(b.p);
}

/* ---- deep and hostile ----------------------------------------------------- */

static void check_one(buf_t *b, const char *what)
{
    kbuf_t k;
    for (int m = 0; m < 2; m++) {
        int st = enc(b->p, b->len, (key_mode_t)m, &k);
        CHECK(st == XETS_OK && key_check_one(k.p, k.len), "%s: %d", what, st);
        kbuf_free(&k);
    }
    free(b->p);
    *b = (buf_t){0};
}

/* A million levels of tuples, lists, list tails, one-pair maps and funs,
 * and thousands of two-pair maps: no C stack is used for any of them. */
static void test_deep(void)
{
    enum { DEEP = 1000000 / SCALE };
    buf_t b = {0};
    put8(&b, 131);
    for (int i = 0; i < DEEP; i++) {
        put8(&b, 104);
        put8(&b, 1);
    }
    put8(&b, 106);
    check_one(&b, "deep tuples");

    put8(&b, 131);
    for (int i = 0; i < DEEP; i++) {
        put8(&b, 108);
        put32(&b, 1);
    }
    put8(&b, 106);
    for (int i = 0; i < DEEP; i++)
        put8(&b, 106);
    check_one(&b, "deep list heads");

    put8(&b, 131);
    put8(&b, 108);
    put32(&b, DEEP);
    for (int i = 0; i < DEEP; i++)
        w_int(&b, i);
    put8(&b, 100);
    put16(&b, 1);
    put8(&b, 't');
    check_one(&b, "a long improper list");

    put8(&b, 131);
    for (int i = 0; i < DEEP; i++) {
        put8(&b, 116);
        put32(&b, 1);
        w_int(&b, i);
    }
    put8(&b, 106);
    check_one(&b, "deep one-pair maps");

    put8(&b, 131);
    for (int i = 0; i < 3000 / SCALE; i++) { /* #{1 => #{...}, 0 => x}: each level skipped by those around it */
        put8(&b, 116);
        put32(&b, 2);
        w_int(&b, 0);
        w_atom(&b, "x");
        w_int(&b, 1);
    }
    put8(&b, 106);
    check_one(&b, "deep two-pair maps");

    /* Funs whose one free variable is the next fun: Size from the end. */
    size_t *at = malloc((100000 / SCALE) * sizeof *at);
    CHECK(at, "out of memory");
    put8(&b, 131);
    for (int i = 0; i < 100000 / SCALE; i++) {
        at[i] = b.len;
        put8(&b, 112);
        put32(&b, 0);
        put8(&b, 0);
        for (int k = 0; k < 16; k++)
            put8(&b, 0);
        put32(&b, 0);
        put32(&b, 1);
        w_atom(&b, "m");
        w_int(&b, 0);
        w_int(&b, 0);
        w_pid(&b, LOCAL, 1, 0, 0);
    }
    put8(&b, 106);
    for (int i = 0; i < 100000 / SCALE; i++) {
        uint32_t size = (uint32_t)(b.len - at[i] - 1);
        for (int k = 0; k < 4; k++)
            b.p[at[i] + 1 + k] = (unsigned char)(size >> (24 - 8 * k));
    }
    free(at);
    check_one(&b, "deep funs");
}

/* Counts that claim more than the bytes hold are refused at once, before
 * anything is allocated for them (under ASan, a huge allocation would
 * abort). */
static void test_hostile(void)
{
#define H(...) {sizeof((unsigned char[]){__VA_ARGS__}), {__VA_ARGS__}}
    static const struct {
        size_t len;
        unsigned char b[12];
    } cases[] = {
        H(131, 105, 255, 255, 255, 255),                   /* a tuple of 2^32 - 1 */
        H(131, 105, 255, 255, 255, 255, 97, 1),
        H(131, 116, 255, 255, 255, 255, 97, 1, 97, 2),      /* a map of 2^32 - 1 pairs */
        H(131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97),          /* one value short */
        H(131, 108, 255, 255, 255, 255, 106),               /* a list */
        H(131, 109, 255, 255, 255, 255, 0),                 /* a binary */
        H(131, 77, 255, 255, 255, 255, 8, 0),               /* a bitstring */
        H(131, 111, 255, 255, 255, 255, 0, 1),              /* a bignum */
        H(131, 107, 255, 255, 1),                           /* a string */
        H(131, 100, 255, 255, 97),                          /* an atom */
        H(131, 90, 255, 255, 100, 0, 1, 97, 0, 0, 0, 0),    /* a reference of 65535 words */
        H(131, 112, 255, 255, 255, 255, 0),                 /* a fun's size */
        H(131, 112, 0, 0, 0, 2, 0),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kbuf_t k;
        CHECK(enc(cases[i].b, cases[i].len, KEY_ORDERED, &k) == XETS_CORRUPT, "hostile case %zu", i);
        kbuf_free(&k);
    }
    /* Formats not read. */
    static const unsigned char compressed[] = {131, 80, 0, 0, 0, 10, 120, 156, 0};
    kbuf_t k;
    CHECK(enc(compressed, sizeof compressed, KEY_EXACT, &k) == XETS_BADARG, "compressed");
    kbuf_free(&k);
}

int main(void)
{
    node_of(&local_node, LOCAL, 0);
    node_of(&other_node, "x@h", 3);
    test_vectors();
    test_numbers();
    test_random_terms();
    test_threads();
    test_local_marker();
    test_deep();
    test_hostile();
    for (size_t i = 0; i < TERMS; i++) {
        free(terms[i].etf.p);
        kbuf_free(&terms[i].key[0]);
        kbuf_free(&terms[i].key[1]);
    }
    printf("key_codec_test: ok\n");
    return 0;
}
