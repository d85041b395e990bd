%% Conformance of xets to ets: every case runs the same operations on an ets
%% table and on a table of the module under test created with the same
%% options, and demands the same results and the same exceptions (class,
%% reason, and error_info in the top stack frame).
%%
%% The module under test is `xets', or the one named by the environment
%% variable XETS_TEST_MOD: `XETS_TEST_MOD=ets' runs ets against ets, which
%% validates the suite itself (each case must pass then). In that mode the
%% hash tables under test are first grown and emptied, so that they iterate
%% in another order than their ets twin: a case that depends on the order
%% of a set or a bag fails.
%%
%% XETS_TEST_KEEP_GOING=1 makes a case log every difference and go on (with
%% the ets result), failing at its end: to list all differences at once.
%%
%% Results are compared exactly (0.0 and -0.0 are told apart, although they
%% are =:= on OTP 25), except where ets leaves the order unspecified
%% (tab2list, foldl, traversals of set, bag and duplicate_bag), which is
%% compared as sorted. Lookups in a bag are compared unsorted: ets returns
%% the objects of a key in insertion order.
%%
%% The twin tables and ?EQ, ?EQU and ?EQS are xets_twin's (xets_twin.hrl).
-module(xets_conformance_SUITE).

-include_lib("common_test/include/ct.hrl").
-include("xets_twin.hrl").

-import(xets_twin, [pair/2, new_pair/3, total_sort/1, printable/1]).

-export([suite/0, all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).

-export([new_accepts_every_ets_option_with_the_same_info/1,
         new_rejects_every_bad_option_with_badarg/1,
         new_named_table_name_clash_raises_badarg/1,
         edge_terms_as_keys_round_trip_as_in_ets/1,
         edge_terms_as_values_round_trip_unchanged/1,
         insert_object_and_list_replace_or_add_as_ets/1,
         insert_bad_objects_raise_badarg_and_insert_nothing/1,
         insert_new_is_all_or_nothing/1,
         lookup_returns_bag_objects_in_insertion_order/1,
         lookup_element_3_as_ets/1,
         lookup_element_4_returns_default_only_for_missing_key/1,
         member_as_ets/1,
         delete_removes_every_object_with_the_key/1,
         delete_object_removes_only_identical_objects/1,
         delete_all_objects_empties_the_table_and_keeps_it/1,
         take_removes_and_returns_the_objects_of_the_key/1,
         update_counter_as_ets/1,
         update_counter_bignums_and_word_boundaries_as_ets/1,
         update_counter_with_default_object_as_ets/1,
         update_counter_bad_arguments_raise_badarg/1,
         update_element_as_ets/1,
         first_next_visit_every_key_once/1,
         last_prev_visit_every_key_once/1,
         hash_tables_alias_last_prev_to_first_next/1,
         next_prev_on_absent_keys_as_ets/1,
         ordered_set_traverses_in_term_order/1,
         fixed_hash_traversal_survives_deleting_visited_keys/1,
         tab2list_as_ets/1,
         foldl_foldr_as_ets/1,
         folds_and_tab2list_follow_first_next_and_lookup_order/1,
         fold_propagates_exceptions_of_the_fun/1,
         fold_of_an_empty_table_returns_the_accumulator_whatever_the_fun/1,
         fold_whose_fun_deletes_the_table_raises_badarg_as_ets/1,
         safe_fixtable_counts_and_info_as_ets/1,
         info_1_as_ets/1,
         info_2_every_item_as_ets/1,
         memory_is_positive_and_grows_with_data/1,
         memory_depends_on_the_contents_not_on_the_order_of_their_inserts/1,
         rename_and_whereis_as_ets/1,
         give_away_as_ets/1,
         setopts_as_ets/1,
         calls_on_deleted_table_raise_badarg/1,
         calls_with_bad_table_argument_raise_badarg/1,
         keypos_tables_as_ets/1,
         options_do_not_change_results/1,
         badarg_exceptions_explain_the_argument/1,
         badarg_reason_top_frame_and_cause_as_ets/1,
         random_operations_match_ets/1]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).


suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [{group, T} || T <- ?TYPES].

groups() ->
    Cases = [new_accepts_every_ets_option_with_the_same_info,
             new_rejects_every_bad_option_with_badarg,
             new_named_table_name_clash_raises_badarg,
             edge_terms_as_keys_round_trip_as_in_ets,
             edge_terms_as_values_round_trip_unchanged,
             insert_object_and_list_replace_or_add_as_ets,
             insert_bad_objects_raise_badarg_and_insert_nothing,
             insert_new_is_all_or_nothing,
             lookup_returns_bag_objects_in_insertion_order,
             lookup_element_3_as_ets,
             lookup_element_4_returns_default_only_for_missing_key,
             member_as_ets,
             delete_removes_every_object_with_the_key,
             delete_object_removes_only_identical_objects,
             delete_all_objects_empties_the_table_and_keeps_it,
             take_removes_and_returns_the_objects_of_the_key,
             update_counter_as_ets,
             update_counter_bignums_and_word_boundaries_as_ets,
             update_counter_with_default_object_as_ets,
             update_counter_bad_arguments_raise_badarg,
             update_element_as_ets,
             first_next_visit_every_key_once,
             last_prev_visit_every_key_once,
             hash_tables_alias_last_prev_to_first_next,
             next_prev_on_absent_keys_as_ets,
             ordered_set_traverses_in_term_order,
             fixed_hash_traversal_survives_deleting_visited_keys,
             tab2list_as_ets,
             foldl_foldr_as_ets,
             folds_and_tab2list_follow_first_next_and_lookup_order,
             fold_propagates_exceptions_of_the_fun,
             fold_of_an_empty_table_returns_the_accumulator_whatever_the_fun,
             fold_whose_fun_deletes_the_table_raises_badarg_as_ets,
             safe_fixtable_counts_and_info_as_ets,
             info_1_as_ets,
             info_2_every_item_as_ets,
             memory_is_positive_and_grows_with_data,
             memory_depends_on_the_contents_not_on_the_order_of_their_inserts,
             rename_and_whereis_as_ets,
             give_away_as_ets,
             setopts_as_ets,
             calls_on_deleted_table_raise_badarg,
             calls_with_bad_table_argument_raise_badarg,
             keypos_tables_as_ets,
             options_do_not_change_results,
             badarg_exceptions_explain_the_argument,
             badarg_reason_top_frame_and_cause_as_ets,
             random_operations_match_ets],
    [{T, [], Cases} || T <- ?TYPES].

init_per_suite(Config) ->
    Mod = mod(),
    {module, Mod} = code:ensure_loaded(Mod),
    code:ensure_loaded(xets_terms),
    ct:pal("module under test: ~p", [Mod]),
    [{mod, Mod} | Config].

end_per_suite(_Config) ->
    ok.

init_per_group(Type, Config) ->
    [{type, Type} | Config].

end_per_group(_Type, _Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    xets_twin:reset_differences(),
    Config.

end_per_testcase(_Case, _Config) ->
    xets_twin:check_differences().

mod() ->
    xets_test_lib:module_under_test().

%% Whether the suite runs on persistent tables (test/xets_persistent.erl).
persistent(Config) ->
    ?config(mod, Config) =:= xets_persistent.

%%====================================================================
%% new/2
%%====================================================================

new_accepts_every_ets_option_with_the_same_info(Config) ->
    Type = ?config(type, Config),
    Mod = ?config(mod, Config),
    Heir = spawn_link(fun sink/0),
    Single = [[], [Type], [public], [protected], [private], [named_table],
              [{keypos, 1}], [{keypos, 2}], [{keypos, 1000}],
              [{heir, self(), data}], [{heir, Heir, {some, data}}], [{heir, none}],
              [{write_concurrency, true}], [{write_concurrency, false}],
              [{write_concurrency, auto}], [{read_concurrency, true}],
              [{read_concurrency, false}], [{decentralized_counters, true}],
              [{decentralized_counters, false}], [compressed]],
    Combined = [[{write_concurrency, true}, {decentralized_counters, true}],
                [{write_concurrency, true}, {decentralized_counters, false}],
                [{write_concurrency, auto}, {decentralized_counters, false}],
                [{decentralized_counters, true}, {write_concurrency, true}],
                [{write_concurrency, true}, {read_concurrency, true}],
                [{write_concurrency, auto}, {write_concurrency, false}],
                [public, private], [private, protected, public],
                [bag, set, Type], [{keypos, 3}, {keypos, 2}],
                [{heir, self(), a}, {heir, none}], [{heir, none}, {heir, Heir, b}],
                [named_table, named_table], [compressed, compressed],
                [named_table, public, {keypos, 2}, {heir, Heir, x}, {write_concurrency, auto},
                 {read_concurrency, true}, {decentralized_counters, true}, compressed]],
    lists:foreach(
      fun(Opts) ->
              P = new_pair(Mod, Type, Opts),
              ?EQ(P, info_norm(?M, ?T, ?M:info(?T))),
              ?EQ(P, ?M:delete(?T))
      end, [[Type | O] || O <- Single ++ Combined] ++ [O ++ [Type] || O <- Single]).

new_rejects_every_bad_option_with_badarg(Config) ->
    Type = ?config(type, Config),
    Mod = ?config(mod, Config),
    Dead = dead_pid(),
    Remote = remote_pid(),
    Bad = [foo, {Type}, [Type | foo], [foo], [{foo, 1}], ["set"], [{type, Type}],
           [{keypos, 0}], [{keypos, -1}], [{keypos, a}], [{keypos, 1.0}], [{keypos, 1 bsl 70}],
           [keypos], [{keypos, 1, 2}],
           [{heir, foo, data}], [{heir, self()}], [{heir, foo}], [{heir, Remote, data}],
           [{heir, self(), data, more}], [heir],
           [{write_concurrency, 8}], [{write_concurrency, yes}], [{write_concurrency, 0}],
           [write_concurrency], [{write_concurrency, true, true}],
           [{read_concurrency, 1}], [{read_concurrency, auto}], [read_concurrency],
           [{decentralized_counters, maybe}], [decentralized_counters],
           [{compressed, true}], [{named_table, true}], [{protection, public}],
           [Type, {keypos, 0}, public], [public | {keypos, 2}]],
    P = #p{type = Type, mod = Mod},
    lists:foreach(
      fun(Opts) -> ?EQ(P, try_new(?M, xets_conf_bad, [Type | Opts])),
                   ?EQ(P, try_new(?M, xets_conf_bad, Opts))
      end, Bad),
    lists:foreach(
      fun(Name) -> ?EQ(P, try_new(?M, Name, [Type])) end,
      ["name", 1, {a}, make_ref(), self(), [], <<"a">>]),
    %% A dead heir is accepted by ets, which then reports no heir.
    ?EQ(P, try_new(?M, xets_conf_dead_heir, [Type, {heir, Dead, x}])).

new_named_table_name_clash_raises_badarg(Config) ->
    P = pair(Config, [named_table]),
    ?EQ(P, ?M:new(?T, [?config(type, Config), named_table])),
    ?EQ(P, ?M:new(?T, [set, named_table, public])),
    %% the name of an unnamed table does not clash
    ?EQ(P, is_reference(?M:new(?T, [?config(type, Config)]))),
    ?EQ(P, ?M:delete(?T)),
    ?EQ(P, ?M:new(?T, [?config(type, Config), named_table])),
    ?EQ(P, ?M:insert(?T, {a, 1})),
    ?EQ(P, ?M:lookup(?T, a)).

%%====================================================================
%% insert, lookup, member
%%====================================================================

edge_terms_as_keys_round_trip_as_in_ets(Config) ->
    P = pair(Config, [public]),
    Keys = edge_keys(),
    Indexed = lists:zip(Keys, lists:seq(1, length(Keys))),
    [?EQ(P, ?M:insert(?T, {K, I})) || {K, I} <- Indexed],
    ?EQ(P, ?M:info(?T, size)),
    [?EQ(P, ?M:lookup(?T, K)) || K <- Keys],
    [?EQ(P, ?M:member(?T, K)) || K <- Keys],
    [?EQ(P, ?M:lookup_element(?T, K, 2)) || K <- Keys],
    ?EQU(P, ?M:tab2list(?T)),
    %% keys that are == but not =:= to stored ones, and absent keys
    Twins = [xets_float_twin(K) || K <- Keys] ++ [{K} || K <- Keys] ++ [[K] || K <- Keys],
    [?EQ(P, ?M:lookup(?T, K)) || K <- Twins],
    [?EQ(P, ?M:member(?T, K)) || K <- Twins],
    %% insert again in reverse: replaces in set/ordered_set, keeps in bag
    [?EQ(P, ?M:insert(?T, {K, -I})) || {K, I} <- lists:reverse(Indexed)],
    [?EQ(P, ?M:lookup(?T, K)) || K <- Keys],
    ?EQU(P, ?M:tab2list(?T)),
    [?EQ(P, ?M:delete(?T, K)) || K <- lists:sublist(Keys, 1, length(Keys) div 2)],
    ?EQ(P, ?M:info(?T, size)),
    [?EQ(P, ?M:lookup(?T, K)) || K <- Keys],
    ?EQU(P, ?M:tab2list(?T)).

edge_terms_as_values_round_trip_unchanged(Config) ->
    P = pair(Config, [public]),
    Terms = edge_terms(),
    ?EQ(P, ?M:insert(?T, {all, Terms})),
    ?EQ(P, ?M:lookup(?T, all)),
    ?EQ(P, ?M:insert(?T, list_to_tuple([tuple | Terms]))),
    ?EQ(P, ?M:lookup(?T, tuple)),
    [?EQ(P, ?M:lookup_element(?T, tuple, I)) || I <- lists:seq(2, length(Terms) + 1)],
    [?EQ(P, ?M:insert(?T, {I, T})) || {I, T} <- lists:zip(lists:seq(1, length(Terms)), Terms)],
    [?EQ(P, ?M:lookup(?T, I)) || I <- lists:seq(1, length(Terms))],
    ?EQU(P, ?M:tab2list(?T)).

insert_object_and_list_replace_or_add_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, {a, 1})),
    ?EQ(P, ?M:insert(?T, {a, 2})),
    ?EQ(P, ?M:insert(?T, {a, 2})),
    ?EQ(P, ?M:insert(?T, {a, 2.0})),
    ?EQ(P, ?M:lookup(?T, a)),
    ?EQ(P, ?M:insert(?T, [])),
    insert_list(P, [{b, 1}, {c, 1}, {b, 2}, {b, 1}, {c, 1}]),
    insert_list(P, [{1, int}, {1.0, float}, {0.0, zero}, {neg_zero(), negzero}]),
    ?EQ(P, ?M:insert(?T, {neg_zero(), negzero})),
    ?EQ(P, ?M:lookup(?T, 0.0)),
    ?EQ(P, ?M:lookup(?T, neg_zero())),
    ?EQ(P, ?M:insert(?T, {{1}, a})),
    ?EQ(P, ?M:insert(?T, {{1.0}, b})),
    ?EQ(P, ?M:lookup(?T, {1})),
    ?EQ(P, ?M:lookup(?T, {1.0})),
    ?EQ(P, ?M:insert(?T, {k})),
    ?EQ(P, ?M:insert(?T, {k, 1, 2, 3})),
    ?EQ(P, ?M:lookup(?T, k)),
    insert_list(P, [{I rem 97, I} || I <- lists:seq(1, 5000)]),
    ?EQ(P, ?M:info(?T, size)),
    ?EQU(P, ?M:tab2list(?T)).

insert_bad_objects_raise_badarg_and_insert_nothing(Config) ->
    P = pair(Config, [public, {keypos, 2}]),
    ?EQ(P, ?M:insert(?T, {x, present})),
    Bad = [{}, {a}, a, [], "ab", 1, [{a}], [{x, ok}, {a}], [{x, ok} | {y, ok}],
           [{x, ok}, not_a_tuple], [{x, ok}, {z, ok} | tail], {[], []},
           [{x, ok}, {}], #{1 => 2}, <<"ab">>],
    lists:foreach(fun(O) ->
                          ?EQ(P, ?M:insert(?T, O)),
                          ?EQ(P, ?M:insert_new(?T, O)),
                          ?EQ(P, ?M:delete_object(?T, O))
                  end, Bad),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:info(?T, size)).

insert_new_is_all_or_nothing(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert_new(?T, {a, 1})),
    ?EQ(P, ?M:insert_new(?T, {a, 2})),
    ?EQ(P, ?M:lookup(?T, a)),
    ?EQ(P, ?M:insert_new(?T, [])),
    ?EQ(P, ?M:insert_new(?T, [{b, 1}, {c, 1}])),
    ?EQ(P, ?M:insert_new(?T, [{d, 1}, {e, 1}, {a, 3}, {f, 1}])),
    [?EQ(P, ?M:member(?T, K)) || K <- [a, b, c, d, e, f]],
    ?EQ(P, ?M:lookup(?T, a)),
    insert_list(P, [{g, 1}, {g, 2}, {h, 1}], insert_new),
    insert_list(P, [{i, 1}, {i, 1}], insert_new),
    ?EQ(P, ?M:insert_new(?T, {1.0, float})),
    ?EQ(P, ?M:insert_new(?T, {1, int})),
    insert_list(P, [{2, int}, {2.0, float}], insert_new),
    ?EQ(P, ?M:insert_new(?T, {0.0, zero})),
    ?EQ(P, ?M:insert_new(?T, {neg_zero(), negzero})),
    ?EQ(P, ?M:insert_new(?T, [{j, 1}, {neg_zero(), 1}])),
    ?EQ(P, ?M:member(?T, j)),
    ?EQ(P, ?M:insert_new(?T, [{k, 1}, {l, 1} | m])),
    ?EQ(P, ?M:insert_new(?T, [{k, 1}, {}])),
    ?EQ(P, ?M:member(?T, k)),
    ?EQU(P, ?M:tab2list(?T)).

lookup_returns_bag_objects_in_insertion_order(Config) ->
    P = pair(Config, [public]),
    insert_each(P, [{k, 3}, {k, 1}, {k, 2}, {k, 1}, {k, 1.0}, {k, 0}]),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:delete_object(?T, {k, 2})),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:insert(?T, {k, 2})),
    ?EQ(P, ?M:insert(?T, {k, 3})),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:lookup_element(?T, k, 2)),
    insert_each(P, [{j, I} || I <- lists:seq(100, 1, -1)]),
    insert_each(P, [{j, I} || I <- lists:seq(50, 150)]),
    ?EQ(P, ?M:lookup(?T, j)),
    insert_list(P, [{i, I} || I <- lists:seq(100, 1, -1)]),
    ?EQ(P, ?M:lookup(?T, i)),
    ?EQ(P, ?M:lookup_element(?T, j, 2)),
    ?EQ(P, ?M:take(?T, j)),
    ?EQ(P, ?M:take(?T, k)).

lookup_element_3_as_ets(Config) ->
    P = pair(Config, [public]),
    insert_each(P, [{a, 1, 2, 3}, {b}, {c, x}, {c, y, z}, {1.0, f}, {{1}, t}]),
    [?EQ(P, ?M:lookup_element(?T, K, Pos))
     || K <- [a, b, c, 1, 1.0, {1}, {1.0}, missing],
        Pos <- [1, 2, 3, 4, 5, 0, -1, a, 1.0, 1 bsl 65]],
    ?EQ(P, ?M:insert(?T, {c, y, z, w})),
    [?EQ(P, ?M:lookup_element(?T, c, Pos)) || Pos <- [1, 2, 3, 4]].

lookup_element_4_returns_default_only_for_missing_key(Config) ->
    P = pair(Config, [public]),
    insert_each(P, [{a, 1, 2, 3}, {b}, {c, x}, {c, y, z}, {1.0, f}]),
    [?EQ(P, le4(?M, ?T, K, Pos, Def))
     || K <- [a, b, c, 1, 1.0, missing, {a}],
        Pos <- [1, 2, 3, 4, 5, 0, -1, a, 1.0],
        Def <- [default, {a, tuple}]].

member_as_ets(Config) ->
    P = pair(Config, [public]),
    [?EQ(P, ?M:member(?T, K)) || K <- [a, 1, 1.0, 0.0, neg_zero(), [], {}]],
    ?EQ(P, ?M:insert(?T, [{a}, {1}, {0.0}, {[]}, {{}}])),
    [?EQ(P, ?M:member(?T, K)) || K <- [a, 1, 1.0, 0.0, neg_zero(), [], {}, b, {1}, "a"]],
    ?EQ(P, ?M:delete(?T, a)),
    ?EQ(P, ?M:member(?T, a)).

delete_removes_every_object_with_the_key(Config) ->
    P = pair(Config, [public]),
    insert_each(P, [{a, 1}, {a, 2}, {a, 2}, {b, 1}, {1.0, x}, {1, y}, {0.0, z}]),
    ?EQ(P, ?M:delete(?T, a)),
    ?EQ(P, ?M:lookup(?T, a)),
    ?EQ(P, ?M:delete(?T, missing)),
    ?EQ(P, ?M:delete(?T, 1)),
    ?EQ(P, ?M:lookup(?T, 1.0)),
    ?EQ(P, ?M:delete(?T, neg_zero())),
    ?EQ(P, ?M:lookup(?T, 0.0)),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:info(?T, size)).

delete_object_removes_only_identical_objects(Config) ->
    P = pair(Config, [public]),
    insert_each(P, [{k, 1}, {k, 1.0}, {k, 2}, {k, 2}, {k, 3}, {1.0, a}, {z, 0.0}]),
    ?EQ(P, ?M:delete_object(?T, {k, 9})),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:delete_object(?T, {k, 1})),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:delete_object(?T, {k, 2})),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:delete_object(?T, {k, 3})),
    ?EQ(P, ?M:lookup(?T, k)),
    ?EQ(P, ?M:delete_object(?T, {1, a})),
    ?EQ(P, ?M:lookup(?T, 1.0)),
    ?EQ(P, ?M:delete_object(?T, {1.0, a})),
    ?EQ(P, ?M:lookup(?T, 1.0)),
    ?EQ(P, ?M:delete_object(?T, {z, neg_zero()})),
    ?EQ(P, ?M:lookup(?T, z)),
    ?EQ(P, ?M:delete_object(?T, {missing, 1})),
    ?EQ(P, ?M:delete_object(?T, {k})),
    ?EQ(P, ?M:delete_object(?T, {k, 1.0, extra})),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:info(?T, size)).

delete_all_objects_empties_the_table_and_keeps_it(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:delete_all_objects(?T)),
    ?EQ(P, ?M:insert(?T, [{I, I} || I <- lists:seq(1, 2000)])),
    ?EQ(P, ?M:insert(?T, [{I, -I} || I <- lists:seq(1, 2000, 3)])),
    ?EQ(P, ?M:insert(?T, [{I, -I} || I <- lists:seq(1.0, 100.0)])),
    ?EQ(P, ?M:delete_all_objects(?T)),
    ?EQ(P, ?M:info(?T, size)),
    ?EQ(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:first(?T)),
    ?EQ(P, ?M:last(?T)),
    ?EQ(P, ?M:lookup(?T, 5)),
    ?EQ(P, ?M:insert_new(?T, {5, x})),
    ?EQ(P, ?M:lookup(?T, 5)),
    ?EQ(P, ?M:info(?T, size)),
    ?EQ(P, ?M:delete_all_objects(?T)),
    ?EQ(P, ?M:member(?T, 5)).

take_removes_and_returns_the_objects_of_the_key(Config) ->
    P = pair(Config, [public]),
    insert_each(P, [{a, 1}, {a, 2}, {a, 2}, {b, 1}, {1.0, f}, {0.0, z}]),
    ?EQ(P, ?M:take(?T, a)),
    ?EQ(P, ?M:take(?T, a)),
    ?EQ(P, ?M:member(?T, a)),
    ?EQ(P, ?M:take(?T, 1)),
    ?EQ(P, ?M:take(?T, 1.0)),
    ?EQ(P, ?M:take(?T, neg_zero())),
    ?EQ(P, ?M:take(?T, missing)),
    ?EQ(P, ?M:info(?T, size)),
    ?EQU(P, ?M:tab2list(?T)).

%%====================================================================
%% update_counter, update_element
%%====================================================================

%% On bags every one of these raises badarg, in ets as in xets.
update_counter_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{c, 0, 10, a, 1.5, <<"b">>, [1]}, {1.0, 5}, {f, 1.0}, {{1}, 7}])),
    Ops = [1, -1, 0, 7, -100, {2, 5}, {3, -20}, {2, 0}, {3, 1}, {3, -1},
           {2, 1, 3, 0}, {2, 1, 3, 0}, {2, 1, 3, 0}, {2, 1, 3, 0}, {2, 1, 3, 0},
           {2, -10, -5, 100}, {2, -10, -5, 100}, {2, -1, 0, 9}, {2, 3, 3, 1},
           {2, 0, -1, 7}, {2, 5, -3, -3}, {2, -5, 3, 3},
           [{2, 1}, {3, 2}], [{2, 1}, {2, 1}], [{3, 1, 2, 0}, {2, -1}, {3, 1, 2, 0}], [],
           [{2, 1}], [{3, 100, 50, 25}, {3, 1}]],
    [begin ?EQ(P, ?M:update_counter(?T, c, Op)), ?EQ(P, ?M:lookup(?T, c)) end || Op <- Ops],
    ?EQ(P, ?M:update_counter(?T, 1, 1)),
    ?EQ(P, ?M:update_counter(?T, 1.0, {2, 1})),
    ?EQ(P, ?M:lookup(?T, 1.0)),
    ?EQ(P, ?M:update_counter(?T, {1.0}, 1)),
    ?EQ(P, ?M:update_counter(?T, {1}, -1)),
    ?EQ(P, ?M:lookup(?T, {1})),
    ?EQU(P, ?M:tab2list(?T)).

update_counter_bignums_and_word_boundaries_as_ets(Config) ->
    P = pair(Config, [public]),
    Starts = [0, 1, -1, (1 bsl 27) - 1, 1 bsl 27, -(1 bsl 27), (1 bsl 59) - 1, 1 bsl 59,
              -(1 bsl 59) - 1, (1 bsl 63) - 1, 1 bsl 63, -(1 bsl 63), -(1 bsl 63) - 1,
              (1 bsl 64) - 1, 1 bsl 64, -(1 bsl 64), 1 bsl 100, -(1 bsl 100), 1 bsl 1000],
    Incrs = [1, -1, 2, -2, 1 bsl 32, (1 bsl 63) - 1, 1 bsl 63, -(1 bsl 63), 1 bsl 64,
             -(1 bsl 64), (1 bsl 64) + 1, 1 bsl 100, -(1 bsl 100), 1 bsl 1000, -(1 bsl 1000)],
    lists:foreach(
      fun({S, I}) ->
              ?EQ(P, ?M:insert(?T, {k, S, S})),
              ?EQ(P, ?M:update_counter(?T, k, I)),
              ?EQ(P, ?M:update_counter(?T, k, [{2, I}, {3, -I}, {2, I}])),
              ?EQ(P, ?M:lookup(?T, k)),
              ?EQ(P, ?M:delete(?T, k))
      end, [{S, I} || S <- Starts, I <- Incrs]),
    %% thresholds and set values at the word boundaries
    lists:foreach(
      fun({S, Op}) ->
              ?EQ(P, ?M:insert(?T, {k, S})),
              ?EQ(P, ?M:update_counter(?T, k, Op)),
              ?EQ(P, ?M:lookup(?T, k)),
              ?EQ(P, ?M:delete(?T, k))
      end, [{(1 bsl 63) - 1, {2, 1, (1 bsl 63) - 1, -(1 bsl 63)}},
            {(1 bsl 64) - 1, {2, 1, (1 bsl 64) - 1, 0}},
            {(1 bsl 64) - 1, {2, 1, 1 bsl 64, 0}},
            {-(1 bsl 63), {2, -1, -(1 bsl 63), (1 bsl 63) - 1}},
            {0, {2, 1 bsl 70, 1 bsl 65, -1}},
            {0, {2, -(1 bsl 70), -(1 bsl 65), 1 bsl 200}},
            {1 bsl 100, {2, -1, 1 bsl 99, 1 bsl 101}},
            {5, {2, 0, 4, 1 bsl 90}},
            {5, {2, 0, 5, 1 bsl 90}}]).

update_counter_with_default_object_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{c, 5}, {1.0, 1}])),
    Cases = [{new1, 1, {new1, 0}}, {new1, 1, {new1, 100}},
             {new2, {2, 5}, {whatever, 10}}, {new3, {3, 1}, {x, 1}},
             {new4, 1, {x, a}}, {new5, 1, not_a_tuple}, {new6, 1, {}},
             {new7, [{2, 1}, {3, 2}], {x, 0, 0}}, {new8, {2, 1, 1, -5}, {x, 1}},
             {new9, [], {x, 1}}, {new10, 1, {x, 1.0}},
             {c, 1, {c, 100}}, {c, 1, not_a_tuple}, {c, 1, {}},
             {1, 1, {1, 7}}, {2, 1, {2.0, 7}}, {2.0, 1, {2, 7}},
             {{1}, 1, {{1.0}, 0}}, {neg_zero(), 1, {0.0, 0}}, {0.0, 1, {x, 10}},
             {new11, {1, 1}, {x, 1}}, {new12, {2, a}, {x, 1}}, {new13, 1, {x, 1 bsl 64}},
             {new14, -1, {x, -(1 bsl 63)}}],
    lists:foreach(
      fun({K, Op, Def}) ->
              ?EQ(P, uc4(?M, ?T, K, Op, Def)),
              ?EQ(P, ?M:lookup(?T, K))
      end, Cases),
    ?EQU(P, ?M:tab2list(?T)),
    %% keypos 2: Default's element 2 is replaced by the key
    Q = pair(Config, [public, {keypos, 2}]),
    lists:foreach(
      fun({K, Op, Def}) ->
              ?EQ(Q, uc4(?M, ?T, K, Op, Def)),
              ?EQ(Q, ?M:lookup(?T, K))
      end, [{a, {3, 1}, {x, y, 10}}, {a, {3, 1}, {x, y, 10}}, {b, 1, {x, y, 10}},
            {c, {1, 1}, {0, y}}, {d, {2, 1}, {0, y, 0}}, {e, {3, 1}, {x}}]),
    ?EQU(Q, ?M:tab2list(?T)).

update_counter_bad_arguments_raise_badarg(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{c, 0, a, 1.5, <<"b">>, [1], 1 bsl 70}])),
    Bad = [{1, 1}, {0, 1}, {-1, 1}, {8, 1}, {1 bsl 64, 1}, {a, 1}, {2.0, 1},
           {3, 1}, {4, 1}, {5, 1}, {6, 1}, 1.0, a, {2, 1.0}, {2, a}, {2}, {2, 1, 2},
           {2, 1, 2, 3, 4}, {2, 1, 1.0, 0}, {2, 1, 5, 0.5}, {2, 1, a, 0}, {},
           [{2, 1}, {3, 1}], [{2, 1}, {8, 1}], [{2, 1} | {2, 1}], [{2, 1}, 1], [1],
           [{2, 1}, {1, 1}], foo, "a", <<1>>, #{2 => 1}],
    [begin ?EQ(P, ?M:update_counter(?T, c, Op)), ?EQ(P, ?M:lookup(?T, c)) end || Op <- Bad],
    %% the big counter at position 7 still counts
    ?EQ(P, ?M:update_counter(?T, c, {7, 1})),
    %% missing key without default
    ?EQ(P, ?M:update_counter(?T, missing, 1)),
    ?EQ(P, ?M:update_counter(?T, missing, [{2, 1}])),
    ?EQ(P, ?M:member(?T, missing)),
    %% keypos 2: position 2 is the key
    Q = pair(Config, [public, {keypos, 2}]),
    ?EQ(Q, ?M:insert(?T, {1, k, 3})),
    ?EQ(Q, ?M:update_counter(?T, k, {2, 1})),
    ?EQ(Q, ?M:update_counter(?T, k, 1)),
    ?EQ(Q, ?M:update_counter(?T, k, {1, 1})),
    ?EQ(Q, ?M:lookup(?T, k)).

update_element_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{k, 1, 2, 3}, {1.0, a}, {{1}, b}])),
    Specs = [{2, x}, {4, y}, [{2, a}, {3, b}], [{2, c}, {2, d}], [], {3, neg_zero()},
             {3, {nested, [1, 2]}}, [{4, 1}, {3, 1.0}],
             {1, k}, {1, other}, {0, x}, {5, x}, {-1, x}, {a, x}, {2.0, x}, {2}, {2, x, y},
             [{2, e}, {5, x}], [{2, f}, {1, k}], [{2, g} | {3, h}], [{2, h}, bad], foo],
    [begin ?EQ(P, ?M:update_element(?T, k, S)), ?EQ(P, ?M:lookup(?T, k)) end || S <- Specs],
    [?EQ(P, ?M:update_element(?T, missing, S)) || S <- Specs],
    ?EQ(P, ?M:update_element(?T, 1, {2, int_key})),
    ?EQ(P, ?M:lookup(?T, 1.0)),
    ?EQ(P, ?M:update_element(?T, {1.0}, {2, c})),
    ?EQ(P, ?M:lookup(?T, {1})),
    ?EQ(P, ?M:member(?T, missing)),
    Q = pair(Config, [public, {keypos, 2}]),
    ?EQ(Q, ?M:insert(?T, {v, k, w})),
    [begin ?EQ(Q, ?M:update_element(?T, k, S)), ?EQ(Q, ?M:lookup(?T, k)) end
     || S <- [{1, x}, {3, y}, {2, k}, {2, j}, [{1, a}, {3, b}], {4, z}]].

%%====================================================================
%% Traversals
%%====================================================================

first_next_visit_every_key_once(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:first(?T)),
    insert_each(P, [{K, x} || K <- walk_keys()]),
    insert_each(P, [{K, y} || K <- lists:sublist(walk_keys(), 20)]),
    ?EQU(P, walk(?M, ?T, first, next)),
    ?EQ(P, ?M:delete(?T, first_if_ordered(?M, ?T, first, 1))),
    ?EQU(P, walk(?M, ?T, first, next)).

last_prev_visit_every_key_once(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:last(?T)),
    insert_each(P, [{K, x} || K <- walk_keys()]),
    ?EQU(P, walk(?M, ?T, last, prev)),
    ?EQ(P, ?M:delete(?T, first_if_ordered(?M, ?T, last, 1))),
    ?EQU(P, walk(?M, ?T, last, prev)).

%% ets: set, bag and duplicate_bag have no order; last/prev are first/next.
%% On ordered_set this compares reverse with forward order.
hash_tables_alias_last_prev_to_first_next(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{K, x} || K <- lists:seq(1, 300) ++ [a, b, {c}]])),
    ?EQ(P, ?M:last(?T) =:= ?M:first(?T)),
    ?EQ(P, walk(?M, ?T, last, prev) =:= walk(?M, ?T, first, next)),
    ?EQ(P, lists:all(fun(K) -> ?M:prev(?T, K) =:= ?M:next(?T, K) end,
                     walk(?M, ?T, first, next))).

%% On ordered_set next/prev of an absent key is the neighbour in term
%% order; on the hash tables it raises badarg.
next_prev_on_absent_keys_as_ets(Config) ->
    P = pair(Config, [public]),
    Keys = edge_keys(),
    Present = [K || {K, I} <- lists:zip(Keys, lists:seq(1, length(Keys))), I rem 3 =:= 0],
    insert_each(P, [{K} || K <- Present]),
    Probes = Keys ++ [xets_float_twin(K) || K <- Keys] ++
        ['$end_of_table', -1.0e300, 1.0e300, {}, {zzz}, <<255, 255>>, [zzz]],
    [?EQ(P, next_if_ordered(?M, ?T, K)) || K <- Probes],
    [?EQ(P, prev_if_ordered(?M, ?T, K)) || K <- Probes],
    [?EQ(P, catch_class(fun() -> ?M:next(?T, K) end)) || K <- Probes],
    [?EQ(P, catch_class(fun() -> ?M:prev(?T, K) end)) || K <- Probes].

ordered_set_traverses_in_term_order(Config) ->
    P = pair(Config, [public]),
    Keys = shuffle(walk_keys()),
    insert_each(P, [{K, I} || {K, I} <- lists:zip(Keys, lists:seq(1, length(Keys)))]),
    ?EQ(P, ?M:info(?T, type) =/= ordered_set orelse
           walk(?M, ?T, first, next) =:= sorted_unique_keys(?M, ?T)),
    ?EQU(P, walk(?M, ?T, first, next)),
    ?EQU(P, lists:reverse(walk(?M, ?T, last, prev))),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQU(P, ?M:foldl(fun(O, A) -> [O | A] end, [], ?T)),
    ?EQU(P, ?M:foldr(fun(O, A) -> [O | A] end, [], ?T)).

fixed_hash_traversal_survives_deleting_visited_keys(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{I, I} || I <- lists:seq(1, 1000)])),
    ?EQ(P, ?M:safe_fixtable(?T, true)),
    ?EQS(P, walk_deleting(?M, ?T, ?M:first(?T), [])),
    ?EQ(P, ?M:info(?T, size)),
    ?EQ(P, ?M:first(?T)),
    ?EQ(P, ?M:safe_fixtable(?T, false)),
    ?EQ(P, ?M:info(?T, fixed)).

tab2list_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:tab2list(?T)),
    insert_each(P, [{K, x} || K <- walk_keys()]),
    insert_each(P, [{K, y} || K <- lists:sublist(walk_keys(), 30)]),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:insert(?T, [{I, <<I:64>>} || I <- lists:seq(1, 5000)])),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, length(?M:tab2list(?T))).

foldl_foldr_as_ets(Config) ->
    P = pair(Config, [public]),
    Cons = fun(O, A) -> [O | A] end,
    ?EQ(P, ?M:foldl(Cons, [], ?T)),
    ?EQ(P, ?M:foldr(Cons, [], ?T)),
    insert_each(P, [{K, x} || K <- walk_keys()]),
    ?EQ(P, ?M:insert(?T, [{I, I} || I <- lists:seq(1, 3000)])),
    ?EQU(P, ?M:foldl(Cons, [], ?T)),
    ?EQU(P, ?M:foldr(Cons, [], ?T)),
    ?EQ(P, ?M:foldl(fun(_, N) -> N + 1 end, 0, ?T)),
    ?EQ(P, ?M:foldl(fun({I, I}, S) when is_integer(I) -> S + I; (_, S) -> S end, 0, ?T)),
    ?EQ(P, ?M:foldl(Cons, [], ?T) -- ?M:tab2list(?T)),
    ?EQ(P, ?M:foldl(fun(_, A) -> A end, {acc}, ?T)),
    %% the fun may write to the table (ets fixes it during the fold)
    ?EQ(P, ?M:foldl(fun({I, I}, N) when is_integer(I), I rem 2 =:= 0 ->
                            ?M:delete(?T, I), N + 1;
                       (_, N) -> N
                    end, 0, ?T)),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:foldl(not_a_fun, [], ?T)),
    ?EQ(P, ?M:foldl(fun(_) -> x end, [], ?T)).

%% The order of folds and tab2list/1 over 5,000 keys (many chunks), the
%% objects of a bag's key inserted apart: foldl visits the keys in
%% first/next order, each key's objects in lookup order; foldr the keys in
%% last/prev order (first/next on the hash types, which have one order),
%% each key's objects in reverse; tab2list/1 is the reverse of what foldr
%% visits. So it is for ets, and for the module under test over its own
%% order.
folds_and_tab2list_follow_first_next_and_lookup_order(Config) ->
    P = pair(Config, [public]),
    Objects = [{K, I} || K <- lists:seq(1, 5000), I <- lists:seq(1, K rem 4 + 1)] ++
        [{0, I} || I <- lists:seq(1, 2500)],
    insert_each(P, shuffle(Objects)),
    lists:foreach(
      fun({M, T}) ->
              Keys = walk(M, T, first, next),
              Visits = fun(Fold) -> lists:reverse(M:Fold(fun(O, A) -> [O | A] end, [], T)) end,
              Foldr = [O || K <- walk(M, T, last, prev), O <- lists:reverse(M:lookup(T, K))],
              {M, foldl, true} = {M, foldl, Visits(foldl) =:= [O || K <- Keys, O <- M:lookup(T, K)]},
              {M, foldr, true} = {M, foldr, Visits(foldr) =:= Foldr},
              {M, tab2list, true} = {M, tab2list, M:tab2list(T) =:= lists:reverse(Foldr)}
      end, [{ets, P#p.e}, {P#p.mod, P#p.x}]).

fold_propagates_exceptions_of_the_fun(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{I, I} || I <- lists:seq(1, 100)])),
    ?EQ(P, ?M:foldl(fun(_, _) -> throw(thrown) end, [], ?T)),
    ?EQ(P, ?M:foldr(fun(_, _) -> error(my_error) end, [], ?T)),
    ?EQ(P, ?M:foldl(fun(_, _) -> exit(my_exit) end, [], ?T)),
    %% and the table is no longer fixed afterwards
    ?EQ(P, ?M:info(?T, fixed)),
    ?EQ(P, ?M:info(?T, safe_fixed)).

%% ets's folds call the function on objects only.
fold_of_an_empty_table_returns_the_accumulator_whatever_the_fun(Config) ->
    P = pair(Config, [public]),
    [?EQ(P, ?M:F(Fun, acc, ?T))
     || F <- [foldl, foldr], Fun <- [not_a_fun, fun(_) -> x end, fun(_, _, _) -> x end]].

%% ets's folds release the table's fixation after the walk, even when the
%% function raised: when the function deleted the table, at any object
%% (the last too), the fold raises that release's badarg
%% (safe_fixtable(T, false), cause id), whatever the function did next.
fold_whose_fun_deletes_the_table_raises_badarg_as_ets(Config) ->
    lists:foreach(
      fun({F, Opts, N, At, Then}) ->
              P = pair(Config, [public | Opts]),
              ?EQ(P, ?M:insert(?T, [{I} || I <- lists:seq(1, N)])),
              Fold = fun(M, T) ->
                             M:F(fun(_, I) when I =:= At ->
                                         M:delete(T),
                                         Then =:= throws andalso throw(thrown),
                                         I + 1;
                                    (_, I) ->
                                         I + 1
                                 end, 1, T)
                     end,
              ?EQ(P, failure(?M, fun() -> Fold(?M, ?T) end))
      end,
      [{F, Opts, N, At, Then} || F <- [foldl, foldr], Opts <- [[], [named_table]],
                                 N <- [1, 5, 3000], At <- [1, N], Then <- [returns, throws]]).

%%====================================================================
%% safe_fixtable, info
%%====================================================================

safe_fixtable_counts_and_info_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, ?M:safe_fixtable(?T, true)),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, ?M:safe_fixtable(?T, true)),
    ?EQ(P, fix_info(?M, ?T)),
    Self = self(),
    Other = spawn_link(fun() -> fixer(Self) end),
    ?EQ(P, call(Other, fun() -> ?M:safe_fixtable(?T, true) end)),
    ?EQ(P, call(Other, fun() -> ?M:safe_fixtable(?T, true) end)),
    ?EQ(P, call(Other, fun() -> ?M:safe_fixtable(?T, true) end)),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, ?M:safe_fixtable(?T, false)),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, ?M:safe_fixtable(?T, false)),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, ?M:safe_fixtable(?T, false)),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, call(Other, fun() -> [?M:safe_fixtable(?T, false) || _ <- [1, 2, 3, 4]] end)),
    ?EQ(P, fix_info(?M, ?T)),
    ?EQ(P, ?M:safe_fixtable(?T, maybe)),
    ?EQ(P, ?M:safe_fixtable(?T, 1)),
    ?EQ(P, fix_info(?M, ?T)),
    stop(Other).

info_1_as_ets(Config) ->
    Type = ?config(type, Config),
    Heir = spawn_link(fun sink/0),
    lists:foreach(
      fun(Opts) ->
              P = pair(Config, Opts),
              ?EQ(P, info_norm(?M, ?T, ?M:info(?T))),
              ?EQ(P, ?M:insert(?T, [{I, I, <<I:800>>} || I <- lists:seq(1, 100)])),
              ?EQ(P, info_norm(?M, ?T, ?M:info(?T))),
              ?EQ(P, ?M:safe_fixtable(?T, true)),
              ?EQ(P, info_norm(?M, ?T, ?M:info(?T)))
      end, [[], [public, named_table], [private, {keypos, 2}], [{heir, Heir, data}],
            [{write_concurrency, auto}, {read_concurrency, true}, compressed]]),
    P = #p{type = Type, mod = ?config(mod, Config)},
    ?EQ(P, ?M:info(xets_conf_no_such_table)),
    ?EQ(P, ?M:info(?M:new(x, []), bad_item)),
    [?EQ(P, ?M:info(T)) || T <- [1, "tab", {tab}, [], 1.0, self()]].

info_2_every_item_as_ets(Config) ->
    Type = ?config(type, Config),
    Heir = spawn_link(fun sink/0),
    Items = [name, type, size, owner, heir, protection, keypos, named_table,
             write_concurrency, read_concurrency, decentralized_counters, compressed,
             node, fixed, safe_fixed, safe_fixed_monotonic_time],
    lists:foreach(
      fun(Opts) ->
              P = pair(Config, Opts),
              ?EQ(P, ?M:insert(?T, [{I, I, I} || I <- lists:seq(1, 50)])),
              [?EQ(P, ?M:info(?T, I)) || I <- Items],
              ?EQ(P, ?M:info(?T, id) =:= id_of(?M, ?T)),
              ?EQ(P, is_reference(?M:info(?T, id))),
              ?EQ(P, is_integer(?M:info(?T, memory)) andalso ?M:info(?T, memory) > 0),
              %% stats describe each structure's own buckets: compared in
              %% shape and in what does not depend on the bucket count. A
              %% persistent table has none (README, "Differences from
              %% ets"; pinned in xets_disk_SUITE).
              persistent(Config) orelse ?EQ(P, stats_shape(?M:info(?T, stats))),
              ?EQ(P, is_list(?M:info(?T, binary))),
              [?EQ(P, ?M:info(?T, Bad)) || Bad <- [bad_item, "size", 1, {size}, [], ids]],
              ?EQ(P, ?M:safe_fixtable(?T, true)),
              ?EQ(P, ?M:info(?T, fixed)),
              ?EQ(P, fix_info(?M, ?T))
      end, [[], [public, named_table], [private, {keypos, 2}], [{heir, Heir, data}],
            [{write_concurrency, true}], [{write_concurrency, auto}],
            [{write_concurrency, true}, {decentralized_counters, false}],
            [{read_concurrency, true}, compressed]]),
    P = #p{type = Type, mod = ?config(mod, Config)},
    [?EQ(P, ?M:info(xets_conf_no_such_table, I)) || I <- [id, size, memory, bad_item]],
    [?EQ(P, ?M:info(T, size)) || T <- [1, "tab", {tab}, [], 1.0]].

memory_is_positive_and_grows_with_data(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, begin
               M0 = ?M:info(?T, memory),
               ?M:insert(?T, [{I, binary:copy(<<I>>, 100)} || I <- lists:seq(1, 1000)]),
               M1 = ?M:info(?T, memory),
               ?M:insert(?T, [{I, lists:seq(1, 100)} || I <- lists:seq(1001, 3000)]),
               M2 = ?M:info(?T, memory),
               ?M:delete_all_objects(?T),
               M3 = ?M:info(?T, memory),
               {is_integer(M0) andalso M0 > 0, M1 > M0, M2 > M1, M3 < M2,
                info_memory_agrees(?M, ?T, 20)}
           end).

%% Whether info(T)'s memory is info(T, memory) at the same moment: one
%% read just before it and one just after that agree (a persistent
%% table's memory moves while its flusher works in the background: then
%% tried again, up to Tries times).
info_memory_agrees(M, T, Tries) ->
    Before = M:info(T, memory),
    Info = M:info(T),
    case M:info(T, memory) of
        Before -> [{memory, Before}] =:= [I || {memory, _} = I <- Info];
        _ when Tries > 1 -> timer:sleep(10), info_memory_agrees(M, T, Tries - 1);
        _ -> moving
    end.

%% The same objects inserted one by one sorted, reversed or shuffled (two
%% ways), in one list, or loaded by file2tab/1 from a dump of one of those
%% tables, give the same info(T, memory): 100 to 10,000 objects (2,100: a
%% hash table that has just doubled), a bag's keys holding three. So for ets, and for the module under test
%% (whose ordered_set takes its nodes' heights from their keys, not from
%% chance).
memory_depends_on_the_contents_not_on_the_order_of_their_inserts(Config) ->
    case persistent(Config) of
        %% Its memory is what its memtables and block cache hold, which
        %% depends on when they were written out (README, "Differences
        %% from ets").
        true -> {skip, "a persistent table's memory follows its flushes"};
        false -> memory_depends_on_contents(Config)
    end.

memory_depends_on_contents(Config) ->
    Type = ?config(type, Config),
    File = filename:join(?config(priv_dir, Config), "memory.tab"),
    lists:foreach(
      fun({M, N}) ->
              Objects = [{key(Type, I), I} || I <- lists:seq(1, N)],
              Loads = [{sorted, Objects}, {reversed, lists:reverse(Objects)},
                       {shuffled, shuffle(Objects)}, {shuffled, shuffle(Objects)}],
              Each = [{How, memory_after(M, Type, fun(T) -> [M:insert(T, O) || O <- Os] end)}
                      || {How, Os} <- Loads],
              List = memory_after(M, Type, fun(T) -> M:insert(T, shuffle(Objects)) end),
              Dumped = memory_after(M, Type, fun(T) -> [M:insert(T, O) || O <- shuffle(Objects)],
                                                       ok = M:tab2file(T, File)
                                             end),
              {ok, Loaded} = M:file2tab(File),
              FromFile = M:info(Loaded, memory),
              M:delete(Loaded),
              Memories = [Memory || {_, Memory} <- Each] ++ [List, Dumped, FromFile],
              {M, N, [_]} = {M, N, lists:usort(Memories)}
      end, [{M, N} || M <- [ets, ?config(mod, Config)], N <- [100, 1000, 2100, 10000]]).

%% A bag's keys hold three objects each; a set's one.
key(Type, I) when Type =:= bag; Type =:= duplicate_bag -> I div 3;
key(_Type, I) -> I.

memory_after(M, Type, Fill) ->
    T = M:new(memory, [Type, public]),
    Fill(T),
    Memory = M:info(T, memory),
    M:delete(T),
    Memory.

%%====================================================================
%% rename, whereis, give_away, setopts
%%====================================================================

rename_and_whereis_as_ets(Config) ->
    P = pair(Config, [public, named_table]),
    ?EQ(P, ?M:whereis(?T) =:= ?M:info(?T, id)),
    ?EQ(P, ?M:insert(?T, {a, 1})),
    ?EQ(P, ?M:rename(?T, renamed(?T, "_2"))),
    ?EQ(P, ?M:whereis(?T)),
    ?EQ(P, ?M:lookup(?T, a)),
    ?EQ(P, ?M:info(?T)),
    ?EQ(P, ?M:lookup(renamed(?T, "_2"), a)),
    ?EQ(P, ?M:info(renamed(?T, "_2"), name)),
    ?EQ(P, ?M:whereis(renamed(?T, "_2")) =:= ?M:info(renamed(?T, "_2"), id)),
    %% the old name is free again
    ?EQ(P, begin N = ?M:new(?T, [named_table]), ?M:delete(N) end),
    %% renaming onto a name in use
    ?EQ(P, begin N = ?M:new(?T, [named_table]),
                 R = ?M:rename(renamed(?T, "_2"), ?T), ?M:delete(N), R end),
    ?EQ(P, ?M:rename(renamed(?T, "_2"), renamed(?T, "_2"))),
    ?EQ(P, ?M:rename(renamed(?T, "_2"), "string")),
    ?EQ(P, ?M:rename(renamed(?T, "_2"), 1)),
    ?EQ(P, ?M:rename(renamed(?T, "_2"), ?T)),
    ?EQ(P, ?M:lookup(?T, a)),
    [?EQ(P, ?M:whereis(N)) || N <- [xets_conf_nowhere, "name", 1, make_ref()]],
    %% an unnamed table: rename changes info(name), returns the tid
    Q = pair(Config, [public]),
    ?EQ(Q, ?M:rename(?T, xets_conf_unnamed)),
    ?EQ(Q, ?M:info(?T, name)),
    ?EQ(Q, ?M:whereis(xets_conf_unnamed)),
    ?EQ(Q, ?M:info(xets_conf_unnamed, size)),
    ?EQ(Q, ?M:rename(?T, 1)).

give_away_as_ets(Config) ->
    Self = self(),
    Receiver = spawn_link(fun() -> forwarder(Self) end),
    P = pair(Config, [protected]),
    ?EQ(P, ?M:insert(?T, {a, 1})),
    ?EQ(P, ?M:give_away(?T, self(), gift)),
    ?EQ(P, ?M:give_away(?T, dead_pid(), gift)),
    ?EQ(P, ?M:give_away(?T, remote_pid(), gift)),
    ?EQ(P, ?M:give_away(?T, not_a_pid, gift)),
    ?EQ(P, begin true = ?M:give_away(?T, Receiver, {gift, [1.0]}), forwarded() end),
    ?EQ(P, ?M:info(?T, owner)),
    ?EQ(P, ?M:lookup(?T, a)),
    ?EQ(P, ?M:insert(?T, {b, 1})),
    ?EQ(P, ?M:give_away(?T, self(), back)),
    ?EQ(P, call(Receiver, fun() -> ?M:insert(?T, {c, 1}) end)),
    ?EQ(P, call(Receiver, fun() -> ?M:give_away(?T, Self, back) end)),
    ?EQ(P, receive {'ETS-TRANSFER', _, _, _} = M -> M after 5000 -> timeout end),
    ?EQ(P, ?M:info(?T, owner)),
    ?EQU(P, ?M:tab2list(?T)),
    Q = pair(Config, [named_table, private]),
    ?EQ(Q, begin true = ?M:give_away(?T, Receiver, named), forwarded() end),
    ?EQ(Q, ?M:lookup(?T, a)),
    ?EQ(Q, call(Receiver, fun() -> ?M:insert(?T, {a, 1}) end)),
    ?EQ(Q, call(Receiver, fun() -> ?M:lookup(?T, a) end)),
    stop(Receiver).

setopts_as_ets(Config) ->
    Heir = spawn_link(fun sink/0),
    P = pair(Config, [public]),
    ?EQ(P, ?M:setopts(?T, {heir, Heir, data})),
    ?EQ(P, ?M:info(?T, heir)),
    ?EQ(P, ?M:setopts(?T, [{heir, none}])),
    ?EQ(P, ?M:info(?T, heir)),
    ?EQ(P, ?M:setopts(?T, [{heir, self(), x}, {heir, Heir, y}])),
    ?EQ(P, ?M:info(?T, heir)),
    ?EQ(P, ?M:setopts(?T, [])),
    ?EQ(P, ?M:info(?T, heir)),
    Bad = [{heir, not_a_pid, x}, {heir, Heir}, {heir, remote_pid(), x}, heir, foo,
           {keypos, 2}, [{keypos, 2}], {write_concurrency, true}, {protection, everyone},
           [{heir, none} | foo], [{heir, none}, foo], "x"],
    [begin ?EQ(P, ?M:setopts(?T, O)), ?EQ(P, ?M:info(?T, heir)) end || O <- Bad],
    %% not in the manual, but ets changes the protection
    Other = spawn_link(fun fixer/0),
    ?EQ(P, ?M:insert(?T, {a, 1})),
    ?EQ(P, ?M:setopts(?T, [{protection, private}])),
    ?EQ(P, ?M:info(?T, protection)),
    ?EQ(P, call(Other, fun() -> ?M:lookup(?T, a) end)),
    ?EQ(P, ?M:setopts(?T, {protection, protected})),
    ?EQ(P, call(Other, fun() -> ?M:lookup(?T, a) end)),
    ?EQ(P, call(Other, fun() -> ?M:insert(?T, {b, 1}) end)),
    ?EQ(P, ?M:setopts(?T, {protection, public})),
    ?EQ(P, call(Other, fun() -> ?M:insert(?T, {b, 1}) end)),
    ?EQ(P, ?M:setopts(?T, {heir, dead_pid(), x})),
    ?EQ(P, ?M:info(?T, heir) =:= none),
    ?EQ(P, call(spawn_link(fun fixer/0), fun() -> ?M:setopts(?T, {heir, none}) end)).

%%====================================================================
%% Errors
%%====================================================================

calls_on_deleted_table_raise_badarg(Config) ->
    lists:foreach(
      fun(Opts) ->
              P = pair(Config, Opts),
              ?EQ(P, ?M:insert(?T, {a, 1})),
              ?EQ(P, ?M:delete(?T)),
              every_call_on(P),
              ?EQ(P, ?M:info(?T)),
              ?EQ(P, ?M:info(?T, size)),
              ?EQ(P, ?M:delete(?T))
      end, [[public], [public, named_table]]),
    P = pair(Config, [named_table]),
    ?EQ(P, ?M:delete(?T)),
    ?EQ(P, ?M:whereis(?T)).

calls_with_bad_table_argument_raise_badarg(Config) ->
    P = #p{type = ?config(type, Config), mod = ?config(mod, Config)},
    lists:foreach(fun(T) -> every_call_on(P#p{e = T, x = T}) end,
                  [xets_conf_no_such_table, 1, "tab", {tab}, [], 1.0, self(), make_ref()]).

keypos_tables_as_ets(Config) ->
    lists:foreach(
      fun(KP) ->
              P = pair(Config, [public, {keypos, KP}]),
              Obj = fun(K, V) -> list_to_tuple(lists:duplicate(KP - 1, pad) ++ [K, V]) end,
              insert_each(P, [Obj(K, I) || {K, I} <- lists:zip(walk_keys(), lists:seq(1, length(walk_keys())))]),
              ?EQ(P, ?M:insert(?T, Obj(a, 1))),
              ?EQ(P, ?M:insert(?T, Obj(a, 2))),
              ?EQ(P, ?M:insert(?T, list_to_tuple(lists:duplicate(KP - 1, short)))),
              ?EQ(P, ?M:insert_new(?T, list_to_tuple(lists:duplicate(KP - 1, short)))),
              ?EQ(P, ?M:insert_new(?T, Obj(b, 1))),
              ?EQ(P, ?M:insert_new(?T, Obj(b, 1))),
              [?EQ(P, ?M:lookup(?T, K)) || K <- walk_keys()],
              [?EQ(P, ?M:lookup_element(?T, a, I)) || I <- lists:seq(0, KP + 2)],
              ?EQ(P, ?M:delete_object(?T, Obj(a, 1))),
              ?EQ(P, ?M:lookup(?T, a)),
              ?EQ(P, ?M:take(?T, b)),
              ?EQU(P, ?M:tab2list(?T)),
              ?EQU(P, walk(?M, ?T, first, next)),
              ?EQ(P, ?M:info(?T, keypos))
      end, [2, 3, 7]).

%% The same battery of operations on tables with different tuning
%% options gives the same results as ets.
options_do_not_change_results(Config) ->
    lists:foreach(
      fun(Opts) ->
              P = pair(Config, [public | Opts]),
              battery(P),
              ?EQ(P, info_norm(?M, ?T, ?M:info(?T)))
      end, [[compressed], [{write_concurrency, true}], [{write_concurrency, auto}],
            [{read_concurrency, true}], [{write_concurrency, true}, {read_concurrency, true}],
            [{write_concurrency, true}, {decentralized_counters, false}],
            [compressed, {write_concurrency, auto}, {read_concurrency, true}]]).

%% ets's exceptions carry error_info that erl_error turns into an
%% explanation naming the argument: so must those of the module under test.
badarg_exceptions_explain_the_argument(Config) ->
    P = pair(Config, [public]),
    Deleted = pair(Config, [public]),
    ?EQ(Deleted, ?M:delete(?T)),
    [?EQ(Deleted, explains(fun() -> ?M:lookup(?T, a) end, "1st argument")),
     ?EQ(Deleted, explains(fun() -> ?M:insert(?T, {a}) end, "1st argument")),
     ?EQ(Deleted, explains(fun() -> ?M:info(?T, size) end, "")),
     ?EQ(P, explains(fun() -> ?M:info(?T, bad_item) end, "2nd argument")),
     ?EQ(P, explains(fun() -> ?M:lookup(1, a) end, "1st argument")),
     ?EQ(P, explains(fun() -> ?M:new(1, []) end, "1st argument")),
     ?EQ(P, explains(fun() -> ?M:new(a, [bad]) end, "2nd argument")),
     ?EQ(P, explains(fun() -> ?M:whereis(1) end, "1st argument"))].

%% Every failing call as ets fails: the reason, the top frame's function
%% and arguments (in the module called, or where ets raises from another
%% function, that one), and the cause that ets's error_info records (id,
%% type, access, table_type, badkey, keypos, position, owner, ...; none
%% when it records none). For each function taking a table: tables that
%% are not there or are not tables, tables of another process; then the
%% bad-argument cases of each function.
badarg_reason_top_frame_and_cause_as_ets(Config) ->
    NotThere = [Deleted = pair(Config, [public]), pair(Config, [public, named_table])],
    [?EQ(P, ?M:delete(?T)) || P <- NotThere],
    NotTables = [Deleted#p{e = T, x = T} || T <- [xets_conf_no_such_table, 1, "tab", {tab}, make_ref()]],
    [fails_as_ets(P, Call) || P <- NotThere ++ NotTables, Call <- table_calls()],
    Owner = spawn_link(fun fixer/0),
    lists:foreach(
      fun(Access) ->
              P = pair(Config, [Access]),
              insert_each(P, [{a, 1}, {b, 2}]),
              ?EQ(P, ?M:give_away(?T, Owner, gift)),
              [fails_as_ets(P, Call) || Call <- table_calls()]
      end, [private, protected, public]),
    P = pair(Config, [public]),
    insert_each(P, [{a, 1, x}, {b, 2, y}, {{c}, 3.0, z}]),
    [fails_as_ets(P, Call) || Call <- argument_calls(?config(type, Config))],
    Named = pair(Config, [public, named_table]),
    [fails_as_ets(Named, Call) || Call <- [{new, ['TAB', [named_table]]}, {rename, ['TAB', 'TAB']}]],
    stop(Owner).

%% Calls taking a table ('TAB'), whose other arguments are good for a table
%% of any type holding {a, 1} and {b, 2}.
table_calls() ->
    Spec = [{'_', [], ['$_']}],
    [{delete, ['TAB']}, {delete, ['TAB', a]}, {delete_all_objects, ['TAB']},
     {delete_object, ['TAB', {a, 1}]}, {first, ['TAB']},
     {foldl, [fun(_, A) -> A end, 0, 'TAB']}, {foldr, [fun(_, A) -> A end, 0, 'TAB']},
     {from_dets, ['TAB', xets_conf_no_such_dets]}, {give_away, ['TAB', self(), gift]},
     {info, ['TAB']}, {info, ['TAB', size]}, {init_table, ['TAB', fun(_) -> end_of_input end]},
     {insert, ['TAB', {c, 3}]}, {insert, ['TAB', [{c, 3}, {d, 4}]]},
     {insert_new, ['TAB', {c, 3}]}, {insert_new, ['TAB', [{c, 3}, {d, 4}]]},
     {internal_delete_all, ['TAB', undefined]},
     {internal_select_delete, ['TAB', [{{c, '_'}, [], [true]}]]}, {last, ['TAB']},
     {lookup, ['TAB', a]}, {lookup_element, ['TAB', a, 2]}, {match, ['TAB', '$1']},
     {match, ['TAB', '$1', 1]}, {match_delete, ['TAB', {c, '_'}]},
     {match_object, ['TAB', '_']}, {match_object, ['TAB', '_', 1]}, {member, ['TAB', a]},
     {next, ['TAB', a]}, {prev, ['TAB', a]}, {rename, ['TAB', xets_conf_renamed]},
     {safe_fixtable, ['TAB', true]}, {safe_fixtable, ['TAB', false]}, {select, ['TAB', Spec]},
     {select, ['TAB', Spec, 1]}, {select_count, ['TAB', [{'_', [], [true]}]]},
     {select_delete, ['TAB', [{{c, '_'}, [], [true]}]]},
     {select_delete, ['TAB', [{'_', [], [true]}]]}, {select_replace, ['TAB', Spec]},
     {select_reverse, ['TAB', Spec]}, {select_reverse, ['TAB', Spec, 1]},
     {setopts, ['TAB', {heir, none}]}, {slot, ['TAB', 0]}, {tab2list, ['TAB']},
     {take, ['TAB', c]}, {to_dets, ['TAB', xets_conf_no_such_dets]},
     {update_counter, ['TAB', a, 1]}, {update_counter, ['TAB', c, 1, {c, 0}]},
     {update_element, ['TAB', a, {2, 0}]}].

%% Calls with a bad argument besides the table ('TAB', holding {a, 1, x},
%% {b, 2, y} and {{c}, 3.0, z}), and calls taking no table.
argument_calls(Type) ->
    Spec = [{'_', [], ['$_']}],
    [{lookup_element, ['TAB', nokey, 2]}, {lookup_element, ['TAB', a, 0]},
     {lookup_element, ['TAB', a, 4]}, {lookup_element, ['TAB', a, two]},
     {update_counter, ['TAB', nokey, 1]}, {update_counter, ['TAB', a, {1, 1}]},
     {update_counter, ['TAB', a, [{2, 1}, {1, 1}]]}, {update_counter, ['TAB', a, {4, 1}]},
     {update_counter, ['TAB', a, {3, 1}]}, {update_counter, ['TAB', {c}, 1]},
     {update_counter, ['TAB', a, one]}, {update_counter, ['TAB', a, {2, 1, 2}]},
     {update_counter, ['TAB', nokey, {1, 1}, {nokey, 0}]},
     {update_counter, ['TAB', nokey, {3, 1}, {nokey, 0}]},
     %% not a default shorter than the key position: OTP 25.2 then
     %% records no cause on a set, position on an ordered_set (where it
     %% may crash, see uc4/5), and may crash on a bag
     {update_counter, ['TAB', nokey, 1, {nokey, x}]}, {update_counter, ['TAB', nokey, 1, nokey]},
     {update_element, ['TAB', a, {1, b}]}, {update_element, ['TAB', a, [{2, 0}, {1, b}]]},
     {update_element, ['TAB', a, {4, b}]}, {update_element, ['TAB', a, {0, b}]},
     {update_element, ['TAB', a, x]}, {update_element, ['TAB', nokey, {4, b}]},
     {give_away, ['TAB', self(), gift]}, {give_away, ['TAB', dead_pid(), gift]},
     {give_away, ['TAB', not_a_pid, gift]}, {give_away, ['TAB', remote_pid(), gift]},
     {setopts, ['TAB', {heir, not_a_pid, x}]},
     {setopts, ['TAB', [{protection, private}, {protection, public}]]},
     {rename, ['TAB', 1]}, {info, ['TAB', no_such_item]},
     {next, ['TAB', nokey]}, {prev, ['TAB', nokey]},
     {slot, ['TAB', -1]}, {slot, ['TAB', 1 bsl 40]}, {slot, ['TAB', x]},
     {insert, ['TAB', {}]}, {insert, ['TAB', [{d, 4} | x]]}, {insert, ['TAB', not_a_tuple]},
     {insert_new, ['TAB', [{d, 4}, {}]]}, {delete_object, ['TAB', {}]},
     {safe_fixtable, ['TAB', maybe]}, {select, ['TAB', bad_spec]}, {select, ['TAB', Spec, 0]},
     {select_reverse, ['TAB', Spec, x]}, {select_count, ['TAB', [{'_', [bad_guard], [true]}]]},
     {select_delete, ['TAB', bad_spec]},
     {select_replace, ['TAB', [{{'$1', '$2', '_'}, [], [{{'$2', '$1', x}}]}]]},
     {select_replace, ['TAB', bad_spec]}, {match, ['TAB', '_', 0]},
     {match_object, ['TAB', '_', -1]}, {select, [bad_continuation]},
     {match_object, [{bad, continuation}]}, {match_spec_compile, [[{'_', [bad_guard], []}]]},
     {match_spec_run, [[{a}], not_compiled]}, {whereis, [1]}, {new, [1, []]},
     {new, [xets_conf_new, [Type | bad]]}, {new, [xets_conf_new, [{keypos, 0}]]},
     {to_dets, ['TAB', xets_conf_no_such_dets]},
     {from_dets, ['TAB', xets_conf_no_such_dets]}].

%% Call {Function, Args} fails (or returns) as ets's.
fails_as_ets(P, {F, Args} = Call) ->
    xets_twin:eq(P, printable({P#p.x, Call}),
                 fun(M, T) -> failure(M, fun() -> apply(M, F, [tab(A, T) || A <- Args]) end) end,
                 exact).

tab('TAB', T) -> T;
tab(A, _T) -> A.

%% How F fails: the reason, the top frame as {Module, Function, Args} with
%% the module called as '$mod' and funs as 'fun', and the cause in its
%% error_info; or that it returned (what it returns is compared elsewhere).
failure(M, F) ->
    try F() of
        _ -> returned
    catch
        Class:Reason:Stack ->
            [{FM, FF, Args, Info} | _] = Stack,
            ErrorInfo = proplists:get_value(error_info, Info, #{}),
            {Class, Reason,
             {if FM =:= M -> '$mod'; true -> FM end, FF,
              if is_list(Args) -> [if is_function(A) -> 'fun'; true -> A end || A <- Args];
                 true -> Args
              end},
             maps:get(cause, ErrorInfo, none)}
    end.

%%====================================================================
%% Random operations
%%====================================================================

random_operations_match_ets(Config) ->
    Type = ?config(type, Config),
    Seed = case os:getenv("XETS_TEST_SEED") of
               false -> erlang:phash2({Type, erlang:unique_integer(), os:timestamp()});
               S -> list_to_integer(S)
           end,
    ct:pal("random_operations_match_ets ~p: XETS_TEST_SEED=~p", [Type, Seed]),
    rand:seed(exsss, Seed),
    P = pair(Config, [public]),
    random_ops(P, 1, 3000, []).

random_ops(_P, I, N, _Hist) when I > N ->
    ok;
random_ops(P, I, N, Hist) ->
    Op = random_op(P#p.type),
    Hist1 = lists:sublist([{I, Op} | Hist], 40),
    try
        random_op(P, Op),
        ?EQ(P, ?M:info(?T, size)),
        I rem 25 =:= 0 andalso ?EQU(P, ?M:tab2list(?T)) =/= x
    catch
        C:R:St ->
            ct:pal("failed at op ~p; last ops (newest first):~n~s", [I, printable(Hist1)]),
            erlang:raise(C, R, St)
    end,
    random_ops(P, I + 1, N, Hist1).

random_op(P, {first}) -> ?EQ(P, valid_first(?M, ?T, first));
random_op(P, {last}) -> ?EQ(P, valid_first(?M, ?T, last));
random_op(P, {next, K}) -> ?EQ(P, valid_next(?M, ?T, next, K));
random_op(P, {prev, K}) -> ?EQ(P, valid_next(?M, ?T, prev, K));
random_op(P, {tab2list}) -> ?EQU(P, ?M:tab2list(?T));
random_op(P, {F, A}) -> ?EQ(P, ?M:F(?T, A));
random_op(P, {F, A, B}) -> ?EQ(P, ?M:F(?T, A, B));
random_op(P, {update_counter, K, Op, Def}) -> ?EQ(P, uc4(?M, ?T, K, Op, Def));
random_op(P, {F, A, B, C}) -> ?EQ(P, ?M:F(?T, A, B, C));
random_op(P, {F}) -> ?EQ(P, ?M:F(?T)).

random_op(Type) ->
    K = rkey(),
    case rand:uniform(24) of
        1 -> {insert, robj(K)};
        2 -> {insert, xets_test_lib:distinct_keys(Type, [robj(rkey()) || _ <- lists:seq(1, rand:uniform(6) - 1)])};
        3 -> {insert_new, robj(K)};
        4 -> {insert_new, xets_test_lib:distinct_keys(Type, [robj(rkey()) || _ <- lists:seq(1, rand:uniform(4) - 1)])};
        5 -> {delete, K};
        6 -> {delete_object, robj(K)};
        7 -> {take, K};
        8 -> {update_counter, K, rcounter_op()};
        9 -> {update_counter, K, rcounter_op(), robj(pick([K, x]))};
        10 -> {update_element, K, pick([{2, rand:uniform(5)}, {3, rval()}, [{3, rval()}, {2, 0}],
                                        {1, K}, {4, x}, []])};
        11 -> {lookup, K};
        12 -> {lookup, K};
        13 -> {member, K};
        14 -> {lookup_element, K, rand:uniform(4) - 1};
        15 -> {first};
        16 -> {last};
        17 -> {next, K};
        18 -> {prev, K};
        19 -> {tab2list};
        20 when Type =/= set -> {insert, robj(K)};
        20 -> {update_counter, K, rand:uniform(3) - 2, {K, 0, x}};
        21 -> pick([{delete_all_objects}, {lookup, K}, {lookup, K}, {lookup, K}]);
        22 -> {insert, xets_test_lib:distinct_keys(Type, [robj(K), robj(K)])};
        23 -> {delete_object, pick([{K, 0, x}, {K, 1, x}, {K, 1}])};
        24 -> {insert, pick([{K, 0, x}, {K, 1, x}, {K, 1}, {K, 1.0, x}])}
    end.

%% A list to insert whose outcome ets defines: no two keys that match (in
%% a set or an ordered_set ets keeps one of them, "which one is not
%% defined"; in a bag it keeps them in an order it does not define).
rcounter_op() ->
    pick([1, -1, rand:uniform(1 bsl 70), {2, 1}, {2, -3}, {3, 1}, {2, 1, 3, 0},
          {2, -1, -2, 5}, [{2, 1}, {2, 1}], [], {1, 1}, {4, 1}]).

robj(K) ->
    case rand:uniform(8) of
        1 -> {K};
        2 -> {K, rand:uniform(3) - 1};
        _ -> {K, rand:uniform(5) - 1, rval()}
    end.

rval() ->
    case rand:uniform(4) of
        1 -> random_term(4);
        _ -> pick([x, y, 1, 1.0, neg_zero(), 0.0, <<"v">>, [], {}])
    end.

rkey() ->
    case rand:uniform(3) of
        1 -> random_key();
        _ -> pick([1, 1.0, 2, 2.0, 0, 0.0, neg_zero(), {1}, {1.0}, a, b, <<"k">>,
                   sub_binary(<<"k">>), [], {}, "k", 1 bsl 64, float(1 bsl 64)])
    end.

%% first/last/next/prev on set, bag and duplicate_bag depend on the hash
%% order, which differs between implementations: check each side is valid
%% on its own (a key of its table, or '$end_of_table'), and compare exactly
%% on ordered_set.
valid_first(M, T, F) ->
    case M:info(T, type) of
        ordered_set -> M:F(T);
        _ -> case M:F(T) of
                 '$end_of_table' -> M:info(T, size) =:= 0;
                 K -> M:member(T, K)
             end
    end.

valid_next(M, T, F, K) ->
    case M:info(T, type) of
        ordered_set -> M:F(T, K);
        _ -> case M:F(T, K) of
                 '$end_of_table' -> '$end_of_table_or_key';
                 K2 -> case M:member(T, K2) andalso K2 =/= K of
                           true -> '$end_of_table_or_key';
                           false -> {not_a_next_key, K2}
                       end
             end
    end.

%%====================================================================
%% Helpers
%%====================================================================

%% Table names derived from a named table's name (xets_twin normalizes
%% them in results).
renamed(T, Suffix) when is_atom(T) ->
    list_to_atom(atom_to_list(T) ++ Suffix);
renamed(_, Suffix) ->
    list_to_atom("xets_conf" ++ Suffix).

%% new/2; a table created by mistake is described and deleted.
try_new(M, Name, Opts) ->
    T = M:new(Name, Opts),
    Info = info_norm(M, T, M:info(T)),
    M:delete(T),
    {created, Info}.

%% info/1 with the items that must differ reduced to what they must be.
info_norm(M, T, Info) when is_list(Info) ->
    [case I of
         {id, V} -> {id, V =:= id_of(M, T) andalso is_reference(V)};
         {memory, V} -> {memory, is_integer(V) andalso V > 0};
         _ -> I
     end || I <- Info];
info_norm(_, _, Info) ->
    Info.

id_of(M, T) when is_atom(T) -> M:whereis(T);
id_of(_, T) -> T.

fix_info(M, T) ->
    {M:info(T, fixed), check_fix_time(M:info(T, safe_fixed), erlang:timestamp()),
     check_fix_time(M:info(T, safe_fixed_monotonic_time), erlang:monotonic_time()),
     fixers_agree(M:info(T, safe_fixed), M:info(T, safe_fixed_monotonic_time))}.

%% safe_fixed: {Time, [{Pid, Count}]} with Time when first fixed, not in
%% the future (timestamp or monotonic time).
check_fix_time(false, _) ->
    false;
check_fix_time({{Mega, Sec, Micro} = TS, Fixers}, Now)
  when is_integer(Mega), is_integer(Sec), is_integer(Micro) ->
    {TS =< Now andalso TS > {0, 0, 0}, lists:sort(Fixers)};
check_fix_time({Mono, Fixers}, Now) when is_integer(Mono) ->
    %% the table was fixed during this test case, after the suite started
    {Mono =< Now andalso Mono > Now - erlang:convert_time_unit(600, second, native),
     lists:sort(Fixers)};
check_fix_time(Other, _) ->
    {bad_fix_info, Other}.

fixers_agree({_, F1}, {_, F2}) -> lists:sort(F1) =:= lists:sort(F2);
fixers_agree(A, B) -> {A, B}.

walk(M, T, First, Next) ->
    walk(M, T, Next, M:First(T), []).

walk(_M, _T, _Next, '$end_of_table', Acc) ->
    lists:reverse(Acc);
walk(M, T, Next, K, Acc) when length(Acc) < 100000 ->
    walk(M, T, Next, M:Next(T, K), [K | Acc]).

walk_deleting(_M, _T, '$end_of_table', Acc) ->
    Acc;
walk_deleting(M, T, K, Acc) when length(Acc) < 100000 ->
    M:delete(T, K),
    walk_deleting(M, T, M:next(T, K), [K | Acc]).

sorted_unique_keys(M, T) ->
    lists:usort(fun(A, B) -> A =< B end, [element(M:info(T, keypos), O) || O <- M:tab2list(T)]).

%% first/last on ordered_set; elsewhere (no defined order) the given key.
first_if_ordered(M, T, F, Else) ->
    case M:info(T, type) of
        ordered_set -> M:F(T);
        _ -> Else
    end.

next_if_ordered(M, T, K) ->
    case M:info(T, type) of
        ordered_set -> M:next(T, K);
        _ -> not_ordered
    end.

prev_if_ordered(M, T, K) ->
    case M:info(T, type) of
        ordered_set -> M:prev(T, K);
        _ -> not_ordered
    end.

%% Only whether (and how) it raised; the value is compared elsewhere.
catch_class(F) ->
    try F() of
        _ -> returned
    catch
        C:R -> {C, R}
    end.

%% lookup_element/4 is ets's from OTP 26 on; on older OTPs the same
%% semantics are built from lookup_element/3 and member/2.
le4(ets, T, K, Pos, Def) ->
    case erlang:function_exported(ets, lookup_element, 4) of
        true ->
            apply(ets, lookup_element, [T, K, Pos, Def]);
        false when not is_integer(Pos); Pos < 1 ->
            raise_badarg(lookup_element, [T, K, Pos, Def]);
        false ->
            case ets:member(T, K) of
                true -> ets:lookup_element(T, K, Pos);
                false -> Def
            end
    end;
le4(M, T, K, Pos, Def) ->
    M:lookup_element(T, K, Pos, Def).

uc4(ets, T, K, Op, Def) ->
    xets_test_lib:ets_update_counter(T, K, Op, Def);
uc4(M, T, K, Op, Def) ->
    M:update_counter(T, K, Op, Def).

raise_badarg(F, Args) ->
    erlang:raise(error, badarg,
                 [{ets, F, Args, [{error_info, #{module => erl_stdlib_errors}}]}]).

%% Every table function called with table argument ?T, compared.
every_call_on(P) ->
    Self = self(),
    ?EQ(P, ?M:delete(?T, a)),
    ?EQ(P, ?M:delete_all_objects(?T)),
    ?EQ(P, ?M:delete_object(?T, {a, 1})),
    ?EQ(P, ?M:first(?T)),
    ?EQ(P, ?M:foldl(fun(_, A) -> A end, 0, ?T)),
    ?EQ(P, ?M:foldr(fun(_, A) -> A end, 0, ?T)),
    ?EQ(P, ?M:give_away(?T, spawn(fun() -> ok end), x)),
    ?EQ(P, ?M:insert(?T, {b, 1})),
    ?EQ(P, ?M:insert(?T, [{b, 1}])),
    ?EQ(P, ?M:insert_new(?T, {b, 1})),
    ?EQ(P, ?M:insert_new(?T, [{b, 1}])),
    ?EQ(P, ?M:last(?T)),
    ?EQ(P, ?M:lookup(?T, a)),
    ?EQ(P, ?M:lookup_element(?T, a, 2)),
    ?EQ(P, le4(?M, ?T, a, 2, def)),
    ?EQ(P, ?M:member(?T, a)),
    ?EQ(P, ?M:next(?T, a)),
    ?EQ(P, ?M:prev(?T, a)),
    ?EQ(P, ?M:rename(?T, xets_conf_renamed_dead)),
    ?EQ(P, ?M:safe_fixtable(?T, true)),
    ?EQ(P, ?M:safe_fixtable(?T, false)),
    ?EQ(P, ?M:setopts(?T, {heir, Self, x})),
    ?EQ(P, ?M:tab2list(?T)),
    ?EQ(P, ?M:take(?T, a)),
    ?EQ(P, ?M:update_counter(?T, a, 1)),
    ?EQ(P, uc4(?M, ?T, a, 1, {a, 0})),
    ?EQ(P, ?M:update_element(?T, a, {2, x})),
    ?EQ(P, ?M:info(?T, bad_item)).

%% A fixed set of operations, for option variants.
battery(P) ->
    insert_each(P, [{K, 0, x} || K <- walk_keys()]),
    ?EQ(P, ?M:insert(?T, [{I, I, <<I:1000>>} || I <- lists:seq(1, 500)])),
    ?EQ(P, ?M:insert_new(?T, {new, 1, x})),
    ?EQ(P, ?M:insert_new(?T, {new, 1, y})),
    [?EQ(P, ?M:lookup(?T, K)) || K <- walk_keys()],
    [?EQ(P, ?M:update_counter(?T, K, 1)) || K <- lists:seq(1, 20) ++ [new]],
    [?EQ(P, ?M:update_element(?T, K, {3, y})) || K <- lists:seq(10, 30)],
    [?EQ(P, ?M:delete(?T, K)) || K <- lists:seq(1, 500, 7)],
    ?EQ(P, ?M:delete_object(?T, {new, 1, x})),
    ?EQ(P, ?M:take(?T, 8)),
    ?EQ(P, ?M:info(?T, size)),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQU(P, ?M:foldl(fun(O, A) -> [O | A] end, [], ?T)),
    ?EQU(P, walk(?M, ?T, first, next)).

explains(F, Needle) ->
    try F() of
        R -> {returned, R}
    catch
        error:badarg:St ->
            Text = unicode:characters_to_list(erl_error:format_exception(error, badarg, St)),
            {badarg, string:find(Text, "argument") =/= nomatch,
             string:find(Text, Needle) =/= nomatch}
    end.

%% A helper process that runs funs for the test process.
fixer() ->
    receive
        {call, From, F} -> From ! {self(), catch_raise(F)}, fixer()
    end.

fixer(_Parent) ->
    fixer().

call(Pid, F) ->
    Pid ! {call, self(), F},
    receive
        {Pid, {ok, R}} -> R;
        {Pid, {raise, C, R, St}} -> erlang:raise(C, R, St)
    after 10000 -> ct:fail({no_reply_from, Pid})
    end.

%% Ends a linked helper, and with it the tables it owns (a helper outlives
%% a case that ends normally, and the leak check wants its tables gone).
stop(Pid) ->
    unlink(Pid),
    exit(Pid, kill).

catch_raise(F) ->
    try {ok, F()} catch C:R:St -> {raise, C, R, St} end.

%% Forwards every message to Parent, and runs funs like fixer().
forwarder(Parent) ->
    receive
        {call, From, F} -> From ! {self(), catch_raise(F)};
        M -> Parent ! {forwarded, M}
    end,
    forwarder(Parent).

forwarded() ->
    receive {forwarded, M} -> M after 5000 -> no_message end.

sink() ->
    receive _ -> sink() end.

dead_pid() ->
    {Pid, Ref} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', Ref, process, Pid, _} -> Pid end.

remote_pid() ->
    Node = <<"xets_conf_remote@nohost">>,
    binary_to_term(<<131, 88, 118, (byte_size(Node)):16, Node/binary, 1:32, 0:32, 1:32>>).

neg_zero() ->
    <<F/float>> = <<1:1, 0:63>>,
    F.

sub_binary(B) ->
    Big = <<0:64, B/binary, 0:64, (binary:copy(<<"x">>, 100))/binary>>,
    binary:part(Big, 8, byte_size(B)).

pick(L) ->
    lists:nth(rand:uniform(length(L)), L).

shuffle(L) ->
    [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

%% The edge terms usable as keys in ets: on OTP 25, ets:next/2 on a set
%% raises badarg for a key that is an external reference of fewer than
%% three words (#Ref<N.7>), although lookup/2 finds it.
edge_keys() ->
    [T || T <- edge_terms(), not short_ext_ref(T)].

%% ... and for traversals, without '$end_of_table', which would end them.
walk_keys() ->
    edge_keys() -- ['$end_of_table'].

short_ext_ref(T) when is_reference(T), node(T) =/= node() ->
    case term_to_binary(T) of
        <<131, 90, Len:16, _/binary>> -> Len < 3;
        _ -> false
    end;
short_ext_ref(_) ->
    false.

%% Inserts the objects one by one (a list with two keys that match would
%% leave it to the implementation which one is kept).
insert_each(P, Objects) ->
    [?EQ(P, ?M:insert(?T, O)) || O <- Objects],
    ok.

%% Inserts a list that may hold matching keys: in a set (=:=) or an
%% ordered_set (==), ets keeps one of them, "which one is not defined"
%% (compared, then those keys rewritten one object at a time so that both
%% sides agree again); bags keep all, in an order ets does not document
%% but keeps: a duplicate_bag in list order, a bag from the last object of
%% the list to the first.
insert_list(P, List) ->
    insert_list(P, List, insert).

insert_list(#p{type = Type} = P, List, F) ->
    ?EQ(P, ?M:F(?T, List)),
    case Type of
        _ when Type =:= bag; Type =:= duplicate_bag ->
            [?EQ(P, ?M:lookup(?T, element(1, O))) || O <- List];
        _ ->
            [?EQ(P, chosen(?M, ?T, Type, element(1, O), List)) || O <- List],
            [?EQ(P, ?M:insert(?T, setelement(2, O, resynced)))
             || O <- List, ?EQ(P, ?M:member(?T, element(1, O)))]
    end,
    ok.

chosen(M, T, Type, K, List) ->
    Match = case Type of
                ordered_set -> fun(K2) -> K2 == K end;
                set -> fun(K2) -> K2 =:= K end
            end,
    case M:lookup(T, K) of
        [O] -> {one_of_the_list, lists:member(O, [C || C <- List, Match(element(1, C))])};
        Other -> Other
    end.

%% The edge cases: this suite's own, and test/xets_terms's when present.
edge_terms() ->
    case get(xets_conf_edge_terms) of
        undefined ->
            Ts = dedup(local_edge_terms() ++ shared_edge_terms()),
            put(xets_conf_edge_terms, Ts),
            Ts;
        Ts ->
            Ts
    end.

shared_edge_terms() ->
    case code:ensure_loaded(xets_terms) of
        {module, xets_terms} -> xets_terms:edge_terms();
        _ -> []
    end.

random_term(Size) ->
    case erlang:function_exported(xets_terms, random_term, 1) of
        true -> xets_terms:random_term(Size);
        false -> pick(local_edge_terms())
    end.

random_key() ->
    case erlang:function_exported(xets_terms, random_key, 0) of
        true -> xets_terms:random_key();
        false -> pick([1, 1.0, a, {1}, {1.0}])
    end.

%% For hash tables the 8-tuple, its chain-length average being objects per
%% bucket. ordered_set has no hash statistics: false, or with
%% write_concurrency ets's CA-tree triple, which xets (a skiplist) does not
%% have (a documented difference, pinned in xets_differences_tests).
stats_shape(false) ->
    no_hash_stats;
stats_shape({Routes, Bases, _}) when is_integer(Routes), is_integer(Bases) ->
    no_hash_stats;
stats_shape({Buckets, Avg, StdDev, Expected, Min, Max, Kept, Locks})
  when is_integer(Buckets), Buckets > 0, is_float(StdDev), is_float(Expected),
       is_integer(Min), is_integer(Max), Min =< Max, is_integer(Kept),
       is_integer(Locks), Locks > 0 ->
    {hash_stats, round(Avg * Buckets), Max >= 1}.

xets_float_twin(T) ->
    case erlang:function_exported(xets_terms, float_twin, 1) of
        true -> xets_terms:float_twin(T);
        false when is_integer(T) -> try float(T) catch error:badarg -> T end;
        false -> T
    end.

%% Identical duplicates (=:= and same float signs) removed, order kept.
dedup(L) ->
    dedup(L, #{}, []).

dedup([], _, Acc) -> lists:reverse(Acc);
dedup([T | Rest], Seen, Acc) ->
    K = term_to_binary(T),
    case Seen of
        #{K := _} -> dedup(Rest, Seen, Acc);
        _ -> dedup(Rest, Seen#{K => true}, [T | Acc])
    end.

local_edge_terms() ->
    Big = binary:copy(<<"0123456789abcdef">>, 8),
    Sub = binary:part(Big, 5, 20),
    <<_:3, Bits:13/bitstring, _/bitstring>> = Big,
    X = 42,
    Y = "free",
    Keys40 = [{I, I * I} || I <- lists:seq(1, 40)],
    Bignums = lists:append([[1 bsl (N - 1), -(1 bsl (N - 1)), (1 bsl N) - 1, -((1 bsl N) - 1)]
                            || N <- [1, 2, 7, 8, 15, 16, 27, 28, 31, 32, 33, 59, 60, 61, 62,
                                     63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 999,
                                     1000]]),
    [1, 1.0, 0, 0.0, neg_zero(), -1, -1.0, 0.5, 1.0e-300, 5.0e-324, -5.0e-324,
     2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
     9007199254740992, 9007199254740992.0, 9007199254740993,
     1 bsl 64, float(1 bsl 64), 1 bsl 1000, float(1 bsl 1000), -(1 bsl 1000), -float(1 bsl 1000)]
        ++ Bignums ++
    ['', a, 'ö', '日本', '$end_of_table', '_', '$1', true, list_to_atom(lists:duplicate(255, $z)),
     make_ref(), self(), hd(erlang:ports()), remote_pid(), dead_pid(),
     fun() -> X end, fun() -> Y end, fun(A) -> A + X end, fun lists:sort/1, fun erlang:self/0,
     fun local_edge_terms/0,
     {}, {1}, {1.0}, {a, {b, [c]}}, {neg_zero()}, {0.0},
     #{}, #{a => 1}, #{1 => a}, #{1.0 => a}, #{a => 1, b => 2}, #{b => 2, a => 1},
     maps:from_list(Keys40), maps:from_list(lists:reverse(Keys40)),
     lists:foldl(fun({K, V}, M) -> M#{K => V} end, #{}, lists:reverse(Keys40)),
     [], [a], "abc", [1 | 2], [a | b], [[]], [1, 2 | 3], "日本", [1.0], [neg_zero()],
     <<>>, <<1, 2, 3>>, Big, Sub, binary:copy(Sub), <<"56789abcdef012345678">>, Bits,
     <<1:1>>, <<5:3>>, <<1, 2, 3, 4:4>>, sub_binary(<<"k">>), <<"k">>].
