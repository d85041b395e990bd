%% @doc A table's information as ets names it, read from the tuple that
%% xets_nif:info/1 returns (its layout is documented at info_nif in
%% c_src/xets_nif.c).
%%
%% Contract: pure functions of that tuple; the caller has made the NIF
%% call and decided what a missing table (undefined) means. One tuple
%% serves every item a caller needs, so the items agree with each other.
-module(xets_info).

-export([all/1, item/2]).

%% @doc ets:info/1's list, in its order.
-spec all(tuple()) -> [{atom(), term()}].
all(Raw) ->
    [{Item, item(Item, Raw)} || Item <- [id, decentralized_counters, read_concurrency,
                                        write_concurrency, compressed, memory,
                                        owner, heir, name, size, node,
                                        named_table, type, keypos, protection]].

%% @doc One item, as ets:info/2 gives it; function_clause for an item ets
%% does not know. (stats is not in the tuple: xets_nif:stats/1.)
-spec item(atom(), tuple()) -> term().
item(id, Raw) -> element(1, Raw);
item(name, Raw) -> element(2, Raw);
item(type, Raw) -> element(3, Raw);
item(size, Raw) -> element(4, Raw);
item(memory, Raw) -> element(5, Raw) div erlang:system_info(wordsize);
item(owner, Raw) -> element(6, Raw);
item(heir, Raw) -> element(7, Raw);
item(protection, Raw) -> element(8, Raw);
item(keypos, Raw) -> element(9, Raw);
item(named_table, Raw) -> element(10, Raw);
item(write_concurrency, Raw) -> element(11, Raw);
item(read_concurrency, Raw) -> element(12, Raw);
item(decentralized_counters, Raw) -> element(13, Raw);
item(compressed, Raw) -> element(14, Raw);
item(node, _Raw) -> node();
item(fixed, Raw) -> element(15, Raw) =/= [];
item(safe_fixed, Raw) ->
    case element(16, Raw) of
        false -> false;
        Us -> {{Us div 1000000000000, Us div 1000000 rem 1000000, Us rem 1000000},
               element(15, Raw)}
    end;
item(safe_fixed_monotonic_time, Raw) ->
    case element(17, Raw) of
        false -> false;
        Ns -> {erlang:convert_time_unit(Ns, nanosecond, native), element(15, Raw)}
    end;
item(binary, _Raw) -> [].
