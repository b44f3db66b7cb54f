%% @doc EUnit tests of the scheduling slice the Python worker threads ask the kernel for
%% (`worker_slice_us', nif/native/py/slice.rs), each in a fresh VM: 100 µs by default on the
%% contexts and the shared pool, none with 0, the application environment before
%% `$PY_BUFFER_WORKER_SLICE_US'. The VM's own threads keep the kernel's default. Linux shows
%% a thread's slice from 6.6 and honours a requested one from 6.12; before that every slice
%% read here is the default (or 0) and the tests check the request changed nothing else.
%% The Python side is nif/test/python/pyt_slice.py.
-module(py_worker_slice_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [run_vm/2]).

slice_test_() ->
    [{timeout, 60, fun contexts_and_pool_workers_run_with_the_default_slice/0},
     {timeout, 60, fun zero_leaves_the_kernel_default/0},
     {timeout, 60, fun the_application_environment_comes_before_the_variable/0}].

%% The slice a thread that asked for `Micros' has, given the kernel's default `Default'.
expected(Micros, Default) ->
    case os:version() >= {6, 12, 0} of
        true -> Micros * 1000;
        false -> Default
    end.

contexts_and_pool_workers_run_with_the_default_slice() ->
    {Slices, Default} = slices_in_vm("", [{"PY_BUFFER_WORKER_SLICE_US", false}]),
    ?assertNotEqual(100000, Default),
    Expected = expected(100, Default),
    ?assertEqual({Expected, Expected, Expected}, Slices).

zero_leaves_the_kernel_default() ->
    {Slices, Default} = slices_in_vm("", [{"PY_BUFFER_WORKER_SLICE_US", "0"}]),
    ?assertEqual({Default, Default, Default}, Slices).

the_application_environment_comes_before_the_variable() ->
    {Slices, Default} = slices_in_vm("ok = application:set_env(py_buffer, worker_slice_us, 250), ",
                                     [{"PY_BUFFER_WORKER_SLICE_US", "0"}]),
    Expected = expected(250, Default),
    ?assertEqual({Expected, Expected, Expected}, Slices).

%% In a fresh VM with `Env', after `Before' (Erlang expressions, each ending with a comma):
%% {{the slices of context 1's thread, of context 2's and of a shared pool worker}, the
%% slice of the VM's main thread}.
slices_in_vm(Before, Env) ->
    Dir = filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "python"),
    Code = Before ++ lists:flatten(io_lib:format(
             "ok = py:exec(py:context(1), \"import sys; sys.path.insert(0, '~s')\"), "
             "Slice = fun(Ctx) -> {ok, S} = py:call(Ctx, pyt_slice, thread_slice_ns, []), S end, "
             "{ok, Default} = py:call(pyt_slice, main_thread_slice_ns, []), "
             "io:format(\"~~w\", [{{Slice(py:context(1)), Slice(py:context(2)), Slice(any)}, Default}]), "
             "halt().", [Dir])),
    {0, Out} = run_vm(Code, Env),
    {ok, Tokens, _} = erl_scan:string(binary_to_list(Out) ++ "."),
    {ok, Term} = erl_parse:parse_term(Tokens),
    Term.
