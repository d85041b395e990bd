/* Integer arithmetic on Erlang integer terms of any size (term_int.h).
 *
 * Fast path: both operands in int64 and no overflow. Otherwise each operand
 * becomes sign + magnitude (little-endian bytes, as the external format's
 * SMALL_BIG_EXT/LARGE_BIG_EXT digits), the arithmetic is done on bytes,
 * and a result that does not fit 64 bits is built with enif_binary_to_term.
 * Bignums are rare in counters; simplicity beats speed there. */
#include "term_int.h"
#include "status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ETF_VERSION = 131, ETF_SMALL_BIG = 110, ETF_LARGE_BIG = 111 };

typedef struct {
    int neg;
    size_t n;            /* magnitude bytes, least significant first, no high zeros */
    unsigned char *d;
    unsigned char inl[8];
} tint_t;

static void tint_free(tint_t *x)
{
    if (x->d != x->inl)
        free(x->d);
}

static void tint_set_u64(tint_t *x, uint64_t mag, int neg)
{
    x->d = x->inl;
    x->neg = neg && mag != 0;
    x->n = 0;
    while (mag) {
        x->inl[x->n++] = (unsigned char)mag;
        mag >>= 8;
    }
}

static int tint_get(ErlNifEnv *env, ERL_NIF_TERM t, tint_t *x)
{
    ErlNifSInt64 i;
    ErlNifUInt64 u;
    if (enif_get_int64(env, t, &i)) {
        tint_set_u64(x, i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i, i < 0);
        return XETS_OK;
    }
    if (enif_get_uint64(env, t, &u)) {
        tint_set_u64(x, u, 0);
        return XETS_OK;
    }
    if (enif_term_type(env, t) != ERL_NIF_TERM_TYPE_INTEGER)
        return XETS_BADARG;
    ErlNifBinary bin;
    if (!enif_term_to_binary(env, t, &bin))
        return XETS_NOMEM;
    const unsigned char *p = bin.data, *end = bin.data + bin.size;
    size_t n = 0;
    int rc = XETS_BADARG;
    if (end - p >= 3 && p[0] == ETF_VERSION && p[1] == ETF_SMALL_BIG) {
        n = p[2];
        p += 3;
    } else if (end - p >= 6 && p[0] == ETF_VERSION && p[1] == ETF_LARGE_BIG) {
        n = ((size_t)p[2] << 24) | ((size_t)p[3] << 16) | ((size_t)p[4] << 8) | p[5];
        p += 6;
    } else {
        goto out;
    }
    if ((size_t)(end - p) < n + 1)
        goto out;
    x->neg = p[0] != 0;
    p++;
    while (n > 0 && p[n - 1] == 0)
        n--;
    x->n = n;
    x->d = n <= sizeof x->inl ? x->inl : malloc(n);
    if (!x->d) {
        rc = XETS_NOMEM;
        goto out;
    }
    memcpy(x->d, p, n);
    if (n == 0)
        x->neg = 0;
    rc = XETS_OK;
out:
    enif_release_binary(&bin);
    return rc;
}

static int mag_cmp(const tint_t *a, const tint_t *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (size_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static int tint_cmp(const tint_t *a, const tint_t *b)
{
    if (a->neg != b->neg)
        return a->neg ? -1 : 1;
    int c = mag_cmp(a, b);
    return a->neg ? -c : c;
}

/* Makes the integer term sign * r[0..n). */
static int make_int(ErlNifEnv *env, int neg, const unsigned char *r, size_t n, ERL_NIF_TERM *out)
{
    while (n > 0 && r[n - 1] == 0)
        n--;
    if (n <= 8) {
        uint64_t u = 0;
        for (size_t i = n; i-- > 0;)
            u = (u << 8) | r[i];
        if (!neg) {
            *out = enif_make_uint64(env, u);
            return XETS_OK;
        }
        if (u <= (UINT64_C(1) << 63)) {
            *out = enif_make_int64(env, u == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)u);
            return XETS_OK;
        }
    }
    if (n > UINT32_MAX)
        return XETS_NOMEM;
    unsigned char *e = malloc(n + 7);
    if (!e)
        return XETS_NOMEM;
    size_t k = 0;
    e[k++] = ETF_VERSION;
    if (n <= 255) {
        e[k++] = ETF_SMALL_BIG;
        e[k++] = (unsigned char)n;
    } else {
        e[k++] = ETF_LARGE_BIG;
        e[k++] = (unsigned char)(n >> 24);
        e[k++] = (unsigned char)(n >> 16);
        e[k++] = (unsigned char)(n >> 8);
        e[k++] = (unsigned char)n;
    }
    e[k++] = (unsigned char)(neg != 0);
    memcpy(e + k, r, n);
    int ok = enif_binary_to_term(env, e, k + n, out, 0) != 0;
    free(e);
    return ok ? XETS_OK : XETS_NOMEM;
}

int term_int_add(ErlNifEnv *env, ERL_NIF_TERM a, ERL_NIF_TERM b, ERL_NIF_TERM *sum)
{
    ErlNifSInt64 x, y, s;
    if (enif_get_int64(env, a, &x) && enif_get_int64(env, b, &y) &&
        !__builtin_add_overflow(x, y, &s)) {
        *sum = enif_make_int64(env, s);
        return XETS_OK;
    }
    tint_t ta, tb;
    int rc = tint_get(env, a, &ta);
    if (rc != XETS_OK)
        return rc;
    if ((rc = tint_get(env, b, &tb)) != XETS_OK) {
        tint_free(&ta);
        return rc;
    }
    const tint_t *hi = &ta, *lo = &tb; /* |hi| >= |lo| */
    if (mag_cmp(hi, lo) < 0) {
        hi = &tb;
        lo = &ta;
    }
    size_t n = hi->n + 1;
    unsigned char inl[17];
    unsigned char *r = n <= sizeof inl ? inl : malloc(n);
    if (!r) {
        rc = XETS_NOMEM;
        goto out;
    }
    if (ta.neg == tb.neg) {
        unsigned carry = 0;
        for (size_t i = 0; i < hi->n; i++) {
            unsigned v = hi->d[i] + (i < lo->n ? lo->d[i] : 0) + carry;
            r[i] = (unsigned char)v;
            carry = v >> 8;
        }
        r[hi->n] = (unsigned char)carry;
    } else {
        int borrow = 0;
        for (size_t i = 0; i < hi->n; i++) {
            int v = hi->d[i] - (i < lo->n ? lo->d[i] : 0) - borrow;
            borrow = v < 0;
            r[i] = (unsigned char)(v + (borrow ? 256 : 0));
        }
        r[hi->n] = 0;
    }
    rc = make_int(env, hi->neg, r, n, sum);
    if (r != inl)
        free(r);
out:
    tint_free(&ta);
    tint_free(&tb);
    return rc;
}

int term_int_cmp(ErlNifEnv *env, ERL_NIF_TERM a, ERL_NIF_TERM b, int *result)
{
    ErlNifSInt64 x, y;
    if (enif_get_int64(env, a, &x) && enif_get_int64(env, b, &y)) {
        *result = (x > y) - (x < y);
        return XETS_OK;
    }
    tint_t ta, tb;
    int rc = tint_get(env, a, &ta);
    if (rc != XETS_OK)
        return rc;
    if ((rc = tint_get(env, b, &tb)) == XETS_OK) {
        *result = tint_cmp(&ta, &tb);
        tint_free(&tb);
    }
    tint_free(&ta);
    return rc;
}
