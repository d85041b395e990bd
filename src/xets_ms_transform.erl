%% The parse transform behind xets:fun2ms/1: a call xets:fun2ms(fun ... end)
%% on a literal fun means what ets:fun2ms/1 means, so it is handed to
%% stdlib's ms_transform as that call, which replaces it by the match
%% specification (or reports the fun's errors at compile time). A call on
%% anything else is left alone and exits at run time, as in ets.
%%
%% Use: -include_lib("xets/include/xets_ms_transform.hrl"), or
%% -compile({parse_transform, xets_ms_transform}). ets:fun2ms/1 calls in
%% the same module are translated too.
-module(xets_ms_transform).

-export([parse_transform/2]).

%% @doc The forms with xets:fun2ms/1 calls on literal funs translated.
-spec parse_transform([erl_parse:abstract_form()], [compile:option()]) ->
          [erl_parse:abstract_form()] | {error, list(), list()} | {warning, list(), list()}.
parse_transform(Forms, Options) ->
    ms_transform:parse_transform(as_ets(Forms), Options).

%% xets:fun2ms(Fun) on a literal fun, wherever it stands, becomes
%% ets:fun2ms(Fun). Errors in the fun are then ms_transform's to report
%% (they name it as the module that explains them).
as_ets({call, Anno, {remote, RAnno, {atom, MAnno, xets}, {atom, _, fun2ms} = F},
        [{'fun', _, {clauses, _}} = Fun]}) ->
    {call, Anno, {remote, RAnno, {atom, MAnno, ets}, F}, [as_ets(Fun)]};
as_ets(Tuple) when is_tuple(Tuple) ->
    list_to_tuple(as_ets(tuple_to_list(Tuple)));
as_ets(List) when is_list(List) ->
    [as_ets(E) || E <- List];
as_ets(Other) ->
    Other.
