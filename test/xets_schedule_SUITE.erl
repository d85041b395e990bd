%% Bulk operations on a table of 1,000,000 objects never hold a normal
%% scheduler for long (DESIGN.md, Concurrency: "A NIF call on a normal
%% scheduler returns within about a millisecond, whatever the table
%% size"): insert of a 1,000,000-object list, tab2list, foldl,
%% delete_all_objects and delete/1, on set and ordered_set. Nor does one
%% long object, which xets copies in and out where ets shares a binary (a
%% 256 MiB binary, and a list of 1,000,000 integers to build on the way
%% out): its insert, lookup, take, tab2list, select, update_element and
%% delete_object; nor a short list of long objects (128 of 2 MiB).
%%
%% How: the operation runs in a fresh worker process while this test
%% process is the node's system monitor with {long_schedule, 5}; a
%% {monitor, Worker, long_schedule, Info} message means the worker ran for
%% more than 5 ms without being scheduled out. The monitor is per node and
%% has a single owner: the previous setting is saved and restored.
%%
%% The machine may be busy (a 2-core box where the OS can preempt a
%% scheduler thread for a few ms at any time, more under a load of 8), so
%% an attempt counts as clean if it was never reported, or only sporadically:
%% fewer than ?SPORADIC reports, none longer than ?PREEMPTED times the
%% limit. An operation fails only if every one of ?ATTEMPTS attempts was
%% not clean. What a real defect looks like is reported every time: a call
%% that does not yield holds its scheduler for tens or hundreds of ms on a
%% million objects, and chunks that are too long are reported by the
%% hundred. The first case shows the
%% monitor catches such a call (setelement/3 on a 16,000,000-element
%% tuple: one uninterruptible copy of 128 MB).
%%
%% The module under test is `xets', or XETS_TEST_MOD (with
%% XETS_TEST_MOD=ets this measures ets itself, whose BIFs yield in slices
%% that are not always under 5 ms). XETS_SCHED_LIMIT_MS overrides the 5 ms.
-module(xets_schedule_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([suite/0, all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2]).
-export([monitor_catches_a_long_non_yielding_call/1,
         insert_of_a_million_object_list_keeps_schedules_short/1,
         tab2list_of_a_million_objects_keeps_schedules_short/1,
         foldl_over_a_million_objects_keeps_schedules_short/1,
         delete_all_objects_of_a_million_objects_keeps_schedules_short/1,
         delete_of_a_million_object_table_keeps_schedules_short/1,
         insert_of_a_256_mib_object_keeps_schedules_short/1,
         lookup_of_a_256_mib_object_keeps_schedules_short/1,
         take_of_a_256_mib_object_keeps_schedules_short/1,
         tab2list_of_a_256_mib_object_keeps_schedules_short/1,
         select_of_a_256_mib_object_keeps_schedules_short/1,
         update_element_of_a_256_mib_object_keeps_schedules_short/1,
         delete_object_of_a_256_mib_object_keeps_schedules_short/1,
         insert_of_a_list_of_128_objects_of_2_mib_keeps_schedules_short/1]).

-define(N, 1000000).
%% Bytes of the long object's binary.
-define(LONG, (256 * 1024 * 1024)).
-define(ATTEMPTS, 5).
-define(SPORADIC, 5).
-define(PREEMPTED, 4).
%% Words: enough that the worker does not garbage collect during the op.
-define(HEAP, 16#1000000).

suite() ->
    [{timetrap, {minutes, 4}}].

all() ->
    [monitor_catches_a_long_non_yielding_call, {group, set}, {group, ordered_set}].

groups() ->
    Cases = [insert_of_a_million_object_list_keeps_schedules_short,
             tab2list_of_a_million_objects_keeps_schedules_short,
             foldl_over_a_million_objects_keeps_schedules_short,
             delete_all_objects_of_a_million_objects_keeps_schedules_short,
             delete_of_a_million_object_table_keeps_schedules_short,
             insert_of_a_256_mib_object_keeps_schedules_short,
             lookup_of_a_256_mib_object_keeps_schedules_short,
             take_of_a_256_mib_object_keeps_schedules_short,
             tab2list_of_a_256_mib_object_keeps_schedules_short,
             select_of_a_256_mib_object_keeps_schedules_short,
             update_element_of_a_256_mib_object_keeps_schedules_short,
             delete_object_of_a_256_mib_object_keeps_schedules_short,
             insert_of_a_list_of_128_objects_of_2_mib_keeps_schedules_short],
    [{set, [], Cases}, {ordered_set, [], Cases}].

init_per_suite(Config) ->
    Mod = xets_test_lib:module_under_test(),
    Limit = case os:getenv("XETS_SCHED_LIMIT_MS") of
                false -> 5;
                "" -> 5;
                L -> list_to_integer(L)
            end,
    ct:pal("module under test: ~p, long_schedule limit ~p ms", [Mod, Limit]),
    [{mod, Mod}, {limit, Limit} | Config].

end_per_suite(_Config) ->
    ok.

init_per_group(Type, Config) ->
    [{type, Type} | Config].

end_per_group(_Type, _Config) ->
    ok.

%%====================================================================
%% Cases
%%====================================================================

%% Without this, the other cases could pass because the monitor never
%% reports anything.
monitor_catches_a_long_non_yielding_call(Config) ->
    {Result, Events} = attempt(fun() -> erlang:make_tuple(16000000, x) end,
                               fun(T) -> tuple_size(setelement(1, T, y)) end,
                               ?config(limit, Config)),
    16000000 = Result,
    ct:pal("long_schedule reports for the deliberate long call: ~p", [Events]),
    Limit = ?config(limit, Config),
    case Events of
        [] -> ct:fail(long_call_not_reported);
        _ -> longest(Events) > ?PREEMPTED * Limit orelse ct:fail({taken_for_a_preemption, Events})
    end.

insert_of_a_million_object_list_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config,
          fun() -> {new(M, Config), [{I, I} || I <- lists:seq(1, ?N)]} end,
          fun({T, L}) -> true = M:insert(T, L), M:info(T, size) end,
          ?N).

tab2list_of_a_million_objects_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> full(M, Config) end,
          fun(T) -> length(M:tab2list(T)) end,
          ?N).

foldl_over_a_million_objects_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> full(M, Config) end,
          fun(T) -> M:foldl(fun({_, _}, N) -> N + 1 end, 0, T) end,
          ?N).

delete_all_objects_of_a_million_objects_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> full(M, Config) end,
          fun(T) -> true = M:delete_all_objects(T), M:info(T, size) end,
          0).

delete_of_a_million_object_table_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> full(M, Config) end,
          fun(T) -> true = M:delete(T), M:info(T) end,
          undefined).

insert_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> {new(M, Config), long_object()} end,
          fun({T, O}) -> true = M:insert(T, O), M:info(T, size) end,
          1).

lookup_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> with_long_object(M, Config) end,
          fun(T) -> [{long, B, _}] = M:lookup(T, long), byte_size(B) end,
          ?LONG).

take_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> with_long_object(M, Config) end,
          fun(T) -> [{long, B, _}] = M:take(T, long), {byte_size(B), M:info(T, size)} end,
          {?LONG, 0}).

tab2list_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> with_long_object(M, Config) end,
          fun(T) -> [byte_size(B) || {_, B, _} <- M:tab2list(T)] end,
          [?LONG]).

select_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> with_long_object(M, Config) end,
          fun(T) -> [byte_size(B) || {_, B, _} <- M:select(T, [{'_', [], ['$_']}])] end,
          [?LONG]).

update_element_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> with_long_object(M, Config) end,
          fun(T) -> M:update_element(T, long, {3, [x]}) end,
          true).

delete_object_of_a_256_mib_object_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config, fun() -> O = long_object(), T = new(M, Config), true = M:insert(T, O), {T, O} end,
          fun({T, O}) -> true = M:delete_object(T, O), M:info(T, size) end,
          0).

insert_of_a_list_of_128_objects_of_2_mib_keeps_schedules_short(Config) ->
    M = ?config(mod, Config),
    short(Config,
          fun() -> {new(M, Config), [{I, binary:copy(<<I>>, 2 * 1024 * 1024)} || I <- lists:seq(1, 128)]} end,
          fun({T, L}) -> true = M:insert(T, L), M:info(T, size) end,
          128).

%%====================================================================
%% Helpers
%%====================================================================

long_object() ->
    {long, binary:copy(<<"0123456789abcdef">>, ?LONG div 16), lists:seq(1, 1000000)}.

with_long_object(M, Config) ->
    T = new(M, Config),
    true = M:insert(T, long_object()),
    T.

new(M, Config) ->
    M:new(xets_sched, [?config(type, Config), public]).

full(M, Config) ->
    T = new(M, Config),
    true = M:insert(T, [{I, I} || I <- lists:seq(1, ?N)]),
    ?N = M:info(T, size),
    T.

%% Passes as soon as one attempt of Op (after Prepare, both in a fresh
%% worker) was clean (see the top of the file); fails if none was.
%% Op's result must be Expected every time (the work was really done).
short(Config, Prepare, Op, Expected) ->
    Limit = ?config(limit, Config),
    short(Prepare, Op, Expected, Limit, 1, []).

short(_Prepare, _Op, _Expected, Limit, Attempt, Reports) when Attempt > ?ATTEMPTS ->
    ct:fail({long_schedules_in_every_attempt, Limit, lists:reverse(Reports)});
short(Prepare, Op, Expected, Limit, Attempt, Reports) ->
    {Result, Events} = attempt(Prepare, Op, Limit),
    case Result of
        Expected -> ok;
        _ -> ct:fail({wrong_result, Result, expected, Expected})
    end,
    case Events =:= [] orelse
        (length(Events) < ?SPORADIC andalso longest(Events) =< ?PREEMPTED * Limit) of
        true ->
            ct:pal("attempt ~p: no long schedule but sporadic ones ~p (earlier attempts: ~p)",
                   [Attempt, Events, lists:reverse(Reports)]);
        false ->
            ct:pal("attempt ~p: ~p long schedule(s), longest ~p ms: ~p",
                   [Attempt, length(Events), longest(Events), Events]),
            short(Prepare, Op, Expected, Limit, Attempt + 1,
                  [{attempt, Attempt, longest(Events), Events} | Reports])
    end.

longest(Events) ->
    lists:max([proplists:get_value(timeout, I, 0) || I <- Events]).

%% Runs Prepare() in a fresh worker, then Op on its result with the
%% long_schedule monitor on. Returns {Op's result, the reports that named
%% the worker}.
attempt(Prepare, Op, Limit) ->
    Self = self(),
    {Pid, Ref} = spawn_opt(fun() -> worker(Self, Prepare, Op) end,
                           [monitor, {min_heap_size, ?HEAP}]),
    receive
        {ready, Pid} -> ok;
        {'DOWN', Ref, process, Pid, Why} -> ct:fail({worker_died_preparing, Why})
    after 120000 -> ct:fail(worker_prepare_timeout)
    end,
    flush_monitor(),
    Previous = erlang:system_monitor(self(), [{long_schedule, Limit}]),
    Result = try
                 Pid ! go,
                 R = receive
                         {done, Pid, R0} -> R0;
                         {'DOWN', Ref, process, Pid, Why2} -> ct:fail({worker_died, Why2})
                     after 120000 -> ct:fail(worker_timeout)
                     end,
                 %% the report for the worker's last slot is sent when it
                 %% is scheduled out, after it sent 'done'
                 wait_waiting(Pid, 1000),
                 timer:sleep(20),
                 R
             after
                 erlang:system_monitor(Previous)
             end,
    Events = collect(Pid, []),
    Pid ! stop,
    receive {'DOWN', Ref, process, Pid, _} -> ok end,
    {Result, Events}.

worker(Parent, Prepare, Op) ->
    State = Prepare(),
    Parent ! {ready, self()},
    receive go -> ok end,
    Result = Op(State),
    erlang:yield(),
    Parent ! {done, self(), Result},
    receive stop -> ok end.

%% The reports already delivered (the monitor is off by now).
collect(Pid, Acc) ->
    receive
        {monitor, Pid, long_schedule, Info} -> collect(Pid, [Info | Acc]);
        {monitor, _, _, _} -> collect(Pid, Acc)
    after 0 ->
            lists:reverse(Acc)
    end.

wait_waiting(_Pid, 0) ->
    ok;
wait_waiting(Pid, N) ->
    case erlang:process_info(Pid, status) of
        {status, waiting} -> ok;
        _ -> timer:sleep(1), wait_waiting(Pid, N - 1)
    end.

flush_monitor() ->
    receive {monitor, _, _, _} -> flush_monitor() after 0 -> ok end.
