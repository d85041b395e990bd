%% @doc Persistent tables (DESIGN.md, "The disk tier"): xets:open/3,
%% close/1, sync/1, destroy/1 and info(Tab, disk), and the wait of a
%% writer for durability.
%%
%% A table opened here is an ordinary xets table to every other function.
%% Its store keeps its objects in a write-ahead log, SSTables and a
%% manifest in its directory (c_src/disk/lsm.h; the formats in doc/). The
%% directory is locked while the table is open, by an OS lock that dies
%% with the VM.
%%
%% Durability: with {sync, always} a write returns only once it is on
%% stable storage. The NIF does the write, then raises
%% {'$xets_await', Serial, Seq, Result} (c_src/persist.c); xets catches it
%% and waits here, in a receive, for the store's committing thread to say
%% that an fsync covered the write: no scheduler is held meanwhile, and
%% one fsync serves every writer that waited for it (group commit).
-module(xets_disk).

-export([open/3, close/1, sync/1, destroy/1, move/2, info/1, await/3]).
-export([internal_split/2, internal_disk/2]).

-type sync() :: always | none | {interval, pos_integer()}.
-type reason() :: {locked, binary()}
                | {mismatch, type | keypos | encoding | order, term(), term()}
                | {format, string()}
                | {corrupt, string(), non_neg_integer()}
                | {atom(), string(), non_neg_integer(), atom()}.
-export_type([sync/0, reason/0]).

-define(DEFAULT_SYNC, {interval, 1000}).

%% @doc Opens the persistent table in Dir, or creates it there. Options:
%% those of xets:new/2 (type, keypos, access, named_table, heir and the
%% concurrency hints); {sync, always | none | {interval, Ms}} (default
%% {interval, 1000}): when writes reach stable storage; {memtable_bytes,
%% N} (default 8 MiB): the size at which the table's memory part is
%% written out as an SSTable; {memory_limit, Bytes | infinity} (default
%% infinity): what the table may hold in memory, its memtables, block
%% cache, indexes and filters together (README, "Tables larger than
%% memory").
-spec open(atom(), file:name_all(), list()) -> {ok, xets:tab()} | {error, reason()}.
open(Name, Dir, Options) ->
    try
        true = is_atom(Name),
        {Disk, TableOptions} = internal_split(Options, [sync, memtable_bytes, memory_limit]),
        Tuple = xets:internal_options(TableOptions),
        xets_nif:open(Name, Tuple, dir(Dir), internal_disk(Disk, persistent))
    catch
        error:Reason when Reason =:= badarg; element(1, Reason) =:= badmatch;
                          Reason =:= function_clause; element(1, Reason) =:= case_clause ->
            erlang:error(badarg, [Name, Dir, Options],
                         [{error_info, xets:internal_new_error_info(Name, Options)}])
    end.

%% @doc Splits Options into the disk options named in Keys, a map of their
%% values (the last of each wins, as in new/2), and the rest, new/2's, in
%% their order. Raises (badmatch, function_clause, case_clause) on a bad
%% value of one of Keys or an improper list; the rest is new/2's to judge.
%% Keys: sync, memtable_bytes, memory_limit (infinity is 0: none) and
%% spill (a directory, made as dir/1 makes it).
-spec internal_split(list(), [atom()]) -> {#{atom() => term()}, list()}.
internal_split(Options, Keys) ->
    split(Options, Keys, #{}, []).

split([], _Keys, Disk, Rest) ->
    {Disk, lists:reverse(Rest)};
split([O | T], Keys, Disk, Rest) when is_tuple(O), tuple_size(O) > 0 ->
    case lists:member(element(1, O), Keys) of
        true ->
            {Key, Value} = O,
            split(T, Keys, Disk#{Key => disk_option(Key, Value)}, Rest);
        false ->
            split(T, Keys, Disk, [O | Rest])
    end;
split([O | T], Keys, Disk, Rest) ->
    split(T, Keys, Disk, [O | Rest]).

disk_option(sync, S) when S =:= always; S =:= none -> S;
disk_option(sync, {interval, Ms} = S) when is_integer(Ms), Ms > 0 -> S;
disk_option(memtable_bytes, M) when is_integer(M), M > 0 -> M;
disk_option(memory_limit, infinity) -> 0;
disk_option(memory_limit, L) when is_integer(L), L > 0 -> L;
disk_option(spill, Dir) -> dir(Dir).

%% @doc The disk options as xets_nif:open/4 takes them, from what
%% internal_split/2 found (defaults for the rest) and the table's life:
%% persistent (files kept) or spill (files dropped with the table).
-spec internal_disk(#{atom() => term()}, persistent | spill) -> tuple().
internal_disk(Disk, Life) ->
    {maps:get(sync, Disk, ?DEFAULT_SYNC), maps:get(memtable_bytes, Disk, 0),
     maps:get(memory_limit, Disk, 0), Life}.

%% The directory as the NIF takes it: absolute, in the file system's
%% encoding.
dir(Dir) ->
    Abs = filename:absname(Dir),
    case unicode:characters_to_binary(Abs, unicode, file:native_name_encoding()) of
        Bin when is_binary(Bin), byte_size(Bin) > 0 -> Bin
    end.

%% @doc Makes every write durable, writes the memtables as SSTables,
%% closes the files and releases the directory. Only the owner may; an
%% owner that exits closes its tables too (an heir inherits them).
-spec close(xets:tab()) -> ok | {error, reason()}.
close(Tab) ->
    try xets_nif:close(Tab)
    catch error:badarg -> erlang:error(badarg, [Tab], [{error_info, #{module => xets}}])
    end.

%% @doc Returns once every write to Tab before the call is durable.
-spec sync(xets:tab()) -> ok.
sync(Tab) ->
    try xets_nif:sync(Tab)
    catch
        error:badarg -> erlang:error(badarg, [Tab], [{error_info, #{module => xets}}]);
        error:{'$xets_await', Serial, Seq, Result} -> await(Serial, Seq, Result)
    end.

%% @doc Removes the files of the closed table in Dir, and Dir.
-spec destroy(file:name_all()) -> ok | {error, reason() | enoent}.
destroy(Dir) ->
    try xets_nif:destroy(dir(Dir))
    catch error:_ -> erlang:error(badarg, [Dir], [{error_info, #{module => xets}}])
    end.

%% @doc Renames the directory of a closed table, From, to To, which must
%% not exist, and makes the rename durable (an fsync of the parents).
-spec move(file:name_all(), file:name_all()) -> ok | {error, reason() | enoent | eexist}.
move(From, To) ->
    try xets_nif:move(dir(From), dir(To))
    catch error:_ -> erlang:error(badarg, [From, To], [{error_info, #{module => xets}}])
    end.

%% @doc What info(Tab, disk) says: a persistent table's files and log, as
%% a proplist; undefined for a table in memory.
-spec info(xets:tab()) -> [{atom(), term()}] | undefined.
info(Tab) ->
    xets_nif:disk_info(Tab).

%% @doc The wait of a writer whose write must be durable before it
%% returns Result: the store's committing thread says when.
-spec await(non_neg_integer(), non_neg_integer(), term()) -> term().
await(Serial, Seq, Result) ->
    receive
        {'$xets_synced', Serial, Seq, ok} -> Result;
        {'$xets_synced', Serial, Seq, {error, Reason}} -> erlang:error({xets_io, Reason})
    end.
