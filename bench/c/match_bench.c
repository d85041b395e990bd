/* Cost of match.c per object, without the BEAM: 1M objects {I} and
 * {I, I, <<"value">>} (I = 0..999999, in the external term format as
 * term_to_binary writes them), each spec run over all of them with one
 * scratch, as a select or select_count over a table would. Prints ns per
 * object (thread CPU time, best of 3), and the ratio to the baseline
 * measured in the same run: skipping each object with etf_skip, the least
 * any walk over the objects costs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etf.h"
#include "match.h"
#include "status.h"

#define NOBJ 1000000u
#define ROUNDS 3 /* best of */

/* CPU time of this thread: the machine may be shared with other work. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct {
    unsigned char *bytes; /* all objects back to back */
    size_t *off, *len;
} objs_t;

static size_t put_int(unsigned char *w, uint32_t i)
{
    if (i < 256) {
        w[0] = ETF_SMALL_INTEGER;
        w[1] = (unsigned char)i;
        return 2;
    }
    w[0] = ETF_INTEGER;
    w[1] = (unsigned char)(i >> 24);
    w[2] = (unsigned char)(i >> 16);
    w[3] = (unsigned char)(i >> 8);
    w[4] = (unsigned char)i;
    return 5;
}

/* {I} (wide = 0) or {I, I, <<"value">>} (wide = 1). */
static objs_t make_objs(int wide)
{
    objs_t o;
    o.bytes = malloc((size_t)NOBJ * 32);
    o.off = malloc(NOBJ * sizeof *o.off);
    o.len = malloc(NOBJ * sizeof *o.len);
    if (!o.bytes || !o.off || !o.len) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    size_t pos = 0;
    for (uint32_t i = 0; i < NOBJ; i++) {
        unsigned char *w = o.bytes + pos;
        size_t k = 0;
        w[k++] = ETF_VERSION;
        w[k++] = ETF_SMALL_TUPLE;
        w[k++] = wide ? 3 : 1;
        k += put_int(w + k, i);
        if (wide) {
            k += put_int(w + k, i);
            static const unsigned char bin[] = {ETF_BINARY, 0, 0, 0, 5, 'v', 'a', 'l', 'u', 'e'};
            memcpy(w + k, bin, sizeof bin);
            k += sizeof bin;
        }
        o.off[i] = pos;
        o.len[i] = k;
        pos += k;
    }
    return o;
}

static void free_objs(objs_t *o)
{
    free(o->bytes);
    free(o->off);
    free(o->len);
}

static double bench_skip(const objs_t *o)
{
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        size_t sum = 0;
        double t0 = now();
        for (uint32_t i = 0; i < NOBJ; i++) {
            const unsigned char *p = o->bytes + o->off[i], *next;
            if (etf_skip(p + 1, p + o->len[i], &next) == ETF_OK)
                sum += (size_t)(next - p);
        }
        double dt = now() - t0;
        if (sum == 0)
            fprintf(stderr, "skip failed\n");
        if (dt < best)
            best = dt;
    }
    return best * 1e9 / NOBJ;
}

static double bench_spec(const char *name, const unsigned char *ms, size_t mslen, const objs_t *o,
                         double base)
{
    match_prog_t *p;
    if (match_compile(ms, mslen, &p) != XETS_OK) {
        fprintf(stderr, "%s: compile failed\n", name);
        exit(1);
    }
    match_scratch_t s;
    match_scratch_init(&s);
    double best = 1e9;
    size_t yes = 0, truths = 0, bytes = 0, other = 0;
    for (int r = 0; r < ROUNDS; r++) {
        yes = truths = bytes = other = 0;
        double t0 = now();
        for (uint32_t i = 0; i < NOBJ; i++) {
            const unsigned char *res;
            size_t rlen;
            match_res_t m = match_run(p, o->bytes + o->off[i], o->len[i], &s, &res, &rlen);
            if (m == MATCH_YES) {
                yes++;
                bytes += rlen;
                truths += match_result_is_true(res, rlen);
            } else if (m != MATCH_NO) {
                other++;
            }
        }
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    double ns = best * 1e9 / NOBJ;
    printf("  %-44s %6.1f ns/object  %5.1fx skip   (%zu matched, %zu true, %zu result bytes%s)\n",
           name, ns, ns / base, yes, truths, bytes, other ? ", SOME DEFERRED" : "");
    match_scratch_free(&s);
    match_free(p);
    return ns;
}

int main(void)
{
    /* [{{'$1'},[],[true]}] */
    static const unsigned char count_all[] = {131, 108, 0, 0, 0, 1, 104, 3, 104, 1, 100, 0, 2, 36, 49, 106,
                                              108, 0, 0, 0, 1, 100, 0, 4, 116, 114, 117, 101, 106, 106};
    /* [{{'$1','_','_'},[{'>','$1',500}],['$_']}] */
    static const unsigned char gt_obj[] = {
        131, 108, 0, 0, 0, 1, 104, 3, 104, 3, 100, 0, 2, 36, 49, 100, 0, 1, 95, 100, 0,
        1, 95, 108, 0, 0, 0, 1, 104, 3, 100, 0, 1, 62, 100, 0, 2, 36, 49, 98, 0, 0,
        1, 244, 106, 108, 0, 0, 0, 1, 100, 0, 2, 36, 95, 106, 106};
    /* [{{'$1','$2','_'},[{'=:=','$1','$2'}],[{{'$2','$1'}}]}] */
    static const unsigned char swap[] = {
        131, 108, 0, 0, 0, 1, 104, 3, 104, 3, 100, 0, 2, 36, 49, 100, 0, 2, 36, 50, 100,
        0, 1, 95, 108, 0, 0, 0, 1, 104, 3, 100, 0, 3, 61, 58, 61, 100, 0, 2, 36, 49,
        100, 0, 2, 36, 50, 106, 108, 0, 0, 0, 1, 104, 1, 104, 2, 100, 0, 2, 36, 50, 100,
        0, 2, 36, 49, 106, 106};
    /* [{{'_','_','$1'},[{is_binary,'$1'}],['$$']}] */
    static const unsigned char all_vars[] = {
        131, 108, 0, 0, 0, 1, 104, 3, 104, 3, 100, 0, 1, 95, 100, 0, 1, 95, 100, 0, 2,
        36, 49, 108, 0, 0, 0, 1, 104, 2, 100, 0, 9, 105, 115, 95, 98, 105, 110, 97, 114,
        121, 100, 0, 2, 36, 49, 106, 108, 0, 0, 0, 1, 100, 0, 2, 36, 36, 106, 106};

    objs_t narrow = make_objs(0), wide = make_objs(1);
    printf("match_bench: %u objects, best of %d\n", NOBJ, ROUNDS);

    double base1 = bench_skip(&narrow);
    printf(" {I}: etf_skip baseline %.1f ns/object\n", base1);
    bench_spec("[{{'$1'},[],[true]}]", count_all, sizeof count_all, &narrow, base1);
    bench_spec("[{{'$1','_','_'},[{'>','$1',500}],['$_']}]", gt_obj, sizeof gt_obj, &narrow, base1);

    double base3 = bench_skip(&wide);
    printf(" {I, I, <<\"value\">>}: etf_skip baseline %.1f ns/object\n", base3);
    bench_spec("[{{'$1'},[],[true]}]", count_all, sizeof count_all, &wide, base3);
    bench_spec("[{{'$1','_','_'},[{'>','$1',500}],['$_']}]", gt_obj, sizeof gt_obj, &wide, base3);
    bench_spec("[{{'$1','$2','_'},[{'=:=','$1','$2'}],[{{'$2','$1'}}]}]", swap, sizeof swap, &wide,
               base3);
    bench_spec("[{{'_','_','$1'},[{is_binary,'$1'}],['$$']}]", all_vars, sizeof all_vars, &wide, base3);

    free_objs(&narrow);
    free_objs(&wide);
    return 0;
}
