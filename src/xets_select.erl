%% @doc The match-specification traversals behind xets's select, match
%% and select_count/delete/replace families.
%%
%% A traversal is the spec as C planned it for the table (c_src/select.h)
%% and as ets compiled it, walked in chunks of short NIF calls. C runs the
%% spec on the stored objects where its engine can; otherwise a chunk
%% brings back the objects that may match and ets runs the spec on them
%% here. The results, counts and continuations are ets's.
%%
%% Contract: xets calls these inside its ?CALL, which turns any badarg
%% raised here (a bad table, spec, limit or continuation) into the badarg
%% of the API function, with its arguments and error_info. The one called
%% outside it, repair/2, raises only through xets:match_spec_compile/1, and
%% answers not_ours where ets's repair_continuation/2 has no clause, for
%% xets to raise that function_clause in its own name.
-module(xets_select).

%% A chunk that writes to a persistent table in sync mode always returns
%% only once its writes are durable (xets_disk:await/3).
-define(AWAIT(Expr),
        try Expr
        catch error:{'$xets_await', Serial_, Seq_, Result_} -> xets_disk:await(Serial_, Seq_, Result_)
        end).

-export([results/3, first_chunk/4, continue/1, counted/3, repair/2, table_of/1]).

-export_type([continuation/0]).

%% A match-spec traversal of a table: the spec as planned by C
%% (c_src/select.h), or still to be planned once repair/2 replaced it,
%% and as compiled by ets. When the C engine cannot run the spec on some
%% object, its chunk brings back the objects that may match ({deferred,
%% Objects}) and ets:match_spec_run_r/3 runs it here.
%% ordered: whether the table is an ordered_set (see in_order/2).
-record(sel, {tab, plan :: reference() | {unplanned, xets:match_spec()}, cms,
              dir :: forward | backward, ordered :: boolean(),
              op :: results | count | delete | replace}).
%% What select/3 and friends return to be continued: a traversal, the
%% number of results per call, and where to resume (start: nothing
%% visited yet; done: the table is exhausted; else select/7's cursor).
%% xets_select_SUITE forges continuations field by field: {xets_cont,
%% {sel, Tab, Plan, ...}, Limit, Cursor}.
-record(xets_cont, {sel :: #sel{}, limit :: pos_integer(),
                    cursor :: start | done | {binary(), non_neg_integer()}}).

-opaque continuation() :: #xets_cont{}.

%% Results per chunk when the caller asked for all of them.
-define(CHUNK, 1000).

%% @doc Every result of the spec, in ets's order: select/2, match/2 and
%% friends (Dir backward for select_reverse/2).
-spec results(xets:tab(), xets:match_spec(), forward | backward) -> [term()].
results(Tab, MatchSpec, Dir) ->
    results(plan(Tab, MatchSpec, Dir, results)).

%% @doc select/3 and friends: the first Limit results.
-spec first_chunk(xets:tab(), xets:match_spec(), pos_integer(), forward | backward) ->
          {[term()], continuation() | '$end_of_table'} | '$end_of_table'.
first_chunk(Tab, MatchSpec, Limit, Dir) when is_integer(Limit), Limit > 0 ->
    gather(#xets_cont{sel = plan(Tab, MatchSpec, Dir, results), limit = Limit, cursor = start});
first_chunk(_Tab, _MatchSpec, _Limit, _Dir) ->
    erlang:error(badarg).

%% @doc select/1 and friends. A continuation that is not one of ours, or
%% one whose fields are not what we made (its plan, table, limit and
%% cursor are checked where they are used), raises badarg, as ets's
%% select/1 does.
-spec continue(continuation() | '$end_of_table') ->
          {[term()], continuation() | '$end_of_table'} | '$end_of_table'.
continue('$end_of_table') -> '$end_of_table';
continue(#xets_cont{cursor = done}) -> '$end_of_table';
continue(#xets_cont{sel = #sel{tab = Tab, plan = {unplanned, MatchSpec}} = Sel} = C) ->
    {Plan, Ordered} = xets_nif:select_plan(Tab, MatchSpec),
    gather(C#xets_cont{sel = Sel#sel{plan = Plan, ordered = Ordered}});
continue(#xets_cont{sel = #sel{}} = C) -> gather(C);
continue(_) -> erlang:error(badarg).

%% @doc select_count/2, select_delete/2 and select_replace/2: how many
%% objects the spec counted, deleted or replaced. As in ets, a replace
%% whose spec may change a key is refused (keeps_key/2), and C refuses
%% one on a bag.
-spec counted(xets:tab(), xets:match_spec(), count | delete | replace) -> non_neg_integer().
counted(Tab, MatchSpec, replace) ->
    Sel = plan(Tab, MatchSpec, forward, replace),
    Keypos = xets:info(Tab, keypos),
    lists:all(fun(Clause) -> keeps_key(Clause, Keypos) end, MatchSpec)
        orelse erlang:error(badarg),
    counted_from(Sel, start, 0);
counted(Tab, MatchSpec, Op) ->
    counted_from(plan(Tab, MatchSpec, forward, Op), start, 0).

%% @doc repair_continuation/2 on anything but '$end_of_table': the
%% continuation usable again, or not_ours for a term that is none of ours.
%% The compiled parts live as long as the continuation they were made for:
%% if ets's still does, so does ours. As ets, which compiles the spec here
%% (raising as match_spec_compile/1) and finds the table only when the
%% continuation is used, the spec is planned for the table then
%% (continue/1).
-spec repair(term(), xets:match_spec()) -> continuation() | not_ours.
repair(#xets_cont{sel = #sel{cms = CMS} = Sel} = C, MatchSpec) ->
    case ets:is_compiled_ms(CMS) of
        true -> C;
        false -> C#xets_cont{sel = Sel#sel{cms = xets:match_spec_compile(MatchSpec),
                                           plan = {unplanned, MatchSpec}}}
    end;
repair(_Term, _MatchSpec) ->
    not_ours.

%% @doc The table a continuation traverses, for the cause of its badarg:
%% {ok, Tab}; none for one of ours whose traversal is forged away;
%% not_ours for any other term.
-spec table_of(term()) -> {ok, term()} | none | not_ours.
table_of(#xets_cont{sel = #sel{tab = Tab}}) -> {ok, Tab};
table_of(#xets_cont{}) -> none;
table_of(_Term) -> not_ours.

%% ets checks the spec first (it takes [] in a select, though not in
%% match_spec_compile); C plans it for the table. As in ets, the select of
%% a hash table holds its tid, so that a continuation does not go on in
%% another table made under the same name; that of an ordered_set holds
%% the name it was given, and does (if of the same type and keypos).
plan(Tab, MatchSpec, Dir, Op) ->
    CMS = case MatchSpec of
              [] -> none;
              _ -> ets:match_spec_compile(MatchSpec)
          end,
    {Plan, Ordered} = xets_nif:select_plan(Tab, MatchSpec),
    #sel{tab = held(Tab), plan = Plan, cms = CMS, dir = Dir, ordered = Ordered, op = Op}.

%% One info call tells a named table's type and tid.
held(Name) when is_atom(Name) ->
    Raw = xets_nif:info(Name),
    case xets_info:item(type, Raw) of
        ordered_set -> Name;
        _ -> xets_info:item(id, Raw)
    end;
held(Tid) ->
    Tid.

%% One chunk of select_count, select_delete or select_replace: {N,
%% Cursor}, N objects counted, deleted or replaced by C, or {{deferred,
%% Objects}, Cursor} for Erlang to run the spec.
chunk(#sel{tab = Tab, plan = Plan, dir = Dir, op = Op}, Cursor) ->
    case ?AWAIT(xets_nif:select(Tab, Plan, nif_cursor(Cursor), Dir, Op, ?CHUNK, [])) of
        {deferred, Objects, Next} -> {{deferred, Objects}, cursor(Next)};
        {N, Next} -> {N, cursor(Next)}
    end.

%% One chunk of results, at most about Cap: {Results, N, Cursor}, the N
%% results in the reverse of the order visited, in front of Acc.
results_chunk(#sel{tab = Tab, plan = Plan, cms = CMS, dir = Dir}, Cursor, Cap, Acc) ->
    case xets_nif:select(Tab, Plan, nif_cursor(Cursor), Dir, results, Cap, Acc) of
        {deferred, Objects, Next} ->
            Rev = ets:match_spec_run_r(Objects, CMS, []),
            {Rev ++ Acc, length(Rev), cursor(Next)};
        {N, Results, Next} ->
            {Results, N, cursor(Next)}
    end.

nif_cursor(start) -> '$end_of_table';
nif_cursor(Cursor) -> Cursor.

cursor('$end_of_table') -> done;
cursor(Cursor) -> Cursor.

%% Every result, in ets's order. Each chunk conses its results in front of
%% the chunks' before it, so a forward traversal gives them in reverse:
%% ets's order on the hash tables (README, "Result order"), and
%% select_reverse's on an ordered_set, whose select/2 reverses them once
%% (a skiplist's backward step is a search).
results(#sel{dir = Dir, ordered = Ordered} = Sel) ->
    Results = results_from(Sel#sel{dir = forward}, start, []),
    case Ordered andalso Dir =:= forward of
        true -> lists:reverse(Results);
        false -> Results
    end.

results_from(Sel, Cursor, Acc) ->
    case results_chunk(Sel, Cursor, ?CHUNK, Acc) of
        {Results, _N, done} -> Results;
        {Results, _N, Next} -> results_from(Sel, Next, Results)
    end.

%% How many objects were counted, deleted or replaced, chunk by chunk.
counted_from(Sel, Cursor, N) ->
    case chunk(Sel, Cursor) of
        {Items, done} -> N + count(Sel, Items);
        {Items, Next} -> counted_from(Sel, Next, N + count(Sel, Items))
    end.

count(_Sel, N) when is_integer(N) ->
    N;
count(#sel{op = count, cms = CMS}, {deferred, Objects}) ->
    length([true || true <- ets:match_spec_run(Objects, CMS)]);
%% A deferred chunk's writes go back in one call: on a bag, C applies
%% those of a key together (c_src/select.h, select_write).
count(#sel{op = delete, tab = Tab, cms = CMS}, {deferred, Objects}) ->
    ?AWAIT(xets_nif:select_write(Tab, [{Object, delete}
                                       || Object <- Objects,
                                          ets:match_spec_run([Object], CMS) =:= [true]]));
count(#sel{op = replace, tab = Tab, cms = CMS}, {deferred, Objects}) ->
    ?AWAIT(xets_nif:select_write(Tab, [{Object, New}
                                       || Object <- Objects,
                                          [New] <- [ets:match_spec_run([Object], CMS)]])).

%% ets's static rule for select_replace, db_match_keeps_key in OTP's
%% erl_db_util.c (guards are not considered): each clause's body is one
%% expression, either '$_' or, when the head is a tuple with a key, a
%% constant object {const, Object} or a tuple construction {{...}} whose
%% key builds the term that the head's key matched (builds/3); a
%% construction's key may also be {element, Keypos, '$_'}.
keeps_key({_Head, _Guards, ['$_']}, _Keypos) ->
    true;
keeps_key({Head, _Guards, [Body]}, Keypos) when tuple_size(Head) >= Keypos ->
    Key = element(Keypos, Head),
    case Body of
        {const, Object} when tuple_size(Object) >= Keypos ->
            builds(Key, element(Keypos, Object), const);
        {New} when tuple_size(New) >= Keypos ->
            builds(Key, element(Keypos, New), expr) orelse
                element(Keypos, New) =:= {element, Keypos, '$_'};
        _ ->
            false
    end;
keeps_key(_Clause, _Keypos) ->
    false.

%% Whether body term B always builds the term that head pattern A matched,
%% B being an expression (expr) or the inside of {const, _} (const): each
%% variable as itself outside a const, tuples as {{...}} or inside a
%% const, lists element by element, other terms as themselves (=:=),
%% except '_', '$_' and '$$', which a head matches literally and a body
%% takes for the object or the bindings; never a map, whose pattern
%% matches maps with more keys. As db_match_eq_body in erl_db_util.c.
builds([HA | TA], [HB | TB], Mode) ->
    builds(HA, HB, Mode) andalso builds(TA, TB, Mode);
builds(_A, [_ | _], _Mode) ->
    false;
builds(A, {const, B}, expr) ->
    builds(A, B, const);
builds(A, {B}, expr) when is_tuple(B) ->
    builds_elements(A, B, expr);
builds(_A, B, expr) when is_tuple(B) ->
    false;
builds(A, B, const) when is_tuple(B) ->
    builds_elements(A, B, const);
builds(_A, B, _Mode) when is_map(B) ->
    false;
builds(A, B, Mode) when is_atom(B) ->
    A =:= B andalso A =/= '_' andalso A =/= '$_' andalso A =/= '$$' andalso
        not (Mode =:= const andalso is_variable(A));
builds(A, B, _Mode) ->
    A =:= B.

builds_elements(A, B, Mode) ->
    is_tuple(A) andalso tuple_size(A) =:= tuple_size(B) andalso
        builds(tuple_to_list(A), tuple_to_list(B), Mode).

%% '$0', '$1', '$2', ...: a match variable (db_is_variable; '$01' is an
%% atom).
is_variable(Atom) ->
    case atom_to_list(Atom) of
        "$0" -> true;
        [$$, D | Digits] when D >= $1, D =< $9 -> lists:all(fun(C) -> C >= $0 andalso C =< $9 end, Digits);
        _ -> false
    end.

%% As ets: Limit results and a continuation while the traversal lasts (the
%% next call may find nothing more), fewer at its end, and '$end_of_table'
%% instead of an empty chunk.
gather(#xets_cont{limit = Limit} = C) ->
    gather(C, Limit, []).

gather(#xets_cont{sel = Sel, cursor = Cursor} = C, Want, Acc) ->
    {Results, N, Next} = results_chunk(Sel, Cursor, Want, Acc),
    Left = Want - N,
    if
        Left =< 0, Next =:= done -> {in_order(Sel, Results), '$end_of_table'};
        Left =< 0 -> {in_order(Sel, Results), C#xets_cont{cursor = Next}};
        Next =/= done -> gather(C#xets_cont{cursor = Next}, Left, Results);
        Results =:= [] -> '$end_of_table';
        true -> {in_order(Sel, Results), '$end_of_table'}
    end.

%% As in ets, a chunk holds an ordered_set's results in the order
%% traversed, and a hash table's in reverse (README, "Result order").
in_order(#sel{ordered = true}, Results) -> lists:reverse(Results);
in_order(#sel{ordered = false}, Results) -> Results.
