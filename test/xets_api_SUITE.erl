%% The rest of the ets API, compared with ets in the same VM on all four
%% table types: slot/2, the functions of later OTP releases
%% (first_lookup/1 and friends, update_element/4), match_spec_run_r/3 and
%% the internal_* functions.
%%
%% Functions that OTP 25's ets lacks are compared with a model built from
%% OTP 25 ets calls, following the OTP 26/27 manual (fl/3, nl/4, ue4/5).
%% As in the conformance suite, XETS_TEST_MOD=ets runs ets against ets.
-module(xets_api_SUITE).

-include_lib("common_test/include/ct.hrl").
-include("xets_twin.hrl").

-import(xets_twin, [pair/2]).

-export([suite/0, all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).

-export([first_last_lookup_return_the_key_with_its_objects/1,
         next_prev_lookup_walk_every_key_with_its_objects/1,
         next_prev_lookup_on_absent_keys_raise_as_next_prev/1,
         lookup_steps_on_bad_tables_raise_badarg/1,
         update_element_4_inserts_the_default_only_for_a_missing_key/1,
         update_element_4_bad_arguments_raise_badarg_and_insert_nothing/1,
         slot_of_an_ordered_set_is_the_ith_object/1,
         slots_hold_every_object_once_then_end_of_table/1,
         slot_counts_past_its_per_call_budget/1,
         slot_bad_index_raises_badarg/1,
         match_spec_run_r_as_ets/1,
         internal_delete_all_and_select_delete_count_as_ets/1,
         internal_request_all_answers_as_ets_all_expects/1]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [{group, T} || T <- ?TYPES].

groups() ->
    Cases = [first_last_lookup_return_the_key_with_its_objects,
             next_prev_lookup_walk_every_key_with_its_objects,
             next_prev_lookup_on_absent_keys_raise_as_next_prev,
             lookup_steps_on_bad_tables_raise_badarg,
             update_element_4_inserts_the_default_only_for_a_missing_key,
             update_element_4_bad_arguments_raise_badarg_and_insert_nothing,
             slot_of_an_ordered_set_is_the_ith_object,
             slots_hold_every_object_once_then_end_of_table,
             slot_counts_past_its_per_call_budget,
             slot_bad_index_raises_badarg,
             match_spec_run_r_as_ets,
             internal_delete_all_and_select_delete_count_as_ets,
             internal_request_all_answers_as_ets_all_expects],
    [{T, [], Cases} || T <- ?TYPES].

init_per_suite(Config) -> [{mod, xets_test_lib:module_under_test()} | Config].
end_per_suite(_Config) -> ok.
init_per_group(Type, Config) -> [{type, Type} | Config].
end_per_group(_Type, _Config) -> ok.
init_per_testcase(_Case, Config) -> xets_twin:reset_differences(), Config.
end_per_testcase(_Case, _Config) -> xets_twin:check_differences().

%%====================================================================
%% first_lookup/1, next_lookup/2, last_lookup/1, prev_lookup/2 (OTP 27)
%%====================================================================

first_last_lookup_return_the_key_with_its_objects(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, fl(?M, ?T, first)),
    ?EQ(P, fl(?M, ?T, last)),
    %% One at a time: on OTP 25, ets inserts a list into a bag in another
    %% order (a difference of insert/2, not of these functions).
    [?EQ(P, ?M:insert(?T, O)) || O <- [{k, 1}, {k, 2}, {k, 2}, {1.0, x}]],
    %% A single key: the same whatever the type's order.
    ?EQ(P, ?M:delete(?T, 1.0)),
    ?EQ(P, fl(?M, ?T, first)),
    ?EQ(P, fl(?M, ?T, last)),
    ?EQ(P, ?M:insert(?T, [{1, a}, {0.5, b}, {z, c}, {z, d}])),
    ?EQ(P, sorted_if_hash(?M, ?T, fl(?M, ?T, first))),
    ?EQ(P, sorted_if_hash(?M, ?T, fl(?M, ?T, last))).

next_prev_lookup_walk_every_key_with_its_objects(Config) ->
    P = pair(Config, [public]),
    Objects = [{K, V} || K <- [1, 1.0, a, "s", {t}, <<"b">>, 0.0], V <- [x, y, x]],
    ?EQ(P, ?M:insert(?T, Objects)),
    ?EQU(P, walk(?M, ?T, first, next)),
    ?EQU(P, walk(?M, ?T, last, prev)).

next_prev_lookup_on_absent_keys_raise_as_next_prev(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{1, a}, {3, b}])),
    [?EQ(P, nl(?M, ?T, Dir, K)) || Dir <- [next, prev], K <- [0, 2, 4, 1.0, '$end_of_table']],
    ?EQ(P, ?M:safe_fixtable(?T, true)),
    %% A key deleted while the table is fixed is still a place to step from.
    ?EQ(P, ?M:delete(?T, 1)),
    ?EQ(P, sorted_if_hash(?M, ?T, nl(?M, ?T, next, 1))),
    ?EQ(P, ?M:safe_fixtable(?T, false)).

lookup_steps_on_bad_tables_raise_badarg(Config) ->
    P = pair(Config, [private]),
    Other = fun(F) -> run_elsewhere(F) end,
    ?EQ(P, Other(fun() -> fl(?M, ?T, first) end)),
    ?EQ(P, Other(fun() -> nl(?M, ?T, next, a) end)),
    ?EQ(P, ?M:delete(?T)),
    [?EQ(P, fl(?M, ?T, Dir)) || Dir <- [first, last]],
    [?EQ(P, nl(?M, ?T, Dir, a)) || Dir <- [next, prev]],
    [?EQ(P, fl(?M, Bad, first)) || Bad <- [no_such_table, 1, "t"]].

%%====================================================================
%% update_element/4 (OTP 27)
%%====================================================================

update_element_4_inserts_the_default_only_for_a_missing_key(Config) ->
    P = pair(Config, [public, {keypos, 2}]),
    ?EQ(P, ue4(?M, ?T, a, {3, new}, {x, a, old})),
    ?EQ(P, ue4(?M, ?T, b, {3, new}, {x, ignored_key, old, z})),
    ?EQ(P, ue4(?M, ?T, c, [{1, p}, {3, q}, {1, r}], {x, y, z})),
    ?EQ(P, ue4(?M, ?T, d, [], {x, y})),
    ?EQ(P, ue4(?M, ?T, b, {4, again}, {never, used})),
    [?EQ(P, ?M:lookup(?T, K)) || K <- [a, b, c, d, ignored_key]].

update_element_4_bad_arguments_raise_badarg_and_insert_nothing(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, {present, 1, 2})),
    Calls = [{present, {2, x}, not_a_tuple},
             {missing, {2, x}, not_a_tuple},
             {missing, {1, x}, {k, v}},
             {missing, {3, x}, {k, v}},
             {missing, {0, x}, {k, v}},
             {missing, [{2, x} | tail], {k, v}},
             {missing, bad_spec, {k, v}},
             {missing, {2, x}, {}},
             {present, {1, x}, {k, v}},
             {present, {4, x}, {k, v}}],
    [?EQ(P, ue4(?M, ?T, K, Spec, Def)) || {K, Spec, Def} <- Calls],
    ?EQU(P, ?M:tab2list(?T)).

%%====================================================================
%% slot/2
%%====================================================================

slot_of_an_ordered_set_is_the_ith_object(Config) ->
    case ?config(type, Config) of
        ordered_set ->
            P = pair(Config, [public]),
            ?EQ(P, ?M:insert(?T, [{I, I * I} || I <- lists:seq(1, 20)])),
            [?EQ(P, ?M:slot(?T, I)) || I <- lists:seq(0, 22)];
        _ ->
            {skip, "hash slots are buckets, numbered as each implementation likes"}
    end.

slots_hold_every_object_once_then_end_of_table(Config) ->
    P = pair(Config, [public]),
    [begin
         ?EQ(P, ?M:insert(?T, [{K, V} || K <- Keys, V <- [a, b, a]])),
         ?EQ(P, all_slots(?M, ?T))
     end || Keys <- [[], [1], lists:seq(2, 100), [{k, I} || I <- lists:seq(1, 3000)]]],
    %% After the table has shrunk again.
    [?EQ(P, ?M:delete(?T, {k, I})) || I <- lists:seq(1, 3000)],
    ?EQ(P, all_slots(?M, ?T)).

slot_counts_past_its_per_call_budget(Config) ->
    P = pair(Config, [public]),
    N = 45000,
    ?EQ(P, ?M:insert(?T, [{I} || I <- lists:seq(1, N)])),
    case ?config(type, Config) of
        ordered_set -> [?EQ(P, ?M:slot(?T, I)) || I <- [N - 1, N, N + 1, 20000, 20001, 40000]];
        _ -> ?EQ(P, all_slots(?M, ?T))
    end.

slot_bad_index_raises_badarg(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, {a})),
    [?EQ(P, ?M:slot(?T, I)) || I <- [-1, a, 1.0, 1 bsl 64, 1 bsl 70, [0]]],
    ?EQ(P, run_elsewhere(fun() -> ?M:slot(?T, 0) end)),
    ?EQ(P, ?M:setopts(?T, {protection, private})),
    ?EQ(P, run_elsewhere(fun() -> ?M:slot(?T, 0) end)),
    ?EQ(P, ?M:delete(?T)),
    ?EQ(P, ?M:slot(?T, 0)).

%%====================================================================
%% match_spec_run_r/3 and the internal_* functions
%%====================================================================

match_spec_run_r_as_ets(Config) ->
    P = pair(Config, []),
    MS = [{{'$1', '$2'}, [{is_integer, '$2'}], [{{'$2', '$1'}}]}],
    ?EQ(P, ?M:match_spec_run_r([{a, 1}, {b, x}, {c, 3}], ?M:match_spec_compile(MS), [acc])),
    ?EQ(P, ?M:match_spec_run_r([], ?M:match_spec_compile(MS), [])),
    ?EQ(P, ?M:match_spec_run_r([{a, 1}], ?M:match_spec_compile(MS), improper)),
    ?EQ(P, ?M:match_spec_run_r([{a, 1}], MS, [])),
    ?EQ(P, ?M:match_spec_run_r(not_a_list, ?M:match_spec_compile(MS), [])).

internal_delete_all_and_select_delete_count_as_ets(Config) ->
    P = pair(Config, [public]),
    Fill = fun() -> ?EQ(P, ?M:insert(?T, [{I rem 7, I} || I <- lists:seq(1, 50)])) end,
    Fill(),
    ?EQ(P, ?M:internal_select_delete(?T, [{{'$1', '_'}, [{'<', '$1', 3}], [true]}])),
    ?EQ(P, ?M:internal_select_delete(?T, bad_spec)),
    ?EQ(P, ?M:internal_delete_all(?T, undefined)),
    ?EQ(P, ?M:info(?T, size)),
    Fill(),
    ?EQ(P, ?M:internal_delete_all(?T, undefined)),
    ?EQ(P, ?M:internal_delete_all(?T, undefined)),
    ?EQ(P, run_elsewhere(fun() -> ?M:internal_delete_all(?T, undefined) end)),
    ?EQ(P, ?M:delete(?T)),
    ?EQ(P, ?M:internal_delete_all(?T, undefined)),
    ?EQ(P, ?M:internal_select_delete(?T, [{'_', [], [true]}])).

internal_request_all_answers_as_ets_all_expects(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, lists:member(?T, receive_all(?M, ?M:internal_request_all()))),
    ?EQ(P, receive_all(?M, ?M:internal_request_all()) -- ?M:all()),
    ?EQ(P, receive after 0 -> nothing_more end).

%%====================================================================
%% Helpers
%%====================================================================

%% ets:all/0's side of the protocol: one answer per scheduler.
receive_all(_M, Ref) ->
    lists:append([receive {Ref, Tabs} -> Tabs after 5000 -> timeout end
                  || _ <- lists:seq(1, erlang:system_info(schedulers))]).

%% first_lookup/1 and last_lookup/1 as OTP 27's manual defines them: the
%% key first/1 (last/1) returns with lookup/2's objects; ets on OTP 25 lacks
%% them, and is given them in terms of what it has.
fl(ets, T, Dir) ->
    case erlang:function_exported(ets, lookup_fun(Dir), 1) of
        true -> apply(ets, lookup_fun(Dir), [T]);
        false -> with_objects(T, ets:Dir(T))
    end;
fl(M, T, Dir) ->
    apply(M, lookup_fun(Dir), [T]).

nl(ets, T, Dir, K) ->
    case erlang:function_exported(ets, lookup_fun(Dir), 2) of
        true -> apply(ets, lookup_fun(Dir), [T, K]);
        false -> with_objects(T, ets:Dir(T, K))
    end;
nl(M, T, Dir, K) ->
    apply(M, lookup_fun(Dir), [T, K]).

lookup_fun(first) -> first_lookup;
lookup_fun(last) -> last_lookup;
lookup_fun(next) -> next_lookup;
lookup_fun(prev) -> prev_lookup.

with_objects(_T, '$end_of_table') -> '$end_of_table';
with_objects(T, K) -> {K, ets:lookup(T, K)}.

%% Every {Key, Objects} from one end to the other.
walk(M, T, Start, Step) ->
    walk(M, T, Step, fl(M, T, Start), []).

walk(_M, _T, _Step, '$end_of_table', Acc) ->
    lists:reverse(Acc);
walk(M, T, Step, {K, _} = KO, Acc) ->
    walk(M, T, Step, nl(M, T, Step, K), [KO | Acc]).

%% Which key of a hash table comes first (or after another) is the
%% implementation's: compare only that the answer is the end of the table
%% or one of the table's keys with its objects.
sorted_if_hash(M, T, Answer) ->
    case M:info(T, type) of
        ordered_set -> Answer;
        _ when Answer =:= '$end_of_table' -> {true, true};
        _ -> {K, Objects} = Answer,
             {lists:member(K, [element(1, O) || O <- M:tab2list(T)]),
              Objects =:= M:lookup(T, K)}
    end.

%% update_element/4 as OTP 27's manual defines it, for ets on OTP 25: as
%% update_element/3 when the key is there; otherwise Default, its key
%% replaced by Key, updated and inserted; badarg (and nothing inserted) for
%% a bag, a Default that is not a tuple or lacks the key position, or a
%% spec update_element/3 would refuse.
ue4(ets, T, K, Spec, Def) ->
    Args = [T, K, Spec, Def],
    case erlang:function_exported(ets, update_element, 4) of
        true ->
            apply(ets, update_element, Args);
        false ->
            Keypos = ets:info(T, keypos),
            Hash = lists:member(ets:info(T, type), [bag, duplicate_bag]),
            if
                Hash; not is_tuple(Def) -> raise_badarg(update_element, Args);
                true -> ok
            end,
            case ets:member(T, K) of
                true ->
                    try ets:update_element(T, K, Spec)
                    catch error:badarg -> raise_badarg(update_element, Args)
                    end;
                false when tuple_size(Def) < Keypos ->
                    raise_badarg(update_element, Args);
                false ->
                    Obj = setelement(Keypos, Def, K),
                    case updated(Obj, Keypos, Spec) of
                        bad -> raise_badarg(update_element, Args);
                        New -> ets:insert(T, New)
                    end
            end
    end;
ue4(M, T, K, Spec, Def) ->
    M:update_element(T, K, Spec, Def).

updated(Obj, Keypos, {Pos, V}) when is_integer(Pos), Pos >= 1, Pos =< tuple_size(Obj),
                                    Pos =/= Keypos ->
    setelement(Pos, Obj, V);
updated(Obj, Keypos, [Op | Ops]) ->
    case updated(Obj, Keypos, Op) of
        bad -> bad;
        New -> updated(New, Keypos, Ops)
    end;
updated(Obj, _Keypos, []) ->
    Obj;
updated(_Obj, _Keypos, _Spec) ->
    bad.

raise_badarg(F, Args) ->
    erlang:raise(error, badarg,
                 [{ets, F, Args, [{error_info, #{module => erl_stdlib_errors}}]}]).

%% The objects of slots 0, 1, ... up to '$end_of_table', and what the slot
%% after that raises.
all_slots(M, T) ->
    all_slots(M, T, 0, []).

all_slots(M, T, I, Acc) ->
    case M:slot(T, I) of
        '$end_of_table' ->
            After = try M:slot(T, I + 1) catch error:badarg -> badarg end,
            {xets_twin:total_sort(lists:append(Acc)), After};
        Objects ->
            all_slots(M, T, I + 1, [Objects | Acc])
    end.

%% F run by another process: its result or its exception.
run_elsewhere(F) ->
    Self = self(),
    Pid = spawn(fun() ->
                        Self ! {self(), try {ok, F()}
                                        catch C:R:St -> {raise, C, R, St}
                                        end}
                end),
    receive
        {Pid, {ok, V}} -> V;
        {Pid, {raise, C, R, St}} -> erlang:raise(C, R, St)
    end.
