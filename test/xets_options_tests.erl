%% xets:new/2 accepts exactly the options ets:new/2 accepts on this OTP, and
%% reports them back through info/2 as ets does.
-module(xets_options_tests).
-include_lib("eunit/include/eunit.hrl").
-export([misreported/0]).

good_options() ->
    Types = [[], [set], [ordered_set], [bag], [duplicate_bag], [set, bag]],
    Access = [[], [public], [protected], [private]],
    Conc = [[], [{write_concurrency, true}], [{write_concurrency, false}],
            [{write_concurrency, auto}], [{read_concurrency, true}],
            [{read_concurrency, false}], [{decentralized_counters, true}],
            [{decentralized_counters, false}],
            [{write_concurrency, true}, {decentralized_counters, false}],
            [{write_concurrency, auto}, {decentralized_counters, false}],
            [{write_concurrency, true}, {read_concurrency, true}]],
    Other = [[], [compressed], [{keypos, 2}], [{keypos, 7}], [{heir, none}],
             [{heir, self(), gift}], [{heir, self(), gift}, {heir, none}]],
    [T ++ A ++ C ++ O || T <- Types, A <- Access, C <- Conc, O <- Other].

bad_options() ->
    [[foo], [{keypos, 0}], [{keypos, -1}], [{keypos, a}], [{write_concurrency, 8}],
     [{write_concurrency, maybe}], [{read_concurrency, auto}],
     [{decentralized_counters, 1}], [{heir, notapid, x}], [{heir, self()}],
     [{heir, none, x}], [set | bag], not_a_list, [{type, set}], [named],
     [compressed, {compressed, true}]].

reported() ->
    [type, protection, keypos, named_table, write_concurrency, read_concurrency,
     decentralized_counters, compressed, heir, size, owner, fixed].

every_accepted_option_is_reported_as_ets_reports_it_test() ->
    ?assertEqual([], misreported()).

%% With one scheduler ets reports no write_concurrency (and so no
%% decentralized_counters) whatever was asked: a node started with +S 1.
with_one_scheduler_options_are_reported_as_ets_reports_them_test_() ->
    {timeout, 60,
     fun() ->
             Path = [filename:dirname(code:which(M)) || M <- [?MODULE, xets]],
             {ok, Peer, _} = peer:start_link(#{connection => standard_io,
                                              args => ["+S", "1:1" | ["-pa" | Path]]}),
             try
                 ?assertEqual(1, peer:call(Peer, erlang, system_info, [schedulers])),
                 EtsWC = fun() -> ets:info(ets:new(o, [{write_concurrency, true}]), write_concurrency) end,
                 ?assertEqual(false, peer:call(Peer, erlang, apply, [EtsWC, []])),
                 ?assertEqual([], peer:call(Peer, ?MODULE, misreported, []))
             after
                 peer:stop(Peer)
             end
     end}.

%% The accepted option lists whose info/2 items differ from ets's, with
%% both answers.
misreported() ->
    lists:filtermap(
      fun(Opts) ->
              E = ets:new(o, Opts),
              X = xets:new(o, Opts),
              Expected = [{I, ets:info(E, I)} || I <- reported()],
              Got = [{I, xets:info(X, I)} || I <- reported()],
              ets:delete(E),
              xets:delete(X),
              Got =/= Expected andalso {true, {Opts, Expected, Got}}
      end, good_options()).

every_rejected_option_raises_badarg_with_error_info_test() ->
    lists:foreach(
      fun(Opts) ->
              ?assertError(badarg, ets:new(o, Opts)),
              try xets:new(o, Opts) of
                  T -> xets:delete(T), ?assert({accepted, Opts} =:= rejected)
              catch error:badarg:Stack ->
                      [{xets, new, [o, Opts], Info} | _] = Stack,
                      ?assertMatch(#{module := xets}, proplists:get_value(error_info, Info))
              end
      end, bad_options()).

name_must_be_an_atom_test() ->
    ?assertError(badarg, ets:new("name", [])),
    ?assertError(badarg, xets:new("name", [])).

named_table_returns_its_name_and_unnamed_a_reference_test() ->
    N = xets:new(xets_options_named, [named_table]),
    ?assertEqual(xets_options_named, N),
    ?assertEqual(true, is_reference(xets:new(xets_options_named, []))),
    ?assertError(badarg, xets:new(xets_options_named, [named_table])),
    xets:delete(N).

last_type_wins_but_set_never_overrides_as_in_ets_test() ->
    lists:foreach(
      fun({Opts, Type}) ->
              ?assertEqual({Opts, Type}, {Opts, ets:info(ets:new(o, Opts), type)}),
              ?assertEqual({Opts, Type}, {Opts, xets:info(xets:new(o, Opts), type)})
      end,
      [{[bag, set], bag}, {[set, bag], bag}, {[ordered_set, set], ordered_set},
       {[bag, ordered_set], ordered_set}, {[ordered_set, duplicate_bag], duplicate_bag},
       {[duplicate_bag, set], duplicate_bag}]).

last_access_option_wins_as_in_ets_test() ->
    lists:foreach(
      fun({Opts, Prot}) ->
              ?assertEqual(Prot, ets:info(ets:new(o, Opts), protection)),
              ?assertEqual(Prot, xets:info(xets:new(o, Opts), protection))
      end, [{[public, private], private}, {[private, public], public}]).

%% ets lets the last of a repeated option win, but set and protected are
%% its defaults and never override another type or access; the
%% concurrency options combine. Every ordered pair and triple of options
%% gives the table ets gives: the same info/1 and the same rights for
%% another process.
options_in_any_order_give_the_table_ets_gives_test_() ->
    {timeout, 300, fun() -> ?assertEqual([], options_in_any_order_differing()) end}.

options_in_any_order_differing() ->
    Heir = spawn_link(fun() -> receive stop -> ok end end),
    Other = spawn_link(fun other/0),
    Opts = [set, ordered_set, bag, duplicate_bag, public, protected, private, named_table,
            {keypos, 2}, {keypos, 3}, {heir, Heir, gift}, {heir, none}, {write_concurrency, true},
            {write_concurrency, false}, {write_concurrency, auto}, {read_concurrency, true},
            {read_concurrency, false}, {decentralized_counters, true},
            {decentralized_counters, false}, compressed],
    Pairs = [[A, B] || A <- Opts, B <- Opts],
    Triples = [[A, B, C] || A <- Opts, B <- Opts -- [A], C <- Opts -- [A, B]],
    Differing = lists:filtermap(
                  fun(O) ->
                          E = table_seen(ets, ets:new(xets_options_order, O), Other),
                          X = table_seen(xets, xets:new(xets_options_order, O), Other),
                          E =/= X andalso {true, {O, E, X}}
                  end, Pairs ++ Triples),
    [unlink(P) || P <- [Heir, Other]],
    [exit(P, kill) || P <- [Heir, Other]],
    Differing.

%% info/1 but id and memory, and what another process may do; deletes the
%% table.
table_seen(M, T, Other) ->
    Info = [I || {K, _} = I <- M:info(T), K =/= id, K =/= memory],
    Other ! {self(), fun() -> {catch_badarg(fun() -> M:lookup(T, a) end),
                               catch_badarg(fun() -> M:insert(T, {a, a, a}) end)} end},
    Rights = receive {Other, R} -> R end,
    M:delete(T),
    {Info, Rights}.

other() ->
    receive {From, F} -> From ! {self(), F()}, other() end.

catch_badarg(F) ->
    try F() catch error:badarg -> badarg end.
