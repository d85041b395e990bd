%% `make demo`: xets doing the job of ets, side by side, in under a minute.
%% The same calls go to both modules; the results are shown together and
%% compared, then a quick timing of inserts and lookups prints the ratio.
%% Last, what ets cannot do: a persistent table written by another VM that
%% is killed with SIGKILL mid-write, reopened here with every write it
%% acknowledged.
-module(xets_demo).
-export([main/0, crash_writer/2]).

main() ->
    io:format("xets demo on OTP ~s, ~p schedulers~n~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers)]),
    same_answers(),
    ownership(),
    timing(),
    crash(),
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

crash() ->
    io:format("~n4. A persistent table survives a crash: another VM writes with {sync, always},~n"
              "   is killed with SIGKILL, and the table is reopened here~n"),
    Root = filename:join(tmp(), "xets_demo_" ++ os:getpid()),
    Dir = filename:join(Root, "table"),
    Acks = filename:join(Root, "acks"),
    ok = filelib:ensure_dir(filename:join(Acks, "x")),
    Paths = lists:usort([filename:dirname(code:which(M)) || M <- [xets, xets_nif, ?MODULE]]),
    {ok, Peer, _} = peer:start(#{connection => standard_io,
                                 args => lists:append([["-pa", P] || P <- Paths])}),
    OsPid = peer:call(Peer, os, getpid, []),
    ok = peer:call(Peer, ?MODULE, crash_writer, [Dir, Acks]),
    timer:sleep(500),
    _ = os:cmd("kill -9 " ++ OsPid),
    catch peer:stop(Peer),
    {ok, T} = open_released(Dir, 500),
    Acked = lists:append([read_acks(filename:join(Acks, F))
                          || F <- element(2, file:list_dir(Acks))]),
    Found = [K || K <- Acked, xets:member(T, K)],
    io:format("   VM ~s killed after 0.5 s; its 8 writers had acknowledged ~p inserts~n"
              "   reopened: ~p objects, ~p of the ~p acknowledged found, ~s~n",
              [OsPid, length(Acked), xets:info(T, size), length(Found), length(Acked),
               case length(Found) =:= length(Acked) of
                   true -> "none lost";
                   false -> "SOME LOST"
               end]),
    ok = xets:close(T),
    ok = xets:destroy(Dir),
    _ = os:cmd("rm -rf " ++ Root),
    ok.

%% The OS releases a killed VM's lock on the directory as it tears the
%% process down, a moment after kill returns.
open_released(Dir, Tries) ->
    case xets:open(demo_table, Dir, []) of
        {error, {locked, _}} when Tries > 0 -> timer:sleep(10), open_released(Dir, Tries - 1);
        Result -> Result
    end.

tmp() ->
    case os:getenv("TMPDIR") of
        V when V =:= false; V =:= "" -> "/tmp";
        V -> V
    end.

read_acks(File) ->
    {ok, Bin} = file:read_file(File),
    [binary_to_term(B) || <<Len:32, B:Len/binary>> <= Bin].

%% In the VM to be killed: a table in Dir, and 8 writers that insert with
%% {sync, always} and note each key once insert/2 has returned, in a file
%% of their own (written through to the OS, which keeps it when the VM is
%% killed).
crash_writer(Dir, Acks) ->
    Self = self(),
    spawn(fun() ->
                  {ok, T} = xets:open(demo_table, Dir, [public, {sync, always}]),
                  Self ! {table, T},
                  receive never -> ok end
          end),
    T = receive {table, Tab} -> Tab end,
    [spawn(fun() ->
                   {ok, F} = file:open(filename:join(Acks, integer_to_list(W)), [raw, append, binary]),
                   write_forever(T, F, W, 1)
           end) || W <- lists:seq(1, 8)],
    ok.

write_forever(T, F, W, I) ->
    true = xets:insert(T, {{W, I}, erlang:phash2(I)}),
    B = term_to_binary({W, I}),
    ok = file:write(F, <<(byte_size(B)):32, B/binary>>),
    write_forever(T, F, W, I + 1).
