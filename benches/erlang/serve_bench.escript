#!/usr/bin/env escript
%%! +sbwt medium
%% Serving benchmarks: prints markdown for docs/benchmarks.md,
%% "Serving from Erlang (py_request)". One VM, no HTTP:
%%
%%  (a) per request: a 1 KiB POST echoed by a WSGI app and by an ASGI app through
%%      `py_request' (start, write the body, handle the events until `done'), one request at
%%      a time, against a `py:call' no-op in the same run (targets: WSGI <= 5x, ASGI <= 10x);
%%  (b) bulk: 64 MiB up (written by Erlang in 1 MiB chunks, read by a WSGI app with
%%      `readinto') and 64 MiB down (a WSGI generator of 1 MiB chunks, read by Erlang with
%%      `read_response/2'), both buffers bounded (4 MiB), against `binary:copy/1' of the same
%%      bytes (target: >= 2 GB/s each way).
%%
%% Run: make bench-serve   (or: make build-nif && escript benches/erlang/serve_bench.escript [quick])
-mode(compile).

-define(MiB, 1048576).

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
    N = case Quick of true -> 2000; false -> 10000 end,
    Rounds = case Quick of true -> 3; false -> 5 end,
    per_request(N),
    bulk(64 * ?MiB, Rounds).

%% ---- (a) per request ---------------------------------------------------------------------

per_request(N) ->
    Body = crypto:strong_rand_bytes(1024),
    Noop = fun() -> {ok, none} = py:call(serve_bench_apps, noop, []) end,
    Wsgi = fun() -> Body = echo({wsgi, <<"serve_bench_apps:wsgi_echo">>}, Body) end,
    Asgi = fun() -> Body = echo({asgi, <<"serve_bench_apps:asgi_echo">>}, Body) end,
    ok = py_app:start({asgi, <<"serve_bench_apps:asgi_echo">>}),
    %% Warm up (imports, the pool's threads, the loop thread), then interleave the rounds.
    [F() || F <- [Noop, Wsgi, Asgi], _ <- lists:seq(1, 500)],
    Rows = [{"`py:call` no-op (pool), baseline", Noop},
            {"WSGI echo, 1 KiB POST (`py_request`, `py_buffer.serve.wsgi`)", Wsgi},
            {"ASGI echo, 1 KiB POST (`py_request`, `py_buffer.serve.asgi`)", Asgi}],
    %% Interleaved (one of each in turn), so all rows see the same background load.
    Times = lists:zip([Name || {Name, _} <- Rows],
                      [lists:sort(T) || T <- interleaved([F || {_, F} <- Rows], N)]),
    [{_, Base} | _] = Times,
    BaseMedian = median(Base),
    io:format("### Per request: 1 KiB POST echoed, one at a time (n=~b)~n~n", [N]),
    io:format("Targets: WSGI <= 5x, ASGI <= 10x the `py:call` no-op (median).~n~n"),
    io:format("| request | median | p90 | p99 | vs no-op (median) |~n|---|---|---|---|---|~n"),
    [io:format("| ~s | ~.1f us | ~.1f us | ~.1f us | ~.2fx |~n",
               [Name, median(T), pct(T, 0.9), pct(T, 0.99), median(T) / BaseMedian])
     || {Name, T} <- Times],
    ok = py_app:stop({asgi, <<"serve_bench_apps:asgi_echo">>}),
    %% Where the time goes: the thread hops alone, and the adapters + apps alone.
    Floor = fun() ->
                    Ref = make_ref(),
                    {ok, none} = py:call(serve_bench_apps, loop_floor, [self(), Ref]),
                    receive {Ref, _} -> ok end
            end,
    [Floor() || _ <- lists:seq(1, 500)],
    [FloorT, BaseT] = interleaved([Floor, Noop], N),
    FloorMedian = median(lists:sort(FloorT)),
    FloorBase = median(lists:sort(BaseT)),
    {ok, AsgiPy} = py:call(serve_bench_apps, time_asgi, [N div 2]),
    {ok, WsgiPy} = py:call(serve_bench_apps, time_wsgi, [N div 2]),
    io:format("~nWhere the time goes (medians): a pool call that hands a coroutine to a loop "
              "thread which sends one message back (the ASGI path with no adapter, no app): "
              "~.1f us (~.2fx the no-op); the ASGI adapter + echo app alone, on its loop: "
              "~.1f us; the WSGI adapter + echo app alone: ~.1f us.~n~n",
              [FloorMedian, FloorMedian / FloorBase, AsgiPy, WsgiPy]).

interleaved(Fs, N) ->
    Rounds = [[time_us(F) || F <- Fs] || _ <- lists:seq(1, N)],
    [[lists:nth(I, R) || R <- Rounds] || I <- lists:seq(1, length(Fs))].

time_us(F) ->
    T0 = erlang:monotonic_time(nanosecond),
    F(),
    (erlang:monotonic_time(nanosecond) - T0) / 1000.

echo(App, Body) ->
    {ok, Req} = py_request:start(App, #{method => <<"POST">>,
                                        headers => [{<<"content-type">>, <<"application/octet-stream">>},
                                                    {<<"content-length">>, <<"1024">>}]},
                                 #{content_length => byte_size(Body)}),
    ok = py_request:write_body(Req, Body),
    await_whole(Req, undefined).

await_whole(Req, Got) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_request:handle(Msg, Req),
            case whole(Events, Got) of
                {done, Body} -> Body;
                Got1 -> await_whole(Req1, Got1)
            end
    end.

whole([], Got) -> Got;
whole([{response, 200, _, Body} | Es], _) -> whole(Es, Body);
whole([done | _], Got) -> {done, Got};
whole([_ | Es], Got) -> whole(Es, Got).

%% ---- (b) bulk ------------------------------------------------------------------------------

bulk(Size, Rounds) ->
    Data = crypto:strong_rand_bytes(Size),
    Chunks = [binary:part(Data, I * ?MiB, ?MiB) || I <- lists:seq(0, Size div ?MiB - 1)],
    Opts = #{body_buffer => 4 * ?MiB, response_buffer => 4 * ?MiB},
    Copy = fun() -> _ = binary:copy(Data), ok end,
    Up = fun() -> up(Chunks, Size, Opts) end,
    Down = fun() -> down(Size, Opts) end,
    _ = [F() || F <- [Copy, Up, Down]],
    Res = [{Name, lists:sort([gbps(Size, F) || _ <- lists:seq(1, Rounds)])}
           || {Name, F} <- [{"`binary:copy/1` of the same bytes (memcpy), baseline", Copy},
                            {"up: Erlang `write_body` 1 MiB chunks -> WSGI `readinto` (1 MiB)", Up},
                            {"down: WSGI generator 1 MiB chunks -> Erlang `read_response(Req, 1 MiB)`", Down}]],
    [{_, Base} | _] = Res,
    io:format("### Bulk: ~b MiB through an app, bounded buffers (4 MiB each)~n~n", [Size div ?MiB]),
    io:format("Median of ~b rounds (min-max). Target: >= 2 GB/s each way.~n~n", [Rounds]),
    io:format("| direction | throughput | vs memcpy |~n|---|---|---|~n"),
    [io:format("| ~s | ~.2f GB/s (~.2f-~.2f) | ~.2f |~n",
               [Name, median(T), hd(T), lists:last(T), median(T) / median(Base)])
     || {Name, T} <- Res],
    io:format("~n").

gbps(Size, F) ->
    T0 = erlang:monotonic_time(nanosecond),
    ok = F(),
    Size / (erlang:monotonic_time(nanosecond) - T0).

up(Chunks, Size, Opts) ->
    {ok, Req} = py_request:start({wsgi, <<"serve_bench_apps:wsgi_sink">>}, #{method => <<"POST">>},
                                 Opts#{content_length => Size}),
    Expect = integer_to_binary(Size),
    up_loop(Req, Chunks, Expect).

up_loop(Req, [C | Cs], Expect) ->
    case py_request:write_body(Req, C) of
        ok -> up_loop(Req, Cs, Expect);
        {partial, Rest} -> up_wait(Req, [Rest | Cs], Expect)
    end;
up_loop(Req, [], Expect) ->
    up_wait(Req, [], Expect).

up_wait(Req, Chunks, Expect) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_request:handle(Msg, Req),
            case {lists:member(body_writable, Events), Events} of
                {_, [{response, 200, _, Expect} | _]} -> up_wait(Req1, Chunks, Expect);
                {_, [done]} when Chunks =:= [] -> ok;
                {true, _} when Chunks =/= [] -> up_loop(Req1, Chunks, Expect);
                _ -> up_wait(Req1, Chunks, Expect)
            end
    end.

down(Size, Opts) ->
    {ok, Req} = py_request:start({wsgi, <<"serve_bench_apps:wsgi_source">>},
                                 #{query_string => integer_to_binary(Size div ?MiB)},
                                 Opts#{content_length => 0}),
    down_wait(Req, Size, 0).

down_wait(Req, Size, Got) ->
    receive
        Msg ->
            {ok, Events, Req1} = py_request:handle(Msg, Req),
            Got1 = case lists:member(response_readable, Events) of
                       true -> drain(Req1, Got);
                       false -> Got
                   end,
            case lists:member(done, Events) of
                true -> Size = drain(Req1, Got1), ok;
                false -> down_wait(Req1, Size, Got1)
            end
    end.

drain(Req, Got) ->
    case py_request:read_response(Req, ?MiB) of
        {ok, Bin} -> drain(Req, Got + byte_size(Bin));
        wait -> Got;
        eof -> Got
    end.

median(Sorted) -> lists:nth((length(Sorted) + 1) div 2, Sorted).
pct(Sorted, P) -> lists:nth(max(1, round(P * length(Sorted))), Sorted).
