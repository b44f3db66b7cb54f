%% @doc EUnit tests of how the shared pool of context-free calls grows: threads added when
%% its queued calls wait behind workers blocked in Python, none for calls that merely queue
%% for the GIL (nif/native/py/workers.rs, `watch'). Each runs in a fresh VM (a pool starts
%% with 2 workers and its extra ones retire only after 30 s idle, so the shared test VM's
%% pool size says nothing).
-module(py_pool_tests).
-include_lib("eunit/include/eunit.hrl").

-export([busy_calls_in_a_fresh_vm/0, blocked_calls_in_a_fresh_vm/0]).

-define(MAX_WORKERS, "64").

pool_test_() ->
    [{timeout, 60, fun calls_that_hold_the_gil_do_not_grow_the_pool/0},
     {timeout, 60, fun calls_blocked_in_python_leave_room_for_new_ones/0}].

%% 400 concurrent calls that each hold the GIL for ~50 µs all queue behind the 2 workers.
%% A pool that grew for every call finding no idle worker went to its bound (64) here, one
%% that grew by a thread each millisecond calls waited went to 35-39; this one stays at 2
%% (the workers want a CPU between them: they are not blocked).
calls_that_hold_the_gil_do_not_grow_the_pool() ->
    {0, Out} = in_fresh_vm(busy_calls_in_a_fresh_vm),
    {ok, [Answers, Threads], _} = io_lib:fread("~d ~d", binary_to_list(Out)),
    io:format(user, "~n  400 busy calls: ~p threads~n", [Threads]),
    ?assertEqual(400, Answers),
    ?assert(Threads =< 16).

%% 10 calls blocked in reads of empty buffers hold 10 threads until the buffers are written,
%% which happens only after an 11th call answered: it can only have run on an added thread.
calls_blocked_in_python_leave_room_for_new_ones() ->
    ?assertEqual({0, <<"answered while 10 were blocked">>}, in_fresh_vm(blocked_calls_in_a_fresh_vm)).

busy_calls_in_a_fresh_vm() ->
    Self = self(),
    Numbers = lists:seq(1, 2000),
    Sum = lists:sum(Numbers),
    _ = [spawn(fun() -> Self ! {sum, py:call(builtins, sum, [Numbers])} end) || _ <- lists:seq(1, 400)],
    Answers = length([ok || _ <- lists:seq(1, 400), receive {sum, {ok, S}} -> S =:= Sum after 20000 -> false end]),
    #{workers := {Threads, _Idle}} = py:info(),
    io:format("~p ~p", [Answers, Threads]).

blocked_calls_in_a_fresh_vm() ->
    ok = py_buffer_test_helpers:setup(),
    Self = self(),
    Bufs = [element(2, py_buffer:new()) || _ <- lists:seq(1, 10)],
    _ = [spawn(fun() -> Self ! {read, py:call(pyt_helpers, read_all, [B])} end) || B <- Bufs],
    ok = py_buffer_test_helpers:await(fun() -> blocked() >= 10 end, 10000),
    {ok, none} = py:call(any, pyt_helpers, noop, [], #{timeout => 10000}),
    [begin ok = py_buffer:write(B, <<"body">>), ok = py_buffer:close(B) end || B <- Bufs],
    Read = [receive {read, R} -> R after 10000 -> timeout end || _ <- Bufs],
    true = lists:all(fun(R) -> R =:= {ok, <<"body">>} end, Read),
    io:format("answered while ~p were blocked", [length(Read)]).

%% Threads of the shared pool running a call (not waiting for one).
blocked() ->
    #{workers := {Threads, Idle}} = py:info(),
    Threads - Idle.

in_fresh_vm(Fun) ->
    Code = lists:flatten(io_lib:format("~p:~p(), halt().", [?MODULE, Fun])),
    py_buffer_test_helpers:run_vm(Code, [{"PY_BUFFER_MAX_WORKERS", ?MAX_WORKERS}]).
