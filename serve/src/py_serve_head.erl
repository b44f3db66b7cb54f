%% @doc A request head: read from the socket with Erlang's HTTP packet parser (the one
%% mochiweb uses, `{packet, http_bin}'), bounded, and checked for what that parser lets
%% through.
%%
%% == Reading ({@link read/1}) ==
%% The request line and the header lines come as binaries, every header line as it was sent
%% (a repeated header stays repeated, in order: the ASGI scope lists them as received), names
%% lower-cased, values without surrounding whitespace. Bounds: ?MAX_FIELDS header lines and
%% ?MAX_HEAD bytes of request line and headers together (431), a request line longer than
%% the socket's `buffer' (414); a major version other than 1 (`HTTP/2.0' sent as text) is a
%% 505; a line the parser cannot read is a 400 at once, not a
%% connection left waiting (mochiweb's own loop ignored such lines, so the client waited for
%% the header timeout and the connection process kept the line for 5 minutes). Empty lines
%% before the request line are skipped (RFC 9112 §2.2). The socket is in passive `raw' mode
%% again when a head is returned. A head whose first bytes came with the previous request's
%% body ({@link py_serve_ahead}) is parsed from those bytes with the same parser
%% (`erlang:decode_packet/3'), and what follows it is kept there for the body. Over TLS
%% every head is parsed that way, from the bytes the socket gives in raw mode
%% ({@link py_serve_socket:parses_heads/1}), with the same bounds.
%%
%% == Checks ({@link check/1}) ==
%% <ul>
%% <li>`bad_field_value': a header value holding CR, LF or NUL (RFC 9110 §5.5: reject or
%%     replace): the parser keeps the line break of a header folded onto the next line
%%     (obs-fold, RFC 9112 §5.2), which an app would otherwise see and could copy into a
%%     response;</li>
%% <li>`several_hosts': more than one `Host', and `no_host': none in an HTTP/1.1 request
%%     (RFC 9112 §3.2: a server MUST answer either with 400; HTTP/1.0 needs none).</li>
%% </ul>
%% Both are answered 400 with the connection closed, the app never called.
%% ```
%% ok = py_serve_head:check({1, 1}, [{<<"host">>, <<"a.example">>}]),
%% {error, several_hosts} = py_serve_head:check({1, 1}, [{<<"host">>, <<"a">>},
%%                                                      {<<"host">>, <<"b">>}]),
%% {error, no_host} = py_serve_head:check({1, 1}, []),
%% ok = py_serve_head:check({1, 0}, []).
%% '''
-module(py_serve_head).

-export([read/1, watch/1, arrived/1, arrived_raw/2, check/2, socket_buffer/0]).
-export_type([head/0, error/0]).

%% The most header lines in a request head, and the most bytes of request line and headers.
-define(MAX_FIELDS, 200).
-define(MAX_HEAD, 65536).
%% The socket's `buffer' while it reads heads: it bounds the lines its parser reads (a longer
%% request line is a 414), and so does ?MAX_LINE for a head read from bytes read ahead.
-define(SOCKET_BUFFER, 65536).
-define(MAX_LINE, ?SOCKET_BUFFER).

-type head() :: #{method := binary(), target := binary(),
                  version := {non_neg_integer(), non_neg_integer()},
                  headers := [{binary(), binary()}]}.
-type error() :: bad_field_value | several_hosts | no_host.

%% @doc The next request head on `Socket' (the caller's, in passive mode); `closed' when the
%% connection ended before one (or the guard closed it: the header timeout); `{error,
%% Status, Why}' for a head to answer `Status' (and close). The connection's guard ends a
%% wait for a head by closing the socket, after sending `{py_serve_guard, timeout, _}'.
-spec read(py_serve_socket:socket()) -> {ok, head()} | closed
                                | {error, 400 | 414 | 431 | 505, atom()}.
read(Socket) ->
    ok = unwatch_raw(Socket),
    case erase(py_serve_head_arrived) of
        undefined -> request_line(source(Socket));
        Packet -> line(source(Socket), Packet)
    end.

%% @doc Asks for the next request line while a request is still being served (its body read
%% to the end): the socket then reports the client's close (`{tcp_closed, Socket}'), and a
%% pipelined request line comes as `{http, Socket, Packet}', to be handed to {@link
%% arrived/1}; {@link read/1} goes on from there. So a client that leaves while its app
%% runs is seen at once, not at the first write that fails. When the next request's first
%% bytes were read already ({@link py_serve_ahead}) the socket's parser would start in their
%% middle, and a TLS socket does not parse heads: the socket is then watched in raw mode,
%% and what it sends, `{tcp, Socket, Bytes}' (`ssl' over TLS),
%% goes to {@link arrived_raw/2}, which keeps it with them (watching on while they are
%% under the socket's buffer, ?SOCKET_BUFFER bytes).
-spec watch(py_serve_socket:socket()) -> ok | {error, term()}.
watch(Socket) ->
    case py_serve_ahead:empty() andalso py_serve_socket:parses_heads(Socket) of
        true -> watch(Socket, http_bin, py_serve_head_watching);
        false -> watch(Socket, raw, py_serve_head_watching_raw)
    end.

watch(Socket, Packet, Flag) ->
    case mochiweb_socket:setopts(Socket, [{packet, Packet}, {active, once}]) of
        ok -> put(Flag, true), ok;
        Error -> Error
    end.

%% @doc Bytes a socket watched in raw mode sent ({@link watch/1}): kept for the next {@link
%% read/1}; the socket watched again while fewer than ?SOCKET_BUFFER bytes are kept. An
%% error is the connection's end (a TLS socket whose peer closed right after those bytes
%% says so here, not with a message).
-spec arrived_raw(py_serve_socket:socket(), binary()) -> ok | {error, term()}.
arrived_raw(Socket, Bytes) ->
    ok = py_serve_ahead:put(Bytes),
    case py_serve_ahead:size() < ?SOCKET_BUFFER of
        true -> mochiweb_socket:setopts(Socket, [{active, once}]);
        false -> ok
    end.

%% A socket watched in raw mode back in passive mode before a head is read, with the bytes
%% it delivered meanwhile kept.
unwatch_raw(Socket) ->
    case erase(py_serve_head_watching_raw) of
        true ->
            _ = mochiweb_socket:setopts(Socket, [{active, false}]),
            {Data, _Closed, _Error, Owner} = py_serve_socket:tags(Socket),
            receive
                {Data, Owner, Bytes} -> py_serve_ahead:put(Bytes)
            after 0 ->
                ok
            end;
        undefined ->
            ok
    end.

%% @doc The packet a watched socket sent ({@link watch/1}): the next {@link read/1} starts
%% with it.
-spec arrived(term()) -> ok.
arrived(Packet) ->
    erase(py_serve_head_watching),
    put(py_serve_head_arrived, Packet),
    ok.

%% Where the head's packets come from: the socket's parser, or (when bytes were read ahead,
%% see py_serve_ahead, and always over TLS) the same parser run on those bytes, then on what
%% the socket adds.
source(Socket) ->
    case {py_serve_ahead:take(), py_serve_socket:parses_heads(Socket)} of
        {<<>>, true} -> {socket, Socket};
        {Bytes, _} -> {bytes, Socket, Bytes}
    end.

%% The next packet of type `Type' (`http_bin', `httph_bin'): `{ok, Packet, Source}',
%% `{error, emsgsize}' for a line longer than the socket's buffer, or `closed'.
packet(Type, {socket, Socket} = Source) ->
    Armed = (Type =:= http_bin andalso erase(py_serve_head_watching) =:= true)
        orelse mochiweb_socket:setopts(Socket, [{packet, Type}, {active, once}]) =:= ok,
    case Armed of
        true ->
            receive
                {http, Socket, Packet} -> {ok, Packet, Source};
                {tcp_error, Socket, emsgsize} -> {error, emsgsize};
                {tcp_error, Socket, _} -> closed;
                {tcp_closed, Socket} -> closed;
                {py_serve_guard, timeout, _} -> closed  % the guard closed the socket
            end;
        false ->
            closed
    end;
packet(Type, {bytes, Socket, Bytes}) ->
    case erlang:decode_packet(Type, Bytes, []) of
        {ok, Packet, Rest} ->
            {ok, Packet, {bytes, Socket, Rest}};
        {more, _} when byte_size(Bytes) >= ?MAX_LINE ->
            {error, emsgsize};
        {more, _} ->
            case mochiweb_socket:recv(Socket, 0, infinity) of  % the guard's close ends it
                {ok, More} -> packet(Type, {bytes, Socket, <<Bytes/binary, More/binary>>});
                {error, _} -> closed
            end;
        {error, _} ->
            {ok, {http_error, Bytes}, {bytes, Socket, <<>>}}
    end.

%% The head is read: the socket is in passive raw mode, bytes read beyond the head are kept.
done({socket, Socket}) ->
    mochiweb_socket:setopts(Socket, [{packet, raw}]) =:= ok;
done({bytes, _Socket, Rest}) ->
    py_serve_ahead:put(Rest),
    true.

request_line(Source) ->
    case packet(http_bin, Source) of
        {ok, Packet, Source1} -> line(Source1, Packet);
        {error, emsgsize} -> {error, 414, request_line_too_long};
        closed -> closed
    end.

line(_Source, {http_request, _Method, _Target, {Major, _}}) when Major =/= 1 ->
    {error, 505, http_version_not_supported};  % RFC 9110 §15.6.6: HTTP/1.x only here
line(Source, {http_request, Method, Target, Version}) ->
    Line = #{method => text(Method), target => target(Target), version => Version},
    case byte_size(text(Method)) + 16 + byte_size(target(Target)) of
        Size when Size > ?MAX_LINE ->
            %% Parsed from bytes read at once (over TLS, or read ahead): the same bound as
            %% the socket's parser has.
            {error, 414, request_line_too_long};
        Size ->
            fields(Source, Line, [], 0, Size)
    end;
line(Source, {http_error, Blank}) when Blank =:= <<"\r\n">>; Blank =:= <<"\n">> ->
    request_line(Source);
line(_Source, _Other) ->
    {error, 400, bad_request_line}.

fields(Source, Line, Acc, Count, Bytes) ->
    case packet(httph_bin, Source) of
        {ok, http_eoh, Source1} ->
            case done(Source1) of
                true -> {ok, Line#{headers => lists:reverse(Acc)}};
                false -> closed
            end;
        {ok, {http_header, _, Name, _, Value}, Source1} ->
            Size = Bytes + byte_size(text(Name)) + byte_size(Value) + 4,
            case Count < ?MAX_FIELDS andalso Size =< ?MAX_HEAD of
                true ->
                    fields(Source1, Line,
                           [{name(Name), py_serve_framing:trim_trailing_ows(Value)} | Acc],
                           Count + 1, Size);
                false ->
                    {error, 431, head_too_large}
            end;
        {ok, _Error, _} -> {error, 400, bad_header_line};
        {error, emsgsize} -> {error, 431, header_line_too_long};
        closed -> closed
    end.

%% @doc The socket's `buffer' option while it reads heads (the listener sets it; a body read
%% may widen it for its time): the longest request or header line, 64 KiB.
-spec socket_buffer() -> pos_integer().
socket_buffer() ->
    ?SOCKET_BUFFER.

%% @doc `ok', or why the head of a request of HTTP version `Version' is malformed. `Headers'
%% are `{LowercaseName, Value}' binaries, one per header line.
-spec check({non_neg_integer(), non_neg_integer()}, [{binary(), binary()}]) ->
          ok | {error, error()}.
check(Version, Headers) ->
    case {lists:any(fun bad_value/1, Headers), [V || {<<"host">>, V} <- Headers]} of
        {true, _} -> {error, bad_field_value};
        {false, [_, _ | _]} -> {error, several_hosts};
        {false, []} when Version >= {1, 1} -> {error, no_host};
        {false, _} -> ok
    end.

bad_value({_Name, Value}) ->
    binary:match(Value, [<<"\r">>, <<"\n">>, <<0>>]) =/= nomatch.

%% The request target as sent, but the path alone of an absolute-form target (RFC 9112
%% §3.2.2: a server must accept it; the path is what the app routes on).
target({abs_path, Path}) -> Path;
target({absoluteURI, _Scheme, _Host, _Port, Path}) -> Path;
target('*') -> <<"*">>;
target({scheme, Host, Port}) -> <<Host/binary, $:, Port/binary>>;
target(Other) when is_binary(Other) -> Other.

%% A header name, lower-cased. The parser gives the names it knows as atoms (a fixed set):
%% their lower-cased binaries are kept in the connection's dictionary, so a keep-alive
%% connection lower-cases each only once; other names (binaries) every time.
name(Name) when is_atom(Name) ->
    case get({py_serve_header, Name}) of
        undefined ->
            Lower = py_serve_framing:lower(atom_to_binary(Name)),
            put({py_serve_header, Name}, Lower),
            Lower;
        Lower ->
            Lower
    end;
name(Name) ->
    py_serve_framing:lower(Name).

text(Atom) when is_atom(Atom) -> atom_to_binary(Atom);
text(Bin) when is_binary(Bin) -> Bin.
