%% Benchmarks of xets against native ets, in one run, alternating the two so
%% that machine noise falls on both. Ratios are what we quote: xets / ets
%% throughput, above 1 when xets is faster.
%%
%%   make bench-quick    single-process insert and lookup, every table type
%%
%% Method (single process): a table prefilled with 500,000 distinct integer
%% keys drawn from 1..1,000,000, objects {K, K}; then ROUNDS rounds, each
%% timing OPS lookups of uniformly random keys from the same range (about
%% half hit) and OPS inserts of random keys (replacing or adding), on ets then
%% xets. The best round of each is reported (the least disturbed by the
%% machine's other work).
-module(xets_bench).
-export([main/0, single/2]).

-define(RANGE, 1000000).
-define(PREFILL, 500000).
-define(OPS, 200000).
-define(ROUNDS, 5).

main() ->
    io:format("xets benchmark: OTP ~s, ~p schedulers, ~s~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers), cpu_model()]),
    io:format("single process, ~p prefilled keys from 1..~p, best of ~p rounds of ~p ops~n~n",
              [?PREFILL, ?RANGE, ?ROUNDS, ?OPS]),
    io:format("~-14s ~-7s ~14s ~14s ~7s~n", ["type", "op", "ets ops/s", "xets ops/s", "ratio"]),
    [single(Type, [public]) || Type <- [set, ordered_set, bag]],
    ok.

single(Type, Opts) ->
    Keys = [rand:uniform(?RANGE) || _ <- lists:seq(1, ?OPS)],
    E = prefilled(ets, Type, Opts),
    X = prefilled(xets, Type, Opts),
    Results = [{Op, best(ets, E, Op, Keys), best(xets, X, Op, Keys)} || Op <- [lookup, insert]],
    ets:delete(E),
    xets:delete(X),
    [io:format("~-14s ~-7s ~14w ~14w ~7.2f~n", [Type, Op, EOps, XOps, XOps / EOps])
     || {Op, EOps, XOps} <- Results],
    Results.

prefilled(Mod, Type, Opts) ->
    T = Mod:new(bench, [Type | Opts]),
    fill(Mod, T, ?PREFILL, sets:new([{version, 2}])),
    T.

fill(_Mod, _T, 0, _Seen) ->
    ok;
fill(Mod, T, N, Seen) ->
    K = rand:uniform(?RANGE),
    case sets:is_element(K, Seen) of
        true -> fill(Mod, T, N, Seen);
        false -> Mod:insert(T, {K, K}), fill(Mod, T, N - 1, sets:add_element(K, Seen))
    end.

best(Mod, T, Op, Keys) ->
    lists:max([rate(Mod, T, Op, Keys) || _ <- lists:seq(1, ?ROUNDS)]).

rate(Mod, T, Op, Keys) ->
    garbage_collect(),
    {Us, ok} = timer:tc(fun() -> run(Mod, T, Op, Keys) end),
    round(length(Keys) / max(Us, 1) * 1.0e6).

run(Mod, T, lookup, [K | Ks]) -> Mod:lookup(T, K), run(Mod, T, lookup, Ks);
run(Mod, T, insert, [K | Ks]) -> Mod:insert(T, {K, K}), run(Mod, T, insert, Ks);
run(_Mod, _T, _Op, []) -> ok.

cpu_model() ->
    case file:read_file("/proc/cpuinfo") of
        {ok, Info} ->
            case re:run(Info, "model name\\s*: (.*)", [{capture, all_but_first, list}]) of
                {match, [Model]} -> Model;
                nomatch -> "unknown CPU"
            end;
        _ -> "unknown CPU"
    end.
