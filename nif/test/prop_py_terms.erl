%% @doc PropEr: random and near-miss terms to every function of `py' but `stop/0' (which
%% stops the interpreter for the rest of the VM's life; py_lifecycle_tests covers it):
%% `call/3,4,5', `eval/1,2,3', `exec/1,2', `context/1', `info/0' (the seed's forms too).
%%
%% Held to the module doc: arguments it accepts give a value of the function's `-spec'
%% (prop_spec), never an exception and never `{error, {nif_panic, _}}'; all others raise
%% `error:badarg'. After each call no `{py_result, _, _}' message is left in the mailbox
%% (also after a `timeout'), and both the NIF (a buffer round trip) and the interpreter (an
%% `eval') still work. Python code and the functions called are safe ones (prop_code and
%% `targets/0': nothing that imports, sleeps, allocates without bound or exits); the
%% arguments, names, options and contexts are where the randomness is. A call may wait for a
%% buffer of the case (`sorted(Buf)' iterates it): see `call/3'.
-module(prop_py_terms).

-include_lib("proper/include/proper.hrl").

-export([prop_py_api/0, called/0]).

-define(MAX_U32, 16#FFFFFFFF).
%% When a call still running has its buffers aborted, and how long it may take to end then.
-define(UNBLOCK_MS, 2000).
-define(STUCK_MS, 30000).

%% @doc The functions called (every export of `py' but `stop/0').
-spec called() -> [{atom(), arity()}].
called() ->
    [{call, 3}, {call, 4}, {call, 5}, {eval, 1}, {eval, 2}, {eval, 3}, {exec, 1}, {exec, 2},
     {context, 1}, {info, 0}].

%% @doc Every function of `py' with random and near-miss arguments, held to its doc.
-spec prop_py_api() -> proper:test().
prop_py_api() ->
    ?FORALL({F, Specs}, py_call(),
            begin
                {Ok, Report} = prop_terms:no_raise(fun() -> run(F, Specs) end),
                ?WHENFAIL(io:put_chars(Report), Ok)
            end).

run(F, Specs) ->
    {Args, World} = prop_terms:materialise_all(Specs, prop_terms:new_world()),
    StuckBefore = stuck(),
    {Outcome, NoLateReply, Unblocked} = call(F, Args, World),
    Right = verdict(F, Args, Outcome),
    prop_terms:cleanup({World, []}),
    %% A call that timed out may still run (`stuck'; a context with a stuck thread answers
    %% `overloaded', as documented): the interpreter is asked once they have returned.
    Settled = py_buffer_test_helpers:await(fun() -> stuck() =< StuckBefore end, ?STUCK_MS),
    Alive = prop_terms:canary() andalso Settled =:= ok
        andalso py:eval(py:context(1), <<"6 * 7">>) =:= {ok, 42},
    {Right andalso NoLateReply andalso Alive,
     io_lib:format("py:~p(~P)~n  -> ~P~n  verdict ~p, no late reply ~p, alive ~p, "
                   "buffers aborted to unblock it ~p~n",
                   [F, Args, 12, Outcome, 12, Right, NoLateReply, Alive, Unblocked])}.

%% The call, in a helper process: {Outcome, no late reply in its mailbox, unblocked}. A call
%% may rightly wait for a buffer of the case (`sorted(Buf)' iterates it, waiting for bytes
%% that never come); if it has not returned after ?UNBLOCK_MS, the case's buffers are aborted,
%% which must end it (Python sees `BodyAborted'). Not a timing check: a slow call is only
%% unblocked, its result is judged the same way.
call(F, Args, World) ->
    Self = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       Outcome = try apply(py, F, Args) of
                                                     V -> {value, V}
                                                 catch
                                                     Class:Reason -> {raised, Class, Reason}
                                                 end,
                                       Self ! {self(), Outcome, no_py_result()}
                               end),
    receive
        {Pid, Outcome, NoLate} -> demonitor(Mon, [flush]), {Outcome, NoLate, false};
        {'DOWN', Mon, process, Pid, Why} -> {{helper_died, Why}, false, false}
    after ?UNBLOCK_MS ->
            prop_terms:abort_buffers(World),
            receive
                {Pid, Outcome, NoLate} -> demonitor(Mon, [flush]), {Outcome, NoLate, true};
                {'DOWN', Mon, process, Pid, Why} -> {{helper_died, Why}, false, true}
            after ?STUCK_MS ->
                    exit(Pid, kill),
                    {still_blocked_after_abort, false, true}
            end
    end.

py_call() ->
    oneof([?LET({{M, Fn}, As}, {target(), call_args()}, {call, [M, Fn, As]}),
           ?LET({C, {M, Fn}, As}, {ctx(), target(), call_args()}, {call, [C, M, Fn, As]}),
           ?LET({C, {M, Fn}, As, O}, {ctx(), target(), call_args(), opts()},
                {call, [C, M, Fn, As, O]}),
           ?LET({C, Code}, {ctx(), code()}, {eval, [C, Code]}),
           ?LET({C, Code, L}, {ctx(), code(), names_map()}, {eval, [C, Code, L]}),
           ?LET({C, Code}, {ctx(), code()}, {exec, [C, Code]}),
           %% The seed's forms: no context, keyword arguments or locals as a map.
           ?LET(Code, code(), {eval, [Code]}),
           ?LET(Code, code(), {exec, [Code]}),
           ?LET({Code, L}, {code(), names_map()}, {eval, [Code, L]}),
           ?LET({Code, L, T}, {code(), names_map(), timeout_spec()}, {eval, [Code, L, T]}),
           ?LET({{M, Fn}, As, K}, {target(), call_args(), names_map()}, {call, [M, Fn, As, K]}),
           ?LET({{M, Fn}, As, K, T}, {target(), call_args(), names_map(), timeout_spec()},
                {call, [M, Fn, As, K, T]}),
           ?LET(N, oneof([{term, prop_terms:size_like()}, prop_terms:arg()]), {context, [N]}),
           {info, []}]).

%% Safe functions: their results and errors depend on the random arguments only.
targets() ->
    [{math, sqrt}, {builtins, len}, {builtins, repr}, {builtins, sorted}, {builtins, hash},
     {builtins, isinstance}, {builtins, 'str.upper'}, {builtins, int}, {operator, add},
     {operator, getitem}, {json, dumps}, {erlang, send}, {prop_no_such_module, f},
     {math, prop_no_such_function}].

%% A module and a function, each as an atom, a binary, a charlist, or a near miss (an
%% iolist, invalid UTF-8, an empty or dotted name, anything).
target() ->
    ?LET({M, F}, elements(targets()), {name(M), name(F)}).

name(A) ->
    frequency([{6, {term, A}}, {2, {term, atom_to_binary(A)}}, {2, {term, atom_to_list(A)}},
               {1, {term, [atom_to_binary(A)]}},
               {1, {term, elements([<<255>>, <<>>, '', <<".">>, <<"a..b">>, "é", [16#110000],
                                    <<0>>, exactly([<<"ma">> | <<"th">>])])}},
               {1, prop_terms:arg()}]).

ctx() ->
    frequency([{12, {term, oneof([{py_context, range(1, 4)},
                                  {py_context, elements([?MAX_U32, 3])}])}},
               {1, {term, any}},
               {2, {term, elements([{py_context, 0}, {py_context, ?MAX_U32 + 1},
                                    {py_context, -1}, {py_context, foo}, py_context,
                                    {py_context, 1, 2}, 1, undefined])}},
               {1, prop_terms:arg()}]).

%% The arguments: a list of anything (buffers, pids, big and deep terms included), or not a
%% proper list.
call_args() ->
    frequency([{6, {list_of, list(prop_terms:arg())}},
               {4, {term, elements([[16], [[1, 2]], [<<"s">>], [1, 2], [#{a => [1]}], [[3, 1, 2]]])}},
               {1, {term, elements([exactly([1 | 2]), exactly([<<"a">> | <<"b">>]), foo, #{},
                                        {1}])}},
               {1, prop_terms:arg()}]).

opts() ->
    frequency([{5, {options, list(oneof([{kwargs, names_map()}, {timeout, timeout_spec()}]))}},
               {1, {options, list({{term, prop_terms:near_miss()}, prop_terms:arg()})}},
               {1, prop_terms:arg()}]).

timeout_spec() ->
    {term, oneof([elements([0, 1, 100, infinity, ?MAX_U32]), prop_terms:size_like()])}.

%% Keyword or local names: atoms, binaries (valid UTF-8 or not), charlists, near misses.
names_map() ->
    frequency([{8, {options, list({elements([x, y, <<"z">>, "w", "é", <<255>>, 'def']),
                                   prop_terms:arg()})}},
               {1, {options, list({elements([exactly([1 | 2]), 1, {k}, [-1], x]), prop_terms:arg()})}},
               {1, prop_terms:arg()}]).

code() ->
    frequency([{6, {term, prop_code:code()}}, {1, prop_terms:arg()}]).

%% What the module doc accepts (see its "Bad arguments" paragraph).
valid(call, [M, F, As]) -> valid(call, [any, M, F, As, #{}]);
valid(call, [M, F, As, K]) when is_list(As), is_map(K) ->  % the seed's form
    valid(call, [any, M, F, As, #{kwargs => K}]);
valid(call, [C, M, F, As]) -> valid(call, [C, M, F, As, #{}]);
valid(call, [M, F, As, K, T]) when is_list(As), is_map(K), not is_map(T) ->  % the seed's
    valid(call, [any, M, F, As, #{kwargs => K, timeout => T}]);
valid(call, [C, M, F, As, O]) ->
    (C =:= any orelse valid_context(C)) andalso is_name(M) andalso is_name(F)
        andalso is_proper_list(As) andalso call_options(O);
valid(eval, [Code]) -> is_code(Code);
valid(eval, [Code, L]) when is_map(L) -> is_code(Code) andalso names(L);  % the seed's
valid(eval, [C, Code]) -> valid(eval, [C, Code, #{}]);
valid(eval, [Code, L, T]) when is_map(L), not is_map(T) ->  % the seed's
    is_code(Code) andalso names(L) andalso valid_timeout(T);
valid(eval, [C, Code, L]) -> valid_context(C) andalso is_code(Code) andalso names(L);
valid(exec, [Code]) -> is_code(Code);
valid(exec, [C, Code]) -> valid_context(C) andalso is_code(Code);
valid(context, [N]) -> is_integer(N) andalso N >= 1 andalso N =< ?MAX_U32;
valid(info, []) -> true.

is_proper_list([]) -> true;
is_proper_list([_ | T]) -> is_proper_list(T);
is_proper_list(_) -> false.

valid_context({py_context, N}) -> is_integer(N) andalso N >= 1 andalso N =< ?MAX_U32;
valid_context(_) -> false.

%% A module or function name: an atom or a string (chardata).
is_name(A) when is_atom(A) -> true;
is_name(B) -> is_string(B).

is_string(S) when is_binary(S); is_list(S) ->
    try unicode:characters_to_binary(S) of B -> is_binary(B) catch error:_ -> false end;
is_string(_) -> false.

%% Code: iodata whose bytes are UTF-8, or a list of characters that is not iodata.
is_code(Code) ->
    case is_iodata(Code) of
        true -> is_string(iolist_to_binary(Code));
        false -> is_proper_list(Code) andalso lists:all(fun erlang:is_integer/1, Code)
                     andalso is_string(Code)
    end.

call_options(O) when is_map(O) ->
    maps:keys(maps:without([kwargs, timeout], O)) =:= []
        andalso names(maps:get(kwargs, O, #{}))
        andalso valid_timeout(maps:get(timeout, O, infinity));
call_options(_) -> false.

valid_timeout(infinity) -> true;
valid_timeout(T) -> is_integer(T) andalso T >= 0 andalso T =< ?MAX_U32.

%% Keys: atoms, binaries, strings.
names(M) when is_map(M) ->
    lists:all(fun(K) -> is_atom(K) orelse is_binary(K) orelse (is_list(K) andalso is_string(K))
              end,
              maps:keys(M));
names(_) -> false.

is_iodata(B) when is_binary(B) -> true;
is_iodata(L) when is_list(L) ->
    try iolist_size(L) of _ -> true catch error:badarg -> false end;
is_iodata(_) -> false.

verdict(F, Args, Outcome) ->
    case {valid(F, Args), Outcome} of
        {true, {value, {error, {nif_panic, _}}}} -> false;
        {true, {value, V}} -> prop_spec:returns(py, F, length(Args), V);
        {false, {raised, error, badarg}} -> true;
        _ -> false
    end.

stuck() -> maps:get(stuck, py:info()).

no_py_result() ->
    receive {py_result, _, _} -> false after 0 -> true end.
