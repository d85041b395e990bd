%% Random match specifications over random objects, for the select suite.
%%
%% Heads are mostly made from objects of the table, with parts replaced by
%% '_' or by variables ('$N', repeated where two parts hold the same
%% value), the rest kept bound; the key fully bound, partly bound (the
%% leading part of a tuple or list key, which lets an ordered_set narrow
%% its range) or free. Some heads match nothing (a changed constant, the
%% wrong arity, another term), some are just '_' or '$1'. Guards and
%% bodies use the head's variables, '$_' and '$$', and most of what match
%% specifications allow, including expressions that raise. A few specs are
%% invalid on purpose (an unbound variable): ets rejects them with badarg.
%%
%% Terms come from xets_terms: numbers of mixed type (1 and 1.0, 0.0 and
%% -0.0, bignums around 2^64), Unicode atoms, binaries, sub-binaries,
%% bitstrings, improper lists, small and large maps, pids, refs, funs.
%% Everything depends on the rand state only: seed it to reproduce.
-module(xets_ms_gen).

-export([objects/3, spec/2, pattern/2, delete_spec/2, replace_spec/2, run_terms/1]).

%% Variables bound by a head: name => the value it had in the object the
%% head was made from (or unknown).
-type vars() :: #{atom() => {value, term()} | unknown}.

%% N random objects for a table of Type with the key at KeyPos: at most one
%% object per key (in Type's sense) for set and ordered_set; for bag and
%% duplicate_bag some keys have several objects, and duplicate_bag some
%% identical ones.
-spec objects(atom(), pos_integer(), non_neg_integer()) -> [tuple()].
objects(Type, KeyPos, N) ->
    Objs = [object(KeyPos) || _ <- lists:seq(1, N)],
    case Type of
        bag ->
            Objs ++ [other_value(O, KeyPos) || O <- some(Objs, 4)];
        duplicate_bag ->
            Objs ++ some(Objs, 5) ++ [other_value(O, KeyPos) || O <- some(Objs, 5)];
        _ ->
            xets_test_lib:distinct_keys(Type, KeyPos, Objs)
    end.

%% A match specification of one to four clauses, over objects like Objs.
-spec spec([tuple()], pos_integer()) -> list().
spec(Objs, KeyPos) ->
    [clause(Objs, KeyPos) || _ <- lists:seq(1, weighted([{6, 1}, {3, 2}, {2, 3}, {1, 4}]))].

%% A pattern for match/2, match_object/2 and match_delete/2.
-spec pattern([tuple()], pos_integer()) -> term().
pattern(Objs, KeyPos) ->
    {Head, _} = head(Objs, KeyPos),
    Head.

%% A spec for select_delete/2: mostly bodies that return true.
-spec delete_spec([tuple()], pos_integer()) -> list().
delete_spec(Objs, KeyPos) ->
    [begin
         {Head, Vars} = head(Objs, KeyPos),
         Body = case rand:uniform(10) of
                    1 -> ['$_'];
                    2 -> [false];
                    3 -> [{const, true}];
                    4 -> [{'=:=', pick_var(Vars), pick_var(Vars)}];
                    5 -> [{'orelse', guard(Vars, 1), true}];
                    _ -> [true]
                end,
         {Head, guards(Vars), Body}
     end || _ <- lists:seq(1, weighted([{4, 1}, {2, 2}, {1, 3}]))].

%% A spec for select_replace/2: mostly replacements that keep the key as
%% ets requires (the head's key term rebuilt in the body), sometimes one
%% that may change it (ets then raises badarg and changes nothing).
-spec replace_spec([tuple()], pos_integer()) -> list().
replace_spec(Objs, KeyPos) ->
    [replace_clause(Objs, KeyPos) || _ <- lists:seq(1, weighted([{4, 1}, {2, 2}, {1, 3}]))].

%% Terms for match_spec_run/2: the objects and some other terms.
-spec run_terms([tuple()]) -> [term()].
run_terms(Objs) ->
    Objs ++ [xets_terms:random_term(4) || _ <- lists:seq(1, 5)] ++ [{}, [], a, {a, b, c}].

%%--------------------------------------------------------------------
%% Objects

object(KeyPos) ->
    Arity = KeyPos + rand:uniform(4) - 1,
    list_to_tuple([if I =:= KeyPos -> key(); true -> value() end || I <- lists:seq(1, Arity)]).

key() ->
    case rand:uniform(10) of
        1 -> xets_terms:random_key();
        2 -> xets_terms:random_key();
        3 -> {prefix(), small()};
        4 -> {prefix(), {prefix(), small()}, small()};
        5 -> pick([[prefix(), small()], [prefix() | small()], [prefix(), prefix(), small()]]);
        6 -> rand:uniform(60);
        7 -> number();
        8 -> xets_terms:random_term(3);
        9 -> pick([a, b, c, 'ö', '日本', <<"k">>, sub_binary(<<"k">>), <<1:1>>, [], {}]);
        10 -> {prefix()}
    end.

prefix() ->
    pick([a, b, 1, 1.0, 2, <<"p">>, {x}, "s", 0.0, neg_zero()]).

small() ->
    case rand:uniform(4) of
        1 -> rand:uniform(5);
        2 -> float(rand:uniform(5));
        3 -> pick([x, y, z]);
        4 -> number()
    end.

value() ->
    case rand:uniform(12) of
        N when N =< 3 -> small();
        4 -> number();
        5 -> pick([true, false, undefined, x, 'Ä', '日本', '$1', '_', '$$']);
        6 -> pick([<<>>, <<"bin">>, sub_binary(<<"sub">>), <<5:3>>, <<1, 2, 3:4>>]);
        7 -> pick([[], [1, 2, 3], [a | b], [1.0, 2 | 3], "text", [{x, 1}]]);
        8 -> pick([#{}, #{a => 1}, #{a => 1.0, b => [x]}, #{1 => a, 1.0 => b},
                   maps:from_list([{I, I * 2} || I <- lists:seq(1, 40)]),
                   maps:from_list([{a, 1} | [{{k, I}, I} || I <- lists:seq(1, 33)]])]);
        9 -> pick([self(), make_ref(), fun() -> ok end, fun lists:sort/1, hd(erlang:ports())]);
        10 -> {small(), small()};
        _ -> xets_terms:random_term(5)
    end.

number() ->
    pick([0, 1, -1, 1.0, -1.0, 0.0, neg_zero(), 2, 2.0, 2.5, 7, 100, 1 bsl 27, 1 bsl 59,
          (1 bsl 63) - 1, 1 bsl 63, (1 bsl 64) - 1, 1 bsl 64, (1 bsl 64) + 1, -(1 bsl 64),
          float(1 bsl 64), -float(1 bsl 64), 1 bsl 100, 1.0e300, -1.0e-300]).

%% Another object of the same key.
other_value(O, KeyPos) when tuple_size(O) =:= KeyPos ->
    erlang:append_element(O, value());
other_value(O, KeyPos) ->
    setelement(pick(lists:seq(1, tuple_size(O)) -- [KeyPos]), O, value()).

some(L, Max) ->
    [pick(L) || L =/= [], _ <- lists:seq(1, rand:uniform(Max + 1) - 1)].

%%--------------------------------------------------------------------
%% Heads

clause(Objs, KeyPos) ->
    {Head, Vars} = head(Objs, KeyPos),
    {Head, guards(Vars), body(Vars)}.

%% {Head, Vars}.
-spec head([tuple()], pos_integer()) -> {term(), vars()}.
head(Objs, KeyPos) ->
    put(xets_ms_gen_next_var, rand:uniform(3) - 1),
    case rand:uniform(24) of
        1 -> {'_', #{}};
        2 -> {'$1', #{'$1' => unknown}};
        3 -> from_object(wrong_arity(pick_object(Objs)), KeyPos);
        4 -> abstract(xets_terms:random_term(4), #{});
        5 -> from_object(with_nomatch(pick_object(Objs), KeyPos), KeyPos);
        _ -> from_object(pick_object(Objs), KeyPos)
    end.

pick_object([]) -> {xets_ms_gen_empty, 1};
pick_object(Objs) -> pick(Objs).

wrong_arity(O) when tuple_size(O) > 1 ->
    case rand:uniform(2) of
        1 -> erlang:delete_element(tuple_size(O), O);
        2 -> erlang:append_element(O, small())
    end;
wrong_arity(O) ->
    erlang:append_element(O, small()).

%% The object with one of its elements changed into a constant that
%% matches no object (most likely).
with_nomatch(O, KeyPos) ->
    I = rand:uniform(tuple_size(O)),
    I2 = if I =:= KeyPos, tuple_size(O) > 1 -> rand:uniform(tuple_size(O)); true -> I end,
    setelement(I2, O, nomatch(element(I2, O))).

nomatch(I) when is_integer(I) -> I + 1000003;
nomatch(F) when is_float(F) -> F / 3 + 0.123456789;
nomatch(A) when is_atom(A) -> xets_ms_gen_nomatch;
nomatch(_) -> {xets_ms_gen_nomatch}.

from_object(O, KeyPos) ->
    {Elements, Vars} =
        lists:mapfoldl(fun({I, E}, V) when I =:= KeyPos -> key_part(E, V);
                          ({_, E}, V) -> abstract(E, V)
                       end, #{}, lists:zip(lists:seq(1, tuple_size(O)), tuple_to_list(O))),
    {list_to_tuple(Elements), Vars}.

%% The key: bound, its leading part bound, or free.
key_part(K, Vars) ->
    case rand:uniform(10) of
        N when N =< 4 -> {K, Vars};
        N when N =< 7 -> leading_part(K, Vars);
        8 -> {'_', Vars};
        9 -> new_var(K, Vars);
        10 -> abstract(K, Vars)
    end.

leading_part(K, Vars) when is_tuple(K), tuple_size(K) >= 2 ->
    {Rest, Vars1} = lists:mapfoldl(fun(E, V) -> free(E, V) end, Vars, tl(tuple_to_list(K))),
    {list_to_tuple([element(1, K) | Rest]), Vars1};
leading_part([H | T], Vars) when T =/= [] ->
    {T1, Vars1} = free(T, Vars),
    {[H | T1], Vars1};
leading_part(K, Vars) ->
    {K, Vars}.

free(E, Vars) ->
    case rand:uniform(2) of
        1 -> {'_', Vars};
        2 -> new_var(E, Vars)
    end.

%% The term with parts replaced by '_' or variables.
abstract(T, Vars) ->
    case rand:uniform(12) of
        1 -> {'_', Vars};
        2 -> new_var(T, Vars);
        3 -> same_var(T, Vars);
        4 when is_tuple(T); is_list(T); is_map(T) -> new_var(T, Vars);
        _ -> inside(T, Vars)
    end.

inside(T, Vars) when is_tuple(T) ->
    {L, Vars1} = lists:mapfoldl(fun abstract/2, Vars, tuple_to_list(T)),
    {list_to_tuple(L), Vars1};
inside([H | T], Vars) ->
    {H1, Vars1} = abstract(H, Vars),
    {T1, Vars2} = case T of
                      [_ | _] -> inside(T, Vars1);
                      _ -> abstract(T, Vars1)
                  end,
    {[H1 | T1], Vars2};
inside(M, Vars) when is_map(M), map_size(M) =< 40 ->
    %% map patterns: keys are literal, values patterns
    lists:foldl(fun({K, V}, {Acc, Vs}) ->
                        case rand:uniform(3) of
                            1 -> {maps:remove(K, Acc), Vs};
                            _ -> {V1, Vs1} = abstract(V, Vs), {Acc#{K => V1}, Vs1}
                        end
                end, {M, Vars}, maps:to_list(M));
inside(T, Vars) ->
    {T, Vars}.

new_var(T, Vars) ->
    N = get(xets_ms_gen_next_var),
    put(xets_ms_gen_next_var, N + weighted([{5, 1}, {1, 2}, {1, 5}])),
    V = var(N),
    {V, Vars#{V => {value, T}}}.

%% A variable already bound to the same value if there is one (the head
%% then still matches), else a new one.
same_var(T, Vars) ->
    case [V || {V, {value, T2}} <- maps:to_list(Vars), xets_twin:ident(T, T2)] of
        [] when map_size(Vars) > 0 ->
            case rand:uniform(4) of
                1 -> {pick(maps:keys(Vars)), Vars};
                _ -> new_var(T, Vars)
            end;
        [] -> new_var(T, Vars);
        Same -> {pick(Same), Vars}
    end.

var(N) ->
    list_to_atom([$$ | integer_to_list(N)]).

%%--------------------------------------------------------------------
%% Guards

guards(Vars) ->
    [guard(Vars, 2) || _ <- lists:seq(1, weighted([{3, 0}, {4, 1}, {2, 2}, {1, 3}]))].

guard(Vars, Depth) ->
    case rand:uniform(if Depth > 0 -> 16; true -> 10 end) of
        1 -> {pick(type_tests()), operand(Vars)};
        2 -> {pick(type_tests()), operand(Vars)};
        3 -> {pick(comparisons()), expr(Vars, 1), expr(Vars, 1)};
        4 -> {pick(comparisons()), operand(Vars), value_of(Vars)};
        5 -> {pick(comparisons()), operand(Vars), value_of(Vars)};
        6 -> {is_map_key, literal(pick([a, 1, 1.0, {k, 1}])), operand(Vars)};
        7 -> {'=:=', {map_get, literal(pick([a, 1, b])), operand(Vars)}, expr(Vars, 0)};
        8 -> pick([true, false, {const, true}, {const, false}, {'not', false}]);
        9 -> pick([{'==', {element, 9, operand(Vars)}, 1}, {element, 9, '$_'},
                   {'>', {'+', operand(Vars), 1}, 0}, {'==', {hd, operand(Vars)}, a},
                   {'=:=', {self}, operand(Vars)}, {'==', {node}, nonode@nohost},
                   {'=:=', {node, operand(Vars)}, {node}}, {is_function, operand(Vars)},
                   {is_record, operand(Vars), pick([a, x, person]), rand:uniform(4)}]);
        10 -> {'<', {size, operand(Vars)}, rand:uniform(4)};
        11 -> {pick(['andalso', 'orelse', 'and', 'or', 'xor']),
               guard(Vars, Depth - 1), guard(Vars, Depth - 1)};
        12 -> {'not', guard(Vars, Depth - 1)};
        13 -> {'andalso', guard(Vars, Depth - 1), guard(Vars, Depth - 1), guard(Vars, Depth - 1)};
        14 -> {'==', {length, operand(Vars)}, rand:uniform(3)};
        15 -> {'>=', {abs, operand(Vars)}, value_of(Vars)};
        16 -> unbound_sometimes(Vars)
    end.

type_tests() ->
    [is_atom, is_float, is_integer, is_list, is_number, is_pid, is_port, is_reference,
     is_tuple, is_map, is_binary, is_function].

comparisons() ->
    ['=:=', '==', '=/=', '/=', '<', '=<', '>', '>='].

%% Rarely, a variable that the head does not bind: ets rejects the spec.
unbound_sometimes(Vars) ->
    case rand:uniform(8) of
        1 -> {is_atom, var(900 + rand:uniform(9))};
        _ -> {is_integer, operand(Vars)}
    end.

%% A bound variable, or the whole object.
operand(Vars) ->
    case maps:keys(Vars) of
        [] -> '$_';
        Vs -> case rand:uniform(5) of
                  1 -> '$_';
                  _ -> pick(Vs)
              end
    end.

pick_var(Vars) ->
    operand(Vars).

%% The value of a variable (so that comparisons may hold) or a number.
value_of(Vars) ->
    Known = [T || {value, T} <- maps:values(Vars)],
    case rand:uniform(3) of
        1 when Known =/= [] -> literal(xets_terms:float_twin(pick(Known)));
        2 when Known =/= [] -> literal(pick(Known));
        _ -> literal(number())
    end.

%% An expression that evaluates to T: T itself when it means itself in a
%% match specification, else {const, T}.
literal(T) when is_number(T); is_binary(T); is_bitstring(T); is_pid(T); is_reference(T);
                is_port(T); is_function(T); T =:= [] ->
    case rand:uniform(4) of
        1 -> {const, T};
        _ -> T
    end;
literal(T) when is_atom(T) ->
    case atom_to_list(T) of
        "$" ++ _ -> {const, T};
        "_" -> {const, T};
        _ -> T
    end;
literal(T) ->
    {const, T}.

%% Expressions for guards and bodies; Depth bounds their nesting.
expr(Vars, Depth) when Depth =< 0 ->
    case rand:uniform(3) of
        1 -> value_of(Vars);
        _ -> operand(Vars)
    end;
expr(Vars, Depth) ->
    E = fun() -> expr(Vars, Depth - 1) end,
    case rand:uniform(16) of
        1 -> {pick(['+', '-', '*', 'div', 'rem', '/']), E(), E()};
        2 -> {pick(['band', 'bor', 'bxor', 'bsl', 'bsr']), E(), rand:uniform(70)};
        3 -> {pick(['-', '+', abs, float, round, trunc, 'bnot']), E()};
        4 -> {element, rand:uniform(3), operand(Vars)};
        5 -> {pick([hd, tl, length, size, map_size, byte_size, bit_size]), operand(Vars)};
        6 -> {map_get, literal(pick([a, 1])), operand(Vars)};
        7 -> pick([{self}, {node}, {node, operand(Vars)}]);
        8 -> {binary_part, operand(Vars), {const, {0, 1}}};
        _ -> expr(Vars, 0)
    end.

%%--------------------------------------------------------------------
%% Bodies

body(Vars) ->
    [body_expr(Vars, 2) || _ <- lists:seq(1, weighted([{8, 1}, {2, 2}, {1, 3}]))].

body_expr(Vars, Depth) ->
    B = fun() -> body_expr(Vars, Depth - 1) end,
    case rand:uniform(if Depth > 0 -> 16; true -> 9 end) of
        1 -> '$_';
        2 -> '$_';
        3 -> '$$';
        4 -> operand(Vars);
        5 -> operand(Vars);
        6 -> literal(value());
        7 -> {const, value()};
        8 -> expr(Vars, 1);
        9 -> pick([ok, 1, 2.5, <<"r">>, [], {self}, {node}]);
        10 -> {list_to_tuple([B() || _ <- lists:seq(1, rand:uniform(4) - 1)])};
        11 -> {{B(), B()}};
        12 -> [B() || _ <- lists:seq(1, rand:uniform(3) - 1)];
        13 -> [B() | B()];
        14 -> #{literal_key() => B()};
        15 -> {'+', operand(Vars), pick([1, 1.0, {const, 1 bsl 64}])};
        16 -> {{'$_', '$$', B()}}
    end.

literal_key() ->
    pick([a, 1, <<"k">>]).

%%--------------------------------------------------------------------
%% select_replace

replace_clause(Objs, KeyPos) ->
    put(xets_ms_gen_next_var, rand:uniform(3) - 1),
    {Head, Vars} = from_object(pick_object(Objs), KeyPos),
    Guards = guards(Vars),
    Key = element(KeyPos, Head),
    Body = case rand:uniform(12) of
               1 -> ['$_'];
               2 -> [{const, pick_object(Objs)}];
               3 -> [{{new_key(Key)}}];
               _ -> case rebuild(Key) of
                        {ok, K} ->
                            Arity = KeyPos + rand:uniform(3) - 1,
                            [{list_to_tuple([if I =:= KeyPos -> K; true -> body_expr(Vars, 1) end
                                             || I <- lists:seq(1, Arity)])}];
                        error ->
                            ['$_']
                    end
           end,
    {Head, Guards, Body}.

%% The head's key term built again as a body expression; not possible
%% when it holds '_'.
rebuild('_') -> error;
rebuild(T) when is_tuple(T) ->
    case rebuild_list(tuple_to_list(T)) of
        {ok, L} -> {ok, {list_to_tuple(L)}};
        error -> error
    end;
rebuild([H | T]) ->
    case {rebuild(H), rebuild(T)} of
        {{ok, H1}, {ok, T1}} -> {ok, [H1 | T1]};
        _ -> error
    end;
rebuild(T) when is_map(T) -> error;
rebuild(T) when is_atom(T) ->
    case atom_to_list(T) of
        "$" ++ _ -> {ok, T};
        _ -> {ok, pick([T, {const, T}])}
    end;
rebuild(T) -> {ok, {const, T}}.

rebuild_list(L) ->
    R = [rebuild(E) || E <- L],
    case lists:member(error, R) of
        true -> error;
        false -> {ok, [E || {ok, E} <- R]}
    end.

%% A key that is not the head's: ets rejects the spec.
new_key(Key) ->
    {const, {xets_ms_gen_other_key, Key}}.

%%--------------------------------------------------------------------

weighted(Choices) ->
    Total = lists:sum([W || {W, _} <- Choices]),
    weighted(rand:uniform(Total), Choices).

weighted(N, [{W, X} | _]) when N =< W -> X;
weighted(N, [{W, _} | Rest]) -> weighted(N - W, Rest).

pick(L) ->
    lists:nth(rand:uniform(length(L)), L).

neg_zero() ->
    <<F/float>> = <<1:1, 0:63>>,
    F.

sub_binary(B) ->
    Big = <<0:64, B/binary, 0:64, (binary:copy(<<"x">>, 100))/binary>>,
    binary:part(Big, 8, byte_size(B)).
