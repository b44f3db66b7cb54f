%% @doc The chunked transfer coding of a request body (RFC 9112 §7.1), decoded incrementally:
%% the connection feeds whatever bytes arrived ({@link decode/2}) and gets the body's data
%% out of them, so a body is handed on as it arrives, whatever the sizes of its chunks and of
%% the socket's reads.
%%
%% mochiweb's decoder (`mochiweb_request:stream_body/5') refused valid chunk extensions
%% (`5;name=value': a recipient MUST ignore them, §7.1.1), accepted sizes that are not hex
%% digits (`+3', `3 zzz'), and ended the trailers only at a line that is exactly CR LF, so a
%% body ending `0\r\n\n' made it read the next pipelined request as trailer lines. Here:
%% <ul>
%% <li>a size line is 1 to 15 hex digits, then nothing or (after optional spaces or tabs)
%%     `;' and extensions, which are ignored;</li>
%% <li>chunk data is followed by exactly CR LF;</li>
%% <li>lines end with CR LF or a bare LF (§2.2 allows both), and are at most ?MAX_LINE
%%     bytes; trailer lines are dropped (each must be a field: hold a `:'), at most
%%     ?MAX_TRAILERS bytes of them.</li>
%% </ul>
%% Anything else is `bad_chunk'.
%% ```
%% D0 = py_serve_chunked:new(),
%% {more, [<<"hel">>], D1} = py_serve_chunked:decode(<<"5;x=y\r\nhel">>, D0),
%% {done, [<<"lo">>], <<"GET">>} = py_serve_chunked:decode(<<"lo\r\n0\r\nA: b\n\r\nGET">>, D1),
%% {error, bad_chunk} = py_serve_chunked:decode(<<"+5\r\n">>, D0).
%% '''
-module(py_serve_chunked).

-export([new/0, decode/2]).
-export_type([decoder/0]).

-define(MAX_TRAILERS, 65536).
%% The longest size or trailer line, its end included (the socket's buffer bounded it when
%% lines were read with `{packet, line}').
-define(MAX_LINE, 65536).
%% Hex digits of a chunk size: 15 is up to 2^60 - 1 bytes, beyond any body limit.
-define(MAX_SIZE_DIGITS, 15).

%% Where the decoder is: in a size line (its bytes so far), in chunk data (bytes left), at
%% the CR LF after the data (its bytes so far), in the trailers (bytes of the trailer lines
%% so far, and of the current line).
-opaque decoder() :: {size, binary()} | {data, pos_integer()} | {data_end, binary()}
                   | {trailers, non_neg_integer(), binary()}.

%% @doc A decoder at the start of a body.
-spec new() -> decoder().
new() ->
    {size, <<>>}.

%% @doc Decodes the next bytes of a body: the chunk data in them (sub-binaries of `Bytes',
%% none empty) and either the decoder for the bytes that follow (`more') or, once the last
%% chunk and the trailers ended, the bytes after the body (`done': the next request's).
-spec decode(binary(), decoder()) ->
          {more, [binary()], decoder()} | {done, [binary()], binary()} | {error, bad_chunk}.
decode(Bytes, Decoder) ->
    decode(Bytes, Decoder, []).

decode(Bytes, {size, Acc}, Out) ->
    case line(Acc, Bytes) of
        {ok, Line, Rest} ->
            case chunk_size(Line) of
                {ok, 0} -> decode(Rest, {trailers, 0, <<>>}, Out);
                {ok, Size} -> decode(Rest, {data, Size}, Out);
                error -> {error, bad_chunk}
            end;
        {more, Acc1} ->
            {more, lists:reverse(Out), {size, Acc1}};
        error ->
            {error, bad_chunk}
    end;
decode(<<>>, {data, _} = Decoder, Out) ->
    {more, lists:reverse(Out), Decoder};
decode(Bytes, {data, Left}, Out) when byte_size(Bytes) < Left ->
    {more, lists:reverse(Out, [Bytes]), {data, Left - byte_size(Bytes)}};
decode(Bytes, {data, Left}, Out) ->
    <<Data:Left/binary, Rest/binary>> = Bytes,
    decode(Rest, {data_end, <<>>}, [Data | Out]);
decode(Bytes, {data_end, Acc}, Out) ->
    Need = 2 - byte_size(Acc),
    case Bytes of
        <<End:Need/binary, Rest/binary>> when <<Acc/binary, End/binary>> =:= <<"\r\n">> ->
            decode(Rest, {size, <<>>}, Out);
        <<_:Need/binary, _/binary>> ->
            {error, bad_chunk};
        _ when Acc =:= <<>>, Bytes =:= <<"\r">>; Bytes =:= <<>> ->
            {more, lists:reverse(Out), {data_end, <<Acc/binary, Bytes/binary>>}};
        _ ->
            {error, bad_chunk}
    end;
decode(Bytes, {trailers, Seen, Acc}, Out) ->
    case line(Acc, Bytes) of
        {ok, <<>>, Rest} ->
            {done, lists:reverse(Out), Rest};
        {ok, Line, Rest} when Seen + byte_size(Line) =< ?MAX_TRAILERS ->
            case binary:match(Line, <<":">>) of
                nomatch -> {error, bad_chunk};
                _ -> decode(Rest, {trailers, Seen + byte_size(Line), <<>>}, Out)
            end;
        {ok, _, _} ->
            {error, bad_chunk};
        {more, Acc1} ->
            {more, lists:reverse(Out), {trailers, Seen, Acc1}};
        error ->
            {error, bad_chunk}
    end.

%% A line: the bytes kept so far (`Acc') and the next ones, up to LF; without its LF or CR
%% LF.
line(Acc, Bytes) ->
    case binary:match(Bytes, <<"\n">>) of
        {Pos, 1} when byte_size(Acc) + Pos < ?MAX_LINE ->
            <<Part:Pos/binary, _, Rest/binary>> = Bytes,
            {ok, without_cr(<<Acc/binary, Part/binary>>), Rest};
        {_, 1} ->
            error;
        nomatch when byte_size(Acc) + byte_size(Bytes) < ?MAX_LINE ->
            {more, <<Acc/binary, Bytes/binary>>};
        nomatch ->
            error
    end.

without_cr(Line) ->
    case byte_size(Line) of
        N when N >= 1, binary_part(Line, N - 1, 1) =:= <<"\r">> -> binary_part(Line, 0, N - 1);
        _ -> Line
    end.

%% The chunk size of a size line.
chunk_size(Line) ->
    Digits = hex_digits(Line, 0),
    <<Hex:Digits/binary, Rest/binary>> = Line,
    case Digits > 0 andalso Digits =< ?MAX_SIZE_DIGITS andalso extensions(Rest) of
        true -> {ok, binary_to_integer(Hex, 16)};
        false -> error
    end.

hex_digits(Line, N) when N < byte_size(Line) ->
    case binary:at(Line, N) of
        C when C >= $0, C =< $9; C >= $a, C =< $f; C >= $A, C =< $F -> hex_digits(Line, N + 1);
        _ -> N
    end;
hex_digits(_Line, N) ->
    N.

%% What may follow the size: nothing, or optional whitespace then `;' and extensions.
extensions(<<>>) -> true;
extensions(<<C, Rest/binary>>) when C =:= $\s; C =:= $\t -> extensions(Rest);
extensions(<<$;, _/binary>>) -> true;
extensions(_) -> false.
