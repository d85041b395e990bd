%% @doc Spilling tables: xets:new/2 with {spill, Dir}. A table with ets's
%% semantics (gone when deleted, or when its owner dies without an heir)
%% that may hold more than its memory limit: its store is the LSM store of
%% persistent tables (c_src/disk/lsm.h), in a directory of its own under
%% Dir, with {sync, none}, and its death drops the store, files and
%% directory, where a persistent table's closes it (c_src/table.c,
%% release_store; the reaper thread does the file I/O). To close/1 and
%% sync/1 it is a table in memory (badarg); info(Tab, disk) describes it.
%%
%% == Leftovers of a crash ==
%%
%% A VM that dies (kill -9, a power cut, halt/0 with spilling tables alive)
%% drops nothing: its spilling tables' directories stay. They are found
%% and removed thus:
%%
%% <ul>
%% <li>Names. A spilling table's directory is
%% `Dir/xets-spill-OsPid-Boot-N': OsPid the VM's OS process, Boot the
%% system time in microseconds (base 36) when this module was loaded, N a
%% unique integer. OsPid and Boot together name one VM's life: an OS pid
%% alone is reused, by the next VM of a container for one. Only an entry
%% of exactly that form, and a directory (not a symbolic link), is ever
%% removed: no other file of Dir, and never Dir.</li>
%% <li>Locks. The store holds its directory's OS lock for as long as the
%% table lives (c_src/disk/fs.h), and the OS releases it when the VM dies.
%% The removal (xets:destroy/1's, on a dirty I/O scheduler) takes that
%% lock first and leaves a directory whose lock is held, by a live VM, as
%% it is. A directory of this VM's own life is never removed by a sweep:
%% between its creation and its lock it would look dead; its table's own
%% death removes it.</li>
%% <li>Record. Each Dir a spilling table is made in is recorded, once,
%% in a file of one Erlang term a line: the application environment's
%% `spill_registry' (for tests), else `spill_dirs' in
%% filename:basedir(user_cache, "xets"). The record only grows (a Dir that
%% is gone is passed over): pruning it could lose a line another VM
%% appends meanwhile. A failure to record is logged, not raised: the table
%% works, and the sweep at its next creation still covers its Dir.</li>
%% <li>Sweeps. The start of the application (xets_app) sweeps every
%% recorded Dir; the creation of a spilling table sweeps its own Dir
%% first. A sweep removes each spill directory of another VM's life whose
%% lock it can take.</li>
%% </ul>
%%
%% Two VMs may share Dir: a sweep of one may come between another's
%% creation of a directory and its lock on it. The removal then fails (the
%% directory is no longer empty) or the creation does (its directory or
%% lock file vanished): a creation that fails is tried once more, under a
%% new name.
%%
%% Durability is not wanted, but the store still fsyncs its SSTables and
%% manifest as it writes them, and writes its memtables out when dropped
%% before removing them: a store option to skip both is the store's work
%% (c_src/disk/lsm.c).
-module(xets_spill).
-on_load(init/0).

-include_lib("kernel/include/file.hrl").

-export([new/3, sweep/1, sweep_recorded/0, registry/0]).

-define(PREFIX, "xets-spill-").
-define(LIFE, {?MODULE, life}).
%% Creations tried before an error is raised (see the module doc).
-define(TRIES, 2).

%% This VM's life, as its spill directories' names begin: set once, at
%% the first load, before any function of the module can run.
init() ->
    case persistent_term:get(?LIFE, undefined) of
        undefined ->
            Boot = integer_to_list(erlang:system_time(microsecond), 36),
            persistent_term:put(?LIFE, ?PREFIX ++ os:getpid() ++ "-" ++ Boot ++ "-");
        _ ->
            ok
    end.

life() ->
    persistent_term:get(?LIFE).

%% @doc Creates the spilling table of xets:new/2: Disk as
%% xets_disk:internal_split/2 found it (spill, memory_limit,
%% memtable_bytes), TableOptions as xets:internal_options/1 made them.
%% badarg if the name is taken; error({xets_io, Reason}) if its files
%% cannot be made.
-spec new(atom(), #{spill := binary(), atom() => term()}, tuple()) -> xets:tab().
new(Name, #{spill := Dir} = Disk, TableOptions) ->
    _ = filelib:ensure_path(Dir),
    record(Dir),
    sweep(Dir),
    open(Name, Dir, xets_disk:internal_disk(Disk#{sync => none}, spill), TableOptions, ?TRIES).

open(Name, Dir, Disk, TableOptions, Tries) ->
    Sub = filename:join(Dir, life() ++ integer_to_list(erlang:unique_integer([positive]))),
    case xets_nif:open(Name, TableOptions, Sub, Disk) of
        {ok, Tab} ->
            Tab;
        {error, Reason} ->
            _ = xets_nif:destroy(Sub),
            case Tries > 1 of
                true -> open(Name, Dir, Disk, TableOptions, Tries - 1);
                false -> erlang:error({xets_io, Reason})
            end
    end.

%% @doc Removes the spill directories in Dir of VMs that are gone (the
%% module doc says which). Never raises: what it cannot remove, it leaves.
-spec sweep(file:name_all()) -> ok.
sweep(Dir) ->
    case file:list_dir(Dir) of
        {ok, Names} ->
            Life = life(),
            [remove(filename:join(Dir, N)) || N <- Names, is_spill_name(N),
                                              not lists:prefix(Life, N)],
            ok;
        {error, _} ->
            ok
    end.

%% A name of exactly the form the module doc gives.
is_spill_name(?PREFIX ++ Rest) ->
    case string:split(Rest, "-", all) of
        [Pid, Boot, N] ->
            lists:all(fun(Part) -> Part =/= [] andalso lists:all(fun is_alnum/1, Part) end,
                      [Pid, Boot, N]);
        _ ->
            false
    end;
is_spill_name(_) ->
    false.

is_alnum(C) -> (C >= $0 andalso C =< $9) orelse (C >= $A andalso C =< $Z).

remove(Path) ->
    case file:read_link_info(Path) of
        {ok, #file_info{type = directory}} ->
            case xets_disk:destroy(Path) of
                ok -> ok;
                {error, {locked, _}} -> ok;
                {error, enoent} -> ok;
                {error, Reason} ->
                    logger:warning("xets: could not remove the spill directory ~ts: ~tp",
                                   [Path, Reason])
            end;
        _ ->
            ok
    end.

%% @doc Sweeps every Dir recorded (the start of the application).
-spec sweep_recorded() -> ok.
sweep_recorded() ->
    lists:foreach(fun sweep/1, lists:usort(recorded(registry()))).

%% @doc The file of the Dirs spilling tables were made in: the application
%% environment's spill_registry, else spill_dirs in the user's cache
%% directory for xets.
-spec registry() -> file:filename_all().
registry() ->
    case application:get_env(xets, spill_registry) of
        {ok, File} -> File;
        undefined -> filename:join(filename:basedir(user_cache, "xets"), "spill_dirs")
    end.

record(Dir) ->
    File = registry(),
    case lists:member(Dir, recorded(File)) of
        true ->
            ok;
        false ->
            %% One write of one line, appended: VMs recording at once
            %% interleave whole lines.
            Result = case filelib:ensure_dir(File) of
                         ok -> file:write_file(File, io_lib:format("~p.~n", [Dir]), [append]);
                         Error -> Error
                     end,
            Result =:= ok orelse
                logger:warning("xets: could not record the spill directory ~ts in ~ts: ~tp",
                               [Dir, File, Result]),
            ok
    end.

%% The Dirs in File; a line that does not read as one binary (torn by a
%% crash, say) is passed over.
recorded(File) ->
    case file:read_file(File) of
        {ok, Bin} -> [D || Line <- binary:split(Bin, <<"\n">>, [global]), {ok, D} <- [parse(Line)]];
        {error, _} -> []
    end.

parse(Line) ->
    case erl_scan:string(binary_to_list(Line)) of
        {ok, [_ | _] = Tokens, _} ->
            case erl_parse:parse_term(Tokens) of
                {ok, Dir} when is_binary(Dir) -> {ok, Dir};
                _ -> error
            end;
        _ ->
            error
    end.
