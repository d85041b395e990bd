%% xets's heap use comes back to where it was once what used it is gone:
%% the measure the leak check of every Common Test case relies on
%% (test/xets_leak_cth.erl), and the leaks it found.
-module(xets_leak_tests).
-include_lib("eunit/include/eunit.hrl").

%% A select plan (a NIF resource) was never freed: its resource type was
%% registered without telling the VM it had a destructor, and every select,
%% match and select_count left about 4 KiB behind.
select_plans_are_freed_test() ->
    T = xets:new(t, [public]),
    xets:insert(T, [{I, I} || I <- lists:seq(1, 100)]),
    Before = xets_leak_cth:at_rest(),
    run_elsewhere(fun() ->
                          [begin
                               xets:select(T, [{{'$1', '_'}, [{'<', '$1', 10}], ['$_']}]),
                               xets:select(T, [{'_', [], ['$_']}], 7),
                               xets:match(T, {'$1', 5}),
                               xets:select_count(T, [{'_', [], [true]}])
                           end || _ <- lists:seq(1, 50)]
                  end),
    ?assertEqual(Before, xets_leak_cth:at_rest()),
    xets:delete(T).

%% Tables of every type, filled, cleared, deleted or dropped with their
%% owner: the heap is back at rest.
tables_give_back_what_they_took_test() ->
    Before = xets_leak_cth:at_rest(),
    [run_elsewhere(fun() ->
                           T = xets:new(t, [Type]),
                           xets:insert(T, [{I, <<I:800>>} || I <- lists:seq(1, 2000)]),
                           [xets:delete(T, I) || I <- lists:seq(1, 2000, 3)],
                           xets:delete_all_objects(T),
                           xets:insert(T, [{I, I} || I <- lists:seq(1, 500)]),
                           How =:= delete andalso xets:delete(T)
                   end)
     || Type <- [set, ordered_set, bag, duplicate_bag], How <- [delete, owner_exit]],
    ?assertEqual(Before, xets_leak_cth:at_rest()).

%% The measure moves: a table that is alive holds heap.
a_live_table_is_counted_test() ->
    Before = xets_leak_cth:at_rest(),
    T = xets:new(t, []),
    xets:insert(T, [{I} || I <- lists:seq(1, 1000)]),
    {Blocks, Bytes} = xets_leak_cth:at_rest(),
    {Blocks0, Bytes0} = Before,
    ?assert(Blocks > Blocks0 andalso Bytes > Bytes0),
    xets:delete(T),
    ?assertEqual(Before, xets_leak_cth:at_rest()).

run_elsewhere(F) ->
    {Pid, Ref} = spawn_monitor(F),
    receive {'DOWN', Ref, process, Pid, Reason} -> ?assert(Reason =:= normal) end.
