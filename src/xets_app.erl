%% @doc The xets application: its start sweeps away the files of spilling
%% tables that a VM which died left behind (xets_spill, "Leftovers of a
%% crash"). It runs no process of its own: its supervisor has no
%% children. The tables themselves need no application: the NIF loads
%% with the first call.
-module(xets_app).
-behaviour(application).
-behaviour(supervisor).

-export([start/2, stop/1, init/1]).

%% @doc Sweeps before it returns, so that once the application has
%% started, the leftovers of the Dirs recorded are gone.
-spec start(application:start_type(), term()) -> {ok, pid()}.
start(_Type, _Args) ->
    ok = xets_spill:sweep_recorded(),
    supervisor:start_link(?MODULE, []).

-spec stop(term()) -> ok.
stop(_State) ->
    ok.

%% @private
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    {ok, {#{}, []}}.
