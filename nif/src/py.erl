%% @doc Python inside the BEAM: call functions, evaluate expressions and run statements in
%% the CPython interpreter embedded in the `py_buffer' NIF library (one per VM).
%%
%% == Where Python runs ==
%% On threads the NIF owns, never on schedulers (normal or dirty). `context(N)' names one of
%% a fixed set of context threads: calls on one context run one at a time, in order, and
%% `eval'/`exec' on a context share that context's global namespace. `call/3' (no context)
%% runs on a pool that grows on demand, so calls blocked in Python (a `read()' waiting for
%% Erlang to write) never hold up new calls. Blocked Python code releases the GIL.
%%
%% ```
%% {ok, Buf} = py_buffer:new(),
%% spawn(fun() -> ok = py_buffer:write(Buf, <<"a=1">>), ok = py_buffer:close(Buf) end),
%% {ok, <<"a=1">>} = py:eval(py:context(1), <<"b.read()">>, #{b => Buf}),
%% {ok, 4.0} = py:call(math, sqrt, [16]).
%% '''
%%
%% == The interpreter ==
%% One CPython per VM, started when the `py_buffer' module loads: with
%% `application:ensure_all_started(py_buffer)', or else with the first call (a failure leaves
%% the buffers working and makes every call here return `{error, {python_init, Reason}}').
%% Configured by the application environment of `py_buffer' (read at load; set it before
%% the first call when the application is not started), else by environment variables:
%% <ul>
%% <li>`python': the python executable whose installation (and virtualenv: `sys.prefix',
%%     site-packages) is used; else `$PY_BUFFER_PYTHON', else `$VIRTUAL_ENV/bin/python',
%%     else the python beside the libpython the NIF was built with. It must match that
%%     libpython's version. A configured python that does not exist is refused.</li>
%% <li>`python_path': directories put first on `sys.path' (also `$PY_BUFFER_PYTHON_PATH',
%%     `:'-separated); `priv/python', holding the pure-Python part of the `py_buffer'
%%     package, always comes first.</li>
%% <li>`contexts': the number of context threads (`$PY_BUFFER_CONTEXTS'; default: the number
%%     of CPUs, at least 2); `max_workers': the most threads for context-free calls
%%     (`$PY_BUFFER_MAX_WORKERS', default 128).</li>
%% </ul>
%% C extension modules load (`asyncio', `json', `ssl', ...). Inside the VM, the module
%% `erlang' provides `PyBuffer' (the very class of `py_buffer.PyBuffer'), `Pid', `Term' and
%% `send(pid, obj)' (a message to an Erlang process, converted as a result is). `sys.stdout'
%% and `sys.stderr' are unbuffered and go to the VM's standard output and error.
%%
%% == Messages ==
%% Each call sends one message to the caller, `{py_result, Ref, Result}', where `Ref' is a
%% fresh reference made by the call; the functions here wait for it. With a `timeout' the
%% call gives up and it is guaranteed that no late message remains in the mailbox
%% (the Python code itself runs on to completion; its result is dropped).
%%
%% == Results ==
%% `{ok, Term}' (`ok' for `exec/2'), `{error, {python_error, Type, Message, Traceback}}'
%% with binaries (`Type' is e.g. `<<"ZeroDivisionError">>', or `<<"module.Class">>' for
%% exceptions not in `builtins'), `{error, timeout}', `{error, {python_init, Reason}}'
%% when the interpreter could not start, or `{error, not_started}' when its threads could
%% not. Bad arguments (not a list of arguments, a module name that is not an atom, string
%% or UTF-8 binary, non-map options) raise `badarg'.
%%
%% == Term conversion, Erlang to Python ==
%% <ul>
%% <li>integer (any size) to `int'; float to `float'</li>
%% <li>binary to `str' when it is valid UTF-8, else `bytes'; `{bytes, Bin}' always `bytes'</li>
%% <li>`true'/`false' to `True'/`False'; `undefined' and `none' to `None'; any other atom to
%%     `str' (its name; atoms do not come back as atoms)</li>
%% <li>list to `list', tuple to `tuple', map to `dict'</li>
%% <li>pid to `erlang.Pid' (hashable, comparable, converts back to the same pid)</li>
%% <li>`py_buffer' buffer to `erlang.PyBuffer' on the same buffer: no copy, one read
%%     position; the same Python object each time the buffer is passed. Inside the VM
%%     `from erlang import PyBuffer' and `import py_buffer' name that one type</li>
%% <li>reference, port, fun, improper list, bitstring to `erlang.Term' (opaque; converts back
%%     to the identical term)</li>
%% </ul>
%% == Term conversion, Python to Erlang ==
%% <ul>
%% <li>`None' to `none'; `True'/`False' to `true'/`false'; `int' to integer; finite `float'
%%     to float</li>
%% <li>`str' to a UTF-8 binary; `bytes' and `bytearray' to binary</li>
%% <li>`list', `set', `frozenset' to list; `tuple' to tuple; `dict' to map</li>
%% <li>`erlang.Pid', `erlang.Term' to the original term; the `erlang.PyBuffer' of a buffer
%%     that came from Erlang to that buffer (a `py_buffer' term usable with every
%%     `py_buffer' function); a `PyBuffer' made in Python to `{pyobj, <<"PyBuffer">>, Repr}'</li>
%% <li>anything else (objects, `inf', `nan', nesting deeper than 1000) to
%%     `{pyobj, TypeName, Repr}' with binaries: the object itself stays in Python</li>
%% </ul>
%% Round trips are exact for integers, floats, UTF-8 binaries, lists, tuples, maps with such
%% keys, pids and opaque terms; atoms other than `true'/`false' come back as binaries,
%% `undefined' as `none', and `{bytes, B}' as `B'.
-module(py).

-export([call/3, call/4, call/5, eval/2, eval/3, exec/2, context/1, info/0]).
-export_type([context/0, result/0, python_error/0, call_options/0]).

-opaque context() :: {py_context, pos_integer()}.
-type python_error() :: {python_error, Type :: binary(), Message :: binary(), Traceback :: binary()}.
-type result() :: {ok, term()}
                | {error, python_error() | timeout | not_started | {python_init, term()}}.
-type name() :: atom() | binary() | string().
-type call_options() :: #{kwargs => #{name() => term()}, timeout => timeout()}.

%% @doc `Module.Function(*Args)' on the pool. `Function' may be dotted (`<<"Class.method">>').
-spec call(name(), name(), list()) -> result().
call(Module, Function, Args) ->
    call(any, Module, Function, Args, #{}).

%% @doc `Module.Function(*Args)' on context `Ctx' (`any' for the pool).
-spec call(context() | any, name(), name(), list()) -> result().
call(Ctx, Module, Function, Args) ->
    call(Ctx, Module, Function, Args, #{}).

%% @doc `Module.Function(*Args, **Kwargs)' with options: `kwargs' (a map with atom or string
%% keys) and `timeout' (milliseconds or `infinity', the default).
-spec call(context() | any, name(), name(), list(), call_options()) -> result().
call(Ctx, Module, Function, Args, Opts) when is_list(Args), is_map(Opts) ->
    Kwargs = maps:get(kwargs, Opts, #{}),
    Timeout = maps:get(timeout, Opts, infinity),
    Ref = make_ref(),
    await(Ref, py_buffer:py_call(Ref, index(Ctx), Module, Function, Args, Kwargs), Timeout).

%% @doc The value of a Python expression, in the context's namespace.
-spec eval(context(), iodata()) -> result().
eval(Ctx, Code) ->
    eval(Ctx, Code, #{}).

%% @doc The value of a Python expression with local variables (a map with atom or string
%% keys, e.g. `#{buf => Buf}').
-spec eval(context(), iodata(), map()) -> result().
eval(Ctx, Code, Locals) when is_map(Locals) ->
    Ref = make_ref(),
    await(Ref, py_buffer:py_eval(Ref, index(Ctx), Code, Locals), infinity).

%% @doc Runs Python statements in the context's namespace (names they bind stay there).
-spec exec(context(), iodata()) ->
          ok | {error, python_error() | not_started | {python_init, term()}}.
exec(Ctx, Code) ->
    Ref = make_ref(),
    await(Ref, py_buffer:py_exec(Ref, index(Ctx), Code), infinity).

%% @doc Context `N'; any positive integer, taken modulo the number of contexts, so
%% `context(erlang:phash2(Key) + 1)' spreads keys over contexts deterministically.
-spec context(pos_integer()) -> context().
context(N) when is_integer(N), N > 0 ->
    {py_context, N}.

%% @doc The interpreter and pool: python, prefix, version, contexts, workers.
-spec info() -> map().
info() ->
    py_buffer:py_info().

index(any) -> 0;
index({py_context, N}) -> N.

await(_Ref, {error, _} = Error, _Timeout) ->
    Error;
await(Ref, Ticket, Timeout) ->
    receive
        {py_result, Ref, Result} -> Result
    after Timeout ->
        case py_buffer:py_cancel(Ticket) of
            cancelled -> {error, timeout};
            %% Sent before the cancel took effect: it is in (or entering) the mailbox.
            replied -> receive {py_result, Ref, Result} -> Result end
        end
    end.
