%% The ets API on persistent tables, for the suites that compare xets with
%% ets: run them with XETS_TEST_MOD=xets_persistent (test/run does, for the
%% conformance, select and PropEr suites). new/2 opens a persistent table
%% (xets:open/3) in a fresh directory under the run's root
%% (XETS_PERSISTENT_ROOT, else a directory of this OS process under the
%% system's temporary directory), with a small memtable so that tables of
%% the suites' sizes reach SSTables, and every other table with a small
%% memory limit, so that their blocks are evicted from the cache and read
%% again (the others keep every block); every other function is xets's, with
%% the top frame of an exception made this module's, as the suites expect
%% of the module under test.
-module(xets_persistent).

-export([new/2, root/0, '$handle_undefined_function'/2]).

%% Small enough that a few thousand objects make several SSTables.
-define(MEMTABLE_BYTES, 64 * 1024).
%% Small enough that the tables of a few thousand objects do not fit.
-define(MEMORY_LIMIT, 256 * 1024).

new(Name, Options) ->
    %% Options new/2 refuses: refused as new/2 refuses them.
    _ = try xets:internal_options(Options)
        catch error:_ -> call(new, [Name, Options])
        end,
    N = erlang:unique_integer([positive]),
    Dir = filename:join(root(), integer_to_list(N)),
    Limit = case N rem 2 of 0 -> ?MEMORY_LIMIT; 1 -> infinity end,
    try xets:open(Name, Dir, [{sync, none}, {memtable_bytes, ?MEMTABLE_BYTES},
                              {memory_limit, Limit} | Options]) of
        {ok, Tab} -> Tab;
        {error, Reason} -> erlang:error({xets_persistent, Reason})
    catch
        error:badarg:St -> erlang:raise(error, badarg, new_frame(Name, Options, St))
    end.

root() ->
    case os:getenv("XETS_PERSISTENT_ROOT") of
        V when V =:= false; V =:= "" ->
            filename:join(tmp(), "xets_persistent_" ++ os:getpid());
        V -> V
    end.

tmp() ->
    case os:getenv("TMPDIR") of
        V when V =:= false; V =:= "" -> "/tmp";
        V -> V
    end.

'$handle_undefined_function'(Function, Args) ->
    call(Function, Args).

call(Function, Args) ->
    try apply(xets, Function, Args)
    catch Class:Reason:St -> erlang:raise(Class, Reason, top_frame(St))
    end.

%% A frame of xets on top is made this module's, its function and
%% arguments kept.
top_frame([{xets, F, A, Info} | Rest]) ->
    [{?MODULE, F, A, Info} | Rest];
top_frame(St) ->
    St.

%% new/2's refusal of a taken name comes from xets_disk:open/3: made new/2's.
new_frame(Name, Options, [{_, _, _, Info} | Rest]) ->
    [{?MODULE, new, [Name, Options], Info} | Rest].
