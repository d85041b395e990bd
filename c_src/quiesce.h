/* Bringing xets to rest, for the leak check of the test suites
 * (test/xets_leak_cth.erl): memory that threads retired (epoch.h) is freed
 * only by the thread that retired it, once it calls in again, and stores
 * of deleted tables by the reaper. These NIFs let Erlang make every thread
 * call in (a process bound to each normal scheduler, and as many
 * simultaneous calls as there are dirty schedulers of a kind, each of
 * which waits for the others, so that each lands on a thread of its own),
 * then read xets's heap use (alloc_count.h).
 * Thread-safety: any process, at any time; meant for a quiet VM. */
#ifndef XETS_QUIESCE_H
#define XETS_QUIESCE_H

#include <erl_nif.h>

int quiesce_init(void);
/* quiesce_normal() -> ok: frees what this normal scheduler retired. */
ERL_NIF_TERM quiesce_normal_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
/* quiesce_dirty_cpu(Round, N), quiesce_dirty_io(Round, N) -> ok | timeout:
 * frees what this dirty scheduler retired, then waits (at most 2 s) until
 * N calls of Round have done so. */
ERL_NIF_TERM quiesce_dirty_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
/* reaper_drain() -> ok, on a dirty scheduler: waits until the stores of
 * deleted tables are freed. */
ERL_NIF_TERM reaper_drain_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);
/* alloc_stats() -> {Blocks, Bytes} */
ERL_NIF_TERM alloc_stats_nif(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);

#endif
