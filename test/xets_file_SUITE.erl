%% tab2file/2,3, file2tab/1,2 and tabfile_info/1 against ets in the same
%% VM, for every table type: the files are ets's (each library loads what
%% the other wrote, with and without {verify, true}), options and terms
%% survive the round trip, errors are ets's, a damaged file gives what ets
%% gives and leaves no table behind, and big dumps keep schedules short.
%%
%% The module under test is xets_test_lib:module_under_test(); with
%% XETS_TEST_MOD=ets every check holds for ets itself, except the file
%% that makes ets's reader loop forever, which is then skipped.
-module(xets_file_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([suite/0, all/0, groups/0, init_per_suite/1, init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_suite/1]).
-export([edge_terms_round_trip_between_both_libraries/1,
         table_options_round_trip_as_with_ets/1,
         tabfile_info_is_ets_s_on_both_kinds_of_file/1,
         named_table_whose_name_exists_cannot_be_created/1,
         verify_checks_count_and_checksum_as_ets/1,
         table_option_loads_into_an_existing_table/1,
         bad_arguments_give_ets_s_errors/1,
         truncated_files_load_as_with_ets_and_leave_no_table/1,
         corrupted_files_load_as_with_ets_and_leave_no_table/1,
         file_cut_in_a_big_item_header_ends_instead_of_looping/1,
         big_dump_and_load_keep_schedules_short/1]).

-define(TYPES, [set, ordered_set, bag, duplicate_bag]).
%% How long ets may take on one damaged file before it counts as looping.
-define(HANG_MS, 2000).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [{group, T} || T <- ?TYPES] ++
        [file_cut_in_a_big_item_header_ends_instead_of_looping,
         big_dump_and_load_keep_schedules_short].

groups() ->
    Cases = [edge_terms_round_trip_between_both_libraries,
             table_options_round_trip_as_with_ets,
             tabfile_info_is_ets_s_on_both_kinds_of_file,
             named_table_whose_name_exists_cannot_be_created,
             verify_checks_count_and_checksum_as_ets,
             table_option_loads_into_an_existing_table,
             bad_arguments_give_ets_s_errors,
             truncated_files_load_as_with_ets_and_leave_no_table,
             corrupted_files_load_as_with_ets_and_leave_no_table],
    [{T, [], Cases} || T <- ?TYPES].

init_per_suite(Config) ->
    [{mod, xets_test_lib:module_under_test()} | Config].

init_per_group(Type, Config) ->
    [{type, Type} | Config].

end_per_group(_Type, _Config) ->
    ok.

%% A directory of its own for each case's files.
init_per_testcase(_Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), integer_to_list(erlang:unique_integer([positive]))),
    ok = filelib:ensure_path(Dir),
    [{dir, Dir} | Config].

end_per_suite(_Config) ->
    ok.

%% ---- cases ---------------------------------------------------------------

%% Every edge term as key and as value, dumped by each library with each
%% kind of extended_info, loads with each library, verified or not, into
%% exactly the objects dumped.
edge_terms_round_trip_between_both_libraries(Config) ->
    Type = ?config(type, Config),
    Terms = xets_terms:edge_terms(),
    Objects = [{T, I} || {I, T} <- lists:enumerate(Terms)] ++
        [{{k, I}, T, [T | T]} || {I, T} <- lists:enumerate(Terms)] ++
        [{dup, T} || T <- lists:sublist(Terms, 20)] ++ [{dup, 1}, {dup, 1}],
    lists:foreach(
      fun(DumpOpts) ->
              [{ets, EF}, {_, XF}] = Files = dump_both(Config, [Type], Objects, DumpOpts),
              Expected = contents(ets, load_ok(ets, EF, [])),
              Expected =:= contents(ets, fill(ets, [Type], Objects)) orelse
                  ct:fail({ets_round_trip_changed_objects, DumpOpts}),
              [check_load(Config, Loader, File, Verify, Expected, {DumpOpts, Writer})
               || {Writer, File} <- Files, Loader <- [ets, ?config(mod, Config)],
                  Verify <- [[], [{verify, true}]]],
              %% Same bytes but for the header, which names the table's id,
              %% memory and owner (and the digest that covers it).
              ObjectItems = fun(F) -> tl(frames(F)) end,
              case lists:member(md5sum, proplists:get_value(extended_info, DumpOpts, [])) of
                  false -> ObjectItems(EF) =:= ObjectItems(XF) orelse Type =/= ordered_set orelse
                               ct:fail({other_object_items, DumpOpts});
                  true -> ok
              end
      end,
      [[], [{extended_info, [object_count]}], [{extended_info, [md5sum]}],
       [{extended_info, [md5sum, object_count]}, {sync, true}]]).

%% What file2tab restores (type, keypos, protection, named_table,
%% compressed, read and write concurrency; not heir nor the rest) is what
%% ets restores, whoever wrote the file.
table_options_round_trip_as_with_ets(Config) ->
    Type = ?config(type, Config),
    Mod = ?config(mod, Config),
    Combos = [[P, {keypos, K}] ++ C ++ N ++ W ++ R
              || P <- [private, protected, public], K <- [1, 2],
                 C <- [[], [compressed]], N <- [[], [named_table]],
                 W <- [[], [{write_concurrency, true}], [{write_concurrency, auto}]],
                 R <- [[], [{read_concurrency, true}]]] ++
        [[public, {heir, self(), gift}, {write_concurrency, true}, {decentralized_counters, false}]],
    lists:foreach(
      fun(Opts) ->
              Files = dump_both(Config, [Type | Opts], [{a, 1}, {b, 2}], []),
              [begin
                   EInfo = loaded_info(ets, File),
                   EInfo =:= loaded_info(Mod, File) orelse
                       ct:fail({other_options, Opts, Writer, EInfo, loaded_info(Mod, File)})
               end || {Writer, File} <- Files]
      end, Combos).

tabfile_info_is_ets_s_on_both_kinds_of_file(Config) ->
    Type = ?config(type, Config),
    Mod = ?config(mod, Config),
    lists:foreach(
      fun({Opts, DumpOpts}) ->
              [{ets, EF}, {_, XF}] = dump_both(Config, [Type | Opts], [{1, a}, {2, b}], DumpOpts),
              {ok, Info} = ets:tabfile_info(EF),
              {ok, Info} = ets:tabfile_info(XF),
              {ok, Info} = Mod:tabfile_info(EF),
              {ok, Info} = Mod:tabfile_info(XF),
              %% The header tells what the table was: pinned for a wrong
              %% writer that both readers would agree about.
              [{name, xets_file_tab}, {type, Type}, {protection, public}, {named_table, true},
               {keypos, 2}, {size, 2}, {extended_info, _}, {version, {1, 0}}] = Info
      end,
      [{[public, named_table, {keypos, 2}], []},
       {[public, named_table, {keypos, 2}], [{extended_info, [md5sum, object_count]}]}]).

named_table_whose_name_exists_cannot_be_created(Config) ->
    Type = ?config(type, Config),
    Mod = ?config(mod, Config),
    [{ets, EF}, {_, XF}] = dump_both(Config, [Type, named_table], [{1, a}], []),
    lists:foreach(fun(M) ->
                          T = M:new(xets_file_tab, [named_table, public]),
                          [{error, cannot_create_table} = M:file2tab(F) || F <- [EF, XF]],
                          %% The name still names the table that had it.
                          [] = M:tab2list(T),
                          M:delete(T),
                          [begin
                               {ok, xets_file_tab} = M:file2tab(F),
                               [{1, a}] = M:lookup(xets_file_tab, 1),
                               M:delete(xets_file_tab)
                           end || F <- [EF, XF]]
                  end, [ets, Mod]).

%% Crafted files: the end record's count and digest, the header's size,
%% a missing end record, an object {'EXIT', _} (which ets's verified read
%% takes for an unreadable one), a version from the future, a header
%% without the items ets needs.
verify_checks_count_and_checksum_as_ets(Config) ->
    Type = ?config(type, Config),
    Objects = [{I, I * 2} || I <- lists:seq(1, 250)],
    Header = fun(Ext, Size) ->
                     list_to_tuple([{name, xets_file_tab}, {type, Type}, {protection, public},
                                    {named_table, false}, {keypos, 1}, {size, Size},
                                    {major_version, 1}, {minor_version, 0},
                                    {extended_info, Ext}])
             end,
    Digest = fun(Terms) -> erlang:md5([term_to_binary(T) || T <- Terms]) end,
    Good = Header([object_count, md5sum], 250),
    Files =
        [{good, [Good | Objects] ++ [['$end_of_table', [{count, 250}, {md5, Digest([Good | Objects])}]]]},
         {wrong_count, [Good | Objects] ++ [['$end_of_table', [{count, 249}, {md5, Digest([Good | Objects])}]]]},
         {wrong_digest, [Good | Objects] ++ [['$end_of_table', [{count, 250}, {md5, Digest(Objects)}]]]},
         {no_end_record, [Good | Objects]},
         {end_record_not_last, [Good | Objects] ++ [['$end_of_table', [{count, 250}]], {extra}]},
         {wrong_header_size, [Header([], 7) | Objects]},
         {right_header_size, [Header([], 250) | Objects]},
         {end_record_without_extended_info, [Header([], 250) | Objects] ++ [['$end_of_table', [{count, 3}]]]},
         {count_only, [Header([object_count], 5) | Objects] ++ [['$end_of_table', [{count, 250}]]]},
         {exit_object, [Header([md5sum], 1), {'EXIT', x}, ['$end_of_table', [{md5, Digest([Header([md5sum], 1), {'EXIT', x}])}]]]},
         {future_version, [setelement(7, Header([], 1), {major_version, 2}), {a}]},
         {missing_name, [list_to_tuple(tl(tuple_to_list(Header([], 1)))), {a}]},
         {twice_a_tag, [setelement(2, Header([], 1), {name, b}), {a}]},
         {bad_type, [setelement(2, Header([], 1), {type, heap}), {a}]},
         {header_not_a_tuple, [[{name, a}], {a}]},
         {not_an_object, [Header([], 2), {a}, not_a_tuple]},
         {empty, []}],
    lists:foreach(fun({Name, Terms}) ->
                          File = crafted(Config, Name, Terms),
                          [same_load(Config, File, V, Name) || V <- [[], [{verify, true}]]],
                          same(Config, {tabfile_info, Name},
                               fun(M) -> M:tabfile_info(File) end)
                  end, Files).

%% The undocumented {table, Tab} of ets: load into a table of one's own
%% (that ets deletes when the load fails).
table_option_loads_into_an_existing_table(Config) ->
    Type = ?config(type, Config),
    Mod = ?config(mod, Config),
    [{ets, EF}, {_, XF}] = dump_both(Config, [Type], [{1, a}, {2, b}], []),
    lists:foreach(fun(File) ->
                          T = Mod:new(mine, [Type, public]),
                          Mod:insert(T, {0, z}),
                          {ok, T} = Mod:file2tab(File, [{table, T}, {verify, true}]),
                          [{0, z}, {1, a}, {2, b}] = lists:sort(Mod:tab2list(T)),
                          Mod:delete(T)
                  end, [EF, XF]),
    Bad = crafted(Config, cut, [{'not', a, header}]),
    T2 = Mod:new(mine, [Type, public]),
    {error, badfile} = Mod:file2tab(Bad, [{table, T2}]),
    Cut = filename:join(?config(dir, Config), "cut"),
    {ok, Bin} = file:read_file(EF),
    ok = file:write_file(Cut, binary:part(Bin, 0, byte_size(Bin) - 3)),
    {error, badfile} = Mod:file2tab(Cut, [{table, T2}, {verify, true}]),
    undefined = Mod:info(T2).

bad_arguments_give_ets_s_errors(Config) ->
    Type = ?config(type, Config),
    Dir = ?config(dir, Config),
    [{ets, EF}, {_, _}] = dump_both(Config, [Type], [{1, a}], []),
    NotLog = filename:join(Dir, "not_a_log"),
    ok = file:write_file(NotLog, <<"hello, world">>),
    Missing = filename:join(Dir, "missing"),
    InMissingDir = filename:join([Dir, "no_dir", "f"]),
    Tab = fun(M) -> M:new(t, [Type, public]) end,
    Dump = [[{extended_info, [foo]}], [{extended_info, x}], [{extended_info, [md5sum]}, {extended_info, []}],
            [foo], [{sync, maybe}], [{sync, true} | improper], not_a_list],
    [same(Config, {tab2file, O}, fun(M) -> M:tab2file(Tab(M), filename:join(Dir, "o"), O) end)
     || O <- Dump],
    [same(Config, {tab2file, F}, fun(M) -> M:tab2file(Tab(M), F, []) end)
     || F <- [Dir, InMissingDir, 123, <<"bin">>]],
    %% A table that is gone: badtab, and the file that was there is gone.
    Old = filename:join(Dir, "old"),
    same(Config, deleted_table,
         fun(M) ->
                 ok = file:write_file(Old, <<"old">>),
                 T = Tab(M),
                 M:delete(T),
                 {M:tab2file(T, Old), file:read_file(Old)}
         end),
    same(Config, not_a_table, fun(M) -> M:tab2file({not_a, table}, Old) end),
    same(Config, private_table_of_another_process,
         fun(M) ->
                 Self = self(),
                 Pid = spawn_link(fun() -> Self ! {tab, M:new(t, [Type, private])},
                                           receive stop -> ok end end),
                 T = receive {tab, T0} -> T0 end,
                 R = try M:tab2file(T, Old) after Pid ! stop end,
                 {R, file:read_file(Old)}
         end),
    Load = [[{verify, maybe}], [foo], foo, [{verify, true} | x], [{table, a}, {table, b}]],
    [same(Config, {file2tab, O}, fun(M) -> M:file2tab(EF, O) end) || O <- Load],
    [same(Config, {file2tab, F}, fun(M) -> M:file2tab(F) end)
     || F <- [Missing, NotLog, Dir, <<"bin">>, 123, missing_atom, [Missing]]],
    [same(Config, {tabfile_info, F}, fun(M) -> M:tabfile_info(F) end)
     || F <- [Missing, NotLog, <<"bin">>, 123, EF]].

%% Every cut of small dumps of each library, with and without extended
%% info and named or not: the same result as ets's and, after a failure,
%% no table and no name.
truncated_files_load_as_with_ets_and_leave_no_table(Config) ->
    Type = ?config(type, Config),
    Objects = [{I, lists:seq(1, I rem 5), <<I:32>>} || I <- lists:seq(1, 50)],
    lists:foreach(
      fun({Opts, DumpOpts}) ->
              [begin
                   {ok, Bin} = file:read_file(File),
                   Size = byte_size(Bin),
                   %% Every cut in the file header and the last item,
                   %% every seventeenth elsewhere (cuts in one frame
                   %% behave alike).
                   Cuts = lists:usort(lists:seq(0, 40) ++ lists:seq(40, Size - 1, 17) ++
                                          lists:seq(max(0, Size - 60), Size - 1)),
                   [damaged_same(Config, binary:part(Bin, 0, N), {Writer, Opts, DumpOpts, cut, N})
                    || N <- Cuts]
               end || {Writer, File} <- dump_both(Config, [Type | Opts], Objects, DumpOpts)]
      end,
      [{[named_table], []}, {[], [{extended_info, [md5sum, object_count]}]}]).

%% Bytes changed at random (seeded) in dumps with a big object, the end
%% record and both kinds of extended info.
corrupted_files_load_as_with_ets_and_leave_no_table(Config) ->
    Type = ?config(type, Config),
    Objects = [{I, lists:seq(1, I rem 5)} || I <- lists:seq(1, 200)] ++
        [{big, binary:copy(<<1, 2, 3>>, 30000)}, {'after', big}],
    rand:seed(exsss, {7, 11, erlang:phash2(Type)}),
    lists:foreach(
      fun({Opts, DumpOpts}) ->
              [begin
                   {ok, Bin} = file:read_file(File),
                   Size = byte_size(Bin),
                   [begin
                        At = rand:uniform(Size) - 1,
                        Flip = rand:uniform(255),
                        <<Pre:At/binary, B, Post/binary>> = Bin,
                        damaged_same(Config, <<Pre/binary, (B bxor Flip), Post/binary>>,
                                     {Writer, Opts, DumpOpts, flip, At, Flip})
                    end || _ <- lists:seq(1, 40)],
                   %% the frames near the end: the last objects, the end record
                   [begin
                        At = Size - rand:uniform(min(Size, 120)),
                        <<Pre:At/binary, B, Post/binary>> = Bin,
                        damaged_same(Config, <<Pre/binary, (B bxor 16#80), Post/binary>>,
                                     {Writer, Opts, DumpOpts, flip_tail, At})
                    end || _ <- lists:seq(1, 20)]
               end || {Writer, File} <- dump_both(Config, [Type | Opts], Objects, DumpOpts)]
      end,
      [{[named_table], []}, {[], [{extended_info, [md5sum]}]},
       {[named_table], [{extended_info, [object_count]}]}]).

%% disk_log, which ets reads with, loops forever on a file that ends
%% inside the 16-byte digest that heads an item of 64 KiB or more: xets
%% takes the rest of the file for bad bytes, as it does any other cut.
file_cut_in_a_big_item_header_ends_instead_of_looping(Config) ->
    case ?config(mod, Config) of
        ets -> {skip, "ets loops forever on these files"};
        Mod ->
            Config1 = [{type, set}, {dir, ?config(priv_dir, Config)} | Config],
            Small = [{I} || I <- lists:seq(1, 10)],
            Big = {big, binary:copy(<<7>>, 70000)},
            [{ets, File}, _] = dump_both(Config1, [set], [Big | Small], []),
            {ok, Bin} = file:read_file(File),
            %% The big item's frame: size, magic, then the digest of the size.
            {Frame, _} = binary:match(Bin, <<(byte_size(term_to_binary(Big))):32, 16#62574C41:32>>),
            Before = length(frames_before(Bin, Frame)) - 1,
            [begin
                 ok = file:write_file(File, binary:part(Bin, 0, Cut)),
                 {ok, T} = Mod:file2tab(File),
                 Before = Mod:info(T, size),
                 Mod:delete(T),
                 {error, badfile} = Mod:file2tab(File, [{verify, true}])
             end || Cut <- lists:seq(Frame + 8, Frame + 23)],
            ok
    end.

%% Dumping and loading 300,000 objects: no call runs for long without
%% being scheduled out (as a single NIF call over the table would).
big_dump_and_load_keep_schedules_short(Config) ->
    Mod = ?config(mod, Config),
    File = filename:join(?config(priv_dir, Config), "big.tab"),
    N = 300000,
    T = Mod:new(big, [ordered_set, public]),
    Mod:insert(T, [{I, <<I:64>>} || I <- lists:seq(1, N)]),
    ok = short_schedules(fun() -> ok = Mod:tab2file(T, File) end, 3),
    Mod:delete(T),
    ok = short_schedules(fun() ->
                                 {ok, T2} = Mod:file2tab(File, [{verify, true}]),
                                 N = Mod:info(T2, size),
                                 Mod:delete(T2),
                                 ok
                         end, 3).

%% ---- helpers -------------------------------------------------------------

%% Objects in a new table of module M.
fill(M, Opts, Objects) ->
    T = M:new(xets_file_tab, Opts),
    M:insert(T, Objects),
    T.

%% The same objects dumped by ets and by the module under test, each from
%% a table of its own: [{ets, File}, {Mod, File}].
dump_both(Config, Opts, Objects, DumpOpts) ->
    Mod = ?config(mod, Config),
    [begin
         File = filename:join(?config(dir, Config),
                              lists:concat([W, "_", erlang:unique_integer([positive]), ".tab"])),
         T = fill(M, Opts, Objects),
         ok = M:tab2file(T, File, DumpOpts),
         M:delete(T),
         {W, File}
     end || {W, M} <- [{ets, ets}, {writer, Mod}]].

%% The objects of a table, which it deletes: external formats sorted, so
%% that 0.0 and -0.0, or 1 and 1.0, are told apart whatever the order.
contents(M, T) ->
    L = lists:sort([term_to_binary(O) || O <- M:tab2list(T)]),
    M:delete(T),
    L.

load_ok(M, File, Opts) ->
    case M:file2tab(File, Opts) of
        {ok, T} -> T;
        Other -> ct:fail({M, file2tab, File, Opts, Other})
    end.

check_load(Config, M, File, Opts, Expected, What) ->
    contents(M, load_ok(M, File, Opts)) =:= Expected orelse
        ct:fail({other_objects_loaded, M, Opts, What, ?config(type, Config)}).

%% The options of the table loaded from File by M.
loaded_info(M, File) ->
    T = load_ok(M, File, [{verify, true}]),
    Info = [{I, M:info(T, I)} || I <- [type, keypos, protection, named_table, compressed,
                                       read_concurrency, write_concurrency,
                                       decentralized_counters, heir, size, owner, name]],
    M:delete(T),
    Info.

%% F(ets) and F(Mod) give the same result or raise the same exception,
%% table identifiers aside.
same(Config, What, F) ->
    Mod = ?config(mod, Config),
    case {outcome(fun() -> F(ets) end), outcome(fun() -> F(Mod) end)} of
        {R, R} -> R;
        {E, X} -> ct:fail({different, What, {ets, E}, {Mod, X}})
    end.

outcome(F) ->
    try F() of
        {ok, T} when is_reference(T) -> {ok, tid};
        R -> R
    catch Class:Reason -> {Class, Reason}
    end.

%% Loading File: ets and the module under test give the same result, the
%% same objects or the same error (and neither leaves a table behind when
%% it fails: see loaded/3).
same_load(Config, File, Opts, What) ->
    Mod = ?config(mod, Config),
    E = load_outcome(ets, File, Opts),
    X = load_outcome(Mod, File, Opts),
    E =:= X orelse ct:fail({different_load, What, Opts, {ets, E}, {Mod, X}}),
    X.

%% ets loops forever on some damaged files (see
%% file_cut_in_a_big_item_header_ends_instead_of_looping): then the load
%% runs out of time and the process disk_log loops in is killed.
load_outcome(M, File, Opts) ->
    Self = self(),
    Logs = disk_logs(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), loaded(M, File, Opts)} end),
    receive
        {Pid, R} -> erlang:demonitor(Ref, [flush]), R;
        {'DOWN', Ref, process, Pid, Why} -> {died, Why}
    after ?HANG_MS ->
            exit(Pid, kill),
            [exit(P, kill) || P <- disk_logs() -- Logs],
            loops
    end.

%% In the process that loads, which owns the table: a failed load must
%% leave it no table, hence no name.
loaded(M, File, Opts) ->
    Before = M:all(),
    Result = try M:file2tab(File, Opts) of
                 {ok, T} -> {ok, M:info(T, name), contents(M, T)};
                 Other -> Other
             catch Class:Reason -> {Class, Reason}
             end,
    case [T || T <- M:all() -- Before, M:info(T, owner) =:= self()] of
        [] -> Result;
        Left -> {table_left_behind, Result, Left}
    end.

disk_logs() ->
    [P || P <- processes(), {dictionary, D} <- [process_info(P, dictionary)],
          proplists:get_value('$initial_call', D) =:= {disk_log, init, 2}].

%% A damaged dump loads with the module under test as with ets, verified
%% or not; where ets loops, the module must not, and gets what a cut file
%% gets: what it could read, or badfile when verifying.
damaged_same(Config, Bin, What) ->
    File = filename:join(?config(dir, Config), "damaged.tab"),
    ok = file:write_file(File, Bin),
    Mod = ?config(mod, Config),
    [case load_outcome(ets, File, Opts) of
         loops when Mod =:= ets -> ok;
         loops ->
             case load_outcome(Mod, File, Opts) of
                 {ok, _, _} when Opts =:= [] -> ok;
                 {error, badfile} when Opts =/= [] -> ok;
                 Other -> ct:fail({where_ets_loops, What, Opts, Other})
             end;
         _ -> same_load(Config, File, Opts, What)
     end || Opts <- [[], [{verify, true}]]].

%% A file of the given items, written with disk_log as ets writes them.
crafted(Config, Name, Terms) ->
    File = filename:join(?config(dir, Config), atom_to_list(Name) ++ ".tab"),
    Log = make_ref(),
    {ok, Log} = disk_log:open([{name, Log}, {file, File}]),
    ok = disk_log:log_terms(Log, Terms),
    ok = disk_log:close(Log),
    File.

%% The items of a dump, as disk_log reads them.
frames(File) ->
    Log = make_ref(),
    {ok, Log} = disk_log:open([{name, Log}, {file, File}, {mode, read_only}]),
    Items = read_all(Log, start, []),
    ok = disk_log:close(Log),
    Items.

read_all(Log, Cont, Acc) ->
    case disk_log:bchunk(Log, Cont) of
        eof -> lists:append(lists:reverse(Acc));
        {Cont1, Bins, 0} -> read_all(Log, Cont1, [Bins | Acc])
    end.

%% The items wholly before byte Offset of a dump (Offset at a frame).
frames_before(Bin, Offset) ->
    <<_:8/binary, Items/binary>> = binary:part(Bin, 0, Offset),
    frames_of(Items).

frames_of(<<Size:32, _Magic:32, Item:Size/binary, Rest/binary>>) -> [Item | frames_of(Rest)];
frames_of(<<>>) -> [].

%% Runs F in a worker while this process is the node's system monitor for
%% schedules over 40 ms: a single call over the whole table takes more
%% (term_to_binary/1 of the 300,000 objects alone takes 46 ms here). The
%% machine may preempt a scheduler thread now and then (a shared host
%% held one for 31-32 ms in every run of a CI, with no long GC), so only
%% a report in every one of Attempts runs fails.
short_schedules(F, Attempts) ->
    Previous = erlang:system_monitor(self(), [{long_schedule, 40}]),
    try attempts(F, Attempts, [])
    after erlang:system_monitor(Previous)
    end.

attempts(_F, 0, Reports) ->
    ct:fail({long_schedules_in_every_run, Reports});
attempts(F, Left, Reports) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> ok = F(), Self ! {done, self()} end),
    receive {done, Pid} -> ok;
            {'DOWN', Ref, process, Pid, Why} -> ct:fail({worker_died, Why})
    end,
    receive {'DOWN', Ref, process, Pid, _} -> ok end,
    case [Info || {monitor, P, long_schedule, Info} <- flush(), P =:= Pid] of
        [] -> ok;
        Long -> attempts(F, Left - 1, [Long | Reports])
    end.

flush() ->
    receive M -> [M | flush()] after 0 -> [] end.
