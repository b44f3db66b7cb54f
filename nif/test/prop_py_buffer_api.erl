%% @doc PropEr: random and near-miss terms (prop_terms) to every exported function of
%% `py_buffer'. Each call must return a value of its `-spec''s return type (prop_spec) or
%% raise `error:badarg', and afterwards the NIF must still work (a canary buffer round trip;
%% a crashed VM ends the run).
%%
%% The public API is held to its module doc exactly: arguments the doc accepts must give a
%% value (never an exception), all others `badarg' (never a value), and a `badarg' changes
%% nothing (`info/1' of every buffer in the call is the same before and after). The internal
%% NIFs (test hooks, the `py' back end) must return a value of their spec or raise `badarg';
%% a `py' job they queue must answer. `py_finalize/0' is not called: it stops the embedded
%% interpreter for the rest of the VM's life (py_lifecycle_tests covers it).
-module(prop_py_buffer_api).

-include_lib("proper/include/proper.hrl").

-export([prop_public_api/0, prop_internal_nifs/0, public/0, internal/0, not_called/0]).

-define(MAX_SIZE, (1 bsl 64) - 1).
%% How long a `py' job queued by an internal NIF may take to answer.
-define(PY_REPLY_MS, 30000).

%% @doc The public API: every function the module doc documents.
-spec public() -> [{atom(), arity()}].
public() ->
    [{new, 0}, {new, 1}, {write, 2}, {close, 1}, {abort, 2}, {info, 1},
     {controlling_process, 2}, {subscribe, 1}, {subscribe, 2}, {subscribe, 3},
     {unsubscribe, 1},
     {activate, 1}, {read, 2}, {read_nonblock, 2}, {readline, 1}, {readline, 2},
     {read_all, 1}, {close_reader, 1}, {live_buffers, 0}].

%% @doc The internal exports called with random terms.
-spec internal() -> [{atom(), arity()}].
internal() ->
    [{owner_exit, 2}, {owner_exit_dirty, 2}, {watched_owners, 0}, {bench_write, 3}, {write_dirty_nif, 2},
     {test_on_thread, 2}, {py_call, 6}, {py_call_dirty, 6}, {py_eval, 4},
     {py_eval_dirty, 4}, {py_exec, 3}, {py_exec_dirty, 3}, {py_cancel, 1}, {py_info, 0}].

%% @doc The exports deliberately not called (see the module doc).
-spec not_called() -> [{atom(), arity()}].
not_called() ->
    [{py_finalize, 0}, {module_info, 0}, {module_info, 1}].

%% @doc Every public function with arguments biased to its parameters, held to its doc.
-spec prop_public_api() -> proper:test().
prop_public_api() ->
    ?FORALL({F, Specs}, call(public(), fun public_arg/2),
            run(F, Specs, fun(Args, World, Outcome, Before) ->
                                  public_verdict(F, Args, World, Outcome, Before)
                          end)).

%% @doc Every internal NIF: a value of its spec or `badarg', and a queued job answers.
-spec prop_internal_nifs() -> proper:test().
prop_internal_nifs() ->
    ?FORALL({F, Specs}, call(internal(), fun internal_arg/2),
            run(F, Specs, fun(Args, _World, Outcome, _Before) ->
                                  internal_verdict(F, Args, Outcome)
                          end)).

call(Funs, ArgGen) ->
    ?LET({F, A}, elements(Funs), {F, fixed_list([ArgGen(F, I) || I <- lists:seq(1, A)])}).

run(F, Specs, Verdict) ->
    {Ok, Report} =
        prop_terms:no_raise(
          fun() ->
                  {Args, World} = prop_terms:materialise_all(Specs, prop_terms:new_world()),
                  Before = infos(World),
                  Outcome = outcome(F, Args),
                  Right = Verdict(Args, World, Outcome, Before),
                  prop_terms:cleanup({World, made_buffers(Outcome)}),
                  Canary = prop_terms:canary(),
                  {Right andalso Canary,
                   io_lib:format("py_buffer:~p(~P)~n  -> ~P~n  verdict ~p, canary ~p~n",
                                 [F, Args, 12, Outcome, 12, Right, Canary])}
          end),
    ?WHENFAIL(io:put_chars(Report), Ok).

outcome(F, Args) ->
    try apply(py_buffer, F, Args) of
        V -> {value, V}
    catch
        Class:Reason -> {raised, Class, Reason}
    end.

infos(World) -> [py_buffer:info(B) || B <- prop_terms:buffers(World)].

made_buffers({value, {ok, B}}) when is_reference(B) -> [B];
made_buffers(_) -> [].

%% Arguments: mostly of the parameter's kind (right, edge or wrong), sometimes anything.
public_arg(new, 1) ->
    frequency([{4, prop_terms:new_options()}, {2, {term, prop_terms:size_like()}},
               {1, prop_terms:arg()}]);
public_arg(F, 1) when F =/= live_buffers ->
    frequency([{6, prop_terms:buffer_spec()}, {1, prop_terms:arg()}]);
public_arg(write, 2) ->
    frequency([{3, {term, oneof([binary(), list(oneof([range(0, 255), binary()]))])}},
               {2, prop_terms:made()}, {2, prop_terms:arg()}]);
public_arg(F, 2) when F =:= read; F =:= read_nonblock; F =:= readline ->
    frequency([{4, {term, prop_terms:size_like()}}, {1, prop_terms:arg()}]);
public_arg(F, 2) when F =:= controlling_process; F =:= subscribe ->
    frequency([{4, prop_terms:pid_spec()}, {1, prop_terms:arg()}]);
public_arg(subscribe, 3) ->
    frequency([{4, {term, list(oneof(events() ++ [bogus, <<"eof">>, 0]))}},
               {1, {term, oneof([eof, [readable | eof]])}}, {1, prop_terms:arg()}]);
public_arg(_, _) ->
    prop_terms:arg().

%% What the module doc accepts.
valid(new, [], _) -> true;
valid(new, [X], _) -> new_arg(X);
valid(live_buffers, [], _) -> true;
valid(write, [B, D], W) -> prop_terms:is_buffer(B, W) andalso is_iodata(D);
valid(abort, [B, _Reason], W) -> prop_terms:is_buffer(B, W);
valid(F, [B, P], W) when F =:= controlling_process; F =:= subscribe ->
    prop_terms:is_buffer(B, W) andalso local_pid(P);
valid(subscribe, [B, P, Events], W) ->
    prop_terms:is_buffer(B, W) andalso local_pid(P) andalso is_events(Events);
valid(F, [B, N], W) when F =:= read; F =:= read_nonblock ->
    prop_terms:is_buffer(B, W) andalso is_size(N);
valid(readline, [B, L], W) ->
    prop_terms:is_buffer(B, W) andalso (is_size(L) orelse L =:= infinity);
valid(_, [B], W) ->
    prop_terms:is_buffer(B, W).

new_arg(undefined) -> true;
new_arg(N) when is_integer(N) -> is_size(N);
new_arg(Opts) when is_map(Opts) ->
    lists:all(fun option/1, maps:to_list(Opts));
new_arg(_) -> false.

option({content_length, V}) -> V =:= undefined orelse is_size(V);
option({max_buffered, V}) -> V =:= undefined orelse (is_size(V) andalso V > 0);
option({notify, V}) -> V =:= undefined orelse local_pid(V);
option({events, V}) -> is_events(V);
option({owner, V}) -> local_pid(V);
option(_) -> false.

is_size(N) -> is_integer(N) andalso N >= 0 andalso N =< ?MAX_SIZE.

events() -> [readable, writable, eof, reader_closed, demand].

%% A proper list of event atoms (`subscribe/3', the `events' option).
is_events(Es) ->
    is_list(Es) andalso
        (try length(Es) of _ -> lists:all(fun(E) -> lists:member(E, events()) end, Es)
         catch error:badarg -> false end).

local_pid(P) -> is_pid(P) andalso node(P) =:= node().

is_iodata(B) when is_binary(B) -> true;
is_iodata(L) when is_list(L) ->
    try iolist_size(L) of _ -> true catch error:badarg -> false end;
is_iodata(_) -> false.

public_verdict(F, Args, World, Outcome, Before) ->
    case {valid(F, Args, World), Outcome} of
        {true, {value, V}} -> prop_spec:returns(py_buffer, F, length(Args), V);
        {false, {raised, error, badarg}} -> infos(World) =:= Before;
        _ -> false
    end.

internal_verdict(F, Args, {value, V}) ->
    prop_spec:returns(py_buffer, F, length(Args), V) andalso answered(F, Args, V);
internal_verdict(_, _, {raised, error, badarg}) -> true;
internal_verdict(_, _, _) -> false.

%% A ticket from a queueing NIF: its `{py_result, Ref, _}' must come.
answered(F, [Ref | _], Ticket) when is_reference(Ticket), F =/= py_cancel ->
    receive {py_result, Ref, _} -> true
    after ?PY_REPLY_MS -> py_buffer:py_cancel(Ticket) =:= replied
    end;
answered(_, _, _) -> true.

%% Internal NIFs: a plausible value for the parameter, or anything.
internal_arg(F, I) ->
    frequency([{3, {term, plausible(F, I)}}, {1, made_plausible(F, I)}, {2, prop_terms:arg()}]).

made_plausible(F, 1) when F =:= py_call; F =:= py_call_dirty; F =:= py_eval;
                          F =:= py_eval_dirty; F =:= py_exec; F =:= py_exec_dirty;
                          F =:= py_cancel ->
    {make, ref, 0};
made_plausible(F, 1) when F =:= bench_write; F =:= write_dirty_nif; F =:= test_on_thread ->
    prop_terms:buffer_spec();
made_plausible(F, 1) when F =:= owner_exit; F =:= owner_exit_dirty -> prop_terms:pid_spec();
made_plausible(_, _) -> prop_terms:made().

plausible(F, 2) when F =:= py_call; F =:= py_call_dirty; F =:= py_eval;
                     F =:= py_eval_dirty; F =:= py_exec; F =:= py_exec_dirty ->
    elements([0, 1, 2, 16#FFFFFFFF, 1 bsl 64]);
plausible(F, 3) when F =:= py_call; F =:= py_call_dirty ->
    elements([math, <<"math">>, "math", builtins, prop_no_such_module, <<255>>]);
plausible(F, 4) when F =:= py_call; F =:= py_call_dirty ->
    elements([sqrt, <<"sqrt">>, "repr", len, <<"str.upper">>, prop_no_such_function]);
plausible(F, 5) when F =:= py_call; F =:= py_call_dirty ->
    list(oneof([integer(), binary(), float()]));
plausible(F, 6) when F =:= py_call; F =:= py_call_dirty ->
    elements([#{}, #{x => 1}, #{<<"y">> => 2}, #{1 => 2}]);
plausible(F, 3) when F =:= py_eval; F =:= py_eval_dirty; F =:= py_exec;
                     F =:= py_exec_dirty ->
    prop_code:code();
plausible(F, 4) when F =:= py_eval; F =:= py_eval_dirty ->
    elements([#{}, #{x => 1}, #{<<"y">> => [1]}, #{"z" => 2}, #{{} => 1}]);
plausible(F, 2) when F =:= bench_write; F =:= write_dirty_nif ->
    binary();
plausible(bench_write, 3) -> elements([copy, keep, other]);
plausible(test_on_thread, 2) ->
    oneof([{write, binary()}, close, close_reader, {read, prop_terms:size_like()},
           {wait_read, range(0, 8)}]);
plausible(F, 2) when F =:= owner_exit; F =:= owner_exit_dirty ->
    elements([normal, kill, {shutdown, x}]);
plausible(_, _) -> prop_terms:near_miss().
