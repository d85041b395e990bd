%% What an ets-shaped call makes of its store's failures (c_src/glue.h,
%% DESIGN.md "Errors"), proven with a store that fails on demand
%% (c_src/fault_store.h): a disk failure raises error({xets_io, Reason})
%% and changes nothing; corrupt bytes raise error({xets_io, {corrupt,
%% File, Offset}}); a store that needs I/O has it done on a dirty I/O
%% scheduler, outside any epoch section, and the call then answers as if
%% nothing had happened.
-module(xets_store_failure_tests).

-include_lib("eunit/include/eunit.hrl").

-define(EIO, {xets_io, {read, "fault", 4096, eio}}).
-define(CORRUPT, {xets_io, {corrupt, "fault", 8192}}).

%% A public set whose store fails on demand, holding {a, 1} and {b, 2}.
faulty() ->
    T = xets_nif:new(xets_fault, {xets_fault_set, public, false, 1, none, false, false,
                                  false, false}),
    true = xets:insert(T, [{a, 1}, {b, 2}]),
    T.

arm(T, Op, What) ->
    true = xets_nif:fault_arm(T, Op, What).

with_faulty(Test) ->
    T = faulty(),
    try Test(T) after xets:delete(T) end.

io_failure_raises_xets_io_and_changes_nothing_test_() ->
    Cases =
        [{put, fun(T) -> xets:insert(T, {c, 3}) end},
         {put, fun(T) -> xets:insert(T, [{c, 3}, {d, 4}]) end},
         {put, fun(T) -> xets:insert_new(T, {c, 3}) end},
         {get, fun(T) -> xets:lookup(T, a) end},
         {get, fun(T) -> xets:member(T, a) end},
         {get, fun(T) -> xets:lookup_element(T, a, 2) end},
         {get, fun(T) -> xets:insert_new(T, [{c, 3}, {d, 4}]) end},
         {remove, fun(T) -> xets:delete(T, a) end},
         {remove, fun(T) -> xets:take(T, a) end},
         {remove, fun(T) -> xets:delete_object(T, {a, 1}) end},
         {update, fun(T) -> xets:update_counter(T, a, 1) end},
         {update, fun(T) -> xets:update_element(T, a, {2, 9}) end},
         {cursor, fun(T) -> xets:first(T) end},
         {cursor, fun(T) -> xets:tab2list(T) end},
         {cursor, fun(T) -> xets:select(T, [{'_', [], ['$_']}]) end},
         {cursor, fun(T) -> xets:foldl(fun(O, A) -> [O | A] end, [], T) end}],
    [{atom_to_list(Op) ++ " " ++ integer_to_list(I),
      fun() ->
              with_faulty(
                fun(T) ->
                        arm(T, Op, io),
                        ?assertError(?EIO, Call(T)),
                        ?assertEqual([{a, 1}, {b, 2}], lists:sort(xets:tab2list(T))),
                        %% Armed once: the same call then works.
                        Call(T)
                end)
      end}
     || {I, {Op, Call}} <- lists:zip(lists:seq(1, length(Cases)), Cases)].

corrupt_bytes_raise_xets_io_corrupt_test() ->
    with_faulty(
      fun(T) ->
              arm(T, get, corrupt),
              ?assertError(?CORRUPT, xets:lookup(T, a)),
              arm(T, cursor, corrupt),
              ?assertError(?CORRUPT, xets:tab2list(T)),
              ?assertEqual([{a, 1}], xets:lookup(T, a))
      end).

%% The request runs once per armed call, on a dirty I/O scheduler, never
%% inside an epoch section; the redone call answers as an unfailing one.
needed_io_is_done_on_a_dirty_io_scheduler_then_the_call_redone_test() ->
    with_faulty(
      fun(T) ->
              Calls =
                  [{get, fun() -> ?assertEqual([{a, 1}], xets:lookup(T, a)) end},
                   {get, fun() -> ?assertEqual(false, xets:insert_new(T, [{a, 0}, {z, 0}])) end},
                   {cursor, fun() -> ?assertEqual([{a, 1}, {b, 2}],
                                                  lists:sort(xets:tab2list(T))) end},
                   {update, fun() -> ?assertEqual(2, xets:update_counter(T, a, 1)) end},
                   {remove, fun() -> ?assertEqual([{a, 2}], xets:take(T, a)) end},
                   {put, fun() -> ?assertEqual(true, xets:insert(T, {a, 5})) end}],
              {Io0, Elsewhere0, InSection0} = xets_nif:fault_log(),
              [begin arm(T, Op, need_io), Check() end || {Op, Check} <- Calls],
              ?assertEqual({Io0 + length(Calls), Elsewhere0, InSection0}, xets_nif:fault_log()),
              ?assertEqual([{a, 5}, {b, 2}], lists:sort(xets:tab2list(T)))
      end).

%% A list insert into a store that may need I/O moves to a dirty I/O
%% scheduler before it publishes anything, and there does the I/O a put
%% asks for in place (a list half published cannot be redone): all of
%% the list is inserted, the I/O done outside any epoch section.
a_list_insert_does_the_io_of_a_put_in_place_test() ->
    with_faulty(
      fun(T) ->
              {Io0, Elsewhere0, InSection0} = xets_nif:fault_log(),
              arm(T, put, need_io),
              ?assertEqual(true, xets:insert(T, [{c, 3}, {d, 4}, {e, 5}])),
              ?assertEqual({Io0 + 1, Elsewhere0, InSection0}, xets_nif:fault_log()),
              ?assertEqual([{a, 1}, {b, 2}, {c, 3}, {d, 4}, {e, 5}],
                           lists:sort(xets:tab2list(T)))
      end).

failing_io_request_raises_xets_io_test() ->
    with_faulty(
      fun(T) ->
              {Io0, _, _} = xets_nif:fault_log(),
              arm(T, get, need_io_fails),
              ?assertError(?EIO, xets:lookup(T, a)),
              ?assertMatch({Io, _, _} when Io =:= Io0 + 1, xets_nif:fault_log()),
              ?assertEqual([{a, 1}], xets:lookup(T, a))
      end).

%% Only a table of the failing store can be armed.
only_a_faulty_table_is_armed_test() ->
    T = xets:new(t, []),
    try ?assertError(badarg, xets_nif:fault_arm(T, get, io))
    after xets:delete(T)
    end.
