%% @doc The seed's buffer behaviours (`buffer-api.txt'), driven from Erlang: Erlang creates
%% and writes buffers, Python reads them through `py:call'. The Python side is
%% nif/test/python/pyt_helpers.py.
-module(py_seed_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [ctx/0]).

seed_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     [fun write_then_read_from_python/0,
      fun known_content_length_ends_the_body/0,
      fun readline_iteration_and_readlines/0,
      fun seek_and_tell/0,
      fun find_locates_substrings/0,
      fun memoryview_is_zero_copy_and_growth_while_held_succeeds/0,
      fun empty_closed_buffer_reads_empty/0,
      fun write_after_close_is_an_error/0,
      fun python_close_refuses_further_writes/0,
      fun nonblocking_reads_never_wait/0,
      fun io_flags_match_the_seed/0,
      fun asyncio_reader_awaits_while_erlang_writes_with_sleeps/0,
      fun erlang_writes_never_wait_for_the_gil/0,
      fun owner_killed_while_python_reads_raises_body_aborted/0,
      fun abort_reaches_a_blocked_python_reader/0,
      fun the_seeds_context_free_and_kwargs_forms_run/0]}.

new_closed(Body) ->
    {ok, Buf} = py_buffer:new(byte_size(Body)),
    ok = py_buffer:write(Buf, Body),
    ok = py_buffer:close(Buf),
    Buf.

write_then_read_from_python() ->
    {ok, Buf} = py_buffer:new(),
    ok = py_buffer:write(Buf, <<"chunk1">>),
    ok = py_buffer:write(Buf, <<"chunk2">>),
    ?assertEqual({ok, <<"chunk1">>}, py:eval(ctx(), <<"b.read(6)">>, #{b => Buf})),
    ok = py_buffer:close(Buf),
    ?assertEqual({ok, <<"chunk2">>}, py:eval(ctx(), <<"b.read()">>, #{b => Buf})),
    ?assertEqual({ok, <<>>}, py:eval(ctx(), <<"b.read()">>, #{b => Buf})).

known_content_length_ends_the_body() ->
    {ok, Buf} = py_buffer:new(4096),
    ok = py_buffer:write(Buf, binary:copy(<<"x">>, 4096)),
    %% No close/1: the content length arrived in full, so read() returns.
    ?assertEqual({ok, 4096}, py:eval(ctx(), <<"len(b.read())">>, #{b => Buf})).

readline_iteration_and_readlines() ->
    Buf = new_closed(<<"line1\nline2\nline3\nline4">>),
    ?assertEqual({ok, {<<"line1\n">>, <<"line2\n">>, [<<"line3\n">>, <<"line4">>]}},
                 py:call(pyt_helpers, lines_three_ways, [Buf])),
    Buf2 = new_closed(<<"a\nb\n">>),
    ?assertEqual({ok, [<<"a\n">>, <<"b\n">>]}, py:call(pyt_helpers, read_lines, [Buf2])).

seek_and_tell() ->
    Buf = new_closed(<<"0123456789abcdefghij">>),
    ?assertEqual({ok, [0, <<"01234">>, 5, 0, 10, <<"ab">>, 15, <<"fghij">>]},
                 py:call(pyt_helpers, seek_tell, [Buf])),
    ?assertMatch(#{read := 20}, py_buffer:info(Buf)).

find_locates_substrings() ->
    Buf = new_closed(<<"header\r\n--boundary\r\nbody\n">>),
    ?assertEqual({ok, [6, 8, -1, 0]},
                 py:call(pyt_helpers, find, [Buf, [{bytes, <<"\r\n">>}, {bytes, <<"--boundary">>},
                                                 {bytes, <<"missing">>}, {bytes, <<"h">>}]])),
    %% find() does not consume.
    ?assertMatch(#{read := 0}, py_buffer:info(Buf)).

memoryview_is_zero_copy_and_growth_while_held_succeeds() ->
    {ok, Buf} = py_buffer:new(),
    ok = py_buffer:write(Buf, <<"part one--b">>),
    ?assertEqual({ok, #{<<"readonly">> => true, <<"ndim">> => 1, <<"first">> => $p,
                        <<"slice">> => <<"rt ">>, <<"len">> => 11, <<"find">> => 8,
                        <<"before_find">> => <<"part one">>}},
                 py:call(ctx(), pyt_helpers, hold_view, [Buf])),
    %% The view is still held by Python: growing the buffer (small and large writes) works.
    Big = binary:copy(<<"y">>, 1 bsl 20),
    ok = py_buffer:write(Buf, <<"+small">>),
    ok = py_buffer:write(Buf, Big),
    ok = py_buffer:close(Buf),
    Expected = iolist_to_binary([<<"part one--b">>, <<"+small">>, Big]),
    ?assertEqual({ok, #{<<"unchanged">> => true, <<"view_len">> => 11,
                        <<"unread">> => byte_size(Expected), <<"all">> => Expected}},
                 py:call(ctx(), pyt_helpers, check_view, [Buf])).

empty_closed_buffer_reads_empty() ->
    {ok, Buf} = py_buffer:new(),
    ok = py_buffer:close(Buf),
    ?assertEqual({ok, #{<<"read">> => <<>>, <<"readline">> => <<>>, <<"readlines">> => [],
                        <<"at_eof">> => true, <<"len">> => 0, <<"readable_amount">> => 0}},
                 py:call(pyt_helpers, empty_and_closed, [Buf])),
    Buf0 = new_closed(<<>>),
    ?assertMatch({ok, #{<<"read">> := <<>>, <<"at_eof">> := true}},
                 py:call(pyt_helpers, empty_and_closed, [Buf0])).

write_after_close_is_an_error() ->
    Buf = new_closed(<<"done">>),
    ?assertEqual({error, closed}, py_buffer:write(Buf, <<"late">>)),
    ?assertEqual({ok, <<"done">>}, py:eval(ctx(), <<"b.read()">>, #{b => Buf})).

python_close_refuses_further_writes() ->
    {ok, Buf} = py_buffer:new(),
    ?assertEqual({ok, true}, py:call(pyt_helpers, close_from_python, [Buf])),
    ?assertEqual({error, reader_closed}, py_buffer:write(Buf, <<"x">>)).

nonblocking_reads_never_wait() ->
    {ok, Buf} = py_buffer:new(),
    ?assertEqual({ok, [0, <<>>, false]}, py:call(pyt_helpers, nonblocking, [Buf])),
    ok = py_buffer:write(Buf, <<"avail">>),
    ?assertEqual({ok, [5, <<"avail">>, false]}, py:call(pyt_helpers, nonblocking, [Buf])),
    ok = py_buffer:close(Buf),
    ?assertEqual({ok, [0, <<>>, true]}, py:call(pyt_helpers, nonblocking, [Buf])).

io_flags_match_the_seed() ->
    {ok, Buf} = py_buffer:new(),
    ?assertEqual({ok, [true, false, true, false]}, py:call(pyt_helpers, io_flags, [Buf])).

%% An asyncio reader awaiting the buffer (`aread1', no polling) while a spawned Erlang process
%% writes with sleeps in between.
asyncio_reader_awaits_while_erlang_writes_with_sleeps() ->
    Chunks = [binary:copy(<<I>>, 1000 * I) || I <- lists:seq(1, 10)],
    {ok, Buf} = py_buffer:new(),
    spawn(fun() ->
                  timer:sleep(20),
                  [begin ok = py_buffer:write(Buf, C), timer:sleep(5) end || C <- Chunks],
                  ok = py_buffer:close(Buf)
          end),
    ?assertEqual({ok, iolist_to_binary(Chunks)}, py:call(pyt_helpers, read_asyncio, [Buf])).

%% While a Python thread holds the GIL (inside one C call), Erlang writes to a buffer that an
%% asyncio reader awaits, and closes it: every write returns before the GIL is released, so
%% no write waited for it (the reader's wake-up goes through its event loop's own doorbell).
erlang_writes_never_wait_for_the_gil() ->
    Self = self(),
    {ok, Buf} = py_buffer:new(),
    spawn(fun() -> Self ! {reader, py:call(pyt_helpers, read_asyncio, [Buf])} end),
    wait_blocked(Buf),
    spawn(fun() -> Self ! {holder, py:call(py:context(2), pyt_helpers, hold_gil, [Self, 0.5])} end),
    receive <<"holding the gil">> -> ok end,
    Chunks = [binary:copy(<<I>>, 100 * I) || I <- lists:seq(1, 100)],
    [ok = py_buffer:write(Buf, C) || C <- Chunks],
    ok = py_buffer:close(Buf),
    %% All writes returned while the GIL was still held.
    receive {holder, _} -> error(writes_waited_for_the_gil) after 0 -> ok end,
    ?assertEqual({ok, <<"released">>}, receive {holder, H} -> H end),
    ?assertEqual({ok, iolist_to_binary(Chunks)}, receive {reader, R} -> R end).

%% The owner dies while Python is blocked in read(): the body is aborted, Python gets
%% BodyAborted, and py:call returns it as a python_error.
owner_killed_while_python_reads_raises_body_aborted() ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, Buf} = py_buffer:new(),
                          ok = py_buffer:write(Buf, <<"partial">>),
                          Self ! {buf, Buf},
                          receive never -> ok end
                  end),
    Buf = receive {buf, B} -> B end,
    Caller = spawn(fun() -> Self ! {result, py:call(pyt_helpers, read_and_report, [Buf])} end),
    wait_blocked(Buf),
    exit(Owner, kill),
    Result = receive {result, R} -> R after 5000 -> timeout end,
    ?assertMatch({error, {python_error, <<"py_buffer.BodyAborted">>, _, _}}, Result),
    {error, {python_error, _, Message, _}} = Result,
    ?assertMatch({match, _}, re:run(Message, "owner_down")),
    _ = Caller.

abort_reaches_a_blocked_python_reader() ->
    {ok, Buf} = py_buffer:new(),
    Self = self(),
    spawn(fun() -> Self ! {result, py:call(pyt_helpers, read_and_report, [Buf])} end),
    wait_blocked(Buf),
    ok = py_buffer:abort(Buf, client_gone),
    ?assertMatch({error, {python_error, <<"py_buffer.BodyAborted">>, _, _}},
                 receive {result, R} -> R after 5000 -> timeout end).

%% Waits until a Python reader is blocked in the buffer (the pool has a busy worker and the
%% buffer is still unread): a fixed sleep would make the test depend on timing.
wait_blocked(Buf) ->
    #{workers := {Threads, Idle}} = py:info(),
    case Threads > Idle andalso maps:get(read, py_buffer:info(Buf)) =:= 0 of
        true -> timer:sleep(20);
        false -> timer:sleep(2), wait_blocked(Buf)
    end.

%% The seed's own examples call `py:exec(Code)', `py:eval(Code)', `py:eval(Code, Locals)',
%% `py:call(M, F, Args, Kwargs)' and `py:call(M, F, Args, Kwargs, Timeout)', and pass `nil'
%% for None: they run as written.
the_seeds_context_free_and_kwargs_forms_run() ->
    ?assertEqual(ok, py:exec(<<"seed_x = 42">>)),
    ?assertEqual({ok, 42}, py:eval(<<"seed_x">>)),
    ?assertEqual({ok, 100}, py:eval(<<"x * y">>, #{x => 10, y => 10})),
    ?assertEqual({ok, 7}, py:eval(<<"x + 2">>, #{x => 5}, 5000)),
    ?assertEqual({ok, #{<<"a">> => 1, <<"b">> => <<"two">>}},
                 py:call(builtins, dict, [], #{a => 1, <<"b">> => <<"two">>})),
    ?assertEqual({ok, 3}, py:call(builtins, int, [<<"11">>], #{base => 2}, 5000)),
    ?assertEqual({error, timeout}, py:call(time, sleep, [2], #{}, 100)),
    ?assertEqual({ok, true}, py:eval(<<"v is None">>, #{v => nil})),
    %% The context forms are unchanged.
    ?assertEqual({ok, 4.0}, py:call(any, math, sqrt, [16])),
    ?assertError(badarg, py:eval(any, <<"1">>)).
