%% Common Test hook: lets failure reasons hold any character. CT prints
%% each failure through its default group leader, which starts in latin1;
%% a reason holding a character above 255 (a Unicode atom among the edge
%% terms, say) then crashes the whole run, and no test result is printed.
-module(unicode_output_cth).
-export([init/2]).

init(_Id, _Opts) ->
    ok = io:setopts(ct_default_gl, [{encoding, unicode}]),
    {ok, none}.
