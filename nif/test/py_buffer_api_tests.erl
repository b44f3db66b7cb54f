%% Every function of py_buffer and every message, with exact results.
-module(py_buffer_api_tests).

-include_lib("eunit/include/eunit.hrl").

-import(py_buffer_test_helpers, [next/0, flush/0]).

seed_api_round_trip_test() ->
    {ok, B} = py_buffer:new(),
    ?assertEqual(ok, py_buffer:write(B, <<"chunk1">>)),
    ?assertEqual(ok, py_buffer:write(B, <<"chunk2">>)),
    ?assertEqual(ok, py_buffer:close(B)),
    ?assertEqual({error, closed}, py_buffer:write(B, <<"y">>)),
    ?assertEqual({ok, <<"chunk1chunk2">>}, py_buffer:read_all(B)).

new_with_undefined_is_unknown_length_test() ->
    {ok, B} = py_buffer:new(undefined),
    ?assertMatch(#{content_length := undefined, max_buffered := undefined}, py_buffer:info(B)).

new_with_content_length_ends_when_it_arrives_test() ->
    {ok, B} = py_buffer:new(4),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertMatch(#{ended := false}, py_buffer:info(B)),
    ok = py_buffer:write(B, <<"cd">>),
    ?assertMatch(#{ended := true, closed := false, eof := false}, py_buffer:info(B)),
    ?assertEqual({ok, <<"abcd">>}, py_buffer:read(B, 10)),
    ?assertEqual(eof, py_buffer:read(B, 10)),
    ?assertMatch(#{eof := true}, py_buffer:info(B)).

write_beyond_content_length_writes_nothing_test() ->
    {ok, B} = py_buffer:new(3),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertEqual({error, {overflow, 3, 5}}, py_buffer:write(B, <<"cde">>)),
    ?assertMatch(#{written := 2}, py_buffer:info(B)).

close_before_content_length_is_truncated_test() ->
    {ok, B} = py_buffer:new(5),
    ok = py_buffer:write(B, <<"ab">>),
    ok = py_buffer:close(B),
    ?assertEqual({error, {truncated, 5, 2}}, py_buffer:read_all(B)),
    ?assertEqual({ok, <<"ab">>}, py_buffer:read(B, 10)),
    ?assertEqual({error, {truncated, 5, 2}}, py_buffer:read(B, 10)).

new_with_options_map_test() ->
    Self = self(),
    {ok, B} = py_buffer:new(#{content_length => 10, max_buffered => 4, notify => Self,
                              owner => Self}),
    ?assertEqual(#{written => 0, read => 0, buffered => 0, retained => 0,
                   content_length => 10, max_buffered => 4, closed => false,
                   aborted => false, reader_closed => false, ended => false, eof => false,
                   demanded => false, owner => Self, subscriber => Self},
                 py_buffer:info(B)),
    {ok, B2} = py_buffer:new(#{}),
    ?assertMatch(#{owner := Self, subscriber := undefined}, py_buffer:info(B2)),
    {ok, B3} = py_buffer:new(#{content_length => undefined, max_buffered => undefined,
                               notify => undefined}),
    ?assertMatch(#{content_length := undefined, max_buffered := undefined}, py_buffer:info(B3)).

write_accepts_iodata_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, [<<"a">>, $b, [<<"cd">>, [$e]] | <<"f">>]),
    ok = py_buffer:write(B, []),
    ok = py_buffer:write(B, <<>>),
    ok = py_buffer:close(B),
    ?assertEqual({ok, <<"abcdef">>}, py_buffer:read_all(B)).

large_writes_are_read_back_exactly_test() ->
    {ok, B} = py_buffer:new(),
    Big = crypto_bytes(100000),
    Huge = crypto_bytes(3 * 1024 * 1024),
    ok = py_buffer:write(B, Big),
    ok = py_buffer:write(B, <<"small">>),
    ok = py_buffer:write(B, Huge),
    ok = py_buffer:write(B, [Big, Big]),
    ok = py_buffer:close(B),
    Expected = <<Big/binary, "small", Huge/binary, Big/binary, Big/binary>>,
    ?assertMatch(#{written := W} when W =:= byte_size(Expected), py_buffer:info(B)),
    ?assertEqual({ok, Expected}, py_buffer:read_all(B)).

large_sub_binary_is_written_exactly_test() ->
    Whole = crypto_bytes(200000),
    <<_:1000/binary, Part:50000/binary, _/binary>> = Whole,
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, Part),
    ok = py_buffer:close(B),
    ?assertEqual({ok, Part}, py_buffer:read_all(B)).

abort_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"abc">>),
    ?assertEqual(ok, py_buffer:abort(B, {client, disconnected})),
    ?assertEqual(ok, py_buffer:abort(B, other_reason)),
    ?assertEqual({error, {aborted, {client, disconnected}}}, py_buffer:write(B, <<"x">>)),
    ?assertEqual({error, {aborted, {client, disconnected}}}, py_buffer:close(B)),
    ?assertMatch(#{aborted := {client, disconnected}, ended := true}, py_buffer:info(B)),
    %% The bytes that arrived are still readable; then the error repeats.
    ?assertEqual({error, {aborted, {client, disconnected}}}, py_buffer:read_all(B)),
    ?assertEqual({ok, <<"abc">>}, py_buffer:read(B, 10)),
    ?assertEqual({error, {aborted, {client, disconnected}}}, py_buffer:read(B, 10)),
    ?assertEqual({error, {aborted, {client, disconnected}}}, py_buffer:readline(B)).

abort_after_close_is_an_error_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:close(B),
    ?assertEqual(ok, py_buffer:close(B)),
    ?assertEqual({error, closed}, py_buffer:abort(B, late)),
    ?assertMatch(#{closed := true, aborted := false}, py_buffer:info(B)).

info_counts_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"hello world">>),
    {ok, <<"hello">>} = py_buffer:read(B, 5),
    ?assertMatch(#{written := 11, read := 5, buffered := 6, retained := 11}, py_buffer:info(B)).

read_test() ->
    {ok, B} = py_buffer:new(),
    ?assertEqual({error, eagain}, py_buffer:read(B, 4)),
    ?assertEqual({ok, <<>>}, py_buffer:read(B, 0)),
    ok = py_buffer:write(B, <<"abcdef">>),
    ?assertEqual({ok, <<"abcd">>}, py_buffer:read(B, 4)),
    ?assertEqual({ok, <<"ef">>}, py_buffer:read(B, 4)),
    ?assertEqual({error, eagain}, py_buffer:read(B, 4)),
    ok = py_buffer:close(B),
    ?assertEqual(eof, py_buffer:read(B, 4)).

read_nonblock_is_read_test() ->
    {ok, B} = py_buffer:new(),
    ?assertEqual({error, eagain}, py_buffer:read_nonblock(B, 4)),
    ok = py_buffer:write(B, <<"abcdef">>),
    ?assertEqual({ok, <<"abcd">>}, py_buffer:read_nonblock(B, 4)),
    ok = py_buffer:close(B),
    ?assertEqual({ok, <<"ef">>}, py_buffer:read_nonblock(B, 4)),
    ?assertEqual(eof, py_buffer:read_nonblock(B, 4)).

readline_test() ->
    {ok, B} = py_buffer:new(),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    ok = py_buffer:write(B, <<"line 1\nline">>),
    ?assertEqual({ok, <<"line 1\n">>}, py_buffer:readline(B)),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    ok = py_buffer:write(B, <<" 2\nlong line\nrest">>),
    ?assertEqual({ok, <<"line 2\n">>}, py_buffer:readline(B)),
    ?assertEqual({ok, <<"long">>}, py_buffer:readline(B, 4)),
    ?assertEqual({ok, <<>>}, py_buffer:readline(B, 0)),
    ?assertEqual({ok, <<" line\n">>}, py_buffer:readline(B, infinity)),
    ?assertEqual({error, eagain}, py_buffer:readline(B)),
    ok = py_buffer:close(B),
    ?assertEqual({ok, <<"rest">>}, py_buffer:readline(B)),
    ?assertEqual(eof, py_buffer:readline(B)).

read_all_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"abc">>),
    ?assertEqual({error, eagain}, py_buffer:read_all(B)),
    ok = py_buffer:close(B),
    ?assertEqual({ok, <<"abc">>}, py_buffer:read_all(B)),
    ?assertEqual({ok, <<>>}, py_buffer:read_all(B)).

large_reads_test() ->
    {ok, B} = py_buffer:new(),
    Data = crypto_bytes(3 * 1024 * 1024 + 7),
    %% Written in pieces that are copied, so reads span several blocks.
    [ok = py_buffer:write(B, binary:part(Data, P, min(1000, byte_size(Data) - P)))
     || P <- lists:seq(0, byte_size(Data) - 1, 1000)],
    {ok, First} = py_buffer:read(B, 2 * 1024 * 1024),
    ?assertEqual(binary:part(Data, 0, 2 * 1024 * 1024), First),
    {ok, Line} = py_buffer:readline(B, 5000),
    ?assertEqual(binary:part(Data, 2 * 1024 * 1024, byte_size(Line)), Line),
    Done = 2 * 1024 * 1024 + byte_size(Line),
    ok = py_buffer:close(B),
    ?assertEqual({ok, binary:part(Data, Done, byte_size(Data) - Done)}, py_buffer:read_all(B)).

close_reader_test() ->
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"abc">>),
    ?assertEqual(ok, py_buffer:close_reader(B)),
    ?assertEqual(ok, py_buffer:close_reader(B)),
    ?assertEqual({error, reader_closed}, py_buffer:write(B, <<"d">>)),
    ?assertMatch(#{reader_closed := true, ended := true}, py_buffer:info(B)),
    ?assertEqual({ok, <<"abc">>}, py_buffer:read(B, 10)),
    ?assertEqual(eof, py_buffer:read(B, 10)).

bounded_write_returns_the_rest_test() ->
    {ok, B} = py_buffer:new(#{max_buffered => 4}),
    ?assertEqual({partial, <<"ef">>}, py_buffer:write(B, <<"abcdef">>)),
    ?assertEqual({partial, <<"gh">>}, py_buffer:write(B, <<"gh">>)),
    {ok, <<"abc">>} = py_buffer:read(B, 3),
    ?assertEqual({partial, <<"h">>}, py_buffer:write(B, [<<"e">>, <<"fgh">>])),
    ?assertEqual({ok, <<"defg">>}, py_buffer:read(B, 10)).

bounded_large_write_goes_through_the_dirty_path_test() ->
    Max = 1024 * 1024,
    {ok, B} = py_buffer:new(#{max_buffered => Max}),
    Data = crypto_bytes(Max + 100),
    {partial, Rest} = py_buffer:write(B, Data),
    ?assertEqual(binary:part(Data, Max, 100), Rest),
    {ok, Got} = py_buffer:read(B, Max),
    ?assertEqual(binary:part(Data, 0, Max), Got),
    ?assertEqual(ok, py_buffer:write(B, Rest)),
    ?assertEqual({ok, Rest}, py_buffer:read(B, Max)).

%% --- messages -----------------------------------------------------------------------

readable_is_sent_once_until_activate_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ?assertEqual(none, next()),
    ok = py_buffer:write(B, <<"a">>),
    ?assertEqual({py_buffer, B, readable}, next()),
    ok = py_buffer:write(B, <<"b">>),
    ?assertEqual(none, next()),
    %% Unread bytes are there: activate reports them at once.
    ok = py_buffer:activate(B),
    ?assertEqual({py_buffer, B, readable}, next()),
    {ok, <<"ab">>} = py_buffer:read(B, 10),
    ok = py_buffer:activate(B),
    ?assertEqual(none, next()),
    ok = py_buffer:write(B, <<"c">>),
    ?assertEqual({py_buffer, B, readable}, next()),
    ?assertEqual(none, next()).

eof_is_sent_on_close_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:close(B),
    ?assertEqual({py_buffer, B, eof}, next()),
    ?assertEqual(none, next()),
    ok = py_buffer:close(B),
    ?assertEqual(none, next()),
    %% The body is over: activate says so again.
    ok = py_buffer:activate(B),
    ?assertEqual({py_buffer, B, eof}, next()),
    ?assertEqual(none, next()).

eof_is_sent_when_content_length_arrives_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{content_length => 2, notify => self()}),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertEqual({py_buffer, B, readable}, next()),
    ?assertEqual({py_buffer, B, eof}, next()),
    ?assertEqual(none, next()).

eof_is_sent_on_abort_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:abort(B, gone),
    ?assertEqual({py_buffer, B, eof}, next()),
    ?assertEqual(none, next()).

reader_closed_is_sent_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:close_reader(B),
    ?assertEqual({py_buffer, B, reader_closed}, next()),
    ok = py_buffer:close_reader(B),
    ?assertEqual(none, next()),
    ok = py_buffer:activate(B),
    ?assertEqual({py_buffer, B, reader_closed}, next()),
    ?assertEqual(none, next()).

writable_is_sent_when_the_reader_makes_room_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{max_buffered => 2, notify => self()}),
    {partial, <<"c">>} = py_buffer:write(B, <<"abc">>),
    ?assertEqual({py_buffer, B, readable}, next()),
    {ok, <<"a">>} = py_buffer:read(B, 1),
    ?assertEqual({py_buffer, B, writable}, next()),
    ok = py_buffer:write(B, <<"c">>),
    ?assertEqual(none, next()),
    %% A refused write while writable is disarmed: activate reports the room made since.
    {partial, <<"d">>} = py_buffer:write(B, <<"d">>),
    {ok, <<"b">>} = py_buffer:read(B, 1),
    ?assertEqual(none, next()),
    ok = py_buffer:activate(B),
    ?assertEqual([{py_buffer, B, readable}, {py_buffer, B, writable}], [next(), next()]),
    ?assertEqual(none, next()).

writable_without_a_refused_write_is_not_sent_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{max_buffered => 10, notify => self()}),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertEqual({py_buffer, B, readable}, next()),
    {ok, <<"ab">>} = py_buffer:read(B, 2),
    ?assertEqual(none, next()).

subscribe_reports_what_already_holds_test() ->
    flush(),
    {ok, B} = py_buffer:new(),
    ok = py_buffer:write(B, <<"x">>),
    ok = py_buffer:close(B),
    ?assertEqual(none, next()),
    ok = py_buffer:subscribe(B),
    ?assertEqual([{py_buffer, B, readable}, {py_buffer, B, eof}], [next(), next()]),
    ?assertEqual(none, next()),
    ?assertMatch(#{subscriber := P} when P =:= self(), py_buffer:info(B)).

subscribe_another_process_test() ->
    flush(),
    Self = self(),
    Sub = spawn_link(fun() -> receive M -> Self ! {got, M} end end),
    {ok, B} = py_buffer:new(),
    ok = py_buffer:subscribe(B, Sub),
    ?assertMatch(#{subscriber := Sub}, py_buffer:info(B)),
    ok = py_buffer:write(B, <<"x">>),
    ?assertEqual({got, {py_buffer, B, readable}}, receive G -> G after 5000 -> timeout end),
    ?assertEqual(none, next()).

unsubscribe_stops_messages_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    ok = py_buffer:unsubscribe(B),
    ?assertMatch(#{subscriber := undefined}, py_buffer:info(B)),
    ok = py_buffer:write(B, <<"x">>),
    ok = py_buffer:close(B),
    ok = py_buffer:activate(B),
    ?assertEqual(none, next()).

a_new_subscriber_replaces_the_old_test() ->
    flush(),
    Other = spawn(fun() -> receive stop -> ok end end),
    {ok, B} = py_buffer:new(#{notify => Other}),
    ok = py_buffer:subscribe(B),
    ok = py_buffer:write(B, <<"x">>),
    ?assertEqual({py_buffer, B, readable}, next()),
    Other ! stop.

%% Edges caused on threads the BEAM does not manage (Python readers, Rust producers) are
%% sent from an OwnedEnv.
messages_from_foreign_threads_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{max_buffered => 2, notify => self()}),
    ?assertEqual({ok, 2}, py_buffer:test_on_thread(B, {write, <<"abc">>})),
    ?assertEqual({py_buffer, B, readable}, receive M1 -> M1 after 5000 -> timeout end),
    ?assertEqual({ok, 1}, py_buffer:test_on_thread(B, {read, 1})),
    ?assertEqual({py_buffer, B, writable}, receive M2 -> M2 after 5000 -> timeout end),
    ?assertEqual({ok, 0}, py_buffer:test_on_thread(B, close_reader)),
    ?assertEqual({py_buffer, B, reader_closed}, receive M3 -> M3 after 5000 -> timeout end),
    ?assertEqual({ok, 0}, py_buffer:test_on_thread(B, close)),
    ?assertEqual({py_buffer, B, eof}, receive M4 -> M4 after 5000 -> timeout end),
    ?assertEqual(none, next()).

%% A process waiting on messages consumes a body written by another process.
consumer_loop_test() ->
    flush(),
    {ok, B} = py_buffer:new(#{notify => self()}),
    Chunks = [integer_to_binary(N) || N <- lists:seq(1, 500)],
    spawn_link(fun() ->
                       [ok = py_buffer:write(B, [C, $\n]) || C <- Chunks],
                       ok = py_buffer:close(B)
               end),
    ?assertEqual(Chunks, consume_lines(B, [])).

consume_lines(B, Acc) ->
    case py_buffer:readline(B) of
        {ok, Line} ->
            consume_lines(B, [binary:part(Line, 0, byte_size(Line) - 1) | Acc]);
        eof ->
            lists:reverse(Acc);
        {error, eagain} ->
            ok = py_buffer:activate(B),
            receive {py_buffer, B, _} -> consume_lines(B, Acc)
            after 10000 -> erlang:error(no_message)
            end
    end.

controlling_process_test() ->
    Self = self(),
    {ok, B} = py_buffer:new(),
    Other = spawn_link(fun() -> receive stop -> ok end end),
    ?assertEqual(ok, py_buffer:controlling_process(B, Other)),
    ?assertMatch(#{owner := Other}, py_buffer:info(B)),
    ?assertEqual({error, not_owner}, py_buffer:controlling_process(B, Self)),
    ?assertEqual(ok, py_buffer:write(B, <<"still writable by anyone">>)),
    Other ! stop.

live_buffers_test() ->
    N = py_buffer:live_buffers(),
    ?assert(is_integer(N) andalso N >= 0).

crypto_bytes(N) ->
    rand:seed(exsss, {1, 2, 3}),
    rand:bytes(N).

%% Found by prop_py_buffer_statem: the doc said readers get {aborted, R} after an abort, but a
%% body whose content length arrived in full stays complete (the doc now says so).
abort_after_the_content_length_arrived_test() ->
    py_buffer_test_helpers:flush(),
    {ok, B} = py_buffer:new(#{content_length => 2, notify => self()}),
    ok = py_buffer:write(B, <<"ab">>),
    ?assertEqual({py_buffer, B, readable}, receive M1 -> M1 after 0 -> none end),
    ?assertEqual({py_buffer, B, eof}, receive M2 -> M2 after 0 -> none end),
    ?assertEqual(ok, py_buffer:abort(B, late)),
    ?assertEqual(none, receive M3 -> M3 after 0 -> none end),
    ?assertMatch(#{aborted := late, ended := true}, py_buffer:info(B)),
    ?assertEqual({ok, <<"ab">>}, py_buffer:read_all(B)),
    ?assertEqual(eof, py_buffer:read(B, 1)).
