#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%% Seeds for the key codec's fuzz target (test/c/key_codec_fuzz.c): one
%% file per input, term_to_binary/1 of the edge terms and of COUNT random
%% terms of test/xets_terms.erl, and of objects holding them.
%%
%%   escript key_seeds.escript OUTDIR [COUNT [SEED]]
-mode(compile).

main([Out]) -> main([Out, "1000"]);
main([Out, N]) -> main([Out, N, "1"]);
main([Out, N, Seed]) ->
    Dir = filename:dirname(escript:script_name()),
    {ok, Mod, Bin} = compile:file(filename:join(Dir, "../xets_terms.erl"), [binary]),
    {module, Mod} = code:load_binary(Mod, "xets_terms.erl", Bin),
    rand:seed(exsss, {list_to_integer(Seed), 3, 5}),
    Terms = xets_terms:edge_terms() ++
            [xets_terms:random_term(8) || _ <- lists:seq(1, list_to_integer(N))],
    Objects = [list_to_tuple([T | xets_terms:edge_terms() -- [T]]) || T <- lists:sublist(Terms, 3)] ++
              [{T, xets_terms:random_key(), T} || T <- lists:sublist(Terms, 200)],
    ok = filelib:ensure_dir(filename:join(Out, "x")),
    All = [term_to_binary(T) || T <- Terms ++ Objects],
    [ok = file:write_file(filename:join(Out, io_lib:format("seed~5..0b", [I])), B)
     || {I, B} <- lists:zip(lists:seq(1, length(All)), All)],
    io:format("key seeds: ~b inputs in ~s~n", [length(All), Out]);
main(_) ->
    io:format(standard_error, "usage: key_seeds.escript OUTDIR [COUNT [SEED]]~n", []),
    halt(2).
