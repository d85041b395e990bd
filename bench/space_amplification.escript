#!/usr/bin/env escript
%% Space amplification of a persistent table under leveled compaction
%% (doc/compaction.md): 1M writes over 200k keys (each key written about
%% five times, one write in ten a delete) with a given memtable size; the
%% SSTables' bytes after close, against those of the live objects alone
%% written into a fresh table. The smaller the memtable against the data,
%% the nearer the leveled ideal (about 1.1).
%%
%%   escript bench/space_amplification.escript EBIN_DIR [MEMTABLE_BYTES ...]
%%
%% EBIN_DIR holds xets.beam (its priv/xets_nif.so found through
%% code:priv_dir). Default memtables: 8 MiB (xets's default), 1 MiB, 256 KiB.
-mode(compile).

main([Ebin | Sizes]) ->
    true = code:add_patha(Ebin),
    Mems = case Sizes of
               [] -> [8 bsl 20, 1 bsl 20, 256 bsl 10];
               _ -> [list_to_integer(S) || S <- Sizes]
           end,
    Root = filename:join("/tmp", "space_amplification." ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Root, "x")),
    try [run(Root, Mem) || Mem <- Mems]
    after os:cmd("rm -rf " ++ Root)
    end.

run(Root, Mem) ->
    Dir = filename:join(Root, "t"),
    Live = filename:join(Root, "live"),
    os:cmd("rm -rf " ++ Dir ++ " " ++ Live),
    {ok, T} = xets:open(written, Dir, [{sync, none}, {memtable_bytes, Mem}]),
    rand:seed(exsss, {1, 2, 3}),
    lists:foreach(fun(I) ->
                          K = rand:uniform(200000),
                          case rand:uniform(10) of
                              1 -> xets:delete(T, K);
                              _ -> xets:insert(T, {K, value(I)})
                          end
                  end, lists:seq(1, 1000000)),
    Objects = xets:tab2list(T),
    Disk = xets:info(T, disk),
    ok = xets:close(T),
    {ok, L} = xets:open(live, Live, [{sync, none}]),
    true = xets:insert(L, Objects),
    ok = xets:close(L),
    Written = sst_bytes(Dir),
    Alone = sst_bytes(Live),
    io:format("memtable ~b bytes: ~b objects, ~b tables, ~b compactions; SSTables ~b bytes, "
              "the live objects alone ~b: space amplification ~.2f~n",
              [Mem, length(Objects), proplists:get_value(files, Disk),
               proplists:get_value(compactions, Disk), Written, Alone, Written / Alone]).

value(I) ->
    list_to_binary(io_lib:format("value ~b ~s", [I, lists:duplicate(60, $x)])).

sst_bytes(Dir) ->
    {ok, Names} = file:list_dir(Dir),
    lists:sum([filelib:file_size(filename:join(Dir, N)) || N <- Names,
                                                             filename:extension(N) =:= ".sst"]).
