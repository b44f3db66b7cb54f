%% @doc The HTTP handler joining mochiweb to the request API: one connection process per
%% client (mochiweb's), one request at a time. Requests go through {@link py_remote}, which
%% has the shape of {@link py_request}: with one node (the default, `--nodes 1') it is a plain
%% local `py_request'; with `--nodes N' each request is served by the node with the fewest
%% outstanding requests (this VM or a local app node, each with its own CPython).
%%
%% mochiweb runs the listener and accepts connections; each connection process reads request
%% heads with {@link py_serve_head} (Erlang's HTTP packet parser, as mochiweb's own loop did,
%% but bounded, with every header line kept, and a 400 at once for a line it cannot read),
%% checks the body framing ({@link py_serve_framing}), starts the request, streams the body
%% from the socket into the request's body buffer (chunked bodies: {@link py_serve_chunked})
%% and the response from its response buffer to the socket, then reads the next head
%% (keep-alive) or closes.
%%
%% == Flow control ==
%% The socket is read only when the body buffer took the previous piece: a write returning
%% `{partial, Rest}' parks `Rest' until the event `body_writable', so a slow app slows the
%% client through TCP and a request holds at most `--buffer-size' body bytes (plus the bytes
%% of one read: under twice the read unit, 256 KiB or `--buffer-size' if smaller). Responses
%% are sent as they are read from the response buffer; `gen_tcp:send' waits (this process,
%% never a scheduler) while the client reads slowly, and meanwhile the app's writes wait for
%% room.
%%
%% == Body reads ==
%% A body read takes what the client sent so far, as soon as there is any (the socket in
%% `{active, once}' mode, so the request's events are handled in the same wait), up to a
%% read unit; the framing (the bytes left of a Content-Length, or the chunked decoder {@link
%% py_serve_chunked}) says where the body ends, and bytes read beyond it (a pipelined
%% request) are kept for the next head ({@link py_serve_ahead}). So a body streams both ways
%% at once (the client may wait for the answer to a piece before it sends the next, as
%% uvicorn and Granian allow), an app that answers before it read its body has its answer
%% sent at once, and the body timeout counts time without bytes, not the time of a read
%% unit. A body longer than the socket's buffer (64 KiB, the bound of head lines) is read
%% with the buffer widened to a read unit for its time, in reads as large as when each read
%% waited for a whole unit.
%%
%% == Decisions made here ==
%% <ul>
%% <li>Framing errors in the head (both lengths, bad or conflicting lengths, codings other
%%     than `chunked') and heads {@link py_serve_head} refuses (obs-fold, no or two `Host'): 400
%%     and close, the app never called. Content-Length above
%%     `--max-body-size': 413 and close, the app never called. A chunked body growing past
%%     it: the body is aborted (`body_too_large'), 413 if no response started, close.</li>
%% <li>A malformed chunk: the body is aborted (`bad_chunk'), 400 if no response started,
%%     close. A client gone mid-body (or a failed send): the body is aborted
%%     (`client_closed'), the response buffer's reader closed; nothing more is sent.</li>
%% <li>`Expect: 100-continue': `100 Continue' is sent when the app first waits for body bytes
%%     (the event `body_demand'). An app that answers without asking for its body: the connection
%%     closes after the response (the client may not send the body at all).</li>
%% <li>A body the app did not read (`body_unread'): the rest is read and dropped up to 1 MiB
%%     (keep-alive), else the connection closes.</li>
%% <li>Body timeout: while waiting for body bytes (not while the app is slow) the guard
%%     ({@link py_serve_guard}) is armed with `--body-timeout'; a client that sends no body
%%     byte for that long has its socket closed by the guard: the body is aborted with
%%     `body_timeout' and the connection ends once the app did. Head timeout: a connection
%%     that does not complete a request head within `--header-timeout' is closed.</li>
%% </ul>
%% The configuration is a {@link py_serve_cli:config()} in `persistent_term' (key
%% `py_serve_config').
-module(py_serve_http).

-export([loop/2]).

-define(MAX_PIECE, 262144).
-define(SOCKET_BUFFER, py_serve_head:socket_buffer()).
-define(DRAIN_MAX, 1048576).
-define(STATS_PATH, "/.py-buffer-serve/stats").

-record(s, {sock :: py_serve_socket:socket(),
            %% The socket's active-mode messages (py_serve_socket:tags/1).
            tags :: py_serve_socket:tags(),
            guard :: pid(),
            cfg :: map(),
            method :: binary(),
            target :: binary(),
            version :: {non_neg_integer(), non_neg_integer()},
            headers :: [{binary(), binary()}],
            peer :: string(),
            peer_addr :: {inet:ip_address(), inet:port_number()} | local | undefined,
            server_addr :: {inet:ip_address(), inet:port_number()} | undefined,
            started :: integer(),
            req :: term(),
            %% Where body bytes go: the app, dropped (it did not want them), or nowhere
            %% (the body broke off: stop reading).
            feed = app :: app | discard | stop,
            parked = none :: none | iodata(),
            writable = false :: boolean(),
            %% 100-continue: `waiting' until sent (or not asked for).
            continue = none :: none | waiting | sent,
            body_done = false :: boolean(),
            received = 0 :: non_neg_integer(),
            dropped = 0 :: non_neg_integer(),
            resp = none :: none | {streaming, py_serve_response:framing()} | sent | ours
                         | broken,
            status :: non_neg_integer() | undefined,
            sent = 0 :: non_neg_integer(),
            ended = false :: false | done | {failed, term()},
            gone = false :: boolean(),
            %% The socket reports the client's close while the app runs (py_serve_head:watch/1).
            watching = false :: boolean(),
            close = false :: boolean(),
            note = [] :: iodata()}).

%% @doc The connection loop given to `mochiweb_socket_server' (`{loop, {py_serve_http,
%% loop}}'): starts the connection's guard, then serves requests until the connection ends
%% (exit `{shutdown, closed}').
-spec loop(term(), list()) -> no_return().
loop(Socket, _Opts) ->
    #{header_timeout := HeaderTimeout, body_timeout := BodyTimeout} = cfg(),
    _ = mochiweb_socket:setopts(Socket, [{send_timeout, BodyTimeout}, {send_timeout_close, true}
                                         | py_serve_socket:connection_options(Socket)]),
    Guard = py_serve_guard:start(Socket),
    put(py_serve_ends, ends(Socket)),
    ok = py_serve_guard:arm(Guard, HeaderTimeout, headers_timeout),
    requests(Socket, Guard).

requests(Socket, Guard) ->
    case py_serve_head:read(Socket) of
        {ok, Head} ->
            ok = handle(head(Socket, Guard, Head)),
            requests(Socket, Guard);
        {error, Status, Why} ->
            ok = py_serve_guard:busy(Guard),
            S = head(Socket, Guard, #{method => <<"-">>, target => <<"-">>, version => {1, 1},
                                      headers => []}),
            finish(ours(S#s{close = true, note = atom_to_list(Why)}, Status));
        closed ->
            _ = mochiweb_socket:close(Socket),
            exit({shutdown, closed})
    end.

%% One request. Returns `ok' for the next request, or closes the connection and exits
%% `{shutdown, closed}'.
handle(#s{guard = Guard} = S) ->
    case S of
        #s{method = <<"GET">>, target = <<?STATS_PATH>>, cfg = #{stats := true}} ->
            ok = py_serve_guard:disarm(Guard),
            finish(stats(S));  % not counted in flight: it reports that count
        _ ->
            ok = py_serve_guard:busy(Guard),
            finish(serve(S))
    end.

head(Socket, Guard, #{method := Method, target := Target, version := Version,
                      headers := Headers}) ->
    {PeerAddr, Peer, ServerAddr} = get(py_serve_ends),
    #s{sock = Socket, tags = py_serve_socket:tags(Socket), guard = Guard, cfg = cfg(),
       server_addr = ServerAddr,
       method = Method, target = Target, version = Version,
       headers = Headers, peer = Peer, peer_addr = PeerAddr,
       started = erlang:monotonic_time(microsecond),
       close = py_serve_stats:draining()
           orelse py_serve_framing:wants_close(Version, Headers)}.

stats(S) ->
    Json = json_object(py_serve_stats:snapshot()),
    reply(S, 200, [{<<"content-type">>, <<"application/json">>}], iolist_to_binary(Json)).

%% The stats as JSON: atom keys (names without quotes or backslashes), integer values or
%% such objects.
json_object(Map) ->
    [${, lists:join(", ", [[$", atom_to_list(K), "\": ", json_value(V)]
                           || {K, V} <- lists:sort(maps:to_list(Map))]), $}].

json_value(V) when is_integer(V) -> integer_to_list(V);
json_value(V) when is_map(V) -> json_object(V).

serve(#s{headers = Headers, version = Version, cfg = #{max_body := Max}} = S) ->
    case py_serve_head:check(Version, Headers) of
        ok -> serve_upgrade(S, upgrade(S), Max);
        {error, Why} -> ours(S#s{close = true, note = io_lib:format("bad head: ~p", [Why])}, 400)
    end.

%% A WebSocket opening handshake, for an ASGI app (a WSGI app gets it as a plain request, as
%% under gunicorn).
upgrade(#s{cfg = #{app := {asgi, _}}, method = Method, version = Version, headers = Headers}) ->
    py_serve_ws:upgrade(Method, Version, Headers);
upgrade(_S) ->
    no.

serve_upgrade(#s{headers = Headers} = S, no, Max) ->
    serve_framed(S, py_serve_framing:body(Headers), Max);
serve_upgrade(S, {ok, Key}, _Max) ->
    websocket(S, Key);
serve_upgrade(S, {error, Status, Headers, Why}, _Max) ->
    S1 = S#s{close = true, note = atom_to_list(Why)},
    reply(S1, Status, [{<<"content-type">>, <<"text/plain">>} | Headers],
          iolist_to_binary([py_serve_status:line(Status), "\n"])).

%% A WebSocket session (py_serve_ws); the connection closes after it.
websocket(#s{cfg = #{app := App, buffer_size := Buffer, ws_max_size := MaxSize,
                     ws_ping_interval := Interval, ws_ping_timeout := PingTimeout,
                     body_timeout := Timeout}, guard = Guard, sock = Socket} = S, Key) ->
    case py_remote:start(App, (request_head(S))#{websocket => true},
                         #{body_buffer => Buffer, response_buffer => Buffer}) of
        {ok, Req} ->
            ok = py_serve_guard:disarm(Guard),  % sessions have no body timeout
            #{status := Status, sent := Sent, received := Received, note := Note} =
                py_serve_ws:serve(#{sock => Socket, req => Req, key => Key,
                                    max_size => MaxSize, close_timeout => Timeout,
                                    ping => {Interval, PingTimeout}}),
            S#s{resp = sent, ended = done, body_done = true, close = true, status = Status,
                sent = Sent, received = Received, note = Note};
        {error, Reason} ->
            ours(S#s{close = true, note = io_lib:format("python: ~p", [Reason])}, 503)
    end.

serve_framed(S, Found, Max) ->
    case Found of
        {error, Why} ->
            ours(S#s{close = true, note = io_lib:format("bad framing: ~p", [Why])}, 400);
        {ok, {length, Length}} when Length > Max ->
            ours(S#s{close = true, note = "body too large"}, 413);
        {ok, Framing} ->
            start(S, Framing)
    end.

start(#s{cfg = #{app := App, buffer_size := Buffer, max_body := Max}} = S, Framing) ->
    Length = case Framing of {length, N} -> N; chunked -> undefined end,
    case py_remote:start(App, request_head(S), #{content_length => Length, max_body => Max,
                                                   body_buffer => Buffer,
                                                   response_buffer => Buffer,
                                                   reason_phrase => true}) of
        {ok, Req} ->
            S1 = expect(S#s{req = Req}, Framing),
            S2 = body(S1, Framing),
            wait_end(S2);
        {error, {body_too_large, _, _}} ->
            ours(S#s{close = true, note = "body too large"}, 413);
        {error, Reason} ->
            ours(S#s{close = true, note = io_lib:format("python: ~p", [Reason])}, 503)
    end.

%% The request as the app sees it; with `--root-path' the path is prefixed with it (the proxy
%% in front took it off), as uvicorn does: the app's routes then see the rest of it (WSGI
%% `PATH_INFO', Starlette's routing) and its URLs are built with it. A fragment (`#...',
%% which a request target may not hold, RFC 9112 §3.2) is dropped, as uvicorn and gunicorn
%% drop it, so it reaches the app neither in the path nor in the query. The scheme and the
%% client are the proxy's headers' when it is trusted ({@link py_serve_proxy}).
request_head(#s{method = Method, target = Target, version = {Major, Minor},
                headers = Headers, peer_addr = PeerAddr, server_addr = Server, sock = Socket,
                cfg = #{root_path := Root, proxy_headers := Proxies}}) ->
    [Resource | _] = binary:split(Target, <<"#">>),
    {Path, Query} = case binary:split(Resource, <<"?">>) of
                        [P, Q] -> {P, Q};
                        [P] -> {P, <<>>}
                    end,
    {Scheme, Peer} = py_serve_proxy:apply(Proxies, py_serve_socket:scheme(Socket), PeerAddr,
                                          Headers),
    #{method => Method, path => <<Root/binary, Path/binary>>, query_string => Query,
      root_path => Root,
      http_version => iolist_to_binary([integer_to_binary(Major), $., integer_to_binary(Minor)]),
      headers => Headers, scheme => Scheme,
      peer => Peer, server => Server}.

%% The connection's two ends, read once per connection (not per request): the peer's address
%% and its text for the access log, and the server's address.
ends(Socket) ->
    {PeerAddr, Peer} = case mochiweb_socket:peername(Socket) of
                           {ok, {local, _}} ->
                               {local, "-"};  % a Unix domain socket's peer (--uds)
                           {ok, {IP, Port} = Addr} ->
                               {Addr, inet:ntoa(IP) ++ ":" ++ integer_to_list(Port)};
                           _ ->
                               {undefined, "-"}
                       end,
    {PeerAddr, Peer, address(py_serve_socket:sockname(Socket))}.

address({ok, {IP, Port}}) when is_tuple(IP) -> {IP, Port};
address(_) -> undefined.

%% 100-continue: sent when the app first waits for body bytes (the event `body_demand').
expect(#s{headers = Headers, version = Version} = S, Framing)
  when Framing =/= {length, 0}, Version >= {1, 1} ->
    case py_serve_framing:expects_continue(Headers) of
        false -> S;
        true -> S#s{continue = waiting}
    end;
expect(S, _Framing) ->
    S.

send_continue(#s{continue = waiting, resp = Resp} = S) when Resp =/= none ->
    %% A 1xx cannot follow the final response's head (RFC 9110 §15.2): the client sends its
    %% body anyway after its own wait (curl: 1 s); read it when it comes.
    S#s{continue = sent};
send_continue(#s{continue = waiting, sock = Socket} = S) ->
    case mochiweb_socket:send(Socket, <<"HTTP/1.1 100 Continue\r\n\r\n">>) of
        ok -> S#s{continue = sent};
        {error, _} -> client_gone(S#s{continue = sent})
    end;
send_continue(S) ->
    S.

%% ---- the request body --------------------------------------------------------------------

body(S, {length, 0}) ->
    S#s{body_done = true};
body(S, {length, Length}) ->
    widened(S, Length > ?SOCKET_BUFFER, fun() -> read_body(S, {length, Length}) end);
body(S, chunked) ->
    widened(S, true, fun() -> read_body(S, {chunked, py_serve_chunked:new()}) end).

%% Reads a body that may be longer than the socket's buffer (the head's bound, 64 KiB) with
%% the buffer widened to a read unit (`piece/1'): a fast client's body then comes in
%% 256 KiB reads, as fast as when each read waited for a whole unit.
widened(#s{sock = Socket} = S, Long, Read) ->
    case Long andalso piece(S) > ?SOCKET_BUFFER of
        true ->
            _ = mochiweb_socket:setopts(Socket, [{buffer, piece(S)}]),
            S1 = Read(),
            _ = mochiweb_socket:setopts(Socket, [{buffer, ?SOCKET_BUFFER}]),
            S1;
        false ->
            Read()
    end.

%% Reads the body: each read takes what the client sent so far (bytes read ahead first), the
%% framing (`{length, BytesLeft}' or `{chunked, Decoder}') says which of them are body; what
%% follows the body is kept for the next head (py_serve_ahead).
read_body(S0, Framing) ->
    case await_continue(pump_nowait(S0)) of
        #s{feed = stop} = S ->
            S;
        S1 ->
            arm_body(S1),
            {Result, S} = recv(S1, wanted(S1, Framing)),
            disarm(S),
            case Result of
                {ok, Data} ->
                    take(S, Framing, Data);
                stop ->
                    S#s{feed = stop};
                {timeout, Why} ->
                    broken_body(S, Why, none);
                closed ->
                    client_gone(S)
            end
    end.

%% How many bytes a read may gather: a read unit, but no more than the rest of a body whose
%% length is known.
wanted(S, {length, Left}) -> min(Left, piece(S));
wanted(S, {chunked, _}) -> piece(S).

take(S, {length, Left}, Data) ->
    case iolist_size(Data) of
        Size when Size < Left ->
            read_body(feed_body(S, Data), {length, Left - Size});
        _ ->
            <<Last:Left/binary, Next/binary>> = iolist_to_binary(Data),
            ok = py_serve_ahead:put(Next),
            (feed_body(S, Last))#s{body_done = true}
    end;
take(S, {chunked, Decoder}, Data) ->
    case decode_chunked(Data, Decoder, []) of
        {more, Pieces, Decoder1} ->
            read_body(feed_body(S, Pieces), {chunked, Decoder1});
        {done, Pieces, Next} ->
            ok = py_serve_ahead:put(Next),
            end_body((feed_body(S, Pieces))#s{body_done = true});
        {error, bad_chunk} ->
            broken_body(S, bad_chunk, 400)
    end.

%% The chunked decoder run over the binaries read, in order.
decode_chunked([], Decoder, Acc) ->
    {more, Acc, Decoder};
decode_chunked([Bytes | Rest], Decoder, Acc) ->
    case py_serve_chunked:decode(Bytes, Decoder) of
        {more, Pieces, Decoder1} -> decode_chunked(Rest, Decoder1, [Acc | Pieces]);
        {done, Pieces, Next} -> {done, [Acc | Pieces], iolist_to_binary([Next | Rest])};
        {error, bad_chunk} = Error -> Error
    end.

feed_body(S, Data) ->
    case iolist_size(Data) of
        0 -> S;
        Size -> feed(S#s{received = S#s.received + Size}, Data)
    end.

end_body(#s{feed = app, req = Req} = S) ->
    _ = py_remote:end_body(Req),
    S;
end_body(S) ->
    S.

%% The next bytes of the body: those read ahead, else what the socket has once it has any
%% (gathering more reads, up to `Wanted' bytes, when the socket has them at once). While
%% waiting, the request's events are handled as they come: an app's response (or the part of
%% it written so far) is sent at once, so an app that answers before it read its body, or
%% one that streams its answer to each piece of a body the client sends only after it saw
%% that answer, is not held up; a request whose node failed is answered (502) at once. The
%% body timeout runs from the read's start: any bytes restart it (the caller re-arms), so a
%% slow client is cut only when it sends nothing for `--body-timeout'.
recv(#s{sock = Socket} = S, Wanted) ->
    case py_serve_ahead:take() of
        <<>> ->
            case mochiweb_socket:setopts(Socket, [{active, once}]) of
                ok -> arrival(S, Wanted);
                {error, _} -> {closed, S}
            end;
        Bytes ->
            {{ok, [Bytes]}, S}
    end.

arrival(#s{sock = Socket, tags = {Tcp, TcpClosed, TcpError, Owner}, req = Req} = S,
        Wanted) ->
    receive
        {Tcp, Owner, Data} ->
            {{ok, more(Socket, [Data], byte_size(Data), Wanted)}, S};
        {TcpClosed, Owner} ->
            {closed, S};
        {TcpError, Owner, _} ->
            {closed, S};
        {py_serve_guard, timeout, Why} ->
            {{timeout, Why}, S};  % the guard closes the socket
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} ->
                    case events(Events, S#s{req = Req1}) of
                        #s{ended = {failed, _}} = S1 -> {stop, passive(S1)};
                        #s{feed = stop} = S1 -> {stop, passive(S1)};
                        S1 -> arrival(S1, Wanted)
                    end;
                unknown ->
                    arrival(S, Wanted)
            end
    end.

%% `Data' and what else the socket has at once, up to `Max' bytes (more may come): one
%% socket message holds what one read from the kernel gave (at most the socket's buffer), and
%% a fast client's body goes on in fewer, larger writes.
more(Socket, Acc, Size, Max) when Size < Max ->
    case mochiweb_socket:recv(Socket, 0, 0) of
        {ok, More} -> more(Socket, [More | Acc], Size + byte_size(More), Max);
        {error, _} -> lists:reverse(Acc)  % nothing more now (`timeout'); an end shows later
    end;
more(_Socket, Acc, _Size, _Max) ->
    lists:reverse(Acc).

%% The socket back in passive mode, with any bytes it delivered meanwhile kept.
passive(#s{sock = Socket, tags = {Tcp, _, _, Owner}} = S) ->
    _ = mochiweb_socket:setopts(Socket, [{active, false}]),
    receive
        {Tcp, Owner, Data} -> ok = py_serve_ahead:put(Data)
    after 0 ->
        ok
    end,
    S.

%% Before the first body read of a 100-continue request: wait until it was sent (the app
%% asked), or the app ended without asking (then the body is not read: close).
await_continue(#s{continue = waiting, ended = false, gone = false} = S) ->
    await_continue(pump(S));
await_continue(#s{continue = waiting} = S) ->
    S#s{feed = stop, close = true};
await_continue(S) ->
    S.

feed(#s{feed = app, req = Req} = S, Data) ->
    case py_remote:write_body(Req, Data) of
        ok -> S;
        {partial, Rest} -> wait_writable(S#s{parked = Rest, writable = false});
        {error, reader_closed} -> discard(S#s{feed = discard}, Data);
        {error, body_too_large} -> broken_body(S, body_too_large, 413);
        {error, {aborted, _}} -> S#s{feed = stop, close = true};
        {error, Other} -> broken_body(S, Other, 400)
    end;
feed(#s{feed = discard} = S, Data) ->
    discard(S, Data);
feed(S, _Data) ->
    S.

discard(#s{dropped = Dropped} = S, Data) ->
    case Dropped + iolist_size(Data) of
        Total when Total > ?DRAIN_MAX -> S#s{dropped = Total, feed = stop, close = true};
        Total -> S#s{dropped = Total}
    end.

%% A partial write: handle the request's events until the app made room (or stopped
%% reading), then write the rest.
wait_writable(#s{feed = app, writable = false, gone = false} = S) ->
    wait_writable(pump(S));
wait_writable(#s{feed = app, writable = true, parked = Rest} = S) ->
    feed(S#s{parked = none}, Rest);
wait_writable(S) ->
    S#s{parked = none}.

%% The body broke off: the app sees it aborted; the client gets `Status' if no response
%% started (`none': the socket is gone, e.g. closed by the guard); the connection closes.
broken_body(#s{req = Req} = S, Why, Status) ->
    Req1 = py_remote:abort(Req, Why),
    S1 = S#s{req = Req1, feed = stop, close = true, note = io_lib:format("~p", [Why])},
    case {S1#s.resp, Status} of
        {_, none} -> S1#s{gone = true};
        {none, _} -> (ours(S1, Status))#s{resp = ours};
        _ -> S1
    end.

client_gone(#s{req = Req} = S) ->
    S#s{req = py_remote:abort(Req, client_closed), feed = stop, close = true, gone = true,
        note = "client gone"}.

%% The most bytes read from the socket (or the response buffer) at a time: 256 KiB, or the
%% buffer size when smaller, so a request holds at most twice `--buffer-size' per direction.
piece(#s{cfg = #{buffer_size := Buffer}}) ->
    min(?MAX_PIECE, Buffer).

arm_body(#s{guard = Guard, cfg = #{body_timeout := Ms}}) ->
    py_serve_guard:arm(Guard, Ms, body_timeout).

disarm(#s{guard = Guard}) ->
    py_serve_guard:disarm(Guard).

%% ---- events and the response -------------------------------------------------------------

wait_end(#s{ended = false} = S) ->
    wait_end(pump(watch_client(S)));
wait_end(S) ->
    S.

%% The client closed while its app runs: the app's body is aborted, unless the response was
%% complete already (the app's reads then end anyway: an ASGI `receive' after the response
%% gives `http.disconnect').
closed_by_client(#s{resp = sent} = S) ->
    S#s{gone = true, close = true};
closed_by_client(S) ->
    client_gone(S).

%% Once the body is read to the end, the socket is asked for the next request line: a client
%% that closes while its app still runs is then seen at once (the app's body is aborted:
%% ASGI `http.disconnect', WSGI `BodyAborted' and failing writes), as uvicorn sees it, not
%% at the first write that fails. A pipelined request's line waits for the next head read;
%% so do the bytes a socket watched in raw mode sends (the next request was read ahead).
watch_client(#s{watching = false, body_done = true, gone = false, sock = Socket} = S) ->
    case py_serve_head:watch(Socket) of
        ok -> S#s{watching = true};
        {error, _} -> closed_by_client(S#s{watching = true})
    end;
watch_client(S) ->
    S.

pump(#s{req = Req, sock = Socket, tags = {Tcp, TcpClosed, TcpError, Owner}} = S) ->
    receive
        {http, Owner, Packet} ->
            ok = py_serve_head:arrived(Packet),
            S;
        {Tcp, Owner, Bytes} ->
            case py_serve_head:arrived_raw(Socket, Bytes) of
                ok -> S;
                {error, _} -> closed_by_client(S)
            end;
        {TcpClosed, Owner} ->
            closed_by_client(S);
        {TcpError, Owner, _} ->
            closed_by_client(S);
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} -> events(Events, S#s{req = Req1});
                unknown -> S
            end
    end.

pump_nowait(#s{req = Req} = S) ->
    receive
        Msg ->
            case py_remote:handle(Msg, Req) of
                {ok, Events, Req1} -> pump_nowait(events(Events, S#s{req = Req1}));
                unknown -> pump_nowait(S)
            end
    after 0 ->
        S
    end.

events([], S) ->
    S;
events([Event | Rest], S) ->
    events(Rest, event(Event, S)).

event({response, Status, Headers, Body}, #s{resp = none, gone = false} = S) ->
    Close = S#s.close orelse S#s.continue =:= waiting
        orelse py_serve_response:app_closes(Headers),
    Sent = case S#s.method of <<"HEAD">> -> 0; _ -> byte_size(Body) end,
    send(S#s{resp = sent, status = py_serve_status:code(Status), close = Close, sent = Sent},
         py_serve_response:whole(S#s.method, S#s.version, Status, Headers, {Body, Close}));
event({response_start, Status, Headers}, #s{resp = none, gone = false} = S) ->
    {Head, Framing, Close} = py_serve_response:stream_head(
                               S#s.method, S#s.version, Status, Headers,
                               S#s.close orelse S#s.continue =:= waiting
                               orelse py_serve_response:app_closes(Headers)),
    send(S#s{resp = {streaming, Framing}, status = py_serve_status:code(Status), close = Close},
         Head);
event(response_readable, S) ->
    stream(S);
event(body_writable, S) ->
    S#s{writable = true};
event(body_demand, S) ->
    send_continue(S);
event(body_unread, #s{feed = app} = S) ->
    S#s{feed = discard, parked = none};
event(done, S) ->
    stream(S#s{ended = done});
event({failed, Reason}, #s{resp = Resp} = S) ->
    S1 = S#s{ended = {failed, Reason}, close = true},
    case Resp of
        none when not S#s.gone ->
            ours(S1#s{note = io_lib:format("failed: ~P", [Reason, 8])}, failure_status(Reason));
        {streaming, _} -> S1#s{resp = broken, note = "response broke off"};
        _ -> S1
    end;
event(_Event, S) ->
    S.

%% An app node that went away: 502 (bad gateway); anything else: 500.
failure_status({node_down, _}) -> 502;
failure_status({proxy_down, _}) -> 502;
failure_status(_) -> 500.

%% Reads the response buffer until it would wait, sending what it reads.
stream(#s{req = Req} = S) ->
    case py_remote:read_response(Req, piece(S)) of
        {ok, Data} ->
            case S#s.resp of
                {streaming, Framing} when not S#s.gone ->
                    stream(send_piece(S, py_serve_response:chunk(Framing, Data), Data));
                _ ->
                    stream(S)  % not sent (HEAD, a cut or broken response): read and dropped
            end;
        wait ->
            S;
        eof ->
            case S#s.resp of
                {streaming, Framing} when not S#s.gone ->
                    case py_serve_response:last_chunk(Framing) of
                        {ok, Last} ->
                            send(S#s{resp = sent}, Last);
                        short ->
                            S#s{resp = broken, close = true,
                                note = "response shorter than its content-length"}
                    end;
                _ ->
                    S
            end;
        {error, _} ->
            case S#s.resp of
                {streaming, _} -> S#s{resp = broken, close = true};
                _ -> S
            end
    end.

%% One piece of a streamed response on the wire; a piece beyond the app's Content-Length is
%% cut there, the rest of the body dropped, and the connection closed after it.
send_piece(S, {overrun, Wire}, _Data) ->
    send(S#s{resp = broken, close = true, sent = S#s.sent + byte_size(Wire),
             note = "response longer than its content-length: cut"}, Wire);
send_piece(S, {Wire, Framing}, Data) ->
    send(S#s{resp = {streaming, Framing}, sent = S#s.sent + byte_size(Data)}, Wire).

send(#s{gone = true} = S, _Data) ->
    S;
send(#s{sock = Socket} = S, Data) ->
    case mochiweb_socket:send(Socket, Data) of
        ok -> S;
        {error, _} -> client_gone(S)
    end.

%% A response of the server's own (the app's response, if any, is then dropped).
ours(#s{resp = none} = S, Status) ->
    send(S#s{resp = ours, status = Status, close = true},
         py_serve_response:simple(S#s.method, S#s.version, Status));
ours(S, _Status) ->
    S.

reply(S, Status, Headers, Body) ->
    send(S#s{resp = sent, status = Status},
         py_serve_response:whole(S#s.method, S#s.version, Status, Headers, {Body, S#s.close})).

%% ---- the end of a request ----------------------------------------------------------------

finish(#s{guard = Guard, sock = Socket, cfg = #{header_timeout := HeaderTimeout}} = S) ->
    Close = S#s.close orelse not S#s.body_done orelse S#s.resp =:= broken
        orelse py_serve_stats:draining(),
    log(S),
    ok = py_serve_guard:idle(Guard, HeaderTimeout),
    case Close of
        true ->
            _ = mochiweb_socket:close(Socket),
            exit({shutdown, closed});
        false ->
            ok
    end.

log(S) ->
    py_serve_log:access(#{peer => S#s.peer, method => S#s.method, target => S#s.target,
                          version => S#s.version, status => S#s.status, sent => S#s.sent,
                          received => S#s.received, started => S#s.started,
                          note => S#s.note}).

cfg() ->
    persistent_term:get(py_serve_config).

