%% NIF loading and stubs only: every function here is replaced by C.
-module(xets_nif).
-on_load(init/0).
-export([key_encode/2]).

-nifs([key_encode/2]).

init() ->
    Dir = case code:priv_dir(xets) of
              {error, bad_name} ->
                  filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
              D -> D
          end,
    erlang:load_nif(filename:join(Dir, "xets_nif"), 0).

-define(NIF, erlang:nif_error({not_loaded, ?MODULE})).

%% The canonical key encoding of a term, for tests of the codec.
-spec key_encode(term(), ordered | exact) -> binary().
key_encode(_Term, _Mode) -> ?NIF.
