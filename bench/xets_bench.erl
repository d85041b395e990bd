%% Benchmarks of xets against native ets, in one run, alternating the two so
%% that the noise of a shared machine falls on both. Ratios are xets / ets.
%%
%%   make bench        every section below, about 10 minutes
%%   make bench-quick  a subset of each, under 2 minutes
%%   make bench-select the select_count mixes only, about 2 minutes
%%
%% Sections (each row: table type and options, mix, processes, both values):
%%   single      one process, only lookups or only inserts, default options;
%%               and "floor": xets_nif:lookup_floor/2 (a lookup's NIF call
%%               without its store's work) against ets:lookup/2, how far
%%               a lookup could go
%%   throughput  the operation mixes of OTP's ets throughput benchmark, on 1
%%               up to as many processes as there are schedulers
%%   latency     p50 / p99 / p99.9 of single lookup and insert calls
%%   size        lookup and insert throughput by object size
%%   memory      bytes per object by shape, from the OS and from info/2
%%   codec       xets's key encoding against term_to_binary/1
%%
%% Throughput is the best of ROUNDS runs (the least disturbed by the other
%% work of the machine); latency percentiles are the median of ROUNDS runs
%% (a library's own pauses recur in every run, a disturbance of the machine
%% rarely does). Tables are prefilled with the same keys for both libraries.
-module(xets_bench).
-export([main/1, profile/1]).
%% For xets_bench_disk.
-export([cpu_model/0]).

%% Keys are drawn from 1..RANGE; tables start with PREFILL distinct ones.
%% Every mix inserts and deletes at the same rate, so a table stays near
%% half full and can serve every mix and process count in turn.
-define(RANGE, 1000000).
-define(PREFILL, 500000).
%% The size section: every key present, so that large objects fit in memory.
-define(SIZE_KEYS, 10000).

%% `make bench`, `make bench-quick` and `make bench-select`: Scope is
%% "full", "quick" or "select"; the CSV and, for full, the gnuplot script go
%% to Dir.
-spec main([string()]) -> ok.
main([Scope, Dir]) ->
    Plan = (plan(list_to_atom(Scope)))#{keys => shuffled(chosen(?PREFILL, ?RANGE))},
    header(Plan),
    xets_bench_report:columns(),
    Rows = lists:append([section(S, Plan) || S <- maps:get(sections, Plan)]),
    Base = filename:join(Dir, maps:get(name, Plan)),
    xets_bench_report:write_csv(Base ++ ".csv", Rows),
    case Scope of
        "full" -> xets_bench_report:write_plot(filename:join(Dir, "throughput.gp"),
                                               "throughput.png", Rows);
        _ -> ok
    end,
    io:format("~nrows written to ~s.csv~n", [Base]).

plan(full) ->
    #{name => "latest", sections => [single, throughput, latency, size, memory, codec],
      seconds => 1.0, rounds => 3, configs => configs(), mixes => mixes(),
      samples => 100000, size_types => [set],
      memory => [{T, S} || T <- [set, ordered_set], {S, _} <- xets_bench_memory:shapes()],
      codec_seconds => 0.2};
plan(quick) ->
    #{name => "quick", sections => [single, throughput, latency, memory, codec],
      seconds => 0.3, rounds => 3, configs => lists:sublist(configs(), 2),
      mixes => [lists:keyfind(M, 1, mixes()) || M <- ["10i/10d/80l", "10i/10d/40l/40n10"]],
      samples => 20000, memory => [{set, '{I}'}], codec_seconds => 0.1};
%% The two select_count mixes on every configuration, as in full.
plan(select) ->
    #{name => "select", sections => [throughput], seconds => 1.0, rounds => 3,
      configs => configs(), mixes => [M || {"10i/10d/79l/1s" ++ _, _} = M <- mixes()]}.

%% Each table type with the options ets does best with on these mixes:
%% write_concurrency for the writers, read_concurrency for the readers.
%% ordered_set also without write_concurrency: its CA tree (write
%% concurrency) is slower than the plain tree for one process iterating.
configs() ->
    [{set, [{write_concurrency, auto}, {read_concurrency, true}]},
     {ordered_set, [{write_concurrency, true}, {read_concurrency, true}]},
     {ordered_set, [{read_concurrency, true}]},
     {bag, [{write_concurrency, auto}, {read_concurrency, true}]}].

%% The mixes of OTP's ets throughput benchmark, named by percentages of
%% i(nsert), d(elete), l(ookup), nN (a chain of N next/2), sa / sr
%% (select_count over the whole table / over a range of 1000 keys).
mixes() ->
    [{"50i/50d", [{50, insert}, {50, delete}]},
     {"10i/10d/80l", [{10, insert}, {10, delete}, {80, lookup}]},
     {"1i/1d/98l", [{1, insert}, {1, delete}, {98, lookup}]},
     {"100l", [{100, lookup}]},
     {"10i/10d/40l/40n10", [{10, insert}, {10, delete}, {40, lookup}, {40, {next_chain, 10}}]},
     {"10i/10d/40l/40n100", [{10, insert}, {10, delete}, {40, lookup}, {40, {next_chain, 100}}]},
     {"10i/10d/79l/1sa", [{10, insert}, {10, delete}, {79, lookup}, {1, {select_count, all}}]},
     {"10i/10d/79l/1sr", [{10, insert}, {10, delete}, {79, lookup}, {1, {select_count, range}}]}].

section(single, #{keys := Keys} = P) ->
    lists:append(
      [with_tables(Type, [], ?RANGE, fun(K) -> {K} end, Keys,
                   fun(Loads) ->
                           [row(single, Type, [], Name, 1, "ops/s",
                                best(P, Loads, rate(P, Mix, 1)))
                            || {Name, Mix} <- [{"100l", [{100, lookup}]},
                                               {"100i", [{100, insert}]},
                                               {"floor", [{100, floor}]}]]
                   end)
       || Type <- [set, ordered_set, bag]]);
section(throughput, #{keys := Keys, configs := Configs, mixes := Mixes} = P) ->
    lists:append(
      [with_tables(Type, Opts, ?RANGE, fun(K) -> {K} end, Keys,
                   fun(Loads) ->
                           [row(throughput, Type, Opts, Name, Procs, "ops/s",
                                best(P, Loads, rate(P, Mix, Procs)))
                            || {Name, Mix} <- Mixes,
                               Procs <- lists:seq(1, erlang:system_info(schedulers))]
                   end)
       || {Type, Opts} <- Configs]);
section(latency, #{keys := Keys, configs := Configs, samples := N} = P) ->
    Counts = lists:usort([1, erlang:system_info(schedulers)]),
    lists:append(
      [with_tables(Type, Opts, ?RANGE, fun(K) -> {K} end, Keys,
                   fun(Loads) ->
                           [row(latency, Type, Opts, [atom_to_list(Op), " ", Pct], Procs, "ns",
                                Values)
                            || Op <- [lookup, insert], Procs <- Counts,
                               {Pct, Values} <- percentiles(P, Loads, Op, Procs, N)]
                   end)
       || {Type, Opts} <- first_per_type(Configs)]);
section(size, #{size_types := Types, configs := Configs} = P) ->
    Keys = shuffled(lists:seq(1, ?SIZE_KEYS)),
    lists:append(
      [with_tables(Type, Opts, ?SIZE_KEYS, fun(K) -> {K, Value} end, Keys,
                   fun(Loads) ->
                           [row(size, Type, Opts, [atom_to_list(Op), " ", Name], 1, "ops/s",
                                best(P, Loads, rate(P, [{100, Op}], 1)))
                            || Op <- [lookup, insert]]
                   end)
       || {Type, Opts} <- first_per_type(Configs), lists:member(Type, Types),
          {Name, Value} <- values()]);
section(memory, #{memory := Cases}) ->
    lists:append(
      [begin
           {ERss, EInfo} = xets_bench_memory:per_object(ets, Type, Shape),
           {XRss, XInfo} = xets_bench_memory:per_object(xets, Type, Shape),
           [row(memory, Type, [], atom_to_list(Shape), 1, Unit, #{ets => E, xets => X})
            || {Unit, E, X} <- [{"B/obj rss", ERss, XRss}, {"B/obj info", EInfo, XInfo}]]
       end
       || {Type, Shape} <- Cases]);
%% A call takes tens of nanoseconds: a fraction of a second is millions.
section(codec, #{codec_seconds := Seconds} = P) ->
    [row(codec, Mode, none, Name, 1, "calls/s",
         best(P, #{ets => fun() -> term_to_binary(Term) end,
                   xets => fun() -> xets_nif:key_encode(Term, Mode) end},
              fun(F) -> calls_per_second(F, Seconds) end))
     || {Name, Term} <- codec_terms(), Mode <- [exact, ordered]].

%% The object values of the size section.
values() ->
    [{"bin 10B", binary:copy(<<"v">>, 10)},
     {"bin 100B", binary:copy(<<"v">>, 100)},
     {"bin 1KiB", binary:copy(<<"v">>, 1024)},
     {"bin 10KiB", binary:copy(<<"v">>, 10240)},
     {"bin 100KiB", binary:copy(<<"v">>, 102400)},
     {"100 tuples", [{N, N * N} || N <- lists:seq(1, 100)]}].

%% Keys of the kinds tables hold, for the codec section.
codec_terms() ->
    [{"small int", 123456},
     {"bignum", 1 bsl 100},
     {"float", 3.14159},
     {"atom", some_atom},
     {"binary 16B", <<"user:0123456789a">>},
     {"string 11", "hello world"},
     {"tuple 3", {user, 123456, <<"ann">>}},
     {"list 10 ints", lists:seq(1, 10)}].

row(Section, Type, Opts, Mix, Procs, Unit, #{ets := E, xets := X}) ->
    xets_bench_report:print(#{section => Section, type => Type, options => options(Opts),
                              mix => lists:flatten(Mix), procs => Procs, unit => Unit,
                              ets => E, xets => X}).

options(none) -> "-";
options([]) -> "default";
options(Opts) ->
    Short = #{write_concurrency => "wc", read_concurrency => "rc"},
    lists:join(" ", [[maps:get(K, Short), $=, atom_to_list(V)] || {K, V} <- Opts]).

%% The first options of each type, for the sections that measure only one.
first_per_type(Configs) ->
    [C || {Type, _} = C <- Configs, lists:keyfind(Type, 1, Configs) =:= C].

%% Fun of a public table of each library, of Type with Opts, prefilled with
%% the object of each of Keys; keys are drawn from 1..Range. The tables are
%% deleted afterwards.
with_tables(Type, Opts, Range, Object, Keys, Fun) ->
    Loads = maps:from_list([{Mod, table(Mod, Type, Opts, Range, Object, Keys)}
                            || Mod <- [ets, xets]]),
    try Fun(Loads)
    after [Mod:delete(T) || #{mod := Mod, tab := T} <- maps:values(Loads)]
    end.

table(Mod, Type, Opts, Range, Object, Keys) ->
    Load = xets_bench_workers:load(Mod, Mod:new(bench, [Type, public | Opts]), Range, Object),
    xets_bench_workers:prefill(Load, Keys),
    Load.

%% The throughput of Mix on Procs processes, as a measurement of a load.
rate(P, Mix, Procs) ->
    fun(Load) -> xets_bench_workers:throughput(Load, Mix, Procs, maps:get(seconds, P)) end.

best(P, Subjects, Measure) ->
    maps:map(fun(_, Vs) -> lists:max(Vs) end, alternate(P, Subjects, Measure)).

%% Each library's measurements: Measure of its subject, ROUNDS times, the
%% libraries taking turns so that a disturbance of the machine falls on both.
alternate(#{rounds := Rounds}, Subjects, Measure) ->
    Runs = [{Lib, Measure(maps:get(Lib, Subjects))} || _ <- lists:seq(1, Rounds), Lib <- [ets, xets]],
    maps:groups_from_list(fun({Lib, _}) -> Lib end, fun({_, V}) -> V end, Runs).

%% p50, p99 and p99.9 of Op under Procs processes, each the median over the
%% rounds.
percentiles(P, Loads, Op, Procs, N) ->
    Pick = fun(Load) ->
                   Ns = list_to_tuple(xets_bench_workers:latency(Load, Op, Procs, N)),
                   [element(max(1, ceil(Q * tuple_size(Ns))), Ns) || Q <- [0.50, 0.99, 0.999]]
           end,
    Runs = alternate(P, Loads, Pick),
    [{Name, maps:map(fun(_, Rs) -> median([lists:nth(I, R) || R <- Rs]) end, Runs)}
     || {I, Name} <- lists:enumerate(["p50", "p99", "p99.9"])].

median(Vs) ->
    lists:nth((length(Vs) + 1) div 2, lists:sort(Vs)).

%% Calls of F per second, over batches of calls for about Seconds.
calls_per_second(F, Seconds) ->
    garbage_collect(),
    T0 = erlang:monotonic_time(nanosecond),
    calls_until(F, T0 + round(Seconds * 1.0e9), T0, 0).

calls_until(F, Deadline, T0, Calls) ->
    repeat(F, 1000),
    case erlang:monotonic_time(nanosecond) of
        T when T < Deadline -> calls_until(F, Deadline, T0, Calls + 1000);
        T -> (Calls + 1000) / (T - T0) * 1.0e9
    end.

repeat(_F, 0) -> ok;
repeat(F, N) -> F(), repeat(F, N - 1).

%% Need distinct integers drawn uniformly from 1..Range (selection sampling:
%% each in turn is taken with probability still needed / still left).
chosen(Need, Range) ->
    chosen(1, Need, Range, []).

chosen(_K, 0, _Left, Acc) -> Acc;
chosen(K, Need, Left, Acc) ->
    case rand:uniform(Left) =< Need of
        true -> chosen(K + 1, Need - 1, Left - 1, [K | Acc]);
        false -> chosen(K + 1, Need, Left - 1, Acc)
    end.

%% In random order: a structure filled in key order would also lay out its
%% memory in key order, which flatters traversals.
shuffled(Keys) ->
    [K || {_, K} <- lists:sort([{rand:uniform(), K} || K <- Keys])].

header(#{name := Name, seconds := S, rounds := R}) ->
    {ok, Load} = file:read_file("/proc/loadavg"),
    io:format("xets benchmark (~s): OTP ~s (erts ~s), ~p schedulers, ~p cores, ~s~n",
              [Name, erlang:system_info(otp_release), erlang:system_info(version),
               erlang:system_info(schedulers), erlang:system_info(logical_processors),
               cpu_model()]),
    io:format("load average at start: ~s~n",
              [lists:join(" ", lists:sublist(string:lexemes(Load, " "), 3))]),
    io:format("keys uniform from 1..~b, tables prefilled with ~b; runs of ~.1f s;~n"
              "throughput best of ~b runs, latency median of ~b (a clock read costs ~b ns);~n"
              "ratio = xets/ets (rates: above 1 is faster; ns, bytes: below 1 is better);~n"
              "codec: the ets column is term_to_binary/1, the xets column xets_nif:key_encode/2~n~n",
              [?RANGE, ?PREFILL, float(S), R, R, xets_bench_workers:clock_overhead()]).

cpu_model() ->
    {ok, Info} = file:read_file("/proc/cpuinfo"),
    case re:run(Info, "model name\\s*: (.*)", [{capture, all_but_first, list}]) of
        {match, [Model]} -> Model;
        nomatch -> "unknown CPU"
    end.

%% bench/perf_profile: a VM running one process of Op on a prefilled xets
%% table of Type for Seconds, printing "ready <os pid>" when the prefill is
%% done, for perf to attach to.
-spec profile([string()]) -> no_return().
profile([Type, Op, Seconds]) ->
    Load = table(xets, list_to_atom(Type), [], ?RANGE, fun(K) -> {K} end,
                 shuffled(chosen(?PREFILL, ?RANGE))),
    io:format("ready ~s~n", [os:getpid()]),
    Rate = xets_bench_workers:throughput(Load, [{100, list_to_atom(Op)}], 1,
                                         list_to_integer(Seconds)),
    io:format("~s ~s: ~b ops/s~n", [Type, Op, round(Rate)]),
    halt(0).
