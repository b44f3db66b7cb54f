%% @doc Python inside the BEAM: call functions, evaluate expressions and run statements in
%% the CPython interpreter embedded in the `py_buffer' NIF library (one per VM).
%%
%% == Where Python runs ==
%% On threads the NIF owns, never on schedulers (normal or dirty). `context(N)' names one of
%% a fixed set of context threads: calls on one context run one at a time, in order, and
%% `eval'/`exec' on a context share that context's global namespace (they take a context,
%% never `any': `any' raises `badarg'; the seed's `eval(Code)', `eval(Code, Locals)' and
%% `exec(Code)' use the calling process's context, the same one each time). `call/3' (no context) runs on a pool that grows on
%% demand, so calls blocked in Python (a `read()' waiting for Erlang to write) never hold up
%% new calls. Blocked Python code releases the GIL. A call runs below a Python frame of its
%% own, so `py:call(builtins, eval, [<<"1 + 1">>])' works (its globals are a namespace of the
%% call trampoline). A module is imported at its first call; calls racing that import wait
%% for it to complete.
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
%% <li>`worker_slice_us': the scheduling slice, in microseconds, those threads ask Linux
%%     (6.12 or later) for (`$PY_BUFFER_WORKER_SLICE_US', default 100; 0: the kernel's
%%     default). A thread with a shorter slice than the running one runs as soon as it is
%%     woken, so a `py_buffer:write/2' reaches a Python reader without waiting for the
%%     writer's scheduler thread to give up its CPU; its share of the CPU is the same.</li>
%% </ul>
%% C extension modules load (`asyncio', `json', `ssl', ...). Inside the VM, the module
%% `erlang' provides `PyBuffer' (the very class of `py_buffer.PyBuffer'), `Pid', `Term' and
%% `send(pid, obj)' (a message to an Erlang process, converted as a result is; `ValueError'
%% when it is beyond the conversion budget), and `Inbox(Module, Function, Key)': opened on a
%% thread of the app's own (an event loop's), it claims the context-free calls
%% `Module.Function(Key, ...)' (`Key' a binary): they are queued for that thread, which runs
%% them when `inbox.fileno()' is readable (`inbox.run()'), never interrupted by a timeout;
%% `inbox.close()' hands calls still queued to the pool. `sys.stdout' and `sys.stderr' are unbuffered and
%% go to the VM's standard output and error. `SIGCHLD' is set back to its default (the BEAM
%% ignores it), so `subprocess' and `os.system' see their children's exit status; the
%% BEAM's own port programs are unaffected.
%%
%% == Stopping ==
%% {@link stop/0} finalizes the interpreter as a `python' process exits (atexit handlers,
%% open files flushed and closed); the `py_buffer' application calls it when it stops
%% (`application:stop/1', `init:stop/0'). `erlang:halt/0,1' skips it: atexit handlers do not
%% run and data buffered in Python file objects is lost. After it, calls return
%% `{error, stopped}'.
%%
%% == Messages ==
%% Each call sends one message to the caller, `{py_result, Ref, Result}', where `Ref' is a
%% fresh reference made by the call; the functions here wait for it. With a `timeout' the
%% call gives up and it is guaranteed that no late message remains in the mailbox. Python
%% code still running is interrupted: `TimeoutError' is raised in its thread (at once in
%% running bytecode; when it returns from a blocking C call such as `time.sleep'), but never
%% during an import nor in standard-library code (`threading', `queue', ...), whose state
%% other threads share: there it waits until that code returns into the caller's. Until it
%% returns its worker is stuck (counted by `info()' as `stuck'); when every thread of the
%% pool (`max_workers') is stuck, context-free calls return `{error, overloaded}' at once,
%% and so do calls to a context whose thread is stuck.
%%
%% Arguments larger than about 20,000 terms are copied into the job on a dirty CPU
%% scheduler, so no call holds a normal scheduler for long.
%%
%% == Results ==
%% `{ok, Term}' (`ok' for `exec/2'), `{error, {python_error, Type, Message, Traceback}}'
%% with binaries (`Type' is e.g. `<<"ZeroDivisionError">>', or `<<"module.Class">>' for
%% exceptions not in `builtins'), `{error, timeout}', `{error, overloaded}' (see Messages),
%% `{error, result_too_large}' (the result is beyond the conversion budget, below),
%% `{error, stopped}' after {@link stop/0}, `{error, {python_init, Reason}}' when the
%% interpreter could not start, or `{error, not_started}' when its threads could not.
%% `{error, {nif_panic, Message}}' would mean a bug in the NIF (never expected).
%% Bad arguments raise `badarg' before anything is queued: not a list of arguments, a module
%% or function name that is not an atom or a string (`unicode:chardata()': characters, UTF-8
%% binaries, or lists of both: `"é"', `<<"é"/utf8>>' and `[<<"ma">>, "th"]' are names), code
%% that is not UTF-8 (`Code' is iodata whose bytes are UTF-8, not an atom; a list of
%% characters that is not iodata, one above 255, is read as characters), non-map options, an option other than
%% `kwargs' and `timeout', a `timeout' not in `0..4294967295' or `infinity', a context that
%% is not from {@link context/1} (or `any' for `call'), kwargs/locals keys other than atoms,
%% binaries and strings (charlists; they become `str').
%%
%% == Term conversion, Erlang to Python ==
%% <ul>
%% <li>integer (any size) to `int'; float to `float'</li>
%% <li>binary to `str' when it is valid UTF-8, else `bytes'; `{bytes, Bin}' always `bytes'</li>
%% <li>`true'/`false' to `True'/`False'; `undefined', `none' and `nil' to `None'; any other atom to
%%     `str' (its name; atoms do not come back as atoms)</li>
%% <li>list to `list', tuple to `tuple', map to `dict'; keys equal in Python become one
%%     entry (`#{1 => a, 1.0 => b}' is a one-entry `dict')</li>
%% <li>pid to `erlang.Pid' (hashable, comparable, converts back to the same pid)</li>
%% <li>`py_buffer' buffer to `erlang.PyBuffer' on the same buffer: no copy, one read
%%     position; the same Python object each time the buffer is passed. Inside the VM
%%     `from erlang import PyBuffer' and `import py_buffer' name that one type</li>
%% <li>reference, port, fun, improper list, bitstring to `erlang.Term' (opaque; converts back
%%     to the identical term)</li>
%% </ul>
%% == Term conversion, Python to Erlang ==
%% <ul>
%% <li>`None' to `none'; `True'/`False' to `true'/`false'; `int' to integer (one beyond
%%     Erlang's integer range to `{pyobj, <<"int">>, Repr}'); finite `float' to float</li>
%% <li>`str' to a UTF-8 binary; `bytes' and `bytearray' to binary</li>
%% <li>`list', `set', `frozenset' to list; `tuple' to tuple; `dict' to map (a `dict' whose
%%     keys convert to equal terms, like `"a"' and `b"a"', to `{pyobj, <<"dict">>, Repr}').
%%     Each container is read once, as it is when reached: one changed while converting (by
%%     a `__repr__') never makes the conversion fail</li>
%% <li>`erlang.Pid', `erlang.Term' to the original term; the `erlang.PyBuffer' of a buffer
%%     that came from Erlang to that very buffer term (`=:=' the one passed in, so
%%     `{py_buffer, Buf, _}' messages and map keys match), even when Python kept the object
%%     across calls; a `PyBuffer' made in Python to an opaque resource term (a reference;
%%     the `py_buffer' functions raise `badarg' on it) that converts back to that same
%%     Python object, and is the same term each time that object leaves Python</li>
%% <li>anything else (objects, `inf', `nan', nesting deeper than 1000, a container met
%%     again inside itself: a cycle) to `{pyobj, TypeName, Repr}' with binaries: the object
%%     itself stays in Python. Reprs of containers are bounded (`reprlib', 6 levels).</li>
%% </ul>
%% Shared parts are converted each time they are met (Erlang terms are trees), so the
%% conversion has a budget: 10,000,000 objects and 1 GiB of strings, bytes and reprs. Beyond
%% it the result is `{error, result_too_large}' (`x = [x, x]' forty times is 2^40 nodes).
%% Round trips are exact for integers, floats, UTF-8 binaries, lists, tuples, maps with such
%% keys, pids and opaque terms; atoms other than `true'/`false' come back as binaries,
%% `undefined' and `nil' as `none', and `{bytes, B}' as `B'.
-module(py).

-export([call/3, call/4, call/5, eval/1, eval/2, eval/3, exec/1, exec/2, context/1, info/0,
         stop/0]).
-export_type([context/0, result/0, python_error/0, call_options/0]).

%% The largest `py:context/1' argument and `timeout' option (a `receive ... after' limit).
-define(MAX_CONTEXT, 16#FFFFFFFF).
-define(MAX_TIMEOUT, 16#FFFFFFFF).

-opaque context() :: {py_context, 1..?MAX_CONTEXT}.
-type python_error() :: {python_error, Type :: binary(), Message :: binary(), Traceback :: binary()}.
-type result() :: {ok, term()}
                | {error, python_error() | timeout | overloaded | result_too_large | stopped
                        | not_started | {python_init, term()} | {nif_panic, binary()}}.
-type name() :: atom() | unicode:chardata().
%% A module, function, keyword or local name: an atom or a string (see "Bad arguments").
-type call_options() :: #{kwargs => #{name() => term()}, timeout => timeout()}.

%% @doc `Module.Function(*Args)' on the pool. `Function' may be dotted (`<<"Class.method">>').
-spec call(name(), name(), list()) -> result().
call(Module, Function, Args) ->
    call(any, Module, Function, Args, #{}).

%% @doc `Module.Function(*Args)' on context `Ctx' (`any' for the pool). The seed's form
%% `call(Module, Function, Args, Kwargs)' (a map of keyword arguments last) is
%% `call(any, Module, Function, Args, #{kwargs => Kwargs})'.
-spec call(context() | any, name(), name(), list()) -> result();
          (name(), name(), list(), #{name() => term()}) -> result().
call(Module, Function, Args, Kwargs) when is_list(Args), is_map(Kwargs) ->
    call(any, Module, Function, Args, #{kwargs => Kwargs});
call(Ctx, Module, Function, Args) ->
    call(Ctx, Module, Function, Args, #{}).

%% @doc `Module.Function(*Args, **Kwargs)' with options: `kwargs' (a map with atom, binary or
%% string keys) and `timeout' (milliseconds, `0..4294967295', or `infinity', the default).
%% Any other option key, or a bad value, raises `badarg' before anything is queued.
%% The seed's form `call(Module, Function, Args, Kwargs, Timeout)' is
%% `call(any, Module, Function, Args, #{kwargs => Kwargs, timeout => Timeout})'.
-spec call(context() | any, name(), name(), list(), call_options()) -> result();
          (name(), name(), list(), #{name() => term()}, timeout()) -> result().
call(Module, Function, Args, Kwargs, Timeout) when is_list(Args), is_map(Kwargs),
                                                   not is_map(Timeout) ->
    call(any, Module, Function, Args, #{kwargs => Kwargs, timeout => Timeout});
call(Ctx, Module, Function, Args, Opts) when is_list(Args), is_map(Opts) ->
    Index = index(Ctx),
    case maps:keys(maps:without([kwargs, timeout], Opts)) of
        [] -> ok;
        _ -> error(badarg, [Ctx, Module, Function, Args, Opts])
    end,
    Kwargs = names(maps:get(kwargs, Opts, #{})),
    Timeout = timeout(maps:get(timeout, Opts, infinity)),
    Ref = make_ref(),
    %% Names as atoms or UTF-8 binaries: the NIF reads a list of bytes as UTF-8, so a
    %% string like "é" (one character, 233) must not reach it as a list.
    ModuleName = name(Module),
    FunctionName = name(Function),
    Ticket = case py_buffer:py_call(Ref, Index, ModuleName, FunctionName, Args, Kwargs) of
                 dirty -> py_buffer:py_call_dirty(Ref, Index, ModuleName, FunctionName, Args,
                                                  Kwargs);
                 Queued -> Queued
             end,
    await(Ref, Ticket, Timeout);
call(Ctx, Module, Function, Args, Opts) ->
    error(badarg, [Ctx, Module, Function, Args, Opts]).

%% @doc The seed's `eval(Code)': the value of a Python expression in the calling process's
%% context ({@link process_context/0}).
-spec eval(iodata()) -> result().
eval(Code) ->
    eval(process_context(), Code, #{}).

%% @doc The value of a Python expression, in the context's namespace. The seed's form
%% `eval(Code, Locals)' (a map last) runs in the calling process's context.
-spec eval(context(), iodata()) -> result();
          (iodata(), map()) -> result().
eval(Code, Locals) when is_map(Locals) ->
    eval(process_context(), Code, Locals);
eval(Ctx, Code) ->
    eval(Ctx, Code, #{}).

%% @doc The value of a Python expression with local variables (a map with atom, binary or
%% string keys, e.g. `#{buf => Buf}'). The seed's form `eval(Code, Locals, Timeout)' runs in
%% the calling process's context and gives up after `Timeout' as {@link call/5} does.
-spec eval(context(), iodata(), map()) -> result();
          (iodata(), map(), timeout()) -> result().
eval({py_context, _} = Ctx, Code, Locals) when is_map(Locals) ->
    eval(Ctx, Code, Locals, infinity);
eval(Code, Locals, Timeout) when is_map(Locals), not is_map(Timeout) ->
    eval(process_context(), Code, Locals, timeout(Timeout));
eval(Ctx, Code, Locals) ->
    error(badarg, [Ctx, Code, Locals]).

eval(Ctx, Code, Locals, Timeout) ->
    Index = index(Ctx),
    Names = names(Locals),
    Ref = make_ref(),
    Ticket = case py_buffer:py_eval(Ref, Index, Code, Names) of
                 dirty -> py_buffer:py_eval_dirty(Ref, Index, Code, Names);
                 Queued -> Queued
             end,
    await(Ref, Ticket, Timeout).

%% @doc The seed's `exec(Code)': runs Python statements in the calling process's context
%% ({@link process_context/0}), so a later `eval(Code)' of the same process sees the names.
-spec exec(iodata()) ->
          ok | {error, python_error() | stopped | not_started | {python_init, term()}}.
exec(Code) ->
    exec(process_context(), Code).

%% @doc Runs Python statements in the context's namespace (names they bind stay there).
-spec exec(context(), iodata()) ->
          ok | {error, python_error() | stopped | not_started | {python_init, term()}}.
exec({py_context, _} = Ctx, Code) ->
    Index = index(Ctx),
    Ref = make_ref(),
    Ticket = case py_buffer:py_exec(Ref, Index, Code) of
                 dirty -> py_buffer:py_exec_dirty(Ref, Index, Code);
                 Queued -> Queued
             end,
    await(Ref, Ticket, infinity);
exec(Ctx, Code) ->
    error(badarg, [Ctx, Code]).

%% The context of the calling process for the seed's context-free `eval'/`exec': always the
%% same one for a process (its pid hashed over the contexts), so its `exec' and `eval' share
%% a namespace; other processes may share it too (the seed's contexts were per process).
process_context() ->
    context(erlang:phash2(self()) + 1).

%% @doc Context `N', `1..4294967295', taken modulo the number of contexts, so
%% `context(erlang:phash2(Key) + 1)' spreads keys over contexts deterministically. Any other
%% argument raises `badarg'.
-spec context(1..?MAX_CONTEXT) -> context().
context(N) when is_integer(N), N > 0, N =< ?MAX_CONTEXT ->
    {py_context, N};
context(N) ->
    error(badarg, [N]).

%% @doc The interpreter and pool: `python', `prefix', `version', `libpython', `contexts',
%% `workers' (`{Threads, Idle}' of the pool), `stuck' (timed-out calls whose Python code
%% has not returned yet), `stopped' (whether {@link stop/0} was called).
-spec info() -> map().
info() ->
    py_buffer:py_info().

%% @doc Stops the interpreter, as a `python' process exits: later calls return
%% `{error, stopped}'; the workers finish what is queued (up to 5 s), then `Py_FinalizeEx'
%% runs atexit handlers and tears the modules down (open files are flushed and closed).
%% `{error, {busy, N}}' when N workers were still inside Python after 5 s: then only the
%% atexit handlers run. Called by the application's stop; `erlang:halt/0,1' alone skips
%% all of this. Idempotent; runs on a dirty I/O scheduler.
-spec stop() -> ok | {error, {busy, pos_integer()} | not_started}.
stop() ->
    py_buffer:py_finalize().

index(any) -> 0;
index({py_context, N}) when is_integer(N), N > 0, N =< ?MAX_CONTEXT -> N;
index(Other) -> error(badarg, [Other]).

timeout(infinity) -> infinity;
timeout(T) when is_integer(T), T >= 0, T =< ?MAX_TIMEOUT -> T;
timeout(T) -> error(badarg, [T]).

%% Module, function, keyword and local names: atoms and binaries as they are, strings
%% (chardata) as UTF-8 binaries.
names(Map) when is_map(Map) ->
    case lists:all(fun(K) -> is_atom(K) orelse is_binary(K) end, maps:keys(Map)) of
        true -> Map;
        false -> maps:fold(fun(K, V, Acc) -> Acc#{name(K) => V} end, #{}, Map)
    end;
names(Other) ->
    error(badarg, [Other]).

name(K) when is_atom(K); is_binary(K) -> K;
name(K) when is_list(K) ->
    case unicode:characters_to_binary(K) of
        B when is_binary(B) -> B;
        _ -> error(badarg, [K])
    end;
name(K) -> error(badarg, [K]).

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
