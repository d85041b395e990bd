/* The enif calls that the reaper (c_src/reaper.c) makes, on pthreads: for
 * plain C programs that link the LSM store without a BEAM (lsm_test.c,
 * lsm_fuzz.c). Defines them: include it in one file of a program. */
#ifndef XETS_TEST_ENIF_THREADS_H
#define XETS_TEST_ENIF_THREADS_H

#include <erl_nif.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

struct ErlDrvMutex_ {
    pthread_mutex_t m;
};
struct ErlDrvCond_ {
    pthread_cond_t c;
};
struct ErlDrvTid_ {
    pthread_t t;
};

ErlNifMutex *enif_mutex_create(char *name)
{
    (void)name;
    ErlNifMutex *m = malloc(sizeof *m);
    CHECK(m != NULL, "out of memory");
    pthread_mutex_init(&m->m, NULL);
    return m;
}
void enif_mutex_destroy(ErlNifMutex *m)
{
    pthread_mutex_destroy(&m->m);
    free(m);
}
void enif_mutex_lock(ErlNifMutex *m)
{
    pthread_mutex_lock(&m->m);
}
void enif_mutex_unlock(ErlNifMutex *m)
{
    pthread_mutex_unlock(&m->m);
}
ErlNifCond *enif_cond_create(char *name)
{
    (void)name;
    ErlNifCond *c = malloc(sizeof *c);
    CHECK(c != NULL, "out of memory");
    pthread_cond_init(&c->c, NULL);
    return c;
}
void enif_cond_destroy(ErlNifCond *c)
{
    pthread_cond_destroy(&c->c);
    free(c);
}
void enif_cond_signal(ErlNifCond *c)
{
    pthread_cond_signal(&c->c);
}
void enif_cond_broadcast(ErlNifCond *c)
{
    pthread_cond_broadcast(&c->c);
}
void enif_cond_wait(ErlNifCond *c, ErlNifMutex *m)
{
    pthread_cond_wait(&c->c, &m->m);
}
int enif_thread_create(char *name, ErlNifTid *tid, void *(*fn)(void *), void *arg,
                       ErlNifThreadOpts *opts)
{
    (void)name;
    (void)opts;
    struct ErlDrvTid_ *t = malloc(sizeof *t);
    CHECK(t != NULL, "out of memory");
    *tid = t;
    return pthread_create(&t->t, NULL, fn, arg);
}
int enif_thread_join(ErlNifTid tid, void **ret)
{
    int rc = pthread_join(tid->t, ret);
    free(tid);
    return rc;
}
int enif_fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

#endif
