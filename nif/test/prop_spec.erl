%% @doc The `-spec' of an exported function as the oracle of the PropEr properties: whether a
%% returned value is an instance of the spec's return type, read from the module's own
%% abstract code (the beams in nif/ebin are built with `+debug_info'). So the properties check
%% every result against the very spec the docs and dialyzer use, with no second copy of it.
%%
%% Handles the type forms these modules' specs use (atoms, integers and ranges, tuples,
%% lists, binaries, maps with `:='/`=>' fields, unions, annotated types, local user and
%% opaque types, the built-in types); any other form raises `{unsupported_type, Form}' rather
%% than passing silently. (PropEr's own type server, 1.2 in Debian 12, fails on map types.)
-module(prop_spec).
-export([returns/4, conforms/3]).

%% @doc Whether `Value' is an instance of the return type of `Module:Function/Arity'.
-spec returns(module(), atom(), arity(), term()) -> boolean().
returns(Module, Function, Arity, Value) ->
    conforms(Value, Module, return_type(Module, Function, Arity)).

%% @doc Whether `Value' is an instance of the abstract type `Type' of `Module'.
-spec conforms(term(), module(), erl_parse:abstract_type()) -> boolean().
conforms(_, _, {type, _, Any, []}) when Any =:= term; Any =:= any -> true;
conforms(V, M, {ann_type, _, [_Var, T]}) -> conforms(V, M, T);
conforms(V, M, {paren_type, _, [T]}) -> conforms(V, M, T);
conforms(V, M, {type, _, union, Ts}) -> lists:any(fun(T) -> conforms(V, M, T) end, Ts);
conforms(V, _, {atom, _, A}) -> V =:= A;
conforms(V, _, {integer, _, I}) -> V =:= I;
conforms(V, _, {type, _, range, [{integer, _, Lo}, {integer, _, Hi}]}) ->
    is_integer(V) andalso V >= Lo andalso V =< Hi;
conforms(V, _, {type, _, tuple, any}) -> is_tuple(V);
conforms(V, M, {type, _, tuple, Ts}) ->
    is_tuple(V) andalso tuple_size(V) =:= length(Ts)
        andalso lists:all(fun({E, T}) -> conforms(E, M, T) end,
                          lists:zip(tuple_to_list(V), Ts));
conforms(V, M, {type, _, list, [T]}) ->
    proper_list(V) andalso lists:all(fun(E) -> conforms(E, M, T) end, V);
conforms(V, _, {type, _, map, any}) -> is_map(V);
conforms(V, M, {type, _, map, Fields}) -> is_map(V) andalso map_conforms(V, M, Fields);
conforms(V, M, {user_type, _, Name, []}) -> conforms(V, M, local_type(M, Name));
conforms(V, _, {type, _, Name, []}) -> builtin(V, Name);
conforms(_, _, Form) -> erlang:error({unsupported_type, Form}).

builtin(V, atom) -> is_atom(V);
builtin(V, boolean) -> is_boolean(V);
builtin(V, binary) -> is_binary(V);
builtin(V, pid) -> is_pid(V);
builtin(V, reference) -> is_reference(V);
builtin(V, integer) -> is_integer(V);
builtin(V, non_neg_integer) -> is_integer(V) andalso V >= 0;
builtin(V, pos_integer) -> is_integer(V) andalso V > 0;
builtin(V, list) -> proper_list(V);
builtin(V, map) -> is_map(V);
builtin(V, string) -> proper_list(V) andalso lists:all(fun is_char/1, V);
builtin(V, timeout) -> V =:= infinity orelse (is_integer(V) andalso V >= 0);
builtin(_, Name) -> erlang:error({unsupported_type, Name}).

is_char(C) -> is_integer(C) andalso C >= 0 andalso C =< 16#10FFFF.

proper_list([]) -> true;
proper_list([_ | T]) -> proper_list(T);
proper_list(_) -> false.

%% Every `:=' field present and conforming; every key of `V' allowed by some field.
map_conforms(V, M, Fields) ->
    Exact = [{K, T} || {type, _, map_field_exact, [K, T]} <- Fields],
    lists:all(fun({KT, VT}) ->
                      lists:any(fun({K, Val}) -> conforms(K, M, KT) andalso conforms(Val, M, VT) end,
                                maps:to_list(V))
              end, Exact)
        andalso lists:all(fun({K, Val}) ->
                                  lists:any(fun({type, _, _, [KT, VT]}) ->
                                                    conforms(K, M, KT) andalso conforms(Val, M, VT)
                                            end, Fields)
                          end, maps:to_list(V)).

%% The return type of `M:F/A': a spec of several clauses (`(A) -> R1; (B) -> R2') returns
%% their union.
return_type(M, F, A) ->
    case [Clauses || {attribute, _, spec, {{F1, A1}, Clauses}} <- forms(M),
                     F1 =:= F, A1 =:= A] of
        [[{type, _, 'fun', [_, Range]}]] -> Range;
        [Clauses] -> {type, 0, union, [Range || {type, _, 'fun', [_, Range]} <- Clauses]};
        [] -> erlang:error({no_spec, {M, F, A}})
    end.

local_type(M, Name) ->
    [T] = [T || {attribute, _, Kind, {N, T, []}} <- forms(M),
                Kind =:= type orelse Kind =:= opaque, N =:= Name],
    T.

%% The module's abstract code, read once per module and VM.
forms(M) ->
    Key = {?MODULE, M},
    case persistent_term:get(Key, undefined) of
        undefined ->
            {ok, {M, [{abstract_code, {_, Forms}}]}} =
                beam_lib:chunks(code:which(M), [abstract_code]),
            persistent_term:put(Key, Forms),
            Forms;
        Forms ->
            Forms
    end.
