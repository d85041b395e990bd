%% @doc The error_info of xets's badargs, and the shell's explanation of
%% them.
%%
%% ets's BIFs record why they raised badarg (a cause, in erl_stdlib_errors's
%% names), and the shell asks stdlib to explain it. xets finds the same
%% cause once its call has failed (error_info/2), and explains it in ets's
%% words (format_error/2).
%%
%% Contract: the error_info names the module xets, so the shell and Elixir
%% call xets:format_error/2, which is format_error/2 here; it reads the
%% frame of the xets function that raised (xets's ?BADARG). error_info/2
%% makes NIF calls only, never the API's, which would look for the cause of
%% their own failures; it raises nothing.
-module(xets_error).

-export([error_info/2, format_error/2]).

%% @doc The error_info of a badarg raised by xets:Fun with Args: the cause
%% as ets records it, if any.
-spec error_info(atom(), list()) -> #{module := xets, cause => atom()}.
error_info(Fun, Args) ->
    case cause(Fun, Args) of
        none -> #{module => xets};
        Cause -> #{module => xets, cause => Cause}
    end.

%% @doc Explains an error raised by xets, for the shell (erl_error), in
%% ets's words: stdlib explains ets's errors (erl_stdlib_errors), so it is
%% asked about the ets call that means the same, and its "ETS table" is
%% read as "xets table", with the cause recorded at the raise. The
%% explanations are binaries, as stdlib's are: Elixir turns the error into
%% an ArgumentError and takes nothing else.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => binary()}.
format_error(Reason, [{xets, Fun, Args, Info} | Rest]) when is_list(Args) ->
    Cause = maps:get(cause, proplists:get_value(error_info, Info, #{}), none),
    {EtsFun, EtsArgs} = ets_call(Fun, Args),
    Ets = erl_stdlib_errors:format_error(
            Reason, [{ets, EtsFun, EtsArgs, [{error_info, #{cause => Cause}}]} | Rest]),
    maps:merge(maps:map(fun(_, Text) -> in_xets_words(Text) end, Ets), own_words(Fun, Args));
format_error(_, _) ->
    #{}.

%% The ets function whose errors mean the same, with its arguments.
ets_call(first_lookup, Args) -> {first, Args};
ets_call(last_lookup, Args) -> {last, Args};
ets_call(next_lookup, Args) -> {next, Args};
ets_call(prev_lookup, Args) -> {prev, Args};
ets_call(lookup_element, [Tab, Key, Pos, _Default]) -> {lookup_element, [Tab, Key, Pos]};
ets_call(update_element, [Tab, Key, Spec, _Default]) -> {update_element, [Tab, Key, Spec]};
ets_call(Fun, Args) -> {Fun, Args}.

in_xets_words(Text) ->
    unicode:characters_to_binary(string:replace(Text, "ETS table", "xets table", all)).

%% What stdlib cannot say about the functions ets of OTP 25 lacks.
own_words(update_element, [_, _, _, Default]) when not is_tuple(Default) ->
    #{4 => <<"not a tuple">>};
own_words(_Fun, _Args) ->
    #{}.

%% The cause an ets BIF records (erl_stdlib_errors's names), found after
%% the call failed: first what is wrong with the table argument, then with
%% the others; none if the table changed meanwhile so that none is found.
cause(Fun, Args) ->
    try cause_of(Fun, Args)
    catch error:_ -> none
    end.

cause_of(Fun, [Continuation]) when Fun =:= select; Fun =:= select_reverse; Fun =:= match;
                                  Fun =:= match_object ->
    %% ets looks up the table of a continuation that is a tuple, which it
    %% takes to be the first element; xets's is in its traversal.
    case xets_select:table_of(Continuation) of
        {ok, Tab} -> cause_of(Fun, [Tab, Continuation]);
        not_ours when is_tuple(Continuation), tuple_size(Continuation) >= 1 ->
            cause_of(Fun, [element(1, Continuation), Continuation]);
        _ -> none
    end;
cause_of(Fun, [Tab | Rest]) ->
    case takes_table(Fun) of
        false -> none;
        true when not is_atom(Tab), not is_reference(Tab) -> type;
        true ->
            try xets_nif:info(Tab) of
                undefined -> id;
                Raw -> table_cause(Fun, Tab, Rest, Raw)
            catch
                %% A reference that names no table, dead or alive.
                error:badarg -> type
            end
    end.

takes_table(Fun) ->
    not lists:member(Fun, [new, whereis, match_spec_compile, match_spec_run_r]).

table_cause(Fun, Tab, Rest, Raw) ->
    [Owner, Prot, Type, Keypos] = [xets_info:item(I, Raw) || I <- [owner, protection, type, keypos]],
    Pid = self(),
    Writes = lists:member(Fun, [insert, insert_new, delete, delete_object, internal_delete_all,
                                take, update_counter, update_element, internal_select_delete,
                                select_replace, rename, give_away, setopts]),
    BadDefault = case Rest of
                     [_Key, _Op, Default] when Fun =:= update_counter -> not is_tuple(Default);
                     _ -> false
                 end,
    OwnerOnly = lists:member(Fun, [give_away, setopts]),
    if
        Pid =/= Owner, Prot =:= private; Pid =/= Owner, Writes, Prot =/= public;
        Pid =/= Owner, OwnerOnly ->
            access;
        %% ets checks update_counter/4's default before the table's type,
        %% and names no cause for update_element/3 on a bag.
        BadDefault; Fun =:= update_element, Type =/= set, Type =/= ordered_set ->
            none;
        Fun =:= update_counter, Type =/= set, Type =/= ordered_set;
        Fun =:= select_replace, Type =:= bag ->
            table_type;
        true ->
            argument_cause(Fun, Tab, Rest, Owner, Keypos)
    end.

argument_cause(give_away, _Tab, [Owner, _], Owner, _Keypos) ->
    owner;
argument_cause(lookup_element, Tab, [Key, _Pos], _Owner, _Keypos) ->
    case xets_nif:member(Tab, Key) of
        true -> none;
        false -> badkey
    end;
argument_cause(update_counter, Tab, [Key, Op | Default], _Owner, Keypos) ->
    Object = case xets_nif:lookup(Tab, Key) of
                 [O] -> O;
                 [] when Default =:= [] -> missing;
                 [] -> hd(Default)
             end,
    case Object of
        missing -> badkey;
        %% A default without the key position is no cause ets names.
        _ when tuple_size(Object) < Keypos -> none;
        _ -> position_cause(Object, positions(Op, Keypos), Keypos)
    end;
argument_cause(update_element, _Tab, [_Key, Spec | _], _Owner, Keypos) ->
    %% ets names no cause for a position beyond the object.
    case lists:member(Keypos, positions(Spec, Keypos)) of
        true -> keypos;
        false -> none
    end;
argument_cause(_Fun, _Tab, _Rest, _Owner, _Keypos) ->
    none.

%% The element positions an update_counter or update_element spec names.
positions(Ops, Keypos) when is_list(Ops) -> lists:append([positions(Op, Keypos) || Op <- Ops]);
positions(Op, _Keypos) when is_tuple(Op), tuple_size(Op) >= 2, is_integer(element(1, Op)) ->
    [element(1, Op)];
positions(Incr, Keypos) when is_integer(Incr) -> [Keypos + 1];
positions(_Op, _Keypos) -> [].

position_cause(Object, Positions, Keypos) when is_tuple(Object) ->
    case {lists:member(Keypos, Positions),
          lists:any(fun(P) -> P > tuple_size(Object) end, Positions)} of
        {true, _} -> keypos;
        {false, true} -> position;
        _ -> none
    end;
position_cause(_Object, _Positions, _Keypos) ->
    none.
