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
