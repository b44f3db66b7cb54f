%% Reads that need more than `max_buffered' bytes complete.
%%
%% The deadlock they guard against: with `max_buffered', a read that needs more bytes than
%% the bound (a `read_all/1' of a longer body, a `readline/1' of a longer line, Python's
%% `read()') could never complete while the writer waited for room (`writable') that only a
%% completed read would make: `read_all/1' and `readline/1' returned `{error, eagain}'
%% forever and a Python `read()' in `py:eval' never returned. The core's set-aside (see
%% docs/decisions.md, Core) makes each `eagain' attempt give the writer room.
%%
%% No test sleeps: each drives writer and reader in one process (one subscriber per
%% buffer), or waits for messages with a deadline; a loop that makes no progress fails.
-module(py_buffer_bounded_read_tests).

-include_lib("eunit/include/eunit.hrl").

-define(BOUND, 16).
-define(DEADLINE, 5000).
%% A correct run needs a few dozen rounds; this many means nothing moves any more.
-define(MAX_ROUNDS, 10000).

read_all_of_a_body_longer_than_the_bound_test() ->
    Body = iolist_to_binary([<<I:8>> || I <- lists:seq(1, 4 * ?BOUND)]),
    {ok, B} = py_buffer:new(#{max_buffered => ?BOUND, notify => self()}),
    ?assertEqual([{ok, Body}], pump(B, Body, fun py_buffer:read_all/1, 1)),
    ?assertEqual({ok, <<>>}, py_buffer:read_all(B)).

readline_of_a_line_longer_than_the_bound_test() ->
    Line = <<(binary:copy(<<"a">>, 3 * ?BOUND))/binary, "\n">>,
    Body = <<Line/binary, "tail">>,
    {ok, B} = py_buffer:new(#{max_buffered => ?BOUND, notify => self()}),
    ?assertEqual([{ok, Line}, {ok, <<"tail">>}], pump(B, Body, fun py_buffer:readline/1, 2)),
    ?assertEqual(eof, py_buffer:readline(B)).

readline_with_a_limit_still_cuts_the_line_test() ->
    Line = <<(binary:copy(<<"b">>, 3 * ?BOUND))/binary, "\n">>,
    {ok, B} = py_buffer:new(#{max_buffered => ?BOUND, notify => self()}),
    Limit = 2 * ?BOUND,
    [{ok, First}] = pump(B, Line, fun(Buf) -> py_buffer:readline(Buf, Limit) end, 1),
    ?assertEqual(binary:part(Line, 0, Limit), First).

%% The bytes a waiting `read_all/1' left unread stay readable when the body then fails; the
%% read itself fails, and `info/1' counts them as buffered, not read.
read_all_then_abort_keeps_the_bytes_readable_test() ->
    {ok, B} = py_buffer:new(#{max_buffered => ?BOUND, notify => self()}),
    First = binary:copy(<<"x">>, ?BOUND),
    ok = py_buffer:write(B, First),
    {error, eagain} = py_buffer:read_all(B),
    Second = binary:copy(<<"y">>, ?BOUND),
    %% The waiting read gave the writer room: the next bound's worth fits.
    ?assertEqual(ok, py_buffer:write(B, Second)),
    {error, eagain} = py_buffer:read_all(B),
    ?assertMatch(#{read := 0, buffered := 32, eof := false}, py_buffer:info(B)),
    ok = py_buffer:abort(B, gone),
    ?assertEqual({error, {aborted, gone}}, py_buffer:read_all(B)),
    ?assertEqual({error, {aborted, gone}}, py_buffer:readline(B)),
    ?assertEqual({ok, <<First/binary, Second/binary>>}, py_buffer:read(B, 1000)),
    ?assertEqual({error, {aborted, gone}}, py_buffer:read(B, 1000)).

%% A truncated body: the same, with `{truncated, Expected, Got}'.
readline_then_truncated_keeps_the_bytes_readable_test() ->
    {ok, B} = py_buffer:new(#{max_buffered => ?BOUND, content_length => 100}),
    Part = binary:copy(<<"z">>, ?BOUND),
    ok = py_buffer:write(B, Part),
    {error, eagain} = py_buffer:readline(B),
    ok = py_buffer:write(B, Part),
    ok = py_buffer:close(B),
    ?assertEqual({error, {truncated, 100, 32}}, py_buffer:readline(B)),
    ?assertEqual({ok, <<Part/binary, Part/binary>>}, py_buffer:read(B, 1000)).

python_read_of_a_body_longer_than_the_bound_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     %% EUnit's timeout above our deadline, so a failed run still frees the Python worker.
     [{"read()", {timeout, 3 * ?DEADLINE div 1000,
                  fun() -> python_reads(<<"b.read()">>, body(64 * 1024)) end}},
      {"readline()", {timeout, 3 * ?DEADLINE div 1000,
                      fun() -> python_reads(<<"b.readline()">>,
                                            <<(body(8 * 1024))/binary, "\n">>) end}},
      {"Python sees what a waiting Erlang read left", fun python_sees_set_aside_bytes/0}]}.

%% The bytes a waiting Erlang `read_all/1' set aside stay in the buffer, unread: a Python
%% reader of the same buffer gets them (nothing is held on the Erlang side).
python_sees_set_aside_bytes() ->
    {ok, B} = py_buffer:new(#{max_buffered => ?BOUND}),
    Part = binary:copy(<<"p">>, ?BOUND),
    ok = py_buffer:write(B, Part),
    {error, eagain} = py_buffer:read_all(B),
    ok = py_buffer:write(B, Part),
    ?assertEqual({ok, <<Part/binary, Part/binary>>},
                 py:eval(py:context(1), <<"b.read_nonblock(1000)">>, #{b => B})).

body(N) -> binary:part(binary:copy(<<"0123456789abcdef">>, N div 16 + 1), 0, N).

%% Python reads `Body' (from a buffer bounded to 1 KiB) while this process writes it,
%% waiting for `writable' whenever a write is partial.
python_reads(Code, Body) ->
    {ok, B} = py_buffer:new(#{max_buffered => 1024, notify => self()}),
    Self = self(),
    spawn_link(fun() -> Self ! {python, py:eval(py:context(1), Code, #{b => B})} end),
    try
        ok = write_all(B, Body),
        ok = py_buffer:close(B),
        ?assertEqual({ok, Body},
                     receive {python, R} -> R after ?DEADLINE -> error(python_never_returned) end)
    after
        %% Frees the Python worker if it is still blocked (a failed run).
        _ = py_buffer:abort(B, test_over)
    end.

write_all(B, Data) ->
    case py_buffer:write(B, Data) of
        ok -> ok;
        {partial, Rest} ->
            ok = py_buffer:activate(B),
            wait_writable(B),
            write_all(B, Rest)
    end.

wait_writable(B) ->
    receive
        {py_buffer, B, writable} -> ok;
        {py_buffer, B, _Other} -> wait_writable(B)
    after ?DEADLINE -> error(never_writable)
    end.

%% Writes `Body' into `B' (closing it after the last byte) while reading it with `Read',
%% in one process; returns the first `Want' successful results.
pump(B, Body, Read, Want) ->
    pump(B, Body, Read, Want, [], 0).

pump(_B, _Rest, _Read, 0, Acc, _Round) ->
    lists:reverse(Acc);
pump(_B, _Rest, _Read, _Want, Acc, ?MAX_ROUNDS) ->
    error({no_progress, lists:reverse(Acc)});
pump(B, Rest, Read, Want, Acc, Round) ->
    Rest1 = case Rest of
                closed -> closed;
                _ -> case py_buffer:write(B, Rest) of
                         ok -> ok = py_buffer:close(B), closed;
                         {partial, More} -> More
                     end
            end,
    case Read(B) of
        {ok, Bin} ->
            pump(B, Rest1, Read, Want - 1, [{ok, Bin} | Acc], Round + 1);
        {error, eagain} ->
            ok = py_buffer:activate(B),
            receive {py_buffer, B, _} -> ok
            after ?DEADLINE -> error({deadlock, lists:reverse(Acc)})
            end,
            pump(B, Rest1, Read, Want, Acc, Round + 1);
        Other ->
            error({unexpected, Other})
    end.
