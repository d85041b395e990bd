%% NIF loading and stubs only: every function here is replaced by C
%% (c_src/xets_nif.c). The xets module is the documented API.
-module(xets_nif).
-on_load(init/0).

-export([new/2, delete/1, info/1, stats/1, whereis/1, all/0,
         lookup/2, lookup_element/4, member/2,
         insert/2, insert_new/2, insert_object/4, delete/2, take/2, delete_object/2,
         delete_all_objects/1, update/5,
         first/3, next/4, slot/3, chunk/3, objects/3,
         safe_fixtable/2, give_away/3, setopts/3, rename/2,
         select_plan/2, select/7, select_write/2,
         reaper_drain/0, quiesce_normal/0, quiesce_dirty_cpu/2, quiesce_dirty_io/2,
         alloc_stats/0, key_encode/2, key_encode_etf/4, fault_arm/3, fault_log/0]).

-nifs([new/2, delete/1, info/1, stats/1, whereis/1, all/0,
       lookup/2, lookup_element/4, member/2,
       insert/2, insert_new/2, insert_object/4, delete/2, take/2, delete_object/2,
       delete_all_objects/1, update/5,
       first/3, next/4, slot/3, chunk/3, objects/3,
       safe_fixtable/2, give_away/3, setopts/3, rename/2,
       select_plan/2, select/7, select_write/2,
       reaper_drain/0, quiesce_normal/0, quiesce_dirty_cpu/2, quiesce_dirty_io/2,
       alloc_stats/0, key_encode/2, key_encode_etf/4, fault_arm/3, fault_log/0]).

init() ->
    Dir = case code:priv_dir(xets) of
              {error, bad_name} ->
                  filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
              D -> D
          end,
    erlang:load_nif(filename:join(Dir, "xets_nif"), 0).

-define(NIF, erlang:nif_error({not_loaded, ?MODULE})).

new(_Name, _Opts) -> ?NIF.
delete(_Tab) -> ?NIF.
info(_Tab) -> ?NIF.
%% ets:info(Tab, stats): walks the table, on a dirty scheduler.
stats(_Tab) -> ?NIF.
whereis(_Name) -> ?NIF.
all() -> ?NIF.
lookup(_Tab, _Key) -> ?NIF.
lookup_element(_Tab, _Key, _Pos, _Default) -> ?NIF.
member(_Tab, _Key) -> ?NIF.
insert(_Tab, _Objects) -> ?NIF.
insert_new(_Tab, _Objects) -> ?NIF.
insert_object(_Tab, _Object, _Etf, _New) -> ?NIF.
delete(_Tab, _Key) -> ?NIF.
take(_Tab, _Key) -> ?NIF.
delete_object(_Tab, _Object) -> ?NIF.
delete_all_objects(_Tab) -> ?NIF.
update(_Tab, _Key, _Spec, _Counter, _Default) -> ?NIF.
%% The first key, or with What = lookup {Key, Objects}. next/4 with What =
%% walk answers as with lookup, and steps from an ordered_set key
%% '$end_of_table' too (ets's next/2 refuses to).
first(_Tab, _Dir, _What) -> ?NIF.
next(_Tab, _Key, _Dir, _What) -> ?NIF.
%% Slot I: [Object], '$end_of_table', or {continue, Left, Cursor} to be
%% called again with Left and Cursor.
slot(_Tab, _I, _Cursor) -> ?NIF.
%% One traversal chunk: {Objects, Cursor}, Objects in the order visited.
chunk(_Tab, _Cursor, _Dir) -> ?NIF.
%% One chunk of tab2list/1, in front of the chunks before:
%% {Objects, Cursor, Reversed} (c_src/xets_nif.c).
objects(_Tab, _Cursor, _Tail) -> ?NIF.
safe_fixtable(_Tab, _Fix) -> ?NIF.
give_away(_Tab, _Pid, _Data) -> ?NIF.
setopts(_Tab, _Heir, _Protection) -> ?NIF.
rename(_Tab, _Name) -> ?NIF.
%% A match spec planned for a table: {Plan, Ordered} (c_src/select.h).
%% Ordered: whether the table is an ordered_set.
select_plan(_Tab, _MatchSpec) -> ?NIF.
%% One chunk of a match-spec traversal: {N, Results, Cursor} (N results in
%% reverse order in front of Tail), {N, Cursor} (N objects counted, deleted
%% or replaced) or {deferred, Objects, Cursor}.
select(_Tab, _Plan, _Cursor, _Dir, _Op, _Cap, _Tail) -> ?NIF.
%% Applies [{Object, Replacement | delete}], decided on the objects of a
%% deferred chunk: how many objects were deleted or replaced.
select_write(_Tab, _Writes) -> ?NIF.
%% For the leak check of the test suites (c_src/quiesce.h): waits until
%% the stores of deleted tables are freed; frees what the calling
%% scheduler retired; xets's heap use, {Blocks, Bytes}.
reaper_drain() -> ?NIF.
quiesce_normal() -> ?NIF.
quiesce_dirty_cpu(_Round, _N) -> ?NIF.
quiesce_dirty_io(_Round, _N) -> ?NIF.
alloc_stats() -> ?NIF.
%% Internal, for tests and benchmarks of the codec: the canonical key
%% encoding of a term (Mode ordered or exact).
key_encode(_Term, _Mode) -> ?NIF.
%% Internal, for tests of the codec: the key encoding of external-format
%% bytes Etf (element Keypos of the tuple, or 0: the whole term), the local
%% node being that of NodeEtf, term_to_binary/1 of one of its pids, ports
%% or references. The encoding, {error, corrupt} or {error, badarg}.
key_encode_etf(_Etf, _Keypos, _Mode, _NodeEtf) -> ?NIF.
%% Internal, for tests of what xets makes of a store's failures
%% (c_src/fault_store.h): on a table made with new/2 of type
%% xets_fault_set, the next call of store operation Op (put, get, remove,
%% update or cursor) answers as What (io, corrupt, need_io or
%% need_io_fails); fault_log/0 tells where the I/O requests ran:
%% {OnDirtyIoSchedulers, Elsewhere, InsideEpochSections}.
fault_arm(_Tab, _Op, _What) -> ?NIF.
fault_log() -> ?NIF.
