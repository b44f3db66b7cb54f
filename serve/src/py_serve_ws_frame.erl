%% @doc The WebSocket frame format (RFC 6455 §5) on the server's side: the frames a client
%% sends, decoded incrementally ({@link decode/2}: the connection feeds whatever bytes
%% arrived, cut anywhere, and gets the whole messages and control frames in them), and the
%% frames the server sends ({@link encode/2}). Pure functions: no process, no socket.
%%
%% A client may send anything, so the decoder enforces what §5 requires of it and fails the
%% connection otherwise, with the close code to send (§7.4.1):
%% <ul>
%% <li>1002 (protocol error): a frame not masked (§5.1), RSV bits set (no extension is
%%     negotiated), an unknown opcode, a control frame fragmented or longer than 125 bytes
%%     (§5.5), a continuation without a message started or a new message before the last
%%     one's final fragment (§5.4), a 64-bit length with its top bit set (§5.2), a close
%%     payload of 1 byte or with a code an endpoint may not send (§5.5.1, §7.4);</li>
%% <li>1007 (invalid data): a text message, or a close reason, that is not UTF-8 (§8.1; the
%%     message is checked whole, so a character may be split between fragments);</li>
%% <li>1009 (too big): a message whose fragments add up to more than the decoder's limit,
%%     refused as soon as a frame's header says so: a client cannot make the decoder hold
%%     more than the limit and one header.</li>
%% </ul>
%% A data message is handed on whole, once its final fragment arrived; a control frame as
%% soon as it arrived, between fragments too. A frame's payload is unmasked as its pieces
%% arrive and kept as a list, joined once, when the message is whole. After a close frame
%% the client may send nothing (§5.5.1): the decoder returns the events up to the close and
%% ignores any bytes after it, then and in later calls.
%% ```
%% D0 = py_serve_ws_frame:new(1048576),
%% %% "Hi" from a client, masked with the key 1, 2, 3, 4, cut after its third byte
%% {ok, [], D1} = py_serve_ws_frame:decode(<<16#81, 16#82, 1>>, D0),
%% {ok, [{text, <<"Hi">>}], _} =
%%     py_serve_ws_frame:decode(<<2, 3, 4, ($H bxor 1), ($i bxor 2)>>, D1),
%% {error, 1002, unmasked_frame} = py_serve_ws_frame:decode(<<16#81, 2, "Hi">>, D0),
%% <<16#81, 2, "Hi">> = iolist_to_binary(py_serve_ws_frame:encode(text, <<"Hi">>)).
%% '''
-module(py_serve_ws_frame).

-export([new/1, decode/2, encode/2, close_payload/2, valid_close_code/1]).
-export_type([decoder/0, event/0]).

-define(CONTINUATION, 0).
-define(TEXT, 1).
-define(BINARY, 2).
-define(CLOSE, 8).
-define(PING, 9).
-define(PONG, 10).
%% The longest payload of a control frame (§5.5), and so of a close reason plus its code.
-define(MAX_CONTROL, 125).
%% Close codes (§7.4.1) of the errors.
-define(PROTOCOL_ERROR, 1002).
-define(INVALID_DATA, 1007).
-define(TOO_BIG, 1009).

-type event() :: {text, binary()} | {binary, binary()} | {ping, binary()} | {pong, binary()}
               | {close, none | {Code :: 1000..4999, Reason :: binary()}}.
%% A whole data message, a control frame's payload, or the client's close (its code and
%% reason, or none when its payload was empty).

-type error() :: {error, CloseCode :: 1002 | 1007 | 1009, Why :: atom()}.
-type kind() :: text | binary.
-type opcode() :: 0..15.
-type frame() :: {Fin :: 0..1, opcode()}.

%% The message being received: its kind, its size so far (the frame being read included) and
%% its payload's pieces so far, in reverse order; or none between messages.
-type message() :: none | {kind(), non_neg_integer(), [binary()]}.
%% Where the decoder is: in a header (its bytes so far), in a frame's payload (bytes left,
%% the key for the next byte, the unmasked pieces so far in reverse order), or past a close.
-type stage() :: {header, binary()}
               | {payload, frame(), non_neg_integer(), <<_:32>>, [binary()]}
               | closed.

-record(decoder, {max :: pos_integer(),
                  message = none :: message(),
                  stage = {header, <<>>} :: stage()}).
-opaque decoder() :: #decoder{}.

%% @doc A decoder at the start of a connection, for messages of at most `MaxMessage' bytes
%% (all the fragments' payloads together).
-spec new(MaxMessage :: pos_integer()) -> decoder().
new(MaxMessage) when is_integer(MaxMessage), MaxMessage > 0 ->
    #decoder{max = MaxMessage}.

%% @doc Decodes the next bytes from the client: the events they complete, in order, and the
%% decoder for the bytes that follow; or the error to close the connection with. After a
%% `{close, _}' event the rest of `Bytes', and the bytes of later calls, are ignored.
-spec decode(binary(), decoder()) -> {ok, [event()], decoder()} | error().
decode(Bytes, Decoder) ->
    decode(Bytes, Decoder, []).

-spec decode(binary(), decoder(), [event()]) -> {ok, [event()], decoder()} | error().
decode(_Bytes, #decoder{stage = closed} = D, Events) ->
    {ok, lists:reverse(Events), D};
decode(Bytes, #decoder{stage = {header, Buffer}} = D, Events) ->
    Data = case Buffer of
               <<>> -> Bytes;  % not copied: the usual case, a read starting with a frame
               _ -> <<Buffer/binary, Bytes/binary>>
           end,
    case header(Data, D) of
        {ok, D1, Rest} -> decode(Rest, D1, Events);
        more -> {ok, lists:reverse(Events), D#decoder{stage = {header, Data}}};
        {error, _, _} = Error -> Error
    end;
decode(<<>>, #decoder{stage = {payload, _, Left, _, _}} = D, Events) when Left > 0 ->
    {ok, lists:reverse(Events), D};
decode(Bytes, #decoder{stage = {payload, Frame, Left, Key, Parts}} = D, Events)
  when byte_size(Bytes) < Left ->
    Stage = {payload, Frame, Left - byte_size(Bytes), rotate(Key, byte_size(Bytes)),
             [unmask(Bytes, Key) | Parts]},
    {ok, lists:reverse(Events), D#decoder{stage = Stage}};
decode(Bytes, #decoder{stage = {payload, Frame, Left, Key, Parts}} = D, Events) ->
    <<Last:Left/binary, Rest/binary>> = Bytes,
    case frame_end(Frame, [unmask(Last, Key) | Parts], D#decoder{stage = {header, <<>>}}) of
        {ok, D1} -> decode(Rest, D1, Events);
        {ok, Event, D1} -> decode(Rest, D1, [Event | Events]);
        {error, _, _} = Error -> Error
    end.

%% A frame's header, checked as far as its bytes so far allow: the decoder reading its
%% payload, and the bytes after the header.
-spec header(binary(), decoder()) -> {ok, decoder(), binary()} | more | error().
header(<<Fin:1, Rsv:3, Opcode:4, Masked:1, Length:7, Rest/binary>>, D) ->
    case protocol_error(Fin, Rsv, Opcode, Masked, Length, D#decoder.message) of
        ok -> extended_length(Length, Rest, {Fin, Opcode}, D);
        Why -> {error, ?PROTOCOL_ERROR, Why}
    end;
header(_Data, _D) ->
    more.

%% What is wrong with a frame's first two bytes, if anything.
-spec protocol_error(0..1, 0..7, opcode(), 0..1, 0..127, message()) -> ok | atom().
protocol_error(Fin, Rsv, Opcode, Masked, Length, Message) ->
    if
        Rsv =/= 0 -> reserved_bits;
        Opcode > ?BINARY, Opcode < ?CLOSE; Opcode > ?PONG -> bad_opcode;
        Opcode >= ?CLOSE, Fin =:= 0; Opcode >= ?CLOSE, Length > ?MAX_CONTROL -> bad_control_frame;
        Masked =:= 0 -> unmasked_frame;
        Opcode =:= ?CONTINUATION, Message =:= none -> unexpected_continuation;
        Opcode < ?CLOSE, Opcode =/= ?CONTINUATION, Message =/= none -> expected_continuation;
        true -> ok
    end.

%% The payload length: 7 bits, or 126 then 16 bits, or 127 then 64 bits (the top one 0).
-spec extended_length(0..127, binary(), frame(), decoder()) ->
          {ok, decoder(), binary()} | more | error().
extended_length(126, <<Length:16, Rest/binary>>, Frame, D) ->
    frame_size(Length, Rest, Frame, D);
extended_length(127, <<0:1, Length:63, Rest/binary>>, Frame, D) ->
    frame_size(Length, Rest, Frame, D);
extended_length(127, <<1:1, _/bits>>, _Frame, _D) ->
    {error, ?PROTOCOL_ERROR, bad_length};
extended_length(Length, Rest, Frame, D) when Length < 126 ->
    frame_size(Length, Rest, Frame, D);
extended_length(_Length, _Rest, _Frame, _D) ->
    more.

%% A data frame's length added to its message's, refused beyond the limit.
-spec frame_size(non_neg_integer(), binary(), frame(), decoder()) ->
          {ok, decoder(), binary()} | more | error().
frame_size(Length, Rest, {_, Opcode} = Frame, D) when Opcode >= ?CLOSE ->
    masking_key(Rest, Frame, Length, D);
frame_size(Length, Rest, {_, Opcode} = Frame, #decoder{max = Max, message = Message} = D) ->
    {Kind, Size, Parts} = started(Opcode, Message),
    case Size + Length of
        Total when Total > Max -> {error, ?TOO_BIG, message_too_big};
        Total -> masking_key(Rest, Frame, Length, D#decoder{message = {Kind, Total, Parts}})
    end.

%% The message a data frame starts or continues.
-spec started(opcode(), message()) -> {kind(), non_neg_integer(), [binary()]}.
started(?TEXT, none) -> {text, 0, []};
started(?BINARY, none) -> {binary, 0, []};
started(?CONTINUATION, {_, _, _} = Message) -> Message.

-spec masking_key(binary(), frame(), non_neg_integer(), decoder()) ->
          {ok, decoder(), binary()} | more.
masking_key(<<Key:4/binary, Rest/binary>>, Frame, Length, D) ->
    {ok, D#decoder{stage = {payload, Frame, Length, Key, []}}, Rest};
masking_key(_Data, _Frame, _Length, _D) ->
    more.

%% A frame's whole payload (its pieces in reverse order): the event it makes, if any.
-spec frame_end(frame(), [binary()], decoder()) ->
          {ok, decoder()} | {ok, event(), decoder()} | error().
frame_end({_, ?CLOSE}, Parts, D) ->
    case close(join(Parts)) of
        {ok, Event} -> {ok, Event, D#decoder{stage = closed}};
        {error, _, _} = Error -> Error
    end;
frame_end({_, ?PING}, Parts, D) ->
    {ok, {ping, join(Parts)}, D};
frame_end({_, ?PONG}, Parts, D) ->
    {ok, {pong, join(Parts)}, D};
frame_end({0, _}, Parts, #decoder{message = {Kind, Size, Sofar}} = D) ->
    {ok, D#decoder{message = {Kind, Size, Parts ++ Sofar}}};
frame_end({1, _}, Parts, #decoder{message = {Kind, _, Sofar}} = D) ->
    case message(Kind, join(Parts ++ Sofar)) of
        {ok, Event} -> {ok, Event, D#decoder{message = none}};
        {error, _, _} = Error -> Error
    end.

-spec message(kind(), binary()) -> {ok, event()} | error().
message(text, Payload) ->
    case utf8(Payload) of
        true -> {ok, {text, Payload}};
        false -> {error, ?INVALID_DATA, invalid_utf8}
    end;
message(binary, Payload) ->
    {ok, {binary, Payload}}.

%% A close frame's payload: nothing, or a code an endpoint may send and a UTF-8 reason.
-spec close(binary()) -> {ok, event()} | error().
close(<<>>) ->
    {ok, {close, none}};
close(<<Code:16, Reason/binary>>) ->
    case {valid_close_code(Code), utf8(Reason)} of
        {false, _} -> {error, ?PROTOCOL_ERROR, bad_close_code};
        {true, false} -> {error, ?INVALID_DATA, invalid_utf8};
        {true, true} -> {ok, {close, {Code, Reason}}}
    end;
close(_OneByte) ->
    {error, ?PROTOCOL_ERROR, bad_close_payload}.

%% Whether bytes are UTF-8 (no surrogates, no overlong forms, nothing past U+10FFFF).
-spec utf8(binary()) -> boolean().
utf8(Bytes) ->
    is_binary(unicode:characters_to_binary(Bytes, utf8, utf8)).

%% Pieces (in reverse order) as one binary; a single piece as it is.
-spec join([binary()]) -> binary().
join([Part]) -> Part;
join(Parts) -> iolist_to_binary(lists:reverse(Parts)).

%% Bytes XORed with the key, its first byte with the key's first (`crypto:exor/2' over the
%% key repeated: about 1.6 ms a MiB under OTP 25, three times a binary comprehension's).
-spec unmask(binary(), <<_:32>>) -> binary().
unmask(Bytes, Key) ->
    Size = byte_size(Bytes),
    crypto:exor(Bytes, binary:part(binary:copy(Key, (Size + 3) div 4), 0, Size)).

%% The key for the byte `N' bytes further on.
-spec rotate(<<_:32>>, non_neg_integer()) -> <<_:32>>.
rotate(Key, N) ->
    Shift = N rem 4,
    <<Head:Shift/binary, Tail/binary>> = Key,
    <<Tail/binary, Head/binary>>.

%% @doc A frame from the server: final (FIN set), RSV bits 0, not masked, the payload's length
%% in its shortest form. A control frame's payload (`ping', `pong', `close') must be at most
%% 125 bytes; this is not checked ({@link close_payload/2} makes a close's).
-spec encode(Kind :: text | binary | ping | pong | close, Payload :: iodata()) -> iodata().
encode(Kind, Payload) ->
    [<<1:1, 0:3, (opcode(Kind)):4, (length_field(iolist_size(Payload)))/binary>>, Payload].

-spec opcode(text | binary | ping | pong | close) -> opcode().
opcode(text) -> ?TEXT;
opcode(binary) -> ?BINARY;
opcode(close) -> ?CLOSE;
opcode(ping) -> ?PING;
opcode(pong) -> ?PONG.

%% The mask bit (0), the 7 bits of the length, and the 16 or 64 bits that follow 126 or 127.
-spec length_field(non_neg_integer()) -> binary().
length_field(Length) when Length < 126 -> <<0:1, Length:7>>;
length_field(Length) when Length < 65536 -> <<0:1, 126:7, Length:16>>;
length_field(Length) -> <<0:1, 127:7, Length:64>>.

%% @doc A close frame's payload: the code, then as much of the UTF-8 reason as fits in 125
%% bytes, cut between two characters. A code an endpoint may not send raises `badarg'.
-spec close_payload(Code :: 1000..4999, Reason :: binary()) -> binary().
close_payload(Code, Reason) when is_binary(Reason) ->
    case valid_close_code(Code) of
        true -> <<Code:16, (truncate(Reason, ?MAX_CONTROL - 2))/binary>>;
        false -> erlang:error(badarg, [Code, Reason])
    end.

%% At most `Max' bytes of UTF-8, ending before a continuation byte (2#10xxxxxx).
-spec truncate(binary(), non_neg_integer()) -> binary().
truncate(Text, Max) when byte_size(Text) =< Max ->
    Text;
truncate(Text, Max) ->
    case binary:at(Text, Max) of
        Byte when Byte band 16#C0 =:= 16#80, Max > 0 -> truncate(Text, Max - 1);
        _ -> binary:part(Text, 0, Max)
    end.

%% @doc Whether an endpoint may send `Code' in a close frame (RFC 6455 §7.4.1 and the IANA
%% registry): 1000-1003 and 1007-1014 (not 1004, reserved, nor 1005, 1006 and 1015, which
%% only report a close to an app), and 3000-4999 (libraries' and apps' own).
-spec valid_close_code(integer()) -> boolean().
valid_close_code(Code) when Code >= 1000, Code =< 1003 -> true;
valid_close_code(Code) when Code >= 1007, Code =< 1014 -> true;
valid_close_code(Code) when Code >= 3000, Code =< 4999 -> true;
valid_close_code(_Code) -> false.
