#!/usr/bin/env escript
%%! +sbwt medium
%% Ours against the seed's C implementation, side by side (issue 12). Prints one markdown
%% table with the median of each figure over N fresh VMs per implementation and the ratio.
%%
%%   SEED_DIR=/path/to/erlang_python escript benches/erlang/seed_compare.escript [quick] [writes | wake] [runs N]
%%   `writes': only the `write/2' rows (no Python); `wake': only the wake-latency rows. BEFORE_DIR=/dir (holding ebin/ and priv/ of
%%   another build of ours, e.g. the commit before a change) adds it as a third implementation,
%%   alternated with the other two, for before/after tables from one run; BEFORE_ENV="K=V ..."
%%   sets environment variables in its VMs only (BEFORE_DIR=nif BEFORE_ENV=PY_BUFFER_SPIN_US=0:
%%   our build against itself with another setting).
%%   (or `make bench-seed SEED_DIR=...`; SEED_DIR is the seed's application directory, the one
%%   holding ebin/ and priv/; docs/benchmarks.md says how to build it outside the repo)
%%
%% The driver runs this same script again in "measure" mode, alternately against the seed's
%% ebin and ours (nif/ebin), one fresh VM per run (the order flips every round so neither
%% always runs first), and reads back one Erlang term per run. Only the API both
%% implementations have is used: `py_buffer:new/0,1' (content length), `write/2', `close/1',
%% `py:context/1', `py:exec/2', `py:call/4'; the Python side is
%% benches/erlang/seed_compare_apps.py (`read(n)', `readline()', iteration, `find'). The one
%% difference, starting the application, is `start/1' below.
-mode(compile).

-define(KiB, 1024).
-define(MiB, 1048576).

main(["measure", Impl, Ebin | Rest]) ->
    measure(list_to_atom(Impl), Ebin, lists:member("quick", Rest), mode(Rest));
main(Args) ->
    drive(Args).

%% ---- driver ----------------------------------------------------------------------------

root() ->
    filename:dirname(filename:dirname(filename:dirname(filename:absname(escript:script_name())))).

drive(Args) ->
    Quick = lists:member("quick", Args),
    Runs = runs(Args, case Quick of true -> 3; false -> 5 end),
    SeedDir = case os:getenv("SEED_DIR") of
                  false -> "/work/seed-build/erlang_python";
                  "" -> "/work/seed-build/erlang_python";
                  D -> D
              end,
    SeedEbin = filename:join(SeedDir, "ebin"),
    OursEbin = filename:join([root(), "nif", "ebin"]),
    true = filelib:is_dir(SeedEbin) orelse error({no_seed_ebin, SeedEbin}),
    Before = case os:getenv("BEFORE_DIR") of
                 false -> [];
                 "" -> [];
                 B -> [{before, filename:join(B, "ebin")}]
             end,
    Mode = mode(Args),
    Impls = [{seed, SeedEbin}] ++ Before ++ [{ours, OursEbin}],
    Results = lists:foldl(
                fun(I, Acc) ->
                        Order = rotate(I, Impls),
                        lists:foldl(fun({Impl, Ebin}, A) ->
                                            io:format(standard_error, "run ~b/~b: ~s~n", [I, Runs, Impl]),
                                            R = run_one(Impl, Ebin, Quick, Mode),
                                            maps:update_with(Impl, fun(L) -> [R | L] end, [R], A)
                                    end, Acc, Order)
                end, #{}, lists:seq(1, Runs)),
    table(Results, Runs, SeedDir, Mode).

%% Which rows: all, only the `write/2' rows, or only the wake-latency rows.
mode(Args) ->
    case {lists:member("writes", Args), lists:member("wake", Args)} of
        {true, _} -> writes;
        {_, true} -> wake;
        _ -> all
    end.

in_mode(all, _) -> true;
in_mode(writes, Key) -> is_tuple(Key) andalso element(1, Key) =:= write;
in_mode(wake, Key) -> lists:member(Key, [wake_p50, wake_p99, busy_wake_p50, busy_wake_p99]).

%% Every implementation runs first, in turn (with two: the order flips every round).
rotate(I, Impls) ->
    {A, B} = lists:split(I rem length(Impls), Impls),
    B ++ A.

runs(["runs", N | _], _) -> list_to_integer(N);
runs([_ | Rest], D) -> runs(Rest, D);
runs([], D) -> D.

run_one(Impl, Ebin, Quick, Mode) ->
    Cmd = io_lib:format("escript ~s measure ~s ~s ~s ~s 2>&1",
                        [escript:script_name(), Impl, Ebin, case Quick of true -> "quick"; false -> "" end,
                         case Mode of all -> ""; _ -> Mode end]),
    Out = os:cmd(lists:flatten(Cmd)),
    Marker = "RESULT ",
    case string:find(Out, Marker, trailing) of
        nomatch -> error({measure_failed, Impl, Out});
        Tail ->
            {ok, Toks, _} = erl_scan:string(string:slice(Tail, length(Marker))),
            {ok, Term} = erl_parse:parse_term(Toks),
            maps:from_list(Term)
    end.

%% {Key, Label, Unit, Better}: Better = higher | lower.
rows() ->
    [{{stream, 65536}, "stream 64 MiB, 64 KiB writes, Python `read(65536)`", "GB/s", higher},
     {{stream, 4096}, "stream 64 MiB, 4 KiB writes, Python `read(4096)`", "GB/s", higher}]
    ++ [{{write, S}, io_lib:format("`write/2` of ~s, pre-sized buffer (per call)", [size_name(S)]), "ns", lower}
        || S <- write_sizes()]
    ++ [{find, "`find` of a 28-byte needle at the end of 64 MiB", "GB/s", higher},
        {read_loop, "`read(65536)` loop over a complete 64 MiB body", "GB/s", higher},
        {lines, "`for line in buf`, 64 MiB of 80-byte lines", "M lines/s", higher},
        {bytesio_lines, "(baseline) `for line in io.BytesIO(...)`, same data", "M lines/s", higher},
        {readline, "`readline()` per call, data ready", "ns", lower},
        {bytesio_readline, "(baseline) `io.BytesIO.readline()` per call", "ns", lower},
        {wake_p50, "wake latency Erlang -> Python `read(8)`, median", "us", lower},
        {wake_p99, "wake latency Erlang -> Python `read(8)`, p99", "us", lower},
        {busy_wake_p50, "same, both schedulers busy with other processes, median", "us", lower},
        {busy_wake_p99, "same, both schedulers busy with other processes, p99", "us", lower}].

table(Results, Runs, SeedDir, Mode) ->
    io:format("Seed: ~s. Median over ~b fresh VMs per implementation, run alternately; "
              "\"ours vs seed\" > 1 means ours is better (faster or lower).~n~n", [SeedDir, Runs]),
    io:format("| figure | seed (C) | ours | ours vs seed | ours, min-max |~n|---|---|---|---|---|~n"),
    Seed = maps:get(seed, Results),
    Ours = maps:get(ours, Results),
    Rows = [Row || {Key, _, _, _} = Row <- rows(), in_mode(Mode, Key)],
    [begin
         S = median([maps:get(Key, R) || R <- Seed]),
         OL = [maps:get(Key, R) || R <- Ours],
         O = median(OL),
         Ratio = case Better of higher -> O / S; lower -> S / O end,
         io:format("| ~s | ~s ~s | ~s ~s | ~.2fx | ~s-~s |~n",
                   [Label, num(S), Unit, num(O), Unit, Ratio, num(lists:min(OL)), num(lists:max(OL))])
     end || {Key, Label, Unit, Better} <- Rows],
    before_table(maps:get(before, Results, none), Seed, Ours, Rows),
    Mode =/= all orelse lines_summary(Seed, Ours).

%% Before (BEFORE_DIR) and after, both against the seed of the same run.
before_table(none, _, _, _) -> ok;
before_table(Before, Seed, Ours, Rows) ->
    io:format("~n| figure | seed (C) | before | before vs seed | after | after vs seed | after vs before |~n"
              "|---|---|---|---|---|---|---|~n"),
    [begin
         S = median([maps:get(Key, R) || R <- Seed]),
         B = median([maps:get(Key, R) || R <- Before]),
         O = median([maps:get(Key, R) || R <- Ours]),
         Q = fun(X, Y) -> case Better of higher -> X / Y; lower -> Y / X end end,
         io:format("| ~s | ~s ~s | ~s ~s | ~.2fx | ~s ~s | ~.2fx | ~.2fx |~n",
                   [Label, num(S), Unit, num(B), Unit, Q(B, S), num(O), Unit, Q(O, S), Q(O, B)])
     end || {Key, Label, Unit, Better} <- Rows],
    ok.

lines_summary(Seed, Ours) ->
    LinesVsBytesIO = fun(Rs) -> median([maps:get(lines, R) / maps:get(bytesio_lines, R) || R <- Rs]) end,
    RlVsBytesIO = fun(Rs) -> median([maps:get(readline, R) / maps:get(bytesio_readline, R) || R <- Rs]) end,
    io:format("~nLine iteration vs io.BytesIO (same VM): seed ~.2fx, ours ~.2fx (throughput ratio).~n",
              [LinesVsBytesIO(Seed), LinesVsBytesIO(Ours)]),
    io:format("`readline()` vs io.BytesIO.readline() (same VM): seed ~.2fx, ours ~.2fx (cost ratio).~n",
              [RlVsBytesIO(Seed), RlVsBytesIO(Ours)]).

num(X) when X >= 100 -> float_to_list(float(X), [{decimals, 0}]);
num(X) when X >= 10 -> io_lib:format("~.1f", [float(X)]);
num(X) -> io_lib:format("~.2f", [float(X)]).

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth((N + 1) div 2, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

size_name(S) when S < ?KiB -> io_lib:format("~b B", [S]);
size_name(S) -> io_lib:format("~b KiB", [S div ?KiB]).

write_sizes() -> [1, 16, 64, 256, 1024, 4096].

%% ---- one VM: measure -------------------------------------------------------------------

%% Starting the application is the one call that differs.
start(seed) ->
    {ok, _} = application:ensure_all_started(erlang_python),
    _ = py:start_contexts(),
    ok;
start(before) ->
    [true = os:putenv(K, V) || [K, V] <- [string:split(KV, "=") || KV <- string:lexemes(os:getenv("BEFORE_ENV", ""), " ")]],
    start(ours);
start(ours) ->
    {module, py_buffer} = code:ensure_loaded(py_buffer),
    ok.

measure(Impl, Ebin, Quick, writes) ->
    true = code:add_patha(Ebin),
    ok = start(Impl),
    Rounds = case Quick of true -> 3; false -> 5 end,
    Writes = [{{write, S}, med(Rounds, fun() -> write_cost(S, Quick) end)} || S <- write_sizes()],
    io:format("RESULT ~p.~n", [Writes]),
    halt(0);
measure(Impl, Ebin, Quick, wake) ->
    Ctx = python_started(Impl, Ebin),
    io:format("RESULT ~p.~n", [wake_rows(Ctx, Quick)]),
    halt(0);
measure(Impl, Ebin, Quick, all) ->
    Ctx = python_started(Impl, Ebin),
    Call = fun(F, A) -> {ok, R} = py:call(Ctx, seed_compare_apps, F, A), R end,
    Rounds = case Quick of true -> 3; false -> 5 end,
    Writes = [{{write, S}, med(Rounds, fun() -> write_cost(S, Quick) end)} || S <- write_sizes()],
    Streams = [{{stream, C}, med(Rounds, fun() -> stream(Ctx, C, 64 * ?MiB) end)} || C <- [65536, 4096]],
    Lines = lines_data(64 * ?MiB),
    {NLines, LinesNs} = best_of(Rounds, fun() -> filled(Lines, fun(B) -> Call(lines, [B]) end) end, min),
    {NLines, BioNs} = best_of(Rounds, fun() -> Call(bytesio_lines, [Lines]) end, min),
    RlCount = 100000,
    {RlCount, RlNs} = best_of(Rounds, fun() -> filled(Lines, fun(B) -> Call(readlines_each, [B, RlCount]) end) end, min),
    {RlCount, BioRlNs} = best_of(Rounds, fun() -> Call(bytesio_readlines_each, [Lines, RlCount]) end, min),
    Needle = <<"the needle: 28 bytes long!!\n">>,
    Hay = iolist_to_binary([Lines, Needle]),
    {_, FindNs} = best_of(Rounds, fun() -> filled(Hay, fun(B) -> Call(find, [B, Needle]) end) end, min),
    {_, ReadNs} = best_of(Rounds, fun() -> filled(Lines, fun(B) -> Call(read_loop, [B, 65536]) end) end, min),
    Result = Writes ++ Streams ++ wake_rows(Ctx, Quick) ++
        [{find, byte_size(Hay) / FindNs},
         {read_loop, byte_size(Lines) / ReadNs},
         {lines, NLines / LinesNs * 1000},
         {bytesio_lines, NLines / BioNs * 1000},
         {readline, RlNs / RlCount},
         {bytesio_readline, BioRlNs / RlCount}],
    io:format("RESULT ~p.~n", [Result]),
    halt(0).

%% The application started and a Python context that can import seed_compare_apps.
python_started(Impl, Ebin) ->
    true = code:add_patha(Ebin),
    ok = start(Impl),
    Ctx = py:context(1),
    Here = filename:join([root(), "benches", "erlang"]),
    ok = py:exec(Ctx, iolist_to_binary(["import sys; sys.path.insert(0, ",
                                        io_lib:format("~p", [Here]), ")"])),
    Ctx.

med(Rounds, F) ->
    _ = F(),
    median([F() || _ <- lists:seq(1, Rounds)]).

%% The round with the lowest (or highest) second element.
best_of(Rounds, F, min) ->
    hd(lists:keysort(2, [list_to_tuple(F()) || _ <- lists:seq(1, Rounds)])).

%% 64 MiB of 80-byte lines, as one binary.
lines_data(Size) ->
    Line = <<(binary:copy(<<"x">>, 79))/binary, "\n">>,
    binary:copy(Line, Size div 80).

%% A fresh, complete buffer holding `Data' (written in 64 KiB pieces), handed to `F'.
filled(Data, F) ->
    {ok, Buf} = py_buffer:new(),
    write_pieces(Buf, Data),
    ok = py_buffer:close(Buf),
    F(Buf).

write_pieces(Buf, Data) when byte_size(Data) > 65536 ->
    <<Piece:65536/binary, Rest/binary>> = Data,
    ok = py_buffer:write(Buf, Piece),
    write_pieces(Buf, Rest);
write_pieces(Buf, Data) ->
    ok = py_buffer:write(Buf, Data).

%% ns per `write/2' of `Size' bytes into a buffer pre-sized to the total (content length).
write_cost(Size, Quick) ->
    N = max(1000, min(case Quick of true -> 100000; false -> 200000 end, 64 * ?MiB div Size)),
    Bin = binary:copy(<<"y">>, Size),
    {ok, Buf} = py_buffer:new(N * Size),
    Self = self(),
    %% A fresh process, as a request handler would be.
    spawn_link(fun() ->
                       T0 = erlang:monotonic_time(),
                       ok = write_n(Buf, Bin, N),
                       T1 = erlang:monotonic_time(),
                       Self ! {done, erlang:convert_time_unit(T1 - T0, native, nanosecond)}
               end),
    receive {done, Ns} -> Ns / N end.

write_n(_Buf, _Bin, 0) -> ok;
write_n(Buf, Bin, N) ->
    ok = py_buffer:write(Buf, Bin),
    write_n(Buf, Bin, N - 1).

%% GB/s: Erlang writes `Size' bytes in `Chunk' pieces while Python loops on `read(Chunk)';
%% from the first write to the Python result (the Python call is started first).
stream(Ctx, Chunk, Size) ->
    Data = binary:copy(<<"z">>, 4 * ?MiB),
    Pieces = [binary:part(Data, (I * Chunk) rem (4 * ?MiB), Chunk) || I <- lists:seq(0, Size div Chunk - 1)],
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    spawn_link(fun() -> Self ! {drained, py:call(Ctx, seed_compare_apps, drain, [Buf, Chunk])} end),
    timer:sleep(20),
    T0 = erlang:monotonic_time(),
    [ok = py_buffer:write(Buf, P) || P <- Pieces],
    ok = py_buffer:close(Buf),
    receive {drained, {ok, Size}} -> ok end,
    Us = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond),
    Size / Us / 1000.

%% The wake-latency rows: on an idle VM, then with one busy process per scheduler (a loaded
%% server: the schedulers never give their CPUs up on their own).
wake_rows(Ctx, Quick) ->
    N = case Quick of true -> 500; false -> 1000 end,
    {P50, P99} = latency(Ctx, N),
    Busy = [spawn(fun Spin() -> _ = lists:seq(1, 100), Spin() end)
            || _ <- lists:seq(1, erlang:system_info(schedulers_online))],
    {BusyP50, BusyP99} = latency(Ctx, N),
    [exit(P, kill) || P <- Busy],
    [{wake_p50, P50}, {wake_p99, P99}, {busy_wake_p50, BusyP50}, {busy_wake_p99, BusyP99}].

%% Wake latency in us: median and p99 of `N' 8-byte stamps written 2 ms apart.
latency(Ctx, N) ->
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    spawn_link(fun() -> Self ! {lat, py:call(Ctx, seed_compare_apps, wake_latency, [Buf, N])} end),
    timer:sleep(20),
    [begin
         timer:sleep(2),
         ok = py_buffer:write(Buf, <<(os:system_time(nanosecond)):64>>)
     end || _ <- lists:seq(1, N)],
    {ok, Ns} = receive {lat, R} -> R end,
    Sorted = lists:sort(Ns),
    P = fun(Q) -> lists:nth(max(1, round(length(Sorted) * Q)), Sorted) / 1000 end,
    {P(0.5), P(0.99)}.
