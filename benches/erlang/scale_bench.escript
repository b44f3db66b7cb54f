#!/usr/bin/env escript
%%! +sbwt none +sbwtdcpu none +sbwtdio none
%% Scaling-out benchmarks (issue 14): prints markdown for docs/scaling.md and writes
%% benches/erlang/scale_bench.json (plotted by benches/erlang/scale_plot.py into
%% docs/scaling.png). This VM is the front; 4 local app nodes (`py_nodes:start_local/2',
%% loopback distribution) serve; a row with N nodes routes to the first N (the others are
%% taken out of the routing table). No HTTP.
%%
%%  (a) 1 KiB WSGI echo requests/s, C client processes at once, through the local
%%      single-node path (`py_remote' with `node => node()': a plain `py_request') and
%%      through 1, 2, 4 app nodes;
%%  (b) upload throughput: 256 MiB in 4 uploads of 64 MiB at once (1 MiB writes, WSGI
%%      `readinto' sink), local and through 1, 2, 4 app nodes; and one 256 MiB upload alone;
%%  (c) the front's routing capacity: requests/s to an Erlang-only echo on the app nodes
%%      (`{module, py_remote_echo, []}', no Python), 1, 2, 4 nodes, and the per-request cost
%%      of the hop: one request at a time, the echo served locally vs on an app node.
%%
%% Run: make bench-scale   (or: make build-nif && escript benches/erlang/scale_bench.escript [quick])
-mode(compile).

-define(MiB, 1048576).

main(Args) ->
    Root = filename:dirname(filename:dirname(filename:dirname(
                                               filename:absname(escript:script_name())))),
    true = code:add_patha(filename:join([Root, "nif", "ebin"])),
    Here = filename:join([Root, "benches", "erlang"]),
    ok = application:load(py_buffer),
    ok = application:set_env(py_buffer, python_path, [Here]),
    {ok, _} = application:ensure_all_started(py_buffer),
    Quick = Args =:= ["quick"],
    Secs = case Quick of true -> 1; false -> 3 end,
    %% No scheduler busy-waiting: five VMs share the CPUs.
    {ok, Nodes} = py_nodes:start_local(4, #{serve_local => false,
                                            extra_args => ["+sbwt", "none", "+sbwtdcpu", "none",
                                                           "+sbwtdio", "none"],
                                            apps => [{wsgi, <<"serve_bench_apps:wsgi_echo">>}]}),
    Info = py:info(),
    io:format("~s, OTP ~s, ~p schedulers, ~p CPUs (front + 4 app nodes share them)~n~n",
              [maps:get(version, Info), erlang:system_info(otp_release),
               erlang:system_info(schedulers_online), erlang:system_info(logical_processors)]),
    Counts = [1, 2, 4],
    Echo = echo_rows(Nodes, Counts, Secs),
    Upload = upload_rows(Nodes, Counts, case Quick of true -> 64; false -> 256 end),
    {Routing, Hop} = routing_rows(Nodes, Counts, Secs),
    Json = io_lib:format("{\"nodes\": ~w, \"echo\": ~s, \"upload\": ~s, \"routing\": ~s, "
                         "\"cpus\": ~b}~n",
                         [Counts, json(Echo), json(Upload), json(Routing),
                          erlang:system_info(logical_processors)]),
    ok = file:write_file(filename:join(Here, "scale_bench.json"), Json),
    io:format("~nHop: ~s~n", [Hop]),
    ok = py_nodes:stop(),
    halt(0).

json([{Local, Rows}]) ->
    io_lib:format("{\"local\": ~.1f, \"remote\": [~s]}",
                  [float(Local), lists:join(", ", [io_lib:format("~.1f", [float(V)])
                                                   || {_, V} <- Rows])]).

%% Routes to the first N nodes only.
use(Nodes, N) ->
    {Use, Rest} = lists:split(N, Nodes),
    [ok = py_route:add(Node) || Node <- Use, not lists:keymember(Node, 1, py_nodes:nodes())],
    [ok = py_route:remove(Node) || Node <- Rest],
    ok.

%% ---- (a) 1 KiB echo ------------------------------------------------------------------------

echo_rows(Nodes, Counts, Secs) ->
    Body = crypto:strong_rand_bytes(1024),
    App = {wsgi, <<"serve_bench_apps:wsgi_echo">>},
    Conc = 32,
    One = fun(Opts) -> fun() -> Body = request(App, Body, Opts) end end,
    %% Warm up every node and the local interpreter.
    use(Nodes, 4),
    _ = rate(One(#{}), Conc, 1),
    _ = rate(One(#{node => node()}), Conc, 1),
    {Local, LF, LA} = cpu_rate(Nodes, One(#{node => node()}), Conc, Secs),
    Cpu = [begin use(Nodes, N), {N, cpu_rate(Nodes, One(#{}), Conc, Secs)} end || N <- Counts],
    Rows = [{N, R} || {N, {R, _, _}} <- Cpu],
    io:format("### 1 KiB WSGI echo, ~b clients at once, requests/s~n~n", [Conc]),
    io:format("CPU per request: the front VM's and the app nodes' CPU time (user + system, "
              "every thread, Python's too; /proc, 10 ms ticks) over the requests served.~n~n"),
    io:format("| path | requests/s | vs local | front CPU/req | app nodes CPU/req |~n"
              "|---|---|---|---|---|~n"),
    io:format("| local single node (`py_request`) | ~s | 1.00x | ~s us | ~s us |~n",
              [f0(Local), f0(LF), f0(LA)]),
    [io:format("| ~b app node~s (`py_remote`) | ~s | ~.2fx | ~s us | ~s us |~n",
               [N, plural(N), f0(R), R / Local, f0(F), f0(A)]) || {N, {R, F, A}} <- Cpu],
    io:format("~n"),
    [{Local, Rows}].

%% ---- (b) uploads ---------------------------------------------------------------------------

upload_rows(Nodes, Counts, TotalMiB) ->
    Chunk = crypto:strong_rand_bytes(?MiB),
    App = {wsgi, <<"serve_bench_apps:wsgi_sink">>},
    Up = fun(MiB, Opts) ->
                 fun() ->
                         Expect = integer_to_binary(MiB * ?MiB),
                         Expect = upload(App, Chunk, MiB, Opts)
                 end
         end,
    Par = fun(Opts) -> parallel([Up(TotalMiB div 4, Opts) || _ <- lists:seq(1, 4)]) end,
    use(Nodes, 4),
    _ = Par(#{}),
    {Local, LF, LA} = cpu_timed(Nodes, TotalMiB, fun() -> Par(#{node => node()}) end),
    Cpu = [begin use(Nodes, N), {N, cpu_timed(Nodes, TotalMiB, fun() -> Par(#{}) end)} end
           || N <- Counts],
    Rows = [{N, R} || {N, {R, _, _}} <- Cpu],
    use(Nodes, 1),
    AloneLocal = TotalMiB / timed(Up(TotalMiB, #{node => node()})),
    AloneRemote = TotalMiB / timed(Up(TotalMiB, #{})),
    io:format("### Upload: ~b MiB as 4 uploads at once (1 MiB writes, WSGI `readinto` sink), "
              "MiB/s~n~n", [TotalMiB]),
    io:format("| path | MiB/s | vs local | front CPU/MiB | app nodes CPU/MiB |~n"
              "|---|---|---|---|---|~n"),
    io:format("| local single node | ~s | 1.00x | ~s us | ~s us |~n",
              [f0(Local), f0(LF), f0(LA)]),
    [io:format("| ~b app node~s | ~s | ~.2fx | ~s us | ~s us |~n",
               [N, plural(N), f0(R), R / Local, f0(F), f0(A)]) || {N, {R, F, A}} <- Cpu],
    io:format("~nOne ~b MiB upload alone: local ~s MiB/s, through one app node ~s MiB/s "
              "(~.2fx).~n~n", [TotalMiB, f0(AloneLocal), f0(AloneRemote),
                               AloneRemote / AloneLocal]),
    [{Local, Rows}].

%% ---- (c) routing capacity and the hop --------------------------------------------------------

routing_rows(Nodes, Counts, Secs) ->
    Body = crypto:strong_rand_bytes(1024),
    App = {module, py_remote_echo, []},
    Conc = 64,
    One = fun(Opts) -> fun() -> Body = request(App, Body, Opts) end end,
    use(Nodes, 4),
    _ = rate(One(#{}), Conc, 1),
    {Local, LF, _} = cpu_rate(Nodes, One(#{node => node()}), Conc, Secs),
    Cpu = [begin use(Nodes, N), {N, cpu_rate(Nodes, One(#{}), Conc, Secs)} end || N <- Counts],
    Rows = [{N, R} || {N, {R, _, _}} <- Cpu],
    io:format("### Routing capacity: Erlang-only echo (no Python), 1 KiB, ~b clients, "
              "requests/s~n~n", [Conc]),
    io:format("| path | requests/s | front CPU/req | app nodes CPU/req |~n|---|---|---|---|~n"),
    io:format("| echo in the front's VM (no hop) | ~s | ~s us | - |~n", [f0(Local), f0(LF)]),
    [io:format("| ~b app node~s | ~s | ~s us | ~s us |~n", [N, plural(N), f0(R), f0(F), f0(A)])
     || {N, {R, F, A}} <- Cpu],
    use(Nodes, 1),
    N1 = 5000,
    [Peer | _] = Nodes,
    %% The floor of any hop: erpc:call/4 also spawns a process on the node and waits for
    %% its reply.
    Ping = fun() -> Peer = erpc:call(Peer, erlang, node, []) end,
    PingUs = median([time_us(Ping) || _ <- lists:seq(1, N1)]),
    LocalUs = median([time_us(One(#{node => node()})) || _ <- lists:seq(1, N1)]),
    RemoteUs = median([time_us(One(#{})) || _ <- lists:seq(1, N1)]),
    Hop = io_lib:format("one request at a time (median of ~b): echo in the front's VM "
                        "~.1f us, on an app node ~.1f us: the hop adds ~.1f us per request; "
                        "a bare `erpc:call(Node, erlang, node, [])` takes ~.1f us",
                        [N1, LocalUs, RemoteUs, RemoteUs - LocalUs, PingUs]),
    io:format("~n~s.~n", [Hop]),
    use(Nodes, 4),
    {[{Local, Rows}], Hop}.

%% ---- helpers -------------------------------------------------------------------------------

f0(X) -> integer_to_list(round(X)).

plural(1) -> "";
plural(_) -> "s".

%% CPU milliseconds used so far by this VM and by the app nodes: user + system time of the
%% OS processes (every thread: schedulers, I/O, Python), from /proc/PID/stat.
cpu(Nodes) ->
    Front = proc_cpu_ms(os:getpid()),
    Apps = lists:sum([proc_cpu_ms(erpc:call(N, os, getpid, [])) || N <- Nodes]),
    {Front, Apps}.

proc_cpu_ms(Pid) ->
    {ok, Stat} = file:read_file(["/proc/", Pid, "/stat"]),
    %% Fields after the command name (which is in parentheses): utime is the 14th field.
    [_, After] = binary:split(Stat, <<") ">>),
    Fields = binary:split(After, <<" ">>, [global]),
    Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
    Ticks * 1000 div clock_ticks().

clock_ticks() ->
    case get(clk_tck) of
        undefined ->
            T = list_to_integer(string:trim(os:cmd("getconf CLK_TCK"))),
            put(clk_tck, T),
            T;
        T ->
            T
    end.

%% `rate/3' plus the CPU microseconds per request on the front and on the app nodes.
cpu_rate(Nodes, F, Conc, Secs) ->
    {F0, A0} = cpu(Nodes),
    {Rate, Count} = rate_count(F, Conc, Secs),
    {F1, A1} = cpu(Nodes),
    {Rate, (F1 - F0) * 1000 / Count, (A1 - A0) * 1000 / Count}.

%% MiB/s of `F' moving `MiB', and the CPU microseconds per MiB on the front and app nodes.
cpu_timed(Nodes, MiB, F) ->
    {F0, A0} = cpu(Nodes),
    Secs = timed(F),
    {F1, A1} = cpu(Nodes),
    {MiB / Secs, (F1 - F0) * 1000 / MiB, (A1 - A0) * 1000 / MiB}.

%% Requests/s of `F' run by `Conc' processes in a loop for `Secs' seconds.
rate(F, Conc, Secs) ->
    element(1, rate_count(F, Conc, Secs)).

rate_count(F, Conc, Secs) ->
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + Secs * 1000,
    Pids = [spawn_link(fun() -> Self ! {self(), loop(F, Deadline, 0)} end)
            || _ <- lists:seq(1, Conc)],
    T0 = erlang:monotonic_time(microsecond),
    Total = lists:sum([receive {Pid, N} -> N end || Pid <- Pids]),
    {Total / ((erlang:monotonic_time(microsecond) - T0) / 1.0e6), Total}.

loop(F, Deadline, N) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> N;
        false -> F(), loop(F, Deadline, N + 1)
    end.

parallel(Fs) ->
    Self = self(),
    Pids = [spawn_link(fun() -> F(), Self ! {self(), ok} end) || F <- Fs],
    [receive {Pid, ok} -> ok end || Pid <- Pids],
    ok.

timed(F) ->
    T0 = erlang:monotonic_time(microsecond),
    F(),
    (erlang:monotonic_time(microsecond) - T0) / 1.0e6.

time_us(F) ->
    T0 = erlang:monotonic_time(nanosecond),
    F(),
    (erlang:monotonic_time(nanosecond) - T0) / 1000.

median(L) ->
    lists:nth(length(L) div 2 + 1, lists:sort(L)).

%% One request with a whole body: the response body.
request(App, Body, Opts) ->
    {ok, Req} = py_remote:start(App, #{method => <<"POST">>},
                                Opts#{content_length => byte_size(Body)}),
    ok = py_remote:write_body(Req, Body),
    finish(Req, []).

%% An upload of `MiB' 1 MiB writes: the response body.
upload(App, Chunk, MiB, Opts) ->
    {ok, Req} = py_remote:start(App, #{method => <<"POST">>},
                                Opts#{content_length => MiB * ?MiB}),
    write(Req, lists:duplicate(MiB, Chunk), []).

write(Req, [], Acc) ->
    finish(Req, Acc);
write(Req, [C | Cs], Acc) ->
    case py_remote:write_body(Req, C) of
        ok -> write(Req, Cs, Acc);
        {partial, Rest} -> park(Req, [Rest | Cs], Acc)
    end.

park(Req, Cs, Acc) ->
    receive
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} ->
                    Acc1 = Acc ++ [B || {response, _, _, B} <- Events],
                    case lists:member(body_writable, Events) of
                        true -> write(Req1, Cs, Acc1);
                        false -> park(Req1, Cs, Acc1)
                    end;
                unknown ->
                    park(Req, Cs, Acc)
            end
    end.

finish(Req, Acc) ->
    receive
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} ->
                    Acc1 = Acc ++ [B || {response, _, _, B} <- Events],
                    Acc2 = case lists:member(response_readable, Events) of
                               true -> Acc1 ++ drain(Req1);
                               false -> Acc1
                           end,
                    case [E || E <- Events, E =:= done orelse element(1, E) =:= failed] of
                        [done] -> iolist_to_binary(Acc2 ++ drain(Req1));
                        [] -> finish(Req1, Acc2);
                        [Failed] -> error(Failed)
                    end;
                unknown ->
                    finish(Req, Acc)
            end
    end.

drain(Req) ->
    case py_remote:read_response(Req, 65536) of
        {ok, Bin} -> [Bin | drain(Req)];
        _ -> []
    end.
