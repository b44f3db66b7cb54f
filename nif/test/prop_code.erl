%% @doc Python source for the random-term properties: small safe expressions and statements,
%% syntax errors, invalid UTF-8, NUL bytes, and nesting deep enough to reach the parser's and
%% compiler's limits (which must become a Python error, never a crashed worker thread).
%%
%% Safe: nothing generated can import a module, touch files, sleep or exit; statements bind
%% only names starting with `_prop_' in the context's namespace, so other tests sharing the
%% context are not disturbed.
-module(prop_code).

-include_lib("proper/include/proper.hrl").

-export([code/0, expression/0]).

%% @doc Python source as iodata (a binary, a charlist or a deep iolist), or a near miss.
-spec code() -> proper_types:type().
code() ->
    frequency([{4, expression()}, {2, statement()}, {2, nested()}, {1, garbage()},
               {1, ?LET(E, expression(), [[E]])}, {1, ?LET(E, expression(), binary_to_list(E))}]).

%% @doc A small expression as a UTF-8 binary.
-spec expression() -> proper_types:type().
expression() ->
    frequency([{3, elements(atoms())},
               {2, ?LET({Parts, Op}, {non_empty(list(elements(atoms()))),
                                      elements([<<" + ">>, <<", ">>, <<" == ">>, <<" or ">>])},
                        iolist_to_binary(lists:join(Op, Parts)))}]).

atoms() ->
    [<<"1">>, <<"2.5">>, <<"10**30">>, <<"'s'">>, <<"b'b'">>, <<"[1, 2]">>, <<"(1,)">>,
     <<"{'k': 1}">>, <<"None">>, <<"True">>, <<"x">>, <<"len('abc')">>, <<"1/0">>,
     <<"undefined_name">>, <<"float('nan')">>, <<"float('inf')">>, <<"{1, 2}">>,
     <<"object()">>, <<"'\\u00e9'">>, <<"b'\\xff'">>, <<"-(2**64)">>, <<"2**64">>,
     <<"[[[]]]">>, <<"range(3)">>].

statement() ->
    ?LET({Name, E}, {elements([<<"_prop_a">>, <<"_prop_b">>]), expression()},
         oneof([<<Name/binary, " = ", E/binary>>,
                <<"_prop_a = 1\n_prop_b = _prop_a + 1">>,
                <<"def _prop_f():\n    return ", E/binary, "\n_prop_b = _prop_f()">>,
                <<"raise ValueError('prop')">>,
                <<"for _prop_i in range(3): pass">>])).

%% Nesting at and past the limits: parentheses (the tokenizer's 200), unary operators and
%% chained binary operators (the compiler's recursion), lambdas, containers.
nested() ->
    ?LET({Kind, N}, {elements([paren, unary, binop, lambda, list, dict]),
                     elements([10, 199, 201, 1000, 20000, 100000])},
         nest(Kind, N)).

nest(paren, N) -> [lists:duplicate(N, $(), $1, lists:duplicate(N, $))];
nest(unary, N) -> [lists:duplicate(N, $-), $1];
nest(binop, N) -> [$1, lists:duplicate(N, <<"+1">>)];
nest(lambda, N) -> [lists:duplicate(N, <<"lambda: ">>), $0];
nest(list, N) -> [lists:duplicate(N, $[), lists:duplicate(N, $])];
nest(dict, N) -> [lists:duplicate(N, <<"{1:">>), $1, lists:duplicate(N, $})].

garbage() ->
    oneof([binary(), elements([<<>>, <<0>>, <<"1\0">>, <<255, 254, 0>>, <<"(">>, <<"\n\n">>,
                               <<"\t1">>, <<"1 +">>, <<"'''">>, <<"\\">>, <<"#">>,
                               <<"\xc3">>, <<"é"/utf8>>, [256], [16#110000], [-1],
                               exactly([<<"1">> | <<"+1">>]), exactly([1 | 2])])]).
