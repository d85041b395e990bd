%% Concurrency as ets promises it (DESIGN.md, Concurrency): many processes
%% on one public table, for every table type, without and with
%% {write_concurrency, true} and {read_concurrency, true}.
%%
%% Interleavings are not reproducible, so no case compares two runs:
%% each checks invariants that follow from what ets documents. Single-object
%% updates are atomic and isolated; insert/2 and insert_new/2 with a list
%% are atomic and isolated; delete_all_objects/1 is atomic and isolated;
%% ordered_set traversals are always safe, and safe_fixtable/2 makes
%% first/next on a hash table safe (no key twice, every key present
%% throughout is met); a deleted table answers badarg. Writers do a fixed
%% amount of work and readers run until the writers are done, so pass or
%% fail never depends on timing.
%%
%% The module under test is `xets', or XETS_TEST_MOD (XETS_TEST_MOD=ets
%% runs ets, to validate the invariants).
-module(xets_concurrency_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([suite/0, all/0, init_per_suite/1, end_per_suite/1]).

-export([writers_on_disjoint_keys_read_their_own_writes_and_leave_exactly_their_logged_objects/1,
         update_counter_from_many_processes_loses_no_increment/1,
         last_write_wins_on_keys_shared_by_many_writers/1,
         insert_new_racing_on_the_same_keys_has_exactly_one_winner_per_key/1,
         list_insert_new_races_have_one_winner_that_inserted_all_and_losers_nothing/1,
         readers_never_see_a_list_insert_half_done/1,
         take_racing_on_shared_keys_hands_each_object_to_exactly_one_taker/1,
         ordered_set_traversals_are_strictly_ordered_and_meet_every_stable_key_once/1,
         hash_traversals_meet_every_stable_object_once_and_no_object_twice/1,
         delete_all_objects_racing_with_inserts_is_atomic_and_keeps_size_consistent/1,
         bag_readers_on_shared_keys_see_no_phantom_or_duplicate_and_no_object_is_lost/1,
         select_replace_racing_with_deletes_in_its_key_replaces_each_object_once/1,
         deleting_a_busy_table_gives_every_process_a_result_or_badarg/1]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).
-define(HASH_TYPES, [set, bag, duplicate_bag]).
-define(KEYED_TYPES, [set, ordered_set]).
-define(BAG_TYPES, [bag, duplicate_bag]).
-define(OPTS, [[],
               [{write_concurrency, true}],
               [{read_concurrency, true}],
               [{write_concurrency, true}, {read_concurrency, true}]]).

%% 8 processes on a 2-core machine: more than the schedulers, so that
%% calls are also preempted in the middle of a traversal or a list.
-define(WRITERS, 8).
%% Violations kept per worker: enough to see what went wrong.
-define(KEEP, 5).

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [writers_on_disjoint_keys_read_their_own_writes_and_leave_exactly_their_logged_objects,
     update_counter_from_many_processes_loses_no_increment,
     last_write_wins_on_keys_shared_by_many_writers,
     insert_new_racing_on_the_same_keys_has_exactly_one_winner_per_key,
     list_insert_new_races_have_one_winner_that_inserted_all_and_losers_nothing,
     readers_never_see_a_list_insert_half_done,
     take_racing_on_shared_keys_hands_each_object_to_exactly_one_taker,
     ordered_set_traversals_are_strictly_ordered_and_meet_every_stable_key_once,
     hash_traversals_meet_every_stable_object_once_and_no_object_twice,
     delete_all_objects_racing_with_inserts_is_atomic_and_keeps_size_consistent,
     bag_readers_on_shared_keys_see_no_phantom_or_duplicate_and_no_object_is_lost,
     select_replace_racing_with_deletes_in_its_key_replaces_each_object_once,
     deleting_a_busy_table_gives_every_process_a_result_or_badarg].

init_per_suite(Config) ->
    Mod = xets_test_lib:module_under_test(),
    ct:pal("module under test: ~p", [Mod]),
    [{mod, Mod} | Config].

end_per_suite(_Config) ->
    ok.

%%====================================================================
%% Disjoint writers: each process is the only one to touch its keys
%%====================================================================

-define(DW_KEYS, 64).
-define(DW_OPS, 6000).

%% Each writer owns the keys {W, 1..64} and runs a seeded mix of every
%% update (insert of one object and of a list, insert_new, delete,
%% delete_object, take, update_counter, update_element) and read, keeping a
%% model of its keys. Nobody else writes them, so every read of its own
%% keys must return exactly the model, whatever the others do meanwhile;
%% two readers traverse the table all along. At the end the table holds
%% exactly the union of the models, and size, foldl and a first/next walk
%% agree with it.
writers_on_disjoint_keys_read_their_own_writes_and_leave_exactly_their_logged_objects(Config) ->
    each(Config, ?TYPES, fun disjoint/3).

disjoint(M, Type, Opts) ->
    T = M:new(cc_disjoint, [Type, public | Opts]),
    {Models, _, Bad} = run([fun() -> dw_writer(M, T, Type, W) end || W <- seq(?WRITERS)],
                           [fun(Stop) -> dw_reader(M, T, Type, Stop) end || _ <- [1, 2]]),
    Final = case Bad of
                [] ->
                    Expected = lists:sort(lists:append([lists:append(maps:values(Mo)) || Mo <- Models])),
                    Got = lists:sort(M:tab2list(T)),
                    Keys = lists:usort([element(1, O) || O <- Expected]),
                    Walked = lists:sort(fixed_walk(M, T, Type, forward, 10 * length(Expected))),
                    Folded = M:foldl(fun(_, N) -> N + 1 end, 0, T),
                    Size = M:info(T, size),
                    [{contents, {missing, Expected -- Got}, {extra, Got -- Expected}}
                     || Got =/= Expected] ++
                        [{size, Size, expected, length(Expected)} || Size =/= length(Expected)] ++
                        [{foldl_count, Folded, expected, length(Expected)}
                         || Folded =/= length(Expected)] ++
                        [{walk, {missing, Keys -- Walked}, {extra, Walked -- Keys}}
                         || Walked =/= Keys];
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

dw_writer(M, T, Type, W) ->
    rand:seed(exsss, {W, 1, 1}),
    dw_loop(M, T, Type, W, ?DW_OPS, #{}, []).

dw_loop(_M, _T, _Type, _W, 0, Model, Bad) ->
    {Model, Bad};
dw_loop(M, T, Type, W, N, Model, Bad) ->
    K = {W, rand:uniform(?DW_KEYS)},
    Obj = {K, rand:uniform(100), rand:uniform(3)},
    Has = maps:get(K, Model, []),
    Keyed = keyed(Type),
    {Model1, Bad1} =
        case rand:uniform(14) of
            1 ->
                true = M:insert(T, Obj),
                {put_obj(Type, Obj, Model), Bad};
            2 ->
                Objs = dw_list(W),
                true = M:insert(T, Objs),
                {lists:foldl(fun(O, Mo) -> put_obj(Type, O, Mo) end, Model, Objs), Bad};
            3 ->
                New = Has =:= [],
                {case New of true -> put_obj(Type, Obj, Model); false -> Model end,
                 expect({insert_new, Obj}, New, M:insert_new(T, Obj), Bad)};
            4 ->
                Objs = dw_list(W),
                New = not lists:any(fun(O) -> maps:is_key(element(1, O), Model) end, Objs),
                {case New of
                     true -> lists:foldl(fun(O, Mo) -> put_obj(Type, O, Mo) end, Model, Objs);
                     false -> Model
                 end,
                 expect({insert_new, Objs}, New, M:insert_new(T, Objs), Bad)};
            5 ->
                true = M:delete(T, K),
                {maps:remove(K, Model), Bad};
            6 ->
                O = pick(Has ++ [Obj]),
                true = M:delete_object(T, O),
                {delete_obj(O, Model), Bad};
            7 when Keyed ->
                {maps:remove(K, Model), expect({take, K}, lists:sort(Has), lists:sort(M:take(T, K)), Bad)};
            7 ->
                %% Not take/2: on ets of OTP 25, take/2 on a bag that a
                %% traversal has fixed can leave info(T, size) wrong for
                %% good (fix; insert {1,1}; delete 1; insert {1,2}; take 1
                %% gives size 2^64-1). take on bags races in
                %% take_racing_on_shared_keys_hands_each_object_to_exactly_one_taker.
                Seen = lists:sort(M:lookup(T, K)),
                true = M:delete(T, K),
                {maps:remove(K, Model), expect({lookup, K}, lists:sort(Has), Seen, Bad)};
            8 when Keyed ->
                Incr = rand:uniform(10) - 4,
                {K, V, X} = case Has of [] -> {K, 0, 0}; [Old] -> Old end,
                {Model#{K => [{K, V + Incr, X}]},
                 expect({update_counter, K}, V + Incr, M:update_counter(T, K, {2, Incr}, {K, 0, 0}), Bad)};
            9 when Keyed ->
                X = rand:uniform(3),
                {case Has of [] -> Model; [Old] -> Model#{K => [setelement(3, Old, X)]} end,
                 expect({update_element, K}, Has =/= [], M:update_element(T, K, {3, X}), Bad)};
            8 ->
                %% an object that may be there already: a second copy in a
                %% duplicate_bag, nothing new in a bag
                O = pick(Has ++ [Obj]),
                true = M:insert(T, O),
                {put_obj(Type, O, Model), Bad};
            12 ->
                Got = try lists:sort(listify(M:lookup_element(T, K, 2))) catch error:badarg -> badarg end,
                Exp = case Has of [] -> badarg; _ -> lists:sort([V || {_, V, _} <- Has]) end,
                {Model, expect({lookup_element, K}, Exp, Got, Bad)};
            13 ->
                {Model, expect({member, K}, Has =/= [], M:member(T, K), Bad)};
            _ ->
                {Model, expect({lookup, K}, lists:sort(Has), lists:sort(M:lookup(T, K)), Bad)}
        end,
    dw_loop(M, T, Type, W, N - 1, Model1, Bad1).

%% 1 to 12 objects with distinct keys of writer W.
dw_list(W) ->
    Is = lists:usort([rand:uniform(?DW_KEYS) || _ <- seq(rand:uniform(12))]),
    [{{W, I}, rand:uniform(100), rand:uniform(3)} || I <- Is].

%% Traverses in every way while the writers work; objects must be ones a
%% writer could have inserted, and size a number.
dw_reader(M, T, Type, Stop) ->
    dw_reader(M, T, Type, Stop, 0, []).

dw_reader(M, T, Type, Stop, N, Bad) ->
    Objs = case rand:uniform(4) of
               1 -> M:tab2list(T);
               2 -> M:foldl(fun(O, A) -> [O | A] end, [], T);
               3 -> [{K, 0, 0} || K <- fixed_walk(M, T, Type, forward, 100000)];
               4 -> M:lookup(T, {rand:uniform(?WRITERS), rand:uniform(?DW_KEYS)})
           end,
    Size = M:info(T, size),
    Bad1 = [{odd_object, O} || O <- Objs, not dw_object(O)] ++
        [{odd_size, Size} || not is_integer(Size) orelse Size < 0] ++ Bad,
    case stopped(Stop) of
        true -> {N, lists:sublist(Bad1, ?KEEP)};
        false -> dw_reader(M, T, Type, Stop, N + 1, lists:sublist(Bad1, ?KEEP))
    end.

dw_object({{W, I}, V, X}) ->
    is_integer(W) andalso W >= 1 andalso W =< ?WRITERS andalso is_integer(I) andalso
        I >= 1 andalso I =< ?DW_KEYS andalso is_integer(V) andalso is_integer(X);
dw_object(_) ->
    false.

%%====================================================================
%% Shared keys
%%====================================================================

-define(UC_OPS, 10000).

%% Eight processes increment the same four counters (two inserted before,
%% two created by update_counter/4's default, racing), every call adding
%% exactly 1 to element 2 and 1..5 to element 3, in four different forms.
%% Atomicity means the values returned for element 2 of a counter are
%% exactly 1..Total, each once (two calls never read the same value), and
%% the final objects hold the sums of all increments. A reader checks that
%% no counter ever goes back.
update_counter_from_many_processes_loses_no_increment(Config) ->
    each(Config, ?KEYED_TYPES, fun counters/3).

counters(M, Type, Opts) ->
    T = M:new(cc_counters, [Type, public | Opts]),
    Keys = [{c, 1}, 2.5, c3, <<"c4">>],
    Pre = lists:sublist(Keys, 2),
    true = M:insert(T, [{K, 0, 0} || K <- Pre]),
    {Logs, _, Bad} = run([fun() -> uc_worker(M, T, Keys, Pre, W) end || W <- seq(?WRITERS)],
                         [fun(Stop) -> uc_reader(M, T, Keys, Stop) end || _ <- [1, 2]]),
    Final = case Bad of
                [] ->
                    lists:append(
                      [begin
                           Seen = lists:sort(lists:append([maps:get(K, L, []) || {L, _} <- Logs])),
                           Total = length(Seen),
                           Sum3 = lists:sum([maps:get(K, S, 0) || {_, S} <- Logs]),
                           [{returned_values_not_1_to_n, K, dups_or_gaps, Seen -- seq(Total)}
                            || Seen =/= seq(Total)] ++
                               case M:lookup(T, K) of
                                   [{K, Total, Sum3}] -> [];
                                   Other -> [{final, K, expected, {K, Total, Sum3}, got, Other}]
                               end
                       end || K <- Keys]);
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

%% Returns {#{Key => values returned for element 2}, #{Key => sum added to element 3}}.
uc_worker(M, T, Keys, Pre, W) ->
    rand:seed(exsss, {W, 2, 2}),
    uc_loop(M, T, Keys, Pre, ?UC_OPS, #{}, #{}).

uc_loop(_M, _T, _Keys, _Pre, 0, Got, Sums) ->
    {{Got, Sums}, []};
uc_loop(M, T, Keys, Pre, N, Got, Sums) ->
    K = pick(Keys),
    D = rand:uniform(5),
    Default = {K, 0, 0},
    Call = case lists:member(K, Pre) of
               true -> fun(Op) -> M:update_counter(T, K, Op) end;
               false -> fun(Op) -> M:update_counter(T, K, Op, Default) end
           end,
    {V2, Add3} = case rand:uniform(4) of
                     1 -> {Call(1), 0};
                     2 -> {Call({2, 1}), 0};
                     3 -> [A, _] = Call([{2, 1}, {3, D}]), {A, D};
                     4 -> [_, B] = Call([{3, D}, {2, 1}]), {B, D}
                 end,
    uc_loop(M, T, Keys, Pre, N - 1, maps:update_with(K, fun(L) -> [V2 | L] end, [V2], Got),
            maps:update_with(K, fun(S) -> S + Add3 end, Add3, Sums)).

uc_reader(M, T, Keys, Stop) ->
    uc_reader(M, T, Keys, Stop, #{}, []).

uc_reader(M, T, Keys, Stop, Last, Bad) ->
    K = pick(Keys),
    Now = case M:lookup(T, K) of
              [] -> {0, 0};
              [{K, A, B}] -> {A, B}
          end,
    {Old2, Old3} = maps:get(K, Last, {0, 0}),
    Bad1 = case Now of
               {A2, A3} when A2 >= Old2, A3 >= Old3 -> Bad;
               _ -> note({counter_went_back, K, {Old2, Old3}, Now}, Bad)
           end,
    case stopped(Stop) of
        true -> {ok, Bad1};
        false -> uc_reader(M, T, Keys, Stop, Last#{K => Now}, Bad1)
    end.

-define(LW_KEYS, 40).
-define(LW_OPS, 8000).

%% Eight processes insert (one object, lists, insert_new), delete and take
%% on the same 40 keys of a set or ordered_set; each logs its last effect
%% on every key (a delete or take leaves the key absent, whatever it found).
%% Whatever the interleaving, the last update of a key is some writer's
%% last update of it: each key ends absent only if some writer's last
%% update deleted it, and holding an object only if that object is some
%% writer's last write. Objects are unique, so a torn or stale write shows.
last_write_wins_on_keys_shared_by_many_writers(Config) ->
    each(Config, ?KEYED_TYPES, fun last_write/3).

last_write(M, Type, Opts) ->
    T = M:new(cc_last_write, [Type, public | Opts]),
    {Logs, _, Bad} = run([fun() -> lw_writer(M, T, W) end || W <- seq(?WRITERS)],
                         [fun(Stop) -> lw_reader(M, T, Stop) end]),
    Final = case Bad of
                [] ->
                    lists:append(
                      [begin
                           K = key(I),
                           Lasts = [maps:get(I, L) || L <- Logs, maps:is_key(I, L)],
                           Got = M:lookup(T, K),
                           case Got of
                               [] when Lasts =:= [] -> [];
                               [] -> [{absent_but_no_last_delete, K, Lasts} || not lists:member(deleted, Lasts)];
                               [O] -> [{not_a_last_write, K, O, Lasts} || not lists:member({obj, O}, Lasts)];
                               _ -> [{several_objects, K, Got}]
                           end
                       end || I <- seq(?LW_KEYS)]) ++
                        size_agrees(M, T);
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

%% Returns #{I => {obj, Object} | deleted}: the writer's last effect on key(I).
lw_writer(M, T, W) ->
    rand:seed(exsss, {W, 3, 3}),
    lw_loop(M, T, W, ?LW_OPS, #{}).

lw_loop(_M, _T, _W, 0, Log) ->
    {Log, []};
lw_loop(M, T, W, N, Log) ->
    I = rand:uniform(?LW_KEYS),
    Obj = {key(I), W, N},
    Log1 = case rand:uniform(6) of
               1 ->
                   true = M:delete(T, key(I)),
                   Log#{I => deleted};
               2 ->
                   _ = M:take(T, key(I)),
                   Log#{I => deleted};
               3 ->
                   case M:insert_new(T, Obj) of
                       true -> Log#{I => {obj, Obj}};
                       false -> Log
                   end;
               4 ->
                   Is = lists:usort([rand:uniform(?LW_KEYS) || _ <- seq(rand:uniform(8))]),
                   true = M:insert(T, [{key(J), W, N} || J <- Is]),
                   lists:foldl(fun(J, L) -> L#{J => {obj, {key(J), W, N}}} end, Log, Is);
               _ ->
                   true = M:insert(T, Obj),
                   Log#{I => {obj, Obj}}
           end,
    lw_loop(M, T, W, N - 1, Log1).

%% Every lookup of a shared key returns nothing or one object some writer
%% wrote in full.
lw_reader(M, T, Stop) ->
    lw_reader(M, T, Stop, []).

lw_reader(M, T, Stop, Bad) ->
    I = rand:uniform(?LW_KEYS),
    K = key(I),
    Bad1 = case M:lookup(T, K) of
               [] -> Bad;
               [{K, W, N}] when is_integer(W), W >= 1, W =< ?WRITERS, N >= 1, N =< ?LW_OPS -> Bad;
               Other -> note({odd_lookup, K, Other}, Bad)
           end,
    case stopped(Stop) of
        true -> {ok, Bad1};
        false -> lw_reader(M, T, Stop, Bad1)
    end.

%%====================================================================
%% insert_new races
%%====================================================================

-define(IN_KEYS, 6000).

%% Eight processes call insert_new(T, {Key, Me}) for the same 6000 keys,
%% half of them in ascending and half in descending order. Each key is won
%% by exactly one of them, holds that winner's object, and a reader never
%% sees a key change hands or disappear once it has a winner.
insert_new_racing_on_the_same_keys_has_exactly_one_winner_per_key(Config) ->
    each(Config, ?TYPES, fun one_winner/3).

one_winner(M, Type, Opts) ->
    T = M:new(cc_one_winner, [Type, public | Opts]),
    Order = fun(W) when W rem 2 =:= 0 -> seq(?IN_KEYS);
               (_) -> lists:reverse(seq(?IN_KEYS))
            end,
    {Wins, _, Bad} = run([fun() -> {[I || I <- Order(W), M:insert_new(T, {key(I), W})], []} end
                          || W <- seq(?WRITERS)],
                         [fun(Stop) -> iw_reader(M, T, Stop) end || _ <- [1, 2]]),
    Final = case Bad of
                [] ->
                    Winners = lists:sort(lists:append([[{I, W} || I <- Is]
                                                       || {W, Is} <- lists:zip(seq(?WRITERS), Wins)])),
                    Keys = [I || {I, _} <- Winners],
                    Table = lists:sort([{key_index(K), W} || {K, W} <- M:tab2list(T)]),
                    [{keys_won_not_once, dups_or_gaps, Keys -- seq(?IN_KEYS), seq(?IN_KEYS) -- Keys}
                     || Keys =/= seq(?IN_KEYS)] ++
                        [{table_is_not_the_winners, {missing, Winners -- Table}, {extra, Table -- Winners}}
                         || Table =/= Winners] ++
                        size_agrees(M, T);
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

iw_reader(M, T, Stop) ->
    iw_reader(M, T, Stop, #{}, []).

iw_reader(M, T, Stop, Seen, Bad) ->
    I = rand:uniform(?IN_KEYS),
    K = key(I),
    Now = M:lookup(T, K),
    Bad1 = case {Now, maps:get(I, Seen, none)} of
               {[], none} -> Bad;
               {[{K, W}], none} when is_integer(W) -> Bad;
               {[{K, W}], W} -> Bad;
               {Other, Before} -> note({changed, K, before, Before, now, Other}, Bad)
           end,
    Seen1 = case Now of [{K, W1}] -> Seen#{I => W1}; _ -> Seen end,
    case stopped(Stop) of
        true -> {ok, Bad1};
        false -> iw_reader(M, T, Stop, Seen1, Bad1)
    end.

-define(RACERS, 3).
-define(ROUNDS, 80).

%% Rounds of three processes calling insert_new(T, List) at once (started
%% together by a barrier), their lists sharing one key (placed first, last
%% or in the middle) and otherwise disjoint; list lengths run from 1 to
%% 1500 (long lists take another path in xets). In every round exactly one
%% call returns true, the table then holds every object of the winner and
%% none of the losers', and a reader looking at the round's keys meanwhile
%% never sees a loser's object (the call is isolated: no half-done list).
list_insert_new_races_have_one_winner_that_inserted_all_and_losers_nothing(Config) ->
    each(Config, ?TYPES, fun list_winner/3).

list_winner(M, Type, Opts) ->
    T = M:new(cc_list_winner, [Type, public | Opts]),
    Barrier = atomics:new(1, []),
    Round = atomics:new(1, []),
    {Outcomes, Seen, Bad} = run([fun() -> ln_racer(M, T, P, Barrier, Round) end || P <- seq(?RACERS)],
                                [fun(Stop) -> ln_reader(M, T, Round, Stop) end || _ <- [1, 2]]),
    Final = case Bad of
                [] ->
                    ByRound = lists:foldl(fun(O = {{R, _}, _}, Acc) -> add(R, O, Acc);
                                             (O = {{R, _, _}, _}, Acc) -> add(R, O, Acc)
                                          end, #{}, M:tab2list(T)),
                    ln_check(Outcomes, lists:usort(lists:append(Seen)), ByRound) ++ size_agrees(M, T);
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

ln_check(Outcomes, Seen, ByRound) ->
    lists:append(
      [begin
           Winners = [P || {P, Won} <- lists:zip(seq(?RACERS), [lists:nth(R, O) || O <- Outcomes]), Won],
           Present = lists:sort(maps:get(R, ByRound, [])),
           case Winners of
               [W] ->
                   Expected = lists:sort(ln_list(R, W)),
                   [{round, R, winner, W, {missing, length(Expected -- Present)},
                     {extra, lists:sublist(Present -- Expected, ?KEEP)}} || Present =/= Expected] ++
                       [{round, R, reader_saw_a_loser, P} || {R1, P} <- Seen, R1 =:= R, P =/= W];
               _ ->
                   [{round, R, winners, Winners}]
           end
       end || R <- seq(?ROUNDS)]).

add(R, O, Acc) ->
    maps:update_with(R, fun(L) -> [O | L] end, [O], Acc).

ln_len(R) ->
    element(R rem 5 + 1, {1, 7, 100, 900, 1500}).

%% Racer P's list in round R: the shared key {R, shared} and its own keys
%% {R, P, I}, every object tagged P.
ln_list(R, P) ->
    Own = [{{R, P, I}, P} || I <- seq(ln_len(R))],
    Shared = {{R, shared}, P},
    case P of
        1 -> [Shared | Own];
        2 -> Own ++ [Shared];
        _ -> {A, B} = lists:split(length(Own) div 2, Own), A ++ [Shared | B]
    end.

ln_racer(M, T, P, Barrier, Round) ->
    {[begin
          List = ln_list(R, P),
          P =:= 1 andalso atomics:put(Round, 1, R),
          barrier(Barrier, R * ?RACERS),
          M:insert_new(T, List)
      end || R <- seq(?ROUNDS)], []}.

%% Returns [{Round, Racer}] for every racer whose objects it saw.
ln_reader(M, T, Round, Stop) ->
    ln_reader(M, T, Round, Stop, #{}).

ln_reader(M, T, Round, Stop, Seen) ->
    R = atomics:get(Round, 1),
    P = rand:uniform(?RACERS),
    Seen1 = case R of
                0 ->
                    Seen;
                _ ->
                    Own = [Q || {_, Q} <- M:lookup(T, {R, P, rand:uniform(ln_len(R))})],
                    Shared = [Q || {_, Q} <- M:lookup(T, {R, shared})],
                    lists:foldl(fun(Q, S) -> S#{{R, Q} => true} end, Seen, Own ++ Shared)
            end,
    case stopped(Stop) of
        true -> {maps:keys(Seen1), []};
        false -> ln_reader(M, T, Round, Stop, Seen1)
    end.

%%====================================================================
%% Isolation of list inserts
%%====================================================================

%% A writer inserts generation after generation of a list holding one
%% object {Key, Gen} for each of its keys (1200 keys: a long list; another
%% writer does 100 keys: a short one). As each list is inserted atomically
%% and in isolation, once a reader has seen generation G on any key of a
%% writer, every later read of any key of that writer sees G or later: the
%% generations a reader meets, in the order it meets them, never go down.
%% In a bag or duplicate_bag the objects accumulate, and a key with
%% generation G holds exactly generations 1..G. The writers go on until
%% the readers have done ?IS_READS lookups (or a cap on generations), so
%% that reads overlap inserts however fast either side is.
-define(IS_READS, 100000).

readers_never_see_a_list_insert_half_done(Config) ->
    each(Config, ?TYPES, fun isolation/3).

isolation(M, Type, Opts) ->
    T = M:new(cc_isolation, [Type, public | Opts]),
    %% {Name, keys, most generations}: objects accumulate in bags
    Sets = [{long, 1200, case keyed(Type) of true -> 500; false -> 30 end},
            {short, 100, case keyed(Type) of true -> 5000; false -> 300 end}],
    true = M:insert(T, [{{Name, I}, 1} || {Name, N, _} <- Sets, I <- seq(N)]),
    Reads = atomics:new(1, []),
    {_, _, Bad} = run([fun() -> is_writer(M, T, Name, N, 2, Gens, Reads) end || {Name, N, Gens} <- Sets],
                      [fun(Stop) -> is_reader(M, T, Type, Sets, Reads, Stop) end || _ <- [1, 2, 3]]),
    M:delete(T),
    Bad.

is_writer(M, T, Name, N, G, Gens, Reads) ->
    true = M:insert(T, [{{Name, I}, G} || I <- seq(N)]),
    case G >= Gens orelse atomics:get(Reads, 1) >= ?IS_READS of
        true -> {ok, []};
        false -> is_writer(M, T, Name, N, G + 1, Gens, Reads)
    end.

is_reader(M, T, Type, Sets, Reads, Stop) ->
    is_reader(M, T, Type, Sets, Reads, Stop, #{}, []).

is_reader(M, T, Type, Sets, Reads, Stop, Max, Bad) ->
    atomics:add(Reads, 1, 1),
    {Name, N, _} = pick(Sets),
    K = {Name, rand:uniform(N)},
    Objs = M:lookup(T, K),
    Gens = lists:sort([G || {_, G} <- Objs]),
    G = lists:max([0 | Gens]),
    Before = maps:get(Name, Max, 0),
    Bad1 = if
               Objs =:= [] -> note({absent, K}, Bad);
               G < Before -> note({went_back, K, before, Before, now, G}, Bad);
               true -> Bad
           end,
    Bad2 = case keyed(Type) orelse Gens =:= seq(G) of
               true -> Bad1;
               false -> note({not_generations_1_to_g, K, Gens}, Bad1)
           end,
    case stopped(Stop) of
        true -> {ok, Bad2};
        false -> is_reader(M, T, Type, Sets, Reads, Stop, Max#{Name => max(G, Before)}, Bad2)
    end.

%%====================================================================
%% take/2 races
%%====================================================================

-define(TK_KEYS, 16).
-define(TK_OPS, 8000).

%% Four producers insert unique objects on 16 shared keys (insert_new in a
%% set, insert in a bag) while four takers take/2 the same keys. take is
%% atomic, so every object inserted ends in exactly one place: one taker's
%% haul or the table. A taken object twice, one lost, or one never
%% inserted fails.
take_racing_on_shared_keys_hands_each_object_to_exactly_one_taker(Config) ->
    each(Config, ?TYPES, fun take_race/3).

take_race(M, Type, Opts) ->
    T = M:new(cc_take, [Type, public | Opts]),
    {Inserted, Taken, Bad} = run([fun() -> tk_producer(M, T, Type, P) end || P <- seq(4)],
                                 [fun(Stop) -> tk_taker(M, T, Type, Stop) end || _ <- seq(4)]),
    Final = case Bad of
                [] ->
                    In = lists:sort(lists:append(Inserted)),
                    Out = lists:sort(lists:append(Taken) ++ M:tab2list(T)),
                    [{objects, {lost, lists:sublist(In -- Out, ?KEEP)},
                      {twice_or_never_inserted, lists:sublist(Out -- In, ?KEEP)}} || In =/= Out] ++
                        size_agrees(M, T);
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

tk_producer(M, T, Type, P) ->
    rand:seed(exsss, {P, 4, 4}),
    Ins = lists:append(
            [begin
                 Obj = {key(rand:uniform(?TK_KEYS)), P, N},
                 case keyed(Type) of
                     true -> case M:insert_new(T, Obj) of true -> [Obj]; false -> [] end;
                     false when N rem 5 =:= 0 ->
                         Two = [Obj, {key(rand:uniform(?TK_KEYS)), P, -N}],
                         true = M:insert(T, Two),
                         Two;
                     false ->
                         true = M:insert(T, Obj),
                         [Obj]
                 end
             end || N <- seq(?TK_OPS)]),
    {Ins, []}.

tk_taker(M, T, Type, Stop) ->
    tk_taker(M, T, Type, Stop, [], []).

tk_taker(M, T, Type, Stop, Haul, Bad) ->
    K = key(rand:uniform(?TK_KEYS)),
    Got = M:take(T, K),
    Bad1 = case [O || O <- Got, element(1, O) =/= K] =:= [] andalso
               (length(Got) =< 1 orelse not keyed(Type)) of
               true -> Bad;
               false -> note({take_returned, K, Got}, Bad)
           end,
    case stopped(Stop) of
        true -> {Got ++ Haul, Bad1};
        false -> tk_taker(M, T, Type, Stop, Got ++ Haul, Bad1)
    end.

%%====================================================================
%% Traversals
%%====================================================================

-define(TR_KEYS, 3000).
-define(TR_OPS, 6000).

%% 3000 keys of mixed term types; every fifth is "stable": inserted before
%% the run and never touched. Four writers churn the others (insert,
%% lists, delete, take, insert_new, delete_object) while four walkers
%% traverse: first/next and last/prev chains, tab2list, foldl, foldr, and
%% next/prev from arbitrary keys. Every complete traversal is strictly
%% increasing in term order (decreasing backwards), so it never meets a key
%% twice, and it meets every stable key, with its stable object.
ordered_set_traversals_are_strictly_ordered_and_meet_every_stable_key_once(Config) ->
    each(Config, [ordered_set], fun traversals/3).

%% As above on set, bag and duplicate_bag, first/next and last/prev under
%% safe_fixtable/2: a walk never returns a key twice and returns every
%% stable key; tab2list, foldl and foldr never return an object twice
%% (every object written is unique) and return every stable object once.
%% In a bag the writers also add and remove objects under stable keys,
%% which keeps the key present.
hash_traversals_meet_every_stable_object_once_and_no_object_twice(Config) ->
    each(Config, ?HASH_TYPES, fun traversals/3).

traversals(M, Type, Opts) ->
    T = M:new(cc_traversals, [Type, public | Opts]),
    StableObjs = lists:append([stable_objects(Type, I) || I <- seq(?TR_KEYS), stable(I)]),
    true = M:insert(T, StableObjs),
    true = M:insert(T, [{key(I), 0, I} || I <- seq(?TR_KEYS), not stable(I), I rem 2 =:= 0]),
    Ctx = #{m => M, t => T, type => Type,
            stable_keys => lists:usort([element(1, O) || O <- StableObjs]),
            stable_set => maps:from_list([{element(1, O), true} || O <- StableObjs]),
            stable_objs => lists:sort(StableObjs),
            domain => maps:from_list([{key(I), true} || I <- seq(?TR_KEYS)])},
    {_, _, Bad} = run([fun() -> tr_writer(M, T, Type, W) end || W <- seq(4)],
                      [fun(Stop) -> tr_walker(Ctx, Stop) end || _ <- seq(4)]),
    M:delete(T),
    Bad.

stable(I) ->
    I rem 5 =:= 0.

stable_objects(Type, I) ->
    case keyed(Type) of
        true -> [{key(I), stable, I}];
        false -> [{key(I), stable, I}, {key(I), stable, -I}]
    end.

tr_writer(M, T, Type, W) ->
    rand:seed(exsss, {W, 5, 5}),
    [tr_op(M, T, Type, W, N) || N <- seq(?TR_OPS)],
    {ok, []}.

tr_op(M, T, Type, W, N) ->
    I = churn_index(),
    K = key(I),
    Obj = {K, W, N},
    case rand:uniform(8) of
        1 -> M:delete(T, K);
        2 -> M:take(T, K);
        3 -> M:insert_new(T, Obj);
        4 -> M:insert(T, [{key(churn_index()), W, {N, J}} || J <- seq(rand:uniform(40))]);
        5 -> M:delete_object(T, {K, W, N - rand:uniform(50)});
        6 when not (Type =:= set orelse Type =:= ordered_set) ->
            %% objects come and go under a stable key; the key stays
            S = key(5 * rand:uniform(?TR_KEYS div 5)),
            M:insert(T, {S, W, N}),
            M:delete_object(T, {S, W, N - rand:uniform(20)});
        _ -> M:insert(T, Obj)
    end.

churn_index() ->
    case rand:uniform(?TR_KEYS) of
        I when I rem 5 =:= 0 -> I - 1;
        I -> I
    end.

tr_walker(Ctx, Stop) ->
    tr_walker(Ctx, Stop, 0, []).

tr_walker(Ctx = #{m := M, t := T, type := Type}, Stop, N, Bad) ->
    Max = 4 * ?TR_KEYS,
    Kind = pick([forward_walk, backward_walk, tab2list, foldl, foldr, next_from, prev_from]),
    Bad1 = case Kind of
               forward_walk -> tr_keys(Ctx, Kind, forward, fixed_walk(M, T, Type, forward, Max), Bad);
               backward_walk -> tr_keys(Ctx, Kind, backward, fixed_walk(M, T, Type, backward, Max), Bad);
               tab2list -> tr_objs(Ctx, Kind, forward, M:tab2list(T), Bad);
               foldl -> tr_objs(Ctx, Kind, forward,
                                lists:reverse(M:foldl(fun(O, A) -> [O | A] end, [], T)), Bad);
               foldr -> tr_objs(Ctx, Kind, backward,
                                lists:reverse(M:foldr(fun(O, A) -> [O | A] end, [], T)), Bad);
               next_from -> tr_step(Ctx, next, Bad);
               prev_from -> tr_step(Ctx, prev, Bad)
           end,
    case stopped(Stop) of
        true -> {N, Bad1};
        false -> tr_walker(Ctx, Stop, N + 1, Bad1)
    end.

%% Checks the keys of one traversal, in the order met.
tr_keys(_Ctx, Kind, _Dir, {runaway, Keys}, Bad) ->
    note({Kind, runaway, lists:sublist(Keys, 20)}, Bad);
tr_keys(#{type := Type, stable_keys := Stable, stable_set := StableSet, domain := Domain},
        Kind, Dir, Keys, Bad) ->
    Ordered = Type =:= ordered_set,
    Twice = twice(Keys),
    Bad1 = case Ordered andalso not monotonic(Dir, Keys) of
               true -> note({Kind, not_strictly_ordered, first_bad_step(Dir, Keys)}, Bad);
               false -> Bad
           end,
    Bad2 = case Twice of
               [] -> Bad1;
               _ -> note({Kind, keys_twice, lists:sublist(Twice, ?KEEP)}, Bad1)
           end,
    Met = lists:sort([K || K <- Keys, maps:is_key(K, StableSet)]),
    Bad3 = case Met =:= Stable of
               true -> Bad2;
               false -> note({Kind, stable_keys_missed, lists:sublist(Stable -- Met, ?KEEP)}, Bad2)
           end,
    case [K || K <- Keys, not maps:is_key(K, Domain)] of
        [] -> Bad3;
        Odd -> note({Kind, keys_never_inserted, lists:sublist(Odd, ?KEEP)}, Bad3)
    end.

%% Checks the objects of one tab2list, foldl or foldr, in the order met.
tr_objs(Ctx = #{type := Type, stable_objs := Stable, domain := Domain}, Kind, Dir, Objs, Bad) ->
    Bad1 = case Type of
               ordered_set -> tr_keys(Ctx, Kind, Dir, [element(1, O) || O <- Objs], Bad);
               _ -> Bad
           end,
    Bad2 = case twice(Objs) of
               [] -> Bad1;
               Twice -> note({Kind, objects_twice, lists:sublist(Twice, ?KEEP)}, Bad1)
           end,
    Met = lists:sort([O || O = {_, stable, _} <- Objs]),
    Bad3 = case Met =:= Stable of
               true -> Bad2;
               false -> note({Kind, stable_objects, {missed, lists:sublist(Stable -- Met, ?KEEP)},
                              {extra, lists:sublist(Met -- Stable, ?KEEP)}}, Bad2)
           end,
    case [O || O <- Objs, not maps:is_key(element(1, O), Domain)] of
        [] -> Bad3;
        Odd -> note({Kind, objects_never_inserted, lists:sublist(Odd, ?KEEP)}, Bad3)
    end.

%% next/prev from any key, present or not, on an ordered_set: the answer
%% is strictly after (before) it, and no stable key lies strictly between.
tr_step(#{type := ordered_set, m := M, t := T, stable_keys := Stable}, Op, Bad) ->
    From = key(rand:uniform(?TR_KEYS)),
    To = M:Op(T, From),
    Between = fun(S) when Op =:= next -> S > From andalso (To =:= '$end_of_table' orelse S < To);
                 (S) -> S < From andalso (To =:= '$end_of_table' orelse S > To)
              end,
    Ok = To =:= '$end_of_table' orelse (Op =:= next andalso To > From) orelse (Op =:= prev andalso To < From),
    case {Ok, [S || S <- Stable, Between(S)]} of
        {true, []} -> Bad;
        {_, Skipped} -> note({Op, from, From, to, To, stable_skipped, lists:sublist(Skipped, ?KEEP)}, Bad)
    end;
tr_step(_Ctx, _Op, Bad) ->
    Bad.

monotonic(forward, [A, B | T]) -> A < B andalso monotonic(forward, [B | T]);
monotonic(backward, [A, B | T]) -> A > B andalso monotonic(backward, [B | T]);
monotonic(_, _) -> true.

first_bad_step(forward, [A, B | T]) when A < B -> first_bad_step(forward, [B | T]);
first_bad_step(backward, [A, B | T]) when A > B -> first_bad_step(backward, [B | T]);
first_bad_step(_, [A, B | _]) -> {A, B};
first_bad_step(_, _) -> none.

%% Elements that occur more than once (=:=).
twice(L) ->
    {_, Dups} = lists:foldl(fun(X, {Seen, D}) ->
                                    case maps:is_key(X, Seen) of
                                        true -> {Seen, [X | D]};
                                        false -> {Seen#{X => true}, D}
                                    end
                            end, {#{}, []}, L),
    Dups.

%%====================================================================
%% delete_all_objects
%%====================================================================

-define(DA_WRITERS, 6).
-define(DA_OPS, 8000).

%% Six writers insert objects {{H, W, S}, S} with S = 1, 2, 3... (alone or
%% a few consecutive ones in a list; H, a hash of {W, S}, puts a writer's
%% objects in no particular key order) while two processes empty the table
%% with delete_all_objects/1, 80 times, spread over the first 90% of the
%% writers' progress. Emptying is atomic, so:
%% - when a writer looks up a later object S1, then an earlier one S0,
%%   and S1 is gone, S0 is gone too (the emptying that removed S1 removed
%%   S0, which nobody inserts again);
%% - at the end, what survives of a writer's objects is a suffix of its
%%   sequence (if S survived, it was inserted after the last emptying, and
%%   so was every later one).
%% Also size equals the length of tab2list, every object present was
%% inserted, and a last delete_all_objects leaves nothing.
delete_all_objects_racing_with_inserts_is_atomic_and_keeps_size_consistent(Config) ->
    each(Config, ?TYPES, fun delete_all/3).

delete_all(M, Type, Opts) ->
    T = M:new(cc_delete_all, [Type, public | Opts]),
    Progress = atomics:new(1, []),
    {_, _, Bad} = run([fun() -> da_writer(M, T, W, Progress) end || W <- seq(?DA_WRITERS)] ++
                          [fun() -> da_clearer(M, T, C, Progress) end || C <- [1, 2]],
                      [fun(Stop) -> da_reader(M, T, Stop) end]),
    Final = case Bad of
                [] ->
                    Objs = M:tab2list(T),
                    Size = M:info(T, size),
                    Odd = [O || O <- Objs, not da_object(O)],
                    Suffix = [{writer, W, survivors_not_a_suffix, lists:sublist(Ss, ?KEEP)}
                              || W <- seq(?DA_WRITERS),
                                 Ss <- [lists:sort([S || {{_, W1, S}, S} <- Objs, W1 =:= W])],
                                 Ss =/= lists:seq(?DA_OPS - length(Ss) + 1, ?DA_OPS)],
                    true = M:delete_all_objects(T),
                    Empty = {M:info(T, size), M:tab2list(T), M:first(T)},
                    [{never_inserted, lists:sublist(Odd, ?KEEP)} || Odd =/= []] ++ Suffix ++
                        [{size, Size, tab2list_length, length(Objs)} || Size =/= length(Objs)] ++
                        [{not_empty_after_delete_all_objects, Empty} || Empty =/= {0, [], '$end_of_table'}];
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

da_writer(M, T, W, Progress) ->
    rand:seed(exsss, {W, 6, 6}),
    {ok, da_loop(M, T, W, Progress, 1, [])}.

da_loop(_M, _T, _W, _Progress, S, Bad) when S > ?DA_OPS ->
    Bad;
da_loop(M, T, W, Progress, S, Bad) ->
    Last = case rand:uniform(4) of
               1 ->
                   L = min(?DA_OPS, S + rand:uniform(20)),
                   true = M:insert(T, [da_object(W, X) || X <- lists:seq(S, L)]),
                   L;
               _ ->
                   true = M:insert(T, da_object(W, S)),
                   S
           end,
    atomics:add(Progress, 1, Last - S + 1),
    S1 = max(1, Last - rand:uniform(10) + 1),
    S0 = S1 - rand:uniform(40),
    Bad1 = case S0 >= 1 andalso M:lookup(T, element(1, da_object(W, S1))) =:= [] andalso
               M:lookup(T, element(1, da_object(W, S0))) =/= [] of
               true -> note({writer, W, later_object_gone, S1, earlier_one_still_there, S0}, Bad);
               false -> Bad
           end,
    da_loop(M, T, W, Progress, Last + 1, Bad1).

-define(DA_CLEARS, 40).

%% Clearer C empties the table at its share of 80 points of the writers'
%% progress, all within its first 90%.
da_clearer(M, T, C, Progress) ->
    Total = ?DA_WRITERS * ?DA_OPS,
    [begin
         At = Total * 9 * (2 * N - 2 + C) div (10 * 2 * ?DA_CLEARS),
         spin(Progress, At),
         true = M:delete_all_objects(T)
     end || N <- seq(?DA_CLEARS)],
    {ok, []}.

da_reader(M, T, Stop) ->
    da_reader(M, T, Stop, []).

da_reader(M, T, Stop, Bad) ->
    Objs = M:tab2list(T),
    Size = M:info(T, size),
    Bad1 = [{odd_object, O} || O <- Objs, not da_object(O)] ++
        [{odd_size, Size} || not is_integer(Size) orelse Size < 0] ++ Bad,
    case stopped(Stop) of
        true -> {ok, lists:sublist(Bad1, ?KEEP)};
        false -> da_reader(M, T, Stop, lists:sublist(Bad1, ?KEEP))
    end.

da_object(W, S) ->
    {{erlang:phash2({W, S}), W, S}, S}.

da_object({{H, W, S}, S}) ->
    H =:= erlang:phash2({W, S}) andalso is_integer(W) andalso W >= 1 andalso W =< ?DA_WRITERS andalso is_integer(S) andalso
        S >= 1 andalso S =< ?DA_OPS;
da_object(_) ->
    false.

%%====================================================================
%% bag and duplicate_bag: many objects under shared keys
%%====================================================================

-define(BG_KEYS, 6).
-define(BG_WRITERS, 6).
-define(BG_OPS, 6000).
%% A writer never holds more copies of one object than this in a
%% duplicate_bag.
-define(BG_COPIES, 3).

%% Six writers insert and delete_object on the same six keys: objects of
%% their own, {K, {w, W}, V} (at most three copies each in a
%% duplicate_bag), and objects shared by all, {K, shared, V}. A writer is
%% the only one to touch its own objects, so its lookups show exactly its
%% model of them. Readers never see an object under the wrong key or one
%% nobody inserts, never the same object twice in a bag, never more copies
%% of a writer's object than it ever held; at the end every key holds
%% exactly the writers' own objects of their models.
bag_readers_on_shared_keys_see_no_phantom_or_duplicate_and_no_object_is_lost(Config) ->
    each(Config, ?BAG_TYPES, fun bags/3).

bags(M, Type, Opts) ->
    T = M:new(cc_bags, [Type, public | Opts]),
    {Models, _, Bad} = run([fun() -> bg_writer(M, T, Type, W) end || W <- seq(?BG_WRITERS)],
                           [fun(Stop) -> bg_reader(M, T, Type, Stop) end || _ <- [1, 2, 3]]),
    Final = case Bad of
                [] ->
                    lists:append(
                      [begin
                           K = key(I),
                           Got = M:lookup(T, K),
                           Own = lists:sort([O || O = {_, {w, _}, _} <- Got]),
                           Expected = lists:sort(lists:append([maps:get(I, Mo, []) || Mo <- Models])),
                           [{key, K, own_objects, {missing, Expected -- Own}, {extra, Own -- Expected}}
                            || Own =/= Expected] ++ bg_check(Type, K, Got, [])
                       end || I <- seq(?BG_KEYS)]) ++ size_agrees(M, T);
                _ ->
                    []
            end,
    M:delete(T),
    Bad ++ Final.

%% Returns #{I => own objects under key(I)}.
bg_writer(M, T, Type, W) ->
    rand:seed(exsss, {W, 7, 7}),
    bg_loop(M, T, Type, W, ?BG_OPS, #{}, []).

bg_loop(_M, _T, _Type, _W, 0, Model, Bad) ->
    {Model, Bad};
bg_loop(M, T, Type, W, N, Model, Bad) ->
    I = rand:uniform(?BG_KEYS),
    K = key(I),
    Own = {K, {w, W}, rand:uniform(4)},
    Has = maps:get(I, Model, []),
    Copies = copies(Own, Has),
    {Model1, Bad1} =
        case rand:uniform(7) of
            1 ->
                true = M:delete_object(T, Own),
                {Model#{I => [O || O <- Has, O =/= Own]}, Bad};
            2 ->
                true = M:insert(T, {K, shared, rand:uniform(3)}),
                {Model, Bad};
            3 ->
                true = M:delete_object(T, {K, shared, rand:uniform(3)}),
                {Model, Bad};
            4 ->
                Mine = lists:sort([O || O = {_, {w, W1}, _} <- M:lookup(T, K), W1 =:= W]),
                {Model, expect({own_objects, K}, lists:sort(Has), Mine, Bad)};
            5 ->
                %% a list over several keys
                Objs = [O || J <- lists:usort([rand:uniform(?BG_KEYS) || _ <- seq(3)]),
                             O <- [{key(J), {w, W}, rand:uniform(4)}],
                             Type =:= bag orelse copies(O, maps:get(J, Model, [])) < ?BG_COPIES],
                true = M:insert(T, Objs),
                {lists:foldl(fun(O, Mo) ->
                                     J = key_index(element(1, O)),
                                     Mo#{J => bg_put(Type, O, maps:get(J, Mo, []))}
                             end, Model, Objs), Bad};
            _ when Type =:= bag, Copies > 0 ->
                true = M:insert(T, Own),
                {Model, Bad};
            _ when Copies >= ?BG_COPIES ->
                true = M:delete_object(T, Own),
                {Model#{I => [O || O <- Has, O =/= Own]}, Bad};
            _ ->
                true = M:insert(T, Own),
                {Model#{I => Has ++ [Own]}, Bad}
        end,
    bg_loop(M, T, Type, W, N - 1, Model1, Bad1).

copies(O, Objs) ->
    length([X || X <- Objs, X =:= O]).

bg_put(bag, O, Has) ->
    case lists:member(O, Has) of
        true -> Has;
        false -> Has ++ [O]
    end;
bg_put(duplicate_bag, O, Has) ->
    Has ++ [O].

bg_reader(M, T, Type, Stop) ->
    bg_reader(M, T, Type, Stop, []).

bg_reader(M, T, Type, Stop, Bad) ->
    K = key(rand:uniform(?BG_KEYS)),
    Bad1 = bg_check(Type, K, M:lookup(T, K), Bad),
    case stopped(Stop) of
        true -> {ok, Bad1};
        false -> bg_reader(M, T, Type, Stop, Bad1)
    end.

%% What any lookup of K may return: objects of K only, each one of the
%% shapes written, no object twice in a bag, at most ?BG_COPIES copies of
%% a writer's object in a duplicate_bag.
bg_check(Type, K, Objs, Bad) ->
    Odd = [O || O <- Objs, not bg_object(K, O)],
    Twice = twice(Objs),
    TooMany = [O || O = {_, {w, _}, _} <- lists:usort(Twice),
                    length([X || X <- Objs, X =:= O]) > ?BG_COPIES],
    if
        Odd =/= [] -> note({K, never_inserted, Odd}, Bad);
        Type =:= bag, Twice =/= [] -> note({K, twice_in_a_bag, Twice}, Bad);
        TooMany =/= [] -> note({K, too_many_copies, TooMany}, Bad);
        true -> Bad
    end.

bg_object(K, {K, {w, W}, V}) ->
    is_integer(W) andalso W >= 1 andalso W =< ?BG_WRITERS andalso is_integer(V) andalso V >= 1;
bg_object(K, {K, shared, V}) ->
    lists:member(V, [1, 2, 3]);
bg_object(_, _) ->
    false.

%%====================================================================
%% select_replace racing with deletes in the key it replaces
%%====================================================================

-define(RR_OBJECTS, 12000).
-define(RR_DELETERS, 4).

%% A duplicate_bag key of 12,000 objects {k, I, 0}, more than a chunk of
%% the implementation takes, while four processes delete_object/2 the
%% objects of even I in its older half: select_replace/2 turns each object
%% it meets into one it would match again, {k, I, {0}} (by a spec run in
%% C) or {k, I, 1} (in Erlang). Each object is replaced or deleted
%% atomically, and replaced at most once: every object left is replaced
%% once, those of odd I are all left, and the count is how many are left
%% (a delete that comes after the replacement finds no {k, I, 0}).
select_replace_racing_with_deletes_in_its_key_replaces_each_object_once(Config) ->
    each(Config, [duplicate_bag], fun replace_race/3).

replace_race(M, Type, Opts) ->
    lists:append([replace_race(M, Type, Opts, MS, Once)
                  || {MS, Once} <- [{[{{k, '$1', '$2'}, [], [{{k, '$1', {{'$2'}}}}]}], {0}},
                                    {[{{k, '$1', '$2'}, [], [{{k, '$1', {'+', '$2', 1}}}]}], 1}]]).

replace_race(M, Type, Opts, MS, Once) ->
    T = M:new(cc_replace, [Type, public | Opts]),
    true = M:insert(T, [{k, I, 0} || I <- seq(?RR_OBJECTS)]),
    Replace = fun() -> {M:select_replace(T, MS), []} end,
    Delete = fun(D) ->
                     fun() ->
                             [true = M:delete_object(T, {k, I, 0})
                              || I <- seq(?RR_OBJECTS div 2), I rem (2 * ?RR_DELETERS) =:= 2 * D],
                             {deleted, []}
                     end
             end,
    {[Count | _], [], Bad} = run([Replace | [Delete(D) || D <- lists:seq(0, ?RR_DELETERS - 1)]], []),
    Left = M:lookup(T, k),
    Final = [{MS, not_replaced_once, lists:sublist([O || {k, _, N} = O <- Left, N =/= Once], ?KEEP)}
             || lists:any(fun({k, _, N}) -> N =/= Once end, Left)] ++
        [{MS, odd_objects_lost, lists:sublist([I || I <- seq(?RR_OBJECTS), I rem 2 =:= 1] --
                                                   [I || {k, I, _} <- Left], ?KEEP)}
         || length([I || {k, I, _} <- Left, I rem 2 =:= 1]) =/= ?RR_OBJECTS div 2] ++
        [{MS, count, Count, objects_left, length(Left)} || Count =/= length(Left)],
    M:delete(T),
    Bad ++ Final.

%%====================================================================
%% Deletion of a busy table
%%====================================================================

-define(DL_STREAK, 30).

%% Eight processes run every kind of call on a table (lookups, inserts of
%% objects and lists, insert_new, take, counters, delete_all_objects,
%% fixed walks, tab2list, foldl, info) while its owner deletes it. Every
%% call returns normally or raises error:badarg; once a process has seen
%% the table gone it never sees it again; nobody crashes; afterwards
%% info/1 says undefined, all/0 does not list it, and new tables work.
deleting_a_busy_table_gives_every_process_a_result_or_badarg(Config) ->
    each(Config, ?TYPES, fun busy_delete/3).

busy_delete(M, Type, Opts) ->
    T = M:new(cc_busy_delete, [Type, public | Opts]),
    true = M:insert(T, [{I, 0, I} || I <- seq(2000)]),
    Progress = atomics:new(1, []),
    Pids = [start(fun() -> dl_worker(M, T, Type, W, Progress) end) || W <- seq(?WRITERS)],
    wait_for(fun() -> atomics:get(Progress, 1) >= ?WRITERS * 100 end),
    true = M:delete(T),
    Results = [collect(P) || P <- Pids],
    {_, Bad} = split(Results),
    After = [{info_after_delete, I} || I <- [M:info(T)], I =/= undefined] ++
        [{still_in_all} || lists:member(T, M:all())] ++
        [{lookup_after_delete, R} || R <- [t(fun() -> M:lookup(T, 1) end)], R =/= {error, badarg}],
    T2 = M:new(cc_busy_delete, [Type, public | Opts]),
    true = M:insert(T2, {a, 1, 1}),
    Alive = [{new_table_after_delete, L} || L <- [M:lookup(T2, a)], L =/= [{a, 1, 1}]],
    M:delete(T2),
    Bad ++ After ++ Alive.

dl_worker(M, T, Type, W, Progress) ->
    rand:seed(exsss, {W, 8, 8}),
    dl_loop(M, T, Type, Progress, 0, false, []).

dl_loop(_M, _T, _Type, _Progress, ?DL_STREAK, _Gone, Bad) ->
    {ok, Bad};
dl_loop(M, T, Type, Progress, Streak, Gone, Bad) ->
    atomics:add(Progress, 1, 1),
    {Op, F} = dl_op(M, T, Type),
    case t(F) of
        {ok, undefined} when Op =:= info ->
            dl_loop(M, T, Type, Progress, Streak + 1, true, Bad);
        {ok, _} when Gone ->
            dl_loop(M, T, Type, Progress, 0, Gone, note({came_back, Op}, Bad));
        {ok, _} ->
            dl_loop(M, T, Type, Progress, 0, Gone, Bad);
        {error, badarg} ->
            dl_loop(M, T, Type, Progress, Streak + 1, true, Bad);
        Other ->
            dl_loop(M, T, Type, Progress, Streak, Gone, note({Op, Other}, Bad))
    end.

dl_op(M, T, Type) ->
    K = rand:uniform(2500),
    case rand:uniform(16) of
        1 -> {lookup, fun() -> M:lookup(T, K) end};
        2 -> {insert, fun() -> M:insert(T, {K, 1, K}) end};
        3 -> {insert_list, fun() -> M:insert(T, [{K + I, 2, I} || I <- seq(50)]) end};
        4 -> {insert_new_list, fun() -> M:insert_new(T, [{-K - I, 3, I} || I <- seq(50)]) end};
        5 when Type =:= set; Type =:= ordered_set ->
            {update_counter, fun() -> M:update_counter(T, K, {2, 1}, {K, 0, 0}) end};
        5 -> {delete_object, fun() -> M:delete_object(T, {K, 0, K}) end};
        6 -> {take, fun() -> M:take(T, K) end};
        7 -> {delete, fun() -> M:delete(T, K) end};
        8 -> {member, fun() -> M:member(T, K) end};
        9 -> {info, fun() -> M:info(T, size) end};
        10 -> {walk, fun() -> fixed_walk(M, T, Type, forward, 100000) end};
        11 -> {tab2list, fun() -> M:tab2list(T) end};
        12 -> {foldl, fun() -> M:foldl(fun(_, N) -> N + 1 end, 0, T) end};
        13 -> {first_last, fun() -> {M:first(T), M:last(T)} end};
        14 -> {lookup_element, fun() -> catch_badarg_lookup_element(M, T, K) end};
        15 when K rem 50 =:= 0 -> {delete_all_objects, fun() -> M:delete_all_objects(T) end};
        _ -> {insert_new, fun() -> M:insert_new(T, {K, 4, K}) end}
    end.

%% lookup_element/3 raises badarg for a missing key too: only a call that
%% also fails on member/2 tells that the table is gone.
catch_badarg_lookup_element(M, T, K) ->
    try M:lookup_element(T, K, 2)
    catch error:badarg -> M:member(T, K)
    end.

%%====================================================================
%% Helpers
%%====================================================================

%% Runs Check(Mod, Type, Opts) for every type in Types and every option
%% set; fails with the violations of each combination that had any.
each(Config, Types, Check) ->
    M = ?config(mod, Config),
    Bad = [{Type, Opts, lists:sublist(V, 2 * ?KEEP)}
           || Type <- Types, Opts <- ?OPTS, V <- [Check(M, Type, Opts)], V =/= []],
    case Bad of
        [] -> ok;
        _ -> ct:fail({violations, Bad})
    end.

%% Runs Writers (funs) and Readers (funs of a stop flag) at once; readers
%% run until every writer has returned. Every worker returns {Data,
%% Violations}. Returns {WritersData, ReadersData, Violations}, a crash
%% being a violation.
run(Writers, Readers) ->
    Stop = atomics:new(1, []),
    WP = [start(W) || W <- Writers],
    RP = [start(fun() -> R(Stop) end) || R <- Readers],
    {WD, WB} = split([collect(P) || P <- WP]),
    atomics:put(Stop, 1, 1),
    {RD, RB} = split([collect(P) || P <- RP]),
    {WD, RD, WB ++ RB}.

split(Results) ->
    lists:foldr(fun({crashed, C, R, S}, {Ds, Bs}) -> {Ds, [{crashed, C, R, S} | Bs]};
                   ({D, B}, {Ds, Bs}) -> {[D | Ds], B ++ Bs}
                end, {[], []}, Results).

%% Linked, so that a timetrap takes the workers down with the test case.
start(F) ->
    Parent = self(),
    spawn_link(fun() ->
                       Parent ! {done, self(), try F() catch C:R:S -> {crashed, C, R, S} end}
               end).

collect(Pid) ->
    receive {done, Pid, R} -> R end.

stopped(Stop) ->
    atomics:get(Stop, 1) =:= 1.

%% Waits until N processes have arrived (counting every arrival since the
%% start): a reusable barrier for racers that arrive once per round.
barrier(Barrier, N) ->
    atomics:add(Barrier, 1, 1),
    spin(Barrier, N).

spin(Barrier, N) ->
    case atomics:get(Barrier, 1) >= N of
        true -> ok;
        false -> erlang:yield(), spin(Barrier, N)
    end.

%% Polls a progress condition (not a pass/fail criterion).
wait_for(F) ->
    case F() of
        true -> ok;
        false -> timer:sleep(1), wait_for(F)
    end.

%% Keys of a walk in the order met: first/next forward, last/prev
%% backward, under safe_fixtable/2 on hash tables as ets requires.
%% {runaway, Keys} if it has not ended after Max steps.
fixed_walk(M, T, ordered_set, Dir, Max) ->
    walk(M, T, Dir, Max);
fixed_walk(M, T, _Type, Dir, Max) ->
    true = M:safe_fixtable(T, true),
    try
        walk(M, T, Dir, Max)
    after
        catch M:safe_fixtable(T, false)
    end.

walk(M, T, forward, Max) ->
    walk(M, T, next, M:first(T), Max, []);
walk(M, T, backward, Max) ->
    walk(M, T, prev, M:last(T), Max, []).

walk(_M, _T, _Next, '$end_of_table', _Max, Acc) ->
    lists:reverse(Acc);
walk(_M, _T, _Next, _K, 0, Acc) ->
    {runaway, lists:reverse(Acc)};
walk(M, T, Next, K, Max, Acc) ->
    walk(M, T, Next, M:Next(T, K), Max - 1, [K | Acc]).

%% After the run: size equals the objects tab2list finds.
size_agrees(M, T) ->
    Size = M:info(T, size),
    Len = length(M:tab2list(T)),
    [{size, Size, tab2list_length, Len} || Size =/= Len].

%% The I-th key of a domain mixing term types, so that ordered_set order
%% crosses type boundaries; no two keys compare equal.
key(I) ->
    case I rem 6 of
        0 -> I;
        1 -> I + 0.5;
        2 -> list_to_atom("k" ++ integer_to_list(I));
        3 -> {I};
        4 -> [I];
        5 -> <<I:32>>
    end.

key_index(I) when is_integer(I) -> I;
key_index(F) when is_float(F) -> trunc(F);
key_index(A) when is_atom(A) -> list_to_integer(tl(atom_to_list(A)));
key_index({I}) -> I;
key_index([I]) -> I;
key_index(<<I:32>>) -> I.

keyed(Type) ->
    Type =:= set orelse Type =:= ordered_set.

%% The model of a writer's keys: Key => objects, as the table type keeps them.
put_obj(Type, O, Model) ->
    K = element(1, O),
    Has = maps:get(K, Model, []),
    case Type of
        set -> Model#{K => [O]};
        ordered_set -> Model#{K => [O]};
        bag -> case lists:member(O, Has) of
                   true -> Model;
                   false -> Model#{K => Has ++ [O]}
               end;
        duplicate_bag -> Model#{K => Has ++ [O]}
    end.

delete_obj(O, Model) ->
    K = element(1, O),
    case [X || X <- maps:get(K, Model, []), X =/= O] of
        [] -> maps:remove(K, Model);
        Rest -> Model#{K => Rest}
    end.

listify(L) when is_list(L) -> L;
listify(X) -> [X].

expect(_Label, Same, Same, Bad) ->
    Bad;
expect(Label, Expected, Got, Bad) ->
    note({Label, expected, Expected, got, Got}, Bad).

%% Adds a violation, keeping the first ?KEEP.
note(_V, Bad) when length(Bad) >= ?KEEP ->
    Bad;
note(V, Bad) ->
    Bad ++ [V].

pick(L) ->
    lists:nth(rand:uniform(length(L)), L).

seq(N) ->
    lists:seq(1, N).

%% The value, or the exception's class and reason.
t(F) ->
    try {ok, F()} catch C:R -> {C, R} end.
