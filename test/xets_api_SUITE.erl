%% The rest of the ets API, compared with ets in the same VM on all four
%% table types: slot/2, the functions of later OTP releases
%% (first_lookup/1 and friends, update_element/4), match_spec_run_r/3, the
%% internal_* functions, init_table/2, from_dets/2 and to_dets/2, i/0-3,
%% table/1,2 through qlc, fun2ms/1 and its parse transform; and a check that
%% xets exports every function ets does.
%%
%% Functions that OTP 25's ets lacks are compared with a model built from
%% OTP 25 ets calls, following the OTP 26/27 manual (fl/3, nl/4, ue4/5).
%% As in the conformance suite, XETS_TEST_MOD=ets runs ets against ets.
-module(xets_api_SUITE).

-include_lib("common_test/include/ct.hrl").
-include("xets_twin.hrl").
%% xets:fun2ms/1 on literal funs, translated at compile time (and
%% ets:fun2ms/1 too, as stdlib's ms_transform does).
-include_lib("xets/include/xets_ms_transform.hrl").
-include_lib("stdlib/include/qlc.hrl").

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
         internal_request_all_answers_as_ets_all_expects/1,
         init_table_replaces_the_contents_with_what_the_fun_reads/1,
         init_table_failures_close_the_fun_and_exit_as_ets/1,
         to_dets_from_dets_round_trip_through_a_dets_file/1,
         from_dets_to_dets_bad_arguments_raise_as_ets/1,
         i_browses_a_table_as_ets_does/1,
         walks_go_on_past_an_object_whose_key_is_end_of_table/1,
         table_qlc_queries_see_every_object_with_each_traversal/1,
         table_qlc_key_queries_are_lookups/1,
         table_bad_options_raise_badarg/1,
         badarg_explanations_are_ets_s/1,
         i_0_prints_every_table_in_ets_columns/1,
         fun2ms_literal_funs_translate_at_compile_time_as_ets/1,
         fun2ms_at_run_time_translates_shell_funs_and_exits_on_others/1,
         fun2ms_errors_in_literal_funs_fail_the_compilation/1,
         xets_exports_every_function_ets_exports/1]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [{group, T} || T <- ?TYPES] ++
        [i_0_prints_every_table_in_ets_columns,
         fun2ms_literal_funs_translate_at_compile_time_as_ets,
         fun2ms_at_run_time_translates_shell_funs_and_exits_on_others,
         fun2ms_errors_in_literal_funs_fail_the_compilation,
         xets_exports_every_function_ets_exports].

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
             internal_request_all_answers_as_ets_all_expects,
             init_table_replaces_the_contents_with_what_the_fun_reads,
             init_table_failures_close_the_fun_and_exit_as_ets,
             to_dets_from_dets_round_trip_through_a_dets_file,
             from_dets_to_dets_bad_arguments_raise_as_ets,
             i_browses_a_table_as_ets_does,
             walks_go_on_past_an_object_whose_key_is_end_of_table,
             table_qlc_queries_see_every_object_with_each_traversal,
             table_qlc_key_queries_are_lookups,
             table_bad_options_raise_badarg,
             badarg_explanations_are_ets_s],
    %% Hash slots are buckets, numbered as each implementation likes: only
    %% an ordered_set's slots are compared one by one.
    [{T, [], Cases -- [slot_of_an_ordered_set_is_the_ith_object || T =/= ordered_set]}
     || T <- ?TYPES].

init_per_suite(Config) -> [{mod, xets_test_lib:module_under_test()} | Config].
end_per_suite(_Config) -> ok.
init_per_group(Type, Config) -> [{type, Type} | Config].
end_per_group(_Type, _Config) -> ok.
%% The cases outside the type groups use a set (the group's type, when
%% there is one, comes first in Config).
init_per_testcase(_Case, Config) -> xets_twin:reset_differences(), Config ++ [{type, set}].
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
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{I, I * I} || I <- lists:seq(1, 20)])),
    [?EQ(P, ?M:slot(?T, I)) || I <- lists:seq(0, 22)].

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
%% init_table/2
%%====================================================================

init_table_replaces_the_contents_with_what_the_fun_reads(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{old, 1}, {k1, old}])),
    Reads = [[{k1, a}, {k2, b}], [], [{k1, c}, {k3, d}, {k3, d}], [{I, I} || I <- lists:seq(1, 3000)]],
    ?EQ(P, ?M:init_table(?T, feed(Reads, self()))),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, closed(self())),
    ?EQ(P, ?M:init_table(?T, fun(read) -> end_of_input end)),
    ?EQ(P, ?M:info(?T, size)).

init_table_failures_close_the_fun_and_exit_as_ets(Config) ->
    P = pair(Config, [public]),
    Self = self(),
    ?EQ(P, exit_reason(fun() -> ?M:init_table(?T, feed([[{a}, {b}], [{c}, bad, {d}]], Self)) end)),
    ?EQ(P, closed(Self)),
    ?EQU(P, ?M:tab2list(?T)),
    ?EQ(P, exit_reason(fun() -> ?M:init_table(?T, feed([[{a} | {b}]], Self)) end)),
    ?EQ(P, closed(Self)),
    ?EQ(P, exit_reason(fun() -> ?M:init_table(?T, fun(read) -> {not_a_list, x} end) end)),
    ?EQ(P, exit_reason(fun() -> ?M:init_table(?T, fun(read) -> weird end) end)),
    ?EQ(P, exit_reason(fun() -> ?M:init_table(?T, not_a_fun) end)),
    ?EQ(P, ?M:info(?T, size)),
    ?EQ(P, run_elsewhere(fun() -> ?M:init_table(?T, fun(read) -> end_of_input end) end)),
    ?EQ(P, ?M:delete(?T)),
    ?EQ(P, ?M:init_table(?T, fun(read) -> end_of_input end)).

%% An InitFun that hands out the lists of Reads, one per read, and tells
%% Pid when it is closed.
feed(Reads, Pid) ->
    fun(close) -> Pid ! init_fun_closed, ok;
       (read) ->
            case Reads of
                [] -> end_of_input;
                [R | Rest] -> {R, feed(Rest, Pid)}
            end
    end.

closed(_Pid) ->
    receive init_fun_closed -> closed after 0 -> not_closed end.

%% How a call exits, without the stack trace its reason may hold (which
%% names the implementation's own functions).
exit_reason(F) ->
    try F() of
        R -> {returned, R}
    catch
        exit:{Reason, [{_, _, _, _} | _]} -> {exit, Reason};
        exit:Reason -> {exit, Reason};
        error:Reason -> {error, Reason}
    end.

%%====================================================================
%% from_dets/2, to_dets/2
%%====================================================================

to_dets_from_dets_round_trip_through_a_dets_file(Config) ->
    P = pair(Config, [public]),
    DetsType = case ?config(type, Config) of
                   ordered_set -> set;
                   T -> T
               end,
    Objects = [{K, V} || K <- [1, 2.0, a, "s", {t}, <<"b">>], V <- [x, y, x]] ++
                  [{I, I} || I <- lists:seq(100, 400)],
    ?EQ(P, ?M:insert(?T, Objects)),
    Dir = ?config(priv_dir, Config),
    Open = fun(M) ->
                   File = filename:join(Dir, atom_to_list(M) ++ "_" ++ atom_to_list(DetsType) ++ ".dets"),
                   _ = file:delete(File),
                   {ok, D} = dets:open_file(list_to_atom(File), [{file, File}, {type, DetsType}]),
                   ok = dets:insert(D, {stale, object}),
                   D
           end,
    ?EQ(P, begin D = Open(?M), {?M:to_dets(?T, D) =:= D, dets_objects(D)} end),
    ?EQ(P, begin
               D = Open(?M),
               ?M:to_dets(?T, D),
               ?M:delete_all_objects(?T),
               ?M:insert(?T, {kept, 1}),
               R = ?M:from_dets(?T, D),
               ok = dets:close(D),
               R
           end),
    ?EQU(P, ?M:tab2list(?T)).

dets_objects(D) ->
    xets_twin:total_sort(dets:match_object(D, '_')).

from_dets_to_dets_bad_arguments_raise_as_ets(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, {a, 1})),
    File = filename:join(?config(priv_dir, Config), "closed.dets"),
    {ok, D} = dets:open_file(xets_api_closed, [{file, File}]),
    ok = dets:close(D),
    ?EQ(P, ?M:from_dets(?T, no_such_dets)),
    ?EQ(P, ?M:to_dets(?T, no_such_dets)),
    ?EQ(P, ?M:from_dets(?T, D)),
    ?EQ(P, ?M:to_dets(?T, D)),
    ?EQ(P, ?M:from_dets(no_such_table, D)),
    ?EQ(P, ?M:to_dets(no_such_table, D)),
    ?EQ(P, ?M:delete(?T)),
    {ok, D2} = dets:open_file(xets_api_open, [{file, File}]),
    ?EQ(P, ?M:from_dets(?T, D2)),
    ?EQ(P, ?M:to_dets(?T, D2)),
    ok = dets:close(D2).

%%====================================================================
%% i/0, i/1, i/2, i/3
%%====================================================================

i_browses_a_table_as_ets_does(Config) ->
    Type = ?config(type, Config),
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{I, lists:duplicate(I, $x)} || I <- lists:seq(1, 25)])),
    %% Which object comes where in a hash table is the implementation's:
    %% there only the scripts that show every object are run, and their
    %% lines are compared as sorted, without the objects' numbers.
    Ordered = Type =:= ordered_set,
    Whole = [{fun(M, T) -> M:i(T, 10) end, ["\n", "c\n", "\n", "x\n", "q\n"]},
             {fun(M, T) -> M:i(T, 100, 30) end, ["/x{20}\n", "/(\n", "q\n"]},
             {fun(M, T) -> M:i(T, 100) end, ["c\n", "q\n"]},
             {fun(M, T) -> M:i(T, 100) end, []}],
    Part = [{fun(M, T) -> M:i(T) end, ["q\n"]},
            {fun(M, T) -> M:i(T, 5, 30) end, ["c\n", "/x{20}\n", "c\n", "q\n"]},
            {fun(M, T) -> M:i(T, 7, 20) end, ["p3\n", "pz\n", "p99\n", "/x{20}\n", "p2\n", "q\n"]}],
    [?EQ(P, screen(fun() -> F(?M, ?T) end, Script, Ordered))
     || {F, Script} <- Whole ++ [S || Ordered, S <- Part]],
    ?EQ(P, screen(fun() -> ?M:i(?T, 100) end, ["k\n"], Ordered)),
    ?EQ(P, ?M:info(?T, size)),
    ?EQ(P, ?M:i(?T)).

%% ets's foldl/3, foldr/3, table/2 walks and i/1 take an object whose key
%% is '$end_of_table' for the end of the table and stop there; xets's visit
%% every object (README, Differences from ets).
walks_go_on_past_an_object_whose_key_is_end_of_table(Config) ->
    Type = ?config(type, Config),
    Objects = [{'$end_of_table', 1}, {a, 2}, {b, 3}, {zz, 4}],
    Walks = [{foldl, fun(M, T) -> M:foldl(fun(O, A) -> [O | A] end, [], T) end},
             {foldr, fun(M, T) -> M:foldr(fun(O, A) -> [O | A] end, [], T) end},
             {first_next, fun(M, T) -> qlc:e(M:table(T, [{traverse, first_next}])) end},
             {last_prev, fun(M, T) -> qlc:e(M:table(T, [{traverse, last_prev}])) end},
             {i, fun(M, T) ->
                         {ok, Lines} = screen(fun() -> M:i(T) end, ["q\n"], true),
                         [L || L <- Lines, lists:prefix("<", L)]
                 end}],
    Seen = [{Mod, Walk, length(F(Mod, T))}
            || Mod <- [ets, xets],
               T <- [begin T0 = Mod:new(walks, [Type]), Mod:insert(T0, Objects), T0 end],
               {Walk, F} <- Walks],
    [{xets, Walk, 4} = lists:keyfind(Walk, 2, [S || {xets, _, _} = S <- Seen])
     || {Walk, _} <- Walks],
    %% In term order, the key comes first: ets's forward walks see nothing.
    Type =:= ordered_set andalso
        ([{ets, foldl, 0}, {ets, foldr, 3}, {ets, first_next, 0}, {ets, last_prev, 3}, {ets, i, 0}]
             = [S || {ets, _, _} = S <- Seen]),
    ok.

%% What F prints, as lines (sorted unless Ordered), and its result, with
%% Answers typed at its prompts (then end of file).
screen(F, Answers, Ordered) ->
    Old = group_leader(),
    Term = spawn_link(fun() -> terminal(Answers, []) end),
    group_leader(Term, self()),
    Result = try F() after group_leader(Old, self()) end,
    Term ! {done, self()},
    Text = receive {Term, Out} -> Out end,
    Lines = string:split(Text, "\n", all),
    {Result, case Ordered of
                 true -> Lines;
                 false -> lists:sort([re:replace(L, "^<[0-9 ]+> ", "<> ", [{return, list}])
                                      || L <- Lines])
             end}.

%% A group leader: keeps what is written (prompts included) and answers
%% reads from the script.
terminal(Answers, Out) ->
    receive
        {io_request, From, Ref, Req} ->
            {Reply, Text, Rest} = io_request(Req, Answers),
            From ! {io_reply, Ref, Reply},
            terminal(Rest, [Text | Out]);
        {done, Pid} ->
            Pid ! {self(), unicode:characters_to_list(lists:reverse(Out))}
    end.

io_request({put_chars, unicode, Chars}, As) ->
    {ok, Chars, As};
io_request({put_chars, unicode, M, F, Args}, As) ->
    {ok, apply(M, F, Args), As};
io_request({get_line, unicode, Prompt}, []) ->
    {eof, prompt_text(Prompt), []};
io_request({get_line, unicode, Prompt}, [A | As]) ->
    {A, [prompt_text(Prompt), A], As};
io_request(_Other, As) ->
    {{error, enotsup}, "", As}.

prompt_text(Prompt) when is_atom(Prompt) -> atom_to_list(Prompt);
prompt_text(Prompt) -> io_lib:format("~ts", [Prompt]).

i_0_prints_every_table_in_ets_columns(_Config) ->
    Mod = xets_test_lib:module_under_test(),
    Named = Mod:new(xets_api_i0_named, [named_table, ordered_set]),
    Anon = Mod:new(xets_api_i0, [bag]),
    Mod:insert(Anon, [{I} || I <- lists:seq(1, 100)]),
    Ets = ets:new(xets_api_i0, [bag]),
    ets:insert(Ets, [{I} || I <- lists:seq(1, 100)]),
    [EHead, EDash | ELines] = capture(fun ets:i/0),
    [XHead, XDash | XLines] = capture(fun Mod:i/0),
    {EHead, EDash} = {XHead, XDash},
    Line = fun(Lines, Tab) ->
                   [L] = [L || L <- Lines, string:prefix(L, " " ++ xets_twin:printable(Tab)) =/= nomatch],
                   L
           end,
    ELine = Line(ELines, Ets),
    XLine = Line(XLines, Anon),
    %% The same columns after the id (a tid, longer than its column, whose
    %% text differs), but memory: name, type and size, then the owner.
    Cols = fun(L) ->
                   [_, Rest] = string:split(string:trim(L, leading), " "),
                   {string:slice(Rest, 0, 30), string:slice(Rest, 40)}
           end,
    true = Cols(ELine) =:= Cols(XLine),
    true = lists:any(fun(L) -> string:prefix(L, " xets_api_i0_named ") =/= nomatch end, XLines),
    Mod:delete(Named),
    Mod:delete(Anon).

capture(F) ->
    element(2, screen(F, [], true)).

%%====================================================================
%% table/1,2
%%====================================================================

table_qlc_queries_see_every_object_with_each_traversal(Config) ->
    P = pair(Config, [public]),
    ?EQ(P, ?M:insert(?T, [{K, V} || K <- lists:seq(1, 250) ++ [a, 1.0, "s"], V <- [x, y, x]])),
    Options = [[], {traverse, first_next}, [{traverse, last_prev}], [{traverse, select}],
               [{n_objects, 7}, {traverse, select}], [{n_objects, default}],
               [{traverse, {select, [{{'$1', y}, [{is_integer, '$1'}], ['$_']}]}}],
               [{traverse, first_next}, {n_objects, 1}], [{unique_all, true}]],
    [?EQU(P, qlc:e(qlc:q([O || O <- ?M:table(?T, Opts)]))) || Opts <- Options],
    %% A filter qlc can push down as a match specification.
    ?EQU(P, qlc:e(qlc:q([V || {K, V} <- ?M:table(?T), is_atom(K)]))),
    ?EQU(P, qlc:e(qlc:q([O || O <- ?M:table(?T)], {unique, true}))),
    %% last_prev reads an ordered_set backwards.
    ?EQ(P, qlc:e(qlc:q([K || {K, _} <- ?M:table(?T, {traverse, last_prev})]),
                 case ?config(type, Config) of ordered_set -> []; _ -> [{unique_all, true}] end)
           =/= x),
    ?EQ(P, ?M:info(?T, safe_fixed)),
    ?EQ(P, qlc:info(qlc:q([O || O <- ?M:table(?T)]), [{format_fun_in_info, false}]) =/= x).

table_qlc_key_queries_are_lookups(Config) ->
    P = pair(Config, [public, {keypos, 2}]),
    ?EQ(P, ?M:insert(?T, [{o, K, V} || K <- lists:seq(1, 100) ++ [1.0], V <- [a, b]])),
    Q = fun(M, T) -> qlc:q([O || {o, K, _} = O <- M:table(T), K =:= 5 orelse K =:= 7]) end,
    ?EQU(P, qlc:e(Q(?M, ?T))),
    ?EQ(P, is_lookup(qlc:info(Q(?M, ?T)), ?M)),
    Eq = fun(M, T) -> qlc:q([O || {o, K, _} = O <- M:table(T), K == 1]) end,
    ?EQU(P, qlc:e(Eq(?M, ?T))),
    ?EQ(P, is_lookup(qlc:info(Eq(?M, ?T)), ?M)),
    %% A fixed match specification leaves nothing to look up.
    Sel = fun(M, T) -> qlc:q([O || {o, K, _} = O <- M:table(T, {traverse, {select, [{'_', [], ['$_']}]}}),
                                   K =:= 5]) end,
    ?EQU(P, qlc:e(Sel(?M, ?T))),
    ?EQ(P, is_lookup(qlc:info(Sel(?M, ?T)), ?M)),
    ?EQ(P, ?M:delete(?T)),
    ?EQ(P, reason(fun() -> qlc:e(Q(?M, ?T)) end)).

%% Whether qlc:info/1 shows the query answered by the module's lookup/2.
is_lookup(Info, M) ->
    string:find(Info, atom_to_list(M) ++ ":lookup(") =/= nomatch.

table_bad_options_raise_badarg(Config) ->
    P = pair(Config, [public]),
    [?EQ(P, ?M:table(?T, Opts))
     || Opts <- [{traverse, bad}, [{traverse, {select}}], [{n_objects, 0}], [{n_objects, a}],
                 {n_objects, -1}, [{traverse, first_next}, {traverse, bad}]]],
    ?EQ(P, reason(fun() -> qlc:e(qlc:q([O || O <- ?M:table(?T, [not_an_option])])) end)).

%% The exception F raises, without the stack trace (whose frames are the
%% implementation's).
reason(F) ->
    try F() catch C:R -> {C, R} end.

%%====================================================================
%% format_error/2
%%====================================================================

%% What the shell prints under a badarg ("*** argument 2: not a tuple") is
%% the same as for ets, "ETS table" read as "xets table".
badarg_explanations_are_ets_s(Config) ->
    P = pair(Config, [public]),
    Protected = pair(Config, [protected]),
    Private = pair(Config, [private]),
    Deleted = pair(Config, []),
    ?EQ(Deleted, ?M:delete(?T)),
    [?EQ(Tabs, ?M:insert(?T, {k, 1})) || Tabs <- [P, Protected, Private]],
    MS = [{'_', [], [true]}],
    Calls =
        [fun(M, T) -> M:lookup(T, k) end, fun(M, T) -> M:insert(T, a) end,
         fun(M, T) -> M:insert(T, {}) end, fun(M, T) -> M:insert(T, [{a} | b]) end,
         fun(M, T) -> M:insert_new(T, [a]) end, fun(M, T) -> M:delete_object(T, a) end,
         fun(M, T) -> M:delete(T) end, fun(M, T) -> M:delete(T, k) end,
         fun(M, T) -> M:slot(T, -1) end, fun(M, T) -> M:slot(T, a) end,
         fun(M, T) -> M:slot(T, 1 bsl 40) end, fun(M, T) -> M:lookup_element(T, k, 9) end,
         fun(M, T) -> M:lookup_element(T, missing, 2) end, fun(M, T) -> M:lookup_element(T, k, 0) end,
         fun(M, T) -> M:update_counter(T, missing, 1) end, fun(M, T) -> M:update_counter(T, k, {1, 1}) end,
         fun(M, T) -> M:update_counter(T, k, {9, 1}) end, fun(M, T) -> M:update_counter(T, k, a) end,
         fun(M, T) -> M:update_counter(T, k, {2, a}) end,
         fun(M, T) -> M:update_counter(T, missing, {3, 1}, {a, 0}) end,
         fun(M, T) -> M:update_counter(T, missing, {1, 1}, {a, 0}) end,
         fun(M, T) -> M:update_counter(T, missing, 1, not_a_tuple) end,
         fun(M, T) -> M:update_element(T, k, {1, x}) end, fun(M, T) -> M:update_element(T, k, {9, x}) end,
         fun(M, T) -> M:update_element(T, k, bad) end, fun(M, T) -> M:next(T, missing) end,
         fun(M, T) -> M:prev(T, missing) end, fun(M, T) -> fl(M, T, first) end,
         fun(M, T) -> nl(M, T, next, missing) end, fun(M, T) -> M:select(T, bad) end,
         fun(M, T) -> M:select(T, MS, 0) end, fun(M, _T) -> M:select(bad_continuation) end,
         fun(M, T) -> M:match(T, '_', a) end, fun(M, T) -> M:select_count(T, bad) end,
         fun(M, T) -> M:select_delete(T, bad) end, fun(M, T) -> M:select_replace(T, bad) end,
         fun(M, T) -> M:select_replace(T, [{'$1', [], ['$1']}]) end,
         fun(M, T) -> M:select_reverse(T, bad) end, fun(M, T) -> M:internal_select_delete(T, bad) end,
         fun(M, T) -> M:give_away(T, self(), x) end, fun(M, T) -> M:give_away(T, not_a_pid, x) end,
         fun(M, T) -> M:safe_fixtable(T, maybe) end, fun(M, T) -> M:setopts(T, bad) end,
         fun(M, T) -> M:setopts(T, {heir, none}) end, fun(M, T) -> M:rename(T, 1) end,
         fun(M, T) -> M:info(T, bad_item) end, fun(M, T) -> M:tab2list(T) end,
         fun(M, T) -> M:take(T, k) end, fun(M, T) -> M:first(T) end,
         fun(M, T) -> M:match_object(T, '_', 0) end],
    Misc = [fun(M, _T) -> M:whereis(1) end, fun(M, _T) -> M:new(1, []) end,
            fun(M, _T) -> M:new(a, [bad]) end, fun(M, _T) -> M:lookup(1, a) end,
            fun(M, _T) -> M:lookup(make_ref(), a) end,
            fun(M, _T) -> M:match_spec_compile(bad) end,
            fun(M, _T) -> M:match_spec_run([a], bad) end],
    [?EQ(Tabs, explained(fun() -> F(?M, ?T) end)) || Tabs <- [P, Protected, Private, Deleted], F <- Calls],
    [?EQ(Tabs, run_elsewhere(fun() -> explained(fun() -> F(?M, ?T) end) end))
     || Tabs <- [P, Protected, Private], F <- Calls],
    [?EQ(P, explained(fun() -> F(?M, ?T) end)) || F <- Misc].

%% The explanations erl_error prints for F's badarg, in the process that
%% raised it, in ets's words; or F's result.
explained(F) ->
    try F() of
        R -> {returned, R}
    catch
        error:badarg:St ->
            Text = unicode:characters_to_list(erl_error:format_exception(error, badarg, St)),
            [unicode:characters_to_list(string:replace(L, "xets table", "ETS table", all))
             || L <- string:split(Text, "\n", all), string:find(L, "***") =/= nomatch]
    end.

%%====================================================================
%% fun2ms/1
%%====================================================================

fun2ms_literal_funs_translate_at_compile_time_as_ets(_Config) ->
    Mod = xets_test_lib:module_under_test(),
    Same = fun(X, E) -> X = E end,
    Same(xets:fun2ms(fun({K, V}) when K > 1, is_atom(V) -> {V, K} end),
         ets:fun2ms(fun({K, V}) when K > 1, is_atom(V) -> {V, K} end)),
    Same(xets:fun2ms(fun({A, _}) -> A; ({_, _, _}) -> object() end),
         ets:fun2ms(fun({A, _}) -> A; ({_, _, _}) -> object() end)),
    Same(xets:fun2ms(fun(X) -> X end), ets:fun2ms(fun(X) -> X end)),
    %% A match specification that select/2 runs as ets's.
    T = Mod:new(t, []),
    Mod:insert(T, [{1, a}, {2, b}, {3, 3}]),
    [{b, 2}] = Mod:select(T, xets:fun2ms(fun({K, V}) when K > 1, is_atom(V) -> {V, K} end)),
    Mod:delete(T).

fun2ms_at_run_time_translates_shell_funs_and_exits_on_others(_Config) ->
    Mod = xets_test_lib:module_under_test(),
    {ok, Tokens, _} = erl_scan:string("fun({K, V}) when K > 1 -> V end."),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    {value, ShellFun, _} = erl_eval:exprs(Exprs, []),
    %% Called through apply/3: ms_transform refuses ets:fun2ms/1 on
    %% anything but a literal fun at compile time.
    Expected = apply(ets, fun2ms, [ShellFun]),
    Expected = Mod:fun2ms(ShellFun),
    Compiled = fun(X) -> X end,
    %% The reason names the module called, as ets's names ets.
    Named = fun(E) -> setelement(1, E, Mod) end,
    {badarg, Reason} = try apply(ets, fun2ms, [Compiled]) catch exit:{badarg, R} -> {badarg, R} end,
    {badarg, Same} = try Mod:fun2ms(Compiled) catch exit:{badarg, R2} -> {badarg, R2} end,
    Same = Named(Reason),
    {'EXIT', {function_clause, [{Mod, fun2ms, [not_a_fun], _} | _]}} = catch Mod:fun2ms(not_a_fun),
    ok.

fun2ms_errors_in_literal_funs_fail_the_compilation(Config) ->
    File = filename:join(?config(priv_dir, Config), "xets_fun2ms_m.erl"),
    Compile = fun(Call) ->
                      ok = file:write_file(File, ["-module(xets_fun2ms_m).\n-export([f/0]).\n"
                                                  "-include_lib(\"xets/include/xets_ms_transform.hrl\").\n"
                                                  "f() -> ", Call, ".\n"]),
                      compile:file(File, [binary, return_errors])
              end,
    {ok, xets_fun2ms_m, _} = Compile("xets:fun2ms(fun({A, B}) when A > B -> A end)"),
    {error, [{_, [{_, ms_transform, _} | _]}], _} = Compile("xets:fun2ms(fun(A, B) -> A end)"),
    {error, [{_, [{_, ms_transform, _} | _]}], _} = Compile("xets:fun2ms(fun({A}) -> self(A) end)"),
    ok.

%%====================================================================
%% Exports
%%====================================================================

xets_exports_every_function_ets_exports(_Config) ->
    Mod = xets_test_lib:module_under_test(),
    [] = ets:module_info(exports) -- Mod:module_info(exports).

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
