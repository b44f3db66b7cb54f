%% @doc The records a WebSocket session's messages travel in between this server and the
%% Python side, through the request's two buffers: the client's messages in the body buffer,
%% the app's in the response buffer. A record is a kind (1 byte: 1 text, 2 bytes, 8 close,
%% the RFC 6455 opcodes), the payload's length (4 bytes, big-endian) and the payload (for a
%% close: the code, 2 bytes, and the reason). The Python side of this format is
%% `py_buffer.asgi_websocket'; the two must agree.
%%
%% The app's records are read from the response buffer in whatever pieces it gives, so the
%% reader is incremental:
%% ```
%% R0 = py_serve_ws_record:reader(),
%% {[], R1} = py_serve_ws_record:read(<<1, 0, 0, 0, 2, $h>>, R0),
%% {[{text, <<"hi">>}], R2} = py_serve_ws_record:read(<<$i>>, R1),
%% [<<1, 0, 0, 0, 2>>, <<"hi">>] = py_serve_ws_record:record(text, <<"hi">>).
%% '''
-module(py_serve_ws_record).

-export([record/2, reader/0, read/2]).
-export_type([kind/0, reader/0]).

-define(TEXT, 1).
-define(BYTES, 2).
-define(CLOSE, 8).

-type kind() :: text | binary | close.
%% What a record carries; `close' payloads are `<<Code:16, Reason/binary>>' (or empty).

-opaque reader() :: {Pending :: [binary()], Size :: non_neg_integer(),
                     Need :: pos_integer() | undefined}.
%% The bytes of a record not yet whole (in reverse order), their count, and the record's
%% size once its head is there: the bytes are joined once, when the record is whole.

%% @doc One record.
-spec record(kind(), binary()) -> iodata().
record(Kind, Payload) ->
    [<<(code(Kind)), (byte_size(Payload)):32>>, Payload].

%% @doc A reader with nothing read.
-spec reader() -> reader().
reader() ->
    {[], 0, undefined}.

%% @doc The records `Bytes' completes, in order, and the reader holding the rest. A kind that
%% is not one of the three raises `{bad_record, Kind}' (the Python side wrote it: a bug).
-spec read(binary(), reader()) -> {[{kind(), binary()}], reader()}.
read(Bytes, {Pending, Size, Need})
  when Need =:= undefined;  % fewer than a head's 5 bytes pending
       Size + byte_size(Bytes) >= Need ->
    split(iolist_to_binary(lists:reverse(Pending, [Bytes])), []);
read(Bytes, {Pending, Size, Need}) ->
    {[], {[Bytes | Pending], Size + byte_size(Bytes), Need}}.

-spec split(binary(), [{kind(), binary()}]) -> {[{kind(), binary()}], reader()}.
split(<<Code, Length:32, Payload:Length/binary, Rest/binary>>, Acc) ->
    split(Rest, [{kind(Code), Payload} | Acc]);
split(<<_Code, Length:32, _/binary>> = Rest, Acc) ->
    {lists:reverse(Acc), {[Rest], byte_size(Rest), 5 + Length}};
split(Rest, Acc) ->
    {lists:reverse(Acc), {[Rest || Rest =/= <<>>], byte_size(Rest), undefined}}.

-spec code(kind()) -> 1 | 2 | 8.
code(text) -> ?TEXT;
code(binary) -> ?BYTES;
code(close) -> ?CLOSE.

-spec kind(byte()) -> kind().
kind(?TEXT) -> text;
kind(?BYTES) -> binary;
kind(?CLOSE) -> close;
kind(Other) -> error({bad_record, Other}).
