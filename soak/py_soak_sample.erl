%% @doc One sample of the soaking VM: the OS process's resident memory and threads
%% (`/proc/self/status' `VmRSS', `Threads'), the VM's memory (`erlang:memory(total)'),
%% Erlang processes, live buffers (`py_buffer:live_buffers/0': resources not yet freed),
%% live Python objects of py_buffer's native types (`py_soak_readers.live_objects()', found
%% through the collector), and the Python pool (`py:info/0': threads, stuck calls).
-module(py_soak_sample).
-export([take/0, format/2]).

-type sample() :: #{atom() => number()}.
-export_type([sample/0]).

%% The longest the live-object count may take (it walks every tracked object).
-define(COUNT_TIMEOUT_MS, 60000).

%% @doc A sample now.
-spec take() -> sample().
take() ->
    Status = proc_status(),
    Info = py:info(),
    {PoolThreads, _Idle} = maps:get(workers, Info),
    {ok, Objects} = py:call(any, py_soak_readers, live_objects, [],
                            #{timeout => ?COUNT_TIMEOUT_MS}),
    #{rss_bytes => maps:get("VmRSS", Status) * 1024,
      os_threads => maps:get("Threads", Status),
      vm_memory_bytes => erlang:memory(total),
      erlang_processes => erlang:system_info(process_count),
      live_buffers => py_buffer:live_buffers(),
      python_objects => Objects,
      python_pool_threads => PoolThreads,
      python_stuck => maps:get(stuck, Info),
      load_average => load_average()}.

%% The machine's 1-minute load average (`/proc/loadavg'): not checked, reported (the soak
%% shares the machine).
load_average() ->
    {ok, Bin} = file:read_file("/proc/loadavg"),
    [First | _] = string:split(Bin, " "),
    binary_to_float(First).

%% `/proc/self/status' as a map of its numeric fields (`kB' dropped: `VmRSS' is in KiB).
proc_status() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    lists:foldl(
      fun(Line, Acc) ->
              case string:split(Line, ":") of
                  [Key, Value] ->
                      case string:to_integer(string:trim(Value)) of
                          {N, _} when is_integer(N) -> Acc#{Key => N};
                          _ -> Acc
                      end;
                  _ -> Acc
              end
      end, #{}, string:split(binary_to_list(Bin), "\n", all)).

%% @doc One line: the time since the start, the sample, and the ledger's running totals.
-spec format(non_neg_integer(), sample()) -> iolist().
format(Seconds, Sample) ->
    Ledger = py_soak_ledger:snapshot(),
    MiB = fun(B) -> io_lib:format("~.1fMiB", [B / 1048576]) end,
    io_lib:format("t=~Bs rss=~s vm=~s buffers=~B pyobjs=~B threads=~B procs=~B pool=~B "
                  "stuck=~B load=~.1f | streams=~B written=~s read=~s dropped=~s faults=~B calls=~B "
                  "failures=~B~n",
                  [Seconds, MiB(maps:get(rss_bytes, Sample)),
                   MiB(maps:get(vm_memory_bytes, Sample)), maps:get(live_buffers, Sample),
                   maps:get(python_objects, Sample), maps:get(os_threads, Sample),
                   maps:get(erlang_processes, Sample), maps:get(python_pool_threads, Sample),
                   maps:get(python_stuck, Sample), maps:get(load_average, Sample),
                   maps:get(streams, Ledger),
                   MiB(maps:get(bytes_written, Ledger)), MiB(maps:get(bytes_read, Ledger)),
                   MiB(maps:get(bytes_dropped, Ledger)),
                   maps:get(streams, Ledger) - maps:get(fault_none, Ledger),
                   maps:get(call_timeouts, Ledger) + maps:get(call_timeouts_raced, Ledger)
                   + maps:get(call_exceptions, Ledger)
                   + maps:get(calls_in_time, Ledger),
                   maps:get(failures, Ledger)]).
