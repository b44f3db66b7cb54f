%% @doc The soak (`make soak MINUTES=N'; docs/reliability.md, "Soak"): every workload at once
%% in one VM with the embedded Python for N minutes, sampled every 5 s, then checked.
%%
%% Workloads (`py_soak_workers'): Erlang writers into bounded and unbounded buffers, read by
%% Python (blocking and asyncio) and by Erlang, with faults injected per stream (aborts,
%% owner kills, reader closes, read timeouts, `py:call' timeouts) and a `py:call' worker
%% (timeouts, exceptions, calls in time). Each sample (`py_soak_sample') prints one line. At
%% the end the run fails (exit status 1) when a stream or call failed or a worker crashed,
%% when bytes written differ from bytes read plus bytes dropped by deliberate faults, when a
%% sample after the warm-up broke its band (`py_soak_bands'), when work stopped during an
%% interval, or when, the workload stopped, buffers, Python objects of our types or stuck
%% calls remain. It prints a markdown summary either way.
-module(py_soak).
-export([main/1]).

-define(SAMPLE_MS, 5000).
%% After `stop', the longest a worker may take to finish its stream.
-define(STOP_MS, 240000).
%% Rounds of no-op calls (each `?SWEEP_BATCH') given to the interpreter to sweep the buffers
%% Python released (a full sweep runs every 1024 jobs, or 100 ms after the last) before the
%% end state is judged.
-define(SWEEP_ROUNDS, 64).
-define(SWEEP_BATCH, 64).
%% How many failures are printed in full as they come, and how many again (shorter) at the
%% end, next to the verdict: a log cut in the middle (CI shows its head and tail) keeps them.
-define(PRINT_FAILURES, 20).
-define(TAIL_FAILURES, 5).

%% @doc Entry point: `erl ... -run py_soak main Minutes' (a number, may be fractional).
%% Halts the VM: 0 when every check held, 1 when one did not, 2 when the soak itself crashed
%% (or `Minutes' is too short for the warm-up).
-spec main([string()]) -> no_return().
main([Minutes]) ->
    DurationMs = round(number(Minutes) * 60000),
    Status = try run(DurationMs) of
                 ok -> 0;
                 failed -> 1;
                 too_short ->
                     io:format("soak: ~s minutes leave fewer than two samples after the "
                               "warm-up (at least 30 s): use 1 or more~n", [Minutes]),
                     2
             catch
                 Class:Reason:Stack ->
                     io:format("soak crashed: ~p:~p~n~p~n", [Class, Reason, Stack]),
                     2
             end,
    halt(Status).

number(String) ->
    try list_to_float(String) catch error:badarg -> list_to_integer(String) end.

-spec run(pos_integer()) -> ok | failed | too_short.
run(DurationMs) ->
    case DurationMs >= py_soak_bands:warmup_ms(DurationMs) + 2 * ?SAMPLE_MS of
        true -> soak(DurationMs);
        false -> too_short
    end.

-spec soak(pos_integer()) -> ok | failed.
soak(DurationMs) ->
    ok = configure_python(),
    ok = py_soak_pattern:init(),
    ok = py_soak_ledger:init(),
    Warmup = py_soak_bands:warmup_ms(DurationMs),
    io:format("soak: ~.1f min, warm-up ~B s, a sample every ~B s; workers: ~w~n",
              [DurationMs / 60000, Warmup div 1000, ?SAMPLE_MS div 1000,
               py_soak_workers:workers()]),
    Start = now_ms(),
    Workers = [begin Pid = py_soak_workers:start(W, self()), {Pid, monitor(process, Pid)} end
               || W <- py_soak_workers:workers()],
    {Samples, Failures} = sample_loop(Start, Start + DurationMs, Start + ?SAMPLE_MS, [], []),
    StopFailures = stop(Workers),
    {EndSample, SweepCalls} = quiesce(0),
    io:format("stopped; after ~B no-op calls: ~s",
              [SweepCalls, py_soak_sample:format((now_ms() - Start) div 1000, EndSample)]),
    report(DurationMs, lists:reverse(Samples), Warmup, Failures ++ StopFailures, EndSample).

%% The Python module of the soak (soak/python) on `sys.path', set before the NIF loads.
configure_python() ->
    Dir = filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "python"),
    ok = application:load(py_buffer),
    Path = application:get_env(py_buffer, python_path, []),
    application:set_env(py_buffer, python_path, [Dir | Path]).

now_ms() -> erlang:monotonic_time(millisecond).

%% Samples every `?SAMPLE_MS' until `End', gathering failures as they are reported (a worker
%% that exits before it was stopped is one). Samples are `{Ms, Sample, Streams}', newest first.
sample_loop(Start, End, Next, Samples, Failures) ->
    Now = now_ms(),
    case Now >= End of
        true ->
            {Samples, lists:reverse(Failures)};
        false ->
            receive
                {soak_failure, What} ->
                    print_failure(length(Failures), What),
                    sample_loop(Start, End, Next, Samples, [What | Failures]);
                {'DOWN', _, process, Pid, Reason} ->
                    What = {worker_exited, Pid, Reason},
                    print_failure(length(Failures), What),
                    sample_loop(Start, End, Next, Samples, [What | Failures])
            after max(0, min(Next, End) - Now) ->
                case now_ms() >= Next of
                    true ->
                        Sample = py_soak_sample:take(),
                        Ms = now_ms() - Start,
                        io:format("~s", [py_soak_sample:format(Ms div 1000, Sample)]),
                        Streams = maps:get(streams, py_soak_ledger:snapshot()),
                        sample_loop(Start, End, Next + ?SAMPLE_MS,
                                    [{Ms, Sample, Streams} | Samples], Failures);
                    false ->
                        sample_loop(Start, End, Next, Samples, Failures)
                end
            end
    end.

print_failure(Count, What) when Count < ?PRINT_FAILURES ->
    io:format("FAILURE: ~P~n", [What, 60]);
print_failure(_Count, _What) ->
    ok.

%% Asks every worker to stop after its current stream and waits for each; failures still
%% being reported are collected, and a worker that ends other than normally is one.
stop(Workers) ->
    [Pid ! stop || {Pid, _} <- Workers],
    stop_wait(Workers, now_ms() + ?STOP_MS, []).

stop_wait([], _Deadline, Failures) ->
    collect_failures(lists:reverse(Failures));
stop_wait([{Pid, Mon} | Rest], Deadline, Failures) ->
    receive
        {'DOWN', Mon, process, Pid, normal} ->
            stop_wait(Rest, Deadline, Failures);
        {'DOWN', Mon, process, Pid, Reason} ->
            stop_wait(Rest, Deadline, [{worker_exited, Pid, Reason} | Failures])
    after max(0, Deadline - now_ms()) ->
        exit(Pid, kill),
        stop_wait(Rest, Deadline, [{worker_did_not_stop, Pid} | Failures])
    end.

collect_failures(Failures) ->
    receive
        {soak_failure, What} ->
            print_failure(0, What),
            collect_failures(Failures ++ [What])
    after 0 ->
        Failures
    end.

%% With the workload stopped: no-op calls until every buffer and Python object of ours was
%% freed and no call is stuck (a full sweep frees what Python released after its call), at
%% most `?SWEEP_ROUNDS' rounds. Every process is garbage-collected first: a buffer term a
%% process made (`py_buffer_owners' aborting a dead owner's buffers sends their `eof' from
%% its own heap) stays referenced from that heap until its next collection. Returns the last
%% sample and the number of calls made.
quiesce(Calls) ->
    _ = [erlang:garbage_collect(Pid) || Pid <- processes()],
    Sample = py_soak_sample:take(),
    Idle = maps:get(live_buffers, Sample) =:= 0 andalso maps:get(python_objects, Sample) =:= 0
        andalso maps:get(python_stuck, Sample) =:= 0,
    case Idle orelse Calls >= ?SWEEP_ROUNDS * ?SWEEP_BATCH of
        true ->
            {Sample, Calls};
        false ->
            _ = [{ok, 1.0} = py:call(math, sqrt, [1.0]) || _ <- lists:seq(1, ?SWEEP_BATCH)],
            quiesce(Calls + ?SWEEP_BATCH)
    end.

%% The summary (markdown) and the verdict.
report(DurationMs, Samples, Warmup, Failures, EndSample) ->
    Ledger = py_soak_ledger:snapshot(),
    {Verdicts, LoadHeld} = py_soak_bands:check(Samples, Warmup),
    #{bytes_written := Written, bytes_read := Read, bytes_dropped := Dropped} = Ledger,
    Leftover = [{M, V} || M <- [live_buffers, python_objects, python_stuck],
                          (V = maps:get(M, EndSample)) =/= 0],
    Problems =
        [{failures, length(Failures)} || Failures =/= []]
        ++ [{unaccounted_bytes, Written - Read - Dropped} || Written =/= Read + Dropped]
        ++ [{band_broken, M} || #{metric := M, ok := false} <- Verdicts]
        ++ [load_not_held || not LoadHeld]
        ++ [{left_after_stop, Leftover} || Leftover =/= []],
    Leftover =/= [] andalso
        io:format("who holds them: ~p~n",
                  [py:call(any, py_soak_readers, describe_live_objects, [])]),
    Loads = [maps:get(load_average, S) || {_, S, _} <- Samples],
    io:format("~n## Soak summary~n~n"
              "~.1f min, warm-up ~B s, ~B samples; load average (1 min) ~.1f-~.1f~n~n"
              "| counter | value |~n|---|---|~n~s~n"
              "| metric | band | warm-up max | limit | min after | max after | ok |~n"
              "|---|---|---|---|---|---|---|~n~s~n"
              "load held (streams completed in every interval after the warm-up): ~p~n"
              "after the stop: live buffers ~B, Python objects ~B, stuck calls ~B~n~n",
              [DurationMs / 60000, Warmup div 1000, length(Samples),
               lists:min(Loads), lists:max(Loads),
               [io_lib:format("| ~s | ~B |~n", [K, maps:get(K, Ledger)])
                || K <- py_soak_ledger:keys()],
               [io_lib:format("| ~s | ~p x + ~B | ~p | ~p | ~p | ~p | ~p |~n",
                              [M, F, S, WM, round(L), Min, Max, Ok])
                || #{metric := M, factor := F, slack := S, warmup_max := WM, limit := L,
                     min := Min, max := Max, ok := Ok} <- Verdicts],
               LoadHeld, maps:get(live_buffers, EndSample),
               maps:get(python_objects, EndSample), maps:get(python_stuck, EndSample)]),
    io:format("Why each band is that wide:~n~s~n",
              [[io_lib:format("- ~s: ~s~n", [M, Why]) || {M, _, _, Why} <- py_soak_bands:bands()]]),
    case Problems of
        [] ->
            io:format("SOAK PASSED: ~B bytes written = ~B read + ~B dropped by faults~n",
                      [Written, Read, Dropped]),
            ok;
        _ ->
            Shown = lists:sublist(Failures, ?TAIL_FAILURES),
            [io:format("failure ~B of ~B: ~P~n", [I, length(Failures), What, 25])
             || {I, What} <- lists:zip(lists:seq(1, length(Shown)), Shown)],
            io:format("SOAK FAILED: ~p~n", [Problems]),
            failed
    end.
