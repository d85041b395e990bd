%% @doc The Mnesia backend plugin: xets tables as Mnesia storage, under
%% two aliases, `xets_copies' (persistent tables, disc semantics) and
%% `xets_ram_copies' (tables in memory, ram semantics).
%%
%% ```
%% ok = xets_mnesia:register(),     % or create_schema(Ns, [{backend_types, xets_mnesia:backend_types()}])
%% {atomic, ok} = mnesia:create_table(t, [{xets_copies, [node()]}, {attributes, [k, v]}]).
%% '''
%%
%% Design (README, "Mnesia"):
%%
%% <ul>
%% <li>Files. A `xets_copies' table lives in its own directory under
%% Mnesia's, `Tab.XETS' (xets:open/3). `.XETS' is the suffix
%% real_suffixes/0 gives Mnesia, so that Mnesia's own clean-ups (a
%% fallback's installation, delete_schema) remove the directory as they
%% remove a `.DAT' file. Index and checkpoint-retainer tables are in
%% memory: an index is rebuilt whenever its table is loaded
%% (is_index_consistent/2 says false), as Mnesia does for disc_copies and
%% disc_only_copies, because Mnesia's replay of its log at start-up writes
%% the table but not its indexes; a retainer lives as long as its
%% checkpoint, which does not survive a restart.</li>
%% <li>Ownership. One process per node, this module's gen_server,
%% registered as `xets_mnesia' under mnesia_ext_sup (so it stops with
%% Mnesia), owns every table; it opens, closes and deletes them. Tables
%% are public: every Mnesia process reads and writes them directly, with
%% no message to the owner. A table of Mnesia table `Tab' is the named
%% xets table `Tab'; index and retainer tables, whose Mnesia names are
%% tuples, are found through the owner's registry (an ets table named
%% `xets_mnesia').</li>
%% <li>Records: Mnesia keeps the key at position 2, so tables have keypos
%% 2; index tables hold `{{IxValue, Key}}' (ordered) or `{IxValue, Key}'
%% (bag) with keypos 1, as mnesia_index writes them.</li>
%% <li>Semantics. `xets_copies' answers disc_only_copies to
%% `semantics(_, storage)': Mnesia then writes committed transactions
%% straight into the table and replays its own log into it at start-up,
%% as for a dets table (disc_copies semantics would have Mnesia keep an
%% ets copy's `.DCL' log as well). `xets_ram_copies' answers ram_copies.
%% Both take set, ordered_set and bag, and indexes of type ordered and
%% bag.</li>
%% <li>Sync. Default `{sync, {interval, 1000}}': a committed write reaches
%% the OS at once (a crash of the VM loses nothing that xets's committing
%% thread had written) and stable storage within a second. That matches
%% disc_copies, whose transaction log Mnesia writes without an fsync per
%% transaction. A table may ask for more or less with `{storage_properties,
%% [{xets, [{sync, always | none | {interval, Ms}}]}]}' (also
%% `{memtable_bytes, N}'; and, for tests only, `{fault_store, true}': a
%% xets_ram_copies set whose writes fail on demand, c_src/fault_store.h).</li>
%% <li>A disk failure in a write. Mnesia calls insert/3, delete/3,
%% match_delete/3 and update_counter/4 after its point of no return, and
%% only logs what they raise. A write that fails for a disk failure
%% (`error({xets_io, _})') makes this node's Mnesia stop: the failure is
%% reported as a `{mnesia_fatal, Format, Args, nocore}' system event
%% (mnesia_lib:report_fatal/2, as Mnesia does when its own log fails),
%% Mnesia exits, and the error is raised to the caller. The replica never
%% serves data that silently misses a committed write: at its next start
%% Mnesia replays its log into the table or loads it from another
%% replica.</li>
%% <li>Copies to other nodes stream: sender_init/4 hands Mnesia a select
%% of about 64 KB of records at a time (as Mnesia's own tables), and the
%% receiver writes each chunk as it comes (receive_data/5). A
%% `xets_copies' table receives its copy in a directory of its own,
%% `Tab.XETS_TMP', swapped in when the copy is complete (receive_done/4),
%% so that a node that dies during a copy never has a partial table under
%% the real name (see "Receiving a copy" below). A table in memory that
%% is about to receive a copy is emptied.</li>
%% </ul>
-module(xets_mnesia).

%% The callbacks of mnesia_backend_type, which declares them with
%% behaviour_info/1 and no -callback attributes: as a -behaviour here it
%% would have Dialyzer warn that it knows none of them. The suite checks
%% instead that every one is exported (xets_mnesia_SUITE).
-behaviour(gen_server).

%% Registration.
-export([register/0, register/1, backend_types/0]).
%% mnesia_backend_type: the backend and its aliases.
-export([init_backend/0, add_aliases/1, remove_aliases/1, semantics/2,
         check_definition/4, real_suffixes/0, tmp_suffixes/0]).
%% Table lifecycle.
-export([create_table/3, load_table/4, close_table/2, sync_close_table/2,
         delete_table/2, info/3]).
%% Records.
-export([validate_key/6, validate_record/6, insert/3, lookup/3, delete/3,
         match_delete/3, update_counter/4]).
%% Traversal.
-export([first/2, last/2, next/3, prev/3, slot/3, fixtable/3, select/1,
         select/3, select/4, repair_continuation/2]).
%% Indexes.
-export([index_is_consistent/3, is_index_consistent/2, index_values/4]).
%% Copying a table to another node.
-export([sender_init/4, sender_handle_info/5, receiver_first_message/4,
         receive_data/5, receive_done/4]).
%% The owner process.
-export([start_link/0, init/1, handle_call/3, handle_cast/2, handle_info/2,
         terminate/2]).

-define(SERVER, ?MODULE).
-define(REGISTRY, ?MODULE).
-define(ALIASES, [xets_copies, xets_ram_copies]).
-define(SUFFIX, ".XETS").
%% A copy being received; and a table's old directory, set aside during
%% the swap that follows.
-define(TMP_SUFFIX, ".XETS_TMP").
-define(OLD_SUFFIX, ".XETS_OLD").
-define(DEFAULT_SYNC, {interval, 1000}).
%% Bytes of records per chunk of a copy to another node: Mnesia's own
%% max_transfer_size.
-define(CHUNK_BYTES, 64000).
%% The memory limit of a table receiving a copy, unless its properties
%% give a smaller one (receive_copy/1).
-define(RECEIVE_MEMORY_LIMIT, 32 * 1024 * 1024).

-type alias() :: xets_copies | xets_ram_copies.
-type tab() :: atom() | tuple().
-export_type([alias/0]).

%% One table the owner holds. kind: disc (a persistent table), ram, index
%% or retainer (in memory). open: the name, directory and options of a
%% disc table. receiving: the temporary directory the table is open on
%% while it receives a copy, else undefined.
-record(entry, {tab :: tab(), tid :: xets:tab(), alias :: alias(),
                kind :: disc | ram | index | retainer,
                open :: {atom(), string(), list()} | undefined,
                receiving :: string() | undefined}).

%% ---- registration ---------------------------------------------------------

%% @doc Registers both aliases with the running Mnesia
%% (mnesia:add_backend_type/2): ok, also when they are there already.
-spec register() -> ok | {error, term()}.
register() ->
    register(?ALIASES).

%% @doc Registers the given aliases, a subset of `[xets_copies,
%% xets_ram_copies]'.
-spec register([alias()]) -> ok | {error, term()}.
register(Aliases) ->
    lists:foldl(
      fun(Alias, ok) ->
              case lists:member(Alias, ?ALIASES) andalso
                  mnesia:add_backend_type(Alias, ?MODULE) of
                  false -> {error, {bad_alias, Alias}};
                  {atomic, ok} -> ok;
                  {aborted, {backend_type_already_exists, _}} -> ok;
                  {aborted, Reason} -> {error, Reason}
              end;
         (_, Error) -> Error
      end, ok, Aliases).

%% @doc The `backend_types' option of mnesia:create_schema/2 for both
%% aliases.
-spec backend_types() -> [{alias(), ?MODULE}].
backend_types() ->
    [{Alias, ?MODULE} || Alias <- ?ALIASES].

%% ---- the backend and its aliases ------------------------------------------

%% @doc Starts the owner process under Mnesia's supervisor of plugins.
-spec init_backend() -> ok.
init_backend() ->
    ok = ensure_owner().

%% @doc Nothing to do: the aliases are fixed (semantics/2).
-spec add_aliases([atom()]) -> ok.
add_aliases(_Aliases) ->
    ok.

%% @doc Nothing to do.
-spec remove_aliases([atom()]) -> ok.
remove_aliases(_Aliases) ->
    ok.

%% @doc What Mnesia may expect of an alias's tables (see the module doc).
-spec semantics(alias(), atom()) -> term().
semantics(xets_copies, storage) -> disc_only_copies;
semantics(xets_ram_copies, storage) -> ram_copies;
semantics(_Alias, types) -> [set, ordered_set, bag];
semantics(_Alias, index_types) -> [ordered, bag];
semantics(_Alias, index_fun) -> fun ?MODULE:index_values/4;
semantics(_Alias, _Item) -> undefined.

%% @doc Checks the table's xets storage properties: `{storage_properties,
%% [{xets, [{sync, always | none | {interval, Ms}} | {memtable_bytes,
%% N} | {memory_limit, Bytes | infinity}]}]}' (the last two for
%% xets_copies: xets:open/3's).
-spec check_definition(alias(), tab(), [node()], list()) -> ok | {error, term()}.
check_definition(Alias, _Tab, _Nodes, Props) when Alias =:= xets_copies; Alias =:= xets_ram_copies ->
    Opts = xets_props(Props),
    case [O || O <- Opts, not valid_prop(O)] of
        [] -> ok;
        Bad -> {error, {bad_storage_properties, {xets, Bad}}}
    end;
check_definition(Alias, _Tab, _Nodes, _Props) ->
    {error, {bad_alias, Alias}}.

valid_prop({sync, S}) when S =:= always; S =:= none -> true;
valid_prop({sync, {interval, Ms}}) when is_integer(Ms), Ms > 0 -> true;
valid_prop({memtable_bytes, N}) when is_integer(N), N > 0 -> true;
valid_prop({memory_limit, infinity}) -> true;
valid_prop({memory_limit, N}) when is_integer(N), N > 0 -> true;
valid_prop({fault_store, B}) when is_boolean(B) -> true;
valid_prop(_) -> false.

%% @doc The suffixes of a xets_copies table's directory and of its old
%% directory during a swap (which the next open puts back or removes, so
%% Mnesia's purge of temporary files at start-up must leave it).
-spec real_suffixes() -> [string()].
real_suffixes() -> [?SUFFIX, ?OLD_SUFFIX].

%% @doc The suffix of the directory a copy from another node is received
%% into: Mnesia removes such directories at start-up.
-spec tmp_suffixes() -> [string()].
tmp_suffixes() -> [?TMP_SUFFIX].

%% ---- table lifecycle ------------------------------------------------------

%% @doc Opens (creating if need be) the table; nothing if it is open, or
%% if Props does not say its type (the table is then opened by
%% load_table/4, which Mnesia calls next).
-spec create_table(alias(), tab(), list()) -> ok | {error, term()}.
create_table(Alias, Tab, Props) ->
    open(Alias, Tab, Props).

%% @doc Opens the table if it is not open. With Reason `{net_load, _}' a
%% copy from another node is about to replace it: a xets_copies table is
%% opened empty in its temporary directory (receive_done/4 swaps it in),
%% a table in memory is emptied.
-spec load_table(alias(), tab(), term(), list()) -> ok | {error, term()}.
load_table(Alias, Tab, {net_load, _}, Props) ->
    case open(Alias, Tab, Props) of
        ok -> owner_call({receive_copy, Tab});
        Error -> Error
    end;
load_table(Alias, Tab, _Reason, Props) ->
    open(Alias, Tab, Props).

%% @doc Closes a xets_copies table (its data stays on disk); a table in
%% memory stays until delete_table/2.
-spec close_table(alias(), tab()) -> ok.
close_table(_Alias, Tab) ->
    case whereis(?SERVER) of
        undefined -> ok;
        _ -> owner_call({close, Tab})
    end.

%% @doc As close_table/2: a close makes every write durable.
-spec sync_close_table(alias(), tab()) -> ok.
sync_close_table(Alias, Tab) ->
    close_table(Alias, Tab).

%% @doc Deletes the table and, for xets_copies, its files.
-spec delete_table(alias(), tab()) -> ok.
delete_table(Alias, Tab) ->
    ok = ensure_owner(),
    owner_call({delete, Alias, Tab, dir(Alias, Tab)}).

%% @doc The table's size, memory (words: for xets_copies those it holds
%% in memory plus its bytes on disk in words), or another item of
%% xets:info/2.
-spec info(alias(), tab(), atom()) -> term().
info(xets_copies, Tab, memory) when is_atom(Tab) ->
    case xets:info(Tab, memory) of
        undefined -> undefined;
        Words ->
            Disk = proplists:get_value(disk_bytes, xets:info(Tab, disk), 0),
            Words + Disk div erlang:system_info(wordsize)
    end;
info(_Alias, Tab, Item) ->
    try xets:info(tid(Tab), Item)
    catch error:badarg -> undefined
    end.

%% ---- records --------------------------------------------------------------

%% @doc Any key.
-spec validate_key(alias(), tab(), atom(), arity(), atom(), term()) -> {atom(), arity(), atom()}.
validate_key(_Alias, _Tab, RecName, Arity, Type, _Key) ->
    {RecName, Arity, Type}.

%% @doc Any record Mnesia has checked.
-spec validate_record(alias(), tab(), atom(), arity(), atom(), tuple()) -> {atom(), arity(), atom()}.
validate_record(_Alias, _Tab, RecName, Arity, Type, _Record) ->
    {RecName, Arity, Type}.

%% @doc Writes Record (one record or a list).
-spec insert(alias(), tab(), tuple() | [tuple()]) -> ok.
insert(_Alias, Tab, Record) ->
    true = write(Tab, insert, fun(T) -> xets:insert(T, Record) end),
    ok.

%% @doc The records of Key.
-spec lookup(alias(), tab(), term()) -> [tuple()].
lookup(_Alias, Tab, Key) ->
    xets:lookup(tid(Tab), Key).

%% @doc Deletes the records of Key.
-spec delete(alias(), tab(), term()) -> ok.
delete(_Alias, Tab, Key) ->
    true = write(Tab, delete, fun(T) -> xets:delete(T, Key) end),
    ok.

%% @doc Deletes the records that match Pattern.
-spec match_delete(alias(), tab(), term()) -> ok.
match_delete(_Alias, Tab, '_') ->
    true = write(Tab, match_delete, fun xets:delete_all_objects/1),
    ok;
match_delete(_Alias, Tab, Pattern) ->
    true = write(Tab, match_delete, fun(T) -> xets:match_delete(T, Pattern) end),
    ok.

%% @doc Adds Incr to the counter of Key (the record's third element).
-spec update_counter(alias(), tab(), term(), integer()) -> integer().
update_counter(_Alias, Tab, Key, Incr) ->
    write(Tab, update_counter, fun(T) -> xets:update_counter(T, Key, Incr) end).

%% ---- traversal ------------------------------------------------------------

%% @doc As xets:first/1.
-spec first(alias(), tab()) -> term().
first(_Alias, Tab) -> xets:first(tid(Tab)).

%% @doc As xets:last/1.
-spec last(alias(), tab()) -> term().
last(_Alias, Tab) -> xets:last(tid(Tab)).

%% @doc As xets:next/2.
-spec next(alias(), tab(), term()) -> term().
next(_Alias, Tab, Key) -> xets:next(tid(Tab), Key).

%% @doc As xets:prev/2.
-spec prev(alias(), tab(), term()) -> term().
prev(_Alias, Tab, Key) -> xets:prev(tid(Tab), Key).

%% @doc As xets:slot/2.
-spec slot(alias(), tab(), non_neg_integer()) -> '$end_of_table' | [tuple()].
slot(_Alias, Tab, Pos) -> xets:slot(tid(Tab), Pos).

%% @doc As xets:safe_fixtable/2.
-spec fixtable(alias(), tab(), boolean()) -> true.
fixtable(_Alias, Tab, Fix) -> xets:safe_fixtable(tid(Tab), Fix).

%% @doc Continues select/4.
-spec select(term()) -> {[term()], term()} | '$end_of_table'.
select(Continuation) -> xets:select(Continuation).

%% @doc Every result of MatchSpec.
-spec select(alias(), tab(), ets:match_spec()) -> [term()].
select(_Alias, Tab, MatchSpec) -> xets:select(tid(Tab), MatchSpec).

%% @doc The results of MatchSpec, Limit at a time.
-spec select(alias(), tab(), ets:match_spec(), pos_integer() | infinity) ->
          {[term()], term()} | '$end_of_table'.
select(_Alias, Tab, MatchSpec, infinity) ->
    case xets:select(tid(Tab), MatchSpec) of
        [] -> '$end_of_table';
        All -> {All, '$end_of_table'}
    end;
select(_Alias, Tab, MatchSpec, Limit) ->
    xets:select(tid(Tab), MatchSpec, Limit).

%% @doc As xets:repair_continuation/2.
-spec repair_continuation(term(), ets:match_spec()) -> term().
repair_continuation(Continuation, MatchSpec) ->
    xets:repair_continuation(Continuation, MatchSpec).

%% ---- indexes --------------------------------------------------------------

%% @doc Nothing to record: an index is rebuilt at each load.
-spec index_is_consistent(alias(), tab(), boolean()) -> ok.
index_is_consistent(_Alias, _IxTag, _Bool) -> ok.

%% @doc False: Mnesia rebuilds an index whenever its table is loaded.
-spec is_index_consistent(alias(), tab()) -> boolean().
is_index_consistent(_Alias, _IxTag) -> false.

%% @doc The values a record holds at Pos for an index (Mnesia's default).
-spec index_values(alias(), tab(), pos_integer(), tuple()) -> [term()].
index_values(_Alias, _Tab, Pos, Record) -> [element(Pos, Record)].

%% ---- copying a table to another node --------------------------------------

%% @doc The sending side: selects of about 64 KB of records each.
-spec sender_init(alias(), tab(), term(), pid()) ->
          {standard, fun(() -> term()), fun((term()) -> term())}.
sender_init(Alias, Tab, _RemoteStorage, _Receiver) ->
    Limit = chunk_records(Alias, Tab),
    {standard,
     fun() -> select(Alias, Tab, [{'_', [], ['$_']}], Limit) end,
     fun(Continuation) -> select(Continuation) end}.

%% The records per chunk: ?CHUNK_BYTES over the size of the first key's
%% records, as Mnesia computes it for its own tables.
chunk_records(Alias, Tab) ->
    case first(Alias, Tab) of
        '$end_of_table' -> 1;
        Key -> ?CHUNK_BYTES div byte_size(term_to_binary(lookup(Alias, Tab, Key))) + 1
    end.

%% @doc Never called: the receiver asks for nothing but the next chunk.
-spec sender_handle_info(term(), alias(), tab(), pid(), term()) -> no_return().
sender_handle_info(Msg, _Alias, Tab, _Receiver, _State) ->
    erlang:error({unexpected, Tab, Msg}).

%% @doc The receiving side's start: the number of records to come.
-spec receiver_first_message(pid(), {first, non_neg_integer()}, alias(), tab()) ->
          {non_neg_integer(), alias()}.
receiver_first_message(_Sender, {first, Size}, Alias, _Tab) ->
    {Size, Alias}.

%% @doc Writes one chunk and asks for the next. A xets_copies table
%% being received is open with a memory limit (receive_copy/1): its
%% writers wait for xets's flusher when it falls behind, and its cache
%% holds no more than the limit leaves it, so a copy takes bounded
%% memory whatever the table's size.
-spec receive_data([tuple()], alias(), tab(), pid(), alias()) -> {more, alias()}.
receive_data(Records, Alias, Tab, _Sender, State) ->
    ok = insert(Alias, Tab, Records),
    {more, State}.

%% @doc The copy is complete: a xets_copies table's temporary directory
%% becomes the table's.
-spec receive_done(alias(), tab(), pid(), alias()) -> ok.
receive_done(xets_copies, Tab, _Sender, _State) ->
    ok = owner_call({swap_in, Tab});
receive_done(_Alias, _Tab, _Sender, _State) ->
    ok.

%% ---- the owner ------------------------------------------------------------

%% @doc Starts the owner (mnesia_ext_sup does).
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @private
-spec init([]) -> {ok, #{}}.
init([]) ->
    process_flag(trap_exit, true),
    ?REGISTRY = ets:new(?REGISTRY, [named_table, protected, {keypos, #entry.tab},
                                     {read_concurrency, true}]),
    {ok, #{}}.

%% @private
-spec handle_call(term(), gen_server:from(), #{}) -> {reply, term(), #{}}.
handle_call({open, Alias, Tab, Props, Dir}, _From, State) ->
    Reply = case ets:member(?REGISTRY, Tab) of
                true -> ok;
                false -> do_open(Alias, Tab, Props, Dir)
            end,
    {reply, Reply, State};
handle_call({receive_copy, Tab}, _From, State) ->
    {reply, catching(fun() -> receive_copy(Tab) end), State};
handle_call({swap_in, Tab}, _From, State) ->
    {reply, catching(fun() -> swap_in(Tab) end), State};
handle_call({close, Tab}, _From, State) ->
    case ets:lookup(?REGISTRY, Tab) of
        [#entry{kind = disc} = E] -> close_entry(E);
        _ -> ok
    end,
    {reply, ok, State};
handle_call({delete, Alias, Tab, Dir}, _From, State) ->
    case ets:lookup(?REGISTRY, Tab) of
        [E] -> close_entry(E);
        [] -> ok
    end,
    case Alias =:= xets_copies andalso is_atom(Tab) of
        true -> [_ = xets:destroy(D) || D <- [Dir, tmp_dir(Dir), old_dir(Dir)]];
        false -> ok
    end,
    {reply, ok, State}.

%% @private
-spec handle_cast(term(), #{}) -> {noreply, #{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #{}) -> {noreply, #{}}.
handle_info(_Msg, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #{}) -> ok.
terminate(_Reason, _State) ->
    [close_entry(E) || E <- ets:tab2list(?REGISTRY)],
    ok.

ensure_owner() ->
    case whereis(?SERVER) of
        undefined ->
            case mnesia_ext_sup:start_proc(?SERVER, ?MODULE, start_link, []) of
                {ok, _} -> ok;
                {error, {already_started, _}} -> ok;
                {error, Reason} -> {error, Reason}
            end;
        _ -> ok
    end.

owner_call(Request) ->
    gen_server:call(?SERVER, Request, infinity).

open(Alias, Tab, Props) ->
    case ets:whereis(?REGISTRY) =/= undefined andalso ets:member(?REGISTRY, Tab) of
        true -> ok;
        false ->
            case ensure_owner() of
                ok -> owner_call({open, Alias, Tab, Props, dir(Alias, Tab)});
                Error -> Error
            end
    end.

%% The directory of a xets_copies table.
dir(xets_copies, Tab) when is_atom(Tab) ->
    filename:join(mnesia:system_info(directory), atom_to_list(Tab) ++ ?SUFFIX);
dir(_Alias, _Tab) ->
    undefined.

do_open(Alias, Tab, Props, Dir) ->
    case {kind(Alias, Tab), proplists:get_value(type, Props)} of
        {_, undefined} ->
            ok;
        {disc, Type} ->
            Opts = [Type, public, named_table, {keypos, 2}
                    | disk_options(xets_props(Props))],
            case open_disc(Tab, Dir, Opts, 50) of
                {ok, T} -> register_entry(#entry{tab = Tab, tid = T, alias = Alias, kind = disc,
                                                 open = {Tab, Dir, Opts}});
                {error, Reason} -> {error, Reason}
            end;
        {ram, Type} ->
            Opts = [Type, public, named_table, {keypos, 2}],
            case proplists:get_value(fault_store, xets_props(Props), false) of
                false -> new_entry(Alias, Tab, ram, Tab, Opts);
                true -> fault_entry(Alias, Tab, Opts)
            end;
        {index, _} ->
            {_, index, {_Pos, IxType}} = Tab,
            Type = case IxType of ordered -> ordered_set; bag -> bag end,
            new_entry(Alias, Tab, index, xets_mnesia_index, [Type, public, {keypos, 1}]);
        {retainer, _} ->
            new_entry(Alias, Tab, retainer, xets_mnesia_retainer, [set, public, {keypos, 2}])
    end.

kind(_Alias, {_, index, {_, _}}) -> index;
kind(_Alias, {_, retainer, _}) -> retainer;
kind(xets_copies, Tab) when is_atom(Tab) -> disc;
kind(xets_ram_copies, Tab) when is_atom(Tab) -> ram.

%% A directory is locked until the table's last close is done: a table
%% closed by an owner that just exited may hold it for a moment. First,
%% what a swap or a copy cut short left (recover/1).
open_disc(Tab, Dir, Opts, Tries) ->
    ok = filelib:ensure_dir(Dir),
    ok = recover(Dir),
    open_dir(Tab, Dir, Opts, Tries).

open_dir(Tab, Dir, Opts, Tries) ->
    case xets:open(Tab, Dir, Opts) of
        {error, {locked, _}} when Tries > 0 ->
            timer:sleep(20),
            open_dir(Tab, Dir, Opts, Tries - 1);
        Result ->
            Result
    end.

new_entry(Alias, Tab, Kind, Name, Opts) ->
    try xets:new(Name, Opts) of
        T -> register_entry(#entry{tab = Tab, tid = T, alias = Alias, kind = Kind})
    catch
        error:badarg -> {error, {cannot_create, Tab, Opts}}
    end.

%% For tests of what a disk failure does: a set in memory whose store
%% fails on demand (xets_nif:fault_arm/3, c_src/fault_store.h).
fault_entry(Alias, Tab, Opts) ->
    T = xets_nif:new(Tab, setelement(1, xets:internal_options(Opts), xets_fault_set)),
    register_entry(#entry{tab = Tab, tid = T, alias = Alias, kind = ram}).

register_entry(E) ->
    true = ets:insert(?REGISTRY, E),
    ok.

%% ---- receiving a copy -----------------------------------------------------
%%
%% A xets_copies table receives a copy from another node in Tab.XETS_TMP,
%% opened under the table's name while the table's own directory,
%% Tab.XETS, stays closed and untouched. When the copy is complete
%% (swap_in/1): the temporary table is closed, which makes it durable;
%% Tab.XETS is renamed Tab.XETS_OLD; Tab.XETS_TMP is renamed Tab.XETS; the
%% old directory is removed; the table is opened again. Each rename is
%% made durable (xets_disk:move/2 fsyncs the parent directory) before the
%% next step. A crash at any point leaves, for the next open (recover/1):
%%
%% - before the first rename: Tab.XETS as it was before the copy, and
%%   perhaps a partial Tab.XETS_TMP, which Mnesia's start-up removes (a
%%   temporary suffix) and so does recover/1;
%% - between the renames: no Tab.XETS, Tab.XETS_OLD and a complete
%%   Tab.XETS_TMP: recover/1 renames Tab.XETS_OLD back, the state before
%%   the copy (Mnesia did not finish loading the table, so it holds it
%%   loaded from nowhere yet and will load it again);
%% - after the second rename: the new Tab.XETS, and Tab.XETS_OLD, which
%%   recover/1 removes.
%%
%% A table with nothing in it when a copy starts (the one create_table/3
%% just made for add_table_copy) is removed at once: a crash then leaves
%% no directory at all.

receive_copy(Tab) ->
    case ets:lookup(?REGISTRY, Tab) of
        [#entry{kind = disc, open = {Name, Dir, Opts}, receiving = Receiving, tid = T} = E] ->
            Empty = Receiving =:= undefined andalso xets:info(T, size) =:= 0,
            close_entry(E),
            ok = case Empty of
                     true -> destroy_if_there(Dir);
                     false -> ok
                 end,
            Tmp = tmp_dir(Dir),
            ok = destroy_if_there(Tmp),
            Limit = case proplists:get_value(memory_limit, Opts, infinity) of
                        L when is_integer(L), L < ?RECEIVE_MEMORY_LIMIT -> L;
                        _ -> ?RECEIVE_MEMORY_LIMIT
                    end,
            case open_dir(Name, Tmp, [{memory_limit, Limit} | Opts], 50) of
                {ok, T2} -> register_entry(E#entry{tid = T2, receiving = Tmp});
                {error, Reason} -> {error, Reason}
            end;
        [#entry{tid = T}] ->
            true = xets:delete_all_objects(T),
            ok;
        [] ->
            ok
    end.

swap_in(Tab) ->
    case ets:lookup(?REGISTRY, Tab) of
        [#entry{kind = disc, open = {Name, Dir, Opts}, receiving = Tmp, tid = T} = E]
          when Tmp =/= undefined ->
            true = ets:delete(?REGISTRY, Tab),
            ok = xets:close(T),
            Old = old_dir(Dir),
            ok = destroy_if_there(Old),
            HadDir = case xets_disk:move(Dir, Old) of
                         ok -> true;
                         {error, enoent} -> false
                     end,
            ok = xets_disk:move(Tmp, Dir),
            ok = case HadDir of
                     true -> xets:destroy(Old);
                     false -> ok
                 end,
            case open_dir(Name, Dir, Opts, 50) of
                {ok, T2} -> register_entry(E#entry{tid = T2, receiving = undefined});
                {error, Reason} -> {error, Reason}
            end;
        _ ->
            ok
    end.

%% Before a xets_copies table's directory is opened: what a swap or a copy
%% cut short left (see above).
recover(Dir) ->
    Old = old_dir(Dir),
    ok = case {filelib:is_dir(Dir), filelib:is_dir(Old)} of
             {false, true} -> xets_disk:move(Old, Dir);
             {true, true} -> xets:destroy(Old);
             {_, false} -> ok
         end,
    destroy_if_there(tmp_dir(Dir)).

destroy_if_there(Dir) ->
    case xets:destroy(Dir) of
        ok -> ok;
        {error, enoent} -> ok;
        {error, Reason} -> {error, {Dir, Reason}}
    end.

%% A failed file operation is the caller's error, not the owner's crash
%% (which would close every table).
catching(Fun) ->
    try Fun()
    catch error:Reason -> {error, Reason}
    end.

tmp_dir(Dir) -> filename:rootname(Dir) ++ ?TMP_SUFFIX.
old_dir(Dir) -> filename:rootname(Dir) ++ ?OLD_SUFFIX.

close_entry(#entry{tab = Tab, tid = T, kind = Kind}) ->
    true = ets:delete(?REGISTRY, Tab),
    _ = case Kind of
            disc -> catch xets:close(T);
            _ -> catch xets:delete(T)
        end,
    ok.

xets_props(Props) ->
    proplists:get_value(xets, proplists:get_value(storage_properties, Props, []), []).

disk_options(XetsProps) ->
    [{sync, proplists:get_value(sync, XetsProps, ?DEFAULT_SYNC)}
     | [P || {K, _} = P <- XetsProps, K =:= memtable_bytes orelse K =:= memory_limit]].

%% The xets table of a Mnesia table or tag.
tid(Tab) when is_atom(Tab) -> Tab;
tid(Tag) -> ets:lookup_element(?REGISTRY, Tag, #entry.tid).

%% A write after Mnesia's point of no return: a disk failure stops Mnesia
%% on this node (module doc) and is raised.
write(Tab, Op, Write) ->
    try Write(tid(Tab))
    catch
        error:{xets_io, Reason} = Error:Stack ->
            mnesia_lib:report_fatal("xets_mnesia: ~w of table ~tp failed on disk: ~tp;"
                                    " stopping Mnesia on this node~n", [Op, Tab, Reason]),
            erlang:raise(error, Error, Stack)
    end.
