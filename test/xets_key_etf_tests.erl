%% The key encoder from external-format bytes (c_src/key_codec.c, what the
%% disk tier will run on stored objects without a BEAM) against the
%% encoder of live terms (c_src/term_key.c): term_to_binary/1 of a term
%% must encode byte for byte as the term, in both modes, for every kind of
%% term; other bytes that hold the same term encode as it; bytes that are
%% no term are refused, never misread. Through the internal NIFs
%% xets_nif:key_encode_etf/4 and xets_nif:key_encode/2.
-module(xets_key_etf_tests).

-include_lib("eunit/include/eunit.hrl").

-import(xets_terms, [ext_pid/4, ext_port/3, ext_port64/3, ext_ref/3, local_fun/1, local_fun2/2]).

modes() -> [ordered, exact].

%% This node, as the disk tier will record the writer of some bytes.
this_node() -> term_to_binary(self()).

live(T, Mode) -> xets_nif:key_encode(T, Mode).

bytes(B, Mode) -> xets_nif:key_encode_etf(B, 0, Mode, this_node()).

from_bytes(T, Mode) -> bytes(term_to_binary(T), Mode).

%% Terms whose bytes do not encode as they do: [{Term, Mode, Live, Bytes}].
unlike(Ts) ->
    [{T, M, L, B} || T <- Ts, M <- modes(), L <- [live(T, M)], B <- [from_bytes(T, M)], L =/= B].

%% ---- every kind of term -------------------------------------------------

every_kind_of_term_encodes_alike_from_bytes_test() ->
    ?assertEqual([], unlike(kinds() ++ xets_terms:edge_terms())).

kinds() ->
    Self = self(),
    Ref = make_ref(),
    Port = open_port({spawn, "cat"}, []),
    Big = list_to_binary(lists:seq(0, 255)),
    <<_:3, Unaligned:100/binary, _/bitstring>> = <<0:3, Big/binary, 0:5>>,
    SmallMap = maps:from_list([{K, {v, K}} || K <- lists:seq(1, 32)]),
    LargeMap = maps:from_list([{K, K} || K <- lists:seq(1, 33)] ++ [{float(K), a} || K <- lists:seq(1, 40)]),
    Kinds =
        %% integers: small, at the 64-bit limits, bignums of both signs
        [0, 1, -1, 255, 256, -256, 1 bsl 31, -(1 bsl 31) - 1, (1 bsl 59) - 1, 1 bsl 59,
         (1 bsl 63) - 1, -(1 bsl 63), 1 bsl 63, -(1 bsl 63) - 1, (1 bsl 64) - 1, 1 bsl 64,
         -(1 bsl 64), 1 bsl 1000, -(1 bsl 1000) + 7, 1 bsl 8000, -(1 bsl 8000)]
        %% floats, the two zeros included
        ++ [0.0, -0.0, 1.0, -1.5, 0.1, 5.0e-324, -5.0e-324, 1.7976931348623157e308,
            9007199254740993.0, float(1 bsl 64)]
        %% atoms: ASCII, Latin-1, Unicode, empty, 255 characters
        ++ ['', a, 'hello world', 'ö', 'ÿ', '日本', '🙂', list_to_atom(lists:duplicate(255, $x)),
            list_to_atom(lists:duplicate(255, 16#FF)), list_to_atom(lists:duplicate(255, 16#1F642))]
        %% references, pids, ports: local and of other nodes
        ++ [Ref, alias(), ext_ref('x@h', 1, [1, 2, 3]), ext_ref('x@h', 0, [5]),
            ext_ref(node(), 7, [1, 2, 3]), Self, spawn(fun() -> ok end), list_to_pid("<0.1.0>"),
            ext_pid('x@h', 1, 5, 0), ext_pid(node(), 9, 5, 0), Port, hd(erlang:ports()),
            list_to_port("#Port<0.5>"), ext_port('x@h', 1, 5), ext_port64('y@h', 2, 1 bsl 40)]
        %% funs: local with and without free variables (holding local pids and
        %% references too), external, export
        ++ [fun() -> ok end, local_fun(1), local_fun(1.0), local_fun(Self), local_fun({Ref, Port}),
            local_fun2(#{a => Self}, [Ref]), fun lists:sort/1, fun a:b/0, fun erlang:'+'/2,
            erlang:make_fun(m, f, 255), local_fun(local_fun(local_fun(x)))]
        %% tuples, maps (flat and hashed), lists (proper, improper, strings)
        ++ [{}, {1}, {1.0, a}, list_to_tuple(lists:seq(1, 300)), #{}, #{a => 1}, #{1 => a, 1.0 => b},
            SmallMap, LargeMap, #{LargeMap => SmallMap, Self => Ref}, [], [1], [1 | 2], [a, b | c],
            "hello", lists:seq(1, 70000), [1.0, 2.0], [[]], [Self | Ref]]
        %% binaries, sub-binaries, unaligned ones, bitstrings
        ++ [<<>>, <<"abc">>, Big, binary:part(Big, 3, 100), Unaligned, <<1:1>>, <<255, 3:2>>,
            <<Big/binary, 1:7>>]
        %% nested
        ++ [{a, [#{k => {Self, <<1:3>>, [1.5 | Ref]}}, fun lists:map/2], -(1 bsl 100)},
            lists:foldl(fun(I, T) -> {I, T, [T]} end, x, lists:seq(1, 10))],
    port_close(Port),
    Kinds.

%% As test/xets_key_tests.erl does for the term encoder: the bytes encoder
%% walks without recursing, whatever the depth.
deep_terms_encode_alike_from_bytes_test_() ->
    {timeout, 60, fun() ->
        Deep = [lists:foldl(fun(_, T) -> {T} end, x, lists:seq(1, 100000)),
                lists:foldl(fun(_, T) -> [T] end, [], lists:seq(1, 100000)),
                lists:foldl(fun(I, T) -> [I | T] end, tail, lists:seq(1, 100000)),
                lists:foldl(fun(I, M) -> #{M => I} end, #{}, lists:seq(1, 20000)),
                lists:foldl(fun(I, M) -> #{I => M, I + 1 => M} end, #{}, lists:seq(1, 18)),
                lists:foldl(fun(_, F) -> local_fun(F) end, x, lists:seq(1, 2000))],
        ?assertEqual([], unlike(Deep))
    end}.

random_terms_encode_alike_from_bytes_test_() ->
    {timeout, 300, fun() ->
        rand:seed(exsss, {31, 32, 33}),
        Bad = lists:append([unlike([xets_terms:random_term(8), xets_terms:random_key()])
                            || _ <- lists:seq(1, 50000)]),
        ?assertEqual([], lists:sublist(Bad, 3))
    end}.

%% ---- objects: the key element only --------------------------------------

object_keys_encode_alike_from_bytes_test() ->
    rand:seed(exsss, {34, 35, 36}),
    Bad = [{Obj, Pos, M}
           || _ <- lists:seq(1, 3000),
              Key <- [xets_terms:random_term(6)],
              Pos <- [rand:uniform(4)],
              Obj <- [list_to_tuple([xets_terms:random_term(4) || _ <- lists:seq(1, Pos - 1)] ++
                                    [Key | [xets_terms:random_term(4) || _ <- lists:seq(1, rand:uniform(3) - 1)]])],
              M <- modes(),
              xets_nif:key_encode_etf(term_to_binary(Obj), Pos, M, this_node()) =/= live(Key, M)],
    ?assertEqual([], lists:sublist(Bad, 3)).

%% The disk tier reads a key without decoding the rest of its object: the
%% elements after the key are not looked at.
only_the_key_of_an_object_is_read_test() ->
    <<131, KeyBytes/binary>> = term_to_binary({k, 1}),
    Obj = <<131, 104, 3, KeyBytes/binary, 255, 0>>, % then no element at all
    [begin
         ?assertEqual(live({k, 1}, M), xets_nif:key_encode_etf(Obj, 1, M, this_node())),
         ?assertEqual({error, corrupt}, xets_nif:key_encode_etf(Obj, 2, M, this_node()))
     end || M <- modes()],
    Large = term_to_binary(list_to_tuple(lists:seq(1, 300))),
    ?assertEqual(live(300, exact), xets_nif:key_encode_etf(Large, 300, exact, this_node())).

keypos_outside_the_object_is_badarg_test() ->
    N = this_node(),
    ?assertEqual({error, badarg}, xets_nif:key_encode_etf(term_to_binary({a, b}), 3, exact, N)),
    ?assertEqual({error, badarg}, xets_nif:key_encode_etf(term_to_binary({}), 1, exact, N)),
    ?assertEqual({error, badarg}, xets_nif:key_encode_etf(term_to_binary([a, b]), 1, exact, N)),
    ?assertEqual({error, corrupt}, xets_nif:key_encode_etf(<<131, 104>>, 1, exact, N)).

%% ---- bytes that hold the same term --------------------------------------

%% Forms term_to_binary/1 does not choose, which binary_to_term/1 reads as
%% the same terms: they encode as those terms.
other_forms_of_a_term_encode_as_the_term_test() ->
    A = fun(Name) -> <<100, (byte_size(Name)):16, Name/binary>> end, % ATOM_EXT
    U = fun(Name) -> <<119, (byte_size(Name)), Name/binary>> end,    % SMALL_ATOM_UTF8_EXT
    Node = atom_to_binary(node()),
    Forms =
        [<<98, 5:32>>,                              % INTEGER_EXT of a small value
         <<110, 1, 0, 5>>, <<111, 1:32, 1, 5>>,     % bignums of a small value
         <<110, 4, 0, 5, 0, 0, 0>>,                 % high zero digits
         <<110, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0>>,  % 1, as 9 digits
         <<110, 1, 2, 5>>,                          % any sign byte but 0 is negative
         <<110, 0, 1>>,                             % no digits: 0
         (A(<<"abc">>)), (U(<<"abc">>)), (A(<<"ö"/utf8>>)), <<115, 1, 246>>, % Latin-1 ö
         <<108, 3:32, 97, 1, 97, 2, 97, 3, 106>>,   % a list of bytes as LIST_EXT
         <<108, 1:32, 97, 1, 108, 1:32, 97, 2, 106>>, % a tail written as another list
         <<108, 0:32, 97, 7>>,                      % a list of no elements: its tail
         <<108, 1:32, 97, 1, 107, 0, 2, 2, 3>>,     % a STRING_EXT tail
         <<116, 2:32, 100, 0, 1, $b, 97, 1, 100, 0, 1, $a, 97, 2>>, % map pairs out of order
         <<77, 1:32, 8, 200>>, <<77, 0:32, 0>>,     % whole bytes as BIT_BINARY_EXT
         <<77, 2:32, 3, 255, 255>>,                 % bits beyond the size
         <<103, (A(Node))/binary, 5:32, 1:32, 0>>,  % PID_EXT
         <<102, (A(Node))/binary, 5:32, 0>>,        % PORT_EXT
         <<89, (A(Node))/binary, 5:32, 0:32>>,      % NEW_PORT_EXT
         <<120, (A(<<"x@h">>))/binary, 5:64, 1:32>>, <<89, (A(<<"x@h">>))/binary, 5:32, 1:32>>,
         <<101, (A(<<"x@h">>))/binary, 5:32, 1>>,   % REFERENCE_EXT
         <<114, 3:16, (A(<<"x@h">>))/binary, 1, 1:32, 2:32, 3:32>>, % NEW_REFERENCE_EXT
         <<90, 5:16, (A(<<"x@h">>))/binary, 1:32, 1:32, 2:32, 3:32, 0:32, 0:32>>, % high zero words
         <<90, 0:16, (A(<<"x@h">>))/binary, 1:32>>, % no words at all
         <<113, (A(<<"m">>))/binary, (A(<<"f">>))/binary, 98, 300:32>>, % arity beyond 255
         <<113, (A(<<"m">>))/binary, (A(<<"f">>))/binary, 110, 5, 0, 0, 0, 0, 0, 1>>,
         <<88, (U(<<"x@h">>))/binary, 16#FFFFFFFF:32, 16#FFFFFFFF:32, 16#FFFFFFFF:32>>],
    Bad = [{F, M, R, L}
           || F <- Forms, B <- [<<131, F/binary>>], M <- modes(),
              R <- [bytes(B, M)], L <- [live(binary_to_term(B), M)], R =/= L],
    ?assertEqual([], Bad).

%% A list's cells each through the generic path: LIST_EXT, every element
%% as SMALL_INTEGER_EXT or INTEGER_EXT, and its tail. Live strings are
%% encoded in one pass (term_key.c, put_string), STRING_EXT too
%% (key_codec_put_string): both must give what their cells give.
cells_ext(L) -> cells_ext(L, []).

cells_ext([], Acc) -> cells_ext_done(lists:reverse(Acc), <<106>>);
cells_ext([H | T], Acc) when is_integer(H) -> cells_ext(T, [H | Acc]);
cells_ext(Tail, Acc) -> cells_ext_done(lists:reverse(Acc), term_to_binary(Tail)).

cells_ext_done(Els, Tail) ->
    <<_, TailBytes/binary>> = case Tail of <<106>> -> <<131, 106>>; _ -> Tail end,
    Enc = fun(I) when I >= 0, I =< 255 -> <<97, I>>; (I) -> <<98, I:32/signed>> end,
    <<131, 108, (length(Els)):32, (<< <<(Enc(I))/binary>> || I <- Els >>)/binary,
      TailBytes/binary>>.

strings_encode_as_their_cells_test() ->
    Strings = ["", [0], [255], [0, 0], "hello world", lists:seq(0, 255),
               lists:duplicate(300, $x), [I rem 256 || I <- lists:seq(1, 70000)],
               [256], "abc" ++ [256], [-1, 2], [1, 2 | 3], [1, 2 | <<"t">>], [1 | "tail"],
               [16#10FFFF], "ab" ++ [0]],
    Bad = [{S, M, L, R} || S <- Strings, M <- modes(), L <- [live(S, M)],
                           R <- [bytes(cells_ext(S), M)], L =/= R],
    ?assertEqual([], Bad),
    %% ... and as term_to_binary/1 writes them (STRING_EXT up to 65535).
    ?assertEqual([], unlike(Strings)).

%% ---- bytes that are no term ---------------------------------------------

%% A term's bytes are never a prefix of another's: every cut of them, and
%% them followed by anything, is refused.
truncated_or_extended_bytes_are_corrupt_test() ->
    rand:seed(exsss, {37, 38, 39}),
    Ts = xets_terms:edge_terms() ++ [xets_terms:random_term(6) || _ <- lists:seq(1, 300)],
    Bad = [{T, Cut}
           || T <- Ts, B <- [term_to_binary(T)], Cut <- lists:seq(0, byte_size(B) - 1) ++ [extra],
              Bytes <- [case Cut of extra -> <<B/binary, 0>>; _ -> binary:part(B, 0, Cut) end],
              M <- modes(), bytes(Bytes, M) =/= {error, corrupt}],
    ?assertEqual([], lists:sublist(Bad, 5)).

%% What binary_to_term/1 refuses is refused; what it reads is read as it
%% does: random damage done to the bytes of random terms.
damaged_bytes_are_read_as_binary_to_term_reads_them_test_() ->
    {timeout, 120, fun() ->
        rand:seed(exsss, {40, 41, 42}),
        Results = [check_damaged(damage(term_to_binary(xets_terms:random_term(6))))
                   || _ <- lists:seq(1, 30000)],
        Bad = [R || R <- Results, element(1, R) =:= bad],
        ?assertEqual([], lists:sublist(Bad, 5)),
        %% the damage must also make terms: not all of it is refused
        ?assert(length([ok || {read, _} <- Results]) > 3000)
    end}.

damage(B) ->
    Size = byte_size(B),
    case rand:uniform(4) of
        1 -> % a byte changed, the version byte kept
            I = rand:uniform(Size - 1),
            <<H:I/binary, _, T/binary>> = B,
            <<H/binary, (rand:uniform(256) - 1), T/binary>>;
        2 -> % a byte set to a value that is a count or a tag
            I = rand:uniform(Size - 1),
            <<H:I/binary, _, T/binary>> = B,
            <<H/binary, (lists:nth(rand:uniform(8), [0, 1, 2, 255, 97, 104, 106, 116])), T/binary>>;
        3 -> % a bit flipped
            I = rand:uniform(Size * 8 - 8) + 7,
            <<H:I/bitstring, X:1, T/bitstring>> = B,
            <<H/bitstring, (1 - X):1, T/bitstring>>;
        4 -> % a stretch cut out
            I = rand:uniform(Size - 1),
            L = rand:uniform(min(8, Size - I)),
            <<H:I/binary, _:L/binary, T/binary>> = B,
            <<H/binary, T/binary>>
    end.

%% {read, B}: both read it alike; {refused, B}: both refuse it, or only
%% the codec does, for a reason it has (key_codec.c, "Reading the external
%% format"); {bad, ...} otherwise.
check_damaged(B) ->
    Otp = try binary_to_term(B, [used]) of
              {T, Used} when Used =:= byte_size(B) -> {ok, T};
              {_, _} -> trailing
          catch error:badarg -> refused
          end,
    case {Otp, [bytes(B, M) || M <- modes()]} of
        {{ok, Term}, [E1, E2] = Ours} when is_binary(E1), is_binary(E2) ->
            case [live(Term, M) || M <- modes()] of
                Ours -> {read, B};
                Live -> {bad, B, Term, Ours, Live}
            end;
        {refused, [{error, _}, {error, _}]} -> {refused, B};
        {trailing, [{error, _}, {error, _}]} -> {refused, B};
        {{ok, _}, [{error, badarg}, {error, badarg}]} -> {refused, B}; % a form not read
        {{ok, Term}, [{error, corrupt}, {error, corrupt}] = Ours} ->
            %% binary_to_term/1 does not check the size a fun claims
            case holds_fun(Term) andalso unlike([Term]) =:= [] of
                true -> {refused, B};
                false -> {bad, B, Otp, Ours}
            end;
        {_, Ours} -> {bad, B, Otp, Ours}
    end.

holds_fun(F) when is_function(F) -> true;
holds_fun(T) when is_tuple(T) -> holds_fun(tuple_to_list(T));
holds_fun([H | T]) -> holds_fun(H) orelse holds_fun(T);
holds_fun(M) when is_map(M) -> holds_fun(maps:to_list(M));
holds_fun(_) -> false.

%% Lengths that claim more than the bytes hold are refused before anything
%% is allocated for them.
hostile_lengths_are_corrupt_test() ->
    Max = 16#FFFFFFFF,
    Cases = [<<105, Max:32>>, <<105, Max:32, 97, 1>>, <<116, Max:32, 97, 1, 97, 2>>,
             <<116, 2:32, 97, 1>>, <<108, Max:32, 106>>, <<109, Max:32, 0>>, <<77, Max:32, 8, 0>>,
             <<111, Max:32, 0, 1>>, <<107, 65535:16, 1>>, <<100, 65535:16, $a>>,
             <<90, 65535:16, 100, 0, 1, $a, 0:32>>, <<112, Max:32, 0>>, <<112, 10:32, 0>>],
    [?assertEqual({C, {error, corrupt}}, {C, bytes(<<131, C/binary>>, M)}) || C <- Cases, M <- modes()].

%% Bytes binary_to_term/1 refuses, and the checks the codec makes of them.
invalid_terms_are_corrupt_test() ->
    Node = <<100, 0, 3, "x@h">>,
    Cases = [<<70, 16#7FF0:16, 0:48>>,                   % infinity
             <<70, 16#7FF8:16, 0:48>>,                   % NaN
             <<118, 0, 2, 16#C3, 16#28>>,                % invalid UTF-8
             <<118, 0, 2, 16#C0, 16#80>>,                % overlong UTF-8
             <<118, 0, 3, 16#ED, 16#A0, 16#80>>,         % a surrogate
             <<118, 1, 0, (binary:copy(<<"a">>, 256))/binary>>, % 256 characters
             <<100, 1, 0, (binary:copy(<<"a">>, 256))/binary>>,
             <<77, 1:32, 0, 255>>, <<77, 1:32, 9, 255>>, <<77, 0:32, 3>>, % bits out of range
             <<116, 2:32, 97, 1, 97, 1, 97, 1, 97, 2>>,  % a key twice
             <<90, 6:16, Node/binary, 1:32, 0:192>>,     % 6 reference words
             <<103, Node/binary, 5:32, 1:32, 4>>,        % an old creation of 3 bits
             <<113, 100, 0, 1, $m, 100, 0, 1, $f, 98, 255, 255, 255, 255>>, % arity -1
             <<88, 97, 1, 0:96>>,                        % a node that is no atom
             <<200>>, <<131>>],
    [?assertEqual({C, {error, corrupt}}, {C, bytes(<<131, C/binary>>, M)}) || C <- Cases, M <- modes()],
    ?assertEqual({error, corrupt}, bytes(<<>>, exact)),
    ?assertEqual({error, corrupt}, bytes(<<130, 97, 1>>, exact)).

%% Compressed terms (and the other forms term_to_binary/1 does not write)
%% are not read: the disk tier compresses blocks, not terms.
unread_forms_are_badarg_test() ->
    Compressed = term_to_binary(lists:duplicate(1000, a), [compressed]),
    <<131, 80, _/binary>> = Compressed,
    ?assertEqual({error, badarg}, bytes(Compressed, exact)),
    OldFloat = term_to_binary(1.5, [{minor_version, 0}]),
    <<131, 99, _/binary>> = OldFloat,
    ?assertEqual({error, badarg}, bytes(OldFloat, ordered)),
    ?assertEqual({error, badarg}, bytes(<<131, 82, 0>>, ordered)).

%% ---- the local node -----------------------------------------------------

%% Which node is local is the caller's to say: the writer's. A local pid's
%% bytes read with another node as local are that of a pid of this node's
%% name, whatever the other node is; and a pid of node x@h read with x@h as
%% local is a local one.
the_local_node_is_the_writer_s_test() ->
    Self = self(),
    Init = list_to_pid("<0.0.0>"),
    X = term_to_binary(ext_ref('x@h', 1, [1])),
    Y = term_to_binary(ext_port('y@h', 2, 1)),
    [begin
         ?assertEqual(live(Self, M), bytes(term_to_binary(Self), M)),
         Foreign = xets_nif:key_encode_etf(term_to_binary(Self), 0, M, X),
         ?assertNotEqual(live(Self, M), Foreign),
         ?assertEqual(Foreign, xets_nif:key_encode_etf(term_to_binary(Self), 0, M, Y)),
         ?assert(live(Self, M) < Foreign), % the local marker sorts first
         ?assertEqual(live(Init, M), xets_nif:key_encode_etf(term_to_binary(ext_pid('x@h', 1, 0, 0)), 0, M, X))
     end || M <- modes()],
    ?assertError(badarg, xets_nif:key_encode_etf(term_to_binary(Self), 0, exact, term_to_binary(1))).
