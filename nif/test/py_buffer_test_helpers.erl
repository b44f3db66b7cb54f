%% @doc Test support shared by the EUnit modules of nif/test (imported by them): the mailbox
%% helpers, the Python context the `py' tests run on, the setup that puts nif/test/python
%% (the Python side of the tests, `pyt_helpers.py') and tests/frameworks on `sys.path', and a poll
%% until a condition holds, and a run of Erlang code in a fresh VM.
-module(py_buffer_test_helpers).
-export([next/0, flush/0, ctx/0, setup/0, await/2, wait_event/2, run_vm/2]).

%% @doc The next message, or `none' (a message that was sent is already in the mailbox when
%% the call that sent it returns, so a zero timeout is exact, not a timing assumption).
-spec next() -> term().
next() ->
    receive M -> M after 0 -> none end.

%% @doc Empties the caller's mailbox.
-spec flush() -> ok.
flush() ->
    receive _ -> flush() after 0 -> ok end.

%% @doc The context the `py' tests run on (their `eval'/`exec' namespace).
-spec ctx() -> py:context().
ctx() ->
    py:context(1).

%% @doc Puts nif/test/python and tests/frameworks (the framework apps the HTTP tests of
%% py-buffer-serve use too) on `sys.path' of {@link ctx/0}.
-spec setup() -> ok.
setup() ->
    TestDir = filename:dirname(filename:dirname(code:which(?MODULE))),
    Root = filename:dirname(filename:dirname(TestDir)),
    Dirs = [filename:join(Root, "tests/frameworks"), filename:join(TestDir, "python")],
    ok = py:exec(ctx(), ["import sys; sys.path[0:0] = ", io_lib:format("~p", [Dirs])]).

%% @doc Polls `Cond' until it holds (ok) or `Ms' pass (timeout).
-spec await(fun(() -> boolean()), non_neg_integer()) -> ok | timeout.
await(Cond, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    await_until(Cond, Deadline).

await_until(Cond, Deadline) ->
    case Cond() of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> timeout;
                false -> receive after 5 -> await_until(Cond, Deadline) end
            end
    end.

%% @doc The next message tagged `Pattern' (a `{Pattern, ...}' tuple or `Pattern' itself) within
%% `Timeout' ms, skipping `{py_buffer, _, demand}' (a reader blocked on another thread sends it
%% at a moment of its own; py_buffer_demand_tests covers it); fails with `{no_message, Pattern}'.
-spec wait_event(term(), timeout()) -> term().
wait_event(Pattern, Timeout) ->
    receive
        {py_buffer, _, demand} -> wait_event(Pattern, Timeout);
        M when element(1, M) =:= Pattern; M =:= Pattern -> M
    after Timeout -> erlang:error({no_message, Pattern})
    end.

%% @doc Runs `Code' (an `-eval' expression, which ends the VM with `halt/0,1') in a fresh VM
%% with this library and the test modules on the code path and `Env' added to its
%% environment; `{ExitStatus, Output}' (standard output and error).
-spec run_vm(string(), [{string(), string() | false}]) -> {non_neg_integer(), binary()}.
run_vm(Code, Env) ->
    Erl = os:find_executable("erl"),
    Args = ["-noshell", "-pa", filename:dirname(code:which(py)),
            "-pa", filename:dirname(code:which(?MODULE)), "-eval", Code],
    Port = open_port({spawn_executable, Erl},
                     [{args, Args}, {env, Env}, exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, iolist_to_binary(Acc)}
    end.
