%% Reduction accounting: a copying NIF call charges its measured cost
%% (nif/native/buffer/timeslice.rs: 1.25 ns per byte copied plus 300 ns, or 100 ns for the
%% common small write; 1% of a timeslice, 40 reductions, per 10 µs) beyond the one reduction
%% (250 ns) the BEAM counts for the call, so a loop of copies is preempted every ~1 ms; and no
%% call copies more than 256 KiB on a normal scheduler (the rest runs on a dirty one,
%% uncharged there). Reductions are counted with process_info/2, so the checks do not depend
%% on timing.
-module(py_buffer_timeslice_tests).

-include_lib("eunit/include/eunit.hrl").

-define(REDS_PER_US, 4).          % 4000 reductions ~ 1 ms
-define(COPY_PS_PER_BYTE, 1250).
-define(CALL_NS, 300).             % a call on the general path
-define(SMALL_WRITE_NS, 100).      % the common write: below 4 KiB, unbounded buffer
-define(CALL_REDUCTION_NS, 250).   % the BEAM's own reduction per call: charged only beyond it
-define(NORMAL_COPY_MAX, 262144).

reductions() ->
    {reductions, R} = process_info(self(), reductions),
    R.

%% Nanoseconds charged for a call of base cost Base copying Bytes (beyond the BEAM's count).
charge_ns(Base, Bytes) ->
    max(0, Base + Bytes * ?COPY_PS_PER_BYTE div 1000 - ?CALL_REDUCTION_NS).

%% Reductions charged for N calls copying Bytes each (at least; one more per call is the
%% BEAM's own count).
expected(N, Bytes) ->
    N * charge_ns(?CALL_NS, Bytes) * ?REDS_PER_US div 1000.

%% expected/2 for the common small write.
small_expected(N, Bytes) ->
    N * charge_ns(?SMALL_WRITE_NS, Bytes) * ?REDS_PER_US div 1000.

%% What copying Bytes more per call is charged for N calls: Fun(Size) runs one call copying
%% Size bytes; the difference between Bytes + 1 and 1 byte cancels the loop's own reductions.
copy_charge(N, Bytes, Fun) ->
    Small = charged(N, fun() -> Fun(1) end),
    Big = charged(N, fun() -> Fun(Bytes + 1) end),
    Big - Small.

%% The copy part of expected/2, allowing for the whole percents carried per scheduler.
copy_expected(N, Bytes) ->
    (expected(N, Bytes + 1) - expected(N, 1)) * 98 div 100 - 80.

%% Runs Fun N times; the reductions it took.
charged(N, Fun) ->
    R0 = reductions(),
    loop(N, Fun),
    reductions() - R0.

loop(0, _) -> ok;
loop(N, Fun) -> Fun(), loop(N - 1, Fun).

small_copies_are_charged_their_cost_test() ->
    {ok, B} = py_buffer:new(),
    Bins = #{1 => <<"x">>, 4001 => binary:copy(<<"x">>, 4001)},
    N = 2000,
    Charged = copy_charge(N, 4000, fun(Size) -> ok = py_buffer:write(B, map_get(Size, Bins)) end),
    %% A 1-byte write is within its one reduction: the difference is the 4001-byte charge.
    ?assertEqual(0, small_expected(N, 1)),
    Expected = small_expected(N, 4001),
    ?assert(Charged >= Expected * 98 div 100 - 80),
    ?assert(Charged =< Expected + 80).

%% A small write's debt is carried by the buffer written to (not the scheduler): a loop over
%% many buffers is still charged its cost, less at most the one percent (40 reductions) each
%% buffer may carry at the end.
small_writes_spread_over_buffers_are_charged_their_cost_test() ->
    Buffers = [begin {ok, B} = py_buffer:new(), B end || _ <- lists:seq(1, 10)],
    Bins = #{1 => <<"x">>, 4001 => binary:copy(<<"x">>, 4001)},
    Rounds = 200,
    Charged = copy_charge(Rounds, 4000,
                          fun(Size) ->
                                  [ok = py_buffer:write(B, map_get(Size, Bins)) || B <- Buffers]
                          end),
    Expected = small_expected(Rounds * length(Buffers), 4001),
    ?assert(Charged >= Expected - 40 * length(Buffers)),
    ?assert(Charged =< Expected + 40 * length(Buffers)).

%% A small write costs less than the reduction the BEAM counts for its call: nothing more is
%% charged. Against a loop around a NIF that charges nothing (`unsubscribe/1', a direct NIF),
%% a write loop takes the two reductions of write/2 and its call of the NIF instead of one
%% (OTP 25: 6 vs 4 per round of `loop/2'); charging each 1-byte write 300 ns, as before,
%% took 1.2 more.
writes_within_one_reduction_are_not_charged_test() ->
    {ok, B} = py_buffer:new(),
    N = 10000,
    Writes = charged(N, fun() -> ok = py_buffer:write(B, <<"x">>) end),
    NoOps = charged(N, fun() -> ok = py_buffer:unsubscribe(B) end),
    ?assert(Writes - NoOps >= 2 * N),
    ?assert(Writes - NoOps =< 2 * N + 40).

bounded_copies_are_charged_their_cost_test() ->
    {ok, B} = py_buffer:new(#{max_buffered => 4 * ?NORMAL_COPY_MAX}),
    Bins = #{1 => <<"y">>, 200001 => binary:copy(<<"y">>, 200001)},
    N = 20,
    %% Each round a write and a read (sharing the block, charged as a copy) of Size bytes.
    Charged = copy_charge(N, 200000, fun(Size) ->
                                             ok = py_buffer:write(B, map_get(Size, Bins)),
                                             {ok, _} = py_buffer:read(B, Size)
                                     end),
    ?assert(Charged >= 2 * copy_expected(N, 200000)).

reads_that_copy_are_charged_test() ->
    {ok, B} = py_buffer:new(),
    N = 2000,
    Bin = binary:copy(<<"z">>, 1001),
    [ok = py_buffer:write(B, Bin) || _ <- lists:seq(1, 2 * N)],
    Charged = copy_charge(N, 1000, fun(Size) -> {ok, _} = py_buffer:read(B, Size) end),
    ?assert(Charged >= copy_expected(N, 1000)).

%% The largest copy a normal scheduler makes costs less than a timeslice; larger ones go to a
%% dirty scheduler (seen by tracing the wrapper's call of the dirty NIF).
no_normal_scheduler_copy_takes_a_timeslice_test() ->
    ?assert(expected(1, ?NORMAL_COPY_MAX) < 4000),
    {ok, B} = py_buffer:new(#{max_buffered => 4 * ?NORMAL_COPY_MAX}),
    Max = binary:copy(<<"a">>, ?NORMAL_COPY_MAX),
    Over = binary:copy(<<"b">>, ?NORMAL_COPY_MAX + 1),
    ?assertEqual([], dirty_calls(fun() -> ok = py_buffer:write(B, Max) end)),
    ?assertEqual([write_dirty_nif], dirty_calls(fun() -> ok = py_buffer:write(B, Over) end)),
    %% A read that may copy more than the bound goes dirty too (the bound was 512 KiB).
    {ok, B2} = py_buffer:new(),
    [ok = py_buffer:write(B2, binary:copy(<<"c">>, 4000)) || _ <- lists:seq(1, 200)],
    ?assertEqual([], dirty_calls(fun() -> {ok, _} = py_buffer:read(B2, ?NORMAL_COPY_MAX) end)),
    ?assertEqual([read_dirty_nif], dirty_calls(fun() -> {ok, _} = py_buffer:read(B2, 300000) end)).

%% The dirty NIFs Fun called (traced).
dirty_calls(Fun) ->
    Self = self(),
    Tracer = spawn_link(fun() -> tracer(Self, []) end),
    Dirty = [{py_buffer, read_dirty_nif, 2}, {py_buffer, write_dirty_nif, 2}],
    [1 = erlang:trace_pattern(MFA, true, [local]) || MFA <- Dirty],
    1 = erlang:trace(self(), true, [call, {tracer, Tracer}]),
    try
        Fun()
    after
        erlang:trace(self(), false, [call]),
        [erlang:trace_pattern(MFA, false, [local]) || MFA <- Dirty]
    end,
    %% Trace messages from this process arrive before the tracer handles `done'.
    Tracer ! done,
    receive {traced, Calls} -> Calls after 10000 -> error(no_trace) end.

tracer(Parent, Acc) ->
    receive
        {trace, _, call, {py_buffer, F, _}} -> tracer(Parent, [F | Acc]);
        done -> Parent ! {traced, lists:reverse(Acc)}
    end.
