%% The canonical key encoding (c_src/term_key.c, DESIGN.md "Terms"), seen
%% through xets_nif:key_encode/2. Orders are checked against the running
%% OTP's own comparisons: `<'/`==' for ordered mode, and map-key order (the
%% order of singleton maps #{K => 0}) with `=:=' for exact mode.
-module(xets_key_tests).

-include_lib("eunit/include/eunit.hrl").

-import(xets_terms, [ext_pid/4, ext_port/3, ext_port64/3, ext_ref/3, local_fun/1]).

ord(T) -> xets_nif:key_encode(T, ordered).
exa(T) -> xets_nif:key_encode(T, exact).

%% Erlang term order (== is a tie).
cmp(A, B) when A < B -> -1;
cmp(A, B) when A > B -> 1;
cmp(_, _) -> 0.

%% Map-key order: every integer before every float, recursively.
xcmp(A, B) when A =:= B -> 0;
xcmp(A, B) -> case #{A => 0} < #{B => 0} of true -> -1; false -> 1 end.

bcmp(A, B) when A < B -> -1;
bcmp(A, B) when A > B -> 1;
bcmp(_, _) -> 0.

%% Every pair of Ts: the encodings compare as the terms do.
check_pairs(Enc, Cmp, Ts) ->
    Es = [{T, Enc(T)} || T <- Ts],
    Bad = [{A, B, Cmp(A, B), bcmp(EA, EB)}
           || {A, EA} <- Es, {B, EB} <- Es, Cmp(A, B) =/= bcmp(EA, EB)],
    ?assertEqual([], lists:sublist(Bad, 5)).

%% Sort by encoding; each adjacent pair must be in order for Cmp, tie
%% exactly when the encodings are equal, and no encoding may be a proper
%% prefix of the next one (which, sorted, covers every pair).
check_sorted(Enc, Cmp, Ts) ->
    Sorted = lists:sort([{Enc(T), T} || T <- Ts]),
    Bad = check_adjacent(Cmp, Sorted, []),
    ?assertEqual([], lists:sublist(Bad, 5)).

check_adjacent(Cmp, [{EA, A} | [{EB, B} | _] = Rest], Acc) ->
    C = Cmp(A, B),
    Ok = case EA =:= EB of
             true -> C =:= 0;
             false -> C =:= -1 andalso binary:longest_common_prefix([EA, EB]) < byte_size(EA)
         end,
    check_adjacent(Cmp, Rest, case Ok of true -> Acc; false -> [{A, B, C} | Acc] end);
check_adjacent(_, _, Acc) ->
    Acc.

%% ---- 1. ordered mode is Erlang term order ------------------------------

ordered_order_matches_term_order_on_edge_terms_test() ->
    check_pairs(fun ord/1, fun cmp/2, xets_terms:edge_terms()).

ordered_order_matches_term_order_on_random_terms_test_() ->
    {timeout, 60, fun() ->
        rand:seed(exsss, {1, 2, 3}),
        Ts = [xets_terms:random_term(8) || _ <- lists:seq(1, 25000)] ++
             [xets_terms:random_key() || _ <- lists:seq(1, 5000)],
        check_sorted(fun ord/1, fun cmp/2, Ts)
    end}.

type_order_test() ->
    Ts = [1, a, make_ref(), fun() -> ok end, fun lists:sort/1, hd(erlang:ports()), self(),
          {}, #{}, [], [a], <<>>],
    ?assertEqual(Ts, [T || {_, T} <- lists:sort([{ord(T), T} || T <- Ts])]),
    ?assertEqual(Ts, [T || {_, T} <- lists:sort([{exa(T), T} || T <- Ts])]).

integers_and_floats_share_one_exact_number_line_test() ->
    P53 = 1 bsl 53,
    Ns = lists:append([[I, float(I), I + 1, I - 1, -I, -float(I), -I + 1, -I - 1]
                       || I <- [P53, P53 * 2, 1 bsl 60, 1 bsl 63, 1 bsl 64, 1 bsl 100, 1 bsl 1023]]) ++
         [I + F || I <- [0, 1, 2, 1000, -1, -1000], F <- [0, 0.5, 0.25, -0.5, 0.75, 1.0e-10]] ++
         [1.5, 1.5000001, 1.25, 1.75, 1.0000000000000002, 0.1, 0.2, 0.30000000000000004, 0.3,
          1.0e-300, 1.0000001e-300, 3.0e-320, 3.0000001e-320, 1.0e-10, 1.00000001e-10] ++
         [9007199254740993, 9007199254740992.0, 1.7976931348623157e308, 1 bsl 1024,
          (1 bsl 1024) - 1, -(1 bsl 1024), 1.0e300, 5.0e-324, -5.0e-324, 0, 0.0],
    ?assert(ord(9007199254740993) > ord(9007199254740992.0)),
    check_pairs(fun ord/1, fun cmp/2, Ns).

bignums_of_every_size_and_sign_sort_as_integers_test() ->
    rand:seed(exsss, {4, 5, 6}),
    Is = lists:append([[V, -V, V + 1, -V - 1, (1 bsl B) - 1, -(1 bsl B)]
                       || B <- lists:seq(1, 1000), V <- [rand:uniform(1 bsl B)]]),
    check_sorted(fun ord/1, fun cmp/2, Is),
    check_sorted(fun exa/1, fun xcmp/2, Is).

extreme_floats_sort_test() ->
    Fs = [5.0e-324, 1.0e-323, 2.2250738585072014e-308, 2.225073858507201e-308,
          1.7976931348623157e308, 1.7976931348623155e308, 1.0, 0.5, 2.0e-300],
    All = Fs ++ [-F || F <- Fs] ++ [0, 0.0, 1, -1, 1 bsl 1023, -(1 bsl 1023)],
    check_pairs(fun ord/1, fun cmp/2, All),
    check_pairs(fun exa/1, fun xcmp/2, All).

atoms_sort_by_code_point_test() ->
    As = [list_to_atom(L) || L <- [[], [0], [0, 0], "a", [$a, 0], "ab", "b", [127], [128], [255],
                                   [256], [16#7FF], [16#800], [16#FFFF], [16#10000], [16#10FFFF],
                                   "日本", "日", "ö", "abcdefgh", "abcdefghi", "abcdefg"]],
    check_pairs(fun ord/1, fun cmp/2, As),
    ?assertEqual(ord('日本'), exa('日本')).

bitstrings_sort_bitwise_test() ->
    Bs = [<<>>, <<0:1>>, <<1:1>>, <<128>>, <<128, 0>>],
    ?assertEqual(Bs, [B || {_, B} <- lists:sort([{ord(B), B} || B <- lists:reverse(Bs)])]),
    rand:seed(exsss, {7, 8, 9}),
    More = [<<(rand:uniform(1 bsl N) - 1):N>> || N <- lists:seq(0, 200), _ <- [1, 2, 3]],
    check_sorted(fun ord/1, fun cmp/2, More ++ Bs).

improper_lists_sort_by_tail_test() ->
    ?assert(ord([1 | 2]) < ord([1, 2])),
    Ls = [[], [1], [1 | 2], [1, 2], [1 | a], [1 | <<>>], [1 | {}], [1, 2 | 3], [[1] | 1], [1.0 | 2.0],
          [a | b], "abc", "ab", [0 | 0]],
    check_pairs(fun ord/1, fun cmp/2, Ls).

tuples_sort_by_size_first_test() ->
    Ts = [{}, {9}, {1, 1}, {z}, {a, a, a}, list_to_tuple(lists:seq(1, 254)),
          list_to_tuple(lists:seq(1, 255)), list_to_tuple(lists:seq(1, 256)), {{}}],
    check_pairs(fun ord/1, fun cmp/2, Ts).

maps_sort_by_size_keys_values_test() ->
    ?assertEqual([#{1 => a}, #{2 => a}, #{1.0 => a}],
                 [M || {_, M} <- lists:sort([{ord(M), M} || M <- [#{1.0 => a}, #{2 => a}, #{1 => a}]])]),
    ?assertEqual([#{{1} => a}, #{{2} => a}, #{{1.0} => a}],
                 [M || {_, M} <- lists:sort([{ord(M), M} || M <- [#{{1.0} => a}, #{{2} => a}, #{{1} => a}]])]),
    Ms = [#{}, #{a => 1}, #{a => 1.0}, #{a => 2}, #{b => 0}, #{1 => a, 1.0 => b}, #{2 => a, 1.0 => b},
          #{1 => b, 1.0 => a}, #{3 => a, 0.5 => b}, #{[1] => x}, #{[1.0] => x}, #{#{1 => 1} => 1},
          #{#{1.0 => 1} => 1}, #{#{1 => 1.0} => 1}, #{a => #{1 => 1}}, #{a => #{1 => 1.0}}],
    check_pairs(fun ord/1, fun cmp/2, Ms),
    check_pairs(fun exa/1, fun xcmp/2, Ms).

big_maps_sort_test() ->
    rand:seed(exsss, {10, 11, 12}),
    Ms = [maps:from_list([{xets_terms:random_key(), rand:uniform(3)} || _ <- lists:seq(1, N)])
          || N <- [30, 31, 32, 33, 34, 35, 40, 60], _ <- lists:seq(1, 40)],
    check_sorted(fun ord/1, fun cmp/2, Ms),
    check_sorted(fun exa/1, fun xcmp/2, Ms).

%% OTP 25 pids: serial, then number, then node name, then creation.
pids_sort_by_serial_number_node_creation_test() ->
    Ps = [list_to_pid("<0.5.1>"), list_to_pid("<0.6.0>"), list_to_pid("<0.4.2>"), self(),
          list_to_pid("<0.32767.0>"), list_to_pid("<0.0.8191>"),
          ext_pid('x@h', 7, 3, 0), ext_pid('x@h', 8, 2, 0), ext_pid('z@h', 1, 1, 0),
          ext_pid('x@h', 7, 2, 5), ext_pid('x@h', 7, 100000, 0), ext_pid('x@h', 7, 0, 100000),
          ext_pid('x@h', 6, 5, 1), ext_pid('y@h', 0, 5, 1), ext_pid(node(), 9, 5, 1),
          ext_pid('ö@h', 1, 5, 1), ext_pid('x@h', 16#FFFFFFFF, 5, 1)],
    ?assertEqual([list_to_pid("<0.6.0>"), list_to_pid("<0.5.1>"), list_to_pid("<0.4.2>")],
                 [P || {_, P} <- lists:sort([{ord(P), P} || P <- lists:sublist(Ps, 3)])]),
    check_pairs(fun ord/1, fun cmp/2, Ps),
    check_pairs(fun exa/1, fun xcmp/2, Ps).

%% Ports: node name, creation, then number (64 bits since OTP 24).
ports_sort_by_node_creation_number_test() ->
    Ps = [list_to_port("#Port<0.5>"), list_to_port("#Port<0.3>"), ext_port('x@h', 1, 5),
          ext_port('x@h', 2, 3), ext_port('y@h', 0, 1), ext_port64('x@h', 1, 1 bsl 40),
          ext_port(node(), 1, 1), ext_port64('z@h', 1, 0), ext_port('ö@h', 0, 0)],
    check_pairs(fun ord/1, fun cmp/2, Ps).

%% References: node name, creation, then the ID words as one big number
%% (high zero words do not count: [1,2,3] and [1,2,3,0] are =:=).
references_sort_by_node_creation_number_test() ->
    Rs = [make_ref(), make_ref(), alias(), ext_ref('x@h', 1, [1, 2, 3]), ext_ref('x@h', 1, [1, 2, 3, 0]),
          ext_ref('x@h', 1, [0, 0, 4]), ext_ref('x@h', 1, [5, 0, 3]), ext_ref('x@h', 1, [1, 2, 3, 1]),
          ext_ref('x@h', 0, [9, 9, 9]), ext_ref('y@h', 0, [0, 0, 0]), ext_ref('x@h', 1, [7]),
          ext_ref('x@h', 1, [1, 2, 3, 0, 0]), ext_ref(node(), 3, [1, 2, 3]),
          ext_ref('x@h', 1, [16#FFFFFFFF, 0, 0, 0, 1])],
    ?assertEqual(ord(ext_ref('x@h', 1, [1, 2, 3])), ord(ext_ref('x@h', 1, [1, 2, 3, 0, 0]))),
    check_pairs(fun ord/1, fun cmp/2, Rs),
    check_pairs(fun exa/1, fun xcmp/2, Rs).

%% This node's pids, ports and references encode with a marker, not the
%% node's name, and sort before those of every other node (README,
%% "Differences from ets"): ports and references whatever the names, pids
%% where serial and number are equal. Everything else as Erlang orders it.
this_node_sorts_first_among_pids_ports_and_references_test() ->
    Remote = fun(Node) -> [ext_ref(Node, 1, [1, 2, 3]), ext_ref(Node, 0, [9]), ext_port(Node, 1, 5),
                           ext_port64(Node, 2, 1 bsl 40), ext_pid(Node, 1, 7, 0), ext_pid(Node, 0, 6, 1)] end,
    Local = [make_ref(), make_ref(), list_to_port("#Port<0.5>"), list_to_port("#Port<0.9>"),
             list_to_pid("<0.7.0>"), list_to_pid("<0.6.1>"), list_to_pid("<0.3.0>")],
    Ts = Local ++ Remote('a@h') ++ Remote('z@h') ++ Remote(node()),
    LocalFirst = fun(A, B) -> cmp(marked(A), marked(B)) end,
    check_pairs(fun ord/1, LocalFirst, Ts),
    check_pairs(fun exa/1, LocalFirst, Ts),
    ?assert(ord(list_to_port("#Port<0.99>")) < ord(ext_port('a@h', 0, 0))),
    ?assert(ord(list_to_pid("<0.7.0>")) < ord(ext_pid('a@h', 0, 7, 0))),
    ?assert(ord(ext_pid('a@h', 0, 6, 0)) < ord(list_to_pid("<0.7.0>"))).

%% Erlang's order with this node renamed '' (the least atom), creation 1:
%% where xets orders a local term. Local terms are those of this node's
%% name and creation (others of its name and another creation are not).
marked(T) ->
    Self = term_to_binary(self()),
    NL = byte_size(Self) - 14,
    <<131, 88, SelfNode:NL/binary, _:8/binary, Cr:32>> = Self,
    case term_to_binary(T) of
        <<131, 88, SelfNode:NL/binary, Id:8/binary, Cr:32>> ->
            binary_to_term(<<131, 88, 100, 0:16, Id/binary, 1:32>>);
        <<131, 89, SelfNode:NL/binary, Id:4/binary, Cr:32>> ->
            binary_to_term(<<131, 89, 100, 0:16, Id/binary, 1:32>>);
        <<131, 120, SelfNode:NL/binary, Id:8/binary, Cr:32>> ->
            binary_to_term(<<131, 120, 100, 0:16, Id/binary, 1:32>>);
        <<131, 90, N:16, SelfNode:NL/binary, Cr:32, Id/binary>> ->
            binary_to_term(<<131, 90, N:16, 100, 0:16, 1:32, Id/binary>>);
        _ ->
            T
    end.

%% Local funs before export funs; local funs by module, index, old uniq,
%% number of free variables, then the free variables (== in ordered mode,
%% =:= in exact mode); the creating process does not count.
funs_sort_like_otp_test() ->
    Self = self(),
    spawn(fun() -> Self ! {fun_from, local_fun(1)} end),
    Other = receive {fun_from, F} -> F end,
    ?assertEqual(ord(local_fun(1)), ord(Other)),
    ?assertEqual(exa(local_fun(1)), exa(Other)),
    ?assertEqual(ord(local_fun(1)), ord(local_fun(1.0))),
    ?assertNotEqual(exa(local_fun(1)), exa(local_fun(1.0))),
    ?assert(ord(fun() -> ok end) < ord(fun a:b/0)),
    Fs = [fun() -> ok end, fun() -> 1 end, local_fun(1), local_fun(2), local_fun(a), local_fun([1.0]),
          xets_terms:local_fun2(1, 2), xets_terms:local_fun2(1, 1.0), fun lists:sort/1, fun lists:sort/2,
          fun lists:map/2, fun a:b/0, fun a:b/1, fun erlang:'+'/2, fun xets_terms:edge_terms/0,
          fun(X) -> X + 1 end],
    check_pairs(fun ord/1, fun cmp/2, Fs),
    check_pairs(fun exa/1, fun xcmp/2, Fs).

%% Crafted local funs (NEW_FUN_EXT) vary the fields one at a time: module,
%% index, old uniq, free variables count; new uniq, old index, arity and
%% creator pid are not compared by OTP 25 and must not change the encoding.
crafted_funs_compare_module_index_old_uniq_free_vars_test() ->
    Fs = [craft_fun(M, I, OU, Free, U, OI, A, P)
          || M <- [m, n, 'ö'], I <- [0, 1, 300], OU <- [-1, 0, 1, 70000], Free <- [[], [1], [1.0], [2], [1, 1]],
             {U, OI, A, P} <- [{0, 0, 0, self()}, {5, 3, 2, list_to_pid("<0.1.0>")}]],
    check_pairs(fun ord/1, fun cmp/2, Fs),
    check_pairs(fun exa/1, fun xcmp/2, Fs).

craft_fun(Mod, Index, OldUniq, Free, Uniq, OldIndex, Arity, Pid) ->
    Ext = fun(T) -> <<131, B/binary>> = term_to_binary(T), B end,
    ModB = atom_to_binary(Mod, utf8),
    Body = <<Arity, Uniq:128, Index:32, (length(Free)):32, 118, (byte_size(ModB)):16, ModB/binary,
             98, OldIndex:32/signed, 98, OldUniq:32/signed, (Ext(Pid))/binary,
             (<< <<(Ext(F))/binary>> || F <- Free >>)/binary>>,
    binary_to_term(<<131, 112, (byte_size(Body) + 4):32, Body/binary>>).

%% ---- 2. ordered mode: == terms encode identically -----------------------

equal_terms_encode_identically_in_ordered_mode_test() ->
    Pairs = [{1, 1.0}, {{1}, {1.0}}, {0.0, -0.0}, {0, -0.0}, {2.0e20, 200000000000000000000},
             {float(1 bsl 64), 1 bsl 64}, {-float(1 bsl 64), -(1 bsl 64)}, {[1, 2], [1.0, 2.0]},
             {#{a => 1}, #{a => 1.0}}, {1.7976931348623157e308, trunc(1.7976931348623157e308)},
             {local_fun(1), local_fun(1.0)}],
    [?assertEqual({A, ord(A)}, {A, ord(B)}) || {A, B} <- Pairs],
    ?assertNotEqual(ord(#{1 => a}), ord(#{1.0 => a})).

random_float_twins_encode_identically_test() ->
    rand:seed(exsss, {13, 14, 15}),
    Ts = [xets_terms:random_term(8) || _ <- lists:seq(1, 3000)],
    Bad = [T || T <- Ts, Tw <- [xets_terms:float_twin(T)],
                not (ord(T) =:= ord(Tw) andalso (exa(T) =:= exa(Tw)) =:= (T =:= Tw))],
    ?assertEqual([], lists:sublist(Bad, 3)).

%% ---- 3. exact mode: identical exactly when =:=, map-key order ------------

exact_mode_separates_integers_from_floats_test() ->
    ?assertNotEqual(exa(1), exa(1.0)),
    ?assertNotEqual(exa({1}), exa({1.0})),
    ?assertEqual(exa(0.0), exa(-0.0)), % 0.0 =:= -0.0 on OTP 25
    ?assertEqual(0.0 =:= -0.0, exa(0.0) =:= exa(-0.0)),
    ?assert(exa(1 bsl 2000) < exa(-1.0e300)),
    ?assert(exa(2) < exa(1.0)).

exact_order_matches_map_key_order_on_edge_terms_test() ->
    check_pairs(fun exa/1, fun xcmp/2, xets_terms:edge_terms()).

exact_order_matches_map_key_order_on_random_terms_test_() ->
    {timeout, 60, fun() ->
        rand:seed(exsss, {16, 17, 18}),
        Ts = [xets_terms:random_term(8) || _ <- lists:seq(1, 15000)] ++
             [xets_terms:random_key() || _ <- lists:seq(1, 5000)],
        check_sorted(fun exa/1, fun xcmp/2, Ts)
    end}.

%% ---- 4. canonical whatever the representation -------------------------

maps_built_in_any_order_encode_identically_test() ->
    rand:seed(exsss, {19, 20, 21}),
    [begin
         KVs = [{K, {v, K}} || K <- lists:seq(1, N) ++ [float(K) + 0.5 || K <- lists:seq(1, N div 2)]
                                    ++ [{k, K} || K <- lists:seq(1, 3)]],
         M1 = maps:from_list(KVs),
         M2 = maps:from_list(lists:reverse(KVs)),
         M3 = lists:foldl(fun({K, V}, M) -> M#{K => V} end, #{}, shuffle(KVs)),
         M4 = binary_to_term(term_to_binary(M3)),
         M5 = maps:remove(extra, (maps:from_list(shuffle(KVs)))#{extra => 1}),
         [?assertEqual({N, Mode, Enc(M1)}, {N, Mode, Enc(M)}) || M <- [M2, M3, M4, M5],
                                                                 {Mode, Enc} <- [{ordered, fun ord/1}, {exact, fun exa/1}]]
     end || N <- [1, 2, 31, 32, 33, 40, 100, 1000]],
    ok.

shuffle(L) -> [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

binaries_encode_by_bytes_whatever_their_kind_test() ->
    Big = list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, 1000)]),
    [begin
         Sub = binary:part(Big, Off, Len),
         Heap = list_to_binary(binary_to_list(Sub)),
         <<_:3, Unaligned:Len/binary, _/bitstring>> = <<0:3, Sub/binary, 0:5>>,
         <<_:Off/binary, Matched:Len/binary, _/binary>> = Big,
         [?assertEqual({Off, Len, ord(Heap)}, {Off, Len, ord(X)}) || X <- [Sub, Unaligned, Matched, binary:copy(Sub)]]
     end || Off <- [0, 1, 7, 100], Len <- [0, 1, 7, 8, 9, 63, 64, 65, 300]],
    Bits = <<1:1, Big/binary>>,
    <<_:1, SubBits:8001/bitstring, _/bitstring>> = <<0:1, Bits/bitstring, 1:1>>,
    ?assertEqual(ord(Bits), ord(SubBits)).

small_and_big_integers_at_the_boundary_test() ->
    %% 2^59 - 1 is the largest small integer on 64-bit; 2^64 needs a bignum digit more.
    Is = [(1 bsl 59) - 1, 1 bsl 59, -(1 bsl 59), -(1 bsl 59) - 1, (1 bsl 64) - 1, 1 bsl 64,
          (1 bsl 63) - 1, 1 bsl 63, -(1 bsl 63), -(1 bsl 63) - 1],
    check_pairs(fun ord/1, fun cmp/2, Is),
    [?assertEqual(ord(I), ord(binary_to_term(term_to_binary(I)))) || I <- Is],
    ?assertEqual(ord(1 bsl 64), ord(((1 bsl 64) * 3) div 3)).

%% ---- 5. total -----------------------------------------------------------

every_edge_term_encodes_in_both_modes_test() ->
    [begin
         ?assert(is_binary(ord(T))),
         ?assert(is_binary(exa(T)))
     end || T <- xets_terms:edge_terms()],
    ?assertError(badarg, xets_nif:key_encode(a, sideways)).

%% ---- 6. self-delimiting -------------------------------------------------

containers_concatenate_element_encodings_test() ->
    rand:seed(exsss, {22, 23, 24}),
    [begin
         A = xets_terms:random_term(6),
         B = xets_terms:random_term(6),
         <<_, TupleBody/binary>> = ord({A, B}),
         ?assertEqual(<<2, (ord(A))/binary, (ord(B))/binary>>, TupleBody),
         ?assertEqual(<<16#A0, (ord(A))/binary, 16#A0, (ord(B))/binary, 16#90>>, ord([A, B]))
     end || _ <- lists:seq(1, 500)],
    ok.

%% ---- 7. no C recursion --------------------------------------------------

deep_and_long_terms_encode_test_() ->
    {timeout, 60, fun() ->
        Long = lists:seq(1, 1000000),
        ?assertEqual(1 + lists:sum([1 + byte_size(ord(I)) || I <- Long]), byte_size(ord(Long))),
        DeepTuple = lists:foldl(fun(_, T) -> {T} end, x, lists:seq(1, 100000)),
        ?assertEqual(100000 * 2 + 10, byte_size(ord(DeepTuple))),
        DeepList = lists:foldl(fun(_, T) -> [T] end, [], lists:seq(1, 100000)),
        ?assert(is_binary(exa(DeepList))),
        DeepKey = lists:foldl(fun(I, M) -> #{M => I} end, #{}, lists:seq(1, 20000)),
        ?assert(is_binary(ord(DeepKey))),
        DeepVal = lists:foldl(fun(I, M) -> #{I => M, I + 1 => M} end, #{}, lists:seq(1, 20)),
        ?assert(is_binary(ord(DeepVal))),
        DeepFun = lists:foldl(fun(_, F) -> local_fun(F) end, x, lists:seq(1, 200)),
        ?assert(is_binary(ord(DeepFun))),
        Improper = lists:foldl(fun(I, T) -> [I | T] end, tail, lists:seq(1, 100000)),
        ?assert(ord(Improper) < ord(lists:reverse(lists:seq(1, 100000))))
    end}.

%% ---- 8. compact ---------------------------------------------------------

common_keys_are_compact_test() ->
    ?assertEqual(4, byte_size(ord(5))),
    ?assertEqual(4, byte_size(ord(-200))),
    ?assertEqual(1, byte_size(ord(0))),
    ?assertEqual(10, byte_size(ord(ok))),
    ?assertEqual(16, byte_size(ord({ok, 5}))),
    ?assertEqual(9, byte_size(exa(1.5))).
