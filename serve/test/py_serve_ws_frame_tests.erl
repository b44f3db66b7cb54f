%% @doc The WebSocket frame decoder fed in every way a socket may cut a client's bytes (a valid
%% stream gives the same events whatever the cut, a bad one the same error), each rule it
%% enforces, and the frames, close payloads and close codes the server sends.
-module(py_serve_ws_frame_tests).

-include_lib("eunit/include/eunit.hrl").

-define(KEY, <<16#37, 16#FA, 16#21, 16#3D>>).
-define(MAX, 1048576).

%% {A client's bytes, the events they decode to}.
streams() ->
    Bin126 = binary:copy(<<"0123456">>, 18),
    [{frame(1, 1, <<"hello">>), [{text, <<"hello">>}]},
     {<<(frame(1, 2, <<>>))/binary, (frame(1, 10, <<>>))/binary>>, [{binary, <<>>}, {pong, <<>>}]},
     %% fragmented, a ping and an empty fragment in between
     {<<(frame(0, 1, <<"Hel">>))/binary, (frame(1, 9, <<"are you there">>))/binary,
        (frame(0, 0, <<>>))/binary, (frame(1, 0, <<"lo">>))/binary>>,
      [{ping, <<"are you there">>}, {text, <<"Hello">>}]},
     %% a character split between two fragments
     {<<(frame(0, 1, <<"caf", 16#C3>>))/binary, (frame(1, 0, <<16#A9>>))/binary>>,
      [{text, <<"café"/utf8>>}]},
     {<<(frame(0, 2, Bin126))/binary, (frame(0, 0, <<0>>))/binary,
        (frame(1, 0, <<1, 2, 3>>))/binary>>,
      [{binary, <<Bin126/binary, 0, 1, 2, 3>>}]},
     %% what follows a close is ignored
     {<<(frame(1, 2, <<"x">>))/binary, (frame(1, 8, <<1000:16, "bye">>))/binary,
        (frame(1, 1, <<"late">>))/binary, "junk">>,
      [{binary, <<"x">>}, {close, {1000, <<"bye">>}}]},
     {frame(1, 8, <<>>), [{close, none}]},
     {frame(1, 8, <<4999:16, "é"/utf8>>), [{close, {4999, <<"é"/utf8>>}}]}].

%% {A client's bytes, the error they fail with}.
bad() ->
    [{<<16#81, 5, "hello">>, {error, 1002, unmasked_frame}},
     {frame(1, 4, 1, <<"x">>), {error, 1002, reserved_bits}},
     {frame(1, 1, 2, <<"x">>), {error, 1002, reserved_bits}},
     {frame(1, 3, <<>>), {error, 1002, bad_opcode}},
     {frame(1, 11, <<>>), {error, 1002, bad_opcode}},
     {frame(0, 9, <<>>), {error, 1002, bad_control_frame}},
     {frame(1, 9, binary:copy(<<"p">>, 126)), {error, 1002, bad_control_frame}},
     {frame(1, 8, binary:copy(<<"c">>, 126)), {error, 1002, bad_control_frame}},
     {frame(1, 0, <<"x">>), {error, 1002, unexpected_continuation}},
     {<<(frame(0, 1, <<"a">>))/binary, (frame(1, 1, <<"b">>))/binary>>,
      {error, 1002, expected_continuation}},
     {<<(frame(0, 2, <<"a">>))/binary, (frame(1, 1, <<"b">>))/binary>>,
      {error, 1002, expected_continuation}},
     {<<16#82, 16#FF, 1:1, 0:63, ?KEY/binary>>, {error, 1002, bad_length}},
     {frame(1, 1, <<16#ED, 16#A0, 16#80>>), {error, 1007, invalid_utf8}},  % a surrogate
     {frame(1, 1, <<16#C0, 16#80>>), {error, 1007, invalid_utf8}},         % overlong
     {<<(frame(0, 1, <<"a">>))/binary, (frame(1, 0, <<16#C3>>))/binary>>,
      {error, 1007, invalid_utf8}},                                         % cut short
     {frame(1, 8, <<3>>), {error, 1002, bad_close_payload}},
     {frame(1, 8, <<1005:16>>), {error, 1002, bad_close_code}},
     {frame(1, 8, <<999:16>>), {error, 1002, bad_close_code}},
     {frame(1, 8, <<5000:16>>), {error, 1002, bad_close_code}},
     {frame(1, 8, <<1000:16, 16#FF>>), {error, 1007, invalid_utf8}}].

every_cut_gives_the_same_events_test() ->
    lists:foreach(fun({Wire, Events}) ->
                          [?assertEqual(Events, feed(Pieces), Pieces) || Pieces <- cuts(Wire)]
                  end, streams()).

bad_frames_fail_whatever_the_cut_test() ->
    lists:foreach(fun({Wire, Error}) ->
                          [?assertEqual(Error, feed(Pieces), Pieces) || Pieces <- cuts(Wire)]
                  end, bad()).

lengths_round_trip_test() ->
    lists:foreach(
      fun(Length) ->
              Payload = << <<(I rem 251)>> || I <- lists:seq(1, Length) >>,
              Wire = client(py_serve_ws_frame:encode(binary, Payload)),
              [?assertEqual([{binary, Payload}], feed(pieces(Wire, Size)), {Length, Size})
               || Size <- [7, 1000, byte_size(Wire)]]
      end, [0, 125, 126, 65535, 65536, 100000]).

messages_over_the_limit_fail_test() ->
    Feed = fun(Wire) -> feed([Wire], 10) end,
    ?assertEqual([{binary, <<0:80>>}], Feed(frame(1, 2, <<0:80>>))),
    ?assertEqual({error, 1009, message_too_big}, Feed(frame(1, 2, <<0:88>>))),
    ?assertEqual([{text, <<"abcdefghij">>}],
                 Feed(<<(frame(0, 1, <<"abcde">>))/binary, (frame(1, 0, <<"fghij">>))/binary>>)),
    ?assertEqual({error, 1009, message_too_big},
                 Feed(<<(frame(0, 1, <<"abcde">>))/binary, (frame(1, 0, <<"fghijk">>))/binary>>)),
    %% control frames are not messages
    ?assertEqual([{ping, <<0:1000>>}], Feed(frame(1, 9, <<0:1000>>))).

the_limit_is_checked_on_the_header_test() ->
    %% no key yet, nor any payload
    ?assertEqual({error, 1009, message_too_big},
                 py_serve_ws_frame:decode(<<16#82, 16#FF, (1 bsl 40):64>>, new())),
    {ok, [], D} = py_serve_ws_frame:decode(frame(0, 2, <<0:48>>), py_serve_ws_frame:new(10)),
    ?assertEqual({error, 1009, message_too_big}, py_serve_ws_frame:decode(<<16#80, 16#85>>, D)).

a_control_frame_between_fragments_comes_at_once_test() ->
    {ok, [{ping, <<"p">>}], D} =
        py_serve_ws_frame:decode(<<(frame(0, 1, <<"a">>))/binary, (frame(1, 9, <<"p">>))/binary>>,
                                 new()),
    ?assertMatch({ok, [{text, <<"ab">>}], _}, py_serve_ws_frame:decode(frame(1, 0, <<"b">>), D)).

nothing_is_decoded_after_a_close_test() ->
    {ok, [{close, none}], D} = py_serve_ws_frame:decode(frame(1, 8, <<>>), new()),
    ?assertMatch({ok, [], _}, py_serve_ws_frame:decode(<<16#81, 5, "hello">>, D)).

a_big_message_in_pieces_is_joined_once_test() ->
    Payload = binary:copy(<<"0123456789abcdef">>, 1048576),  % 16 MiB
    Pieces = pieces(client(py_serve_ws_frame:encode(text, Payload)), 65536),
    ?assertEqual([{text, Payload}], feed(Pieces, 16777216)).

encode_test() ->
    P125 = binary:copy(<<"a">>, 125),
    P126 = binary:copy(<<"b">>, 126),
    P65536 = binary:copy(<<"c">>, 65536),
    ?assertEqual(<<16#82, 0>>, encode(binary, <<>>)),
    ?assertEqual(<<16#82, 125, P125/binary>>, encode(binary, P125)),
    ?assertEqual(<<16#82, 126, 0, 126, P126/binary>>, encode(binary, P126)),
    ?assertEqual(<<16#82, 127, 0, 0, 0, 0, 0, 1, 0, 0, P65536/binary>>, encode(binary, P65536)),
    ?assertEqual(<<16#81, 2, "hi">>, encode(text, [<<"h">>, "i"])),
    ?assertEqual(<<16#89, 1, "p">>, encode(ping, <<"p">>)),
    ?assertEqual(<<16#8A, 0>>, encode(pong, <<>>)),
    ?assertEqual(<<16#88, 2, 3, 232>>, encode(close, py_serve_ws_frame:close_payload(1000, <<>>))).

close_payload_test() ->
    ?assertEqual(<<3, 232, "bye">>, py_serve_ws_frame:close_payload(1000, <<"bye">>)),
    E200 = binary:copy(<<"é"/utf8>>, 200),
    %% 61 two-byte characters fit in 123 bytes; with an ASCII one first, 123 bytes exactly
    ?assertEqual(<<1001:16, (binary:copy(<<"é"/utf8>>, 61))/binary>>,
                 py_serve_ws_frame:close_payload(1001, E200)),
    ?assertEqual(<<1001:16, "a", (binary:copy(<<"é"/utf8>>, 61))/binary>>,
                 py_serve_ws_frame:close_payload(1001, <<"a", E200/binary>>)),
    ?assertEqual(<<4000:16, (binary:copy(<<"𝄞"/utf8>>, 30))/binary>>,
                 py_serve_ws_frame:close_payload(4000, binary:copy(<<"𝄞"/utf8>>, 40))),
    ?assertEqual(125, byte_size(py_serve_ws_frame:close_payload(1000, binary:copy(<<"a">>, 200)))),
    ?assertError(badarg, py_serve_ws_frame:close_payload(1005, <<>>)).

valid_close_code_test() ->
    [?assert(py_serve_ws_frame:valid_close_code(C), C)
     || C <- [1000, 1001, 1002, 1003, 1007, 1010, 1014, 3000, 4999]],
    [?assertNot(py_serve_ws_frame:valid_close_code(C), C)
     || C <- [-1, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]].

the_module_doc_example_holds_test() ->
    D0 = py_serve_ws_frame:new(1048576),
    {ok, [], D1} = py_serve_ws_frame:decode(<<16#81, 16#82, 1>>, D0),
    {ok, [{text, <<"Hi">>}], _} =
        py_serve_ws_frame:decode(<<2, 3, 4, ($H bxor 1), ($i bxor 2)>>, D1),
    {error, 1002, unmasked_frame} = py_serve_ws_frame:decode(<<16#81, 2, "Hi">>, D0),
    <<16#81, 2, "Hi">> = iolist_to_binary(py_serve_ws_frame:encode(text, <<"Hi">>)).

%% ---- helpers ----

new() ->
    py_serve_ws_frame:new(?MAX).

encode(Kind, Payload) ->
    iolist_to_binary(py_serve_ws_frame:encode(Kind, Payload)).

%% A client's frame, masked with ?KEY, its length in the shortest form.
frame(Fin, Opcode, Payload) ->
    frame(Fin, 0, Opcode, Payload).

frame(Fin, Rsv, Opcode, Payload) ->
    Length = case byte_size(Payload) of
                 N when N < 126 -> <<1:1, N:7>>;
                 N when N < 65536 -> <<1:1, 126:7, N:16>>;
                 N -> <<1:1, 127:7, N:64>>
             end,
    <<Fin:1, Rsv:3, Opcode:4, Length/binary, ?KEY/binary, (mask(Payload))/binary>>.

%% A server's frame as a client would send it: the mask bit set, ?KEY, the payload masked.
client(Frame) ->
    <<B0, 0:1, Length:7, Rest/binary>> = iolist_to_binary(Frame),
    Extended = case Length of 126 -> 2; 127 -> 8; _ -> 0 end,
    <<Ext:Extended/binary, Payload/binary>> = Rest,
    <<B0, 1:1, Length:7, Ext/binary, ?KEY/binary, (mask(Payload))/binary>>.

%% XORed with ?KEY repeated, 4 KiB at a time as integers (not the module's way).
mask(Payload) ->
    iolist_to_binary([xor_key(Piece) || Piece <- pieces(Payload, 4096)]).

xor_key(Bytes) ->
    Bits = bit_size(Bytes),
    <<B:Bits>> = Bytes,
    <<K:Bits, _/bits>> = binary:copy(?KEY, byte_size(Bytes) div 4 + 1),
    <<(B bxor K):Bits>>.

pieces(Bytes, Size) when byte_size(Bytes) > Size ->
    <<Piece:Size/binary, Rest/binary>> = Bytes,
    [Piece | pieces(Rest, Size)];
pieces(Bytes, _Size) ->
    [Bytes].

%% The bytes in one piece, cut in two at every position, and one byte at a time.
cuts(Wire) ->
    Size = byte_size(Wire),
    [[Wire]]
        ++ [[binary_part(Wire, 0, N), binary_part(Wire, N, Size - N)]
            || N <- lists:seq(1, Size - 1)]
        ++ [pieces(Wire, 1)].

%% All the events of the pieces, or the error.
feed(Pieces) ->
    feed(Pieces, ?MAX).

feed(Pieces, Max) ->
    feed(Pieces, py_serve_ws_frame:new(Max), []).

feed([], _Decoder, Acc) ->
    lists:append(lists:reverse(Acc));
feed([Piece | Rest], Decoder, Acc) ->
    case py_serve_ws_frame:decode(Piece, Decoder) of
        {ok, Events, Decoder1} -> feed(Rest, Decoder1, [Events | Acc]);
        {error, _, _} = Error -> Error
    end.
