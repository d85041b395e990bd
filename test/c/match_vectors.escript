#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%% Test vectors for c_src/match.c, with ETS itself as the oracle.
%%
%%   escript match_vectors.escript OUT [RANDOM_COUNT [SEED]]
%%
%% Writes OUT: the hand-written cases below, then RANDOM_COUNT (default
%% 20000) random (object, match spec) pairs. For each, the truth is what
%% ets:match_spec_run/2 and ets:select/2 on a real table give (the two must
%% agree, or the pair is dropped and counted). test/c/match_test.c reads
%% the file and checks the engine's answer byte for byte against
%% term_to_binary/1 of that truth.
%%
%% File format (integers are 32-bit big endian):
%%   "MSV1" Count, then Count times:
%%   NameLen Name Mode ObjLen Obj SpecLen Spec Expect ResLen Res
%% Mode: low byte 0 = must be answered (no MATCH_DEFER), 1 = must defer,
%%       2 = may defer (random pairs); bit 8: the object has UTF-8 atoms,
%%       compare the result as a term.
%% Expect: 0 = no clause matches, 1 = Res is term_to_binary(Result).
-mode(compile).

main([Out]) -> main([Out, "20000"]);
main([Out, N]) -> main([Out, N, "1"]);
main([Out, N, Seed]) ->
    rand:seed(exsss, {list_to_integer(Seed), 7, 11}),
    Cases = [case C of {_, _, _, _} -> C; {Name, O, M} -> {Name, must, O, M} end || C <- cases()] ++
            [{Name, defer, O, M} || {Name, O, M} <- defer_cases()],
    Hand = [vector(C) || C <- Cases],
    {Random, Dropped} = random_vectors(list_to_integer(N)),
    All = Hand ++ Random,
    ok = file:write_file(Out, [<<"MSV1", (length(All)):32>> | All]),
    io:format("match vectors: ~b hand-written, ~b random (~b dropped: "
              "match_spec_run and select disagree)~n",
              [length(Hand), length(Random), Dropped]);
main(_) ->
    io:format(standard_error, "usage: match_vectors.escript OUT [COUNT [SEED]]~n", []),
    halt(2).

%% ---- oracle ---------------------------------------------------------------

%% {ok, [] | [Result]} or disagree.
truth(Obj, MS) ->
    R1 = case MS of
             [] -> []; % select takes it, match_spec_compile does not
             _ -> ets:match_spec_run([Obj], ets:match_spec_compile(MS))
         end,
    T = ets:new(t, [duplicate_bag]),
    true = ets:insert(T, Obj),
    R2 = ets:select(T, MS),
    ets:delete(T),
    case R1 =:= R2 andalso bin(R1) =:= bin(R2) of
        true -> {ok, R1};
        false -> disagree
    end.

bin(L) -> [term_to_binary(X) || X <- L].

vector({Name, Mode, Obj, MS}) ->
    {ok, R} = truth(Obj, MS),
    encode(Name, Mode, Obj, MS, R).

encode(Name, Mode, Obj, MS, R) ->
    encode(Name, Mode, term_to_binary(Obj), term_to_binary(MS), R, 0).

%% Flags 1: the object is written with UTF-8 atoms (minor_version 2), so the
%% result is compared as a term (exact, floats bitwise), not byte for byte.
encode(Name, Mode, ObjBin, MSBin, R, Flags) ->
    {Expect, Res} = case R of
                        [] -> {0, <<>>};
                        [X] -> {1, term_to_binary(X)}
                    end,
    M = case Mode of must -> 0; defer -> 1; may -> 2 end,
    [chunk(unicode:characters_to_binary(Name)), <<(M bor (Flags bsl 8)):32>>, chunk(ObjBin),
     chunk(MSBin), <<Expect:32>>, chunk(Res)].

chunk(B) -> <<(byte_size(B)):32, B/binary>>.

%% ---- hand-written cases: each must be answered here ----------------------

a_port() ->
    case erlang:ports() of
        [P | _] -> P;
        [] -> open_port({spawn, "true"}, [])
    end.

nz() -> binary_to_term(<<131, 70, 128, 0, 0, 0, 0, 0, 0, 0>>). % -0.0
pz() -> binary_to_term(<<131, 70, 0, 0, 0, 0, 0, 0, 0, 0>>).   % 0.0

cases() ->
    NZ = nz(), PZ = pz(),
    Big = 1 bsl 70, NBig = -(1 bsl 70),
    Long = lists:seq(1, 70000), % LIST_EXT though all small? no: > 255 too
    LongSmall = lists:duplicate(70000, 7), % LIST_EXT only for its length
    Pid = self(), Ref = make_ref(), Port = a_port(),
    Fun = fun lists:map/2,
    [
     %% heads
     {"wildcard head", {1, 2}, [{'_', [], [yes]}]},
     {"variable head binds the object", {1, 2}, [{'$1', [], ['$1']}]},
     {"tuple head of another arity fails", {1, 2}, [{{'_'}, [], [yes]}]},
     {"tuple head arity and elements", {a, 1, "x"}, [{{a, '$1', '_'}, [], ['$1']}]},
     {"constant element mismatch", {a, 1}, [{{b, '_'}, [], [yes]}]},
     {"repeated variable equal", {1, 1}, [{{'$1', '$1'}, [], [yes]}]},
     {"repeated variable different", {1, 2}, [{{'$1', '$1'}, [], [yes]}]},
     {"repeated variable 1 vs 1.0", {1, 1.0}, [{{'$1', '$1'}, [], [yes]}]},
     {"repeated variable 0.0 vs -0.0 equal", {PZ, NZ}, [{{'$1', '$1'}, [], [yes]}]},
     {"head float 0.0 does not match -0.0", {NZ}, [{{PZ}, [], [yes]}]},
     {"head float -0.0 does not match 0.0", {PZ}, [{{NZ}, [], [yes]}]},
     {"head float -0.0 matches -0.0", {NZ}, [{{NZ}, [], [yes]}]},
     {"head nested float bitwise", {{NZ, a}}, [{{{PZ, '_'}}, [], [yes]}]},
     {"head float in list bitwise", {[NZ]}, [{{[PZ]}, [], [yes]}]},
     {"head 1 does not match 1.0", {1.0}, [{{1}, [], [yes]}]},
     {"head 1.0 does not match 1", {1}, [{{1.0}, [], [yes]}]},
     {"head bignum", {Big, NBig}, [{{Big, '$1'}, [], ['$1']}]},
     {"head bignum mismatch", {Big + 1}, [{{Big}, [], [yes]}]},
     {"head int32 boundary", {-2147483648, 2147483647, 2147483648}, [{{-2147483648, '$1', '$2'}, [], ['$$']}]},
     {"head list prefix of string", {"abc"}, [{{[$a | '$1']}, [], ['$1']}]},
     {"head list two elements of string", {"abcd"}, [{{[$a, $b | '$1']}, [], ['$1']}]},
     {"head string tail is last byte", {"ab"}, [{{[$a | '$1']}, [], ['$1']}]},
     {"head string tail to nil", {"a"}, [{{[$a | '$1']}, [], ['$1']}]},
     {"head list tail of LIST_EXT", {[a, 1, 2]}, [{{[a | '$1']}, [], ['$1']}]},
     {"head list tail of LIST_EXT with atom", {[1, a, b]}, [{{[1 | '$1']}, [], ['$1']}]},
     {"head improper list", {[1 | 2]}, [{{['$1' | '$2']}, [], [{{'$1', '$2'}}]}]},
     {"head improper list tail const", {[1, 2 | 3]}, [{{['_', '_' | 3]}, [], [yes]}]},
     {"head improper vs proper", {[1, 2]}, [{{['_', '_' | 3]}, [], [yes]}]},
     {"head list too short", {[1]}, [{{['_', '_' | '_']}, [], [yes]}]},
     {"head nil vs list", {[]}, [{{['_' | '_']}, [], [yes]}]},
     {"head string vs LIST_EXT equal", {LongSmall}, [{{'$1'}, [{'=:=', '$1', {const, LongSmall}}], [yes]}]},
     {"head constant string vs LIST_EXT", {[1, 2, 3 | []]}, [{{[1, 2, 3]}, [], [yes]}]},
     {"head constant string element in list", {[a, 1, 2]}, [{{[a | [1, 2]]}, [], [yes]}]},
     {"head repeated var string tail vs list", {"xbc", [a, $b, $c]}, [{{[$x | '$1'], [a | '$1']}, [], ['$1']}]},
     {"head repeated var string tail differs", {"xbc", [a, $b, $d]}, [{{[$x | '$1'], [a | '$1']}, [], ['$1']}]},
     {"head nested tuples", {{a, {b, {c, 1}}}}, [{{{a, {b, {c, '$1'}}}}, [], ['$1']}]},
     {"head nested tuple mismatch deep", {{a, {b, {c, 1}}}}, [{{{a, {b, {d, '$1'}}}}, [], ['$1']}]},
     {"head binary", {<<"abc">>, <<1:3>>}, [{{<<"abc">>, '$1'}, [], ['$1']}]},
     {"head bitstring mismatch", {<<1:3>>}, [{{<<1:4>>}, [], [yes]}]},
     {"head atom latin1", {'é', b}, [{{'é', '$1'}, [], ['$1']}]},
     {"head atom utf8", {'日本', b}, [{{'日本', '$1'}, [], ['$1']}]},
     {"head atom utf8 vs latin1", {'é'}, [{{'日本'}, [], [yes]}]},
     {"head pid", {Pid, 1}, [{{Pid, '$1'}, [], ['$1']}]},
     {"head ref", {Ref, 1}, [{{Ref, '$1'}, [], ['$1']}]},
     {"head port", {Port, 1}, [{{Port, '$1'}, [], ['$1']}]},
     {"head other ref", {make_ref(), 1}, [{{Ref, '$1'}, [], ['$1']}]},
     {"head export fun", {Fun}, [{{Fun}, [], [yes]}]},
     {"head large tuple", {list_to_tuple(lists:seq(1, 300))}, [{{'$1'}, [{'==', {size, '$1'}, 300}], [{element, 300, '$1'}]}]},
     {"head '$_' is a constant", {'$_'}, [{{'$_'}, [], [yes]}]},
     {"head '$01' is a constant", {1}, [{{'$01'}, [], [yes]}]},
     {"second clause", {b}, [{{a}, [], [first]}, {{b}, [], [second]}]},
     {"no clause", {c}, [{{a}, [], [first]}, {{b}, [], [second]}]},
     {"empty spec", {c}, []},
     {"var numbers not contiguous", {1, 2, 3}, [{{'$3', '$10', '$0'}, [], ['$$']}]},
     {"nine-digit variable", {1, 2}, [{{'$1', '$123456789'}, [], ['$$']}]},
     %% bodies
     {"body '$_'", {1, <<"v">>}, [{{'_', '_'}, [], ['$_']}]},
     {"body '$$' string", {1, 2}, [{{'$1', '$2'}, [], ['$$']}]},
     {"body '$$' list", {1, a}, [{{'$1', '$2'}, [], ['$$']}]},
     {"body '$$' none", {1, a}, [{{'_', '_'}, [], ['$$']}]},
     {"body constant atom", {1}, [{'_', [], [hello]}]},
     {"body constant '_'", {1}, [{'_', [], ['_']}]},
     {"body constant binary", {1}, [{'_', [], [<<"bin">>]}]},
     {"body constant int", {1}, [{'_', [], [1000]}]},
     {"body constant list", {1}, [{'_', [], [[a, b]]}]},
     {"body const tuple", {1}, [{'_', [], [{const, {a, '$1'}}]}]},
     {"body build tuple", {1, 2}, [{{'$1', '$2'}, [], [{{'$2', '$1', {{}}}}]}]},
     {"body build nested tuple", {1, 2}, [{{'$1', '$2'}, [], [{{'$2', {{'$1', '$_'}}}}]}]},
     {"body list of built tuple", {1}, [{'_', [], [[{{1, a}}]]}]},
     {"body built tuple of built tuple", {1}, [{'_', [], [{{{{a}}, b}}]}]},
     {"body list of const tuple", {1}, [{'_', [], [[{const, {x}}, 1]]}]},
     {"body const of what looks built", {1}, [{'_', [], [{const, [{{a}}]}]}]},
     {"body build list", {1, a}, [{{'$1', '$2'}, [], [['$1', '$2']]}]},
     {"body build string list", {1, 2}, [{{'$1', '$2'}, [], [['$1', '$2']]}]},
     {"body build improper", {1, a}, [{{'$1', '$2'}, [], [['$1' | '$2']]}]},
     {"body build list with list tail folds", {1, "xy"}, [{{'$1', '$2'}, [], [['$1' | '$2']]}]},
     {"body build list with LIST_EXT tail", {1, [a, b]}, [{{'$1', '$2'}, [], [['$1' | '$2']]}]},
     {"body build list big element", {1000, "xy"}, [{{'$1', '$2'}, [], [['$1' | '$2']]}]},
     {"body string tail re-encoded", {"hello"}, [{{[$h | '$1']}, [], [{{'$1'}}]}]},
     {"body list tail becomes string", {[a, 1, 2]}, [{{[a | '$1']}, [], [{{'$1'}}]}]},
     {"body list tail stays list", {[a, 1, b]}, [{{[a | '$1']}, [], [{{'$1'}}]}]},
     {"body list tail improper", {[a, 1 | b]}, [{{[a | '$1']}, [], [{{'$1'}}]}]},
     {"body long list tail", {[a | Long]}, [{{[a | '$1']}, [], ['$1']}]},
     {"body long small list tail", {[a | LongSmall]}, [{{[a | '$1']}, [], [{length, '$1'}]}]},
     {"body string byte element", {"abc"}, [{{[$a, '$1' | '_']}, [], ['$1']}]},
     {"body several expressions: last counts", {1}, [{{'$1'}, [], [{hd, '$1'}, '$1']}]},
     {"body raise in last: EXIT", {1}, [{{'$1'}, [], ['$1', {hd, '$1'}]}]},
     {"body raise no next clause", {1}, [{{'$1'}, [], [{hd, '$1'}]}, {'_', [], [second]}]},
     {"body var is whole object", {1}, [{'$1', [], ['$1']}]},
     {"body -0.0 copied", {NZ}, [{{'$1'}, [], ['$1']}]},
     {"body bignum", {Big}, [{{'$1'}, [], [{{'$1'}}]}]},
     %% guards
     {"guard true", {1}, [{'_', [true], [yes]}]},
     {"guard false", {1}, [{'_', [false], [yes]}]},
     {"guard non-boolean is false", {1}, [{'_', [1], [yes]}]},
     {"guard var true", {true}, [{{'$1'}, ['$1'], [yes]}]},
     {"guard const true", {1}, [{'_', [{const, true}], [yes]}]},
     {"guard raise tries next clause", {a}, [{{'$1'}, [{'>', {'+', '$1', 1}, 0}], [first]}, {'_', [], [second]}]},
     {"guards all must hold", {5}, [{{'$1'}, [{'>', '$1', 1}, {'<', '$1', 3}], [yes]}]},
     {"guards all hold", {2}, [{{'$1'}, [{'>', '$1', 1}, {'<', '$1', 3}], [yes]}]},
     {"guard $_ is not true", {1}, [{'_', ['$_'], [yes]}]}
    ] ++ type_test_cases() ++ compare_cases() ++ bool_cases() ++ bif_cases() ++ arith_cases().

samples() ->
    [0, 1, -1, 255, 256, 1 bsl 40, 1 bsl 70, -(1 bsl 70), 1.5, nz(), pz(), a, true, false,
     'é', '日本', self(), make_ref(), a_port(), fun lists:map/2, fun() -> ok end,
     {}, {a}, {a, 1}, #{}, #{a => 1}, [], "ab", [a], [1 | 2], <<>>, <<"x">>, <<1:1>>].

type_test_cases() ->
    Tests = [is_atom, is_float, is_integer, is_list, is_number, is_pid, is_port,
             is_reference, is_tuple, is_map, is_binary, is_function],
    [{lists:flatten(io_lib:format("~p(~p)", [T, V])), {V}, [{{'$1'}, [], [{T, '$1'}]}]}
     || T <- Tests, V <- samples()] ++
    [{"is_record " ++ lists:flatten(io_lib:format("~p", [Args])), {V}, [{{'$1'}, [], [list_to_tuple([is_record, '$1' | Args])]}]}
     || V <- [{a}, {a, 1}, {b, 1}, {}, a, [a]],
        Args <- [[a, 1], [a, 2], [b, 2], [1, 2], [a, a], [a, 1.0], [a, 0], [a, -1],
                 [a, 1 bsl 59], [a, (1 bsl 59) - 1], [a, -(1 bsl 59)], [a, -(1 bsl 59) - 1], [a, 1 bsl 70]]].

compare_cases() ->
    Ops = ['=:=', '=/=', '==', '/=', '<', '=<', '>', '>='],
    NZ = nz(), PZ = pz(),
    Pairs = [{1, 1}, {1, 1.0}, {1.0, 1}, {1, 2}, {PZ, NZ}, {NZ, PZ}, {PZ, 0}, {NZ, 0},
             {1 bsl 70, 1.0e21}, {1 bsl 70, 1.2e21}, {1 bsl 70, 1.180591620717411303424e21},
             {-(1 bsl 70), -1.180591620717411303424e21}, {(1 bsl 70) + 1, 1.180591620717411303424e21},
             {1 bsl 70, 1 bsl 71}, {-(1 bsl 70), -(1 bsl 71)}, {1 bsl 70, -(1 bsl 70)},
             {9007199254740993, 9007199254740992.0}, {9007199254740992, 9007199254740992.0},
             {-9223372036854775808, -9223372036854775808.0}, {9223372036854775807, 9223372036854775808.0},
             {9223372036854775808, 9223372036854775808.0}, {1.0e300, 1 bsl 1000},
             {2.5, 2}, {-2.5, -2}, {-0.5, 0}, {0.5, 0}, {1, a}, {a, b}, {b, a}, {a, aa},
             {'é', z}, {'é', '日本'}, {'z', '日本'}, {1, {}}, {{}, []}, {[], "a"}, {"a", <<>>},
             {{a, 1}, {a, 2}}, {{a, 1}, {b}}, {{a, 1}, {a, 1.0}}, {"abc", "abd"}, {"abc", "ab"},
             {"abc", [$a, $b, $c]}, {[a, 1], [a, 1.0]}, {[1 | 2], [1, 2]}, {[1 | 2], [1 | 3]},
             {[1, 2], [1 | 2]}, {<<1:1>>, <<128>>}, {<<128>>, <<1:1>>}, {<<128>>, <<128, 0:1>>},
             {<<"abc">>, <<"abd">>}, {<<"ab">>, <<"abc">>}, {<<1:3>>, <<1:3>>},
             {self(), self()}, {make_ref(), 1}, {fun lists:map/2, fun lists:map/2},
             {fun lists:map/2, fun lists:map/3}, {fun lists:map/2, fun lists:foldl/3},
             {#{}, #{}}, {#{a => 1}, #{a => 1}}, {#{a => 1}, #{a => 2}}, {#{a => 1}, #{a => 1, b => 2}},
             {#{a => PZ}, #{a => NZ}}, {#{a => 1}, a}, {a_port(), a_port()},
             {{PZ}, {NZ}}, {[PZ], [NZ]}, {{1}, {1.0}}],
    [{lists:flatten(io_lib:format("~p ~s ~p", [A, Op, B])), cmp_mode(Op, A, B), {A, B},
      [{{'$1', '$2'}, [], [{Op, '$1', '$2'}]}]}
     || Op <- Ops, {A, B} <- Pairs] ++
    [{lists:flatten(io_lib:format("~p ~s const ~p", [A, Op, B])), cmp_mode(Op, A, B), {A},
      [{{'$1'}, [], [{Op, '$1', {const, B}}]}]}
     || Op <- Ops, {A, B} <- Pairs].

%% The engine leaves ordering two different pids, ports, refs, funs or maps
%% to Erlang.
cmp_mode(Op, A, B) ->
    Hard = fun(X) -> is_pid(X) orelse is_port(X) orelse is_reference(X) orelse
                         is_function(X) orelse is_map(X) end,
    Ordering = lists:member(Op, ['<', '=<', '>', '>=']),
    case Ordering andalso Hard(A) andalso Hard(B) andalso A =/= B of
        true -> may;
        false -> must
    end.

bool_cases() ->
    Vs = [true, false, 1],
    Es = [{Op, A} || Op <- ['and', 'or', 'andalso', 'orelse', 'not'], A <- Vs] ++
         [{Op, A, B} || Op <- ['and', 'or', 'andalso', 'orelse', 'xor'], A <- Vs, B <- Vs] ++
         [{Op, A, B, C} || Op <- ['and', 'or', 'andalso', 'orelse'], A <- Vs, B <- Vs, C <- Vs],
    [{lists:flatten(io_lib:format("~p in body", [E])), {1}, [{{'$1'}, [], [E]}]} || E <- Es] ++
    [{lists:flatten(io_lib:format("~p in guard", [E])), {1}, [{{'$1'}, [E], [yes]}]} || E <- Es] ++
    [{"andalso short-circuits a raise", {1}, [{{'$1'}, [], [{'andalso', false, {hd, '$1'}}]}]},
     {"orelse short-circuits a raise", {1}, [{{'$1'}, [], [{'orelse', true, {hd, '$1'}}]}]},
     {"and evaluates a raise", {1}, [{{'$1'}, [], [{'and', false, {hd, '$1'}}]}]},
     {"andalso last value returned", {1}, [{{'$1'}, [], [{'andalso', true, {{'$1'}}}]}]}].

bif_cases() ->
    Args = [{a, b, c}, {}, "abc", [a, b | c], [], <<1, 2, 3>>, <<1, 2:3>>, <<1:7>>, #{a => 1, b => 2},
            a, 1, 1 bsl 70, -2.5],
    Fs = [hd, tl, length, size, bit_size, byte_size, map_size, abs],
    [{lists:flatten(io_lib:format("~p(~p)", [F, A])), {A}, [{{'$1'}, [], [{F, '$1'}]}]}
     || F <- Fs, A <- Args] ++
    [{lists:flatten(io_lib:format("element(~p, ~p)", [I, T])), {I, T}, [{{'$1', '$2'}, [], [{element, '$1', '$2'}]}]}
     || I <- [0, 1, 2, 3, 4, -1, 1.0, a, 1 bsl 70], T <- [{a, b, c}, {}, [a], a]] ++
    [{"element of '$_'", {x, y}, [{'_', [], [{element, 2, '$_'}]}]},
     {"tl of string keeps tail", {"abc"}, [{{'$1'}, [], [{tl, {tl, '$1'}}]}]},
     {"hd of string tail", {"abc"}, [{{[$a | '$1']}, [], [{hd, '$1'}]}]},
     {"length of string tail", {"abc"}, [{{[$a | '$1']}, [], [{length, '$1'}]}]},
     {"length of list tail", {[a, b, c]}, [{{[a | '$1']}, [], [{length, '$1'}]}]},
     {"length of improper tail", {[a, b | c]}, [{{[a | '$1']}, [], [{length, '$1'}]}]},
     {"abs -0.0", {nz()}, [{{'$1'}, [], [{abs, '$1'}]}]},
     {"abs min int64 + 1", {-9223372036854775807}, [{{'$1'}, [], [{abs, '$1'}]}]},
     {"abs min int64", {-9223372036854775808}, [{{'$1'}, [], [{abs, '$1'}]}]},
     {"abs negative bignum", {-(1 bsl 70)}, [{{'$1'}, [], [{abs, '$1'}]}]}].

arith_cases() ->
    Ints = [0, 1, -1, 7, -7, 3, 255, 1 bsl 40, -(1 bsl 40), 9223372036854775807, -9223372036854775807],
    Small = [0, 1, -1, 7, -7, 2, 63, 64, -64],
    Bin = [{Op, A, B} || Op <- ['+', '-', '*'], A <- [0, 1, -1, 7, 1 bsl 40, -(1 bsl 40)], B <- [0, 3, -3, 1 bsl 20]] ++
          [{Op, A, B} || Op <- ['div', 'rem', 'band', 'bor', 'bxor'], A <- Ints, B <- [1, -1, 2, -3, 7, 255, 1 bsl 33]] ++
          [{Op, A, B} || Op <- ['bsl', 'bsr'], A <- [0, 1, -1, 5, -5, 1 bsl 40], B <- Small],
    Un = [{Op, A} || Op <- ['-', '+', 'bnot'], A <- Ints ++ [-9223372036854775808, 1 bsl 70, -(1 bsl 70)]],
    [{lists:flatten(io_lib:format("~p ~s ~p", [A, Op, B])), int64_mode(catch erlang:Op(A, B)), {A, B},
      [{{'$1', '$2'}, [], [{Op, '$1', '$2'}]}]} || {Op, A, B} <- Bin] ++
    [{lists:flatten(io_lib:format("~s ~p", [Op, A])), {A}, [{{'$1'}, [], [{Op, '$1'}]}]}
     || {Op, A} <- Un, Op =/= 'bnot' orelse abs(A) < 1 bsl 63] ++
    [{"arith raises on atom", {a}, [{{'$1'}, [], [{'+', '$1', 1}]}]},
     {"div by zero raises", {1}, [{{'$1'}, [], [{'div', '$1', 0}]}]},
     {"rem by zero raises", {1}, [{{'$1'}, [], [{'rem', '$1', 0}]}]},
     {"div float raises", {1.0}, [{{'$1'}, [], [{'div', '$1', 1}]}]},
     {"band float raises", {1.0}, [{{'$1'}, [], [{'band', '$1', 1}]}]},
     {"bnot float raises", {1.0}, [{{'$1'}, [], [{'bnot', '$1'}]}]},
     {"unary plus keeps float", {-2.5}, [{{'$1'}, [], [{'+', '$1'}]}]},
     {"unary plus raises on atom", {a}, [{{'$1'}, [], [{'+', '$1'}]}]},
     {"unary minus raises on atom", {a}, [{{'$1'}, [], [{'-', '$1'}]}]},
     {"min int rem -1", {-9223372036854775808}, [{{'$1'}, [], [{'rem', '$1', -1}]}]},
     {"guard with arithmetic", {5, 6}, [{{'$1', '$2'}, [{'>', {'+', '$1', '$2'}, 10}], ['$_']}]}].

%% Integer results beyond int64 are Erlang's to compute.
int64_mode(R) when is_integer(R), R >= -(1 bsl 63), R < 1 bsl 63 -> must;
int64_mode(R) when is_integer(R) -> may;
int64_mode(_) -> must.

%% Must be answered MATCH_DEFER: the engine leaves these to Erlang.
defer_cases() ->
    [{"map head pattern", {#{a => 1, b => 2}}, [{{#{a => '$1'}}, [], ['$1']}]},
     {"self() in body", {1}, [{'_', [], [{self}]}]},
     {"node() in guard", {1}, [{'_', [{'==', {node}, nonode@nohost}], [yes]}]},
     {"map_get", {#{a => 1}}, [{{'$1'}, [], [{map_get, a, '$1'}]}]},
     {"is_map_key", {#{a => 1}}, [{{'$1'}, [{is_map_key, a, '$1'}], [yes]}]},
     {"float/1", {1}, [{{'$1'}, [], [{float, '$1'}]}]},
     {"round/1", {1.5}, [{{'$1'}, [], [{round, '$1'}]}]},
     {"trunc/1", {1.5}, [{{'$1'}, [], [{trunc, '$1'}]}]},
     {"division", {1}, [{{'$1'}, [], [{'/', '$1', 2}]}]},
     {"binary_part", {<<"abc">>}, [{{'$1'}, [], [{binary_part, '$1', 0, 1}]}]},
     {"map construction", {1}, [{{'$1'}, [], [#{a => '$1'}]}]},
     {"float addition", {1.5}, [{{'$1'}, [], [{'+', '$1', 1}]}]},
     {"bignum addition", {1 bsl 70}, [{{'$1'}, [], [{'+', '$1', 1}]}]},
     {"int64 overflow", {9223372036854775807}, [{{'$1'}, [], [{'+', '$1', 1}]}]},
     {"multiplication overflow", {1 bsl 40}, [{{'$1'}, [], [{'*', '$1', '$1'}]}]},
     {"negate -0.0 sign", {0.0}, [{{'$1'}, [], [{'-', '$1'}]}]},
     {"order of two pids", {self(), spawn(fun() -> ok end)}, [{{'$1', '$2'}, [], [{'<', '$1', '$2'}]}]},
     {"order of two maps", {#{a => 1}, #{a => 2}}, [{{'$1', '$2'}, [], [{'<', '$1', '$2'}]}]},
     {"equality of two local funs", {fun() -> a end, fun() -> b end}, [{{'$1', '$2'}, [], [{'=:=', '$1', '$2'}]}]},
     {"huge variable number", {1, 2}, [{{'$1', '$99999999999'}, [], ['$$']}]},
     {"first clause defers before a later match", {1}, [{{'$1'}, [], [{self}]}, {'_', [], [second]}]}].

%% ---- random pairs ---------------------------------------------------------

random_vectors(N) -> random_vectors(N, 0, [], 0).

random_vectors(N, I, Acc, Dropped) when I >= N -> {lists:reverse(Acc), Dropped};
random_vectors(N, I, Acc, Dropped) ->
    Obj = rand_obj(),
    MS = rand_spec(Obj),
    case catch ets:match_spec_compile(MS) of
        {'EXIT', _} -> random_vectors(N, I, Acc, Dropped);
        _ ->
            case truth(Obj, MS) of
                {ok, R} ->
                    Name = "random " ++ integer_to_list(I),
                    V = encode(Name, may, Obj, MS, R),
                    Acc1 = case I rem 10 =:= 0 andalso not has_fun(Obj) of
                               true -> [encode(Name ++ " utf8 atoms", may,
                                            term_to_binary(Obj, [{minor_version, 2}]),
                                            term_to_binary(MS), R, 1), V | Acc];
                               false -> [V | Acc]
                           end,
                    random_vectors(N, I + 1, Acc1, Dropped);
                disagree ->
                    random_vectors(N, I + 1, Acc, Dropped + 1)
            end
    end.

%% Funs are left out of the UTF-8 variants: the test compares results as
%% terms with etf.c, which leaves funs written differently to Erlang.
has_fun(F) when is_function(F) -> true;
has_fun(T) when is_tuple(T) -> has_fun(tuple_to_list(T));
has_fun([H | T]) -> has_fun(H) orelse has_fun(T);
has_fun(M) when is_map(M) -> has_fun(maps:to_list(M));
has_fun(_) -> false.

pick(L) -> lists:nth(rand:uniform(length(L)), L).
chance(P) -> rand:uniform() < P.

leaf() ->
    pick([0, 1, 2, 7, 255, 256, -1, -300, 2147483647, -2147483648, 2147483648, 1 bsl 59,
          9223372036854775807, -9223372036854775808, 1 bsl 64, 1 bsl 70, -(1 bsl 70),
          0.0, nz(), 1.0, 2.0, -1.5, 1.0e30, 9223372036854775808.0, 9007199254740992.0, 123.25,
          a, b, c, true, false, '_', 'é', '日本', 'EXIT',
          <<>>, <<"abc">>, <<"abd">>, <<1:1>>, <<255, 1:3>>, <<"x">>,
          [], "abc", "ab", [1, 2, 3], [a, b], [1 | 2], [a | b], "ab" ++ [300], [nz()],
          {}, {a}, {a, 1}, {1.0}, #{}, #{a => 1}, #{a => nz()}, #{b => [1]},
          self(), make_ref(), a_port(), fun lists:map/2, fun() -> ok end]).

rand_term(0) -> leaf();
rand_term(D) ->
    case rand:uniform(10) of
        1 -> list_to_tuple([rand_term(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)]);
        2 -> [rand_term(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)];
        3 -> [rand_term(D - 1) | rand_term(D - 1)];
        4 -> [rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(5))];
        5 -> #{rand_term(0) => rand_term(D - 1)};
        _ -> leaf()
    end.

rand_obj() -> list_to_tuple([rand_term(2) || _ <- lists:seq(1, rand:uniform(4))]).

%% A spec of one to three clauses, heads derived from the object so that
%% they often match.
rand_spec(Obj) -> [rand_clause(Obj) || _ <- lists:seq(1, pick([1, 1, 1, 2, 3]))].

rand_clause(Obj) ->
    {Head, Vars} = case rand:uniform(12) of
                       1 -> {'_', []};
                       2 -> {'$1', ['$1']};
                       _ -> rand_head(Obj, [])
                   end,
    Guards = [rand_expr(Vars, Obj, 2) || _ <- lists:seq(1, pick([0, 0, 1, 1, 2]))],
    Body = [rand_body(Vars, Obj) || _ <- lists:seq(1, pick([1, 1, 1, 2]))],
    {Head, Guards, Body}.

%% {Pattern, VariablesBound}
rand_head(T, Vs) ->
    case rand:uniform(20) of
        N when N =< 3 -> {'_', Vs};
        N when N =< 7 ->
            V = case Vs =/= [] andalso chance(0.3) of
                    true -> pick(Vs);
                    false -> var(length(Vs) + rand:uniform(3) - 1)
                end,
            {V, lists:usort([V | Vs])};
        8 -> {perturb(T), Vs};
        _ when is_tuple(T) ->
            {Es, Vs1} = rand_heads(tuple_to_list(T), Vs),
            {list_to_tuple(Es), Vs1};
        _ when is_list(T), T =/= [] ->
            rand_list_head(T, Vs);
        _ -> {T, Vs}
    end.

rand_heads([], Vs) -> {[], Vs};
rand_heads([X | Xs], Vs) ->
    {P, Vs1} = rand_head(X, Vs),
    {Ps, Vs2} = rand_heads(Xs, Vs1),
    {[P | Ps], Vs2}.

rand_list_head([H | T], Vs) ->
    {P, Vs1} = rand_head(H, Vs),
    {PT, Vs2} = case is_list(T) andalso T =/= [] of
                    true -> rand_list_head(T, Vs1);
                    false -> rand_head(T, Vs1)
                end,
    {[P | PT], Vs2};
rand_list_head(T, Vs) -> rand_head(T, Vs).

var(N) -> list_to_atom("$" ++ integer_to_list(N)).

%% Something near T that may or may not equal it.
perturb(T) when is_integer(T) -> pick([T, T + 1, T * 1.0, -T]);
perturb(T) when is_float(T) -> pick([T, -T, T + 1.0, round(T)]);
perturb(T) when is_tuple(T), tuple_size(T) > 0 -> setelement(1, T, perturb(element(1, T)));
perturb([H | T]) -> [perturb(H) | T];
perturb(T) -> pick([T, leaf()]).

%% A literal usable in an expression: tuples and maps must be quoted.
quote(T) when is_tuple(T); is_map(T) -> {const, T};
quote(T) when is_list(T) -> {const, T};
quote(T) when is_atom(T) ->
    case atom_to_list(T) of
        "$" ++ _ -> {const, T};
        _ -> pick([T, {const, T}])
    end;
quote(T) -> T.

sub_term(T) when is_tuple(T), tuple_size(T) > 0 ->
    pick([T, sub_term(element(rand:uniform(tuple_size(T)), T))]);
sub_term([H | _] = T) -> pick([T, sub_term(H)]);
sub_term(T) -> T.

operand(Vs, Obj) ->
    case rand:uniform(6) of
        N when N =< 3, Vs =/= [] -> pick(Vs);
        4 -> quote(sub_term(Obj));
        5 -> '$_';
        _ -> quote(perturb(sub_term(Obj)))
    end.

rand_expr(Vs, Obj, 0) -> operand(Vs, Obj);
rand_expr(Vs, Obj, D) ->
    E = fun() -> rand_expr(Vs, Obj, D - 1) end,
    case rand:uniform(16) of
        1 -> {pick([is_atom, is_float, is_integer, is_list, is_number, is_pid, is_port,
                    is_reference, is_tuple, is_map, is_binary, is_function]), E()};
        2 -> {pick(['=:=', '=/=', '==', '/=', '<', '=<', '>', '>=']), E(), E()};
        3 -> {pick(['=:=', '==', '<', '>=']), operand(Vs, Obj), operand(Vs, Obj)};
        4 -> {pick([hd, tl, length, size, bit_size, byte_size, map_size, abs, 'not', 'bnot', '-', '+']), E()};
        5 -> {element, pick([1, 2, 3, E()]), E()};
        6 -> {pick(['+', '-', '*', 'div', 'rem', 'band', 'bor', 'bxor', 'bsl', 'bsr', 'xor']), E(), E()};
        7 -> list_to_tuple([pick(['and', 'or', 'andalso', 'orelse']) | [E() || _ <- lists:seq(1, rand:uniform(3))]]);
        8 -> {is_record, E(), pick([a, b, E()]), pick([1, 2, 3, E()])};
        9 -> {{E(), E()}};
        10 -> [E() | pick([[], E()])];
        11 -> pick([{self}, {node}, {float, E()}, {map_get, a, E()}, {is_map_key, a, E()}, {round, E()}]);
        12 -> {const, sub_term(Obj)};
        _ -> operand(Vs, Obj)
    end.

rand_body(Vs, Obj) ->
    case rand:uniform(8) of
        1 -> '$_';
        2 -> '$$';
        3 when Vs =/= [] -> pick(Vs);
        4 -> {{operand(Vs, Obj), operand(Vs, Obj)}};
        _ -> rand_expr(Vs, Obj, 2)
    end.
