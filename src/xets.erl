%% @doc Erlang Term Storage rebuilt as a C NIF library.
%%
%% `xets' exports what `ets' exports, with the same arguments, results and
%% errors: replace `ets:' with `xets:'. This module checks arguments, loops
%% over chunks of long traversals and raises ets's exceptions; the data and
%% every guarantee live in C (see c_src/). Functions appear in the order of
%% the ets manual page. Match-spec traversals are in xets_select, the
%% error_info of a badarg and its explanation in xets_error, the items of
%% info/1,2 in xets_info, i/0,1,2,3 in xets_pager, table dumps in xets_file
%% and QLC tables in xets_qlc.
-module(xets).

-export([all/0, delete/1, delete/2, delete_all_objects/1, delete_object/2,
         first/1, foldl/3, foldr/3, give_away/3, info/1, info/2,
         insert/2, insert_new/2, is_compiled_ms/1, last/1, lookup/2,
         lookup_element/3, lookup_element/4, match/1, match/2, match/3,
         match_delete/2, match_object/1, match_object/2, match_object/3,
         match_spec_compile/1, match_spec_run/2, member/2, new/2, next/2,
         prev/2, rename/2, repair_continuation/2, safe_fixtable/2,
         select/1, select/2, select/3, select_count/2, select_delete/2,
         select_replace/2, select_reverse/1, select_reverse/2,
         select_reverse/3, setopts/2, tab2list/1, take/2, test_ms/2,
         update_counter/3, update_counter/4, update_element/3, whereis/1]).
%% Added to ets after OTP 25 (first_lookup/1 and friends and
%% update_element/4 in OTP 27), with their semantics.
-export([first_lookup/1, last_lookup/1, next_lookup/2, prev_lookup/2, update_element/4]).
-export([slot/2, match_spec_run_r/3]).
-export([from_dets/2, to_dets/2, fun2ms/1, i/0, i/1, i/2, i/3, init_table/2,
         table/1, table/2]).
%% ets exports these for its own use (ets:all/0, delete_all_objects/1 and
%% select_delete/2 are built on them); xets has them so that every name ets
%% exports is here too.
-export([internal_request_all/0, internal_delete_all/2, internal_select_delete/2]).
%% For xets_qlc and xets_pager.
-export([walk_step/3]).
-export([file2tab/1, file2tab/2, tab2file/2, tab2file/3, tabfile_info/1]).
-export([format_error/2]).
%% Persistent tables (xets_disk).
-export([open/3, close/1, sync/1, destroy/1]).
-export([internal_options/1, internal_new_error_info/2]).

-compile({no_auto_import, [whereis/1]}).

-export_type([tab/0, tid/0, table_type/0, continuation/0, match_spec/0]).

-opaque tid() :: reference().
-type tab() :: atom() | tid().
-type table_type() :: set | ordered_set | bag | duplicate_bag.
-opaque continuation() :: xets_select:continuation().
-type match_spec() :: [{term(), [term()], [term()]}].
-type comp_match_spec() :: ets:compiled_match_spec().

%% The stored form of one object, made here rather than in the NIF: a small
%% object's term_to_binary/1 is a heap binary, the NIF's encoder allocates
%% a reference-counted one (see xets_nif.c, insert_object).
-define(ETF(Object), term_to_binary(Object)).

%% Raises badarg as ets does, from the calling function with Args, and
%% with error_info holding the cause that ets records (xets_error): code
%% can read it, and the shell can say which argument was wrong (see
%% format_error/2). The cause is looked for only here, once the call has
%% failed.
-define(BADARG(Args),
        erlang:error(badarg, Args,
                     [{error_info, xets_error:error_info(?FUNCTION_NAME, Args)}])).
-define(CALL(Expr, Args),
        try Expr
        catch
            error:badarg -> ?BADARG(Args);
            error:{'$xets_await', Serial_, Seq_, Result_} -> xets_disk:await(Serial_, Seq_, Result_)
        end).

%% @doc Every table at this node: names for named tables, tids for others.
-spec all() -> [tab()].
all() ->
    xets_nif:all().

%% @doc ets:all/0's request: ets's schedulers each answer with
%% {Ref, TheirTables}, and ets:all/0 waits for one answer per scheduler.
%% xets's tables are in one list, so the first answer carries them all and
%% the others are empty: a caller that follows ets's protocol gets every
%% table.
-spec internal_request_all() -> reference().
internal_request_all() ->
    Ref = make_ref(),
    self() ! {Ref, all()},
    [self() ! {Ref, []} || _ <- lists:seq(2, erlang:system_info(schedulers))],
    Ref.

%% @doc Deletes the whole table.
-spec delete(tab()) -> true.
delete(Tab) ->
    ?CALL(xets_nif:delete(Tab), [Tab]).

%% @doc Deletes every object with key Key.
-spec delete(tab(), term()) -> true.
delete(Tab, Key) ->
    ?CALL(xets_nif:delete(Tab, Key), [Tab, Key]).

%% @doc Deletes every object; atomic and isolated. As ets's, built on
%% internal_delete_all/2, which its errors name.
-spec delete_all_objects(tab()) -> true.
delete_all_objects(Tab) ->
    _ = internal_delete_all(Tab, undefined),
    true.

%% @doc As delete_all_objects/1, returning how many objects it deleted, as
%% ets's. ets's second argument is undefined from its callers and otherwise
%% the state of a call it trapped out of; xets never traps, so it takes
%% undefined only.
-spec internal_delete_all(tab(), undefined) -> non_neg_integer().
internal_delete_all(Tab, undefined) ->
    ?CALL(xets_nif:delete_all_objects(Tab), [Tab, undefined]);
internal_delete_all(Tab, State) ->
    ?BADARG([Tab, State]).

%% @doc Deletes the objects identical (=:=) to Object.
-spec delete_object(tab(), tuple()) -> true.
delete_object(Tab, Object) ->
    ?CALL(xets_nif:delete_object(Tab, Object), [Tab, Object]).

%% @doc The first key in table order, or '$end_of_table'.
-spec first(tab()) -> term() | '$end_of_table'.
first(Tab) ->
    ?CALL(xets_nif:first(Tab, forward, key), [Tab]).

%% @doc The first key and its objects, read together (OTP 27).
-spec first_lookup(tab()) -> {term(), [tuple()]} | '$end_of_table'.
first_lookup(Tab) ->
    ?CALL(xets_nif:first(Tab, forward, lookup), [Tab]).

%% @doc Folds over the objects in table order.
-spec foldl(fun((tuple(), Acc) -> Acc), Acc, tab()) -> Acc.
foldl(Fun, Acc, Tab) ->
    fold(Fun, Acc, Tab, forward).

%% @doc Folds over the objects in reverse table order (table order for
%% set, bag and duplicate_bag, which have none to reverse, as in ets).
-spec foldr(fun((tuple(), Acc) -> Acc), Acc, tab()) -> Acc.
foldr(Fun, Acc, Tab) ->
    fold(Fun, Acc, Tab, backward).

%% ets's folds fix the table (safe_fixtable(T, true)), walk it, and
%% release it (safe_fixtable(T, false)) even when Fun raises. xets's walk
%% needs no fixation, but fails as those calls do: on a table that is not
%% there (or not readable) as the first, and, when the table went during
%% the walk (Fun deleted it or gave it away), as the second, even when Fun
%% raised. Fun is called on objects only: on an empty table the fold
%% returns Acc whatever Fun is.
fold(Fun, Acc, Tab, Dir) ->
    First = try xets_nif:chunk(Tab, '$end_of_table', Dir)
            catch error:badarg -> safe_fixtable(Tab, true, badarg)
            end,
    try
        fold_chunks(fun([], A) -> A;
                       (Objects, A) -> lists:foldl(Fun, A, Objects)
                    end, Acc, Tab, Dir, First)
    after
        readable(Tab) orelse safe_fixtable(Tab, false, badarg)
    end.

%% Folds Fun over the table's traversal chunks (lists of objects) in
%% direction Dir. Each chunk is a short NIF call: no scheduler is held for
%% long, and Fun runs between chunks with no lock or epoch held.
fold_chunks(Fun, Acc, _Tab, _Dir, {Objects, '$end_of_table'}) ->
    Fun(Objects, Acc);
fold_chunks(Fun, Acc, Tab, Dir, {Objects, Next}) ->
    Acc1 = Fun(Objects, Acc),
    fold_chunks(Fun, Acc1, Tab, Dir, xets_nif:chunk(Tab, Next, Dir)).

%% Whether the calling process may read the table.
readable(Tab) ->
    try xets_nif:member(Tab, []) of
        _ -> true
    catch
        error:badarg -> false
    end.

%% @doc Inserts the objects of the open dets table DetsTab; objects already
%% in Tab stay unless replaced.
-spec from_dets(tab(), dets:tab_name()) -> true.
from_dets(Tab, DetsTab) ->
    case dets_call(fun() -> dets_to_xets(DetsTab, Tab) end, Tab) of
        ok -> true;
        {error, Reason} -> erlang:error(Reason, [Tab, DetsTab])
    end.

%% What dets:to_ets/2 does for an ets table.
dets_to_xets(DetsTab, Tab) ->
    case info(Tab, protection) of
        undefined -> erlang:error(badarg, [DetsTab, Tab]);
        _ -> dets:foldl(fun(Object, T) -> true = insert(T, Object), T end, Tab, DetsTab)
    end.

%% ok, or as ets, a dets failure, returned or raised, as the reason alone
%% (which the caller raises with its arguments).
dets_call(Fun, Expected) ->
    case catch Fun() of
        Expected -> ok;
        {error, Reason} -> {error, Reason};
        {'EXIT', {Reason, _Stack}} -> {error, Reason};
        {'EXIT', Reason} -> {error, Reason};
        Unexpected -> {error, Unexpected}
    end.

%% @doc Translates a fun to a match specification, as ets:fun2ms/1: a fun
%% written in the shell is translated at run time; in a module, the call
%% must be translated at compile time by the parse transform
%% xets_ms_transform (include/xets_ms_transform.hrl), and otherwise exits
%% as ets's does, naming xets.
-spec fun2ms(function()) -> match_spec() | {error, transform_error}.
fun2ms(Fun) when is_function(Fun) ->
    case erl_eval:fun_data(Fun) of
        {fun_data, _Imports, _Clauses} ->
            ets:fun2ms(Fun);
        _ ->
            exit({badarg, {?MODULE, fun2ms,
                           [function, called, with, real, 'fun', should, be, transformed, with,
                            parse_transform, 'or', called, with, a, 'fun', generated, in, the,
                            shell]}})
    end.

%% @doc Makes Pid the owner; it receives {'ETS-TRANSFER', Tab, self(), Data}.
-spec give_away(tab(), pid(), term()) -> true.
give_away(Tab, Pid, GiftData) ->
    ?CALL(xets_nif:give_away(Tab, Pid, GiftData), [Tab, Pid, GiftData]).

%% @doc Information about the table, as ets:info/1; undefined if it does
%% not exist.
-spec info(tab()) -> [{atom(), term()}] | undefined.
info(Tab) when is_atom(Tab); is_reference(Tab) ->
    case ?CALL(xets_nif:info(Tab), [Tab]) of
        undefined -> undefined;
        Raw -> xets_info:all(Raw)
    end;
info(Tab) ->
    ?BADARG([Tab]).

%% @doc One item of information, as ets:info/2; undefined if the table does
%% not exist.
-spec info(tab(), atom()) -> term().
info(Tab, Item) when is_atom(Tab); is_reference(Tab) ->
    case ?CALL(xets_nif:info(Tab), [Tab, Item]) of
        undefined -> undefined;
        Raw ->
            try info_item(Tab, Item, Raw)
            catch error:badarg -> ?BADARG([Tab, Item])
            end
    end;
info(Tab, Item) ->
    ?BADARG([Tab, Item]).

%% @doc Opens or creates the persistent table in Dir (xets_disk:open/3):
%% {ok, Tab} or {error, Reason}.
-spec open(atom(), file:name_all(), list()) -> {ok, tab()} | {error, xets_disk:reason()}.
open(Name, Dir, Options) ->
    xets_disk:open(Name, Dir, Options).

%% @doc Flushes and closes a persistent table, keeping its files.
-spec close(tab()) -> ok | {error, xets_disk:reason()}.
close(Tab) ->
    xets_disk:close(Tab).

%% @doc Returns once every earlier write to a persistent table is durable;
%% raises `error({xets_io, Reason})' if they never will be (the table's
%% log failed: it takes no more writes until reopened). A failed flush of
%% the memtable does not fail it: the writes are in the log, durable.
-spec sync(tab()) -> ok.
sync(Tab) ->
    xets_disk:sync(Tab).

%% @doc Removes a closed persistent table's files and directory.
-spec destroy(file:name_all()) -> ok | {error, term()}.
destroy(Dir) ->
    xets_disk:destroy(Dir).

%% An item's value; badarg for an item ets does not know. Items that
%% info/1's tuple does not hold are read by calls of their own.
info_item(Tab, stats, _Raw) ->
    xets_nif:stats(Tab);
info_item(Tab, disk, _Raw) ->
    xets_disk:info(Tab);
info_item(_Tab, Item, Raw) ->
    try xets_info:item(Item, Raw)
    catch error:function_clause -> erlang:error(badarg)
    end.

%% @doc Prints every xets table, one line each, as ets:i/0 prints ets's.
-spec i() -> ok.
i() ->
    xets_pager:tables().

%% @doc Browses the table on the terminal, 40 lines a page, as ets:i/1.
-spec i(tab()) -> ok.
i(Tab) ->
    i(Tab, 40).

%% @doc As i/1, Height lines a page.
-spec i(tab(), pos_integer()) -> ok.
i(Tab, Height) ->
    i(Tab, Height, 80).

%% @doc As i/1, Height lines a page, objects cut to Width columns. Between
%% pages it asks as ets:i/3 does: (c)ontinue, (q)uit, (k)ill the table,
%% (p)N to print object N whole, /Regexp to show only the objects whose
%% printed form matches.
-spec i(tab(), pos_integer(), pos_integer()) -> ok.
i(Tab, Height, Width) ->
    xets_pager:browse(Tab, Height, Width).

%% @doc Replaces the table's objects with those InitFun gives: InitFun(read)
%% returns end_of_input or {Objects, NextInitFun}; on a failure to insert,
%% NextInitFun(close) is called and the caller exits, as in ets.
-spec init_table(tab(), fun((read | close) -> end_of_input | {[tuple()], fun()} | term())) ->
          true.
init_table(Tab, InitFun) ->
    delete_all_objects(Tab),
    init_table_read(Tab, InitFun(read)).

init_table_read(_Tab, end_of_input) ->
    true;
init_table_read(Tab, {Objects, InitFun}) when is_list(Objects), is_function(InitFun) ->
    case catch init_table_insert(Tab, Objects) of
        true ->
            init_table_read(Tab, InitFun(read));
        {'EXIT', Reason} ->
            catch InitFun(close),
            exit(Reason)
    end;
init_table_read(_Tab, Other) ->
    exit(Other).

%% The list in one atomic insert when it is good; otherwise one object at
%% a time, so that, as in ets, the objects before a bad one are in and the
%% failure is the bad one's.
init_table_insert(Tab, Objects) ->
    try
        insert(Tab, Objects)
    catch
        error:badarg -> insert_each(Tab, Objects)
    end.

insert_each(_Tab, []) ->
    true;
insert_each(Tab, [Object | Objects]) ->
    insert(Tab, Object),
    insert_each(Tab, Objects).

%% @doc Inserts an object or a list of objects, replacing objects with the
%% same key in set and ordered_set tables. A list is inserted atomically and
%% in isolation.
-spec insert(tab(), tuple() | [tuple()]) -> true.
insert(Tab, Object) when is_tuple(Object) ->
    ?CALL(xets_nif:insert_object(Tab, Object, ?ETF(Object), false), [Tab, Object]);
%% One object in a list is inserted as one object, without closing the
%% table to others as a list insert does.
insert(Tab, [Object] = Objects) when is_tuple(Object) ->
    ?CALL(xets_nif:insert_object(Tab, Object, ?ETF(Object), false), [Tab, Objects]);
insert(Tab, ObjectOrObjects) ->
    ?CALL(xets_nif:insert(Tab, ObjectOrObjects), [Tab, ObjectOrObjects]).

%% @doc As insert/2, but inserts nothing and returns false if any key is
%% already present.
-spec insert_new(tab(), tuple() | [tuple()]) -> boolean().
insert_new(Tab, Object) when is_tuple(Object) ->
    ?CALL(xets_nif:insert_object(Tab, Object, ?ETF(Object), true), [Tab, Object]);
insert_new(Tab, [Object] = Objects) when is_tuple(Object) ->
    ?CALL(xets_nif:insert_object(Tab, Object, ?ETF(Object), true), [Tab, Objects]);
insert_new(Tab, ObjectOrObjects) ->
    ?CALL(xets_nif:insert_new(Tab, ObjectOrObjects), [Tab, ObjectOrObjects]).

%% @doc Whether Term is a compiled match specification (as ets).
-spec is_compiled_ms(term()) -> boolean().
is_compiled_ms(Term) ->
    ets:is_compiled_ms(Term).

%% @doc The last key in table order (the first, for tables without order).
-spec last(tab()) -> term() | '$end_of_table'.
last(Tab) ->
    ?CALL(xets_nif:first(Tab, backward, key), [Tab]).

%% @doc The last key and its objects, read together (OTP 27).
-spec last_lookup(tab()) -> {term(), [tuple()]} | '$end_of_table'.
last_lookup(Tab) ->
    ?CALL(xets_nif:first(Tab, backward, lookup), [Tab]).

%% @doc The objects with key Key.
-spec lookup(tab(), term()) -> [tuple()].
lookup(Tab, Key) ->
    ?CALL(xets_nif:lookup(Tab, Key), [Tab, Key]).

%% @doc Element Pos of the object with key Key (of each, in a bag).
-spec lookup_element(tab(), term(), pos_integer()) -> term().
lookup_element(Tab, Key, Pos) ->
    ?CALL(xets_nif:lookup_element(Tab, Key, Pos, nodefault), [Tab, Key, Pos]).

%% @doc As lookup_element/3, but returns Default if there is no such key.
-spec lookup_element(tab(), term(), pos_integer(), term()) -> term().
lookup_element(Tab, Key, Pos, Default) ->
    ?CALL(xets_nif:lookup_element(Tab, Key, Pos, {default, Default}), [Tab, Key, Pos, Default]).

%% @doc Continues match/3.
-spec match(continuation() | '$end_of_table') ->
          {[[term()]], continuation() | '$end_of_table'} | '$end_of_table'.
match(Continuation) ->
    ?CALL(xets_select:continue(Continuation), [Continuation]).

%% @doc The bindings of the pattern's variables ('$1', '$2', ...) in each
%% matching object.
-spec match(tab(), term()) -> [[term()]].
match(Tab, Pattern) ->
    ?CALL(xets_select:results(Tab, [{Pattern, [], ['$$']}], forward), [Tab, Pattern]).

%% @doc As match/2, Limit results at a time.
-spec match(tab(), term(), pos_integer()) ->
          {[[term()]], continuation() | '$end_of_table'} | '$end_of_table'.
match(Tab, Pattern, Limit) ->
    ?CALL(xets_select:first_chunk(Tab, [{Pattern, [], ['$$']}], Limit, forward),
          [Tab, Pattern, Limit]).

%% @doc Deletes the objects matching the pattern. As ets's, built on
%% select_delete/2.
-spec match_delete(tab(), term()) -> true.
match_delete(Tab, Pattern) ->
    _ = select_delete(Tab, [{Pattern, [], [true]}]),
    true.

%% @doc Continues match_object/3.
-spec match_object(continuation() | '$end_of_table') ->
          {[tuple()], continuation() | '$end_of_table'} | '$end_of_table'.
match_object(Continuation) ->
    ?CALL(xets_select:continue(Continuation), [Continuation]).

%% @doc The objects matching the pattern.
-spec match_object(tab(), term()) -> [tuple()].
match_object(Tab, Pattern) ->
    ?CALL(xets_select:results(Tab, [{Pattern, [], ['$_']}], forward), [Tab, Pattern]).

%% @doc As match_object/2, Limit objects at a time.
-spec match_object(tab(), term(), pos_integer()) ->
          {[tuple()], continuation() | '$end_of_table'} | '$end_of_table'.
match_object(Tab, Pattern, Limit) ->
    ?CALL(xets_select:first_chunk(Tab, [{Pattern, [], ['$_']}], Limit, forward),
          [Tab, Pattern, Limit]).

%% @doc Compiles a match specification (as ets).
-spec match_spec_compile(match_spec()) -> comp_match_spec().
match_spec_compile(MatchSpec) ->
    ?CALL(ets:match_spec_compile(MatchSpec), [MatchSpec]).

%% @doc Runs a compiled match specification over a list (as ets, built on
%% match_spec_run_r/3).
-spec match_spec_run([term()], comp_match_spec()) -> [term()].
match_spec_run(List, CompiledMatchSpec) ->
    lists:reverse(match_spec_run_r(List, CompiledMatchSpec, [])).

%% @doc The results of a compiled match specification over a list, in
%% reverse, in front of Acc (as ets; match_spec_run/2 is built on it).
-spec match_spec_run_r([term()], comp_match_spec(), list()) -> list().
match_spec_run_r(List, CompiledMatchSpec, Acc) ->
    ?CALL(ets:match_spec_run_r(List, CompiledMatchSpec, Acc), [List, CompiledMatchSpec, Acc]).

%% @doc Whether an object with key Key exists.
-spec member(tab(), term()) -> boolean().
member(Tab, Key) ->
    ?CALL(xets_nif:member(Tab, Key), [Tab, Key]).

%% @doc Creates a table, owned by the calling process. Accepts every option
%% ets:new/2 accepts, and {spill, Dir}: a table that may hold more than
%% memory, its data in files of a directory of its own under Dir, gone
%% with the table (xets_spill), with {memory_limit, Bytes | infinity} and
%% {memtable_bytes, N} as xets:open/3's. Without spill those two are
%% badarg: a table in memory cannot keep to a limit.
-spec new(atom(), list()) -> tab().
new(Name, Options) ->
    try
        true = is_atom(Name),
        case xets_disk:internal_split(Options, [spill, memory_limit, memtable_bytes]) of
            {Disk, _} when Disk =:= #{} ->
                xets_nif:new(Name, internal_options(Options));
            {#{spill := _} = Disk, Rest} ->
                xets_spill:new(Name, Disk, internal_options(Rest))
        end
    catch
        error:Reason when Reason =:= badarg; element(1, Reason) =:= badmatch;
                          Reason =:= function_clause; element(1, Reason) =:= case_clause ->
            erlang:error(badarg, [Name, Options],
                         [{error_info, internal_new_error_info(Name, Options)}])
    end.

%% @doc The error_info of new/2's badarg (and open/3's): the cause
%% already_exists when a named table's name is taken, as ets's.
-spec internal_new_error_info(term(), term()) -> map().
internal_new_error_info(Name, Options) ->
    Cause = case is_atom(Name) andalso whereis(Name) =/= undefined andalso
                (catch lists:member(named_table, Options)) =:= true of
                true -> #{cause => already_exists};
                false -> #{}
            end,
    Cause#{module => ?MODULE}.

options([], O) ->
    normalized(O);
%% As in ets, the last type and the last access win, but set and
%% protected never override another: they are only the defaults.
%% Decentralized counters, unless asked for or against, follow ets's walk
%% of the list: on when ordered_set or {write_concurrency, auto} comes, and
%% {write_concurrency, true} turns them on for an ordered_set and off
%% otherwise, whatever type comes later.
options([Default | T], O) when Default =:= set; Default =:= protected ->
    options(T, O);
options([ordered_set | T], O) ->
    options(T, O#{type := ordered_set, counters := true});
options([Type | T], O) when Type =:= bag; Type =:= duplicate_bag ->
    options(T, O#{type := Type});
options([P | T], O) when P =:= public; P =:= private ->
    options(T, O#{protection := P});
options([named_table | T], O) ->
    options(T, O#{named := true});
options([compressed | T], O) ->
    options(T, O#{compressed := true});
options([{keypos, P} | T], O) when is_integer(P), P >= 1 ->
    options(T, O#{keypos := P});
options([{heir, none} | T], O) ->
    options(T, O#{heir := none});
options([{heir, Pid, Data} | T], O) when is_pid(Pid), node(Pid) =:= node() ->
    options(T, O#{heir := {Pid, Data}});
options([{write_concurrency, true} | T], #{type := Type} = O) ->
    options(T, O#{write_concurrency := true, counters := Type =:= ordered_set});
options([{write_concurrency, auto} | T], O) ->
    options(T, O#{write_concurrency := auto, counters := true});
options([{write_concurrency, false} | T], O) ->
    options(T, O#{write_concurrency := false});
options([{read_concurrency, RC} | T], O) when is_boolean(RC) ->
    options(T, O#{read_concurrency := RC});
options([{decentralized_counters, DC} | T], O) when is_boolean(DC) ->
    options(T, O#{decentralized_counters => DC}).

%% @doc The tuple of new/2's options that the NIF takes, for xets_disk:open/3
%% (which takes new/2's options too); raises on a bad option.
-spec internal_options(list()) -> tuple().
internal_options(Options) ->
    options(Options, #{type => set, protection => protected, named => false, keypos => 1,
                       heir => none, write_concurrency => false, read_concurrency => false,
                       counters => false, compressed => false}).

%% The tuple xets_nif:new/2 takes.
normalized(O0) ->
    %% As ets: only the owner touches a private table, so it reports no
    %% concurrency options; with one scheduler no two writers run at once,
    %% so it reports no write_concurrency.
    O = case {O0, erlang:system_info(schedulers)} of
            {#{protection := private}, _} -> O0#{write_concurrency := false, read_concurrency := false};
            {_, 1} -> O0#{write_concurrency := false};
            _ -> O0
        end,
    #{type := Type, write_concurrency := WC} = O,
    %% As ets: decentralized counters only with write_concurrency.
    DC = WC =/= false andalso maps:get(decentralized_counters, O, maps:get(counters, O)),
    {Type, maps:get(protection, O), maps:get(named, O), maps:get(keypos, O),
     maps:get(heir, O), WC, maps:get(read_concurrency, O), DC, maps:get(compressed, O)}.

%% @doc The key after Key in table order, or '$end_of_table'.
-spec next(tab(), term()) -> term() | '$end_of_table'.
next(Tab, Key) ->
    ?CALL(xets_nif:next(Tab, Key, forward, key), [Tab, Key]).

%% @doc The key after Key and its objects, read together (OTP 27).
-spec next_lookup(tab(), term()) -> {term(), [tuple()]} | '$end_of_table'.
next_lookup(Tab, Key) ->
    ?CALL(xets_nif:next(Tab, Key, forward, lookup), [Tab, Key]).

%% @doc The key before Key in table order (after, for tables without order).
-spec prev(tab(), term()) -> term() | '$end_of_table'.
prev(Tab, Key) ->
    ?CALL(xets_nif:next(Tab, Key, backward, key), [Tab, Key]).

%% @doc The step of a walk of xets's own (i/1, table/2): as next_lookup/2
%% (forward) or prev_lookup/2 (backward), but it steps from an ordered_set
%% key '$end_of_table' too, so that the walk does not stop there as ets's
%% do.
-spec walk_step(tab(), term(), forward | backward) -> {term(), [tuple()]} | '$end_of_table'.
walk_step(Tab, Key, Dir) ->
    ?CALL(xets_nif:next(Tab, Key, Dir, walk), [Tab, Key, Dir]).

%% @doc The key before Key and its objects, read together (OTP 27).
-spec prev_lookup(tab(), term()) -> {term(), [tuple()]} | '$end_of_table'.
prev_lookup(Tab, Key) ->
    ?CALL(xets_nif:next(Tab, Key, backward, lookup), [Tab, Key]).

%% @doc Renames a table.
-spec rename(tab(), atom()) -> atom().
rename(Tab, Name) ->
    ?CALL(xets_nif:rename(Tab, Name), [Tab, Name]).

%% @doc Makes a continuation usable again after it went through the
%% external term format (which loses its compiled parts).
-spec repair_continuation(continuation() | '$end_of_table', match_spec()) ->
          continuation() | '$end_of_table'.
repair_continuation('$end_of_table', _MatchSpec) ->
    '$end_of_table';
repair_continuation(Continuation, MatchSpec) ->
    case xets_select:repair(Continuation, MatchSpec) of
        %% As ets's, which is Erlang code: no clause takes it.
        not_ours -> erlang:error(function_clause, [Continuation, MatchSpec]);
        Repaired -> Repaired
    end.

%% @doc Fixes the table for safe traversal by the calling process (or
%% releases one fixation).
-spec safe_fixtable(tab(), boolean()) -> true.
safe_fixtable(Tab, Fix) ->
    ?CALL(xets_nif:safe_fixtable(Tab, Fix), [Tab, Fix]).

%% For the folds: raises the badarg of safe_fixtable(Tab, Fix) on a table
%% that is not there or not readable.
safe_fixtable(Tab, Fix, badarg) ->
    ?BADARG([Tab, Fix]).

%% @doc Continues select/3 or select_reverse/3.
-spec select(continuation() | '$end_of_table') ->
          {[term()], continuation() | '$end_of_table'} | '$end_of_table'.
select(Continuation) ->
    ?CALL(xets_select:continue(Continuation), [Continuation]).

%% @doc The results of the match specification for every matching object,
%% in table order.
-spec select(tab(), match_spec()) -> [term()].
select(Tab, MatchSpec) ->
    ?CALL(xets_select:results(Tab, MatchSpec, forward), [Tab, MatchSpec]).

%% @doc As select/2, Limit results at a time.
-spec select(tab(), match_spec(), pos_integer()) ->
          {[term()], continuation() | '$end_of_table'} | '$end_of_table'.
select(Tab, MatchSpec, Limit) ->
    ?CALL(xets_select:first_chunk(Tab, MatchSpec, Limit, forward), [Tab, MatchSpec, Limit]).

%% @doc The number of objects for which the match specification returns
%% true.
-spec select_count(tab(), match_spec()) -> non_neg_integer().
select_count(Tab, MatchSpec) ->
    ?CALL(xets_select:counted(Tab, MatchSpec, count), [Tab, MatchSpec]).

%% @doc Deletes the objects for which the match specification returns true;
%% returns how many. As ets's, built on internal_delete_all/2 for the spec
%% that deletes all and on internal_select_delete/2 otherwise, which its
%% errors name.
-spec select_delete(tab(), match_spec()) -> non_neg_integer().
select_delete(Tab, [{'_', [], [true]}]) ->
    internal_delete_all(Tab, undefined);
select_delete(Tab, MatchSpec) ->
    internal_select_delete(Tab, MatchSpec).

%% @doc What ets's select_delete/2 calls for every spec but the one that
%% deletes all.
-spec internal_select_delete(tab(), match_spec()) -> non_neg_integer().
internal_select_delete(Tab, MatchSpec) ->
    ?CALL(xets_select:counted(Tab, MatchSpec, delete), [Tab, MatchSpec]).

%% @doc Replaces each matching object by the match specification's result,
%% atomically per object; returns how many. As in ets, the specification
%% must keep every object's key, and bags are refused.
-spec select_replace(tab(), match_spec()) -> non_neg_integer().
select_replace(Tab, MatchSpec) ->
    ?CALL(xets_select:counted(Tab, MatchSpec, replace), [Tab, MatchSpec]).

%% @doc Continues select_reverse/3.
-spec select_reverse(continuation() | '$end_of_table') ->
          {[term()], continuation() | '$end_of_table'} | '$end_of_table'.
select_reverse(Continuation) ->
    ?CALL(xets_select:continue(Continuation), [Continuation]).

%% @doc As select/2, in reverse table order (ordered_set; others as select/2).
-spec select_reverse(tab(), match_spec()) -> [term()].
select_reverse(Tab, MatchSpec) ->
    ?CALL(xets_select:results(Tab, MatchSpec, backward), [Tab, MatchSpec]).

%% @doc As select/3, in reverse table order.
-spec select_reverse(tab(), match_spec(), pos_integer()) ->
          {[term()], continuation() | '$end_of_table'} | '$end_of_table'.
select_reverse(Tab, MatchSpec, Limit) ->
    ?CALL(xets_select:first_chunk(Tab, MatchSpec, Limit, backward), [Tab, MatchSpec, Limit]).

%% @doc Sets table options: as in ets, heir and protection can be changed,
%% each at most once per call, by the owner.
-spec setopts(tab(), tuple() | [tuple()]) -> true.
setopts(Tab, Opts) when is_list(Opts) ->
    ?CALL(setopts(Tab, Opts, keep, keep), [Tab, Opts]);
setopts(Tab, Opt) ->
    ?CALL(setopts(Tab, [Opt], keep, keep), [Tab, Opt]).

setopts(Tab, [], Heir, Protection) ->
    xets_nif:setopts(Tab, Heir, Protection);
setopts(Tab, [{heir, none} | T], keep, Protection) ->
    setopts(Tab, T, none, Protection);
setopts(Tab, [{heir, Pid, Data} | T], keep, Protection) when is_pid(Pid) ->
    setopts(Tab, T, {Pid, Data}, Protection);
setopts(Tab, [{protection, P} | T], Heir, keep) when P =:= private; P =:= protected;
                                                     P =:= public ->
    setopts(Tab, T, Heir, P);
setopts(_Tab, _Opts, _Heir, _Protection) ->
    erlang:error(badarg).

%% @doc The objects of slot I, '$end_of_table' at the slot after the last,
%% badarg beyond. ordered_set: slot I is the I-th object in table order, as
%% in ets. set, bag and duplicate_bag: slot I is hash bucket I, as in ets,
%% of xets's own buckets (so not numbered as ets's): each object is in
%% exactly one of slots 0 to N - 1, N being the number of buckets when the
%% call is made; it grows and shrinks with the table.
-spec slot(tab(), non_neg_integer()) -> [tuple()] | '$end_of_table'.
slot(Tab, I) ->
    ?CALL(slot(Tab, I, '$end_of_table'), [Tab, I]).

%% An ordered_set slot is counted in calls of bounded length.
slot(Tab, I, Cursor) ->
    case xets_nif:slot(Tab, I, Cursor) of
        {continue, Left, Next} -> slot(Tab, Left, Next);
        Objects -> Objects
    end.

%% @doc Every object in the table, in ets's order: term order on an
%% ordered_set, the reverse of the traversal's on the others (README,
%% "Result order").
-spec tab2list(tab()) -> [tuple()].
tab2list(Tab) ->
    try all_objects(Tab, '$end_of_table', [])
    catch
        %% ets's tab2list/1 is match_object(T, '_'): its errors are
        %% match_object/2's, which that call raises.
        error:badarg -> match_object(Tab, '_')
    end.

%% Each chunk conses its objects in front of the chunks' before it; on an
%% ordered_set the whole is then reversed once (xets_nif.c, objects/3).
all_objects(Tab, Cursor, Acc) ->
    case xets_nif:objects(Tab, Cursor, Acc) of
        {Objects, '$end_of_table', false} -> Objects;
        {Objects, '$end_of_table', true} -> lists:reverse(Objects);
        {Objects, Next, _} -> all_objects(Tab, Next, Objects)
    end.

%% @doc A QLC table of the whole table, as ets:table/1.
-spec table(tab()) -> qlc:query_handle().
table(Tab) ->
    table(Tab, []).

%% @doc A QLC table, as ets:table/2: {traverse, first_next | last_prev |
%% select | {select, MatchSpec}} and {n_objects, N | default} as in ets,
%% other options passed to qlc:table/2.
-spec table(tab(), list() | tuple()) -> qlc:query_handle().
table(Tab, Options) ->
    case xets_qlc:table(Tab, Options) of
        {ok, Handle} -> Handle;
        badarg -> erlang:error(badarg, [Tab, Options])
    end.

%% Dumps to files in the format of ets:tab2file/3, which either library
%% loads (xets_file.erl).

%% @doc Loads a table dumped by tab2file/2,3 or by ets:tab2file/2,3.
-spec file2tab(file:name()) -> {ok, tab()} | {error, term()}.
file2tab(File) ->
    xets_file:file2tab(File, []).

%% @doc As file2tab/1; with {verify, true}, checks the object count and
%% the checksum that the dump's extended_info recorded.
-spec file2tab(file:name(), [{verify, boolean()}]) -> {ok, tab()} | {error, term()}.
file2tab(File, Options) ->
    xets_file:file2tab(File, Options).

%% @doc Dumps the table to File, which ets:file2tab/1 can load too.
-spec tab2file(tab(), file:name()) -> ok | {error, term()}.
tab2file(Tab, File) ->
    xets_file:tab2file(Tab, File, []).

%% @doc As tab2file/2, with {extended_info, [object_count | md5sum]} and
%% {sync, boolean()}.
-spec tab2file(tab(), file:name(), [{extended_info, [object_count | md5sum]} |
                                    {sync, boolean()}]) -> ok | {error, term()}.
tab2file(Tab, File, Options) ->
    xets_file:tab2file(Tab, File, Options).

%% @doc The table information in a dump's header, as ets:tabfile_info/1.
-spec tabfile_info(file:name()) -> {ok, [{atom(), term()}]} | {error, term()}.
tabfile_info(File) ->
    xets_file:tabfile_info(File).

%% @doc Removes and returns the objects with key Key.
-spec take(tab(), term()) -> [tuple()].
take(Tab, Key) ->
    ?CALL(xets_nif:take(Tab, Key), [Tab, Key]).

%% @doc Runs a match specification on one tuple (as ets).
-spec test_ms(tuple(), match_spec()) -> {ok, term()} | {error, [{warning | error, string()}]}.
test_ms(Tuple, MatchSpec) ->
    ets:test_ms(Tuple, MatchSpec).

%% @doc Replaces the objects of the open dets table DetsTab with the
%% table's; returns DetsTab.
-spec to_dets(tab(), dets:tab_name()) -> dets:tab_name().
to_dets(Tab, DetsTab) ->
    case dets_call(fun() -> xets_to_dets(Tab, DetsTab) end, ok) of
        ok -> DetsTab;
        {error, Reason} -> erlang:error(Reason, [Tab, DetsTab])
    end.

%% What dets:from_ets/2 does for an ets table: the table fixed, its objects
%% handed over in select/3 chunks. The dets server calls the fun, so it
%% reads the table from another process, as with ets.
xets_to_dets(Tab, DetsTab) ->
    safe_fixtable(Tab, true),
    try
        dets:init_table(DetsTab, dets_feed(select(Tab, [{'_', [], ['$_']}], 100)))
    after
        safe_fixtable(Tab, false)
    end.

dets_feed(Chunk) ->
    fun(close) -> ok;
       (read) when Chunk =:= '$end_of_table' -> end_of_input;
       (read) -> {Objects, Cont} = Chunk, {Objects, dets_feed(select(Cont))}
    end.

%% @doc Atomically increments integer elements of the object with key Key.
-spec update_counter(tab(), term(), term()) -> integer() | [integer()].
update_counter(Tab, Key, UpdateOp) ->
    ?CALL(xets_nif:update(Tab, Key, UpdateOp, true, nodefault), [Tab, Key, UpdateOp]).

%% @doc As update_counter/3, inserting Default (its key replaced by Key)
%% first when there is no object with key Key.
-spec update_counter(tab(), term(), term(), tuple()) -> integer() | [integer()].
update_counter(Tab, Key, UpdateOp, Default) ->
    ?CALL(xets_nif:update(Tab, Key, UpdateOp, true, {default, Default}),
          [Tab, Key, UpdateOp, Default]).

%% @doc Atomically replaces elements of the object with key Key; false if
%% there is none.
-spec update_element(tab(), term(), {pos_integer(), term()} | [{pos_integer(), term()}]) ->
          boolean().
update_element(Tab, Key, ElementSpec) ->
    ?CALL(xets_nif:update(Tab, Key, ElementSpec, false, nodefault), [Tab, Key, ElementSpec]).

%% @doc As update_element/3, but when there is no object with key Key,
%% inserts Default (its key replaced by Key) with the elements replaced
%% (OTP 27). Always true.
-spec update_element(tab(), term(), {pos_integer(), term()} | [{pos_integer(), term()}],
                     tuple()) -> true.
update_element(Tab, Key, ElementSpec, Default) ->
    ?CALL(xets_nif:update(Tab, Key, ElementSpec, false, {default, Default}),
          [Tab, Key, ElementSpec, Default]).

%% @doc The tid of the named table Name, or undefined.
-spec whereis(atom()) -> tid() | undefined.
whereis(Name) ->
    ?CALL(xets_nif:whereis(Name), [Name]).

%% @doc Explains an error raised by this module, for the shell (erl_error),
%% in ets's words, as stdlib explains ets's (xets_error): the error_info of
%% xets's badargs names this module.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => binary()}.
format_error(Reason, StackTrace) ->
    xets_error:format_error(Reason, StackTrace).
