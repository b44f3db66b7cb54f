%% @doc EUnit tests of the scheduling slice the Python worker threads ask the kernel for
%% while they sleep in a buffer's wait (`worker_slice_us', async_core/src/short_slice.rs),
%% each in a fresh VM: 100 µs by default, none with 0, the application environment before
%% `$PY_BUFFER_WORKER_SLICE_US'; a worker at rest or running a job has the kernel's default,
%% the slice of the VM's own threads. Linux shows a thread's slice from 6.6 and honours a
%% requested one from 6.12; before that every slice read here is the default (or 0) and the
%% tests check that nothing else changed. The Python side is nif/test/python/pyt_slice.py.
-module(py_worker_slice_tests).
-include_lib("eunit/include/eunit.hrl").

-export([slices/0]).

-import(py_buffer_test_helpers, [run_vm/2, await/2]).

slice_test_() ->
    [{timeout, 60, fun the_default_is_100_us_while_asleep_in_a_read/0},
     {timeout, 60, fun zero_leaves_the_kernel_default/0},
     {timeout, 60, fun the_application_environment_comes_before_the_variable/0}].

the_default_is_100_us_while_asleep_in_a_read() ->
    {Slices, Default} = slices_in_vm("", [{"PY_BUFFER_WORKER_SLICE_US", false}]),
    ?assertNotEqual(100000, Default),
    ?assertEqual({Default, expected(100, Default), Default, Default}, Slices).

zero_leaves_the_kernel_default() ->
    {Slices, Default} = slices_in_vm("", [{"PY_BUFFER_WORKER_SLICE_US", "0"}]),
    ?assertEqual({Default, Default, Default, Default}, Slices).

the_application_environment_comes_before_the_variable() ->
    {Slices, Default} = slices_in_vm("ok = application:set_env(py_buffer, worker_slice_us, 250), ",
                                     [{"PY_BUFFER_WORKER_SLICE_US", "0"}]),
    ?assertEqual({Default, expected(250, Default), Default, Default}, Slices).

%% The slice of a thread that asked for `Micros', given the kernel's default `Default'.
expected(Micros, Default) ->
    case os:version() >= {6, 12, 0} of
        true -> Micros * 1000;
        false -> Default
    end.

%% In a fresh VM with `Env', after `Before' (Erlang expressions, each ending with a comma):
%% what slices/0 returns there.
slices_in_vm(Before, Env) ->
    {0, Out} = run_vm(Before ++ "io:format(\"~w\", [py_worker_slice_tests:slices()]), halt().", Env),
    {ok, Tokens, _} = erl_scan:string(binary_to_list(Out) ++ "."),
    {ok, Term} = erl_parse:parse_term(Tokens),
    Term.

%% @doc {{the slice of context 1's thread at rest, asleep in a read, running the job after it;
%% of a shared pool worker at rest}, the slice of the VM's main thread}.
-spec slices() -> {{integer(), integer(), integer(), integer()}, integer()}.
slices() ->
    Dir = filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "python"),
    ok = py:exec(py:context(1), ["import sys; sys.path.insert(0, '", Dir, "')"]),
    Slice = fun(Ctx) -> {ok, S} = py:call(Ctx, pyt_slice, thread_slice_ns, []), S end,
    AtRest = Slice(py:context(1)),
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    spawn_link(fun() -> Self ! {read, py:call(py:context(1), pyt_slice, read_one, [Buf, Self])} end),
    Tid = receive {<<"reader">>, T} -> T end,
    Task = "/proc/self/task/" ++ integer_to_list(Tid),
    %% Asleep: past the polls before the sleep (state R while it yields).
    ok = await(fun() -> state(Task) =:= $S end, 10000),
    Asleep = slice(Task),
    ok = py_buffer:write(Buf, <<"x">>),
    {ok, <<"x">>} = receive {read, R} -> R end,
    Running = Slice(py:context(1)),
    {ok, Default} = py:call(pyt_slice, main_thread_slice_ns, []),
    {{AtRest, Asleep, Running, Slice(any)}, Default}.

state(Task) ->
    {ok, Stat} = file:read_file(Task ++ "/stat"),
    [_, AfterName] = binary:split(Stat, <<") ">>),
    binary:first(AfterName).

slice(Task) ->
    {ok, Sched} = file:read_file(Task ++ "/sched"),
    case [L || L <- binary:split(Sched, <<"\n">>, [global]), binary:match(L, <<"se.slice">>) =:= {0, 8}] of
        [Line] -> [_, N] = binary:split(Line, <<":">>), binary_to_integer(string:trim(N));
        [] -> 0
    end.
