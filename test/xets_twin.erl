%% Twin tables: the same operations on an ets table and on a table of the
%% module under test, created with the same options, must give the same
%% results and raise the same exceptions (class, reason, and error_info in
%% the top stack frame). Shared by the suites that compare with ets; the
%% macros and the pair record are in xets_twin.hrl.
%%
%% With XETS_TEST_MOD=ets the module under test is ets itself, which
%% validates the suites: the hash tables under test are then first grown
%% and emptied, so that they iterate in another order than their ets twin
%% and a check that depends on the order of a set or a bag fails.
%%
%% XETS_TEST_KEEP_GOING=1 makes eq/4 log every difference and go on (with
%% the ets result); check_differences/0, called at the end of a case, then
%% fails it.
%%
%% Results are compared exactly (0.0 and -0.0 are told apart, although they
%% are =:= on OTP 25), except in the modes that sort lists (see eq/4).
-module(xets_twin).

-include_lib("common_test/include/ct.hrl").
-include("xets_twin.hrl").

-export([pair/2, new_pair/3, eq/4, reset_differences/0, check_differences/0,
         total_sort/1, printable/1, ident/2]).

-type pair() :: #p{}.
-type mode() :: exact | unordered | sorted.
-export_type([pair/0]).

%% Differences logged by eq/4 under XETS_TEST_KEEP_GOING, in the process
%% dictionary of the test case.
-define(DIFFS, xets_twin_differences).

-spec reset_differences() -> ok.
reset_differences() ->
    erase(?DIFFS),
    ok.

-spec check_differences() -> ok | {fail, term()}.
check_differences() ->
    case get(?DIFFS) of
        undefined -> ok;
        Ds -> {fail, {differences, length(Ds), lists:reverse(Ds)}}
    end.

%% A pair of tables of the group's type and the suite's module, from the
%% Common Test config.
-spec pair(list(), list()) -> pair().

pair(Config, Opts) ->
    new_pair(?config(mod, Config), ?config(type, Config), Opts).

-spec new_pair(module(), atom(), list()) -> pair().
new_pair(Mod, Type, Opts) ->
    Named = lists:member(named_table, Opts),
    {EName, XName} = case Named of
                         true -> {xets_conf_ets, xets_conf_mut};
                         false -> {xets_conf, xets_conf}
                     end,
    E = ets:new(EName, [Type | Opts]),
    X = Mod:new(XName, [Type | Opts]),
    Mod =:= ets andalso scramble(Type, X, Opts),
    Tids = case Named of
               true -> [ets:whereis(EName), catch Mod:whereis(XName)];
               false -> []
           end,
    #p{type = Type, mod = Mod, e = E, x = X, subst = [E, X | Tids]}.

%% In ets-vs-ets mode: grow and empty the hash table under test, so that
%% it iterates in another order than its twin.
scramble(ordered_set, _X, _Opts) ->
    ok;
scramble(_Type, X, Opts) ->
    KP = proplists:get_value(keypos, lists:reverse(Opts), 1),
    KP =< 10 andalso scramble(X, KP).

scramble(X, KP) ->
    Filler = [list_to_tuple(lists:duplicate(KP - 1, pad) ++ [{filler, I}]) || I <- lists:seq(1, 3000)],
    ets:insert(X, Filler),
    [ets:delete(X, {filler, I}) || I <- lists:seq(1, 3000)],
    ok.

%% F(ets, E) and F(Mod, X) give the same result or raise the same
%% exception; Mode exact compares as is, unordered sorts lists on the
%% types whose order ets leaves unspecified (all but ordered_set), sorted
%% sorts lists always. Returns the ets result.
-spec eq(pair(), string(), fun((module(), term()) -> term()), mode()) -> term().
eq(#p{type = Type, mod = Mod, e = E, x = X} = P, Label, F, Mode) ->
    {module, TestMod} = erlang:fun_info(F, module),
    RE = run(ets, TestMod, fun() -> F(ets, E) end),
    RX = run(Mod, TestMod, fun() -> F(Mod, X) end),
    NE = order(Mode, Type, norm(P, RE)),
    NX = order(Mode, Type, norm(P, RX)),
    case ident(NE, NX) of
        true ->
            case RE of
                {ok, V} -> V;
                _ -> RE
            end;
        false ->
            Diff = {differs, lists:flatten(Label), [{ets, NE}, {Mod, NX}]},
            case os:getenv("XETS_TEST_KEEP_GOING") of
                V when V =:= false; V =:= ""; V =:= "0" ->
                    ct:log("~tp", [Diff]),
                    ct:fail({differs, lists:flatten(Label), printable({ets, NE}), printable({Mod, NX})});
                _ ->
                    ct:pal("~s", [printable(Diff)]),
                    put(?DIFFS, [Diff | case get(?DIFFS) of
                                                           undefined -> [];
                                                           Ds -> Ds
                                                       end]),
                    case RE of
                        {ok, V2} -> V2;
                        _ -> RE
                    end
            end
    end.

%% The result, or the exception: class, reason, and whether the top frame
%% is in the called module and carries error_info (as ets's BIFs do).
run(Mod, TestMod, F) ->
    try
        {ok, F()}
    catch
        error:Reason:St ->
            {raise, error, Reason, frame(Mod, TestMod, St)};
        Class:Reason ->
            {raise, Class, Reason}
    end.

frame(Mod, _TestMod, [{Mod, _, _, Info} | _]) ->
    case proplists:get_value(error_info, Info) of
        #{} -> error_info;
        _ -> no_error_info
    end;
frame(_Mod, TestMod, [{M, F, A, _} | _]) when M =/= TestMod ->
    {top_frame_not_in_module, M, F, arity(A)};
frame(_Mod, _TestMod, _) ->
    in_test_code.

arity(A) when is_list(A) -> length(A);
arity(A) -> A.

norm(#p{subst = Subst}, R) ->
    subst(R, Subst).

subst(T, Subst) when is_reference(T); is_atom(T) ->
    case lists:member(T, Subst) of
        true -> '$tab';
        false when is_atom(T) -> norm_name(T);
        false -> T
    end;
subst([H | T], Subst) -> [subst(H, Subst) | subst(T, Subst)];
subst(T, Subst) when is_tuple(T) -> list_to_tuple(subst(tuple_to_list(T), Subst));
subst(T, _) -> T.

%% Table names derived from the name of a named table of new_pair/3 (as
%% the conformance suite's rename tests make them).
norm_name(A) ->
    case atom_to_list(A) of
        "xets_conf_ets" ++ Rest -> list_to_atom("xets_conf_NAME" ++ Rest);
        "xets_conf_mut" ++ Rest -> list_to_atom("xets_conf_NAME" ++ Rest);
        _ -> A
    end.

order(exact, _, R) -> R;
order(unordered, ordered_set, R) -> R;
order(_, _, {ok, L}) when is_list(L) -> {ok, total_sort(L)};
order(_, _, R) -> R.

%% A sort that is total on terms that are not identical: 1 and 1.0 (or
%% 0.0 and -0.0) do not compare equal, so the result does not depend on
%% the input order.
-spec total_sort(list()) -> list().
total_sort(L) ->
    [T || {_, _, T} <- lists:sort([{T, term_to_binary(T), T} || T <- L])].

%% A term as text without characters above 255: under rebar3 ct, a
%% failure reason or a ct:pal that holds one (an atom like '日本') kills
%% the console io server and with it the whole test run.
-spec printable(term()) -> string().
printable(Term) ->
    Text = unicode:characters_to_list(io_lib:format("~tP", [Term, 60])),
    lists:flatten([if C > 255 -> io_lib:format("\\x{~.16B}", [C]); true -> C end || C <- Text]).

%% =:=, and 0.0 and -0.0 told apart.
-spec ident(term(), term()) -> boolean().
ident(A, B) when is_float(A), is_float(B) -> <<A/float>> =:= <<B/float>>;
ident([HA | TA], [HB | TB]) -> ident(HA, HB) andalso ident(TA, TB);
ident(A, B) when is_tuple(A), is_tuple(B), tuple_size(A) =:= tuple_size(B) ->
    ident(tuple_to_list(A), tuple_to_list(B));
ident(A, B) when is_map(A), is_map(B), map_size(A) =:= map_size(B) ->
    ident(lists:sort(maps:to_list(A)), lists:sort(maps:to_list(B)));
ident(A, B) -> A =:= B.
