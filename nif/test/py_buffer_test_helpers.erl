%% @doc Test support shared by the EUnit modules of nif/test (imported by them): the mailbox
%% helpers, the Python context the `py' tests run on, and the setup that puts nif/test/python
%% (the Python side of the tests, `pyt_helpers.py') on that context's `sys.path'.
-module(py_buffer_test_helpers).
-export([next/0, flush/0, ctx/0, setup/0]).

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

%% @doc Puts nif/test/python on `sys.path' of {@link ctx/0}.
-spec setup() -> ok.
setup() ->
    Dir = filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "python"),
    ok = py:exec(ctx(), ["import sys; sys.path.insert(0, ", io_lib:format("~p", [Dir]), ")"]).
