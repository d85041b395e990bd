%% Stateful property test (PropEr, proper_statem) whose model is ets itself:
%% every command runs the same operation on an ets table and on a table of
%% the module under test (both created with the same options, kept in the
%% process dictionary), and the postcondition demands the same result or
%% the same exception. At the end of each sequence the whole contents are
%% compared too. The "model state" is only the table type: next_state/3 is
%% pure and trivial, ets holds the real state.
%%
%% The module under test is `xets', or XETS_TEST_MOD (XETS_TEST_MOD=ets
%% runs ets against itself to validate the suite; its hash tables are then
%% grown and emptied first, so that they iterate in another order).
%%
%% PropEr's header is in erlang-proper-dev, which the project does not
%% install: the few macros used here are defined below, as proper.hrl
%% defines them.
-module(xets_prop_SUITE).

-behaviour(proper_statem).

-include_lib("common_test/include/ct.hrl").

-export([suite/0, all/0, groups/0, init_per_suite/1, end_per_suite/1]).
-export([ets_is_the_model_for_set/1,
         ets_is_the_model_for_ordered_set/1,
         ets_is_the_model_for_bag/1,
         ets_is_the_model_for_duplicate_bag/1]).
-export([initial_state/0, command/1, precondition/2, postcondition/3, next_state/3]).
-export([op/1]).

-define(FORALL(X, RawType, Prop), proper:forall(RawType, fun(X) -> Prop end)).
-define(WHENFAIL(Action, Prop), proper:whenfail(fun() -> Action end, fun() -> Prop end)).
-define(LET(X, RawType, Gen), proper_types:bind(RawType, fun(X) -> Gen end, false)).

-define(NUMTESTS, 300).
-define(MAX_SIZE, 50).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [ets_is_the_model_for_set, ets_is_the_model_for_ordered_set,
     ets_is_the_model_for_bag, ets_is_the_model_for_duplicate_bag].

groups() ->
    [].

init_per_suite(Config) ->
    Mod = xets_test_lib:module_under_test(),
    ct:pal("module under test: ~p", [Mod]),
    [{mod, Mod} | Config].

end_per_suite(_Config) ->
    ok.

ets_is_the_model_for_set(Config) -> check(set, Config).
ets_is_the_model_for_ordered_set(Config) -> check(ordered_set, Config).
ets_is_the_model_for_bag(Config) -> check(bag, Config).
ets_is_the_model_for_duplicate_bag(Config) -> check(duplicate_bag, Config).

check(Type, Config) ->
    Mod = ?config(mod, Config),
    put(xets_prop_mod, Mod),
    Out = fun(F, A) -> ct:log(F, A) end,
    case proper:quickcheck(prop_same_as_ets(Type, Mod),
                           [{numtests, ?NUMTESTS}, {max_size, ?MAX_SIZE}, {max_shrinks, 300},
                            {on_output, Out}, long_result]) of
        true ->
            ok;
        CounterExample ->
            ct:pal("counterexample (~p, ~p):~n~p", [Type, Mod, CounterExample]),
            ct:fail({counterexample, Type, CounterExample})
    end.

prop_same_as_ets(Type, Mod) ->
    ?FORALL(Cmds, proper_statem:commands(?MODULE, #{type => Type}),
            begin
                setup(Type, Mod),
                {History, _State, Result} = proper_statem:run_commands(?MODULE, Cmds),
                Final = final_contents(),
                cleanup(),
                ?WHENFAIL(ct:pal("~p: commands~n~p~nresult ~p~nfinal contents ~p~nlast results~n~p",
                                 [Type, Cmds, Result, Final,
                                  lists:sublist(lists:reverse([R || {_, R} <- History]), 5)]),
                          Result =:= ok andalso Final =:= same)
            end).

%%====================================================================
%% proper_statem callbacks
%%====================================================================

initial_state() ->
    #{type => set}.

command(#{type := Type}) ->
    Counters = case Type of
                   _ when Type =:= set; Type =:= ordered_set ->
                       [{4, {call, ?MODULE, op, [{update_counter, key(), counter_op()}]}},
                        {3, {call, ?MODULE, op, [{update_counter, key(), counter_op(), object()}]}}];
                   _ ->
                       [{1, {call, ?MODULE, op, [{update_counter, key(), counter_op()}]}}]
               end,
    proper_types:frequency(
      [{6, {call, ?MODULE, op, [{insert, object()}]}},
       {3, {call, ?MODULE, op, [{insert, object_list(Type)}]}},
       {3, {call, ?MODULE, op, [{insert_new, object()}]}},
       {2, {call, ?MODULE, op, [{insert_new, object_list(Type)}]}},
       {3, {call, ?MODULE, op, [{delete, key()}]}},
       {3, {call, ?MODULE, op, [{delete_object, object()}]}},
       {2, {call, ?MODULE, op, [{take, key()}]}},
       {5, {call, ?MODULE, op, [{lookup, key()}]}},
       {2, {call, ?MODULE, op, [{member, key()}]}},
       {2, {call, ?MODULE, op, [{lookup_element, key(), proper_types:range(0, 4)}]}},
       {3, {call, ?MODULE, op, [{update_element, key(), element_spec()}]}},
       {1, {call, ?MODULE, op, [{first}]}},
       {1, {call, ?MODULE, op, [{last}]}},
       {2, {call, ?MODULE, op, [{next, key()}]}},
       {2, {call, ?MODULE, op, [{prev, key()}]}},
       {1, {call, ?MODULE, op, [{delete_all_objects}]}},
       {2, {call, ?MODULE, op, [{tab2list}]}},
       {1, {call, ?MODULE, op, [{info_size}]}}
       | Counters]).

precondition(_State, _Call) ->
    true.

next_state(State, _Result, _Call) ->
    State.

postcondition(_State, {call, ?MODULE, op, [Op]}, {ets, E, Mod, X}) ->
    case ident(E, X) of
        true ->
            true;
        false ->
            ct:log("~p: ets ~p, ~p ~p", [Op, E, Mod, X]),
            false
    end.

%%====================================================================
%% Generators: a small pool of keys, so that operations collide, with
%% keys that are == but not =:= (1, 1.0; {1}, {1.0}) and =:= but not
%% identical (0.0, -0.0 on OTP 25).
%%====================================================================

key() ->
    proper_types:elements([1, 1.0, 2, 2.0, 0, 0.0, neg_zero(), {1}, {1.0}, {neg_zero()},
                           a, b, "a", <<"a">>, sub_binary(<<"a">>), <<1:1>>, [], {},
                           1 bsl 64, float(1 bsl 64)]).

value() ->
    proper_types:elements([x, y, 0, 1, 1.0, neg_zero(), 0.0, <<"v">>, sub_binary(<<"v">>),
                           [1 | 2], #{a => 1}, 1 bsl 70]).

object() ->
    proper_types:frequency(
      [{1, {key()}},
       {2, {key(), proper_types:range(-2, 3)}},
       {6, {key(), proper_types:range(-2, 3), value()}}]).

%% A list whose outcome ets defines: no two keys that match (ets keeps
%% one of them in a set or an ordered_set, "which one is not defined", and
%% orders them as it likes in a bag).
object_list(Type) ->
    ?LET(L, proper_types:list(object()), xets_test_lib:distinct_keys(Type, L)).

counter_op() ->
    proper_types:oneof(
      [proper_types:range(-3, 3),
       {proper_types:range(1, 4), proper_types:range(-3, 3)},
       {2, proper_types:range(-3, 3), proper_types:range(-2, 2), proper_types:range(-5, 5)},
       proper_types:list({proper_types:range(2, 3), proper_types:range(-2, 2)}),
       proper_types:elements([1 bsl 64, -(1 bsl 63), 1.0, {2, a}])]).

element_spec() ->
    proper_types:oneof(
      [{proper_types:range(1, 4), value()},
       proper_types:list({proper_types:range(2, 3), value()})]).

%%====================================================================
%% The operation, on both tables
%%====================================================================

setup(Type, Mod) ->
    E = ets:new(xets_prop, [Type, public]),
    X = Mod:new(xets_prop, [Type, public]),
    Mod =:= ets andalso Type =/= ordered_set andalso scramble(X),
    put(xets_prop_tabs, {Type, Mod, E, X}).

cleanup() ->
    {_, Mod, E, X} = get(xets_prop_tabs),
    ets:delete(E),
    Mod:delete(X),
    erase(xets_prop_tabs).

%% The symbolic call of every command: runs Op on ets and on the module
%% under test.
op(Op) ->
    {Type, Mod, E, X} = get(xets_prop_tabs),
    {ets, norm(E, run(ets, E, Type, Op)), Mod, norm(X, run(Mod, X, Type, Op))}.

final_contents() ->
    {Type, Mod, E, X} = get(xets_prop_tabs),
    case {run(ets, E, Type, {tab2list}), run(Mod, X, Type, {tab2list})} of
        {A, B} -> case ident(A, B) of
                      true -> same;
                      false -> {differ, A, B}
                  end
    end.

run(M, T, Type, Op) ->
    try
        {ok, do(M, T, Type, Op)}
    catch
        error:Reason:St -> {raise, error, Reason, frame(M, St)};
        C:R -> {raise, C, R}
    end.

%% ets's errors carry error_info in a frame of module ets: so must those
%% of the module under test.
frame(M, [{M, _, _, Info} | _]) ->
    case proplists:get_value(error_info, Info) of
        #{} -> error_info;
        _ -> no_error_info
    end;
frame(_, [{M, F, A, _} | _]) ->
    {top_frame, M, F, if is_list(A) -> length(A); true -> A end}.

do(M, T, Type, {first}) -> valid_first(M, T, Type, first);
do(M, T, Type, {last}) -> valid_first(M, T, Type, last);
do(M, T, Type, {next, K}) -> valid_next(M, T, Type, next, K);
do(M, T, Type, {prev, K}) -> valid_next(M, T, Type, prev, K);
do(M, T, Type, {tab2list}) -> sort_if_unordered(Type, M:tab2list(T));
do(M, T, _, {info_size}) -> M:info(T, size);
do(M, T, _, {update_counter, K, Op, Def}) -> uc4(M, T, K, Op, Def);
do(M, T, _, {F}) -> M:F(T);
do(M, T, _, {F, A}) -> M:F(T, A);
do(M, T, _, {F, A, B}) -> M:F(T, A, B).

%% On set, bag and duplicate_bag, first/next follow the hash order, which
%% is the implementation's own: each side must only be valid by itself.
valid_first(M, T, ordered_set, F) ->
    M:F(T);
valid_first(M, T, _, F) ->
    case M:F(T) of
        '$end_of_table' -> {empty, M:info(T, size) =:= 0};
        K -> {key_of_the_table, M:member(T, K)}
    end.

valid_next(M, T, ordered_set, F, K) ->
    M:F(T, K);
valid_next(M, T, _, F, K) ->
    case M:F(T, K) of
        '$end_of_table' -> end_or_another_key;
        K2 -> case M:member(T, K2) andalso K2 =/= K of
                  true -> end_or_another_key;
                  false -> {not_another_key, K2}
              end
    end.

sort_if_unordered(ordered_set, L) ->
    L;
sort_if_unordered(_, L) ->
    [O || {_, _, O} <- lists:sort([{O, term_to_binary(O), O} || O <- L])].

uc4(ets, T, K, Op, Def) ->
    xets_test_lib:ets_update_counter(T, K, Op, Def);
uc4(M, T, K, Op, Def) ->
    M:update_counter(T, K, Op, Def).

norm(T, R) when R =:= T -> '$tab';
norm(T, [H | Tl]) -> [norm(T, H) | norm(T, Tl)];
norm(T, R) when is_tuple(R) -> list_to_tuple(norm(T, tuple_to_list(R)));
norm(_, R) -> R.

%% =:=, and 0.0 and -0.0 told apart.
ident(A, B) when is_float(A), is_float(B) -> <<A/float>> =:= <<B/float>>;
ident([HA | TA], [HB | TB]) -> ident(HA, HB) andalso ident(TA, TB);
ident(A, B) when is_tuple(A), is_tuple(B), tuple_size(A) =:= tuple_size(B) ->
    ident(tuple_to_list(A), tuple_to_list(B));
ident(A, B) when is_map(A), is_map(B), map_size(A) =:= map_size(B) ->
    ident(lists:sort(maps:to_list(A)), lists:sort(maps:to_list(B)));
ident(A, B) -> A =:= B.

scramble(X) ->
    ets:insert(X, [{{filler, I}} || I <- lists:seq(1, 3000)]),
    [ets:delete(X, {filler, I}) || I <- lists:seq(1, 3000)],
    ok.

neg_zero() ->
    <<F/float>> = <<1:1, 0:63>>,
    F.

sub_binary(B) ->
    Big = <<0:64, B/binary, 0:64, (binary:copy(<<"x">>, 100))/binary>>,
    binary:part(Big, 8, byte_size(B)).
