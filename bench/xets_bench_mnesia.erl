%% `make bench-mnesia`: Mnesia tables of the three disc storages,
%% xets_copies (xets_mnesia), disc_copies and disc_only_copies, in one run.
%% Everything runs in peer nodes on 127.0.0.1 (longnames, distribution on
%% the loopback only), each with Mnesia's directory in a fresh temp dir,
%% removed at the end. Records are {t, K, V}, K an integer, V a 100-byte
%% binary; the table a set.
%%
%% Rows (rates in operations a second from one process on the first node;
%% ratio = xets_copies / the other, above 1 xets_copies is faster for rates
%% and below 1 for times):
%%   dirty_write, dirty_read, tx write, tx read: OPS operations (a quarter
%%     of that for transactions, one record each) on random keys, with the
%%     table on 1 node and on 3 (replicated on all three);
%%   load: the time of mnesia:add_table_copy/3 of a table of N records
%%     onto a node that has none.
-module(xets_bench_mnesia).
-export([main/1]).
%% Run in the peers.
-export([rate/4, fill/3]).

-define(ROW, "~-12s ~5s ~9s ~12s ~12s ~6s ~16s ~6s~n").
-define(STORAGES, [xets_copies, disc_copies, disc_only_copies]).

-spec main([string()]) -> ok.
main([NText, OpsText, Results]) ->
    N = list_to_integer(NText),
    Ops = list_to_integer(OpsText),
    logger:set_primary_config(level, error),
    _ = os:cmd(epmd() ++ " -daemon"),
    Tmp = filename:join(temp_root(), "xets_bench_mnesia." ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    header(N, Ops, Tmp),
    io:format(?ROW, ["what", "nodes", "unit", "xets_copies", "disc_copies", "ratio",
                     "disc_only_copies", "ratio"]),
    Rows = try
               lists:append([throughput(Tmp, Ops, Nodes) || Nodes <- [1, 3]]) ++ [load(Tmp, N)]
           after
               _ = file:del_dir_r(Tmp)
           end,
    Csv = filename:join(Results, "mnesia.csv"),
    write_csv(Csv, Rows),
    io:format("~nrows written to ~s; ~s removed~n", [Csv, Tmp]).

%% The four rates of each storage, the table on Count nodes.
throughput(Tmp, Ops, Count) ->
    Peers = cluster(Tmp, lists:sublist([a, b, c], Count)),
    try
        [{P1, _} | _] = Peers,
        Ns = [N || {_, N} <- Peers],
        Kinds = [{"dirty_write", dirty_write, Ops}, {"dirty_read", dirty_read, Ops},
                 {"tx write", tx_write, Ops div 4}, {"tx read", tx_read, Ops div 4}],
        Results = [{S, [{K, peer:call(P1, ?MODULE, rate, [table(S), K, Ops, C], infinity)}
                        || {_, K, C} <- Kinds]}
                   || S <- ?STORAGES,
                      {atomic, ok} =:= peer:call(P1, mnesia, create_table,
                                                 [table(S), [{S, Ns}, {record_name, t},
                                                             {attributes, [k, v]}]])],
        [print(#{what => What, nodes => Count, unit => "ops/s",
                 values => [proplists:get_value(K, proplists:get_value(S, Results)) || S <- ?STORAGES]})
         || {What, K, _} <- Kinds]
    after
        stop(Peers)
    end.

%% In the first peer: Count operations of Kind a second (Ops keys).
-spec rate(atom(), atom(), pos_integer(), pos_integer()) -> float().
rate(T, Kind, Ops, Count) ->
    V = binary:copy(<<"v">>, 100),
    [ok = mnesia:dirty_write(T, {t, K, V}) || K <- lists:seq(1, Ops), Kind =/= dirty_write],
    Keys = [rand:uniform(Ops) || _ <- lists:seq(1, Count)],
    Op = case Kind of
             dirty_write -> fun(K) -> mnesia:dirty_write(T, {t, K, V}) end;
             dirty_read -> fun(K) -> mnesia:dirty_read(T, K) end;
             tx_write -> fun(K) -> {atomic, ok} = mnesia:transaction(
                                                    fun() -> mnesia:write(T, {t, K, V}, write) end) end;
             tx_read -> fun(K) -> {atomic, _} = mnesia:transaction(
                                                  fun() -> mnesia:read(T, K) end) end
         end,
    T0 = erlang:monotonic_time(microsecond),
    lists:foreach(Op, Keys),
    Count * 1.0e6 / max(1, erlang:monotonic_time(microsecond) - T0).

%% The time of add_table_copy of N records, for each storage.
load(Tmp, N) ->
    Peers = cluster(Tmp, [a, b]),
    try
        [{PA, A}, {PB, B}] = Peers,
        Ms = [begin
                  {atomic, ok} = peer:call(PA, mnesia, create_table,
                                           [table(S), [{S, [A]}, {record_name, t},
                                                       {attributes, [k, v]}]]),
                  ok = peer:call(PA, ?MODULE, fill, [table(S), N, 1000], infinity),
                  T0 = erlang:monotonic_time(microsecond),
                  {atomic, ok} = peer:call(PB, mnesia, add_table_copy, [table(S), B, S], infinity),
                  (erlang:monotonic_time(microsecond) - T0) / 1000
              end || S <- ?STORAGES],
        print(#{what => "load " ++ integer_to_list(N), nodes => 2, unit => "ms", values => Ms})
    after
        stop(Peers)
    end.

%% In a peer: N records into T, Batch a transaction.
-spec fill(atom(), pos_integer(), pos_integer()) -> ok.
fill(T, N, Batch) ->
    V = binary:copy(<<"v">>, 100),
    lists:foreach(
      fun(K0) ->
              {atomic, ok} = mnesia:transaction(
                               fun() ->
                                       [mnesia:write(T, {t, K, V}, write)
                                        || K <- lists:seq(K0, min(N, K0 + Batch - 1))],
                                       ok
                               end)
      end, lists:seq(1, N, Batch)).

table(S) -> list_to_atom("t_" ++ atom_to_list(S)).

print(#{what := What, nodes := Nodes, unit := Unit, values := [X, D, O]} = Row) ->
    io:format(?ROW, [What, integer_to_list(Nodes), Unit, text(X), text(D), text(X / D),
                     text(O), text(X / O)]),
    Row.

text(V) when is_float(V), abs(V) < 10 -> float_to_list(V, [{decimals, 2}]);
text(V) when is_float(V), abs(V) < 10000 -> float_to_list(V, [{decimals, 1}]);
text(V) -> integer_to_list(round(V)).

write_csv(File, Rows) ->
    Header = "what,nodes,unit,xets_copies,disc_copies,disc_only_copies,ratio_disc_copies,"
             "ratio_disc_only_copies\n",
    Lines = [lists:join(",", [W, integer_to_list(Nodes), U, text(X), text(D), text(O),
                              text(X / D), text(X / O)]) ++ "\n"
             || #{what := W, nodes := Nodes, unit := U, values := [X, D, O]} <- Rows],
    ok = file:write_file(File, [Header | Lines]).

%% Peers named Name@127.0.0.1 with one schema and Mnesia running:
%% [{Peer, Node}].
cluster(Tmp, Names) ->
    Base = filename:join(Tmp, integer_to_list(erlang:unique_integer([positive]))),
    Paths = lists:usort([filename:dirname(code:which(M)) || M <- [xets, xets_mnesia, ?MODULE]]),
    Peers = [begin
                 Dir = filename:join(Base, atom_to_list(Name)),
                 ok = filelib:ensure_dir(filename:join(Dir, "x")),
                 Args = lists:append([["-pa", P] || P <- Paths]) ++
                     ["-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                      "-kernel", "logger_level", "error",
                      "-mnesia", "dir", "\"" ++ Dir ++ "\""],
                 Unique = list_to_atom(atom_to_list(Name) ++ "_bench_" ++ os:getpid()),
                 {ok, P, N} = peer:start(#{name => Unique, host => "127.0.0.1", longnames => true,
                                           connection => standard_io, args => Args,
                                           wait_boot => 30000}),
                 {P, N}
             end || Name <- Names],
    Ns = [N || {_, N} <- Peers],
    [{P1, _} | _] = Peers,
    [pong = peer:call(P1, net_adm, ping, [N]) || N <- Ns],
    ok = peer:call(P1, mnesia, create_schema, [Ns, [{backend_types, xets_mnesia:backend_types()}]]),
    [ok = peer:call(P, mnesia, start, []) || {P, _} <- Peers],
    Peers.

stop(Peers) ->
    [catch peer:call(P, mnesia, stop, []) || {P, _} <- Peers],
    [catch peer:stop(P) || {P, _} <- Peers],
    ok.

epmd() ->
    case os:find_executable("epmd") of
        false -> filename:join([code:root_dir(), "erts-" ++ erlang:system_info(version), "bin", "epmd"]);
        Path -> Path
    end.

temp_root() ->
    case os:getenv("TMPDIR") of
        Dir when is_list(Dir), Dir =/= "" -> Dir;
        _ -> "/tmp"
    end.

header(N, Ops, Tmp) ->
    {ok, Load} = file:read_file("/proc/loadavg"),
    io:format("Mnesia storages (make bench-mnesia): OTP ~s (erts ~s), ~p cores, ~s; "
              "load average at start: ~s~n"
              "peers on 127.0.0.1, files in ~s; records {t, Integer, <<V:100/binary>>}; "
              "~b operations a rate (a quarter for transactions), load of N = ~b records;~n"
              "ratio = xets_copies / other (ops/s: above 1 xets_copies is faster; "
              "ms: below 1)~n~n",
              [erlang:system_info(otp_release), erlang:system_info(version),
               erlang:system_info(logical_processors), xets_bench:cpu_model(),
               lists:join(" ", lists:sublist(string:lexemes(Load, " "), 3)), Tmp, Ops, N]).
