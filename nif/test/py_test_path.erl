%% @doc Test support shared by the EUnit modules that call Python: puts nif/test/python (the
%% Python side of the tests, `pyt_helpers.py') on `sys.path' of context 1.
-module(py_test_path).
-export([setup/0]).

-spec setup() -> ok.
setup() ->
    Dir = filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "python"),
    ok = py:exec(py:context(1), ["import sys; sys.path.insert(0, ", io_lib:format("~p", [Dir]), ")"]).
