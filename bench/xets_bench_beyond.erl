%% `make bench-disk-beyond` (and the second part of `make bench-disk`):
%% random reads and writes on a persistent table ten times its memory
%% limit, beside RocksDB's db_bench given the same memory budget, keys and
%% values.
%%
%% The table: a set of N objects {<<0:64, I:64>>, Value}, I in [0, N), a
%% 16-byte key and a 400-byte value (RocksDB's own benchmark pages use 400;
%% each value is 200 random bytes twice, so that it compresses to about
%% half, as db_bench's --compression_ratio=0.5 values do), N such that the
%% user data, N * 416 bytes, is 10 times the memory limit L (LIMIT_MB,
%% default 32 MiB: N = 806,596, 320 MiB). xets: {memory_limit, L},
%% {memtable_bytes, L/4}, {sync, none}. db_bench: --cache_size=L/2
%% --cache_index_and_filter_blocks=1 (indexes and filters charged to the
%% cache, as xets's limit counts them) --write_buffer_size=L/4
%% --max_write_buffer_number=2, so that it too holds at most L;
%% --bloom_bits=10 and --compression_type=lz4 (xets's filter and block
%% compression; db_bench's defaults are no filter and snappy),
%% --block_size=4096 (both), --sync=0 (its default).
%%
%% Loading: xets inserts the N keys from one process in a scattered order
%% (I * 2654435761 mod N, a bijection), closes the table and waits for its
%% compactions to stop; db_bench runs filluniquerandom (each key once, in
%% random order) then waitforcompaction.
%%
%% Rows, each for SECONDS (default 5) with 1 and then 8 processes (xets)
%% or threads (db_bench --threads), on the table as the previous rows left
%% it, both stores reopened for each row (a cold cache each time, as every
%% db_bench run starts with one):
%%   read uniform      lookups of keys drawn uniformly; db_bench readrandom
%%   read skewed       lookups of keys drawn as db_bench's readrandom
%%                     --read_random_exp_range=R draws them: u uniform in
%%                     [0, 1), k = trunc(N * exp(-u R)), key (k * 0x5bd1e995)
%%                     mod N. With R = ln N the density of k is 1/(k R) on
%%                     [1, N], a continuous Zipf law of exponent 1 (not
%%                     theta 0.99: db_bench 7.8 has no Zipfian generator);
%%                     the multiplication scatters the hot keys over the key
%%                     space. O(1) a key, one exp/1, no table (the same code
%%                     as db_bench's GetRandomKey)
%%   write uniform     inserts of existing keys, uniform; db_bench overwrite
%%   write skewed      inserts, keys drawn as in read skewed. db_bench has no
%%                     skewed writes (the range applies to readrandom and
%%                     multireadrandom only): the row is compared with
%%                     overwrite's uniform writes and marked "!"
%%   mix 90/10         of each 100 operations 90 lookups then 10 inserts,
%%                     uniform keys; db_bench readrandomwriterandom
%%                     --readwritepercent=90
%%
%% Each row prints ops/s of each and the ratio xets / db_bench (target:
%% above 0.67, within 1.5x); read amplification, bytes read by read and
%% pread calls (/proc/<pid>/io rchar: from the OS page cache or the disk)
%% per byte of objects returned (found lookups * 416); write amplification,
%% bytes written by write calls (wchar: WAL, flushes, compactions) per byte
%% of objects inserted (inserts * 416); the peak resident memory (VmRSS,
%% sampled every 100 ms) of the VM and of the db_bench process, and the
%% VM's increase over its size before the table was first opened. The CSV
%% also has the bytes the disk itself read and wrote (read_bytes,
%% write_bytes: zero for reads that the page cache served) and xets's
%% largest cache_bytes and, when info(T, disk) has them, its cache hits
%% and misses. db_bench's counts are of its whole process (it opens the
%% database, replaying and flushing the log the previous row left);
%% xets's are from its open to its close.
%%
%% The machine's RAM is not the limit here: the OS page cache holds every
%% file of both stores, and both read through it (neither is given
%% O_DIRECT). What is bounded is each store's own memory.
-module(xets_bench_beyond).
-export([main/1]).

-define(KEY(I), <<0:64, (I):64>>).
-define(KEY_BYTES, 16).
-define(VALUE_BYTES, 400).
-define(POOL, 4096).
-define(MIB, 1048576).
-define(SCATTER, 2654435761).
-define(ROW, "~-3s ~-30s ~5s ~10s ~10s ~6s  ~6s ~6s  ~6s ~6s  ~17s ~6s~n").

-spec main([string()]) -> ok.
main([LimitMB, Seconds, Results]) ->
    L = list_to_integer(LimitMB) * ?MIB,
    N = 10 * L div (?KEY_BYTES + ?VALUE_BYTES),
    Tmp = filename:join(xets_bench_disk:temp_root(), "xets_bench_beyond." ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Tmp, "x")),
    logger:set_primary_config(level, error),
    P = #{n => N, limit => L, seconds => list_to_integer(Seconds), tmp => Tmp,
          range => math:log(N), values => value_pool()},
    header(P),
    Rows = try
               Base = rss(os:getpid()),
               io:format("~nthe VM's resident memory before the table opens: ~s MiB~n~n",
                         [mib(Base)]),
               columns(),
               load(P#{base_rss => Base}) ++ rows(P#{base_rss => Base})
           after
               catch xets:close(xbeyond),
               _ = file:del_dir_r(Tmp)
           end,
    Csv = filename:join(Results, "disk_beyond.csv"),
    write_csv(Csv, Rows),
    io:format("~n! db_bench has no skewed writes: the row compares with its uniform ones~n"
              "rows written to ~s; ~s removed~n", [Csv, Tmp]).

%% ---- loading ----

load(#{n := N} = P) ->
    X = xets_run(P, fun(T) ->
                            {Us, ok} = timer:tc(fun() -> fill(T, P, 0) end),
                            settle(T, counts(T), 0, 60),
                            #{ops_s => N / Us * 1.0e6, writes => N}
                    end),
    D = db_bench(P, "filluniquerandom", ["--benchmarks=filluniquerandom,waitforcompaction"]),
    [row(0, "load then compactions", 1, P, X, D#{writes => N}, true)].

fill(_T, #{n := N}, N) -> ok;
fill(T, #{n := N} = P, I) ->
    xets:insert(T, {?KEY(I * ?SCATTER rem N), value(P)}),
    fill(T, P, I + 1).

%% Waits for the compactions that the load left due to end: until the
%% table's flush and compaction counts stay the same for 3 s (a minute at
%% most).
settle(_T, _, 3, _) -> ok;
settle(_T, _, _, 0) -> ok;
settle(T, Before, Still, Left) ->
    timer:sleep(1000),
    case counts(T) of
        Before -> settle(T, Before, Still + 1, Left - 1);
        Now -> settle(T, Now, 0, Left - 1)
    end.

counts(T) ->
    Disk = xets:info(T, disk),
    [proplists:get_value(K, Disk) || K <- [flushes, compactions, files]].

%% ---- the rows ----

%% {Name, xets's operation, its keys, db_bench's benchmark and options,
%% whether db_bench does the same}.
workloads(#{range := R}) ->
    Skew = "--read_random_exp_range=" ++ float_to_list(R, [{decimals, 6}]),
    [{"read uniform", read, uniform, "readrandom", [], true},
     {"read skewed (1/rank)", read, skewed, "readrandom", [Skew], true},
     {"write uniform", write, uniform, "overwrite", [], true},
     {"write skewed (1/rank)", write, skewed, "overwrite", [], false},
     {"mix 90/10 uniform", mix, uniform, "readrandomwriterandom", ["--readwritepercent=90"], true}].

rows(P) ->
    {Rows, _} = lists:mapfoldl(
                  fun({{What, Op, Keys, Bench, Args, Same}, Procs}, {Row, Memo}) ->
                          X = xets_run(P, fun(T) -> workers(T, P, Op, Keys, Procs) end),
                          Run = ["--benchmarks=" ++ Bench, "--use_existing_db=1",
                                 "--threads=" ++ integer_to_list(Procs),
                                 "--duration=" ++ integer_to_list(maps:get(seconds, P)) | Args],
                          D = case Memo of
                                  #{Run := Known} -> Known;
                                  #{} -> db_bench_counts(db_bench(P, Bench, Run), Bench)
                              end,
                          {row(Row, What, Procs, P, X, D, Same), {Row + 1, Memo#{Run => D}}}
                  end,
                  {1, #{}},
                  [{W, Procs} || W <- workloads(P), Procs <- [1, 8]]),
    Rows.

%% Reads, found and writes of a db_bench run, from its ops and the
%% message of its report line (which counts one thread's: its proportions
%% are applied to every thread's operations).
db_bench_counts(#{ops := Ops, rest := Rest} = D, "readrandom") ->
    {match, [F, R]} = re:run(Rest, "\\(([0-9]+) of ([0-9]+) found\\)",
                             [{capture, all_but_first, list}]),
    D#{reads => Ops, found => Ops * list_to_integer(F) div max(1, list_to_integer(R))};
db_bench_counts(#{ops := Ops} = D, "overwrite") ->
    D#{writes => Ops};
db_bench_counts(#{ops := Ops, rest := Rest} = D, "readrandomwriterandom") ->
    {match, [R, W, F]} = re:run(Rest, "reads:([0-9]+) writes:([0-9]+) total:[0-9]+ found:([0-9]+)",
                                [{capture, all_but_first, list}]),
    [Reads, Writes, Found] = [list_to_integer(C) || C <- [R, W, F]],
    Share = Ops / max(1, Reads + Writes),
    D#{reads => round(Reads * Share), found => round(Found * Share),
       writes => round(Writes * Share)};
db_bench_counts(D, _) ->
    D.

%% Procs processes doing Op on T for the row's seconds: ops/s and counts.
workers(T, #{seconds := S} = P, Op, Keys, Procs) ->
    Parent = self(),
    Deadline = erlang:monotonic_time(millisecond) + S * 1000,
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Parent ! {self(), work(T, P, Op, Keys, Deadline, 0, {0, 0, 0})} end)
            || _ <- lists:seq(1, Procs)],
    {Reads, Found, Writes} =
        lists:foldl(fun(Pid, {R, F, W}) ->
                            receive {Pid, {R1, F1, W1}} -> {R + R1, F + F1, W + W1} end
                    end, {0, 0, 0}, Pids),
    Us = erlang:monotonic_time(microsecond) - T0,
    #{ops_s => (Reads + Writes) / Us * 1.0e6, reads => Reads, found => Found, writes => Writes}.

%% {Lookups, objects found, inserts}; the clock is read every 16
%% operations.
work(T, P, Op, Keys, Deadline, I, Acc) when I band 15 =:= 0 ->
    case erlang:monotonic_time(millisecond) < Deadline of
        true -> work(T, P, Op, Keys, Deadline, I + 1, step(T, P, Op, Keys, I, Acc));
        false -> Acc
    end;
work(T, P, Op, Keys, Deadline, I, Acc) ->
    work(T, P, Op, Keys, Deadline, I + 1, step(T, P, Op, Keys, I, Acc)).

%% db_bench's readrandomwriterandom does a batch's gets, then its puts.
step(T, P, mix, Keys, I, Acc) when I rem 100 < 90 -> step(T, P, read, Keys, I, Acc);
step(T, P, mix, Keys, I, Acc) -> step(T, P, write, Keys, I, Acc);
step(T, P, read, Keys, _, {R, F, W}) ->
    case xets:lookup(T, ?KEY(key(Keys, P))) of
        [_] -> {R + 1, F + 1, W};
        [] -> {R + 1, F, W}
    end;
step(T, P, write, Keys, _, {R, F, W}) ->
    xets:insert(T, {?KEY(key(Keys, P)), value(P)}),
    {R, F, W + 1}.

%% db_bench's GetRandomKey (above): uniform, or with
%% --read_random_exp_range=R (k * 0x5bd1e995 stays below 2^64 for k <= N,
%% as in db_bench).
key(uniform, #{n := N}) ->
    rand:uniform(N) - 1;
key(skewed, #{n := N, range := R}) ->
    K = trunc(math:exp(-rand:uniform_real() * R) * N),
    K * 16#5bd1e995 rem N.

value_pool() ->
    list_to_tuple([begin
                       Half = rand:bytes(?VALUE_BYTES div 2),
                       <<Half/binary, Half/binary>>
                   end
                   || _ <- lists:seq(1, ?POOL)]).

value(#{values := Pool}) ->
    element(rand:uniform(?POOL), Pool).

%% ---- xets: one run on the table, opened and closed around it ----

open(#{tmp := Tmp, limit := L}) ->
    {ok, T} = xets:open(xbeyond, filename:join(Tmp, "xets"),
                        [set, public, {sync, none}, {memory_limit, L}, {memtable_bytes, L div 4}]),
    T.

%% Run(T)'s result with the VM's I/O from the open to the close, its peak
%% resident memory and the table's largest cache meanwhile.
xets_run(P, Run) ->
    Io0 = io(os:getpid()),
    T = open(P),
    Sampler = sampler(os:getpid(), T),
    R = Run(T),
    Peaks = stop(Sampler),
    ok = xets:close(T),
    maps:merge(R#{io => io_delta(io(os:getpid()), Io0)}, Peaks).

%% ---- db_bench, with its process's I/O and peak memory ----

db_bench(#{n := N, limit := L, tmp := Tmp}, Bench, Args) ->
    Exe = os:find_executable("db_bench"),
    Common = ["--db=" ++ filename:join(Tmp, "rocks"), "--num=" ++ integer_to_list(N),
              "--key_size=16", "--value_size=" ++ integer_to_list(?VALUE_BYTES),
              "--compression_type=lz4", "--bloom_bits=10", "--block_size=4096",
              "--cache_size=" ++ integer_to_list(L div 2), "--cache_index_and_filter_blocks=1",
              "--cache_numshardbits=0", "--cache_high_pri_pool_ratio=0.5",
              "--write_buffer_size=" ++ integer_to_list(L div 4), "--max_write_buffer_number=2"],
    %% The shell reaps db_bench, so its own counts then include db_bench's.
    Script = "\"$@\" & p=$!; echo \"pid $p\"; wait $p; cat /proc/$$/io",
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", Script, "sh", Exe | Common ++ Args]}, {line, 65536},
                      exit_status, stderr_to_stdout]),
    {Lines, Peaks} = collect(Port, [], none),
    Out = lists:flatten(lists:join("\n", Lines)),
    case xets_bench_disk:db_bench_line(Bench, Out) of
        nomatch ->
            io:format("db_bench gave no ~s line:~n  ~s~n~s~n",
                      [Bench, lists:join(" ", Common ++ Args), Out]),
            #{ops_s => na, ops => 0, rest => "", io => #{}};
        Line ->
            maps:merge(Line#{io => io_lines(Out)}, Peaks)
    end.

collect(Port, Lines, Sampler) ->
    receive
        {Port, {data, {_, "pid " ++ Pid}}} when Sampler =:= none ->
            collect(Port, Lines, sampler(Pid, none));
        {Port, {data, {_, Line}}} ->
            collect(Port, [Line | Lines], Sampler);
        {Port, {exit_status, _}} ->
            {lists:reverse(Lines), case Sampler of none -> #{}; _ -> stop(Sampler) end}
    end.

%% ---- /proc ----

%% A process sampling every 100 ms the VmRSS of OS process Pid and, when
%% T is a table, its cache_bytes; stop/1 returns the peaks.
sampler(Pid, T) ->
    spawn_link(fun() -> sample(Pid, T, #{rss => 0, cache => 0}) end).

sample(Pid, T, Peaks) ->
    Now = #{rss => rss(Pid),
            cache => case T of
                         none -> 0;
                         _ -> proplists:get_value(cache_bytes, xets:info(T, disk), 0)
                     end},
    Max = maps:merge_with(fun(_, A, B) -> max(A, B) end, Peaks, Now),
    receive
        {stop, From} -> From ! {self(), Max#{cache_info => cache_info(T)}}
    after 100 -> sample(Pid, T, Max)
    end.

stop(Sampler) ->
    Sampler ! {stop, self()},
    receive {Sampler, Peaks} -> Peaks end.

%% The info(T, disk) items that count the cache's hits and misses, if it
%% has any.
cache_info(none) -> [];
cache_info(T) ->
    [{K, V} || {K, V} <- xets:info(T, disk), is_integer(V),
               string:find(atom_to_list(K), "hit") =/= nomatch
                   orelse string:find(atom_to_list(K), "miss") =/= nomatch].

%% Bytes resident (VmRSS) of OS process Pid, 0 once it is gone (a zombie
%% has no VmRSS line).
rss(Pid) ->
    case file:read_file("/proc/" ++ Pid ++ "/status") of
        {ok, Status} ->
            case re:run(Status, "VmRSS:\\s*([0-9]+) kB", [{capture, all_but_first, list}]) of
                {match, [Kb]} -> list_to_integer(Kb) * 1024;
                nomatch -> 0
            end;
        {error, _} -> 0
    end.

io(Pid) ->
    {ok, Text} = file:read_file("/proc/" ++ Pid ++ "/io"),
    io_lines(binary_to_list(Text)).

%% The "rchar: 123" lines of a /proc/<pid>/io, as a map.
io_lines(Text) ->
    {match, Pairs} = re:run(Text, "^(rchar|wchar|read_bytes|write_bytes): ([0-9]+)$",
                            [multiline, global, {capture, all_but_first, list}]),
    maps:from_list([{list_to_atom(K), list_to_integer(V)} || [K, V] <- Pairs]).

io_delta(After, Before) ->
    maps:map(fun(K, V) -> V - maps:get(K, Before) end, After).

%% ---- output ----

row(Row, What, Procs, #{n := N, limit := L, base_rss := Base}, X, D, Same) ->
    Ratio = case D of
                #{ops_s := O} when is_number(O), O > 0 -> maps:get(ops_s, X) / O;
                _ -> na
            end,
    R = #{row => Row, what => What, procs => Procs, xets => X, db => D, ratio => Ratio,
          same => Same, base_rss => Base, n => N, limit => L},
    Mark = case Same of true -> ""; false -> "!" end,
    io:format(?ROW, [integer_to_list(Row), What, integer_to_list(Procs),
                     t(maps:get(ops_s, X)), t(maps:get(ops_s, D)) ++ Mark, t(Ratio),
                     t(amp(read, X)), t(amp(read, D)), t(amp(write, X)), t(amp(write, D)),
                     lists:flatten(io_lib:format("~s (+~s)", [mib(maps:get(rss, X, 0)),
                                                             mib(maps:get(rss, X, 0) - Base)])),
                     mib(maps:get(rss, D, 0))]),
    R.

%% Bytes read per byte of objects found, or written per byte inserted
%% (read and write calls, /proc/<pid>/io rchar and wchar).
amp(read, #{io := #{rchar := B}, found := F}) when F > 0 ->
    B / (F * (?KEY_BYTES + ?VALUE_BYTES));
amp(write, #{io := #{wchar := B}, writes := W}) when W > 0 ->
    B / (W * (?KEY_BYTES + ?VALUE_BYTES));
amp(_, _) -> na.

t(V) -> xets_bench_disk:text(V).

mib(Bytes) -> t(Bytes / ?MIB).

header(#{n := N, limit := L, seconds := S, tmp := Tmp, range := R}) ->
    xets_bench_disk:preamble("make bench-disk-beyond"),
    io:format("files in ~s (~s); a set of N = ~b objects {<<Key:16/binary>>, "
              "<<Value:~b/binary>>} (~s MiB of keys and values) under a memory limit of "
              "~s MiB,~n"
              "~b s a row; skewed keys: db_bench's --read_random_exp_range=~.2f (ln N), "
              "density 1/rank; every process or thread draws its own keys~n"
              "xets: {memory_limit, ~b}, {memtable_bytes, ~b}, {sync, none}; db_bench: "
              "--cache_size=~b --cache_index_and_filter_blocks=1 --cache_numshardbits=0 "
              "--cache_high_pri_pool_ratio=0.5~n  --write_buffer_size=~b "
              "--max_write_buffer_number=2 --bloom_bits=10 --compression_type=lz4 "
              "--block_size=4096~n"
              "ratio = xets / db_bench ops/s (target: above 0.67); r-amp: bytes read by "
              "read calls per byte of objects found; w-amp: bytes written per byte "
              "inserted;~nRSS MiB: the VM's peak (its increase over its size before the "
              "table opened), db_bench's peak~n",
              [Tmp, xets_bench_disk:fs_type(Tmp), N, ?VALUE_BYTES,
               mib(N * (?KEY_BYTES + ?VALUE_BYTES)), mib(L), S, R, L, L div 4, L div 2, L div 4]),
    ok.

columns() ->
    io:format(?ROW, ["row", "what", "procs", "xets ops/s", "db_bench", "ratio", "r-amp", "",
                     "w-amp", "", "RSS MiB xets", "db"]),
    io:format(?ROW, ["", "", "", "", "", "", "xets", "db", "xets", "db", "", ""]).

write_csv(File, Rows) ->
    Header = "row,what,procs,n,limit_mb,xets_ops_s,db_bench_ops_s,ratio,same_workload,"
        "xets_read_amp,db_read_amp,xets_write_amp,db_write_amp,"
        "xets_disk_read_mb,db_disk_read_mb,xets_disk_write_mb,db_disk_write_mb,"
        "xets_rss_mb,xets_rss_increase_mb,db_rss_mb,xets_cache_peak_mb,xets_cache_counts\n",
    Lines = [lists:join(",", [xets_bench_disk:field(lists:flatten(F)) || F <- csv_row(R)]) ++ "\n"
             || R <- Rows],
    ok = file:write_file(File, [Header | Lines]).

csv_row(#{row := Row, what := What, procs := Procs, xets := X, db := D, ratio := Ratio,
          same := Same, base_rss := Base, n := N, limit := L}) ->
    Dev = fun(K, M) -> mib(maps:get(K, maps:get(io, M, #{}), 0)) end,
    [integer_to_list(Row), What, integer_to_list(Procs), integer_to_list(N),
     integer_to_list(L div ?MIB), t(maps:get(ops_s, X)), t(maps:get(ops_s, D)), t(Ratio), atom_to_list(Same),
     t(amp(read, X)), t(amp(read, D)), t(amp(write, X)), t(amp(write, D)),
     Dev(read_bytes, X), Dev(read_bytes, D), Dev(write_bytes, X), Dev(write_bytes, D),
     mib(maps:get(rss, X, 0)), mib(maps:get(rss, X, 0) - Base), mib(maps:get(rss, D, 0)),
     mib(maps:get(cache, X, 0)),
     lists:join(" ", [io_lib:format("~s=~b", [K, V]) || {K, V} <- maps:get(cache_info, X, [])])].
