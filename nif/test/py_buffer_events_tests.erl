%% @doc EUnit tests of subscriptions to some kinds of messages only: `py_buffer:subscribe/3'
%% and the `events' option of `py_buffer:new/1' (what `py_request' uses for the body it
%% writes and the response it reads). Kinds left out are never sent, not even by
%% `activate/1'; bad kinds are `badarg'; the subscription still lets go of the buffer when
%% its body is over, `eof' asked for or not.
-module(py_buffer_events_tests).
-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [flush/0, next/0]).

%% A writer's subscription: its own bytes and its own close send nothing; the reader making
%% room after a refused write sends `writable', the reader closing sends `reader_closed'.
writer_events_only_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{max_buffered => 4, notify => self(),
                              events => [writable, reader_closed, demand]}),
    ?assertEqual({partial, <<"ef">>}, py_buffer:write(B, <<"abcdef">>)),
    ok = py_buffer:activate(B),
    ?assertEqual(none, next()),
    ?assertEqual({ok, <<"abcd">>}, py_buffer:read(B, 4)),
    ?assertEqual({py_buffer, B, writable}, receive M -> M after 1000 -> timeout end),
    ?assertEqual(ok, py_buffer:write(B, <<"ef">>)),
    ok = py_buffer:close(B),
    ok = py_buffer:activate(B),
    ?assertEqual(none, next()),
    ok = py_buffer:close_reader(B),
    ?assertEqual({py_buffer, B, reader_closed}, receive M2 -> M2 after 1000 -> timeout end),
    ?assertEqual(none, next()).

%% A reader's subscription through subscribe/3: `readable' and `eof' as with subscribe/2,
%% and no `demand' for its own wait.
reader_events_only_test() ->
    flush(),
    {ok, B} = py_buffer:new(),
    ok = py_buffer:subscribe(B, self(), [readable, eof]),
    ?assertEqual(none, next()),
    ?assertEqual({error, eagain}, py_buffer:read(B, 10)),
    ok = py_buffer:write(B, <<"x">>),
    ?assertEqual({py_buffer, B, readable}, receive M -> M after 1000 -> timeout end),
    ok = py_buffer:close(B),
    ?assertEqual({py_buffer, B, eof}, receive M1 -> M1 after 1000 -> timeout end),
    ok = py_buffer:activate(B),
    Got = lists:sort([receive M2 -> M2 after 1000 -> timeout end,
                      receive M3 -> M3 after 1000 -> timeout end]),
    ?assertEqual([{py_buffer, B, eof}, {py_buffer, B, readable}], Got),
    ?assertEqual(none, next()),
    %% Subscribing again with subscribe/2 asks for every kind.
    ok = py_buffer:subscribe(B, self()),
    Again = lists:sort([receive M4 -> M4 after 1000 -> timeout end,
                        receive M5 -> M5 after 1000 -> timeout end,
                        receive M6 -> M6 after 1000 -> timeout end]),
    ?assertEqual([{py_buffer, B, demand}, {py_buffer, B, eof}, {py_buffer, B, readable}], Again).

bad_events_are_badarg_test() ->
    {ok, B} = py_buffer:new(),
    ?assertError(badarg, py_buffer:subscribe(B, self(), [readable, bogus])),
    ?assertError(badarg, py_buffer:subscribe(B, self(), readable)),
    ?assertError(badarg, py_buffer:subscribe(B, self(), [readable | eof])),
    ?assertError(badarg, py_buffer:subscribe(B, self(), [<<"eof">>])),
    ?assertError(badarg, py_buffer:new(#{notify => self(), events => [nope]})),
    ?assertError(badarg, py_buffer:new(#{notify => self(), events => eof})),
    %% No kind at all is a subscription that is never sent anything.
    ok = py_buffer:subscribe(B, self(), []),
    ok = py_buffer:write(B, <<"x">>),
    ok = py_buffer:close(B),
    ok = py_buffer:activate(B),
    ?assertEqual(none, next()).

%% 200 processes each write and close a subscribed buffer without `eof' among its kinds,
%% then exit without unsubscribing: every buffer is freed (the subscription's reference to
%% it is dropped when the body is over, not only at `eof''s message).
buffers_without_eof_subscribed_are_freed_test_() ->
    {timeout, 30, fun() ->
        Before = py_buffer:live_buffers(),
        Pids = [spawn_monitor(fun() ->
                                      {ok, B} = py_buffer:new(#{notify => self(),
                                                                events => [writable]}),
                                      ok = py_buffer:write(B, <<"body">>),
                                      ok = py_buffer:close(B)
                              end) || _ <- lists:seq(1, 200)],
        [receive {'DOWN', Ref, process, Pid, normal} -> ok end || {Pid, Ref} <- Pids],
        ?assertEqual(ok, py_buffer_test_helpers:await(
                           fun() -> py_buffer:live_buffers() =< Before end, 10000))
    end}.

%% Messages sent from a Python writer's thread: once unsubscribe/1 returns, none of the
%% subscription's messages is still on its way (one arriving later was seen hundreds of
%% times a run when the message was sent after the subscription's lock was released).
no_message_after_unsubscribe_returns_test_() ->
    {setup, fun py_buffer_test_helpers:setup/0, fun(_) -> ok end,
     {timeout, 60, fun no_message_after_unsubscribe_returns/0}}.

no_message_after_unsubscribe_returns() ->
    flush(),
    {ok, B} = py_buffer:new(),
    Self = self(),
    spawn_link(fun() -> Self ! {written, py:call(pyt_helpers, write_bytes_for, [B, 2])} end),
    {Rounds, Late} = subscribe_unsubscribe(B, 0, 0, erlang:monotonic_time(millisecond) + 1500),
    Written = receive {written, {ok, N}} -> N after 10000 -> timeout end,
    ?assert(is_integer(Written) andalso Written > 0),
    ?assert(Rounds > 100),
    ?assertEqual(0, Late).

subscribe_unsubscribe(B, Rounds, Late, End) ->
    case erlang:monotonic_time(millisecond) > End of
        true ->
            {Rounds, Late};
        false ->
            read_what_is_there(B),
            ok = py_buffer:subscribe(B),
            spin(200),
            ok = py_buffer:unsubscribe(B),
            flush_buffer(B),
            spin(2000),
            subscribe_unsubscribe(B, Rounds + 1, Late + flush_buffer(B), End)
    end.

read_what_is_there(B) ->
    case py_buffer:read(B, 1 bsl 20) of
        {ok, _} -> read_what_is_there(B);
        _ -> ok
    end.

spin(0) -> ok;
spin(N) -> spin(N - 1).

%% How many messages of `B' the mailbox holds (taking them).
flush_buffer(B) ->
    receive {py_buffer, B, _} -> 1 + flush_buffer(B) after 0 -> 0 end.
