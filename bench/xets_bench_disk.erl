%% `make bench-disk`: xets persistent tables (xets:open/3) against DETS,
%% Mnesia disc_copies and disc_only_copies, and RocksDB's own db_bench
%% (Debian's rocksdb-tools), in one run. Objects are {Key, Value}: Key a
%% 16-byte binary (<<0:64, I:64>>, so that byte order is integer order),
%% Value a 100-byte binary; db_bench runs with --key_size=16
%% --value_size=100 and otherwise its defaults.
%%
%% Rows (the N of each is printed; ratios are xets / the other, so above 1
%% xets is faster for rates, and below 1 it is faster for times):
%%   1 insert  N random inserts, one process: xets {sync, none}, DETS, mnesia
%%             disc_copies and disc_only_copies (dirty_write), db_bench
%%             fillrandom --sync=false
%%   2 sync    inserts with {sync, always} from 1, 8 and 64 processes for
%%             SYNC_SECONDS each; 64/1 is the gain of group commit; db_bench
%%             fillrandom --sync=true --threads=1 and 8
%%   3 memtbl  random lookups in a persistent table whose objects are all in
%%             its memtable, against xets:new/2 and ets:new/2 tables (best
%%             of LOOKUP_ROUNDS, the three taking turns)
%%   4 reopen  random lookups after close and reopen: the first pass (xets:
%%             its blocks read from the files on demand; the OS page cache
%%             is warm for everyone) and the second; DETS; db_bench
%%             readrandom on the database of row 1
%%   5 scan    ranges of 100 objects of an ordered_set (select/2 on a key
%%             range), after reopen; db_bench seekrandom --seek_nexts=100
%%   6 open    the time of opening a closed table of N objects, xets and DETS
%%
%% Everything lives in a fresh directory under the system's temp dir,
%% removed at the end (mnesia is started there and stopped).
-module(xets_bench_disk).
-export([main/1]).
%% Shared with xets_bench_beyond (the beyond-RAM section of make bench-disk).
-export([preamble/1, db_bench_line/2, text/1, field/1, temp_root/0, fs_type/1]).

-define(KEY(I), <<0:64, (I):64>>).
-define(ROW, "~-3s ~-40s ~7s ~-7s ~10s  ~-29s ~10s ~6s~n").
-define(SYNC_SECONDS, 2).
-define(ROUNDS, 3).
%% Row 3 compares memory speeds, the most disturbed by a busy machine.
-define(LOOKUP_ROUNDS, 5).

-spec main([string()]) -> ok.
main([NText, Results]) ->
    N = list_to_integer(NText),
    Tmp = filename:join(temp_root(), "xets_bench_disk." ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    %% mnesia's "overloaded" warnings and application reports would break
    %% up the table.
    logger:set_primary_config(level, error),
    header(N, Tmp),
    io:format(?ROW, ["row", "what", "N", "unit", "xets", "other", "other", "ratio"]),
    Value = binary:copy(<<"v">>, 100),
    P = #{n => N, tmp => Tmp, value => Value,
          keys => shuffled(lists:seq(1, N))},
    Rows = try
               lists:append([row_insert(P), row_sync(P), row_memtable(P), row_reopen(P),
                             row_scan(P), row_open(P)])
           after
               cleanup(Tmp)
           end,
    Csv = filename:join(Results, "disk.csv"),
    write_csv(Csv, Rows),
    io:format("~nrows written to ~s; ~s removed~n", [Csv, Tmp]).

%% ---- row 1: N random inserts, one process ----

row_insert(#{n := N, keys := Keys} = P) ->
    X = rate(N, fun() -> xets_fill(P, xets1, set, [{sync, none}], Keys) end),
    D = rate(N, fun() -> dets_fill(P, Keys) end),
    {MC, MO} = mnesia_inserts(P),
    R = db_bench(P, "fillrandom", ["--benchmarks=fillrandom", "--sync=false",
                                   "--num=" ++ integer_to_list(N), db(P, "rocks")]),
    What = "insert, 1 proc, xets sync none",
    [row(1, What, N, "ops/s", X, O, Name)
     || {Name, O} <- [{"dets", D}, {"mnesia disc_copies dirty", MC},
                      {"mnesia disc_only dirty", MO}, {"db_bench fillrandom", R}]].

%% A persistent table Name in tmp/Name filled with Keys, closed.
xets_fill(#{value := V} = P, Name, Type, Opts, Keys) ->
    {ok, T} = xets:open(Name, dir(P, Name), [Type, public | Opts]),
    [xets:insert(T, {?KEY(K), V}) || K <- Keys],
    ok = xets:close(T).

dets_fill(#{value := V} = P, Keys) ->
    {ok, T} = dets:open_file(dets1, [{file, dir(P, "dets1.dets")}, {type, set}]),
    [dets:insert(T, {?KEY(K), V}) || K <- Keys],
    ok = dets:close(T).

mnesia_inserts(#{n := N, keys := Keys, value := V, tmp := Tmp}) ->
    ok = application:set_env(mnesia, dir, filename:join(Tmp, "mnesia")),
    ok = mnesia:create_schema([node()]),
    ok = mnesia:start(),
    try
        [{atomic, ok} = mnesia:create_table(Tab, [{Kind, [node()]}, {record_name, obj},
                                                  {attributes, [key, value]}])
         || {Tab, Kind} <- [{mc, disc_copies}, {mo, disc_only_copies}]],
        Fill = fun(Tab) -> [mnesia:dirty_write(Tab, {obj, ?KEY(K), V}) || K <- Keys] end,
        {rate(N, fun() -> Fill(mc) end), rate(N, fun() -> Fill(mo) end)}
    after
        stopped = mnesia:stop()
    end.

%% ---- row 2: {sync, always}, 1, 8 and 64 writers ----

row_sync(#{n := N, value := V} = P) ->
    {ok, T} = xets:open(xsync, dir(P, xsync), [set, public, {sync, always}]),
    Runs = try
               [begin
                    F0 = fsyncs(T),
                    {Count, Rate} = writers(T, V, N, W, ?SYNC_SECONDS),
                    {W, Count, Rate, fsyncs(T) - F0}
                end
                || W <- [1, 8, 64]]
           after
               ok = xets:close(T)
           end,
    Fsync = fun(Threads, Num) ->
                    {io_lib:format("db_bench sync t~b (~b ops)", [Threads, Threads * Num]),
                     db_bench(P, "fillrandom",
                              ["--benchmarks=fillrandom", "--sync=true",
                               "--threads=" ++ integer_to_list(Threads),
                               "--num=" ++ integer_to_list(Num), db(P, "rocks_sync")])}
            end,
    R1 = Fsync(1, 2000),
    R8 = Fsync(8, 1000),
    {1, _, X1, _} = lists:keyfind(1, 1, Runs),
    [row(2, io_lib:format("insert sync always, ~b proc, ~.1f/fsync", [W, Count / max(1, Fs)]),
         Count, "ops/s", X, O, Name)
     || {W, Count, X, Fs} <- Runs,
        {Name, O} <- [R1 || W =:= 1] ++ [R8 || W =/= 1]
            ++ [{"xets sync always, 1 proc", X1} || W =:= 64]].

fsyncs(T) ->
    {fsyncs, F} = lists:keyfind(fsyncs, 1, xets:info(T, disk)),
    F.

%% {Inserts, inserts per second} of W processes, each inserting random
%% keys into T for Seconds, every insert returning once durable.
writers(T, V, Range, W, Seconds) ->
    Parent = self(),
    Deadline = erlang:monotonic_time(millisecond) + Seconds * 1000,
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Parent ! {self(), write_until(T, V, Range, Deadline, 0)} end)
            || _ <- lists:seq(1, W)],
    Count = lists:sum([receive {Pid, C} -> C end || Pid <- Pids]),
    {Count, Count / (erlang:monotonic_time(microsecond) - T0) * 1.0e6}.

write_until(T, V, Range, Deadline, Count) ->
    case erlang:monotonic_time(millisecond) < Deadline of
        true ->
            xets:insert(T, {?KEY(rand:uniform(Range)), V}),
            write_until(T, V, Range, Deadline, Count + 1);
        false -> Count
    end.

%% ---- row 3: lookups of memtable-resident objects ----

row_memtable(#{n := N0, value := V} = P) ->
    N = min(N0, 100000),
    Keys = shuffled(lists:seq(1, N)),
    Probe = [?KEY(K) || K <- shuffled(Keys)],
    {ok, XP} = xets:open(xmem, dir(P, xmem), [set, public, {sync, none},
                                             {memtable_bytes, 1 bsl 30}]),
    XM = xets:new(xmem_new, [set, public]),
    E = ets:new(ets_mem, [set, public]),
    try
        [[M:insert(T, {?KEY(K), V}) || K <- Keys] || {M, T} <- [{xets, XP}, {xets, XM}, {ets, E}]],
        Disk = xets:info(XP, disk),
        {files, 0} = lists:keyfind(files, 1, Disk),
        Runs = [{Name, rate(N, fun() -> [M:lookup(T, K) || K <- Probe] end)}
                || _ <- lists:seq(1, ?LOOKUP_ROUNDS),
                   {Name, M, T} <- [{p, xets, XP}, {m, xets, XM}, {e, ets, E}]],
        Best = fun(Name) -> lists:max([R || {Nm, R} <- Runs, Nm =:= Name]) end,
        What = "lookup, persistent, all in memtable",
        [row(3, What, N, "ops/s", Best(p), Best(m), "xets:new (in memory)"),
         row(3, What, N, "ops/s", Best(p), Best(e), "ets")]
    after
        ok = xets:close(XP),
        xets:delete(XM),
        ets:delete(E)
    end.

%% ---- row 4: lookups after close and reopen ----

row_reopen(#{n := N} = P) ->
    M = min(N, 200000),
    Probe = [?KEY(K) || K <- lists:sublist(shuffled(lists:seq(1, N)), M)],
    {ok, X} = xets:open(xets1, dir(P, xets1), [set, public, {sync, none}]),
    N = xets:info(X, size),
    [XCold, XHot] = try [rate(M, fun() -> [xets:lookup(X, K) || K <- Probe] end) || _ <- [1, 2]]
                    after ok = xets:close(X)
                    end,
    {ok, D} = dets:open_file(dets1, [{file, dir(P, "dets1.dets")}, {type, set}]),
    [DCold, DHot] = try [rate(M, fun() -> [dets:lookup(D, K) || K <- Probe] end) || _ <- [1, 2]]
                    after ok = dets:close(D)
                    end,
    R = db_bench(P, "readrandom", ["--benchmarks=readrandom", "--use_existing_db=1",
                                   "--num=" ++ integer_to_list(N),
                                   "--reads=" ++ integer_to_list(M), db(P, "rocks")]),
    [row(4, "lookup after reopen, 1st pass", M, "ops/s", XCold, DCold, "dets, 1st pass"),
     row(4, "lookup after reopen, 1st pass", M, "ops/s", XCold, R, "db_bench readrandom"),
     row(4, "lookup after reopen, 2nd pass", M, "ops/s", XHot, DHot, "dets, 2nd pass"),
     row(4, "lookup after reopen, 2nd pass", M, "ops/s", XHot, R, "db_bench readrandom")].

%% ---- row 5: ordered range scans of 100 objects ----

row_scan(#{n := N, keys := Keys} = P) ->
    S = 10000,
    xets_fill(P, xord, ordered_set, [{sync, none}], Keys),
    {ok, T} = xets:open(xord, dir(P, xord), [ordered_set, public, {sync, none}]),
    Starts = [rand:uniform(N - 100) || _ <- lists:seq(1, S)],
    Scan = fun() ->
                   [100 = length(xets:select(T, [{{'$1', '_'},
                                                  [{'>=', '$1', ?KEY(K)}, {'<', '$1', ?KEY(K + 100)}],
                                                  ['$_']}]))
                    || K <- Starts]
           end,
    [XCold, XHot] = try [rate(S, Scan) || _ <- [1, 2]]
                    after ok = xets:close(T)
                    end,
    R = db_bench(P, "seekrandom", ["--benchmarks=seekrandom", "--use_existing_db=1",
                                   "--seek_nexts=100", "--num=" ++ integer_to_list(N),
                                   "--reads=" ++ integer_to_list(S), db(P, "rocks")]),
    [row(5, "scan 100, ordered_set, 1st pass", S, "scans/s", XCold, R, "db_bench seekrandom 100"),
     row(5, "scan 100, ordered_set, 2nd pass", S, "scans/s", XHot, R, "db_bench seekrandom 100")].

%% ---- row 6: opening a closed table ----

row_open(#{n := N} = P) ->
    X = best_time(fun() ->
                          {ok, T} = xets:open(xets1, dir(P, xets1), [set, public, {sync, none}]),
                          fun() -> ok = xets:close(T) end
                  end),
    D = best_time(fun() ->
                          {ok, T} = dets:open_file(dets1, [{file, dir(P, "dets1.dets")},
                                                           {type, set}]),
                          fun() -> ok = dets:close(T) end
                  end),
    [row(6, "open a closed table (best of 3)", N, "ms", X, D, "dets:open_file")].

%% The shortest time, in ms, of Open over ROUNDS opens; Open returns the
%% close, which is not timed.
best_time(Open) ->
    lists:min([begin
                   {Us, Close} = timer:tc(Open),
                   Close(),
                   Us / 1000
               end
               || _ <- lists:seq(1, ?ROUNDS)]).

%% ---- db_bench ----

%% Ops per second of Bench in db_bench's report line (db_bench_line/2).
db_bench(_P, Bench, Args) ->
    Cmd = lists:join(" ", ["db_bench", "--key_size=16", "--value_size=100" | Args]),
    Out = os:cmd(lists:flatten(Cmd) ++ " 2>&1"),
    case db_bench_line(Bench, Out) of
        #{ops_s := Ops} -> Ops;
        nomatch ->
            io:format("db_bench gave no ~s line:~n  ~s~n~s~n", [Bench, Cmd, Out]),
            na
    end.

%% Bench's report line in db_bench's output Out, "readrandom   :   12.008
%% micros/op 663749 ops/sec 1.008 seconds 668992 operations;  263.3 MB/s
%% (83999 of 83999 found)": its ops per second, operations (of every
%% thread) and the text after the semicolon.
-spec db_bench_line(string(), string()) ->
          #{ops_s := float(), ops := integer(), rest := string()} | nomatch.
db_bench_line(Bench, Out) ->
    Re = "^" ++ Bench ++ "\\s*:\\s*[0-9.]+ micros/op ([0-9]+) ops/sec [0-9.]+ seconds "
        "([0-9]+) operations;(.*)$",
    case re:run(Out, Re, [multiline, {capture, all_but_first, list}]) of
        {match, [Ops, N, Rest]} ->
            #{ops_s => float(list_to_integer(Ops)), ops => list_to_integer(N), rest => Rest};
        nomatch -> nomatch
    end.

db(#{tmp := Tmp}, Name) ->
    "--db=" ++ filename:join(Tmp, Name).

%% ---- common ----

dir(#{tmp := Tmp}, Name) ->
    filename:join(Tmp, Name).

%% Operations per second of Fun doing Ops of them.
rate(Ops, Fun) ->
    garbage_collect(),
    {Us, _} = timer:tc(Fun),
    Ops / Us * 1.0e6.

row(Row, What, N, Unit, X, O, Name) ->
    R = #{row => Row, what => lists:flatten(What), n => N, unit => Unit, xets => X,
          other_name => Name, other => O},
    io:format(?ROW, [integer_to_list(Row), maps:get(what, R), integer_to_list(N), Unit,
                     text(X), Name, text(O), text(ratio(R))]),
    R.

ratio(#{xets := X, other := O}) when is_number(X), is_number(O), O > 0 -> X / O;
ratio(_) -> na.

-spec text(number() | na) -> string().
text(na) -> "n/a";
text(V) when is_float(V), abs(V) < 10 -> float_to_list(V, [{decimals, 2}]);
text(V) when is_float(V), abs(V) < 10000 -> float_to_list(V, [{decimals, 1}]);
text(V) -> integer_to_list(round(V)).

write_csv(File, Rows) ->
    Header = "row,what,n,unit,xets,other,other_value,ratio\n",
    Lines = [lists:join(",", [field(F) || F <- [integer_to_list(Row), W, integer_to_list(N), U,
                                                text(X), lists:flatten(Name), text(O),
                                                text(ratio(R))]]) ++ "\n"
             || #{row := Row, what := W, n := N, unit := U, xets := X, other_name := Name,
                  other := O} = R <- Rows],
    ok = file:write_file(File, [Header | Lines]).

%% Quoted (RFC 4180) when it holds a comma or a quote, as the row names do.
-spec field(string()) -> iodata().
field(F) ->
    case lists:any(fun(C) -> C =:= $, orelse C =:= $" end, F) of
        true -> [$", string:replace(F, "\"", "\"\"", all), $"];
        false -> F
    end.

shuffled(Keys) ->
    [K || {_, K} <- lists:sort([{rand:uniform(), K} || K <- Keys])].

-spec temp_root() -> string().
temp_root() ->
    case os:getenv("TMPDIR") of
        Dir when is_list(Dir), Dir =/= "" -> Dir;
        _ -> "/tmp"
    end.

%% Closes whatever an error left open, stops mnesia, removes the directory.
cleanup(Tmp) ->
    _ = mnesia:stop(),
    [catch dets:close(T) || T <- [dets1]],
    [catch xets:close(T) || T <- [xets1, xsync, xmem, xord]],
    _ = file:del_dir_r(Tmp),
    ok.

header(N, Tmp) ->
    preamble("make bench-disk"),
    io:format("files in ~s (~s); objects {<<Key:16/binary>>, <<Value:100/binary>>}, "
              "N = ~b;~n"
              "db_bench: --key_size=16 --value_size=100, its other options default "
              "(fillrandom draws keys with repeats: about 63% distinct);~n"
              "ratio = xets / other (rates: above 1 xets is faster; ms: below 1 xets is faster)~n~n",
              [Tmp, fs_type(Tmp), N]).

%% The first lines of a run's output: the Erlang, the machine, db_bench's
%% version, the load.
-spec preamble(string()) -> ok.
preamble(Command) ->
    Version = case re:run(os:cmd("db_bench --version 2>&1"), "version ([0-9.]+)",
                          [{capture, all_but_first, list}]) of
                  {match, [V]} -> V;
                  nomatch -> "unknown"
              end,
    io:format("xets persistent tables (~s): OTP ~s (erts ~s), ~p schedulers, "
              "~p cores, ~s; db_bench (RocksDB) ~s~n",
              [Command, erlang:system_info(otp_release), erlang:system_info(version),
               erlang:system_info(schedulers), erlang:system_info(logical_processors),
               xets_bench:cpu_model(), Version]),
    {ok, Load} = file:read_file("/proc/loadavg"),
    io:format("load average at start: ~s~n",
              [lists:join(" ", lists:sublist(string:lexemes(Load, " "), 3))]).

-spec fs_type(string()) -> string().
fs_type(Dir) ->
    string:trim(os:cmd("df --output=fstype " ++ Dir ++ " 2>/dev/null | tail -1")).

