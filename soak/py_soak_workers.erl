%% @doc The soak's workload: which workers run, what each does, and the stream specs they
%% draw. Every worker is a process looping until it gets `stop'; a stream runs in a process
%% of its own (its buffer freed when it ends), and a stream that fails or crashes, or a call
%% that answers wrongly, is reported to the driver as `{soak_failure, What}'.
%%
%% Workers (`workers/0'): Python blocking readers, Python asyncio readers and Erlang readers,
%% each drawing a fault per stream (none twice as often as each other), bounded or unbounded
%% buffers (half each), a content length on a third of the fault-free streams; and one
%% `py:call' worker cycling through a call that times out (its Python code blocked in C, the
%% worker stuck until it returns), a call raising `ValueError', and a call answering in time.
-module(py_soak_workers).
-export([workers/0, start/2]).

%% The longest any step of a stream may wait before it counts as hung (a failure).
-define(STALL_MS, 60000).
%% The largest stream, write chunk, read chunk and bound (bytes).
-define(MAX_STREAM, 524288).
-define(MAX_CHUNK, 65536).
-define(MAX_BOUND, 131072).
%% The Python reader's timeout (`read_timeout') and the `py:call' timeout (`call_timeout').
-define(READ_TIMEOUT_MS, 200).
-define(CALL_TIMEOUT_MS, 100).
%% The `py:call' worker: the pause between two calls, the timeout of the call that must time
%% out, and how long its Python code blocks (longer than the timeout, so it always does).
-define(CALL_PACE_MS, 20).
-define(CALL_SHORT_TIMEOUT_MS, 20).
-define(CALL_BLOCK_SECONDS, 0.2).

-type worker() :: {stream, py_soak_reader:kind(), [fault()]} | calls.
-type fault() :: none | abort | owner_kill | reader_close | read_timeout | call_timeout.

%% @doc The workers of a soak, all running at once.
-spec workers() -> [worker()].
workers() ->
    PythonFaults = [none, none, abort, owner_kill, reader_close, read_timeout, call_timeout],
    ErlangFaults = [none, none, abort, owner_kill, reader_close, read_timeout],
    lists:duplicate(3, {stream, python_blocking, PythonFaults})
        ++ lists:duplicate(2, {stream, python_asyncio, PythonFaults})
        ++ lists:duplicate(2, {stream, erlang, ErlangFaults})
        ++ [calls].

%% @doc Starts `Worker', reporting failures to `Driver'.
-spec start(worker(), pid()) -> pid().
start({stream, Kind, Faults}, Driver) ->
    spawn(fun() -> stream_loop(Kind, Faults, Driver) end);
start(calls, Driver) ->
    spawn(fun() -> calls_loop(Driver, 0) end).

stream_loop(Kind, Faults, Driver) ->
    receive
        stop -> ok
    after 0 ->
        Spec = spec(Kind, lists:nth(rand:uniform(length(Faults)), Faults)),
        Self = self(),
        {Pid, Ref} = spawn_monitor(fun() ->
                                           Self ! {soak_stream, self(), py_soak_stream:run(Spec)}
                                   end),
        receive
            {soak_stream, Pid, {ok, Result}} ->
                demonitor(Ref, [flush]),
                account(Spec, Result);
            {soak_stream, Pid, {failed, What}} ->
                demonitor(Ref, [flush]),
                failure(Driver, {stream_failed, What});
            {'DOWN', Ref, process, Pid, Reason} ->
                failure(Driver, {stream_crashed, Reason, Spec})
        after 3 * ?STALL_MS ->
            exit(Pid, kill),
            failure(Driver, {stream_hung, Spec})
        end,
        stream_loop(Kind, Faults, Driver)
    end.

%% A stream spec: what `py_soak_writer', `py_soak_reader' and `py_soak_stream' read.
spec(Kind, Fault) ->
    Target = rand:uniform(?MAX_STREAM),
    Base = #{reader => Kind, fault => Fault, target => Target,
             chunk => rand:uniform(?MAX_CHUNK), read_chunk => rand:uniform(?MAX_CHUNK),
             stall_ms => ?STALL_MS, read_timeout_ms => ?READ_TIMEOUT_MS,
             call_timeout_ms => ?CALL_TIMEOUT_MS},
    Bounded = case rand:uniform(2) of
                  1 -> Base#{max_buffered => rand:uniform(?MAX_BOUND)};
                  2 -> Base
              end,
    WithLength = case {Fault, rand:uniform(3)} of
                     {none, 1} -> Bounded#{content_length => Target};
                     _ -> Bounded
                 end,
    case Fault of
        reader_close -> WithLength#{limit => rand:uniform(Target) - 1};
        read_timeout -> WithLength;
        _ -> maps:remove(read_timeout_ms, WithLength)
    end.

account(#{reader := Kind, fault := Fault} = Spec,
        #{written := Written, read := Read, dropped := Dropped}) ->
    Add = fun py_soak_ledger:add/2,
    Add(streams, 1),
    Add(bytes_written, Written),
    Add(bytes_read, Read),
    Add(bytes_dropped, Dropped),
    Add(list_to_atom("reader_" ++ atom_to_list(Kind)), 1),
    Add(list_to_atom("fault_" ++ atom_to_list(Fault)), 1),
    Fault =/= none andalso Add(list_to_atom("dropped_" ++ atom_to_list(Fault)), Dropped),
    Add(case Spec of #{max_buffered := _} -> bounded; _ -> unbounded end, 1),
    is_map_key(content_length, Spec) andalso Add(content_length, 1),
    ok.

failure(Driver, What) ->
    py_soak_ledger:add(failures, 1),
    Driver ! {soak_failure, What},
    ok.

calls_loop(Driver, N) ->
    receive
        stop -> ok
    after ?CALL_PACE_MS ->
        call(Driver, N rem 3, N),
        calls_loop(Driver, N + 1)
    end.

call(Driver, 0, _N) ->
    case py:call(any, py_soak_readers, sleep_in_c, [?CALL_BLOCK_SECONDS],
                 #{timeout => ?CALL_SHORT_TIMEOUT_MS}) of
        {error, timeout} -> py_soak_ledger:add(call_timeouts, 1);
        %% The result was sent before the cancel took effect (this process ran late: the
        %% machine is loaded); `py:call' then returns it, as documented.
        {ok, ?CALL_BLOCK_SECONDS} -> py_soak_ledger:add(call_timeouts_raced, 1);
        Other -> failure(Driver, {call_timeout_answered, Other})
    end;
call(Driver, 1, N) ->
    Message = iolist_to_binary(["soak ", integer_to_list(N)]),
    case py:call(py_soak_readers, fail, [Message]) of
        {error, {python_error, <<"ValueError">>, Message, Traceback}} when is_binary(Traceback) ->
            py_soak_ledger:add(call_exceptions, 1);
        Other -> failure(Driver, {call_exception_answered, Other})
    end;
call(Driver, 2, _N) ->
    case py:call(any, math, sqrt, [16.0], #{timeout => ?STALL_MS}) of
        {ok, 4.0} -> py_soak_ledger:add(calls_in_time, 1);
        Other -> failure(Driver, {call_answered, Other})
    end.
