%% `make demo`: xets doing the job of ets, side by side, in under a minute.
%% The same calls go to both modules; the results are shown together and
%% compared, then a quick timing of inserts and lookups prints the ratio.
-module(xets_demo).
-export([main/0]).

main() ->
    io:format("xets demo on OTP ~s, ~p schedulers~n~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers)]),
    same_answers(),
    ownership(),
    timing(),
    ok.

same_answers() ->
    io:format("1. The same calls on ets and xets give the same answers~n"),
    Calls = [{"insert a list", fun(M, T) -> M:insert(T, [{1, one}, {2.0, two}, {<<"k">>, bin}]) end},
             {"lookup 1.0 in ordered_set (== key)", fun(M, T) -> M:lookup(T, 1.0) end},
             {"insert_new of a present key", fun(M, T) -> M:insert_new(T, {1, uno}) end},
             {"update_counter with default", fun(M, T) -> M:update_counter(T, c, {2, 5}, {c, 100}) end},
             {"first / next in term order", fun(M, T) -> F = M:first(T), {F, M:next(T, F)} end},
             {"tab2list", fun(M, T) -> M:tab2list(T) end},
             {"lookup_element on a missing key", fun(M, T) -> catch M:lookup_element(T, nope, 2) end}],
    E = ets:new(demo, [ordered_set]),
    X = xets:new(demo, [ordered_set]),
    lists:foreach(
      fun({What, F}) ->
              R1 = F(ets, E),
              R2 = F(xets, X),
              io:format("   ~-38s ets: ~-34s xets: ~-34s ~s~n",
                        [What, short(R1), short(R2), verdict(R1, R2)])
      end, Calls),
    io:format("~n").

%% Exceptions differ only in the module named in the stack trace.
verdict({'EXIT', {R, _}}, {'EXIT', {R, _}}) -> "same";
verdict(R, R) -> "same";
verdict(_, _) -> "DIFFERENT".

short({'EXIT', {Reason, _}}) -> io_lib:format("exception ~p", [Reason]);
short(R) -> lists:flatten(io_lib:format("~0p", [R])).

ownership() ->
    io:format("2. Tables belong to processes: the heir inherits a table when its owner dies~n"),
    Self = self(),
    Owner = spawn(fun() ->
                          T = xets:new(inherited, [named_table, {heir, Self, gift}]),
                          xets:insert(T, {saved, 42}),
                          Self ! ready
                  end),
    receive ready -> ok end,
    receive {'ETS-TRANSFER', Tab, Owner, Data} ->
            io:format("   heir received {'ETS-TRANSFER', ~p, Owner, ~p}; lookup: ~0p~n~n",
                      [Tab, Data, xets:lookup(Tab, saved)]),
            xets:delete(Tab)
    after 2000 -> io:format("   no transfer arrived~n~n")
    end.

timing() ->
    N = 200000,
    io:format("3. A quick single-process timing: ~p inserts, then ~p lookups of random keys~n", [N, N]),
    Keys = [rand:uniform(1000000) || _ <- lists:seq(1, N)],
    io:format("   ~-14s ~12s ~12s ~12s ~12s ~8s~n",
              ["type", "ets ins/s", "xets ins/s", "ets look/s", "xets look/s", "ratio"]),
    lists:foreach(
      fun(Type) ->
              {EI, EL} = time_ops(ets, Type, Keys),
              {XI, XL} = time_ops(xets, Type, Keys),
              io:format("   ~-14s ~12w ~12w ~12w ~12w ~4.2fx/~4.2fx~n",
                        [Type, EI, XI, EL, XL, XI / EI, XL / EL])
      end, [set, ordered_set]),
    io:format("   (ratio: xets/ets for inserts / lookups; above 1 means xets is faster)~n").

time_ops(Mod, Type, Keys) ->
    T = Mod:new(timing, [Type, public]),
    N = length(Keys),
    {TI, _} = timer:tc(fun() -> lists:foreach(fun(K) -> Mod:insert(T, {K, K}) end, Keys) end),
    {TL, _} = timer:tc(fun() -> lists:foreach(fun(K) -> Mod:lookup(T, K) end, Keys) end),
    Mod:delete(T),
    {round(N / TI * 1.0e6), round(N / TL * 1.0e6)}.
