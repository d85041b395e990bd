%% What a persistent table does when its disk fails it or its files are
%% damaged or of another format version (DESIGN.md, "The disk tier" and
%% "Errors"; README, "Persistent tables"), seen from Erlang on real files.
%% xets_disk_SUITE already pins a flipped byte in an SSTable's footer and
%% in the manifest's first record, an SSTable cut to nothing and a WAL's
%% last record cut short; this suite pins the rest:
%%
%% - a manifest, WAL or SSTable of another format version (valid in every
%%   checksum: not damage) is {error, {format, File}} at open, naming it;
%%   an SSTable version that disagrees with its complement is damage;
%% - a flipped byte in a data block (stored compressed, as the store
%%   writes blocks that compress) is found on read, not at open:
%%   error({xets_io, {corrupt, File, BlockOffset}}) from every call that
%%   needs the block (lookup, a write to one of its keys, a list insert
%%   touching one: then nothing of the list is applied), the rest of the
%%   table reads as before, and once the byte is mended everything does;
%% - damage at open, file by file: a flipped byte in a WAL record that a
%%   later one shows was durable, in a manifest edit, in an SSTable's
%%   index; a manifest or an SSTable cut short, a manifest of no bytes, an
%%   SSTable the manifest names gone, SSTables with no manifest: each
%%   {error, {corrupt, File, Offset}}; a WAL cut anywhere opens with
%%   exactly the batches wholly before the cut (a WAL of no bytes too);
%% - a full disk (a 4 MiB tmpfs; the tests run as root): under {sync,
%%   always} the write that meets ENOSPC raises error({xets_io, {Op, File,
%%   Offset, enospc}}), so do the writes and syncs after it until the
%%   table is reopened, reads go on; close says the failure; once there is
%%   room again the reopened table holds every write that returned, each
%%   list insert whole or absent, and a size that matches its objects.
%%   Under {sync, none} and {sync, {interval, Ms}} the failure reaches the
%%   next write, and what sync/1 made durable before it is kept;
%% - a failed fsync (ext4 on a loop device whose image lies on a full
%%   tmpfs: writes succeed, fsync fails): the waiting write raises
%%   error({xets_io, {fsync, File, _, eio | enospc}}), every write and
%%   sync/1 after it the same, close returns it; after the repair
%%   (room, e2fsck, mount) the reopened table holds every write that
%%   returned.
%%
%% Files that must be valid in every checksum but of another version are
%% written with XXH3-64 from a small port program (the suite's data
%% directory), built with the C compiler and libxxhash that the NIF
%% itself needs.
-module(xets_disk_failure_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([another_format_version_is_a_format_error_naming_the_file/1,
         a_damaged_data_block_fails_the_reads_that_need_it_and_no_others/1,
         damage_found_at_open_names_the_file_and_offset/1,
         a_wal_cut_anywhere_opens_with_the_batches_before_the_cut/1,
         a_full_disk_under_sync_always_loses_no_acknowledged_write/1,
         a_full_disk_without_sync_always_keeps_what_sync_made_durable/1,
         a_failed_fsync_stops_writes_until_reopened_and_loses_no_acknowledged_write/1]).

%% The size of the file system of the full-disk cases, and of the file
%% that fills part of it until the table has failed.
-define(TMPFS_SIZE, "4m").
-define(FILLER_BYTES, 2560 * 1024).

suite() -> [{timetrap, {minutes, 2}}].

all() ->
    [another_format_version_is_a_format_error_naming_the_file,
     a_damaged_data_block_fails_the_reads_that_need_it_and_no_others,
     damage_found_at_open_names_the_file_and_offset,
     a_wal_cut_anywhere_opens_with_the_batches_before_the_cut,
     a_full_disk_under_sync_always_loses_no_acknowledged_write,
     a_full_disk_without_sync_always_keeps_what_sync_made_durable,
     a_failed_fsync_stops_writes_until_reopened_and_loses_no_acknowledged_write].

init_per_suite(Config) ->
    Src = filename:join(?config(data_dir, Config), "xxh3_port.c"),
    Exe = filename:join(?config(priv_dir, Config), "xxh3_port"),
    Out = os:cmd("cc -O2 -o '" ++ Exe ++ "' '" ++ Src ++ "' -lxxhash 2>&1; echo \"rc=$?\""),
    case lists:suffix("rc=0\n", Out) of
        true -> [{xxh3, Exe} | Config];
        false -> ct:fail({cannot_build_xxh3_port, Out})
    end.

end_per_suite(_Config) ->
    ok.

init_per_testcase(Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    [{dir, Dir} | Config].

%% A case that failed may have left its file systems mounted and a loop
%% device attached: the loop's mount goes first, then the device, then
%% the tmpfs that holds its image.
end_per_testcase(_Case, Config) ->
    Dir = filename:absname(?config(dir, Config)),
    {ok, Mounts} = file:read_file("/proc/mounts"),
    Ours = lists:reverse([{binary_to_list(Source), binary_to_list(M)}
                          || Line <- binary:split(Mounts, <<"\n">>, [global]),
                             [Source, M | _] <- [binary:split(Line, <<" ">>, [global])],
                             lists:prefix(Dir ++ "/", binary_to_list(M))]),
    [unmount(M) || {"/dev/loop" ++ _, M} <- Ours],
    [detach(filename:join(M, "img")) || {"tmpfs", M} <- Ours],
    [unmount(M) || {"tmpfs", M} <- Ours],
    ok.

dir(Config, Name) ->
    filename:join(?config(dir, Config), Name).

%% ---- format versions -----------------------------------------------------------

another_format_version_is_a_format_error_naming_the_file(Config) ->
    Image = image(Config, ordered_set),
    [Man] = names(Image, "MANIFEST-"),
    [Wal] = names(Image, ".wal"),
    [Sst | _] = names(Image, ".sst"),
    %% The port's hash is the formats' (else what follows proves nothing):
    %% the manifest's first record as written checks.
    {ok, ManBin} = file:read_file(filename:join(Image, Man)),
    [{0, 3, _, _} | _] = records(ManBin),
    ?assertEqual(ManBin, reseal(Config, ManBin, number(Man), 0)),
    %% Each file rewritten as a version this code does not read (the
    %% logs' 2, the SSTable's 3: this code reads SSTables of versions 1
    %% and 2), every checksum right.
    [begin
         Dir = copy(Config, Image, File),
         Path = filename:join(Dir, File),
         {ok, Bin} = file:read_file(Path),
         ok = file:write_file(Path, Rewrite(Bin, number(File))),
         ?assertEqual({error, {format, File}}, xets:open(t, Dir, [ordered_set]), File)
     end || {File, Rewrite} <- [{Man, fun(B, N) -> log_version(Config, B, N, 2) end},
                                {Wal, fun(B, N) -> log_version(Config, B, N, 2) end},
                                {Sst, fun(B, _) -> sst_version(Config, B, 3, true) end}]],
    %% An SSTable version whose complement disagrees is damage, at the
    %% version's offset (sstable_format.md, "What a reader checks").
    Dir = copy(Config, Image, "complement"),
    Path = filename:join(Dir, Sst),
    {ok, Bin} = file:read_file(Path),
    ok = file:write_file(Path, sst_version(Config, Bin, 3, false)),
    ?assertEqual({error, {corrupt, Sst, byte_size(Bin) - 112 + 96}},
                 xets:open(t, Dir, [ordered_set])),
    %% The untouched image opens: the errors above were the rewrites'.
    {ok, T} = xets:open(t, copy(Config, Image, "intact"), [ordered_set]),
    ?assertEqual(image_size(), xets:info(T, size)),
    ok = xets:close(T).

%% A manifest or WAL whose first record (the header, whose payload opens
%% with an 8-byte magic and the version: log_format.md, "A log's
%% identity") names another version, resealed so that it is valid.
log_version(Config, Bin, FileNumber, Version) ->
    <<Head:33/binary, _:32, Rest/binary>> = Bin,
    reseal(Config, <<Head/binary, Version:32/little, Rest/binary>>, FileNumber, 0).

%% Bin with the checksum of its record at At computed again (the header
%% check covers only length, type and synced, which stay).
reseal(Config, Bin, FileNumber, At) ->
    <<Before:At/binary, _Sum:64, Check:32, Len:32/little, Rest0/binary>> = Bin,
    <<Type, Synced:8/binary, Payload:Len/binary, After/binary>> = Rest0,
    Covered = <<Check:32, Len:32/little, Type, Synced/binary, Payload/binary>>,
    Sum = xxh3(Config, FileNumber, Covered),
    <<Before/binary, Sum:64/little, Covered/binary, After/binary>>.

%% An SSTable with another version in its footer, the complement made to
%% agree or not, the footer's checksum right (sstable_format.md, "The
%% footer").
sst_version(Config, Bin, Version, Agree) ->
    Size = byte_size(Bin),
    <<Data:(Size - 112)/binary, _Sum:64, Fields:88/binary, _:64, Magic:8/binary>> = Bin,
    Complement = case Agree of
                     true -> bnot Version band 16#ffffffff;
                     false -> bnot 1 band 16#ffffffff
                 end,
    Rest = <<Fields/binary, Version:32/little, Complement:32/little, Magic/binary>>,
    <<Data/binary, (xxh3(Config, 0, Rest)):64/little, Rest/binary>>.

%% ---- a damaged data block, found on read ----------------------------------------

a_damaged_data_block_fails_the_reads_that_need_it_and_no_others(Config) ->
    [damaged_block(Config, Type) || Type <- [ordered_set, set]],
    ok.

damaged_block(Config, Type) ->
    Dir = dir(Config, atom_to_list(Type)),
    Objects = [{I, binary:copy(<<(I rem 251)>>, 150)} || I <- lists:seq(1, 1500)],
    {ok, T0} = xets:open(t, Dir, [Type, {memtable_bytes, 100 * 1024}]),
    true = xets:insert(T0, Objects),
    ok = xets:close(T0),
    %% The largest SSTable, a block in its middle (not its first: a
    %% lookup of a key below a table's keys may read its first block).
    {_, Sst} = lists:max([{filelib:file_size(filename:join(Dir, F)), F} || F <- names(Dir, ".sst")]),
    Path = filename:join(Dir, Sst),
    {ok, SstBin} = file:read_file(Path),
    Blocks = data_blocks(SstBin),
    ?assert(length(Blocks) >= 3),
    InSst = lists:append([Os || {_, _, Os} <- Blocks]),
    {Off, Size, Bad} = lists:nth(length(Blocks) div 2 + 1, Blocks),
    ?assert(length(Bad) > 0),
    %% Runs of a byte compress: the store wrote the block compressed.
    ?assertEqual(1, binary:at(SstBin, Off + Size)),
    Good = InSst -- Bad,
    Others = Objects -- InSst,
    ct:log("~p: ~s, ~p blocks; block at ~p: ~p objects", [Type, Sst, length(Blocks), Off, length(Bad)]),
    %% Opened again, nothing of the data is in memory; the damage comes
    %% while it is open, seen through its descriptor.
    {ok, T} = xets:open(t, Dir, [Type, public]),
    flip(Path, Off + Size div 2),
    Err = {xets_io, {corrupt, Sst, Off}},
    [?assertError(Err, xets:lookup(T, K)) || {K, _} <- Bad],
    {BadKey, BadValue} = hd(Bad),
    ?assertError(Err, xets:member(T, BadKey)),
    ?assertError(Err, xets:lookup_element(T, BadKey, 2)),
    [?assertEqual([O], xets:lookup(T, K)) || {K, _} = O <- Good],
    %% Another table of an ordered_set holds other keys, whose lookups
    %% never come here; a set's tables share the hash range, so one may.
    [case Type of
         ordered_set -> ?assertEqual([O], xets:lookup(T, K));
         set -> ?assert(lists:member(catch_io(fun() -> xets:lookup(T, K) end), [[O], Err]))
     end || {K, _} = O <- Others],
    %% Walks over the block fail the same way.
    ?assertError(Err, xets:tab2list(T)),
    ?assertError(Err, xets:select(T, [{'_', [], ['$_']}])),
    ?assertError(Err, xets:select_count(T, [{'_', [], [true]}])),
    ?assertError(Err, xets:match_object(T, {'_', '_'})),
    ?assertError(Err, xets:foldl(fun(_, N) -> N + 1 end, 0, T)),
    ?assertEqual(1500, xets:info(T, size)),
    %% Writes that need a key's state there fail and change nothing, a
    %% list insert with one such key in it not even its other keys.
    {GoodKey, GoodValue} = hd(Good),
    ?assertError(Err, xets:insert(T, {BadKey, changed})),
    ?assertError(Err, xets:delete(T, BadKey)),
    ?assertError(Err, xets:insert(T, [{GoodKey, changed}, {BadKey, changed}, {new, 1}])),
    ?assertEqual([{GoodKey, GoodValue}], xets:lookup(T, GoodKey)),
    ?assertEqual([], xets:lookup(T, new)),
    ?assertEqual(1500, xets:info(T, size)),
    %% Mended, the same table reads the block: the failures were the
    %% bytes', remembered nowhere.
    flip(Path, Off + Size div 2),
    ?assertEqual([{BadKey, BadValue}], xets:lookup(T, BadKey)),
    ?assertEqual(lists:sort(Objects), lists:sort(xets:tab2list(T))),
    %% Nor did the failed list reach the log.
    ok = xets:close(T),
    {ok, T2} = xets:open(t, Dir, [Type]),
    ?assertEqual([{GoodKey, GoodValue}], xets:lookup(T2, GoodKey)),
    ?assertEqual(1500, xets:info(T2, size)),
    true = xets:insert(T2, {BadKey, changed}),
    ?assertEqual([{BadKey, changed}], xets:lookup(T2, BadKey)),
    ok = xets:close(T2).

catch_io(F) ->
    try F() catch error:{xets_io, _} = E -> E end.

%% ---- damage at open ----------------------------------------------------------------

damage_found_at_open_names_the_file_and_offset(Config) ->
    Image = image(Config, ordered_set),
    [Man] = names(Image, "MANIFEST-"),
    [Wal] = names(Image, ".wal"),
    [Sst | _] = names(Image, ".sst"),
    Open = fun(Dir) -> xets:open(t, Dir, [ordered_set]) end,
    Read = fun(F) -> {ok, B} = file:read_file(filename:join(Image, F)), B end,
    %% A WAL record that a later record shows was durable: flipped, it is
    %% damage, not a torn tail (log_format.md).
    WalRecs = records(Read(Wal)),
    [{WalAt, 2, _, _} | _] = [R || {At, _, _, _} = R <- WalRecs, At > 0,
                                   lists:any(fun({_, _, S, _}) -> S > At end, WalRecs)],
    ?assertEqual({error, {corrupt, Wal, WalAt}}, Open(damaged(Config, Image, Wal, {flip, WalAt + 30}))),
    %% A manifest edit followed by another: each edit is durable before
    %% the next is written.
    ManRecs = records(Read(Man)),
    ?assert(length(ManRecs) >= 3),
    {EditAt, 4, _, _} = lists:nth(2, ManRecs),
    ?assertEqual({error, {corrupt, Man, EditAt}}, Open(damaged(Config, Image, Man, {flip, EditAt + 27}))),
    %% A manifest cut inside its first record, or to nothing.
    [?assertEqual({error, {corrupt, Man, 0}}, Open(damaged(Config, Image, Man, {cut, At})))
     || At <- [0, 10, 40]],
    %% An SSTable's index, flipped; an SSTable cut short.
    SstBin = Read(Sst),
    <<_:(byte_size(SstBin) - 112)/binary, _:24/binary, IxOff:64/little, _/binary>> = SstBin,
    ?assertEqual({error, {corrupt, Sst, IxOff}}, Open(damaged(Config, Image, Sst, {flip, IxOff + 3}))),
    [?assertMatch({error, {corrupt, Sst, _}}, Open(damaged(Config, Image, Sst, {cut, At})))
     || At <- [byte_size(SstBin) div 2, byte_size(SstBin) - 1, 100]],
    %% An SSTable the manifest names, gone; SSTables without a manifest
    %% (which is not then a new, empty table whose open would remove them).
    ?assertMatch({error, {corrupt, Sst, _}}, Open(damaged(Config, Image, Sst, remove))),
    NoMan = damaged(Config, Image, Man, remove),
    ?assertMatch({error, {corrupt, _, _}}, Open(NoMan)),
    ?assertEqual(lists:sort(names(Image, ".sst")), lists:sort(names(NoMan, ".sst"))),
    ok.

%% A copy of Image with File damaged: a byte flipped, cut at a length,
%% or removed.
damaged(Config, Image, File, How) ->
    Dir = copy(Config, Image, File ++ "-" ++ lists:flatten(io_lib:format("~w", [How]))),
    Path = filename:join(Dir, File),
    case How of
        {flip, At} -> flip(Path, At);
        {cut, At} -> {ok, B} = file:read_file(Path), ok = file:write_file(Path, binary:part(B, 0, At));
        remove -> ok = file:delete(Path)
    end,
    Dir.

%% ---- torn WALs ---------------------------------------------------------------------

a_wal_cut_anywhere_opens_with_the_batches_before_the_cut(Config) ->
    Image = image(Config, set),
    [Wal] = names(Image, ".wal"),
    {ok, WalBin} = file:read_file(filename:join(Image, Wal)),
    Recs = records(WalBin),
    Ends = [At + 25 + byte_size(P) || {At, _, _, P} <- Recs],
    %% Every record's bounds, a byte either side, and a few inside.
    Cuts = lists:usort(lists:append([[E - 1, E, E + 1, E - 13] || E <- Ends]) ++ [0, 1, 24, 25]),
    [begin
         Dir = copy(Config, Image, "cut-" ++ integer_to_list(Cut)),
         Path = filename:join(Dir, Wal),
         ok = file:write_file(Path, binary:part(WalBin, 0, Cut)),
         {ok, T} = xets:open(t, Dir, [set]),
         %% Batch k (k from 1, after the header) wrote {wal, k}.
         Whole = length([E || E <- tl(Ends), E =< Cut]),
         ?assertEqual(image_sst_size() + Whole, xets:info(T, size), {cut, Cut}),
         ?assertEqual([{{wal, K}, K} || K <- lists:seq(1, Whole)],
                      lists:sort(xets:select(T, [{{{wal, '_'}, '_'}, [], ['$_']}])), {cut, Cut}),
         %% The file was cut where its valid part ends; it takes writes.
         true = xets:insert(T, {after_cut, Cut}),
         ok = xets:close(T)
     end || Cut <- Cuts, Cut =< byte_size(WalBin)],
    ok.

%% ---- a full disk -------------------------------------------------------------------

a_full_disk_under_sync_always_loses_no_acknowledged_write(Config) ->
    %% A memtable larger than the disk: the WAL meets the full disk; and
    %% a small one: flushes (SSTables, manifest edits) meet it too.
    [full_disk_always(Config, Type, Memtable)
     || {Type, Memtable} <- [{set, 8 * 1024 * 1024}, {ordered_set, 64 * 1024},
                             {bag, 64 * 1024}]],
    ok.

full_disk_always(Config, Type, Memtable) ->
    Mnt = mount(Config, atom_to_list(Type)),
    Filler = fill(Mnt),
    Dir = filename:join(Mnt, "t"),
    Opts = [Type, public, {sync, always}, {memtable_bytes, Memtable}],
    {ok, T} = xets:open(t, Dir, Opts),
    %% Writers share group commits; each writes list inserts of four
    %% objects until one fails, then checks that the next is refused.
    Self = self(),
    Writers = [spawn_link(fun() -> Self ! {self(), write_until_full(T, W)} end)
               || W <- lists:seq(1, 4)],
    Results = [receive {W, R} -> R end || W <- Writers],
    Acked = lists:append([A || {A, _, _} <- Results]),
    Failed = [F || {_, F, _} <- Results],
    ct:pal("~p, memtable ~p: ~p list inserts acknowledged, then ~p",
           [Type, Memtable, length(Acked), hd([R || {_, _, R} <- Results])]),
    ?assert(length(Acked) > 10),
    [?assertMatch({_Op, File, _Offset, enospc} when is_list(File), Reason)
     || {_, _, Reason} <- Results],
    %% Refused until reopened; reads go on. sync/1 fails if the log
    %% failed (a write it covers is not durable); if a flush did (every
    %% write that was not refused is in the log), it may say ok.
    ?assertError({xets_io, _}, xets:insert(T, {late, 1})),
    ?assertError({xets_io, _}, xets:delete(T, late)),
    {_, _, {_, Failing, _, _}} = hd(Results),
    case lists:suffix(".wal", Failing) of
        true -> ?assertError({xets_io, _}, xets:sync(T));
        false -> ?assertMatch(R when R =:= ok; element(1, R) =:= xets_io,
                              catch_io(fun() -> xets:sync(T) end))
    end,
    [{W1, I1} | _] = Acked,
    ?assertMatch([{{W1, I1, 1}, I1, _}], xets:lookup(T, {W1, I1, 1})),
    %% Room again: the table stays failed (it never pretends); close says
    %% so and releases the directory.
    ok = file:delete(Filler),
    ?assertError({xets_io, _}, xets:insert(T, {late, 1})),
    ?assertMatch({error, {_, _, _, enospc}}, xets:close(T)),
    {ok, T2} = xets:open(t, Dir, Opts),
    check_reopened(T2, Acked, Failed),
    true = xets:insert(T2, {late, 1}),
    ok = xets:close(T2),
    unmount(Mnt).

%% Writer W's list inserts, {{W, I, J}, I} for J in 1..4, until one
%% fails: {Acknowledged [{W, I}], the failed {W, I}, its reason}, once
%% the write after it was refused too.
write_until_full(T, W) ->
    write_until_full(T, W, 1, []).

write_until_full(T, W, I, Acked) ->
    Payload = binary:copy(<<W>>, 300),
    try xets:insert(T, [{{W, I, J}, I, Payload} || J <- [1, 2, 3, 4]]) of
        true -> write_until_full(T, W, I + 1, [{W, I} | Acked])
    catch
        error:{xets_io, Reason} ->
            Next = try xets:insert(T, {{W, next}, 1, x}) of
                       true -> {accepted_after, Reason}
                   catch
                       error:{xets_io, _} -> refused
                   end,
            refused = Next,
            {Acked, {W, I}, Reason}
    end.

%% The table reopened after the failure: every acknowledged list insert
%% there whole, every other whole or absent, nothing else, the size
%% exact.
check_reopened(T, Acked, Failed) ->
    Objects = xets:tab2list(T),
    ?assertEqual(length(Objects), xets:info(T, size)),
    ByInsert = lists:foldl(fun({{W, I, J}, I, _}, M) -> maps:update_with({W, I}, fun(Js) -> [J | Js] end, [J], M) end,
                           #{}, Objects),
    ?assertEqual(#{}, maps:filter(fun(_, Js) -> lists:sort(Js) =/= [1, 2, 3, 4] end, ByInsert)),
    ?assertEqual([], [A || A <- Acked, not maps:is_key(A, ByInsert)]),
    %% What else is there: only inserts whose call failed (their write may
    %% have reached the disk whole before another did not).
    Unacked = maps:keys(ByInsert) -- Acked,
    ?assertEqual([], Unacked -- Failed),
    ct:pal("reopened: ~p objects, ~p acknowledged inserts all there; of ~p failed, ~p there",
           [length(Objects), length(Acked), length(Failed), length(Unacked)]),
    [{K, _, _} = O | _] = Objects,
    ?assertEqual([O], [X || X <- xets:lookup(T, K), X =:= O]).

a_full_disk_without_sync_always_keeps_what_sync_made_durable(Config) ->
    [full_disk_lazy(Config, Sync) || Sync <- [none, {interval, 20}]],
    ok.

full_disk_lazy(Config, Sync) ->
    Mnt = mount(Config, lists:flatten(io_lib:format("~p", [Sync]))),
    Filler = fill(Mnt),
    Dir = filename:join(Mnt, "t"),
    Opts = [set, {sync, Sync}, {memtable_bytes, 8 * 1024 * 1024}],
    {ok, T} = xets:open(t, Dir, Opts),
    Payload = binary:copy(<<1>>, 300),
    [true = xets:insert(T, [{{1, I, J}, I, Payload} || J <- [1, 2, 3, 4]]) || I <- lists:seq(1, 50)],
    ok = xets:sync(T),
    Synced = [{1, I} || I <- lists:seq(1, 50)],
    %% The committer meets the full disk; some write after that raises.
    {More, Failed, Reason} = write_until_full(T, 1, 51, []),
    ct:pal("~p: failed after ~p more writes: ~p", [Sync, length(More), Reason]),
    ?assertMatch({_, File, _, enospc} when is_list(File), Reason),
    ?assertError({xets_io, _}, xets:sync(T)),
    ok = file:delete(Filler),
    ?assertMatch({error, {_, _, _, enospc}}, xets:close(T)),
    {ok, T2} = xets:open(t, Dir, Opts),
    %% What sync/1 covered is there; what followed is there whole or not.
    check_reopened(T2, Synced, [Failed | More]),
    ok = xets:close(T2),
    unmount(Mnt).

%% A tmpfs of ?TMPFS_SIZE mounted at a new directory of the case's (the
%% suite runs as root, as make test does here: a mount that fails is a
%% failure, not a skip). end_per_testcase unmounts it should the case
%% fail first.
mount(Config, Name) ->
    mount(Config, Name, ?TMPFS_SIZE).

mount(Config, Name, Size) ->
    Mnt = filename:absname(dir(Config, "mnt-" ++ Name)),
    ok = filelib:ensure_dir(filename:join(Mnt, "x")),
    sh("mount -t tmpfs -o size=" ++ Size ++ " tmpfs '" ++ Mnt ++ "'"),
    Mnt.

unmount(Mnt) ->
    _ = os:cmd("umount '" ++ Mnt ++ "' 2>/dev/null || umount -l '" ++ Mnt ++ "'"),
    ok.

%% ---- a failed fsync -----------------------------------------------------------------

%% A file system whose writes succeed and whose fsyncs fail: ext4 on a
%% loop device whose 64 MiB image is a sparse file on a 3 MiB tmpfs,
%% most of which a filler takes. ext4 takes the writes into the page
%% cache; the fsync that writes them back meets the full tmpfs below and
%% fails (EIO, and ext4 aborts its journal). Freeing the room, checking
%% the image (e2fsck) and mounting it again is the operator's repair.
a_failed_fsync_stops_writes_until_reopened_and_loses_no_acknowledged_write(Config) ->
    Back = mount(Config, "back", "3m"),
    Img = filename:join(Back, "img"),
    Filler = filename:join(Back, "filler"),
    Mnt = filename:absname(dir(Config, "ext4")),
    ok = filelib:ensure_dir(filename:join(Mnt, "x")),
    sh("truncate -s 64M '" ++ Img ++ "' && mkfs.ext4 -q -F '" ++ Img ++ "'"),
    ok = file:write_file(Filler, binary:copy(<<0>>, 2200 * 1024)),
    MountExt4 = fun() ->
                        Loop = string:trim(sh("losetup -f --show '" ++ Img ++ "'")),
                        sh("mount " ++ Loop ++ " '" ++ Mnt ++ "'")
                end,
    MountExt4(),
    Dir = filename:join(Mnt, "t"),
    Opts = [set, {sync, always}],
    {ok, T} = xets:open(t, Dir, Opts),
    {Acked, Failed, Reason} = write_until_full(T, 1),
    ct:pal("~p list inserts acknowledged, then ~p", [length(Acked), Reason]),
    ?assert(length(Acked) > 10),
    ?assertMatch({fsync, File, _, Posix} when is_list(File) andalso
                                              (Posix =:= eio orelse Posix =:= enospc), Reason),
    %% The table never claims what it does not have: every write and
    %% sync/1 refused with the same reason, close too.
    ?assertError({xets_io, Reason}, xets:insert(T, {late, 1, x})),
    ?assertError({xets_io, Reason}, xets:sync(T)),
    {W1, I1} = hd(Acked),
    ?assertMatch([_], xets:lookup(T, {W1, I1, 1})),
    ?assertEqual({error, Reason}, xets:close(T)),
    %% The repair, then the table as it was acknowledged.
    unmount(Mnt),
    detach(Img),
    ok = file:delete(Filler),
    _ = os:cmd("e2fsck -fy '" ++ Img ++ "'"),
    MountExt4(),
    {ok, T2} = xets:open(t, Dir, Opts),
    check_reopened(T2, Acked, [Failed]),
    true = xets:insert(T2, {late, 1, x}),
    ok = xets:close(T2),
    unmount(Mnt),
    detach(Img),
    unmount(Back).

%% The loop devices of image Img, detached.
detach(Img) ->
    [os:cmd("losetup -d " ++ L)
     || L <- string:lexemes(os:cmd("losetup -n -O NAME -j '" ++ Img ++ "'"), "\n ")],
    ok.

%% Cmd's output; the case fails if Cmd does.
sh(Cmd) ->
    Out = os:cmd(Cmd ++ " 2>&1; echo \"rc=$?\""),
    case string:split(string:trim(Out, trailing), "rc=", trailing) of
        [Text, "0"] -> Text;
        _ -> ct:fail({command_failed, Cmd, Out})
    end.

%% A file of ?FILLER_BYTES in Mnt, whose removal makes room later.
fill(Mnt) ->
    Filler = filename:join(Mnt, "filler"),
    ok = file:write_file(Filler, binary:copy(<<0>>, ?FILLER_BYTES)),
    Filler.

%% ---- a table's files ---------------------------------------------------------------

%% The objects of image/2: 1,200 in SSTables, then 40 logged under
%% {sync, always} and not yet flushed ({wal, K}, K, one batch each).
image_sst_size() -> 1200.
image_size() -> image_sst_size() + 40.

%% A directory holding a table of Type as a crash would leave it: a
%% manifest of several edits, three SSTables (one written by each close),
%% and a WAL of 40 durable batches, copied while the table is open (every
%% batch acknowledged under {sync, always}, no flush under way).
image(Config, Type) ->
    Dir = dir(Config, "live"),
    [begin
         {ok, T0} = xets:open(t, Dir, [Type]),
         [true = xets:insert(T0, {I, binary:copy(<<(I rem 256)>>, 60)})
          || I <- lists:seq(Round * 400 + 1, Round * 400 + 400)],
         ok = xets:close(T0)
     end || Round <- [0, 1, 2]],
    {ok, T} = xets:open(t, Dir, [Type, {sync, always}]),
    [true = xets:insert(T, {{wal, K}, K}) || K <- lists:seq(1, 40)],
    Image = dir(Config, "image"),
    ok = filelib:ensure_dir(filename:join(Image, "x")),
    [{ok, _} = file:copy(filename:join(Dir, F), filename:join(Image, F))
     || F <- element(2, file:list_dir(Dir)), F =/= "LOCK"],
    ok = xets:close(T),
    ?assertEqual(3, length(names(Image, ".sst"))),
    Image.

%% A fresh copy of directory From, named after Name.
copy(Config, From, Name) ->
    To = dir(Config, "copy-" ++ [case C of $/ -> $_; _ -> C end || C <- Name]),
    ok = filelib:ensure_dir(filename:join(To, "x")),
    [{ok, _} = file:copy(filename:join(From, F), filename:join(To, F))
     || F <- element(2, file:list_dir(From))],
    To.

%% The names in Dir that start or end with Affix.
names(Dir, Affix) ->
    {ok, Fs} = file:list_dir(Dir),
    lists:sort([F || F <- Fs, lists:prefix(Affix, F) orelse lists:suffix(Affix, F)]).

%% A file's number, which seeds its checksums (manifest_format.md).
number(Name) ->
    list_to_integer([C || C <- Name, C >= $0, C =< $9]).

flip(Path, At) ->
    {ok, F} = file:open(Path, [read, write, raw, binary]),
    {ok, <<B>>} = file:pread(F, At, 1),
    ok = file:pwrite(F, At, <<(B bxor 16#5a)>>),
    ok = file:close(F).

%% The records of a log (log_format.md): {Offset, Type, Synced, Payload},
%% up to the first that does not fit.
records(Bin) ->
    records(Bin, 0).

records(Bin, At) ->
    case Bin of
        <<_:At/binary, _Sum:64, _Check:32, Len:32/little, Type, Synced:64/little,
          Payload:Len/binary, _/binary>> ->
            [{At, Type, Synced, Payload} | records(Bin, At + 25 + Len)];
        _ ->
            []
    end.

%% An SSTable's data blocks, from its index (sstable_format.md):
%% {Offset, Size, Objects} in file order (Size the stored size), each
%% object decoded from its entry (a set's or ordered_set's value is the
%% object's external format).
data_blocks(Bin) ->
    Size = byte_size(Bin),
    <<_:(Size - 112)/binary, _Sum:64, _MiOff:64, _MiSize:64, IxOff:64/little, IxSize:64/little,
      _/binary>> = Bin,
    [begin
         {Off, H1} = varint(Handle),
         {Sz, <<>>} = varint(H1),
         Objects = [begin
                        {_Seq, <<0, Obj/binary>>} = varint(V),
                        binary_to_term(Obj)
                    end || {_, V} <- block_entries(unpack(Bin, Off, Sz))],
         {Off, Sz, Objects}
     end || {_Separator, Handle} <- block_entries(binary:part(Bin, IxOff, IxSize))].

%% The block stored at Off in Sz bytes, by its trailer's type
%% (sstable_format.md, "The trailer"): 0 as it is; 1 its size as a
%% varint, then an LZ4 block, decoded here (a decoder of our own, so that
%% the suite checks the page, not the NIF against itself).
unpack(Bin, Off, Sz) ->
    Stored = binary:part(Bin, Off, Sz),
    case binary:at(Bin, Off + Sz) of
        0 ->
            Stored;
        1 ->
            {Size, Lz4} = varint(Stored),
            Block = lz4(Lz4, <<>>),
            Size = byte_size(Block),
            Block
    end.

%% LZ4's block format: sequences of a token (the literals' length, the
%% match's length less 4: 4 bits each, 15 meaning more length bytes
%% follow), the literals, a 16-bit offset back into the output and the
%% match's length bytes; the last sequence is literals only.
lz4(<<Token, B0/binary>>, Out0) ->
    {LitLen, B1} = lz4_len(Token bsr 4, B0),
    <<Lit:LitLen/binary, B2/binary>> = B1,
    Out = <<Out0/binary, Lit/binary>>,
    case B2 of
        <<>> ->
            Out;
        <<Offset:16/little, B3/binary>> ->
            {MatchLen, B4} = lz4_len(Token band 15, B3),
            lz4(B4, lz4_copy(Out, Offset, MatchLen + 4))
    end.

lz4_len(15, B) -> lz4_more(B, 15);
lz4_len(N, B) -> {N, B}.

lz4_more(<<255, B/binary>>, Acc) -> lz4_more(B, Acc + 255);
lz4_more(<<X, B/binary>>, Acc) -> {Acc + X, B}.

%% Len bytes from Offset back; a match may overlap what it writes (a run),
%% hence chunks of at most Offset bytes.
lz4_copy(Out, _Offset, 0) ->
    Out;
lz4_copy(Out, Offset, Len) ->
    N = min(Len, Offset),
    Chunk = binary:part(Out, byte_size(Out) - Offset, N),
    lz4_copy(<<Out/binary, Chunk/binary>>, Offset, Len - N).

%% A block's entries, {Key, Value}, keys rebuilt from their shared
%% prefixes.
block_entries(Block) ->
    S = byte_size(Block),
    <<_:(S - 4)/binary, N:32/little>> = Block,
    entries(binary:part(Block, 0, S - 4 - 4 * N), <<>>).

entries(<<>>, _) ->
    [];
entries(B0, Prev) ->
    {Shared, B1} = varint(B0),
    {Unshared, B2} = varint(B1),
    {VLen, B3} = varint(B2),
    <<Delta:Unshared/binary, V:VLen/binary, Rest/binary>> = B3,
    Key = <<(binary:part(Prev, 0, Shared))/binary, Delta/binary>>,
    [{Key, V} | entries(Rest, Key)].

varint(B) ->
    varint(B, 0, 0).

varint(<<1:1, X:7, Rest/binary>>, Shift, Acc) ->
    varint(Rest, Shift + 7, Acc bor (X bsl Shift));
varint(<<0:1, X:7, Rest/binary>>, Shift, Acc) ->
    {Acc bor (X bsl Shift), Rest}.

%% XXH3-64 of Bin with Seed, from the suite's port program.
xxh3(Config, Seed, Bin) ->
    Port = open_port({spawn_executable, ?config(xxh3, Config)}, [{packet, 4}, binary]),
    true = port_command(Port, <<Seed:64, Bin/binary>>),
    receive
        {Port, {data, <<H:64>>}} -> port_close(Port), H
    after 5000 ->
        ct:fail(xxh3_port_silent)
    end.
