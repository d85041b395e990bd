%% QLC tables over xets tables: what xets:table/1,2 return, as
%% ets:table/1,2 do for ets tables. A query traverses the table with
%% first_lookup/next_lookup (first_next), last_lookup/prev_lookup
%% (last_prev) or select/3 chunks (select, the default, which lets qlc push
%% a match specification down), with the table fixed meanwhile; a query
%% that binds the key is answered by lookups.
-module(xets_qlc).

-export([table/2]).

%% The options ets:table/2 takes itself; the others go to qlc:table/2.
-record(opts, {traverse = select, n_objects = 100}).

%% @doc The QLC table of xets:table/2, or badarg if Options are not what
%% ets:table/2 takes (xets:table/2 raises it in its own name, as ets does).
-spec table(xets:tab(), list() | tuple()) -> {ok, qlc:query_handle()} | badarg.
table(Tab, Options) ->
    List = if is_list(Options) -> Options; true -> [Options] end,
    case options(List, #opts{}) of
        badarg -> badarg;
        {Opts, QlcOptions} -> {ok, handle(Tab, Options, Opts, QlcOptions)}
    end.

%% As ets: the first traverse and the first n_objects option count (later
%% ones go on to qlc, which refuses them).
options(List, Opts) ->
    try
        {Traverse, Rest1} = take(traverse, List, Opts#opts.traverse),
        {NObjects, Rest2} = take(n_objects, Rest1, Opts#opts.n_objects),
        {Opts#opts{traverse = traverse(Traverse), n_objects = n_objects(NObjects)}, Rest2}
    catch
        throw:badarg -> badarg
    end.

take(Key, List, Default) ->
    case lists:keyfind(Key, 1, List) of
        false -> {Default, List};
        {Key, Value} -> {Value, lists:keydelete(Key, 1, List)};
        _ -> throw(badarg)
    end.

traverse(T) when T =:= select; T =:= first_next; T =:= last_prev -> T;
traverse({select, _MS} = T) -> T;
traverse(_) -> throw(badarg).

n_objects(default) -> 100;
n_objects(N) when is_integer(N), N >= 1 -> N;
n_objects(_) -> throw(badarg).

handle(Tab, Options, #opts{traverse = Traverse, n_objects = N}, QlcOptions) ->
    KeyEquality = case xets:info(Tab, type) of
                      ordered_set -> '==';
                      _ -> '=:='
                  end,
    %% A query whose match specification is fixed leaves qlc nothing to
    %% look up (as ets).
    Lookup = case Traverse of
                 {select, _} -> undefined;
                 _ -> fun(_KeyPos, Keys) -> lists:flatmap(fun(K) -> xets:lookup(Tab, K) end, Keys) end
             end,
    qlc:table(traversal(Tab, Traverse, N),
              [{pre_fun, fun(_) -> xets:safe_fixtable(Tab, true) end},
               {post_fun, fun() -> xets:safe_fixtable(Tab, false) end},
               {info_fun, fun(Tag) -> info(Tab, Tag) end},
               {format_fun, fun(What) -> format(Tab, Options, What) end},
               {key_equality, KeyEquality},
               {lookup_fun, Lookup} | QlcOptions]).

%% The objects as a lazy list: each tail is a fun that reads on.
traversal(Tab, first_next, _N) ->
    fun() -> steps(Tab, forward, xets:first_lookup(Tab)) end;
traversal(Tab, last_prev, _N) ->
    fun() -> steps(Tab, backward, xets:last_lookup(Tab)) end;
traversal(Tab, select, N) ->
    fun(MS) -> chunks(xets:select(Tab, MS, N)) end;
traversal(Tab, {select, MS}, N) ->
    fun() -> chunks(xets:select(Tab, MS, N)) end.

%% Unlike ets's, the walk goes on past an object whose key is
%% '$end_of_table' (README, Differences from ets).
steps(_Tab, _Dir, '$end_of_table') ->
    [];
steps(Tab, Dir, {Key, Objects}) ->
    Objects ++ fun() -> steps(Tab, Dir, xets:walk_step(Tab, Key, Dir)) end.

chunks('$end_of_table') ->
    [];
chunks({Objects, Cont}) ->
    Objects ++ fun() -> chunks(xets:select(Cont)) end.

info(Tab, num_of_objects) -> xets:info(Tab, size);
info(Tab, keypos) -> xets:info(Tab, keypos);
info(Tab, is_unique_objects) -> xets:info(Tab, type) =/= duplicate_bag;
info(Tab, is_sorted_key) -> xets:info(Tab, type) =:= ordered_set;
info(_Tab, _Tag) -> undefined.

%% How qlc:info/1 shows the table: the xets call that gives the objects.
format(Tab, Options, {all, _N, _ElementFun}) ->
    {xets, table, [Tab | [Options || Options =/= []]]};
format(Tab, Options, {match_spec, MS}) ->
    Rest = if is_list(Options) -> Options; true -> [Options] end,
    {xets, table, [Tab, [{traverse, {select, MS}} | Rest]]};
format(Tab, _Options, {lookup, _KeyPos, [Value], _N, ElementFun}) ->
    io_lib:format("xets:lookup(~w, ~w)", [Tab, ElementFun(Value)]);
format(Tab, _Options, {lookup, _KeyPos, Values, _N, ElementFun}) ->
    io_lib:format("lists:flatmap(fun(V) -> xets:lookup(~w, V) end, ~w)",
                  [Tab, [ElementFun(V) || V <- Values]]).
