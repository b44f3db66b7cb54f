#!/usr/bin/env escript
%%! +sbwt none
%% What a copying py_buffer NIF call costs, against what it charges in reductions: the
%% measurement behind `COPY_PS_PER_BYTE' (nif/native/buffer/timeslice.rs). Each size is
%% copied (`bench_write/3', mode copy) into one unbounded buffer until 400 MiB were written,
%% in a fresh VM, so the copies go to fresh memory as an unbounded buffer's blocks do.
%% Charged µs = reductions per call / 4 (a timeslice: 4000 reductions, ~1 ms).
%%
%% Run: make build-nif && escript benches/erlang/copy_cost.escript
-mode(compile).

main(_) ->
    io:setopts([{encoding, unicode}]),
    Root = filename:dirname(filename:dirname(filename:dirname(filename:absname(escript:script_name())))),
    true = code:add_patha(filename:join([Root, "nif", "ebin"])),
    {module, py_buffer} = code:ensure_loaded(py_buffer),
    io:format("| size | µs per call | ns per byte | charged µs per call |~n|---|---|---|---|~n"),
    [row(Size, 400) || Size <- [4000, 65536, 262144]],
    ok.

row(Size, TotalMiB) ->
    Bin = rand:bytes(Size),
    N = TotalMiB * 1048576 div Size,
    {ok, B} = py_buffer:new(),
    {reductions, R0} = process_info(self(), reductions),
    {Us, ok} = timer:tc(fun() -> loop(N, B, Bin) end),
    {reductions, R1} = process_info(self(), reductions),
    io:format("| ~p B | ~.2f | ~.3f | ~.2f |~n",
              [Size, Us / N, Us * 1000 / N / Size, (R1 - R0) / N / 4]).

loop(0, _B, _Bin) -> ok;
loop(N, B, Bin) ->
    ok = py_buffer:bench_write(B, Bin, copy),
    loop(N - 1, B, Bin).
