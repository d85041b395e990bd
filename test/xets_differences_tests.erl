%% Each deliberate difference from ets that README.md's "Differences from
%% ets" lists, pinned: if one of these fails, xets changed, and the README
%% must change with it.
-module(xets_differences_tests).
-include_lib("eunit/include/eunit.hrl").

%% ets raises badarg for next/2 from a key a fixed hash table never held;
%% xets answers with the following key (the same answer ets gives for a key
%% deleted during the fixation), since its hash order is total.
next_from_a_never_present_key_of_a_fixed_hash_table_continues_test() ->
    lists:foreach(
      fun(Type) ->
              E = ets:new(e, [Type]),
              X = xets:new(x, [Type]),
              [begin ets:insert(E, {K}), xets:insert(X, {K}) end || K <- lists:seq(1, 100)],
              ets:safe_fixtable(E, true),
              xets:safe_fixtable(X, true),
              ?assertError(badarg, ets:next(E, never_there)),
              Next = xets:next(X, never_there),
              ?assert(Next =:= '$end_of_table' orelse xets:member(X, Next)),
              xets:safe_fixtable(X, false),
              ?assertError(badarg, xets:next(X, never_there))
      end, [set, bag, duplicate_bag]).

%% The compressed option is accepted and reported as in ets, but objects
%% are stored uncompressed: a compressible object costs as much memory.
compressed_tables_store_objects_uncompressed_test() ->
    Big = {key, lists:duplicate(10000, $a)},
    Plain = xets:new(p, []),
    Compressed = xets:new(c, [compressed]),
    ?assertEqual(true, xets:info(Compressed, compressed)),
    xets:insert(Plain, Big),
    xets:insert(Compressed, Big),
    ?assertEqual(xets:info(Plain, memory), xets:info(Compressed, memory)).

%% ets reports the statistics of its contention-adapting tree for an
%% ordered_set with write_concurrency; xets's ordered_set is a skiplist and
%% reports false, as ets does for its other ordered_sets.
ordered_set_stats_are_false_test() ->
    Opts = [ordered_set, {write_concurrency, true}],
    ?assertMatch({_, _, _}, ets:info(ets:new(e, Opts), stats)),
    ?assertEqual(false, xets:info(xets:new(x, Opts), stats)).

%% ets's ordered_set narrows a select to the range between the least and
%% the greatest key its clauses bind, but picks them in an order where 1
%% and 1.0 differ, while the table orders them as equal: with clauses
%% binding [1.0] and [1, 3] the range comes out empty and ets drops the
%% match of [1, 3] that the second clause alone finds. xets selects what
%% the spec matches, as match_spec_run/2 over the objects in order does.
ordered_set_select_keeps_matches_that_ets_range_narrowing_drops_test() ->
    Objs = [{[1, 3]}, {[1, 2, 1]}, {2}],
    MS = [{{[1.0]}, [], ['$_']}, {{[1, 3]}, [], ['$_']}],
    E = ets:new(e, [ordered_set]),
    X = xets:new(x, [ordered_set]),
    ets:insert(E, Objs),
    xets:insert(X, Objs),
    ?assertEqual([], ets:select(E, MS)),
    ?assertEqual([{[1, 3]}], ets:select(E, tl(MS))),
    Defined = ets:match_spec_run(ets:tab2list(E), ets:match_spec_compile(MS)),
    ?assertEqual([{[1, 3]}], Defined),
    ?assertEqual(Defined, xets:select(X, MS)),
    ?assertEqual(Defined, xets:select_reverse(X, MS)),
    Count = [{H, [], [true]} || {H, _, _} <- MS],
    ?assertEqual(0, ets:select_count(E, Count)),
    ?assertEqual(1, xets:select_count(X, Count)).

%% ets's select/3 on an ordered_set, scanning from the least to the
%% greatest key of several clauses, goes on past the greatest when it is a
%% map, through every bigger map (those that hold its keys match): its
%% chunks hold more than its select/2 returns. xets's chunks hold exactly
%% what its select/2 returns, which is what ets's select/2 returns.
ordered_set_chunks_of_map_keys_hold_what_select_returns_test() ->
    Objs = [{5, i}, {#{a => 1}, m}, {#{a => 1, b => 2}, m}, {#{z => 1}, m}],
    MS = [{{#{a => 1}, '_'}, [], ['$_']}, {{5, '_'}, [], ['$_']}],
    E = ets:new(e, [ordered_set]),
    X = xets:new(x, [ordered_set]),
    ets:insert(E, Objs),
    xets:insert(X, Objs),
    Select = [{5, i}, {#{a => 1}, m}],
    ?assertEqual(Select, ets:select(E, MS)),
    ?assertEqual(Select ++ [{#{a => 1, b => 2}, m}], chunked(ets, ets:select(E, MS, 1))),
    ?assertEqual(Select, xets:select(X, MS)),
    ?assertEqual(Select, chunked(xets, xets:select(X, MS, 1))).

chunked(M, {R, C}) -> R ++ chunked(M, M:select(C));
chunked(_, '$end_of_table') -> [].

%% ets's hash slots are its buckets (256 of them or more) and so are xets's
%% (64 or more): the same object is in slots of different numbers, but in
%% both every object is in exactly one slot before '$end_of_table'.
hash_slots_are_xets_s_own_buckets_test() ->
    E = ets:new(e, [set]),
    X = xets:new(x, [set]),
    [begin ets:insert(E, {K}), xets:insert(X, {K}) end || K <- lists:seq(1, 10)],
    ?assertEqual('$end_of_table', ets:slot(E, 256)),
    ?assertEqual('$end_of_table', xets:slot(X, 64)),
    Slots = lists:append([xets:slot(X, I) || I <- lists:seq(0, 63)]),
    ?assertEqual(lists:sort(ets:tab2list(E)), lists:sort(Slots)).

%% ets:fun2ms/1 on a compiled fun exits naming ets; xets's names xets.
fun2ms_on_a_compiled_fun_exits_naming_xets_test() ->
    F = fun(X) -> X end,
    ?assertExit({badarg, {ets, fun2ms, _}}, ets:fun2ms(F)),
    ?assertExit({badarg, {xets, fun2ms, _}}, xets:fun2ms(F)).

%% ets:internal_delete_all/2 takes its own trap states as second argument
%% (and returns any other term unchanged, deleting nothing); xets has none
%% and takes only undefined.
internal_delete_all_takes_only_undefined_test() ->
    E = ets:new(e, []),
    X = xets:new(x, []),
    ets:insert(E, {a}),
    xets:insert(X, {a}),
    ?assertEqual(other, ets:internal_delete_all(E, other)),
    ?assertError(badarg, xets:internal_delete_all(X, other)),
    ?assertEqual(1, ets:internal_delete_all(E, undefined)),
    ?assertEqual(1, xets:internal_delete_all(X, undefined)).

%% ets:all/0's protocol: one answer per scheduler, each with that
%% scheduler's tables; xets's first answer has them all.
internal_request_all_answers_with_every_table_first_test() ->
    X = xets:new(x, []),
    Ref = xets:internal_request_all(),
    First = receive {Ref, Tabs} -> Tabs end,
    ?assert(lists:member(X, First)),
    [receive {Ref, Rest} -> ?assertEqual([], Rest) end
     || _ <- lists:seq(2, erlang:system_info(schedulers))].

%% ets's folds fix the table for the calling process while they walk it
%% (info/2 says so inside the function); xets's walk needs no fixation.
%% Both fail alike when the function deletes the table.
folds_do_not_fix_the_table_test() ->
    E = ets:new(e, []),
    X = xets:new(x, []),
    ets:insert(E, {a}),
    xets:insert(X, {a}),
    ?assertEqual([true], ets:foldl(fun(_, A) -> [ets:info(E, fixed) | A] end, [], E)),
    ?assertEqual([false], xets:foldl(fun(_, A) -> [xets:info(X, fixed) | A] end, [], X)).

%% ets hands a dead owner's table to its heir before the owner's links and
%% monitors fire. xets learns of the death from a monitor of its own, which
%% fires after the owner's links and after the monitors set on the owner
%% before the table was created or given to it: a heir linked to the owner
%% gets the owner's 'EXIT' first, then 'ETS-TRANSFER'; a heir monitoring the
%% owner since before then gets 'DOWN' first. A monitor set afterwards
%% fires after the transfer, as in ets (the lifecycle suite checks that).
heir_hears_of_the_owners_death_before_the_transfer_test() ->
    Flag = process_flag(trap_exit, true),
    Orders = [{M, How, heir_order(M, How)} || How <- [link, early_monitor, late_monitor],
                                             M <- [ets, xets]],
    process_flag(trap_exit, Flag),
    ?assertEqual([{ets, link, transfer}, {xets, link, death},
                  {ets, early_monitor, transfer}, {xets, early_monitor, death},
                  {ets, late_monitor, transfer}, {xets, late_monitor, transfer}], Orders).

%% What the heir receives first when the owner exits: the transfer or the
%% news of the death.
heir_order(M, How) ->
    Heir = self(),
    Owner = spawn(fun() ->
                          receive start -> ok end,
                          T = M:new(t, [{heir, Heir, x}]),
                          Heir ! {made, self()},
                          receive {go, _} -> M:info(T, size) end
                  end),
    Ref = case How of
              link -> link(Owner), make_ref();
              early_monitor -> monitor(process, Owner);
              late_monitor -> make_ref()
          end,
    Owner ! start,
    receive {made, Owner} -> ok end,
    Ref1 = case How of
               late_monitor -> monitor(process, Owner);
               _ -> Ref
           end,
    Owner ! {go, self()},
    First = receive
                {'ETS-TRANSFER', T, Owner, x} -> M:delete(T), transfer;
                {'EXIT', Owner, _} -> death;
                {'DOWN', Ref1, process, Owner, _} -> death
            end,
    First =:= transfer orelse
        receive {'ETS-TRANSFER', T1, Owner, x} -> M:delete(T1) after 5000 -> error(no_transfer) end,
    receive {'EXIT', Owner, _} -> ok after 100 -> ok end,
    demonitor(Ref1, [flush]),
    First.

%% Pids, ports and references of the local node encode with a marker that
%% sorts before every node name, so that they stay the same keys when the
%% node turns distributed (test/xets_distribution_SUITE.erl). ets orders
%% them by the local node's current name: here nonode@nohost, after a@h and
%% before z@h. Ports and references, which Erlang orders by node first,
%% come local ones first in xets; pids, ordered by serial and number first,
%% differ only where a local and a remote pid have the same serial and
%% number. Among local ones, and among remote ones, the order is ets's.
ordered_set_puts_this_node_s_pids_ports_and_references_first_test() ->
    nonode@nohost = node(),
    Ref = make_ref(),
    {ARef, ZRef} = {xets_terms:ext_ref('a@h', 1, [1, 2, 3]), xets_terms:ext_ref('z@h', 1, [1, 2, 3])},
    Port = list_to_port("#Port<0.5>"),
    {APort, ZPort} = {xets_terms:ext_port('a@h', 1, 5), xets_terms:ext_port('z@h', 1, 5)},
    Pid = list_to_pid("<0.7.0>"),
    {APid, ZPid} = {xets_terms:ext_pid('a@h', 1, 7, 0), xets_terms:ext_pid('z@h', 1, 7, 0)},
    {APid6, APid8} = {xets_terms:ext_pid('a@h', 1, 6, 0), xets_terms:ext_pid('a@h', 1, 8, 0)},
    Keys = [Ref, ARef, ZRef, Port, APort, ZPort, Pid, APid, ZPid, APid6, APid8],
    E = ets:new(e, [ordered_set]),
    X = xets:new(x, [ordered_set]),
    [begin ets:insert(E, {K}), xets:insert(X, {K}) end || K <- Keys],
    ?assertEqual([ARef, Ref, ZRef, APort, Port, ZPort, APid6, APid, Pid, ZPid, APid8],
                 [K || {K} <- ets:tab2list(E)]),
    ?assertEqual([Ref, ARef, ZRef, Port, APort, ZPort, APid6, Pid, APid, ZPid, APid8],
                 [K || {K} <- xets:tab2list(X)]).

