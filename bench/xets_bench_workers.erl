%% The processes that load a table, for the throughput and latency sections
%% of xets_bench. Modelled on the throughput benchmark of OTP's ets_SUITE:
%% workers are spawned with spawn_opt, wait for one start signal, and each
%% loops (check for the stop message, pick an operation by cumulative
%% probability, run it on a key drawn uniformly from 1..Range) until it is
%% told to stop. The same code drives ets and xets: only the functions in
%% the load differ.
%%
%% The harness's own cost per operation is kept small because it dilutes
%% every ratio towards 1: the stop check is a receive with a zero timeout
%% (a look at an empty mailbox: atomics:get/2 took a tenth of a lookup's
%% time in a profile), operations are called through funs resolved once
%% (a call Mod:lookup(...) with Mod a variable looks the function up each
%% time), and random numbers come from rand:mwc59/1.
-module(xets_bench_workers).
-export([load/4, prefill/2, throughput/4, latency/4, clock_overhead/0]).

%% What the workers run on: a table, keys 1..Range, the object an insert of
%% key K writes, and the functions of the library (ets or xets).
-type load() :: #{mod := ets | xets, tab := term(), range := pos_integer(),
                  object := fun((pos_integer()) -> tuple()),
                  insert := fun(), delete := fun(), lookup := fun(), floor := fun(),
                  next := fun(),
                  select_count := fun()}.
%% Percentages (summing to 100) of operations.
-type mix() :: [{pos_integer(), op()}].
%% floor: for xets, lookup/2 without its store's work (xets_nif:lookup_floor/2,
%% the cost of calling at all); for ets, lookup/2 itself.
-type op() :: insert | delete | lookup | floor | {next_chain, pos_integer()}
            | {select_count, all | range}.

%% Lets every worker reach its receive before the start signal.
-define(PAUSE_MS, 50).
%% Width of the key range of {select_count, range}.
-define(SELECT_RANGE, 1000).

%% The load of table Tab of library Mod.
-spec load(ets | xets, term(), pos_integer(), fun((pos_integer()) -> tuple())) -> load().
load(Mod, Tab, Range, Object) ->
    #{mod => Mod, tab => Tab, range => Range, object => Object,
      insert => fun Mod:insert/2, delete => fun Mod:delete/2, lookup => fun Mod:lookup/2,
      floor => case Mod of xets -> fun xets_nif:lookup_floor/2; ets -> fun ets:lookup/2 end,
      next => fun Mod:next/2, select_count => fun Mod:select_count/2}.

%% Inserts the object of each key, in the order given.
-spec prefill(load(), [pos_integer()]) -> ok.
prefill(#{insert := Insert, tab := T, object := Obj}, Keys) ->
    lists:foreach(fun(K) -> Insert(T, Obj(K)) end, Keys).

%% Operations per second of Procs workers running Mix for Seconds: all the
%% operations done, over the time from the first worker's start to the last
%% worker's end (a long select_count may finish well after the stop message).
-spec throughput(load(), mix(), pos_integer(), number()) -> float().
throughput(Load, Mix, Procs, Seconds) ->
    Cumulative = cumulative(Mix, 0),
    Done = together(Procs, fun() -> ops_until(Load, Cumulative, rand:mwc59_seed(), 0) end,
                    fun(Workers) ->
                            timer:sleep(round(Seconds * 1000)),
                            [W ! stop || W <- Workers]
                    end),
    {Starts, Ends, Counts} = lists:unzip3(Done),
    Wall = erlang:convert_time_unit(lists:max(Ends) - lists:min(Starts), native, nanosecond),
    lists:sum(Counts) / Wall * 1.0e9.

%% Nanoseconds taken by each of Samples calls of Op (lookup or insert) in
%% each of Procs workers running together, sorted. A sample includes one
%% clock read (clock_overhead/0).
-spec latency(load(), lookup | insert, pos_integer(), pos_integer()) -> [integer()].
latency(Load, Op, Procs, Samples) ->
    Done = together(Procs, fun() -> timed(Load, Op, Samples, rand:mwc59_seed(), []) end,
                    fun(_) -> ok end),
    lists:sort(lists:append([Ns || {_, _, Ns} <- Done])).

%% The median of back-to-back clock reads: the floor of every latency sample.
-spec clock_overhead() -> integer().
clock_overhead() ->
    lists:nth(5001, lists:sort([clock_read() || _ <- lists:seq(1, 10001)])).

clock_read() ->
    T0 = erlang:monotonic_time(nanosecond),
    erlang:monotonic_time(nanosecond) - T0.

%% Runs Work in Procs fresh processes started by one message each after all
%% are ready, and WhileRunning(Workers) in the caller meanwhile. Returns
%% each worker's {Start, End, Result}, times in native units.
together(Procs, Work, WhileRunning) ->
    Parent = self(),
    Workers = [spawn_opt(fun() ->
                                 Parent ! {ready, self()},
                                 receive go -> ok end,
                                 Start = erlang:monotonic_time(),
                                 Result = Work(),
                                 Parent ! {done, self(), {Start, erlang:monotonic_time(), Result}}
                         end, [link])
               || _ <- lists:seq(1, Procs)],
    [receive {ready, W} -> ok end || W <- Workers],
    timer:sleep(?PAUSE_MS),
    [W ! go || W <- Workers],
    WhileRunning(Workers),
    [receive {done, W, Done} -> Done end || W <- Workers].

cumulative([], _Sum) -> [];
cumulative([{Percent, Op} | Rest], Sum) -> [{Sum + Percent, Op} | cumulative(Rest, Sum + Percent)].

ops_until(Load, Mix, Seed, N) ->
    receive
        stop -> N
    after 0 ->
            S1 = rand:mwc59(Seed),
            S2 = rand:mwc59(S1),
            Op = pick(rand:mwc59_value32(S1) rem 100, Mix),
            ops_until(Load, Mix, run(Op, Load, key(S2, Load), S2), N + 1)
    end.

pick(Roll, [{Below, Op} | _]) when Roll < Below -> Op;
pick(Roll, [_ | Rest]) -> pick(Roll, Rest).

key(Seed, #{range := Range}) ->
    rand:mwc59_value32(Seed) rem Range + 1.

%% Runs one operation on key K; returns the random state, which a next
%% chain advances.
run(insert, #{insert := Insert, tab := T, object := Obj}, K, Seed) ->
    Insert(T, Obj(K)),
    Seed;
run(delete, #{delete := Delete, tab := T}, K, Seed) ->
    Delete(T, K),
    Seed;
run(lookup, #{lookup := Lookup, tab := T}, K, Seed) ->
    Lookup(T, K),
    Seed;
run(floor, #{floor := Floor, tab := T}, K, Seed) ->
    Floor(T, K),
    Seed;
run({next_chain, Length}, Load, K, Seed) ->
    next_chain(Load, K, Length, Seed);
run({select_count, all}, #{select_count := SelectCount, tab := T}, _K, Seed) ->
    SelectCount(T, [{{'$1'}, [], [true]}]),
    Seed;
%% A guard range: the key is unbound in the pattern. ets (OTP 25) then
%% visits the whole table, a range select costing what a full one does.
run({select_count, range}, #{select_count := SelectCount, tab := T}, K, Seed) ->
    SelectCount(T, [{{'$1'}, [{'>=', '$1', K}, {'<', '$1', K + ?SELECT_RANGE}], [true]}]),
    Seed.

%% As in OTP's benchmark: next/2 on a set or bag raises badarg for a key the
%% table does not hold (half of the random starts), and the chain goes on
%% from a new random key. Each step counts within the one operation.
next_chain(_Load, _K, 0, Seed) ->
    Seed;
next_chain(_Load, '$end_of_table', _Left, Seed) ->
    Seed;
next_chain(#{next := NextOf, tab := T} = Load, K, Left, Seed) ->
    {Next, S} = try {NextOf(T, K), Seed}
                catch error:badarg -> S1 = rand:mwc59(Seed), {key(S1, Load), S1}
                end,
    next_chain(Load, Next, Left - 1, S).

timed(_Load, _Op, 0, _Seed, Ns) ->
    Ns;
timed(#{lookup := Lookup, insert := Insert, tab := T, object := Obj} = Load, Op, Left, Seed,
      Ns) ->
    S = rand:mwc59(Seed),
    K = key(S, Load),
    Took = case Op of
               lookup ->
                   T0 = erlang:monotonic_time(nanosecond),
                   Lookup(T, K),
                   erlang:monotonic_time(nanosecond) - T0;
               insert ->
                   O = Obj(K),
                   T0 = erlang:monotonic_time(nanosecond),
                   Insert(T, O),
                   erlang:monotonic_time(nanosecond) - T0
           end,
    timed(Load, Op, Left - 1, S, [Took | Ns]).
