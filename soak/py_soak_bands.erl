%% @doc The bands the soak's samples must stay within after the warm-up: the one place their
%% values are set (docs/reliability.md quotes them with the measured figures).
%%
%% A metric's limit is `Factor * WarmupMax + Slack', where `WarmupMax' is its largest value
%% during the warm-up (the first fifth of the run, at least 30 s: the pool has grown to its
%% working size, the allocators have their working set, a full Python sweep has run). A leak
%% grows with the run and breaks the limit; a metric that merely fluctuates does not. Every
%% sample after the warm-up is checked, and also that work went on: each interval after the
%% warm-up completed streams (`load_held').
-module(py_soak_bands).
-export([bands/0, warmup_ms/1, check/2]).

-type metric_band() :: {Metric :: atom(), Factor :: number(), Slack :: non_neg_integer(),
                 Why :: string()}.
-type verdict() :: #{metric := atom(), factor := number(), slack := non_neg_integer(),
                     warmup_max := number(), limit := number(), min := number(),
                     max := number(), ok := boolean()}.
-export_type([metric_band/0, verdict/0]).

-define(MIB, 1048576).
-define(MIN_WARMUP_MS, 30000).

%% @doc Each metric's band and why it is that wide.
-spec bands() -> [metric_band()].
bands() ->
    [{rss_bytes, 1.25, 32 * ?MIB,
      "allocators keep what they freed and grow in steps (glibc arenas per Python thread, "
      "BEAM carriers); at the ~40 MB/s streamed here, one stream in a thousand leaking its "
      "bytes exceeds it within 20 minutes"},
     {vm_memory_bytes, 1.25, 16 * ?MIB,
      "binaries held by live buffers (up to 7 streams of 512 KiB) and process heaps vary "
      "with the streams in flight"},
     {live_buffers, 1, 16,
      "at most one buffer per stream worker, plus those freed only at the next full Python "
      "sweep (every 1024 jobs, or 100 ms after the last): a backlog the warm-up already saw"},
     {python_objects, 1, 16, "as live_buffers: the Python face of each buffer in Python's hands"},
     {os_threads, 1, 16,
      "the Python pool grows on demand (blocked readers, timed-out calls still in C) and "
      "idle threads exit: a new peak of concurrent calls adds threads"},
     {erlang_processes, 1, 32, "three processes per stream in flight (stream, writer, reader)"},
     {python_pool_threads, 1, 16, "as os_threads"},
     {python_stuck, 1, 4,
      "timed-out calls still blocked in C (0.2 s each, one every 60 ms at most)"}].

%% @doc The warm-up of a run of `DurationMs': a fifth of it, at least 30 s.
-spec warmup_ms(non_neg_integer()) -> non_neg_integer().
warmup_ms(DurationMs) ->
    max(?MIN_WARMUP_MS, DurationMs div 5).

%% @doc The verdict of each band over `Samples' (`{Ms, Sample, StreamsSoFar}', oldest first),
%% and of `load_held'.
-spec check([{non_neg_integer(), py_soak_sample:sample(), non_neg_integer()}],
            non_neg_integer()) -> {[verdict()], LoadHeld :: boolean()}.
check(Samples, WarmupMs) ->
    {Warm, After} = lists:partition(fun({Ms, _, _}) -> Ms < WarmupMs end, Samples),
    Verdicts = [verdict(Band, [S || {_, S, _} <- Warm], [S || {_, S, _} <- After])
                || Band <- bands()],
    Streams = [N || {_, _, N} <- After],
    LoadHeld = length(Streams) >= 2 andalso increasing([lists:last([0 | [N || {_, _, N} <- Warm]])
                                                        | Streams]),
    {Verdicts, LoadHeld}.

verdict({Metric, Factor, Slack, _Why}, Warm, After) ->
    WarmMax = lists:max([maps:get(Metric, S) || S <- Warm]),
    Values = [maps:get(Metric, S) || S <- After],
    Limit = Factor * WarmMax + Slack,
    Max = lists:max(Values),
    #{metric => Metric, factor => Factor, slack => Slack, warmup_max => WarmMax,
      limit => Limit, min => lists:min(Values), max => Max, ok => Max =< Limit}.

increasing([A, B | Rest]) -> B > A andalso increasing([B | Rest]);
increasing(_) -> true.
