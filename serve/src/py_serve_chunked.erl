%% @doc A chunked request body (RFC 9112 §7.1) read from the socket, handed on in pieces.
%%
%% mochiweb's decoder (`mochiweb_request:stream_body/5') refused valid chunk extensions
%% (`5;name=value': a recipient MUST ignore them, §7.1.1), accepted sizes that are not hex
%% digits (`+3', `3 zzz'), and ended the trailers only at a line that is exactly CR LF, so a
%% body ending `0\r\n\n' made it read the next pipelined request as trailer lines. Here:
%% <ul>
%% <li>a size line is 1 to 15 hex digits, then nothing or (after optional spaces or tabs)
%%     `;' and extensions, which are ignored;</li>
%% <li>chunk data is followed by exactly CR LF;</li>
%% <li>lines end with CR LF or a bare LF (§2.2 allows both); trailer lines are read and
%%     dropped (each must be a field: hold a `:'), at most ?MAX_TRAILERS bytes of them.</li>
%% </ul>
%% Anything else is `bad_chunk'. Reads block the calling process (the connection's guard
%% closes the socket on a timeout, which ends them with `closed').
-module(py_serve_chunked).

-export([stream/4]).

-define(MAX_TRAILERS, 65536).
%% Hex digits of a chunk size: 15 is up to 2^60 - 1 bytes, beyond any body limit.
-define(MAX_SIZE_DIGITS, 15).

%% @doc Reads the body, calling `Fun({Size, Data}, State)' for each piece of at most `Piece'
%% bytes (`Fun' may throw to stop reading); returns the last state when the last chunk and
%% the trailers were read.
-spec stream(gen_tcp:socket(), pos_integer(), fun(({pos_integer(), binary()}, S) -> S), S) ->
          {ok, S} | {error, bad_chunk | closed}.
stream(Socket, Piece, Fun, State) ->
    case line(Socket) of
        {ok, Line} ->
            case chunk_size(Line) of
                {ok, 0} -> trailers(Socket, 0, State);
                {ok, Size} -> chunk(Socket, Size, Piece, Fun, State);
                error -> {error, bad_chunk}
            end;
        {error, _} = Error ->
            Error
    end.

chunk(Socket, 0, Piece, Fun, State) ->
    case recv(Socket, 2) of
        {ok, <<"\r\n">>} -> stream(Socket, Piece, Fun, State);
        {ok, _} -> {error, bad_chunk};
        {error, _} = Error -> Error
    end;
chunk(Socket, Left, Piece, Fun, State) ->
    Size = min(Left, Piece),
    case recv(Socket, Size) of
        {ok, Data} -> chunk(Socket, Left - Size, Piece, Fun, Fun({Size, Data}, State));
        {error, _} = Error -> Error
    end.

trailers(Socket, Bytes, State) ->
    case line(Socket) of
        {ok, <<>>} ->
            {ok, State};
        {ok, Line} when Bytes + byte_size(Line) =< ?MAX_TRAILERS ->
            case binary:match(Line, <<":">>) of
                nomatch -> {error, bad_chunk};
                _ -> trailers(Socket, Bytes + byte_size(Line), State)
            end;
        {ok, _} ->
            {error, bad_chunk};
        {error, _} = Error ->
            Error
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

%% One line without its CR LF (or bare LF); a line without an end (longer than the socket's
%% buffer, or cut by the connection's end) is `bad_chunk'.
line(Socket) ->
    case inet:setopts(Socket, [{packet, line}]) of
        ok ->
            Result = gen_tcp:recv(Socket, 0),
            _ = inet:setopts(Socket, [{packet, raw}]),
            case Result of
                {ok, Line} -> without_eol(Line);
                {error, _} -> {error, closed}
            end;
        {error, _} ->
            {error, closed}
    end.

without_eol(Line) ->
    case byte_size(Line) of
        N when N >= 2, binary_part(Line, N - 2, 2) =:= <<"\r\n">> ->
            {ok, binary_part(Line, 0, N - 2)};
        N when N >= 1, binary_part(Line, N - 1, 1) =:= <<"\n">> ->
            {ok, binary_part(Line, 0, N - 1)};
        _ ->
            {error, bad_chunk}
    end.

recv(Socket, Size) ->
    case gen_tcp:recv(Socket, Size) of
        {ok, Data} -> {ok, Data};
        {error, _} -> {error, closed}
    end.
