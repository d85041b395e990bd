%% Common Test hook: after each case that passed, xets's own heap use
%% (blocks and bytes of the C heap that xets's code holds, counted by the
%% NIF: c_src/alloc_count.h) must be back where it was before the case,
%% once the tables the case made are gone, as OTP's ets suite checks ETS
%% memory after each case. A case that leaks fails with
%% {xets_leak, #{blocks := Blocks, bytes := Bytes}} (what is still held),
%% and one whose tables outlive it with {xets_tables_left, Tables}.
%%
%% Memory that a thread retired is freed by that thread only (epoch.h), the
%% stores of deleted tables by the reaper, and what a resource (a select
%% plan) holds once the last term naming it is collected: before each
%% reading, every process is garbage collected and every scheduler thread
%% and the reaper are made to free what they hold (c_src/quiesce.h).
-module(xets_leak_cth).
-export([init/2, pre_init_per_testcase/4, post_end_per_testcase/5]).
%% For test/xets_leak_tests.erl.
-export([at_rest/0]).

%% How long the tables a case made may take to go once it has ended
%% (owners exiting, monitors firing), and how long its frees may lag.
-define(TABLES_GONE_MS, 10000).
-define(AT_REST_TRIES, 20).

init(_Id, _Opts) ->
    {ok, #{}}.

pre_init_per_testcase(_Suite, _Case, Config, State) ->
    {Config, State#{before => {xets:all(), at_rest()}}}.

post_end_per_testcase(_Suite, _Case, _Config, ok, #{before := {Tables, Use}} = State) ->
    {check(Tables, Use), State};
post_end_per_testcase(_Suite, _Case, _Config, Return, State) ->
    %% A case that failed may well leave things behind.
    {Return, State}.

check(Tables, Use) ->
    %% The case's process runs this hook: its own tables go with it, later.
    [catch xets:delete(T) || T <- xets:all() -- Tables, xets:info(T, owner) =:= self()],
    case gone(Tables, ?TABLES_GONE_MS) of
        [] -> back_to(Use, ?AT_REST_TRIES);
        Left -> {fail, {xets_tables_left, [left(T) || T <- Left]}}
    end.

%% The tables not in Before still there after Ms milliseconds.
gone(Before, Ms) ->
    case xets:all() -- Before of
        Left when Left =:= []; Ms =< 0 -> Left;
        _ -> timer:sleep(10), gone(Before, Ms - 10)
    end.

%% A table left, its owner, and what the owner is doing.
left(T) ->
    Owner = xets:info(T, owner),
    {T, Owner, catch process_info(Owner, [initial_call, current_function, links])}.

back_to(Use, Tries) ->
    case at_rest() of
        Use -> ok;
        {Blocks, Bytes} when Tries =< 1 ->
            {Blocks0, Bytes0} = Use,
            {fail, {xets_leak, #{blocks => Blocks - Blocks0, bytes => Bytes - Bytes0}}};
        _ ->
            timer:sleep(50),
            back_to(Use, Tries - 1)
    end.

%% xets's heap use once every thread has freed what it could.
at_rest() ->
    %% Terms that no one can reach may still hold resources (a select
    %% plan, a table) whose memory their destructors free.
    [erlang:garbage_collect(P) || P <- processes()],
    ok = xets_nif:reaper_drain(),
    wait([spawn_opt(fun() -> ok = xets_nif:quiesce_normal() end, [{scheduler, S}, monitor])
          || S <- lists:seq(1, erlang:system_info(schedulers_online))]),
    dirty(quiesce_dirty_cpu, erlang:system_info(dirty_cpu_schedulers_online)),
    dirty(quiesce_dirty_io, erlang:system_info(dirty_io_schedulers)),
    ok = xets_nif:reaper_drain(),
    xets_nif:alloc_stats().

%% N simultaneous calls, one per dirty scheduler of the kind: each waits in
%% C for the others, so no two run on the same thread.
dirty(Fun, N) ->
    Round = erlang:unique_integer(),
    wait([spawn_monitor(fun() -> ok = xets_nif:Fun(Round, N) end) || _ <- lists:seq(1, N)]).

wait(Monitors) ->
    [receive {'DOWN', Ref, process, Pid, Reason} -> normal = Reason end
     || {Pid, Ref} <- Monitors],
    ok.
