/* Stores in memory for the plain C tests and benchmarks, which expect
 * opening and closing one to succeed: each call makes its own call
 * context, as a thread of xets's own does (call.h). */
#ifndef XETS_TEST_STORE_H
#define XETS_TEST_STORE_H

#include "call.h"
#include "check.h"
#include "status.h"
#include "store.h"

static inline store_t *test_store_open(const store_ops_t *ops, enum store_kind kind)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    store_t *s = NULL;
    int st = ops->open(&(store_options_t){.kind = kind, .dir = NULL}, &s, &call);
    CHECK(st == XETS_OK, "open: %d", st);
    return s;
}

/* No one may be using s, nor be in an epoch section that saw its objects. */
static inline void test_store_close(const store_ops_t *ops, store_t *s)
{
    xets_call_t call;
    call_init(&call, CALL_OWN, NULL);
    CHECK(ops->close(s, &call) == XETS_OK, "close");
}

#endif
