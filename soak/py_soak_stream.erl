%% @doc One soak stream: a writer (`py_soak_writer') and a reader (`py_soak_reader') on one
%% buffer, the stream's fault injected, and every byte accounted for.
%%
%% The checks, each a failure when it does not hold: the reader's bytes are the first bytes
%% written, exactly (count and CRC-32); `py_buffer:info/1' agrees with the writer's count
%% (`written') and the reader's (`read'); the reader ended as the fault says (`eof' when there
%% is none); and the bytes written are the bytes read plus those dropped, where only a
%% deliberate fault may drop any (a reader that closed early, a reader that timed out, or a
%% `py:call' timed out whose result never came: all its bytes count as dropped).
%%
%% The stream runs in a process of its own (see `py_soak_workers'), so the buffer is freed
%% when it ends: nothing of it stays referenced.
-module(py_soak_stream).
-export([run/1]).

-type result() :: #{written := non_neg_integer(), read := non_neg_integer(),
                    dropped := non_neg_integer()}.
-export_type([result/0]).

%% @doc Runs the stream `Spec' (made by `py_soak_workers'); `{ok, Result}' or
%% `{failed, What}'.
-spec run(map()) -> {ok, result()} | {failed, term()}.
run(#{stall_ms := StallMs} = Spec) ->
    Writer = py_soak_writer:start(self(), Spec),
    WriterMon = monitor(process, Writer),
    Buf = receive {soak_buffer, Writer, B} -> B
          after StallMs -> exit(Writer, kill), exit({no_buffer, Spec})
          end,
    Reader = py_soak_reader:start(self(), Buf, Spec#{writer => Writer}),
    ReaderMon = monitor(process, Reader),
    {Written, Read} = drive(Spec, Writer, WriterMon, Reader, ReaderMon),
    check(Spec, Buf, Written, Read).

%% Waits for both sides, ending the body as the fault says; returns the writer's count and
%% the reader's report.
drive(#{fault := owner_kill} = Spec, Writer, WriterMon, Reader, ReaderMon) ->
    Written = wait({soak_paused, Writer}, WriterMon, Spec),
    exit(Writer, kill),
    receive {'DOWN', WriterMon, process, Writer, killed} -> ok
    after maps:get(stall_ms, Spec) -> exit(owner_not_killed)
    end,
    {Written, wait({soak_read, Reader}, ReaderMon, Spec)};
drive(#{fault := Fault} = Spec, Writer, WriterMon, Reader, ReaderMon)
  when Fault =:= read_timeout; Fault =:= call_timeout ->
    Read = wait({soak_read, Reader}, ReaderMon, Spec),
    How = case Fault of read_timeout -> close; call_timeout -> abort end,
    Writer ! {soak_finish, How},
    {wait({soak_written, Writer}, WriterMon, Spec), Read};
drive(Spec, Writer, WriterMon, Reader, ReaderMon) ->
    Read = wait({soak_read, Reader}, ReaderMon, Spec),
    {wait({soak_written, Writer}, WriterMon, Spec), Read}.

%% The message `{Tag, Pid, Value}'; a side that died first, or a wait beyond `stall_ms', makes
%% the stream exit (the worker reports it as a failure).
wait({Tag, Pid}, Mon, #{stall_ms := StallMs}) ->
    receive
        {Tag, Pid, Value} -> Value;
        {'DOWN', Mon, process, Pid, Reason} -> exit({Tag, died, Reason})
    after StallMs ->
        exit({Tag, stalled})
    end.

check(#{fault := Fault} = Spec, Buf, Written, ReaderReport) ->
    Info = py_buffer:info(Buf),
    {Outcome, Read, Crc} = case ReaderReport of
                               {call, {error, timeout}} when Fault =:= call_timeout ->
                                   {call_timeout, 0, erlang:crc32(<<>>)};
                               Other -> Other
                           end,
    Expected = expected_outcomes(Fault),
    Failures =
        [{outcome, Outcome, expected, Expected} || not lists:member(Outcome, Expected)]
        ++ [{written, Written, info, maps:get(written, Info)} || maps:get(written, Info) =/= Written]
        ++ [{read, Read, info, maps:get(read, Info)}
            || Fault =/= call_timeout, maps:get(read, Info) =/= Read]
        ++ [{read_beyond_written, Read, Written} || Read > Written]
        ++ [{crc, Read} || Read =< Written, Crc =/= py_soak_pattern:crc(Read)]
        ++ [{dropped_without_fault, Written - Read} || Fault =:= none, Read =/= Written],
    case Failures of
        [] -> {ok, #{written => Written, read => Read, dropped => Written - Read}};
        _ -> {failed, #{spec => maps:without([writer], Spec), failures => Failures,
                        reader => ReaderReport, info => Info}}
    end.

%% How the reader ends under each fault. The stream orders the steps so each fault has one
%% outcome: the writer ends a `read_timeout' or `call_timeout' body only after the reader
%% reported, and a reader closing early has a `limit' below what the writer means to write.
expected_outcomes(none) -> [eof];
expected_outcomes(abort) -> [aborted];
expected_outcomes(owner_kill) -> [aborted];
expected_outcomes(reader_close) -> [closed];
expected_outcomes(read_timeout) -> [timeout];
expected_outcomes(call_timeout) -> [call_timeout].
