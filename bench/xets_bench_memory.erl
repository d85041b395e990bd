%% Bytes per object of a table, measured two ways, for the memory section of
%% xets_bench:
%%
%%   rss   the growth of the VM's resident memory (VmRSS in
%%         /proc/self/status) across filling an empty table with OBJECTS
%%         objects, in a fresh VM started for that one measurement, so that
%%         nothing else the benchmark did is resident or freed meanwhile;
%%   info  what the table reports: info(T, memory) words times the word size.
%%
%% The fresh VM loads the library (for xets, its NIF) and creates the empty
%% table before the first reading, and collects its garbage before both, so
%% the difference is the table's contents: objects, structure, allocator
%% overhead. The filling process builds each object just before inserting
%% it, and keeps none.
-module(xets_bench_memory).
-export([per_object/3, shapes/0, child/1]).

-define(OBJECTS, 1000000).

%% Bytes per object {rss, info} of a Type table of Mod filled with OBJECTS
%% objects of Shape.
-spec per_object(ets | xets, atom(), atom()) -> {float(), float()}.
per_object(Mod, Type, Shape) ->
    Erl = filename:join([code:root_dir(), "bin", "erl"]),
    Paths = lists:usort([filename:dirname(code:which(M)) || M <- [xets, ?MODULE]]),
    Args = ["-noshell", "-noinput" | lists:append([["-pa", P] || P <- Paths])]
        ++ ["-run", atom_to_list(?MODULE), "child"
            | [atom_to_list(A) || A <- [Mod, Type, Shape]]],
    Port = open_port({spawn_executable, Erl}, [{args, Args}, exit_status, binary, stderr_to_stdout]),
    Output = collect(Port, <<>>),
    {ok, Tokens, _} = erl_scan:string(binary_to_list(Output)),
    {ok, {Rss, Info}} = erl_parse:parse_term(Tokens),
    {Rss / ?OBJECTS, Info / ?OBJECTS}.

%% The shapes measured, with their keypos.
-spec shapes() -> [{atom(), pos_integer()}].
shapes() ->
    [{'{I}', 1}, {'{I,I,<<"value">>}', 1}, {record6, 2}, {'{I,Bin1KiB}', 1}].

object('{I}', I) -> {I};
object('{I,I,<<"value">>}', I) -> {I, I, <<"value">>};
%% As a record #user{id, name, role, age, score}: a short binary and an atom.
object(record6, I) -> {user, I, <<"ann">>, admin, 42, I * 3};
%% A distinct 1 KiB binary each, as values read from sockets or files are
%% (ets keeps a reference to a shared one, xets a copy of its bytes).
object('{I,Bin1KiB}', I) -> {I, <<I:64, 0:(1016 * 8)>>}.

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, <<Acc/binary, Data/binary>>);
        {Port, {exit_status, 0}} -> Acc;
        {Port, {exit_status, N}} -> error({memory_child_failed, N, Acc})
    end.

%% Entry point of the fresh VM: prints {RssGrowth, InfoBytes} and halts.
-spec child([string()]) -> no_return().
child([Mod0, Type0, Shape0]) ->
    [Mod, Type, Shape] = [list_to_atom(A) || A <- [Mod0, Type0, Shape0]],
    {Shape, Keypos} = lists:keyfind(Shape, 1, shapes()),
    {module, Mod} = code:ensure_loaded(Mod),
    T = Mod:new(memory, [Type, public, {keypos, Keypos}]),
    garbage_collect(),
    Before = rss(),
    fill(Mod, T, Shape, ?OBJECTS),
    garbage_collect(),
    Grown = rss() - Before,
    ?OBJECTS = Mod:info(T, size),
    io:format("~w.~n", [{Grown, Mod:info(T, memory) * erlang:system_info(wordsize)}]),
    halt(0).

fill(_Mod, _T, _Shape, 0) ->
    ok;
fill(Mod, T, Shape, I) ->
    Mod:insert(T, object(Shape, I)),
    fill(Mod, T, Shape, I - 1).

rss() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s*(\\d+) kB", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb) * 1024.
