#!/usr/bin/env escript
%%! +sbwt medium
%% Erlang -> Python benchmarks: prints markdown for docs/benchmarks.md,
%% "Erlang -> Python".
%%
%%  (a) streaming: 256 MiB written by an Erlang process in 64 KiB chunks while Python loops on
%%      `read(65536)' (the Python call is started first; time from the first write to the
%%      Python result), in the default mode and in bounded mode (`max_buffered'), beside a
%%      loopback TCP socket carrying the same stream to the same loop (`recv(65536)');
%%  (b) wake latency: 8-byte timestamps (`os:system_time(nanosecond)') written 2 ms apart,
%%      Python `read(8)' records `time.time_ns()' minus the stamp;
%%  (c) `py:call' no-op round trip (pool and context), and the same while 20 Python calls
%%      are blocked in `read()'.
%%
%% Only the seed's API is used (`py_buffer:new/0,1', `write/2', `close/1', `py:call/3,4'; bounded
%% mode adds `new(#{max_buffered => N})' and `writable' messages), so the script can be rerun
%% against another implementation of those modules: put its ebin first with `-pa'.
%%
%% Run: make build-nif && escript benches/erlang/py_bench.escript [quick]
-mode(compile).

-define(MiB, 1048576).
-define(CHUNK, 65536).

main(Args) ->
    Root = filename:dirname(filename:dirname(filename:dirname(filename:absname(escript:script_name())))),
    true = code:add_patha(filename:join([Root, "nif", "ebin"])),
    {module, py_buffer} = code:ensure_loaded(py_buffer),
    Here = filename:join([Root, "benches", "erlang"]),
    ok = py:exec(py:context(1), ["import sys; sys.path.insert(0, ", io_lib:format("~p", [Here]), ")"]),
    Quick = Args =:= ["quick"],
    Info = py:info(),
    io:format("~s, OTP ~s, ~p schedulers, ~p context threads~n~n",
              [maps:get(version, Info), erlang:system_info(otp_release),
               erlang:system_info(schedulers_online), maps:get(contexts, Info)]),
    Size = case Quick of true -> 64 * ?MiB; false -> 256 * ?MiB end,
    Rounds = case Quick of true -> 3; false -> 5 end,
    latency(case Quick of true -> 500; false -> 2000 end),
    calls(case Quick of true -> 5000; false -> 20000 end),
    streaming(Size, Rounds).

%% ---- (a) streaming ---------------------------------------------------------------------

streaming(Size, Rounds) ->
    %% Distinct bytes for the whole stream (no chunk is cache-hot when it is read), sliced
    %% into 64 KiB sub-binaries.
    Data = crypto:strong_rand_bytes(Size),
    Chunks = [binary:part(Data, I * ?CHUNK, ?CHUNK) || I <- lists:seq(0, Size div ?CHUNK - 1)],
    io:format("~n### Streaming ~b MiB in 64 KiB chunks, Erlang writer, Python `read(65536)' loop~n~n",
              [Size div ?MiB]),
    io:format("Median of ~b rounds (min-max in parentheses). Seed (C): 0.5-1.2 GB/s. "
              "Target: bounded >= 4x, default >= 2x.~n~n", [Rounds]),
    io:format("| transport | throughput | vs seed 0.5 GB/s | vs seed 1.2 GB/s |~n|---|---|---|---|~n"),
    Rows = [{"`py_buffer`, default mode (`new()`)", fun() -> stream(Chunks, Size, #{}) end},
            {"`py_buffer`, bounded mode (`max_buffered => 4 MiB`)",
             fun() -> stream(Chunks, Size, #{max_buffered => 4 * ?MiB}) end},
            {"`py_buffer`, bounded mode (`max_buffered => 1 MiB`)",
             fun() -> stream(Chunks, Size, #{max_buffered => ?MiB}) end},
            {"loopback TCP socket (`gen_tcp` -> `socket.recv(65536)`), baseline",
             fun() -> socket_stream(Chunks, Size) end}],
    [begin
         Rates = lists:sort([F() || _ <- lists:seq(1, Rounds)]),
         Med = lists:nth((Rounds + 1) div 2, Rates),
         io:format("| ~s | ~.2f GB/s (~.2f-~.2f) | ~.1fx | ~.1fx |~n",
                   [Label, Med, hd(Rates), lists:last(Rates), Med / 0.5, Med / 1.2])
     end || {Label, F} <- Rows],
    ok.

%% GB/s from the first write to the Python result.
stream(Chunks, Size, Opts) ->
    {ok, Buf} = case maps:size(Opts) of 0 -> py_buffer:new(); _ -> py_buffer:new(Opts) end,
    Self = self(),
    spawn_link(fun() -> Self ! {drained, py:call(py_bench_apps, drain, [Buf, ?CHUNK])} end),
    timer:sleep(20),   % the reader is waiting
    T0 = erlang:monotonic_time(),
    write_all(Buf, Chunks),
    ok = py_buffer:close(Buf),
    receive {drained, {ok, Size}} -> ok end,
    rate(Size, T0).

write_all(_Buf, []) -> ok;
write_all(Buf, [C | Rest]) ->
    case py_buffer:write(Buf, C) of
        ok -> write_all(Buf, Rest);
        {partial, Left} ->
            %% Bounded mode: wait until the reader made room.
            ok = py_buffer:subscribe(Buf),
            wait_writable(Buf),
            write_all(Buf, [Left | Rest])
    end.

wait_writable(Buf) ->
    receive
        {py_buffer, Buf, writable} -> ok;
        {py_buffer, Buf, _} -> ok = py_buffer:activate(Buf), wait_writable(Buf)
    end.

socket_stream(Chunks, Size) ->
    {ok, Port} = py:call(py_bench_apps, listen_port, []),
    Self = self(),
    spawn_link(fun() -> Self ! {drained, py:call(py_bench_apps, drain_socket, [Port, ?CHUNK])} end),
    Sock = connect(Port, 200),
    T0 = erlang:monotonic_time(),
    [ok = gen_tcp:send(Sock, C) || C <- Chunks],
    ok = gen_tcp:close(Sock),
    receive {drained, {ok, Size}} -> ok end,
    rate(Size, T0).

connect(Port, Tries) ->
    case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {sndbuf, 4 * ?MiB}, {nodelay, true}]) of
        {ok, Sock} -> Sock;
        {error, econnrefused} when Tries > 0 -> timer:sleep(5), connect(Port, Tries - 1)
    end.

rate(Size, T0) ->
    Us = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond),
    Size / Us / 1000.

%% ---- (b) wake latency ------------------------------------------------------------------

latency(N) ->
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    spawn_link(fun() -> Self ! {lat, py:call(py_bench_apps, wake_latency, [Buf, N])} end),
    timer:sleep(20),
    [begin
         timer:sleep(2),
         ok = py_buffer:write(Buf, <<(os:system_time(nanosecond)):64>>)
     end || _ <- lists:seq(1, N)],
    {ok, Ns} = receive {lat, R} -> R end,
    Sorted = lists:sort(Ns),
    P = fun(Q) -> lists:nth(max(1, round(length(Sorted) * Q)), Sorted) / 1000 end,
    io:format("### Wake latency: 8-byte timestamps written 2 ms apart, Python `read(8)' (n=~b)~n~n", [N]),
    io:format("| | median | p90 | p99 | max |~n|---|---|---|---|---|~n"),
    io:format("| `py_buffer` | ~.1f us | ~.1f us | ~.1f us | ~.1f us |~n",
              [P(0.5), P(0.9), P(0.99), lists:last(Sorted) / 1000]),
    io:format("| seed (C) | 20-28 us | | 46-92 us | |~n"),
    io:format("| target | <= 20 us | | <= 50 us | |~n~n").

%% ---- (c) py:call round trips -----------------------------------------------------------

calls(N) ->
    io:format("### `py:call' no-op round trip (n=~b; target: median <= 15 us)~n~n", [N]),
    io:format("| call | median | p90 | p99 |~n|---|---|---|---|~n"),
    Ctx = py:context(1),
    call_row("`py:call(py_bench_apps, noop, [])` (pool)", fun() -> {ok, none} = py:call(py_bench_apps, noop, []) end, N),
    call_row("`py:call(Ctx, py_bench_apps, noop, [])` (context)", fun() -> {ok, none} = py:call(Ctx, py_bench_apps, noop, []) end, N),
    {ok, Buf} = py_buffer:new(),
    call_row("`py:call(operator, truth, [Buf])` (a buffer argument)", fun() -> {ok, false} = py:call(operator, truth, [Buf]) end, N),
    %% 20 Python calls blocked in read() on 20 empty buffers.
    Self = self(),
    Bufs = [element(2, py_buffer:new()) || _ <- lists:seq(1, 20)],
    [spawn_link(fun() -> Self ! {blocked_done, py:call(py_bench_apps, drain, [B, ?CHUNK])} end) || B <- Bufs],
    timer:sleep(100),
    call_row("pool, while 20 calls are blocked in `read()`", fun() -> {ok, none} = py:call(py_bench_apps, noop, []) end, N div 4),
    Files = lists:sort([element(1, timer:tc(file, read_file, [code:which(py)])) || _ <- lists:seq(1, 200)]),
    io:format("~n`file:read_file/1` while 20 calls are blocked: median ~b us, max ~b us.~n~n",
              [lists:nth(100, Files), lists:last(Files)]),
    [begin ok = py_buffer:close(B) end || B <- Bufs],
    [receive {blocked_done, {ok, 0}} -> ok end || _ <- Bufs],
    ok.

call_row(Label, F, N) ->
    [F() || _ <- lists:seq(1, min(N, 2000))],
    Times = lists:sort([element(1, timer:tc(F)) || _ <- lists:seq(1, N)]),
    P = fun(Q) -> lists:nth(max(1, round(N * Q)), Times) end,
    io:format("| ~s | ~b us | ~b us | ~b us |~n", [Label, P(0.5), P(0.9), P(0.99)]).
