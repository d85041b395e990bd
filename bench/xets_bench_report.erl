%% How xets_bench shows its measurements: one plain-text row per measurement
%% on stdout as it is taken, the same rows as CSV, and a gnuplot script that
%% draws the throughput rows, its data inline so that the script alone
%% redraws the plot.
-module(xets_bench_report).
-export([columns/0, print/1, write_csv/2, write_plot/3]).

%% A measurement of both libraries. For the codec
%% section the ets column holds term_to_binary/1, the baseline of the key
%% encoding.
-type row() :: #{section := atom(), type := atom(), options := string(), mix := string(),
                 procs := pos_integer(), unit := string(),
                 ets := number(), xets := number()}.

-define(ROW, "~-10s ~-11s ~-15s ~-22s ~5s ~-10s ~12s ~12s ~6s~n").

-spec columns() -> ok.
columns() ->
    io:format(?ROW, ["section", "type", "options", "mix", "procs", "unit", "ets", "xets",
                      "ratio"]).

-spec print(row()) -> row().
print(#{section := S, type := T, options := O, mix := M, procs := P, unit := U, ets := E,
        xets := X} = Row) ->
    io:format(?ROW, [atom_to_list(S), atom_to_list(T), O, M, integer_to_list(P), U,
                      text(E), text(X), text(ratio(Row))]),
    Row.

%% xets / ets: above 1 is faster for rates, larger for times and bytes.
ratio(#{ets := E, xets := X}) when is_number(E), is_number(X), E > 0 -> X / E;
ratio(_) -> na.

text(na) -> "n/a";
text(V) when is_float(V), abs(V) < 10 -> float_to_list(V, [{decimals, 2}]);
text(V) when is_float(V), abs(V) < 10000 -> float_to_list(V, [{decimals, 1}]);
text(V) -> integer_to_list(round(V)).

-spec write_csv(file:filename(), [row()]) -> ok.
write_csv(File, Rows) ->
    Header = "section,type,options,mix,procs,unit,ets,xets,ratio\n",
    Lines = [lists:join(",", [field(F) || F <- [atom_to_list(S), atom_to_list(T), O, M,
                                                 integer_to_list(P), U, text(E), text(X),
                                                 text(ratio(R))]]) ++ "\n"
             || #{section := S, type := T, options := O, mix := M, procs := P, unit := U,
                  ets := E, xets := X} = R <- Rows],
    ok = file:write_file(File, [Header | Lines]).

%% Quoted (RFC 4180) when it holds a comma or a quote, as shape names do.
field(F) ->
    case lists:any(fun(C) -> C =:= $, orelse C =:= $" end, lists:flatten(F)) of
        true -> [$", string:replace(F, "\"", "\"\"", all), $"];
        false -> F
    end.

%% Writes Script, which draws Png: for each table type and options, ets and
%% xets throughput side by side for every mix and process count, the ratio
%% above each pair, on a log scale (the select mixes are a thousand times
%% slower than the others).
-spec write_plot(file:filename(), file:filename(), [row()]) -> ok.
write_plot(Script, Png, Rows) ->
    Throughput = [R || #{section := throughput} = R <- Rows],
    Panels = unique([{T, O} || #{type := T, options := O} <- Throughput]),
    Blocks = [panel(I, T, O, [R || #{type := T1, options := O1} = R <- Throughput,
                                   {T1, O1} =:= {T, O}])
              || {I, {T, O}} <- lists:enumerate(Panels)],
    ok = file:write_file(
           Script,
           ["# Written by xets_bench from the throughput rows of the CSV next to it.\n",
            "set terminal pngcairo noenhanced size 1400,", integer_to_list(330 * length(Panels)),
            " font \",10\"\n",
            "set output '", Png, "'\n",
            "set multiplot layout ", integer_to_list(length(Panels)), ",1 title ",
            "\"ets vs xets throughput, ops/s (log scale); pN = N processes; xets/ets above each pair\"\n",
            "set style data histogram\n",
            "set style histogram clustered gap 1\n",
            "set style fill solid 0.8 border -1\n",
            "set logscale y\n",
            "set format y '%.0s%c'\n",
            "set yrange [100:30000000]\n",
            "set grid ytics\n",
            "set key top right\n",
            "set xtics rotate by 25 right scale 0\n",
            Blocks,
            "unset multiplot\n"]).

%% The first occurrence of each element, in order.
unique(List) ->
    lists:reverse(lists:foldl(fun(X, Seen) ->
                                      case lists:member(X, Seen) of
                                          true -> Seen;
                                          false -> [X | Seen]
                                      end
                              end, [], List)).

panel(I, Type, Options, Rows) ->
    Name = "$t" ++ integer_to_list(I),
    [Name, " << EOD\n",
     [io_lib:format("\"~s p~b\" ~s ~s \"~s\" ~s~n",
                    [M, P, number(E), number(X), text(ratio(R)),
                     number(1.6 * max(E, X))])
      || #{mix := M, procs := P, ets := E, xets := X} = R <- Rows],
     "EOD\n",
     io_lib:format("set title \"~s, ~s\"~n", [Type, Options]),
     "plot ", Name, " using 2:xtic(1) title 'ets' lc rgb '#4477aa', ",
     Name, " using 3 title 'xets' lc rgb '#ee6677', ",
     Name, " using 0:5:4 with labels notitle font ',8'\n"].

number(V) -> integer_to_list(round(V)).
