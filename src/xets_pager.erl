%% @doc The terminal views of xets:i/0,1,2,3, as ets:i/0,1,2,3 print
%% ets's: the list of every table, and a pager over one table's objects.
%%
%% Contract: it prints to and reads from the caller's group leader, and
%% reads tables only through the public API (xets:all/0, xets:info/2,
%% xets:first_lookup/1, xets:walk_step/3, xets:delete/1), so that a table
%% that is not there raises as the API does.
-module(xets_pager).

-export([tables/0, browse/3]).

%% The state of the pager: the regular expression of a search, or none.
-record(browse, {tab, height :: pos_integer(), width :: pos_integer(), regexp = none}).

%% @doc Prints every xets table, one line each, as ets:i/0 prints ets's.
-spec tables() -> ok.
tables() ->
    i_line(id, name, type, size, mem, owner),
    io:put_chars([$\s, lists:duplicate(76, $-), $\n]),
    lists:foreach(fun i_table/1, lists:sort(xets:all())).

i_table(Tab) ->
    try
        Owner = xets:info(Tab, owner),
        i_line(Tab, xets:info(Tab, name), xets:info(Tab, type), xets:info(Tab, size),
               xets:info(Tab, memory),
               case process_info(Owner, registered_name) of
                   {registered_name, Name} -> Name;
                   _ -> Owner
               end)
    catch
        %% Deleted since all/0 listed it.
        error:_ -> io:format("~-10s ... unreadable \n", [i_text(Tab)])
    end.

%% Columns as wide as ets's; a longer field pushes the rest to the right.
i_line(Id, Name, Type, Size, Mem, Owner) ->
    Fields = [string:pad(i_text(F), W) || {F, W} <- [{Id, 15}, {Name, 17}, {Type, 5},
                                                      {Size, 6}, {Mem, 8}]],
    io:put_chars([[$\s, F] || F <- Fields ++ [i_text(Owner)]] ++ "\n").

i_text(Term) ->
    lists:flatten(io_lib:format("~p", [Term])).

%% @doc Browses the table, Height lines a page, objects cut to Width
%% columns. Between pages it asks as ets:i/3 does: (c)ontinue, (q)uit,
%% (k)ill the table, (p)N to print object N whole, /Regexp to show only
%% the objects whose printed form matches.
-spec browse(xets:tab(), pos_integer(), pos_integer()) -> ok.
browse(Tab, Height, Width) ->
    browse(#browse{tab = Tab, height = Height, width = Width}, xets:first_lookup(Tab), 1, 1).

%% Shows the objects from Step on (a key and its objects) until a page is
%% full; Line is the line of the page, No the number of the next object
%% shown.
browse(B, '$end_of_table', _Line, No) ->
    browse_ask(B, '$end_of_table', No);
browse(#browse{height = Height} = B, Step, Line, No) when Line >= Height ->
    browse_ask(B, Step, No);
browse(#browse{tab = Tab, width = Width} = B, {Key, Objects}, Line, No) ->
    Shown = browse_filter(B, Objects),
    lists:foldl(fun(O, N) ->
                        Text = i_text(O),
                        Cut = case length(Text) > Width - 8 of
                                  true -> string:slice(Text, 0, Width - 13) ++ "  ...";
                                  false -> Text
                              end,
                        io:format("<~-4w> ~s~n", [N, Cut]),
                        N + 1
                end, No, Shown),
    N = length(Shown),
    browse(B, xets:walk_step(Tab, Key, forward), Line + N, No + N).

browse_filter(#browse{regexp = none}, Objects) ->
    Objects;
browse_filter(#browse{regexp = Re}, Objects) ->
    [O || O <- Objects, re:run(i_text(O), Re, [{capture, none}]) =:= match].

browse_ask(#browse{tab = Tab} = B, Step, No) ->
    Prompt = case Step of
                 '$end_of_table' -> 'EOT  (q)uit (p)Digits (k)ill /Regexp -->';
                 _ -> '(c)ontinue (q)uit (p)Digits (k)ill /Regexp -->'
             end,
    case browse_answer(io:get_line(Prompt)) of
        "c" when Step =/= '$end_of_table' ->
            browse(B, Step, 1, No);
        "q" ->
            ok;
        "k" ->
            xets:delete(Tab),
            ok;
        eof ->
            ok;
        [$p | Digits] ->
            case string:to_integer(Digits) of
                {N, ""} when is_integer(N) ->
                    case browse_nth(B, xets:first_lookup(Tab), N) of
                        [Object] -> io:format("~p~n", [Object]);
                        [] -> ok
                    end;
                _ ->
                    io:put_chars("Bad digits\n")
            end,
            browse_ask(B, Step, No);
        [$/ | Regexp] ->
            case re:compile(Regexp, [unicode]) of
                {ok, Re} ->
                    browse(B#browse{regexp = Re}, xets:first_lookup(Tab), 1, 1);
                {error, {Message, _Pos}} ->
                    io:format("~ts\n", [Message]),
                    browse_ask(B, Step, No)
            end;
        _ ->
            browse_ask(B, Step, No)
    end.

%% An answer without its newline; an empty line means continue.
browse_answer(eof) -> eof;
browse_answer({error, _}) -> eof;
browse_answer(Line) ->
    case string:trim(unicode:characters_to_list(Line), trailing, "\n") of
        "" -> "c";
        Text -> Text
    end.

%% Object N (from 1) of those shown, as a list of at most one.
browse_nth(_B, '$end_of_table', _N) ->
    [];
browse_nth(#browse{tab = Tab} = B, {Key, Objects}, N) ->
    Shown = browse_filter(B, Objects),
    case length(Shown) of
        Len when N =< Len -> [lists:nth(N, Shown) || N >= 1];
        Len -> browse_nth(B, xets:walk_step(Tab, Key, forward), N - Len)
    end.
