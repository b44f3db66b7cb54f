%% @doc The server's shared state: the number of requests in flight (counted by the
%% connections' guards, {@link py_serve_guard}) and the draining flag a shutdown sets (from
%% then on every response says `Connection: close'). Both live in one `atomics' array
%% reachable through `persistent_term' (written once, at {@link init/0}), so reading them
%% costs no message.
-module(py_serve_stats).

-export([init/0, request_started/0, request_ended/0, in_flight/0, drain/0, draining/0,
         snapshot/0]).

-define(KEY, py_serve_stats).
-define(IN_FLIGHT, 1).
-define(DRAINING, 2).

%% @doc Creates the counters (once, before the listener starts).
-spec init() -> ok.
init() ->
    persistent_term:put(?KEY, atomics:new(2, [{signed, true}])).

%% @doc One more request in flight.
-spec request_started() -> ok.
request_started() ->
    atomics:add(ref(), ?IN_FLIGHT, 1).

%% @doc One request fewer in flight.
-spec request_ended() -> ok.
request_ended() ->
    atomics:sub(ref(), ?IN_FLIGHT, 1).

%% @doc The number of requests in flight.
-spec in_flight() -> integer().
in_flight() ->
    atomics:get(ref(), ?IN_FLIGHT).

%% @doc From now on connections close after their current request.
-spec drain() -> ok.
drain() ->
    atomics:put(ref(), ?DRAINING, 1).

%% @doc Whether the server is shutting down.
-spec draining() -> boolean().
draining() ->
    atomics:get(ref(), ?DRAINING) =:= 1.

%% @doc What the introspection endpoint reports: requests in flight, live `py_buffer' buffers
%% (request and response bodies not yet freed), the Python pool (`py:info/0': `workers' as
%% `{Threads, Idle}', `stuck'), the nodes serving (`--nodes'; 0 without distribution), the
%% outstanding requests of each (`routes': node name to count) and the VM's memory in bytes.
-spec snapshot() -> #{atom() => integer() | #{node() => non_neg_integer()}}.
snapshot() ->
    Info = py:info(),  % before settle/0's own calls pass through the pool
    settle(),
    {Threads, Idle} = maps:get(workers, Info, {0, 0}),
    #{in_flight => in_flight(),
      live_buffers => py_buffer:live_buffers(),
      python_threads => Threads,
      python_idle => Idle,
      python_stuck => maps:get(stuck, Info, 0),
      nodes => length(py_nodes:nodes()),
      routes => maps:from_list(py_nodes:nodes()),
      memory => erlang:memory(total)}.

ref() ->
    persistent_term:get(?KEY).

%% Lets Python let go of what it no longer uses before buffers are counted: a `gc.collect()'
%% (an exception's traceback cycle may hold a request's buffers), then 1024 no-op calls. The
%% NIF keeps a buffer that crossed into Python registered until a sweep finds Python holds
%% it no more: at the end of the job that passed it (not yet over when an ASGI request or a
%% traceback outlives its call) or in a full sweep, every 1024 jobs or at the end of a job
%% 100 ms after the last one (`nif/native/py/python_face.rs'); 1024 jobs make sure one runs
%% however fast they go.
settle() ->
    _ = py:call(any, gc, collect, [], #{timeout => 5000}),
    lists:foreach(fun(_) -> _ = py:call(any, builtins, id, [0], #{timeout => 5000}) end,
                  lists:seq(1, 1024)).
