#!/usr/bin/env escript
%% Bytes on disk and speed of a persistent table whose objects compress
%% like real data (SSTable block compression, doc/sstable_format.md):
%% N objects {Key, Value}, Value 100 bytes of text of common words,
%% inserted one by one under {sync, none}; closed; the SSTables' bytes;
%% reopened, 200k lookups of random keys timed twice (the first with the
%% table's block cache empty, though the OS may hold the file; the second
%% from the cache).
%%
%%   escript bench/sst_compression.escript EBIN_DIR [N]
%%
%% EBIN_DIR holds xets.beam, and its priv/xets_nif.so is found through
%% code:priv_dir; run it against two builds back to back to compare.
-mode(compile).

main([Ebin | Rest]) ->
    N = case Rest of [] -> 500000; [S] -> list_to_integer(S) end,
    true = code:add_patha(Ebin),
    rand:seed(exsss, {1, 2, 3}),
    Dir = filename:join("/tmp", "sst_compression." ++ os:getpid()),
    os:cmd("rm -rf " ++ Dir),
    Values = list_to_tuple([value() || _ <- lists:seq(1, 1000)]),
    {ok, T} = xets:open(bench, Dir, [{sync, none}]),
    {InsertUs, ok} = timer:tc(fun() -> insert(T, Values, 1, N) end),
    ok = xets:close(T),
    Sst = lists:sum([filelib:file_size(F) || F <- filelib:wildcard(filename:join(Dir, "*.sst"))]),
    {ok, T2} = xets:open(bench, Dir, [{sync, none}]),
    Keys = [rand:uniform(N) || _ <- lists:seq(1, 200000)],
    {ColdUs, ok} = timer:tc(fun() -> lookups(T2, Keys) end),
    {WarmUs, ok} = timer:tc(fun() -> lookups(T2, Keys) end),
    Disk = xets:info(T2, disk),
    ok = xets:close(T2),
    os:cmd("rm -rf " ++ Dir),
    io:format("~s: ~b objects; sst ~.1f MiB (~.1f bytes/object); insert ~b/s; "
              "lookups cold ~b/s, warm ~b/s; cache ~.1f MiB~n",
              [Ebin, N, Sst / 1048576, Sst / N, round(N / InsertUs * 1.0e6),
               round(200000 / ColdUs * 1.0e6), round(200000 / WarmUs * 1.0e6),
               proplists:get_value(cache_bytes, Disk) / 1048576]).

insert(_, _, I, N) when I > N ->
    ok;
insert(T, Values, I, N) ->
    true = xets:insert(T, {I, element(I rem 1000 + 1, Values)}),
    insert(T, Values, I + 1, N).

lookups(_, []) ->
    ok;
lookups(T, [K | Ks]) ->
    [_] = xets:lookup(T, K),
    lookups(T, Ks).

%% 100 bytes of words, as a text field of a record might hold.
value() ->
    Words = {<<"the">>, <<"order">>, <<"shipped">>, <<"customer">>, <<"address">>,
             <<"street">>, <<"city">>, <<"payment">>, <<"received">>, <<"status">>,
             <<"pending">>, <<"item">>, <<"quantity">>, <<"price">>, <<"total">>,
             <<"and">>, <<"with">>, <<"for">>, <<"new">>, <<"account">>},
    text(Words, <<>>).

text(_Words, Acc) when byte_size(Acc) >= 100 ->
    binary:part(Acc, 0, 100);
text(Words, Acc) ->
    W = element(rand:uniform(tuple_size(Words)), Words),
    text(Words, <<Acc/binary, W/binary, " ">>).
