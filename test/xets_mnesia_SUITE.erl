%% The Mnesia backend (src/xets_mnesia.erl): xets_copies and
%% xets_ram_copies tables through Mnesia's API.
%%
%% Group one_node runs in the test node itself, each case with a fresh
%% schema in its own directory and Mnesia stopped at its end (so that the
%% owner process closes every table and the leak hook finds xets as it
%% was). Group cluster runs Mnesia on peer nodes named @127.0.0.1 whose
%% distribution listens on the loopback interface only; the test node
%% itself stays undistributed and drives them over standard I/O.
-module(xets_mnesia_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([every_callback_of_mnesia_backend_type_is_exported/1,
         register_adds_both_aliases_at_run_time/1,
         every_table_type_takes_transactions_and_dirty_operations/1,
         conformance_with_disc_copies_set/1,
         conformance_with_disc_copies_ordered_set/1,
         conformance_with_disc_copies_bag/1,
         select_with_a_limit_continues_to_the_end/1,
         first_next_last_prev_walk_the_table/1,
         dirty_update_counter_counts/1,
         secondary_indexes_find_records/1,
         table_info_size_and_memory_are_the_tables/1,
         xets_copies_data_survives_a_restart_of_mnesia/1,
         change_table_copy_type_keeps_the_data/1,
         backup_and_restore_bring_the_data_back/1,
         a_disk_failure_after_the_point_of_no_return_stops_mnesia/1]).
-export([a_lone_node_killed_keeps_its_committed_writes/1,
         writes_from_every_node_land_on_every_copy/1,
         add_table_copy_streams_a_large_table_in_chunks/1,
         a_node_killed_and_restarted_catches_up/1,
         a_node_killed_during_a_copy_keeps_no_partial_table/1,
         a_partition_is_reported_as_for_disc_copies/1,
         a_large_table_loads_onto_a_new_node_in_bounded_memory/1]).
%% Run in peers.
-export([chunk_tracer/0, chunks/0, write_big/1, event_collector/0, events/0,
         memory_sampler/0, memory_peaks/0, memory_now/0]).

-define(ALIASES, [xets_copies, xets_ram_copies]).
-define(TYPES, [set, ordered_set, bag]).

suite() -> [{timetrap, {minutes, 3}}].

all() -> [{group, one_node}, {group, cluster}].

groups() ->
    [{one_node, [],
      [every_callback_of_mnesia_backend_type_is_exported,
      register_adds_both_aliases_at_run_time,
       every_table_type_takes_transactions_and_dirty_operations,
       conformance_with_disc_copies_set,
       conformance_with_disc_copies_ordered_set,
       conformance_with_disc_copies_bag,
       select_with_a_limit_continues_to_the_end,
       first_next_last_prev_walk_the_table,
       dirty_update_counter_counts,
       secondary_indexes_find_records,
       table_info_size_and_memory_are_the_tables,
       xets_copies_data_survives_a_restart_of_mnesia,
       change_table_copy_type_keeps_the_data,
       backup_and_restore_bring_the_data_back,
       a_disk_failure_after_the_point_of_no_return_stops_mnesia]},
     {cluster, [sequence], cluster_cases()}].

cluster_cases() ->
    [a_lone_node_killed_keeps_its_committed_writes,
     writes_from_every_node_land_on_every_copy,
     add_table_copy_streams_a_large_table_in_chunks,
     a_node_killed_and_restarted_catches_up,
     a_node_killed_during_a_copy_keeps_no_partial_table,
     a_partition_is_reported_as_for_disc_copies,
     a_large_table_loads_onto_a_new_node_in_bounded_memory].

init_per_suite(Config) ->
    Config.

end_per_suite(_Config) ->
    ok.

init_per_group(cluster, Config) ->
    _ = os:cmd(epmd() ++ " -daemon"),
    Config;
init_per_group(_Group, Config) ->
    Config.

end_per_group(_Group, _Config) ->
    ok.

init_per_testcase(Case, Config) ->
    case lists:member(Case, cluster_cases()) of
        true ->
            Config;
        false ->
            Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
            ok = application:set_env(mnesia, dir, Dir),
            Types = case Case of
                        register_adds_both_aliases_at_run_time -> [];
                        _ -> xets_mnesia:backend_types()
                    end,
            ok = mnesia:create_schema([node()], [{backend_types, Types}]),
            ok = mnesia:start(),
            [{mnesia_dir, Dir} | Config]
    end.

end_per_testcase(_Case, Config) ->
    case ?config(mnesia_dir, Config) of
        undefined -> ok;
        _ ->
            stopped = mnesia:stop(),
            ok = mnesia:delete_schema([node()])
    end.

%% ---- one node -------------------------------------------------------------

%% Mnesia treats every callback as mandatory.
every_callback_of_mnesia_backend_type_is_exported(_Config) ->
    Callbacks = mnesia_backend_type:behaviour_info(callbacks),
    ?assertEqual([], Callbacks -- xets_mnesia:module_info(exports)).

register_adds_both_aliases_at_run_time(Config) ->
    ?assertMatch({aborted, _}, mnesia:create_table(t, [{xets_copies, [node()]}])),
    ok = xets_mnesia:register(),
    ok = xets_mnesia:register(),                % twice: still ok
    {atomic, ok} = mnesia:create_table(t, [{xets_copies, [node()]}]),
    {atomic, ok} = mnesia:create_table(r, [{xets_ram_copies, [node()]}]),
    ok = mnesia:dirty_write({t, 1, a}),
    ok = mnesia:dirty_write({r, 1, a}),
    ?assertEqual([{t, 1, a}], mnesia:dirty_read(t, 1)),
    ?assertEqual([{r, 1, a}], mnesia:dirty_read(r, 1)),
    ?assertEqual({ext, xets_copies, xets_mnesia}, mnesia:table_info(t, storage_type)),
    ?assertEqual({ext, xets_ram_copies, xets_mnesia}, mnesia:table_info(r, storage_type)),
    %% delete_table takes the files too.
    Dir = filename:join(?config(mnesia_dir, Config), "t.XETS"),
    ?assert(filelib:is_dir(Dir)),
    {atomic, ok} = mnesia:delete_table(t),
    ?assertNot(filelib:is_dir(Dir)),
    ?assertEqual(undefined, xets:info(t, size)),
    ?assertEqual({error, {bad_alias, x}}, xets_mnesia:register([x])).

every_table_type_takes_transactions_and_dirty_operations(_Config) ->
    [begin
         T = table(Alias, Type),
         {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {type, Type},
                                                {attributes, [k, v]}]),
         {atomic, ok} = mnesia:transaction(
                          fun() -> [mnesia:write({T, K, K * 10}) || K <- lists:seq(1, 20)], ok end),
         [ok = mnesia:dirty_write({T, K, K * 10}) || K <- lists:seq(21, 40)],
         ?assertEqual({atomic, [{T, 5, 50}]}, mnesia:transaction(fun() -> mnesia:read(T, 5) end)),
         ?assertEqual([{T, 25, 250}], mnesia:dirty_read(T, 25)),
         {atomic, ok} = mnesia:transaction(fun() -> mnesia:delete({T, 5}) end),
         ok = mnesia:dirty_delete({T, 25}),
         ?assertEqual([], mnesia:dirty_read(T, 5)),
         ?assertEqual({atomic, []}, mnesia:transaction(fun() -> mnesia:read(T, 25) end)),
         %% An aborted transaction changes nothing.
         ?assertEqual({aborted, no},
                      mnesia:transaction(fun() -> mnesia:write({T, 1, changed}), mnesia:abort(no) end)),
         ?assertEqual([{T, 1, 10}], mnesia:dirty_read(T, 1)),
         ?assertEqual(38, mnesia:table_info(T, size)),
         ?assertEqual(lists:seq(1, 40) -- [5, 25], lists:sort(mnesia:dirty_all_keys(T))),
         case Type of
             bag ->
                 ok = mnesia:dirty_write({T, 1, 11}),
                 ?assertEqual([{T, 1, 10}, {T, 1, 11}], mnesia:dirty_read(T, 1)),
                 ok = mnesia:dirty_delete_object({T, 1, 10}),
                 ?assertEqual([{T, 1, 11}], mnesia:dirty_read(T, 1));
             _ ->
                 ok = mnesia:dirty_write({T, 1, 11}),
                 ?assertEqual([{T, 1, 11}], mnesia:dirty_read(T, 1))
         end,
         ?assertEqual(lists:sort([{T, K, K * 10} || K <- lists:seq(2, 40), K =/= 5, K =/= 25]),
                      lists:sort(mnesia:dirty_match_object({T, '_', '_'})) -- [{T, 1, 11}]),
         {atomic, ok} = mnesia:clear_table(T),
         ?assertEqual(0, mnesia:table_info(T, size))
     end || Alias <- ?ALIASES, Type <- ?TYPES],
    ok.

%% ---- conformance against disc_copies --------------------------------------
%%
%% The same random operations, through mnesia:dirty_* and
%% mnesia:transaction, on a xets_copies table and a disc_copies table of
%% the same type and record name (and on xets_ram_copies against
%% ram_copies): each operation returns the same, and the tables end with
%% the same records. Where the table's order is not
%% defined (set, bag), whole-table results are compared sorted.

conformance_with_disc_copies_set(_Config) -> conformance(set).
conformance_with_disc_copies_ordered_set(_Config) -> conformance(ordered_set).
conformance_with_disc_copies_bag(_Config) -> conformance(bag).

conformance(Type) ->
    conformance(Type, x, xets_copies, d, disc_copies),
    conformance(Type, xr, xets_ram_copies, r, ram_copies).

conformance(Type, X, Alias, D, Native) ->
    Opts = [{type, Type}, {record_name, rec}, {attributes, [k, v]}, {index, [v]}],
    {atomic, ok} = mnesia:create_table(X, [{Alias, [node()]} | Opts]),
    {atomic, ok} = mnesia:create_table(D, [{Native, [node()]} | Opts]),
    rand:seed(exsss, {1, 2, erlang:phash2({Type, Alias})}),
    Ops = [op() || _ <- lists:seq(1, 3000)],
    lists:foreach(
      fun(Op) ->
              XR = run(Type, X, Op),
              DR = run(Type, D, Op),
              ?assertEqual({Alias, Op, DR}, {Alias, Op, XR})
      end, Ops),
    ?assertEqual(lists:sort(mnesia:dirty_match_object(D, {rec, '_', '_'})),
                 lists:sort(mnesia:dirty_match_object(X, {rec, '_', '_'}))),
    ?assertEqual(mnesia:table_info(D, size), mnesia:table_info(X, size)).

op() ->
    K = rand:uniform(40),
    V = rand:uniform(5),
    case rand:uniform(16) of
        1 -> {dirty_write, K, V};
        2 -> {dirty_delete, K};
        3 -> {dirty_read, K};
        4 -> {dirty_delete_object, K, V};
        5 -> {dirty_index_read, V};
        6 -> {dirty_select, V};
        7 -> {tx_write, [{rand:uniform(40), rand:uniform(5)} || _ <- lists:seq(1, 3)]};
        8 -> {tx_read_write, K, V};
        9 -> {tx_delete, K};
        10 -> {tx_delete_object, K, V};
        11 -> {tx_select_limit, V};
        12 -> {tx_match_object, V};
        13 -> {dirty_first_next};
        14 -> {dirty_all_keys};
        15 -> {tx_index_read, V};
        16 -> {dirty_write, K, V}
    end.

run(_Type, T, {dirty_write, K, V}) -> mnesia:dirty_write(T, {rec, K, V});
run(_Type, T, {dirty_delete, K}) -> mnesia:dirty_delete(T, K);
run(_Type, T, {dirty_read, K}) -> mnesia:dirty_read(T, K);
run(_Type, T, {dirty_delete_object, K, V}) -> mnesia:dirty_delete_object(T, {rec, K, V});
run(Type, T, {dirty_index_read, V}) -> unordered(Type, mnesia:dirty_index_read(T, V, v));
run(Type, T, {dirty_select, V}) ->
    unordered(Type, mnesia:dirty_select(T, [{{rec, '$1', '$2'}, [{'>=', '$2', V}], [{{'$1', '$2'}}]}]));
run(_Type, T, {tx_write, KVs}) ->
    mnesia:transaction(fun() -> [mnesia:write(T, {rec, K, V}, write) || {K, V} <- KVs] end);
run(_Type, T, {tx_read_write, K, V}) ->
    mnesia:transaction(
      fun() ->
              Old = mnesia:read(T, K),
              ok = mnesia:write(T, {rec, K, V + length(Old)}, write),
              {Old, mnesia:read(T, K)}
      end);
run(_Type, T, {tx_delete, K}) ->
    mnesia:transaction(fun() -> mnesia:delete(T, K, write), mnesia:read(T, K) end);
run(_Type, T, {tx_delete_object, K, V}) ->
    mnesia:transaction(fun() -> mnesia:delete_object(T, {rec, K, V}, write), mnesia:read(T, K) end);
run(Type, T, {tx_select_limit, V}) ->
    MS = [{{rec, '$1', '$2'}, [{'=/=', '$2', V}], ['$_']}],
    {atomic, Chunks} = mnesia:transaction(fun() -> all_chunks(mnesia:select(T, MS, 7, read), []) end),
    %% Chunks may be cut elsewhere; together they are the same.
    unordered(Type, lists:append(Chunks));
run(Type, T, {tx_match_object, V}) ->
    {atomic, L} = mnesia:transaction(fun() -> mnesia:match_object(T, {rec, '_', V}, read) end),
    unordered(Type, L);
run(Type, T, {dirty_first_next}) ->
    unordered(Type, walk(T, mnesia:dirty_first(T)));
run(_Type, T, {dirty_all_keys}) -> lists:sort(mnesia:dirty_all_keys(T));
run(Type, T, {tx_index_read, V}) ->
    {atomic, L} = mnesia:transaction(fun() -> mnesia:index_read(T, V, v) end),
    unordered(Type, L).

all_chunks('$end_of_table', Acc) -> lists:reverse(Acc);
all_chunks({L, Cont}, Acc) -> all_chunks(mnesia:select(Cont), [L | Acc]).

walk(_T, '$end_of_table') -> [];
walk(T, K) -> [K | walk(T, mnesia:dirty_next(T, K))].

unordered(ordered_set, L) -> L;
unordered(_, L) -> lists:sort(L).

%% ---- the rest of one node -------------------------------------------------

select_with_a_limit_continues_to_the_end(_Config) ->
    [begin
         T = table(Alias, Type),
         {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {type, Type}, {attributes, [k, v]}]),
         [ok = mnesia:dirty_write({T, K, K rem 7}) || K <- lists:seq(1, 500)],
         MS = [{{T, '$1', '$2'}, [{'<', '$2', 3}], ['$1']}],
         Expected = [K || K <- lists:seq(1, 500), K rem 7 < 3],
         {atomic, Chunks} =
             mnesia:transaction(fun() -> all_chunks(mnesia:select(T, MS, 10, read), []) end),
         ?assert(length(Chunks) >= length(Expected) div 10),
         [?assert(length(C) =< 10) || C <- Chunks],
         ?assertEqual(Expected, lists:sort(lists:append(Chunks))),
         ?assertEqual(Expected, lists:sort(mnesia:dirty_select(T, MS))),
         {atomic, All} = mnesia:transaction(fun() -> mnesia:select(T, MS) end),
         ?assertEqual(Expected, lists:sort(All)),
         %% A transaction's own writes are in its select.
         {atomic, Mine} = mnesia:transaction(
                            fun() ->
                                    ok = mnesia:write({T, 1000, 0}),
                                    all_chunks(mnesia:select(T, MS, 10, read), [])
                            end),
         ?assertEqual(Expected ++ [1000], lists:sort(lists:append(Mine)))
     end || Alias <- ?ALIASES, Type <- ?TYPES],
    ok.

first_next_last_prev_walk_the_table(_Config) ->
    [begin
         T = table(Alias, Type),
         {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {type, Type}, {attributes, [k, v]}]),
         ?assertEqual('$end_of_table', mnesia:dirty_first(T)),
         ?assertEqual('$end_of_table', mnesia:dirty_last(T)),
         Keys = lists:seq(1, 100),
         [ok = mnesia:dirty_write({T, K, x}) || K <- lists:reverse(Keys)],
         Forward = walk(T, mnesia:dirty_first(T)),
         Backward = walk_back(T, mnesia:dirty_last(T)),
         ?assertEqual(Keys, lists:sort(Forward)),
         case Type of
             ordered_set -> ?assertEqual(Forward, lists:reverse(Backward));
             %% As in ets, a hash table has one order: last/prev are
             %% first/next.
             _ -> ?assertEqual(Forward, Backward)
         end,
         {atomic, TxForward} = mnesia:transaction(fun() -> tx_walk(T, mnesia:first(T)) end),
         ?assertEqual(Forward, TxForward),
         {atomic, TxBackward} = mnesia:transaction(fun() -> tx_walk_back(T, mnesia:last(T)) end),
         ?assertEqual(Backward, TxBackward),
         case Type of
             ordered_set -> ?assertEqual(Keys, Forward);
             _ -> ok
         end
     end || Alias <- ?ALIASES, Type <- ?TYPES],
    ok.

walk_back(_T, '$end_of_table') -> [];
walk_back(T, K) -> [K | walk_back(T, mnesia:dirty_prev(T, K))].

tx_walk(_T, '$end_of_table') -> [];
tx_walk(T, K) -> [K | tx_walk(T, mnesia:next(T, K))].

tx_walk_back(_T, '$end_of_table') -> [];
tx_walk_back(T, K) -> [K | tx_walk_back(T, mnesia:prev(T, K))].

dirty_update_counter_counts(_Config) ->
    [begin
         T = table(Alias, Type),
         {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {type, Type}, {attributes, [k, n]}]),
         ?assertEqual(5, mnesia:dirty_update_counter(T, c, 5)),   % created
         ?assertEqual(12, mnesia:dirty_update_counter(T, c, 7)),
         ?assertEqual(2, mnesia:dirty_update_counter(T, c, -10)),
         ?assertEqual(0, mnesia:dirty_update_counter(T, c, -10)), % not below zero
         ?assertEqual([{T, c, 0}], mnesia:dirty_read(T, c)),
         %% Mnesia makes a missing counter with a put after update_counter
         %% fails, so first increments that run at once lose each other in
         %% Mnesia itself (ram_copies on ets too: 12 of 1,000 runs ended
         %% at 799): the counter exists before the concurrent ones.
         ?assertEqual(0, mnesia:dirty_update_counter(T, d, 0)),
         Parent = self(),
         Pids = [spawn_link(fun() ->
                                    [mnesia:dirty_update_counter(T, d, 1) || _ <- lists:seq(1, 200)],
                                    Parent ! {done, self()}
                            end) || _ <- lists:seq(1, 4)],
         [receive {done, P} -> ok end || P <- Pids],
         ?assertEqual([{T, d, 800}], mnesia:dirty_read(T, d))
     end || Alias <- ?ALIASES, Type <- [set, ordered_set]],
    ok.

secondary_indexes_find_records(_Config) ->
    [begin
         T = table(Alias, Type),
         {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {type, Type},
                                                {attributes, [k, colour, size]},
                                                {index, [{colour, ordered}, {size, bag}]}]),
         [ok = mnesia:dirty_write({T, K, colour(K), K rem 4}) || K <- lists:seq(1, 60)],
         Red = [{T, K, red, K rem 4} || K <- lists:seq(1, 60), colour(K) =:= red],
         ?assertEqual(Red, lists:sort(mnesia:dirty_index_read(T, red, colour))),
         {atomic, TxRed} = mnesia:transaction(fun() -> mnesia:index_read(T, red, colour) end),
         ?assertEqual(Red, lists:sort(TxRed)),
         Size2 = [{T, K, colour(K), 2} || K <- lists:seq(1, 60), K rem 4 =:= 2],
         ?assertEqual(Size2, lists:sort(mnesia:dirty_index_read(T, 2, size))),
         %% An update moves the record in the index; a delete takes it out.
         Type =:= bag andalso (ok = mnesia:dirty_delete_object({T, 3, red, 3})),
         ok = mnesia:dirty_write({T, 3, blue, 3}),
         {atomic, ok} = mnesia:transaction(fun() -> mnesia:delete({T, 6}) end),
         Red2 = [R || {_, K, _, _} = R <- Red, K =/= 3, K =/= 6],
         ?assertEqual(Red2, lists:sort(mnesia:dirty_index_read(T, red, colour))),
         ?assert(lists:member({T, 3, blue, 3}, mnesia:dirty_index_read(T, blue, colour))),
         %% match_object with the index position bound uses the index.
         ?assertEqual(Red2, lists:sort(mnesia:dirty_match_object({T, '_', red, '_'}))),
         %% An index added later is built from the records.
         {atomic, ok} = mnesia:del_table_index(T, size),
         {atomic, ok} = mnesia:add_table_index(T, size),
         ?assertEqual(lists:keydelete(6, 2, Size2), lists:sort(mnesia:dirty_index_read(T, 2, size)))
     end || Alias <- ?ALIASES, Type <- ?TYPES],
    ok.

colour(K) -> lists:nth(K rem 3 + 1, [red, green, blue]).

table_info_size_and_memory_are_the_tables(_Config) ->
    [begin
         T = table(Alias, set),
         {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {attributes, [k, v]}]),
         Empty = mnesia:table_info(T, memory),
         [ok = mnesia:dirty_write({T, K, binary:copy(<<K>>, 100)}) || K <- lists:seq(1, 255)],
         ?assertEqual(255, mnesia:table_info(T, size)),
         Memory = mnesia:table_info(T, memory),
         %% At least the records' own bytes, in words.
         Bytes = 255 * (100 + 10),
         ?assert(Memory - Empty >= Bytes div erlang:system_info(wordsize), {Empty, Memory}),
         ?assert(Memory < 20 * Bytes, Memory),
         ok = mnesia:dirty_delete(T, 1),
         ?assertEqual(254, mnesia:table_info(T, size))
     end || Alias <- ?ALIASES],
    ok.

xets_copies_data_survives_a_restart_of_mnesia(Config) ->
    [{atomic, ok} = mnesia:create_table(table(xets_copies, Type),
                                        [{xets_copies, [node()]}, {type, Type}, {attributes, [k, v]},
                                         {index, [v]}])
     || Type <- ?TYPES],
    {atomic, ok} = mnesia:create_table(r, [{xets_ram_copies, [node()]}, {attributes, [k, v]}]),
    Write = fun(T) ->
                    {atomic, ok} = mnesia:transaction(
                                     fun() -> [mnesia:write({T, K, K rem 5}) || K <- lists:seq(1, 300)], ok end),
                    [ok = mnesia:dirty_write({T, K, K rem 5}) || K <- lists:seq(301, 600)],
                    ok = mnesia:dirty_delete(T, 7)
            end,
    [Write(table(xets_copies, Type)) || Type <- ?TYPES],
    ok = Write(r),
    stopped = mnesia:stop(),
    %% The files are there, one directory a table.
    Dir = ?config(mnesia_dir, Config),
    [?assert(filelib:is_dir(filename:join(Dir, atom_to_list(table(xets_copies, Type)) ++ ".XETS")))
     || Type <- ?TYPES],
    ok = mnesia:start(),
    Tabs = [table(xets_copies, Type) || Type <- ?TYPES],
    ok = mnesia:wait_for_tables([r | Tabs], 10000),
    [begin
         ?assertEqual(599, mnesia:table_info(T, size)),
         ?assertEqual([], mnesia:dirty_read(T, 7)),
         ?assertEqual([{T, 8, 3}], mnesia:dirty_read(T, 8)),
         ?assertEqual(lists:sort([{T, K, 2} || K <- lists:seq(1, 600), K rem 5 =:= 2, K =/= 7]),
                      lists:sort(mnesia:dirty_index_read(T, 2, v)))
     end || T <- Tabs],
    %% ram semantics: a xets_ram_copies table comes back empty.
    ?assertEqual(0, mnesia:table_info(r, size)).

change_table_copy_type_keeps_the_data(_Config) ->
    T = t,
    %% set: disc_only_copies has no ordered_set.
    {atomic, ok} = mnesia:create_table(T, [{xets_copies, [node()]}, {type, set},
                                           {attributes, [k, v]}, {index, [v]}]),
    Records = [{T, K, K rem 3} || K <- lists:seq(1, 1000)],
    [ok = mnesia:dirty_write(R) || R <- Records],
    Check = fun(Storage) ->
                    ?assertEqual(Storage, mnesia:table_info(T, storage_type)),
                    ?assertEqual(Records, lists:sort(mnesia:dirty_match_object({T, '_', '_'}))),
                    ?assertEqual([R || {_, _, 1} = R <- Records],
                                 lists:sort(mnesia:dirty_index_read(T, 1, v)))
            end,
    Steps = [disc_copies, xets_copies, ram_copies, xets_copies, xets_ram_copies, disc_copies,
             xets_ram_copies, xets_copies, disc_only_copies, xets_copies],
    lists:foreach(
      fun(To) ->
              ?assertEqual({To, {atomic, ok}}, {To, mnesia:change_table_copy_type(T, node(), To)}),
              Check(storage(To))
      end, Steps),
    %% And the last, xets_copies, is on disk.
    stopped = mnesia:stop(),
    ok = mnesia:start(),
    ok = mnesia:wait_for_tables([T], 10000),
    Check(storage(xets_copies)).

storage(Alias) when Alias =:= xets_copies; Alias =:= xets_ram_copies -> {ext, Alias, xets_mnesia};
storage(Native) -> Native.

backup_and_restore_bring_the_data_back(Config) ->
    Tabs = [begin
                T = table(Alias, Type),
                {atomic, ok} = mnesia:create_table(T, [{Alias, [node()]}, {type, Type},
                                                       {attributes, [k, v]}, {index, [v]}]),
                [ok = mnesia:dirty_write({T, K, K rem 4}) || K <- lists:seq(1, 200)],
                T
            end || Alias <- ?ALIASES, Type <- ?TYPES],
    Before = [{T, lists:sort(mnesia:dirty_match_object({T, '_', '_'}))} || T <- Tabs],
    File = filename:join(?config(mnesia_dir, Config), "backup.BUP"),
    ok = mnesia:backup(File),
    %% Changed after the backup.
    [begin
         {atomic, ok} = mnesia:clear_table(T),
         ok = mnesia:dirty_write({T, 1000, x})
     end || T <- Tabs],
    {atomic, Restored} = mnesia:restore(File, [{default_op, clear_tables}]),
    ?assertEqual(lists:sort(Tabs), lists:sort(Restored)),
    [?assertEqual({T, L}, {T, lists:sort(mnesia:dirty_match_object({T, '_', '_'}))}) || {T, L} <- Before],
    [?assertEqual([R || {_, _, 3} = R <- L], lists:sort(mnesia:dirty_index_read(T, 3, v)))
     || {T, L} <- Before],
    %% recreate_tables: deleted and made again from the backup.
    [ok = mnesia:dirty_write({T, 2000, y}) || T <- Tabs],
    {atomic, _} = mnesia:restore(File, [{default_op, recreate_tables}]),
    [?assertEqual({T, L}, {T, lists:sort(mnesia:dirty_match_object({T, '_', '_'}))}) || {T, L} <- Before],
    %% A backup installed as fallback is the data after the next start.
    [ok = mnesia:dirty_write({T, 3000, z}) || T <- Tabs],
    ok = mnesia:install_fallback(File),
    stopped = mnesia:stop(),
    ok = mnesia:start(),
    ok = mnesia:wait_for_tables(Tabs, 10000),
    [?assertEqual({T, L}, {T, lists:sort(mnesia:dirty_match_object({T, '_', '_'}))})
     || {T, L} <- Before, mnesia:table_info(T, storage_type) =:= storage(xets_copies)].

%% Mnesia writes a committed transaction into the table after its point
%% of no return. A table whose writes fail (xets's fault store, the
%% test-only storage property {xets, [{fault_store, true}]} below, makes
%% the next put fail with eio) makes Mnesia on the node stop with a
%% mnesia_fatal system event naming the table.
a_disk_failure_after_the_point_of_no_return_stops_mnesia(_Config) ->
    {atomic, ok} = mnesia:create_table(f, [{xets_ram_copies, [node()]}, {attributes, [k, v]},
                                           {storage_properties, [{xets, [{fault_store, true}]}]}]),
    {atomic, ok} = mnesia:transaction(fun() -> mnesia:write({f, 1, a}) end),
    {ok, _} = mnesia:subscribe(system),
    Mnesia = whereis(mnesia_sup),
    Ref = monitor(process, Mnesia),
    true = xets_nif:fault_arm(f, put, io),
    _ = (catch mnesia:transaction(fun() -> mnesia:write({f, 2, b}) end)),
    receive
        {mnesia_system_event, {mnesia_fatal, Format, Args, nocore}} ->
            Text = lists:flatten(io_lib:format(Format, Args)),
            ct:pal("~ts", [Text]),
            ?assertMatch({match, _}, re:run(Text, "insert of table f failed on disk"))
    after 10000 ->
            error(no_mnesia_fatal_event)
    end,
    receive {'DOWN', Ref, process, Mnesia, _} -> ok
    after 10000 -> error(mnesia_still_running)
    end,
    ?assertEqual(no, mnesia:system_info(is_running)).

%% ---- cluster --------------------------------------------------------------

%% The only copy, on a node killed with kill -9: what Mnesia committed is
%% there after the restart (xets's log, and Mnesia's replayed into it).
a_lone_node_killed_keeps_its_committed_writes(Config) ->
    [{P, N, Args}] = start_cluster(Config, [lone]),
    {P2, N} = try
                  {atomic, ok} = peer:call(P, mnesia, create_table,
                                           [solo, [{xets_copies, [N]}, {type, ordered_set},
                                                   {attributes, [k, v]}, {index, [v]}]]),
                  ok = peer:call(P, erlang, apply,
                                 [fun() ->
                                          [{atomic, ok} = mnesia:transaction(fun() -> mnesia:write({solo, K, K rem 7}) end)
                                           || K <- lists:seq(1, 3000)],
                                          [ok = mnesia:dirty_write({solo, K, K rem 7}) || K <- lists:seq(3001, 6000)],
                                          {atomic, ok} = mnesia:transaction(fun() -> mnesia:delete({solo, 10}) end),
                                          ok
                                  end, []], 60000),
                  _ = os:cmd("kill -9 " ++ peer:call(P, os, getpid, [])),
                  catch peer:stop(P),
                  start_peer(lone, Args)
              catch
                  Class:Reason:Stack ->
                      stop_cluster([{P, N, Args}]),
                      erlang:raise(Class, Reason, Stack)
              end,
    try
        ok = peer:call(P2, mnesia, start, []),
        ok = peer:call(P2, mnesia, wait_for_tables, [[solo], 30000]),
        ?assertEqual([{solo, K, K rem 7} || K <- lists:seq(1, 6000), K =/= 10],
                     peer:call(P2, mnesia, dirty_match_object, [{solo, '_', '_'}])),
        ?assertEqual(5999, peer:call(P2, mnesia, table_info, [solo, size])),
        ?assertEqual(length([K || K <- lists:seq(1, 6000), K =/= 10, K rem 7 =:= 3]),
                     length(peer:call(P2, mnesia, dirty_index_read, [solo, 3, v])))
    after
        stop_cluster([{P2, N, Args}])
    end.

writes_from_every_node_land_on_every_copy(Config) ->
    Nodes = start_cluster(Config, [a, b, c]),
    try
        Ns = [N || {_, N, _} <- Nodes],
        [{PA, A, _} | _] = Nodes,
        [{atomic, ok} = peer:call(PA, mnesia, create_table,
                                  [table(Alias, Type), [{Alias, Ns}, {type, Type},
                                                        {attributes, [k, v]}, {index, [v]}]])
         || Alias <- ?ALIASES, Type <- ?TYPES],
        Tabs = [table(Alias, Type) || Alias <- ?ALIASES, Type <- ?TYPES],
        [begin
             [{atomic, ok} = peer:call(P, mnesia, transaction,
                                       [fun() -> [mnesia:write({T, {N, K}, K}) || K <- lists:seq(1, 50)], ok end])
              || T <- Tabs],
             [ok = peer:call(P, mnesia, dirty_write, [{T, {N, dirty}, 0}]) || T <- Tabs]
         end || {P, N, _} <- Nodes],
        Expected = lists:sort([{T, {N, K}, K} || T <- Tabs, N <- Ns, K <- lists:seq(1, 50)] ++
                              [{T, {N, dirty}, 0} || T <- Tabs, N <- Ns]),
        %% Every copy holds every write: read each node's own copy.
        [begin
             Local = lists:sort(lists:append(
                                  [peer:call(P, xets, tab2list, [T]) || T <- Tabs])),
             ?assertEqual({N, length(Expected)}, {N, length(Local)}),
             ?assertEqual(Expected, Local),
             ?assertEqual(3, length(peer:call(P, mnesia, dirty_index_read, [hd(Tabs), 7, v])))
         end || {P, N, _} <- Nodes],
        _ = A
    after
        stop_cluster(Nodes)
    end.

add_table_copy_streams_a_large_table_in_chunks(Config) ->
    Nodes = start_cluster(Config, [a, b, c]),
    try
        [{PA, A, _}, {_, B, _}, {PC, C, _}] = Nodes,
        N = 100000,
        {atomic, ok} = peer:call(PA, mnesia, create_table,
                                 [big, [{xets_copies, [A, B]}, {type, ordered_set},
                                        {attributes, [k, v]}, {index, [v]}]]),
        ok = peer:call(PA, erlang, apply,
                       [fun() ->
                                lists:foreach(
                                  fun(K0) ->
                                          {atomic, ok} = mnesia:transaction(
                                                           fun() ->
                                                                   [mnesia:write({big, K, K rem 100})
                                                                    || K <- lists:seq(K0, K0 + 999)],
                                                                   ok
                                                           end)
                                  end, lists:seq(1, N, 1000))
                        end, []], 120000),
        %% Trace the receiving side of the copy on c.
        ok = peer:call(PC, ?MODULE, chunk_tracer, []),
        {atomic, ok} = peer:call(PC, mnesia, add_table_copy, [big, C, xets_copies], 120000),
        Chunks = peer:call(PC, ?MODULE, chunks, []),
        ct:pal("~p records arrived in ~p chunks, the largest ~p records",
               [N, length(Chunks), lists:max(Chunks)]),
        ?assertEqual(N, lists:sum(Chunks)),
        ?assert(length(Chunks) >= 10, Chunks),
        ?assert(lists:max(Chunks) < N div 5, Chunks),
        ?assertEqual(N, peer:call(PC, xets, info, [big, size])),
        ?assertEqual(N, peer:call(PC, mnesia, table_info, [big, size])),
        ?assertEqual([{big, 777, 77}], peer:call(PC, xets, lookup, [big, 777])),
        ?assertEqual(N div 100, length(peer:call(PC, mnesia, dirty_index_read, [big, 5, v]))),
        %% del_table_copy removes it, files and all.
        {atomic, ok} = peer:call(PA, mnesia, del_table_copy, [big, C]),
        ?assertEqual(undefined, peer:call(PC, xets, info, [big, size])),
        CDir = peer:call(PC, mnesia, system_info, [directory]),
        ?assertNot(filelib:is_dir(filename:join(CDir, "big.XETS")))
    after
        stop_cluster(Nodes)
    end.

%% In c: a tracer that counts the records of each chunk that
%% xets_mnesia:receive_data/5 takes; chunks/0 stops it and returns the
%% counts.
chunk_tracer() ->
    Tracer = spawn(fun() -> trace_loop([]) end),
    true = register(xets_mnesia_chunk_tracer, Tracer),
    erlang:trace_pattern({xets_mnesia, receive_data, 5}, true, [global]),
    _ = erlang:trace(all, true, [call, {tracer, Tracer}]),
    ok.

chunks() ->
    _ = erlang:trace(all, false, [call]),
    xets_mnesia_chunk_tracer ! {stop, self()},
    receive {chunks, Chunks} -> Chunks after 10000 -> error(no_chunks) end.

trace_loop(Acc) ->
    receive
        {trace, _, call, {xets_mnesia, receive_data, [Records | _]}} ->
            trace_loop([length(Records) | Acc]);
        {stop, To} ->
            To ! {chunks, lists:reverse(Acc)}
    end.

a_node_killed_and_restarted_catches_up(Config) ->
    Nodes = start_cluster(Config, [a, b, c]),
    Left = try
               [{PA, A, _}, {PB, B, _}, {PC, C, ArgsC}] = Nodes,
               Ns = [A, B, C],
               {atomic, ok} = peer:call(PA, mnesia, create_table,
                                        [k, [{xets_copies, Ns}, {attributes, [k, v]}]]),
               [ok = peer:call(PA, mnesia, dirty_write, [{k, I, before}]) || I <- lists:seq(1, 100)],
               OsPid = peer:call(PC, os, getpid, []),
               _ = os:cmd("kill -9 " ++ OsPid),
               wait_until(fun() -> not lists:member(C, peer:call(PA, mnesia, system_info, [running_db_nodes])) end),
               %% While c is down.
               {atomic, ok} = peer:call(PB, mnesia, transaction,
                                        [fun() -> [mnesia:write({k, I, while_down}) || I <- lists:seq(50, 150)], ok end]),
               ok = peer:call(PA, mnesia, dirty_delete, [k, 1]),
               catch peer:stop(PC),
               {PC2, C} = start_peer(c, ArgsC),
               ok = peer:call(PC2, mnesia, start, []),
               ok = peer:call(PC2, mnesia, wait_for_tables, [[k], 30000]),
               Expected = lists:sort([{k, I, before} || I <- lists:seq(2, 49)] ++
                                     [{k, I, while_down} || I <- lists:seq(50, 150)]),
               ?assertEqual(Expected, lists:sort(peer:call(PC2, xets, tab2list, [k]))),
               %% And c takes part again.
               ok = peer:call(PC2, mnesia, dirty_write, [{k, 1000, after_restart}]),
               ?assertEqual([{k, 1000, after_restart}], peer:call(PA, xets, lookup, [k, 1000])),
               [{PA, A, x}, {PB, B, x}, {PC2, C, x}]
           catch
               Class:Reason:Stack ->
                   stop_cluster(Nodes),
                   erlang:raise(Class, Reason, Stack)
           end,
    stop_cluster(Left).

%% b, restarting while a holds a newer table, receives a copy into
%% big.XETS_TMP; killed with kill -9 in the middle of it, b keeps its old
%% table whole under big.XETS (read here, in this node, from b's files),
%% and at its next start loads the table from a.
a_node_killed_during_a_copy_keeps_no_partial_table(Config) ->
    Nodes = start_cluster(Config, [a, b]),
    Left = try
               [{PA, A, _}, {PB, B, ArgsB}] = Nodes,
               N = 100000,
               {atomic, ok} = peer:call(PA, mnesia, create_table,
                                        [big, [{xets_copies, [A, B]}, {attributes, [k, v]}]]),
               Old = [{big, K, old} || K <- lists:seq(1, 1000)],
               {atomic, ok} = peer:call(PA, mnesia, transaction,
                                        [fun() -> lists:foreach(fun mnesia:write/1, Old) end]),
               BDir = peer:call(PB, mnesia, system_info, [directory]),
               _ = os:cmd("kill -9 " ++ peer:call(PB, os, getpid, [])),
               catch peer:stop(PB),
               ok = peer:call(PA, erlang, apply, [fun() -> write_big(N) end, []], 120000),
               {PB2, B} = start_peer(b, ArgsB),
               ok = peer:call(PB2, mnesia, start, []),
               %% Until b's copy is well under way.
               Receiving = fun() ->
                                   case peer:call(PB2, ets, lookup, [xets_mnesia, big]) of
                                       [E] when element(7, E) =/= undefined ->
                                           peer:call(PB2, xets, info, [big, size]) > 2000;
                                       _ -> false
                                   end
                           end,
               wait_until(Receiving, 2000, 5),
               _ = os:cmd("kill -9 " ++ peer:call(PB2, os, getpid, [])),
               catch peer:stop(PB2),
               %% The copy was cut short: its directory is there, and
               %% big.XETS is b's old table, whole.
               ?assert(filelib:is_dir(filename:join(BDir, "big.XETS_TMP"))),
               {ok, T} = xets:open(b_big, filename:join(BDir, "big.XETS"), [set, {keypos, 2}]),
               ?assertEqual(Old, lists:sort(xets:tab2list(T))),
               ok = xets:close(T),
               {PB3, B} = start_peer(b, ArgsB),
               ok = peer:call(PB3, mnesia, start, []),
               ok = peer:call(PB3, mnesia, wait_for_tables, [[big], 60000]),
               ?assertEqual(N, peer:call(PB3, xets, info, [big, size])),
               ?assertEqual(lists:sort(peer:call(PA, xets, tab2list, [big])),
                            lists:sort(peer:call(PB3, xets, tab2list, [big]))),
               ?assertNot(filelib:is_dir(filename:join(BDir, "big.XETS_TMP"))),
               ?assertNot(filelib:is_dir(filename:join(BDir, "big.XETS_OLD"))),
               [{PA, A, x}, {PB3, B, x}]
           catch
               Class:Reason:Stack ->
                   stop_cluster(Nodes),
                   erlang:raise(Class, Reason, Stack)
           end,
    stop_cluster(Left).

%% The same partition of two nodes, once for a xets_copies table and once
%% for a disc_copies one: the distribution between a and b is cut (the
%% peers run with dist_auto_connect once, so nothing reconnects them
%% behind the test's back), each writes on its side, then they are
%% connected again. Mnesia reports {inconsistent_database,
%% running_partitioned_network, _} on both nodes, and each node keeps its
%% own writes, for either storage alike; b restarted with a as its master
%% node for the table then holds a's records.
a_partition_is_reported_as_for_disc_copies(Config) ->
    Xets = partition(Config, xets_copies),
    Disc = partition(Config, disc_copies),
    ct:pal("xets_copies: ~p~ndisc_copies: ~p", [Xets, Disc]),
    {Events, _, _} = Xets,
    ?assertEqual([{a, {inconsistent_database, running_partitioned_network, b}},
                  {b, {inconsistent_database, running_partitioned_network, a}}],
                 lists:usort([E || {_, {inconsistent_database, running_partitioned_network, _}} = E
                                       <- Events])),
    ?assertEqual(Disc, Xets).

%% {Events, A's records, B's records}, the nodes named a and b.
partition(Config, Storage) ->
    Nodes = start_cluster(Config, [a, b], ["-kernel", "dist_auto_connect", "once"]),
    try
        [{PA, A, _}, {PB, B, _}] = Nodes,
        Name = fun(N) when N =:= A -> a; (N) when N =:= B -> b; (X) -> X end,
        {atomic, ok} = peer:call(PA, mnesia, create_table,
                                 [p, [{Storage, [A, B]}, {attributes, [k, v]}]]),
        [ok = peer:call(PA, mnesia, dirty_write, [{p, K, before}]) || K <- lists:seq(1, 10)],
        [ok = peer:call(P, ?MODULE, event_collector, []) || P <- [PA, PB]],
        true = peer:call(PA, erlang, disconnect_node, [B]),
        wait_until(fun() -> peer:call(PA, mnesia, system_info, [running_db_nodes]) =:= [A] andalso
                                peer:call(PB, mnesia, system_info, [running_db_nodes]) =:= [B] end),
        %% Each side writes its own keys, and both key 1.
        [{atomic, ok} = peer:call(P, mnesia, transaction,
                                  [fun() ->
                                           [mnesia:write({p, {Side, K}, Side}) || K <- lists:seq(1, 5)],
                                           mnesia:write({p, 1, Side})
                                   end])
         || {P, Side} <- [{PA, a}, {PB, b}]],
        ok = peer:call(PB, mnesia, dirty_delete, [p, 2]),
        true = peer:call(PA, net_kernel, connect_node, [B]),
        Reported = fun(P) ->
                           lists:keymember(inconsistent_database, 1,
                                           [E || {_, E} <- peer:call(P, ?MODULE, events, [])])
                   end,
        wait_until(fun() -> Reported(PA) andalso Reported(PB) end),
        Events = lists:usort([{Side, setelement(3, E, Name(element(3, E)))}
                              || {Side, P} <- [{a, PA}, {b, PB}],
                                 {_, E} <- peer:call(P, ?MODULE, events, []),
                                 element(1, E) =:= inconsistent_database]),
        Read = fun(P) -> lists:sort(peer:call(P, mnesia, dirty_match_object, [{p, '_', '_'}])) end,
        Records = [Read(P) || P <- [PA, PB]],
        %% The usual way out: b takes a's table at its next start.
        ok = peer:call(PB, mnesia, set_master_nodes, [p, [A]]),
        stopped = peer:call(PB, mnesia, stop, []),
        ok = peer:call(PB, mnesia, start, []),
        ok = peer:call(PB, mnesia, wait_for_tables, [[p], 30000]),
        ?assertEqual(Read(PA), Read(PB)),
        list_to_tuple([Events | Records])
    after
        stop_cluster(Nodes)
    end.

%% In a peer: a process that keeps Mnesia's system events, and events/0
%% that returns them, [{Node, Event}].
event_collector() ->
    Self = self(),
    Pid = spawn(fun() ->
                        {ok, _} = mnesia:subscribe(system),
                        Self ! subscribed,
                        collect([])
                end),
    true = register(xets_mnesia_events, Pid),
    receive subscribed -> ok after 5000 -> error(not_subscribed) end.

events() ->
    xets_mnesia_events ! {get, self()},
    receive {events, Events} -> Events after 5000 -> error(no_events) end.

collect(Acc) ->
    receive
        {get, To} -> To ! {events, lists:reverse(Acc)}, collect(Acc);
        {mnesia_system_event, E} -> collect([{node(), E} | Acc])
    end.

%% add_table_copy of a table of N records of about 100 bytes (200,000;
%% XETS_MNESIA_LOAD_N, 1,000,000 in make soak) onto a node that has none:
%% sampled every 10 ms during the copy, the node's memory (the VM's,
%% erlang:memory(total), plus xets's own heap, xets_nif:alloc_stats/0)
%% never grows more than ?LOAD_SLACK over what it holds before or after
%% the copy, whatever N (measured: 31 MB at 200,000), and its processes'
%% memory not more than ?PROCS_SLACK. Mnesia's loader has its part: the
%% sender runs up to 20 chunks (of ~64 KB of records) ahead of the
%% receiver, which wait in the receiver's mailbox. The rest is xets's:
%% the table receives with a memory limit of 32 MiB (receive_copy), which
%% bounds its memtables and block cache; none of it grows with N.
-define(LOAD_SLACK, 80 * 1024 * 1024).
-define(PROCS_SLACK, 16 * 1024 * 1024).
a_large_table_loads_onto_a_new_node_in_bounded_memory(Config) ->
    N = case os:getenv("XETS_MNESIA_LOAD_N") of
            false -> 200000;
            S -> list_to_integer(S)
        end,
    Nodes = start_cluster(Config, [a, c]),
    try
        [{PA, A, _}, {PC, C, _}] = Nodes,
        {atomic, ok} = peer:call(PA, mnesia, create_table,
                                 [big, [{xets_copies, [A]}, {attributes, [k, v]}]]),
        ok = peer:call(PA, erlang, apply, [fun() -> write_big(N) end, []], 600000),
        Before = peer:call(PC, ?MODULE, memory_now, []),
        ok = peer:call(PC, ?MODULE, memory_sampler, []),
        T0 = erlang:monotonic_time(millisecond),
        {atomic, ok} = peer:call(PC, mnesia, add_table_copy, [big, C, xets_copies], 600000),
        Ms = erlang:monotonic_time(millisecond) - T0,
        #{samples := Samples, total := Peak, procs := PeakProcs, proc := PeakProc,
          queue := PeakQueue, xets := PeakXets, binary := PeakBinary, cache := PeakCache,
          memtable := PeakMemtable} = peer:call(PC, ?MODULE, memory_peaks, []),
        After = peer:call(PC, ?MODULE, memory_now, []),
        Growth = Peak - max(Before, After),
        ct:pal("~p records loaded in ~p ms; ~p samples. Memory (VM + xets heap): before ~p MB,"
               " peak ~p MB, after ~p MB; growth over the larger ~p MB. Peaks: all processes"
               " ~p MB, one process ~p MB, a mailbox ~p messages, binaries ~p MB, xets's heap ~p MB (the table's cache ~p MB, memtables ~p MB)",
               [N, Ms, Samples, mb(Before), mb(Peak), mb(After), mb(Growth), mb(PeakProcs),
                mb(PeakProc), PeakQueue, mb(PeakBinary), mb(PeakXets), mb(PeakCache), mb(PeakMemtable)]),
        ?assertEqual(N, peer:call(PC, xets, info, [big, size])),
        ?assert(Samples >= 5, Samples),
        ?assert(PeakProcs =< ?PROCS_SLACK, PeakProcs),
        ?assert(PeakQueue =< 21, PeakQueue),
        ?assert(Growth =< ?LOAD_SLACK, {Growth, ?LOAD_SLACK})
    after
        stop_cluster(Nodes)
    end.

mb(Bytes) -> Bytes div (1024 * 1024).

%% In a peer: the VM's memory and xets's heap, bytes.
memory_now() ->
    {_, XetsBytes} = xets_nif:alloc_stats(),
    erlang:memory(total) + XetsBytes.

%% In a peer: a process that samples memory every 10 ms; memory_peaks/0
%% stops it and returns the peaks.
memory_sampler() ->
    Pid = spawn(fun() -> sample(#{samples => 0, total => 0, procs => 0, proc => 0, queue => 0,
                                  xets => 0, binary => 0, cache => 0, memtable => 0}) end),
    true = register(xets_mnesia_sampler, Pid),
    ok.

memory_peaks() ->
    xets_mnesia_sampler ! {stop, self()},
    receive {peaks, Peaks} -> Peaks after 10000 -> error(no_peaks) end.

sample(#{samples := S, total := T, procs := Ps, proc := P, queue := Q, xets := X,
         binary := B, cache := Ca, memtable := Mt} = Acc) ->
    receive
        {stop, To} -> To ! {peaks, Acc}
    after 10 ->
            Info = [I || Pid <- processes(), Pid =/= self(),
                         I <- [process_info(Pid, [memory, message_queue_len])], I =/= undefined],
            Disk = case catch xets:info(big, disk) of L when is_list(L) -> L; _ -> [] end,
            sample(Acc#{samples := S + 1,
                        cache := max(Ca, proplists:get_value(cache_bytes, Disk, 0)),
                        memtable := max(Mt, proplists:get_value(memtable_bytes, Disk, 0)),
                        total := max(T, memory_now()),
                        procs := max(Ps, erlang:memory(processes)),
                        xets := max(X, element(2, xets_nif:alloc_stats())),
                        binary := max(B, erlang:memory(binary)),
                        proc := lists:max([P | [M || [{memory, M}, _] <- Info]]),
                        queue := lists:max([Q | [L || [_, {message_queue_len, L}] <- Info]])})
    end.

%% In a peer: N records of about 100 bytes into big, 1000 a transaction.
write_big(N) ->
    lists:foreach(
      fun(K0) ->
              {atomic, ok} = mnesia:transaction(
                               fun() ->
                                       [mnesia:write({big, K, <<K:800>>})
                                        || K <- lists:seq(K0, min(N, K0 + 999))],
                                       ok
                               end)
      end, lists:seq(1, N, 1000)).

%% ---- helpers --------------------------------------------------------------

table(Alias, Type) ->
    list_to_atom(atom_to_list(Alias) ++ "_" ++ atom_to_list(Type)).

epmd() ->
    case os:find_executable("epmd") of
        false -> filename:join([code:root_dir(), "erts-" ++ erlang:system_info(version), "bin", "epmd"]);
        Path -> Path
    end.

%% Peers named Name@127.0.0.1, their distribution on the loopback
%% interface only, each with Mnesia's directory under the case's
%% priv_dir, one schema for them all, Mnesia running: [{Peer, Node, Args}].
start_cluster(Config, Names) ->
    start_cluster(Config, Names, []).

start_cluster(Config, Names, Extra) ->
    Base = filename:join(?config(priv_dir, Config), integer_to_list(erlang:unique_integer([positive]))),
    Paths = lists:usort([filename:dirname(code:which(M)) || M <- [xets, xets_nif, xets_mnesia, ?MODULE]]),
    Started = [begin
                   Dir = filename:join(Base, atom_to_list(Name)),
                   ok = filelib:ensure_dir(filename:join(Dir, "x")),
                   Args = lists:append([["-pa", P] || P <- Paths]) ++
                       ["-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                        "-mnesia", "dir", "\"" ++ Dir ++ "\""] ++ Extra,
                   {P, N} = start_peer(Name, Args),
                   {P, N, Args}
               end || Name <- Names],
    Ns = [N || {_, N, _} <- Started],
    [{P1, _, _} | _] = Started,
    [pong = peer:call(P1, net_adm, ping, [N]) || N <- Ns],
    ok = peer:call(P1, mnesia, create_schema, [Ns, [{backend_types, xets_mnesia:backend_types()}]]),
    [ok = peer:call(P, mnesia, start, []) || {P, _, _} <- Started],
    Started.

start_peer(Name, Args) ->
    Unique = list_to_atom(atom_to_list(Name) ++ "_" ++ os:getpid()),
    {ok, P, N} = peer:start(#{name => Unique, host => "127.0.0.1", longnames => true,
                              connection => standard_io, args => Args,
                              wait_boot => 30000}),
    {P, N}.

stop_cluster(Nodes) ->
    [catch peer:call(P, mnesia, stop, []) || {P, _, _} <- Nodes],
    [catch peer:stop(P) || {P, _, _} <- Nodes],
    ok.

wait_until(Fun) ->
    wait_until(Fun, 200, 50).

wait_until(Fun, 0, _Ms) ->
    ?assert(Fun());
wait_until(Fun, N, Ms) ->
    case Fun() of
        true -> ok;
        false -> timer:sleep(Ms), wait_until(Fun, N - 1, Ms)
    end.
