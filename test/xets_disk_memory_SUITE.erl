%% Tables larger than their memory limit (issue 12; README, "Tables
%% larger than memory"). A peer VM, so that its resident memory is the
%% table's and little else, loads a persistent table of ten times its
%% {memory_limit, Bytes} and reads it back, while the test samples the
%% peer's VmRSS; then the hot set of a table survives a cold scan of all
%% of it. Every object is made from its key (object/1), so the check of a
%% read needs no copy of the table in memory.
%%
%% The size: a limit of XETS_MEMORY_MB (default 16) and XETS_MEMORY_RATIO
%% (default 10) times that of objects; `make soak` runs it at 256 MiB and
%% 20 times that, 5 GiB of objects.
-module(xets_disk_memory_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([ten_times_the_limit_stays_within_it_and_reads_back_whole/1,
         a_cold_scan_leaves_the_hot_set_cached/1]).
-export([load/3, read_all/2, hot_misses/2, scan/1, compactions/0, rss/0, info/1]).

%% Bytes of an object's value.
-define(VALUE, 1000).
%% What the VM adds to the limit, beside the table: its allocators'
%% free pages and fragmentation, the load's own garbage.
-define(OVERHEAD_MB, 48).

suite() -> [{timetrap, {minutes, 30}}].

all() ->
    [ten_times_the_limit_stays_within_it_and_reads_back_whole,
     a_cold_scan_leaves_the_hot_set_cached].

init_per_suite(Config) ->
    Mb = env("XETS_MEMORY_MB", 16),
    Limit = Mb bsl 20,
    N = env("XETS_MEMORY_RATIO", 10) * Limit div (?VALUE + 20),
    Paths = [filename:dirname(code:which(M)) || M <- [xets, xets_nif, ?MODULE]],
    {ok, Peer, _} = peer:start(#{connection => standard_io,
                                 args => lists:append([["-pa", P] || P <- lists:usort(Paths)])}),
    Dir = filename:join(?config(priv_dir, Config), "big"),
    Base = peer:call(Peer, ?MODULE, rss, []),
    {Max, Loaded} = sample(Peer, fun() -> peer:call(Peer, ?MODULE, load, [Dir, Limit, N],
                                                    infinity) end),
    ct:log("limit ~b MiB, ~b objects of ~b bytes: VmRSS ~b MiB before, at most ~b MiB while "
           "loading; ~p", [Mb, N, ?VALUE, Base bsr 20, Max bsr 20, Loaded]),
    [{peer, Peer}, {limit, Limit}, {n, N}, {base, Base}, {load_max, Max} | Config].

env(Name, Default) ->
    case os:getenv(Name) of
        V when V =:= false; V =:= "" -> Default;
        V -> list_to_integer(V)
    end.

end_per_suite(Config) ->
    peer:stop(?config(peer, Config)),
    Config.

%% The load's resident memory, and then a full read's, stay within the
%% limit and the stated overhead; every object reads back as written;
%% the table says it holds no more than its limit; compaction keeps the
%% files within twice the data. The files just written are in the OS's
%% page cache (a machine with this much memory to spare): misses of calls
%% on normal schedulers are read there, without a dirty scheduler.
ten_times_the_limit_stays_within_it_and_reads_back_whole(Config) ->
    Peer = ?config(peer, Config),
    Limit = ?config(limit, Config),
    N = ?config(n, Config),
    Bound = ?config(base, Config) + Limit + (?OVERHEAD_MB bsl 20),
    ?assert(?config(load_max, Config) =< Bound),
    {Max, Read} = sample(Peer, fun() -> peer:call(Peer, ?MODULE, read_all, [N, 20000],
                                                  infinity) end),
    ?assertEqual({N, 20000}, Read),
    ct:log("read: VmRSS at most ~b MiB, bound ~b MiB", [Max bsr 20, Bound bsr 20]),
    ?assert(Max =< Bound),
    Info = peer:call(Peer, ?MODULE, info, [memory]),
    ?assert(Info =< Limit + Limit div 8),
    Disk = peer:call(Peer, ?MODULE, info, [disk]),
    ct:log("read: VmRSS at most ~b MiB (bound ~b MiB); info(memory) ~b bytes; ~p",
           [Max bsr 20, Bound bsr 20, Info, Disk]),
    Data = N * (?VALUE + 20),
    ?assert(proplists:get_value(disk_bytes, Disk) =< 2 * Data),
    ?assert(proplists:get_value(cache_evictions, Disk) > 0),
    InPlace = proplists:get_value(cache_misses_in_place, Disk),
    ?assert(InPlace > 0 andalso InPlace =< proplists:get_value(cache_misses, Disk)),
    ?assert(proplists:get_value(cache_bytes, Disk) =< proplists:get_value(cache_capacity, Disk)).

%% A hot set looked up until cached, then a scan of the whole table read
%% once: the hot set's lookups after it miss (almost) nothing. A
%% compaction that ends meanwhile moves hot keys into tables not cached
%% yet, which says nothing of the scan: then it is tried again.
a_cold_scan_leaves_the_hot_set_cached(Config) ->
    Peer = ?config(peer, Config),
    N = ?config(n, Config),
    Hot = [rand:uniform(N) || _ <- lists:seq(1, 500)],
    After = hot_after_scan(Peer, N, Hot, 5),
    ?assert(After =< 5).

hot_after_scan(Peer, N, Hot, Tries) ->
    Compactions = peer:call(Peer, ?MODULE, compactions, []),
    _ = peer:call(Peer, ?MODULE, hot_misses, [Hot, 3], infinity),
    Warm = peer:call(Peer, ?MODULE, hot_misses, [Hot, 1], infinity),
    N = peer:call(Peer, ?MODULE, scan, [N], infinity),
    After = peer:call(Peer, ?MODULE, hot_misses, [Hot, 1], infinity),
    Moved = peer:call(Peer, ?MODULE, compactions, []) - Compactions,
    ct:log("hot set of ~b keys: ~b misses before the scan, ~b after; ~b compactions meanwhile",
           [length(Hot), Warm, After, Moved]),
    case Moved of
        0 -> After;
        _ when Tries > 1 -> hot_after_scan(Peer, N, Hot, Tries - 1);
        _ -> ct:fail("compactions all along")
    end.

%% ---- in the peer -----------------------------------------------------------

object(I) ->
    rand:seed(exsss, I),
    {I, rand:bytes(?VALUE)}.

%% Creates the table t in Dir, owned by a process that lives on, and
%% inserts objects 1..N in lists of 100 from one that ends with the load
%% (its garbage gone with it); then makes the writes durable.
load(Dir, Limit, N) ->
    Self = self(),
    spawn(fun() ->
                  {ok, _} = xets:open(t, Dir, [public, named_table, {sync, none},
                                               {memory_limit, Limit}]),
                  Self ! opened,
                  receive never -> ok end
          end),
    receive opened -> ok end,
    {_, Ref} = spawn_monitor(fun() -> insert(t, 1, N) end),
    receive {'DOWN', Ref, _, _, normal} -> ok end,
    ok = xets:sync(t),
    info(disk).

insert(_T, I, N) when I > N -> ok;
insert(T, I, N) ->
    Last = min(I + 99, N),
    true = xets:insert(T, [object(J) || J <- lists:seq(I, Last)]),
    insert(T, Last + 1, N).

%% Every object by a fold (none held but the one in hand), then Lookups
%% random ones: {objects folded and right, lookups right}.
read_all(N, Lookups) ->
    Folded = xets:foldl(fun(O = {I, _}, Acc) ->
                                O = object(I),
                                Acc + 1
                        end, 0, t),
    Right = length([I || _ <- lists:seq(1, Lookups),
                         I <- [rand:uniform(N)],
                         xets:lookup(t, I) =:= [object(I)]]),
    {Folded, Right}.

%% Cache misses over Rounds lookups of each of Keys.
hot_misses(Keys, Rounds) ->
    Before = proplists:get_value(cache_misses, xets:info(t, disk)),
    [[{I, _}] = xets:lookup(t, I) || _ <- lists:seq(1, Rounds), I <- Keys],
    proplists:get_value(cache_misses, xets:info(t, disk)) - Before.

scan(_N) ->
    xets:foldl(fun(_, Acc) -> Acc + 1 end, 0, t).

compactions() ->
    proplists:get_value(compactions, xets:info(t, disk)).

info(memory) -> xets:info(t, memory) * erlang:system_info(wordsize);
info(disk) -> xets:info(t, disk).

rss() ->
    {ok, S} = file:read_file("/proc/self/status"),
    [_, Kb | _] = binary:split(hd([L || L <- binary:split(S, <<"\n">>, [global]),
                                        binary:part(L, 0, min(6, byte_size(L))) =:= <<"VmRSS:">>]),
                               [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb) * 1024.

%% ---- sampling --------------------------------------------------------------

%% Runs F while sampling the peer's VmRSS every 50 ms: {the most, F's
%% result}.
sample(Peer, F) ->
    Self = self(),
    Sampler = spawn_link(fun() -> sampler(Peer, Self, 0) end),
    Result = F(),
    Sampler ! stop,
    Max = receive {max, M} -> M end,
    {max(Max, peer:call(Peer, ?MODULE, rss, [])), Result}.

sampler(Peer, Parent, Max) ->
    receive stop -> Parent ! {max, Max}
    after 50 -> sampler(Peer, Parent, max(Max, peer:call(Peer, ?MODULE, rss, [])))
    end.
