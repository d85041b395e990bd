%% Spilling tables (xets:new/2 with {spill, Dir}; src/xets_spill.erl):
%%
%% - a spilling table of each type gives what an ets table gives, over a
%%   sequence of operations with keys and objects of every kind of term
%%   (xets_twin's comparison), with its data in SSTables by the end;
%% - more than a small memtable's worth reaches SSTables and compaction and
%%   reads back as it went in;
%% - ets's lifecycle: delete/1, the owner's exit and its kill remove the
%%   table, its files and its directory; an heir (and give_away/3) keeps
%%   them;
%% - close/1 and sync/1 refuse it (not a persistent table), info/1 is an
%%   in-memory table's, info(T, disk) describes its files;
%% - options: memory_limit and memtable_bytes without spill, and bad
%%   values, are badarg with new/2's error_info;
%% - a VM killed with kill -9 leaves its spill directory behind; the next
%%   start of the application (in a fresh VM) removes it and leaves a live
%%   VM's, and the creation of a spilling table in the same Dir removes the
%%   leftovers of a VM that has since stopped; nothing else in Dir is
%%   touched.
-module(xets_spill_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include("xets_twin.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([every_type_gives_what_ets_gives_for_every_kind_of_term/1,
         more_than_the_memtable_reaches_sstables_and_compaction_and_reads_back/1,
         delete_owner_exit_and_owner_kill_remove_the_files/1,
         an_heir_and_give_away_keep_the_table_and_its_files/1,
         close_and_sync_refuse_it_and_info_is_an_in_memory_tables/1,
         bad_options_raise_badarg_with_error_info/1,
         a_killed_vms_leftovers_go_at_the_next_start_and_a_live_vms_stay/1]).
-export([peer_spill/1]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

suite() -> [{timetrap, {minutes, 2}}].

all() ->
    [every_type_gives_what_ets_gives_for_every_kind_of_term,
     more_than_the_memtable_reaches_sstables_and_compaction_and_reads_back,
     delete_owner_exit_and_owner_kill_remove_the_files,
     an_heir_and_give_away_keep_the_table_and_its_files,
     close_and_sync_refuse_it_and_info_is_an_in_memory_tables,
     bad_options_raise_badarg_with_error_info,
     a_killed_vms_leftovers_go_at_the_next_start_and_a_live_vms_stay].

%% The record of Dirs in the suite's own directory, not the user's cache.
init_per_suite(Config) ->
    Registry = filename:join(?config(priv_dir, Config), "spill_dirs"),
    ok = application:set_env(xets, spill_registry, Registry),
    [{registry, Registry} | Config].

end_per_suite(_Config) ->
    application:unset_env(xets, spill_registry).

init_per_testcase(Case, Config) ->
    xets_twin:reset_differences(),
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_path(Dir),
    [{dir, Dir} | Config].

end_per_testcase(_Case, _Config) ->
    xets_twin:check_differences().

%% The spill directories in Dir, once the reaper has dropped what it was
%% given.
spill_dirs(Dir) ->
    xets_nif:reaper_drain(),
    {ok, Names} = file:list_dir(Dir),
    lists:sort([N || "xets-spill-" ++ _ = N <- Names]).

%% ---- conformance ------------------------------------------------------------

every_type_gives_what_ets_gives_for_every_kind_of_term(Config) ->
    [conform(Config, Type) || Type <- ?TYPES],
    ok.

conform(Config, Type) ->
    rand:seed(exsss, {11, 12, erlang:phash2(Type)}),
    Opts = [Type, public],
    P = #p{type = Type, mod = xets, e = ets:new(model, Opts),
           x = xets:new(spilled, [{spill, ?config(dir, Config)}, {memtable_bytes, 8192} | Opts])},
    %% Not the external reference of one word, which ets on OTP 25 may
    %% fail to look up once its table has grown (xets_terms, leaf/0).
    Edge = xets_terms:edge_terms() -- [xets_terms:ext_ref('x@h', 1, [7])],
    %% Every edge term as a key, then as a value, then random operations.
    [?EQ(P, ?M:insert(?T, {K, value})) || K <- Edge],
    [?EQ(P, ?M:insert(?T, {I, V})) || {I, V} <- lists:enumerate(Edge)],
    Keys = Edge ++ [xets_terms:random_key() || _ <- lists:seq(1, 200)],
    [op(P, pick(Keys)) || _ <- lists:seq(1, 1500)],
    same_contents(P),
    wait(fun() -> disk(P#p.x, files) > 0 end),
    ?EQ(P, ?M:delete_all_objects(?T)),
    [op(P, pick(Keys)) || _ <- lists:seq(1, 300)],
    same_contents(P),
    ?EQ(P, ?M:delete(?T)).

pick(L) ->
    lists:nth(rand:uniform(length(L)), L).

op(P, K) ->
    Obj = {K, rand:uniform(3), xets_terms:random_term(6)},
    case rand:uniform(12) of
        N when N =< 4 -> ?EQ(P, ?M:insert(?T, Obj));
        5 -> ?EQ(P, ?M:insert(?T, [Obj, setelement(2, Obj, 0), {K, 1, x}]));
        6 -> ?EQ(P, ?M:insert_new(?T, Obj));
        7 -> ?EQ(P, ?M:delete(?T, K));
        8 -> ?EQ(P, ?M:delete_object(?T, {K, 1, x}));
        9 -> ?EQ(P, ?M:take(?T, K));
        10 -> ?EQ(P, ?M:update_counter(?T, K, {2, 1}, {K, 0}));
        11 -> ?EQ(P, ?M:lookup(?T, K));
        12 -> ?EQ(P, ?M:select_count(?T, [{{'_', '$1', '_'}, [{'<', '$1', 2}], [true]}]))
    end.

same_contents(P) ->
    ?EQ(P, ?M:info(?T, size)),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQU(P, ?M:select(?T, [{{'$1', 2, '_'}, [], ['$1']}])),
    ?EQU(P, ?M:foldl(fun(O, Acc) -> [O | Acc] end, [], ?T)),
    ?EQ(P, lists:sort([?M:lookup(?T, K) || K <- ets:foldl(fun(O, A) -> [element(1, O) | A] end,
                                                            [], P#p.e)])).

%% ---- beyond the memtable ---------------------------------------------------

more_than_the_memtable_reaches_sstables_and_compaction_and_reads_back(Config) ->
    [beyond(Config, Type) || Type <- [ordered_set, bag]],
    ok.

beyond(Config, Type) ->
    T = xets:new(big, [Type, {spill, ?config(dir, Config)}, {memtable_bytes, 65536}]),
    E = ets:new(model, [Type]),
    Pad = binary:copy(<<"spill">>, 40),
    %% About 5 MB in 16 rounds, each of writes of their own and waiting
    %% for a flush: a memtable grows past its size while the flusher is
    %% busy, and 4 tables in level 0 start a compaction.
    lists:foreach(
      fun(Round) ->
              Flushes = disk(T, flushes),
              [begin
                   O = {I rem 20000, I, Pad},
                   true = ets:insert(E, O),
                   true = xets:insert(T, O)
               end || I <- lists:seq(Round * 1500, Round * 1500 + 1499)],
              wait(fun() -> disk(T, flushes) > Flushes end)
      end, lists:seq(0, 15)),
    wait(fun() -> disk(T, compactions) > 0 end),
    Disk = xets:info(T, disk),
    ct:log("~p: ~p", [Type, Disk]),
    ?assert(proplists:get_value(files, Disk) > 1),
    ?assertEqual(ets:info(E, size), xets:info(T, size)),
    ?assertEqual(lists:sort(ets:tab2list(E)), lists:sort(xets:tab2list(T))),
    [?assertEqual(ets:lookup(E, K), xets:lookup(T, K)) || K <- lists:seq(0, 19999, 7)],
    true = xets:delete(T),
    ets:delete(E).

disk(T, Item) ->
    proplists:get_value(Item, xets:info(T, disk)).

%% Waits up to 5 s for Done() to be true.
wait(Done) ->
    wait(Done, 200).

wait(Done, Tries) ->
    case Done() of
        true -> ok;
        false when Tries > 0 -> timer:sleep(25), wait(Done, Tries - 1);
        false -> ct:fail(waited_in_vain)
    end.

%% ---- lifecycle ---------------------------------------------------------------

delete_owner_exit_and_owner_kill_remove_the_files(Config) ->
    Dir = ?config(dir, Config),
    T = filled(Dir, []),
    [_] = spill_dirs(Dir),
    true = xets:delete(T),
    ?assertEqual([], spill_dirs(Dir)),
    ?assertError(badarg, xets:lookup(T, 1)),
    [begin
         Self = self(),
         {Pid, Ref} = spawn_monitor(fun() -> Self ! {table, filled(Dir, [])},
                                             receive stop -> ok end
                                    end),
         Tab = receive {table, Tb} -> Tb end,
         [_] = spill_dirs(Dir),
         How(Pid),
         receive {'DOWN', Ref, process, Pid, _} -> ok end,
         ?assertError(badarg, xets:lookup(Tab, 1)),
         ?assertEqual([], spill_dirs(Dir))
     end || How <- [fun(P) -> P ! stop end, fun(P) -> exit(P, kill) end]],
    ?assert(filelib:is_dir(Dir)).

%% A spilling table in Dir holding objects past its memtable, so that it
%% has SSTables and a manifest besides its log.
filled(Dir, Opts) ->
    T = xets:new(t, [public, {spill, Dir}, {memtable_bytes, 16384} | Opts]),
    true = xets:insert(T, [{I, binary:copy(<<I:32>>, 16)} || I <- lists:seq(1, 2000)]),
    T.

an_heir_and_give_away_keep_the_table_and_its_files(Config) ->
    Dir = ?config(dir, Config),
    Self = self(),
    Heir = spawn_link(fun() ->
                              receive {'ETS-TRANSFER', Tab, _, data} ->
                                      Self ! {inherited, Tab, xets:info(Tab, size)}
                              end,
                              receive {'ETS-TRANSFER', Tab2, _, back} -> Self ! {got, Tab2} end,
                              receive stop -> ok end
                      end),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {table, filled(Dir, [{heir, Heir, data}])} end),
    T = receive {table, Tb} -> Tb end,
    receive {'DOWN', Ref, process, Pid, normal} -> ok end,
    receive {inherited, T, 2000} -> ok after 5000 -> ct:fail(no_transfer) end,
    ?assertEqual(Heir, xets:info(T, owner)),
    [_] = spill_dirs(Dir),
    ?assertEqual([{7, binary:copy(<<7:32>>, 16)}], xets:lookup(T, 7)),
    %% give_away/3 to the heir of a table of ours: the files go along.
    T2 = filled(Dir, []),
    true = xets:give_away(T2, Heir, back),
    receive {got, T2} -> ok after 5000 -> ct:fail(no_give_away) end,
    ?assertEqual(2, length(spill_dirs(Dir))),
    %% The heir's death, with no heir of its own, deletes both.
    unlink(Heir),
    HeirRef = monitor(process, Heir),
    exit(Heir, kill),
    receive {'DOWN', HeirRef, process, Heir, killed} -> ok end,
    [?assertError(badarg, xets:lookup(Tab, 7)) || Tab <- [T, T2]],
    ?assertEqual([], spill_dirs(Dir)).

close_and_sync_refuse_it_and_info_is_an_in_memory_tables(Config) ->
    Dir = ?config(dir, Config),
    [begin
         Opts = [Type, named_table, {keypos, 2}, {read_concurrency, true}],
         T = xets:new(spilled, [{spill, Dir} | Opts]),
         M = xets:new(in_memory, Opts),
         Objects = [{x, I, I * I} || I <- lists:seq(1, 100)],
         true = xets:insert(T, Objects),
         true = xets:insert(M, Objects),
         ?assertError(badarg, xets:close(T)),
         ?assertError(badarg, xets:sync(T)),
         %% The items but name, id and memory: the table's own.
         Info = fun(Tab) -> [I || {K, _} = I <- xets:info(Tab), not lists:member(K, [name, id, memory])] end,
         ?assertEqual(Info(M), Info(T)),
         ?assertEqual(undefined, xets:info(M, disk)),
         Disk = xets:info(T, disk),
         ?assertEqual(none, proplists:get_value(sync, Disk)),
         ?assert(proplists:get_value(disk_bytes, Disk) > 0),
         true = xets:delete(T),
         true = xets:delete(M)
     end || Type <- ?TYPES],
    ?assertEqual([], spill_dirs(Dir)).

%% ---- options -------------------------------------------------------------------

bad_options_raise_badarg_with_error_info(Config) ->
    Dir = ?config(dir, Config),
    Bad = [[{memory_limit, 1 bsl 20}], [{memory_limit, infinity}], [{memtable_bytes, 65536}],
           [{spill, 1}], [{spill, {Dir}}], [{spill, [1.5]}], [{spill, Dir, x}], [spill],
           [{spill, Dir}, {memory_limit, 0}], [{spill, Dir}, {memory_limit, -1}],
           [{spill, Dir}, {memory_limit, lots}], [{spill, Dir}, {memtable_bytes, 0}],
           [{spill, Dir}, {sync, none}], [{spill, Dir}, nonsense], [{spill, Dir} | set],
           [{spill, Dir}, {keypos, 0}]],
    [begin
         try xets:new(t, Opts) of
             T -> ct:fail({accepted, Opts, T})
         catch
             error:badarg:St ->
                 [{xets, new, [t, Opts], Info} | _] = St,
                 ?assertEqual(#{module => xets}, proplists:get_value(error_info, Info))
         end
     end || Opts <- Bad],
    ?assertEqual([], spill_dirs(Dir)),
    %% A name taken, as new/2 says it.
    named = xets:new(named, [named_table]),
    try xets:new(named, [named_table, {spill, Dir}]) of
        _ -> ct:fail(name_taken_accepted)
    catch
        error:badarg:St2 ->
            [{xets, new, _, Info2} | _] = St2,
            ?assertEqual(#{module => xets, cause => already_exists},
                         proplists:get_value(error_info, Info2))
    end,
    true = xets:delete(named),
    ?assertEqual([], spill_dirs(Dir)),
    %% The good ones: a limit, infinity, and the last of each wins.
    [true = xets:delete(xets:new(t, [{spill, Dir} | Good]))
     || Good <- [[{memory_limit, 1 bsl 20}], [{memory_limit, infinity}],
                 [{memory_limit, 1 bsl 30}, {memory_limit, infinity}, {memtable_bytes, 4096}]]],
    ?assertEqual([], spill_dirs(Dir)).

%% ---- leftovers of a crash ------------------------------------------------------

a_killed_vms_leftovers_go_at_the_next_start_and_a_live_vms_stay(Config) ->
    Dir = ?config(dir, Config),
    Registry = ?config(registry, Config),
    %% Decoys: entries of Dir that are not a VM's spill directories, and a
    %% directory behind a symbolic link of a spill directory's name.
    Data = filename:join(Dir, "data"),
    ok = file:make_dir(Data),
    ok = file:write_file(filename:join(Data, "keep"), <<"kept">>),
    [ok = file:make_dir(filename:join(Dir, D)) || D <- ["xets-spill-not-ours", "xets-spill-1-A-1-x"]],
    ok = file:write_file(filename:join(Dir, "xets-spill-1-A-2"), <<"a file">>),
    ok = file:make_symlink(Data, filename:join(Dir, "xets-spill-9-Z-9")),
    Decoys = ["xets-spill-not-ours", "xets-spill-1-A-1-x", "xets-spill-1-A-2", "xets-spill-9-Z-9"],
    {ok, Before} = file:list_dir(Dir),
    {Killed, KilledPid} = start_peer(Registry),
    {Live, LivePid} = start_peer(Registry),
    LiveDir = try
                  [KilledDir] = peer:call(Killed, ?MODULE, peer_spill, [Dir]) -- Decoys,
                  [Alive] = peer:call(Live, ?MODULE, peer_spill, [Dir]) -- [KilledDir | Decoys],
                  _ = os:cmd("kill -9 " ++ KilledPid),
                  catch peer:stop(Killed),
                  gone(KilledPid),
                  ?assertEqual(lists:sort([KilledDir, Alive]), spill_dirs(Dir) -- Decoys),
                  %% The next start, while the live VM holds its table.
                  {Fresh, _} = start_peer(Registry),
                  ok = peer:call(Fresh, application, start, [xets]),
                  peer:stop(Fresh),
                  ?assertEqual([Alive], spill_dirs(Dir) -- Decoys),
                  Alive
              after
                  catch peer:stop(Live),
                  gone(LivePid)
              end,
    %% The live VM stopped without deleting its table (as halt/0 does):
    %% the next creation in Dir removes what it left.
    T = xets:new(t, [{spill, Dir}]),
    [Ours] = spill_dirs(Dir) -- Decoys,
    ?assertNotEqual(LiveDir, Ours),
    true = xets:delete(T),
    xets_nif:reaper_drain(),
    {ok, After} = file:list_dir(Dir),
    ?assertEqual(lists:sort(Before), lists:sort(After)),
    ?assertEqual({ok, <<"kept">>}, file:read_file(filename:join(Data, "keep"))).

%% Returns once the OS process OsPid is gone, and with it its locks
%% (peer:stop/1 and kill -9 may return before).
gone(OsPid) ->
    case os:cmd("kill -0 " ++ OsPid ++ " 2>/dev/null && echo alive") of
        "alive" ++ _ ->
            timer:sleep(10),
            gone(OsPid);
        _ ->
            ok
    end.

start_peer(Registry) ->
    {Peer, OsPid} = xets_test_lib:start_peer(?MODULE),
    ok = peer:call(Peer, application, set_env, [xets, spill_registry, Registry]),
    {Peer, OsPid}.

%% In a peer: a spilling table in Dir, owned by a process that lives on,
%% holding objects past its memtable; the spill directories in Dir.
peer_spill(Dir) ->
    Self = self(),
    spawn(fun() -> Self ! {made, filled(Dir, [])}, receive never -> ok end end),
    receive {made, _} -> ok end,
    spill_dirs(Dir).
