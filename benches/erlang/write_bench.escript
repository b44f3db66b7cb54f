#!/usr/bin/env escript
%%! +sbwt none
%% The py_buffer NIF write benchmark: `write/2' ns per call and throughput at 64 B, 4 KiB,
%% 64 KiB and 1 MiB, against `binary:copy/1' of the same binaries in the same run, plus the
%% scheduler latency while 1 MiB writes run. Prints markdown (docs/benchmarks.md, "Erlang NIF").
%%
%% Run: make build-nif && escript benches/erlang/write_bench.escript [quick]
-mode(compile).

main(Args) ->
    io:setopts([{encoding, unicode}]),
    Root = filename:dirname(filename:dirname(filename:dirname(filename:absname(escript:script_name())))),
    true = code:add_patha(filename:join([Root, "nif", "ebin"])),
    {module, py_buffer} = code:ensure_loaded(py_buffer),
    Quick = Args =:= ["quick"],
    Rounds = case Quick of true -> 3; false -> 7 end,
    %% Latency first: the throughput rounds leave gigabytes for the allocator to return.
    latency(Quick),
    io:format("~n### Write cost per call (median of ~p rounds; ~s, ~p schedulers)~n~n",
              [Rounds, erlang:system_info(otp_release), erlang:system_info(schedulers_online)]),
    io:format("| size | `binary:copy/1` | `write/2`, unknown length | ratio | `write/2`, content length | ratio | forced copy (normal sched.) | forced keep | copy on dirty sched. |~n"),
    io:format("|---|---|---|---|---|---|---|---|---|~n"),
    [size_row(Size, Rounds, Quick) || Size <- [64, 4096, 65536, 1048576]],
    io:format("~nRatio = `binary:copy/1` time / `write/2` time (≥ 1.0: a write costs no more than one copy).~n"),
    io:format("Throughput in parentheses (GB/s = 10^9 bytes/s).~n").

iterations(Size, Quick) ->
    Budget = case Quick of true -> 32; false -> 128 end * 1024 * 1024,
    max(50, min(200000, Budget div Size)).

size_row(Size, Rounds, Quick) ->
    N = iterations(Size, Quick),
    Bin = rand:bytes(Size),
    Copy = median(Rounds, fun() -> time_copy(Bin, N) end),
    Unknown = median(Rounds, fun() -> time_write(Bin, N, undefined, direct) end),
    Sized = median(Rounds, fun() -> time_write(Bin, N, N * Size, direct) end),
    Forced = fun(Mode) -> fun(B, D) -> py_buffer:bench_write(B, D, Mode) end end,
    ForcedCopy = median(Rounds, fun() -> time_write(Bin, N, undefined, Forced(copy)) end),
    ForcedKeep = median(Rounds, fun() -> time_write(Bin, N, undefined, Forced(keep)) end),
    Dirty = median(Rounds, fun() -> time_write(Bin, N, undefined, fun py_buffer:write_dirty_nif/2) end),
    io:format("| ~ts | ~ts | ~ts | ~.2f× | ~ts | ~.2f× | ~ts | ~ts | ~ts |~n",
              [size_name(Size), cell(Copy, Size), cell(Unknown, Size), Copy / Unknown,
               cell(Sized, Size), Copy / Sized, cell(ForcedCopy, Size), cell(ForcedKeep, Size),
               cell(Dirty, Size)]).

size_name(64) -> "64 B";
size_name(S) when S < 1048576 -> io_lib:format("~p KiB", [S div 1024]);
size_name(S) -> io_lib:format("~p MiB", [S div 1048576]).

cell(Ns, Size) ->
    io_lib:format("~ts (~.2f GB/s)", [ns(Ns), Size / Ns]).

ns(Ns) when Ns < 1000 -> io_lib:format("~.1f ns", [Ns]);
ns(Ns) when Ns < 1000000 -> io_lib:format("~.2f µs", [Ns / 1000]);
ns(Ns) -> io_lib:format("~.2f ms", [Ns / 1000000]).

median(Rounds, Fun) ->
    Fun(),
    Times = lists:sort([Fun() || _ <- lists:seq(1, Rounds)]),
    lists:nth((Rounds + 1) div 2, Times).

%% ns per call. Each round runs in a fresh process so garbage from earlier rounds is gone.
in_process(Fun) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), Fun()} end),
    receive {Pid, Result} -> receive {'DOWN', Ref, _, _, _} -> Result end end.

time_copy(Bin, N) ->
    in_process(fun() ->
                       T0 = erlang:monotonic_time(nanosecond),
                       copy_loop(Bin, N),
                       (erlang:monotonic_time(nanosecond) - T0) / N
               end).

copy_loop(_, 0) -> ok;
copy_loop(Bin, N) -> _ = binary:copy(Bin), copy_loop(Bin, N - 1).

time_write(Bin, N, ContentLength, Write) ->
    in_process(fun() ->
                       {ok, B} = py_buffer:new(ContentLength),
                       T0 = erlang:monotonic_time(nanosecond),
                       write_loop(B, Bin, N, Write),
                       T = (erlang:monotonic_time(nanosecond) - T0) / N,
                       #{written := W} = py_buffer:info(B),
                       W = N * byte_size(Bin),
                       T
               end).

write_loop(_, _, 0, _) -> ok;
write_loop(B, Bin, N, direct) -> ok = py_buffer:write(B, Bin), write_loop(B, Bin, N - 1, direct);
write_loop(B, Bin, N, Write) -> ok = Write(B, Bin), write_loop(B, Bin, N - 1, Write).

%% Scheduler latency: writers run 1 MiB writes back to back on every scheduler while a probe
%% sleeps 1 ms at a time and records how late it wakes; the system monitor reports every
%% process that held a normal scheduler for more than 1 ms (`long_schedule').
latency(Quick) ->
    Secs = case Quick of true -> 1; false -> 3 end,
    io:format("~n### Scheduler latency while 1 MiB writes run (~p s per mode, ~p writers)~n~n",
              [Secs, erlang:system_info(schedulers_online)]),
    io:format("| writes | writes/s | probe wake-up late: median | p99 | max | `long_schedule` > 1 ms |~n"),
    io:format("|---|---|---|---|---|---|~n"),
    Bin = rand:bytes(1048576),
    Modes = [{"idle (no writers)", none},
             {"`write/2` (keeps the binary)", fun py_buffer:write/2},
             {"`binary:copy/1` (baseline)", fun(_B, D) -> _ = binary:copy(D), ok end},
             {"copy on a dirty scheduler", fun py_buffer:write_dirty_nif/2},
             {"forced copy on the normal scheduler", fun(B, D) -> py_buffer:bench_write(B, D, copy) end}],
    [latency_row(Name, Write, Bin, Secs) || {Name, Write} <- Modes],
    ok.

latency_row(Name, Write, Bin, Secs) ->
    settle(),
    Self = self(),
    erlang:system_monitor(self(), [{long_schedule, 1}]),
    Writers = case Write of
                  none -> [];
                  _ -> [spawn_link(fun() -> writer(Self, Write, Bin, 0) end)
                        || _ <- lists:seq(1, erlang:system_info(schedulers_online))]
              end,
    Probe = spawn_link(fun() -> probe(Self, erlang:monotonic_time(millisecond) + Secs * 1000, []) end),
    Lates = receive {Probe, L} -> L end,
    Counts = [begin W ! {stop, self()}, receive {W, C} -> C end end || W <- Writers],
    erlang:system_monitor(undefined),
    Long = count_long(0),
    Sorted = lists:sort(Lates),
    Len = length(Sorted),
    io:format("| ~ts | ~p | ~ts | ~ts | ~ts | ~p |~n",
              [Name, round(lists:sum(Counts) / Secs), us(lists:nth((Len + 1) div 2, Sorted)),
               us(lists:nth(max(1, (Len * 99) div 100), Sorted)), us(lists:last(Sorted)), Long]).

%% Lets memory freed by earlier rows (on the NIF's dropper thread) go before measuring.
settle() ->
    [erlang:garbage_collect(P) || P <- processes()],
    receive after 2000 -> ok end.

us(Us) when Us < 1000 -> io_lib:format("~p µs", [Us]);
us(Us) -> io_lib:format("~.2f ms", [Us / 1000]).

count_long(N) ->
    receive {monitor, _, long_schedule, _} -> count_long(N + 1) after 0 -> N end.

writer(Parent, Write, Bin, Count) ->
    {ok, B} = py_buffer:new(),
    writer(Parent, Write, Bin, B, Count, 0).

writer(Parent, Write, Bin, B, Count, InBuffer) ->
    receive
        {stop, From} -> From ! {self(), Count}
    after 0 ->
            ok = Write(B, Bin),
            %% A fresh buffer every 64 MiB, so memory stays bounded.
            case InBuffer of
                63 -> {ok, B2} = py_buffer:new(), writer(Parent, Write, Bin, B2, Count + 1, 0);
                _ -> writer(Parent, Write, Bin, B, Count + 1, InBuffer + 1)
            end
    end.

probe(Parent, Until, Acc) ->
    T0 = erlang:monotonic_time(microsecond),
    receive after 1 -> ok end,
    Late = erlang:monotonic_time(microsecond) - T0 - 1000,
    case erlang:monotonic_time(millisecond) >= Until of
        true -> Parent ! {self(), [max(0, Late) | Acc]};
        false -> probe(Parent, Until, [max(0, Late) | Acc])
    end.
