%% Persistent tables (xets:open/3 and friends; DESIGN.md, "The disk
%% tier"), seen from Erlang:
%%
%% - every type keeps what it held across close and reopen, objects of a
%%   bag key in insertion order, sizes exact, with memtables written to
%%   SSTables on the way (a model ets table gets the same operations);
%% - open's errors: another type or keypos, a directory open here or in
%%   another OS process (an OS lock, gone with the process), bad options;
%% - lifecycle: an owner's exit closes its tables (reopened at once), an
%%   heir inherits one open, delete/1 keeps the files, destroy/1 removes
%%   them;
%% - {sync, always}: many writers share fsyncs (group commit);
%% - kill -9: a peer node writing with {sync, always} is killed at random
%%   moments, and every write it acknowledged is there at reopen, list
%%   inserts whole or absent (XETS_KILL_CYCLES cycles, 30 by default;
%%   `make soak` runs 1,000), the table of four cycles under a memory
%%   limit far below its size;
%% - damaged files: a flipped byte in an SSTable or the manifest is
%%   {error, {corrupt, File, Offset}} at open, a torn WAL tail is cut.
-module(xets_disk_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_testcase/2, end_per_testcase/2]).
-export([reopen_keeps_what_each_type_holds/1,
         open_refuses_another_type_or_keypos_and_bad_options/1,
         open_refuses_a_set_of_the_older_hash_order/1,
         a_directory_is_locked_while_open_here_or_in_another_os_process/1,
         owner_exit_closes_and_an_heir_inherits/1,
         delete_keeps_the_files_and_destroy_removes_them/1,
         move_renames_a_closed_tables_directory/1,
         sync_always_writers_share_fsyncs/1,
         kill_9_keeps_every_acknowledged_write/1,
         damaged_files_give_errors_and_torn_logs_are_cut/1]).
-export([peer_writer/3]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

suite() -> [{timetrap, {minutes, 5}}].

all() ->
    [reopen_keeps_what_each_type_holds,
     open_refuses_another_type_or_keypos_and_bad_options,
     open_refuses_a_set_of_the_older_hash_order,
     a_directory_is_locked_while_open_here_or_in_another_os_process,
     owner_exit_closes_and_an_heir_inherits,
     delete_keeps_the_files_and_destroy_removes_them,
     move_renames_a_closed_tables_directory,
     sync_always_writers_share_fsyncs,
     kill_9_keeps_every_acknowledged_write,
     damaged_files_give_errors_and_torn_logs_are_cut].

init_per_testcase(Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    [{dir, Dir} | Config].

end_per_testcase(_Case, _Config) ->
    ok.

dir(Config, Name) ->
    filename:join(?config(dir, Config), Name).

%% ---- contents across reopen ----------------------------------------------

reopen_keeps_what_each_type_holds(Config) ->
    [reopen_type(dir(Config, atom_to_list(T)), T) || T <- ?TYPES],
    ok.

reopen_type(Dir, Type) ->
    Opts = [Type, public, {memtable_bytes, 16 * 1024}],
    E = ets:new(model, [Type, public]),
    rand:seed(exsss, {7, 8, erlang:phash2(Type)}),
    {ok, T0} = xets:open(reopen, Dir, Opts),
    T = lists:foldl(fun(Round, T1) ->
                            [op(Type, E, T1) || _ <- lists:seq(1, 1500)],
                            same(Type, E, T1),
                            ok = xets:close(T1),
                            {ok, T2} = xets:open(reopen, Dir, Opts),
                            ct:log("~p round ~p: ~p", [Type, Round, xets:info(T2, disk)]),
                            same(Type, E, T2),
                            T2
                    end, T0, lists:seq(1, 4)),
    Disk = xets:info(T, disk),
    ?assert(proplists:get_value(files, Disk) > 0),
    ok = xets:close(T),
    ets:delete(E).

op(Type, E, T) ->
    K = rand:uniform(300),
    Obj = {K, rand:uniform(4), rand:uniform(1000)},
    case rand:uniform(12) of
        N when N =< 5 ->
            ?assertEqual(ets:insert(E, Obj), xets:insert(T, Obj));
        6 ->
            L = [{rand:uniform(300), I, x} || I <- lists:seq(1, 5)],
            ?assertEqual(ets:insert(E, L), xets:insert(T, L));
        7 ->
            ?assertEqual(ets:insert_new(E, Obj), xets:insert_new(T, Obj));
        8 ->
            ?assertEqual(ets:delete(E, K), xets:delete(T, K));
        9 ->
            ?assertEqual(ets:delete_object(E, Obj), xets:delete_object(T, Obj));
        10 when Type =:= set; Type =:= ordered_set ->
            %% badarg, in both, when a list insert left an atom there.
            ?assertEqual(outcome(fun() -> ets:update_counter(E, K, {3, 1}, {K, 0, 0}) end),
                         outcome(fun() -> xets:update_counter(T, K, {3, 1}, {K, 0, 0}) end));
        10 ->
            ?assertEqual(ets:take(E, K), xets:take(T, K));
        11 ->
            MS = [{{'$1', '$2', '_'}, [{'<', '$1', K}, {'==', '$2', 2}], [true]}],
            ?assertEqual(ets:select_delete(E, MS), xets:select_delete(T, MS));
        12 ->
            ?assertEqual(ets:lookup(E, K), xets:lookup(T, K))
    end.

outcome(F) ->
    try {ok, F()}
    catch Class:Reason -> {Class, Reason}
    end.

%% The same objects, a bag key's in the same order, and the same size.
same(Type, E, T) ->
    ?assertEqual(ets:info(E, size), xets:info(T, size)),
    Sorted = fun(L) -> lists:sort(L) end,
    ?assertEqual(Sorted(ets:tab2list(E)), Sorted(xets:tab2list(T))),
    [?assertEqual(ets:lookup(E, K), xets:lookup(T, K)) || K <- lists:seq(1, 300)],
    case Type of
        ordered_set -> ?assertEqual(ets:tab2list(E), xets:tab2list(T));
        _ -> ok
    end.

%% ---- open's errors -----------------------------------------------------------

open_refuses_another_type_or_keypos_and_bad_options(Config) ->
    Dir = dir(Config, "t"),
    {ok, T} = xets:open(t, Dir, [bag, {keypos, 2}]),
    true = xets:insert(T, {a, b}),
    ok = xets:close(T),
    ?assertEqual({error, {mismatch, type, bag, set}}, xets:open(t, Dir, [{keypos, 2}])),
    ?assertEqual({error, {mismatch, keypos, 2, 1}}, xets:open(t, Dir, [bag])),
    ?assertEqual({error, {mismatch, type, bag, ordered_set}},
                 xets:open(t, Dir, [ordered_set, {keypos, 2}])),
    [?assertError(badarg, xets:open(t, Dir, Bad))
     || Bad <- [[{sync, sometimes}], [{sync, {interval, 0}}], [{keypos, 0}], [{memtable_bytes, -1}],
                [nonsense], not_a_list]],
    ?assertError(badarg, xets:open("name", Dir, [bag, {keypos, 2}])),
    {ok, T2} = xets:open(named_one, Dir, [bag, {keypos, 2}, named_table]),
    ?assertEqual(named_one, T2),
    ?assertEqual([{a, b}], xets:lookup(named_one, b)),
    %% A documented difference (README, "Known limitations"): no hash
    %% buckets to describe.
    ?assertEqual(false, xets:info(named_one, stats)),
    ?assertError(badarg, xets:open(named_one, dir(Config, "other"), [named_table])),
    ok = xets:close(named_one),
    ?assertError(badarg, xets:close(xets:new(mem, []))).

%% The files of a set that xets f6f72ac wrote (open, insert {1, a}, close),
%% whose sort keys are in order "hash.1" (store.h): the README's error, and
%% the files as they were.
open_refuses_a_set_of_the_older_hash_order(Config) ->
    Dir = dir(Config, "old"),
    Fixture = filename:join(?config(data_dir, Config), "set_of_hash_1"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Names = ["000003.sst", "MANIFEST-000001"],
    [{ok, _} = file:copy(filename:join(Fixture, N), filename:join(Dir, N)) || N <- Names],
    ?assertEqual({error, {mismatch, order, 'hash.1', 'hash.2'}}, xets:open(t, Dir, [set])),
    [?assertEqual(file:read_file(filename:join(Fixture, N)), file:read_file(filename:join(Dir, N)))
     || N <- Names].

%% ---- locks -------------------------------------------------------------------

a_directory_is_locked_while_open_here_or_in_another_os_process(Config) ->
    Dir = dir(Config, "t"),
    {ok, T} = xets:open(t, Dir, []),
    Abs = list_to_binary(filename:absname(Dir)),
    ?assertEqual({error, {locked, Abs}}, xets:open(t, Dir, [])),
    ?assertEqual({error, {locked, Abs}}, xets:destroy(Dir)),
    ok = xets:close(T),
    {Peer, _OsPid} = start_peer(),
    try
        {ok, _} = peer:call(Peer, xets_disk_SUITE, peer_writer, [Dir, hold, none]),
        ?assertEqual({error, {locked, Abs}}, xets:open(t, Dir, []))
    after
        peer:stop(Peer)
    end,
    %% The peer's VM is gone, and with it the lock.
    {ok, T2} = open_when_released(Dir, []),
    ok = xets:close(T2).

%% ---- lifecycle ---------------------------------------------------------------

owner_exit_closes_and_an_heir_inherits(Config) ->
    Dir = dir(Config, "t"),
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() ->
                                        {ok, T} = xets:open(t, Dir, []),
                                        true = xets:insert(T, [{I, I} || I <- lists:seq(1, 1000)]),
                                        Self ! {table, T}
                                end),
    receive {table, _} -> ok end,
    receive {'DOWN', Ref, process, Pid, normal} -> ok end,
    %% At once: the open waits for the dead owner's table to close.
    {ok, T} = xets:open(t, Dir, []),
    ?assertEqual(1000, xets:info(T, size)),
    Heir = spawn_link(fun() -> receive {'ETS-TRANSFER', Tab, _, data} ->
                                           Self ! {inherited, Tab, xets:info(Tab, size)},
                                           receive stop -> ok end
                                   end
                      end),
    {Pid2, Ref2} = spawn_monitor(fun() ->
                                         {ok, T2} = xets:open(t2, dir(Config, "t2"),
                                                              [{heir, Heir, data}]),
                                         true = xets:insert(T2, {k, v}),
                                         Self ! {table, T2}
                                 end),
    T2 = receive {table, Tab2} -> Tab2 end,
    receive {'DOWN', Ref2, process, Pid2, normal} -> ok end,
    receive {inherited, T2, 1} -> ok after 5000 -> ct:fail(no_transfer) end,
    ?assertMatch({error, {locked, _}}, xets:open(t2, dir(Config, "t2"), [])),
    ?assertEqual(Heir, xets:info(T2, owner)),
    Heir ! stop,
    ok = xets:close(T).

delete_keeps_the_files_and_destroy_removes_them(Config) ->
    Dir = dir(Config, "t"),
    {ok, T} = xets:open(t, Dir, [ordered_set]),
    true = xets:insert(T, [{I, I * I} || I <- lists:seq(1, 500)]),
    true = xets:delete(T),
    {ok, T2} = xets:open(t, Dir, [ordered_set]),
    ?assertEqual(500, xets:info(T2, size)),
    ?assertEqual([{7, 49}], xets:lookup(T2, 7)),
    ?assertEqual(true, xets:delete_all_objects(T2)),
    ?assertEqual(0, xets:info(T2, size)),
    ok = xets:close(T2),
    {ok, T3} = xets:open(t, Dir, [ordered_set]),
    ?assertEqual([], xets:tab2list(T3)),
    ok = xets:close(T3),
    ok = xets:destroy(Dir),
    ?assertEqual(false, filelib:is_dir(Dir)),
    ?assertEqual({error, enoent}, xets:destroy(Dir)).

%% xets_disk:move/2, with which xets_mnesia swaps a received copy in.
move_renames_a_closed_tables_directory(Config) ->
    [From, To] = [dir(Config, N) || N <- ["from", "to"]],
    {ok, T} = xets:open(t, From, [set]),
    true = xets:insert(T, [{I, I} || I <- lists:seq(1, 100)]),
    ?assertEqual({error, {locked, list_to_binary(From)}}, xets_disk:move(From, To)),
    ok = xets:close(T),
    ok = xets_disk:move(From, To),
    ?assertNot(filelib:is_dir(From)),
    ?assertEqual({error, enoent}, xets_disk:move(From, dir(Config, "other"))),
    {ok, T2} = xets:open(t, To, [set]),
    ?assertEqual(100, xets:info(T2, size)),
    ok = xets:close(T2),
    {ok, T3} = xets:open(t, From, [set]),
    ok = xets:close(T3),
    ?assertEqual({error, eexist}, xets_disk:move(From, To)),
    [ok = xets:destroy(D) || D <- [From, To]].

%% ---- group commit --------------------------------------------------------------

sync_always_writers_share_fsyncs(Config) ->
    {ok, T} = xets:open(t, dir(Config, "t"), [public, {sync, always}]),
    Writers = 64,
    Each = 20,
    Self = self(),
    Pids = [spawn_link(fun() ->
                               [true = xets:insert(T, {{W, I}, W}) || I <- lists:seq(1, Each)],
                               Self ! {done, self()}
                       end) || W <- lists:seq(1, Writers)],
    [receive {done, P} -> ok end || P <- Pids],
    Disk = xets:info(T, disk),
    Fsyncs = proplists:get_value(fsyncs, Disk),
    ct:pal("~p writes by ~p processes with {sync, always}: ~p fsyncs", [Writers * Each, Writers, Fsyncs]),
    ?assertEqual(proplists:get_value(last_seq, Disk), proplists:get_value(durable_seq, Disk)),
    ?assert(Fsyncs < Writers * Each div 4),
    ok = xets:sync(T),
    ok = xets:close(T).

%% ---- kill -9 -------------------------------------------------------------------

%% The memory limit of the table in cycles 5, 10, 15 and 20 of kill -9,
%% writing and checking: far less than the table (3 to 10 MB by then), so
%% that its checks read blocks evicted and read again; in every cycle,
%% the checks of the larger tables of the later cycles would double the
%% case's time.
kill_memory({write, Cycle}) when Cycle rem 5 =:= 0, Cycle =< 20 -> 1024 * 1024;
kill_memory(_) -> infinity.

kill_9_keeps_every_acknowledged_write(Config) ->
    Dir = dir(Config, "t"),
    Cycles = case os:getenv("XETS_KILL_CYCLES") of
                 V when V =:= false; V =:= "" -> 30;
                 V -> list_to_integer(V)
             end,
    %% Each cycle reads the whole table, which grows with the cycles (100
    %% took 2 min 22 s on 2 cores; 200 ran past 2 s a cycle beside a full
    %% make test).
    ct:timetrap({seconds, 120 + 6 * Cycles}),
    rand:seed(exsss, {1, 2, 3}),
    Acked = lists:foldl(fun(C, Acc) -> kill_cycle(Config, Dir, C, Acc) end, 0,
                        lists:seq(1, Cycles)),
    ct:pal("~p kill -9 cycles, ~p acknowledged writes, all found", [Cycles, Acked]).

kill_cycle(Config, Dir, Cycle, Acked) ->
    AckDir = dir(Config, "acks" ++ integer_to_list(Cycle)),
    ok = filelib:ensure_dir(filename:join(AckDir, "x")),
    {Peer, OsPid} = start_peer(),
    {ok, _} = peer:call(Peer, xets_disk_SUITE, peer_writer, [Dir, {write, Cycle}, AckDir]),
    timer:sleep(20 + rand:uniform(300)),
    _ = os:cmd("kill -9 " ++ OsPid),
    catch peer:stop(Peer),
    {ok, T} = open_when_released(Dir, [public, {memory_limit, kill_memory({write, Cycle})}]),
    N = check_acks(T, AckDir),
    Objects = xets:tab2list(T),
    ?assertEqual(length(Objects), xets:info(T, size)),
    %% A list insert is all there or not at all.
    Lists = lists:foldl(fun({{list, C, W, I, _}, _}, M) -> maps:update_with({C, W, I}, fun(X) -> X + 1 end, 1, M);
                           (_, M) -> M
                        end, #{}, Objects),
    ?assertEqual(#{}, maps:filter(fun(_, Count) -> Count =/= 3 end, Lists)),
    ok = xets:close(T),
    Acked + N.

check_acks(T, AckDir) ->
    {ok, Files} = file:list_dir(AckDir),
    lists:sum([begin
                   {ok, Bin} = file:read_file(filename:join(AckDir, F)),
                   Keys = [binary_to_term(B) || <<Len:32, B:Len/binary>> <= Bin],
                   [?assertMatch([_], xets:lookup(T, K), {lost, K}) || K <- Keys],
                   length(Keys)
               end || F <- Files]).

%% Opens the table in Dir once a peer VM that held it has died: the OS
%% releases the lock as it tears the process down, which may take a moment
%% after kill -9 or peer:stop/1 return.
open_when_released(Dir, Opts) ->
    open_when_released(Dir, Opts, 500).

open_when_released(Dir, Opts, Tries) ->
    case xets:open(t, Dir, Opts) of
        {error, {locked, _}} when Tries > 0 ->
            timer:sleep(10),
            open_when_released(Dir, Opts, Tries - 1);
        Result ->
            Result
    end.

start_peer() ->
    xets_test_lib:start_peer(?MODULE).

%% In the peer: opens the table in Dir, with {sync, always}; with {write,
%% Cycle}, starts writers that insert and append each acknowledged key to
%% a file of their own in AckDir (written through to the OS at once, so a
%% kill -9 of this VM keeps it); with {insert, Objects}, inserts them one
%% by one; with hold, only keeps it open.
peer_writer(Dir, What, AckDir) ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, T} = xets:open(t, Dir, [public, {sync, always},
                                                       {memtable_bytes, 32 * 1024},
                                                       {memory_limit, kill_memory(What)}]),
                          Self ! {opened, T},
                          receive never -> ok end
                  end),
    T = receive {opened, Tab} -> Tab end,
    case What of
        hold -> ok;
        {insert, Objects} -> [true = xets:insert(T, O) || O <- Objects];
        {write, Cycle} ->
            [spawn(fun() -> writer(T, Cycle, W, AckDir) end) || W <- lists:seq(1, 8)]
    end,
    {ok, Owner}.

writer(T, Cycle, W, AckDir) ->
    {ok, F} = file:open(filename:join(AckDir, integer_to_list(W)), [raw, append, binary]),
    writer(T, Cycle, W, F, 1).

writer(T, Cycle, W, F, I) ->
    case I rem 5 of
        0 ->
            true = xets:insert(T, [{{list, Cycle, W, I, J}, J} || J <- [1, 2, 3]]),
            [ack(F, {list, Cycle, W, I, J}) || J <- [1, 2, 3]];
        _ ->
            true = xets:insert(T, {{Cycle, W, I}, I}),
            ack(F, {Cycle, W, I})
    end,
    writer(T, Cycle, W, F, I + 1).

ack(F, Key) ->
    B = term_to_binary(Key),
    ok = file:write(F, <<(byte_size(B)):32, B/binary>>).

%% ---- damage ----------------------------------------------------------------------

damaged_files_give_errors_and_torn_logs_are_cut(Config) ->
    Dir = dir(Config, "t"),
    {ok, T} = xets:open(t, Dir, [{memtable_bytes, 8 * 1024}]),
    true = xets:insert(T, [{I, lists:duplicate(20, I)} || I <- lists:seq(1, 2000)]),
    ok = xets:close(T),
    {ok, Files} = file:list_dir(Dir),
    [Sst | _] = [F || F <- Files, lists:suffix(".sst", F)],
    [Man] = [F || "MANIFEST-" ++ _ = F <- Files],
    %% A flipped byte in an SSTable's index or footer is found at open.
    SstPath = filename:join(Dir, Sst),
    {ok, SstBin} = file:read_file(SstPath),
    flip(SstPath, byte_size(SstBin) - 20),
    ?assertMatch({error, {corrupt, Sst, _}}, xets:open(t, Dir, [])),
    ok = file:write_file(SstPath, SstBin),
    %% A flipped byte in the manifest's first record.
    ManPath = filename:join(Dir, Man),
    {ok, ManBin} = file:read_file(ManPath),
    flip(ManPath, 30),
    ?assertMatch({error, {corrupt, Man, _}}, xets:open(t, Dir, [])),
    ok = file:write_file(ManPath, ManBin),
    %% An SSTable cut to nothing.
    ok = file:write_file(SstPath, <<>>),
    ?assertMatch({error, {corrupt, Sst, _}}, xets:open(t, Dir, [])),
    ok = file:write_file(SstPath, SstBin),
    %% A torn WAL tail: a VM killed while writing its last record, which
    %% was never acknowledged. Recovery cuts it and keeps the rest.
    {Peer, OsPid} = start_peer(),
    {ok, _} = peer:call(Peer, xets_disk_SUITE, peer_writer,
                        [Dir, {insert, [{last, 1}, {torn, 1}]}, none]),
    _ = os:cmd("kill -9 " ++ OsPid),
    catch peer:stop(Peer),
    [Wal] = [F || F <- element(2, file:list_dir(Dir)), lists:suffix(".wal", F)],
    WalPath = filename:join(Dir, Wal),
    {ok, WalBin} = file:read_file(WalPath),
    ok = file:write_file(WalPath, binary:part(WalBin, 0, byte_size(WalBin) - 3)),
    {ok, T3} = open_when_released(Dir, []),
    ?assertEqual(2000 + 1, xets:info(T3, size)),
    ?assertEqual([{last, 1}], xets:lookup(T3, last)),
    ?assertEqual([], xets:lookup(T3, torn)),
    ok = xets:close(T3).

flip(Path, At) ->
    {ok, F} = file:open(Path, [read, write, raw, binary]),
    {ok, <<B>>} = file:pread(F, At, 1),
    ok = file:pwrite(F, At, <<(B bxor 16#5a)>>),
    ok = file:close(F).
