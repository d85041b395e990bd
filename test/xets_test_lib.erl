%% What the Common Test suites share.
-module(xets_test_lib).
-export([module_under_test/0, distinct_keys/2, distinct_keys/3, ets_update_counter/4,
         start_peer/1]).

%% The module the suites test: xets, or another module with the ets API
%% named by XETS_TEST_MOD. Every suite is validated with XETS_TEST_MOD=ets:
%% a check that fails for ets itself is a wrong check.
-spec module_under_test() -> module().
module_under_test() ->
    Mod = case os:getenv("XETS_TEST_MOD") of
              false -> xets;
              "" -> xets;
              M -> list_to_atom(M)
          end,
    {module, Mod} = code:ensure_loaded(Mod),
    Mod.

%% The objects of L with at most one object per key, in Type's sense of key
%% equality (== for ordered_set, =:= otherwise), keeping the last of each.
-spec distinct_keys(atom(), [tuple()]) -> [tuple()].
distinct_keys(Type, L) ->
    distinct_keys(Type, 1, L).

%% The same for objects whose key is at KeyPos.
-spec distinct_keys(atom(), pos_integer(), [tuple()]) -> [tuple()].
distinct_keys(Type, KeyPos, L) ->
    Match = case Type of
                ordered_set -> fun(A, B) -> A == B end;
                _ -> fun(A, B) -> A =:= B end
            end,
    lists:foldr(fun(O, Acc) ->
                        case lists:any(fun(O2) -> Match(element(KeyPos, O), element(KeyPos, O2)) end, Acc) of
                            true -> Acc;
                            false -> [O | Acc]
                        end
                end, [], L).

%% ets:update_counter/4, except where OTP 25.2's is unsafe: with the key
%% absent and a Default of fewer elements than keypos, it crashes the VM
%% on an ordered_set (segmentation fault), and on a set or a bag raises
%% badarg, as the manual says it must, but not always cleanly (a later call
%% has aborted the VM: size_object: bad tag, once in a dozen full runs of
%% the conformance suite). There it raises that badarg itself.
-spec ets_update_counter(ets:tab(), term(), term(), tuple()) -> integer() | [integer()].
ets_update_counter(T, K, Op, Def) ->
    case is_tuple(Def) andalso tuple_size(Def) < ets:info(T, keypos) andalso
        not ets:member(T, K) of
        true -> erlang:raise(error, badarg,
                             [{ets, update_counter, [T, K, Op, Def],
                               [{error_info, #{module => erl_stdlib_errors}}]}]);
        false -> ets:update_counter(T, K, Op, Def)
    end.

%% A peer VM (peer:start/1) with xets's code and the suite's, to kill with
%% kill -9: the peer and its OS pid.
-spec start_peer(module()) -> {pid(), string()}.
start_peer(Suite) ->
    Paths = [filename:dirname(code:which(M)) || M <- [xets, xets_nif, Suite]],
    {ok, Peer, _} = peer:start(#{connection => standard_io,
                                 args => lists:append([["-pa", P] || P <- lists:usort(Paths)])}),
    {Peer, peer:call(Peer, os, getpid, [])}.
