%% NIF loading and stubs only: every function here is replaced by C, as
%% registered in c_src/xets_nif.c (the leak-check NIFs are in
%% c_src/quiesce.c). The xets module is the documented API. A comment
%% says what the C takes and returns where the ets function of the same
%% name does not tell. A NIF given a table raises badarg where the caller may not use it
%% (info/1 and stats/1 read any table); C raises system_limit when it runs
%% out of memory.
-module(xets_nif).
-on_load(init/0).

-export([new/2, open/4, close/1, sync/1, destroy/1, move/2, disk_info/1, delete/1, info/1, stats/1, whereis/1, all/0,
         lookup/2, lookup_element/4, member/2,
         insert/2, insert_new/2, insert_object/4, delete/2, take/2, delete_object/2,
         delete_all_objects/1, update/5,
         first/3, next/4, slot/3, chunk/3, objects/3,
         safe_fixtable/2, give_away/3, setopts/3, rename/2,
         select_plan/2, select/7, select_write/2,
         reaper_drain/0, quiesce_normal/0, quiesce_dirty_cpu/2, quiesce_dirty_io/2,
         alloc_stats/0, key_encode/2, key_encode_etf/4, lookup_floor/2, fault_arm/3, fault_log/0]).

-nifs([new/2, open/4, close/1, sync/1, destroy/1, move/2, disk_info/1, delete/1, info/1, stats/1, whereis/1, all/0,
       lookup/2, lookup_element/4, member/2,
       insert/2, insert_new/2, insert_object/4, delete/2, take/2, delete_object/2,
       delete_all_objects/1, update/5,
       first/3, next/4, slot/3, chunk/3, objects/3,
       safe_fixtable/2, give_away/3, setopts/3, rename/2,
       select_plan/2, select/7, select_write/2,
       reaper_drain/0, quiesce_normal/0, quiesce_dirty_cpu/2, quiesce_dirty_io/2,
       alloc_stats/0, key_encode/2, key_encode_etf/4, lookup_floor/2, fault_arm/3, fault_log/0]).

init() ->
    Dir = case code:priv_dir(xets) of
              {error, bad_name} ->
                  filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
              D -> D
          end,
    erlang:load_nif(filename:join(Dir, "xets_nif"), 0).

-define(NIF, erlang:nif_error({not_loaded, ?MODULE})).

%% Opts: {Type, Protection, Named, Keypos, Heir, WriteConcurrency,
%% ReadConcurrency, DecentralizedCounters, Compressed}, as xets:new/2
%% normalized them. The name for a named table, else the tid; badarg if
%% the name is taken.
new(_Name, _Opts) -> ?NIF.
%% Persistent and spilling tables (c_src/persist.c, xets_disk, xets_spill).
%% Opts as new/2's; Dir an absolute path binary; Disk {Sync, MemtableBytes,
%% MemoryLimit, persistent | spill}, Sync none | always | {interval, Ms}.
%% {ok, Tab} or {error, Reason}.
open(_Name, _Opts, _Dir, _Disk) -> ?NIF.
%% ok or {error, Reason}; badarg for a table in memory or another owner's.
close(_Tab) -> ?NIF.
%% ok once every earlier write is durable (it may raise {'$xets_await',
%% ...}: xets_disk:await/3).
sync(_Tab) -> ?NIF.
destroy(_Dir) -> ?NIF.
%% ok, or {error, {locked, From} | enoent | eexist | _}.
move(_From, _To) -> ?NIF.
%% A proplist, or undefined for a table in memory.
disk_info(_Tab) -> ?NIF.
delete(_Tab) -> ?NIF.
%% badarg for a reference that is no table's; undefined for a deleted
%% table's tid or a name no table has. Otherwise {Id, Name, Type, Size,
%% MemoryBytes, Owner, Heir, Protection, Keypos, Named, WriteConcurrency,
%% ReadConcurrency, DecentralizedCounters, Compressed, Fixations,
%% FixedSinceSystemUs | false, FixedSinceMonotonicNs | false}, which
%% xets_info reads.
info(_Tab) -> ?NIF.
%% ets:info(Tab, stats)'s 8-tuple, or false for a table without buckets
%% (ordered_set) or no longer there. It walks the table, on a dirty
%% scheduler, whatever the protection.
stats(_Tab) -> ?NIF.
whereis(_Name) -> ?NIF.
all() -> ?NIF.
lookup(_Tab, _Key) -> ?NIF.
%% Default: nodefault, or {default, Default} (lookup_element/4).
lookup_element(_Tab, _Key, _Pos, _Default) -> ?NIF.
member(_Tab, _Key) -> ?NIF.
%% A list of objects, inserted atomically and in isolation; badarg for
%% anything else (xets:insert/2 sends one object to insert_object/4).
%% insert_new/2: false, inserting nothing, when a key is present.
insert(_Tab, _Objects) -> ?NIF.
insert_new(_Tab, _Objects) -> ?NIF.
%% One object, with Etf = term_to_binary(Object), made in Erlang (see
%% xets.erl, ?ETF); New: true for insert_new. true, or false when New
%% found the key.
insert_object(_Tab, _Object, _Etf, _New) -> ?NIF.
delete(_Tab, _Key) -> ?NIF.
take(_Tab, _Key) -> ?NIF.
delete_object(_Tab, _Object) -> ?NIF.
%% How many objects it deleted (ets:internal_delete_all/2's answer).
delete_all_objects(_Tab) -> ?NIF.
%% update_counter (Counter true: its integer or list of integers) and
%% update_element (Counter false: true, or false when the key is missing
%% and there is no default); Default: nodefault or {default, Object}.
update(_Tab, _Key, _Spec, _Counter, _Default) -> ?NIF.
%% Dir: forward or backward; What: key (the key) or lookup ({Key,
%% Objects}); '$end_of_table' on an empty table.
first(_Tab, _Dir, _What) -> ?NIF.
%% As first/3, from Key; What may also be walk, which answers as lookup
%% and steps from an ordered_set key '$end_of_table' too (ets's next/2
%% refuses to). On a hash table that is not fixed, badarg unless Key is in
%% the table.
next(_Tab, _Key, _Dir, _What) -> ?NIF.
%% Slot I. A hash table: the objects of bucket I (maybe []), or
%% '$end_of_table' at the bucket after the last. An ordered_set: [Object],
%% '$end_of_table' after the last object, or {continue, Left, Cursor} once
%% a call has counted past as many objects as it may, to be called again
%% with Left and Cursor (first '$end_of_table'). badarg for I past those.
slot(_Tab, _I, _Cursor) -> ?NIF.
%% One traversal chunk in direction Dir (forward or backward): {Objects,
%% Cursor}, Objects in the order visited (a bag key's oldest first forward,
%% newest first backward, as ets's foldl and foldr take them), Cursor a
%% binary to pass next or '$end_of_table' at the end (and to start).
chunk(_Tab, _Cursor, _Dir) -> ?NIF.
%% One chunk of tab2list/1: {Objects, Cursor, Reversed}, Objects the
%% chunk's objects in front of Tail (those of the chunks before), Cursor
%% as in chunk/3. The last chunk's Objects are every object, in ets's
%% order, or with Reversed (true on an ordered_set) in its reverse.
objects(_Tab, _Cursor, _Tail) -> ?NIF.
safe_fixtable(_Tab, _Fix) -> ?NIF.
give_away(_Tab, _Pid, _Data) -> ?NIF.
%% Heir: keep, none or {Pid, Data}; Protection: keep or a protection. The
%% owner only.
setopts(_Tab, _Heir, _Protection) -> ?NIF.
%% The table's identifier after the rename: the new name if named, else
%% the tid.
rename(_Tab, _Name) -> ?NIF.
%% A match spec, accepted by ets:match_spec_compile/1 or [], planned for
%% the table (c_src/select.h): {Plan, Ordered}, Ordered whether the table
%% is an ordered_set. select/7 takes the plan on any table of the same
%% type and keypos, and raises badarg on others.
select_plan(_Tab, _MatchSpec) -> ?NIF.
%% One chunk of a match-spec traversal in direction Dir (ignored on a hash
%% table), Op results, count, delete or replace. Cursor: '$end_of_table'
%% to start, else the one returned last, {KeyBinary, Left}; a chunk
%% returns '$end_of_table' for it at the end. Answers {N, Results, Cursor}
%% for Op results (N results, about Cap at most, in reverse order in front
%% of Tail), {N, Cursor} for the others (N objects counted, deleted or
%% replaced), or {deferred, Objects, Cursor} when C leaves the spec to
%% Erlang: the objects that may match, in the order visited, with nothing
%% written. badarg for replace on a bag.
select(_Tab, _Plan, _Cursor, _Dir, _Op, _Cap, _Tail) -> ?NIF.
%% Applies [{Object, Replacement | delete}], decided on the objects of a
%% deferred chunk, to the objects still equal to Object byte for byte:
%% how many objects were deleted or replaced. badarg for a replacement
%% with another key.
select_write(_Tab, _Writes) -> ?NIF.
%% For the leak check of the test suites (c_src/quiesce.h). ok once the
%% stores of deleted tables are freed (on a dirty scheduler: it waits).
reaper_drain() -> ?NIF.
%% ok, once this normal scheduler has freed what it retired.
quiesce_normal() -> ?NIF.
%% ok once this dirty scheduler has freed what it retired and N calls of
%% Round have; timeout if they have not within 2 s.
quiesce_dirty_cpu(_Round, _N) -> ?NIF.
quiesce_dirty_io(_Round, _N) -> ?NIF.
%% xets's heap use: {Blocks, Bytes}.
alloc_stats() -> ?NIF.
%% Internal, for tests and benchmarks of the codec: the canonical key
%% encoding of a term, a binary (Mode ordered or exact).
key_encode(_Term, _Mode) -> ?NIF.
%% Internal, for the benchmark's floor: lookup/2 without its store's work
%% (the table entered, the key encoded), answering [].
lookup_floor(_Tab, _Key) -> ?NIF.
%% Internal, for tests of the codec, on a dirty scheduler: the key
%% encoding of external-format bytes Etf (element Keypos of the tuple, or
%% 0: the whole term), the local node being that of NodeEtf,
%% term_to_binary/1 of one of its pids, ports or references. The
%% encoding, {error, corrupt} or {error, badarg}.
key_encode_etf(_Etf, _Keypos, _Mode, _NodeEtf) -> ?NIF.
%% Internal, for tests of what xets makes of a store's failures
%% (c_src/fault_store.h): on a table made with new/2 of type
%% xets_fault_set, the next call of store operation Op (put, get, remove,
%% update or cursor) answers as What (io, corrupt, need_io or
%% need_io_fails); fault_log/0 tells where the I/O requests ran:
%% {OnDirtyIoSchedulers, Elsewhere, InsideEpochSections}.
fault_arm(_Tab, _Op, _What) -> ?NIF.
fault_log() -> ?NIF.
