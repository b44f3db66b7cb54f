%% @doc Puts examples/python on the embedded interpreter's `sys.path', so the examples'
%% Python modules (`myapp', `multipart', ...) import. Found from this module's source path,
%% so it works wherever the examples were compiled to.
-module(example_path).
-export([ensure/0, python_dir/0]).

%% @doc examples/python.
-spec python_dir() -> file:filename().
python_dir() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    filename:join(filename:dirname(filename:dirname(Source)), "python").

%% @doc Adds examples/python to `sys.path' (once).
-spec ensure() -> ok.
ensure() ->
    Dir = io_lib:format("~p", [python_dir()]),
    ok = py:exec(py:context(1), ["import sys\nif ", Dir, " not in sys.path: sys.path.insert(0, ",
                                 Dir, ")\n"]).
