%% Twin tables for the suites that compare the module under test with ets
%% (see xets_twin.erl).
%%
%% ?EQ(P, Expr): Expr gives the same result, or raises the same exception,
%% with ?M = ets and ?T the ets table as with ?M the module under test and
%% ?T its table. ?EQU compares lists as sorted on set/bag/duplicate_bag
%% (whose order ets leaves unspecified), ?EQS always as sorted.
-define(M, M__).
-define(T, T__).
-define(EQ(P, Expr), xets_twin:eq(P, ??Expr, fun(M__, T__) -> _ = M__, _ = T__, Expr end, exact)).
-define(EQU(P, Expr), xets_twin:eq(P, ??Expr, fun(M__, T__) -> _ = M__, _ = T__, Expr end, unordered)).
-define(EQS(P, Expr), xets_twin:eq(P, ??Expr, fun(M__, T__) -> _ = M__, _ = T__, Expr end, sorted)).

%% A pair of tables: E in ets, X in Mod. Subst: the terms that name one of
%% the tables, replaced by '$tab' before results are compared.
-record(p, {type, mod, e, x, subst = []}).
