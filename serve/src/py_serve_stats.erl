%% @doc The server's shared state: the requests in flight and the draining flag a shutdown
%% sets (from then on every response says `Connection: close').
%%
%% Requests in flight are counted from the open connections (a table of their guards,
%% {@link py_serve_guard}): each connection's guard holds a flag the connection sets while
%% it serves a request, so a request costs no shared counter and no message; a connection
%% whose process was killed leaves the table when its guard sees it go. Reading the count
%% walks the table: it is read by the stats endpoint and a shutdown, not per request. The
%% draining flag lives in an `atomics' array reachable through `persistent_term' (written
%% once, at {@link init/0}).
-module(py_serve_stats).

-export([init/0, connection_opened/2, connection_closed/1, in_flight/0, drain/0, draining/0,
         snapshot/0]).

-define(KEY, py_serve_stats).
-define(CONNECTIONS, py_serve_connections).
-define(DRAINING, 1).

%% @doc Creates the flag and the table of connections (once, before the listener starts; the
%% calling process owns the table and must outlive the connections).
-spec init() -> ok.
init() ->
    ?CONNECTIONS = ets:new(?CONNECTIONS, [set, public, named_table,
                                          {write_concurrency, true}, {read_concurrency, true}]),
    persistent_term:put(?KEY, atomics:new(1, [{signed, true}])).

%% @doc A connection opened: its guard, and the guard's process (from
%% {@link py_serve_guard:start/1}).
-spec connection_opened(pid(), py_serve_guard:guard()) -> ok.
connection_opened(GuardPid, Guard) ->
    true = ets:insert(?CONNECTIONS, {GuardPid, Guard}),
    ok.

%% @doc The connection of the guard `GuardPid' is gone.
-spec connection_closed(pid()) -> ok.
connection_closed(GuardPid) ->
    true = ets:delete(?CONNECTIONS, GuardPid),
    ok.

%% @doc The number of requests in flight.
-spec in_flight() -> non_neg_integer().
in_flight() ->
    ets:foldl(fun({_, Guard}, N) ->
                      case py_serve_guard:busy_flag(Guard) of
                          true -> N + 1;
                          false -> N
                      end
              end, 0, ?CONNECTIONS).

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
