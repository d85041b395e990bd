%% @doc Table dumps in the format of ets:tab2file/3, behind xets:tab2file/2,3,
%% xets:file2tab/1,2 and xets:tabfile_info/1: a file written by either
%% library loads with the other.
%%
%% The file is a disk_log (halt type, internal format). Its first item is
%% the table's info/1 list made a tuple, ending with {major_version, 1},
%% {minor_version, 0} and {extended_info, [object_count | md5sum]}; then
%% one item per object; then, if extended_info asked for any,
%% ['$end_of_table', [{count, N}, {md5, Digest}]], Digest being the MD5 of
%% the external format of the header and of each object, in file order.
%%
%% disk_log writes the file, as for ets, and opens it for reading, which
%% checks the name and the file header with ets's errors. Dumping runs over
%% the table's traversal chunks, so that no NIF call holds a scheduler for
%% long. Reading is ours: read_items/3 cuts the file into items as
%% disk_log's read-only chunks do (whose cuts decide what ets makes of a
%% damaged file), except that where disk_log loops forever, on a file that
%% ends inside the header of an item of 64 KiB or more, the rest of the
%% file is bad bytes. Loading then takes every decision ets takes, quirks
%% included, so that a damaged or crafted file gives the same error,
%% exception or table with either library.
-module(xets_file).

-export([tab2file/3, file2tab/2, tabfile_info/1]).

%% What a dump is asked to hold (extended_info) and do (sync), or what a
%% file's header says it holds.
-record(ext, {count = false :: boolean(), md5 = false :: boolean(),
              sync = false :: boolean()}).

%% Where a load stands: the digest of what it read (false without md5sum),
%% how many objects, the end record of the latest chunk ([] if it had
%% none) and the log's continuation.
-record(load, {digest :: binary() | false, count = 0 :: non_neg_integer(),
               last = [] :: list(), cont :: term()}).

%% Items per read when loading: ets's number. It decides which items
%% share a chunk, and so where ets finds the end record and when it stops
%% at a chunk with nothing to insert: another number would load some
%% damaged files differently.
-define(READ_ITEMS, 100).

%% The item framing of a disk_log file (internal format), after its 8-byte
%% file header: <<Size:32, Magic:32, Item:Size/binary>>, and for items of
%% ?BIG_ITEM bytes or more <<Size:32, Magic:32, (md5(<<Size:32>>)):16/binary,
%% Item/binary>>. Older logs framed small items with ?OLD_MAGIC. A read
%% takes ?BLOCK bytes, or a whole item when it is bigger.
-define(FILE_HEADER, 8).
-define(MAGIC, 16#62574C41).
-define(OLD_MAGIC, 16#0C212C37).
-define(BIG_ITEM, 65528).
-define(BLOCK, 65536).

%% The header items ets needs to make the table.
-define(MANDATORY, [name, type, protection, named_table, keypos, size]).

%% ---- tab2file ----------------------------------------------------------

-spec tab2file(xets:tab(), file:name(), list()) -> ok | {error, term()}.
tab2file(Tab, File, Options) ->
    try
        Ext = dump_options(Options),
        Log = create(File),
        try
            dump(Tab, Log, Ext)
        catch
            Class:Reason:Stack ->
                %% No partial dump is left behind.
                _ = disk_log:close(Log),
                _ = file:delete(File),
                erlang:raise(Class, Reason, Stack)
        end
    catch
        throw:Why -> {error, Why};
        exit:Why -> {error, Why}
    end.

%% As ets: options must be a list (else function_clause), extended_info
%% may come once (a second is an unknown option) and {sync, false} does
%% not undo an earlier {sync, true}.
dump_options(Options) when is_list(Options) ->
    dump_options(Options, #ext{}, false).

dump_options([], Ext, _SeenInfo) ->
    Ext;
dump_options([{sync, true} | T], Ext, SeenInfo) ->
    dump_options(T, Ext#ext{sync = true}, SeenInfo);
dump_options([{sync, false} | T], Ext, SeenInfo) ->
    dump_options(T, Ext, SeenInfo);
dump_options([{extended_info, Items} | T], Ext, false) ->
    dump_options(T, extended_info(Items, Ext), true);
dump_options([Other | _], _Ext, _SeenInfo) ->
    throw({unknown_option, Other});
dump_options(Malformed, _Ext, _SeenInfo) ->
    throw({malformed_option, Malformed}).

extended_info([], Ext) ->
    Ext;
extended_info([object_count | T], Ext) ->
    extended_info(T, Ext#ext{count = true});
extended_info([md5sum | T], Ext) ->
    extended_info(T, Ext#ext{md5 = true});
extended_info([Other | _], _Ext) ->
    throw({unknown_option, [{extended_info, [Other]}]});
extended_info(Malformed, _Ext) ->
    throw({malformed_option, Malformed}).

%% A new log at File. Whatever was there goes first, as in ets, even when
%% the table then turns out not to exist; what cannot be removed (a
%% directory) is eaccess.
create(File) ->
    _ = file:delete(File),
    case file:read_file_info(File) of
        {error, enoent} -> ok;
        _ -> throw(eaccess)
    end,
    Log = make_ref(),
    case disk_log:open([{name, Log}, {file, File}]) of
        {ok, Log} -> Log;
        {error, Reason} -> throw(Reason)
    end.

dump(Tab, Log, Ext) ->
    Info = case xets:info(Tab) of
               undefined -> throw(badtab);
               I -> I
           end,
    Header = list_to_tuple(Info ++ [{major_version, 1}, {minor_version, 0},
                                    {extended_info, [object_count || Ext#ext.count] ++
                                                        [md5sum || Ext#ext.md5]}]),
    Digest0 = Ext#ext.md5 andalso erlang:md5_init(),
    %% Fixed, as ets fixes its table, so that a hash table growing or
    %% shrinking under other writers neither repeats nor skips an object.
    xets:safe_fixtable(Tab, true),
    {Digest, Count} =
        try
            objects(Tab, Log, '$end_of_table', write(Log, [Header], Digest0), 0)
        after
            catch xets:safe_fixtable(Tab, false)
        end,
    case [{count, Count} || Ext#ext.count] ++ [{md5, erlang:md5_final(Digest)} || Ext#ext.md5] of
        [] -> ok;
        Trailer -> write(Log, [['$end_of_table', Trailer]], Digest)
    end,
    Ext#ext.sync andalso ok_or_throw(disk_log:sync(Log)),
    disk_log:close(Log).

%% The objects, one traversal chunk per write.
objects(Tab, Log, Cursor, Digest, Count) ->
    {Objects, Next} = xets_nif:chunk(Tab, Cursor, forward),
    Digest1 = write(Log, Objects, Digest),
    case Next of
        '$end_of_table' -> {Digest1, Count + length(Objects)};
        _ -> objects(Tab, Log, Next, Digest1, Count + length(Objects))
    end.

%% Logs the terms in external format, which is what disk_log would write
%% for them and what the digest (false if none is kept) covers.
write(Log, Terms, Digest) ->
    Bins = [term_to_binary(T) || T <- Terms],
    ok_or_throw(disk_log:blog_terms(Log, Bins)),
    Digest =/= false andalso lists:foldl(fun(B, D) -> erlang:md5_update(D, B) end, Digest, Bins).

ok_or_throw(ok) -> ok;
ok_or_throw({error, Reason}) -> throw(Reason).

%% ---- file2tab ----------------------------------------------------------

-spec file2tab(file:name(), list()) -> {ok, xets:tab()} | {error, term()}.
file2tab(File, Options) ->
    try
        {Verify, Into} = load_options(Options, false, []),
        Fd = open(File),
        try
            load({Fd, File}, Verify, Into)
        after
            _ = file:close(Fd)
        end
    catch
        throw:Why -> {error, Why};
        exit:Why -> {error, Why}
    end.

%% {table, Tab} (undocumented, as in ets) loads into an existing table;
%% [] stands for none, so that, as in ets, {table, []} does not count as
%% the one table option allowed.
load_options([], Verify, Into) ->
    {Verify, Into};
load_options([{verify, true} | T], _Verify, Into) ->
    load_options(T, true, Into);
load_options([{verify, false} | T], Verify, Into) ->
    load_options(T, Verify, Into);
load_options([{table, Tab} | T], Verify, []) ->
    load_options(T, Verify, Tab);
load_options([Other | _], _Verify, _Into) ->
    throw({unknown_option, Other});
load_options(Malformed, _Verify, _Into) ->
    throw({malformed_option, Malformed}).

%% The file, for read_items/3. disk_log opens it first, as for ets, to
%% refuse what ets refuses with the same errors (a bad name, a missing
%% file, one that is no log). Read only, it repairs nothing, even a log
%% that was not closed.
open(File) ->
    Log = make_ref(),
    case disk_log:open([{name, Log}, {file, File}, {mode, read_only}]) of
        {ok, Log} -> ok = disk_log:close(Log);
        {error, Reason} -> throw({read_error, Reason})
    end,
    case file:open(File, [raw, binary, read]) of
        {ok, Fd} -> Fd;
        {error, Reason2} -> throw({read_error, {file_error, File, Reason2}})
    end.

load(File, Verify, Into) ->
    {{Major, Minor}, Ext, Header, St0} = header(File, Verify),
    Major > 1 andalso throw({unsupported_file_version, {Major, Minor}}),
    {Tab, Size} = table(Header, Into),
    %% Without verify, ets trusts the file: it checks neither count nor
    %% digest, and reads objects as terms.
    Checked = case Verify of
                  true -> Ext;
                  false -> #ext{}
              end,
    try
        check(body(Tab, File, Verify, Checked#ext.md5, St0), Checked, Size, Verify),
        {ok, Tab}
    catch
        Class:Reason:Stack ->
            %% No half-loaded table is left, nor its name (ets deletes even
            %% the table given by {table, Tab}).
            xets:delete(Tab),
            erlang:raise(Class, Reason, Stack)
    end.

%% The first item: a tuple holding the six items ets needs to make the
%% table. With verify, ets reads it as a binary for the digest, and looks
%% for the version under the keys major and minor, which no writer uses:
%% a verified load takes every file for version 0.0.
header(File, Verify) ->
    {Cont, Header, HeaderBin} =
        case read(File, {0, []}, 1, Verify, Verify) of
            {C, [Bin]} when Verify, is_binary(Bin) -> {C, binary_to_term(Bin), Bin};
            {C, [Term]} when not Verify -> {C, Term, false};
            _ -> throw(badfile)
        end,
    is_tuple(Header) orelse throw(badfile),
    Items = tuple_to_list(Header),
    length([Tag || {Tag, _} <- Items, lists:member(Tag, ?MANDATORY)]) =:= 6 orelse throw(badfile),
    {MajorKey, MinorKey} = case Verify of
                               true -> {major, minor};
                               false -> {major_version, minor_version}
                           end,
    Ext = case lists:keyfind(extended_info, 1, Items) of
              {extended_info, I} when is_list(I) ->
                  #ext{count = lists:member(object_count, I), md5 = lists:member(md5sum, I)};
              _ -> #ext{}
          end,
    St = #load{digest = Verify andalso Ext#ext.md5 andalso
                            erlang:md5_update(erlang:md5_init(), HeaderBin),
               cont = Cont},
    {{value(MajorKey, Items, 0), value(MinorKey, Items, 0)}, Ext, Items, St}.

value(Key, Items, Default) ->
    case lists:keyfind(Key, 1, Items) of
        {Key, Value} -> Value;
        _ -> Default
    end.

%% The table the header describes, with the options ets restores (not the
%% heir, nor decentralized_counters), and the size the header gives.
table(Items, Into) ->
    {name, Name} = lists:keyfind(name, 1, Items),
    {type, Type} = lists:keyfind(type, 1, Items),
    {protection, Protection} = lists:keyfind(protection, 1, Items),
    {keypos, _} = Keypos = lists:keyfind(keypos, 1, Items),
    {size, Size} = lists:keyfind(size, 1, Items),
    Named = case lists:keyfind(named_table, 1, Items) of
                {named_table, true} -> [named_table];
                {named_table, false} -> []
            end,
    Compressed = case lists:keyfind(compressed, 1, Items) of
                     {compressed, true} -> [compressed];
                     {compressed, false} -> [];
                     false -> []
                 end,
    Write = case lists:keyfind(write_concurrency, 1, Items) of
                {write_concurrency, _} = W -> [W];
                _ -> []
            end,
    Read = case lists:keyfind(read_concurrency, 1, Items) of
               {read_concurrency, _} = R -> [R];
               false -> []
           end,
    case Into of
        [] ->
            Options = Read ++ Write ++ Compressed ++ Named ++ [Type, Protection, Keypos],
            try {xets:new(Name, Options), Size}
            catch _:_ -> throw(cannot_create_table)
            end;
        Tab ->
            {Tab, Size}
    end.

%% Inserts the objects a chunk at a time, until the log ends or a chunk
%% brings nothing to insert (as ets: what follows such a chunk is not
%% read), and returns where the load stands.
body(Tab, File, Verify, Binary, #load{cont = Cont} = St) ->
    case read(File, Cont, ?READ_ITEMS, Verify, Binary) of
        eof -> St;
        {Cont1, Items} ->
            case items(Items, Binary, St#load{last = [], cont = Cont1}) of
                {[], St1} -> St1;
                {Objects, St1} ->
                    xets:insert(Tab, Objects),
                    body(Tab, File, Verify, Binary, St1)
            end
    end.

%% One chunk of at most N items: terms, or binaries for a digest. Bytes
%% that frame no item are skipped and counted: a verified load refuses
%% the file, otherwise ets takes what could be read.
read(File, Cont, N, Verify, Binary) ->
    Chunk = case read_items(File, Cont, N) of
                {Next, Bins, Bad} when not Binary -> decode(Bins, Next, Bad);
                Other -> Other
            end,
    case Chunk of
        {_Cont, _Items, BadBytes} when BadBytes > 0, Verify -> throw(badfile);
        {Cont1, Items, _BadBytes} -> {Cont1, Items};
        eof -> eof
    end.

%% As disk_log:chunk/3 decodes a chunk: up to the first item that does not
%% decode, counted as bad, the next chunk starting where disk_log puts it
%% (by the sizes of the items after the bad one, 8 bytes of framing each:
%% not always an item's start). Once an item failed, disk_log also takes
%% an earlier item that decodes to {'EXIT', _} for the bad one.
decode(Bins, Cont, Bad) ->
    Decoded = [try {ok, binary_to_term(Bin)} catch error:badarg -> bad end || Bin <- Bins],
    case lists:member(bad, Decoded) of
        false -> {Cont, [T || {ok, T} <- Decoded], Bad};
        true -> decode_upto_bad(lists:zip(Bins, Decoded), Cont, Bad, [])
    end.

decode_upto_bad([{_Bin, {ok, T}} | Rest], Cont, Bad, Acc)
  when not is_tuple(T); tuple_size(T) =/= 2; element(1, T) =/= 'EXIT' ->
    decode_upto_bad(Rest, Cont, Bad, [T | Acc]);
decode_upto_bad([{Bin, _BadOrExit} | Rest], {Pos, _Pending}, Bad, Acc) ->
    Reread = lists:sum([byte_size(B) + 8 || {B, _} <- Rest]),
    {{Pos - Reread, []}, lists:reverse(Acc), Bad + byte_size(Bin)}.

%% read_items(File, Cont, N) -> {Cont, Bins, BadBytes} | eof
%% Cont is {Pos, Pending}: Pos is where the next read starts (counted from
%% the end of the file header) and Pending the bytes of the last read that
%% are not cut yet, or the size of an item that did not fit in it, or [].
%% A chunk ends after N items, or with what one read holds; a read that
%% gives neither an item nor a bad byte is followed by the next.
read_items(File, {Pos, Pending}, N) when is_binary(Pending) ->
    more(File, cut(Pending, Pos, N, [], 0), N);
read_items({Fd, Name} = File, {Pos, Need}, N) ->
    case file:pread(Fd, ?FILE_HEADER + Pos, max_read(Need)) of
        {ok, Bin} when byte_size(Bin) < 8 ->
            {{Pos + byte_size(Bin), []}, [], byte_size(Bin)};
        {ok, Bin} when Need =:= []; byte_size(Bin) >= Need ->
            End = Pos + byte_size(Bin),
            case cut(Bin, End, N, [], 0) of
                %% The file ends inside the header of a big item, which
                %% disk_log would read again forever.
                {{Pos, []}, [], 0} -> {{End, []}, [], byte_size(Bin)};
                Cut -> more(File, Cut, N)
            end;
        {ok, Bin} ->
            %% The file ends inside an item.
            {{Pos + byte_size(Bin), []}, [], byte_size(Bin) - 8};
        eof ->
            eof;
        {error, Reason} ->
            throw({read_error, {file_error, Name, Reason}})
    end.

max_read([]) -> ?BLOCK;
max_read(Need) -> max(Need, ?BLOCK).

more(File, {Cont, [], 0}, N) -> read_items(File, Cont, N);
more(_File, {Cont, Bins, Bad}, _N) -> {Cont, lists:reverse(Bins), Bad}.

%% Cuts items from B, which ends at file position End. What does not frame
%% an item is skipped a byte at a time, each counting as one of the N
%% items; a big item whose size digest is wrong is skipped with the byte
%% after its digest, as one bad byte. A big item ends the cut.
cut(B, End, 0, Acc, Bad) when byte_size(B) >= 8 ->
    {{End, B}, Acc, Bad};
cut(<<Size:32, ?MAGIC:32, Rest/binary>> = B, End, N, Acc, Bad) when Size < ?BIG_ITEM ->
    cut_small(Rest, Size, B, End, N, Acc, Bad);
cut(<<Size:32, ?MAGIC:32, Rest/binary>> = B, End, N, Acc, Bad) ->
    Digest = erlang:md5(<<Size:32>>),
    case Rest of
        <<Digest:16/binary, Item:Size/binary>> -> {{End, []}, [Item | Acc], Bad};
        <<Digest:16/binary, _/binary>> -> {{End - byte_size(B), Size + 24}, Acc, Bad};
        <<_:16/binary, _, Tail/binary>> -> cut(Tail, End, N - 1, Acc, Bad + 1);
        _ -> {{End - byte_size(B), []}, Acc, Bad}
    end;
cut(<<Size:32, ?OLD_MAGIC:32, Rest/binary>> = B, End, N, Acc, Bad) ->
    cut_small(Rest, Size, B, End, N, Acc, Bad);
cut(<<_, Tail/binary>> = B, End, N, Acc, Bad) when byte_size(B) >= 8 ->
    cut(Tail, End, N - 1, Acc, Bad + 1);
cut(B, End, _N, Acc, Bad) ->
    {{End - byte_size(B), []}, Acc, Bad}.

cut_small(Rest, Size, B, End, N, Acc, Bad) ->
    case Rest of
        <<Item:Size/binary, Tail/binary>> -> cut(Tail, End, N - 1, [Item | Acc], Bad);
        _ -> {{End - byte_size(B), Size + 8}, Acc, Bad}
    end.

%% The objects of a chunk, counted (and digested), and its end record.
%% As terms, the end record is one only as the chunk's last item. As
%% binaries, an item that does not decode is skipped, the end record ends
%% the chunk, and, as in ets (which tells a bad item by catching its
%% decoding), so is an object {'EXIT', _}: such a dump does not verify.
items(Items, false, St) ->
    terms(Items, St, []);
items(Bins, true, St) ->
    binaries(Bins, St, []).

terms([], St, Acc) ->
    {lists:reverse(Acc), St};
terms([['$end_of_table', _] = Last], St, Acc) ->
    {lists:reverse(Acc), St#load{last = Last}};
terms([Object | T], #load{count = N} = St, Acc) ->
    terms(T, St#load{count = N + 1}, [Object | Acc]).

binaries([], St, Acc) ->
    {lists:reverse(Acc), St};
binaries([Bin | T], #load{digest = D, count = N} = St, Acc) when is_binary(Bin) ->
    case catch binary_to_term(Bin) of
        {'EXIT', _} -> binaries(T, St, Acc);
        ['$end_of_table', _] = Last -> {lists:reverse(Acc), St#load{last = Last}};
        Object -> binaries(T, St#load{digest = erlang:md5_update(D, Bin), count = N + 1},
                           [Object | Acc])
    end.

%% After the last chunk: the end record must be there if the header
%% promised one (with verify), its count and digest must hold; a verified
%% load without either checks the count the header gives. As in ets, the
%% record's items are looked up even when nothing is checked.
check(#load{last = [], count = Count}, #ext{count = C, md5 = M}, Size, Verify) ->
    (C orelse M) andalso throw(badfile),
    Verify andalso Count =/= Size andalso throw(invalid_object_count);
check(#load{last = ['$end_of_table', Trailer], count = Count, digest = Digest},
      #ext{count = C, md5 = M}, Size, Verify) ->
    TrailerCount = value(count, Trailer, false),
    TrailerDigest = value(md5, Trailer, false),
    M andalso erlang:md5_final(Digest) =/= TrailerDigest andalso throw(checksum_error),
    if
        C -> Count =/= TrailerCount andalso throw(invalid_object_count);
        Verify, not M -> Count =/= Size andalso throw(invalid_object_count);
        true -> false
    end.

%% ---- tabfile_info ------------------------------------------------------

-spec tabfile_info(file:name()) -> {ok, [{atom(), term()}]} | {error, term()}.
tabfile_info(File) when is_list(File); is_atom(File) ->
    try
        Fd = open(File),
        {Version, _Ext, Items, _St} = try header({Fd, File}, false)
                                      after _ = file:close(Fd)
                                      end,
        ExtendedInfo = case lists:keyfind(extended_info, 1, Items) of
                           false -> {extended_info, []};
                           E -> E
                       end,
        {ok, [item(Key, Items) || Key <- ?MANDATORY] ++ [ExtendedInfo, {version, Version}]}
    catch
        throw:Why -> {error, Why};
        exit:Why -> {error, Why}
    end.

%% As ets, the first item tagged Key, whatever its size; badmatch if none.
item(Key, Items) ->
    {value, Item} = lists:keysearch(Key, 1, Items),
    Item.
