%% @doc The soak's counters: streams by reader and fault, bytes written, read and dropped
%% (dropped only by a deliberate fault, counted per fault), `py:call' faults and failures.
%% One `counters' array shared by every worker through `persistent_term', so counting costs
%% no message and the sampler reads a consistent-enough snapshot at any time.
-module(py_soak_ledger).
-export([init/0, add/2, snapshot/0, keys/0]).

-define(KEY, ?MODULE).

%% @doc Every counter, in the order they are printed.
-spec keys() -> [atom()].
keys() ->
    [streams, bytes_written, bytes_read, bytes_dropped,
     reader_python_blocking, reader_python_asyncio, reader_erlang,
     bounded, unbounded, content_length,
     fault_none, fault_abort, fault_owner_kill, fault_reader_close, fault_read_timeout,
     fault_call_timeout,
     dropped_abort, dropped_owner_kill, dropped_reader_close, dropped_read_timeout,
     dropped_call_timeout,
     call_timeouts, call_timeouts_raced, call_exceptions, calls_in_time,
     failures].

%% @doc Creates the counters (all zero).
-spec init() -> ok.
init() ->
    Keys = keys(),
    Index = maps:from_list(lists:zip(Keys, lists:seq(1, length(Keys)))),
    persistent_term:put(?KEY, {counters:new(length(Keys), [write_concurrency]), Index}).

%% @doc Adds `N' to counter `Key'.
-spec add(atom(), non_neg_integer()) -> ok.
add(Key, N) ->
    {Ref, Index} = persistent_term:get(?KEY),
    counters:add(Ref, maps:get(Key, Index), N).

%% @doc Every counter's value now.
-spec snapshot() -> #{atom() => non_neg_integer()}.
snapshot() ->
    {Ref, Index} = persistent_term:get(?KEY),
    maps:map(fun(_Key, I) -> counters:get(Ref, I) end, Index).
