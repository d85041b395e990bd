%% Translates xets:fun2ms/1 calls on literal funs to match specifications
%% at compile time, as stdlib's ms_transform.hrl does for ets:fun2ms/1.
-compile({parse_transform, xets_ms_transform}).
